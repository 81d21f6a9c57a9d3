// SPDX-License-Identifier: MIT
// A Kafka producer of notifications to one topic with a final outcome per message (alerts; the
// metrics topic later), built by the one Kafka set-up (layer 3; librdkafka stays inside).
#include "io/publisher.h"

#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "base/log.h"
#include "io/kafka.h"

struct fd_publisher {
    rd_kafka_t *rk;
    char *topic;
    fd_publisher_done_t done;
    void *opaque;
};

static void publisher_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    fd_publisher_t *pb = opaque;
    if (m->err)
        fd_log_warn("publisher", "message to %s not delivered: %s", pb->topic,
                    rd_kafka_err2str(m->err));
    if (pb->done) pb->done(pb->opaque, m->key, m->key_len, m->err == 0);
}

fd_err_t fd_publisher_new(const fd_config_t *cfg, const char *topic, fd_publisher_done_t done,
                          void *opaque, fd_publisher_t **out, char *errstr, size_t errstr_size) {
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
