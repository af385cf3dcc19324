/*
 * sl_cache.c: the HTTP cache on the request path (proxy_cache*).
 *
 *   proxy_cache NAME | off;            proxy_cache_key STRING;
 *   proxy_cache_valid [CODE ...] TIME; proxy_cache_use_stale WHAT ...;
 *   proxy_cache_lock on | off;         proxy_cache_lock_timeout TIME;
 *   proxy_cache_methods GET | HEAD | POST ...;
 *   proxy_cache_bypass STRING ...;     proxy_no_cache STRING ...;
 *   proxy_cache_purge on | off;        proxy_cache_convert_head on | off;
 *                                                  http, server, location
 *
 * The proxy (sl_http_proxy.c) calls in at a few points, in the order a
 * request lives:
 *
 *   sl_http_cache_request()   before anything goes upstream: PURGE, the
 *       key, request directives, lookup.  A usable object is sent from
 *       shared memory at once (head pieces and body iovecs point into the
 *       store; one writev); a miss claims the key so that one request per
 *       key goes to the origin while the others poll for the result with a
 *       short back-off; a stale object is revalidated with the origin's
 *       validators, or served at once while a background request
 *       refreshes it (stale-while-revalidate, use_stale updating).
 *   sl_http_cache_convert_head()  a HEAD whose answer may be stored goes
 *       upstream as GET (proxy_cache_convert_head, on by default, as in
 *       nginx), so that the whole response is stored; its client gets
 *       the head only.
 *   sl_http_cache_response()  the origin's head: a 304 freshens the stored
 *       object, a 5xx may be replaced by a stale object, a storable answer
 *       starts a new object, a successful unsafe method invalidates.
 *   sl_http_cache_body()      every payload byte relayed to the client is
 *       appended to the object, which is committed at the end of a
 *       complete body (and aborted by the request pool's cleanup if the
 *       body never completes).  The store never makes the client wait.
 *   sl_http_cache_storing()   the client went away mid-body: while the
 *       object is still being stored the proxy lets the client go and goes
 *       on reading the origin into the store (as nginx ignores a client's
 *       abort for a cacheable response), so that the clients collapsed
 *       behind this one get the object instead of timing out.
 *   sl_http_cache_error()     the origin failed: serve stale if allowed.
 *
 * The background refresh is a detached request: a connection slot whose
 * descriptor is /dev/null (so every write "succeeds" and is discarded)
 * carrying a copy of the client's request head.  It runs the unchanged
 * proxy path, which stores what the origin answers, and ends as any
 * request does (its pool and slot freed by the usual close), without an
 * access log line.  This costs the proxy nothing: it never learns that
 * nobody is listening.
 *
 * Policy (what may be stored, how fresh it is, Vary, conditionals,
 * ranges) is sl_cache_policy.c; the shared-memory store is
 * sl_cache_store.c; the zones are sl_cache_zone.c.
 */
#include "sl_core.h"
#include "sl_cache.h"
#include "sl_cache_policy.h"
#include "sl_http_proxy.h"
#include "sl_http_variables.h"
#include "sl_event.h"
#include "sl_process.h"

#include <fcntl.h>
#include <strings.h>

#define SL_CACHE_WAIT_MIN       2       /* ms: first collapsing back-off */
#define SL_CACHE_WAIT_MAX       50      /* ms: back-off cap */
#define SL_CACHE_VARY_MAX       2048    /* bytes of a vary blob */
#define SL_CACHE_IOV            64      /* iovecs asked per call */

/* proxy_cache_use_stale */
#define SL_CACHE_STALE_ERROR    0x0001
#define SL_CACHE_STALE_TIMEOUT  0x0002
#define SL_CACHE_STALE_UPDATING 0x0004
#define SL_CACHE_STALE_500      0x0008
#define SL_CACHE_STALE_502      0x0010
#define SL_CACHE_STALE_503      0x0020
#define SL_CACHE_STALE_504      0x0040
#define SL_CACHE_STALE_403      0x0080
#define SL_CACHE_STALE_404      0x0100
#define SL_CACHE_STALE_429      0x0200
#define SL_CACHE_STALE_OFF      0x8000

/* proxy_cache_methods: bits by enum sl_http_method */
#define SL_CACHE_M(m)           (1U << (m))

struct sl_cache_loc_conf {
    int                     set;        /* UNSET, 0 (off), 1 (a zone) */
    struct sl_str           zone_name;
    const char             *file;       /* of proxy_cache, for errors */
    unsigned                line;
    struct sl_cache_zone   *zone;       /* resolved at merge */
    struct sl_http_complex_value *key;
    struct sl_array        *valid;      /* struct sl_cache_valid */
    int                     use_stale;
    int                     lock;
    sl_msec_t               lock_timeout;
    int                     methods;
    struct sl_array        *bypass;     /* struct sl_http_complex_value * */
    struct sl_array        *no_cache;
    int                     purge;
    int                     convert_head;
};

/* RFC 9211 fwd= values */
enum sl_cache_fwd {
    SL_CACHE_FWD_NONE = 0,      /* hit */
    SL_CACHE_FWD_MISS,
    SL_CACHE_FWD_VARY_MISS,
    SL_CACHE_FWD_STALE,
    SL_CACHE_FWD_REQUEST,
    SL_CACHE_FWD_BYPASS,
    SL_CACHE_FWD_METHOD
};

struct sl_cache_ctx {
    unsigned                magic;
#define SL_CACHE_CTX_MAGIC  0x43435458U
    struct sl_http_request *r;
    struct sl_cache_loc_conf *ccf;
    struct sl_cache_store  *store;
    struct sl_str           key;
    const struct sl_http_head *req;     /* the request as policy sees it */
    struct sl_cache_cc      rcc;        /* its Cache-Control */
    struct sl_cache_obj    *obj;        /* object found (referenced) */
    struct sl_cache_meta    meta;       /* its metadata */
    struct sl_cache_obj    *wobj;       /* object being written */
    int64_t                 request_time;
    sl_msec_t               wait_end;   /* collapsing: give up at */
    sl_msec_t               backoff;
    struct sl_event         timer;
    enum sl_cache_fwd       fwd;
    int                     fwd_status; /* origin's status, for fwd-status */
    const char             *detail;     /* Cache-Status detail= */
    int                     answer;     /* what sl_http_cache_answer sends */
#define SL_CACHE_ANSWER_OBJ     1       /* ctx->obj */
    unsigned                claimed:1;
    unsigned                store_ok:1;     /* the response may be stored */
    unsigned                revalidate:1;   /* our validators went out */
    unsigned                background:1;   /* a detached refresh */
    unsigned                collapsed:1;    /* waited for another fetch */
    unsigned                invalidate:1;   /* unsafe method */
    unsigned                stored:1;
    unsigned                lookup_done:1;
    unsigned                ranged:1;       /* relaying a range of it */
    unsigned                convert_head:1; /* a HEAD sent up as GET */
    int64_t                 rstart;         /* the range, inclusive */
    int64_t                 rend;
    int64_t                 roff;           /* payload bytes seen */
};

static int sl_cache_set_zone(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_cache_set_key(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_cache_set_valid(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_cache_set_use_stale(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_cache_set_methods(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_cache_set_cv_list(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);
static int sl_cache_set_lock_timeout(struct sl_conf_ctx *, const struct sl_conf_cmd *, void *);

#define SL_CACHE_CTX   (SL_CONF_HTTP | SL_CONF_SERVER | SL_CONF_LOCATION)

static const struct sl_conf_cmd sl_cache_cmds[] = {
    { "proxy_cache", SL_CACHE_CTX | SL_CONF_TAKE1, sl_cache_set_zone,
      SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "proxy_cache_key", SL_CACHE_CTX | SL_CONF_TAKE1, sl_cache_set_key,
      SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "proxy_cache_valid", SL_CACHE_CTX | SL_CONF_1MORE | SL_CONF_MULTI,
      sl_cache_set_valid, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "proxy_cache_use_stale", SL_CACHE_CTX | SL_CONF_1MORE,
      sl_cache_set_use_stale, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "proxy_cache_lock", SL_CACHE_CTX | SL_CONF_TAKE1, sl_conf_set_flag,
      SL_CONF_LEVEL_HTTP_LOC, offsetof(struct sl_cache_loc_conf, lock),
      NULL },
    { "proxy_cache_lock_timeout", SL_CACHE_CTX | SL_CONF_TAKE1,
      sl_cache_set_lock_timeout, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_cache_loc_conf, lock_timeout), NULL },
    { "proxy_cache_methods", SL_CACHE_CTX | SL_CONF_1MORE,
      sl_cache_set_methods, SL_CONF_LEVEL_HTTP_LOC, 0, NULL },
    { "proxy_cache_bypass", SL_CACHE_CTX | SL_CONF_1MORE | SL_CONF_MULTI,
      sl_cache_set_cv_list, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_cache_loc_conf, bypass), NULL },
    { "proxy_no_cache", SL_CACHE_CTX | SL_CONF_1MORE | SL_CONF_MULTI,
      sl_cache_set_cv_list, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_cache_loc_conf, no_cache), NULL },
    { "proxy_cache_purge", SL_CACHE_CTX | SL_CONF_TAKE1, sl_conf_set_flag,
      SL_CONF_LEVEL_HTTP_LOC, offsetof(struct sl_cache_loc_conf, purge),
      NULL },
    { "proxy_cache_convert_head", SL_CACHE_CTX | SL_CONF_TAKE1,
      sl_conf_set_flag, SL_CONF_LEVEL_HTTP_LOC,
      offsetof(struct sl_cache_loc_conf, convert_head), NULL },
    { NULL, 0, NULL, 0, 0, NULL }
};

/* ---- configuration ------------------------------------------------------- */

static void *
sl_cache_create_loc(struct sl_conf_ctx *cf)
{
    struct sl_cache_loc_conf *ccf;

    ccf = sl_pcalloc(cf->pool, sizeof(*ccf));
    if (ccf == NULL)
        return NULL;
    ccf->set = SL_CONF_UNSET;
    ccf->key = SL_CONF_UNSET_PTR;
    ccf->valid = SL_CONF_UNSET_PTR;
    ccf->use_stale = SL_CONF_UNSET;
    ccf->lock = SL_CONF_UNSET;
    ccf->lock_timeout = SL_CONF_UNSET_MSEC;
    ccf->methods = SL_CONF_UNSET;
    ccf->bypass = SL_CONF_UNSET_PTR;
    ccf->no_cache = SL_CONF_UNSET_PTR;
    ccf->convert_head = SL_CONF_UNSET;
    ccf->purge = SL_CONF_UNSET;
    return ccf;
}

static int
sl_cache_merge_loc(struct sl_conf_ctx *cf, void *parent, void *child)
{
    static struct sl_str dflt_key = sl_string("$scheme$host$request_uri");
    struct sl_cache_loc_conf *prev = parent, *conf = child;

    if (conf->set == SL_CONF_UNSET) {
        conf->set = prev->set == SL_CONF_UNSET ? 0 : prev->set;
        conf->zone_name = prev->zone_name;
        conf->file = prev->file;
        conf->line = prev->line;
        conf->zone = prev->zone;
    }
    /*
     * Zones may be declared anywhere in http{}, before or after their
     * use: the name is resolved here, once the whole block is read.
     */
    if (conf->set == 1 && conf->zone == NULL) {
        conf->zone = sl_cache_zone_find(cf, &conf->zone_name);
        if (conf->zone == NULL) {
            sl_conf_node_error(cf, NULL, "%s:%u: unknown cache zone \"%.*s\" "
                               "in \"proxy_cache\"", conf->file, conf->line,
                               (int) conf->zone_name.len,
                               conf->zone_name.data);
            return SL_ERROR;
        }
    }
    if (conf->key == SL_CONF_UNSET_PTR) {
        if (prev->key != SL_CONF_UNSET_PTR) {
            conf->key = prev->key;
        } else {
            conf->key = sl_http_compile_complex_value(cf, &dflt_key);
            if (conf->key == NULL)
                return SL_ERROR;
            prev->key = conf->key;
        }
    }
    sl_conf_merge_ptr(conf->valid, prev->valid, NULL);
    sl_conf_merge(conf->use_stale, prev->use_stale, 0);
    sl_conf_merge(conf->lock, prev->lock, 1);
    sl_conf_merge(conf->lock_timeout, prev->lock_timeout, 5000);
    sl_conf_merge(conf->methods, prev->methods,
                  (int) (SL_CACHE_M(SL_HTTP_GET) | SL_CACHE_M(SL_HTTP_HEAD)));
    sl_conf_merge_ptr(conf->bypass, prev->bypass, NULL);
    sl_conf_merge_ptr(conf->no_cache, prev->no_cache, NULL);
    sl_conf_merge(conf->purge, prev->purge, 0);
    sl_conf_merge(conf->convert_head, prev->convert_head, 1);
    return SL_OK;
}

struct sl_module sl_http_cache_module = {
    "http_cache", sl_cache_cmds, NULL, NULL, NULL, NULL,
    NULL, NULL, sl_cache_create_loc, sl_cache_merge_loc, NULL, 0
};

static int
sl_cache_set_zone(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_cache_loc_conf *ccf = conf;
    struct sl_str *a = &cf->node->args[0];

    if (ccf->set != SL_CONF_UNSET) {
        sl_conf_error(cf, "\"proxy_cache\" directive is duplicate");
        return SL_ERROR;
    }
    if (sl_str_eq(a, "off")) {
        ccf->set = 0;
        ccf->zone = NULL;
        return SL_OK;
    }
    if (a->len == 0 || memchr(a->data, '$', a->len) != NULL) {
        sl_conf_error(cf, "invalid cache zone name \"%.*s\"", (int) a->len,
                      a->data);
        return SL_ERROR;
    }
    ccf->set = 1;
    ccf->zone_name = *a;
    ccf->file = cf->node->file;
    ccf->line = cf->node->line;
    return SL_OK;
}

static int
sl_cache_set_key(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_cache_loc_conf *ccf = conf;

    if (ccf->key != SL_CONF_UNSET_PTR) {
        sl_conf_error(cf, "\"proxy_cache_key\" directive is duplicate");
        return SL_ERROR;
    }
    if (cf->node->args[0].len == 0) {
        sl_conf_error(cf, "empty \"proxy_cache_key\"");
        return SL_ERROR;
    }
    ccf->key = sl_http_compile_complex_value(cf, &cf->node->args[0]);
    return ccf->key == NULL ? SL_ERROR : SL_OK;
}

/*
 * proxy_cache_valid [CODE ...] TIME: without codes, 200 301 302 (nginx);
 * "any" matches every status.  Repeated directives add to the list.
 */
static int
sl_cache_set_valid(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    static const int dflt[] = { 200, 301, 302 };
    struct sl_cache_loc_conf *ccf = conf;
    struct sl_conf_node *n = cf->node;
    struct sl_cache_valid *v;
    sl_msec_t ms;
    int64_t code;
    unsigned i;

    if (sl_conf_parse_msec(&n->args[n->nargs - 1], &ms) != SL_OK || ms < 0) {
        sl_conf_error(cf, "invalid time \"%.*s\" in \"proxy_cache_valid\"",
                      (int) n->args[n->nargs - 1].len,
                      n->args[n->nargs - 1].data);
        return SL_ERROR;
    }
    if (ccf->valid == SL_CONF_UNSET_PTR) {
        ccf->valid = sl_array_create(cf->pool, 4, sizeof(*v));
        if (ccf->valid == NULL)
            return SL_ERROR;
    }
    if (n->nargs == 1) {
        for (i = 0; i < sl_nelems(dflt); i++) {
            v = sl_array_push(ccf->valid);
            if (v == NULL)
                return SL_ERROR;
            v->status = dflt[i];
            v->seconds = ms / 1000;
        }
        return SL_OK;
    }
    for (i = 0; i + 1 < n->nargs; i++) {
        if (sl_str_eq(&n->args[i], "any")) {
            code = 0;
        } else if (sl_conf_parse_int(&n->args[i], &code) != SL_OK
                   || code < 100 || code > 599)
        {
            sl_conf_error(cf, "invalid status code \"%.*s\" in "
                          "\"proxy_cache_valid\"", (int) n->args[i].len,
                          n->args[i].data);
            return SL_ERROR;
        }
        v = sl_array_push(ccf->valid);
        if (v == NULL)
            return SL_ERROR;
        v->status = (int) code;
        v->seconds = ms / 1000;
    }
    return SL_OK;
}

static const struct sl_conf_enum sl_cache_stale_names[] = {
    { "error", SL_CACHE_STALE_ERROR },
    { "timeout", SL_CACHE_STALE_TIMEOUT },
    { "updating", SL_CACHE_STALE_UPDATING },
    { "invalid_header", SL_CACHE_STALE_ERROR },
    { "http_500", SL_CACHE_STALE_500 },
    { "http_502", SL_CACHE_STALE_502 },
    { "http_503", SL_CACHE_STALE_503 },
    { "http_504", SL_CACHE_STALE_504 },
    { "http_403", SL_CACHE_STALE_403 },
    { "http_404", SL_CACHE_STALE_404 },
    { "http_429", SL_CACHE_STALE_429 },
    { "off", SL_CACHE_STALE_OFF },
    { NULL, 0 }
};

static int
sl_cache_set_use_stale(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_cache_loc_conf *ccf = conf;
    const struct sl_conf_enum *e;
    unsigned i;
    int mask = 0;

    for (i = 0; i < cf->node->nargs; i++) {
        for (e = sl_cache_stale_names; e->name != NULL; e++) {
            if (sl_str_eq(&cf->node->args[i], e->name))
                break;
        }
        if (e->name == NULL) {
            sl_conf_error(cf, "invalid value \"%.*s\" in \"%s\" directive",
                          (int) cf->node->args[i].len,
                          cf->node->args[i].data, cmd->name);
            return SL_ERROR;
        }
        mask |= e->value;
    }
    if ((mask & SL_CACHE_STALE_OFF) && cf->node->nargs > 1) {
        sl_conf_error(cf, "\"off\" cannot be combined with other values");
        return SL_ERROR;
    }
    ccf->use_stale = mask & ~SL_CACHE_STALE_OFF;
    return SL_OK;
}

static int
sl_cache_set_methods(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_cache_loc_conf *ccf = conf;
    struct sl_str *a;
    unsigned i;
    int mask = SL_CACHE_M(SL_HTTP_GET) | SL_CACHE_M(SL_HTTP_HEAD);

    /* GET and HEAD are always cached (nginx); POST is accepted. */
    for (i = 0; i < cf->node->nargs; i++) {
        a = &cf->node->args[i];
        if (sl_str_eq(a, "GET") || sl_str_eq(a, "HEAD"))
            continue;
        if (sl_str_eq(a, "POST")) {
            mask |= SL_CACHE_M(SL_HTTP_POST);
            continue;
        }
        sl_conf_error(cf, "invalid method \"%.*s\" in \"%s\" directive, it "
                      "must be GET, HEAD or POST", (int) a->len, a->data,
                      cmd->name);
        return SL_ERROR;
    }
    ccf->methods = mask;
    return SL_OK;
}

/* proxy_cache_bypass, proxy_no_cache: a list of complex values. */
static int
sl_cache_set_cv_list(struct sl_conf_ctx *cf, const struct sl_conf_cmd *cmd,
    void *conf)
{
    struct sl_array **ap = (struct sl_array **) ((char *) conf
                                                 + cmd->offset);
    struct sl_http_complex_value **cv;
    unsigned i;

    if (*ap == SL_CONF_UNSET_PTR) {
        *ap = sl_array_create(cf->pool, 2, sizeof(*cv));
        if (*ap == NULL)
            return SL_ERROR;
    }
    for (i = 0; i < cf->node->nargs; i++) {
        cv = sl_array_push(*ap);
        if (cv == NULL)
            return SL_ERROR;
        *cv = sl_http_compile_complex_value(cf, &cf->node->args[i]);
        if (*cv == NULL)
            return SL_ERROR;
    }
    return SL_OK;
}

static int
sl_cache_set_lock_timeout(struct sl_conf_ctx *cf,
    const struct sl_conf_cmd *cmd, void *conf)
{
    struct sl_cache_loc_conf *ccf = conf;

    if (sl_conf_set_msec(cf, cmd, conf) != SL_OK)
        return SL_ERROR;
    if (ccf->lock_timeout <= 0) {
        sl_conf_error(cf, "\"%s\" must be greater than 0", cmd->name);
        return SL_ERROR;
    }
    return SL_OK;
}

/* ---- small helpers ------------------------------------------------------- */

static struct sl_cache_ctx *
sl_cache_get_ctx(struct sl_http_request *r)
{
    struct sl_cache_ctx *ctx;

    if (r->ctx == NULL)
        return NULL;
    ctx = r->ctx[sl_http_cache_module.index];
    if (ctx != NULL)
        SL_CHECK_OBJ(ctx, SL_CACHE_CTX_MAGIC);
    return ctx;
}

static void
sl_cache_set_status(struct sl_http_request *r, const char *s)
{
    r->upstream_cache_status.data = (char *) s;
    r->upstream_cache_status.len = strlen(s);
}

/* Whether a proxy_cache_bypass / proxy_no_cache list says yes (nginx). */
static int
sl_cache_cv_any(struct sl_http_request *r, struct sl_array *list)
{
    struct sl_http_complex_value **cv;
    struct sl_str v;
    unsigned i;

    if (list == NULL)
        return 0;
    cv = list->elts;
    for (i = 0; i < list->nelts; i++) {
        if (sl_http_complex_value(r, cv[i], &v) != SL_OK)
            return 1;
        if (v.len > 0 && !(v.len == 1 && v.data[0] == '0'))
            return 1;
    }
    return 0;
}

/* The match callback of lookups: the variant the request selects. */
static int
sl_cache_vary_cb(const struct sl_cache_obj *o, void *arg)
{
    const char *blob;
    size_t len;

    sl_cache_obj_vary(o, &blob, &len);
    if (len == 0)
        return 1;
    return sl_cache_vary_match(blob, len, arg);
}

/* Whether a comma-separated field value holds token (case-insensitive). */
static int
sl_cache_has_token(const char *v, size_t len, const char *tok)
{
    size_t tl = strlen(tok), i = 0, s;

    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        s = i;
        while (i < len && v[i] != ',' && v[i] != '=' && v[i] != ' '
               && v[i] != '\t')
        {
            i++;
        }
        if (i - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return 1;
        while (i < len && v[i] != ',')
            i++;
    }
    return 0;
}

/*
 * The request as policy must see it: the client's head, except that
 * credentials auth_basic consumed were sluice's own and never reached
 * the origin, so they do not make the response private.
 */
static const struct sl_http_head *
sl_cache_policy_head(struct sl_http_request *r)
{
    struct sl_http_head *h;
    unsigned i, j;

    if (!r->auth_basic || sl_http_find_header(r->head, "authorization") < 0)
        return r->head;
    h = sl_palloc(r->pool, sizeof(*h));
    if (h == NULL)
        return r->head;
    memcpy(h, r->head, offsetof(struct sl_http_head, headers));
    memcpy((char *) h + offsetof(struct sl_http_head, nheaders),
           (char *) r->head + offsetof(struct sl_http_head, nheaders),
           sizeof(*h) - offsetof(struct sl_http_head, nheaders));
    for (i = 0, j = 0; i < r->head->nheaders; i++) {
        if (sl_str_caseeq(&r->head->headers[i].name, "authorization"))
            continue;
        h->headers[j++] = r->head->headers[i];
    }
    h->nheaders = j;
    /* The well-known indexes may have moved: find them again. */
    h->h_host = sl_http_find_header(h, "host");
    h->h_content_length = sl_http_find_header(h, "content-length");
    h->h_transfer_encoding = sl_http_find_header(h, "transfer-encoding");
    h->h_connection = sl_http_find_header(h, "connection");
    h->h_upgrade = sl_http_find_header(h, "upgrade");
    h->h_expect = sl_http_find_header(h, "expect");
    return h;
}

/* Cache-Status (RFC 9211) for this request into pool memory. */
static struct sl_str
sl_cache_status_value(struct sl_cache_ctx *ctx, int hit, int64_t ttl,
    int has_ttl)
{
    static const char *fwd[] = {
        NULL, "miss", "vary-miss", "stale", "request", "bypass", "method"
    };
    struct sl_str v = { 0, NULL };
    char *p, *last;
    size_t len = 160;

    p = sl_pnalloc(ctx->r->pool, len);
    if (p == NULL)
        return v;
    v.data = p;
    last = p + len;
    p = sl_append_lit(p, last, SL_SERVER);
    if (hit)
        p = sl_append_lit(p, last, "; hit");
    if (!hit && ctx->fwd != SL_CACHE_FWD_NONE) {
        p = sl_append_lit(p, last, "; fwd=");
        p = sl_append(p, last, fwd[ctx->fwd], strlen(fwd[ctx->fwd]));
        /* The origin's status when it tells more than "it answered". */
        if (ctx->fwd_status > 0
            && (ctx->fwd_status != 200 || ctx->fwd == SL_CACHE_FWD_STALE))
        {
            p = sl_append_lit(p, last, "; fwd-status=");
            p = sl_append_uint(p, last, (uint64_t) ctx->fwd_status, 10);
        }
    }
    if (has_ttl) {
        p = sl_append_lit(p, last, "; ttl=");
        if (ttl < 0) {
            p = sl_append_lit(p, last, "-");
            ttl = -ttl;
        }
        p = sl_append_uint(p, last, (uint64_t) ttl, 10);
    }
    if (ctx->stored)
        p = sl_append_lit(p, last, "; stored");
    if (ctx->collapsed)
        p = sl_append_lit(p, last, "; collapsed");
    if (ctx->key.len == 0 && ctx->detail == NULL)
        ctx->detail = "key-too-long";
    if (ctx->detail != NULL) {
        p = sl_append_lit(p, last, "; detail=");
        p = sl_append(p, last, ctx->detail, strlen(ctx->detail));
    }
    v.len = (size_t) (p - v.data);
    return v;
}

/* ---- the request context ------------------------------------------------- */

static void
sl_cache_unclaim_now(struct sl_cache_ctx *ctx)
{
    if (ctx->claimed) {
        ctx->claimed = 0;
        sl_cache_unclaim(ctx->store, ctx->key.data, ctx->key.len);
    }
}

static void
sl_cache_abort_write(struct sl_cache_ctx *ctx)
{
    if (ctx->wobj != NULL) {
        sl_cache_obj_abort(ctx->store, ctx->wobj);
        ctx->wobj = NULL;
        sl_cache_count(ctx->store, SL_CACHE_STAT_NOT_STORED, 1);
    }
}

/*
 * The request pool's cleanup: an object still being written was not
 * completed (the client or the origin went away), so it is dropped; the
 * reference of a hit is held until here, after the last byte was sent.
 */
static void
sl_cache_cleanup(void *data)
{
    struct sl_cache_ctx *ctx = data;

    if (ctx->timer.timer_set)
        sl_event_del_timer(&ctx->timer);
    if (ctx->store != NULL) {
        sl_cache_abort_write(ctx);
        sl_cache_unclaim_now(ctx);
        if (ctx->obj != NULL) {
            sl_cache_obj_release(ctx->store, ctx->obj);
            ctx->obj = NULL;
        }
    }
    ctx->magic = 0;
}

static struct sl_cache_ctx *
sl_cache_create_ctx(struct sl_http_request *r, struct sl_cache_loc_conf *ccf)
{
    struct sl_cache_ctx *ctx;

    if (r->ctx == NULL) {
        r->ctx = sl_pcalloc(r->pool, sl_nmodules * sizeof(void *));
        if (r->ctx == NULL)
            return NULL;
    }
    ctx = sl_pcalloc(r->pool, sizeof(*ctx));
    if (ctx == NULL
        || sl_pool_cleanup_add(r->pool, sl_cache_cleanup, ctx) == NULL)
    {
        return NULL;
    }
    ctx->magic = SL_CACHE_CTX_MAGIC;
    ctx->r = r;
    ctx->ccf = ccf;
    ctx->store = ccf->zone->store;
    ctx->timer.data = ctx;
    r->ctx[sl_http_cache_module.index] = ctx;
    return ctx;
}

/* ---- answering from the store -------------------------------------------- */

/*
 * Sends ctx->obj to the client: conditional requests (304, 412), HEAD,
 * one byte range (206, 416), or the whole object.  The head is three
 * pieces -- the status line and sluice's fields, the stored fields as
 * they lie in shared memory, then Age, Cache-Status and the framing --
 * and the body is the store's own memory; all go out with writev.  The
 * object stays referenced until the request pool goes (sl_cache_cleanup).
 */
static int
sl_cache_send_obj(struct sl_cache_ctx *ctx, int hit)
{
    struct sl_http_request *r = ctx->r;
    struct sl_cache_obj *o = ctx->obj;
    struct sl_chain **ll = &r->out;
    struct sl_buf *b;
    struct sl_str cs;
    struct iovec iov[SL_CACHE_IOV];
    const char *head, *text, *dv;
    size_t hlen, dvl;
    int64_t blen, age, start = 0, end = -1, off, left;
    int status, rc, n, i;
    char *p, *last;
    size_t len;

    sl_cache_obj_head(o, &head, &hlen);
    blen = sl_cache_obj_body_len(o);
    status = ctx->meta.status;
    age = sl_cache_age(&ctx->meta, (int64_t) sl_time_sec);

    rc = sl_cache_conditional(r->head, head, hlen, &ctx->meta);
    if (rc == 412) {
        cs = sl_cache_status_value(ctx, hit, 0, 0);
        (void) sl_http_add_header(r, "Cache-Status", 12, cs.data, cs.len);
        return sl_http_send_error(r, 412);
    }
    if (rc == 304) {
        status = 304;
    } else if (status == 200 && r->head->method == SL_HTTP_GET) {
        rc = sl_cache_range(r->head, head, hlen, blen, &start, &end);
        if (rc == 206 || rc == 416)
            status = rc;
    }
    if (status != 206) {
        start = 0;
        end = blen - 1;
    }

    r->status = status;
    r->keepalive = sl_http_keepalive_ok(r);
    text = sl_http_status_text(status);
    cs = sl_cache_status_value(ctx, hit, ctx->meta.lifetime - age, 1);

    /* 1: status line, Server, Date (unless the stored head has one) */
    len = 128 + strlen(text) + sizeof(SL_SERVER "/" SL_VERSION)
          + sizeof(sl_cached_http_time);
    b = sl_buf_create(r->pool, len);
    if (b == NULL)
        return SL_ERROR;
    p = b->last;
    last = b->end;
    p = sl_append_lit(p, last, "HTTP/1.1 ");
    p = sl_append_uint(p, last, (uint64_t) status, 10);
    p = sl_append_lit(p, last, " ");
    p = sl_append(p, last, text, strlen(text));
    p = sl_append_lit(p, last, "\r\n");
    p = r->loc->server_tokens
        ? sl_append_lit(p, last, "Server: " SL_SERVER "/" SL_VERSION "\r\n")
        : sl_append_lit(p, last, "Server: " SL_SERVER "\r\n");
    if (!sl_cache_head_field(head, hlen, "Date", &dv, &dvl))
        p = sl_append_header(p, last, "Date", 4, sl_cached_http_time,
                             sizeof(sl_cached_http_time) - 1);
    b->last = p;
    ll = sl_chain_append(r->pool, ll, b);
    if (ll == NULL)
        return SL_ERROR;
    r->header_bytes_sent = sl_buf_size(b);

    /* 2: the stored fields, zero-copy (not for 416: they describe 200) */
    if (status != 416 && hlen > 0) {
        b = sl_buf_wrap(r->pool, head, hlen);
        if (b == NULL)
            return SL_ERROR;
        b->shm = o;
        ll = sl_chain_append(r->pool, ll, b);
        if (ll == NULL)
            return SL_ERROR;
        r->header_bytes_sent += hlen;
    }

    /* 3: Age, Cache-Status, added fields, framing */
    len = 256 + cs.len;
    for (i = 0; i < (int) r->out_headers.nelts; i++) {
        struct sl_http_out_header *oh = sl_array_at(&r->out_headers,
            struct sl_http_out_header, (unsigned) i);
        len += oh->name.len + oh->value.len + 4;
    }
    b = sl_buf_create(r->pool, len);
    if (b == NULL)
        return SL_ERROR;
    p = b->last;
    last = b->end;
    p = sl_append_lit(p, last, "Age: ");
    p = sl_append_uint(p, last, (uint64_t) age, 10);
    p = sl_append_lit(p, last, "\r\n");
    p = sl_append_header(p, last, "Cache-Status", 12, cs.data, cs.len);
    for (i = 0; i < (int) r->out_headers.nelts; i++) {
        struct sl_http_out_header *oh = sl_array_at(&r->out_headers,
            struct sl_http_out_header, (unsigned) i);
        p = sl_append_header(p, last, oh->name.data, oh->name.len,
                             oh->value.data, oh->value.len);
    }
    /* Ranges are answered from a stored 200: say so (as nginx does). */
    if (ctx->meta.status == 200 && status != 416
        && !sl_cache_head_field(head, hlen, "Accept-Ranges", &dv, &dvl))
    {
        p = sl_append_lit(p, last, "Accept-Ranges: bytes\r\n");
    }
    if (status == 206) {
        p = sl_append_lit(p, last, "Content-Range: bytes ");
        p = sl_append_uint(p, last, (uint64_t) start, 10);
        p = sl_append_lit(p, last, "-");
        p = sl_append_uint(p, last, (uint64_t) end, 10);
        p = sl_append_lit(p, last, "/");
        p = sl_append_uint(p, last, (uint64_t) blen, 10);
        p = sl_append_lit(p, last, "\r\n");
    } else if (status == 416) {
        p = sl_append_lit(p, last, "Content-Range: bytes */");
        p = sl_append_uint(p, last, (uint64_t) blen, 10);
        p = sl_append_lit(p, last, "\r\n");
    }
    if (status == 416) {
        p = sl_append_lit(p, last, "Content-Length: 0\r\n");
        start = 0;
        end = -1;
    } else if (status != 304 && status != 204) {
        p = sl_append_lit(p, last, "Content-Length: ");
        p = sl_append_uint(p, last, (uint64_t) (end - start + 1), 10);
        p = sl_append_lit(p, last, "\r\n");
    }
    p = r->keepalive ? sl_append_lit(p, last, "Connection: keep-alive\r\n\r\n")
                     : sl_append_lit(p, last, "Connection: close\r\n\r\n");
    if (p == last)
        return SL_ERROR;
    b->last = p;
    ll = sl_chain_append(r->pool, ll, b);
    if (ll == NULL)
        return SL_ERROR;
    r->header_bytes_sent += sl_buf_size(b);
    r->content_length = end - start + 1;

    /* 4: the body, straight from the store */
    if (!r->head_method && status != 304 && status != 204) {
        off = start;
        left = end - start + 1;
        while (left > 0) {
            n = sl_cache_obj_body_iov(o, off, left, iov, SL_CACHE_IOV);
            if (n <= 0)
                return SL_ERROR;
            for (i = 0; i < n; i++) {
                b = sl_buf_wrap(r->pool, iov[i].iov_base, iov[i].iov_len);
                if (b == NULL)
                    return SL_ERROR;
                b->shm = o;
                ll = sl_chain_append(r->pool, ll, b);
                if (ll == NULL)
                    return SL_ERROR;
                off += (int64_t) iov[i].iov_len;
                left -= (int64_t) iov[i].iov_len;
            }
        }
    }
    r->header_sent = 1;
    (void) sl_http_output(r);
    return SL_OK;
}

/* Answers from ctx->obj; on failure the request gets a 500. */
static void
sl_cache_serve(struct sl_cache_ctx *ctx, int hit, const char *ustatus,
    enum sl_cache_stat stat)
{
    sl_cache_set_status(ctx->r, ustatus);
    sl_cache_count(ctx->store, stat, 1);
    if (sl_cache_send_obj(ctx, hit) != SL_OK)
        sl_http_send_error(ctx->r, 500);
}

/* ---- the background refresh ---------------------------------------------- */

/*
 * Starts a detached request that fetches ctx's key again and stores the
 * answer; it takes over ctx's claim of the key.  The connection is a
 * slot whose descriptor is /dev/null: the proxy writes its response
 * there, unaware.  Returns SL_OK or SL_ERROR (then nothing was started
 * and the claim is still ctx's).
 */
static int
sl_cache_background(struct sl_cache_ctx *ctx)
{
    struct sl_http_request *r = ctx->r, *br;
    struct sl_http_conn *bhc;
    struct sl_cache_ctx *bctx;
    struct sl_http_head *h;
    struct sl_conn *bc;
    struct sl_pool *pool;
    char *raw;
    const char *eol;
    int fd;

    /*
     * Only a GET without a body is repeated: a HEAD's answer has no body
     * to store, and a body could not be read again.
     */
    if (r->head->method != SL_HTTP_GET || r->head->content_length > 0
        || r->head->chunked || sl_quit)
    {
        return SL_ERROR;
    }
    fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd == -1)
        return SL_ERROR;
    bc = sl_conn_get(fd);
    if (bc == NULL) {
        close(fd);
        return SL_ERROR;
    }
    bc->listening = r->c->listening;
    memcpy(&bc->peer, &r->c->peer, sizeof(bc->peer));
    bc->peer_len = r->c->peer_len;
    bc->read.handler = sl_http_empty_handler;
    bc->write.handler = sl_http_empty_handler;
    bc->write.ready = 1;
    bc->pool = sl_pool_create(SL_POOL_DEFAULT_SIZE);
    if (bc->pool == NULL)
        goto failed;
    bhc = sl_pcalloc(bc->pool, sizeof(*bhc));
    if (bhc == NULL)
        goto failed;
    bhc->addr = r->hc->addr;
    bhc->c = bc;
    bc->data = bhc;

    pool = sl_pool_create(SL_POOL_DEFAULT_SIZE);
    if (pool == NULL)
        goto failed;
    br = sl_pcalloc(pool, sizeof(*br));
    h = sl_palloc(pool, sizeof(*h));
    raw = sl_pnalloc(pool, r->head_len);
    if (br == NULL || h == NULL || raw == NULL
        || sl_array_init(&br->out_headers, pool, 4,
                         sizeof(struct sl_http_out_header)) != SL_OK)
    {
        sl_pool_destroy(pool);
        goto failed;
    }
    /* The client's head buffer is reused after its request: copy it. */
    memcpy(raw, r->head_start, r->head_len);
    memset(h, 0, sizeof(*h));
    h->h_host = h->h_content_length = h->h_transfer_encoding = -1;
    h->h_connection = h->h_upgrade = h->h_expect = -1;
    h->content_length = -1;
    if (sl_http_parse_request(raw, r->head_len, h, r->head_len,
                              r->head_len) != 0)
    {
        sl_pool_destroy(pool);
        goto failed;
    }
    br->magic = SL_HTTP_REQ_MAGIC;
    br->pool = pool;
    br->c = bc;
    br->hc = bhc;
    br->head = h;
    br->head_start = raw;
    br->head_len = r->head_len;
    br->srv = r->srv;
    br->loc = r->loc;
    br->loc_conf = r->loc_conf;
    br->host.data = sl_pstrdup(pool, &r->host);
    br->host.len = r->host.len;
    br->uri.data = sl_pstrdup(pool, &r->uri);
    br->uri.len = r->uri.len;
    br->args = h->args;
    eol = memchr(raw, '\r', r->head_len);
    br->request_line.data = h->method_name.data;
    br->request_line.len = eol != NULL && h->method_name.data != NULL
        ? (size_t) (eol - h->method_name.data) : 0;
    br->content_length = -1;
    br->start_msec = sl_current_msec;
    br->start_wall_msec = sl_time_msec;
    br->body_done = 1;
    br->logged = 1;         /* no access log line of its own */
    br->http10 = h->http_minor == 0;
    bhc->r = br;
    bc->requests = 1;

    bctx = sl_cache_create_ctx(br, ctx->ccf);
    if (bctx == NULL
        || (bctx->key.data = sl_pstrdup(pool, &ctx->key)) == NULL)
    {
        if (bctx != NULL)
            bctx->magic = 0;
        sl_pool_destroy(pool);
        goto failed;
    }
    bctx->key.len = ctx->key.len;
    bctx->req = sl_cache_policy_head(br);
    bctx->rcc = ctx->rcc;
    bctx->background = 1;
    bctx->store_ok = 1;
    bctx->request_time = (int64_t) sl_time_sec;
    /* Revalidate with the stale object's validators if it has any. */
    if (sl_cache_lookup(bctx->store, bctx->key.data, bctx->key.len,
                        sl_cache_vary_cb, (void *) bctx->req, &bctx->obj)
        == SL_OK)
    {
        memcpy(&bctx->meta, sl_cache_obj_meta(bctx->obj),
               sizeof(bctx->meta));
        bctx->revalidate = (bctx->meta.flags
                            & (SL_CACHE_F_ETAG | SL_CACHE_F_LAST_MODIFIED))
                           != 0;
    }
    /* The claim moves to the background request. */
    bctx->claimed = 1;
    ctx->claimed = 0;
    if (br->loc->handler(br) == SL_ERROR)
        sl_http_send_error(br, 500);
    return SL_OK;

failed:
    sl_conn_close(bc);
    return SL_ERROR;
}

/* ---- lookup and decision ------------------------------------------------- */

static int sl_cache_decide(struct sl_cache_ctx *ctx);

static void
sl_cache_wait_handler(struct sl_event *ev)
{
    struct sl_cache_ctx *ctx = ev->data;
    struct sl_http_request *r;
    int rc;

    SL_CHECK_OBJ_NOTNULL(ctx, SL_CACHE_CTX_MAGIC);
    r = ctx->r;
    rc = sl_cache_decide(ctx);
    if (rc == SL_DECLINED)
        sl_http_proxy_forward(r);
    else if (rc == SL_ERROR)
        sl_http_send_error(r, 500);
}

/*
 * Another request is fetching this key: look again after a short,
 * growing pause, up to proxy_cache_lock_timeout; then go to the origin
 * without storing.  Returns SL_AGAIN (waiting) or SL_DECLINED.
 */
static int
sl_cache_wait(struct sl_cache_ctx *ctx)
{
    if (ctx->wait_end == 0) {
        ctx->wait_end = sl_current_msec + ctx->ccf->lock_timeout;
        ctx->backoff = SL_CACHE_WAIT_MIN;
        ctx->collapsed = 1;
        sl_cache_count(ctx->store, SL_CACHE_STAT_COLLAPSED, 1);
    }
    if (sl_current_msec >= ctx->wait_end) {
        ctx->store_ok = 0;
        ctx->detail = "lock-timeout";
        return SL_DECLINED;
    }
    ctx->timer.handler = sl_cache_wait_handler;
    sl_event_add_timer(&ctx->timer, sl_min(ctx->backoff,
                                           ctx->wait_end - sl_current_msec));
    ctx->backoff = sl_min(ctx->backoff * 2, SL_CACHE_WAIT_MAX);
    return SL_AGAIN;
}

/* Claims the key for a fetch: SL_OK, or SL_AGAIN when another has it. */
static int
sl_cache_try_claim(struct sl_cache_ctx *ctx)
{
    if (!ctx->ccf->lock || !ctx->store_ok)
        return SL_OK;
    if (sl_cache_claim(ctx->store, ctx->key.data, ctx->key.len,
                       (int64_t) sl_time_msec, ctx->ccf->lock_timeout)
        != SL_OK)
    {
        return SL_AGAIN;
    }
    ctx->claimed = 1;
    return SL_OK;
}

/* Whether a request with Authorization may use the stored object. */
static int
sl_cache_auth_ok(struct sl_cache_ctx *ctx)
{
    const char *head, *v;
    size_t hlen, vl;

    if (sl_http_find_header(ctx->req, "authorization") < 0)
        return 1;
    if (ctx->meta.flags & (SL_CACHE_F_AUTH | SL_CACHE_F_MUST_REVALIDATE))
        return 1;
    sl_cache_obj_head(ctx->obj, &head, &hlen);
    return sl_cache_head_field(head, hlen, "Cache-Control", &v, &vl)
           && sl_cache_has_token(v, vl, "public");
}

/* The stale object may stand in for the origin's error (status). */
static int
sl_cache_stale_on_error(struct sl_cache_ctx *ctx, int status, int timeout)
{
    int cfg, flag;

    if (ctx->obj == NULL || ctx->background)
        return 0;
    switch (status) {
    case 500: flag = SL_CACHE_STALE_500; break;
    case 502: flag = SL_CACHE_STALE_502; break;
    case 503: flag = SL_CACHE_STALE_503; break;
    case 504: flag = SL_CACHE_STALE_504; break;
    case 403: flag = SL_CACHE_STALE_403; break;
    case 404: flag = SL_CACHE_STALE_404; break;
    case 429: flag = SL_CACHE_STALE_429; break;
    default: flag = 0;
    }
    if (timeout < 0)        /* an HTTP answer, not a failure to get one */
        cfg = (ctx->ccf->use_stale & flag) != 0;
    else
        cfg = (ctx->ccf->use_stale
               & (timeout ? SL_CACHE_STALE_TIMEOUT : SL_CACHE_STALE_ERROR))
              != 0;
    /* stale-if-error (RFC 5861) covers 500, 502, 503, 504 and failures */
    if (!cfg && timeout < 0 && status != 500 && status != 502
        && status != 503 && status != 504)
    {
        return 0;
    }
    return sl_cache_stale_if_error_ok(&ctx->meta, &ctx->rcc,
                                      (int64_t) sl_time_sec, cfg);
}

/* only-if-cached and nothing usable stored: 504 (RFC 9111 5.2.1.7). */
static int
sl_cache_only_if_cached(struct sl_cache_ctx *ctx)
{
    struct sl_str cs;

    sl_cache_set_status(ctx->r, "MISS");
    ctx->detail = "only-if-cached";
    ctx->fwd = SL_CACHE_FWD_NONE;
    cs = sl_cache_status_value(ctx, 0, 0, 0);
    if (cs.len > 0)
        (void) sl_http_add_header(ctx->r, "Cache-Status", 12, cs.data,
                                  cs.len);
    sl_http_send_error(ctx->r, 504);
    return SL_OK;
}

/*
 * Looks the key up and decides: SL_OK (answered from the store), SL_AGAIN
 * (waiting for another fetch of the key), SL_DECLINED (go to the origin;
 * ctx says whether to store and whether to revalidate), SL_ERROR.
 */
static int
sl_cache_decide(struct sl_cache_ctx *ctx)
{
    struct sl_http_request *r = ctx->r;
    struct sl_cache_obj *any;
    enum sl_cache_use use;
    int64_t now = (int64_t) sl_time_sec;

    if (ctx->obj != NULL) {
        sl_cache_obj_release(ctx->store, ctx->obj);
        ctx->obj = NULL;
    }
    if (sl_cache_lookup(ctx->store, ctx->key.data, ctx->key.len,
                        sl_cache_vary_cb, (void *) ctx->req, &ctx->obj)
        != SL_OK)
    {
        ctx->obj = NULL;
        if (!ctx->lookup_done) {
            ctx->lookup_done = 1;
            ctx->fwd = SL_CACHE_FWD_MISS;
            /* Variants of the key exist, but not the one asked for. */
            if (sl_cache_lookup(ctx->store, ctx->key.data, ctx->key.len,
                                NULL, NULL, &any) == SL_OK)
            {
                ctx->fwd = SL_CACHE_FWD_VARY_MISS;
                sl_cache_obj_release(ctx->store, any);
            }
        }
        if (ctx->rcc.only_if_cached)
            return sl_cache_only_if_cached(ctx);
        if (sl_cache_try_claim(ctx) == SL_AGAIN)
            return sl_cache_wait(ctx);
        sl_cache_set_status(r, "MISS");
        sl_cache_count(ctx->store, SL_CACHE_STAT_MISS, 1);
        return SL_DECLINED;
    }
    ctx->lookup_done = 1;
    memcpy(&ctx->meta, sl_cache_obj_meta(ctx->obj), sizeof(ctx->meta));
    if (ctx->meta.magic != SL_CACHE_META_MAGIC || !sl_cache_auth_ok(ctx)) {
        /* Not ours to use for this request: the origin decides. */
        sl_cache_obj_release(ctx->store, ctx->obj);
        ctx->obj = NULL;
        ctx->fwd = SL_CACHE_FWD_REQUEST;
        sl_cache_set_status(r, "MISS");
        sl_cache_count(ctx->store, SL_CACHE_STAT_MISS, 1);
        return SL_DECLINED;
    }

    use = sl_cache_usable(&ctx->meta, &ctx->rcc, now);
    if (use == SL_CACHE_USE_FRESH || use == SL_CACHE_USE_STALE_OK) {
        if (use == SL_CACHE_USE_STALE_OK)
            ctx->detail = "max-stale";
        sl_cache_serve(ctx, 1, "HIT", SL_CACHE_STAT_HIT);
        return SL_OK;
    }
    if (use == SL_CACHE_USE_REVALIDATE
        && (ctx->ccf->use_stale & SL_CACHE_STALE_UPDATING)
        && !(ctx->meta.flags & (SL_CACHE_F_NO_CACHE
                                | SL_CACHE_F_MUST_REVALIDATE))
        && !ctx->rcc.no_cache && ctx->rcc.max_age == SL_CACHE_UNSET
        && ctx->rcc.min_fresh == SL_CACHE_UNSET)
    {
        use = SL_CACHE_USE_SWR;     /* proxy_cache_use_stale updating */
    }
    if (use == SL_CACHE_USE_SWR) {
        /*
         * Serve the stale object now; refresh it once, in background: the
         * claim (taken whatever proxy_cache_lock says) makes it once.
         */
        if (sl_cache_claim(ctx->store, ctx->key.data, ctx->key.len,
                           (int64_t) sl_time_msec, ctx->ccf->lock_timeout)
            == SL_OK)
        {
            ctx->claimed = 1;
            if (sl_cache_background(ctx) != SL_OK)
                sl_cache_unclaim_now(ctx);
        }
        ctx->detail = "stale";
        sl_cache_serve(ctx, 1, "UPDATING", SL_CACHE_STAT_STALE);
        return SL_OK;
    }

    /* Stale (or no-cache): ask the origin. */
    if (ctx->rcc.only_if_cached)
        return sl_cache_only_if_cached(ctx);
    if (sl_cache_try_claim(ctx) == SL_AGAIN)
        return sl_cache_wait(ctx);
    ctx->fwd = ctx->rcc.no_cache || ctx->rcc.max_age != SL_CACHE_UNSET
               || ctx->rcc.min_fresh != SL_CACHE_UNSET
               ? SL_CACHE_FWD_REQUEST : SL_CACHE_FWD_STALE;
    /*
     * Our own validators go out unless the client sent conditionals of
     * its own: those change what the answer means, so they are passed
     * on untouched and the answer is relayed (RFC 9111 4.3.2).
     */
    ctx->revalidate = (ctx->meta.flags & (SL_CACHE_F_ETAG
                                          | SL_CACHE_F_LAST_MODIFIED))
                      && sl_http_find_header(r->head, "if-none-match") < 0
                      && sl_http_find_header(r->head, "if-modified-since") < 0
                      && sl_http_find_header(r->head, "if-match") < 0
                      && sl_http_find_header(r->head,
                                             "if-unmodified-since") < 0
                      && sl_http_find_header(r->head, "range") < 0;
    sl_cache_set_status(r, "EXPIRED");
    sl_cache_count(ctx->store, SL_CACHE_STAT_EXPIRED, 1);
    return SL_DECLINED;
}

/* PURGE KEY in a caching location: where proxy_cache_purge allows it,
 * 405 where it does not. */
static int
sl_cache_purge_method(struct sl_http_request *r,
    struct sl_cache_loc_conf *ccf)
{
    static const struct sl_str plain = sl_string("text/plain");
    struct sl_str key, body;
    int64_t n;

    if (ccf == NULL || !ccf->purge || ccf->zone == NULL
        || ccf->zone->store == NULL)
    {
        static const char allow[] = "GET, HEAD, POST, PUT, DELETE, "
                                    "OPTIONS, PATCH";
        (void) sl_http_add_header(r, "Allow", 5, allow, sizeof(allow) - 1);
        return sl_http_send_error(r, 405);
    }
    if (sl_http_complex_value(r, ccf->key, &key) != SL_OK)
        return SL_ERROR;
    n = key.len <= SL_CACHE_KEY_MAX
        ? sl_cache_purge(ccf->zone->store, key.data, key.len) : 0;
    sl_cache_set_status(r, "PURGED");
    body.data = sl_pnalloc(r->pool, 64);
    if (body.data == NULL)
        return SL_ERROR;
    body.len = (size_t) (sl_snprintf(body.data, body.data + 64,
                                     "purged %lld\n", (long long) n)
                         - body.data);
    if (n == 0) {
        sl_str_set(&body, "not found\n");
        return sl_http_send_simple(r, 404, &plain, &body);
    }
    return sl_http_send_simple(r, 200, &plain, &body);
}

int
sl_http_cache_request(struct sl_http_request *r)
{
    struct sl_cache_loc_conf *ccf = r->loc_conf[sl_http_cache_module.index];
    struct sl_http_head *h = r->head;
    struct sl_cache_ctx *ctx;
    struct sl_str key;
    int rc;

    ctx = sl_cache_get_ctx(r);
    if (ctx != NULL && ctx->background)
        return SL_DECLINED;
    /*
     * PURGE is ours where the location caches; elsewhere it goes to the
     * origin like any other method, as nginx does.
     */
    if (h->method == SL_HTTP_PURGE && ccf != NULL && ccf->zone != NULL) {
        rc = sl_cache_purge_method(r, ccf);
        return rc == SL_ERROR ? SL_ERROR : SL_OK;
    }
    if (ccf == NULL || ccf->zone == NULL || ccf->zone->store == NULL)
        return SL_DECLINED;
    /* An Upgrade (a tunnel, not a representation) never uses the cache. */
    if (h->conn_upgrade && h->h_upgrade >= 0)
        return SL_DECLINED;
    ctx = sl_cache_create_ctx(r, ccf);
    if (ctx == NULL)
        return SL_ERROR;
    if (sl_http_complex_value(r, ccf->key, &key) != SL_OK)
        return SL_ERROR;
    if (key.len == 0 || key.len > SL_CACHE_KEY_MAX) {
        /* Not cacheable at all: neither looked up nor stored. */
        ctx->fwd = SL_CACHE_FWD_BYPASS;
        sl_cache_set_status(r, "BYPASS");
        return SL_DECLINED;
    }
    ctx->key = key;
    ctx->req = sl_cache_policy_head(r);
    ctx->request_time = (int64_t) sl_time_sec;

    if (!(ccf->methods & (int) SL_CACHE_M(h->method))) {
        ctx->fwd = SL_CACHE_FWD_METHOD;
        ctx->invalidate = h->method == SL_HTTP_POST
                          || h->method == SL_HTTP_PUT
                          || h->method == SL_HTTP_DELETE
                          || h->method == SL_HTTP_PATCH
                          || h->method == SL_HTTP_UNKNOWN;
        return SL_DECLINED;
    }
    sl_cache_cc_parse(r->head, "Cache-Control", &ctx->rcc);
    if (!ctx->rcc.present) {
        int i = sl_http_find_header(r->head, "pragma");
        /* Pragma: no-cache counts only without Cache-Control (9111 5.4) */
        if (i >= 0 && sl_cache_has_token(h->headers[i].value.data,
                                         h->headers[i].value.len, "no-cache"))
        {
            ctx->rcc.no_cache = 1;
        }
    }
    /*
     * A HEAD's answer has no body to store: a HEAD miss is stored only
     * when it goes upstream as GET (proxy_cache_convert_head).
     */
    ctx->store_ok = (h->method != SL_HTTP_HEAD || ccf->convert_head)
                    && !sl_cache_cv_any(r, ccf->no_cache);
    ctx->convert_head = h->method == SL_HTTP_HEAD && ctx->store_ok;
    if (sl_cache_cv_any(r, ccf->bypass)) {
        ctx->fwd = SL_CACHE_FWD_BYPASS;
        sl_cache_set_status(r, "BYPASS");
        sl_cache_count(ctx->store, SL_CACHE_STAT_BYPASS, 1);
        return SL_DECLINED;
    }
    rc = sl_cache_decide(ctx);
    return rc == SL_AGAIN ? SL_OK : rc;
}

/* ---- what goes upstream -------------------------------------------------- */

int
sl_http_cache_skip_header(struct sl_http_request *r,
    const struct sl_str *name)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);

    if (ctx == NULL)
        return 0;
    /*
     * A fetch whose answer will be stored must be the whole response,
     * not the client's range of it; and when we revalidate, our own
     * validators replace any the client had.
     */
    if ((ctx->store_ok || ctx->revalidate)
        && (sl_str_caseeq(name, "range") || sl_str_caseeq(name, "if-range")))
    {
        return 1;
    }
    if ((ctx->revalidate || ctx->background)
        && (sl_str_caseeq(name, "if-none-match")
            || sl_str_caseeq(name, "if-modified-since")
            || sl_str_caseeq(name, "if-match")
            || sl_str_caseeq(name, "if-unmodified-since")))
    {
        return 1;
    }
    return 0;
}

size_t
sl_http_cache_head_len(struct sl_http_request *r)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);
    const char *head;
    size_t hlen;

    if (ctx == NULL || !ctx->revalidate || ctx->obj == NULL)
        return 0;
    sl_cache_obj_head(ctx->obj, &head, &hlen);
    return hlen + 64;
}

char *
sl_http_cache_head_add(struct sl_http_request *r, char *p, char *last)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);
    const char *head, *v;
    size_t hlen, vl;

    if (ctx == NULL || !ctx->revalidate || ctx->obj == NULL)
        return p;
    sl_cache_obj_head(ctx->obj, &head, &hlen);
    if (sl_cache_head_field(head, hlen, "ETag", &v, &vl))
        p = sl_append_header(p, last, "If-None-Match", 13, v, vl);
    if (sl_cache_head_field(head, hlen, "Last-Modified", &v, &vl))
        p = sl_append_header(p, last, "If-Modified-Since", 17, v, vl);
    return p;
}

int
sl_http_cache_hide_header(struct sl_http_request *r,
    const struct sl_str *name)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);

    /* RFC 9213: the targeted field is this cache's, not the client's. */
    return ctx != NULL && sl_str_caseeq(name, "cdn-cache-control");
}

/* ---- the origin's answer ------------------------------------------------- */

/* The stored head of a response: the fields kept, as "Name: value" lines. */
static int
sl_cache_build_head(struct sl_cache_ctx *ctx, const struct sl_http_head *rh,
    char **out, size_t *outlen)
{
    struct sl_http_proxy_conf *pcf;
    struct sl_str *hide;
    size_t len = 0;
    unsigned i, k;
    char *p, *last;

    pcf = ctx->r->loc_conf[sl_http_proxy_module.index];
    for (i = 0; i < rh->nheaders; i++)
        len += rh->headers[i].name.len + rh->headers[i].value.len + 4;
    p = sl_pnalloc(ctx->r->pool, len + 1);
    if (p == NULL)
        return SL_ERROR;
    *out = p;
    last = p + len + 1;
    for (i = 0; i < rh->nheaders; i++) {
        const struct sl_str *n = &rh->headers[i].name;
        if (!sl_cache_head_keep(n->data, n->len, rh)
            || sl_str_caseeq(n, "server"))
        {
            continue;
        }
        if (pcf != NULL && pcf->hide_headers != NULL) {
            hide = pcf->hide_headers->elts;
            for (k = 0; k < pcf->hide_headers->nelts; k++) {
                if (sl_str_caseeqstr(&hide[k], n))
                    break;
            }
            if (k < pcf->hide_headers->nelts)
                continue;
        }
        p = sl_append_header(p, last, n->data, n->len,
                             rh->headers[i].value.data,
                             rh->headers[i].value.len);
    }
    *outlen = (size_t) (p - *out);
    return SL_OK;
}

/* Starts storing the origin's answer rh if it may be stored. */
static void
sl_cache_start_store(struct sl_cache_ctx *ctx, const struct sl_http_head *rh)
{
    struct sl_cache_valid *valid = NULL;
    struct sl_cache_zone *zone = ctx->ccf->zone;
    size_t nvalid = 0, hlen;
    const char *why = NULL;
    char vary[SL_CACHE_VARY_MAX], *head;
    int vlen;

    if (ctx->ccf->valid != NULL) {
        valid = ctx->ccf->valid->elts;
        nvalid = ctx->ccf->valid->nelts;
    }
    {
        struct sl_cache_meta m;

        if (sl_cache_storable(ctx->req, rh, valid, nvalid, ctx->request_time,
                              (int64_t) sl_time_sec, &m, &why)
            != SL_CACHE_STORE_OK)
        {
            ctx->detail = why;
            goto not_stored;
        }
        if (rh->content_length >= 0
            && (size_t) rh->content_length > zone->max_object)
        {
            ctx->detail = "too-big";
            goto not_stored;
        }
        vlen = sl_cache_vary_build(ctx->req, rh, vary, sizeof(vary));
        if (vlen < 0) {
            ctx->detail = "vary-too-big";
            goto not_stored;
        }
        if (sl_cache_build_head(ctx, rh, &head, &hlen) != SL_OK)
            goto not_stored;
        m.body_len = rh->content_length;
        ctx->wobj = sl_cache_obj_new(ctx->store, ctx->key.data, ctx->key.len,
                                     &m, sizeof(m), vary, (size_t) vlen,
                                     head, hlen);
        if (ctx->wobj == NULL) {
            ctx->detail = "too-big";
            goto not_stored;
        }
        /*
         * "stored" is said only when it will be true: a body of unknown
         * length may still outgrow max_object.
         */
        ctx->stored = rh->content_length >= 0;
        return;
    }

not_stored:
    sl_cache_count(ctx->store, SL_CACHE_STAT_NOT_STORED, 1);
    /* Waiters need not wait for an answer that will not be stored. */
    sl_cache_unclaim_now(ctx);
}

/* Unsafe method succeeded: drop the URL and Location/Content-Location. */
static void
sl_cache_invalidate(struct sl_cache_ctx *ctx, const struct sl_http_head *rh)
{
    static const char *fields[] = { "Location", "Content-Location" };
    struct sl_http_request *r = ctx->r;
    const char *v, *end, *host, *path, *scheme;
    size_t vl, hl, sl;
    unsigned i;
    int k;
    char *key;

    if (ctx->key.len > 0)
        (void) sl_cache_purge(ctx->store, ctx->key.data, ctx->key.len);
    for (i = 0; i < sl_nelems(fields); i++) {
        k = sl_http_find_header(rh, fields[i]);
        if (k < 0)
            continue;
        v = rh->headers[k].value.data;
        vl = rh->headers[k].value.len;
        end = v + vl;
        scheme = r->c->ssl != NULL ? "https" : "http";
        sl = strlen(scheme);
        if (vl > 0 && v[0] == '/' && (vl == 1 || v[1] != '/')) {
            host = r->host.data;
            hl = r->host.len;
            path = v;
        } else {
            /* Only an absolute URL of the request's own host (9111 4.4). */
            if (vl > 7 && strncasecmp(v, "http://", 7) == 0) {
                scheme = "http";
                host = v + 7;
            } else if (vl > 8 && strncasecmp(v, "https://", 8) == 0) {
                scheme = "https";
                host = v + 8;
            } else {
                continue;
            }
            sl = strlen(scheme);
            path = host;
            while (path < end && *path != '/' && *path != '?')
                path++;
            hl = (size_t) (path - host);
            {
                const char *colon = memchr(host, ':', hl);
                size_t nl = colon != NULL ? (size_t) (colon - host) : hl;
                if (nl != r->host.len
                    || strncasecmp(host, r->host.data, nl) != 0)
                {
                    continue;
                }
                host = r->host.data;
                hl = r->host.len;
            }
        }
        vl = (size_t) (end - path);
        if (vl == 0) {
            path = "/";
            vl = 1;
        }
        key = sl_pnalloc(r->pool, sl + hl + vl);
        if (key == NULL)
            return;
        memcpy(key, scheme, sl);
        memcpy(key + sl, host, hl);
        memcpy(key + sl + hl, path, vl);
        (void) sl_cache_purge(ctx->store, key, sl + hl + vl);
    }
}

/*
 * Freshens the stored object with a 304's fields (RFC 9111 4.3.4): a new
 * object with the merged head and the old body is committed over the old
 * one, and becomes ctx->obj.  Returns SL_OK (ctx->obj is the one to
 * serve, new or old) or SL_ERROR.
 */
static int
sl_cache_freshen(struct sl_cache_ctx *ctx, const struct sl_http_head *rh)
{
    struct sl_http_request *r = ctx->r;
    struct sl_cache_valid *valid = NULL;
    struct sl_http_head *ph;
    struct sl_cache_meta m;
    struct sl_cache_obj *no, *fresh;
    struct iovec iov[SL_CACHE_IOV];
    const char *head, *vary, *why;
    size_t hlen, vlen, nvalid = 0, size, i;
    int64_t blen, off;
    int mlen, n, j;
    char *merged, *raw, *p;

    sl_cache_obj_head(ctx->obj, &head, &hlen);
    sl_cache_obj_vary(ctx->obj, &vary, &vlen);
    size = hlen + 64;
    for (i = 0; i < rh->nheaders; i++)
        size += rh->headers[i].name.len + rh->headers[i].value.len + 4;
    merged = sl_pnalloc(r->pool, size);
    raw = sl_pnalloc(r->pool, size + 64);
    ph = sl_palloc(r->pool, sizeof(*ph));
    if (merged == NULL || raw == NULL || ph == NULL)
        return SL_ERROR;
    mlen = sl_cache_head_merge(head, hlen, rh, merged, size);
    if (mlen < 0)
        return SL_ERROR;
    /* Policy reads a parsed head: parse the merged one. */
    p = sl_snprintf(raw, raw + 64, "HTTP/1.1 %d X\r\n",
                    (int) ctx->meta.status);
    memcpy(p, merged, (size_t) mlen);
    p += mlen;
    memcpy(p, "\r\n", 2);
    p += 2;
    memset(ph, 0, sizeof(*ph));
    ph->h_host = ph->h_content_length = ph->h_transfer_encoding = -1;
    ph->h_connection = ph->h_upgrade = ph->h_expect = -1;
    ph->content_length = -1;
    if (sl_http_parse_response(raw, (size_t) (p - raw), ph) != 0)
        return SL_ERROR;
    if (ctx->ccf->valid != NULL) {
        valid = ctx->ccf->valid->elts;
        nvalid = ctx->ccf->valid->nelts;
    }
    if (sl_cache_storable(ctx->req, ph, valid, nvalid, ctx->request_time,
                          (int64_t) sl_time_sec, &m, &why)
        != SL_CACHE_STORE_OK)
    {
        /* The origin no longer lets it be stored: use it once, drop it. */
        sl_cache_obj_remove(ctx->store, ctx->obj);
        return SL_OK;
    }
    blen = sl_cache_obj_body_len(ctx->obj);
    m.body_len = blen;
    no = sl_cache_obj_new(ctx->store, ctx->key.data, ctx->key.len, &m,
                          sizeof(m), vary, vlen, merged, (size_t) mlen);
    if (no == NULL)
        return SL_OK;
    for (off = 0; off < blen; ) {
        n = sl_cache_obj_body_iov(ctx->obj, off, blen - off, iov,
                                  SL_CACHE_IOV);
        if (n <= 0)
            break;
        for (j = 0; j < n; j++) {
            if (sl_cache_obj_append(ctx->store, no, iov[j].iov_base,
                                    iov[j].iov_len) != SL_OK)
            {
                sl_cache_obj_abort(ctx->store, no);
                return SL_OK;
            }
            off += (int64_t) iov[j].iov_len;
        }
    }
    if (off != blen) {
        sl_cache_obj_abort(ctx->store, no);
        return SL_OK;
    }
    sl_cache_obj_commit(ctx->store, no, NULL, NULL);
    /* Serve what is now stored (a reference of our own). */
    if (sl_cache_lookup(ctx->store, ctx->key.data, ctx->key.len,
                        sl_cache_vary_cb, (void *) ctx->req, &fresh)
        == SL_OK)
    {
        sl_cache_obj_release(ctx->store, ctx->obj);
        ctx->obj = fresh;
        memcpy(&ctx->meta, sl_cache_obj_meta(fresh), sizeof(ctx->meta));
    }
    return SL_OK;
}

/*
 * Whether a 304 to the client's own conditional names the stored object
 * by its strong ETag: then it freshens the object too (RFC 9111 4.3.4).
 */
static int
sl_cache_same_etag(struct sl_cache_ctx *ctx, const struct sl_http_head *rh)
{
    const struct sl_str *e;
    const char *head, *v;
    size_t hlen, vl;
    int i;

    i = sl_http_find_header(rh, "etag");
    if (i < 0)
        return 0;
    e = &rh->headers[i].value;
    if (e->len < 2 || e->data[0] != '"')
        return 0;
    sl_cache_obj_head(ctx->obj, &head, &hlen);
    return sl_cache_head_field(head, hlen, "ETag", &v, &vl) && vl == e->len
           && memcmp(v, e->data, vl) == 0;
}

int
sl_http_cache_response(struct sl_http_request *r, struct sl_http_head *rh)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);
    struct sl_str cs;

    if (ctx == NULL || ctx->store == NULL)
        return SL_DECLINED;
    ctx->fwd_status = rh->status;

    if (ctx->invalidate) {
        if (sl_cache_invalidates(r->head->method, rh->status))
            sl_cache_invalidate(ctx, rh);
        goto relay;
    }
    if (ctx->key.len == 0)
        goto relay;

    if (rh->status == 304 && ctx->obj != NULL
        && (ctx->revalidate || sl_cache_same_etag(ctx, rh)))
    {
        /*
         * The origin said the stored body is current: it is what the
         * client gets, even if the store could not be freshened (out of
         * memory); relaying the 304 to a client that sent no
         * conditional would be wrong.
         */
        (void) sl_cache_freshen(ctx, rh);
        sl_cache_unclaim_now(ctx);
        sl_cache_count(ctx->store, SL_CACHE_STAT_REVALIDATED, 1);
        sl_cache_set_status(r, "REVALIDATED");
        ctx->answer = SL_CACHE_ANSWER_OBJ;
        return SL_DONE;
    }
    if (rh->status >= 400 && sl_cache_stale_on_error(ctx, rh->status, -1)) {
        sl_cache_unclaim_now(ctx);
        ctx->detail = "stale-if-error";
        sl_cache_count(ctx->store, SL_CACHE_STAT_STALE, 1);
        sl_cache_set_status(r, "STALE");
        ctx->answer = SL_CACHE_ANSWER_OBJ;
        return SL_DONE;
    }
    if (ctx->store_ok && (rh->status != 304 || !ctx->revalidate))
        sl_cache_start_store(ctx, rh);
    else
        sl_cache_unclaim_now(ctx);

relay:
    if (!ctx->background) {
        cs = sl_cache_status_value(ctx, 0, 0, 0);
        if (cs.len > 0)
            (void) sl_http_add_header(r, "Cache-Status", 12, cs.data, cs.len);
    }
    return SL_DECLINED;
}

void
sl_http_cache_answer(struct sl_http_request *r)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);

    SL_ASSERT(ctx != NULL && ctx->obj != NULL);
    if (ctx->background) {
        /* Nobody to answer: the refresh is done. */
        r->status = 304;
        sl_http_finalize(r);
        return;
    }
    if (sl_cache_send_obj(ctx, 0) != SL_OK)
        sl_http_send_error(r, 500);
}

void
sl_http_cache_body(struct sl_http_request *r, const char **data, size_t *len)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);
    int64_t s, e;

    if (ctx == NULL || *len == 0)
        return;
    if (ctx->wobj != NULL
        && sl_cache_obj_append(ctx->store, ctx->wobj, *data, *len) != SL_OK)
    {
        /* Too big or no room: the client's stream goes on unstored. */
        sl_cache_abort_write(ctx);
        sl_cache_unclaim_now(ctx);
    }
    if (!ctx->ranged)
        return;
    /* The client gets only its range of what goes by. */
    s = sl_max(ctx->rstart, ctx->roff);
    e = sl_min(ctx->rend + 1, ctx->roff + (int64_t) *len);
    ctx->roff += (int64_t) *len;
    if (s >= e) {
        *len = 0;
        return;
    }
    *data += s - (ctx->roff - (int64_t) *len);
    *len = (size_t) (e - s);
}

/*
 * The origin's 200 is about to go to a client that asked for a range,
 * which was not sent upstream so that the whole could be stored: answer
 * the range from the stream (206 or 416), as a hit would.  rh->status
 * becomes the client's status; *announce its Content-Length.
 */
void
sl_http_cache_relay_head(struct sl_http_request *r, struct sl_http_head *rh,
    int64_t *announce)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);
    char blob[512], *p, *last, *cr;
    int64_t start, end, size = rh->content_length;
    int rc, i;

    if (ctx == NULL || rh->status != 200 || size < 0 || r->head_method
        || r->head->method != SL_HTTP_GET
        || sl_http_find_header(r->head, "range") < 0
        || !(ctx->store_ok || ctx->revalidate))     /* Range was sent */
    {
        return;
    }
    /* If-Range compares with the validators of this response. */
    p = blob;
    last = blob + sizeof(blob);
    i = sl_http_find_header(rh, "etag");
    if (i >= 0 && rh->headers[i].value.len < 200)
        p = sl_append_header(p, last, "ETag", 4, rh->headers[i].value.data,
                             rh->headers[i].value.len);
    i = sl_http_find_header(rh, "last-modified");
    if (i >= 0 && rh->headers[i].value.len < 200)
        p = sl_append_header(p, last, "Last-Modified", 13,
                             rh->headers[i].value.data,
                             rh->headers[i].value.len);
    rc = sl_cache_range(r->head, blob, (size_t) (p - blob), size, &start,
                        &end);
    if (rc != 206 && rc != 416)
        return;
    cr = sl_pnalloc(r->pool, 64);
    if (cr == NULL)
        return;
    if (rc == 206) {
        p = sl_snprintf(cr, cr + 64, "bytes %lld-%lld/%lld",
                        (long long) start, (long long) end, (long long) size);
        *announce = end - start + 1;
    } else {
        p = sl_snprintf(cr, cr + 64, "bytes */%lld", (long long) size);
        start = 0;
        end = -1;
        *announce = 0;
    }
    if (sl_http_add_header(r, "Content-Range", 13, cr, (size_t) (p - cr))
        != SL_OK)
    {
        return;
    }
    ctx->ranged = 1;
    ctx->rstart = start;
    ctx->rend = end;
    rh->status = rc;
}

int
sl_http_cache_convert_head(struct sl_http_request *r)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);

    return ctx != NULL && ctx->convert_head && r->head_method;
}

int
sl_http_cache_storing(struct sl_http_request *r)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);

    return ctx != NULL && ctx->wobj != NULL && !ctx->background;
}

void
sl_http_cache_body_end(struct sl_http_request *r)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);

    if (ctx == NULL || ctx->wobj == NULL)
        return;
    sl_cache_obj_commit(ctx->store, ctx->wobj, NULL, NULL);
    ctx->wobj = NULL;
    sl_cache_count(ctx->store, SL_CACHE_STAT_STORED, 1);
    sl_cache_unclaim_now(ctx);
}

int
sl_http_cache_error(struct sl_http_request *r, int status, int timeout)
{
    struct sl_cache_ctx *ctx = sl_cache_get_ctx(r);

    if (ctx == NULL || ctx->store == NULL)
        return SL_DECLINED;
    ctx->fwd_status = status;
    if (!sl_cache_stale_on_error(ctx, status, timeout ? 1 : 0)) {
        if (!ctx->background) {
            struct sl_str cs = sl_cache_status_value(ctx, 0, 0, 0);
            if (cs.len > 0)
                (void) sl_http_add_header(r, "Cache-Status", 12, cs.data,
                                          cs.len);
        }
        return SL_DECLINED;
    }
    sl_cache_unclaim_now(ctx);
    ctx->detail = "stale-if-error";
    sl_cache_count(ctx->store, SL_CACHE_STAT_STALE, 1);
    sl_cache_set_status(r, "STALE");
    if (sl_cache_send_obj(ctx, 0) != SL_OK)
        sl_http_send_error(r, 500);
    return SL_OK;
}
