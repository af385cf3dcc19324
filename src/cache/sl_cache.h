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

/*
 * The request path (sl_cache.c), called by the proxy (sl_http_proxy.c)
 * for locations with proxy_cache, and for PURGE anywhere it proxies.
 *
 * sl_http_cache_request(): first thing in the proxy's content handler.
 *   SL_DECLINED: go to the origin now; SL_OK: the cache answered, or
 *   will (after waiting for another fetch of the key it calls
 *   sl_http_proxy_forward() itself); SL_ERROR: answer 500.
 * sl_http_cache_skip_header(), _head_len(), _head_add(): the request
 *   head sent upstream (our validators replace the client's; no Range
 *   when the answer will be stored).
 * sl_http_cache_hide_header(): response fields not passed to the client.
 * sl_http_cache_response(): the origin's response head.  SL_DECLINED:
 *   relay it as usual (it may be being stored); SL_DONE: the cache
 *   answers instead (a 304 freshened the stored object, or a stale object
 *   stands in for an error) -- the proxy lets go of the upstream
 *   response and calls sl_http_cache_answer().
 * sl_http_cache_relay_head(): the head of a response about to be relayed
 *   (a client's range is cut from a whole response being stored).
 * sl_http_cache_body(): each span of payload relayed to the client; the
 *   span may be narrowed to the client's range.
 * sl_http_cache_body_end(): the body was complete; commit.  (Anything
 *   that ends a request earlier drops the object in a pool cleanup.)
 * sl_http_cache_error(): the origin failed (status 502, 503 or 504;
 *   timeout nonzero for a timeout): SL_OK if a stale object was sent
 *   instead, SL_DECLINED to send the error.
 */
int sl_http_cache_request(struct sl_http_request *r);
int sl_http_cache_skip_header(struct sl_http_request *r,
    const struct sl_str *name);
size_t sl_http_cache_head_len(struct sl_http_request *r);
char *sl_http_cache_head_add(struct sl_http_request *r, char *p, char *last);
int sl_http_cache_hide_header(struct sl_http_request *r,
    const struct sl_str *name);
int sl_http_cache_response(struct sl_http_request *r,
    struct sl_http_head *rh);
void sl_http_cache_answer(struct sl_http_request *r);
void sl_http_cache_relay_head(struct sl_http_request *r,
    struct sl_http_head *rh, int64_t *announce);
void sl_http_cache_body(struct sl_http_request *r, const char **data,
    size_t *len);
void sl_http_cache_body_end(struct sl_http_request *r);
/*
 * Whether r, a HEAD, goes upstream as GET so that its answer is stored
 * (proxy_cache_convert_head): the body is read and stored, not sent.
 */
int sl_http_cache_convert_head(struct sl_http_request *r);
/* Whether r's response is still being stored (its client may go away). */
int sl_http_cache_storing(struct sl_http_request *r);
int sl_http_cache_error(struct sl_http_request *r, int status, int timeout);

extern struct sl_module sl_cache_zone_module;
extern struct sl_module sl_http_cache_module;

#endif /* SL_CACHE_H */
