// SPDX-License-Identifier: MIT
// The metrics publisher's Redis side: starts a round (takes the hashes the applies marked dirty,
// or asks for a snapshot), lists a round's keys in chunks, reads rows with the offsets they
// reflect in one atomic step, and ends a round once Kafka acknowledged it, all fenced by the
// publisher lease (src/lua/metrics_*.lua; layer 4). Reference: docs/feeds.md.
#ifndef FUNNELD_METRICSTORE_H
#define FUNNELD_METRICSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/redis.h"
#include "model/metricrow.h"

typedef struct fd_metricstore fd_metricstore_t;

/* The store over redis (borrowed; register before it connects) for keys of prefix (copied).
 * FD_ERR_NOMEM, FD_ERR_FULL (script registry), FD_ERR_RANGE (prefix too long for a key). */
fd_err_t fd_metricstore_new(fd_redis_t *redis, const char *prefix, fd_metricstore_t **out);
void fd_metricstore_destroy(fd_metricstore_t *ms);

typedef enum {
    FD_METRICSTORE_NONE = 0, /* nothing changed since the last round */
    FD_METRICSTORE_DIRTY,    /* the hashes changed since the last round */
    FD_METRICSTORE_RESUME,   /* the hashes of a round that did not end, again */
    FD_METRICSTORE_SNAPSHOT  /* every metric hash */
} fd_metricstore_mode_t;

/* A round as started: its mode, the version of its rows, the change-feed id it covers
 * ("<ms>-<seq>", "0-0" when the feed is empty) and how many keys it took (not for snapshots). */
typedef struct {
    fd_metricstore_mode_t mode;
    int64_t version;
    char position[48];
    int64_t taken;
} fd_metricstore_round_t;

/* Starts a round under the lease token. FD_ERR_FENCED when the lease is not ours; FD_ERR_REDIS
 * on a connection problem or a malformed answer (errstr in fd_redis_errstr); FD_ERR_PARSE when a
 * key has the wrong type. */
fd_err_t fd_metricstore_take(fd_metricstore_t *ms, const char *token, fd_metricstore_round_t *out);

/* The next chunk of the round's key suffixes ("rep:all:anna"): SSCAN of the taken set, or for a
 * snapshot SCAN of every hash, keeping the metric hashes. *cursor is 0 at the start; *done turns
 * true with the last chunk. The keys are lent until the next call or destroy; *n is 0 on error.
 * A key can come twice in a snapshot (SCAN's guarantee is "at least once"): harmless for an
 * upsert topic. FD_ERR_REDIS, FD_ERR_NOMEM. */
fd_err_t fd_metricstore_keys(fd_metricstore_t *ms, bool snapshot, uint64_t *cursor,
                             const char *const **keys, size_t *n, bool *done);

/* One row as read: the key suffix and the hash's fields and values as stored; nfields 0 when
 * the hash no longer exists (retention expired it). */
typedef struct {
    const char *key;
    const char *const *fields;
    const char *const *values;
    size_t nfields;
} fd_metricstore_row_t;

/* Reads the n hashes (key suffixes) and the next offset of every claimed partition in one
 * atomic step, under the lease token: *rows (n of them, in order) and *src (*nsrc partitions; a
 * partition with no stored offset is left out) are lent until the next call or destroy.
 * FD_ERR_FENCED when the lease is not ours (nothing read); FD_ERR_REDIS (also on a malformed
 * answer: the connection is dropped), FD_ERR_PARSE (a key of the wrong type, a part key that
 * is not one), FD_ERR_RANGE (a key too long), FD_ERR_NOMEM. */
fd_err_t fd_metricstore_read(fd_metricstore_t *ms, const char *token, const char *const *keys,
                             size_t n, const fd_metricstore_row_t **rows,
                             const fd_metricrow_source_t **src, size_t *nsrc);

/* Ends the round: forgets the taken set and stores the position, the rows published and the
 * time (now_ms). *held false (nothing written) when the lease is no longer ours. */
fd_err_t fd_metricstore_done(fd_metricstore_t *ms, const char *token,
                             const fd_metricstore_round_t *round, int64_t published, int64_t now_ms,
                             bool *held);

#endif
