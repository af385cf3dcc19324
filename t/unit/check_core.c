/*
 * check_core.c: unit tests of the core helpers and of pure HTTP helpers.
 */
#include "sl_core.h"
#include "sl_http.h"

#include <check.h>

START_TEST(test_pool_alloc)
{
    struct sl_pool *p = sl_pool_create(SL_POOL_DEFAULT_SIZE);
    char *a, *b, *big;
    int i;

    ck_assert_ptr_nonnull(p);
    for (i = 0; i < 1000; i++) {
        a = sl_palloc(p, 100);
        ck_assert_ptr_nonnull(a);
        ck_assert_uint_eq((uintptr_t) a % 16, 0);
        memset(a, 'x', 100);
    }
    big = sl_palloc(p, 100000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'y', 100000);
    ck_assert_int_eq(sl_pfree(p, big), SL_OK);
    b = sl_pnalloc(p, 3);
    ck_assert_ptr_nonnull(b);
    sl_pool_reset(p);
    a = sl_pcalloc(p, 64);
    ck_assert_ptr_nonnull(a);
    for (i = 0; i < 64; i++)
        ck_assert_int_eq(a[i], 0);
    sl_pool_destroy(p);
}
END_TEST

static int cleanup_runs;

static void
count_cleanup(void *data)
{
    cleanup_runs += *(int *) data;
}

START_TEST(test_pool_cleanup_order)
{
    struct sl_pool *p = sl_pool_create(1024);
    static int one = 1, ten = 10;

    cleanup_runs = 0;
    ck_assert_ptr_nonnull(sl_pool_cleanup_add(p, count_cleanup, &one));
    ck_assert_ptr_nonnull(sl_pool_cleanup_add(p, count_cleanup, &ten));
    sl_pool_destroy(p);
    ck_assert_int_eq(cleanup_runs, 11);
}
END_TEST

START_TEST(test_array)
{
    struct sl_pool *p = sl_pool_create(1024);
    struct sl_array *a = sl_array_create(p, 1, sizeof(int));
    int *e, i;

    for (i = 0; i < 100; i++) {
        e = sl_array_push(a);
        ck_assert_ptr_nonnull(e);
        *e = i;
    }
    ck_assert_uint_eq(a->nelts, 100);
    for (i = 0; i < 100; i++)
        ck_assert_int_eq(*sl_array_at(a, int, i), i);
    sl_pool_destroy(p);
}
END_TEST

START_TEST(test_atoi)
{
    ck_assert_int_eq(sl_atoi("0", 1), 0);
    ck_assert_int_eq(sl_atoi("12345", 5), 12345);
    ck_assert_int_eq(sl_atoi("", 0), -1);
    ck_assert_int_eq(sl_atoi("12a", 3), -1);
    ck_assert_int_eq(sl_atoi("-1", 2), -1);
    ck_assert_int_eq(sl_atoi("99999999999999999999", 20), -1);
    ck_assert_int_eq(sl_hextoi("ff", 2), 255);
    ck_assert_int_eq(sl_hextoi("1g", 2), -1);
}
END_TEST

START_TEST(test_json_escape)
{
    char buf[64], *p;

    p = sl_json_escape(buf, buf + sizeof(buf), "a\"b\\c\n\x01", 7);
    *p = '\0';
    ck_assert_str_eq(buf, "a\\\"b\\\\c\\u000a\\u0001");
}
END_TEST

static const char *
norm(const char *in, char *out)
{
    size_t n;

    if (sl_http_normalize_uri(in, strlen(in), out, &n) != SL_OK)
        return "ERROR";
    out[n] = '\0';
    return out;
}

START_TEST(test_normalize_uri)
{
    char out[256];

    ck_assert_str_eq(norm("/", out), "/");
    ck_assert_str_eq(norm("/a/b", out), "/a/b");
    ck_assert_str_eq(norm("//a///b", out), "/a/b");
    ck_assert_str_eq(norm("/a/./b", out), "/a/b");
    ck_assert_str_eq(norm("/a/../b", out), "/b");
    ck_assert_str_eq(norm("/a/b/..", out), "/a/");
    ck_assert_str_eq(norm("/a/.", out), "/a/");
    ck_assert_str_eq(norm("/%61dmin", out), "/admin");
    ck_assert_str_eq(norm("/a%2F..%2Fb", out), "/b");
    ck_assert_str_eq(norm("/..", out), "ERROR");
    ck_assert_str_eq(norm("/a/../..", out), "ERROR");
    ck_assert_str_eq(norm("/%00", out), "ERROR");
    ck_assert_str_eq(norm("/%zz", out), "ERROR");
    ck_assert_str_eq(norm("/%4", out), "ERROR");
    ck_assert_str_eq(norm("a", out), "ERROR");
    ck_assert_str_eq(norm("/a..b/", out), "/a..b/");
    ck_assert_str_eq(norm("/.a", out), "/.a");
}
END_TEST

START_TEST(test_sockaddr_parse)
{
    union sl_sockaddr sa;
    struct sl_str s;
    socklen_t len;
    char buf[64];

    sl_str_set(&s, "127.0.0.1:8080");
    ck_assert_int_eq(sl_sockaddr_parse(&s, &sa, &len), SL_OK);
    sl_sockaddr_ntop(&sa.sa, buf, sizeof(buf), 1);
    ck_assert_str_eq(buf, "127.0.0.1:8080");
    sl_str_set(&s, "8080");
    ck_assert_int_eq(sl_sockaddr_parse(&s, &sa, &len), SL_OK);
    sl_sockaddr_ntop(&sa.sa, buf, sizeof(buf), 1);
    ck_assert_str_eq(buf, "0.0.0.0:8080");
    sl_str_set(&s, "[::1]:80");
    ck_assert_int_eq(sl_sockaddr_parse(&s, &sa, &len), SL_OK);
    sl_sockaddr_ntop(&sa.sa, buf, sizeof(buf), 1);
    ck_assert_str_eq(buf, "[::1]:80");
    sl_str_set(&s, "*:81");
    ck_assert_int_eq(sl_sockaddr_parse(&s, &sa, &len), SL_OK);
    sl_str_set(&s, "1.2.3.4:0");
    ck_assert_int_eq(sl_sockaddr_parse(&s, &sa, &len), SL_ERROR);
    sl_str_set(&s, "1.2.3.4:65536");
    ck_assert_int_eq(sl_sockaddr_parse(&s, &sa, &len), SL_ERROR);
    sl_str_set(&s, "300.1.1.1:80");
    ck_assert_int_eq(sl_sockaddr_parse(&s, &sa, &len), SL_ERROR);
    sl_str_set(&s, "[::1:80");
    ck_assert_int_eq(sl_sockaddr_parse(&s, &sa, &len), SL_ERROR);
}
END_TEST

static int fired[8];

static void
timer_handler(struct sl_event *ev)
{
    fired[(uintptr_t) ev->data]++;
}

START_TEST(test_timers)
{
    struct sl_event ev[8];
    unsigned i;

    ck_assert_int_eq(sl_event_init(16), SL_OK);
    sl_time_update();
    memset(ev, 0, sizeof(ev));
    memset(fired, 0, sizeof(fired));
    for (i = 0; i < 8; i++) {
        ev[i].data = (void *) (uintptr_t) i;
        ev[i].handler = timer_handler;
        sl_event_add_timer(&ev[i], i % 2 ? 100000 : 1);
    }
    ck_assert_uint_eq(sl_event_timers(), 8);
    sl_event_del_timer(&ev[2]);
    ck_assert_uint_eq(sl_event_timers(), 7);
    usleep(5000);
    sl_event_process(10);
    for (i = 0; i < 8; i++)
        ck_assert_int_eq(fired[i], (i % 2 == 0 && i != 2) ? 1 : 0);
    ck_assert_uint_eq(sl_event_timers(), 4);
    for (i = 0; i < 8; i++)
        sl_event_del_timer(&ev[i]);
    ck_assert_uint_eq(sl_event_timers(), 0);
    sl_event_done();
}
END_TEST

/* A directive name must be unique within each context it is allowed in. */
START_TEST(test_directives_unique)
{
    const struct sl_conf_cmd *a, *b;
    unsigned i, j, n = 0;

    for (i = 0; i < sl_nmodules; i++) {
        for (a = sl_modules[i]->cmds; a != NULL && a->name != NULL; a++) {
            n++;
            ck_assert_msg(a->set != NULL, "\"%s\" has no handler", a->name);
            ck_assert_msg(a->type & SL_CONF_CTX_MASK,
                          "\"%s\" has no context", a->name);
            for (j = i; j < sl_nmodules; j++) {
                for (b = j == i ? a + 1 : sl_modules[j]->cmds;
                     b != NULL && b->name != NULL; b++)
                {
                    /* The same name may serve different contexts. */
                    ck_assert_msg(strcmp(a->name, b->name) != 0
                                  || !(a->type & b->type & SL_CONF_CTX_MASK),
                                  "directive \"%s\" declared twice for one "
                                  "context", a->name);
                }
            }
        }
    }
    ck_assert_uint_gt(n, 20);
}
END_TEST

static Suite *
core_suite(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_pool_alloc);
    tcase_add_test(tc, test_pool_cleanup_order);
    tcase_add_test(tc, test_array);
    tcase_add_test(tc, test_atoi);
    tcase_add_test(tc, test_json_escape);
    tcase_add_test(tc, test_normalize_uri);
    tcase_add_test(tc, test_sockaddr_parse);
    tcase_add_test(tc, test_timers);
    tcase_add_test(tc, test_directives_unique);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(core_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
