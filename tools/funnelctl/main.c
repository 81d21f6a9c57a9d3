// SPDX-License-Identifier: MIT
// funnelctl: reads the funnel metrics, the partitions' offsets, the stats and the alerts that
// funneld keeps in Redis, with funneld's settings (a tool above the layers: io/redis, io/kafka).
//
//   funnelctl [--config FILE] [--set NAME=VALUE]... <command> [options]
//   commands: show rep <id> | show team <id> | show org, reps, teams, top, offsets, stats,
//             alerts, rules check [file], watch rep <id> | team <id> | org, feeds, board,
//             scorecard, ranking, rebuild --to NEW, help
//
// Exit codes: 0 ok, 1 runtime error (Redis or Kafka unreachable or failing, no data), 2 usage or
// configuration error. Redis layout: docs/redis.md; the commands: docs/funnelctl.md.
//
// The files: args.c (command table, options, settings), redis.c (reading Redis), table.c
// (aligned tables), hash.c (a metrics hash as a table or JSON), one file per command (show.c,
// list.c, top.c, offsets.c, stats.c, alerts.c, rules.c, watch.c, feeds.c, board.c,
// rebuild.c), util.c
// (messages, output helpers).
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int main(int argc, char **argv) {
    ctl_t ctl;
    memset(&ctl, 0, sizeof ctl);
    const char *config_path = getenv("FUNNELD_CONFIG");
    bool done = false;
    /* hiredis writes with write(2): a connection Redis closed must not kill us with SIGPIPE;
     * a closed stdout shows up as a write error instead (ctl_finish_output). */
    signal(SIGPIPE, SIG_IGN);

    if (fd_config_init(&ctl.cfg) != FD_OK)
        return ctl_exit_status(ctl_fail(FD_ERR_NOMEM, "out of memory"));
    fd_err_t err = ctl_parse_args(&ctl, argc, argv, &config_path, &done);
    ctl.argc = argc;
    ctl.argv = argv;
    ctl.config_path = config_path;
    if (err == FD_OK && !done) err = ctl_load_settings(&ctl, argc, argv, config_path);
    if (err == FD_OK && !done) err = ctl.cmd->run(&ctl);
    redis_close(&ctl);
    fd_timewin_destroy(ctl.tw);
    fd_funnel_destroy(ctl.fn);
    fd_config_clear(&ctl.cfg);
    free(ctl.base);
    return ctl_exit_status(err);
}
