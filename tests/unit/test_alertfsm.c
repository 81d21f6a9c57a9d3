// SPDX-License-Identifier: MIT
// Unit tests of the alert lifecycle (ok, pending, firing, resolved; for, resolve_for, repeats,
// a backwards clock) and of its text codec; sequences are written out by hand from
// docs/alerts.md.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alerting/alertfsm.h"

#define T0  INT64_C(1763805600000) /* 2025-11-22T10:00:00Z */
#define MIN INT64_C(60000)

enum { OK = FD_ALERT_OK, PEND = FD_ALERT_PENDING, FIRE = FD_ALERT_FIRING, RES = FD_ALERT_RESOLVED };
enum {
    NONE = FD_ALERT_EMIT_NONE,
    E_FIRING = FD_ALERT_EMIT_FIRING,
    E_REPEAT = FD_ALERT_EMIT_REPEAT,
    E_RESOLVED = FD_ALERT_EMIT_RESOLVED
};

/* One evaluation and what must follow. */
typedef struct {
    bool fire, clear;
    int64_t at; /* minutes after T0 */
    int emit;
    int state;
    int64_t since; /* minutes after T0, or -1 for 0 */
} step_t;

typedef struct {
    const char *name;
    int64_t for_min, resolve_min, repeat_min;
    step_t steps[10];
    size_t n;
} seq_t;

#define AT(m) ((m) < 0 ? 0 : T0 + (m)*MIN)

static void run_seq(const seq_t *s) {
    fd_alertfsm_t st = {0};
    for (size_t i = 0; i < s->n; i++) {
        const step_t *p = &s->steps[i];
        fd_alert_emit_t e = fd_alertfsm_step(&st, p->fire, p->clear, AT(p->at), s->for_min * MIN,
                                             s->resolve_min * MIN, s->repeat_min * MIN);
        if ((int)e != p->emit || (int)st.state != p->state || st.since_ms != AT(p->since))
            fail_msg("%s, step %zu: emit %d state %s since %lld", s->name, i, (int)e,
                     fd_alertfsm_state_name(st.state), (long long)st.since_ms);
    }
}

/* fire, clear, minute, emit, state, since */
static const seq_t seqs[] = {
    {"for=0 fires at once and resolves at once",
     0,
     0,
     0,
     {{false, true, 0, NONE, OK, -1},
      {true, false, 1, E_FIRING, FIRE, 1},
      {true, false, 2, NONE, FIRE, 1},
      {false, true, 3, E_RESOLVED, RES, 1},
      {false, true, 4, NONE, OK, -1}},
     5},
    {"for waits in pending, then fires with started_at = now",
     10,
     0,
     0,
     {{true, false, 0, NONE, PEND, 0},
      {true, false, 9, NONE, PEND, 0},
      {true, false, 10, E_FIRING, FIRE, 10},
      {true, false, 11, NONE, FIRE, 10}},
     4},
    {"pending goes back to ok when the condition stops holding",
     10,
     0,
     0,
     {{true, false, 0, NONE, PEND, 0},
      {false, false, 5, NONE, OK, -1},
      {true, false, 6, NONE, PEND, 6},
      {true, false, 15, NONE, PEND, 6},
      {true, false, 16, E_FIRING, FIRE, 16}},
     5},
    {"resolve_for needs healthy values held that long",
     0,
     30,
     0,
     {{true, false, 0, E_FIRING, FIRE, 0},
      {false, true, 10, NONE, FIRE, 0},
      {false, true, 39, NONE, FIRE, 0},
      {false, true, 40, E_RESOLVED, RES, 0}},
     4},
    {"an unhealthy value restarts the healthy clock",
     0,
     30,
     0,
     {{true, false, 0, E_FIRING, FIRE, 0},
      {false, true, 10, NONE, FIRE, 0},
      {false, false, 20, NONE, FIRE, 0}, /* inside the band */
      {false, true, 25, NONE, FIRE, 0},
      {false, true, 50, NONE, FIRE, 0},
      {false, true, 55, E_RESOLVED, RES, 0}},
     6},
    {"repeats every repeat_every while firing and not clear",
     0,
     0,
     60,
     {{true, false, 0, E_FIRING, FIRE, 0},
      {true, false, 59, NONE, FIRE, 0},
      {true, false, 60, E_REPEAT, FIRE, 0},
      {true, false, 100, NONE, FIRE, 0},
      {true, false, 125, E_REPEAT, FIRE, 0},
      {false, true, 130, E_RESOLVED, RES, 0}},
     6},
    {"no repeat while the healthy clock runs",
     0,
     30,
     10,
     {{true, false, 0, E_FIRING, FIRE, 0},
      {false, true, 5, NONE, FIRE, 0},
      {false, true, 20, NONE, FIRE, 0},
      {false, true, 35, E_RESOLVED, RES, 0}},
     4},
    {"resolved then firing again starts a new episode",
     0,
     0,
     0,
     {{true, false, 0, E_FIRING, FIRE, 0},
      {false, true, 5, E_RESOLVED, RES, 0},
      {true, false, 6, E_FIRING, FIRE, 6}},
     3},
    {"resolved then firing again with for goes through pending",
     5,
     0,
     0,
     {{true, false, 0, NONE, PEND, 0},
      {true, false, 5, E_FIRING, FIRE, 5},
      {false, true, 7, E_RESOLVED, RES, 5},
      {true, false, 8, NONE, PEND, 8},
      {true, false, 13, E_FIRING, FIRE, 13}},
     5},
    {"a backwards clock counts as no time passed in pending",
     10,
     0,
     0,
     {{true, false, 100, NONE, PEND, 100},
      {true, false, 50, NONE, PEND, 100},
      {true, false, 109, NONE, PEND, 100},
      {true, false, 110, E_FIRING, FIRE, 110}},
     4},
    {"a backwards clock neither repeats nor resolves early",
     0,
     30,
     60,
     {{true, false, 100, E_FIRING, FIRE, 100},
      {true, false, 20, NONE, FIRE, 100},
      {false, true, 130, NONE, FIRE, 100},
      {false, true, 90, NONE, FIRE, 100},
      {false, true, 159, NONE, FIRE, 100},
      {false, true, 160, E_RESOLVED, RES, 100}},
     6},
    {"ok without fire stays ok whatever clear says",
     0,
     0,
     0,
     {{false, false, 0, NONE, OK, -1}, {false, true, 1, NONE, OK, -1}},
     2},
};

static void test_fsm_sequences(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++)
        run_seq(&seqs[i]);
}

static void test_fsm_firing_records_notified_and_resets_repeats(void **state) {
    (void)state;
    fd_alertfsm_t st = {0};
    assert_int_equal(fd_alertfsm_step(&st, true, false, T0, 0, 0, MIN), E_FIRING);
    assert_int_equal(st.notified_ms, T0);
    assert_int_equal(st.repeats, 0);
    assert_int_equal(fd_alertfsm_step(&st, true, false, T0 + MIN, 0, 0, MIN), E_REPEAT);
    assert_int_equal(fd_alertfsm_step(&st, true, false, T0 + 2 * MIN, 0, 0, MIN), E_REPEAT);
    assert_int_equal(st.repeats, 2);
    assert_int_equal(st.notified_ms, T0 + 2 * MIN);
    assert_int_equal(fd_alertfsm_step(&st, false, true, T0 + 3 * MIN, 0, 0, MIN), E_RESOLVED);
    assert_int_equal(st.resolved_ms, T0 + 3 * MIN);
    assert_int_equal(st.repeats, 2); /* kept for the resolved notification */
    assert_int_equal(fd_alertfsm_step(&st, true, false, T0 + 4 * MIN, 0, 0, MIN), E_FIRING);
    assert_int_equal(st.repeats, 0);
    assert_int_equal(st.resolved_ms, 0);
    assert_int_equal(st.since_ms, T0 + 4 * MIN);
}

static void test_fsm_clear_since_tracks_the_healthy_run(void **state) {
    (void)state;
    fd_alertfsm_t st = {0};
    fd_alertfsm_step(&st, true, false, T0, 0, 10 * MIN, 0);
    assert_int_equal(st.clear_since_ms, 0);
    fd_alertfsm_step(&st, false, true, T0 + MIN, 0, 10 * MIN, 0);
    assert_int_equal(st.clear_since_ms, T0 + MIN);
    fd_alertfsm_step(&st, false, true, T0 + 2 * MIN, 0, 10 * MIN, 0);
    assert_int_equal(st.clear_since_ms, T0 + MIN);
    fd_alertfsm_step(&st, false, false, T0 + 3 * MIN, 0, 10 * MIN, 0);
    assert_int_equal(st.clear_since_ms, 0);
}

static void test_fsm_state_names(void **state) {
    (void)state;
    assert_string_equal(fd_alertfsm_state_name(FD_ALERT_OK), "ok");
    assert_string_equal(fd_alertfsm_state_name(FD_ALERT_PENDING), "pending");
    assert_string_equal(fd_alertfsm_state_name(FD_ALERT_FIRING), "firing");
    assert_string_equal(fd_alertfsm_state_name(FD_ALERT_RESOLVED), "resolved");
    assert_string_equal(fd_alertfsm_state_name(FD_ALERT_STATE_COUNT), "unknown");
}

/* ---------------------------------------------------------------------------------------------
 * Codec */

static void test_codec_encodes_the_documented_text(void **state) {
    (void)state;
    fd_alertfsm_t st = {.state = FD_ALERT_FIRING,
                        .since_ms = 1764000000000,
                        .clear_since_ms = 0,
                        .notified_ms = 1764000000000,
                        .resolved_ms = 0,
                        .repeats = 0};
    char buf[FD_ALERTFSM_TEXT_MAX];
    fd_alertfsm_encode(&st, buf, sizeof buf);
    assert_string_equal(buf, "a1 firing 1764000000000 0 1764000000000 0 0");
    fd_alertfsm_t zero = {0};
    fd_alertfsm_encode(&zero, buf, sizeof buf);
    assert_string_equal(buf, "a1 ok 0 0 0 0 0");
}

static void test_codec_round_trips_every_state_and_extremes(void **state) {
    (void)state;
    const fd_alertfsm_t cases[] = {
        {FD_ALERT_OK, 0, 0, 0, 0, 0},
        {FD_ALERT_PENDING, T0, 0, 0, 0, 0},
        {FD_ALERT_FIRING, T0, T0 + 5, T0 + 7, 0, 3},
        {FD_ALERT_RESOLVED, T0, 0, T0 + 7, T0 + 9, UINT32_MAX},
        {FD_ALERT_FIRING, INT64_MAX, INT64_MIN + 1, -1, INT64_MAX, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[FD_ALERTFSM_TEXT_MAX];
        fd_alertfsm_encode(&cases[i], buf, sizeof buf);
        assert_true(strlen(buf) < FD_ALERTFSM_TEXT_MAX);
        fd_alertfsm_t back;
        memset(&back, 0xab, sizeof back);
        assert_int_equal(fd_alertfsm_decode(buf, strlen(buf), &back), FD_OK);
        assert_int_equal(back.state, cases[i].state);
        assert_int_equal(back.since_ms, cases[i].since_ms);
        assert_int_equal(back.clear_since_ms, cases[i].clear_since_ms);
        assert_int_equal(back.notified_ms, cases[i].notified_ms);
        assert_int_equal(back.resolved_ms, cases[i].resolved_ms);
        assert_int_equal(back.repeats, cases[i].repeats);
    }
}

static void test_codec_decodes_only_len_bytes(void **state) {
    (void)state;
    const char *s = "a1 pending 5 0 0 0 0GARBAGE";
    fd_alertfsm_t st;
    assert_int_equal(fd_alertfsm_decode(s, strlen("a1 pending 5 0 0 0 0"), &st), FD_OK);
    assert_int_equal(st.state, FD_ALERT_PENDING);
    assert_int_equal(st.since_ms, 5);
}

static void test_codec_rejects_malformed_text_and_leaves_state(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "a1",
        "a2 ok 0 0 0 0 0",
        "a1 fine 0 0 0 0 0",
        "a1 ok 0 0 0 0",
        "a1 ok 0 0 0 0 0 0",
        "a1 ok 0 0 0 0 0 ",
        "a1  ok 0 0 0 0 0",
        "a1 ok 0  0 0 0 0",
        "a1 ok x 0 0 0 0",
        "a1 ok 1.5 0 0 0 0",
        "a1 ok 01 0 0 0 0",
        "a1 ok - 0 0 0 0",
        "a1 ok 9223372036854775808 0 0 0 0",
        "a1 ok 99999999999999999999 0 0 0 0",
        "a1 ok 0 0 0 0 -1",
        "a1 ok 0 0 0 0 4294967296",
        "A1 ok 0 0 0 0 0",
        "a1 OK 0 0 0 0 0",
        "a1 firing\t0 0 0 0 0",
        "a1 okay 0 0 0 0 0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fd_alertfsm_t st = {FD_ALERT_FIRING, 7, 8, 9, 10, 11};
        if (fd_alertfsm_decode(bad[i], strlen(bad[i]), &st) != FD_ERR_PARSE)
            fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(st.state, FD_ALERT_FIRING);
        assert_int_equal(st.since_ms, 7);
        assert_int_equal(st.repeats, 11);
    }
    fd_alertfsm_t st;
    assert_int_equal(fd_alertfsm_decode(NULL, 0, &st), FD_ERR_PARSE);
}

static void test_codec_encode_truncates_to_the_buffer(void **state) {
    (void)state;
    fd_alertfsm_t st = {.state = FD_ALERT_FIRING, .since_ms = T0};
    char small[8];
    fd_alertfsm_encode(&st, small, sizeof small);
    assert_string_equal(small, "a1 firi");
}

/* Storing the state in Redis between evaluations changes nothing: each step is taken once on the
 * live state and once on the state decoded from its text, with the same outcome. */
static void test_codec_round_trip_between_steps_keeps_behaviour(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof seqs / sizeof seqs[0]; k++) {
        const seq_t *s = &seqs[k];
        fd_alertfsm_t live = {0}, stored = {0};
        for (size_t i = 0; i < s->n; i++) {
            const step_t *p = &s->steps[i];
            char text[FD_ALERTFSM_TEXT_MAX];
            fd_alertfsm_encode(&stored, text, sizeof text);
            assert_int_equal(fd_alertfsm_decode(text, strlen(text), &stored), FD_OK);
            fd_alert_emit_t a =
                fd_alertfsm_step(&live, p->fire, p->clear, AT(p->at), s->for_min * MIN,
                                 s->resolve_min * MIN, s->repeat_min * MIN);
            fd_alert_emit_t b =
                fd_alertfsm_step(&stored, p->fire, p->clear, AT(p->at), s->for_min * MIN,
                                 s->resolve_min * MIN, s->repeat_min * MIN);
            assert_int_equal(a, b);
            assert_memory_equal(&live, &stored, sizeof live);
        }
    }
}

static void test_fsm_resolved_state_keeps_the_episode_for_its_notification(void **state) {
    (void)state;
    fd_alertfsm_t st = {0};
    fd_alertfsm_step(&st, true, false, T0, 0, 0, 0);
    assert_int_equal(fd_alertfsm_step(&st, false, true, T0 + MIN, 0, 0, 0), E_RESOLVED);
    assert_int_equal(st.state, FD_ALERT_RESOLVED);
    assert_int_equal(st.since_ms, T0); /* started_at of the episode */
    assert_int_equal(st.resolved_ms, T0 + MIN);
    assert_int_equal(st.clear_since_ms, 0);
}

/* Fire, resolve and fire again at one clock (a held watermark, for = resolve_for = 0): the second
 * episode starts after the first ended, so its started_at (and the ids made from it) differ,
 * also when an ok step came between. */
static void test_fsm_second_episode_at_the_same_clock_starts_after_the_first(void **state) {
    (void)state;
    fd_alertfsm_t st = {0};
    assert_int_equal(fd_alertfsm_step(&st, true, false, T0, 0, 0, 0), E_FIRING);
    assert_int_equal(fd_alertfsm_step(&st, false, true, T0, 0, 0, 0), E_RESOLVED);
    assert_int_equal(fd_alertfsm_step(&st, true, false, T0, 0, 0, 0), E_FIRING);
    assert_int_equal(st.since_ms, T0 + 1);
    assert_int_equal(fd_alertfsm_step(&st, false, true, T0 + 1, 0, 0, 0), E_RESOLVED);
    assert_int_equal(fd_alertfsm_step(&st, false, true, T0 + 1, 0, 0, 0), NONE); /* ok */
    assert_int_equal(st.state, FD_ALERT_OK);
    assert_int_equal(fd_alertfsm_step(&st, true, false, T0 + 1, 0, 0, 0), E_FIRING);
    assert_int_equal(st.since_ms, T0 + 2);
    /* later clocks start at the clock itself */
    fd_alertfsm_step(&st, false, true, T0 + MIN, 0, 0, 0);
    assert_int_equal(fd_alertfsm_step(&st, true, false, T0 + 2 * MIN, 0, 0, 0), E_FIRING);
    assert_int_equal(st.since_ms, T0 + 2 * MIN);
}

#define T(f) cmocka_unit_test(f)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_fsm_sequences),
        T(test_fsm_firing_records_notified_and_resets_repeats),
        T(test_fsm_clear_since_tracks_the_healthy_run),
        T(test_fsm_state_names),
        T(test_codec_encodes_the_documented_text),
        T(test_codec_round_trips_every_state_and_extremes),
        T(test_codec_decodes_only_len_bytes),
        T(test_codec_rejects_malformed_text_and_leaves_state),
        T(test_codec_encode_truncates_to_the_buffer),
        T(test_codec_round_trip_between_steps_keeps_behaviour),
        T(test_fsm_resolved_state_keeps_the_episode_for_its_notification),
        T(test_fsm_second_episode_at_the_same_clock_starts_after_the_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
