/*
 * check_http_parse.c: unit tests of the strict HTTP/1.1 parser and the
 * chunked decoder (src/http/sl_http_parse.c).
 *
 * Most malformed inputs sit in tables, one row each with the exact status
 * expected, run as Check loop tests so that a failure names the row.  Every
 * input is copied into a buffer of exactly its size first, so that the
 * sanitizers catch a read past the end the parser was given.
 */
#include "sl_core.h"
#include "sl_http_parse.h"

#include <check.h>

#define H       "Host: a\r\n"
#define MAXU    8192
#define MAXF    8192

struct sl_t_case {
    const char  *in;
    size_t       len;
    int          status;
};

#define C(lit, st)  { lit, sizeof(lit) - 1, st }

static struct sl_http_head  h;

/* A heap copy of exactly len bytes, so that ASan sees any overread. */
static char *
dup_exact(const char *s, size_t len)
{
    char  *p = malloc(len ? len : 1);

    ck_assert_ptr_nonnull(p);
    memcpy(p, s, len);
    return p;
}

static int
req_lim(const char *s, size_t len, size_t max_uri, size_t max_field)
{
    char  *b = dup_exact(s, len);
    int    rc;

    rc = sl_http_parse_request(b, len, &h, max_uri, max_field);
    free(b);
    /* strings point into b: tests that look at them use req_keep() */
    return rc;
}

/* Parses in place; the fields of h stay valid while s lives. */
static int
req_keep(const char *s)
{
    return sl_http_parse_request(s, strlen(s), &h, MAXU, MAXF);
}

static int
resp_n(const char *s, size_t len)
{
    char  *b = dup_exact(s, len);
    int    rc;

    rc = sl_http_parse_response(b, len, &h);
    free(b);
    return rc;
}

static int
resp_keep(const char *s)
{
    return sl_http_parse_response(s, strlen(s), &h);
}

#define ck_assert_sl(str, lit)                                               \
    do {                                                                     \
        const struct sl_str *s_ = &(str);                                    \
        ck_assert_msg(s_->len == strlen(lit)                                 \
                      && (s_->len == 0 || memcmp(s_->data, lit, s_->len) == 0),\
                      "%s is \"%.*s\", expected \"%s\"", #str, (int) s_->len, \
                      s_->data ? s_->data : "", lit);                        \
    } while (0)

#define ck_assert_sl_null(str)                                               \
    do {                                                                     \
        ck_assert_uint_eq((str).len, 0);                                     \
        ck_assert_ptr_null((str).data);                                      \
    } while (0)

/* ---- request status tables ---------------------------------------------- */

static const struct sl_t_case  req_cases[] = {
    /* valid */
    C("GET / HTTP/1.1\r\n" H "\r\n", 0),
    C("GET / HTTP/1.0\r\n\r\n", 0),
    C("\r\nGET / HTTP/1.1\r\n" H "\r\n", 0),
    C("\r\n\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", 0),
    C("get / HTTP/1.1\r\n" H "\r\n", 0),
    C("X-FOO~!#$%&'*+-.^_`| / HTTP/1.1\r\n" H "\r\n", 0),
    C("OPTIONS * HTTP/1.1\r\n" H "\r\n", 0),
    C("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 0),
    C("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", 0),
    C("GET http://a/b HTTP/1.1\r\n" H "\r\n", 0),
    C("GET HTTPS://A:8443 HTTP/1.1\r\n" H "\r\n", 0),
    C("GET /a?b=c&d=%20!$'()*+,;=:@/? HTTP/1.1\r\n" H "\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "\r\nbody after the head", 0),
    C("GET / HTTP/1.1\r\nHost: a:80\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\nHost: [::ffff:1.2.3.4]:8080\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\nHost: 1.2.3.4\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\nHost: a.b-c_d~e.\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\nHost: a%41\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\nHost:\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\nHost: \t a \t\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\nhOsT: a\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "X: \x80\xff caf\xc3\xa9\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "X: a\tb c\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "X:\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "X:   \r\n\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 42, 42\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 42 ,42\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 42\r\n"
      "Content-Length: 42\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 4611686018427387904\r\n\r\n",
      0),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n", 0),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: ChUnKeD\r\n\r\n", 0),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked,\r\n\r\n", 0),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: , chunked\r\n\r\n", 0),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n"
      "Transfer-Encoding: chunked\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "Connection: close\r\n\r\n", 0),
    C("GET / HTTP/1.1\r\n" H "Connection: ,, keep-alive , Upgrade,\r\n\r\n",
      0),
    C("GET / HTTP/1.1\r\n" H "Expect: 100-continue\r\n\r\n", 0),
    C("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", 0),

    /* bare LF, bare CR, NUL */
    C("GET / HTTP/1.1\n" H "\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "\n", 400),
    C("GET / HTTP/1.1\r\n" H "X: a\nb\r\n\r\n", 400),
    C("\nGET / HTTP/1.1\r\n" H "\r\n", 400),
    C("GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X: a\r\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "\r", 400),
    C("\rGET / HTTP/1.1\r\n" H "\r\n", 400),
    C("\r\r\nGET / HTTP/1.1\r\n" H "\r\n", 400),
    C("G\0T / HTTP/1.1\r\n" H "\r\n", 400),
    C("GET /\0 HTTP/1.1\r\n" H "\r\n", 400),
    C("GET / HTTP/1.1\0\r\n" H "\r\n", 400),
    C("GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X: a\0b\r\n\r\n", 400),
    C("\0GET / HTTP/1.1\r\n" H "\r\n", 400),

    /* request line whitespace and method */
    C("GET  / HTTP/1.1\r\n" H "\r\n", 400),
    C("GET /  HTTP/1.1\r\n" H "\r\n", 400),
    C("GET / HTTP/1.1 \r\n" H "\r\n", 400),
    C(" GET / HTTP/1.1\r\n" H "\r\n", 400),
    C("GET\t/ HTTP/1.1\r\n" H "\r\n", 400),
    C("GET /\tHTTP/1.1\r\n" H "\r\n", 400),
    C("GE(T / HTTP/1.1\r\n" H "\r\n", 400),
    C("G@T / HTTP/1.1\r\n" H "\r\n", 400),
    C("GET\r\n" H "\r\n", 400),
    C(" / HTTP/1.1\r\n" H "\r\n", 400),
    C("\r\n\r\n", 400),
    C("", 400),
    C("GET / HTTP/1.1\r\n", 400),
    C("GET / HTTP/1.1\r\n" H, 400),

    /* request-target */
    C("GET  HTTP/1.1\r\n" H "\r\n", 400),
    C("GET /a b HTTP/1.1\r\n" H "\r\n", 400),
    C("GET /\x01 HTTP/1.1\r\n" H "\r\n", 400),
    C("GET /\x1f HTTP/1.1\r\n" H "\r\n", 400),
    C("GET /\x7f HTTP/1.1\r\n" H "\r\n", 400),
    C("GET /\x80 HTTP/1.1\r\n" H "\r\n", 400),
    C("GET /\xff HTTP/1.1\r\n" H "\r\n", 400),
    C("GET /a#b HTTP/1.1\r\n" H "\r\n", 400),
    C("GET a/b HTTP/1.1\r\n" H "\r\n", 400),
    C("GET * HTTP/1.1\r\n" H "\r\n", 400),
    C("OPTIONS *x HTTP/1.1\r\n" H "\r\n", 400),
    C("OPTIONS ** HTTP/1.1\r\n" H "\r\n", 400),
    C("CONNECT / HTTP/1.1\r\n" H "\r\n", 400),
    C("CONNECT http://a/ HTTP/1.1\r\n" H "\r\n", 400),
    C("CONNECT a HTTP/1.1\r\n" H "\r\n", 400),
    C("CONNECT a: HTTP/1.1\r\n" H "\r\n", 400),
    C("CONNECT a:99999 HTTP/1.1\r\n" H "\r\n", 400),
    C("CONNECT :443 HTTP/1.1\r\n" H "\r\n", 400),
    C("GET a:443 HTTP/1.1\r\n" H "\r\n", 400),
    C("GET http:// HTTP/1.1\r\n" H "\r\n", 400),
    C("GET http:///x HTTP/1.1\r\n" H "\r\n", 400),
    C("GET http://?x HTTP/1.1\r\n" H "\r\n", 400),
    C("GET http://u@a/ HTTP/1.1\r\n" H "\r\n", 400),
    C("GET http://u:p@a/ HTTP/1.1\r\n" H "\r\n", 400),
    C("GET http://a,b/ HTTP/1.1\r\n" H "\r\n", 400),
    C("GET http://a:x/ HTTP/1.1\r\n" H "\r\n", 400),
    C("GET ftp://a/ HTTP/1.1\r\n" H "\r\n", 400),
    C("GET http:/a HTTP/1.1\r\n" H "\r\n", 400),
    C("GET http://a b/ HTTP/1.1\r\n" H "\r\n", 400),

    /* HTTP-version */
    C("GET / HTTP/1.1x\r\n" H "\r\n", 400),
    C("GET / http/1.1\r\n" H "\r\n", 400),
    C("GET / HTTP/11\r\n" H "\r\n", 400),
    C("GET / HTTP/1.\r\n" H "\r\n", 400),
    C("GET / HTTP/1.10\r\n" H "\r\n", 400),
    C("GET / HTTP/10.1\r\n" H "\r\n", 400),
    C("GET / HTTP/1\r\n" H "\r\n", 400),
    C("GET / HTTP/ 1.1\r\n" H "\r\n", 400),
    C("GET / HTTP/2\r\n" H "\r\n", 400),
    C("GET / HTTP/a.b\r\n" H "\r\n", 400),
    C("GET /\r\n\r\n", 400),
    C("GET / \r\n\r\n", 400),
    C("GET / HTTP/2.0\r\n" H "\r\n", 505),
    C("GET / HTTP/0.9\r\n" H "\r\n", 505),
    C("GET / HTTP/1.2\r\n" H "\r\n", 505),
    C("GET / HTTP/1.9\r\n" H "\r\n", 505),
    C("GET / HTTP/3.1\r\n" H "\r\n", 505),
    C("GET / HTTP/9.9\r\n\r\n", 505),

    /* field lines */
    C("GET / HTTP/1.1\r\n" H " X: a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X: a\r\n b\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X: a\r\n\tb\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X : a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X\t: a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H ": a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X(: a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X\x01: a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X\x80: a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X: a\x01\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X: \x1b[0m\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X: a\x7f\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X: a\x0b\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "X: a\x0c\r\n\r\n", 400),

    /* Host */
    C("GET / HTTP/1.1\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nX: a\r\n\r\n", 400),
    C("GET http://a/ HTTP/1.1\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H H "\r\n", 400),
    C("GET / HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n", 400),
    C("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a:000080\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: [1.2.3.4]\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: [v1.x]\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: []\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a%4\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: a\x80\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\nHost: \"a\"\r\n\r\n", 400),

    /* Content-Length */
    C("GET / HTTP/1.1\r\n" H "Content-Length: +1\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 1.0\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 0x10\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 1e3\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length:  \r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 1 2\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 42, 43\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 42,,42\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 42,\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: ,42\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 42\r\n"
      "Content-Length: 43\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 42\r\n"
      "Content-Length: 42, 0\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 4611686018427387905\r\n\r\n",
      400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 9223372036854775807\r\n\r\n",
      400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 18446744073709551617\r\n\r\n",
      400),
    C("GET / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999999999\r\n"
      "\r\n", 400),

    /* Transfer-Encoding */
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: foo\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: identity\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n",
      400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n\r\n",
      400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
      "Transfer-Encoding: chunked\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
      "Transfer-Encoding: gzip\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding:\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: ,\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked;a=b\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked x\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: \"chunked\"\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip;, chunked\r\n\r\n",
      400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip;q, chunked\r\n\r\n",
      400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip;q=\"x, chunked\r\n"
      "\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip;q=\"x\\\r\n"
      "Transfer-Encoding: chunked\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip;q=, chunked\r\n"
      "\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip;q x, chunked\r\n"
      "\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip;=x, chunked\r\n"
      "\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip;q=(, chunked\r\n"
      "\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip ;q = 1, chunked\r\n"
      "\r\n", 501),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n"
      "Content-Length: 5\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Content-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Content-Length: 5\r\n"
      "Transfer-Encoding: gzip, chunked\r\n\r\n", 400),
    C("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    C("POST / HTTP/1.0\r\n" H "Transfer-Encoding: chunked\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n",
      501),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: x-gzip, chunked\r\n\r\n",
      501),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: foo, chunked\r\n\r\n",
      501),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: identity, chunked\r\n\r\n",
      501),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip;q=\"a\\\"b\" ; x=y,"
      " chunked\r\n\r\n", 501),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n"
      "Transfer-Encoding: chunked\r\n\r\n", 501),
    C("POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n"
      "Expect: nope\r\n\r\n", 501),

    /* Connection, Expect */
    C("GET / HTTP/1.1\r\n" H "Connection: clo se\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Connection: close;x\r\n\r\n", 400),
    C("GET / HTTP/1.1\r\n" H "Expect: foo\r\n\r\n", 417),
    C("GET / HTTP/1.1\r\n" H "Expect: 100-continue, foo\r\n\r\n", 417),
    C("GET / HTTP/1.1\r\n" H "Expect: 100-continue;x=1\r\n\r\n", 417),
    C("GET / HTTP/1.0\r\nExpect: 200-ok\r\n\r\n", 417),
    C("GET / HTTP/1.1\r\nExpect: foo\r\n\r\n", 400),
};

START_TEST(test_req_status)
{
    const struct sl_t_case  *c = &req_cases[_i];
    int                      rc;

    rc = req_lim(c->in, c->len, MAXU, MAXF);
    ck_assert_msg(rc == c->status, "case %d: \"%s\": got %d, expected %d",
                  _i, c->in, rc, c->status);
}
END_TEST

/* ---- requests: parsed fields ------------------------------------------- */

START_TEST(test_req_simple)
{
    const char  *s = "GET /index.html HTTP/1.1\r\nHost: www.example\r\n"
                     "User-Agent: t\r\n\r\n";

    ck_assert_int_eq(req_keep(s), 0);
    ck_assert_int_eq(h.method, SL_HTTP_GET);
    ck_assert_sl(h.method_name, "GET");
    ck_assert_sl(h.request_target, "/index.html");
    ck_assert_sl(h.path, "/index.html");
    ck_assert_sl_null(h.args);
    ck_assert_sl_null(h.authority);
    ck_assert_int_eq(h.http_major, 1);
    ck_assert_int_eq(h.http_minor, 1);
    ck_assert_int_eq(h.status, 0);
    ck_assert_uint_eq(h.nheaders, 2);
    ck_assert_sl(h.headers[0].name, "Host");
    ck_assert_sl(h.headers[0].value, "www.example");
    ck_assert_sl(h.headers[1].name, "User-Agent");
    ck_assert_sl(h.headers[1].value, "t");
    ck_assert_int_eq(h.h_host, 0);
    ck_assert_int_eq(h.h_content_length, -1);
    ck_assert_int_eq(h.h_transfer_encoding, -1);
    ck_assert_int_eq(h.h_connection, -1);
    ck_assert_int_eq(h.h_upgrade, -1);
    ck_assert_int_eq(h.h_expect, -1);
    ck_assert_int_eq(h.content_length, -1);
    ck_assert_uint_eq(h.chunked, 0);
    ck_assert_uint_eq(h.conn_close, 0);
    ck_assert_uint_eq(h.conn_keepalive, 0);
    ck_assert_uint_eq(h.conn_upgrade, 0);
    ck_assert_uint_eq(h.expect_continue, 0);
    /* the pointers are into the input, not copies */
    ck_assert_ptr_eq(h.method_name.data, s);
    ck_assert_ptr_eq(h.path.data, s + 4);
}
END_TEST

START_TEST(test_req_query)
{
    ck_assert_int_eq(req_keep("GET /a/b?x=1&y=2?z HTTP/1.1\r\n" H "\r\n"), 0);
    ck_assert_sl(h.request_target, "/a/b?x=1&y=2?z");
    ck_assert_sl(h.path, "/a/b");
    ck_assert_sl(h.args, "x=1&y=2?z");

    /* an empty query is told apart from none by a non-NULL args.data */
    ck_assert_int_eq(req_keep("GET /?  HTTP/1.1\r\n" H "\r\n"), 400);
    ck_assert_int_eq(req_keep("GET /? HTTP/1.1\r\n" H "\r\n"), 0);
    ck_assert_sl(h.path, "/");
    ck_assert_uint_eq(h.args.len, 0);
    ck_assert_ptr_nonnull(h.args.data);
}
END_TEST

START_TEST(test_req_methods)
{
    static const struct {
        const char           *name;
        enum sl_http_method   m;
    } m[] = {
        { "GET", SL_HTTP_GET }, { "HEAD", SL_HTTP_HEAD },
        { "POST", SL_HTTP_POST }, { "PUT", SL_HTTP_PUT },
        { "DELETE", SL_HTTP_DELETE }, { "OPTIONS", SL_HTTP_OPTIONS },
        { "PATCH", SL_HTTP_PATCH }, { "TRACE", SL_HTTP_TRACE },
        { "PURGE", SL_HTTP_PURGE }, { "get", SL_HTTP_UNKNOWN },
        { "Get", SL_HTTP_UNKNOWN }, { "GETS", SL_HTTP_UNKNOWN },
        { "GE", SL_HTTP_UNKNOWN }, { "PROPFIND", SL_HTTP_UNKNOWN },
        { "M-SEARCH", SL_HTTP_UNKNOWN }, { "POSTS", SL_HTTP_UNKNOWN },
    };
    char      buf[128];
    unsigned  i;

    for (i = 0; i < sl_nelems(m); i++) {
        snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\n" H "\r\n", m[i].name);
        ck_assert_int_eq(req_keep(buf), 0);
        ck_assert_msg(h.method == m[i].m, "%s -> %d", m[i].name, h.method);
        ck_assert_sl(h.method_name, m[i].name);
    }

    ck_assert_int_eq(req_keep("CONNECT a:1 HTTP/1.1\r\n" H "\r\n"), 0);
    ck_assert_int_eq(h.method, SL_HTTP_CONNECT);
}
END_TEST

START_TEST(test_req_absolute_form)
{
    ck_assert_int_eq(req_keep("GET http://a.example:8080/p/q?x=y HTTP/1.1\r\n"
                              "Host: other\r\n\r\n"), 0);
    ck_assert_sl(h.request_target, "http://a.example:8080/p/q?x=y");
    ck_assert_sl(h.authority, "a.example:8080");
    ck_assert_sl(h.path, "/p/q");
    ck_assert_sl(h.args, "x=y");
    ck_assert_int_eq(h.h_host, 0);

    ck_assert_int_eq(req_keep("GET HTTPS://[::1] HTTP/1.1\r\n" H "\r\n"), 0);
    ck_assert_sl(h.authority, "[::1]");
    ck_assert_sl(h.path, "/");
    ck_assert_sl_null(h.args);

    ck_assert_int_eq(req_keep("GET http://a?x=1 HTTP/1.1\r\n" H "\r\n"), 0);
    ck_assert_sl(h.authority, "a");
    ck_assert_sl(h.path, "/");
    ck_assert_sl(h.args, "x=1");

    ck_assert_int_eq(req_keep("GET http://a/ HTTP/1.0\r\n\r\n"), 0);
    ck_assert_sl(h.authority, "a");
    ck_assert_sl(h.path, "/");
    ck_assert_int_eq(h.h_host, -1);
}
END_TEST

START_TEST(test_req_other_forms)
{
    ck_assert_int_eq(req_keep("OPTIONS * HTTP/1.1\r\n" H "\r\n"), 0);
    ck_assert_int_eq(h.method, SL_HTTP_OPTIONS);
    ck_assert_sl(h.request_target, "*");
    ck_assert_sl(h.path, "*");
    ck_assert_sl_null(h.args);
    ck_assert_sl_null(h.authority);

    ck_assert_int_eq(req_keep("CONNECT db.example:5432 HTTP/1.1\r\n"
                              "Host: db.example:5432\r\n\r\n"), 0);
    ck_assert_int_eq(h.method, SL_HTTP_CONNECT);
    ck_assert_sl(h.request_target, "db.example:5432");
    ck_assert_sl(h.authority, "db.example:5432");
    ck_assert_sl_null(h.path);
    ck_assert_sl_null(h.args);
}
END_TEST

START_TEST(test_req_http10)
{
    ck_assert_int_eq(req_keep("GET /x HTTP/1.0\r\nAccept: */*\r\n\r\n"), 0);
    ck_assert_int_eq(h.http_major, 1);
    ck_assert_int_eq(h.http_minor, 0);
    ck_assert_int_eq(h.h_host, -1);
    ck_assert_uint_eq(h.nheaders, 1);

    ck_assert_int_eq(req_keep("GET / HTTP/1.0\r\nExpect: 100-continue\r\n"
                              "Connection: keep-alive\r\n\r\n"), 0);
    ck_assert_uint_eq(h.expect_continue, 0);
    ck_assert_int_eq(h.h_expect, 0);
    ck_assert_uint_eq(h.conn_keepalive, 1);
}
END_TEST

START_TEST(test_req_leading_crlf)
{
    const char  *s = "\r\n\r\nPOST /u HTTP/1.1\r\n" H "\r\n";

    ck_assert_int_eq(req_keep(s), 0);
    ck_assert_int_eq(h.method, SL_HTTP_POST);
    ck_assert_ptr_eq(h.method_name.data, s + 4);
    ck_assert_sl(h.path, "/u");
}
END_TEST

START_TEST(test_req_fields)
{
    const char  *s = "GET / HTTP/1.1\r\n"
                     "Host:a\r\n"
                     "X-Empty:\r\n"
                     "X-Trim: \t  v a l \t \r\n"
                     "x-obs: \x80\xfe\r\n"
                     "Upgrade: websocket\r\n"
                     "Accept: */*\r\n\r\n";

    ck_assert_int_eq(req_keep(s), 0);
    ck_assert_uint_eq(h.nheaders, 6);
    ck_assert_sl(h.headers[0].value, "a");
    ck_assert_sl(h.headers[1].name, "X-Empty");
    ck_assert_uint_eq(h.headers[1].value.len, 0);
    ck_assert_sl(h.headers[2].value, "v a l");
    ck_assert_sl(h.headers[3].value, "\x80\xfe");
    ck_assert_int_eq(h.h_upgrade, 4);

    ck_assert_uint_eq(h.headers[0].hash, sl_http_hash_name("host", 4));
    ck_assert_uint_eq(h.headers[1].hash, sl_http_hash_name("x-empty", 7));
    ck_assert_uint_eq(h.headers[1].hash, sl_http_hash_name("X-EMPTY", 7));
    ck_assert_uint_ne(sl_http_hash_name("host", 4),
                      sl_http_hash_name("hosu", 4));

    ck_assert_int_eq(sl_http_find_header(&h, "host"), 0);
    ck_assert_int_eq(sl_http_find_header(&h, "X-TRIM"), 2);
    ck_assert_int_eq(sl_http_find_header(&h, "X-Obs"), 3);
    ck_assert_int_eq(sl_http_find_header(&h, "accept"), 5);
    ck_assert_int_eq(sl_http_find_header(&h, "accep"), -1);
    ck_assert_int_eq(sl_http_find_header(&h, "Cookie"), -1);
}
END_TEST

START_TEST(test_req_content_length)
{
    ck_assert_int_eq(req_keep("POST / HTTP/1.1\r\n" H
                              "Content-Length: 42\r\n\r\n"), 0);
    ck_assert_int_eq(h.content_length, 42);
    ck_assert_int_eq(h.h_content_length, 1);

    ck_assert_int_eq(req_keep("POST / HTTP/1.1\r\n" H
                              "Content-Length: 0\r\n\r\n"), 0);
    ck_assert_int_eq(h.content_length, 0);

    ck_assert_int_eq(req_keep("POST / HTTP/1.1\r\n" H
                              "content-length: 7 , 7,7\r\n\r\n"), 0);
    ck_assert_int_eq(h.content_length, 7);

    /* identical on two lines: one value, index of the first line */
    ck_assert_int_eq(req_keep("POST / HTTP/1.1\r\nContent-Length: 007\r\n"
                              H "CONTENT-LENGTH: 7\r\n\r\n"), 0);
    ck_assert_int_eq(h.content_length, 7);
    ck_assert_int_eq(h.h_content_length, 0);

    ck_assert_int_eq(req_keep("POST / HTTP/1.1\r\n" H
                              "Content-Length: 4611686018427387904\r\n\r\n"),
                     0);
    ck_assert_int_eq(h.content_length, (int64_t) 1 << 62);

    ck_assert_int_eq(req_keep("POST / HTTP/1.1\r\n" H "Content-Length: "
                              "0000000000000000000000000000012\r\n\r\n"), 0);
    ck_assert_int_eq(h.content_length, 12);
}
END_TEST

START_TEST(test_req_chunked)
{
    ck_assert_int_eq(req_keep("POST / HTTP/1.1\r\n" H
                              "Transfer-Encoding: chunked\r\n\r\n"), 0);
    ck_assert_uint_eq(h.chunked, 1);
    ck_assert_int_eq(h.h_transfer_encoding, 1);
    ck_assert_int_eq(h.content_length, -1);
    ck_assert_int_eq(h.h_content_length, -1);

    ck_assert_int_eq(req_keep("POST / HTTP/1.1\r\n" H
                              "Transfer-Encoding: gzip, chunked\r\n\r\n"),
                     501);
    ck_assert_uint_eq(h.chunked, 0);
}
END_TEST

START_TEST(test_req_connection)
{
    ck_assert_int_eq(req_keep("GET / HTTP/1.1\r\n" H
                              "Connection: Close\r\n\r\n"), 0);
    ck_assert_uint_eq(h.conn_close, 1);
    ck_assert_uint_eq(h.conn_keepalive, 0);
    ck_assert_uint_eq(h.conn_upgrade, 0);
    ck_assert_int_eq(h.h_connection, 1);

    ck_assert_int_eq(req_keep("GET / HTTP/1.1\r\n" H
                              "Connection: keep-alive, x-foo\r\n"
                              "Upgrade: h2c\r\n"
                              "connection: UPGRADE\r\n\r\n"), 0);
    ck_assert_uint_eq(h.conn_close, 0);
    ck_assert_uint_eq(h.conn_keepalive, 1);
    ck_assert_uint_eq(h.conn_upgrade, 1);
    ck_assert_int_eq(h.h_connection, 1);
    ck_assert_int_eq(h.h_upgrade, 2);

    /* a token that merely contains close is not close */
    ck_assert_int_eq(req_keep("GET / HTTP/1.1\r\n" H
                              "Connection: closed, xclose\r\n\r\n"), 0);
    ck_assert_uint_eq(h.conn_close, 0);
}
END_TEST

START_TEST(test_req_expect)
{
    ck_assert_int_eq(req_keep("PUT / HTTP/1.1\r\n" H
                              "Expect: 100-Continue\r\n\r\n"), 0);
    ck_assert_uint_eq(h.expect_continue, 1);
    ck_assert_int_eq(h.h_expect, 1);

    ck_assert_int_eq(req_keep("PUT / HTTP/1.1\r\n" H
                              "Expect: 100-continue, foo\r\n\r\n"), 417);
}
END_TEST

START_TEST(test_req_max_uri)
{
    static const char  r[] = "GET /0123456789 HTTP/1.1\r\n" H "\r\n";
    static const char  bad[] = "GET /0123456789\x01 HTTP/1.1\r\n" H "\r\n";

    /* the target is 11 bytes */
    ck_assert_int_eq(req_lim(r, sizeof(r) - 1, 11, MAXF), 0);
    ck_assert_int_eq(req_lim(r, sizeof(r) - 1, 10, MAXF), 414);
    ck_assert_int_eq(req_lim(r, sizeof(r) - 1, 1, MAXF), 414);
    ck_assert_int_eq(req_lim(r, sizeof(r) - 1, 0, MAXF), 414);
    ck_assert_int_eq(req_lim(r, sizeof(r) - 1, (size_t) -1, MAXF), 0);

    /* past the limit the bytes are not looked at: 414 wins */
    ck_assert_int_eq(req_lim(bad, sizeof(bad) - 1, 5, MAXF), 414);
    ck_assert_int_eq(req_lim(bad, sizeof(bad) - 1, MAXU, MAXF), 400);
}
END_TEST

START_TEST(test_req_max_field)
{
    static const char  r[] = "GET / HTTP/1.1\r\n" H "X-Long: 0123456789\r\n"
                             "\r\n";
    static const char  ws[] = "GET / HTTP/1.1\r\n" H "X: a      \r\n\r\n";

    /* "X-Long: 0123456789" is 18 bytes; "Host: a" is 7 */
    ck_assert_int_eq(req_lim(r, sizeof(r) - 1, MAXU, 18), 0);
    ck_assert_int_eq(req_lim(r, sizeof(r) - 1, MAXU, 17), 431);
    ck_assert_int_eq(req_lim(r, sizeof(r) - 1, MAXU, 7), 431);
    ck_assert_int_eq(req_lim(r, sizeof(r) - 1, MAXU, 6), 431);

    /* trailing OWS counts: the line is what the client made us hold */
    ck_assert_int_eq(req_lim(ws, sizeof(ws) - 1, MAXU, 9), 431);
    ck_assert_int_eq(req_lim(ws, sizeof(ws) - 1, MAXU, 10), 0);
}
END_TEST

/* A request with n fields "X-n: v" (the first one is Host). */
static char *
many_fields(unsigned n, size_t *len)
{
    char      *buf, *p;
    unsigned   i;

    buf = malloc(64 + n * 32);
    ck_assert_ptr_nonnull(buf);
    p = buf + sprintf(buf, "GET / HTTP/1.1\r\n" H);
    for (i = 1; i < n; i++) {
        p += sprintf(p, "X-%u: v%u\r\n", i, i);
    }
    p += sprintf(p, "\r\n");
    *len = (size_t) (p - buf);
    return buf;
}

START_TEST(test_req_max_headers)
{
    char    *b;
    size_t   len;

    b = many_fields(SL_HTTP_MAX_HEADERS, &len);
    ck_assert_int_eq(req_lim(b, len, MAXU, MAXF), 0);
    ck_assert_int_eq(sl_http_parse_request(b, len, &h, MAXU, MAXF), 0);
    ck_assert_uint_eq(h.nheaders, SL_HTTP_MAX_HEADERS);
    ck_assert_sl(h.headers[SL_HTTP_MAX_HEADERS - 1].name, "X-99");
    free(b);

    b = many_fields(SL_HTTP_MAX_HEADERS + 1, &len);
    ck_assert_int_eq(req_lim(b, len, MAXU, MAXF), 431);
    ck_assert_int_eq(resp_n(b, len), -1);
    free(b);
}
END_TEST

/* The parser must not be misled by what was parsed before into h. */
START_TEST(test_req_reuse)
{
    ck_assert_int_eq(req_keep("POST http://a/ HTTP/1.1\r\n" H
                              "Transfer-Encoding: chunked\r\n"
                              "Connection: close, upgrade, keep-alive\r\n"
                              "Expect: 100-continue\r\n\r\n"), 0);
    ck_assert_int_eq(req_keep("GET / HTTP/1.1\r\n" H "\r\n"), 0);
    ck_assert_uint_eq(h.chunked, 0);
    ck_assert_uint_eq(h.conn_close, 0);
    ck_assert_uint_eq(h.conn_upgrade, 0);
    ck_assert_uint_eq(h.conn_keepalive, 0);
    ck_assert_uint_eq(h.expect_continue, 0);
    ck_assert_int_eq(h.h_transfer_encoding, -1);
    ck_assert_int_eq(h.h_connection, -1);
    ck_assert_int_eq(h.h_expect, -1);
    ck_assert_sl_null(h.authority);
    ck_assert_uint_eq(h.nheaders, 1);
}
END_TEST

/* ---- responses ---------------------------------------------------------- */

static const struct sl_t_case  resp_cases[] = {
    C("HTTP/1.1 200 OK\r\n\r\n", 0),
    C("HTTP/1.1 200 \r\n\r\n", 0),
    C("HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\n", 0),
    C("HTTP/1.1 100 Continue\r\n\r\n", 0),
    C("HTTP/1.1 599 Whatever \t it\x80 is\r\n\r\n", 0),
    C("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0),
    C("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", 0),
    C("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b c\r\n\r\n", 0),
    C("HTTP/1.1 200 OK\r\nExpect: nonsense\r\n\r\n", 0),
    C("HTTP/1.1 200 OK\r\n\r\nbody", 0),

    C("HTTP/1.1 200\r\n\r\n", -1),
    C("HTTP/1.1 200OK\r\n\r\n", -1),
    C("HTTP/1.1  200 OK\r\n\r\n", -1),
    C("HTTP/1.1 2000 OK\r\n\r\n", -1),
    C("HTTP/1.1 20 OK\r\n\r\n", -1),
    C("HTTP/1.1 099 X\r\n\r\n", -1),
    C("HTTP/1.1 600 X\r\n\r\n", -1),
    C("HTTP/1.1 2x0 X\r\n\r\n", -1),
    C("HTTP/2.0 200 OK\r\n\r\n", -1),
    C("HTTP/1.2 200 OK\r\n\r\n", -1),
    C("HTTP/0.9 200 OK\r\n\r\n", -1),
    C("http/1.1 200 OK\r\n\r\n", -1),
    C("HTTP/1.1 200 O\x01K\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\n\n", -1),
    C("HTTP/1.1 200 O\rK\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\0\r\n\r\n", -1),
    C("\r\nHTTP/1.1 200 OK\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\n", -1),
    C("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\nX : a\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      -1),
    C("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", -1),
    C("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", -1),
    C("HTTP/1.1 200 OK\r\nConnection: a b\r\n\r\n", -1),
    C("", -1),
    C("HTTP/1.1 200 OK", -1),
};

START_TEST(test_resp_status)
{
    const struct sl_t_case  *c = &resp_cases[_i];
    int                      rc;

    rc = resp_n(c->in, c->len);
    ck_assert_msg(rc == c->status, "case %d: \"%s\": got %d, expected %d",
                  _i, c->in, rc, c->status);
}
END_TEST

START_TEST(test_resp_fields)
{
    ck_assert_int_eq(resp_keep("HTTP/1.1 404 Not Found\r\n"
                               "Content-Length: 12\r\n"
                               "Connection: close\r\n\r\n"), 0);
    ck_assert_int_eq(h.status, 404);
    ck_assert_sl(h.reason, "Not Found");
    ck_assert_int_eq(h.http_major, 1);
    ck_assert_int_eq(h.http_minor, 1);
    ck_assert_int_eq(h.content_length, 12);
    ck_assert_int_eq(h.h_content_length, 0);
    ck_assert_uint_eq(h.conn_close, 1);
    ck_assert_int_eq(h.method, SL_HTTP_UNKNOWN);
    ck_assert_sl_null(h.request_target);

    ck_assert_int_eq(resp_keep("HTTP/1.0 204 \r\n\r\n"), 0);
    ck_assert_int_eq(h.status, 204);
    ck_assert_int_eq(h.http_minor, 0);
    ck_assert_uint_eq(h.reason.len, 0);
    ck_assert_int_eq(h.content_length, -1);

    ck_assert_int_eq(resp_keep("HTTP/1.1 200 OK\r\n"
                               "Transfer-Encoding: Chunked\r\n\r\n"), 0);
    ck_assert_uint_eq(h.chunked, 1);
    ck_assert_int_eq(h.h_transfer_encoding, 0);
}
END_TEST

/* ---- finding the head --------------------------------------------------- */

/* find_head_end over buf[0..len) fed one byte more per call. */
static size_t
find_bytewise(const char *s, size_t len, size_t *calls_scanned)
{
    size_t  scan = 0, i, r, prev = 0;

    for (i = 1; i <= len; i++) {
        char  *b = dup_exact(s, i);

        r = sl_http_find_head_end(b, i, &scan);
        free(b);
        ck_assert_uint_ge(scan, prev);
        ck_assert_uint_le(scan, i);
        prev = scan;
        if (r != 0) {
            if (calls_scanned) {
                *calls_scanned = scan;
            }
            return r;
        }
        /* all but a trailing CR has been looked at */
        ck_assert_uint_ge(scan, i - 1);
    }
    return 0;
}

static size_t
find_once(const char *s, size_t len)
{
    size_t   scan = 0, r;
    char    *b = dup_exact(s, len);

    r = sl_http_find_head_end(b, len, &scan);
    free(b);
    return r;
}

static const struct {
    const char  *in;
    size_t       len;
    size_t       end;
} find_cases[] = {
#define F(lit, e)  { lit, sizeof(lit) - 1, e }
    F("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27),
    F("GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", 27),
    F("GET / HTTP/1.1\r\n\r\n", 18),
    F("\r\nGET / HTTP/1.1\r\n\r\n", 20),
    F("\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", 24),
    F("\r\n\r\n", 0),
    F("\r\n\r\n\r", 0),
    F("GET / HTTP/1.1\r\nHost: a\r\n\r", 0),
    F("GET / HTTP/1.1\r\nHost: a\r\n", 0),
    F("GET / HTTP/1.1\r\nHost: a\r", 0),
    F("GET / HTTP/1.1", 0),
    F("", 0),
    /* early returns on bytes no head can hold */
    F("GET / HTTP/1.1\nHost: a\r\n\r\n", 15),
    F("GET / HTTP/1.1\r\nHost: a\r\n\n", 26),
    F("\n", 1),
    F("\r\n\n", 3),
    F("GET / HTTP/1.1\rHost", 15),
    F("\r\r\n", 1),
    F("GET /\0 HTTP/1.1\r\n\r\n", 6),
    F("HTTP/1.1 200 OK\r\nA: b\r\n\r\n", 25),
#undef F
};

START_TEST(test_find_head_end)
{
    size_t  once, bytewise;

    once = find_once(find_cases[_i].in, find_cases[_i].len);
    ck_assert_msg(once == find_cases[_i].end, "case %d: got %zu, expected %zu",
                  _i, once, find_cases[_i].end);
    bytewise = find_bytewise(find_cases[_i].in, find_cases[_i].len, NULL);
    ck_assert_msg(bytewise == once, "case %d: bytewise %zu, once %zu",
                  _i, bytewise, once);
}
END_TEST

/* The parser agrees with find_head_end about where heads end. */
START_TEST(test_find_head_end_then_parse)
{
    const char  *s = "\r\nPOST / HTTP/1.1\r\n" H "Content-Length: 3\r\n\r\n"
                     "abc";
    size_t       scan = 0, n;

    n = sl_http_find_head_end(s, strlen(s), &scan);
    ck_assert_uint_eq(n, strlen(s) - 3);
    ck_assert_int_eq(sl_http_parse_request(s, n, &h, MAXU, MAXF), 0);
    ck_assert_int_eq(h.content_length, 3);

    /* the early return on a bare LF leads to a 400 */
    s = "GET / HTTP/1.1\nHost: a\n\n";
    scan = 0;
    n = sl_http_find_head_end(s, strlen(s), &scan);
    ck_assert_uint_ne(n, 0);
    ck_assert_int_eq(sl_http_parse_request(s, n, &h, MAXU, MAXF), 400);
    ck_assert_int_eq(sl_http_parse_response(s, n, &h), -1);
}
END_TEST

/* Many calls on a growing buffer never go back over what they saw. */
START_TEST(test_find_head_end_linear)
{
    static char  buf[20000];
    size_t       scan = 0, len, r;

    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET / HTTP/1.1\r\nX: ", 19);
    for (len = 19; len + 11 <= sizeof(buf); len += 7) {
        size_t  before = scan;

        r = sl_http_find_head_end(buf, len, &scan);
        ck_assert_uint_eq(r, 0);
        ck_assert_uint_ge(scan, before);
        ck_assert_uint_eq(scan, len);
    }
    memcpy(buf + len, "\r\n\r\n", 4);
    r = sl_http_find_head_end(buf, len + 4, &scan);
    ck_assert_uint_eq(r, len + 4);
}
END_TEST

START_TEST(test_line_len)
{
    ck_assert_uint_eq(sl_http_line_len("GET / HTTP/1.1\r\nHost", 20), 14);
    ck_assert_uint_eq(sl_http_line_len("GET / HTTP/1.1\r", 15), 0);
    ck_assert_uint_eq(sl_http_line_len("GET / HTTP/1.1", 14), 0);
    ck_assert_uint_eq(sl_http_line_len("\r\n\r\nGET / HTTP/1.1\r\n", 20), 14);
    ck_assert_uint_eq(sl_http_line_len("\r\n\r\n", 4), 0);
    ck_assert_uint_eq(sl_http_line_len("GET /\n", 6), 5);
    ck_assert_uint_eq(sl_http_line_len("", 0), 0);
}
END_TEST

/* ---- chunked ------------------------------------------------------------ */

struct dec {
    int      rc;
    size_t   consumed;      /* input bytes up to *pos at the end */
    int64_t  total;
    size_t   outlen;
    char     out[8192];
};

/*
 * Decodes in[0..len) split at the given cut points, each piece in its own
 * exact-size heap buffer, until SL_DONE, SL_ERROR or the end of input.
 */
static void
decode_cuts(const char *in, size_t len, const size_t *cuts, size_t ncuts,
    struct dec *r)
{
    struct sl_http_chunked  ctx;
    const char             *pos, *data;
    size_t                  from = 0, to, k, dlen;
    char                   *piece;
    int                     rc = SL_AGAIN;

    memset(&ctx, 0, sizeof(ctx));
    r->outlen = 0;
    r->consumed = 0;

    for (k = 0; k <= ncuts && rc == SL_AGAIN; k++) {
        to = (k < ncuts) ? cuts[k] : len;
        piece = dup_exact(in + from, to - from);
        pos = piece;
        for ( ;; ) {
            rc = sl_http_chunked_parse(&ctx, &pos, piece + (to - from), &data,
                                       &dlen);
            ck_assert(pos >= piece && pos <= piece + (to - from));
            if (rc != SL_OK) {
                break;
            }
            ck_assert_uint_gt(dlen, 0);
            ck_assert(data >= piece && data + dlen <= piece + (to - from));
            ck_assert_uint_le(r->outlen + dlen, sizeof(r->out));
            memcpy(r->out + r->outlen, data, dlen);
            r->outlen += dlen;
        }
        r->consumed = from + (size_t) (pos - piece);
        free(piece);
        from = to;
    }
    r->rc = rc;
    r->total = ctx.total;
}

static void
decode(const char *in, size_t len, struct dec *r)
{
    decode_cuts(in, len, NULL, 0, r);
}

/*
 * Decodes whole, one byte at a time, and split in two at every position;
 * all of them must agree.  Returns the one-piece result.
 */
static void
decode_all_splits(const char *in, size_t len, struct dec *r)
{
    static struct dec  s;
    size_t            *cuts, i;

    decode(in, len, r);
    ck_assert_int_eq((int64_t) r->outlen, r->total);

    cuts = malloc((len + 1) * sizeof(size_t));
    ck_assert_ptr_nonnull(cuts);
    for (i = 0; i + 1 < len; i++) {
        cuts[i] = i + 1;
    }
    decode_cuts(in, len, cuts, len ? len - 1 : 0, &s);
    ck_assert_int_eq(s.rc, r->rc);
    ck_assert_uint_eq(s.consumed, r->consumed);
    ck_assert_uint_eq(s.outlen, r->outlen);
    ck_assert_int_eq(memcmp(s.out, r->out, r->outlen), 0);

    for (i = 0; i <= len; i++) {
        cuts[0] = i;
        decode_cuts(in, len, cuts, 1, &s);
        ck_assert_msg(s.rc == r->rc, "split at %zu: rc %d, expected %d", i,
                      s.rc, r->rc);
        ck_assert_uint_eq(s.consumed, r->consumed);
        ck_assert_uint_eq(s.outlen, r->outlen);
        ck_assert_int_eq(memcmp(s.out, r->out, r->outlen), 0);
    }
    free(cuts);
}

static const struct {
    const char  *in;
    size_t       len;
    int          rc;
    const char  *out;
    size_t       consumed;      /* for SL_DONE */
} chunk_cases[] = {
#define K(lit, rc, out, c)  { lit, sizeof(lit) - 1, rc, out, c }
    K("5\r\nhello\r\n0\r\n\r\n", SL_DONE, "hello", 15),
    K("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1", SL_DONE, "hello", 15),
    K("0\r\n\r\n", SL_DONE, "", 5),
    K("000\r\n\r\n", SL_DONE, "", 7),
    K("3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n", SL_DONE, "abcdefg", 0),
    K("a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n", SL_DONE,
      "01234567890123456789", 0),
    K("0000000000000003\r\nabc\r\n0\r\n\r\n", SL_DONE, "abc", 0),
    K("1;a=b\r\nx\r\n0\r\n\r\n", SL_DONE, "x", 0),
    K("1 ;a=b\r\nx\r\n0\r\n\r\n", SL_DONE, "x", 0),
    K("1\t; a = \"q;\\\" \" ;b\r\nx\r\n0;last\r\n\r\n", SL_DONE, "x", 0),
    K("1;\x80\xff\r\nx\r\n0\r\n\r\n", SL_DONE, "x", 0),
    K("1\r\n\r\r\n0\r\n\r\n", SL_DONE, "\r", 0),
    K("2\r\n\r\n\r\n0\r\n\r\n", SL_DONE, "\r\n", 0),
    K("0\r\nExpires: never\r\nX-Sum:abc\r\n\r\n", SL_DONE, "", 0),
    K("0\r\nX:\r\n\r\n", SL_DONE, "", 0),
    K("0\r\nX: a\tb \x80\r\n\r\n", SL_DONE, "", 0),

    K("5\r\nhel", SL_AGAIN, "hel", 0),
    K("5\r\nhello\r\n", SL_AGAIN, "hello", 0),
    K("5\r\nhello\r\n0\r\n", SL_AGAIN, "hello", 0),
    K("0\r\nX: a\r\n", SL_AGAIN, "", 0),
    K("", SL_AGAIN, "", 0),
    K("fffff", SL_AGAIN, "", 0),

    K("\r\n", SL_ERROR, "", 0),
    K("g\r\n", SL_ERROR, "", 0),
    K("-5\r\n", SL_ERROR, "", 0),
    K("+5\r\n", SL_ERROR, "", 0),
    K(" 5\r\n", SL_ERROR, "", 0),
    K("5 \r\nhello\r\n", SL_ERROR, "", 0),
    K("0x5\r\n", SL_ERROR, "", 0),
    K("5\nhello\r\n", SL_ERROR, "", 0),
    K("5\rhello\r\n", SL_ERROR, "", 0),
    K("5\r\nhelloX\r\n", SL_ERROR, "hello", 0),
    K("5\r\nhello\n0\r\n\r\n", SL_ERROR, "hello", 0),
    K("5\r\nhello\r0\r\n\r\n", SL_ERROR, "hello", 0),
    K("5\r\nhello\r\n\r\n", SL_ERROR, "hello", 0),
    K("00000000000000001\r\nx\r\n", SL_ERROR, "", 0),
    K("10000000000000000\r\n", SL_ERROR, "", 0),
    K("FFFFFFFFFFFFFFFF\r\n", SL_ERROR, "", 0),
    K("8000000000000000\r\n", SL_ERROR, "", 0),
    K("4000000000000001\r\n", SL_ERROR, "", 0),
    K("1;a\nx\r\nx\r\n0\r\n\r\n", SL_ERROR, "", 0),
    K("1;a\rx\r\nx\r\n0\r\n\r\n", SL_ERROR, "", 0),
    K("1;a\x01\r\nx\r\n0\r\n\r\n", SL_ERROR, "", 0),
    K("1;a\0\r\nx\r\n0\r\n\r\n", SL_ERROR, "", 0),
    K("1 x\r\nx\r\n", SL_ERROR, "", 0),
    K("0\r\n\n", SL_ERROR, "", 0),
    K("0\r\n\rX", SL_ERROR, "", 0),
    K("0\r\nX: a\n\r\n", SL_ERROR, "", 0),
    K("0\r\n X: a\r\n\r\n", SL_ERROR, "", 0),
    K("0\r\nX: a\r\n\tb\r\n\r\n", SL_ERROR, "", 0),
    K("0\r\nX : a\r\n\r\n", SL_ERROR, "", 0),
    K("0\r\n: a\r\n\r\n", SL_ERROR, "", 0),
    K("0\r\nXa\r\n\r\n", SL_ERROR, "", 0),
    K("0\r\nX: a\x7f\r\n\r\n", SL_ERROR, "", 0),
    K("0\r\nX: a\rb\r\n\r\n", SL_ERROR, "", 0),
#undef K
};

START_TEST(test_chunked_cases)
{
    struct dec  r;
    size_t      outlen = strlen(chunk_cases[_i].out);

    decode_all_splits(chunk_cases[_i].in, chunk_cases[_i].len, &r);
    ck_assert_msg(r.rc == chunk_cases[_i].rc, "case %d: rc %d, expected %d",
                  _i, r.rc, chunk_cases[_i].rc);
    ck_assert_uint_eq(r.outlen, outlen);
    ck_assert_int_eq(memcmp(r.out, chunk_cases[_i].out, outlen), 0);
    if (r.rc == SL_DONE && chunk_cases[_i].consumed != 0) {
        ck_assert_uint_eq(r.consumed, chunk_cases[_i].consumed);
    }
    if (r.rc == SL_AGAIN) {
        ck_assert_uint_eq(r.consumed, chunk_cases[_i].len);
    }
}
END_TEST

START_TEST(test_chunked_sticky)
{
    struct sl_http_chunked  ctx;
    const char             *s, *pos, *data;
    size_t                  dlen;

    /* after SL_DONE nothing more is consumed */
    memset(&ctx, 0, sizeof(ctx));
    s = "0\r\n\r\nXYZ";
    pos = s;
    ck_assert_int_eq(sl_http_chunked_parse(&ctx, &pos, s + 8, &data, &dlen),
                     SL_DONE);
    ck_assert_ptr_eq(pos, s + 5);
    ck_assert_int_eq(sl_http_chunked_parse(&ctx, &pos, s + 8, &data, &dlen),
                     SL_DONE);
    ck_assert_ptr_eq(pos, s + 5);
    ck_assert_uint_eq(dlen, 0);

    /* errors stay errors; *pos is left at the offending byte */
    memset(&ctx, 0, sizeof(ctx));
    s = "1x\r\n";
    pos = s;
    ck_assert_int_eq(sl_http_chunked_parse(&ctx, &pos, s + 4, &data, &dlen),
                     SL_ERROR);
    ck_assert_ptr_eq(pos, s + 1);
    s = "1\r\nx\r\n0\r\n\r\n";
    pos = s;
    ck_assert_int_eq(sl_http_chunked_parse(&ctx, &pos, s + 11, &data, &dlen),
                     SL_ERROR);
    ck_assert_int_eq(sl_http_chunked_parse(&ctx, &pos, s, &data, &dlen),
                     SL_ERROR);

    /* an empty input is SL_AGAIN and consumes nothing */
    memset(&ctx, 0, sizeof(ctx));
    s = "5";
    pos = s;
    ck_assert_int_eq(sl_http_chunked_parse(&ctx, &pos, s, &data, &dlen),
                     SL_AGAIN);
    ck_assert_ptr_eq(pos, s);
}
END_TEST

/* Data arrives in spans as large as the input allows, and total adds up. */
START_TEST(test_chunked_spans)
{
    struct sl_http_chunked  ctx;
    static char             in[70000];
    const char             *pos, *data, *end;
    size_t                  dlen, n;
    int                     rc, spans = 0;

    n = (size_t) sprintf(in, "%x\r\n", 65536);
    memset(in + n, 'z', 65536);
    n += 65536;
    n += (size_t) sprintf(in + n, "\r\n0\r\n\r\n");

    memset(&ctx, 0, sizeof(ctx));
    pos = in;
    end = in + n;
    while ((rc = sl_http_chunked_parse(&ctx, &pos, end, &data, &dlen))
           == SL_OK)
    {
        spans++;
        ck_assert_uint_eq(dlen, 65536);
    }
    ck_assert_int_eq(rc, SL_DONE);
    ck_assert_int_eq(spans, 1);
    ck_assert_int_eq(ctx.total, 65536);
    ck_assert_ptr_eq(pos, end);
}
END_TEST

START_TEST(test_chunked_limits)
{
    char        buf[3 * SL_HTTP_CHUNK_MAX_LINE + 64];
    struct dec  r;
    size_t      n;
    unsigned    i;

    /* a chunk-size line of exactly SL_HTTP_CHUNK_MAX_LINE bytes is fine */
    memset(buf, 'e', sizeof(buf));
    memcpy(buf, "1;", 2);
    n = SL_HTTP_CHUNK_MAX_LINE;
    memcpy(buf + n, "\r\nx\r\n0\r\n\r\n", 10);
    decode(buf, n + 10, &r);
    ck_assert_int_eq(r.rc, SL_DONE);

    memset(buf, 'e', sizeof(buf));
    memcpy(buf, "1;", 2);
    n = SL_HTTP_CHUNK_MAX_LINE + 1;
    memcpy(buf + n, "\r\nx\r\n0\r\n\r\n", 10);
    decode(buf, n + 10, &r);
    ck_assert_int_eq(r.rc, SL_ERROR);

    /* a trailer line is bounded the same way */
    memset(buf, 'v', sizeof(buf));
    memcpy(buf, "0\r\nX:", 5);
    n = 3 + SL_HTTP_CHUNK_MAX_LINE;
    memcpy(buf + n, "\r\n\r\n", 4);
    decode(buf, n + 4, &r);
    ck_assert_int_eq(r.rc, SL_DONE);

    memset(buf, 'v', sizeof(buf));
    memcpy(buf, "0\r\nX:", 5);
    n = 3 + SL_HTTP_CHUNK_MAX_LINE + 1;
    memcpy(buf + n, "\r\n\r\n", 4);
    decode(buf, n + 4, &r);
    ck_assert_int_eq(r.rc, SL_ERROR);

    /* BWS before ';' and a trailer name count against the bound too */
    memset(buf, ' ', sizeof(buf));
    buf[0] = '1';
    n = SL_HTTP_CHUNK_MAX_LINE + 1;
    memcpy(buf + n, ";\r\nx\r\n0\r\n\r\n", 11);
    decode(buf, n + 11, &r);
    ck_assert_int_eq(r.rc, SL_ERROR);

    memset(buf, 'N', sizeof(buf));
    memcpy(buf, "0\r\n", 3);
    n = 3 + SL_HTTP_CHUNK_MAX_LINE + 1;
    memcpy(buf + n, ":\r\n\r\n", 5);
    decode(buf, n + 5, &r);
    ck_assert_int_eq(r.rc, SL_ERROR);

    /* the number of trailer lines too */
    for (i = 0, n = (size_t) sprintf(buf, "0\r\n");
         i < SL_HTTP_MAX_HEADERS; i++)
    {
        n += (size_t) sprintf(buf + n, "T: v\r\n");
    }
    n += (size_t) sprintf(buf + n, "\r\n");
    decode(buf, n, &r);
    ck_assert_int_eq(r.rc, SL_DONE);

    for (i = 0, n = (size_t) sprintf(buf, "0\r\n");
         i <= SL_HTTP_MAX_HEADERS; i++)
    {
        n += (size_t) sprintf(buf + n, "T: v\r\n");
    }
    n += (size_t) sprintf(buf + n, "\r\n");
    decode(buf, n, &r);
    ck_assert_int_eq(r.rc, SL_ERROR);

    /* the largest size accepted, 2^62, without the data following */
    decode("4000000000000000\r\nab", 20, &r);
    ck_assert_int_eq(r.rc, SL_AGAIN);
    ck_assert_int_eq(r.total, 2);
}
END_TEST

/* ---- suite -------------------------------------------------------------- */

static Suite *
http_parse_suite(void)
{
    Suite  *s = suite_create("http_parse");
    TCase  *tc;

    tc = tcase_create("request");
    tcase_add_loop_test(tc, test_req_status, 0, (int) sl_nelems(req_cases));
    tcase_add_test(tc, test_req_simple);
    tcase_add_test(tc, test_req_query);
    tcase_add_test(tc, test_req_methods);
    tcase_add_test(tc, test_req_absolute_form);
    tcase_add_test(tc, test_req_other_forms);
    tcase_add_test(tc, test_req_http10);
    tcase_add_test(tc, test_req_leading_crlf);
    tcase_add_test(tc, test_req_fields);
    tcase_add_test(tc, test_req_content_length);
    tcase_add_test(tc, test_req_chunked);
    tcase_add_test(tc, test_req_connection);
    tcase_add_test(tc, test_req_expect);
    tcase_add_test(tc, test_req_max_uri);
    tcase_add_test(tc, test_req_max_field);
    tcase_add_test(tc, test_req_max_headers);
    tcase_add_test(tc, test_req_reuse);
    suite_add_tcase(s, tc);

    tc = tcase_create("response");
    tcase_add_loop_test(tc, test_resp_status, 0, (int) sl_nelems(resp_cases));
    tcase_add_test(tc, test_resp_fields);
    suite_add_tcase(s, tc);

    tc = tcase_create("head_end");
    tcase_add_loop_test(tc, test_find_head_end, 0,
                        (int) sl_nelems(find_cases));
    tcase_add_test(tc, test_find_head_end_then_parse);
    tcase_add_test(tc, test_find_head_end_linear);
    tcase_add_test(tc, test_line_len);
    suite_add_tcase(s, tc);

    tc = tcase_create("chunked");
    tcase_add_loop_test(tc, test_chunked_cases, 0,
                        (int) sl_nelems(chunk_cases));
    tcase_add_test(tc, test_chunked_sticky);
    tcase_add_test(tc, test_chunked_spans);
    tcase_add_test(tc, test_chunked_limits);
    suite_add_tcase(s, tc);

    return s;
}

int
main(void)
{
    SRunner  *sr;
    int       failed;

    sr = srunner_create(http_parse_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
