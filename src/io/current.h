// SPDX-License-Identifier: MIT
// The active-prefix pointer <base>:current (docs/redis.md "<p>:current"): which prefix funneld
// writes to and every reader reads, switched by funnelctl rebuild; one resolver for funneld,
// funnelctl and funnel-web (layer 4).
#ifndef FUNNELD_CURRENT_H
#define FUNNELD_CURRENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/redis.h"

/* A prefix as redis.prefix allows it (1..64 characters of A-Z a-z 0-9 . _ -) and its NUL. */
#define FD_PREFIX_MAX 65

/* Whether s is a valid prefix (the rules of redis.prefix). */
bool fd_current_is_prefix(const char *s);

/* Reads <base>:current on r into active: the prefix it names, or base when the key is absent.
 * FD_ERR_REDIS when Redis fails (r's errstr says why; active untouched); FD_ERR_CONFIG when it
 * refuses the GET (NOPERM: the ACL user may not read the key; errstr says so). FD_ERR_PARSE when
 * the key holds something that is not a valid prefix (or is not a string): active is base then, so
 * that a caller that only warns can go on with it. */
fd_err_t fd_current_read(fd_redis_t *r, const char *base, char active[FD_PREFIX_MAX]);

/* Sets <base>:current to prefix on r. FD_ERR_INVAL when prefix is not valid; FD_ERR_REDIS. */
fd_err_t fd_current_write(fd_redis_t *r, const char *base, const char *prefix);

/* funneld's watch of the pointer: its own connection, the prefix in use and the last prefix read.
 */
typedef struct fd_current fd_current_t;

/* A watch of <base>:current over a connection made from opts (strings copied). FD_ERR_INVAL when
 * base is not a valid prefix; FD_ERR_NOMEM. Touches no Redis yet. */
fd_err_t fd_current_new(const fd_redis_opts_t *opts, const char *base, fd_current_t **out);
void fd_current_destroy(fd_current_t *c);

/* Reads the pointer now and takes the prefix it names as the one in use (*active, valid until
 * the next call on c). FD_ERR_REDIS / FD_ERR_CONFIG as fd_current_read (nothing changed; the
 * reason in fd_current_errstr); FD_ERR_PARSE as fd_current_read (base is then in use). */
fd_err_t fd_current_resolve(fd_current_t *c, const char **active);

/* Reads the pointer when interval_ms passed since the last read (now_ms: a monotonic clock) and
 * answers whether it names another prefix than the one in use: *to then gets it (valid until
 * the next call on c). A failed read answers false (tried again after the interval); so does a
 * value that is not a valid prefix. */
bool fd_current_moved(fd_current_t *c, int64_t now_ms, int64_t interval_ms, const char **to);

/* The prefix a true fd_current_moved named, NULL when none; fd_current_adopt makes it the one in
 * use. */
const char *fd_current_pending(const fd_current_t *c);
void fd_current_adopt(fd_current_t *c);

/* The base (the configured redis.prefix), the prefix in use, the last error text. */
const char *fd_current_base(const fd_current_t *c);
const char *fd_current_in_use(const fd_current_t *c);
const char *fd_current_errstr(const fd_current_t *c);
/* Whether the last failure was Redis refusing the connection (credentials, database: see
 * fd_redis_refused), which waiting will not cure. */
bool fd_current_refused(const fd_current_t *c);

#endif
