// SPDX-License-Identifier: MIT
// Integration tests of the Redis store against a private redis-server: the atomic apply with its
// field layout and formatting, retries, fencing, gaps, dedupe horizons, deal loads, reconnects,
// lost scripts and authentication. Expected values are worked out by hand from docs/redis.md.
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "model/batch.h"
#include "model/dealcache.h"
#include "model/dedupe.h"
#include "model/event.h"
#include "model/funnel.h"
#include "io/keys.h"
#include "io/store.h"
#include "model/timewin.h"
#include "redis_fixture.h"

#define TOPIC "crm.events"
#define ANNA  "anna@corp.example"
#define DAY   "2026-11-22"
/* "now" for retention decisions: the evening of the test day */
#define NOW_S 1795377600 /* 2026-11-22T20:00:00Z */

static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
static const char *const kinds[] = {"call", "visit", "email", "meeting", "follow_up"};

/* Shared by one group: its redis-server, the funnel and the windows. */
typedef struct {
    fd_redis_fixture_t fx;
    fd_funnel_t *fn;
    fd_timewin_t *tw;
    redisContext *cli; /* the test's own client, for assertions */
} world_t;

static world_t plain, secured;

/* One consumer of one partition: store, caches, batch, claim token, next offset. */
typedef struct {
    world_t *w;
    fd_store_t *st;
    fd_dealcache_t *dc;
    fd_dedupe_t *dd;
    fd_batch_t *b;
    char token[FD_TOKEN_MAX + 1];
    int64_t from; /* stored offset the next batch continues from */
} consumer_t;

/* ---- world ---- */

static int world_setup(world_t *w, const char *password) {
    memset(w, 0, sizeof *w);
    w->fx.password = password;
    if (fd_redis_fixture_start(&w->fx) != 0) return -1;
    char errstr[256];
    if (fd_funnel_new(stages, 5, kinds, 5, &w->fn, errstr, sizeof errstr) != FD_OK ||
        fd_timewin_new("UTC", &w->tw, errstr, sizeof errstr) != FD_OK) {
        fprintf(stderr, "setup: %s\n", errstr);
        return -1;
    }
    w->cli = fd_redis_fixture_connect(&w->fx);
    return w->cli != NULL ? 0 : -1;
}

static void world_teardown(world_t *w) {
    if (w->cli != NULL) redisFree(w->cli);
    w->cli = NULL;
    fd_timewin_destroy(w->tw);
    fd_funnel_destroy(w->fn);
    fd_redis_fixture_stop(&w->fx);
}

static int plain_setup(void **state) {
    (void)state;
    return world_setup(&plain, NULL);
}
static int plain_teardown(void **state) {
    (void)state;
    world_teardown(&plain);
    return 0;
}
static int secured_setup(void **state) {
    (void)state;
    return world_setup(&secured, "s3cret-pw");
}
static int secured_teardown(void **state) {
    (void)state;
    world_teardown(&secured);
    return 0;
}

/* The test client reconnects when a test restarted the server. */
static redisReply *cmd(world_t *w, const char *fmt, ...) {
    for (int attempt = 0; attempt < 2; attempt++) {
        if (w->cli == NULL) w->cli = fd_redis_fixture_connect(&w->fx);
        assert_non_null(w->cli);
        va_list ap;
        va_start(ap, fmt);
        redisReply *r = redisvCommand(w->cli, fmt, ap);
        va_end(ap);
        if (r != NULL) return r;
        redisFree(w->cli);
        w->cli = NULL;
    }
    fail_msg("command %s failed twice", fmt);
    return NULL;
}

static void flushall(world_t *w) {
    freeReplyObject(cmd(w, "FLUSHALL"));
}

static long long cmd_int(world_t *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    assert_non_null(w->cli);
    redisReply *r = redisvCommand(w->cli, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* HGET as a heap string, NULL when absent. */
static char *hget(world_t *w, const char *key, const char *field) {
    redisReply *r = cmd(w, "HGET %s %s", key, field);
    char *v = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return v;
}

static void assert_hget(world_t *w, const char *key, const char *field, const char *want) {
    char *v = hget(w, key, field);
    if (want == NULL) {
        if (v != NULL) fail_msg("%s %s: expected absent, found '%s'", key, field, v);
    } else {
        if (v == NULL) fail_msg("%s %s: expected '%s', found nothing", key, field, want);
        if (strcmp(v, want) != 0) fail_msg("%s %s: expected '%s', found '%s'", key, field, want, v);
    }
    free(v);
}

/* The hash at key holds exactly the NULL-terminated field/value pairs of want. */
static void assert_hash(world_t *w, const char *key, const char *const *want) {
    size_t nwant = 0;
    while (want[2 * nwant] != NULL)
        nwant++;
    redisReply *r = cmd(w, "HGETALL %s", key);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
        size_t j = 0;
        while (j < nwant && strcmp(want[2 * j], f) != 0)
            j++;
        if (j == nwant) fail_msg("%s: unexpected field %s = '%s'", key, f, v);
        if (strcmp(want[2 * j + 1], v) != 0)
            fail_msg("%s %s: expected '%s', found '%s'", key, f, want[2 * j + 1], v);
    }
    if (r->elements != 2 * nwant) {
        size_t got = r->elements / 2;
        freeReplyObject(r);
        for (size_t j = 0; j < nwant; j++)
            assert_hget(w, key, want[2 * j], want[2 * j + 1]);
        fail_msg("%s: %zu fields, expected %zu", key, got, nwant);
    }
    freeReplyObject(r);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Everything in the database as one string (sorted keys with their expiry times and DUMPs), to show
 * that a refused apply wrote nothing. */
static char *snapshot(world_t *w) {
    redisReply *keys = cmd(w, "KEYS *");
    assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
    char **names = calloc(keys->elements + 1, sizeof *names);
    for (size_t i = 0; i < keys->elements; i++)
        names[i] = keys->element[i]->str;
    qsort(names, keys->elements, sizeof *names, cmp_str);
    size_t size = 1, used = 0;
    char *out = calloc(1, 1);
    for (size_t i = 0; i < keys->elements; i++) {
        redisReply *d = cmd(w, "DUMP %s", names[i]);
        long long ttl = cmd_int(w, "EXPIRETIME %s", names[i]);
        size_t need = strlen(names[i]) + 2 * d->len + 64;
        out = realloc(out, size + need);
        size += need;
        used += (size_t)sprintf(out + used, "%s=%lld:", names[i], ttl);
        for (size_t j = 0; j < d->len; j++)
            used += (size_t)sprintf(out + used, "%02x", (unsigned char)d->str[j]);
        out[used++] = '\n';
        out[used] = '\0';
        freeReplyObject(d);
    }
    free(names);
    freeReplyObject(keys);
    return out;
}

/* ---- events ---- */

static int64_t ms(const char *rfc3339) {
    int64_t v;
    assert_int_equal(fd_event_parse_time(rfc3339, strlen(rfc3339), &v), FD_OK);
    return v;
}

static fd_event_t event(fd_event_type_t type, const char *id, const char *rep, const char *team,
                        const char *deal, const char *at) {
    fd_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    snprintf(ev.event_id, sizeof ev.event_id, "%s", id);
    ev.event_id_len = (uint8_t)strlen(id);
    snprintf(ev.rep_id, sizeof ev.rep_id, "%s", rep);
    snprintf(ev.team_id, sizeof ev.team_id, "%s", team);
    snprintf(ev.deal_id, sizeof ev.deal_id, "%s", deal);
    ev.occurred_ms = ms(at);
    ev.stage = -1;
    ev.activity = -1;
    ev.amount_c = -1;
    ev.score_c = -1;
    return ev;
}

static fd_event_t with_stage(fd_event_t ev, int stage) {
    ev.stage = stage;
    return ev;
}
static fd_event_t with_amount(fd_event_t ev, int64_t amount_c) {
    ev.amount_c = amount_c;
    return ev;
}

static fd_event_t activity(const char *id, const char *rep, const char *at, int kind) {
    fd_event_t ev = event(FD_ACTIVITY_LOGGED, id, rep, "emea", "", at);
    ev.activity = kind;
    return ev;
}

/* ---- consumers ---- */

static fd_store_opts_t opts_for(world_t *w, const char *user, const char *password) {
    return (fd_store_opts_t){.host = "127.0.0.1",
                             .port = w->fx.port,
                             .user = user,
                             .password = password,
                             .db = 0,
                             .timeout_ms = 2000,
                             .prefix = "funnel"};
}

static void consumer_init_opts(consumer_t *c, world_t *w, const fd_store_opts_t *o,
                               size_t dedupe_max) {
    memset(c, 0, sizeof *c);
    c->w = w;
    assert_int_equal(fd_store_new(w->fn, o, &c->st), FD_OK);
    assert_int_equal(fd_dealcache_new(w->fn, 1000, &c->dc), FD_OK);
    assert_int_equal(fd_dedupe_new(dedupe_max, &c->dd), FD_OK);
    fd_batch_opts_t bo = {.retention_days = {0, 400, 0, 0, 0}};
    assert_int_equal(fd_batch_new(w->fn, w->tw, &bo, &c->b), FD_OK);
    assert_non_null(c->st);
    assert_non_null(c->b);
}

static void consumer_init(consumer_t *c, world_t *w, size_t dedupe_max) {
    fd_store_opts_t o = opts_for(w, NULL, NULL);
    consumer_init_opts(c, w, &o, dedupe_max);
}

/* A consumer whose store gives up on a command after 150 ms: while every client is paused
 * (pause_clients), its next command times out. */
static void consumer_init_impatient(consumer_t *c, world_t *w) {
    fd_store_opts_t o = opts_for(w, NULL, NULL);
    o.timeout_ms = 150;
    consumer_init_opts(c, w, &o, 100);
}

/* Pauses every client of w for 600 ms. */
static void pause_clients(world_t *w) {
    freeReplyObject(cmd(w, "CLIENT PAUSE 600 ALL"));
}

/* Sleeps until a pause_clients pause is over. */
static void wait_pause_over(void) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 700000000L};
    nanosleep(&ts, NULL);
}

static void consumer_clear(consumer_t *c) {
    fd_batch_destroy(c->b);
    fd_dedupe_destroy(c->dd);
    fd_dealcache_destroy(c->dc);
    fd_store_destroy(c->st);
}

static void claim(consumer_t *c) {
    fd_err_t err =
        fd_store_claim(c->st, TOPIC, 0, "inst-a", c->token, sizeof c->token, &c->from, c->dd);
    if (err != FD_OK) fail_msg("claim: %s: %s", fd_err_name(err), fd_store_errstr(c->st));
}

/* Folds evs into b (part 0 continuing at from), loading deals through the store rd. */
static void fold_into(consumer_t *c, fd_store_t *rd, fd_batch_t *b, int64_t from,
                      const fd_event_t *evs, size_t n) {
    fd_batch_reset(b);
    int part = -1;
    assert_int_equal(fd_batch_part(b, TOPIC, 0, c->token, from, c->dd, &part), FD_OK);
    const char *ids[64];
    size_t nids = 0;
    for (size_t i = 0; i < n; i++)
        if (evs[i].type <= FD_DEAL_LOST) ids[nids++] = evs[i].deal_id;
    fd_err_t err = fd_store_load_deals(rd, c->dc, ids, nids);
    if (err != FD_OK) fail_msg("load deals: %s: %s", fd_err_name(err), fd_store_errstr(rd));
    int64_t offset = from < 0 ? 0 : from;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fd_batch_add(b, part, c->dc, &evs[i], offset + (int64_t)i, NOW_S), FD_OK);
}

/* Folds events (offsets continuing from c->from) into a fresh batch; deals loaded first. */
static void fold(consumer_t *c, const fd_event_t *evs, size_t n) {
    fold_into(c, c->st, c->b, c->from, evs, n);
}

static fd_err_t apply(consumer_t *c, bool *already) {
    return fd_store_apply(c->st, c->b, c->dc, already);
}

/* Applies the folded batch, expecting FD_OK (not a retry), and marks it applied. */
static void apply_ok(consumer_t *c) {
    bool already = true;
    fd_err_t err = apply(c, &already);
    if (err != FD_OK) fail_msg("apply: %s: %s", fd_err_name(err), fd_store_errstr(c->st));
    assert_false(already);
    c->from = fd_batch_part_at(c->b, 0)->next;
    fd_dedupe_mark_applied(c->dd);
    fd_dealcache_mark_applied(c->dc);
}

static void run_batch(consumer_t *c, const fd_event_t *evs, size_t n) {
    fold(c, evs, n);
    apply_ok(c);
}

/* ---- the worked example: one batch of anna's day ---- */

static void anna_day(fd_event_t *evs) {
    int proposal = 2;
    evs[0] =
        with_amount(event(FD_DEAL_CREATED, "e1", ANNA, "emea", "d1", DAY "T09:00:00Z"), 100000);
    evs[1] = with_stage(event(FD_DEAL_STAGE_CHANGED, "e2", ANNA, "emea", "d1", DAY "T15:00:00Z"),
                        proposal);
    evs[2] = activity("e3", ANNA, DAY "T15:00:00Z", 0);
    evs[3] = event(FD_FEEDBACK_RECEIVED, "e4", ANNA, "emea", "", DAY "T16:00:00Z");
    evs[3].score_c = 450;
    evs[3].complaint = true;
    evs[4] = with_amount(event(FD_DEAL_WON, "e5", ANNA, "emea", "d1", DAY "T18:00:00Z"), 105400);
    evs[5] = event(FD_DEAL_CREATED, "e6", ANNA, "emea", "d2", DAY "T10:00:00Z");
    evs[6] = event(FD_DEAL_LOST, "e7", ANNA, "emea", "d2", DAY "T11:00:00Z");
}

/* d1: lead 09:00 -> proposal 15:00 (qualified back-filled, 6 h in lead) -> won 18:00
 * (negotiation back-filled, 3 h in proposal); d2: created 10:00, lost 11:00 at lead. */
static const char *const anna_fields[] = {
    "entered:lead", "2", "advanced:lead", "1", "moved_on:lead", "1", "lost_at:lead", "1",
    "dwell_sum_ms:lead", "21600000", "dwell_count:lead", "1", "conv:lead", "0.5000",
    "exit_conv:lead", "0.5000", "dwell_hours:lead", "6.00", "entered:qualified", "1",
    "advanced:qualified", "1", "moved_on:qualified", "1", "conv:qualified", "1.0000",
    "exit_conv:qualified", "1.0000", "entered:proposal", "1", "advanced:proposal", "1",
    "moved_on:proposal", "1", "dwell_sum_ms:proposal", "10800000", "dwell_count:proposal", "1",
    "conv:proposal", "1.0000", "exit_conv:proposal", "1.0000", "dwell_hours:proposal", "3.00",
    "entered:negotiation", "1", "advanced:negotiation", "1", "moved_on:negotiation", "1",
    "conv:negotiation", "1.0000", "exit_conv:negotiation", "1.0000", "entered:won", "1", "won", "1",
    "lost", "1", "won_amount", "1054.00", "win_rate", "0.5000", "activity:call", "1",
    "feedback_count", "1", "feedback_sum", "4.50", "feedback_avg", "4.50", "complaints", "1",
    "events", "7",
    /* d1 won 9 h after its first stage entry: 32400000 / 86400000 = 0.375,
     * printed "%.2f" (a tie, to even) */
    "cycle_sum_ms", "32400000", "cycle_count", "1", "cycle_days", "0.38", "avg_won_amount",
    "1054.00",
    /* no open pipeline: d1 won, d2 lost (zero is absent) */
    NULL};

static void test_store_apply_writes_every_field_of_every_scope_and_window(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    assert_int_equal(c.from, -1);
    fd_event_t evs[7];
    anna_day(evs);
    run_batch(&c, evs, 7);

    static const char *const keys[] = {"funnel:rep:day:" DAY ":" ANNA,
                                       "funnel:rep:all:" ANNA,
                                       "funnel:rep:week:2026-W47:" ANNA,
                                       "funnel:rep:month:2026-11:" ANNA,
                                       "funnel:rep:quarter:2026-Q4:" ANNA,
                                       "funnel:team:day:" DAY ":emea",
                                       "funnel:team:week:2026-W47:emea",
                                       "funnel:team:month:2026-11:emea",
                                       "funnel:team:quarter:2026-Q4:emea",
                                       "funnel:team:all:emea",
                                       "funnel:org:day:" DAY,
                                       "funnel:org:week:2026-W47",
                                       "funnel:org:month:2026-11",
                                       "funnel:org:quarter:2026-Q4",
                                       "funnel:org:all"};
    assert_int_equal(sizeof keys / sizeof *keys, 15); /* 3 scopes x 5 windows */
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        assert_hash(w, keys[i], anna_fields);
    /* and nothing else of that form: exactly 15 metric hashes */
    redisReply *mk = cmd(w, "KEYS funnel:*");
    size_t metric = 0;
    for (size_t i = 0; i < mk->elements; i++) {
        const char *k = mk->element[i]->str;
        if (strncmp(k, "funnel:rep:", 11) == 0 || strncmp(k, "funnel:team:", 12) == 0 ||
            strncmp(k, "funnel:org:", 11) == 0)
            metric++;
    }
    freeReplyObject(mk);
    assert_int_equal(metric, 15);

    /* day windows expire 400 days after their end (2026-11-23T00:00Z); the others are kept */
    assert_int_equal(cmd_int(w, "EXPIRETIME funnel:rep:day:" DAY ":" ANNA), 1829952000);
    assert_int_equal(cmd_int(w, "EXPIRETIME funnel:org:day:" DAY), 1829952000);
    assert_int_equal(cmd_int(w, "EXPIRETIME funnel:rep:all:" ANNA), -1);
    assert_int_equal(cmd_int(w, "EXPIRETIME funnel:team:week:2026-W47:emea"), -1);

    static const char *const stats[] = {"accepted", "7", "batches", "1", NULL};
    assert_hash(w, "funnel:stats", stats);
    assert_hget(w, "funnel:part:" TOPIC ":0", "next", "7");
    assert_hget(w, "funnel:part:" TOPIC ":0", "dedupe_n", "7");
    assert_hget(w, "funnel:part:" TOPIC ":0", "epoch", "1");
    assert_hget(w, "funnel:part:" TOPIC ":0", "token", c.token);
    assert_int_equal(strncmp(c.token, "1:inst-a:", 9), 0);
    assert_int_equal(strlen(c.token), 9 + 16);
    /* both deals stored */
    assert_int_equal(cmd_int(w, "EXISTS funnel:deal:d1 funnel:deal:d2"), 2);

    /* the store's own read of a metrics hash */
    char **f, **v;
    size_t n;
    assert_int_equal(fd_store_read_hash(c.st, "org:all", &f, &v, &n), FD_OK);
    assert_int_equal(n, 42);
    fd_store_free_fields(f, v, n);
    assert_int_equal(fd_store_read_hash(c.st, "org:all:nobody", &f, &v, &n), FD_ERR_NOTFOUND);
    consumer_clear(&c);
}

/* ---- pipelined applies: the next batch folds while the first is in flight ---- */

/* Batch 2 folds and its command is built while batch 1's apply runs (prepare), then is sent
 * once batch 1 answered: the result equals the one-batch worked example. */
static void test_store_pipelined_batches_equal_one_batch(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    fd_store_opts_t o = opts_for(w, NULL, NULL);
    fd_store_t *rd = NULL;
    assert_int_equal(fd_store_new(w->fn, &o, &rd), FD_OK);
    fd_batch_opts_t bo = {.retention_days = {0, 400, 0, 0, 0}};
    fd_batch_t *b2 = NULL;
    assert_int_equal(fd_batch_new(w->fn, w->tw, &bo, &b2), FD_OK);
    assert_non_null(rd);
    assert_non_null(b2);
    claim(&c);
    fd_event_t evs[7];
    anna_day(evs);
    /* batch 1: d1 created and moved to proposal, a call, feedback; sent, not answered */
    fold(&c, evs, 4);
    assert_int_equal(fd_store_apply_send(c.st, c.b, c.dc), FD_OK);
    assert_true(fd_store_apply_inflight(c.st));
    int64_t next1 = fd_batch_part_at(c.b, 0)->next;
    fd_dedupe_mark_applied(c.dd);
    fd_dealcache_mark_sent(c.dc);
    /* the connection is taken: other calls are refused, reads go through the second store */
    char **f, **v;
    size_t n;
    assert_int_equal(fd_store_read_hash(c.st, "org:all", &f, &v, &n), FD_ERR_INVAL);
    /* batch 2 folds meanwhile: d1 won (its state is batch 1's, cached), d2 read from Redis */
    fold_into(&c, rd, b2, next1, evs + 4, 3);
    /* its command is built while batch 1 runs, and sent only once that one answered */
    assert_int_equal(fd_store_apply_send_prepared(c.st), FD_ERR_INVAL); /* nothing prepared */
    assert_int_equal(fd_store_apply_prepare(c.st, b2, c.dc), FD_OK);
    assert_int_equal(fd_store_apply_send_prepared(c.st), FD_ERR_INVAL); /* batch 1 in flight */
    bool already = true;
    assert_int_equal(fd_store_apply_wait(c.st, c.b, &already), FD_OK);
    assert_false(already);
    assert_false(fd_store_apply_inflight(c.st));
    /* after batch 1 d1 is open at proposal (1000.00), in the all hashes only; d2 not seen yet */
    static const char rep_all[] = "funnel:rep:all:" ANNA;
    static const char *const scopes[] = {rep_all, "funnel:team:all:emea", "funnel:org:all"};
    for (size_t i = 0; i < 3; i++) {
        assert_hget(w, scopes[i], "open:proposal", "1");
        assert_hget(w, scopes[i], "open_amount:proposal", "1000.00");
        assert_hget(w, scopes[i], "open", "1");
        assert_hget(w, scopes[i], "open_amount", "1000.00");
        assert_hget(w, scopes[i], "open:lead", NULL);
    }
    assert_hget(w, "funnel:org:day:" DAY, "open", NULL);
    assert_hget(w, "funnel:rep:month:2026-11:" ANNA, "open:proposal", NULL);
    fd_dealcache_trim(c.dc);
    assert_int_equal(fd_store_apply_send_prepared(c.st), FD_OK);
    fd_dedupe_mark_applied(c.dd);
    fd_dealcache_mark_sent(c.dc);
    assert_int_equal(fd_store_apply_wait(c.st, b2, &already), FD_OK);
    assert_false(already);
    /* the same hashes as the one-batch worked example */
    assert_hash(w, "funnel:rep:all:" ANNA, anna_fields);
    assert_hash(w, "funnel:org:day:" DAY, anna_fields);
    assert_hash(w, "funnel:team:week:2026-W47:emea", anna_fields);
    static const char *const stats[] = {"accepted", "7", "batches", "2", NULL};
    assert_hash(w, "funnel:stats", stats);
    assert_hget(w, "funnel:part:" TOPIC ":0", "next", "7");
    assert_hget(w, "funnel:part:" TOPIC ":0", "dedupe_n", "7");
    fd_batch_destroy(b2);
    fd_store_destroy(rd);
    consumer_clear(&c);
}

static void test_store_inflight_apply_resent_after_timeout_counts_once(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init_impatient(&c, w);
    claim(&c);
    fd_event_t evs[7];
    anna_day(evs);
    fold(&c, evs, 7);
    pause_clients(w); /* the answer does not come in time */
    assert_int_equal(fd_store_apply_send(c.st, c.b, c.dc), FD_OK);
    bool already = false;
    assert_int_equal(fd_store_apply_wait(c.st, c.b, &already), FD_ERR_REDIS);
    assert_true(fd_store_apply_inflight(c.st)); /* kept for a resend */
    wait_pause_over();
    /* sent again on a new connection: applied once, whether or not the first one ran */
    assert_int_equal(fd_store_apply_wait(c.st, c.b, &already), FD_OK);
    assert_false(fd_store_apply_inflight(c.st));
    assert_hash(w, "funnel:rep:all:" ANNA, anna_fields);
    static const char *const stats[] = {"accepted", "7", "batches", "1", NULL};
    assert_hash(w, "funnel:stats", stats);
    /* an abandoned apply leaves the store usable */
    fd_dedupe_mark_applied(c.dd);
    fd_dealcache_mark_applied(c.dc);
    c.from = 7;
    fd_event_t more[1] = {activity("x1", ANNA, DAY "T19:00:00Z", 0)};
    fold(&c, more, 1);
    assert_int_equal(fd_store_apply_send(c.st, c.b, c.dc), FD_OK);
    fd_store_apply_abandon(c.st);
    assert_false(fd_store_apply_inflight(c.st));
    claim(&c);
    assert_true(c.from == 7 || c.from == 8);
    consumer_clear(&c);
}

static void test_store_hash_without_rates_inputs_has_no_derived_fields(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    fd_event_t evs[2] = {activity("a1", "bob", DAY "T08:00:00Z", 1),
                         event(FD_FEEDBACK_RECEIVED, "a2", "bob", "emea", "", DAY "T08:30:00Z")};
    evs[1].complaint = true;
    run_batch(&c, evs, 2);
    static const char *const want[] = {"activity:visit", "1", "complaints", "1",
                                       "events",         "2", NULL};
    assert_hash(w, "funnel:rep:all:bob", want);
    consumer_clear(&c);
}

static void test_store_derived_fields_follow_later_batches(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    fd_event_t first[2] = {event(FD_DEAL_CREATED, "c1", "cara", "apac", "x1", DAY "T08:00:00Z"),
                           event(FD_DEAL_CREATED, "c2", "cara", "apac", "x2", DAY "T08:00:00Z")};
    run_batch(&c, first, 2);
    assert_hget(w, "funnel:rep:all:cara", "entered:lead", "2");
    assert_hget(w, "funnel:rep:all:cara", "conv:lead", "0.0000");
    assert_hget(w, "funnel:rep:all:cara", "exit_conv:lead", NULL);
    assert_hget(w, "funnel:rep:all:cara", "win_rate", NULL);
    /* a third deal, then x1 moves on after 90 minutes: 1 of 3 converted, dwell 1.5 h */
    fd_event_t second[2] = {
        event(FD_DEAL_CREATED, "c3", "cara", "apac", "x3", DAY "T08:00:00Z"),
        with_stage(event(FD_DEAL_STAGE_CHANGED, "c4", "cara", "apac", "x1", DAY "T09:30:00Z"), 1)};
    run_batch(&c, second, 2);
    assert_hget(w, "funnel:rep:all:cara", "entered:lead", "3");
    assert_hget(w, "funnel:rep:all:cara", "conv:lead", "0.3333");
    assert_hget(w, "funnel:rep:all:cara", "exit_conv:lead", "1.0000");
    assert_hget(w, "funnel:rep:all:cara", "dwell_hours:lead", "1.50");
    assert_hget(w, "funnel:rep:all:cara", "conv:qualified", "0.0000");
    /* x2 lost at lead: exit_conv 1/2, win_rate 0/1 */
    fd_event_t third[1] = {event(FD_DEAL_LOST, "c5", "cara", "apac", "x2", DAY "T12:00:00Z")};
    run_batch(&c, third, 1);
    assert_hget(w, "funnel:rep:all:cara", "exit_conv:lead", "0.5000");
    assert_hget(w, "funnel:rep:all:cara", "win_rate", "0.0000");
    assert_hget(w, "funnel:rep:all:cara", "lost_at:lead", "1");
    consumer_clear(&c);
}

static void test_store_won_amount_adds_exact_hundredths(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    fd_event_t b1[1] = {
        with_amount(event(FD_DEAL_WON, "w1", "dan", "emea", "y1", DAY "T10:00:00Z"), 10)};
    run_batch(&c, b1, 1);
    assert_hget(w, "funnel:rep:all:dan", "won_amount", "0.10");
    fd_event_t b2[1] = {
        with_amount(event(FD_DEAL_WON, "w2", "dan", "emea", "y2", DAY "T11:00:00Z"), 20)};
    run_batch(&c, b2, 1);
    assert_hget(w, "funnel:rep:all:dan", "won_amount", "0.30");
    assert_hget(w, "funnel:rep:all:dan", "won", "2");
    assert_hget(w, "funnel:rep:all:dan", "win_rate", "1.0000");

    /* beyond 2^53 hundredths a double would round: 1e15 + 1e15 + 0.01 stays exact */
    fd_event_t b3[1] = {with_amount(event(FD_DEAL_WON, "w3", "eve", "emea", "y3", DAY "T10:00:00Z"),
                                    100000000000000000LL)};
    run_batch(&c, b3, 1);
    fd_event_t b4[2] = {
        with_amount(event(FD_DEAL_WON, "w4", "eve", "emea", "y4", DAY "T10:00:00Z"),
                    100000000000000000LL),
        with_amount(event(FD_DEAL_WON, "w5", "eve", "emea", "y5", DAY "T10:00:00Z"), 1)};
    run_batch(&c, b4, 2);
    assert_hget(w, "funnel:rep:all:eve", "won_amount", "2000000000000000.01");
    fd_event_t b5[1] = {
        with_amount(event(FD_DEAL_WON, "w6", "eve", "emea", "y6", DAY "T10:00:00Z"), 99)};
    run_batch(&c, b5, 1);
    assert_hget(w, "funnel:rep:all:eve", "won_amount", "2000000000000001.00");
    consumer_clear(&c);
}

static void test_store_retried_batch_is_already_applied_and_doubles_nothing(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    fd_event_t evs[7];
    anna_day(evs);
    fold(&c, evs, 7);
    bool already = true;
    assert_int_equal(apply(&c, &already), FD_OK);
    assert_false(already);
    char *before = snapshot(w);
    /* the same batch again, as after a client-side timeout */
    assert_int_equal(apply(&c, &already), FD_OK);
    assert_true(already);
    char *after = snapshot(w);
    assert_string_equal(before, after);
    assert_hget(w, "funnel:org:all", "events", "7");
    assert_hget(w, "funnel:stats", "batches", "1");
    free(before);
    free(after);
    consumer_clear(&c);
}

static void test_store_fenced_apply_writes_nothing(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t a, b;
    consumer_init(&a, w, 100);
    consumer_init(&b, w, 100);
    claim(&a);
    fd_event_t first[1] = {activity("f0", "fay", DAY "T08:00:00Z", 0)};
    run_batch(&a, first, 1);
    claim(&b); /* b takes the partition over: a is now a zombie */
    assert_int_equal(b.from, 1);
    assert_true(strncmp(b.token, "2:inst-a:", 9) == 0);

    fd_event_t evs[7];
    anna_day(evs);
    fold(&a, evs, 7);
    long long dbsize = cmd_int(w, "DBSIZE");
    char *before = snapshot(w);
    bool already = true;
    assert_int_equal(apply(&a, &already), FD_ERR_FENCED);
    assert_false(already);
    assert_non_null(strstr(fd_store_errstr(a.st), "fenced"));
    char *after = snapshot(w);
    assert_int_equal(cmd_int(w, "DBSIZE"), dbsize);
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* the new owner applies the same events */
    run_batch(&b, evs, 7);
    assert_hash(w, "funnel:rep:day:" DAY ":" ANNA, anna_fields);
    assert_hget(w, "funnel:part:" TOPIC ":0", "next", "8");
    consumer_clear(&a);
    consumer_clear(&b);
}

static void test_store_gap_when_stored_offset_differs(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    fd_event_t evs[1] = {activity("g1", "gus", DAY "T08:00:00Z", 0)};

    /* nothing stored, batch claims to continue from 5 */
    c.from = 5;
    fold(&c, evs, 1);
    char *before = snapshot(w);
    bool already;
    assert_int_equal(apply(&c, &already), FD_ERR_GAP);
    assert_non_null(strstr(fd_store_errstr(c.st), "(none)"));
    char *after = snapshot(w);
    assert_string_equal(before, after);
    free(before);
    free(after);

    c.from = -1;
    fd_dedupe_reset(c.dd);
    run_batch(&c, evs, 1);
    assert_hget(w, "funnel:part:" TOPIC ":0", "next", "1");
    /* stored 1, batch from 0 to 2 (from 0 to 1 would look like a retry of the applied batch) */
    c.from = 0;
    fd_event_t again[2] = {activity("g2", "gus", DAY "T08:00:00Z", 0),
                           activity("g3", "gus", DAY "T08:00:00Z", 0)};
    fold(&c, again, 2);
    assert_int_equal(apply(&c, &already), FD_ERR_GAP);
    assert_non_null(strstr(fd_store_errstr(c.st), "'1'"));
    assert_hget(w, "funnel:rep:all:gus", "activity:call", "1");
    consumer_clear(&c);
}

/* Lengths of the dedupe list's chunks, in ids. */
static void assert_chunks(world_t *w, const size_t *want, size_t n) {
    redisReply *r = cmd(w, "LRANGE funnel:dedupe:" TOPIC ":0 0 -1");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r->element[i]->len, want[i] * 16);
    freeReplyObject(r);
}

static void test_store_dedupe_list_drops_whole_oldest_chunks_beyond_max(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 3);
    claim(&c);
    fd_event_t b1[2] = {activity("i1", "ian", DAY "T08:00:00Z", 0),
                        activity("i2", "ian", DAY "T08:00:00Z", 0)};
    run_batch(&c, b1, 2);
    assert_chunks(w, (size_t[]){2}, 1);
    assert_hget(w, "funnel:part:" TOPIC ":0", "dedupe_n", "2");
    /* 4 ids: without the oldest chunk only 2 would remain (< 3), keep it */
    fd_event_t b2[2] = {activity("i3", "ian", DAY "T08:00:00Z", 0),
                        activity("i4", "ian", DAY "T08:00:00Z", 0)};
    run_batch(&c, b2, 2);
    assert_chunks(w, (size_t[]){2, 2}, 2);
    assert_hget(w, "funnel:part:" TOPIC ":0", "dedupe_n", "4");
    /* 5 ids: dropping the oldest 2 leaves 3 >= 3 */
    fd_event_t b3[1] = {activity("i5", "ian", DAY "T08:00:00Z", 0)};
    run_batch(&c, b3, 1);
    assert_chunks(w, (size_t[]){2, 1}, 2);
    assert_hget(w, "funnel:part:" TOPIC ":0", "dedupe_n", "3");
    fd_event_t b4[2] = {activity("i6", "ian", DAY "T08:00:00Z", 0),
                        activity("i7", "ian", DAY "T08:00:00Z", 0)};
    run_batch(&c, b4, 2);
    assert_chunks(w, (size_t[]){1, 2}, 2);
    assert_hget(w, "funnel:part:" TOPIC ":0", "dedupe_n", "3");
    assert_hget(w, "funnel:part:" TOPIC ":0", "next", "7");
    consumer_clear(&c);
}

static void test_store_claim_loads_dedupe_ids_so_resent_events_are_duplicates(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t a, b;
    consumer_init(&a, w, 100);
    claim(&a);
    fd_event_t evs[2] = {activity("x-1", "kim", DAY "T08:00:00Z", 0),
                         activity("x-2", "kim", DAY "T08:00:00Z", 0)};
    run_batch(&a, evs, 2);

    /* another instance (a fresh dedupe object) takes over and sees x-2 again */
    consumer_init(&b, w, 100);
    claim(&b);
    assert_int_equal(fd_dedupe_count(b.dd), 2);
    assert_int_equal(b.from, 2);
    fd_event_t resent[2] = {activity("x-2", "kim", DAY "T08:00:00Z", 0),
                            activity("x-3", "kim", DAY "T08:00:00Z", 0)};
    run_batch(&b, resent, 2);
    assert_int_equal(fd_batch_stat(b.b, FD_STAT_DUPLICATES), 1);
    assert_hget(w, "funnel:rep:all:kim", "activity:call", "3");
    assert_hget(w, "funnel:stats", "duplicates", "1");
    assert_hget(w, "funnel:stats", "accepted", "3");
    assert_hget(w, "funnel:part:" TOPIC ":0", "dedupe_n", "3");
    consumer_clear(&a);
    consumer_clear(&b);
}

static void test_store_load_deals_round_trips_and_caches_unknown_deals_empty(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    fd_event_t evs[2] = {event(FD_DEAL_CREATED, "l1", "lou", "emea", "deal-1", DAY "T08:00:00Z"),
                         with_amount(with_stage(event(FD_DEAL_STAGE_CHANGED, "l2", "lou", "emea",
                                                      "deal-1", DAY "T09:00:00Z"),
                                                2),
                                     4200)};
    run_batch(&c, evs, 2);

    fd_dealcache_t *dc;
    assert_int_equal(fd_dealcache_new(w->fn, 10000, &dc), FD_OK);
    const char *ids[] = {"deal-1", "no-such-deal", "deal-1"};
    assert_int_equal(fd_store_load_deals(c.st, dc, ids, 3), FD_OK);
    assert_int_equal(fd_dealcache_size(dc), 2);
    const fd_deal_t *d = fd_dealcache_get(dc, "deal-1");
    assert_non_null(d);
    assert_int_equal(d->furthest, 2);
    assert_int_equal(d->lost_stage, -1);
    assert_int_equal(d->amount_c, 4200);
    assert_int_equal(d->reach[0].at_ms, ms(DAY "T08:00:00Z"));
    assert_true(d->reach[1].flags & FD_REACH_BACKFILLED);
    assert_int_equal(d->reach[2].at_ms, ms(DAY "T09:00:00Z"));
    assert_string_equal(d->owners[d->reach[2].owner].rep, "lou");
    const fd_deal_t *none = fd_dealcache_get(dc, "no-such-deal");
    assert_non_null(none);
    assert_int_equal(none->furthest, -1);

    /* more ids than one MGET chunk: still one call, every one cached */
    enum { MANY = 2500 };
    static char names[MANY][16];
    const char *many[MANY];
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "m%d", i);
        many[i] = names[i];
    }
    assert_int_equal(fd_store_load_deals(c.st, dc, many, MANY), FD_OK);
    assert_int_equal(fd_dealcache_size(dc), 2 + MANY);

    /* a stored state that does not decode is named */
    freeReplyObject(cmd(w, "SET funnel:deal:broken %s", "not-a-deal"));
    const char *bad[] = {"broken"};
    assert_int_equal(fd_store_load_deals(c.st, dc, bad, 1), FD_ERR_PARSE);
    assert_non_null(strstr(fd_store_errstr(c.st), "broken"));
    fd_dealcache_destroy(dc);
    consumer_clear(&c);
}

/* Folds evs into c's batch without loading any deal: each deal.created's deal is assumed new
 * (as the service does for a deal seen first through its creation). */
static void fold_assuming_new(consumer_t *c, const fd_event_t *evs, size_t n) {
    fd_batch_reset(c->b);
    int part = -1;
    assert_int_equal(fd_batch_part(c->b, TOPIC, 0, c->token, c->from, c->dd, &part), FD_OK);
    for (size_t i = 0; i < n; i++) {
        if (evs[i].type == FD_DEAL_CREATED && fd_dealcache_get(c->dc, evs[i].deal_id) == NULL)
            assert_int_equal(fd_dealcache_put_new(c->dc, evs[i].deal_id, NULL), FD_OK);
        assert_int_equal(fd_batch_add(c->b, part, c->dc, &evs[i], c->from + (int64_t)i, NOW_S),
                         FD_OK);
    }
}

/* A deal folded as new must have no stored state: when it has (a repeated deal.created of a
 * known deal, not cached), the apply is refused before any write; read properly, the same
 * events count the known deal once. A deal that really is new applies as usual. */
static void test_store_deal_assumed_new_that_exists_is_refused_before_writing(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    fd_event_t first[1] = {event(FD_DEAL_CREATED, "n1", "nina", "emea", "k1", DAY "T08:00:00Z")};
    fold_assuming_new(&c, first, 1);
    apply_ok(&c);
    assert_hget(w, "funnel:rep:all:nina", "entered:lead", "1");
    assert_int_equal(cmd_int(w, "EXISTS funnel:deal:k1"), 1);

    /* a restart forgot k1; it is created again (another event id), beside a new deal k2 */
    fd_dealcache_clear(c.dc);
    fd_event_t again[2] = {event(FD_DEAL_CREATED, "n2", "nina", "emea", "k2", DAY "T09:00:00Z"),
                           event(FD_DEAL_CREATED, "n3", "nina", "emea", "k1", DAY "T10:00:00Z")};
    fold_assuming_new(&c, again, 2);
    assert_int_equal(fd_dealcache_new_count(c.dc), 2);
    char *before = snapshot(w);
    bool already = true;
    assert_int_equal(apply(&c, &already), FD_ERR_CONFLICT);
    assert_false(already);
    assert_non_null(strstr(fd_store_errstr(c.st), "funnel:deal:k1"));
    char *after = snapshot(w);
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* read again with the stored states: k1 is known, so it counts once; k2 is new */
    fd_dealcache_clear(c.dc);
    fd_dedupe_reset(c.dd);
    fold(&c, again, 2);
    assert_int_equal(fd_dealcache_new_count(c.dc), 0);
    apply_ok(&c);
    assert_hget(w, "funnel:rep:all:nina", "entered:lead", "2");
    assert_hget(w, "funnel:rep:all:nina", "events", "3");
    assert_hget(w, "funnel:stats", "ignored", "1");
    assert_int_equal(cmd_int(w, "EXISTS funnel:deal:k2"), 1);
    consumer_clear(&c);
}

static void test_store_reconnects_after_redis_restart(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    char first[FD_TOKEN_MAX + 1];
    strcpy(first, c.token);
    assert_int_equal(fd_redis_fixture_restart(&w->fx), 0);
    if (w->cli != NULL) redisFree(w->cli);
    w->cli = NULL;

    /* the old connection is dead: the first call may fail, a later one reconnects */
    fd_err_t err = FD_ERR_REDIS;
    for (int attempt = 0; attempt < 3 && err != FD_OK; attempt++) {
        err = fd_store_claim(c.st, TOPIC, 0, "inst-a", c.token, sizeof c.token, &c.from, c.dd);
        if (err != FD_OK) {
            assert_int_equal(err, FD_ERR_REDIS);
            assert_true(fd_store_errstr(c.st)[0] != '\0');
        }
    }
    assert_int_equal(err, FD_OK);
    /* Redis lost everything (no persistence): epoch 1 again, but a different token */
    assert_int_equal(strncmp(c.token, "1:inst-a:", 9), 0);
    assert_string_not_equal(c.token, first);
    assert_int_equal(c.from, -1);
    fd_event_t evs[1] = {activity("r1", "rae", DAY "T08:00:00Z", 0)};
    run_batch(&c, evs, 1);
    assert_hget(w, "funnel:rep:all:rae", "activity:call", "1");
    consumer_clear(&c);
}

static void test_store_command_timeout_drops_connection_and_recovers(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init_impatient(&c, w);
    claim(&c);
    pause_clients(w); /* the store's next command times out */
    fd_err_t err = fd_store_claim(c.st, TOPIC, 0, "inst-a", c.token, sizeof c.token, &c.from, c.dd);
    assert_int_equal(err, FD_ERR_REDIS);
    assert_true(fd_store_errstr(c.st)[0] != '\0');
    wait_pause_over();
    claim(&c);
    /* the timed-out claim may have run after the pause: epoch 2 or 3 */
    assert_true(c.token[0] == '2' || c.token[0] == '3');
    fd_event_t evs[1] = {activity("t1", "tom", DAY "T08:00:00Z", 0)};
    run_batch(&c, evs, 1);
    assert_hget(w, "funnel:rep:all:tom", "activity:call", "1");
    consumer_clear(&c);
}

static void test_store_reloads_scripts_after_script_flush(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    freeReplyObject(cmd(w, "SCRIPT FLUSH"));
    fd_event_t evs[1] = {activity("n1", "ned", DAY "T08:00:00Z", 0)};
    run_batch(&c, evs, 1); /* EVALSHA answers NOSCRIPT: loaded again, run once more */
    assert_hget(w, "funnel:rep:all:ned", "activity:call", "1");
    freeReplyObject(cmd(w, "SCRIPT FLUSH"));
    claim(&c);
    assert_int_equal(c.from, 1);
    assert_int_equal(fd_dedupe_count(c.dd), 1);
    consumer_clear(&c);
}

static void test_store_malformed_stored_amount_refuses_before_writing(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    freeReplyObject(cmd(w, "HSET funnel:rep:all:mo won_amount 12,5"));
    fd_event_t evs[1] = {
        with_amount(event(FD_DEAL_WON, "m1", "mo", "emea", "z1", DAY "T10:00:00Z"), 10)};
    fold(&c, evs, 1);
    char *before = snapshot(w);
    bool already;
    assert_int_equal(apply(&c, &already), FD_ERR_PARSE);
    assert_non_null(strstr(fd_store_errstr(c.st), "won_amount"));
    char *after = snapshot(w);
    assert_string_equal(before, after);
    free(before);
    free(after);
    consumer_clear(&c);
}

static void test_store_large_batch_applies_in_one_step(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100000);
    claim(&c);
    /* 3000 reps in 3000 teams, each with a deal created and moved on: 30,005 hashes */
    enum { REPS = 3000 };
    fd_event_t *evs = calloc(2 * REPS, sizeof *evs);
    const char **ids = calloc(2 * REPS, sizeof *ids);
    assert_non_null(evs);
    assert_non_null(ids);
    fd_batch_reset(c.b);
    int part = -1;
    assert_int_equal(fd_batch_part(c.b, TOPIC, 0, c.token, c.from, c.dd, &part), FD_OK);
    for (int i = 0; i < REPS; i++) {
        char rep[32], team[32], deal[32], id[32];
        snprintf(rep, sizeof rep, "rep-%d", i);
        snprintf(team, sizeof team, "team-%d", i);
        snprintf(deal, sizeof deal, "deal-%d", i);
        snprintf(id, sizeof id, "c-%d", i);
        evs[2 * i] = event(FD_DEAL_CREATED, id, rep, team, deal, DAY "T08:00:00Z");
        snprintf(id, sizeof id, "s-%d", i);
        evs[2 * i + 1] =
            with_stage(event(FD_DEAL_STAGE_CHANGED, id, rep, team, deal, DAY "T09:00:00Z"), 1);
        ids[2 * i] = evs[2 * i].deal_id;
        ids[2 * i + 1] = evs[2 * i + 1].deal_id;
    }
    assert_int_equal(fd_store_load_deals(c.st, c.dc, ids, 2 * REPS), FD_OK);
    for (int i = 0; i < 2 * REPS; i++)
        assert_int_equal(fd_batch_add(c.b, part, c.dc, &evs[i], i, NOW_S), FD_OK);
    assert_int_equal(fd_batch_nhashes(c.b), 10 * REPS + 5);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    apply_ok(&c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("apply of %zu hashes, %d deals: %.0f ms\n", (size_t)(10 * REPS + 5), REPS,
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    assert_hget(w, "funnel:org:all", "entered:lead", "3000");
    assert_hget(w, "funnel:org:all", "advanced:lead", "3000");
    assert_hget(w, "funnel:org:all", "dwell_hours:lead", "1.00");
    assert_hget(w, "funnel:org:all", "events", "6000");
    static const char *const rep[] = {"entered:lead",
                                      "1",
                                      "advanced:lead",
                                      "1",
                                      "moved_on:lead",
                                      "1",
                                      "dwell_sum_ms:lead",
                                      "3600000",
                                      "dwell_count:lead",
                                      "1",
                                      "conv:lead",
                                      "1.0000",
                                      "exit_conv:lead",
                                      "1.0000",
                                      "dwell_hours:lead",
                                      "1.00",
                                      "entered:qualified",
                                      "1",
                                      "conv:qualified",
                                      "0.0000",
                                      "events",
                                      "2",
                                      NULL};
    assert_hash(w, "funnel:team:month:2026-11:team-2999", rep);
    assert_hget(w, "funnel:org:all", "open:qualified", "3000");
    assert_hget(w, "funnel:rep:all:rep-7", "open:qualified", "1");
    assert_hget(w, "funnel:rep_team", "rep-7", "team-7");
    /* + <p>:parts (the claim), <p>:metrics:publisher (marked untracked: no dirty set),
     * <p>:rep_team and <p>:rep_team:at */
    assert_int_equal(cmd_int(w, "DBSIZE"), 10 * REPS + 5 + REPS + 3 + 4);
    free(ids);
    free(evs);
    consumer_clear(&c);
}

/* The apply adds small values in doubles and switches to exact digit strings from 10^15 on;
 * around and beyond both that and 2^53 every count stays exact. */
static void test_store_counters_beyond_2_53_add_exactly(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    freeReplyObject(cmd(w, "HSET funnel:rep:all:big events 99999999999999 activity:call "
                           "999999999999999 entered:lead 9007199254740993 dwell_sum_ms:lead "
                           "123456789012345678 dwell_count:lead 3"));
    /* b1 created, moved on after one hour; one call: 3 events */
    fd_event_t evs[3] = {
        event(FD_DEAL_CREATED, "b1", "big", "emea", "bd1", DAY "T08:00:00Z"),
        with_stage(event(FD_DEAL_STAGE_CHANGED, "b2", "big", "emea", "bd1", DAY "T09:00:00Z"), 1),
        activity("b3", "big", DAY "T09:30:00Z", 0)};
    run_batch(&c, evs, 3);
    const char *key = "funnel:rep:all:big";
    assert_hget(w, key, "events", "100000000000002");
    assert_hget(w, key, "activity:call", "1000000000000000");
    assert_hget(w, key, "entered:lead", "9007199254740994");
    assert_hget(w, key, "advanced:lead", "1");
    assert_hget(w, key, "conv:lead", "0.0000"); /* 1 / 9007199254740994 */
    assert_hget(w, key, "dwell_sum_ms:lead", "123456789015945678");
    assert_hget(w, key, "dwell_count:lead", "4");
    /* 123456789015945678 / 14400000 = 8573388126 + 1545678 / 14400000 = 8573388126.107 */
    assert_hget(w, key, "dwell_hours:lead", "8573388126.11");
    consumer_clear(&c);
}

/* A batch's delta of 10^15 or more travels as digits: five deals created at the epoch and moved
 * on at the last representable millisecond, 253402300799999 ms each. */
static void test_store_delta_beyond_10_15_adds_exactly(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    fd_event_t evs[10];
    for (int i = 0; i < 5; i++) {
        char id[16], deal[16];
        snprintf(deal, sizeof deal, "od%d", i);
        snprintf(id, sizeof id, "oc%d", i);
        evs[2 * i] = event(FD_DEAL_CREATED, id, "old", "emea", deal, "1970-01-01T00:00:00Z");
        snprintf(id, sizeof id, "om%d", i);
        evs[2 * i + 1] = with_stage(
            event(FD_DEAL_STAGE_CHANGED, id, "old", "emea", deal, "9999-12-31T23:59:59.999Z"), 1);
    }
    run_batch(&c, evs, 10);
    static const char *const want[] = {"entered:lead", "5", "advanced:lead", "5", "moved_on:lead",
                                       "5", "dwell_sum_ms:lead", "1267011503999995",
                                       "dwell_count:lead", "5", "conv:lead", "1.0000",
                                       "exit_conv:lead", "1.0000",
                                       /* 253402300799999 / 3600000 = 70389527.99999972 */
                                       "dwell_hours:lead", "70389528.00", "entered:qualified", "5",
                                       "conv:qualified", "0.0000", "events", "10",
                                       /* the five deals are open at qualified, without amount */
                                       "open:qualified", "5", "open", "5", NULL};
    assert_hash(w, "funnel:rep:all:old", want);
    consumer_clear(&c);
}

static void test_store_amounts_add_exactly_across_the_fast_path_limit(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    freeReplyObject(cmd(w, "HSET funnel:rep:all:amy won_amount 9999999999999.99"));
    freeReplyObject(cmd(w, "HSET funnel:rep:all:ava won_amount 0.05"));
    freeReplyObject(cmd(w, "HSET funnel:rep:all:fay feedback_sum 4.50 feedback_count 1"));
    fd_event_t evs[3] = {
        with_amount(event(FD_DEAL_WON, "am1", "amy", "emea", "amd", DAY "T10:00:00Z"), 1),
        with_amount(event(FD_DEAL_WON, "av1", "ava", "emea", "avd", DAY "T10:00:00Z"), 10),
        event(FD_FEEDBACK_RECEIVED, "fa1", "fay", "emea", "", DAY "T10:00:00Z")};
    evs[2].score_c = 300;
    run_batch(&c, evs, 3);
    assert_hget(w, "funnel:rep:all:amy", "won_amount", "10000000000000.00");
    assert_hget(w, "funnel:rep:all:amy", "win_rate", "1.0000");
    assert_hget(w, "funnel:rep:all:ava", "won_amount", "0.15");
    assert_hget(w, "funnel:rep:day:" DAY ":ava", "won_amount", "0.10");
    assert_hget(w, "funnel:rep:all:fay", "feedback_sum", "7.50");
    assert_hget(w, "funnel:rep:all:fay", "feedback_count", "2");
    assert_hget(w, "funnel:rep:all:fay", "feedback_avg", "3.75"); /* 750 / 200 */
    consumer_clear(&c);
}

/* Stored counts must be plain digits: anything else refuses the whole batch before a write. */
static void test_store_malformed_stored_counter_refuses_before_writing(void **state) {
    (void)state;
    world_t *w = &plain;
    static const char *const bad[] = {"12abc", "1.5", "-3", " 7", "1e3", "0x10", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        flushall(w);
        consumer_t c;
        consumer_init(&c, w, 100);
        claim(&c);
        freeReplyObject(cmd(w, "HSET funnel:rep:all:mo events %s", bad[i]));
        fd_event_t evs[1] = {activity("mc1", "mo", DAY "T08:00:00Z", 0)};
        fold(&c, evs, 1);
        char *before = snapshot(w);
        bool already;
        if (apply(&c, &already) != FD_ERR_PARSE)
            fail_msg("stored events '%s' was accepted", bad[i]);
        if (strstr(fd_store_errstr(c.st), "events") == NULL)
            fail_msg("error for stored events '%s' does not name the field: %s", bad[i],
                     fd_store_errstr(c.st));
        char *after = snapshot(w);
        assert_string_equal(before, after);
        free(before);
        free(after);
        consumer_clear(&c);
    }
}

/* The stats hash is written last in the script: a malformed stats field must refuse the batch
 * before any write, else every retry would add the metric deltas again. */
static void test_store_malformed_stats_field_refuses_before_writing(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    freeReplyObject(cmd(w, "HSET funnel:stats accepted 1.5"));
    fd_event_t evs[1] = {activity("ms1", "mo", DAY "T08:00:00Z", 0)};
    fold(&c, evs, 1);
    char *before = snapshot(w);
    bool already;
    for (int attempt = 0; attempt < 3; attempt++) {
        assert_int_equal(apply(&c, &already), FD_ERR_PARSE);
        assert_non_null(strstr(fd_store_errstr(c.st), "accepted"));
    }
    char *after = snapshot(w);
    assert_string_equal(before, after);
    free(before);
    free(after);
    consumer_clear(&c);
}

/* A rate whose denominator is 0 is absent, also when its numerator changes: here entered:lead
 * was removed behind funneld's back before the deal moved on. */
static void test_store_rate_with_zero_denominator_is_removed(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    consumer_t c;
    consumer_init(&c, w, 100);
    claim(&c);
    fd_event_t first[1] = {event(FD_DEAL_CREATED, "z1", "zed", "emea", "zd", DAY "T08:00:00Z")};
    run_batch(&c, first, 1);
    assert_hget(w, "funnel:rep:all:zed", "conv:lead", "0.0000");
    freeReplyObject(cmd(w, "HDEL funnel:rep:all:zed entered:lead"));
    fd_event_t second[1] = {
        with_stage(event(FD_DEAL_STAGE_CHANGED, "z2", "zed", "emea", "zd", DAY "T09:00:00Z"), 1)};
    run_batch(&c, second, 1);
    assert_hget(w, "funnel:rep:all:zed", "entered:lead", NULL);
    assert_hget(w, "funnel:rep:all:zed", "advanced:lead", "1");
    assert_hget(w, "funnel:rep:all:zed", "conv:lead", NULL);
    assert_hget(w, "funnel:rep:all:zed", "exit_conv:lead", "1.0000");
    assert_hget(w, "funnel:rep:all:zed", "dwell_hours:lead", "1.00");
    consumer_clear(&c);
}

/* ---- authentication ---- */

static fd_err_t try_claim(world_t *w, const char *user, const char *password, char *errstr,
                          size_t size) {
    consumer_t c;
    fd_store_opts_t o = opts_for(w, user, password);
    consumer_init_opts(&c, w, &o, 100);
    fd_err_t err = fd_store_claim(c.st, TOPIC, 0, "inst-a", c.token, sizeof c.token, &c.from, c.dd);
    snprintf(errstr, size, "%s", fd_store_errstr(c.st));
    if (err == FD_OK) {
        fd_event_t evs[1] = {activity("p1", "pam", DAY "T08:00:00Z", 0)};
        run_batch(&c, evs, 1);
    }
    consumer_clear(&c);
    return err;
}

/* ---- staged batches (docs/redis.md, "Staged batches") ---- */

#define STAGED_REPS   300 /* 1,655 hashes, 300 deals: staged at chunk_hashes 100 */
#define STAGED_HASHES (5 * (STAGED_REPS + STAGED_REPS / 10 + 1))
#define STAGED_CHUNKS ((STAGED_HASHES + 99) / 100) /* 17 */

/* A consumer on prefix whose store stages every batch over chunk_hashes hashes (0: never). */
static void consumer_init_chunked(consumer_t *c, world_t *w, const char *prefix,
                                  int64_t chunk_hashes, int64_t chunk_deals) {
    fd_store_opts_t o = opts_for(w, NULL, NULL);
    o.prefix = prefix;
    o.changes = true;
    o.changes_maxlen = 10000;
    o.changes_max_keys = 256;
    o.chunk_hashes = chunk_hashes > 0 ? chunk_hashes : 1000000;
    o.chunk_deals = chunk_deals > 0 ? chunk_deals : 1000000;
    consumer_init_opts(c, w, &o, 100000);
}

/* reps reps in reps / 10 teams, each with a deal created, moved on and (every third) won,
 * and a call: the events of the first batch (ids prefixed by tag). */
static size_t staged_events(fd_event_t *evs, int reps, const char *tag) {
    size_t n = 0;
    for (int i = 0; i < reps; i++) {
        char rep[32], team[32], deal[32], id[40];
        snprintf(rep, sizeof rep, "rep-%d", i);
        snprintf(team, sizeof team, "team-%d", i / 10);
        snprintf(deal, sizeof deal, "deal-%d", i);
        snprintf(id, sizeof id, "%s-c-%d", tag, i);
        evs[n++] =
            with_amount(event(FD_DEAL_CREATED, id, rep, team, deal, DAY "T08:00:00Z"), 1000 + i);
        snprintf(id, sizeof id, "%s-s-%d", tag, i);
        evs[n++] = with_stage(event(FD_DEAL_STAGE_CHANGED, id, rep, team, deal, DAY "T09:00:00Z"),
                              1 + i % 3);
        if (i % 3 == 0) {
            snprintf(id, sizeof id, "%s-w-%d", tag, i);
            evs[n++] = with_amount(event(FD_DEAL_WON, id, rep, team, deal, DAY "T11:00:00Z"),
                                   2000 + 7 * i);
        }
        snprintf(id, sizeof id, "%s-a-%d", tag, i);
        evs[n] = activity(id, rep, DAY "T10:00:00Z", i % 5);
        snprintf(evs[n].team_id, sizeof evs[n].team_id, "%s", team);
        n++;
    }
    return n;
}

/* Folds n events into c's batch (offsets from c->from), loading every deal first. */
static void fold_many(consumer_t *c, const fd_event_t *evs, size_t n) {
    const char **ids = calloc(n + 1, sizeof *ids);
    assert_non_null(ids);
    size_t nids = 0;
    for (size_t i = 0; i < n; i++)
        if (evs[i].type <= FD_DEAL_LOST) ids[nids++] = evs[i].deal_id;
    fd_batch_reset(c->b);
    int part = -1;
    assert_int_equal(fd_batch_part(c->b, TOPIC, 0, c->token, c->from, c->dd, &part), FD_OK);
    assert_int_equal(fd_store_load_deals(c->st, c->dc, ids, nids), FD_OK);
    int64_t offset = c->from < 0 ? 0 : c->from;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fd_batch_add(c->b, part, c->dc, &evs[i], offset + (int64_t)i, NOW_S),
                         FD_OK);
    free(ids);
}

/* The batches of the staged tests: the first (STAGED_REPS reps), then a small second one. */
typedef struct {
    fd_event_t *first, *second;
    size_t nfirst, nsecond;
} staged_batches_t;

static void staged_batches_init(staged_batches_t *sb) {
    sb->first = calloc(4 * STAGED_REPS, sizeof *sb->first);
    sb->second = calloc(4 * 3, sizeof *sb->second);
    assert_non_null(sb->first);
    assert_non_null(sb->second);
    sb->nfirst = staged_events(sb->first, STAGED_REPS, "b1");
    sb->nsecond = staged_events(sb->second, 3, "b2"); /* deals 0..2 again: they move on */
}

static void staged_batches_clear(staged_batches_t *sb) {
    free(sb->first);
    free(sb->second);
}

/* The reference: both batches applied plainly under prefix "funnel". */
static void apply_reference(world_t *w, const staged_batches_t *sb) {
    consumer_t ref;
    consumer_init_chunked(&ref, w, "funnel", 0, 0);
    claim(&ref);
    fold_many(&ref, sb->first, sb->nfirst);
    apply_ok(&ref);
    fold_many(&ref, sb->second, sb->nsecond);
    apply_ok(&ref);
    consumer_clear(&ref);
}

/* Every metric hash, deal state and rep_team entry under "funnel:" is under "<prefix>:" too,
 * field by field with the same expiry, and nothing else is; no staged record or mark is left. */
static void assert_same_as_reference(world_t *w, const char *prefix) {
    static const char *const skip[] = {":part:",   ":dedupe:", ":parts",   ":stats",
                                       ":changes", ":feed",    ":metrics:"};
    size_t nkeys[2] = {0, 0};
    const char *prefixes[2] = {"funnel", prefix};
    for (int side = 0; side < 2; side++) {
        redisReply *keys = cmd(w, "KEYS %s:*", prefixes[side]);
        assert_int_equal(keys->type, REDIS_REPLY_ARRAY);
        for (size_t i = 0; i < keys->elements; i++) {
            const char *key = keys->element[i]->str, *rest = key + strlen(prefixes[side]);
            if (strstr(key, ":staged:") != NULL) fail_msg("%s is left", key);
            bool skipped = false;
            for (size_t s = 0; s < sizeof skip / sizeof skip[0]; s++)
                if (strncmp(rest, skip[s], strlen(skip[s])) == 0) skipped = true;
            if (skipped) continue;
            nkeys[side]++;
            if (side == 1) continue;
            char other[FD_KEY_MAX + 1];
            snprintf(other, sizeof other, "%s%s", prefix, rest);
            assert_int_equal(cmd_int(w, "EXPIRETIME %s", key), cmd_int(w, "EXPIRETIME %s", other));
            redisReply *t = cmd(w, "TYPE %s", key);
            if (strcmp(t->str, "hash") == 0) {
                redisReply *a = cmd(w, "HGETALL %s", key);
                redisReply *b = cmd(w, "HGETALL %s", other);
                if (a->elements != b->elements)
                    fail_msg("%s has %zu fields, %s %zu", key, a->elements / 2, other,
                             b->elements / 2);
                for (size_t f = 0; f < a->elements; f += 2)
                    assert_hget(w, other, a->element[f]->str, a->element[f + 1]->str);
                freeReplyObject(a);
                freeReplyObject(b);
            } else {
                redisReply *a = cmd(w, "GET %s", key), *b = cmd(w, "GET %s", other);
                if (b->type != REDIS_REPLY_STRING || a->len != b->len ||
                    memcmp(a->str, b->str, a->len) != 0)
                    fail_msg("%s differs from %s", other, key);
                freeReplyObject(a);
                freeReplyObject(b);
            }
            freeReplyObject(t);
        }
        freeReplyObject(keys);
    }
    assert_int_equal(nkeys[0], nkeys[1]);
    assert_true(nkeys[0] > STAGED_HASHES);
    char part[FD_KEY_MAX + 1];
    snprintf(part, sizeof part, "%s:part:" TOPIC ":0", prefix);
    assert_hget(w, part, "staged", NULL);
}

static long long stat_of(world_t *w, const char *prefix, const char *field) {
    char key[FD_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s:stats", prefix);
    char *v = hget(w, key, field);
    long long n = v != NULL ? atoll(v) : 0;
    free(v);
    return n;
}

static void test_store_staged_batch_equals_the_plain_apply(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    staged_batches_t sb;
    staged_batches_init(&sb);
    apply_reference(w, &sb);
    consumer_t c;
    consumer_init_chunked(&c, w, "stg", 100, 7);
    claim(&c);
    fold_many(&c, sb.first, sb.nfirst);
    assert_int_equal(fd_batch_nhashes(c.b), STAGED_HASHES);
    apply_ok(&c);
    /* committed and every chunk applied before the answer: the record is gone */
    assert_int_equal(cmd_int(w, "EXISTS stg:staged:" TOPIC ":0:-:%lld", (long long)sb.nfirst), 0);
    fold_many(&c, sb.second, sb.nsecond); /* small: applied plainly */
    apply_ok(&c);
    assert_same_as_reference(w, "stg");
    assert_int_equal(stat_of(w, "stg", "staged_batches"), 1);
    assert_int_equal(stat_of(w, "stg", "batches"), 2);
    assert_int_equal(stat_of(w, "stg", "accepted"), stat_of(w, "funnel", "accepted"));
    /* the change feed: the commit's entry lists the part and no keys; then one entry per
     * chunk: 300 deal states by 7 make 43 chunks (of 38 or 39 hashes); then the second
     * batch's entry */
    redisReply *e = cmd(w, "XRANGE stg:changes - +");
    assert_int_equal(e->elements, 1 + (STAGED_REPS + 6) / 7 + 1);
    char parts[64];
    snprintf(parts, sizeof parts, TOPIC ":0::%zu", sb.nfirst);
    const redisReply *f = e->element[0]->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        if (strcmp(f->element[i]->str, "n") == 0) assert_string_equal(f->element[i + 1]->str, "0");
        if (strcmp(f->element[i]->str, "parts") == 0)
            assert_string_equal(f->element[i + 1]->str, parts);
        if (strcmp(f->element[i]->str, "keys") == 0)
            assert_string_equal(f->element[i + 1]->str, "");
    }
    freeReplyObject(e);
    consumer_clear(&c);
    staged_batches_clear(&sb);
}

/* The answers stop coming half way through a staged batch's chunks (every client paused, the
 * wait times out): the commands not answered yet are sent again on a new connection (any of
 * them that ran would answer ALREADY, its marker gone); the batch counts once. */
static void test_store_staged_batch_resent_after_a_timeout_counts_once(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    staged_batches_t sb;
    staged_batches_init(&sb);
    apply_reference(w, &sb);
    fd_store_opts_t o = opts_for(w, NULL, NULL);
    o.prefix = "stg";
    o.timeout_ms = 150;
    o.chunk_hashes = 5; /* 331 chunks */
    consumer_t c;
    consumer_init_opts(&c, w, &o, 100000);
    claim(&c);
    fold_many(&c, sb.first, sb.nfirst);
    assert_int_equal(fd_store_apply_send(c.st, c.b, c.dc), FD_OK);
    /* pause every client once some chunks have run: the others wait */
    char record[128];
    snprintf(record, sizeof record, "stg:staged:" TOPIC ":0:-:%zu", sb.nfirst);
    for (int i = 0; i < 100000; i++) {
        char *left = hget(w, record, "left");
        bool some = left != NULL && atoi(left) < 300;
        free(left);
        if (some) break;
    }
    pause_clients(w);
    bool already = false;
    fd_err_t err = fd_store_apply_wait(c.st, c.b, &already);
    if (err == FD_ERR_REDIS) {
        assert_true(fd_store_apply_inflight(c.st));
        wait_pause_over();
        err = fd_store_apply_wait(c.st, c.b, &already);
    }
    assert_int_equal(err, FD_OK);
    c.from = fd_batch_part_at(c.b, 0)->next;
    fd_dedupe_mark_applied(c.dd);
    fd_dealcache_mark_applied(c.dc);
    wait_pause_over();
    fold_many(&c, sb.second, sb.nsecond);
    apply_ok(&c);
    assert_same_as_reference(w, "stg");
    assert_int_equal(stat_of(w, "stg", "batches"), 2);
    consumer_clear(&c);
    staged_batches_clear(&sb);
}

/* A commit sent again (its answer lost) answers ALREADY; chunks sent again are refused by their
 * markers: the batch still counts once. */
static void test_store_staged_commit_and_chunks_sent_again_count_once(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    staged_batches_t sb;
    staged_batches_init(&sb);
    apply_reference(w, &sb);
    consumer_t c;
    consumer_init_chunked(&c, w, "stg", 100, 0);
    claim(&c);
    fold_many(&c, sb.first, sb.nfirst);
    /* the commit and chunks 1..3 landed, then the connection was lost */
    assert_int_equal(fd_store_apply_interrupted(c.st, c.b, c.dc, 4), FD_OK);
    char record[128];
    snprintf(record, sizeof record, "stg:staged:" TOPIC ":0:-:%zu", sb.nfirst);
    char n[16];
    snprintf(n, sizeof n, "%d", STAGED_CHUNKS);
    assert_hget(w, record, "n", n);
    snprintf(n, sizeof n, "%d", STAGED_CHUNKS - 3);
    assert_hget(w, record, "left", n);
    assert_hget(w, record, "c:3", NULL);
    assert_int_equal(cmd_int(w, "HEXISTS %s c:4", record), 1);
    /* the same batch built and sent again: its commit answers ALREADY; the chunks of this build
     * are not those of the record (another stamp), which the store finishes instead */
    bool already = false;
    assert_int_equal(apply(&c, &already), FD_OK);
    assert_true(already);
    assert_int_equal(cmd_int(w, "EXISTS %s", record), 0);
    c.from = fd_batch_part_at(c.b, 0)->next;
    fd_dedupe_mark_applied(c.dd);
    fd_dealcache_mark_applied(c.dc);
    /* and once more, all of it: nothing changes */
    fd_batch_reset(c.b);
    fold_many(&c, sb.second, sb.nsecond);
    apply_ok(&c);
    assert_same_as_reference(w, "stg");
    assert_int_equal(stat_of(w, "stg", "batches"), 2);
    consumer_clear(&c);
    staged_batches_clear(&sb);
}

/* The owner dies after the commit and some chunks; the next claimer finishes the batch before
 * it reads anything; the old owner's late commit is fenced. */
static void test_store_claim_finishes_a_half_applied_staged_batch(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    staged_batches_t sb;
    staged_batches_init(&sb);
    apply_reference(w, &sb);
    consumer_t a, b;
    consumer_init_chunked(&a, w, "stg", 100, 0);
    consumer_init_chunked(&b, w, "stg", 100, 0);
    claim(&a);
    fold_many(&a, sb.first, sb.nfirst);
    assert_int_equal(fd_store_apply_interrupted(a.st, a.b, a.dc, 6), FD_OK);
    assert_int_equal(cmd_int(w, "EXISTS stg:staged:" TOPIC ":0:-:%lld", (long long)sb.nfirst), 1);
    claim(&b); /* finishes the chunks left */
    assert_int_equal(b.from, (int64_t)sb.nfirst);
    assert_int_equal(cmd_int(w, "EXISTS stg:staged:" TOPIC ":0:-:%lld", (long long)sb.nfirst), 0);
    bool already = false;
    assert_int_equal(apply(&a, &already), FD_ERR_FENCED);
    fold_many(&b, sb.second, sb.nsecond);
    apply_ok(&b);
    assert_same_as_reference(w, "stg");
    consumer_clear(&a);
    consumer_clear(&b);
    staged_batches_clear(&sb);
}

/* A plain apply of a partition whose staged batch is not finished is refused (STAGED); the
 * store finishes that batch, then sends the refused one again. */
static void test_store_apply_behind_an_unfinished_staged_batch_finishes_it_first(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    staged_batches_t sb;
    staged_batches_init(&sb);
    apply_reference(w, &sb);
    consumer_t c;
    consumer_init_chunked(&c, w, "stg", 100, 0);
    claim(&c);
    fold_many(&c, sb.first, sb.nfirst);
    assert_int_equal(fd_store_apply_interrupted(c.st, c.b, c.dc, 2), FD_OK);
    c.from = fd_batch_part_at(c.b, 0)->next;
    fd_dedupe_mark_applied(c.dd);
    fd_dealcache_mark_applied(c.dc);
    fold_many(&c, sb.second, sb.nsecond);
    apply_ok(&c); /* STAGED, finished, sent again: OK */
    assert_same_as_reference(w, "stg");
    assert_int_equal(stat_of(w, "stg", "batches"), 2);
    consumer_clear(&c);
    staged_batches_clear(&sb);
}

/* The pipelined form: a staged batch in flight is answered only once every chunk is. */
static void test_store_staged_batch_in_flight_is_answered_after_its_last_chunk(void **state) {
    (void)state;
    world_t *w = &plain;
    flushall(w);
    staged_batches_t sb;
    staged_batches_init(&sb);
    apply_reference(w, &sb);
    consumer_t c;
    consumer_init_chunked(&c, w, "stg", 100, 0);
    claim(&c);
    fold_many(&c, sb.first, sb.nfirst);
    assert_int_equal(fd_store_apply_send(c.st, c.b, c.dc), FD_OK);
    for (int i = 0; i < 2000 && !fd_store_apply_answered(c.st); i++) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 5000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(fd_store_apply_answered(c.st));
    /* every answer arrived: every chunk has landed before the wait */
    assert_int_equal(cmd_int(w, "EXISTS stg:staged:" TOPIC ":0:-:%lld", (long long)sb.nfirst), 0);
    bool already = true;
    assert_int_equal(fd_store_apply_wait(c.st, c.b, &already), FD_OK);
    assert_false(already);
    c.from = fd_batch_part_at(c.b, 0)->next;
    fd_dedupe_mark_applied(c.dd);
    fd_dealcache_mark_applied(c.dc);
    fold_many(&c, sb.second, sb.nsecond);
    apply_ok(&c);
    assert_same_as_reference(w, "stg");
    consumer_clear(&c);
    staged_batches_clear(&sb);
}

static void test_store_auth_with_password(void **state) {
    (void)state;
    world_t *w = &secured;
    flushall(w);
    char errstr[512];
    assert_int_equal(try_claim(w, NULL, NULL, errstr, sizeof errstr), FD_ERR_REDIS);
    assert_int_equal(try_claim(w, "", "wrong-pw-123", errstr, sizeof errstr), FD_ERR_REDIS);
    assert_non_null(strstr(errstr, "AUTH"));
    assert_null(strstr(errstr, "wrong-pw-123"));
    assert_int_equal(try_claim(w, "", "s3cret-pw", errstr, sizeof errstr), FD_OK);
    assert_hget(w, "funnel:rep:all:pam", "activity:call", "1");
}

static void test_store_auth_with_acl_user(void **state) {
    (void)state;
    world_t *w = &secured;
    flushall(w);
    freeReplyObject(cmd(w, "ACL SETUSER funneld on >pw-of-funneld ~funnel:* +@all"));
    char errstr[512];
    assert_int_equal(try_claim(w, "funneld", "not-it", errstr, sizeof errstr), FD_ERR_REDIS);
    assert_non_null(strstr(errstr, "funneld"));
    assert_null(strstr(errstr, "not-it"));
    assert_int_equal(try_claim(w, "funneld", "pw-of-funneld", errstr, sizeof errstr), FD_OK);
    assert_hget(w, "funnel:rep:all:pam", "activity:call", "1");
    freeReplyObject(cmd(w, "ACL DELUSER funneld"));
}

/* fd_store_check with the given settings; the error text in errstr. */
static fd_err_t check_with(world_t *w, int port, const char *user, const char *password, int db,
                           char *errstr, size_t size) {
    fd_store_opts_t o = opts_for(w, user, password);
    o.port = port;
    o.db = db;
    fd_store_t *st = NULL;
    assert_int_equal(fd_store_new(w->fn, &o, &st), FD_OK);
    assert_non_null(st);
    fd_err_t err = fd_store_check(st);
    snprintf(errstr, size, "%s", fd_store_errstr(st));
    fd_store_destroy(st);
    return err;
}

static void test_store_check_tells_refused_settings_from_an_absent_redis(void **state) {
    (void)state;
    world_t *w = &secured;
    freeReplyObject(cmd(w, "ACL SETUSER noscripts on >pw-noscripts ~funnel:* +@all -script"));
    char errstr[512];
    assert_int_equal(check_with(w, w->fx.port, NULL, "s3cret-pw", 0, errstr, sizeof errstr), FD_OK);
    /* Redis answers, and refuses: a configuration error naming the setting */
    assert_int_equal(check_with(w, w->fx.port, NULL, NULL, 0, errstr, sizeof errstr),
                     FD_ERR_CONFIG);
    assert_non_null(strstr(errstr, "redis.password is not set"));
    assert_int_equal(check_with(w, w->fx.port, NULL, "wrong-pw-123", 0, errstr, sizeof errstr),
                     FD_ERR_CONFIG);
    assert_non_null(strstr(errstr, "redis.password"));
    assert_null(strstr(errstr, "wrong-pw-123"));
    assert_int_equal(check_with(w, w->fx.port, "funneld", "s3cret-pw", 0, errstr, sizeof errstr),
                     FD_ERR_CONFIG);
    assert_non_null(strstr(errstr, "redis.user"));
    assert_int_equal(check_with(w, w->fx.port, NULL, "s3cret-pw", 99, errstr, sizeof errstr),
                     FD_ERR_CONFIG);
    assert_non_null(strstr(errstr, "redis.db"));
    assert_int_equal(
        check_with(w, w->fx.port, "noscripts", "pw-noscripts", 0, errstr, sizeof errstr),
        FD_ERR_CONFIG);
    assert_non_null(strstr(errstr, "SCRIPT LOAD"));
    /* a transient refusal is not a configuration error either: Redis BUSY running a script */
    freeReplyObject(cmd(w, "CONFIG SET busy-reply-threshold 50"));
    redisContext *busy = fd_redis_fixture_connect(&w->fx);
    assert_non_null(busy);
    redisAppendCommand(busy, "EVAL %s 0", "while true do end");
    int done = 0;
    while (!done)
        assert_int_equal(redisBufferWrite(busy, &done), REDIS_OK);
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 300 * 1000000L};
    nanosleep(&pause, NULL);
    assert_int_equal(check_with(w, w->fx.port, NULL, "s3cret-pw", 0, errstr, sizeof errstr),
                     FD_ERR_REDIS);
    assert_non_null(strstr(errstr, "BUSY"));
    freeReplyObject(cmd(w, "SCRIPT KILL"));
    redisReply *killed = NULL;
    assert_int_equal(redisGetReply(busy, (void **)&killed), REDIS_OK);
    freeReplyObject(killed);
    redisFree(busy);
    freeReplyObject(cmd(w, "CONFIG SET busy-reply-threshold 5000"));
    /* nothing listens: not a configuration error, later calls retry */
    int closed = fd_redis_fixture_free_port();
    assert_int_equal(check_with(w, closed, NULL, "s3cret-pw", 0, errstr, sizeof errstr),
                     FD_ERR_REDIS);
    freeReplyObject(cmd(w, "ACL DELUSER noscripts"));
}

int main(void) {
    /* a write to a connection Redis closed must fail, not kill the test */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest plain_tests[] = {
        cmocka_unit_test(test_store_apply_writes_every_field_of_every_scope_and_window),
        cmocka_unit_test(test_store_pipelined_batches_equal_one_batch),
        cmocka_unit_test(test_store_inflight_apply_resent_after_timeout_counts_once),
        cmocka_unit_test(test_store_hash_without_rates_inputs_has_no_derived_fields),
        cmocka_unit_test(test_store_derived_fields_follow_later_batches),
        cmocka_unit_test(test_store_won_amount_adds_exact_hundredths),
        cmocka_unit_test(test_store_retried_batch_is_already_applied_and_doubles_nothing),
        cmocka_unit_test(test_store_fenced_apply_writes_nothing),
        cmocka_unit_test(test_store_gap_when_stored_offset_differs),
        cmocka_unit_test(test_store_dedupe_list_drops_whole_oldest_chunks_beyond_max),
        cmocka_unit_test(test_store_claim_loads_dedupe_ids_so_resent_events_are_duplicates),
        cmocka_unit_test(test_store_load_deals_round_trips_and_caches_unknown_deals_empty),
        cmocka_unit_test(test_store_deal_assumed_new_that_exists_is_refused_before_writing),
        cmocka_unit_test(test_store_reconnects_after_redis_restart),
        cmocka_unit_test(test_store_command_timeout_drops_connection_and_recovers),
        cmocka_unit_test(test_store_reloads_scripts_after_script_flush),
        cmocka_unit_test(test_store_malformed_stored_amount_refuses_before_writing),
        cmocka_unit_test(test_store_large_batch_applies_in_one_step),
        cmocka_unit_test(test_store_counters_beyond_2_53_add_exactly),
        cmocka_unit_test(test_store_delta_beyond_10_15_adds_exactly),
        cmocka_unit_test(test_store_amounts_add_exactly_across_the_fast_path_limit),
        cmocka_unit_test(test_store_malformed_stored_counter_refuses_before_writing),
        cmocka_unit_test(test_store_malformed_stats_field_refuses_before_writing),
        cmocka_unit_test(test_store_rate_with_zero_denominator_is_removed),
        cmocka_unit_test(test_store_staged_batch_equals_the_plain_apply),
        cmocka_unit_test(test_store_staged_commit_and_chunks_sent_again_count_once),
        cmocka_unit_test(test_store_staged_batch_resent_after_a_timeout_counts_once),
        cmocka_unit_test(test_store_claim_finishes_a_half_applied_staged_batch),
        cmocka_unit_test(test_store_apply_behind_an_unfinished_staged_batch_finishes_it_first),
        cmocka_unit_test(test_store_staged_batch_in_flight_is_answered_after_its_last_chunk),
    };
    const struct CMUnitTest secured_tests[] = {
        cmocka_unit_test(test_store_auth_with_password),
        cmocka_unit_test(test_store_auth_with_acl_user),
        cmocka_unit_test(test_store_check_tells_refused_settings_from_an_absent_redis),
    };
    int failed = cmocka_run_group_tests_name("store", plain_tests, plain_setup, plain_teardown);
    failed +=
        cmocka_run_group_tests_name("store_auth", secured_tests, secured_setup, secured_teardown);
    return failed;
}
