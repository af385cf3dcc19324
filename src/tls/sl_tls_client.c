/*
 * sl_tls_client.c: TLS towards upstream servers.
 *
 *   proxy_pass https://UPSTREAM_OR_ADDR[:PORT][/URI];        location
 *   proxy_ssl_verify on | off;  (off)                        http, server,
 *   proxy_ssl_trusted_certificate FILE;                        location
 *   proxy_ssl_verify_depth N;  (1)
 *   proxy_ssl_server_name on | off;  (off: no SNI)
 *   proxy_ssl_name NAME;  (the host in proxy_pass)
 *   proxy_ssl_protocols TLSv1.2 | TLSv1.3 ...;  (both)
 *   proxy_ssl_ciphers LIST;  (OpenSSL's default)
 *   proxy_ssl_certificate FILE;  proxy_ssl_certificate_key FILE;
 *   proxy_ssl_session_reuse on | off;  (on)
 *
 * The defaults are nginx's.  Every location with proxy_pass https://
 * gets its own SSL_CTX, built when the configuration is loaded, so a
 * missing CA file or a bad client key is "file:line: reason" at `sluice
 * -t`.  Verification checks the chain against proxy_ssl_trusted_certificate
 * (required with verify on, as in nginx: the system store is not used) and
 * the name (proxy_ssl_name, or the host of proxy_pass) through the
 * context's verify parameters, so a name mismatch fails the handshake.
 *
 * Session reuse: each worker keeps, per location and per server of its
 * group, the last session the server gave (OpenSSL's new-session
 * callback: with TLS 1.3 the ticket arrives after the handshake) and
 * offers it on the next connection.  A failed handshake forgets it.
 *
 * The handshake itself is non-blocking; the proxy and the checker run it
 * from their event handlers and bound it with their timers.
 */
#include "sl_core.h"
#include "sl_tls_client.h"
#include "sl_tls_conf.h"
#include "sl_upstream.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static int sl_tls_client_set_file(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_tls_client_set_ciphers(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

#define SL_TLS_CLIENT_CTX   (SL_CONF_HTTP | SL_CONF_SERVER | SL_CONF_LOCATION)

static const int64_t sl_tls_client_max_depth = 100;

/* The SSL ex_data slot holding the session slot of a connection. */
static int sl_tls_client_slot_index = -1;

static const struct sl_conf_cmd sl_tls_client_cmds[] = {
    { "proxy_ssl_verify", SL_TLS_CLIENT_CTX | SL_CONF_TAKE1,
      sl_conf_set_flag, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_tls_client_conf, verify), NULL },
    { "proxy_ssl_verify_depth", SL_TLS_CLIENT_CTX | SL_CONF_TAKE1,
      sl_conf_set_int, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_tls_client_conf, verify_depth),
      &sl_tls_client_max_depth },
    { "proxy_ssl_trusted_certificate", SL_TLS_CLIENT_CTX | SL_CONF_TAKE1,
      sl_tls_client_set_file, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_tls_client_conf, trusted), NULL },
    { "proxy_ssl_certificate", SL_TLS_CLIENT_CTX | SL_CONF_TAKE1,
      sl_tls_client_set_file, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_tls_client_conf, cert), NULL },
    { "proxy_ssl_certificate_key", SL_TLS_CLIENT_CTX | SL_CONF_TAKE1,
      sl_tls_client_set_file, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_tls_client_conf, key), NULL },
    { "proxy_ssl_server_name", SL_TLS_CLIENT_CTX | SL_CONF_TAKE1,
      sl_conf_set_flag, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_tls_client_conf, server_name), NULL },
    { "proxy_ssl_name", SL_TLS_CLIENT_CTX | SL_CONF_TAKE1,
      sl_conf_set_str, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_tls_client_conf, name), NULL },
    { "proxy_ssl_protocols", SL_TLS_CLIENT_CTX | SL_CONF_1MORE,
      sl_tls_conf_set_protocols, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_tls_client_conf, protocols), NULL },
    { "proxy_ssl_ciphers", SL_TLS_CLIENT_CTX | SL_CONF_TAKE1,
      sl_tls_client_set_ciphers, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "proxy_ssl_session_reuse", SL_TLS_CLIENT_CTX | SL_CONF_TAKE1,
      sl_conf_set_flag, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_tls_client_conf, session_reuse), NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};

/* ---- directives ---------------------------------------------------------- */

struct sl_tls_file *
sl_tls_client_file(struct sl_conf_ctx *cf, const struct sl_str *value)
{
    struct sl_tls_file *f;

    f = sl_pcalloc(cf->pool, sizeof(*f));
    if (f == NULL || sl_tls_conf_file(cf, value, f) != SL_OK)
        return NULL;
    return f;
}

static int
sl_tls_client_set_file(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_tls_file **f =
        (struct sl_tls_file **) ((char *) conf + cmd->offset);
    struct sl_str *arg = &cf->node->args[0];

    if (arg->len == 0 || memchr(arg->data, '\0', arg->len) != NULL) {
        sl_conf_error(cf, "invalid file name in \"%s\"", cmd->name);
        return SL_ERROR;
    }
    *f = sl_tls_client_file(cf, arg);
    return *f == NULL ? SL_ERROR : SL_OK;
}

static int
sl_tls_client_set_ciphers(struct sl_conf_ctx *cf,
    const struct sl_conf_cmd *cmd, void *conf)
{
    struct sl_tls_client_conf *tcf = conf;

    return sl_tls_conf_str(cf, &tcf->ciphers, &tcf->where_file,
                           &tcf->where_line);
}

/* ---- configuration ------------------------------------------------------- */

void
sl_tls_client_defaults(struct sl_tls_client_conf *tcf)
{
    tcf->verify = 0;
    tcf->verify_depth = 1;
    tcf->server_name = 0;
    tcf->session_reuse = 1;
    tcf->protocols = SL_TLS_CLIENT_PROTO_12 | SL_TLS_CLIENT_PROTO_13;
}

static void *
sl_tls_client_create_loc(struct sl_conf_ctx *cf)
{
    struct sl_tls_client_conf *tcf;

    tcf = sl_pcalloc(cf->pool, sizeof(*tcf));
    if (tcf == NULL)
        return NULL;
    tcf->verify = SL_CONF_UNSET;
    tcf->verify_depth = SL_CONF_UNSET;
    tcf->server_name = SL_CONF_UNSET;
    tcf->session_reuse = SL_CONF_UNSET;
    tcf->protocols = SL_CONF_UNSET;
    return tcf;
}

static int
sl_tls_client_merge_loc(struct sl_conf_ctx *cf, void *parent, void *child)
{
    struct sl_tls_client_conf *prev = parent, *conf = child;

    sl_conf_merge(conf->verify, prev->verify, 0);
    sl_conf_merge(conf->verify_depth, prev->verify_depth, 1);
    sl_conf_merge(conf->server_name, prev->server_name, 0);
    sl_conf_merge(conf->session_reuse, prev->session_reuse, 1);
    sl_conf_merge(conf->protocols, prev->protocols,
                  SL_TLS_CLIENT_PROTO_12 | SL_TLS_CLIENT_PROTO_13);
    if (conf->ciphers.data == NULL) {
        conf->ciphers = prev->ciphers;
        conf->where_file = prev->where_file;
        conf->where_line = prev->where_line;
    }
    if (conf->name.data == NULL)
        conf->name = prev->name;
    if (conf->trusted == NULL)
        conf->trusted = prev->trusted;
    /* A client certificate and its key are inherited as a pair. */
    if (conf->cert == NULL && conf->key == NULL) {
        conf->cert = prev->cert;
        conf->key = prev->key;
    }
    if (conf->wanted && conf->ctx == NULL)
        return sl_tls_client_build(cf, conf, &conf->host, conf->pass_file,
                                   conf->pass_line);
    return SL_OK;
}

struct sl_module sl_http_proxy_ssl_module = {
    "http_proxy_ssl", sl_tls_client_cmds, NULL, NULL,
    NULL, NULL, NULL, NULL,
    sl_tls_client_create_loc, sl_tls_client_merge_loc,
    NULL, 0
};

struct sl_tls_client_conf *
sl_tls_client_want(struct sl_conf_ctx *cf, const struct sl_str *host)
{
    struct sl_tls_client_conf *tcf;

    tcf = cf->loc_conf[sl_http_proxy_ssl_module.index];
    tcf->wanted = 1;
    tcf->host.len = host->len;
    tcf->host.data = sl_pstrdup(cf->pool, host);
    if (tcf->host.data == NULL)
        return NULL;
    tcf->pass_file = cf->node->file;
    tcf->pass_line = cf->node->line;
    return tcf;
}

/* ---- contexts ------------------------------------------------------------ */

/*
 * Frees the context and, in the process that runs the cleanup, the
 * sessions its connections left.
 */
static void
sl_tls_client_cleanup(void *data)
{
    struct sl_tls_client_conf *tcf = data;
    unsigned i;

    if (tcf->sessions != NULL) {
        for (i = 0; i < tcf->nsessions; i++) {
            if (tcf->sessions[i] != NULL)
                SSL_SESSION_free(tcf->sessions[i]);
        }
        free(tcf->sessions);
        tcf->sessions = NULL;
        tcf->nsessions = 0;
    }
    SSL_CTX_free(tcf->ctx);
    tcf->ctx = NULL;
}

/*
 * OpenSSL hands over each new session (a TLS 1.3 ticket arrives after
 * the handshake, perhaps more than one): the last one is kept in the
 * connection's slot.  Returning 1 keeps OpenSSL's reference for us.
 */
static int
sl_tls_client_new_session(SSL *ssl, SSL_SESSION *sess)
{
    SSL_SESSION **slot = SSL_get_ex_data(ssl, sl_tls_client_slot_index);

    if (slot == NULL)
        return 0;
    if (*slot != NULL)
        SSL_SESSION_free(*slot);
    *slot = sess;
    return 1;
}

/* Whether name (brackets allowed) is an IP address literal. */
static int
sl_tls_client_is_ip(const char *name)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, name, buf) == 1
           || inet_pton(AF_INET6, name, buf) == 1;
}

int
sl_tls_client_build(struct sl_conf_ctx *cf, struct sl_tls_client_conf *tcf,
    const struct sl_str *host, const char *file, unsigned line)
{
    X509_VERIFY_PARAM *param;
    const struct sl_str *n;
    char ebuf[256], *name;
    SSL_CTX *ctx;
    int ok;

    if (sl_tls_client_slot_index == -1) {
        sl_tls_client_slot_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
                                                        NULL);
        if (sl_tls_client_slot_index == -1) {
            sl_conf_node_error(cf, NULL, "SSL_get_ex_new_index() failed");
            return SL_ERROR;
        }
    }
    /* The name to verify and to send: proxy_ssl_name, else the host. */
    n = tcf->name.data != NULL ? &tcf->name : host;
    if (n->len > 1 && n->data[0] == '[' && n->data[n->len - 1] == ']') {
        name = sl_pnalloc(cf->pool, n->len - 1);
        if (name == NULL)
            return SL_ERROR;
        memcpy(name, n->data + 1, n->len - 2);
        name[n->len - 2] = '\0';
    } else {
        name = sl_pstrdup(cf->pool, n);
        if (name == NULL)
            return SL_ERROR;
    }

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        sl_conf_node_error(cf, NULL, "%s:%u: SSL_CTX_new() failed: %s", file,
                           line, sl_tls_error(ebuf, sizeof(ebuf)));
        return SL_ERROR;
    }
    tcf->ctx = ctx;
    if (sl_pool_cleanup_add(cf->pool, sl_tls_client_cleanup, tcf) == NULL) {
        SSL_CTX_free(ctx);
        tcf->ctx = NULL;
        return SL_ERROR;
    }
    sl_tls_ctx_common(ctx, tcf->protocols);
    if (tcf->ciphers.data != NULL
        && sl_tls_ctx_ciphers(cf, ctx, "proxy_ssl_ciphers", tcf->ciphers.data,
                              tcf->where_file ? tcf->where_file : file,
                              tcf->where_file ? tcf->where_line : line)
           != SL_OK)
    {
        return SL_ERROR;
    }

    if (tcf->trusted != NULL) {
        ERR_clear_error();
        if (SSL_CTX_load_verify_locations(ctx, tcf->trusted->path, NULL)
            != 1)
        {
            sl_conf_node_error(cf, NULL, "%s:%u: cannot load trusted "
                               "certificates \"%s\": %s", tcf->trusted->file,
                               tcf->trusted->line, tcf->trusted->path,
                               sl_tls_error(ebuf, sizeof(ebuf)));
            return SL_ERROR;
        }
    }
    if (tcf->verify) {
        if (tcf->trusted == NULL) {
            sl_conf_node_error(cf, NULL, "%s:%u: no trusted certificates "
                               "(\"proxy_ssl_trusted_certificate\") for "
                               "\"proxy_ssl_verify\"", file, line);
            return SL_ERROR;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_verify_depth(ctx, (int) tcf->verify_depth);
        param = SSL_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_hostflags(param,
                                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = sl_tls_client_is_ip(name)
             ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
             : X509_VERIFY_PARAM_set1_host(param, name, 0);
        if (ok != 1) {
            sl_conf_node_error(cf, NULL, "%s:%u: invalid name \"%s\" to "
                               "verify: %s", file, line, name,
                               sl_tls_error(ebuf, sizeof(ebuf)));
            return SL_ERROR;
        }
        tcf->check_name = name;
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }

    if ((tcf->cert == NULL) != (tcf->key == NULL)) {
        sl_conf_node_error(cf, NULL, "%s:%u: \"%s\" without \"%s\"",
                           tcf->cert ? tcf->cert->file : tcf->key->file,
                           tcf->cert ? tcf->cert->line : tcf->key->line,
                           tcf->cert ? "proxy_ssl_certificate"
                                     : "proxy_ssl_certificate_key",
                           tcf->cert ? "proxy_ssl_certificate_key"
                                     : "proxy_ssl_certificate");
        return SL_ERROR;
    }
    if (tcf->cert != NULL
        && sl_tls_ctx_keypair(cf, ctx, tcf->cert, tcf->key) != SL_OK)
    {
        return SL_ERROR;
    }

    /* RFC 6066: no address literals in SNI. */
    if (tcf->server_name && name[0] != '\0' && !sl_tls_client_is_ip(name))
        tcf->sni = name;
    if (tcf->session_reuse) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT
                                            | SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_sess_set_new_cb(ctx, sl_tls_client_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    return SL_OK;
}

/* ---- connections --------------------------------------------------------- */

int
sl_tls_client_start(struct sl_conn *c, struct sl_tls_client_conf *tcf,
    struct sl_upstream *u, struct sl_upstream_server *s, int sessions)
{
    SSL_SESSION **slot = NULL;
    unsigned i;
    SSL *ssl;

    SL_ASSERT(c->ssl == NULL && tcf->ctx != NULL);
    ssl = SSL_new(tcf->ctx);
    if (ssl == NULL) {
        ERR_clear_error();
        sl_log_error(SL_LOG_ERR, 0, "SSL_new() failed");
        return SL_ERROR;
    }
    if (SSL_set_fd(ssl, c->fd) != 1
        || (tcf->sni != NULL && SSL_set_tlsext_host_name(ssl, tcf->sni) != 1))
    {
        ERR_clear_error();
        SSL_free(ssl);
        sl_log_error(SL_LOG_ERR, 0, "SSL_set_fd() or SNI failed");
        return SL_ERROR;
    }
    SSL_set_connect_state(ssl);
    if (sessions && tcf->session_reuse && u != NULL && s != NULL) {
        i = (unsigned) (s - (struct sl_upstream_server *) u->servers.elts);
        if (tcf->sessions == NULL && u->servers.nelts > 0) {
            /* Once per worker and location: the group's size is fixed. */
            tcf->sessions = calloc(u->servers.nelts, sizeof(SSL_SESSION *));
            if (tcf->sessions != NULL)
                tcf->nsessions = u->servers.nelts;
        }
        if (i < tcf->nsessions) {
            slot = &tcf->sessions[i];
            SSL_set_ex_data(ssl, sl_tls_client_slot_index, slot);
            if (*slot != NULL && SSL_set_session(ssl, *slot) != 1)
                ERR_clear_error();
        }
    }
    c->ssl = ssl;
    return SL_OK;
}

int
sl_tls_client_handshake(struct sl_conn *c, char *err, size_t len)
{
    SSL_SESSION **slot;
    char reason[200];
    long vr;
    int n, e;

    ERR_clear_error();
    errno = 0;
    n = SSL_do_handshake(c->ssl);
    if (n == 1)
        return SL_OK;
    e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ) {
        c->read.ready = 0;
        return SL_AGAIN;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        c->write.ready = 0;
        return SL_AGAIN;
    }
    if (e == SSL_ERROR_SSL)
        ERR_error_string_n(ERR_peek_error(), reason, sizeof(reason));
    else if (e == SSL_ERROR_SYSCALL && errno != 0)
        snprintf(reason, sizeof(reason), "%d: %s", errno, strerror(errno));
    else
        snprintf(reason, sizeof(reason), "peer closed connection in SSL "
                 "handshake");
    vr = SSL_get_verify_result(c->ssl);
    if ((SSL_get_verify_mode(c->ssl) & SSL_VERIFY_PEER) && vr != X509_V_OK)
        snprintf(err, len, "%s; upstream SSL certificate verify error: "
                 "(%ld: %s)", reason, vr, X509_verify_cert_error_string(vr));
    else
        snprintf(err, len, "%s", reason);
    /* The offered session may be what the server refuses: forget it. */
    slot = SSL_get_ex_data(c->ssl, sl_tls_client_slot_index);
    if (slot != NULL && *slot != NULL) {
        SSL_SESSION_free(*slot);
        *slot = NULL;
    }
    SSL_set_quiet_shutdown(c->ssl, 1);
    ERR_clear_error();
    return SL_ERROR;
}

int
sl_tls_client_reused(struct sl_conn *c)
{
    return c->ssl != NULL && SSL_session_reused(c->ssl);
}

const void *
sl_tls_client_tag(struct sl_conn *c)
{
    return c->ssl != NULL ? (const void *) SSL_get_SSL_CTX(c->ssl) : NULL;
}

int
sl_tls_client_idle_clean(struct sl_conn *c)
{
    return c->ssl == NULL
           || (SSL_pending(c->ssl) == 0 && !SSL_has_pending(c->ssl));
}
