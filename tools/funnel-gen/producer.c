// SPDX-License-Identifier: MIT
// funnel-gen's Kafka sink: io/kafka's load producer (idempotent, murmur2_random, deep queues)
// with the kafka.<property> pass-through of --set and FUNNELD_KAFKA__<PROPERTY>, keyed by deal_id,
// counting deliveries per partition (tool, outside the layers).
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "io/kafka.h"

extern char **environ;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    producer_t *k = opaque;
    if (msg->err) {
        if (k->failed++ == 0)
            snprintf(k->first_error, sizeof k->first_error, "%s", rd_kafka_err2str(msg->err));
        return;
    }
    k->delivered++;
    if (msg->partition >= 0 && msg->partition < MAX_PARTITIONS) {
        k->count[msg->partition]++;
        if (msg->offset + 1 > k->next[msg->partition]) k->next[msg->partition] = msg->offset + 1;
    }
}

static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    producer_t *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof why);
        fprintf(stderr, PROG ": kafka fatal error: %s\n", why);
        k->fatal = true;
        return;
    }
    fprintf(stderr, PROG ": kafka: %s: %s\n", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* funneld's FUNNELD_KAFKA__<PROPERTY> variables (and no other FUNNELD_* one: funnel-gen has its
 * own options for the rest) from the environment into cfg. */
static fd_err_t apply_kafka_env(fd_config_t *cfg, char *errstr, size_t errstr_size) {
    static const char prefix[] = "FUNNELD_KAFKA__";
    size_t n = 0;
    for (char **e = environ; e != NULL && *e != NULL; e++)
        if (strncmp(*e, prefix, sizeof prefix - 1) == 0) n++;
    if (n == 0) return FD_OK;
    char **envp = calloc(n + 1, sizeof *envp);
    if (envp == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return FD_ERR_NOMEM;
    }
    n = 0;
    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, prefix, sizeof prefix - 1) == 0) envp[n++] = *e;
    fd_err_t err = fd_config_apply_env(cfg, envp, errstr, errstr_size);
    free(envp);
    return err;
}

/* One --set: only kafka.<librdkafka property> (the pass-through) is funnel-gen's business. */
static fd_err_t apply_set(fd_config_t *cfg, const char *arg, char *errstr, size_t errstr_size) {
    const char *eq = strchr(arg, '=');
    if (strncmp(arg, "kafka.", 6) != 0 || eq == NULL || eq == arg + 6) {
        snprintf(errstr, errstr_size,
                 "--set: expected kafka.<property>=<value> (a librdkafka property), got '%s'", arg);
        return FD_ERR_CONFIG;
    }
    fd_err_t err = fd_config_set_arg(cfg, arg, errstr, errstr_size);
    if (err != FD_OK) return err;
    size_t len = (size_t)(eq - arg) - 6;
    for (size_t i = 0; i < cfg->kafka_count; i++)
        if (strlen(cfg->kafka_name[i]) == len && memcmp(cfg->kafka_name[i], arg + 6, len) == 0)
            return FD_OK;
    /* kafka.topics, kafka.group_id...: funneld's own settings, not librdkafka's */
    snprintf(errstr, errstr_size,
             "--set %.*s: a funneld setting, not a librdkafka property (funnel-gen takes "
             "--brokers and --topic)",
             (int)(eq - arg), arg);
    return FD_ERR_CONFIG;
}

/* A tool setting, unless the user gave the property (--set or the environment). */
static fd_err_t set_default(rd_kafka_conf_t *conf, const fd_config_t *cfg, const char *name,
                            const char *value, char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < cfg->kafka_count; i++)
        if (strcmp(cfg->kafka_name[i], name) == 0) return FD_OK;
    return fd_kafka_conf_set(conf, name, value, name, errstr, errstr_size);
}

fd_err_t producer_conf(gen_t *g) {
    producer_t *k = &g->kafka;
    char errstr[512] = "";
    fd_config_t cfg;
    fd_err_t err = fd_config_init(&cfg);
    if (err == FD_OK)
        err = fd_config_set(&cfg, "kafka.brokers", g->o.brokers, errstr, sizeof errstr);
    /* the environment first, then --set (which wins), as funneld applies them */
    if (err == FD_OK) err = apply_kafka_env(&cfg, errstr, sizeof errstr);
    for (int i = 0; err == FD_OK && i < g->o.nsets; i++)
        err = apply_set(&cfg, g->o.sets[i], errstr, sizeof errstr);
    /* The load producer: idempotence keeps each partition's order across retries; the large
     * queue lets the producer keep up with the generator; murmur2_random is the Java client's
     * partitioner, the one fd-produce and most producers use, so a deal lands in the same
     * partition. Large batches, ours, on top. */
    if (err == FD_OK)
        err = fd_kafka_conf_new(&cfg, FD_KAFKA_LOAD_PRODUCER, &k->conf, errstr, sizeof errstr);
    if (err == FD_OK)
        err = set_default(k->conf, &cfg, "batch.num.messages", "100000", errstr, sizeof errstr);
    if (err == FD_OK)
        err = set_default(k->conf, &cfg, "batch.size", "4000000", errstr, sizeof errstr);
    fd_config_clear(&cfg);
    if (err != FD_OK) {
        fprintf(stderr, PROG ": %s\n", errstr[0] ? errstr : fd_strerror(err));
        if (k->conf) rd_kafka_conf_destroy(k->conf);
        k->conf = NULL;
        return err;
    }
    /* librdkafka's own lines print as they always did (its default logger); errors are ours */
    rd_kafka_conf_set_log_cb(k->conf, rd_kafka_log_print);
    rd_kafka_conf_set_dr_msg_cb(k->conf, on_delivery);
    rd_kafka_conf_set_error_cb(k->conf, on_kafka_error);
    rd_kafka_conf_set_opaque(k->conf, k);
    return FD_OK;
}

fd_err_t producer_open(gen_t *g) {
    producer_t *k = &g->kafka;
    char errstr[512];
    const struct rd_kafka_metadata *md = NULL;
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, k->conf, errstr, sizeof errstr);
    if (!k->rk) {
        fprintf(stderr, PROG ": cannot create the kafka producer: %s\n", errstr);
        return FD_ERR_KAFKA;
    }
    k->conf = NULL; /* rd_kafka_new took it */
    k->rkt = rd_kafka_topic_new(k->rk, g->o.topic, NULL);
    if (!k->rkt) {
        fprintf(stderr, PROG ": topic '%s': %s\n", g->o.topic,
                rd_kafka_err2str(rd_kafka_last_error()));
        return FD_ERR_KAFKA;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(k->rk, 0, k->rkt, &md, 10000);
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, PROG ": cannot read the metadata of topic '%s' from %s: %s\n", g->o.topic,
                g->o.brokers,
                rd_kafka_err2str(err                  ? err
                                 : md->topic_cnt == 1 ? md->topics[0].err
                                                      : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        if (md) rd_kafka_metadata_destroy(md);
        return FD_ERR_KAFKA;
    }
    k->nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (k->nparts > MAX_PARTITIONS) {
        fprintf(stderr, PROG ": topic '%s' has %d partitions, this tool tracks at most %d\n",
                g->o.topic, k->nparts, MAX_PARTITIONS);
        return FD_ERR_KAFKA;
    }
    return FD_OK;
}

void producer_poll(gen_t *g, int ms) {
    rd_kafka_poll(g->kafka.rk, ms);
}

fd_err_t producer_write(gen_t *g, const char *key, size_t key_len, const char *data, size_t len) {
    producer_t *k = &g->kafka;
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(k->rk, RD_KAFKA_V_RKT(k->rkt), RD_KAFKA_V_KEY(key, key_len),
                              RD_KAFKA_V_VALUE((void *)data, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, PROG ": message %" PRId64 " not queued: %s\n", k->produced,
                    rd_kafka_err2str(err));
            return FD_ERR_KAFKA;
        }
        rd_kafka_poll(k->rk, 10); /* queue full: let deliveries drain it */
        if (k->fatal) return FD_ERR_KAFKA;
    }
    k->produced++;
    if ((k->produced & 1023) == 0) {
        rd_kafka_poll(k->rk, 0);
        if (k->fatal) return FD_ERR_KAFKA;
        if (g->o.throttle && (k->produced & 4095) == 0) {
            /* Cheap check on the last known progress first; ask Redis only when it matters. */
            if (throttle_lag(g) > g->o.max_lag) throttle_wait(g);
            if (k->fatal) return FD_ERR_KAFKA;
        }
    }
    return FD_OK;
}

fd_err_t producer_flush(gen_t *g) {
    producer_t *k = &g->kafka;
    double since = mono_s();
    int seen = gen_signalled;
    while (rd_kafka_outq_len(k->rk) > 0 && !k->fatal) {
        if (rd_kafka_flush(k->rk, 1000) != RD_KAFKA_RESP_ERR__TIMED_OUT) continue;
        if (mono_s() - since > 120 || gen_signalled > seen) {
            fprintf(stderr, PROG ": giving up on %d undelivered messages\n",
                    rd_kafka_outq_len(k->rk));
            return FD_ERR_KAFKA;
        }
        if ((int)(mono_s() - since) % 5 == 0)
            fprintf(stderr, PROG ": still waiting for %d deliveries\n", rd_kafka_outq_len(k->rk));
    }
    return k->fatal ? FD_ERR_KAFKA : FD_OK;
}

fd_err_t producer_report(gen_t *g) {
    producer_t *k = &g->kafka;
    fprintf(stderr, "  kafka:produced              %" PRId64 "\n", k->produced);
    fprintf(stderr, "  kafka:delivered             %" PRId64 "\n", k->delivered);
    fprintf(stderr, "  kafka:failed                %" PRId64 "\n", k->failed);
    for (int p = 0; p < k->nparts; p++)
        fprintf(stderr, "  kafka:partition:%-11d %" PRId64 "  (next offset %" PRId64 ")\n", p,
                k->count[p], k->next[p]);
    if (k->failed) {
        fprintf(stderr, PROG ": %" PRId64 " deliveries failed, first: %s\n", k->failed,
                k->first_error);
        return FD_ERR_KAFKA;
    }
    return FD_OK;
}

void producer_close(gen_t *g) {
    producer_t *k = &g->kafka;
    if (k->rkt) rd_kafka_topic_destroy(k->rkt);
    if (k->rk) rd_kafka_destroy(k->rk);
    if (k->conf) rd_kafka_conf_destroy(k->conf);
    k->rkt = NULL;
    k->rk = NULL;
    k->conf = NULL;
}
