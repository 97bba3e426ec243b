/* Unit tests for core/imap_parse.c: the streaming IMAP response parser.
 *
 * Most tests serialise what the parser reports into one canonical string (each response on a
 * line, each streamed literal as its begin event and its reassembled bytes) and compare it
 * with the expected text, so that a test reads like the server transcript it parses. The
 * split tests then check that feeding the same bytes in any pieces gives the same string. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parse.h"

/* ---- a growable string ---- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->s = realloc(b->s, cap);
        assert_non_null(b->s);
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof tmp);
    sb_add(b, tmp, (size_t)n);
}

/* Quoted, with anything unprintable as \xNN so that expectations stay readable. */
static void sb_quote(sbuf *b, const char *s, size_t n)
{
    sb_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            sb_printf(b, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            sb_add(b, (const char *)&c, 1);
        else
            sb_printf(b, "\\x%02x", c);
    }
    sb_puts(b, "\"");
}

/* ---- canonical form of a tree ---- */

static void ser_value(sbuf *b, const mv_imap_value *v)
{
    switch (v->type) {
    case MV_IMAP_ATOM:
        assert_non_null(v->str);
        assert_int_equal(strlen(v->str), v->len);
        sb_add(b, v->str, v->len);
        break;
    case MV_IMAP_NUMBER: {
        char tmp[32];
        assert_non_null(v->str);
        snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v->num);
        /* str is the atom as sent (leading zeros kept), num its value. */
        assert_int_equal(strtoull(v->str, NULL, 10), v->num);
        sb_printf(b, "#%s", tmp);
        break;
    }
    case MV_IMAP_STRING:
        assert_non_null(v->str);
        assert_int_equal(v->str[v->len], '\0');
        sb_quote(b, v->str, v->len);
        break;
    case MV_IMAP_NIL:
        sb_puts(b, "NIL");
        break;
    case MV_IMAP_LIST:
        sb_puts(b, "(");
        assert_true(v->n == 0 || v->items != NULL);
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                sb_puts(b, " ");
            ser_value(b, &v->items[i]);
        }
        sb_puts(b, ")");
        break;
    case MV_IMAP_STREAMED:
        sb_printf(b, "<lit %llu c%llu>", (unsigned long long)v->num, (unsigned long long)v->cookie);
        break;
    }
}

static const char *status_name(mv_imap_status st)
{
    static const char *const names[] = {"NONE", "OK", "NO", "BAD", "BYE", "PREAUTH"};
    return names[st];
}

static void ser_response(sbuf *b, const mv_imap_response *r)
{
    assert_non_null(r->data);
    assert_int_equal(r->data->type, MV_IMAP_LIST);
    assert_non_null(r->keyword);
    assert_non_null(r->text);
    assert_true((r->code == NULL) == (r->code_args == NULL));
    switch (r->kind) {
    case MV_IMAP_RESP_UNTAGGED:
        assert_null(r->tag);
        sb_puts(b, "*");
        break;
    case MV_IMAP_RESP_TAGGED:
        assert_non_null(r->tag);
        sb_puts(b, r->tag);
        break;
    case MV_IMAP_RESP_CONTINUE:
        assert_null(r->tag);
        assert_int_equal(r->status, MV_IMAP_NONE);
        assert_string_equal(r->keyword, "");
        sb_puts(b, "+");
        break;
    }
    if (r->has_number)
        sb_printf(b, " %llu", (unsigned long long)r->number);
    else
        assert_int_equal(r->number, 0);
    if (r->status != MV_IMAP_NONE) {
        /* A status response: the keyword is the status, there is no data. */
        assert_string_equal(r->keyword, status_name(r->status));
        assert_int_equal(r->data->n, 0);
        sb_printf(b, " %s", status_name(r->status));
    } else if (r->kind != MV_IMAP_RESP_CONTINUE) {
        assert_null(r->code);
        assert_string_equal(r->text, "");
        sb_printf(b, " %s ", r->keyword);
        ser_value(b, r->data);
    }
    if (r->code != NULL) {
        sb_printf(b, " [%s ", r->code);
        ser_value(b, r->code_args);
        sb_puts(b, "]");
    }
    if (r->status != MV_IMAP_NONE || r->kind == MV_IMAP_RESP_CONTINUE) {
        assert_int_equal(r->data->n, 0);
        sb_puts(b, " ");
        sb_quote(b, r->text, strlen(r->text));
    }
    sb_puts(b, "\n");
}

/* ---- a recording set of callbacks ---- */

enum stream_mode { STREAM_NONE, STREAM_ALL, STREAM_ALTERNATE };

typedef struct rec {
    sbuf out;
    enum stream_mode mode;
    int nbegin, nresp;
    bool in_lit;
    uint64_t lit_size;
    sbuf lit;
    bool stopped; /* a callback returned an error: no further calls are allowed */
    /* Make the fail_at-th response (1-based) or literal piece return fail_status. */
    int fail_at;
    int fail_data_at, fail_end_at;
    int ndata, nend;
    mv_status fail_status;
    const char *fail_msg;
    /* Called with each response, for tests that look into trees directly. */
    void (*hook)(struct rec *, const mv_imap_response *);
    int hook_calls;
} rec;

static mv_status cb_response(void *ctx, const mv_imap_response *r, mv_error *err)
{
    rec *rc = ctx;
    assert_false(rc->stopped);
    assert_false(rc->in_lit);
    rc->nresp++;
    ser_response(&rc->out, r);
    if (rc->hook) {
        rc->hook(rc, r);
        rc->hook_calls++;
    }
    if (rc->fail_at == rc->nresp) {
        rc->stopped = true;
        if (rc->fail_msg)
            return mv_error_set(err, rc->fail_status, "%s", rc->fail_msg);
        return rc->fail_status;
    }
    return MV_OK;
}

static int cb_begin(void *ctx, const char *key, uint64_t number, uint64_t size, uint64_t *cookie)
{
    rec *rc = ctx;
    assert_false(rc->stopped);
    assert_false(rc->in_lit);
    rc->nbegin++;
    int stream = rc->mode == STREAM_ALL || (rc->mode == STREAM_ALTERNATE && rc->nbegin % 2 == 1);
    sb_printf(&rc->out, "%s key=%s num=%llu size=%llu\n", stream ? "stream" : "inline",
              key ? key : "(null)", (unsigned long long)number, (unsigned long long)size);
    if (!stream)
        return 0;
    *cookie = 1000 + (uint64_t)rc->nbegin;
    rc->in_lit = true;
    rc->lit_size = size;
    rc->lit.len = 0;
    return 1;
}

static mv_status cb_data(void *ctx, const void *data, size_t len, mv_error *err)
{
    rec *rc = ctx;
    assert_false(rc->stopped);
    assert_true(rc->in_lit);
    assert_true(len > 0);
    sb_add(&rc->lit, data, len);
    assert_true(rc->lit.len <= rc->lit_size);
    if (++rc->ndata == rc->fail_data_at) {
        rc->stopped = true;
        return mv_error_set(err, rc->fail_status, "disk full while writing the message");
    }
    return MV_OK;
}

static mv_status cb_end(void *ctx, mv_error *err)
{
    rec *rc = ctx;
    assert_false(rc->stopped);
    assert_true(rc->in_lit);
    assert_int_equal(rc->lit.len, rc->lit_size);
    rc->in_lit = false;
    sb_puts(&rc->out, "  data ");
    sb_quote(&rc->out, rc->lit.s ? rc->lit.s : "", rc->lit.len);
    sb_puts(&rc->out, "\n");
    if (++rc->nend == rc->fail_end_at) {
        rc->stopped = true;
        return rc->fail_status;
    }
    return MV_OK;
}

static mv_imap_parser *new_parser(rec *rc, const mv_imap_limits *lim)
{
    mv_imap_callbacks cb = {rc, cb_response, cb_begin, cb_data, cb_end};
    mv_imap_parser *p = mv_imap_parser_new(&cb, lim);
    assert_non_null(p);
    return p;
}

static void rec_free(rec *rc)
{
    free(rc->out.s);
    free(rc->lit.s);
}

/* Parses input in one feed; returns the canonical transcript (caller frees) and status. */
static char *parse_ex(const char *in, size_t len, enum stream_mode mode, const mv_imap_limits *lim,
                      mv_status *st, mv_error *err, int *idle)
{
    rec rc = {0};
    rc.mode = mode;
    sb_puts(&rc.out, "");
    mv_imap_parser *p = new_parser(&rc, lim);
    mv_error_clear(err);
    *st = mv_imap_parser_feed(p, in, len, err);
    if (idle)
        *idle = mv_imap_parser_idle(p);
    if (*st != MV_OK) {
        /* A failed parser stays failed, repeats its message and calls nothing. */
        char first[MV_ERROR_MSG_MAX];
        snprintf(first, sizeof first, "%s", err->msg);
        assert_int_equal(err->status, *st);
        rc.stopped = true;
        mv_error e2 = {0};
        assert_int_equal(mv_imap_parser_feed(p, "* 1 EXISTS\r\n", 12, &e2), *st);
        assert_string_equal(e2.msg, first);
        assert_int_equal(mv_imap_parser_idle(p), 0);
    }
    mv_imap_parser_free(p);
    free(rc.lit.s);
    return rc.out.s;
}

/* Expects the input to parse cleanly, leaving the parser idle, into exactly `want`. */
static void check_mode(const char *in, enum stream_mode mode, const char *want)
{
    mv_status st;
    mv_error err;
    int idle;
    char *got = parse_ex(in, strlen(in), mode, NULL, &st, &err, &idle);
    if (st != MV_OK)
        fail_msg("unexpected error: %s", err.msg);
    assert_string_equal(got, want);
    assert_int_equal(idle, 1);
    free(got);
}

static void check(const char *in, const char *want)
{
    check_mode(in, STREAM_NONE, want);
}

/* Expects a protocol error whose message contains each of the (NULL-terminated) parts. */
static void check_error_n(const char *in, size_t len, const mv_imap_limits *lim, ...)
{
    mv_status st;
    mv_error err;
    char *got = parse_ex(in, len, STREAM_NONE, lim, &st, &err, NULL);
    free(got);
    if (st != MV_ERR_PROTOCOL)
        fail_msg("no protocol error for \"%.*s\"", (int)len, in);
    assert_int_equal(err.status, MV_ERR_PROTOCOL);
    assert_null(strchr(err.msg, '\n'));
    assert_null(strchr(err.msg, '\r'));
    va_list ap;
    va_start(ap, lim);
    for (const char *part; (part = va_arg(ap, const char *)) != NULL;)
        if (strstr(err.msg, part) == NULL)
            fail_msg("error \"%s\" lacks \"%s\"", err.msg, part);
    va_end(ap);
}

#define check_error(in, ...) check_error_n(in, strlen(in), NULL, __VA_ARGS__, (const char *)NULL)

/* ---- status, continuation and response codes ---- */

static void test_greeting(void **state)
{
    check("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
          "AUTH=PLAIN] Dovecot ready.\r\n",
          "* OK [CAPABILITY (IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
          "AUTH=PLAIN)] \"Dovecot ready.\"\n");
    check("* OK Gimap ready for requests from 192.0.2.1 t10mb123\r\n",
          "* OK \"Gimap ready for requests from 192.0.2.1 t10mb123\"\n");
    check("* PREAUTH [CAPABILITY IMAP4rev1] Logged in as alice\r\n",
          "* PREAUTH [CAPABILITY (IMAP4rev1)] \"Logged in as alice\"\n");
    /* Exchange puts a bracketed blob at the end: text, not a code. */
    check("* OK The Microsoft Exchange IMAP4 service is ready. [TQBXADIAUABS]\r\n",
          "* OK \"The Microsoft Exchange IMAP4 service is ready. [TQBXADIAUABS]\"\n");
}

static void test_status_responses(void **state)
{
    check("* OK Still here\r\n"
          "* NO Disk is 98% full, please delete unnecessary data\r\n"
          "* BAD Command line too long\r\n"
          "* BYE Logging out\r\n"
          "* BYE\r\n"
          "* OK\r\n"
          "* ok lower case\r\n"
          "A1 OK LOGIN completed\r\n"
          "a2 no [AUTHENTICATIONFAILED] Authentication failed.\r\n"
          "A3 BAD [CLIENTBUG] Unknown command\r\n"
          "A4 OK\r\n"
          "A5 NO [TRYCREATE] Mailbox doesn't exist: Foo\r\n"
          "tag.with]odd-chars OK fine\r\n",
          "* OK \"Still here\"\n"
          "* NO \"Disk is 98% full, please delete unnecessary data\"\n"
          "* BAD \"Command line too long\"\n"
          "* BYE \"Logging out\"\n"
          "* BYE \"\"\n"
          "* OK \"\"\n"
          "* OK \"lower case\"\n"
          "A1 OK \"LOGIN completed\"\n"
          "a2 NO [AUTHENTICATIONFAILED ()] \"Authentication failed.\"\n"
          "A3 BAD [CLIENTBUG ()] \"Unknown command\"\n"
          "A4 OK \"\"\n"
          "A5 NO [TRYCREATE ()] \"Mailbox doesn't exist: Foo\"\n"
          "tag.with]odd-chars OK \"fine\"\n");
}

static void test_continuation(void **state)
{
    check("+ Ready for literal data\r\n"
          "+\r\n"
          "+ \r\n"
          "+ dGVzdCBjaGFsbGVuZ2U=\r\n"
          "+ idling\r\n"
          "+ [ALERT] odd but legal\r\n"
          "+no space\r\n",
          "+ \"Ready for literal data\"\n"
          "+ \"\"\n"
          "+ \"\"\n"
          "+ \"dGVzdCBjaGFsbGVuZ2U=\"\n"
          "+ \"idling\"\n"
          "+ [ALERT ()] \"odd but legal\"\n"
          "+ \"no space\"\n");
}

static void test_response_codes(void **state)
{
    check("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
          "* OK [UIDNEXT 4392] Predicted next UID\r\n"
          "* OK [UNSEEN 12] Message 12 is first unseen\r\n"
          "* OK [HIGHESTMODSEQ 9223372036854775807] Highest\r\n"
          "* OK [NOMODSEQ] No permanent modsequences\r\n"
          "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
          "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n"
          "A1 OK [APPENDUID 38505 3955] APPEND completed\r\n"
          "A2 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"
          "A3 OK [READ-ONLY] EXAMINE completed\r\n"
          "A4 OK [READ-WRITE] SELECT completed\r\n"
          "* OK [ALERT] System shutdown in 10 minutes\r\n"
          "* OK [CLOSED] Previous mailbox closed.\r\n"
          "A5 OK [MODIFIED 7,9] Conditional STORE failed\r\n"
          "A6 NO [BADCHARSET (UTF-8 \"US-ASCII\")] Unsupported charset\r\n"
          "A7 OK [UIDNOTSTICKY] Non-persistent UIDs\r\n"
          "* OK [alert] lower-case code\r\n"
          "* OK [READ-WRITE ] trailing space\r\n"
          "* NO [WEBALERT https://accounts.example.com/x?y=1] Web login required.\r\n"
          "* OK [X-ODD a \"b] text\r\n"
          "* OK [X-ODD (a b] text\r\n"
          "* OK [X-ODD {5}] text\r\n"
          "* OK [UIDVALIDITY 1]no space\r\n"
          "* OK [ALERT]\r\n",
          "* OK [UIDVALIDITY (#3857529045)] \"UIDs valid\"\n"
          "* OK [UIDNEXT (#4392)] \"Predicted next UID\"\n"
          "* OK [UNSEEN (#12)] \"Message 12 is first unseen\"\n"
          "* OK [HIGHESTMODSEQ (#9223372036854775807)] \"Highest\"\n"
          "* OK [NOMODSEQ ()] \"No permanent modsequences\"\n"
          "* OK [PERMANENTFLAGS ((\\Deleted \\Seen \\*))] \"Limited\"\n"
          "* OK [PERMANENTFLAGS (())] \"Read-only mailbox.\"\n"
          "A1 OK [APPENDUID (#38505 #3955)] \"APPEND completed\"\n"
          "A2 OK [COPYUID (#38505 304,319:320 3956:3958)] \"Done\"\n"
          "A3 OK [READ-ONLY ()] \"EXAMINE completed\"\n"
          "A4 OK [READ-WRITE ()] \"SELECT completed\"\n"
          "* OK [ALERT ()] \"System shutdown in 10 minutes\"\n"
          "* OK [CLOSED ()] \"Previous mailbox closed.\"\n"
          "A5 OK [MODIFIED (7,9)] \"Conditional STORE failed\"\n"
          "A6 NO [BADCHARSET ((UTF-8 \"US-ASCII\"))] \"Unsupported charset\"\n"
          "A7 OK [UIDNOTSTICKY ()] \"Non-persistent UIDs\"\n"
          "* OK [ALERT ()] \"lower-case code\"\n"
          "* OK [READ-WRITE ()] \"trailing space\"\n"
          "* NO [WEBALERT (https://accounts.example.com/x?y=1)] \"Web login required.\"\n"
          /* Arguments that do not tokenise stay raw: a STRING, not a LIST. */
          "* OK [X-ODD \"a \\\"b\"] \"text\"\n"
          "* OK [X-ODD \"(a b\"] \"text\"\n"
          "* OK [X-ODD \"{5}\"] \"text\"\n"
          "* OK [UIDVALIDITY (#1)] \"no space\"\n"
          "* OK [ALERT ()] \"\"\n");
}

/* Text is anything up to the line end, and a '[' that starts no code is text too. */
static void test_free_text(void **state)
{
    check("* OK [nonsense without a close\r\n"
          "* OK (unbalanced ) ] \" quote {5}\r\n"
          "A1 NO Gr\xc3\xbc\xc3\x9f"
          "e \xe2\x80\x94 nicht gefunden\r\n"
          "* OK []\r\n"
          "* OK [ spaced] text\r\n"
          "* BAD [(x)] y\r\n"
          "* OK tab\there\r\n",
          "* OK \"[nonsense without a close\"\n"
          "* OK \"(unbalanced ) ] \\\" quote {5}\"\n"
          "A1 NO \"Gr\\xc3\\xbc\\xc3\\x9fe \\xe2\\x80\\x94 nicht gefunden\"\n"
          "* OK \"[]\"\n"
          "* OK \"[ spaced] text\"\n"
          "* BAD \"[(x)] y\"\n"
          "* OK \"tab\\x09here\"\n");
}

/* ---- data responses ---- */

static void test_data_responses(void **state)
{
    check("* 172 EXISTS\r\n"
          "* 1 RECENT\r\n"
          "* 44 EXPUNGE\r\n"
          "* 3 exists\r\n"
          "*  4  EXISTS\r\n"
          "* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n"
          "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
          "* LIST (\\Noselect \\HasChildren) \"/\" \"[Gmail]\"\r\n"
          "* LIST (\\HasNoChildren \\All) \"/\" \"[Gmail]/All Mail\"\r\n"
          "* LIST () NIL Flat\r\n"
          "* LSUB () \".\" #news.comp.mail.misc\r\n"
          "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $MDNSent)\r\n"
          "* SEARCH 2 84 882\r\n"
          "* SEARCH\r\n"
          "* SEARCH \r\n"
          "* ESEARCH (TAG \"A282\") UID MIN 2 COUNT 3 ALL 2,10:11\r\n"
          "* STATUS \"blurdybloop\" (MESSAGES 231 UIDNEXT 44292 HIGHESTMODSEQ 7011231777)\r\n"
          "* VANISHED (EARLIER) 1:5,9\r\n"
          "* VANISHED 405,407,410:425\r\n"
          "* ENABLED CONDSTORE QRESYNC\r\n"
          "* NAMESPACE ((\"\" \"/\")) NIL ((\"Shared/\" \"/\"))\r\n"
          "* ID (\"name\" \"Dovecot\" \"version\" NIL)\r\n"
          "* QUOTAROOT INBOX \"\"\r\n"
          "* QUOTA \"\" (STORAGE 10 512)\r\n"
          "* X-GM-EXT-1 nil Nil \"NIL\"\r\n"
          "* SORT 5 3 4 1 2\r\n"
          "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n",
          "* 172 EXISTS ()\n"
          "* 1 RECENT ()\n"
          "* 44 EXPUNGE ()\n"
          "* 3 EXISTS ()\n"
          "* 4 EXISTS ()\n"
          "* CAPABILITY (IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED)\n"
          "* LIST ((\\HasNoChildren) \"/\" INBOX)\n"
          "* LIST ((\\Noselect \\HasChildren) \"/\" \"[Gmail]\")\n"
          "* LIST ((\\HasNoChildren \\All) \"/\" \"[Gmail]/All Mail\")\n"
          "* LIST (() NIL Flat)\n"
          "* LSUB (() \".\" #news.comp.mail.misc)\n"
          "* FLAGS ((\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $MDNSent))\n"
          "* SEARCH (#2 #84 #882)\n"
          "* SEARCH ()\n"
          "* SEARCH ()\n"
          "* ESEARCH ((TAG \"A282\") UID MIN #2 COUNT #3 ALL 2,10:11)\n"
          "* STATUS (\"blurdybloop\" (MESSAGES #231 UIDNEXT #44292 HIGHESTMODSEQ #7011231777))\n"
          "* VANISHED ((EARLIER) 1:5,9)\n"
          "* VANISHED (405,407,410:425)\n"
          "* ENABLED (CONDSTORE QRESYNC)\n"
          "* NAMESPACE (((\"\" \"/\")) NIL ((\"Shared/\" \"/\")))\n"
          "* ID ((\"name\" \"Dovecot\" \"version\" NIL))\n"
          "* QUOTAROOT (INBOX \"\")\n"
          "* QUOTA (\"\" (STORAGE #10 #512))\n"
          "* X-GM-EXT-1 (NIL NIL \"NIL\")\n"
          "* SORT (#5 #3 #4 #1 #2)\n"
          "* THREAD ((#2) (#3 #6 (#4 #23) (#44 #7 #96)))\n");
}

static void test_numbers_and_strings(void **state)
{
    check("* X 0 007 9223372036854775807 9223372036854775808 18446744073709551616 12a -1\r\n"
          "* X \"\" \"a\\\"b\\\\c\" \"caf\xc3\xa9\" \"odd \\q escape\" \"(not a list)\"\r\n"
          "* X \\Seen \\* $Forwarded Junk NonJunk %\r\n"
          "* X ] [ a[b ~x ~ x{y\r\n",
          "* X (#0 #7 #9223372036854775807 9223372036854775808 18446744073709551616 12a -1)\n"
          "* X (\"\" \"a\\\"b\\\\c\" \"caf\\xc3\\xa9\" \"odd q escape\" \"(not a list)\")\n"
          "* X (\\Seen \\* $Forwarded Junk NonJunk %)\n"
          "* X (] [ a[b ~x ~ x{y)\n");
    /* A NUL inside a quoted string is kept (len says how long the string is). */
    static const char in[] = "* X \"a\0b\"\r\n";
    mv_status st;
    mv_error err;
    char *got = parse_ex(in, sizeof in - 1, STREAM_NONE, NULL, &st, &err, NULL);
    assert_int_equal(st, MV_OK);
    assert_string_equal(got, "* X (\"a\\x00b\")\n");
    free(got);
}

/* NUMBER keeps the atom's spelling in str; value_is on it compares that. */
static void hook_number(rec *rc, const mv_imap_response *r)
{
    assert_int_equal(r->data->n, 2);
    const mv_imap_value *v = &r->data->items[0];
    assert_int_equal(v->type, MV_IMAP_NUMBER);
    assert_string_equal(v->str, "007");
    assert_int_equal(v->len, 3);
    assert_int_equal(v->num, 7);
    assert_true(mv_imap_value_is(v, "007"));
    assert_false(mv_imap_value_is(v, "7"));
    v = &r->data->items[1];
    assert_int_equal(v->type, MV_IMAP_NIL);
    assert_null(v->str);
}

static void test_number_fields(void **state)
{
    rec rc = {0};
    rc.hook = hook_number;
    mv_imap_parser *p = new_parser(&rc, NULL);
    mv_error err = {0};
    assert_int_equal(mv_imap_parser_feed(p, "* X 007 NIL\r\n", 13, &err), MV_OK);
    assert_int_equal(rc.hook_calls, 1);
    mv_imap_parser_free(p);
    rec_free(&rc);
}

static void test_fetch(void **state)
{
    check("* 12 FETCH (UID 5012 FLAGS (\\Seen $Forwarded) INTERNALDATE \"17-Jul-1996 02:44:25 "
          "-0700\" RFC822.SIZE 12 BODY[] {12}\r\nHello world!)\r\n"
          "* 13 FETCH (BODY[] {3}\r\nabc UID 5013 FLAGS () RFC822.SIZE 3)\r\n"
          "* 14 FETCH (FLAGS (\\Seen \\Answered) MODSEQ (12345678901234) UID 5014)\r\n"
          "* 3 FETCH (FLAGS (\\Seen) UID 7)\r\n"
          "* 4 FETCH (UID 8 MODSEQ (1) FLAGS (Junk $label1 \\Recent))\r\n"
          "* 5 FETCH (X-GM-MSGID 1278455344230334865 X-GM-LABELS (\"\\\\Inbox\" Work))\r\n",
          "inline key=BODY[] num=12 size=12\n"
          "* 12 FETCH ((UID #5012 FLAGS (\\Seen $Forwarded) INTERNALDATE \"17-Jul-1996 02:44:25 "
          "-0700\" RFC822.SIZE #12 BODY[] \"Hello world!\"))\n"
          "inline key=BODY[] num=13 size=3\n"
          "* 13 FETCH ((BODY[] \"abc\" UID #5013 FLAGS () RFC822.SIZE #3))\n"
          "* 14 FETCH ((FLAGS (\\Seen \\Answered) MODSEQ (#12345678901234) UID #5014))\n"
          "* 3 FETCH ((FLAGS (\\Seen) UID #7))\n"
          "* 4 FETCH ((UID #8 MODSEQ (#1) FLAGS (Junk $label1 \\Recent)))\n"
          "* 5 FETCH ((X-GM-MSGID #1278455344230334865 X-GM-LABELS (\"\\\\Inbox\" Work)))\n");
}

static void hook_fetch(rec *rc, const mv_imap_response *r)
{
    assert_int_equal(r->kind, MV_IMAP_RESP_UNTAGGED);
    assert_true(r->has_number);
    assert_int_equal(r->number, 9);
    assert_string_equal(r->keyword, "FETCH");
    assert_int_equal(r->data->n, 1);
    const mv_imap_value *att = &r->data->items[0];
    const mv_imap_value *v = mv_imap_list_find(att, "uid");
    assert_non_null(v);
    assert_int_equal(v->type, MV_IMAP_NUMBER);
    assert_int_equal(v->num, 77);
    v = mv_imap_list_find(att, "MODSEQ");
    assert_non_null(v);
    assert_int_equal(v->type, MV_IMAP_LIST);
    assert_int_equal(v->n, 1);
    assert_int_equal(v->items[0].num, 12345678901234ull);
    v = mv_imap_list_find(att, "FLAGS");
    assert_int_equal(v->type, MV_IMAP_LIST);
    assert_int_equal(v->n, 0);
    v = mv_imap_list_find(att, "BODY[]");
    assert_non_null(v);
    assert_int_equal(v->type, MV_IMAP_STREAMED);
    assert_int_equal(v->num, 5);
    assert_int_equal(v->cookie, 1001);
    v = mv_imap_list_find(att, "INTERNALDATE");
    assert_int_equal(v->type, MV_IMAP_STRING);
    assert_string_equal(v->str, "01-Jan-2024 00:00:00 +0000");
    assert_null(mv_imap_list_find(att, "RFC822.SIZE"));
    /* Values are not keys: "77" follows UID, it is not a key itself. */
    assert_null(mv_imap_list_find(att, "77"));
}

static void test_fetch_tree(void **state)
{
    rec rc = {0};
    rc.mode = STREAM_ALL;
    rc.hook = hook_fetch;
    mv_imap_parser *p = new_parser(&rc, NULL);
    mv_error err = {0};
    const char *in = "* 9 FETCH (FLAGS () BODY[] {5}\r\nfirst UID 77 MODSEQ (12345678901234) "
                     "INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")\r\n";
    assert_int_equal(mv_imap_parser_feed(p, in, strlen(in), &err), MV_OK);
    assert_int_equal(rc.hook_calls, 1);
    assert_string_equal(rc.out.s, "stream key=BODY[] num=9 size=5\n"
                                  "  data \"first\"\n"
                                  "* 9 FETCH ((FLAGS () BODY[] <lit 5 c1001> UID #77 MODSEQ "
                                  "(#12345678901234) INTERNALDATE \"01-Jan-2024 00:00:00 "
                                  "+0000\"))\n");
    mv_imap_parser_free(p);
    rec_free(&rc);
}

static const char sections_in[] =
    "* 1 FETCH (BODY[HEADER.FIELDS (DATE FROM)] {9}\r\nDate: x\r\n UID 1)\r\n"
    "* 2 FETCH (BODY[]<0> {2}\r\nab BINARY[1] ~{3}\r\n\0\1\2 BODY[1.2.MIME] NIL)\r\n"
    "* 3 FETCH (BINARY.SIZE[1] 42 BODY[HEADER.FIELDS.NOT (\"X-A\" Y)]<10.20> \"\")\r\n"
    "* 4 FETCH (BODY[TEXT] {1}\r\nx)\r\n";

static void check_bytes(const char *in, size_t len, enum stream_mode mode, const char *want);

static void test_section_atoms(void **state)
{
    check_bytes(sections_in, sizeof sections_in - 1, STREAM_ALL,
                "stream key=BODY[HEADER.FIELDS (DATE FROM)] num=1 size=9\n"
                "  data \"Date: x\\x0d\\x0a\"\n"
                "* 1 FETCH ((BODY[HEADER.FIELDS (DATE FROM)] <lit 9 c1001> UID #1))\n"
                "stream key=BODY[]<0> num=2 size=2\n"
                "  data \"ab\"\n"
                "stream key=BINARY[1] num=2 size=3\n"
                "  data \"\\x00\\x01\\x02\"\n"
                "* 2 FETCH ((BODY[]<0> <lit 2 c1002> BINARY[1] <lit 3 c1003> BODY[1.2.MIME] "
                "NIL))\n"
                "* 3 FETCH ((BINARY.SIZE[1] #42 BODY[HEADER.FIELDS.NOT (\"X-A\" Y)]<10.20> "
                "\"\"))\n"
                "stream key=BODY[TEXT] num=4 size=1\n"
                "  data \"x\"\n"
                "* 4 FETCH ((BODY[TEXT] <lit 1 c1004>))\n");
}

/* ---- literals ---- */

static const char tricky_in[] =
    "* 1 FETCH (UID 1 BODY[] {40}\r\nSubject: x\r\n\r\nA004 OK done\r\n* BYE fake\r\n)\r\n"
    "* 2 FETCH (BODY[] {30}\r\n* 7 FETCH (FLAGS (\\Deleted))\r\n UID 2)\r\n"
    "* 3 FETCH (BODY[] {7}\r\na\0b\rc\r\n UID 3)\r\n"
    "* 4 FETCH (BODY[] {0}\r\n UID 4 BODY[1] {0}\r\n)\r\n"
    "* 5 FETCH (BODY[1] {2}\r\n{} BODY[2] {3}\r\n)\r\n UID 5)\r\n"
    "* 6 FETCH (BODY[] {4}\r\n\r\n\r\n)\r\n"
    "* LIST (\\HasNoChildren) \"/\" {10}\r\nSent Items\r\n"
    "* LIST () \"/\" {0}\r\n\r\n"
    "* 7 FETCH (BODY[] {3+}\r\nxyz BINARY[] ~{2}\r\n\r\n)\r\n"
    "* 8 FETCH (BODY[] {4}\r\n))(()\r\n"
    "A005 OK done\r\n";

static const char tricky_inline[] =
    "inline key=BODY[] num=1 size=40\n"
    "* 1 FETCH ((UID #1 BODY[] \"Subject: x\\x0d\\x0a\\x0d\\x0aA004 OK done\\x0d\\x0a* BYE "
    "fake\\x0d\\x0a\"))\n"
    "inline key=BODY[] num=2 size=30\n"
    "* 2 FETCH ((BODY[] \"* 7 FETCH (FLAGS (\\\\Deleted))\\x0d\\x0a\" UID #2))\n"
    "inline key=BODY[] num=3 size=7\n"
    "* 3 FETCH ((BODY[] \"a\\x00b\\x0dc\\x0d\\x0a\" UID #3))\n"
    "inline key=BODY[] num=4 size=0\n"
    "inline key=BODY[1] num=4 size=0\n"
    "* 4 FETCH ((BODY[] \"\" UID #4 BODY[1] \"\"))\n"
    "inline key=BODY[1] num=5 size=2\n"
    "inline key=BODY[2] num=5 size=3\n"
    "* 5 FETCH ((BODY[1] \"{}\" BODY[2] \")\\x0d\\x0a\" UID #5))\n"
    "inline key=BODY[] num=6 size=4\n"
    "* 6 FETCH ((BODY[] \"\\x0d\\x0a\\x0d\\x0a\"))\n"
    "inline key=(null) num=0 size=10\n"
    "* LIST ((\\HasNoChildren) \"/\" \"Sent Items\")\n"
    "inline key=(null) num=0 size=0\n"
    "* LIST (() \"/\" \"\")\n"
    "inline key=BODY[] num=7 size=3\n"
    "inline key=BINARY[] num=7 size=2\n"
    "* 7 FETCH ((BODY[] \"xyz\" BINARY[] \"\\x0d\\x0a\"))\n"
    "inline key=BODY[] num=8 size=4\n"
    "* 8 FETCH ((BODY[] \"))((\"))\n"
    "A005 OK \"done\"\n";

static const char tricky_streamed[] =
    "stream key=BODY[] num=1 size=40\n"
    "  data \"Subject: x\\x0d\\x0a\\x0d\\x0aA004 OK done\\x0d\\x0a* BYE fake\\x0d\\x0a\"\n"
    "* 1 FETCH ((UID #1 BODY[] <lit 40 c1001>))\n"
    "stream key=BODY[] num=2 size=30\n"
    "  data \"* 7 FETCH (FLAGS (\\\\Deleted))\\x0d\\x0a\"\n"
    "* 2 FETCH ((BODY[] <lit 30 c1002> UID #2))\n"
    "stream key=BODY[] num=3 size=7\n"
    "  data \"a\\x00b\\x0dc\\x0d\\x0a\"\n"
    "* 3 FETCH ((BODY[] <lit 7 c1003> UID #3))\n"
    "stream key=BODY[] num=4 size=0\n"
    "  data \"\"\n"
    "stream key=BODY[1] num=4 size=0\n"
    "  data \"\"\n"
    "* 4 FETCH ((BODY[] <lit 0 c1004> UID #4 BODY[1] <lit 0 c1005>))\n"
    "stream key=BODY[1] num=5 size=2\n"
    "  data \"{}\"\n"
    "stream key=BODY[2] num=5 size=3\n"
    "  data \")\\x0d\\x0a\"\n"
    "* 5 FETCH ((BODY[1] <lit 2 c1006> BODY[2] <lit 3 c1007> UID #5))\n"
    "stream key=BODY[] num=6 size=4\n"
    "  data \"\\x0d\\x0a\\x0d\\x0a\"\n"
    "* 6 FETCH ((BODY[] <lit 4 c1008>))\n"
    "stream key=(null) num=0 size=10\n"
    "  data \"Sent Items\"\n"
    "* LIST ((\\HasNoChildren) \"/\" <lit 10 c1009>)\n"
    "stream key=(null) num=0 size=0\n"
    "  data \"\"\n"
    "* LIST (() \"/\" <lit 0 c1010>)\n"
    "stream key=BODY[] num=7 size=3\n"
    "  data \"xyz\"\n"
    "stream key=BINARY[] num=7 size=2\n"
    "  data \"\\x0d\\x0a\"\n"
    "* 7 FETCH ((BODY[] <lit 3 c1011> BINARY[] <lit 2 c1012>))\n"
    "stream key=BODY[] num=8 size=4\n"
    "  data \"))((\"\n"
    "* 8 FETCH ((BODY[] <lit 4 c1013>))\n"
    "A005 OK \"done\"\n";

static void check_bytes(const char *in, size_t len, enum stream_mode mode, const char *want)
{
    mv_status st;
    mv_error err;
    int idle;
    char *got = parse_ex(in, len, mode, NULL, &st, &err, &idle);
    if (st != MV_OK)
        fail_msg("unexpected error: %s", err.msg);
    assert_string_equal(got, want);
    assert_int_equal(idle, 1);
    free(got);
}

static void test_literals(void **state)
{
    check_bytes(tricky_in, sizeof tricky_in - 1, STREAM_NONE, tricky_inline);
    check_bytes(tricky_in, sizeof tricky_in - 1, STREAM_ALL, tricky_streamed);
}

static void test_literal_keys(void **state)
{
    check("* 12 FETCH (UID 5 BODY[] {1}\r\nx)\r\n"
          "* 5 XFOO (X {1}\r\nx)\r\n"
          "* 6 FETCH ((({1}\r\nx)))\r\n"
          "* 7 FETCH (A \"k\" {1}\r\nx)\r\n"
          "* 8 FETCH (A 99 {1}\r\nx)\r\n"
          "* 9 FETCH {1}\r\nx\r\n"
          "A1 OK x\r\n",
          "inline key=BODY[] num=12 size=1\n"
          "* 12 FETCH ((UID #5 BODY[] \"x\"))\n"
          "inline key=X num=0 size=1\n"
          "* 5 XFOO ((X \"x\"))\n"
          "inline key=(null) num=6 size=1\n"
          "* 6 FETCH ((((\"x\"))))\n"
          "inline key=(null) num=7 size=1\n"
          "* 7 FETCH ((A \"k\" \"x\"))\n"
          "inline key=99 num=8 size=1\n"
          "* 8 FETCH ((A #99 \"x\"))\n"
          "inline key=(null) num=9 size=1\n"
          "* 9 FETCH (\"x\")\n"
          "A1 OK \"x\"\n");
}

/* Every other literal streamed, every other inline, in one response. */
static void test_literals_alternate(void **state)
{
    check_mode(
        "* 1 FETCH (BODY[1] {2}\r\nab BODY[2] {2}\r\ncd BODY[3] {0}\r\n BODY[4] {1}\r\ne)\r\n",
        STREAM_ALTERNATE,
        "stream key=BODY[1] num=1 size=2\n"
        "  data \"ab\"\n"
        "inline key=BODY[2] num=1 size=2\n"
        "stream key=BODY[3] num=1 size=0\n"
        "  data \"\"\n"
        "inline key=BODY[4] num=1 size=1\n"
        "* 1 FETCH ((BODY[1] <lit 2 c1001> BODY[2] \"cd\" BODY[3] <lit 0 c1003> BODY[4] "
        "\"e\"))\n");
}

static void test_bare_lf_and_blank_lines(void **state)
{
    check("* 3 EXISTS\n"
          "* 1 FETCH (BODY[] {3}\na\nb UID 2)\n"
          "\r\n"
          "\n"
          "* OK [UIDNEXT 5] mixed\r\n"
          "A1 OK done\n",
          "* 3 EXISTS ()\n"
          "inline key=BODY[] num=1 size=3\n"
          "* 1 FETCH ((BODY[] \"a\\x0ab\" UID #2))\n"
          "* OK [UIDNEXT (#5)] \"mixed\"\n"
          "A1 OK \"done\"\n");
}

/* ---- sizes and limits ---- */

static void test_long_lines(void **state)
{
    sbuf in = {0}, want = {0};
    sb_puts(&in, "* SEARCH");
    sb_puts(&want, "* SEARCH (");
    unsigned n = 0;
    while (in.len < 40000) {
        n++;
        sb_printf(&in, " %u", n * 7);
        sb_printf(&want, "%s#%u", n > 1 ? " " : "", n * 7);
    }
    sb_puts(&in, "\r\n* FLAGS (");
    sb_puts(&want, ")\n* FLAGS ((");
    for (unsigned i = 0; in.len < 150000; i++) {
        sb_printf(&in, "%s$Label%05u", i ? " " : "", i);
        sb_printf(&want, "%s$Label%05u", i ? " " : "", i);
    }
    sb_puts(&in, ")\r\n");
    sb_puts(&want, "))\n");
    assert_true(n > 6000);
    check(in.s, want.s);

    /* The same fed in small pieces, so that the lines are buffered and grown. */
    rec rc = {0};
    mv_imap_parser *p = new_parser(&rc, NULL);
    mv_error err = {0};
    for (size_t off = 0; off < in.len; off += 333) {
        size_t k = in.len - off < 333 ? in.len - off : 333;
        assert_int_equal(mv_imap_parser_feed(p, in.s + off, k, &err), MV_OK);
    }
    assert_true(mv_imap_parser_idle(p));
    assert_string_equal(rc.out.s, want.s);
    /* The grown line buffer was given back; the next line still parses. */
    rc.out.len = 0;
    assert_int_equal(mv_imap_parser_feed(p, "* 1 EXI", 7, &err), MV_OK);
    assert_int_equal(mv_imap_parser_feed(p, "STS\r\n", 5, &err), MV_OK);
    assert_string_equal(rc.out.s, "* 1 EXISTS ()\n");
    mv_imap_parser_free(p);
    rec_free(&rc);
    free(in.s);
    free(want.s);
}

static char *nested(int depth)
{
    sbuf b = {0};
    sb_puts(&b, "* X ");
    for (int i = 0; i < depth; i++)
        sb_puts(&b, "(");
    sb_puts(&b, "a");
    for (int i = 0; i < depth; i++)
        sb_puts(&b, ")");
    sb_puts(&b, "\r\n");
    return b.s;
}

static void test_depth(void **state)
{
    char *in = nested(64), *want = nested(64);
    /* want: "* X (((...a...)))" in canonical form is the data list around it. */
    sbuf w = {0};
    sb_puts(&w, "* X (");
    sb_add(&w, want + 4, strlen(want) - 6);
    sb_puts(&w, ")\n");
    check(in, w.s);
    free(in);
    free(want);
    free(w.s);

    in = nested(65);
    check_error(in, "malformed", "lists nested deeper than 64", "\"...((((", "(((a))))");
    free(in);
}

static void test_depth_limit_custom(void **state)
{
    mv_imap_limits lim = {0, 0, 3};
    mv_status st;
    mv_error err;
    char *got = parse_ex("* X (((a)))\r\n", 13, STREAM_NONE, &lim, &st, &err, NULL);
    assert_int_equal(st, MV_OK);
    assert_string_equal(got, "* X ((((a))))\n");
    free(got);
    check_error_n("* X ((((a))))\r\n", 15, &lim, "lists nested deeper than 3", (const char *)NULL);
}

static void test_inline_limit(void **state)
{
    mv_imap_limits lim = {10, 0, 0};
    mv_status st;
    mv_error err;
    char *got = parse_ex("* 1 FETCH (BODY[] {10}\r\n0123456789)\r\n", 36, STREAM_NONE, &lim, &st,
                         &err, NULL);
    assert_int_equal(st, MV_OK);
    free(got);
    check_error_n("* 1 FETCH (BODY[] {11}\r\n01234567890)\r\n", 38, &lim,
                  "server sent a 11-byte literal, more than the 10 bytes allowed inline",
                  "\"* 1 FETCH (BODY[] {11}\"", (const char *)NULL);
    /* The default is 1 MiB. */
    check_error("* 1 FETCH (BODY[] {1048577}\r\n", "1048577-byte literal",
                "1048576 bytes allowed inline");
    /* A streamed literal has no such limit: it never sits in memory. */
    got = parse_ex("* 1 FETCH (BODY[] {11}\r\n01234567890)\r\n", 38, STREAM_ALL, &lim, &st, &err,
                   NULL);
    assert_int_equal(st, MV_OK);
    assert_string_equal(got, "stream key=BODY[] num=1 size=11\n"
                             "  data \"01234567890\"\n"
                             "* 1 FETCH ((BODY[] <lit 11 c1001>))\n");
    free(got);
}

static void test_inline_literal_default_size(void **state)
{
    /* Exactly the default inline limit (1 MiB) works and is delivered whole. */
    size_t n = 1 << 20;
    sbuf in = {0};
    sb_printf(&in, "* 1 FETCH (BODY[] {%zu}\r\n", n);
    for (size_t i = 0; i < n; i++) {
        char c = (char)('a' + i % 26);
        sb_add(&in, &c, 1);
    }
    sb_puts(&in, ")\r\n");
    mv_status st;
    mv_error err;
    char *got = parse_ex(in.s, in.len, STREAM_NONE, NULL, &st, &err, NULL);
    assert_int_equal(st, MV_OK);
    const char *prefix = "inline key=BODY[] num=1 size=1048576\n* 1 FETCH ((BODY[] \"abcdefghijklm";
    assert_memory_equal(got, prefix, strlen(prefix));
    assert_int_equal(strlen(got), strlen("inline key=BODY[] num=1 size=1048576\n") +
                                      strlen("* 1 FETCH ((BODY[] \"\"))\n") + n);
    free(got);
    free(in.s);
}

static void test_max_response(void **state)
{
    mv_imap_limits lim = {0, 100, 0};
    char line[200];
    memset(line, 'x', sizeof line);
    memcpy(line, "* SEARCH ", 9);

    /* 98 bytes + CRLF = 100: fits exactly; one more does not. */
    memcpy(line + 98, "\r\n", 2);
    mv_status st;
    mv_error err;
    char *got = parse_ex(line, 100, STREAM_NONE, &lim, &st, &err, NULL);
    assert_int_equal(st, MV_OK);
    free(got);
    memset(line, 'x', sizeof line);
    memcpy(line, "* SEARCH ", 9);
    memcpy(line + 99, "\r\n", 2);
    check_error_n(line, 101, &lim, "server sent a response longer than 100 bytes",
                  "\"* SEARCH xxxx", (const char *)NULL);
    /* No line end at all: the error comes as soon as the limit is passed. */
    check_error_n(line, 150, &lim, "longer than 100 bytes", (const char *)NULL);

    /* Inline literals count; streamed ones do not. */
    const char *in =
        "* 1 FETCH (BODY[] {80}\r\n"
        "01234567890123456789012345678901234567890123456789012345678901234567890123456789"
        ")\r\n";
    check_error_n(in, strlen(in), &lim, "longer than 100 bytes", (const char *)NULL);
    got = parse_ex(in, strlen(in), STREAM_ALL, &lim, &st, &err, NULL);
    assert_int_equal(st, MV_OK);
    free(got);
    /* Lines after a literal count as well. */
    in = "* 1 FETCH (BODY[] {1}\r\nx UID 1 FLAGS (\\Seen \\Answered \\Flagged \\Draft \\Deleted "
         "$Forwarded Junk NonJunk $Label1))\r\n";
    check_error_n(in, strlen(in), &lim, "longer than 100 bytes", (const char *)NULL);

    /* Fed in pieces, the partial line is refused as soon as it passes the limit. */
    rec rc = {0};
    mv_imap_parser *p = new_parser(&rc, &lim);
    mv_error_clear(&err);
    assert_int_equal(mv_imap_parser_feed(p, line, 60, &err), MV_OK);
    assert_int_equal(mv_imap_parser_feed(p, line + 60, 40, &err), MV_OK);
    assert_int_equal(mv_imap_parser_feed(p, line + 100, 1, &err), MV_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "longer than 100 bytes: \"* SEARCH xxx"));
    mv_imap_parser_free(p);
    rec_free(&rc);

    /* The limit is per response: many responses are fine. */
    memset(&rc, 0, sizeof rc);
    p = new_parser(&rc, &lim);
    for (int i = 0; i < 50; i++)
        assert_int_equal(mv_imap_parser_feed(p, "* 1 EXISTS\r\n", 12, &err), MV_OK);
    assert_int_equal(rc.nresp, 50);
    mv_imap_parser_free(p);
    rec_free(&rc);
}

/* ---- incomplete input and idle ---- */

static void test_incomplete(void **state)
{
    rec rc = {0};
    rc.mode = STREAM_ALL;
    mv_imap_parser *p = new_parser(&rc, NULL);
    mv_error err = {0};
    assert_int_equal(mv_imap_parser_idle(p), 1);
    assert_int_equal(mv_imap_parser_feed(p, "", 0, &err), MV_OK);
    assert_int_equal(mv_imap_parser_idle(p), 1);
    assert_int_equal(mv_imap_parser_feed(p, "* 3 EXI", 7, &err), MV_OK);
    assert_int_equal(mv_imap_parser_idle(p), 0);
    assert_int_equal(mv_imap_parser_feed(p, "STS\r", 4, &err), MV_OK);
    assert_int_equal(mv_imap_parser_idle(p), 0);
    assert_int_equal(rc.nresp, 0);
    assert_int_equal(mv_imap_parser_feed(p, "\n", 1, &err), MV_OK);
    assert_int_equal(mv_imap_parser_idle(p), 1);
    assert_int_equal(rc.nresp, 1);

    /* A literal count, then the connection ends: not an error, just not idle. */
    assert_int_equal(mv_imap_parser_feed(p, "* 1 FETCH (BODY[] {10}\r\n", 24, &err), MV_OK);
    assert_int_equal(mv_imap_parser_idle(p), 0);
    assert_int_equal(mv_imap_parser_feed(p, "abc", 3, &err), MV_OK);
    assert_int_equal(mv_imap_parser_idle(p), 0);
    assert_int_equal(rc.nresp, 1);
    assert_string_equal(rc.out.s, "* 3 EXISTS ()\nstream key=BODY[] num=1 size=10\n");
    assert_int_equal(rc.lit.len, 3);
    assert_memory_equal(rc.lit.s, "abc", 3);
    assert_int_equal(mv_imap_parser_feed(p, "defghij)", 8, &err), MV_OK);
    assert_int_equal(mv_imap_parser_idle(p), 0);
    assert_int_equal(mv_imap_parser_feed(p, "\r\n", 2, &err), MV_OK);
    assert_int_equal(mv_imap_parser_idle(p), 1);
    assert_int_equal(rc.nresp, 2);
    mv_imap_parser_free(p);
    rec_free(&rc);
}

/* ---- feeding in pieces ---- */

static const char transcript[] =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] "
    "Dovecot ready.\r\n"
    "A001 OK [CAPABILITY IMAP4rev1 CONDSTORE QRESYNC] Logged in\r\n"
    "* CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE SORT CONDSTORE QRESYNC\r\n"
    "A002 OK Capability completed (0.001 + 0.000 secs).\r\n"
    "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
    "* LIST (\\HasNoChildren \\Sent) \"/\" {10}\r\nSent Items\r\n"
    "A003 OK List completed (0.001 + 0.000 secs).\r\n"
    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n"
    "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n"
    "* 2 EXISTS\r\n"
    "* 0 RECENT\r\n"
    "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
    "* OK [UIDNEXT 12] Predicted next UID\r\n"
    "* OK [HIGHESTMODSEQ 12345678901234] Highest\r\n"
    "A004 OK [READ-ONLY] Examine completed (0.001 + 0.000 secs).\r\n"
    "* 1 FETCH (UID 10 FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
    "RFC822.SIZE 43 BODY[] {43}\r\n"
    "Subject: hi\r\n\r\nA005 OK done\r\n* 3 EXPUNGE\r\n))\r\n"
    "* 2 FETCH (BODY[] {37}\r\n"
    "* 7 FETCH (FLAGS (\\Deleted))\r\nx\0y\rz\r\n UID 11 FLAGS () MODSEQ (12345678901234))\r\n"
    "* 2 FETCH (BINARY[1] ~{0}\r\n UID 11)\r\n"
    "* VANISHED (EARLIER) 1:5,9\r\n"
    "+ idling\r\n"
    "A005 OK Fetch completed (0.002 + 0.000 secs).\r\n";

static const char transcript_streamed[] =
    "* OK [CAPABILITY (IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN)] "
    "\"Dovecot ready.\"\n"
    "A001 OK [CAPABILITY (IMAP4rev1 CONDSTORE QRESYNC)] \"Logged in\"\n"
    "* CAPABILITY (IMAP4rev1 SASL-IR ID ENABLE IDLE SORT CONDSTORE QRESYNC)\n"
    "A002 OK \"Capability completed (0.001 + 0.000 secs).\"\n"
    "* LIST ((\\HasNoChildren) \"/\" INBOX)\n"
    "stream key=(null) num=0 size=10\n"
    "  data \"Sent Items\"\n"
    "* LIST ((\\HasNoChildren \\Sent) \"/\" <lit 10 c1001>)\n"
    "A003 OK \"List completed (0.001 + 0.000 secs).\"\n"
    "* FLAGS ((\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded))\n"
    "* OK [PERMANENTFLAGS (())] \"Read-only mailbox.\"\n"
    "* 2 EXISTS ()\n"
    "* 0 RECENT ()\n"
    "* OK [UIDVALIDITY (#1700000000)] \"UIDs valid\"\n"
    "* OK [UIDNEXT (#12)] \"Predicted next UID\"\n"
    "* OK [HIGHESTMODSEQ (#12345678901234)] \"Highest\"\n"
    "A004 OK [READ-ONLY ()] \"Examine completed (0.001 + 0.000 secs).\"\n"
    "stream key=BODY[] num=1 size=43\n"
    "  data \"Subject: hi\\x0d\\x0a\\x0d\\x0aA005 OK done\\x0d\\x0a* 3 EXPUNGE\\x0d\\x0a)\"\n"
    "* 1 FETCH ((UID #10 FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
    "RFC822.SIZE #43 BODY[] <lit 43 c1002>))\n"
    "stream key=BODY[] num=2 size=37\n"
    "  data \"* 7 FETCH (FLAGS (\\\\Deleted))\\x0d\\x0ax\\x00y\\x0dz\\x0d\\x0a\"\n"
    "* 2 FETCH ((BODY[] <lit 37 c1003> UID #11 FLAGS () MODSEQ (#12345678901234)))\n"
    "stream key=BINARY[1] num=2 size=0\n"
    "  data \"\"\n"
    "* 2 FETCH ((BINARY[1] <lit 0 c1004> UID #11))\n"
    "* VANISHED ((EARLIER) 1:5,9)\n"
    "+ \"idling\"\n"
    "A005 OK \"Fetch completed (0.002 + 0.000 secs).\"\n";

/* Feeds in[0..len) in the pieces given by cuts (ascending offsets) into a fresh parser. */
static char *feed_cuts(const char *in, size_t len, enum stream_mode mode, const size_t *cuts,
                       size_t ncuts)
{
    rec rc = {0};
    rc.mode = mode;
    sb_puts(&rc.out, "");
    mv_imap_parser *p = new_parser(&rc, NULL);
    mv_error err = {0};
    size_t prev = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t at = i < ncuts ? cuts[i] : len;
        mv_status st = mv_imap_parser_feed(p, in + prev, at - prev, &err);
        if (st != MV_OK)
            fail_msg("feed failed at %zu: %s", prev, err.msg);
        prev = at;
    }
    assert_int_equal(mv_imap_parser_idle(p), 1);
    mv_imap_parser_free(p);
    free(rc.lit.s);
    return rc.out.s;
}

static void split_everywhere(const char *in, size_t len, enum stream_mode mode, const char *want)
{
    char *ref = feed_cuts(in, len, mode, NULL, 0);
    assert_string_equal(ref, want);
    free(ref);

    /* Two pieces, split at every offset. */
    for (size_t cut = 0; cut <= len; cut++) {
        char *got = feed_cuts(in, len, mode, &cut, 1);
        if (strcmp(got, want) != 0)
            fail_msg("split at %zu differs:\n%s", cut, got);
        free(got);
    }

    /* Byte by byte. */
    size_t *cuts = malloc(len * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    char *got = feed_cuts(in, len, mode, cuts, len);
    assert_string_equal(got, want);
    free(got);

    /* Random pieces of 1..64 bytes, from a fixed seed so that failures reproduce. */
    uint32_t seed = 12345;
    for (int round = 0; round < 200; round++) {
        size_t n = 0;
        for (size_t at = 0;;) {
            seed = seed * 1103515245u + 12345u;
            at += 1 + (seed >> 16) % 64;
            if (at >= len)
                break;
            cuts[n++] = at;
        }
        got = feed_cuts(in, len, mode, cuts, n);
        if (strcmp(got, want) != 0)
            fail_msg("random round %d differs:\n%s", round, got);
        free(got);
    }
    free(cuts);
}

static void test_split_streamed(void **state)
{
    split_everywhere(transcript, sizeof transcript - 1, STREAM_ALL, transcript_streamed);
}

static void test_split_inline_and_alternate(void **state)
{
    /* Same transcript, literals inline: a reference from one feed, then all splits. */
    mv_status st;
    mv_error err;
    char *inl = parse_ex(transcript, sizeof transcript - 1, STREAM_NONE, NULL, &st, &err, NULL);
    assert_int_equal(st, MV_OK);
    assert_non_null(strstr(inl, "* LIST ((\\HasNoChildren \\Sent) \"/\" \"Sent Items\")\n"));
    assert_non_null(strstr(inl, "* 2 FETCH ((BODY[] \"* 7 FETCH (FLAGS (\\\\Deleted))\\x0d\\x0ax"
                                "\\x00y\\x0dz\\x0d\\x0a\" UID #11 FLAGS () MODSEQ "
                                "(#12345678901234)))\n"));
    assert_non_null(strstr(inl, "* 2 FETCH ((BINARY[1] \"\" UID #11))\n"));
    split_everywhere(transcript, sizeof transcript - 1, STREAM_NONE, inl);
    free(inl);

    char *alt =
        parse_ex(transcript, sizeof transcript - 1, STREAM_ALTERNATE, NULL, &st, &err, NULL);
    assert_int_equal(st, MV_OK);
    assert_non_null(strstr(alt, "* LIST ((\\HasNoChildren \\Sent) \"/\" <lit 10 c1001>)\n"));
    assert_non_null(strstr(alt, "inline key=BODY[] num=1 size=43\n"));
    assert_non_null(strstr(alt, "* 2 FETCH ((BODY[] <lit 37 c1003> UID #11"));
    split_everywhere(transcript, sizeof transcript - 1, STREAM_ALTERNATE, alt);
    free(alt);

    split_everywhere(tricky_in, sizeof tricky_in - 1, STREAM_ALL, tricky_streamed);
    split_everywhere(tricky_in, sizeof tricky_in - 1, STREAM_NONE, tricky_inline);
}

/* ---- malformed input ---- */

static void test_malformed(void **state)
{
    /* The full message, for the shape of it. */
    mv_status st;
    mv_error err;
    char *got = parse_ex("* 1 FETCH (UID 5))\r\n", 20, STREAM_NONE, NULL, &st, &err, NULL);
    free(got);
    assert_int_equal(st, MV_ERR_PROTOCOL);
    assert_string_equal(
        err.msg, "server sent a malformed response (unbalanced ')'): \"* 1 FETCH (UID 5))\"");

    check_error("* 1 FETCH (UID 5\r\n", "missing ')'", "\"* 1 FETCH (UID 5\"");
    check_error("* LIST () \"/\"x\r\n", "no space after a quoted string");
    check_error("* LIST () \"/\"\"x\"\r\n", "no space after a quoted string");
    check_error("* LIST () \"/ INBOX\r\n", "unterminated quoted string");
    check_error("* LIST () \"/\\\r\n", "unterminated quoted string");
    check_error("* 1 FETCH (BODY[] {1}\r\nxUID 1)\r\n", "no space after a literal");
    check_error("* 1 FETCH (FLAGS ()UID 1)\r\n", "no space after a list");
    check_error("* 1 FETCH (BODY[] {12x}\r\n", "bad literal syntax", "{12x}");
    check_error("* 1 FETCH (BODY[] {}\r\n", "bad literal syntax");
    check_error("* 1 FETCH (BODY[] {5} \r\n", "bad literal syntax");
    check_error("* 1 FETCH (BODY[] {5}x\r\n", "bad literal syntax");
    check_error("* 1 FETCH (BODY[] {5\r\n", "bad literal syntax");
    check_error("* 1 FETCH (BODY[] ~{5\r\n", "bad literal syntax");
    check_error("* 1 FETCH (BODY[] {99999999999999999999}\r\n", "literal size out of range",
                "{99999999999999999999}");
    check_error("* SEARCH 1\x01 2\r\n", "control character 0x01");
    check_error("FOO BAR\r\n", "expected OK, NO or BAD after the tag", "\"FOO BAR\"");
    check_error("A1 BYE now\r\n", "expected OK, NO or BAD after the tag");
    check_error("A1 OKAY\r\n", "expected OK, NO or BAD after the tag");
    check_error("A1\r\n", "tag not followed by a status");
    check_error("(foo)\r\n", "not a tag, '*' or '+'");
    check_error("*OK\r\n", "no space after '*'");
    check_error("*\r\n", "no space after '*'");
    check_error("* \r\n", "no response keyword");
    check_error("* 5\r\n", "no keyword after the number");
    check_error("* 5 (x)\r\n", "no response keyword");
    check_error("* {5}\r\nhello\r\n", "no response keyword");
    check_error("* 99999999999999999999 EXISTS\r\n", "message number out of range");
    check_error("* OK(x)\r\n", "no space after the status");
    check_error("* SEARCH\"x\"\r\n", "no space after the keyword");
}

static void test_nul_outside_literal(void **state)
{
    static const char a[] = "* SEARCH 1\0 2\r\n";
    check_error_n(a, sizeof a - 1, NULL, "NUL byte outside a literal", "\"* SEARCH 1? 2\"",
                  (const char *)NULL);
    static const char b[] = "* OK hello\0world\r\n";
    check_error_n(b, sizeof b - 1, NULL, "NUL byte outside a literal", (const char *)NULL);
    static const char c[] = "A1 NO x\0\r\n";
    check_error_n(c, sizeof c - 1, NULL, "NUL byte outside a literal", (const char *)NULL);
    static const char d[] = "+ \0\r\n";
    check_error_n(d, sizeof d - 1, NULL, "NUL byte outside a literal", (const char *)NULL);
    static const char e[] = "* \0\r\n";
    check_error_n(e, sizeof e - 1, NULL, "NUL byte outside a literal", (const char *)NULL);
    static const char f[] = "* 1 FETCH (BODY[] {1}\r\nx\0)\r\n";
    check_error_n(f, sizeof f - 1, NULL, "NUL byte outside a literal", (const char *)NULL);
    static const char g[] = "\0\r\n";
    check_error_n(g, sizeof g - 1, NULL, "NUL byte outside a literal", (const char *)NULL);
}

/* Messages quote a short excerpt: printable ASCII only, at most 80 characters, near the
 * problem, and for a segment after a literal the start of the response as well. */
static void test_error_excerpts(void **state)
{
    sbuf in = {0};
    sb_puts(&in, "* SEARCH");
    for (int i = 0; i < 2000; i++)
        sb_printf(&in, " %d", i);
    sb_puts(&in, " \"unterminated\r\n");
    mv_status st;
    mv_error err;
    char *got = parse_ex(in.s, in.len, STREAM_NONE, NULL, &st, &err, NULL);
    free(got);
    free(in.s);
    assert_int_equal(st, MV_ERR_PROTOCOL);
    const char *q = strchr(err.msg, '"');
    assert_non_null(q);
    assert_true(strlen(q) <= 82);
    assert_non_null(strstr(err.msg, "unterminated quoted string"));
    assert_non_null(strstr(err.msg, "): \"...98"));
    assert_non_null(strstr(err.msg, " 1998 1999 \"unterminated\""));

    got = parse_ex("* 1 FETCH (BODY[] {3}\r\nabc)) \r\n", 31, STREAM_NONE, NULL, &st, &err, NULL);
    free(got);
    assert_string_equal(err.msg, "server sent a malformed response (unbalanced ')'): "
                                 "\"* 1 FETCH (BODY[] {3}\" ... \")) \"");

    got = parse_ex("A1 OK\xff\x80\r\nA2 B\xc3\xa4\x1b[31m\r\n", 22, STREAM_NONE, NULL, &st, &err,
                   NULL);
    free(got);
    assert_string_equal(err.msg, "server sent a malformed response (expected OK, NO or BAD after "
                                 "the tag): \"A1 OK??\"");
    got = parse_ex("A2 B\xc3\xa4\x1b[31m\r\n", 13, STREAM_NONE, NULL, &st, &err, NULL);
    free(got);
    assert_string_equal(err.msg, "server sent a malformed response (expected OK, NO or BAD after "
                                 "the tag): \"A2 B???[31m\"");
}

/* ---- callbacks ---- */

static void test_callback_errors(void **state)
{
    const char *in = "* 1 EXISTS\r\n* 2 EXISTS\r\n* 3 EXISTS\r\n";
    rec rc = {0};
    rc.fail_at = 2;
    rc.fail_status = MV_ERR_IO;
    rc.fail_msg = "cannot write archive";
    mv_imap_parser *p = new_parser(&rc, NULL);
    mv_error err = {0};
    assert_int_equal(mv_imap_parser_feed(p, in, strlen(in), &err), MV_ERR_IO);
    assert_int_equal(err.status, MV_ERR_IO);
    assert_string_equal(err.msg, "cannot write archive");
    assert_int_equal(rc.nresp, 2);
    mv_error_clear(&err);
    assert_int_equal(mv_imap_parser_feed(p, in, strlen(in), &err), MV_ERR_IO);
    assert_string_equal(err.msg, "cannot write archive");
    assert_int_equal(rc.nresp, 2);
    assert_int_equal(mv_imap_parser_idle(p), 0);
    mv_imap_parser_free(p);
    rec_free(&rc);

    /* Without a message of its own, the status still comes through with a generic one. */
    memset(&rc, 0, sizeof rc);
    rc.fail_at = 1;
    rc.fail_status = MV_ERR_FULL;
    p = new_parser(&rc, NULL);
    mv_error_clear(&err);
    assert_int_equal(mv_imap_parser_feed(p, in, strlen(in), &err), MV_ERR_FULL);
    assert_string_equal(err.msg, "IMAP response handler failed (disk-full)");
    assert_int_equal(mv_imap_parser_feed(p, in, strlen(in), NULL), MV_ERR_FULL);
    mv_imap_parser_free(p);
    rec_free(&rc);

    /* A literal data callback failing stops at once, mid-literal. */
    const char *lit = "* 1 FETCH (BODY[] {6}\r\nabcdef)\r\n* 2 EXISTS\r\n";
    memset(&rc, 0, sizeof rc);
    rc.mode = STREAM_ALL;
    rc.fail_data_at = 2;
    rc.fail_status = MV_ERR_FULL;
    p = new_parser(&rc, NULL);
    mv_error_clear(&err);
    assert_int_equal(mv_imap_parser_feed(p, lit, 25, &err), MV_OK);
    assert_int_equal(mv_imap_parser_feed(p, lit + 25, strlen(lit) - 25, &err), MV_ERR_FULL);
    assert_string_equal(err.msg, "disk full while writing the message");
    assert_int_equal(rc.nresp, 0);
    mv_error_clear(&err);
    assert_int_equal(mv_imap_parser_feed(p, "x", 1, &err), MV_ERR_FULL);
    assert_string_equal(err.msg, "disk full while writing the message");
    mv_imap_parser_free(p);
    rec_free(&rc);

    /* And the end callback. */
    memset(&rc, 0, sizeof rc);
    rc.mode = STREAM_ALL;
    rc.fail_end_at = 1;
    rc.fail_status = MV_ERR_CORRUPT;
    p = new_parser(&rc, NULL);
    mv_error_clear(&err);
    assert_int_equal(mv_imap_parser_feed(p, lit, strlen(lit), &err), MV_ERR_CORRUPT);
    assert_int_equal(rc.nresp, 0);
    assert_int_equal(rc.nend, 1);
    mv_imap_parser_free(p);
    rec_free(&rc);

    /* A zero-length streamed literal's end callback failing. */
    memset(&rc, 0, sizeof rc);
    rc.mode = STREAM_ALL;
    rc.fail_end_at = 1;
    rc.fail_status = MV_ERR_CORRUPT;
    p = new_parser(&rc, NULL);
    assert_int_equal(mv_imap_parser_feed(p, "* 1 FETCH (BODY[] {0}\r\n)\r\n", 26, NULL),
                     MV_ERR_CORRUPT);
    assert_int_equal(rc.nresp, 0);
    mv_imap_parser_free(p);
    rec_free(&rc);
}

static int begin_stream_77(void *ctx, const char *key, uint64_t number, uint64_t size,
                           uint64_t *cookie)
{
    *cookie = 77;
    return 1;
}

/* No callbacks at all: everything inline, nothing reported, no crash. */
static void test_null_callbacks(void **state)
{
    mv_imap_parser *p = mv_imap_parser_new(NULL, NULL);
    assert_non_null(p);
    const char *in = "* 1 FETCH (BODY[] {3}\r\nabc)\r\nA1 OK x\r\n";
    assert_int_equal(mv_imap_parser_feed(p, in, strlen(in), NULL), MV_OK);
    assert_int_equal(mv_imap_parser_idle(p), 1);
    assert_int_equal(mv_imap_parser_feed(p, "* 1 FETCH (UID 5))\r\n", 20, NULL), MV_ERR_PROTOCOL);
    mv_imap_parser_free(p);
    mv_imap_parser_free(NULL);

    /* Streaming without data or end callbacks: the bytes are dropped, the value is STREAMED. */
    rec rc = {0};
    mv_imap_callbacks cb = {&rc, cb_response, begin_stream_77, NULL, NULL};
    p = mv_imap_parser_new(&cb, NULL);
    assert_int_equal(mv_imap_parser_feed(p, in, strlen(in), NULL), MV_OK);
    assert_string_equal(rc.out.s, "* 1 FETCH ((BODY[] <lit 3 c77>))\n"
                                  "A1 OK \"x\"\n");
    mv_imap_parser_free(p);
    rec_free(&rc);
}

/* Many responses through one parser: the arena is reused and stays correct, including
 * after responses that needed more than one chunk or a big inline literal. */
static void test_many_responses(void **state)
{
    rec rc = {0};
    mv_imap_parser *p = new_parser(&rc, NULL);
    mv_error err = {0};
    char line[128];
    for (int i = 1; i <= 5000; i++) {
        int n = snprintf(line, sizeof line,
                         "* %d FETCH (UID %d FLAGS (\\Seen) BODY[] {5}\r\nhe%03d)\r\n", i, i + 100,
                         i % 1000);
        assert_int_equal(mv_imap_parser_feed(p, line, (size_t)n, &err), MV_OK);
        if (i % 1000 == 0) {
            sbuf big = {0};
            sb_puts(&big, "* 1 FETCH (BODY[] {100000}\r\n");
            for (int k = 0; k < 100000; k++)
                sb_add(&big, "z", 1);
            sb_puts(&big, " X (");
            for (int k = 0; k < 3000; k++)
                sb_printf(&big, "\"s%d\" ", k);
            sb_puts(&big, "))\r\n");
            assert_int_equal(mv_imap_parser_feed(p, big.s, big.len, &err), MV_OK);
            free(big.s);
        }
        rc.out.len = 0;
    }
    assert_int_equal(rc.nresp, 5005);
    assert_int_equal(mv_imap_parser_feed(p, "* 4 FETCH (UID 9 BODY[] {2}\r\nok)\r\n", 34, &err),
                     MV_OK);
    assert_string_equal(rc.out.s,
                        "inline key=BODY[] num=4 size=2\n* 4 FETCH ((UID #9 BODY[] \"ok\"))\n");
    mv_imap_parser_free(p);
    rec_free(&rc);
}

static void test_value_helpers(void **state)
{
    mv_imap_value items[7];
    memset(items, 0, sizeof items);
    items[0] = (mv_imap_value){.type = MV_IMAP_ATOM, .str = "UID", .len = 3};
    items[1] = (mv_imap_value){.type = MV_IMAP_NUMBER, .str = "42", .len = 2, .num = 42};
    items[2] = (mv_imap_value){.type = MV_IMAP_ATOM, .str = "Flags", .len = 5};
    items[3] = (mv_imap_value){.type = MV_IMAP_LIST};
    items[4] = (mv_imap_value){.type = MV_IMAP_STRING, .str = "a\0b", .len = 3};
    items[5] = (mv_imap_value){.type = MV_IMAP_NIL};
    items[6] = (mv_imap_value){.type = MV_IMAP_ATOM, .str = "DANGLING", .len = 8};
    mv_imap_value list = {.type = MV_IMAP_LIST, .items = items, .n = 7};

    assert_true(mv_imap_value_is(&items[0], "uid"));
    assert_true(mv_imap_value_is(&items[0], "UID"));
    assert_false(mv_imap_value_is(&items[0], "UIDS"));
    assert_false(mv_imap_value_is(&items[0], "UI"));
    assert_true(mv_imap_value_is(&items[1], "42"));
    assert_true(mv_imap_value_is(&items[2], "FLAGS"));
    assert_false(mv_imap_value_is(&items[3], ""));
    assert_false(mv_imap_value_is(&items[4], "a"));
    assert_false(mv_imap_value_is(&items[5], "NIL"));
    assert_false(mv_imap_value_is(NULL, "x"));
    assert_false(mv_imap_value_is(&items[0], NULL));
    mv_imap_value empty = {.type = MV_IMAP_STRING, .str = "", .len = 0};
    assert_true(mv_imap_value_is(&empty, ""));
    mv_imap_value streamed = {.type = MV_IMAP_STREAMED, .num = 3};
    assert_false(mv_imap_value_is(&streamed, "3"));

    assert_ptr_equal(mv_imap_list_find(&list, "uid"), &items[1]);
    assert_ptr_equal(mv_imap_list_find(&list, "FLAGS"), &items[3]);
    /* Only keys (even positions) match, and a key without a value is absent. */
    assert_null(mv_imap_list_find(&list, "42"));
    assert_null(mv_imap_list_find(&list, "DANGLING"));
    assert_null(mv_imap_list_find(&list, "BODY[]"));
    assert_null(mv_imap_list_find(&items[0], "UID"));
    assert_null(mv_imap_list_find(NULL, "UID"));
    assert_null(mv_imap_list_find(&list, NULL));
    mv_imap_value none = {.type = MV_IMAP_LIST};
    assert_null(mv_imap_list_find(&none, "UID"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting),
        cmocka_unit_test(test_status_responses),
        cmocka_unit_test(test_continuation),
        cmocka_unit_test(test_response_codes),
        cmocka_unit_test(test_free_text),
        cmocka_unit_test(test_data_responses),
        cmocka_unit_test(test_numbers_and_strings),
        cmocka_unit_test(test_number_fields),
        cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_fetch_tree),
        cmocka_unit_test(test_section_atoms),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_literal_keys),
        cmocka_unit_test(test_literals_alternate),
        cmocka_unit_test(test_bare_lf_and_blank_lines),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_depth_limit_custom),
        cmocka_unit_test(test_inline_limit),
        cmocka_unit_test(test_inline_literal_default_size),
        cmocka_unit_test(test_max_response),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_split_streamed),
        cmocka_unit_test(test_split_inline_and_alternate),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_nul_outside_literal),
        cmocka_unit_test(test_error_excerpts),
        cmocka_unit_test(test_callback_errors),
        cmocka_unit_test(test_null_callbacks),
        cmocka_unit_test(test_many_responses),
        cmocka_unit_test(test_value_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
