/* mailvault: status codes and error context.
 *
 * Every fallible function returns an mv_status and, when it fails, writes one human-readable
 * line into an mv_error supplied by the caller. The CLI maps statuses to exit codes; nothing
 * below cmd/ prints or exits.
 */
#ifndef MV_ERROR_H
#define MV_ERROR_H

#include <stddef.h>

typedef enum {
    MV_OK = 0,
    MV_ERR_USAGE,    /* bad arguments or options */
    MV_ERR_INPUT,    /* an input file or path is unreadable or is not mail */
    MV_ERR_ARCHIVE,  /* not a mailvault archive, newer schema, cannot be opened */
    MV_ERR_READONLY, /* the archive (or its directory) cannot be written */
    MV_ERR_LOCKED,   /* another process holds the archive */
    MV_ERR_FULL,     /* disk full or file size limit reached */
    MV_ERR_IO,       /* other I/O failure */
    MV_ERR_CORRUPT,  /* stored data is damaged */
    MV_ERR_NOTFOUND, /* a named message, folder or account does not exist */
    MV_ERR_NOMEM,
    MV_ERR_CONFIG,   /* configuration file problem */
    MV_ERR_CONNECT,  /* cannot reach the server, or the connection dropped */
    MV_ERR_TLS,      /* TLS handshake or certificate verification failed */
    MV_ERR_AUTH,     /* the server rejected the credentials */
    MV_ERR_PROTOCOL, /* the server said something we cannot accept */
    MV_ERR_TIMEOUT,  /* the server did not answer in time */
    MV_ERR_PARTIAL,  /* some items failed, the others were done */
    MV_ERR_INTERNAL
} mv_status;

#define MV_ERROR_MSG_MAX 512

typedef struct mv_error {
    mv_status status;
    char msg[MV_ERROR_MSG_MAX];
} mv_error;

/* Record a failure and return st, so callers can write `return mv_error_set(...)`.
 * err may be NULL. The first message set wins until mv_error_clear(): the innermost
 * failure usually names the file or command that caused it. */
mv_status mv_error_set(mv_error *err, mv_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like mv_error_set but overwrites any earlier message. */
mv_status mv_error_reset(mv_error *err, mv_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void mv_error_clear(mv_error *err);

/* A short stable name ("archive", "locked", ...) used in --json reports. */
const char *mv_status_name(mv_status st);

#endif
