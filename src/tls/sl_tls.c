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
 *   ssl_session_tickets on | off;                           http, server
 *   ssl_client_certificate FILE;                            http, server
 *   ssl_verify_client on | optional | off;                  http, server
 *   ssl_verify_depth N;                                     http, server
 *   ssl_stapling on | off;  ssl_stapling_file FILE;         http, server
 *
 * Each server block with a certificate gets its own SSL_CTX, built and
 * checked when the configuration is loaded (so `sluice -t` reports a
 * missing file or a key that does not match its certificate with the
 * directive's file:line).  A connection starts with the context of its
 * address's default server; the SNI callback picks the server block by
 * name with the same rules as the Host header and switches the context.
 * The switch is made from the ClientHello callback, before OpenSSL picks
 * the protocol version and looks at a session ticket, and it copies the
 * new context's protocols, ciphers, options and verify mode onto the
 * connection (SSL_set_SSL_CTX() itself only swaps certificates), so a
 * name-based server's ssl_* settings apply to it.  ALPN offers http/1.1
 * only.
 *
 * Sessions resume by tickets only (no per-process session cache): the
 * ticket keys live in shared memory (sl_tls_ticket.c), so any worker
 * resumes a session, also after a reload.
 *
 * Client certificates are checked as nginx does: the handshake accepts
 * any certificate (or none), and the request is answered 400 when
 * ssl_verify_client is on and no valid certificate came; "optional"
 * leaves the verdict to $ssl_client_verify.
 */
#include "sl_core.h"
#include "sl_tls.h"
#include "sl_tls_conf.h"
#include "sl_http_variables.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define SL_TLS_VERIFY_OFF       0
#define SL_TLS_VERIFY_ON        1
#define SL_TLS_VERIFY_OPTIONAL  2

#define SL_TLS_OCSP_MAX      (64 * 1024)     /* a stapled response */

#define SL_TLS_DEFAULT_CIPHERS                                                \
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!eNULL:!MD5:!SHA1"

struct sl_tls_srv_conf {
    struct sl_array         *certs;     /* struct sl_tls_file; NULL: unset */
    struct sl_array         *keys;
    int                      protocols; /* SL_TLS_PROTO_* */
    struct sl_str            ciphers;
    const char              *ciphers_file;
    unsigned                 ciphers_line;
    int                      prefer_server_ciphers;
    sl_msec_t                session_timeout;
    int                      session_tickets;
    struct sl_array         *client_cert;   /* one struct sl_tls_file */
    int                      verify;        /* SL_TLS_VERIFY_* */
    int64_t                  verify_depth;
    const char              *verify_file;   /* where ssl_verify_client is */
    unsigned                 verify_line;
    int                      stapling;
    struct sl_array         *stapling_file; /* one struct sl_tls_file */
    unsigned char           *ocsp;          /* DER response, or NULL */
    size_t                   ocsp_len;
    SSL_CTX                 *ctx;       /* NULL: no certificate */
};

static int sl_tls_set_file(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_tls_set_ciphers(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_tls_set_verify(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

static const int64_t sl_tls_max_depth = 100;

#define SL_TLS_CTX           (SL_CONF_HTTP | SL_CONF_SERVER)

static const struct sl_conf_cmd sl_tls_cmds[] = {
    { "ssl_certificate", SL_TLS_CTX | SL_CONF_TAKE1 | SL_CONF_MULTI,
      sl_tls_set_file, SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, certs), NULL },
    { "ssl_certificate_key", SL_TLS_CTX | SL_CONF_TAKE1 | SL_CONF_MULTI,
      sl_tls_set_file, SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, keys), NULL },
    { "ssl_protocols", SL_TLS_CTX | SL_CONF_1MORE, sl_tls_conf_set_protocols,
      SL_CONF_LEVEL_HTTP_SRV, offsetof(struct sl_tls_srv_conf, protocols),
      NULL },
    { "ssl_ciphers", SL_TLS_CTX | SL_CONF_TAKE1, sl_tls_set_ciphers,
      SL_CONF_LEVEL_HTTP_SRV, 0, NULL },
    { "ssl_prefer_server_ciphers", SL_TLS_CTX | SL_CONF_TAKE1,
      sl_conf_set_flag, SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, prefer_server_ciphers), NULL },
    { "ssl_session_timeout", SL_TLS_CTX | SL_CONF_TAKE1, sl_conf_set_msec,
      SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, session_timeout), NULL },
    { "ssl_session_tickets", SL_TLS_CTX | SL_CONF_TAKE1, sl_conf_set_flag,
      SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, session_tickets), NULL },
    { "ssl_client_certificate", SL_TLS_CTX | SL_CONF_TAKE1,
      sl_tls_set_file, SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, client_cert), NULL },
    { "ssl_verify_client", SL_TLS_CTX | SL_CONF_TAKE1, sl_tls_set_verify,
      SL_CONF_LEVEL_HTTP_SRV, 0, NULL },
    { "ssl_verify_depth", SL_TLS_CTX | SL_CONF_TAKE1, sl_conf_set_int,
      SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, verify_depth), &sl_tls_max_depth },
    { "ssl_stapling", SL_TLS_CTX | SL_CONF_TAKE1, sl_conf_set_flag,
      SL_CONF_LEVEL_HTTP_SRV, offsetof(struct sl_tls_srv_conf, stapling),
      NULL },
    { "ssl_stapling_file", SL_TLS_CTX | SL_CONF_TAKE1, sl_tls_set_file,
      SL_CONF_LEVEL_HTTP_SRV,
      offsetof(struct sl_tls_srv_conf, stapling_file), NULL },
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
    return sl_tls_conf_file(cf, arg, f);
}

static int
sl_tls_set_ciphers(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_tls_srv_conf *tscf = conf;

    return sl_tls_conf_str(cf, &tscf->ciphers, &tscf->ciphers_file,
                           &tscf->ciphers_line);
}

static int
sl_tls_set_verify(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_tls_srv_conf *tscf = conf;
    struct sl_str *a = &cf->node->args[0];

    if (sl_str_eq(a, "on")) {
        tscf->verify = SL_TLS_VERIFY_ON;
    } else if (sl_str_eq(a, "optional")) {
        tscf->verify = SL_TLS_VERIFY_OPTIONAL;
    } else if (sl_str_eq(a, "off")) {
        tscf->verify = SL_TLS_VERIFY_OFF;
    } else {
        sl_conf_error(cf, "invalid value \"%.*s\" in \"%s\" directive, it "
                      "must be \"on\", \"optional\" or \"off\"",
                      (int) a->len, a->data, cmd->name);
        return SL_ERROR;
    }
    tscf->verify_file = cf->node->file;
    tscf->verify_line = cf->node->line;
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
    tscf->session_tickets = SL_CONF_UNSET;
    tscf->verify = SL_CONF_UNSET;
    tscf->verify_depth = SL_CONF_UNSET;
    tscf->stapling = SL_CONF_UNSET;
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
    sl_conf_merge(conf->session_tickets, prev->session_tickets, 1);
    if (conf->client_cert == NULL)
        conf->client_cert = prev->client_cert;
    if (conf->verify == SL_CONF_UNSET) {
        conf->verify = prev->verify == SL_CONF_UNSET ? SL_TLS_VERIFY_OFF
                                                     : prev->verify;
        conf->verify_file = prev->verify_file;
        conf->verify_line = prev->verify_line;
    }
    sl_conf_merge(conf->verify_depth, prev->verify_depth, 1);
    sl_conf_merge(conf->stapling, prev->stapling, 0);
    if (conf->stapling_file == NULL)
        conf->stapling_file = prev->stapling_file;
    return SL_OK;
}

/* ---- SNI and ALPN -------------------------------------------------------- */

/*
 * Moves ssl to the context of the server block named name (len bytes, as
 * the client sent it).  SSL_set_SSL_CTX() swaps the certificates and the
 * session id context; what the connection copied from its first context
 * at SSL_new() -- options, protocol range, ciphers, verify mode and depth,
 * TLS 1.3 ticket count -- is copied here from the new one.
 */
static void
sl_tls_switch_server(SSL *ssl, const unsigned char *name, size_t len)
{
    struct sl_conn *c = SSL_get_app_data(ssl);
    struct sl_http_addr_conf *ac;
    struct sl_http_srv_conf *srv;
    struct sl_tls_srv_conf *tscf;
    struct sl_str host;
    char buf[256];
    SSL_CTX *ctx;
    size_t i;

    if (c == NULL || len == 0 || len >= sizeof(buf))
        return;
    for (i = 0; i < len; i++)
        buf[i] = (char) tolower(name[i]);
    if (buf[len - 1] == '.')
        len--;
    buf[len] = '\0';
    host.data = buf;
    host.len = len;
    ac = c->listening->servers;
    SL_CHECK_OBJ_NOTNULL(ac, SL_HTTP_ADDR_MAGIC);
    srv = sl_http_find_server(ac, &host);
    if (srv == NULL)
        return;
    tscf = srv->srv_conf[sl_http_ssl_module.index];
    ctx = tscf->ctx;
    if (ctx == NULL || ctx == SSL_get_SSL_CTX(ssl))
        return;
    SSL_set_SSL_CTX(ssl, ctx);
    SSL_clear_options(ssl, SSL_get_options(ssl) & ~SSL_CTX_get_options(ctx));
    SSL_set_options(ssl, SSL_CTX_get_options(ctx));
    SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(ctx));
    SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(ctx));
    (void) SSL_set_cipher_list(ssl, tscf->ciphers.data != NULL
                                    ? tscf->ciphers.data
                                    : SL_TLS_DEFAULT_CIPHERS);
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx),
                   SSL_CTX_get_verify_callback(ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
    SSL_set_num_tickets(ssl, SSL_CTX_get_num_tickets(ctx));
    ERR_clear_error();
}

/*
 * Runs first on the ClientHello: reads the server_name extension (RFC
 * 6066 3: list length, then type 0 host_name, length, name) and switches
 * the server block before the version, the cipher and a resumed session
 * are chosen.  A malformed extension is left to OpenSSL to reject.
 */
static int
sl_tls_client_hello(SSL *ssl, int *al, void *arg)
{
    const unsigned char *p;
    size_t len, nlen;

    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len)
        != 1 || len < 5)
    {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    if ((size_t) ((p[0] << 8) | p[1]) + 2 != len || p[2] != 0)
        return SSL_CLIENT_HELLO_SUCCESS;
    nlen = (size_t) ((p[3] << 8) | p[4]);
    if (nlen + 5 > len)
        return SSL_CLIENT_HELLO_SUCCESS;
    sl_tls_switch_server(ssl, p + 5, nlen);
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* The switch is done; this acknowledges the name to the client. */
static int
sl_tls_servername(SSL *ssl, int *ad, void *arg)
{
    if (SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    return SSL_TLSEXT_ERR_OK;
}

/*
 * Any client certificate, or none, completes the handshake; the verdict
 * (kept in the session, so a resumed session has it too) is read at
 * request time.
 */
static int
sl_tls_verify_cb(int ok, X509_STORE_CTX *x509)
{
    (void) ok;
    (void) x509;
    return 1;
}

/* Staples the server's configured OCSP response when the client asks. */
static int
sl_tls_status_cb(SSL *ssl, void *arg)
{
    struct sl_tls_srv_conf *tscf = arg;
    unsigned char *p;

    if (tscf == NULL || tscf->ocsp == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    p = OPENSSL_malloc(tscf->ocsp_len);
    if (p == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    memcpy(p, tscf->ocsp, tscf->ocsp_len);
    /* OpenSSL frees p. */
    if (SSL_set_tlsext_status_ocsp_resp(ssl, p, (long) tscf->ocsp_len) != 1) {
        OPENSSL_free(p);
        return SSL_TLSEXT_ERR_NOACK;
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
 * Reads the DER OCSP response of ssl_stapling_file into the configuration
 * pool, checking that it parses and says "successful".  It is stapled as
 * it is until the next reload reads the file again.
 */
static int
sl_tls_load_ocsp(struct sl_conf_ctx *cf, struct sl_tls_srv_conf *tscf)
{
    struct sl_tls_file *f = tscf->stapling_file->elts;
    const unsigned char *p;
    OCSP_RESPONSE *resp;
    struct stat st;
    ssize_t n;
    size_t got = 0;
    int fd, status;

    fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        sl_conf_node_error(cf, NULL, "%s:%u: cannot open \"%s\" (%d: %s)",
                           f->file, f->line, f->path, errno,
                           strerror(errno));
        return SL_ERROR;
    }
    if (fstat(fd, &st) == -1 || st.st_size <= 0
        || st.st_size > SL_TLS_OCSP_MAX)
    {
        sl_conf_node_error(cf, NULL, "%s:%u: \"%s\" is empty or larger "
                           "than %d bytes", f->file, f->line, f->path,
                           SL_TLS_OCSP_MAX);
        close(fd);
        return SL_ERROR;
    }
    tscf->ocsp = sl_pnalloc(cf->pool, (size_t) st.st_size);
    if (tscf->ocsp == NULL) {
        close(fd);
        return SL_ERROR;
    }
    while (got < (size_t) st.st_size) {
        n = read(fd, tscf->ocsp + got, (size_t) st.st_size - got);
        if (n <= 0) {
            sl_conf_node_error(cf, NULL, "%s:%u: read() of \"%s\" failed",
                               f->file, f->line, f->path);
            close(fd);
            return SL_ERROR;
        }
        got += (size_t) n;
    }
    close(fd);
    tscf->ocsp_len = got;
    p = tscf->ocsp;
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long) got);
    ERR_clear_error();
    if (resp == NULL || p != tscf->ocsp + got) {
        OCSP_RESPONSE_free(resp);
        sl_conf_node_error(cf, NULL, "%s:%u: \"%s\" is not a DER OCSP "
                           "response", f->file, f->line, f->path);
        return SL_ERROR;
    }
    status = OCSP_response_status(resp);
    OCSP_RESPONSE_free(resp);
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        sl_conf_node_error(cf, NULL, "%s:%u: OCSP response \"%s\" has "
                           "status \"%s\"", f->file, f->line, f->path,
                           OCSP_response_status_str(status));
        return SL_ERROR;
    }
    return SL_OK;
}

/*
 * Client certificates: the CA bundle both verifies and is announced to
 * the client as the acceptable issuers.
 */
static int
sl_tls_client_verify(struct sl_conf_ctx *cf, struct sl_http_srv_conf *scf,
    struct sl_tls_srv_conf *tscf, SSL_CTX *ctx)
{
    struct sl_tls_file *f;
    STACK_OF(X509_NAME) *names;
    char ebuf[256];

    if (tscf->client_cert == NULL) {
        sl_conf_node_error(cf, NULL, "%s:%u: no \"ssl_client_certificate\" "
                           "for \"ssl_verify_client\"",
                           tscf->verify_file ? tscf->verify_file : scf->file,
                           tscf->verify_file ? tscf->verify_line
                                             : scf->line);
        return SL_ERROR;
    }
    f = tscf->client_cert->elts;
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx, f->path, NULL) != 1) {
        sl_conf_node_error(cf, NULL, "%s:%u: cannot load client CA "
                           "certificates \"%s\": %s", f->file, f->line,
                           f->path, sl_tls_error(ebuf, sizeof(ebuf)));
        return SL_ERROR;
    }
    names = SSL_load_client_CA_file(f->path);
    if (names == NULL) {
        sl_conf_node_error(cf, NULL, "%s:%u: no certificates in \"%s\": %s",
                           f->file, f->line, f->path,
                           sl_tls_error(ebuf, sizeof(ebuf)));
        return SL_ERROR;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, sl_tls_verify_cb);
    SSL_CTX_set_verify_depth(ctx, (int) tscf->verify_depth);
    return SL_OK;
}

/*
 * Builds the SSL_CTX of one server block (the idx-th of the
 * configuration).  Errors name the directive's file:line (or the server
 * block's for a missing key).
 */
static int
sl_tls_make_ctx(struct sl_conf_ctx *cf, struct sl_http_srv_conf *scf,
    struct sl_tls_srv_conf *tscf, unsigned idx)
{
    struct sl_tls_tickets *tk;
    unsigned char sid[32];
    int sidlen;
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
                           sl_tls_error(ebuf, sizeof(ebuf)));
        return SL_ERROR;
    }
    if (sl_pool_cleanup_add(cf->pool, sl_tls_ctx_free, ctx) == NULL) {
        SSL_CTX_free(ctx);
        return SL_ERROR;
    }
    tscf->ctx = ctx;
    sl_tls_ctx_common(ctx, tscf->protocols);
    if (tscf->prefer_server_ciphers)
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    else
        SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* DHE suites of ssl_ciphers use the RFC 7919 group that fits the key. */
    SSL_CTX_set_dh_auto(ctx, 1);
    ciphers = tscf->ciphers.data != NULL ? tscf->ciphers.data
                                         : SL_TLS_DEFAULT_CIPHERS;
    if (sl_tls_ctx_ciphers(cf, ctx, "ssl_ciphers", ciphers,
                           tscf->ciphers_file ? tscf->ciphers_file
                                              : scf->file,
                           tscf->ciphers_file ? tscf->ciphers_line
                                              : scf->line)
        != SL_OK)
    {
        return SL_ERROR;
    }
    SSL_CTX_set_timeout(ctx, (long) (tscf->session_timeout / 1000));
    /*
     * A session resumes only in the server block that made it (where its
     * client certificate was checked): the id context names the block by
     * its place in the configuration, which a reload usually keeps.
     */
    sidlen = snprintf((char *) sid, sizeof(sid), "sluice:%u", idx);
    SSL_CTX_set_session_id_context(ctx, sid, (unsigned) sidlen);
    /*
     * No per-process session cache: it would resume only in the worker
     * that holds it.  Tickets sealed with the shared keys resume anywhere.
     */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (tscf->session_tickets) {
        tk = sl_tls_tickets_conf(cf, tscf->session_timeout);
        if (tk == NULL || sl_tls_tickets_enable(ctx, tk) != SL_OK) {
            sl_conf_node_error(cf, NULL, "%s:%u: cannot set up session "
                               "tickets: %s", scf->file, scf->line,
                               sl_tls_error(ebuf, sizeof(ebuf)));
            return SL_ERROR;
        }
        SSL_CTX_set_num_tickets(ctx, 1);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    SSL_CTX_set_client_hello_cb(ctx, sl_tls_client_hello, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, sl_tls_servername);
    SSL_CTX_set_alpn_select_cb(ctx, sl_tls_alpn, NULL);
    if (tscf->verify != SL_TLS_VERIFY_OFF
        && sl_tls_client_verify(cf, scf, tscf, ctx) != SL_OK)
    {
        return SL_ERROR;
    }
    if (tscf->stapling) {
        if (tscf->stapling_file == NULL) {
            sl_conf_node_error(cf, NULL, "%s:%u: \"ssl_stapling\" needs "
                               "\"ssl_stapling_file\" (responses are not "
                               "fetched)", scf->file, scf->line);
            return SL_ERROR;
        }
        if (sl_tls_load_ocsp(cf, tscf) != SL_OK)
            return SL_ERROR;
        SSL_CTX_set_tlsext_status_cb(ctx, sl_tls_status_cb);
        SSL_CTX_set_tlsext_status_arg(ctx, tscf);
    }

    certs = tscf->certs->elts;
    keys = tscf->keys->elts;
    for (i = 0; i < ncerts; i++) {
        if (sl_tls_ctx_keypair(cf, ctx, &certs[i], &keys[i]) != SL_OK)
            return SL_ERROR;
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
            if (sl_tls_make_ctx(cf, scf, tscf, i) != SL_OK)
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

/* ---- variables ----------------------------------------------------------- */

static int
sl_tls_var_cstr(struct sl_http_request *r, struct sl_str *v, const char *s)
{
    size_t len;

    if (s == NULL)
        return SL_DECLINED;
    len = strlen(s);
    v->data = sl_pnalloc(r->pool, len + 1);
    if (v->data == NULL)
        return SL_ERROR;
    memcpy(v->data, s, len + 1);
    v->len = len;
    return SL_OK;
}

static int
sl_tls_var_protocol(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    if (r->c->ssl == NULL)
        return SL_DECLINED;
    return sl_tls_var_cstr(r, v, SSL_get_version(r->c->ssl));
}

static int
sl_tls_var_cipher(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    if (r->c->ssl == NULL)
        return SL_DECLINED;
    return sl_tls_var_cstr(r, v, SSL_get_cipher_name(r->c->ssl));
}

/* "r" for a resumed session, "." otherwise (nginx). */
static int
sl_tls_var_reused(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    if (r->c->ssl == NULL)
        return SL_DECLINED;
    return sl_tls_var_cstr(r, v, SSL_session_reused(r->c->ssl) ? "r" : ".");
}

static int
sl_tls_var_server_name(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    if (r->c->ssl == NULL)
        return SL_DECLINED;
    return sl_tls_var_cstr(r, v, SSL_get_servername(r->c->ssl,
                                                    TLSEXT_NAMETYPE_host_name));
}

/* data: 0 subject, 1 issuer; RFC 2253 form, as nginx's $ssl_client_s_dn. */
static int
sl_tls_var_dn(struct sl_http_request *r, struct sl_str *v, uintptr_t data)
{
    X509 *cert;
    BIO *bio;
    char *p;
    long len;
    int rc = SL_ERROR;

    if (r->c->ssl == NULL)
        return SL_DECLINED;
    cert = SSL_get0_peer_certificate(r->c->ssl);
    if (cert == NULL)
        return SL_DECLINED;
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        return SL_ERROR;
    if (X509_NAME_print_ex(bio, data ? X509_get_issuer_name(cert)
                                     : X509_get_subject_name(cert),
                           0, XN_FLAG_RFC2253) >= 0)
    {
        len = BIO_get_mem_data(bio, &p);
        v->data = sl_pnalloc(r->pool, (size_t) len + 1);
        if (v->data != NULL) {
            memcpy(v->data, p, (size_t) len);
            v->len = (size_t) len;
            rc = SL_OK;
        }
    }
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

/* SUCCESS, NONE or FAILED:reason, as nginx's $ssl_client_verify. */
static int
sl_tls_var_verify(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    char buf[200];
    long rc;

    if (r->c->ssl == NULL)
        return SL_DECLINED;
    if (SSL_get0_peer_certificate(r->c->ssl) == NULL)
        return sl_tls_var_cstr(r, v, "NONE");
    rc = SSL_get_verify_result(r->c->ssl);
    if (rc == X509_V_OK)
        return sl_tls_var_cstr(r, v, "SUCCESS");
    snprintf(buf, sizeof(buf), "FAILED:%s",
             X509_verify_cert_error_string(rc));
    return sl_tls_var_cstr(r, v, buf);
}

static const struct sl_http_variable sl_tls_vars[] = {
    { sl_string("ssl_protocol"), sl_tls_var_protocol, 0, 0 },
    { sl_string("ssl_cipher"), sl_tls_var_cipher, 0, 0 },
    { sl_string("ssl_session_reused"), sl_tls_var_reused, 0, 0 },
    { sl_string("ssl_server_name"), sl_tls_var_server_name, 0, 0 },
    { sl_string("ssl_client_s_dn"), sl_tls_var_dn, 0, 0 },
    { sl_string("ssl_client_i_dn"), sl_tls_var_dn, 1, 0 },
    { sl_string("ssl_client_verify"), sl_tls_var_verify, 0, 0 },
};

/* Registers the variables before the configuration is walked. */
static void *
sl_tls_create_main(struct sl_conf_ctx *cf)
{
    unsigned i;

    for (i = 0; i < sl_nelems(sl_tls_vars); i++) {
        if (sl_http_variable_add(&sl_tls_vars[i]) != SL_OK)
            return NULL;
    }
    return (void *) sl_tls_vars;        /* no main configuration */
}

struct sl_module sl_http_ssl_module = {
    "http_ssl", sl_tls_cmds,
    sl_tls_create_main, NULL,
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

int
sl_tls_verify_request(struct sl_http_request *r)
{
    static const struct sl_str html = sl_string("text/html");
    static const struct sl_str no_cert = sl_string(
        "<html>\r\n<head><title>400 No required SSL certificate was sent"
        "</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1>"
        "</center>\r\n<center>No required SSL certificate was sent"
        "</center>\r\n</body>\r\n</html>\r\n");
    static const struct sl_str bad_cert = sl_string(
        "<html>\r\n<head><title>400 The SSL certificate error</title>"
        "</head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>"
        "\r\n<center>The SSL certificate error</center>\r\n</body>\r\n"
        "</html>\r\n");
    struct sl_tls_srv_conf *tscf;
    char addr[SL_SOCKADDR_STRLEN];
    const struct sl_str *body;
    long rc;

    if (r->c->ssl == NULL)
        return SL_OK;
    tscf = r->srv->srv_conf[sl_http_ssl_module.index];
    if (tscf->verify != SL_TLS_VERIFY_ON)
        return SL_OK;
    sl_sockaddr_ntop(&r->c->peer.sa, addr, sizeof(addr), 0);
    if (SSL_get0_peer_certificate(r->c->ssl) == NULL) {
        sl_log_error(SL_LOG_INFO, 0, "client %s sent no required SSL "
                     "certificate", addr);
        body = &no_cert;
    } else {
        rc = SSL_get_verify_result(r->c->ssl);
        if (rc == X509_V_OK)
            return SL_OK;
        sl_log_error(SL_LOG_INFO, 0, "client %s SSL certificate verify "
                     "error: (%ld:%s)", addr, rc,
                     X509_verify_cert_error_string(rc));
        body = &bad_cert;
    }
    r->keepalive = 0;
    (void) sl_http_send_simple(r, 400, &html, body);
    return SL_DONE;
}
