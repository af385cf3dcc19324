/*
 * check_cache_policy.c: unit tests of src/cache/sl_cache_policy.c.
 *
 * One test per RFC rule, with the section in a comment.  Heads are built
 * by parsing literal messages with the real parser, so the tests see the
 * same struct sl_http_head the proxy passes in.  Times are plain numbers:
 * nothing here reads the clock or sleeps.
 */
#include "sl_core.h"
#include "sl_http_parse.h"
#include "sl_cache_policy.h"

#include <check.h>

#define T0      784111777       /* Sun, 06 Nov 1994 08:49:37 GMT */
#define D0      "Sun, 06 Nov 1994 08:49:37 GMT"

static struct sl_http_head  rq, rq2, rs, rs2;

static void
parse_req(struct sl_http_head *h, const char *s)
{
    int  rc = sl_http_parse_request(s, strlen(s), h, 8192, 8192);

    ck_assert_msg(rc == 0, "request did not parse (%d): %s", rc, s);
}

static void
parse_resp(struct sl_http_head *h, const char *s)
{
    int  rc = sl_http_parse_response(s, strlen(s), h);

    ck_assert_msg(rc == 0, "response did not parse: %s", s);
}

/*
 * Parses into h the request "METHOD / HTTP/1.1" with Host: a and the
 * field lines fields (each ending in CRLF), written in buf (size bytes):
 * h points into buf, which must outlive it.
 */
static void
req_with(struct sl_http_head *h, char *buf, size_t size, const char *method,
    const char *fields)
{
    snprintf(buf, size, "%s / HTTP/1.1\r\nHost: a\r\n%s\r\n", method, fields);
    parse_req(h, buf);
}

/* The same for the response "HTTP/1.1 STATUS REASON". */
static void
resp_with(struct sl_http_head *h, char *buf, size_t size, int status,
    const char *reason, const char *fields)
{
    snprintf(buf, size, "HTTP/1.1 %d %s\r\n%s\r\n", status, reason, fields);
    parse_resp(h, buf);
}

/* "GET / HTTP/1.1" with Host and the given field lines. */
#define GET(fields)     "GET / HTTP/1.1\r\nHost: a\r\n" fields "\r\n"
#define R200(fields)    "HTTP/1.1 200 OK\r\n" fields "\r\n"

static int64_t
pdate(const char *s)
{
    return sl_cache_parse_date(s, strlen(s));
}

static void
cc_of(const char *fields, const char *name, struct sl_cache_cc *cc)
{
    static char  buf[4096];

    resp_with(&rs, buf, sizeof(buf), 200, "OK", fields);
    sl_cache_cc_parse(&rs, name, cc);
}

static void
rcc_of(const char *fields, struct sl_cache_cc *cc)
{
    static char  buf[4096];

    req_with(&rq, buf, sizeof(buf), "GET", fields);
    sl_cache_cc_parse(&rq, "Cache-Control", cc);
}

/*
 * sl_cache_storable on a GET (with extra request fields reqf) and a
 * response "HTTP/1.1 <status>" with fields respf; request at T0-1,
 * response at T0.
 */
static int
store(const char *reqf, int status, const char *respf,
    const struct sl_cache_valid *valid, size_t nvalid,
    struct sl_cache_meta *m, const char **why)
{
    static char  qb[4096], sb[4096];

    req_with(&rq, qb, sizeof(qb), "GET", reqf);
    resp_with(&rs, sb, sizeof(sb), status, "X", respf);
    return sl_cache_storable(&rq, &rs, valid, nvalid, T0 - 1, T0, m, why);
}

static int
store_simple(int status, const char *respf, struct sl_cache_meta *m)
{
    return store("", status, respf, NULL, 0, m, NULL);
}

/* A meta with the given lifetime, received at 1000 with no delays. */
static void
meta(struct sl_cache_meta *m, int64_t lifetime, unsigned flags)
{
    memset(m, 0, sizeof(*m));
    m->magic = SL_CACHE_META_MAGIC;
    m->status = 200;
    m->request_time = 1000;
    m->response_time = 1000;
    m->date = 1000;
    m->lifetime = lifetime;
    m->last_modified = -1;
    m->flags = (uint16_t) flags;
}

/* ---- HTTP-date (RFC 9110 5.6.7) ----------------------------------------- */

/* RFC 9110 5.6.7: IMF-fixdate, the preferred format */
START_TEST(test_date_imf_fixdate)
{
    ck_assert_int_eq(pdate(D0), T0);
    ck_assert_int_eq(pdate("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    ck_assert_int_eq(pdate("Fri, 31 Dec 1999 23:59:59 GMT"), 946684799);
    ck_assert_int_eq(pdate("Sat, 28 Nov 2026 03:00:00 GMT"), 1795834800);
}
END_TEST

/* RFC 9110 5.6.7: obsolete RFC 850 format, two-digit year */
START_TEST(test_date_rfc850)
{
    ck_assert_int_eq(pdate("Sunday, 06-Nov-94 08:49:37 GMT"), T0);
    ck_assert_int_eq(pdate("Wednesday, 09-Nov-94 08:49:37 GMT"),
                     T0 + 3 * 86400);
    /*
     * A year more than 50 years ahead is the most recent past one with
     * the same digits: "99" is 1999, not 2099.
     */
    ck_assert_int_eq(pdate("Friday, 31-Dec-99 23:59:59 GMT"), 946684799);
    /* "30" is 2030, less than 50 years from now */
    ck_assert_int_eq(pdate("Tuesday, 01-Jan-30 00:00:00 GMT"), 1893456000);
    ck_assert_int_eq(pdate("Sun, 06-Nov-94 08:49:37 GMT"), -1);
    ck_assert_int_eq(pdate("Sunday, 06-Nov-1994 08:49:37 GMT"), -1);
}
END_TEST

/* RFC 9110 5.6.7: obsolete asctime format, day padded with a space */
START_TEST(test_date_asctime)
{
    ck_assert_int_eq(pdate("Sun Nov  6 08:49:37 1994"), T0);
    ck_assert_int_eq(pdate("Wed Nov 16 08:49:37 1994"), T0 + 10 * 86400);
    ck_assert_int_eq(pdate("Sun Nov 06 08:49:37 1994"), T0);
    ck_assert_int_eq(pdate("Sun Nov 6 08:49:37 1994"), -1);
}
END_TEST

/* RFC 9110 5.6.7: anything else is not a date */
START_TEST(test_date_invalid)
{
    static const char *const  bad[] = {
        "", "0", "-1", "garbage", "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT ",
        "Sun, 06 Nov 1994 08:49:37 GMTX",
        "Sun,  6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08.49.37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 0a Nov 1994 08:49:37 GMT",
        "Sun Nov  6 08:49:37 94",
    };
    size_t  i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(pdate(bad[i]) == -1, "accepted \"%s\"", bad[i]);
    }
    ck_assert_int_eq(sl_cache_parse_date(NULL, 0), -1);
    /* only len bytes are read */
    ck_assert_int_eq(sl_cache_parse_date(D0 "junk", 29), T0);
}
END_TEST

/* RFC 9110 5.6.7 / RFC 5322: leap years and the leap second */
START_TEST(test_date_calendar)
{
    ck_assert_int_eq(pdate("Tue, 29 Feb 2000 00:00:00 GMT"), 951782400);
    ck_assert_int_eq(pdate("Thu, 29 Feb 2024 00:00:00 GMT"), 1709164800);
    ck_assert_int_eq(pdate("Thu, 29 Feb 1900 00:00:00 GMT"), -1);
    ck_assert_int_eq(pdate("Sun, 29 Feb 2023 00:00:00 GMT"), -1);
    ck_assert_int_eq(pdate("Sat, 31 Dec 2016 23:59:60 GMT"), 1483228800);
    /* before the epoch: valid, "long ago" */
    ck_assert_int_eq(pdate("Wed, 31 Dec 1969 23:59:59 GMT"), 0);
    ck_assert_int_eq(pdate("Mon, 01 Jan 1900 00:00:00 GMT"), 0);
}
END_TEST

/* RFC 9110 5.6.7: senders generate IMF-fixdate */
START_TEST(test_date_format)
{
    char     buf[32];
    int64_t  t;

    ck_assert_uint_eq(sl_cache_format_date(T0, buf), 29);
    ck_assert(memcmp(buf, D0, 29) == 0);
    sl_cache_format_date(0, buf);
    ck_assert(memcmp(buf, "Thu, 01 Jan 1970 00:00:00 GMT", 29) == 0);
    sl_cache_format_date(951782400, buf);
    ck_assert(memcmp(buf, "Tue, 29 Feb 2000 00:00:00 GMT", 29) == 0);
    sl_cache_format_date(-5, buf);
    ck_assert(memcmp(buf, "Thu, 01 Jan 1970 00:00:00 GMT", 29) == 0);
    /* round trip over a stride of dates, weekdays included */
    for (t = 0; t < 4102444800LL; t += 86400 * 37 + 3671) {
        sl_cache_format_date(t, buf);
        ck_assert_int_eq(sl_cache_parse_date(buf, 29), t);
    }
}
END_TEST

/* ---- Cache-Control (RFC 9111 5.2) ---------------------------------------- */

/* RFC 9111 5.2.2: every response directive */
START_TEST(test_cc_response_directives)
{
    struct sl_cache_cc  cc;

    cc_of("Cache-Control: max-age=60, s-maxage=30, no-cache, no-store,"
          " private, public, must-revalidate, proxy-revalidate,"
          " must-understand, no-transform, immutable,"
          " stale-while-revalidate=5, stale-if-error=7\r\n",
          "Cache-Control", &cc);
    ck_assert(cc.present);
    ck_assert_int_eq(cc.max_age, 60);
    ck_assert_int_eq(cc.s_maxage, 30);
    ck_assert_int_eq(cc.stale_while_revalidate, 5);
    ck_assert_int_eq(cc.stale_if_error, 7);
    ck_assert(cc.no_cache && cc.no_store && cc.private_ && cc.public_);
    ck_assert(cc.must_revalidate && cc.proxy_revalidate);
    ck_assert(cc.must_understand && cc.no_transform && cc.immutable);
    ck_assert(!cc.invalid);
    ck_assert_int_eq(cc.max_stale, SL_CACHE_UNSET);
    ck_assert_int_eq(cc.min_fresh, SL_CACHE_UNSET);
}
END_TEST

/* RFC 9111 5.2.1: every request directive */
START_TEST(test_cc_request_directives)
{
    struct sl_cache_cc  cc;

    rcc_of("Cache-Control: max-age=5, max-stale=10, min-fresh=20,"
           " no-cache, no-store, no-transform, only-if-cached,"
           " stale-if-error=30\r\n", &cc);
    ck_assert_int_eq(cc.max_age, 5);
    ck_assert_int_eq(cc.max_stale, 10);
    ck_assert_int_eq(cc.min_fresh, 20);
    ck_assert_int_eq(cc.stale_if_error, 30);
    ck_assert(cc.no_cache && cc.no_store && cc.no_transform);
    ck_assert(cc.only_if_cached);

    /* RFC 9111 5.2.1.2: max-stale without a value: any staleness */
    rcc_of("Cache-Control: max-stale\r\n", &cc);
    ck_assert(cc.max_stale == SL_CACHE_INFINITE);
    rcc_of("Cache-Control: max-stale, max-stale=5\r\n", &cc);
    ck_assert(cc.max_stale == SL_CACHE_INFINITE);
}
END_TEST

/* RFC 9111 5.2: absent field, empty field */
START_TEST(test_cc_absent_empty)
{
    struct sl_cache_cc  cc;

    cc_of("X: y\r\n", "Cache-Control", &cc);
    ck_assert(!cc.present);
    ck_assert_int_eq(cc.max_age, SL_CACHE_UNSET);
    cc_of("Cache-Control:\r\n", "Cache-Control", &cc);
    ck_assert(cc.present);
    ck_assert_int_eq(cc.max_age, SL_CACHE_UNSET);
    ck_assert(!cc.no_store && !cc.invalid);
    sl_cache_cc_parse(NULL, "Cache-Control", &cc);
    ck_assert(!cc.present);
}
END_TEST

/* RFC 9111 5.2: directive names are case-insensitive */
START_TEST(test_cc_case_insensitive)
{
    struct sl_cache_cc  cc;

    cc_of("cache-control: MAX-AGE=5, No-Store, S-MaxAge=3, PRIVATE\r\n",
          "Cache-Control", &cc);
    ck_assert_int_eq(cc.max_age, 5);
    ck_assert_int_eq(cc.s_maxage, 3);
    ck_assert(cc.no_store && cc.private_);
}
END_TEST

/* RFC 9111 5.2: recipients accept the quoted form of an argument */
START_TEST(test_cc_quoted_value)
{
    struct sl_cache_cc  cc;

    cc_of("Cache-Control: max-age=\"60\", s-maxage=\"7\"\r\n",
          "Cache-Control", &cc);
    ck_assert_int_eq(cc.max_age, 60);
    ck_assert_int_eq(cc.s_maxage, 7);
    ck_assert(!cc.invalid);
    /* an escape inside a number is not a number */
    cc_of("Cache-Control: max-age=\"6\\0\"\r\n", "Cache-Control", &cc);
    ck_assert_int_eq(cc.max_age, 0);
    ck_assert(cc.invalid);
}
END_TEST

/* RFC 9110 5.6.4: commas inside a quoted string do not split the list */
START_TEST(test_cc_quoted_comma)
{
    struct sl_cache_cc  cc;

    cc_of("Cache-Control: no-cache=\"Set-Cookie, X-A\", max-age=5,"
          " private=\"a,b\\\",c\", public\r\n", "Cache-Control", &cc);
    ck_assert(cc.no_cache);
    ck_assert(cc.private_);
    ck_assert(cc.public_);
    ck_assert_int_eq(cc.max_age, 5);
    ck_assert(!cc.invalid);
    /* the token form of a qualified no-cache */
    cc_of("Cache-Control: no-cache=Set-Cookie, max-age=9\r\n",
          "Cache-Control", &cc);
    ck_assert(cc.no_cache);
    ck_assert_int_eq(cc.max_age, 9);
}
END_TEST

/* RFC 9111 4.2.1, 1.2.2: malformed delta-seconds make the response stale */
START_TEST(test_cc_invalid_delta)
{
    static const char *const  bad[] = {
        "max-age=abc", "max-age=-1", "max-age=", "max-age", "max-age=1.5",
        "max-age=+5", "max-age=5s", "max-age=\"\"", "max-age=\"5",
        "max-age=5 junk", "max-age=0x10",
    };
    struct sl_cache_cc  cc;
    char                f[128];
    size_t              i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(f, sizeof(f), "Cache-Control: %s\r\n", bad[i]);
        cc_of(f, "Cache-Control", &cc);
        ck_assert_msg(cc.invalid, "\"%s\" not invalid", bad[i]);
        ck_assert_msg(cc.max_age == 0, "\"%s\": max_age %lld", bad[i],
                      (long long) cc.max_age);
    }
    cc_of("Cache-Control: s-maxage=x\r\n", "Cache-Control", &cc);
    ck_assert(cc.invalid);
    ck_assert_int_eq(cc.s_maxage, 0);
    /* malformed non-freshness values are just ignored */
    cc_of("Cache-Control: stale-while-revalidate=x, stale-if-error=-3,"
          " max-age=5\r\n", "Cache-Control", &cc);
    ck_assert(!cc.invalid);
    ck_assert_int_eq(cc.stale_while_revalidate, SL_CACHE_UNSET);
    ck_assert_int_eq(cc.stale_if_error, SL_CACHE_UNSET);
    ck_assert_int_eq(cc.max_age, 5);
    rcc_of("Cache-Control: max-stale=x, min-fresh=\r\n", &cc);
    ck_assert_int_eq(cc.max_stale, SL_CACHE_UNSET);
    ck_assert_int_eq(cc.min_fresh, SL_CACHE_UNSET);
}
END_TEST

/* RFC 9111 1.2.2: delta-seconds overflow saturates at 2^31 */
START_TEST(test_cc_delta_overflow)
{
    struct sl_cache_cc  cc;

    cc_of("Cache-Control: max-age=99999999999999999999999999,"
          " s-maxage=2147483648, stale-if-error=2147483647\r\n",
          "Cache-Control", &cc);
    ck_assert_int_eq(cc.max_age, 2147483648LL);
    ck_assert_int_eq(cc.s_maxage, 2147483648LL);
    ck_assert_int_eq(cc.stale_if_error, 2147483647LL);
    ck_assert(!cc.invalid);
    cc_of("Cache-Control: max-age=000000000000000000000042\r\n",
          "Cache-Control", &cc);
    ck_assert_int_eq(cc.max_age, 42);
}
END_TEST

/* RFC 9111 4.2.1: repeated directives, same value or conflicting */
START_TEST(test_cc_repeated)
{
    struct sl_cache_cc  cc;

    cc_of("Cache-Control: max-age=5, max-age=5\r\n", "Cache-Control", &cc);
    ck_assert_int_eq(cc.max_age, 5);
    ck_assert(!cc.invalid);
    /* conflicting, over two lines: stale, most restrictive value kept */
    cc_of("Cache-Control: max-age=50\r\nCache-Control: max-age=10\r\n",
          "Cache-Control", &cc);
    ck_assert(cc.invalid);
    ck_assert_int_eq(cc.max_age, 10);
    rcc_of("Cache-Control: min-fresh=5, min-fresh=20, max-stale=9,"
           " max-stale=3\r\n", &cc);
    ck_assert_int_eq(cc.min_fresh, 20);
    ck_assert_int_eq(cc.max_stale, 3);
}
END_TEST

/* RFC 9111 5.2.3, RFC 9110 5.6.1: unknown directives, empty elements */
START_TEST(test_cc_lenient_syntax)
{
    struct sl_cache_cc  cc;

    cc_of("Cache-Control: , ,foo=\"a,b\", bar, max-age=5,,  ,"
          " community=\"UCI\"\r\n", "Cache-Control", &cc);
    ck_assert_int_eq(cc.max_age, 5);
    ck_assert(!cc.invalid && !cc.no_store);
    /* OWS around '=' is tolerated */
    cc_of("Cache-Control: max-age = 7\r\n", "Cache-Control", &cc);
    ck_assert_int_eq(cc.max_age, 7);
    /* garbage elements are skipped, the rest counts */
    cc_of("Cache-Control: @@@, no-store, =5\r\n", "Cache-Control", &cc);
    ck_assert(cc.no_store);
    ck_assert_int_eq(cc.max_age, SL_CACHE_UNSET);
    /* a directive name is a whole token */
    cc_of("Cache-Control: max-age-x=5, no-stores\r\n", "Cache-Control", &cc);
    ck_assert_int_eq(cc.max_age, SL_CACHE_UNSET);
    ck_assert(!cc.no_store);
}
END_TEST

/* RFC 9111 5.2.2: permissive directives with junk do not count */
START_TEST(test_cc_permissive_with_argument)
{
    struct sl_cache_cc  cc;

    cc_of("Cache-Control: public=yes, immutable=1\r\n", "Cache-Control",
          &cc);
    ck_assert(!cc.public_ && !cc.immutable);
    cc_of("Cache-Control: no-store=1, must-revalidate=\"x\"\r\n",
          "Cache-Control", &cc);
    ck_assert(cc.no_store && cc.must_revalidate);
}
END_TEST

/* RFC 9213 2.1: CDN-Cache-Control replaces Cache-Control */
START_TEST(test_cdn_cc_precedence)
{
    struct sl_cache_meta  m;
    const char           *why;

    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=10\r\n"
                                  "CDN-Cache-Control: max-age=100\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 100);
    /* no-store for browsers, cached by the CDN */
    ck_assert_int_eq(store_simple(200, "Cache-Control: no-store\r\n"
                                  "CDN-Cache-Control: max-age=60\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 60);
    /* and the reverse */
    ck_assert_int_eq(store("", 200, "Cache-Control: max-age=60\r\n"
                           "CDN-Cache-Control: no-store\r\n", NULL, 0, &m,
                           &why), SL_CACHE_STORE_NO);
    ck_assert_str_eq(why, "no-store");
    /* an empty CDN-Cache-Control does not displace Cache-Control */
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=10\r\n"
                                  "CDN-Cache-Control:\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 10);
    /* a targeted field with only unknown directives still replaces it */
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=10\r\n"
                                  "CDN-Cache-Control: foo\r\n"
                                  "ETag: \"a\"\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert(m.flags & SL_CACHE_F_HEURISTIC);
    ck_assert_int_eq(m.lifetime, 0);
    /* the directives of Cache-Control do not mix in */
    ck_assert_int_eq(store_simple(200, "Cache-Control: must-revalidate\r\n"
                                  "CDN-Cache-Control: max-age=10\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert(!(m.flags & SL_CACHE_F_MUST_REVALIDATE));
}
END_TEST

/*
 * RFC 9213 2.1, RFC 8941 3.2: the targeted field is a Structured Fields
 * dictionary; one that does not parse is ignored as a whole.
 */
START_TEST(test_cdn_cc_structured)
{
    static const char *const  bad[] = {
        "MAX-AGE=100",                  /* keys are lowercase */
        "max-age=100,",                 /* trailing comma */
        "max-age=1234567890123456",     /* 16 digits */
        "max-age=100 junk",
        "max-age=\"100",
        "max-age = 100",
        ", max-age=100",
        "max-age=1.2345",
        "max-age=100;",
    };
    struct sl_cache_meta  m;
    struct sl_cache_cc    cc;
    char                  f[256];
    size_t                i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(f, sizeof(f), "Cache-Control: max-age=10\r\n"
                 "CDN-Cache-Control: %s\r\n", bad[i]);
        ck_assert_int_eq(store_simple(200, f, &m), SL_CACHE_STORE_OK);
        ck_assert_msg(m.lifetime == 10, "\"%s\" used: %lld", bad[i],
                      (long long) m.lifetime);
    }
    /* later duplicates win, without making it stale */
    ck_assert_int_eq(store_simple(200, "CDN-Cache-Control: max-age=5,"
                                  " max-age=100\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 100);
    /* parameters are ignored; ?0 is false */
    ck_assert_int_eq(store_simple(200, "Cache-Control: no-store\r\n"
                                  "CDN-Cache-Control: max-age=50;x=1,"
                                  " no-store=?0\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 50);
    ck_assert_int_eq(store_simple(200, "CDN-Cache-Control: max-age=50,"
                                  " no-store=?1\r\n", &m), SL_CACHE_STORE_NO);
    /* a max-age that is not an Integer: stale */
    ck_assert_int_eq(store_simple(200, "CDN-Cache-Control: max-age=\"50\"\r\n"
                                  "ETag: \"a\"\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 0);
    ck_assert_int_eq(store_simple(200, "CDN-Cache-Control: max-age=-5\r\n"
                                  "ETag: \"a\"\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 0);
    /* a qualified private is a String: still private */
    ck_assert_int_eq(store_simple(200, "CDN-Cache-Control: max-age=50,"
                                  " private=\"Set-Cookie\"\r\n", &m),
                     SL_CACHE_STORE_NO);
    /* several lines form one dictionary */
    ck_assert_int_eq(store_simple(200, "CDN-Cache-Control: max-age=50\r\n"
                                  "CDN-Cache-Control: must-revalidate,"
                                  " stale-if-error=9\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 50);
    ck_assert_int_eq(m.sie, 9);
    ck_assert(m.flags & SL_CACHE_F_MUST_REVALIDATE);
    /* inner lists, tokens, byte sequences are valid syntax */
    cc_of("CDN-Cache-Control: no-cache=(a b);p, x=tok/en:1, y=:AB+/=:,"
          " max-age=7\r\n", "CDN-Cache-Control", &cc);
    ck_assert(cc.present && cc.no_cache);
    ck_assert_int_eq(cc.max_age, 7);
    cc_of("CDN-Cache-Control: max-age=7,\r\n", "CDN-Cache-Control", &cc);
    ck_assert(!cc.present);
    ck_assert_int_eq(cc.max_age, SL_CACHE_UNSET);
}
END_TEST

/* RFC 9213 2.2: a used targeted field displaces Expires too */
START_TEST(test_cdn_cc_ignores_expires)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "CDN-Cache-Control: public\r\n"
                                  "Date: " D0 "\r\nETag: \"a\"\r\n"
                                  "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n",
                                  &m), SL_CACHE_STORE_OK);
    ck_assert(m.flags & SL_CACHE_F_HEURISTIC);
    ck_assert_int_eq(m.lifetime, 0);
    /* an invalid targeted field leaves Expires in force */
    ck_assert_int_eq(store_simple(200, "CDN-Cache-Control: Public\r\n"
                                  "Date: " D0 "\r\n"
                                  "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n",
                                  &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 3600);
}
END_TEST

/* ---- storing (RFC 9111 3) ------------------------------------------------ */

/* RFC 9111 3: only methods whose responses we cache */
START_TEST(test_store_method)
{
    struct sl_cache_meta  m;
    const char           *why = NULL;

    parse_req(&rq, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    parse_resp(&rs, R200("Cache-Control: max-age=60\r\n"));
    ck_assert_int_eq(sl_cache_storable(&rq, &rs, NULL, 0, 1, 2, &m, &why),
                     SL_CACHE_STORE_NO);
    ck_assert_str_eq(why, "method");
    parse_req(&rq, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(sl_cache_storable(&rq, &rs, NULL, 0, 1, 2, &m, NULL),
                     SL_CACHE_STORE_OK);
    parse_req(&rq, "OPTIONS / HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(sl_cache_storable(&rq, &rs, NULL, 0, 1, 2, &m, NULL),
                     SL_CACHE_STORE_NO);
}
END_TEST

/*
 * RFC 9111 3, 4.2.2, RFC 9110 15.1: without explicit freshness only the
 * heuristically cacheable codes are stored; with it, any final code.
 */
START_TEST(test_store_status_codes)
{
    static const int  heur[] = {
        200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501
    };
    static const int  other[] = {
        201, 202, 302, 303, 307, 400, 403, 500, 502, 503, 599
    };
    struct sl_cache_meta  m;
    size_t                i;

    for (i = 0; i < sizeof(heur) / sizeof(heur[0]); i++) {
        ck_assert_msg(store_simple(heur[i], "Date: " D0 "\r\n"
                                   "Last-Modified: Sat, 05 Nov 1994"
                                   " 08:49:37 GMT\r\n", &m)
                      == SL_CACHE_STORE_OK, "status %d", heur[i]);
        ck_assert(m.flags & SL_CACHE_F_HEURISTIC);
        ck_assert_int_eq(m.lifetime, 8640);
        ck_assert_int_eq(m.status, heur[i]);
    }
    for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        ck_assert_msg(store_simple(other[i], "Date: " D0 "\r\n"
                                   "Last-Modified: Sat, 05 Nov 1994"
                                   " 08:49:37 GMT\r\n", &m)
                      == SL_CACHE_STORE_NO, "status %d", other[i]);
        ck_assert_msg(store_simple(other[i], "Cache-Control: max-age=5\r\n",
                                   &m) == SL_CACHE_STORE_OK,
                      "status %d with max-age", other[i]);
        ck_assert_int_eq(m.lifetime, 5);
    }
}
END_TEST

/* RFC 9111 3: non-final, partial and 304 responses are not stored whole */
START_TEST(test_store_status_not_final)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(304, "Cache-Control: max-age=5\r\n", &m),
                     SL_CACHE_STORE_NO);
    ck_assert_int_eq(store_simple(206, "Cache-Control: max-age=5\r\n"
                                  "Content-Range: bytes 0-1/10\r\n", &m),
                     SL_CACHE_STORE_NO);
}
END_TEST

/* RFC 9111 5.2.2.5, 5.2.1.5: no-store in the response or the request */
START_TEST(test_store_no_store)
{
    struct sl_cache_meta  m;
    const char           *why;

    ck_assert_int_eq(store("", 200, "Cache-Control: max-age=5, no-store\r\n",
                           NULL, 0, &m, &why), SL_CACHE_STORE_NO);
    ck_assert_str_eq(why, "no-store");
    ck_assert_int_eq(store("Cache-Control: no-store\r\n", 200,
                           "Cache-Control: max-age=5\r\n", NULL, 0, &m, &why),
                     SL_CACHE_STORE_NO);
    ck_assert_str_eq(why, "request-no-store");
}
END_TEST

/* RFC 9111 5.2.2.3: must-understand overrides no-store for known codes */
START_TEST(test_store_must_understand)
{
    struct sl_cache_meta  m;
    const char           *why;

    ck_assert_int_eq(store_simple(200, "Cache-Control: must-understand,"
                                  " no-store, max-age=5\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(store("", 299, "Cache-Control: must-understand,"
                           " no-store, max-age=5\r\n", NULL, 0, &m, &why),
                     SL_CACHE_STORE_NO);
    ck_assert_str_eq(why, "must-understand");
    ck_assert_int_eq(store_simple(299, "Cache-Control: max-age=5\r\n", &m),
                     SL_CACHE_STORE_OK);
}
END_TEST

/* RFC 9111 5.2.2.7: a shared cache does not store private responses */
START_TEST(test_store_private)
{
    struct sl_cache_meta  m;
    const char           *why;

    ck_assert_int_eq(store("", 200, "Cache-Control: private, max-age=5\r\n",
                           NULL, 0, &m, &why), SL_CACHE_STORE_NO);
    ck_assert_str_eq(why, "private");
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5,"
                                  " private=\"Set-Cookie\"\r\n", &m),
                     SL_CACHE_STORE_NO);
}
END_TEST

/* RFC 9111 3.5: Authorization needs public, s-maxage or must-revalidate */
START_TEST(test_store_authorization)
{
    static const char *const  ok[] = {
        "Cache-Control: public\r\nETag: \"a\"\r\n",
        "Cache-Control: s-maxage=5\r\n",
        "Cache-Control: must-revalidate, max-age=5\r\n",
    };
    struct sl_cache_meta  m;
    const char           *why;
    size_t                i;

    ck_assert_int_eq(store("Authorization: Basic eDp5\r\n", 200,
                           "Cache-Control: max-age=5\r\n", NULL, 0, &m, &why),
                     SL_CACHE_STORE_NO);
    ck_assert_str_eq(why, "authorization");
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_int_eq(store("Authorization: Basic eDp5\r\n", 200, ok[i],
                               NULL, 0, &m, NULL), SL_CACHE_STORE_OK);
        ck_assert(m.flags & SL_CACHE_F_AUTH);
    }
    ck_assert_int_eq(store("Authorization: Basic eDp5\r\n", 200,
                           "Cache-Control: s-maxage=x\r\nETag: \"a\"\r\n",
                           NULL, 0, &m, NULL), SL_CACHE_STORE_NO);
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert(!(m.flags & SL_CACHE_F_AUTH));
}
END_TEST

/* RFC 9111 4.1: Vary: * is never stored; Vary sets the flag */
START_TEST(test_store_vary)
{
    struct sl_cache_meta  m;
    const char           *why;

    ck_assert_int_eq(store("", 200, "Cache-Control: max-age=5\r\n"
                           "Vary: *\r\n", NULL, 0, &m, &why),
                     SL_CACHE_STORE_NO);
    ck_assert_str_eq(why, "vary-star");
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5\r\n"
                                  "Vary: Accept\r\nVary: Origin, *\r\n", &m),
                     SL_CACHE_STORE_NO);
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5\r\n"
                                  "Vary: Accept-Encoding\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert(m.flags & SL_CACHE_F_VARY);
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5\r\n"
                                  "Vary: \r\n", &m), SL_CACHE_STORE_OK);
    ck_assert(!(m.flags & SL_CACHE_F_VARY));
}
END_TEST

/* RFC 9111 5.2.2.4: no-cache is stored, revalidated before each use */
START_TEST(test_store_no_cache)
{
    struct sl_cache_meta  m;
    const char           *why;

    ck_assert_int_eq(store_simple(200, "Cache-Control: no-cache, max-age=60"
                                  "\r\nETag: \"v1\"\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert(m.flags & SL_CACHE_F_NO_CACHE);
    ck_assert(m.flags & SL_CACHE_F_ETAG);
    ck_assert_int_eq(m.lifetime, 60);
    /* nothing to revalidate with: useless */
    ck_assert_int_eq(store("", 200, "Cache-Control: no-cache, max-age=60\r\n",
                           NULL, 0, &m, &why), SL_CACHE_STORE_NO);
    ck_assert_str_eq(why, "no-freshness-no-validator");
}
END_TEST

/* RFC 9111 3, 4.3: no freshness and no validator: not worth storing */
START_TEST(test_store_needs_freshness_or_validator)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "X: y\r\n", &m), SL_CACHE_STORE_NO);
    ck_assert_int_eq(store_simple(200, "ETag: \"x\"\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 0);
    ck_assert(m.flags & SL_CACHE_F_HEURISTIC);
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=0\r\n", &m),
                     SL_CACHE_STORE_NO);
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=0\r\n"
                                  "Last-Modified: " D0 "\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert(m.flags & SL_CACHE_F_LAST_MODIFIED);
    ck_assert_int_eq(m.last_modified, T0);
    /* an invalid Last-Modified is no validator */
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=0\r\n"
                                  "Last-Modified: yesterday\r\n", &m),
                     SL_CACHE_STORE_NO);
}
END_TEST

/* RFC 9111 4.2.1: s-maxage over max-age over Expires */
START_TEST(test_lifetime_precedence)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=10,"
                                  " s-maxage=20\r\nDate: " D0 "\r\n"
                                  "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n",
                                  &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 20);
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=10\r\n"
                                  "Date: " D0 "\r\n"
                                  "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n",
                                  &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 10);
    ck_assert(!(m.flags & SL_CACHE_F_HEURISTIC));
    ck_assert_int_eq(store_simple(200, "Date: " D0 "\r\n"
                                  "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n",
                                  &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 3600);
    ck_assert_int_eq(m.date, T0);
    /* RFC 9111 5.3: max-age present: even an invalid Expires is ignored */
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=10\r\n"
                                  "Expires: 0\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 10);
}
END_TEST

/* RFC 9111 5.2.2.10: s-maxage implies proxy-revalidate for us */
START_TEST(test_store_s_maxage_revalidate)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "Cache-Control: s-maxage=5\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert(m.flags & SL_CACHE_F_MUST_REVALIDATE);
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5,"
                                  " proxy-revalidate\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert(m.flags & SL_CACHE_F_MUST_REVALIDATE);
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5,"
                                  " must-revalidate, immutable\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert(m.flags & SL_CACHE_F_MUST_REVALIDATE);
    ck_assert(m.flags & SL_CACHE_F_IMMUTABLE);
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert(!(m.flags & SL_CACHE_F_MUST_REVALIDATE));
}
END_TEST

/* RFC 9111 5.3: an invalid Expires ("0", garbage) is already expired */
START_TEST(test_expires_invalid)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "Expires: 0\r\nETag: \"a\"\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 0);
    ck_assert(!(m.flags & SL_CACHE_F_HEURISTIC));
    ck_assert_int_eq(store_simple(200, "Expires: soon\r\n"
                                  "Last-Modified: Sat, 05 Nov 1994"
                                  " 08:49:37 GMT\r\nDate: " D0 "\r\n", &m),
                     SL_CACHE_STORE_OK);
    /* explicit (expired): no heuristic */
    ck_assert_int_eq(m.lifetime, 0);
    /* already expired, nothing to revalidate with */
    ck_assert_int_eq(store_simple(200, "Expires: -1\r\n", &m),
                     SL_CACHE_STORE_NO);
    /* in the past */
    ck_assert_int_eq(store_simple(200, "Date: " D0 "\r\nETag: \"a\"\r\n"
                                  "Expires: Thu, 01 Jan 1970 00:00:00 GMT\r\n",
                                  &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 0);
}
END_TEST

/* RFC 9111 4.2.1: several Expires: the same value is fine, else stale */
START_TEST(test_expires_multiple)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "Date: " D0 "\r\nETag: \"a\"\r\n"
                                  "Expires: Sun, 06 Nov 1994 08:50:37 GMT\r\n"
                                  "Expires: Sun, 06 Nov 1994 08:50:37 GMT\r\n",
                                  &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 60);
    ck_assert_int_eq(store_simple(200, "Date: " D0 "\r\nETag: \"a\"\r\n"
                                  "Expires: Sun, 06 Nov 1994 08:50:37 GMT\r\n"
                                  "Expires: Sun, 06 Nov 1994 09:50:37 GMT\r\n",
                                  &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 0);
}
END_TEST

/* RFC 9111 4.2.1, 5.3: Expires without Date counts from receipt */
START_TEST(test_expires_no_date)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "Expires: Sun, 06 Nov 1994 08:50:37"
                                  " GMT\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.date, T0);       /* response_time */
    ck_assert_int_eq(m.lifetime, 60);
    ck_assert_int_eq(store_simple(200, "Date: tomorrow\r\n"
                                  "Expires: Sun, 06 Nov 1994 08:50:37"
                                  " GMT\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.date, T0);
    ck_assert_int_eq(m.lifetime, 60);
}
END_TEST

/* RFC 9111 4.2.1: a malformed max-age means stale, Expires or not */
START_TEST(test_lifetime_invalid_cc)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=ten\r\n"
                                  "Date: " D0 "\r\nETag: \"a\"\r\n"
                                  "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n",
                                  &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 0);
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=10,"
                                  " max-age=20\r\nETag: \"a\"\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 0);
}
END_TEST

/* RFC 9111 4.2.2: heuristic: 10% of Date - Last-Modified, at most a day */
START_TEST(test_heuristic_freshness)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "Date: " D0 "\r\n"
                                  "Last-Modified: Sun, 06 Nov 1994"
                                  " 08:33:57 GMT\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 94);
    ck_assert(m.flags & SL_CACHE_F_HEURISTIC);
    ck_assert_int_eq(store_simple(200, "Date: " D0 "\r\n"
                                  "Last-Modified: Sun, 06 Nov 1993"
                                  " 08:49:37 GMT\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 86400);
    /* Last-Modified in the future: no heuristic lifetime */
    ck_assert_int_eq(store_simple(200, "Date: " D0 "\r\n"
                                  "Last-Modified: Sun, 06 Nov 1994"
                                  " 09:49:37 GMT\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 0);
    /* public makes other codes heuristically cacheable */
    ck_assert_int_eq(store_simple(302, "Cache-Control: public\r\n"
                                  "Date: " D0 "\r\n"
                                  "Last-Modified: Sun, 06 Nov 1994"
                                  " 08:33:57 GMT\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 94);
}
END_TEST

/* proxy_cache_valid: used only without explicit freshness */
START_TEST(test_valid_fallback)
{
    static const struct sl_cache_valid  v[] = {
        { 0, 60 }, { 200, 600 }, { 404, 30 }
    };
    struct sl_cache_meta  m;

    ck_assert_int_eq(store("", 200, "X: y\r\n", v, 3, &m, NULL),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 600);          /* exact before "any" */
    ck_assert(!(m.flags & SL_CACHE_F_HEURISTIC));
    ck_assert_int_eq(store("", 404, "X: y\r\n", v, 3, &m, NULL),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 30);
    ck_assert_int_eq(store("", 302, "X: y\r\n", v, 3, &m, NULL),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 60);           /* "any" */
    ck_assert_int_eq(store("", 302, "X: y\r\n", v + 1, 2, &m, NULL),
                     SL_CACHE_STORE_NO);
    /* explicit freshness wins, even zero, even an invalid Expires */
    ck_assert_int_eq(store("", 200, "Cache-Control: max-age=5\r\n", v, 3, &m,
                           NULL), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 5);
    ck_assert_int_eq(store("", 200, "Expires: 0\r\nETag: \"a\"\r\n", v, 3,
                           &m, NULL), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 0);
    /* and valid[] does not override no-store or private */
    ck_assert_int_eq(store("", 200, "Cache-Control: no-store\r\n", v, 3, &m,
                           NULL), SL_CACHE_STORE_NO);
    ck_assert_int_eq(store("", 200, "Cache-Control: private\r\n", v, 3, &m,
                           NULL), SL_CACHE_STORE_NO);
}
END_TEST

/* RFC 5861: stale-while-revalidate and stale-if-error are recorded */
START_TEST(test_store_stale_extensions)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5,"
                                  " stale-while-revalidate=30,"
                                  " stale-if-error=600\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.swr, 30);
    ck_assert_int_eq(m.sie, 600);
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.swr, 0);
    ck_assert_int_eq(m.sie, 0);
    ck_assert_uint_eq(m.magic, SL_CACHE_META_MAGIC);
}
END_TEST

/* RFC 9111 5.1: Age: the first member; invalid values are ignored */
START_TEST(test_age_field)
{
    static const struct { const char *f; int64_t age; }  c[] = {
        { "Age: 30\r\n", 30 },
        { "Age: abc\r\n", 0 },
        { "Age: -5\r\n", 0 },
        { "Age: 1.5\r\n", 0 },
        { "Age: 10, 20\r\n", 10 },
        { "Age: 10\r\nAge: 20\r\n", 10 },
        { "Age: 99999999999999999999\r\n", 2147483648LL },
        { "Age:\r\n", 0 },
        { "Age: 10 20\r\n", 0 },
        { "Age: 007\r\n", 7 },
        { "X: y\r\n", 0 },
    };
    struct sl_cache_meta  m;
    char                  f[256];
    size_t                i;

    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        snprintf(f, sizeof(f), "Cache-Control: max-age=5\r\n%s", c[i].f);
        ck_assert_int_eq(store_simple(200, f, &m), SL_CACHE_STORE_OK);
        ck_assert_msg(m.age == c[i].age, "%s: age %lld", c[i].f,
                      (long long) m.age);
    }
}
END_TEST

/* RFC 9110 6.6.1, 8.8.2: the first Date and Last-Modified lines count */
START_TEST(test_date_fields_first_line)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5\r\n"
                                  "Date: Sun, 06 Nov 1994 08:49:30 GMT\r\n"
                                  "Date: Sun, 06 Nov 1994 08:49:00 GMT\r\n"
                                  "Last-Modified: Sun, 06 Nov 1994 08:00:00"
                                  " GMT\r\nLast-Modified: junk\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.date, T0 - 7);
    ck_assert_int_eq(m.last_modified, T0 - 2977);
    /* a Date in the future is kept: apparent_age takes care of it */
    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=5\r\n"
                                  "Date: Sun, 06 Nov 1994 09:49:37 GMT\r\n",
                                  &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.date, T0 + 3600);
    ck_assert_int_eq(sl_cache_age(&m, T0), 1);      /* response delay */
}
END_TEST

/* RFC 9111 4.2.1, 5.2.2.10: a malformed s-maxage is stale, no stale use */
START_TEST(test_store_invalid_s_maxage)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "Cache-Control: s-maxage=soon,"
                                  " max-age=60\r\nETag: \"a\"\r\n", &m),
                     SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.lifetime, 0);
    ck_assert(m.flags & SL_CACHE_F_MUST_REVALIDATE);
}
END_TEST

/* ---- age (RFC 9111 4.2.3) ------------------------------------------------- */

/* RFC 9111 4.2.3 with worked numbers */
START_TEST(test_age_calculation)
{
    struct sl_cache_meta  m;

    memset(&m, 0, sizeof(m));
    /* apparent_age wins: 7 > 3 + 2 */
    m.request_time = 1000;
    m.response_time = 1002;
    m.date = 995;
    m.age = 3;
    ck_assert_int_eq(sl_cache_age(&m, 1002), 7);
    ck_assert_int_eq(sl_cache_age(&m, 1100), 7 + 98);
    /* corrected_age_value wins: 10 + 2 > 1 */
    m.date = 1001;
    m.age = 10;
    ck_assert_int_eq(sl_cache_age(&m, 1100), 12 + 98);
    /* Date in the future: apparent_age is 0 */
    m.date = 2000;
    m.age = 0;
    ck_assert_int_eq(sl_cache_age(&m, 1012), 2 + 10);
    /* a clock going backwards does not make the age negative */
    ck_assert_int_eq(sl_cache_age(&m, 900), 2);
}
END_TEST

/* RFC 9111 4.2.3 through sl_cache_storable's times */
START_TEST(test_age_from_storable)
{
    struct sl_cache_meta  m;

    ck_assert_int_eq(store_simple(200, "Cache-Control: max-age=100\r\n"
                                  "Date: Sun, 06 Nov 1994 08:49:27 GMT\r\n"
                                  "Age: 4\r\n", &m), SL_CACHE_STORE_OK);
    ck_assert_int_eq(m.request_time, T0 - 1);
    ck_assert_int_eq(m.response_time, T0);
    /* apparent 10 vs 4 + 1: 10, plus 20 resident */
    ck_assert_int_eq(sl_cache_age(&m, T0 + 20), 30);
    ck_assert_int_eq(sl_cache_usable(&m, NULL, T0 + 89), SL_CACHE_USE_FRESH);
    ck_assert_int_eq(sl_cache_usable(&m, NULL, T0 + 90),
                     SL_CACHE_USE_REVALIDATE);
}
END_TEST

/* ---- using (RFC 9111 4.2, 5.2.1) ------------------------------------------ */

/* RFC 9111 4.2: fresh while age < lifetime */
START_TEST(test_usable_fresh_stale)
{
    struct sl_cache_meta  m;
    struct sl_cache_cc    rcc;

    meta(&m, 100, 0);
    ck_assert_int_eq(sl_cache_usable(&m, NULL, 1099), SL_CACHE_USE_FRESH);
    ck_assert_int_eq(sl_cache_usable(&m, NULL, 1100),
                     SL_CACHE_USE_REVALIDATE);
    rcc_of("X: y\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1050), SL_CACHE_USE_FRESH);
}
END_TEST

/* RFC 9111 5.2.2.4: stored no-cache is always revalidated */
START_TEST(test_usable_stored_no_cache)
{
    struct sl_cache_meta  m;

    meta(&m, 100, SL_CACHE_F_NO_CACHE | SL_CACHE_F_ETAG);
    ck_assert_int_eq(sl_cache_usable(&m, NULL, 1000),
                     SL_CACHE_USE_REVALIDATE);
    m.swr = 100;
    ck_assert_int_eq(sl_cache_usable(&m, NULL, 1150),
                     SL_CACHE_USE_REVALIDATE);
}
END_TEST

/* RFC 9111 5.2.1.4 (and Pragma: no-cache, folded in by the caller) */
START_TEST(test_usable_request_no_cache)
{
    struct sl_cache_meta  m;
    struct sl_cache_cc    rcc;

    meta(&m, 100, 0);
    rcc_of("Cache-Control: no-cache\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1000),
                     SL_CACHE_USE_REVALIDATE);
    rcc_of("Pragma: no-cache\r\n", &rcc);
    rcc.no_cache = 1;
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1000),
                     SL_CACHE_USE_REVALIDATE);
}
END_TEST

/* RFC 9111 5.2.1.1: request max-age */
START_TEST(test_usable_request_max_age)
{
    struct sl_cache_meta  m;
    struct sl_cache_cc    rcc;

    meta(&m, 100, 0);
    rcc_of("Cache-Control: max-age=30\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1030), SL_CACHE_USE_FRESH);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1031),
                     SL_CACHE_USE_REVALIDATE);
    rcc_of("Cache-Control: max-age=0\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1001),
                     SL_CACHE_USE_REVALIDATE);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1000), SL_CACHE_USE_FRESH);
    /* max-age above the lifetime: stale is still not wanted */
    m.swr = 100;
    rcc_of("Cache-Control: max-age=500\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1150),
                     SL_CACHE_USE_REVALIDATE);
    /* ... unless max-stale says so */
    rcc_of("Cache-Control: max-age=500, max-stale=60\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1150),
                     SL_CACHE_USE_STALE_OK);
}
END_TEST

/* RFC 9111 5.2.1.3: min-fresh */
START_TEST(test_usable_request_min_fresh)
{
    struct sl_cache_meta  m;
    struct sl_cache_cc    rcc;

    meta(&m, 100, 0);
    rcc_of("Cache-Control: min-fresh=60\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1040), SL_CACHE_USE_FRESH);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1041),
                     SL_CACHE_USE_REVALIDATE);
}
END_TEST

/* RFC 9111 5.2.1.2: max-stale, with and without a value */
START_TEST(test_usable_request_max_stale)
{
    struct sl_cache_meta  m;
    struct sl_cache_cc    rcc;

    meta(&m, 100, 0);
    rcc_of("Cache-Control: max-stale=20\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1050), SL_CACHE_USE_FRESH);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1120),
                     SL_CACHE_USE_STALE_OK);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1121),
                     SL_CACHE_USE_REVALIDATE);
    rcc_of("Cache-Control: max-stale\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 999999),
                     SL_CACHE_USE_STALE_OK);
}
END_TEST

/* RFC 9111 5.2.2.2, 4.2.4: never stale past must-revalidate */
START_TEST(test_usable_must_revalidate)
{
    struct sl_cache_meta  m;
    struct sl_cache_cc    rcc;

    meta(&m, 100, SL_CACHE_F_MUST_REVALIDATE);
    m.swr = 100;
    ck_assert_int_eq(sl_cache_usable(&m, NULL, 1099), SL_CACHE_USE_FRESH);
    ck_assert_int_eq(sl_cache_usable(&m, NULL, 1101),
                     SL_CACHE_USE_REVALIDATE);
    rcc_of("Cache-Control: max-stale\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1101),
                     SL_CACHE_USE_REVALIDATE);
}
END_TEST

/* RFC 5861 3: stale-while-revalidate window */
START_TEST(test_usable_swr)
{
    struct sl_cache_meta  m;
    struct sl_cache_cc    rcc;

    meta(&m, 100, 0);
    m.swr = 30;
    ck_assert_int_eq(sl_cache_usable(&m, NULL, 1100), SL_CACHE_USE_SWR);
    ck_assert_int_eq(sl_cache_usable(&m, NULL, 1129), SL_CACHE_USE_SWR);
    ck_assert_int_eq(sl_cache_usable(&m, NULL, 1130),
                     SL_CACHE_USE_REVALIDATE);
    rcc_of("X: y\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1110), SL_CACHE_USE_SWR);
    /* the client asked for freshness */
    rcc_of("Cache-Control: min-fresh=1\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1110),
                     SL_CACHE_USE_REVALIDATE);
    /* a max-stale that does not cover it: revalidate */
    rcc_of("Cache-Control: max-stale=5\r\n", &rcc);
    ck_assert_int_eq(sl_cache_usable(&m, &rcc, 1110),
                     SL_CACHE_USE_REVALIDATE);
}
END_TEST

/* RFC 5861 4, RFC 9111 4.2.4: stale-if-error window */
START_TEST(test_stale_if_error)
{
    struct sl_cache_meta  m;
    struct sl_cache_cc    rcc;

    meta(&m, 100, 0);
    ck_assert(sl_cache_stale_if_error_ok(&m, NULL, 1050, 0));   /* fresh */
    ck_assert(!sl_cache_stale_if_error_ok(&m, NULL, 1130, 0));
    ck_assert(sl_cache_stale_if_error_ok(&m, NULL, 1130, 1));   /* config */
    m.sie = 60;
    ck_assert(sl_cache_stale_if_error_ok(&m, NULL, 1159, 0));
    ck_assert(!sl_cache_stale_if_error_ok(&m, NULL, 1160, 0));
    /* from the request */
    rcc_of("Cache-Control: stale-if-error=300\r\n", &rcc);
    ck_assert(sl_cache_stale_if_error_ok(&m, &rcc, 1399, 0));
    ck_assert(!sl_cache_stale_if_error_ok(&m, &rcc, 1400, 0));
    /* never against must-revalidate or no-cache, config or not */
    m.flags = SL_CACHE_F_MUST_REVALIDATE;
    ck_assert(!sl_cache_stale_if_error_ok(&m, &rcc, 1130, 1));
    m.flags = SL_CACHE_F_NO_CACHE;
    ck_assert(!sl_cache_stale_if_error_ok(&m, &rcc, 1130, 1));
}
END_TEST

/* ---- Vary (RFC 9111 4.1) -------------------------------------------------- */

static int
vbuild(const char *reqf, const char *varyf, char *buf, size_t size)
{
    static char  qb[2048], sb[2048];

    req_with(&rq, qb, sizeof(qb), "GET", reqf);
    resp_with(&rs, sb, sizeof(sb), 200, "OK", varyf);
    return sl_cache_vary_build(&rq, &rs, buf, size);
}

static int
vmatch(const char *blob, int len, const char *reqf)
{
    static char  qb[2048];

    req_with(&rq2, qb, sizeof(qb), "GET", reqf);
    return sl_cache_vary_match(blob, (size_t) len, &rq2);
}

/* RFC 9111 4.1: the selecting fields must match */
START_TEST(test_vary_basic)
{
    char  b[512];
    int   n;

    n = vbuild("Accept-Encoding: gzip\r\n", "Vary: Accept-Encoding\r\n", b,
               sizeof(b));
    ck_assert_int_gt(n, 0);
    ck_assert(vmatch(b, n, "Accept-Encoding: gzip\r\n"));
    ck_assert(vmatch(b, n, "Accept-Encoding: gzip\r\nX: other\r\n"));
    ck_assert(!vmatch(b, n, "Accept-Encoding: br\r\n"));
    ck_assert(!vmatch(b, n, "Accept-Encoding: gzip2\r\n"));
    ck_assert(!vmatch(b, n, "Accept-Encoding: gzi\r\n"));
    ck_assert(!vmatch(b, n, "X: y\r\n"));
}
END_TEST

/* RFC 9111 4.1: no Vary: empty blob, matches everything */
START_TEST(test_vary_none)
{
    char  b[64];
    int   n;

    n = vbuild("Accept-Encoding: gzip\r\n", "X: y\r\n", b, sizeof(b));
    ck_assert_int_eq(n, 0);
    ck_assert(vmatch(b, 0, "Accept-Encoding: br\r\n"));
    n = vbuild("", "Vary: \r\n", b, sizeof(b));
    ck_assert_int_eq(n, 0);
}
END_TEST

/* RFC 9111 4.1: Vary: * never matches: not stored */
START_TEST(test_vary_star)
{
    char  b[64];

    ck_assert_int_eq(vbuild("", "Vary: *\r\n", b, sizeof(b)), -1);
    ck_assert_int_eq(vbuild("", "Vary: Accept, *\r\n", b, sizeof(b)), -1);
    ck_assert_int_eq(vbuild("", "Vary: Accept\r\nVary: *\r\n", b, sizeof(b)),
                     -1);
}
END_TEST

/* RFC 9111 4.1: a field absent in one request and empty in the other */
START_TEST(test_vary_absent_vs_empty)
{
    char  a[64], e[64];
    int   na, ne;

    na = vbuild("", "Vary: Origin\r\n", a, sizeof(a));
    ne = vbuild("Origin:\r\n", "Vary: Origin\r\n", e, sizeof(e));
    ck_assert_int_gt(na, 0);
    ck_assert_int_gt(ne, 0);
    ck_assert(na != ne || memcmp(a, e, (size_t) na) != 0);
    ck_assert(vmatch(a, na, ""));
    ck_assert(!vmatch(a, na, "Origin:\r\n"));
    ck_assert(vmatch(e, ne, "Origin:\r\n"));
    ck_assert(!vmatch(e, ne, ""));
    ck_assert(!vmatch(e, ne, "Origin: x\r\n"));
}
END_TEST

/* RFC 9111 4.1: whitespace where the syntax allows it does not matter */
START_TEST(test_vary_whitespace)
{
    char  b[256];
    int   n;

    n = vbuild("Accept-Encoding: gzip,  deflate\r\n",
               "Vary: Accept-Encoding\r\n", b, sizeof(b));
    ck_assert(vmatch(b, n, "Accept-Encoding: gzip,deflate\r\n"));
    ck_assert(vmatch(b, n, "Accept-Encoding: gzip , deflate\r\n"));
    ck_assert(vmatch(b, n, "Accept-Encoding:   gzip,\tdeflate   \r\n"));
    ck_assert(!vmatch(b, n, "Accept-Encoding: gzipdeflate\r\n"));
    n = vbuild("User-Agent: a   b\tc\r\n", "Vary: User-Agent\r\n", b,
               sizeof(b));
    ck_assert(vmatch(b, n, "User-Agent: a b c\r\n"));
    ck_assert(!vmatch(b, n, "User-Agent: abc\r\n"));
    ck_assert(!vmatch(b, n, "User-Agent: a bc\r\n"));
    /* inside a quoted string whitespace is data */
    n = vbuild("X-Q: \"a  b\"\r\n", "Vary: X-Q\r\n", b, sizeof(b));
    ck_assert(vmatch(b, n, "X-Q: \"a  b\"\r\n"));
    ck_assert(!vmatch(b, n, "X-Q: \"a b\"\r\n"));
}
END_TEST

/* RFC 9111 4.1: several field lines combine into one list */
START_TEST(test_vary_multiple_lines)
{
    char  b[256];
    int   n;

    n = vbuild("Accept-Encoding: gzip\r\nAccept-Encoding: br\r\n",
               "Vary: Accept-Encoding\r\n", b, sizeof(b));
    ck_assert(vmatch(b, n, "Accept-Encoding: gzip, br\r\n"));
    ck_assert(vmatch(b, n, "Accept-Encoding: gzip,br\r\n"));
    ck_assert(vmatch(b, n, "Accept-Encoding: gzip\r\nAccept-Encoding: br\r\n"));
    ck_assert(!vmatch(b, n, "Accept-Encoding: br, gzip\r\n"));
    ck_assert(!vmatch(b, n, "Accept-Encoding: gzip\r\n"));
}
END_TEST

/* RFC 9110 5.1: field names are case-insensitive, values are not here */
START_TEST(test_vary_case)
{
    char  b[256];
    int   n;

    n = vbuild("accept-ENCODING: gzip\r\n", "Vary: ACCEPT-encoding\r\n", b,
               sizeof(b));
    ck_assert(vmatch(b, n, "Accept-Encoding: gzip\r\n"));
    ck_assert(!vmatch(b, n, "Accept-Encoding: GZIP\r\n"));
}
END_TEST

/* RFC 9111 4.1: several names, over several Vary lines, duplicates */
START_TEST(test_vary_several_names)
{
    char  a[256], b[256];
    int   na, nb;

    na = vbuild("Accept-Encoding: gzip\r\nAccept-Language: en\r\n",
                "Vary: Accept-Encoding, Accept-Language\r\n"
                "Vary: Origin, accept-encoding\r\n", a, sizeof(a));
    ck_assert_int_gt(na, 0);
    ck_assert(vmatch(a, na, "Accept-Language: en\r\n"
                            "Accept-Encoding: gzip\r\n"));
    ck_assert(!vmatch(a, na, "Accept-Language: en\r\n"
                             "Accept-Encoding: gzip\r\nOrigin: x\r\n"));
    ck_assert(!vmatch(a, na, "Accept-Language: fr\r\n"
                             "Accept-Encoding: gzip\r\n"));
    nb = vbuild("", "Vary: origin\r\nVary: Accept-Language,"
                " Accept-Encoding\r\n", b, sizeof(b));
    ck_assert(sl_cache_vary_same_names(a, (size_t) na, b, (size_t) nb));
    nb = vbuild("", "Vary: Accept-Encoding, Accept-Language\r\n", b,
                sizeof(b));
    ck_assert(!sl_cache_vary_same_names(a, (size_t) na, b, (size_t) nb));
    ck_assert(!sl_cache_vary_same_names(b, (size_t) nb, a, (size_t) na));
    ck_assert(sl_cache_vary_same_names("", 0, "", 0));
    ck_assert(!sl_cache_vary_same_names(a, (size_t) na, "", 0));
}
END_TEST

/* the blob is length-prefixed: values cannot run into each other */
START_TEST(test_vary_unambiguous)
{
    char  a[256];
    int   na;

    na = vbuild("X-A: ab\r\nX-B:\r\n", "Vary: X-A, X-B\r\n", a, sizeof(a));
    ck_assert(!vmatch(a, na, "X-A: a\r\nX-B: b\r\n"));
    ck_assert(!vmatch(a, na, "X-A: ab\r\n"));
    ck_assert(vmatch(a, na, "X-A: ab\r\nX-B:\r\n"));
    /* a corrupt blob matches nothing */
    ck_assert(!vmatch(a, na - 1, "X-A: ab\r\nX-B:\r\n"));
    ck_assert(!vmatch("\x03x-aZ", 5, "X-A: ab\r\n"));
}
END_TEST

/* a blob that does not fit is refused (the response is not stored) */
START_TEST(test_vary_too_big)
{
    char  b[64];

    ck_assert_int_eq(vbuild("Accept-Language: en-GB, en;q=0.9, fr;q=0.8,"
                            " de;q=0.7, it;q=0.6\r\n",
                            "Vary: Accept-Language\r\n", b, 32), -1);
    ck_assert_int_eq(vbuild("", "Vary: Accept-Language\r\n", b, 10), -1);
    ck_assert_int_gt(vbuild("", "Vary: Accept-Language\r\n", b, 17), 0);
    /* field names longer than the blob's length byte */
    {
        char  f[400], big[1024];

        memset(f, 'x', sizeof(f));
        memcpy(f, "Vary: ", 6);
        memcpy(f + 6 + 256, "\r\n", 3);
        ck_assert_int_eq(vbuild("", f, big, sizeof(big)), -1);
        memcpy(f + 6 + 255, "\r\n", 3);
        ck_assert_int_eq(vbuild("", f, big, sizeof(big)), 1 + 255 + 1);
    }
    /* a member that is not a field name: cannot tell what it varies on */
    ck_assert_int_eq(vbuild("", "Vary: a b\r\n", b, sizeof(b)), -1);
}
END_TEST

/* ---- the stored head ----------------------------------------------------- */

static const char  stored[] =
    "HTTP/1.1 200 OK\r\n"
    "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
    "ETag: \"v1\"\r\n"
    "Last-Modified: Sun, 06 Nov 1994 08:00:00 GMT\r\n"
    "Cache-Control: max-age=60\r\n"
    "Set-Cookie: a=1\r\n"
    "Set-Cookie: b=2\r\n"
    "Content-Length: 5\r\n"
    "X-Keep:   kept  \r\n"
    "\r\n";
#define SLEN    (sizeof(stored) - 1)

/* stored heads: "Name: value" lines, names case-insensitive */
START_TEST(test_head_field)
{
    const char  *v;
    size_t       vl;

    ck_assert(sl_cache_head_field(stored, SLEN, "etag", &v, &vl));
    ck_assert(vl == 4 && memcmp(v, "\"v1\"", 4) == 0);
    ck_assert(sl_cache_head_field(stored, SLEN, "X-KEEP", &v, &vl));
    ck_assert(vl == 4 && memcmp(v, "kept", 4) == 0);
    ck_assert(sl_cache_head_field(stored, SLEN, "Set-Cookie", &v, &vl));
    ck_assert(vl == 3 && memcmp(v, "a=1", 3) == 0);
    ck_assert(!sl_cache_head_field(stored, SLEN, "HTTP/1.1 200 OK", &v, &vl));
    ck_assert(!sl_cache_head_field(stored, SLEN, "Vary", &v, &vl));
    ck_assert(!sl_cache_head_field(stored, SLEN, "ETa", &v, &vl));
    /* without a status line, and without a final CRLF */
    ck_assert(sl_cache_head_field("A: 1\r\nB: 2", 10, "b", &v, &vl));
    ck_assert(vl == 1 && *v == '2');
    /* nothing after the empty line */
    ck_assert(!sl_cache_head_field("A: 1\r\n\r\nB: 2\r\n", 15, "B", &v, &vl));
}
END_TEST

/* RFC 9111 3.1, RFC 9110 7.6.1, RFC 9213: what is kept when storing */
START_TEST(test_head_keep)
{
    static const char *const  drop[] = {
        "Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Age", "Content-Length",
        "CDN-Cache-Control", "Proxy-Authenticate", "X-Hop", "x-other",
    };
    static const char *const  keep[] = {
        "Set-Cookie", "ETag", "Cache-Control", "Content-Type", "Vary",
        "Date", "Expires", "X-Hopper", "Cache-Status",
    };
    size_t  i;

    parse_resp(&rs, R200("Connection: X-Hop, x-Other\r\n"));
    for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
        ck_assert_msg(!sl_cache_head_keep(drop[i], strlen(drop[i]), &rs),
                      "kept %s", drop[i]);
    }
    for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        ck_assert_msg(sl_cache_head_keep(keep[i], strlen(keep[i]), &rs),
                      "dropped %s", keep[i]);
    }
    ck_assert(sl_cache_head_keep("X-Hop", 5, NULL));
}
END_TEST

/* RFC 9111 4.3.4, 3.2: freshening with a 304 */
START_TEST(test_head_merge)
{
    char         out[1024];
    const char  *v;
    size_t       vl;
    int          n;

    parse_resp(&rs, "HTTP/1.1 304 Not Modified\r\n"
               "Date: Sun, 06 Nov 1994 09:00:00 GMT\r\n"
               "ETag: \"v2\"\r\n"
               "Set-Cookie: c=3\r\n"
               "Connection: close\r\n"
               "Content-Length: 0\r\n"
               "Age: 3\r\n"
               "Expires: Sun, 06 Nov 1994 10:00:00 GMT\r\n"
               "\r\n");
    n = sl_cache_head_merge(stored, SLEN, &rs, out, sizeof(out));
    ck_assert_int_gt(n, 0);
    ck_assert(memcmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    ck_assert(memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
    ck_assert(sl_cache_head_field(out, (size_t) n, "Date", &v, &vl));
    ck_assert(vl == 29 && memcmp(v, "Sun, 06 Nov 1994 09:00:00 GMT", 29) == 0);
    ck_assert(sl_cache_head_field(out, (size_t) n, "ETag", &v, &vl));
    ck_assert(vl == 4 && memcmp(v, "\"v2\"", 4) == 0);
    ck_assert(sl_cache_head_field(out, (size_t) n, "Set-Cookie", &v, &vl));
    ck_assert(vl == 3 && memcmp(v, "c=3", 3) == 0);
    ck_assert(strstr(out, "a=1") == NULL && strstr(out, "b=2") == NULL);
    ck_assert(sl_cache_head_field(out, (size_t) n, "Content-Length", &v, &vl));
    ck_assert(vl == 1 && *v == '5');
    ck_assert(sl_cache_head_field(out, (size_t) n, "Expires", &v, &vl));
    ck_assert(sl_cache_head_field(out, (size_t) n, "X-Keep", &v, &vl));
    ck_assert(sl_cache_head_field(out, (size_t) n, "Cache-Control", &v, &vl));
    ck_assert(!sl_cache_head_field(out, (size_t) n, "Connection", &v, &vl));
    ck_assert(!sl_cache_head_field(out, (size_t) n, "Age", &v, &vl));
    /* the result parses as a response */
    out[n] = '\0';
    parse_resp(&rs2, out);
    ck_assert_int_eq(rs2.status, 200);
    /* too small */
    ck_assert_int_eq(sl_cache_head_merge(stored, SLEN, &rs, out, 40), -1);
    ck_assert_int_eq(sl_cache_head_merge(stored, SLEN, &rs, out,
                                         (size_t) n - 1), -1);
    ck_assert_int_eq(sl_cache_head_merge(stored, SLEN, &rs, out, (size_t) n),
                     n);
}
END_TEST

/* the proxy's stored heads: field lines only, no status, no empty line */
START_TEST(test_head_merge_fields_only)
{
    static const char  h[] = "ETag: \"v1\"\r\nX-A: 1\r\nCache-Control: "
                             "max-age=5\r\n";
    static const char  want[] = "ETag: \"v1\"\r\nX-A: 1\r\n"
                                "Cache-Control: max-age=60\r\n";
    char               out[256];
    int                n;

    parse_resp(&rs, "HTTP/1.1 304 Not Modified\r\n"
               "cache-control: max-age=60\r\n\r\n");
    n = sl_cache_head_merge(h, sizeof(h) - 1, &rs, out, sizeof(out));
    ck_assert_int_eq(n, (int) sizeof(want) - 1);
    /* the 304's line as sent, name case included */
    ck_assert(memcmp(out, "ETag: \"v1\"\r\nX-A: 1\r\n"
                          "cache-control: max-age=60\r\n", (size_t) n) == 0);
    /* an empty 304 changes nothing */
    parse_resp(&rs, "HTTP/1.1 304 Not Modified\r\n\r\n");
    n = sl_cache_head_merge(h, sizeof(h) - 1, &rs, out, sizeof(out));
    ck_assert_int_eq(n, (int) sizeof(h) - 1);
    ck_assert(memcmp(out, h, (size_t) n) == 0);
}
END_TEST

/* ---- conditionals (RFC 9110 13) ------------------------------------------ */

static int
cond(const char *method, const char *fields)
{
    static char           qb[2048];
    struct sl_cache_meta  m;

    req_with(&rq, qb, sizeof(qb), method, fields);
    meta(&m, 60, SL_CACHE_F_ETAG | SL_CACHE_F_LAST_MODIFIED);
    m.date = T0;
    m.last_modified = T0 - 2977;        /* 08:00:00 */
    return sl_cache_conditional(&rq, stored, SLEN, &m);
}

/* RFC 9110 13.1.2: If-None-Match, weak comparison, "*" */
START_TEST(test_cond_if_none_match)
{
    ck_assert_int_eq(cond("GET", "If-None-Match: \"v1\"\r\n"), 304);
    ck_assert_int_eq(cond("HEAD", "If-None-Match: \"v1\"\r\n"), 304);
    ck_assert_int_eq(cond("GET", "If-None-Match: W/\"v1\"\r\n"), 304);
    ck_assert_int_eq(cond("GET", "If-None-Match: \"x\", \"v1\"\r\n"), 304);
    ck_assert_int_eq(cond("GET", "If-None-Match: \"x\"\r\n"
                                 "If-None-Match: W/\"v1\"\r\n"), 304);
    ck_assert_int_eq(cond("GET", "If-None-Match: *\r\n"), 304);
    ck_assert_int_eq(cond("GET", "If-None-Match: \"x\"\r\n"), 0);
    ck_assert_int_eq(cond("GET", "If-None-Match: \"V1\"\r\n"), 0);
    ck_assert_int_eq(cond("GET", "If-None-Match: v1\r\n"), 0);
    ck_assert_int_eq(cond("GET", "If-None-Match: \"v1\r\n"), 0);
    /* a weak stored tag matches weakly */
    {
        static const char     weak[] =
            "HTTP/1.1 200 OK\r\nETag: W/\"v1\"\r\n\r\n";
        struct sl_cache_meta  m;

        meta(&m, 60, SL_CACHE_F_ETAG);
        parse_req(&rq, GET("If-None-Match: \"v1\"\r\n"));
        ck_assert_int_eq(sl_cache_conditional(&rq, weak, sizeof(weak) - 1,
                                              &m), 304);
    }
    /* other methods: 412 */
    ck_assert_int_eq(cond("DELETE", "If-None-Match: \"v1\"\r\n"), 412);
}
END_TEST

/* RFC 9110 13.1.3: If-Modified-Since, GET/HEAD, valid dates only */
START_TEST(test_cond_if_modified_since)
{
    ck_assert_int_eq(cond("GET", "If-Modified-Since: Sun, 06 Nov 1994"
                                 " 08:00:00 GMT\r\n"), 304);
    ck_assert_int_eq(cond("GET", "If-Modified-Since: Sun, 06 Nov 1994"
                                 " 09:00:00 GMT\r\n"), 304);
    ck_assert_int_eq(cond("GET", "If-Modified-Since: Sunday, 06-Nov-94"
                                 " 08:00:00 GMT\r\n"), 304);
    ck_assert_int_eq(cond("GET", "If-Modified-Since: Sun, 06 Nov 1994"
                                 " 07:59:59 GMT\r\n"), 0);
    ck_assert_int_eq(cond("GET", "If-Modified-Since: yesterday\r\n"), 0);
    ck_assert_int_eq(cond("DELETE", "If-Modified-Since: Sun, 06 Nov 1994"
                                    " 09:00:00 GMT\r\n"), 0);
    /* two lines: ignored */
    ck_assert_int_eq(cond("GET", "If-Modified-Since: Sun, 06 Nov 1994"
                                 " 09:00:00 GMT\r\nIf-Modified-Since: Sun,"
                                 " 06 Nov 1994 09:00:00 GMT\r\n"), 0);
}
END_TEST

/* RFC 9111 4.3.2: no Last-Modified: the stored Date stands in */
START_TEST(test_cond_ims_uses_date)
{
    struct sl_cache_meta  m;
    static const char     h[] = "HTTP/1.1 200 OK\r\nDate: " D0 "\r\n\r\n";

    parse_req(&rq, GET("If-Modified-Since: " D0 "\r\n"));
    meta(&m, 60, 0);
    m.date = T0;
    ck_assert_int_eq(sl_cache_conditional(&rq, h, sizeof(h) - 1, &m), 304);
    m.date = T0 + 1;
    ck_assert_int_eq(sl_cache_conditional(&rq, h, sizeof(h) - 1, &m), 0);
}
END_TEST

/* RFC 9110 13.2.2: If-None-Match present: If-Modified-Since is ignored */
START_TEST(test_cond_inm_over_ims)
{
    ck_assert_int_eq(cond("GET", "If-None-Match: \"x\"\r\n"
                                 "If-Modified-Since: Sun, 06 Nov 1994"
                                 " 09:00:00 GMT\r\n"), 0);
    ck_assert_int_eq(cond("GET", "If-None-Match: \"v1\"\r\n"
                                 "If-Modified-Since: Sun, 06 Nov 1994"
                                 " 07:00:00 GMT\r\n"), 304);
}
END_TEST

/* RFC 9110 13.1.1: If-Match, strong comparison */
START_TEST(test_cond_if_match)
{
    static const char     weak[] = "HTTP/1.1 200 OK\r\nETag: W/\"v1\"\r\n\r\n";
    static const char     none[] = "HTTP/1.1 200 OK\r\n\r\n";
    struct sl_cache_meta  m;

    ck_assert_int_eq(cond("GET", "If-Match: \"v1\"\r\n"), 0);
    ck_assert_int_eq(cond("GET", "If-Match: \"a\", \"v1\"\r\n"), 0);
    ck_assert_int_eq(cond("GET", "If-Match: *\r\n"), 0);
    ck_assert_int_eq(cond("GET", "If-Match: \"v2\"\r\n"), 412);
    ck_assert_int_eq(cond("GET", "If-Match: W/\"v1\"\r\n"), 412);
    meta(&m, 60, SL_CACHE_F_ETAG);
    parse_req(&rq, GET("If-Match: \"v1\"\r\n"));
    ck_assert_int_eq(sl_cache_conditional(&rq, weak, sizeof(weak) - 1, &m),
                     412);
    ck_assert_int_eq(sl_cache_conditional(&rq, none, sizeof(none) - 1, &m),
                     412);
    parse_req(&rq, GET("If-Match: *\r\n"));
    ck_assert_int_eq(sl_cache_conditional(&rq, none, sizeof(none) - 1, &m),
                     0);
}
END_TEST

/* RFC 9110 13.1.4: If-Unmodified-Since */
START_TEST(test_cond_if_unmodified_since)
{
    ck_assert_int_eq(cond("GET", "If-Unmodified-Since: Sun, 06 Nov 1994"
                                 " 07:00:00 GMT\r\n"), 412);
    ck_assert_int_eq(cond("GET", "If-Unmodified-Since: Sun, 06 Nov 1994"
                                 " 08:00:00 GMT\r\n"), 0);
    ck_assert_int_eq(cond("GET", "If-Unmodified-Since: garbage\r\n"), 0);
    /* If-Match present: If-Unmodified-Since is ignored */
    ck_assert_int_eq(cond("GET", "If-Match: \"v1\"\r\n"
                                 "If-Unmodified-Since: Sun, 06 Nov 1994"
                                 " 07:00:00 GMT\r\n"), 0);
}
END_TEST

/* RFC 9110 13.2.1: no preconditions on a response that is not 2xx */
START_TEST(test_cond_only_2xx)
{
    static const char     h[] = "ETag: \"v1\"\r\n";
    static const char     h301[] = "HTTP/1.1 301 Moved\r\nETag: \"v1\"\r\n";
    struct sl_cache_meta  m;

    meta(&m, 60, SL_CACHE_F_ETAG);
    m.status = 404;
    parse_req(&rq, GET("If-None-Match: *\r\n"));
    ck_assert_int_eq(sl_cache_conditional(&rq, h, sizeof(h) - 1, &m), 0);
    parse_req(&rq, GET("If-Match: \"zz\"\r\n"));
    ck_assert_int_eq(sl_cache_conditional(&rq, h, sizeof(h) - 1, &m), 0);
    m.status = 204;
    ck_assert_int_eq(sl_cache_conditional(&rq, h, sizeof(h) - 1, &m), 412);
    /* without meta, the head's status line tells */
    parse_req(&rq, GET("If-None-Match: \"v1\"\r\n"));
    ck_assert_int_eq(sl_cache_conditional(&rq, h301, sizeof(h301) - 1,
                                          NULL), 0);
    ck_assert_int_eq(sl_cache_conditional(&rq, h, sizeof(h) - 1, NULL), 304);
}
END_TEST

/* RFC 9110 13.2.2: preconditions are evaluated in order */
START_TEST(test_cond_precedence)
{
    /* a failed If-Match wins over a matching If-None-Match */
    ck_assert_int_eq(cond("GET", "If-Match: \"zz\"\r\n"
                                 "If-None-Match: \"v1\"\r\n"), 412);
    ck_assert_int_eq(cond("GET", "If-Unmodified-Since: Sun, 06 Nov 1994"
                                 " 07:00:00 GMT\r\n"
                                 "If-Modified-Since: Sun, 06 Nov 1994"
                                 " 09:00:00 GMT\r\n"), 412);
    ck_assert_int_eq(cond("GET", "If-Match: \"v1\"\r\n"
                                 "If-None-Match: \"v1\"\r\n"), 304);
    ck_assert_int_eq(cond("GET", "X: y\r\n"), 0);
}
END_TEST

/* ---- ranges (RFC 9110 14) ------------------------------------------------- */

static int64_t  rs_start, rs_end;

static int
range(const char *method, const char *fields, int64_t size)
{
    static char  qb[2048];

    req_with(&rq, qb, sizeof(qb), method, fields);
    rs_start = rs_end = -7;
    return sl_cache_range(&rq, stored, SLEN, size, &rs_start, &rs_end);
}

#define ck_range(f, st, a, b)                                                \
    do {                                                                     \
        ck_assert_int_eq(range("GET", f, 1000), st);                         \
        ck_assert_int_eq(rs_start, a);                                       \
        ck_assert_int_eq(rs_end, b);                                         \
    } while (0)

/* RFC 9110 14.1.1, 14.1.2: the three forms of a byte range */
START_TEST(test_range_forms)
{
    ck_range("Range: bytes=0-99\r\n", 206, 0, 99);
    ck_range("Range: bytes=500-\r\n", 206, 500, 999);
    ck_range("Range: bytes=-100\r\n", 206, 900, 999);
    ck_range("Range: bytes=-2000\r\n", 206, 0, 999);
    ck_range("Range: bytes=0-5000\r\n", 206, 0, 999);
    ck_range("Range: bytes=999-999\r\n", 206, 999, 999);
    ck_range("Range: bytes=0-0\r\n", 206, 0, 0);
    ck_range("Range: Bytes=10-19\r\n", 206, 10, 19);
    ck_range("Range: bytes=10-19,\r\n", 206, 10, 19);
    ck_range("Range: bytes=0-99999999999999999999999\r\n", 206, 0, 999);
    ck_range("Range: bytes=,0-9\r\n", 206, 0, 9);
    ck_assert_int_eq(range("GET", "Range: bytes=-5\r\n", 3), 206);
    ck_assert_int_eq(rs_start, 0);
    ck_assert_int_eq(rs_end, 2);
}
END_TEST

/* RFC 9110 14.1.1, 15.5.17: unsatisfiable ranges get 416 */
START_TEST(test_range_unsatisfiable)
{
    ck_assert_int_eq(range("GET", "Range: bytes=1000-\r\n", 1000), 416);
    ck_assert_int_eq(range("GET", "Range: bytes=1000-2000\r\n", 1000), 416);
    ck_assert_int_eq(range("GET", "Range: bytes=-0\r\n", 1000), 416);
    ck_assert_int_eq(range("GET", "Range: bytes=5000-6000, 7000-\r\n", 1000),
                     416);
    ck_assert_int_eq(rs_start, -7);
}
END_TEST

/* RFC 9110 14.2: what we ignore (the full body is sent) */
START_TEST(test_range_ignored)
{
    static const char *const  ign[] = {
        "Range: bytes=0-1,5-6\r\n",         /* several ranges */
        "Range: bytes=0-1, -5\r\n",
        "Range: bytes=5-1\r\n",             /* invalid range-spec */
        "Range: bytes=abc\r\n",
        "Range: bytes=\r\n",
        "Range: bytes=1\r\n",
        "Range: bytes=-\r\n",
        "Range: bytes=1-2x\r\n",
        "Range: bytes 0-1\r\n",
        "Range: items=0-1\r\n",             /* another unit */
        "Range: bytes=0-1\r\nRange: bytes=2-3\r\n",
        "X: y\r\n",
    };
    size_t  i;

    for (i = 0; i < sizeof(ign) / sizeof(ign[0]); i++) {
        ck_assert_msg(range("GET", ign[i], 1000) == 0, "not ignored: %s",
                      ign[i]);
    }
    /* GET only */
    ck_assert_int_eq(range("HEAD", "Range: bytes=0-1\r\n", 1000), 0);
    /* an empty body: nothing to cut */
    ck_assert_int_eq(range("GET", "Range: bytes=0-1\r\n", 0), 0);
    /* a stored response other than 200 */
    parse_req(&rq, GET("Range: bytes=0-1\r\n"));
    ck_assert_int_eq(sl_cache_range(&rq, "HTTP/1.1 404 Not Found\r\n\r\n",
                                    26, 100, &rs_start, &rs_end), 0);
}
END_TEST

/* RFC 9110 13.1.5: If-Range with an entity-tag (strong) or a date */
START_TEST(test_range_if_range)
{
    ck_range("Range: bytes=0-9\r\nIf-Range: \"v1\"\r\n", 206, 0, 9);
    ck_assert_int_eq(range("GET", "Range: bytes=0-9\r\nIf-Range: \"v2\"\r\n",
                           1000), 0);
    ck_assert_int_eq(range("GET", "Range: bytes=0-9\r\n"
                           "If-Range: W/\"v1\"\r\n", 1000), 0);
    ck_range("Range: bytes=0-9\r\n"
             "If-Range: Sun, 06 Nov 1994 08:00:00 GMT\r\n", 206, 0, 9);
    ck_assert_int_eq(range("GET", "Range: bytes=0-9\r\n"
                           "If-Range: Sun, 06 Nov 1994 08:00:01 GMT\r\n",
                           1000), 0);
    ck_assert_int_eq(range("GET", "Range: bytes=0-9\r\nIf-Range: junk\r\n",
                           1000), 0);
    /* a failed If-Range means the full body, not 416 */
    ck_assert_int_eq(range("GET", "Range: bytes=5000-\r\n"
                           "If-Range: \"v2\"\r\n", 1000), 0);
    ck_assert_int_eq(range("GET", "Range: bytes=5000-\r\n"
                           "If-Range: \"v1\"\r\n", 1000), 416);
}
END_TEST

/* RFC 9110 8.8.2.2: a Last-Modified within a second of Date is weak */
START_TEST(test_range_if_range_weak_date)
{
    static const char  h[] =
        "HTTP/1.1 200 OK\r\nDate: " D0 "\r\nLast-Modified: " D0 "\r\n\r\n";

    parse_req(&rq, GET("Range: bytes=0-9\r\nIf-Range: " D0 "\r\n"));
    ck_assert_int_eq(sl_cache_range(&rq, h, sizeof(h) - 1, 100, &rs_start,
                                    &rs_end), 0);
}
END_TEST

/* ---- invalidation (RFC 9111 4.4) ----------------------------------------- */

START_TEST(test_invalidation_table)
{
    static const struct { int method, status, inv; }  c[] = {
        { SL_HTTP_POST, 200, 1 }, { SL_HTTP_POST, 201, 1 },
        { SL_HTTP_POST, 303, 1 }, { SL_HTTP_POST, 399, 1 },
        { SL_HTTP_POST, 400, 0 }, { SL_HTTP_POST, 500, 0 },
        { SL_HTTP_POST, 100, 0 },
        { SL_HTTP_PUT, 204, 1 }, { SL_HTTP_DELETE, 200, 1 },
        { SL_HTTP_PATCH, 200, 1 }, { SL_HTTP_DELETE, 404, 0 },
        { SL_HTTP_UNKNOWN, 200, 1 },        /* safety unknown */
        { SL_HTTP_GET, 200, 0 }, { SL_HTTP_HEAD, 200, 0 },
        { SL_HTTP_OPTIONS, 200, 0 }, { SL_HTTP_TRACE, 200, 0 },
    };
    size_t  i;

    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        ck_assert_msg(sl_cache_invalidates(c[i].method, c[i].status)
                      == c[i].inv, "method %d status %d", c[i].method,
                      c[i].status);
    }
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("cache_policy");
    TCase    *tc = tcase_create("all");
    SRunner  *sr;
    int       failed;

    tcase_add_test(tc, test_date_imf_fixdate);
    tcase_add_test(tc, test_date_rfc850);
    tcase_add_test(tc, test_date_asctime);
    tcase_add_test(tc, test_date_invalid);
    tcase_add_test(tc, test_date_calendar);
    tcase_add_test(tc, test_date_format);

    tcase_add_test(tc, test_cc_response_directives);
    tcase_add_test(tc, test_cc_request_directives);
    tcase_add_test(tc, test_cc_absent_empty);
    tcase_add_test(tc, test_cc_case_insensitive);
    tcase_add_test(tc, test_cc_quoted_value);
    tcase_add_test(tc, test_cc_quoted_comma);
    tcase_add_test(tc, test_cc_invalid_delta);
    tcase_add_test(tc, test_cc_delta_overflow);
    tcase_add_test(tc, test_cc_repeated);
    tcase_add_test(tc, test_cc_lenient_syntax);
    tcase_add_test(tc, test_cc_permissive_with_argument);
    tcase_add_test(tc, test_cdn_cc_precedence);
    tcase_add_test(tc, test_cdn_cc_structured);
    tcase_add_test(tc, test_cdn_cc_ignores_expires);

    tcase_add_test(tc, test_store_method);
    tcase_add_test(tc, test_store_status_codes);
    tcase_add_test(tc, test_store_status_not_final);
    tcase_add_test(tc, test_store_no_store);
    tcase_add_test(tc, test_store_must_understand);
    tcase_add_test(tc, test_store_private);
    tcase_add_test(tc, test_store_authorization);
    tcase_add_test(tc, test_store_vary);
    tcase_add_test(tc, test_store_no_cache);
    tcase_add_test(tc, test_store_needs_freshness_or_validator);
    tcase_add_test(tc, test_lifetime_precedence);
    tcase_add_test(tc, test_store_s_maxage_revalidate);
    tcase_add_test(tc, test_expires_invalid);
    tcase_add_test(tc, test_expires_multiple);
    tcase_add_test(tc, test_expires_no_date);
    tcase_add_test(tc, test_lifetime_invalid_cc);
    tcase_add_test(tc, test_heuristic_freshness);
    tcase_add_test(tc, test_valid_fallback);
    tcase_add_test(tc, test_store_stale_extensions);
    tcase_add_test(tc, test_age_field);
    tcase_add_test(tc, test_date_fields_first_line);
    tcase_add_test(tc, test_store_invalid_s_maxage);

    tcase_add_test(tc, test_age_calculation);
    tcase_add_test(tc, test_age_from_storable);

    tcase_add_test(tc, test_usable_fresh_stale);
    tcase_add_test(tc, test_usable_stored_no_cache);
    tcase_add_test(tc, test_usable_request_no_cache);
    tcase_add_test(tc, test_usable_request_max_age);
    tcase_add_test(tc, test_usable_request_min_fresh);
    tcase_add_test(tc, test_usable_request_max_stale);
    tcase_add_test(tc, test_usable_must_revalidate);
    tcase_add_test(tc, test_usable_swr);
    tcase_add_test(tc, test_stale_if_error);

    tcase_add_test(tc, test_vary_basic);
    tcase_add_test(tc, test_vary_none);
    tcase_add_test(tc, test_vary_star);
    tcase_add_test(tc, test_vary_absent_vs_empty);
    tcase_add_test(tc, test_vary_whitespace);
    tcase_add_test(tc, test_vary_multiple_lines);
    tcase_add_test(tc, test_vary_case);
    tcase_add_test(tc, test_vary_several_names);
    tcase_add_test(tc, test_vary_unambiguous);
    tcase_add_test(tc, test_vary_too_big);

    tcase_add_test(tc, test_head_field);
    tcase_add_test(tc, test_head_keep);
    tcase_add_test(tc, test_head_merge);
    tcase_add_test(tc, test_head_merge_fields_only);

    tcase_add_test(tc, test_cond_if_none_match);
    tcase_add_test(tc, test_cond_if_modified_since);
    tcase_add_test(tc, test_cond_ims_uses_date);
    tcase_add_test(tc, test_cond_inm_over_ims);
    tcase_add_test(tc, test_cond_if_match);
    tcase_add_test(tc, test_cond_if_unmodified_since);
    tcase_add_test(tc, test_cond_only_2xx);
    tcase_add_test(tc, test_cond_precedence);

    tcase_add_test(tc, test_range_forms);
    tcase_add_test(tc, test_range_unsatisfiable);
    tcase_add_test(tc, test_range_ignored);
    tcase_add_test(tc, test_range_if_range);
    tcase_add_test(tc, test_range_if_range_weak_date);

    tcase_add_test(tc, test_invalidation_table);

    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
