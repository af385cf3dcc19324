/*
 * sl_ctl_proto.c: the half of the control protocol that both ends share:
 * building a reply (master) and splitting a request line (master, and
 * sluicectl to check a request before it sends it).  The wire format is
 * described in sl_ctl.h.
 */

#include "sl_core.h"
#include "sl_ctl.h"

#define SL_CTL_REPLY_MIN   256

static void sl_ctl_vprintf(struct sl_ctl_reply *r, const char *fmt,
    va_list ap);

/*
 * Makes room for n more bytes and the terminating NUL.  Returns SL_OK, or
 * SL_ERROR after setting r->nomem.  Once nomem is set the reply accepts
 * nothing more, so a handler that prints many lines need not check each
 * one: the server sees the flag and sends an error instead of a silently
 * truncated listing.
 */
static int
sl_ctl_reserve(struct sl_ctl_reply *r, size_t n)
{
    size_t   cap;
    char    *p;

    if (r->nomem) {
        return SL_ERROR;
    }

    /* cap >= len always holds; cap is 0 only before the first allocation */
    if (n < r->cap - r->len) {
        return SL_OK;
    }

    /* Keeps the doubling below clear of overflow. */
    if (r->len >= SIZE_MAX / 4 || n >= SIZE_MAX / 4 - r->len) {
        r->nomem = 1;
        return SL_ERROR;
    }

    cap = r->cap ? r->cap : SL_CTL_REPLY_MIN;
    while (cap <= r->len + n) {
        cap *= 2;
    }

    p = realloc(r->buf, cap);
    if (p == NULL) {
        r->nomem = 1;
        return SL_ERROR;
    }

    r->buf = p;
    r->cap = cap;
    return SL_OK;
}

static void
sl_ctl_append(struct sl_ctl_reply *r, const char *s, size_t n)
{
    if (sl_ctl_reserve(r, n) != SL_OK) {
        return;
    }
    memcpy(r->buf + r->len, s, n);
    r->len += n;
    r->buf[r->len] = '\0';
}

/*
 * Formats into the free space first and grows only when that was too
 * small, so a reply of short lines costs one vsnprintf() per line.  The
 * arguments must not point into r->buf: realloc() may move it.
 */
static void
sl_ctl_vprintf(struct sl_ctl_reply *r, const char *fmt, va_list ap)
{
    va_list  aq;
    int      n;

    if (r->nomem) {
        return;
    }

    va_copy(aq, ap);
    n = vsnprintf(r->buf ? r->buf + r->len : NULL, r->cap - r->len, fmt, aq);
    va_end(aq);

    if (n < 0) {
        /* EOVERFLOW: more than INT_MAX bytes; it would not fit anyway */
        r->nomem = 1;
        return;
    }

    if ((size_t) n >= r->cap - r->len) {
        if (sl_ctl_reserve(r, (size_t) n) != SL_OK) {
            if (r->buf) {
                r->buf[r->len] = '\0';     /* drop the truncated tail */
            }
            return;
        }
        vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
    }

    r->len += (size_t) n;
}

void
sl_ctl_printf(struct sl_ctl_reply *r, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    sl_ctl_vprintf(r, fmt, ap);
    va_end(ap);
}

/*
 * Replaces whatever the handler printed so far with a one-line reason.
 * An earlier allocation failure is forgotten because the output it cost is
 * discarded anyway, and the short reason is worth a second try.  The
 * protocol promises one line, so control characters in the reason (a
 * message quoting a config line, say) become spaces, and the newline is
 * added here: callers pass the bare reason.
 */
void
sl_ctl_fail(struct sl_ctl_reply *r, const char *fmt, ...)
{
    va_list  ap;
    size_t   i;

    r->status = 1;
    r->nomem = 0;
    r->len = 0;
    if (r->buf) {
        r->buf[0] = '\0';
    }

    va_start(ap, fmt);
    sl_ctl_vprintf(r, fmt, ap);
    va_end(ap);

    if (r->nomem) {
        return;
    }

    for (i = 0; i < r->len; i++) {
        if ((unsigned char) r->buf[i] < 0x20 || r->buf[i] == 0x7f) {
            r->buf[i] = ' ';
        }
    }
    while (r->len > 0 && r->buf[r->len - 1] == ' ') {
        r->len--;
    }
    sl_ctl_append(r, "\n", 1);
}

/*
 * Returns the length of the well-formed UTF-8 sequence at p (1 to 4), or 0
 * when p does not start one: a stray continuation byte, an overlong form,
 * a surrogate, a code point past U+10FFFF or a truncated sequence.
 */
static size_t
sl_ctl_utf8_len(const unsigned char *p)
{
    unsigned char  lo, hi;
    size_t         n, i;

    if (p[0] < 0x80) {
        return 1;
    }

    lo = 0x80;
    hi = 0xbf;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        if (p[0] == 0xe0) {
            lo = 0xa0;              /* overlong */
        } else if (p[0] == 0xed) {
            hi = 0x9f;              /* UTF-16 surrogates */
        }
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        if (p[0] == 0xf0) {
            lo = 0x90;              /* overlong */
        } else if (p[0] == 0xf4) {
            hi = 0x8f;              /* past U+10FFFF */
        }
    } else {
        return 0;
    }

    /* The NUL terminator fails the range test, so we never read past it. */
    if (p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}

/*
 * Appends s as a JSON string.  JSON must be UTF-8, but what we quote comes
 * from file names, configuration and, later, client requests (cache keys),
 * so bytes that are not well-formed UTF-8 become U+FFFD instead of making
 * the whole document unreadable.  NULL becomes the literal null.
 */
void
sl_ctl_json_str(struct sl_ctl_reply *r, const char *s)
{
    static const char     hex[] = "0123456789abcdef";
    const unsigned char  *p;
    size_t                n, len;
    char                 *d;

    if (s == NULL) {
        sl_ctl_append(r, "null", 4);
        return;
    }

    /*
     * Six bytes per input byte is the worst case ("\u001f"; U+FFFD is
     * three); reserving it once keeps the loop free of checks.
     */
    len = strlen(s);
    if (len >= SIZE_MAX / 8) {
        r->nomem = 1;
        return;
    }
    if (sl_ctl_reserve(r, 6 * len + 2) != SL_OK) {
        return;
    }

    d = r->buf + r->len;
    *d++ = '"';

    for (p = (const unsigned char *) s; *p != '\0'; p += n) {
        n = 1;

        switch (*p) {
        case '"':
        case '\\':
            *d++ = '\\';
            *d++ = (char) *p;
            continue;
        case '\n':
            *d++ = '\\';
            *d++ = 'n';
            continue;
        case '\r':
            *d++ = '\\';
            *d++ = 'r';
            continue;
        case '\t':
            *d++ = '\\';
            *d++ = 't';
            continue;
        }

        if (*p < 0x20 || *p == 0x7f) {
            memcpy(d, "\\u00", 4);
            d[4] = hex[*p >> 4];
            d[5] = hex[*p & 0xf];
            d += 6;
            continue;
        }

        n = sl_ctl_utf8_len(p);
        if (n == 0) {
            memcpy(d, "\xef\xbf\xbd", 3);
            d += 3;
            n = 1;
            continue;
        }

        memcpy(d, p, n);
        d += n;
    }

    *d++ = '"';
    *d = '\0';
    r->len = (size_t) (d - r->buf);
}

/*
 * The grammar is strict on purpose: words separated by exactly one space,
 * no leading or trailing space, printable bytes only (bytes >= 0x80 pass,
 * cache keys may be UTF-8).  A trailing newline is accepted and removed.
 * "-j" counts as the flag only in first position and does not count
 * against max.  On -1 the line may be partly split.
 */
int
sl_ctl_split(char *line, char **argv, int max, int *json)
{
    char    *p, *word;
    size_t   len;
    int      argc;

    *json = 0;

    len = strlen(line);
    if (len > 0 && line[len - 1] == '\n') {
        line[--len] = '\0';
    }
    if (len == 0) {
        return -1;
    }

    for (p = line; *p != '\0'; p++) {
        if ((unsigned char) *p < 0x20 || *p == 0x7f) {
            return -1;
        }
    }

    argc = 0;
    word = line;

    for ( ;; ) {
        p = strchr(word, ' ');
        if (p != NULL) {
            *p = '\0';
        }

        if (*word == '\0') {
            return -1;              /* leading, trailing or double space */
        }

        if (argc == 0 && !*json && strcmp(word, "-j") == 0) {
            *json = 1;
        } else {
            if (argc == max) {
                return -1;
            }
            argv[argc++] = word;
        }

        if (p == NULL) {
            break;
        }
        word = p + 1;
    }

    return argc > 0 ? argc : -1;
}
