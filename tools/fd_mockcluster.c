// SPDX-License-Identifier: MIT
// fd-mockcluster: hosts a librdkafka mock cluster in a process of its own, so tests can kill
// funneld without losing the broker's data (test tool, outside the layers).
//
//   fd-mockcluster --brokers N --topic NAME --partitions P [--topic NAME2 --partitions P2]...
//
// Prints "bootstrap=<host:port,...>" on stdout once the topics exist, then serves until SIGTERM or
// SIGINT. Commands read from stdin, one a line, answered with "ok" or "error: ..." on stdout:
//   down <broker id>   the broker stops answering (connections are closed)
//   up <broker id>     the broker serves again
// End of stdin is not an error: the cluster keeps running until a signal.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS 16

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out) {
    fprintf(out, "usage: fd-mockcluster --brokers N --topic NAME --partitions P "
                 "[--topic NAME --partitions P]...\n"
                 "stdin commands: 'down <id>', 'up <id>' (broker ids 1..N)\n");
}

/* Parses a decimal integer in [min, max]; returns -1 (and complains naming opt) otherwise. */
static long parse_count(const char *opt, const char *text, long min, long max) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "fd-mockcluster: %s expects an integer in [%ld, %ld], found '%s'\n", opt,
                min, max, text);
        return -1;
    }
    return v;
}

/* Executes one stdin command line against the cluster. */
static void run_command(rd_kafka_mock_cluster_t *mc, char *line, long nbrokers) {
    char verb[16];
    long id = 0;
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0') return;
    if (sscanf(line, "%15s %ld", verb, &id) != 2 || id < 1 || id > nbrokers) {
        printf("error: expected 'down <id>' or 'up <id>' with id in [1, %ld], found '%s'\n",
               nbrokers, line);
    } else if (strcmp(verb, "down") == 0) {
        rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_down(mc, (int32_t)id);
        printf(err ? "error: %s\n" : "ok\n", rd_kafka_err2str(err));
    } else if (strcmp(verb, "up") == 0) {
        rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_up(mc, (int32_t)id);
        printf(err ? "error: %s\n" : "ok\n", rd_kafka_err2str(err));
    } else {
        printf("error: unknown command '%s'\n", verb);
    }
    fflush(stdout);
}

int main(int argc, char **argv) {
    long nbrokers = 1;
    const char *topic[MAX_TOPICS];
    long partitions[MAX_TOPICS];
    int ntopics = 0;
    int rc = 1;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    char errstr[512];

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "fd-mockcluster: %s needs a value\n", opt);
            usage(stderr);
            return 2;
        }
        const char *val = argv[++i];
        if (strcmp(opt, "--brokers") == 0) {
            if ((nbrokers = parse_count(opt, val, 1, 16)) < 0) return 2;
        } else if (strcmp(opt, "--topic") == 0) {
            if (ntopics == MAX_TOPICS) {
                fprintf(stderr, "fd-mockcluster: at most %d topics\n", MAX_TOPICS);
                return 2;
            }
            topic[ntopics] = val;
            partitions[ntopics] = 1;
            ntopics++;
        } else if (strcmp(opt, "--partitions") == 0) {
            if (ntopics == 0) {
                fprintf(stderr, "fd-mockcluster: --partitions must follow a --topic\n");
                return 2;
            }
            if ((partitions[ntopics - 1] = parse_count(opt, val, 1, 1024)) < 0) return 2;
        } else {
            fprintf(stderr, "fd-mockcluster: unknown option '%s'\n", opt);
            usage(stderr);
            return 2;
        }
    }
    if (ntopics == 0) {
        fprintf(stderr, "fd-mockcluster: at least one --topic is required\n");
        usage(stderr);
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The mock cluster needs a client instance for its bookkeeping; a producer that never
     * produces is the lightest. rd_kafka_new takes conf on success only. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "fd-mockcluster: log_level: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "fd-mockcluster: cannot create the client instance: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    mc = rd_kafka_mock_cluster_new(rk, (int)nbrokers);
    if (!mc) {
        fprintf(stderr, "fd-mockcluster: cannot create a mock cluster of %ld brokers\n", nbrokers);
        goto fail;
    }
    for (int t = 0; t < ntopics; t++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, topic[t], (int)partitions[t], 1);
        if (err) {
            fprintf(stderr, "fd-mockcluster: cannot create topic '%s' (%ld partitions): %s\n",
                    topic[t], partitions[t], rd_kafka_err2str(err));
            goto fail;
        }
    }
    printf("bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    /* Serve stdin commands until a signal; poll's timeout bounds the reaction to a signal.
     * Raw read() with our own line buffer, since stdio buffering would hide lines from poll. */
    char line[256];
    size_t used = 0;
    int stdin_open = 1;
    while (!stop_requested) {
        if (!stdin_open) {
            usleep(200 * 1000);
            continue;
        }
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0) continue;
        ssize_t got = read(STDIN_FILENO, line + used, sizeof line - 1 - used);
        if (got <= 0) {
            if (got < 0 && errno == EINTR) continue;
            stdin_open = 0; /* EOF or error: keep serving until a signal */
            continue;
        }
        used += (size_t)got;
        line[used] = '\0';
        char *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            run_command(mc, line, nbrokers);
            used -= (size_t)(nl + 1 - line);
            memmove(line, nl + 1, used + 1);
        }
        if (used == sizeof line - 1) { /* a line too long to be a command: drop it */
            printf("error: command line too long\n");
            fflush(stdout);
            used = 0;
        }
    }
    rc = 0;

fail:
    if (mc) rd_kafka_mock_cluster_destroy(mc);
    if (rk) rd_kafka_destroy(rk);
    return rc;
}
