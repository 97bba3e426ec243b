/* libFuzzer harness for core/text: any bytes in, as a message and as HTML; out come strings
 * that keep the header's promises (valid UTF-8, no NULs, no controls but \n and \t in the
 * body and none in the one-line fields, within the caps), and no crash, leak or sanitizer
 * report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise is a bug as real as a crash, so make it one. */
static void check(const char *s, size_t max, int body)
{
    if (s == NULL)
        abort();
    size_t len = strlen(s);
    if (len > max)
        abort();
    if (!body && len > 0 && (s[0] == ' ' || s[len - 1] == ' '))
        abort();
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned c = *p;
        size_t n;
        if (c < 0x80) {
            if (((c < 0x20 && !(body && (c == '\n' || c == '\t'))) || c == 0x7f))
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

    mv_text t;
    mv_error err;
    mv_error_clear(&err);
    if (mv_text_extract((const char *)data, size, &t, &err) != MV_OK)
        abort();
    check(t.subject, MV_TEXT_FIELD_MAX, 0);
    check(t.sender, MV_TEXT_FIELD_MAX, 0);
    check(t.recipients, MV_TEXT_FIELD_MAX, 0);
    check(t.body, MV_TEXT_BODY_MAX, 1);
    check(t.attachments, MV_TEXT_FIELD_MAX, 0);
    if (t.has_attachment != (t.attachments[0] != '\0'))
        abort();
    mv_text_free(&t);

    char *text = mv_text_from_html((const char *)data, size);
    check(text, SIZE_MAX, 1);
    free(text);
    return 0;
}
