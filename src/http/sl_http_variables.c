/*
 * sl_http_variables.c: the built-in variables, the registry other modules
 * add to, and complex values ("text $var text").
 *
 * Variables are resolved to a getter and a datum once, when the
 * configuration is read; at request time a getter only looks at the
 * request and, when it must format a value, allocates the bytes from
 * r->pool.  Getters run for every logged request, so they format numbers
 * by hand and never call malloc or printf.
 *
 * Prefix variables ($http_NAME, $sent_http_NAME, $arg_NAME, $cookie_NAME)
 * receive their suffix through data: the address of a struct sl_str,
 * lowercased, allocated from the configuration pool at compile time.
 */
#include "sl_core.h"
#include "sl_http_variables.h"

#include <arpa/inet.h>
#include <strings.h>
#include <sys/random.h>

#define SL_HTTP_VAR_MAX_ADDED   128
#define SL_HTTP_CV_STACK_PARTS  16

/* ---- small helpers ------------------------------------------------------- */

/* Writes v in decimal at p; returns the end.  p needs 20 bytes. */
static char *
sl_http_var_fmt_u64(char *p, uint64_t v)
{
    char tmp[20], *t = tmp + sizeof(tmp);
    size_t n;

    do {
        *--t = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    n = (size_t) (tmp + sizeof(tmp) - t);
    memcpy(p, t, n);
    return p + n;
}

/* Formats v into r->pool. */
static int
sl_http_var_u64(struct sl_http_request *r, struct sl_str *v, uint64_t n)
{
    char *p = sl_pnalloc(r->pool, 20);

    if (p == NULL)
        return SL_ERROR;
    v->data = p;
    v->len = (size_t) (sl_http_var_fmt_u64(p, n) - p);
    return SL_OK;
}

/* Formats milliseconds as "S.mmm" into r->pool; negative counts as 0. */
static int
sl_http_var_msec(struct sl_http_request *r, struct sl_str *v, sl_msec_t ms)
{
    char *p = sl_pnalloc(r->pool, 20 + 4), *e;
    unsigned frac;

    if (p == NULL)
        return SL_ERROR;
    if (ms < 0)
        ms = 0;
    frac = (unsigned) (ms % 1000);
    e = sl_http_var_fmt_u64(p, (uint64_t) (ms / 1000));
    *e++ = '.';
    *e++ = (char) ('0' + frac / 100);
    *e++ = (char) ('0' + frac / 10 % 10);
    *e++ = (char) ('0' + frac % 10);
    v->data = p;
    v->len = (size_t) (e - p);
    return SL_OK;
}

static int
sl_http_var_str(struct sl_str *v, const struct sl_str *s)
{
    if (s->len == 0)
        return SL_DECLINED;
    *v = *s;
    return SL_OK;
}

/*
 * Does the header name hname match a variable suffix (lowercase, '_'
 * standing for '-')?  nginx's rule, so that $http_x_forwarded_for finds
 * X-Forwarded-For.
 */
static int
sl_http_var_name_match(const struct sl_str *hname, const struct sl_str *sfx)
{
    size_t i;
    unsigned char ch;

    if (hname->len != sfx->len)
        return 0;
    for (i = 0; i < sfx->len; i++) {
        ch = (unsigned char) hname->data[i];
        if (ch >= 'A' && ch <= 'Z')
            ch |= 0x20;
        else if (ch == '-')
            ch = '_';
        if (ch != (unsigned char) sfx->data[i])
            return 0;
    }
    return 1;
}

/*
 * Joins the n values in vals with sep into r->pool, or returns the only
 * one without copying.
 */
static int
sl_http_var_join(struct sl_http_request *r, struct sl_str *v,
    const struct sl_str *const *vals, unsigned n, const char *sep)
{
    size_t len, slen = strlen(sep);
    unsigned i;
    char *p;

    if (n == 0)
        return SL_DECLINED;
    if (n == 1) {
        *v = *vals[0];
        return SL_OK;
    }
    len = slen * (n - 1);
    for (i = 0; i < n; i++)
        len += vals[i]->len;
    p = sl_pnalloc(r->pool, len);
    if (p == NULL)
        return SL_ERROR;
    v->data = p;
    v->len = len;
    for (i = 0; i < n; i++) {
        if (i > 0) {
            memcpy(p, sep, slen);
            p += slen;
        }
        memcpy(p, vals[i]->data, vals[i]->len);
        p += vals[i]->len;
    }
    return SL_OK;
}

/* ---- connection and request ---------------------------------------------- */

static int
sl_http_var_remote_addr(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    char *p = sl_pnalloc(r->pool, SL_SOCKADDR_STRLEN);

    if (p == NULL)
        return SL_ERROR;
    v->len = sl_sockaddr_ntop(&r->c->peer.sa, p, SL_SOCKADDR_STRLEN, 0);
    v->data = p;
    return v->len ? SL_OK : SL_DECLINED;
}

static int
sl_http_var_remote_port(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    sa_family_t f = r->c->peer.sa.sa_family;

    if (f != AF_INET && f != AF_INET6)
        return SL_DECLINED;
    return sl_http_var_u64(r, v, sl_sockaddr_port(&r->c->peer.sa));
}

/* 4 or 16 raw bytes, pointing into the connection: no copy. */
static int
sl_http_var_binary_remote_addr(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    switch (r->c->peer.sa.sa_family) {
    case AF_INET:
        v->data = (char *) &r->c->peer.sin.sin_addr;
        v->len = 4;
        return SL_OK;
    case AF_INET6:
        v->data = (char *) &r->c->peer.sin6.sin6_addr;
        v->len = 16;
        return SL_OK;
    default:
        return SL_DECLINED;
    }
}

/* The user auth_basic accepted; no value without one. */
static int
sl_http_var_remote_user(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    if (r->remote_user.len == 0)
        return SL_DECLINED;
    *v = r->remote_user;
    return SL_OK;
}

/*
 * The time caches: the value points into the cache, which changes at the
 * next sl_time_update(); callers use it at once (logs, complex values).
 */
static int
sl_http_var_time_local(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    if (sl_cached_http_log_time[0] == '\0')
        sl_time_update();
    v->data = sl_cached_http_log_time;
    v->len = sizeof(sl_cached_http_log_time) - 1;
    return SL_OK;
}

static int
sl_http_var_time_iso8601(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    if (sl_cached_iso8601[0] == '\0')
        sl_time_update();
    v->data = sl_cached_iso8601;
    v->len = sizeof(sl_cached_iso8601) - 1;
    return SL_OK;
}

static int
sl_http_var_msec_now(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    return sl_http_var_msec(r, v, sl_time_msec);
}

static int
sl_http_var_request(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    return sl_http_var_str(v, &r->request_line);
}

/* Three digits; "000" before a status was chosen, as nginx logs it. */
static int
sl_http_var_status(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    unsigned s = r->status > 0 ? (unsigned) r->status : 0;
    char *p;

    if (s > 999)
        return sl_http_var_u64(r, v, s);
    p = sl_pnalloc(r->pool, 3);
    if (p == NULL)
        return SL_ERROR;
    p[0] = (char) ('0' + s / 100);
    p[1] = (char) ('0' + s / 10 % 10);
    p[2] = (char) ('0' + s % 10);
    v->data = p;
    v->len = 3;
    return SL_OK;
}

static int
sl_http_var_body_bytes_sent(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    uint64_t n = 0;

    if (r->bytes_sent > r->header_bytes_sent)
        n = r->bytes_sent - r->header_bytes_sent;
    return sl_http_var_u64(r, v, n);
}

static int
sl_http_var_bytes_sent(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    return sl_http_var_u64(r, v, r->bytes_sent);
}

static int
sl_http_var_request_length(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    return sl_http_var_u64(r, v, r->request_length);
}

static int
sl_http_var_request_time(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    return sl_http_var_msec(r, v, sl_current_msec - r->start_msec);
}

/* ---- request headers ----------------------------------------------------- */

/*
 * $http_NAME: every field whose name matches, joined with ", " (with "; "
 * for Cookie, whose values RFC 6265 joins that way).
 */
static int
sl_http_var_http(struct sl_http_request *r, struct sl_str *v, uintptr_t data)
{
    const struct sl_str *sfx = (const struct sl_str *) data;
    const struct sl_str *vals[SL_HTTP_MAX_HEADERS];
    const struct sl_http_head *h = r->head;
    unsigned i, n = 0;

    if (h == NULL)
        return SL_DECLINED;
    for (i = 0; i < h->nheaders; i++) {
        if (sl_http_var_name_match(&h->headers[i].name, sfx))
            vals[n++] = &h->headers[i].value;
    }
    return sl_http_var_join(r, v, vals, n,
                            sl_str_eq(sfx, "cookie") ? "; " : ", ");
}

static int
sl_http_var_host(struct sl_http_request *r, struct sl_str *v, uintptr_t data)
{
    if (r->host.len != 0) {
        *v = r->host;
        return SL_OK;
    }
    if (r->srv == NULL)
        return SL_DECLINED;
    *v = r->srv->server_name;
    return SL_OK;
}

static int
sl_http_var_uri(struct sl_http_request *r, struct sl_str *v, uintptr_t data)
{
    return sl_http_var_str(v, &r->uri);
}

static int
sl_http_var_request_uri(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    if (r->head == NULL)
        return SL_DECLINED;
    return sl_http_var_str(v, &r->head->request_target);
}

static int
sl_http_var_args(struct sl_http_request *r, struct sl_str *v, uintptr_t data)
{
    return sl_http_var_str(v, &r->args);
}

/*
 * $arg_NAME: the raw (undecoded) value of the first "NAME=value" in the
 * query, NAME compared without case as nginx does.  "NAME" without '='
 * does not count.
 */
static int
sl_http_var_arg(struct sl_http_request *r, struct sl_str *v, uintptr_t data)
{
    const struct sl_str *sfx = (const struct sl_str *) data;
    const char *p = r->args.data, *end = p + r->args.len, *amp, *eq;

    if (r->args.len == 0)
        return SL_DECLINED;
    while (p < end) {
        amp = memchr(p, '&', (size_t) (end - p));
        if (amp == NULL)
            amp = end;
        eq = memchr(p, '=', (size_t) (amp - p));
        if (eq != NULL && (size_t) (eq - p) == sfx->len
            && strncasecmp(p, sfx->data, sfx->len) == 0)
        {
            v->data = (char *) eq + 1;
            v->len = (size_t) (amp - eq - 1);
            return SL_OK;
        }
        p = amp + 1;
    }
    return SL_DECLINED;
}

/*
 * $cookie_NAME: the value of the first cookie NAME (compared without case)
 * in the Cookie field(s); pairs are separated by ';' and optional blanks.
 */
static int
sl_http_var_cookie(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    const struct sl_str *sfx = (const struct sl_str *) data;
    const struct sl_http_head *h = r->head;
    const char *p, *end, *semi, *eq, *ve;
    unsigned i;

    if (h == NULL)
        return SL_DECLINED;
    for (i = 0; i < h->nheaders; i++) {
        if (!sl_str_caseeq(&h->headers[i].name, "cookie"))
            continue;
        p = h->headers[i].value.data;
        end = p + h->headers[i].value.len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            semi = memchr(p, ';', (size_t) (end - p));
            if (semi == NULL)
                semi = end;
            eq = memchr(p, '=', (size_t) (semi - p));
            if (eq != NULL && (size_t) (eq - p) == sfx->len
                && strncasecmp(p, sfx->data, sfx->len) == 0)
            {
                ve = semi;
                while (ve > eq + 1 && (ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                v->data = (char *) eq + 1;
                v->len = (size_t) (ve - eq - 1);
                return SL_OK;
            }
            p = semi + 1;
        }
    }
    return SL_DECLINED;
}

/* ---- response headers ---------------------------------------------------- */

static int
sl_http_var_sent_http(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    const struct sl_str *sfx = (const struct sl_str *) data;
    const struct sl_str *vals[32];
    struct sl_http_out_header *oh;
    unsigned i, n = 0;

    /* Fields the response writer keeps on the request, not in the list. */
    if (sl_str_eq(sfx, "content_type") && r->content_type.len != 0) {
        *v = r->content_type;
        return SL_OK;
    }
    if (sl_str_eq(sfx, "content_length") && r->content_length >= 0)
        return sl_http_var_u64(r, v, (uint64_t) r->content_length);
    if (sl_str_eq(sfx, "location") && r->location.len != 0) {
        *v = r->location;
        return SL_OK;
    }

    oh = r->out_headers.elts;
    for (i = 0; i < r->out_headers.nelts && n < sl_nelems(vals); i++) {
        if (sl_http_var_name_match(&oh[i].name, sfx))
            vals[n++] = &oh[i].value;
    }
    return sl_http_var_join(r, v, vals, n, ", ");
}

/* ---- server -------------------------------------------------------------- */

/* TLS will set a flag on the connection; until then every request is http. */
static int
sl_http_var_scheme(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    if (r->c->ssl != NULL)
        sl_str_set(v, "https");
    else
        sl_str_set(v, "http");
    return SL_OK;
}

static int
sl_http_var_request_method(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    if (r->head == NULL)
        return SL_DECLINED;
    return sl_http_var_str(v, &r->head->method_name);
}

static int
sl_http_var_server_name(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    if (r->srv == NULL)
        return SL_DECLINED;
    *v = r->srv->server_name;
    return SL_OK;
}

/*
 * The local address of the connection: the listen address when it is a
 * specific one, else getsockname() (a wildcard listener accepts on any).
 */
static int
sl_http_var_local_sa(struct sl_http_request *r, union sl_sockaddr *sa)
{
    struct sl_listening *ls = r->c->listening;
    socklen_t len = sizeof(*sa);

    if (ls != NULL) {
        if (ls->sa.sa.sa_family == AF_INET
            && ls->sa.sin.sin_addr.s_addr != htonl(INADDR_ANY))
        {
            *sa = ls->sa;
            return SL_OK;
        }
        if (ls->sa.sa.sa_family == AF_INET6
            && !IN6_IS_ADDR_UNSPECIFIED(&ls->sa.sin6.sin6_addr))
        {
            *sa = ls->sa;
            return SL_OK;
        }
    }
    if (getsockname(r->c->fd, &sa->sa, &len) == -1)
        return SL_DECLINED;
    return SL_OK;
}

static int
sl_http_var_server_addr(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    union sl_sockaddr sa;
    char *p;

    if (sl_http_var_local_sa(r, &sa) != SL_OK)
        return SL_DECLINED;
    p = sl_pnalloc(r->pool, SL_SOCKADDR_STRLEN);
    if (p == NULL)
        return SL_ERROR;
    v->len = sl_sockaddr_ntop(&sa.sa, p, SL_SOCKADDR_STRLEN, 0);
    v->data = p;
    return v->len ? SL_OK : SL_DECLINED;
}

static int
sl_http_var_server_port(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    union sl_sockaddr sa;

    if (r->c->listening != NULL)
        sa = r->c->listening->sa;
    else if (sl_http_var_local_sa(r, &sa) != SL_OK)
        return SL_DECLINED;
    if (sa.sa.sa_family != AF_INET && sa.sa.sa_family != AF_INET6)
        return SL_DECLINED;
    return sl_http_var_u64(r, v, sl_sockaddr_port(&sa.sa));
}

static int
sl_http_var_server_protocol(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    char *p;

    if (r->head == NULL || r->head->http_major <= 0)
        return SL_DECLINED;
    if (r->head->http_major == 1 && r->head->http_minor == 1) {
        sl_str_set(v, "HTTP/1.1");
        return SL_OK;
    }
    if (r->head->http_major == 1 && r->head->http_minor == 0) {
        sl_str_set(v, "HTTP/1.0");
        return SL_OK;
    }
    p = sl_pnalloc(r->pool, sizeof("HTTP/") - 1 + 20 + 1 + 20);
    if (p == NULL)
        return SL_ERROR;
    v->data = p;
    memcpy(p, "HTTP/", 5);
    p = sl_http_var_fmt_u64(p + 5, (uint64_t) r->head->http_major);
    *p++ = '.';
    p = sl_http_var_fmt_u64(p, (uint64_t) (r->head->http_minor < 0
                                           ? 0 : r->head->http_minor));
    v->len = (size_t) (p - v->data);
    return SL_OK;
}

static int
sl_http_var_connection(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    return sl_http_var_u64(r, v, r->c->number);
}

static int
sl_http_var_connection_requests(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    return sl_http_var_u64(r, v, r->c->requests);
}

static int
sl_http_var_pid(struct sl_http_request *r, struct sl_str *v, uintptr_t data)
{
    return sl_http_var_u64(r, v, (uint64_t) (sl_pid ? sl_pid : getpid()));
}

/* ---- $request_id --------------------------------------------------------- */

/*
 * xoshiro256** seeded once per process from getrandom().  The seed is tied
 * to the pid: a child forked after the parent seeded reseeds, so two
 * workers never hand out the same ids.
 */
static uint64_t sl_http_rid_state[4];
static pid_t sl_http_rid_pid;

static uint64_t
sl_http_rid_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
sl_http_rid_next(void)
{
    uint64_t *s = sl_http_rid_state;
    uint64_t result = sl_http_rid_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sl_http_rid_rotl(s[3], 45);
    return result;
}

static void
sl_http_rid_seed(pid_t pid)
{
    char *p = (char *) sl_http_rid_state;
    size_t left = sizeof(sl_http_rid_state);
    ssize_t n;
    uint64_t x;
    unsigned i;

    while (left > 0) {
        n = getrandom(p, left, 0);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            break;
        }
        p += n;
        left -= (size_t) n;
    }
    if (left > 0) {
        /* No getrandom(): a weak but unique-per-process seed (splitmix64). */
        sl_log_error(SL_LOG_WARN, errno, "getrandom() failed, "
                     "$request_id is not unpredictable");
        x = (uint64_t) sl_time_msec ^ ((uint64_t) pid << 32)
            ^ (uint64_t) (uintptr_t) &x;
        for (i = 0; i < 4; i++) {
            x += 0x9e3779b97f4a7c15ULL;
            sl_http_rid_state[i] = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        }
    }
    if ((sl_http_rid_state[0] | sl_http_rid_state[1] | sl_http_rid_state[2]
         | sl_http_rid_state[3]) == 0)
    {
        sl_http_rid_state[0] = 1;
    }
    sl_http_rid_pid = pid;
}

static int
sl_http_var_request_id(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    static const char hex[] = "0123456789abcdef";
    pid_t pid;
    uint64_t x;
    char *p;
    int i, k;

    if (r->request_id.len == 0) {
        pid = sl_pid ? sl_pid : getpid();
        if (pid != sl_http_rid_pid)
            sl_http_rid_seed(pid);
        p = sl_pnalloc(r->pool, 32);
        if (p == NULL)
            return SL_ERROR;
        for (i = 0; i < 2; i++) {
            x = sl_http_rid_next();
            for (k = 0; k < 16; k++) {
                p[i * 16 + k] = hex[x & 0xf];
                x >>= 4;
            }
        }
        r->request_id.data = p;
        r->request_id.len = 32;
    }
    *v = r->request_id;
    return SL_OK;
}

/* ---- upstream (filled by the proxy) -------------------------------------- */

static int
sl_http_var_upstream(struct sl_http_request *r, struct sl_str *v,
    uintptr_t data)
{
    return sl_http_var_str(v, (const struct sl_str *) ((char *) r + data));
}

/* ---- the tables ---------------------------------------------------------- */

#define SL_VAR(name, get, data)   { sl_string(name), get, data, 0 }
#define SL_VAR_PREFIX(name, get)  { sl_string(name), get, 0, 1 }

static const struct sl_http_variable sl_http_core_variables[] = {
    SL_VAR("remote_addr", sl_http_var_remote_addr, 0),
    SL_VAR("remote_port", sl_http_var_remote_port, 0),
    SL_VAR("binary_remote_addr", sl_http_var_binary_remote_addr, 0),
    SL_VAR("remote_user", sl_http_var_remote_user, 0),
    SL_VAR("time_local", sl_http_var_time_local, 0),
    SL_VAR("time_iso8601", sl_http_var_time_iso8601, 0),
    SL_VAR("msec", sl_http_var_msec_now, 0),
    SL_VAR("request", sl_http_var_request, 0),
    SL_VAR("status", sl_http_var_status, 0),
    SL_VAR("body_bytes_sent", sl_http_var_body_bytes_sent, 0),
    SL_VAR("bytes_sent", sl_http_var_bytes_sent, 0),
    SL_VAR("request_length", sl_http_var_request_length, 0),
    SL_VAR("request_time", sl_http_var_request_time, 0),
    SL_VAR("host", sl_http_var_host, 0),
    SL_VAR("uri", sl_http_var_uri, 0),
    SL_VAR("document_uri", sl_http_var_uri, 0),
    SL_VAR("request_uri", sl_http_var_request_uri, 0),
    SL_VAR("args", sl_http_var_args, 0),
    SL_VAR("query_string", sl_http_var_args, 0),
    SL_VAR("scheme", sl_http_var_scheme, 0),
    SL_VAR("request_method", sl_http_var_request_method, 0),
    SL_VAR("server_name", sl_http_var_server_name, 0),
    SL_VAR("server_addr", sl_http_var_server_addr, 0),
    SL_VAR("server_port", sl_http_var_server_port, 0),
    SL_VAR("server_protocol", sl_http_var_server_protocol, 0),
    SL_VAR("connection", sl_http_var_connection, 0),
    SL_VAR("connection_requests", sl_http_var_connection_requests, 0),
    SL_VAR("pid", sl_http_var_pid, 0),
    SL_VAR("request_id", sl_http_var_request_id, 0),
    SL_VAR("upstream_addr", sl_http_var_upstream,
           offsetof(struct sl_http_request, upstream_addr)),
    SL_VAR("upstream_status", sl_http_var_upstream,
           offsetof(struct sl_http_request, upstream_status)),
    SL_VAR("upstream_response_time", sl_http_var_upstream,
           offsetof(struct sl_http_request, upstream_response_time)),
    SL_VAR("upstream_cache_status", sl_http_var_upstream,
           offsetof(struct sl_http_request, upstream_cache_status)),
    SL_VAR_PREFIX("http_", sl_http_var_http),
    SL_VAR_PREFIX("sent_http_", sl_http_var_sent_http),
    SL_VAR_PREFIX("arg_", sl_http_var_arg),
    SL_VAR_PREFIX("cookie_", sl_http_var_cookie),
};

/*
 * Variables added by other modules.  A process-wide table, not part of a
 * cycle: entries must be static, and re-adding an identical entry (as a
 * module does at every reload) is accepted.
 */
static struct sl_http_variable sl_http_added_variables[SL_HTTP_VAR_MAX_ADDED];
static unsigned sl_http_nadded;

static const struct sl_http_variable *
sl_http_variable_find(const struct sl_str *name, int prefix)
{
    const struct sl_http_variable *v;
    unsigned i;

    for (i = 0; i < sl_nelems(sl_http_core_variables); i++) {
        v = &sl_http_core_variables[i];
        if (v->prefix == (unsigned) prefix && sl_str_caseeqstr(&v->name, name))
            return v;
    }
    for (i = 0; i < sl_http_nadded; i++) {
        v = &sl_http_added_variables[i];
        if (v->prefix == (unsigned) prefix && sl_str_caseeqstr(&v->name, name))
            return v;
    }
    return NULL;
}

int
sl_http_variable_add(const struct sl_http_variable *v)
{
    const struct sl_http_variable *old;

    if (v->name.len == 0 || v->get == NULL)
        return SL_ERROR;
    old = sl_http_variable_find(&v->name, v->prefix);
    if (old != NULL) {
        if (old->get == v->get && old->data == v->data)
            return SL_OK;
        return SL_ERROR;
    }
    if (sl_http_nadded == SL_HTTP_VAR_MAX_ADDED) {
        sl_log_error(SL_LOG_ALERT, 0, "too many variables, cannot add "
                     "\"%.*s\"", (int) v->name.len, v->name.data);
        return SL_ERROR;
    }
    sl_http_added_variables[sl_http_nadded++] = *v;
    return SL_OK;
}

/*
 * Finds the prefix variable whose name is the longest prefix of name (so
 * that an added "http_x_" would win over "http_").
 */
static const struct sl_http_variable *
sl_http_variable_find_prefix(const struct sl_str *name)
{
    const struct sl_http_variable *v, *best = NULL;
    unsigned i, n = sl_nelems(sl_http_core_variables) + sl_http_nadded;

    for (i = 0; i < n; i++) {
        v = i < sl_nelems(sl_http_core_variables)
            ? &sl_http_core_variables[i]
            : &sl_http_added_variables[i - sl_nelems(sl_http_core_variables)];
        if (!v->prefix || name->len <= v->name.len
            || strncasecmp(name->data, v->name.data, v->name.len) != 0)
        {
            continue;
        }
        if (best == NULL || v->name.len > best->name.len)
            best = v;
    }
    return best;
}

int
sl_http_variable_lookup(struct sl_pool *pool, const struct sl_str *name,
    sl_http_var_get_pt *get, uintptr_t *data)
{
    const struct sl_http_variable *v;
    struct sl_str *sfx;

    v = sl_http_variable_find(name, 0);
    if (v != NULL) {
        *get = v->get;
        *data = v->data;
        return SL_OK;
    }
    v = sl_http_variable_find_prefix(name);
    if (v == NULL)
        return SL_DECLINED;
    sfx = sl_palloc(pool, sizeof(*sfx));
    if (sfx == NULL)
        return SL_ERROR;
    sfx->len = name->len - v->name.len;
    sfx->data = sl_pnalloc(pool, sfx->len);
    if (sfx->data == NULL)
        return SL_ERROR;
    sl_strlow(sfx->data, name->data + v->name.len, sfx->len);
    *get = v->get;
    *data = (uintptr_t) sfx;
    return SL_OK;
}

/* ---- complex values ------------------------------------------------------ */

static int
sl_http_var_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_';
}

static int
sl_http_cv_push_text(struct sl_array *parts, const char *p, size_t len)
{
    struct sl_http_cv_part *part;

    if (len == 0)
        return SL_OK;
    part = sl_array_push(parts);
    if (part == NULL)
        return SL_ERROR;
    part->text.data = (char *) p;
    part->text.len = len;
    return SL_OK;
}

struct sl_http_complex_value *
sl_http_compile_complex_value(struct sl_conf_ctx *cf, const struct sl_str *s)
{
    struct sl_http_complex_value *cv;
    struct sl_http_cv_part *part;
    struct sl_array parts;
    struct sl_str name;
    char *src, *lit, *p, *end;
    int rc;

    cv = sl_pcalloc(cf->pool, sizeof(*cv));
    if (cv == NULL)
        goto nomem;
    /* The node's strings may live in a parse pool; keep our own copy. */
    src = sl_pnalloc(cf->pool, s->len + 1);
    if (src == NULL)
        goto nomem;
    if (s->len)
        memcpy(src, s->data, s->len);
    src[s->len] = '\0';
    cv->literal.data = src;
    cv->literal.len = s->len;
    if (sl_array_init(&parts, cf->pool, 4, sizeof(*part)) != SL_OK)
        goto nomem;

    lit = src;
    end = src + s->len;
    for (p = src; p < end; ) {
        if (*p != '$') {
            p++;
            continue;
        }
        if (p + 1 < end && p[1] == '{') {
            name.data = p + 2;
            for (name.len = 0; name.data + name.len < end
                 && name.data[name.len] != '}'; name.len++)
            {
                /* scan */
            }
            if (name.data + name.len == end) {
                sl_conf_error(cf, "the closing bracket in \"%.*s\" "
                              "variable is missing",
                              (int) name.len, name.data);
                return NULL;
            }
            if (name.len == 0) {
                sl_conf_error(cf, "empty variable name in \"%.*s\"",
                              (int) s->len, s->data);
                return NULL;
            }
        } else {
            name.data = p + 1;
            name.len = 0;
            while (name.data + name.len < end
                   && sl_http_var_name_char(
                          (unsigned char) name.data[name.len]))
            {
                name.len++;
            }
            if (name.len == 0) {
                /* A '$' that starts no name is literal text. */
                p++;
                continue;
            }
        }
        if (sl_http_cv_push_text(&parts, lit, (size_t) (p - lit)) != SL_OK)
            goto nomem;
        part = sl_array_push(&parts);
        if (part == NULL)
            goto nomem;
        rc = sl_http_variable_lookup(cf->pool, &name, &part->get,
                                     &part->data);
        if (rc == SL_DECLINED) {
            sl_conf_error(cf, "unknown \"%.*s\" variable",
                          (int) name.len, name.data);
            return NULL;
        }
        if (rc != SL_OK)
            goto nomem;
        cv->has_vars = 1;
        p = name.data + name.len + (p[1] == '{' ? 1 : 0);
        lit = p;
    }
    if (sl_http_cv_push_text(&parts, lit, (size_t) (end - lit)) != SL_OK)
        goto nomem;

    cv->parts = parts.elts;
    cv->nparts = parts.nelts;
    return cv;

nomem:
    sl_conf_error(cf, "out of memory");
    return NULL;
}

/*
 * Evaluates in two passes: the getters run once and their values are
 * kept (on the stack for up to SL_HTTP_CV_STACK_PARTS parts), then one
 * r->pool allocation receives the copy.  A variable without a value
 * (SL_DECLINED) contributes the empty string; unlike the access log there
 * is no "-" here, since a complex value becomes a header or a body.
 */
int
sl_http_complex_value(struct sl_http_request *r,
    const struct sl_http_complex_value *cv, struct sl_str *out)
{
    struct sl_str stack_vals[SL_HTTP_CV_STACK_PARTS], *vals;
    const struct sl_http_cv_part *part;
    size_t len = 0;
    unsigned i;
    char *p;
    int rc;

    if (!cv->has_vars) {
        *out = cv->literal;
        return SL_OK;
    }
    vals = stack_vals;
    if (cv->nparts > SL_HTTP_CV_STACK_PARTS) {
        vals = sl_palloc(r->pool, cv->nparts * sizeof(*vals));
        if (vals == NULL)
            return SL_ERROR;
    }
    for (i = 0; i < cv->nparts; i++) {
        part = &cv->parts[i];
        if (part->get == NULL) {
            vals[i] = part->text;
        } else {
            rc = part->get(r, &vals[i], part->data);
            if (rc == SL_ERROR)
                return SL_ERROR;
            if (rc != SL_OK)
                vals[i].len = 0;
        }
        len += vals[i].len;
    }
    p = sl_pnalloc(r->pool, len ? len : 1);
    if (p == NULL)
        return SL_ERROR;
    out->data = p;
    out->len = len;
    for (i = 0; i < cv->nparts; i++) {
        if (vals[i].len) {
            memcpy(p, vals[i].data, vals[i].len);
            p += vals[i].len;
        }
    }
    return SL_OK;
}
