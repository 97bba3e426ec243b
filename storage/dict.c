/* mailvault: training a zlib preset dictionary from message headers.
 *
 * A simplified form of zstd's "cover" trainer, shaped for deflate:
 *
 *  1. Count, for every k-byte substring (hashed), in how many samples it occurs: its
 *     document frequency (df). Counting samples rather than occurrences keeps one message
 *     with forty Received: lines from outweighing forty messages with one each.
 *  2. Every maximal run of consecutive k-mers whose df reaches a threshold becomes a
 *     candidate segment. Runs follow the data rather than line breaks, so
 *     "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" stays one
 *     piece and deflate can match it in one go.
 *  3. Greedily take the candidate with the best score per byte. When a segment is taken
 *     its k-mers are zeroed, so the same boilerplate seen in a thousand samples enters the
 *     dictionary once; candidates that now contain taken k-mers are split into the parts
 *     that are still new and re-queued (lazy greedy: stored scores only ever overestimate,
 *     so a popped candidate whose score is unchanged is the true best).
 *  4. The first segments taken go last: deflate's distance codes are cheaper for near
 *     matches and zlib only keeps the last 32 KiB of a dictionary.
 *
 * Memory is bounded by sampling at most TRAIN_BYTES_MAX bytes of input and by a fixed
 * maximum size of the df table; everything is integer arithmetic on fixed-width types, so
 * the output is the same on every platform.
 */
#include "dict.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Below this many usable samples "recurring" means little and the dictionary would be
 * fitted to a handful of messages. */
#define MIN_SAMPLES 20
/* k-mer length. Shorter k finds more shared fragments but also more chance overlap. */
#ifndef KMER
#define KMER 8
#endif
/* A segment needs this many consecutive common k-mers. Besides dropping tiny fragments
 * (a deflate match of a few bytes barely beats literals) it filters hash collisions: one
 * rare k-mer can land in the slot of a common one, several in a row practically cannot. */
#ifndef MIN_RUN
#define MIN_RUN 4
#endif
/* A k-mer is common when at least max(2, samples / DF_DIVISOR) samples contain it. */
#ifndef DF_DIVISOR
#define DF_DIVISOR 100
#endif
/* Added to a segment's length when scoring it per byte: each match costs deflate a length
 * and a distance code, so short segments are worth less per byte than long ones. */
#ifndef LEN_PENALTY
#define LEN_PENALTY 16
#endif
/* Only the start of a huge header is looked at: real header sections are a few KiB, and a
 * megabyte one is an outlier that must not dominate the counts or the memory. */
#define SAMPLE_BYTES_MAX (32 * 1024)
/* Total input looked at; beyond it samples are taken at an even stride. */
#define TRAIN_BYTES_MAX (8 * 1024 * 1024)
/* df table: 2^TABLE_BITS_MAX slots of 8 bytes at most (16 MiB). */
#define TABLE_BITS_MIN 12
#define TABLE_BITS_MAX 21
/* Rolling hash base; odd, so multiplication is invertible mod 2^64. */
#define HASH_BASE UINT64_C(0x100000001b3)

typedef struct {
    uint32_t df;   /* samples containing a k-mer with this hash; 0 once in the dictionary */
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
    size_t npicked;
    slot *table;
    unsigned table_shift;
    uint32_t threshold;
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

static slot *slot_of(const trainer *t, uint64_t h)
{
    /* The polynomial hash's low bits depend only on the last bytes; a multiplicative mix
     * spreads every byte over the index bits. */
    return &t->table[(h * UINT64_C(0x9e3779b97f4a7c15)) >> t->table_shift];
}

static const unsigned char *sample_data(const trainer *t, uint32_t i)
{
    return t->samples[t->picked[i]].data;
}

/* The order of the heap and of acceptance: best score first; ties go to the earlier
 * sample and offset so that the result never depends on the heap's internals. */
static int seg_better(const seg *a, const seg *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    if (a->sample != b->sample)
        return a->sample < b->sample;
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
    if (n > 0)
        t->heap[i] = last;
    return top;
}

static uint64_t seg_score(uint64_t df_sum, uint32_t len)
{
    return (df_sum << 8) / (len + LEN_PENALTY);
}

/* Calls emit for every run of k-mers in [off, off+len) of a sample that starts and ends with a
 * common k-mer (current df at least the threshold) and holds at least MIN_RUN of them. A run
 * bridges up to GAP_RARE rare k-mers, so that one variable token ("mx4" vs "mx7", a date)
 * does not cut a line into fragments, but at most GAP_TAKEN ones already in the dictionary.
 * Returns the number of runs, or -1 if emit failed; *first receives the first run. */
#ifndef GAP_RARE
#define GAP_RARE 0
#endif
#ifndef GAP_TAKEN
#define GAP_TAKEN 0
#endif
static long scan_runs(trainer *t, uint32_t sample, uint32_t off, uint32_t len,
                      int (*emit)(trainer *, seg), seg *first)
{
    const unsigned char *p = sample_data(t, sample) + off;
    long runs = 0;
    if (len < KMER)
        return 0;
    size_t nk = len - KMER + 1;
    size_t start = 0, last = 0, live = 0, rare = 0, taken = 0;
    uint64_t sum = 0;
    int in_run = 0;
    uint64_t h = hash_init(p);
    for (size_t i = 0; i <= nk; i++) {
        uint32_t df = 0;
        int end = (i == nk);
        if (!end) {
            if (i > 0)
                h = hash_roll(t, h, p[i - 1], p[i + KMER - 1]);
            df = slot_of(t, h)->df;
        }
        if (!end && df >= t->threshold) {
            if (!in_run) {
                in_run = 1;
                start = i;
                sum = 0;
                live = 0;
            }
            last = i;
            live++;
            sum += df;
            rare = taken = 0;
            continue;
        }
        if (!in_run)
            continue;
        if (!end) {
            if (df == 0)
                taken++;
            else
                rare++;
            if (taken <= GAP_TAKEN && rare + taken <= GAP_RARE)
                continue;
        }
        in_run = 0;
        rare = taken = 0;
        if (live >= MIN_RUN) {
            seg s = {sample, off + (uint32_t)start, (uint32_t)(last - start + KMER), 0};
            s.score = seg_score(sum, s.len);
            if (runs == 0 && first)
                *first = s;
            runs++;
            if (emit && emit(t, s) != 0)
                return -1;
        }
    }
    return runs;
}

static void count_samples(trainer *t)
{
    for (uint32_t i = 0; i < t->npicked; i++) {
        uint32_t len = t->plen[i];
        if (len < KMER)
            continue;
        const unsigned char *p = sample_data(t, i);
        uint64_t h = hash_init(p);
        for (uint32_t j = 0; j + KMER <= len; j++) {
            if (j > 0)
                h = hash_roll(t, h, p[j - 1], p[j + KMER - 1]);
            slot *s = slot_of(t, h);
            if (s->last != i + 1) {
                s->last = i + 1;
                s->df++;
            }
        }
    }
}

static int accept(trainer *t, seg s)
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
        slot_of(t, h)->df = 0;
    }
    return 0;
}

/* Chooses the samples to learn from: all of them unless their (truncated) size exceeds
 * TRAIN_BYTES_MAX, then an even stride through them, so the dictionary reflects the whole
 * range of mail rather than only the oldest. */
static int pick_samples(trainer *t, const mv_dict_sample *samples, size_t n, size_t *usable)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += samples[i].len < SAMPLE_BYTES_MAX ? samples[i].len : SAMPLE_BYTES_MAX;
    size_t stride = (size_t)(total / TRAIN_BYTES_MAX) + 1;
    /* Sample indices are stored as 32 bits; the byte budget bounds the count long before. */
    if (n / stride > UINT32_MAX / 2)
        stride = n / (UINT32_MAX / 2) + 1;

    size_t cap = n / stride + 1;
    t->picked = malloc(cap * sizeof *t->picked);
    t->plen = malloc(cap * sizeof *t->plen);
    if (t->picked == NULL || t->plen == NULL)
        return -1;
    uint64_t used = 0;
    *usable = 0;
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
        (*usable)++;
    }
    unsigned bits = TABLE_BITS_MIN;
    while (bits < TABLE_BITS_MAX && (UINT64_C(1) << bits) < 2 * used)
        bits++;
    t->table = calloc((size_t)1 << bits, sizeof *t->table);
    if (t->table == NULL)
        return -1;
    t->table_shift = 64 - bits;
    return 0;
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
            return mv_error_set(err, MV_ERR_INTERNAL,
                                "dictionary training: sample %zu has no data", i);
    if (n < MIN_SAMPLES || cap < KMER + MIN_RUN - 1)
        return MV_OK;

    trainer t = {0};
    t.samples = samples;
    t.pow_k = 1;
    for (int i = 1; i < KMER; i++)
        t.pow_k *= HASH_BASE;
    mv_status st = MV_OK;
    size_t usable = 0;
    if (pick_samples(&t, samples, n, &usable) != 0)
        goto nomem;
    if (usable < MIN_SAMPLES)
        goto done;
    t.threshold = (uint32_t)(usable / DF_DIVISOR);
    if (t.threshold < 2)
        t.threshold = 2;

    count_samples(&t);
    for (uint32_t i = 0; i < t.npicked; i++)
        if (scan_runs(&t, i, 0, t.plen[i], heap_push, NULL) < 0)
            goto nomem;

    size_t used = 0;
    while (t.heap_len > 0 && used < cap) {
        seg s = heap_pop(&t);
        seg now;
        long runs = scan_runs(&t, s.sample, s.off, s.len, NULL, &now);
        if (runs == 1 && now.off == s.off && now.len == s.len && now.score == s.score) {
            /* Nothing in it was taken since it was scored, so no queued candidate can
             * beat it. Trim to the space left; the front of a run is kept because field
             * names and the usual first tokens of values are where runs begin. */
            if (s.len > cap - used) {
                if (cap - used < KMER + MIN_RUN - 1)
                    continue;
                s.len = (uint32_t)(cap - used);
            }
            if (accept(&t, s) != 0)
                goto nomem;
            used += s.len;
        } else if (runs > 0) {
            if (scan_runs(&t, s.sample, s.off, s.len, heap_push, NULL) < 0)
                goto nomem;
        }
    }
    if (used == 0)
        goto done;

    unsigned char *dict = malloc(used);
    if (dict == NULL)
        goto nomem;
    size_t pos = used;
    for (size_t i = 0; i < t.nchosen; i++) {
        pos -= t.chosen[i].len;
        memcpy(dict + pos, sample_data(&t, t.chosen[i].sample) + t.chosen[i].off,
               t.chosen[i].len);
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
