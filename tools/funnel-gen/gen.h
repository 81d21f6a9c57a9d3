// SPDX-License-Identifier: MIT
// funnel-gen's private header: the generator's state and the functions its files share (tool,
// outside the layers).
//
// funnel-gen is a seeded generator of realistic CRM contract events (deals moving through the
// funnel, activities, feedback) with injected faults, written to stdout or to Kafka. How it
// works, top to bottom, one file each:
//   1. model      (model.c, crm_csv.c, sim.c) reps in teams, deals arriving as a Poisson
//                 process, each walking the stages with per-stage conversion and log-normal
//                 dwell; activities per rep per working day (calendar.c); feedback after won
//                 deals. A min-heap of timed tasks yields events in time order.
//   2. formatting (format.c) each event becomes one JSON line (ids, mixed timestamp forms) in a
//                 reusable slot.
//   3. faults     (output.c, malformed.c) a ring of W+1 slots swaps an event with the next one
//                 of its deal (out of order); exact copies are re-emitted a few events later
//                 (duplicates); malformed messages of many kinds are inserted (never replacing a
//                 real event).
//   4. sinks      (output.c, producer.c, throttle.c) stdout (JSON lines, or "key<TAB>json") or a
//                 librdkafka producer keyed by deal_id, optionally throttled on the consumer's
//                 progress stored in Redis.
// The model and the fault decisions draw from two separate xoshiro256** streams (rng.h), so a
// seed gives the same valid events whatever the fault rates. Its calendar and formatting are its
// own, independent of src/: funnel-gen is a test oracle for funneld's window maths. Usage and
// model: docs/funnel-gen.md, or --help (cli.c).
//
// Conventions: what can fail returns fd_err_t (FD_OK or a negative FD_ERR_*) and has already
// told the user on stderr, prefixed PROG; questions return bool.
#ifndef FUNNEL_GEN_H
#define FUNNEL_GEN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "base/err.h"
#include "base/map.h"
#include "io/redis.h"
#include "model/config.h"
#include "model/event.h"
#include "model/funnel.h"
#include "rng.h"
#include "sb.h"

#define PROG "funnel-gen"

#define DAY_MS  86400000LL
#define HOUR_MS 3600000LL

#define MAX_REPS       100000
#define MAX_COLLAPSE   8
#define MAX_OOO_WINDOW 4096
#define SLOT_BYTES     2048 /* a valid event is < 1 KiB: 4 escaped ids of <= 128 bytes */
#define KEY_BYTES      (FD_ID_MAX + 1)
#define DUP_PENDING    64          /* copies waiting to be re-emitted */
#define DUP_MAX_DELAY  32          /* a copy follows its original within this many events */
#define BAD_BYTES      (80 * 1024) /* room for the oversize malformed message */
#define MAX_PARTITIONS 1024

/* Working hours of activities, local business time. */
#define WORK_START_MS (9 * HOUR_MS)
#define WORK_MS       (9 * HOUR_MS)
#define MAX_SETS      FD_CONFIG_MAX_KAFKA /* --set kafka.<property>=<value> */

/* Counts signals: the first stops generating, a second one stops waiting for deliveries. */
extern volatile sig_atomic_t gen_signalled;

typedef struct {
    char *id;   /* the rep_id */
    char *json; /* its JSON string, quotes included */
    size_t json_len;
    uint32_t team;
    double skill;       /* multiplies the stage conversions */
    double weight_cum;  /* cumulative share of new deals, for the binary search */
    double work_ms;     /* position on the rep's working-time clock (activities) */
    uint64_t last_deal; /* latest deal number, 0 none */
} rep_t;

typedef struct {
    char *id;
    char *json;
    size_t json_len;
} team_t;

/* What a deal's pending task does when it comes due. */
enum { NEXT_EXIT, NEXT_RETURN, NEXT_FEEDBACK };

typedef struct {
    uint64_t num;     /* deal number: deal_id "D-<seed>-<num>" */
    int64_t amount_c; /* current amount, hundredths */
    uint32_t rep;
    int8_t stage; /* current stage */
    uint8_t next; /* NEXT_* */
} deal_t;

/* Timed tasks in a min-heap by (time, sequence): the sequence makes ties deterministic. */
enum { TASK_ARRIVAL, TASK_ACTIVITY, TASK_DEAL };

typedef struct {
    int64_t t;
    uint64_t seq;
    uint32_t what;
    uint32_t idx;
} task_t;

/* One generated (valid) event before formatting. */
typedef struct {
    fd_event_type_t type;
    int64_t at_ms;
    uint32_t rep;
    uint64_t deal;    /* 0 = no deal_id */
    int stage;        /* -1 = no stage field */
    int64_t amount_c; /* -1 = no amount field */
    int kind;         /* activity kind */
    int score_c;      /* -1 = no score */
    int complaint;    /* -1 = no complaint field, else 0 / 1 */
} gev_t;

typedef struct {
    char rep[FD_ID_MAX + 1];
    int stage;
    int64_t at_ms;
    int64_t until_ms; /* INT64_MAX: for ever */
    double factor;
} collapse_t;

/* Malformed kinds: name, the rejection reason funneld must give, relative weight. */
#define BAD_MAP(X)                                                                                 \
    X(NOT_JSON, "not_json", "invalid_json", 10)                                                    \
    X(TRAILING, "trailing_bytes", "invalid_json", 10)                                              \
    X(RAW_CONTROL, "raw_control_char", "invalid_json", 5)                                          \
    X(NOT_OBJECT, "not_object", "not_object", 5)                                                   \
    X(DUP_KEY, "duplicate_key", "duplicate_key", 10)                                               \
    X(MISSING, "missing_field", "missing_field", 10)                                               \
    X(WRONG_TYPE, "wrong_type", "wrong_type", 10)                                                  \
    X(EMPTY_ID, "empty_id", "invalid_id", 5)                                                       \
    X(CONTROL_ID, "control_char_id", "invalid_id", 10)                                             \
    X(UNKNOWN_TYPE, "unknown_type", "unknown_type", 10)                                            \
    X(UNKNOWN_STAGE, "unknown_stage", "unknown_stage", 10)                                         \
    X(LOST_AT_WON, "lost_at_won", "invalid_stage", 5)                                              \
    X(UNKNOWN_ACTIVITY, "unknown_activity", "unknown_activity", 10)                                \
    X(BAD_TIME, "bad_timestamp", "invalid_timestamp", 10)                                          \
    X(BAD_AMOUNT, "bad_amount", "invalid_amount", 5)                                               \
    X(BAD_SCORE, "bad_score", "invalid_score", 5)                                                  \
    X(BAD_UTF8, "invalid_utf8", "invalid_utf8", 10)                                                \
    X(NUL_ID, "nul_in_id", "nul_character", 10)                                                    \
    X(TOO_DEEP, "too_deep", "too_deep", 5)                                                         \
    X(OVERSIZE, "oversize", "oversize", 0.5)

typedef enum {
#define X(name, kind, reason, w) BAD_##name,
    BAD_MAP(X)
#undef X
        BAD_COUNT
} bad_kind_t;

/* Per malformed kind: its name, the reason funneld must reject it for, its relative weight. */
extern const char *const bad_name[BAD_COUNT];
extern const char *const bad_reason[BAD_COUNT];
extern const double bad_weight[BAD_COUNT];

/* Timestamp forms of occurred_at. The "s" forms carry whole seconds: the event time is floored to
 * the second, which keeps a sorted stream sorted (flooring is monotonic). */
typedef enum {
    TS_Z_S,      /* 2026-11-22T18:00:00Z */
    TS_Z_MS,     /* 2026-11-22T18:00:00.250Z */
    TS_Z_NS,     /* 2026-11-22T18:00:00.250000000Z (nanoseconds, truncated to ms by funneld) */
    TS_OFF_S,    /* 2026-11-23T02:00:00+08:00 */
    TS_OFF_MS,   /* 2026-11-22T13:00:00.250-05:00 */
    TS_SPACE_Z,  /* 2026-11-22 18:00:00.25z (space and lower-case z are allowed too) */
    TS_EPOCH_MS, /* 1795370400250, a JSON number */
    TS_COUNT
} ts_form_t;

/* A formatted event waiting in the out-of-order ring. */
typedef struct {
    gev_t ev;
    char data[SLOT_BYTES];
    size_t len;
    char key[KEY_BYTES];
    size_t key_len;
    bool moved; /* already swapped once: never moved again, so no event travels more than W */
} slot_t;

typedef struct {
    int countdown; /* events to wait before re-emitting; -1 = free */
    char data[SLOT_BYTES];
    size_t len;
    char key[KEY_BYTES];
    size_t key_len;
} pending_t;

/* Options, as given on the command line (defaults filled in by main). */
typedef struct {
    uint64_t seed;
    long reps, teams;
    const char *reps_file;
    const char *stages, *conv, *activities, *activity_rates;
    long long deals, count;
    double duration_s, rate, deal_rate;
    const char *start, *span;
    bool live, to_stdout, with_key;
    const char *timezone;
    double dup_rate, ooo_rate, bad_rate;
    long ooo_window;
    const char *collapse[MAX_COLLAPSE];
    int ncollapse;
    const char *brokers, *topic, *throttle;
    long long max_lag;
    const char *sets[MAX_SETS]; /* --set kafka.<property>=<value>, in order */
    int nsets;
} opts_t;

/* Kafka sink state. */
typedef struct {
    rd_kafka_conf_t
        *conf; /* built at set-up (a bad setting is a usage error), then rd_kafka_new's */
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    int nparts;
    int64_t produced, delivered, failed;
    int64_t count[MAX_PARTITIONS];
    int64_t next[MAX_PARTITIONS]; /* last delivered offset + 1, 0 none */
    char first_error[256];
    bool fatal;
} producer_t;

/* Redis throttle state (--throttle-redis). */
typedef struct {
    fd_redis_t *redis;
    char prefix[128];
    int64_t consumed[MAX_PARTITIONS]; /* `next` of <prefix>:part:<topic>:<p> */
    double complained_at;             /* last Redis error message, to print one per 5 s */
} throttle_t;

typedef struct {
    opts_t o;
    rng_t rng;  /* the model */
    rng_t frng; /* fault decisions */
    /* model */
    fd_funnel_t *fn;
    int nstages, last;
    double conv[FD_MAX_STAGES], dwell_h[FD_MAX_STAGES];
    int nkinds;
    double kind_rate[FD_MAX_KINDS], kind_total; /* per rep per working day */
    char *stage_json[FD_MAX_STAGES], *kind_json[FD_MAX_KINDS];
    rep_t *reps;
    uint32_t nreps, reps_cap;
    fd_map_t *rep_ids; /* id -> 1: a rep listed twice is one rep */
    team_t *teams;
    uint32_t nteams;
    collapse_t collapse[MAX_COLLAPSE];
    int ncollapse;
    int64_t start_ms, end_ms; /* end_ms = INT64_MAX when unbounded */
    bool bounded;
    double arrival_mean_ms; /* mean gap between deal arrivals */
    int64_t max_deals;      /* -1 unlimited */
    int64_t deals_made;
    int64_t work_day0, work_monday0, work_index0; /* working-day calendar of activities */
    /* business time zone */
    bool have_tz;
    int64_t tz_cache_hour;
    int tz_cache_off;
    /* scheduler */
    task_t *heap;
    size_t nheap, heap_cap;
    uint64_t task_seq;
    deal_t *deals;
    uint32_t ndeals, deals_cap;
    uint32_t *free_deals;
    uint32_t nfree;
    uint64_t next_deal_num;
    uint64_t nevents; /* valid events generated (event_id counter) */
    int64_t last_live_ms;
    int64_t last_written_ms; /* occurred_at of the last valid event, as written */
    /* faults */
    slot_t *slots;
    uint32_t *ring;
    size_t ring_cap, ring_head, ring_n;
    pending_t pending[DUP_PENDING];
    int npending; /* pending copies in use */
    char *bad_buf;
    uint64_t nbad_ids;
    /* output */
    producer_t kafka;
    throttle_t throttle;
    char *line_buf;
    double t0;
    int64_t lines;
    bool stop;
    bool write_error;
    /* counts */
    int64_t by_type[FD_EVENT_TYPE_COUNT];
    int64_t duplicates, reordered, malformed, by_bad[BAD_COUNT];
} gen_t;

/* calendar.c: epoch-day arithmetic, timestamp forms, clocks, the business time zone, the
 * working-day calendar of activities. */
int64_t floor_div(int64_t a, int64_t b);
/* Monday = 0 ... Sunday = 6. */
int weekday(int64_t day);
/* A timestamp form drawn from r with the forms' weights (one draw). */
ts_form_t ts_pick(rng_t *r);
bool ts_whole_seconds(ts_form_t form);
/* occurred_at of t_ms in form, with off_min the UTC offset of the forms that carry one. */
void sb_time(sb_t *b, int64_t t_ms, ts_form_t form, int off_min);
/* Wall clock, epoch milliseconds; monotonic clock, seconds. */
int64_t wall_ms(void);
double mono_s(void);
/* --timezone: checks the zone exists and makes it the process's (TZ). */
fd_err_t set_timezone(gen_t *g);
/* UTC offset of the business time zone at t_ms, minutes (0 without --timezone). */
int tz_offset_min(gen_t *g, int64_t t_ms);
/* Sets the working-day calendar up from the start's local day. */
void work_calendar_init(gen_t *g);
/* Calendar time of a point on the working-time clock (working hours of working days). */
int64_t work_to_calendar(gen_t *g, double work_ms);

/* cli.c: the command line. */
void usage(FILE *out);
/* Parses argv into g->o (*help when --help was asked). FD_ERR_INVAL on a usage error. */
fd_err_t parse_args(gen_t *g, int argc, char **argv, bool *help, bool *rate_given);
fd_err_t parse_double(const char *opt, const char *s, double lo, double hi, double *out);
fd_err_t parse_ll(const char *opt, const char *s, long long lo, long long hi, long long *out);
/* "90d", "12h", "30m", "45s", "500ms", "2w" -> milliseconds (> 0). */
fd_err_t parse_duration_ms(const char *opt, const char *s, int64_t *out);
/* "now", "today" (00:00 UTC), either followed by -<duration> or +<duration>, an RFC 3339 time,
 * or epoch milliseconds. */
fd_err_t parse_time_arg(const char *opt, const char *s, int64_t now, int64_t *out);

/* model.c: stages, conversions, activity kinds, reps and teams, collapses. */
fd_err_t build_model(gen_t *g);
fd_err_t build_reps(gen_t *g);
fd_err_t add_team(gen_t *g, const char *id, uint32_t *out);
fd_err_t add_rep(gen_t *g, const char *id, uint32_t team);
fd_err_t parse_collapse(gen_t *g, const char *spec, int64_t now, collapse_t *c);
/* Trims spaces in place. */
char *trim(char *s);

/* crm_csv.c: reps and managers of a CRM export (--reps-file). */
fd_err_t load_reps_file(gen_t *g, const char *path);
/* An id of the contract: 1..128 bytes of UTF-8 without control characters. */
bool valid_id(const char *s);

/* sim.c: the simulation. */
void sim_start(gen_t *g);
/* The next valid event in time order into *ev; false when the model is done (the span ended,
 * or nothing is left to happen). */
bool sim_next(gen_t *g, gev_t *ev);
void out_of_memory(void);

/* format.c: events as JSON lines. */
void format_event(gen_t *g, slot_t *s, const gev_t *ev);
void sb_deal_id(sb_t *b, const gen_t *g, uint64_t deal);
/* The common head of an event: event_id (seed, id_prefix, id), type, occurred_at (drawn from r:
 * the model's stream keeps the written times sorted), rep_id, team_id (sometimes left out),
 * deal_id when there is one. */
void sb_head(gen_t *g, sb_t *b, const gev_t *ev, const char *id_prefix, uint64_t id,
             const char *type, rng_t *r);

/* malformed.c: a malformed message derived from base, rejected by funneld for bad_reason[kind]. */
void format_bad(gen_t *g, sb_t *b, const gev_t *base, bad_kind_t kind);

/* output.c: the main loop, faults, rate limit and the sink. */
void run(gen_t *g);

/* producer.c: the Kafka sink. */
/* Builds the producer's configuration (usage errors: FD_ERR_CONFIG). */
fd_err_t producer_conf(gen_t *g);
/* Creates the producer and reads the topic's partition count. FD_ERR_KAFKA. */
fd_err_t producer_open(gen_t *g);
/* Queues one message (waiting while the queue is full, and while throttled). FD_ERR_KAFKA. */
fd_err_t producer_write(gen_t *g, const char *key, size_t key_len, const char *data, size_t len);
/* Serves delivery reports for up to ms. */
void producer_poll(gen_t *g, int ms);
/* Waits for every delivery report (a second signal gives up). FD_ERR_KAFKA when some are
 * missing. */
fd_err_t producer_flush(gen_t *g);
/* The Kafka part of the summary. FD_ERR_KAFKA when a delivery failed. */
fd_err_t producer_report(gen_t *g);
void producer_close(gen_t *g);

/* throttle.c: --throttle-redis. */
/* Parses HOST:PORT[/PREFIX] and prepares the connection (FUNNELD_REDIS_USER / _PASSWORD). */
fd_err_t throttle_init(gen_t *g);
/* Reads the consumer's progress. FD_ERR_REDIS when Redis cannot be asked now (said at most once
 * per 5 s), FD_ERR_CONFIG when it refuses (said; the run must end). */
fd_err_t throttle_read(gen_t *g);
/* Events produced by this run that the consumer has not applied yet. */
int64_t throttle_lag(const gen_t *g);
/* Blocks while the lag is above --max-lag (serving delivery reports meanwhile). */
void throttle_wait(gen_t *g);
void throttle_clear(gen_t *g);

#endif
