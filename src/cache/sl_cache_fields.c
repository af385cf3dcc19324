/*
 * sl_cache_fields.c: the fields the cache policy reads, parsed
 * (sl_cache_policy.h): HTTP-dates, Cache-Control lists and the targeted
 * CDN-Cache-Control dictionaries, and the small lexical helpers that
 * sl_cache_policy.c shares (sl_cache_fields.h).
 *
 * Pure functions, as in sl_cache_policy.c: no allocation, no locks, no
 * clock except the RFC 850 two-digit-year rule (see sl_cache_parse_date).
 *
 * Choices for malformed input (the rest are listed in
 * sl_cache_policy.c; the man page lists them all):
 *   - Cache-Control: directive names are case-insensitive; values may be
 *     tokens or quoted strings (RFC 9111 5.2: recipients accept both);
 *     OWS around '=' is tolerated; an element that does not parse
 *     ("max-age=5 junk", an unterminated quote) counts as its directive
 *     with an invalid value; a max-age or s-maxage that is not 1*DIGIT (empty,
 *     negative, "1.5", missing) counts as 0 and marks the response stale;
 *     the same directive repeated with another value marks the response
 *     stale and keeps the most restrictive value (smallest max-age,
 *     s-maxage, max-stale, stale-*; largest min-fresh) for requests;
 *     delta-seconds beyond 2^31 saturate at 2^31 (RFC 9111 1.2.2); a
 *     malformed max-stale, min-fresh, stale-while-revalidate or
 *     stale-if-error is ignored; "public" with an argument is ignored
 *     (it would widen caching); the restrictive directives (no-store,
 *     no-cache, private, must-revalidate...) count whatever their
 *     argument.
 *   - CDN-Cache-Control (RFC 9213) is a Structured Fields dictionary
 *     (RFC 8941): when it parses and is not empty it replaces
 *     Cache-Control and Expires, even if it holds only unknown
 *     directives; when it does not parse (uppercase keys, trailing
 *     comma, more than 15 digits...) it is ignored as a whole.  A later
 *     duplicate key wins; ?0 means absent; a max-age that is not an
 *     Integer (string, decimal, token, negative) marks the response
 *     stale; parameters are ignored.
 *   - Dates: IMF-fixdate, RFC 850 and asctime; day names are checked for
 *     syntax but not against the date; day-of-month checked against the
 *     month; second 60 accepted; dates before 1970 give 0.
 */
#include "sl_core.h"
#include "sl_http_parse.h"
#include "sl_cache_policy.h"
#include "sl_cache_fields.h"

#include <time.h>

/* RFC 9110 5.6.2 tchar, as a table: it runs per byte of field names */
const unsigned char  sl_cache_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

int
sl_cache_caseeq(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t  i;

    if (alen != blen) {
        return 0;
    }
    for (i = 0; i < alen; i++) {
        if (sl_cache_lc((unsigned char) a[i])
            != sl_cache_lc((unsigned char) b[i]))
        {
            return 0;
        }
    }
    return 1;
}

/*
 * Field lines named name (nlen bytes, hash from sl_http_hash_name), one
 * at a time: start *i at 0; returns NULL after the last.
 */
const struct sl_http_header *
sl_cache_next_field(const struct sl_http_head *h, const char *name,
    size_t nlen, uint32_t hash, unsigned *i)
{
    const struct sl_http_header  *f;

    while (*i < h->nheaders) {
        f = &h->headers[(*i)++];
        if (f->hash == hash
            && sl_cache_caseeq(f->name.data, f->name.len, name, nlen))
        {
            return f;
        }
    }
    return NULL;
}

/* ---- HTTP-date (RFC 9110 5.6.7) ----------------------------------------- */

static const char  sl_cache_wkday[7][4] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const  sl_cache_weekday[7] = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
    "Saturday"
};
static const char  sl_cache_month[12][4] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
    "Nov", "Dec"
};

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), any y. */
static int64_t
sl_cache_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t   era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

static int
sl_cache_mdays(int64_t y, unsigned m)
{
    static const unsigned char  md[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 29;
    }
    return md[m - 1];
}

/* n decimal digits at p; -1 if any is not a digit. */
int
sl_cache_digits(const char *p, int n)
{
    int  v = 0;

    while (n-- > 0) {
        if (!sl_cache_is_digit((unsigned char) *p)) {
            return -1;
        }
        v = v * 10 + (*p++ - '0');
    }
    return v;
}

static int
sl_cache_month_of(const char *p)
{
    int  i;

    for (i = 0; i < 12; i++) {
        if (memcmp(p, sl_cache_month[i], 3) == 0) {
            return i + 1;
        }
    }
    return -1;
}

/* "HH:MM:SS" at p; seconds of the day or -1. */
static int
sl_cache_hms(const char *p)
{
    int  hh, mm, ss;

    if (p[2] != ':' || p[5] != ':') {
        return -1;
    }
    hh = sl_cache_digits(p, 2);
    mm = sl_cache_digits(p + 3, 2);
    ss = sl_cache_digits(p + 6, 2);
    if (hh < 0 || mm < 0 || ss < 0 || hh > 23 || mm > 59 || ss > 60) {
        return -1;
    }
    return hh * 3600 + mm * 60 + ss;
}

static int64_t
sl_cache_mktime(int64_t y, int mon, int day, int secs)
{
    int64_t  t;

    if (mon < 1 || day < 1 || day > sl_cache_mdays(y, (unsigned) mon)
        || secs < 0)
    {
        return -1;
    }
    t = sl_cache_days_from_civil(y, (unsigned) mon, (unsigned) day) * 86400
        + secs;
    /* a valid date before the epoch: "long ago" */
    return t < 0 ? 0 : t;
}

/*
 * Three formats, told apart by where the first comma or space is:
 *   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"  (29 bytes)
 *   rfc850-date  "Sunday, 06-Nov-94 08:49:37 GMT"
 *   asctime-date "Sun Nov  6 08:49:37 1994"       (24 bytes)
 * RFC 850's two-digit year: RFC 9110 5.6.7 says a year that appears to
 * be more than 50 years in the future is the most recent past year with
 * the same last two digits; that needs the clock, so this one format
 * reads time().
 */
int64_t
sl_cache_parse_date(const char *p, size_t len)
{
    int      i, day, mon, secs;
    int64_t  y, now_y;
    size_t   n;

    if (p == NULL) {
        return -1;
    }

    if (len == 29 && p[3] == ',') {
        for (i = 0; i < 7; i++) {
            if (memcmp(p, sl_cache_wkday[i], 3) == 0) {
                break;
            }
        }
        if (i == 7 || p[4] != ' ' || p[7] != ' ' || p[11] != ' '
            || p[16] != ' ' || p[25] != ' ' || memcmp(p + 26, "GMT", 3) != 0)
        {
            return -1;
        }
        day = sl_cache_digits(p + 5, 2);
        mon = sl_cache_month_of(p + 8);
        y = sl_cache_digits(p + 12, 4);
        secs = sl_cache_hms(p + 17);
        if (day < 0 || y < 0) {
            return -1;
        }
        return sl_cache_mktime(y, mon, day, secs);
    }

    if (len == 24 && p[3] == ' ') {
        for (i = 0; i < 7; i++) {
            if (memcmp(p, sl_cache_wkday[i], 3) == 0) {
                break;
            }
        }
        if (i == 7 || p[7] != ' ' || p[10] != ' ' || p[19] != ' ') {
            return -1;
        }
        mon = sl_cache_month_of(p + 4);
        if (p[8] == ' ') {
            day = sl_cache_digits(p + 9, 1);
        } else {
            day = sl_cache_digits(p + 8, 2);
        }
        secs = sl_cache_hms(p + 11);
        y = sl_cache_digits(p + 20, 4);
        if (day < 0 || y < 0) {
            return -1;
        }
        return sl_cache_mktime(y, mon, day, secs);
    }

    for (i = 0; i < 7; i++) {
        n = strlen(sl_cache_weekday[i]);
        if (len == n + 24 && memcmp(p, sl_cache_weekday[i], n) == 0) {
            break;
        }
    }
    if (i == 7) {
        return -1;
    }
    p += n;
    /* ", 06-Nov-94 08:49:37 GMT" */
    if (p[0] != ',' || p[1] != ' ' || p[4] != '-' || p[8] != '-'
        || p[11] != ' ' || p[20] != ' ' || memcmp(p + 21, "GMT", 3) != 0)
    {
        return -1;
    }
    day = sl_cache_digits(p + 2, 2);
    mon = sl_cache_month_of(p + 5);
    y = sl_cache_digits(p + 9, 2);
    secs = sl_cache_hms(p + 12);
    if (day < 0 || y < 0) {
        return -1;
    }
    now_y = 1970 + (int64_t) time(NULL) / 31556952;
    y += now_y - now_y % 100;
    if (y > now_y + 50) {
        y -= 100;
    }
    return sl_cache_mktime(y, mon, day, secs);
}

size_t
sl_cache_format_date(int64_t t, char *buf)
{
    int64_t   z, era, y;
    unsigned  doe, yoe, doy, mp, d, m, secs;
    int       wd;

    if (t < 0) {
        t = 0;
    }
    if (t > 253402300799LL) {       /* 9999-12-31 23:59:59 */
        t = 253402300799LL;
    }
    z = t / 86400;
    secs = (unsigned) (t % 86400);
    wd = (int) ((z + 4) % 7);

    z += 719468;
    era = z / 146097;
    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = (int64_t) yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;

    memcpy(buf, sl_cache_wkday[wd], 3);
    buf[3] = ',';
    buf[4] = ' ';
    buf[5] = (char) ('0' + d / 10);
    buf[6] = (char) ('0' + d % 10);
    buf[7] = ' ';
    memcpy(buf + 8, sl_cache_month[m - 1], 3);
    buf[11] = ' ';
    buf[12] = (char) ('0' + y / 1000);
    buf[13] = (char) ('0' + y / 100 % 10);
    buf[14] = (char) ('0' + y / 10 % 10);
    buf[15] = (char) ('0' + y % 10);
    buf[16] = ' ';
    buf[17] = (char) ('0' + secs / 36000);
    buf[18] = (char) ('0' + secs / 3600 % 10);
    buf[19] = ':';
    buf[20] = (char) ('0' + secs % 3600 / 600);
    buf[21] = (char) ('0' + secs % 3600 / 60 % 10);
    buf[22] = ':';
    buf[23] = (char) ('0' + secs % 60 / 10);
    buf[24] = (char) ('0' + secs % 10);
    memcpy(buf + 25, " GMT", 4);
    return 29;
}

/* ---- Cache-Control (RFC 9111 5.2) --------------------------------------- */

/*
 * delta-seconds (RFC 9111 1.2.2): 1*DIGIT, saturated at 2^31; -1 if not
 * digits.  A quoted value arrives without its quotes; a backslash in it
 * makes it invalid.
 */
int64_t
sl_cache_delta(const char *p, size_t len)
{
    int64_t  v = 0;
    size_t   i;

    if (len == 0) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (!sl_cache_is_digit((unsigned char) p[i])) {
            return -1;
        }
        if (v < SL_CACHE_DELTA_MAX) {
            v = v * 10 + (p[i] - '0');
        }
    }
    return v > SL_CACHE_DELTA_MAX ? SL_CACHE_DELTA_MAX : v;
}

/* One element of a Cache-Control list. */
struct sl_cache_dir {
    const char  *name;
    size_t       nlen;
    const char  *val;       /* inside the quotes when quoted */
    size_t       vlen;
    unsigned     has_val:1;
    unsigned     bad:1;     /* did not parse: skipped */
};

/* Skips to the comma ending this element, outside quoted strings. */
static const char *
sl_cache_skip_elem(const char *p, const char *end)
{
    int  quote = 0;

    while (p < end) {
        if (quote) {
            if (*p == '\\' && p + 1 < end) {
                p++;
            } else if (*p == '"') {
                quote = 0;
            }
        } else if (*p == '"') {
            quote = 1;
        } else if (*p == ',') {
            break;
        }
        p++;
    }
    return p;
}

/*
 * Next element of a #cache-directive list at p: empty elements and OWS
 * are skipped (RFC 9110 5.6.1).  Returns where to continue, NULL at the
 * end.
 */
static const char *
sl_cache_dir_next(const char *p, const char *end, struct sl_cache_dir *d)
{
    p = sl_cache_list_elem(p, end);
    if (p == end) {
        return NULL;
    }
    memset(d, 0, sizeof(*d));
    d->name = p;
    while (p < end && sl_cache_is_tchar((unsigned char) *p)) {
        p++;
    }
    d->nlen = (size_t) (p - d->name);
    if (d->nlen == 0) {
        goto bad;
    }
    while (p < end && sl_cache_is_ows((unsigned char) *p)) {
        p++;
    }
    if (p < end && *p == '=') {
        p++;
        while (p < end && sl_cache_is_ows((unsigned char) *p)) {
            p++;
        }
        d->has_val = 1;
        if (p < end && *p == '"') {
            d->val = ++p;
            for ( ;; ) {
                if (p == end) {
                    goto bad;   /* unterminated */
                }
                if (*p == '\\') {
                    if (++p == end) {
                        goto bad;
                    }
                } else if (*p == '"') {
                    break;
                }
                p++;
            }
            d->vlen = (size_t) (p - d->val);
            p++;
        } else {
            d->val = p;
            while (p < end && sl_cache_is_tchar((unsigned char) *p)) {
                p++;
            }
            d->vlen = (size_t) (p - d->val);
        }
        while (p < end && sl_cache_is_ows((unsigned char) *p)) {
            p++;
        }
    }
    if (p < end && *p != ',') {
        goto bad;
    }
    return p;

bad:
    d->bad = 1;
    return sl_cache_skip_elem(p, end);
}

enum {
    SL_CC_MIN = 0,      /* on conflict keep the smaller value */
    SL_CC_MAX           /* ... the larger */
};

/*
 * Records a delta-seconds directive.  Repeats with the same value are
 * harmless; a different value keeps the most restrictive one and, for
 * the freshness directives (max-age, s-maxage), marks cc invalid: RFC
 * 9111 4.2.1 lets a cache treat such a response as stale.
 */
static void
sl_cache_cc_delta(struct sl_cache_cc *cc, int64_t *field,
    const struct sl_cache_dir *d, int keep, int freshness)
{
    int64_t  v;

    v = d->has_val ? sl_cache_delta(d->val, d->vlen) : -1;
    if (v < 0) {
        if (freshness) {
            /* stale, and max-age present still overrides Expires */
            cc->invalid = 1;
            *field = 0;
        }
        return;
    }
    if (*field == SL_CACHE_UNSET) {
        *field = v;
        return;
    }
    if (*field == v) {
        return;
    }
    if (freshness) {
        cc->invalid = 1;
    }
    if (keep == SL_CC_MIN ? v < *field : v > *field) {
        *field = v;
    }
}

static void
sl_cache_cc_apply(struct sl_cache_cc *cc, const struct sl_cache_dir *d)
{
    const char  *n = d->name;
    size_t       l = d->nlen;

    switch (sl_cache_lc((unsigned char) n[0])) {
    case 'i':
        if (sl_cache_caseeq_lit(n, l, "immutable") && !d->has_val) {
            cc->immutable = 1;
        }
        return;
    case 'm':
        if (sl_cache_caseeq_lit(n, l, "max-age")) {
            sl_cache_cc_delta(cc, &cc->max_age, d, SL_CC_MIN, 1);
        } else if (sl_cache_caseeq_lit(n, l, "max-stale")) {
            if (!d->has_val) {
                cc->max_stale = SL_CACHE_INFINITE;
            } else if (cc->max_stale != SL_CACHE_INFINITE) {
                sl_cache_cc_delta(cc, &cc->max_stale, d, SL_CC_MIN, 0);
            }
        } else if (sl_cache_caseeq_lit(n, l, "min-fresh")) {
            sl_cache_cc_delta(cc, &cc->min_fresh, d, SL_CC_MAX, 0);
        } else if (sl_cache_caseeq_lit(n, l, "must-revalidate")) {
            cc->must_revalidate = 1;
        } else if (sl_cache_caseeq_lit(n, l, "must-understand")) {
            cc->must_understand = 1;
        }
        return;
    case 'n':
        if (sl_cache_caseeq_lit(n, l, "no-store")) {
            cc->no_store = 1;
        } else if (sl_cache_caseeq_lit(n, l, "no-cache")) {
            /*
             * The qualified form (no-cache="Set-Cookie") is handled as
             * the unqualified one, as RFC 9111 5.2.2.4 notes most caches
             * do: the whole response is revalidated before each use.
             */
            cc->no_cache = 1;
        } else if (sl_cache_caseeq_lit(n, l, "no-transform")) {
            cc->no_transform = 1;
        }
        return;
    case 'o':
        if (sl_cache_caseeq_lit(n, l, "only-if-cached")) {
            cc->only_if_cached = 1;
        }
        return;
    case 'p':
        if (sl_cache_caseeq_lit(n, l, "private")) {
            cc->private_ = 1;
        } else if (sl_cache_caseeq_lit(n, l, "public")) {
            if (!d->has_val) {
                cc->public_ = 1;
            }
        } else if (sl_cache_caseeq_lit(n, l, "proxy-revalidate")) {
            cc->proxy_revalidate = 1;
        }
        return;
    case 's':
        if (sl_cache_caseeq_lit(n, l, "s-maxage")) {
            sl_cache_cc_delta(cc, &cc->s_maxage, d, SL_CC_MIN, 1);
        } else if (sl_cache_caseeq_lit(n, l, "stale-while-revalidate")) {
            sl_cache_cc_delta(cc, &cc->stale_while_revalidate, d,
                              SL_CC_MIN, 0);
        } else if (sl_cache_caseeq_lit(n, l, "stale-if-error")) {
            sl_cache_cc_delta(cc, &cc->stale_if_error, d, SL_CC_MIN, 0);
        }
        return;
    }
    /* unknown extension directives are ignored (RFC 9111 5.2.3) */
}

static void
sl_cache_cc_init(struct sl_cache_cc *cc)
{
    memset(cc, 0, sizeof(*cc));
    cc->max_age = SL_CACHE_UNSET;
    cc->s_maxage = SL_CACHE_UNSET;
    cc->max_stale = SL_CACHE_UNSET;
    cc->min_fresh = SL_CACHE_UNSET;
    cc->stale_while_revalidate = SL_CACHE_UNSET;
    cc->stale_if_error = SL_CACHE_UNSET;
}

void
sl_cache_cc_parse(const struct sl_http_head *h, const char *name,
    struct sl_cache_cc *cc)
{
    const struct sl_http_header  *f;
    struct sl_cache_dir           d;
    const char                   *p, *end;
    size_t                        nlen;
    uint32_t                      hash;
    unsigned                      i = 0;

    sl_cache_cc_init(cc);
    if (h == NULL) {
        return;
    }
    if (sl_cache_caseeq_lit(name, strlen(name), "CDN-Cache-Control")) {
        /* a field that is not a valid dictionary leaves cc empty */
        (void) sl_cache_targeted_parse(h, name, cc);
        return;
    }
    nlen = strlen(name);
    hash = sl_http_hash_name(name, nlen);

    while ((f = sl_cache_next_field(h, name, nlen, hash, &i)) != NULL) {
        cc->present = 1;
        p = f->value.data;
        end = p + f->value.len;
        while ((p = sl_cache_dir_next(p, end, &d)) != NULL) {
            if (d.bad && d.nlen > 0) {
                /*
                 * "max-age=5 junk", "max-age=\"5": apply it with an
                 * invalid value, so that freshness directives make the
                 * response stale and permissive ones (public,
                 * immutable) do not count.
                 */
                d.has_val = 1;
                d.val = "";
                d.vlen = 0;
            }
            if (d.nlen > 0) {
                sl_cache_cc_apply(cc, &d);
            }
        }
    }
}

/* ---- targeted fields (RFC 9213 2.1): Structured Field dictionaries --------- */

/*
 * RFC 9213 makes CDN-Cache-Control a Dictionary (RFC 8941 3.2), not a
 * Cache-Control list: keys are lowercase, values are typed, a later
 * member with the same key replaces an earlier one, and a field that
 * does not parse is ignored as a whole (the cache falls back to
 * Cache-Control and Expires).  Only the store path reads it.
 */

enum {
    SL_SF_BOOL_TRUE = 0,
    SL_SF_BOOL_FALSE,
    SL_SF_INTEGER,
    SL_SF_OTHER             /* decimal, string, token, bytes, inner list */
};

struct sl_cache_sf_member {
    const char  *key;
    size_t       klen;
    const char  *val;       /* SL_SF_INTEGER: the digits, sign included */
    size_t       vlen;
    int          type;
};

#define SL_CACHE_SF_MAX     64  /* members of one targeted field */

static int
sl_cache_sf_is_lcalpha(int c)
{
    return c >= 'a' && c <= 'z';
}

static int
sl_cache_sf_is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 8941 4.2.3.3: key; NULL on error */
static const char *
sl_cache_sf_key(const char *p, const char *end)
{
    int  c;

    if (p == end
        || !(sl_cache_sf_is_lcalpha((unsigned char) *p) || *p == '*'))
    {
        return NULL;
    }
    for (p++; p < end; p++) {
        c = (unsigned char) *p;
        if (!(sl_cache_sf_is_lcalpha(c) || sl_cache_is_digit(c) || c == '_'
              || c == '-' || c == '.' || c == '*'))
        {
            break;
        }
    }
    return p;
}

/* RFC 8941 4.2.3.1: bare item; NULL on error; *type and the span set */
static const char *
sl_cache_sf_bare_item(const char *p, const char *end, int *type,
    const char **val, size_t *vlen)
{
    const char  *q;
    int          c, ndig, nfrac;

    if (p == end) {
        return NULL;
    }
    c = (unsigned char) *p;
    *val = p;
    *type = SL_SF_OTHER;

    if (c == '-' || sl_cache_is_digit(c)) {
        /* 4.2.4: at most 15 digits, or 12.3 for a decimal */
        q = p + (c == '-');
        ndig = 0;
        while (q < end && sl_cache_is_digit((unsigned char) *q)) {
            q++;
            ndig++;
        }
        if (ndig == 0 || ndig > 15) {
            return NULL;
        }
        if (q < end && *q == '.') {
            if (ndig > 12) {
                return NULL;
            }
            q++;
            nfrac = 0;
            while (q < end && sl_cache_is_digit((unsigned char) *q)) {
                q++;
                nfrac++;
            }
            if (nfrac == 0 || nfrac > 3) {
                return NULL;
            }
        } else {
            *type = SL_SF_INTEGER;
        }
        *vlen = (size_t) (q - p);
        return q;
    }
    if (c == '"') {
        for (q = p + 1; q < end; q++) {
            c = (unsigned char) *q;
            if (c == '\\') {
                if (q + 1 == end || (q[1] != '"' && q[1] != '\\')) {
                    return NULL;
                }
                q++;
            } else if (c == '"') {
                *val = p + 1;
                *vlen = (size_t) (q - p - 1);
                return q + 1;
            } else if (c < 0x20 || c > 0x7e) {
                return NULL;
            }
        }
        return NULL;
    }
    if (c == '*' || sl_cache_sf_is_alpha(c)) {
        for (q = p + 1; q < end; q++) {
            c = (unsigned char) *q;
            if (!(sl_cache_is_tchar(c) || c == ':' || c == '/')) {
                break;
            }
        }
        *vlen = (size_t) (q - p);
        return q;
    }
    if (c == ':') {
        for (q = p + 1; q < end && *q != ':'; q++) {
            c = (unsigned char) *q;
            if (!(sl_cache_sf_is_alpha(c) || sl_cache_is_digit(c)
                  || c == '+' || c == '/' || c == '='))
            {
                return NULL;
            }
        }
        if (q == end) {
            return NULL;
        }
        *vlen = (size_t) (q + 1 - p);
        return q + 1;
    }
    if (c == '?') {
        if (end - p < 2 || (p[1] != '0' && p[1] != '1')) {
            return NULL;
        }
        *type = p[1] == '1' ? SL_SF_BOOL_TRUE : SL_SF_BOOL_FALSE;
        *vlen = 2;
        return p + 2;
    }
    return NULL;
}

/* RFC 8941 4.2.3.2: parameters, ignored (RFC 9213 2.1); NULL on error */
static const char *
sl_cache_sf_params(const char *p, const char *end)
{
    const char  *v;
    size_t       vl;
    int          type;

    while (p < end && *p == ';') {
        p++;
        while (p < end && *p == ' ') {
            p++;
        }
        p = sl_cache_sf_key(p, end);
        if (p == NULL) {
            return NULL;
        }
        if (p < end && *p == '=') {
            p = sl_cache_sf_bare_item(p + 1, end, &type, &v, &vl);
            if (p == NULL) {
                return NULL;
            }
        }
    }
    return p;
}

/* RFC 8941 4.2.1.2: inner list, after its '('; NULL on error */
static const char *
sl_cache_sf_inner_list(const char *p, const char *end)
{
    const char  *v;
    size_t       vl;
    int          type;

    for ( ;; ) {
        while (p < end && *p == ' ') {
            p++;
        }
        if (p == end) {
            return NULL;
        }
        if (*p == ')') {
            return sl_cache_sf_params(p + 1, end);
        }
        p = sl_cache_sf_bare_item(p, end, &type, &v, &vl);
        if (p == NULL) {
            return NULL;
        }
        p = sl_cache_sf_params(p, end);
        if (p == NULL || p == end || (*p != ' ' && *p != ')')) {
            return NULL;
        }
    }
}

/*
 * RFC 8941 4.2.2: the members of one field line (a dictionary) appended
 * to m[*n].  Returns SL_OK or SL_ERROR (not a dictionary, or too many
 * members).
 */
static int
sl_cache_sf_dictionary(const char *p, const char *end,
    struct sl_cache_sf_member *m, size_t *n)
{
    struct sl_cache_sf_member  *e;
    const char                 *q;

    while (p < end && *p == ' ') {
        p++;
    }
    while (p < end) {
        if (*n == SL_CACHE_SF_MAX) {
            return SL_ERROR;
        }
        e = &m[(*n)++];
        e->key = p;
        q = sl_cache_sf_key(p, end);
        if (q == NULL) {
            return SL_ERROR;
        }
        e->klen = (size_t) (q - p);
        p = q;
        e->type = SL_SF_BOOL_TRUE;
        e->val = NULL;
        e->vlen = 0;
        if (p < end && *p == '=') {
            p++;
            if (p < end && *p == '(') {
                e->type = SL_SF_OTHER;
                p = sl_cache_sf_inner_list(p + 1, end);
            } else {
                p = sl_cache_sf_bare_item(p, end, &e->type, &e->val,
                                          &e->vlen);
            }
            if (p == NULL) {
                return SL_ERROR;
            }
        }
        p = sl_cache_sf_params(p, end);
        if (p == NULL) {
            return SL_ERROR;
        }
        while (p < end && sl_cache_is_ows((unsigned char) *p)) {
            p++;
        }
        if (p == end) {
            break;
        }
        if (*p != ',') {
            return SL_ERROR;
        }
        p++;
        while (p < end && sl_cache_is_ows((unsigned char) *p)) {
            p++;
        }
        if (p == end) {
            return SL_ERROR;        /* trailing comma */
        }
    }
    return SL_OK;
}

/*
 * Parses the targeted field name of h into cc with the Cache-Control
 * semantics.  Returns SL_DECLINED when the field is absent, empty or not
 * a valid dictionary: RFC 9213 2.1 says to ignore it then.  Lines are
 * members of one dictionary (RFC 8941 4.2: combined with ", "), so an
 * empty line among others is a parse error, as ", a" would be.
 */
int
sl_cache_targeted_parse(const struct sl_http_head *h, const char *name,
    struct sl_cache_cc *cc)
{
    struct sl_cache_sf_member     m[SL_CACHE_SF_MAX];
    const struct sl_http_header  *f;
    struct sl_cache_dir           d;
    size_t                        n = 0, i, j, nlen = strlen(name);
    unsigned                      k = 0, lines = 0, empty = 0;
    uint32_t                      hash;

    sl_cache_cc_init(cc);
    hash = sl_http_hash_name(name, nlen);
    while ((f = sl_cache_next_field(h, name, nlen, hash, &k)) != NULL) {
        lines++;
        if (f->value.len == 0) {
            empty++;
            continue;
        }
        if (sl_cache_sf_dictionary(f->value.data,
                                   f->value.data + f->value.len, m, &n)
            != SL_OK)
        {
            return SL_DECLINED;
        }
    }
    if (lines == 0 || empty == lines || (empty > 0 && n > 0) || n == 0) {
        return SL_DECLINED;
    }

    cc->present = 1;
    for (i = 0; i < n; i++) {
        /* a later member with the same key wins (RFC 8941 4.2.2) */
        for (j = i + 1; j < n; j++) {
            if (m[j].klen == m[i].klen
                && memcmp(m[j].key, m[i].key, m[i].klen) == 0)
            {
                break;
            }
        }
        if (j < n || m[i].type == SL_SF_BOOL_FALSE) {
            continue;
        }
        memset(&d, 0, sizeof(d));
        d.name = m[i].key;
        d.nlen = m[i].klen;
        if (m[i].type == SL_SF_INTEGER) {
            d.has_val = 1;
            d.val = m[i].val;       /* a '-' makes it invalid */
            d.vlen = m[i].vlen;
        } else if (m[i].type == SL_SF_OTHER) {
            /*
             * Not the type the directive takes (RFC 9213 2.1: "SHOULD
             * NOT consume"): a number directive becomes invalid, a
             * qualified private or no-cache still counts.
             */
            d.has_val = 1;
            d.val = "";
            d.vlen = 0;
        }
        sl_cache_cc_apply(cc, &d);
    }
    return SL_OK;
}
