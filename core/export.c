/* mailvault: `mailvault export` (see export.h). */
#include "export.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "source.h"

#define IO_BUF (64 * 1024)
#define PATH_CAP 4096

typedef struct exporter {
    mv_archive *ar;
    const mv_export_options *opt;
    mv_export_report *rep;
    unsigned char *buf;
    /* mbox: the folder file being written, finished when the folder changes */
    char *folder;
    FILE *mbox;
    char mbox_path[PATH_CAP];
    char mbox_tmp[PATH_CAP];
    mv_error *err;
    mv_status st;
} exporter;

int mv_export_folder_path(const char *folder, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    const char *p = folder;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int dots = (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.');
        if (len == 0 || dots) {
            /* An empty or dot component would collapse or climb out of the tree. */
            const char *rep = len == 0 ? "%00" : len == 1 ? "%2E" : "%2E%2E";
            size_t rl = strlen(rep);
            if (n + rl >= cap)
                return -1;
            memcpy(out + n, rep, rl);
            n += rl;
        } else {
            for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)p[i];
                /* A leading '.' would read back as a Maildir++ subfolder or hidden file. */
                if (c < 0x20 || c == 0x7f || c == '%' || (i == 0 && c == '.')) {
                    if (n + 3 >= cap)
                        return -1;
                    out[n++] = '%';
                    out[n++] = hex[c >> 4];
                    out[n++] = hex[c & 15];
                } else {
                    if (n + 1 >= cap)
                        return -1;
                    out[n++] = (char)c;
                }
            }
        }
        if (end == NULL)
            break;
        if (n + 1 >= cap)
            return -1;
        out[n++] = '/';
        p = end + 1;
    }
    out[n] = '\0';
    return (int)n;
}

static mv_status io_error(exporter *ex, const char *path, const char *what)
{
    int e = errno;
    mv_status st = e == ENOSPC || e == EFBIG || e == EDQUOT ? MV_ERR_FULL : MV_ERR_IO;
    if (e == EACCES || e == EROFS || e == EPERM)
        st = MV_ERR_READONLY;
    return mv_error_set(ex->err, st, "%s: cannot %s: %s", path, what, strerror(e));
}

/* snprintf for paths: a path that does not fit is an error, never a silently shorter
 * (and so different) file name. */
static mv_status path_fmt(exporter *ex, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static mv_status path_fmt(exporter *ex, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap)
        return mv_error_set(ex->err, MV_ERR_IO, "path too long: %.200s...", out);
    return MV_OK;
}

/* mkdir -p, for paths under the output directory. */
static mv_status make_dirs(exporter *ex, const char *path)
{
    char tmp[PATH_CAP];
    if (path_fmt(ex, tmp, sizeof tmp, "%s", path) != MV_OK)
        return ex->err->status;
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return io_error(ex, tmp, "create directory");
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return MV_OK;
}

static int64_t when(const mv_message_info *m)
{
    if (m->internaldate >= 0)
        return m->internaldate;
    return m->date >= 0 ? m->date : 0;
}

static mv_status write_all(exporter *ex, int fd, const void *data, size_t len, const char *path)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return io_error(ex, path, "write");
        }
        p += n;
        len -= (size_t)n;
    }
    return MV_OK;
}

/* Copies one message into a new file at final_path, through tmp_path and rename, so that a
 * reader (or a crash) never sees half a message under its final name. */
static mv_status write_file(exporter *ex, const mv_message_info *m, const char *tmp_path,
                            const char *final_path)
{
    mv_blob_reader *r;
    mv_status st = mv_blob_reader_open(ex->ar, m->id, &r, ex->err);
    if (st != MV_OK)
        return st;
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        mv_blob_reader_close(r);
        return io_error(ex, tmp_path, "create");
    }
    for (;;) {
        size_t got;
        if ((st = mv_blob_reader_read(r, ex->buf, IO_BUF, &got, ex->err)) != MV_OK || got == 0)
            break;
        if ((st = write_all(ex, fd, ex->buf, got, tmp_path)) != MV_OK)
            break;
    }
    mv_blob_reader_close(r);
    if (close(fd) != 0 && st == MV_OK)
        st = io_error(ex, tmp_path, "write");
    if (st == MV_OK) {
        /* The mtime carries INTERNALDATE: Dovecot, mbsync and our own import read it back. */
        struct timespec ts[2] = {{(time_t)when(m), 0}, {(time_t)when(m), 0}};
        utimensat(AT_FDCWD, tmp_path, ts, 0);
        if (rename(tmp_path, final_path) != 0)
            st = io_error(ex, final_path, "rename into place");
    }
    if (st != MV_OK)
        unlink(tmp_path);
    return st;
}

static mv_status export_maildir(exporter *ex, const mv_message_info *m, const char *dir)
{
    char path[PATH_CAP], tmp[PATH_CAP], final[PATH_CAP], letters[16];
    mv_status st;
    static const char *const sub[] = {"cur", "new", "tmp"};
    for (int i = 0; i < 3; i++) {
        if ((st = path_fmt(ex, path, sizeof path, "%s/%s", dir, sub[i])) != MV_OK ||
            (st = make_dirs(ex, path)) != MV_OK)
            return st;
    }
    if (mv_source_flags_to_maildir(m->flags ? m->flags : "", letters, sizeof letters) < 0)
        letters[0] = '\0';
    /* The unique part is stable across exports (message, UIDVALIDITY and UID), so a second
     * export into the same directory finds what the first wrote; the flags may differ. */
    char unique[128];
    snprintf(unique, sizeof unique, "%lld.M%lldV%lldU%lld.mailvault", (long long)when(m),
             (long long)m->id, (long long)m->uidvalidity, (long long)m->uid);
    if ((st = path_fmt(ex, final, sizeof final, "%s/cur/%s,S=%lld:2,%s", dir, unique,
                       (long long)m->size, letters)) != MV_OK)
        return st;
    if (access(final, F_OK) == 0) {
        ex->rep->existing++;
        return MV_OK;
    }
    if ((st = path_fmt(ex, tmp, sizeof tmp, "%s/tmp/%s", dir, unique)) != MV_OK)
        return st;
    if ((st = write_file(ex, m, tmp, final)) != MV_OK)
        return st;
    ex->rep->messages++;
    ex->rep->bytes += m->size;
    return MV_OK;
}

static mv_status export_eml(exporter *ex, const mv_message_info *m, const char *dir)
{
    char final[PATH_CAP], tmp[PATH_CAP];
    mv_status st = make_dirs(ex, dir);
    if (st != MV_OK)
        return st;
    if ((st = path_fmt(ex, final, sizeof final, "%s/%lld.eml", dir, (long long)m->id)) != MV_OK)
        return st;
    if (access(final, F_OK) == 0) {
        ex->rep->existing++;
        return MV_OK;
    }
    if ((st = path_fmt(ex, tmp, sizeof tmp, "%s/.%lld.eml.tmp", dir, (long long)m->id)) != MV_OK)
        return st;
    if ((st = write_file(ex, m, tmp, final)) != MV_OK)
        return st;
    ex->rep->messages++;
    ex->rep->bytes += m->size;
    return MV_OK;
}

static mv_status mbox_finish(exporter *ex)
{
    if (ex->mbox == NULL)
        return MV_OK;
    int bad = fflush(ex->mbox) != 0 || ferror(ex->mbox);
    bad |= fclose(ex->mbox) != 0;
    ex->mbox = NULL;
    if (bad) {
        mv_status st = io_error(ex, ex->mbox_tmp, "write");
        unlink(ex->mbox_tmp);
        return st;
    }
    if (rename(ex->mbox_tmp, ex->mbox_path) != 0)
        return io_error(ex, ex->mbox_path, "rename into place");
    return MV_OK;
}

/* mboxrd escaping, streamed: at each line start, a run of '>' followed by "From " gets one
 * more '>'. State survives buffer boundaries: quotes counts the pending '>' run and
 * matched how much of "From " followed it. */
typedef struct escaper {
    int bol;
    int64_t quotes;
    int matched;
} escaper;

static void esc_flush_pending(escaper *e, FILE *f, int add_quote)
{
    if (add_quote)
        fputc('>', f);
    for (int64_t i = 0; i < e->quotes; i++)
        fputc('>', f);
    fwrite("From ", 1, (size_t)e->matched, f);
    e->quotes = 0;
    e->matched = 0;
}

static void esc_write(escaper *e, FILE *f, const unsigned char *p, size_t n)
{
    static const char from[] = "From ";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (e->bol) {
            if (e->matched == 0 && c == '>') {
                e->quotes++;
                continue;
            }
            if (c == (unsigned char)from[e->matched]) {
                if (++e->matched == 5) {
                    esc_flush_pending(e, f, 1);
                    e->bol = 0;
                }
                continue;
            }
            esc_flush_pending(e, f, 0);
            e->bol = 0;
        }
        fputc(c, f);
        if (c == '\n')
            e->bol = 1;
    }
}

static mv_status export_mbox(exporter *ex, const mv_message_info *m, const char *relpath)
{
    mv_status st;
    if (ex->mbox == NULL) {
        char dir[PATH_CAP];
        if ((st = path_fmt(ex, ex->mbox_path, sizeof ex->mbox_path, "%s/%s.mbox", ex->opt->out_dir,
                           relpath)) != MV_OK ||
            (st = path_fmt(ex, ex->mbox_tmp, sizeof ex->mbox_tmp, "%s.tmp", ex->mbox_path)) !=
                MV_OK)
            return st;
        memcpy(dir, ex->mbox_path, sizeof dir);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            if ((st = make_dirs(ex, dir)) != MV_OK)
                return st;
        }
        int fd = open(ex->mbox_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || (ex->mbox = fdopen(fd, "w")) == NULL) {
            st = io_error(ex, ex->mbox_tmp, "create");
            if (fd >= 0)
                close(fd);
            return st;
        }
        ex->rep->folders++;
    }

    char date[64];
    time_t t = (time_t)when(m);
    struct tm tm;
    gmtime_r(&t, &tm);
    /* asctime layout, in UTC, as mutt and Thunderbird write it. */
    strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
    fprintf(ex->mbox, "From MAILER-DAEMON %s\n", date);

    mv_blob_reader *r;
    if ((st = mv_blob_reader_open(ex->ar, m->id, &r, ex->err)) != MV_OK)
        return st;
    escaper e = {1, 0, 0};
    unsigned char last = '\n';
    int64_t total = 0;
    for (;;) {
        size_t got;
        if ((st = mv_blob_reader_read(r, ex->buf, IO_BUF, &got, ex->err)) != MV_OK || got == 0)
            break;
        esc_write(&e, ex->mbox, ex->buf, got);
        last = ex->buf[got - 1];
        total += (int64_t)got;
    }
    mv_blob_reader_close(r);
    if (st != MV_OK)
        return st;
    /* A message ending in the middle of a possible "From " keeps those bytes unescaped. */
    if (e.bol && (e.quotes || e.matched))
        esc_flush_pending(&e, ex->mbox, 0);
    if (total > 0 && last != '\n') {
        fputc('\n', ex->mbox);
        ex->rep->newline_added++;
    }
    fputc('\n', ex->mbox);
    if (ferror(ex->mbox))
        return io_error(ex, ex->mbox_tmp, "write");
    ex->rep->messages++;
    ex->rep->bytes += m->size;
    return MV_OK;
}

static int export_one(void *ctx, const mv_message_info *m)
{
    exporter *ex = ctx;
    char rel[PATH_CAP], dir[PATH_CAP];
    if (mv_export_folder_path(m->folder, rel, sizeof rel) < 0) {
        ex->st = mv_error_set(ex->err, MV_ERR_IO, "folder name too long: %.100s...", m->folder);
        return 1;
    }
    if (ex->folder == NULL || strcmp(ex->folder, m->folder) != 0) {
        if ((ex->st = mbox_finish(ex)) != MV_OK)
            return 1;
        free(ex->folder);
        if ((ex->folder = strdup(m->folder)) == NULL) {
            ex->st = mv_error_set(ex->err, MV_ERR_NOMEM, "out of memory");
            return 1;
        }
        if (ex->opt->format != MV_EXPORT_MBOX)
            ex->rep->folders++;
    }
    if ((ex->st = path_fmt(ex, dir, sizeof dir, "%s/%s", ex->opt->out_dir, rel)) != MV_OK)
        return 1;
    switch (ex->opt->format) {
    case MV_EXPORT_MAILDIR:
        ex->st = export_maildir(ex, m, dir);
        break;
    case MV_EXPORT_EML:
        ex->st = export_eml(ex, m, dir);
        break;
    case MV_EXPORT_MBOX:
        ex->st = export_mbox(ex, m, rel);
        break;
    }
    return ex->st != MV_OK;
}

mv_status mv_export_run(mv_archive *ar, const mv_export_options *opt, mv_export_report *rep,
                        mv_error *err)
{
    exporter ex = {0};
    memset(rep, 0, sizeof *rep);
    ex.ar = ar;
    ex.opt = opt;
    ex.rep = rep;
    ex.err = err;

    if (opt->folder) {
        int exists;
        mv_status st = mv_archive_folder_exists(ar, opt->folder, &exists, err);
        if (st != MV_OK)
            return st;
        if (!exists)
            return mv_error_set(err, MV_ERR_NOTFOUND, "%s: no folder named \"%s\"",
                                mv_archive_path(ar), opt->folder);
    }
    if ((ex.buf = malloc(IO_BUF)) == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    mv_status st = make_dirs(&ex, opt->out_dir);
    if (st == MV_OK) {
        mv_message_filter f = {opt->folder, opt->include_expunged, opt->query};
        st = mv_archive_messages(ar, &f, export_one, &ex, err);
        if (st == MV_OK)
            st = ex.st;
    }
    mv_status fin = mbox_finish(&ex);
    if (st == MV_OK)
        st = fin;
    if (ex.mbox_tmp[0] && st != MV_OK)
        unlink(ex.mbox_tmp);
    free(ex.folder);
    free(ex.buf);
    return st;
}
