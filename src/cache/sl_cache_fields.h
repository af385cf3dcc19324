/*
 * sl_cache_fields.h: what the two halves of the cache policy share.
 *
 * sl_cache_fields.c parses the fields (dates, Cache-Control,
 * CDN-Cache-Control); sl_cache_policy.c applies RFC 9111 to them and
 * reads a few more fields (Age, Expires, Vary, validators, Range) with
 * the same lexical helpers.  Internal to src/cache: the public interface
 * is sl_cache_policy.h.
 */
#ifndef SL_CACHE_FIELDS_H
#define SL_CACHE_FIELDS_H

#include <stdint.h>
#include <stddef.h>

struct sl_http_head;
struct sl_http_header;
struct sl_cache_cc;

#define SL_CACHE_DELTA_MAX  2147483648LL    /* 2^31, RFC 9111 1.2.2 */

/* RFC 9110 5.6.2 tchar, as a table: it runs per byte of field names */
extern const unsigned char  sl_cache_tchar[256];

static inline int
sl_cache_lc(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static inline int
sl_cache_is_ows(int c)
{
    return c == ' ' || c == '\t';
}

static inline int
sl_cache_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static inline int
sl_cache_is_tchar(int c)
{
    return sl_cache_tchar[c & 0xff];
}

/*
 * Lists (RFC 9110 5.6.1): the start of the next element at or after p,
 * empty elements and OWS skipped; end when there is none.  What an
 * element may hold is each caller's business.
 */
static inline const char *
sl_cache_list_elem(const char *p, const char *end)
{
    while (p < end && (*p == ',' || sl_cache_is_ows((unsigned char) *p))) {
        p++;
    }
    return p;
}

/* Past the rest of the element p is in (quotes not minded): its comma. */
static inline const char *
sl_cache_list_rest(const char *p, const char *end)
{
    while (p < end && *p != ',') {
        p++;
    }
    return p;
}

/* ASCII case-insensitive comparison of two byte strings. */
int sl_cache_caseeq(const char *a, size_t alen, const char *b, size_t blen);

#define sl_cache_caseeq_lit(p, len, lit)                                     \
    sl_cache_caseeq(p, len, lit, sizeof(lit) - 1)

/*
 * Field lines named name (nlen bytes, hash from sl_http_hash_name), one
 * at a time: start *i at 0; returns NULL after the last.
 */
const struct sl_http_header *sl_cache_next_field(const struct sl_http_head *h,
    const char *name, size_t nlen, uint32_t hash, unsigned *i);

/* n decimal digits at p; -1 if any is not a digit. */
int sl_cache_digits(const char *p, int n);

/*
 * delta-seconds (RFC 9111 1.2.2): 1*DIGIT, saturated at 2^31; -1 if not
 * digits.
 */
int64_t sl_cache_delta(const char *p, size_t len);

/*
 * Parses the targeted field name (CDN-Cache-Control) of h into cc.
 * Returns SL_OK, or SL_DECLINED when the field is absent, empty or not a
 * valid dictionary (RFC 9213 2.1: ignore it then).
 */
int sl_cache_targeted_parse(const struct sl_http_head *h, const char *name,
    struct sl_cache_cc *cc);

#endif /* SL_CACHE_FIELDS_H */
