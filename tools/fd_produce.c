// SPDX-License-Identifier: MIT
// fd-produce: produces stdin lines "key<TAB>value" to a Kafka topic and reports, per partition, how
// many messages were delivered and the partition's next offset (test tool, outside the layers).
//
//   fd-produce --brokers B --topic T [--partitions P]
//
// Each stdin line is split at its first TAB: the bytes before are the key (empty = no key), the
// bytes after, up to the newline, are the value, sent unchanged (any bytes but '\n', invalid UTF-8
// included). A line without a TAB is a value without a key.
//
// Partitioner: murmur2_random, the Java client's default (murmur2 of the key; keyless messages go
// to a random partition), so a deal's events, keyed by deal_id, all land in one partition.
// enable.idempotence=true keeps the per-partition order of the input even across retries.
//
// After every delivery report has arrived it prints one line per partition of the topic
//   partition=<p> count=<delivered by this run> next=<high watermark> low=<low watermark>
// and then "total=<n>". next is the offset a consumer has to reach to have read everything;
// low > 0 means the broker already dropped old data. Exit 1 if any delivery failed.
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "io/kafka.h"
#include "model/config.h"

#define MAX_PARTITIONS 1024

typedef struct {
    int64_t count[MAX_PARTITIONS];
    int64_t last_offset[MAX_PARTITIONS];
    int64_t failed;
    int64_t delivered;
    char first_error[256];
} report_t;

/* Called from rd_kafka_poll/flush on this thread: counts deliveries per partition. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    report_t *rep = opaque;
    if (msg->err) {
        if (rep->failed++ == 0)
            snprintf(rep->first_error, sizeof rep->first_error, "%s", rd_kafka_err2str(msg->err));
        return;
    }
    if (msg->partition < 0 || msg->partition >= MAX_PARTITIONS) {
        if (rep->failed++ == 0)
            snprintf(rep->first_error, sizeof rep->first_error,
                     "delivered to partition %" PRId32 ", beyond the %d this tool tracks",
                     msg->partition, MAX_PARTITIONS);
        return;
    }
    rep->delivered++;
    rep->count[msg->partition]++;
    if (msg->offset > rep->last_offset[msg->partition])
        rep->last_offset[msg->partition] = msg->offset;
}

/* The producer's configuration: io/kafka's load producer (idempotent, murmur2_random, linger 5 ms,
 * deep queues) with brokers, plus this tool's own settings. librdkafka's own log and errors print
 * as they always did (its default logger; no error callback). */
static fd_err_t producer_conf(const char *brokers, report_t *rep, rd_kafka_conf_t **out) {
    char errstr[512];
    fd_config_t cfg;
    rd_kafka_conf_t *conf = NULL;
    fd_err_t err = fd_config_init(&cfg);
    if (err == FD_OK) err = fd_config_set(&cfg, "kafka.brokers", brokers, errstr, sizeof errstr);
    if (err == FD_OK)
        err = fd_kafka_conf_new(&cfg, FD_KAFKA_LOAD_PRODUCER, &conf, errstr, sizeof errstr);
    if (err == FD_OK)
        err = fd_kafka_conf_set(conf, "message.max.bytes", "1000000", "message.max.bytes", errstr,
                                sizeof errstr);
    /* a broker that stays away fails the run in 2 minutes, not librdkafka's default 5 */
    if (err == FD_OK)
        err = fd_kafka_conf_set(conf, "message.timeout.ms", "120000", "message.timeout.ms", errstr,
                                sizeof errstr);
    fd_config_clear(&cfg);
    if (err != FD_OK) {
        if (err == FD_ERR_NOMEM) snprintf(errstr, sizeof errstr, "%s", fd_strerror(err));
        fprintf(stderr, "fd-produce: %s\n", errstr);
        if (conf) rd_kafka_conf_destroy(conf);
        return err;
    }
    rd_kafka_conf_set_log_cb(conf, rd_kafka_log_print);
    rd_kafka_conf_set_error_cb(conf, NULL);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, rep);
    *out = conf;
    return FD_OK;
}

/* The number of partitions of topic, from the cluster's metadata. FD_ERR_KAFKA when it cannot be
 * read. */
static fd_err_t topic_partitions(rd_kafka_t *rk, const char *topic, long *count) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    fd_err_t err = FD_ERR_KAFKA;
    if (!rkt) return FD_ERR_KAFKA;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            *count = md->topics[0].partition_cnt;
            err = FD_OK;
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return err;
}

int main(int argc, char **argv) {
    const char *brokers = NULL, *topic = NULL;
    long partitions = -1;
    int rc = 1;
    rd_kafka_t *rk = NULL;
    char *line = NULL;
    size_t cap = 0;
    char errstr[512];
    static report_t rep;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: fd-produce --brokers B --topic T [--partitions P] < lines\n"
                   "stdin lines: key<TAB>value (empty key = no key)\n");
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "fd-produce: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--brokers") == 0) {
            brokers = argv[++i];
        } else if (strcmp(argv[i], "--topic") == 0) {
            topic = argv[++i];
        } else if (strcmp(argv[i], "--partitions") == 0) {
            char *end = NULL;
            errno = 0;
            partitions = strtol(argv[++i], &end, 10);
            if (errno || *end || partitions < 1 || partitions > MAX_PARTITIONS) {
                fprintf(stderr,
                        "fd-produce: --partitions expects an integer in [1, %d], found '%s'\n",
                        MAX_PARTITIONS, argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "fd-produce: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!brokers || !topic) {
        fprintf(stderr, "fd-produce: --brokers and --topic are required\n");
        return 2;
    }
    for (int p = 0; p < MAX_PARTITIONS; p++)
        rep.last_offset[p] = -1;

    rd_kafka_conf_t *conf = NULL;
    if (producer_conf(brokers, &rep, &conf) != FD_OK) goto fail;
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "fd-produce: cannot create the producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }

    int64_t sent = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) != -1) {
        if (len > 0 && line[len - 1] == '\n') len--;
        char *tab = memchr(line, '\t', (size_t)len);
        const char *key = NULL, *value = line;
        size_t key_len = 0, value_len = (size_t)len;
        if (tab) {
            key = line;
            key_len = (size_t)(tab - line);
            value = tab + 1;
            value_len = (size_t)len - key_len - 1;
            if (key_len == 0) key = NULL;
        }
        for (;;) {
            rd_kafka_resp_err_t err =
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                                  RD_KAFKA_V_VALUE((void *)value, value_len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "fd-produce: message %" PRId64 " not queued: %s\n", sent,
                        rd_kafka_err2str(err));
                goto fail;
            }
            rd_kafka_poll(rk, 50); /* queue full: serve delivery reports, then retry */
        }
        sent++;
        rd_kafka_poll(rk, 0);
    }
    if (ferror(stdin)) {
        fprintf(stderr, "fd-produce: reading stdin: %s\n", strerror(errno));
        goto fail;
    }

    /* Wait for every delivery report; the idempotent producer retries transient errors itself. */
    while (rd_kafka_outq_len(rk) > 0) {
        rd_kafka_resp_err_t err = rd_kafka_flush(rk, 60 * 1000);
        if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
            fprintf(stderr, "fd-produce: still waiting for %d deliveries\n", rd_kafka_outq_len(rk));
    }
    if (rep.failed) {
        fprintf(stderr, "fd-produce: %" PRId64 " of %" PRId64 " deliveries failed, first: %s\n",
                rep.failed, sent, rep.first_error);
        goto fail;
    }

    if (partitions < 0 && topic_partitions(rk, topic, &partitions) != FD_OK) {
        fprintf(stderr, "fd-produce: cannot read the partition count of topic '%s'\n", topic);
        goto fail;
    }
    for (int32_t p = 0; p < partitions; p++) {
        int64_t low = -1, high = -1;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, 10000);
        if (err) {
            fprintf(stderr, "fd-produce: watermarks of %s [%" PRId32 "]: %s\n", topic, p,
                    rd_kafka_err2str(err));
            goto fail;
        }
        if (high < rep.last_offset[p] + 1) { /* cannot happen unless the broker lost data */
            fprintf(stderr,
                    "fd-produce: %s [%" PRId32 "] high watermark %" PRId64
                    " is below the last delivered offset %" PRId64 "\n",
                    topic, p, high, rep.last_offset[p]);
            goto fail;
        }
        printf("partition=%" PRId32 " count=%" PRId64 " next=%" PRId64 " low=%" PRId64 "\n", p,
               rep.count[p], high, low);
    }
    printf("total=%" PRId64 "\n", rep.delivered);
    fflush(stdout);
    rc = 0;

fail:
    free(line);
    if (rk) rd_kafka_destroy(rk);
    return rc;
}
