/*
 * sl_cache_store.c: the shared-memory object store (sl_cache_store.h):
 * making and reusing a store, the index, lookups and the ledgers of the
 * references they take, request collapsing, writing, reading, removing
 * and expiring objects, statistics and the consistency check.  The
 * layout, the structures and the locks of a store are described in
 * sl_cache_store_int.h; the block allocator, LRU eviction and the
 * rebuild of the allocator after a dead lock holder are in
 * sl_cache_alloc.c.
 *
 * An object is a chain of blocks.  Its first block starts with struct
 * sl_cache_obj, followed by the key, the vary blob and the head
 * (contiguous, so they can be handed out as plain pointers); the body
 * follows and runs on through the chain.  The first block is the smallest
 * class that holds the header part; body blocks grow with the object:
 * 1 KiB blocks while it is under 4 KiB, 4 KiB under 64 KiB, 16 KiB beyond
 * (waste stays under a quarter of an object, a 100-byte response costs
 * one 1 KiB block, and big bodies go out in 16 KiB or longer runs: blocks
 * adjacent in memory are merged into one iovec).  With no free page left,
 * a body block may come from another class's free blocks rather than
 * evicting.  The 16 KiB tail of a
 * chain is spliced onto the free-page list in one step, so freeing even a
 * huge object is bounded work under the allocator lock.
 *
 * Reference counts: the index holds one reference on each linked object,
 * every lookup one more, the writer one on an uncommitted object.  An
 * object is freed by whoever drops the last one (under alloc).  A new
 * reference is only taken under the object's stripe lock while it is
 * linked, so an object with refs == 1 under that lock is unused and may
 * be evicted.
 *
 * A process may die anywhere, holding any lock (robust mutexes hand the
 * lock to the next taker with EOWNERDEAD).  Stripes and claims are only
 * changed by single stores, so they stay whole.  The allocator's state is
 * rebuilt from the blocks (sl_cache_rebuild()), which is possible because
 * an object's header and block chain only change under alloc, objects
 * enter the index after the LRU and leave it before their count drops.
 * The references a process holds from lookups are listed in a ledger of
 * its own in the store; sl_cache_expire() gives back those of processes
 * that are gone, and frees the objects they were writing.  What can
 * still leak: a reference taken but not yet listed (or unlisted but not
 * yet dropped) when its holder was killed, or one a process held while
 * its ledger was full; such an object is never freed until the store is
 * made anew.
 */
#include "sl_core.h"
#include "sl_cache_store_int.h"

#include <pthread.h>
#include <signal.h>
#include <sys/random.h>

static const char *sl_cache_stat_names[SL_CACHE_STAT_N] = {
    "hit", "miss", "expired", "revalidated", "stale", "bypass", "stored",
    "not_stored", "purged", "evicted", "inactive", "collapsed"
};

/* ---- hashing and locks ---------------------------------------------------- */

/*
 * A seeded multiply-xorshift hash, 8 bytes a step: cheap for URL keys,
 * and the per-store seed keeps chosen keys from piling into one bucket
 * predictably.
 */
static uint64_t
sl_cache_hash(const struct sl_cache_store *s, const char *p, size_t n)
{
    uint64_t h = s->seed ^ (n * 0x9e3779b97f4a7c15ULL), w;

    while (n >= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
    return h;
}

static int
sl_cache_mutex_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t attr;
    int rc;

    if ((rc = pthread_mutexattr_init(&attr)) != 0)
        goto failed;
    if ((rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED))
            != 0
        || (rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST))
            != 0
        || (rc = pthread_mutex_init(m, &attr)) != 0)
    {
        pthread_mutexattr_destroy(&attr);
        goto failed;
    }
    pthread_mutexattr_destroy(&attr);
    return SL_OK;

failed:
    sl_log_error(SL_LOG_EMERG, rc, "pthread_mutex_init() failed for a "
                 "cache store");
    return SL_ERROR;
}

static void
sl_cache_lock(struct sl_cache_store *s, struct sl_cache_lock *l)
{
    int rc;

    rc = pthread_mutex_lock(&l->mutex);
    if (sl_likely(rc == 0))
        return;
    if (rc == EOWNERDEAD) {
        sl_cache_owner_dead(s, l);
        return;
    }
    sl_log_error(SL_LOG_ALERT, rc, "pthread_mutex_lock() failed for a cache "
                 "store");
    SL_ASSERT(rc == 0);
}

/*
 * This process's pid, cached (getpid() is a system call) and forgotten in
 * a child after fork(): a ledger or a claim must never be taken for the
 * parent's.
 */
static pid_t sl_cache_pid_cache;

static void
sl_cache_atfork_child(void)
{
    sl_cache_pid_cache = 0;
}

static pid_t
sl_cache_getpid(void)
{
    static int registered;

    if (sl_unlikely(sl_cache_pid_cache == 0)) {
        if (!registered && pthread_atfork(NULL, NULL, sl_cache_atfork_child)
                           == 0)
        {
            registered = 1;
        }
        sl_cache_pid_cache = getpid();
    }
    return sl_cache_pid_cache;
}

static int64_t
sl_cache_now(void)
{
    struct timespec ts;

    if (sl_time_msec != 0)
        return sl_time_msec;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- creating and reusing --------------------------------------------- */

static size_t
sl_cache_max_size(size_t max_object, uint32_t nunits)
{
    size_t half = (size_t) nunits * SL_CACHE_UNIT / 2;

    /* An object may take half the store: never all of it for one. */
    return max_object == 0 || max_object > half ? half : max_object;
}

struct sl_cache_store *
sl_cache_store_create(void *base, size_t size, size_t max_object)
{
    struct sl_cache_store *s;
    uintptr_t start, end, p;
    size_t per_page, nb, hold;
    uint32_t npages, i, cap;

    if (base == NULL || size < SL_CACHE_STORE_MIN_SIZE)
        return NULL;
    start = sl_align((uintptr_t) base, 64);
    end = (uintptr_t) base + size;
    s = (struct sl_cache_store *) start;
    memset(s, 0, sizeof(*s));
    p = sl_align(start + sizeof(*s), 64);

    /*
     * Per page: the page itself, 16 units of next and prev, two bytes of
     * page state and up to 16 buckets (at least one per 2 KiB: short
     * chains even when the store is full of small objects).
     */
    per_page = SL_CACHE_PAGE + SL_CACHE_PAGE_UNITS * 2 * sizeof(uint32_t) + 2
               + 16 * sizeof(void *);
    /* Reference ledgers: about 1/32 of the store, 8 to 2048 entries. */
    for (cap = 8; cap < 2048
         && (size_t) cap * 2 * SL_CACHE_HOLDERS * sizeof(struct sl_cache_hold)
            < size / 32;
         cap <<= 1)
    { /* void */ }
    hold = (size_t) cap * 2 * SL_CACHE_HOLDERS * sizeof(struct sl_cache_hold);
    s->hold_cap = cap;
    for (i = 0; i < SL_CACHE_HOLDERS; i++) {
        s->holders[i].t[0] = (struct sl_cache_hold *) p
                             + (size_t) i * 2 * cap;
        s->holders[i].t[1] = s->holders[i].t[0] + cap;
    }
    memset((void *) p, 0, hold);
    p = sl_align(p + hold, 64);
    if (end <= p + 4 * per_page)
        return NULL;
    npages = (uint32_t) sl_min((end - p) / per_page,
                               (size_t) (UINT32_MAX / SL_CACHE_PAGE_UNITS
                                         - 1));
    for (nb = 64; nb < (size_t) npages * 8; nb <<= 1) { /* void */ }

    /* Alignment costs up to a page: give pages back until all fits. */
    for (;;) {
        uintptr_t q = p;

        q += nb * sizeof(void *);
        q = sl_align(q, 64) + (size_t) npages * SL_CACHE_PAGE_UNITS
                              * 2 * sizeof(uint32_t);
        q = sl_align(q, 64) + (size_t) npages * 2;
        q = sl_align(q, SL_CACHE_PAGE);
        if (q + (size_t) npages * SL_CACHE_PAGE <= end)
            break;
        if (--npages < 4)
            return NULL;
    }

    s->buckets = (struct sl_cache_obj **) p;
    p += nb * sizeof(void *);
    p = sl_align(p, 64);
    s->next = (uint32_t *) p;
    p += (size_t) npages * SL_CACHE_PAGE_UNITS * sizeof(uint32_t);
    s->prev = (uint32_t *) p;
    p += (size_t) npages * SL_CACHE_PAGE_UNITS * sizeof(uint32_t);
    p = sl_align(p, 64);
    s->pcls = (uint8_t *) p;
    s->pfree = s->pcls + npages;
    p += (size_t) npages * 2;
    s->blocks = (char *) sl_align(p, SL_CACHE_PAGE);

    s->size = size;
    s->base = base;
    s->layout = SL_CACHE_LAYOUT;
    s->nstripes = SL_CACHE_NSTRIPES;
    s->npages = npages;
    s->nunits = npages * SL_CACHE_PAGE_UNITS;
    s->nbuckets = (uint32_t) nb;
    s->max_object = max_object;
    s->max_size = sl_cache_max_size(max_object, s->nunits);
    if (getrandom(&s->seed, sizeof(s->seed), GRND_NONBLOCK)
        != sizeof(s->seed))
    {
        s->seed = (uint64_t) time(NULL) * 0x9e3779b97f4a7c15ULL ^ getpid();
    }

    memset(s->buckets, 0, nb * sizeof(void *));
    memset(s->prev, 0, (size_t) s->nunits * sizeof(uint32_t));
    memset(s->pcls, 0, (size_t) npages * 2);
    for (i = 0; i < npages; i++) {
        s->next[i * SL_CACHE_PAGE_UNITS] =
            i + 1 < npages ? (i + 1) * SL_CACHE_PAGE_UNITS + 1 : 0;
    }
    s->page_free = 1;
    s->free_units = s->nunits;

    if (sl_cache_mutex_init(&s->alloc.mutex) != SL_OK
        || sl_cache_mutex_init(&s->claim_lock.mutex) != SL_OK)
    {
        return NULL;
    }
    for (i = 0; i < SL_CACHE_NSTRIPES; i++) {
        if (sl_cache_mutex_init(&s->stripes[i].mutex) != SL_OK)
            return NULL;
    }
    s->version = SL_CACHE_STORE_VERSION;
    __atomic_store_n(&s->magic, SL_CACHE_STORE_MAGIC, __ATOMIC_RELEASE);
    return s;
}

struct sl_cache_store *
sl_cache_store_reuse(void *base, size_t size, size_t max_object)
{
    struct sl_cache_store *s;

    if (base == NULL || size < SL_CACHE_STORE_MIN_SIZE)
        return NULL;
    s = (struct sl_cache_store *) sl_align((uintptr_t) base, 64);
    if (s->magic != SL_CACHE_STORE_MAGIC
        || s->version != SL_CACHE_STORE_VERSION
        || s->size != size || s->base != base
        || s->layout != SL_CACHE_LAYOUT
        || s->nstripes != SL_CACHE_NSTRIPES || s->disabled)
    {
        return NULL;
    }
    s->max_object = max_object;
    s->max_size = sl_cache_max_size(max_object, s->nunits);
    return s;
}

/* ---- the index --------------------------------------------------------- */

static int
sl_cache_key_eq(const struct sl_cache_obj *o, uint64_t hash, const char *key,
    size_t klen)
{
    return o->hash == hash && o->klen == klen
           && memcmp(o->data, key, klen) == 0;
}

/*
 * Takes o (at *pp in its bucket chain) out of the index and drops the
 * index's reference; o is freed now if nobody else holds one, otherwise
 * it waits in limbo for its last release.  The stripe is held.
 */
static void
sl_cache_unlink(struct sl_cache_store *s, struct sl_cache_obj **pp,
    struct sl_cache_obj *o)
{
    if (pp != NULL)
        *pp = o->hnext;
    o->hnext = NULL;
    sl_cache_lock(s, &s->alloc);
    sl_cache_lru_remove(s, o);
    o->state = SL_CACHE_OBJ_UNLINKED;
    if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0)
        sl_cache_obj_free_blocks(s, o);
    else
        sl_cache_limbo_push(s, o);
    sl_cache_unlock(&s->alloc);
}

/* ---- references --------------------------------------------------------- */

/* Drops a reference; the last one frees o. */
static void
sl_cache_unref(struct sl_cache_store *s, struct sl_cache_obj *o)
{
    uint32_t refs;

    refs = __atomic_load_n(&o->refs, __ATOMIC_RELAXED);
    while (refs > 1) {
        if (__atomic_compare_exchange_n(&o->refs, &refs, refs - 1, 1,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        {
            return;
        }
    }
    /*
     * The last reference: o is in limbo (unlinked, or never committed),
     * and nobody else can take one.  A count only ever reaches 0 under
     * the allocator lock, so a rebuild can tell garbage from objects
     * about to be freed.
     */
    sl_cache_lock(s, &s->alloc);
    refs = __atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL);
    SL_ASSERT(refs == 0 && o->state != SL_CACHE_OBJ_LINKED);
    sl_cache_limbo_remove(s, o);
    sl_cache_obj_free_blocks(s, o);
    sl_cache_unlock(&s->alloc);
}

static uint32_t
sl_cache_hold_slot(const struct sl_cache_store *s, const struct sl_cache_obj *o)
{
    return (uint32_t) ((uintptr_t) o / SL_CACHE_UNIT * 2654435761u)
           & (s->hold_cap - 1);
}

/*
 * Gives back every reference listed in h (its process is gone, and the
 * caller owns h by having set its pid to minus its own).
 */
static void
sl_cache_holder_sweep(struct sl_cache_store *s, struct sl_cache_holder *h)
{
    struct sl_cache_hold *t = h->t[__atomic_load_n(&h->cur,
                                                   __ATOMIC_ACQUIRE) & 1];
    struct sl_cache_obj *o;
    uint32_t i, n, given = 0;

    for (i = 0; i < s->hold_cap; i++) {
        o = t[i].o;
        if (o == NULL || o == SL_CACHE_TOMB)
            continue;
        n = t[i].n;
        t[i].o = SL_CACHE_TOMB;         /* unlisted before given back */
        if (o->magic != SL_CACHE_OBJ_MAGIC || o->epoch != s->seed)
            continue;
        while (n-- > 0) {
            sl_cache_unref(s, o);
            given++;
        }
    }
    memset(h->t[0], 0, (size_t) s->hold_cap * sizeof(struct sl_cache_hold));
    memset(h->t[1], 0, (size_t) s->hold_cap * sizeof(struct sl_cache_hold));
    h->used = h->tombs = 0;
    __atomic_store_n(&h->cur, 0, __ATOMIC_RELEASE);
    if (given) {
        sl_log_error(SL_LOG_NOTICE, 0, "cache store: %u reference(s) held "
                     "by a process that is gone given back", given);
    }
}

/*
 * Takes over slot h, whose pid was p, if that process is gone (sweeping
 * what it held).  Returns 1 if h is now the caller's, with pid set to
 * owner (0 leaves it free).
 */
static int
sl_cache_holder_take(struct sl_cache_store *s, struct sl_cache_holder *h,
    pid_t p, pid_t me, pid_t owner)
{
    if (p == 0 || !sl_cache_pid_dead(p < 0 ? -p : p)
        || !__atomic_compare_exchange_n(&h->pid, &p, -me, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
    {
        return 0;
    }
    sl_cache_holder_sweep(s, h);
    __atomic_store_n(&h->pid, owner, __ATOMIC_RELEASE);
    return 1;
}

/* Frees the ledgers of processes that are gone (sl_cache_expire). */
static void
sl_cache_holders_reap(struct sl_cache_store *s)
{
    pid_t me = sl_cache_getpid();
    unsigned i;

    for (i = 0; i < SL_CACHE_HOLDERS; i++) {
        (void) sl_cache_holder_take(s, &s->holders[i],
                                    __atomic_load_n(&s->holders[i].pid,
                                                    __ATOMIC_ACQUIRE),
                                    me, 0);
    }
}

/*
 * This process's ledger in s (looked up once per store and process), or
 * NULL when all are taken: its references then go unlisted.
 */
static struct {
    struct sl_cache_store  *s;
    uint64_t                epoch;
    pid_t                   pid;
    struct sl_cache_holder *h;
} sl_cache_me[8];

static struct sl_cache_holder *
sl_cache_holder(struct sl_cache_store *s)
{
    struct sl_cache_holder *h = NULL;
    pid_t me = sl_cache_getpid(), p;
    unsigned i, pass;

    for (i = 0; i < sl_nelems(sl_cache_me); i++) {
        if (sl_cache_me[i].s == s && sl_cache_me[i].pid == me
            && sl_cache_me[i].epoch == s->seed)
        {
            return sl_cache_me[i].h;
        }
    }
    /* Ours already (a pid used again), a free one, or a dead one's. */
    for (pass = 0; pass < 3 && h == NULL; pass++) {
        for (i = 0; i < SL_CACHE_HOLDERS && h == NULL; i++) {
            p = __atomic_load_n(&s->holders[i].pid, __ATOMIC_ACQUIRE);
            if ((pass == 0 && p == me)
                || (pass == 1 && p == 0
                    && __atomic_compare_exchange_n(&s->holders[i].pid, &p,
                                                   me, 0, __ATOMIC_ACQ_REL,
                                                   __ATOMIC_RELAXED))
                || (pass == 2 && p != me
                    && sl_cache_holder_take(s, &s->holders[i], p, me, me)))
            {
                h = &s->holders[i];
            }
        }
    }
    for (i = 0; i < sl_nelems(sl_cache_me) - 1; i++) {
        if (sl_cache_me[i].s == NULL || sl_cache_me[i].s == s
            || sl_cache_me[i].pid != me)
        {
            break;
        }
    }
    sl_cache_me[i].s = s;
    sl_cache_me[i].epoch = s->seed;
    sl_cache_me[i].pid = me;
    sl_cache_me[i].h = h;
    return h;
}

/*
 * Live entries of h copied into its other table, which becomes current:
 * the tombstones are gone.
 */
static void
sl_cache_hold_compact(struct sl_cache_store *s, struct sl_cache_holder *h)
{
    uint32_t cur = h->cur & 1, mask = s->hold_cap - 1, i, j, n = 0;
    struct sl_cache_hold *from = h->t[cur], *to = h->t[cur ^ 1];

    memset(to, 0, (size_t) s->hold_cap * sizeof(struct sl_cache_hold));
    for (i = 0; i < s->hold_cap; i++) {
        if (from[i].o == NULL || from[i].o == SL_CACHE_TOMB)
            continue;
        for (j = sl_cache_hold_slot(s, from[i].o); to[j].o != NULL;
             j = (j + 1) & mask)
        {
            /* void */
        }
        to[j].n = from[i].n;
        to[j].o = from[i].o;
        n++;
    }
    h->used = n;
    h->tombs = 0;
    __atomic_store_n(&h->cur, cur ^ 1, __ATOMIC_RELEASE);
}

/* Lists one more reference to o (taken already). */
static void
sl_cache_hold(struct sl_cache_store *s, struct sl_cache_holder *h,
    struct sl_cache_obj *o)
{
    uint32_t mask = s->hold_cap - 1, i, k, free = UINT32_MAX;
    struct sl_cache_hold *t = h->t[h->cur & 1];

    for (i = sl_cache_hold_slot(s, o), k = 0; k < s->hold_cap;
         i = (i + 1) & mask, k++)
    {
        if (t[i].o == o) {
            t[i].n++;
            return;
        }
        if (t[i].o == NULL)
            break;
        if (t[i].o == SL_CACHE_TOMB && free == UINT32_MAX)
            free = i;
    }
    if (h->used + 1 > s->hold_cap / 2)
        return;                         /* full: this one goes unlisted */
    if (free == UINT32_MAX && h->used + h->tombs + 1 > s->hold_cap * 3 / 4) {
        sl_cache_hold_compact(s, h);
        sl_cache_hold(s, h, o);
        return;
    }
    if (free == UINT32_MAX) {
        if (k == s->hold_cap)
            return;
        free = i;
    } else {
        h->tombs--;
    }
    t[free].n = 1;
    t[free].o = o;                      /* listed once complete */
    h->used++;
}

/* Unlists one reference to o, if listed; before it is dropped. */
static void
sl_cache_unhold(struct sl_cache_store *s, struct sl_cache_holder *h,
    struct sl_cache_obj *o)
{
    uint32_t mask = s->hold_cap - 1, i, k;
    struct sl_cache_hold *t = h->t[h->cur & 1];

    for (i = sl_cache_hold_slot(s, o), k = 0;
         k < s->hold_cap && t[i].o != NULL; i = (i + 1) & mask, k++)
    {
        if (t[i].o != o)
            continue;
        if (t[i].n > 1) {
            t[i].n--;
        } else {
            t[i].o = SL_CACHE_TOMB;
            h->used--;
            h->tombs++;
        }
        return;
    }
}

/* ---- lookups ------------------------------------------------------------ */

int
sl_cache_lookup(struct sl_cache_store *s, const char *key, size_t klen,
    sl_cache_match_pt match, void *arg, struct sl_cache_obj **op)
{
    struct sl_cache_holder *h;
    struct sl_cache_obj *o;
    struct sl_cache_lock *l;
    uint64_t hash;
    int64_t now;

    if (sl_unlikely(__atomic_load_n(&s->disabled, __ATOMIC_RELAXED)))
        return SL_DECLINED;
    hash = sl_cache_hash(s, key, klen);
    l = sl_cache_stripe(s, hash);
    sl_cache_lock(s, l);
    for (o = *sl_cache_bucket(s, hash); o != NULL; o = o->hnext) {
        if (sl_cache_key_eq(o, hash, key, klen)
            && (match == NULL || match(o, arg)))
        {
            __atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    sl_cache_unlock(l);
    if (o == NULL)
        return SL_DECLINED;

    h = sl_cache_holder(s);
    if (h != NULL)
        sl_cache_hold(s, h, o);
    now = sl_cache_now();
    if (__atomic_load_n(&o->atime, __ATOMIC_RELAXED) != now)
        __atomic_store_n(&o->atime, now, __ATOMIC_RELAXED);
    if (__atomic_load_n(&o->touched, __ATOMIC_RELAXED) != now / 1000) {
        __atomic_store_n(&o->touched, now / 1000, __ATOMIC_RELAXED);
        /* Our reference keeps o; its state tells if it is still linked. */
        sl_cache_lock(s, &s->alloc);
        if (o->state == SL_CACHE_OBJ_LINKED && s->lru_newest != o) {
            sl_cache_lru_remove(s, o);
            sl_cache_lru_push(s, o);
        }
        sl_cache_unlock(&s->alloc);
    }
    *op = o;
    return SL_OK;
}

void
sl_cache_obj_release(struct sl_cache_store *s, struct sl_cache_obj *o)
{
    struct sl_cache_holder *h;

    if (sl_cache_stale(s, o))
        return;
    SL_CHECK_OBJ_NOTNULL(o, SL_CACHE_OBJ_MAGIC);
    h = sl_cache_holder(s);
    if (h != NULL)
        sl_cache_unhold(s, h, o);
    sl_cache_unref(s, o);
}

/* ---- request collapsing ------------------------------------------------- */

int
sl_cache_claim(struct sl_cache_store *s, const char *key, size_t klen,
    int64_t now_ms, int64_t max_ms)
{
    struct sl_cache_claim *set, *c, *empty = NULL;
    uint64_t hash;
    pid_t me = sl_cache_getpid();
    int rc = SL_OK;
    unsigned i;

    hash = sl_cache_hash(s, key, klen);
    set = &s->claims[(hash >> 32) % SL_CACHE_CLAIM_SETS * SL_CACHE_CLAIM_WAYS];
    sl_cache_lock(s, &s->claim_lock);
    for (i = 0; i < SL_CACHE_CLAIM_WAYS; i++) {
        c = &set[i];
        if (c->pid != 0 && c->hash == hash && c->klen == klen) {
            /* Our own pid too: two requests of one worker collapse. */
            if (now_ms - c->start < max_ms
                && !(kill(c->pid, 0) == -1 && errno == ESRCH))
            {
                rc = SL_AGAIN;
            } else {
                c->pid = me;        /* stale or orphaned: ours now */
                c->start = now_ms;
            }
            goto done;
        }
        if (empty == NULL
            && (c->pid == 0 || now_ms - c->start >= max_ms))
        {
            empty = c;
        }
    }
    /* With the set full of live claims the fetch goes on uncollapsed. */
    if (empty != NULL) {
        empty->hash = hash;
        empty->klen = (uint32_t) klen;
        empty->pid = me;
        empty->start = now_ms;
    }

done:
    sl_cache_unlock(&s->claim_lock);
    return rc;
}

void
sl_cache_unclaim(struct sl_cache_store *s, const char *key, size_t klen)
{
    struct sl_cache_claim *set, *c;
    uint64_t hash;
    pid_t me = sl_cache_getpid();
    unsigned i;

    hash = sl_cache_hash(s, key, klen);
    set = &s->claims[(hash >> 32) % SL_CACHE_CLAIM_SETS * SL_CACHE_CLAIM_WAYS];
    sl_cache_lock(s, &s->claim_lock);
    for (i = 0; i < SL_CACHE_CLAIM_WAYS; i++) {
        c = &set[i];
        /* A claim taken over by another process is that one's now. */
        if (c->pid == me && c->hash == hash && c->klen == klen) {
            c->pid = 0;
            break;
        }
    }
    sl_cache_unlock(&s->claim_lock);
}

/* ---- writing ------------------------------------------------------------ */

/* The class of the next body block of an object holding nunits. */
static int
sl_cache_next_cls(uint32_t nunits)
{
    if (nunits < 4)
        return SL_CACHE_CLS_1K;
    if (nunits < 64)
        return SL_CACHE_CLS_4K;
    return SL_CACHE_CLS_16K;
}

struct sl_cache_obj *
sl_cache_obj_new(struct sl_cache_store *s, const char *key, size_t klen,
    const void *meta, size_t meta_len, const char *vary, size_t vary_len,
    const char *head, size_t head_len)
{
    struct sl_cache_obj *o;
    size_t need;
    uint32_t u;
    int cls;

    if (klen > SL_CACHE_KEY_MAX || meta_len > SL_CACHE_META_SIZE
        || vary_len > SL_CACHE_PAGE || head_len > SL_CACHE_PAGE
        || head_len > s->max_size)
    {
        return NULL;
    }
    need = sizeof(struct sl_cache_obj) + klen + vary_len + head_len;
    if (need <= SL_CACHE_UNIT)
        cls = SL_CACHE_CLS_1K;
    else if (need <= 4 * SL_CACHE_UNIT)
        cls = SL_CACHE_CLS_4K;
    else if (need <= SL_CACHE_PAGE)
        cls = SL_CACHE_CLS_16K;
    else
        return NULL;    /* the head part must be contiguous */

    if (__atomic_load_n(&s->disabled, __ATOMIC_RELAXED))
        return NULL;
    /*
     * The header is written under the allocator lock, with the block:
     * which blocks belong to which object must always be readable from
     * the blocks themselves (see sl_cache_rebuild()).
     */
    sl_cache_lock(s, &s->alloc);
    u = sl_cache_alloc_locked(s, cls, cls);
    if (u == UINT32_MAX) {
        sl_cache_unlock(&s->alloc);
        return NULL;
    }
    cls = sl_cache_unit_cls(s, u);      /* may be larger than asked */
    s->next[u] = 0;
    o = (struct sl_cache_obj *) sl_cache_unit_ptr(s, u);
    memset(o, 0, sizeof(*o));
    o->state = SL_CACHE_OBJ_NEW;
    o->refs = 1;
    o->klen = (uint32_t) klen;
    o->vlen = (uint32_t) vary_len;
    o->hlen = (uint32_t) head_len;
    o->hash = sl_cache_hash(s, key, klen);
    o->store = s;
    o->epoch = s->seed;
    o->ctime = sl_cache_now();
    o->seq = __atomic_add_fetch(&s->seq, 1, __ATOMIC_RELAXED);
    o->pid = sl_cache_getpid();
    o->first = o->last = u;
    o->nunits = sl_cache_cls_units[cls];
    if (cls == SL_CACHE_CLS_16K) {
        o->big = u + 1;
        o->nbig = 1;
    }
    o->body_off = o->last_used = (uint32_t) need;
    sl_cache_limbo_push(s, o);
    o->magic = SL_CACHE_OBJ_MAGIC;
    sl_cache_unlock(&s->alloc);

    if (meta_len)
        memcpy(o->meta, meta, meta_len);
    memcpy(o->data, key, klen);
    if (vary_len)
        memcpy(o->data + klen, vary, vary_len);
    if (head_len)
        memcpy(o->data + klen + vary_len, head, head_len);
    return o;
}

int
sl_cache_obj_append(struct sl_cache_store *s, struct sl_cache_obj *o,
    const char *data, size_t len)
{
    uint32_t u, bsize, n;
    int cls;

    if (sl_cache_stale(s, o))
        return SL_ERROR;
    SL_CHECK_OBJ_NOTNULL(o, SL_CACHE_OBJ_MAGIC);
    SL_ASSERT(o->state == SL_CACHE_OBJ_NEW);
    if (o->hlen + (uint64_t) o->body_len + len > s->max_size)
        return SL_ERROR;
    while (len > 0) {
        bsize = sl_cache_block_size(s, o->last);
        if (o->last_used == bsize) {
            /* Linked in under the lock, like obj_new()'s header. */
            sl_cache_lock(s, &s->alloc);
            u = sl_cache_alloc_locked(s, sl_cache_next_cls(o->nunits),
                                      SL_CACHE_CLS_1K);
            if (u == UINT32_MAX) {
                sl_cache_unlock(&s->alloc);
                return SL_ERROR;
            }
            cls = sl_cache_unit_cls(s, u);
            s->next[u] = 0;
            s->next[o->last] = u + 1;
            o->last = u;
            o->last_used = 0;
            o->nunits += sl_cache_cls_units[cls];
            if (cls == SL_CACHE_CLS_16K) {
                if (o->big == 0) {
                    o->big = u + 1;
                    o->nbig = 0;
                }
                o->nbig++;
            } else {
                o->big = 0;     /* the 16 KiB tail starts later */
                o->nbig = 0;
            }
            sl_cache_unlock(&s->alloc);
            bsize = sl_cache_block_size(s, u);
        }
        n = (uint32_t) sl_min((size_t) (bsize - o->last_used), len);
        memcpy(sl_cache_unit_ptr(s, o->last) + o->last_used, data, n);
        o->last_used += n;
        o->body_len += n;
        data += n;
        len -= n;
    }
    return SL_OK;
}

static int
sl_cache_same_vary(const struct sl_cache_obj *old, void *arg)
{
    const struct sl_cache_obj *o = arg;

    return old->vlen == o->vlen
           && memcmp(old->data + old->klen, o->data + o->klen, o->vlen) == 0;
}

int
sl_cache_obj_commit(struct sl_cache_store *s, struct sl_cache_obj *o,
    sl_cache_match_pt replace, void *arg)
{
    struct sl_cache_obj **pp, **bucket;
    struct sl_cache_lock *l;
    int64_t now;

    if (sl_cache_stale(s, o))
        return SL_OK;
    SL_CHECK_OBJ_NOTNULL(o, SL_CACHE_OBJ_MAGIC);
    SL_ASSERT(o->state == SL_CACHE_OBJ_NEW);
    if (replace == NULL) {
        replace = sl_cache_same_vary;
        arg = o;
    }
    now = sl_cache_now();
    o->atime = now;
    o->touched = now / 1000;
    l = sl_cache_stripe(s, o->hash);
    bucket = sl_cache_bucket(s, o->hash);
    sl_cache_lock(s, l);
    for (pp = bucket; *pp != NULL; /* void */) {
        if (sl_cache_key_eq(*pp, o->hash, o->data, o->klen)
            && replace(*pp, arg))
        {
            sl_cache_unlink(s, pp, *pp);
            continue;
        }
        pp = &(*pp)->hnext;
    }
    /*
     * Linked and in the LRU first, then in the index (the newest first:
     * lookups without a match take the first).  The stripe keeps the
     * evictor off it in between.
     */
    sl_cache_lock(s, &s->alloc);
    sl_cache_limbo_remove(s, o);
    o->state = SL_CACHE_OBJ_LINKED;
    sl_cache_lru_push(s, o);
    sl_cache_unlock(&s->alloc);
    o->hnext = *bucket;
    *bucket = o;
    sl_cache_unlock(l);
    /* The writer's reference is now the index's. */
    return SL_OK;
}

void
sl_cache_obj_abort(struct sl_cache_store *s, struct sl_cache_obj *o)
{
    if (sl_cache_stale(s, o))
        return;
    SL_CHECK_OBJ_NOTNULL(o, SL_CACHE_OBJ_MAGIC);
    SL_ASSERT(o->state == SL_CACHE_OBJ_NEW);
    sl_cache_obj_release(s, o);
}

/* ---- reading ------------------------------------------------------------ */

const void *
sl_cache_obj_meta(const struct sl_cache_obj *o)
{
    return o->meta;
}

void
sl_cache_obj_key(const struct sl_cache_obj *o, const char **key, size_t *len)
{
    *key = o->data;
    *len = o->klen;
}

void
sl_cache_obj_vary(const struct sl_cache_obj *o, const char **vary,
    size_t *len)
{
    *vary = o->data + o->klen;
    *len = o->vlen;
}

void
sl_cache_obj_head(const struct sl_cache_obj *o, const char **head,
    size_t *len)
{
    *head = o->data + o->klen + o->vlen;
    *len = o->hlen;
}

int64_t
sl_cache_obj_body_len(const struct sl_cache_obj *o)
{
    return o->body_len;
}

/*
 * Where the last body_iov() calls of this process stopped, per object
 * (a small direct-mapped cache; workers are single-threaded).  A large
 * body is sent by calling again from where the iovecs ended, and without
 * this each call would walk the chain from its start: quadratic in the
 * size of the body.  An entry is only trusted for the very same object
 * (address and sequence number), whose chain never changes below its end.
 */
static struct {
    const struct sl_cache_obj *o;
    uint64_t                seq;
    int64_t                 boff;       /* body offset of ... */
    uint32_t                u;          /* ... block u, at byte start */
    uint32_t                start;
} sl_cache_iov_pos[32];

int
sl_cache_obj_body_iov(const struct sl_cache_obj *o, int64_t off,
    int64_t len, struct iovec *iov, int niov)
{
    const struct sl_cache_store *s = o->store;
    uint32_t u, start, end, from, to, slot;
    int64_t boff;
    char *p, *prev_end = NULL;
    int n = 0;

    if (o->magic != SL_CACHE_OBJ_MAGIC || sl_cache_stale(s, o)
        || off < 0 || len <= 0 || off >= o->body_len || niov <= 0)
    {
        return 0;
    }
    if (len > o->body_len - off)
        len = o->body_len - off;
    slot = (uint32_t) (((uintptr_t) o / SL_CACHE_UNIT) % 32);
    if (sl_cache_iov_pos[slot].o == o && sl_cache_iov_pos[slot].seq == o->seq
        && sl_cache_iov_pos[slot].boff <= off)
    {
        u = sl_cache_iov_pos[slot].u;
        start = sl_cache_iov_pos[slot].start;
        boff = sl_cache_iov_pos[slot].boff;
    } else {
        u = o->first;
        start = o->body_off;
        boff = 0;
    }
    /* Skip whole blocks up to off. */
    for (;;) {
        end = u == o->last ? o->last_used : sl_cache_block_size(s, u);
        if (off - boff < (int64_t) (end - start))
            break;
        boff += end - start;
        u = s->next[u] - 1;
        start = 0;
    }
    from = start + (uint32_t) (off - boff);
    for (;;) {
        p = sl_cache_unit_ptr(s, u) + from;
        to = (int64_t) (end - from) > len ? from + (uint32_t) len : end;
        if (p == prev_end) {
            iov[n - 1].iov_len += to - from;        /* adjacent: merged */
        } else {
            if (n == niov)
                break;
            iov[n].iov_base = p;
            iov[n].iov_len = to - from;
            n++;
        }
        prev_end = p + (to - from);
        len -= to - from;
        if (len == 0 || u == o->last)
            break;
        boff += end - start;
        u = s->next[u] - 1;
        start = from = 0;
        end = u == o->last ? o->last_used : sl_cache_block_size(s, u);
    }
    sl_cache_iov_pos[slot].o = o;
    sl_cache_iov_pos[slot].seq = o->seq;
    sl_cache_iov_pos[slot].u = u;
    sl_cache_iov_pos[slot].start = start;
    sl_cache_iov_pos[slot].boff = boff;
    return n;
}

void
sl_cache_obj_set_meta(struct sl_cache_store *s, struct sl_cache_obj *o,
    const void *meta, size_t meta_len)
{
    struct sl_cache_lock *l;

    if (sl_cache_stale(s, o))
        return;
    SL_CHECK_OBJ_NOTNULL(o, SL_CACHE_OBJ_MAGIC);
    SL_ASSERT(meta_len <= SL_CACHE_META_SIZE);
    l = sl_cache_stripe(s, o->hash);
    sl_cache_lock(s, l);
    memcpy(o->meta, meta, meta_len);
    memset(o->meta + meta_len, 0, SL_CACHE_META_SIZE - meta_len);
    sl_cache_unlock(l);
}

/* ---- removing ------------------------------------------------------------ */

void
sl_cache_obj_remove(struct sl_cache_store *s, struct sl_cache_obj *o)
{
    struct sl_cache_obj **pp;
    struct sl_cache_lock *l;

    if (sl_cache_stale(s, o))
        return;
    SL_CHECK_OBJ_NOTNULL(o, SL_CACHE_OBJ_MAGIC);
    l = sl_cache_stripe(s, o->hash);
    sl_cache_lock(s, l);
    /* The state only changes under the stripe: no need for alloc here. */
    if (o->state == SL_CACHE_OBJ_LINKED) {
        pp = sl_cache_find_pp(s, o);
        sl_cache_unlink(s, pp, o);
    }
    sl_cache_unlock(l);
}

int64_t
sl_cache_purge(struct sl_cache_store *s, const char *key, size_t klen)
{
    struct sl_cache_obj **pp;
    struct sl_cache_lock *l;
    uint64_t hash;
    int64_t n = 0;

    hash = sl_cache_hash(s, key, klen);
    l = sl_cache_stripe(s, hash);
    sl_cache_lock(s, l);
    for (pp = sl_cache_bucket(s, hash); *pp != NULL; /* void */) {
        if (sl_cache_key_eq(*pp, hash, key, klen)) {
            sl_cache_unlink(s, pp, *pp);
            n++;
            continue;
        }
        pp = &(*pp)->hnext;
    }
    sl_cache_unlock(l);
    if (n)
        sl_cache_count(s, SL_CACHE_STAT_PURGED, (uint64_t) n);
    return n;
}

/* Walks the index a stripe at a time, so lookups wait for one stripe only. */
int64_t
sl_cache_purge_prefix(struct sl_cache_store *s, const char *prefix,
    size_t plen)
{
    struct sl_cache_obj **pp;
    uint32_t i, b;
    int64_t n = 0;

    for (i = 0; i < SL_CACHE_NSTRIPES; i++) {
        sl_cache_lock(s, &s->stripes[i]);
        for (b = i; b < s->nbuckets; b += SL_CACHE_NSTRIPES) {
            for (pp = &s->buckets[b]; *pp != NULL; /* void */) {
                if ((*pp)->klen >= plen
                    && memcmp((*pp)->data, prefix, plen) == 0)
                {
                    sl_cache_unlink(s, pp, *pp);
                    n++;
                    continue;
                }
                pp = &(*pp)->hnext;
            }
        }
        sl_cache_unlock(&s->stripes[i]);
    }
    if (n)
        sl_cache_count(s, SL_CACHE_STAT_PURGED, (uint64_t) n);
    return n;
}

/*
 * Also frees objects whose writer died while writing them (checked once
 * they are SL_CACHE_WRITER_CHECK old): nobody else will.
 */
int64_t
sl_cache_expire(struct sl_cache_store *s, int64_t now_ms, int64_t inactive_ms,
    int64_t max)
{
    struct sl_cache_obj *o, *next;
    int64_t n = 0, due;
    int reap;

    /*
     * Every worker calls this every tick; looking for processes that are
     * gone (a kill() each) is done by one of them every few seconds.
     */
    due = __atomic_load_n(&s->reap_due, __ATOMIC_RELAXED);
    reap = (now_ms >= due || due - now_ms > 2 * SL_CACHE_REAP_EVERY)
           && __atomic_compare_exchange_n(&s->reap_due, &due,
                                          now_ms + SL_CACHE_REAP_EVERY, 0,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    if (reap)
        sl_cache_holders_reap(s);
    sl_cache_lock(s, &s->alloc);
    while (n < max && sl_cache_evict_one(s, now_ms - inactive_ms) == SL_OK)
        n++;
    for (o = reap ? s->limbo : NULL; o != NULL; o = next) {
        next = o->next;
        if (o->state == SL_CACHE_OBJ_NEW
            && now_ms - o->ctime >= SL_CACHE_WRITER_CHECK
            && sl_cache_pid_dead(o->pid))
        {
            sl_cache_limbo_remove(s, o);
            __atomic_store_n(&o->refs, 0, __ATOMIC_RELEASE);
            sl_cache_obj_free_blocks(s, o);
        }
    }
    sl_cache_unlock(&s->alloc);
    return n;
}

/* ---- statistics ---------------------------------------------------------- */

void
sl_cache_count(struct sl_cache_store *s, enum sl_cache_stat which,
    uint64_t n)
{
    if ((unsigned) which < SL_CACHE_STAT_N)
        __atomic_add_fetch(&s->shards[(unsigned) sl_cache_getpid()
                                      % SL_CACHE_SHARDS].counters[which],
                           n, __ATOMIC_RELAXED);
}

void
sl_cache_store_stats(struct sl_cache_store *s, struct sl_cache_stats *st)
{
    unsigned i, j;

    memset(st, 0, sizeof(*st));
    sl_cache_lock(s, &s->alloc);
    st->entries = s->nlru;
    st->free = (uint64_t) s->free_units * SL_CACHE_UNIT;
    sl_cache_unlock(&s->alloc);
    st->size = s->size;
    st->used = (uint64_t) s->nunits * SL_CACHE_UNIT - st->free;
    st->max_object = s->max_size;
    for (i = 0; i < SL_CACHE_STAT_N; i++)
        for (j = 0; j < SL_CACHE_SHARDS; j++) {
            st->counters[i] += __atomic_load_n(&s->shards[j].counters[i],
                                               __ATOMIC_RELAXED);
        }
}

const char *
sl_cache_stat_name(enum sl_cache_stat which)
{
    return (unsigned) which < SL_CACHE_STAT_N ? sl_cache_stat_names[which]
                                              : "unknown";
}

/* ---- consistency check ---------------------------------------------------- */

#define sl_cache_fail(...)                                                    \
    do { snprintf(err, size, __VA_ARGS__); goto failed; } while (0)

/* Marks units [u, u + n) as owned; 0 if one already was. */
static int
sl_cache_mark(uint8_t *map, uint32_t u, uint32_t n)
{
    uint32_t i;

    for (i = u; i < u + n; i++) {
        if (map[i / 8] & (1u << (i % 8)))
            return 0;
        map[i / 8] |= (uint8_t) (1u << (i % 8));
    }
    return 1;
}

/* Checks o's fields and block chain, marking its units; 0 if bad. */
static int
sl_cache_check_obj(struct sl_cache_store *s, struct sl_cache_obj *o,
    uint8_t *map, char *err, size_t size)
{
    uint32_t u, n, units = 0, cls;
    int64_t body = 0;
    size_t hdr;

    if ((char *) o < s->blocks
        || (char *) o >= s->blocks + (size_t) s->nunits * SL_CACHE_UNIT
        || ((char *) o - s->blocks) % SL_CACHE_UNIT != 0)
    {
        sl_cache_fail("object %p outside the block area", (void *) o);
    }
    if (o->magic != SL_CACHE_OBJ_MAGIC)
        sl_cache_fail("object %p: bad magic %08x", (void *) o, o->magic);
    if (o->store != s || o->epoch != s->seed
        || o->first != (uint32_t) (((char *) o - s->blocks) / SL_CACHE_UNIT))
    {
        sl_cache_fail("object %p: bad store or first block", (void *) o);
    }
    hdr = sizeof(*o) + o->klen + o->vlen + o->hlen;
    if (o->body_off != hdr)
        sl_cache_fail("object %p: body offset %u, header part %zu",
                      (void *) o, o->body_off, hdr);
    for (u = o->first, n = 0; ; u = s->next[u] - 1, n++) {
        if (u >= s->nunits || n > s->nunits)
            sl_cache_fail("object %p: chain runs wild", (void *) o);
        cls = sl_cache_unit_cls(s, u);
        if (cls == SL_CACHE_CLS_FREE
            || u % sl_cache_cls_units[cls] != 0)
        {
            sl_cache_fail("object %p: block %u in a free page or "
                          "misaligned", (void *) o, u);
        }
        if (!sl_cache_mark(map, u, sl_cache_cls_units[cls]))
            sl_cache_fail("object %p: block %u owned twice", (void *) o, u);
        units += sl_cache_cls_units[cls];
        body += (u == o->last ? o->last_used : sl_cache_block_size(s, u))
                - (u == o->first ? o->body_off : 0);
        if (s->next[u] == 0)
            break;
        if (u == o->last)
            sl_cache_fail("object %p: chain goes on past its last block",
                          (void *) o);
    }
    if (u != o->last)
        sl_cache_fail("object %p: chain ends at %u, last is %u", (void *) o,
                      u, o->last);
    if (units != o->nunits)
        sl_cache_fail("object %p: %u units in chain, %u recorded",
                      (void *) o, units, o->nunits);
    /*
     * An object being written has its fill and length advanced without a
     * lock, one after the other, by a writer that may be running (or may
     * have been killed between the two): only a committed one must agree.
     */
    if (o->state != SL_CACHE_OBJ_NEW && body != o->body_len)
        sl_cache_fail("object %p: body %lld in chain, %lld recorded",
                      (void *) o, (long long) body, (long long) o->body_len);
    if (__atomic_load_n(&o->refs, __ATOMIC_RELAXED) == 0
        || __atomic_load_n(&o->refs, __ATOMIC_RELAXED) > 1u << 30)
    {
        sl_cache_fail("object %p: reference count %u", (void *) o, o->refs);
    }
    return 1;

failed:
    return 0;
}

/*
 * No object is listed in the ledgers more often than it is referenced
 * (beyond the index's or the writer's reference).  Counts only go down
 * while all stripes are held (no new reference can be taken), and a
 * reference is listed after it is taken, unlisted before it is dropped:
 * so counts read first bound the listings read after.
 */
static int
sl_cache_check_ledgers(struct sl_cache_store *s, uint8_t *map, char *err,
    size_t size)
{
    struct sl_cache_obj *o, *lists[2];
    struct sl_cache_hold *t;
    uint32_t *refs, *held, i, j, k, u, base;
    int rc = SL_ERROR;

    refs = calloc(s->nunits, sizeof(uint32_t));
    held = calloc(s->nunits, sizeof(uint32_t));
    if (refs == NULL || held == NULL)
        sl_cache_fail("out of memory");
    lists[0] = s->lru_newest;
    lists[1] = s->limbo;
    for (k = 0; k < 2; k++) {
        for (o = lists[k]; o != NULL; o = o->next)
            refs[o->first] = __atomic_load_n(&o->refs, __ATOMIC_ACQUIRE);
    }
    for (i = 0; i < SL_CACHE_HOLDERS; i++) {
        if (__atomic_load_n(&s->holders[i].pid, __ATOMIC_ACQUIRE) == 0)
            continue;
        t = s->holders[i].t[__atomic_load_n(&s->holders[i].cur,
                                            __ATOMIC_ACQUIRE) & 1];
        for (j = 0; j < s->hold_cap; j++) {
            o = __atomic_load_n(&t[j].o, __ATOMIC_ACQUIRE);
            if (o == NULL || o == SL_CACHE_TOMB)
                continue;
            u = (uint32_t) (((char *) o - s->blocks) / SL_CACHE_UNIT);
            if ((char *) o < s->blocks || u >= s->nunits
                || ((char *) o - s->blocks) % SL_CACHE_UNIT != 0
                || !(map[u / 8] & (1u << (u % 8))) || o->first != u)
            {
                sl_cache_fail("ledger %u lists %p, not an object", i,
                              (void *) o);
            }
            held[u] += t[j].n;
        }
    }
    for (k = 0; k < 2; k++) {
        for (o = lists[k]; o != NULL; o = o->next) {
            base = o->state != SL_CACHE_OBJ_UNLINKED;
            if (held[o->first] + base > refs[o->first])
                sl_cache_fail("object %p listed %u times in ledgers with "
                              "%u references", (void *) o, held[o->first],
                              refs[o->first]);
        }
    }
    rc = SL_OK;

failed:
    free(refs);
    free(held);
    return rc;
}

int
sl_cache_store_check(struct sl_cache_store *s, char *err, size_t size)
{
    struct sl_cache_obj *o, *prev;
    uint64_t nindex = 0, n;
    uint32_t i, b, u, free_units = 0, units = 0, page, cls, nfree;
    uint8_t *map = NULL, *pfree = NULL;
    int rc = SL_ERROR;

    if (s == NULL || s->magic != SL_CACHE_STORE_MAGIC) {
        snprintf(err, size, "bad store magic");
        return SL_ERROR;
    }
    for (i = 0; i < SL_CACHE_NSTRIPES; i++)
        sl_cache_lock(s, &s->stripes[i]);
    sl_cache_lock(s, &s->alloc);

    map = calloc(s->nunits / 8 + 1, 1);
    pfree = calloc(s->npages, 1);
    if (map == NULL || pfree == NULL)
        sl_cache_fail("out of memory");

    /* The free lists. */
    for (u = s->page_free, n = 0; u != 0; u = s->next[u - 1], n++) {
        if (u - 1 >= s->nunits || (u - 1) % SL_CACHE_PAGE_UNITS != 0
            || n > s->npages)
        {
            sl_cache_fail("free page list broken at unit %u", u - 1);
        }
        if (!sl_cache_mark(map, u - 1, SL_CACHE_PAGE_UNITS))
            sl_cache_fail("free page %u listed twice or in use",
                          (u - 1) / SL_CACHE_PAGE_UNITS);
        free_units += SL_CACHE_PAGE_UNITS;
    }
    for (cls = SL_CACHE_CLS_1K; cls <= SL_CACHE_CLS_4K; cls++) {
        prev = NULL;
        for (u = s->cls_free[cls], b = 0, n = 0; u != 0;
             b = u, u = s->next[u - 1], n++)
        {
            if (u - 1 >= s->nunits || n > s->nunits)
                sl_cache_fail("class %u free list broken", cls);
            page = (u - 1) / SL_CACHE_PAGE_UNITS;
            if (s->pcls[page] != cls
                || (u - 1) % sl_cache_cls_units[cls] != 0)
            {
                sl_cache_fail("free block %u: page class %u, list %u",
                              u - 1, s->pcls[page], cls);
            }
            if (s->prev[u - 1] != b)
                sl_cache_fail("free block %u: bad back link", u - 1);
            if (!sl_cache_mark(map, u - 1, sl_cache_cls_units[cls]))
                sl_cache_fail("free block %u listed twice or in use", u - 1);
            pfree[page]++;
            free_units += sl_cache_cls_units[cls];
        }
        (void) prev;
    }
    for (page = 0; page < s->npages; page++) {
        cls = s->pcls[page];
        if (cls != SL_CACHE_CLS_1K && cls != SL_CACHE_CLS_4K)
            continue;
        nfree = pfree[page];
        if (nfree != s->pfree[page]
            || nfree >= SL_CACHE_PAGE_UNITS / sl_cache_cls_units[cls])
        {
            sl_cache_fail("page %u: %u free blocks listed, %u counted",
                          page, nfree, s->pfree[page]);
        }
    }
    if (free_units != s->free_units)
        sl_cache_fail("%u units free in lists, %u counted", free_units,
                      s->free_units);

    /* The LRU list: every linked object, in both directions. */
    prev = NULL;
    for (o = s->lru_newest, n = 0; o != NULL; prev = o, o = o->next, n++) {
        if (n >= s->nlru)
            sl_cache_fail("LRU list longer than %llu",
                          (unsigned long long) s->nlru);
        if (!sl_cache_check_obj(s, o, map, err, size))
            goto failed;
        if (o->prev != prev || o->state != SL_CACHE_OBJ_LINKED)
            sl_cache_fail("LRU object %p: bad back link or state %u",
                          (void *) o, o->state);
        units += o->nunits;
    }
    if (n != s->nlru || prev != s->lru_oldest)
        sl_cache_fail("LRU list: %llu objects, %llu counted, or bad tail",
                      (unsigned long long) n, (unsigned long long) s->nlru);
    prev = NULL;
    for (o = s->limbo, n = 0; o != NULL; prev = o, o = o->next, n++) {
        if (n >= s->nlimbo)
            sl_cache_fail("limbo list longer than %llu",
                          (unsigned long long) s->nlimbo);
        if (!sl_cache_check_obj(s, o, map, err, size))
            goto failed;
        if (o->prev != prev || o->state == SL_CACHE_OBJ_LINKED)
            sl_cache_fail("limbo object %p: bad back link or state %u",
                          (void *) o, o->state);
        units += o->nunits;
    }
    if (n != s->nlimbo)
        sl_cache_fail("limbo list: %llu objects, %llu counted",
                      (unsigned long long) n, (unsigned long long) s->nlimbo);
    if (units + free_units != s->nunits)
        sl_cache_fail("blocks: %u units used + %u free != %u", units,
                      free_units, s->nunits);
    if (sl_cache_check_ledgers(s, map, err, size) != SL_OK)
        goto failed;

    /* The index: every entry linked, in its bucket, and in the LRU. */
    for (b = 0; b < s->nbuckets; b++) {
        for (o = s->buckets[b]; o != NULL; o = o->hnext) {
            if (++nindex > s->nlru)
                sl_cache_fail("index holds more than the %llu LRU objects",
                              (unsigned long long) s->nlru);
            if ((char *) o < s->blocks
                || (char *) o >= s->blocks + (size_t) s->nunits
                                             * SL_CACHE_UNIT
                || o->magic != SL_CACHE_OBJ_MAGIC
                || o->state != SL_CACHE_OBJ_LINKED)
            {
                sl_cache_fail("bucket %u: bad object %p", b, (void *) o);
            }
            if ((o->hash & (s->nbuckets - 1)) != b)
                sl_cache_fail("object %p in bucket %u, hash says %llu",
                              (void *) o, b, (unsigned long long)
                              (o->hash & (s->nbuckets - 1)));
            /*
             * Linked objects were all walked in the LRU, which marked
             * their units; the mark of the first is cleared here, so an
             * object indexed twice shows too.
             */
            u = o->first;
            if (!(map[u / 8] & (1u << (u % 8))))
                sl_cache_fail("object %p indexed twice or not in the LRU",
                              (void *) o);
            map[u / 8] &= (uint8_t) ~(1u << (u % 8));
        }
    }
    /*
     * A process killed between the two halves of a commit leaves a linked
     * object out of the index (harmless: it is evicted in time); short of
     * that, the index and the LRU hold the same objects.
     */
    if (nindex != s->nlru
        && (nindex > s->nlru
            || __atomic_load_n(&s->owner_dead, __ATOMIC_RELAXED) == 0))
    {
        sl_cache_fail("index holds %llu objects, LRU %llu",
                      (unsigned long long) nindex,
                      (unsigned long long) s->nlru);
    }
    rc = SL_OK;
    if (size)
        err[0] = '\0';

failed:
    free(map);
    free(pfree);
    sl_cache_unlock(&s->alloc);
    for (i = SL_CACHE_NSTRIPES; i-- > 0; /* void */)
        sl_cache_unlock(&s->stripes[i]);
    return rc;
}

/* ---- test hooks ------------------------------------------------------------ */

void
sl_cache_store_test_lock(struct sl_cache_store *s, const char *key,
    size_t klen)
{
    sl_cache_lock(s, key ? sl_cache_stripe(s, sl_cache_hash(s, key, klen))
                         : &s->alloc);
}

void
sl_cache_store_test_unlock(struct sl_cache_store *s, const char *key,
    size_t klen)
{
    sl_cache_unlock(key ? sl_cache_stripe(s, sl_cache_hash(s, key, klen))
                        : &s->alloc);
}

uint64_t
sl_cache_store_test_recovered(struct sl_cache_store *s)
{
    return __atomic_load_n(&s->owner_dead, __ATOMIC_RELAXED);
}

void
sl_cache_store_test_damage(struct sl_cache_store *s)
{
    sl_cache_lock(s, &s->alloc);
    /* What a holder killed in the middle of relinking might leave. */
    s->lru_newest = s->lru_oldest;
    s->nlru += 5;
    s->limbo = NULL;
    s->page_free = 0;
    s->cls_free[SL_CACHE_CLS_1K] = 0;
    s->free_units = 7;
}
