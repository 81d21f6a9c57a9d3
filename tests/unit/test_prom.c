// SPDX-License-Identifier: MIT
// Unit tests of the metrics registry: registration checks, counters, gauges (hidden and shown),
// histogram buckets, bounded label sets, exposition text and escaping, concurrent updates.
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <math.h>

#include <cmocka.h>

#include "base/prom.h"

static char *render(fd_prom_t *r) {
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(fd_prom_render(r, &text, &len), FD_OK);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_prom_counter_renders_help_type_and_value(void **state) {
    (void)state;
    static const fd_prom_def_t def = {"app_events_total", FD_PROM_COUNTER, "Events seen.", {0}};
    fd_prom_t *r;
    fd_prom_family_t *f;
    fd_prom_series_t *s;
    assert_int_equal(fd_prom_new(&r), FD_OK);
    assert_int_equal(fd_prom_register(r, &def, &f), FD_OK);
    assert_int_equal(fd_prom_series(f, NULL, &s), FD_OK);
    fd_prom_add(s, 3);
    fd_prom_add(s, 4);
    assert_true(fd_prom_value(s) == 7.0);
    char *text = render(r);
    assert_string_equal(text, "# HELP app_events_total Events seen.\n"
                              "# TYPE app_events_total counter\n"
                              "app_events_total 7\n");
    free(text);
    fd_prom_destroy(r);
}

static void test_prom_refuses_bad_names_duplicates_and_buckets(void **state) {
    (void)state;
    static const fd_prom_def_t ok = {"a_total", FD_PROM_COUNTER, "h", {0}};
    static const fd_prom_def_t bad_name = {"9lives", FD_PROM_COUNTER, "h", {0}};
    static const fd_prom_def_t bad_label = {"b", FD_PROM_GAUGE, "h", {"a-b"}, 4};
    static const fd_prom_def_t reserved = {"c", FD_PROM_GAUGE, "h", {"__x"}, 4};
    static const fd_prom_def_t twice = {"d", FD_PROM_GAUGE, "h", {"x", "x"}, 4};
    static const fd_prom_def_t le = {"e", FD_PROM_HISTOGRAM, "h", {"le"}, 4, {1, 2}, 2};
    static const fd_prom_def_t unsorted = {"f", FD_PROM_HISTOGRAM, "h", {0}, 1, {2, 1}, 2};
    static const fd_prom_def_t nobuckets = {"g", FD_PROM_HISTOGRAM, "h", {0}, 1, {0}, 0};
    static const fd_prom_def_t inf = {"h", FD_PROM_HISTOGRAM, "h", {0}, 1, {1, INFINITY}, 2};
    static const fd_prom_def_t colon = {"ns:rule_x", FD_PROM_GAUGE, "h", {0}};
    fd_prom_t *r;
    fd_prom_family_t *f;
    assert_int_equal(fd_prom_new(&r), FD_OK);
    assert_int_equal(fd_prom_register(r, &ok, &f), FD_OK);
    assert_int_equal(fd_prom_register(r, &ok, &f), FD_ERR_INVAL);
    assert_null(f);
    const fd_prom_def_t *bad[] = {&bad_name, &bad_label, &reserved,  &twice,
                                  &le,       &unsorted,  &nobuckets, &inf};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(fd_prom_register(r, bad[i], &f), FD_ERR_INVAL);
    assert_int_equal(fd_prom_register(r, &colon, &f), FD_OK);
    fd_prom_destroy(r);
}

static void test_prom_label_sets_are_bounded_and_found_again(void **state) {
    (void)state;
    static const fd_prom_def_t def = {"lag", FD_PROM_GAUGE, "Lag.", {"topic", "partition"}, 2};
    fd_prom_t *r;
    fd_prom_family_t *f;
    fd_prom_series_t *a, *b, *again, *c;
    assert_int_equal(fd_prom_new(&r), FD_OK);
    assert_int_equal(fd_prom_register(r, &def, &f), FD_OK);
    const char *va[] = {"t", "0"}, *vb[] = {"t", "1"}, *vc[] = {"t", "2"}, *vn[] = {"t", NULL};
    assert_int_equal(fd_prom_series(f, va, &a), FD_OK);
    assert_int_equal(fd_prom_series(f, vb, &b), FD_OK);
    assert_ptr_not_equal(a, b);
    assert_int_equal(fd_prom_series(f, va, &again), FD_OK);
    assert_ptr_equal(a, again);
    assert_int_equal(fd_prom_series(f, vc, &c), FD_ERR_FULL);
    assert_null(c);
    assert_int_equal(fd_prom_series(f, vn, &c), FD_ERR_INVAL);
    assert_int_equal(fd_prom_series(f, NULL, &c), FD_ERR_INVAL);
    char big[FD_PROM_VALUE_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *vbig[] = {big, "0"};
    assert_int_equal(fd_prom_series(f, vbig, &c), FD_ERR_INVAL);
    fd_prom_destroy(r);
}

static void test_prom_gauge_hidden_until_set_again(void **state) {
    (void)state;
    static const fd_prom_def_t def = {"off", FD_PROM_GAUGE, "Offset.", {"p"}, 4};
    fd_prom_t *r;
    fd_prom_family_t *f;
    fd_prom_series_t *s0, *s1;
    assert_int_equal(fd_prom_new(&r), FD_OK);
    assert_int_equal(fd_prom_register(r, &def, &f), FD_OK);
    char *text = render(r);
    assert_string_equal(text, "# HELP off Offset.\n# TYPE off gauge\n"); /* no series yet */
    free(text);
    const char *p0[] = {"0"}, *p1[] = {"1"};
    assert_int_equal(fd_prom_series(f, p0, &s0), FD_OK);
    assert_int_equal(fd_prom_series(f, p1, &s1), FD_OK);
    fd_prom_set(s0, 12);
    fd_prom_set(s1, -0.25);
    fd_prom_hide(s0);
    text = render(r);
    assert_string_equal(text, "# HELP off Offset.\n# TYPE off gauge\noff{p=\"1\"} -0.25\n");
    free(text);
    fd_prom_set(s0, 1e20);
    fd_prom_set(s1, NAN);
    text = render(r);
    assert_string_equal(text, "# HELP off Offset.\n# TYPE off gauge\noff{p=\"0\"} 1e+20\n"
                              "off{p=\"1\"} NaN\n");
    free(text);
    fd_prom_set(s1, -INFINITY);
    assert_true(isinf(fd_prom_value(s1)));
    fd_prom_destroy(r);
}

static void test_prom_histogram_buckets_are_cumulative(void **state) {
    (void)state;
    static const fd_prom_def_t def = {
        "d_seconds", FD_PROM_HISTOGRAM, "Durations.", {0}, 1, {0.005, 0.1, 1}, 3};
    fd_prom_t *r;
    fd_prom_family_t *f;
    fd_prom_series_t *s;
    assert_int_equal(fd_prom_new(&r), FD_OK);
    assert_int_equal(fd_prom_register(r, &def, &f), FD_OK);
    assert_int_equal(fd_prom_series(f, NULL, &s), FD_OK);
    fd_prom_observe(s, 0.005); /* on the bound: counted in that bucket */
    fd_prom_observe(s, 0.05);
    fd_prom_observe(s, 0.5);
    fd_prom_observe(s, 7);
    assert_true(fd_prom_value(s) == 4.0);
    char *text = render(r);
    assert_string_equal(text, "# HELP d_seconds Durations.\n# TYPE d_seconds histogram\n"
                              "d_seconds_bucket{le=\"0.005\"} 1\n"
                              "d_seconds_bucket{le=\"0.1\"} 2\n"
                              "d_seconds_bucket{le=\"1\"} 3\n"
                              "d_seconds_bucket{le=\"+Inf\"} 4\n"
                              "d_seconds_sum 7.555\n"
                              "d_seconds_count 4\n");
    free(text);
    fd_prom_destroy(r);
}

static void test_prom_escapes_help_and_label_values(void **state) {
    (void)state;
    static const fd_prom_def_t def = {
        "x_total", FD_PROM_COUNTER, "A \\ and\na \"quote\".", {"why"}, 4};
    static const fd_prom_def_t hist = {"h_seconds", FD_PROM_HISTOGRAM, "H.", {"kind"}, 4, {1}, 1};
    fd_prom_t *r;
    fd_prom_family_t *f, *h;
    fd_prom_series_t *s, *hs;
    assert_int_equal(fd_prom_new(&r), FD_OK);
    assert_int_equal(fd_prom_register(r, &def, &f), FD_OK);
    assert_int_equal(fd_prom_register(r, &hist, &h), FD_OK);
    const char *v[] = {"a\"b\\c\nd"}, *k[] = {"x"};
    assert_int_equal(fd_prom_series(f, v, &s), FD_OK);
    assert_int_equal(fd_prom_series(h, k, &hs), FD_OK);
    fd_prom_add(s, 1);
    fd_prom_observe(hs, 2);
    char *text = render(r);
    /* HELP escapes only backslash and newline; label values also the double quote */
    assert_string_equal(text, "# HELP x_total A \\\\ and\\na \"quote\".\n"
                              "# TYPE x_total counter\n"
                              "x_total{why=\"a\\\"b\\\\c\\nd\"} 1\n"
                              "# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
                              "h_seconds_bucket{kind=\"x\",le=\"1\"} 0\n"
                              "h_seconds_bucket{kind=\"x\",le=\"+Inf\"} 1\n"
                              "h_seconds_sum{kind=\"x\"} 2\n"
                              "h_seconds_count{kind=\"x\"} 1\n");
    free(text);
    fd_prom_destroy(r);
}

/* Four threads add, observe and create series while a fifth renders: nothing is lost. */
#define THREADS 4
#define ROUNDS  20000
typedef struct {
    fd_prom_family_t *c, *h, *g;
    int id;
} worker_t;

static void *work(void *arg) {
    worker_t *w = arg;
    fd_prom_series_t *c, *h, *g;
    char id[8];
    snprintf(id, sizeof id, "%d", w->id % 2); /* two threads race to create each series */
    const char *v[] = {id};
    for (int i = 0; i < ROUNDS; i++) {
        if (fd_prom_series(w->c, NULL, &c) != FD_OK || fd_prom_series(w->h, NULL, &h) != FD_OK ||
            fd_prom_series(w->g, v, &g) != FD_OK)
            return (void *)1;
        fd_prom_add(c, 1);
        fd_prom_observe(h, 0.5);
        fd_prom_set(g, i);
    }
    return NULL;
}

static void *scrape(void *arg) {
    fd_prom_t *r = arg;
    for (int i = 0; i < 50; i++) {
        char *text;
        size_t len;
        if (fd_prom_render(r, &text, &len) != FD_OK) return (void *)1;
        free(text);
    }
    return NULL;
}

static void test_prom_concurrent_updates_are_all_counted(void **state) {
    (void)state;
    static const fd_prom_def_t dc = {"c_total", FD_PROM_COUNTER, "C.", {0}};
    static const fd_prom_def_t dh = {"h", FD_PROM_HISTOGRAM, "H.", {0}, 1, {1}, 1};
    static const fd_prom_def_t dg = {"g", FD_PROM_GAUGE, "G.", {"w"}, 2};
    fd_prom_t *r;
    worker_t w[THREADS];
    pthread_t t[THREADS + 1];
    assert_int_equal(fd_prom_new(&r), FD_OK);
    assert_int_equal(fd_prom_register(r, &dc, &w[0].c), FD_OK);
    assert_int_equal(fd_prom_register(r, &dh, &w[0].h), FD_OK);
    assert_int_equal(fd_prom_register(r, &dg, &w[0].g), FD_OK);
    for (int i = 0; i < THREADS; i++) {
        w[i] = w[0];
        w[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    assert_int_equal(pthread_create(&t[THREADS], NULL, scrape, r), 0);
    for (int i = 0; i <= THREADS; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    fd_prom_series_t *c, *h;
    assert_int_equal(fd_prom_series(w[0].c, NULL, &c), FD_OK);
    assert_int_equal(fd_prom_series(w[0].h, NULL, &h), FD_OK);
    assert_true(fd_prom_value(c) == (double)THREADS * ROUNDS);
    assert_true(fd_prom_value(h) == (double)THREADS * ROUNDS);
    char *text = render(r);
    assert_non_null(strstr(text, "h_sum 40000\n"));
    assert_non_null(strstr(text, "g{w=\"0\"} 19999\n"));
    assert_non_null(strstr(text, "g{w=\"1\"} 19999\n"));
    free(text);
    fd_prom_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_counter_renders_help_type_and_value),
        cmocka_unit_test(test_prom_refuses_bad_names_duplicates_and_buckets),
        cmocka_unit_test(test_prom_label_sets_are_bounded_and_found_again),
        cmocka_unit_test(test_prom_gauge_hidden_until_set_again),
        cmocka_unit_test(test_prom_histogram_buckets_are_cumulative),
        cmocka_unit_test(test_prom_escapes_help_and_label_values),
        cmocka_unit_test(test_prom_concurrent_updates_are_all_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
