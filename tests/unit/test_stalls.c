// SPDX-License-Identifier: MIT
// Unit tests of the stall index: deals counted in the stage they were in at the clock (as of the
// clock, so that a replay counts what a live run counted), under the owner that brought them
// there, lost deals not at all in their last stage, and stays over before a scan's clock left out.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "alerting/stalls.h"

#define DAY INT64_C(86400000)
#define T0  INT64_C(1795000000000) /* an arbitrary instant in 2026 */

enum { LEAD = 0, PROPOSAL = 1, WON = 2 };

static fd_funnel_t *fn;

static int setup(void **state) {
    (void)state;
    static const char *const stages[] = {"lead", "proposal", "won"};
    static const char *const kinds[] = {"call"};
    char err[128];
    return fd_funnel_new(stages, 3, kinds, 1, &fn, err, sizeof err) == FD_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    fd_funnel_destroy(fn);
    return 0;
}

/* A deal's state after events (type, stage, day from T0, rep), indexed into st. */
typedef struct {
    fd_event_type_t type;
    int stage;
    int day;
    const char *rep;
} step_t;

static void add_deal(fd_stalls_t *st, const step_t *steps, size_t n) {
    fd_deal_t deal;
    fd_deal_init(&deal);
    fd_effect_t fx[FD_MAX_EFFECTS];
    size_t nfx;
    for (size_t i = 0; i < n; i++) {
        fd_owner_t ow = {.rep = steps[i].rep, .team = "t"};
        assert_int_equal(fd_funnel_apply(fn, &deal, steps[i].type, steps[i].stage,
                                         T0 + steps[i].day * DAY, &ow, -1, fx, &nfx),
                         FD_OK);
    }
    char buf[512];
    size_t len = fd_deal_encode(fn, &deal, buf, sizeof buf);
    assert_true(len < sizeof buf);
    assert_int_equal(fd_stalls_add(st, buf, len), FD_OK);
    fd_deal_clear(&deal);
}

static int64_t count(const fd_stalls_t *st, const char *rep, int stage, int day) {
    return fd_stalls_count(st, FD_SCOPE_REP, rep, stage, T0 + day * DAY, 7 * DAY);
}

static void test_deals_count_in_the_stage_they_held_at_the_clock(void **state) {
    (void)state;
    fd_stalls_t *st;
    assert_int_equal(fd_stalls_new(fn, &st), FD_OK);
    /* anna's deal: lead on day 0, proposal on day 10 (bea moved it), won on day 30 */
    const step_t moved[] = {{FD_DEAL_CREATED, LEAD, 0, "anna"},
                            {FD_DEAL_STAGE_CHANGED, PROPOSAL, 10, "bea"},
                            {FD_DEAL_WON, -1, 30, "bea"}};
    add_deal(st, moved, 3);
    /* carl's deal: lead on day 0, lost on day 20 (when is not kept) */
    const step_t lost[] = {{FD_DEAL_CREATED, LEAD, 0, "carl"}, {FD_DEAL_LOST, LEAD, 20, "carl"}};
    add_deal(st, lost, 2);
    /* dan's deal: lead on day 0, still open */
    const step_t open[] = {{FD_DEAL_CREATED, LEAD, 0, "dan"}};
    add_deal(st, open, 1);

    assert_int_equal(count(st, "anna", LEAD, 5), 0);     /* in lead, but only 5 days */
    assert_int_equal(count(st, "anna", LEAD, 9), 1);     /* 9 days in lead */
    assert_int_equal(count(st, "anna", LEAD, 11), 0);    /* it left lead on day 10 */
    assert_int_equal(count(st, "bea", PROPOSAL, 9), 0);  /* not there yet */
    assert_int_equal(count(st, "bea", PROPOSAL, 18), 1); /* bea's since day 10 */
    assert_int_equal(count(st, "bea", PROPOSAL, 31), 0); /* won on day 30 */
    assert_int_equal(count(st, "anna", PROPOSAL, 18), 0);
    assert_int_equal(count(st, "carl", LEAD, 15), 0); /* lost: its last stay is not indexed */
    assert_int_equal(count(st, "dan", LEAD, 100), 1);
    assert_int_equal(fd_stalls_count(st, FD_SCOPE_ORG, "", LEAD, T0 + 9 * DAY, 7 * DAY), 2);
    assert_int_equal(fd_stalls_unreadable(st), 0);
    fd_stalls_destroy(st);
}

static void test_a_scan_leaves_out_stays_over_before_its_clock(void **state) {
    (void)state;
    fd_stalls_t *st;
    assert_int_equal(fd_stalls_new(fn, &st), FD_OK);
    fd_stalls_clear(st, T0 + 12 * DAY); /* sweeps have reached day 12 */
    const step_t moved[] = {{FD_DEAL_CREATED, LEAD, 0, "anna"},
                            {FD_DEAL_STAGE_CHANGED, PROPOSAL, 10, "anna"}};
    add_deal(st, moved, 2);
    assert_int_equal(count(st, "anna", LEAD, 9), 0);      /* its lead stay ended on day 10 */
    assert_int_equal(count(st, "anna", PROPOSAL, 18), 1); /* still there */
    assert_int_equal(fd_stalls_add(st, "not a deal", 10), FD_OK);
    assert_int_equal(fd_stalls_unreadable(st), 1);
    fd_stalls_clear(st, INT64_MIN); /* a new scan for any clock */
    add_deal(st, moved, 2);
    assert_int_equal(count(st, "anna", LEAD, 9), 1);
    assert_int_equal(fd_stalls_unreadable(st), 0);
    fd_stalls_destroy(st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deals_count_in_the_stage_they_held_at_the_clock),
        cmocka_unit_test(test_a_scan_leaves_out_stays_over_before_its_clock),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
