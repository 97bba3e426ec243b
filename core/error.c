#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0))) static mv_status
vset(mv_error *err, int overwrite, mv_status st, const char *fmt, va_list ap)
{
    if (err == NULL || st == MV_OK)
        return st;
    if (err->status != MV_OK && !overwrite)
        return st;
    err->status = st;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    /* One line per error: an embedded newline (from a server or a file name) would let
     * input forge extra lines in logs. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return st;
}

mv_status mv_error_set(mv_error *err, mv_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, 0, st, fmt, ap);
    va_end(ap);
    return st;
}

mv_status mv_error_reset(mv_error *err, mv_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, 1, st, fmt, ap);
    va_end(ap);
    return st;
}

void mv_error_clear(mv_error *err)
{
    if (err) {
        err->status = MV_OK;
        err->msg[0] = '\0';
    }
}

const char *mv_status_name(mv_status st)
{
    switch (st) {
    case MV_OK:
        return "ok";
    case MV_ERR_USAGE:
        return "usage";
    case MV_ERR_INPUT:
        return "input";
    case MV_ERR_ARCHIVE:
        return "archive";
    case MV_ERR_READONLY:
        return "read-only";
    case MV_ERR_LOCKED:
        return "locked";
    case MV_ERR_FULL:
        return "disk-full";
    case MV_ERR_IO:
        return "io";
    case MV_ERR_CORRUPT:
        return "corrupt";
    case MV_ERR_NOTFOUND:
        return "not-found";
    case MV_ERR_NOMEM:
        return "out-of-memory";
    case MV_ERR_CONFIG:
        return "config";
    case MV_ERR_CONNECT:
        return "connection";
    case MV_ERR_TLS:
        return "tls";
    case MV_ERR_AUTH:
        return "auth";
    case MV_ERR_PROTOCOL:
        return "protocol";
    case MV_ERR_TIMEOUT:
        return "timeout";
    case MV_ERR_PARTIAL:
        return "partial";
    case MV_ERR_INTERNAL:
        return "internal";
    }
    return "unknown";
}
