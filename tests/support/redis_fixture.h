// SPDX-License-Identifier: MIT
// Test fixture: a private redis-server on a free loopback port with its own temp dir, started and
// stopped by PID (tests only).
#ifndef FUNNELD_REDIS_FIXTURE_H
#define FUNNELD_REDIS_FIXTURE_H

#include <sys/types.h>

#include <hiredis.h>

#define FD_REDIS_FIXTURE_MAX_ARGS 16

/* Set password / extra_args before fd_redis_fixture_start (zero the rest); the other fields are
 * filled by start. */
typedef struct {
    const char *password;                              /* --requirepass, NULL for none */
    const char *extra_args[FD_REDIS_FIXTURE_MAX_ARGS]; /* more redis-server args, NULL-terminated */
    pid_t pid;                                         /* 0 when not running */
    int port;     /* chosen at the first start, kept by restart */
    char dir[64]; /* mkdtemp directory ("" when none) */
} fd_redis_fixture_t;

/* Starts redis-server (no persistence, --daemonize no) on 127.0.0.1 and a free port, and waits
 * (at most 5 s) until it answers PING. The server dies with the test process (PDEATHSIG).
 * Returns 0, or -1 with a message on stderr. */
int fd_redis_fixture_start(fd_redis_fixture_t *fx);

/* A loopback TCP port that was free a moment ago (bound to port 0, then closed); -1 on error. */
int fd_redis_fixture_free_port(void);

/* Stops the server started by fx (SIGTERM, SIGKILL after 3 s), reaps it and removes its temp dir.
 * Does nothing when it is not running. */
void fd_redis_fixture_stop(fd_redis_fixture_t *fx);

/* Stop, then start again on the same port: an empty Redis, as after a restart without
 * persistence. Returns 0 or -1. */
int fd_redis_fixture_restart(fd_redis_fixture_t *fx);

/* A hiredis connection to the server (authenticated with fx->password), for test assertions;
 * NULL on failure. The caller redisFree()s it. */
redisContext *fd_redis_fixture_connect(const fd_redis_fixture_t *fx);

#endif
