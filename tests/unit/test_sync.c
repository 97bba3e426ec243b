/* Unit tests for core/sync.c helpers; the engine itself runs against a real Dovecot in
 * tests/integration/imap_sync.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sync.h"

static void test_canonical_flags(void **state)
{
    (void)state;
    char out[256];
    const char *a[] = {"\\Seen", "$Label1", "\\Recent", "\\Answered", "\\flagged", "$Forwarded",
                       "$Label1"};
    assert_int_equal(mv_sync_canonical_flags(a, 7, out, sizeof out),
                     (int)strlen("\\Answered \\Flagged \\Seen $Forwarded $Label1"));
    /* System flags in the archive's fixed order (as import writes them), \Recent dropped,
     * keywords sorted and deduplicated, case of system flags normalised. */
    assert_string_equal(out, "\\Answered \\Flagged \\Seen $Forwarded $Label1");
    assert_int_equal(mv_sync_canonical_flags(NULL, 0, out, sizeof out), 0);
    assert_string_equal(out, "");
    const char *b[] = {"\\Draft", "\\Deleted"};
    mv_sync_canonical_flags(b, 2, out, sizeof out);
    assert_string_equal(out, "\\Deleted \\Draft");
    assert_int_equal(mv_sync_canonical_flags(a, 7, out, 10), -1);
}

static void test_internaldate(void **state)
{
    (void)state;
    assert_int_equal(mv_sync_parse_internaldate("17-Jul-1996 02:44:25 -0700"), 837596665);
    assert_int_equal(mv_sync_parse_internaldate(" 1-Jan-2000 00:00:00 +0000"), 946684800);
    assert_int_equal(mv_sync_parse_internaldate("29-Feb-2024 23:59:59 +0530"), 1709231399);
    assert_int_equal(mv_sync_parse_internaldate("01-Jan-1970 00:00:00 +0000"), 0);
    assert_int_equal(mv_sync_parse_internaldate("17-Foo-1996 02:44:25 -0700"), -1);
    assert_int_equal(mv_sync_parse_internaldate("17-Jul-1996 25:44:25 -0700"), -1);
    assert_int_equal(mv_sync_parse_internaldate("garbage"), -1);
    assert_int_equal(mv_sync_parse_internaldate(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_flags),
        cmocka_unit_test(test_internaldate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
