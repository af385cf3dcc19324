/*
 * sl_http_proxy.c: the reverse proxy, up to the response.
 *
 * The life of a proxied request, in the order of this file and then of
 * sl_http_proxy_relay.c:
 *   read the request body (proxy_request_buffering on: into memory up to
 *   client_body_buffer_size, beyond into an anonymous temporary file)
 *   -> pick a server (balancer) -> take a pooled keepalive connection or
 *   connect (and, for proxy_pass https://, make a TLS handshake, see
 *   sl_tls_client.c) -> send the head and the body
 * and then, in sl_http_proxy_relay.c:
 *   -> read and strictly parse the response head -> retry on another
 *   server while nothing has reached the client -> relay the body with
 *   one bounded buffer (backpressure: nothing more is read from the
 *   upstream until the client took what was read) -> give the upstream
 *   connection back to the pool.
 * A 101 answer to an Upgrade request turns both connections into a
 * two-way tunnel.  What the two files share is in sl_http_proxy_int.h.
 */
#include "sl_core.h"
#include "sl_http_proxy_int.h"
#include "sl_process.h"
#include "sl_cache.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/socket.h>

#define SL_PROXY_MAX_IOV        64

static void sl_proxy_connected(struct sl_proxy_ctx *ctx);
static void sl_proxy_handshake(struct sl_proxy_ctx *ctx);
static void sl_proxy_send_request(struct sl_proxy_ctx *ctx);
static void sl_proxy_stream_body(struct sl_proxy_ctx *ctx);

/* ---- configuration ------------------------------------------------------- */

static int sl_proxy_set_pass(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_proxy_set_header(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_proxy_hide_header(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_proxy_set_next(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_proxy_set_temp_path(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_proxy_set_version(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_proxy_set_timeout(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_proxy_set_bufsize(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

#define SL_PROXY_CTX   (SL_CONF_HTTP | SL_CONF_SERVER | SL_CONF_LOCATION)

static const int64_t sl_proxy_max_tries = 1000;

static const struct sl_conf_cmd sl_proxy_cmds[] = {
    { "proxy_pass", SL_CONF_LOCATION | SL_CONF_TAKE1, sl_proxy_set_pass,
      SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "proxy_set_header", SL_PROXY_CTX | SL_CONF_TAKE2 | SL_CONF_MULTI,
      sl_proxy_set_header, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "proxy_hide_header", SL_PROXY_CTX | SL_CONF_TAKE1 | SL_CONF_MULTI,
      sl_proxy_hide_header, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "proxy_request_buffering", SL_PROXY_CTX | SL_CONF_TAKE1,
      sl_conf_set_flag, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_proxy_conf, request_buffering), NULL },
    { "proxy_http_version", SL_PROXY_CTX | SL_CONF_TAKE1,
      sl_proxy_set_version, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "client_body_buffer_size", SL_PROXY_CTX | SL_CONF_TAKE1,
      sl_proxy_set_bufsize, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_proxy_conf, body_buffer_size), NULL },
    { "client_body_temp_path", SL_PROXY_CTX | SL_CONF_TAKE1,
      sl_proxy_set_temp_path, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "proxy_buffer_size", SL_PROXY_CTX | SL_CONF_TAKE1, sl_proxy_set_bufsize,
      SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_proxy_conf, buffer_size), NULL },
    { "proxy_connect_timeout", SL_PROXY_CTX | SL_CONF_TAKE1,
      sl_proxy_set_timeout, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_proxy_conf, connect_timeout), NULL },
    { "proxy_read_timeout", SL_PROXY_CTX | SL_CONF_TAKE1, sl_proxy_set_timeout,
      SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_proxy_conf, read_timeout), NULL },
    { "proxy_send_timeout", SL_PROXY_CTX | SL_CONF_TAKE1, sl_proxy_set_timeout,
      SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_proxy_conf, send_timeout), NULL },
    { "proxy_next_upstream", SL_PROXY_CTX | SL_CONF_1MORE, sl_proxy_set_next,
      SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "proxy_next_upstream_tries", SL_PROXY_CTX | SL_CONF_TAKE1,
      sl_conf_set_int, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_http_proxy_conf, next_upstream_tries),
      &sl_proxy_max_tries },
    { NULL, 0, NULL, 0, 0, NULL }
};

static void *
sl_proxy_create_loc(struct sl_conf_ctx *cf)
{
    struct sl_http_proxy_conf *pcf;

    pcf = sl_pcalloc(cf->pool, sizeof(*pcf));
    if (pcf == NULL)
        return NULL;
    pcf->set_headers = SL_CONF_UNSET_PTR;
    pcf->hide_headers = SL_CONF_UNSET_PTR;
    pcf->request_buffering = SL_CONF_UNSET;
    pcf->body_buffer_size = SL_CONF_UNSET_SIZE;
    pcf->buffer_size = SL_CONF_UNSET_SIZE;
    pcf->connect_timeout = SL_CONF_UNSET_MSEC;
    pcf->read_timeout = SL_CONF_UNSET_MSEC;
    pcf->send_timeout = SL_CONF_UNSET_MSEC;
    pcf->next_upstream = 0;
    pcf->next_upstream_tries = SL_CONF_UNSET;
    pcf->temp_path = SL_CONF_UNSET_PTR;
    pcf->http_version = SL_CONF_UNSET;
    return pcf;
}

static int
sl_proxy_merge_loc(struct sl_conf_ctx *cf, void *parent, void *child)
{
    struct sl_http_proxy_conf *prev = parent, *conf = child;
    struct sl_core_conf *ccf = cf->cycle->core;

    sl_conf_merge_ptr(conf->set_headers, prev->set_headers, NULL);
    sl_conf_merge_ptr(conf->hide_headers, prev->hide_headers, NULL);
    sl_conf_merge(conf->request_buffering, prev->request_buffering, 1);
    sl_conf_merge(conf->body_buffer_size, prev->body_buffer_size, 16384);
    sl_conf_merge(conf->buffer_size, prev->buffer_size, 8192);
    sl_conf_merge(conf->connect_timeout, prev->connect_timeout, 60000);
    sl_conf_merge(conf->read_timeout, prev->read_timeout, 60000);
    sl_conf_merge(conf->send_timeout, prev->send_timeout, 60000);
    sl_conf_merge(conf->next_upstream_tries, prev->next_upstream_tries, 0);
    if (conf->next_upstream == 0)
        conf->next_upstream = prev->next_upstream != 0
            ? prev->next_upstream
            : (SL_PROXY_FT_ERROR | SL_PROXY_FT_TIMEOUT
               | SL_PROXY_FT_INVALID_HEADER);
    if (conf->temp_path == SL_CONF_UNSET_PTR)
        conf->temp_path = prev->temp_path != SL_CONF_UNSET_PTR
            ? prev->temp_path
            : (ccf != NULL && ccf->state_dir != NULL ? ccf->state_dir
                                                      : "/tmp");
    sl_conf_merge(conf->http_version, prev->http_version, 1);
    if (conf->http_version == 0)
        conf->request_buffering = 1;    /* no chunked bodies in HTTP/1.0 */
    return SL_OK;
}

static int sl_proxy_var_add_xff(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data);

static const struct sl_http_variable sl_proxy_vars[] = {
    { sl_string("proxy_add_x_forwarded_for"), sl_proxy_var_add_xff, 0, 0 },
};

/*
 * Registers the module's variables before the configuration is walked, so
 * that proxy_set_header values can use them.
 */
static void *
sl_proxy_create_main(struct sl_conf_ctx *cf)
{
    unsigned i;

    for (i = 0; i < sl_nelems(sl_proxy_vars); i++) {
        if (sl_http_variable_add(&sl_proxy_vars[i]) != SL_OK)
            return NULL;
    }
    return (void *) sl_proxy_vars;      /* no configuration of its own */
}

struct sl_module sl_http_proxy_module = {
    "http_proxy", sl_proxy_cmds, sl_proxy_create_main, NULL, NULL, NULL,
    NULL, NULL, sl_proxy_create_loc, sl_proxy_merge_loc, NULL, 0
};

static int sl_http_proxy_handler(struct sl_http_request *r);

static int
sl_proxy_set_pass(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_proxy_conf *pcf = conf;
    struct sl_http_loc_conf *lcf;
    struct sl_str *url = &cf->node->args[0], host, tls_host;
    const char *p, *end, *slash, *colon;

    lcf = cf->loc_conf[sl_http_core_module.index];
    if (pcf->upstream != NULL) {
        sl_conf_error(cf, "\"proxy_pass\" directive is duplicate");
        return SL_ERROR;
    }
    if (url->len > 7 && strncasecmp(url->data, "http://", 7) == 0) {
        p = url->data + 7;
    } else if (url->len > 8 && strncasecmp(url->data, "https://", 8) == 0) {
        p = url->data + 8;
        pcf->https = 1;
    } else {
        sl_conf_error(cf, "invalid URL prefix in \"%.*s\"", (int) url->len,
                      url->data);
        return SL_ERROR;
    }
    end = url->data + url->len;
    slash = memchr(p, '/', (size_t) (end - p));
    host.data = (char *) p;
    host.len = (size_t) ((slash != NULL ? slash : end) - p);
    if (host.len == 0 || memchr(host.data, '$', host.len) != NULL) {
        sl_conf_error(cf, "invalid host in \"%.*s\"", (int) url->len,
                      url->data);
        return SL_ERROR;
    }
    if (memchr(url->data, '$', url->len) != NULL) {
        sl_conf_error(cf, "variables in \"proxy_pass\" are not supported");
        return SL_ERROR;
    }
    if (slash != NULL) {
        pcf->has_uri = 1;
        pcf->uri.data = (char *) slash;
        pcf->uri.len = (size_t) (end - slash);
        if (lcf->re != NULL) {
            sl_conf_error(cf, "\"proxy_pass\" cannot have URI part in "
                          "location given by regular expression");
            return SL_ERROR;
        }
    }
    pcf->location = lcf->name;
    pcf->upstream = sl_upstream_add(cf, &host);
    if (pcf->upstream == NULL)
        return SL_ERROR;
    if (pcf->https) {
        /* The host without its port is the default proxy_ssl_name. */
        tls_host = host;
        colon = host.data[0] == '['
                ? memchr(host.data, ']', host.len) : host.data;
        colon = colon != NULL
                ? memchr(colon, ':', (size_t) (host.data + host.len - colon))
                : NULL;
        if (colon != NULL)
            tls_host.len = (size_t) (colon - host.data);
        else
            pcf->upstream->tls_noport = 1;
        pcf->upstream->tls = 1;
        pcf->ssl = sl_tls_client_want(cf, &tls_host);
        if (pcf->ssl == NULL)
            return SL_ERROR;
    } else {
        pcf->upstream->plain = 1;
    }
    lcf->handler = sl_http_proxy_handler;
    return SL_OK;
}

static int
sl_proxy_set_header(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_proxy_conf *pcf = conf;
    struct sl_http_proxy_header *h;
    struct sl_conf_node *n = cf->node;
    size_t i;

    if (pcf->set_headers == SL_CONF_UNSET_PTR) {
        pcf->set_headers = sl_array_create(cf->pool, 4, sizeof(*h));
        if (pcf->set_headers == NULL)
            return SL_ERROR;
    }
    for (i = 0; i < n->args[0].len; i++) {
        char ch = n->args[0].data[i];
        if (ch <= ' ' || ch == ':' || ch >= 0x7f) {
            sl_conf_error(cf, "invalid header name \"%.*s\"",
                          (int) n->args[0].len, n->args[0].data);
            return SL_ERROR;
        }
    }
    if (n->args[0].len == 0) {
        sl_conf_error(cf, "empty header name");
        return SL_ERROR;
    }
    if (sl_str_caseeq(&n->args[0], "content-length")
        || sl_str_caseeq(&n->args[0], "transfer-encoding"))
    {
        /* The framing must match the body sluice sends. */
        sl_conf_error(cf, "\"%.*s\" cannot be set: sluice frames the body "
                      "itself", (int) n->args[0].len, n->args[0].data);
        return SL_ERROR;
    }
    h = sl_array_push(pcf->set_headers);
    if (h == NULL)
        return SL_ERROR;
    h->name = n->args[0];
    h->value = sl_http_compile_complex_value(cf, &n->args[1]);
    return h->value == NULL ? SL_ERROR : SL_OK;
}

static int
sl_proxy_hide_header(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_proxy_conf *pcf = conf;
    struct sl_str *s;

    if (pcf->hide_headers == SL_CONF_UNSET_PTR) {
        pcf->hide_headers = sl_array_create(cf->pool, 4, sizeof(*s));
        if (pcf->hide_headers == NULL)
            return SL_ERROR;
    }
    s = sl_array_push(pcf->hide_headers);
    if (s == NULL)
        return SL_ERROR;
    *s = cf->node->args[0];
    return SL_OK;
}

static const struct sl_conf_enum sl_proxy_next_names[] = {
    { "error", SL_PROXY_FT_ERROR },
    { "timeout", SL_PROXY_FT_TIMEOUT },
    { "invalid_header", SL_PROXY_FT_INVALID_HEADER },
    { "http_500", SL_PROXY_FT_HTTP_500 },
    { "http_502", SL_PROXY_FT_HTTP_502 },
    { "http_503", SL_PROXY_FT_HTTP_503 },
    { "http_504", SL_PROXY_FT_HTTP_504 },
    { "http_403", SL_PROXY_FT_HTTP_403 },
    { "http_404", SL_PROXY_FT_HTTP_404 },
    { "http_429", SL_PROXY_FT_HTTP_429 },
    { "non_idempotent", SL_PROXY_FT_NON_IDEMPOTENT },
    { "off", SL_PROXY_FT_OFF },
    { NULL, 0 }
};

static int
sl_proxy_set_next(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_proxy_conf *pcf = conf;
    const struct sl_conf_enum *e;
    unsigned i;

    pcf->next_upstream = 0;
    for (i = 0; i < cf->node->nargs; i++) {
        for (e = sl_proxy_next_names; e->name != NULL; e++) {
            if (sl_str_eq(&cf->node->args[i], e->name))
                break;
        }
        if (e->name == NULL) {
            sl_conf_error(cf, "invalid value \"%.*s\" in \"%s\" directive",
                          (int) cf->node->args[i].len,
                          cf->node->args[i].data, cmd->name);
            return SL_ERROR;
        }
        pcf->next_upstream |= e->value;
    }
    if ((pcf->next_upstream & SL_PROXY_FT_OFF) && cf->node->nargs > 1) {
        sl_conf_error(cf, "\"off\" cannot be combined with other values");
        return SL_ERROR;
    }
    return SL_OK;
}

static int
sl_proxy_set_temp_path(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_proxy_conf *pcf = conf;
    struct stat st;

    pcf->temp_path = sl_conf_full_path(cf, &cf->node->args[0]);
    if (pcf->temp_path == NULL)
        return SL_ERROR;
    if (stat(pcf->temp_path, &st) == -1 || !S_ISDIR(st.st_mode)) {
        sl_conf_error(cf, "\"%s\" is not a directory", pcf->temp_path);
        return SL_ERROR;
    }
    return SL_OK;
}

static int
sl_proxy_set_version(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_http_proxy_conf *pcf = conf;
    struct sl_str *a = &cf->node->args[0];

    if (sl_str_eq(a, "1.1"))
        pcf->http_version = 1;
    else if (sl_str_eq(a, "1.0"))
        pcf->http_version = 0;
    else {
        sl_conf_error(cf, "invalid value \"%.*s\" in \"%s\" directive, it "
                      "must be \"1.0\" or \"1.1\"", (int) a->len, a->data,
                      cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

/* A proxy timeout must be positive: 0 would fire at once. */
static int
sl_proxy_set_timeout(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    sl_msec_t *v = (sl_msec_t *) ((char *) conf + cmd->offset);

    if (sl_conf_set_msec(cf, cmd, conf) != SL_OK)
        return SL_ERROR;
    if (*v <= 0) {
        sl_conf_error(cf, "\"%s\" must be greater than 0", cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

/* Buffer sizes from 1k to 16m: smaller cannot hold a usual head. */
static int
sl_proxy_set_bufsize(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    off_t *v = (off_t *) ((char *) conf + cmd->offset);

    if (sl_conf_set_size(cf, cmd, conf) != SL_OK)
        return SL_ERROR;
    if (*v < 1024 || *v > 16 * 1024 * 1024) {
        sl_conf_error(cf, "\"%s\" must be between 1k and 16m", cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

/* ---- helpers --------------------------------------------------------------- */

void
sl_proxy_log(struct sl_proxy_ctx *ctx, enum sl_log_level level, int err,
    const char *what)
{
    struct sl_http_request *r = ctx->r;
    char client[SL_SOCKADDR_STRLEN], errtext[128];

    sl_sockaddr_ntop(&r->c->peer.sa, client, sizeof(client), 0);
    errtext[0] = '\0';
    if (err != 0)
        snprintf(errtext, sizeof(errtext), " (%d: %s)", err, strerror(err));
    sl_log_error(level, 0, "%s%s, upstream: \"%s\" in \"%.*s\", client: %s, "
                 "request: \"%.*s\"", what, errtext,
                 ctx->server != NULL ? ctx->server->addr_text : "-",
                 (int) ctx->u->name.len, ctx->u->name.data, client,
                 (int) r->request_line.len, r->request_line.data);
}

/* Appends ", item" (or item) to a per-request variable string. */
static void
sl_proxy_var_append(struct sl_http_request *r, struct sl_str *v,
    const char *item, size_t len)
{
    char *p;

    p = sl_pnalloc(r->pool, v->len + len + 2);
    if (p == NULL)
        return;
    if (v->len) {
        memcpy(p, v->data, v->len);
        p[v->len] = ',';
        p[v->len + 1] = ' ';
        memcpy(p + v->len + 2, item, len);
        v->len += len + 2;
    } else {
        memcpy(p, item, len);
        v->len = len;
    }
    v->data = p;
}

/* Records this try in $upstream_addr, $upstream_status, ...time. */
void
sl_proxy_record_try(struct sl_proxy_ctx *ctx, int status)
{
    struct sl_http_request *r = ctx->r;
    char buf[32];
    sl_msec_t ms;
    int n;

    if (ctx->server == NULL || ctx->recorded)
        return;
    ctx->recorded = 1;
    sl_proxy_var_append(r, &r->upstream_addr, ctx->server->addr_text,
                        strlen(ctx->server->addr_text));
    n = status > 0 ? snprintf(buf, sizeof(buf), "%d", status)
                   : snprintf(buf, sizeof(buf), "-");
    sl_proxy_var_append(r, &r->upstream_status, buf, (size_t) n);
    ms = sl_current_msec - ctx->try_start;
    n = snprintf(buf, sizeof(buf), "%lld.%03lld", (long long) (ms / 1000),
                 (long long) (ms % 1000));
    sl_proxy_var_append(r, &r->upstream_response_time, buf, (size_t) n);
}

/* Closes the upstream connection and ends the balancer's bookkeeping. */
void
sl_proxy_release_upstream(struct sl_proxy_ctx *ctx, int failed)
{
    /* $upstream_* cover the whole exchange, body included (nginx). */
    if (ctx->server_active && ctx->head_status > 0)
        sl_proxy_record_try(ctx, ctx->head_status);
    if (ctx->uc != NULL) {
        sl_conn_close(ctx->uc);
        ctx->uc = NULL;
    }
    if (ctx->server_active) {
        ctx->server_active = 0;
        ctx->u->balancer->done(ctx->u, ctx->server, failed);
    }
}

/* The request pool's cleanup: nothing upstream outlives the request. */
static void
sl_proxy_cleanup(void *data)
{
    struct sl_proxy_ctx *ctx = data;

    sl_proxy_release_upstream(ctx, 0);
    if (ctx->body_fd != -1) {
        close(ctx->body_fd);
        ctx->body_fd = -1;
    }
    if (ctx->rh != NULL) {
        sl_iobuf_put((char *) ctx->rh, sizeof(struct sl_http_head));
        ctx->rh = NULL;
    }
    if (ctx->rbuf != NULL) {
        sl_iobuf_put(ctx->rbuf, ctx->rbuf_size);
        ctx->rbuf = NULL;
    }
    if (ctx->relay != NULL) {
        sl_iobuf_put(ctx->relay, SL_PROXY_RELAY_SIZE);
        ctx->relay = NULL;
    }
    if (ctx->up.buf != NULL) {
        sl_iobuf_put(ctx->up.buf, SL_PROXY_RELAY_SIZE);
        ctx->up.buf = NULL;
    }
    if (ctx->sbuf != NULL) {
        sl_iobuf_put(ctx->sbuf, SL_PROXY_RELAY_SIZE);
        ctx->sbuf = NULL;
    }
    ctx->magic = 0;
}

static int
sl_proxy_idempotent(enum sl_http_method m)
{
    return m == SL_HTTP_GET || m == SL_HTTP_HEAD || m == SL_HTTP_PUT
           || m == SL_HTTP_DELETE || m == SL_HTTP_OPTIONS
           || m == SL_HTTP_TRACE;
}

/* ---- the request head sent upstream ------------------------------------------ */

/* Whether name is one of the comma-separated tokens in list. */
static int
sl_proxy_name_in_list(const struct sl_str *name, const struct sl_str *list)
{
    const char *p = list->data, *end = list->data + list->len, *s;
    size_t len;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        s = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        len = (size_t) (p - s);
        if (len && len == name->len && strncasecmp(s, name->data, len) == 0)
            return 1;
    }
    return 0;
}

int
sl_proxy_connection_lists(const struct sl_http_head *h,
    const struct sl_str *name)
{
    unsigned i;

    if (h->h_connection < 0)
        return 0;
    for (i = 0; i < h->nheaders; i++) {
        if (sl_str_caseeq(&h->headers[i].name, "connection")
            && sl_proxy_name_in_list(name, &h->headers[i].value))
        {
            return 1;
        }
    }
    return 0;
}

int
sl_proxy_hop_by_hop(const struct sl_str *n)
{
    static const char *names[] = {
        "connection", "keep-alive", "te", "trailer", "transfer-encoding",
        "upgrade", "proxy-connection", "proxy-authenticate",
        "proxy-authorization", "content-length", NULL
    };
    unsigned i;

    for (i = 0; names[i] != NULL; i++) {
        if (sl_str_caseeq(n, names[i]))
            return 1;
    }
    return 0;
}

/* Whether the client's header h must not be forwarded as is. */
static int
sl_proxy_skip_request_header(struct sl_proxy_ctx *ctx,
    const struct sl_http_header *h)
{
    struct sl_http_head *rq = ctx->r->head;
    struct sl_http_proxy_header *sh;
    unsigned i;

    /* cache hook: our validators replace the client's */
    if (sl_http_cache_skip_header(ctx->r, &h->name))
        return 1;
    if (sl_proxy_hop_by_hop(&h->name) || sl_str_caseeq(&h->name, "host")
        || sl_str_caseeq(&h->name, "expect")
        || sl_str_caseeq(&h->name, "x-forwarded-for")
        || sl_str_caseeq(&h->name, "x-forwarded-proto")
        || sl_str_caseeq(&h->name, "x-forwarded-host")
        || sl_str_caseeq(&h->name, "x-request-id")
        || sl_str_caseeq(&h->name, "via"))
    {
        return 1;
    }
    /*
     * Credentials auth_basic checked were meant for sluice, not the
     * upstream (proxy_set_header Authorization $http_authorization;
     * passes them on: a set header replaces the client's below).
     */
    if (ctx->r->auth_basic && sl_str_caseeq(&h->name, "authorization"))
        return 1;
    /* Headers the client named in Connection are hop-by-hop too. */
    if (sl_proxy_connection_lists(rq, &h->name))
        return 1;
    if (ctx->pcf->set_headers != NULL) {
        sh = ctx->pcf->set_headers->elts;
        for (i = 0; i < ctx->pcf->set_headers->nelts; i++) {
            if (sl_str_caseeqstr(&sh[i].name, &h->name))
                return 1;
        }
    }
    return 0;
}

/* Percent-encodes what must not appear raw in a request-target path. */
static size_t
sl_proxy_escape_path(char *dst, const char *src, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char ch;
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        ch = (unsigned char) src[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '%' || ch == '?' || ch == '#'
            || ch == '"' || ch == '<' || ch == '>' || ch == '\\'
            || ch == '^' || ch == '`' || ch == '{' || ch == '|' || ch == '}')
        {
            if (dst != NULL) {
                dst[o] = '%';
                dst[o + 1] = hex[ch >> 4];
                dst[o + 2] = hex[ch & 15];
            }
            o += 3;
        } else {
            if (dst != NULL)
                dst[o] = (char) ch;
            o++;
        }
    }
    return o;
}

/* The request-target to send: the client's, or with the URI replaced. */
static int
sl_proxy_target(struct sl_proxy_ctx *ctx, struct sl_str *t)
{
    struct sl_http_request *r = ctx->r;
    struct sl_http_proxy_conf *pcf = ctx->pcf;
    struct sl_http_head *h = r->head;
    const char *rest;
    size_t rlen, n;
    char *p;

    if (!pcf->has_uri) {
        if (h->request_target.len && h->request_target.data[0] == '/') {
            *t = h->request_target;
            return SL_OK;
        }
        /* absolute-form: send the path and the query */
        n = h->path.len + (h->args.data != NULL ? h->args.len + 1 : 0);
        p = sl_pnalloc(r->pool, n);
        if (p == NULL)
            return SL_ERROR;
        memcpy(p, h->path.data, h->path.len);
        if (h->args.data != NULL) {
            p[h->path.len] = '?';
            memcpy(p + h->path.len + 1, h->args.data, h->args.len);
        }
        t->data = p;
        t->len = n;
        return SL_OK;
    }
    /* The part of the URI the location matched is replaced (nginx). */
    rest = r->uri.data;
    rlen = r->uri.len;
    if (pcf->location.len <= rlen) {
        rest += pcf->location.len;
        rlen -= pcf->location.len;
    }
    n = pcf->uri.len + sl_proxy_escape_path(NULL, rest, rlen)
        + (h->args.data != NULL ? h->args.len + 1 : 0);
    p = sl_pnalloc(r->pool, n);
    if (p == NULL)
        return SL_ERROR;
    memcpy(p, pcf->uri.data, pcf->uri.len);
    n = pcf->uri.len + sl_proxy_escape_path(p + pcf->uri.len, rest, rlen);
    if (h->args.data != NULL) {
        p[n++] = '?';
        memcpy(p + n, h->args.data, h->args.len);
        n += h->args.len;
    }
    t->data = p;
    t->len = n;
    return SL_OK;
}

/* Whether proxy_set_header names this header (it then replaces ours). */
static int
sl_proxy_is_set(struct sl_proxy_ctx *ctx, const char *name)
{
    struct sl_http_proxy_header *sh;
    unsigned i;

    if (ctx->pcf->set_headers == NULL)
        return 0;
    sh = ctx->pcf->set_headers->elts;
    for (i = 0; i < ctx->pcf->set_headers->nelts; i++) {
        if (sl_str_caseeq(&sh[i].name, name))
            return 1;
    }
    return 0;
}

/* All the client's fields named name, joined with ", " (RFC 9110 5.3). */
static int
sl_proxy_joined(struct sl_http_request *r, const char *name,
    struct sl_str *out)
{
    struct sl_http_head *h = r->head;
    size_t len = 0;
    unsigned i, n = 0;
    char *p;

    out->len = 0;
    out->data = NULL;
    for (i = 0; i < h->nheaders; i++) {
        if (sl_str_caseeq(&h->headers[i].name, name)) {
            len += h->headers[i].value.len + 2;
            n++;
            *out = h->headers[i].value;
        }
    }
    if (n < 2)
        return SL_OK;
    p = sl_pnalloc(r->pool, len);
    if (p == NULL)
        return SL_ERROR;
    out->data = p;
    for (i = 0; i < h->nheaders; i++) {
        if (!sl_str_caseeq(&h->headers[i].name, name))
            continue;
        if (p != out->data) {
            *p++ = ',';
            *p++ = ' ';
        }
        memcpy(p, h->headers[i].value.data, h->headers[i].value.len);
        p += h->headers[i].value.len;
    }
    out->len = (size_t) (p - out->data);
    return SL_OK;
}

/* $proxy_add_x_forwarded_for: the client's X-Forwarded-For plus its address. */
static int
sl_proxy_var_add_xff(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    char client[SL_SOCKADDR_STRLEN];
    struct sl_str xff;
    size_t cl;
    char *p;

    (void) data;
    cl = sl_sockaddr_ntop(&r->c->peer.sa, client, sizeof(client), 0);
    if (sl_proxy_joined(r, "x-forwarded-for", &xff) != SL_OK)
        return SL_ERROR;
    p = sl_pnalloc(r->pool, xff.len + cl + 2);
    if (p == NULL)
        return SL_ERROR;
    v->data = p;
    if (xff.len) {
        memcpy(p, xff.data, xff.len);
        p += xff.len;
        *p++ = ',';
        *p++ = ' ';
    }
    memcpy(p, client, cl);
    v->len = (size_t) (p + cl - v->data);
    return SL_OK;
}

static int
sl_proxy_build_request(struct sl_proxy_ctx *ctx)
{
    struct sl_http_request *r = ctx->r;
    struct sl_http_head *h = r->head;
    struct sl_http_proxy_header *sh;
    struct sl_str target, v, xff, via, rid, host;
    struct sl_str *vals = NULL;
    unsigned i, nset = 0;
    size_t len;
    char *p, *last;

    if (sl_proxy_target(ctx, &target) != SL_OK
        || sl_proxy_var_add_xff(r, &xff, 0) != SL_OK
        || sl_proxy_joined(r, "via", &via) != SL_OK
        || sl_proxy_joined(r, "x-request-id", &rid) != SL_OK)
    {
        return SL_ERROR;
    }
    host.len = 0;
    host.data = NULL;
    if (h->h_host >= 0)
        host = h->headers[h->h_host].value;
    len = h->method_name.len + target.len + 64;
    for (i = 0; i < h->nheaders; i++)
        len += h->headers[i].name.len + h->headers[i].value.len + 4;
    if (rid.len == 0) {
        sl_http_var_get_pt get;
        uintptr_t data;
        struct sl_str name = sl_string("request_id");
        if (sl_http_variable_lookup(r->pool, &name, &get, &data) == SL_OK)
            (void) get(r, &rid, data);
    } else {
        r->request_id = rid;
    }
    if (ctx->pcf->set_headers != NULL) {
        nset = ctx->pcf->set_headers->nelts;
        sh = ctx->pcf->set_headers->elts;
        vals = sl_palloc(r->pool, (nset + 1) * sizeof(*vals));
        if (vals == NULL)
            return SL_ERROR;
        for (i = 0; i < nset; i++) {
            if (sl_http_complex_value(r, sh[i].value, &vals[i]) != SL_OK)
                return SL_ERROR;
            len += sh[i].name.len + vals[i].len + 4;
        }
    }
    len += xff.len + via.len + rid.len + host.len * 2 + ctx->u->name.len
           + 256 + sl_http_cache_head_len(r);
    if (ctx->upgrade)
        len += h->headers[h->h_upgrade].value.len + 64;

    ctx->req_head = sl_buf_create(r->pool, len);
    if (ctx->req_head == NULL)
        return SL_ERROR;
    p = ctx->req_head->last;
    last = ctx->req_head->end;
    /* cache hook: a HEAD whose answer is to be stored goes up as GET */
    if (sl_http_cache_convert_head(r))
        p = sl_append_lit(p, last, "GET");
    else
        p = sl_append_str(p, last, &h->method_name);
    p = sl_append_lit(p, last, " ");
    p = sl_append_str(p, last, &target);
    p = ctx->pcf->http_version ? sl_append_lit(p, last, " HTTP/1.1\r\n")
                               : sl_append_lit(p, last, " HTTP/1.0\r\n");
    /*
     * Fields sluice generates give way to proxy_set_header of the same
     * name (whose empty value removes them), so nginx configurations that
     * set them explicitly send each once.
     */
    if (!sl_proxy_is_set(ctx, "host")) {
        if (host.len)
            p = sl_append_header(p, last, "Host", 4, host.data, host.len);
        else
            p = sl_append_header(p, last, "Host", 4, ctx->u->name.data,
                                 ctx->u->name.len);
    }
    for (i = 0; i < h->nheaders; i++) {
        if (sl_proxy_skip_request_header(ctx, &h->headers[i]))
            continue;
        p = sl_append_header(p, last, h->headers[i].name.data,
                             h->headers[i].name.len, h->headers[i].value.data,
                             h->headers[i].value.len);
    }
    if (!sl_proxy_is_set(ctx, "x-forwarded-for"))
        p = sl_append_header(p, last, "X-Forwarded-For", 15, xff.data,
                             xff.len);
    if (!sl_proxy_is_set(ctx, "x-forwarded-proto"))
        p = r->c->ssl != NULL
            ? sl_append_lit(p, last, "X-Forwarded-Proto: https\r\n")
            : sl_append_lit(p, last, "X-Forwarded-Proto: http\r\n");
    if (host.len && !sl_proxy_is_set(ctx, "x-forwarded-host"))
        p = sl_append_header(p, last, "X-Forwarded-Host", 16, host.data,
                             host.len);
    if (!sl_proxy_is_set(ctx, "via")) {
        p = sl_append_lit(p, last, "Via: ");
        if (via.len) {
            p = sl_append_str(p, last, &via);
            p = sl_append_lit(p, last, ", ");
        }
        p = h->http_minor ? sl_append_lit(p, last, "1.1 sluice\r\n")
                          : sl_append_lit(p, last, "1.0 sluice\r\n");
    }
    if (rid.len && !sl_proxy_is_set(ctx, "x-request-id"))
        p = sl_append_header(p, last, "X-Request-ID", 12, rid.data, rid.len);
    for (i = 0; i < nset; i++) {
        sh = ctx->pcf->set_headers->elts;
        if (vals[i].len == 0)
            continue;       /* an empty value removes the header */
        p = sl_append_header(p, last, sh[i].name.data, sh[i].name.len,
                             vals[i].data, vals[i].len);
    }
    /* The framing is sluice's own: never taken from proxy_set_header. */
    if (ctx->stream_body && h->chunked) {
        p = sl_append_lit(p, last, "Transfer-Encoding: chunked\r\n");
    } else if (ctx->stream_body || ctx->body_len > 0
               || h->content_length >= 0 || h->chunked)
    {
        p = sl_append_lit(p, last, "Content-Length: ");
        p = sl_append_uint(p, last, ctx->stream_body
                                    ? (uint64_t) h->content_length
                                    : (uint64_t) ctx->body_len, 10);
        p = sl_append_lit(p, last, "\r\n");
    }
    if (ctx->upgrade) {
        v = h->headers[h->h_upgrade].value;
        if (!sl_proxy_is_set(ctx, "upgrade"))
            p = sl_append_header(p, last, "Upgrade", 7, v.data, v.len);
        if (!sl_proxy_is_set(ctx, "connection"))
            p = sl_append_lit(p, last, "Connection: upgrade\r\n");
    } else if ((ctx->u->keepalive == 0 || ctx->pcf->http_version == 0)
               && !sl_proxy_is_set(ctx, "connection"))
    {
        p = sl_append_lit(p, last, "Connection: close\r\n");
    }
    p = sl_http_cache_head_add(r, p, last);     /* cache hook */
    p = sl_append_lit(p, last, "\r\n");
    if (p == last)
        return SL_ERROR;        /* the size was counted: cannot happen */
    ctx->req_head->last = p;
    return SL_OK;
}

/* ---- reading the client's body -------------------------------------------- */

static int
sl_proxy_body_store(struct sl_proxy_ctx *ctx, const char *data, size_t len)
{
    struct sl_http_request *r = ctx->r;
    ssize_t n;

    ctx->body_len += (off_t) len;
    if (ctx->body_fd == -1) {
        if (ctx->body_mem_len + len <= (size_t) ctx->pcf->body_buffer_size) {
            if (ctx->body_mem == NULL) {
                ctx->body_mem = sl_pnalloc(r->pool,
                                           (size_t) ctx->pcf->body_buffer_size);
                if (ctx->body_mem == NULL)
                    return SL_ERROR;
            }
            memcpy(ctx->body_mem + ctx->body_mem_len, data, len);
            ctx->body_mem_len += len;
            return SL_OK;
        }
        /*
         * Beyond the memory bound the body goes to an anonymous file: the
         * worker's memory stays bounded however large the upload is, and
         * nothing is left behind if the worker dies.
         */
        ctx->body_fd = open(ctx->pcf->temp_path,
                            O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (ctx->body_fd == -1) {
            sl_log_error(SL_LOG_CRIT, errno, "open(O_TMPFILE) in \"%s\" "
                         "failed while buffering a request body",
                         ctx->pcf->temp_path);
            return SL_ERROR;
        }
    }
    while (len > 0) {
        n = write(ctx->body_fd, data, len);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            sl_log_error(SL_LOG_CRIT, errno, "write() to a request body "
                         "temporary file failed");
            return SL_ERROR;
        }
        data += n;
        len -= (size_t) n;
        ctx->body_file_len += n;
    }
    return SL_OK;
}

/* The store callback of sl_http_read_body(). */
static int
sl_proxy_body_store_cb(void *arg, const char *data, size_t len)
{
    return sl_proxy_body_store(arg, data, len);
}

/* The buffered body is complete: on to the upstream. */
static void
sl_proxy_body_ready(struct sl_http_request *r)
{
    struct sl_proxy_ctx *ctx = r->ctx[sl_http_proxy_module.index];

    if (sl_proxy_build_request(ctx) != SL_OK) {
        sl_http_send_error(r, 500);
        return;
    }
    sl_proxy_connect(ctx);
}

/* ---- the handler ------------------------------------------------------------ */

static int sl_proxy_start(struct sl_http_request *r);

static int
sl_http_proxy_handler(struct sl_http_request *r)
{
    int rc;

    /* cache hook: PURGE, hits and collapsing come before the origin */
    rc = sl_http_cache_request(r);
    if (rc != SL_DECLINED)
        return rc == SL_ERROR ? SL_ERROR : SL_OK;
    return sl_proxy_start(r);
}

void
sl_http_proxy_forward(struct sl_http_request *r)
{
    if (sl_proxy_start(r) == SL_ERROR)
        sl_http_send_error(r, 500);
}

static int
sl_proxy_start(struct sl_http_request *r)
{
    struct sl_http_proxy_conf *pcf;
    struct sl_http_head *h = r->head;
    struct sl_proxy_ctx *ctx;

    pcf = r->loc_conf[sl_http_proxy_module.index];
    SL_ASSERT(pcf->upstream != NULL);
    if (r->ctx == NULL) {
        r->ctx = sl_pcalloc(r->pool, sl_nmodules * sizeof(void *));
        if (r->ctx == NULL)
            return SL_ERROR;
    }
    ctx = sl_pcalloc(r->pool, sizeof(*ctx));
    if (ctx == NULL
        || sl_pool_cleanup_add(r->pool, sl_proxy_cleanup, ctx) == NULL)
    {
        return SL_ERROR;
    }
    ctx->magic = SL_PROXY_CTX_MAGIC;
    ctx->r = r;
    ctx->pcf = pcf;
    ctx->u = pcf->upstream;
    ctx->body_fd = -1;
    r->ctx[sl_http_proxy_module.index] = ctx;
    /* The method may only be GET for an upgrade (RFC 9110 7.8). */
    ctx->upgrade = h->conn_upgrade && h->h_upgrade >= 0
                   && h->method == SL_HTTP_GET && h->http_minor == 1;

    if ((h->content_length > 0 || h->chunked) && !pcf->request_buffering) {
        /*
         * proxy_request_buffering off: the body goes upstream as it
         * arrives, after the head, on the connection picked now.
         */
        r->body_rest = h->content_length > 0 ? h->content_length : 0;
        ctx->stream_body = 1;
        ctx->sbuf = sl_iobuf_get(SL_PROXY_RELAY_SIZE);
        if (ctx->sbuf == NULL)
            return SL_ERROR;
        if (h->expect_continue && r->hc->buf_len == r->hc->buf_pos) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            (void) sl_conn_send(r->c, cont, sizeof(cont) - 1);
        }
        r->c->read.handler = sl_proxy_client_handler;
    } else if (h->content_length > 0 || h->chunked) {
        r->body_rest = h->content_length > 0 ? h->content_length : 0;
        /*
         * The whole body is read before an upstream connection is taken,
         * so slow uploads never tie up upstream connections.
         */
        sl_http_read_body_then(r, sl_proxy_body_store_cb, ctx,
                               sl_proxy_body_ready);
        return SL_OK;
    }
    if (sl_proxy_build_request(ctx) != SL_OK)
        return SL_ERROR;
    sl_proxy_connect(ctx);
    return SL_OK;
}

/* ---- connecting and sending ------------------------------------------------- */

static void
sl_proxy_upstream_handler(struct sl_event *ev)
{
    struct sl_conn *uc = ev->data;
    struct sl_proxy_ctx *ctx = uc->data;
    int err = 0;
    socklen_t len;

    SL_CHECK_OBJ_NOTNULL(ctx, SL_PROXY_CTX_MAGIC);
    if (uc->close) {
        /* The worker is out of time: give up on this request. */
        sl_proxy_release_upstream(ctx, 0);
        sl_http_terminate(ctx->r);
        return;
    }
    switch (ctx->state) {
    case SL_PROXY_CONNECTING:
        if (!ev->write)
            return;
        if (ev->timedout) {
            sl_proxy_fail(ctx, SL_PROXY_FT_TIMEOUT, ETIMEDOUT,
                          "upstream timed out while connecting to upstream");
            return;
        }
        len = sizeof(err);
        if (getsockopt(uc->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
            err = errno;
        if (err != 0) {
            sl_proxy_fail(ctx, SL_PROXY_FT_ERROR, err,
                          "connect() failed while connecting to upstream");
            return;
        }
        sl_event_del_timer(&uc->write);
        sl_proxy_connected(ctx);
        return;
    case SL_PROXY_HANDSHAKE:
        if (ev->timedout) {
            sl_proxy_fail(ctx, SL_PROXY_FT_TIMEOUT, ETIMEDOUT,
                          "upstream timed out while SSL handshaking to "
                          "upstream");
            return;
        }
        sl_proxy_handshake(ctx);
        return;
    case SL_PROXY_SENDING:
        if (ev->timedout) {
            sl_proxy_fail(ctx, SL_PROXY_FT_TIMEOUT, ETIMEDOUT,
                          "upstream timed out while sending request to "
                          "upstream");
            return;
        }
        if (ev->write)
            sl_proxy_send_request(ctx);
        return;
    case SL_PROXY_READING_HEAD:
        if (ev->write)
            return;
        if (ev->timedout) {
            sl_proxy_fail(ctx, SL_PROXY_FT_TIMEOUT, ETIMEDOUT,
                          "upstream timed out while reading response header "
                          "from upstream");
            return;
        }
        sl_proxy_read_head(ctx);
        return;
    case SL_PROXY_RELAYING:
        if (ev->timedout) {
            sl_proxy_log(ctx, SL_LOG_ERR, ETIMEDOUT, "upstream timed out "
                         "while reading upstream");
            sl_proxy_release_upstream(ctx, 1);
            sl_http_terminate(ctx->r);
            return;
        }
        if (!ev->write)
            sl_proxy_relay(ctx);
        return;
    case SL_PROXY_TUNNEL:
        if (ev->timedout) {
            sl_proxy_release_upstream(ctx, 0);
            sl_http_terminate(ctx->r);
            return;
        }
        sl_proxy_tunnel(ctx);
        return;
    default:
        return;
    }
}

void
sl_proxy_client_handler(struct sl_event *ev)
{
    struct sl_conn *c = ev->data;
    struct sl_http_conn *hc = c->data;
    struct sl_proxy_ctx *ctx = hc->r->ctx[sl_http_proxy_module.index];

    SL_CHECK_OBJ_NOTNULL(ctx, SL_PROXY_CTX_MAGIC);
    if (c->close) {
        sl_proxy_release_upstream(ctx, 0);
        sl_http_terminate(ctx->r);
        return;
    }
    if (ctx->state == SL_PROXY_SENDING && ctx->stream_body && !ev->write) {
        if (ev->timedout) {
            /* client_body_timeout while streaming: nothing reached it. */
            sl_proxy_release_upstream(ctx, 0);
            ctx->r->keepalive = 0;
            ctx->state = SL_PROXY_DONE;
            sl_http_send_error(ctx->r, 408);
            return;
        }
        sl_proxy_stream_body(ctx);
        return;
    }
    if (ev->timedout) {
        sl_log_error(SL_LOG_INFO, ETIMEDOUT, "client timed out while "
                     "sending the response");
        /* A response being stored is read to its end all the same. */
        if (sl_proxy_detach(ctx)) {
            sl_proxy_relay(ctx);
            return;
        }
        sl_proxy_release_upstream(ctx, 0);
        sl_http_terminate(ctx->r);
        return;
    }
    if (ctx->state == SL_PROXY_RELAYING && ev->write)
        sl_proxy_relay(ctx);
    else if (ctx->state == SL_PROXY_TUNNEL)
        sl_proxy_tunnel(ctx);
}

/*
 * proxy_pass https://: the client handshake, run from the connection's
 * events until done and bounded by proxy_connect_timeout (a timer on the
 * write event).  A failed handshake is a connection error: the next
 * server is tried and the server's passive failure counts.
 */
static void
sl_proxy_handshake(struct sl_proxy_ctx *ctx)
{
    struct sl_conn *uc = ctx->uc;
    char reason[320], what[400];
    int rc;

    rc = sl_tls_client_handshake(uc, reason, sizeof(reason));
    if (rc == SL_AGAIN)
        return;
    if (rc != SL_OK) {
        snprintf(what, sizeof(what), "SSL_do_handshake() failed (%s) while "
                 "SSL handshaking to upstream", reason);
        sl_proxy_fail(ctx, SL_PROXY_FT_ERROR, 0, what);
        return;
    }
    sl_event_del_timer(&uc->write);
    ctx->state = SL_PROXY_SENDING;
    sl_proxy_send_request(ctx);
}

/* TCP is up: start TLS (proxy_pass https://) or send the request. */
static void
sl_proxy_connected(struct sl_proxy_ctx *ctx)
{
    struct sl_conn *uc = ctx->uc;

    if (ctx->pcf->ssl == NULL) {
        ctx->state = SL_PROXY_SENDING;
        sl_proxy_send_request(ctx);
        return;
    }
    if (sl_tls_client_start(uc, ctx->pcf->ssl, ctx->u, ctx->server, 1)
        != SL_OK)
    {
        sl_proxy_fail(ctx, SL_PROXY_FT_ERROR, 0, "cannot start SSL while "
                      "connecting to upstream");
        return;
    }
    ctx->state = SL_PROXY_HANDSHAKE;
    sl_event_add_timer(&uc->write, ctx->pcf->connect_timeout);
    sl_proxy_handshake(ctx);
}

static void
sl_proxy_open(struct sl_proxy_ctx *ctx, int allow_pooled)
{
    struct sl_upstream_server *s = ctx->server;
    struct sl_http_request *r = ctx->r;
    struct sl_conn *uc;
    int fd, on = 1;

    ctx->head_sent = 0;
    ctx->mem_sent = 0;
    ctx->file_sent = 0;
    ctx->req_bytes_sent = 0;
    ctx->rlen = 0;
    ctx->scan = 0;

    uc = allow_pooled ? sl_upstream_keepalive_get_tls(ctx->u, s,
                            ctx->pcf->ssl != NULL ? ctx->pcf->ssl->ctx : NULL)
                      : NULL;
    if (uc != NULL) {
        ctx->reused = 1;
        ctx->uc = uc;
        uc->data = ctx;
        uc->read.handler = sl_proxy_upstream_handler;
        uc->write.handler = sl_proxy_upstream_handler;
        ctx->state = SL_PROXY_SENDING;
        sl_proxy_send_request(ctx);
        return;
    }
    ctx->reused = 0;
    fd = socket(s->sa.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd == -1) {
        sl_proxy_log(ctx, SL_LOG_ALERT, errno, "socket() failed");
        sl_proxy_release_upstream(ctx, 0);
        sl_http_send_error(r, 502);
        return;
    }
    /* Heads and bodies go out whole; do not wait for more. */
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    uc = sl_conn_get(fd);
    if (uc == NULL) {
        /* Close an idle client connection to make room, as accept does. */
        sl_conn_drain(1);
        uc = sl_conn_get(fd);
    }
    if (uc == NULL) {
        close(fd);
        sl_log_error(SL_LOG_ALERT, 0, "%u worker_connections are not enough "
                     "for an upstream connection", sl_conn_active_count());
        sl_proxy_release_upstream(ctx, 0);
        sl_http_send_error(r, 502);
        return;
    }
    ctx->uc = uc;
    uc->data = ctx;
    uc->read.handler = sl_proxy_upstream_handler;
    uc->write.handler = sl_proxy_upstream_handler;
    memcpy(&uc->peer, &s->sa, s->socklen);
    uc->peer_len = s->socklen;
    if (sl_event_add_conn(fd, &uc->read, &uc->write) != SL_OK) {
        sl_proxy_release_upstream(ctx, 0);
        sl_http_send_error(r, 502);
        return;
    }
    ctx->state = SL_PROXY_CONNECTING;
    if (connect(fd, &s->sa.sa, s->socklen) == -1) {
        if (errno == EINPROGRESS) {
            sl_event_add_timer(&uc->write, ctx->pcf->connect_timeout);
            return;
        }
        /* Refused at once (as on loopback): the next server is tried. */
        sl_proxy_fail(ctx, SL_PROXY_FT_ERROR, errno,
                      "connect() failed while connecting to upstream");
        return;
    }
    sl_proxy_connected(ctx);
}

void
sl_proxy_connect(struct sl_proxy_ctx *ctx)
{
    struct sl_http_request *r = ctx->r;
    struct sl_upstream_server *s;
    int all_full = 0, status;

    s = ctx->u->balancer->get(ctx->u, r, &ctx->tried, &all_full);
    if (s == NULL) {
        if (ctx->tries == 0)
            sl_log_error(SL_LOG_ERR, 0, "no live upstreams in \"%.*s\" while "
                         "connecting to upstream", (int) ctx->u->name.len,
                         ctx->u->name.data);
        status = all_full ? 503
                 : ctx->last_fail == SL_PROXY_FT_TIMEOUT ? 504
                 : ctx->tries == 0 ? 503 : 502;
        if (r->upstream_addr.len == 0)
            r->upstream_addr = ctx->u->name;
        ctx->state = SL_PROXY_DONE;
        /* cache hook: every server down -- stale may stand in */
        if (sl_http_cache_error(r, status, status == 504) == SL_OK)
            return;
        sl_http_send_error(r, status);
        return;
    }
    ctx->server = s;
    ctx->server_active = 1;
    ctx->recorded = 0;
    ctx->head_status = 0;
    ctx->tries++;
    ctx->try_start = sl_current_msec;
    sl_proxy_open(ctx, 1);
}

/* Whether the request may go to another server after failure ft. */
int
sl_proxy_can_retry(struct sl_proxy_ctx *ctx, int ft)
{
    struct sl_http_proxy_conf *pcf = ctx->pcf;
    struct sl_http_request *r = ctx->r;

    if (r->header_sent || (pcf->next_upstream & SL_PROXY_FT_OFF)
        || !(pcf->next_upstream & ft))
    {
        return 0;
    }
    if (pcf->next_upstream_tries > 0
        && ctx->tries >= (unsigned) pcf->next_upstream_tries)
    {
        return 0;
    }
    /* A streamed body cannot be sent again. */
    if (ctx->body_streamed > 0)
        return 0;
    /* A request that may have been acted upon is not sent twice. */
    if (ctx->req_bytes_sent > 0 && !sl_proxy_idempotent(r->head->method)
        && !(pcf->next_upstream & SL_PROXY_FT_NON_IDEMPOTENT))
    {
        return 0;
    }
    return 1;
}

/*
 * A try failed: log it, count it against the server, then try the next
 * server or answer 502 (504 for a timeout).
 */
void
sl_proxy_fail(struct sl_proxy_ctx *ctx, int ft, int err, const char *what)
{
    struct sl_http_request *r = ctx->r;

    sl_proxy_log(ctx, SL_LOG_ERR, err, what);
    sl_proxy_record_try(ctx, ft == SL_PROXY_FT_TIMEOUT ? 504 : 502);
    sl_proxy_release_upstream(ctx, 1);
    ctx->last_fail = ft;
    if (sl_proxy_can_retry(ctx, ft)) {
        sl_proxy_connect(ctx);
        return;
    }
    ctx->state = SL_PROXY_DONE;
    /* cache hook: a stale object may stand in for the error */
    if (sl_http_cache_error(r, ft == SL_PROXY_FT_TIMEOUT ? 504 : 502,
                            ft == SL_PROXY_FT_TIMEOUT) == SL_OK)
    {
        return;
    }
    sl_http_send_error(r, ft == SL_PROXY_FT_TIMEOUT ? 504 : 502);
}

/*
 * A pooled connection that the server had closed fails on first use: that
 * says nothing about the server, so the request goes again on a new
 * connection to the same server.
 */
int
sl_proxy_stale_retry_ok(struct sl_proxy_ctx *ctx)
{
    /*
     * Only a pooled connection, only before any response byte, never with
     * a streamed body (it cannot be sent again) and, once the request went
     * out, only for a method that may be repeated (RFC 9112 9.3.1).
     */
    return ctx->reused && ctx->rlen == 0 && ctx->body_streamed == 0
           && (ctx->req_bytes_sent == 0
               || sl_proxy_idempotent(ctx->r->head->method));
}

void
sl_proxy_retry_fresh(struct sl_proxy_ctx *ctx)
{
    sl_conn_close(ctx->uc);
    ctx->uc = NULL;
    sl_proxy_open(ctx, 0);
}

/*
 * A body spooled to a file goes over TLS through a buffer (no sendfile
 * into SSL_write).  A retry after EAGAIN reads the same offset again, so
 * OpenSSL is offered the same bytes.  Returns what send() would.
 */
static ssize_t
sl_proxy_send_file_tls(struct sl_proxy_ctx *ctx)
{
    static char buf[16384];
    ssize_t n;

    n = pread(ctx->body_fd, buf, (size_t) sl_min((off_t) sizeof(buf),
              ctx->body_file_len - ctx->file_sent), ctx->file_sent);
    if (n <= 0) {
        if (n == 0)
            errno = EIO;    /* the file shrank: cannot happen */
        return -1;
    }
    return sl_conn_send(ctx->uc, buf, (size_t) n);
}

static void
sl_proxy_send_request(struct sl_proxy_ctx *ctx)
{
    struct sl_conn *uc = ctx->uc;
    struct iovec iov[2];
    struct sl_buf *hb = ctx->req_head;
    size_t hlen = sl_buf_size(hb);
    off_t off;
    ssize_t n;
    int niov;

    for (;;) {
        niov = 0;
        if (ctx->head_sent < hlen) {
            iov[niov].iov_base = hb->pos + ctx->head_sent;
            iov[niov].iov_len = hlen - ctx->head_sent;
            niov++;
        }
        if (ctx->mem_sent < ctx->body_mem_len) {
            iov[niov].iov_base = ctx->body_mem + ctx->mem_sent;
            iov[niov].iov_len = ctx->body_mem_len - ctx->mem_sent;
            niov++;
        }
        if (niov > 0) {
            n = sl_conn_writev(uc, iov, niov);
        } else if (ctx->body_fd != -1 && ctx->file_sent < ctx->body_file_len
                   && uc->ssl != NULL)
        {
            n = sl_proxy_send_file_tls(ctx);
        } else if (ctx->body_fd != -1 && ctx->file_sent < ctx->body_file_len) {
            off = ctx->file_sent;
            n = sendfile(uc->fd, ctx->body_fd, &off,
                         (size_t) (ctx->body_file_len - ctx->file_sent));
        } else {
            break;
        }
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                uc->write.ready = 0;
                sl_event_add_timer(&uc->write, ctx->pcf->send_timeout);
                return;
            }
            if (errno == EINTR)
                continue;
            if (sl_proxy_stale_retry_ok(ctx)) {
                sl_proxy_retry_fresh(ctx);
                return;
            }
            sl_proxy_fail(ctx, SL_PROXY_FT_ERROR, errno,
                          "send() failed while sending request to upstream");
            return;
        }
        ctx->req_bytes_sent += (uint64_t) n;
        if (niov == 0) {
            ctx->file_sent += n;
            continue;
        }
        if (ctx->head_sent < hlen) {
            size_t h = sl_min((size_t) n, hlen - ctx->head_sent);
            ctx->head_sent += h;
            n -= (ssize_t) h;
        }
        ctx->mem_sent += (size_t) n;
    }

    sl_event_del_timer(&uc->write);
    if (ctx->stream_body && !ctx->body_complete) {
        sl_proxy_stream_body(ctx);
        return;
    }
    ctx->state = SL_PROXY_READING_HEAD;
    if (ctx->rbuf == NULL) {
        ctx->rbuf_size = (size_t) ctx->pcf->buffer_size;
        ctx->rbuf = sl_iobuf_get(ctx->rbuf_size);
        ctx->rh = (struct sl_http_head *) sl_iobuf_get(
                      sizeof(struct sl_http_head));
        if (ctx->rbuf == NULL || ctx->rh == NULL) {
            sl_proxy_release_upstream(ctx, 0);
            sl_http_send_error(ctx->r, 500);
            return;
        }
    }
    sl_event_add_timer(&uc->read, ctx->pcf->read_timeout);
    /*
     * The answer cannot be there yet: wait for its edge rather than try a
     * recv() that would fail with EAGAIN.  The connection is registered
     * edge-triggered, so the answer's arrival wakes us.
     */
    uc->read.ready = 0;
}

/* ---- streaming the request body (proxy_request_buffering off) ------------------ */

/*
 * Frames body bytes for the upstream: counts Content-Length down, or
 * decodes chunks in place and queues them as one chunk.  Returns the
 * number of input bytes used, or -1 with *status set (400, 413).
 */
static ssize_t
sl_proxy_stream_frame(struct sl_proxy_ctx *ctx, char *p, size_t n,
    int *status)
{
    struct sl_http_request *r = ctx->r;
    const char *q = p, *end = p + n, *data;
    size_t dlen, out = 0;
    int rc;

    ctx->nsb = 0;
    if (!r->head->chunked) {
        if ((int64_t) n > r->body_rest)
            n = (size_t) r->body_rest;
        r->body_rest -= (int64_t) n;
        r->body_received += n;
        if (r->body_rest == 0)
            ctx->body_complete = 1;
        ctx->sb[0].pos = p;
        ctx->sb[0].last = p + n;
        ctx->nsb = 1;
        return (ssize_t) n;
    }
    while (q < end) {
        rc = sl_http_chunked_parse(&r->chunked, &q, end, &data, &dlen);
        if (rc == SL_ERROR) {
            *status = 400;
            return -1;
        }
        if (rc == SL_OK) {
            memmove(p + out, data, dlen);
            out += dlen;
            r->body_received += dlen;
            if (r->loc->client_max_body_size > 0
                && r->body_received > (uint64_t) r->loc->client_max_body_size)
            {
                *status = 413;
                return -1;
            }
            continue;
        }
        if (rc == SL_DONE)
            ctx->body_complete = 1;
        break;
    }
    if (out > 0) {
        int len = snprintf(ctx->sb_line, sizeof(ctx->sb_line), "%zx\r\n", out);
        ctx->sb[0].pos = ctx->sb_line;
        ctx->sb[0].last = ctx->sb_line + len;
        ctx->sb[1].pos = p;
        ctx->sb[1].last = p + out;
        ctx->sb[2].pos = (char *) "\r\n";
        ctx->sb[2].last = ctx->sb[2].pos + 2;
        ctx->nsb = 3;
    }
    if (ctx->body_complete) {
        /* The last chunk goes with this round (no trailers forwarded). */
        ctx->sb[ctx->nsb].pos = (char *) "0\r\n\r\n";
        ctx->sb[ctx->nsb].last = ctx->sb[ctx->nsb].pos + 5;
        ctx->nsb++;
    }
    return q - p;
}

static void
sl_proxy_stream_body(struct sl_proxy_ctx *ctx)
{
    struct sl_http_request *r = ctx->r;
    struct sl_http_conn *hc = r->hc;
    struct sl_conn *c = r->c, *uc = ctx->uc;
    struct iovec iov[4];
    size_t want, have;
    ssize_t n, used;
    unsigned i, k;
    int status = 0;

    ctx->state = SL_PROXY_SENDING;
    for (;;) {
        /* Send what is framed before reading more. */
        for (;;) {
            k = 0;
            for (i = 0; i < ctx->nsb; i++) {
                if (ctx->sb[i].pos < ctx->sb[i].last) {
                    iov[k].iov_base = ctx->sb[i].pos;
                    iov[k].iov_len = (size_t) (ctx->sb[i].last
                                               - ctx->sb[i].pos);
                    k++;
                }
            }
            if (k == 0)
                break;
            n = sl_conn_writev(uc, iov, (int) k);
            if (n == -1) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    uc->write.ready = 0;
                    sl_event_add_timer(&uc->write, ctx->pcf->send_timeout);
                    return;
                }
                if (errno == EINTR)
                    continue;
                sl_proxy_fail(ctx, SL_PROXY_FT_ERROR, errno, "send() failed "
                              "while sending request body to upstream");
                return;
            }
            ctx->req_bytes_sent += (uint64_t) n;
            ctx->body_streamed += (uint64_t) n;
            for (i = 0; i < ctx->nsb && n > 0; i++) {
                size_t b = (size_t) (ctx->sb[i].last - ctx->sb[i].pos);
                if ((size_t) n < b)
                    b = (size_t) n;
                ctx->sb[i].pos += b;
                n -= (ssize_t) b;
            }
        }
        sl_event_del_timer(&uc->write);
        ctx->nsb = 0;
        if (ctx->body_complete) {
            sl_event_del_timer(&c->read);
            c->read.handler = sl_http_empty_handler;
            r->body_done = 1;
            sl_proxy_send_request(ctx);     /* on to the response head */
            return;
        }
        /* Body bytes that came with the head first, then the socket. */
        if (hc->buf_pos < hc->buf_len) {
            have = sl_min(hc->buf_len - hc->buf_pos,
                          (size_t) SL_PROXY_RELAY_SIZE);
            memcpy(ctx->sbuf, hc->buf + hc->buf_pos, have);
            n = (ssize_t) have;
        } else {
            want = SL_PROXY_RELAY_SIZE;
            if (!r->head->chunked && (int64_t) want > r->body_rest)
                want = (size_t) r->body_rest;
            if (r->head->chunked && want > hc->buf_size)
                want = hc->buf_size;
            n = sl_conn_recv(c, ctx->sbuf, want);
            if (n == -1) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    c->read.ready = 0;
                    sl_event_add_timer(&c->read, r->loc->client_body_timeout);
                    return;
                }
                if (errno == EINTR)
                    continue;
                n = 0;
            }
            if (n == 0) {
                /* The client went away in the middle of its body. */
                sl_proxy_release_upstream(ctx, 0);
                sl_http_terminate(r);
                return;
            }
            have = 0;
        }
        used = sl_proxy_stream_frame(ctx, ctx->sbuf, (size_t) n, &status);
        if (used < 0) {
            sl_proxy_release_upstream(ctx, 0);
            r->keepalive = 0;
            ctx->state = SL_PROXY_DONE;
            sl_http_send_error(r, status);
            return;
        }
        r->request_length += (size_t) used;
        if (have > 0) {
            hc->buf_pos += (size_t) used;
        } else if ((size_t) used < (size_t) n) {
            /* Read past the body: the next pipelined request. */
            r->leftover.len = (size_t) n - (size_t) used;
            r->leftover.data = sl_pnalloc(r->pool, r->leftover.len);
            if (r->leftover.data == NULL) {
                sl_proxy_release_upstream(ctx, 0);
                sl_http_terminate(r);
                return;
            }
            memcpy(r->leftover.data, ctx->sbuf + used, r->leftover.len);
        }
    }
}
