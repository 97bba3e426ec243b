/* libFuzzer harness for core/source.c's mbox reader.
 *
 * Each input is written to a temporary file and opened as a source (as `mailvault import`
 * would), once as mboxrd and once as mboxo. Every message is read twice, in small pieces
 * and then after a rewind in large ones; both passes must give the same bytes, exactly
 * msg->size of them. Inputs that do not begin with "From " exercise the single-message path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source.h"

#define BIG_CAP 70000

/* The harness's one temporary file, reused for every input. */
static char tmp_path[64];

static void remove_tmp(void)
{
    if (tmp_path[0])
        unlink(tmp_path);
}

static int write_input(const uint8_t *data, size_t size)
{
    if (tmp_path[0] == '\0') {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(tmp_path, sizeof tmp_path, "%s/fuzz_mbox.XXXXXX", dir);
        int fd = mkstemp(tmp_path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(remove_tmp);
    }
    FILE *f = fopen(tmp_path, "wb");
    if (f == NULL)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();
    return 0;
}

/* FNV-1a: enough to compare two passes without keeping a message in memory. */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void read_pass(mv_source *src, size_t cap, uint64_t *hash, int64_t *total)
{
    static unsigned char buf[BIG_CAP];
    mv_error err = {0};
    size_t got;
    *hash = 0xcbf29ce484222325ull;
    *total = 0;
    for (;;) {
        if (mv_source_read(src, buf, cap, &got, &err) != MV_OK) {
            fprintf(stderr, "read failed: %s\n", err.msg);
            abort();
        }
        if (got == 0)
            break;
        if (got > cap)
            abort();
        *hash = fnv(*hash, buf, got);
        *total += (int64_t)got;
    }
}

static void run(mv_mbox_variant v, size_t small_cap, int64_t file_size)
{
    mv_source_options opt = {v, NULL};
    mv_source *src;
    mv_error err = {0};
    const mv_source_msg *msg;
    int64_t sum = 0;

    if (mv_source_open(tmp_path, &opt, &src, &err) != MV_OK)
        abort();
    for (int guard = 0;; guard++) {
        if (guard > 1000000)
            abort();
        mv_error_clear(&err);
        mv_status st = mv_source_next(src, &msg, &err);
        if (st != MV_OK) {
            /* A refused file yields nothing and says why on one line, naming the file. */
            if (st != MV_ERR_INPUT || msg != NULL || strchr(err.msg, '\n') ||
                strstr(err.msg, tmp_path) == NULL || sum != 0)
                abort();
            continue;
        }
        if (msg == NULL)
            break;
        uint64_t h1, h2;
        int64_t n1, n2;
        read_pass(src, small_cap, &h1, &n1);
        if (mv_source_rewind(src, &err) != MV_OK)
            abort();
        read_pass(src, BIG_CAP, &h2, &n2);
        if (n1 != msg->size || n2 != msg->size || h1 != h2 || msg->size <= 0 || msg->offset < 0 ||
            msg->offset >= file_size)
            abort();
        sum += msg->size;
        /* Unescaping only removes bytes. */
        if (sum > file_size)
            abort();
    }
    mv_source_close(src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_input(data, size);
    /* Vary the small piece size with the input so that 1-byte reads are common. */
    size_t small_cap = size ? (size_t)(data[size - 1] % 8) + 1 : 1;
    run(MV_MBOX_RD, small_cap, (int64_t)size);
    run(MV_MBOX_O, small_cap, (int64_t)size);
    return 0;
}
