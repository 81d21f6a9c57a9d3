// SPDX-License-Identifier: MIT
// The one Kafka client set-up: configurations by role from the settings table (layer 4).
#include "io/kafka.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    /* kafka.<property> goes to every client, so each warns about the others' properties
     * (CONFWARN): not worth an operator's attention. */
    if (strcmp(fac, "CONFWARN") == 0) level = 7;
    fd_log_level_t l = level <= 3   ? FD_LOG_ERROR
                       : level <= 4 ? FD_LOG_WARN
                       : level <= 6 ? FD_LOG_INFO
                                    : FD_LOG_DEBUG;
    FD_LOG(l, "kafka", "%s: %s", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    /* Transport errors (all brokers down...) are retried by librdkafka itself: log the state
     * change; fatal ones are reported by the client's owner. */
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof buf);
        fd_log_error("kafka", "fatal error: %s", buf);
    } else {
        fd_log_warn("kafka", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    }
}

fd_err_t fd_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                           const char *shown, char *errstr, size_t errstr_size) {
    char buf[512];
    if (rd_kafka_conf_set(conf, name, value, buf, sizeof buf) != RD_KAFKA_CONF_OK) {
        /* librdkafka may quote the rejected value: never echo a secret. */
        snprintf(errstr, errstr_size, "%s: %s", shown,
                 fd_config_kafka_is_secret(name) ? "invalid value (not shown: secret)" : buf);
        return FD_ERR_CONFIG;
    }
    return FD_OK;
}

typedef struct {
    const char *name, *value, *shown;
} setting_t;

static fd_err_t set_all(rd_kafka_conf_t *conf, const setting_t *s, size_t n, char *errstr,
                        size_t errstr_size) {
    for (size_t i = 0; i < n; i++) {
        fd_err_t err =
            fd_kafka_conf_set(conf, s[i].name, s[i].value, s[i].shown, errstr, errstr_size);
        if (err != FD_OK) return err;
    }
    return FD_OK;
}

static fd_err_t role_settings(rd_kafka_conf_t *conf, const fd_config_t *cfg, fd_kafka_role_t role,
                              char *errstr, size_t errstr_size) {
    switch (role) {
    case FD_KAFKA_CONSUMER: {
        char wait[32];
        snprintf(wait, sizeof wait, "%" PRId64, cfg->fetch_wait_ms);
        const setting_t s[] = {
            {"group.id", cfg->group_id, "kafka.group_id"},
            {"enable.auto.commit", "false", "kafka.enable.auto.commit"},
            {"enable.auto.offset.store", "false", "kafka.enable.auto.offset.store"},
            /* kafka.start_from is applied by the assignment itself (partitions with no stored
             * offset). A stored offset Kafka no longer holds (deleted by retention) resumes at
             * the earliest one still held: "latest" would skip every event still in the log. */
            {"auto.offset.reset", "earliest", "kafka.auto.offset.reset"},
            {"fetch.wait.max.ms", wait, "kafka.fetch_wait_ms"},
            /* A crashed instance, or one rejoining after a refused apply, holds its partitions
             * until its session times out. */
            {"session.timeout.ms", "10000", "kafka.session.timeout.ms"},
            {"heartbeat.interval.ms", "1000", "kafka.heartbeat.interval.ms"},
        };
        return set_all(conf, s, sizeof s / sizeof s[0], errstr, errstr_size);
    }
    case FD_KAFKA_GROUP_READER: {
        const setting_t s[] = {
            {"group.id", cfg->group_id, "kafka.group_id"},
            {"enable.auto.commit", "false", "kafka.enable.auto.commit"},
            {"log.queue", "true", "kafka.log.queue"}, /* served by the owner's rd_kafka_poll */
        };
        return set_all(conf, s, sizeof s / sizeof s[0], errstr, errstr_size);
    }
    case FD_KAFKA_PRODUCER: {
        /* enable.idempotence: set after the pass-through (fd_kafka_conf_new). JSON compresses
         * well (the metrics rows about 6x); keys go to partitions as Java clients put them, so
         * that a compacted topic keeps one row per key whoever else writes it. */
        const setting_t s[] = {
            {"compression.type", "lz4", "kafka.compression.type"},
            {"partitioner", "murmur2_random", "kafka.partitioner"},
        };
        return set_all(conf, s, sizeof s / sizeof s[0], errstr, errstr_size);
    }
    case FD_KAFKA_LOAD_PRODUCER: {
        const setting_t s[] = {
            {"enable.idempotence", "true", "kafka.enable.idempotence"},
            {"linger.ms", "5", "kafka.linger.ms"},
            {"queue.buffering.max.messages", "1000000", "kafka.queue.buffering.max.messages"},
            {"queue.buffering.max.kbytes", "1048576", "kafka.queue.buffering.max.kbytes"},
            {"partitioner", "murmur2_random", "kafka.partitioner"},
            {"log_level", "4", "kafka.log_level"},
        };
        return set_all(conf, s, sizeof s / sizeof s[0], errstr, errstr_size);
    }
    }
    snprintf(errstr, errstr_size, "kafka: unknown client role %d", (int)role);
    return FD_ERR_INVAL;
}

fd_err_t fd_kafka_conf_new(const fd_config_t *cfg, fd_kafka_role_t role, rd_kafka_conf_t **out,
                           char *errstr, size_t errstr_size) {
    *out = NULL;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf == NULL) return FD_ERR_NOMEM;
    fd_err_t err = fd_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, "kafka.brokers",
                                     errstr, errstr_size);
    if (err == FD_OK) err = role_settings(conf, cfg, role, errstr, errstr_size);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    for (size_t i = 0; err == FD_OK && i < cfg->kafka_count; i++) {
        char shown[300];
        snprintf(shown, sizeof shown, "kafka.%s", cfg->kafka_name[i]);
        err = fd_kafka_conf_set(conf, cfg->kafka_name[i], cfg->kafka_value[i], shown, errstr,
                                errstr_size);
    }
    /* Dead letters and notifications must not be duplicated by a retry: idempotence is not
     * the pass-through's to turn off. */
    if (err == FD_OK && role == FD_KAFKA_PRODUCER)
        err = fd_kafka_conf_set(conf, "enable.idempotence", "true", "kafka.enable.idempotence",
                                errstr, errstr_size);
    if (err != FD_OK) {
        rd_kafka_conf_destroy(conf);
        return err;
    }
    *out = conf;
    return FD_OK;
}
