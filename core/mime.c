/* mailvault: header summary of a message, decoded by GMime. */
#include "mime.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

void mv_mime_init(void)
{
    g_mime_init();
}

void mv_mime_shutdown(void)
{
    g_mime_shutdown();
}

/* A blank line is "\n" or "\r\n" at the start of a line, so a message that starts with one has
 * an empty header section, and mixed line endings ("\r\n\n", "\n\r\n") still end it. */
size_t mv_mime_header_length(const char *buf, size_t len)
{
    size_t i = 0;

    while (i < len) {
        if (buf[i] == '\n')
            return i + 1;
        if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        const char *nl = memchr(buf + i, '\n', len - i);
        if (nl == NULL)
            break;
        i = (size_t)(nl - buf) + 1;
    }
    return len;
}

/* Sanitises GMime's output into a malloc'd string for the summary: the listing shows each field
 * on one line, and the decoded text comes straight from the sender (an encoded word can carry
 * CR, LF, ESC or C1 controls just as easily as printable text). Invalid UTF-8 becomes U+FFFD.
 * Every run of whitespace and control characters (C0, DEL, C1) becomes one space: that also
 * unfolds, since GMime keeps the folding whitespace ("a\n\tb" arrives as "a\tb"). Leading and
 * trailing runs are dropped, and nothing left means NULL. */
static mv_status clean_text(const char *in, char **out)
{
    *out = NULL;
    if (in == NULL)
        return MV_OK;

    size_t n = strlen(in);
    char *valid = NULL;
    if (!g_utf8_validate(in, (gssize)n, NULL)) {
        valid = g_utf8_make_valid(in, (gssize)n);
        in = valid;
        n = strlen(valid);
    }

    /* Replacements never grow the text: a one- or two-byte control becomes one space. */
    char *dst = malloc(n + 1);
    if (dst == NULL) {
        g_free(valid);
        return MV_ERR_NOMEM;
    }

    const unsigned char *p = (const unsigned char *)in;
    const unsigned char *end = p + n;
    size_t o = 0;
    int space = 0;
    while (p < end) {
        unsigned char c = *p;
        if (c <= 0x20 || c == 0x7f) {
            space = 1;
            p++;
            continue;
        }
        /* U+0080..U+009F; the text is valid UTF-8 here, so 0xC2 is a lead byte. */
        if (c == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            space = 1;
            p += 2;
            continue;
        }
        if (space && o > 0)
            dst[o++] = ' ';
        space = 0;
        dst[o++] = (char)c;
        p++;
    }
    dst[o] = '\0';
    g_free(valid);

    if (o == 0) {
        free(dst);
        return MV_OK;
    }
    *out = dst;
    return MV_OK;
}

/* Groups nest in what GMime accepts ("a: b: c@d;;"); hostile input must not buy unbounded
 * recursion here, and nobody reads a group name sixteen levels down. */
#define MAX_GROUP_DEPTH 16

/* Written out here rather than with internet_address_list_to_string(), which runs every
 * domain through IDNA (libidn2) on each call: that was a quarter of the time per message, and
 * it turns a UTF-8 domain into punycode, the opposite of the decoded text wanted here. Names
 * are quoted by GMime's rules, so "Smith, Carol" stays one entry in a comma-joined list. */
static void format_addresses(GString *str, InternetAddressList *list, int depth)
{
    int n = internet_address_list_length(list);
    int wrote = 0;

    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        const char *name = internet_address_get_name(ia);
        gsize before = str->len;

        if (wrote)
            g_string_append(str, ", ");
        gsize mark = str->len;

        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            if (depth >= MAX_GROUP_DEPTH)
                continue;
            if (name != NULL && *name != '\0') {
                char *quoted = g_mime_utils_quote_string(name);
                g_string_append(str, quoted);
                g_free(quoted);
            }
            g_string_append(str, ": ");
            format_addresses(str, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
                             depth + 1);
            g_string_append_c(str, ';');
        } else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
            if (addr == NULL)
                addr = "";
            if (name != NULL && *name != '\0') {
                char *quoted = g_mime_utils_quote_string(name);
                g_string_append(str, quoted);
                g_free(quoted);
                g_string_append_printf(str, " <%s>", addr);
            } else {
                g_string_append(str, addr);
            }
        }
        /* Nothing written for this entry: take back the separator too. */
        if (str->len == mark)
            g_string_truncate(str, before);
        else
            wrote = 1;
    }
}

/* An address header GMime cannot parse into mailboxes ("From: Mail Delivery System", a bare
 * word, junk) is still worth showing, so the decoded header text stands in for the list. */
static mv_status address_text(GMimeMessage *msg, GMimeAddressType type, const char *name,
                              char **out)
{
    InternetAddressList *list = g_mime_message_get_addresses(msg, type);

    if (list != NULL && internet_address_list_length(list) > 0) {
        GString *str = g_string_sized_new(128);
        format_addresses(str, list, 0);
        mv_status st = clean_text(str->str, out);
        g_string_free(str, TRUE);
        if (st != MV_OK || *out != NULL)
            return st;
    }
    return clean_text(g_mime_object_get_header(GMIME_OBJECT(msg), name), out);
}

static mv_status extract(GMimeMessage *msg, mv_mime_summary *out)
{
    GDateTime *date = g_mime_message_get_date(msg);
    if (date != NULL)
        out->date = g_date_time_to_unix(date);

    mv_status st = address_text(msg, GMIME_ADDRESS_TYPE_FROM, "From", &out->from);
    if (st == MV_OK)
        st = address_text(msg, GMIME_ADDRESS_TYPE_TO, "To", &out->to);
    if (st == MV_OK)
        st = clean_text(g_mime_message_get_subject(msg), &out->subject);
    if (st == MV_OK)
        st = clean_text(g_mime_message_get_message_id(msg), &out->message_id);
    return st;
}

enum field_kind { FIELD_SKIP, FIELD_TEXT, FIELD_ADDRESS };

/* What the summary makes of the field starting at line[0..len); *value is set to the offset
 * just past the field name's colon. */
static enum field_kind field_kind(const char *line, size_t len, size_t *value)
{
    static const struct {
        const char *name;
        size_t len;
        enum field_kind kind;
    } wanted[] = {
        {"date", 4, FIELD_TEXT},    {"from", 4, FIELD_ADDRESS},     {"to", 2, FIELD_ADDRESS},
        {"subject", 7, FIELD_TEXT}, {"message-id", 10, FIELD_TEXT},
    };
    const char *colon = memchr(line, ':', len);

    if (colon == NULL)
        return FIELD_SKIP;
    *value = (size_t)(colon - line) + 1;
    size_t n = (size_t)(colon - line);
    /* GMime accepts "Subject :" too. */
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
        if (n == wanted[i].len && g_ascii_strncasecmp(line, wanted[i].name, n) == 0)
            return wanted[i].kind;
    return FIELD_SKIP;
}

/* GMime's address parser recurses once per nested group ("g: g: g: ... x@y;;;"), so a few
 * hundred kilobytes of To: overflow the stack (70,000 levels crash with 8 MiB). Every level
 * needs its own colon, and real address lists have a handful, so above this many the colons
 * in the value become spaces: the field is then read as plain names and addresses. */
#define MAX_ADDRESS_COLONS 256

static void defuse_groups(char *value, size_t len)
{
    size_t colons = 0;

    for (char *c = memchr(value, ':', len); c != NULL;
         c = memchr(c + 1, ':', len - (size_t)(c + 1 - value)))
        colons++;
    if (colons <= MAX_ADDRESS_COLONS)
        return;
    for (size_t i = 0; i < len; i++)
        if (value[i] == ':')
            value[i] = ' ';
}

/* Copies only the fields the summary reads, continuation lines included, into dst (at least
 * len bytes) and returns the bytes written. A real header section is mostly Received,
 * DKIM-Signature, ARC-* and X-* fields, and GMime builds a GObject per field and parses some
 * of them eagerly: handing it five fields instead of thirty is most of the speed per message.
 * Lines that are not fields at all (no colon) go too, which GMime would only have skipped. */
static size_t copy_wanted_fields(char *dst, const char *src, size_t len)
{
    size_t i = 0, o = 0;
    enum field_kind kind = FIELD_SKIP;
    size_t value = 0; /* where the current address field's value starts in dst */

    while (i < len) {
        const char *nl = memchr(src + i, '\n', len - i);
        size_t end = nl != NULL ? (size_t)(nl - src) + 1 : len;
        if (src[i] != ' ' && src[i] != '\t') {
            if (kind == FIELD_ADDRESS)
                defuse_groups(dst + value, o - value);
            size_t off = 0;
            kind = field_kind(src + i, end - i, &off);
            value = o + off;
        }
        if (kind != FIELD_SKIP) {
            memcpy(dst + o, src + i, end - i);
            o += end - i;
        }
        i = end;
    }
    if (kind == FIELD_ADDRESS)
        defuse_groups(dst + value, o - value);
    return o;
}

mv_status mv_mime_summarize(const char *buf, size_t len, mv_mime_summary *out, mv_error *err)
{
    out->date = -1;
    out->from = NULL;
    out->to = NULL;
    out->subject = NULL;
    out->message_id = NULL;

    size_t hlen = mv_mime_header_length(buf, len);
    if (hlen == 0)
        return MV_OK;

    /* The one copy of the header bytes, handed to the stream without another. It always ends
     * in a blank line, so a truncated block (no blank line in buf) still reaches GMime as a
     * complete header section. NUL bytes would silently cut a value short inside GMime, so
     * they become spaces like any other control character. */
    guint8 *copy = g_try_malloc(hlen + 2);
    if (copy == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory reading message headers");
    size_t clen = copy_wanted_fields((char *)copy, buf, hlen);
    if (clen == 0) {
        g_free(copy);
        return MV_OK;
    }
    for (guint8 *z = memchr(copy, '\0', clen); z != NULL;
         z = memchr(z + 1, '\0', clen - (size_t)(z + 1 - copy)))
        *z = ' ';
    if (copy[clen - 1] != '\n')
        copy[clen++] = '\n';
    copy[clen++] = '\n';

    /* Loose RFC 2047 and address parsing: real mail has encoded words inside quoted strings
     * and words, unquoted specials in display names, and similar sloppiness. Raw 8-bit header
     * text is most often Windows-1252 when it is not UTF-8, and unlike ISO-8859-1 that maps
     * 0x80..0x9F to the characters senders meant (quotes, dashes) instead of controls. */
    const char *fallback[] = {"UTF-8", "windows-1252", NULL};
    GMimeParserOptions *opts = g_mime_parser_options_new();
    g_mime_parser_options_set_rfc2047_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_address_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_fallback_charsets(opts, fallback);

    GMimeStream *stream =
        g_mime_stream_mem_new_with_byte_array(g_byte_array_new_take(copy, (gsize)clen));
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_object_unref(stream);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, opts);
    g_object_unref(parser);

    mv_status st = MV_OK;
    if (msg != NULL) {
        st = extract(msg, out);
        g_object_unref(msg);
    }
    /* Only now: headers keep a pointer to the options and decode their values lazily. */
    g_mime_parser_options_free(opts);

    if (st != MV_OK) {
        mv_mime_summary_free(out);
        return mv_error_set(err, st, "out of memory decoding message headers");
    }
    return MV_OK;
}

void mv_mime_summary_free(mv_mime_summary *s)
{
    if (s == NULL)
        return;
    free(s->from);
    free(s->to);
    free(s->subject);
    free(s->message_id);
    s->from = NULL;
    s->to = NULL;
    s->subject = NULL;
    s->message_id = NULL;
    s->date = -1;
}
