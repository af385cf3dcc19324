/*
 * sl_health.h: the shared health table and active health checks.
 *
 * One record per (upstream, server address) lives in a shared-memory zone
 * that the master maps before it forks, so every worker, the checker and
 * the master see the same numbers.  Writers:
 *   - workers: conns, requests, failures, the passive failure window;
 *   - the checker: state (up/down), check results and latency;
 *   - the master (sluicectl): admin state and runtime weight.
 * Every field is an atomic; readers take no lock on the request path.  A
 * record is keyed by upstream name and address, and the zone keeps its
 * name and size across reloads, so state survives a reload.
 */
#ifndef SL_HEALTH_H
#define SL_HEALTH_H

#include <stdatomic.h>

#include "sl_conf.h"
#include "sl_http.h"
#include "sl_upstream.h"
#include "sl_tls_client.h"

#define SL_HEALTH_MAX_PEERS     4096
#define SL_HEALTH_NAME_LEN      64

enum sl_health_admin {
    SL_HEALTH_READY = 0,
    SL_HEALTH_DRAIN,        /* no new requests; existing ones finish */
    SL_HEALTH_MAINT         /* out of service */
};

enum sl_health_state {
    SL_HEALTH_UNCHECKED = 0,    /* no health_check: passive failures only */
    SL_HEALTH_UP,
    SL_HEALTH_DOWN
};

struct sl_health_peer {
    uint32_t                magic;
#define SL_HEALTH_PEER_MAGIC 0x48504545U
    uint32_t                used;           /* 1 in use, 2 retired */
    char                    upstream[SL_HEALTH_NAME_LEN];
    char                    addr[SL_HEALTH_NAME_LEN];   /* "1.2.3.4:80" */
    char                    name[SL_HEALTH_NAME_LEN];   /* as configured */
    uint32_t                generation;     /* last config that used it */

    _Atomic uint32_t        admin;          /* enum sl_health_admin */
    _Atomic uint32_t        state;          /* enum sl_health_state */
    _Atomic int32_t         weight;         /* runtime weight, 0: config */
    _Atomic int32_t         conns;          /* active, all workers */
    _Atomic uint64_t        requests;
    _Atomic uint64_t        failures;       /* passive, since start */
    _Atomic int32_t         fails;          /* in the current window */
    _Atomic int64_t         fail_start;     /* monotonic ms */
    _Atomic int64_t         fail_last;      /* monotonic ms */
    _Atomic int64_t         since;          /* wall ms of last transition */
    _Atomic int64_t         recovered;      /* wall ms: usable again */
    _Atomic int64_t         last_check;     /* wall ms */
    _Atomic int32_t         last_result;    /* HTTP status, 0 ok tcp, -errno */
    _Atomic uint32_t        latency_us;     /* of the last check */
    _Atomic uint32_t        ewma_us;        /* smoothed latency */
    _Atomic uint32_t        rise_n;         /* consecutive successes */
    _Atomic uint32_t        fall_n;         /* consecutive failures */
    _Atomic uint64_t        checks;
    _Atomic uint64_t        check_failures;
};

struct sl_health_table {
    uint32_t                magic;
#define SL_HEALTH_TABLE_MAGIC 0x48544142U
    uint32_t                npeers;         /* capacity */
    /* Bumped by the checker when a `resolve` name's addresses change. */
    _Atomic uint64_t        resolve_seq;
    struct sl_health_peer   peers[];
};

/* health_check parameters of one upstream. */
struct sl_health_conf {
    unsigned                type_http:1;
    struct sl_str           uri;            /* "/" */
    struct sl_str           host;           /* Host header, or the addr */
    int                     port;           /* 0: the server's */
    sl_msec_t               interval;       /* 5s */
    sl_msec_t               timeout;        /* 2s */
    int                     rise;           /* 2 */
    int                     fall;           /* 3 */
    int                     status_min;     /* 200 */
    int                     status_max;     /* 399 */
    pcre2_code             *body;           /* body=REGEX, or NULL */
    /*
     * tls, tls=on|off: -1 (not given) means TLS when the group is used
     * with proxy_pass https://.  The context (tls_verify=on,
     * tls_trusted_certificate=FILE, tls_name=NAME) is built at load time
     * unless tls=off.
     */
    int                     tls;
    struct sl_tls_client_conf *tls_conf;
};

extern struct sl_module sl_health_module;

/* The table of the current cycle (master, workers and checker). */
struct sl_health_table *sl_health_current(void);
/* The record of upstream/server, "name" or "addr"; NULL when unknown. */
struct sl_health_peer *sl_health_find(struct sl_health_table *t,
    const char *upstream, const char *server);

const char *sl_health_admin_name(unsigned admin);
const char *sl_health_state_name(unsigned state);

/* The checker's loop body: starts due checks (sl_health_check.c). */
int sl_health_checker_init(struct sl_cycle *cycle);
/*
 * The checker's resolver (sl_health_resolve.c): a thread that looks up
 * every `server NAME resolve` each resolve_interval and bumps
 * resolve_seq in the table when the addresses differ from the configured
 * ones; the master then reloads, which resolves them afresh.
 */
int sl_health_resolver_start(struct sl_cycle *cycle);
/* Master: whether any server has `resolve` (it then polls resolve_seq). */
int sl_health_resolve_wanted(struct sl_cycle *cycle);

#endif /* SL_HEALTH_H */
