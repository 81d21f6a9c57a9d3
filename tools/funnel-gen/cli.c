// SPDX-License-Identifier: MIT
// funnel-gen's command line: --help, the options into opts_t, and the parsers of numbers,
// durations and times they share with the model set-up (tool, outside the layers).
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

#define DEFAULT_DEAL_RATE 1.2 /* new deals per rep per calendar day */

fd_err_t parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, PROG ": %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return FD_ERR_INVAL;
    }
    *out = v;
    return FD_OK;
}

fd_err_t parse_ll(const char *opt, const char *s, long long lo, long long hi, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, PROG ": %s: expected an integer in [%lld, %lld], got '%s'\n", opt, lo, hi,
                s);
        return FD_ERR_INVAL;
    }
    *out = v;
    return FD_OK;
}

/* "90d", "12h", "30m", "45s", "500ms", "2w" -> milliseconds (> 0). */
fd_err_t parse_duration_ms(const char *opt, const char *s, int64_t *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    double unit = 0;
    if (!errno && end != s && v > 0) {
        if (strcmp(end, "ms") == 0)
            unit = 1;
        else if (strcmp(end, "s") == 0)
            unit = 1000;
        else if (strcmp(end, "m") == 0)
            unit = 60000;
        else if (strcmp(end, "h") == 0)
            unit = (double)HOUR_MS;
        else if (strcmp(end, "d") == 0)
            unit = (double)DAY_MS;
        else if (strcmp(end, "w") == 0)
            unit = 7.0 * (double)DAY_MS;
    }
    if (unit == 0 || v * unit > 1e15) {
        fprintf(stderr,
                PROG ": %s: expected a duration like 90d, 12h, 30m, 45s, 500ms or 2w, "
                     "got '%s'\n",
                opt, s);
        return FD_ERR_INVAL;
    }
    *out = (int64_t)(v * unit);
    return FD_OK;
}

/* A point in time: "now", "today" (00:00 UTC), either followed by -<duration> or +<duration>,
 * an RFC 3339 time, or epoch milliseconds. */
fd_err_t parse_time_arg(const char *opt, const char *s, int64_t now, int64_t *out) {
    int64_t base;
    const char *rest;
    if (strncmp(s, "now", 3) == 0) {
        base = now;
        rest = s + 3;
    } else if (strncmp(s, "today", 5) == 0) {
        base = floor_div(now, DAY_MS) * DAY_MS;
        rest = s + 5;
    } else {
        long long ms;
        char *end = NULL;
        errno = 0;
        ms = strtoll(s, &end, 10);
        if (!errno && end != s && *end == '\0' && ms >= 0) {
            *out = ms;
            return FD_OK;
        }
        if (fd_event_parse_time(s, strlen(s), out) == FD_OK && *out >= 0) return FD_OK;
        fprintf(stderr,
                PROG ": %s: expected RFC 3339 time, epoch ms, 'now' or 'today' "
                     "(optionally -/+ a duration like 90d), got '%s'\n",
                opt, s);
        return FD_ERR_INVAL;
    }
    if (*rest == '\0') {
        *out = base;
        return FD_OK;
    }
    int64_t d;
    if ((*rest != '-' && *rest != '+') || parse_duration_ms(opt, rest + 1, &d) != FD_OK) {
        fprintf(stderr,
                PROG ": %s: expected 'now' or 'today' followed by -<duration> or "
                     "+<duration>, got '%s'\n",
                opt, s);
        return FD_ERR_INVAL;
    }
    *out = *rest == '-' ? base - d : base + d;
    return FD_OK;
}

void usage(FILE *out) {
    static const char *const text[] = {
        "usage: funnel-gen (--stdout [--with-key] | --brokers B [--topic T]) [options]",
        "",
        "Generates CRM events of the funneld contract (docs/events.md), sorted by event",
        "time, keyed by deal_id (rep_id without a deal). Details: docs/funnel-gen.md.",
        "",
        "Sink:",
        "  --stdout               JSON lines on stdout",
        "  --with-key             with --stdout: 'key<TAB>json' lines (fd-produce's input)",
        "  --brokers B            produce to Kafka (idempotent producer, key = deal_id)",
        "  --topic T              topic (default crm.events)",
        "  --throttle-redis HOST:PORT[/PREFIX]",
        "                         keep at most --max-lag events produced but not applied by",
        "                         funneld: the sum of 'next' of PREFIX:part:<topic>:<p>",
        "                         (PREFIX default funnel); logs in with FUNNELD_REDIS_PASSWORD",
        "                         (and FUNNELD_REDIS_USER) when set",
        "  --max-lag N            default 50000",
        "  --set kafka.PROPERTY=VALUE",
        "                         a librdkafka property of the producer (repeatable), as",
        "                         funneld's kafka.<property>: e.g. security.protocol,",
        "                         sasl.mechanisms, sasl.username, sasl.password, ssl.ca.location;",
        "                         FUNNELD_KAFKA__<PROPERTY> variables are read too (--set wins)",
        "",
        "How much, how fast, when:",
        "  --seed N               default 1; the same seed gives the same events",
        "  --start T              RFC 3339, epoch ms, or 'now'/'today' [-+duration]",
        "                         (default: today 00:00 UTC minus the span)",
        "  --span D               synthetic period: 90d, 12h, 2w, 30m, 45s (default 90d);",
        "                         nothing after it is produced. Unbounded with --count,",
        "                         --duration or --live unless given",
        "  --deals N              about N deals arrive over the span (at most N)",
        "  --deal-rate X          else X new deals per rep per day (default 1.2)",
        "  --count N              stop after N lines (events, copies, malformed)",
        "  --duration S           stop after S seconds of wall time",
        "  --rate R               lines per second, 0 = as fast as possible (default 0,",
        "                         1000 with --live)",
        "  --live                 stamp events with the wall clock (demos)",
        "  --timezone TZ          IANA zone of timestamp offsets and working hours",
        "                         (default: UTC hours, offsets +08:00 and -05:00)",
        "",
        "Model:",
        "  --reps N, --teams M    N reps (default 30) round-robin in M teams (default 6)",
        "  --reps-file PATH       CSV with columns sales_agent,manager: rep = sales_agent,",
        "                         team = manager lower-cased, spaces as '-'",
        "  --stages LIST          default lead,qualified,proposal,negotiation,won",
        "  --conv LIST            conversion out of each stage but the last",
        "                         (default 0.7,0.6,0.5,0.6)",
        "  --activities LIST      default call,visit,email,meeting,follow_up",
        "  --activity-rates LIST  per rep per working day (default 3,0.5,3.5,1,1)",
        "  --collapse 'REP:STAGE:TIME[..UNTIL][:FACTOR]'",
        "                         from TIME on (absolute, or +duration from the start)",
        "                         until UNTIL if given, REP's conversion out of STAGE is",
        "                         multiplied by FACTOR (default 0.1); repeatable, up to 8",
        "",
        "Faults (probabilities per valid event, default 0):",
        "  --dup-rate P           an exact copy follows within 0..32 events (same key)",
        "  --ooo-rate P           swap with the next event of the same deal if that one",
        "  --ooo-window W         is at most W positions later (default 20, max 4096)",
        "  --bad-rate P           add a malformed message (20 kinds: docs/funnel-gen.md)",
        "",
        "  --help                 this text",
        "A summary (events by type, duplicates, malformed by kind) goes to stderr.",
    };
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        fprintf(out, "%s\n", text[i]);
}

enum {
    OPT_SEED = 256,
    OPT_REPS,
    OPT_TEAMS,
    OPT_REPS_FILE,
    OPT_STAGES,
    OPT_CONV,
    OPT_ACTIVITIES,
    OPT_ACTIVITY_RATES,
    OPT_DEALS,
    OPT_DEAL_RATE,
    OPT_COUNT,
    OPT_DURATION,
    OPT_RATE,
    OPT_START,
    OPT_SPAN,
    OPT_LIVE,
    OPT_TIMEZONE,
    OPT_DUP,
    OPT_OOO,
    OPT_OOO_WINDOW,
    OPT_BAD,
    OPT_COLLAPSE,
    OPT_STDOUT,
    OPT_WITH_KEY,
    OPT_BROKERS,
    OPT_TOPIC,
    OPT_THROTTLE,
    OPT_MAX_LAG,
    OPT_SET,
    OPT_HELP
};

static const struct option long_opts[] = {
    {"seed", required_argument, NULL, OPT_SEED},
    {"reps", required_argument, NULL, OPT_REPS},
    {"teams", required_argument, NULL, OPT_TEAMS},
    {"reps-file", required_argument, NULL, OPT_REPS_FILE},
    {"stages", required_argument, NULL, OPT_STAGES},
    {"conv", required_argument, NULL, OPT_CONV},
    {"activities", required_argument, NULL, OPT_ACTIVITIES},
    {"activity-rates", required_argument, NULL, OPT_ACTIVITY_RATES},
    {"deals", required_argument, NULL, OPT_DEALS},
    {"deal-rate", required_argument, NULL, OPT_DEAL_RATE},
    {"count", required_argument, NULL, OPT_COUNT},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"rate", required_argument, NULL, OPT_RATE},
    {"start", required_argument, NULL, OPT_START},
    {"span", required_argument, NULL, OPT_SPAN},
    {"live", no_argument, NULL, OPT_LIVE},
    {"timezone", required_argument, NULL, OPT_TIMEZONE},
    {"dup-rate", required_argument, NULL, OPT_DUP},
    {"ooo-rate", required_argument, NULL, OPT_OOO},
    {"ooo-window", required_argument, NULL, OPT_OOO_WINDOW},
    {"bad-rate", required_argument, NULL, OPT_BAD},
    {"collapse", required_argument, NULL, OPT_COLLAPSE},
    {"stdout", no_argument, NULL, OPT_STDOUT},
    {"with-key", no_argument, NULL, OPT_WITH_KEY},
    {"brokers", required_argument, NULL, OPT_BROKERS},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"throttle-redis", required_argument, NULL, OPT_THROTTLE},
    {"max-lag", required_argument, NULL, OPT_MAX_LAG},
    {"set", required_argument, NULL, OPT_SET},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0}};

fd_err_t parse_args(gen_t *g, int argc, char **argv, bool *help, bool *rate_given) {
    opts_t *o = &g->o;
    long long v;
    int c;
    *o = (opts_t){.seed = 1,
                  .reps = 30,
                  .teams = 6,
                  .deals = -1,
                  .deal_rate = DEFAULT_DEAL_RATE,
                  .ooo_window = 20,
                  .topic = "crm.events",
                  .max_lag = 50000};
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        const char *name = long_opts[0].name;
        for (const struct option *lo = long_opts; lo->name; lo++)
            if (lo->val == c) name = lo->name;
        char opt[48];
        snprintf(opt, sizeof opt, "--%s", name);
        switch (c) {
        case OPT_SEED:
            if (parse_ll(opt, optarg, 0, 999999999999LL, &v) != FD_OK) return FD_ERR_INVAL;
            o->seed = (uint64_t)v;
            break;
        case OPT_REPS:
            if (parse_ll(opt, optarg, 1, MAX_REPS, &v) != FD_OK) return FD_ERR_INVAL;
            o->reps = (long)v;
            break;
        case OPT_TEAMS:
            if (parse_ll(opt, optarg, 1, MAX_REPS, &v) != FD_OK) return FD_ERR_INVAL;
            o->teams = (long)v;
            break;
        case OPT_REPS_FILE:
            o->reps_file = optarg;
            break;
        case OPT_STAGES:
            o->stages = optarg;
            break;
        case OPT_CONV:
            o->conv = optarg;
            break;
        case OPT_ACTIVITIES:
            o->activities = optarg;
            break;
        case OPT_ACTIVITY_RATES:
            o->activity_rates = optarg;
            break;
        case OPT_DEALS:
            if (parse_ll(opt, optarg, 0, 1000000000000LL, &o->deals) != FD_OK) return FD_ERR_INVAL;
            break;
        case OPT_DEAL_RATE:
            if (parse_double(opt, optarg, 1e-6, 1e6, &o->deal_rate) != FD_OK) return FD_ERR_INVAL;
            break;
        case OPT_COUNT:
            if (parse_ll(opt, optarg, 1, INT64_MAX, &o->count) != FD_OK) return FD_ERR_INVAL;
            break;
        case OPT_DURATION:
            if (parse_double(opt, optarg, 0.001, 1e9, &o->duration_s) != FD_OK) return FD_ERR_INVAL;
            break;
        case OPT_RATE:
            if (parse_double(opt, optarg, 0, 1e9, &o->rate) != FD_OK) return FD_ERR_INVAL;
            *rate_given = true;
            break;
        case OPT_START:
            o->start = optarg;
            break;
        case OPT_SPAN:
            o->span = optarg;
            break;
        case OPT_LIVE:
            o->live = true;
            break;
        case OPT_TIMEZONE:
            o->timezone = optarg;
            break;
        case OPT_DUP:
            if (parse_double(opt, optarg, 0, 1, &o->dup_rate) != FD_OK) return FD_ERR_INVAL;
            break;
        case OPT_OOO:
            if (parse_double(opt, optarg, 0, 1, &o->ooo_rate) != FD_OK) return FD_ERR_INVAL;
            break;
        case OPT_OOO_WINDOW:
            if (parse_ll(opt, optarg, 1, MAX_OOO_WINDOW, &v) != FD_OK) return FD_ERR_INVAL;
            o->ooo_window = (long)v;
            break;
        case OPT_BAD:
            if (parse_double(opt, optarg, 0, 1, &o->bad_rate) != FD_OK) return FD_ERR_INVAL;
            break;
        case OPT_COLLAPSE:
            if (o->ncollapse == MAX_COLLAPSE) {
                fprintf(stderr, PROG ": --collapse: at most %d, got more\n", MAX_COLLAPSE);
                return FD_ERR_INVAL;
            }
            o->collapse[o->ncollapse++] = optarg;
            break;
        case OPT_STDOUT:
            o->to_stdout = true;
            break;
        case OPT_WITH_KEY:
            o->with_key = true;
            break;
        case OPT_BROKERS:
            o->brokers = optarg;
            break;
        case OPT_TOPIC:
            o->topic = optarg;
            break;
        case OPT_THROTTLE:
            o->throttle = optarg;
            break;
        case OPT_SET:
            if (o->nsets == MAX_SETS) {
                fprintf(stderr, PROG ": --set: at most %d, got more\n", MAX_SETS);
                return FD_ERR_INVAL;
            }
            o->sets[o->nsets++] = optarg;
            break;
        case OPT_MAX_LAG:
            if (parse_ll(opt, optarg, 1, INT64_MAX, &o->max_lag) != FD_OK) return FD_ERR_INVAL;
            break;
        case OPT_HELP:
        case 'h':
            *help = true;
            return FD_OK;
        case ':':
            fprintf(stderr, PROG ": %s needs a value\n", argv[optind - 1]);
            return FD_ERR_INVAL;
        default:
            if (optopt && optopt >= OPT_SEED)
                fprintf(stderr, PROG ": %s needs a value\n", argv[optind - 1]);
            else
                fprintf(stderr, PROG ": unknown option '%s' (see --help)\n", argv[optind - 1]);
            return FD_ERR_INVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s' (see --help)\n", argv[optind]);
        return FD_ERR_INVAL;
    }
    if (o->to_stdout == (o->brokers != NULL)) {
        fprintf(stderr, PROG ": choose one sink: --stdout or --brokers B (see --help)\n");
        return FD_ERR_INVAL;
    }
    if (o->with_key && !o->to_stdout) {
        fprintf(stderr, PROG ": --with-key is for --stdout; Kafka messages always carry the key\n");
        return FD_ERR_INVAL;
    }
    if (o->nsets > 0 && !o->brokers) {
        fprintf(stderr, PROG ": --set is for --brokers (librdkafka properties)\n");
        return FD_ERR_INVAL;
    }
    if (o->throttle && !o->brokers) {
        fprintf(stderr, PROG ": --throttle-redis needs --brokers\n");
        return FD_ERR_INVAL;
    }
    return FD_OK;
}
