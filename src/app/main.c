// SPDX-License-Identifier: MIT
// funneld: command line, configuration precedence, signals and exit codes (layer 5).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"
#include "base/log.h"
#include "app/ops.h"
#include "app/service.h"

extern char **environ;

static volatile sig_atomic_t stop_signals = 0;
static volatile sig_atomic_t reload_signals = 0; /* SIGHUP: load targets.file again */

static void on_signal(int sig) {
    (void)sig;
    if (stop_signals < 2) stop_signals++;
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

int main(int argc, char **argv) {
    char errstr[512] = "";
    fd_config_t cfg;
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

    fd_service_t *svc = NULL;
    if (fd_service_new(&cfg, &svc, errstr, sizeof errstr) != FD_OK) goto bad_config;
    if (check) {
        /* everything start-up checks has been checked; nothing was consumed or written */
        fd_service_destroy(svc);
        printf("funneld: configuration OK\n");
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
    fd_service_watch_reload(svc, &reload_signals);

    /* The operator endpoints serve from their own threads while the loop runs; they are
     * joined before the service (whose metrics they read) is destroyed. */
    fd_ops_t *ops = NULL;
    if (fd_ops_start(&cfg, fd_service_metrics(svc), &ops, errstr, sizeof errstr) != FD_OK) {
        fd_log_error("main", "http.listen: %s", errstr);
        fd_service_destroy(svc);
        rc = 1;
        goto out;
    }
    fd_err_t err = fd_service_run(svc, &stop_signals);
    fd_ops_stop(ops);
    fd_service_destroy(svc);
    rc = err == FD_OK ? 0 : 1;
    fd_log_info("main", "exit %d (%s)", rc, fd_strerror(err));
    goto out;

bad_config:
    fprintf(stderr, "funneld: configuration error: %s\n", errstr);
    rc = 2;
out:
    fd_config_clear(&cfg);
    free(sets);
    return rc;
}
