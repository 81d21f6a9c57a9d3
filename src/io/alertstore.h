// SPDX-License-Identifier: MIT
// The alert store: everything the alert evaluator reads from and writes to Redis, through the
// one connection (io/redis.h), keys from io/keys.h and the scripts of src/lua/alert_*.lua — the
// shared event clock, the rep -> team registry, the scopes and deals it scans, the pipelined
// reads of metric windows and alert states, the atomic commit of state changes with their
// notifications (state hashes, firing hash, stream, Pub/Sub, outbox), and the outbox (layer 4).
// Reference: docs/alerts.md, docs/redis.md.
#ifndef FUNNELD_ALERTSTORE_H
#define FUNNELD_ALERTSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerting/eventclock.h"
#include "base/err.h"
#include "base/map.h"
#include "io/redis.h"
#include "model/metrics.h"

typedef struct fd_alertstore fd_alertstore_t;

/* A store on redis (borrowed; created before it connects: it registers its scripts) for keys
 * under prefix. FD_ERR_NOMEM, FD_ERR_FULL (script registry). Every call below answers
 * FD_ERR_REDIS when Redis cannot be reached or fails (an error reply included; the connection
 * is then dropped and the reason is in fd_redis_errstr), FD_ERR_NOMEM when memory is short. */
fd_err_t fd_alertstore_new(fd_redis_t *redis, const char *prefix, fd_alertstore_t **out);
void fd_alertstore_destroy(fd_alertstore_t *st);

/* Writes the partitions waiting to be registered, then those waiting to be held, to the clock
 * hash; each set is emptied once written. */
fd_err_t fd_alertstore_write_holds(fd_alertstore_t *st, fd_eventclock_t *ec);
/* Writes the applied latest event times and the first event time to the clock hash (only
 * forwards; first_ms only backwards) and empties them. */
fd_err_t fd_alertstore_write_applied(fd_alertstore_t *st, fd_eventclock_t *ec);
/* Reads the clock hash with Redis TIME in one step: the watermark at wall time now_ms. */
fd_err_t fd_alertstore_read_clock(fd_alertstore_t *st, int64_t now_ms, fd_clock_reading_t *out);
/* Stores the clock of a complete sweep (only forwards), only while token holds the lease:
 * *ours false when it does not. */
fd_err_t fd_alertstore_evaluated(fd_alertstore_t *st, const char *token, int64_t clock_ms,
                                 bool *ours);

/* Calls each(opaque, rep, team) for every pair of <prefix>:rep_team (written by the apply
 * script: the team of each rep's latest event that names one). */
fd_err_t fd_alertstore_rep_teams(fd_alertstore_t *st,
                                 void (*each)(void *opaque, const char *rep, const char *team),
                                 void *opaque);
/* Calls each(opaque, rep, team) for each of the n reps that <prefix>:rep_team holds. */
fd_err_t fd_alertstore_rep_teams_of(fd_alertstore_t *st, const char *const *reps, size_t n,
                                    void (*each)(void *opaque, const char *rep, const char *team),
                                    void *opaque);
/* SCAN of the all-time hashes of scope (rep or team): each(opaque, id, len) per key found
 * (possibly more than once). */
fd_err_t fd_alertstore_scan_scopes(fd_alertstore_t *st, fd_scope_t scope,
                                   void (*each)(void *opaque, const char *id, size_t len),
                                   void *opaque);
/* SCAN and MGET of every deal state: each(opaque, state, len) per deal; an error it returns
 * stops the scan and is returned. */
fd_err_t fd_alertstore_scan_deals(fd_alertstore_t *st,
                                  fd_err_t (*each)(void *opaque, const char *state, size_t len),
                                  void *opaque);

/* One read of a chunk: a metric hash (window set), a scorecard (period set: the `score` and
 * `grade` of <prefix>:score:<scope>:<period>:<id>) or the state hash of a rule (both NULL). */
typedef struct {
    fd_scope_t scope;          /* metric: the hash's scope */
    const char *id;            /* metric: the scope id ("" for the org) */
    const char *window;        /* metric: the window id; NULL for a state read */
    const char *rule;          /* state: the rule */
    const char *const *fields; /* state: the fields ("rep|anna") */
    size_t nfields;
    const char *period; /* scorecard: the period id ("month:2026-11"), with scope and id */
} fd_alertstore_read_t;

/* Where the answers go. Metric reads ask fields (nfields names; hundredths[k] when field k is
 * an amount stored as "d.dd") and give their values in that order (absent fields 0; a
 * malformed one is logged and read as 0). State reads give each present field j. An error
 * reply (a key of another type) goes to refused and the read is skipped. */
typedef struct {
    const char *const *fields;
    const bool *hundredths;
    size_t nfields;
    void *opaque;
    void (*metric)(void *opaque, size_t k, const int64_t *vals);
    void (*state)(void *opaque, size_t k, size_t j, const char *text, size_t len);
    void (*refused)(void *opaque, size_t k, const char *error);
    /* a scorecard read: its `score` and `grade` fields, NULL when absent */
    void (*card)(void *opaque, size_t k, const char *score, const char *grade);
} fd_alertstore_reader_t;

/* Runs the n reads, pipelined in windows of 1024 commands (a bounded output buffer). */
fd_err_t fd_alertstore_read(fd_alertstore_t *st, const fd_alertstore_read_t *reads, size_t n,
                            const fd_alertstore_reader_t *rd);

/* One state change, with its notification when kind is set. */
typedef struct {
    const char *rule;  /* its state hash: <prefix>:alerts:state:<rule> */
    const char *field; /* "rep|anna" */
    const char *state; /* the encoded state machine */
    const char *kind;  /* "firing" or "resolved"; NULL: a state change without notification */
    const char *firing_field; /* "<rule>|<scope>|<id>" */
    const char *alert_id;
    const char *json;
} fd_alertstore_change_t;

/* Writes the n changes and their notifications (firing hash, stream capped at stream_maxlen,
 * Pub/Sub, outbox) all or nothing, only while token holds the lease: *ours false when it does
 * not (nothing written). */
fd_err_t fd_alertstore_commit(fd_alertstore_t *st, const char *token, int64_t stream_maxlen,
                              const fd_alertstore_change_t *changes, size_t n, bool *ours);

/* Calls each(opaque, alert_id, json, len) for every notification of the outbox. */
fd_err_t fd_alertstore_outbox(fd_alertstore_t *st,
                              void (*each)(void *opaque, const char *id, const char *json,
                                           size_t len),
                              void *opaque);
/* Removes the n delivered alert_ids from the outbox. */
fd_err_t fd_alertstore_outbox_drop(fd_alertstore_t *st, char *const *ids, size_t n);

#endif
