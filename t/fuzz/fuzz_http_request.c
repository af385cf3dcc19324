/*
 * fuzz_http_request.c: libFuzzer target for the HTTP head parsers and the
 * chunked decoder (src/http/sl_http_parse.c).
 *
 * Besides "never crash, never read out of bounds", it checks properties
 * that a wrong state machine breaks without crashing: finding the head
 * end incrementally gives the same answer as one call, a chunked body
 * decodes to the same bytes however the input is split, and the limits
 * only ever turn a result into 414 or 431.  A broken property traps, so
 * libFuzzer keeps the input.  Pieces handed to the parsers are copied into
 * heap blocks of exactly their size, so that ASan sees any overread.
 */
#include "sl_core.h"
#include "sl_http_parse.h"

#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fz_check(e)  do { if (!(e)) __builtin_trap(); } while (0)

/* Splits come from the input itself, so a crash replays exactly. */
static uint64_t
fz_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint64_t
fz_seed(const uint8_t *p, size_t n)
{
    uint64_t  h = 1469598103934665603ULL;
    size_t    i;

    for (i = 0; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211ULL;
    }
    return h | 1;
}

static char *
fz_dup(const char *p, size_t n)
{
    char  *b = malloc(n ? n : 1);

    fz_check(b != NULL);
    memcpy(b, p, n);
    return b;
}

/* ---- head end ----------------------------------------------------------- */

static size_t
fz_find_head(const char *in, size_t len, uint64_t *rng)
{
    size_t   once, r, scan, l, prev;
    char    *b;

    scan = 0;
    once = sl_http_find_head_end(in, len, &scan);
    fz_check(once <= len);
    fz_check(once == 0 || once >= 1);

    /* one byte more per call, on the shared buffer */
    r = 0;
    scan = 0;
    for (l = 0; l <= len; l++) {
        prev = scan;
        r = sl_http_find_head_end(in, l, &scan);
        fz_check(scan >= prev && scan <= l);
        if (r != 0) {
            break;
        }
    }
    fz_check(r == once);

    /* growing prefixes at random lengths, each in an exact-size copy */
    r = 0;
    scan = 0;
    for (l = 0; r == 0 && l < len; ) {
        l += 1 + fz_rand(rng) % (len - l);
        b = fz_dup(in, l);
        r = sl_http_find_head_end(b, l, &scan);
        free(b);
        fz_check(scan <= l);
    }
    fz_check(r == once);

    return once;
}

/* ---- heads -------------------------------------------------------------- */

static int
fz_within(const struct sl_str *s, const char *buf, size_t len)
{
    if (s->data == NULL) {
        return s->len == 0;
    }
    return s->data >= buf && s->len <= len
           && (size_t) (s->data - buf) <= len - s->len;
}

static int
fz_index_ok(int i, const struct sl_http_head *h)
{
    return i == -1 || (i >= 0 && (unsigned) i < h->nheaders);
}

/* Invariants of a head the parser accepted. */
static void
fz_check_head(const struct sl_http_head *h, const char *buf, size_t len,
    int request)
{
    const struct sl_str  *name;
    char                 *z;
    unsigned              i;
    int                   k;

    fz_check(h->nheaders <= SL_HTTP_MAX_HEADERS);
    for (i = 0; i < h->nheaders; i++) {
        name = &h->headers[i].name;
        fz_check(name->len > 0);
        fz_check(fz_within(name, buf, len));
        fz_check(fz_within(&h->headers[i].value, buf, len));
        fz_check(h->headers[i].hash
                 == sl_http_hash_name(name->data, name->len));

        /* looking the name up finds this field or an earlier namesake */
        z = malloc(name->len + 1);
        fz_check(z != NULL);
        memcpy(z, name->data, name->len);
        z[name->len] = '\0';
        k = sl_http_find_header(h, z);
        free(z);
        fz_check(k >= 0 && (unsigned) k <= i
                 && h->headers[k].name.len == name->len
                 && strncasecmp(h->headers[k].name.data, name->data,
                                name->len) == 0);
    }
    fz_check(fz_index_ok(h->h_host, h));
    fz_check(fz_index_ok(h->h_content_length, h));
    fz_check(fz_index_ok(h->h_transfer_encoding, h));
    fz_check(fz_index_ok(h->h_connection, h));
    fz_check(fz_index_ok(h->h_upgrade, h));
    fz_check(fz_index_ok(h->h_expect, h));
    fz_check(h->content_length >= -1
             && h->content_length <= ((int64_t) 1 << 62));
    fz_check((h->content_length >= 0) == (h->h_content_length >= 0));
    fz_check(!(h->chunked && h->h_content_length >= 0));
    fz_check(h->chunked == (h->h_transfer_encoding >= 0));
    fz_check(h->http_major == 1
             && (h->http_minor == 0 || h->http_minor == 1));
    fz_check(!(h->chunked && h->http_minor == 0));

    if (request) {
        fz_check(h->method_name.len > 0);
        fz_check(fz_within(&h->method_name, buf, len));
        fz_check(h->request_target.len > 0);
        fz_check(fz_within(&h->request_target, buf, len));
        fz_check(fz_within(&h->args, buf, len));
        fz_check(fz_within(&h->authority, buf, len));
        /* the path of an absolute-form target without one is "/" */
        fz_check(fz_within(&h->path, buf, len)
                 || (h->path.len == 1 && h->path.data[0] == '/'));
        fz_check(h->http_minor == 0 || h->h_host >= 0);
        fz_check(!(h->expect_continue && h->http_minor == 0));
    } else {
        fz_check(h->status >= 100 && h->status <= 599);
        fz_check(fz_within(&h->reason, buf, len));
    }
}

static void
fz_request(const char *in, size_t len, uint64_t *rng)
{
    static struct sl_http_head  h;
    size_t                      max_uri, max_field;
    int                         rc, rcl;
    char                       *b = fz_dup(in, len);

    /* 431 remains possible: SL_HTTP_MAX_HEADERS is no parameter */
    rc = sl_http_parse_request(b, len, &h, (size_t) -1, (size_t) -1);
    fz_check(rc == 0 || rc == 400 || rc == 417 || rc == 431 || rc == 501
             || rc == 505);
    if (rc == 0) {
        fz_check_head(&h, b, len, 1);
    }

    max_uri = fz_rand(rng) % 48;
    max_field = fz_rand(rng) % 48;
    rcl = sl_http_parse_request(b, len, &h, max_uri, max_field);
    fz_check(rcl == rc || rcl == 414 || rcl == 431);
    if (rcl == 0) {
        fz_check_head(&h, b, len, 1);
        fz_check(h.request_target.len <= max_uri);
    }
    free(b);
}

static void
fz_response(const char *in, size_t len)
{
    static struct sl_http_head  h;
    char                       *b = fz_dup(in, len);

    if (sl_http_parse_response(b, len, &h) == 0) {
        fz_check_head(&h, b, len, 0);
    }
    free(b);
}

/* ---- chunked ------------------------------------------------------------ */

struct fz_dec {
    int       rc;
    size_t    consumed;
    int64_t   total;
    size_t    outlen;
    uint64_t  hash;
};

enum { FZ_WHOLE, FZ_RANDOM, FZ_BYTES };

/*
 * Decodes in[0..len) in pieces chosen by mode until SL_DONE, SL_ERROR or
 * the end.  FZ_RANDOM copies each piece of one byte or more to its own
 * block, with empty calls in between; FZ_BYTES feeds the shared buffer a
 * byte at a time, which is cheap and splits everywhere at once.
 */
static void
fz_decode(const char *in, size_t len, int mode, uint64_t *rng,
    struct fz_dec *r)
{
    struct sl_http_chunked  ctx;
    const char             *pos, *piece, *data, *pend, *before;
    char                   *copy;
    size_t                  from = 0, to, dlen, i;
    int                     rc = SL_AGAIN;

    memset(&ctx, 0, sizeof(ctx));
    memset(r, 0, sizeof(*r));
    r->hash = 1469598103934665603ULL;

    while (rc == SL_AGAIN) {
        switch (mode) {
        case FZ_WHOLE:
            to = len;
            break;
        case FZ_RANDOM:
            /* now and then an empty call, which must change nothing */
            if (fz_rand(rng) % 4 == 0) {
                before = in + from;
                rc = sl_http_chunked_parse(&ctx, &before, before, &data,
                                           &dlen);
                fz_check(rc == SL_AGAIN && before == in + from);
            }
            to = (from < len) ? from + 1 + fz_rand(rng) % (len - from) : len;
            break;
        default:
            to = (from < len) ? from + 1 : len;
        }

        copy = (mode == FZ_RANDOM) ? fz_dup(in + from, to - from) : NULL;
        piece = copy ? copy : in + from;
        pend = piece + (to - from);
        pos = piece;

        for ( ;; ) {
            before = pos;
            rc = sl_http_chunked_parse(&ctx, &pos, pend, &data, &dlen);
            fz_check(pos >= before && pos <= pend);
            if (rc != SL_OK) {
                break;
            }
            fz_check(dlen > 0 && data >= before && data + dlen == pos);
            for (i = 0; i < dlen; i++) {
                r->hash = (r->hash ^ (uint8_t) data[i]) * 1099511628211ULL;
            }
            r->outlen += dlen;
        }
        fz_check(rc == SL_AGAIN || rc == SL_DONE || rc == SL_ERROR);
        fz_check(rc != SL_AGAIN || pos == pend);
        r->consumed = from + (size_t) (pos - piece);

        if (rc == SL_DONE) {
            /* done stays done and takes nothing more */
            before = pos;
            fz_check(sl_http_chunked_parse(&ctx, &pos, pend, &data, &dlen)
                     == SL_DONE && pos == before);
        }

        free(copy);
        if (to == len && rc == SL_AGAIN) {
            break;
        }
        from = to;
    }

    r->rc = rc;
    r->total = ctx.total;
    fz_check((int64_t) r->outlen == r->total);
}

static void
fz_chunked(const char *in, size_t len, uint64_t *rng)
{
    struct fz_dec  a, b, c;

    fz_decode(in, len, FZ_WHOLE, rng, &a);
    fz_decode(in, len, FZ_RANDOM, rng, &b);
    fz_decode(in, len, FZ_BYTES, rng, &c);

    fz_check(a.rc == b.rc && a.rc == c.rc);
    fz_check(a.consumed == b.consumed && a.consumed == c.consumed);
    fz_check(a.outlen == b.outlen && a.outlen == c.outlen);
    fz_check(a.hash == b.hash && a.hash == c.hash);
}

/* ---- entry -------------------------------------------------------------- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char  *in = (const char *) data;
    uint64_t     rng = fz_seed(data, size);
    size_t       head, n;

    head = fz_find_head(in, size, &rng);

    n = sl_http_line_len(in, size);
    fz_check(n <= size);

    /* what a worker does: parse the delimited head, decode the rest */
    if (head != 0) {
        fz_request(in, head, &rng);
        fz_response(in, head);
        fz_chunked(in + head, size - head, &rng);

        /* an early return on a bad byte must end in a rejection */
        if (head < 4 || memcmp(in + head - 4, "\r\n\r\n", 4) != 0) {
            static struct sl_http_head  h;

            fz_check(sl_http_parse_request(in, head, &h, (size_t) -1,
                                           (size_t) -1) != 0);
            fz_check(sl_http_parse_response(in, head, &h) != 0);
        }
    }

    /* and the same functions on anything at all */
    fz_request(in, size, &rng);
    fz_response(in, size);
    fz_chunked(in, size, &rng);

    return 0;
}
