// SPDX-License-Identifier: MIT
// Unit tests of the dedupe horizon: membership, eviction of the oldest id, the pending blob and
// its order, load / reset, and a long run that exercises deletion from the index.
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/dedupe.h"

/* fd_dedupe_check_add of the len bytes at id, which must succeed: true when the id was new. */
static bool check_add(fd_dedupe_t *dd, const char *id, size_t len) {
    bool fresh = false;
    assert_int_equal(fd_dedupe_check_add(dd, id, len, &fresh), FD_OK);
    return fresh;
}

static bool add(fd_dedupe_t *dd, const char *id) {
    return check_add(dd, id, strlen(id));
}

static bool add_n(fd_dedupe_t *dd, size_t i) {
    char id[32];
    int len = snprintf(id, sizeof id, "evt-%zu", i);
    return check_add(dd, id, (size_t)len);
}

/* A copy of dd's pending blob (freed by the caller); *count gets the number of ids. */
static unsigned char *pending_copy(const fd_dedupe_t *dd, size_t *count) {
    const void *p = fd_dedupe_pending(dd, count);
    unsigned char *copy = malloc(*count * FD_DEDUPE_ID_BYTES + 1);
    assert_non_null(copy);
    if (*count) memcpy(copy, p, *count * FD_DEDUPE_ID_BYTES);
    return copy;
}

/* The pending blob of a fresh horizon that saw exactly ids[0..n), oldest first. */
static unsigned char *blob_of(const char *const *ids, size_t n) {
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(1000, &dd), FD_OK);
    for (size_t i = 0; i < n; i++)
        assert_true(add(dd, ids[i]));
    size_t count;
    unsigned char *blob = pending_copy(dd, &count);
    assert_int_equal(count, n);
    fd_dedupe_destroy(dd);
    return blob;
}

static void test_dedupe_new_id_is_added_repeat_is_seen(void **state) {
    (void)state;
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(10, &dd), FD_OK);
    assert_non_null(dd);
    assert_int_equal(fd_dedupe_capacity(dd), 10);
    assert_int_equal(fd_dedupe_count(dd), 0);
    assert_true(add(dd, "evt-1"));
    assert_false(add(dd, "evt-1"));
    assert_true(add(dd, "evt-2"));
    assert_false(add(dd, "evt-1"));
    assert_int_equal(fd_dedupe_count(dd), 2);
    fd_dedupe_destroy(dd);
}

static void test_dedupe_ids_are_length_delimited(void **state) {
    (void)state;
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(10, &dd), FD_OK);
    assert_true(check_add(dd, "x\0a", 3));
    assert_true(check_add(dd, "x\0b", 3));
    assert_true(check_add(dd, "x", 1));
    assert_false(check_add(dd, "x\0a", 3));
    assert_int_equal(fd_dedupe_count(dd), 3);
    fd_dedupe_destroy(dd);
}

static void test_dedupe_full_horizon_forgets_oldest(void **state) {
    (void)state;
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(3, &dd), FD_OK);
    assert_true(add(dd, "a"));
    assert_true(add(dd, "b"));
    assert_true(add(dd, "c"));
    assert_true(add(dd, "d"));
    assert_int_equal(fd_dedupe_count(dd), 3);
    /* b, c, d first: a hit changes nothing, while re-adding a would evict b. */
    assert_false(add(dd, "b"));
    assert_false(add(dd, "c"));
    assert_false(add(dd, "d"));
    assert_true(add(dd, "a"));
    assert_int_equal(fd_dedupe_count(dd), 3);
    fd_dedupe_destroy(dd);
}

static void test_dedupe_repeat_does_not_refresh_age(void **state) {
    (void)state;
    /* The horizon is in arrival order: seeing a again keeps it the oldest. */
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(3, &dd), FD_OK);
    add(dd, "a");
    add(dd, "b");
    add(dd, "c");
    assert_false(add(dd, "a"));
    assert_true(add(dd, "d")); /* evicts a */
    assert_false(add(dd, "b"));
    assert_false(add(dd, "c"));
    assert_false(add(dd, "d"));
    assert_true(add(dd, "a"));
    fd_dedupe_destroy(dd);
}

static void test_dedupe_pending_lists_new_ids_oldest_first(void **state) {
    (void)state;
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(10, &dd), FD_OK);
    size_t count = 99;
    fd_dedupe_pending(dd, &count);
    assert_int_equal(count, 0);
    add(dd, "a");
    add(dd, "b");
    add(dd, "a"); /* a repeat is not pending again */
    add(dd, "c");
    unsigned char *blob = pending_copy(dd, &count);
    assert_int_equal(count, 3);
    /* Each chunk is the id of a, b, c in that order: the same id gives the same bytes in any
     * horizon, so compare with horizons that saw one id each. */
    static const char *const ids[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        unsigned char *one = blob_of(&ids[i], 1);
        assert_memory_equal(blob + i * FD_DEDUPE_ID_BYTES, one, FD_DEDUPE_ID_BYTES);
        free(one);
    }
    assert_memory_not_equal(blob, blob + FD_DEDUPE_ID_BYTES, FD_DEDUPE_ID_BYTES);
    assert_memory_not_equal(blob + FD_DEDUPE_ID_BYTES, blob + 2 * FD_DEDUPE_ID_BYTES,
                            FD_DEDUPE_ID_BYTES);
    free(blob);
    fd_dedupe_destroy(dd);
}

static void test_dedupe_pending_keeps_ids_already_evicted(void **state) {
    (void)state;
    /* Every id added since the last apply goes to the store, even one the horizon dropped. */
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(2, &dd), FD_OK);
    add(dd, "a");
    add(dd, "b");
    add(dd, "c");
    size_t count;
    unsigned char *blob = pending_copy(dd, &count);
    assert_int_equal(count, 3);
    static const char *const ids[] = {"a", "b", "c"};
    unsigned char *want = blob_of(ids, 3);
    assert_memory_equal(blob, want, 3 * FD_DEDUPE_ID_BYTES);
    free(want);
    free(blob);
    fd_dedupe_destroy(dd);
}

static void test_dedupe_mark_applied_empties_pending_keeps_ids(void **state) {
    (void)state;
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(10, &dd), FD_OK);
    add(dd, "a");
    add(dd, "b");
    fd_dedupe_mark_applied(dd);
    size_t count = 99;
    fd_dedupe_pending(dd, &count);
    assert_int_equal(count, 0);
    assert_false(add(dd, "a"));
    assert_false(add(dd, "b"));
    assert_int_equal(fd_dedupe_count(dd), 2);
    /* Only what comes after the apply is pending. */
    add(dd, "c");
    unsigned char *blob = pending_copy(dd, &count);
    assert_int_equal(count, 1);
    static const char *const c[] = {"c"};
    unsigned char *want = blob_of(c, 1);
    assert_memory_equal(blob, want, FD_DEDUPE_ID_BYTES);
    free(want);
    free(blob);
    fd_dedupe_destroy(dd);
}

static void test_dedupe_load_remembers_blob_ids_nothing_pending(void **state) {
    (void)state;
    static const char *const ids[] = {"a", "b", "c"};
    unsigned char *blob = blob_of(ids, 3);
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(10, &dd), FD_OK);
    add(dd, "old"); /* replaced by the load */
    assert_int_equal(fd_dedupe_load(dd, blob, 3 * FD_DEDUPE_ID_BYTES), FD_OK);
    assert_int_equal(fd_dedupe_count(dd), 3);
    size_t count = 99;
    fd_dedupe_pending(dd, &count);
    assert_int_equal(count, 0);
    assert_false(add(dd, "a"));
    assert_false(add(dd, "b"));
    assert_false(add(dd, "c"));
    assert_true(add(dd, "old"));
    free(blob);
    fd_dedupe_destroy(dd);
}

static void test_dedupe_load_keeps_only_last_max_ids(void **state) {
    (void)state;
    static const char *const ids[] = {"a", "b", "c", "d", "e"};
    unsigned char *blob = blob_of(ids, 5);
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(3, &dd), FD_OK);
    assert_int_equal(fd_dedupe_load(dd, blob, 5 * FD_DEDUPE_ID_BYTES), FD_OK);
    assert_int_equal(fd_dedupe_count(dd), 3);
    assert_false(add(dd, "c"));
    assert_false(add(dd, "d"));
    assert_false(add(dd, "e"));
    /* c is the oldest kept: the next new id evicts it, in blob order. */
    assert_true(add(dd, "f"));
    assert_false(add(dd, "d"));
    assert_false(add(dd, "e"));
    assert_false(add(dd, "f"));
    assert_true(add(dd, "c"));
    assert_true(add(dd, "a"));
    free(blob);
    fd_dedupe_destroy(dd);
}

static void test_dedupe_load_of_empty_blob_forgets_everything(void **state) {
    (void)state;
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(3, &dd), FD_OK);
    add(dd, "a");
    assert_int_equal(fd_dedupe_load(dd, "", 0), FD_OK);
    assert_int_equal(fd_dedupe_count(dd), 0);
    assert_true(add(dd, "a"));
    fd_dedupe_destroy(dd);
}

static void test_dedupe_load_rejects_length_not_multiple_of_id_size(void **state) {
    (void)state;
    unsigned char blob[2 * FD_DEDUPE_ID_BYTES] = {0};
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(3, &dd), FD_OK);
    assert_int_equal(fd_dedupe_load(dd, blob, FD_DEDUPE_ID_BYTES + 1), FD_ERR_PARSE);
    assert_int_equal(fd_dedupe_load(dd, blob, FD_DEDUPE_ID_BYTES - 1), FD_ERR_PARSE);
    assert_int_equal(fd_dedupe_load(dd, blob, 2 * FD_DEDUPE_ID_BYTES - 1), FD_ERR_PARSE);
    fd_dedupe_destroy(dd);
}

static void test_dedupe_reset_forgets_ids_and_pending(void **state) {
    (void)state;
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(3, &dd), FD_OK);
    add(dd, "a");
    add(dd, "b");
    fd_dedupe_reset(dd);
    assert_int_equal(fd_dedupe_count(dd), 0);
    size_t count = 99;
    fd_dedupe_pending(dd, &count);
    assert_int_equal(count, 0);
    assert_int_equal(fd_dedupe_capacity(dd), 3);
    assert_true(add(dd, "a"));
    assert_true(add(dd, "b"));
    fd_dedupe_pending(dd, &count);
    assert_int_equal(count, 2);
    fd_dedupe_destroy(dd);
}

static void test_dedupe_200k_ids_in_100k_horizon_stay_consistent(void **state) {
    (void)state;
    enum { MAX = 100000, N = 200000 };
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(MAX, &dd), FD_OK);
    for (size_t i = 0; i < N; i++)
        if (!add_n(dd, i)) fail_msg("evt-%zu reported seen on first sight", i);
    assert_int_equal(fd_dedupe_count(dd), MAX);
    /* Hits do not change the horizon, so every one of the last MAX can be checked. */
    for (size_t i = N - MAX; i < N; i++)
        if (add_n(dd, i)) fail_msg("evt-%zu (within the last %d) forgotten", i, MAX);
    /* Each earlier id is new again; re-adding evt-j evicts evt-(MAX + j), already checked, so
     * later checks in this loop are unaffected. */
    for (size_t i = 0; i < N - MAX; i++)
        if (!add_n(dd, i)) fail_msg("evt-%zu (evicted) still remembered", i);
    /* Now the horizon is exactly evt-0 .. evt-(MAX-1) again. */
    assert_int_equal(fd_dedupe_count(dd), MAX);
    for (size_t i = 0; i < MAX; i++)
        if (add_n(dd, i)) fail_msg("evt-%zu forgotten after re-adding", i);
    size_t count;
    fd_dedupe_pending(dd, &count);
    assert_int_equal(count, N + (N - MAX));
    fd_dedupe_destroy(dd);
}

static void test_dedupe_small_horizons_under_churn_keep_last_max(void **state) {
    (void)state;
    /* A small index (16 or 32 slots) fills and wraps around its end again and again, so every
     * shape of index deletion, wrap-around included, happens many times. */
    static const size_t maxes[] = {1, 2, 3, 5, 8, 13};
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
        size_t max = maxes[m];
        fd_dedupe_t *dd;
        assert_int_equal(fd_dedupe_new(max, &dd), FD_OK);
        for (size_t i = 0; i < 20000; i++) {
            if (!add_n(dd, i)) fail_msg("max %zu: evt-%zu seen on first sight", max, i);
            size_t first = i + 1 > max ? i + 1 - max : 0;
            for (size_t j = first; j <= i; j++)
                if (add_n(dd, j))
                    fail_msg("max %zu: after evt-%zu, evt-%zu was forgotten", max, i, j);
            assert_int_equal(fd_dedupe_count(dd), i + 1 - first);
        }
        fd_dedupe_destroy(dd);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedupe_new_id_is_added_repeat_is_seen),
        cmocka_unit_test(test_dedupe_ids_are_length_delimited),
        cmocka_unit_test(test_dedupe_full_horizon_forgets_oldest),
        cmocka_unit_test(test_dedupe_repeat_does_not_refresh_age),
        cmocka_unit_test(test_dedupe_pending_lists_new_ids_oldest_first),
        cmocka_unit_test(test_dedupe_pending_keeps_ids_already_evicted),
        cmocka_unit_test(test_dedupe_mark_applied_empties_pending_keeps_ids),
        cmocka_unit_test(test_dedupe_load_remembers_blob_ids_nothing_pending),
        cmocka_unit_test(test_dedupe_load_keeps_only_last_max_ids),
        cmocka_unit_test(test_dedupe_load_of_empty_blob_forgets_everything),
        cmocka_unit_test(test_dedupe_load_rejects_length_not_multiple_of_id_size),
        cmocka_unit_test(test_dedupe_reset_forgets_ids_and_pending),
        cmocka_unit_test(test_dedupe_200k_ids_in_100k_horizon_stay_consistent),
        cmocka_unit_test(test_dedupe_small_horizons_under_churn_keep_last_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
