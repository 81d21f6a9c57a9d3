// SPDX-License-Identifier: MIT
// funnelctl's command line: the command table with each command's help, the option parser,
// the settings (loaded as funneld loads them) and the default window (a tool).
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

extern char **environ;

static const command_t commands[] = {
    {"show", OPT_WINDOW | OPT_JSON, 1, 2, "show rep <id> | show team <id> | show org",
     "Prints one metrics hash: per stage entered, advanced, conv (advanced/entered), moved_on,\n"
     "lost_at, exit_conv (moved_on/(moved_on+lost_at)) and dwell_hours, then won, lost, win_rate,\n"
     "won_amount, activities per kind, feedback count and average, complaints and events.\n"
     "A counter absent from the hash is 0; a rate or average shown as '-' has a zero denominator.\n"
     "Rates are shown as percentages in the table and as stored (0.5000) in --json.\n"
     "\n"
     "  --window ID   all, day:YYYY-MM-DD, week:YYYY-Www, month:YYYY-MM or quarter:YYYY-Qn\n"
     "                (default: today in funnel.timezone)\n"
     "  --json        one JSON object with every field of the hash: numbers as stored, as JSON\n"
     "                numbers\n"
     "\n"
     "Exit 1 when the hash does not exist (no metrics for that id in that window).\n",
     cmd_show},
    {"reps", OPT_WINDOW | OPT_JSON, 0, 0, "reps",
     "Lists the ids of the reps that have metrics in the window, sorted, one a line.\n"
     "\n"
     "  --window ID   as for show (default: today in funnel.timezone)\n"
     "  --json        a JSON array of strings\n"
     "\n"
     "Exit 1 when no rep has metrics in the window.\n",
     cmd_reps},
    {"teams", OPT_WINDOW | OPT_JSON, 0, 0, "teams",
     "Lists the ids of the teams that have metrics in the window, sorted, one a line.\n"
     "\n"
     "  --window ID   as for show (default: today in funnel.timezone)\n"
     "  --json        a JSON array of strings\n"
     "\n"
     "Exit 1 when no team has metrics in the window.\n",
     cmd_teams},
    {"top", OPT_WINDOW | OPT_JSON | OPT_BY | OPT_LIMIT | OPT_INTERVAL | OPT_ONCE, 0, 0, "top",
     "The live leaderboard of the reps of a window: rank, rep, entered per stage (the last\n"
     "stage's column is 'won'), win_rate, won_amount and events, best first, redrawn in place\n"
     "every interval until Ctrl-C. Reads every rep hash of the window at each refresh.\n"
     "\n"
     "  --window ID     as for show (default: today in funnel.timezone, followed across midnight)\n"
     "  --by KEY        won_amount (default), won, win_rate, entered:<stage> or\n"
     "                  exit_conv:<stage>; ties by rep id; reps without the rate come last\n"
     "  --limit N       rows to show (default 20, 0 = all)\n"
     "  --interval S    seconds between refreshes (default 2, 0.1 to 3600)\n"
     "  --once          print the table once and exit (for scripts)\n"
     "  --json          print once, as a JSON array of objects (\"rep\" and every field)\n"
     "\n"
     "With --once or --json, exit 1 when no rep has metrics in the window.\n",
     cmd_top},
    {"board", OPT_WINDOW | OPT_LIMIT | OPT_INTERVAL | OPT_ONCE | OPT_URL, 0, 0, "board",
     "A sales manager's view that fits an 80x24 terminal, redrawn in place every interval until\n"
     "Ctrl-C: the dashboard's address (--url), the org funnel of the window (per stage the deals\n"
     "that entered it, Conversion % = the share of them that got further, the deals lost there,\n"
     "the average days in the stage), the win rate and the amount won, the top reps by amount\n"
     "won (team, deals won, amount, win rate), the alerts firing now (rep, manager, KPI, value\n"
     "against its bound, since when) and whether the feed is live, idle, behind or stalled,\n"
     "with the time of the last update. Long ids are cut with an ellipsis; at most 22 lines of\n"
     "at most 80 columns (East Asian wide characters count 2).\n"
     "\n"
     "  --window ID     as for show (default: today in funnel.timezone)\n"
     "  --url URL       the dashboard's address, shown on the first line\n"
     "  --limit N       top reps to show (default 5; fewer when alerts need the lines)\n"
     "  --interval S    seconds between refreshes (default 2, 0.1 to 3600)\n"
     "  --once          print the board once and exit (for scripts)\n"
     "\n"
     "Exit 1 when Redis cannot be read (--once); live, it retries every interval.\n",
     cmd_board},
    {"offsets", OPT_JSON, 0, 0, "offsets",
     "Per partition of kafka.topics: the next offset stored in Redis (what funneld has applied),\n"
     "the committed offset of kafka.group_id (informational: Redis holds the truth), the log end,\n"
     "lag = log end - Redis next (log end - log start when Redis has no offset yet), the claim\n"
     "epoch and the instance owning the partition (from its fencing token). Reads the group's\n"
     "offsets without joining the group. Kafka requests time out after 5 s.\n"
     "\n"
     "  --json        a JSON array of objects, one per partition (null where unknown)\n",
     cmd_offsets},
    {"stats", OPT_JSON, 0, 0, "stats",
     "Prints the <prefix>:stats hash: accepted, duplicates, rejected and rejected:<reason>,\n"
     "beyond_retention, ignored, batches (absent counters are 0).\n"
     "\n"
     "  --json        one JSON object with every field as stored\n"
     "\n"
     "Exit 1 when the hash does not exist (funneld has applied nothing with this prefix).\n",
     cmd_stats},
    {"alerts", OPT_JSON | OPT_HISTORY, 0, 0, "alerts",
     "The alerts firing now (<prefix>:alerts:firing, written by funneld's evaluator): severity,\n"
     "rule, scope and id, manager, KPI, its value against the threshold, the pace's expectation\n"
     "or the baseline, and since when it fires; critical first, then the oldest first.\n"
     "\n"
     "  --history N   instead, the last N notifications of the stream <prefix>:alerts (firing,\n"
     "                repeats and resolved), newest first (N in [1, 10000])\n"
     "  --json        a JSON array of the stored alert documents (docs/alerts.md)\n"
     "\n"
     "Prints \"no firing alerts\" (exit 0) when none fires.\n",
     cmd_alerts},
    {"rules", 0, 1, 2, "rules check [file]",
     "Checks a rules file (default: the alerts.rules setting) against the funnel of the\n"
     "settings (funnel.stages, funnel.activities) and prints each rule in words. Reads no\n"
     "Redis. Exit 2 with the problem (the rule and field) when the file is not valid.\n",
     cmd_rules},
    {"targets", 0, 1, 2, "targets check [file]",
     "Checks a targets file (default: the targets.file setting) and the CSV it names against\n"
     "the funnel of the settings, and prints a summary: rows, clock, periods, the scorecard's\n"
     "KPIs with weights, directions and scoring rules, and the grades. Reads no Redis. Exit 2\n"
     "with the problem (the file, the row or key) when the file is not valid.\n",
     cmd_targets},
    {"watch", OPT_WINDOW | OPT_JSON, 1, 2, "watch rep <id> | watch team <id> | watch org",
     "Follows one metrics hash through the change feed <prefix>:changes (docs/feeds.md): prints\n"
     "the funnel as show does, again each time it changes, with a status line: live (changes\n"
     "arrive), idle (only heartbeats, no lag), behind (heartbeats report lag, changes arrive),\n"
     "stalled (no entry for 3 heartbeat intervals, or lag without changes), disconnected (Redis\n"
     "unreachable), the event-time watermark (UTC), the last update and the stream id. Resumes\n"
     "by itself: a Redis restart or disconnect (retrying every 0.1 s doubling to 2 s) and a\n"
     "stream trimmed past its position or recreated each take a new snapshot. Runs until Ctrl-C\n"
     "or SIGTERM (exit 0). Needs funneld's feeds.changes (on by default).\n"
     "\n"
     "  --window ID   as for show (default: today in funnel.timezone, followed across midnight)\n"
     "  --json        one JSON object a line: {\"event\": \"snapshot\"|\"change\"|\"status\",\n"
     "                \"key\", \"stream_id\", \"status\", \"watermark_ms\", \"updated_ms\",\n"
     "                \"fields\" (snapshot, change: every field as stored, as strings), "
     "\"reason\"\n"
     "                (snapshot), \"error\" (disconnected)} (docs/funnelctl.md)\n"
     "\n"
     "On a terminal the funnel is redrawn in place; otherwise a block is printed per change and a\n"
     "line per status change. Exit 1 when Redis refuses the credentials or the commands.\n",
     cmd_watch},
    {"feeds", OPT_JSON, 0, 0, "feeds",
     "The state of the feeds (docs/feeds.md): the change feed <prefix>:changes (entries, the\n"
     "last one and its age, the event-time watermark, the latest heartbeat of each instance\n"
     "among the last 200 entries with its partitions' lag) and the metrics publisher (the lease\n"
     "holder, the position its last round covered and how far behind the feed it is, rows\n"
     "published, snapshots, hashes waiting for the next round, a round in progress).\n"
     "\n"
     "  --json        one JSON object: {\"changes\", \"heartbeats\", \"publisher\"}\n",
     cmd_feeds},
    {"scorecard", OPT_PERIOD | OPT_JSON, 2, 2, "scorecard rep <id> | scorecard team <id>",
     "The scorecard of a rep or a team for a period, as funneld's scorer keeps it\n"
     "(<prefix>:score:<scope>:<period>:<id>, docs/scorecards.md): state, score, grade and ranks,\n"
     "then per KPI of the definition the value, target and where it comes from, what the pace\n"
     "expects by now, attainment, points, weight (and the weight used once KPIs without a\n"
     "target or data are left out), weighted points and status, the metric fields each value\n"
     "was summed from, and after the period went final the adjustments later events made.\n"
     "\n"
     "  --period P    month:YYYY-MM, quarter:YYYY-Qn, year:YYYY, or month, quarter, year for the\n"
     "                current one in funnel.timezone (default month)\n"
     "  --json        one JSON object, as GET /api/v1/scorecard answers (docs/http.md)\n"
     "\n"
     "Exit 1 when there is no scorecard for that id and period.\n",
     cmd_scorecard},
    {"ranking", OPT_PERIOD | OPT_TEAM | OPT_SCOPE | OPT_LIMIT | OPT_JSON, 0, 0, "ranking",
     "The ranking of a period (<prefix>:rank:<period>:...): rank, id, score, grade, team and\n"
     "state of each scorecard, best first (ties by id).\n"
     "\n"
     "  --scope S     rep (default) or team\n"
     "  --team T      only the reps of team T (scope rep)\n"
     "  --period P    as for scorecard (default: the current month)\n"
     "  --limit N     rows to show (default 20, 0 = all)\n"
     "  --json        one JSON object, as GET /api/v1/ranking answers\n"
     "\n"
     "Prints \"no scorecards ranked in <period>\" (exit 0) when the ranking is empty.\n",
     cmd_ranking},
    {"rebuild", OPT_TO | OPT_FUNNELD | OPT_DELETE_OLD | OPT_JSON, 0, 0, "rebuild --to NEW",
     "Rebuilds the metrics into the empty prefix NEW from the earliest offsets Kafka holds,\n"
     "beside the live instances, then switches every reader and funneld to it in one step\n"
     "(docs/operations.md, \"Rebuilding\"). It refuses a target prefix that holds any key\n"
     "(NEW:*), starts a funneld with redis.prefix=NEW, redis.follow_current=off, its own\n"
     "consumer group (<kafka.group_id>.rebuild.NEW), kafka.start_from=earliest, no alerts, no\n"
     "metrics topic, no scorer and no HTTP, and records each partition's end offset. It shows\n"
     "the progress every second (events applied / total, events/s, ETA, the lag of each\n"
     "partition): a bar on a terminal, a line otherwise. Once every partition's next offset in\n"
     "NEW reached its end offset it stops that funneld, copies the state a rebuild does not\n"
     "recompute (alert states, clock, firing, outbox and stream; scorecards, adjustments,\n"
     "rankings, the scorer's state) from the active prefix with COPY, and sets\n"
     "<redis.prefix>:current to NEW: funnelctl, funnel-web and every funneld following the\n"
     "pointer read and write NEW from then on (within about a second).\n"
     "\n"
     "  --to NEW       the target prefix (1..64 characters of A-Z a-z 0-9 . _ -)\n"
     "  --delete-old   then delete every key of the old prefix (SCAN, UNLINK in batches),\n"
     "                never <redis.prefix>:current\n"
     "  --funneld PATH the funneld to run (default: the one beside funnelctl, else $PATH)\n"
     "  --json         progress and steps as JSON lines: {\"event\": \"progress\", \"applied\",\n"
     "                \"total\", \"rate\", \"eta\", \"partitions\": [{\"topic\", \"partition\",\n"
     "                \"next\", \"end\", \"lag\"}]}, then \"stopping\", \"copied\", \"switched\",\n"
     "                \"deleted\" (docs/funnelctl.md)\n"
     "\n"
     "Ctrl-C or SIGTERM stops the rebuild's funneld and leaves the pointer as it was (NEW then\n"
     "holds a partial rebuild: delete its keys before trying again). Exit 2 when NEW is not\n"
     "empty or not a valid prefix, 1 when the rebuild's funneld fails or Redis or Kafka do.\n",
     cmd_rebuild},
    {"help", 0, 0, 1, "help [command]", "Prints the usage, or the help of one command.\n", NULL},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
    fprintf(out, "usage: funnelctl [--config FILE] [--set NAME=VALUE]... <command> [options]\n"
                 "\n"
                 "Reads the funnel metrics, offsets and stats that funneld keeps in Redis.\n"
                 "\n"
                 "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  funnelctl %s\n", commands[i].synopsis);
    fprintf(out,
            "\n"
            "Settings are funneld's (redis.*, redis.prefix, funnel.timezone, funnel.stages,\n"
            "funnel.activities, kafka.* for offsets), from the defaults, then FILE (or\n"
            "$FUNNELD_CONFIG), then FUNNELD_* environment variables, then --set flags; `funneld\n"
            "--help` lists them. `funnelctl <command> --help` describes a command.\n"
            "Exit codes: 0 ok, 1 runtime error (Redis or Kafka unreachable, no data), 2 usage or\n"
            "configuration error.\n");
}

static void command_help(FILE *out, const command_t *cmd) {
    fprintf(out, "usage: funnelctl [--config FILE] [--set NAME=VALUE]... %s", cmd->synopsis);
    if (cmd->opts & OPT_DELETE_OLD) fprintf(out, " [--delete-old]");
    if (cmd->opts & OPT_FUNNELD) fprintf(out, " [--funneld PATH]");
    if (cmd->opts & OPT_WINDOW) fprintf(out, " [--window ID]");
    if (cmd->opts & OPT_URL) fprintf(out, " [--url URL]");
    if (cmd->opts & OPT_SCOPE) fprintf(out, " [--scope rep|team]");
    if (cmd->opts & OPT_TEAM) fprintf(out, " [--team T]");
    if (cmd->opts & OPT_PERIOD) fprintf(out, " [--period P]");
    if (cmd->opts & OPT_BY) fprintf(out, " [--by KEY]");
    if (cmd->opts & OPT_LIMIT) fprintf(out, " [--limit N]");
    if (cmd->opts & OPT_INTERVAL) fprintf(out, " [--interval S]");
    if (cmd->opts & OPT_ONCE) fprintf(out, " [--once]");
    if (cmd->opts & OPT_HISTORY) fprintf(out, " [--history N]");
    if (cmd->opts & OPT_JSON) fprintf(out, " [--json]");
    fprintf(out, "\n\n%s", cmd->help);
}

static const command_t *find_command(const char *name) {
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

/* Returns the value of an option "--name VALUE" or "--name=VALUE" at argv[*i] (advancing *i), or
 * NULL when argv[*i] is not that option. *missing is set when the value is absent. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, bool *missing) {
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0) return NULL;
    if (argv[*i][len] == '=') return argv[*i] + len + 1;
    if (argv[*i][len] != '\0') return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* Whether text is a whole decimal integer in [min, max]; *out gets it (untouched otherwise). */
static bool parse_long(const char *text, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

fd_err_t ctl_parse_args(ctl_t *ctl, int argc, char **argv, const char **config_path, bool *done) {
    bool help = false;
    *done = false;
    unsigned used = 0;
    const char *name = NULL;
    const char *limit_text = NULL, *interval_text = NULL, *history_text = NULL;
    ctl->limit = 20;
    ctl->interval = 2.0;
    bool options = true; /* false after "--": the rest are arguments (an id like "-x") */
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        if (options && strcmp(argv[i], "--") == 0) {
            options = false;
            continue;
        }
        if (!options || argv[i][0] != '-' || argv[i][1] == '\0') {
            if (name == NULL)
                name = argv[i];
            else if (ctl->nargs < CTL_MAX_ARGS)
                ctl->args[ctl->nargs++] = argv[i];
            else
                return ctl_fail(FD_ERR_INVAL, "too many arguments");
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help = true;
        } else if ((v = opt_value(argc, argv, &i, "--config", &missing)) != NULL) {
            *config_path = v;
        } else if ((v = opt_value(argc, argv, &i, "--set", &missing)) != NULL) {
            /* applied after the file and the environment, in main */
        } else if ((v = opt_value(argc, argv, &i, "--window", &missing)) != NULL) {
            ctl->window = v;
            used |= OPT_WINDOW;
        } else if ((v = opt_value(argc, argv, &i, "--by", &missing)) != NULL) {
            ctl->by = v;
            used |= OPT_BY;
        } else if ((v = opt_value(argc, argv, &i, "--limit", &missing)) != NULL) {
            limit_text = v;
            used |= OPT_LIMIT;
        } else if ((v = opt_value(argc, argv, &i, "--interval", &missing)) != NULL) {
            interval_text = v;
            used |= OPT_INTERVAL;
        } else if ((v = opt_value(argc, argv, &i, "--url", &missing)) != NULL) {
            ctl->url = v;
            used |= OPT_URL;
        } else if ((v = opt_value(argc, argv, &i, "--period", &missing)) != NULL) {
            ctl->period = v;
            used |= OPT_PERIOD;
        } else if ((v = opt_value(argc, argv, &i, "--team", &missing)) != NULL) {
            ctl->team = v;
            used |= OPT_TEAM;
        } else if ((v = opt_value(argc, argv, &i, "--scope", &missing)) != NULL) {
            ctl->scope = v;
            used |= OPT_SCOPE;
        } else if ((v = opt_value(argc, argv, &i, "--history", &missing)) != NULL) {
            history_text = v;
            used |= OPT_HISTORY;
        } else if ((v = opt_value(argc, argv, &i, "--to", &missing)) != NULL) {
            ctl->to = v;
            used |= OPT_TO;
        } else if ((v = opt_value(argc, argv, &i, "--funneld", &missing)) != NULL) {
            ctl->funneld = v;
            used |= OPT_FUNNELD;
        } else if (strcmp(argv[i], "--delete-old") == 0) {
            ctl->delete_old = true;
            used |= OPT_DELETE_OLD;
        } else if (strcmp(argv[i], "--json") == 0) {
            ctl->json = true;
            used |= OPT_JSON;
        } else if (strcmp(argv[i], "--once") == 0) {
            ctl->once = true;
            used |= OPT_ONCE;
        } else if (!missing) {
            return ctl_fail(FD_ERR_INVAL,
                            "unknown option '%s' (funnelctl --help lists the commands)", argv[i]);
        }
        if (missing) return ctl_fail(FD_ERR_INVAL, "option %s expects a value", argv[i]);
    }
    if (name == NULL) {
        usage(help ? stdout : stderr);
        *done = help;
        return help ? FD_OK : FD_ERR_INVAL;
    }
    ctl->cmd = find_command(name);
    if (ctl->cmd == NULL) {
        ctl_fail(FD_ERR_INVAL, "unknown command '%s'", name);
        usage(stderr);
        return FD_ERR_INVAL;
    }
    if (strcmp(name, "help") == 0 && ctl->nargs == 1) {
        const command_t *c = find_command(ctl->args[0]);
        if (c == NULL) return ctl_fail(FD_ERR_INVAL, "unknown command '%s'", ctl->args[0]);
        command_help(stdout, c);
        *done = true;
        return FD_OK;
    }
    if (help) {
        command_help(stdout, ctl->cmd);
        *done = true;
        return FD_OK;
    }
    if (strcmp(name, "help") == 0) {
        usage(stdout);
        *done = true;
        return FD_OK;
    }
    unsigned stray = used & ~ctl->cmd->opts;
    if (stray) {
        static const char *const names[] = {
            "--window", "--json",   "--by",   "--limit", "--interval", "--once",    "--history",
            "--url",    "--period", "--team", "--scope", "--to",       "--funneld", "--delete-old"};
        for (size_t b = 0; b < sizeof names / sizeof names[0]; b++)
            if (stray & (1u << b))
                return ctl_fail(FD_ERR_INVAL,
                                "option %s does not apply to '%s' (funnelctl %s --help)", names[b],
                                name, name);
    }
    if (ctl->nargs < ctl->cmd->min_args || ctl->nargs > ctl->cmd->max_args) {
        ctl_fail(FD_ERR_INVAL, "wrong number of arguments for '%s'", name);
        command_help(stderr, ctl->cmd);
        return FD_ERR_INVAL;
    }
    ctl->limit_given = limit_text != NULL;
    if (limit_text && !parse_long(limit_text, 0, 1000000, &ctl->limit))
        return ctl_fail(FD_ERR_INVAL, "--limit expects an integer in [0, 1000000], found '%s'",
                        limit_text);
    if (history_text && !parse_long(history_text, 1, 10000, &ctl->history))
        return ctl_fail(FD_ERR_INVAL, "--history expects an integer in [1, 10000], found '%s'",
                        history_text);
    if (strcmp(name, "rules") == 0 && strcmp(ctl->args[0], "check") != 0) {
        ctl_fail(FD_ERR_INVAL, "unknown rules subcommand '%s' (expected 'check')", ctl->args[0]);
        command_help(stderr, ctl->cmd);
        return FD_ERR_INVAL;
    }
    if (strcmp(name, "targets") == 0 && strcmp(ctl->args[0], "check") != 0) {
        ctl_fail(FD_ERR_INVAL, "unknown targets subcommand '%s' (expected 'check')", ctl->args[0]);
        command_help(stderr, ctl->cmd);
        return FD_ERR_INVAL;
    }
    if (interval_text) {
        char *end;
        errno = 0;
        double v = strtod(interval_text, &end);
        if (errno || end == interval_text || *end || !(v >= 0.1 && v <= 3600))
            return ctl_fail(FD_ERR_INVAL, "--interval expects seconds in [0.1, 3600], found '%s'",
                            interval_text);
        ctl->interval = v;
    }
    if (strcmp(name, "rebuild") == 0 && ctl->to == NULL)
        return ctl_fail(FD_ERR_INVAL, "rebuild expects --to NEW (the target prefix)");
    if (ctl->window && fd_timewin_check_id(ctl->window) != FD_OK)
        return ctl_fail(FD_ERR_INVAL,
                        "bad window id '%s': expected all, day:YYYY-MM-DD, week:YYYY-Www, "
                        "month:YYYY-MM or quarter:YYYY-Qn",
                        ctl->window);
    return FD_OK;
}

fd_err_t ctl_load_settings(ctl_t *ctl, int argc, char **argv, const char *config_path) {
    char errstr[512] = "";
    /* the --set values, in their order (ctl_parse_args has checked the command line) */
    const char **sets = calloc((size_t)argc, sizeof *sets);
    size_t nsets = 0;
    if (sets == NULL) return ctl_fail(FD_ERR_NOMEM, "out of memory");
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        bool missing = false;
        const char *v = opt_value(argc, argv, &i, "--set", &missing);
        if (v == NULL) {
            /* skip the value of the other options taking one */
            static const char *const with_value[] = {
                "--config", "--window", "--by",   "--limit", "--interval", "--history",
                "--url",    "--period", "--team", "--scope", "--to",       "--funneld"};
            for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
                if (strcmp(argv[i], with_value[k]) == 0) i++;
            continue;
        }
        sets[nsets++] = v;
    }
    fd_err_t err = fd_config_load_layers(&ctl->cfg, config_path, environ, sets, nsets, NULL, errstr,
                                         sizeof errstr);
    free(sets);
    if (err != FD_OK) goto bad;
    if (fd_funnel_new((const char *const *)ctl->cfg.stages.item, ctl->cfg.stages.count,
                      (const char *const *)ctl->cfg.activities.item, ctl->cfg.activities.count,
                      &ctl->fn, errstr, sizeof errstr) != FD_OK)
        goto bad;
    if (fd_timewin_new(ctl->cfg.timezone, &ctl->tw, errstr, sizeof errstr) != FD_OK) goto bad;
    return FD_OK;
bad:
    return ctl_fail(FD_ERR_CONFIG, "configuration error: %s", errstr);
}

void ctl_current_window(ctl_t *ctl, char *buf, size_t size) {
    if (ctl->window) {
        snprintf(buf, size, "%s", ctl->window);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fd_windows_t w;
    fd_timewin_of(ctl->tw, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &w);
    snprintf(buf, size, "%s", w.id[FD_WIN_DAY]);
}
