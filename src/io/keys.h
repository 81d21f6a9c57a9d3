// SPDX-License-Identifier: MIT
// Every Redis key of docs/redis.md and docs/alerts.md, built in one place from the prefix
// (redis.prefix) and the parts that name it; the rest of the code never spells a key (layer 4,
// pure string building). Each builder writes into buf (truncated to size, NUL-terminated when
// size > 0) and returns the length it needs without the NUL, like snprintf: a result >= size
// means buf was too small. FD_KEY_MAX holds any key funneld builds.
#ifndef FUNNELD_KEYS_H
#define FUNNELD_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "model/metrics.h"

/* prefix (64) + scope + window id (32) + id (128) + separators, or a topic (249) + partition */
#define FD_KEY_MAX 512

/* A metric hash: <p>:rep:<window>:<id>, <p>:team:<window>:<id>, <p>:org:<window> (id ignored
 * for the org). window is a window id of docs/redis.md ("all", "day:2026-11-22", ...). */
size_t fd_keys_metric(char *buf, size_t size, const char *prefix, fd_scope_t scope,
                      const char *window, const char *id);
/* The part of a metric key after "<p>:" ("rep:all:anna"): what funnelctl and the feeds name. */
size_t fd_keys_metric_suffix(char *buf, size_t size, fd_scope_t scope, const char *window,
                             const char *id);
/* The SCAN pattern of every key of a scope and window: <p>:rep:<window>: (a prefix to match;
 * the caller appends '*' after escaping nothing: prefixes and window ids hold no glob
 * characters). */
size_t fd_keys_metric_scan(char *buf, size_t size, const char *prefix, fd_scope_t scope,
                           const char *window);

/* <p>:part:<topic>:<partition>: a partition's epoch, token and next offset. */
size_t fd_keys_part(char *buf, size_t size, const char *prefix, const char *topic,
                    int32_t partition);
/* <p>:dedupe:<topic>:<partition>: the partition's dedupe horizon. */
size_t fd_keys_dedupe(char *buf, size_t size, const char *prefix, const char *topic,
                      int32_t partition);
/* <p>:deal:<deal_id>; with deal_id "*" the SCAN pattern of every deal. */
size_t fd_keys_deal(char *buf, size_t size, const char *prefix, const char *deal_id);

/* The single keys: <p>:<name> for name one of the FD_KEY_* below. */
#define FD_KEY_STATS         "stats"             /* hash: accepted, duplicates, rejected... */
#define FD_KEY_CLOCK         "clock"             /* hash: the alert event clock */
#define FD_KEY_REP_TEAM      "rep_team"          /* hash: rep -> team, for alert routing */
#define FD_KEY_ALERTS        "alerts"            /* stream and Pub/Sub channel of notifications */
#define FD_KEY_ALERTS_FIRING "alerts:firing"     /* hash: what fires now */
#define FD_KEY_ALERTS_OUTBOX "alerts:outbox"     /* hash: alert_id -> JSON not yet in Kafka */
#define FD_KEY_ALERTS_LEASE  "alerts:lease"      /* string: the evaluator lease */
#define FD_KEY_PARTS         "parts"             /* set: every part hash ever claimed */
#define FD_KEY_CHANGES       "changes"           /* stream: the change feed (docs/feeds.md) */
#define FD_KEY_FEED          "feed"              /* hash: the feed's watermark */
#define FD_KEY_METRICS_DIRTY "metrics:dirty"     /* set: suffixes changed since the last take */
#define FD_KEY_METRICS_TAKEN "metrics:taken"     /* set: suffixes being published */
#define FD_KEY_METRICS_PUB   "metrics:publisher" /* hash: the publisher's position */
#define FD_KEY_METRICS_LEASE "metrics:lease"     /* string: the publisher lease */
#define FD_KEY_REP_TEAM_AT   "rep_team:at"       /* hash: rep -> ms of the event behind rep_team */
#define FD_KEY_LATE          "late"              /* stream: events more than 24 h late */
#define FD_KEY_SCORE_LEASE   "score:lease"       /* string: the scorer lease */
#define FD_KEY_SCORE_STATE   "score:state"       /* hash: the scorer's position */
#define FD_KEY_SCORE_PERIODS "score:periods"     /* zset: period id -> start ms */
#define FD_KEY_CURRENT       "current"           /* string: the active prefix (funnelctl rebuild) */
size_t fd_keys_single(char *buf, size_t size, const char *prefix, const char *name);
/* <p>:staged:<id>: the record of a staged batch, committed and not yet fully applied (docs/redis.md
 * "Staged batches"). */
size_t fd_keys_staged(char *buf, size_t size, const char *prefix, const char *id);
/* <p>:alerts:state:<rule>: the state machines of one rule. */
size_t fd_keys_alert_state(char *buf, size_t size, const char *prefix, const char *rule);

/* The scorecards (docs/redis.md "Scorecard keys"); scope is rep or team, period a period id
 * ("month:2026-11"). <p>:score:<scope>:<period>:<id>: the breakdown hash;
 * <p>:score:adj:<scope>:<period>:<id>: the adjustments after final (a list). With id "" each
 * gives the prefix the scorer's Lua script appends ids to. */
size_t fd_keys_score(char *buf, size_t size, const char *prefix, fd_scope_t scope,
                     const char *period, const char *id);
size_t fd_keys_score_adj(char *buf, size_t size, const char *prefix, fd_scope_t scope,
                         const char *period, const char *id);
/* The rankings of a period: <p>:rank:<period>:rep (every rep), <p>:rank:<period>:teams (every
 * team), <p>:rank:<period>:team:<team> (the team's reps; team "" gives the prefix). */
size_t fd_keys_rank_reps(char *buf, size_t size, const char *prefix, const char *period);
size_t fd_keys_rank_teams(char *buf, size_t size, const char *prefix, const char *period);
size_t fd_keys_rank_team(char *buf, size_t size, const char *prefix, const char *period,
                         const char *team);

/* The upload of a staged batch's bulk, written natively before its commit (docs/redis.md "Staged
 * batches"), named by the batch's stamp (unique to one build of it) and expiring unless the commit
 * takes it: <p>:upload:<stamp> (a hash, the chunk blobs, renamed to the record by the commit) and
 * <p>:upload:<stamp>:<topic>:<partition> (a list of one element, the part's dedupe chunk, moved to
 * the dedupe list by the commit). */
size_t fd_keys_upload(char *buf, size_t size, const char *prefix, const char *stamp);
size_t fd_keys_upload_dedupe(char *buf, size_t size, const char *prefix, const char *stamp,
                             const char *topic, int32_t partition);

#endif
