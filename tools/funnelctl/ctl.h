// SPDX-License-Identifier: MIT
// funnelctl's private header: the state every command shares, the command table, and the helpers
// of its files (a tool above the layers: it reads Redis through io/redis and Kafka through
// io/kafka).
//
// Every function that can fail returns an fd_err_t after printing "funnelctl: <message>" on
// stderr (once, where the failure is found); main turns it into the exit status: FD_OK 0,
// FD_ERR_INVAL (usage) and FD_ERR_CONFIG (settings, rules file) 2, any other error 1.
#ifndef FUNNELCTL_CTL_H
#define FUNNELCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "base/err.h"
#include "io/redis.h"
#include "model/config.h"
#include "model/funnel.h"
#include "model/metrics.h"
#include "model/timewin.h"

#define CTL_MAX_ARGS 8

/* ---- the commands (args.c) ---- */

/* Options a command accepts (a bit each). */
enum {
    OPT_WINDOW = 1 << 0,
    OPT_JSON = 1 << 1,
    OPT_BY = 1 << 2,
    OPT_LIMIT = 1 << 3,
    OPT_INTERVAL = 1 << 4,
    OPT_ONCE = 1 << 5,
    OPT_HISTORY = 1 << 6,
    OPT_URL = 1 << 7,
    OPT_PERIOD = 1 << 8,
    OPT_TEAM = 1 << 9,
    OPT_SCOPE = 1 << 10,
    OPT_TO = 1 << 11,
    OPT_FUNNELD = 1 << 12,
    OPT_DELETE_OLD = 1 << 13,
};

typedef struct ctl ctl_t;

typedef struct {
    const char *name;
    unsigned opts; /* OPT_* it accepts besides --config, --set, --help */
    int min_args;  /* positional arguments after the command name */
    int max_args;
    const char *synopsis;
    const char *help;
    fd_err_t (*run)(ctl_t *ctl); /* NULL for help (answered while parsing) */
} command_t;

/* Everything a command needs: the options, the settings and the open connections. */
struct ctl {
    /* command line */
    const command_t *cmd;
    const char *args[CTL_MAX_ARGS]; /* positional arguments after the command name */
    int nargs;
    const char *window; /* --window, NULL = today */
    bool json, once;
    const char *by;
    long limit;
    bool limit_given;   /* --limit was on the command line */
    const char *url;    /* --url: the dashboard's address, shown first by board */
    long history;       /* --history N, 0 = the firing alerts */
    const char *period; /* --period: a period id or month, quarter, year (NULL: month) */
    const char *team;   /* --team (ranking) */
    const char *scope;  /* --scope rep|team (ranking; NULL: rep) */
    double interval;
    const char *to;      /* --to: rebuild's target prefix */
    const char *funneld; /* --funneld: the funneld rebuild runs (NULL: beside funnelctl) */
    bool delete_old;     /* --delete-old */
    /* the command line as given, for the funneld rebuild starts (same settings) */
    int argc;
    char **argv;
    const char *config_path;
    /* settings */
    fd_config_t cfg;
    fd_funnel_t *fn;
    fd_timewin_t *tw;
    /* connections */
    fd_redis_t *redis; /* NULL until redis_open */
    /* redis.prefix as configured; cfg.prefix is the active prefix once the first connect has
     * read <base>:current (redis.follow_current on) */
    char *base;
    char kafka_err[512]; /* the last error librdkafka reported (error callback or log) */
};

/* Parses argv into ctl (without loading settings). FD_OK with *done set when it answered
 * (--help, help): nothing more to do; FD_ERR_INVAL on a usage error (reported). */
fd_err_t ctl_parse_args(ctl_t *ctl, int argc, char **argv, const char **config_path, bool *done);
/* Loads the settings as funneld does: defaults < file < FUNNELD_* < --set, then the funnel and
 * the time windows. FD_ERR_CONFIG (reported). */
fd_err_t ctl_load_settings(ctl_t *ctl, int argc, char **argv, const char *config_path);
/* The window id a command reads into buf: --window, else today in the business timezone. */
void ctl_current_window(ctl_t *ctl, char *buf, size_t size);

/* The commands: each reports its failures and flushes its output. */
fd_err_t cmd_show(ctl_t *ctl);
fd_err_t cmd_reps(ctl_t *ctl);
fd_err_t cmd_teams(ctl_t *ctl);
fd_err_t cmd_top(ctl_t *ctl);
fd_err_t cmd_offsets(ctl_t *ctl);
fd_err_t cmd_stats(ctl_t *ctl);
fd_err_t cmd_alerts(ctl_t *ctl);
fd_err_t cmd_rules(ctl_t *ctl);
fd_err_t cmd_targets(ctl_t *ctl);
fd_err_t cmd_watch(ctl_t *ctl);
fd_err_t cmd_feeds(ctl_t *ctl);
fd_err_t cmd_board(ctl_t *ctl);
fd_err_t cmd_scorecard(ctl_t *ctl);
fd_err_t cmd_ranking(ctl_t *ctl);
fd_err_t cmd_rebuild(ctl_t *ctl);

/* ---- messages, memory and output (util.c) ---- */

/* Prints "funnelctl: <message>" on stderr and returns err. */
fd_err_t ctl_fail(fd_err_t err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The process exit status of err: 0, 2 (usage, configuration) or 1. */
int ctl_exit_status(fd_err_t err);
/* Flushes stdout: a write error (e.g. a closed pipe) turns a success into FD_ERR_IO
 * (reported); any other err is returned as is. */
fd_err_t ctl_finish_output(fd_err_t err);

/* calloc, strdup and asprintf that end the process (exit 1) when memory is short. */
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An open_memstream that ends the process when memory is short. */
FILE *xmemstream(char **buf, size_t *len);

/* Live commands (top, watch, board) run until SIGINT or SIGTERM: live_catch_signals makes them
 * set the flag live_stopped answers, without SA_RESTART so that a sleep or a blocking read they
 * interrupt ends at once; live_sleep waits seconds, less when such a signal comes. */
void live_catch_signals(void);
bool live_stopped(void);
void live_sleep(double seconds);

/* A growing array of heap strings it owns. */
typedef struct {
    char **item;
    size_t n, cap;
} strvec_t;

/* Appends s (taken). */
void strvec_push(strvec_t *v, char *s);
/* Whether v holds the len bytes at s. */
bool strvec_has(const strvec_t *v, const char *s, size_t len);
/* Sorts v (strcmp order). */
void strvec_sort(strvec_t *v);
/* Frees every string and the array; v is empty after. */
void strvec_clear(strvec_t *v);

/* s as a JSON string. */
void json_string(FILE *out, const char *s);
/* A stored value: the text itself when it is a JSON number as written, else a JSON string. */
void json_value(FILE *out, const char *v);
/* A stored rate ("0.5000", four decimals) as a percentage with two decimals ("50.00%") into
 * buf, by moving the decimal point so that no rounding can change it; '-' when rate is NULL;
 * any other text as it is. */
void format_rate(char *buf, size_t size, const char *rate);
/* Compares two non-negative decimal texts ("1054.00", "12", "0.5000") exactly, whatever their
 * size: <0, 0 or >0 as strcmp. */
int dec_cmp(const char *a, const char *b);

/* ---- aligned text tables (table.c) ---- */

#define TABLE_MAX_COLS 32

/* A text table: cells are heap strings, row-major; column 0 left-aligned, the others
 * right-aligned unless left[c]. Zero-initialise it with ncols set. */
typedef struct {
    size_t ncols;
    strvec_t cells;
    bool left[TABLE_MAX_COLS];
} table_t;

/* Appends a cell (copied; NULL is an empty cell). */
void table_cell(table_t *t, const char *text);
/* Columns s takes in a terminal: code points, East Asian wide ones counting 2, combining marks
 * and other zero-width ones 0. */
size_t display_width(const char *s);
/* s cut to at most max display columns, ending with an ellipsis ("…") when cut (heap). */
char *fit_width(const char *s, size_t max);
/* Prints the rows with the columns aligned to their display width (Unicode wide characters
 * count 2 columns, combining marks 0), without trailing blanks; empties the table. */
void table_print(FILE *out, table_t *t);

/* ---- reading Redis (redis.c) ---- */

/* Connects (AUTH, SELECT) unless connected. FD_ERR_REDIS (reported as "cannot reach Redis at
 * ...", "Redis at ... refused AUTH ...", or "Redis at ...: SELECT ..."). */
fd_err_t redis_open(ctl_t *ctl);
/* redis_open without the message: FD_ERR_REDIS with the reason in fd_redis_errstr(ctl->redis)
 * (fd_redis_refused tells a refusal from an unreachable Redis); FD_ERR_NOMEM (reported). */
fd_err_t redis_try_open(ctl_t *ctl);
/* Reports the last failed connect as redis_open does; FD_ERR_REDIS. */
fd_err_t redis_report_connect(ctl_t *ctl);
/* Drops the connection (the next redis_open connects again). */
void redis_drop(ctl_t *ctl);
/* Frees the connection. */
void redis_close(ctl_t *ctl);
/* Runs one command. FD_OK with a reply that is not an error reply in *out (the caller frees it);
 * FD_ERR_REDIS (reported, naming what, e.g. "HGETALL funnel:stats") when the connection fails or
 * Redis answers an error. */
fd_err_t redis_run(ctl_t *ctl, const char *what, int argc, const char **argv, redisReply **out);
/* Pipelining: queues a command (FD_ERR_REDIS, reported), then redis_next_reply reads the
 * answers in order: FD_OK with the reply as it is, error replies included (the caller frees
 * it); FD_ERR_REDIS, not reported, when the connection is lost (no more replies: report it
 * with redis_lost). */
fd_err_t redis_queue(ctl_t *ctl, const char *what, int argc, const char **argv);
fd_err_t redis_next_reply(ctl_t *ctl, const char *what, redisReply **out);
/* Reports the lost connection of the last failure while running what; FD_ERR_REDIS. */
fd_err_t redis_lost(ctl_t *ctl, const char *what);
/* Reports reply as a failure of what when it is an error reply (freeing it): FD_ERR_REDIS;
 * FD_OK otherwise. */
fd_err_t redis_check_reply(ctl_t *ctl, const char *what, redisReply *reply);

/* HGETALL key: *out is the array reply (fields and values alternating), NULL when the hash
 * does not exist. FD_ERR_REDIS (reported). */
fd_err_t redis_hgetall(ctl_t *ctl, const char *key, redisReply **out);
/* The value of field in an HGETALL reply (h may be NULL), NULL when absent. */
const char *hget(const redisReply *h, const char *field);
const char *hget_or(const redisReply *h, const char *field, const char *dflt);

/* The ids of scope (rep or team) with a hash in window, sorted, each once. FD_ERR_REDIS
 * (reported). */
fd_err_t redis_list_ids(ctl_t *ctl, fd_scope_t scope, const char *window, strvec_t *ids);

/* SCAN MATCH pattern of every key starting with head (its glob characters escaped; heap). */
char *scan_pattern(const char *head);
/* Calls fn(key, len, arg) for every key that starts with head (SCAN MATCH with head's glob
 * characters escaped; binary-safe: the key as Redis gave it). SCAN may return a key twice: fn is
 * called twice then. Stops at fn's first error and returns it; FD_ERR_REDIS (reported). */
typedef fd_err_t (*redis_key_fn)(const char *key, size_t len, void *arg);
fd_err_t redis_scan(ctl_t *ctl, const char *head, redis_key_fn fn, void *arg);

/* Keys, built by io/keys into heap strings (any length). */
char *key_metric(const ctl_t *ctl, fd_scope_t scope, const char *window, const char *id);
char *key_single(const ctl_t *ctl, const char *name);
char *key_part(const ctl_t *ctl, const char *topic, int32_t partition);
/* The part of a metric key after "<p>:" ("rep:all:anna"): how the change feed names it. */
char *key_metric_suffix(fd_scope_t scope, const char *window, const char *id);

/* ---- Kafka (offsets.c; rebuild shares it) ---- */

/* A member of kafka.group_id that never subscribes (io/kafka's group reader), with funnelctl's
 * error and log callbacks keeping the last problem in ctl->kafka_err. FD_ERR_CONFIG
 * (reported). */
fd_err_t kafka_open(ctl_t *ctl, rd_kafka_t **out);
void kafka_close(rd_kafka_t *rk);
/* librdkafka's text of e and the last error it reported, into buf. */
const char *kafka_reason(ctl_t *ctl, rd_kafka_t *rk, rd_kafka_resp_err_t e, char *buf, size_t size);

/* ---- the reps of a window (top.c; board shares them) ---- */

/* One rep's hash of a window. */
typedef struct {
    char *rep;
    redisReply *h;
    const char *key; /* the sort value in h, NULL when absent */
    bool counter;    /* the sort field is a counter: absent counts as 0 (else it sorts last) */
} rep_row_t;

/* Reads every rep hash of window, pipelined, into *rows (free with reps_free, also on failure).
 * FD_ERR_REDIS (reported). */
fd_err_t reps_read(ctl_t *ctl, const char *window, rep_row_t **rows, size_t *nrows);
/* Sorts rows best first on field (a counter: absent counts 0; else absent sorts last), ties by
 * rep id. */
void reps_sort(rep_row_t *rows, size_t n, const char *field, bool counter);
/* Frees the rows and the array. */
void reps_free(rep_row_t *rows, size_t n);

/* ---- a metrics hash (hash.c) ---- */

/* Appends the name of every field a metrics hash of fn may hold, in the order of docs/redis.md:
 * the funnel's counters with each derived field of the metrics table after its operands. */
void hash_known_fields(const fd_funnel_t *fn, strvec_t *names);
/* Writes an HGETALL reply as one JSON object: the known fields in layout order, then any other
 * field in the hash's order. extra_key/extra_value, when set, come first (e.g. "rep"). */
void hash_print_json(FILE *out, const fd_funnel_t *fn, const redisReply *h, const char *extra_key,
                     const char *extra_value);
/* The table of show: per stage, the scope-wide counters, then the fields fn does not know. */
void hash_print_table(FILE *out, const fd_funnel_t *fn, const redisReply *h);
/* The open pipeline of an "all" hash (may be NULL: zeros): per stage but the won one the open
 * deals and their amount, then the total. */
void hash_print_pipeline(FILE *out, const fd_funnel_t *fn, const redisReply *all);
/* Writes an HGETALL reply (h may be NULL: {}) as one JSON object of strings, each value
 * exactly as stored: the known fields in layout order, then the others in the hash's order. */
void hash_print_json_text(FILE *out, const fd_funnel_t *fn, const redisReply *h);

/* ---- one scope's funnel, as show prints it (show.c; watch prints the same) ---- */

/* The scope a command's arguments name: "rep <id>", "team <id>" or "org". */
typedef struct {
    fd_scope_t scope;
    const char *name; /* "rep", "team" or "org" */
    const char *id;   /* NULL for the org */
} scope_arg_t;

/* Reads the scope from the positional arguments of ctl's command (show, watch). FD_ERR_INVAL
 * (reported, naming the command). */
fd_err_t scope_parse(const ctl_t *ctl, scope_arg_t *sa);
/* Prints the funnel of sa's hash h in window as `show` does: the title line ("rep anna, window
 * all"), a blank line, the stage and scope-wide tables. h NULL (no hash) prints the title and a
 * line saying that there are no metrics yet. with_pipeline adds the open pipeline of the scope's
 * "all" hash (all, NULL: none) and the sales velocity of the window. */
void show_print_funnel(FILE *out, const ctl_t *ctl, const scope_arg_t *sa, const char *window,
                       const redisReply *h, const redisReply *all, bool with_pipeline);

#endif
