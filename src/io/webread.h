// SPDX-License-Identifier: MIT
// What funnel-web reads from Redis, as plain C values (no hiredis type leaves this module): a
// metric hash with the feed positions in one MULTI/EXEC, the ids of a scope and window (SCAN),
// many hashes at once, rep_team, the firing alerts and their history, stream entries (XRANGE,
// XREVRANGE, XREAD BLOCK) and Redis's clock. Read-only commands only (layer 4).
#ifndef FUNNELD_WEBREAD_H
#define FUNNELD_WEBREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/redis.h"
#include "model/metrics.h"

/* A hash (or a stream entry's fields): n pairs, heap-owned. */
typedef struct {
    char **fields;
    char **values;
    size_t n;
} fd_webhash_t;

void fd_webhash_clear(fd_webhash_t *h);
/* The value of field, or NULL. */
const char *fd_webhash_get(const fd_webhash_t *h, const char *field);

/* A stream entry: its id ("<ms>-<seq>") and fields. */
typedef struct {
    char id[48];
    int stream; /* 0: <p>:changes, 1: <p>:alerts */
    fd_webhash_t f;
} fd_webentry_t;

void fd_webentries_free(fd_webentry_t *e, size_t n);

/* "<last id of <p>:changes>,<last id of <p>:alerts>" ("0-0" for a missing stream). */
#define FD_WEB_POS_MAX 100

/* In one MULTI/EXEC: both streams' last ids into pos, HGETALL of the metric hash (an empty
 * *out when it does not exist) and, when all is not NULL, HGETALL of the same scope's "all"
 * window hash (the open pipeline lives there only) into *all. FD_ERR_REDIS (fd_redis_errstr)
 * on failure, nothing left to free. */
fd_err_t fd_webread_funnel(fd_redis_t *r, const char *prefix, fd_scope_t scope, const char *window,
                           const char *id, fd_webhash_t *out, fd_webhash_t *all,
                           char pos[FD_WEB_POS_MAX]);
/* Both streams' last ids, in one MULTI/EXEC. */
fd_err_t fd_webread_position(fd_redis_t *r, const char *prefix, char pos[FD_WEB_POS_MAX]);
/* The ids of every hash of scope (rep or team) and window (SCAN to the end), sorted (strcmp),
 * distinct; *ids (heap array of heap strings) freed with fd_webread_ids_free. */
fd_err_t fd_webread_ids(fd_redis_t *r, const char *prefix, fd_scope_t scope, const char *window,
                        char ***ids, size_t *n);
void fd_webread_ids_free(char **ids, size_t n);
/* HGETALL of each id's hash of scope and window, in one MULTI/EXEC; out has n entries (heap,
 * free each with fd_webhash_clear then free(out)). */
fd_err_t fd_webread_hashes(fd_redis_t *r, const char *prefix, fd_scope_t scope, const char *window,
                           char *const *ids, size_t n, fd_webhash_t **out);
/* HGETALL of a single key <p>:<name> (FD_KEY_REP_TEAM, FD_KEY_ALERTS_FIRING...). */
fd_err_t fd_webread_single_hash(fd_redis_t *r, const char *prefix, const char *name,
                                fd_webhash_t *out);
/* In one MULTI/EXEC: HGETALL <p>:alerts:firing and both streams' last ids. */
fd_err_t fd_webread_firing(fd_redis_t *r, const char *prefix, fd_webhash_t *out,
                           char pos[FD_WEB_POS_MAX]);
/* XREVRANGE <p>:<name> + - COUNT count: newest first; stream 0 for changes, 1 for alerts. */
fd_err_t fd_webread_newest(fd_redis_t *r, const char *prefix, int stream, size_t count,
                           fd_webentry_t **out, size_t *n);
/* The first and last ids of a stream ("" when empty or absent) in one MULTI/EXEC. */
fd_err_t fd_webread_bounds(fd_redis_t *r, const char *prefix, int stream, char first[48],
                           char last[48]);
/* XREAD COUNT count BLOCK block_ms STREAMS <p>:changes <p>:alerts after[0] after[1]: the entries
 * of both streams after those ids (n 0 after the block time). */
fd_err_t fd_webread_follow(fd_redis_t *r, const char *prefix, const char *const after[2],
                           int64_t block_ms, size_t count, fd_webentry_t **out, size_t *n);
/* Redis's clock (TIME) in ms. */
fd_err_t fd_webread_time(fd_redis_t *r, int64_t *now_ms);

/* In one MULTI/EXEC: HGETALL of the scorecard <p>:score:<scope>:<period>:<id> (empty *out
 * when there is none) and LRANGE of its adjustments list (*adj: nadj heap strings, oldest first,
 * freed with fd_webread_ids_free). FD_ERR_REDIS, FD_ERR_NOMEM; nothing to free on error. */
fd_err_t fd_webread_scorecard(fd_redis_t *r, const char *prefix, fd_scope_t scope,
                              const char *period, const char *id, fd_webhash_t *out, char ***adj,
                              size_t *nadj);

/* One entry of a ranking: the id, its score in the zset and its scorecard hash (empty when the
 * hash is gone). */
typedef struct {
    char *id;
    double score;
    fd_webhash_t card;
} fd_webrank_t;

void fd_webranks_free(fd_webrank_t *rows, size_t n);
/* The ranking zset of period (fd_keys_rank: scope, team), best score first, ties by id; *total
 * entries in all, the first min(limit, total) returned in *out (n of them, each with its
 * scorecard hash read in one MULTI/EXEC; free with fd_webranks_free). FD_ERR_REDIS,
 * FD_ERR_NOMEM; nothing to free on error. */
fd_err_t fd_webread_ranking(fd_redis_t *r, const char *prefix, const char *period, fd_scope_t scope,
                            const char *team, size_t limit, fd_webrank_t **out, size_t *n,
                            size_t *total);

/* Parses a stream id "<ms>-<seq>" (or "<ms>"); false when malformed. */
bool fd_webread_parse_id(const char *s, uint64_t *ms, uint64_t *seq);
/* Compares two well-formed stream ids as (ms, seq) pairs: <0, 0, >0. */
int fd_webread_cmp_id(const char *a, const char *b);

#endif
