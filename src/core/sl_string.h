/*
 * sl_string.h: counted strings.  A struct sl_str points into memory owned
 * by someone else (a pool, a buffer, a literal); it is not NUL-terminated
 * unless its producer says so.
 */
#ifndef SL_STRING_H
#define SL_STRING_H

struct sl_str {
    size_t  len;
    char   *data;
};

#define sl_string(s)        { sizeof(s) - 1, (char *) (s) }
#define sl_null_string      { 0, NULL }
#define sl_str_set(str, t)  do { (str)->len = sizeof(t) - 1;                 \
                                 (str)->data = (char *) (t); } while (0)

int sl_str_eq(const struct sl_str *s, const char *lit);
int sl_str_caseeq(const struct sl_str *s, const char *lit);
int sl_str_eqstr(const struct sl_str *a, const struct sl_str *b);
int sl_str_caseeqstr(const struct sl_str *a, const struct sl_str *b);
/* NUL-terminated copy in pool, NULL on allocation failure. */
char *sl_pstrdup(struct sl_pool *pool, const struct sl_str *s);
char *sl_pstrdupz(struct sl_pool *pool, const char *s);
/* Decimal parse of the whole string; -1 on empty, junk or overflow. */
int64_t sl_atoi(const char *p, size_t len);
int64_t sl_hextoi(const char *p, size_t len);
void sl_strlow(char *dst, const char *src, size_t n);
/* printf into a fixed buffer; returns the end pointer (never past last). */
char *sl_snprintf(char *buf, char *last, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
char *sl_vsnprintf(char *buf, char *last, const char *fmt, va_list ap);
/*
 * Appenders for hot paths where printf costs too much: each writes at p,
 * never past last, and returns the new end (== last when truncated, which
 * the caller checks once at the end).
 */
static inline char *
sl_append(char *p, char *last, const char *s, size_t n)
{
    if ((size_t) (last - p) < n)
        n = (size_t) (last - p);
    memcpy(p, s, n);
    return p + n;
}
#define sl_append_lit(p, last, lit)  sl_append(p, last, lit, sizeof(lit) - 1)
#define sl_append_str(p, last, str)  sl_append(p, last, (str)->data, (str)->len)
/* Decimal, or lowercase hex with base 16. */
char *sl_append_uint(char *p, char *last, uint64_t v, unsigned base);
/* "Name: value\r\n" */
char *sl_append_header(char *p, char *last, const char *name, size_t nlen,
    const char *value, size_t vlen);

/* Append a JSON-escaped copy of s into [p, last); returns new end. */
char *sl_json_escape(char *p, char *last, const char *s, size_t len);

#endif /* SL_STRING_H */
