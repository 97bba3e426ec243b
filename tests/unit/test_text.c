/* Unit tests for core/text: the searchable text of a message (GMime) and HTML to text. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "mime.h"
#include "text.h"

/* Strict UTF-8 check written here rather than borrowed from GLib, so the test does not share a
 * possible blind spot with the implementation. */
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

/* The header's promises for one string: valid UTF-8, within max, no C0/DEL/C1 controls except
 * (in the body only) \n and \t; one-line fields have no edge or doubled spaces. */
static void check_string(const char *s, size_t max, int body)
{
    assert_non_null(s);
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    assert_true(n <= max);
    assert_true(utf8_valid(u));
    for (size_t i = 0; i < n; i++) {
        if (body && (u[i] == '\n' || u[i] == '\t'))
            continue;
        assert_false(u[i] < 0x20 || u[i] == 0x7f);
        assert_false(u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f);
        if (!body)
            assert_false(u[i] == ' ' && u[i + 1] == ' ');
    }
    if (!body && n > 0) {
        assert_true(u[0] != ' ');
        assert_true(u[n - 1] != ' ');
    }
}

static void check_text(const mv_text *t)
{
    check_string(t->subject, MV_TEXT_FIELD_MAX, 0);
    check_string(t->sender, MV_TEXT_FIELD_MAX, 0);
    check_string(t->recipients, MV_TEXT_FIELD_MAX, 0);
    check_string(t->body, MV_TEXT_BODY_MAX, 1);
    check_string(t->attachments, MV_TEXT_FIELD_MAX, 0);
    assert_true(t->has_attachment == 0 || t->has_attachment == 1);
    assert_int_equal(t->has_attachment, t->attachments[0] != '\0');
}

static void extract_n(const char *msg, size_t len, mv_text *t)
{
    mv_error err = {0};
    assert_int_equal(mv_text_extract(msg, len, t, &err), MV_OK);
    assert_int_equal(err.status, MV_OK);
    check_text(t);
}

static void extract(const char *msg, mv_text *t)
{
    extract_n(msg, strlen(msg), t);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("\"%s\" not found in \"%.2000s\"", (needle), (hay));                          \
    } while (0)
#define assert_lacks(hay, needle)                                                                  \
    do {                                                                                           \
        if (strstr((hay), (needle)) != NULL)                                                       \
            fail_msg("\"%s\" found in \"%.2000s\"", (needle), (hay));                              \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Files */

static void source_path(char *out, size_t size, const char *rel)
{
    const char *src = getenv("MV_SOURCE_DIR");
    if (src != NULL && src[0] != '\0') {
        snprintf(out, size, "%s/%s", src, rel);
        return;
    }
    /* tests/unit/test_text.c -> the source tree */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    snprintf(out, size, "%s/../../%s", dir, rel);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        cap *= 2;
        buf = realloc(buf, cap);
        assert_non_null(buf);
    }
    fclose(f);
    *len = n;
    return buf;
}

/* The sample message in examples/sample-mail/maildir/<dir> whose file name starts with prefix
 * (the rest of a Maildir name carries size and flags). */
static char *sample(const char *dir, const char *prefix, size_t *len)
{
    char rel[512], path[2048];
    snprintf(rel, sizeof rel, "examples/sample-mail/maildir/%s", dir);
    source_path(path, sizeof path, rel);
    DIR *d = opendir(path);
    if (d == NULL)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    char *data = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char file[4096];
        snprintf(file, sizeof file, "%s/%s", path, de->d_name);
        data = read_file(file, len);
        break;
    }
    closedir(d);
    if (data == NULL)
        fail_msg("no sample %s/%s*", path, prefix);
    return data;
}

static void extract_sample(const char *dir, const char *prefix, mv_text *t)
{
    size_t len;
    char *data = sample(dir, prefix, &len);
    extract_n(data, len, t);
    free(data);
}

/* ------------------------------------------------------------------------------------------ */
/* The sample mailbox */

static void test_vietnamese_qp(void **state)
{
    (void)state;
    mv_text t;
    extract_sample("cur", "1584003944", &t);
    assert_string_equal(t.subject, "Cuộc họp tại Đà Nẵng");
    assert_string_equal(t.sender, "Nguyễn Văn An <an.nguyen@example.vn>");
    assert_string_equal(t.recipients, "Alice Keller <alice@example.com>, alice@example.com");
    assert_contains(t.body, "điện tử");
    assert_contains(t.body, "Chào chị Alice,\n\nNhư đã trao đổi");
    assert_contains(t.body, "Công ty Linh kiện Điện tử Sông Hàn");
    assert_lacks(t.body, "=C3");
    assert_string_equal(t.attachments, "");
    assert_int_equal(t.has_attachment, 0);
    mv_text_free(&t);
}

static void test_japanese_iso2022jp(void **state)
{
    (void)state;
    mv_text t;
    extract_sample("cur", "1587547800", &t);
    assert_string_equal(t.subject, "会議の議事録");
    assert_string_equal(t.sender, "田中 健一 <tanaka@example.jp>");
    assert_contains(t.body, "会議");
    assert_contains(t.body, "大阪工場での量産開始は7月を目標とします。");
    assert_lacks(t.body, "$B");
    mv_text_free(&t);
}

static void test_russian_koi8r_base64(void **state)
{
    (void)state;
    mv_text t;
    extract_sample("cur", "1586252650", &t);
    assert_string_equal(t.subject, "Отчёт за квартал");
    assert_string_equal(t.sender, "Дмитрий Волков <dmitri@example.ru>");
    assert_contains(t.body, "квартал");
    assert_contains(t.body, "Добрый день, Алиса!");
    /* The PDF's bytes are not text. */
    assert_lacks(t.body, "JVBERi0");
    assert_lacks(t.body, "%PDF");
    assert_string_equal(t.attachments, "quarterly-report.pdf application/pdf");
    assert_int_equal(t.has_attachment, 1);
    mv_text_free(&t);
}

static void test_latin1(void **state)
{
    (void)state;
    mv_text t;
    extract_sample("cur", "1583763600", &t); /* Q headers, QP body */
    assert_string_equal(t.subject, "Réunion à Zürich");
    assert_string_equal(t.sender, "Señor Muñoz <jorge.munoz@example.org>");
    assert_contains(t.body, "La réunion à Zürich est confirmée");
    assert_contains(t.body, "Señora Ibáñez");
    mv_text_free(&t);

    extract_sample(".Sent/cur", "1583823835", &t); /* 8bit body */
    assert_string_equal(t.subject, "Re: Réunion à Zürich");
    assert_string_equal(t.recipients, "Señor Muñoz <jorge.munoz@example.org>");
    assert_contains(t.body, "Bonjour Señor Muñoz,");
    assert_contains(t.body, "trois échantillons");
    mv_text_free(&t);
}

static void test_html_only(void **state)
{
    (void)state;
    mv_text t;
    extract_sample("cur", "1584165600", &t);
    assert_string_equal(t.subject, "Spring offers: Geneva, Lausanne and the Riviera");
    /* Reply-To joins From. */
    assert_string_equal(t.sender, "Example Travel <news@example.net>, no-reply@example.net");
    assert_contains(t.body, "Spring offers for Alice\nGenève & Lausanne by rail\n");
    assert_contains(t.body, "from € 289. Café vouchers");
    assert_contains(t.body, "Weekend in Côte d'Azur");
    assert_contains(t.body, "\"sea view\" rooms, from € 199 – only until 31 March.");
    assert_contains(t.body, "See the offer »");
    assert_contains(t.body, "Unsubscribe · Example Travel SARL, 12 rue de l'Exemple");
    assert_lacks(t.body, "<");
    assert_lacks(t.body, "&amp;");
    assert_lacks(t.body, "&euro;");
    assert_lacks(t.body, "&#");
    assert_lacks(t.body, "style");
    assert_lacks(t.body, "font-family");
    assert_lacks(t.body, "trackingId");
    assert_lacks(t.body, "openOffer");
    assert_lacks(t.body, "Example Travel - Spring offers"); /* <title> */
    assert_lacks(t.body, "  ");
    assert_int_equal(t.body[0], 'S');
    mv_text_free(&t);
}

static void test_alternative_prefers_plain(void **state)
{
    (void)state;
    mv_text t;
    extract_sample("cur", "1582214592", &t);
    assert_string_equal(t.sender, "Hélène Vasseur <helene@example.net>");
    assert_contains(t.body, "    10:00  Calibration drift in humidity sensors (Hélène Vasseur)");
    assert_int_equal(count(t.body, "Welcome coffee"), 1);
    assert_int_equal(count(t.body, "Dear Alice"), 1);
    assert_lacks(t.body, "<");
    assert_string_equal(t.attachments, "");
    mv_text_free(&t);

    extract_sample(".Archive.2019/cur", "1575280800", &t);
    assert_lacks(t.body, "<");
    assert_true(strlen(t.body) > 100);
    mv_text_free(&t);
}

static void test_attachments(void **state)
{
    (void)state;
    mv_text t;
    extract_sample("cur", "1590981150", &t); /* RFC 2231 filename*=UTF-8''b%C3%A1o-c%C3%A1o.txt */
    assert_string_equal(t.subject, "Gửi báo cáo tháng 5");
    assert_string_equal(t.attachments, "báo-cáo.txt text/plain");
    assert_int_equal(t.has_attachment, 1);
    /* A text/plain attachment is text: its content is searchable too. */
    assert_contains(t.body, "Trần Thị Mai\n\nBÁO CÁO THÁNG 5 / 2020");
    mv_text_free(&t);

    extract_sample(".Archive.2019/cur", "1575043961", &t);
    assert_string_equal(t.attachments, "budget-2019.csv text/csv");
    assert_string_equal(t.recipients, "Alice Keller <alice@example.com>, "
                                      "Bob Okafor <bob@example.com>, alice@example.com");
    assert_contains(t.body, "Attached is the final budget for 2019");
    mv_text_free(&t);

    extract_sample("cur", "1582619445", &t); /* ~200 KB PNG */
    assert_string_equal(t.attachments, "workshop-group-photo.png image/png");
    assert_true(strlen(t.body) < 1000);
    mv_text_free(&t);
}

static void test_forwarded_message(void **state)
{
    (void)state;
    mv_text t;
    extract_sample("cur", "1580127768", &t);
    assert_string_equal(t.subject, "Fwd: Your order 4471 has shipped");
    assert_string_equal(t.sender, "Bob Okafor <bob@example.com>");
    assert_contains(t.body, "Can you pass this\non to accounting?\n\nBob\n\n"
                            "From: Example Print Co. <orders@example.net>\n"
                            "Subject: Your order 4471 has shipped\n\nHello Bob Okafor,");
    assert_contains(t.body, "Tracking number: EX 0000 4471 0001.");
    assert_string_equal(t.attachments, "Your order 4471 has shipped.eml message/rfc822");
    assert_int_equal(t.has_attachment, 1);
    mv_text_free(&t);
}

static void test_crlf(void **state)
{
    (void)state;
    mv_text t;
    extract_sample("new", "1589544069", &t);
    assert_string_equal(t.subject, "Lunch on Friday?");
    assert_string_equal(t.sender, "Priya Raman <priya@example.org>");
    assert_lacks(t.body, "\r");
    assert_contains(t.body, "Hi Alice,\n\nAre you free for lunch next Friday? The new café on");
    assert_int_equal(t.body[strlen(t.body) - 1], 'a'); /* "Priya", no trailing newline */
    mv_text_free(&t);
}

static void test_no_subject(void **state)
{
    (void)state;
    mv_text t;
    extract_sample("new", "1591188453", &t);
    assert_string_equal(t.subject, "");
    assert_true(t.sender[0] != '\0');
    assert_true(t.body[0] != '\0');
    mv_text_free(&t);
}

/* Every sample message keeps every promise. */
static void test_all_samples(void **state)
{
    (void)state;
    static const char *const dirs[] = {
        "cur", "new", ".Sent/cur", ".Archive.2019/cur", ".Lists.dev/cur", ".Lists.dev/new"};
    int files = 0;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char rel[512], path[2048];
        snprintf(rel, sizeof rel, "examples/sample-mail/maildir/%s", dirs[i]);
        source_path(path, sizeof path, rel);
        DIR *d = opendir(path);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char file[4096];
            snprintf(file, sizeof file, "%s/%s", path, de->d_name);
            size_t len;
            char *data = read_file(file, &len);
            assert_non_null(data);
            mv_text t;
            extract_n(data, len, &t);
            assert_true(t.sender[0] != '\0');
            assert_true(t.body[0] != '\0');
            mv_text_free(&t);
            free(data);
            files++;
        }
        closedir(d);
    }
    assert_int_equal(files, 35);
}

/* ------------------------------------------------------------------------------------------ */
/* Synthetic messages */

static void test_headers(void **state)
{
    (void)state;
    mv_text t;
    extract("From: =?utf-8?q?Ren=C3=A9e?= <renee@example.org>\n"
            "Sender: list-bounces@example.org\n"
            "Reply-To: \"Smith, Carol\" <carol@example.org>, team: a@example.org, b@example.org;\n"
            "To: x@example.org, =?iso-8859-1?q?J=FCrgen?= <j@example.de>\n"
            "Cc: \n"
            "Bcc: hidden@example.org\n"
            "Delivered-To: box1@example.net\n"
            "X-Original-To: alias@example.net\n"
            "Delivered-To: box2@example.net\n"
            "Subject: =?utf-8?b?VGVzdCDinJMgb2s=?=\n"
            "\n"
            "Body.\n",
            &t);
    assert_string_equal(t.subject, "Test ✓ ok");
    assert_string_equal(t.sender, "Renée <renee@example.org>, list-bounces@example.org, "
                                  "Smith, Carol <carol@example.org>, "
                                  "team: a@example.org, b@example.org");
    assert_string_equal(t.recipients, "x@example.org, Jürgen <j@example.de>, "
                                      "hidden@example.org, box1@example.net, "
                                      "alias@example.net, box2@example.net");
    assert_string_equal(t.body, "Body.");
    mv_text_free(&t);

    /* Not an address at all: the decoded text stands in. Raw 8-bit header text is UTF-8, else
     * Windows-1252. */
    extract("From: Mail Delivery System\nTo: caf\xe9 people\nSubject: r\xc3\xa9sum\xc3\xa9\n\nx",
            &t);
    assert_string_equal(t.sender, "Mail Delivery System");
    assert_string_equal(t.recipients, "café people");
    assert_string_equal(t.subject, "résumé");
    mv_text_free(&t);

    /* Controls in encoded words and folding become single spaces. */
    extract("Subject: =?utf-8?q?a=0Db=1Bc=C2=85d?=\n  e\n\n", &t);
    assert_string_equal(t.subject, "a b c d e");
    assert_string_equal(t.body, "");
    mv_text_free(&t);
}

static void test_charsets(void **state)
{
    (void)state;
    mv_text t;
    /* Unknown label, UTF-8 bytes. */
    extract("Content-Type: text/plain; charset=x-bogus-42\n\ngrüße\n", &t);
    assert_string_equal(t.body, "grüße");
    mv_text_free(&t);

    /* Unknown label, Latin-1 bytes. */
    extract("Content-Type: text/plain; charset=\"unknown-8bit\"\n\ngr\xfc\xdf\x65\n", &t);
    assert_string_equal(t.body, "grüße");
    mv_text_free(&t);

    /* Declared UTF-8, but a Latin-1 and a Windows-1252 byte in between. */
    extract("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            "caf\xe9 na\xc3\xafve \x93quoted\x94 \xe2\x82\xac 5\n",
            &t);
    assert_string_equal(t.body, "café naïve “quoted” € 5");
    mv_text_free(&t);

    /* us-ascii with 8-bit bytes. */
    extract("Content-Type: text/plain; charset=us-ascii\n\nMu\xf1oz\n", &t);
    assert_string_equal(t.body, "Muñoz");
    mv_text_free(&t);

    /* Declared Latin-1, actually UTF-8. */
    extract("Content-Type: text/plain; charset=iso-8859-1\n\nMu\xc3\xb1oz\n", &t);
    assert_string_equal(t.body, "Muñoz");
    mv_text_free(&t);

    /* Windows-1252 proper. */
    extract("Content-Type: text/plain; charset=windows-1252\n\n\x84Gr\xfc\xdf\x65\x93 \x96 \x80\n",
            &t);
    assert_string_equal(t.body, "„Grüße“ – €");
    mv_text_free(&t);

    /* A charset iconv knows, with a byte it rejects: the rest survives. */
    extract("Content-Type: text/plain; charset=shift_jis\n\n\x93\xfa\x96\x7b\xff\x8c\xea\n", &t);
    assert_string_equal(t.body, "日本\xef\xbf\xbd語");
    mv_text_free(&t);

    /* Labelled ISO-2022-JP but UTF-8 (8-bit bytes cannot be ISO-2022-JP). */
    extract("Content-Type: text/plain; charset=iso-2022-jp\n\n\xe6\x97\xa5\xe6\x9c\xac\n", &t);
    assert_string_equal(t.body, "日本");
    mv_text_free(&t);

    /* UTF-16 is converted, not taken for ASCII with NULs. */
    static const char utf16[] = "Content-Type: text/plain; charset=utf-16le\n\nH\0i\0 \0\xac\x20";
    extract_n(utf16, sizeof utf16 - 1, &t);
    assert_string_equal(t.body, "Hi €");
    mv_text_free(&t);

    /* An HTML part that names its charset only in a <meta>. */
    extract("Content-Type: text/html\n\n<html><head><meta http-equiv=\"Content-Type\" "
            "content=\"text/html; charset=windows-1251\"></head><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>\n",
            &t);
    assert_string_equal(t.body, "Привет");
    mv_text_free(&t);
    extract("Content-Type: text/html\n\n<meta charset='koi8-r'>\xf0\xd2\xc9\xd7\xc5\xd4\n", &t);
    assert_string_equal(t.body, "Привет");
    mv_text_free(&t);

    /* KOI8-R through iconv. */
    extract("Content-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n", &t);
    assert_string_equal(t.body, "Привет");
    mv_text_free(&t);
}

static void test_controls_and_nul(void **state)
{
    (void)state;
    static const char msg[] = "Subject: s\n\nline1\r\nline2\rline3\0nul\x01\x7f\tend\xc2\x9f!\n";
    mv_text t;
    extract_n(msg, sizeof msg - 1, &t);
    assert_string_equal(t.body, "line1\nline2\nline3 nul  \tend !");
    mv_text_free(&t);
}

static void test_broken_base64(void **state)
{
    (void)state;
    mv_text t;
    extract("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
            "SGVsbG8gd29y!!bGQh*\n%%%\nAAA\n",
            &t);
    assert_true(strncmp(t.body, "Hello wor", 9) == 0);
    mv_text_free(&t);

    /* Broken quoted-printable. */
    extract("Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
            "caf=C3=A9 =ZZ bad=\n",
            &t);
    assert_true(strncmp(t.body, "café =ZZ bad", 12) == 0);
    mv_text_free(&t);

    /* A multipart whose boundary never comes. */
    extract("Content-Type: multipart/mixed; boundary=xyz\n\n--xyz\nContent-Type: text/plain\n\n"
            "only part, never closed\n",
            &t);
    assert_string_equal(t.body, "only part, never closed");
    mv_text_free(&t);

    /* A multipart without a boundary parameter. */
    extract("Content-Type: multipart/mixed\n\nsomething\n", &t);
    mv_text_free(&t);
}

static void test_empty(void **state)
{
    (void)state;
    mv_text t;
    extract_n("", 0, &t);
    assert_string_equal(t.subject, "");
    assert_string_equal(t.sender, "");
    assert_string_equal(t.recipients, "");
    assert_string_equal(t.body, "");
    assert_string_equal(t.attachments, "");
    assert_int_equal(t.has_attachment, 0);
    mv_text_free(&t);

    /* Headers only, no blank line. */
    extract("From: a@example.org\nSubject: only headers", &t);
    assert_string_equal(t.subject, "only headers");
    assert_string_equal(t.sender, "a@example.org");
    assert_string_equal(t.body, "");
    mv_text_free(&t);

    /* Blank body, and a multipart of empty and non-text parts. */
    extract("Subject: x\n\n\n  \n", &t);
    assert_string_equal(t.body, "");
    mv_text_free(&t);
    extract("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n\n"
            "--b\nContent-Type: application/octet-stream\n\nxx\n--b--\n",
            &t);
    assert_string_equal(t.body, "");
    assert_string_equal(t.attachments, "");
    mv_text_free(&t);

    /* Not mail at all. */
    extract("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", &t);
    mv_text_free(&t);
}

static void test_parts(void **state)
{
    (void)state;
    mv_text t;
    /* Alternative whose plain part is empty: the HTML one counts. */
    extract("Content-Type: multipart/alternative; boundary=b\n\n"
            "--b\nContent-Type: text/plain\n\n \n"
            "--b\nContent-Type: text/html\n\n<p>Only&nbsp;in <b>HTML</b></p>\n"
            "--b--\n",
            &t);
    assert_string_equal(t.body, "Only in HTML");
    mv_text_free(&t);

    /* Alternative without plain text: the first version with text; the other's attachments
     * are still listed. */
    extract("Content-Type: multipart/alternative; boundary=b\n\n"
            "--b\nContent-Type: text/calendar; name=invite.ics\n\nBEGIN:VCALENDAR\n"
            "--b\nContent-Type: multipart/related; boundary=c\n\n"
            "--c\nContent-Type: text/html; charset=iso-8859-1\n\n<div>R&eacute;sum&eacute; "
            "\xe0 lire</div>\n"
            "--c\nContent-Type: image/png; name=logo.png\nContent-Disposition: inline\n\nPNG\n"
            "--c--\n"
            "--b--\n",
            &t);
    assert_string_equal(t.body, "Résumé à lire");
    assert_string_equal(t.attachments, "invite.ics text/calendar logo.png image/png");
    assert_int_equal(t.has_attachment, 1);
    mv_text_free(&t);

    /* Parts are separated by a blank line and lose their edge whitespace; an attachment without
     * a name lists its type. */
    extract("Content-Type: multipart/mixed; boundary=b\n\n"
            "--b\nContent-Type: text/plain\n\nfirst\n\n\n"
            "--b\nContent-Type: text/plain\n\n  second\n"
            "--b\nContent-Type: Application/X-Thing\nContent-Disposition: ATTACHMENT\n\nxx\n"
            "--b--\n",
            &t);
    assert_string_equal(t.body, "first\n\nsecond");
    assert_string_equal(t.attachments, "application/x-thing");
    assert_int_equal(t.has_attachment, 1);
    mv_text_free(&t);

    /* RFC 2047 in a file name (as some mailers send it) and RFC 2231 continuations. */
    extract("Content-Type: multipart/mixed; boundary=b\n\n"
            "--b\nContent-Type: application/pdf; name=\"=?utf-8?q?Pr=C3=BCfung.pdf?=\"\n\n%PDF\n"
            "--b\nContent-Type: application/zip\nContent-Disposition: attachment;\n"
            " filename*0*=utf-8''%E6%97%A5%E6%9C%AC;\n filename*1=\"-archive.zip\"\n\nPK\n"
            "--b--\n",
            &t);
    assert_string_equal(t.attachments,
                        "Prüfung.pdf application/pdf 日本-archive.zip application/zip");
    assert_string_equal(t.body, "");
    mv_text_free(&t);
}

static void test_signed_encrypted(void **state)
{
    (void)state;
    mv_text t;
    extract("Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"; "
            "micalg=pgp-sha256\n\n"
            "--s\nContent-Type: text/plain\n\nSigned words.\n"
            "--s\nContent-Type: application/pgp-signature; name=signature.asc\n"
            "Content-Disposition: attachment; filename=signature.asc\n\n"
            "-----BEGIN PGP SIGNATURE-----\nSIGNATUREBYTES\n-----END PGP SIGNATURE-----\n"
            "--s--\n",
            &t);
    assert_string_equal(t.body, "Signed words.");
    assert_string_equal(t.attachments, "");
    assert_int_equal(t.has_attachment, 0);
    mv_text_free(&t);

    extract("Subject: secret\nContent-Type: multipart/encrypted; boundary=e; "
            "protocol=\"application/pgp-encrypted\"\n\n"
            "--e\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n"
            "--e\nContent-Type: text/plain; name=encrypted.asc\n\nCIPHERTEXTWORDS\n"
            "--e--\n",
            &t);
    assert_string_equal(t.subject, "secret");
    assert_string_equal(t.body, "");
    assert_string_equal(t.attachments, "");
    mv_text_free(&t);
}

static void test_embedded_message(void **state)
{
    (void)state;
    mv_text t;
    /* Nested twice, inner attachment listed, inner HTML converted. */
    extract("Subject: outer\nContent-Type: message/rfc822\n\n"
            "From: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>\nSubject: middle\n"
            "Content-Type: multipart/mixed; boundary=m\n\n"
            "--m\nContent-Type: message/rfc822\n\n"
            "From: deep@example.org\nSubject: =?utf-8?q?inner_=C3=A9t=C3=A9?=\n"
            "Content-Type: text/html\n\n<p>deep &amp; inner</p>\n"
            "--m\nContent-Type: image/gif; name=a.gif\n\nGIF\n"
            "--m--\n",
            &t);
    assert_string_equal(t.subject, "outer");
    assert_string_equal(t.body, "From: Zoë <zoe@example.org>\nSubject: middle\n\n"
                                "From: deep@example.org\nSubject: inner été\n\ndeep & inner");
    assert_string_equal(t.attachments, "a.gif image/gif");
    mv_text_free(&t);
}

static char *nested_multipart(int levels, const char *leaf)
{
    size_t cap = (size_t)levels * 64 + strlen(leaf) + 128;
    char *m = malloc(cap);
    assert_non_null(m);
    size_t o = 0;
    for (int i = 0; i < levels; i++)
        o += (size_t)snprintf(m + o, cap - o,
                              "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
    snprintf(m + o, cap - o, "Content-Type: text/plain\n\n%s\n", leaf);
    return m;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    mv_text t;
    char *m = nested_multipart(100, "deep leaf");
    extract(m, &t);
    assert_string_equal(t.body, "deep leaf");
    mv_text_free(&t);
    free(m);

    /* Far past any real message: no crash, and the walk stops at its bound. */
    m = nested_multipart(5000, "too deep leaf");
    extract(m, &t);
    assert_lacks(t.body, "too deep leaf");
    mv_text_free(&t);
    free(m);

    /* The same with embedded messages. */
    size_t cap = 3000 * 64;
    m = malloc(cap);
    assert_non_null(m);
    size_t o = 0;
    for (int i = 0; i < 3000; i++)
        o += (size_t)snprintf(m + o, cap - o, "Subject: s%d\nContent-Type: message/rfc822\n\n", i);
    snprintf(m + o, cap - o, "Subject: end\n\nbottom\n");
    extract(m, &t);
    assert_string_equal(t.subject, "s0");
    assert_contains(t.body, "Subject: s1\n\nSubject: s2\n");
    mv_text_free(&t);
    free(m);
}

/* GMime's address parser recurses once per nested group; hundreds of thousands of levels, in
 * the message or in an embedded one, must not overflow the stack. */
static void test_nested_groups(void **state)
{
    (void)state;
    const int levels = 200000;
    size_t cap = (size_t)levels * 3 + 256;
    char *m = malloc(cap);
    assert_non_null(m);
    for (int embedded = 0; embedded < 2; embedded++) {
        size_t o = 0;
        o += (size_t)snprintf(m + o, cap - o, "Subject: groups\n%s",
                              embedded ? "Content-Type: message/rfc822\n\nSubject: inner\n" : "");
        o += (size_t)snprintf(m + o, cap - o, "To: ");
        for (int i = 0; i < levels; i++) {
            memcpy(m + o, "g: ", 3);
            o += 3;
        }
        snprintf(m + o, cap - o, "x@example.org\n\nbody\n");
        mv_text t;
        extract(m, &t);
        assert_string_equal(t.subject, "groups");
        assert_contains(t.body, "body");
        mv_text_free(&t);
    }
    free(m);
}

static void test_caps(void **state)
{
    (void)state;
    /* A 5 MB text part of three-byte characters: cut at a character boundary. */
    size_t chars = 5 * 1024 * 1024 / 3;
    size_t cap = chars * 3 + 256;
    char *m = malloc(cap);
    assert_non_null(m);
    size_t o = (size_t)snprintf(m, cap, "Content-Type: text/plain; charset=utf-8\n\n");
    for (size_t i = 0; i < chars; i++) {
        memcpy(m + o, "\xe2\x82\xac", 3);
        o += 3;
    }
    mv_text t;
    extract_n(m, o, &t);
    size_t n = strlen(t.body);
    assert_true(n <= MV_TEXT_BODY_MAX);
    assert_true(n > MV_TEXT_BODY_MAX - 3);
    assert_int_equal(n % 3, 0);
    mv_text_free(&t);

    /* A huge subject and a huge HTML part. */
    o = (size_t)snprintf(m, cap, "Subject: ");
    for (size_t i = 0; i < 100000; i++) {
        memcpy(m + o, "\xc3\xa9 ", 3);
        o += 3;
    }
    o += (size_t)snprintf(m + o, cap - o, "\nContent-Type: text/html\n\n");
    while (o < 4 * 1024 * 1024) {
        memcpy(m + o, "w&amp;x<br>", 11);
        o += 11;
    }
    extract_n(m, o, &t);
    assert_true(strlen(t.subject) <= MV_TEXT_FIELD_MAX);
    assert_true(strlen(t.subject) > MV_TEXT_FIELD_MAX - 3);
    assert_true(strlen(t.body) <= MV_TEXT_BODY_MAX);
    assert_true(strlen(t.body) > MV_TEXT_BODY_MAX - 3);
    assert_true(strncmp(t.body, "w&x\nw&x\n", 8) == 0);
    mv_text_free(&t);
    free(m);
}

/* Several threads at once, each on its own messages, get what one thread gets. */
typedef struct job {
    char *msgs[4];
    size_t lens[4];
    char *bodies[4];
    int ok;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    j->ok = 1;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 4; i++) {
            mv_text t;
            mv_error err = {0};
            if (mv_text_extract(j->msgs[i], j->lens[i], &t, &err) != MV_OK ||
                strcmp(t.body, j->bodies[i]) != 0)
                j->ok = 0;
            mv_text_free(&t);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    static const char *const ids[4][2] = {
        {"cur", "1587547800"}, {"cur", "1586252650"}, {"cur", "1584165600"}, {"cur", "1580127768"}};
    job jobs[4];
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 4; k++) {
            const char *const *id = ids[(i + k) % 4];
            jobs[i].msgs[k] = sample(id[0], id[1], &jobs[i].lens[k]);
            mv_text t;
            extract_n(jobs[i].msgs[k], jobs[i].lens[k], &t);
            jobs[i].bodies[k] = t.body;
            t.body = NULL;
            mv_text_free(&t);
        }
    }
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_true(jobs[i].ok);
        for (int k = 0; k < 4; k++) {
            free(jobs[i].msgs[k]);
            free(jobs[i].bodies[k]);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The shared corpus (beside the source tree, as the benchmarks expect it), when present */

static int corpus_files;

static void corpus_dir(const char *dir, int html)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            corpus_dir(path, html || strcmp(de->d_name, "html") == 0);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        size_t len;
        char *data = read_file(path, &len);
        if (data == NULL)
            continue;
        mv_text t;
        extract_n(data, len, &t);
        if (html && t.body[0] == '\0')
            fail_msg("%s: empty body", path);
        if (html && strcmp(de->d_name, "attribute-text") == 0) {
            assert_string_equal(t.body, "hunter2");
            assert_string_equal(t.attachments, "test.html text/html");
        }
        mv_text_free(&t);
        free(data);
        corpus_files++;
    }
    closedir(d);
}

static void test_shared_corpus(void **state)
{
    (void)state;
    char dir[2048];
    source_path(dir, sizeof dir, "../shared/corpus");
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        skip();
    corpus_files = 0;
    corpus_dir(dir, 0);
    assert_true(corpus_files > 0);
}

/* ------------------------------------------------------------------------------------------ */
/* HTML to text */

static void html_is(const char *html, const char *want)
{
    char *got = mv_text_from_html(html, strlen(html));
    assert_non_null(got);
    check_string(got, SIZE_MAX, 1);
    if (strcmp(got, want) != 0)
        fail_msg("html \"%s\" gave \"%s\", want \"%s\"", html, got, want);
    free(got);
}

static void test_html_entities(void **state)
{
    (void)state;
    html_is("&amp; &lt; &gt; &quot; &apos; a&nbsp;b", "& < > \" ' a b");
    html_is("&eacute;&uuml;&szlig;&Eacute;&AElig;&yuml;&Yuml;&thorn;&iquest;&frac12;",
            "éüßÉÆÿŸþ¿½");
    html_is("&mdash;&ndash;&hellip;&rsquo;&lsquo;&rdquo;&ldquo;&euro;&copy;&reg;&trade;&bull;"
            "&middot;",
            "—–…’‘”“€©®™•·");
    html_is("&alpha;&Omega;&rarr;&hearts;&le;&infin;", "αΩ→♥≤∞");
    html_is("&#233;&#xE9;&#XE9;&#x20AC;&#128512;&#65", "ééé€😀A");
    /* As browsers read them: 0x80..0x9F as Windows-1252, invalid code points as U+FFFD. */
    html_is("&#150;&#x93;&#0;&#xD800;&#x110000;&#99999999999999999999;",
            "–“\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* Unknown or incomplete: left as they are. */
    html_is("&bogus; AT&T &#; &#x; & &; &eacute &Eacute; &EACUTE;", "&bogus; AT&T &#; &#x; & &; "
                                                                    "&eacute É &EACUTE;");
    /* The common ones without ';', as sloppy HTML writes them. */
    html_is("fish &amp chips &lt 3 &nbsp x &ampx", "fish & chips < 3 x &ampx");
    html_is("&verylongentitynamehere; &", "&verylongentitynamehere; &");
    /* Decoded markup is text, not markup. */
    html_is("&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>");
    /* Controls by reference are spaces. */
    html_is("a&#1;b&#9;c&#10;d", "a b c d");
}

static void test_html_structure(void **state)
{
    (void)state;
    html_is("<p>a</p><p>b</p>", "a\nb");
    html_is("x<br>y<br/>z<BR >w", "x\ny\nz\nw");
    html_is("<table><tr><td>1</td><td>2</td></tr><tr><th>3</th><td>4</td></tr></table>after",
            "1 2\n3 4\nafter");
    html_is("<b>bo</b>ld <i>it</i><span>al</span>ic", "bold italic");
    html_is("<ul><li>one<li>two</ul><h1>Title</h1><blockquote>q</blockquote>",
            "one\ntwo\nTitle\nq");
    html_is("  lots \n\t of   \r\n space  ", "lots of space");
    html_is("<div>\n  <div>\n   nested\n  </div>\n</div>", "nested");
    html_is("<pre>line 1\nline  2</pre>next", "line 1\nline 2\nnext");
    html_is("", "");
    html_is("<p></p><br><div> </div>", "");
}

static void test_html_dropped(void **state)
{
    (void)state;
    html_is("<html><head><title>T</title><style>p { color: red }</style>"
            "<meta charset=utf-8></head><body><script type=\"text/javascript\">var x = '</p>';"
            "</script>Hi <!-- hidden --> there</body></html>",
            "Hi there");
    html_is("<SCRIPT>x<y</SCRIPT >after<STYLE\n>s</style\n>z", "afterz");
    html_is("<script>if (a</scripts) b</script>c", "c");
    html_is("<head>stray head text<link rel=x></head>body", "body");
    /* A head that never closes does not swallow the body. */
    html_is("<head><title>t</title><p>Body text", "Body text");
    html_is("<!DOCTYPE html><?xml version=\"1.0\"?><!-->a<!--->b<!-- x -- y -->c", "abc");
    html_is("<!--[if mso]><xml><o:OfficeDocumentSettings>96</o:OfficeDocumentSettings></xml>"
            "<![endif]--><xml>96</xml><o:p>text</o:p>",
            "text");
}

static void test_html_malformed(void **state)
{
    (void)state;
    html_is("a < b and c<3 and x <= y", "a < b and c<3 and x <= y");
    html_is("end<", "end<");
    html_is("end</", "end</");
    html_is("</>", "</>");
    html_is("x<p unclosed", "x");
    html_is("<a href=\"x>y\" title='a>b'>link</a>", "link");
    html_is("<input value=\"a>swordfish\">hunter2", "hunter2");
    html_is("<a title=\"oops>text", "text");
    html_is("<a title=x\"y>z", "z");
    html_is("<a b = 'c>d' e=\"f'g\">h", "h");
    html_is("before<!-- never closed", "before");
    html_is("before<script>never closed", "before");
    html_is("before<title>never closed", "before");
    html_is("<<<>>>", "<<<>>>");
    html_is("&&&;;&#&#x&", "&&&;;&#&#x&");
    html_is("<averyveryveryverylongtagname>x</averyveryveryverylongtagname>", "x");
    /* Invalid UTF-8 is read as Windows-1252; NUL and controls are spaces. */
    html_is("caf\xe9 \x93ok\x94", "café “ok”");
    char *got = mv_text_from_html("a\0b\x01"
                                  "c",
                                  5);
    assert_string_equal(got, "a b c");
    free(got);
    got = mv_text_from_html(NULL, 0);
    assert_string_equal(got, "");
    free(got);
}

/* Inputs that make a careless converter quadratic; the test timeout is the only limit (speed
 * is measured by the benchmark, not asserted), so these must merely finish. */
static void test_html_pathological(void **state)
{
    (void)state;
    static const char *const units[] = {"<a x='", "<a x=\"", "<!--", "<script>", "&#",
                                        "<",      "&",       "<a ",  "<!",       "<title>x</titl"};
    size_t n = 1 << 20;
    char *buf = malloc(n + 1);
    assert_non_null(buf);
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t k = strlen(units[u]), o = 0;
        while (o + k <= n) {
            memcpy(buf + o, units[u], k);
            o += k;
        }
        char *got = mv_text_from_html(buf, o);
        assert_non_null(got);
        check_string(got, SIZE_MAX, 1);
        free(got);
    }
    free(buf);
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
        cmocka_unit_test(test_vietnamese_qp),
        cmocka_unit_test(test_japanese_iso2022jp),
        cmocka_unit_test(test_russian_koi8r_base64),
        cmocka_unit_test(test_latin1),
        cmocka_unit_test(test_html_only),
        cmocka_unit_test(test_alternative_prefers_plain),
        cmocka_unit_test(test_attachments),
        cmocka_unit_test(test_forwarded_message),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_no_subject),
        cmocka_unit_test(test_all_samples),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_charsets),
        cmocka_unit_test(test_controls_and_nul),
        cmocka_unit_test(test_broken_base64),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_signed_encrypted),
        cmocka_unit_test(test_embedded_message),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_nested_groups),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_shared_corpus),
        cmocka_unit_test(test_html_entities),
        cmocka_unit_test(test_html_structure),
        cmocka_unit_test(test_html_dropped),
        cmocka_unit_test(test_html_malformed),
        cmocka_unit_test(test_html_pathological),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
