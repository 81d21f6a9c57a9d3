// SPDX-License-Identifier: MIT
// funneld: command line, configuration precedence, signals and exit codes (layer 5).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/config.h"
#include "base/log.h"
#include "app/ops.h"
#include "app/service.h"
#include "io/current.h"

extern char **environ;

static volatile sig_atomic_t stop_signals = 0;
/* What the service's loop reads: the signals, or 1 when it stops itself to switch prefixes. */
static volatile sig_atomic_t run_stop = 0;
static volatile sig_atomic_t reload_signals = 0; /* SIGHUP: load targets.file again */

static void on_signal(int sig) {
    (void)sig;
    if (stop_signals < 2) stop_signals++;
    run_stop = stop_signals;
}

static void on_hangup(int sig) {
    (void)sig;
    reload_signals = 1;
}

static void usage(FILE *out) {
    fprintf(
        out,
        "usage: funneld [--config FILE] [--set NAME=VALUE]... [--print-config | --check] [--help]\n"
        "\n"
        "Consumes CRM events from Kafka and keeps exactly-once funnel metrics in Redis.\n"
        "Settings come from the defaults, then FILE (or $FUNNELD_CONFIG), then FUNNELD_*\n"
        "environment variables, then --set flags. SIGINT/SIGTERM stop cleanly (a second one\n"
        "gives up waiting for an unreachable Redis); SIGHUP reloads targets.file. Exit\n"
        "codes: 0 clean stop, 1 runtime failure, 2 bad configuration or usage.\n"
        "\n"
        "  --config FILE        JSON settings file (docs/configuration.md)\n"
        "  --set NAME=VALUE     one setting, e.g. --set redis.port=6380 --set kafka.topics=a,b\n"
        "  --print-config       print the effective settings (secrets hidden) and exit\n"
        "  --check              check the settings as start-up does (time zone, alert rules,\n"
        "                       Kafka client settings, Redis credentials when Redis answers),\n"
        "                       without consuming; exit 0 when funneld would start\n"
        "  --help               this text and the settings reference\n"
        "\nSettings:\n");
}

/* Resolves <redis.prefix>:current into cfg->prefix (the base stays in *out, the watch the
 * service follows). Redis unreachable: retried with backoff until a stop signal (funneld must
 * not write to a prefix that is not the active one); with --check, or when Redis refuses the
 * credentials, one try, then the base (the service's start-up check reports it).
 * FD_ERR_NOMEM / FD_ERR_REDIS (stopped while waiting) / FD_ERR_CONFIG (Redis refused the GET),
 * logged. */
static fd_err_t follow_start(fd_config_t *cfg, bool check, fd_current_t **out) {
    fd_redis_opts_t opts = {.host = cfg->redis_host,
                            .port = (int)cfg->redis_port,
                            .user = cfg->redis_user,
                            .password = cfg->redis_password,
                            .db = (int)cfg->redis_db,
                            .timeout_ms = (int)cfg->redis_timeout_ms};
    fd_current_t *cur = NULL;
    if (fd_current_new(&opts, cfg->prefix, &cur) != FD_OK) {
        fd_log_error("main", "out of memory");
        return FD_ERR_NOMEM;
    }
    const char *active = NULL;
    int64_t wait_ms = 50;
    fd_err_t err;
    while ((err = fd_current_resolve(cur, &active)) == FD_ERR_REDIS) {
        if (check || fd_current_refused(cur)) {
            *out = cur;
            return FD_OK; /* the service's start-up check reports Redis */
        }
        fd_log_warn("main", "reading the active prefix (%s:current): %s; retrying in %lld ms",
                    cfg->prefix, fd_current_errstr(cur), (long long)wait_ms);
        for (int64_t t = 0; t < wait_ms && stop_signals == 0; t += 50) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (stop_signals != 0) {
            fd_current_destroy(cur);
            return FD_ERR_REDIS;
        }
        wait_ms = wait_ms * 2 > cfg->backoff_max_ms ? cfg->backoff_max_ms : wait_ms * 2;
    }
    if (err == FD_ERR_CONFIG && strstr(fd_current_errstr(cur), "NOAUTH") != NULL) {
        *out = cur; /* no redis.password: the service's start-up check says so */
        return FD_OK;
    }
    if (err == FD_ERR_CONFIG) {
        fd_log_error("main",
                     "redis.follow_current: %s (grant the user GET on it, or set "
                     "redis.follow_current=off)",
                     fd_current_errstr(cur));
        fd_current_destroy(cur);
        return FD_ERR_CONFIG;
    }
    if (err == FD_ERR_PARSE)
        fd_log_warn("main", "%s:current does not name a valid prefix: using %s", cfg->prefix,
                    cfg->prefix);
    if (strcmp(active, cfg->prefix) != 0) {
        char *prefix = strdup(active);
        if (prefix == NULL) {
            fd_current_destroy(cur);
            fd_log_error("main", "out of memory");
            return FD_ERR_NOMEM;
        }
        fd_log_info("main", "redis.prefix %s: the active prefix is %s (%s:current)", cfg->prefix,
                    prefix, cfg->prefix);
        free(cfg->prefix);
        cfg->prefix = prefix;
    }
    *out = cur;
    return FD_OK;
}

/* After http.listen with port 0 bound a free port, names that port in cfg, so that a service
 * started again on another prefix serves on the same one. */
static void pin_listen_port(fd_config_t *cfg, const fd_ops_t *ops) {
    char host[FD_LISTEN_HOST_MAX];
    int port;
    bool loopback;
    if (ops == NULL || !fd_config_listen(cfg->http_listen, host, sizeof host, &port, &loopback) ||
        port != 0)
        return;
    char buf[FD_LISTEN_HOST_MAX + 16];
    snprintf(buf, sizeof buf, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, fd_ops_port(ops));
    char *v = strdup(buf);
    if (v == NULL) return;
    free(cfg->http_listen);
    cfg->http_listen = v;
}

int main(int argc, char **argv) {
    char errstr[512] = "";
    fd_config_t cfg;
    fd_current_t *cur = NULL;
    int rc = 2;
    const char *config_path = getenv("FUNNELD_CONFIG");
    int print_config = 0, check = 0;
    const char **sets = calloc((size_t)argc, sizeof *sets); /* the --set values, in order */
    size_t nsets = 0;

    if (sets == NULL || fd_config_init(&cfg) != FD_OK) {
        fprintf(stderr, "funneld: out of memory\n");
        free(sets);
        return 1;
    }
    /* The options first: the file and the --set flags apply in their layers' order, whatever
     * the order of the flags. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            fd_config_print_reference(stdout, false);
            fd_config_clear(&cfg);
            free(sets);
            return 0;
        } else if (fd_config_take_arg(argc, argv, &i, &config_path, sets, &nsets)) {
            continue;
        } else if (strcmp(argv[i], "--print-config") == 0) {
            print_config = 1;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else {
            fprintf(stderr, "funneld: unknown or incomplete argument '%s'\n", argv[i]);
            usage(stderr);
            goto out;
        }
    }
    if (fd_config_load_layers(&cfg, config_path, environ, sets, nsets, &fd_log_level, errstr,
                              sizeof errstr) != FD_OK)
        goto bad_config;
    if (print_config) {
        fd_config_dump(&cfg, stdout);
        rc = 0;
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sa.sa_handler = on_hangup;
    sigaction(SIGHUP, &sa, NULL);

    /* The active prefix: <redis.prefix>:current when redis.follow_current is on (funnelctl
     * rebuild switches it); the service writes there and follows it. */
    if (fd_config_on(cfg.redis_follow_current)) {
        fd_err_t ferr = follow_start(&cfg, check, &cur);
        if (ferr != FD_OK) {
            rc = ferr == FD_ERR_CONFIG ? 2 : 1;
            goto out;
        }
    }

    fd_service_t *svc = NULL;
    if (fd_service_new(&cfg, &svc, errstr, sizeof errstr) != FD_OK) goto bad_config;
    if (check) {
        /* everything start-up checks has been checked; nothing was consumed or written */
        fd_service_destroy(svc);
        printf("funneld: configuration OK\n");
        rc = 0;
        goto out;
    }

    /* One service per active prefix: when the pointer moves, the service stops cleanly (the
     * pending batch applied) and a new one starts on the new prefix, in this process; its
     * claims continue from the offsets stored under the new prefix. */
    fd_err_t err = FD_OK;
    for (;;) {
        fd_service_watch_reload(svc, &reload_signals);
        fd_service_follow(svc, cur);
        /* The operator endpoints serve from their own threads while the loop runs; they are
         * joined before the service (whose metrics they read) is destroyed. */
        fd_ops_t *ops = NULL;
        if (fd_ops_start(&cfg, fd_service_metrics(svc), &ops, errstr, sizeof errstr) != FD_OK) {
            fd_log_error("main", "http.listen: %s", errstr);
            fd_service_destroy(svc);
            rc = 1;
            goto out;
        }
        pin_listen_port(&cfg, ops); /* port 0 chose one: keep it for the next service */
        err = fd_service_run(svc, &run_stop);
        fd_ops_stop(ops);
        fd_service_destroy(svc);
        svc = NULL;
        const char *to = cur != NULL ? fd_current_pending(cur) : NULL;
        if (err != FD_OK || stop_signals != 0 || to == NULL) break;
        char *prefix = strdup(to);
        if (prefix == NULL) {
            err = FD_ERR_NOMEM;
            break;
        }
        free(cfg.prefix);
        cfg.prefix = prefix;
        fd_current_adopt(cur);
        run_stop = stop_signals;
        fd_log_info("main", "restarting on prefix %s", cfg.prefix);
        if (fd_service_new(&cfg, &svc, errstr, sizeof errstr) != FD_OK) {
            fd_log_error("main", "cannot start on prefix %s: %s", cfg.prefix, errstr);
            err = FD_ERR_CONFIG;
            break;
        }
    }
    rc = err == FD_OK ? 0 : 1;
    fd_log_info("main", "exit %d (%s)", rc, fd_strerror(err));
    goto out;

bad_config:
    fprintf(stderr, "funneld: configuration error: %s\n", errstr);
    rc = 2;
out:
    fd_current_destroy(cur);
    fd_config_clear(&cfg);
    free(sets);
    return rc;
}
