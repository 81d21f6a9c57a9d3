// SPDX-License-Identifier: MIT
// Unit tests of the batch fold: events built by hand -> exact hash keys, counter deltas and
// expiries, stats, rejections, partition offsets and retention. Expected keys, windows and
// numbers are worked out by hand from docs/funnel.md and the lead's decisions (Redis layout).
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model/batch.h"
#include "model/dealcache.h"
#include "model/dedupe.h"
#include "model/event.h"
#include "model/funnel.h"
#include "base/map.h"
#include "model/timewin.h"

enum { LEAD, QUALIFIED, PROPOSAL, NEGOTIATION, WON };
enum { CALL, VISIT, EMAIL, MEETING, FOLLOW_UP };

#define SEC    INT64_C(1000)
#define HOUR   (3600 * SEC)
#define DAY_MS (24 * HOUR)
#define DAY_S  INT64_C(86400)

/* 2025-11-22T10:00:00Z, a Saturday: day:2025-11-22, week:2025-W47 (ISO week 47 runs Mon 17 ..
 * Sun 23 November), month:2025-11, quarter:2025-Q4. */
#define T0 INT64_C(1763805600000)
/* End of the UTC day 2025-11-22 (2025-11-23T00:00:00Z) in epoch seconds. */
#define T0_DAY_END_S INT64_C(1763856000)
/* 2025-11-25T09:30:00Z, a Tuesday: day:2025-11-25, week:2025-W48. */
#define T2           INT64_C(1764063000000)
#define T2_DAY_END_S INT64_C(1764115200) /* 2025-11-26T00:00:00Z */
/* 2025-12-31T17:00:00Z: in UTC day:2025-12-31, week:2026-W01 (Wed of the week of Mon 29 Dec,
 * whose Thursday is 2026-01-01), month:2025-12, quarter:2025-Q4; in Asia/Shanghai (UTC+8, no DST)
 * it is 2026-01-01T01:00 local: day:2026-01-01, week:2026-W01, month:2026-01, quarter:2026-Q1. */
#define T_NEWYEAR             INT64_C(1767200400000)
#define NEWYEAR_UTC_DAY_END_S INT64_C(1767225600) /* 2026-01-01T00:00:00Z */
/* 2026-01-02T00:00+08:00 = 2026-01-01T16:00:00Z */
#define NEWYEAR_SHANGHAI_DAY_END_S INT64_C(1767283200)

#define RETENTION_DAY 400
/* Wall clock of the apply in most tests: 10 days after T0, well within every retention. */
#define NOW_S (T0 / 1000 + 10 * DAY_S)

typedef struct {
    fd_funnel_t *fn;
    fd_timewin_t *tw;
    fd_dealcache_t *dc;
    fd_dedupe_t *dd;
    fd_batch_t *b;
    int part;
} fixture_t;

static fd_funnel_t *new_funnel(void) {
    static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
    static const char *const kinds[] = {"call", "visit", "email", "meeting", "follow_up"};
    fd_funnel_t *fn = NULL;
    char err[128];
    assert_int_equal(fd_funnel_new(stages, 5, kinds, 5, &fn, err, sizeof err), FD_OK);
    return fn;
}

static fd_batch_opts_t default_opts(void) {
    fd_batch_opts_t opts = {{0}};
    opts.retention_days[FD_WIN_DAY] = RETENTION_DAY;
    return opts;
}

/* fd_batch_new, which must succeed. */
static fd_batch_t *batch_new(const fd_funnel_t *fn, fd_timewin_t *tw, const fd_batch_opts_t *opts) {
    fd_batch_t *b = NULL;
    assert_int_equal(fd_batch_new(fn, tw, opts, &b), FD_OK);
    return b;
}

/* fd_batch_part, which must succeed: the part's index. */
static int part_of(fd_batch_t *b, const char *topic, int32_t partition, const char *token,
                   int64_t from, fd_dedupe_t *dd) {
    int part = -1;
    assert_int_equal(fd_batch_part(b, topic, partition, token, from, dd, &part), FD_OK);
    return part;
}

/* The Redis key of hash h with prefix "funnel", spelled by hand from docs/redis.md (the fold
 * records scope, window and id; the store renders the key). Valid until the next call. */
static const char *key_of(const fd_batch_hash_t *h) {
    static char key[512];
    static const char *const scope[] = {"rep", "team", "org"};
    assert_true(h->scope == FD_SCOPE_REP || h->scope == FD_SCOPE_TEAM || h->scope == FD_SCOPE_ORG);
    if (h->scope == FD_SCOPE_ORG)
        snprintf(key, sizeof key, "funnel:org:%s", h->window);
    else
        snprintf(key, sizeof key, "funnel:%s:%s:%s", scope[h->scope], h->window, h->id);
    return key;
}

/* A fixture for the business timezone tz. */
static fixture_t *fixture_new(const char *tz) {
    fixture_t *fx = test_calloc(1, sizeof *fx);
    char err[256];
    fx->fn = new_funnel();
    assert_int_equal(fd_timewin_new(tz, &fx->tw, err, sizeof err), FD_OK);
    assert_int_equal(fd_dealcache_new(fx->fn, 1000, &fx->dc), FD_OK);
    assert_int_equal(fd_dedupe_new(1000, &fx->dd), FD_OK);
    fd_batch_opts_t opts = default_opts();
    fx->b = batch_new(fx->fn, fx->tw, &opts);
    assert_non_null(fx->b);
    fx->part = part_of(fx->b, "crm.events", 0, "token-1", -1, fx->dd);
    assert_int_equal(fx->part, 0);
    return fx;
}

static void fixture_destroy(fixture_t *fx) {
    fd_batch_destroy(fx->b);
    fd_dedupe_destroy(fx->dd);
    fd_dealcache_destroy(fx->dc);
    fd_timewin_destroy(fx->tw);
    fd_funnel_destroy(fx->fn);
    test_free(fx);
}

static int setup(void **state) {
    *state = fixture_new("UTC");
    return 0;
}

static int teardown(void **state) {
    fixture_destroy(*state);
    return 0;
}

/* ---- events by hand ---- */

static fd_event_t make_ev(fd_event_type_t type, const char *event_id, const char *rep,
                          const char *team, const char *deal, int64_t at_ms) {
    fd_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    snprintf(ev.event_id, sizeof ev.event_id, "%s", event_id);
    ev.event_id_len = (uint8_t)strlen(event_id);
    snprintf(ev.rep_id, sizeof ev.rep_id, "%s", rep);
    snprintf(ev.team_id, sizeof ev.team_id, "%s", team);
    snprintf(ev.deal_id, sizeof ev.deal_id, "%s", deal);
    ev.occurred_ms = at_ms;
    ev.stage = -1;
    ev.activity = -1;
    ev.amount_c = -1;
    ev.score_c = -1;
    ev.complaint = false;
    return ev;
}

static fd_event_t activity(const char *event_id, const char *rep, const char *team, int kind,
                           int64_t at_ms) {
    fd_event_t ev = make_ev(FD_ACTIVITY_LOGGED, event_id, rep, team, "", at_ms);
    ev.activity = kind;
    return ev;
}

static fd_event_t deal_ev(fd_event_type_t type, const char *event_id, const char *deal,
                          const char *rep, const char *team, int64_t at_ms, int stage,
                          int64_t amount_c) {
    fd_event_t ev = make_ev(type, event_id, rep, team, deal, at_ms);
    ev.stage = stage;
    ev.amount_c = amount_c;
    return ev;
}

/* Folds ev as the service does: a deal event's deal is cached first (empty when unknown). */
static void fold(fixture_t *fx, const fd_event_t *ev, int64_t offset, int64_t now_s) {
    if (ev->type <= FD_DEAL_LOST && fd_dealcache_get(fx->dc, ev->deal_id) == NULL) {
        fd_deal_t empty;
        fd_deal_init(&empty);
        assert_int_equal(fd_dealcache_put(fx->dc, ev->deal_id, &empty, NULL), FD_OK);
    }
    assert_int_equal(fd_batch_add(fx->b, fx->part, fx->dc, ev, offset, now_s), FD_OK);
}

/* ---- expectations ---- */

typedef struct {
    const char *name;
    int64_t value;
} fv_t;

static const fd_batch_hash_t *find_hash(const fd_batch_t *b, const char *key) {
    for (size_t i = 0; i < fd_batch_nhashes(b); i++)
        if (strcmp(key_of(fd_batch_hash(b, i)), key) == 0) return fd_batch_hash(b, i);
    return NULL;
}

static bool is_pipeline_field(const char *name) {
    return strncmp(name, "open", 4) == 0;
}

/* The hash key exists with exactly these non-zero deltas (every other field 0) and expiry. The
 * open pipeline's fields (open:<s>, open_amount:<s>, open, open_amount) are checked only when
 * want names one of them: the tests of the counters leave the pipeline to its own tests. */
static void expect_hash(const fd_batch_t *b, const char *key, int64_t expire_at_s, const fv_t *want,
                        size_t nwant) {
    const fd_funnel_t *fn = fd_batch_funnel(b);
    const fd_batch_hash_t *h = find_hash(b, key);
    bool pipeline = false;
    for (size_t w = 0; w < nwant; w++)
        if (is_pipeline_field(want[w].name)) pipeline = true;
    if (h == NULL) fail_msg("hash %s missing", key);
    if (h->expire_at_s != expire_at_s)
        fail_msg("%s: expire_at_s %lld, want %lld", key, (long long)h->expire_at_s,
                 (long long)expire_at_s);
    for (size_t w = 0; w < nwant; w++) {
        bool known = false;
        for (size_t f = 0; f < fd_funnel_nfields(fn); f++)
            if (strcmp(fd_funnel_field_name(fn, f), want[w].name) == 0) known = true;
        if (!known) fail_msg("test bug: no field named %s", want[w].name);
    }
    for (size_t f = 0; f < fd_funnel_nfields(fn); f++) {
        const char *name = fd_funnel_field_name(fn, f);
        if (!pipeline && is_pipeline_field(name)) continue;
        int64_t expected = 0;
        for (size_t w = 0; w < nwant; w++)
            if (strcmp(want[w].name, name) == 0) expected = want[w].value;
        if (h->delta[f] != expected)
            fail_msg("%s: %s is %lld, want %lld", key, name, (long long)h->delta[f],
                     (long long)expected);
    }
}

#define EXPECT_HASH(b, key, expire, ...)                                                           \
    do {                                                                                           \
        const fv_t want_[] = {__VA_ARGS__};                                                        \
        expect_hash((b), (key), (expire), want_, sizeof want_ / sizeof want_[0]);                  \
    } while (0)

/* The batch holds exactly the n keys listed (any order). */
static void expect_keys(const fd_batch_t *b, const char *const *keys, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (find_hash(b, keys[i]) == NULL) fail_msg("hash %s missing", keys[i]);
    if (fd_batch_nhashes(b) != n) {
        for (size_t i = 0; i < fd_batch_nhashes(b); i++) {
            bool listed = false;
            for (size_t k = 0; k < n; k++)
                if (strcmp(key_of(fd_batch_hash(b, i)), keys[k]) == 0) listed = true;
            if (!listed) print_error("unexpected hash %s\n", key_of(fd_batch_hash(b, i)));
        }
        fail_msg("%zu hashes, want %zu", fd_batch_nhashes(b), n);
    }
}

#define EXPECT_KEYS(b, ...)                                                                        \
    do {                                                                                           \
        const char *const keys_[] = {__VA_ARGS__};                                                 \
        expect_keys((b), keys_, sizeof keys_ / sizeof keys_[0]);                                   \
    } while (0)

/* The 15 keys of one (rep, team) at one instant: scope x window. */
typedef struct {
    char key[15][160];
} keys15_t;

static keys15_t keys15(const char *rep, const char *team, const char *day, const char *week,
                       const char *month, const char *quarter) {
    const char *win[5] = {"all", day, week, month, quarter};
    keys15_t k;
    for (int w = 0; w < 5; w++) {
        snprintf(k.key[w], sizeof k.key[w], "funnel:rep:%s:%s", win[w], rep);
        snprintf(k.key[5 + w], sizeof k.key[5 + w], "funnel:team:%s:%s", win[w], team);
        snprintf(k.key[10 + w], sizeof k.key[10 + w], "funnel:org:%s", win[w]);
    }
    return k;
}

/* Every one of the 15 hashes has the given deltas; the day hash expires at day_expire_s, the
 * others (retention 0) never. */
static void expect_15(const fd_batch_t *b, const keys15_t *k, int64_t day_expire_s,
                      const fv_t *want, size_t nwant) {
    expect_keys(b,
                (const char *const[]){k->key[0], k->key[1], k->key[2], k->key[3], k->key[4],
                                      k->key[5], k->key[6], k->key[7], k->key[8], k->key[9],
                                      k->key[10], k->key[11], k->key[12], k->key[13], k->key[14]},
                15);
    for (int i = 0; i < 15; i++)
        expect_hash(b, k->key[i], i % 5 == FD_WIN_DAY ? day_expire_s : 0, want, nwant);
}

#define EXPECT_15(b, k, day_expire, ...)                                                           \
    do {                                                                                           \
        const fv_t want_[] = {__VA_ARGS__};                                                        \
        expect_15((b), (k), (day_expire), want_, sizeof want_ / sizeof want_[0]);                  \
    } while (0)

static void expect_stats(const fd_batch_t *b, int64_t accepted, int64_t duplicates,
                         int64_t rejected, int64_t beyond, int64_t ignored) {
    assert_int_equal(fd_batch_stat(b, FD_STAT_ACCEPTED), accepted);
    assert_int_equal(fd_batch_stat(b, FD_STAT_DUPLICATES), duplicates);
    assert_int_equal(fd_batch_stat(b, FD_STAT_REJECTED), rejected);
    assert_int_equal(fd_batch_stat(b, FD_STAT_BEYOND_RETENTION), beyond);
    assert_int_equal(fd_batch_stat(b, FD_STAT_IGNORED), ignored);
}

static const int64_t T0_DAY_EXPIRE = T0_DAY_END_S + RETENTION_DAY * DAY_S; /* 2026-12-28 */

/* ---- activity, feedback ---- */

static void test_batch_activity_counts_in_15_hashes(void **state) {
    fixture_t *fx = *state;
    fd_event_t ev = activity("e-1", "anna", "emea", CALL, T0);
    fold(fx, &ev, 0, NOW_S);
    keys15_t k = keys15("anna", "emea", "day:2025-11-22", "week:2025-W47", "month:2025-11",
                        "quarter:2025-Q4");
    assert_string_equal(k.key[1], "funnel:rep:day:2025-11-22:anna");
    assert_string_equal(k.key[10], "funnel:org:all");
    EXPECT_15(fx->b, &k, T0_DAY_EXPIRE, {"events", 1}, {"activity:call", 1});
    expect_stats(fx->b, 1, 0, 0, 0, 0);
    assert_int_equal(fd_batch_messages(fx->b), 1);
    assert_int_equal(fd_dealcache_dirty_count(fx->dc), 0);
}

static void test_batch_latest_ms_is_the_latest_event_folded(void **state) {
    fixture_t *fx = *state;
    int64_t ms = 42;
    assert_false(fd_batch_latest_ms(fx->b, &ms)); /* nothing folded: untouched */
    assert_int_equal(ms, 42);
    fd_event_t late = activity("e-1", "anna", "emea", CALL, T0 + HOUR);
    fd_event_t early = activity("e-2", "anna", "emea", CALL, T0); /* out of order */
    fold(fx, &late, 0, NOW_S);
    fold(fx, &early, 1, NOW_S);
    assert_true(fd_batch_latest_ms(fx->b, &ms));
    assert_int_equal(ms, T0 + HOUR);
    fold(fx, &late, 2, NOW_S); /* a duplicate is not folded: nothing changes */
    assert_int_equal(ms, T0 + HOUR);
    fd_batch_reset(fx->b);
    assert_false(fd_batch_latest_ms(fx->b, &ms));
}

/* The late-event log: what is noted is kept with where it was read, up to FD_BATCH_LATE_MAX,
 * and a reset forgets it. */
static void test_batch_note_late_keeps_who_when_and_where(void **state) {
    fixture_t *fx = *state;
    assert_int_equal(fd_batch_nlate(fx->b), 0);
    fd_event_t ev = activity("e-late", "anna", "emea", CALL, T0);
    assert_int_equal(fd_batch_note_late(fx->b, fx->part, &ev, 17), FD_OK);
    fd_event_t lost =
        deal_ev(FD_DEAL_LOST, "e-lost", "d-1", "ben", "unassigned", T0 + HOUR, -1, -1);
    assert_int_equal(fd_batch_note_late(fx->b, fx->part, &lost, 18), FD_OK);
    assert_int_equal(fd_batch_nlate(fx->b), 2);
    const fd_batch_late_t *l = fd_batch_late(fx->b, 0);
    assert_string_equal(l->event_id, "e-late");
    assert_int_equal(l->type, FD_ACTIVITY_LOGGED);
    assert_string_equal(l->rep, "anna");
    assert_string_equal(l->team, "emea");
    assert_int_equal(l->occurred_ms, T0);
    assert_int_equal(l->offset, 17);
    assert_string_equal(fd_batch_part_at(fx->b, (size_t)l->part)->topic, "crm.events");
    l = fd_batch_late(fx->b, 1);
    assert_string_equal(l->team, "unassigned");
    assert_int_equal(l->type, FD_DEAL_LOST);
    for (int i = 2; i < FD_BATCH_LATE_MAX + 5; i++)
        assert_int_equal(fd_batch_note_late(fx->b, fx->part, &ev, 100 + i), FD_OK);
    assert_int_equal(fd_batch_nlate(fx->b), FD_BATCH_LATE_MAX); /* more are folded, not logged */
    fd_batch_reset(fx->b);
    assert_int_equal(fd_batch_nlate(fx->b), 0);
}

static void test_batch_activity_with_uncached_deal_id_is_folded(void **state) {
    fixture_t *fx = *state;
    /* Only deal.* events need the deal's state. */
    fd_event_t ev = activity("e-1", "anna", "emea", FOLLOW_UP, T0);
    snprintf(ev.deal_id, sizeof ev.deal_id, "d-not-cached");
    assert_int_equal(fd_batch_add(fx->b, fx->part, fx->dc, &ev, 0, NOW_S), FD_OK);
    EXPECT_HASH(fx->b, "funnel:org:all", 0, {"events", 1}, {"activity:follow_up", 1});
    assert_null(fd_dealcache_get(fx->dc, "d-not-cached"));
}

static void test_batch_two_activities_of_one_rep_same_day_add_up(void **state) {
    fixture_t *fx = *state;
    fd_event_t a = activity("e-1", "anna", "emea", CALL, T0);
    fd_event_t b = activity("e-2", "anna", "emea", MEETING, T0 + HOUR);
    fd_event_t c = activity("e-3", "anna", "emea", CALL, T0 + 2 * HOUR);
    fold(fx, &a, 0, NOW_S);
    fold(fx, &b, 1, NOW_S);
    fold(fx, &c, 2, NOW_S);
    keys15_t k = keys15("anna", "emea", "day:2025-11-22", "week:2025-W47", "month:2025-11",
                        "quarter:2025-Q4");
    EXPECT_15(fx->b, &k, T0_DAY_EXPIRE, {"events", 3}, {"activity:call", 2},
              {"activity:meeting", 1});
}

static void test_batch_feedback_with_score_and_complaint(void **state) {
    fixture_t *fx = *state;
    fd_event_t ev = make_ev(FD_FEEDBACK_RECEIVED, "f-1", "anna", "emea", "", T0);
    ev.score_c = 450; /* score 4.5 */
    ev.complaint = true;
    fold(fx, &ev, 0, NOW_S);
    keys15_t k = keys15("anna", "emea", "day:2025-11-22", "week:2025-W47", "month:2025-11",
                        "quarter:2025-Q4");
    EXPECT_15(fx->b, &k, T0_DAY_EXPIRE, {"events", 1}, {"feedback_count", 1}, {"feedback_sum", 450},
              {"complaints", 1});
}

static void test_batch_feedback_without_score_or_complaint_counts_only_event(void **state) {
    fixture_t *fx = *state;
    fd_event_t a = make_ev(FD_FEEDBACK_RECEIVED, "f-1", "anna", "emea", "", T0);
    fd_event_t b = make_ev(FD_FEEDBACK_RECEIVED, "f-2", "anna", "emea", "d-1", T0);
    b.score_c = 100; /* score 1 */
    fold(fx, &a, 0, NOW_S);
    fold(fx, &b, 1, NOW_S);
    EXPECT_HASH(fx->b, "funnel:team:month:2025-11:emea", 0, {"events", 2}, {"feedback_count", 1},
                {"feedback_sum", 100});
}

/* ---- deal events ---- */

static void test_batch_create_then_stage_change_backfills_and_dwells_lead_only(void **state) {
    fixture_t *fx = *state;
    fd_event_t created = deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, -1, -1);
    fd_event_t moved =
        deal_ev(FD_DEAL_STAGE_CHANGED, "e-2", "d-1", "anna", "emea", T0 + 2 * HOUR, PROPOSAL, -1);
    fold(fx, &created, 0, NOW_S);
    fold(fx, &moved, 1, NOW_S);
    /* created: entered:lead. stage_changed to proposal 2 h later: advanced:lead (at the lead
     * entry, same day and owner here), moved_on:lead with a 2 h dwell, qualified back-filled
     * (entered, advanced, moved_on, no dwell), entered:proposal. All in the same 15 hashes. */
    keys15_t k = keys15("anna", "emea", "day:2025-11-22", "week:2025-W47", "month:2025-11",
                        "quarter:2025-Q4");
    EXPECT_15(fx->b, &k, T0_DAY_EXPIRE, {"events", 2}, {"entered:lead", 1}, {"advanced:lead", 1},
              {"moved_on:lead", 1}, {"dwell_sum_ms:lead", 2 * HOUR}, {"dwell_count:lead", 1},
              {"entered:qualified", 1}, {"advanced:qualified", 1}, {"moved_on:qualified", 1},
              {"entered:proposal", 1});
    expect_stats(fx->b, 2, 0, 0, 0, 0);
    /* The deal's new state is in the cache and listed for the apply. */
    assert_int_equal(fd_dealcache_get(fx->dc, "d-1")->furthest, PROPOSAL);
    assert_int_equal(fd_dealcache_dirty_count(fx->dc), 1);
    size_t pos = 0;
    const char *id;
    const fd_deal_t *deal;
    assert_true(fd_dealcache_next_dirty(fx->dc, &pos, &id, &deal, NULL));
    assert_string_equal(id, "d-1");
}

static void test_batch_retroactive_advanced_goes_to_reach_time_and_owner(void **state) {
    fixture_t *fx = *state;
    /* anna creates the deal on Saturday 22 Nov (week 47); that batch is applied. */
    fd_event_t created = deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, -1, -1);
    fold(fx, &created, 0, NOW_S);
    fd_dealcache_mark_applied(fx->dc);
    fd_dedupe_mark_applied(fx->dd);
    fd_batch_reset(fx->b);
    fx->part = part_of(fx->b, "crm.events", 0, "token-1", 1, fx->dd);
    /* bob (apac) moves it to qualified on Tuesday 25 Nov (week 48). */
    fd_event_t moved =
        deal_ev(FD_DEAL_STAGE_CHANGED, "e-2", "d-1", "bob", "apac", T2, QUALIFIED, -1);
    fold(fx, &moved, 1, NOW_S);
    const int64_t dwell = T2 - T0; /* 22 Nov 10:00 -> 25 Nov 09:30: 2 days 23.5 hours */
    assert_int_equal(dwell, 2 * DAY_MS + 23 * HOUR + 30 * 60 * SEC);
    const int64_t e22 = T0_DAY_EXPIRE;
    const int64_t e25 = T2_DAY_END_S + RETENTION_DAY * DAY_S;
    EXPECT_KEYS(
        fx->b,
        /* advanced:lead in anna's scopes at T0 */
        "funnel:rep:all:anna", "funnel:rep:day:2025-11-22:anna", "funnel:rep:week:2025-W47:anna",
        "funnel:rep:month:2025-11:anna", "funnel:rep:quarter:2025-Q4:anna", "funnel:team:all:emea",
        "funnel:team:day:2025-11-22:emea", "funnel:team:week:2025-W47:emea",
        "funnel:team:month:2025-11:emea", "funnel:team:quarter:2025-Q4:emea",
        /* the move in bob's scopes at T2 */
        "funnel:rep:all:bob", "funnel:rep:day:2025-11-25:bob", "funnel:rep:week:2025-W48:bob",
        "funnel:rep:month:2025-11:bob", "funnel:rep:quarter:2025-Q4:bob", "funnel:team:all:apac",
        "funnel:team:day:2025-11-25:apac", "funnel:team:week:2025-W48:apac",
        "funnel:team:month:2025-11:apac", "funnel:team:quarter:2025-Q4:apac",
        /* org: both instants; all, month and quarter are shared */
        "funnel:org:all", "funnel:org:day:2025-11-22", "funnel:org:day:2025-11-25",
        "funnel:org:week:2025-W47", "funnel:org:week:2025-W48", "funnel:org:month:2025-11",
        "funnel:org:quarter:2025-Q4");
    static const char *const anna_keys[] = {"funnel:rep:all:anna",
                                            "funnel:rep:month:2025-11:anna",
                                            "funnel:rep:week:2025-W47:anna",
                                            "funnel:rep:quarter:2025-Q4:anna",
                                            "funnel:team:all:emea",
                                            "funnel:team:week:2025-W47:emea",
                                            "funnel:team:month:2025-11:emea",
                                            "funnel:team:quarter:2025-Q4:emea",
                                            "funnel:org:week:2025-W47"};
    for (size_t i = 0; i < sizeof anna_keys / sizeof anna_keys[0]; i++)
        EXPECT_HASH(fx->b, anna_keys[i], 0, {"advanced:lead", 1});
    EXPECT_HASH(fx->b, "funnel:rep:day:2025-11-22:anna", e22, {"advanced:lead", 1});
    EXPECT_HASH(fx->b, "funnel:team:day:2025-11-22:emea", e22, {"advanced:lead", 1});
    EXPECT_HASH(fx->b, "funnel:org:day:2025-11-22", e22, {"advanced:lead", 1});
#define MOVE_FIELDS                                                                                \
    {"events", 1}, {"moved_on:lead", 1}, {"dwell_sum_ms:lead", dwell}, {"dwell_count:lead", 1}, {  \
        "entered:qualified", 1                                                                     \
    }
    static const char *const bob_keys[] = {"funnel:rep:all:bob",
                                           "funnel:rep:week:2025-W48:bob",
                                           "funnel:rep:month:2025-11:bob",
                                           "funnel:rep:quarter:2025-Q4:bob",
                                           "funnel:team:all:apac",
                                           "funnel:team:week:2025-W48:apac",
                                           "funnel:team:month:2025-11:apac",
                                           "funnel:team:quarter:2025-Q4:apac",
                                           "funnel:org:week:2025-W48"};
    for (size_t i = 0; i < sizeof bob_keys / sizeof bob_keys[0]; i++)
        EXPECT_HASH(fx->b, bob_keys[i], 0, MOVE_FIELDS);
    EXPECT_HASH(fx->b, "funnel:rep:day:2025-11-25:bob", e25, MOVE_FIELDS);
    EXPECT_HASH(fx->b, "funnel:team:day:2025-11-25:apac", e25, MOVE_FIELDS);
    EXPECT_HASH(fx->b, "funnel:org:day:2025-11-25", e25, MOVE_FIELDS);
    static const char *const shared[] = {"funnel:org:all", "funnel:org:month:2025-11",
                                         "funnel:org:quarter:2025-Q4"};
    for (size_t i = 0; i < 3; i++)
        EXPECT_HASH(fx->b, shared[i], 0, MOVE_FIELDS, {"advanced:lead", 1});
#undef MOVE_FIELDS
    expect_stats(fx->b, 1, 0, 0, 0, 0);
}

static void test_batch_won_uses_event_amount(void **state) {
    fixture_t *fx = *state;
    fd_event_t created = deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, NEGOTIATION,
                                 100000); /* 1000.00 */
    fd_event_t won =
        deal_ev(FD_DEAL_WON, "e-2", "d-1", "anna", "emea", T0 + HOUR, -1, 500050); /* 5000.50 */
    fold(fx, &created, 0, NOW_S);
    fold(fx, &won, 1, NOW_S);
    /* created at negotiation: lead, qualified, proposal back-filled (no dwell); won 1 h later:
     * advanced/moved_on:negotiation with a 1 h dwell, entered:won, won, won_amount 5000.50. */
    keys15_t k = keys15("anna", "emea", "day:2025-11-22", "week:2025-W47", "month:2025-11",
                        "quarter:2025-Q4");
    EXPECT_15(fx->b, &k, T0_DAY_EXPIRE, {"events", 2}, {"entered:lead", 1}, {"advanced:lead", 1},
              {"moved_on:lead", 1}, {"entered:qualified", 1}, {"advanced:qualified", 1},
              {"moved_on:qualified", 1}, {"entered:proposal", 1}, {"advanced:proposal", 1},
              {"moved_on:proposal", 1}, {"entered:negotiation", 1}, {"advanced:negotiation", 1},
              {"moved_on:negotiation", 1}, {"dwell_sum_ms:negotiation", HOUR},
              {"dwell_count:negotiation", 1}, {"entered:won", 1}, {"won", 1},
              {"won_amount", 500050}, {"cycle_sum_ms", HOUR}, {"cycle_count", 1});
}

static void test_batch_won_without_amount_uses_last_deal_amount(void **state) {
    fixture_t *fx = *state;
    fd_event_t created =
        deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, -1, 123450); /* 1234.50 */
    fd_event_t won = deal_ev(FD_DEAL_WON, "e-2", "d-1", "anna", "emea", T0 + HOUR, -1, -1);
    fold(fx, &created, 0, NOW_S);
    fold(fx, &won, 1, NOW_S);
    keys15_t k = keys15("anna", "emea", "day:2025-11-22", "week:2025-W47", "month:2025-11",
                        "quarter:2025-Q4");
    EXPECT_15(fx->b, &k, T0_DAY_EXPIRE, {"events", 2}, {"entered:lead", 1}, {"advanced:lead", 1},
              {"moved_on:lead", 1}, {"dwell_sum_ms:lead", HOUR}, {"dwell_count:lead", 1},
              {"entered:qualified", 1}, {"advanced:qualified", 1}, {"moved_on:qualified", 1},
              {"entered:proposal", 1}, {"advanced:proposal", 1}, {"moved_on:proposal", 1},
              {"entered:negotiation", 1}, {"advanced:negotiation", 1}, {"moved_on:negotiation", 1},
              {"entered:won", 1}, {"won", 1}, {"won_amount", 123450}, {"cycle_sum_ms", HOUR},
              {"cycle_count", 1});
}

static void test_batch_lost_counts_lost_at_furthest_stage(void **state) {
    fixture_t *fx = *state;
    fd_event_t created = deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, QUALIFIED, -1);
    fd_event_t lost = deal_ev(FD_DEAL_LOST, "e-2", "d-1", "anna", "emea", T0 + HOUR, -1, -1);
    fold(fx, &created, 0, NOW_S);
    fold(fx, &lost, 1, NOW_S);
    EXPECT_HASH(fx->b, "funnel:org:all", 0, {"events", 2}, {"entered:lead", 1},
                {"advanced:lead", 1}, {"moved_on:lead", 1}, {"entered:qualified", 1},
                {"lost_at:qualified", 1}, {"lost", 1});
    expect_stats(fx->b, 2, 0, 0, 0, 0);
}

static void test_batch_deal_event_changing_nothing_counts_event_and_ignored(void **state) {
    fixture_t *fx = *state;
    fd_event_t created = deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, PROPOSAL, -1);
    fd_event_t back =
        deal_ev(FD_DEAL_STAGE_CHANGED, "e-2", "d-1", "anna", "emea", T0 + HOUR, QUALIFIED, -1);
    fold(fx, &created, 0, NOW_S);
    fold(fx, &back, 1, NOW_S);
    EXPECT_HASH(fx->b, "funnel:org:all", 0, {"events", 2}, {"entered:lead", 1},
                {"advanced:lead", 1}, {"moved_on:lead", 1}, {"entered:qualified", 1},
                {"advanced:qualified", 1}, {"moved_on:qualified", 1}, {"entered:proposal", 1});
    expect_stats(fx->b, 2, 0, 0, 0, 1);
}

static void test_batch_deal_event_updating_only_amount_is_not_ignored(void **state) {
    fixture_t *fx = *state;
    /* batch.h: ignored counts "accepted deal events that changed no deal state". A late
     * deal.stage_changed back to lead counts nothing, but its amount becomes the deal's last
     * amount (docs/funnel.md): the state changed, so it is not ignored. A repeat without an
     * amount changes nothing at all: ignored. */
    fd_event_t created = deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, QUALIFIED, -1);
    fd_event_t priced =
        deal_ev(FD_DEAL_STAGE_CHANGED, "e-2", "d-1", "anna", "emea", T0 + HOUR, LEAD, 500000);
    fd_event_t same =
        deal_ev(FD_DEAL_STAGE_CHANGED, "e-3", "d-1", "anna", "emea", T0 + 2 * HOUR, LEAD, -1);
    fold(fx, &created, 0, NOW_S);
    fold(fx, &priced, 1, NOW_S);
    assert_int_equal(fd_dealcache_get(fx->dc, "d-1")->amount_c, 500000);
    expect_stats(fx->b, 2, 0, 0, 0, 0);
    fold(fx, &same, 2, NOW_S);
    expect_stats(fx->b, 3, 0, 0, 0, 1);
    EXPECT_HASH(fx->b, "funnel:org:all", 0, {"events", 3}, {"entered:lead", 1},
                {"advanced:lead", 1}, {"moved_on:lead", 1}, {"entered:qualified", 1});
}

static void test_batch_add_with_uncached_deal_is_inval_and_changes_nothing(void **state) {
    fixture_t *fx = *state;
    fd_event_t ev = deal_ev(FD_DEAL_CREATED, "e-1", "d-unknown", "anna", "emea", T0, -1, -1);
    const int64_t next_before = fd_batch_part_at(fx->b, 0)->next;
    assert_int_equal(fd_batch_add(fx->b, fx->part, fx->dc, &ev, 5, NOW_S), FD_ERR_INVAL);
    assert_int_equal(fd_batch_nhashes(fx->b), 0);
    assert_int_equal(fd_batch_messages(fx->b), 0);
    expect_stats(fx->b, 0, 0, 0, 0, 0);
    assert_int_equal(fd_batch_part_at(fx->b, 0)->next, next_before);
    assert_int_equal(fd_dedupe_count(fx->dd), 0);
    size_t npending;
    fd_dedupe_pending(fx->dd, &npending);
    assert_int_equal(npending, 0);
    assert_null(fd_dealcache_get(fx->dc, "d-unknown"));
    assert_int_equal(fd_dealcache_dirty_count(fx->dc), 0);
    /* Once cached, the same event is folded normally (it was not remembered as seen). */
    fold(fx, &ev, 5, NOW_S);
    expect_stats(fx->b, 1, 0, 0, 0, 0);
    EXPECT_HASH(fx->b, "funnel:org:all", 0, {"events", 1}, {"entered:lead", 1});
}

/* Amounts of 1e15 (1e17 hundredths, the largest valid) add up past int64 after ~46 won deals in
 * one hash: the batch refuses the event that could overflow, changing nothing, and a fresh batch
 * takes it. 2^62 / (1e17 + T0 + 1000) = 46.07, so the 47th won deal is refused. */
static void test_batch_refuses_event_that_could_overflow_a_delta(void **state) {
    fixture_t *fx = *state;
    const int64_t huge = INT64_C(100000000000000000); /* 1e15 in hundredths */
    char id[32], deal[32];
    int accepted = 0;
    fd_err_t err = FD_OK;
    for (int i = 0; i < 100 && err == FD_OK; i++) {
        snprintf(id, sizeof id, "w-%d", i);
        snprintf(deal, sizeof deal, "d-%d", i);
        fd_event_t ev = deal_ev(FD_DEAL_WON, id, deal, "anna", "emea", T0, -1, huge);
        fd_deal_t empty;
        fd_deal_init(&empty);
        assert_int_equal(fd_dealcache_put(fx->dc, deal, &empty, NULL), FD_OK);
        err = fd_batch_add(fx->b, fx->part, fx->dc, &ev, i, NOW_S);
        if (err == FD_OK) accepted++;
    }
    assert_int_equal(err, FD_ERR_FULL);
    assert_int_equal(accepted, 46);
    /* the refused event changed nothing: not remembered, deal untouched, no offset */
    assert_int_equal(fd_dedupe_count(fx->dd), 46);
    assert_int_equal(fd_dealcache_get(fx->dc, "d-46")->furthest, -1);
    assert_int_equal(fd_batch_part_at(fx->b, 0)->next, 46);
    EXPECT_HASH(fx->b, "funnel:org:all", 0, {"events", 46}, {"entered:lead", 46},
                {"advanced:lead", 46}, {"moved_on:lead", 46}, {"entered:qualified", 46},
                {"advanced:qualified", 46}, {"moved_on:qualified", 46}, {"entered:proposal", 46},
                {"advanced:proposal", 46}, {"moved_on:proposal", 46}, {"entered:negotiation", 46},
                {"advanced:negotiation", 46}, {"moved_on:negotiation", 46}, {"entered:won", 46},
                {"won", 46}, {"won_amount", 46 * huge});
    /* an emptied batch takes it */
    fd_batch_reset(fx->b);
    fx->part = part_of(fx->b, "crm.events", 0, "1:t:x", 46, fx->dd);
    fd_event_t again = deal_ev(FD_DEAL_WON, "w-46", "d-46", "anna", "emea", T0, -1, huge);
    assert_int_equal(fd_batch_add(fx->b, fx->part, fx->dc, &again, 46, NOW_S), FD_OK);
}

/* ---- duplicates, rejections, offsets ---- */

static void test_batch_duplicate_event_id_counted_adds_nothing(void **state) {
    fixture_t *fx = *state;
    fd_event_t a = activity("e-1", "anna", "emea", CALL, T0);
    /* Same event_id, different content (another rep and kind): still the same event. */
    fd_event_t again = activity("e-1", "bob", "apac", VISIT, T0 + DAY_MS);
    fold(fx, &a, 0, NOW_S);
    fold(fx, &again, 1, NOW_S);
    keys15_t k = keys15("anna", "emea", "day:2025-11-22", "week:2025-W47", "month:2025-11",
                        "quarter:2025-Q4");
    EXPECT_15(fx->b, &k, T0_DAY_EXPIRE, {"events", 1}, {"activity:call", 1});
    expect_stats(fx->b, 1, 1, 0, 0, 0);
    assert_int_equal(fd_batch_messages(fx->b), 2);
    assert_int_equal(fd_batch_part_at(fx->b, 0)->next, 2);
}

static void test_batch_duplicate_deal_event_changes_no_deal_state(void **state) {
    fixture_t *fx = *state;
    fd_event_t created = deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, -1, -1);
    fd_event_t replay = deal_ev(FD_DEAL_WON, "e-1", "d-1", "anna", "emea", T0 + HOUR, -1, 500);
    fold(fx, &created, 0, NOW_S);
    fold(fx, &replay, 1, NOW_S);
    assert_int_equal(fd_dealcache_get(fx->dc, "d-1")->furthest, LEAD);
    assert_int_equal(fd_dealcache_get(fx->dc, "d-1")->amount_c, -1);
    EXPECT_HASH(fx->b, "funnel:org:all", 0, {"events", 1}, {"entered:lead", 1});
    expect_stats(fx->b, 1, 1, 0, 0, 0);
}

/* The service admits every event in offset order but folds deal events later, after their
 * states load: a later activity reusing a deal event's event_id is still the duplicate. */
static void test_batch_admit_in_order_fold_deal_events_later(void **state) {
    fixture_t *fx = *state;
    fd_event_t created = deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, -1, -1);
    fd_event_t same_id = activity("e-1", "anna", "emea", CALL, T0 + 1);
    fd_event_t call = activity("e-2", "anna", "emea", CALL, T0 + 2);
    bool fresh;
    assert_int_equal(fd_batch_admit(fx->b, fx->part, &created, 0, &fresh), FD_OK);
    assert_true(fresh);
    assert_int_equal(fd_batch_admit(fx->b, fx->part, &same_id, 1, &fresh), FD_OK);
    assert_false(fresh);
    assert_int_equal(fd_batch_admit(fx->b, fx->part, &call, 2, &fresh), FD_OK);
    assert_true(fresh);
    assert_int_equal(fd_batch_fold(fx->b, fx->dc, &call, NOW_S), FD_OK);
    /* the deal is not cached yet: the fold refuses */
    assert_int_equal(fd_batch_fold(fx->b, fx->dc, &created, NOW_S), FD_ERR_INVAL);
    fd_deal_t empty;
    fd_deal_init(&empty);
    assert_int_equal(fd_dealcache_put(fx->dc, "d-1", &empty, NULL), FD_OK);
    assert_int_equal(fd_batch_fold(fx->b, fx->dc, &created, NOW_S), FD_OK);
    EXPECT_HASH(fx->b, "funnel:org:all", 0, {"events", 2}, {"entered:lead", 1},
                {"activity:call", 1});
    expect_stats(fx->b, 2, 1, 0, 0, 0);
    assert_int_equal(fd_batch_messages(fx->b), 3);
    assert_int_equal(fd_batch_part_at(fx->b, 0)->next, 3);
}

static void test_batch_duplicate_from_earlier_batch_is_dropped(void **state) {
    fixture_t *fx = *state;
    fd_event_t a = activity("e-1", "anna", "emea", CALL, T0);
    fold(fx, &a, 0, NOW_S);
    fd_dedupe_mark_applied(fx->dd);
    fd_batch_reset(fx->b);
    fx->part = part_of(fx->b, "crm.events", 0, "token-1", 1, fx->dd);
    fold(fx, &a, 1, NOW_S); /* redelivered */
    assert_int_equal(fd_batch_nhashes(fx->b), 0);
    expect_stats(fx->b, 0, 1, 0, 0, 0);
    assert_int_equal(fd_batch_part_at(fx->b, 0)->next, 2);
}

static void test_batch_dedupe_is_per_partition(void **state) {
    fixture_t *fx = *state;
    fd_dedupe_t *dd1;
    assert_int_equal(fd_dedupe_new(100, &dd1), FD_OK);
    int p1 = part_of(fx->b, "crm.events", 1, "token-2", 40, dd1);
    assert_int_equal(p1, 1);
    fd_event_t a = activity("e-1", "anna", "emea", CALL, T0);
    fold(fx, &a, 7, NOW_S);
    assert_int_equal(fd_batch_add(fx->b, p1, fx->dc, &a, 40, NOW_S), FD_OK);
    expect_stats(fx->b, 2, 0, 0, 0, 0);
    EXPECT_HASH(fx->b, "funnel:org:all", 0, {"events", 2}, {"activity:call", 2});
    assert_int_equal(fd_batch_part_at(fx->b, 0)->next, 8);
    assert_int_equal(fd_batch_part_at(fx->b, 1)->next, 41);
    fd_dedupe_destroy(dd1);
}

static void test_batch_part_registers_once_per_topic_partition(void **state) {
    fixture_t *fx = *state;
    fd_dedupe_t *dd2;
    assert_int_equal(fd_dedupe_new(10, &dd2), FD_OK);
    assert_int_equal(part_of(fx->b, "crm.events", 0, "token-1", -1, fx->dd), 0);
    assert_int_equal(part_of(fx->b, "crm.events", 3, "token-x", 120, dd2), 1);
    assert_int_equal(part_of(fx->b, "other.events", 0, "token-y", 5, dd2), 2);
    assert_int_equal(part_of(fx->b, "crm.events", 3, "token-x", 120, dd2), 1);
    assert_int_equal(fd_batch_nparts(fx->b), 3);
    const fd_batch_part_t *p = fd_batch_part_at(fx->b, 1);
    assert_string_equal(p->topic, "crm.events");
    assert_int_equal(p->partition, 3);
    assert_string_equal(p->token, "token-x");
    assert_int_equal(p->from, 120);
    assert_ptr_equal(p->dd, dd2);
    fd_dedupe_destroy(dd2);
}

static void test_batch_part_refuses_a_topic_or_token_too_long(void **state) {
    fixture_t *fx = *state;
    char topic[FD_TOPIC_MAX + 2], token[FD_TOKEN_MAX + 2];
    memset(topic, 't', sizeof topic - 1);
    topic[sizeof topic - 1] = '\0';
    memset(token, 'k', sizeof token - 1);
    token[sizeof token - 1] = '\0';
    int part = 7;
    assert_int_equal(fd_batch_part(fx->b, topic, 0, "token-1", -1, fx->dd, &part), FD_ERR_RANGE);
    assert_int_equal(fd_batch_part(fx->b, "crm.events", 1, token, -1, fx->dd, &part), FD_ERR_RANGE);
    assert_int_equal(part, 7);
    assert_int_equal(fd_batch_nparts(fx->b), 1);
}

static void test_batch_rejections_counted_per_reason_and_advance_next(void **state) {
    fixture_t *fx = *state;
    fd_batch_reject(fx->b, fx->part, FD_REJECT_NOT_JSON, 10);
    fd_batch_reject(fx->b, fx->part, FD_REJECT_BAD_TIMESTAMP, 11);
    fd_batch_reject(fx->b, fx->part, FD_REJECT_NOT_JSON, 12);
    expect_stats(fx->b, 0, 0, 3, 0, 0);
    assert_int_equal(fd_batch_rejected(fx->b, FD_REJECT_NOT_JSON), 2);
    assert_int_equal(fd_batch_rejected(fx->b, FD_REJECT_BAD_TIMESTAMP), 1);
    for (int r = FD_REJECT_NONE + 1; r < FD_REJECT_COUNT; r++)
        if (r != FD_REJECT_NOT_JSON && r != FD_REJECT_BAD_TIMESTAMP)
            assert_int_equal(fd_batch_rejected(fx->b, (fd_reject_t)r), 0);
    assert_int_equal(fd_batch_messages(fx->b), 3);
    assert_int_equal(fd_batch_nhashes(fx->b), 0);
    assert_int_equal(fd_batch_part_at(fx->b, 0)->next, 13);
}

static void test_batch_next_is_max_offset_plus_one_whatever_the_order(void **state) {
    fixture_t *fx = *state;
    int p = part_of(fx->b, "crm.events", 2, "token-2", 100, fx->dd);
    assert_int_equal(fd_batch_part_at(fx->b, (size_t)p)->from, 100);
    /* The rejection at 105 is recorded before the events at 103 and 101. */
    fd_batch_reject(fx->b, p, FD_REJECT_OVERSIZE, 105);
    fd_event_t a = activity("e-1", "anna", "emea", CALL, T0);
    fd_event_t b = activity("e-2", "anna", "emea", CALL, T0);
    assert_int_equal(fd_batch_add(fx->b, p, fx->dc, &a, 103, NOW_S), FD_OK);
    assert_int_equal(fd_batch_add(fx->b, p, fx->dc, &b, 101, NOW_S), FD_OK);
    assert_int_equal(fd_batch_part_at(fx->b, (size_t)p)->next, 106);
    assert_int_equal(fd_batch_part_at(fx->b, (size_t)p)->from, 100);
    assert_int_equal(fd_batch_messages(fx->b), 3);
}

/* ---- retention ---- */

static void test_batch_day_beyond_retention_skipped_and_counted(void **state) {
    fixture_t *fx = *state;
    /* now = T0 + 500 days: the day window of T0 expired at day end + 400 days (2026-12-28). */
    const int64_t now_s = T0 / 1000 + 500 * DAY_S;
    assert_true(T0_DAY_EXPIRE < now_s);
    fd_event_t ev = activity("e-1", "anna", "emea", CALL, T0);
    fold(fx, &ev, 0, now_s);
    EXPECT_KEYS(fx->b, "funnel:rep:all:anna", "funnel:rep:week:2025-W47:anna",
                "funnel:rep:month:2025-11:anna", "funnel:rep:quarter:2025-Q4:anna",
                "funnel:team:all:emea", "funnel:team:week:2025-W47:emea",
                "funnel:team:month:2025-11:emea", "funnel:team:quarter:2025-Q4:emea",
                "funnel:org:all", "funnel:org:week:2025-W47", "funnel:org:month:2025-11",
                "funnel:org:quarter:2025-Q4");
    EXPECT_HASH(fx->b, "funnel:rep:week:2025-W47:anna", 0, {"events", 1}, {"activity:call", 1});
    EXPECT_HASH(fx->b, "funnel:org:all", 0, {"events", 1}, {"activity:call", 1});
    /* One skipped window (day) for 3 scopes. */
    expect_stats(fx->b, 1, 0, 0, 3, 0);
}

static void test_batch_beyond_retention_counts_each_time_owner_group(void **state) {
    fixture_t *fx = *state;
    fd_event_t created = deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, -1, -1);
    fold(fx, &created, 0, NOW_S);
    fd_batch_reset(fx->b);
    fx->part = part_of(fx->b, "crm.events", 0, "token-1", 1, fx->dd);
    /* Applied 500 days after T2: both the day of the lead entry (advanced:lead, anna) and the
     * day of the move (bob) are past retention: two days, each skipped for its rep, team and
     * the org: 2 x 3. */
    fd_event_t moved =
        deal_ev(FD_DEAL_STAGE_CHANGED, "e-2", "d-1", "bob", "apac", T2, QUALIFIED, -1);
    fold(fx, &moved, 1, T2 / 1000 + 500 * DAY_S);
    expect_stats(fx->b, 1, 0, 0, 6, 0);
    /* anna 4 + emea 4 + bob 4 + apac 4 + org all, W47, W48, month, quarter. */
    assert_int_equal(fd_batch_nhashes(fx->b), 21);
    for (size_t i = 0; i < fd_batch_nhashes(fx->b); i++) {
        assert_null(strstr(key_of(fd_batch_hash(fx->b, i)), ":day:"));
        assert_int_equal(fd_batch_hash(fx->b, i)->expire_at_s, 0);
    }
    EXPECT_HASH(fx->b, "funnel:rep:week:2025-W47:anna", 0, {"advanced:lead", 1});
}

/* One event whose groups land in the same expired day counts each (scope, window) once
 * (redis.md): the move and the lead's retroactive advanced:lead fall on the same day. */
static void test_batch_beyond_retention_counts_each_scope_window_once(void **state) {
    fixture_t *fx = *state;
    fd_event_t c1 = deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, -1, -1);
    fd_event_t c2 = deal_ev(FD_DEAL_CREATED, "e-2", "d-2", "anna", "emea", T0, -1, -1);
    fold(fx, &c1, 0, NOW_S);
    fold(fx, &c2, 1, NOW_S);
    fd_batch_reset(fx->b);
    fx->part = part_of(fx->b, "crm.events", 0, "token-1", 2, fx->dd);
    const int64_t late_s = T0 / 1000 + 500 * DAY_S;
    /* same owner, an hour later: one day, 3 scopes */
    fd_event_t m1 =
        deal_ev(FD_DEAL_STAGE_CHANGED, "e-3", "d-1", "anna", "emea", T0 + HOUR, QUALIFIED, -1);
    fold(fx, &m1, 2, late_s);
    assert_int_equal(fd_batch_stat(fx->b, FD_STAT_BEYOND_RETENTION), 3);
    /* another rep of the same team, same day: bob's and anna's rep hashes, one team, one org */
    fd_event_t m2 =
        deal_ev(FD_DEAL_STAGE_CHANGED, "e-4", "d-2", "bob", "emea", T0 + HOUR, QUALIFIED, -1);
    fold(fx, &m2, 3, late_s);
    assert_int_equal(fd_batch_stat(fx->b, FD_STAT_BEYOND_RETENTION), 3 + 4);
}

static void test_batch_retention_on_every_granularity_sets_expiries(void **state) {
    (void)state;
    /* A batch of its own: retention week 7, month 31, quarter 92 days. */
    fd_funnel_t *fn = new_funnel();
    fd_timewin_t *tw = NULL;
    char err[256];
    assert_int_equal(fd_timewin_new("UTC", &tw, err, sizeof err), FD_OK);
    fd_batch_opts_t opts = default_opts();
    opts.retention_days[FD_WIN_WEEK] = 7;
    opts.retention_days[FD_WIN_MONTH] = 31;
    opts.retention_days[FD_WIN_QUARTER] = 92;
    fd_batch_t *b = batch_new(fn, tw, &opts);
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(10, &dd), FD_OK);
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(fn, 10, &dc), FD_OK);
    int p = part_of(b, "crm.events", 0, "t", -1, dd);
    /* Applied one hour after the event: nothing is expired yet. */
    fd_event_t ev = activity("e-1", "anna", "emea", CALL, T0);
    assert_int_equal(fd_batch_add(b, p, dc, &ev, 0, (T0 + HOUR) / 1000), FD_OK);
    assert_int_equal(fd_batch_stat(b, FD_STAT_BEYOND_RETENTION), 0);
    /* Week 47 ends Mon 2025-11-24T00:00Z = T0_DAY_END_S + 1 day; November ends 2025-12-01,
     * 8 days after the day end; Q4 ends 2026-01-01, 39 days after it. */
    const int64_t week_end = T0_DAY_END_S + 1 * DAY_S;
    const int64_t month_end = T0_DAY_END_S + 8 * DAY_S;
    const int64_t quarter_end = T0_DAY_END_S + 39 * DAY_S;
    assert_int_equal(find_hash(b, "funnel:org:all")->expire_at_s, 0);
    assert_int_equal(find_hash(b, "funnel:org:day:2025-11-22")->expire_at_s, T0_DAY_EXPIRE);
    assert_int_equal(find_hash(b, "funnel:rep:week:2025-W47:anna")->expire_at_s,
                     week_end + 7 * DAY_S);
    assert_int_equal(find_hash(b, "funnel:team:month:2025-11:emea")->expire_at_s,
                     month_end + 31 * DAY_S);
    assert_int_equal(find_hash(b, "funnel:org:quarter:2025-Q4")->expire_at_s,
                     quarter_end + 92 * DAY_S);
    assert_int_equal(fd_batch_nhashes(b), 15);
    /* 40 days after T0: the week (ends + 7 d = 2025-12-01) and month (2026-01-01) are expired,
     * the quarter (2026-04-03) and day (2026-12-28) are not. */
    fd_batch_reset(b);
    p = part_of(b, "crm.events", 0, "t", 1, dd);
    fd_event_t ev2 = activity("e-2", "anna", "emea", CALL, T0);
    assert_int_equal(fd_batch_add(b, p, dc, &ev2, 1, T0 / 1000 + 40 * DAY_S), FD_OK);
    assert_int_equal(fd_batch_stat(b, FD_STAT_BEYOND_RETENTION), 6);
    assert_int_equal(fd_batch_nhashes(b), 9);
    assert_null(find_hash(b, "funnel:org:week:2025-W47"));
    assert_null(find_hash(b, "funnel:org:month:2025-11"));
    assert_non_null(find_hash(b, "funnel:org:quarter:2025-Q4"));
    fd_dealcache_destroy(dc);
    fd_dedupe_destroy(dd);
    fd_batch_destroy(b);
    fd_timewin_destroy(tw);
    fd_funnel_destroy(fn);
}

/* ---- time zones ---- */

static void test_batch_windows_follow_utc_business_timezone(void **state) {
    fixture_t *fx = *state;
    fd_event_t ev = activity("e-1", "anna", "emea", EMAIL, T_NEWYEAR);
    fold(fx, &ev, 0, NOW_S);
    keys15_t k = keys15("anna", "emea", "day:2025-12-31", "week:2026-W01", "month:2025-12",
                        "quarter:2025-Q4");
    EXPECT_15(fx->b, &k, NEWYEAR_UTC_DAY_END_S + RETENTION_DAY * DAY_S, {"events", 1},
              {"activity:email", 1});
}

static void test_batch_windows_follow_shanghai_business_timezone(void **state) {
    (void)state;
    fixture_t *fx = fixture_new("Asia/Shanghai");
    fd_event_t ev = activity("e-1", "张伟", "华东", EMAIL, T_NEWYEAR);
    fold(fx, &ev, 0, NOW_S);
    keys15_t k = keys15("张伟", "华东", "day:2026-01-01", "week:2026-W01", "month:2026-01",
                        "quarter:2026-Q1");
    assert_string_equal(k.key[1], "funnel:rep:day:2026-01-01:张伟");
    EXPECT_15(fx->b, &k, NEWYEAR_SHANGHAI_DAY_END_S + RETENTION_DAY * DAY_S, {"events", 1},
              {"activity:email", 1});
    fixture_destroy(fx);
}

/* ---- reset, names ---- */

static void test_batch_reset_empties_and_batch_is_reusable(void **state) {
    fixture_t *fx = *state;
    fd_event_t a = activity("e-1", "anna", "emea", CALL, T0);
    fold(fx, &a, 0, NOW_S);
    fd_batch_reject(fx->b, fx->part, FD_REJECT_TOO_DEEP, 1);
    fd_batch_reset(fx->b);
    assert_int_equal(fd_batch_nhashes(fx->b), 0);
    assert_int_equal(fd_batch_nparts(fx->b), 0);
    assert_int_equal(fd_batch_messages(fx->b), 0);
    expect_stats(fx->b, 0, 0, 0, 0, 0);
    assert_int_equal(fd_batch_rejected(fx->b, FD_REJECT_TOO_DEEP), 0);
    /* Reused: the same keys start again from zero deltas; new keys are added. */
    fx->part = part_of(fx->b, "crm.events", 0, "token-1", 2, fx->dd);
    assert_int_equal(fx->part, 0);
    fd_event_t b = activity("e-2", "anna", "emea", VISIT, T0);
    fd_event_t c = activity("e-3", "bob", "apac", CALL, T2);
    fold(fx, &b, 2, NOW_S);
    fold(fx, &c, 3, NOW_S);
    EXPECT_HASH(fx->b, "funnel:rep:all:anna", 0, {"events", 1}, {"activity:visit", 1});
    EXPECT_HASH(fx->b, "funnel:rep:day:2025-11-25:bob", T2_DAY_END_S + RETENTION_DAY * DAY_S,
                {"events", 1}, {"activity:call", 1});
    EXPECT_HASH(fx->b, "funnel:org:all", 0, {"events", 2}, {"activity:visit", 1},
                {"activity:call", 1});
    /* anna 15 + bob 10 (rep, team) + org day, week of T2 (all, month, quarter shared). */
    assert_int_equal(fd_batch_nhashes(fx->b), 27);
    assert_int_equal(fd_batch_part_at(fx->b, 0)->next, 4);
    expect_stats(fx->b, 2, 0, 0, 0, 0);
}

static void test_batch_many_hashes_grow_and_stay_exact(void **state) {
    fixture_t *fx = *state;
    /* 300 reps in one team, one call each, same instant: 300 * 5 rep hashes + 5 + 5. */
    for (int i = 0; i < 300; i++) {
        char id[32], rep[32];
        snprintf(id, sizeof id, "e-%d", i);
        snprintf(rep, sizeof rep, "rep-%d", i);
        fd_event_t ev = activity(id, rep, "emea", CALL, T0);
        fold(fx, &ev, i, NOW_S);
    }
    assert_int_equal(fd_batch_nhashes(fx->b), 300 * 5 + 10);
    EXPECT_HASH(fx->b, "funnel:rep:month:2025-11:rep-299", 0, {"events", 1}, {"activity:call", 1});
    EXPECT_HASH(fx->b, "funnel:team:all:emea", 0, {"events", 300}, {"activity:call", 300});
    EXPECT_HASH(fx->b, "funnel:org:day:2025-11-22", T0_DAY_EXPIRE, {"events", 300},
                {"activity:call", 300});
}

/* The fold finds a hash's entry without building its key; this checks it against keys built
 * the plain way. 4,000 activities of 60 reps in 7 teams over 90 days, hourly buckets on (so
 * thousands of windows and (owner, window) pairs), in two batches with a reset between: every
 * key the model expects exists exactly once with the model's event count, and nothing else. */
static void test_batch_index_matches_keys_built_by_hand(void **state) {
    (void)state;
    fixture_t *fx = fixture_new("Europe/Berlin");
    fd_batch_opts_t opts = default_opts();
    opts.retention_days[FD_WIN_HOUR] = 30;
    fd_batch_t *b = batch_new(fx->fn, fx->tw, &opts);
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(100000, &dd), FD_OK);
    assert_non_null(b);
    assert_non_null(dd);
    size_t events_field = fd_funnel_field_global(fx->fn, FD_G_EVENTS);
    uint64_t seed = 42;
    for (int round = 0; round < 2; round++) {
        fd_batch_reset(b);
        int part = part_of(b, "crm.events", 0, "token-1", -1, dd);
        fd_map_t *model; /* key -> count (as a pointer-sized integer) */
        assert_int_equal(fd_map_new(&model), FD_OK);
        for (int i = 0; i < 4000; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            uint64_t r = seed >> 20;
            char id[32], rep[32], team[32];
            snprintf(id, sizeof id, "e-%d-%d", round, i);
            snprintf(rep, sizeof rep, "rep:%u", (unsigned)(r % 60));
            snprintf(team, sizeof team, "team %u", (unsigned)(r / 60 % 7));
            int64_t at = T0 - (int64_t)(r / 420 % (90 * 24 * 60)) * 60 * SEC;
            fd_event_t ev = activity(id, rep, team, CALL, at);
            assert_int_equal(fd_batch_add(b, part, fx->dc, &ev, i, NOW_S), FD_OK);
            fd_windows_t w;
            fd_timewin_of(fx->tw, at, &w);
            for (int k = 0; k < FD_WIN_COUNT; k++) {
                for (int scope = 0; scope < 3; scope++) {
                    char key[256];
                    if (scope == 0) snprintf(key, sizeof key, "funnel:rep:%s:%s", w.id[k], rep);
                    if (scope == 1) snprintf(key, sizeof key, "funnel:team:%s:%s", w.id[k], team);
                    if (scope == 2) snprintf(key, sizeof key, "funnel:org:%s", w.id[k]);
                    uintptr_t n = (uintptr_t)fd_map_get(model, key, strlen(key));
                    assert_int_equal(fd_map_put(model, key, strlen(key), (void *)(n + 1)), FD_OK);
                }
            }
        }
        assert_true(fd_map_size(model) > 5000);
        assert_int_equal(fd_batch_nhashes(b), fd_map_size(model));
        for (size_t i = 0; i < fd_batch_nhashes(b); i++) {
            const fd_batch_hash_t *h = fd_batch_hash(b, i);
            const char *key = key_of(h);
            uintptr_t n = (uintptr_t)fd_map_del(model, key, strlen(key));
            if (n == 0) fail_msg("unexpected or repeated hash %s", key);
            assert_int_equal(h->delta[events_field], (int64_t)n);
        }
        assert_int_equal(fd_map_size(model), 0);
        fd_map_destroy(model);
    }
    fd_batch_destroy(b);
    fd_dedupe_destroy(dd);
    fixture_destroy(fx);
}

static void test_batch_stat_names(void **state) {
    (void)state;
    assert_string_equal(fd_batch_stat_name(FD_STAT_ACCEPTED), "accepted");
    assert_string_equal(fd_batch_stat_name(FD_STAT_DUPLICATES), "duplicates");
    assert_string_equal(fd_batch_stat_name(FD_STAT_REJECTED), "rejected");
    assert_string_equal(fd_batch_stat_name(FD_STAT_BEYOND_RETENTION), "beyond_retention");
    assert_string_equal(fd_batch_stat_name(FD_STAT_IGNORED), "ignored");
}

/* ---- the open pipeline and rep -> team ---- */

/* The delta of field name in hash key (0 when the batch has no such hash). */
static int64_t delta_of(const fd_batch_t *b, const char *key, const char *name) {
    const fd_funnel_t *fn = fd_batch_funnel(b);
    const fd_batch_hash_t *h = find_hash(b, key);
    for (size_t f = 0; f < fd_funnel_nfields(fn); f++)
        if (strcmp(fd_funnel_field_name(fn, f), name) == 0) return h != NULL ? h->delta[f] : 0;
    fail_msg("test bug: no field named %s", name);
    return 0;
}

/* The pipeline fields of stage (NULL: none) in key are (n, amount), the totals too; every other
 * stage's open fields are 0. */
static void expect_pipe(const fd_batch_t *b, const char *key, const char *stage, int64_t n,
                        int64_t amount) {
    static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
    char f1[64], f2[64];
    for (int s = 0; s < 5; s++) {
        bool at = stage != NULL && strcmp(stages[s], stage) == 0;
        snprintf(f1, sizeof f1, "open:%s", stages[s]);
        snprintf(f2, sizeof f2, "open_amount:%s", stages[s]);
        if (delta_of(b, key, f1) != (at ? n : 0) || delta_of(b, key, f2) != (at ? amount : 0))
            fail_msg("%s: %s %lld, %s %lld; want %lld, %lld", key, f1,
                     (long long)delta_of(b, key, f1), f2, (long long)delta_of(b, key, f2),
                     (long long)(at ? n : 0), (long long)(at ? amount : 0));
    }
    assert_int_equal(delta_of(b, key, "open"), n);
    assert_int_equal(delta_of(b, key, "open_amount"), amount);
}

static void test_batch_pipeline_hand_over_moves_between_reps_and_teams(void **state) {
    fixture_t *fx = *state;
    fd_event_t created =
        deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, QUALIFIED, 100000);
    fd_event_t moved =
        deal_ev(FD_DEAL_STAGE_CHANGED, "e-2", "d-1", "bob", "apac", T0 + HOUR, PROPOSAL, -1);
    fold(fx, &created, 0, NOW_S);
    fold(fx, &moved, 1, NOW_S);
    /* anna opened and handed it over in the batch: her and emea's net change is nothing */
    expect_pipe(fx->b, "funnel:rep:all:anna", NULL, 0, 0);
    expect_pipe(fx->b, "funnel:team:all:emea", NULL, 0, 0);
    expect_pipe(fx->b, "funnel:rep:all:bob", "proposal", 1, 100000);
    expect_pipe(fx->b, "funnel:team:all:apac", "proposal", 1, 100000);
    expect_pipe(fx->b, "funnel:org:all", "proposal", 1, 100000);
    /* never in any other window */
    expect_pipe(fx->b, "funnel:org:day:2025-11-22", NULL, 0, 0);
    expect_pipe(fx->b, "funnel:rep:month:2025-11:bob", NULL, 0, 0);

    /* the next batch: the deal is lost by anna an hour later (she is the holder again, and it
     * closes): -1 for bob and apac, anna unchanged */
    fd_batch_reset(fx->b);
    fx->part = part_of(fx->b, "crm.events", 0, "token-1", 2, fx->dd);
    fd_event_t lost = deal_ev(FD_DEAL_LOST, "e-3", "d-1", "anna", "emea", T0 + 2 * HOUR, -1, -1);
    fold(fx, &lost, 2, NOW_S);
    expect_pipe(fx->b, "funnel:rep:all:bob", "proposal", -1, -100000);
    expect_pipe(fx->b, "funnel:team:all:apac", "proposal", -1, -100000);
    expect_pipe(fx->b, "funnel:org:all", "proposal", -1, -100000);
    expect_pipe(fx->b, "funnel:rep:all:anna", NULL, 0, 0);

    /* re-opened by carl, then a late loss dated before the re-opening changes nothing */
    fd_batch_reset(fx->b);
    fx->part = part_of(fx->b, "crm.events", 0, "token-1", 3, fx->dd);
    fd_event_t again =
        deal_ev(FD_DEAL_STAGE_CHANGED, "e-4", "d-1", "carl", "emea", T0 + 3 * HOUR, LEAD, 5000);
    fd_event_t late = deal_ev(FD_DEAL_LOST, "e-5", "d-1", "anna", "emea", T0 + 150 * 60000, -1, -1);
    fold(fx, &again, 3, NOW_S);
    fold(fx, &late, 4, NOW_S);
    expect_pipe(fx->b, "funnel:rep:all:carl", "proposal", 1, 5000);
    expect_pipe(fx->b, "funnel:team:all:emea", "proposal", 1, 5000);
    expect_pipe(fx->b, "funnel:org:all", "proposal", 1, 5000);
    /* the re-opening changed the amount (not ignored); the late loss changed nothing */
    expect_stats(fx->b, 2, 0, 0, 0, 1);
}

static void test_batch_won_counts_cycle_for_won_owner(void **state) {
    fixture_t *fx = *state;
    fd_event_t created = deal_ev(FD_DEAL_CREATED, "e-1", "d-1", "anna", "emea", T0, -1, 100000);
    fd_event_t won = deal_ev(FD_DEAL_WON, "e-2", "d-1", "bob", "apac", T2, -1, -1);
    fold(fx, &created, 0, NOW_S);
    fold(fx, &won, 1, NOW_S);
    /* won at T2 by bob: cycle T2 - T0 in bob's, apac's and the org's windows of T2 */
    assert_int_equal(delta_of(fx->b, "funnel:rep:day:2025-11-25:bob", "cycle_sum_ms"), T2 - T0);
    assert_int_equal(delta_of(fx->b, "funnel:rep:day:2025-11-25:bob", "cycle_count"), 1);
    assert_int_equal(delta_of(fx->b, "funnel:team:week:2025-W48:apac", "cycle_count"), 1);
    assert_int_equal(delta_of(fx->b, "funnel:org:all", "cycle_sum_ms"), T2 - T0);
    assert_int_equal(delta_of(fx->b, "funnel:rep:all:anna", "cycle_count"), 0);
    assert_int_equal(delta_of(fx->b, "funnel:org:day:2025-11-22", "cycle_count"), 0);
    /* opened by anna and won in the batch: the pipeline nets to nothing */
    expect_pipe(fx->b, "funnel:org:all", NULL, 0, 0);
}

static const fd_batch_rep_team_t *rep_team_of(const fd_batch_t *b, const char *rep) {
    for (size_t i = 0; i < fd_batch_nrep_teams(b); i++)
        if (strcmp(fd_batch_rep_team(b, i)->rep, rep) == 0) return fd_batch_rep_team(b, i);
    return NULL;
}

static void test_batch_rep_team_is_latest_event_naming_one(void **state) {
    fixture_t *fx = *state;
    fd_event_t e1 = activity("e-1", "anna", "emea", CALL, T0);
    fd_event_t e2 = activity("e-2", "anna", "unassigned", CALL, T0 + 2 * HOUR); /* no team_id */
    fd_event_t e3 = activity("e-3", "anna", "north", CALL, T0 + HOUR);
    fd_event_t e4 = activity("e-4", "anna", "west", CALL, T0 + 30 * 60000); /* older than e3 */
    fd_event_t e5 = activity("e-5", "bob", "unassigned", VISIT, T0);
    fd_event_t e6 = deal_ev(FD_DEAL_CREATED, "e-6", "d-1", "carl", "apac", T0, -1, -1);
    fd_event_t e7 = deal_ev(FD_DEAL_LOST, "e-7", "d-1", "carl", "emea", T0, -1, -1); /* a tie */
    fold(fx, &e1, 0, NOW_S);
    fold(fx, &e2, 1, NOW_S);
    fold(fx, &e3, 2, NOW_S);
    fold(fx, &e4, 3, NOW_S);
    fold(fx, &e5, 4, NOW_S);
    fold(fx, &e6, 5, NOW_S);
    fold(fx, &e7, 6, NOW_S);
    assert_int_equal(fd_batch_nrep_teams(fx->b), 2);
    const fd_batch_rep_team_t *a = rep_team_of(fx->b, "anna");
    assert_non_null(a);
    assert_string_equal(a->team, "north");
    assert_int_equal(a->at_ms, T0 + HOUR);
    assert_null(rep_team_of(fx->b, "bob")); /* never named a team */
    const fd_batch_rep_team_t *c = rep_team_of(fx->b, "carl");
    assert_non_null(c);
    assert_string_equal(c->team, "emea"); /* the tie goes to the event folded later */
    /* the events without team_id still count for team unassigned */
    assert_int_equal(delta_of(fx->b, "funnel:team:all:unassigned", "events"), 2);
    fd_batch_reset(fx->b);
    assert_int_equal(fd_batch_nrep_teams(fx->b), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_batch_pipeline_hand_over_moves_between_reps_and_teams),
        T(test_batch_won_counts_cycle_for_won_owner),
        T(test_batch_rep_team_is_latest_event_naming_one),
        T(test_batch_activity_counts_in_15_hashes),
        T(test_batch_latest_ms_is_the_latest_event_folded),
        T(test_batch_note_late_keeps_who_when_and_where),
        T(test_batch_activity_with_uncached_deal_id_is_folded),
        T(test_batch_two_activities_of_one_rep_same_day_add_up),
        T(test_batch_feedback_with_score_and_complaint),
        T(test_batch_feedback_without_score_or_complaint_counts_only_event),
        T(test_batch_create_then_stage_change_backfills_and_dwells_lead_only),
        T(test_batch_retroactive_advanced_goes_to_reach_time_and_owner),
        T(test_batch_won_uses_event_amount),
        T(test_batch_won_without_amount_uses_last_deal_amount),
        T(test_batch_lost_counts_lost_at_furthest_stage),
        T(test_batch_deal_event_changing_nothing_counts_event_and_ignored),
        T(test_batch_deal_event_updating_only_amount_is_not_ignored),
        T(test_batch_add_with_uncached_deal_is_inval_and_changes_nothing),
        T(test_batch_refuses_event_that_could_overflow_a_delta),
        T(test_batch_duplicate_event_id_counted_adds_nothing),
        T(test_batch_duplicate_deal_event_changes_no_deal_state),
        T(test_batch_admit_in_order_fold_deal_events_later),
        T(test_batch_duplicate_from_earlier_batch_is_dropped),
        T(test_batch_dedupe_is_per_partition),
        T(test_batch_part_registers_once_per_topic_partition),
        T(test_batch_part_refuses_a_topic_or_token_too_long),
        T(test_batch_rejections_counted_per_reason_and_advance_next),
        T(test_batch_next_is_max_offset_plus_one_whatever_the_order),
        T(test_batch_day_beyond_retention_skipped_and_counted),
        T(test_batch_beyond_retention_counts_each_time_owner_group),
        T(test_batch_beyond_retention_counts_each_scope_window_once),
        cmocka_unit_test(test_batch_retention_on_every_granularity_sets_expiries),
        T(test_batch_windows_follow_utc_business_timezone),
        cmocka_unit_test(test_batch_windows_follow_shanghai_business_timezone),
        T(test_batch_reset_empties_and_batch_is_reusable),
        T(test_batch_many_hashes_grow_and_stay_exact),
        cmocka_unit_test(test_batch_index_matches_keys_built_by_hand),
        cmocka_unit_test(test_batch_stat_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
