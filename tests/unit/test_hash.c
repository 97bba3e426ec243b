/* Unit tests for core/hash.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "hash.h"

static void test_known_vectors(void **state)
{
    (void)state;
    unsigned char d[MV_SHA256_LEN];
    char hex[MV_SHA256_HEX_LEN + 1];
    mv_hash_sha256("", 0, d);
    mv_hash_hex(d, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    mv_hash_sha256("abc", 3, d);
    mv_hash_hex(d, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_streaming_equals_one_shot(void **state)
{
    (void)state;
    const char *text = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    unsigned char a[MV_SHA256_LEN], b[MV_SHA256_LEN];
    mv_hash *h = mv_hash_new();
    assert_non_null(h);
    for (size_t i = 0; i < strlen(text); i += 5)
        mv_hash_update(h, text + i, strlen(text) - i < 5 ? strlen(text) - i : 5);
    mv_hash_final(h, a);
    mv_hash_sha256(text, strlen(text), b);
    assert_memory_equal(a, b, MV_SHA256_LEN);
    char hex[MV_SHA256_HEX_LEN + 1];
    mv_hash_hex(a, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* final() resets: the handle can hash the next message. */
    mv_hash_update(h, "abc", 3);
    mv_hash_final(h, a);
    mv_hash_sha256("abc", 3, b);
    assert_memory_equal(a, b, MV_SHA256_LEN);
    mv_hash_free(h);
}

static void test_unhex(void **state)
{
    (void)state;
    unsigned char out[MV_SHA256_LEN] = {0};
    assert_int_equal(mv_hash_unhex("ba7816bF", out, sizeof out), 8);
    assert_int_equal(out[0], 0xba);
    assert_int_equal(out[3], 0xbf);
    assert_int_equal(mv_hash_unhex("abc", out, sizeof out), 3);
    assert_int_equal(out[1], 0xc0);
    assert_int_equal(mv_hash_unhex("xyz", out, sizeof out), 0);
    char big[70];
    memset(big, 'a', 66);
    big[66] = '\0';
    assert_int_equal(mv_hash_unhex(big, out, sizeof out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_streaming_equals_one_shot),
        cmocka_unit_test(test_unhex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
