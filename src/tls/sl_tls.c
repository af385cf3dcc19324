/*
 * sl_tls.c: TLS termination for client connections.
 *
 *   listen ADDR ssl;                                        server
 *   ssl_certificate FILE;  ssl_certificate_key FILE;        http, server
 *       (repeatable: the Nth key belongs to the Nth certificate, so a
 *        server can hold an RSA and an ECDSA pair)
 *   ssl_protocols TLSv1.2 | TLSv1.3 ...;                    http, server
 *   ssl_ciphers LIST;  ssl_prefer_server_ciphers on | off;  http, server
 *   ssl_session_timeout TIME;                               http, server
 *
 * Each server block with a certificate gets its own SSL_CTX, built and
 * checked when the configuration is loaded (so `sluice -t` reports a
 * missing file or a key that does not match its certificate with the
 * directive's file:line).  A connection starts with the context of its
 * address's default server; the SNI callback picks the server block by
 * name with the same rules as the Host header and switches the context.
 * ALPN offers http/1.1 only.
 *
 * Session tickets use OpenSSL's per-process keys, so a ticket is resumed
 * only by the worker that issued it; sharing keys between workers (in
 * shared memory) is not done yet.
 */
#include "sl_core.h"
#include "sl_tls.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define SL_TLS_PROTO_12      0x01
#define SL_TLS_PROTO_13      0x02

#define SL_TLS_DEFAULT_CIPHERS                                                \
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!eNULL:!MD5:!SHA1"

/* A file named by a directive, with where it was named. */
struct sl_tls_file {
    char                    *path;      /* resolved, NUL-terminated */
    const char              *file;
    unsigned                 line;
};

struct sl_tls_srv_conf {
    struct sl_array         *certs;     /* struct sl_tls_file; NULL: unset */
    struct sl_array         *keys;
    int                      protocols; /* SL_TLS_PROTO_* */
    struct sl_str            ciphers;
    const char              *ciphers_file;
    unsigned                 ciphers_line;
    int                      prefer_server_ciphers;
    sl_msec_t                session_timeout;
    SSL_CTX                 *ctx;       /* NULL: no certificate */
};

static int sl_tls_set_file(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_tls_set_protocols(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_tls_set_ciphers(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

#define SL_TLS_CTX           (SL_CONF_HTTP | SL_CONF_SERVER)

static const struct sl_conf_cmd sl_tls_cmds[] = {
    { "ssl_certificate", SL_TLS_CTX | SL_CONF_TAKE1 | SL_CONF_MULTI,
      sl_tls_set_file, SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, certs), NULL },
    { "ssl_certificate_key", SL_TLS_CTX | SL_CONF_TAKE1 | SL_CONF_MULTI,
      sl_tls_set_file, SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, keys), NULL },
    { "ssl_protocols", SL_TLS_CTX | SL_CONF_1MORE, sl_tls_set_protocols,
      SL_CONF_LEVEL_HTTP_SRV, 0, NULL },
    { "ssl_ciphers", SL_TLS_CTX | SL_CONF_TAKE1, sl_tls_set_ciphers,
      SL_CONF_LEVEL_HTTP_SRV, 0, NULL },
    { "ssl_prefer_server_ciphers", SL_TLS_CTX | SL_CONF_TAKE1,
      sl_conf_set_flag, SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, prefer_server_ciphers), NULL },
    { "ssl_session_timeout", SL_TLS_CTX | SL_CONF_TAKE1, sl_conf_set_msec,
      SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, session_timeout), NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};

/* ---- directives ---------------------------------------------------------- */

/* FILE is relative to the directory of the file that names it. */
static int
sl_tls_set_file(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_array **a = (struct sl_array **) ((char *) conf + cmd->offset);
    struct sl_str *arg = &cf->node->args[0];
    struct sl_tls_file *f;
    const char *slash;
    size_t dlen;

    if (arg->len == 0) {
        sl_conf_error(cf, "empty \"%s\"", cmd->name);
        return SL_ERROR;
    }
    if (*a == NULL) {
        *a = sl_array_create(cf->pool, 2, sizeof(struct sl_tls_file));
        if (*a == NULL)
            return SL_ERROR;
    }
    f = sl_array_push(*a);
    if (f == NULL)
        return SL_ERROR;
    slash = strrchr(cf->node->file, '/');
    dlen = arg->data[0] != '/' && slash != NULL
           ? (size_t) (slash - cf->node->file) + 1 : 0;
    f->path = sl_pnalloc(cf->pool, dlen + arg->len + 1);
    if (f->path == NULL)
        return SL_ERROR;
    memcpy(f->path, cf->node->file, dlen);
    memcpy(f->path + dlen, arg->data, arg->len);
    f->path[dlen + arg->len] = '\0';
    f->file = cf->node->file;
    f->line = cf->node->line;
    return SL_OK;
}

static int
sl_tls_set_protocols(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_tls_srv_conf *tscf = conf;
    struct sl_str *a;
    unsigned i;

    tscf->protocols = 0;
    for (i = 0; i < cf->node->nargs; i++) {
        a = &cf->node->args[i];
        if (sl_str_eq(a, "TLSv1.2")) {
            tscf->protocols |= SL_TLS_PROTO_12;
        } else if (sl_str_eq(a, "TLSv1.3")) {
            tscf->protocols |= SL_TLS_PROTO_13;
        } else if (sl_str_eq(a, "TLSv1") || sl_str_eq(a, "TLSv1.1")
                   || sl_str_eq(a, "SSLv3") || sl_str_eq(a, "SSLv2"))
        {
            sl_conf_error(cf, "protocol \"%.*s\" is insecure and not "
                          "supported", (int) a->len, a->data);
            return SL_ERROR;
        } else {
            sl_conf_error(cf, "invalid protocol \"%.*s\"", (int) a->len,
                          a->data);
            return SL_ERROR;
        }
    }
    return SL_OK;
}

static int
sl_tls_set_ciphers(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_tls_srv_conf *tscf = conf;

    tscf->ciphers.len = cf->node->args[0].len;
    tscf->ciphers.data = sl_pstrdup(cf->pool, &cf->node->args[0]);
    if (tscf->ciphers.data == NULL)
        return SL_ERROR;
    tscf->ciphers_file = cf->node->file;
    tscf->ciphers_line = cf->node->line;
    return SL_OK;
}

/* ---- configuration ------------------------------------------------------- */

static void *
sl_tls_create_srv(struct sl_conf_ctx *cf)
{
    struct sl_tls_srv_conf *tscf;

    tscf = sl_pcalloc(cf->pool, sizeof(*tscf));
    if (tscf == NULL)
        return NULL;
    tscf->protocols = SL_CONF_UNSET;
    tscf->prefer_server_ciphers = SL_CONF_UNSET;
    tscf->session_timeout = SL_CONF_UNSET_MSEC;
    return tscf;
}

static int
sl_tls_merge_srv(struct sl_conf_ctx *cf, void *parent, void *child)
{
    struct sl_tls_srv_conf *prev = parent, *conf = child;

    /* Certificates and keys are inherited as a set, not one by one. */
    if (conf->certs == NULL && conf->keys == NULL) {
        conf->certs = prev->certs;
        conf->keys = prev->keys;
    }
    sl_conf_merge(conf->protocols, prev->protocols,
                  SL_TLS_PROTO_12 | SL_TLS_PROTO_13);
    if (conf->ciphers.data == NULL) {
        conf->ciphers = prev->ciphers;
        conf->ciphers_file = prev->ciphers_file;
        conf->ciphers_line = prev->ciphers_line;
    }
    sl_conf_merge(conf->prefer_server_ciphers, prev->prefer_server_ciphers,
                  0);
    sl_conf_merge(conf->session_timeout, prev->session_timeout, 300000);
    return SL_OK;
}

/* The first queued OpenSSL error as text (the most specific one). */
static const char *
sl_tls_err(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();

    if (e == 0)
        snprintf(buf, len, "unknown error");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* ---- SNI and ALPN -------------------------------------------------------- */

static int
sl_tls_servername(SSL *ssl, int *ad, void *arg)
{
    struct sl_conn *c = SSL_get_app_data(ssl);
    struct sl_http_addr_conf *ac;
    struct sl_http_srv_conf *srv;
    struct sl_tls_srv_conf *tscf;
    const char *name;
    char buf[256];
    struct sl_str host;
    size_t i, len;

    name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL || c == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    len = strlen(name);
    if (len == 0 || len >= sizeof(buf))
        return SSL_TLSEXT_ERR_NOACK;
    for (i = 0; i < len; i++)
        buf[i] = (char) tolower((unsigned char) name[i]);
    if (buf[len - 1] == '.')
        len--;
    buf[len] = '\0';
    host.data = buf;
    host.len = len;
    ac = c->listening->servers;
    SL_CHECK_OBJ_NOTNULL(ac, SL_HTTP_ADDR_MAGIC);
    srv = sl_http_find_server(ac, &host);
    if (srv == NULL)
        return SSL_TLSEXT_ERR_OK;
    tscf = srv->srv_conf[sl_http_ssl_module.index];
    if (tscf->ctx != NULL && tscf->ctx != SSL_get_SSL_CTX(ssl)) {
        SSL_set_SSL_CTX(ssl, tscf->ctx);
        /* The context switch keeps the first context's options. */
        SSL_clear_options(ssl, SSL_get_options(ssl)
                               & ~SSL_CTX_get_options(tscf->ctx));
        SSL_set_options(ssl, SSL_CTX_get_options(tscf->ctx));
    }
    return SSL_TLSEXT_ERR_OK;
}

static int
sl_tls_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned inlen, void *arg)
{
    static const unsigned char protos[] = "\x08http/1.1";
    unsigned char *o;

    if (SSL_select_next_proto(&o, outlen, protos, sizeof(protos) - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
    {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

/* ---- contexts ------------------------------------------------------------ */

static void
sl_tls_ctx_free(void *data)
{
    SSL_CTX_free(data);
}

/*
 * Builds the SSL_CTX of one server block.  Errors name the directive's
 * file:line (or the server block's for a missing key).
 */
static int
sl_tls_make_ctx(struct sl_conf_ctx *cf, struct sl_http_srv_conf *scf,
    struct sl_tls_srv_conf *tscf)
{
    struct sl_tls_file *certs, *keys;
    const char *ciphers;
    char ebuf[256];
    SSL_CTX *ctx;
    unsigned i, ncerts, nkeys;

    ncerts = tscf->certs != NULL ? tscf->certs->nelts : 0;
    nkeys = tscf->keys != NULL ? tscf->keys->nelts : 0;
    if (ncerts != nkeys) {
        sl_conf_node_error(cf, NULL, "%s:%u: %u \"ssl_certificate\" but %u "
                           "\"ssl_certificate_key\" in the server block",
                           scf->file, scf->line, ncerts, nkeys);
        return SL_ERROR;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        sl_conf_node_error(cf, NULL, "SSL_CTX_new() failed: %s",
                           sl_tls_err(ebuf, sizeof(ebuf)));
        return SL_ERROR;
    }
    if (sl_pool_cleanup_add(cf->pool, sl_tls_ctx_free, ctx) == NULL) {
        SSL_CTX_free(ctx);
        return SL_ERROR;
    }
    tscf->ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, (tscf->protocols & SL_TLS_PROTO_12)
                                       ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, (tscf->protocols & SL_TLS_PROTO_13)
                                       ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                             | SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (tscf->prefer_server_ciphers)
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    else
        SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          | SSL_MODE_RELEASE_BUFFERS);
    ciphers = tscf->ciphers.data != NULL ? tscf->ciphers.data
                                         : SL_TLS_DEFAULT_CIPHERS;
    if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
        sl_conf_node_error(cf, NULL, "%s:%u: invalid \"ssl_ciphers\" \"%s\": "
                           "%s", tscf->ciphers_file ? tscf->ciphers_file
                                                    : scf->file,
                           tscf->ciphers_file ? tscf->ciphers_line
                                              : scf->line,
                           ciphers, sl_tls_err(ebuf, sizeof(ebuf)));
        return SL_ERROR;
    }
    SSL_CTX_set_timeout(ctx, (long) (tscf->session_timeout / 1000));
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *) "sluice", 6);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_tlsext_servername_callback(ctx, sl_tls_servername);
    SSL_CTX_set_alpn_select_cb(ctx, sl_tls_alpn, NULL);

    certs = tscf->certs->elts;
    keys = tscf->keys->elts;
    for (i = 0; i < ncerts; i++) {
        ERR_clear_error();
        if (SSL_CTX_use_certificate_chain_file(ctx, certs[i].path) != 1) {
            sl_conf_node_error(cf, NULL, "%s:%u: cannot load certificate "
                               "\"%s\": %s", certs[i].file, certs[i].line,
                               certs[i].path, sl_tls_err(ebuf, sizeof(ebuf)));
            return SL_ERROR;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, keys[i].path, SSL_FILETYPE_PEM)
            != 1)
        {
            sl_conf_node_error(cf, NULL, "%s:%u: cannot load certificate key "
                               "\"%s\": %s", keys[i].file, keys[i].line,
                               keys[i].path, sl_tls_err(ebuf, sizeof(ebuf)));
            return SL_ERROR;
        }
        /* A key of another type lands in another slot: check the pair. */
        if (SSL_CTX_check_private_key(ctx) != 1) {
            sl_conf_node_error(cf, NULL, "%s:%u: certificate key \"%s\" does "
                               "not match certificate \"%s\": %s",
                               keys[i].file, keys[i].line, keys[i].path,
                               certs[i].path, sl_tls_err(ebuf, sizeof(ebuf)));
            return SL_ERROR;
        }
    }
    return SL_OK;
}

/* After the servers are bound to addresses: build contexts, check ssl. */
static int
sl_tls_init_http_main(struct sl_conf_ctx *cf, void *conf)
{
    struct sl_http_main_conf *hmcf;
    struct sl_http_srv_conf **servers, *scf;
    struct sl_tls_srv_conf *tscf;
    struct sl_http_listen *l;
    struct sl_http_addr_conf *ac;
    unsigned i, j;

    hmcf = cf->http_main_conf[sl_http_core_module.index];
    SL_CHECK_OBJ_NOTNULL(hmcf, SL_HTTP_MAIN_MAGIC);
    servers = hmcf->servers.elts;
    for (i = 0; i < hmcf->servers.nelts; i++) {
        scf = servers[i];
        tscf = scf->srv_conf[sl_http_ssl_module.index];
        if (tscf->certs != NULL || tscf->keys != NULL) {
            if (sl_tls_make_ctx(cf, scf, tscf) != SL_OK)
                return SL_ERROR;
        }
        for (j = 0; j < scf->listens.nelts; j++) {
            l = sl_array_at(&scf->listens, struct sl_http_listen, j);
            ac = l->ls->servers;
            if (ac->ssl && tscf->ctx == NULL) {
                sl_conf_node_error(cf, NULL, "%s:%u: no \"ssl_certificate\" "
                                   "is defined for the server on the "
                                   "\"listen ... ssl\" address %s",
                                   scf->file, scf->line, l->ls->addr_text);
                return SL_ERROR;
            }
        }
    }
    return SL_OK;
}

struct sl_module sl_http_ssl_module = {
    "http_ssl", sl_tls_cmds,
    NULL, NULL,
    NULL, sl_tls_init_http_main,
    sl_tls_create_srv, sl_tls_merge_srv,
    NULL, NULL,
    NULL, 0
};

/* ---- connections --------------------------------------------------------- */

int
sl_tls_accept(struct sl_conn *c)
{
    struct sl_http_addr_conf *ac = c->listening->servers;
    struct sl_tls_srv_conf *tscf;
    SSL *ssl;

    tscf = ac->default_server->srv_conf[sl_http_ssl_module.index];
    ssl = SSL_new(tscf->ctx);
    if (ssl == NULL) {
        ERR_clear_error();
        sl_log_error(SL_LOG_ERR, 0, "SSL_new() failed");
        return SL_ERROR;
    }
    if (SSL_set_fd(ssl, c->fd) != 1) {
        ERR_clear_error();
        SSL_free(ssl);
        sl_log_error(SL_LOG_ERR, 0, "SSL_set_fd() failed");
        return SL_ERROR;
    }
    SSL_set_accept_state(ssl);
    SSL_set_app_data(ssl, c);
    c->ssl = ssl;
    return SL_OK;
}
