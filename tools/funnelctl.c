// SPDX-License-Identifier: MIT
// funnelctl: reads the funnel metrics, the partitions' offsets and the stats that funneld keeps in
// Redis, with funneld's settings (a tool, outside the layers: it uses hiredis and librdkafka).
//
//   funnelctl [--config FILE] [--set NAME=VALUE]... <command> [options]
//   commands: show rep <id> | show team <id> | show org, reps, teams, top, offsets, stats,
//             alerts, rules check [file], help
//
// Exit codes: 0 ok, 1 runtime error (Redis or Kafka unreachable or failing, no data), 2 usage or
// configuration error. Redis layout: docs/redis.md; the commands: docs/funnelctl.md.
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "model/config.h"
#include "model/funnel.h"
#include "alerting/rules.h"
#include "model/timewin.h"

extern char **environ;

#define EXIT_RUNTIME     1
#define EXIT_USAGE       2
#define KAFKA_TIMEOUT_MS 5000
#define MAX_ARGS         8

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

/* ---------------------------------------------------------------------------------------------
 * Command line */

/* Options a command accepts (a bit each). */
enum {
    OPT_WINDOW = 1 << 0,
    OPT_JSON = 1 << 1,
    OPT_BY = 1 << 2,
    OPT_LIMIT = 1 << 3,
    OPT_INTERVAL = 1 << 4,
    OPT_ONCE = 1 << 5,
    OPT_HISTORY = 1 << 6,
};

typedef struct {
    const char *name;
    unsigned opts; /* OPT_* it accepts besides --config, --set, --help */
    int min_args;  /* positional arguments after the command name */
    int max_args;
    const char *synopsis;
    const char *help;
} command_t;

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
     "Exit 1 when the hash does not exist (no metrics for that id in that window).\n"},
    {"reps", OPT_WINDOW | OPT_JSON, 0, 0, "reps",
     "Lists the ids of the reps that have metrics in the window, sorted, one a line.\n"
     "\n"
     "  --window ID   as for show (default: today in funnel.timezone)\n"
     "  --json        a JSON array of strings\n"
     "\n"
     "Exit 1 when no rep has metrics in the window.\n"},
    {"teams", OPT_WINDOW | OPT_JSON, 0, 0, "teams",
     "Lists the ids of the teams that have metrics in the window, sorted, one a line.\n"
     "\n"
     "  --window ID   as for show (default: today in funnel.timezone)\n"
     "  --json        a JSON array of strings\n"
     "\n"
     "Exit 1 when no team has metrics in the window.\n"},
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
     "With --once or --json, exit 1 when no rep has metrics in the window.\n"},
    {"offsets", OPT_JSON, 0, 0, "offsets",
     "Per partition of kafka.topics: the next offset stored in Redis (what funneld has applied),\n"
     "the committed offset of kafka.group_id (informational: Redis holds the truth), the log end,\n"
     "lag = log end - Redis next (log end - log start when Redis has no offset yet), the claim\n"
     "epoch and the instance owning the partition (from its fencing token). Reads the group's\n"
     "offsets without joining the group. Kafka requests time out after 5 s.\n"
     "\n"
     "  --json        a JSON array of objects, one per partition (null where unknown)\n"},
    {"stats", OPT_JSON, 0, 0, "stats",
     "Prints the <prefix>:stats hash: accepted, duplicates, rejected and rejected:<reason>,\n"
     "beyond_retention, ignored, batches (absent counters are 0).\n"
     "\n"
     "  --json        one JSON object with every field as stored\n"
     "\n"
     "Exit 1 when the hash does not exist (funneld has applied nothing with this prefix).\n"},
    {"alerts", OPT_JSON | OPT_HISTORY, 0, 0, "alerts",
     "The alerts firing now (<prefix>:alerts:firing, written by funneld's evaluator): severity,\n"
     "rule, scope and id, manager, KPI, its value against the threshold, the pace's expectation\n"
     "or the baseline, and since when it fires; critical first, then the oldest first.\n"
     "\n"
     "  --history N   instead, the last N notifications of the stream <prefix>:alerts (firing,\n"
     "                repeats and resolved), newest first (N in [1, 10000])\n"
     "  --json        a JSON array of the stored alert documents (docs/alerts.md)\n"
     "\n"
     "Prints \"no firing alerts\" (exit 0) when none fires.\n"},
    {"rules", 0, 1, 2, "rules check [file]",
     "Checks a rules file (default: the alerts.rules setting) against the funnel of the\n"
     "settings (funnel.stages, funnel.activities) and prints each rule in words. Reads no\n"
     "Redis. Exit 2 with the problem (the rule and field) when the file is not valid.\n"},
    {"help", 0, 0, 1, "help [command]", "Prints the usage, or the help of one command.\n"},
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
    if (cmd->opts & OPT_WINDOW) fprintf(out, " [--window ID]");
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

/* Everything a command needs: the options, the settings and the open connections. */
typedef struct {
    /* command line */
    const command_t *cmd;
    const char *args[MAX_ARGS]; /* positional arguments after the command name */
    int nargs;
    const char *window; /* --window, NULL = today */
    bool json, once;
    const char *by;
    long limit;
    long history; /* --history N, 0 = the firing alerts */
    double interval;
    /* settings */
    fd_config_t cfg;
    fd_funnel_t *fn;
    fd_timewin_t *tw;
    /* connections */
    redisContext *rc;
    char kafka_err[512]; /* the last error librdkafka reported (error callback or log) */
} ctl_t;

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "funnelctl: <message>" on stderr and returns code. */
static int fail(int code, const char *fmt, ...) {
    va_list ap;
    fputs("funnelctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        fail(EXIT_RUNTIME, "out of memory");
        exit(EXIT_RUNTIME);
    }
    return p;
}

static char *xstrdup(const char *s) {
    char *p = strdup(s);
    if (p == NULL) {
        fail(EXIT_RUNTIME, "out of memory");
        exit(EXIT_RUNTIME);
    }
    return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xcalloc((size_t)n + 1, 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
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

/* Parses argv into ctl (without loading settings). Returns -1 to go on, else an exit code
 * (0 after printing help). */
static int parse_args(ctl_t *ctl, int argc, char **argv, const char **config_path) {
    bool help = false;
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
            else if (ctl->nargs < MAX_ARGS)
                ctl->args[ctl->nargs++] = argv[i];
            else
                return fail(EXIT_USAGE, "too many arguments");
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
        } else if ((v = opt_value(argc, argv, &i, "--history", &missing)) != NULL) {
            history_text = v;
            used |= OPT_HISTORY;
        } else if (strcmp(argv[i], "--json") == 0) {
            ctl->json = true;
            used |= OPT_JSON;
        } else if (strcmp(argv[i], "--once") == 0) {
            ctl->once = true;
            used |= OPT_ONCE;
        } else if (!missing) {
            return fail(EXIT_USAGE, "unknown option '%s' (funnelctl --help lists the commands)",
                        argv[i]);
        }
        if (missing) return fail(EXIT_USAGE, "option %s expects a value", argv[i]);
    }
    if (name == NULL) {
        usage(help ? stdout : stderr);
        return help ? 0 : EXIT_USAGE;
    }
    ctl->cmd = find_command(name);
    if (ctl->cmd == NULL) {
        fail(EXIT_USAGE, "unknown command '%s'", name);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(name, "help") == 0 && ctl->nargs == 1) {
        const command_t *c = find_command(ctl->args[0]);
        if (c == NULL) return fail(EXIT_USAGE, "unknown command '%s'", ctl->args[0]);
        command_help(stdout, c);
        return 0;
    }
    if (help) {
        command_help(stdout, ctl->cmd);
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    unsigned stray = used & ~ctl->cmd->opts;
    if (stray) {
        static const char *const names[] = {"--window",   "--json", "--by",     "--limit",
                                            "--interval", "--once", "--history"};
        for (size_t b = 0; b < sizeof names / sizeof names[0]; b++)
            if (stray & (1u << b))
                return fail(EXIT_USAGE, "option %s does not apply to '%s' (funnelctl %s --help)",
                            names[b], name, name);
    }
    if (ctl->nargs < ctl->cmd->min_args || ctl->nargs > ctl->cmd->max_args) {
        fail(EXIT_USAGE, "wrong number of arguments for '%s'", name);
        command_help(stderr, ctl->cmd);
        return EXIT_USAGE;
    }
    if (limit_text) {
        char *end;
        errno = 0;
        long v = strtol(limit_text, &end, 10);
        if (errno || end == limit_text || *end || v < 0 || v > 1000000)
            return fail(EXIT_USAGE, "--limit expects an integer in [0, 1000000], found '%s'",
                        limit_text);
        ctl->limit = v;
    }
    if (history_text) {
        char *end;
        errno = 0;
        long v = strtol(history_text, &end, 10);
        if (errno || end == history_text || *end || v < 1 || v > 10000)
            return fail(EXIT_USAGE, "--history expects an integer in [1, 10000], found '%s'",
                        history_text);
        ctl->history = v;
    }
    if (strcmp(name, "rules") == 0 && strcmp(ctl->args[0], "check") != 0) {
        fail(EXIT_USAGE, "unknown rules subcommand '%s' (expected 'check')", ctl->args[0]);
        command_help(stderr, ctl->cmd);
        return EXIT_USAGE;
    }
    if (interval_text) {
        char *end;
        errno = 0;
        double v = strtod(interval_text, &end);
        if (errno || end == interval_text || *end || !(v >= 0.1 && v <= 3600))
            return fail(EXIT_USAGE, "--interval expects seconds in [0.1, 3600], found '%s'",
                        interval_text);
        ctl->interval = v;
    }
    if (ctl->window && fd_timewin_check_id(ctl->window) != FD_OK)
        return fail(EXIT_USAGE,
                    "bad window id '%s': expected all, day:YYYY-MM-DD, week:YYYY-Www, "
                    "month:YYYY-MM or quarter:YYYY-Qn",
                    ctl->window);
    return -1;
}

/* Loads the settings as funneld does: defaults < file < FUNNELD_* < --set. Exit code or -1. */
static int load_settings(ctl_t *ctl, int argc, char **argv, const char *config_path) {
    char errstr[512] = "";
    if (config_path && fd_config_load_file(&ctl->cfg, config_path, errstr, sizeof errstr) != FD_OK)
        goto bad;
    if (fd_config_apply_env(&ctl->cfg, environ, errstr, sizeof errstr) != FD_OK) goto bad;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        bool missing = false;
        const char *v = opt_value(argc, argv, &i, "--set", &missing);
        if (v == NULL) {
            /* skip the value of the other options taking one */
            static const char *const with_value[] = {"--config", "--window",   "--by",
                                                     "--limit",  "--interval", "--history"};
            for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
                if (strcmp(argv[i], with_value[k]) == 0) i++;
            continue;
        }
        if (fd_config_set_arg(&ctl->cfg, v, errstr, sizeof errstr) != FD_OK) goto bad;
    }
    if (fd_config_validate(&ctl->cfg, errstr, sizeof errstr) != FD_OK) goto bad;
    if (fd_funnel_new((const char *const *)ctl->cfg.stages.item, ctl->cfg.stages.count,
                      (const char *const *)ctl->cfg.activities.item, ctl->cfg.activities.count,
                      &ctl->fn, errstr, sizeof errstr) != FD_OK)
        goto bad;
    if (fd_timewin_new(ctl->cfg.timezone, &ctl->tw, errstr, sizeof errstr) != FD_OK) goto bad;
    return -1;
bad:
    return fail(EXIT_USAGE, "configuration error: %s", errstr);
}

/* The window id a command reads: --window, else today in the business timezone. */
static void current_window(ctl_t *ctl, char *buf, size_t size) {
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

/* ---------------------------------------------------------------------------------------------
 * Redis */

/* Connects, authenticates and selects the database. Exit code or -1. */
static int redis_open(ctl_t *ctl) {
    const fd_config_t *cfg = &ctl->cfg;
    struct timeval tv = {(time_t)(cfg->redis_timeout_ms / 1000),
                         (suseconds_t)(cfg->redis_timeout_ms % 1000) * 1000};
    ctl->rc = redisConnectWithTimeout(cfg->redis_host, (int)cfg->redis_port, tv);
    if (ctl->rc == NULL)
        return fail(EXIT_RUNTIME, "cannot reach Redis at %s:%" PRId64 ": out of memory",
                    cfg->redis_host, cfg->redis_port);
    if (ctl->rc->err)
        return fail(EXIT_RUNTIME, "cannot reach Redis at %s:%" PRId64 ": %s", cfg->redis_host,
                    cfg->redis_port, ctl->rc->errstr);
    redisSetTimeout(ctl->rc, tv);
    if (cfg->redis_password && cfg->redis_password[0]) {
        bool user = cfg->redis_user && cfg->redis_user[0];
        const char *argv[] = {"AUTH", user ? cfg->redis_user : cfg->redis_password,
                              cfg->redis_password};
        redisReply *r = redisCommandArgv(ctl->rc, user ? 3 : 2, argv, NULL);
        if (r == NULL)
            return fail(EXIT_RUNTIME, "cannot reach Redis at %s:%" PRId64 ": %s", cfg->redis_host,
                        cfg->redis_port, ctl->rc->errstr);
        if (r->type == REDIS_REPLY_ERROR) {
            int rc = fail(EXIT_RUNTIME, "Redis at %s:%" PRId64 " refused AUTH%s%s%s: %s",
                          cfg->redis_host, cfg->redis_port, user ? " as user '" : "",
                          user ? cfg->redis_user : "", user ? "'" : " (redis.password)", r->str);
            freeReplyObject(r);
            return rc;
        }
        freeReplyObject(r);
    }
    if (cfg->redis_db != 0) {
        char db[32];
        snprintf(db, sizeof db, "%" PRId64, cfg->redis_db);
        const char *argv[] = {"SELECT", db};
        redisReply *r = redisCommandArgv(ctl->rc, 2, argv, NULL);
        if (r == NULL)
            return fail(EXIT_RUNTIME, "cannot reach Redis at %s:%" PRId64 ": %s", cfg->redis_host,
                        cfg->redis_port, ctl->rc->errstr);
        if (r->type == REDIS_REPLY_ERROR) {
            int rc = fail(EXIT_RUNTIME, "Redis at %s:%" PRId64 ": SELECT %s (redis.db): %s",
                          cfg->redis_host, cfg->redis_port, db, r->str);
            freeReplyObject(r);
            return rc;
        }
        freeReplyObject(r);
    }
    return -1;
}

static void redis_close(ctl_t *ctl) {
    if (ctl->rc) redisFree(ctl->rc);
    ctl->rc = NULL;
}

/* Checks a reply of command what (e.g. "HGETALL funnel:stats"): NULL reply (connection lost) and
 * error replies are reported, the reply freed, and false returned. */
static bool reply_ok(ctl_t *ctl, redisReply *r, const char *what) {
    const fd_config_t *cfg = &ctl->cfg;
    if (r == NULL) {
        fail(EXIT_RUNTIME, "Redis at %s:%" PRId64 ": %s: %s", cfg->redis_host, cfg->redis_port,
             what, ctl->rc->errstr[0] ? ctl->rc->errstr : "connection lost");
        return false;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fail(EXIT_RUNTIME, "Redis at %s:%" PRId64 ": %s: %s%s", cfg->redis_host, cfg->redis_port,
             what, r->str,
             strncmp(r->str, "NOAUTH", 6) == 0 ? " (set redis.password, and redis.user for an "
                                                 "ACL user)"
                                               : "");
        freeReplyObject(r);
        return false;
    }
    return true;
}

/* HGETALL key: *out is the array reply (fields and values alternating), NULL when the hash does
 * not exist. false on a Redis error (reported). */
static bool hgetall(ctl_t *ctl, const char *key, redisReply **out) {
    *out = NULL;
    const char *argv[] = {"HGETALL", key};
    redisReply *r = redisCommandArgv(ctl->rc, 2, argv, NULL);
    char what[300];
    snprintf(what, sizeof what, "HGETALL %s", key);
    if (!reply_ok(ctl, r, what)) return false;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        fail(EXIT_RUNTIME, "%s: unexpected reply type %d", what, r->type);
        freeReplyObject(r);
        return false;
    }
    if (r->elements == 0)
        freeReplyObject(r);
    else
        *out = r;
    return true;
}

/* The value of field in an HGETALL reply, NULL when absent. */
static const char *hget(const redisReply *h, const char *field) {
    if (h == NULL) return NULL;
    size_t len = strlen(field);
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i];
        if (f->len == len && memcmp(f->str, field, len) == 0) return h->element[i + 1]->str;
    }
    return NULL;
}

static const char *hget_or(const redisReply *h, const char *field, const char *dflt) {
    const char *v = hget(h, field);
    return v ? v : dflt;
}

/* Escapes the glob characters of a SCAN MATCH pattern. */
static char *glob_escape(const char *s) {
    char *out = xcalloc(2 * strlen(s) + 1, 1), *o = out;
    for (; *s; s++) {
        if (strchr("*?[]\\", *s)) *o++ = '\\';
        *o++ = *s;
    }
    return out;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct {
    char **item;
    size_t n, cap;
} strvec_t;

static void strvec_push(strvec_t *v, char *s) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        char **p = realloc(v->item, v->cap * sizeof *p);
        if (p == NULL) {
            fail(EXIT_RUNTIME, "out of memory");
            exit(EXIT_RUNTIME);
        }
        v->item = p;
    }
    v->item[v->n++] = s;
}

static void strvec_clear(strvec_t *v) {
    for (size_t i = 0; i < v->n; i++)
        free(v->item[i]);
    free(v->item);
    memset(v, 0, sizeof *v);
}

/* The ids of scope ("rep" or "team") with a hash in window: SCAN MATCH <p>:<scope>:<window>:*,
 * the key's rest after that prefix, sorted, each once (SCAN may return a key twice). */
static bool list_ids(ctl_t *ctl, const char *scope, const char *window, strvec_t *ids) {
    char *head = xasprintf("%s:%s:%s:", ctl->cfg.prefix, scope, window);
    char *esc = glob_escape(head);
    char *pattern = xasprintf("%s*", esc);
    free(esc);
    size_t head_len = strlen(head);
    char cursor[32] = "0";
    bool ok = true;
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        redisReply *r = redisCommandArgv(ctl->rc, 6, argv, NULL);
        char what[300];
        snprintf(what, sizeof what, "SCAN MATCH %s", pattern);
        if (!reply_ok(ctl, r, what)) {
            ok = false;
            break;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            fail(EXIT_RUNTIME, "%s: unexpected reply", what);
            freeReplyObject(r);
            ok = false;
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const redisReply *k = keys->element[i];
            if (k->len > head_len && memcmp(k->str, head, head_len) == 0)
                strvec_push(ids, xstrdup(k->str + head_len));
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    free(pattern);
    free(head);
    if (!ok) return false;
    if (ids->n > 1) qsort(ids->item, ids->n, sizeof *ids->item, cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < ids->n; i++) {
        if (w > 0 && strcmp(ids->item[w - 1], ids->item[i]) == 0)
            free(ids->item[i]);
        else
            ids->item[w++] = ids->item[i];
    }
    ids->n = w;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Output helpers */

/* True when s is a JSON number as written (stored counters, amounts and rates all are). */
static bool is_json_number(const char *s) {
    const char *p = s;
#define DIGIT(c) ((c) >= '0' && (c) <= '9')
    if (*p == '-') p++;
    if (*p == '0')
        p++;
    else if (DIGIT(*p))
        while (DIGIT(*p))
            p++;
    else
        return false;
    if (*p == '.') {
        p++;
        if (!DIGIT(*p)) return false;
        while (DIGIT(*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!DIGIT(*p)) return false;
        while (DIGIT(*p))
            p++;
    }
#undef DIGIT
    return *p == '\0';
}

static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* A stored value: the text itself when it is a number, else a JSON string. */
static void json_value(FILE *out, const char *v) {
    if (is_json_number(v))
        fputs(v, out);
    else
        json_string(out, v);
}

/* Columns a string takes in a terminal: code points, East Asian wide ones counting 2, combining
 * marks and other zero-width ones 0. */
static size_t display_width(const char *s) {
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t cp;
        int n;
        if (*p < 0x80) {
            cp = *p, n = 1;
        } else if ((*p & 0xe0) == 0xc0) {
            cp = *p & 0x1f, n = 2;
        } else if ((*p & 0xf0) == 0xe0) {
            cp = *p & 0x0f, n = 3;
        } else {
            cp = *p & 0x07, n = 4;
        }
        p++;
        for (int i = 1; i < n && (*p & 0xc0) == 0x80; i++, p++)
            cp = (cp << 6) | (*p & 0x3f);
        bool wide = (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
                    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
                    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
                    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) ||
                    (cp >= 0x20000 && cp <= 0x3fffd);
        /* combining marks, zero-width joiner and spaces, variation selectors: no column */
        bool zero = (cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x0483 && cp <= 0x0489) ||
                    (cp >= 0x0591 && cp <= 0x05bd) || (cp >= 0x0610 && cp <= 0x061a) ||
                    (cp >= 0x064b && cp <= 0x065f) || (cp >= 0x1ab0 && cp <= 0x1aff) ||
                    (cp >= 0x1dc0 && cp <= 0x1dff) || (cp >= 0x200b && cp <= 0x200f) ||
                    (cp >= 0x20d0 && cp <= 0x20ff) || (cp >= 0xfe00 && cp <= 0xfe0f) ||
                    (cp >= 0xfe20 && cp <= 0xfe2f);
        w += zero ? 0 : wide ? 2 : 1;
    }
    return w;
}

/* A text table: cells are heap strings; column 0 left-aligned, the others right-aligned unless
 * left[c]. */
typedef struct {
    size_t ncols;
    strvec_t cells; /* row-major */
    bool left[32];
} table_t;

static void table_cell(table_t *t, const char *text) {
    strvec_push(&t->cells, xstrdup(text ? text : ""));
}

static void table_print(FILE *out, table_t *t) {
    size_t width[32] = {0};
    size_t nrows = t->cells.n / t->ncols;
    for (size_t i = 0; i < t->cells.n; i++) {
        size_t w = display_width(t->cells.item[i]);
        if (w > width[i % t->ncols]) width[i % t->ncols] = w;
    }
    for (size_t r = 0; r < nrows; r++) {
        /* assemble the line, then drop trailing blanks (empty cells at the end) */
        char *line = NULL;
        size_t len = 0;
        FILE *l = open_memstream(&line, &len);
        if (l == NULL) {
            fail(EXIT_RUNTIME, "out of memory");
            exit(EXIT_RUNTIME);
        }
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells.item[r * t->ncols + c];
            size_t pad = width[c] - display_width(s);
            bool left = c == 0 || t->left[c];
            if (c > 0) fputs("  ", l);
            if (!left) fprintf(l, "%*s", (int)pad, "");
            fputs(s, l);
            if (left) fprintf(l, "%*s", (int)pad, "");
        }
        fclose(l);
        while (len > 0 && line[len - 1] == ' ')
            line[--len] = '\0';
        fprintf(out, "%s\n", line);
        free(line);
    }
    strvec_clear(&t->cells);
}

/* A stored rate ("0.5000", four decimals) as a percentage with two decimals ("50.00%"), by
 * moving the decimal point, so that no rounding can change it; '-' when absent. */
static void format_rate(char *buf, size_t size, const char *rate) {
    if (rate == NULL) {
        snprintf(buf, size, "-");
        return;
    }
    const char *dot = strchr(rate, '.');
    if (dot == NULL || strlen(dot + 1) != 4 || strspn(dot + 1, "0123456789") != 4 ||
        strspn(rate, "0123456789") != (size_t)(dot - rate) || dot == rate) {
        snprintf(buf, size, "%s", rate); /* not our format: show it as stored */
        return;
    }
    /* units of 0.0001 = hundredths of a percent */
    long long v = strtoll(rate, NULL, 10) * 10000 + strtoll(dot + 1, NULL, 10);
    snprintf(buf, size, "%lld.%02lld%%", v / 100, v % 100);
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* Compares two non-negative decimal texts ("1054.00", "12", "0.5000") exactly, whatever their
 * size: integer parts by length then digits, then the fractions digit by digit. */
static int dec_cmp(const char *a, const char *b) {
    while (*a == '0' && is_digit(a[1]))
        a++;
    while (*b == '0' && is_digit(b[1]))
        b++;
    size_t ia = strspn(a, "0123456789"), ib = strspn(b, "0123456789");
    if (ia != ib) return ia < ib ? -1 : 1;
    int c = strncmp(a, b, ia);
    if (c) return c < 0 ? -1 : 1;
    const char *fa = a[ia] == '.' ? a + ia + 1 : "", *fb = b[ib] == '.' ? b + ib + 1 : "";
    while (is_digit(*fa) || is_digit(*fb)) {
        char da = is_digit(*fa) ? *fa++ : '0';
        char db = is_digit(*fb) ? *fb++ : '0';
        if (da != db) return da < db ? -1 : 1;
    }
    return 0;
}

/* Flushes stdout; a write error (e.g. a closed pipe) is a runtime error. */
static int finish_output(int rc) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (rc == 0) rc = fail(EXIT_RUNTIME, "cannot write the output: %s", strerror(errno));
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * show */

/* Appends the name of every field a metrics hash may hold, in the order of docs/redis.md. */
static void known_fields(const fd_funnel_t *fn, strvec_t *names) {
    int last = (int)fd_funnel_nstages(fn) - 1;
    for (int s = 0; s <= last; s++) {
        const char *st = fd_funnel_stage_name(fn, s);
        strvec_push(names, xasprintf("entered:%s", st));
        if (s == last) break;
        static const char *const per_stage[] = {"advanced",    "conv",       "moved_on",
                                                "lost_at",     "exit_conv",  "dwell_sum_ms",
                                                "dwell_count", "dwell_hours"};
        for (size_t i = 0; i < sizeof per_stage / sizeof per_stage[0]; i++)
            strvec_push(names, xasprintf("%s:%s", per_stage[i], st));
    }
    static const char *const head[] = {"won", "lost", "win_rate", "won_amount"};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        strvec_push(names, xstrdup(head[i]));
    for (size_t k = 0; k < fd_funnel_nkinds(fn); k++)
        strvec_push(names, xasprintf("activity:%s", fd_funnel_kind_name(fn, (int)k)));
    static const char *const tail[] = {"feedback_count", "feedback_sum", "feedback_avg",
                                       "complaints", "events"};
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
        strvec_push(names, xstrdup(tail[i]));
}

static bool in_strvec(const strvec_t *v, const char *s, size_t len) {
    for (size_t i = 0; i < v->n; i++)
        if (strlen(v->item[i]) == len && memcmp(v->item[i], s, len) == 0) return true;
    return false;
}

/* Writes an HGETALL reply as one JSON object: the known fields in layout order, then any other
 * field in the hash's order. extra_key/extra_value, when set, come first (e.g. "rep"). */
static void json_hash(FILE *out, const fd_funnel_t *fn, const redisReply *h, const char *extra_key,
                      const char *extra_value) {
    strvec_t names = {0};
    known_fields(fn, &names);
    bool first = true;
    fputc('{', out);
    if (extra_key) {
        json_string(out, extra_key);
        fputs(": ", out);
        json_string(out, extra_value);
        first = false;
    }
    for (size_t i = 0; i < names.n; i++) {
        const char *v = hget(h, names.item[i]);
        if (v == NULL) continue;
        fputs(first ? "" : ", ", out);
        first = false;
        json_string(out, names.item[i]);
        fputs(": ", out);
        json_value(out, v);
    }
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i];
        if (in_strvec(&names, f->str, f->len)) continue;
        fputs(first ? "" : ", ", out);
        first = false;
        json_string(out, f->str);
        fputs(": ", out);
        json_value(out, h->element[i + 1]->str);
    }
    fputc('}', out);
    strvec_clear(&names);
}

static void print_hash_table(FILE *out, const fd_funnel_t *fn, const redisReply *h) {
    char buf[64];
    int last = (int)fd_funnel_nstages(fn) - 1;
    table_t t = {.ncols = 8};
    static const char *const head[] = {"stage",    "entered", "advanced",  "conv",
                                       "moved_on", "lost_at", "exit_conv", "dwell_hours"};
    for (size_t c = 0; c < 8; c++)
        table_cell(&t, head[c]);
    for (int s = 0; s <= last; s++) {
        const char *st = fd_funnel_stage_name(fn, s);
        char name[FD_NAME_MAX + 32];
        table_cell(&t, st);
        snprintf(name, sizeof name, "entered:%s", st);
        table_cell(&t, hget_or(h, name, "0"));
        if (s == last) {
            for (int c = 0; c < 6; c++)
                table_cell(&t, ""); /* the won stage has only entered */
            continue;
        }
        snprintf(name, sizeof name, "advanced:%s", st);
        table_cell(&t, hget_or(h, name, "0"));
        snprintf(name, sizeof name, "conv:%s", st);
        format_rate(buf, sizeof buf, hget(h, name));
        table_cell(&t, buf);
        snprintf(name, sizeof name, "moved_on:%s", st);
        table_cell(&t, hget_or(h, name, "0"));
        snprintf(name, sizeof name, "lost_at:%s", st);
        table_cell(&t, hget_or(h, name, "0"));
        snprintf(name, sizeof name, "exit_conv:%s", st);
        format_rate(buf, sizeof buf, hget(h, name));
        table_cell(&t, buf);
        snprintf(name, sizeof name, "dwell_hours:%s", st);
        table_cell(&t, hget_or(h, name, "-"));
    }
    table_print(out, &t);
    fputc('\n', out);

    /* scope-wide counters: a two-column table */
    table_t g = {.ncols = 2, .left = {true, true}};
    table_cell(&g, "won");
    table_cell(&g, hget_or(h, "won", "0"));
    table_cell(&g, "lost");
    table_cell(&g, hget_or(h, "lost", "0"));
    table_cell(&g, "win_rate");
    format_rate(buf, sizeof buf, hget(h, "win_rate"));
    table_cell(&g, buf);
    table_cell(&g, "won_amount");
    table_cell(&g, hget_or(h, "won_amount", "0.00"));
    char *acts = NULL;
    size_t acts_len = 0;
    FILE *a = open_memstream(&acts, &acts_len);
    if (a == NULL) {
        fail(EXIT_RUNTIME, "out of memory");
        exit(EXIT_RUNTIME);
    }
    for (size_t k = 0; k < fd_funnel_nkinds(fn); k++) {
        const char *kind = fd_funnel_kind_name(fn, (int)k);
        char name[FD_NAME_MAX + 16];
        snprintf(name, sizeof name, "activity:%s", kind);
        fprintf(a, "%s%s %s", k ? ", " : "", kind, hget_or(h, name, "0"));
    }
    fclose(a);
    table_cell(&g, "activities");
    table_cell(&g, acts);
    free(acts);
    table_cell(&g, "feedback");
    const char *avg = hget(h, "feedback_avg");
    snprintf(buf, sizeof buf, "%s (avg %s)", hget_or(h, "feedback_count", "0"), avg ? avg : "-");
    table_cell(&g, buf);
    table_cell(&g, "complaints");
    table_cell(&g, hget_or(h, "complaints", "0"));
    table_cell(&g, "events");
    table_cell(&g, hget_or(h, "events", "0"));
    table_print(out, &g);

    /* fields this funnel does not know: the hash was written with other stages or kinds */
    strvec_t names = {0};
    known_fields(fn, &names);
    bool any = false;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i];
        if (in_strvec(&names, f->str, f->len)) continue;
        fprintf(out, "%s%s=%s",
                any ? ", " : "\nfields not in funnel.stages/funnel.activities: ", f->str,
                h->element[i + 1]->str);
        any = true;
    }
    if (any) fputc('\n', out);
    strvec_clear(&names);
}

static int cmd_show(ctl_t *ctl) {
    const char *scope = ctl->args[0];
    bool org = strcmp(scope, "org") == 0;
    if (!org && strcmp(scope, "rep") != 0 && strcmp(scope, "team") != 0)
        return fail(EXIT_USAGE, "show expects 'rep <id>', 'team <id>' or 'org', found '%s'", scope);
    if (org ? ctl->nargs != 1 : ctl->nargs != 2)
        return fail(EXIT_USAGE, org ? "show org takes no id" : "show %s expects an id", scope);
    char window[FD_WIN_ID_MAX];
    current_window(ctl, window, sizeof window);
    int rc = redis_open(ctl);
    if (rc >= 0) return rc;
    const char *p = ctl->cfg.prefix;
    char *key = org ? xasprintf("%s:org:%s", p, window)
                    : xasprintf("%s:%s:%s:%s", p, scope, window, ctl->args[1]);
    redisReply *h = NULL;
    if (!hgetall(ctl, key, &h)) {
        rc = EXIT_RUNTIME;
    } else if (h == NULL) {
        if (org)
            rc = fail(EXIT_RUNTIME,
                      "no metrics for the org in window '%s' (prefix '%s')\n"
                      "hint: check --window (try --window all) and redis.prefix",
                      window, p);
        else
            rc = fail(EXIT_RUNTIME,
                      "no metrics for %s '%s' in window '%s' (prefix '%s')\n"
                      "hint: `funnelctl %ss --window %s` lists the %ss with metrics in it",
                      scope, ctl->args[1], window, p, scope, window, scope);
    } else {
        if (ctl->json) {
            json_hash(stdout, ctl->fn, h, NULL, NULL);
            fputc('\n', stdout);
        } else {
            if (org)
                printf("org, window %s\n\n", window);
            else
                printf("%s %s, window %s\n\n", scope, ctl->args[1], window);
            print_hash_table(stdout, ctl->fn, h);
        }
        rc = 0;
    }
    if (h) freeReplyObject(h);
    free(key);
    return finish_output(rc);
}

/* ---------------------------------------------------------------------------------------------
 * reps, teams */

static int cmd_list(ctl_t *ctl, const char *scope) {
    char window[FD_WIN_ID_MAX];
    current_window(ctl, window, sizeof window);
    int rc = redis_open(ctl);
    if (rc >= 0) return rc;
    strvec_t ids = {0};
    if (!list_ids(ctl, scope, window, &ids)) {
        strvec_clear(&ids);
        return EXIT_RUNTIME;
    }
    if (ctl->json) {
        fputc('[', stdout);
        for (size_t i = 0; i < ids.n; i++) {
            fputs(i ? ", " : "", stdout);
            json_string(stdout, ids.item[i]);
        }
        fputs("]\n", stdout);
    } else {
        for (size_t i = 0; i < ids.n; i++)
            printf("%s\n", ids.item[i]);
    }
    rc = 0;
    if (ids.n == 0)
        rc = fail(EXIT_RUNTIME, "no %s has metrics in window '%s' (prefix '%s')", scope, window,
                  ctl->cfg.prefix);
    strvec_clear(&ids);
    return finish_output(rc);
}

/* ---------------------------------------------------------------------------------------------
 * top */

typedef struct {
    char *rep;
    redisReply *h;
    const char *key; /* the sort value in h, NULL when absent */
    bool counter;    /* the sort field is a counter: absent counts as 0 (else it sorts last) */
} row_t;

static int cmp_rows(const void *pa, const void *pb) {
    const row_t *a = pa, *b = pb;
    const char *ka = a->key, *kb = b->key;
    if (a->counter) {
        ka = ka ? ka : "0";
        kb = kb ? kb : "0";
    }
    if (ka == NULL || kb == NULL) {
        if (ka != kb) return ka == NULL ? 1 : -1;
    } else {
        int c = dec_cmp(ka, kb);
        if (c) return -c; /* best first */
    }
    return strcmp(a->rep, b->rep);
}

/* Checks --by: sets the sorted field and whether it is a counter. Exit code or -1. */
static int check_by(ctl_t *ctl, char *field, size_t size, bool *counter) {
    const char *by = ctl->by ? ctl->by : "won_amount";
    int last = (int)fd_funnel_nstages(ctl->fn) - 1;
    *counter = true;
    if (strcmp(by, "won_amount") == 0 || strcmp(by, "won") == 0) {
        snprintf(field, size, "%s", by);
        return -1;
    }
    if (strcmp(by, "win_rate") == 0) {
        *counter = false;
        snprintf(field, size, "%s", by);
        return -1;
    }
    const char *colon = strchr(by, ':');
    if (colon) {
        size_t len = (size_t)(colon - by);
        int s = fd_funnel_stage_index(ctl->fn, colon + 1, strlen(colon + 1));
        bool entered = len == 7 && strncmp(by, "entered", 7) == 0;
        bool exit_conv = len == 9 && strncmp(by, "exit_conv", 9) == 0;
        if ((entered && s >= 0) || (exit_conv && s >= 0 && s < last)) {
            *counter = entered;
            snprintf(field, size, "%s", by);
            return -1;
        }
        if ((entered || exit_conv) && s < 0)
            return fail(EXIT_USAGE, "--by %s: '%s' is not a stage of funnel.stages", by, colon + 1);
        if (exit_conv) return fail(EXIT_USAGE, "--by %s: the last stage has no exit_conv", by);
    }
    return fail(EXIT_USAGE,
                "--by expects won_amount, won, win_rate, entered:<stage> or exit_conv:<stage>, "
                "found '%s'",
                by);
}

/* Reads every rep hash of window, pipelined. false on a Redis error (reported). */
static bool read_reps(ctl_t *ctl, const char *window, row_t **rows, size_t *nrows) {
    strvec_t ids = {0};
    *rows = NULL;
    *nrows = 0;
    if (!list_ids(ctl, "rep", window, &ids)) {
        strvec_clear(&ids);
        return false;
    }
    row_t *r = xcalloc(ids.n, sizeof *r);
    char **keys = xcalloc(ids.n, sizeof *keys);
    for (size_t i = 0; i < ids.n; i++) {
        keys[i] = xasprintf("%s:rep:%s:%s", ctl->cfg.prefix, window, ids.item[i]);
        const char *argv[] = {"HGETALL", keys[i]};
        redisAppendCommandArgv(ctl->rc, 2, argv, NULL);
    }
    bool ok = true;
    size_t n = 0;
    for (size_t i = 0; i < ids.n; i++) {
        void *reply = NULL;
        if (redisGetReply(ctl->rc, &reply) != REDIS_OK) reply = NULL;
        char what[300];
        snprintf(what, sizeof what, "HGETALL %s", keys[i]);
        if (!ok) {
            if (reply) freeReplyObject(reply);
            continue;
        }
        redisReply *h = reply;
        if (!reply_ok(ctl, h, what)) {
            ok = false;
            if (h == NULL) break; /* the connection is gone: no more replies */
            continue;
        }
        if (h->type != REDIS_REPLY_ARRAY || h->elements == 0) { /* expired since the SCAN */
            freeReplyObject(h);
            continue;
        }
        r[n].rep = ids.item[i];
        ids.item[i] = NULL;
        r[n].h = h;
        n++;
    }
    for (size_t i = 0; i < ids.n; i++)
        free(keys[i]);
    free(keys);
    strvec_clear(&ids);
    *rows = r;
    *nrows = n;
    return ok;
}

static void free_rows(row_t *rows, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(rows[i].rep);
        freeReplyObject(rows[i].h);
    }
    free(rows);
}

static void print_top_table(FILE *out, ctl_t *ctl, const row_t *rows, size_t n) {
    int last = (int)fd_funnel_nstages(ctl->fn) - 1;
    size_t ncols = 2 + (size_t)last + 4;
    table_t t = {.ncols = ncols, .left = {false, true}};
    char buf[64];
    table_cell(&t, "#");
    table_cell(&t, "rep");
    for (int s = 0; s < last; s++)
        table_cell(&t, fd_funnel_stage_name(ctl->fn, s));
    table_cell(&t, "won");
    table_cell(&t, "win_rate");
    table_cell(&t, "won_amount");
    table_cell(&t, "events");
    for (size_t i = 0; i < n; i++) {
        const redisReply *h = rows[i].h;
        snprintf(buf, sizeof buf, "%zu", i + 1);
        table_cell(&t, buf);
        table_cell(&t, rows[i].rep);
        for (int s = 0; s < last; s++) {
            char name[FD_NAME_MAX + 16];
            snprintf(name, sizeof name, "entered:%s", fd_funnel_stage_name(ctl->fn, s));
            table_cell(&t, hget_or(h, name, "0"));
        }
        table_cell(&t, hget_or(h, "won", "0"));
        format_rate(buf, sizeof buf, hget(h, "win_rate"));
        table_cell(&t, buf);
        table_cell(&t, hget_or(h, "won_amount", "0.00"));
        table_cell(&t, hget_or(h, "events", "0"));
    }
    table_print(out, &t);
}

/* One refresh of top into out. Exit code: 0, or 1 after a Redis error (reported) or with no data
 * when fail_empty. */
static int top_once(ctl_t *ctl, FILE *out, bool live) {
    char window[FD_WIN_ID_MAX], field[FD_NAME_MAX + 16];
    current_window(ctl, window, sizeof window);
    bool counter;
    check_by(ctl, field, sizeof field, &counter); /* checked before: cannot fail here */
    row_t *rows;
    size_t n;
    if (ctl->rc == NULL) {
        int rc = redis_open(ctl);
        if (rc >= 0) {
            redis_close(ctl);
            return rc;
        }
    }
    if (!read_reps(ctl, window, &rows, &n)) {
        free_rows(rows, n);
        redis_close(ctl); /* reconnect at the next refresh */
        return EXIT_RUNTIME;
    }
    for (size_t i = 0; i < n; i++) {
        rows[i].key = hget(rows[i].h, field);
        rows[i].counter = counter;
    }
    if (n > 1) qsort(rows, n, sizeof *rows, cmp_rows);
    size_t shown = ctl->limit > 0 && (size_t)ctl->limit < n ? (size_t)ctl->limit : n;
    int rc = 0;
    if (ctl->json) {
        fputc('[', out);
        for (size_t i = 0; i < shown; i++) {
            fputs(i ? ",\n " : "", out);
            json_hash(out, ctl->fn, rows[i].h, "rep", rows[i].rep);
        }
        fputs("]\n", out);
    } else {
        fprintf(out, "top reps by %s, window %s, prefix %s: %zu of %zu reps", field, window,
                ctl->cfg.prefix, shown, n);
        if (live) {
            char now[32];
            time_t t = time(NULL);
            struct tm tm;
            localtime_r(&t, &tm); /* the business timezone: fd_timewin set TZ */
            strftime(now, sizeof now, "%H:%M:%S", &tm);
            fprintf(out, ", %s %s (every %g s, Ctrl-C quits)", now, ctl->cfg.timezone,
                    ctl->interval);
        }
        fputs("\n\n", out);
        if (n > 0)
            print_top_table(out, ctl, rows, shown);
        else
            fputs("(no rep has metrics in this window yet)\n", out);
    }
    if (n == 0 && !live)
        rc = fail(EXIT_RUNTIME, "no rep has metrics in window '%s' (prefix '%s')", window,
                  ctl->cfg.prefix);
    free_rows(rows, n);
    return rc;
}

static int cmd_top(ctl_t *ctl) {
    char field[FD_NAME_MAX + 16];
    bool counter;
    int rc = check_by(ctl, field, sizeof field, &counter);
    if (rc >= 0) return rc;
    if (ctl->once || ctl->json) return finish_output(top_once(ctl, stdout, false));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: the sleep ends at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop_requested) {
        /* render off screen, then clear and draw in one write, so the table does not flicker */
        char *frame = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&frame, &len);
        if (f == NULL) return fail(EXIT_RUNTIME, "out of memory");
        int refresh_rc = top_once(ctl, f, true);
        fclose(f);
        if (refresh_rc == 0) {
            fputs("\033[H\033[2J", stdout);
            fwrite(frame, 1, len, stdout);
        } else {
            /* keep the last table and the error (on stderr) in sight; retry later */
            fprintf(stdout, "funnelctl: retrying every %g s (Ctrl-C quits)\n", ctl->interval);
        }
        free(frame);
        if (fflush(stdout) != 0) return EXIT_RUNTIME;
        struct timespec ts = {(time_t)ctl->interval,
                              (long)((ctl->interval - (double)(time_t)ctl->interval) * 1e9)};
        while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * offsets */

static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)rk;
    (void)err;
    ctl_t *ctl = opaque;
    snprintf(ctl->kafka_err, sizeof ctl->kafka_err, "%s", reason);
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)fac;
    ctl_t *ctl = rd_kafka_opaque(rk);
    if (level <= 4 && ctl->kafka_err[0] == '\0') /* warnings and worse, when nothing better */
        snprintf(ctl->kafka_err, sizeof ctl->kafka_err, "%s", buf);
}

/* A consumer of kafka.group_id that never subscribes: it only asks the coordinator for the
 * committed offsets and the brokers for watermarks. Exit code or -1. */
static int kafka_open(ctl_t *ctl, rd_kafka_t **out) {
    char err[512];
    const fd_config_t *cfg = &ctl->cfg;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *fixed[][3] = {
        {"bootstrap.servers", cfg->brokers, "kafka.brokers"},
        {"group.id", cfg->group_id, "kafka.group_id"},
        {"enable.auto.commit", "false", "enable.auto.commit"},
        {"log.queue", "true", "log.queue"}, /* logs are served by our own rd_kafka_poll */
    };
    *out = NULL;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], err, sizeof err) != RD_KAFKA_CONF_OK)
            goto bad_conf_fixed;
    }
    for (size_t i = 0; i < cfg->kafka_count; i++) {
        if (rd_kafka_conf_set(conf, cfg->kafka_name[i], cfg->kafka_value[i], err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return fail(EXIT_USAGE, "configuration error: kafka.%s: %s", cfg->kafka_name[i],
                        fd_config_kafka_is_secret(cfg->kafka_name[i])
                            ? "invalid value (not shown: secret)"
                            : err);
        }
    }
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_opaque(conf, ctl);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf); /* rd_kafka_new takes conf only on success */
        return fail(EXIT_USAGE, "configuration error: kafka consumer: %s", err);
    }
    rd_kafka_set_log_queue(rk, NULL); /* the main queue, served by rd_kafka_poll */
    *out = rk;
    return -1;
bad_conf_fixed:
    rd_kafka_conf_destroy(conf);
    return fail(EXIT_USAGE, "configuration error: kafka: %s", err);
}

static void kafka_close(rd_kafka_t *rk) {
    if (rk == NULL) return;
    /* never joined the group: nothing to leave, and close could wait for an absent broker */
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

/* The reason of a failed Kafka request: librdkafka's error text, and the last error it reported
 * (which names the broker and the connection problem). */
static const char *kafka_reason(ctl_t *ctl, rd_kafka_t *rk, rd_kafka_resp_err_t e, char *buf,
                                size_t size) {
    rd_kafka_poll(rk, 0); /* serves the error and log callbacks */
    if (ctl->kafka_err[0])
        snprintf(buf, size, "%s (%s)", rd_kafka_err2str(e), ctl->kafka_err);
    else
        snprintf(buf, size, "%s", rd_kafka_err2str(e));
    return buf;
}

typedef struct {
    const char *topic;
    int32_t partition;
    int64_t redis_next; /* -1 when absent */
    int64_t committed;  /* -1 when none */
    int64_t low, high;  /* -1 when unknown */
    char *epoch;        /* NULL when absent */
    char *token;
    char *owner;
} part_row_t;

/* A partition's lag: the messages Kafka holds that funneld has not applied. lost: offsets
 * between the stored one and the log start (deleted before funneld applied them); ahead: Redis
 * stores an offset beyond the log end (a re-created topic or another cluster: funneld skips the
 * messages below it). Only for rows whose log end is known. */
static int64_t lag_of(const part_row_t *r, int64_t *lost, bool *ahead) {
    int64_t from = r->redis_next >= 0 ? r->redis_next : r->low;
    *lost = r->redis_next >= 0 && r->redis_next < r->low ? r->low - r->redis_next : 0;
    *ahead = r->redis_next > r->high;
    if (*ahead) return 0;
    return r->high - (from > r->low ? from : r->low);
}

static char *dup_or_null(const char *s) {
    return s ? xstrdup(s) : NULL;
}

static int64_t parse_i64(const char *s, int64_t dflt) {
    if (s == NULL) return dflt;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || end == s || *end ? dflt : (int64_t)v;
}

static void cell_i64(table_t *t, int64_t v) {
    char buf[32];
    if (v < 0)
        snprintf(buf, sizeof buf, "-");
    else
        snprintf(buf, sizeof buf, "%" PRId64, v);
    table_cell(t, buf);
}

static void json_i64(FILE *out, int64_t v) {
    if (v < 0)
        fputs("null", out);
    else
        fprintf(out, "%" PRId64, v);
}

static int cmd_offsets(ctl_t *ctl) {
    int rc = redis_open(ctl);
    if (rc >= 0) return rc;
    rd_kafka_t *rk = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    part_row_t *rows = NULL;
    size_t nrows = 0;
    char reason[1024];
    const fd_config_t *cfg = &ctl->cfg;

    if ((rc = kafka_open(ctl, &rk)) >= 0) goto out;
    rc = EXIT_RUNTIME;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, KAFKA_TIMEOUT_MS);
    if (e) {
        md = NULL;
        fail(EXIT_RUNTIME, "cannot reach Kafka at %s: %s", cfg->brokers,
             kafka_reason(ctl, rk, e, reason, sizeof reason));
        goto out;
    }
    /* the partitions of every configured topic, in the order of kafka.topics */
    parts = rd_kafka_topic_partition_list_new(64);
    bool missing = false;
    for (size_t t = 0; t < cfg->topics.count; t++) {
        const struct rd_kafka_metadata_topic *mt = NULL;
        for (int i = 0; i < md->topic_cnt; i++)
            if (strcmp(md->topics[i].topic, cfg->topics.item[t]) == 0) mt = &md->topics[i];
        if (mt == NULL || mt->err || mt->partition_cnt == 0) {
            fail(EXIT_RUNTIME, "kafka.topics: topic '%s' %s at %s", cfg->topics.item[t],
                 mt && mt->err ? rd_kafka_err2str(mt->err) : "does not exist", cfg->brokers);
            missing = true;
            continue;
        }
        /* metadata lists partitions in no promised order */
        for (int32_t p = 0; p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(parts, cfg->topics.item[t], p);
    }
    if (missing) goto out;

    rows = xcalloc((size_t)parts->cnt, sizeof *rows);
    nrows = (size_t)parts->cnt;
    /* Redis: the partition hashes, pipelined */
    for (size_t i = 0; i < nrows; i++) {
        char *key = xasprintf("%s:part:%s:%" PRId32, cfg->prefix, parts->elems[i].topic,
                              parts->elems[i].partition);
        const char *argv[] = {"HGETALL", key};
        redisAppendCommandArgv(ctl->rc, 2, argv, NULL);
        free(key);
    }
    bool redis_ok = true;
    for (size_t i = 0; i < nrows; i++) {
        part_row_t *r = &rows[i];
        r->topic = parts->elems[i].topic;
        r->partition = parts->elems[i].partition;
        r->redis_next = r->committed = r->low = r->high = -1;
        void *reply = NULL;
        if (redisGetReply(ctl->rc, &reply) != REDIS_OK) reply = NULL;
        redisReply *h = reply;
        if (h != NULL && h->type == REDIS_REPLY_ERROR && !redis_ok) {
            freeReplyObject(h); /* reported once (e.g. NOAUTH); drain the other replies */
            continue;
        }
        char what[300];
        snprintf(what, sizeof what, "HGETALL %s:part:%s:%" PRId32, cfg->prefix, r->topic,
                 r->partition);
        if (!reply_ok(ctl, h, what)) {
            if (h == NULL) goto out; /* the connection is gone: no more replies */
            redis_ok = false;
            continue;
        }
        if (h->type == REDIS_REPLY_ARRAY) {
            r->redis_next = parse_i64(hget(h, "next"), -1);
            r->epoch = dup_or_null(hget(h, "epoch"));
            r->token = dup_or_null(hget(h, "token"));
            if (r->token) {
                /* token = <epoch>:<instance>:<random>; the instance id may contain ':' */
                const char *a = strchr(r->token, ':'), *b = strrchr(r->token, ':');
                r->owner =
                    a && b > a ? xasprintf("%.*s", (int)(b - a - 1), a + 1) : xstrdup(r->token);
            }
        }
        freeReplyObject(h);
    }
    if (!redis_ok) goto out;

    /* Kafka: the group's committed offsets (one request), then each partition's watermarks */
    bool kafka_ok = true;
    e = rd_kafka_committed(rk, parts, KAFKA_TIMEOUT_MS);
    if (e) {
        fail(EXIT_RUNTIME, "cannot read the committed offsets of group '%s' at %s: %s",
             cfg->group_id, cfg->brokers, kafka_reason(ctl, rk, e, reason, sizeof reason));
        kafka_ok = false;
    } else {
        for (size_t i = 0; i < nrows; i++)
            if (!parts->elems[i].err && parts->elems[i].offset >= 0)
                rows[i].committed = parts->elems[i].offset;
    }
    for (size_t i = 0; i < nrows; i++) {
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(rk, rows[i].topic, rows[i].partition, &lo, &hi,
                                             KAFKA_TIMEOUT_MS);
        if (e) {
            fail(EXIT_RUNTIME, "cannot read the log end of %s [%" PRId32 "] at %s: %s",
                 rows[i].topic, rows[i].partition, cfg->brokers,
                 kafka_reason(ctl, rk, e, reason, sizeof reason));
            kafka_ok = false;
            continue;
        }
        rows[i].low = lo;
        rows[i].high = hi;
    }

    int64_t total_lag = 0;
    if (ctl->json) {
        fputc('[', stdout);
        for (size_t i = 0; i < nrows; i++) {
            const part_row_t *r = &rows[i];
            int64_t lost = 0;
            bool ahead = false;
            int64_t lag = r->high < 0 ? -1 : lag_of(r, &lost, &ahead);
            fputs(i ? ",\n {" : "{", stdout);
            fputs("\"topic\": ", stdout);
            json_string(stdout, r->topic);
            fprintf(stdout, ", \"partition\": %" PRId32 ", \"redis_next\": ", r->partition);
            json_i64(stdout, r->redis_next);
            fputs(", \"committed\": ", stdout);
            json_i64(stdout, r->committed);
            fputs(", \"log_start\": ", stdout);
            json_i64(stdout, r->low);
            fputs(", \"log_end\": ", stdout);
            json_i64(stdout, r->high);
            fputs(", \"lag\": ", stdout);
            if (r->high < 0)
                fputs("null, \"lost\": null, \"ahead\": null", stdout);
            else
                fprintf(stdout, "%" PRId64 ", \"lost\": %" PRId64 ", \"ahead\": %s", lag, lost,
                        ahead ? "true" : "false");
            fputs(", \"epoch\": ", stdout);
            if (r->epoch)
                json_value(stdout, r->epoch);
            else
                fputs("null", stdout);
            fputs(", \"token\": ", stdout);
            if (r->token)
                json_string(stdout, r->token);
            else
                fputs("null", stdout);
            fputs(", \"owner\": ", stdout);
            if (r->owner)
                json_string(stdout, r->owner);
            else
                fputs("null", stdout);
            fputc('}', stdout);
        }
        fputs("]\n", stdout);
    } else {
        table_t t = {.ncols = 8, .left = {true, false, false, false, false, false, false, true}};
        static const char *const head[] = {"topic",   "partition", "redis_next", "committed",
                                           "log_end", "lag",       "epoch",      "owner"};
        for (size_t c = 0; c < 8; c++)
            table_cell(&t, head[c]);
        for (size_t i = 0; i < nrows; i++) {
            const part_row_t *r = &rows[i];
            char buf[32];
            table_cell(&t, r->topic);
            snprintf(buf, sizeof buf, "%" PRId32, r->partition);
            table_cell(&t, buf);
            cell_i64(&t, r->redis_next);
            cell_i64(&t, r->committed);
            cell_i64(&t, r->high);
            if (r->high < 0) {
                table_cell(&t, "?");
            } else {
                int64_t lost;
                bool ahead;
                int64_t lag = lag_of(r, &lost, &ahead);
                total_lag += lag;
                snprintf(buf, sizeof buf, "%" PRId64, lag);
                table_cell(&t, buf);
            }
            table_cell(&t, r->epoch ? r->epoch : "-");
            table_cell(&t, r->owner ? r->owner : "-");
        }
        table_print(stdout, &t);
        printf("\ntotal lag %" PRId64 " (group %s, prefix %s)\n", total_lag, cfg->group_id,
               cfg->prefix);
    }
    /* What the lag cannot say, on stderr: offsets Kafka deleted before funneld applied them,
     * and a stored offset beyond the log (an error: those partitions are not being counted). */
    bool any_ahead = false;
    for (size_t i = 0; i < nrows; i++) {
        const part_row_t *r = &rows[i];
        if (r->high < 0) continue;
        int64_t lost;
        bool ahead;
        (void)lag_of(r, &lost, &ahead);
        if (lost > 0)
            fprintf(stderr,
                    "funnelctl: %s [%" PRId32 "]: offsets %" PRId64 "..%" PRId64
                    " were deleted from Kafka before funneld applied them (%" PRId64
                    " messages never counted)\n",
                    r->topic, r->partition, r->redis_next, r->low - 1, lost);
        if (ahead) {
            fprintf(stderr,
                    "funnelctl: %s [%" PRId32 "]: Redis stores offset %" PRId64
                    " beyond the log end %" PRId64
                    ": the topic was re-created or is another cluster's; funneld skips every "
                    "message below the stored offset (rebuild into a fresh redis.prefix)\n",
                    r->topic, r->partition, r->redis_next, r->high);
            any_ahead = true;
        }
    }
    rc = kafka_ok && !any_ahead ? 0 : EXIT_RUNTIME;

out:
    for (size_t i = 0; i < nrows; i++) {
        free(rows[i].epoch);
        free(rows[i].token);
        free(rows[i].owner);
    }
    free(rows);
    if (parts) rd_kafka_topic_partition_list_destroy(parts);
    if (md) rd_kafka_metadata_destroy(md);
    kafka_close(rk);
    return finish_output(rc);
}

/* ---------------------------------------------------------------------------------------------
 * stats */

static int cmd_stats(ctl_t *ctl) {
    int rc = redis_open(ctl);
    if (rc >= 0) return rc;
    char *key = xasprintf("%s:stats", ctl->cfg.prefix);
    redisReply *h = NULL;
    if (!hgetall(ctl, key, &h)) {
        free(key);
        return EXIT_RUNTIME;
    }
    if (h == NULL) {
        rc = fail(EXIT_RUNTIME,
                  "no stats at '%s' (prefix '%s'): funneld has applied nothing with this prefix",
                  key, ctl->cfg.prefix);
        free(key);
        return rc;
    }
    free(key);
    static const char *const known[] = {"accepted",         "duplicates", "rejected",
                                        "beyond_retention", "ignored",    "batches"};
    const size_t nknown = sizeof known / sizeof known[0];
    /* rejected:<reason> fields, sorted, shown under rejected */
    strvec_t reasons = {0};
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (strncmp(h->element[i]->str, "rejected:", 9) == 0)
            strvec_push(&reasons, xstrdup(h->element[i]->str));
    if (reasons.n > 1) qsort(reasons.item, reasons.n, sizeof *reasons.item, cmp_str);

    if (ctl->json) {
        fputc('{', stdout);
        bool first = true;
        for (size_t k = 0; k < nknown; k++) {
            fputs(first ? "" : ", ", stdout);
            first = false;
            json_string(stdout, known[k]);
            fputs(": ", stdout);
            json_value(stdout, hget_or(h, known[k], "0"));
            if (strcmp(known[k], "rejected") == 0) {
                for (size_t i = 0; i < reasons.n; i++) {
                    fputs(", ", stdout);
                    json_string(stdout, reasons.item[i]);
                    fputs(": ", stdout);
                    json_value(stdout, hget(h, reasons.item[i]));
                }
            }
        }
        for (size_t i = 0; i + 1 < h->elements; i += 2) { /* fields of a newer funneld */
            const char *f = h->element[i]->str;
            bool seen = strncmp(f, "rejected:", 9) == 0;
            for (size_t k = 0; k < nknown && !seen; k++)
                seen = strcmp(f, known[k]) == 0;
            if (seen) continue;
            fputs(", ", stdout);
            json_string(stdout, f);
            fputs(": ", stdout);
            json_value(stdout, h->element[i + 1]->str);
        }
        fputs("}\n", stdout);
    } else {
        table_t t = {.ncols = 2};
        for (size_t k = 0; k < nknown; k++) {
            table_cell(&t, known[k]);
            table_cell(&t, hget_or(h, known[k], "0"));
            if (strcmp(known[k], "rejected") == 0) {
                for (size_t i = 0; i < reasons.n; i++) {
                    char *label = xasprintf("  %s", reasons.item[i] + 9);
                    table_cell(&t, label);
                    table_cell(&t, hget(h, reasons.item[i]));
                    free(label);
                }
            }
        }
        for (size_t i = 0; i + 1 < h->elements; i += 2) {
            const char *f = h->element[i]->str;
            bool seen = strncmp(f, "rejected:", 9) == 0;
            for (size_t k = 0; k < nknown && !seen; k++)
                seen = strcmp(f, known[k]) == 0;
            if (seen) continue;
            table_cell(&t, f);
            table_cell(&t, h->element[i + 1]->str);
        }
        table_print(stdout, &t);
    }
    strvec_clear(&reasons);
    freeReplyObject(h);
    return finish_output(0);
}

/* ---------------------------------------------------------------------------------------------
 * alerts */

/* One stored alert document, parsed for the table. */
typedef struct {
    char *json; /* as stored */
    cJSON *doc; /* NULL when the text is not a JSON object */
    int rank;   /* critical 0, warning 1, info 2, anything else 3 */
} alert_row_t;

static const char *doc_str(const cJSON *doc, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* A number of the document as text ("0.1235", "12"), "-" when absent or null. */
static void doc_num(const cJSON *doc, const char *key, char *buf, size_t size) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!cJSON_IsNumber(it)) {
        snprintf(buf, size, "-");
        return;
    }
    snprintf(buf, size, "%.4f", it->valuedouble);
    char *e = buf + strlen(buf) - 1; /* drop trailing zeros: 0.2000 -> 0.2, 12.0000 -> 12 */
    while (*e == '0')
        *e-- = '\0';
    if (*e == '.') *e = '\0';
}

static void alert_row_init(alert_row_t *r, const char *json) {
    static const char *const sev[] = {"critical", "warning", "info"};
    r->json = xstrdup(json);
    r->doc = cJSON_Parse(json);
    if (r->doc && !cJSON_IsObject(r->doc)) {
        cJSON_Delete(r->doc);
        r->doc = NULL;
    }
    r->rank = 3;
    const char *s = r->doc ? doc_str(r->doc, "severity") : NULL;
    for (int k = 0; k < 3 && s; k++)
        if (strcmp(s, sev[k]) == 0) r->rank = k;
}

static int cmp_alert_rows(const void *pa, const void *pb) {
    const alert_row_t *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank - b->rank;
    /* RFC 3339 UTC times of one format sort as text */
    const char *sa = a->doc ? doc_str(a->doc, "started_at") : NULL;
    const char *sb = b->doc ? doc_str(b->doc, "started_at") : NULL;
    int c = strcmp(sa ? sa : "", sb ? sb : "");
    return c ? c : strcmp(a->json, b->json);
}

static void print_alert_table(FILE *out, const alert_row_t *rows, size_t n, bool history) {
    /* history: at, state, then the columns of the firing table */
    static const char *const head[] = {"at",      "state", "severity", "rule", "scope id",
                                       "manager", "kpi",   "value",    "vs",   "since"};
    size_t first = history ? 0 : 2;
    table_t t = {.ncols = 10 - first};
    for (size_t c = 0; c < t.ncols; c++)
        t.left[c] = strcmp(head[first + c], "value") != 0;
    for (size_t c = first; c < 10; c++)
        table_cell(&t, head[c]);
    for (size_t i = 0; i < n; i++) {
        const cJSON *d = rows[i].doc;
        if (d == NULL) {
            for (size_t c = 0; c < t.ncols; c++)
                table_cell(&t, c == 0 ? "(unreadable)" : "");
            continue;
        }
        char value[48], bound[48], vs[160], scope[300];
        if (history) {
            table_cell(&t, doc_str(d, "at"));
            table_cell(&t, doc_str(d, "state"));
        }
        table_cell(&t, doc_str(d, "severity"));
        table_cell(&t, doc_str(d, "rule"));
        const char *sid = doc_str(d, "scope_id");
        snprintf(scope, sizeof scope, "%s%s%s", doc_str(d, "scope") ? doc_str(d, "scope") : "?",
                 sid && sid[0] ? " " : "", sid ? sid : "");
        table_cell(&t, scope);
        table_cell(&t, doc_str(d, "manager") ? doc_str(d, "manager") : "-");
        table_cell(&t, doc_str(d, "kpi"));
        doc_num(d, "value", value, sizeof value);
        table_cell(&t, value);
        const char *cond = doc_str(d, "condition");
        if (cond && strcmp(cond, "target") == 0) {
            char target[48];
            doc_num(d, "expected", bound, sizeof bound);
            doc_num(d, "target", target, sizeof target);
            snprintf(vs, sizeof vs, "expected %s of %s", bound, target);
        } else if (cond && strcmp(cond, "drift") == 0) {
            const cJSON *ch = cJSON_GetObjectItemCaseSensitive(d, "change");
            doc_num(d, "baseline", bound, sizeof bound);
            if (cJSON_IsNumber(ch) && fabs(ch->valuedouble) < 1e6)
                snprintf(vs, sizeof vs, "baseline %s (%+.0f%%)", bound, ch->valuedouble * 100);
            else
                snprintf(vs, sizeof vs, "baseline %s", bound);
        } else {
            doc_num(d, "threshold", bound, sizeof bound);
            snprintf(vs, sizeof vs, "threshold %s", bound);
        }
        table_cell(&t, vs);
        table_cell(&t, doc_str(d, "started_at"));
    }
    table_print(out, &t);
}

static void print_alert_json(FILE *out, const alert_row_t *rows, size_t n) {
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",\n " : "", out);
        if (rows[i].doc)
            fputs(rows[i].json, out); /* as stored: funneld wrote one line of JSON */
        else
            json_string(out, rows[i].json);
    }
    fputs("]\n", out);
}

/* The last ctl->history entries of <prefix>:alerts, newest first: XREVRANGE ... COUNT N. */
static bool read_alert_history(ctl_t *ctl, alert_row_t **rows, size_t *n) {
    char *key = xasprintf("%s:alerts", ctl->cfg.prefix);
    char count[24];
    snprintf(count, sizeof count, "%ld", ctl->history);
    const char *argv[] = {"XREVRANGE", key, "+", "-", "COUNT", count};
    redisReply *r = redisCommandArgv(ctl->rc, 6, argv, NULL);
    char what[300];
    snprintf(what, sizeof what, "XREVRANGE %s + - COUNT %s", key, count);
    free(key);
    if (!reply_ok(ctl, r, what)) return false;
    if (r->type != REDIS_REPLY_ARRAY) {
        fail(EXIT_RUNTIME, "%s: unexpected reply type %d", what, r->type);
        freeReplyObject(r);
        return false;
    }
    *rows = xcalloc(r->elements, sizeof **rows);
    for (size_t i = 0; i < r->elements; i++) {
        /* entry = [id, [field, value, ...]] */
        const redisReply *e = r->element[i];
        const char *json = NULL;
        if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
            e->element[1]->type == REDIS_REPLY_ARRAY) {
            const redisReply *f = e->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                if (f->element[k]->type == REDIS_REPLY_STRING &&
                    strcmp(f->element[k]->str, "json") == 0 &&
                    f->element[k + 1]->type == REDIS_REPLY_STRING)
                    json = f->element[k + 1]->str;
        }
        alert_row_init(&(*rows)[(*n)++], json ? json : "");
    }
    freeReplyObject(r);
    return true;
}

static int cmd_alerts(ctl_t *ctl) {
    int rc = redis_open(ctl);
    if (rc >= 0) return rc;
    alert_row_t *rows = NULL;
    size_t n = 0;
    if (ctl->history > 0) {
        if (!read_alert_history(ctl, &rows, &n)) return EXIT_RUNTIME;
    } else {
        char *key = xasprintf("%s:alerts:firing", ctl->cfg.prefix);
        redisReply *h = NULL;
        bool ok = hgetall(ctl, key, &h);
        free(key);
        if (!ok) return EXIT_RUNTIME;
        size_t cnt = h ? h->elements / 2 : 0;
        rows = xcalloc(cnt, sizeof *rows);
        for (size_t i = 0; i < cnt; i++)
            alert_row_init(&rows[n++], h->element[2 * i + 1]->str);
        if (h) freeReplyObject(h);
        if (n > 1) qsort(rows, n, sizeof *rows, cmp_alert_rows);
    }
    if (ctl->json)
        print_alert_json(stdout, rows, n);
    else if (n == 0)
        printf(ctl->history > 0 ? "no alert notifications\n" : "no firing alerts\n");
    else
        print_alert_table(stdout, rows, n, ctl->history > 0);
    for (size_t i = 0; i < n; i++) {
        free(rows[i].json);
        cJSON_Delete(rows[i].doc);
    }
    free(rows);
    return finish_output(0);
}

/* ---------------------------------------------------------------------------------------------
 * rules check */

static int cmd_rules_check(ctl_t *ctl) {
    const char *path = ctl->nargs > 1 ? ctl->args[1] : ctl->cfg.alerts_rules;
    if (path == NULL || path[0] == '\0')
        return fail(EXIT_USAGE, "rules check: no file given and alerts.rules is empty");
    char errstr[1024] = "";
    fd_rules_t *rs = NULL;
    fd_err_t err = fd_rules_load(ctl->fn, path, &rs, errstr, sizeof errstr);
    if (err != FD_OK)
        return fail(EXIT_USAGE, "rules check: %s", errstr[0] ? errstr : fd_strerror(err));
    size_t n = fd_rules_count(rs);
    printf("%s: %zu rule%s, locale %s, clock %s, evaluated every %" PRId64 " s", path, n,
           n == 1 ? "" : "s", fd_rules_locale(rs), fd_rules_wall_clock(rs) ? "wall" : "event",
           fd_rules_interval_ms(rs) / 1000);
    if (fd_rules_hour_span_ms(rs) > 0)
        printf(", hourly buckets read up to %" PRId64 " h back",
               fd_rules_hour_span_ms(rs) / 3600000);
    if (fd_rules_max_baseline_days(rs) > 0)
        printf(", day buckets up to %d days back", fd_rules_max_baseline_days(rs));
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        char buf[2048];
        fd_rules_describe(rs, i, buf, sizeof buf);
        printf("  %s\n", buf);
    }
    fd_rules_destroy(rs);
    return finish_output(0);
}

/* --------------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    ctl_t ctl;
    memset(&ctl, 0, sizeof ctl);
    const char *config_path = getenv("FUNNELD_CONFIG");
    int rc;
    /* hiredis writes with write(2): a connection Redis closed must not kill us with SIGPIPE;
     * a closed stdout shows up as a write error instead (finish_output). */
    signal(SIGPIPE, SIG_IGN);

    if (fd_config_init(&ctl.cfg) != FD_OK) return fail(EXIT_RUNTIME, "out of memory");
    if ((rc = parse_args(&ctl, argc, argv, &config_path)) >= 0) goto out;
    if ((rc = load_settings(&ctl, argc, argv, config_path)) >= 0) goto out;

    const char *name = ctl.cmd->name;
    if (strcmp(name, "show") == 0)
        rc = cmd_show(&ctl);
    else if (strcmp(name, "reps") == 0)
        rc = cmd_list(&ctl, "rep");
    else if (strcmp(name, "teams") == 0)
        rc = cmd_list(&ctl, "team");
    else if (strcmp(name, "top") == 0)
        rc = cmd_top(&ctl);
    else if (strcmp(name, "offsets") == 0)
        rc = cmd_offsets(&ctl);
    else if (strcmp(name, "alerts") == 0)
        rc = cmd_alerts(&ctl);
    else if (strcmp(name, "rules") == 0)
        rc = cmd_rules_check(&ctl);
    else
        rc = cmd_stats(&ctl);
out:
    redis_close(&ctl);
    fd_timewin_destroy(ctl.tw);
    fd_funnel_destroy(ctl.fn);
    fd_config_clear(&ctl.cfg);
    return rc;
}
