/*
 * sl_conf_values.c: parsers for the values directives take -- sizes,
 * times, counts and flags.
 *
 * They are strict: no sign, no blanks around the value, no fractions, no
 * unknown suffix, and a value that does not fit is an error rather than a
 * silently clamped number.  None writes *out unless it returns SL_OK.
 */
#include "sl_core.h"
#include "sl_conf.h"

#include <limits.h>

/* off_t has no standard maximum macro. */
#define SL_CONF_OFF_MAX                                                       \
    ((off_t) (((uintmax_t) 1 << (sizeof(off_t) * CHAR_BIT - 1)) - 1))

/*
 * Parses the decimal digits p[0..len) into *out, failing on an empty
 * string, a non-digit or a value above max.
 */
static int
sl_conf_digits(const char *p, size_t len, int64_t max, int64_t *out)
{
    int64_t v = 0;
    int d;

    if (len == 0)
        return SL_ERROR;
    for (; len > 0; len--, p++) {
        if (*p < '0' || *p > '9')
            return SL_ERROR;
        d = *p - '0';
        if (v > (max - d) / 10)
            return SL_ERROR;
        v = v * 10 + d;
    }
    *out = v;
    return SL_OK;
}

int
sl_conf_parse_size(const struct sl_str *s, off_t *out)
{
    int64_t v, max, scale;
    size_t len;

    len = s->len;
    if (len == 0)
        return SL_ERROR;
    switch (s->data[len - 1]) {
    case 'k':
    case 'K':
        scale = 1024;
        len--;
        break;
    case 'm':
    case 'M':
        scale = 1024 * 1024;
        len--;
        break;
    case 'g':
    case 'G':
        scale = 1024 * 1024 * 1024;
        len--;
        break;
    default:
        scale = 1;
        break;
    }
    max = (int64_t) sl_min((uintmax_t) SL_CONF_OFF_MAX, (uintmax_t) INT64_MAX);
    if (sl_conf_digits(s->data, len, max / scale, &v) != SL_OK)
        return SL_ERROR;
    *out = (off_t) (v * scale);
    return SL_OK;
}

/*
 * Units of a time, largest first.  Parts must come in this order, each
 * at most once, as nginx requires: "1h30m" but not "30m1h" or "1m1m".
 */
static const struct {
    char        name[3];
    sl_msec_t   msec;
} sl_conf_time_units[] = {
    { "w",  7 * 24 * 60 * 60 * 1000LL },
    { "d",  24 * 60 * 60 * 1000LL },
    { "h",  60 * 60 * 1000LL },
    { "m",  60 * 1000LL },
    { "s",  1000LL },
    { "ms", 1LL },
};

#define SL_CONF_TIME_SEC    4      /* index of "s", for a bare number */
#define SL_CONF_TIME_MSEC   5      /* index of "ms" */

int
sl_conf_parse_msec(const struct sl_str *s, sl_msec_t *out)
{
    const char *p, *end, *digits;
    size_t ndigits, i, next = 0, unit;
    int64_t v, total = 0;

    if (s->len == 0)
        return SL_ERROR;
    p = s->data;
    end = p + s->len;

    while (p < end) {
        digits = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        ndigits = (size_t) (p - digits);
        if (ndigits == 0)
            return SL_ERROR;

        /* Longest unit first, so that "ms" is not read as "m". */
        if (end - p >= 2 && p[0] == 'm' && p[1] == 's') {
            unit = SL_CONF_TIME_MSEC;
            p += 2;
        } else if (p == end || *p == ' ') {
            /* A number without a unit counts seconds ("1m30" too). */
            unit = SL_CONF_TIME_SEC;
        } else {
            for (i = 0; i < sl_nelems(sl_conf_time_units); i++) {
                if (sl_conf_time_units[i].name[1] == '\0'
                    && sl_conf_time_units[i].name[0] == *p)
                {
                    break;
                }
            }
            if (i == sl_nelems(sl_conf_time_units))
                return SL_ERROR;
            unit = i;
            p++;
        }
        if (unit < next)
            return SL_ERROR;
        next = unit + 1;

        if (sl_conf_digits(digits, ndigits,
                           INT64_MAX / sl_conf_time_units[unit].msec, &v)
            != SL_OK)
        {
            return SL_ERROR;
        }
        v *= sl_conf_time_units[unit].msec;
        if (total > INT64_MAX - v)
            return SL_ERROR;
        total += v;

        /* Blanks only between parts: "1h 30m", not "1h " or " 1h". */
        if (p < end && *p == ' ') {
            while (p < end && *p == ' ')
                p++;
            if (p == end)
                return SL_ERROR;
        }
    }
    *out = total;
    return SL_OK;
}

int
sl_conf_parse_int(const struct sl_str *s, int64_t *out)
{
    return sl_conf_digits(s->data, s->len, INT64_MAX, out);
}

int
sl_conf_parse_flag(const struct sl_str *s, int *out)
{
    /* Case-insensitive, as nginx's flag slot is: "On" works there. */
    if (s->len == 2 && (s->data[0] | 0x20) == 'o'
        && (s->data[1] | 0x20) == 'n')
    {
        *out = 1;
        return SL_OK;
    }
    if (s->len == 3 && (s->data[0] | 0x20) == 'o'
        && (s->data[1] | 0x20) == 'f' && (s->data[2] | 0x20) == 'f')
    {
        *out = 0;
        return SL_OK;
    }
    return SL_ERROR;
}
