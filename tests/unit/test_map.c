// SPDX-License-Identifier: MIT
// Unit tests of the string-keyed map: put/get/overwrite/del, length-delimited keys, growth,
// backward-shift deletion in seeded random orders, iteration and clear.
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/map.h"

#define VAL(i) ((void *)(uintptr_t)((i) + 1))

/* splitmix64: a small seeded generator, so every random order is reproducible. */
static uint64_t next_rand(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void shuffle(size_t *a, size_t n, uint64_t *seed) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(next_rand(seed) % i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static size_t key_of(size_t i, char *buf, size_t size) {
    return (size_t)snprintf(buf, size, "deal-%zu", i);
}

static void put_key(fd_map_t *m, size_t i) {
    char k[32];
    size_t len = key_of(i, k, sizeof k);
    assert_int_equal(fd_map_put(m, k, len, VAL(i)), FD_OK);
}

static void *get_key(const fd_map_t *m, size_t i) {
    char k[32];
    size_t len = key_of(i, k, sizeof k);
    return fd_map_get(m, k, len);
}

static void *del_key(fd_map_t *m, size_t i) {
    char k[32];
    size_t len = key_of(i, k, sizeof k);
    return fd_map_del(m, k, len);
}

static void test_map_new_is_empty(void **state) {
    (void)state;
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    assert_int_equal(fd_map_size(m), 0);
    assert_null(fd_map_get(m, "a", 1));
    assert_null(fd_map_del(m, "a", 1));
    size_t pos = 0, len;
    const char *key;
    void *value;
    assert_false(fd_map_next(m, &pos, &key, &len, &value));
    fd_map_destroy(m);
    fd_map_destroy(NULL);
}

static void test_map_put_then_get_returns_value(void **state) {
    (void)state;
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    int a, b;
    assert_int_equal(fd_map_put(m, "alpha", 5, &a), FD_OK);
    assert_int_equal(fd_map_put(m, "beta", 4, &b), FD_OK);
    assert_ptr_equal(fd_map_get(m, "alpha", 5), &a);
    assert_ptr_equal(fd_map_get(m, "beta", 4), &b);
    assert_null(fd_map_get(m, "gamma", 5));
    assert_null(fd_map_get(m, "alph", 4)); /* a prefix is another key */
    assert_int_equal(fd_map_size(m), 2);
    fd_map_destroy(m);
}

static void test_map_put_existing_key_overwrites_value(void **state) {
    (void)state;
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    int a, b;
    assert_int_equal(fd_map_put(m, "k", 1, &a), FD_OK);
    assert_int_equal(fd_map_put(m, "k", 1, &b), FD_OK);
    assert_ptr_equal(fd_map_get(m, "k", 1), &b);
    assert_int_equal(fd_map_size(m), 1);
    fd_map_destroy(m);
}

static void test_map_put_copies_the_key(void **state) {
    (void)state;
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    int a;
    char buf[8] = "abc";
    assert_int_equal(fd_map_put(m, buf, 3, &a), FD_OK);
    memcpy(buf, "xyz", 3); /* the caller's buffer changes; the stored key must not */
    assert_ptr_equal(fd_map_get(m, "abc", 3), &a);
    assert_null(fd_map_get(m, "xyz", 3));
    fd_map_destroy(m);
}

static void test_map_del_returns_value_and_removes_key(void **state) {
    (void)state;
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    int a, b;
    fd_map_put(m, "a", 1, &a);
    fd_map_put(m, "b", 1, &b);
    assert_ptr_equal(fd_map_del(m, "a", 1), &a);
    assert_null(fd_map_get(m, "a", 1));
    assert_ptr_equal(fd_map_get(m, "b", 1), &b);
    assert_int_equal(fd_map_size(m), 1);
    assert_null(fd_map_del(m, "a", 1)); /* already gone */
    assert_int_equal(fd_map_size(m), 1);
    /* A deleted key can be stored again. */
    assert_int_equal(fd_map_put(m, "a", 1, &b), FD_OK);
    assert_ptr_equal(fd_map_get(m, "a", 1), &b);
    fd_map_destroy(m);
}

static void test_map_keys_with_embedded_nul_are_length_delimited(void **state) {
    (void)state;
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    int x, y, z, w;
    assert_int_equal(fd_map_put(m, "a\0b", 3, &x), FD_OK);
    assert_int_equal(fd_map_put(m, "a\0c", 3, &y), FD_OK);
    assert_int_equal(fd_map_put(m, "a", 1, &z), FD_OK);
    assert_int_equal(fd_map_put(m, "a\0", 2, &w), FD_OK);
    assert_int_equal(fd_map_size(m), 4);
    assert_ptr_equal(fd_map_get(m, "a\0b", 3), &x);
    assert_ptr_equal(fd_map_get(m, "a\0c", 3), &y);
    assert_ptr_equal(fd_map_get(m, "a", 1), &z);
    assert_ptr_equal(fd_map_get(m, "a\0", 2), &w);
    assert_ptr_equal(fd_map_del(m, "a\0b", 3), &x);
    assert_ptr_equal(fd_map_get(m, "a\0c", 3), &y);
    assert_ptr_equal(fd_map_get(m, "a", 1), &z);
    /* Iteration reports the full length, NUL bytes included. */
    size_t pos = 0, len, seen = 0;
    const char *key;
    void *value;
    while (fd_map_next(m, &pos, &key, &len, &value)) {
        if (value == &y) {
            assert_int_equal(len, 3);
            assert_memory_equal(key, "a\0c", 3);
        } else if (value == &z) {
            assert_int_equal(len, 1);
        } else {
            assert_ptr_equal(value, &w);
            assert_int_equal(len, 2);
            assert_memory_equal(key, "a\0", 2);
        }
        seen++;
    }
    assert_int_equal(seen, 3);
    fd_map_destroy(m);
}

static void test_map_empty_key_is_a_key(void **state) {
    (void)state;
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    int a;
    assert_int_equal(fd_map_put(m, "", 0, &a), FD_OK);
    assert_ptr_equal(fd_map_get(m, "", 0), &a);
    assert_null(fd_map_get(m, "\0", 1));
    assert_ptr_equal(fd_map_del(m, "", 0), &a);
    assert_int_equal(fd_map_size(m), 0);
    fd_map_destroy(m);
}

static void test_map_grows_to_100k_keys_all_reachable(void **state) {
    (void)state;
    enum { N = 100000 };
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    for (size_t i = 0; i < N; i++) {
        put_key(m, i);
        assert_int_equal(fd_map_size(m), i + 1);
    }
    for (size_t i = 0; i < N; i++)
        assert_ptr_equal(get_key(m, i), VAL(i));
    assert_null(get_key(m, N));
    fd_map_destroy(m);
}

/* Deletes all n keys in a seeded random order; after every deletion the deleted keys are gone
 * and every remaining key is still found (a wrong backward shift strands later probe entries). */
static void delete_in_random_order(size_t n, uint64_t seed) {
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    size_t *order = malloc(n * sizeof *order);
    bool *gone = calloc(n, sizeof *gone);
    assert_non_null(order);
    assert_non_null(gone);
    for (size_t i = 0; i < n; i++) {
        put_key(m, i);
        order[i] = i;
    }
    shuffle(order, n, &seed);
    for (size_t d = 0; d < n; d++) {
        size_t victim = order[d];
        if (del_key(m, victim) != VAL(victim))
            fail_msg("n %zu seed %llu: deleting key %zu returned the wrong value", n,
                     (unsigned long long)seed, victim);
        gone[victim] = true;
        assert_int_equal(fd_map_size(m), n - d - 1);
        for (size_t i = 0; i < n; i++) {
            void *want = gone[i] ? NULL : VAL(i);
            if (get_key(m, i) != want)
                fail_msg("n %zu seed %llu: after %zu deletions key %zu is %s", n,
                         (unsigned long long)seed, d + 1, i, gone[i] ? "still there" : "lost");
        }
    }
    free(gone);
    free(order);
    fd_map_destroy(m);
}

static void test_map_delete_small_dense_maps_random_orders_keeps_others(void **state) {
    (void)state;
    /* 12 keys in the initial 16 slots: long clusters that wrap around the end of the table. */
    for (uint64_t seed = 1; seed <= 2000; seed++)
        delete_in_random_order(12, seed);
    for (uint64_t seed = 1; seed <= 200; seed++)
        delete_in_random_order(24, seed);
}

static void test_map_delete_large_map_random_orders_keeps_others(void **state) {
    (void)state;
    delete_in_random_order(1500, 42);
    delete_in_random_order(3000, 7);
}

static void test_map_interleaved_put_del_matches_model(void **state) {
    (void)state;
    /* A shadow array is the model: random puts and deletions over 500 keys. */
    enum { N = 500, STEPS = 50000 };
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    bool present[N] = {false};
    size_t count = 0;
    uint64_t seed = 2024;
    for (size_t step = 0; step < STEPS; step++) {
        size_t i = (size_t)(next_rand(&seed) % N);
        if (next_rand(&seed) % 2) {
            put_key(m, i);
            if (!present[i]) count++;
            present[i] = true;
        } else {
            assert_ptr_equal(del_key(m, i), present[i] ? VAL(i) : NULL);
            if (present[i]) count--;
            present[i] = false;
        }
        assert_int_equal(fd_map_size(m), count);
    }
    for (size_t i = 0; i < N; i++)
        assert_ptr_equal(get_key(m, i), present[i] ? VAL(i) : NULL);
    fd_map_destroy(m);
}

static void test_map_iteration_visits_each_key_once(void **state) {
    (void)state;
    enum { N = 1000 };
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    for (size_t i = 0; i < N; i++)
        put_key(m, i);
    for (size_t i = 0; i < N; i += 3)
        del_key(m, i); /* holes must not be visited */
    unsigned visits[N] = {0};
    size_t pos = 0, len, total = 0;
    const char *key;
    void *value;
    while (fd_map_next(m, &pos, &key, &len, &value)) {
        size_t i = (size_t)(uintptr_t)value - 1;
        assert_true(i < N);
        char k[32];
        size_t klen = key_of(i, k, sizeof k);
        assert_int_equal(len, klen);
        assert_memory_equal(key, k, klen);
        visits[i]++;
        total++;
    }
    for (size_t i = 0; i < N; i++)
        assert_int_equal(visits[i], i % 3 == 0 ? 0 : 1);
    assert_int_equal(total, fd_map_size(m));
    /* The end is sticky. */
    assert_false(fd_map_next(m, &pos, &key, &len, &value));
    fd_map_destroy(m);
}

static void test_map_clear_removes_all_and_map_stays_usable(void **state) {
    (void)state;
    fd_map_t *m;
    assert_int_equal(fd_map_new(&m), FD_OK);
    for (size_t i = 0; i < 100; i++)
        put_key(m, i);
    fd_map_clear(m);
    assert_int_equal(fd_map_size(m), 0);
    for (size_t i = 0; i < 100; i++)
        assert_null(get_key(m, i));
    size_t pos = 0, len;
    const char *key;
    void *value;
    assert_false(fd_map_next(m, &pos, &key, &len, &value));
    for (size_t i = 50; i < 60; i++)
        put_key(m, i);
    assert_int_equal(fd_map_size(m), 10);
    assert_ptr_equal(get_key(m, 55), VAL(55));
    assert_null(get_key(m, 5));
    fd_map_destroy(m); /* ASan: the key copies of both generations are freed */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_new_is_empty),
        cmocka_unit_test(test_map_put_then_get_returns_value),
        cmocka_unit_test(test_map_put_existing_key_overwrites_value),
        cmocka_unit_test(test_map_put_copies_the_key),
        cmocka_unit_test(test_map_del_returns_value_and_removes_key),
        cmocka_unit_test(test_map_keys_with_embedded_nul_are_length_delimited),
        cmocka_unit_test(test_map_empty_key_is_a_key),
        cmocka_unit_test(test_map_grows_to_100k_keys_all_reachable),
        cmocka_unit_test(test_map_delete_small_dense_maps_random_orders_keeps_others),
        cmocka_unit_test(test_map_delete_large_map_random_orders_keeps_others),
        cmocka_unit_test(test_map_interleaved_put_del_matches_model),
        cmocka_unit_test(test_map_iteration_visits_each_key_once),
        cmocka_unit_test(test_map_clear_removes_all_and_map_stays_usable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
