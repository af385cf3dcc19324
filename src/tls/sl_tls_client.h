/*
 * sl_tls_client.h: TLS towards upstream servers (proxy_pass https://,
 * proxy_ssl_*) and for the checker's HTTP checks.
 *
 * The proxy_ssl_* directives belong to their own module
 * (sl_http_proxy_ssl_module), whose location configuration is the
 * struct sl_tls_client_conf below; proxy_pass https:// marks the location
 * with sl_tls_client_want(), and the merge of a marked location builds
 * its SSL_CTX.  health_check's tls parameters fill the same structure
 * and build their context with sl_tls_client_build().
 */
#ifndef SL_TLS_CLIENT_H
#define SL_TLS_CLIENT_H

#include "sl_conf.h"
#include "sl_conn.h"
#include "sl_tls_conf.h"

struct ssl_ctx_st;
struct ssl_session_st;
struct sl_upstream;
struct sl_upstream_server;

struct sl_tls_client_conf {
    int                      verify;         /* proxy_ssl_verify, off */
    int64_t                  verify_depth;   /* 1, as nginx */
    int                      server_name;    /* SNI, off */
    int                      session_reuse;  /* on */
    int                      protocols;      /* SL_TLS_CLIENT_PROTO_* */
    struct sl_str            ciphers;        /* data NULL: OpenSSL's */
    struct sl_str            name;           /* data NULL: the host */
    struct sl_tls_file      *trusted;        /* NULL: unset */
    struct sl_tls_file      *cert;
    struct sl_tls_file      *key;
    const char              *where_file;     /* of the directive that */
    unsigned                 where_line;     /* last set a value */

    /* set by proxy_pass https:// (never inherited) */
    unsigned                 wanted:1;
    struct sl_str            host;           /* proxy_pass host, no port */
    const char              *pass_file;
    unsigned                 pass_line;

    struct ssl_ctx_st       *ctx;            /* NULL: no TLS here */
    char                    *check_name;     /* verified name, or NULL */
    char                    *sni;            /* SNI to send, or NULL */
    /* run time, per worker: the last session per server of the group */
    struct ssl_session_st  **sessions;
    unsigned                 nsessions;
};

#define SL_TLS_CLIENT_PROTO_12   SL_TLS_PROTO_12
#define SL_TLS_CLIENT_PROTO_13   SL_TLS_PROTO_13

extern struct sl_module sl_http_proxy_ssl_module;

/*
 * proxy_pass https://HOST[:PORT]: marks the current location for TLS with
 * host (without the port) as the default proxy_ssl_name.  Returns the
 * location's conf, or NULL on allocation failure.
 */
struct sl_tls_client_conf *sl_tls_client_want(struct sl_conf_ctx *cf,
    const struct sl_str *host);

/*
 * Fills tcf with the defaults (verify off, depth 1, SNI off, session
 * reuse on, TLSv1.2 and TLSv1.3) for a conf not made by the module (the
 * checker's).
 */
void sl_tls_client_defaults(struct sl_tls_client_conf *tcf);
/*
 * Sets one file (trusted certificate, client certificate or key) from a
 * configuration value, resolved against the directory of the file that
 * names it.  NULL on allocation failure.
 */
struct sl_tls_file *sl_tls_client_file(struct sl_conf_ctx *cf,
    const struct sl_str *value);
/*
 * Builds tcf->ctx (client method) from tcf's settings; the context is
 * freed with cf->pool.  name is the host name to verify and send as SNI
 * (tcf->name overrides it).  Errors are "file:line: reason" on cf,
 * naming the directive concerned, or file:line when none is known.
 */
int sl_tls_client_build(struct sl_conf_ctx *cf, struct sl_tls_client_conf *tcf,
    const struct sl_str *name, const char *file, unsigned line);

/*
 * Gives connection c (TCP connected to server s of group u) an SSL object
 * in connect state: SNI and the session to resume, per tcf.  sessions
 * may be 0 (no reuse: the checker).  SL_OK or SL_ERROR (logged).
 */
int sl_tls_client_start(struct sl_conn *c, struct sl_tls_client_conf *tcf,
    struct sl_upstream *u, struct sl_upstream_server *s, int sessions);
/*
 * Runs the client handshake on c: SL_OK, SL_AGAIN (wait for either
 * event) or SL_ERROR with the OpenSSL reason (and the certificate
 * verification error, if any) in err.
 */
int sl_tls_client_handshake(struct sl_conn *c, char *err, size_t len);
/* Whether c's handshake resumed a session (for the logs and tests). */
int sl_tls_client_reused(struct sl_conn *c);
/*
 * The keepalive pool's key for c: its SSL_CTX, or NULL for a plain
 * connection, so that a pooled connection goes back only to requests of
 * the same TLS settings.
 */
const void *sl_tls_client_tag(struct sl_conn *c);
/* Whether an idle TLS connection holds no unread record (plain: yes). */
int sl_tls_client_idle_clean(struct sl_conn *c);

#endif /* SL_TLS_CLIENT_H */
