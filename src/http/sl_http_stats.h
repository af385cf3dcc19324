/*
 * sl_http_stats.h: traffic statistics in shared memory, the Prometheus
 * `metrics;` handler and the `status_page;` handler.
 *
 * Counters live in a zone of fixed name and size, so they survive reloads
 * and never go backwards.  Workers add to them with atomics when a request
 * ends; the master adds reloads and restarts; readers sum without locks.
 */
#ifndef SL_HTTP_STATS_H
#define SL_HTTP_STATS_H

#include <stdatomic.h>

#include "sl_http.h"

#define SL_STATS_MAX_SERVERS    128
#define SL_STATS_MAX_SLOTS      256
#define SL_STATS_NAME_LEN       64
#define SL_STATS_NMETHODS       6       /* GET HEAD POST PUT DELETE other */
#define SL_STATS_NBUCKETS       12

struct sl_stats_server {
    char                    name[SL_STATS_NAME_LEN];
    uint32_t                used;
    /* [method][status class 1xx..5xx] */
    _Atomic uint64_t        requests[SL_STATS_NMETHODS][5];
    _Atomic uint64_t        bytes_in;
    _Atomic uint64_t        bytes_out;
};

struct sl_stats_slot {
    _Atomic int64_t         active;         /* connections, this worker */
    _Atomic int32_t         pid;
};

struct sl_stats {
    uint32_t                magic;
#define SL_STATS_MAGIC      0x53544154U
    _Atomic int64_t         started;        /* wall ms of the first start */
    _Atomic uint64_t        reloads;
    _Atomic uint64_t        reload_failures;
    _Atomic uint64_t        restarts;       /* children re-forked */
    _Atomic uint64_t        limited[2][2];  /* [req, conn][refused, dry run] */
    _Atomic uint64_t        duration[SL_STATS_NBUCKETS + 1];  /* +Inf */
    _Atomic uint64_t        duration_sum_us;
    _Atomic uint64_t        duration_count;
    struct sl_stats_slot    slots[SL_STATS_MAX_SLOTS];
    struct sl_stats_server  servers[SL_STATS_MAX_SERVERS];
};

extern struct sl_module sl_http_stats_module;

/* The zone of the current cycle, or NULL before it is mapped. */
struct sl_stats *sl_stats_current(void);
/* Counts a finished request (called once per request, when it is logged). */
void sl_stats_request(struct sl_http_request *r);
/* Counts for the master. */
void sl_stats_reload(int ok);
void sl_stats_restart(void);
/* A limit_req (which 0) or limit_conn (1) refusal, or its dry run. */
void sl_stats_limit(int which, int dry_run);
/* A worker publishes its active connection count. */
void sl_stats_worker_tick(int slot, int active);

#endif /* SL_HTTP_STATS_H */
