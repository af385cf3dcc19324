/*
 * sl_cache_store.h: the shared-memory object store behind a cache_zone.
 *
 * A store lives inside one shared-memory zone (sl_shm.h), mapped by the
 * master before fork, so its pointers mean the same thing in every
 * process, and a zone whose name and size are unchanged keeps its store
 * across a reload.  The store knows nothing of HTTP: an object is a key,
 * a fixed-size metadata area (the policy's struct sl_cache_meta), a "vary"
 * blob (the request header values the variant was chosen by), a stored
 * response head and a body.  Several objects (variants) may share a key.
 *
 * Inside: an allocator of fixed-size blocks (no fragmentation over days of
 * churn), a hash index, LRU eviction when memory runs out, reference
 * counts so an object being sent is never freed under its sender, and
 * striped robust process-shared locks (a crashed holder leaves no lock
 * held).  A hit holds only a reference; the body is sent straight from
 * the store with writev (sl_cache_obj_body_iov).
 *
 * Objects are immutable once committed, except their metadata area (see
 * sl_cache_obj_set_meta) and their access time.  Freshening a stored
 * response with a 304's headers is done by writing a new object and
 * committing it over the old one.
 */
#ifndef SL_CACHE_STORE_H
#define SL_CACHE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct sl_cache_store;          /* a zone's root, in shared memory */
struct sl_cache_obj;            /* one stored response, in shared memory */

#define SL_CACHE_KEY_MAX        4096    /* longer keys are not cached */
#define SL_CACHE_META_SIZE      256     /* bytes of metadata per object */
#define SL_CACHE_STORE_MIN_SIZE (256 * 1024)

/*
 * Lays a new, empty store out in [base, base + size) and returns it
 * (NULL if size is below SL_CACHE_STORE_MIN_SIZE).  max_object: largest
 * object (head + body) the store accepts; capped at half the store (the
 * stats report the value in force).
 */
struct sl_cache_store *sl_cache_store_create(void *base, size_t size,
    size_t max_object);
/*
 * Takes over the store of the previous generation at base (a reload that
 * kept the zone): checks its magic and layout version, updates
 * max_object, and returns it; NULL if it cannot be reused (then create).
 */
struct sl_cache_store *sl_cache_store_reuse(void *base, size_t size,
    size_t max_object);

/*
 * Called for each candidate variant of a key, under the key's lock (so it
 * must not take locks, allocate or block).  Returns 1 if o is the wanted
 * variant, 0 if not.
 */
typedef int (*sl_cache_match_pt)(const struct sl_cache_obj *o, void *arg);

/*
 * Finds an object for key whose variant match() accepts (match NULL: the
 * newest object of the key).  Returns SL_OK and a referenced object in
 * *op, or SL_DECLINED when there is none.  Updates the object's access
 * time and LRU position (cheaply: at most once a second per object).
 */
int sl_cache_lookup(struct sl_cache_store *s, const char *key, size_t klen,
    sl_cache_match_pt match, void *arg, struct sl_cache_obj **op);
/* Drops a reference from lookup or obj_new. */
void sl_cache_obj_release(struct sl_cache_store *s, struct sl_cache_obj *o);

/*
 * Request collapsing: one fetch per key at a time.  claim() returns SL_OK
 * if the caller now owns the fetch of key (it must end with unclaim(),
 * normally right after commit or abort), or SL_AGAIN if another fetch
 * holds it.  A claim older than max_ms, or whose owner process is gone,
 * is taken over.  The owner is recorded as (pid, now).
 */
int sl_cache_claim(struct sl_cache_store *s, const char *key, size_t klen,
    int64_t now_ms, int64_t max_ms);
void sl_cache_unclaim(struct sl_cache_store *s, const char *key, size_t klen);

/*
 * Writing an object.  obj_new() copies key, metadata (meta_len <=
 * SL_CACHE_META_SIZE; the rest zeroed), vary blob and head in; the body is
 * appended with obj_append() as it arrives (which may evict older objects
 * to make room).  obj_new() returns NULL and obj_append() SL_ERROR when
 * the object cannot be stored (larger than max_object, or no room even
 * after eviction); the writer then aborts it and goes on streaming to its
 * client.  Until commit() the object is invisible to lookups.
 */
struct sl_cache_obj *sl_cache_obj_new(struct sl_cache_store *s,
    const char *key, size_t klen, const void *meta, size_t meta_len,
    const char *vary, size_t vary_len, const char *head, size_t head_len);
int sl_cache_obj_append(struct sl_cache_store *s, struct sl_cache_obj *o,
    const char *data, size_t len);
/*
 * Publishes o under its key.  Objects of the same key for which
 * replace(old, arg) returns 1 are unlinked (freed when their last
 * reference goes); replace NULL: objects whose vary blob equals o's.
 * Drops the writer's reference.  Returns SL_OK.
 */
int sl_cache_obj_commit(struct sl_cache_store *s, struct sl_cache_obj *o,
    sl_cache_match_pt replace, void *arg);
/* Frees an uncommitted object (drops the writer's reference). */
void sl_cache_obj_abort(struct sl_cache_store *s, struct sl_cache_obj *o);

/* Reading a (referenced) object; pointers stay valid while referenced. */
const void *sl_cache_obj_meta(const struct sl_cache_obj *o);
void sl_cache_obj_key(const struct sl_cache_obj *o, const char **key,
    size_t *len);
void sl_cache_obj_vary(const struct sl_cache_obj *o, const char **vary,
    size_t *len);
void sl_cache_obj_head(const struct sl_cache_obj *o, const char **head,
    size_t *len);
int64_t sl_cache_obj_body_len(const struct sl_cache_obj *o);
/*
 * Fills iov[0..niov) with the body bytes [off, off + len) as they lie in
 * the store (no copy); returns the number of iovecs filled.  If niov was
 * too small, the iovecs cover a prefix: call again from where they end.
 */
int sl_cache_obj_body_iov(const struct sl_cache_obj *o, int64_t off,
    int64_t len, struct iovec *iov, int niov);
/* Rewrites the metadata area of a committed object, under its lock. */
void sl_cache_obj_set_meta(struct sl_cache_store *s, struct sl_cache_obj *o,
    const void *meta, size_t meta_len);
/* Unlinks one committed object (freed when its last reference goes). */
void sl_cache_obj_remove(struct sl_cache_store *s, struct sl_cache_obj *o);

/*
 * Purging: removes every object (all variants) of key, or of every key
 * starting with prefix.  Returns the number of objects removed.
 */
int64_t sl_cache_purge(struct sl_cache_store *s, const char *key,
    size_t klen);
int64_t sl_cache_purge_prefix(struct sl_cache_store *s, const char *prefix,
    size_t plen);

/*
 * Removes objects not looked up for inactive_ms (at most max of them,
 * oldest first); run from a timer.  Returns how many were removed.
 * now_ms is wall-clock ms (sl_time_msec): access times are taken from
 * that clock by lookup and commit.  Also gives back what processes that
 * are gone left behind: the references they held, the objects they were
 * writing.
 */
int64_t sl_cache_expire(struct sl_cache_store *s, int64_t now_ms,
    int64_t inactive_ms, int64_t max);

/* ---- statistics ---------------------------------------------------------- */

enum sl_cache_stat {
    SL_CACHE_STAT_HIT = 0,
    SL_CACHE_STAT_MISS,
    SL_CACHE_STAT_EXPIRED,      /* stale, fetched again */
    SL_CACHE_STAT_REVALIDATED,  /* stale, origin said 304 */
    SL_CACHE_STAT_STALE,        /* served stale (error, updating, swr) */
    SL_CACHE_STAT_BYPASS,
    SL_CACHE_STAT_STORED,
    SL_CACHE_STAT_NOT_STORED,   /* too big, no room, or not cacheable */
    SL_CACHE_STAT_PURGED,
    SL_CACHE_STAT_EVICTED,      /* by LRU for room */
    SL_CACHE_STAT_INACTIVE,     /* by sl_cache_expire */
    SL_CACHE_STAT_COLLAPSED,    /* waited for another fetch */
    SL_CACHE_STAT_N
};

struct sl_cache_stats {
    uint64_t                entries;    /* committed objects */
    uint64_t                size;       /* store bytes in all */
    uint64_t                used;       /* bytes in blocks in use */
    uint64_t                free;       /* bytes in free blocks */
    uint64_t                max_object;
    uint64_t                counters[SL_CACHE_STAT_N];
};

/*
 * Adds n to a shared counter (atomic; no lock).  The store counts
 * EVICTED, INACTIVE (sl_cache_expire) and PURGED (sl_cache_purge*)
 * itself; the other counters are the caller's.
 */
void sl_cache_count(struct sl_cache_store *s, enum sl_cache_stat which,
    uint64_t n);
void sl_cache_store_stats(struct sl_cache_store *s, struct sl_cache_stats *st);
/* The counter's name for stats output ("hit", "miss", ...). */
const char *sl_cache_stat_name(enum sl_cache_stat which);

/*
 * Walks the whole store under its locks and checks every invariant
 * (index, LRU, block accounting, reference counts); returns SL_OK or
 * SL_ERROR with a reason in err.  For tests and `sluicectl cache stats`
 * with a consistency check.
 */
int sl_cache_store_check(struct sl_cache_store *s, char *err, size_t size);

/*
 * Test hooks (unit tests only): take and give back the index lock of
 * key's stripe (key NULL: the allocator's lock), and how many locks were
 * recovered from a dead holder so far.
 */
void sl_cache_store_test_lock(struct sl_cache_store *s, const char *key,
    size_t klen);
void sl_cache_store_test_unlock(struct sl_cache_store *s, const char *key,
    size_t klen);
uint64_t sl_cache_store_test_recovered(struct sl_cache_store *s);
/* Takes the allocator's lock and garbles its lists (then exit). */
void sl_cache_store_test_damage(struct sl_cache_store *s);

#endif /* SL_CACHE_STORE_H */
