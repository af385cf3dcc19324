/*
 * check_cache_store.c: unit tests of src/cache/sl_cache_store.c.
 * (being written)
 */
#include "sl_core.h"
#include <check.h>

START_TEST(test_placeholder_store)
{
    ck_assert_int_eq(1, 1);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("cache_store");
    TCase *tc = tcase_create("all");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_placeholder_store);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
