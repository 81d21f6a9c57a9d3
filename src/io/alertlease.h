// SPDX-License-Identifier: MIT
// The alert evaluator lease in Redis (<prefix>:alerts:lease): one instance evaluates at a time;
// its random token fences every write of a deposed leader (layer 3). Reference: docs/alerts.md.
#ifndef FUNNELD_ALERTLEASE_H
#define FUNNELD_ALERTLEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "io/redis.h"

typedef struct fd_alertlease fd_alertlease_t;

/* A lease of lease_ms on redis (borrowed; register before it connects) with the token
 * "<instance>:<16 random hex digits>". FD_ERR_NOMEM, FD_ERR_FULL (script registry). */
fd_err_t fd_alertlease_new(fd_redis_t *redis, const char *prefix, const char *instance,
                           int64_t lease_ms, fd_alertlease_t **out);
void fd_alertlease_destroy(fd_alertlease_t *l);

/* Takes the lease when free, renews it when ours: *held tells which. FD_ERR_REDIS when Redis
 * cannot be reached or fails (the reason in fd_redis_errstr); *held is then false, since the
 * lease may expire meanwhile. */
fd_err_t fd_alertlease_renew(fd_alertlease_t *l, bool *held);

/* The token that fences writes (valid as long as l). */
const char *fd_alertlease_token(const fd_alertlease_t *l);

#endif
