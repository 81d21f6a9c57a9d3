// SPDX-License-Identifier: MIT
// The metrics publisher (layer 4). One thread owns everything below after start: its own Redis
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
    int64_t last_warn_ms;
    _Atomic int64_t rounds, published, snapshots, failed_rounds;
};

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    if ((err = fd_publisher_new(cfg, cfg->feeds_metrics_topic, on_delivery, mf, &mf->pb, errstr,
                                errstr_size)) != FD_OK)
        goto fail;
    *out = mf;
    return FD_OK;
fail:
    fd_metricsfeed_destroy(mf, 0);
    return err;
}

/* Logs a warning unless one was logged within WARN_EVERY_MS. */
static void warn_failure(fd_metricsfeed_t *mf, const char *what, fd_err_t err) {
    int64_t now = mono_ms();
    if (now - mf->last_warn_ms < WARN_EVERY_MS) return;
    mf->last_warn_ms = now;
    fd_log_warn("metricsfeed", "%s: %s: %s; retrying", what, fd_strerror(err),
                fd_redis_errstr(mf->redis));
}

/* Produces one row, waiting while the local queue is full. FD_ERR_KAFKA when stopped meanwhile. */
static fd_err_t send_row(fd_metricsfeed_t *mf, const char *key, const char *json) {
    while (fd_publisher_send(mf->pb, key, strlen(key), json, strlen(json)) != FD_OK) {
        if (atomic_load(&mf->stop)) return FD_ERR_KAFKA;
        fd_publisher_poll(mf->pb, 100); /* room comes as deliveries are reported */
    }
    mf->pending++;
    return FD_OK;
}

/* Reads the chunk's hashes and produces a row for each that exists; *sent counts them. */
static fd_err_t publish_chunk(fd_metricsfeed_t *mf, const fd_round_t *round,
                              const char *const *keys, size_t n, int64_t *sent) {
    const fd_metricstore_row_t *rows;
    const fd_metricrow_source_t *src;
    size_t nsrc;
    fd_err_t err = fd_metricstore_read(mf->store, keys, n, &rows, &src, &nsrc);
    if (err != FD_OK) return err;
    int64_t read_ms = wall_ms();
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

/* Renews the lease when a third of it has passed; false when it is not (or no longer) ours. */
static bool keep_lease(fd_metricsfeed_t *mf, int64_t *renewed_ms, bool *held) {
    int64_t now = mono_ms();
    if (*held && now - *renewed_ms < mf->lease_ms / 3) return true;
    fd_err_t err = fd_lease_renew(mf->lease, held);
    if (err != FD_OK) warn_failure(mf, "publisher lease", err);
    if (*held) *renewed_ms = now;
    return *held;
}

/* One round: take, publish every key of it in chunks, wait for Kafka's acknowledgements, end it.
 * FD_ERR_FENCED when the lease was lost; FD_ERR_KAFKA when a row was not delivered or the
 * thread was stopped (the round stays taken: the next one publishes it again). */
static fd_err_t run_round(fd_metricsfeed_t *mf, int64_t *renewed_ms, bool *held) {
    fd_round_t round;
    fd_err_t err = fd_metricstore_take(mf->store, fd_lease_token(mf->lease), &round);
    if (err != FD_OK) return err;
    bool snapshot = round.mode == FD_ROUND_SNAPSHOT;
    if (snapshot) fd_log_info("metricsfeed", "publishing every metric hash (a snapshot)");
    int64_t sent = 0;
    mf->pending = mf->failed = 0;
    if (round.mode != FD_ROUND_NONE) {
        uint64_t cursor = 0;
        bool done = false;
        while (!done) {
            if (atomic_load(&mf->stop)) return FD_ERR_KAFKA;
            if (!keep_lease(mf, renewed_ms, held)) return FD_ERR_FENCED;
            const char *const *keys;
            size_t n;
            if ((err = fd_metricstore_keys(mf->store, snapshot, &cursor, &keys, &n, &done)) !=
                FD_OK)
                return err;
            if (n > 0 && (err = publish_chunk(mf, &round, keys, n, &sent)) != FD_OK) return err;
        }
    }
    while (mf->pending > 0) {
        if (atomic_load(&mf->stop)) return FD_ERR_KAFKA;
        fd_publisher_poll(mf->pb, IDLE_SLICE_MS);
    }
    if (mf->failed > 0) return FD_ERR_KAFKA;
    bool still;
    if ((err = fd_metricstore_done(mf->store, fd_lease_token(mf->lease), &round, sent, wall_ms(),
                                   &still)) != FD_OK)
        return err;
    if (!still) return FD_ERR_FENCED;
    atomic_fetch_add(&mf->rounds, 1);
    atomic_fetch_add(&mf->published, sent);
    if (snapshot) {
        atomic_fetch_add(&mf->snapshots, 1);
        fd_log_info("metricsfeed", "snapshot published: %" PRId64 " rows", sent);
    }
    return FD_OK;
}

static void *run(void *arg) {
    fd_metricsfeed_t *mf = arg;
    bool held = false;
    int64_t renewed_ms = 0, round_ms = 0, backoff = 0;
    while (!atomic_load(&mf->stop)) {
        fd_publisher_poll(mf->pb, 0);
        int64_t now = mono_ms();
        bool was_held = held;
        if (!keep_lease(mf, &renewed_ms, &held)) {
            if (was_held) fd_log_info("metricsfeed", "publisher lease lost");
            nap(IDLE_SLICE_MS * 4);
            continue;
        }
        if (!was_held) fd_log_info("metricsfeed", "publisher lease taken: publishing");
        if (now - round_ms < mf->interval_ms + backoff) {
            int64_t left = round_ms + mf->interval_ms + backoff - now;
            nap(left < IDLE_SLICE_MS ? left : IDLE_SLICE_MS);
            continue;
        }
        round_ms = now;
        fd_err_t err = run_round(mf, &renewed_ms, &held);
        if (err == FD_OK) {
            backoff = 0;
        } else if (!atomic_load(&mf->stop)) {
            atomic_fetch_add(&mf->failed_rounds, 1);
            if (err == FD_ERR_FENCED) held = false;
            warn_failure(mf, "metrics round", err);
            backoff = backoff == 0 ? 100 : backoff * 2;
            if (backoff > mf->backoff_max_ms) backoff = mf->backoff_max_ms;
        }
    }
    return NULL;
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

void fd_metricsfeed_stats(const fd_metricsfeed_t *mf, fd_metricsfeed_stats_t *out) {
    out->rounds = atomic_load(&mf->rounds);
    out->published = atomic_load(&mf->published);
    out->snapshots = atomic_load(&mf->snapshots);
    out->failed_rounds = atomic_load(&mf->failed_rounds);
}
