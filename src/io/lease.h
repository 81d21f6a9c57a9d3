// SPDX-License-Identifier: MIT
// A lease in Redis: one instance holds a role at a time (the alert evaluator,
// <prefix>:alerts:lease; the metrics publisher, <prefix>:metrics:lease); its random token fences
// every write of a deposed holder (layer 4). Reference: docs/alerts.md, docs/feeds.md.
#ifndef FUNNELD_LEASE_H
#define FUNNELD_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "io/redis.h"

typedef struct fd_lease fd_lease_t;

/* A lease of lease_ms on the key <prefix>:<name> (name: one of io/keys.h's FD_KEY_*_LEASE) over
 * redis (borrowed; register before it connects), with the token
 * "<instance>:<16 random hex digits>". FD_ERR_NOMEM, FD_ERR_FULL (script registry). */
fd_err_t fd_lease_new(fd_redis_t *redis, const char *prefix, const char *name, const char *instance,
                      int64_t lease_ms, fd_lease_t **out);
void fd_lease_destroy(fd_lease_t *l);

/* Takes the lease when free, renews it when ours: *held tells which. FD_ERR_REDIS when Redis
 * cannot be reached or fails (the reason in fd_redis_errstr); *held is then false, since the
 * lease may expire meanwhile. */
fd_err_t fd_lease_renew(fd_lease_t *l, bool *held);

/* Gives the lease up when ours (a clean stop: another instance need not wait for it to
 * expire). FD_ERR_REDIS when Redis cannot be reached (it then expires by itself). */
fd_err_t fd_lease_release(fd_lease_t *l);

/* The token that fences writes (valid as long as l). */
const char *fd_lease_token(const fd_lease_t *l);

#endif
