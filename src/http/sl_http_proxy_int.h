/*
 * sl_http_proxy_int.h: the inside of the reverse proxy, shared by the two
 * files that make it and by nothing else (the rest of sluice sees only
 * sl_http_proxy.h):
 *   sl_http_proxy.c        directives and configuration, the request head
 *                          sent upstream, reading the client's body, the
 *                          handler, connecting (and the TLS handshake),
 *                          sending the request or streaming its body,
 *                          failures and retries;
 *   sl_http_proxy_relay.c  reading the response head (and the retries it
 *                          decides on), relaying the body to the client,
 *                          the Upgrade tunnel, finishing the exchange.
 * One struct sl_proxy_ctx per proxied request lives in the request pool
 * (r->ctx[sl_http_proxy_module.index]); its cleanup releases everything
 * upstream.  The functions below are the only ones either file calls in
 * the other; everything else stays static in its file.
 */
#ifndef SL_HTTP_PROXY_INT_H
#define SL_HTTP_PROXY_INT_H

#include "sl_core.h"
#include "sl_http_proxy.h"

/* The relay buffer and each tunnel direction's buffer (sl_iobuf_get). */
#define SL_PROXY_RELAY_SIZE     32768

enum sl_proxy_state {
    SL_PROXY_BODY = 0,      /* reading the client's body */
    SL_PROXY_CONNECTING,
    SL_PROXY_HANDSHAKE,     /* TLS to the upstream (proxy_pass https://) */
    SL_PROXY_SENDING,
    SL_PROXY_READING_HEAD,
    SL_PROXY_RELAYING,
    SL_PROXY_TUNNEL,
    SL_PROXY_DONE
};

enum sl_proxy_body_mode {
    SL_PROXY_BODY_NONE = 0,
    SL_PROXY_BODY_LENGTH,
    SL_PROXY_BODY_CHUNKED,
    SL_PROXY_BODY_CLOSE
};

/* One direction of a tunnel. */
struct sl_proxy_pipe {
    char                   *buf;
    size_t                  pos;
    size_t                  last;
    unsigned                eof:1;      /* source closed */
    unsigned                shut:1;     /* destination's write side shut */
};

struct sl_proxy_ctx {
    unsigned                magic;
#define SL_PROXY_CTX_MAGIC  0x50525859U
    struct sl_http_request *r;
    struct sl_http_proxy_conf *pcf;
    struct sl_upstream     *u;
    struct sl_upstream_server *server;
    struct sl_upstream_tried tried;
    unsigned                tries;
    struct sl_conn         *uc;
    enum sl_proxy_state     state;
    int                     last_fail;      /* SL_PROXY_FT_* of last try */
    int                     head_status;    /* this try's response status */
    sl_msec_t               try_start;

    /* request */
    struct sl_buf          *req_head;
    char                   *body_mem;
    size_t                  body_mem_len;
    int                     body_fd;
    off_t                   body_len;
    off_t                   body_file_len;
    /* what is left to send in this try */
    size_t                  head_sent;
    size_t                  mem_sent;
    off_t                   file_sent;
    uint64_t                req_bytes_sent;

    /* response */
    char                   *rbuf;
    size_t                  rbuf_size;
    size_t                  rlen;
    size_t                  scan;
    struct sl_http_head    *rh;
    enum sl_proxy_body_mode mode;
    int64_t                 rest;
    struct sl_http_chunked  chunked;
    char                   *relay;
    size_t                  relay_len;
    char                    chunk_line[24];
    struct sl_buf           out_bufs[3];
    struct sl_chain         out_links[3];

    struct sl_proxy_pipe    up;             /* client -> upstream */
    struct sl_proxy_pipe    down;           /* upstream -> client */

    unsigned                server_active:1;/* balancer get without done */
    unsigned                recorded:1;     /* this try is in the vars */
    unsigned                reused:1;       /* pooled connection */
    unsigned                upgrade:1;      /* client asked to upgrade */
    unsigned                upstream_keepalive:1;
    unsigned                upstream_done:1;/* response body fully read */
    unsigned                extra_bytes:1;  /* upstream sent too much */
    unsigned                client_close:1; /* close-delimited to client */
    unsigned                last_chunk:1;   /* "0\r\n\r\n" queued */
    unsigned                stream_body:1;  /* proxy_request_buffering off */
    unsigned                body_complete:1;/* the client's body is all in */
    unsigned                detached:1;     /* client gone, cache filling */

    /* streaming the request body (proxy_request_buffering off) */
    char                   *sbuf;
    struct sl_buf           sb[4];          /* chunk line, data, CRLF, end */
    unsigned                nsb;
    char                    sb_line[24];
    uint64_t                body_streamed;
};


/* ---- sl_http_proxy.c ----------------------------------------------------- */

/*
 * Logs what failed (what, with errno err when not 0) with the upstream,
 * the client and the request line.
 */
void sl_proxy_log(struct sl_proxy_ctx *ctx, enum sl_log_level level, int err,
    const char *what);

/*
 * Records this try (status, or "-" when status <= 0) in $upstream_addr,
 * $upstream_status and $upstream_response_time, once per try.
 */
void sl_proxy_record_try(struct sl_proxy_ctx *ctx, int status);

/*
 * Closes the upstream connection, if any, and ends the balancer's
 * bookkeeping for the current server (failed: count it as a failure).
 */
void sl_proxy_release_upstream(struct sl_proxy_ctx *ctx, int failed);

/*
 * A try failed with proxy_next_upstream condition ft: logs it, counts it
 * against the server, then tries the next server or answers 502 (504 for
 * a timeout), unless the cache has a stale object to stand in.
 */
void sl_proxy_fail(struct sl_proxy_ctx *ctx, int ft, int err,
    const char *what);

/* Whether the request may go to another server after failure ft. */
int sl_proxy_can_retry(struct sl_proxy_ctx *ctx, int ft);

/*
 * Starts the next try: asks the balancer for a server and connects to it
 * (or takes a pooled connection); with no server left, answers 503, 502
 * or 504 unless the cache has a stale object to stand in.
 */
void sl_proxy_connect(struct sl_proxy_ctx *ctx);

/*
 * Whether a failure on a pooled connection may be retried on a new
 * connection to the same server; sl_proxy_retry_fresh() does that.
 */
int sl_proxy_stale_retry_ok(struct sl_proxy_ctx *ctx);
void sl_proxy_retry_fresh(struct sl_proxy_ctx *ctx);

/*
 * Whether header n is never copied across as it is, in either direction:
 * the hop-by-hop headers, and Content-Length (the proxy frames bodies).
 */
int sl_proxy_hop_by_hop(const struct sl_str *n);

/* Whether a Connection field of h lists name (RFC 9110 7.6.1). */
int sl_proxy_connection_lists(const struct sl_http_head *h,
    const struct sl_str *name);

/* The client connection's event handler while the proxy owns it. */
void sl_proxy_client_handler(struct sl_event *ev);

/* ---- sl_http_proxy_relay.c ----------------------------------------------- */

/*
 * Reads and parses the response head (state SL_PROXY_READING_HEAD), then
 * retries, lets the cache answer, starts the relay or the tunnel.
 */
void sl_proxy_read_head(struct sl_proxy_ctx *ctx);

/*
 * Moves the response body from the upstream to the client, one bounded
 * buffer at a time (state SL_PROXY_RELAYING); finishes the request when
 * it is all sent.
 */
void sl_proxy_relay(struct sl_proxy_ctx *ctx);

/*
 * The client went away (an error sending to it, send_timeout) while the
 * response is relayed: if the cache is still storing it, lets the client
 * go and returns 1 -- the relay then goes on filling the cache alone;
 * otherwise returns 0 and the caller ends the request as before.
 */
int sl_proxy_detach(struct sl_proxy_ctx *ctx);

/* Moves bytes both ways through an Upgrade tunnel (SL_PROXY_TUNNEL). */
void sl_proxy_tunnel(struct sl_proxy_ctx *ctx);

#endif /* SL_HTTP_PROXY_INT_H */
