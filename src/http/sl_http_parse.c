/*
 * sl_http_parse.c: strict HTTP/1.1 head parsing and chunked decoding
 * (RFC 9112, RFC 9110).
 *
 * Everything here is a pure function over the caller's memory: no
 * allocation, no globals other than constant tables, no calls into the
 * rest of sluice, so that the unit tests and the fuzzer link this file on
 * its own.  Input is treated as untrusted bytes: every read is bounded by
 * the end pointer the caller gives, and anything the RFCs leave ambiguous
 * in framing is rejected rather than guessed, because a proxy that reads
 * a message differently from the server behind it is a smuggling vector.
 *
 * The work happens in this order: find the end of the head, parse the
 * start line, parse the field lines (recording the few fields that decide
 * framing and connection handling), check framing as a whole, then decode
 * a chunked body incrementally.
 */
#include "sl_core.h"
#include "sl_http_parse.h"

#include <arpa/inet.h>

/*
 * Largest Content-Length or chunk size we accept.  Far below INT64_MAX so
 * that sums of lengths and offsets computed by callers cannot overflow.
 */
#define SL_HTTP_LENGTH_MAX   ((int64_t) 1 << 62)

/* Trailer field lines allowed after the last chunk. */
#define SL_HTTP_MAX_TRAILERS  SL_HTTP_MAX_HEADERS

typedef unsigned char  sl_uchar;

/*
 * Character classes, one table each so that every byte costs one load in
 * the scanning loops.  The GNU range initialisers keep them readable.
 */

/* tchar (RFC 9110 5.6.2): methods, field names, codings, options. */
static const sl_uchar sl_http_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1
};

/*
 * Field value, reason phrase, chunk extension and trailer bytes: HTAB, SP,
 * VCHAR and obs-text.  Every other CTL (CR and LF included) stops a scan.
 */
static const sl_uchar sl_http_fvchar[256] = {
    ['\t'] = 1, [' ' ... '~'] = 1, [0x80 ... 0xff] = 1
};

/*
 * Request-target bytes: VCHAR except '#' (a fragment is never sent, RFC
 * 9112 3.2).  Finer URI syntax (percent escapes, dot segments) is left to
 * the code that normalises the path.
 */
static const sl_uchar sl_http_target_char[256] = {
    ['!' ... '"'] = 1, ['$' ... '~'] = 1
};

/*
 * reg-name bytes (RFC 3986 3.2.2): unreserved, sub-delims and '%', but
 * not ','.  A comma is legal in a reg-name yet no DNS name has one, and in
 * a Host field it is what two Host lines look like once combined.
 */
static const sl_uchar sl_http_host_char[256] = {
    ['!'] = 1, ['$' ... '+'] = 1, ['-' ... '.'] = 1, ['0' ... '9'] = 1,
    [';'] = 1, ['='] = 1, ['A' ... 'Z'] = 1, ['_'] = 1, ['a' ... 'z'] = 1,
    ['~'] = 1
};

/* Hex digit value plus one; 0 for anything else. */
static const sl_uchar sl_http_hex1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
    ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16
};

#define sl_http_is_digit(c)  ((unsigned) ((c) - '0') < 10)
#define sl_http_is_ows(c)    ((c) == ' ' || (c) == '\t')

/* ASCII lowercase without the locale. */
static inline sl_uchar
sl_http_lc(sl_uchar c)
{
    return (sl_uchar) (c + (((unsigned) (c - 'A') < 26) << 5));
}

/* Compares [p, p + len) case-insensitively with a lowercase literal. */
static int
sl_http_caseeq(const sl_uchar *p, size_t len, const char *lit, size_t litlen)
{
    size_t  i;

    if (len != litlen) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (sl_http_lc(p[i]) != (sl_uchar) lit[i]) {
            return 0;
        }
    }
    return 1;
}

#define sl_http_caseeq_lit(p, len, lit) \
    sl_http_caseeq(p, len, lit, sizeof(lit) - 1)

static void
sl_http_str(struct sl_str *s, const sl_uchar *start, const sl_uchar *end)
{
    s->data = (char *) start;
    s->len = (size_t) (end - start);
}

static void
sl_http_str_null(struct sl_str *s)
{
    s->data = NULL;
    s->len = 0;
}

/*
 * FNV-1a over the lowercased name.  Cheap, no table, and good enough to
 * make a mismatch the common outcome of one integer compare.
 */
uint32_t
sl_http_hash_name(const char *name, size_t len)
{
    const sl_uchar  *p = (const sl_uchar *) name;
    uint32_t         hash = 2166136261u;
    size_t           i;

    for (i = 0; i < len; i++) {
        hash = (hash ^ sl_http_lc(p[i])) * 16777619u;
    }
    return hash;
}

/*
 * name is NUL-terminated.  Linear in nheaders, which is bounded; the hash
 * makes most comparisons one integer compare.
 */
int
sl_http_find_header(const struct sl_http_head *h, const char *name)
{
    const struct sl_http_header  *f;
    const sl_uchar               *a, *b = (const sl_uchar *) name;
    size_t                        len, j;
    uint32_t                      hash;
    unsigned                      i;

    len = strlen(name);
    hash = sl_http_hash_name(name, len);

    for (i = 0; i < h->nheaders; i++) {
        f = &h->headers[i];
        if (f->hash != hash || f->name.len != len) {
            continue;
        }
        a = (const sl_uchar *) f->name.data;
        for (j = 0; j < len; j++) {
            if (sl_http_lc(a[j]) != sl_http_lc(b[j])) {
                break;
            }
        }
        if (j == len) {
            return (int) i;
        }
    }
    return -1;
}

/* ---- finding the head ------------------------------------------------- */

/*
 * Only CR, LF and NUL matter here, so the loop skips every byte above CR
 * with one compare.  The state a resumed scan needs (are we still in the
 * empty lines before the start line? was the previous line empty?) is
 * recomputed from at most four bytes behind the LF, which keeps *scan a
 * plain offset and the total cost O(n).  The reasoning: a non-empty line
 * followed by an empty one ends the scan, so when the line before an
 * empty line is itself empty, every line before it was empty too.
 */
size_t
sl_http_find_head_end(const char *buf, size_t len, size_t *scan)
{
    const sl_uchar  *p = (const sl_uchar *) buf;
    size_t           i, s;

    for (i = *scan; i < len; i++) {
        if (sl_likely(p[i] > '\r')) {
            continue;
        }

        if (p[i] == '\n') {
            if (i == 0 || p[i - 1] != '\r') {
                goto malformed;                     /* bare LF */
            }
            s = i - 1;                              /* start of the CRLF */
            if (s > 0 && p[s - 1] != '\n') {
                continue;                           /* end of a field line */
            }
            /* an empty line; s >= 2 implies p[s - 2] == '\r' */
            if (s == 0 || s == 2 || p[s - 3] == '\n') {
                continue;                           /* leading empty line */
            }
            *scan = i + 1;
            return i + 1;

        } else if (p[i] == '\r') {
            if (i + 1 == len) {
                break;                              /* look again later */
            }
            if (p[i + 1] != '\n') {
                goto malformed;                     /* bare CR */
            }

        } else if (p[i] == '\0') {
            goto malformed;
        }
    }

    *scan = i;
    return 0;

malformed:

    *scan = i + 1;
    return i + 1;
}

/*
 * Skips the empty lines before the start line, then measures the first
 * line.  A line ended by a bare LF counts too, because the caller only
 * asks when no head was found, and then it is the length that matters.
 */
size_t
sl_http_line_len(const char *buf, size_t len)
{
    const char  *p = buf, *end = buf + len, *lf;

    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
        p += 2;
    }
    lf = memchr(p, '\n', (size_t) (end - p));
    if (lf == NULL || lf == p) {
        return 0;
    }
    return (size_t) (lf - p) - (lf[-1] == '\r');
}

/* ---- pieces of syntax shared by the start line and the fields ----------- */

static void
sl_http_head_init(struct sl_http_head *h)
{
    h->method = SL_HTTP_UNKNOWN;
    sl_http_str_null(&h->method_name);
    sl_http_str_null(&h->request_target);
    sl_http_str_null(&h->path);
    sl_http_str_null(&h->args);
    sl_http_str_null(&h->authority);
    h->status = 0;
    sl_http_str_null(&h->reason);
    h->http_major = 0;
    h->http_minor = 0;
    h->nheaders = 0;
    h->h_host = -1;
    h->h_content_length = -1;
    h->h_transfer_encoding = -1;
    h->h_connection = -1;
    h->h_upgrade = -1;
    h->h_expect = -1;
    h->content_length = -1;
    h->chunked = 0;
    h->conn_close = 0;
    h->conn_keepalive = 0;
    h->conn_upgrade = 0;
    h->expect_continue = 0;
}

/*
 * Checks host [":" port] (RFC 9110 7.2, RFC 3986 3.2.2): an IPv6 literal
 * that inet_pton accepts, or a reg-name / IPv4 address made of reg-name
 * bytes with well-formed percent escapes, then an optional port of at
 * most 65535.  An empty host is accepted only when the whole value is
 * empty and need_port is off (an empty Host field is legal; the caller
 * decides what it means).  IPvFuture and zone identifiers are refused.
 * Returns 1 when valid.
 */
static int
sl_http_valid_host(const sl_uchar *p, const sl_uchar *end, int need_port)
{
    const sl_uchar  *q;
    char             addr[INET6_ADDRSTRLEN];
    struct in6_addr  in6;
    size_t           n;
    unsigned         port;

    if (p == end) {
        return !need_port;
    }

    if (*p == '[') {
        for (q = p + 1; q < end && *q != ']'; q++) {
            if (!sl_http_hex1[*q] && *q != ':' && *q != '.') {
                return 0;
            }
        }
        n = (size_t) (q - p - 1);
        if (q == end || n < 2 || n >= sizeof(addr)) {
            return 0;
        }
        memcpy(addr, p + 1, n);
        addr[n] = '\0';
        if (inet_pton(AF_INET6, addr, &in6) != 1) {
            return 0;
        }
        p = q + 1;

    } else {
        for (q = p; q < end && sl_http_host_char[*q]; q++) {
            if (*q == '%') {
                if (end - q < 3 || !sl_http_hex1[q[1]] || !sl_http_hex1[q[2]])
                {
                    return 0;
                }
                q += 2;
            }
        }
        if (q == p) {
            return 0;
        }
        p = q;
    }

    if (p == end) {
        return !need_port;
    }
    if (*p++ != ':') {
        return 0;
    }
    if (need_port && p == end) {
        return 0;
    }
    if (end - p > 5) {
        return 0;
    }
    for (port = 0; p < end; p++) {
        if (!sl_http_is_digit(*p)) {
            return 0;
        }
        port = port * 10 + (unsigned) (*p - '0');
    }
    return port <= 65535;
}

/*
 * Splits the next element off a comma-separated list value.  *pp walks the
 * value and becomes NULL after the last element; returns 0 when there is
 * none left.  The element [*s, *e) is OWS-trimmed and may be empty:
 * list fields ignore empty elements (RFC 9110 5.6.1), Content-Length,
 * which is not a list, rejects them.
 */
static int
sl_http_next_elem(const sl_uchar **pp, const sl_uchar *end,
    const sl_uchar **s, const sl_uchar **e)
{
    const sl_uchar  *p = *pp, *a, *b;

    if (p == NULL) {
        return 0;
    }
    for (a = p; p < end && *p != ','; p++) {
        /* void */
    }
    b = p;
    *pp = (p < end) ? p + 1 : NULL;

    while (a < b && sl_http_is_ows(*a)) {
        a++;
    }
    while (b > a && sl_http_is_ows(b[-1])) {
        b--;
    }
    *s = a;
    *e = b;
    return 1;
}

/* Returns the end of the token starting at p (p itself when none). */
static const sl_uchar *
sl_http_skip_token(const sl_uchar *p, const sl_uchar *end)
{
    while (p < end && sl_http_tchar[*p]) {
        p++;
    }
    return p;
}

/*
 * Checks that [p, end) is a parameter list, *( OWS ";" OWS token BWS "="
 * BWS ( token / quoted-string ) ) as a transfer-coding may carry.
 */
static int
sl_http_valid_params(const sl_uchar *p, const sl_uchar *end)
{
    const sl_uchar  *q;

    while (p < end) {
        while (p < end && sl_http_is_ows(*p)) {
            p++;
        }
        if (p == end || *p++ != ';') {
            return 0;
        }
        while (p < end && sl_http_is_ows(*p)) {
            p++;
        }
        q = sl_http_skip_token(p, end);
        if (q == p) {
            return 0;
        }
        for (p = q; p < end && sl_http_is_ows(*p); p++) {
            /* void */
        }
        if (p == end || *p++ != '=') {
            return 0;
        }
        while (p < end && sl_http_is_ows(*p)) {
            p++;
        }
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && ++p == end) {
                    return 0;
                }
            }
            if (p == end) {
                return 0;
            }
            p++;
        } else {
            q = sl_http_skip_token(p, end);
            if (q == p) {
                return 0;
            }
            p = q;
        }
    }
    return 1;
}

/*
 * 1*DIGIT up to SL_HTTP_LENGTH_MAX, no sign, no space.  Returns the value
 * or -1.  Leading zeros are harmless: the value cannot grow with them.
 */
static int64_t
sl_http_parse_length(const sl_uchar *p, const sl_uchar *end)
{
    int64_t  v = 0;

    if (p == end) {
        return -1;
    }
    for ( /* void */ ; p < end; p++) {
        if (!sl_http_is_digit(*p) || v > SL_HTTP_LENGTH_MAX / 10) {
            return -1;
        }
        v = v * 10 + (*p - '0');
        if (v > SL_HTTP_LENGTH_MAX) {
            return -1;
        }
    }
    return v;
}

/* ---- start lines -------------------------------------------------------- */

/* Case-sensitive (RFC 9110 9.1): "get" is a method we do not know. */
static enum sl_http_method
sl_http_method_of(const sl_uchar *m, size_t len)
{
    switch (len) {
    case 3:
        if (memcmp(m, "GET", 3) == 0) {
            return SL_HTTP_GET;
        }
        if (memcmp(m, "PUT", 3) == 0) {
            return SL_HTTP_PUT;
        }
        break;
    case 4:
        if (memcmp(m, "HEAD", 4) == 0) {
            return SL_HTTP_HEAD;
        }
        if (memcmp(m, "POST", 4) == 0) {
            return SL_HTTP_POST;
        }
        break;
    case 5:
        if (memcmp(m, "PATCH", 5) == 0) {
            return SL_HTTP_PATCH;
        }
        if (memcmp(m, "TRACE", 5) == 0) {
            return SL_HTTP_TRACE;
        }
        if (memcmp(m, "PURGE", 5) == 0) {
            return SL_HTTP_PURGE;
        }
        break;
    case 6:
        if (memcmp(m, "DELETE", 6) == 0) {
            return SL_HTTP_DELETE;
        }
        break;
    case 7:
        if (memcmp(m, "OPTIONS", 7) == 0) {
            return SL_HTTP_OPTIONS;
        }
        if (memcmp(m, "CONNECT", 7) == 0) {
            return SL_HTTP_CONNECT;
        }
        break;
    }
    return SL_HTTP_UNKNOWN;
}

/* Sets path and args from [p, end), which starts with '/'. */
static void
sl_http_split_path(struct sl_http_head *h, const sl_uchar *p,
    const sl_uchar *end)
{
    const sl_uchar  *q;

    q = memchr(p, '?', (size_t) (end - p));
    if (q == NULL) {
        sl_http_str(&h->path, p, end);
    } else {
        sl_http_str(&h->path, p, q);
        sl_http_str(&h->args, q + 1, end);
    }
}

/*
 * Classifies the request-target [t, end) by its form (RFC 9112 3.2) and
 * fills path, args and authority.  The form must fit the method: CONNECT
 * takes authority-form and nothing else, asterisk-form is for OPTIONS.
 * Absolute-form is accepted for the http and https schemes only; its path
 * is what follows the authority, "/" when that is empty (the path of
 * "http://a?x" is "/" and its args "x"), and userinfo is refused (RFC
 * 9110 4.2.4).  Returns 0 or 400.
 */
static int
sl_http_parse_target(struct sl_http_head *h, const sl_uchar *t,
    const sl_uchar *end)
{
    const sl_uchar  *a, *q;
    size_t           len = (size_t) (end - t);

    if (h->method == SL_HTTP_CONNECT) {
        if (!sl_http_valid_host(t, end, 1)) {
            return 400;
        }
        sl_http_str(&h->authority, t, end);
        return 0;
    }

    if (*t == '/') {
        sl_http_split_path(h, t, end);
        return 0;
    }

    if (*t == '*') {
        if (len != 1 || h->method != SL_HTTP_OPTIONS) {
            return 400;
        }
        sl_http_str(&h->path, t, end);
        return 0;
    }

    if (len > 7 && sl_http_caseeq_lit(t, 7, "http://")) {
        a = t + 7;
    } else if (len > 8 && sl_http_caseeq_lit(t, 8, "https://")) {
        a = t + 8;
    } else {
        return 400;
    }

    for (q = a; q < end && *q != '/' && *q != '?'; q++) {
        /* void */
    }
    if (q == a || !sl_http_valid_host(a, q, 0)) {
        return 400;
    }
    sl_http_str(&h->authority, a, q);

    if (q < end && *q == '/') {
        sl_http_split_path(h, q, end);
    } else {
        sl_str_set(&h->path, "/");
        if (q < end) {
            sl_http_str(&h->args, q + 1, end);
        }
    }
    return 0;
}

/*
 * request-line = method SP request-target SP HTTP-version CRLF, with
 * exactly one SP each time (RFC 9112 3 allows a server to be lenient
 * about whitespace here; we are not, because a proxy that splits the line
 * differently from the origin can be steered).  The target is scanned at
 * most max_uri + 1 bytes so that an oversized one costs little.  HTTP
 * versions other than 1.0 and 1.1 are answered 505, including 1.2,
 * although RFC 9110 2.5 would have it treated as 1.1: a later minor
 * version does not exist, and whatever sends one is not a browser.
 */
static int
sl_http_parse_request_line(const sl_uchar **pp, const sl_uchar *end,
    struct sl_http_head *h, size_t max_uri)
{
    const sl_uchar  *p = *pp, *m, *t, *lim;
    int              rc;

    for (m = p; p < end && sl_http_tchar[*p]; p++) {
        /* void */
    }
    if (p == m || p == end || *p != ' ') {
        return 400;
    }
    sl_http_str(&h->method_name, m, p);
    h->method = sl_http_method_of(m, (size_t) (p - m));

    t = ++p;
    lim = ((size_t) (end - t) > max_uri) ? t + max_uri + 1 : end;
    while (p < lim && sl_http_target_char[*p]) {
        p++;
    }
    if ((size_t) (p - t) > max_uri) {
        return 414;
    }
    if (p == t || p == end || *p != ' ') {
        return 400;
    }
    sl_http_str(&h->request_target, t, p);
    rc = sl_http_parse_target(h, t, p);
    if (rc != 0) {
        return rc;
    }

    p++;
    if (end - p < 10 || memcmp(p, "HTTP/", 5) != 0
        || !sl_http_is_digit(p[5]) || p[6] != '.'
        || !sl_http_is_digit(p[7]) || p[8] != '\r' || p[9] != '\n')
    {
        return 400;
    }
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1')) {
        return 505;
    }
    h->http_major = 1;
    h->http_minor = p[7] - '0';

    *pp = p + 10;
    return 0;
}

/*
 * status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF.
 * The second SP is required even when the reason is empty; the code must
 * be 100-599.  Returns 0 or -1.
 */
static int
sl_http_parse_status_line(const sl_uchar **pp, const sl_uchar *end,
    struct sl_http_head *h)
{
    const sl_uchar  *p = *pp, *r;

    if (end - p < 15 || memcmp(p, "HTTP/1.", 7) != 0
        || (p[7] != '0' && p[7] != '1') || p[8] != ' '
        || p[9] < '1' || p[9] > '5'
        || !sl_http_is_digit(p[10]) || !sl_http_is_digit(p[11])
        || p[12] != ' ')
    {
        return -1;
    }
    h->http_major = 1;
    h->http_minor = p[7] - '0';
    h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

    p += 13;
    for (r = p; p < end && sl_http_fvchar[*p]; p++) {
        /* void */
    }
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
        return -1;
    }
    sl_http_str(&h->reason, r, p);

    *pp = p + 2;
    return 0;
}

/* ---- field lines -------------------------------------------------------- */

/* What the field lines left to check once all of them are seen. */
struct sl_http_fstate {
    unsigned  request:1;
    unsigned  te_chunked:1;     /* chunked seen, so it must be last */
    unsigned  te_other:1;       /* a coding we cannot decode */
    unsigned  expect_bad:1;     /* an expectation other than 100-continue */
};

/*
 * Transfer-Encoding, one line of it; the list may continue on later lines
 * (RFC 9110 5.3), so what must hold for the whole list is checked by the
 * caller at the end.  Anything after chunked, a second chunked included,
 * is refused here already.  Returns 0 or 400.
 */
static int
sl_http_field_te(struct sl_http_fstate *fs, const sl_uchar *v,
    const sl_uchar *end)
{
    const sl_uchar  *s, *e, *q;

    while (sl_http_next_elem(&v, end, &s, &e)) {
        if (s == e) {
            continue;
        }
        if (fs->te_chunked) {
            return 400;
        }
        q = sl_http_skip_token(s, e);
        if (q == s || !sl_http_valid_params(q, e)) {
            return 400;
        }
        if (sl_http_caseeq_lit(s, (size_t) (q - s), "chunked")) {
            if (q != e) {
                return 400;             /* chunked takes no parameters */
            }
            fs->te_chunked = 1;
        } else {
            fs->te_other = 1;
        }
    }
    return 0;
}

/*
 * Content-Length: 1*DIGIT; a list of one repeated value, or several lines
 * of it, is folded into that value (RFC 9110 8.6 allows either that or
 * rejection); any difference is ambiguous framing.  Returns 0 or 400.
 */
static int
sl_http_field_cl(struct sl_http_head *h, const sl_uchar *v,
    const sl_uchar *end)
{
    const sl_uchar  *s, *e;
    int64_t          n;

    while (sl_http_next_elem(&v, end, &s, &e)) {
        n = sl_http_parse_length(s, e);
        if (n < 0 || (h->content_length >= 0 && n != h->content_length)) {
            return 400;
        }
        h->content_length = n;
    }
    return 0;
}

/* Connection: a list of tokens; only three of them concern us. */
static int
sl_http_field_connection(struct sl_http_head *h, const sl_uchar *v,
    const sl_uchar *end)
{
    const sl_uchar  *s, *e;
    size_t           n;

    while (sl_http_next_elem(&v, end, &s, &e)) {
        if (s == e) {
            continue;
        }
        if (sl_http_skip_token(s, e) != e) {
            return 400;
        }
        n = (size_t) (e - s);
        if (sl_http_caseeq_lit(s, n, "close")) {
            h->conn_close = 1;
        } else if (sl_http_caseeq_lit(s, n, "keep-alive")) {
            h->conn_keepalive = 1;
        } else if (sl_http_caseeq_lit(s, n, "upgrade")) {
            h->conn_upgrade = 1;
        }
    }
    return 0;
}

/*
 * Expect: 100-continue is the only expectation defined; anything else is
 * answered 417 (RFC 9110 10.1.1) once framing is known to be sound.  An
 * HTTP/1.0 client cannot have meant 100-continue, so it is ignored there.
 */
static void
sl_http_field_expect(struct sl_http_head *h, struct sl_http_fstate *fs,
    const sl_uchar *v, const sl_uchar *end)
{
    const sl_uchar  *s, *e;

    while (sl_http_next_elem(&v, end, &s, &e)) {
        if (s == e) {
            continue;
        }
        if (!sl_http_caseeq_lit(s, (size_t) (e - s), "100-continue")) {
            fs->expect_bad = 1;
        } else if (h->http_minor >= 1) {
            h->expect_continue = 1;
        }
    }
}

/*
 * Looks at the field just stored at index i if it is one of the few that
 * decide framing or connection handling.  Names are matched on length
 * first, so most fields cost one switch.  Returns 0 or 400.
 */
static int
sl_http_field_known(struct sl_http_head *h, struct sl_http_fstate *fs,
    int i)
{
    const struct sl_http_header  *f = &h->headers[i];
    const sl_uchar               *n = (const sl_uchar *) f->name.data;
    const sl_uchar               *v = (const sl_uchar *) f->value.data;
    const sl_uchar               *ve = v + f->value.len;

    switch (f->name.len) {

    case 4:
        if (sl_http_caseeq_lit(n, 4, "host")) {
            if (fs->request) {
                /* RFC 9112 3.2: more than one Host, or a bad one, is 400 */
                if (h->h_host >= 0 || !sl_http_valid_host(v, ve, 0)) {
                    return 400;
                }
            }
            if (h->h_host < 0) {
                h->h_host = i;
            }
        }
        break;

    case 6:
        if (sl_http_caseeq_lit(n, 6, "expect")) {
            if (h->h_expect < 0) {
                h->h_expect = i;
            }
            if (fs->request) {
                sl_http_field_expect(h, fs, v, ve);
            }
        }
        break;

    case 7:
        if (sl_http_caseeq_lit(n, 7, "upgrade")) {
            if (h->h_upgrade < 0) {
                h->h_upgrade = i;
            }
        }
        break;

    case 10:
        if (sl_http_caseeq_lit(n, 10, "connection")) {
            if (h->h_connection < 0) {
                h->h_connection = i;
            }
            return sl_http_field_connection(h, v, ve);
        }
        break;

    case 14:
        if (sl_http_caseeq_lit(n, 14, "content-length")) {
            if (h->h_content_length < 0) {
                h->h_content_length = i;
            }
            return sl_http_field_cl(h, v, ve);
        }
        break;

    case 17:
        if (sl_http_caseeq_lit(n, 17, "transfer-encoding")) {
            if (h->h_transfer_encoding < 0) {
                h->h_transfer_encoding = i;
            }
            return sl_http_field_te(fs, v, ve);
        }
        break;
    }

    return 0;
}

/*
 * field-line = field-name ":" OWS field-value OWS, then CRLF, up to the
 * empty line.  The name is a token right up to the colon, so whitespace
 * before the colon and obs-fold (a line starting with SP or HTAB, RFC
 * 9112 5.2, which also covers whitespace before the first field) both
 * fail the token scan.  The value may hold HTAB, SP, VCHAR and obs-text;
 * any other control byte, a lone CR among them, is refused.  Bytes after
 * the empty line are not looked at.  Returns 0, 400 or 431.
 */
static int
sl_http_parse_fields(const sl_uchar *p, const sl_uchar *end,
    struct sl_http_head *h, struct sl_http_fstate *fs, size_t max_field)
{
    struct sl_http_header  *f;
    const sl_uchar         *line, *name_end, *v, *ve;
    uint32_t                hash;
    int                     rc;

    for ( ;; ) {
        if (p == end) {
            return 400;                     /* no empty line */
        }
        if (*p == '\r') {
            if (end - p < 2 || p[1] != '\n') {
                return 400;
            }
            return 0;
        }
        if (h->nheaders == SL_HTTP_MAX_HEADERS) {
            return 431;
        }

        line = p;
        hash = 2166136261u;
        while (p < end && sl_http_tchar[*p]) {
            hash = (hash ^ sl_http_lc(*p)) * 16777619u;
            p++;
        }
        if (p == line || p == end || *p != ':') {
            return 400;
        }
        name_end = p++;

        while (p < end && sl_http_is_ows(*p)) {
            p++;
        }
        v = p;
        while (p < end && sl_http_fvchar[*p]) {
            p++;
        }
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            return 400;
        }
        if ((size_t) (p - line) > max_field) {
            return 431;
        }
        for (ve = p; ve > v && sl_http_is_ows(ve[-1]); ve--) {
            /* void */
        }
        p += 2;

        f = &h->headers[h->nheaders];
        sl_http_str(&f->name, line, name_end);
        sl_http_str(&f->value, v, ve);
        f->hash = hash;

        rc = sl_http_field_known(h, fs, (int) h->nheaders++);
        if (rc != 0) {
            return rc;
        }
    }
}

/*
 * Message framing as a whole (RFC 9112 6.1, 6.3).  Transfer-Encoding with
 * Content-Length is refused rather than letting one override the other,
 * and so is Transfer-Encoding in HTTP/1.0, where neither side can trust
 * how the other frames the body.  A request whose codings do not end in
 * chunked has no determinable length (400); chunked after codings we
 * cannot undo is 501.  Returns 0 or an HTTP status.
 */
static int
sl_http_check_framing(struct sl_http_head *h, struct sl_http_fstate *fs)
{
    if (h->h_transfer_encoding >= 0) {
        if (h->http_minor == 0 || h->h_content_length >= 0
            || !fs->te_chunked)
        {
            return 400;
        }
        if (fs->te_other) {
            return 501;
        }
        h->chunked = 1;
    }
    return 0;
}

/*
 * The request head: empty lines, request line, fields, then the checks
 * that need all fields.  Every 400-class syntax error wins over 501 and
 * 417, which are only answered for a head that is otherwise sound.
 */
int
sl_http_parse_request(const char *buf, size_t len, struct sl_http_head *h,
    size_t max_uri, size_t max_field)
{
    const sl_uchar         *p = (const sl_uchar *) buf, *end = p + len;
    struct sl_http_fstate   fs = { .request = 1 };
    int                     rc;

    sl_http_head_init(h);

    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
        p += 2;
    }

    rc = sl_http_parse_request_line(&p, end, h, max_uri);
    if (rc != 0) {
        return rc;
    }
    rc = sl_http_parse_fields(p, end, h, &fs, max_field);
    if (rc != 0) {
        return rc;
    }

    /* RFC 9112 3.2: an HTTP/1.1 request without Host is 400 */
    if (h->http_minor == 1 && h->h_host < 0) {
        return 400;
    }
    rc = sl_http_check_framing(h, &fs);
    if (rc != 0) {
        return rc;
    }
    if (fs.expect_bad) {
        return 417;
    }
    return 0;
}

/*
 * The response head.  Same field rules, no empty lines allowed before the
 * status line (only servers are told to skip them), no limit on a field
 * line other than the buffer.  For a response RFC 9112 6.3 would read a
 * body whose codings do not end in chunked until close; we refuse it, as
 * we refuse any coding but chunked, since we could not decode it.
 */
int
sl_http_parse_response(const char *buf, size_t len, struct sl_http_head *h)
{
    const sl_uchar         *p = (const sl_uchar *) buf, *end = p + len;
    struct sl_http_fstate   fs = { .request = 0 };

    sl_http_head_init(h);

    if (sl_http_parse_status_line(&p, end, h) != 0
        || sl_http_parse_fields(p, end, h, &fs, (size_t) -1) != 0
        || sl_http_check_framing(h, &fs) != 0)
    {
        return -1;
    }
    return 0;
}

/* ---- chunked body ------------------------------------------------------- */

enum {
    SL_CHUNK_SIZE_START = 0,
    SL_CHUNK_SIZE,
    SL_CHUNK_SIZE_WS,           /* BWS before ';' */
    SL_CHUNK_EXT,
    SL_CHUNK_SIZE_LF,
    SL_CHUNK_DATA,
    SL_CHUNK_DATA_CR,
    SL_CHUNK_DATA_LF,
    SL_CHUNK_TRAILER_START,
    SL_CHUNK_TRAILER_NAME,
    SL_CHUNK_TRAILER_VALUE,
    SL_CHUNK_TRAILER_LF,
    SL_CHUNK_FINAL_LF,
    SL_CHUNK_DONE,
    SL_CHUNK_ERROR
};

/*
 * One byte at a time outside the data, which is handed out in place in as
 * large spans as the input allows.  All state lives in ctx, so the input
 * can be split anywhere.  chunk-size allows SL_HTTP_CHUNK_MAX_SIZE_DIGITS
 * hex digits (leading zeros count) and a value up to SL_HTTP_LENGTH_MAX,
 * as does the running total.  Extensions are checked only for their bytes
 * (HTAB, SP, VCHAR, obs-text): that is what keeps a bare LF or CR inside
 * one from ending the line for some other parser, and their meaning is
 * ignored anyway.  A chunk-size line and each trailer line are bounded by
 * SL_HTTP_CHUNK_MAX_LINE, the trailer lines by SL_HTTP_MAX_TRAILERS; a
 * trailer line must look like a field line.  Errors are sticky, and on one
 * *pos points at the offending byte.
 */
int
sl_http_chunked_parse(struct sl_http_chunked *ctx, const char **pos,
    const char *end, const char **data, size_t *data_len)
{
    const sl_uchar  *p = (const sl_uchar *) *pos;
    const sl_uchar  *e = (const sl_uchar *) end;
    size_t           n;
    unsigned         d;

    *data = NULL;
    *data_len = 0;

    if (ctx->state == SL_CHUNK_DONE) {
        return SL_DONE;
    }

    for ( /* void */ ; p < e; p++) {
        sl_uchar  c = *p;

        switch (ctx->state) {

        case SL_CHUNK_SIZE_START:
            d = sl_http_hex1[c];
            if (d == 0) {
                goto error;
            }
            ctx->size = d - 1;
            ctx->ext_len = 1;
            ctx->state = SL_CHUNK_SIZE;
            break;

        case SL_CHUNK_SIZE:
            d = sl_http_hex1[c];
            if (d != 0) {
                if (++ctx->ext_len > SL_HTTP_CHUNK_MAX_SIZE_DIGITS
                    || ctx->size > (SL_HTTP_LENGTH_MAX >> 4))
                {
                    goto error;
                }
                ctx->size = (ctx->size << 4) | (d - 1);
                if (ctx->size > SL_HTTP_LENGTH_MAX) {
                    goto error;
                }
                break;
            }
            ctx->ext_len++;
            if (c == '\r') {
                ctx->state = SL_CHUNK_SIZE_LF;
            } else if (c == ';') {
                ctx->state = SL_CHUNK_EXT;
            } else if (sl_http_is_ows(c)) {
                ctx->state = SL_CHUNK_SIZE_WS;
            } else {
                goto error;
            }
            break;

        case SL_CHUNK_SIZE_WS:
            if (++ctx->ext_len > SL_HTTP_CHUNK_MAX_LINE) {
                goto error;
            }
            if (c == ';') {
                ctx->state = SL_CHUNK_EXT;
            } else if (!sl_http_is_ows(c)) {
                goto error;
            }
            break;

        case SL_CHUNK_EXT:
            if (c == '\r') {
                ctx->state = SL_CHUNK_SIZE_LF;
            } else if (!sl_http_fvchar[c]
                       || ++ctx->ext_len > SL_HTTP_CHUNK_MAX_LINE)
            {
                goto error;
            }
            break;

        case SL_CHUNK_SIZE_LF:
            if (c != '\n') {
                goto error;
            }
            if (ctx->size == 0) {
                ctx->trailer_len = 0;
                ctx->state = SL_CHUNK_TRAILER_START;
            } else if (ctx->size > SL_HTTP_LENGTH_MAX - ctx->total) {
                goto error;
            } else {
                ctx->state = SL_CHUNK_DATA;
            }
            break;

        case SL_CHUNK_DATA:
            n = (size_t) (e - p);
            if ((int64_t) n > ctx->size) {
                n = (size_t) ctx->size;
            }
            *data = (const char *) p;
            *data_len = n;
            ctx->size -= (int64_t) n;
            ctx->total += (int64_t) n;
            if (ctx->size == 0) {
                ctx->state = SL_CHUNK_DATA_CR;
            }
            *pos = (const char *) p + n;
            return SL_OK;

        case SL_CHUNK_DATA_CR:
            if (c != '\r') {
                goto error;
            }
            ctx->state = SL_CHUNK_DATA_LF;
            break;

        case SL_CHUNK_DATA_LF:
            if (c != '\n') {
                goto error;
            }
            ctx->state = SL_CHUNK_SIZE_START;
            break;

        case SL_CHUNK_TRAILER_START:
            if (c == '\r') {
                ctx->state = SL_CHUNK_FINAL_LF;
            } else if (!sl_http_tchar[c]
                       || ++ctx->trailer_len > SL_HTTP_MAX_TRAILERS)
            {
                goto error;
            } else {
                ctx->ext_len = 1;
                ctx->state = SL_CHUNK_TRAILER_NAME;
            }
            break;

        case SL_CHUNK_TRAILER_NAME:
            if (++ctx->ext_len > SL_HTTP_CHUNK_MAX_LINE) {
                goto error;
            }
            if (c == ':') {
                ctx->state = SL_CHUNK_TRAILER_VALUE;
            } else if (!sl_http_tchar[c]) {
                goto error;
            }
            break;

        case SL_CHUNK_TRAILER_VALUE:
            if (c == '\r') {
                ctx->state = SL_CHUNK_TRAILER_LF;
            } else if (!sl_http_fvchar[c]
                       || ++ctx->ext_len > SL_HTTP_CHUNK_MAX_LINE)
            {
                goto error;
            }
            break;

        case SL_CHUNK_TRAILER_LF:
            if (c != '\n') {
                goto error;
            }
            ctx->state = SL_CHUNK_TRAILER_START;
            break;

        case SL_CHUNK_FINAL_LF:
            if (c != '\n') {
                goto error;
            }
            ctx->state = SL_CHUNK_DONE;
            *pos = (const char *) p + 1;
            return SL_DONE;

        default:
            goto error;
        }
    }

    *pos = (const char *) p;
    return ctx->state == SL_CHUNK_ERROR ? SL_ERROR : SL_AGAIN;

error:

    ctx->state = SL_CHUNK_ERROR;
    *pos = (const char *) p;
    return SL_ERROR;
}
