/*
 * check_syslog.c: unit tests of the syslog target parser and of the
 * RFC 3164 message header.
 */
#include "sl_core.h"
#include "sl_syslog.h"

#include <arpa/inet.h>
#include <check.h>

static int
parse(const char *spec, struct sl_syslog_peer *peer, char *err, size_t len)
{
    struct sl_str s;

    s.data = (char *) spec;
    s.len = strlen(spec);
    err[0] = '\0';
    return sl_syslog_parse(&s, peer, err, len);
}

/* Parses spec, which must fail with a message containing what. */
static void
parse_fails(const char *spec, const char *what)
{
    struct sl_syslog_peer peer;
    char err[256];

    ck_assert_msg(parse(spec, &peer, err, sizeof(err)) == SL_ERROR,
                  "\"%s\" was accepted", spec);
    ck_assert_msg(strstr(err, what) != NULL, "\"%s\": \"%s\" lacks \"%s\"",
                  spec, err, what);
}

START_TEST(test_parse_defaults)
{
    struct sl_syslog_peer peer;
    char err[256];

    ck_assert_int_eq(parse("syslog:server=127.0.0.1", &peer, err,
                           sizeof(err)), SL_OK);
    ck_assert_uint_eq(peer.magic, SL_SYSLOG_PEER_MAGIC);
    ck_assert_int_eq(peer.addr.sa.sa_family, AF_INET);
    ck_assert_int_eq(ntohs(peer.addr.sin.sin_port), 514);
    ck_assert_uint_eq(ntohl(peer.addr.sin.sin_addr.s_addr), 0x7f000001);
    ck_assert_uint_eq(peer.socklen, sizeof(struct sockaddr_in));
    ck_assert_int_eq(peer.facility, 23);
    ck_assert_int_eq(peer.severity, 6);
    ck_assert_str_eq(peer.tag, "sluice");
    ck_assert_int_eq(peer.nohostname, 0);
    ck_assert_int_eq(peer.fd, -1);
    ck_assert_str_eq(peer.server, "127.0.0.1");
}
END_TEST

START_TEST(test_parse_addresses)
{
    struct sl_syslog_peer peer;
    char err[256], buf[INET6_ADDRSTRLEN];

    ck_assert_int_eq(parse("syslog:server=10.1.2.3:5140", &peer, err,
                           sizeof(err)), SL_OK);
    ck_assert_int_eq(peer.addr.sa.sa_family, AF_INET);
    ck_assert_int_eq(ntohs(peer.addr.sin.sin_port), 5140);
    ck_assert_uint_eq(ntohl(peer.addr.sin.sin_addr.s_addr), 0x0a010203);

    ck_assert_int_eq(parse("syslog:server=localhost:9", &peer, err,
                           sizeof(err)), SL_OK);
    ck_assert_uint_eq(ntohl(peer.addr.sin.sin_addr.s_addr), 0x7f000001);
    ck_assert_int_eq(ntohs(peer.addr.sin.sin_port), 9);

    ck_assert_int_eq(parse("syslog:server=[::1]:1514", &peer, err,
                           sizeof(err)), SL_OK);
    ck_assert_int_eq(peer.addr.sa.sa_family, AF_INET6);
    ck_assert_int_eq(ntohs(peer.addr.sin6.sin6_port), 1514);
    ck_assert_uint_eq(peer.socklen, sizeof(struct sockaddr_in6));
    inet_ntop(AF_INET6, &peer.addr.sin6.sin6_addr, buf, sizeof(buf));
    ck_assert_str_eq(buf, "::1");

    ck_assert_int_eq(parse("syslog:server=[2001:db8::5]", &peer, err,
                           sizeof(err)), SL_OK);
    ck_assert_int_eq(ntohs(peer.addr.sin6.sin6_port), 514);
    inet_ntop(AF_INET6, &peer.addr.sin6.sin6_addr, buf, sizeof(buf));
    ck_assert_str_eq(buf, "2001:db8::5");

    ck_assert_int_eq(parse("syslog:server=fe80::1", &peer, err,
                           sizeof(err)), SL_OK);
    ck_assert_int_eq(peer.addr.sa.sa_family, AF_INET6);
    ck_assert_int_eq(ntohs(peer.addr.sin6.sin6_port), 514);

    ck_assert_int_eq(parse("syslog:server=unix:/dev/log", &peer, err,
                           sizeof(err)), SL_OK);
    ck_assert_int_eq(peer.addr.sa.sa_family, AF_UNIX);
    ck_assert_str_eq(peer.addr.sun.sun_path, "/dev/log");
    ck_assert_uint_eq(peer.socklen,
                      offsetof(struct sockaddr_un, sun_path) + 9);
    ck_assert_str_eq(peer.server, "unix:/dev/log");
}
END_TEST

START_TEST(test_parse_parameters)
{
    struct sl_syslog_peer peer;
    char err[256];

    ck_assert_int_eq(parse("syslog:server=unix:/dev/log,facility=local3,"
                           "tag=sltest,severity=notice,nohostname", &peer,
                           err, sizeof(err)), SL_OK);
    ck_assert_int_eq(peer.facility, 19);
    ck_assert_int_eq(peer.severity, 5);
    ck_assert_str_eq(peer.tag, "sltest");
    ck_assert_int_eq(peer.nohostname, 1);

    /* Any order; server= need not come first. */
    ck_assert_int_eq(parse("syslog:tag=a_B_9,server=127.0.0.1,facility=kern",
                           &peer, err, sizeof(err)), SL_OK);
    ck_assert_int_eq(peer.facility, 0);
    ck_assert_str_eq(peer.tag, "a_B_9");

    ck_assert_int_eq(parse("syslog:server=127.0.0.1,facility=daemon,"
                           "severity=emerg", &peer, err, sizeof(err)), SL_OK);
    ck_assert_int_eq(peer.facility, 3);
    ck_assert_int_eq(peer.severity, 0);
    ck_assert_int_eq(parse("syslog:server=127.0.0.1,facility=auth,"
                           "severity=debug", &peer, err, sizeof(err)), SL_OK);
    ck_assert_int_eq(peer.facility, 4);
    ck_assert_int_eq(peer.severity, 7);
    ck_assert_int_eq(parse("syslog:server=127.0.0.1,facility=local0",
                           &peer, err, sizeof(err)), SL_OK);
    ck_assert_int_eq(peer.facility, 16);
    ck_assert_int_eq(parse("syslog:server=127.0.0.1,facility=user,"
                           "severity=error", &peer, err, sizeof(err)), SL_OK);
    ck_assert_int_eq(peer.facility, 1);
    ck_assert_int_eq(peer.severity, 3);

    /* The longest tag. */
    ck_assert_int_eq(parse("syslog:server=127.0.0.1,"
                           "tag=abcdefghijklmnopqrstuvwxyz012345", &peer,
                           err, sizeof(err)), SL_OK);
    ck_assert_uint_eq(strlen(peer.tag), SL_SYSLOG_TAG_MAX);
}
END_TEST

START_TEST(test_parse_errors)
{
    parse_fails("syslog:", "no syslog server");
    parse_fails("syslog:facility=local1", "no syslog server");
    parse_fails("syslog:server=127.0.0.1,", "empty parameter");
    parse_fails("syslog:server=127.0.0.1,,tag=x", "empty parameter");
    parse_fails("syslog:server=127.0.0.1,colour=red",
                "unknown syslog parameter \"colour=red\"");
    parse_fails("syslog:server=127.0.0.1,nohostname=1",
                "unknown syslog parameter");
    parse_fails("syslog:server=127.0.0.1,facility",
                "unknown syslog parameter \"facility\"");
    parse_fails("syslog:server=127.0.0.1,facility=local8",
                "unknown syslog facility \"local8\"");
    parse_fails("syslog:server=127.0.0.1,facility=",
                "unknown syslog facility");
    parse_fails("syslog:server=127.0.0.1,severity=loud",
                "unknown syslog severity \"loud\"");
    parse_fails("syslog:server=127.0.0.1,tag=", "invalid syslog tag");
    parse_fails("syslog:server=127.0.0.1,tag=a-b", "invalid syslog tag");
    parse_fails("syslog:server=127.0.0.1,tag=a b", "invalid syslog tag");
    parse_fails("syslog:server=127.0.0.1,"
                "tag=abcdefghijklmnopqrstuvwxyz0123456", "invalid syslog tag");
    parse_fails("syslog:server=127.0.0.1,server=127.0.0.2",
                "duplicate syslog parameter \"server\"");
    parse_fails("syslog:server=127.0.0.1,nohostname,nohostname",
                "duplicate");
    parse_fails("syslog:server=", "invalid syslog server address");
    parse_fails("syslog:server=example.com", "invalid syslog server address "
                "\"example.com\"");
    parse_fails("syslog:server=127.0.0.1:0", "invalid syslog server address");
    parse_fails("syslog:server=127.0.0.1:65536", "invalid syslog server");
    parse_fails("syslog:server=127.0.0.1:x", "invalid syslog server");
    parse_fails("syslog:server=127.0.0.1:", "invalid syslog server");
    parse_fails("syslog:server=256.0.0.1", "invalid syslog server");
    parse_fails("syslog:server=[::1", "invalid syslog server");
    parse_fails("syslog:server=[::1]x", "invalid syslog server");
    parse_fails("syslog:server=[127.0.0.1]:514", "invalid syslog server");
    parse_fails("syslog:server=[]", "invalid syslog server");
    parse_fails("syslog:server=unix:", "invalid syslog server");
    parse_fails("syslog:server=unix:relative/log", "invalid syslog server");
    parse_fails("syslog:server=unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaa", "invalid syslog server");
    parse_fails("sislog:server=127.0.0.1", "must start with");
}
END_TEST

START_TEST(test_is_spec)
{
    struct sl_str a = sl_string("syslog:server=x");
    struct sl_str b = sl_string("/var/log/syslog");
    struct sl_str c = sl_string("syslog");

    ck_assert(sl_syslog_is_spec(&a));
    ck_assert(!sl_syslog_is_spec(&b));
    ck_assert(!sl_syslog_is_spec(&c));
}
END_TEST

START_TEST(test_header)
{
    struct sl_syslog_peer peer;
    char err[256], buf[256];
    time_t t;
    size_t n;

    setenv("TZ", "UTC", 1);
    tzset();
    ck_assert_int_eq(parse("syslog:server=127.0.0.1,facility=local3,"
                           "tag=sltest", &peer, err, sizeof(err)), SL_OK);
    /* 2026-11-28 10:00:00 UTC */
    t = 1795860000;
    n = sl_syslog_header(buf, sizeof(buf), &peer, 3, t, "web1");
    /* local3 (19) * 8 + error (3) */
    ck_assert_str_eq(buf, "<155>Nov 28 10:00:00 web1 sltest: ");
    ck_assert_uint_eq(n, strlen(buf));

    /* A one-digit day is padded with a space; nohostname. */
    peer.nohostname = 1;
    t = 1794128705;                 /* 2026-11-08 09:05:05 UTC */
    n = sl_syslog_header(buf, sizeof(buf), &peer, 5, t, "web1");
    ck_assert_str_eq(buf, "<157>Nov  8 09:05:05 sltest: ");
    ck_assert_uint_eq(n, strlen(buf));

    /* Defaults: local7, tag sluice; emerg 0 and debug 7 at the ends. */
    ck_assert_int_eq(parse("syslog:server=127.0.0.1", &peer, err,
                           sizeof(err)), SL_OK);
    t = 1767225599;                 /* 2025-12-31 23:59:59 UTC */
    sl_syslog_header(buf, sizeof(buf), &peer, 0, t, "h");
    ck_assert_str_eq(buf, "<184>Dec 31 23:59:59 h sluice: ");
    sl_syslog_header(buf, sizeof(buf), &peer, 7, t, "h");
    ck_assert_str_eq(buf, "<191>Dec 31 23:59:59 h sluice: ");
    sl_syslog_header(buf, sizeof(buf), &peer, peer.severity, t, NULL);
    ck_assert_str_eq(buf, "<190>Dec 31 23:59:59 sluice: ");

    /* kern.emerg is <0>. */
    ck_assert_int_eq(parse("syslog:server=127.0.0.1,facility=kern,tag=k",
                           &peer, err, sizeof(err)), SL_OK);
    t = 1767225600;                 /* 2026-01-01 00:00:00 UTC */
    sl_syslog_header(buf, sizeof(buf), &peer, 0, t, "h");
    ck_assert_str_eq(buf, "<0>Jan  1 00:00:00 h k: ");

    /* Truncated to the buffer, NUL-terminated. */
    n = sl_syslog_header(buf, 8, &peer, 0, t, "h");
    ck_assert_uint_eq(n, 7);
    ck_assert_str_eq(buf, "<0>Jan ");
}
END_TEST

START_TEST(test_hostname)
{
    const char *h = sl_syslog_hostname();

    ck_assert_ptr_nonnull(h);
    ck_assert_uint_gt(strlen(h), 0);
    ck_assert_ptr_null(strchr(h, '.'));
    ck_assert_ptr_null(strchr(h, ' '));
}
END_TEST

/* A round trip through a socketpair-like receiver: one datagram. */
START_TEST(test_send_unix)
{
    struct sl_syslog_peer peer;
    char err[256], path[64], spec[128], buf[512];
    struct sockaddr_un sa;
    ssize_t n;
    int rfd;

    snprintf(path, sizeof(path), "/tmp/check_syslog.%d.sock", (int) getpid());
    unlink(path);
    rfd = socket(AF_UNIX, SOCK_DGRAM, 0);
    ck_assert_int_ne(rfd, -1);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ck_assert_int_eq(bind(rfd, (struct sockaddr *) &sa, sizeof(sa)), 0);

    snprintf(spec, sizeof(spec), "syslog:server=unix:%s,tag=t,nohostname",
             path);
    ck_assert_int_eq(parse(spec, &peer, err, sizeof(err)), SL_OK);
    ck_assert_int_eq(sl_syslog_open(&peer), SL_OK);
    ck_assert_int_ne(peer.fd, -1);
    ck_assert_int_eq(peer.connected, 1);
    ck_assert_int_eq(sl_syslog_send(&peer, 4, "hello", 5), SL_OK);
    n = recv(rfd, buf, sizeof(buf) - 1, 0);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    /* local7 (23) * 8 + warn (4) = 188 */
    ck_assert_msg(strncmp(buf, "<188>", 5) == 0, "got \"%s\"", buf);
    ck_assert_msg(strstr(buf, " t: hello") != NULL
                  && buf[n - 1] == 'o', "got \"%s\"", buf);

    /* The receiver goes away: dropped, counted, no blocking. */
    close(rfd);
    unlink(path);
    ck_assert_int_eq(sl_syslog_send(&peer, 4, "lost", 4), SL_ERROR);
    ck_assert_int_eq(sl_syslog_send(&peer, 4, "lost", 4), SL_ERROR);
    ck_assert_uint_eq(peer.drops_total, 2);
    sl_syslog_close(&peer);
    ck_assert_int_eq(peer.fd, -1);
}
END_TEST

static Suite *
syslog_suite(void)
{
    Suite *s = suite_create("syslog");
    TCase *tc = tcase_create("syslog");

    tcase_add_test(tc, test_parse_defaults);
    tcase_add_test(tc, test_parse_addresses);
    tcase_add_test(tc, test_parse_parameters);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_is_spec);
    tcase_add_test(tc, test_header);
    tcase_add_test(tc, test_hostname);
    tcase_add_test(tc, test_send_unix);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(syslog_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
