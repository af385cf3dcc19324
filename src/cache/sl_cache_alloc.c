/*
 * sl_cache_alloc.c: the block allocator of the cache store: free lists of
 * pages and blocks, freeing an object's blocks, LRU eviction when no
 * block is left, and the rebuild of the free lists, the LRU and the limbo
 * list from the blocks after a process died holding the allocator lock.
 * Apart from sl_cache_owner_dead(), everything here runs with that lock
 * (alloc) held.  The layout and the locks of a store are described in
 * sl_cache_store_int.h.
 *
 * The allocator: memory is cut into 16 KiB pages.  A page is either free,
 * a 16 KiB block, or cut into 4 KiB or 1 KiB blocks (a slab).  A page goes
 * back to the free-page list as soon as all its small blocks are free, so
 * no memory is stranded in a class for longer than its objects live and
 * LRU churn cannot fragment the store for good.  Every allocation and
 * every free of a block is O(1).
 */
#include "sl_core.h"
#include "sl_cache_store_int.h"

/* ---- the allocator (alloc held) ------------------------------------------ */

static void
sl_cache_cls_push(struct sl_cache_store *s, int cls, uint32_t u)
{
    uint32_t head = s->cls_free[cls];

    s->next[u] = head;
    s->prev[u] = 0;
    if (head)
        s->prev[head - 1] = u + 1;
    s->cls_free[cls] = u + 1;
}

static void
sl_cache_cls_remove(struct sl_cache_store *s, int cls, uint32_t u)
{
    uint32_t n = s->next[u], p = s->prev[u];

    if (p)
        s->next[p - 1] = n;
    else
        s->cls_free[cls] = n;
    if (n)
        s->prev[n - 1] = p;
    s->next[u] = s->prev[u] = 0;
}

/* A block of class cls, or UINT32_MAX when there is no room. */
static uint32_t
sl_cache_block_alloc(struct sl_cache_store *s, int cls)
{
    uint32_t u, page, per, step, i;

    if (cls != SL_CACHE_CLS_16K && s->cls_free[cls]) {
        u = s->cls_free[cls] - 1;
        sl_cache_cls_remove(s, cls, u);
        s->pfree[u / SL_CACHE_PAGE_UNITS]--;
        s->free_units -= sl_cache_cls_units[cls];
        return u;
    }
    if (s->page_free == 0)
        return UINT32_MAX;
    u = s->page_free - 1;
    s->page_free = s->next[u];
    s->next[u] = 0;
    page = u / SL_CACHE_PAGE_UNITS;
    s->pcls[page] = (uint8_t) cls;
    s->free_units -= SL_CACHE_PAGE_UNITS;
    if (cls == SL_CACHE_CLS_16K) {
        s->pfree[page] = 0;
        return u;
    }
    /* Cut the page: hand out its first block, the rest go free. */
    step = sl_cache_cls_units[cls];
    per = SL_CACHE_PAGE_UNITS / step;
    for (i = per - 1; i >= 1; i--)
        sl_cache_cls_push(s, cls, u + i * step);
    s->pfree[page] = (uint8_t) (per - 1);
    s->free_units += (per - 1) * step;
    return u;
}

static void
sl_cache_page_push(struct sl_cache_store *s, uint32_t u)
{
    s->pcls[u / SL_CACHE_PAGE_UNITS] = SL_CACHE_CLS_FREE;
    s->next[u] = s->page_free;
    s->page_free = u + 1;
}

static void
sl_cache_block_free(struct sl_cache_store *s, uint32_t u)
{
    uint32_t page = u / SL_CACHE_PAGE_UNITS, first, step, per, i;
    int cls = s->pcls[page];

    SL_ASSERT(cls != SL_CACHE_CLS_FREE);
    if (cls == SL_CACHE_CLS_16K) {
        s->free_units += SL_CACHE_PAGE_UNITS;
        sl_cache_page_push(s, u);
        return;
    }
    step = sl_cache_cls_units[cls];
    per = SL_CACHE_PAGE_UNITS / step;
    s->free_units += step;
    if (s->pfree[page] + 1u < per) {
        sl_cache_cls_push(s, cls, u);
        s->pfree[page]++;
        return;
    }
    /* The whole page is free again: back to the page list. */
    first = page * SL_CACHE_PAGE_UNITS;
    for (i = 0; i < per; i++) {
        if (first + i * step != u)
            sl_cache_cls_remove(s, cls, first + i * step);
    }
    s->pfree[page] = 0;
    sl_cache_page_push(s, first);
}

/*
 * Frees the blocks of o (in no list any more); alloc held.  Pages in the
 * spliced tail keep a stale class byte: a page's class is only read while
 * it holds a block, and set again when it is taken off the free list.
 */
void
sl_cache_obj_free_blocks(struct sl_cache_store *s, struct sl_cache_obj *o)
{
    uint32_t u, n, stop, last, nbig;

    SL_CHECK_OBJ(o, SL_CACHE_OBJ_MAGIC);
    stop = o->big;
    last = o->last;
    nbig = o->nbig;
    o->magic = SL_CACHE_OBJ_FREED;
    /* The small blocks one by one (at most about twenty)... */
    for (u = o->first + 1; u != 0 && u != stop; u = n) {
        n = s->next[u - 1];
        sl_cache_block_free(s, u - 1);
    }
    /* ...and the 16 KiB tail spliced onto the free pages at once. */
    if (stop) {
        s->next[last] = s->page_free;
        s->page_free = stop;
        s->free_units += nbig * SL_CACHE_PAGE_UNITS;
    }
}

/* ---- LRU eviction (alloc held) ------------------------------------------- */

/*
 * Evicts one unreferenced object from the old end of the LRU; alloc is
 * held, stripes are only tried.  Returns SL_OK if one went, SL_DECLINED if
 * none of the oldest SL_CACHE_EVICT_SCAN could go.  With inactive_before
 * >= 0 only objects not looked up since then go (sl_cache_expire), and
 * the scan stops at the first one more recent.
 */
int
sl_cache_evict_one(struct sl_cache_store *s, int64_t inactive_before)
{
    struct sl_cache_obj *o, *newer, **pp;
    struct sl_cache_lock *l;
    unsigned scanned;

    for (o = s->lru_oldest, scanned = 0;
         o != NULL && scanned < SL_CACHE_EVICT_SCAN;
         o = newer, scanned++)
    {
        newer = o->prev;
        if (inactive_before >= 0
            && __atomic_load_n(&o->atime, __ATOMIC_RELAXED)
               >= inactive_before)
        {
            return SL_DECLINED;
        }
        if (__atomic_load_n(&o->refs, __ATOMIC_RELAXED) != 1) {
            /*
             * Being sent, so in use: to the new end, out of the way of
             * the next evictions (not for expiry, which goes by age).
             */
            if (inactive_before < 0 && s->lru_newest != o) {
                sl_cache_lru_remove(s, o);
                sl_cache_lru_push(s, o);
            }
            continue;
        }
        l = sl_cache_stripe(s, o->hash);
        if (sl_cache_trylock(s, l) != SL_OK)
            continue;
        /*
         * Under the stripe nobody can take a new reference, and with
         * refs == 1 nobody holds one to drop: the count is stable.  The
         * object leaves the index before its count goes to zero, so that
         * a process killed in between never leaves an index entry
         * without its reference.
         */
        if (__atomic_load_n(&o->refs, __ATOMIC_ACQUIRE) != 1) {
            sl_cache_unlock(l);
            continue;
        }
        pp = sl_cache_find_pp(s, o);
        if (pp != NULL)
            *pp = o->hnext;
        o->hnext = NULL;
        __atomic_store_n(&o->refs, 0, __ATOMIC_RELEASE);
        sl_cache_lru_remove(s, o);
        o->state = SL_CACHE_OBJ_UNLINKED;
        sl_cache_obj_free_blocks(s, o);
        sl_cache_unlock(l);
        sl_cache_count(s, inactive_before >= 0 ? SL_CACHE_STAT_INACTIVE
                                               : SL_CACHE_STAT_EVICTED, 1);
        return SL_OK;
    }
    return SL_DECLINED;
}

/*
 * A block of class cls, or, with no free page to cut one from, of any
 * class from min up that has a free block (a body can go in blocks of any
 * size; better a smaller block than an eviction); evicts as long as
 * nothing fits.  UINT32_MAX if there is no room.  alloc is held.
 */
uint32_t
sl_cache_alloc_locked(struct sl_cache_store *s, int cls, int min)
{
    uint32_t u;
    int c;

    for (;;) {
        u = sl_cache_block_alloc(s, cls);
        if (u != UINT32_MAX)
            return u;
        for (c = SL_CACHE_CLS_4K; c >= min; c--) {
            if (s->cls_free[c])
                return sl_cache_block_alloc(s, c);
        }
        if (sl_cache_evict_one(s, -1) != SL_OK)
            return UINT32_MAX;
    }
}

/* ---- rebuilding the allocator (alloc held) ------------------------------ */

/*
 * Walks o's chain: 1 if it is sound (every block in range, in use by the
 * page table, not claimed by another object, ending at o->last with
 * o->nunits units); marks its units in map when mark is set.
 */
static int
sl_cache_rebuild_chain(struct sl_cache_store *s, struct sl_cache_obj *o,
    uint8_t *map, int mark)
{
    uint32_t u, n, units = 0, cls, i;

    for (u = o->first, n = 0; ; u = s->next[u] - 1, n++) {
        if (u >= s->nunits || n > o->nunits)
            return 0;
        cls = sl_cache_unit_cls(s, u);
        if (cls == SL_CACHE_CLS_FREE || u % sl_cache_cls_units[cls] != 0)
            return 0;
        for (i = u; i < u + sl_cache_cls_units[cls]; i++) {
            if (map[i / 8] & (1u << (i % 8)))
                return 0;
            if (mark)
                map[i / 8] |= (uint8_t) (1u << (i % 8));
        }
        units += sl_cache_cls_units[cls];
        if (s->next[u] == 0 || u == o->last)
            break;
    }
    return s->next[u] == 0 && u == o->last && units == o->nunits;
}

/*
 * Rebuilds the free lists, the LRU and the limbo list from the blocks
 * themselves, after a process died holding the allocator lock.  Every
 * object's header and chain only change under that lock and in an order
 * that keeps them readable: the objects found in the blocks (magic, store
 * and first block agreeing) are the truth.  Objects of no use to anyone
 * are freed: no reference left, or being written by a process that is
 * gone.  A linked object whose chain is broken cannot be taken out of
 * the index here (the stripes are not held): the store is then disabled
 * (lookups miss, nothing is stored) until the next reload makes a new one.
 * The LRU order is lost; bucket chains are untouched.
 */
static void
sl_cache_rebuild(struct sl_cache_store *s)
{
    struct sl_cache_obj *o;
    uint32_t page, u, step, per, i, cls, kept = 0, dropped = 0;
    uint8_t *map, used;

    map = calloc(s->nunits / 8 + 1, 1);
    if (map == NULL) {
        sl_log_error(SL_LOG_ALERT, errno, "calloc() failed while rebuilding "
                     "a cache store: the store is disabled");
        __atomic_store_n(&s->disabled, 1, __ATOMIC_RELAXED);
        return;
    }
    s->lru_newest = s->lru_oldest = s->limbo = NULL;
    s->nlru = s->nlimbo = 0;

    for (page = 0; page < s->npages; page++) {
        cls = s->pcls[page];
        if (cls == SL_CACHE_CLS_FREE || cls >= SL_CACHE_CLS_N)
            continue;
        step = sl_cache_cls_units[cls];
        for (u = page * SL_CACHE_PAGE_UNITS;
             u < (page + 1) * SL_CACHE_PAGE_UNITS; u += step)
        {
            o = (struct sl_cache_obj *) sl_cache_unit_ptr(s, u);
            /* (A store made again in place has a new epoch.) */
            if (o->magic != SL_CACHE_OBJ_MAGIC || o->store != s
                || o->epoch != s->seed || o->first != u
                || o->state < SL_CACHE_OBJ_NEW
                || o->state > SL_CACHE_OBJ_UNLINKED)
            {
                continue;
            }
            if (!sl_cache_rebuild_chain(s, o, map, 0)) {
                if (o->state == SL_CACHE_OBJ_LINKED) {
                    sl_log_error(SL_LOG_ALERT, 0, "a cache store is "
                                 "damaged beyond repair: it is disabled "
                                 "until a reload");
                    __atomic_store_n(&s->disabled, 1, __ATOMIC_RELAXED);
                }
                o->magic = SL_CACHE_OBJ_FREED;
                dropped++;
                continue;
            }
            /*
             * No reference left (an object leaves the index before its
             * count drops to 0, so it is in no bucket), or a writer gone.
             */
            if (__atomic_load_n(&o->refs, __ATOMIC_ACQUIRE) == 0
                || (o->state == SL_CACHE_OBJ_NEW && sl_cache_pid_dead(o->pid)))
            {
                o->magic = SL_CACHE_OBJ_FREED;
                dropped++;
                continue;
            }
            (void) sl_cache_rebuild_chain(s, o, map, 1);
            if (o->state == SL_CACHE_OBJ_LINKED) {
                sl_cache_lru_push(s, o);
            } else {
                sl_cache_limbo_push(s, o);
            }
            kept++;
        }
    }

    /* Everything not marked is free. */
    s->page_free = 0;
    s->free_units = 0;
    memset(s->cls_free, 0, sizeof(s->cls_free));
    for (page = s->npages; page-- > 0; /* void */) {
        u = page * SL_CACHE_PAGE_UNITS;
        used = map[u / 8] | map[u / 8 + 1];     /* 16 units: two bytes */
        s->pfree[page] = 0;
        if (used == 0) {
            sl_cache_page_push(s, u);
            s->free_units += SL_CACHE_PAGE_UNITS;
            continue;
        }
        cls = s->pcls[page];
        if (cls == SL_CACHE_CLS_16K)
            continue;
        step = sl_cache_cls_units[cls];
        per = SL_CACHE_PAGE_UNITS / step;
        for (i = 0; i < per; i++) {
            if (!(map[(u + i * step) / 8] & (1u << ((u + i * step) % 8)))) {
                sl_cache_cls_push(s, (int) cls, u + i * step);
                s->pfree[page]++;
                s->free_units += step;
            }
        }
    }
    free(map);
    sl_log_error(SL_LOG_WARN, 0, "cache store rebuilt: %u objects kept, %u "
                 "dropped", kept, dropped);
}

/*
 * A process died holding l: the lock is made usable again.  Whatever a
 * stripe or the claim table guards is changed by single stores, so a
 * dead holder leaves it whole.  The allocator's lists are doubly linked
 * and may be left half relinked: they are rebuilt from the blocks.
 */
void
sl_cache_owner_dead(struct sl_cache_store *s, struct sl_cache_lock *l)
{
    __atomic_add_fetch(&s->owner_dead, 1, __ATOMIC_RELAXED);
    sl_log_error(SL_LOG_WARN, 0, "a process died holding a lock of a cache "
                 "store (%s): lock recovered",
                 l == &s->alloc ? "allocator"
                 : l == &s->claim_lock ? "claims" : "index");
    pthread_mutex_consistent(&l->mutex);
    if (l == &s->alloc)
        sl_cache_rebuild(s);
}
