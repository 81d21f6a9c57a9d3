// SPDX-License-Identifier: MIT
// funnel-gen: a seeded generator of realistic CRM contract events (deals moving through the funnel,
// activities, feedback) with injected faults, written to stdout or to Kafka (tool, outside the
// layers).
//
// How it works, top to bottom:
//   1. model      reps in teams, deals arriving as a Poisson process, each walking the stages with
//                 per-stage conversion and log-normal dwell; activities per rep per working day;
//                 feedback after won deals. A min-heap of timed tasks yields events in time order.
//   2. formatting each event becomes one JSON line (ids, mixed timestamp forms) in a reusable slot.
//   3. faults     a ring of W+1 slots swaps an event with the next one of its deal (out of order);
//                 exact copies are re-emitted a few events later (duplicates); malformed messages
//                 of many kinds are inserted (never replacing a real event).
//   4. sinks      stdout (JSON lines, or "key<TAB>json") or a librdkafka producer keyed by deal_id,
//                 optionally throttled on the consumer's progress stored in Redis.
// The model and the fault decisions draw from two separate xoshiro256** streams, so a seed gives
// the same valid events whatever the fault rates. Usage and model: docs/funnel-gen.md, or --help.
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "model/event.h"
#include "model/funnel.h"
#include "base/map.h"
#include "io/redis.h"

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

static volatile sig_atomic_t signalled;

/* Counts signals: the first stops generating, a second one stops waiting for deliveries. */
static void on_signal(int sig) {
    (void)sig;
    if (signalled < 100) signalled = signalled + 1;
}

/* ---------------------------------------------------------------------------------------------
 * Random numbers: xoshiro256** seeded through splitmix64 (both by Blackman and Vigna). */

typedef struct {
    uint64_t s[4];
} rng_t;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, uint64_t seed) {
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_u64(rng_t *r) {
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1): the top 53 bits as the mantissa. */
static double rng_unit(rng_t *r) {
    return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

static bool rng_chance(rng_t *r, double p) {
    return p > 0 && rng_unit(r) < p;
}

/* Uniform integer in [0, n); the modulo bias is below 2^-40 for any n used here. */
static uint64_t rng_below(rng_t *r, uint64_t n) {
    return n ? rng_u64(r) % n : 0;
}

static double rng_range(rng_t *r, double lo, double hi) {
    return lo + (hi - lo) * rng_unit(r);
}

/* Exponential with the given mean (inverse transform; 1 - u avoids log(0)). */
static double rng_exp(rng_t *r, double mean) {
    return -mean * log(1.0 - rng_unit(r));
}

/* Standard normal by Box-Muller (one value per call keeps the stream easy to reason about). */
static double rng_normal(rng_t *r) {
    double u1 = 1.0 - rng_unit(r), u2 = rng_unit(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Log-normal given by its median: median * e^(sigma * N(0,1)). */
static double rng_lognormal(rng_t *r, double median, double sigma) {
    return median * exp(sigma * rng_normal(r));
}

/* Index drawn from weights (need not sum to 1). */
static size_t rng_pick(rng_t *r, const double *w, size_t n) {
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    double x = rng_unit(r) * total;
    for (size_t i = 0; i < n; i++) {
        if (x < w[i]) return i;
        x -= w[i];
    }
    return n - 1;
}

/* ---------------------------------------------------------------------------------------------
 * A string builder over a fixed buffer: no allocation on the hot path. Overflow is sticky. */

typedef struct {
    char *p;
    size_t len, cap;
    bool overflow;
} sb_t;

static void sb_init(sb_t *b, char *buf, size_t cap) {
    *b = (sb_t){.p = buf, .cap = cap};
}

static void sb_mem(sb_t *b, const void *s, size_t n) {
    if (b->len + n > b->cap) {
        b->overflow = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* A string literal (the "" around s refuses anything else at compile time). */
#define sb_lit(b, s) sb_mem((b), "" s "", sizeof(s) - 1)

static void sb_str(sb_t *b, const char *s) {
    sb_mem(b, s, strlen(s));
}

static void sb_char(sb_t *b, char c) {
    sb_mem(b, &c, 1);
}

static void sb_u64(sb_t *b, uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sb_mem(b, tmp + sizeof tmp - n, (size_t)n);
}

static void sb_i64(sb_t *b, int64_t v) {
    if (v < 0) {
        sb_char(b, '-');
        sb_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        sb_u64(b, (uint64_t)v);
    }
}

/* v zero-padded to width digits (v >= 0). */
static void sb_pad(sb_t *b, uint64_t v, int width) {
    char tmp[24];
    for (int i = width - 1; i >= 0; i--) {
        tmp[i] = (char)('0' + v % 10);
        v /= 10;
    }
    sb_mem(b, tmp, (size_t)width);
}

/* Hundredths as a JSON number with two decimals: 123456 -> 1234.56. */
static void sb_cents(sb_t *b, int64_t c) {
    if (c < 0) {
        sb_char(b, '-');
        c = -c;
    }
    sb_u64(b, (uint64_t)(c / 100));
    sb_char(b, '.');
    sb_pad(b, (uint64_t)(c % 100), 2);
}

/* A JSON string of s: quotes, and backslash escapes for '"' and '\\'. Callers pass text without
 * control characters (ids are checked when loaded). */
static void sb_json(sb_t *b, const char *s, size_t n) {
    sb_char(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            sb_mem(b, s + run, i - run);
            sb_char(b, '\\');
            run = i;
        }
    }
    sb_mem(b, s + run, n - run);
    sb_char(b, '"');
}

/* ---------------------------------------------------------------------------------------------
 * Calendar arithmetic on epoch days (Howard Hinnant's civil_from_days / days_from_civil). */

static int64_t floor_div(int64_t a, int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Monday = 0 ... Sunday = 6; epoch day 0 (1970-01-01) was a Thursday. */
static int weekday(int64_t day) {
    return (int)(((day % 7) + 7 + 3) % 7);
}

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

static const double ts_weight[TS_COUNT] = {35, 18, 4, 15, 10, 3, 15};

static void sb_time(sb_t *b, int64_t t_ms, ts_form_t form, int off_min) {
    if (form == TS_EPOCH_MS) {
        sb_i64(b, t_ms);
        return;
    }
    bool has_off = form == TS_OFF_S || form == TS_OFF_MS;
    int64_t local = t_ms + (has_off ? (int64_t)off_min * 60000 : 0);
    int64_t day = floor_div(local, DAY_MS);
    int64_t ms = local - day * DAY_MS;
    int64_t y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    sb_char(b, '"');
    sb_pad(b, (uint64_t)y, 4);
    sb_char(b, '-');
    sb_pad(b, m, 2);
    sb_char(b, '-');
    sb_pad(b, d, 2);
    sb_char(b, form == TS_SPACE_Z ? ' ' : 'T');
    sb_pad(b, (uint64_t)(ms / HOUR_MS), 2);
    sb_char(b, ':');
    sb_pad(b, (uint64_t)(ms / 60000 % 60), 2);
    sb_char(b, ':');
    sb_pad(b, (uint64_t)(ms / 1000 % 60), 2);
    switch (form) {
    case TS_Z_MS:
    case TS_OFF_MS:
        sb_char(b, '.');
        sb_pad(b, (uint64_t)(ms % 1000), 3);
        break;
    case TS_Z_NS:
        sb_char(b, '.');
        sb_pad(b, (uint64_t)(ms % 1000), 3);
        sb_lit(b, "000000");
        break;
    case TS_SPACE_Z: /* two fraction digits when they say everything, else three */
        sb_char(b, '.');
        if (ms % 10 == 0)
            sb_pad(b, (uint64_t)(ms % 1000 / 10), 2);
        else
            sb_pad(b, (uint64_t)(ms % 1000), 3);
        break;
    default:
        break;
    }
    if (has_off) {
        int a = off_min < 0 ? -off_min : off_min;
        sb_char(b, off_min < 0 ? '-' : '+');
        sb_pad(b, (uint64_t)(a / 60), 2);
        sb_char(b, ':');
        sb_pad(b, (uint64_t)(a % 60), 2);
    } else {
        sb_char(b, form == TS_SPACE_Z ? 'z' : 'Z');
    }
    sb_char(b, '"');
}

static bool ts_whole_seconds(ts_form_t form) {
    return form == TS_Z_S || form == TS_OFF_S;
}

/* Wall clock, epoch milliseconds. */
static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic clock, seconds. */
static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------------------------------------
 * The model's data. */

static const char *const default_stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
/* Probability of moving on out of lead, qualified, proposal, negotiation (else deal.lost there). */
static const double default_conv[] = {0.7, 0.6, 0.5, 0.6};
/* Median dwell per stage, hours; the spread is log-normal with sigma DWELL_SIGMA. */
static const double default_dwell_h[] = {20, 60, 120, 160};
#define DEFAULT_CONV    0.6 /* for configured stage lists other than the default */
#define DEFAULT_DWELL_H 72.0
#define DWELL_SIGMA     0.9
#define DWELL_MIN_MS    (5 * 60 * 1000LL)
#define DWELL_MAX_MS    (90 * DAY_MS)
#define SKIP_RATE       0.05 /* a move skips the next stage (back-filled by funneld) */
#define BACK_RATE       0.03 /* a deal moves back one stage, then returns */
#define AMOUNT_MEDIAN   5000.0
#define AMOUNT_SIGMA    0.9
/* deal.won carries the amount; else the deal's last amount applies */
#define WON_AMOUNT_RATE    0.65
#define FEEDBACK_RATE      0.45 /* won deals that get a feedback.received */
#define FEEDBACK_DELAY_H   96.0
#define ACTIVITY_DEAL_RATE 0.35 /* activities that name the rep's latest deal */
#define TEAMLESS_RATE      0.02 /* events without team_id (funneld files them under "unassigned") */
#define EXTRA_FIELD_RATE   0.03 /* events with an unknown field funneld ignores */
#define DEFAULT_DEAL_RATE  1.2  /* new deals per rep per calendar day */

static const char *const default_kinds[] = {"call", "visit", "email", "meeting", "follow_up"};
/* Activities per rep per working day, by kind. */
static const double default_kind_rate[] = {3.0, 0.5, 3.5, 1.0, 1.0};
#define DEFAULT_KIND_RATE 2.0

static const char *const rep_names[] = {"张伟",
                                        "Anna Müller",
                                        "moses.frase@corp.example",
                                        "王芳",
                                        "José García",
                                        "Søren Madsen",
                                        "李娜",
                                        "Zoë Clarke",
                                        "Łukasz Nowak",
                                        "Ayşe Yılmaz",
                                        "Nguyễn Thị Mai",
                                        "Ольга Смирнова",
                                        "佐藤 美咲",
                                        "김민준",
                                        "Priya Raman",
                                        "Ahmed Hassan",
                                        "Chiara Bianchi",
                                        "Björn Lindqvist",
                                        "Siobhán Kelly",
                                        "Mateus Araújo",
                                        "anna@corp.example",
                                        "Liam O'Connor",
                                        "Emily Carter",
                                        "Kwame Mensah",
                                        "Fatima Zahra",
                                        "Noah Schmidt",
                                        "刘洋",
                                        "François Lefèvre",
                                        "Mia Jensen",
                                        "Arjun Mehta",
                                        "Sofia Petrova",
                                        "Daniel Kim",
                                        "Hannah Weber",
                                        "Youssef Amrani",
                                        "陈静",
                                        "j.smith@corp.example",
                                        "Grace Liu",
                                        "Olivia Brown",
                                        "Ethan Wright",
                                        "Isabella Rossi"};
#define NREP_NAMES (sizeof rep_names / sizeof rep_names[0])

static const char *const team_names[] = {
    "central", "east",   "west", "north", "south", "apac", "emea",   "latam",  "dach",
    "nordics", "iberia", "anz",  "japan", "india", "mena", "africa", "canada", "benelux"};
#define NTEAM_NAMES (sizeof team_names / sizeof team_names[0])

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

static const char *const bad_name[] = {
#define X(name, kind, reason, w) kind,
    BAD_MAP(X)
#undef X
};
static const char *const bad_reason[] = {
#define X(name, kind, reason, w) reason,
    BAD_MAP(X)
#undef X
};
static const double bad_weight[] = {
#define X(name, kind, reason, w) w,
    BAD_MAP(X)
#undef X
};

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
} opts_t;

/* Kafka sink state. */
typedef struct {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    int nparts;
    int64_t produced, delivered, failed;
    int64_t count[MAX_PARTITIONS];
    int64_t next[MAX_PARTITIONS]; /* last delivered offset + 1, 0 none */
    char first_error[256];
    bool fatal;
    /* throttle */
    redisContext *redis;
    char redis_host[256];
    int redis_port;
    char redis_prefix[128];
    int64_t consumed[MAX_PARTITIONS]; /* `next` of <prefix>:part:<topic>:<p> */
    double complained_at;             /* last Redis error message, to print one per 5 s */
} kafka_t;

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
    kafka_t kafka;
    char *line_buf;
    double t0;
    int64_t lines;
    bool stop;
    bool write_error;
    /* counts */
    int64_t by_type[FD_EVENT_TYPE_COUNT];
    int64_t duplicates, reordered, malformed, by_bad[BAD_COUNT];
} gen_t;

/* ---------------------------------------------------------------------------------------------
 * Business time zone: offsets come from the C library's zone data (TZ), cached per hour. */

static int tz_offset_min(gen_t *g, int64_t t_ms) {
    if (!g->have_tz) return 0;
    int64_t hour = floor_div(t_ms, HOUR_MS);
    if (hour != g->tz_cache_hour) {
        time_t secs = (time_t)(hour * 3600);
        struct tm tm;
        localtime_r(&secs, &tm);
        g->tz_cache_hour = hour;
        g->tz_cache_off = (int)(tm.tm_gmtoff / 60);
    }
    return g->tz_cache_off;
}

/* ---------------------------------------------------------------------------------------------
 * Scheduler: a binary min-heap of tasks. */

static bool task_before(const task_t *a, const task_t *b) {
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void out_of_memory(void) {
    fprintf(stderr, PROG ": out of memory\n");
    exit(1);
}

static void heap_push(gen_t *g, int64_t t, uint32_t what, uint32_t idx) {
    if (g->nheap == g->heap_cap) {
        size_t cap = g->heap_cap ? g->heap_cap * 2 : 1024;
        task_t *h = realloc(g->heap, cap * sizeof *h);
        if (!h) out_of_memory();
        g->heap = h;
        g->heap_cap = cap;
    }
    task_t tk = {.t = t, .seq = g->task_seq++, .what = what, .idx = idx};
    size_t i = g->nheap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!task_before(&tk, &g->heap[parent])) break;
        g->heap[i] = g->heap[parent];
        i = parent;
    }
    g->heap[i] = tk;
}

static task_t heap_pop(gen_t *g) {
    task_t top = g->heap[0];
    task_t last = g->heap[--g->nheap];
    size_t i = 0, n = g->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && task_before(&g->heap[c + 1], &g->heap[c])) c++;
        if (!task_before(&g->heap[c], &last)) break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (n) g->heap[i] = last;
    return top;
}

/* A deal slot: a freed one, else a new one (the pool doubles, so growth is amortised). */
static uint32_t deal_alloc(gen_t *g) {
    if (g->nfree) return g->free_deals[--g->nfree];
    if (g->ndeals == g->deals_cap) {
        uint32_t cap = g->deals_cap ? g->deals_cap * 2 : 1024;
        deal_t *d = realloc(g->deals, cap * sizeof *d);
        uint32_t *f = d ? realloc(g->free_deals, cap * sizeof *f) : NULL;
        if (d) g->deals = d;
        if (!f) out_of_memory();
        g->free_deals = f;
        g->deals_cap = cap;
    }
    return g->ndeals++;
}

static void deal_free(gen_t *g, uint32_t idx) {
    g->free_deals[g->nfree++] = idx;
}

/* ---------------------------------------------------------------------------------------------
 * The model: what happens when a task comes due. */

static int64_t dwell_ms(gen_t *g, int stage, double scale) {
    double ms = rng_lognormal(&g->rng, g->dwell_h[stage] * (double)HOUR_MS, DWELL_SIGMA) * scale;
    if (ms < (double)DWELL_MIN_MS) ms = (double)DWELL_MIN_MS;
    if (ms > (double)DWELL_MAX_MS) ms = (double)DWELL_MAX_MS;
    return (int64_t)ms;
}

static int64_t new_amount(gen_t *g) {
    return llround(rng_lognormal(&g->rng, AMOUNT_MEDIAN, AMOUNT_SIGMA) * 100.0);
}

/* A revised amount: the deal's value drifts while it is negotiated. */
static int64_t revise_amount(gen_t *g, int64_t c) {
    int64_t r = llround((double)c * rng_range(&g->rng, 0.8, 1.25));
    return r > 0 ? r : 1;
}

/* Calendar time of a point on the working-time clock: working day k (Monday..Friday) from the
 * first working day on or after the start, 09:00-18:00 local business time. Working day index i
 * (counted from the Monday before the start) lies in week i/5 at weekday i%5. */
static int64_t work_to_calendar(gen_t *g, double work_ms) {
    int64_t w = (int64_t)work_ms;
    int64_t index = g->work_index0 + w / WORK_MS;
    int64_t day = g->work_monday0 + (index / 5) * 7 + index % 5;
    int64_t local = day * DAY_MS + WORK_START_MS + w % WORK_MS;
    /* The offset at local noon of that day converts local to UTC (DST changes happen at night). */
    return local - (int64_t)tz_offset_min(g, day * DAY_MS + 12 * HOUR_MS) * 60000;
}

static void schedule_activity(gen_t *g, uint32_t r) {
    rep_t *rep = &g->reps[r];
    rep->work_ms += rng_exp(&g->rng, (double)WORK_MS / g->kind_total);
    heap_push(g, work_to_calendar(g, rep->work_ms), TASK_ACTIVITY, r);
}

/* Conversion probability out of stage s for a deal of rep r deciding at t. */
static double conversion(gen_t *g, uint32_t r, int s, int64_t t) {
    double p = g->conv[s] * g->reps[r].skill;
    for (int i = 0; i < g->ncollapse; i++) {
        const collapse_t *c = &g->collapse[i];
        if (c->stage == s && t >= c->at_ms && t < c->until_ms && strcmp(c->rep, g->reps[r].id) == 0)
            p *= c->factor;
    }
    return p > 0.97 ? 0.97 : p;
}

static uint32_t pick_rep(gen_t *g) {
    double x = rng_unit(&g->rng) * g->reps[g->nreps - 1].weight_cum;
    uint32_t lo = 0, hi = g->nreps - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (g->reps[mid].weight_cum > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void ev_init(gev_t *ev, fd_event_type_t type, int64_t t, uint32_t rep, uint64_t deal) {
    *ev = (gev_t){.type = type,
                  .at_ms = t,
                  .rep = rep,
                  .deal = deal,
                  .stage = -1,
                  .amount_c = -1,
                  .kind = -1,
                  .score_c = -1,
                  .complaint = -1};
}

/* A deal leaves its current stage: moves back (then returns), moves on (possibly skipping one),
 * is won, or is lost. Returns true when the deal is finished (slot freed by the caller). */
static bool deal_exit(gen_t *g, deal_t *d, int64_t t, gev_t *ev, int64_t *next_t) {
    int s = d->stage;
    ev_init(ev, FD_DEAL_STAGE_CHANGED, t, d->rep, d->num);
    if (s > 0 && rng_chance(&g->rng, BACK_RATE)) {
        /* Back to the previous stage for a while; NEXT_RETURN brings it forward again. */
        d->stage = (int8_t)(s - 1);
        d->next = NEXT_RETURN;
        ev->stage = s - 1;
        *next_t = t + dwell_ms(g, s - 1, 0.3);
        return false;
    }
    if (!rng_chance(&g->rng, conversion(g, d->rep, s, t))) {
        ev->type = FD_DEAL_LOST;
        ev->stage = rng_chance(&g->rng, 0.8) ? s : -1; /* without stage: funneld uses furthest */
        if (rng_chance(&g->rng, 0.1)) ev->amount_c = d->amount_c;
        return true;
    }
    int target = s + 1;
    if (target < g->last && rng_chance(&g->rng, SKIP_RATE)) target++;
    if (rng_chance(&g->rng, 0.3)) d->amount_c = revise_amount(g, d->amount_c);
    if (target == g->last) {
        ev->type = FD_DEAL_WON;
        if (rng_chance(&g->rng, WON_AMOUNT_RATE)) ev->amount_c = d->amount_c;
        if (!rng_chance(&g->rng, FEEDBACK_RATE)) return true;
        d->next = NEXT_FEEDBACK;
        *next_t = t + (int64_t)rng_lognormal(&g->rng, FEEDBACK_DELAY_H * (double)HOUR_MS, 0.8);
        return false;
    }
    ev->stage = target;
    if (rng_chance(&g->rng, 0.4)) ev->amount_c = d->amount_c;
    d->stage = (int8_t)target;
    d->next = NEXT_EXIT;
    *next_t = t + dwell_ms(g, target, 1.0);
    return false;
}

static void make_feedback(gen_t *g, gev_t *ev, int64_t t, uint32_t rep, uint64_t deal) {
    static const double score_w[5] = {7, 8, 15, 35, 35}; /* scores 1..5 */
    ev_init(ev, FD_FEEDBACK_RECEIVED, t, rep, rng_chance(&g->rng, 0.8) ? deal : 0);
    int score = 1 + (int)rng_pick(&g->rng, score_w, 5);
    if (rng_chance(&g->rng, 0.92)) {
        ev->score_c = score * 100;
        if (score < 5 && rng_chance(&g->rng, 0.2)) ev->score_c += 50; /* 4.5 */
    }
    if (rng_chance(&g->rng, 0.7)) ev->complaint = rng_chance(&g->rng, score <= 2 ? 0.6 : 0.04);
}

/* The time an event is stamped with: synthetic, or the wall clock in --live mode (never going
 * back, so the stream stays sorted). */
static int64_t stamp(gen_t *g, int64_t t) {
    if (!g->o.live) return t;
    int64_t now = wall_ms();
    if (now < g->last_live_ms) now = g->last_live_ms;
    g->last_live_ms = now;
    return now;
}

/* Produces the next valid event in time order into *ev; false when the model is done (the span
 * ended, or nothing is left to happen). */
static bool sim_next(gen_t *g, gev_t *ev) {
    while (g->nheap > 0) {
        if (g->heap[0].t >= g->end_ms) return false;
        task_t tk = heap_pop(g);
        int64_t t = stamp(g, tk.t);
        switch (tk.what) {
        case TASK_ARRIVAL: {
            if (g->max_deals >= 0 && g->deals_made >= g->max_deals) continue;
            g->deals_made++;
            heap_push(g, tk.t + 1 + (int64_t)rng_exp(&g->rng, g->arrival_mean_ms), TASK_ARRIVAL, 0);
            uint32_t idx = deal_alloc(g);
            deal_t *d = &g->deals[idx];
            d->num = ++g->next_deal_num;
            d->rep = pick_rep(g);
            d->amount_c = new_amount(g);
            d->stage = 0;
            d->next = NEXT_EXIT;
            g->reps[d->rep].last_deal = d->num;
            ev_init(ev, FD_DEAL_CREATED, t, d->rep, d->num);
            if (rng_chance(&g->rng, 0.7)) ev->stage = 0;
            if (rng_chance(&g->rng, 0.9)) ev->amount_c = d->amount_c;
            heap_push(g, tk.t + dwell_ms(g, 0, 1.0), TASK_DEAL, idx);
            return true;
        }
        case TASK_ACTIVITY: {
            rep_t *rep = &g->reps[tk.idx];
            schedule_activity(g, tk.idx);
            int kind = (int)rng_pick(&g->rng, g->kind_rate, (size_t)g->nkinds);
            bool with_deal = rep->last_deal && rng_chance(&g->rng, ACTIVITY_DEAL_RATE);
            if (tk.t < g->start_ms) continue; /* the first working day may begin before the start */
            ev_init(ev, FD_ACTIVITY_LOGGED, t, tk.idx, with_deal ? rep->last_deal : 0);
            ev->kind = kind;
            return true;
        }
        default: {
            deal_t *d = &g->deals[tk.idx];
            int64_t next_t = 0;
            bool done;
            if (d->next == NEXT_FEEDBACK) {
                make_feedback(g, ev, t, d->rep, d->num);
                done = true;
            } else if (d->next == NEXT_RETURN) {
                d->stage = (int8_t)(d->stage + 1);
                d->next = NEXT_EXIT;
                ev_init(ev, FD_DEAL_STAGE_CHANGED, t, d->rep, d->num);
                ev->stage = d->stage;
                next_t = tk.t + dwell_ms(g, d->stage, 0.5);
                done = false;
            } else {
                done = deal_exit(g, d, t, ev, &next_t);
                /* in --live mode t is the wall clock; the schedule stays on the synthetic clock */
                next_t += tk.t - t;
            }
            if (done)
                deal_free(g, tk.idx);
            else
                heap_push(g, next_t, TASK_DEAL, tk.idx);
            return true;
        }
        }
    }
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Formatting. */

static void sb_deal_id(sb_t *b, const gen_t *g, uint64_t deal) {
    sb_lit(b, "D-");
    sb_u64(b, g->o.seed);
    sb_char(b, '-');
    sb_pad(b, deal, deal < 1000000 ? 6 : 20);
}

/* The deal_id, or the rep_id when the event has no deal: the Kafka key. */
static size_t event_key(const gen_t *g, const gev_t *ev, char *key, size_t cap) {
    sb_t b;
    sb_init(&b, key, cap);
    if (ev->deal)
        sb_deal_id(&b, g, ev->deal);
    else
        sb_str(&b, g->reps[ev->rep].id);
    return b.len;
}

/* Writes occurred_at for time t. For valid events (keep_order), a whole-second form is used only
 * when flooring t to the second does not go below the previous valid event's written time, so
 * the stream stays sorted by the times it shows. */
static void sb_occurred_at(gen_t *g, sb_t *b, int64_t t, rng_t *r, bool keep_order) {
    ts_form_t form = (ts_form_t)rng_pick(r, ts_weight, TS_COUNT);
    if (ts_whole_seconds(form)) {
        int64_t floored = floor_div(t, 1000) * 1000;
        if (!keep_order || floored >= g->last_written_ms)
            t = floored;
        else
            form = form == TS_Z_S ? TS_Z_MS : TS_OFF_MS;
    }
    if (keep_order) g->last_written_ms = t;
    int off = 0;
    if (form == TS_OFF_S || form == TS_OFF_MS)
        off = g->have_tz ? tz_offset_min(g, t) : (rng_chance(r, 0.5) ? 8 * 60 : -5 * 60);
    sb_time(b, t, form, off);
}

/* The common head of an event: event_id, type, occurred_at, rep_id, team_id (sometimes left
 * out), deal_id when there is one. */
static void sb_head(gen_t *g, sb_t *b, const gev_t *ev, const char *id_prefix, uint64_t id,
                    const char *type, rng_t *r) {
    const rep_t *rep = &g->reps[ev->rep];
    sb_lit(b, "{\"event_id\":\"");
    sb_u64(b, g->o.seed);
    sb_str(b, id_prefix);
    sb_u64(b, id);
    sb_lit(b, "\",\"type\":\"");
    sb_str(b, type);
    sb_lit(b, "\",\"occurred_at\":");
    sb_occurred_at(g, b, ev->at_ms, r, r == &g->rng);
    sb_lit(b, ",\"rep_id\":");
    sb_mem(b, rep->json, rep->json_len);
    if (!rng_chance(r, TEAMLESS_RATE)) {
        sb_lit(b, ",\"team_id\":");
        sb_mem(b, g->teams[rep->team].json, g->teams[rep->team].json_len);
    }
    if (ev->deal) {
        sb_lit(b, ",\"deal_id\":\"");
        sb_deal_id(b, g, ev->deal);
        sb_char(b, '"');
    }
}

/* The fields after the head, and the closing brace. */
static void sb_tail(gen_t *g, sb_t *b, const gev_t *ev, rng_t *r) {
    if (ev->stage >= 0) {
        sb_lit(b, ",\"stage\":");
        sb_str(b, g->stage_json[ev->stage]);
    }
    if (ev->amount_c >= 0) {
        sb_lit(b, ",\"amount\":");
        sb_cents(b, ev->amount_c);
    }
    if (ev->type == FD_ACTIVITY_LOGGED) {
        sb_lit(b, ",\"activity\":");
        sb_str(b, g->kind_json[ev->kind]);
    }
    if (ev->score_c >= 0) {
        sb_lit(b, ",\"score\":");
        sb_u64(b, (uint64_t)ev->score_c / 100);
        if (ev->score_c % 100) sb_lit(b, ".5");
    }
    if (ev->complaint >= 0) {
        if (ev->complaint)
            sb_lit(b, ",\"complaint\":true");
        else
            sb_lit(b, ",\"complaint\":false");
    }
    if (rng_chance(r, EXTRA_FIELD_RATE)) sb_lit(b, ",\"source\":\"crm-sync\"");
    sb_char(b, '}');
}

static void format_event(gen_t *g, slot_t *s, const gev_t *ev) {
    sb_t b;
    sb_init(&b, s->data, sizeof s->data);
    s->ev = *ev;
    /* Formatting variety (timestamp form, team_id, extra field) uses the model's stream: it is
     * part of the valid event, and must not depend on the fault rates. */
    sb_head(g, &b, ev, "-", ++g->nevents, fd_event_type_name(ev->type), &g->rng);
    sb_tail(g, &b, ev, &g->rng);
    s->len = b.len;
    s->key_len = event_key(g, ev, s->key, sizeof s->key);
    s->moved = false;
    if (b.overflow) { /* cannot happen: ids are at most 128 bytes */
        fprintf(stderr, PROG ": internal error: event larger than %d bytes\n", SLOT_BYTES);
        abort();
    }
}

/* A malformed message derived from ev (its rep, team, deal and time): every field but the broken
 * one is valid, so funneld must reject it for exactly bad_reason[kind]. */
static void format_bad(gen_t *g, sb_t *b, const gev_t *base, bad_kind_t kind) {
    rng_t *r = &g->frng;
    uint64_t id = ++g->nbad_ids;
    gev_t ev = *base;
    if (ev.deal == 0) ev.deal = g->reps[ev.rep].last_deal ? g->reps[ev.rep].last_deal : 1;
    ev.stage = -1;
    ev.amount_c = -1;
    ev.kind = -1;
    ev.score_c = -1;
    ev.complaint = -1;
    const char *sc = "deal.stage_changed";
    const char *stage1 = g->stage_json[g->last > 1 ? 1 : 0];

    switch (kind) {
    case BAD_NOT_JSON:
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":"); /* cut off mid-object */
        break;
    case BAD_TRAILING: {
        static const char *const tails[] = {"}", " x", "{}", ",", " {\"a\":1}"};
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_char(b, '}');
        sb_str(b, tails[rng_below(r, 5)]);
        break;
    }
    case BAD_RAW_CONTROL: /* a raw TAB inside a string: JSON wants it escaped */
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"note\":\"a\tb\"}");
        break;
    case BAD_NOT_OBJECT:
        sb_lit(b, "[\"deal.created\",");
        sb_mem(b, g->reps[ev.rep].json, g->reps[ev.rep].json_len);
        sb_lit(b, ",1]");
        break;
    case BAD_DUP_KEY:
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"stage\":");
        sb_str(b, g->stage_json[0]);
        sb_char(b, '}');
        break;
    case BAD_MISSING: /* deal.stage_changed without its stage, or without a deal_id */
        if (rng_chance(r, 0.5)) {
            sb_head(g, b, &ev, "-x", id, sc, r);
        } else {
            ev.deal = 0;
            sb_head(g, b, &ev, "-x", id, sc, r);
            sb_lit(b, ",\"stage\":");
            sb_str(b, stage1);
        }
        sb_char(b, '}');
        break;
    case BAD_WRONG_TYPE: {
        static const char *const amount[] = {"\"5000.00\"", "null", "[100]", "true"};
        sb_head(g, b, &ev, "-x", id, sc, r);
        if (rng_chance(r, 0.25)) {
            sb_lit(b, ",\"stage\":2}"); /* a stage index instead of its name */
            break;
        }
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"amount\":");
        sb_str(b, amount[rng_below(r, 4)]);
        sb_char(b, '}');
        break;
    }
    case BAD_EMPTY_ID:
    case BAD_CONTROL_ID:
    case BAD_NUL_ID:
    case BAD_BAD_UTF8: {
        /* A broken deal_id: the head without a deal, then the bad id. */
        static const char *const ctl[] = {"D-\\t-1", "D-\\u0085-1", "D-\\u001f-1", "D-\\u007f-1"};
        static const char *const utf8[] = {"D-\xff-1", "D-\xc0\xaf-1", "D-\xed\xa0\x80-1",
                                           "D-\xe4\xbd-1"};
        ev.deal = 0;
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"deal_id\":\"");
        if (kind == BAD_CONTROL_ID)
            sb_str(b, ctl[rng_below(r, 4)]);
        else if (kind == BAD_NUL_ID)
            sb_lit(b, "D-\\u0000-1");
        else if (kind == BAD_BAD_UTF8)
            sb_str(b, utf8[rng_below(r, 4)]);
        sb_lit(b, "\",\"stage\":");
        sb_str(b, stage1);
        sb_char(b, '}');
        break;
    }
    case BAD_UNKNOWN_TYPE:
        sb_head(g, b, &ev, "-x", id, rng_chance(r, 0.5) ? "deal.updated" : "Deal.Created", r);
        sb_char(b, '}');
        break;
    case BAD_UNKNOWN_STAGE:
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_str(b, rng_chance(r, 0.5) ? ",\"stage\":\"demo\"}" : ",\"stage\":\"Lead\"}");
        break;
    case BAD_LOST_AT_WON:
        sb_head(g, b, &ev, "-x", id, "deal.lost", r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, g->stage_json[g->last]);
        sb_char(b, '}');
        break;
    case BAD_UNKNOWN_ACTIVITY:
        sb_head(g, b, &ev, "-x", id, "activity.logged", r);
        sb_str(b, rng_chance(r, 0.5) ? ",\"activity\":\"fax\"}" : ",\"activity\":\"Call\"}");
        break;
    case BAD_BAD_TIME: {
        static const char *const times[] = {"\"2026-13-01T00:00:00Z\"",
                                            "\"2026-02-30T10:00:00Z\"",
                                            "\"2026-11-22T18:00:00\"",
                                            "\"2026-11-22T24:00:00Z\"",
                                            "\"yesterday\"",
                                            "1795370400000.5",
                                            "\"1795370400000\"",
                                            "-1",
                                            "\"1969-12-31T23:59:59Z\"",
                                            "\"2026-11-22T18:00:00+24:00\""};
        sb_lit(b, "{\"event_id\":\"");
        sb_u64(b, g->o.seed);
        sb_lit(b, "-x");
        sb_u64(b, id);
        sb_lit(b, "\",\"type\":\"deal.stage_changed\",\"occurred_at\":");
        sb_str(b, times[rng_below(r, 10)]);
        sb_lit(b, ",\"rep_id\":");
        sb_mem(b, g->reps[ev.rep].json, g->reps[ev.rep].json_len);
        sb_lit(b, ",\"deal_id\":\"");
        sb_deal_id(b, g, ev.deal);
        sb_lit(b, "\",\"stage\":");
        sb_str(b, stage1);
        sb_char(b, '}');
        break;
    }
    case BAD_BAD_AMOUNT: {
        static const char *const amounts[] = {"-12.50", "1e400", "2e15", "-0.01"};
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"amount\":");
        sb_str(b, amounts[rng_below(r, 4)]);
        sb_char(b, '}');
        break;
    }
    case BAD_BAD_SCORE: {
        static const char *const scores[] = {"0", "5.5", "7", "-1", "0.99"};
        sb_head(g, b, &ev, "-x", id, "feedback.received", r);
        sb_lit(b, ",\"score\":");
        sb_str(b, scores[rng_below(r, 5)]);
        sb_char(b, '}');
        break;
    }
    case BAD_TOO_DEEP: { /* an unknown field nested 20 levels: the event object is level 1 */
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"meta\":");
        for (int i = 0; i < 20; i++)
            sb_char(b, '[');
        for (int i = 0; i < 20; i++)
            sb_char(b, ']');
        sb_char(b, '}');
        break;
    }
    case BAD_OVERSIZE: /* a valid event padded past 64 KiB with an unknown field */
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"notes\":\"");
        for (int i = 0; i < FD_EVENT_MAX_BYTES / 64 + 64; i++)
            sb_lit(b, "Customer asked for a revised quote; call back next week. ....... ");
        sb_lit(b, "\"}");
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Kafka sink. */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    kafka_t *k = opaque;
    if (msg->err) {
        if (k->failed++ == 0)
            snprintf(k->first_error, sizeof k->first_error, "%s", rd_kafka_err2str(msg->err));
        return;
    }
    k->delivered++;
    if (msg->partition >= 0 && msg->partition < MAX_PARTITIONS) {
        k->count[msg->partition]++;
        if (msg->offset + 1 > k->next[msg->partition]) k->next[msg->partition] = msg->offset + 1;
    }
}

static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    kafka_t *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof why);
        fprintf(stderr, PROG ": kafka fatal error: %s\n", why);
        k->fatal = true;
        return;
    }
    fprintf(stderr, PROG ": kafka: %s: %s\n", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, PROG ": kafka setting %s=%s: %s\n", name, value, errstr);
        return -1;
    }
    return 0;
}

static int kafka_open(gen_t *g) {
    kafka_t *k = &g->kafka;
    char errstr[512];
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* Idempotence keeps each partition's order across retries; the large queue and batches let
     * the producer keep up with the generator; murmur2_random is the Java client's partitioner,
     * the one fd-produce and most producers use, so a deal lands in the same partition. */
    if (kafka_conf_set(conf, "bootstrap.servers", g->o.brokers) ||
        kafka_conf_set(conf, "enable.idempotence", "true") ||
        kafka_conf_set(conf, "linger.ms", "5") ||
        kafka_conf_set(conf, "batch.num.messages", "100000") ||
        kafka_conf_set(conf, "batch.size", "4000000") ||
        kafka_conf_set(conf, "queue.buffering.max.messages", "1000000") ||
        kafka_conf_set(conf, "queue.buffering.max.kbytes", "1048576") ||
        kafka_conf_set(conf, "partitioner", "murmur2_random") ||
        kafka_conf_set(conf, "log_level", "4")) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_conf_set_opaque(conf, k);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!k->rk) {
        fprintf(stderr, PROG ": cannot create the kafka producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    k->rkt = rd_kafka_topic_new(k->rk, g->o.topic, NULL);
    if (!k->rkt) {
        fprintf(stderr, PROG ": topic '%s': %s\n", g->o.topic,
                rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(k->rk, 0, k->rkt, &md, 10000);
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, PROG ": cannot read the metadata of topic '%s' from %s: %s\n", g->o.topic,
                g->o.brokers,
                rd_kafka_err2str(err                  ? err
                                 : md->topic_cnt == 1 ? md->topics[0].err
                                                      : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        if (md) rd_kafka_metadata_destroy(md);
        return -1;
    }
    k->nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    if (k->nparts > MAX_PARTITIONS) {
        fprintf(stderr, PROG ": topic '%s' has %d partitions, this tool tracks at most %d\n",
                g->o.topic, k->nparts, MAX_PARTITIONS);
        return -1;
    }
    return 0;
}

/* Redis throttle: the consumer's progress is the sum over partitions of the `next` field of
 * <prefix>:part:<topic>:<p> (see docs/redis.md). Returns -1 when Redis cannot be asked. */
static bool throttle_may_complain(kafka_t *k) {
    double now = mono_s();
    if (now - k->complained_at < 5.0) return false;
    k->complained_at = now;
    return true;
}

/* Logs in with FUNNELD_REDIS_USER / FUNNELD_REDIS_PASSWORD (funneld's variables) when the
 * password is set. -1 on a dead connection, -2 when Redis refuses them (fatal). */
static int throttle_auth(kafka_t *k) {
    const char *pw = getenv("FUNNELD_REDIS_PASSWORD");
    const char *user = getenv("FUNNELD_REDIS_USER");
    if (pw == NULL || pw[0] == '\0') return 0;
    redisReply *r = user != NULL && user[0] != '\0' ? redisCommand(k->redis, "AUTH %s %s", user, pw)
                                                    : redisCommand(k->redis, "AUTH %s", pw);
    if (r == NULL) return -1;
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR && !fd_redis_is_refusal(r->str)) {
        rc = -1; /* transient (LOADING, BUSY...): connect again later */
    } else if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr,
                PROG ": throttle: redis %s:%d refused AUTH (FUNNELD_REDIS_PASSWORD%s): %s\n",
                k->redis_host, k->redis_port,
                user != NULL && user[0] != '\0' ? ", FUNNELD_REDIS_USER" : "", r->str);
        rc = -2;
    }
    freeReplyObject(r);
    return rc;
}

static int throttle_read(gen_t *g) {
    kafka_t *k = &g->kafka;
    if (!k->redis || k->redis->err) {
        if (k->redis) redisFree(k->redis);
        struct timeval tv = {2, 0};
        k->redis = redisConnectWithTimeout(k->redis_host, k->redis_port, tv);
        if (!k->redis || k->redis->err) {
            if (throttle_may_complain(k))
                fprintf(stderr, PROG ": throttle: cannot connect to redis %s:%d: %s\n",
                        k->redis_host, k->redis_port,
                        k->redis ? k->redis->errstr : "out of memory");
            return -1;
        }
        redisSetTimeout(k->redis, tv);
        int arc = throttle_auth(k);
        if (arc != 0) {
            redisFree(k->redis);
            k->redis = NULL;
            if (arc == -2) k->fatal = true;
            return arc;
        }
    }
    for (int p = 0; p < k->nparts; p++)
        redisAppendCommand(k->redis, "HGET %s:part:%s:%d next", k->redis_prefix, g->o.topic, p);
    int rc = 0;
    for (int p = 0; p < k->nparts; p++) {
        redisReply *reply = NULL;
        if (redisGetReply(k->redis, (void **)&reply) != REDIS_OK) {
            if (throttle_may_complain(k))
                fprintf(stderr, PROG ": throttle: redis %s:%d: %s\n", k->redis_host, k->redis_port,
                        k->redis->errstr);
            return -1; /* the context is dead (err set): reconnected next time */
        }
        if (reply->type == REDIS_REPLY_ERROR && fd_redis_is_refusal(reply->str)) {
            if (rc != -2)
                fprintf(stderr,
                        PROG ": throttle: HGET %s:part:%s:%d next: %s (funneld's variables "
                             "FUNNELD_REDIS_PASSWORD and FUNNELD_REDIS_USER log in)\n",
                        k->redis_prefix, g->o.topic, p, reply->str);
            k->fatal = true;
            rc = -2;
        } else if (reply->type == REDIS_REPLY_STRING) {
            k->consumed[p] = strtoll(reply->str, NULL, 10);
        } else if (reply->type == REDIS_REPLY_NIL) {
            k->consumed[p] = 0; /* funneld has not applied anything of this partition yet */
        } else {
            if (throttle_may_complain(k))
                fprintf(stderr, PROG ": throttle: HGET %s:part:%s:%d next: unexpected reply%s%s\n",
                        k->redis_prefix, g->o.topic, p,
                        reply->type == REDIS_REPLY_ERROR ? ": " : "",
                        reply->type == REDIS_REPLY_ERROR ? reply->str : "");
            if (rc == 0) rc = -1;
        }
        freeReplyObject(reply);
    }
    return rc;
}

/* Events produced by this run that the consumer has not applied yet: those not yet delivered,
 * plus, per partition, the delivered end minus the consumer's next offset. */
static int64_t throttle_lag(const kafka_t *k) {
    int64_t lag = k->produced - k->delivered - k->failed;
    for (int p = 0; p < k->nparts; p++)
        if (k->next[p] > k->consumed[p]) lag += k->next[p] - k->consumed[p];
    return lag;
}

/* Blocks while the lag is above --max-lag (serving delivery reports meanwhile). */
static void throttle_wait(gen_t *g) {
    kafka_t *k = &g->kafka;
    double since = mono_s(), noted = since;
    while (!g->stop && !signalled) {
        int rc = throttle_read(g);
        if (rc == -2) return; /* refused: k->fatal ends the run */
        if (rc == 0 && throttle_lag(k) <= g->o.max_lag) return;
        rd_kafka_poll(k->rk, rc == 0 ? 20 : 500); /* Redis down: retry twice a second */
        double now = mono_s();
        if (now - noted >= 5.0) {
            fprintf(stderr,
                    PROG ": throttle: waiting %.0f s for the consumer, lag %" PRId64 " > %lld\n",
                    now - since, throttle_lag(k), g->o.max_lag);
            noted = now;
        }
    }
}

static int kafka_write(gen_t *g, const char *key, size_t key_len, const char *data, size_t len) {
    kafka_t *k = &g->kafka;
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(k->rk, RD_KAFKA_V_RKT(k->rkt), RD_KAFKA_V_KEY(key, key_len),
                              RD_KAFKA_V_VALUE((void *)data, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, PROG ": message %" PRId64 " not queued: %s\n", k->produced,
                    rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(k->rk, 10); /* queue full: let deliveries drain it */
        if (k->fatal) return -1;
    }
    k->produced++;
    if ((k->produced & 1023) == 0) {
        rd_kafka_poll(k->rk, 0);
        if (k->fatal) return -1;
        if (g->o.throttle && (k->produced & 4095) == 0) {
            /* Cheap check on the last known progress first; ask Redis only when it matters. */
            if (throttle_lag(k) > g->o.max_lag) throttle_wait(g);
            if (k->fatal) return -1;
        }
    }
    return 0;
}

/* Waits for every delivery report (a second signal gives up). Returns -1 when some are missing. */
static int kafka_flush(gen_t *g) {
    kafka_t *k = &g->kafka;
    double since = mono_s();
    int seen = signalled;
    while (rd_kafka_outq_len(k->rk) > 0 && !k->fatal) {
        if (rd_kafka_flush(k->rk, 1000) != RD_KAFKA_RESP_ERR__TIMED_OUT) continue;
        if (mono_s() - since > 120 || signalled > seen) {
            fprintf(stderr, PROG ": giving up on %d undelivered messages\n",
                    rd_kafka_outq_len(k->rk));
            return -1;
        }
        if ((int)(mono_s() - since) % 5 == 0)
            fprintf(stderr, PROG ": still waiting for %d deliveries\n", rd_kafka_outq_len(k->rk));
    }
    return k->fatal ? -1 : 0;
}

/* The Kafka part of the summary. Returns -1 when a delivery failed. */
static int kafka_report(gen_t *g) {
    kafka_t *k = &g->kafka;
    fprintf(stderr, "  kafka:produced              %" PRId64 "\n", k->produced);
    fprintf(stderr, "  kafka:delivered             %" PRId64 "\n", k->delivered);
    fprintf(stderr, "  kafka:failed                %" PRId64 "\n", k->failed);
    for (int p = 0; p < k->nparts; p++)
        fprintf(stderr, "  kafka:partition:%-11d %" PRId64 "  (next offset %" PRId64 ")\n", p,
                k->count[p], k->next[p]);
    if (k->failed) {
        fprintf(stderr, PROG ": %" PRId64 " deliveries failed, first: %s\n", k->failed,
                k->first_error);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Output: rate limit, limits, sink. */

static void rate_wait(gen_t *g) {
    double now = mono_s();
    if (g->o.duration_s > 0 && now - g->t0 >= g->o.duration_s) {
        g->stop = true;
        return;
    }
    if (g->o.rate <= 0) return;
    double due = g->t0 + (double)g->lines / g->o.rate;
    if (due - now < 0.001) return;
    /* Ahead of schedule: hand what we have to the reader, then sleep (serving Kafka). */
    if (g->o.to_stdout) {
        fflush(stdout);
        struct timespec ts = {(time_t)(due - now), (long)(fmod(due - now, 1.0) * 1e9)};
        nanosleep(&ts, NULL);
    } else {
        rd_kafka_poll(g->kafka.rk, (int)((due - now) * 1000));
    }
}

/* Writes one line to the sink; false when it was not written (stopping, or a sink error). */
static bool emit(gen_t *g, const char *key, size_t key_len, const char *data, size_t len) {
    if (g->stop) return false;
    if (signalled) {
        g->stop = true;
        return false;
    }
    if (g->o.rate > 0 || (g->o.duration_s > 0 && (g->lines & 1023) == 0)) rate_wait(g);
    if (g->stop) return false;
    if (g->o.to_stdout) {
        /* One line: "key<TAB>json\n" or "json\n", assembled to make one fwrite. */
        sb_t b;
        sb_init(&b, g->line_buf, BAD_BYTES + KEY_BYTES + 2);
        if (g->o.with_key) {
            sb_mem(&b, key, key_len);
            sb_char(&b, '\t');
        }
        sb_mem(&b, data, len);
        sb_char(&b, '\n');
        if (fwrite(b.p, 1, b.len, stdout) != b.len) {
            if (!g->write_error) fprintf(stderr, PROG ": writing stdout: %s\n", strerror(errno));
            g->write_error = true;
            g->stop = true;
            return false;
        }
    } else if (kafka_write(g, key, key_len, data, len) != 0) {
        g->write_error = true;
        g->stop = true;
        return false;
    }
    g->lines++;
    if (g->o.count > 0 && g->lines >= g->o.count) g->stop = true;
    return true;
}

/* Re-emits the copies whose delay has run out (all of them when flushing). */
static void pending_tick(gen_t *g, bool flush) {
    for (int i = 0; i < DUP_PENDING && g->npending > 0; i++) {
        pending_t *p = &g->pending[i];
        if (p->countdown < 0) continue;
        if (flush || --p->countdown <= 0) {
            p->countdown = -1;
            g->npending--;
            if (emit(g, p->key, p->key_len, p->data, p->len)) g->duplicates++;
        }
    }
}

/* Emits one valid event, then its faults: maybe a copy (now or a few events later), maybe a
 * malformed message. */
static void output_event(gen_t *g, const slot_t *s) {
    if (!emit(g, s->key, s->key_len, s->data, s->len)) return;
    g->by_type[s->ev.type]++;
    if (rng_chance(&g->frng, g->o.dup_rate)) {
        int delay = (int)rng_below(&g->frng, DUP_MAX_DELAY + 1);
        pending_t *slot = NULL;
        for (int i = 0; delay > 0 && i < DUP_PENDING && !slot; i++)
            if (g->pending[i].countdown < 0) slot = &g->pending[i];
        if (slot) {
            slot->countdown = delay + 1; /* the tick below takes one off */
            g->npending++;
            memcpy(slot->data, s->data, s->len);
            slot->len = s->len;
            memcpy(slot->key, s->key, s->key_len);
            slot->key_len = s->key_len;
        } else if (emit(g, s->key, s->key_len, s->data, s->len)) {
            g->duplicates++; /* right away (delay 0, or every pending slot busy) */
        }
    }
    if (rng_chance(&g->frng, g->o.bad_rate)) {
        bad_kind_t kind = (bad_kind_t)rng_pick(&g->frng, bad_weight, BAD_COUNT);
        sb_t b;
        sb_init(&b, g->bad_buf, BAD_BYTES);
        format_bad(g, &b, &s->ev, kind);
        if (emit(g, s->key, s->key_len, b.p, b.len)) {
            g->malformed++;
            g->by_bad[kind]++;
        }
    }
    pending_tick(g, false);
}

/* The main loop: keep the ring full of formatted events, send out its head, swapping it first
 * (with probability --ooo-rate) with the nearest later event of the same deal in the ring. */
static void run(gen_t *g) {
    bool model_done = false;
    while (!g->stop) {
        while (!model_done && g->ring_n < g->ring_cap) {
            gev_t ev;
            if (!sim_next(g, &ev)) {
                model_done = true;
                break;
            }
            size_t pos = (g->ring_head + g->ring_n) % g->ring_cap;
            format_event(g, &g->slots[g->ring[pos]], &ev);
            g->ring_n++;
        }
        if (g->ring_n == 0) break;
        uint32_t *head = &g->ring[g->ring_head];
        slot_t *hs = &g->slots[*head];
        if (hs->ev.deal && !hs->moved && rng_chance(&g->frng, g->o.ooo_rate)) {
            for (size_t j = 1; j < g->ring_n; j++) {
                uint32_t *other = &g->ring[(g->ring_head + j) % g->ring_cap];
                if (g->slots[*other].ev.deal == hs->ev.deal) {
                    uint32_t tmp = *head;
                    *head = *other;
                    *other = tmp;
                    g->slots[tmp].moved = true;
                    g->reordered++;
                    break;
                }
            }
        }
        output_event(g, &g->slots[*head]);
        g->ring_head = (g->ring_head + 1) % g->ring_cap;
        g->ring_n--;
    }
    if (!g->write_error) pending_tick(g, true);
}

/* ---------------------------------------------------------------------------------------------
 * Set-up: options, reps, stages. */

static char *json_string_dup(const char *s, size_t *len_out) {
    size_t n = strlen(s);
    char *out = malloc(2 * n + 3);
    if (!out) return NULL;
    sb_t b;
    sb_init(&b, out, 2 * n + 3);
    sb_json(&b, s, n);
    out[b.len] = '\0';
    if (len_out) *len_out = b.len;
    return out;
}

/* An id must satisfy the contract: 1..128 bytes of UTF-8 without control characters. */
static bool valid_id(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > FD_ID_MAX || !fd_utf8_valid(s, n)) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return false;
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f)
            return false; /* U+0080..U+009F */
    }
    return true;
}

static int add_team(gen_t *g, const char *id, uint32_t *out) {
    for (uint32_t i = 0; i < g->nteams; i++)
        if (strcmp(g->teams[i].id, id) == 0) {
            *out = i;
            return 0;
        }
    team_t *t = realloc(g->teams, (g->nteams + 1) * sizeof *t);
    if (!t) return -1;
    g->teams = t;
    t = &g->teams[g->nteams];
    t->id = strdup(id);
    t->json = json_string_dup(id, &t->json_len);
    if (!t->id || !t->json) return -1;
    *out = g->nteams++;
    return 0;
}

static int add_rep(gen_t *g, const char *id, uint32_t team) {
    size_t len = strlen(id);
    if (g->rep_ids == NULL && (g->rep_ids = fd_map_new()) == NULL) return -1;
    if (fd_map_get(g->rep_ids, id, len) != NULL) return 0; /* listed twice: one rep */
    if (g->nreps == g->reps_cap) {
        uint32_t cap = g->reps_cap ? 2 * g->reps_cap : 64;
        rep_t *r = realloc(g->reps, cap * sizeof *r);
        if (!r) return -1;
        g->reps = r;
        g->reps_cap = cap;
    }
    if (fd_map_put(g->rep_ids, id, len, (void *)1) != FD_OK) return -1;
    rep_t *r = &g->reps[g->nreps];
    *r = (rep_t){.team = team};
    r->id = strdup(id);
    r->json = json_string_dup(id, &r->json_len);
    if (!r->id || !r->json) return -1;
    g->nreps++;
    return 0;
}

/* Splits one CSV line into at most max fields in place ("a","b ""c""",d); returns the count. */
static int csv_split(char *line, char **field, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0') break;
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
            while (*p && *p != ',')
                p++;
        } else {
            while (*p && *p != ',')
                p++;
            out = p;
        }
        char end = *p;
        *out = '\0';
        if (n < max) field[n++] = start;
        if (end != ',') break;
        p++;
    }
    return n;
}

/* Trims spaces in place. */
static char *trim(char *s) {
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    return s;
}

/* Reads reps from a CSV with the columns sales_agent and manager (others ignored): rep_id = the
 * agent, team_id = the manager's name lower-cased (ASCII letters) with spaces as '-'. */
static int load_reps_file(gen_t *g, const char *path) {
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = -1, col_agent = -1, col_manager = -1;
    long lineno = 0;
    if (!f) {
        fprintf(stderr, PROG ": --reps-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((len = getline(&line, &cap, f)) != -1) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0) continue;
        char *field[64];
        int n = csv_split(line, field, 64);
        if (col_agent < 0) {
            for (int i = 0; i < n; i++) {
                char *name = trim(field[i]);
                if (lineno == 1 && strncmp(name, "\xef\xbb\xbf", 3) == 0)
                    name += 3; /* a BOM before the header */
                if (strcmp(name, "sales_agent") == 0)
                    col_agent = i;
                else if (strcmp(name, "manager") == 0)
                    col_manager = i;
            }
            if (col_agent < 0 || col_manager < 0) {
                fprintf(stderr,
                        PROG ": --reps-file %s: line %ld: expected a header with the "
                             "columns sales_agent and manager, got '%s'\n",
                        path, lineno, line);
                goto done;
            }
            continue;
        }
        if (n <= col_agent || n <= col_manager) {
            fprintf(stderr,
                    PROG ": --reps-file %s: line %ld: expected at least %d fields, got %d\n", path,
                    lineno, (col_agent > col_manager ? col_agent : col_manager) + 1, n);
            goto done;
        }
        char *agent = trim(field[col_agent]), *manager = trim(field[col_manager]);
        for (char *p = manager; *p; p++) {
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
            else if (*p == ' ')
                *p = '-';
        }
        if (!valid_id(agent) || !valid_id(manager)) {
            fprintf(stderr,
                    PROG ": --reps-file %s: line %ld: expected ids of 1..%d bytes of "
                         "UTF-8 without control characters, got agent '%s' manager '%s'\n",
                    path, lineno, FD_ID_MAX, agent, manager);
            goto done;
        }
        uint32_t team;
        if (add_team(g, manager, &team) != 0 || add_rep(g, agent, team) != 0) {
            fprintf(stderr, PROG ": out of memory\n");
            goto done;
        }
        if (g->nreps >= MAX_REPS) break;
    }
    if (col_agent < 0 || g->nreps == 0) {
        fprintf(stderr, PROG ": --reps-file %s: no reps found\n", path);
        goto done;
    }
    rc = 0;
done:
    free(line);
    fclose(f);
    return rc;
}

static int build_reps(gen_t *g) {
    if (g->o.reps_file) {
        if (load_reps_file(g, g->o.reps_file) != 0) return -1;
    } else {
        for (long t = 0; t < g->o.teams; t++) {
            char name[32];
            if ((size_t)t < NTEAM_NAMES)
                snprintf(name, sizeof name, "%s", team_names[t]);
            else
                snprintf(name, sizeof name, "team-%ld", t + 1);
            uint32_t idx;
            if (add_team(g, name, &idx) != 0) return -1;
        }
        for (long i = 0; i < g->o.reps; i++) {
            char name[160];
            if ((size_t)i < NREP_NAMES)
                snprintf(name, sizeof name, "%s", rep_names[i]);
            else
                snprintf(name, sizeof name, "%s %ld", rep_names[(size_t)i % NREP_NAMES],
                         (long)((size_t)i / NREP_NAMES) + 1);
            if (add_rep(g, name, (uint32_t)(i % g->o.teams)) != 0) return -1;
        }
    }
    /* Reps differ: skill scales their conversions, weight their share of new deals. */
    double cum = 0;
    for (uint32_t i = 0; i < g->nreps; i++) {
        rep_t *r = &g->reps[i];
        r->skill = rng_range(&g->rng, 0.85, 1.15);
        cum += rng_range(&g->rng, 0.6, 1.4);
        r->weight_cum = cum;
    }
    return 0;
}

/* Splits a comma list into at most max trimmed entries (pointers into a copy kept in *store). */
static int split_list(const char *opt, const char *s, char **store, char **item, int max) {
    *store = strdup(s);
    if (!*store) return -1;
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(*store, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == max) {
            fprintf(stderr, PROG ": %s: expected at most %d entries, got more\n", opt, max);
            return -1;
        }
        item[n++] = trim(tok);
    }
    if (n == 0) {
        fprintf(stderr, PROG ": %s: expected a comma-separated list, got '%s'\n", opt, s);
        return -1;
    }
    return n;
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, PROG ": %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_ll(const char *opt, const char *s, long long lo, long long hi, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, PROG ": %s: expected an integer in [%lld, %lld], got '%s'\n", opt, lo, hi,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

/* "90d", "12h", "30m", "45s", "500ms", "2w" -> milliseconds (> 0). */
static int parse_duration_ms(const char *opt, const char *s, int64_t *out) {
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
        return -1;
    }
    *out = (int64_t)(v * unit);
    return 0;
}

/* A point in time: "now", "today" (00:00 UTC), either followed by -<duration> or +<duration>,
 * an RFC 3339 time, or epoch milliseconds. */
static int parse_time_arg(const char *opt, const char *s, int64_t now, int64_t *out) {
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
            return 0;
        }
        if (fd_event_parse_time(s, strlen(s), out) == FD_OK && *out >= 0) return 0;
        fprintf(stderr,
                PROG ": %s: expected RFC 3339 time, epoch ms, 'now' or 'today' "
                     "(optionally -/+ a duration like 90d), got '%s'\n",
                opt, s);
        return -1;
    }
    if (*rest == '\0') {
        *out = base;
        return 0;
    }
    int64_t d;
    if ((*rest != '-' && *rest != '+') || parse_duration_ms(opt, rest + 1, &d) != 0) {
        fprintf(stderr,
                PROG ": %s: expected 'now' or 'today' followed by -<duration> or "
                     "+<duration>, got '%s'\n",
                opt, s);
        return -1;
    }
    *out = *rest == '-' ? base - d : base + d;
    return 0;
}

/* One end of a collapse: "+<duration>" from the start (from the run's start on the wall clock
 * with --live), or a time parse_time_arg accepts. */
static int parse_when(gen_t *g, const char *s, int64_t now, int64_t *out) {
    if (s[0] == '+') {
        int64_t d;
        if (parse_duration_ms("--collapse time", s + 1, &d) != 0) return -1;
        *out = (g->o.live ? now : g->start_ms) + d;
        return 0;
    }
    return parse_time_arg("--collapse time", s, now, out);
}

/* True when s is TIME or TIME..TIME with nothing after: relative ends hold no ':', absolute ones
 * must parse as RFC 3339 (which may hold ':'). */
static bool is_when_range(const char *s) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    char *dots = strstr(buf, "..");
    char *parts[2] = {buf, dots ? dots + 2 : NULL};
    if (dots) *dots = '\0';
    for (int i = 0; i < 2 && parts[i]; i++) {
        const char *p = parts[i];
        int64_t t;
        if (p[0] == '+' ? strchr(p, ':') != NULL
                        : fd_event_parse_time(p, strlen(p), &t) != FD_OK && strchr(p, ':') != NULL)
            return false;
    }
    return true;
}

/* 'REP:STAGE:TIME[..UNTIL][:FACTOR]'. TIME may contain ':' (RFC 3339), so FACTOR is only split
 * off when the whole rest is not a time range. */
static int parse_collapse(gen_t *g, const char *spec, int64_t now, collapse_t *c) {
    const char *a = strchr(spec, ':');
    const char *b = a ? strchr(a + 1, ':') : NULL;
    if (!a || !b || a == spec || b == a + 1 || b[1] == '\0') {
        fprintf(stderr,
                PROG ": --collapse: expected 'REP:STAGE:TIME[..UNTIL][:FACTOR]', got '%s'\n", spec);
        return -1;
    }
    size_t rep_len = (size_t)(a - spec);
    if (rep_len > FD_ID_MAX) {
        fprintf(stderr, PROG ": --collapse: rep id longer than %d bytes in '%s'\n", FD_ID_MAX,
                spec);
        return -1;
    }
    memcpy(c->rep, spec, rep_len);
    c->rep[rep_len] = '\0';
    bool found = false;
    for (uint32_t i = 0; i < g->nreps && !found; i++)
        found = strcmp(g->reps[i].id, c->rep) == 0;
    if (!found) {
        fprintf(stderr, PROG ": --collapse: no rep '%s'; the reps are:", c->rep);
        for (uint32_t i = 0; i < g->nreps && i < 50; i++)
            fprintf(stderr, "%s '%s'", i ? "," : "", g->reps[i].id);
        fprintf(stderr, "%s\n", g->nreps > 50 ? ", ..." : "");
        return -1;
    }
    c->stage = fd_funnel_stage_index(g->fn, a + 1, (size_t)(b - a - 1));
    if (c->stage < 0 || c->stage >= g->last) {
        fprintf(stderr, PROG ": --collapse: expected a stage before the won stage, got '%.*s'\n",
                (int)(b - a - 1), a + 1);
        return -1;
    }
    char rest[128];
    snprintf(rest, sizeof rest, "%s", b + 1);
    c->factor = 0.1;
    c->until_ms = INT64_MAX;
    if (!is_when_range(rest)) {
        char *colon = strrchr(rest, ':');
        if (colon) {
            *colon = '\0';
            if (parse_double("--collapse factor", colon + 1, 0, 1, &c->factor) != 0) return -1;
        }
    }
    char *dots = strstr(rest, "..");
    if (dots) {
        *dots = '\0';
        if (parse_when(g, dots + 2, now, &c->until_ms) != 0) return -1;
    }
    if (parse_when(g, rest, now, &c->at_ms) != 0) return -1;
    if (c->until_ms <= c->at_ms) {
        fprintf(stderr, PROG ": --collapse: the end of '%s' is not after its start\n", spec);
        return -1;
    }
    return 0;
}

static int build_model(gen_t *g) {
    char *stage_store = NULL, *kind_store = NULL, *conv_store = NULL, *rate_store = NULL;
    char *stage[FD_MAX_STAGES], *kind[FD_MAX_KINDS], *conv[FD_MAX_STAGES], *rate[FD_MAX_KINDS];
    char errstr[256];
    int rc = -1;
    int ns = 5, nk = 5;
    bool default_stages_used = !g->o.stages, default_kinds_used = !g->o.activities;
    if (g->o.stages) {
        ns = split_list("--stages", g->o.stages, &stage_store, stage, FD_MAX_STAGES);
        if (ns < 0) goto done;
        /* The default list spelled out is still the default model. */
        default_stages_used = ns == 5;
        for (int i = 0; i < ns && default_stages_used; i++)
            default_stages_used = strcmp(stage[i], default_stages[i]) == 0;
    } else {
        for (int i = 0; i < ns; i++)
            stage[i] = (char *)default_stages[i];
    }
    if (g->o.activities) {
        nk = split_list("--activities", g->o.activities, &kind_store, kind, FD_MAX_KINDS);
        if (nk < 0) goto done;
    } else {
        for (int i = 0; i < nk; i++)
            kind[i] = (char *)default_kinds[i];
    }
    if (fd_funnel_new((const char *const *)stage, (size_t)ns, (const char *const *)kind, (size_t)nk,
                      &g->fn, errstr, sizeof errstr) != FD_OK) {
        fprintf(stderr, PROG ": --stages/--activities: %s\n", errstr);
        goto done;
    }
    g->nstages = ns;
    g->last = ns - 1;
    g->nkinds = nk;
    for (int s = 0; s < g->last; s++) {
        g->conv[s] = default_stages_used ? default_conv[s] : DEFAULT_CONV;
        g->dwell_h[s] = default_stages_used ? default_dwell_h[s] : DEFAULT_DWELL_H;
    }
    if (g->o.conv) {
        int n = split_list("--conv", g->o.conv, &conv_store, conv, FD_MAX_STAGES);
        if (n < 0) goto done;
        if (n != g->last) {
            fprintf(stderr,
                    PROG ": --conv: expected %d probabilities (one per stage before the "
                         "won stage), got %d\n",
                    g->last, n);
            goto done;
        }
        for (int s = 0; s < n; s++)
            if (parse_double("--conv", conv[s], 0, 1, &g->conv[s]) != 0) goto done;
    }
    for (int k = 0; k < nk; k++)
        g->kind_rate[k] = default_kinds_used ? default_kind_rate[k] : DEFAULT_KIND_RATE;
    if (g->o.activity_rates) {
        int n =
            split_list("--activity-rates", g->o.activity_rates, &rate_store, rate, FD_MAX_KINDS);
        if (n < 0) goto done;
        if (n != nk) {
            fprintf(stderr,
                    PROG ": --activity-rates: expected %d rates (one per activity kind), "
                         "got %d\n",
                    nk, n);
            goto done;
        }
        for (int k = 0; k < n; k++)
            if (parse_double("--activity-rates", rate[k], 0, 1000, &g->kind_rate[k]) != 0)
                goto done;
    }
    g->kind_total = 0;
    for (int k = 0; k < nk; k++)
        g->kind_total += g->kind_rate[k];
    for (int s = 0; s < ns; s++)
        if (!(g->stage_json[s] = json_string_dup(fd_funnel_stage_name(g->fn, s), NULL))) goto done;
    for (int k = 0; k < nk; k++)
        if (!(g->kind_json[k] = json_string_dup(fd_funnel_kind_name(g->fn, k), NULL))) goto done;
    rc = 0;
done:
    free(stage_store);
    free(kind_store);
    free(conv_store);
    free(rate_store);
    return rc;
}

static void usage(FILE *out) {
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
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0}};

/* Parses argv into g->o; returns 0, 1 for --help, or 2 on a usage error. */
static int parse_args(gen_t *g, int argc, char **argv, bool *rate_given) {
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
            if (parse_ll(opt, optarg, 0, 999999999999LL, &v)) return 2;
            o->seed = (uint64_t)v;
            break;
        case OPT_REPS:
            if (parse_ll(opt, optarg, 1, MAX_REPS, &v)) return 2;
            o->reps = (long)v;
            break;
        case OPT_TEAMS:
            if (parse_ll(opt, optarg, 1, MAX_REPS, &v)) return 2;
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
            if (parse_ll(opt, optarg, 0, 1000000000000LL, &o->deals)) return 2;
            break;
        case OPT_DEAL_RATE:
            if (parse_double(opt, optarg, 1e-6, 1e6, &o->deal_rate)) return 2;
            break;
        case OPT_COUNT:
            if (parse_ll(opt, optarg, 1, INT64_MAX, &o->count)) return 2;
            break;
        case OPT_DURATION:
            if (parse_double(opt, optarg, 0.001, 1e9, &o->duration_s)) return 2;
            break;
        case OPT_RATE:
            if (parse_double(opt, optarg, 0, 1e9, &o->rate)) return 2;
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
            if (parse_double(opt, optarg, 0, 1, &o->dup_rate)) return 2;
            break;
        case OPT_OOO:
            if (parse_double(opt, optarg, 0, 1, &o->ooo_rate)) return 2;
            break;
        case OPT_OOO_WINDOW:
            if (parse_ll(opt, optarg, 1, MAX_OOO_WINDOW, &v)) return 2;
            o->ooo_window = (long)v;
            break;
        case OPT_BAD:
            if (parse_double(opt, optarg, 0, 1, &o->bad_rate)) return 2;
            break;
        case OPT_COLLAPSE:
            if (o->ncollapse == MAX_COLLAPSE) {
                fprintf(stderr, PROG ": --collapse: at most %d, got more\n", MAX_COLLAPSE);
                return 2;
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
        case OPT_MAX_LAG:
            if (parse_ll(opt, optarg, 1, INT64_MAX, &o->max_lag)) return 2;
            break;
        case OPT_HELP:
        case 'h':
            return 1;
        case ':':
            fprintf(stderr, PROG ": %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            if (optopt && optopt >= OPT_SEED)
                fprintf(stderr, PROG ": %s needs a value\n", argv[optind - 1]);
            else
                fprintf(stderr, PROG ": unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (o->to_stdout == (o->brokers != NULL)) {
        fprintf(stderr, PROG ": choose one sink: --stdout or --brokers B (see --help)\n");
        return 2;
    }
    if (o->with_key && !o->to_stdout) {
        fprintf(stderr, PROG ": --with-key is for --stdout; Kafka messages always carry the key\n");
        return 2;
    }
    if (o->throttle && !o->brokers) {
        fprintf(stderr, PROG ": --throttle-redis needs --brokers\n");
        return 2;
    }
    return 0;
}

/* HOST:PORT[/PREFIX] */
static int parse_throttle(gen_t *g) {
    kafka_t *k = &g->kafka;
    const char *s = g->o.throttle;
    const char *colon = strrchr(s, ':');
    const char *slash = colon ? strchr(colon, '/') : NULL;
    long long port;
    char portbuf[16];
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof k->redis_host) goto bad;
    memcpy(k->redis_host, s, (size_t)(colon - s));
    k->redis_host[colon - s] = '\0';
    size_t plen = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
    if (plen == 0 || plen >= sizeof portbuf) goto bad;
    memcpy(portbuf, colon + 1, plen);
    portbuf[plen] = '\0';
    if (parse_ll("--throttle-redis port", portbuf, 1, 65535, &port) != 0) return -1;
    k->redis_port = (int)port;
    snprintf(k->redis_prefix, sizeof k->redis_prefix, "%s",
             slash && slash[1] ? slash + 1 : "funnel");
    return 0;
bad:
    fprintf(stderr, PROG ": --throttle-redis: expected HOST:PORT[/PREFIX], got '%s'\n", s);
    return -1;
}

static int set_timezone(gen_t *g) {
    const char *tz = g->o.timezone;
    if (!tz) return 0;
    /* glibc silently treats an unknown zone as UTC: check the zone file exists. */
    if (strcmp(tz, "UTC") != 0 && tz[0] != ':') {
        char path[512];
        struct stat st;
        snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
        if (strstr(tz, "..") || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            fprintf(stderr,
                    PROG ": --timezone: expected an IANA zone like Asia/Shanghai, got "
                         "'%s' (no %s)\n",
                    tz, path);
            return -1;
        }
    }
    setenv("TZ", tz, 1);
    tzset();
    g->have_tz = true;
    g->tz_cache_hour = INT64_MIN;
    return 0;
}

static void print_summary(gen_t *g) {
    double secs = mono_s() - g->t0;
    int64_t events = 0;
    for (int t = 0; t < FD_EVENT_TYPE_COUNT; t++)
        events += g->by_type[t];
    fprintf(stderr, PROG ": %" PRId64 " lines in %.2f s (%.0f lines/s), seed %" PRIu64 "\n",
            g->lines, secs, secs > 0 ? (double)g->lines / secs : 0.0, g->o.seed);
    fprintf(stderr, "  lines                       %" PRId64 "\n", g->lines);
    fprintf(stderr, "  events                      %" PRId64 "\n", events);
    for (int t = 0; t < FD_EVENT_TYPE_COUNT; t++)
        fprintf(stderr, "  events:%-20s %" PRId64 "\n", fd_event_type_name((fd_event_type_t)t),
                g->by_type[t]);
    fprintf(stderr, "  deals                       %" PRId64 "\n", g->deals_made);
    fprintf(stderr, "  duplicates                  %" PRId64 "\n", g->duplicates);
    fprintf(stderr, "  reordered                   %" PRId64 "\n", g->reordered);
    fprintf(stderr, "  malformed                   %" PRId64 "\n", g->malformed);
    for (int k = 0; k < BAD_COUNT; k++)
        if (g->by_bad[k])
            fprintf(stderr, "  malformed:%-17s %" PRId64 "  (%s)\n", bad_name[k], g->by_bad[k],
                    bad_reason[k]);
}

static void gen_clear(gen_t *g) {
    for (uint32_t i = 0; i < g->nreps; i++) {
        free(g->reps[i].id);
        free(g->reps[i].json);
    }
    free(g->reps);
    fd_map_destroy(g->rep_ids);
    for (uint32_t i = 0; i < g->nteams; i++) {
        free(g->teams[i].id);
        free(g->teams[i].json);
    }
    free(g->teams);
    for (int s = 0; s < FD_MAX_STAGES; s++)
        free(g->stage_json[s]);
    for (int k = 0; k < FD_MAX_KINDS; k++)
        free(g->kind_json[k]);
    fd_funnel_destroy(g->fn);
    free(g->heap);
    free(g->deals);
    free(g->free_deals);
    free(g->slots);
    free(g->ring);
    free(g->bad_buf);
    free(g->line_buf);
}

int main(int argc, char **argv) {
    static gen_t gen; /* large (pending copies): static storage, zeroed */
    gen_t *g = &gen;
    bool rate_given = false;
    int rc = parse_args(g, argc, argv, &rate_given);
    if (rc == 1) {
        usage(stdout);
        return 0;
    }
    if (rc != 0) return 2;
    rc = 2; /* set-up errors are usage errors */

    int64_t now = wall_ms();
    rng_seed(&g->rng, g->o.seed);
    rng_seed(&g->frng, g->o.seed ^ 0x5deece66dULL);
    if (set_timezone(g) != 0 || build_model(g) != 0 || build_reps(g) != 0) goto done;

    /* The synthetic span: bounded by default, unbounded when the run is limited by --count or
     * --duration (or --live) and no --span was given. */
    int64_t span_ms = 90 * DAY_MS;
    if (g->o.span && parse_duration_ms("--span", g->o.span, &span_ms) != 0) goto done;
    g->bounded = g->o.span || !(g->o.count > 0 || g->o.duration_s > 0 || g->o.live);
    if (g->o.start) {
        if (parse_time_arg("--start", g->o.start, now, &g->start_ms) != 0) goto done;
    } else {
        g->start_ms = floor_div(now, DAY_MS) * DAY_MS - span_ms;
    }
    g->end_ms = g->bounded ? g->start_ms + span_ms : INT64_MAX;
    if (g->o.live && !rate_given) g->o.rate = 1000;
    g->max_deals = g->o.deals;
    if (g->o.deals >= 0)
        g->arrival_mean_ms = g->o.deals ? (double)span_ms / (double)g->o.deals : 1e18;
    else
        g->arrival_mean_ms = (double)DAY_MS / (g->o.deal_rate * g->nreps);
    for (int i = 0; i < g->o.ncollapse; i++)
        if (parse_collapse(g, g->o.collapse[i], now, &g->collapse[i]) != 0) goto done;
    g->ncollapse = g->o.ncollapse;
    if (g->o.throttle && parse_throttle(g) != 0) goto done;

    /* The working-day calendar of activities starts on the start's local day. */
    int off0 = tz_offset_min(g, g->start_ms);
    g->work_day0 = floor_div(g->start_ms + (int64_t)off0 * 60000, DAY_MS);
    g->work_monday0 = g->work_day0 - weekday(g->work_day0);
    int wd = weekday(g->work_day0);
    g->work_index0 = wd < 5 ? wd : 5;

    /* Buffers, allocated once. */
    g->ring_cap = g->o.ooo_rate > 0 ? (size_t)g->o.ooo_window + 1 : 1;
    g->slots = calloc(g->ring_cap, sizeof *g->slots);
    g->ring = calloc(g->ring_cap, sizeof *g->ring);
    g->bad_buf = malloc(BAD_BYTES);
    g->line_buf = malloc(BAD_BYTES + KEY_BYTES + 2);
    if (!g->slots || !g->ring || !g->bad_buf || !g->line_buf) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < g->ring_cap; i++)
        g->ring[i] = (uint32_t)i;
    for (int i = 0; i < DUP_PENDING; i++)
        g->pending[i].countdown = -1;

    /* First tasks: the first deal arrival and each rep's first activity. */
    heap_push(g, g->start_ms + (int64_t)rng_exp(&g->rng, g->arrival_mean_ms), TASK_ARRIVAL, 0);
    for (uint32_t r = 0; r < g->nreps; r++)
        schedule_activity(g, r);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = 1; /* from here on, failures are runtime errors */
    if (g->o.to_stdout) {
        static char outbuf[1 << 20];
        setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    } else if (kafka_open(g) != 0) {
        goto done;
    }
    if (g->o.throttle) {
        int trc = throttle_read(g);
        if (trc == -2) goto done;
        if (trc != 0)
            fprintf(stderr,
                    PROG ": throttle: redis not reachable yet; will retry while producing\n");
    }

    g->t0 = mono_s();
    run(g);
    /* Flush first, so the rate in the summary counts delivered messages. */
    rc = 0;
    if (g->o.to_stdout && fflush(stdout) != 0 && !g->write_error) {
        fprintf(stderr, PROG ": writing stdout: %s\n", strerror(errno));
        g->write_error = true;
    }
    if (!g->o.to_stdout && kafka_flush(g) != 0) rc = 1;
    print_summary(g);
    if (!g->o.to_stdout && kafka_report(g) != 0) rc = 1;
    if (g->write_error) rc = 1;

done:
    if (g->kafka.rk) {
        if (g->kafka.rkt) rd_kafka_topic_destroy(g->kafka.rkt);
        rd_kafka_destroy(g->kafka.rk);
    }
    if (g->kafka.redis) redisFree(g->kafka.redis);
    gen_clear(g);
    return rc;
}
