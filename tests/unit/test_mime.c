/* Unit tests for core/mime: header summaries decoded by GMime. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime.h"

/* Strict UTF-8 check written here rather than borrowed from GLib, so the test does not share a
 * possible blind spot with the implementation: no overlongs, no surrogates, nothing past
 * U+10FFFF. */
static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        size_t n;
        unsigned min, cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, min = 0x80, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, min = 0x800, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* Every promise the header makes about output strings: valid UTF-8, no C0/DEL/C1 controls
 * (this implementation does not emit tab either), no doubled or edge spaces, never empty. */
static void assert_clean(const char *s)
{
    if (s == NULL)
        return;
    const unsigned char *u = (const unsigned char *)s;
    assert_true(utf8_valid(u));
    assert_true(u[0] != '\0');
    assert_true(u[0] != ' ');
    assert_true(u[strlen(s) - 1] != ' ');
    for (size_t i = 0; u[i]; i++) {
        assert_false(u[i] < 0x20 || u[i] == 0x7f);
        assert_false(u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f);
        assert_false(u[i] == ' ' && u[i + 1] == ' ');
    }
}

static void summarize_n(const char *buf, size_t len, mv_mime_summary *s)
{
    mv_error err = {0};
    assert_int_equal(mv_mime_summarize(buf, len, s, &err), MV_OK);
    assert_int_equal(err.status, MV_OK);
    assert_clean(s->from);
    assert_clean(s->to);
    assert_clean(s->subject);
    assert_clean(s->message_id);
}

static void summarize(const char *text, mv_mime_summary *s)
{
    summarize_n(text, strlen(text), s);
}

static void assert_all_absent(const mv_mime_summary *s)
{
    assert_int_equal(s->date, -1);
    assert_null(s->from);
    assert_null(s->to);
    assert_null(s->subject);
    assert_null(s->message_id);
}

static void test_plain_ascii(void **state)
{
    (void)state;
    mv_mime_summary s;
    summarize("Return-Path: <alice@example.org>\n"
              "Received: from mx.example.org by mail.example.com;\n"
              "\tSubject: a continuation line, not a field\n"
              "X-Subject: not the subject\n"
              "Subject-Extra: not the subject either\n"
              "Date: Tue, 1 Jul 2003 10:52:37 +0200\n"
              "From: Alice Example <alice@example.org>\n"
              "To: bob@example.com\n"
              "Subject: Quarterly report\n"
              "Message-ID: <1234.5678@mail.example.org>\n"
              "\n"
              "Subject: this line is body and must be ignored\n",
              &s);
    assert_int_equal(s.date, 1057049557);
    assert_string_equal(s.from, "Alice Example <alice@example.org>");
    assert_string_equal(s.to, "bob@example.com");
    assert_string_equal(s.subject, "Quarterly report");
    assert_string_equal(s.message_id, "1234.5678@mail.example.org");
    mv_mime_summary_free(&s);
    assert_null(s.subject);
}

static void test_folded_subject(void **state)
{
    (void)state;
    mv_mime_summary s;
    summarize("Subject: This is a\n"
              "   long subject\n"
              "\tfolded twice  \n"
              "From: a@example.org\n\n",
              &s);
    assert_string_equal(s.subject, "This is a long subject folded twice");
    assert_string_equal(s.from, "a@example.org");
    mv_mime_summary_free(&s);
}

static void test_rfc2047_utf8_vietnamese(void **state)
{
    (void)state;
    mv_mime_summary s;
    summarize("From: =?utf-8?b?Tmd1eeG7hW4gVsSDbiBB?= <a@example.vn>\n"
              "Subject: =?UTF-8?B?xJDDoCBO4bq1bmc=?=\n\n",
              &s);
    assert_string_equal(s.subject, "\xc4\x90\xc3\xa0 N\xe1\xba\xb5ng"); /* Đà Nẵng */
    assert_string_equal(s.from, "Nguy\xe1\xbb\x85n V\xc4\x83n A <a@example.vn>");
    mv_mime_summary_free(&s);
}

static void test_rfc2047_iso2022jp(void **state)
{
    (void)state;
    mv_mime_summary s;
    /* Python: Header("会議の議事録", "iso-2022-jp").encode() */
    summarize("Subject: =?iso-2022-jp?b?GyRCMnE1RCRONUQ7dk8/GyhC?=\n\n", &s);
    assert_string_equal(s.subject, "\xe4\xbc\x9a\xe8\xad\xb0\xe3\x81\xae"
                                   "\xe8\xad\xb0\xe4\xba\x8b\xe9\x8c\xb2");
    mv_mime_summary_free(&s);
}

static void test_rfc2047_koi8r(void **state)
{
    (void)state;
    mv_mime_summary s;
    /* Python: Header("Привет, мир", "koi8-r").encode() */
    summarize("Subject: =?koi8-r?b?8NLJ18XULCDNydI=?=\n\n", &s);
    assert_string_equal(s.subject, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, "
                                   "\xd0\xbc\xd0\xb8\xd1\x80");
    mv_mime_summary_free(&s);
}

static void test_rfc2047_latin1_q(void **state)
{
    (void)state;
    mv_mime_summary s;
    summarize("From: =?ISO-8859-1?Q?Andr=E9?= Dupont <andre@example.fr>\n"
              "Subject: =?iso-8859-1?q?Caf=E9_cr=E8me?=\n\n",
              &s);
    assert_string_equal(s.subject, "Caf\xc3\xa9 cr\xc3\xa8me");
    assert_string_equal(s.from, "Andr\xc3\xa9 Dupont <andre@example.fr>");
    mv_mime_summary_free(&s);
}

static void test_rfc2047_sloppy(void **state)
{
    (void)state;
    mv_mime_summary s;
    /* Encoded words glued to text and split mid-word: not RFC 2047, but common. */
    summarize("Subject: Re:=?utf-8?q?_caf=C3=A9?=s\n\n", &s);
    assert_string_equal(s.subject, "Re: caf\xc3\xa9s");
    mv_mime_summary_free(&s);
}

static void test_unknown_charset(void **state)
{
    (void)state;
    mv_mime_summary s;
    summarize("Subject: =?x-no-such-charset?Q?caf=E9?= ok\n"
              "To: =?x-bogus?B?SGVsbG8=?= <h@example.org>\n\n",
              &s);
    /* The bytes are not lost: they fall back to the 8-bit charsets. */
    assert_string_equal(s.subject, "caf\xc3\xa9 ok");
    assert_string_equal(s.to, "Hello <h@example.org>");
    mv_mime_summary_free(&s);
}

static void test_broken_encoded_bytes(void **state)
{
    (void)state;
    mv_mime_summary s;
    /* A UTF-8 word carrying 0xFF, and an ISO-2022-JP word cut off mid-sequence. */
    summarize("Subject: =?utf-8?b?Yf9i?=\n"
              "From: =?iso-2022-jp?b?GyRCMnE1?= <j@example.jp>\n\n",
              &s);
    assert_string_equal(s.subject, "a?b");
    assert_non_null(s.from);
    assert_memory_equal(s.from, "\xe4\xbc\x9a", 3); /* 会, the part that did decode */
    assert_non_null(strstr(s.from, " <j@example.jp>"));
    mv_mime_summary_free(&s);
}

static void test_raw_utf8(void **state)
{
    (void)state;
    mv_mime_summary s;
    summarize("From: Nguy\xe1\xbb\x85n V\xc4\x83n A <a@example.vn>\n"
              "Subject: \xc4\x90\xc3\xa0 N\xe1\xba\xb5ng \xe2\x80\x94 h\xe1\xbb\x8dp\n\n",
              &s);
    assert_string_equal(s.from, "Nguy\xe1\xbb\x85n V\xc4\x83n A <a@example.vn>");
    assert_string_equal(s.subject, "\xc4\x90\xc3\xa0 N\xe1\xba\xb5ng \xe2\x80\x94 h\xe1\xbb\x8dp");
    mv_mime_summary_free(&s);

    /* An internationalised domain stays readable, not punycode. */
    summarize("To: user@b\xc3\xbc"
              "cher.example\n\n",
              &s);
    assert_string_equal(s.to, "user@b\xc3\xbc"
                              "cher.example");
    mv_mime_summary_free(&s);
}

static void test_raw_latin1(void **state)
{
    (void)state;
    mv_mime_summary s;
    summarize("From: J\xf6rg M\xfcller <j@example.de>\n"
              "Subject: Caf\xe9 \x93quoted\x94 \x81odd\n\n",
              &s);
    assert_string_equal(s.from, "J\xc3\xb6rg M\xc3\xbcller <j@example.de>");
    /* Windows-1252 reading: 0x93/0x94 are curly quotes, 0x81 is unassigned. */
    assert_string_equal(s.subject, "Caf\xc3\xa9 \xe2\x80\x9cquoted\xe2\x80\x9d ?odd");
    mv_mime_summary_free(&s);
}

static void test_missing_headers(void **state)
{
    (void)state;
    mv_mime_summary s;
    summarize("X-Mailer: something\nReceived: from a by b\n\nbody\n", &s);
    assert_all_absent(&s);
    mv_mime_summary_free(&s);

    /* Present but empty (or blank after cleaning) is the same as absent. */
    summarize("From:\nTo:   \nSubject: \t \nMessage-ID: <>\nDate:\n\n", &s);
    assert_all_absent(&s);
    mv_mime_summary_free(&s);
}

static void test_date_offsets(void **state)
{
    (void)state;
    static const struct {
        const char *date;
        int64_t epoch;
    } cases[] = {
        {"Tue, 1 Jul 2003 10:52:37 +0200", 1057049557},
        {"Mon, 15 Jan 2024 09:30:00 -0800", 1705339800},
        {"Sat, 29 Feb 2020 23:59:59 +0530", 1583000999},
        {"Thu, 01 Jan 1970 00:00:00 +0000", 0},
        {"Fri, 31 Dec 2021 22:00:00 -1200", 1641031200},
        {"Wed, 12 Mar 2025 08:00:00 GMT", 1741766400},
        {"Sun, 6 Nov 1994 08:49:37 EST", 784129777},
        {"Tue, 19 Jan 2038 03:14:08 +0000", 2147483648LL},
        {"1 Jul 2003 10:52:37 +0200 (CEST)", 1057049557},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "Date: %s\n\n", cases[i].date);
        mv_mime_summary s;
        summarize(buf, &s);
        assert_int_equal(s.date, cases[i].epoch);
        mv_mime_summary_free(&s);
    }
}

static void test_invalid_date(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "Date: not a date\n\n",
        "Date: yesterday at noon\n\n",
        "Date: \xff\xfe\n\n",
        "Date: 45 Foo 2020 99:99:99 +9999\n\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mv_mime_summary s;
        summarize(cases[i], &s);
        assert_int_equal(s.date, -1);
        mv_mime_summary_free(&s);
    }
}

static void test_message_id(void **state)
{
    (void)state;
    mv_mime_summary s;
    summarize("Message-ID: <abc.123@example.org>\n\n", &s);
    assert_string_equal(s.message_id, "abc.123@example.org");
    mv_mime_summary_free(&s);

    summarize("Message-Id: abc.123@example.org\n\n", &s);
    assert_string_equal(s.message_id, "abc.123@example.org");
    mv_mime_summary_free(&s);

    summarize("MESSAGE-ID:\n  <folded@example.org>\n\n", &s);
    assert_string_equal(s.message_id, "folded@example.org");
    mv_mime_summary_free(&s);

    summarize("Message-ID: <c@example.org> (a comment)\n\n", &s);
    assert_string_equal(s.message_id, "c@example.org");
    mv_mime_summary_free(&s);
}

static void test_crlf(void **state)
{
    (void)state;
    static const char msg[] = "Date: Mon, 15 Jan 2024 09:30:00 -0800\r\n"
                              "From: \"Carol\" <carol@example.com>\r\n"
                              "To: dave@example.com\r\n"
                              "Subject: line one\r\n"
                              " line two\r\n"
                              "Message-ID: <crlf@example.com>\r\n"
                              "\r\n"
                              "body\r\n";
    assert_int_equal(mv_mime_header_length(msg, sizeof msg - 1), strstr(msg, "body") - msg);

    mv_mime_summary s;
    summarize(msg, &s);
    assert_int_equal(s.date, 1705339800);
    assert_string_equal(s.from, "Carol <carol@example.com>");
    assert_string_equal(s.to, "dave@example.com");
    assert_string_equal(s.subject, "line one line two");
    assert_string_equal(s.message_id, "crlf@example.com");
    mv_mime_summary_free(&s);
}

static void test_multiple_to(void **state)
{
    (void)state;
    mv_mime_summary s;
    summarize("To: a@example.org, \"Smith, B.\" <b@example.org>,\n"
              "  =?utf-8?q?Ch=C3=A2u?= <c@example.org>\n\n",
              &s);
    assert_string_equal(s.to, "a@example.org, \"Smith, B.\" <b@example.org>, "
                              "Ch\xc3\xa2u <c@example.org>");
    mv_mime_summary_free(&s);

    /* Two To: fields (seen in the wild) are one list. */
    summarize("To: a@example.org\nTo: d@example.org\n\n", &s);
    assert_string_equal(s.to, "a@example.org, d@example.org");
    mv_mime_summary_free(&s);

    summarize("To: undisclosed-recipients:;\n\n", &s);
    assert_string_equal(s.to, "undisclosed-recipients: ;");
    mv_mime_summary_free(&s);

    summarize("To: team: a@example.org, \"Lee, K\" <k@example.org>;, z@example.org\n\n", &s);
    assert_string_equal(s.to, "team: a@example.org, \"Lee, K\" <k@example.org>;, z@example.org");
    mv_mime_summary_free(&s);

    /* Entries without an address leave no stray separators. */
    summarize("To: <>, \"\" <x@example.org>\n\n", &s);
    assert_string_equal(s.to, "x@example.org");
    mv_mime_summary_free(&s);
}

static void test_unparsable_address(void **state)
{
    (void)state;
    mv_mime_summary s;
    /* No address at all: the decoded text is kept rather than dropped. */
    summarize("From: Mail Delivery System\n\n", &s);
    assert_string_equal(s.from, "Mail Delivery System");
    mv_mime_summary_free(&s);
}

static void test_malformed_line_inside_headers(void **state)
{
    (void)state;
    mv_mime_summary s;
    /* A line without a colon (a fold that lost its indent) must not lose the rest. */
    summarize("Subject: first half\nsecond half\nFrom: after@example.org\n\n", &s);
    assert_string_equal(s.subject, "first half");
    assert_string_equal(s.from, "after@example.org");
    mv_mime_summary_free(&s);
}

static void test_no_blank_line(void **state)
{
    (void)state;
    static const char unterminated[] = "Subject: no end\nFrom: e@example.org";
    assert_int_equal(mv_mime_header_length(unterminated, sizeof unterminated - 1),
                     sizeof unterminated - 1);

    mv_mime_summary s;
    summarize(unterminated, &s);
    assert_string_equal(s.subject, "no end");
    assert_string_equal(s.from, "e@example.org");
    mv_mime_summary_free(&s);

    summarize("From: e@example.org\nSubject: ends in newline\n", &s);
    assert_string_equal(s.subject, "ends in newline");
    assert_string_equal(s.from, "e@example.org");
    mv_mime_summary_free(&s);
}

static void test_empty_input(void **state)
{
    (void)state;
    mv_mime_summary s;
    /* Fields are set even when nothing is parsed: start them off as junk to prove it. */
    s.date = 42;
    s.from = s.to = s.subject = s.message_id = (char *)"junk";
    summarize_n(NULL, 0, &s);
    assert_all_absent(&s);
    mv_mime_summary_free(&s);

    summarize("", &s);
    assert_all_absent(&s);
    mv_mime_summary_free(&s);

    /* An empty header section: what follows the blank line is body, not headers. */
    summarize("\nSubject: body\n", &s);
    assert_all_absent(&s);
    mv_mime_summary_free(&s);
    summarize("\r\nSubject: body\r\n", &s);
    assert_all_absent(&s);
    mv_mime_summary_free(&s);

    /* Not mail at all. */
    summarize("just some text\nwithout any colon\n\n", &s);
    assert_all_absent(&s);
    mv_mime_summary_free(&s);

    mv_mime_summary_free(NULL);
}

static void test_embedded_nul(void **state)
{
    (void)state;
    static const char msg[] = "Subject: ab\0cd\nFrom: x\0y <xy@example.org>\n\0\n\nbody";
    mv_mime_summary s;
    summarize_n(msg, sizeof msg - 1, &s);
    assert_string_equal(s.subject, "ab cd");
    assert_string_equal(s.from, "x y <xy@example.org>");
    mv_mime_summary_free(&s);
}

static void test_control_characters(void **state)
{
    (void)state;
    mv_mime_summary s;
    /* Decoded CR, LF, tab, ESC, DEL and NEL (U+0085) must not reach a terminal or a log line. */
    summarize("Subject: =?UTF-8?Q?a=0D=0Ab=09c=1B[1md=7Fe=C2=85f?=\n"
              "From: raw\x01\x1b\x7f ctl <r@example.org>\n\n",
              &s);
    assert_string_equal(s.subject, "a b c [1md e f");
    assert_string_equal(s.from, "raw ctl <r@example.org>");
    mv_mime_summary_free(&s);

    /* Controls at the ends are trimmed, not turned into edge spaces. */
    summarize("Subject: =?utf-8?q?=0D=0A__x_=1B?=\n\n", &s);
    assert_string_equal(s.subject, "x");
    mv_mime_summary_free(&s);
}

static void test_long_header_line(void **state)
{
    (void)state;
    const size_t n = 200 * 1024;
    static const char prefix[] = "Subject: ";
    static const char suffix[] = "\nMessage-ID: <long@example.org>\n\n";
    size_t len = sizeof prefix - 1 + n + sizeof suffix - 1;
    char *buf = malloc(len);
    assert_non_null(buf);
    memcpy(buf, prefix, sizeof prefix - 1);
    for (size_t i = 0; i < n; i++)
        buf[sizeof prefix - 1 + i] = (char)('a' + i % 26);
    memcpy(buf + sizeof prefix - 1 + n, suffix, sizeof suffix - 1);

    mv_mime_summary s;
    summarize_n(buf, len, &s);
    assert_non_null(s.subject);
    assert_int_equal(strlen(s.subject), n);
    assert_memory_equal(s.subject, buf + sizeof prefix - 1, n);
    assert_string_equal(s.message_id, "long@example.org");
    mv_mime_summary_free(&s);
    free(buf);
}

static void test_header_length(void **state)
{
    (void)state;
    assert_int_equal(mv_mime_header_length(NULL, 0), 0);
    assert_int_equal(mv_mime_header_length("\n", 1), 1);
    assert_int_equal(mv_mime_header_length("\r\n", 2), 2);
    assert_int_equal(mv_mime_header_length("\nA: b\n\n", 7), 1);
    assert_int_equal(mv_mime_header_length("A: b\n\nbody", 10), 6);
    assert_int_equal(mv_mime_header_length("A: b\r\n\r\nbody", 12), 8);
    assert_int_equal(mv_mime_header_length("A: b\r\n\nbody", 11), 7);
    assert_int_equal(mv_mime_header_length("A: b\nC: d\n", 10), 10);
    assert_int_equal(mv_mime_header_length("A: b\r", 5), 5);
    assert_int_equal(mv_mime_header_length("A: b\n\r", 6), 6);
    /* A blank line after len does not count. */
    assert_int_equal(mv_mime_header_length("A: b\n\n", 5), 5);
}

static char *nested_groups(int depth, size_t *len)
{
    char *buf = malloc(16 + (size_t)depth * 4);
    assert_non_null(buf);
    size_t n = (size_t)sprintf(buf, "To: ");
    for (int i = 0; i < depth; i++)
        n += (size_t)sprintf(buf + n, "g: ");
    n += (size_t)sprintf(buf + n, "x@y");
    memset(buf + n, ';', (size_t)depth);
    n += (size_t)depth;
    n += (size_t)sprintf(buf + n, "\n\n");
    *len = n;
    return buf;
}

static void test_deeply_nested_groups(void **state)
{
    (void)state;
    mv_mime_summary s;
    size_t len;

    /* Deep but within what GMime's parser takes: the listing stops descending. */
    char *buf = nested_groups(200, &len);
    summarize_n(buf, len, &s);
    assert_non_null(s.to);
    assert_memory_equal(s.to, "g: g: ", 6);
    assert_null(strstr(s.to, "x@y"));
    mv_mime_summary_free(&s);
    free(buf);

    /* 70,000 levels overflow the stack inside GMime unless defused first; the text is kept. */
    buf = nested_groups(70000, &len);
    summarize_n(buf, len, &s);
    assert_non_null(s.to);
    assert_memory_equal(s.to, "g g g ", 6);
    assert_non_null(strstr(s.to, "x@y"));
    mv_mime_summary_free(&s);
    free(buf);
}

/* Cheap deterministic noise over the characters that steer a header parser; the fuzz harness
 * does this properly, this only keeps the promise checked in every unit-test run. */
static void test_garbage(void **state)
{
    (void)state;
    /* clang-format off */
    static const char *const atoms[] = {
        "From: ", "To: ", "Subject: ", "Date: ", "Message-ID: ", "=?", "?=", "?Q?", "?B?", "utf-8",
        "iso-2022-jp", "\x1b$B", "<", ">", "\"", ",", ":", ";", "@", "(", ")", "\\", "\r\n", "\n",
        " ", "\t", "\n ", "\xff", "\xc3", "\x80", "=C3", "=0A", "abc", "\0", "+0200",
        "Mon, 1 Jan 2024 ",
    };
    /* clang-format on */
    const size_t natoms = sizeof atoms / sizeof atoms[0];
    uint32_t seed = 12345;
    char buf[512];

    for (int round = 0; round < 3000; round++) {
        size_t len = 0;
        for (;;) {
            seed = seed * 1103515245u + 12345u;
            size_t k = (seed >> 16) % natoms;
            /* "\0" stands for one NUL byte. */
            size_t alen = atoms[k][0] ? strlen(atoms[k]) : 1;
            if (len + alen > sizeof buf)
                break;
            memcpy(buf + len, atoms[k], alen);
            len += alen;
            if (((seed >> 8) & 63) == 0)
                break;
        }
        mv_mime_summary s;
        summarize_n(buf, len, &s);
        mv_mime_summary_free(&s);
    }
    assert_true(seed != 12345);
}

static int setup(void **state)
{
    (void)state;
    mv_mime_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mv_mime_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_ascii),
        cmocka_unit_test(test_folded_subject),
        cmocka_unit_test(test_rfc2047_utf8_vietnamese),
        cmocka_unit_test(test_rfc2047_iso2022jp),
        cmocka_unit_test(test_rfc2047_koi8r),
        cmocka_unit_test(test_rfc2047_latin1_q),
        cmocka_unit_test(test_rfc2047_sloppy),
        cmocka_unit_test(test_unknown_charset),
        cmocka_unit_test(test_broken_encoded_bytes),
        cmocka_unit_test(test_raw_utf8),
        cmocka_unit_test(test_raw_latin1),
        cmocka_unit_test(test_missing_headers),
        cmocka_unit_test(test_date_offsets),
        cmocka_unit_test(test_invalid_date),
        cmocka_unit_test(test_message_id),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_multiple_to),
        cmocka_unit_test(test_unparsable_address),
        cmocka_unit_test(test_malformed_line_inside_headers),
        cmocka_unit_test(test_no_blank_line),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_long_header_line),
        cmocka_unit_test(test_header_length),
        cmocka_unit_test(test_deeply_nested_groups),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
