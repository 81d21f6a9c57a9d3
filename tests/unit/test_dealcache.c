// SPDX-License-Identifier: MIT
// Unit tests of the deal cache: lookups, hand-over of a deal's owners on put, the dirty list
// (order, idempotence), apply with and without emptying, and clear. ASan checks the ownership.
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model/dealcache.h"
#include "model/funnel.h"

enum { LEAD, QUALIFIED, PROPOSAL, NEGOTIATION, WON };

#define T0 INT64_C(1763805600000) /* 2025-11-22T10:00:00Z */

static int setup(void **state) {
    static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
    static const char *const kinds[] = {"call"};
    fd_funnel_t *fn = NULL;
    char err[128];
    assert_int_equal(fd_funnel_new(stages, 5, kinds, 1, &fn, err, sizeof err), FD_OK);
    *state = fn;
    return 0;
}

static int teardown(void **state) {
    fd_funnel_destroy(*state);
    return 0;
}

/* A deal that reached stage at T0 by rep/team (owners allocated on the heap), with amount_c. */
static void make_deal(const fd_funnel_t *fn, fd_deal_t *deal, int stage, const char *rep,
                      const char *team, int64_t amount_c) {
    fd_deal_init(deal);
    fd_owner_t owner = {rep, team};
    fd_effect_t fx[FD_MAX_EFFECTS];
    size_t n;
    assert_int_equal(
        fd_funnel_apply(fn, deal, FD_DEAL_CREATED, stage, T0, &owner, amount_c, fx, &n), FD_OK);
    assert_non_null(deal->owners);
}

static void expect_empty_deal(const fd_deal_t *deal) {
    assert_int_equal(deal->furthest, -1);
    assert_int_equal(deal->lost_stage, -1);
    assert_int_equal(deal->amount_c, -1);
    assert_null(deal->owners);
    assert_int_equal(deal->nowners, 0);
}

static void put_new(const fd_funnel_t *fn, fd_dealcache_t *dc, const char *id, int stage) {
    fd_deal_t d;
    make_deal(fn, &d, stage, "anna", "emea", -1);
    assert_int_equal(fd_dealcache_put(dc, id, &d, NULL), FD_OK);
    fd_deal_clear(&d);
}

static void test_dealcache_get_on_empty_cache_is_null(void **state) {
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(*state, 10, &dc), FD_OK);
    assert_null(fd_dealcache_get(dc, "d-1"));
    assert_int_equal(fd_dealcache_size(dc), 0);
    assert_int_equal(fd_dealcache_dirty_count(dc), 0);
    size_t pos = 0;
    const char *id;
    const fd_deal_t *deal;
    assert_false(fd_dealcache_next_dirty(dc, &pos, &id, &deal, NULL));
    fd_dealcache_destroy(dc);
    fd_dealcache_destroy(NULL);
}

static void test_dealcache_put_takes_over_deal_leaving_caller_empty(void **state) {
    const fd_funnel_t *fn = *state;
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(fn, 10, &dc), FD_OK);
    fd_deal_t d;
    make_deal(fn, &d, PROPOSAL, "anna", "emea", 125000);
    fd_deal_t *cached = NULL;
    assert_int_equal(fd_dealcache_put(dc, "d-1", &d, &cached), FD_OK);
    assert_non_null(cached);
    expect_empty_deal(&d);
    assert_ptr_equal(fd_dealcache_get(dc, "d-1"), cached);
    assert_int_equal(cached->furthest, PROPOSAL);
    assert_int_equal(cached->amount_c, 125000);
    assert_int_equal(cached->nowners, 1);
    assert_string_equal(cached->owners[0].rep, "anna");
    assert_string_equal(cached->owners[0].team, "emea");
    assert_int_equal(cached->reach[PROPOSAL].at_ms, T0);
    assert_int_equal(fd_dealcache_size(dc), 1);
    assert_int_equal(fd_dealcache_dirty_count(dc), 0); /* put alone is not a change */
    /* Clearing the emptied caller copy frees nothing the cache holds (ASan: no double free). */
    fd_deal_clear(&d);
    assert_string_equal(fd_dealcache_get(dc, "d-1")->owners[0].rep, "anna");
    fd_dealcache_destroy(dc);
}

static void test_dealcache_put_of_empty_deal_caches_unknown_deal(void **state) {
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(*state, 10, &dc), FD_OK);
    fd_deal_t d;
    fd_deal_init(&d);
    fd_deal_t *cached = NULL;
    assert_int_equal(fd_dealcache_put(dc, "new-deal", &d, &cached), FD_OK);
    assert_non_null(cached);
    expect_empty_deal(cached);
    assert_ptr_equal(fd_dealcache_get(dc, "new-deal"), cached);
    fd_dealcache_destroy(dc);
}

static void test_dealcache_put_copies_the_id(void **state) {
    const fd_funnel_t *fn = *state;
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(fn, 10, &dc), FD_OK);
    char id[16] = "d-42";
    put_new(fn, dc, id, LEAD);
    memcpy(id, "zzzz", 4);
    assert_non_null(fd_dealcache_get(dc, "d-42"));
    assert_null(fd_dealcache_get(dc, "zzzz"));
    assert_int_equal(fd_dealcache_mark_dirty(dc, "d-42"), FD_OK);
    size_t pos = 0;
    const char *got_id;
    const fd_deal_t *deal;
    assert_true(fd_dealcache_next_dirty(dc, &pos, &got_id, &deal, NULL));
    assert_string_equal(got_id, "d-42");
    fd_dealcache_destroy(dc);
}

static void test_dealcache_put_existing_id_keeps_first_deal(void **state) {
    const fd_funnel_t *fn = *state;
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(fn, 10, &dc), FD_OK);
    fd_deal_t first, second;
    make_deal(fn, &first, QUALIFIED, "anna", "emea", 100);
    make_deal(fn, &second, NEGOTIATION, "bob", "apac", 200);
    fd_deal_t *cached = NULL;
    assert_int_equal(fd_dealcache_put(dc, "d-1", &first, &cached), FD_OK);
    fd_deal_t *again = NULL;
    assert_int_equal(fd_dealcache_put(dc, "d-1", &second, &again), FD_OK);
    assert_ptr_equal(again, cached);
    assert_int_equal(fd_dealcache_size(dc), 1);
    assert_int_equal(cached->furthest, QUALIFIED);
    assert_int_equal(cached->amount_c, 100);
    assert_string_equal(cached->owners[0].rep, "anna");
    /* Whatever put did with the refused deal, clearing it must neither leak nor double free. */
    fd_deal_clear(&second);
    fd_deal_clear(&first);
    fd_dealcache_destroy(dc);
}

static void test_dealcache_changes_through_get_persist(void **state) {
    const fd_funnel_t *fn = *state;
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(fn, 10, &dc), FD_OK);
    put_new(fn, dc, "d-1", LEAD);
    fd_deal_t *deal = fd_dealcache_get(dc, "d-1");
    fd_owner_t bob = {"bob", "apac"};
    fd_effect_t fx[FD_MAX_EFFECTS];
    size_t n;
    assert_int_equal(
        fd_funnel_apply(fn, deal, FD_DEAL_STAGE_CHANGED, PROPOSAL, T0 + 1000, &bob, -1, fx, &n),
        FD_OK);
    deal = fd_dealcache_get(dc, "d-1");
    assert_int_equal(deal->furthest, PROPOSAL);
    assert_int_equal(deal->nowners, 2);
    fd_dealcache_destroy(dc); /* ASan: the owner added in the cache is freed too */
}

static void test_dealcache_dirty_list_in_first_mark_order_and_idempotent(void **state) {
    const fd_funnel_t *fn = *state;
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(fn, 10, &dc), FD_OK);
    put_new(fn, dc, "a", LEAD);
    put_new(fn, dc, "b", QUALIFIED);
    put_new(fn, dc, "c", PROPOSAL);
    put_new(fn, dc, "untouched", LEAD);
    static const char *const marks[] = {"c", "a", "c", "b", "a", "b"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        assert_int_equal(fd_dealcache_mark_dirty(dc, marks[i]), FD_OK);
    assert_int_equal(fd_dealcache_dirty_count(dc), 3);
    static const char *const want[] = {"c", "a", "b"};
    size_t pos = 0, n = 0;
    const char *id;
    const fd_deal_t *deal;
    while (fd_dealcache_next_dirty(dc, &pos, &id, &deal, NULL)) {
        assert_true(n < 3);
        assert_string_equal(id, want[n]);
        assert_ptr_equal(deal, fd_dealcache_get(dc, want[n]));
        n++;
    }
    assert_int_equal(n, 3);
    fd_dealcache_destroy(dc);
}

static void test_dealcache_mark_applied_clears_dirty_keeps_cache_within_max(void **state) {
    const fd_funnel_t *fn = *state;
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(fn, 3, &dc), FD_OK);
    put_new(fn, dc, "a", LEAD);
    put_new(fn, dc, "b", LEAD);
    put_new(fn, dc, "c", LEAD);
    fd_dealcache_mark_dirty(dc, "a");
    fd_dealcache_mark_dirty(dc, "b");
    fd_dealcache_mark_applied(dc);
    assert_int_equal(fd_dealcache_dirty_count(dc), 0);
    size_t pos = 0;
    const char *id;
    const fd_deal_t *deal;
    assert_false(fd_dealcache_next_dirty(dc, &pos, &id, &deal, NULL));
    /* 3 cached, max 3: not over max, the cache is kept. */
    assert_int_equal(fd_dealcache_size(dc), 3);
    assert_non_null(fd_dealcache_get(dc, "a"));
    assert_non_null(fd_dealcache_get(dc, "c"));
    /* A deal applied once can be dirty again in the next batch. */
    assert_int_equal(fd_dealcache_mark_dirty(dc, "a"), FD_OK);
    assert_int_equal(fd_dealcache_dirty_count(dc), 1);
    pos = 0;
    assert_true(fd_dealcache_next_dirty(dc, &pos, &id, &deal, NULL));
    assert_string_equal(id, "a");
    fd_dealcache_destroy(dc);
}

static void test_dealcache_mark_applied_over_max_empties_cache(void **state) {
    const fd_funnel_t *fn = *state;
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(fn, 2, &dc), FD_OK);
    put_new(fn, dc, "a", LEAD);
    put_new(fn, dc, "b", QUALIFIED);
    put_new(fn, dc, "c", PROPOSAL);
    fd_dealcache_mark_dirty(dc, "c");
    fd_dealcache_mark_applied(dc);
    assert_int_equal(fd_dealcache_size(dc), 0);
    assert_int_equal(fd_dealcache_dirty_count(dc), 0);
    assert_null(fd_dealcache_get(dc, "a"));
    assert_null(fd_dealcache_get(dc, "c"));
    /* Still usable. */
    put_new(fn, dc, "a", LEAD);
    assert_non_null(fd_dealcache_get(dc, "a"));
    fd_dealcache_destroy(dc);
}

static void test_dealcache_mark_sent_keeps_deals_trim_keeps_dirty(void **state) {
    const fd_funnel_t *fn = *state;
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(fn, 2, &dc), FD_OK);
    put_new(fn, dc, "a", LEAD);
    put_new(fn, dc, "b", QUALIFIED);
    put_new(fn, dc, "c", PROPOSAL);
    fd_dealcache_mark_dirty(dc, "a");
    fd_dealcache_mark_dirty(dc, "b");
    /* sent, not applied: nothing is dropped though over max, the list is empty */
    fd_dealcache_mark_sent(dc);
    assert_int_equal(fd_dealcache_dirty_count(dc), 0);
    assert_int_equal(fd_dealcache_size(dc), 3);
    /* the next batch dirties a again: it is listed again */
    assert_int_equal(fd_dealcache_mark_dirty(dc, "a"), FD_OK);
    assert_int_equal(fd_dealcache_dirty_count(dc), 1);
    /* the sent batch landed: over max, every deal but the dirty one goes */
    fd_dealcache_trim(dc);
    assert_int_equal(fd_dealcache_size(dc), 1);
    assert_non_null(fd_dealcache_get(dc, "a"));
    assert_null(fd_dealcache_get(dc, "b"));
    assert_null(fd_dealcache_get(dc, "c"));
    assert_int_equal(fd_dealcache_dirty_count(dc), 1);
    size_t pos = 0;
    const char *id;
    const fd_deal_t *deal;
    assert_true(fd_dealcache_next_dirty(dc, &pos, &id, &deal, NULL));
    assert_string_equal(id, "a");
    /* within max: trim keeps everything */
    put_new(fn, dc, "b", LEAD);
    fd_dealcache_trim(dc);
    assert_int_equal(fd_dealcache_size(dc), 2);
    fd_dealcache_destroy(dc);
}

static void test_dealcache_clear_forgets_deals_and_dirty_list(void **state) {
    const fd_funnel_t *fn = *state;
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(fn, 100, &dc), FD_OK);
    for (int i = 0; i < 50; i++) {
        char id[16];
        snprintf(id, sizeof id, "d-%d", i);
        put_new(fn, dc, id, i % 5);
        if (i % 2) fd_dealcache_mark_dirty(dc, id);
    }
    assert_int_equal(fd_dealcache_size(dc), 50);
    assert_int_equal(fd_dealcache_dirty_count(dc), 25);
    fd_dealcache_clear(dc);
    assert_int_equal(fd_dealcache_size(dc), 0);
    assert_int_equal(fd_dealcache_dirty_count(dc), 0);
    assert_null(fd_dealcache_get(dc, "d-1"));
    size_t pos = 0;
    const char *id;
    const fd_deal_t *deal;
    assert_false(fd_dealcache_next_dirty(dc, &pos, &id, &deal, NULL));
    put_new(fn, dc, "d-1", WON);
    assert_int_equal(fd_dealcache_get(dc, "d-1")->furthest, WON);
    assert_int_equal(fd_dealcache_mark_dirty(dc, "d-1"), FD_OK);
    assert_int_equal(fd_dealcache_dirty_count(dc), 1);
    fd_dealcache_destroy(dc);
}

/* A deal assumed new is cached empty and dirty, flagged for the apply's check until sent; a
 * cached deal is never re-flagged; clear and sent both drop the flags. */
static void test_dealcache_put_new_flags_until_sent(void **state) {
    const fd_funnel_t *fn = *state;
    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(fn, 100, &dc), FD_OK);
    put_new(fn, dc, "known", QUALIFIED);
    assert_int_equal(fd_dealcache_put_new(dc, "fresh", NULL), FD_OK);
    expect_empty_deal(fd_dealcache_get(dc, "fresh"));
    /* cached: unchanged, not flagged */
    fd_deal_t *known = NULL;
    assert_int_equal(fd_dealcache_put_new(dc, "known", &known), FD_OK);
    assert_int_equal(known->furthest, QUALIFIED);
    assert_int_equal(fd_dealcache_mark_dirty(dc, "known"), FD_OK);
    assert_int_equal(fd_dealcache_dirty_count(dc), 2);
    assert_int_equal(fd_dealcache_new_count(dc), 1);
    size_t pos = 0;
    const char *id;
    const fd_deal_t *deal;
    bool assumed = false;
    assert_true(fd_dealcache_next_dirty(dc, &pos, &id, &deal, &assumed));
    assert_string_equal(id, "fresh");
    assert_true(assumed);
    assert_true(fd_dealcache_next_dirty(dc, &pos, &id, &deal, &assumed));
    assert_string_equal(id, "known");
    assert_false(assumed);
    assert_false(fd_dealcache_next_dirty(dc, &pos, &id, &deal, &assumed));

    /* sent: still cached, no longer dirty nor assumed; a later change is a plain update */
    fd_dealcache_mark_sent(dc);
    assert_int_equal(fd_dealcache_new_count(dc), 0);
    assert_non_null(fd_dealcache_get(dc, "fresh"));
    assert_int_equal(fd_dealcache_mark_dirty(dc, "fresh"), FD_OK);
    pos = 0;
    assert_true(fd_dealcache_next_dirty(dc, &pos, &id, &deal, &assumed));
    assert_false(assumed);

    assert_int_equal(fd_dealcache_put_new(dc, "other", NULL), FD_OK);
    assert_int_equal(fd_dealcache_new_count(dc), 1);
    fd_dealcache_clear(dc);
    assert_int_equal(fd_dealcache_new_count(dc), 0);
    assert_int_equal(fd_dealcache_dirty_count(dc), 0);
    fd_dealcache_destroy(dc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dealcache_get_on_empty_cache_is_null),
        cmocka_unit_test(test_dealcache_put_takes_over_deal_leaving_caller_empty),
        cmocka_unit_test(test_dealcache_put_of_empty_deal_caches_unknown_deal),
        cmocka_unit_test(test_dealcache_put_copies_the_id),
        cmocka_unit_test(test_dealcache_put_existing_id_keeps_first_deal),
        cmocka_unit_test(test_dealcache_changes_through_get_persist),
        cmocka_unit_test(test_dealcache_dirty_list_in_first_mark_order_and_idempotent),
        cmocka_unit_test(test_dealcache_mark_applied_clears_dirty_keeps_cache_within_max),
        cmocka_unit_test(test_dealcache_mark_applied_over_max_empties_cache),
        cmocka_unit_test(test_dealcache_mark_sent_keeps_deals_trim_keeps_dirty),
        cmocka_unit_test(test_dealcache_clear_forgets_deals_and_dirty_list),
        cmocka_unit_test(test_dealcache_put_new_flags_until_sent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
