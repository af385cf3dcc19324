/*
 * sl_http_response.c: building response heads, error pages, the `return`
 * handler, and URI normalisation.
 */
#include "sl_core.h"
#include "sl_http.h"
#include "sl_http_variables.h"

struct sl_http_status {
    int          code;
    const char  *text;
};

static const struct sl_http_status sl_http_statuses[] = {
    { 100, "Continue" }, { 101, "Switching Protocols" },
    { 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
    { 203, "Non-Authoritative Information" }, { 204, "No Content" },
    { 205, "Reset Content" }, { 206, "Partial Content" },
    { 300, "Multiple Choices" }, { 301, "Moved Permanently" },
    { 302, "Found" }, { 303, "See Other" }, { 304, "Not Modified" },
    { 307, "Temporary Redirect" }, { 308, "Permanent Redirect" },
    { 400, "Bad Request" }, { 401, "Unauthorized" },
    { 402, "Payment Required" }, { 403, "Forbidden" },
    { 404, "Not Found" }, { 405, "Method Not Allowed" },
    { 406, "Not Acceptable" }, { 407, "Proxy Authentication Required" },
    { 408, "Request Timeout" }, { 409, "Conflict" }, { 410, "Gone" },
    { 411, "Length Required" }, { 412, "Precondition Failed" },
    { 413, "Content Too Large" }, { 414, "URI Too Long" },
    { 415, "Unsupported Media Type" }, { 416, "Range Not Satisfiable" },
    { 417, "Expectation Failed" }, { 421, "Misdirected Request" },
    { 422, "Unprocessable Content" }, { 425, "Too Early" },
    { 426, "Upgrade Required" }, { 428, "Precondition Required" },
    { 429, "Too Many Requests" },
    { 431, "Request Header Fields Too Large" },
    { 451, "Unavailable For Legal Reasons" },
    { 500, "Internal Server Error" }, { 501, "Not Implemented" },
    { 502, "Bad Gateway" }, { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" }, { 505, "HTTP Version Not Supported" },
    { 507, "Insufficient Storage" },
    { 0, NULL }
};

const char *
sl_http_status_text(int status)
{
    const struct sl_http_status *s;

    for (s = sl_http_statuses; s->code != 0; s++) {
        if (s->code == status)
            return s->text;
    }
    return "Unknown";
}

int
sl_http_add_header(struct sl_http_request *r, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
    struct sl_http_out_header *h;

    h = sl_array_push(&r->out_headers);
    if (h == NULL)
        return SL_ERROR;
    h->name.data = (char *) name;
    h->name.len = nlen;
    h->value.data = (char *) value;
    h->value.len = vlen;
    return SL_OK;
}

static int
sl_http_status_has_body(int status)
{
    return !(status < 200 || status == 204 || status == 304);
}

/*
 * Builds the response head for r into pool memory; body_len is the
 * Content-Length to announce (-1: none).
 */
struct sl_buf *
sl_http_build_head(struct sl_http_request *r, int64_t body_len)
{
    struct sl_http_out_header *oh;
    struct sl_buf *b;
    const char *text;
    size_t len;
    unsigned i;
    char *p, *last;

    len = sizeof("HTTP/1.1 999 \r\n") + 64 + 1
          + sizeof("Server: " SL_SERVER "/" SL_VERSION "\r\n")
          + sizeof("Date: Mon, 28 Sep 1970 06:00:00 GMT\r\n")
          + sizeof("Content-Type: \r\n") + r->content_type.len
          + sizeof("Content-Length: 18446744073709551615\r\n")
          + sizeof("Location: \r\n") + r->location.len
          + sizeof("Transfer-Encoding: chunked\r\n")
          + sizeof("Connection: keep-alive\r\n") + 2;
    oh = r->out_headers.elts;
    for (i = 0; i < r->out_headers.nelts; i++)
        len += oh[i].name.len + oh[i].value.len + 4;

    b = sl_buf_create(r->pool, len);
    if (b == NULL)
        return NULL;
    p = b->last;
    last = b->end;
    text = sl_http_status_text(r->status);
    p = sl_append_lit(p, last, "HTTP/1.1 ");
    p = sl_append_uint(p, last, (uint64_t) r->status, 10);
    p = sl_append_lit(p, last, " ");
    p = sl_append(p, last, text, strlen(text));
    p = sl_append_lit(p, last, "\r\n");
    if (r->loc->server_tokens)
        p = sl_append_lit(p, last, "Server: " SL_SERVER "/" SL_VERSION "\r\n");
    else
        p = sl_append_lit(p, last, "Server: " SL_SERVER "\r\n");
    p = sl_append_header(p, last, "Date", 4, sl_cached_http_time,
                         sizeof(sl_cached_http_time) - 1);
    if (r->content_type.len)
        p = sl_append_header(p, last, "Content-Type", 12,
                             r->content_type.data, r->content_type.len);
    if (body_len >= 0 && sl_http_status_has_body(r->status)) {
        p = sl_append_lit(p, last, "Content-Length: ");
        p = sl_append_uint(p, last, (uint64_t) body_len, 10);
        p = sl_append_lit(p, last, "\r\n");
    } else if (r->chunked_out && sl_http_status_has_body(r->status)) {
        p = sl_append_lit(p, last, "Transfer-Encoding: chunked\r\n");
    }
    if (r->location.len)
        p = sl_append_header(p, last, "Location", 8, r->location.data,
                             r->location.len);
    for (i = 0; i < r->out_headers.nelts; i++)
        p = sl_append_header(p, last, oh[i].name.data, oh[i].name.len,
                             oh[i].value.data, oh[i].value.len);
    if (r->upgrade_out)
        p = sl_append_lit(p, last, "Connection: upgrade\r\n");
    else if (r->keepalive)
        p = sl_append_lit(p, last, "Connection: keep-alive\r\n");
    else
        p = sl_append_lit(p, last, "Connection: close\r\n");
    p = sl_append_lit(p, last, "\r\n");
    if (p == last)
        return NULL;        /* cannot happen: the size was counted */
    b->last = p;
    r->header_bytes_sent = (uint64_t) (p - b->pos);
    return b;
}

int
sl_http_send_simple(struct sl_http_request *r, int status,
    const struct sl_str *content_type, const struct sl_str *body)
{
    struct sl_chain **ll = &r->out;
    struct sl_buf *hb, *bb;
    int64_t blen = body != NULL ? (int64_t) body->len : 0;

    r->status = status;
    if (content_type != NULL)
        r->content_type = *content_type;
    r->content_length = blen;
    r->keepalive = sl_http_keepalive_ok(r);
    hb = sl_http_build_head(r, blen);
    if (hb == NULL)
        return SL_ERROR;
    ll = sl_chain_append(r->pool, ll, hb);
    if (ll == NULL)
        return SL_ERROR;
    if (body != NULL && body->len > 0 && !r->head_method
        && sl_http_status_has_body(status))
    {
        bb = sl_buf_wrap(r->pool, body->data, body->len);
        if (bb == NULL || sl_chain_append(r->pool, ll, bb) == NULL)
            return SL_ERROR;
    }
    r->header_sent = 1;
    return sl_http_output(r);
}

int
sl_http_send_error(struct sl_http_request *r, int status)
{
    static const struct sl_str html = sl_string("text/html");
    struct sl_str body;
    const char *text = sl_http_status_text(status);
    size_t len;

    /*
     * Errors about the request itself leave the connection in an unknown
     * state: close it after the reply.
     */
    if (status == 400 || status == 408 || status == 413 || status == 414
        || status == 431 || status == 500 || status == 501 || status == 505)
    {
        r->keepalive = 0;
    }
    len = 2 * (strlen(text) + 4) + 128;
    body.data = sl_pnalloc(r->pool, len);
    if (body.data == NULL)
        return SL_ERROR;
    body.len = (size_t) (sl_snprintf(body.data, body.data + len,
        "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
        "<center><h1>%d %s</h1></center>\r\n<hr><center>" SL_SERVER
        "</center>\r\n</body>\r\n</html>\r\n", status, text, status, text)
        - body.data);
    return sl_http_send_simple(r, status, &html, &body);
}

void
sl_http_return_handler(struct sl_http_request *r,
    struct sl_http_loc_conf *lcf)
{
    static const struct sl_str plain = sl_string("text/plain");
    struct sl_str text;
    int code = lcf->return_code;

    if (lcf->return_text == NULL) {
        if (code >= 400) {
            sl_http_send_error(r, code);
            return;
        }
        sl_http_send_simple(r, code, NULL, NULL);
        return;
    }
    if (sl_http_complex_value(r, lcf->return_text, &text) != SL_OK) {
        sl_http_send_error(r, 500);
        return;
    }
    if (code == 301 || code == 302 || code == 303 || code == 307
        || code == 308)
    {
        r->location = text;
        sl_http_send_error(r, code);
        return;
    }
    sl_http_send_simple(r, code, &plain, &text);
}

/* ---- URI normalisation -------------------------------------------------- */

static int
sl_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Decodes %XX, merges repeated slashes and resolves "." and ".." segments,
 * so that locations match what a file system or an upstream would see.
 * Rejects %00, a path not starting with '/', and ".." above the root.
 * out must hold len bytes; *outlen receives the result's length.
 */
int
sl_http_normalize_uri(const char *in, size_t len, char *out, size_t *outlen)
{
    size_t i, o = 0;
    int hi, lo;
    char ch;

    if (len == 0 || in[0] != '/')
        return SL_ERROR;
    for (i = 0; i < len; i++) {
        ch = in[i];
        if (ch == '%') {
            if (i + 2 >= len)
                return SL_ERROR;
            hi = sl_hexval(in[i + 1]);
            lo = sl_hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return SL_ERROR;
            ch = (char) (hi << 4 | lo);
            if (ch == '\0')
                return SL_ERROR;
            i += 2;
        }
        if (ch == '/' && o > 0 && out[o - 1] == '/')
            continue;                               /* "//" */
        out[o++] = ch;
        /* Resolve a finished "/." or "/.." segment. */
        if (ch == '/' || i + 1 == len) {
            size_t end = ch == '/' ? o - 1 : o;     /* segment end */
            size_t s = end;
            while (s > 0 && out[s - 1] != '/')
                s--;
            if (end - s == 1 && out[s] == '.') {
                o = s;                              /* drop "./" or "." */
            } else if (end - s == 2 && out[s] == '.' && out[s + 1] == '.') {
                if (s <= 1)
                    return SL_ERROR;                /* above the root */
                s--;                                /* the '/' before ".." */
                while (s > 0 && out[s - 1] != '/')
                    s--;
                o = s;
            }
        }
    }
    if (o == 0)
        out[o++] = '/';
    *outlen = o;
    return SL_OK;
}
