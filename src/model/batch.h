// SPDX-License-Identifier: MIT
// Folds a batch of events into per-hash counter deltas, deal-state changes, dedupe ids, rejection
// counts and per-partition offsets, ready for one atomic apply; no I/O (layer 1).
#ifndef FUNNELD_BATCH_H
#define FUNNELD_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/dealcache.h"
#include "model/dedupe.h"
#include "model/event.h"
#include "model/funnel.h"
#include "model/metrics.h"
#include "model/timewin.h"

#define FD_TOKEN_MAX 96
#define FD_TOPIC_MAX 250

typedef struct fd_batch fd_batch_t;

/* Settings the fold needs; copied by fd_batch_new. */
typedef struct {
    /* Per granularity; 0 = keep forever (all is always kept), except FD_WIN_HOUR where 0 means
     * no hourly buckets at all. */
    int64_t retention_days[FD_WIN_COUNT];
} fd_batch_opts_t;

/* One metric hash to update, named by what it counts, not by its Redis key (the store renders
 * the key with io/keys.h's fd_keys_metric): its scope, window id ("all", "day:2025-11-22") and
 * id (the rep's or team's; "" for the org); its counter deltas (fd_funnel_nfields entries, zeros
 * untouched) and the expiry to set (epoch seconds, 0 for none). */
typedef struct {
    fd_scope_t scope;
    const char *window;
    const char *id;
    const int64_t *delta;
    int64_t expire_at_s;
} fd_batch_hash_t;

/* One partition in the batch. from: the stored offset the batch continues from (-1 when Redis
 * had none at claim time); next: the offset after the last message of the batch. */
typedef struct {
    char topic[FD_TOPIC_MAX + 1];
    int32_t partition;
    char token[FD_TOKEN_MAX + 1];
    int64_t from;
    int64_t next;
    fd_dedupe_t *dd; /* borrowed: its pending ids go with this batch */
} fd_batch_part_t;

/* Batch-wide counters for the stats hash (<prefix>:stats). */
enum {
    FD_STAT_ACCEPTED = 0,     /* events counted */
    FD_STAT_DUPLICATES,       /* events ignored as duplicates */
    FD_STAT_REJECTED,         /* all rejections (rejected:<reason> splits them) */
    FD_STAT_BEYOND_RETENTION, /* window updates skipped: the window is past its retention */
    FD_STAT_IGNORED, /* accepted deal events that changed no deal state (counted in events) */
    FD_STAT_COUNT
};

/* A batch folding for funnel fn and windows tw (both borrowed, must outlive it) into *out.
 * FD_ERR_NOMEM (*out NULL). */
fd_err_t fd_batch_new(const fd_funnel_t *fn, fd_timewin_t *tw, const fd_batch_opts_t *opts,
                      fd_batch_t **out);
void fd_batch_destroy(fd_batch_t *b);
/* Empties the batch for reuse (keeps allocations). */
void fd_batch_reset(fd_batch_t *b);

/* Adds partition (topic, partition) with its claim token and the stored offset it continues from
 * and gives its index in *part, or gives the index it already has. dd is the partition's dedupe
 * horizon (borrowed). FD_ERR_RANGE when the topic is longer than FD_TOPIC_MAX or the token than
 * FD_TOKEN_MAX, FD_ERR_NOMEM; *part untouched on error. */
fd_err_t fd_batch_part(fd_batch_t *b, const char *topic, int32_t partition, const char *token,
                       int64_t from, fd_dedupe_t *dd, int *part);

/* Folds one validated event read at offset of part: drops it as a duplicate if its event_id is in
 * the dedupe horizon, else turns it into deltas. For deal events the deal must be cached in dc
 * (load it from Redis first; an unknown deal is cached empty). now_s (epoch seconds) decides
 * retention. Advances part's next offset. FD_ERR_NOMEM on allocation failure (the batch must
 * then be dropped); FD_ERR_INVAL when a deal event's deal is not cached; FD_ERR_FULL, with
 * nothing changed, when the event could overflow a 64-bit delta of this batch (huge amounts):
 * apply smaller batches. */
fd_err_t fd_batch_add(fd_batch_t *b, int part, fd_dealcache_t *dc, const fd_event_t *ev,
                      int64_t offset, int64_t now_s);

/* fd_batch_add in two steps, so that events needing no deal state can be folded at once while
 * deal events wait for their states. Admit, in offset order for every event: drops it as a
 * duplicate if its event_id is in the dedupe horizon (counted, done), else counts it accepted
 * and sets *fresh: it must then be folded with fd_batch_fold before the batch is applied.
 * Advances part's next offset. FD_ERR_NOMEM (drop the batch). */
fd_err_t fd_batch_admit(fd_batch_t *b, int part, const fd_event_t *ev, int64_t offset, bool *fresh);
/* Folds an admitted fresh event into deltas (deal events: the deal must be cached in dc).
 * FD_ERR_INVAL when a deal event's deal is not cached; FD_ERR_NOMEM; FD_ERR_FULL when the event
 * could overflow a 64-bit delta of this batch: the batch must be dropped (its admission was
 * counted already) and read again in smaller batches. */
fd_err_t fd_batch_fold(fd_batch_t *b, fd_dealcache_t *dc, const fd_event_t *ev, int64_t now_s);

/* Counts a rejected message read at offset of part and advances the part's next offset. */
void fd_batch_reject(fd_batch_t *b, int part, fd_reject_t reason, int64_t offset);

/* Events folded or rejected so far. */
size_t fd_batch_messages(const fd_batch_t *b);

/* Read access for the store; pointers stay valid until the batch changes. */
size_t fd_batch_nhashes(const fd_batch_t *b);
const fd_batch_hash_t *fd_batch_hash(const fd_batch_t *b, size_t i);
size_t fd_batch_nparts(const fd_batch_t *b);
const fd_batch_part_t *fd_batch_part_at(const fd_batch_t *b, size_t i);
/* The greatest occurred_ms of the events folded into the batch in *ms; false (and *ms
 * untouched) when none was folded. */
bool fd_batch_latest_ms(const fd_batch_t *b, int64_t *ms);
/* The team each rep of the batch is on: the team of the rep's latest folded event (by
 * occurred_ms; a tie goes to the event folded later) whose team_id names one (not
 * FD_TEAM_UNASSIGNED, which an absent team_id reads as). Reps whose events named none are not
 * listed. Entries stay valid until the batch changes. */
typedef struct {
    char rep[FD_ID_MAX + 1];
    char team[FD_ID_MAX + 1];
    int64_t at_ms;
} fd_batch_rep_team_t;
size_t fd_batch_nrep_teams(const fd_batch_t *b);
const fd_batch_rep_team_t *fd_batch_rep_team(const fd_batch_t *b, size_t i);

/* A late event of the batch, for the late-event log <p>:late (docs/redis.md): who, when, and
 * where it was read (its part's topic and partition, its offset). */
typedef struct {
    char event_id[FD_ID_MAX + 1];
    fd_event_type_t type;
    char rep[FD_ID_MAX + 1];
    char team[FD_ID_MAX + 1]; /* as counted: "unassigned" when the event names none */
    int64_t occurred_ms;
    int part;
    int64_t offset;
} fd_batch_late_t;
/* The most late events one batch logs; more are folded as usual but not logged. */
#define FD_BATCH_LATE_MAX 1000
/* Logs admitted fresh event ev, read at offset of part, as late (the caller decides what is
 * late: funneld, an event more than 24 h older than the newest event applied before its
 * batch). Beyond FD_BATCH_LATE_MAX events nothing more is logged (FD_OK). FD_ERR_NOMEM. */
fd_err_t fd_batch_note_late(fd_batch_t *b, int part, const fd_event_t *ev, int64_t offset);
size_t fd_batch_nlate(const fd_batch_t *b);
const fd_batch_late_t *fd_batch_late(const fd_batch_t *b, size_t i);
/* Value of batch stat FD_STAT_* and of rejected:<reason>. */
int64_t fd_batch_stat(const fd_batch_t *b, int stat);
int64_t fd_batch_rejected(const fd_batch_t *b, fd_reject_t reason);
const char *fd_batch_stat_name(int stat);
const fd_funnel_t *fd_batch_funnel(const fd_batch_t *b);

#endif
