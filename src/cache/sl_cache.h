/*
 * sl_cache.h: the HTTP cache.
 *
 *   cache_zone NAME size=SIZE [max_object=SIZE] [inactive=TIME];   http
 *       (sl_cache_zone.c: the zones, their stores, expiry; used by the
 *       request path in workers and by the control server in the master)
 *   proxy_cache NAME | off; proxy_cache_key ...; proxy_cache_valid ...;
 *   proxy_cache_use_stale ...; proxy_cache_lock ...; ...     location
 *       (sl_cache.c: lookup, hits from shared memory, storing while
 *       streaming, collapsing, revalidation, stale serving, PURGE)
 */
#ifndef SL_CACHE_H
#define SL_CACHE_H

#include "sl_http.h"
#include "sl_cache_store.h"

/* One cache_zone (the shm zone's ctx); lives in the cycle's pool. */
struct sl_cache_zone {
    unsigned                magic;
#define SL_CACHE_ZONE_MAGIC 0x435a4f4eU
    struct sl_str           name;
    size_t                  size;
    size_t                  max_object;     /* default: size / 8 */
    int64_t                 inactive_ms;    /* default: 10 minutes */
    struct sl_shm_zone     *shm;
    struct sl_cache_store  *store;          /* set by the zone's init */
    const char             *file;           /* where it was declared */
    unsigned                line;
};

/*
 * The cache_zone named name in the configuration being read (for
 * proxy_cache NAME); NULL if none (the caller reports file:line).
 * Zones may be declared after their use: callers resolve names in a
 * merge or init step, after the whole http block is read.
 */
struct sl_cache_zone *sl_cache_zone_find(struct sl_conf_ctx *cf,
    const struct sl_str *name);
/* The i-th cache zone of cycle (i from 0), NULL past the last. */
struct sl_cache_zone *sl_cache_zone_get(struct sl_cycle *cycle, size_t i);
/* By name in a running cycle (the control server); NULL if none. */
struct sl_cache_zone *sl_cache_zone_by_name(struct sl_cycle *cycle,
    const char *name, size_t len);

extern struct sl_module sl_cache_zone_module;
extern struct sl_module sl_http_cache_module;

#endif /* SL_CACHE_H */
