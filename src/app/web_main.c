// SPDX-License-Identifier: MIT
// funnel-web: command line, configuration (the same as funneld's), signals and exit codes
// (layer 5).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/web.h"
#include "base/log.h"
#include "model/config.h"

extern char **environ;

static volatile sig_atomic_t stop_signals = 0;

static void on_signal(int sig) {
    (void)sig;
    stop_signals = 1;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: funnel-web [--config FILE] [--set NAME=VALUE]... [--check] [--help]\n"
            "\n"
            "Serves the sales dashboard (/), the JSON API (/api/v1/...) and its event stream\n"
            "(/api/v1/stream) on web.listen, reading the metrics funneld keeps in Redis\n"
            "(docs/http.md). Settings as funneld's: the defaults, then FILE (or $FUNNELD_CONFIG),\n"
            "then FUNNELD_* environment variables, then --set flags. SIGINT/SIGTERM stop.\n"
            "Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration or usage.\n"
            "\n"
            "  --config FILE        JSON settings file (docs/configuration.md)\n"
            "  --set NAME=VALUE     one setting, e.g. --set web.listen=127.0.0.1:8080\n"
            "  --check              check the settings and Redis's credentials, then exit\n"
            "  --help               this text and the settings reference\n"
            "\nSettings:\n");
}

int main(int argc, char **argv) {
    char errstr[512] = "";
    fd_config_t cfg;
    int rc = 2;
    const char *config_path = getenv("FUNNELD_CONFIG");
    bool check = false;
    fd_web_t *w = NULL;
    const char **sets = calloc((size_t)argc, sizeof *sets); /* the --set values, in order */
    size_t nsets = 0;

    if (sets == NULL || fd_config_init(&cfg) != FD_OK) {
        fprintf(stderr, "funnel-web: out of memory\n");
        free(sets);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            fd_config_print_reference(stdout, false);
            fd_config_clear(&cfg);
            free(sets);
            return 0;
        } else if (fd_config_take_arg(argc, argv, &i, &config_path, sets, &nsets)) {
            continue;
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else {
            fprintf(stderr, "funnel-web: unknown or incomplete argument '%s'\n", argv[i]);
            usage(stderr);
            goto out;
        }
    }
    if (fd_config_load_layers(&cfg, config_path, environ, sets, nsets, &fd_log_level, errstr,
                              sizeof errstr) != FD_OK)
        goto bad_config;
    if (fd_web_new(&cfg, &w, errstr, sizeof errstr) != FD_OK) goto bad_config;
    signal(SIGPIPE, SIG_IGN);
    fd_err_t err = fd_web_check_redis(w, errstr, sizeof errstr);
    if (err == FD_ERR_CONFIG) goto bad_config;
    if (err != FD_OK) fd_log_warn("web", "redis: %s (the API answers 503 until it does)", errstr);
    if (check) {
        printf("funnel-web: configuration OK\n");
        rc = 0;
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    err = fd_web_run(w, &stop_signals, errstr, sizeof errstr);
    if (err != FD_OK) {
        fprintf(stderr, "funnel-web: %s\n", errstr);
        rc = err == FD_ERR_CONFIG ? 2 : 1;
        goto out;
    }
    rc = 0;
    fd_log_info("main", "exit 0");
    goto out;

bad_config:
    fprintf(stderr, "funnel-web: configuration error: %s\n", errstr);
    rc = 2;
out:
    fd_web_destroy(w);
    fd_config_clear(&cfg);
    free(sets);
    return rc;
}
