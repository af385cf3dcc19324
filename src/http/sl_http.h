/*
 * sl_http.h: the HTTP server: configuration structures, the request and
 * the functions the phases share.
 */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "sl_conf.h"
#include "sl_conn.h"
#include "sl_cycle.h"
#include "sl_http_parse.h"

struct sl_http_complex_value;

/* ---- configuration ------------------------------------------------------ */

struct sl_http_server_name {
    struct sl_str            name;      /* lowercased; wildcards kept */
    pcre2_code              *re;        /* ~REGEX */
    struct sl_http_srv_conf *srv;
};

/* The servers on one listen address. */
struct sl_http_addr_conf {
    unsigned                 magic;
#define SL_HTTP_ADDR_MAGIC   0x48414444U
    struct sl_http_srv_conf *default_server;
    struct sl_array          names;     /* struct sl_http_server_name */
    unsigned                 explicit_default:1;
    unsigned                 ssl:1;     /* "listen ... ssl" on any server */
};

struct sl_http_srv_conf {
    unsigned                 magic;
#define SL_HTTP_SRV_MAGIC    0x48535256U
    void                   **srv_conf;  /* per module, by index */
    void                   **loc_conf;  /* server-level location confs */
    struct sl_array          names;     /* struct sl_http_server_name */
    struct sl_array          listens;   /* struct sl_http_listen */
    /* locations, in match order */
    struct sl_array          exact;     /* struct sl_http_loc_conf * */
    struct sl_array          prefix;    /* longest first */
    struct sl_array          regex;     /* config order */
    struct sl_str            server_name;  /* first name, for $server_name */
    off_t                    header_buffer_size;
    int64_t                  large_buffers_n;
    off_t                    large_buffers_size;
    sl_msec_t                client_header_timeout;
    const char              *file;
    unsigned                 line;
};

struct sl_http_listen {
    union sl_sockaddr        sa;
    socklen_t                socklen;
    unsigned                 default_server:1;
    unsigned                 ssl:1;
    int                      backlog;
    struct sl_listening     *ls;
};

typedef int (*sl_http_handler_pt)(struct sl_http_request *r);

struct sl_http_loc_conf {
    unsigned                 magic;
#define SL_HTTP_LOC_MAGIC    0x484c4f43U
    void                   **loc_conf;  /* this location's, per module */
    struct sl_str            name;
    unsigned                 exact:1;
    unsigned                 noregex:1; /* ^~ */
    unsigned                 caseless:1;
    pcre2_code              *re;

    sl_http_handler_pt       handler;   /* content handler or NULL */
    off_t                    client_max_body_size;
    sl_msec_t                client_body_timeout;
    sl_msec_t                keepalive_timeout;
    int64_t                  keepalive_requests;
    sl_msec_t                send_timeout;
    int                      server_tokens;
    int                      return_code;       /* -1: no return */
    struct sl_http_complex_value *return_text;
};

struct sl_http_main_conf {
    unsigned                 magic;
#define SL_HTTP_MAIN_MAGIC   0x484d4149U
    struct sl_array          servers;   /* struct sl_http_srv_conf * */
    struct sl_array          addrs;     /* struct sl_http_addr_conf * */
    struct sl_array          variables; /* struct sl_http_variable */
};

extern struct sl_module sl_http_core_module;

#define sl_http_get_module_loc_conf(r, m)   ((r)->loc_conf[(m).index])
#define sl_http_get_module_srv_conf(r, m)   ((r)->srv->srv_conf[(m).index])

/* ---- the request -------------------------------------------------------- */

/* Where sl_http_read_body() hands body payload (see below). */
typedef int (*sl_http_body_store_pt)(void *arg, const char *data,
    size_t len);

struct sl_http_out_header {
    struct sl_str            name;
    struct sl_str            value;
};

/* Per-connection HTTP state; lives in the connection pool. */
struct sl_http_conn {
    struct sl_http_addr_conf *addr;
    struct sl_http_request  *r;         /* current request, if any */
    struct sl_conn          *c;
    char                    *buf;       /* request head buffer (iobuf) */
    size_t                   buf_size;
    size_t                   buf_len;   /* bytes in buf */
    size_t                   buf_pos;   /* start of the current request */
    size_t                   scan;      /* head-end scan position */
    sl_msec_t                head_start;/* first byte of current head */
    sl_msec_t                linger_end;/* lingering close deadline */
    unsigned                 keepalive:1;
    unsigned                 lingering:1;
    unsigned                 pending:1; /* buffered bytes not yet parsed */
};

struct sl_http_request {
    unsigned                 magic;
#define SL_HTTP_REQ_MAGIC    0x48524551U
    struct sl_pool          *pool;
    struct sl_conn          *c;
    struct sl_http_conn     *hc;
    struct sl_http_head     *head;      /* parsed request head */
    const char              *head_start;/* raw head in hc->buf */
    size_t                   head_len;

    struct sl_http_srv_conf *srv;
    struct sl_http_loc_conf *loc;
    void                   **loc_conf;
    void                   **ctx;       /* per module request context */

    struct sl_str            host;      /* lowercased, without port */
    struct sl_str            uri;       /* decoded, normalised path */
    struct sl_str            args;
    struct sl_str            request_line;
    struct sl_str            request_id;

    sl_msec_t                start_msec;
    sl_msec_t                start_wall_msec;

    /* response */
    int                      status;
    struct sl_array          out_headers;   /* struct sl_http_out_header */
    struct sl_chain         *out;           /* bytes still to send */
    struct sl_str            content_type;
    int64_t                  content_length;/* -1: unknown */
    struct sl_str            location;
    uint64_t                 bytes_sent;
    uint64_t                 header_bytes_sent;
    uint64_t                 request_length;

    /* request body */
    struct sl_str            leftover;      /* bytes read past the body */
    int64_t                  body_rest;     /* Content-Length left */
    struct sl_http_chunked   chunked;
    uint64_t                 body_received;

    /* upstream, filled by the proxy; empty strings until then */
    struct sl_str            upstream_addr;
    struct sl_str            upstream_status;
    struct sl_str            upstream_response_time;
    struct sl_str            upstream_cache_status;

    unsigned                 keepalive:1;
    unsigned                 header_sent:1;
    unsigned                 body_done:1;   /* request body fully read */
    unsigned                 discard_body:1;
    unsigned                 response_done:1;
    unsigned                 logged:1;
    unsigned                 http10:1;
    unsigned                 head_method:1;
    unsigned                 chunked_out:1; /* response sent chunked */
    unsigned                 upgrade_out:1; /* 101: Connection: upgrade */
    unsigned                 phase;         /* access handler running */
    /* sl_http_read_body_then(): where the payload goes, what comes next */
    sl_http_body_store_pt    body_store;
    void                    *body_arg;
    void                   (*body_then)(struct sl_http_request *r);
    struct sl_str            remote_user;   /* set by auth_basic */
    /* access control (src/security/) */
    unsigned                 auth_basic:1;  /* Authorization consumed */
    unsigned                 access_allowed:1; /* satisfy any: by address */
    unsigned                 access_denied:1;  /* satisfy any: auth decides */
};

/* ---- shared functions ------------------------------------------------- */

/* An event handler that does nothing (a direction nobody waits on). */
void sl_http_empty_handler(struct sl_event *ev);
/* The accept handler installed by the worker on every listening socket. */
void sl_http_init_connection(struct sl_conn *c);

/*
 * Sends a complete response with the given body (may be NULL) and finishes
 * the request.  Used by `return`, error pages and simple handlers.
 * Returns SL_OK or SL_ERROR (the connection is then being closed).
 */
int sl_http_send_simple(struct sl_http_request *r, int status,
    const struct sl_str *content_type, const struct sl_str *body);
/* Runs the content phase of a request whose body has been dealt with. */
void sl_http_content(struct sl_http_request *r);
/* The `return` directive's handler (sl_http_response.c). */
void sl_http_return_handler(struct sl_http_request *r,
    struct sl_http_loc_conf *lcf);
/*
 * Sends r->out; finishes the request when all is sent.  SL_OK, SL_AGAIN
 * (the write handler continues) or SL_ERROR (connection closed).
 */
int sl_http_output(struct sl_http_request *r);
/* Sends what r->out holds: SL_OK (all sent), SL_AGAIN, SL_ERROR. */
int sl_http_send_chain(struct sl_http_request *r);
/*
 * Builds the response head from r->status, content_type, location,
 * out_headers, r->keepalive and r->chunked_out; body_len >= 0 announces a
 * Content-Length.  NULL when out of memory.
 */
struct sl_buf *sl_http_build_head(struct sl_http_request *r,
    int64_t body_len);
/* Writes r's access log line unless that was done already. */
void sl_http_log_once(struct sl_http_request *r);
/* Logs r and closes its connection at once (errors mid-response). */
void sl_http_terminate(struct sl_http_request *r);
/* Logs r and keeps or closes the connection: the request is over. */
void sl_http_finalize(struct sl_http_request *r);
/*
 * The access phase: handlers registered by modules (allow/deny, regex
 * filters, limits, auth) run in order after the location is chosen.  A
 * handler returns SL_OK or SL_DECLINED to go on, an HTTP status >= 400 to
 * answer with it (adding headers such as WWW-Authenticate first), or
 * SL_AGAIN when it will decide later and then call sl_http_access_done().
 * Register at configuration time; a handler with nothing configured for
 * the request's location returns SL_DECLINED.
 */
#define SL_HTTP_MAX_PHASE_HANDLERS  16
typedef int (*sl_http_phase_pt)(struct sl_http_request *r);
int sl_http_add_access_handler(sl_http_phase_pt h);
void sl_http_access_resume(struct sl_http_request *r);
void sl_http_access_done(struct sl_http_request *r, int rc);

/*
 * Reads the request body: what came with the head, then from the socket,
 * handing payload spans to store (NULL to drop them) -- chunks decoded,
 * client_max_body_size enforced for chunked bodies, bytes past the body
 * kept for the next request.  Returns SL_OK when the body is complete,
 * SL_AGAIN when more must arrive (wait for the read event), SL_ERROR when
 * the client is gone, or an HTTP status to answer (400, 413, 500).
 */
int sl_http_read_body(struct sl_http_request *r, sl_http_body_store_pt store,
    void *arg);
/*
 * Reads the whole body as sl_http_read_body() does, waiting for it under
 * client_body_timeout (408) and answering 100 Continue when asked, then
 * calls then(r).  Errors are answered here (400, 413; a client that went
 * away is closed), and then is not called.
 */
void sl_http_read_body_then(struct sl_http_request *r,
    sl_http_body_store_pt store, void *arg,
    void (*then)(struct sl_http_request *r));

/* Whether the response to r may keep the connection open. */
int sl_http_keepalive_ok(struct sl_http_request *r);
/* Answers status with the standard short HTML page; closes if asked. */
int sl_http_send_error(struct sl_http_request *r, int status);
/* The reason phrase of a status code ("Unknown" if none). */
const char *sl_http_status_text(int status);
/* Adds an output header (strings must outlive the request). */
int sl_http_add_header(struct sl_http_request *r, const char *name,
    size_t nlen, const char *value, size_t vlen);

/* Server and location choice (sl_http_core.c). */
struct sl_http_srv_conf *sl_http_find_server(struct sl_http_addr_conf *ac,
    const struct sl_str *host);
struct sl_http_loc_conf *sl_http_find_location(struct sl_http_srv_conf *scf,
    const struct sl_str *uri);

/* Decodes %XX, merges "//", resolves "." and ".."; SL_ERROR -> 400. */
int sl_http_normalize_uri(const char *in, size_t len, char *out,
    size_t *outlen);

/* Writes the access log line for r (sl_http_log.c). */
void sl_http_log_request(struct sl_http_request *r);
/* Writes out every buffered access log (worker exit, before reopen). */
void sl_http_log_flush_all(void);
extern struct sl_module sl_http_log_module;

#endif /* SL_HTTP_H */
