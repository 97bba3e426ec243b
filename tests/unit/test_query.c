/* Unit tests for core/query.c: the search language compiled to SQL.
 *
 * Every construct is checked against its exact compiled SQL and parameters, every error
 * against its exact message; then the compiled queries run against a real SQLite database
 * (in memory, the archive's tables in small, an FTS5 table with the default tokenizer) and
 * must find exactly the expected messages. The "now" for relative dates is fixed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "fts.h"
#include "query.h"

#define NOW INT64_C(1700000000) /* 2023-11-14 22:13:20 UTC */

/* The leaves as compiled. */
#define FTS(k) "m.id IN (SELECT rowid FROM search WHERE search MATCH ?" #k ")"
#define NFTS(k) "NOT " FTS(k)
#define LIVE "l.message = m.id AND l.superseded_at IS NULL"
#define FOLDER(op, k)                                                                              \
    "EXISTS (SELECT 1 FROM locations l JOIN mailboxes b ON b.id = l.mailbox WHERE " LIVE           \
    " AND b.name " op " ?" #k ")"
#define ACCOUNT(k)                                                                                 \
    "EXISTS (SELECT 1 FROM locations l JOIN mailboxes b ON b.id = l.mailbox JOIN accounts a "      \
    "ON a.id = b.account WHERE " LIVE " AND a.name = ?" #k ")"
#define FLAG(f, cmp)                                                                               \
    "EXISTS (SELECT 1 FROM locations l WHERE " LIVE " AND l.expunged_at IS NULL AND "              \
    "instr(' ' || l.flags || ' ', ' " f " ') " cmp ")"
#define UNREAD FLAG("\\Seen", "= 0")
#define READ FLAG("\\Seen", "> 0")
#define FLAGGED FLAG("\\Flagged", "> 0")
#define ANSWERED FLAG("\\Answered", "> 0")
#define DRAFT FLAG("\\Draft", "> 0")
#define EXPUNGED "EXISTS (SELECT 1 FROM locations l WHERE " LIVE " AND l.expunged_at IS NOT NULL)"
#define DATE(a, b) "(m.date >= ?" #a " AND m.date < ?" #b ")"

static mv_query *compile(const char *text)
{
    mv_query *q = NULL;
    mv_error err = {0};
    mv_status st = mv_query_parse(text, NOW, &q, &err);
    if (st != MV_OK)
        fprintf(stderr, "unexpected error for [%s]: %s\n", text, err.msg);
    assert_int_equal(st, MV_OK);
    assert_non_null(q);
    return q;
}

/* Checks the compiled SQL and the parameters, given as "i:123" or "s:text", then NULL. */
static void expect(const char *text, const char *where, ...)
{
    mv_query *q = compile(text);
    if (strcmp(mv_query_where(q), where) != 0)
        fprintf(stderr, "query [%s]\n  got      %s\n  expected %s\n", text, mv_query_where(q),
                where);
    assert_string_equal(mv_query_where(q), where);
    va_list ap;
    va_start(ap, where);
    size_t n = 0;
    for (const char *p; (p = va_arg(ap, const char *)) != NULL; n++) {
        const mv_query_param *prm = mv_query_param_at(q, n);
        assert_non_null(prm);
        char got[1024];
        if (prm->is_int)
            snprintf(got, sizeof got, "i:%lld", (long long)prm->i);
        else
            snprintf(got, sizeof got, "s:%s", prm->s);
        if (strcmp(got, p) != 0)
            fprintf(stderr, "query [%s] parameter %zu\n", text, n + 1);
        assert_string_equal(got, p);
    }
    va_end(ap);
    assert_int_equal(mv_query_nparams(q), n);
    assert_null(mv_query_param_at(q, n));
    mv_query_free(q);
}

static void expect_error(const char *text, const char *msg)
{
    mv_query *q = (mv_query *)&q;
    mv_error err = {0};
    mv_status st = mv_query_parse(text, NOW, &q, &err);
    if (st == MV_OK)
        fprintf(stderr, "query [%s] compiled to %s\n", text, mv_query_where(q));
    assert_int_equal(st, MV_ERR_USAGE);
    assert_null(q);
    assert_int_equal(err.status, MV_ERR_USAGE);
    assert_string_equal(err.msg, msg);
    assert_null(strchr(err.msg, '\n'));
}

/* The terms, then NULL. */
static void expect_terms(const char *text, ...)
{
    mv_query *q = compile(text);
    va_list ap;
    va_start(ap, text);
    size_t n = 0;
    for (const char *t; (t = va_arg(ap, const char *)) != NULL; n++) {
        assert_non_null(mv_query_term(q, n));
        assert_string_equal(mv_query_term(q, n), t);
    }
    va_end(ap);
    assert_int_equal(mv_query_nterms(q), n);
    assert_null(mv_query_term(q, n));
    mv_query_free(q);
}

static void expect_exact(const char *text, const char *exact)
{
    mv_query *q = compile(text);
    if (exact == NULL)
        assert_null(mv_query_exact(q));
    else {
        assert_non_null(mv_query_exact(q));
        assert_string_equal(mv_query_exact(q), exact);
    }
    mv_query_free(q);
}

/* ---- compiled form ----------------------------------------------------------------------- */

static void test_empty(void **state)
{
    (void)state;
    expect("", "1", NULL);
    expect("  \t\n ", "1", NULL);
    mv_query *q = NULL;
    assert_int_equal(mv_query_parse(NULL, NOW, &q, NULL), MV_OK);
    assert_string_equal(mv_query_where(q), "1");
    assert_null(mv_query_exact(q));
    assert_int_equal(mv_query_nterms(q), 0);
    mv_query_free(q);
    mv_query_free(NULL);
    expect("*", "1", NULL);
    expect("-*", "0", NULL);
    expect("a OR *", "1", NULL);
    expect("a *", FTS(1), "s:\"a\"", NULL);
    expect("a -*", "0", NULL);
}

static void test_words(void **state)
{
    (void)state;
    expect("foo", FTS(1), "s:\"foo\"", NULL);
    expect("foo bar", FTS(1), "s:\"foo\" AND \"bar\"", NULL);
    expect("foo AND bar", FTS(1), "s:\"foo\" AND \"bar\"", NULL);
    expect("foo OR bar", FTS(1), "s:\"foo\" OR \"bar\"", NULL);
    /* operators are upper case only */
    expect("lower or and not", FTS(1), "s:\"lower\" AND \"or\" AND \"and\" AND \"not\"", NULL);
    expect("Or ANDY NOTE", FTS(1), "s:\"Or\" AND \"ANDY\" AND \"NOTE\"", NULL);
    expect("\"OR\"", FTS(1), "s:\"OR\"", NULL);
    expect("foo*", FTS(1), "s:\"foo\" *", NULL);
    expect("foo**", FTS(1), "s:\"foo*\" *", NULL);
    expect("\"a b\"*", FTS(1), "s:\"a b\" *", NULL);
    expect("\"a b\" *", FTS(1), "s:\"a b\"", NULL); /* "a b" AND everything */
    expect("\"a b c\"", FTS(1), "s:\"a b c\"", NULL);
    expect("e-mail", FTS(1), "s:\"e-mail\"", NULL);
    expect("12:30", FTS(1), "s:\"12:30\"", NULL);
    expect("Đà Nẵng", FTS(1), "s:\"Đà\" AND \"Nẵng\"", NULL);
}

static void test_quoting(void **state)
{
    (void)state;
    /* "" inside quotes is a quote; FTS5 strings double it again */
    expect("\"say \"\"hi\"\"\"", FTS(1), "s:\"say \"\"hi\"\"\"", NULL);
    expect("a\"b", FTS(1), "s:\"a\"\"b\"", NULL);
    expect("\"a\\\"", FTS(1), "s:\"a\\\"", NULL); /* backslash is an ordinary character */
    expect("a\\\"b", FTS(1), "s:\"a\\\"\"b\"", NULL);
    /* FTS5 syntax in user text stays text */
    expect("NEAR", FTS(1), "s:\"NEAR\"", NULL);
    expect("NEAR(a b)", FTS(1), "s:\"NEAR\" AND \"a\" AND \"b\"", NULL);
    expect("^x a*b {body}:x :col", FTS(1), "s:\"^x\" AND \"a*b\" AND \"{body}:x\" AND \":col\"",
           NULL);
    expect("\"a OR b\" \"NOT c\"", FTS(1), "s:\"a OR b\" AND \"NOT c\"", NULL);
    expect("\"x\" * \"y\"", FTS(1), "s:\"x\" AND \"y\"", NULL);
    expect("\"\"\"\"", FTS(1), "s:\"\"\"\"", NULL);
    /* '=' would switch the mailvault tokenizer to exact mode */
    expect("=café ==x", FTS(1), "s:\"café\" AND \"x\"", NULL);
    /* a closing quote ends the word */
    expect("\"a\"b", FTS(1), "s:\"a\" AND \"b\"", NULL);
    expect("from:\"a\"b", FTS(1), "s:{sender} : \"a\" AND \"b\"", NULL);
}

static void test_precedence(void **state)
{
    (void)state;
    /* AND binds tighter than OR; the deeper operand is written first */
    expect("a OR b c", FTS(1), "s:(\"b\" AND \"c\") OR \"a\"", NULL);
    expect("a b OR c", FTS(1), "s:(\"a\" AND \"b\") OR \"c\"", NULL);
    expect("a AND b OR c AND d", FTS(1), "s:(\"a\" AND \"b\") OR (\"c\" AND \"d\")", NULL);
    expect("(a OR b) c", FTS(1), "s:(\"a\" OR \"b\") AND \"c\"", NULL);
    expect("a (b OR c)", FTS(1), "s:(\"b\" OR \"c\") AND \"a\"", NULL);
    expect("((a))", FTS(1), "s:\"a\"", NULL);
    expect("(a (b c)) d", FTS(1), "s:\"a\" AND \"b\" AND \"c\" AND \"d\"", NULL);
    expect("a OR (b OR c)", FTS(1), "s:\"a\" OR \"b\" OR \"c\"", NULL);
    /* NOT binds tightest */
    expect("NOT a b", FTS(1), "s:\"b\" NOT \"a\"", NULL);
    expect("NOT a OR b", "(" NFTS(1) " OR " FTS(2) ")", "s:\"a\"", "s:\"b\"", NULL);
    expect("NOT (a OR b)", NFTS(1), "s:\"a\" OR \"b\"", NULL);
    /* metadata and full text: the full-text part is one MATCH where its first term stood */
    expect("is:read a b", "(" READ " AND " FTS(1) ")", "s:\"a\" AND \"b\"", NULL);
    expect("a is:read b", "(" FTS(1) " AND " READ ")", "s:\"a\" AND \"b\"", NULL);
    expect("a OR is:read OR b", "(" FTS(1) " OR " READ ")", "s:\"a\" OR \"b\"", NULL);
    expect("a is:read OR b", "((" FTS(1) " AND " READ ") OR " FTS(2) ")", "s:\"a\"", "s:\"b\"",
           NULL);
    expect("is:read (is:flagged OR a)", "((" FLAGGED " OR " FTS(1) ") AND " READ ")", "s:\"a\"",
           NULL);
    expect("(a OR is:read) -(b c) date:2019",
           "((" FTS(1) " OR " READ ") AND " NFTS(2) " AND " DATE(3, 4) ")", "s:\"a\"",
           "s:\"b\" AND \"c\"", "i:1546300800", "i:1577836800", NULL);
    expect("is:read OR (is:flagged is:draft) OR is:answered",
           "((" FLAGGED " AND " DRAFT ") OR " READ " OR " ANSWERED ")", NULL);
}

static void test_not(void **state)
{
    (void)state;
    expect("-foo", NFTS(1), "s:\"foo\"", NULL);
    expect("NOT foo", NFTS(1), "s:\"foo\"", NULL);
    expect("NOT NOT foo", FTS(1), "s:\"foo\"", NULL);
    expect("--foo", FTS(1), "s:\"foo\"", NULL);
    expect("-NOT foo", FTS(1), "s:\"foo\"", NULL);
    expect("a -b", FTS(1), "s:\"a\" NOT \"b\"", NULL);
    expect("a AND NOT b", FTS(1), "s:\"a\" NOT \"b\"", NULL);
    expect("a -b -c", FTS(1), "s:\"a\" NOT \"b\" NOT \"c\"", NULL);
    expect("-b a b2 -c", FTS(1), "s:(\"a\" AND \"b2\") NOT \"b\" NOT \"c\"", NULL);
    expect("-a -b", NFTS(1), "s:\"a\" OR \"b\"", NULL);
    expect("-(a b)", NFTS(1), "s:\"a\" AND \"b\"", NULL);
    expect("-(a OR b)", NFTS(1), "s:\"a\" OR \"b\"", NULL);
    expect("x -(a b)", FTS(1), "s:\"x\" NOT (\"a\" AND \"b\")", NULL);
    expect("x -(a OR b)", FTS(1), "s:\"x\" NOT \"a\" NOT \"b\"", NULL);
    expect("a OR -b", "(" FTS(1) " OR " NFTS(2) ")", "s:\"a\"", "s:\"b\"", NULL);
    expect("-a OR -b", NFTS(1), "s:\"a\" AND \"b\"", NULL);
    expect("-a OR -b OR c", "(" NFTS(1) " OR " FTS(2) ")", "s:\"a\" AND \"b\"", "s:\"c\"", NULL);
    expect("-a is:read -b", "(" NFTS(1) " AND " READ ")", "s:\"a\" OR \"b\"", NULL);
    expect("-foo*", NFTS(1), "s:\"foo\" *", NULL);
    expect("-from:x", NFTS(1), "s:{sender} : \"x\"", NULL);
    expect("-\"a b\"", NFTS(1), "s:\"a b\"", NULL);
    /* De Morgan; NOT of a column that may be NULL is true for NULL */
    expect("-(a OR date:2019)", "(" NFTS(1) " AND NOT coalesce(" DATE(2, 3) ", 0))", "s:\"a\"",
           "i:1546300800", "i:1577836800", NULL);
    expect("-(is:read is:flagged)", "(NOT " READ " OR NOT " FLAGGED ")", NULL);
    expect("-is:unread", "NOT " UNREAD, NULL);
    expect("-size:5", "NOT (m.size = ?1)", "i:5", NULL);
    expect("-size:>5", "NOT (m.size > ?1)", "i:5", NULL);
    expect("-has:attachment", "NOT coalesce(m.has_attachment = 1, 0)", NULL);
    expect("-id:x", "NOT coalesce(m.message_id = ?1, 0)", "s:x", NULL);
    expect("-before:2019", "NOT coalesce(m.date < ?1, 0)", "i:1546300800", NULL);
    expect("-folder:x", "NOT " FOLDER("=", 1), "s:x", NULL);
    expect("NOT -(NOT is:read)", "NOT " READ, NULL);
}

static void test_text_fields(void **state)
{
    (void)state;
    expect("from:alice", FTS(1), "s:{sender} : \"alice\"", NULL);
    expect("to:bob", FTS(1), "s:{recipients} : \"bob\"", NULL);
    expect("subject:report", FTS(1), "s:{subject} : \"report\"", NULL);
    expect("body:hello", FTS(1), "s:{body} : \"hello\"", NULL);
    expect("attachment:pdf", FTS(1), "s:{attachments} : \"pdf\"", NULL);
    expect("subject:\"quarterly report\"", FTS(1), "s:{subject} : \"quarterly report\"", NULL);
    expect("subject:\"quarterly rep\"*", FTS(1), "s:{subject} : \"quarterly rep\" *", NULL);
    expect("from:ali*", FTS(1), "s:{sender} : \"ali\" *", NULL);
    expect("from:alice@example.org", FTS(1), "s:{sender} : \"alice@example.org\"", NULL);
    expect("from:a\"b", FTS(1), "s:{sender} : \"a\"\"b\"", NULL);
    expect("from:\"a \"\"b\"\"\"", FTS(1), "s:{sender} : \"a \"\"b\"\"\"", NULL);
    expect("FROM:x Subject:y", FTS(1), "s:{sender} : \"x\" AND {subject} : \"y\"", NULL);
    expect("from:x:y", FTS(1), "s:{sender} : \"x:y\"", NULL);
    expect("from:alice subject:report OR body:x", FTS(1),
           "s:({sender} : \"alice\" AND {subject} : \"report\") OR {body} : \"x\"", NULL);
    expect("(from:alice)", FTS(1), "s:{sender} : \"alice\"", NULL);
    expect("from:\"x\"*", FTS(1), "s:{sender} : \"x\" *", NULL);
}

static void test_folder_account(void **state)
{
    (void)state;
    expect("folder:INBOX", FOLDER("=", 1), "s:INBOX", NULL);
    expect("folder:inbox", FOLDER("=", 1), "s:INBOX", NULL);
    expect("folder:Inbox", FOLDER("=", 1), "s:INBOX", NULL);
    expect("folder:inbox/sub", FOLDER("=", 1), "s:inbox/sub", NULL);
    expect("folder:\"Sent Items\"", FOLDER("=", 1), "s:Sent Items", NULL);
    expect("folder:Sent", FOLDER("=", 1), "s:Sent", NULL);
    expect("folder:Work/*", FOLDER("GLOB", 1), "s:Work/*", NULL);
    expect("folder:Lists.?", FOLDER("GLOB", 1), "s:Lists.?", NULL);
    expect("folder:\"[Gmail]/All Mail\"", FOLDER("=", 1), "s:[Gmail]/All Mail", NULL);
    expect("folder:[Gmail]/*", FOLDER("GLOB", 1), "s:[[]Gmail]/*", NULL);
    expect("folder:\"x' OR 1=1 --\"", FOLDER("=", 1), "s:x' OR 1=1 --", NULL);
    expect("folder:a\\b", FOLDER("=", 1), "s:a\\b", NULL);
    expect("folder:\"Work\"*", FOLDER("=", 1), "s:Work", NULL); /* and *, everything */
    expect("folder:\"Work*\"", FOLDER("GLOB", 1), "s:Work*", NULL);
    expect("account:work", ACCOUNT(1), "s:work", NULL);
    expect("account:Work", ACCOUNT(1), "s:Work", NULL);
    expect("account:\"my account\"", ACCOUNT(1), "s:my account", NULL);
    expect("folder:INBOX account:work a", "(" FOLDER("=", 1) " AND " ACCOUNT(2) " AND " FTS(3) ")",
           "s:INBOX", "s:work", "s:\"a\"", NULL);
}

static void test_dates(void **state)
{
    (void)state;
    expect("date:2019", DATE(1, 2), "i:1546300800", "i:1577836800", NULL);
    expect("date:2019-03", DATE(1, 2), "i:1551398400", "i:1554076800", NULL);
    expect("date:2019-12", DATE(1, 2), "i:1575158400", "i:1577836800", NULL);
    expect("date:2019-3-5", DATE(1, 2), "i:1551744000", "i:1551830400", NULL);
    expect("date:2020-02-29", DATE(1, 2), "i:1582934400", "i:1583020800", NULL);
    expect("date:1969-12-31", DATE(1, 2), "i:-86400", "i:0", NULL);
    expect("date:2019..2020-06-30", DATE(1, 2), "i:1546300800", "i:1593561600", NULL);
    expect("date:2019..2019", DATE(1, 2), "i:1546300800", "i:1577836800", NULL);
    expect("date:..2020", "m.date < ?1", "i:1609459200", NULL);
    expect("date:2019..", "m.date >= ?1", "i:1546300800", NULL);
    expect("before:2019-03", "m.date < ?1", "i:1551398400", NULL);
    expect("after:2019-03", "m.date >= ?1", "i:1551398400", NULL);
    expect("after:2019-03-05 before:2019-03-06", "(m.date >= ?1 AND m.date < ?2)", "i:1551744000",
           "i:1551830400", NULL);
    /* relative to NOW, 2023-11-14 22:13:20 UTC */
    expect("date:today", DATE(1, 2), "i:1699920000", "i:1700006400", NULL);
    expect("date:TODAY", DATE(1, 2), "i:1699920000", "i:1700006400", NULL);
    expect("date:yesterday", DATE(1, 2), "i:1699833600", "i:1699920000", NULL);
    expect("date:yesterday..today", DATE(1, 2), "i:1699833600", "i:1700006400", NULL);
    expect("after:yesterday", "m.date >= ?1", "i:1699833600", NULL);
    expect("before:today", "m.date < ?1", "i:1699920000", NULL);
    expect("date:7d", "m.date >= ?1", "i:1699395200", NULL);
    expect("after:7D", "m.date >= ?1", "i:1699395200", NULL);
    expect("before:2w", "m.date < ?1", "i:1698790400", NULL);
    expect("date:0d", "m.date >= ?1", "i:1700000000", NULL);
    expect("date:1m", "m.date >= ?1", "i:1697321600", NULL);
    expect("date:3m", "m.date >= ?1", "i:1692051200", NULL);
    expect("date:1y", "m.date >= ?1", "i:1668464000", NULL);
    expect("date:2w..1w", DATE(1, 2), "i:1698790400", "i:1699395200", NULL);
    expect("date:2019..7d", DATE(1, 2), "i:1546300800", "i:1699395200", NULL);
    expect("date:1w..today", DATE(1, 2), "i:1699395200", "i:1700006400", NULL);
}

/* Months and years by the calendar: a day that the earlier month lacks becomes its last. */
static void test_relative_calendar(void **state)
{
    (void)state;
    const struct {
        int64_t now;
        const char *q;
        int64_t want;
    } cases[] = {
        {INT64_C(1711886400), "date:1m", INT64_C(1709208000)},  /* 03-31 -> 2024-02-29 */
        {INT64_C(1709208000), "date:1y", INT64_C(1677585600)},  /* 2024-02-29 -> 2023-02-28 */
        {INT64_C(1711886400), "date:13m", INT64_C(1677585600)}, /* 2024-03-31 -> 2023-02-28 */
        {INT64_C(1740744000), "date:12m", INT64_C(1709121600)}, /* 2025-02-28 -> 2024-02-28 */
        {INT64_C(-43200), "date:1d", INT64_C(-129600)},         /* before 1970 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mv_query *q = NULL;
        assert_int_equal(mv_query_parse(cases[i].q, cases[i].now, &q, NULL), MV_OK);
        assert_int_equal(mv_query_param_at(q, 0)->i, cases[i].want);
        mv_query_free(q);
    }
    /* today with a negative now still starts at midnight */
    mv_query *q = NULL;
    assert_int_equal(mv_query_parse("date:today", INT64_C(-43200), &q, NULL), MV_OK);
    assert_int_equal(mv_query_param_at(q, 0)->i, -86400);
    assert_int_equal(mv_query_param_at(q, 1)->i, 0);
    mv_query_free(q);
}

static void test_sizes(void **state)
{
    (void)state;
    expect("size:>1M", "m.size > ?1", "i:1048576", NULL);
    expect("size:<10k", "m.size < ?1", "i:10240", NULL);
    expect("size:>=1k", "m.size >= ?1", "i:1024", NULL);
    expect("size:<=2G", "m.size <= ?1", "i:2147483648", NULL);
    expect("size:100", "m.size = ?1", "i:100", NULL);
    expect("size:100B", "m.size = ?1", "i:100", NULL);
    expect("size:1.5M", "m.size = ?1", "i:1572864", NULL);
    expect("size:1.5k", "m.size = ?1", "i:1536", NULL);
    expect("size:0.1k", "m.size = ?1", "i:102", NULL);
    expect("size:0.0005k", "m.size = ?1", "i:1", NULL);
    expect("size:1kb size:1KB size:1m", "(m.size = ?1 AND m.size = ?2 AND m.size = ?3)", "i:1024",
           "i:1024", "i:1048576", NULL);
    expect("size:100k..2M", "(m.size >= ?1 AND m.size <= ?2)", "i:102400", "i:2097152", NULL);
    expect("size:1k..1k", "(m.size >= ?1 AND m.size <= ?2)", "i:1024", "i:1024", NULL);
    expect("size:10..", "m.size >= ?1", "i:10", NULL);
    expect("size:..10", "m.size <= ?1", "i:10", NULL);
    expect("size:8000000000G", "m.size = ?1", "i:8589934592000000000", NULL);
}

static void test_flags_and_more(void **state)
{
    (void)state;
    expect("is:unread", UNREAD, NULL);
    expect("is:read", READ, NULL);
    expect("is:flagged", FLAGGED, NULL);
    expect("is:answered", ANSWERED, NULL);
    expect("is:draft", DRAFT, NULL);
    expect("is:expunged", EXPUNGED, NULL);
    expect("IS:Unread", UNREAD, NULL);
    expect("is:\"read\"", READ, NULL);
    expect("has:attachment", "m.has_attachment = 1", NULL);
    expect("has:Attachment", "m.has_attachment = 1", NULL);
    expect("id:<abc@example.org>", "m.message_id = ?1", "s:abc@example.org", NULL);
    expect("id:abc@example.org", "m.message_id = ?1", "s:abc@example.org", NULL);
    expect("id:\"<a b>\"", "m.message_id = ?1", "s:a b", NULL);
    expect("id:<x", "m.message_id = ?1", "s:x", NULL);
}

static void test_terms(void **state)
{
    (void)state;
    expect_terms("", NULL);
    expect_terms("is:read date:2019", NULL);
    expect_terms("a -b \"c d\" subject:e* -(f -g) a", "a", "c d", "e*", "g", NULL);
    expect_terms("NOT (x OR -y) z", "y", "z", NULL);
    expect_terms("=café \"say \"\"hi\"\"\"", "=café", "say \"hi\"", NULL);
    expect_terms("a OR *", "a", NULL);
}

static void test_exact(void **state)
{
    (void)state;
    expect_exact("", NULL);
    expect_exact("tokyo 東京 naive", NULL);
    expect_exact("café", "\"=café\"");
    expect_exact("café -résumé \"Đà Nẵng\" naïve* l’été Tokyo café subject:Ünïcode",
                 "\"=café\" OR \"=Đà\" OR \"=Nẵng\" OR \"=naïve\" * OR \"=été\""
                 " OR \"=Ünïcode\"");
    expect_exact("-café", NULL);
    expect_exact("NOT -café", "\"=café\"");
    expect_exact("điện-tử", "\"=điện\" OR \"=tử\"");
    expect_exact("\"Nẵng da\"*", "\"=Nẵng\"");
    expect_exact("cafe\xcc\x81", "\"=cafe\xcc\x81\""); /* a combining acute accent */
    expect_exact("ёлка", "\"=ёлка\"");
    expect_exact("is:read date:2019", NULL);
}

/* ---- errors ------------------------------------------------------------------------------ */

#define DATE_HINT "(use YYYY, YYYY-MM, YYYY-MM-DD, today, yesterday, or 7d, 2w, 3m, 1y for ago)"
#define SIZE_HINT "(use e.g. 100k, >1M, <=2G, 10k..1.5M)"

static void test_errors_structure(void **state)
{
    (void)state;
    expect_error("a)", "query: unbalanced \")\" at character 2");
    expect_error(")(", "query: unbalanced \")\" at character 1");
    expect_error("(a))", "query: unbalanced \")\" at character 4");
    expect_error("(a", "query: unbalanced \"(\" at character 1");
    expect_error("x ((a) b", "query: unbalanced \"(\" at character 3");
    expect_error("(", "query: unbalanced \"(\" at character 1");
    expect_error("a ()", "query: empty parentheses at character 3");
    expect_error("a OR", "query: dangling operator OR at character 3");
    expect_error("OR a", "query: dangling operator OR at character 1");
    expect_error("a AND", "query: dangling operator AND at character 3");
    expect_error("AND a", "query: dangling operator AND at character 1");
    expect_error("a OR OR b", "query: dangling operator OR at character 3");
    expect_error("a OR AND b", "query: dangling operator OR at character 3");
    expect_error("a AND OR b", "query: dangling operator AND at character 3");
    expect_error("(OR a)", "query: dangling operator OR at character 2");
    expect_error("(a OR)", "query: dangling operator OR at character 4");
    expect_error("NOT", "query: nothing after NOT at character 1");
    expect_error("a NOT", "query: nothing after NOT at character 3");
    expect_error("(NOT)", "query: nothing after NOT at character 2");
    expect_error("NOT OR a", "query: nothing after NOT at character 1");
    expect_error("-", "query: nothing after \"-\" at character 1");
    expect_error("a - b", "query: nothing after \"-\" at character 3");
    expect_error("(-)", "query: nothing after \"-\" at character 2");
    expect_error("--", "query: nothing after \"-\" at character 2");
    expect_error("\"abc", "query: unterminated quote at character 1");
    expect_error("a \"b\"\"", "query: unterminated quote at character 3");
    expect_error("from:\"abc", "query: unterminated quote at character 6");
    expect_error("\"\"", "query: empty phrase at character 1");
    expect_error("a \"  \"", "query: empty phrase at character 3");
    /* SQL in the query is text, and a stray parenthesis is caught before anything runs */
    expect_error("'); DROP TABLE messages; --", "query: unbalanced \")\" at character 2");
}

static void test_errors_fields(void **state)
{
    (void)state;
    expect_error("form:x", "query: unknown field \"form:\" at character 1 (did you mean from:?)");
    expect_error("subjet:x",
                 "query: unknown field \"subjet:\" at character 1 (did you mean subject:?)");
    expect_error("a fodler:x",
                 "query: unknown field \"fodler:\" at character 3 (did you mean folder:?)");
    expect_error("attachement:x", "query: unknown field \"attachement:\" at character 1 (did "
                                  "you mean attachment:?)");
    expect_error("Dat:2019", "query: unknown field \"Dat:\" at character 1 (did you mean date:?)");
    expect_error("foo:bar", "query: unknown field \"foo:\" at character 1 (put it in quotes to "
                            "search for it as text)");
    expect_error("re: hello", "query: unknown field \"re:\" at character 1 (put it in quotes to "
                              "search for it as text)");
    expect_error("http://example.org", "query: unknown field \"http:\" at character 1 (put it "
                                       "in quotes to search for it as text)");
    expect_error("from:", "query: empty value for from: at character 1");
    expect_error("a from: b", "query: empty value for from: at character 3");
    expect_error("(from:)", "query: empty value for from: at character 2");
    expect_error("from:\"\"", "query: empty value for from: at character 1");
    expect_error("folder:\" \"", "query: empty value for folder: at character 1");
    expect_error("date:", "query: empty value for date: at character 1");
    expect_error("is:", "query: empty value for is: at character 1");
    expect_error("id:<>", "query: empty value for id: at character 1");
    expect_error("from:*", "query: nothing before \"*\" in from: at character 6");
    expect_error("is:foo", "query: unknown value \"foo\" for is: at character 4 (use unread, "
                           "read, flagged, answered, draft or expunged)");
    expect_error("has:pdf", "query: unknown value \"pdf\" for has: at character 5 (use "
                            "has:attachment)");
}

static void test_errors_values(void **state)
{
    (void)state;
    expect_error("date:2019-13", "query: bad date \"2019-13\" at character 6 " DATE_HINT);
    expect_error("date:2019-02-30", "query: bad date \"2019-02-30\" at character 6 " DATE_HINT);
    expect_error("date:2019-02-29", "query: bad date \"2019-02-29\" at character 6 " DATE_HINT);
    expect_error("date:19", "query: bad date \"19\" at character 6 " DATE_HINT);
    expect_error("date:2019-", "query: bad date \"2019-\" at character 6 " DATE_HINT);
    expect_error("date:2019-03-001", "query: bad date \"2019-03-001\" at character 6 " DATE_HINT);
    expect_error("date:20190", "query: bad date \"20190\" at character 6 " DATE_HINT);
    expect_error("date:tomorrow", "query: bad date \"tomorrow\" at character 6 " DATE_HINT);
    expect_error("date:7", "query: bad date \"7\" at character 6 " DATE_HINT);
    expect_error("date:7h", "query: bad date \"7h\" at character 6 " DATE_HINT);
    expect_error("date:1234567d", "query: bad date \"1234567d\" at character 6 " DATE_HINT);
    expect_error("date:..", "query: bad date \"..\" at character 6 " DATE_HINT);
    expect_error("date:2019..2020-13", "query: bad date \"2020-13\" at character 12 " DATE_HINT);
    expect_error("date:x..2020", "query: bad date \"x\" at character 6 " DATE_HINT);
    expect_error("date:2019..2020..2021",
                 "query: bad date \"2020..2021\" at character 12 " DATE_HINT);
    expect_error("date:2020..2019", "query: bad date range \"2020..2019\" at character 6 (it "
                                    "ends before it starts)");
    expect_error("date:1w..2w", "query: bad date range \"1w..2w\" at character 6 (it ends "
                                "before it starts)");
    expect_error("before:2019..2020", "query: bad date \"2019..2020\" at character 8 " DATE_HINT);
    expect_error("after:", "query: empty value for after: at character 1");
    expect_error("size:1X", "query: bad size \"1X\" at character 6 " SIZE_HINT);
    expect_error("size:>", "query: bad size \">\" at character 6 " SIZE_HINT);
    expect_error("size:1.5", "query: bad size \"1.5\" at character 6 " SIZE_HINT);
    expect_error("size:1.k", "query: bad size \"1.k\" at character 6 " SIZE_HINT);
    expect_error("size:-5", "query: bad size \"-5\" at character 6 " SIZE_HINT);
    expect_error("size:=5", "query: bad size \"=5\" at character 6 " SIZE_HINT);
    expect_error("size:k", "query: bad size \"k\" at character 6 " SIZE_HINT);
    expect_error("size:..", "query: bad size \"..\" at character 6 " SIZE_HINT);
    expect_error("size:1k..x", "query: bad size \"x\" at character 10 " SIZE_HINT);
    expect_error("size:9999999999G", "query: bad size \"9999999999G\" at character 6 " SIZE_HINT);
    expect_error("size:9999999999999999",
                 "query: bad size \"9999999999999999\" at character 6 " SIZE_HINT);
    expect_error("size:2M..1M", "query: bad size range \"2M..1M\" at character 6 (it ends "
                                "before it starts)");
}

static void test_errors_positions(void **state)
{
    (void)state;
    /* positions count characters, not bytes */
    expect_error("Đà Nẵng form:x",
                 "query: unknown field \"form:\" at character 9 (did you mean from:?)");
    expect_error("日本語 (a", "query: unbalanced \"(\" at character 5");
    expect_error("ééé \"x", "query: unterminated quote at character 5");
    expect_error("café date:2019-13", "query: bad date \"2019-13\" at character 11 " DATE_HINT);
    expect_error("😀 a)", "query: unbalanced \")\" at character 4");
    expect_error("\"ü\" size:2M..1M", "query: bad size range \"2M..1M\" at character 10 (it "
                                      "ends before it starts)");
    /* invalid UTF-8 */
    expect_error("a \xff", "query: invalid UTF-8 at character 3");
    expect_error("é\xc0\xaf", "query: invalid UTF-8 at character 2");    /* overlong */
    expect_error("\xed\xa0\x80", "query: invalid UTF-8 at character 1"); /* surrogate */
    expect_error("ab\xe2\x82", "query: invalid UTF-8 at character 3");   /* cut short */
    /* an excerpt of user text is cut on a character boundary */
    char buf[200];
    /* 29 two-byte characters; the excerpt keeps 48 bytes */
    snprintf(buf, sizeof buf, "date:%s", "ééééééééééééééééééééééééééééé");
    expect_error(buf, "query: bad date \"éééééééééééééééééééééééé...\" at character 6 " DATE_HINT);
}

static void test_limits(void **state)
{
    (void)state;
    char buf[20000];
    /* 32 levels are fine, 33 are not */
    size_t n = 0;
    for (int i = 0; i < 32; i++)
        buf[n++] = '(';
    buf[n++] = 'a';
    for (int i = 0; i < 32; i++)
        buf[n++] = ')';
    buf[n] = '\0';
    expect(buf, FTS(1), "s:\"a\"", NULL);
    memmove(buf + 1, buf, n + 1);
    buf[0] = '(';
    expect_error(buf, "query: too deeply nested (more than 32 levels) at character 33");
    n = 0;
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "NOT ");
    snprintf(buf + n, sizeof buf - n, "a");
    expect_error(buf, "query: too deeply nested (more than 32 levels) at character 129");
    /* 256 terms are fine, 257 are not */
    n = 0;
    for (int i = 0; i < 256; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%sis:read", i ? " " : "");
    mv_query *q = compile(buf);
    mv_query_free(q);
    snprintf(buf + n, sizeof buf - n, " x");
    expect_error(buf, "query: too many terms (more than 256) at character 2049");
    /* 16384 bytes are fine, more are not */
    memset(buf, 'a', 16384);
    buf[16384] = '\0';
    q = compile(buf);
    mv_query_free(q);
    buf[16384] = 'b';
    buf[16385] = '\0';
    expect_error(buf, "query: too long (more than 16384 bytes) at character 16385");
}

/* ---- against SQLite ---------------------------------------------------------------------- */

static const char schema[] =
    "CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE mailboxes(id INTEGER PRIMARY KEY, account INTEGER NOT NULL, name TEXT NOT "
    "NULL, UNIQUE(account, name));"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, size INTEGER NOT NULL, date INTEGER,"
    " message_id TEXT, has_attachment INTEGER);"
    "CREATE INDEX messages_message_id ON messages(message_id);"
    "CREATE INDEX messages_date ON messages(date);"
    "CREATE TABLE locations(id INTEGER PRIMARY KEY, mailbox INTEGER NOT NULL,"
    " uidvalidity INTEGER NOT NULL DEFAULT 1, uid INTEGER NOT NULL, message INTEGER NOT NULL,"
    " flags TEXT NOT NULL DEFAULT '', expunged_at INTEGER, superseded_at INTEGER,"
    " UNIQUE(mailbox, uidvalidity, uid));"
    "CREATE INDEX locations_message ON locations(message, mailbox);";

static const char data[] =
    "INSERT INTO accounts VALUES (1, 'work'), (2, 'home');"
    "INSERT INTO mailboxes VALUES (1, 1, 'INBOX'), (2, 1, '[Gmail]/All Mail'), (3, 2, 'Sent'),"
    " (4, 2, 'Drafts'), (5, 1, 'Archive'), (6, 1, 'Junk'), (7, 2, 'Notes'),"
    " (8, 2, 'x'' OR 1=1 --'), (9, 1, '[Gmail]/Trash'), (10, 1, 'G');"
    /* NOW is 1700000000; 1699740800 is three days before, 1699136000 ten */
    "INSERT INTO messages VALUES"
    " (1, 1000, 1552644000, 'm1@x', 0),"    /* 2019-03-15 10:00 */
    " (2, 2097152, 1577836799, 'm2@x', 1)," /* 2019-12-31 23:59:59 */
    " (3, 500, 1593518400, 'm3@x', 0),"     /* 2020-06-30 12:00 */
    " (4, 15000, 1593561600, 'm4@x', 1),"   /* 2020-07-01 00:00 */
    " (5, 100, NULL, NULL, NULL),"          /* no date, not indexed yet */
    " (6, 1572864, 1699740800, 'm6@x', 0)," /* 1.5M */
    " (7, 3000, 1699136000, 'm7@x', 0),"
    " (8, 4000, 1609459200, 'm8@x', 0),"    /* 2021-01-01 */
    " (9, 700, 1525478400, 'm9@x', 0),"     /* 2018-05-05 */
    " (10, 10240, 1643760000, 'm10@x', 1);" /* 2022-02-02 */
    "INSERT INTO locations(mailbox, uid, message, flags, expunged_at, superseded_at) VALUES"
    " (1, 1, 1, '\\Seen', NULL, NULL),"
    " (1, 2, 2, '', NULL, NULL),"
    " (2, 1, 2, '\\Seen', NULL, NULL),"
    " (3, 1, 3, '\\Seen \\Answered', NULL, NULL),"
    " (1, 3, 4, '\\Flagged \\Seen', NULL, NULL),"
    " (4, 1, 5, '\\Draft \\Seen', NULL, NULL),"
    " (1, 4, 6, '', 1699800000, NULL)," /* deleted from INBOX on the server */
    " (5, 1, 6, '\\Seen', NULL, NULL),"
    " (6, 1, 7, '\\Recent', NULL, NULL),"
    " (1, 5, 8, '', NULL, 1699000000)," /* superseded: does not count */
    " (7, 1, 8, '\\Seen', NULL, NULL),"
    " (8, 1, 9, '\\Seen', NULL, NULL),"
    " (2, 2, 10, '\\Seen \\Seen2', NULL, NULL),"
    " (10, 1, 10, '\\Seenx', NULL, NULL);";

static const char *const docs[][5] = {
    /* subject, sender, recipients, body, attachments */
    {"Quarterly report", "Alice <alice@example.org>", "bob@example.org", "Numbers for Q1 attached",
     ""},
    {"Photos", "Bob", "alice", "holiday photos from the trip", "beach.jpg image/jpeg"},
    {"Re: report", "carol", "alice; dave", "see the report draft", ""},
    {"Invoice 42", "billing@shop.example", "alice", "please pay", "invoice.pdf application/pdf"},
    {"café meeting", "élise", "bob", "rendez-vous au café", ""},
    {"Đà Nẵng trip", "minh", "alice", "đi Đà Nẵng", ""},
    {"spam offer", "spammer", "alice", "buy now NEAR cheap", ""},
    {"weekly notes", "alice", "team", "report* and \"quoted\" text", ""},
    {"x' OR 1=1 --", "o'brien", "bob", "'); DROP TABLE messages; --", ""},
    {"orchestra and NOT operators", "dave", "alice", "lower or and not", "score.pdf"},
};

static sqlite3 *open_db(const char *tokenizer)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, schema, NULL, NULL, NULL), SQLITE_OK);
    char *sql = sqlite3_mprintf("CREATE VIRTUAL TABLE search USING fts5(subject, sender,"
                                " recipients, body, attachments%s%s%s)",
                                tokenizer ? ", tokenize = '" : "", tokenizer ? tokenizer : "",
                                tokenizer ? "'" : "");
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_free(sql);
    assert_int_equal(sqlite3_exec(db, data, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO search(rowid, subject, sender, recipients,"
                                        " body, attachments) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i + 1);
        for (int c = 0; c < 5; c++)
            sqlite3_bind_text(st, c + 2, docs[i][c], -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return db;
}

static void bind_params(sqlite3_stmt *st, const mv_query *q)
{
    assert_int_equal(sqlite3_bind_parameter_count(st), (int)mv_query_nparams(q));
    for (size_t i = 0; i < mv_query_nparams(q); i++) {
        const mv_query_param *p = mv_query_param_at(q, i);
        int rc = p->is_int ? sqlite3_bind_int64(st, (int)i + 1, p->i)
                           : sqlite3_bind_text(st, (int)i + 1, p->s, -1, SQLITE_STATIC);
        assert_int_equal(rc, SQLITE_OK);
    }
}

/* The ids the query finds, as "1 2 3". */
static void run_query(sqlite3 *db, const char *text, char *out, size_t cap)
{
    mv_query *q = compile(text);
    char *sql =
        sqlite3_mprintf("SELECT m.id FROM messages m WHERE %s ORDER BY m.id", mv_query_where(q));
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s\n%s\n", sqlite3_errmsg(db), sql);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_free(sql);
    bind_params(st, q);
    size_t n = 0;
    out[0] = '\0';
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        n += (size_t)snprintf(out + n, cap - n, "%s%lld", n ? " " : "",
                              (long long)sqlite3_column_int64(st, 0));
    if (rc != SQLITE_DONE)
        fprintf(stderr, "%s: %s\n", text, sqlite3_errmsg(db));
    assert_int_equal(rc, SQLITE_DONE);
    sqlite3_finalize(st);
    mv_query_free(q);
}

static void expect_ids(sqlite3 *db, const char *text, const char *ids)
{
    char got[256];
    run_query(db, text, got, sizeof got);
    if (strcmp(got, ids) != 0)
        fprintf(stderr, "query [%s]: got {%s}, expected {%s}\n", text, got, ids);
    assert_string_equal(got, ids);
}

#define ALL "1 2 3 4 5 6 7 8 9 10"

static void test_sqlite(void **state)
{
    (void)state;
    sqlite3 *db = open_db(NULL);
    expect_ids(db, "", ALL);
    expect_ids(db, "*", ALL);
    expect_ids(db, "-*", "");
    /* full text */
    expect_ids(db, "report", "1 3 8");
    expect_ids(db, "REPORT", "1 3 8");
    expect_ids(db, "report*", "1 3 8");
    expect_ids(db, "repo*", "1 3 8");
    expect_ids(db, "subject:report", "1 3");
    expect_ids(db, "report -subject:report", "8");
    expect_ids(db, "from:alice", "1 8");
    expect_ids(db, "from:ali*", "1 8");
    expect_ids(db, "to:alice", "2 3 4 6 7 10");
    expect_ids(db, "alice", "1 2 3 4 6 7 8 10");
    expect_ids(db, "from:alice OR from:bob", "1 2 8");
    expect_ids(db, "photos OR invoice", "2 4");
    expect_ids(db, "attachment:pdf", "4 10");
    expect_ids(db, "body:report", "3 8");
    expect_ids(db, "subject:\"quarterly report\"", "1");
    expect_ids(db, "subject:\"quarterly rep\"*", "1");
    expect_ids(db, "\"report quarterly\"", "");
    expect_ids(db, "café", "5");
    expect_ids(db, "cafe", "5");
    expect_ids(db, "\"Đà Nẵng trip\"", "6");
    expect_ids(db, "lower or and not", "10");
    expect_ids(db, "NOT operators", "1 2 3 4 5 6 7 8 9");
    expect_ids(db, "orchestra AND operators", "10");
    expect_ids(db, "NEAR cheap", "7");
    expect_ids(db, "NEAR(cheap now)", "7");
    expect_ids(db, "\"quoted\"", "8");
    expect_ids(db, "^report", "1 3 8");
    expect_ids(db, "-(report OR alice)", "5 9");
    expect_ids(db, "-report -alice", "5 9");
    expect_ids(db, "-(report alice)", "2 4 5 6 7 9 10");
    expect_ids(db, "alice -(report OR photos)", "4 6 7 10");
    expect_ids(db, "report OR -alice", "1 3 5 8 9");
    /* metadata */
    expect_ids(db, "is:unread", "2 7 10"); /* 10 is unread in G: \\Seenx is not \\Seen */
    expect_ids(db, "is:read", "1 2 3 4 5 6 8 9 10");
    expect_ids(db, "-is:read", "7");
    expect_ids(db, "is:flagged", "4");
    expect_ids(db, "is:answered", "3");
    expect_ids(db, "is:draft", "5");
    expect_ids(db, "is:expunged", "6");
    expect_ids(db, "-is:expunged", "1 2 3 4 5 7 8 9 10");
    expect_ids(db, "folder:INBOX", "1 2 4 6");
    expect_ids(db, "folder:inbox", "1 2 4 6");
    expect_ids(db, "folder:\"[Gmail]/All Mail\"", "2 10");
    expect_ids(db, "folder:[Gmail]/*", "2 10");
    expect_ids(db, "folder:G", "10");
    expect_ids(db, "folder:?", "10");
    expect_ids(db, "folder:[G]", "");
    expect_ids(db, "folder:*", ALL);
    expect_ids(db, "folder:S*", "3");
    expect_ids(db, "folder:s*", "");
    expect_ids(db, "-folder:INBOX", "3 5 7 8 9 10");
    expect_ids(db, "account:home", "3 5 8 9");
    expect_ids(db, "account:work -folder:INBOX", "7 10"); /* 6 was in INBOX */
    expect_ids(db, "date:2019", "1 2");
    expect_ids(db, "date:2019..2020-06-30", "1 2 3");
    expect_ids(db, "date:..2019", "1 2 9");
    expect_ids(db, "date:2020..", "3 4 6 7 8 10");
    expect_ids(db, "before:2020", "1 2 9");
    expect_ids(db, "after:2020-07-01", "4 6 7 8 10");
    expect_ids(db, "after:2020-07 OR before:2020-07", "1 2 3 4 6 7 8 9 10");
    expect_ids(db, "-date:2019", "3 4 5 6 7 8 9 10");
    expect_ids(db, "-(date:2019 OR is:unread)", "3 4 5 6 8 9");
    expect_ids(db, "date:7d", "6");
    expect_ids(db, "date:2w", "6 7");
    expect_ids(db, "date:2w..1w", "7");
    expect_ids(db, "before:1w", "1 2 3 4 7 8 9 10");
    expect_ids(db, "size:>1M", "2 6");
    expect_ids(db, "size:1.5M", "6");
    expect_ids(db, "size:<1k", "1 3 5 9");
    expect_ids(db, "size:10k", "10");
    expect_ids(db, "size:1k..10k", "7 8 10");
    expect_ids(db, "size:..1000", "1 3 5 9");
    expect_ids(db, "has:attachment", "2 4 10");
    expect_ids(db, "-has:attachment", "1 3 5 6 7 8 9");
    expect_ids(db, "id:<m3@x>", "3");
    expect_ids(db, "id:m3@x", "3");
    expect_ids(db, "-id:m3@x", "1 2 4 5 6 7 8 9 10");
    /* mixed */
    expect_ids(db, "(photos OR invoice) has:attachment -is:flagged", "2");
    expect_ids(db, "(is:unread OR is:flagged) -spam", "2 4 10");
    expect_ids(db, "alice (is:unread OR folder:Sent) OR date:2022", "2 3 7 10");
    expect_ids(db, "-(alice -is:read) -date:2019", "3 4 5 6 8 9 10");
    /* injection attempts find what their text says, and change nothing */
    expect_ids(db, "\"'); DROP TABLE messages; --\"", "9");
    expect_ids(db, "folder:\"x' OR 1=1 --\"", "9");
    expect_ids(db, "folder:\"x' OR 1=1\"", "");
    expect_ids(db, "folder:\"x' OR '1'='1\"", "");
    expect_ids(db, "account:\"' OR 1=1 --\"", "");
    expect_ids(db, "subject:\"x' OR 1=1 --\"", "9");
    expect_ids(db, "from:o'brien", "9");
    expect_ids(db, "id:\"' OR 1=1 --\"", "");
    expect_ids(db, "\"* OR NEAR(a b)\"", "");
    expect_ids(db, "\"report\" OR \"x\" \"} : {\"", "1 3 8");
    expect_ids(db, "'; DELETE FROM messages; SELECT '", "");
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT count(*) FROM messages), (SELECT"
                                        " count(*) FROM sqlite_master WHERE name IN ('messages',"
                                        " 'locations', 'mailboxes', 'accounts', 'search'))",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 10);
    assert_int_equal(sqlite3_column_int(st, 1), 5);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A full binary tree of groups, AND and OR alternating, NOT on every other level. */
static void tree(char *buf, size_t *n, int depth)
{
    if (depth == 0) {
        *n += (size_t)sprintf(buf + *n, "%s", *n % 3 ? "size:>1" : "folder:y*");
        return;
    }
    *n += (size_t)sprintf(buf + *n, "%s(", depth % 4 == 1 ? "-" : "");
    tree(buf, n, depth - 1);
    *n += (size_t)sprintf(buf + *n, "%s", depth % 2 ? " OR " : " ");
    tree(buf, n, depth - 1);
    *n += (size_t)sprintf(buf + *n, ")");
}

/* The deepest and widest queries the limits allow still prepare and run, also inside a larger
 * statement (SQLite 3.40's parser stack is small). */
static void test_sqlite_limits(void **state)
{
    (void)state;
    sqlite3 *db = open_db(NULL);
    static char buf[40000];
    const char *leaves[] = {"is:read", "a", "-a", "-date:2019", "folder:x*"};
    for (size_t li = 0; li < sizeof leaves / sizeof leaves[0]; li++) {
        /* 32 levels, alternating AND / OR / NOT, a leaf beside each */
        size_t n = 0;
        int depth = leaves[li][0] == '-' ? 31 : 32; /* -x is a level itself */
        for (int i = 0; i < depth; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s(is:flagged ",
                                  i % 3 == 2 ? ""
                                  : i % 3    ? "OR "
                                             : "");
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", leaves[li]);
        for (int i = 0; i < depth; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, " OR %s)", leaves[li]);
        char got[256];
        run_query(db, buf, got, sizeof got);
        /* the same with NOT in front of every group */
        n = 0;
        depth = leaves[li][0] == '-' ? 15 : 16;
        for (int i = 0; i < depth; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "-(is:flagged OR ");
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s", leaves[li]);
        for (int i = 0; i < depth; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, " %s)", leaves[li]);
        run_query(db, buf, got, sizeof got);
    }
    /* a full tree of depth 8: 256 terms, every group with two groups in it */
    size_t n = 0;
    tree(buf, &n, 8);
    char got[256];
    run_query(db, buf, got, sizeof got);
    /* a long glob is within SQLite's pattern limit */
    memset(buf, '[', 16384);
    memcpy(buf, "folder:*", 8);
    buf[16384] = '\0';
    run_query(db, buf, got, sizeof got);
    assert_string_equal(got, "");
    sqlite3_close(db);
}

/* With the mailvault tokenizer, the exact expression ranks the accented spelling first. */
static void test_sqlite_exact(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    mv_error err = {0};
    assert_int_equal(mv_fts_register(db, &err), MV_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE messages(id INTEGER PRIMARY KEY, size INTEGER,"
                                  " date INTEGER, message_id TEXT, has_attachment INTEGER);"
                                  "CREATE VIRTUAL TABLE search USING fts5(subject, sender,"
                                  " recipients, body, attachments, tokenize = 'mailvault');"
                                  "INSERT INTO messages(id, size) VALUES (1, 1), (2, 1), (3, 1),"
                                  " (4, 1);"
                                  "INSERT INTO search(rowid, subject, body) VALUES"
                                  " (1, 'Da Nang', 'cafe'), (2, 'Đà Nẵng', 'x'),"
                                  " (3, 'da nẵng', 'café'), (4, 'other', 'resume');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    const struct {
        const char *query, *ids;
    } cases[] = {
        {"\"Đà Nẵng\"", "2 3 1"},  /* 2 and 3 have an exact word, 1 none */
        {"da nang", "1 2 3"},      /* nothing accented: no ranking */
        {"café", "3 1"},           /* both spellings found, the exact one first */
        {"cafe OR Nẵng", "2 3 1"}, /* an accented word anywhere ranks */
        {"Nẵng -résumé", "2 3 1"}, /* a negative accented word does not */
        {"Nẵng -café", "2"},       /* café and cafe are one word to the index */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mv_query *q = compile(cases[i].query);
        const char *exact = mv_query_exact(q);
        char *sql = sqlite3_mprintf(
            "SELECT m.id FROM messages m WHERE %s ORDER BY %s DESC, m.id", mv_query_where(q),
            exact ? "m.id IN (SELECT rowid FROM search WHERE search MATCH ?99)" : "NULL");
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        sqlite3_free(sql);
        for (size_t k = 0; k < mv_query_nparams(q); k++) {
            const mv_query_param *p = mv_query_param_at(q, k);
            if (p->is_int)
                sqlite3_bind_int64(st, (int)k + 1, p->i);
            else
                sqlite3_bind_text(st, (int)k + 1, p->s, -1, SQLITE_STATIC);
        }
        if (exact)
            sqlite3_bind_text(st, 99, exact, -1, SQLITE_STATIC);
        char got[64] = "";
        size_t n = 0;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            n += (size_t)snprintf(got + n, sizeof got - n, "%s%d", n ? " " : "",
                                  sqlite3_column_int(st, 0));
        assert_int_equal(rc, SQLITE_DONE);
        sqlite3_finalize(st);
        if (strcmp(got, cases[i].ids) != 0)
            fprintf(stderr, "query [%s] exact [%s]: got {%s}\n", cases[i].query, exact ? exact : "",
                    got);
        assert_string_equal(got, cases[i].ids);
        mv_query_free(q);
    }
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_not),
        cmocka_unit_test(test_text_fields),
        cmocka_unit_test(test_folder_account),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_relative_calendar),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_flags_and_more),
        cmocka_unit_test(test_terms),
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_errors_structure),
        cmocka_unit_test(test_errors_fields),
        cmocka_unit_test(test_errors_values),
        cmocka_unit_test(test_errors_positions),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_sqlite),
        cmocka_unit_test(test_sqlite_limits),
        cmocka_unit_test(test_sqlite_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
