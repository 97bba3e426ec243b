/* mailvault: internals of core/config.c that the unit tests reach into.
 *
 * Not part of the module's API: only config.c and tests/unit/test_config.c include this.
 */
#ifndef MV_CONFIG_INT_H
#define MV_CONFIG_INT_H

#include "config.h"

/* How long passcmd and oauth2_token_cmd may run before they are killed. */
#define MV_CONFIG_CMD_TIMEOUT_MS (60 * 1000)
/* More output than this is not a password or a token; the command is killed. */
#define MV_CONFIG_CMD_OUTPUT_MAX (64 * 1024)

/* Runs cmd with /bin/sh -c (stdin /dev/null, stdout a pipe, stderr inherited) and returns
 * the first line of its output in *out (malloc'd; free with mv_config_secret_free). The
 * command is killed after timeout_ms. what ("passcmd") and account name the command in
 * error messages, which never contain its output. */
mv_status mv_config_run_secret_cmd(const char *cmd, int timeout_ms, const char *what,
                                   const char *account, char **out, mv_error *err);

#endif
