// SPDX-License-Identifier: MIT
// The one Redis connection of funneld and its tools: connect with timeouts, AUTH and SELECT,
// a sticky error text, the refusal check (a wrong password is not a network blip), the password
// wiped from memory, and a registry of Lua scripts loaded once and run with EVALSHA (loaded again
// on NOSCRIPT). Every other module reaches Redis through it (layer 4; hiredis 0.14).
#ifndef FUNNELD_REDIS_H
#define FUNNELD_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "base/err.h"

typedef struct fd_redis fd_redis_t;

typedef struct {
    const char *host;
    int port;
    const char *user;     /* "" or NULL: AUTH with the password only (or no AUTH when none) */
    const char *password; /* "" or NULL: no AUTH */
    int db;               /* SELECT when not 0 */
    int timeout_ms;       /* bounds the connect and every command; 0 = none */
} fd_redis_opts_t;

#define FD_REDIS_SHA_LEN 40

/* A connection to Redis, not connected yet (every call connects on demand). The strings of opts
 * are copied; the password copy is wiped when destroyed. FD_ERR_NOMEM. hiredis writes with
 * write(2): the process must ignore SIGPIPE. */
fd_err_t fd_redis_new(const fd_redis_opts_t *opts, fd_redis_t **out);
void fd_redis_destroy(fd_redis_t *r);

/* Registers a Lua script (source borrowed: a string of static storage, such as the embedded
 * lua/scripts.h ones) under name (for messages); *id is its handle for fd_redis_eval. Every
 * registered script is loaded (SCRIPT LOAD) at each connect, so a user without the right to run
 * scripts is found at start-up. Register before the first connect. FD_ERR_FULL past 16. */
fd_err_t fd_redis_script(fd_redis_t *r, const char *name, const char *source, int *id);
/* The SHA1 of script id as Redis knows it (valid once connected; "" before). */
const char *fd_redis_script_sha(const fd_redis_t *r, int id);
const char *fd_redis_script_name(const fd_redis_t *r, int id);

/* Connects unless connected: TCP with the timeout, AUTH, SELECT, SCRIPT LOAD of every script.
 * FD_ERR_REDIS when Redis cannot be reached or refuses (the reason in fd_redis_errstr; whether
 * waiting can cure it in fd_redis_refused). */
fd_err_t fd_redis_connect(fd_redis_t *r);
/* fd_redis_connect for start-up checks: FD_ERR_CONFIG when Redis refused AUTH, SELECT or SCRIPT
 * LOAD (wrong redis.user / redis.password / redis.db, a user without the scripts' rights), the
 * reason in fd_redis_errstr naming the setting; FD_ERR_REDIS when it cannot be reached. */
fd_err_t fd_redis_check(fd_redis_t *r);
/* Whether the last connect failed because Redis refused it (see fd_redis_is_refusal). */
bool fd_redis_refused(const fd_redis_t *r);
/* True for a Redis error reply that waiting will not cure: refused credentials (NOAUTH,
 * WRONGPASS), rights (NOPERM) or database index; false for transient ones (LOADING, BUSY...). */
bool fd_redis_is_refusal(const char *error);
/* Drops the connection (the next call connects again). After a timeout a hiredis 0.14 context
 * is unusable (a late reply would be read as the answer to the next command), so every I/O
 * failure drops it. */
void fd_redis_disconnect(fd_redis_t *r);
bool fd_redis_connected(const fd_redis_t *r);

/* Runs one command (argv with lengths; lens NULL for NUL-terminated strings), connecting first.
 * FD_OK with the reply in *out, which the caller frees with freeReplyObject: it may be an error
 * reply, which the caller judges. FD_ERR_REDIS on a connection failure (the connection is
 * dropped; the text names `what`). */
fd_err_t fd_redis_command(fd_redis_t *r, const char *what, int argc, const char **argv,
                          const size_t *lens, redisReply **out);
/* EVALSHA of script id with nkeys keys then nargs arguments (lens may be NULL for
 * NUL-terminated strings); loads the scripts again and retries once when Redis lost them
 * (restart, SCRIPT FLUSH: NOSCRIPT). Answers as fd_redis_command. */
fd_err_t fd_redis_eval(fd_redis_t *r, int id, int nkeys, const char *const *keys,
                       const size_t *key_lens, int nargs, const char *const *args,
                       const size_t *arg_lens, redisReply **out);

/* For pipelining: appends a command to the output buffer without waiting (connecting first),
 * then fd_redis_reply reads the answers in order. Answers as fd_redis_command. */
fd_err_t fd_redis_append(fd_redis_t *r, const char *what, int argc, const char **argv,
                         const size_t *lens);
fd_err_t fd_redis_reply(fd_redis_t *r, const char *what, redisReply **out);

/* The live hiredis context, for an adapter that drives the socket itself (the store's
 * pipelined apply); NULL when disconnected. Report its failures with fd_redis_fail. */
redisContext *fd_redis_context(fd_redis_t *r);
/* Records that `what` failed on the connection (I/O error, timeout, or an answer of an
 * unexpected shape: reply may be NULL; it is freed), drops the connection and returns
 * FD_ERR_REDIS. */
fd_err_t fd_redis_fail(fd_redis_t *r, const char *what, redisReply *reply);

/* The last error's text ("connect 127.0.0.1:6379: Connection refused"); "" when none. Sticky
 * until the next error. fd_redis_set_error replaces it (printf format). */
const char *fd_redis_errstr(const fd_redis_t *r);
void fd_redis_set_error(fd_redis_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Where it connects, "host:port", for messages. */
const char *fd_redis_address(const fd_redis_t *r);

#endif
