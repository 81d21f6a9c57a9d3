// SPDX-License-Identifier: MIT
// Integration tests of fd_store_reload (src/lua/reload.lua) against a private redis-server: the
// stored offset and dedupe horizon read again under the claim held, without a new epoch; FENCED
// once another claim took the partition, GAP while a staged batch waits on it, PARSE for a key of
// the wrong type; the offset and horizon untouched on every refusal.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/store.h"
#include "model/dedupe.h"
#include "model/funnel.h"
#include "redis_fixture.h"

#define TOPIC "crm.events"
#define PART  "funnel:part:" TOPIC ":3"
#define DEDUP "funnel:dedupe:" TOPIC ":3"

static const char *const stages[] = {"lead", "won"};
static const char *const kinds[] = {"call"};

typedef struct {
    fd_redis_fixture_t fx;
    redisContext *cli;
    fd_funnel_t *fn;
    fd_store_t *st, *other;
    fd_dedupe_t *dd;
} world_t;

static world_t W;

static int setup(void **state) {
    memset(&W, 0, sizeof W);
    if (fd_redis_fixture_start(&W.fx) != 0) return -1;
    if ((W.cli = fd_redis_fixture_connect(&W.fx)) == NULL) return -1;
    char errstr[256];
    if (fd_funnel_new(stages, 2, kinds, 1, &W.fn, errstr, sizeof errstr) != FD_OK) return -1;
    fd_store_opts_t o = {
        .host = "127.0.0.1", .port = W.fx.port, .timeout_ms = 2000, .prefix = "funnel"};
    if (fd_store_new(W.fn, &o, &W.st) != FD_OK || fd_store_new(W.fn, &o, &W.other) != FD_OK ||
        fd_dedupe_new(100, &W.dd) != FD_OK)
        return -1;
    *state = &W;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    fd_dedupe_destroy(W.dd);
    fd_store_destroy(W.st);
    fd_store_destroy(W.other);
    fd_funnel_destroy(W.fn);
    if (W.cli) redisFree(W.cli);
    fd_redis_fixture_stop(&W.fx);
    return 0;
}

static redisReply *cmd(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(W.cli, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

static void run(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(W.cli, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

static long long part_epoch(void) {
    redisReply *r = cmd("HGET " PART " epoch");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    long long e = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return e;
}

/* Whether event id is in dd (checked by adding it: a seen id is not fresh; a fresh one is
 * added). */
static bool remembers(fd_dedupe_t *dd, const char *id) {
    bool fresh = false;
    assert_int_equal(fd_dedupe_check_add(dd, id, strlen(id), &fresh), FD_OK);
    return !fresh;
}

/* The stored form of event ids (as an apply appends them to the dedupe list) into out. */
static size_t stored_ids(const char *const *ids, size_t n, char *out) {
    fd_dedupe_t *dd;
    assert_int_equal(fd_dedupe_new(100, &dd), FD_OK);
    for (size_t i = 0; i < n; i++)
        assert_false(remembers(dd, ids[i]));
    size_t count = 0;
    const void *blob = fd_dedupe_pending(dd, &count);
    assert_int_equal(count, n);
    memcpy(out, blob, n * FD_DEDUPE_ID_BYTES);
    fd_dedupe_destroy(dd);
    return n * FD_DEDUPE_ID_BYTES;
}

static void test_store_reload_reads_offset_and_horizon_under_the_claim_held(void **state) {
    (void)state;
    run("FLUSHALL");
    char token[FD_TOKEN_MAX + 1];
    int64_t next = 99;
    assert_int_equal(fd_store_claim(W.st, TOPIC, 3, "inst-a", token, sizeof token, &next, W.dd),
                     FD_OK);
    assert_int_equal(next, -1);
    assert_int_equal(part_epoch(), 1);

    /* nothing stored yet: no offset, an empty horizon */
    next = 99;
    assert_int_equal(fd_store_reload(W.st, TOPIC, 3, token, &next, W.dd), FD_OK);
    assert_int_equal(next, -1);
    assert_int_equal(fd_dedupe_count(W.dd), 0);

    /* what two applies would have left: next 42, two dedupe chunks of 2 and 1 ids */
    static const char *const first[] = {"e-1", "e-2"}, *const second[] = {"e-3"};
    char chunk1[2 * FD_DEDUPE_ID_BYTES], chunk2[FD_DEDUPE_ID_BYTES];
    size_t len1 = stored_ids(first, 2, chunk1), len2 = stored_ids(second, 1, chunk2);
    run("HSET " PART " next 42");
    run("RPUSH " DEDUP " %b %b", chunk1, len1, chunk2, len2);
    /* the horizon in memory holds ids of a batch that was never applied: the reload replaces it */
    assert_false(remembers(W.dd, "never-applied"));
    assert_int_equal(fd_store_reload(W.st, TOPIC, 3, token, &next, W.dd), FD_OK);
    assert_int_equal(next, 42);
    assert_int_equal(fd_dedupe_count(W.dd), 3);
    assert_true(remembers(W.dd, "e-1"));
    assert_true(remembers(W.dd, "e-2"));
    assert_true(remembers(W.dd, "e-3"));
    assert_false(remembers(W.dd, "never-applied"));
    /* no new claim: the epoch and token are those of the claim */
    assert_int_equal(part_epoch(), 1);
    redisReply *r = cmd("HGET " PART " token");
    assert_string_equal(r->str, token);
    freeReplyObject(r);
}

static void test_store_reload_refusals_leave_offset_and_horizon_untouched(void **state) {
    (void)state;
    run("FLUSHALL");
    char token[FD_TOKEN_MAX + 1], newer[FD_TOKEN_MAX + 1];
    int64_t next = -1;
    fd_dedupe_t *dd2;
    assert_int_equal(fd_dedupe_new(100, &dd2), FD_OK);
    assert_int_equal(fd_store_claim(W.st, TOPIC, 3, "inst-a", token, sizeof token, &next, W.dd),
                     FD_OK);
    run("HSET " PART " next 7");
    assert_false(remembers(W.dd, "kept"));
    size_t count = fd_dedupe_count(W.dd);

    /* a staged batch waits on the partition: a claim must finish it first */
    run("HSET " PART " staged %s", TOPIC ":3:0:7");
    next = 5;
    assert_int_equal(fd_store_reload(W.st, TOPIC, 3, token, &next, W.dd), FD_ERR_GAP);
    assert_non_null(strstr(fd_store_errstr(W.st), "staged"));
    assert_int_equal(next, 5);
    run("HDEL " PART " staged");

    /* another instance claimed the partition: the old token is fenced */
    assert_int_equal(fd_store_claim(W.other, TOPIC, 3, "inst-b", newer, sizeof newer, &next, dd2),
                     FD_OK);
    assert_int_equal(next, 7);
    next = 5;
    assert_int_equal(fd_store_reload(W.st, TOPIC, 3, token, &next, W.dd), FD_ERR_FENCED);
    assert_int_equal(next, 5);
    assert_int_equal(fd_dedupe_count(W.dd), count);
    assert_true(remembers(W.dd, "kept"));
    assert_int_equal(part_epoch(), 2);
    /* the newer owner reloads fine */
    assert_int_equal(fd_store_reload(W.other, TOPIC, 3, newer, &next, dd2), FD_OK);
    assert_int_equal(next, 7);

    /* a dedupe key of the wrong type: malformed data, not a transient failure */
    run("DEL " DEDUP);
    run("SET " DEDUP " x");
    next = 5;
    assert_int_equal(fd_store_reload(W.other, TOPIC, 3, newer, &next, dd2), FD_ERR_PARSE);
    assert_int_equal(next, 5);
    fd_dedupe_destroy(dd2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_reload_reads_offset_and_horizon_under_the_claim_held),
        cmocka_unit_test(test_store_reload_refusals_leave_offset_and_horizon_untouched),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
