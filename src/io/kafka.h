// SPDX-License-Identifier: MIT
// The one Kafka client set-up: builds the librdkafka configuration of each kind of client
// funneld and its tools create, from the settings table (kafka.brokers, the role's fixed
// settings, then the kafka.<property> pass-through, so a SASL/TLS cluster is reached by every
// client alike), with errors that name the setting and never echo a secret (layer 4).
#ifndef FUNNELD_KAFKA_H
#define FUNNELD_KAFKA_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "base/err.h"
#include "model/config.h"

typedef enum {
    /* funneld's group consumer: group.id = kafka.group_id, no auto commit or offset store,
     * auto.offset.reset earliest, fetch.wait.max.ms = kafka.fetch_wait_ms, session 10 s and
     * heartbeat 1 s (faster fail-over than librdkafka's 45 s) */
    FD_KAFKA_CONSUMER = 0,
    /* a member of kafka.group_id that never subscribes: reads committed offsets and watermarks
     * (funnelctl offsets); logs queued to the main queue (log.queue) */
    FD_KAFKA_GROUP_READER,
    /* an idempotent producer (dead letters, alert notifications): retries never duplicate;
     * enable.idempotence is set again after the pass-through, which cannot turn it off */
    FD_KAFKA_PRODUCER,
    /* an idempotent producer of load (funnel-gen, fd-produce): linger 5 ms, deep queues, the
     * Java client's murmur2_random partitioner (a deal lands where any Java producer puts it),
     * librdkafka's own log at warning and above */
    FD_KAFKA_LOAD_PRODUCER,
} fd_kafka_role_t;

/* A new configuration for role from cfg: bootstrap.servers, the role's settings, the log and
 * error callbacks that route librdkafka's lines to funneld's log (a tool may set its own after),
 * then every kafka.<property> of cfg (which may override the role's settings). *out is the
 * caller's until rd_kafka_new takes it (rd_kafka_conf_destroy it otherwise). FD_ERR_CONFIG with
 * errstr naming the setting ("kafka.sasl.mechanisms: ...") when librdkafka refuses one. */
fd_err_t fd_kafka_conf_new(const fd_config_t *cfg, fd_kafka_role_t role, rd_kafka_conf_t **out,
                           char *errstr, size_t errstr_size);

/* Sets name=value on conf; FD_ERR_CONFIG with errstr "<shown>: <librdkafka's reason>" (the
 * reason replaced when name is a secret, as librdkafka may quote the value). */
fd_err_t fd_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                           const char *shown, char *errstr, size_t errstr_size);

#endif
