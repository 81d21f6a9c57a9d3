// SPDX-License-Identifier: MIT
// Unit tests of feedstatus: the table of docs/feeds.md "Live, idle, behind, stalled", case by
// case, with the interval of the latest heartbeat (2000 ms before one was seen).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "model/feedstatus.h"

static const int64_t NOW = 1800000000000;

static fd_feed_state_t at(int64_t interval, int64_t entry_ago, int64_t change_ago, bool lagging) {
    fd_feed_view_t v = {.now_ms = NOW,
                        .interval_ms = interval,
                        .entry_ms = entry_ago < 0 ? 0 : NOW - entry_ago,
                        .change_ms = change_ago < 0 ? 0 : NOW - change_ago,
                        .lagging = lagging};
    return fd_feed_state(&v);
}

static void test_feedstatus_follows_the_table_of_feeds_md(void **state) {
    (void)state;
    /* a change within 3 intervals, no lag: live */
    assert_int_equal(at(1000, 100, 2999, false), FD_FEED_LIVE);
    /* no change within 3 intervals but heartbeats: idle */
    assert_int_equal(at(1000, 100, 3000, false), FD_FEED_IDLE);
    assert_int_equal(at(1000, 100, -1, false), FD_FEED_IDLE);
    /* lag and a recent change: behind; lag and no change for 3 intervals: stalled */
    assert_int_equal(at(1000, 100, 500, true), FD_FEED_BEHIND);
    assert_int_equal(at(1000, 100, 3000, true), FD_FEED_STALLED);
    /* no entry for 3 intervals, or none at all: stalled */
    assert_int_equal(at(1000, 3000, 3000, false), FD_FEED_STALLED);
    assert_int_equal(at(1000, -1, -1, false), FD_FEED_STALLED);
    /* before any heartbeat the interval is 2000 ms */
    assert_int_equal(at(0, 5999, 5999, false), FD_FEED_LIVE);
    assert_int_equal(at(0, 6000, 6000, false), FD_FEED_STALLED);
    assert_string_equal(fd_feed_state_name(FD_FEED_BEHIND), "behind");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feedstatus_follows_the_table_of_feeds_md),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
