/*
 * fuzz_http_response.c: libFuzzer target for what the proxy does with an
 * upstream's bytes: find the end of the response head, parse it strictly,
 * then decode a chunked body in place the way sl_http_proxy.c does (the
 * decoded payload is moved to the front of the same buffer).
 *
 * Properties checked besides memory safety: a head the parser accepts has
 * a status from 100 to 599 and a consistent framing, and the in-place
 * decoding yields exactly the bytes of an out-of-place decoding.
 */
#include "sl_core.h"
#include "sl_http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fz_check(e)  do { if (!(e)) __builtin_trap(); } while (0)

static struct sl_http_head fz_head;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_http_chunked a, b;
    const char *p, *end, *d;
    char *buf, *copy, *ref;
    size_t scan = 0, len, dlen, out = 0, refn = 0, step;
    int rc;

    buf = malloc(size ? size : 1);
    copy = malloc(size ? size : 1);
    ref = malloc(size ? size : 1);
    fz_check(buf != NULL && copy != NULL && ref != NULL);
    memcpy(buf, data, size);

    len = sl_http_find_head_end(buf, size, &scan);
    if (len > 0 && sl_http_parse_response(buf, len, &fz_head) == 0) {
        fz_check(fz_head.status >= 100 && fz_head.status <= 599);
        fz_check(!(fz_head.chunked && fz_head.content_length >= 0));
    }

    /* The body: everything after the head (or the whole input). */
    p = buf + len;
    end = buf + size;
    memcpy(copy, buf, size);

    /* Reference: decode into a separate buffer, in small steps. */
    memset(&b, 0, sizeof(b));
    {
        const char *q = copy + len, *qe = copy + size;
        step = size % 7 + 1;
        while (q < qe) {
            const char *lim = q + step < qe ? q + step : qe;
            rc = sl_http_chunked_parse(&b, &q, lim, &d, &dlen);
            if (rc == SL_OK) {
                memcpy(ref + refn, d, dlen);
                refn += dlen;
                continue;
            }
            if (rc != SL_AGAIN)
                break;
        }
    }

    /* The proxy's way: one pass, payload moved to the front in place. */
    memset(&a, 0, sizeof(a));
    while (p < end) {
        rc = sl_http_chunked_parse(&a, &p, end, &d, &dlen);
        if (rc == SL_OK) {
            memmove(buf + len + out, d, dlen);
            out += dlen;
            continue;
        }
        break;
    }
    /* Moving payload over consumed framing must not change the result. */
    fz_check(out == refn);
    fz_check(memcmp(buf + len, ref, out) == 0);

    free(buf);
    free(copy);
    free(ref);
    return 0;
}
