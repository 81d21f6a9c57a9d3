// SPDX-License-Identifier: MIT
// Kafka adapter: the group consumer (subscribe, rebalance callbacks, poll, offset commits) and the
// dead-letter producer (layer 4; librdkafka stays inside).
#ifndef FUNNELD_SOURCE_H
#define FUNNELD_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/config.h"
#include "base/err.h"

typedef struct fd_source fd_source_t;

/* A topic partition. */
typedef struct {
    const char *topic;
    int32_t partition;
} fd_source_tp_t;

/* A consumed message: a view valid until the next fd_source_poll or fd_source_close. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *payload;
    size_t len;
} fd_source_msg_t;

/* What the owner of the source does on group changes; called from inside fd_source_poll (and
 * fd_source_close / fd_source_rejoin). */
typedef struct {
    void *opaque;
    /* Partition tp is being assigned to us: take it over and set *offset to the offset to resume
     * from, or -1 when there is none (kafka.start_from decides). Anything but FD_OK leaves the
     * partition unassigned for now (it comes back at the next rebalance). */
    fd_err_t (*on_assign)(void *opaque, const fd_source_tp_t *tp, int64_t *offset);
    /* The n partitions are being taken away: finish work on them before returning. */
    void (*on_revoke)(void *opaque, const fd_source_tp_t *tps, size_t n);
} fd_source_handler_t;

/* Creates the consumer (io/kafka's FD_KAFKA_CONSUMER: group cfg->group_id, no auto commit;
 * partitions without a stored offset start from kafka.start_from) and the dead-letter producer
 * (FD_KAFKA_PRODUCER: idempotent), both with the kafka.<property> pass-through, and subscribes to
 * cfg->topics. FD_ERR_CONFIG with errstr naming kafka.<property> when librdkafka
 * rejects a setting. The handler is copied; cfg is only read during the call. */
fd_err_t fd_source_new(const fd_config_t *cfg, const fd_source_handler_t *handler,
                       fd_source_t **out, char *errstr, size_t errstr_size);
/* Destroys without leaving the group politely; call fd_source_close first. NULL does nothing. */
void fd_source_destroy(fd_source_t *src);

/* Waits up to timeout_ms for one message: FD_OK with *got true and *msg filled when one came,
 * *got false when none did (timeout, or a consumer error, which is logged); FD_ERR_FATAL on a
 * fatal librdkafka error (*got false). */
fd_err_t fd_source_poll(fd_source_t *src, int timeout_ms, fd_source_msg_t *msg, bool *got);

/* Queues msg's original bytes to the dead-letter topic with headers funneld.reason,
 * funneld.error, funneld.topic, funneld.partition, funneld.offset (payload and key copied). */
fd_err_t fd_source_dead_letter(fd_source_t *src, const fd_source_msg_t *msg, const char *reason,
                               const char *error);
/* Waits until every queued dead letter is delivered, re-producing failed ones, for at most
 * timeout_ms. FD_OK when all are delivered (the queue is then empty); FD_ERR_KAFKA otherwise
 * (the undelivered ones stay queued for the next call). */
fd_err_t fd_source_flush_dead_letters(fd_source_t *src, int timeout_ms);
/* Drops the queued dead letters not yet handed to the producer (their batch was dropped: its
 * messages are read again and queue them again); those already produced are still delivered. */
void fd_source_forget_dead_letters(fd_source_t *src);

/* The number of partitions of topic, from the cluster's metadata (one request, at most
 * timeout_ms). FD_ERR_KAFKA when it cannot be read. */
fd_err_t fd_source_partition_count(fd_source_t *src, const char *topic, int timeout_ms,
                                   int32_t *count);

/* The partition's high watermark (the offset after its last message) as last seen by the
 * consumer's fetches, without a request: false when none was seen yet. */
bool fd_source_high(fd_source_t *src, const char *topic, int32_t partition, int64_t *high);

/* Commits next offsets to the group (asynchronously; informational: Redis holds the truth). */
void fd_source_commit(fd_source_t *src, const fd_source_tp_t *tps, const int64_t *next, size_t n);

/* Moves the consumer back (or forward) to offsets[i] (absolute, >= 0) for each of the n
 * partitions, which must be assigned: the next messages polled for them start there. Waits up
 * to timeout_ms for the fetcher to take the new positions, so that no message fetched before
 * for them (at the old position) is returned afterwards; the message lent by the last poll
 * stays valid until the next poll. FD_ERR_KAFKA (logged) when a partition could not be moved
 * or the wait timed out: the positions are then unknown (rejoin the group to start afresh). */
fd_err_t fd_source_seek(fd_source_t *src, const fd_source_tp_t *tps, const int64_t *offsets,
                        size_t n, int timeout_ms);

/* Leaves and rejoins the group (unsubscribe, subscribe): every partition is revoked and assigned
 * again, so each is claimed afresh. Used after an apply was fenced. */
fd_err_t fd_source_rejoin(fd_source_t *src);

/* Leaves the group: revokes the assignment (on_revoke runs) and closes the consumer. */
void fd_source_close(fd_source_t *src);

/* What the source saw since it was created, for the operator metrics: rebalance callbacks
 * (assignments, an empty one included, and revocations), Kafka errors (consumer errors other
 * than end of partition, undelivered dead letters, rebalance and subscribe errors), and whether
 * the group has assigned this consumer (possibly nothing) since the last (re)join. Read on the
 * thread that polls. */
typedef struct {
    int64_t assigns, revokes, errors;
    bool assigned;
} fd_source_counts_t;
void fd_source_counts(const fd_source_t *src, fd_source_counts_t *out);

#endif
