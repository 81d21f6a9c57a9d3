// SPDX-License-Identifier: MIT
// Redis adapter: claims partitions (fencing epochs), loads deal state and dedupe horizons, applies
// a batch atomically with its offsets (src/lua/claim.lua, src/lua/apply.lua), reads metrics;
// over the one Redis connection of io/redis.h, reconnecting on demand; keys from io/keys.h
// (layer 4). Key layout: docs/redis.md.
#ifndef FUNNELD_STORE_H
#define FUNNELD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/batch.h"
#include "model/dealcache.h"
#include "model/dedupe.h"
#include "base/err.h"

typedef struct fd_store fd_store_t;

typedef struct {
    const char *host;
    int port;
    const char *user;     /* "" or NULL: AUTH with password only (or no AUTH when none) */
    const char *password; /* "" or NULL: no AUTH */
    int db;
    int timeout_ms;     /* connect and per-command timeout */
    const char *prefix; /* key prefix, e.g. "funnel"; at most 64 bytes */
    /* The feeds an apply writes in its atomic step (docs/feeds.md): an entry on the change feed
     * <p>:changes (capped at about changes_maxlen; a step that changed more than
     * changes_max_keys hashes writes a bulk entry), and (track) the changed hashes into the
     * metrics publisher's dirty set, or else a mark that the publisher must republish all. */
    bool changes;
    int64_t changes_maxlen, changes_max_keys;
    bool track;
    /* A batch that changes more than chunk_hashes metric hashes is staged: one commit script
     * (fencing, offsets, dedupe ids, stats, the staged record <p>:staged:<id>), then chunk
     * scripts of at most chunk_hashes hashes and chunk_deals deal states each (docs/redis.md,
     * "Staged batches"). 0 = the defaults (1000, 20000). */
    int64_t chunk_hashes, chunk_deals;
} fd_store_opts_t;

/* A store for funnel fn (borrowed) into *out. Does not connect yet; every call connects when
 * needed. The strings in opts are copied (the password is wiped when destroyed). FD_ERR_RANGE
 * when the prefix is longer than 64 bytes, FD_ERR_NOMEM; *out NULL on error. hiredis writes to
 * the socket with write(2): the process must ignore SIGPIPE, or a connection Redis closed kills
 * it. */
fd_err_t fd_store_new(const fd_funnel_t *fn, const fd_store_opts_t *opts, fd_store_t **out);
void fd_store_destroy(fd_store_t *st);

/* Connects (AUTH, SELECT, loads the scripts) unless connected. FD_ERR_REDIS when Redis cannot be
 * reached or refuses (sticky text in fd_store_errstr). Other calls do this themselves. */
fd_err_t fd_store_connect(fd_store_t *st);
/* fd_store_connect for start-up: FD_ERR_CONFIG when Redis refused AUTH, SELECT or SCRIPT LOAD
 * (fd_redis_is_refusal: wrong redis.user / redis.password / redis.db, a user without the
 * scripts), the reason in fd_store_errstr; FD_ERR_REDIS when it cannot be reached or the refusal
 * is transient, such as LOADING or BUSY (later calls retry). */
fd_err_t fd_store_check(fd_store_t *st);
/* The last error's text ("connect 127.0.0.1:6379: Connection refused"); "" when none. */
const char *fd_store_errstr(const fd_store_t *st);

/* Takes ownership of (topic, partition) for instance: atomically increments the partition epoch
 * and stores a new token "<epoch>:<instance>:<random>" that fences every earlier owner. Returns
 * the token, the stored next offset in *next (-1 when none), and loads the stored dedupe ids into
 * dd. A staged batch of the partition that an earlier owner committed and did not finish is
 * finished first (its chunks still in its record are applied; logged at info). FD_ERR_REDIS on
 * a connection problem (retry); FD_ERR_PARSE when Redis holds malformed data. */
fd_err_t fd_store_claim(fd_store_t *st, const char *topic, int32_t partition, const char *instance,
                        char *token, size_t token_size, int64_t *next, fd_dedupe_t *dd);

/* Makes sure each of the n deal ids is cached in dc: ids not cached are read from Redis in one
 * round trip and cached (decoded, or empty when Redis has none). FD_ERR_REDIS on a connection
 * problem; FD_ERR_PARSE when a stored state does not decode (named in errstr). */
fd_err_t fd_store_load_deals(fd_store_t *st, fd_dealcache_t *dc, const char *const *ids, size_t n);

/* Applies b in one atomic step (a Lua script): checks every partition's token and that its stored
 * offset equals the part's from, then adds the deltas, recomputes derived fields of each touched
 * hash, writes the dirty deals of dc (checking first that those assumed new have no stored
 * state), appends the dedupe ids, adds the stats and stores the next
 * offsets. Returns FD_OK when applied, or when an earlier attempt of this very batch was already
 * applied (*already set true); FD_ERR_FENCED when a part's token is no longer current;
 * FD_ERR_GAP when a stored offset differs from a part's from; FD_ERR_CONFLICT when a deal dc
 * holds as assumed new (fd_dealcache_put_new) has a stored state; FD_ERR_REDIS on a connection
 * problem or a transient refusal such as OOM or BUSY (nothing or everything was applied: retry
 * the same batch); FD_ERR_PARSE when Redis holds malformed data (a stored counter that is not a
 * number, a key of the wrong type: named in errstr; nothing was applied, and retrying will not
 * help). Does not change b or dc.
 * A batch that changed more than opts.chunk_hashes metric hashes (or more deal states than
 * chunk_deals) is staged (docs/redis.md, "Staged batches"): a commit script (the checks above,
 * offsets, dedupe ids, stats, and a staged record holding the deltas and deal states), then
 * chunk scripts that apply them, each once, even when sent again; it has been applied when the
 * last chunk has (the answers above are the commit's). A partition whose staged batch an
 * earlier attempt left unfinished has it finished first (logged at warn). */
fd_err_t fd_store_apply(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc,
                        bool *already);

/* The same apply in two steps, so that the caller can fold the next batch while Redis runs this
 * one. Send builds the command now (b and dc may change afterwards), keeps it, and writes it to
 * the connection; a lost connection is not reported here but by the wait, which sends it again.
 * FD_ERR_REDIS only when Redis could never be reached to load the script; build errors as
 * fd_store_apply. One apply at a time: while one is in flight every other call of this store
 * returns FD_ERR_INVAL (read deal states through a second store). */
fd_err_t fd_store_apply_send(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc);
/* Waits for the answer of the apply in flight (b: the batch it was built from, for messages);
 * answers as fd_store_apply, once every command of it (a staged batch's commit and chunks) has
 * answered. FD_ERR_REDIS keeps the commands not answered yet: call again to resend them on a
 * new connection (when the first attempt was applied after all, the answer is *already =
 * true). Any other answer ends the apply. */
fd_err_t fd_store_apply_wait(fd_store_t *st, const fd_batch_t *b, bool *already);
/* Send in two steps, so that the command of the next batch is built while the apply in flight
 * still runs: prepare builds it (as send does, replacing any earlier prepared one) and keeps it;
 * send_prepared sends it once nothing is in flight (FD_ERR_INVAL while something is, or when
 * nothing was prepared). */
fd_err_t fd_store_apply_prepare(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc);
fd_err_t fd_store_apply_send_prepared(fd_store_t *st);
/* Forgets the apply in flight without reading its answer (it may or may not have been applied;
 * the connection is dropped), and any prepared one. Nothing in flight: does nothing. */
void fd_store_apply_abandon(fd_store_t *st);
bool fd_store_apply_inflight(const fd_store_t *st);
/* Whether fd_store_apply_wait would return without waiting on Redis: nothing in flight, or
 * every answer (or the connection's end) has arrived. Never blocks (it may read what has
 * arrived). */
bool fd_store_apply_answered(fd_store_t *st);
/* For tests of crash recovery: builds the apply of b as fd_store_apply would, runs only its
 * first ncmds commands (a staged batch's commit and ncmds - 1 chunks) and forgets the rest, as
 * a crash right after them would. FD_OK when each of them was applied; FD_ERR_REDIS otherwise
 * (the reason in fd_store_errstr); FD_ERR_INVAL while an apply is in flight. */
fd_err_t fd_store_apply_interrupted(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc,
                                    size_t ncmds);

/* Writes a heartbeat entry to the change feed (docs/feeds.md): the watermark, instance,
 * interval_ms and parts (lines "<topic>:<partition>:<next>:<lag>" joined by '\n'). FD_ERR_REDIS
 * on a connection problem; FD_ERR_PARSE when a feed key has the wrong type (named in errstr);
 * FD_ERR_INVAL while an apply is in flight on st. */
fd_err_t fd_store_heartbeat(fd_store_t *st, const char *instance, int64_t interval_ms,
                            const char *parts);

/* Reads one metrics hash (key without prefix, e.g. "rep:all:anna": fd_keys_metric_suffix) into
 * parallel arrays of heap strings (*fields, *values, *n), freed with fd_store_free_fields.
 * FD_ERR_NOTFOUND when the key does not exist. */
fd_err_t fd_store_read_hash(fd_store_t *st, const char *key, char ***fields, char ***values,
                            size_t *n);
void fd_store_free_fields(char **fields, char **values, size_t n);

#endif
