/*
 * sl_cache_store_int.h: the inside of the cache store, shared by the two
 * files that make it and by nothing else (the rest of sluice sees only
 * sl_cache_store.h): sl_cache_store.c (the index, lookups and their
 * reference ledgers, request collapsing, writing, reading, removing and
 * expiring objects, statistics, the consistency check) and
 * sl_cache_alloc.c (the block allocator, LRU eviction, and the rebuild
 * after a process died holding the allocator lock).  The small helpers
 * both files need are static inline here, and the rest stays static in
 * its file, so the hit path compiles to what it was when the store was
 * one file.
 *
 * Layout of a store, all inside [base, base + size):
 *
 *   struct sl_cache_store   header, counters, locks, claim table
 *   buckets[]               hash index (object pointers), power of two
 *   next[], prev[]          one uint32 each per 1 KiB unit: block chains
 *                           and free lists (index + 1, 0 = none)
 *   pcls[], pfree[]         per 16 KiB page: its block class and how many
 *                           of its blocks are free
 *   blocks                  the data, in 16 KiB pages, page aligned
 *
 * Locks (robust, process-shared mutexes):
 *   stripes[i]  the index buckets b with b % SL_CACHE_NSTRIPES == i and
 *               the objects in them (chains, state LINKED, set_meta);
 *   alloc       free lists, the LRU list, the limbo list (objects not in
 *               the index: being written, or unlinked but referenced),
 *               object state;
 *   claims      the request-collapsing table.
 * Order: a stripe, then alloc.  The allocator evicts while holding alloc,
 * so it only ever tries a stripe lock (an object whose stripe is busy is
 * skipped).  No lock is held while body bytes are copied.
 */
#ifndef SL_CACHE_STORE_INT_H
#define SL_CACHE_STORE_INT_H

#include "sl_core.h"
#include "sl_cache_store.h"

#include <pthread.h>
#include <signal.h>

#define SL_CACHE_STORE_MAGIC    0x43535452U     /* "CSTR" */
#define SL_CACHE_OBJ_MAGIC      0x434f424aU     /* "COBJ" */
#define SL_CACHE_OBJ_FREED      0x46524545U     /* "FREE" */
#define SL_CACHE_STORE_VERSION  1

#define SL_CACHE_UNIT           1024
#define SL_CACHE_PAGE_UNITS     16
#define SL_CACHE_PAGE           (SL_CACHE_UNIT * SL_CACHE_PAGE_UNITS)
#define SL_CACHE_NSTRIPES       64
#define SL_CACHE_CLAIM_SETS     256     /* x ways: fetches in flight */
#define SL_CACHE_CLAIM_WAYS     8
#define SL_CACHE_EVICT_SCAN     256     /* LRU tail objects tried at most */
#define SL_CACHE_WRITER_CHECK   10000   /* ms before a writer is looked for */
#define SL_CACHE_REAP_EVERY     5000    /* ms between looks for the dead */

enum sl_cache_cls {
    SL_CACHE_CLS_FREE = 0,
    SL_CACHE_CLS_1K,
    SL_CACHE_CLS_4K,
    SL_CACHE_CLS_16K,
    SL_CACHE_CLS_N
};

/* Units per block of each class (a free page counts as one 16 KiB). */
static const uint32_t sl_cache_cls_units[SL_CACHE_CLS_N] = { 16, 1, 4, 16 };

enum sl_cache_obj_state {
    SL_CACHE_OBJ_NEW = 1,       /* being written, in limbo */
    SL_CACHE_OBJ_LINKED,        /* in the index and the LRU */
    SL_CACHE_OBJ_UNLINKED       /* removed, in limbo until released */
};

/*
 * The first 64 bytes hold what a lookup reads and writes (a hit dirties
 * that one line); the rest is read once an object is chosen.
 */
struct sl_cache_obj {
    unsigned                magic;
    uint32_t                refs;       /* atomic */
    uint64_t                hash;
    struct sl_cache_obj    *hnext;      /* bucket chain, under the stripe */
    uint32_t                klen;
    uint32_t                state;      /* under alloc (and the stripe) */
    int64_t                 atime;      /* ms, relaxed atomic */
    int64_t                 touched;    /* s of the last LRU move, atomic */
    uint32_t                vlen;
    uint32_t                hlen;
    int64_t                 body_len;

    struct sl_cache_obj    *prev;       /* LRU (towards the newest) or */
    struct sl_cache_obj    *next;       /* limbo list, under alloc */
    uint32_t                first;      /* unit of the first block */
    uint32_t                last;       /* unit of the last block */
    uint32_t                last_used;  /* bytes used in the last block */
    uint32_t                body_off;   /* body start in the first block */
    uint32_t                nunits;     /* units held */
    uint32_t                big;        /* unit + 1 of the 16 KiB tail */
    uint32_t                nbig;       /* blocks in that tail */
    pid_t                   pid;        /* the writer */
    struct sl_cache_store  *store;      /* for body_iov: the chain links */
    uint64_t                epoch;      /* the store's, when made */
    uint64_t                seq;        /* unique in the store */
    int64_t                 ctime;      /* ms, when obj_new made it */
    unsigned char           meta[SL_CACHE_META_SIZE];
    char                    data[];     /* key, vary, head, body... */
};

struct sl_cache_lock {
    pthread_mutex_t         mutex;
} __attribute__((aligned(64)));

/*
 * A process's ledger of the references it holds from lookups, so that
 * those of a process that died can be given back (sl_cache_holders_reap).
 * Open addressing by object, tombstones for removal; when tombstones pile
 * up the live entries are copied to the other table, which then becomes
 * current with one store.  Every change is a single store, so a process
 * killed anywhere leaves a ledger that never lists a reference it did
 * not hold (a reference is taken before it is listed and unlisted before
 * it is dropped): at worst one reference leaks, none is dropped twice.
 */
#define SL_CACHE_HOLDERS        64
#define SL_CACHE_TOMB           ((struct sl_cache_obj *) 1)

struct sl_cache_hold {
    struct sl_cache_obj    *o;          /* NULL: free, or SL_CACHE_TOMB */
    uint32_t                n;
    uint32_t                pad;
};

struct sl_cache_holder {
    pid_t                   pid;        /* atomic: 0 free, < 0 swept by -pid */
    uint32_t                cur;        /* the current table */
    uint32_t                used;       /* live entries in it */
    uint32_t                tombs;      /* tombstones in it */
    struct sl_cache_hold   *t[2];
};

struct sl_cache_claim {
    uint64_t                hash;
    uint32_t                klen;
    pid_t                   pid;        /* 0: free slot */
    int64_t                 start;
};

/*
 * Counters, a set per process (by pid) on cache lines of their own: a hit
 * counted by every worker into one line would bounce it between cores.
 */
#define SL_CACHE_SHARDS         16

struct sl_cache_shard {
    uint64_t                counters[SL_CACHE_STAT_N];      /* atomic */
} __attribute__((aligned(128)));

struct sl_cache_store {
    unsigned                magic;
    unsigned                version;
    size_t                  size;
    void                   *base;       /* where it was laid out */
    uint32_t                layout;     /* sizes the layout depends on */
    uint32_t                nstripes;
    size_t                  max_object; /* as configured */
    size_t                  max_size;   /* effective: at most half */
    uint64_t                seed;       /* hash seed, and the epoch of */
                                        /* objects: random per create() */
    uint64_t                seq;        /* atomic: object numbers */

    uint32_t                nunits;
    uint32_t                npages;
    uint32_t                nbuckets;   /* power of two */
    uint32_t                pad;
    struct sl_cache_obj   **buckets;
    uint32_t               *next;
    uint32_t               *prev;
    uint8_t                *pcls;
    uint8_t                *pfree;
    char                   *blocks;

    /* under alloc */
    uint32_t                page_free;  /* unit + 1 of a free page */
    uint32_t                cls_free[SL_CACHE_CLS_N];
    uint32_t                free_units;
    uint64_t                nlru;
    uint64_t                nlimbo;
    struct sl_cache_obj    *lru_newest;
    struct sl_cache_obj    *lru_oldest;
    struct sl_cache_obj    *limbo;

    uint64_t                owner_dead; /* atomic: locks recovered */
    uint32_t                disabled;   /* damaged beyond repair */
    int64_t                 reap_due;   /* atomic: next look for the dead */
    struct sl_cache_shard   shards[SL_CACHE_SHARDS];    /* counters */

    struct sl_cache_lock    alloc;
    struct sl_cache_lock    claim_lock;
    struct sl_cache_claim   claims[SL_CACHE_CLAIM_SETS * SL_CACHE_CLAIM_WAYS];
    struct sl_cache_lock    stripes[SL_CACHE_NSTRIPES];
    uint32_t                hold_cap;   /* entries per ledger table */
    struct sl_cache_holder  holders[SL_CACHE_HOLDERS];
};

#define SL_CACHE_LAYOUT                                                       \
    ((uint32_t) (sizeof(struct sl_cache_store) ^ (sizeof(struct sl_cache_obj) \
                 << 16) ^ (SL_CACHE_UNIT << 8) ^ SL_CACHE_PAGE_UNITS))

/*
 * An object of an earlier store laid out at the same place (a store made
 * anew at a reload while old workers still hold objects): not ours to
 * touch any more.
 */
#define sl_cache_stale(s, o)      sl_unlikely((o)->epoch != (s)->seed)

#define sl_cache_unit_ptr(s, u)   ((s)->blocks + (size_t) (u) * SL_CACHE_UNIT)
#define sl_cache_unit_cls(s, u)   ((s)->pcls[(u) / SL_CACHE_PAGE_UNITS])
#define sl_cache_block_size(s, u)                                             \
    (sl_cache_cls_units[sl_cache_unit_cls(s, u)] * SL_CACHE_UNIT)

/*
 * sl_cache_alloc.c, for sl_cache_store.c (contracts at the definitions).
 * All but sl_cache_owner_dead() expect alloc held.
 */
void sl_cache_obj_free_blocks(struct sl_cache_store *s,
    struct sl_cache_obj *o);
int sl_cache_evict_one(struct sl_cache_store *s, int64_t inactive_before);
uint32_t sl_cache_alloc_locked(struct sl_cache_store *s, int cls, int min);
/* A lock was taken with EOWNERDEAD: makes it, and what it guards, whole. */
void sl_cache_owner_dead(struct sl_cache_store *s, struct sl_cache_lock *l);

/* ---- locks --------------------------------------------------------------- */

/* Returns SL_OK with l held, or SL_BUSY. */
static inline int
sl_cache_trylock(struct sl_cache_store *s, struct sl_cache_lock *l)
{
    int rc;

    rc = pthread_mutex_trylock(&l->mutex);
    if (rc == 0)
        return SL_OK;
    if (rc == EOWNERDEAD) {
        sl_cache_owner_dead(s, l);
        return SL_OK;
    }
    return SL_BUSY;
}

static inline void
sl_cache_unlock(struct sl_cache_lock *l)
{
    pthread_mutex_unlock(&l->mutex);
}

static inline struct sl_cache_lock *
sl_cache_stripe(struct sl_cache_store *s, uint64_t hash)
{
    return &s->stripes[(hash & (s->nbuckets - 1)) % SL_CACHE_NSTRIPES];
}

static inline struct sl_cache_obj **
sl_cache_bucket(struct sl_cache_store *s, uint64_t hash)
{
    return &s->buckets[hash & (s->nbuckets - 1)];
}

/* ---- the index (the stripe held) ----------------------------------------- */

/*
 * Where o hangs in its bucket chain, or NULL if it is in none: a process
 * killed between the two halves of a commit or an eviction may leave a
 * linked object out of the index (never the other way round), and such
 * an object simply has nothing to unhook.  The stripe is held.
 */
static inline struct sl_cache_obj **
sl_cache_find_pp(struct sl_cache_store *s, struct sl_cache_obj *o)
{
    struct sl_cache_obj **pp;

    for (pp = sl_cache_bucket(s, o->hash); *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == o)
            return pp;
    }
    return NULL;
}

/* ---- LRU and limbo lists (alloc held) ------------------------------------ */

static inline void
sl_cache_lru_push(struct sl_cache_store *s, struct sl_cache_obj *o)
{
    o->prev = NULL;
    o->next = s->lru_newest;
    if (s->lru_newest)
        s->lru_newest->prev = o;
    else
        s->lru_oldest = o;
    s->lru_newest = o;
    s->nlru++;
}

static inline void
sl_cache_lru_remove(struct sl_cache_store *s, struct sl_cache_obj *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        s->lru_newest = o->next;
    if (o->next)
        o->next->prev = o->prev;
    else
        s->lru_oldest = o->prev;
    o->prev = o->next = NULL;
    s->nlru--;
}

static inline void
sl_cache_limbo_push(struct sl_cache_store *s, struct sl_cache_obj *o)
{
    o->prev = NULL;
    o->next = s->limbo;
    if (s->limbo)
        s->limbo->prev = o;
    s->limbo = o;
    s->nlimbo++;
}

static inline void
sl_cache_limbo_remove(struct sl_cache_store *s, struct sl_cache_obj *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        s->limbo = o->next;
    if (o->next)
        o->next->prev = o->prev;
    o->prev = o->next = NULL;
    s->nlimbo--;
}

/* ---- processes ----------------------------------------------------------- */

static inline int
sl_cache_pid_dead(pid_t pid)
{
    return pid <= 0 || (kill(pid, 0) == -1 && errno == ESRCH);
}

#endif /* SL_CACHE_STORE_INT_H */
