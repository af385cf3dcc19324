/*
 * sl_string.c: counted strings and small formatting helpers.
 */
#include "sl_core.h"

#include <ctype.h>
#include <strings.h>

int
sl_str_eq(const struct sl_str *s, const char *lit)
{
    size_t n = strlen(lit);

    return s->len == n && memcmp(s->data, lit, n) == 0;
}

int
sl_str_caseeq(const struct sl_str *s, const char *lit)
{
    size_t n = strlen(lit);

    return s->len == n && strncasecmp(s->data, lit, n) == 0;
}

int
sl_str_eqstr(const struct sl_str *a, const struct sl_str *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

int
sl_str_caseeqstr(const struct sl_str *a, const struct sl_str *b)
{
    return a->len == b->len && strncasecmp(a->data, b->data, a->len) == 0;
}

char *
sl_pstrdup(struct sl_pool *pool, const struct sl_str *s)
{
    char *p = sl_pnalloc(pool, s->len + 1);

    if (p == NULL)
        return NULL;
    if (s->len)
        memcpy(p, s->data, s->len);
    p[s->len] = '\0';
    return p;
}

char *
sl_pstrdupz(struct sl_pool *pool, const char *s)
{
    struct sl_str str = { strlen(s), (char *) s };

    return sl_pstrdup(pool, &str);
}

int64_t
sl_atoi(const char *p, size_t len)
{
    int64_t v = 0;

    if (len == 0)
        return -1;
    for (; len; len--, p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

int64_t
sl_hextoi(const char *p, size_t len)
{
    int64_t v = 0;
    int d;

    if (len == 0)
        return -1;
    for (; len; len--, p++) {
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')
            d = (*p | 0x20) - 'a' + 10;
        else
            return -1;
        if (v > (INT64_MAX >> 4))
            return -1;
        v = (v << 4) | d;
    }
    return v;
}

void
sl_strlow(char *dst, const char *src, size_t n)
{
    while (n--) {
        *dst++ = (char) tolower((unsigned char) *src++);
    }
}

char *
sl_vsnprintf(char *buf, char *last, const char *fmt, va_list ap)
{
    int n;

    if (buf >= last)
        return buf;
    n = vsnprintf(buf, (size_t) (last - buf), fmt, ap);
    if (n < 0)
        return buf;
    if (n >= last - buf)
        return last - 1;    /* truncated; vsnprintf wrote a NUL there */
    return buf + n;
}

char *
sl_snprintf(char *buf, char *last, const char *fmt, ...)
{
    va_list ap;
    char *p;

    va_start(ap, fmt);
    p = sl_vsnprintf(buf, last, fmt, ap);
    va_end(ap);
    return p;
}

char *
sl_json_escape(char *p, char *last, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c;

    for (; len && p < last; len--, s++) {
        c = (unsigned char) *s;
        if (c == '"' || c == '\\') {
            if (last - p < 2)
                break;
            *p++ = '\\';
            *p++ = (char) c;
        } else if (c < 0x20 || c == 0x7f) {
            if (last - p < 6)
                break;
            *p++ = '\\';
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        } else {
            *p++ = (char) c;
        }
    }
    return p;
}

char *
sl_append_uint(char *p, char *last, uint64_t v, unsigned base)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[24], *t = tmp + sizeof(tmp);

    do {
        *--t = digits[v % base];
        v /= base;
    } while (v != 0);
    return sl_append(p, last, t, (size_t) (tmp + sizeof(tmp) - t));
}

char *
sl_append_header(char *p, char *last, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
    p = sl_append(p, last, name, nlen);
    p = sl_append_lit(p, last, ": ");
    p = sl_append(p, last, value, vlen);
    return sl_append_lit(p, last, "\r\n");
}
