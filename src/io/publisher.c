// SPDX-License-Identifier: MIT
// A Kafka producer to one topic with a final outcome per message (the alerts, the metric rows),
// built by the one Kafka set-up (layer 4; librdkafka stays inside).
#include "io/publisher.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "base/clock.h"
#include "base/log.h"
#include "io/kafka.h"

struct fd_publisher {
    rd_kafka_t *rk;
    char *topic;
    fd_publisher_done_t done;
    int64_t warned_s;     /* the second of the last failure reported */
    int64_t failed_since; /* failures not reported since */
    void *opaque;
};

static void publisher_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    fd_publisher_t *pb = opaque;
    if (m->err) {
        /* one line per second at most: a broker outage fails every message in flight */
        int64_t s = fd_clock_mono_ms() / 1000;
        if (s != pb->warned_s) {
            fd_log_warn("publisher",
                        "message to %s not delivered: %s (%" PRId64
                        " more failed since the last report)",
                        pb->topic, rd_kafka_err2str(m->err), pb->failed_since);
            pb->warned_s = s;
            pb->failed_since = 0;
        } else {
            pb->failed_since++;
        }
    }
    if (pb->done) pb->done(pb->opaque, m->key, m->key_len, m->err == 0);
}

fd_err_t fd_publisher_new(const fd_config_t *cfg, const char *topic, int64_t timeout_ms,
                          fd_publisher_done_t done, void *opaque, fd_publisher_t **out,
                          char *errstr, size_t errstr_size) {
    char buf[512];
    *out = NULL;
    fd_publisher_t *pb = calloc(1, sizeof *pb);
    if (pb == NULL || (pb->topic = strdup(topic)) == NULL) {
        free(pb);
        return FD_ERR_NOMEM;
    }
    pb->done = done;
    pb->opaque = opaque;
    rd_kafka_conf_t *conf = NULL;
    fd_err_t err = fd_kafka_conf_new(cfg, FD_KAFKA_PRODUCER, &conf, errstr, errstr_size);
    if (err != FD_OK) goto fail;
    if (timeout_ms > 0) {
        char cur[32] = "", want[32];
        size_t len = sizeof cur;
        if (rd_kafka_conf_get(conf, "message.timeout.ms", cur, &len) != RD_KAFKA_CONF_OK ||
            strtoll(cur, NULL, 10) == 0 || strtoll(cur, NULL, 10) > timeout_ms) {
            snprintf(want, sizeof want, "%" PRId64, timeout_ms);
            if ((err = fd_kafka_conf_set(conf, "message.timeout.ms", want, "message.timeout.ms",
                                         errstr, errstr_size)) != FD_OK)
                goto fail;
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, publisher_dr_cb);
    rd_kafka_conf_set_opaque(conf, pb);
    pb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, buf, sizeof buf);
    if (pb->rk == NULL) {
        snprintf(errstr, errstr_size, "kafka producer for %s: %s", topic, buf);
        err = FD_ERR_CONFIG;
        goto fail;
    }
    *out = pb;
    return FD_OK;
fail:
    if (conf != NULL) rd_kafka_conf_destroy(conf);
    free(pb->topic);
    free(pb);
    return err;
}

fd_err_t fd_publisher_send(fd_publisher_t *pb, const char *key, size_t key_len, const char *value,
                           size_t len) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        pb->rk, RD_KAFKA_V_TOPIC(pb->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) return FD_ERR_FULL;
    return e ? FD_ERR_KAFKA : FD_OK;
}

void fd_publisher_poll(fd_publisher_t *pb, int timeout_ms) {
    rd_kafka_poll(pb->rk, timeout_ms);
}

void fd_publisher_destroy(fd_publisher_t *pb, int flush_ms) {
    if (pb == NULL) return;
    rd_kafka_flush(pb->rk, flush_ms);
    rd_kafka_destroy(pb->rk);
    free(pb->topic);
    free(pb);
}
