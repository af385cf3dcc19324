/*
 * sl_upstream.h: upstream groups, the balancer interface and the keepalive
 * pool of upstream connections.
 *
 * A group is declared by `upstream NAME { ... }` or made implicitly by
 * `proxy_pass http://ADDR:PORT`.  Servers are resolved when the
 * configuration is loaded (a host name may give several addresses: each
 * becomes a server with the same parameters).  The balancer behind the
 * group is one small interface (struct sl_balancer): round robin
 * (sl_upstream_rr.c, the default), least_conn, ip_hash, hash and random,
 * one file each.
 *
 * A server's run-time state (active connections, passive failures, later
 * admin and health state and the runtime weight) is read and written only
 * through the sl_upstream_server_*() functions of sl_upstream_server.c:
 * the balancers never touch those fields, so that moving them into the
 * shared health table changes that one file.  The smooth round robin's
 * current and effective weights stay per worker.
 */
#ifndef SL_UPSTREAM_H
#define SL_UPSTREAM_H

#include "sl_conf.h"
#include "sl_conn.h"

struct sl_http_request;
struct sl_health_peer;
struct sl_health_conf;

struct sl_upstream_server {
    unsigned                 magic;
#define SL_UPSTREAM_SERVER_MAGIC 0x55535256U
    struct sl_str            name;        /* as written: "app1:8080" */
    union sl_sockaddr        sa;
    socklen_t                socklen;
    char                     addr_text[SL_SOCKADDR_STRLEN]; /* "1.2.3.4:80" */
    int                      weight;      /* default 1 */
    int                      max_fails;   /* default 1; 0 = never mark */
    sl_msec_t                fail_timeout;/* default 10s */
    int                      max_conns;   /* 0 = unlimited */
    sl_msec_t                slow_start;  /* weight ramp after recovery */
    unsigned                 backup:1;
    unsigned                 down:1;      /* `down`: never used */
    unsigned                 resolve:1;   /* name re-resolved at run time */

    /* run time, per worker: the smooth weighted round robin's own */
    int                      current_weight;
    int                      effective_weight;
    /* run time, only through sl_upstream_server_*() (sl_upstream_server.c) */
    int                      fails;       /* in the current window */
    sl_msec_t                fail_start;  /* window start / down since */
    sl_msec_t                fail_last;   /* last failure, 0: never */
    int                      conns;       /* active connections */
    uint64_t                 requests;
    struct sl_health_peer   *peer;        /* shared record (sl_health.h) */
};

/* Bitmap of servers tried by one request (retries skip them). */
#define SL_UPSTREAM_MAX_SERVERS  1024
struct sl_upstream_tried {
    uint64_t                 bits[SL_UPSTREAM_MAX_SERVERS / 64];
    unsigned                 count;
    /*
     * The balancer's state for this request, so that a retry goes on
     * where the previous pick stopped (the hash methods walk a fixed
     * sequence of servers per key).  All zero for a new request, as is
     * the whole structure: the caller zeroes it once per request.
     */
    uint32_t                 hash;        /* ip_hash, hash: sequence state */
    unsigned                 rehash;      /* hash: rounds so far */
    unsigned                 tries;       /* picks missed so far */
    unsigned                 started:1;   /* hash, ip_hash: hash is set */
};

/* i is the server's index in u->servers (primaries and backups alike). */
#define sl_upstream_tried_test(t, i)                                          \
    (((t)->bits[(i) / 64] >> ((i) % 64)) & 1)
#define sl_upstream_tried_set(t, i)                                           \
    do { if (!sl_upstream_tried_test(t, i)) {                                 \
             (t)->bits[(i) / 64] |= (uint64_t) 1 << ((i) % 64);               \
             (t)->count++; } } while (0)

struct sl_upstream;

/*
 * A balancing algorithm.  conf, if not NULL, takes the arguments of the
 * directive that chose it (cf->node; the directive's name is the
 * balancer's) and may keep its settings in u->balancer_data.  init runs
 * at configuration time after all servers are known; it starts with
 * sl_upstream_servers_init().  get picks a server for r (r may be NULL:
 * no request data) that is usable (sl_upstream_server_usable()) and not
 * yet tried, marks it tried and acquires it; primaries first, backups
 * only when no primary is usable.  It returns NULL when none is usable
 * (the proxy answers 502, or 503 when *all_full says that the reason is
 * max_conns; all_full and tried may be NULL).  done reports the outcome
 * of a request sent to s (failed: connect error, timeout, bad response)
 * and releases it; every balancer uses sl_upstream_server_release().
 */
struct sl_balancer {
    const char              *name;
    int   (*init)(struct sl_conf_ctx *cf, struct sl_upstream *u);
    struct sl_upstream_server *(*get)(struct sl_upstream *u,
        struct sl_http_request *r, struct sl_upstream_tried *tried,
        int *all_full);
    void  (*done)(struct sl_upstream *u, struct sl_upstream_server *s,
        int failed);
    int   (*conf)(struct sl_conf_ctx *cf, struct sl_upstream *u);
    unsigned                 flags;
#define SL_BALANCER_BACKUP   0x01         /* `backup` servers allowed */
};

/* An idle keepalive connection to an upstream server. */
struct sl_upstream_idle {
    struct sl_conn          *c;
    struct sl_upstream_server *server;
    struct sl_upstream_idle *next;
    struct sl_upstream_idle *prev;
    struct sl_upstream      *upstream;    /* the pool it sits in */
    const void              *tag;         /* TLS context, NULL: plain */
};

struct sl_upstream {
    unsigned                 magic;
#define SL_UPSTREAM_MAGIC    0x55505354U
    struct sl_str            name;
    struct sl_array          servers;     /* struct sl_upstream_server */
    unsigned                 nprimary;    /* primaries come first */
    int                      keepalive;   /* idle conns kept per worker */
    sl_msec_t                keepalive_timeout;   /* default 60s */
    int64_t                  keepalive_requests;  /* default 1000 */
    const struct sl_balancer *balancer;
    void                    *balancer_data;
    const char              *file;        /* upstream{} if defined, */
    unsigned                 line;        /* else the first reference */
    unsigned                 implicit:1;  /* from proxy_pass ADDR:PORT */
    unsigned                 defined:1;   /* upstream{} seen */
    /* proxy_pass https://NAME (checks default to TLS), http://NAME */
    unsigned                 tls:1;
    unsigned                 plain:1;
    unsigned                 tls_noport:1;/* https:// without a port: 443 */
    struct sl_health_conf   *health;      /* health_check, or NULL */
    sl_msec_t                resolve_interval;  /* 0: 30 s */

    /* run time, per worker: the keepalive pool */
    struct sl_upstream_idle *idle;        /* most recently used first */
    unsigned                 nidle;
    struct sl_upstream_idle *free_idle;
};

/*
 * The module's configuration (one per cycle, made with the http block):
 * every group, defined or referenced.  Reachable at run time as
 * sl_cycle->main_conf[sl_upstream_module.index] (NULL without http{}).
 */
struct sl_upstream_main_conf {
    unsigned                 magic;
#define SL_UPSTREAM_MAIN_MAGIC 0x55504d43U
    struct sl_array          upstreams;   /* struct sl_upstream * */
    struct sl_array          saved;       /* sl_upstream_saved: admin, weight */
};

/*
 * Run-time server state kept in STATE_DIR/upstreams.state (sluicectl server
 * add/remove, drain/maint, weight), so that it survives reloads and
 * restarts.  The master writes the file atomically after every change and
 * every configuration load applies it.
 */
enum sl_upstream_saved_kind {
    SL_UPSTREAM_SAVED_ADD = 0,
    SL_UPSTREAM_SAVED_REMOVE,
    SL_UPSTREAM_SAVED_ADMIN,
    SL_UPSTREAM_SAVED_WEIGHT
};

struct sl_upstream_saved {
    enum sl_upstream_saved_kind kind;
    char                     upstream[64];
    char                     addr[64];
    int                      value;       /* weight, or admin state */
};

/* Reads the state file and adds/removes servers; keeps admin/weight. */
int sl_upstream_state_apply(struct sl_conf_ctx *cf,
    struct sl_upstream_main_conf *umcf);
/* Master: the runtime add/remove list, and writing the file. */
int sl_upstream_state_change(enum sl_upstream_saved_kind kind,
    const char *upstream, const char *addr, int value);
void sl_upstream_state_forget(enum sl_upstream_saved_kind kind,
    const char *upstream, const char *addr);
int sl_upstream_state_save(void);
/* A saved admin state / weight for a record made anew (health table). */
const struct sl_upstream_saved *sl_upstream_state_find(
    struct sl_upstream_main_conf *umcf, enum sl_upstream_saved_kind kind,
    const char *upstream, const char *addr);

/* The group named name (case-insensitive), or NULL. */
struct sl_upstream *sl_upstream_group(struct sl_upstream_main_conf *umcf,
    const char *name);
/* Index of the server with that address or configured name, or -1. */
int sl_upstream_server_index(struct sl_upstream *u, const char *addr);

void sl_upstream_server_defaults(struct sl_upstream_server *tmpl,
    const struct sl_str *name);
int sl_upstream_resolve(struct sl_upstream *u, const struct sl_str *addr,
    const struct sl_upstream_server *tmpl, const char **reason);

extern struct sl_module sl_upstream_module;
extern const struct sl_balancer sl_balancer_round_robin;
extern const struct sl_balancer sl_balancer_least_conn;
extern const struct sl_balancer sl_balancer_ip_hash;
extern const struct sl_balancer sl_balancer_hash;
extern const struct sl_balancer sl_balancer_random;

/*
 * ---- a server's run-time state (sl_upstream_server.c) -------------------
 *
 * The one place that reads and writes it; the balancers use only these.
 */

/*
 * Checks u's servers (at least one, every one a server) and clears their
 * run-time state.  Every balancer's init calls it first.  Returns SL_OK,
 * or SL_ERROR with the message set on cf (cf may be NULL in tests).
 */
int sl_upstream_servers_init(struct sl_conf_ctx *cf, struct sl_upstream *u);
/*
 * Whether s may take a request now: not `down`, not failed (max_fails
 * failures without a fail_timeout gap, nginx's rule, see the file), not
 * at max_conns.  *full is set to 1 when max_conns is the only reason,
 * else to 0.  Tried bits are the balancer's business.
 */
int sl_upstream_server_usable(struct sl_upstream *u,
    struct sl_upstream_server *s, int *full);
/* Active connections (requests acquired and not yet released). */
int sl_upstream_server_conns(const struct sl_upstream_server *s);
/* The weight to balance by: the configured one (>= 1). */
int sl_upstream_server_weight(const struct sl_upstream_server *s);
/*
 * Records that a request goes to s: one more connection and request, and
 * the start of a new failure window once fail_timeout has passed (for a
 * failed server that pick is its probe).  Every get calls it on its pick.
 */
void sl_upstream_server_acquire(struct sl_upstream *u,
    struct sl_upstream_server *s);
/*
 * Ends a request acquired on s: one connection less, and the passive
 * failure accounting (a failure counts toward max_fails and lowers s's
 * smooth round-robin weight; the warning when s becomes unavailable).
 * It is every balancer's done.
 */
void sl_upstream_server_release(struct sl_upstream *u,
    struct sl_upstream_server *s, int failed);

/*
 * The random balancer's per-process generator: seeds it from seed, or
 * from getrandom() when seed is 0.  Each worker reseeds after fork (the
 * module's init_worker), so that workers do not make the same picks.
 */
void sl_upstream_random_seed(uint64_t seed);

/*
 * Splits "HOST:PORT", "[IPV6]:PORT", "HOST" or "[IPV6]" into host (inside
 * s, without brackets) and port; a missing port is 80, as in nginx.  An
 * IPv6 address must be bracketed.  Returns SL_OK, or SL_ERROR with *reason
 * set to "no host", "invalid host" or "invalid port" (reason may be NULL).
 */
int sl_upstream_parse_addr(const struct sl_str *s, struct sl_str *host,
    unsigned *port, const char **reason);

/*
 * Finds or creates the group named name (for proxy_pass http://NAME).  A
 * group referenced but never defined with upstream{} and not parseable as
 * ADDR:PORT or HOST:PORT is an error reported at the end of the http
 * block.  Returns NULL on allocation failure.
 */
struct sl_upstream *sl_upstream_add(struct sl_conf_ctx *cf,
    const struct sl_str *name);

/*
 * Takes an idle connection to s from u's pool, most recently used first,
 * or NULL.  The connection comes back with no timer, no handlers
 * (NULL), c->data NULL and c->idle clear; the caller installs its own.
 * Idle connections found closed by the server on the way are closed.
 */
struct sl_conn *sl_upstream_keepalive_get(struct sl_upstream *u,
    struct sl_upstream_server *s);
/*
 * The same for a connection made with TLS context tag (NULL: a plain
 * connection, which is what sl_upstream_keepalive_get takes): a pooled
 * TLS connection keeps its SSL object and its session, and goes back
 * only to requests that would have made the same handshake.
 */
struct sl_conn *sl_upstream_keepalive_get_tls(struct sl_upstream *u,
    struct sl_upstream_server *s, const void *tag);
/*
 * Gives c back to u's pool (the previous response was read completely and
 * the server did not ask to close).  If the pool is full the oldest idle
 * connection is closed.  The pool watches c: a close or any byte from the
 * server, or keepalive_timeout, closes it; so does the worker when it
 * runs out of connection slots (c is made reusable).  put counts the
 * request just finished in c->requests (callers do not), and closes c at
 * once instead when u->keepalive is 0, c->requests has reached
 * keepalive_requests, the server has closed or sent bytes already, or the
 * worker is shutting down.  c->pool is left alone: give back a
 * connection that owns no pool, or its memory stays with the idle
 * connection until sl_conn_close() frees it.
 */
void sl_upstream_keepalive_put(struct sl_upstream *u,
    struct sl_upstream_server *s, struct sl_conn *c);
/*
 * Closes every idle connection of every group of the current cycle; the
 * worker calls it when it starts a graceful stop (idle upstream
 * connections would otherwise keep sl_conn_active_count() above zero
 * until their keepalive_timeout).
 */
void sl_upstream_keepalive_close_all(void);

#endif /* SL_UPSTREAM_H */
