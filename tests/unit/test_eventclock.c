// SPDX-License-Identifier: MIT
// Unit tests of the alert event clock: the watermark read back from the clock hash (idle
// partitions, every partition idle, the skew cap), the clock of the next evaluation (never
// backwards, catching up hour by hour, a given clock) and the partition bookkeeping of batches
// and holds; expectations worked out by hand from docs/alerts.md.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alerting/eventclock.h"

#define NOW  INT64_C(1795343400000) /* 2026-11-22T10:30:00Z */
#define MIN  INT64_C(60000)
#define HOUR (60 * MIN)

static void test_watermark_is_the_least_active_partition(void **state) {
    (void)state;
    fd_clock_field_t f[] = {
        {"first_ms", NOW - 10 * HOUR}, {"event_ms", NOW - HOUR}, {"evaluated_ms", NOW - 3 * HOUR},
        {"p:crm:0", NOW - HOUR},       {"s:crm:0", NOW - MIN},   {"p:crm:1", NOW - 2 * HOUR},
        {"s:crm:1", NOW - 4 * MIN},
    };
    fd_clock_reading_t r;
    fd_eventclock_read(f, sizeof f / sizeof f[0], NOW, NOW, &r);
    assert_int_equal(r.clock_ms, NOW - 2 * HOUR);
    assert_int_equal(r.first_ms, NOW - 10 * HOUR);
    assert_int_equal(r.evaluated_ms, NOW - 3 * HOUR);
}

static void test_watermark_ignores_a_partition_idle_past_five_minutes(void **state) {
    (void)state;
    fd_clock_field_t f[] = {
        {"p:crm:0", NOW - HOUR},
        {"s:crm:0", NOW - MIN},
        {"p:crm:1", NOW - 2 * HOUR},
        {"s:crm:1", NOW - 5 * MIN - 1},
    };
    fd_clock_reading_t r;
    fd_eventclock_read(f, 4, NOW, NOW, &r);
    assert_int_equal(r.clock_ms, NOW - HOUR);
    assert_int_equal(r.first_ms, INT64_MAX);
    assert_int_equal(r.evaluated_ms, 0);
}

static void test_watermark_of_a_stopped_stream_is_the_latest_event(void **state) {
    (void)state;
    fd_clock_field_t f[] = {
        {"event_ms", NOW - 30 * MIN},
        {"p:crm:0", NOW - HOUR},
        {"s:crm:0", NOW - HOUR},
    };
    fd_clock_reading_t r;
    fd_eventclock_read(f, 3, NOW, NOW, &r);
    assert_int_equal(r.clock_ms, NOW - 30 * MIN);
}

static void test_watermark_never_runs_past_wall_time_plus_skew(void **state) {
    (void)state;
    fd_clock_field_t f[] = {{"p:crm:0", NOW + HOUR}, {"s:crm:0", NOW}};
    fd_clock_reading_t r;
    fd_eventclock_read(f, 2, NOW, NOW, &r);
    assert_int_equal(r.clock_ms, NOW + 5 * MIN);
}

static void test_step_never_runs_backwards_and_is_on_the_hour(void **state) {
    (void)state;
    int64_t clock = 0;
    bool catching = true;
    fd_clock_step_t in = {.sweep = true,
                          .read_ms = NOW - HOUR,
                          .evaluated_ms = NOW - 30 * MIN,
                          .first_ms = INT64_MAX};
    /* the watermark 09:30 is behind the last sweep 10:00: the clock stays at 10:00 */
    assert_true(fd_eventclock_step(&in, &clock, &catching));
    assert_int_equal(clock, NOW - 30 * MIN);
    assert_false(catching);
    in.max_clock_ms = NOW + 30 * MIN; /* touched scopes went further: 11:00 */
    assert_true(fd_eventclock_step(&in, &clock, &catching));
    assert_int_equal(clock, NOW + 30 * MIN);
    /* a watermark inside an hour evaluates at the start of that hour (windows end there) */
    in.max_clock_ms = 0;
    in.read_ms = NOW + 50 * MIN; /* 11:20 */
    assert_true(fd_eventclock_step(&in, &clock, &catching));
    assert_int_equal(clock, NOW + 30 * MIN);
}

static void test_step_catches_up_one_hour_per_sweep(void **state) {
    (void)state;
    int64_t clock = 0;
    bool catching = false;
    fd_clock_step_t in = {
        .sweep = true, .read_ms = NOW, .evaluated_ms = NOW - 5 * HOUR, .first_ms = NOW - 9 * HOUR};
    /* the last sweep at 05:30 (an older version's clock) is taken at its hour: one hour on is
     * 06:00 */
    assert_true(fd_eventclock_step(&in, &clock, &catching));
    assert_int_equal(clock, NOW - 4 * HOUR - 30 * MIN);
    assert_true(catching);
    /* touched scopes wait for the sweeps */
    in.sweep = false;
    assert_false(fd_eventclock_step(&in, &clock, &catching));
    assert_false(catching);
    /* never evaluated: from the first event's hour (01:00), one hour on */
    in.sweep = true;
    in.evaluated_ms = 0;
    assert_true(fd_eventclock_step(&in, &clock, &catching));
    assert_int_equal(clock, NOW - 8 * HOUR - 30 * MIN);
    /* the wall clock does not catch up */
    in.wall = true;
    assert_true(fd_eventclock_step(&in, &clock, &catching));
    assert_int_equal(clock, NOW);
    assert_false(catching);
}

static void test_step_takes_a_given_clock_and_waits_for_a_first_event(void **state) {
    (void)state;
    int64_t clock = 0;
    bool catching = true;
    fd_clock_step_t in = {.sweep = true,
                          .read_ms = NOW,
                          .override_ms = NOW - 48 * HOUR,
                          .evaluated_ms = NOW - HOUR,
                          .first_ms = NOW - 72 * HOUR};
    assert_true(fd_eventclock_step(&in, &clock, &catching));
    assert_int_equal(clock, NOW - 48 * HOUR);
    assert_false(catching);
    /* no event yet: nothing to judge, catching_up untouched */
    fd_clock_step_t none = {.sweep = true, .first_ms = INT64_MAX};
    catching = true;
    clock = 7;
    assert_false(fd_eventclock_step(&none, &clock, &catching));
    assert_true(catching);
    assert_int_equal(clock, 7);
}

static int64_t applied(const fd_eventclock_t *ec, const char *part) {
    const int64_t *v = fd_map_get(fd_eventclock_waiting(ec, FD_CLOCK_APPLIED), part, strlen(part));
    return v ? *v : -1;
}

static void test_batches_feed_the_clock_once_applied(void **state) {
    (void)state;
    fd_eventclock_t *ec;
    assert_int_equal(fd_eventclock_new(&ec), FD_OK);
    fd_eventclock_note(ec, "crm", 0, 70);
    fd_eventclock_note(ec, "crm", 0, 50);
    fd_eventclock_note(ec, "crm", 1, 60);
    fd_eventclock_batch_sent(ec);
    fd_eventclock_note(ec, "crm", 0, 90); /* the next batch */
    assert_int_equal(fd_map_size(fd_eventclock_waiting(ec, FD_CLOCK_APPLIED)), 0);
    fd_eventclock_batch_done(ec, true);
    assert_int_equal(applied(ec, "crm:0"), 70);
    assert_int_equal(applied(ec, "crm:1"), 60);
    assert_int_equal(fd_eventclock_first_applied(ec), 50);
    fd_eventclock_written(ec, FD_CLOCK_APPLIED);
    assert_int_equal(fd_map_size(fd_eventclock_waiting(ec, FD_CLOCK_APPLIED)), 0);
    assert_int_equal(fd_eventclock_first_applied(ec), INT64_MAX);
    /* dropped: the sent batch and the notes since are gone */
    fd_eventclock_batch_sent(ec);
    fd_eventclock_note(ec, "crm", 1, 95);
    fd_eventclock_batch_done(ec, false);
    fd_eventclock_batch_sent(ec);
    fd_eventclock_batch_done(ec, true);
    assert_int_equal(fd_map_size(fd_eventclock_waiting(ec, FD_CLOCK_APPLIED)), 0);
    fd_eventclock_destroy(ec);
}

static void test_holds_and_registrations_wait_until_written(void **state) {
    (void)state;
    fd_eventclock_t *ec;
    assert_int_equal(fd_eventclock_new(&ec), FD_OK);
    assert_int_equal(fd_eventclock_expect(ec, "crm", 3), FD_OK);
    assert_int_equal(fd_map_size(fd_eventclock_waiting(ec, FD_CLOCK_EXPECT)), 3);
    assert_non_null(fd_map_get(fd_eventclock_waiting(ec, FD_CLOCK_EXPECT), "crm:2", 5));
    assert_int_equal(fd_eventclock_hold(ec, "crm", 1), FD_OK);
    assert_int_equal(fd_eventclock_hold(ec, "crm", 2), FD_OK);
    fd_eventclock_unhold(ec, "crm", 1);
    assert_int_equal(fd_map_size(fd_eventclock_waiting(ec, FD_CLOCK_HOLD)), 1);
    fd_eventclock_written(ec, FD_CLOCK_EXPECT);
    assert_int_equal(fd_map_size(fd_eventclock_waiting(ec, FD_CLOCK_EXPECT)), 0);
    assert_int_equal(fd_map_size(fd_eventclock_waiting(ec, FD_CLOCK_HOLD)), 1);
    char topic[400];
    memset(topic, 'x', sizeof topic - 1);
    topic[sizeof topic - 1] = '\0';
    assert_int_equal(fd_eventclock_hold(ec, topic, 0), FD_ERR_INVAL);
    fd_eventclock_destroy(ec);
    fd_eventclock_destroy(NULL);
}

#define T(f) cmocka_unit_test(f)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_watermark_is_the_least_active_partition),
        T(test_watermark_ignores_a_partition_idle_past_five_minutes),
        T(test_watermark_of_a_stopped_stream_is_the_latest_event),
        T(test_watermark_never_runs_past_wall_time_plus_skew),
        T(test_step_never_runs_backwards_and_is_on_the_hour),
        T(test_step_catches_up_one_hour_per_sweep),
        T(test_step_takes_a_given_clock_and_waits_for_a_first_event),
        T(test_batches_feed_the_clock_once_applied),
        T(test_holds_and_registrations_wait_until_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
