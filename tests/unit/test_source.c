/* Unit tests for core/source.c: walking Maildirs, mbox files and message files.
 * Every tree is built at test time under a fresh mkdtemp() directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "source.h"

#define CORPUS_DIR "/work/shared/corpus"

/* ---- helpers ---- */

typedef struct event {
    bool is_error;
    mv_status status;
    char *text; /* error message, or path relative to the root */
    char *folder, *flags;
    int64_t offset, date, size;
    unsigned char *data;
    size_t len;
} event;

typedef struct run {
    event *ev;
    size_t n;
} run;

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

static void mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) < 0)
                assert_int_equal(errno, EEXIST);
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) < 0)
        assert_int_equal(errno, EEXIST);
}

static void put(const char *root, const char *rel, const void *data, size_t len)
{
    char path[4096], dir[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdirs(dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void puts_(const char *root, const char *rel, const char *s)
{
    put(root, rel, s, strlen(s));
}

static void set_mtime(const char *root, const char *rel, time_t t)
{
    char path[4096];
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    snprintf(path, sizeof path, "%s/%s", root, rel);
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void rmtree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) < 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        /* Tests make unreadable directories; they must be emptied too. */
        chmod(path, 0700);
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char child[4200];
            snprintf(child, sizeof child, "%s/%s", path, de->d_name);
            rmtree(child);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 4096, n = 0, r;
    unsigned char *b = malloc(cap);
    while ((r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    *len = n;
    return b;
}

/* Reads the current message with pieces of at most cap bytes. */
static unsigned char *read_msg(mv_source *src, size_t cap, size_t *len)
{
    size_t n = 0, bcap = 1024, got;
    unsigned char *b = malloc(bcap);
    unsigned char *piece = malloc(cap);
    mv_error err = {0};
    for (;;) {
        assert_int_equal(mv_source_read(src, piece, cap, &got, &err), MV_OK);
        if (got == 0)
            break;
        assert_true(got <= cap);
        while (n + got > bcap)
            b = realloc(b, bcap *= 2);
        memcpy(b + n, piece, got);
        n += got;
    }
    free(piece);
    *len = n;
    return b;
}

static void collect(const char *path, const mv_source_options *opt, size_t cap, run *r)
{
    mv_source *src = NULL;
    mv_error err = {0};
    size_t rootlen = strlen(path);
    memset(r, 0, sizeof *r);
    assert_int_equal(mv_source_open(path, opt, &src, &err), MV_OK);
    for (int guard = 0; guard < 100000; guard++) {
        const mv_source_msg *m = (const mv_source_msg *)1;
        mv_error_clear(&err);
        mv_status st = mv_source_next(src, &m, &err);
        r->ev = realloc(r->ev, (r->n + 1) * sizeof *r->ev);
        event *e = &r->ev[r->n];
        memset(e, 0, sizeof *e);
        if (st != MV_OK) {
            assert_null(m);
            assert_int_equal(err.status, st);
            assert_null(strchr(err.msg, '\n'));
            e->is_error = true;
            e->status = st;
            e->text = xstrdup(err.msg);
            r->n++;
            continue;
        }
        if (m == NULL)
            break;
        const char *rel = m->path;
        if (strncmp(rel, path, rootlen) == 0 && rel[rootlen] == '/')
            rel += rootlen + 1;
        e->text = xstrdup(rel);
        e->folder = xstrdup(m->folder);
        e->flags = xstrdup(m->flags);
        e->offset = m->offset;
        e->date = m->internaldate;
        e->size = m->size;
        e->data = read_msg(src, cap, &e->len);
        /* The promised size is exactly what reading delivers. */
        assert_int_equal((int64_t)e->len, m->size);
        r->n++;
    }
    mv_source_close(src);
}

static void run_free(run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->ev[i].text);
        free(r->ev[i].folder);
        free(r->ev[i].flags);
        free(r->ev[i].data);
    }
    free(r->ev);
    memset(r, 0, sizeof *r);
}

static void expect_msg(const event *e, const char *rel, const char *folder, const char *flags)
{
    assert_false(e->is_error);
    assert_string_equal(e->text, rel);
    assert_string_equal(e->folder, folder);
    assert_string_equal(e->flags, flags);
}

static void expect_bytes(const event *e, const char *bytes)
{
    assert_false(e->is_error);
    assert_int_equal(e->len, strlen(bytes));
    assert_memory_equal(e->data, bytes, e->len);
}

static void expect_error(const event *e, const char *needle1, const char *needle2)
{
    assert_true(e->is_error);
    assert_int_equal(e->status, MV_ERR_INPUT);
    if (strstr(e->text, needle1) == NULL || (needle2 && strstr(e->text, needle2) == NULL))
        fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", e->text, needle1, needle2 ? needle2 : "");
}

static int setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = malloc(4096);
    snprintf(dir, 4096, "%s/mv_source_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    rmtree(*state);
    free(*state);
    return 0;
}

static char *sub(const char *root, const char *rel)
{
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/%s", root, rel);
    return p;
}

static const char MSG_A[] = "From: a@example.org\nSubject: one\n\nbody one\n";
static const char MSG_B[] = "Return-Path: <b@example.org>\r\nSubject: two\r\n\r\nbody two\r\n";
static const char MSG_C[] = "Received: from x by y; Wed, 27 Nov 2026 21:08:16 +0000\n"
                            "Subject: =?UTF-8?Q?caf=C3=A9?=\n\n\xc3\xa9t\xc3\xa9\n";

/* ---- flags ---- */

static void test_flags_conversion(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(mv_source_flags_from_maildir("FRS", out, sizeof out), 24);
    assert_string_equal(out, "\\Answered \\Flagged \\Seen");
    assert_int_equal(mv_source_flags_from_maildir("TSRPFD", out, sizeof out), 51);
    assert_string_equal(out, "\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded");
    assert_int_equal(mv_source_flags_from_maildir("axZ", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(mv_source_flags_from_maildir("S", out, 5), -1);
    assert_int_equal(mv_source_flags_from_maildir("S", out, 6), 5);
    assert_string_equal(out, "\\Seen");

    assert_int_equal(mv_source_flags_to_maildir("\\Seen \\Answered $Forwarded", out, sizeof out),
                     3);
    assert_string_equal(out, "PRS");
    assert_int_equal(
        mv_source_flags_to_maildir("$Forwarded \\Draft \\Deleted \\Seen \\Flagged \\Answered", out,
                                   sizeof out),
        6);
    assert_string_equal(out, "DFPRST");
    assert_int_equal(mv_source_flags_to_maildir("\\seen  \\Recent $Junk", out, sizeof out), 1);
    assert_string_equal(out, "S");
    assert_int_equal(mv_source_flags_to_maildir("", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(mv_source_flags_to_maildir("\\Seen \\Draft", out, 2), -1);
    assert_int_equal(mv_source_flags_to_maildir("\\Seen \\Draft", out, 3), 2);
    assert_string_equal(out, "DS");
}

/* ---- Maildir trees ---- */

static void test_maildir_tree(void **state)
{
    const char *root = *state;
    static const unsigned char binary[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0};
    puts_(root, "cur/1000.a:2,FRS", MSG_A);
    puts_(root, "cur/.hidden", MSG_A);
    puts_(root, "new/1001.b:2,S", MSG_B);
    puts_(root, "new/1002.c", MSG_C);
    puts_(root, "tmp/1003.d", MSG_A);
    puts_(root, "dovecot-uidlist", "3 V1 N4 G0\n1 :1000.a\n");
    puts_(root, "dovecot-keywords", "0 $Junk\n");
    put(root, "dovecot.index.log", binary, sizeof binary);
    puts_(root, "subscriptions", "Lists/kernel\n");
    puts_(root, ".Lists.kernel/cur/2000.e:2,T", MSG_B);
    puts_(root, ".Lists.kernel/new/2002.f", MSG_A);
    puts_(root, ".Lists.kernel/tmp/2001", MSG_A);
    puts_(root, ".Lists.kernel/maildirfolder", "");
    puts_(root, ".Lists.kernel/dovecot-uidvalidity.5f1c", "");
    puts_(root, "Archive/2019/cur/3000.g:2,DP", MSG_C);
    puts_(root, "Sent/new/4000.h", MSG_A);
    put(root, "junk.bin", binary, sizeof binary);
    puts_(root, "empty", "");
    puts_(root, "loose:2,RS", MSG_B);
    puts_(root, "notes/deep/msg1", MSG_C);
    puts_(root, "notes/deep/.mbsyncstate", "FarUidValidity 1\n");
    puts_(root, ".notmuch/xapian/record.glass", "binary");
    puts_(root, "xapdb/iamglass", "\x01\x02");
    puts_(root, "xapdb/postlist.glass", "\x01\x02");
    set_mtime(root, "cur/1000.a:2,FRS", 1600000000);
    set_mtime(root, "notes/deep/msg1", 1234567890);

    run r;
    collect(root, NULL, 65536, &r);
    assert_int_equal(r.n, 11);
    expect_msg(&r.ev[0], ".Lists.kernel/cur/2000.e:2,T", "Lists/kernel", "\\Deleted");
    expect_bytes(&r.ev[0], MSG_B);
    expect_msg(&r.ev[1], ".Lists.kernel/new/2002.f", "Lists/kernel", "");
    expect_msg(&r.ev[2], "Archive/2019/cur/3000.g:2,DP", "Archive/2019", "\\Draft $Forwarded");
    expect_bytes(&r.ev[2], MSG_C);
    expect_msg(&r.ev[3], "Sent/new/4000.h", "Sent", "");
    expect_msg(&r.ev[4], "cur/1000.a:2,FRS", "INBOX", "\\Answered \\Flagged \\Seen");
    expect_bytes(&r.ev[4], MSG_A);
    assert_int_equal(r.ev[4].date, 1600000000);
    assert_int_equal(r.ev[4].offset, 0);
    expect_error(&r.ev[5], "/empty: not a mail message", root);
    expect_error(&r.ev[6], "/junk.bin: not a mail message", root);
    expect_msg(&r.ev[7], "loose:2,RS", "INBOX", "\\Answered \\Seen");
    /* Files in new/ carry no flags even if their name has some. */
    expect_msg(&r.ev[8], "new/1001.b:2,S", "INBOX", "");
    expect_bytes(&r.ev[8], MSG_B);
    expect_msg(&r.ev[9], "new/1002.c", "INBOX", "");
    expect_msg(&r.ev[10], "notes/deep/msg1", "notes/deep", "");
    assert_int_equal(r.ev[10].date, 1234567890);
    run_free(&r);
}

static void test_loose_files_notmuch_style(void **state)
{
    const char *root = *state;
    /* notmuch's corpus: loose files next to cur/ and new/, plain nesting, no Maildir root. */
    puts_(root, "default/01:2,", MSG_A);
    puts_(root, "default/cur/29:2,S", MSG_B);
    puts_(root, "default/bar/18:2,", MSG_C);
    puts_(root, "default/bar/baz/05:2,F", MSG_A);
    puts_(root, "default/bar/baz/cur/25:2,", MSG_B);
    puts_(root, "default/bar/baz/new/27:2,", MSG_C);
    puts_(root, "top-level", MSG_A);

    run r;
    collect(root, NULL, 65536, &r);
    assert_int_equal(r.n, 7);
    expect_msg(&r.ev[0], "default/01:2,", "default", "");
    expect_msg(&r.ev[1], "default/bar/18:2,", "default/bar", "");
    expect_msg(&r.ev[2], "default/bar/baz/05:2,F", "default/bar/baz", "\\Flagged");
    expect_msg(&r.ev[3], "default/bar/baz/cur/25:2,", "default/bar/baz", "");
    expect_msg(&r.ev[4], "default/bar/baz/new/27:2,", "default/bar/baz", "");
    expect_bytes(&r.ev[4], MSG_C);
    expect_msg(&r.ev[5], "default/cur/29:2,S", "default", "\\Seen");
    expect_msg(&r.ev[6], "top-level", "INBOX", "");
    run_free(&r);

    /* The same tree under a sub-path: its own root is INBOX. */
    char *p = sub(root, "default/bar");
    collect(p, NULL, 65536, &r);
    assert_int_equal(r.n, 4);
    expect_msg(&r.ev[0], "18:2,", "INBOX", "");
    expect_msg(&r.ev[1], "baz/05:2,F", "baz", "\\Flagged");
    expect_msg(&r.ev[2], "baz/cur/25:2,", "baz", "");
    expect_msg(&r.ev[3], "baz/new/27:2,", "baz", "");
    run_free(&r);
    free(p);
}

static void test_folder_prefix(void **state)
{
    const char *root = *state;
    mv_source_options opt = {MV_MBOX_RD, "Backup"};
    puts_(root, "md/cur/1:2,S", MSG_A);
    puts_(root, "md/.Lists.kernel/cur/2", MSG_B);
    puts_(root, "md/Archive/x", MSG_C);
    puts_(root, "md/lists/foo.mbox", "From a Wed Nov 27 21:08:16 2026\nSubject: f\n\nfoo\n");
    puts_(root, "one.eml", MSG_A);

    run r;
    char *p = sub(root, "md");
    collect(p, &opt, 65536, &r);
    assert_int_equal(r.n, 4);
    expect_msg(&r.ev[0], ".Lists.kernel/cur/2", "Backup/Lists/kernel", "");
    expect_msg(&r.ev[1], "Archive/x", "Backup/Archive", "");
    expect_msg(&r.ev[2], "cur/1:2,S", "Backup", "\\Seen");
    expect_msg(&r.ev[3], "lists/foo.mbox", "Backup/lists/foo", "");
    expect_bytes(&r.ev[3], "Subject: f\n\nfoo\n");
    run_free(&r);
    free(p);

    /* A single file given as PATH takes the prefix as its folder. */
    p = sub(root, "one.eml");
    collect(p, &opt, 65536, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ev[0].folder, "Backup");
    expect_bytes(&r.ev[0], MSG_A);
    run_free(&r);
    free(p);
}

static void test_single_eml(void **state)
{
    const char *root = *state;
    puts_(root, "note.eml", MSG_C);
    puts_(root, "1234.host:2,RS", MSG_B);
    set_mtime(root, "note.eml", 1700000000);

    run r;
    char *p = sub(root, "note.eml");
    collect(p, NULL, 65536, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ev[0].folder, "note");
    assert_string_equal(r.ev[0].text, p);
    assert_string_equal(r.ev[0].flags, "");
    assert_int_equal(r.ev[0].offset, 0);
    assert_int_equal(r.ev[0].date, 1700000000);
    expect_bytes(&r.ev[0], MSG_C);
    run_free(&r);
    free(p);

    p = sub(root, "1234.host:2,RS");
    collect(p, NULL, 65536, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.ev[0].folder, "1234.host:2,RS");
    assert_string_equal(r.ev[0].flags, "\\Answered \\Seen");
    expect_bytes(&r.ev[0], MSG_B);
    run_free(&r);
    free(p);

    /* A single file that is not mail: an error, then the end. */
    puts_(root, "notes.txt", "Shopping list\nmilk\n");
    p = sub(root, "notes.txt");
    collect(p, NULL, 65536, &r);
    assert_int_equal(r.n, 1);
    expect_error(&r.ev[0], p, ": not a mail message");
    run_free(&r);
    free(p);
}

static void test_nonexistent_path(void **state)
{
    char *p = sub(*state, "no/such/dir");
    mv_source *src = (mv_source *)1;
    mv_error err = {0};
    assert_int_equal(mv_source_open(p, NULL, &src, &err), MV_ERR_INPUT);
    assert_null(src);
    char want[4200];
    snprintf(want, sizeof want, "%s: No such file or directory", p);
    assert_string_equal(err.msg, want);
    free(p);
}

/* Runs as an unprivileged user so that permissions apply. Returns a failure code. */
static int unreadable_check(const char *root)
{
    mv_source *src;
    mv_error err = {0};
    const mv_source_msg *m;
    if (mv_source_open(root, NULL, &src, &err) != MV_OK)
        return 10;
    /* a/1 unreadable, a/2 fine, b/ unreadable directory, c/3 fine */
    if (mv_source_next(src, &m, &err) != MV_ERR_INPUT || !strstr(err.msg, "/a/1: Permission"))
        return 11;
    mv_error_clear(&err);
    if (mv_source_next(src, &m, &err) != MV_OK || !m || !strstr(m->path, "/a/2"))
        return 12;
    if (mv_source_next(src, &m, &err) != MV_ERR_INPUT || !strstr(err.msg, "/b: Permission"))
        return 13;
    mv_error_clear(&err);
    if (mv_source_next(src, &m, &err) != MV_OK || !m || !strstr(m->path, "/c/3"))
        return 14;
    if (mv_source_next(src, &m, &err) != MV_OK || m != NULL)
        return 15;
    mv_source_close(src);
    return 0;
}

static void test_unreadable_file(void **state)
{
    const char *root = *state;
    char p[4200];
    puts_(root, "a/1", MSG_A);
    puts_(root, "a/2", MSG_B);
    puts_(root, "b/4", MSG_B);
    puts_(root, "c/3", MSG_C);
    snprintf(p, sizeof p, "%s/a/1", root);
    assert_int_equal(chmod(p, 0), 0);
    snprintf(p, sizeof p, "%s/b", root);
    assert_int_equal(chmod(p, 0), 0);
    assert_int_equal(chmod(root, 0755), 0);
    if (geteuid() != 0) {
        assert_int_equal(unreadable_check(root), 0);
        return;
    }
    /* root reads everything: check as "nobody" in a child. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* 77: this environment cannot drop privileges (no CAP_SETUID). */
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(77);
        _exit(unreadable_check(root));
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_symlinks_and_depth(void **state)
{
    const char *root = *state;
    char p[4200], t[4200];
    puts_(root, "real/m1", MSG_A);
    snprintf(p, sizeof p, "%s/real/loop", root);
    assert_int_equal(symlink("..", p), 0); /* a directory loop */
    snprintf(p, sizeof p, "%s/real/link-to-m1", root);
    assert_int_equal(symlink("m1", p), 0); /* links to files are followed */
    snprintf(p, sizeof p, "%s/real/fifo", root);
    assert_int_equal(mkfifo(p, 0644), 0); /* never opened: it would block */

    /* 70 levels: deeper than the 64 allowed. */
    size_t n = (size_t)snprintf(t, sizeof t, "deep");
    for (int i = 1; i < 70; i++)
        n += (size_t)snprintf(t + n, sizeof t - n, "/d");
    snprintf(t + n, sizeof t - n, "/toodeep");
    puts_(root, t, MSG_A);
    puts_(root, "deep/d/shallow", MSG_B);

    run r;
    collect(root, NULL, 65536, &r);
    assert_int_equal(r.n, 4);
    expect_error(&r.ev[0], "nested more than 64 levels", "/deep/d/d/d/d/d");
    expect_msg(&r.ev[1], "deep/d/shallow", "deep/d", "");
    expect_msg(&r.ev[2], "real/link-to-m1", "real", "");
    expect_bytes(&r.ev[2], MSG_A);
    expect_msg(&r.ev[3], "real/m1", "real", "");
    run_free(&r);
}

/* ---- mbox ---- */

static const char MBOX_ESC[] = "From alice@example.org Wed Nov 27 21:08:16 2026\n"
                               "From: alice@example.org\n"
                               "Subject: one\n"
                               "\n"
                               ">From the start\n"
                               ">>From twice\n"
                               ">>>From thrice\n"
                               ">Fromage\n"
                               "> From spaced\n"
                               "From: is a header-like body line\n"
                               "\n"
                               "From bob@example.org Thu Nov 28 10:00:00 2026\n"
                               "Subject: two\n"
                               "\n"
                               "body two\n"
                               "\n"
                               "\n"
                               "From carol Fri Nov 29 11:12:13 2026\n"
                               "Subject: three\n"
                               "\n"
                               "last\n";

static void test_mboxrd(void **state)
{
    const char *root = *state;
    puts_(root, "lists.mbox", MBOX_ESC);
    char *p = sub(root, "lists.mbox");
    run r;
    collect(p, NULL, 65536, &r);
    assert_int_equal(r.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(r.ev[i].folder, "lists");
        assert_string_equal(r.ev[i].text, p);
        assert_string_equal(r.ev[i].flags, "");
    }
    expect_bytes(&r.ev[0], "From: alice@example.org\n"
                           "Subject: one\n"
                           "\n"
                           "From the start\n"
                           ">From twice\n"
                           ">>From thrice\n"
                           ">Fromage\n"
                           "> From spaced\n"
                           "From: is a header-like body line\n");
    /* Only the one separating blank line goes; the message's own stays. */
    expect_bytes(&r.ev[1], "Subject: two\n\nbody two\n\n");
    expect_bytes(&r.ev[2], "Subject: three\n\nlast\n");
    assert_int_equal(r.ev[0].offset, 0);
    assert_int_equal(r.ev[1].offset, strstr(MBOX_ESC, "From bob") - MBOX_ESC);
    assert_int_equal(r.ev[2].offset, strstr(MBOX_ESC, "From carol") - MBOX_ESC);
    assert_int_equal(r.ev[0].date, 1795813696);
    assert_int_equal(r.ev[1].date, 1795860000);
    assert_int_equal(r.ev[2].date, 1795950733);
    run_free(&r);
    free(p);
}

static void test_mboxo(void **state)
{
    const char *root = *state;
    mv_source_options opt = {MV_MBOX_O, NULL};
    puts_(root, "old.mbx", MBOX_ESC);
    char *p = sub(root, "old.mbx");
    run r;
    collect(p, &opt, 65536, &r);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.ev[0].folder, "old");
    expect_bytes(&r.ev[0], "From: alice@example.org\n"
                           "Subject: one\n"
                           "\n"
                           "From the start\n"
                           ">>From twice\n"
                           ">>>From thrice\n"
                           ">Fromage\n"
                           "> From spaced\n"
                           "From: is a header-like body line\n");
    expect_bytes(&r.ev[1], "Subject: two\n\nbody two\n\n");
    run_free(&r);
    free(p);
}

static void test_mbox_from_line_rules(void **state)
{
    const char *root = *state;
    /* A "From " line starts a message at the start, after a blank line, or with a valid
     * date; elsewhere it is body text. */
    static const char mbox[] = "From a Wed Nov 27 21:08:16 2026\n"
                               "Subject: x\n"
                               "\n"
                               "body\n"
                               "From here on this is body text\n"
                               "From b Wed Nov 27 21:08:17 2026\n"
                               "Subject: y\n"
                               "\n"
                               "body2\n"
                               "\n"
                               "From MAILER-DAEMON with no date at all\n"
                               "Subject: z\n"
                               "\n"
                               "body3\n";
    puts_(root, "rules.mbox", mbox);
    char *p = sub(root, "rules.mbox");
    run r;
    collect(p, NULL, 65536, &r);
    assert_int_equal(r.n, 3);
    expect_bytes(&r.ev[0], "Subject: x\n\nbody\nFrom here on this is body text\n");
    assert_int_equal(r.ev[0].date, 1795813696);
    expect_bytes(&r.ev[1], "Subject: y\n\nbody2\n");
    assert_int_equal(r.ev[1].date, 1795813697);
    expect_bytes(&r.ev[2], "Subject: z\n\nbody3\n");
    assert_int_equal(r.ev[2].date, -1);
    run_free(&r);
    free(p);

    /* An unescaped "From " after a blank line splits the message; the piece after it has
     * no header, so the whole file is refused rather than imported wrongly. */
    puts_(root, "unescaped.mbox",
          "From a Wed Nov 27 21:08:16 2026\nSubject: x\n\n"
          "From here on, unescaped\nbody\n");
    p = sub(root, "unescaped.mbox");
    collect(p, NULL, 65536, &r);
    assert_int_equal(r.n, 1);
    expect_error(&r.ev[0], "message at offset 44 does not begin with a header field", p);
    run_free(&r);
    free(p);
}

static void test_mbox_crlf(void **state)
{
    const char *root = *state;
    static const char mbox[] = "From a@b Wed Nov 27 21:08:16 2026\r\n"
                               "Subject: crlf\r\n"
                               "Status: RO\r\n"
                               "\r\n"
                               ">From x\r\n"
                               ">>From y\r\n"
                               "body\r\n"
                               "\r\n"
                               "From c@d Wed Nov 27 21:08:16 2026 +0100\r\n"
                               "Subject: two\r\n"
                               "\r\n"
                               "b2\r\n"
                               "\r\n"
                               "From e@f Wed Nov 27 21:08:16 2026\n"
                               "Subject: crlf message in an LF mbox\r\n"
                               "\r\n"
                               "x\r\n"
                               "\n";
    puts_(root, "crlf.mbox", mbox);
    char *p = sub(root, "crlf.mbox");
    run r;
    collect(p, NULL, 65536, &r);
    assert_int_equal(r.n, 3);
    expect_bytes(&r.ev[0], "Subject: crlf\r\nStatus: RO\r\n\r\nFrom x\r\n>From y\r\nbody\r\n");
    assert_string_equal(r.ev[0].flags, "\\Seen");
    assert_int_equal(r.ev[0].date, 1795813696);
    expect_bytes(&r.ev[1], "Subject: two\r\n\r\nb2\r\n");
    assert_int_equal(r.ev[1].date, 1795810096);
    expect_bytes(&r.ev[2], "Subject: crlf message in an LF mbox\r\n\r\nx\r\n");
    run_free(&r);
    free(p);
}

static void test_mbox_status_flags(void **state)
{
    const char *root = *state;
    static const char mbox[] = "From a Wed Nov 27 21:08:16 2026\n"
                               "Subject: 1\n"
                               "Status: RO\n"
                               "X-Status: AF\n"
                               "\n"
                               "b\n"
                               "\n"
                               "From a Wed Nov 27 21:08:16 2026\n"
                               "X-Status: DT\n"
                               "Subject: 2\n"
                               "\n"
                               "b\n"
                               "\n"
                               "From a Wed Nov 27 21:08:16 2026\n"
                               "status: R\n"
                               "\n"
                               "b\n"
                               "\n"
                               "From a Wed Nov 27 21:08:16 2026\n"
                               "Subject: body lines are not headers\n"
                               "\n"
                               "Status: R\n"
                               "X-Status: A\n"
                               "\n"
                               "From a Wed Nov 27 21:08:16 2026\n"
                               "Status: O\n"
                               "X-Statuses: A\n"
                               "\n"
                               "b\n";
    puts_(root, "flags.mbox", mbox);
    char *p = sub(root, "flags.mbox");
    run r;
    collect(p, NULL, 65536, &r);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.ev[0].flags, "\\Answered \\Flagged \\Seen");
    /* The bytes keep their Status lines: the archive stores what was there. */
    expect_bytes(&r.ev[0], "Subject: 1\nStatus: RO\nX-Status: AF\n\nb\n");
    assert_string_equal(r.ev[1].flags, "\\Deleted \\Draft");
    assert_string_equal(r.ev[2].flags, "\\Seen");
    assert_string_equal(r.ev[3].flags, "");
    assert_string_equal(r.ev[4].flags, "");
    run_free(&r);
    free(p);
}

static void test_from_dates(void **state)
{
    const char *root = *state;
    static const char mbox[] = "From a Thu Jan  1 00:00:00 1970\nS: 0\n\n"
                               "From david@tethera.net  Sat Feb  5 09:19:10 2022\nS: 1\n\n"
                               "From a Wed Nov 27 21:08:16 2026 +0100\nS: 2\n\n"
                               "From a Wed Nov 27 21:08:16 -0500 2026\nS: 3\n\n"
                               "From a Wed Nov 27 21:08:16 PST 2026\nS: 4\n\n"
                               "From a wed nov 27 21:08 2026\nS: 5\n\n"
                               "From \"a b\"@c.org Tue Feb 29 23:59:59 2000\nS: 6\n\n"
                               "From - Wed Nov 27 21:08:16 2026\nS: 7\n\n"
                               "From a Wed Nov 27 25:08:16 2026\nS: 8\n\n"
                               "From a Wed Nov 27 21:08:16\nS: 9\n\n"
                               "From a 2026-11-27T21:08:16Z\nS: 10\n\n"
                               "From Wed Nov 27 21:08:16 2026\nS: 11\n";
    static const int64_t want[] = {0,          1644052750, 1795810096, 1795831696,
                                   1795813696, 1795813680, 951868799,  1795813696,
                                   -1,         -1,         -1,         1795813696};
    puts_(root, "dates", mbox);
    char *p = sub(root, "dates");
    run r;
    collect(p, NULL, 65536, &r);
    assert_int_equal(r.n, 12);
    for (size_t i = 0; i < 12; i++) {
        char body[16];
        snprintf(body, sizeof body, "S: %zu\n", i);
        expect_bytes(&r.ev[i], body);
        if (r.ev[i].date != want[i])
            fail_msg("message %zu: date %lld, want %lld", i, (long long)r.ev[i].date,
                     (long long)want[i]);
    }
    run_free(&r);
    free(p);
}

static void test_mbox_truncated(void **state)
{
    const char *root = *state;
    puts_(root, "a.mbox",
          "From a Wed Nov 27 21:08:16 2026\nSubject: ok\n\nfine\n\n"
          "From b Wed Nov 27 21:08:16 2026\nSubject: cut\n\nno newline at the end");
    puts_(root, "b.eml", MSG_A);
    run r;
    collect(root, NULL, 65536, &r);
    assert_int_equal(r.n, 2);
    expect_error(&r.ev[0], "/a.mbox: truncated mbox (no newline at end of file)",
                 "nothing imported");
    expect_msg(&r.ev[1], "b.eml", "INBOX", "");
    run_free(&r);

    char *p = sub(root, "a.mbox");
    collect(p, NULL, 65536, &r);
    assert_int_equal(r.n, 1);
    expect_error(&r.ev[0], p, "truncated mbox");
    run_free(&r);
    free(p);
}

static void test_mbox_empty_message(void **state)
{
    const char *root = *state;
    puts_(root, "1-empty.mbox",
          "From a Wed Nov 27 21:08:16 2026\nSubject: ok\n\nfine\n\n"
          "From b Wed Nov 27 21:08:16 2026\n"
          "From c Wed Nov 27 21:08:16 2026\nSubject: z\n\nz\n");
    puts_(root, "2-eof.mbox",
          "From a Wed Nov 27 21:08:16 2026\nSubject: ok\n\nfine\n\n"
          "From b Wed Nov 27 21:08:16 2026\n");
    puts_(root, "3-noheader.mbox", "From a Wed Nov 27 21:08:16 2026\nhello world\n");
    puts_(root, "4-blank.mbox", "From a Wed Nov 27 21:08:16 2026\n\nbody only\n");
    puts_(root, "5-good.mbox", "From a Wed Nov 27 21:08:16 2026\nSubject: good\n\nyes\n");
    run r;
    collect(root, NULL, 65536, &r);
    assert_int_equal(r.n, 5);
    expect_error(&r.ev[0], "/1-empty.mbox: empty message at offset 51;", "nothing imported");
    expect_error(&r.ev[1], "/2-eof.mbox: empty message at offset 51;", "nothing imported");
    expect_error(&r.ev[2], "/3-noheader.mbox: message at offset 0 does not begin with a header",
                 "nothing imported");
    expect_error(&r.ev[3], "/4-blank.mbox: message at offset 0 does not begin with a header", NULL);
    expect_msg(&r.ev[4], "5-good.mbox", "5-good", "");
    expect_bytes(&r.ev[4], "Subject: good\n\nyes\n");
    run_free(&r);
}

static void test_mbox_in_tree(void **state)
{
    const char *root = *state;
    puts_(root, "lists/foo.mbox",
          "From a Wed Nov 27 21:08:16 2026\nSubject: 1\n\n>From x\n\n"
          "From a Wed Nov 27 21:08:16 2026\nSubject: 2\n\ny\n");
    puts_(root, "old.mbx", "From a Wed Nov 27 21:08:16 2026\nSubject: 3\n\nz\n");
    puts_(root, "Sent", "From a Wed Nov 27 21:08:16 2026\nSubject: 4\n\nw\n");
    puts_(root, "x.eml", MSG_A);
    run r;
    collect(root, NULL, 65536, &r);
    assert_int_equal(r.n, 5);
    expect_msg(&r.ev[0], "Sent", "Sent", "");
    expect_bytes(&r.ev[0], "Subject: 4\n\nw\n");
    expect_msg(&r.ev[1], "lists/foo.mbox", "lists/foo", "");
    expect_bytes(&r.ev[1], "Subject: 1\n\nFrom x\n");
    expect_msg(&r.ev[2], "lists/foo.mbox", "lists/foo", "");
    expect_bytes(&r.ev[2], "Subject: 2\n\ny\n");
    expect_msg(&r.ev[3], "old.mbx", "old", "");
    expect_msg(&r.ev[4], "x.eml", "INBOX", "");
    run_free(&r);
}

/* ---- piecewise reading ---- */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void buf_add(buf *b, const void *d, size_t n)
{
    while (b->n + n > b->cap)
        b->p = realloc(b->p, b->cap = b->cap ? b->cap * 2 : 4096);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void buf_str(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* A message with lines that need escaping, CRLF and LF ends, long lines and a '>' run longer
 * than the source's buffer, so that every rule meets a buffer boundary somewhere. */
static void make_big_message(buf *m, unsigned seed)
{
    buf_str(m, "Subject: big\r\nX-Seed: yes\n\n");
    unsigned x = seed;
    char line[300];
    while (m->n < 600000) {
        x = x * 1103515245u + 12345u;
        unsigned kind = (x >> 16) % 10, len = (x >> 8) % 200;
        size_t k = 0;
        if (kind == 0)
            k = (size_t)snprintf(line, sizeof line, "From the body %u", x);
        else if (kind == 1)
            k = (size_t)snprintf(line, sizeof line, ">From quoted %u", x);
        else if (kind == 2)
            k = (size_t)snprintf(line, sizeof line, ">>>From deep %u", x);
        else if (kind == 3)
            k = 0; /* an empty line, often followed by a "From " line */
        else if (kind == 4)
            k = (size_t)snprintf(line, sizeof line, ">Fromage");
        for (; kind >= 5 && k < len; k++)
            line[k] = (char)('a' + (k * 7 + x) % 26);
        buf_add(m, line, k);
        buf_str(m, (x >> 4) & 1 ? "\r\n" : "\n");
    }
    /* Longer than 64 KiB: a '>' run that decides escaping only at its end. */
    for (int i = 0; i < 70000; i++)
        buf_str(m, ">");
    buf_str(m, "From the far end\n");
    for (int i = 0; i < 70000; i++)
        buf_str(m, ">");
    buf_str(m, "Fromage\n");
    for (int i = 0; i < 100000; i++)
        buf_str(m, "x");
    buf_str(m, "\r\n\n");
}

/* mboxrd writing: one more '>' on every line matching ^>*From . */
static void escape_rd(buf *out, const buf *m)
{
    size_t i = 0;
    while (i < m->n) {
        size_t j = i;
        while (j < m->n && m->p[j] == '>')
            j++;
        if (m->n - j >= 5 && memcmp(m->p + j, "From ", 5) == 0)
            buf_str(out, ">");
        const unsigned char *nl = memchr(m->p + i, '\n', m->n - i);
        size_t end = nl ? (size_t)(nl - m->p) + 1 : m->n;
        buf_add(out, m->p + i, end - i);
        i = end;
    }
}

static void test_read_caps(void **state)
{
    const char *root = *state;
    buf m1 = {0}, m2 = {0}, mbox = {0};
    make_big_message(&m1, 1);
    make_big_message(&m2, 2);
    buf_str(&mbox, "From big@example.org Wed Nov 27 21:08:16 2026\n");
    escape_rd(&mbox, &m1);
    buf_str(&mbox, "\nFrom big@example.org Wed Nov 27 21:08:17 2026\n");
    escape_rd(&mbox, &m2);
    buf_str(&mbox, "\n");
    put(root, "big.mbox", mbox.p, mbox.n);
    put(root, "big.eml", m1.p, m1.n);

    static const size_t caps[] = {1, 3, 4096, 65536, 1 << 20};
    for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
        run r;
        collect(root, NULL, caps[c], &r);
        assert_int_equal(r.n, 3);
        expect_msg(&r.ev[0], "big.eml", "INBOX", "");
        assert_int_equal(r.ev[0].len, m1.n);
        assert_memory_equal(r.ev[0].data, m1.p, m1.n);
        assert_string_equal(r.ev[1].text, "big.mbox");
        assert_int_equal(r.ev[1].size, (int64_t)m1.n);
        assert_int_equal(r.ev[1].len, m1.n);
        assert_memory_equal(r.ev[1].data, m1.p, m1.n);
        assert_int_equal(r.ev[2].len, m2.n);
        assert_memory_equal(r.ev[2].data, m2.p, m2.n);
        run_free(&r);
    }
    free(m1.p);
    free(m2.p);
    free(mbox.p);
}

/* Line ends and separators exactly on the source's 64 KiB buffer boundary. */
static void test_buffer_boundaries(void **state)
{
    const char *root = *state;
    static const char from1[] = "From a Wed Nov 27 21:08:16 2026\r\n";
    static const char hdr[] = "Subject: b\r\n\r\n";
    static const char tail[] = "From b Wed Nov 27 21:08:17 2026\r\nSubject: c\r\n\r\n";
    for (size_t shift = 0; shift < 4; shift++) {
        buf mbox = {0}, want1 = {0};
        buf_str(&mbox, from1);
        buf_str(&want1, hdr);
        /* The "\r\n" separator starts at 65536 - shift: for shift 1 its '\r' is the last
         * byte of the first buffer and its '\n' the first of the next. */
        size_t xs = 65536 - shift - strlen(from1) - strlen(hdr) - 2;
        for (size_t i = 0; i < xs; i++)
            buf_str(&want1, "x");
        buf_str(&want1, "\r\n");
        buf_add(&mbox, want1.p, want1.n);
        buf_str(&mbox, "\r\n");
        assert_int_equal(mbox.n, 65536 - shift + 2);
        buf_str(&mbox, tail);
        /* And an escaped line whose '>' run straddles the next boundary. */
        while (mbox.n < 131072 - 2)
            buf_str(&mbox, "y\n");
        buf_str(&mbox, ">>>From z\r\nend\r\n");
        put(root, "edge.mbox", mbox.p, mbox.n);
        run r;
        collect(root, NULL, 65536, &r);
        assert_int_equal(r.n, 2);
        assert_int_equal(r.ev[0].len, want1.n);
        assert_memory_equal(r.ev[0].data, want1.p, want1.n);
        assert_int_equal(r.ev[1].offset, 65536 - shift + 2);
        const char *d = (const char *)r.ev[1].data;
        size_t n = r.ev[1].len;
        assert_true(n > 20);
        assert_memory_equal(d + n - 16, "\n>>From z\r\nend\r\n", 16);
        run_free(&r);
        free(mbox.p);
        free(want1.p);
    }
}

static void test_rewind(void **state)
{
    const char *root = *state;
    puts_(root, "r.mbox", MBOX_ESC);
    char *p = sub(root, "r.mbox");
    mv_source *src;
    mv_error err = {0};
    const mv_source_msg *m;
    size_t got, len;
    unsigned char piece[64];
    assert_int_equal(mv_source_open(p, NULL, &src, &err), MV_OK);
    assert_int_equal(mv_source_next(src, &m, &err), MV_OK);
    assert_non_null(m);

    unsigned char *full = read_msg(src, 65536, &len);
    assert_int_equal((int64_t)len, m->size);
    /* Rewind after the end, and again in the middle of an escaped line. */
    assert_int_equal(mv_source_rewind(src, &err), MV_OK);
    unsigned char *again = read_msg(src, 1, &len);
    assert_int_equal((int64_t)len, m->size);
    assert_memory_equal(full, again, len);
    free(again);
    assert_int_equal(mv_source_rewind(src, &err), MV_OK);
    size_t upto = (size_t)(strstr((char *)full, "From the") - (char *)full) + 2;
    for (size_t i = 0; i < upto; i++) {
        assert_int_equal(mv_source_read(src, piece, 1, &got, &err), MV_OK);
        assert_int_equal(got, 1);
        assert_int_equal(piece[0], full[i]);
    }
    assert_int_equal(mv_source_rewind(src, &err), MV_OK);
    again = read_msg(src, 7, &len);
    assert_int_equal((int64_t)len, m->size);
    assert_memory_equal(full, again, len);
    free(again);
    free(full);

    /* The next message after a rewind starts where it should. */
    assert_int_equal(mv_source_next(src, &m, &err), MV_OK);
    assert_non_null(m);
    full = read_msg(src, 5, &len);
    assert_int_equal(len, strlen("Subject: two\n\nbody two\n\n"));
    assert_memory_equal(full, "Subject: two\n\nbody two\n\n", len);
    free(full);
    mv_source_close(src);
    free(p);
}

/* ---- the shared corpus ---- */

typedef struct corpus_file {
    char *rel;
    int kind; /* 0 not mail, 1 message, 2 mbox */
    size_t seen;
} corpus_file;

typedef struct corpus {
    corpus_file *f;
    size_t n;
} corpus;

/* Lists the corpus's regular files and classifies them independently of source.c. */
static void corpus_scan(corpus *c, const char *rel)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s%s%s", CORPUS_DIR, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char r[4200], p[4400];
        struct stat sb;
        snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        snprintf(p, sizeof p, "%s/%s", CORPUS_DIR, r);
        assert_int_equal(lstat(p, &sb), 0);
        if (S_ISDIR(sb.st_mode)) {
            corpus_scan(c, r);
            continue;
        }
        if (!S_ISREG(sb.st_mode))
            continue;
        c->f = realloc(c->f, (c->n + 1) * sizeof *c->f);
        corpus_file *f = &c->f[c->n++];
        f->rel = xstrdup(r);
        f->seen = 0;
        unsigned char head[1024];
        FILE *fp = fopen(p, "rb");
        size_t n = fp ? fread(head, 1, sizeof head, fp) : 0;
        if (fp)
            fclose(fp);
        size_t i = 0;
        while (i < n && head[i] != ':' && head[i] >= 33 && head[i] <= 126)
            i++;
        if (n >= 5 && memcmp(head, "From ", 5) == 0)
            f->kind = 2;
        else
            f->kind = i > 0 && i < n && head[i] == ':' ? 1 : 0;
    }
    closedir(d);
}

static bool is_subdir(const char *dir, const char *name)
{
    char p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s/%s", CORPUS_DIR, dir, name);
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Folder a loose/cur/new file should get, worked out independently of source.c. */
static void expected_folder(const char *rel, char *out, size_t cap)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", rel);
    char *slash = strrchr(dir, '/');
    if (!slash) {
        snprintf(out, cap, "INBOX");
        return;
    }
    *slash = '\0';
    char *last = strrchr(dir, '/');
    const char *lname = last ? last + 1 : dir;
    if (strcmp(lname, "cur") == 0 || strcmp(lname, "new") == 0) {
        if (!last) {
            snprintf(out, cap, "INBOX");
            return;
        }
        *last = '\0';
        if (is_subdir(dir, "cur") || is_subdir(dir, "new")) {
            snprintf(out, cap, "%s", dir);
            return;
        }
        *last = '/';
    }
    snprintf(out, cap, "%s", dir);
}

static void test_shared_corpus(void **state)
{
    (void)state;
    struct stat sb;
    if (stat(CORPUS_DIR, &sb) < 0 || !S_ISDIR(sb.st_mode))
        skip();
    corpus c = {0};
    corpus_scan(&c, "");
    assert_true(c.n > 0);

    run r;
    collect(CORPUS_DIR, NULL, 65536, &r);
    size_t messages = 0, errors = 0;
    for (size_t i = 0; i < r.n; i++) {
        event *e = &r.ev[i];
        corpus_file *f = NULL;
        if (e->is_error) {
            errors++;
            for (size_t j = 0; j < c.n && !f; j++) {
                char want[4200];
                snprintf(want, sizeof want, "%s/%s: ", CORPUS_DIR, c.f[j].rel);
                if (strncmp(e->text, want, strlen(want)) == 0)
                    f = &c.f[j];
            }
            if (f == NULL)
                fail_msg("unexpected error: %s", e->text);
            /* Only what does not look like mail at all is refused. */
            assert_int_equal(f->kind, 0);
            f->seen++;
            continue;
        }
        messages++;
        for (size_t j = 0; j < c.n && !f; j++)
            if (strcmp(e->text, c.f[j].rel) == 0)
                f = &c.f[j];
        if (f == NULL)
            fail_msg("message from unknown file %s", e->text);
        f->seen++;
        assert_true(e->size > 0);
        if (f->kind == 1) {
            char path[4200], folder[4096];
            size_t len;
            snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, f->rel);
            unsigned char *bytes = read_all(path, &len);
            assert_int_equal(e->len, len);
            assert_memory_equal(e->data, bytes, len);
            free(bytes);
            expected_folder(f->rel, folder, sizeof folder);
            assert_string_equal(e->folder, folder);
            const char *colon = strrchr(f->rel, ':');
            bool in_new = strstr(f->rel, "/new/") != NULL;
            if (colon && strcmp(colon, ":2,S") == 0 && !in_new)
                assert_string_equal(e->flags, "\\Seen");
        } else {
            assert_int_equal(f->kind, 2);
        }
    }
    for (size_t j = 0; j < c.n; j++) {
        if (c.f[j].kind == 1 && c.f[j].seen != 1)
            fail_msg("%s yielded %zu times", c.f[j].rel, c.f[j].seen);
        if (c.f[j].kind == 2 && c.f[j].seen < 1)
            fail_msg("mbox %s yielded nothing", c.f[j].rel);
        if (c.f[j].kind == 0 && c.f[j].seen != 1)
            fail_msg("non-mail %s reported %zu times", c.f[j].rel, c.f[j].seen);
    }
    assert_true(messages >= c.n - errors);
    run_free(&r);
    for (size_t j = 0; j < c.n; j++)
        free(c.f[j].rel);
    free(c.f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_conversion),
        cmocka_unit_test_setup_teardown(test_maildir_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loose_files_notmuch_style, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folder_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_eml, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nonexistent_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks_and_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mboxrd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mboxo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mbox_from_line_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mbox_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mbox_status_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_from_dates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mbox_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mbox_empty_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mbox_in_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
        cmocka_unit_test(test_shared_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
