// SPDX-License-Identifier: MIT
// funnelctl offsets: per partition, the next offset funneld stored in Redis against the group's
// committed offset and the log's watermarks in Kafka, the lag and the owner (a tool).
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "ctl.h"
#include "io/kafka.h"

#define KAFKA_TIMEOUT_MS 5000

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)rk;
    (void)err;
    ctl_t *ctl = opaque;
    snprintf(ctl->kafka_err, sizeof ctl->kafka_err, "%s", reason);
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)fac;
    ctl_t *ctl = rd_kafka_opaque(rk);
    if (level <= 4 && ctl->kafka_err[0] == '\0') /* warnings and worse, when nothing better */
        snprintf(ctl->kafka_err, sizeof ctl->kafka_err, "%s", buf);
}

/* A failed configuration of the Kafka client, in funnelctl's words: a kafka.<property> of the
 * pass-through is named ("configuration error: kafka.sasl.mechanism: ..."), funnelctl's own
 * settings are not ("configuration error: kafka: ..."). */
static fd_err_t conf_failed(const ctl_t *ctl, fd_err_t err, const char *errstr) {
    const fd_config_t *cfg = &ctl->cfg;
    if (err == FD_ERR_NOMEM) return ctl_fail(FD_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cfg->kafka_count; i++) {
        size_t n = strlen(cfg->kafka_name[i]);
        if (strncmp(errstr, "kafka.", 6) == 0 && strncmp(errstr + 6, cfg->kafka_name[i], n) == 0 &&
            strncmp(errstr + 6 + n, ": ", 2) == 0)
            return ctl_fail(FD_ERR_CONFIG, "configuration error: %s", errstr);
    }
    const char *reason = strstr(errstr, ": ");
    return ctl_fail(FD_ERR_CONFIG, "configuration error: kafka: %s", reason ? reason + 2 : errstr);
}

/* A member of kafka.group_id that never subscribes (io/kafka's group reader): it only asks the
 * coordinator for the committed offsets and the brokers for watermarks; funnelctl's error and
 * log callbacks keep the last problem librdkafka reported for the messages. FD_ERR_CONFIG
 * (reported). */
fd_err_t kafka_open(ctl_t *ctl, rd_kafka_t **out) {
    char errstr[512] = "";
    rd_kafka_conf_t *conf = NULL;
    *out = NULL;
    fd_err_t err =
        fd_kafka_conf_new(&ctl->cfg, FD_KAFKA_GROUP_READER, &conf, errstr, sizeof errstr);
    if (err != FD_OK) return conf_failed(ctl, err, errstr);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_opaque(conf, ctl);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new takes conf only on success */
        return ctl_fail(FD_ERR_CONFIG, "configuration error: kafka consumer: %s", errstr);
    }
    rd_kafka_set_log_queue(rk, NULL); /* the main queue, served by rd_kafka_poll */
    *out = rk;
    return FD_OK;
}

void kafka_close(rd_kafka_t *rk) {
    if (rk == NULL) return;
    /* never joined the group: nothing to leave, and close could wait for an absent broker */
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

/* The reason of a failed Kafka request: librdkafka's error text, and the last error it reported
 * (which names the broker and the connection problem). */
const char *kafka_reason(ctl_t *ctl, rd_kafka_t *rk, rd_kafka_resp_err_t e, char *buf,
                         size_t size) {
    rd_kafka_poll(rk, 0); /* serves the error and log callbacks */
    if (ctl->kafka_err[0])
        snprintf(buf, size, "%s (%s)", rd_kafka_err2str(e), ctl->kafka_err);
    else
        snprintf(buf, size, "%s", rd_kafka_err2str(e));
    return buf;
}

typedef struct {
    const char *topic;
    int32_t partition;
    int64_t redis_next; /* -1 when absent */
    int64_t committed;  /* -1 when none */
    int64_t low, high;  /* -1 when unknown */
    char *epoch;        /* NULL when absent */
    char *token;
    char *owner;
} part_row_t;

/* A partition's lag: the messages Kafka holds that funneld has not applied. lost: offsets
 * between the stored one and the log start (deleted before funneld applied them); ahead: Redis
 * stores an offset beyond the log end (a re-created topic or another cluster: funneld skips the
 * messages below it). Only for rows whose log end is known. */
static int64_t lag_of(const part_row_t *r, int64_t *lost, bool *ahead) {
    int64_t from = r->redis_next >= 0 ? r->redis_next : r->low;
    *lost = r->redis_next >= 0 && r->redis_next < r->low ? r->low - r->redis_next : 0;
    *ahead = r->redis_next > r->high;
    if (*ahead) return 0;
    return r->high - (from > r->low ? from : r->low);
}

static char *dup_or_null(const char *s) {
    return s ? xstrdup(s) : NULL;
}

static int64_t parse_i64(const char *s, int64_t dflt) {
    if (s == NULL) return dflt;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || end == s || *end ? dflt : (int64_t)v;
}

static void cell_i64(table_t *t, int64_t v) {
    char buf[32];
    if (v < 0)
        snprintf(buf, sizeof buf, "-");
    else
        snprintf(buf, sizeof buf, "%" PRId64, v);
    table_cell(t, buf);
}

static void json_i64(FILE *out, int64_t v) {
    if (v < 0)
        fputs("null", out);
    else
        fprintf(out, "%" PRId64, v);
}

fd_err_t cmd_offsets(ctl_t *ctl) {
    fd_err_t err = redis_open(ctl);
    if (err != FD_OK) return err;
    rd_kafka_t *rk = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    part_row_t *rows = NULL;
    size_t nrows = 0;
    char reason[1024];
    const fd_config_t *cfg = &ctl->cfg;

    char what[300];
    if ((err = kafka_open(ctl, &rk)) != FD_OK) goto out;
    err = FD_ERR_KAFKA;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, KAFKA_TIMEOUT_MS);
    if (e) {
        md = NULL;
        ctl_fail(FD_ERR_KAFKA, "cannot reach Kafka at %s: %s", cfg->brokers,
                 kafka_reason(ctl, rk, e, reason, sizeof reason));
        goto out;
    }
    /* the partitions of every configured topic, in the order of kafka.topics */
    parts = rd_kafka_topic_partition_list_new(64);
    bool missing = false;
    for (size_t t = 0; t < cfg->topics.count; t++) {
        const struct rd_kafka_metadata_topic *mt = NULL;
        for (int i = 0; i < md->topic_cnt; i++)
            if (strcmp(md->topics[i].topic, cfg->topics.item[t]) == 0) mt = &md->topics[i];
        if (mt == NULL || mt->err || mt->partition_cnt == 0) {
            ctl_fail(FD_ERR_KAFKA, "kafka.topics: topic '%s' %s at %s", cfg->topics.item[t],
                     mt && mt->err ? rd_kafka_err2str(mt->err) : "does not exist", cfg->brokers);
            missing = true;
            continue;
        }
        /* metadata lists partitions in no promised order */
        for (int32_t p = 0; p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(parts, cfg->topics.item[t], p);
    }
    if (missing) goto out;

    rows = xcalloc((size_t)parts->cnt, sizeof *rows);
    nrows = (size_t)parts->cnt;
    /* Redis: the partition hashes, pipelined */
    for (size_t i = 0; i < nrows; i++) {
        char *key = key_part(ctl, parts->elems[i].topic, parts->elems[i].partition);
        const char *argv[] = {"HGETALL", key};
        snprintf(what, sizeof what, "HGETALL %s", key);
        err = redis_queue(ctl, what, 2, argv);
        free(key);
        if (err != FD_OK) goto out;
    }
    err = FD_ERR_REDIS;
    bool redis_ok = true;
    for (size_t i = 0; i < nrows; i++) {
        part_row_t *r = &rows[i];
        r->topic = parts->elems[i].topic;
        r->partition = parts->elems[i].partition;
        r->redis_next = r->committed = r->low = r->high = -1;
        char *key = key_part(ctl, r->topic, r->partition);
        snprintf(what, sizeof what, "HGETALL %s", key);
        free(key);
        redisReply *h;
        if (redis_next_reply(ctl, what, &h) != FD_OK) {
            redis_lost(ctl, what);
            goto out; /* the connection is gone: no more replies */
        }
        if (h->type == REDIS_REPLY_ERROR && !redis_ok) {
            freeReplyObject(h); /* reported once (e.g. NOAUTH); drain the other replies */
            continue;
        }
        if (redis_check_reply(ctl, what, h) != FD_OK) {
            redis_ok = false;
            continue;
        }
        if (h->type == REDIS_REPLY_ARRAY) {
            r->redis_next = parse_i64(hget(h, "next"), -1);
            r->epoch = dup_or_null(hget(h, "epoch"));
            r->token = dup_or_null(hget(h, "token"));
            if (r->token) {
                /* token = <epoch>:<instance>:<random>; the instance id may contain ':' */
                const char *a = strchr(r->token, ':'), *b = strrchr(r->token, ':');
                r->owner =
                    a && b > a ? xasprintf("%.*s", (int)(b - a - 1), a + 1) : xstrdup(r->token);
            }
        }
        freeReplyObject(h);
    }
    if (!redis_ok) goto out;

    /* Kafka: the group's committed offsets (one request), then each partition's watermarks */
    bool kafka_ok = true;
    e = rd_kafka_committed(rk, parts, KAFKA_TIMEOUT_MS);
    if (e) {
        ctl_fail(FD_ERR_KAFKA, "cannot read the committed offsets of group '%s' at %s: %s",
                 cfg->group_id, cfg->brokers, kafka_reason(ctl, rk, e, reason, sizeof reason));
        kafka_ok = false;
    } else {
        for (size_t i = 0; i < nrows; i++)
            if (!parts->elems[i].err && parts->elems[i].offset >= 0)
                rows[i].committed = parts->elems[i].offset;
    }
    for (size_t i = 0; i < nrows; i++) {
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(rk, rows[i].topic, rows[i].partition, &lo, &hi,
                                             KAFKA_TIMEOUT_MS);
        if (e) {
            ctl_fail(FD_ERR_KAFKA, "cannot read the log end of %s [%" PRId32 "] at %s: %s",
                     rows[i].topic, rows[i].partition, cfg->brokers,
                     kafka_reason(ctl, rk, e, reason, sizeof reason));
            kafka_ok = false;
            continue;
        }
        rows[i].low = lo;
        rows[i].high = hi;
    }

    int64_t total_lag = 0;
    if (ctl->json) {
        fputc('[', stdout);
        for (size_t i = 0; i < nrows; i++) {
            const part_row_t *r = &rows[i];
            int64_t lost = 0;
            bool ahead = false;
            int64_t lag = r->high < 0 ? -1 : lag_of(r, &lost, &ahead);
            fputs(i ? ",\n {" : "{", stdout);
            fputs("\"topic\": ", stdout);
            json_string(stdout, r->topic);
            fprintf(stdout, ", \"partition\": %" PRId32 ", \"redis_next\": ", r->partition);
            json_i64(stdout, r->redis_next);
            fputs(", \"committed\": ", stdout);
            json_i64(stdout, r->committed);
            fputs(", \"log_start\": ", stdout);
            json_i64(stdout, r->low);
            fputs(", \"log_end\": ", stdout);
            json_i64(stdout, r->high);
            fputs(", \"lag\": ", stdout);
            if (r->high < 0)
                fputs("null, \"lost\": null, \"ahead\": null", stdout);
            else
                fprintf(stdout, "%" PRId64 ", \"lost\": %" PRId64 ", \"ahead\": %s", lag, lost,
                        ahead ? "true" : "false");
            fputs(", \"epoch\": ", stdout);
            if (r->epoch)
                json_value(stdout, r->epoch);
            else
                fputs("null", stdout);
            fputs(", \"token\": ", stdout);
            if (r->token)
                json_string(stdout, r->token);
            else
                fputs("null", stdout);
            fputs(", \"owner\": ", stdout);
            if (r->owner)
                json_string(stdout, r->owner);
            else
                fputs("null", stdout);
            fputc('}', stdout);
        }
        fputs("]\n", stdout);
    } else {
        table_t t = {.ncols = 8, .left = {true, false, false, false, false, false, false, true}};
        static const char *const head[] = {"topic",   "partition", "redis_next", "committed",
                                           "log_end", "lag",       "epoch",      "owner"};
        for (size_t c = 0; c < 8; c++)
            table_cell(&t, head[c]);
        for (size_t i = 0; i < nrows; i++) {
            const part_row_t *r = &rows[i];
            char buf[32];
            table_cell(&t, r->topic);
            snprintf(buf, sizeof buf, "%" PRId32, r->partition);
            table_cell(&t, buf);
            cell_i64(&t, r->redis_next);
            cell_i64(&t, r->committed);
            cell_i64(&t, r->high);
            if (r->high < 0) {
                table_cell(&t, "?");
            } else {
                int64_t lost;
                bool ahead;
                int64_t lag = lag_of(r, &lost, &ahead);
                total_lag += lag;
                snprintf(buf, sizeof buf, "%" PRId64, lag);
                table_cell(&t, buf);
            }
            table_cell(&t, r->epoch ? r->epoch : "-");
            table_cell(&t, r->owner ? r->owner : "-");
        }
        table_print(stdout, &t);
        printf("\ntotal lag %" PRId64 " (group %s, prefix %s)\n", total_lag, cfg->group_id,
               cfg->prefix);
    }
    /* What the lag cannot say, on stderr: offsets Kafka deleted before funneld applied them,
     * and a stored offset beyond the log (an error: those partitions are not being counted). */
    bool any_ahead = false;
    for (size_t i = 0; i < nrows; i++) {
        const part_row_t *r = &rows[i];
        if (r->high < 0) continue;
        int64_t lost;
        bool ahead;
        (void)lag_of(r, &lost, &ahead);
        if (lost > 0)
            fprintf(stderr,
                    "funnelctl: %s [%" PRId32 "]: offsets %" PRId64 "..%" PRId64
                    " were deleted from Kafka before funneld applied them (%" PRId64
                    " messages never counted)\n",
                    r->topic, r->partition, r->redis_next, r->low - 1, lost);
        if (ahead) {
            fprintf(stderr,
                    "funnelctl: %s [%" PRId32 "]: Redis stores offset %" PRId64
                    " beyond the log end %" PRId64
                    ": the topic was re-created or is another cluster's; funneld skips every "
                    "message below the stored offset (rebuild into a fresh redis.prefix)\n",
                    r->topic, r->partition, r->redis_next, r->high);
            any_ahead = true;
        }
    }
    err = !kafka_ok ? FD_ERR_KAFKA : any_ahead ? FD_ERR_RANGE : FD_OK;

out:
    for (size_t i = 0; i < nrows; i++) {
        free(rows[i].epoch);
        free(rows[i].token);
        free(rows[i].owner);
    }
    free(rows);
    if (parts) rd_kafka_topic_partition_list_destroy(parts);
    if (md) rd_kafka_metadata_destroy(md);
    kafka_close(rk);
    return ctl_finish_output(err);
}
