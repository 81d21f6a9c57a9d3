// SPDX-License-Identifier: MIT
// The metrics publisher (layer 5). One thread owns everything below after start: its own Redis
// connection, the lease, the store and the producer (whose delivery reports it serves itself).
#include "app/metricsfeed.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "io/keys.h"
#include "io/lease.h"
#include "io/metricstore.h"
#include "io/publisher.h"
#include "io/redis.h"
#include "model/metricrow.h"
#include "model/timewin.h"

#define IDLE_SLICE_MS 50   /* the thread's longest sleep, so that a stop is seen soon */
#define WARN_EVERY_MS 5000 /* at most one warning of a kind this often */

struct fd_metricsfeed {
    int64_t interval_ms, lease_ms, backoff_max_ms;
    const fd_funnel_t *fn;
    fd_timewin_t *tw;
    fd_redis_t *redis;
    fd_lease_t *lease;
    fd_metricstore_t *store;
    fd_publisher_t *pb;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    /* the round in progress: messages produced and not yet reported, and failures */
    int64_t pending, failed;
    int64_t renewed_ms; /* monotonic time of the last successful renewal */
    bool held;
    int64_t last_warn_ms;
    fd_opsmetrics_t *om; /* NULL: no operator metrics */
};

static void nap(int64_t ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A delivery report, from inside fd_publisher_poll on the thread. */
static void on_delivery(void *opaque, const void *key, size_t key_len, bool ok) {
    fd_metricsfeed_t *mf = opaque;
    mf->pending--;
    if (!ok && mf->failed++ == 0)
        fd_log_warn("metricsfeed", "row %.*s not delivered to Kafka; the round is published again",
                    (int)key_len, (const char *)key);
}

fd_err_t fd_metricsfeed_new(const fd_config_t *cfg, const fd_funnel_t *fn, const char *instance,
                            fd_metricsfeed_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    fd_metricsfeed_t *mf = calloc(1, sizeof *mf);
    if (mf == NULL) return FD_ERR_NOMEM;
    mf->interval_ms = cfg->feeds_metrics_interval_ms;
    mf->lease_ms = cfg->feeds_metrics_lease_ms;
    mf->backoff_max_ms = cfg->backoff_max_ms;
    mf->fn = fn;
    atomic_init(&mf->stop, false);
    fd_err_t err = fd_timewin_new(cfg->timezone, &mf->tw, errstr, errstr_size);
    if (err != FD_OK) goto fail;
    fd_redis_opts_t ro = {.host = cfg->redis_host,
                          .port = (int)cfg->redis_port,
                          .user = cfg->redis_user,
                          .password = cfg->redis_password,
                          .db = (int)cfg->redis_db,
                          .timeout_ms = (int)cfg->redis_timeout_ms};
    if ((err = fd_redis_new(&ro, &mf->redis)) != FD_OK ||
        (err = fd_lease_new(mf->redis, cfg->prefix, FD_KEY_METRICS_LEASE, instance, mf->lease_ms,
                            &mf->lease)) != FD_OK ||
        (err = fd_metricstore_new(mf->redis, cfg->prefix, &mf->store)) != FD_OK) {
        snprintf(errstr, errstr_size, "metrics publisher: %s", fd_strerror(err));
        goto fail;
    }
    /* A row must land while this instance still holds the lease, or fail: a row delivered after
     * another instance took over could overwrite that one's newer row of the key. */
    if ((err = fd_publisher_new(cfg, cfg->feeds_metrics_topic, mf->lease_ms / 2, on_delivery, mf,
                                &mf->pb, errstr, errstr_size)) != FD_OK)
        goto fail;
    *out = mf;
    return FD_OK;
fail:
    fd_metricsfeed_destroy(mf, 0);
    return err;
}

/* Logs a warning unless one was logged within WARN_EVERY_MS. */
static void warn_failure(fd_metricsfeed_t *mf, const char *what, fd_err_t err) {
    int64_t now = fd_clock_mono_ms();
    if (now - mf->last_warn_ms < WARN_EVERY_MS) return;
    mf->last_warn_ms = now;
    fd_log_warn("metricsfeed", "%s: %s: %s; retrying", what, fd_strerror(err),
                fd_redis_errstr(mf->redis));
}

/* The publisher's gauges describe the lease holder's rounds: shown only while it is ours. */
static void report_lease(fd_metricsfeed_t *mf) {
    fd_prom_set(fd_opsmetrics_one(mf->om, FD_OM_MF_LEADER), mf->held ? 1 : 0);
    if (mf->held) return;
    fd_prom_hide(fd_opsmetrics_one(mf->om, FD_OM_MF_POSITION));
    fd_prom_hide(fd_opsmetrics_one(mf->om, FD_OM_MF_LAG));
    fd_prom_hide(fd_opsmetrics_one(mf->om, FD_OM_MF_LAST_ROUND));
}

/* A complete round: its rows, its position (the change-feed id "<ms>-<seq>" it covers) and how
 * long after that change the round ended. */
static void report_round(fd_metricsfeed_t *mf, const fd_metricstore_round_t *round, int64_t sent) {
    if (mf->om == NULL) return;
    int64_t now = fd_clock_wall_ms();
    fd_prom_add(fd_opsmetrics_one(mf->om, FD_OM_MF_ROWS), (uint64_t)sent);
    fd_prom_set(fd_opsmetrics_one(mf->om, FD_OM_MF_LAST_ROUND), (double)now / 1000.0);
    long long pos_ms = 0;
    if (sscanf(round->position, "%lld-", &pos_ms) == 1 && pos_ms > 0)
        fd_prom_set(fd_opsmetrics_one(mf->om, FD_OM_MF_POSITION), (double)pos_ms / 1000.0);
    double lag = round->mode == FD_METRICSTORE_NONE || pos_ms <= 0 || now < pos_ms
                     ? 0
                     : (double)(now - pos_ms) / 1000.0;
    fd_prom_set(fd_opsmetrics_one(mf->om, FD_OM_MF_LAG), lag);
}

/* Renews the lease once a third of it has passed since the last renewal (so every row is
 * produced at most lease/3 after one, and its delivery, bounded by lease/2, ends before the lease
 * could expire and another instance take over); false when it is not (or no longer) ours. */
static bool keep_lease(fd_metricsfeed_t *mf) {
    int64_t now = fd_clock_mono_ms();
    if (mf->held && now - mf->renewed_ms < mf->lease_ms / 3) return true;
    bool was = mf->held;
    fd_err_t err = fd_lease_renew(mf->lease, &mf->held);
    if (err != FD_OK) warn_failure(mf, "publisher lease", err);
    if (mf->held) mf->renewed_ms = now;
    if (was && !mf->held) fd_log_info("metricsfeed", "publisher lease lost");
    if (mf->om && was != mf->held) report_lease(mf);
    return mf->held;
}

/* Produces one row, waiting while the local queue is full. FD_ERR_FENCED when the lease was lost
 * meanwhile; FD_ERR_KAFKA when librdkafka refuses the row or the thread is stopped. */
static fd_err_t send_row(fd_metricsfeed_t *mf, const char *key, const char *json) {
    fd_err_t err;
    while ((err = fd_publisher_send(mf->pb, key, strlen(key), json, strlen(json))) == FD_ERR_FULL) {
        if (atomic_load(&mf->stop)) return FD_ERR_KAFKA;
        fd_publisher_poll(mf->pb, 100); /* room comes as deliveries are reported */
        if (!keep_lease(mf)) return FD_ERR_FENCED;
    }
    if (err != FD_OK) {
        fd_log_warn("metricsfeed", "row %s refused by the Kafka producer", key);
        return err;
    }
    mf->pending++;
    return FD_OK;
}

/* Waits until every row produced has its delivery report (each comes within the publisher's
 * message timeout), so that a round counts only its own. False when stopped first. */
static bool drain(fd_metricsfeed_t *mf) {
    while (mf->pending > 0) {
        if (atomic_load(&mf->stop)) return false;
        keep_lease(mf);
        fd_publisher_poll(mf->pb, IDLE_SLICE_MS);
    }
    return true;
}

/* Reads the chunk's hashes and produces a row for each that exists; *sent counts them. */
static fd_err_t publish_chunk(fd_metricsfeed_t *mf, const fd_metricstore_round_t *round,
                              const char *const *keys, size_t n, int64_t *sent) {
    const fd_metricstore_row_t *rows;
    const fd_metricrow_source_t *src;
    size_t nsrc;
    if (!keep_lease(mf)) return FD_ERR_FENCED;
    fd_err_t err =
        fd_metricstore_read(mf->store, fd_lease_token(mf->lease), keys, n, &rows, &src, &nsrc);
    if (err != FD_OK) return err;
    int64_t read_ms = fd_clock_wall_ms();
    for (size_t i = 0; i < n; i++) {
        if (rows[i].nfields == 0) continue; /* expired by retention: the topic keeps its row */
        fd_metricrow_t row = {.key = rows[i].key,
                              .fields = rows[i].fields,
                              .values = rows[i].values,
                              .nfields = rows[i].nfields,
                              .version = round->version,
                              .published_ms = read_ms,
                              .src = src,
                              .nsrc = nsrc};
        char *json = NULL, why[256] = "";
        err = fd_metricrow_json(mf->fn, mf->tw, &row, &json, why, sizeof why);
        if (err != FD_OK) {
            /* funneld wrote this key; a malformed one is not ours to publish */
            fd_log_warn("metricsfeed", "%s: not published: %s (%s)", rows[i].key, why,
                        fd_strerror(err));
            continue;
        }
        err = send_row(mf, rows[i].key, json);
        free(json);
        if (err != FD_OK) return err;
        (*sent)++;
    }
    fd_publisher_poll(mf->pb, 0);
    return FD_OK;
}

/* One round: take, publish every key of it in chunks, wait for Kafka's acknowledgements, end it.
 * FD_ERR_FENCED when the lease was lost; FD_ERR_KAFKA when a row was not delivered or the
 * thread was stopped (the round stays taken: the next one publishes it again). */
static fd_err_t run_round(fd_metricsfeed_t *mf) {
    if (!drain(mf)) return FD_ERR_KAFKA; /* the reports of a round cut short, first */
    mf->failed = 0;
    fd_metricstore_round_t round;
    fd_err_t err = fd_metricstore_take(mf->store, fd_lease_token(mf->lease), &round);
    if (err != FD_OK) return err;
    bool snapshot = round.mode == FD_METRICSTORE_SNAPSHOT;
    if (snapshot) fd_log_info("metricsfeed", "publishing every metric hash (a snapshot)");
    int64_t sent = 0;
    if (round.mode != FD_METRICSTORE_NONE) {
        uint64_t cursor = 0;
        bool done = false;
        while (!done) {
            if (atomic_load(&mf->stop)) return FD_ERR_KAFKA;
            const char *const *keys;
            size_t n;
            if ((err = fd_metricstore_keys(mf->store, snapshot, &cursor, &keys, &n, &done)) !=
                FD_OK)
                return err;
            if (n > 0 && (err = publish_chunk(mf, &round, keys, n, &sent)) != FD_OK) return err;
        }
    }
    if (!drain(mf)) return FD_ERR_KAFKA;
    if (mf->failed > 0) return FD_ERR_KAFKA;
    bool still;
    if ((err = fd_metricstore_done(mf->store, fd_lease_token(mf->lease), &round, sent,
                                   fd_clock_wall_ms(), &still)) != FD_OK)
        return err;
    if (!still) return FD_ERR_FENCED;
    report_round(mf, &round, sent);
    if (snapshot) fd_log_info("metricsfeed", "snapshot published: %" PRId64 " rows", sent);
    return FD_OK;
}

static void *run(void *arg) {
    fd_metricsfeed_t *mf = arg;
    int64_t next_ms = 0, backoff = 0;
    while (!atomic_load(&mf->stop)) {
        fd_publisher_poll(mf->pb, 0);
        bool was = mf->held;
        if (!keep_lease(mf)) {
            nap(IDLE_SLICE_MS * 4);
            continue;
        }
        int64_t now = fd_clock_mono_ms();
        if (!was) {
            /* A deposed holder's last rows fail or land within its message timeout (lease/2):
             * wait that long before producing, so that none lands after ours. */
            fd_log_info("metricsfeed", "publisher lease taken: publishing in %" PRId64 " ms",
                        mf->lease_ms / 2);
            next_ms = now + mf->lease_ms / 2;
        }
        if (now < next_ms) {
            nap(next_ms - now < IDLE_SLICE_MS ? next_ms - now : IDLE_SLICE_MS);
            continue;
        }
        fd_err_t err = run_round(mf);
        int64_t end = fd_clock_mono_ms();
        if (err == FD_OK) {
            backoff = 0;
            /* at most one row per key per interval; after a long round (a catch-up) the next
             * waits nine times as long, up to ten intervals, so that the publisher rereads a
             * hash once for many changes and leaves Redis to the applies */
            int64_t rest = 9 * (end - now);
            if (rest > 10 * mf->interval_ms) rest = 10 * mf->interval_ms;
            next_ms = now + (mf->interval_ms > rest ? mf->interval_ms : rest);
        } else if (!atomic_load(&mf->stop)) {
            warn_failure(mf, "metrics round", err);
            backoff = backoff == 0 ? 100 : backoff * 2;
            if (backoff > mf->backoff_max_ms) backoff = mf->backoff_max_ms;
            next_ms = end + backoff;
        }
    }
    if (mf->held && fd_lease_release(mf->lease) == FD_OK) mf->held = false;
    return NULL;
}

void fd_metricsfeed_set_metrics(fd_metricsfeed_t *mf, fd_opsmetrics_t *om) {
    mf->om = om;
    if (om) report_lease(mf);
}

fd_err_t fd_metricsfeed_start(fd_metricsfeed_t *mf) {
    if (pthread_create(&mf->thread, NULL, run, mf) != 0) return FD_ERR_FATAL;
    mf->started = true;
    return FD_OK;
}

void fd_metricsfeed_destroy(fd_metricsfeed_t *mf, int flush_ms) {
    if (mf == NULL) return;
    if (mf->started) {
        atomic_store(&mf->stop, true);
        pthread_join(mf->thread, NULL);
    }
    fd_publisher_destroy(mf->pb, flush_ms);
    fd_metricstore_destroy(mf->store);
    fd_lease_destroy(mf->lease);
    fd_redis_destroy(mf->redis);
    fd_timewin_destroy(mf->tw);
    free(mf);
}
