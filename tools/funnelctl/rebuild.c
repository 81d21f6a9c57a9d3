// SPDX-License-Identifier: MIT
// funnelctl rebuild --to NEW: a funneld rebuilding the metrics into an empty prefix from the
// earliest offsets, its progress, the copy of the judgement state, the switch of <base>:current
// and the deletion of the old prefix (a tool). docs/operations.md "Rebuilding".
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "alerting/rules.h"
#include "ctl.h"
#include "io/current.h"
#include "io/keys.h"

#define KAFKA_TIMEOUT_MS 10000
#define UNLINK_BATCH     500
#define STOP_WAIT_S      120 /* the rebuild's funneld applies its pending batch, then exits */
#define DELETE_GRACE_S   3   /* funneld instances follow the pointer within about a second */
#define BAR_WIDTH        20
#define TERM_PARTS       8 /* partitions listed under the bar: the most behind */

typedef struct {
    const char *topic; /* the list's */
    int32_t partition;
    int64_t low, end; /* the log start and end when the rebuild began */
    int64_t next;     /* stored in NEW, -1 while absent */
    char *key;        /* NEW:part:<topic>:<partition> */
} rb_part_t;

typedef struct {
    ctl_t *ctl;
    const char *old, *to, *base;
    rb_part_t *parts;
    size_t nparts;
    int64_t total, applied;
    double rate; /* events/s, smoothed */
    int64_t last_applied;
    double last_s, start_s;
    int drawn; /* lines of the terminal drawing to overwrite */
    bool tty;
    pid_t child;
} rb_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- keys of a prefix ---- */

/* The state funneld's rebuild does not recompute (it runs without alerts and scorer): a key's
 * part after "<p>:". Leases are left out (the live instances take them again), and so are the
 * metrics publisher's keys (its position names entries of the old change feed: the new prefix
 * republishes every hash). */
static bool is_judgement(const char *rest, size_t len) {
    static const char *const singles[] = {FD_KEY_CLOCK,         FD_KEY_ALERTS,
                                          FD_KEY_ALERTS_FIRING, FD_KEY_ALERTS_OUTBOX,
                                          FD_KEY_SCORE_STATE,   FD_KEY_SCORE_PERIODS};
    static const char *const heads[] = {
        "alerts:state:", "score:rep:", "score:team:", "score:adj:", "rank:"};
    for (size_t i = 0; i < sizeof singles / sizeof *singles; i++)
        if (strlen(singles[i]) == len && memcmp(rest, singles[i], len) == 0) return true;
    for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
        size_t n = strlen(heads[i]);
        if (len > n && memcmp(rest, heads[i], n) == 0) return true;
    }
    return false;
}

typedef fd_err_t (*key_fn)(rb_t *rb, const char *key, size_t len, void *arg);

typedef struct {
    rb_t *rb;
    key_fn fn;
    void *arg;
} prefix_scan_t;

static fd_err_t scan_one(const char *key, size_t len, void *arg) {
    prefix_scan_t *ps = arg;
    return ps->fn(ps->rb, key, len, ps->arg);
}

/* Calls fn on every key of prefix (SCAN MATCH <prefix>:* with the prefix escaped; binary-safe:
 * the key as Redis gave it, with its length). A key SCAN returns twice gets two calls. fn
 * returns an error to stop. FD_ERR_REDIS (reported). */
static fd_err_t scan_prefix(rb_t *rb, const char *prefix, key_fn fn, void *arg) {
    char *head = xasprintf("%s:", prefix);
    prefix_scan_t ps = {rb, fn, arg};
    fd_err_t err = redis_scan(rb->ctl, head, scan_one, &ps);
    free(head);
    return err;
}

static fd_err_t first_key(rb_t *rb, const char *key, size_t len, void *arg) {
    (void)rb;
    char **found = arg;
    *found = xasprintf("%.*s", (int)(len > 200 ? 200 : len), key);
    return FD_ERR_FULL; /* one is enough */
}

/* ---- the rebuild's funneld ---- */

/* The funneld beside funnelctl's own executable when there is one, else "funneld" ($PATH). */
static char *default_funneld(void) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            char *path = xasprintf("%.*s/funneld", (int)(slash - self), self);
            if (access(path, X_OK) == 0) return path;
            free(path);
        }
    }
    return xstrdup("funneld");
}

/* The hourly buckets the live instances keep for alerts.rules (retention.hour_days 0: the
 * longest rolling window plus a day, as funneld sizes them): the rebuild runs without alerts, so
 * it is told the same number of days explicitly, else the new prefix would have no hourly
 * buckets for the rules' windows after the switch. 0 when none are needed or the setting is
 * explicit. FD_ERR_CONFIG (reported) when the rules file is not valid. */
static fd_err_t hour_days_needed(ctl_t *ctl, int64_t *days) {
    const fd_config_t *cfg = &ctl->cfg;
    *days = 0;
    if (cfg->alerts_rules[0] == '\0' || cfg->retention_hour_days != 0) return FD_OK;
    char errstr[900];
    fd_rules_t *rs = NULL;
    if (fd_rules_load(ctl->fn, cfg->alerts_rules, &rs, errstr, sizeof errstr) != FD_OK)
        return ctl_fail(FD_ERR_CONFIG, "alerts.rules (%s): %s", cfg->alerts_rules, errstr);
    const int64_t day_ms = 86400000;
    int64_t span = fd_rules_hour_span_ms(rs);
    fd_rules_destroy(rs);
    *days = span > 0 ? (span + day_ms - 1) / day_ms + 1 : 0;
    return FD_OK;
}

/* Starts funneld with funnelctl's settings (the same --config, FUNNELD_* environment and --set
 * flags, in their order) and the rebuild's: log.level warn (a --set may say otherwise), then
 * the prefix, no pointer, its own group, the earliest offsets, no alerts (but the hourly buckets
 * their rules need), no scorer, no metrics topic, no HTTP. Its stdout goes to our stderr (ours may
 * be JSON lines); it runs in its own process group (a terminal's Ctrl-C is ours to handle) and gets
 * SIGTERM if funnelctl dies. FD_ERR_IO (reported). */
static fd_err_t start_child(rb_t *rb) {
    ctl_t *ctl = rb->ctl;
    const fd_config_t *cfg = &ctl->cfg;
    char *path = ctl->funneld ? xstrdup(ctl->funneld) : default_funneld();
    char **argv = xcalloc((size_t)ctl->argc * 2 + 32, sizeof *argv);
    strvec_t owned = {0};
    size_t n = 0;
    int64_t hour_days;
    fd_err_t err = hour_days_needed(ctl, &hour_days);
    if (err != FD_OK) {
        free(argv);
        free(path);
        return err;
    }
    if (hour_days > 0) strvec_push(&owned, xasprintf("retention.hour_days=%" PRId64, hour_days));
    argv[n++] = path;
    if (ctl->config_path) {
        argv[n++] = "--config";
        argv[n++] = (char *)ctl->config_path;
    }
    argv[n++] = "--set";
    argv[n++] = "log.level=warn";
    for (int i = 1; i < ctl->argc && strcmp(ctl->argv[i], "--") != 0; i++) {
        const char *a = ctl->argv[i];
        if (strcmp(a, "--set") == 0 && i + 1 < ctl->argc) {
            argv[n++] = "--set";
            argv[n++] = ctl->argv[++i];
        } else if (strncmp(a, "--set=", 6) == 0) {
            argv[n++] = "--set";
            argv[n++] = (char *)a + 6;
        }
    }
    const char *fixed[] = {"redis.follow_current=off",
                           "kafka.start_from=earliest",
                           "alerts.rules=",
                           "targets.file=",
                           "feeds.metrics=off",
                           "http.listen=off"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        argv[n++] = "--set";
        argv[n++] = (char *)fixed[i];
    }
    strvec_push(&owned, xasprintf("redis.prefix=%s", rb->to));
    strvec_push(&owned, xasprintf("kafka.group_id=%s.rebuild.%s", cfg->group_id, rb->to));
    for (size_t i = 0; i < owned.n; i++) {
        argv[n++] = "--set";
        argv[n++] = owned.item[i];
    }
    argv[n] = NULL;

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execvp(path, argv);
        fprintf(stderr, "funnelctl: cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        err = ctl_fail(FD_ERR_IO, "cannot start funneld: %s", strerror(errno));
    else
        rb->child = pid;
    strvec_clear(&owned);
    free(argv);
    free(path);
    return err;
}

/* Whether the child has exited (reaped; *status then gets its wait status). */
static bool child_exited(rb_t *rb, int *status) {
    if (rb->child <= 0) return true;
    pid_t p = waitpid(rb->child, status, WNOHANG);
    if (p == rb->child) {
        rb->child = 0;
        return true;
    }
    return false;
}

/* SIGTERM, then waits for the exit (SIGKILL after STOP_WAIT_S: what it had not applied is not
 * stored, so nothing is counted twice). True when it exited 0. */
static bool stop_child(rb_t *rb) {
    if (rb->child <= 0) return true;
    kill(rb->child, SIGTERM);
    int status = 0;
    for (int i = 0; i < STOP_WAIT_S * 10; i++) {
        if (child_exited(rb, &status)) return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    kill(rb->child, SIGKILL);
    waitpid(rb->child, &status, 0);
    rb->child = 0;
    return false;
}

static void describe_status(int status, char *buf, size_t size) {
    if (WIFEXITED(status))
        snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "signal %d", WTERMSIG(status));
    else
        snprintf(buf, size, "status %d", status);
}

/* ---- the end offsets and the progress ---- */

/* Every partition of kafka.topics with its log start and end now. FD_ERR_KAFKA / FD_ERR_CONFIG
 * (reported). */
static fd_err_t read_ends(rb_t *rb) {
    ctl_t *ctl = rb->ctl;
    const fd_config_t *cfg = &ctl->cfg;
    rd_kafka_t *rk = NULL;
    const struct rd_kafka_metadata *md = NULL;
    char reason[1024];
    fd_err_t err = kafka_open(ctl, &rk);
    if (err != FD_OK) return err;
    err = FD_ERR_KAFKA;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, KAFKA_TIMEOUT_MS);
    if (e) {
        md = NULL;
        ctl_fail(FD_ERR_KAFKA, "cannot reach Kafka at %s: %s", cfg->brokers,
                 kafka_reason(ctl, rk, e, reason, sizeof reason));
        goto out;
    }
    size_t cap = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        cap += (size_t)md->topics[i].partition_cnt;
    rb->parts = xcalloc(cap + 1, sizeof *rb->parts);
    for (size_t t = 0; t < cfg->topics.count; t++) {
        const struct rd_kafka_metadata_topic *mt = NULL;
        for (int i = 0; i < md->topic_cnt; i++)
            if (strcmp(md->topics[i].topic, cfg->topics.item[t]) == 0) mt = &md->topics[i];
        if (mt == NULL || mt->err || mt->partition_cnt == 0) {
            ctl_fail(FD_ERR_KAFKA, "kafka.topics: topic '%s' %s at %s", cfg->topics.item[t],
                     mt && mt->err ? rd_kafka_err2str(mt->err) : "does not exist", cfg->brokers);
            goto out;
        }
        for (int32_t p = 0; p < mt->partition_cnt; p++) {
            rb_part_t *rp = &rb->parts[rb->nparts++];
            rp->topic = cfg->topics.item[t];
            rp->partition = p;
            rp->next = -1;
            e = rd_kafka_query_watermark_offsets(rk, rp->topic, p, &rp->low, &rp->end,
                                                 KAFKA_TIMEOUT_MS);
            if (e) {
                ctl_fail(FD_ERR_KAFKA, "cannot read the log end of %s [%" PRId32 "] at %s: %s",
                         rp->topic, p, cfg->brokers,
                         kafka_reason(ctl, rk, e, reason, sizeof reason));
                goto out;
            }
            size_t kn = fd_keys_part(NULL, 0, rb->to, rp->topic, p);
            rp->key = xcalloc(kn + 1, 1);
            fd_keys_part(rp->key, kn + 1, rb->to, rp->topic, p);
            rb->total += rp->end - rp->low;
            if (rp->low > 0)
                fprintf(stderr,
                        "funnelctl: warning: %s [%" PRId32 "] starts at offset %" PRId64
                        ": Kafka no longer holds the partition's whole history, and the rebuild "
                        "counts only what it holds\n",
                        rp->topic, p, rp->low);
        }
    }
    err = FD_OK;
out:
    if (md) rd_kafka_metadata_destroy(md);
    kafka_close(rk);
    return err;
}

static int64_t part_applied(const rb_part_t *p) {
    if (p->next <= p->low) return 0;
    return (p->next < p->end ? p->next : p->end) - p->low;
}

static int64_t part_lag(const rb_part_t *p) {
    return p->end - p->low - part_applied(p);
}

/* Reads every partition's next offset in NEW (one pipelined round trip). FD_ERR_REDIS
 * (reported). */
static fd_err_t read_progress(rb_t *rb) {
    ctl_t *ctl = rb->ctl;
    const char *what = "HGET <new>:part:* next";
    for (size_t i = 0; i < rb->nparts; i++) {
        const char *argv[] = {"HGET", rb->parts[i].key, "next"};
        fd_err_t err = redis_queue(ctl, what, 3, argv);
        if (err != FD_OK) return err;
    }
    fd_err_t err = FD_OK;
    for (size_t i = 0; i < rb->nparts; i++) {
        redisReply *r;
        if (redis_next_reply(ctl, what, &r) != FD_OK) return redis_lost(ctl, what);
        if (r->type == REDIS_REPLY_STRING)
            rb->parts[i].next = strtoll(r->str, NULL, 10);
        else if (r->type == REDIS_REPLY_ERROR && err == FD_OK)
            err = redis_check_reply(ctl, what, r), r = NULL;
        if (r) freeReplyObject(r);
    }
    if (err != FD_OK) return err;
    int64_t applied = 0;
    for (size_t i = 0; i < rb->nparts; i++)
        applied += part_applied(&rb->parts[i]);
    double t = now_s();
    if (t > rb->last_s) {
        double inst = (double)(applied - rb->last_applied) / (t - rb->last_s);
        rb->rate = rb->last_s == rb->start_s ? inst : 0.5 * rb->rate + 0.5 * inst;
    }
    rb->applied = applied;
    rb->last_applied = applied;
    rb->last_s = t;
    return FD_OK;
}

static bool caught_up(const rb_t *rb) {
    for (size_t i = 0; i < rb->nparts; i++)
        if (part_lag(&rb->parts[i]) > 0) return false;
    return true;
}

static void format_eta(const rb_t *rb, char *buf, size_t size) {
    int64_t left = rb->total - rb->applied;
    if (left <= 0) {
        snprintf(buf, size, "0s");
        return;
    }
    if (rb->rate < 1) {
        snprintf(buf, size, "?");
        return;
    }
    int64_t s = (int64_t)((double)left / rb->rate + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else
        snprintf(buf, size, "%" PRId64 "s", s);
}

static int cmp_lag(const void *a, const void *b) {
    int64_t la = part_lag(*(rb_part_t *const *)a), lb = part_lag(*(rb_part_t *const *)b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

/* The terminal's width in columns (80 when unknown). */
static int term_cols(void) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

/* One line of the redrawn display, cut to cols - 1 characters: a line that wrapped would take
 * two rows, and the redraw moves up one row per line. */
static void term_line(int cols, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void term_line(int cols, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    int max = cols - 1 < (int)sizeof line - 1 ? cols - 1 : (int)sizeof line - 1;
    if (max < 1) max = 1;
    if ((int)strlen(line) > max) line[max] = '\0';
    printf("\r\033[K%s\n", line);
}

static void print_progress(rb_t *rb) {
    double pct = rb->total > 0 ? 100.0 * (double)rb->applied / (double)rb->total : 100.0;
    char eta[32];
    format_eta(rb, eta, sizeof eta);
    if (rb->ctl->json) {
        printf("{\"event\": \"progress\", \"to\": ");
        json_string(stdout, rb->to);
        printf(", \"applied\": %" PRId64 ", \"total\": %" PRId64 ", \"rate\": %.1f, \"eta\": ",
               rb->applied, rb->total, rb->rate);
        if (rb->applied >= rb->total)
            printf("0");
        else if (rb->rate >= 1)
            printf("%.1f", (double)(rb->total - rb->applied) / rb->rate);
        else
            printf("null");
        printf(", \"partitions\": [");
        for (size_t i = 0; i < rb->nparts; i++) {
            const rb_part_t *p = &rb->parts[i];
            printf("%s{\"topic\": ", i ? ", " : "");
            json_string(stdout, p->topic);
            printf(", \"partition\": %" PRId32 ", \"next\": ", p->partition);
            if (p->next >= 0)
                printf("%" PRId64, p->next);
            else
                printf("null");
            printf(", \"end\": %" PRId64 ", \"lag\": %" PRId64 "}", p->end, part_lag(p));
        }
        printf("]}\n");
    } else if (rb->tty) {
        /* redrawn in place: the bar, then the partitions most behind */
        if (rb->drawn > 0) printf("\033[%dA", rb->drawn);
        int cols = term_cols();
        int fill = (int)(pct / 100.0 * BAR_WIDTH + 0.5);
        char bar[BAR_WIDTH + 1];
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        term_line(cols, "[%s] %5.1f%%  %" PRId64 "/%" PRId64 " events  %.0f events/s  ETA %s", bar,
                  pct, rb->applied, rb->total, rb->rate, eta);
        rb_part_t **order = xcalloc(rb->nparts + 1, sizeof *order);
        for (size_t i = 0; i < rb->nparts; i++)
            order[i] = &rb->parts[i];
        qsort(order, rb->nparts, sizeof *order, cmp_lag);
        size_t shown = rb->nparts < TERM_PARTS ? rb->nparts : TERM_PARTS;
        for (size_t i = 0; i < shown; i++)
            term_line(cols, "  %s [%" PRId32 "] lag %" PRId64, order[i]->topic, order[i]->partition,
                      part_lag(order[i]));
        if (rb->nparts > shown) term_line(cols, "  (%zu more partitions)", rb->nparts - shown);
        rb->drawn = 1 + (int)shown + (rb->nparts > shown);
        free(order);
    } else {
        printf("rebuild %s: %" PRId64 "/%" PRId64 " events (%.1f%%), %.0f events/s, ETA %s; lag",
               rb->to, rb->applied, rb->total, pct, rb->rate, eta);
        for (size_t i = 0; i < rb->nparts; i++)
            printf(" %s[%" PRId32 "]=%" PRId64, rb->parts[i].topic, rb->parts[i].partition,
                   part_lag(&rb->parts[i]));
        printf("\n");
    }
    fflush(stdout);
}

/* A step's line: plain text, or {"event": event, ...} with --json (extra: more members). */
static void step(rb_t *rb, const char *event, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void step(rb_t *rb, const char *event, const char *extra, const char *fmt, ...) {
    if (rb->ctl->json) {
        printf("{\"event\": \"%s\", \"from\": ", event);
        json_string(stdout, rb->old);
        printf(", \"to\": ");
        json_string(stdout, rb->to);
        printf("%s%s}\n", extra ? ", " : "", extra ? extra : "");
    } else {
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
    fflush(stdout);
}

/* ---- copy, switch, delete ---- */

static fd_err_t copy_one(rb_t *rb, const char *key, size_t len, void *arg) {
    size_t *copied = arg;
    size_t ol = strlen(rb->old);
    if (len <= ol + 1 || !is_judgement(key + ol + 1, len - ol - 1)) return FD_OK;
    size_t tl = strlen(rb->to), dl = tl + (len - ol);
    char *dst = xcalloc(dl + 1, 1);
    memcpy(dst, rb->to, tl);
    memcpy(dst + tl, key + ol, len - ol);
    const char *argv[] = {"COPY", key, dst, "REPLACE"};
    size_t lens[] = {4, len, dl, 7};
    redisReply *r = NULL;
    fd_err_t err = FD_OK;
    if (fd_redis_command(rb->ctl->redis, "COPY", 4, argv, lens, &r) != FD_OK)
        err = redis_lost(rb->ctl, "COPY");
    else if ((err = redis_check_reply(rb->ctl, "COPY", r)) == FD_OK) {
        (*copied)++;
        freeReplyObject(r);
    }
    free(dst);
    return err;
}

typedef struct {
    char *keys[UNLINK_BATCH];
    size_t lens[UNLINK_BATCH];
    size_t n, deleted;
    char *pointer; /* <base>:current: never deleted */
} unlink_batch_t;

static fd_err_t unlink_flush(rb_t *rb, unlink_batch_t *ub) {
    if (ub->n == 0) return FD_OK;
    const char **argv = xcalloc(ub->n + 1, sizeof *argv);
    size_t *lens = xcalloc(ub->n + 1, sizeof *lens);
    argv[0] = "UNLINK";
    lens[0] = 6;
    for (size_t i = 0; i < ub->n; i++) {
        argv[i + 1] = ub->keys[i];
        lens[i + 1] = ub->lens[i];
    }
    redisReply *r = NULL;
    fd_err_t err = FD_OK;
    if (fd_redis_command(rb->ctl->redis, "UNLINK", (int)ub->n + 1, argv, lens, &r) != FD_OK)
        err = redis_lost(rb->ctl, "UNLINK");
    else if ((err = redis_check_reply(rb->ctl, "UNLINK", r)) == FD_OK) {
        if (r->type == REDIS_REPLY_INTEGER) ub->deleted += (size_t)r->integer;
        freeReplyObject(r);
    }
    for (size_t i = 0; i < ub->n; i++)
        free(ub->keys[i]);
    ub->n = 0;
    free(argv);
    free(lens);
    return err;
}

static fd_err_t unlink_one(rb_t *rb, const char *key, size_t len, void *arg) {
    unlink_batch_t *ub = arg;
    if (len == strlen(ub->pointer) && memcmp(key, ub->pointer, len) == 0) return FD_OK;
    ub->keys[ub->n] = xcalloc(len + 1, 1);
    memcpy(ub->keys[ub->n], key, len);
    ub->lens[ub->n++] = len;
    return ub->n == UNLINK_BATCH ? unlink_flush(rb, ub) : FD_OK;
}

/* Deletes every key of the old prefix but the pointer: two passes, the second for what an
 * instance still finishing a batch on the old prefix wrote meanwhile. */
static fd_err_t delete_old(rb_t *rb) {
    unlink_batch_t *ub = xcalloc(1, sizeof *ub);
    size_t pn = fd_keys_single(NULL, 0, rb->base, FD_KEY_CURRENT);
    ub->pointer = xcalloc(pn + 1, 1);
    fd_keys_single(ub->pointer, pn + 1, rb->base, FD_KEY_CURRENT);
    fd_err_t err = FD_OK;
    for (int pass = 0; pass < 2 && err == FD_OK && !live_stopped(); pass++) {
        err = scan_prefix(rb, rb->old, unlink_one, ub);
        if (err == FD_OK) err = unlink_flush(rb, ub);
        if (pass == 0 && err == FD_OK) live_sleep(1.0);
    }
    for (size_t i = 0; i < ub->n; i++)
        free(ub->keys[i]);
    if (err == FD_OK && live_stopped())
        err = ctl_fail(FD_ERR_IO,
                       "deleting the old prefix %s interrupted after %zu keys: the switch to %s "
                       "is done; delete the rest of %s:* by hand",
                       rb->old, ub->deleted, rb->to, rb->old);
    else if (err == FD_OK) {
        char extra[64];
        snprintf(extra, sizeof extra, "\"keys\": %zu", ub->deleted);
        step(rb, "deleted", extra, "deleted %zu keys of the old prefix %s", ub->deleted, rb->old);
    }
    free(ub->pointer);
    free(ub);
    return err;
}

/* ---- the command ---- */

static fd_err_t interrupted(rb_t *rb) {
    if (rb->tty && !rb->ctl->json) printf("\n");
    fflush(stdout);
    bool clean = stop_child(rb);
    return ctl_fail(FD_ERR_IO,
                    "rebuild interrupted%s: %s:current still names %s; %s holds a partial rebuild "
                    "(delete its keys before trying again)",
                    clean ? "" : " (its funneld did not stop cleanly)", rb->base, rb->old, rb->to);
}

fd_err_t cmd_rebuild(ctl_t *ctl) {
    rb_t rb = {.ctl = ctl, .to = ctl->to};
    if (!fd_current_is_prefix(rb.to))
        return ctl_fail(FD_ERR_INVAL,
                        "--to expects a prefix of 1..64 characters of A-Z a-z 0-9 . _ -, found "
                        "'%s'",
                        rb.to);
    fd_err_t err = redis_open(ctl);
    if (err != FD_OK) return err;
    if (ctl->base == NULL) /* the pointer could not be read: an error reply (NOAUTH...) */
        return ctl_fail(FD_ERR_REDIS, "Redis at %s: %s", fd_redis_address(ctl->redis),
                        fd_redis_errstr(ctl->redis));
    rb.old = ctl->cfg.prefix;
    rb.base = ctl->base;
    if (strcmp(rb.to, rb.old) == 0)
        return ctl_fail(FD_ERR_INVAL, "%s is already the active prefix", rb.to);
    /* the target must hold nothing at all: any key NEW:* */
    char *found = NULL;
    err = scan_prefix(&rb, rb.to, first_key, &found);
    if (err != FD_OK && err != FD_ERR_FULL) return err;
    if (found != NULL) {
        err = ctl_fail(FD_ERR_INVAL,
                       "target prefix %s is not empty (it holds %s, among others perhaps): "
                       "choose another prefix or delete its keys",
                       rb.to, found);
        free(found);
        return err;
    }
    if ((err = read_ends(&rb)) != FD_OK) goto out;
    rb.tty = isatty(STDOUT_FILENO) && !ctl->json;
    live_catch_signals();
    step(&rb, "started", NULL, "rebuilding %s into %s: %" PRId64 " events in %zu partitions",
         rb.old, rb.to, rb.total, rb.nparts);
    if ((err = start_child(&rb)) != FD_OK) goto out;
    rb.start_s = rb.last_s = now_s();

    for (;;) {
        if (live_stopped()) {
            err = interrupted(&rb);
            goto out;
        }
        int status = 0;
        if (child_exited(&rb, &status)) {
            char how[64];
            describe_status(status, how, sizeof how);
            err = ctl_fail(FD_ERR_IO,
                           "the rebuild's funneld ended (%s) before the rebuild was complete: "
                           "%s:current still names %s",
                           how, rb.base, rb.old);
            goto out;
        }
        if ((err = read_progress(&rb)) != FD_OK) goto out;
        print_progress(&rb);
        if (caught_up(&rb)) break;
        live_sleep(1.0);
    }

    step(&rb, "stopping", NULL,
         "every partition reached its end offset: stopping the rebuild's "
         "funneld");
    if (!stop_child(&rb)) {
        err = ctl_fail(FD_ERR_IO,
                       "the rebuild's funneld did not stop cleanly: %s:current still "
                       "names %s",
                       rb.base, rb.old);
        goto out;
    }
    if (live_stopped()) {
        err = interrupted(&rb);
        goto out;
    }
    size_t copied = 0;
    if ((err = scan_prefix(&rb, rb.old, copy_one, &copied)) != FD_OK) goto out;
    char extra[64];
    snprintf(extra, sizeof extra, "\"keys\": %zu", copied);
    step(&rb, "copied", extra, "copied %zu keys of alert and scorecard state from %s", copied,
         rb.old);
    if (fd_current_write(ctl->redis, rb.base, rb.to) != FD_OK) {
        char *what = xasprintf("SET %s:%s", rb.base, FD_KEY_CURRENT);
        err = redis_lost(ctl, what);
        free(what);
        goto out;
    }
    step(&rb, "switched", NULL, "switched: %s:current = %s (was %s)", rb.base, rb.to, rb.old);
    if (ctl->delete_old) {
        live_sleep(DELETE_GRACE_S);
        err = delete_old(&rb);
    }

out:
    if (rb.child > 0) stop_child(&rb);
    for (size_t i = 0; i < rb.nparts; i++)
        free(rb.parts[i].key);
    free(rb.parts);
    return ctl_finish_output(err);
}
