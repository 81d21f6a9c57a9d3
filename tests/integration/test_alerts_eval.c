// SPDX-License-Identifier: MIT
// Integration tests of the alert evaluator against a private redis-server, without Kafka: metric
// hashes, the event clock and deal states are written by hand, fd_alerts_sweep runs at chosen
// clocks, and the state hashes, the firing hash and the stream <prefix>:alerts are checked against
// values worked out by hand from docs/alerts.md.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "app/alerter.h"
#include "model/config.h"
#include "model/funnel.h"
#include "alerting/rules.h"
#include "model/timewin.h"
#include "redis_fixture.h"

#define HOUR_MS 3600000LL
#define DAY_MS  86400000LL

static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
static const char *const kinds[] = {"call", "visit", "email", "meeting", "follow_up"};

/* Shared by every test: one redis-server, the funnel, and a client for writes and assertions. */
static struct {
    fd_redis_fixture_t fx;
    fd_funnel_t *fn;
    redisContext *cli;
} W;

/* One evaluator over one fresh prefix. */
typedef struct {
    char prefix[40];
    fd_config_t cfg;
    fd_timewin_t *tw;
    fd_rules_t *rs;
    fd_alerts_t *al;
} ev_t;

/* ---- time ---- */

static int64_t utc_ms(int y, int mo, int d, int h, int mi) {
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm) * 1000;
}

/* The date n days after y-mo-d as "YYYY-MM-DD" (UTC calendar arithmetic on a noon instant). */
static void date_plus(int y, int mo, int d, int n, char *buf, size_t size) {
    time_t t = (time_t)(utc_ms(y, mo, d, 12, 0) / 1000 + (int64_t)n * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d", &tm);
}

/* ---- Redis helpers ---- */

static redisReply *cmd(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(W.cli, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR) fail_msg("redis error for %s: %s", fmt, r->str);
    return r;
}

/* HSET <prefix>:<suffix> field value (value as digits). */
static void hset_int(const ev_t *e, const char *suffix, const char *field, long long v) {
    char key[256];
    snprintf(key, sizeof key, "%s:%s", e->prefix, suffix);
    freeReplyObject(cmd("HSET %s %s %lld", key, field, v));
}

static void hset_str(const ev_t *e, const char *suffix, const char *field, const char *v) {
    char key[256];
    snprintf(key, sizeof key, "%s:%s", e->prefix, suffix);
    freeReplyObject(cmd("HSET %s %s %s", key, field, v));
}

/* HGET <prefix>:<suffix> field as a heap string, NULL when absent. */
static char *hget(const ev_t *e, const char *suffix, const char *field) {
    char key[256];
    snprintf(key, sizeof key, "%s:%s", e->prefix, suffix);
    redisReply *r = cmd("HGET %s %s", key, field);
    char *v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return v;
}

static long long xlen(const ev_t *e) {
    char key[256];
    snprintf(key, sizeof key, "%s:alerts", e->prefix);
    redisReply *r = cmd("XLEN %s", key);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* The field `name` of the k-th entry (oldest first) of <prefix>:alerts, heap copy. */
static char *stream_field(const ev_t *e, size_t k, const char *name) {
    char key[256];
    snprintf(key, sizeof key, "%s:alerts", e->prefix);
    redisReply *r = cmd("XRANGE %s - +", key);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_true(k < r->elements);
    redisReply *fields = r->element[k]->element[1];
    char *v = NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, name) == 0) v = strdup(fields->element[i + 1]->str);
    freeReplyObject(r);
    assert_non_null(v);
    return v;
}

/* Sets <prefix>:clock first_ms (and, when event_ms > 0, event_ms and evaluated_ms). */
static void set_clock(const ev_t *e, int64_t first_ms, int64_t event_ms) {
    hset_int(e, "clock", "first_ms", (long long)first_ms);
    if (event_ms > 0) {
        hset_int(e, "clock", "event_ms", (long long)event_ms);
        hset_int(e, "clock", "evaluated_ms", (long long)event_ms);
    }
}

/* ---- the evaluator ---- */

/* When set, ev_open sets targets.file to it (rules "from": "targets"). */
static const char *ev_targets_file;

static void ev_open(ev_t *e, const char *prefix, const char *tz, const char *rules,
                    const char *instance) {
    memset(e, 0, sizeof *e);
    snprintf(e->prefix, sizeof e->prefix, "%s", prefix);
    char errstr[512] = "", port[16];
    snprintf(port, sizeof port, "%d", W.fx.port);
    assert_int_equal(fd_config_init(&e->cfg), FD_OK);
    if (fd_config_set(&e->cfg, "redis.host", "127.0.0.1", errstr, sizeof errstr) != FD_OK ||
        fd_config_set(&e->cfg, "redis.port", port, errstr, sizeof errstr) != FD_OK ||
        fd_config_set(&e->cfg, "redis.prefix", prefix, errstr, sizeof errstr) != FD_OK ||
        fd_config_set(&e->cfg, "funnel.timezone", tz, errstr, sizeof errstr) != FD_OK ||
        (ev_targets_file != NULL &&
         fd_config_set(&e->cfg, "targets.file", ev_targets_file, errstr, sizeof errstr) != FD_OK))
        fail_msg("config: %s", errstr);
    if (fd_timewin_new(tz, &e->tw, errstr, sizeof errstr) != FD_OK) fail_msg("tz: %s", errstr);
    if (fd_rules_parse(W.fn, rules, strlen(rules), &e->rs, errstr, sizeof errstr) != FD_OK)
        fail_msg("rules: %s", errstr);
    fd_alerts_opts_t o = {.cfg = &e->cfg,
                          .fn = W.fn,
                          .tw = e->tw,
                          .rs = e->rs,
                          .instance = instance,
                          .publish = false};
    if (fd_alerts_new(&o, &e->al, errstr, sizeof errstr) != FD_OK) fail_msg("alerts: %s", errstr);
}

/* A second evaluator over the same prefix, rules and timezone as e. */
static void ev_open_peer(ev_t *peer, const ev_t *e, const char *instance) {
    memset(peer, 0, sizeof *peer);
    snprintf(peer->prefix, sizeof peer->prefix, "%s", e->prefix);
    char errstr[512] = "";
    fd_alerts_opts_t o = {.cfg = &e->cfg,
                          .fn = W.fn,
                          .tw = e->tw,
                          .rs = e->rs,
                          .instance = instance,
                          .publish = false};
    if (fd_alerts_new(&o, &peer->al, errstr, sizeof errstr) != FD_OK)
        fail_msg("alerts: %s", errstr);
}

static void ev_close(ev_t *e) {
    fd_alerts_destroy(e->al, 0);
    fd_rules_destroy(e->rs);
    fd_timewin_destroy(e->tw);
    if (e->cfg.prefix) fd_config_clear(&e->cfg);
    memset(e, 0, sizeof *e);
}

static void sweep(ev_t *e, int64_t clock) {
    fd_err_t err = fd_alerts_sweep(e->al, clock);
    if (err != FD_OK)
        fail_msg("sweep at %lld: %d (%s)", (long long)clock, err, fd_alerts_errstr(e->al));
}

/* ---- assertions on states and alert JSON ---- */

/* The state text of rule for "<scope>|<id>", heap copy or NULL. */
static char *state_of(const ev_t *e, const char *rule, const char *field) {
    char suffix[128];
    snprintf(suffix, sizeof suffix, "alerts:state:%s", rule);
    return hget(e, suffix, field);
}

/* Asserts the state's name ("ok" also matches an absent state) and returns its since_ms. */
static int64_t assert_state(const ev_t *e, const char *rule, const char *field, const char *want) {
    char *s = state_of(e, rule, field);
    if (s == NULL) {
        if (strcmp(want, "ok") != 0) fail_msg("%s %s: no state, expected %s", rule, field, want);
        return 0;
    }
    char name[32] = "";
    long long since = 0;
    if (sscanf(s, "a1 %31s %lld", name, &since) != 2) fail_msg("%s %s: state %s", rule, field, s);
    if (strcmp(name, want) != 0) fail_msg("%s %s: state \"%s\", expected %s", rule, field, s, want);
    free(s);
    return (int64_t)since;
}

/* The JSON of the firing alert "<rule>|<scope>|<id>", parsed; NULL when not firing. */
static cJSON *firing_json(const ev_t *e, const char *field) {
    char *s = hget(e, "alerts:firing", field);
    if (s == NULL) return NULL;
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    return j;
}

static cJSON *stream_json(const ev_t *e, size_t k) {
    char *s = stream_field(e, k, "json");
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    return j;
}

static double jnum(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v)) fail_msg("alert JSON: %s is not a number", key);
    return v->valuedouble;
}

static const char *jstr(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsString(v)) fail_msg("alert JSON: %s is not a string", key);
    return v->valuestring;
}

static void assert_near(double got, double want, const char *what) {
    if (got < want - 1e-4 || got > want + 1e-4)
        fail_msg("%s: got %.6f, want %.6f", what, got, want);
}

/* ---- fixture ---- */

static int group_setup(void **state) {
    (void)state;
    memset(&W, 0, sizeof W);
    if (fd_redis_fixture_start(&W.fx) != 0) return -1;
    char errstr[256];
    if (fd_funnel_new(stages, 5, kinds, 5, &W.fn, errstr, sizeof errstr) != FD_OK) {
        fprintf(stderr, "setup: %s\n", errstr);
        return -1;
    }
    W.cli = fd_redis_fixture_connect(&W.fx);
    return W.cli != NULL ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    if (W.cli) redisFree(W.cli);
    fd_funnel_destroy(W.fn);
    fd_redis_fixture_stop(&W.fx);
    return 0;
}

/* Each test gets its own evaluator; a failed assertion skips ev_close, so the next test's
 * setup closes whatever the failed one left (keeps the sanitizer build's leak check meaningful
 * for the passing tests). */
static ev_t E, E2;

static int test_setup(void **state) {
    (void)state;
    ev_close(&E2);
    ev_close(&E);
    return 0;
}

static int test_teardown(void **state) {
    (void)state;
    ev_close(&E2);
    ev_close(&E);
    return 0;
}

/* ---- 1. rolling windows from whole local days and hourly buckets ---- */

typedef struct {
    const char *suffix; /* key after "<prefix>:" */
    long long calls;
} cell_t;

static const char rolling_rules[] =
    "{\"rules\": [{\"name\": \"calls-48h\", \"kpi\": \"activity:call\", \"scope\": \"rep\","
    " \"window\": \"48h\", \"threshold\": {\"op\": \">=\", \"value\": 10}}]}";

/* The clock 2026-11-22T11:30Z: the 48h window is the 48 whole UTC hours before the clock's hour,
 * 2026-11-20T11 .. 2026-11-22T10. Hours just outside it (20T10, and 22T11: the hour in progress,
 * which in a replay already holds events after the clock) hold 1000 calls each. */
static void run_rolling(const char *prefix, const char *tz, const cell_t *cells, size_t n,
                        long long want) {
    ev_open(&E, prefix, tz, rolling_rules, "evt-a");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    hset_str(&E, "rep_team", "anna", "t1");
    for (size_t i = 0; i < n; i++)
        hset_int(&E, cells[i].suffix, "activity:call", cells[i].calls);
    int64_t clock = utc_ms(2026, 11, 22, 11, 30);
    sweep(&E, clock);

    assert_state(&E, "calls-48h", "rep|anna", "firing");
    assert_int_equal(xlen(&E), 1);
    cJSON *j = firing_json(&E, "calls-48h|rep|anna");
    assert_non_null(j);
    assert_near(jnum(j, "value"), (double)want, "value");
    assert_near(jnum(j, "samples"), (double)want, "samples");
    assert_near(jnum(j, "threshold"), 10, "threshold");
    assert_string_equal(jstr(j, "window"), "48h");
    assert_string_equal(jstr(j, "at"), "2026-11-22T11:30:00.000Z");
    cJSON_Delete(j);
    fd_alerts_stats_t st;
    fd_alerts_stats(E.al, &st);
    assert_true(st.leader);
    assert_int_equal(st.sweeps, 1);
    assert_int_equal(st.clock_ms, clock);
    ev_close(&E);
}

static void test_rolling_sums_whole_local_day_and_hours_shanghai(void **state) {
    (void)state;
    /* Asia/Shanghai (UTC+8): local day 2026-11-21 = 20T16Z .. 21T16Z lies inside the window and
     * is read from its day hash (which alone holds its 7 calls: no hourly buckets inside it);
     * the local days 20 and 22 only overlap it and must not be read (their hashes hold the
     * 1000-call hours too). 2 + 7 + 4 + 3 = 16. */
    static const cell_t cells[] = {
        {"rep:hour:2026-11-20T10:anna", 1000}, /* just before the window */
        {"rep:hour:2026-11-20T11:anna", 2},    /* first hour of the window */
        {"rep:day:2026-11-21:anna", 7},        /* whole local day */
        {"rep:hour:2026-11-21T20:anna", 4},
        {"rep:hour:2026-11-22T10:anna", 3},    /* the last whole hour */
        {"rep:hour:2026-11-22T11:anna", 1000}, /* the clock's hour, in progress */
        {"rep:day:2026-11-20:anna", 1002},     /* 20T10 + 20T11 */
        {"rep:day:2026-11-22:anna", 1007},     /* 21T20 + 22T10 + 22T11 */
    };
    run_rolling("evt-roll-sh", "Asia/Shanghai", cells, sizeof cells / sizeof *cells, 16);
}

static void test_rolling_uses_hours_only_for_half_hour_offset_kolkata(void **state) {
    (void)state;
    /* Asia/Kolkata (UTC+5:30): local days begin at :30 UTC, so no local day is a whole number
     * of UTC hours and every hour comes from its hourly bucket; the day hashes (900 each) must
     * not be read. 2 + 3 + 4 + 4 + 3 = 16. */
    static const cell_t cells[] = {
        {"rep:hour:2026-11-20T10:anna", 1000}, {"rep:hour:2026-11-20T11:anna", 2},
        {"rep:hour:2026-11-21T00:anna", 3},    {"rep:hour:2026-11-21T05:anna", 4},
        {"rep:hour:2026-11-21T20:anna", 4},    {"rep:hour:2026-11-22T10:anna", 3},
        {"rep:hour:2026-11-22T11:anna", 1000}, {"rep:day:2026-11-20:anna", 900},
        {"rep:day:2026-11-21:anna", 900},      {"rep:day:2026-11-22:anna", 900},
    };
    run_rolling("evt-roll-in", "Asia/Kolkata", cells, sizeof cells / sizeof *cells, 16);
}

/* ---- 2. for / resolve_for ---- */

static void test_for_then_resolve_for_one_episode(void **state) {
    (void)state;
    ev_open(&E, "evt-for", "UTC",
            "{\"rules\": [{\"name\": \"calls-low\", \"kpi\": \"activity:call\", \"scope\": \"rep\","
            " \"window\": \"24h\", \"threshold\": {\"op\": \"<\", \"value\": 5},"
            " \"for\": \"1h\", \"resolve_for\": \"1h\"}]}",
            "evt-a");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    hset_str(&E, "rep_team", "anna", "t1");
    const int64_t t = utc_ms(2026, 11, 22, 10, 0);

    /* t: 0 calls < 5 holds: pending, nothing notified */
    sweep(&E, t);
    assert_int_equal(assert_state(&E, "calls-low", "rep|anna", "pending"), t);
    assert_int_equal(xlen(&E), 0);
    assert_null(firing_json(&E, "calls-low|rep|anna"));

    /* t+1h: held for 1h: firing, one notification */
    sweep(&E, t + HOUR_MS);
    assert_int_equal(assert_state(&E, "calls-low", "rep|anna", "firing"), t + HOUR_MS);
    assert_int_equal(xlen(&E), 1);
    cJSON *f = firing_json(&E, "calls-low|rep|anna");
    assert_non_null(f);
    assert_string_equal(jstr(f, "state"), "firing");
    assert_string_equal(jstr(f, "started_at"), "2026-11-22T11:00:00.000Z");
    assert_near(jnum(f, "value"), 0, "value");
    char episode[64];
    snprintf(episode, sizeof episode, "%s", jstr(f, "episode_id"));
    cJSON_Delete(f);

    /* healthy data: 10 calls in the hour before t+2h (whole at t+2h; at t+1h it was the hour
     * in progress, not read) */
    hset_int(&E, "rep:hour:2026-11-22T11:anna", "activity:call", 10);
    sweep(&E, t + 2 * HOUR_MS); /* healthy since t+2h, resolve_for not yet held */
    assert_state(&E, "calls-low", "rep|anna", "firing");
    assert_int_equal(xlen(&E), 1);
    f = firing_json(&E, "calls-low|rep|anna");
    assert_non_null(f);
    cJSON_Delete(f);

    sweep(&E, t + 3 * HOUR_MS); /* healthy for 1h: resolved */
    assert_state(&E, "calls-low", "rep|anna", "resolved");
    assert_int_equal(xlen(&E), 2);
    assert_null(firing_json(&E, "calls-low|rep|anna"));

    cJSON *a = stream_json(&E, 0), *b = stream_json(&E, 1);
    assert_string_equal(jstr(a, "state"), "firing");
    assert_string_equal(jstr(b, "state"), "resolved");
    assert_string_equal(jstr(a, "episode_id"), episode);
    assert_string_equal(jstr(b, "episode_id"), episode);
    assert_string_not_equal(jstr(a, "alert_id"), jstr(b, "alert_id"));
    assert_string_equal(jstr(b, "started_at"), "2026-11-22T11:00:00.000Z");
    assert_string_equal(jstr(b, "resolved_at"), "2026-11-22T13:00:00.000Z");
    assert_near(jnum(b, "value"), 10, "resolved value");
    cJSON_Delete(a);
    cJSON_Delete(b);
    char *st = stream_field(&E, 1, "state");
    assert_string_equal(st, "resolved");
    free(st);

    /* the next sweep, still healthy: resolved -> ok, no notification */
    sweep(&E, t + 4 * HOUR_MS);
    assert_state(&E, "calls-low", "rep|anna", "ok");
    assert_int_equal(xlen(&E), 2);
    ev_close(&E);
}

/* ---- 3. incomplete windows ---- */

typedef struct {
    const char *prefix;
    int64_t first_after_start_ms; /* first_ms relative to the window start */
    bool event_clock;             /* sweep at the configured clock (<prefix>:clock event_ms) */
    bool fires;
} incomplete_case_t;

static void test_incomplete_window_never_fires(void **state) {
    (void)state;
    /* clock 2026-11-22T10:30Z: the 24h window is the 24 whole hours before 10:00, from
     * 2026-11-21T10:00Z; the configured (event) clock evaluates at the start of its hour */
    const int64_t clock = utc_ms(2026, 11, 22, 10, 30), start = utc_ms(2026, 11, 21, 10, 0);
    static const incomplete_case_t cases[] = {
        {"evt-inc-cover", 0, false, true},              /* first event at the window start */
        {"evt-inc-1ms", 1, false, false},               /* 1 ms after it */
        {"evt-inc-late", 21 * HOUR_MS, false, false},   /* started 2h before the clock */
        {"evt-inc-cover-ev", 0, true, true},            /* at the configured clock (event_ms) */
        {"evt-inc-late-ev", 21 * HOUR_MS, true, false}, /* the same */
    };
    /* every row runs; the mismatches are reported together */
    char bad[1024] = "";
    size_t blen = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const incomplete_case_t *c = &cases[i];
        ev_open(&E, c->prefix, "UTC",
                "{\"rules\": [{\"name\": \"calls-silent\", \"kpi\": \"activity:call\","
                " \"scope\": \"rep\", \"window\": \"24h\","
                " \"threshold\": {\"op\": \"<\", \"value\": 1}}]}",
                "evt-a");
        set_clock(&E, start + c->first_after_start_ms, c->event_clock ? clock : 0);
        hset_str(&E, "rep_team", "anna", "t1");
        sweep(&E, c->event_clock ? 0 : clock);
        fd_alerts_stats_t st;
        fd_alerts_stats(E.al, &st);
        assert_int_equal(st.clock_ms, c->event_clock ? clock - 30 * 60000 : clock);
        char *s = state_of(&E, "calls-silent", "rep|anna");
        long long n = xlen(&E);
        bool fired = n == 1 && s != NULL && strncmp(s, "a1 firing ", 10) == 0;
        bool quiet = n == 0 && (s == NULL || strncmp(s, "a1 ok ", 6) == 0);
        if (c->fires ? !fired : !quiet)
            blen += (size_t)snprintf(bad + blen, sizeof bad - blen,
                                     "\n  %s (first_ms = window start + %lld ms, %s clock): "
                                     "state \"%s\", %lld notification(s), expected %s",
                                     c->prefix, (long long)c->first_after_start_ms,
                                     c->event_clock ? "configured" : "explicit", s ? s : "(none)",
                                     n, c->fires ? "firing" : "no alert");
        free(s);
        ev_close(&E);
        if (blen >= sizeof bad) blen = sizeof bad - 1;
    }
    if (blen > 0) fail_msg("incomplete windows:%s", bad);
}

/* ---- 3b. the watermark: every assigned partition holds it ---- */

static void note_at(ev_t *e, int32_t partition, const char *rep, int64_t ms) {
    fd_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = FD_ACTIVITY_LOGGED;
    snprintf(ev.rep_id, sizeof ev.rep_id, "%s", rep);
    snprintf(ev.team_id, sizeof ev.team_id, "t1");
    ev.occurred_ms = ms;
    ev.stage = -1;
    ev.activity = 1; /* a visit: the call rule still sees 0 calls */
    fd_alerts_note(e->al, &ev, "crm", partition);
    fd_alerts_batch_sent(e->al);
    fd_alerts_batch_done(e->al, true);
}

static void test_assigned_partition_holds_the_watermark(void **state) {
    (void)state;
    /* Two partitions are assigned; only partition 0's events have been applied (up to the
     * clock). Partition 1 may hold calls of anna for the whole window: nothing may be judged
     * until it catches up or has been quiet for 5 minutes. */
    /* partition 0 is at 11:30, the last sweep ran at 10:00; on event time the clock is the
     * start of the watermark's hour */
    const int64_t clock = utc_ms(2026, 11, 22, 11, 30), last = utc_ms(2026, 11, 22, 10, 0);
    ev_open(&E, "evt-wm", "UTC",
            "{\"rules\": [{\"name\": \"calls-silent\", \"kpi\": \"activity:call\","
            " \"scope\": \"rep\", \"window\": \"24h\","
            " \"threshold\": {\"op\": \"<\", \"value\": 1}}]}",
            "evt-a");
    set_clock(&E, clock - 3 * DAY_MS, 0);
    hset_int(&E, "clock", "evaluated_ms", (long long)last);
    hset_str(&E, "rep_team", "anna", "t1");
    assert_int_equal(fd_alerts_hold(E.al, "crm", 0), FD_OK);
    assert_int_equal(fd_alerts_hold(E.al, "crm", 1), FD_OK);
    char *p1 = hget(&E, "clock", "p:crm:1");
    assert_non_null(p1);
    assert_string_equal(p1, "0"); /* never seen: nothing known */
    free(p1);
    note_at(&E, 0, "anna", clock);
    sweep(&E, 0);
    assert_state(&E, "calls-silent", "rep|anna", "ok");
    assert_int_equal(xlen(&E), 0);
    fd_alerts_stats_t st;
    fd_alerts_stats(E.al, &st);
    assert_int_equal(st.sweeps, 0);

    /* partition 1 catches up to 9:30: judged no further than that, and never backwards: held
     * at the last sweep */
    note_at(&E, 1, "anna", clock - 2 * HOUR_MS);
    sweep(&E, 0);
    fd_alerts_stats(E.al, &st);
    assert_int_equal(st.clock_ms, last);
    assert_state(&E, "calls-silent", "rep|anna", "firing");
    assert_int_equal(xlen(&E), 1);

    /* re-assigned with its old latest event: it holds again, the clock does not move back */
    assert_int_equal(fd_alerts_hold(E.al, "crm", 1), FD_OK);
    sweep(&E, 0);
    fd_alerts_stats(E.al, &st);
    assert_int_equal(st.clock_ms, last);

    /* quiet for more than 5 minutes (wall time): it no longer holds the clock */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    hset_int(&E, "clock", "s:crm:1", (long long)ts.tv_sec * 1000 - 6 * 60000);
    sweep(&E, 0);
    fd_alerts_stats(E.al, &st);
    assert_int_equal(st.clock_ms, clock - 30 * 60000); /* 11:00 */
    assert_int_equal(xlen(&E), 1);                     /* still the one firing alert */
    char *ev = hget(&E, "clock", "evaluated_ms");
    assert_non_null(ev);
    assert_int_equal(strtoll(ev, NULL, 10), clock - 30 * 60000);
    free(ev);
    /* a sweep at a clock given by the caller (a probe) does not move the shared clock */
    sweep(&E, clock + 10 * DAY_MS);
    ev = hget(&E, "clock", "evaluated_ms");
    assert_int_equal(strtoll(ev, NULL, 10), clock - 30 * 60000);
    free(ev);
    ev_close(&E);
}

/* Every partition of the topic holds the watermark from the first assignment on, also one no
 * instance has been assigned yet (its owner still joining the group): otherwise the clock would
 * run on the partitions assigned so far and reps of the others would look silent. */
static void test_unassigned_partition_of_the_topic_holds_the_watermark(void **state) {
    (void)state;
    const int64_t clock = utc_ms(2026, 11, 22, 11, 30);
    ev_open(&E, "evt-expect", "UTC",
            "{\"rules\": [{\"name\": \"calls-silent\", \"kpi\": \"activity:call\","
            " \"scope\": \"rep\", \"window\": \"24h\","
            " \"threshold\": {\"op\": \"<\", \"value\": 1}}]}",
            "evt-a");
    set_clock(&E, clock - 3 * DAY_MS, 0);
    hset_int(&E, "clock", "evaluated_ms", (long long)(clock - 90 * 60000));
    hset_str(&E, "rep_team", "anna", "t1");
    assert_int_equal(fd_alerts_hold(E.al, "crm", 0), FD_OK); /* ours */
    note_at(&E, 0, "anna", clock);
    assert_int_equal(fd_alerts_expect(E.al, "crm", 3), FD_OK); /* 1 and 2: nobody's yet */
    char *p2 = hget(&E, "clock", "p:crm:2"), *s2 = hget(&E, "clock", "s:crm:2");
    assert_non_null(p2);
    assert_string_equal(p2, "0");
    assert_non_null(s2);
    free(p2);
    free(s2);
    sweep(&E, 0);
    fd_alerts_stats_t st;
    fd_alerts_stats(E.al, &st);
    assert_int_equal(st.sweeps, 0); /* held at 0: nothing judged */
    assert_state(&E, "calls-silent", "rep|anna", "ok");
    assert_int_equal(xlen(&E), 0);

    /* registering again (another instance, a restart) does not renew their 5 minutes */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long old = (long long)ts.tv_sec * 1000 - 6 * 60000;
    hset_int(&E, "clock", "s:crm:1", old);
    hset_int(&E, "clock", "s:crm:2", old);
    assert_int_equal(fd_alerts_expect(E.al, "crm", 3), FD_OK);
    char *s1 = hget(&E, "clock", "s:crm:1"), *p0 = hget(&E, "clock", "p:crm:0");
    assert_int_equal(strtoll(s1, NULL, 10), old);
    assert_int_equal(strtoll(p0, NULL, 10), clock); /* a registered time is kept */
    free(s1);
    free(p0);
    /* quiet for more than 5 minutes: they no longer hold the clock */
    sweep(&E, 0);
    fd_alerts_stats(E.al, &st);
    assert_int_equal(st.clock_ms, clock - 30 * 60000); /* the start of the watermark's hour */
    ev_close(&E);
}

/* A drift rule with a teams filter uses its own baseline_days (7), like the same rule without a
 * filter: the 21 days before the baseline, 10x busier, must not count. */
static void test_drift_with_filter_uses_its_baseline_days(void **state) {
    (void)state;
    ev_open(&E, "evt-dfilter", "UTC",
            "{\"rules\": ["
            "{\"name\": \"d-filter\", \"kpi\": \"activity:call\", \"scope\": \"rep\","
            " \"teams\": [\"t1\"], \"window\": \"7d\","
            " \"drift\": {\"baseline_days\": 7, \"max_change\": 0.3}},"
            "{\"name\": \"d-plain\", \"kpi\": \"activity:call\", \"scope\": \"rep\","
            " \"window\": \"7d\", \"drift\": {\"baseline_days\": 7, \"max_change\": 0.3}}]}",
            "evt-a");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    hset_str(&E, "rep_team", "anna", "t1");
    char day[16], suffix[128];
    /* clock 2026-11-23T00:30Z: the 7d window is the whole days 16..22, its baseline days 9..15
     * (10 calls a day each); the 21 days before hold 100 a day */
    for (int d = 0; d < 7; d++) {
        date_plus(2026, 11, 9, d, day, sizeof day);
        snprintf(suffix, sizeof suffix, "rep:day:%s:anna", day);
        hset_int(&E, suffix, "activity:call", 10);
        date_plus(2026, 11, 16, d, day, sizeof day);
        snprintf(suffix, sizeof suffix, "rep:day:%s:anna", day);
        hset_int(&E, suffix, "activity:call", 10);
    }
    for (int d = 0; d < 21; d++) {
        date_plus(2026, 10, 19, d, day, sizeof day);
        snprintf(suffix, sizeof suffix, "rep:day:%s:anna", day);
        hset_int(&E, suffix, "activity:call", 100);
    }
    sweep(&E, utc_ms(2026, 11, 23, 0, 30));
    assert_state(&E, "d-plain", "rep|anna", "ok");
    assert_state(&E, "d-filter", "rep|anna", "ok");
    assert_int_equal(xlen(&E), 0);
    ev_close(&E);
}

/* Scopes touched by applied events are evaluated between sweeps at the live watermark, which
 * does not move the shared sweep clock; when the watermark then drops (a quiet partition held
 * again), the next sweep must not run at an earlier clock than that evaluation did. */
static void test_sweep_never_runs_behind_a_touched_evaluation(void **state) {
    (void)state;
    const int64_t clock = utc_ms(2026, 11, 22, 10, 30);
    ev_open(&E, "evt-touched", "UTC",
            "{\"rules\": [{\"name\": \"calls-silent\", \"kpi\": \"activity:call\","
            " \"scope\": \"rep\", \"window\": \"24h\","
            " \"threshold\": {\"op\": \"<\", \"value\": 1}}]}",
            "evt-a");
    set_clock(&E, clock - 3 * DAY_MS, 0);
    hset_int(&E, "clock", "evaluated_ms", (long long)(clock - 150 * 60000)); /* 8:00 */
    hset_str(&E, "rep_team", "anna", "t1");
    assert_int_equal(fd_alerts_hold(E.al, "crm", 0), FD_OK);
    note_at(&E, 0, "anna", clock - 80 * 60000); /* 9:10 */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000;
    if (fd_alerts_tick(E.al, now) != FD_OK) fail_msg("tick: %s", fd_alerts_errstr(E.al));
    fd_alerts_stats_t st;
    fd_alerts_stats(E.al, &st);
    assert_int_equal(st.clock_ms, clock - 90 * 60000); /* the timer's sweep, at 9:00 */
    /* anna's next event: her scope is evaluated at the new watermark, between sweeps */
    note_at(&E, 0, "anna", clock);
    if (fd_alerts_tick(E.al, now + 1500) != FD_OK) fail_msg("tick: %s", fd_alerts_errstr(E.al));
    fd_alerts_stats(E.al, &st);
    assert_int_equal(st.clock_ms, clock - 30 * 60000); /* 10:00 */
    /* partition 1 is held again with an older time: the watermark drops to 9:50 */
    hset_int(&E, "clock", "p:crm:1", (long long)(clock - 40 * 60000));
    hset_int(&E, "clock", "s:crm:1", (long long)now);
    sweep(&E, 0);
    fd_alerts_stats(E.al, &st);
    assert_int_equal(st.clock_ms, clock - 30 * 60000); /* paused at 10:00, not run backwards */
    ev_close(&E);
}

/* A firing alert of a rule that stops applying to its id (the rep moved out of the rule's teams)
 * is resolved, not left firing forever. */
static void test_firing_alert_resolves_when_its_rule_no_longer_applies(void **state) {
    (void)state;
    ev_open(&E, "evt-orphan", "UTC",
            "{\"rules\": [{\"name\": \"calls-low\", \"kpi\": \"activity:call\","
            " \"scope\": \"rep\", \"teams\": [\"t1\"], \"window\": \"24h\","
            " \"threshold\": {\"op\": \"<\", \"value\": 5}}]}",
            "evt-a");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    hset_str(&E, "rep_team", "anna", "t1");
    hset_str(&E, "rep_team", "bob", "t2");
    sweep(&E, utc_ms(2026, 11, 22, 10, 0));
    assert_state(&E, "calls-low", "rep|anna", "firing");
    assert_state(&E, "calls-low", "rep|bob", "ok");
    assert_int_equal(xlen(&E), 1);
    hset_str(&E, "rep_team", "anna", "t2");
    sweep(&E, utc_ms(2026, 11, 22, 11, 0));
    assert_state(&E, "calls-low", "rep|anna", "resolved");
    assert_int_equal(xlen(&E), 2);
    char *f = hget(&E, "alerts:firing", "calls-low|rep|anna");
    assert_null(f);
    cJSON *j = stream_json(&E, 1);
    assert_string_equal(jstr(j, "state"), "resolved");
    assert_near(jnum(j, "threshold"), 5, "threshold");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "value")));
    cJSON_Delete(j);
    /* nothing more once resolved */
    sweep(&E, utc_ms(2026, 11, 22, 12, 0));
    assert_int_equal(xlen(&E), 2);
    ev_close(&E);
}

/* A rep's team (for routing) is the team of its latest event that names one, as the apply script
 * keeps it in rep_team: an event without team_id ("unassigned") neither moves the rep nor makes
 * its alert name no manager; a hand-over written to rep_team moves it at the next evaluation. */
static void test_rep_routing_follows_rep_team_not_a_teamless_event(void **state) {
    (void)state;
    ev_open(&E, "evt-route", "UTC",
            "{\"managers\": {\"t1\": \"Priya Boss\", \"t2\": \"Tom Boss\"}, \"rules\": ["
            "{\"name\": \"calls-low\", \"kpi\": \"activity:call\", \"scope\": \"rep\","
            " \"window\": \"24h\", \"threshold\": {\"op\": \"<\", \"value\": 5},"
            " \"hysteresis\": 1}]}",
            "evt-a");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    hset_str(&E, "rep_team", "anna", "t1");
    fd_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = FD_ACTIVITY_LOGGED;
    snprintf(ev.rep_id, sizeof ev.rep_id, "anna");
    snprintf(ev.team_id, sizeof ev.team_id, "unassigned"); /* the event named no team */
    ev.occurred_ms = utc_ms(2026, 11, 22, 9, 0);
    ev.stage = -1;
    ev.activity = 1;
    fd_alerts_note(E.al, &ev, "crm", 0);
    fd_alerts_batch_sent(E.al);
    fd_alerts_batch_done(E.al, true);
    sweep(&E, utc_ms(2026, 11, 22, 10, 0));
    cJSON *j = firing_json(&E, "calls-low|rep|anna");
    assert_non_null(j);
    assert_string_equal(jstr(j, "team"), "t1");
    assert_string_equal(jstr(j, "manager"), "Priya Boss");
    cJSON_Delete(j);
    /* the alerter no longer writes rep_team: the apply script does */
    char *t = hget(&E, "rep_team", "anna");
    assert_non_null(t);
    assert_string_equal(t, "t1");
    free(t);
    /* the resolve names the same manager */
    hset_int(&E, "rep:hour:2026-11-22T10:anna", "activity:call", 9);
    sweep(&E, utc_ms(2026, 11, 22, 11, 0));
    assert_int_equal(xlen(&E), 2);
    j = stream_json(&E, 1);
    assert_string_equal(jstr(j, "state"), "resolved");
    assert_string_equal(jstr(j, "manager"), "Priya Boss");
    cJSON_Delete(j);
    /* a hand-over (a later event naming t2, as the apply script records it) */
    hset_str(&E, "rep_team", "anna", "t2");
    sweep(&E, utc_ms(2026, 11, 23, 12, 0));
    j = firing_json(&E, "calls-low|rep|anna");
    assert_non_null(j);
    assert_string_equal(jstr(j, "team"), "t2");
    assert_string_equal(jstr(j, "manager"), "Tom Boss");
    cJSON_Delete(j);
    ev_close(&E);
}

/* Score and grade KPIs read the scorer's hash <p>:score:<scope>:<period>:<id> of the rule's
 * calendar period at the clock; no hash (or no score) is undefined: never fires. */
static void test_score_and_grade_kpis_read_the_scorecard(void **state) {
    (void)state;
    ev_open(&E, "evt-score", "Asia/Shanghai",
            "{\"managers\": {\"t1\": \"Priya Boss\"}, \"rules\": ["
            "{\"name\": \"score-low\", \"kpi\": \"score\", \"scope\": \"rep\","
            " \"window\": \"month\", \"threshold\": {\"op\": \"<\", \"value\": 60}},"
            "{\"name\": \"grade-d\", \"kpi\": \"grade\", \"scope\": \"team\","
            " \"window\": \"quarter\", \"threshold\": {\"op\": \"<=\", \"value\": \"D\"}}]}",
            "evt-a");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    hset_str(&E, "rep_team", "anna", "t1");
    hset_str(&E, "rep_team", "bob", "t1");
    /* 2026-11-30T20:00Z is 1 December in Shanghai: the period is month:2026-12 */
    hset_str(&E, "score:rep:month:2026-11:anna", "score", "10.00"); /* another month */
    hset_str(&E, "score:rep:month:2026-12:anna", "score", "55.25");
    hset_str(&E, "score:rep:month:2026-12:anna", "grade", "D");
    hset_str(&E, "score:rep:month:2026-12:bob", "grade", "-"); /* nothing scored: no score */
    hset_str(&E, "score:team:quarter:2026-Q4:t1", "score", "40.00");
    hset_str(&E, "score:team:quarter:2026-Q4:t1", "grade", "D");
    sweep(&E, utc_ms(2026, 11, 30, 20, 0));
    assert_state(&E, "score-low", "rep|anna", "firing");
    assert_state(&E, "score-low", "rep|bob", "ok");
    assert_state(&E, "grade-d", "team|t1", "firing");
    cJSON *j = firing_json(&E, "score-low|rep|anna");
    assert_non_null(j);
    assert_string_equal(jstr(j, "kpi"), "score");
    assert_string_equal(jstr(j, "window"), "month");
    assert_string_equal(jstr(j, "manager"), "Priya Boss");
    assert_near(jnum(j, "value"), 55.25, "score");
    assert_near(jnum(j, "threshold"), 60, "threshold");
    cJSON_Delete(j);
    j = firing_json(&E, "grade-d|team|t1");
    assert_non_null(j);
    assert_string_equal(jstr(j, "kpi"), "grade");
    assert_near(jnum(j, "value"), 1, "grade D");
    cJSON_Delete(j);
    /* the scorecard rises: resolved; the team's grade becomes C: resolved */
    hset_str(&E, "score:rep:month:2026-12:anna", "score", "61.00");
    hset_str(&E, "score:team:quarter:2026-Q4:t1", "grade", "C");
    sweep(&E, utc_ms(2026, 11, 30, 21, 0));
    assert_state(&E, "score-low", "rep|anna", "resolved");
    assert_state(&E, "grade-d", "team|t1", "resolved");
    assert_int_equal(xlen(&E), 4);
    ev_close(&E);
}

/* Target rules "from": "targets": each id's target is the targets file's for the calendar period
 * of the window; a team without its own row sums its reps' (members from rep_team); an id
 * without a target is not judged. */
static void test_target_from_targets_file(void **state) {
    (void)state;
    char path[] = "/tmp/fd-targets-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char doc[] =
        "{\"targets\": ["
        " {\"scope\": \"rep\", \"id\": \"anna\", \"period\": \"month\", \"kpi\": \"won\", "
        "\"value\": 30},"
        " {\"scope\": \"rep\", \"id\": \"bob\", \"period\": \"month:2026-11\", \"kpi\": \"won\", "
        "\"value\": 10},"
        " {\"scope\": \"rep\", \"id\": \"carl\", \"period\": \"quarter\", \"kpi\": \"won\", "
        "\"value\": 99}]}";
    assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
    close(fd);
    ev_targets_file = path;
    ev_open(
        &E, "evt-tfile", "UTC",
        "{\"rules\": ["
        "{\"name\": \"won-pace\", \"kpi\": \"won\", \"scope\": \"rep\", \"window\": \"month\","
        " \"target\": {\"from\": \"targets\", \"tolerance\": 0.2}},"
        "{\"name\": \"team-pace\", \"kpi\": \"won\", \"scope\": \"team\", \"window\": \"month\","
        " \"target\": {\"from\": \"targets\"}}]}",
        "evt-a");
    ev_targets_file = NULL;
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    hset_str(&E, "rep_team", "anna", "t1");
    hset_str(&E, "rep_team", "bob", "t1");
    hset_str(&E, "rep_team", "carl", "t1");
    /* 2026-11-16T00:00Z: half of November gone (15 of 30 days). anna: 30 → expects 15, fires
     * below 12; bob: 10 → 5, fires below 4; carl: a quarter target only, not judged monthly.
     * t1: no row, sum of anna's and bob's monthly targets 40 → expects 20. */
    hset_int(&E, "rep:day:2026-11-01:anna", "won", 11);
    hset_int(&E, "rep:day:2026-11-01:bob", "won", 4);
    hset_int(&E, "team:day:2026-11-01:t1", "won", 15);
    sweep(&E, utc_ms(2026, 11, 16, 0, 0));
    assert_state(&E, "won-pace", "rep|anna", "firing");
    assert_state(&E, "won-pace", "rep|bob", "ok");
    assert_state(&E, "won-pace", "rep|carl", "ok");
    assert_state(&E, "team-pace", "team|t1", "firing");
    cJSON *j = firing_json(&E, "won-pace|rep|anna");
    assert_non_null(j);
    assert_near(jnum(j, "target"), 30, "anna's target");
    assert_near(jnum(j, "value"), 11, "anna's value");
    cJSON_Delete(j);
    j = firing_json(&E, "team-pace|team|t1");
    assert_non_null(j);
    assert_near(jnum(j, "target"), 40, "t1: the sum of its reps' targets");
    cJSON_Delete(j);
    /* anna catches up: resolved */
    hset_int(&E, "rep:hour:2026-11-16T00:anna", "won", 5);
    sweep(&E, utc_ms(2026, 11, 16, 1, 0));
    assert_state(&E, "won-pace", "rep|anna", "resolved");
    ev_close(&E);
    unlink(path);
}

/* A hold that could not be written (here the clock key has the wrong type, as when Redis is
 * unreachable) waits for the next write; if its partition is revoked meanwhile, it must not be
 * written later: another instance owns the partition and feeds its clock. */
static void test_revoked_partition_hold_is_not_written_later(void **state) {
    (void)state;
    ev_open(&E, "evt-unhold", "UTC",
            "{\"rules\": [{\"name\": \"calls-silent\", \"kpi\": \"activity:call\","
            " \"scope\": \"rep\", \"window\": \"24h\","
            " \"threshold\": {\"op\": \"<\", \"value\": 1}}]}",
            "evt-a");
    freeReplyObject(cmd("SET evt-unhold:clock not-a-hash"));
    assert_int_not_equal(fd_alerts_hold(E.al, "crm", 2), FD_OK); /* kept to be written later */
    assert_int_not_equal(fd_alerts_hold(E.al, "crm", 3), FD_OK);
    fd_alerts_unhold(E.al, "crm", 2); /* revoked before Redis took it */
    freeReplyObject(cmd("DEL evt-unhold:clock"));
    set_clock(&E, utc_ms(2026, 11, 1, 0, 0), 0);

    assert_int_equal(fd_alerts_hold(E.al, "crm", 0), FD_OK); /* writes what still waits */
    char *p0 = hget(&E, "clock", "p:crm:0"), *p2 = hget(&E, "clock", "p:crm:2"),
         *p3 = hget(&E, "clock", "p:crm:3"), *s2 = hget(&E, "clock", "s:crm:2");
    assert_non_null(p0);
    assert_null(p2);
    assert_null(s2);
    assert_non_null(p3); /* not revoked: its hold was written once Redis took it */
    assert_string_equal(p3, "0");
    free(p0);
    free(p3);
    ev_close(&E);
}

/* ---- 4. target pace ---- */

typedef struct {
    const char *rep;
    long long visits;
    bool fires;
    double target, expected;
} pace_case_t;

static void test_target_pace_on_calendar_week(void **state) {
    (void)state;
    ev_open(&E, "evt-pace", "Asia/Shanghai",
            "{\"rules\": [{\"name\": \"visits-pace\", \"kpi\": \"activity:visit\","
            " \"scope\": \"rep\", \"window\": \"week\", \"target\": {\"op\": \">=\","
            " \"value\": 20, \"tolerance\": 0.25, \"reps\": {\"carl\": 10, \"dan\": 40}}}]}",
            "evt-a");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    /* ISO week 2026-W47 in Shanghai: 2026-11-15T16:00Z .. 2026-11-22T16:00Z; at
     * 2026-11-19T04:00Z (noon on Thursday) half of it is gone: pace expects target / 2, fires
     * below 75 % of that. The week is read as of the clock: the whole days 16-18 and the hours
     * of the 19th before noon (2026-11-18T16 .. 2026-11-19T03 UTC), never the week's hash, the
     * day's hash or the hour in progress, which in a replay hold the rest of the week. */
    static const pace_case_t cases[] = {
        {"anna", 5, true, 20, 10}, /* 5 < 7.5 */
        {"bea", 9, false, 20, 10}, /* 9 >= 7.5 */
        {"eve", 8, false, 20, 10}, /* 8 >= 7.5 */
        {"carl", 5, false, 10, 5}, /* own target 10: 5 >= 3.75 */
        {"dan", 9, true, 40, 20},  /* own target 40: 9 < 15 */
    };
    char suffix[128];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hset_str(&E, "rep_team", cases[i].rep, "t1");
        snprintf(suffix, sizeof suffix, "rep:day:2026-11-17:%s", cases[i].rep);
        hset_int(&E, suffix, "activity:visit", cases[i].visits - 1);
        snprintf(suffix, sizeof suffix, "rep:hour:2026-11-19T03:%s", cases[i].rep);
        hset_int(&E, suffix, "activity:visit", 1);
        /* after the clock: the hour in progress, the day and the week as a replay holds them */
        snprintf(suffix, sizeof suffix, "rep:hour:2026-11-19T04:%s", cases[i].rep);
        hset_int(&E, suffix, "activity:visit", 1000);
        snprintf(suffix, sizeof suffix, "rep:day:2026-11-19:%s", cases[i].rep);
        hset_int(&E, suffix, "activity:visit", 1001);
        snprintf(suffix, sizeof suffix, "rep:week:2026-W47:%s", cases[i].rep);
        hset_int(&E, suffix, "activity:visit", cases[i].visits + 1000);
        /* the weeks around it are not read */
        snprintf(suffix, sizeof suffix, "rep:week:2026-W46:%s", cases[i].rep);
        hset_int(&E, suffix, "activity:visit", 1000);
        snprintf(suffix, sizeof suffix, "rep:week:2026-W48:%s", cases[i].rep);
        hset_int(&E, suffix, "activity:visit", 1000);
    }
    sweep(&E, utc_ms(2026, 11, 19, 4, 0));
    long long firing = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const pace_case_t *c = &cases[i];
        char field[64], ffield[96];
        snprintf(field, sizeof field, "rep|%s", c->rep);
        snprintf(ffield, sizeof ffield, "visits-pace|rep|%s", c->rep);
        cJSON *j = firing_json(&E, ffield);
        if (!c->fires) {
            if (j != NULL) fail_msg("%s with %lld visits must not fire", c->rep, c->visits);
            assert_state(&E, "visits-pace", field, "ok");
            continue;
        }
        firing++;
        if (j == NULL) fail_msg("%s with %lld visits must fire", c->rep, c->visits);
        assert_state(&E, "visits-pace", field, "firing");
        assert_string_equal(jstr(j, "condition"), "target");
        assert_near(jnum(j, "value"), (double)c->visits, "value");
        assert_near(jnum(j, "target"), c->target, "target");
        assert_near(jnum(j, "expected"), c->expected, "expected");
        assert_string_equal(jstr(j, "window"), "week");
        cJSON_Delete(j);
    }
    assert_int_equal(xlen(&E), firing);
    ev_close(&E);
}

/* ---- 5. drift ---- */

static void test_drift_drop_fires_stable_does_not(void **state) {
    (void)state;
    ev_open(&E, "evt-drift", "Asia/Shanghai",
            "{\"rules\": [{\"name\": \"calls-drift\", \"kpi\": \"activity:call\","
            " \"scope\": \"rep\", \"window\": \"7d\", \"drift\": {\"baseline_days\": 28,"
            " \"max_change\": 0.3, \"z\": 2, \"direction\": \"down\"}}]}",
            "evt-a");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    hset_str(&E, "rep_team", "anna", "t1");
    hset_str(&E, "rep_team", "bea", "t1");
    /* clock 2026-11-22T16:30Z: the 7d window is 2026-11-15T16:00Z .. 2026-11-22T16:00Z, the
     * Shanghai days 11-16 .. 11-22; the baseline is the 28 days before 11-16: 10-19 .. 11-15.
     * Baseline days alternate 10 and 12 calls: 308 in all, 11 a day, population sd 1.
     * anna: 5 a day now -> value 5, change (5 - 11) / 11 = -0.5455, z = (5 - 11) / 1 = -6.
     * bea: 11 a day -> change 0, z 0: quiet. Day 10-18 (just before the baseline) holds 1000
     * calls for both: read by mistake, bea's baseline would jump and she would fire. */
    char day[16], suffix[128];
    const char *const reps[] = {"anna", "bea"};
    const long long now_per_day[] = {5, 11};
    for (int r = 0; r < 2; r++) {
        for (int d = 0; d < 28; d++) {
            date_plus(2026, 10, 19, d, day, sizeof day);
            snprintf(suffix, sizeof suffix, "rep:day:%s:%s", day, reps[r]);
            hset_int(&E, suffix, "activity:call", d % 2 == 0 ? 10 : 12);
        }
        for (int d = 0; d < 7; d++) {
            date_plus(2026, 11, 16, d, day, sizeof day);
            snprintf(suffix, sizeof suffix, "rep:day:%s:%s", day, reps[r]);
            hset_int(&E, suffix, "activity:call", now_per_day[r]);
        }
        snprintf(suffix, sizeof suffix, "rep:day:2026-10-18:%s", reps[r]);
        hset_int(&E, suffix, "activity:call", 1000);
    }
    sweep(&E, utc_ms(2026, 11, 22, 16, 30));

    assert_state(&E, "calls-drift", "rep|anna", "firing");
    assert_state(&E, "calls-drift", "rep|bea", "ok");
    assert_null(firing_json(&E, "calls-drift|rep|bea"));
    assert_int_equal(xlen(&E), 1);
    cJSON *j = firing_json(&E, "calls-drift|rep|anna");
    assert_non_null(j);
    assert_string_equal(jstr(j, "condition"), "drift");
    assert_near(jnum(j, "value"), 5, "value (per day)");
    assert_near(jnum(j, "baseline"), 11, "baseline (per day)");
    assert_near(jnum(j, "change"), -0.5455, "change");
    assert_near(jnum(j, "z"), -6, "z");
    assert_near(jnum(j, "samples"), 35, "samples");
    assert_near(jnum(j, "baseline_samples"), 308, "baseline_samples");
    cJSON_Delete(j);
    ev_close(&E);
}

/* ---- 6. stalled deals ---- */

typedef struct {
    const char *id;
    const char *rep;
    int64_t neg_ago_ms; /* reached negotiation this long before the clock */
    int end; /* 0 open, 1 won a day later, 2 lost at negotiation, 3 won an hour after the clock */
} deal_case_t;

static void put_deal(const ev_t *e, const deal_case_t *c, int64_t clock) {
    fd_deal_t deal;
    fd_deal_init(&deal);
    fd_owner_t ow = {.rep = c->rep, .team = "t1"};
    fd_effect_t fx[FD_MAX_EFFECTS];
    size_t n;
    int64_t at = clock - c->neg_ago_ms;
    assert_int_equal(
        fd_funnel_apply(W.fn, &deal, FD_DEAL_CREATED, -1, at - 10 * DAY_MS, &ow, -1, fx, &n),
        FD_OK);
    assert_int_equal(fd_funnel_apply(W.fn, &deal, FD_DEAL_STAGE_CHANGED, 3, at, &ow, -1, fx, &n),
                     FD_OK);
    if (c->end == 1)
        assert_int_equal(
            fd_funnel_apply(W.fn, &deal, FD_DEAL_WON, -1, at + DAY_MS, &ow, 100000, fx, &n), FD_OK);
    if (c->end == 2)
        assert_int_equal(
            fd_funnel_apply(W.fn, &deal, FD_DEAL_LOST, 3, at + DAY_MS, &ow, -1, fx, &n), FD_OK);
    if (c->end == 3)
        assert_int_equal(
            fd_funnel_apply(W.fn, &deal, FD_DEAL_WON, -1, clock + HOUR_MS, &ow, 100000, fx, &n),
            FD_OK);
    char buf[1024], key[256];
    size_t len = fd_deal_encode(W.fn, &deal, buf, sizeof buf);
    assert_true(len < sizeof buf);
    snprintf(key, sizeof key, "%s:deal:%s", e->prefix, c->id);
    freeReplyObject(cmd("SET %s %b", key, buf, len));
    fd_deal_clear(&deal);
}

static void test_stalled_deals_counted_from_deal_states(void **state) {
    (void)state;
    ev_open(&E, "evt-stall", "UTC",
            "{\"rules\": ["
            "{\"name\": \"neg-stalled\", \"kpi\": \"stalled:negotiation\", \"scope\": \"rep\","
            " \"stalled_after\": \"21d\", \"threshold\": {\"op\": \">=\", \"value\": 1}},"
            "{\"name\": \"neg-stalled-2\", \"kpi\": \"stalled:negotiation\", \"scope\": \"rep\","
            " \"stalled_after\": \"21d\", \"threshold\": {\"op\": \">=\", \"value\": 2}}]}",
            "evt-a");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    hset_str(&E, "rep_team", "anna", "t1");
    hset_str(&E, "rep_team", "bea", "t1");
    hset_str(&E, "rep_team", "carl", "t1");
    const int64_t clock = utc_ms(2026, 11, 22, 10, 0);
    static const deal_case_t deals[] = {
        {"d-stuck", "anna", 30 * DAY_MS, 0}, /* open in negotiation for 30 days: stalled */
        {"d-won", "anna", 30 * DAY_MS, 1},   /* won since: not open */
        {"d-lost", "anna", 30 * DAY_MS, 2},  /* lost at negotiation: not open */
        {"d-recent", "anna", 5 * DAY_MS, 0}, /* 5 days: not yet */
        {"d-20d", "anna", 20 * DAY_MS, 0},   /* 20 days: not yet */
        {"d-bea", "bea", 5 * DAY_MS, 0},     /* recent */
        /* won an hour after the clock (a replay already holds it): at the clock it was open in
         * negotiation for 25 days, and live it counted then */
        {"d-bea-later", "bea", 25 * DAY_MS, 3},
        /* carl's deal reached negotiation only after the clock: as of the clock it sits in
         * lead, where no rule looks */
        {"d-carl-future", "carl", -HOUR_MS, 0},
    };
    for (size_t i = 0; i < sizeof deals / sizeof *deals; i++)
        put_deal(&E, &deals[i], clock);
    char key[256];
    snprintf(key, sizeof key, "%s:deal:d-garbage", E.prefix);
    freeReplyObject(cmd("SET %s %s", key, "not a deal")); /* skipped with a warning */
    sweep(&E, clock);

    assert_state(&E, "neg-stalled", "rep|anna", "firing");
    assert_state(&E, "neg-stalled", "rep|bea", "firing");
    assert_state(&E, "neg-stalled", "rep|carl", "ok");
    assert_state(&E, "neg-stalled-2", "rep|anna", "ok"); /* exactly one deal counts */
    assert_state(&E, "neg-stalled-2", "rep|bea", "ok");
    assert_int_equal(xlen(&E), 2);
    cJSON *j = firing_json(&E, "neg-stalled|rep|anna");
    assert_non_null(j);
    assert_near(jnum(j, "value"), 1, "value");
    assert_string_equal(jstr(j, "kpi"), "stalled:negotiation");
    assert_string_equal(jstr(j, "stage"), "negotiation");
    assert_string_equal(jstr(j, "window"), "now");
    cJSON_Delete(j);
    ev_close(&E);
}

/* ---- 7. team and org scopes ---- */

static void test_team_and_org_scopes(void **state) {
    (void)state;
    ev_open(&E, "evt-scope", "UTC",
            "{\"managers\": {\"t1\": \"Tina Boss\", \"t2\": \"Tom Boss\"}, \"rules\": ["
            "{\"name\": \"team-calls-low\", \"kpi\": \"activity:call\", \"scope\": \"team\","
            " \"window\": \"day\", \"threshold\": {\"op\": \"<\", \"value\": 5}},"
            "{\"name\": \"org-calls-high\", \"kpi\": \"activity:call\", \"scope\": \"org\","
            " \"window\": \"day\", \"threshold\": {\"op\": \">=\", \"value\": 100}}]}",
            "evt-a");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    hset_str(&E, "rep_team", "anna", "t1"); /* t1 known from rep_team */
    hset_str(&E, "rep_team", "bob", "t3");  /* t3: no manager */
    hset_int(&E, "team:all:t2", "events", 1);
    /* the day 2026-11-22 as of 10:00: its hours 00..09 */
    hset_int(&E, "team:hour:2026-11-22T05:t1", "activity:call", 2);
    hset_int(&E, "team:hour:2026-11-22T00:t2", "activity:call", 6);
    hset_int(&E, "team:hour:2026-11-22T09:t2", "activity:call", 4);
    hset_int(&E, "team:hour:2026-11-22T03:t3", "activity:call", 1);
    hset_int(&E, "team:day:2026-11-21:t2", "activity:call", 0);
    hset_int(&E, "org:hour:2026-11-22T08", "activity:call", 150);
    hset_int(&E, "org:hour:2026-11-21T23", "activity:call", 3);      /* another day: not read */
    hset_int(&E, "team:hour:2026-11-22T10:t1", "activity:call", 50); /* in progress: not read */
    hset_int(&E, "org:day:2026-11-22", "activity:call", 7);          /* the day's hash: not read */
    sweep(&E, utc_ms(2026, 11, 22, 10, 0));

    assert_state(&E, "team-calls-low", "team|t1", "firing");
    assert_state(&E, "team-calls-low", "team|t2", "ok");
    assert_state(&E, "team-calls-low", "team|t3", "firing");
    assert_state(&E, "org-calls-high", "org|", "firing");
    assert_int_equal(xlen(&E), 3);

    cJSON *j = firing_json(&E, "team-calls-low|team|t1");
    assert_non_null(j);
    assert_string_equal(jstr(j, "scope"), "team");
    assert_string_equal(jstr(j, "scope_id"), "t1");
    assert_string_equal(jstr(j, "team"), "t1");
    assert_string_equal(jstr(j, "manager"), "Tina Boss");
    assert_near(jnum(j, "value"), 2, "t1 value");
    cJSON_Delete(j);

    j = firing_json(&E, "team-calls-low|team|t3");
    assert_non_null(j);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "manager")));
    assert_near(jnum(j, "value"), 1, "t3 value");
    cJSON_Delete(j);
    assert_null(firing_json(&E, "team-calls-low|team|t2"));

    j = firing_json(&E, "org-calls-high|org|");
    assert_non_null(j);
    assert_string_equal(jstr(j, "scope"), "org");
    assert_string_equal(jstr(j, "scope_id"), "");
    assert_string_equal(jstr(j, "team"), "");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "manager")));
    assert_near(jnum(j, "value"), 150, "org value");
    cJSON_Delete(j);
    ev_close(&E);
}

/* ---- 8. the lease ---- */

static int by_str(const void *a, const void *b) {
    return strcmp((*(redisReply *const *)a)->str, (*(redisReply *const *)b)->str);
}

/* Everything under the prefix, as one comparable text: key names, state hash, stream length. */
static char *snapshot(const ev_t *e) {
    char pattern[64], key[128];
    snprintf(pattern, sizeof pattern, "%s:*", e->prefix);
    redisReply *r = cmd("KEYS %s", pattern);
    size_t cap = 4096, len = 0;
    char *buf = calloc(1, cap);
    assert_non_null(buf);
    qsort(r->element, r->elements, sizeof *r->element, by_str); /* KEYS has no order */
    for (size_t i = 0; i < r->elements; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s;", r->element[i]->str);
    freeReplyObject(r);
    snprintf(key, sizeof key, "%s:alerts:state:calls-low", e->prefix);
    r = cmd("HGETALL %s", key);
    for (size_t i = 0; i < r->elements; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s;", r->element[i]->str);
    freeReplyObject(r);
    snprintf(key, sizeof key, "%s:alerts:firing", e->prefix);
    r = cmd("HLEN %s", key);
    len += (size_t)snprintf(buf + len, cap - len, "firing=%lld;", r->integer);
    freeReplyObject(r);
    snprintf(key, sizeof key, "%s:alerts:outbox", e->prefix);
    r = cmd("HLEN %s", key);
    len += (size_t)snprintf(buf + len, cap - len, "outbox=%lld;", r->integer);
    freeReplyObject(r);
    snprintf(key, sizeof key, "%s:clock", e->prefix);
    r = cmd("HGETALL %s", key);
    for (size_t i = 0; i < r->elements; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s;", r->element[i]->str);
    freeReplyObject(r);
    snprintf(key, sizeof key, "%s:alerts:lease", e->prefix);
    r = cmd("GET %s", key);
    len += (size_t)snprintf(buf + len, cap - len, "lease=%s;xlen=%lld",
                            r->type == REDIS_REPLY_STRING ? r->str : "(none)", xlen(e));
    freeReplyObject(r);
    return buf;
}

static void test_second_instance_is_fenced_and_writes_nothing(void **state) {
    (void)state;
    ev_open(&E, "evt-lease", "UTC",
            "{\"rules\": [{\"name\": \"calls-low\", \"kpi\": \"activity:call\", \"scope\": \"rep\","
            " \"window\": \"24h\", \"threshold\": {\"op\": \"<\", \"value\": 5}}]}",
            "evt-a");
    ev_open_peer(&E2, &E, "evt-b");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    hset_str(&E, "rep_team", "anna", "t1");
    hset_int(&E, "rep:hour:2026-11-22T09:anna", "activity:call", 10);
    const int64_t t = utc_ms(2026, 11, 22, 10, 0);

    sweep(&E, t); /* A takes the lease; anna is healthy */
    assert_state(&E, "calls-low", "rep|anna", "ok");
    char lease[128];
    snprintf(lease, sizeof lease, "%s:alerts:lease", E.prefix);
    redisReply *r = cmd("GET %s", lease);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_true(strncmp(r->str, "evt-a:", 6) == 0);
    freeReplyObject(r);

    /* a day later anna is silent: whoever evaluates would fire */
    char *before = snapshot(&E);
    assert_int_equal(fd_alerts_sweep(E2.al, t + DAY_MS), FD_ERR_FENCED);
    fd_alerts_stats_t st;
    fd_alerts_stats(E2.al, &st);
    assert_false(st.leader);
    assert_int_equal(st.sweeps, 0);
    assert_int_equal(st.evaluations, 0);
    char *after = snapshot(&E);
    assert_string_equal(after, before);
    free(before);
    free(after);

    /* the holder goes on */
    sweep(&E, t + DAY_MS);
    assert_state(&E, "calls-low", "rep|anna", "firing");
    assert_int_equal(xlen(&E), 1);
    ev_close(&E2);
    ev_close(&E);
}

/* ---- 9. malformed states ---- */

typedef struct {
    const char *rep;
    const char *stored;
    long long calls;
    const char *after; /* state name after the sweep */
} bad_state_case_t;

static void test_malformed_state_read_as_ok(void **state) {
    (void)state;
    ev_open(&E, "evt-bad", "UTC",
            "{\"rules\": [{\"name\": \"calls-low\", \"kpi\": \"activity:call\", \"scope\": \"rep\","
            " \"window\": \"24h\", \"threshold\": {\"op\": \"<\", \"value\": 5}}]}",
            "evt-a");
    set_clock(&E, utc_ms(2026, 1, 1, 0, 0), 0);
    static const bad_state_case_t cases[] = {
        {"anna", "garbage", 0, "firing"},
        {"bob", "a1 firing", 0, "firing"},
        {"carl", "a1 bogus 1 2 3 4 5", 0, "firing"},
        {"dan", "", 0, "firing"},
        {"eve", "a1 firing 1 0 1 0 0 trailing junk", 0, "firing"},
        {"bea", "x", 10, NULL}, /* healthy: nothing to write, the bad text stays */
    };
    char suffix[128];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hset_str(&E, "rep_team", cases[i].rep, "t1");
        char field[64];
        snprintf(field, sizeof field, "rep|%s", cases[i].rep);
        hset_str(&E, "alerts:state:calls-low", field, cases[i].stored);
        if (cases[i].calls) {
            snprintf(suffix, sizeof suffix, "rep:hour:2026-11-22T09:%s", cases[i].rep);
            hset_int(&E, suffix, "activity:call", cases[i].calls);
        }
    }
    sweep(&E, utc_ms(2026, 11, 22, 10, 0));
    long long fired = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char field[64], ffield[96];
        snprintf(field, sizeof field, "rep|%s", cases[i].rep);
        snprintf(ffield, sizeof ffield, "calls-low|rep|%s", cases[i].rep);
        if (cases[i].after == NULL) {
            char *s = state_of(&E, "calls-low", field);
            assert_non_null(s);
            assert_string_equal(s, cases[i].stored);
            free(s);
            assert_null(firing_json(&E, ffield));
            continue;
        }
        /* read as ok, then the condition fires: a new episode, notified */
        assert_state(&E, "calls-low", field, cases[i].after);
        cJSON *j = firing_json(&E, ffield);
        if (j == NULL)
            fail_msg("%s (state \"%s\"): no firing alert", cases[i].rep, cases[i].stored);
        cJSON_Delete(j);
        fired++;
    }
    assert_int_equal(xlen(&E), fired);
    ev_close(&E);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rolling_sums_whole_local_day_and_hours_shanghai,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_rolling_uses_hours_only_for_half_hour_offset_kolkata,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_for_then_resolve_for_one_episode, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_incomplete_window_never_fires, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_assigned_partition_holds_the_watermark, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_unassigned_partition_of_the_topic_holds_the_watermark,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_drift_with_filter_uses_its_baseline_days, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_never_runs_behind_a_touched_evaluation,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_firing_alert_resolves_when_its_rule_no_longer_applies,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_rep_routing_follows_rep_team_not_a_teamless_event,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_score_and_grade_kpis_read_the_scorecard, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_target_from_targets_file, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_revoked_partition_hold_is_not_written_later,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_target_pace_on_calendar_week, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_drift_drop_fires_stable_does_not, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_stalled_deals_counted_from_deal_states, test_setup,
                                        test_teardown),
        cmocka_unit_test_setup_teardown(test_team_and_org_scopes, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_second_instance_is_fenced_and_writes_nothing,
                                        test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_state_read_as_ok, test_setup, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
