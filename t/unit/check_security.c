/*
 * check_security.c: unit tests of the pure parts of src/security/: CIDR
 * parsing and matching (IPv4, IPv6, IPv4-mapped), the limit_req leaky
 * bucket, and every htpasswd hash type against known vectors (made with
 * `openssl passwd -apr1|-6|-5` and `htpasswd -B|-s|-m`, hardcoded here so
 * that the tests need neither tool).
 */
#include "sl_core.h"
#include "sl_security.h"

#include <arpa/inet.h>
#include <check.h>

/* ---- CIDR ----------------------------------------------------------------- */

static int
cidr(const char *s, struct sl_cidr *c, int *dirty)
{
    struct sl_str v;

    v.data = (char *) s;
    v.len = strlen(s);
    return sl_cidr_parse(&v, c, dirty);
}

static int
match(const char *rule, const char *addr)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in sin;
        struct sockaddr_in6 sin6;
    } u;
    struct sl_cidr c;

    ck_assert_int_eq(cidr(rule, &c, NULL), SL_OK);
    memset(&u, 0, sizeof(u));
    if (inet_pton(AF_INET, addr, &u.sin.sin_addr) == 1) {
        u.sin.sin_family = AF_INET;
    } else {
        ck_assert_int_eq(inet_pton(AF_INET6, addr, &u.sin6.sin6_addr), 1);
        u.sin6.sin6_family = AF_INET6;
    }
    return sl_cidr_match(&c, &u.sa);
}

START_TEST(test_cidr_parse)
{
    struct sl_cidr c;
    int dirty;

    ck_assert_int_eq(cidr("all", &c, NULL), SL_OK);
    ck_assert_int_eq(c.family, 0);
    ck_assert_int_eq(cidr("10.0.0.0/8", &c, &dirty), SL_OK);
    ck_assert_int_eq(c.family, AF_INET);
    ck_assert_uint_eq(c.prefix, 8);
    ck_assert_int_eq(dirty, 0);
    ck_assert_int_eq(cidr("10.1.2.3/8", &c, &dirty), SL_OK);
    ck_assert_int_eq(dirty, 1);
    ck_assert_int_eq(c.addr[1], 0);
    ck_assert_int_eq(cidr("127.0.0.1", &c, NULL), SL_OK);
    ck_assert_uint_eq(c.prefix, 32);
    ck_assert_int_eq(cidr("0.0.0.0/0", &c, NULL), SL_OK);
    ck_assert_int_eq(cidr("::1", &c, NULL), SL_OK);
    ck_assert_int_eq(c.family, AF_INET6);
    ck_assert_uint_eq(c.prefix, 128);
    ck_assert_int_eq(cidr("2001:db8::/32", &c, NULL), SL_OK);
    ck_assert_uint_eq(c.prefix, 32);
    /* A mapped rule is an IPv4 rule. */
    ck_assert_int_eq(cidr("::ffff:192.168.0.0/112", &c, NULL), SL_OK);
    ck_assert_int_eq(c.family, AF_INET);
    ck_assert_uint_eq(c.prefix, 16);

    ck_assert_int_eq(cidr("10.0.0.0/33", &c, NULL), SL_ERROR);
    ck_assert_int_eq(cidr("::/129", &c, NULL), SL_ERROR);
    ck_assert_int_eq(cidr("10.0.0.0/", &c, NULL), SL_ERROR);
    ck_assert_int_eq(cidr("10.0.0.0/x", &c, NULL), SL_ERROR);
    ck_assert_int_eq(cidr("10.0.0.0/-1", &c, NULL), SL_ERROR);
    ck_assert_int_eq(cidr("10.0.0", &c, NULL), SL_ERROR);
    ck_assert_int_eq(cidr("example.com", &c, NULL), SL_ERROR);
    ck_assert_int_eq(cidr("/8", &c, NULL), SL_ERROR);
    ck_assert_int_eq(cidr("", &c, NULL), SL_ERROR);
    ck_assert_int_eq(cidr("1.2.3.4/0008", &c, NULL), SL_ERROR);
}
END_TEST

START_TEST(test_cidr_match_v4)
{
    ck_assert(match("all", "1.2.3.4"));
    ck_assert(match("all", "::1"));
    ck_assert(match("127.0.0.1", "127.0.0.1"));
    ck_assert(!match("127.0.0.1", "127.0.0.2"));
    ck_assert(match("127.0.0.0/8", "127.255.0.9"));
    ck_assert(!match("127.0.0.0/8", "128.0.0.1"));
    ck_assert(match("192.168.1.0/25", "192.168.1.127"));
    ck_assert(!match("192.168.1.0/25", "192.168.1.128"));
    ck_assert(match("0.0.0.0/0", "8.8.8.8"));
    ck_assert(!match("0.0.0.0/0", "::1"));      /* v4 rule, v6 peer */
    ck_assert(match("10.1.2.3/8", "10.9.9.9")); /* host bits cleared */
}
END_TEST

START_TEST(test_cidr_match_v6)
{
    ck_assert(match("::1", "::1"));
    ck_assert(!match("::1", "::2"));
    ck_assert(!match("::1", "127.0.0.1"));
    ck_assert(match("2001:db8::/32", "2001:db8:ffff::1"));
    ck_assert(!match("2001:db8::/32", "2001:db9::1"));
    ck_assert(match("fe80::/10", "febf::1"));
    ck_assert(!match("fe80::/10", "fec0::1"));
    ck_assert(match("::/0", "2001:db8::1"));
}
END_TEST

START_TEST(test_cidr_match_mapped)
{
    /* A mapped peer matches IPv4 rules by its IPv4 address... */
    ck_assert(match("127.0.0.1", "::ffff:127.0.0.1"));
    ck_assert(match("10.0.0.0/8", "::ffff:10.2.3.4"));
    ck_assert(!match("10.0.0.0/8", "::ffff:11.2.3.4"));
    /* ... and IPv6 rules by its full address. */
    ck_assert(match("::ffff:0:0/96", "::ffff:10.2.3.4"));
    ck_assert(!match("::1", "::ffff:127.0.0.1"));
    /* A rule written mapped matches a plain IPv4 peer. */
    ck_assert(match("::ffff:10.0.0.0/104", "10.200.0.1"));
    ck_assert(!match("::ffff:10.0.0.0/104", "11.0.0.1"));
}
END_TEST

/* ---- leaky bucket ----------------------------------------------------------- */

START_TEST(test_leak_basic)
{
    int64_t excess = 0;
    sl_msec_t last = 1000, d;
    int i;

    /* rate 10r/s, burst 5, no delay: at t=1000 a new key's state. */
    for (i = 1; i <= 5; i++) {
        ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 1000, 10000, 5000,
                                           SL_LIMIT_NODELAY, 1, &d), SL_OK);
        ck_assert_int_eq(excess, i * 1000);
        ck_assert_int_eq(d, 0);
    }
    /* One more in the same instant is over the burst: refused, and the
     * state is left alone. */
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 1000, 10000, 5000,
                                       SL_LIMIT_NODELAY, 1, &d), SL_BUSY);
    ck_assert_int_eq(excess, 5000);
    /* 100 ms later one request has leaked out: room for one. */
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 1100, 10000, 5000,
                                       SL_LIMIT_NODELAY, 1, &d), SL_OK);
    ck_assert_int_eq(excess, 5000);
    ck_assert_int_eq(last, 1100);
    /* Without accounting, nothing changes. */
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 1150, 10000, 5000,
                                       SL_LIMIT_NODELAY, 0, &d), SL_BUSY);
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 1200, 10000, 5000,
                                       SL_LIMIT_NODELAY, 0, &d), SL_OK);
    ck_assert_int_eq(excess, 5000);
    ck_assert_int_eq(last, 1100);
    /* A long pause empties the bucket (never below zero). */
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 100000, 10000, 5000,
                                       SL_LIMIT_NODELAY, 1, &d), SL_OK);
    ck_assert_int_eq(excess, 0);
}
END_TEST

START_TEST(test_leak_delay)
{
    int64_t excess = 0;
    sl_msec_t last = 0, d;

    /* rate 2r/s, burst 4, delay=1: excess up to 1000 goes at once,
     * beyond it waits (excess - 1000) / rate. */
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 0, 2000, 4000, 1000,
                                       1, &d), SL_OK);
    ck_assert_int_eq(d, 0);
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 0, 2000, 4000, 1000,
                                       1, &d), SL_OK);
    ck_assert_int_eq(excess, 2000);
    ck_assert_int_eq(d, 500);
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 0, 2000, 4000, 1000,
                                       1, &d), SL_OK);
    ck_assert_int_eq(d, 1000);
    /* Default delay (0): every excess request waits. */
    excess = 0;
    last = 0;
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 0, 2000, 4000, 0,
                                       1, &d), SL_OK);
    ck_assert_int_eq(d, 500);
    /* r/m rates: 30r/m = 500 milli-requests a second. */
    excess = 1000;
    last = 0;
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 1000, 500, 0,
                                       SL_LIMIT_NODELAY, 1, &d), SL_BUSY);
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 3000, 500, 0,
                                       SL_LIMIT_NODELAY, 1, &d), SL_BUSY);
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 4000, 500, 0,
                                       SL_LIMIT_NODELAY, 1, &d), SL_OK);
}
END_TEST

START_TEST(test_leak_clock)
{
    int64_t excess = 3000;
    sl_msec_t last = 100000, d;

    /* A clock a little behind: no leak; far behind: start over. */
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 99000, 1000, 5000,
                                       SL_LIMIT_NODELAY, 1, &d), SL_OK);
    ck_assert_int_eq(excess, 4000);
    ck_assert_int_eq(last, 100000);
    ck_assert_int_eq(sl_limit_req_leak(&excess, &last, 1000, 1000, 5000,
                                       SL_LIMIT_NODELAY, 1, &d), SL_OK);
    ck_assert_int_eq(excess, 4999);
    ck_assert_int_eq(last, 1000);
}
END_TEST

/* ---- password hashes --------------------------------------------------------- */

static int
check(const char *hash, const char *pw)
{
    return sl_auth_basic_check(hash, pw, strlen(pw));
}

START_TEST(test_hash_bcrypt)
{
    static const char h[] =
        "$2y$05$3px91LOPEeFjLZ91AhUuYuVman57HVBHMovLQjBzGdLj94Sf3Miii";
    char b[sizeof(h)];

    ck_assert_int_eq(check(h, "secret"), 1);
    ck_assert_int_eq(check(h, "secreT"), 0);
    ck_assert_int_eq(check(h, ""), 0);
    /* $2b$ is the same algorithm. */
    memcpy(b, h, sizeof(h));
    b[2] = 'b';
    ck_assert_int_eq(check(b, "secret"), 1);
}
END_TEST

START_TEST(test_hash_sha_crypt)
{
    ck_assert_int_eq(check("$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6G"
                           "Lc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hV"
                           "O1", "secret"), 1);
    ck_assert_int_eq(check("$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6G"
                           "Lc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hV"
                           "O1", "secret2"), 0);
    ck_assert_int_eq(check("$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.l"
                           "pPdS5sA", "secret"), 1);
    ck_assert_int_eq(check("$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.l"
                           "pPdS5sA", "Secret"), 0);
}
END_TEST

START_TEST(test_hash_apr1)
{
    char out[64];

    ck_assert_int_eq(sl_auth_apr1("secret", 6, "abcdefgh", 8, out,
                                  sizeof(out)), SL_OK);
    ck_assert_str_eq(out, "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/");
    ck_assert_int_eq(check("$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/",
                           "secret"), 1);
    ck_assert_int_eq(check("$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/",
                           "secrex"), 0);
    /* Short salt; a password with a colon in it. */
    ck_assert_int_eq(check("$apr1$xy$9GoMe6SBsRlkuYZ0tlsom.", "p@ss:word"),
                     1);
    ck_assert_int_eq(check("$apr1$bvuhq697$/9bQHIX7b.khGnImDQAGv0",
                           "p@ss:word"), 1);
    ck_assert_int_eq(check("$apr1$bvuhq697$/9bQHIX7b.khGnImDQAGv0",
                           "p@ss:wor"), 0);
}
END_TEST

START_TEST(test_hash_sha1)
{
    ck_assert_int_eq(check("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret"), 1);
    ck_assert_int_eq(check("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secre"), 0);
}
END_TEST

START_TEST(test_hash_unsupported)
{
    ck_assert_int_eq(check("secret", "secret"), SL_ERROR);
    ck_assert_int_eq(check("$1$abc$def", "secret"), SL_ERROR);
    ck_assert_int_eq(check("", ""), SL_ERROR);
    /* An embedded NUL never matches. */
    ck_assert_int_eq(sl_auth_basic_check("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
                                         "secret\0x", 8), 0);
}
END_TEST

static Suite *
security_suite(void)
{
    Suite *s = suite_create("security");
    TCase *tc;

    tc = tcase_create("cidr");
    tcase_add_test(tc, test_cidr_parse);
    tcase_add_test(tc, test_cidr_match_v4);
    tcase_add_test(tc, test_cidr_match_v6);
    tcase_add_test(tc, test_cidr_match_mapped);
    suite_add_tcase(s, tc);

    tc = tcase_create("leaky bucket");
    tcase_add_test(tc, test_leak_basic);
    tcase_add_test(tc, test_leak_delay);
    tcase_add_test(tc, test_leak_clock);
    suite_add_tcase(s, tc);

    tc = tcase_create("passwords");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_hash_bcrypt);
    tcase_add_test(tc, test_hash_sha_crypt);
    tcase_add_test(tc, test_hash_apr1);
    tcase_add_test(tc, test_hash_sha1);
    tcase_add_test(tc, test_hash_unsupported);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(security_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
