// SPDX-License-Identifier: MIT
// The ceiling for funneld's benchmark: a bare librdkafka consumer that reads a topic from the
// beginning as fast as it can, touching each message only to count it and its bytes.
//
// Usage: fd-bare-consumer --brokers B --topic T --count N [--group G] [--timeout S]
//                         [--set PROPERTY=VALUE]...
// It assigns every partition of T at the earliest offset (no group join, no commits), reads
// until it has seen N messages, then prints one line:
//   messages=N seconds=S msgs_per_s=X bytes_per_s=Y
// (--set passes any librdkafka property, to try a tuning; the defaults are the figures' ones)
// where S runs from the first message received to the Nth (connection and metadata set-up are
// excluded, as funneld's end-to-end figure excludes its start-up), and bytes are key + value.
// Exit status: 0, 1 on a Kafka error or when --timeout seconds pass before N messages, 2 on a
// usage error. --dump FILE also writes every message read to FILE, one line each, for tests:
//   <partition> TAB <offset> TAB <key hex> TAB <value hex> TAB <name hex>=<value hex>,...
// (the headers in order; "-" for a missing key, value or header value).
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out) {
    fprintf(out, "usage: fd-bare-consumer --brokers B --topic T --count N [--group G] "
                 "[--timeout S] [--dump FILE] [--to-end] [--set PROPERTY=VALUE]...\n"
                 "Reads N messages of every partition of T from the earliest offset and prints\n"
                 "messages=N seconds=S msgs_per_s=X bytes_per_s=Y (S from the first message).\n"
                 "--dump FILE writes each message (partition, offset, key, value, headers; hex)\n"
                 "to FILE, one tab-separated line each.\n"
                 "--to-end stops once every partition has been read to its end (N is then\n"
                 "an upper bound): a test's way to read a whole topic.\n");
}

/* Parses a decimal integer in [min, max]; returns -1 (and complains naming opt) otherwise. */
static long long parse_count(const char *opt, const char *text, long long min, long long max) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "fd-bare-consumer: %s expects an integer in [%lld, %lld], found '%s'\n",
                opt, min, max, text);
        return -1;
    }
    return v;
}

/* Writes len bytes at p as lowercase hex, or "-" for NULL. */
static void put_hex(FILE *f, const void *p, size_t len) {
    if (p == NULL) {
        fputc('-', f);
        return;
    }
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", ((const unsigned char *)p)[i]);
}

/* One --dump line for m. */
static void dump_message(FILE *f, rd_kafka_message_t *m) {
    fprintf(f, "%" PRId32 "\t%" PRId64 "\t", m->partition, m->offset);
    put_hex(f, m->key, m->key_len);
    fputc('\t', f);
    put_hex(f, m->payload, m->len);
    fputc('\t', f);
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             i++) {
            if (i > 0) fputc(',', f);
            put_hex(f, name, strlen(name));
            fputc('=', f);
            put_hex(f, val, size);
        }
    }
    fputc('\n', f);
}

static int set_conf(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "fd-bare-consumer: %s=%s: %s\n", name, value, errstr);
        return -1;
    }
    return 0;
}

/* Assigns every partition of topic at the earliest offset; returns the partition count or -1. */
static int assign_all(rd_kafka_t *rk, const char *topic) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    int n = -1;
    if (!rkt) {
        fprintf(stderr, "fd-bare-consumer: topic '%s': %s\n", topic,
                rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (err) {
        fprintf(stderr, "fd-bare-consumer: metadata of '%s': %s\n", topic, rd_kafka_err2str(err));
        goto fail;
    }
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        fprintf(stderr, "fd-bare-consumer: topic '%s' not found or without partitions (%s)\n",
                topic, md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no topic");
        goto fail;
    }
    n = md->topics[0].partition_cnt;
    parts = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    err = rd_kafka_assign(rk, parts);
    if (err) {
        fprintf(stderr, "fd-bare-consumer: assign %d partitions of '%s': %s\n", n, topic,
                rd_kafka_err2str(err));
        n = -1;
    }
fail:
    if (parts) rd_kafka_topic_partition_list_destroy(parts);
    if (md) rd_kafka_metadata_destroy(md);
    if (rkt) rd_kafka_topic_destroy(rkt);
    return n;
}

int main(int argc, char **argv) {
    const char *brokers = NULL, *topic = NULL, *group = "fd-bare-consumer", *dump_path = NULL;
    long long count = -1, timeout_s = 600;
    bool to_end = false;
    const char *sets[32];
    int nsets = 0;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(opt, "--to-end") == 0) {
            to_end = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "fd-bare-consumer: %s needs a value\n", opt);
            usage(stderr);
            return 2;
        }
        const char *val = argv[++i];
        if (strcmp(opt, "--brokers") == 0) {
            brokers = val;
        } else if (strcmp(opt, "--topic") == 0) {
            topic = val;
        } else if (strcmp(opt, "--group") == 0) {
            group = val;
        } else if (strcmp(opt, "--dump") == 0) {
            dump_path = val;
        } else if (strcmp(opt, "--count") == 0) {
            if ((count = parse_count(opt, val, 1, INT64_MAX)) < 0) return 2;
        } else if (strcmp(opt, "--set") == 0) {
            if (nsets == 32 || !strchr(val, '=')) {
                fprintf(stderr,
                        "fd-bare-consumer: --set expects PROPERTY=VALUE (at most 32), "
                        "found '%s'\n",
                        val);
                return 2;
            }
            sets[nsets++] = val;
        } else if (strcmp(opt, "--timeout") == 0) {
            if ((timeout_s = parse_count(opt, val, 1, 86400)) < 0) return 2;
        } else {
            fprintf(stderr, "fd-bare-consumer: unknown option '%s'\n", opt);
            usage(stderr);
            return 2;
        }
    }
    if (!brokers || !topic || count < 0) {
        fprintf(stderr, "fd-bare-consumer: --brokers, --topic and --count are required\n");
        usage(stderr);
        return 2;
    }

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    int rc = 1;
    char errstr[512];
    rd_kafka_t *rk = NULL;
    FILE *dump = NULL;
    bool *at_end = NULL; /* --to-end: the partitions read to their end */
    int ends = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The same fetch wait funneld uses on the mock broker, so both see the same fetch cadence;
     * nothing committed, so a rerun reads the topic again. */
    if (set_conf(conf, "bootstrap.servers", brokers) || set_conf(conf, "group.id", group) ||
        set_conf(conf, "fetch.wait.max.ms", "5") || set_conf(conf, "enable.auto.commit", "false") ||
        set_conf(conf, "enable.auto.offset.store", "false") ||
        set_conf(conf, "auto.offset.reset", "earliest") || set_conf(conf, "log_level", "3") ||
        set_conf(conf, "enable.partition.eof", to_end ? "true" : "false")) {
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    for (int i = 0; i < nsets; i++) {
        char name[256];
        size_t len = (size_t)(strchr(sets[i], '=') - sets[i]);
        snprintf(name, sizeof name, "%.*s", (int)len, sets[i]);
        if (set_conf(conf, name, sets[i] + len + 1)) {
            rd_kafka_conf_destroy(conf);
            return 2;
        }
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "fd-bare-consumer: cannot create the consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf); /* rd_kafka_new takes conf on success only */
        return 1;
    }
    conf = NULL;
    rd_kafka_poll_set_consumer(rk);
    int nparts = assign_all(rk, topic);
    if (nparts < 0) goto fail;
    if (dump_path != NULL && (dump = fopen(dump_path, "w")) == NULL) {
        fprintf(stderr, "fd-bare-consumer: --dump %s: %s\n", dump_path, strerror(errno));
        goto fail;
    }

    at_end = calloc((size_t)nparts + 1, sizeof *at_end);
    if (at_end == NULL) goto fail;
    long long got = 0, bytes = 0;
    double t_first = 0, t_last = 0;
    double deadline = now_s() + (double)timeout_s;
    while (got < count && !stop_requested) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            if (now_s() > deadline) {
                fprintf(stderr,
                        "fd-bare-consumer: timeout after %lld s with %lld of %lld "
                        "messages\n",
                        timeout_s, got, count);
                goto fail;
            }
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && to_end && m->partition >= 0 &&
            m->partition < nparts && !at_end[m->partition]) {
            at_end[m->partition] = true;
            rd_kafka_message_destroy(m);
            if (++ends == nparts) break;
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "fd-bare-consumer: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (got == 0) t_first = now_s();
        got++;
        bytes += (long long)(m->len + m->key_len);
        if (dump != NULL) dump_message(dump, m);
        rd_kafka_message_destroy(m);
    }
    t_last = now_s();
    free(at_end);
    at_end = NULL;
    if (got < count && !(to_end && ends == nparts)) {
        fprintf(stderr, "fd-bare-consumer: interrupted after %lld of %lld messages\n", got, count);
        goto fail;
    }
    /* With one message there is no interval; report it without a rate rather than divide by 0. */
    double secs = t_last - t_first;
    printf("messages=%lld seconds=%.3f msgs_per_s=%.0f bytes_per_s=%.0f partitions=%d\n", got, secs,
           secs > 0 ? (double)got / secs : 0.0, secs > 0 ? (double)bytes / secs : 0.0, nparts);
    fflush(stdout);
    rc = 0;
fail:
    free(at_end);
    if (dump != NULL && fclose(dump) != 0) {
        fprintf(stderr, "fd-bare-consumer: --dump %s: %s\n", dump_path, strerror(errno));
        rc = 1;
    }
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return rc;
}
