/* mailvault: training a zlib preset dictionary from message headers.
 *
 * Most mail is small and most of a small message is header boilerplate (Received: chains,
 * MIME-Version, Content-Type, list headers, DKIM). zlib cannot exploit repetition *across*
 * messages because each message is compressed on its own, so a preset dictionary made of
 * the strings that recur across many messages' headers recovers much of that. zlib uses at
 * most the last 32 KiB of a dictionary, and matches nearer the end are cheaper, so the most
 * useful strings go last.
 */
#ifndef MV_DICT_H
#define MV_DICT_H

#include <stddef.h>

#include "error.h"

#define MV_DICT_MAX 32768

typedef struct mv_dict_sample {
    const unsigned char *data; /* one message's header section */
    size_t len;
} mv_dict_sample;

/* Builds a dictionary of at most cap bytes (cap <= MV_DICT_MAX) from n samples.
 * Deterministic: the same samples in the same order give the same bytes.
 * On success *out is malloc'd (free() it) and *out_len > 0; with too few samples or nothing
 * recurring, *out is NULL and *out_len is 0 (not an error). */
mv_status mv_dict_train(const mv_dict_sample *samples, size_t n, size_t cap, unsigned char **out,
                        size_t *out_len, mv_error *err);

#endif
