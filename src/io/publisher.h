// SPDX-License-Identifier: MIT
// A producer of notifications to one topic (idempotent), with a final outcome per message
// (layer 4; librdkafka stays inside).
#ifndef FUNNELD_PUBLISHER_H
#define FUNNELD_PUBLISHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/config.h"

/* A producer of notifications to one topic (idempotent, so retries never duplicate a message
 * in the log), built from kafka.brokers and the kafka.<property> pass-through. done(opaque, key,
 * key_len, ok) reports each message's final outcome, from inside fd_publisher_poll. */
typedef struct fd_publisher fd_publisher_t;
typedef void (*fd_publisher_done_t)(void *opaque, const void *key, size_t key_len, bool ok);
/* timeout_ms > 0 bounds each message's delivery (message.timeout.ms, never above what the
 * kafka.<property> pass-through says): a message not acknowledged by then is reported failed
 * rather than written late. FD_ERR_CONFIG with errstr when librdkafka refuses the settings;
 * FD_ERR_NOMEM. */
fd_err_t fd_publisher_new(const fd_config_t *cfg, const char *topic, int64_t timeout_ms,
                          fd_publisher_done_t done, void *opaque, fd_publisher_t **out,
                          char *errstr, size_t errstr_size);
/* Queues value under key (both copied). FD_ERR_FULL when the local queue is full (serve
 * delivery reports with fd_publisher_poll and try again); FD_ERR_KAFKA when librdkafka refuses
 * the message for another reason (too large, a fatal producer error). */
fd_err_t fd_publisher_send(fd_publisher_t *pb, const char *key, size_t key_len, const char *value,
                           size_t len);
/* Serves delivery reports, waiting up to timeout_ms for one. */
void fd_publisher_poll(fd_publisher_t *pb, int timeout_ms);
/* Waits up to flush_ms for messages in flight, then frees. NULL does nothing. */
void fd_publisher_destroy(fd_publisher_t *pb, int flush_ms);

#endif
