/* Unit tests for core/imap.c: the parts that need no server (quoting, modified UTF-7).
 * The connection itself is exercised against a real Dovecot in tests/integration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "imap.h"

static void test_quote(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(mv_imap_quote("INBOX", buf, sizeof buf), 7);
    assert_string_equal(buf, "\"INBOX\"");
    assert_int_equal(mv_imap_quote("a \"b\" \\c", buf, sizeof buf), 13);
    assert_string_equal(buf, "\"a \\\"b\\\" \\\\c\"");
    assert_int_equal(mv_imap_quote("", buf, sizeof buf), 2);
    assert_string_equal(buf, "\"\"");
    /* IMAP cannot quote line ends: such a name must never reach the wire. */
    assert_int_equal(mv_imap_quote("evil\r\nA1 DELETE INBOX", buf, sizeof buf), -1);
    assert_int_equal(mv_imap_quote("toolongforthebuffer", buf, 8), -1);
}

static void roundtrip(const char *utf8, const char *utf7)
{
    char a[256], b[256];
    assert_int_equal(mv_imap_utf7_encode(utf8, a, sizeof a), (int)strlen(utf7));
    assert_string_equal(a, utf7);
    assert_int_equal(mv_imap_utf7_decode(utf7, b, sizeof b), (int)strlen(utf8));
    assert_string_equal(b, utf8);
}

static void test_utf7_roundtrips(void **state)
{
    (void)state;
    roundtrip("INBOX", "INBOX");
    roundtrip("Entw\xc3\xbcrfe", "Entw&APw-rfe");                /* Entwürfe */
    roundtrip("Tom & Jerry", "Tom &- Jerry");
    roundtrip("\xe5\x8f\xb0\xe5\x8c\x97", "&U,BTFw-");           /* 台北, RFC 3501 */
    roundtrip("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
              "~peter/mail/&U,BTFw-/&ZeVnLIqe-");                  /* RFC 3501 example */
    roundtrip("\xc4\x90\xc3\xa0 N\xe1\xba\xb5ng", "&ARAA4A- N&HrU-ng"); /* Đà Nẵng */
    roundtrip("\xf0\x9f\x93\xa7 mail", "&2D3c5w- mail");          /* an astral character */
    roundtrip("[Gmail]/Sent Mail", "[Gmail]/Sent Mail");
}

static void test_utf7_rejects_invalid(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(mv_imap_utf7_decode("&", out, sizeof out), -1);       /* unterminated */
    assert_int_equal(mv_imap_utf7_decode("&U,BTFw", out, sizeof out), -1); /* no '-' */
    assert_int_equal(mv_imap_utf7_decode("&AGE-", out, sizeof out), -1);   /* encoded ASCII 'a' */
    assert_int_equal(mv_imap_utf7_decode("&2D0-", out, sizeof out), -1);   /* lone surrogate */
    assert_int_equal(mv_imap_utf7_decode("&!!-", out, sizeof out), -1);    /* not base64 */
    assert_int_equal(mv_imap_utf7_decode("caf\xc3\xa9", out, sizeof out), -1); /* raw 8-bit */
    assert_int_equal(mv_imap_utf7_encode("bad \xff byte", out, sizeof out), -1);
    assert_int_equal(mv_imap_utf7_decode("INBOX", out, 3), -1);            /* too small */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_utf7_roundtrips),
        cmocka_unit_test(test_utf7_rejects_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
