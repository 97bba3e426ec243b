/* libFuzzer harness for core/mime: any bytes in, a summary that keeps the header's promises
 * out (valid UTF-8, no controls but tab), and no crash, leak or sanitizer report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Strings in the summary are displayed and logged verbatim; a violation is a bug as real as a
 * crash, so make it one. */
static void check(const char *s)
{
    if (s == NULL)
        return;
    if (*s == '\0')
        abort();
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned c = *p;
        size_t n;
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                abort();
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3;
        else
            abort();
        unsigned cp = c & (0x3fu >> n);
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                abort();
            cp = (cp << 6) | (p[i] & 0x3fu);
        }
        static const unsigned min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            abort();
        if (cp >= 0x80 && cp <= 0x9f)
            abort();
        p += n + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* GMime's tables are process-wide and set up once; a static flag is tolerable here only
     * because a fuzz harness is one process doing one thing. */
    static int initialised;
    if (!initialised) {
        mv_mime_init();
        initialised = 1;
    }

    size_t hlen = mv_mime_header_length((const char *)data, size);
    if (hlen > size)
        abort();

    mv_mime_summary s;
    mv_error err;
    mv_error_clear(&err);
    if (mv_mime_summarize((const char *)data, size, &s, &err) != MV_OK)
        abort();
    check(s.from);
    check(s.to);
    check(s.subject);
    check(s.message_id);
    mv_mime_summary_free(&s);
    return 0;
}
