// SPDX-License-Identifier: MIT
// The daemon's run loop: poll -> take -> submit -> settle, with partition claims on assignment,
// flush on revocation, retries with backoff (layer 5). The batch ledger keeps the batches and
// the partitions' claims; the deal cache, dead letters, alert clock and store hear of a batch's
// fate through its hooks. Applies are pipelined: batch N+1 is read, parsed and folded while Redis
// runs batch N's apply; N's answer is read before N+1 is sent, so at most one apply is in flight.
#include "app/service.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/alerter.h"
#include "app/ledger.h"
#include "app/metricsfeed.h"
#include "app/scorer.h"
#include "app/opsmetrics.h"
#include "model/batch.h"
#include "model/dealcache.h"
#include "model/dedupe.h"
#include "model/event.h"
#include "model/funnel.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/map.h"
#include "alerting/rules.h"
#include "io/current.h"
#include "io/keys.h"
#include "io/source.h"
#include "io/store.h"
#include "model/timewin.h"

#define STATS_EVERY_MS     10000
#define ALERT_TICK_MS      50
#define BACKOFF_MIN_MS     50
#define CONFLICT_PAUSE_MIN 16
#define CONFLICT_PAUSE_MAX 4096
#define OPS_EVERY_MS       250 /* the operator metrics the loop computes (lag, counts) */
#ifndef FD_VERSION
#define FD_VERSION "unknown"
#endif

struct fd_service {
    int64_t max_events, linger_ms, backoff_max_ms;
    /* Lag-adaptive batches: the limit in force is max_events while the consumer lag (lag, as
     * ops_tick measures it) is at most max_events, else min(lag, catchup_max) (never below
     * max_events); a batch also ends once catchup_bytes of payload were read into it. max_now
     * caps it after FD_ERR_FULL (halved), doubling back up to catchup_max with every apply. */
    int64_t catchup_max, catchup_bytes, lag, batch_bytes;
    int64_t max_now;
    char instance[128];
    fd_funnel_t *fn;
    fd_timewin_t *tw;
    fd_store_t *st; /* claims and applies */
    fd_store_t *rd; /* deal-state reads, while an apply is in flight on st */
    fd_source_t *src;
    fd_dealcache_t *dc;
    fd_ledger_t *lg;   /* partitions, the batch being read, the batch in flight */
    fd_rules_t *rules; /* NULL when alerts are off */
    fd_timewin_t *tw_alerts;
    fd_alerts_t *al;
    fd_metricsfeed_t *mf;          /* NULL when feeds.metrics is off */
    fd_scorer_t *sc;               /* NULL without a targets.file that has a scorecard */
    volatile sig_atomic_t *reload; /* SIGHUP: load targets.file again (main's flag) */
    /* The late-event log (<p>:late, docs/redis.md): an event more than LATE_MS older than the
     * newest event time applied before it (the feed's watermark, read at the first claim, then
     * moved by every applied batch) is logged by its batch. */
    int64_t watermark_ms;
    bool watermark_known;
    int64_t watermark_retry_ms; /* wall time before which no new read is tried */
    int64_t last_tick_ms, last_alert_warn_ms;
    fd_map_t *expected; /* topics whose partitions the alert clock has registered */
    /* A deal.created of a deal neither cached nor waiting is folded at once as a new deal (the
     * apply checks that Redis has no state for it) from batch assume_new_from on; a refused
     * assumption (FD_ERR_CONFLICT) turns this off for conflict_pause applied batches, doubling
     * up to CONFLICT_PAUSE_MAX while conflicts recur. */
    int64_t assume_new_from, conflict_pause, conflicts;
    /* A refused assumption is read again under the claims held (refold): the ledger set the
     * batches' partitions aside (fd_ledger_rewind); the loop reloads their offsets and horizons
     * and moves the consumer back before it polls again. conflict_why: the refusal, for the log. */
    bool need_refold;
    char conflict_why[512];
    bool need_rejoin;
    bool fatal; /* set in a callback: Redis holds data funneld cannot use; stop with exit 1 */
    volatile sig_atomic_t *stop;
    /* figures for the periodic log line */
    int64_t applied_events, applied_batches, duplicates, rejected, last_stats_ms;
    int64_t redis_failures;
    /* the change feed's heartbeats: after heartbeat_ms without an entry of ours */
    bool feed_on;
    int64_t heartbeat_ms, last_entry_ms;
    /* the operator metrics (/metrics, /livez, /readyz): updated per batch and every
     * OPS_EVERY_MS, never per event */
    fd_opsmetrics_t *om;
    fd_prom_series_t *refused[3]; /* fenced, gap, conflict */
    int64_t consumed, sent_us, last_ops_ms, alert_notifications;
    fd_source_counts_t seen; /* the source's counts already reported */
    bool redis_ok;
    fd_current_t *follow; /* the active-prefix pointer (main's), NULL: not followed */
};

/* Redis answered (ok) or failed a command of the loop: /readyz and funneld_redis_up. */
static void note_redis(fd_service_t *svc, bool ok) {
    if (!ok) fd_prom_add(fd_opsmetrics_one(svc->om, FD_OM_REDIS_ERRORS), 1);
    if (ok == svc->redis_ok) return;
    svc->redis_ok = ok;
    fd_opsmetrics_set_redis(svc->om, ok);
    fd_prom_set(fd_opsmetrics_one(svc->om, FD_OM_REDIS_UP), ok ? 1 : 0);
}

static void ops_tick(fd_service_t *svc, int64_t now, bool force);

/* Sleeps ms in short slices; returns false early once give_up_at stop signals arrived (2 while
 * finishing a batch that must not be lost, 1 for work that can simply be left undone). */
static bool sleep_ms(fd_service_t *svc, int64_t ms, int give_up_at) {
    while (ms > 0) {
        if (svc->stop && *svc->stop >= give_up_at) return false;
        ops_tick(svc, fd_clock_mono_ms(), false); /* waiting out a backoff is alive, and lags */
        int64_t step = ms < 50 ? ms : 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return !(svc->stop && *svc->stop >= give_up_at);
}

/* Next backoff: doubles up to the configured maximum, with up to 25% jitter. */
static int64_t backoff_next(const fd_service_t *svc, int64_t cur) {
    int64_t next = cur * 2;
    if (next > svc->backoff_max_ms) next = svc->backoff_max_ms;
    return next - (next / 4) * (rand() % 100) / 100;
}

/* The ledger's hooks: what each module does when a batch is sent, applied or dropped. A drop
 * forgets everything not yet applied (the apply in flight too: it may or may not land, and the
 * claims that follow read whichever it was) and every cached state: Redis is the truth again. */

/* The store: a dropped apply in flight is abandoned. The group: an applied batch's offsets are
 * committed (informational: Redis holds the truth). The figures of the periodic log line. */
static void apply_dropped(void *opaque, const fd_batch_t *fly) {
    fd_service_t *svc = opaque;
    if (fly) fd_store_apply_abandon(svc->st);
}

static void apply_applied(void *opaque, const fd_batch_t *b, bool already) {
    fd_service_t *svc = opaque;
    size_t n = fd_batch_nparts(b);
    fd_source_tp_t *tps = calloc(n + 1, sizeof *tps);
    int64_t *next = calloc(n + 1, sizeof *next);
    for (size_t i = 0; tps && next && i < n; i++) {
        const fd_batch_part_t *bp = fd_batch_part_at(b, i);
        tps[i] = (fd_source_tp_t){bp->topic, bp->partition};
        next[i] = bp->next;
    }
    if (tps && next) fd_source_commit(svc->src, tps, next, n);
    free(tps);
    free(next);
    int64_t latest;
    if (fd_batch_latest_ms(b, &latest) && latest > svc->watermark_ms) svc->watermark_ms = latest;
    svc->applied_events += fd_batch_stat(b, FD_STAT_ACCEPTED);
    svc->duplicates += fd_batch_stat(b, FD_STAT_DUPLICATES);
    svc->rejected += fd_batch_stat(b, FD_STAT_REJECTED);
    svc->applied_batches++;
    if (!already) svc->last_entry_ms = fd_clock_mono_ms(); /* the apply wrote a change-feed entry */
    /* the operator metrics, once per batch */
    fd_opsmetrics_t *om = svc->om;
    fd_prom_add(fd_opsmetrics_one(om, FD_OM_ACCEPTED),
                (uint64_t)fd_batch_stat(b, FD_STAT_ACCEPTED));
    fd_prom_add(fd_opsmetrics_one(om, FD_OM_DUPLICATES),
                (uint64_t)fd_batch_stat(b, FD_STAT_DUPLICATES));
    if (fd_batch_stat(b, FD_STAT_REJECTED) > 0)
        for (int r = 1; r < FD_REJECT_COUNT; r++)
            fd_prom_add(fd_opsmetrics_rejected(om, (fd_reject_t)r),
                        (uint64_t)fd_batch_rejected(b, (fd_reject_t)r));
    fd_prom_add(fd_opsmetrics_one(om, FD_OM_BATCHES), 1);
    fd_prom_observe(fd_opsmetrics_one(om, FD_OM_APPLY_SECONDS),
                    (double)(fd_clock_mono_us() - svc->sent_us) / 1e6);
    if (!already && svc->feed_on) {
        const char *kind[] = {"change"};
        fd_prom_add(fd_opsmetrics_series(om, FD_OM_FEED_ENTRIES, kind), 1);
    }
    for (size_t i = 0; i < n; i++) {
        const fd_batch_part_t *bp = fd_batch_part_at(b, i);
        fd_prom_series_t *s = fd_opsmetrics_part(om, FD_OM_PART_OFFSET, bp->topic, bp->partition);
        if (s) fd_prom_set(s, (double)bp->next);
    }
    if (already) fd_log_info("service", "batch was already applied by an earlier attempt");
}

/* The dead letters of a dropped batch come again when its messages are read again. */
static void dead_letters_dropped(void *opaque, const fd_batch_t *fly) {
    (void)fly;
    fd_source_forget_dead_letters(opaque);
}

/* A sent batch's deal states are in its command: the next batch reads the cached ones. */
static void deal_cache_sent(void *opaque, const fd_batch_t *b) {
    (void)b;
    fd_dealcache_mark_sent(opaque);
}

static void deal_cache_applied(void *opaque, const fd_batch_t *b, bool already) {
    (void)b;
    (void)already;
    fd_dealcache_trim(opaque); /* keeps the deals of the batch being folded */
}

static void deal_cache_dropped(void *opaque, const fd_batch_t *fly) {
    (void)fly;
    fd_dealcache_clear(opaque);
}

/* The alert clock releases an applied batch's event times; a dropped one's are forgotten. */
static void alert_clock_sent(void *opaque, const fd_batch_t *b) {
    (void)b;
    fd_alerts_batch_sent(opaque);
}

static void alert_clock_applied(void *opaque, const fd_batch_t *b, bool already) {
    (void)b;
    (void)already;
    fd_alerts_batch_done(opaque, true);
}

static void alert_clock_dropped(void *opaque, const fd_batch_t *fly) {
    (void)fly;
    fd_alerts_batch_done(opaque, false);
}

/* How much older than the watermark an event must be to be logged as late (<p>:late). */
#define LATE_MS (24 * INT64_C(3600000))

/* Reads the feed's watermark (<p>:feed watermark, written by every apply) for the late-event
 * log, once, when no apply is in flight; a failure leaves it unknown, tried again 5 s later
 * (until then nothing is logged as late). */
static void read_watermark(fd_service_t *svc) {
    int64_t now = fd_clock_wall_ms();
    if (now < svc->watermark_retry_ms || fd_store_apply_inflight(svc->st)) return;
    svc->watermark_retry_ms = now + 5000;
    char **fields = NULL, **values = NULL;
    size_t n = 0;
    fd_err_t err = fd_store_read_hash(svc->st, FD_KEY_FEED, &fields, &values, &n);
    if (err != FD_OK && err != FD_ERR_NOTFOUND) return;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i], "watermark") != 0) continue;
        int64_t w = strtoll(values[i], NULL, 10);
        if (w > svc->watermark_ms) svc->watermark_ms = w;
    }
    if (err == FD_OK) fd_store_free_fields(fields, values, n);
    svc->watermark_known = true;
}

/* Registers the hooks, in the order they are told. */
static fd_err_t add_hooks(fd_service_t *svc) {
    const fd_ledger_hook_t hooks[] = {
        {"apply", svc, NULL, apply_applied, apply_dropped},
        {"dead letters", svc->src, NULL, NULL, dead_letters_dropped},
        {"deal cache", svc->dc, deal_cache_sent, deal_cache_applied, deal_cache_dropped},
        {"alert clock", svc->al, alert_clock_sent, alert_clock_applied, alert_clock_dropped},
    };
    size_t n = sizeof hooks / sizeof hooks[0] - (svc->al == NULL); /* alert clock last */
    for (size_t i = 0; i < n; i++) {
        fd_err_t err = fd_ledger_add_hook(svc->lg, &hooks[i]);
        if (err != FD_OK) return err;
    }
    return FD_OK;
}

/* Runs expr (a call of store st) into err until it is not FD_ERR_REDIS, with backoff; gives up
 * with FD_ERR_REDIS once give_up_at stop signals arrived. */
#define RETRY_REDIS_ON(svc, st, what, give_up_at, err, expr)                                       \
    do {                                                                                           \
        int64_t wait_ = BACKOFF_MIN_MS;                                                            \
        for (;;) {                                                                                 \
            (err) = (expr);                                                                        \
            if ((err) != FD_ERR_REDIS) break;                                                      \
            (svc)->redis_failures++;                                                               \
            note_redis((svc), false);                                                              \
            fd_log_warn("service", "%s: %s; retrying in %" PRId64 " ms", (what),                   \
                        fd_store_errstr(st), wait_);                                               \
            if (!sleep_ms((svc), wait_, (give_up_at))) break;                                      \
            wait_ = backoff_next((svc), wait_);                                                    \
        }                                                                                          \
        if ((err) != FD_ERR_REDIS) note_redis((svc), true);                                        \
    } while (0)
#define RETRY_REDIS(svc, what, give_up_at, err, expr)                                              \
    RETRY_REDIS_ON(svc, (svc)->st, what, give_up_at, err, expr)

static fd_err_t settle(fd_service_t *svc);

/* Registers every partition of topic with the alert clock, once per topic and rebalance: a
 * partition whose owner has not been assigned it yet (still joining the group) must hold the
 * clock too. A failure is retried at the next assignment. */
static void expect_partitions(fd_service_t *svc, const char *topic) {
    size_t len = strlen(topic);
    if (fd_map_get(svc->expected, topic, len) != NULL) return;
    int32_t n = 0;
    fd_err_t err = fd_source_partition_count(svc->src, topic, 5000, &n);
    if (!err) err = fd_alerts_expect(svc->al, topic, n);
    if (!err) err = fd_map_put(svc->expected, topic, len, (void *)1);
    if (err)
        fd_log_warn("service", "alerts: registering the partitions of %s with the event clock: %s",
                    topic, err == FD_ERR_KAFKA ? "no metadata from Kafka" : fd_strerror(err));
}

static void on_revoke(void *opaque, const fd_source_tp_t *tps, size_t n);

static fd_err_t on_assign(void *opaque, const fd_source_tp_t *tp, int64_t *offset) {
    fd_service_t *svc = opaque;
    /* the claim needs the connection (an incremental assignment comes without a revocation);
     * a failed apply drops what was pending and rejoins by itself */
    if (fd_ledger_inflight(svc->lg)) {
        fd_err_t w = settle(svc);
        if (w == FD_ERR_FATAL) {
            svc->fatal = true;
            return w;
        }
        if (fd_ledger_inflight(svc->lg)) return FD_ERR_REDIS; /* told to stop, Redis down */
    }
    if (fd_ledger_part(svc->lg, tp->topic, tp->partition) != NULL) {
        /* Assigned again without a revocation in between: another instance may have owned it
         * meanwhile. Give it up first (apply what is pending, forget its cached deals). */
        fd_log_warn("service", "%s[%" PRId32 "] assigned again without a revocation", tp->topic,
                    tp->partition);
        on_revoke(svc, tp, 1);
    }
    fd_dedupe_t *dd;
    fd_err_t err = fd_ledger_assign(svc->lg, tp->topic, tp->partition, &dd);
    if (err != FD_OK) return err;
    char token[FD_TOKEN_MAX + 1];
    int64_t stored = -1;
    /* A claim is abandoned at the first stop signal: nothing is pending for this partition. */
    RETRY_REDIS(svc, "claim partition", 1, err,
                fd_store_claim(svc->st, tp->topic, tp->partition, svc->instance, token,
                               sizeof token, &stored, dd));
    if (err == FD_OK) err = fd_ledger_claimed(svc->lg, tp->topic, tp->partition, token, stored);
    if (err != FD_OK) {
        fd_log_error("service", "claim of %s[%" PRId32 "] failed: %s: %s", tp->topic, tp->partition,
                     fd_strerror(err), fd_store_errstr(svc->st));
        fd_ledger_revoke(svc->lg, tp->topic, tp->partition);
        /* Unless we are stopping, a partition left unclaimed would sit unread while the group
         * believes we own it: stop (Redis holds unusable data) or rejoin to hand it out again. */
        if (err == FD_ERR_PARSE || err == FD_ERR_INVAL || err == FD_ERR_IO)
            svc->fatal = true;
        else if (err != FD_ERR_REDIS)
            svc->need_rejoin = true;
        return err;
    }
    *offset = stored;
    fd_prom_series_t *off =
        fd_opsmetrics_part(svc->om, FD_OM_PART_OFFSET, tp->topic, tp->partition);
    if (off && stored >= 0) fd_prom_set(off, (double)stored);
    /* Hold the alert clock for this partition before any of its events is read; a failure is
     * retried on the evaluator's next tick. */
    if (svc->al && fd_alerts_hold(svc->al, tp->topic, tp->partition) != FD_OK)
        fd_log_warn("service", "alerts: holding the event clock for %s[%" PRId32 "]: %s", tp->topic,
                    tp->partition, fd_alerts_errstr(svc->al));
    if (svc->al) expect_partitions(svc, tp->topic);
    fd_log_info("service",
                "claimed %s[%" PRId32 "]: token %s, stored offset %" PRId64
                ", %zu remembered event ids",
                tp->topic, tp->partition, token, stored, fd_dedupe_count(dd));
    return FD_OK;
}

static fd_err_t flush(fd_service_t *svc);

static void on_revoke(void *opaque, const fd_source_tp_t *tps, size_t n) {
    fd_service_t *svc = opaque;
    fd_err_t err = flush(svc);
    /* a conflict forgot what was pending keeping the claims: the partitions kept are refolded
     * by the loop (need_refold), those revoked go */
    if (err == FD_ERR_CONFLICT) err = FD_OK;
    if (err != FD_OK) {
        if (err != FD_ERR_FENCED && err != FD_ERR_GAP)
            fd_log_warn("service",
                        "pending batch not applied before revocation: %s (it will "
                        "be read again from the stored offsets)",
                        fd_strerror(err));
        /* What was not applied may span partitions we keep (cooperative rebalancing): forget
         * it everywhere and claim the rest again. */
        fd_ledger_drop(svc->lg);
    }
    for (size_t i = 0; i < n; i++) {
        /* a partition given away leaves /metrics (its new owner exposes it) */
        fd_prom_series_t *s =
            fd_opsmetrics_part(svc->om, FD_OM_PART_OFFSET, tps[i].topic, tps[i].partition);
        if (s) fd_prom_hide(s);
        s = fd_opsmetrics_part(svc->om, FD_OM_PART_LAG, tps[i].topic, tps[i].partition);
        if (s) fd_prom_hide(s);
        fd_ledger_revoke(svc->lg, tps[i].topic, tps[i].partition);
        if (svc->al) fd_alerts_unhold(svc->al, tps[i].topic, tps[i].partition);
    }
    /* Cached deals may belong to the revoked partitions; they reload from Redis on demand. */
    fd_dealcache_clear(svc->dc);
    /* the next assignment registers the topics' partitions again: some may have been added */
    fd_map_clear(svc->expected);
    /* never clear a rejoin asked for earlier in the same poll (a refused apply in on_assign) */
    if (err != FD_OK && fd_ledger_nparts(svc->lg) > 0) svc->need_rejoin = true;
}

/* Loads alerts.rules and sizes the hourly buckets and the day retention the rules need. */
static fd_err_t load_rules(fd_service_t *svc, const fd_config_t *cfg, fd_batch_opts_t *bo,
                           char *errstr, size_t errstr_size) {
    char why[900];
    fd_err_t err = fd_rules_load(svc->fn, cfg->alerts_rules, &svc->rules, why, sizeof why);
    if (err != FD_OK) {
        snprintf(errstr, errstr_size, "alerts.rules (%s): %s", cfg->alerts_rules, why);
        return err == FD_ERR_NOMEM ? err : FD_ERR_CONFIG;
    }
    const int64_t day_ms = 86400000;
    int64_t span = fd_rules_hour_span_ms(svc->rules);
    int64_t need = span > 0 ? (span + day_ms - 1) / day_ms + 1 : 0;
    if (cfg->retention_hour_days == 0) {
        bo->retention_days[FD_WIN_HOUR] = need;
    } else if (cfg->retention_hour_days < need) {
        snprintf(errstr, errstr_size,
                 "retention.hour_days: %" PRId64 " is shorter than the hourly buckets of "
                 "alerts.rules need (the longest rolling window, or a day for calendar windows, "
                 "plus one day: %" PRId64 " days); raise it or set 0 (automatic)",
                 cfg->retention_hour_days, need);
        return FD_ERR_CONFIG;
    }
    int64_t base = fd_rules_max_baseline_days(svc->rules);
    int64_t day_need = base > 0 ? base + (span + day_ms - 1) / day_ms + 1 : 0;
    if (cfg->retention_day_days > 0 && cfg->retention_day_days < day_need) {
        snprintf(errstr, errstr_size,
                 "retention.day_days: %" PRId64 " is shorter than the drift baselines of "
                 "alerts.rules need (%" PRId64 " days)",
                 cfg->retention_day_days, day_need);
        return FD_ERR_CONFIG;
    }
    return fd_timewin_new(cfg->timezone, &svc->tw_alerts, errstr, errstr_size);
}

/* The operator metrics, with the label sets known in advance created at 0 (a counter that
 * appears only once it counts is hard to alert on). */
static fd_err_t ops_new(fd_service_t *svc) {
    fd_err_t err = fd_opsmetrics_new(FD_VERSION, &svc->om);
    if (err != FD_OK) return err;
    static const char *const refused[] = {"fenced", "gap", "conflict"};
    for (size_t i = 0; i < 3; i++)
        if ((svc->refused[i] = fd_opsmetrics_series(svc->om, FD_OM_REFUSED, &refused[i])) == NULL)
            return FD_ERR_NOMEM;
    static const char *const kinds[] = {"assign", "revoke"}, *const entries[] = {"change",
                                                                                 "heartbeat"};
    for (size_t i = 0; i < 2; i++)
        if (fd_opsmetrics_series(svc->om, FD_OM_REBALANCES, &kinds[i]) == NULL ||
            (svc->feed_on &&
             fd_opsmetrics_series(svc->om, FD_OM_FEED_ENTRIES, &entries[i]) == NULL))
            return FD_ERR_NOMEM;
    fd_prom_set(fd_opsmetrics_one(svc->om, FD_OM_REDIS_UP), svc->redis_ok ? 1 : 0);
    fd_opsmetrics_set_redis(svc->om, svc->redis_ok);
    fd_prom_set(fd_opsmetrics_one(svc->om, FD_OM_ALERTS_LEADER), 0);
    return FD_OK;
}

fd_err_t fd_service_new(const fd_config_t *cfg, fd_service_t **out, char *errstr,
                        size_t errstr_size) {
    fd_err_t err = FD_ERR_NOMEM;
    *out = NULL;
    fd_service_t *svc = calloc(1, sizeof *svc);
    if (svc == NULL) return FD_ERR_NOMEM;
    svc->max_events = cfg->batch_max_events;
    svc->catchup_max = cfg->batch_catchup_max_events > cfg->batch_max_events
                           ? cfg->batch_catchup_max_events
                           : cfg->batch_max_events;
    svc->catchup_bytes = cfg->batch_catchup_max_bytes;
    svc->max_now = svc->catchup_max;
    svc->linger_ms = cfg->batch_linger_ms;
    svc->backoff_max_ms = cfg->backoff_max_ms;
    if (cfg->instance_id[0] != '\0') {
        snprintf(svc->instance, sizeof svc->instance, "%s", cfg->instance_id);
    } else {
        char host[64] = "host"; /* cut to 36: the claim token holds at most a 58-byte instance id */
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        snprintf(svc->instance, sizeof svc->instance, "%.36s-%ld", host, (long)getpid());
    }
    srand((unsigned)(getpid() ^ (unsigned)fd_clock_mono_ms()));

    if ((err = fd_funnel_new((const char *const *)cfg->stages.item, cfg->stages.count,
                             (const char *const *)cfg->activities.item, cfg->activities.count,
                             &svc->fn, errstr, errstr_size)) != FD_OK)
        goto fail;
    if ((err = fd_timewin_new(cfg->timezone, &svc->tw, errstr, errstr_size)) != FD_OK) goto fail;
    fd_store_opts_t so = {.host = cfg->redis_host,
                          .port = (int)cfg->redis_port,
                          .user = cfg->redis_user,
                          .password = cfg->redis_password,
                          .db = (int)cfg->redis_db,
                          .timeout_ms = (int)cfg->redis_timeout_ms,
                          .prefix = cfg->prefix,
                          .changes = fd_config_on(cfg->feeds_changes),
                          .changes_maxlen = cfg->feeds_changes_maxlen,
                          .changes_max_keys = cfg->feeds_changes_max_keys,
                          .track = fd_config_on(cfg->feeds_metrics),
                          .chunk_hashes = cfg->batch_chunk_hashes,
                          .chunk_deals = cfg->batch_chunk_deals};
    svc->feed_on = so.changes;
    svc->heartbeat_ms = cfg->feeds_heartbeat_ms;
    fd_batch_opts_t bo = {{0}};
    bo.retention_days[FD_WIN_DAY] = cfg->retention_day_days;
    bo.retention_days[FD_WIN_WEEK] = cfg->retention_week_days;
    bo.retention_days[FD_WIN_MONTH] = cfg->retention_month_days;
    bo.retention_days[FD_WIN_QUARTER] = cfg->retention_quarter_days;
    bo.retention_days[FD_WIN_HOUR] = cfg->retention_hour_days;
    if (cfg->alerts_rules[0] != '\0' &&
        (err = load_rules(svc, cfg, &bo, errstr, errstr_size)) != FD_OK)
        goto fail;
    err = FD_ERR_NOMEM;
    if (fd_store_new(svc->fn, &so, &svc->st) != FD_OK ||
        fd_store_new(svc->fn, &so, &svc->rd) != FD_OK ||
        fd_dealcache_new(svc->fn, (size_t)cfg->deal_cache_max, &svc->dc) != FD_OK ||
        fd_map_new(&svc->expected) != FD_OK) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    fd_ledger_opts_t lo = {
        .fn = svc->fn, .tw = svc->tw, .batch = &bo, .dedupe_max = (size_t)cfg->dedupe_max_events};
    if ((err = fd_ledger_new(&lo, &svc->lg)) != FD_OK) {
        snprintf(errstr, errstr_size, "batch ledger: %s", fd_strerror(err));
        goto fail;
    }
    /* A Redis that refuses the credentials is a configuration error; one not up yet is not. */
    if ((err = fd_store_check(svc->st)) == FD_ERR_CONFIG) {
        snprintf(errstr, errstr_size, "redis: %s", fd_store_errstr(svc->st));
        goto fail;
    }
    svc->redis_ok = err == FD_OK;
    if (err != FD_OK)
        fd_log_warn("service", "redis not reachable at start-up: %s (retrying when needed)",
                    fd_store_errstr(svc->st));
    if ((err = ops_new(svc)) != FD_OK) {
        snprintf(errstr, errstr_size, "operator metrics: %s", fd_strerror(err));
        goto fail;
    }
    fd_source_handler_t h = {.opaque = svc, .on_assign = on_assign, .on_revoke = on_revoke};
    if ((err = fd_source_new(cfg, &h, &svc->src, errstr, errstr_size)) != FD_OK) goto fail;
    if (svc->rules) {
        fd_alerts_opts_t ao = {.cfg = cfg,
                               .fn = svc->fn,
                               .tw = svc->tw_alerts,
                               .rs = svc->rules,
                               .instance = svc->instance,
                               .publish = true};
        if ((err = fd_alerts_new(&ao, &svc->al, errstr, errstr_size)) != FD_OK) goto fail;
    }
    if (fd_config_on(cfg->feeds_metrics) &&
        (err = fd_metricsfeed_new(cfg, svc->fn, svc->instance, &svc->mf, errstr, errstr_size)) !=
            FD_OK)
        goto fail;
    if (svc->mf) fd_metricsfeed_set_metrics(svc->mf, svc->om);
    /* a bad targets file stops the start-up with the parser's message, like alerts.rules */
    if (cfg->targets_file[0] != '\0' &&
        (err = fd_scorer_new(cfg, svc->fn, svc->instance, &svc->sc, errstr, errstr_size)) != FD_OK)
        goto fail;
    if (svc->sc) fd_scorer_set_metrics(svc->sc, svc->om);
    if ((err = add_hooks(svc)) != FD_OK) {
        snprintf(errstr, errstr_size, "batch ledger hooks: %s", fd_strerror(err));
        goto fail;
    }
    *out = svc;
    return FD_OK;

fail:
    fd_service_destroy(svc);
    return err;
}

void fd_service_destroy(fd_service_t *svc) {
    if (svc == NULL) return;
    fd_scorer_destroy(svc->sc);
    fd_metricsfeed_destroy(svc->mf, 2000);
    fd_alerts_destroy(svc->al, 2000);
    fd_rules_destroy(svc->rules);
    fd_timewin_destroy(svc->tw_alerts);
    fd_source_destroy(svc->src);
    fd_ledger_destroy(svc->lg);
    fd_map_destroy(svc->expected);
    fd_dealcache_destroy(svc->dc);
    fd_store_destroy(svc->st);
    fd_store_destroy(svc->rd);
    fd_timewin_destroy(svc->tw);
    fd_funnel_destroy(svc->fn);
    fd_opsmetrics_destroy(svc->om);
    free(svc);
}

fd_opsmetrics_t *fd_service_metrics(fd_service_t *svc) {
    return svc->om;
}

/* Folds an admitted event into the batch being built. FD_ERR_FULL when the batch's deltas could
 * overflow (huge amounts): the same messages must be read again in smaller batches, so the
 * batch size is halved for a while; any error means the caller drops the batch. */
static fd_err_t fold_one(fd_service_t *svc, const fd_event_t *ev, int64_t now_s) {
    fd_batch_t *b = fd_ledger_batch(svc->lg);
    fd_err_t err = fd_batch_fold(b, svc->dc, ev, now_s);
    if (err == FD_ERR_FULL) {
        size_t held = fd_batch_messages(b);
        svc->max_now = held > 1 ? (int64_t)held / 2 : 1;
        fd_log_warn("service",
                    "batch deltas would overflow (huge amounts): re-reading in batches of at "
                    "most %" PRId64 " messages",
                    svc->max_now);
    } else if (err != FD_OK) {
        fd_log_error("service", "fold failed: %s", fd_strerror(err));
    }
    return err;
}

/* Reads one consumed message into the batch: an event to fold, or a dead letter. */
static fd_err_t take(fd_service_t *svc, const fd_source_msg_t *msg) {
    int bpart;
    fd_err_t err = fd_ledger_take(svc->lg, msg->topic, msg->partition, msg->offset, &bpart);
    if (err == FD_ERR_NOTFOUND || err == FD_ERR_RANGE) return FD_OK; /* skipped, as logged */
    if (err != FD_OK) return err;
    fd_batch_t *b = fd_ledger_batch(svc->lg);
    fd_event_t ev;
    char errstr[512]; /* the longest reason (a quoted 128-byte id and its words) is ~370 bytes:
                       * never cut, so the funneld.error header stays valid UTF-8 */
    fd_reject_t why = fd_event_parse(svc->fn, msg->payload, msg->len, &ev, errstr, sizeof errstr);
    if (why != FD_REJECT_NONE) {
        fd_log_debug("service", "dead letter %s[%" PRId32 "]@%" PRId64 ": %s: %s", msg->topic,
                     msg->partition, msg->offset, fd_reject_name(why), errstr);
        err = fd_source_dead_letter(svc->src, msg, fd_reject_name(why), errstr);
        if (err != FD_OK) return err;
        fd_batch_reject(b, bpart, why, msg->offset);
        return FD_OK;
    }
    /* Dedupe and alert notes in offset order: the first of two events with one event_id
     * counts, and a rep's team is that of its latest event (a duplicate notes nothing). */
    bool fresh;
    err = fd_batch_admit(b, bpart, &ev, msg->offset, &fresh);
    if (err != FD_OK) return err;
    if (!fresh) return FD_OK; /* a duplicate: counted, changes nothing else */
    if (!svc->watermark_known) read_watermark(svc);
    if (svc->watermark_known && svc->watermark_ms - ev.occurred_ms > LATE_MS &&
        (err = fd_batch_note_late(b, bpart, &ev, msg->offset)) != FD_OK)
        return err;
    if (svc->al) fd_alerts_note(svc->al, &ev, msg->topic, msg->partition);
    /* Fold now, while Redis runs the apply in flight, what needs no read from Redis: activities
     * and feedback, and deal events whose deal is cached (its state is the latest: cached deals
     * change only by folds of this instance). A deal that is not cached is read for the whole
     * batch in submit; until then every event of it waits in the ledger, in order, since
     * nothing caches it before submit. */
    if (ev.type > FD_DEAL_LOST || fd_dealcache_get(svc->dc, ev.deal_id) != NULL)
        return fold_one(svc, &ev, (int64_t)time(NULL));
    /* A deal seen first through its deal.created is almost always new: fold it now from an
     * empty state instead of waiting for a read. The apply checks that Redis has no state for
     * it; if it has (a repeated create of a known deal), the batch is refused and read again
     * with the stored state. Not while an earlier event of the deal waits: order first. */
    if (ev.type == FD_DEAL_CREATED && svc->applied_batches >= svc->assume_new_from &&
        !fd_ledger_is_waiting(svc->lg, ev.deal_id)) {
        if ((err = fd_dealcache_put_new(svc->dc, ev.deal_id, NULL)) != FD_OK) return err;
        return fold_one(svc, &ev, (int64_t)time(NULL));
    }
    return fd_ledger_wait(svc->lg, &ev);
}

/* Settles the batch in flight: reads its apply's answer, retrying while Redis is out of reach,
 * and tells the ledger it was applied or drops everything. FD_OK when
 * applied (or nothing was in flight); FD_ERR_FENCED / FD_ERR_GAP when Redis refused it (all that
 * is pending is dropped and the group rejoined); FD_ERR_CONFLICT when it assumed a deal new that
 * Redis holds (all that is pending is forgotten, the claims kept: the loop refolds);
 * FD_ERR_FATAL when Redis holds data funneld cannot use; FD_ERR_REDIS when told to stop while
 * Redis was down. */
static fd_err_t settle(fd_service_t *svc) {
    const fd_batch_t *fly = fd_ledger_inflight(svc->lg);
    if (fly == NULL) return FD_OK;
    bool already = false;
    fd_err_t err;
    RETRY_REDIS(svc, "apply batch", 2, err, fd_store_apply_wait(svc->st, fly, &already));
    if (err == FD_ERR_REDIS) return err;
    if (err == FD_ERR_CONFLICT) {
        /* Nothing was applied and the claims still hold: forget what was not applied, keeping
         * the claims, and read it again from the stored offsets with every deal's stored state
         * read (no assumption) for a while; the loop reloads and seeks (refold) before it polls
         * again. No new claim: no epoch, no rebalance, no pause. */
        fd_prom_add(svc->refused[2], 1);
        svc->conflicts++;
        svc->conflict_pause =
            svc->conflict_pause == 0 ? CONFLICT_PAUSE_MIN : svc->conflict_pause * 2;
        if (svc->conflict_pause > CONFLICT_PAUSE_MAX) svc->conflict_pause = CONFLICT_PAUSE_MAX;
        svc->assume_new_from = svc->applied_batches + svc->conflict_pause;
        snprintf(svc->conflict_why, sizeof svc->conflict_why, "%s", fd_store_errstr(svc->st));
        if (fd_ledger_rewind(svc->lg) > 0) svc->need_refold = true;
        return err;
    }
    if (err == FD_ERR_FENCED || err == FD_ERR_GAP) {
        fd_prom_add(svc->refused[err == FD_ERR_FENCED ? 0 : 1], 1);
        fd_log_warn("service",
                    "batch refused by Redis (%s): %s; dropping it and rejoining the "
                    "group",
                    fd_err_name(err), fd_store_errstr(svc->st));
        fd_ledger_drop(svc->lg);
        svc->need_rejoin = true;
        return err;
    }
    if (err == FD_ERR_PARSE) {
        fd_log_error("service", "Redis holds data funneld cannot use, nothing was applied: %s",
                     fd_store_errstr(svc->st));
        fd_ledger_drop(svc->lg);
        return FD_ERR_FATAL;
    }
    if (err != FD_OK) {
        fd_log_error("service", "apply failed: %s: %s", fd_strerror(err), fd_store_errstr(svc->st));
        fd_ledger_drop(svc->lg);
        svc->need_rejoin = true;
        return err;
    }
    fd_ledger_applied(svc->lg, already);
    if (svc->max_now < svc->catchup_max)
        svc->max_now = svc->max_now * 2 < svc->catchup_max ? svc->max_now * 2 : svc->catchup_max;
    return FD_OK;
}

/* Something failed in the batch being read or folded, not in the one in flight: take that one's
 * answer first (it does not depend on the failed batch) so that only the failed one is dropped;
 * settle drops everything itself when the answer is a refusal. */
static void settle_then_drop(fd_service_t *svc) {
    (void)settle(svc);
    fd_ledger_drop(svc->lg);
    svc->need_rejoin = true;
}

/* Reads again, under the claims held, what a conflict made the ledger forget (settle): for each
 * partition set aside by fd_ledger_rewind, the offset and dedupe horizon Redis holds (no new
 * epoch), then moves the consumer back there, so that the next batches refold those messages
 * with every deal's stored state read. A partition claimed meanwhile by another instance
 * (FENCED), or waiting on a staged batch, falls back to the drop and rejoin of a fenced apply. */
static void refold(fd_service_t *svc) {
    svc->need_refold = false;
    size_t n = fd_ledger_nparts(svc->lg), k = 0;
    fd_source_tp_t *tps = calloc(n + 1, sizeof *tps);
    int64_t *offsets = calloc(n + 1, sizeof *offsets);
    fd_err_t err = tps && offsets ? FD_OK : FD_ERR_NOMEM;
    for (size_t i = 0; err == FD_OK && i < n; i++) {
        const fd_ledger_part_t *p = fd_ledger_part_at(svc->lg, i);
        if (!p->rewound) continue;
        char token[FD_TOKEN_MAX + 1];
        memcpy(token, p->token, sizeof token);
        int64_t next = -1, first = p->first;
        /* given up at the first stop signal: nothing is pending, the offsets are in Redis */
        RETRY_REDIS(svc, "reload partition", 1, err,
                    fd_store_reload(svc->st, p->topic, p->partition, token, &next, p->dd));
        if (err == FD_ERR_REDIS) break;
        if (err == FD_OK) err = fd_ledger_claimed(svc->lg, p->topic, p->partition, token, next);
        if (err != FD_OK) {
            if (err == FD_ERR_PARSE) {
                fd_log_error("service", "Redis holds data funneld cannot use: %s",
                             fd_store_errstr(svc->st));
                svc->fatal = true;
            }
            break;
        }
        /* no offset stored: the batch started at the first message read since the claim */
        int64_t at = next >= 0 ? next : first;
        if (at < 0) continue;
        tps[k] = (fd_source_tp_t){p->topic, p->partition};
        offsets[k++] = at;
    }
    if (err == FD_OK && (err = fd_source_seek(svc->src, tps, offsets, k, 10000)) != FD_OK)
        fd_log_warn("service", "refold: the consumer could not be moved back");
    if (err == FD_OK)
        fd_log_info("service",
                    "batch refolded with stored deal states: %s; %zu partition(s) read again "
                    "from their stored offsets under the claims held (every deal's stored state "
                    "read for the next %" PRId64 " batches)",
                    svc->conflict_why, k, svc->conflict_pause);
    free(tps);
    free(offsets);
    if (err == FD_OK || err == FD_ERR_REDIS || svc->fatal) return; /* REDIS: told to stop */
    fd_log_warn("service",
                "batch refused by Redis: %s; could not read it again under the claims "
                "held (%s: %s): dropping it and rejoining the group",
                svc->conflict_why, fd_err_name(err), fd_store_errstr(svc->st));
    fd_ledger_drop(svc->lg);
    svc->need_rejoin = true;
}

/* Folds what was read into the batch and sends its apply: load deal states, fold, deliver dead
 * letters, then read the answer of the apply in flight (Redis ran it meanwhile), then send this
 * one. FD_OK when sent (or nothing to send); the errors of settle; FD_ERR_FULL / NOMEM
 * when the batch was dropped and the group is rejoined. */
static fd_err_t submit(fd_service_t *svc) {
    fd_ledger_t *lg = svc->lg;
    fd_batch_t *b = fd_ledger_batch(lg);
    if (fd_batch_messages(b) == 0) return FD_OK; /* admitted messages, waiting ones included */
    fd_err_t err;

    /* 1. Deal states of the batch, in one round trip for those not cached, on the second
     * connection. Safe while an apply is in flight: every deal it writes is still cached. */
    size_t nwaiting = fd_ledger_nwaiting(lg);
    const char **ids = malloc((nwaiting + 1) * sizeof *ids);
    if (ids == NULL) goto drop;
    size_t nids = 0;
    for (size_t i = 0; i < nwaiting; i++) {
        const fd_event_t *ev = fd_ledger_waiting_at(lg, i);
        if (ev->type <= FD_DEAL_LOST) ids[nids++] = ev->deal_id;
    }
    RETRY_REDIS_ON(svc, svc->rd, "load deal states", 2, err,
                   fd_store_load_deals(svc->rd, svc->dc, ids, nids));
    free(ids);
    if (err == FD_ERR_REDIS) return err;
    if (err != FD_OK) {
        fd_log_error("service", "stored deal state unreadable: %s", fd_store_errstr(svc->rd));
        return FD_ERR_FATAL;
    }

    /* 2. Fold the deal events that waited for their states, in offset order within each
     * partition (the consumer delivers them so; the others were folded as they came). */
    int64_t now_s = (int64_t)time(NULL);
    for (size_t i = 0; i < nwaiting; i++) {
        err = fold_one(svc, fd_ledger_waiting_at(lg, i), now_s);
        if (err == FD_ERR_FULL) {
            /* read the same messages again (rejoin: every partition restarts from Redis) */
            settle_then_drop(svc);
            return FD_ERR_FULL;
        }
        if (err != FD_OK) goto drop;
    }
    fd_ledger_clear_waiting(lg);

    /* 3. Dead letters must be in Kafka before the offsets that skip them are stored. */
    int64_t wait = BACKOFF_MIN_MS;
    while ((err = fd_source_flush_dead_letters(svc->src, 5000)) != FD_OK) {
        fd_log_warn("service", "dead letters not delivered yet; retrying in %" PRId64 " ms", wait);
        if (!sleep_ms(svc, wait, 2)) return FD_ERR_KAFKA;
        wait = backoff_next(svc, wait);
    }

    /* 4. Build the command while the previous apply may still run (nothing below changes the
     * batch or its deal states), then take that answer: this batch starts where that one ends. */
    bool prepared = fd_ledger_inflight(lg) != NULL;
    if (prepared && (err = fd_store_apply_prepare(svc->st, b, svc->dc)) != FD_OK) {
        fd_log_error("service", "apply not built: %s: %s", fd_strerror(err),
                     fd_store_errstr(svc->st));
        goto drop;
    }
    if ((err = settle(svc)) != FD_OK) return err;

    /* 5. Send: one atomic step of deltas, deal states, dedupe ids, stats and offsets. */
    RETRY_REDIS(svc, "send batch", 2, err,
                prepared ? fd_store_apply_send_prepared(svc->st)
                         : fd_store_apply_send(svc->st, b, svc->dc));
    if (err == FD_ERR_REDIS) return err;
    if (err != FD_OK) {
        fd_log_error("service", "apply not sent: %s: %s", fd_strerror(err),
                     fd_store_errstr(svc->st));
        goto drop;
    }
    /* Handed over: the command holds the deal states and dedupe ids. */
    svc->sent_us = fd_clock_mono_us();
    fd_ledger_sent(lg);
    return FD_OK;

drop:
    settle_then_drop(svc);
    return FD_ERR_NOMEM;
}

/* Sends what is pending and waits until nothing is in flight (revocation, shutdown, idle). */
static fd_err_t flush(fd_service_t *svc) {
    fd_err_t err = submit(svc);
    if (err != FD_OK) return err;
    return settle(svc);
}

static void log_stats(fd_service_t *svc, int64_t now) {
    if (now - svc->last_stats_ms < STATS_EVERY_MS) return;
    fd_log_info("service",
                "applied %" PRId64 " events in %" PRId64 " batches, %" PRId64
                " duplicates, %" PRId64 " dead letters; %zu partitions, %zu deals cached; %" PRId64
                " batches refused for a deal assumed new",
                svc->applied_events, svc->applied_batches, svc->duplicates, svc->rejected,
                fd_ledger_nparts(svc->lg), fd_dealcache_size(svc->dc), svc->conflicts);
    svc->last_stats_ms = now;
}

/* Lets the alert evaluator do what is due; its Redis outages are retried on later ticks and
 * never hold up the batches. */
static void alert_tick(fd_service_t *svc, int64_t now) {
    if (svc->al == NULL || now - svc->last_tick_ms < ALERT_TICK_MS) return;
    svc->last_tick_ms = now;
    fd_err_t err = fd_alerts_tick(svc->al, fd_clock_wall_ms());
    if (err != FD_OK && now - svc->last_alert_warn_ms >= 5000) {
        fd_log_warn("service", "alerts: %s: %s; retrying", fd_strerror(err),
                    fd_alerts_errstr(svc->al));
        svc->last_alert_warn_ms = now;
    }
}

static void follow_tick(fd_service_t *svc, int64_t now);

/* Writes a heartbeat to the change feed after heartbeat_ms without an entry of ours: the
 * partitions held, each with its next offset and its lag behind the high watermark the consumer
 * last saw. A failure is retried after five intervals (Redis is down: the applies say so).
 * Follows the active-prefix pointer first (follow_tick). */
static void heartbeat_tick(fd_service_t *svc, int64_t now) {
    follow_tick(svc, now);
    if (!svc->feed_on || now - svc->last_entry_ms < svc->heartbeat_ms) return;
    size_t n = fd_ledger_nparts(svc->lg), size = 1 + n * (FD_TOPIC_MAX + 64), used = 0;
    char *lines = malloc(size);
    if (lines == NULL) return;
    lines[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const fd_ledger_part_t *p = fd_ledger_part_at(svc->lg, i);
        char next[24] = "", lag[24] = "";
        int64_t high;
        if (p->stored >= 0) {
            snprintf(next, sizeof next, "%" PRId64, p->stored);
            if (fd_source_high(svc->src, p->topic, p->partition, &high))
                snprintf(lag, sizeof lag, "%" PRId64, high > p->stored ? high - p->stored : 0);
        }
        used += (size_t)snprintf(lines + used, size - used, "%s%s:%" PRId32 ":%s:%s",
                                 i > 0 ? "\n" : "", p->topic, p->partition, next, lag);
    }
    fd_err_t err = fd_store_heartbeat(svc->rd, svc->instance, svc->heartbeat_ms, lines);
    free(lines);
    svc->last_entry_ms = now;
    if (err == FD_OK) {
        const char *kind[] = {"heartbeat"};
        fd_prom_add(fd_opsmetrics_series(svc->om, FD_OM_FEED_ENTRIES, kind), 1);
    } else {
        if (err == FD_ERR_REDIS) fd_prom_add(fd_opsmetrics_one(svc->om, FD_OM_REDIS_ERRORS), 1);
        fd_log_warn("service", "change-feed heartbeat: %s: %s", fd_strerror(err),
                    fd_store_errstr(svc->rd));
        svc->last_entry_ms = now + 4 * svc->heartbeat_ms;
    }
}

/* The operator metrics the loop computes: the liveness beat (every turn), and every
 * OPS_EVERY_MS the messages consumed, the source's rebalances and errors, the partitions' lag,
 * the readiness inputs and the alert evaluator's figures. */
static void ops_tick(fd_service_t *svc, int64_t now, bool force) {
    fd_opsmetrics_t *om = svc->om;
    fd_opsmetrics_beat(om, now);
    if (!force && now - svc->last_ops_ms < OPS_EVERY_MS) return;
    svc->last_ops_ms = now;
    fd_prom_set(fd_opsmetrics_one(om, FD_OM_LOOP_SECONDS), (double)fd_clock_wall_ms() / 1000.0);
    fd_prom_add(fd_opsmetrics_one(om, FD_OM_CONSUMED), (uint64_t)svc->consumed);
    svc->consumed = 0;

    fd_source_counts_t c;
    fd_source_counts(svc->src, &c);
    const char *assign[] = {"assign"}, *revoke[] = {"revoke"};
    fd_prom_add(fd_opsmetrics_series(om, FD_OM_REBALANCES, assign),
                (uint64_t)(c.assigns - svc->seen.assigns));
    fd_prom_add(fd_opsmetrics_series(om, FD_OM_REBALANCES, revoke),
                (uint64_t)(c.revokes - svc->seen.revokes));
    fd_prom_add(fd_opsmetrics_one(om, FD_OM_KAFKA_ERRORS), (uint64_t)(c.errors - svc->seen.errors));
    svc->seen = c;

    /* lag: the high watermark the consumer last saw minus the next offset applied */
    size_t n = fd_ledger_nparts(svc->lg);
    int64_t lag_sum = 0;
    fd_prom_set(fd_opsmetrics_one(om, FD_OM_PARTS), (double)n);
    for (size_t i = 0; i < n; i++) {
        const fd_ledger_part_t *p = fd_ledger_part_at(svc->lg, i);
        fd_prom_series_t *off = fd_opsmetrics_part(om, FD_OM_PART_OFFSET, p->topic, p->partition);
        fd_prom_series_t *lag = fd_opsmetrics_part(om, FD_OM_PART_LAG, p->topic, p->partition);
        int64_t high;
        if (off == NULL || lag == NULL || !p->claimed || p->stored < 0 ||
            !fd_source_high(svc->src, p->topic, p->partition, &high))
            continue;
        int64_t next = (int64_t)fd_prom_value(off), behind = high > next ? high - next : 0;
        fd_prom_set(lag, (double)behind);
        lag_sum += behind;
    }
    fd_opsmetrics_set_group(om, c.assigned, lag_sum);
    svc->lag = lag_sum; /* the batch limit follows it (batch_limit) */

    if (svc->al == NULL) return;
    fd_alerts_stats_t as;
    fd_alerts_stats(svc->al, &as);
    fd_prom_set(fd_opsmetrics_one(om, FD_OM_ALERTS_LEADER), as.leader ? 1 : 0);
    fd_prom_add(fd_opsmetrics_one(om, FD_OM_ALERT_NOTIFICATIONS),
                (uint64_t)(as.notifications - svc->alert_notifications));
    svc->alert_notifications = as.notifications;
    for (int k = 0; k < FD_ALERT_STATE_COUNT; k++) {
        const char *state[] = {fd_alertfsm_state_name((fd_alert_state_t)k)};
        fd_prom_series_t *s = fd_opsmetrics_series(om, FD_OM_ALERTS, state);
        if (s == NULL) continue;
        if (as.leader && as.states_known)
            fd_prom_set(s, (double)as.states[k]);
        else
            fd_prom_hide(s); /* the lease holder's figures, not ours */
    }
}

/* The batch limit in force (events): batch.max_events while the lag is at most that, else the
 * lag up to batch.catchup_max_events, so that each hash is written once per many events while
 * catching up and live batches keep their latency; within the cap left by FD_ERR_FULL. */
static int64_t batch_limit(const fd_service_t *svc) {
    int64_t limit = svc->max_events;
    if (svc->lag > limit) limit = svc->lag < svc->catchup_max ? svc->lag : svc->catchup_max;
    return limit < svc->max_now ? limit : svc->max_now;
}

fd_err_t fd_service_run(fd_service_t *svc, volatile sig_atomic_t *stop) {
    svc->stop = stop;
    svc->last_stats_ms = fd_clock_mono_ms();
    fd_opsmetrics_beat(svc->om, svc->last_stats_ms); /* alive from here: /livez */
    fd_err_t result = FD_OK;
    int64_t first_ms = 0; /* when the batch got its first message */
    fd_log_info("service", "instance %s running", svc->instance);
    if (svc->mf != NULL && fd_metricsfeed_start(svc->mf) != FD_OK) {
        fd_log_error("service", "cannot start the metrics publisher thread");
        return FD_ERR_FATAL;
    }
    if (svc->sc != NULL && fd_scorer_start(svc->sc) != FD_OK) {
        fd_log_error("service", "cannot start the scorer thread");
        return FD_ERR_FATAL;
    }

    while (*stop == 0) {
        if (svc->fatal) {
            result = FD_ERR_FATAL;
            break;
        }
        if (svc->need_rejoin) {
            fd_ledger_drop(svc->lg);
            svc->need_rejoin = false;
            svc->need_refold = false; /* the drop forgot the partitions set aside too */
            fd_log_info("service", "rejoining the group: every partition is claimed again");
            if (fd_source_rejoin(svc->src) != FD_OK) sleep_ms(svc, 1000, 1);
            first_ms = 0;
        }
        if (svc->need_refold) {
            refold(svc);
            first_ms = 0;
            continue; /* a stop signal, a fatal error or a rejoin may have come */
        }
        /* admitted messages, deal events waiting included */
        size_t held = fd_batch_messages(fd_ledger_batch(svc->lg));
        if (held == 0) svc->batch_bytes = 0;
        bool inflight = fd_ledger_inflight(svc->lg) != NULL;
        int64_t now = fd_clock_mono_ms();
        int timeout = inflight ? 5 : 100; /* an answer to read soon when nothing comes */
        if (held > 0) {
            int64_t left = first_ms + svc->linger_ms - now;
            /* lingered while the apply in flight runs: keep reading until it answers */
            timeout = left > 0 ? (int)left : inflight ? 1 : 0;
        }
        fd_source_msg_t msg;
        bool got = false;
        if (fd_source_poll(svc->src, timeout, &msg, &got) != FD_OK) {
            result = FD_ERR_FATAL;
            break;
        }
        if (got) {
            svc->consumed++;
            if (held == 0) first_ms = fd_clock_mono_ms();
            fd_err_t err = take(svc, &msg);
            if (err != FD_OK) {
                if (err != FD_ERR_FULL) /* FULL was explained by fold_one */
                    fd_log_error("service", "message %s[%" PRId32 "]@%" PRId64 ": %s", msg.topic,
                                 msg.partition, msg.offset, fd_strerror(err));
                settle_then_drop(svc);
                continue;
            }
            held++;
            svc->batch_bytes += (int64_t)msg.len;
        }
        now = fd_clock_mono_ms();
        /* A batch is sent when full, or once it has lingered, but not before the apply in flight
         * has answered: it could not go out sooner, and while Redis works the batch grows, which
         * costs Redis less per event (fewer distinct hashes per event). */
        bool ready = held > 0 &&
                     ((int64_t)held >= batch_limit(svc) || svc->batch_bytes >= svc->catchup_bytes ||
                      (now - first_ms >= svc->linger_ms &&
                       (!fd_ledger_inflight(svc->lg) || fd_store_apply_answered(svc->st))));
        /* nothing to fold meanwhile: take the answer now, so offsets commit promptly */
        bool idle = held == 0 && !got && fd_ledger_inflight(svc->lg) != NULL;
        if (ready || idle) {
            fd_err_t err = ready ? submit(svc) : settle(svc);
            if (err == FD_ERR_FATAL) {
                result = err;
                break;
            }
            first_ms = 0;
        }
        log_stats(svc, now);
        alert_tick(svc, now);
        heartbeat_tick(svc, now);
        ops_tick(svc, now, false);
        if (svc->reload != NULL && *svc->reload != 0) {
            *svc->reload = 0;
            fd_service_reload(svc);
        }
    }

    if (result == FD_OK) {
        fd_log_info("service", "stopping: applying the pending batch");
        fd_err_t err = flush(svc);
        if (err != FD_OK && err != FD_ERR_FENCED && err != FD_ERR_GAP && err != FD_ERR_CONFLICT) {
            fd_log_error("service",
                         "stopped with an unapplied batch (%s; its offsets were not "
                         "stored, so it will be read again)",
                         fd_strerror(err));
            result = err;
        }
    }
    fd_source_close(svc->src);
    ops_tick(svc, fd_clock_mono_ms(), true);
    svc->last_stats_ms = 0;
    log_stats(svc, STATS_EVERY_MS);
    return result;
}

void fd_service_watch_reload(fd_service_t *svc, volatile sig_atomic_t *reload) {
    svc->reload = reload;
}

void fd_service_reload(fd_service_t *svc) {
    if (svc->sc == NULL && svc->al == NULL) {
        fd_log_info("service", "SIGHUP: neither a scorecard nor alert rules read targets.file");
        return;
    }
    fd_log_info("service", "SIGHUP: reloading targets.file");
    if (svc->sc != NULL) fd_scorer_reload(svc->sc);
    if (svc->al != NULL) {
        char errstr[512];
        if (fd_alerts_reload_targets(svc->al, errstr, sizeof errstr) != FD_OK)
            fd_log_error("service", "SIGHUP: the alert rules keep the targets they had: %s",
                         errstr);
    }
}

void fd_service_follow(fd_service_t *svc, fd_current_t *follow) {
    svc->follow = follow;
}

/* At most every second: when <base>:current names another prefix than the one written to
 * (funnelctl rebuild switched it), stop as a signal would (the pending batch is applied): main
 * sees fd_current_pending and starts the service again on the new prefix. */
static void follow_tick(fd_service_t *svc, int64_t now) {
    const char *to;
    if (svc->follow == NULL || svc->stop == NULL || *svc->stop != 0 ||
        !fd_current_moved(svc->follow, now, 1000, &to))
        return;
    fd_log_info("service", "the active prefix moved from %s to %s (funnelctl rebuild): switching",
                fd_current_in_use(svc->follow), to);
    *svc->stop = 1;
}
