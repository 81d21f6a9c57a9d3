// SPDX-License-Identifier: MIT
// Kafka adapter: group consumer with rebalance callbacks and the dead-letter producer (layer 4;
// librdkafka stays inside this file).
#include "io/source.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "base/clock.h"
#include "base/log.h"
#include "io/kafka.h"

/* A dead letter kept until delivered, so a failed delivery can be produced again. */
typedef struct {
    char *key, *value, *reason, *error, *topic;
    size_t key_len, value_len;
    int32_t partition;
    int64_t offset;
    size_t original_len; /* value length before truncation */
    int shrunk;          /* 0 = whole; 1 = value cut to 64 KiB; 2 = value and key dropped */
    int state;           /* 0 = to produce, 1 = in flight, 2 = delivered, 3 = forgotten */
} letter_t;

/* A dead letter the producer or broker refuses as too large is sent again with its value cut to
 * this size and headers funneld.truncated / funneld.original_size. */
#define LETTER_CUT_BYTES 65536

struct fd_source {
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_topic_partition_list_t *subscription;
    fd_source_handler_t handler;
    char *dlq_topic;
    int64_t
        start_offset; /* RD_KAFKA_OFFSET_BEGINNING or _END for partitions without a stored offset */
    rd_kafka_message_t *held; /* the message lent out by the last poll */
    letter_t *letters;
    size_t nletters, letters_cap;
    fd_source_counts_t counts; /* for the operator metrics (fd_source_counts) */
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    fd_source_t *src = opaque;
    size_t i = (size_t)(uintptr_t)m->_private;
    if (i >= src->nletters) return;
    if (m->err) {
        src->counts.errors++;
        fd_log_warn("source", "dead letter for %s[%" PRId32 "]@%" PRId64 " not delivered: %s",
                    src->letters[i].topic, src->letters[i].partition, src->letters[i].offset,
                    rd_kafka_err2str(m->err));
        if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && src->letters[i].shrunk < 2)
            src->letters[i].shrunk++;
        src->letters[i].state = 0;
    } else {
        src->letters[i].state = 2;
    }
}

/* Hands the partitions of list to the owner's on_revoke: in one call, or one partition at a time
 * when memory for the array is short (a revocation is never skipped). */
static void revoke_list(fd_source_t *src, const rd_kafka_topic_partition_list_t *list) {
    fd_source_tp_t *tps = calloc((size_t)list->cnt + 1, sizeof *tps);
    for (int i = 0; i < list->cnt; i++) {
        fd_source_tp_t tp = {list->elems[i].topic, list->elems[i].partition};
        if (tps != NULL)
            tps[i] = tp;
        else
            src->handler.on_revoke(src->handler.opaque, &tp, 1);
    }
    if (tps != NULL) src->handler.on_revoke(src->handler.opaque, tps, (size_t)list->cnt);
    free(tps);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    fd_source_t *src = opaque;
    bool cooperative =
        strcmp(rd_kafka_rebalance_protocol(rk) ? rd_kafka_rebalance_protocol(rk) : "",
               "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        src->counts.assigns++;
        src->counts.assigned = true; /* an empty assignment too: a standby is in the group */
        rd_kafka_topic_partition_list_t *take = rd_kafka_topic_partition_list_new(parts->cnt);
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *p = &parts->elems[i];
            fd_source_tp_t tp = {.topic = p->topic, .partition = p->partition};
            int64_t offset = -1;
            if (src->handler.on_assign(src->handler.opaque, &tp, &offset) != FD_OK) {
                fd_log_warn("source", "partition %s[%" PRId32 "] not taken (claim failed)",
                            p->topic, p->partition);
                continue;
            }
            rd_kafka_topic_partition_t *t =
                rd_kafka_topic_partition_list_add(take, p->topic, p->partition);
            t->offset = offset >= 0 ? offset : src->start_offset;
            if (offset >= 0)
                fd_log_info("source", "assigned %s[%" PRId32 "] from offset %" PRId64, p->topic,
                            p->partition, offset);
            else
                fd_log_info("source", "assigned %s[%" PRId32 "] from the %s offset (none stored)",
                            p->topic, p->partition,
                            t->offset == RD_KAFKA_OFFSET_END ? "latest" : "earliest");
        }
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, take);
            if (e) {
                fd_log_error("source", "incremental assign: %s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_resp_err_t e = rd_kafka_assign(rk, take);
            if (e) fd_log_error("source", "assign: %s", rd_kafka_err2str(e));
        }
        rd_kafka_topic_partition_list_destroy(take);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        src->counts.revokes++;
        fd_log_info("source", "%d partition(s) revoked%s", parts->cnt,
                    rd_kafka_assignment_lost(rk) ? " (lost)" : "");
        revoke_list(src, parts);
        if (cooperative) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e) rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
        return;
    }
    src->counts.errors++;
    src->counts.assigned = false;
    fd_log_error("source", "rebalance error: %s", rd_kafka_err2str(err));
    /* Everything assigned is given up: revoke it first, as in a revocation, so that nothing
     * read or cached for it survives into a later assignment. */
    rd_kafka_topic_partition_list_t *cur = NULL;
    if (rd_kafka_assignment(rk, &cur) == RD_KAFKA_RESP_ERR_NO_ERROR && cur != NULL) {
        revoke_list(src, cur);
        rd_kafka_topic_partition_list_destroy(cur);
    }
    rd_kafka_assign(rk, NULL);
}

fd_err_t fd_source_new(const fd_config_t *cfg, const fd_source_handler_t *handler,
                       fd_source_t **out, char *errstr, size_t errstr_size) {
    char buf[512];
    rd_kafka_conf_t *cconf = NULL, *pconf = NULL;
    fd_err_t err = FD_ERR_CONFIG;
    *out = NULL;
    fd_source_t *src = calloc(1, sizeof *src);
    if (src == NULL) return FD_ERR_NOMEM;
    src->handler = *handler;
    src->start_offset =
        strcmp(cfg->start_from, "latest") == 0 ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
    src->dlq_topic = strdup(cfg->dlq_topic);
    if (src->dlq_topic == NULL) {
        err = FD_ERR_NOMEM;
        goto fail;
    }

    /* The client set-up (group, offsets, fail-over timing, kafka.<property>) is the one of
     * io/kafka; what is ours is the rebalance and delivery callbacks. */
    if ((err = fd_kafka_conf_new(cfg, FD_KAFKA_CONSUMER, &cconf, errstr, errstr_size)) != FD_OK)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(cconf, rebalance_cb);
    rd_kafka_conf_set_opaque(cconf, src);

    if ((err = fd_kafka_conf_new(cfg, FD_KAFKA_PRODUCER, &pconf, errstr, errstr_size)) != FD_OK)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(pconf, dr_cb);
    rd_kafka_conf_set_opaque(pconf, src);

    /* rd_kafka_new takes over conf only on success. */
    src->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, buf, sizeof buf);
    if (src->consumer == NULL) {
        snprintf(errstr, errstr_size, "kafka consumer: %s", buf);
        err = FD_ERR_CONFIG;
        goto fail;
    }
    cconf = NULL;
    src->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, buf, sizeof buf);
    if (src->producer == NULL) {
        snprintf(errstr, errstr_size, "kafka dead-letter producer: %s", buf);
        err = FD_ERR_CONFIG;
        goto fail;
    }
    pconf = NULL;
    rd_kafka_poll_set_consumer(src->consumer);

    src->subscription = rd_kafka_topic_partition_list_new((int)cfg->topics.count);
    for (size_t i = 0; i < cfg->topics.count; i++)
        rd_kafka_topic_partition_list_add(src->subscription, cfg->topics.item[i],
                                          RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(src->consumer, src->subscription);
    if (e) {
        snprintf(errstr, errstr_size, "kafka.topics: subscribe failed: %s", rd_kafka_err2str(e));
        err = FD_ERR_CONFIG;
        goto fail;
    }
    *out = src;
    return FD_OK;

fail:
    if (cconf) rd_kafka_conf_destroy(cconf);
    if (pconf) rd_kafka_conf_destroy(pconf);
    fd_source_destroy(src);
    return err;
}

static void letters_clear(fd_source_t *src) {
    for (size_t i = 0; i < src->nletters; i++) {
        letter_t *l = &src->letters[i];
        free(l->key);
        free(l->value);
        free(l->reason);
        free(l->error);
        free(l->topic);
    }
    src->nletters = 0;
}

void fd_source_destroy(fd_source_t *src) {
    if (src == NULL) return;
    if (src->held) rd_kafka_message_destroy(src->held);
    if (src->consumer) rd_kafka_destroy(src->consumer);
    if (src->producer) {
        rd_kafka_flush(src->producer, 2000);
        rd_kafka_destroy(src->producer);
    }
    if (src->subscription) rd_kafka_topic_partition_list_destroy(src->subscription);
    letters_clear(src);
    free(src->letters);
    free(src->dlq_topic);
    free(src);
}

fd_err_t fd_source_poll(fd_source_t *src, int timeout_ms, fd_source_msg_t *msg, bool *got) {
    *got = false;
    if (src->held) {
        rd_kafka_message_destroy(src->held);
        src->held = NULL;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(src->consumer, timeout_ms);
    if (m == NULL) return FD_OK;
    if (m->err) {
        char buf[512];
        if (rd_kafka_fatal_error(src->consumer, buf, sizeof buf)) {
            fd_log_error("source", "fatal consumer error: %s", buf);
            rd_kafka_message_destroy(m);
            return FD_ERR_FATAL;
        }
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            src->counts.errors++;
            fd_log_warn("source", "consumer: %s", rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
        return FD_OK;
    }
    src->held = m;
    *msg = (fd_source_msg_t){.topic = rd_kafka_topic_name(m->rkt),
                             .partition = m->partition,
                             .offset = m->offset,
                             .key = m->key,
                             .key_len = m->key_len,
                             .payload = m->payload,
                             .len = m->len};
    *got = true;
    return FD_OK;
}

static char *dup_bytes(const void *p, size_t n) {
    char *d = malloc(n + 1);
    if (d == NULL) return NULL;
    if (n) memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

fd_err_t fd_source_dead_letter(fd_source_t *src, const fd_source_msg_t *msg, const char *reason,
                               const char *error) {
    if (src->nletters == src->letters_cap) {
        size_t ncap = src->letters_cap ? src->letters_cap * 2 : 64;
        letter_t *nl = realloc(src->letters, ncap * sizeof *nl);
        if (nl == NULL) return FD_ERR_NOMEM;
        src->letters = nl;
        src->letters_cap = ncap;
    }
    letter_t *l = &src->letters[src->nletters];
    memset(l, 0, sizeof *l);
    l->key = msg->key ? dup_bytes(msg->key, msg->key_len) : NULL;
    l->key_len = msg->key ? msg->key_len : 0;
    l->value = dup_bytes(msg->payload ? msg->payload : "", msg->payload ? msg->len : 0);
    l->value_len = msg->payload ? msg->len : 0;
    l->original_len = l->value_len;
    l->reason = strdup(reason);
    l->error = strdup(error);
    l->topic = strdup(msg->topic);
    l->partition = msg->partition;
    l->offset = msg->offset;
    if ((msg->key && l->key == NULL) || !l->value || !l->reason || !l->error || !l->topic) {
        free(l->key);
        free(l->value);
        free(l->reason);
        free(l->error);
        free(l->topic);
        return FD_ERR_NOMEM;
    }
    src->nletters++;
    return FD_OK;
}

/* Produces letter i. FD_ERR_FULL when it is too large for the producer (shrink it and retry),
 * FD_ERR_KAFKA when librdkafka refuses it now (queue full: poll and retry). */
static fd_err_t produce_letter(fd_source_t *src, size_t i) {
    letter_t *l = &src->letters[i];
    char part[16], off[24], orig[24];
    snprintf(part, sizeof part, "%" PRId32, l->partition);
    snprintf(off, sizeof off, "%" PRId64, l->offset);
    snprintf(orig, sizeof orig, "%zu", l->original_len);
    size_t value_len = l->shrunk == 0                    ? l->value_len
                       : l->value_len < LETTER_CUT_BYTES ? l->value_len
                                                         : LETTER_CUT_BYTES;
    if (l->shrunk >= 2) value_len = 0;
    size_t key_len = l->shrunk >= 2 ? 0 : l->key_len;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        src->producer, RD_KAFKA_V_TOPIC(src->dlq_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(l->value, value_len), RD_KAFKA_V_KEY(l->key, key_len),
        RD_KAFKA_V_HEADER("funneld.reason", l->reason, -1),
        RD_KAFKA_V_HEADER("funneld.error", l->error, -1),
        RD_KAFKA_V_HEADER("funneld.topic", l->topic, -1),
        RD_KAFKA_V_HEADER("funneld.partition", part, -1),
        RD_KAFKA_V_HEADER("funneld.offset", off, -1),
        RD_KAFKA_V_HEADER("funneld.truncated", (l->shrunk ? "true" : "false"), -1),
        RD_KAFKA_V_HEADER("funneld.original_size", orig, -1),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)i), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) return FD_ERR_FULL;
    if (e) return FD_ERR_KAFKA;
    l->state = 1;
    return FD_OK;
}

fd_err_t fd_source_flush_dead_letters(fd_source_t *src, int timeout_ms) {
    if (src->nletters == 0) return FD_OK;
    int64_t deadline = fd_clock_mono_ms() + timeout_ms;
    for (size_t i = 0; i < src->nletters; i++) {
        /* One deadline for the whole call: a full queue is polled and retried until then. */
        while (src->letters[i].state == 0 && fd_clock_mono_ms() < deadline) {
            fd_err_t err = produce_letter(src, i);
            if (err == FD_ERR_FULL && src->letters[i].shrunk < 2) {
                src->letters[i].shrunk++;
            } else if (err != FD_OK) {
                rd_kafka_poll(src->producer, 100);
                if (err == FD_ERR_FULL) break; /* cannot shrink further: report, retry later */
            }
        }
    }
    int64_t left = deadline - fd_clock_mono_ms();
    rd_kafka_flush(src->producer, left > 0 ? (int)left : 0);
    /* Letters still in flight stay so: only their delivery report changes their state. Hence
     * no copy of a letter is ever in flight when the list is cleared and indexes reused. */
    for (size_t i = 0; i < src->nletters; i++)
        if (src->letters[i].state != 2 && src->letters[i].state != 3) return FD_ERR_KAFKA;
    letters_clear(src);
    return FD_OK;
}

void fd_source_forget_dead_letters(fd_source_t *src) {
    bool in_flight = false;
    for (size_t i = 0; i < src->nletters; i++) {
        if (src->letters[i].state == 1) in_flight = true;
        if (src->letters[i].state == 0) src->letters[i].state = 3;
    }
    /* indexes are the delivery reports' opaque: reuse them only when none is in flight */
    if (!in_flight) letters_clear(src);
}

fd_err_t fd_source_partition_count(fd_source_t *src, const char *topic, int timeout_ms,
                                   int32_t *count) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(src->consumer, topic, NULL);
    if (rkt == NULL) return FD_ERR_NOMEM;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(src->consumer, 0, rkt, &md, timeout_ms);
    fd_err_t err = FD_ERR_KAFKA;
    if (!e && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) {
        *count = md->topics[0].partition_cnt;
        err = FD_OK;
    }
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return err;
}

bool fd_source_high(fd_source_t *src, const char *topic, int32_t partition, int64_t *high) {
    int64_t low = -1;
    *high = -1;
    rd_kafka_resp_err_t e =
        rd_kafka_get_watermark_offsets(src->consumer, topic, partition, &low, high);
    return !e && *high >= 0;
}

void fd_source_commit(fd_source_t *src, const fd_source_tp_t *tps, const int64_t *next, size_t n) {
    if (n == 0) return;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, tps[i].topic, tps[i].partition)->offset = next[i];
    rd_kafka_resp_err_t e = rd_kafka_commit(src->consumer, list, 1);
    if (e) fd_log_debug("source", "offset commit: %s", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(list);
}

fd_err_t fd_source_rejoin(fd_source_t *src) {
    if (src->held) {
        rd_kafka_message_destroy(src->held);
        src->held = NULL;
    }
    src->counts.assigned = false; /* until the group assigns again */
    rd_kafka_resp_err_t e = rd_kafka_unsubscribe(src->consumer);
    if (e) fd_log_warn("source", "unsubscribe: %s", rd_kafka_err2str(e));
    /* The revocation is served by the next poll; subscribing again right away makes the group
     * rebalance and assign afresh. */
    e = rd_kafka_subscribe(src->consumer, src->subscription);
    if (e) {
        src->counts.errors++;
        fd_log_error("source", "subscribe: %s", rd_kafka_err2str(e));
        return FD_ERR_KAFKA;
    }
    return FD_OK;
}

void fd_source_close(fd_source_t *src) {
    if (src->held) {
        rd_kafka_message_destroy(src->held);
        src->held = NULL;
    }
    src->counts.assigned = false;
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(src->consumer);
    if (e) fd_log_warn("source", "consumer close: %s", rd_kafka_err2str(e));
}

void fd_source_counts(const fd_source_t *src, fd_source_counts_t *out) {
    *out = src->counts;
}

fd_err_t fd_source_seek(fd_source_t *src, const fd_source_tp_t *tps, const int64_t *offsets,
                        size_t n, int timeout_ms) {
    if (n == 0) return FD_OK;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, tps[i].topic, tps[i].partition)->offset =
            offsets[i];
    /* with a timeout, librdkafka purges what it prefetched and waits for the fetchers: no
     * message of the old positions reaches a later poll */
    fd_err_t err = FD_OK;
    rd_kafka_error_t *e =
        rd_kafka_seek_partitions(src->consumer, list, timeout_ms > 0 ? timeout_ms : 1);
    if (e != NULL) {
        src->counts.errors++;
        fd_log_error("source", "seek: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        err = FD_ERR_KAFKA;
    }
    for (int i = 0; i < list->cnt; i++) {
        if (list->elems[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
        if (err == FD_OK) src->counts.errors++;
        fd_log_error("source", "seek %s[%" PRId32 "] to %" PRId64 ": %s", list->elems[i].topic,
                     list->elems[i].partition, list->elems[i].offset,
                     rd_kafka_err2str(list->elems[i].err));
        err = FD_ERR_KAFKA;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return err;
}
