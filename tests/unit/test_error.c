/* Unit tests for core/error.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "error.h"

static void test_first_message_wins(void **state)
{
    (void)state;
    mv_error e = {0};
    assert_int_equal(mv_error_set(&e, MV_ERR_INPUT, "inner %s", "file.eml"), MV_ERR_INPUT);
    assert_int_equal(mv_error_set(&e, MV_ERR_ARCHIVE, "outer"), MV_ERR_ARCHIVE);
    assert_int_equal(e.status, MV_ERR_INPUT);
    assert_string_equal(e.msg, "inner file.eml");
    assert_int_equal(mv_error_reset(&e, MV_ERR_ARCHIVE, "replaced"), MV_ERR_ARCHIVE);
    assert_string_equal(e.msg, "replaced");
    mv_error_clear(&e);
    assert_int_equal(e.status, MV_OK);
    assert_string_equal(e.msg, "");
}

static void test_one_line(void **state)
{
    (void)state;
    mv_error e = {0};
    /* A server or a file name must not be able to forge extra log lines. */
    mv_error_set(&e, MV_ERR_PROTOCOL, "bad: %s", "evil\r\nmailvault: all good");
    assert_null(strchr(e.msg, '\n'));
    assert_null(strchr(e.msg, '\r'));
    assert_string_equal(e.msg, "bad: evil  mailvault: all good");
}

static void test_truncation_and_null(void **state)
{
    (void)state;
    mv_error e = {0};
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mv_error_set(&e, MV_ERR_IO, "%s", big);
    assert_int_equal(strlen(e.msg), MV_ERROR_MSG_MAX - 1);
    /* A NULL context is allowed: the status still comes back. */
    assert_int_equal(mv_error_set(NULL, MV_ERR_FULL, "x"), MV_ERR_FULL);
    /* MV_OK records nothing. */
    mv_error_clear(&e);
    assert_int_equal(mv_error_set(&e, MV_OK, "nothing"), MV_OK);
    assert_string_equal(e.msg, "");
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(mv_status_name(MV_OK), "ok");
    assert_string_equal(mv_status_name(MV_ERR_LOCKED), "locked");
    assert_string_equal(mv_status_name(MV_ERR_AUTH), "auth");
    assert_string_equal(mv_status_name(MV_ERR_PARTIAL), "partial");
    assert_string_equal(mv_status_name((mv_status)999), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_message_wins),
        cmocka_unit_test(test_one_line),
        cmocka_unit_test(test_truncation_and_null),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
