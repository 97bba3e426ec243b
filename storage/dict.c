/* mailvault: training a zlib preset dictionary from message headers.
 *
 * A simplified form of zstd's "cover" trainer, shaped for deflate:
 *
 *  1. Count, for every k-byte substring (k-mer), in how many samples it occurs: its
 *     document frequency (df). Counting samples rather than occurrences keeps one message
 *     with forty Received: lines from outweighing forty messages with one each.
 *  2. Every stretch of a sample that starts and ends with a k-mer found in at least two
 *     samples becomes a candidate segment. A stretch may bridge up to GAP k-mers that are
 *     not shared (a host number, a date, a Message-ID): deflate matches the constant text
 *     on both sides of a short variable token as long as the two sides sit next to each
 *     other in the dictionary, and keeping them together measured clearly better than
 *     storing only the shared fragments, or only whole header lines.
 *  3. Greedily take the candidate with the highest df per byte. When a segment is taken
 *     its k-mers' df drop to zero, so boilerplate seen in a thousand samples enters the
 *     dictionary once. This is a lazy greedy: a popped candidate is re-scored and taken
 *     only if nothing in it was taken since it was queued; otherwise the parts of it that
 *     are still new are re-queued with fresh scores.
 *  4. The first segments taken go last: deflate codes near distances in fewer bits and
 *     zlib only keeps the last 32 KiB of a dictionary.
 *
 * Memory is bounded by looking at no more than TRAIN_BYTES_MAX bytes of input, which also
 * sizes the df table. All arithmetic is on fixed-width integers and ties are broken by
 * sample order, so the same samples give the same bytes on every platform.
 */
#include "dict.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Below this many usable samples "recurring" means little and the dictionary would be
 * fitted to a handful of messages. */
#define MIN_SAMPLES 20
/* k-mer length. 6 and 8 measured the same; 12 and more were worse, missing the short
 * constant pieces between variable tokens. */
#define KMER 8
/* A k-mer is shared when this many samples contain it. Higher thresholds measured worse:
 * once the best strings are in, strings seen in only a few messages still beat leaving
 * the dictionary short. */
#define MIN_DF 2
/* Shared k-mers a segment must hold: a match of a few bytes barely beats literals. */
#define MIN_SHARED 4
/* Unshared k-mers a segment may bridge (see 2. above). */
#define GAP 64
/* Added to a segment's length when scoring it per byte: every match costs deflate a length
 * and a distance code, so short segments are worth less per byte than long ones. */
#define LEN_PENALTY 16
/* Only the start of a huge header is looked at: real header sections are a few KiB, and a
 * megabyte one is an outlier that must not dominate the counts or the memory. */
#define SAMPLE_BYTES_MAX (32 * 1024)
/* Total input looked at; beyond it samples are taken at an even stride. */
#define TRAIN_BYTES_MAX (1024 * 1024)
/* The df table: 8 bytes a slot, at most 16 MiB. */
#define TABLE_BITS_MIN 12
#define TABLE_BITS_MAX 21
/* Linear probing gives up after this many slots and the k-mer counts as unshared. That only
 * happens when the input is mostly unique bytes, which the dictionary could not use anyway. */
#define MAX_PROBES 16
/* Rolling hash base; odd, so multiplication is invertible mod 2^64. */
#define HASH_BASE UINT64_C(0x100000001b3)

/* Open addressing with a 16-bit fingerprint: exact enough that unrelated k-mers sharing a
 * slot do not look shared (with a plain hashed counter, collisions made random samples
 * "recur"), and small enough for 8 bytes a slot. */
typedef struct {
    uint16_t fp;   /* 0: empty */
    uint16_t df;   /* samples containing the k-mer (saturating); 0 once in the dictionary */
    uint32_t last; /* 1 + the last sample counted, so that each sample counts once */
} slot;

typedef struct {
    uint32_t sample; /* index into trainer.picked */
    uint32_t off;
    uint32_t len;
    uint64_t score;
} seg;

typedef struct {
    const mv_dict_sample *samples;
    uint32_t *picked; /* indices of the samples used */
    uint32_t *plen;   /* their lengths after truncation */
    uint32_t npicked;
    slot *table;
    unsigned table_bits;
    uint64_t pow_k; /* HASH_BASE^(KMER-1), to roll the oldest byte out */

    seg *heap;
    size_t heap_len, heap_cap;
    seg *chosen;
    size_t nchosen, chosen_cap;
} trainer;

static uint64_t hash_init(const unsigned char *p)
{
    uint64_t h = 0;
    for (size_t i = 0; i < KMER; i++)
        h = h * HASH_BASE + p[i];
    return h;
}

static uint64_t hash_roll(const trainer *t, uint64_t h, unsigned char out, unsigned char in)
{
    return (h - out * t->pow_k) * HASH_BASE + in;
}

/* The slot of a k-mer, or NULL when it is not in the table (and create is false, or the
 * probe limit was reached). */
static slot *slot_find(const trainer *t, uint64_t h, int create)
{
    /* The polynomial hash's low bits depend only on the last bytes; a multiplicative mix
     * spreads every byte over the bits used for the index and the fingerprint. */
    uint64_t m = h * UINT64_C(0x9e3779b97f4a7c15);
    size_t mask = ((size_t)1 << t->table_bits) - 1;
    size_t i = (size_t)(m >> (64 - t->table_bits));
    uint16_t fp = (uint16_t)(m >> 8);
    if (fp == 0)
        fp = 1;
    for (int probe = 0; probe < MAX_PROBES; probe++, i = (i + 1) & mask) {
        slot *s = &t->table[i];
        if (s->fp == fp)
            return s;
        if (s->fp == 0) {
            if (!create)
                return NULL;
            s->fp = fp;
            return s;
        }
    }
    return NULL;
}

static unsigned df_of(const trainer *t, uint64_t h)
{
    const slot *s = slot_find(t, h, 0);
    return s ? s->df : 0;
}

static const unsigned char *sample_data(const trainer *t, uint32_t i)
{
    return t->samples[t->picked[i]].data;
}

/* Best score first. Ties go to the later sample, so that it is taken first and lands
 * nearer the end: callers pass samples oldest first, and the newest mail is the best guess
 * at the next. A total order also keeps the result independent of the heap's internals. */
static int seg_better(const seg *a, const seg *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    if (a->sample != b->sample)
        return a->sample > b->sample;
    return a->off < b->off;
}

static int heap_push(trainer *t, seg s)
{
    if (t->heap_len == t->heap_cap) {
        size_t cap = t->heap_cap ? t->heap_cap * 2 : 1024;
        seg *h = realloc(t->heap, cap * sizeof *h);
        if (h == NULL)
            return -1;
        t->heap = h;
        t->heap_cap = cap;
    }
    size_t i = t->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!seg_better(&s, &t->heap[parent]))
            break;
        t->heap[i] = t->heap[parent];
        i = parent;
    }
    t->heap[i] = s;
    return 0;
}

static seg heap_pop(trainer *t)
{
    seg top = t->heap[0];
    seg last = t->heap[--t->heap_len];
    size_t i = 0, n = t->heap_len;
    if (n == 0)
        return top;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && seg_better(&t->heap[c + 1], &t->heap[c]))
            c++;
        if (!seg_better(&t->heap[c], &last))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    t->heap[i] = last;
    return top;
}

/* Calls emit (if not NULL) for every segment in [off, off+len) of a sample that starts and
 * ends with a shared k-mer, holds at least MIN_SHARED of them and bridges at most GAP
 * unshared ones in a row (k-mers already in the dictionary count as unshared). Returns the
 * number of segments, or -1 if emit failed; *first (if not NULL) gets the first one. */
static long scan_segments(trainer *t, uint32_t sample, uint32_t off, uint32_t len,
                          int (*emit)(trainer *, seg), seg *first)
{
    if (len < KMER)
        return 0;
    const unsigned char *p = sample_data(t, sample) + off;
    size_t nk = len - KMER + 1;
    size_t start = 0, last = 0, shared = 0, gap = 0;
    uint64_t sum = 0;
    long found = 0;
    uint64_t h = hash_init(p);
    for (size_t i = 0; i <= nk; i++) {
        unsigned df = 0;
        if (i < nk) {
            if (i > 0)
                h = hash_roll(t, h, p[i - 1], p[i + KMER - 1]);
            df = df_of(t, h);
        }
        if (df >= MIN_DF) {
            if (shared == 0) {
                start = i;
                sum = 0;
            }
            last = i;
            shared++;
            sum += df;
            gap = 0;
            continue;
        }
        if (shared == 0 || (i < nk && ++gap <= GAP))
            continue;
        if (shared >= MIN_SHARED) {
            seg s = {sample, off + (uint32_t)start, (uint32_t)(last - start + KMER), 0};
            s.score = (sum << 8) / (s.len + LEN_PENALTY);
            if (found == 0 && first)
                *first = s;
            found++;
            if (emit && emit(t, s) != 0)
                return -1;
        }
        shared = 0;
        gap = 0;
    }
    return found;
}

static void count_samples(trainer *t)
{
    for (uint32_t i = 0; i < t->npicked; i++) {
        const unsigned char *p = sample_data(t, i);
        uint64_t h = hash_init(p);
        for (uint32_t j = 0; j + KMER <= t->plen[i]; j++) {
            if (j > 0)
                h = hash_roll(t, h, p[j - 1], p[j + KMER - 1]);
            slot *s = slot_find(t, h, 1);
            if (s && s->last != i + 1) {
                s->last = i + 1;
                if (s->df < UINT16_MAX)
                    s->df++;
            }
        }
    }
}

static int take(trainer *t, seg s)
{
    if (t->nchosen == t->chosen_cap) {
        size_t cap = t->chosen_cap ? t->chosen_cap * 2 : 64;
        seg *c = realloc(t->chosen, cap * sizeof *c);
        if (c == NULL)
            return -1;
        t->chosen = c;
        t->chosen_cap = cap;
    }
    t->chosen[t->nchosen++] = s;
    const unsigned char *p = sample_data(t, s.sample) + s.off;
    uint64_t h = hash_init(p);
    for (uint32_t i = 0; i + KMER <= s.len; i++) {
        if (i > 0)
            h = hash_roll(t, h, p[i - 1], p[i + KMER - 1]);
        slot *sl = slot_find(t, h, 0);
        if (sl)
            sl->df = 0;
    }
    return 0;
}

/* Chooses the samples to learn from: all of them unless their (truncated) size exceeds
 * TRAIN_BYTES_MAX, then an even stride through them, so that the dictionary reflects the
 * whole range of mail rather than only the oldest. */
static int pick_samples(trainer *t, const mv_dict_sample *samples, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += samples[i].len < SAMPLE_BYTES_MAX ? samples[i].len : SAMPLE_BYTES_MAX;
    size_t stride = (size_t)((total + TRAIN_BYTES_MAX - 1) / TRAIN_BYTES_MAX);
    if (stride == 0)
        stride = 1;
    /* Indices are 32-bit; so many samples only fit the byte budget when nearly all are
     * empty, and skipping some of those loses nothing. */
    if (n / stride >= UINT32_MAX)
        stride = n / (UINT32_MAX - 1) + 1;

    size_t cap = n / stride + 1;
    t->picked = malloc(cap * sizeof *t->picked);
    t->plen = malloc(cap * sizeof *t->plen);
    if (t->picked == NULL || t->plen == NULL)
        return -1;
    uint64_t used = 0;
    for (size_t i = 0; i < n && t->npicked < cap; i += stride) {
        size_t len = samples[i].len < SAMPLE_BYTES_MAX ? samples[i].len : SAMPLE_BYTES_MAX;
        if (len < KMER)
            continue;
        if (used + len > TRAIN_BYTES_MAX)
            break;
        used += len;
        t->picked[t->npicked] = (uint32_t)i;
        t->plen[t->npicked] = (uint32_t)len;
        t->npicked++;
    }
    if (t->npicked < MIN_SAMPLES)
        return 0;
    /* As many slots as input bytes: header k-mers repeat a lot, so the load stays around
     * one half and probe sequences short. A bigger table measured no better, only slower. */
    t->table_bits = TABLE_BITS_MIN;
    while (t->table_bits < TABLE_BITS_MAX && (UINT64_C(1) << t->table_bits) < used)
        t->table_bits++;
    t->table = calloc((size_t)1 << t->table_bits, sizeof *t->table);
    return t->table ? 0 : -1;
}

static void trainer_free(trainer *t)
{
    free(t->picked);
    free(t->plen);
    free(t->table);
    free(t->heap);
    free(t->chosen);
}

mv_status mv_dict_train(const mv_dict_sample *samples, size_t n, size_t cap, unsigned char **out,
                        size_t *out_len, mv_error *err)
{
    if (out == NULL || out_len == NULL || (samples == NULL && n > 0) || cap > MV_DICT_MAX)
        return mv_error_set(err, MV_ERR_INTERNAL, "dictionary training: invalid arguments");
    *out = NULL;
    *out_len = 0;
    for (size_t i = 0; i < n; i++)
        if (samples[i].data == NULL && samples[i].len > 0)
            return mv_error_set(err, MV_ERR_INTERNAL, "dictionary training: sample %zu has no data",
                                i);
    if (n < MIN_SAMPLES || cap < KMER + MIN_SHARED - 1)
        return MV_OK;

    trainer t = {0};
    t.samples = samples;
    t.pow_k = 1;
    for (int i = 1; i < KMER; i++)
        t.pow_k *= HASH_BASE;
    mv_status st = MV_OK;
    size_t used = 0;
    unsigned char *dict = NULL;
    if (pick_samples(&t, samples, n) != 0)
        goto nomem;
    if (t.npicked < MIN_SAMPLES)
        goto done;

    count_samples(&t);
    for (uint32_t i = 0; i < t.npicked; i++)
        if (scan_segments(&t, i, 0, t.plen[i], heap_push, NULL) < 0)
            goto nomem;

    while (t.heap_len > 0 && used < cap) {
        seg s = heap_pop(&t);
        seg now;
        long found = scan_segments(&t, s.sample, s.off, s.len, NULL, &now);
        if (found == 1 && now.off == s.off && now.len == s.len && now.score == s.score) {
            /* Unchanged since it was queued. Trim to the space left, keeping the front:
             * field names and the usual first tokens of values are where segments begin. */
            if (s.len > cap - used) {
                if (cap - used < KMER + MIN_SHARED - 1)
                    continue;
                s.len = (uint32_t)(cap - used);
            }
            if (take(&t, s) != 0)
                goto nomem;
            used += s.len;
        } else if (found > 0) {
            if (scan_segments(&t, s.sample, s.off, s.len, heap_push, NULL) < 0)
                goto nomem;
        }
    }
    if (used == 0)
        goto done;

    dict = malloc(used);
    if (dict == NULL)
        goto nomem;
    size_t pos = used;
    for (size_t i = 0; i < t.nchosen; i++) {
        pos -= t.chosen[i].len;
        memcpy(dict + pos, sample_data(&t, t.chosen[i].sample) + t.chosen[i].off, t.chosen[i].len);
    }
    *out = dict;
    *out_len = used;
    goto done;

nomem:
    st = mv_error_set(err, MV_ERR_NOMEM, "dictionary training: out of memory");
done:
    trainer_free(&t);
    return st;
}
