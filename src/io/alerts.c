// SPDX-License-Identifier: MIT
// The alert evaluator and its sinks: lease, window reads, state machines, atomic notification
// writes to Redis and delivery to Kafka through an outbox (layer 3).
#include "io/alerts.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "alerting/alertfsm.h"
#include "alerting/alertmsg.h"
#include "base/log.h"
#include "base/map.h"
#include "io/publisher.h"

#define CHUNK_SCOPES     256                /* scopes evaluated per tick */
#define TOUCHED_EVERY_MS 1000               /* touched scopes are evaluated at most this often */
#define TICK_BUDGET_US   20000              /* evaluation time per tick, between batches */
#define PIPE_WINDOW      1024               /* commands in flight at once */
#define SCAN_EVERY_MS    (10 * 60 * 1000LL) /* keyspace SCAN for scopes */
#define MAX_SIGS         64
#define KEY_MAX          512
#define FD_TOPIC_KEY_MAX 272 /* "<topic>:<partition>" */
#define HOUR_MS          3600000LL
#define DAY_MS           86400000LL
/* The event clock never runs ahead of the wall clock by more than this: one event stamped far in
 * the future must not make every rolling window look empty. */
#define CLOCK_SKEW_MS (5 * 60 * 1000LL)
/* A partition whose latest event time has not moved for this long (wall time) no longer holds
 * the watermark back: the stream may simply have gone quiet there. */
#define IDLE_PARTITION_MS (5 * 60 * 1000LL)
/* When the event clock jumps (a back-fill, a restart with a backlog), sweeps walk forward in
 * steps of this much, so that for / resolve_for durations see the history as live traffic. */
#define CATCH_UP_STEP_MS HOUR_MS

/* Lease: take it when free, renew it when ours. */
static const char lease_lua[] = "local cur = redis.call('GET', KEYS[1])\n"
                                "if cur == false or cur == ARGV[1] then\n"
                                "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
                                "  return 1\n"
                                "end\n"
                                "return 0\n";

/* The shared event clock only moves forward. */
/* The shared event clock: per partition the latest event time applied (p:<topic>:<partition>)
 * and when that last moved on the wall clock (s:...), the overall latest (event_ms) and the
 * earliest event (first_ms); every value only moves forward (first_ms backward). ARGV: first,
 * then (partition field, latest) pairs. */
static const char clock_lua[] =
    "local now = redis.call('TIME')\n"
    "local wall = tostring(now[1] * 1000 + math.floor(now[2] / 1000))\n"
    "local f = redis.call('HGET', KEYS[1], 'first_ms')\n"
    "if not f or tonumber(ARGV[1]) < tonumber(f) then\n"
    "  redis.call('HSET', KEYS[1], 'first_ms', ARGV[1])\n"
    "end\n"
    "for i = 2, #ARGV - 1, 2 do\n"
    "  local v = tonumber(ARGV[i + 1])\n"
    "  if v > tonumber(redis.call('HGET', KEYS[1], 'p:' .. ARGV[i]) or '0') then\n"
    "    redis.call('HSET', KEYS[1], 'p:' .. ARGV[i], ARGV[i + 1], 's:' .. ARGV[i], wall)\n"
    "  end\n"
    "  if v > tonumber(redis.call('HGET', KEYS[1], 'event_ms') or '0') then\n"
    "    redis.call('HSET', KEYS[1], 'event_ms', ARGV[i + 1])\n"
    "  end\n"
    "end\n"
    "return 1\n";

/* Assigned partitions hold the watermark: a partition never seen gets latest 0 (nothing known:
 * no window can be judged), and every assigned one counts as active from now, even if its last
 * event is old (a restart with a backlog). ARGV: the partition fields. */
static const char hold_lua[] = "local now = redis.call('TIME')\n"
                               "local wall = tostring(now[1] * 1000 + math.floor(now[2] / 1000))\n"
                               "for i = 1, #ARGV do\n"
                               "  redis.call('HSETNX', KEYS[1], 'p:' .. ARGV[i], '0')\n"
                               "  redis.call('HSET', KEYS[1], 's:' .. ARGV[i], wall)\n"
                               "end\n"
                               "return 1\n";

/* The clock hash and Redis's TIME in one step: {seconds, microseconds, HGETALL}. */
static const char read_clock_lua[] = "local t = redis.call('TIME')\n"
                                     "return {tonumber(t[1]), tonumber(t[2]),\n"
                                     "        redis.call('HGETALL', KEYS[1])}\n";

/* Every partition of a consumed topic holds the watermark, even one no instance has been
 * assigned yet (its owner is still joining): registered at 0 and seen now, unless it is
 * registered already. ARGV: the partition fields. */
static const char expect_lua[] =
    "local now = redis.call('TIME')\n"
    "local wall = tostring(now[1] * 1000 + math.floor(now[2] / 1000))\n"
    "for i = 1, #ARGV do\n"
    "  if redis.call('HSETNX', KEYS[1], 'p:' .. ARGV[i], '0') == 1 then\n"
    "    redis.call('HSET', KEYS[1], 's:' .. ARGV[i], wall)\n"
    "  end\n"
    "end\n"
    "return 1\n";

/* A complete sweep's clock, only while the lease is ours and only forwards (one stale or
 * deposed writer must not move the shared clock back or pin it ahead). KEYS lease, clock;
 * ARGV token, clock. */
static const char evaluated_lua[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "local cur = tonumber(redis.call('HGET', KEYS[2], 'evaluated_ms') or '0') or 0\n"
    "if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[2], 'evaluated_ms', ARGV[2]) end\n"
    "return 1\n";

/* State changes and their notifications, all or nothing, and only while the lease is ours:
 * KEYS lease, firing hash, stream, outbox; ARGV token, stream cap, channel, then groups of 7:
 * state key, state field, state text, notification state ("" = none), firing field, alert_id,
 * JSON. */
static const char commit_lua[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "-- Redis does not roll a failed script back: check every key's type before writing.\n"
    "local function want(k, ty)\n"
    "  local t = redis.call('TYPE', k).ok\n"
    "  if t ~= 'none' and t ~= ty then\n"
    "    return redis.error_reply('funneld alerts: ' .. k .. ' is a ' .. t .. ', expected a ' .. "
    "ty)\n"
    "  end\n"
    "end\n"
    "local bad = want(KEYS[2], 'hash') or want(KEYS[3], 'stream') or want(KEYS[4], 'hash')\n"
    "if bad then return bad end\n"
    "local seen, j = {}, 4\n"
    "while j + 6 <= #ARGV do\n"
    "  if not seen[ARGV[j]] then\n"
    "    seen[ARGV[j]] = true\n"
    "    bad = want(ARGV[j], 'hash')\n"
    "    if bad then return bad end\n"
    "  end\n"
    "  j = j + 7\n"
    "end\n"
    "local i = 4\n"
    "while i + 6 <= #ARGV do\n"
    "  redis.call('HSET', ARGV[i], ARGV[i + 1], ARGV[i + 2])\n"
    "  local kind = ARGV[i + 3]\n"
    "  if kind ~= '' then\n"
    "    local js = ARGV[i + 6]\n"
    "    if kind == 'firing' then redis.call('HSET', KEYS[2], ARGV[i + 4], js)\n"
    "    else redis.call('HDEL', KEYS[2], ARGV[i + 4]) end\n"
    "    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'alert_id', ARGV[i + 5],\n"
    "               'state', kind, 'json', js)\n"
    "    redis.call('HSET', KEYS[4], ARGV[i + 5], js)\n"
    "    redis.call('PUBLISH', ARGV[3], js)\n"
    "  end\n"
    "  i = i + 7\n"
    "end\n"
    "return 1\n";

/* A window signature: what one group of rules reads. Rolling: the hours ending at the clock
 * minus lag; calendar: one window; baseline: the `days` local days before a rolling window. */
typedef enum { SIG_ROLL = 0, SIG_CAL, SIG_BASE } sig_type_t;
typedef struct {
    sig_type_t type;
    int64_t span_ms, lag_ms;
    fd_win_kind_t cal;
    int days;
    /* per cycle: window ids and the slot each sums into */
    char (*ids)[FD_WIN_ID_MAX];
    int *slot;
    size_t nids, ids_cap;
    double elapsed; /* calendar: fraction of the window elapsed */
    bool complete;  /* the window starts at or after the stream's first event */
    size_t off;     /* first slot of this signature in a scope's slots */
    size_t nslots;  /* 1, or days */
} sig_t;

/* A distinct window hash of one cycle ("day:2026-11-22", "hour:2026-11-22T10") and every
 * (signature, slot) it sums into: read once per scope however many rules need it. */
typedef struct {
    char id[FD_WIN_ID_MAX];
    size_t ndest;
    int sig[MAX_SIGS * 2];
    size_t slot[MAX_SIGS * 2]; /* absolute slot in a scope's slots */
} win_t;

typedef struct {
    fd_scope_t kind;
    char *id;   /* "" for org */
    char *team; /* rep: its team ("" unknown); team: itself; org: "" */
} scope_t;

/* Open deals by stage-entry time, per (scope kind, id, stage), from the last stall scan. */
typedef struct {
    int64_t *at;
    size_t n, cap;
} times_t;

typedef struct {
    char *key; /* state hash key */
    int cur_sig, base_sig;
} rule_plan_t;

struct fd_alerts {
    const fd_config_t *cfg;
    const fd_funnel_t *fn;
    fd_timewin_t *tw;
    const fd_rules_t *rs;
    char prefix[80];
    char token[160];
    bool wall;
    int64_t interval_ms, stall_every_ms, lease_ms;
    redisContext *c;
    fd_publisher_t *pub;
    char errstr[512];

    size_t nrules, nfields;
    rule_plan_t *plan;
    sig_t sigs[MAX_SIGS];
    size_t nsigs, slots_per_scope;
    win_t *wins; /* this cycle's distinct window hashes */
    size_t nwins, wins_cap;
    size_t *fields; /* funnel fields read (union over rules) */
    size_t nread;
    bool any_stalled;

    /* registry: rep -> team (heap strings), teams -> (void *)1 */
    fd_map_t *reps, *teams;
    fd_map_t *touched;      /* "<kind>\x1f<id>" -> (void *)1 */
    fd_map_t *team_dirty;   /* rep -> team to write to <prefix>:rep_team */
    fd_map_t *part_noted;   /* "<topic>:<partition>" -> int64_t * latest event, this batch */
    fd_map_t *part_sent;    /* the same, of the batch sent to Redis and not yet answered */
    fd_map_t *part_pending; /* the same, applied, not yet written to <prefix>:clock */
    fd_map_t *part_hold;    /* "<topic>:<partition>" -> (void *)1: assigned, hold not yet written */
    fd_map_t *part_expect;  /* "<topic>:<partition>" -> (void *)1: to register, not yet written */
    int64_t noted_min_ms, sent_min_ms, first_pending_ms;
    int64_t first_ms;     /* the earliest event time of the stream: windows before it lack data */
    fd_map_t *stalled;    /* "<kind>\x1f<id>\x1f<stage>" -> times_t * */
    fd_map_t *inflight;   /* alert_id -> (void *)1 while Kafka has it */
    int64_t sent;         /* notifications handed to Kafka */
    int64_t evaluated_ms; /* the clock of the last complete sweep (shared in <prefix>:clock) */
    int64_t max_clock_ms; /* the highest clock this instance evaluated at (touched scopes too) */
    bool catching_up;     /* the clock ran ahead of the last sweep by more than a step */
    char **acked;         /* delivered alert_ids to drop from the outbox */
    size_t nacked, acked_cap;

    bool leader;
    int64_t lease_next_ms, next_sweep_ms, next_stall_ms, last_touched_ms, next_scan_ms;
    scope_t *work; /* the current list: a sweep or touched scopes */
    size_t nwork, work_pos;
    bool work_is_sweep;
    bool work_explicit; /* the list runs at a clock given by the caller: not shared */
    int64_t sweep_started_us;
    int64_t clock_ms; /* the evaluation clock of the current list */
    fd_alerts_stats_t stats;
};

/* ---- small helpers ---- */

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_err(fd_alerts_t *al, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(fd_alerts_t *al, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(al->errstr, sizeof al->errstr, fmt, ap);
    va_end(ap);
}

static void disconnect(fd_alerts_t *al) {
    if (al->c) redisFree(al->c);
    al->c = NULL;
}

static fd_err_t io_fail(fd_alerts_t *al, const char *what) {
    set_err(al, "%s: %s (%s:%" PRId64 ")", what, al->c && al->c->err ? al->c->errstr : "no reply",
            al->cfg->redis_host, al->cfg->redis_port);
    disconnect(al);
    return FD_ERR_REDIS;
}

static fd_err_t reply_fail(fd_alerts_t *al, const char *what, redisReply *r) {
    if (r && r->type == REDIS_REPLY_ERROR)
        set_err(al, "%s: %s", what, r->str);
    else
        set_err(al, "%s: unexpected reply type %d", what, r ? r->type : -1);
    if (r) freeReplyObject(r);
    disconnect(al);
    return FD_ERR_REDIS;
}

static fd_err_t connect_redis(fd_alerts_t *al) {
    if (al->c) return FD_OK;
    const fd_config_t *cfg = al->cfg;
    struct timeval tv = {.tv_sec = cfg->redis_timeout_ms / 1000,
                         .tv_usec = (cfg->redis_timeout_ms % 1000) * 1000};
    al->c = redisConnectWithTimeout(cfg->redis_host, (int)cfg->redis_port, tv);
    if (al->c == NULL || al->c->err) return io_fail(al, "connect");
    if (redisSetTimeout(al->c, tv) != REDIS_OK) return io_fail(al, "set timeout");
    redisReply *r = NULL;
    if (cfg->redis_password[0]) {
        if (cfg->redis_user[0]) {
            const char *argv[] = {"AUTH", cfg->redis_user, cfg->redis_password};
            r = redisCommandArgv(al->c, 3, argv, NULL);
        } else {
            const char *argv[] = {"AUTH", cfg->redis_password};
            r = redisCommandArgv(al->c, 2, argv, NULL);
        }
        if (r == NULL) return io_fail(al, "AUTH");
        if (r->type != REDIS_REPLY_STATUS) return reply_fail(al, "AUTH (redis.password)", r);
        freeReplyObject(r);
    }
    if (cfg->redis_db) {
        char db[24];
        snprintf(db, sizeof db, "%" PRId64, cfg->redis_db);
        const char *argv[] = {"SELECT", db};
        if ((r = redisCommandArgv(al->c, 2, argv, NULL)) == NULL) return io_fail(al, "SELECT");
        if (r->type != REDIS_REPLY_STATUS) return reply_fail(al, "SELECT (redis.db)", r);
        freeReplyObject(r);
    }
    return FD_OK;
}

/* Runs one command; *out gets the reply (the caller frees it). */
static fd_err_t command(fd_alerts_t *al, const char *what, int argc, const char **argv,
                        const size_t *len, redisReply **out) {
    fd_err_t err = connect_redis(al);
    if (err) return err;
    redisReply *r = redisCommandArgv(al->c, argc, argv, len);
    if (r == NULL) return io_fail(al, what);
    if (r->type == REDIS_REPLY_ERROR) return reply_fail(al, what, r);
    *out = r;
    return FD_OK;
}

static char *xstrdup(const char *s) {
    return strdup(s ? s : "");
}

typedef struct {
    const char **argv;
    size_t *len;
    char **owned;
    size_t n, cap, nowned, owned_cap;
} args_t;

static fd_err_t args_push(args_t *a, const char *s, size_t len, bool own) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        const char **v = realloc(a->argv, cap * sizeof *v);
        if (v == NULL) return FD_ERR_NOMEM;
        a->argv = v;
        size_t *l = realloc(a->len, cap * sizeof *l);
        if (l == NULL) return FD_ERR_NOMEM;
        a->len = l;
        a->cap = cap;
    }
    if (own) {
        if (a->nowned == a->owned_cap) {
            size_t cap = a->owned_cap ? a->owned_cap * 2 : 64;
            char **o = realloc(a->owned, cap * sizeof *o);
            if (o == NULL) return FD_ERR_NOMEM;
            a->owned = o;
            a->owned_cap = cap;
        }
        char *copy = malloc(len + 1);
        if (copy == NULL) return FD_ERR_NOMEM;
        memcpy(copy, s, len);
        copy[len] = '\0';
        a->owned[a->nowned++] = copy;
        s = copy;
    }
    a->argv[a->n] = s;
    a->len[a->n++] = len;
    return FD_OK;
}

static void args_free(args_t *a) {
    for (size_t i = 0; i < a->nowned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->argv);
    free(a->len);
    memset(a, 0, sizeof *a);
}

static void key_of(const fd_alerts_t *al, char *buf, size_t size, const char *suffix) {
    snprintf(buf, size, "%s:%s", al->prefix, suffix);
}

/* ---- construction ---- */

static int sig_find(fd_alerts_t *al, const sig_t *s) {
    for (size_t i = 0; i < al->nsigs; i++) {
        const sig_t *t = &al->sigs[i];
        if (t->type == s->type && t->span_ms == s->span_ms && t->lag_ms == s->lag_ms &&
            t->cal == s->cal && t->days == s->days)
            return (int)i;
    }
    if (al->nsigs == MAX_SIGS) return -1;
    al->sigs[al->nsigs] = *s;
    return (int)al->nsigs++;
}

static void on_delivered(void *opaque, const void *key, size_t key_len, bool ok) {
    fd_alerts_t *al = opaque;
    char *id = fd_map_del(al->inflight, key, key_len);
    (void)id;
    if (!ok) return; /* stays in the outbox: sent again on the next resend */
    al->stats.delivered++;
    if (al->nacked == al->acked_cap) {
        size_t cap = al->acked_cap ? al->acked_cap * 2 : 64;
        char **a = realloc(al->acked, cap * sizeof *a);
        if (a == NULL) return;
        al->acked = a;
        al->acked_cap = cap;
    }
    char *copy = malloc(key_len + 1);
    if (copy == NULL) return;
    memcpy(copy, key, key_len);
    copy[key_len] = '\0';
    al->acked[al->nacked++] = copy;
}

fd_err_t fd_alerts_new(const fd_alerts_opts_t *o, fd_alerts_t **out, char *errstr,
                       size_t errstr_size) {
    *out = NULL;
    fd_alerts_t *al = calloc(1, sizeof *al);
    if (al == NULL) return FD_ERR_NOMEM;
    fd_err_t err = FD_ERR_NOMEM;
    al->cfg = o->cfg;
    al->fn = o->fn;
    al->tw = o->tw;
    al->rs = o->rs;
    snprintf(al->prefix, sizeof al->prefix, "%s", o->cfg->prefix);
    unsigned char raw[8] = {0};
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        uint64_t x = (uint64_t)wall_ms() ^ ((uint64_t)getpid() << 32);
        memcpy(raw, &x, sizeof raw);
    }
    snprintf(al->token, sizeof al->token, "%.100s:%02x%02x%02x%02x%02x%02x%02x%02x", o->instance,
             raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]);
    al->wall = fd_rules_wall_clock(o->rs);
    al->interval_ms = fd_rules_interval_ms(o->rs);
    al->stall_every_ms = fd_rules_stall_scan_ms(o->rs);
    al->lease_ms = o->cfg->alerts_lease_ms;
    al->nrules = fd_rules_count(o->rs);
    al->nfields = fd_funnel_nfields(o->fn);
    al->noted_min_ms = al->sent_min_ms = al->first_pending_ms = INT64_MAX;
    if ((al->reps = fd_map_new()) == NULL || (al->teams = fd_map_new()) == NULL ||
        (al->touched = fd_map_new()) == NULL || (al->team_dirty = fd_map_new()) == NULL ||
        (al->stalled = fd_map_new()) == NULL || (al->inflight = fd_map_new()) == NULL ||
        (al->part_noted = fd_map_new()) == NULL || (al->part_pending = fd_map_new()) == NULL ||
        (al->part_sent = fd_map_new()) == NULL || (al->part_hold = fd_map_new()) == NULL ||
        (al->part_expect = fd_map_new()) == NULL)
        goto fail;
    al->plan = calloc(al->nrules + 1, sizeof *al->plan);
    al->fields = calloc(al->nfields + 1, sizeof *al->fields);
    if (al->plan == NULL || al->fields == NULL) goto fail;

    bool want[512] = {false};
    for (size_t i = 0; i < al->nrules; i++) {
        const fd_rule_t *r = fd_rules_at(o->rs, i);
        char key[KEY_MAX];
        snprintf(key, sizeof key, "%s:alerts:state:%s", al->prefix, r->name);
        if ((al->plan[i].key = strdup(key)) == NULL) goto fail;
        al->plan[i].cur_sig = al->plan[i].base_sig = -1;
        size_t idx[2];
        size_t n = fd_kpi_fields(o->fn, r->kpi, idx);
        for (size_t k = 0; k < n; k++)
            if (idx[k] < sizeof want) want[idx[k]] = true;
        sig_t s = {0};
        if (r->kpi.kind == FD_KPI_STALLED) {
            al->any_stalled = true;
            continue;
        }
        if (r->window.type == FD_RULE_WIN_ROLLING) {
            s.type = SIG_ROLL;
            s.span_ms = r->window.span_ms;
            s.lag_ms = r->window.lag_ms;
        } else {
            s.type = SIG_CAL;
            s.cal = r->window.cal;
        }
        al->plan[i].cur_sig = sig_find(al, &s);
        if (r->cond == FD_COND_DRIFT) {
            /* the rule's own baseline days: no override or filter changes them (asking the
             * parameters of the id "" gave 28 whenever a filter excluded that id) */
            int days = fd_rules_baseline_days(o->rs, i);
            if (days < 1) days = 28;
            sig_t b = {.type = SIG_BASE, .span_ms = s.span_ms, .lag_ms = s.lag_ms, .days = days};
            al->plan[i].base_sig = sig_find(al, &b);
        }
        if (al->plan[i].cur_sig < 0 || (r->cond == FD_COND_DRIFT && al->plan[i].base_sig < 0)) {
            snprintf(errstr, errstr_size, "alerts.rules: more than %d distinct windows", MAX_SIGS);
            err = FD_ERR_CONFIG;
            goto fail;
        }
    }
    for (size_t f = 0; f < al->nfields && f < sizeof want; f++)
        if (want[f]) al->fields[al->nread++] = f;
    size_t off = 0;
    for (size_t g = 0; g < al->nsigs; g++) {
        sig_t *s = &al->sigs[g];
        s->off = off;
        s->nslots = s->type == SIG_BASE ? (size_t)s->days : 1;
        off += s->nslots;
    }
    al->slots_per_scope = off;

    if (o->publish) {
        err = fd_publisher_new(o->cfg, o->cfg->alerts_topic, on_delivered, al, &al->pub, errstr,
                               errstr_size);
        if (err) goto fail;
    }
    *out = al;
    return FD_OK;
fail:
    fd_alerts_destroy(al, 0);
    return err;
}

static void free_map_values(fd_map_t *m, bool times) {
    if (m == NULL) return;
    size_t pos = 0;
    const char *k;
    size_t len;
    void *v;
    while (fd_map_next(m, &pos, &k, &len, &v)) {
        if (times && v) free(((times_t *)v)->at);
        free(v);
    }
    fd_map_clear(m);
}

static void work_clear(fd_alerts_t *al) {
    for (size_t i = 0; i < al->nwork; i++) {
        free(al->work[i].id);
        free(al->work[i].team);
    }
    free(al->work);
    al->work = NULL;
    al->nwork = al->work_pos = 0;
}

void fd_alerts_destroy(fd_alerts_t *al, int timeout_ms) {
    if (al == NULL) return;
    fd_publisher_destroy(al->pub, timeout_ms);
    disconnect(al);
    free_map_values(al->reps, false);
    fd_map_destroy(al->reps);
    fd_map_destroy(al->teams);
    fd_map_destroy(al->touched);
    free_map_values(al->team_dirty, false);
    fd_map_destroy(al->team_dirty);
    free_map_values(al->stalled, true);
    fd_map_destroy(al->stalled);
    fd_map_destroy(al->inflight);
    free_map_values(al->part_noted, false);
    fd_map_destroy(al->part_noted);
    free_map_values(al->part_pending, false);
    fd_map_destroy(al->part_pending);
    free_map_values(al->part_sent, false);
    fd_map_destroy(al->part_sent);
    fd_map_destroy(al->part_hold);
    fd_map_destroy(al->part_expect);
    for (size_t i = 0; i < al->nacked; i++)
        free(al->acked[i]);
    free(al->acked);
    for (size_t i = 0; al->plan && i < al->nrules; i++)
        free(al->plan[i].key);
    free(al->plan);
    free(al->fields);
    for (size_t g = 0; g < al->nsigs; g++) {
        free(al->sigs[g].ids);
        free(al->sigs[g].slot);
    }
    free(al->wins);
    work_clear(al);
    free(al);
}

/* ---- registry and notes ---- */

static void touch(fd_alerts_t *al, fd_scope_t kind, const char *id) {
    char key[FD_ID_MAX + 4];
    int n = snprintf(key, sizeof key, "%d\x1f%s", (int)kind, id);
    if (n < 0 || (size_t)n >= sizeof key) return;
    if (fd_map_get(al->touched, key, (size_t)n) == NULL)
        fd_map_put(al->touched, key, (size_t)n, (void *)1);
}

/* Records rep -> team; true when it changed. */
static bool registry_put(fd_alerts_t *al, const char *rep, const char *team) {
    size_t rl = strlen(rep), tl = strlen(team);
    char *cur = fd_map_get(al->reps, rep, rl);
    if (tl > 0 && fd_map_get(al->teams, team, tl) == NULL)
        fd_map_put(al->teams, team, tl, (void *)1);
    if (cur != NULL && strcmp(cur, team) == 0) return false;
    char *copy = strdup(team);
    if (copy == NULL) return false;
    if (fd_map_put(al->reps, rep, rl, copy) != FD_OK) {
        free(copy);
        return false;
    }
    free(cur);
    return true;
}

/* Raises m[key] to at least v. */
static void map_max(fd_map_t *m, const char *key, size_t len, int64_t v) {
    int64_t *cur = fd_map_get(m, key, len);
    if (cur != NULL) {
        if (v > *cur) *cur = v;
        return;
    }
    if ((cur = malloc(sizeof *cur)) == NULL) return;
    *cur = v;
    if (fd_map_put(m, key, len, cur) != FD_OK) free(cur);
}

/* Writes the "<topic>:<partition>" key of a partition into pk (FD_TOPIC_KEY_MAX bytes); its length,
 * or 0 when it does not fit. */
static size_t part_key(char *pk, const char *topic, int32_t partition) {
    int pl = snprintf(pk, FD_TOPIC_KEY_MAX, "%s:%" PRId32, topic, partition);
    return pl > 0 && pl < FD_TOPIC_KEY_MAX ? (size_t)pl : 0;
}

void fd_alerts_note(fd_alerts_t *al, const fd_event_t *ev, const char *topic, int32_t partition) {
    char pk[FD_TOPIC_KEY_MAX];
    size_t pl = part_key(pk, topic, partition);
    if (pl > 0) map_max(al->part_noted, pk, pl, ev->occurred_ms);
    if (ev->occurred_ms < al->noted_min_ms) al->noted_min_ms = ev->occurred_ms;
    if (registry_put(al, ev->rep_id, ev->team_id)) {
        size_t rl = strlen(ev->rep_id);
        char *copy = strdup(ev->team_id);
        char *old = copy ? fd_map_get(al->team_dirty, ev->rep_id, rl) : NULL;
        if (copy && fd_map_put(al->team_dirty, ev->rep_id, rl, copy) == FD_OK)
            free(old);
        else
            free(copy);
    }
    if (al->leader) {
        touch(al, FD_SCOPE_REP, ev->rep_id);
        touch(al, FD_SCOPE_TEAM, ev->team_id);
        touch(al, FD_SCOPE_ORG, "");
    }
}

/* Raises every entry of to by those of from, and empties from. */
static void merge_max(fd_map_t *to, fd_map_t *from) {
    size_t pos = 0, len;
    const char *k;
    void *v;
    while (fd_map_next(from, &pos, &k, &len, &v))
        map_max(to, k, len, *(int64_t *)v);
    free_map_values(from, false);
}

void fd_alerts_batch_sent(fd_alerts_t *al) {
    merge_max(al->part_sent, al->part_noted);
    if (al->noted_min_ms < al->sent_min_ms) al->sent_min_ms = al->noted_min_ms;
    al->noted_min_ms = INT64_MAX;
}

void fd_alerts_batch_done(fd_alerts_t *al, bool applied) {
    if (applied) {
        merge_max(al->part_pending, al->part_sent);
        if (al->sent_min_ms < al->first_pending_ms) al->first_pending_ms = al->sent_min_ms;
    } else {
        free_map_values(al->part_sent, false);
        free_map_values(al->part_noted, false);
        al->noted_min_ms = INT64_MAX;
    }
    al->sent_min_ms = INT64_MAX;
}

/* Runs script on the clock key with the partition fields of m as ARGV, then empties m. */
static fd_err_t write_parts(fd_alerts_t *al, fd_map_t *m, const char *script, const char *what) {
    if (fd_map_size(m) == 0) return FD_OK;
    char key[KEY_MAX];
    key_of(al, key, sizeof key, "clock");
    args_t a = {0};
    fd_err_t err = args_push(&a, "EVAL", 4, false);
    if (!err) err = args_push(&a, script, strlen(script), false);
    if (!err) err = args_push(&a, "1", 1, false);
    if (!err) err = args_push(&a, key, strlen(key), true);
    size_t pos = 0, len;
    const char *k;
    void *v;
    while (!err && fd_map_next(m, &pos, &k, &len, &v))
        err = args_push(&a, k, len, true);
    redisReply *r;
    if (!err) err = command(al, what, (int)a.n, a.argv, a.len, &r);
    args_free(&a);
    if (err) return err;
    freeReplyObject(r);
    fd_map_clear(m);
    return FD_OK;
}

/* Writes the registrations and holds not yet written (see expect_lua and hold_lua). */
static fd_err_t write_holds(fd_alerts_t *al) {
    fd_err_t err = write_parts(al, al->part_expect, expect_lua, "register the partitions");
    if (err) return err;
    return write_parts(al, al->part_hold, hold_lua, "hold the event clock");
}

fd_err_t fd_alerts_expect(fd_alerts_t *al, const char *topic, int32_t count) {
    for (int32_t i = 0; i < count; i++) {
        char pk[FD_TOPIC_KEY_MAX];
        size_t pl = part_key(pk, topic, i);
        if (pl == 0) return FD_ERR_INVAL;
        fd_err_t err = fd_map_put(al->part_expect, pk, pl, (void *)1);
        if (err) return err;
    }
    return write_holds(al);
}

fd_err_t fd_alerts_hold(fd_alerts_t *al, const char *topic, int32_t partition) {
    char pk[FD_TOPIC_KEY_MAX];
    size_t pl = part_key(pk, topic, partition);
    if (pl == 0) return FD_ERR_INVAL;
    fd_err_t err = fd_map_put(al->part_hold, pk, pl, (void *)1);
    if (err) return err;
    return write_holds(al);
}

void fd_alerts_unhold(fd_alerts_t *al, const char *topic, int32_t partition) {
    char pk[FD_TOPIC_KEY_MAX];
    size_t pl = part_key(pk, topic, partition);
    if (pl > 0) fd_map_del(al->part_hold, pk, pl);
}

/* Writes what the notes learnt: the event clock and new rep -> team pairs. */
static fd_err_t write_notes(fd_alerts_t *al) {
    redisReply *r;
    fd_err_t err;
    char key[KEY_MAX];
    if ((err = write_holds(al))) return err;
    size_t np = fd_map_size(al->part_pending);
    if (np > 0) {
        args_t a = {0};
        char first[24];
        key_of(al, key, sizeof key, "clock");
        snprintf(first, sizeof first, "%" PRId64, al->first_pending_ms);
        err = args_push(&a, "EVAL", 4, false);
        if (!err) err = args_push(&a, clock_lua, strlen(clock_lua), false);
        if (!err) err = args_push(&a, "1", 1, false);
        if (!err) err = args_push(&a, key, strlen(key), true);
        if (!err) err = args_push(&a, first, strlen(first), true);
        size_t pos = 0, len;
        const char *k;
        void *v;
        while (!err && fd_map_next(al->part_pending, &pos, &k, &len, &v)) {
            char ms[24];
            int ml = snprintf(ms, sizeof ms, "%" PRId64, *(int64_t *)v);
            err = args_push(&a, k, len, true);
            if (!err) err = args_push(&a, ms, (size_t)ml, true);
        }
        if (!err) err = command(al, "update the event clock", (int)a.n, a.argv, a.len, &r);
        args_free(&a);
        if (err) return err;
        freeReplyObject(r);
        free_map_values(al->part_pending, false);
        al->first_pending_ms = INT64_MAX;
    }
    size_t n = fd_map_size(al->team_dirty);
    if (n == 0) return FD_OK;
    const char **argv = malloc((2 * n + 2) * sizeof *argv);
    if (argv == NULL) return FD_ERR_NOMEM;
    key_of(al, key, sizeof key, "rep_team");
    argv[0] = "HSET";
    argv[1] = key;
    size_t pos = 0, i = 2;
    const char *k;
    size_t len;
    void *v;
    char **reps = calloc(n, sizeof *reps);
    while (reps && fd_map_next(al->team_dirty, &pos, &k, &len, &v)) {
        reps[(i - 2) / 2] = strndup(k, len);
        argv[i] = reps[(i - 2) / 2];
        argv[i + 1] = v;
        i += 2;
    }
    err = reps ? command(al, "HSET rep_team", (int)i, argv, NULL, &r) : FD_ERR_NOMEM;
    if (err == FD_OK) {
        freeReplyObject(r);
        free_map_values(al->team_dirty, false);
    }
    for (size_t j = 0; reps && j < n; j++)
        free(reps[j]);
    free(reps);
    free(argv);
    return err;
}

/* Loads every known scope from Redis: rep -> team pairs and the reps and teams that have an
 * all-time hash. */
static fd_err_t load_registry(fd_alerts_t *al) {
    char key[KEY_MAX];
    redisReply *r;
    fd_err_t err;
    key_of(al, key, sizeof key, "rep_team");
    const char *argv[] = {"HGETALL", key};
    if ((err = command(al, "HGETALL rep_team", 2, argv, NULL, &r))) return err;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        registry_put(al, r->element[i]->str, r->element[i + 1]->str);
    freeReplyObject(r);
    /* Scopes folded before any instance wrote rep_team (alerts enabled on existing data) are
     * found by a keyspace SCAN: at lease take-over and then every SCAN_EVERY_MS, since it walks
     * every key of the database. */
    int64_t now = wall_ms();
    if (now < al->next_scan_ms) return FD_OK;
    al->next_scan_ms = now + SCAN_EVERY_MS;
    for (int kind = 0; kind < 2; kind++) {
        char pattern[KEY_MAX], cursor[32] = "0";
        size_t plen = (size_t)snprintf(pattern, sizeof pattern, "%s:%s:all:", al->prefix,
                                       kind == 0 ? "rep" : "team");
        snprintf(pattern + plen, sizeof pattern - plen, "*");
        /* the prefix has no glob characters (A-Z a-z 0-9 . _ -) */
        for (int rounds = 0; rounds < 1000000; rounds++) {
            const char *sargv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
            if ((err = command(al, "SCAN", 6, sargv, NULL, &r))) return err;
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return reply_fail(al, "SCAN", r);
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
            redisReply *keys = r->element[1];
            for (size_t i = 0; i < keys->elements; i++) {
                const char *id = keys->element[i]->str + plen;
                if (kind == 0) {
                    if (fd_map_get(al->reps, id, strlen(id)) == NULL) registry_put(al, id, "");
                } else if (fd_map_get(al->teams, id, strlen(id)) == NULL) {
                    fd_map_put(al->teams, id, strlen(id), (void *)1);
                }
            }
            freeReplyObject(r);
            if (strcmp(cursor, "0") == 0) break;
        }
    }
    return FD_OK;
}

static fd_err_t work_add(fd_alerts_t *al, size_t *cap, fd_scope_t kind, const char *id, size_t len,
                         const char *team) {
    if (al->nwork == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        scope_t *w = realloc(al->work, nc * sizeof *w);
        if (w == NULL) return FD_ERR_NOMEM;
        al->work = w;
        *cap = nc;
    }
    scope_t *s = &al->work[al->nwork];
    s->kind = kind;
    s->id = strndup(id, len);
    s->team = xstrdup(team);
    if (s->id == NULL || s->team == NULL) {
        free(s->id);
        free(s->team);
        return FD_ERR_NOMEM;
    }
    al->nwork++;
    return FD_OK;
}

static fd_err_t build_sweep(fd_alerts_t *al) {
    work_clear(al);
    size_t cap = 0, pos = 0, len;
    const char *k;
    void *v;
    fd_err_t err = FD_OK;
    while (err == FD_OK && fd_map_next(al->reps, &pos, &k, &len, &v))
        err = work_add(al, &cap, FD_SCOPE_REP, k, len, v);
    pos = 0;
    while (err == FD_OK && fd_map_next(al->teams, &pos, &k, &len, &v)) {
        char *team = strndup(k, len);
        err = team ? work_add(al, &cap, FD_SCOPE_TEAM, k, len, team) : FD_ERR_NOMEM;
        free(team);
    }
    if (err == FD_OK) err = work_add(al, &cap, FD_SCOPE_ORG, "", 0, "");
    al->work_is_sweep = true;
    return err;
}

static fd_err_t build_touched(fd_alerts_t *al) {
    work_clear(al);
    size_t cap = 0, pos = 0, len;
    const char *k;
    void *v;
    fd_err_t err = FD_OK;
    while (err == FD_OK && fd_map_next(al->touched, &pos, &k, &len, &v)) {
        fd_scope_t kind = (fd_scope_t)(k[0] - '0');
        const char *id = k + 2;
        size_t idlen = len - 2;
        char *team = NULL;
        if (kind == FD_SCOPE_REP) {
            char *t = fd_map_get(al->reps, id, idlen);
            team = xstrdup(t);
        } else {
            team = kind == FD_SCOPE_TEAM ? strndup(id, idlen) : xstrdup("");
        }
        err = team ? work_add(al, &cap, kind, id, idlen, team) : FD_ERR_NOMEM;
        free(team);
    }
    fd_map_clear(al->touched);
    al->work_is_sweep = false;
    return err;
}

/* ---- the evaluation clock and window plans ---- */

/* The evaluation clock. Event time: the watermark, i.e. the least of the partitions' latest
 * event times (a partition whose owner died, or that lags, holds it back, so no window is judged
 * before its events arrived), ignoring partitions idle for IDLE_PARTITION_MS of Redis TIME (the
 * clock their seen times were written with); capped at wall time + CLOCK_SKEW_MS. Also loads
 * first_ms and evaluated_ms. */
static fd_err_t read_clock(fd_alerts_t *al, int64_t now_ms, int64_t *clock) {
    if (al->wall) {
        *clock = now_ms;
        al->first_ms = INT64_MIN; /* live traffic: every window is taken as complete */
        return FD_OK;
    }
    char key[KEY_MAX];
    key_of(al, key, sizeof key, "clock");
    const char *argv[] = {"EVAL", read_clock_lua, "1", key};
    redisReply *top;
    fd_err_t err = command(al, "read the event clock", 4, argv, NULL, &top);
    if (err) return err;
    if (top->type != REDIS_REPLY_ARRAY || top->elements != 3 ||
        top->element[0]->type != REDIS_REPLY_INTEGER ||
        top->element[1]->type != REDIS_REPLY_INTEGER || top->element[2]->type != REDIS_REPLY_ARRAY)
        return reply_fail(al, "read the event clock", top);
    /* Seen times (s:...) are Redis TIME; idleness is judged on the same clock. */
    int64_t redis_ms = top->element[0]->integer * 1000 + top->element[1]->integer / 1000;
    const redisReply *r = top->element[2];
    int64_t wm = INT64_MAX, latest = 0;
    al->first_ms = INT64_MAX;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
        if (f == NULL || v == NULL) continue;
        int64_t x = strtoll(v, NULL, 10);
        if (strcmp(f, "first_ms") == 0) {
            al->first_ms = x;
        } else if (strcmp(f, "event_ms") == 0) {
            if (x > latest) latest = x;
        } else if (strcmp(f, "evaluated_ms") == 0) {
            if (x > al->evaluated_ms) al->evaluated_ms = x; /* another leader went on */
        } else if (strncmp(f, "p:", 2) == 0) {
            if (x > latest) latest = x;
            /* its seen time: the field s:<same> */
            int64_t seen = 0;
            for (size_t j = 0; j + 1 < r->elements; j += 2) {
                const char *g = r->element[j]->str;
                if (g && g[0] == 's' && g[1] == ':' && strcmp(g + 2, f + 2) == 0 &&
                    r->element[j + 1]->str)
                    seen = strtoll(r->element[j + 1]->str, NULL, 10);
            }
            if (redis_ms - seen <= IDLE_PARTITION_MS && x < wm) wm = x;
        }
    }
    freeReplyObject(top);
    int64_t c = wm != INT64_MAX ? wm : latest; /* every partition idle: the stream stopped */
    if (c > now_ms + CLOCK_SKEW_MS) c = now_ms + CLOCK_SKEW_MS;
    *clock = c;
    return FD_OK;
}

static fd_err_t sig_push(sig_t *s, const char *id, int slot) {
    if (s->nids == s->ids_cap) {
        size_t cap = s->ids_cap ? s->ids_cap * 2 : 64;
        char(*ids)[FD_WIN_ID_MAX] = realloc(s->ids, cap * sizeof *ids);
        if (ids == NULL) return FD_ERR_NOMEM;
        s->ids = ids;
        int *sl = realloc(s->slot, cap * sizeof *sl);
        if (sl == NULL) return FD_ERR_NOMEM;
        s->slot = sl;
        s->ids_cap = cap;
    }
    snprintf(s->ids[s->nids], FD_WIN_ID_MAX, "%s", id);
    s->slot[s->nids++] = slot;
    return FD_OK;
}

/* The window ids each signature reads at clock. A rolling window of span h hours is the UTC hour
 * of (clock - lag) and the h - 1 before it; whole local days inside it are read from the day
 * hashes, the rest from hourly buckets. A baseline is the `days` whole local days before the
 * local day its rolling window starts in. */
static fd_err_t plan_windows(fd_alerts_t *al, int64_t clock) {
    for (size_t g = 0; g < al->nsigs; g++) {
        sig_t *s = &al->sigs[g];
        s->nids = 0;
        fd_windows_t w;
        fd_err_t err = FD_OK;
        if (s->type == SIG_CAL) {
            fd_timewin_of(al->tw, clock, &w);
            double len = (double)(w.end_ms[s->cal] - w.start_ms[s->cal]);
            s->elapsed = len > 0 ? (double)(clock - w.start_ms[s->cal]) / len : 1.0;
            if (s->elapsed < 0) s->elapsed = 0;
            if (s->elapsed > 1) s->elapsed = 1;
            s->complete = w.start_ms[s->cal] >= al->first_ms;
            err = sig_push(s, w.id[s->cal], 0);
        } else {
            int64_t end_hour = (clock - s->lag_ms) / HOUR_MS; /* clocks are after 1970 */
            int64_t hours = s->span_ms / HOUR_MS;
            int64_t from = (end_hour - hours + 1) * HOUR_MS, to = (end_hour + 1) * HOUR_MS;
            s->complete = from >= al->first_ms;
            if (s->type == SIG_ROLL) {
                for (int64_t t = from; t < to && err == FD_OK;) {
                    fd_timewin_of(al->tw, t, &w);
                    int64_t ds = w.start_ms[FD_WIN_DAY], de = w.end_ms[FD_WIN_DAY];
                    if (ds == t && de <= to && ds % HOUR_MS == 0 && de % HOUR_MS == 0) {
                        err = sig_push(s, w.id[FD_WIN_DAY], 0);
                        t = de;
                    } else {
                        err = sig_push(s, w.id[FD_WIN_HOUR], 0);
                        t += HOUR_MS;
                    }
                }
            } else {
                fd_timewin_of(al->tw, from, &w);
                int64_t t = w.start_ms[FD_WIN_DAY];
                for (int d = s->days - 1; d >= 0 && err == FD_OK; d--) {
                    fd_timewin_of(al->tw, t - 1, &w);
                    err = sig_push(s, w.id[FD_WIN_DAY], d);
                    t = w.start_ms[FD_WIN_DAY];
                }
                s->complete = t >= al->first_ms;
            }
        }
        if (err) return err;
    }
    /* the distinct hashes, with where each sums into */
    al->nwins = 0;
    for (size_t g = 0; g < al->nsigs; g++) {
        const sig_t *s = &al->sigs[g];
        for (size_t k = 0; k < s->nids; k++) {
            size_t w = 0;
            while (w < al->nwins && strcmp(al->wins[w].id, s->ids[k]) != 0)
                w++;
            if (w == al->nwins) {
                if (al->nwins == al->wins_cap) {
                    size_t cap = al->wins_cap ? al->wins_cap * 2 : 64;
                    win_t *nw = realloc(al->wins, cap * sizeof *nw);
                    if (nw == NULL) return FD_ERR_NOMEM;
                    al->wins = nw;
                    al->wins_cap = cap;
                }
                snprintf(al->wins[w].id, sizeof al->wins[w].id, "%s", s->ids[k]);
                al->wins[w].ndest = 0;
                al->nwins++;
            }
            win_t *wn = &al->wins[w];
            if (wn->ndest < sizeof wn->sig / sizeof wn->sig[0]) {
                wn->sig[wn->ndest] = (int)g;
                wn->slot[wn->ndest] = s->off + (size_t)s->slot[k];
                wn->ndest++;
            }
        }
    }
    return FD_OK;
}

/* ---- stalled deals ---- */

static fd_err_t stall_add(fd_alerts_t *al, fd_scope_t kind, const char *id, int stage, int64_t at) {
    char key[FD_ID_MAX + 16];
    int n = snprintf(key, sizeof key, "%d\x1f%s\x1f%d", (int)kind, id, stage);
    if (n < 0 || (size_t)n >= sizeof key) return FD_OK;
    times_t *t = fd_map_get(al->stalled, key, (size_t)n);
    if (t == NULL) {
        if ((t = calloc(1, sizeof *t)) == NULL) return FD_ERR_NOMEM;
        if (fd_map_put(al->stalled, key, (size_t)n, t) != FD_OK) {
            free(t);
            return FD_ERR_NOMEM;
        }
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        int64_t *a = realloc(t->at, cap * sizeof *a);
        if (a == NULL) return FD_ERR_NOMEM;
        t->at = a;
        t->cap = cap;
    }
    t->at[t->n++] = at;
    return FD_OK;
}

/* Reads every deal state (SCAN + MGET) and indexes the open ones by the stage they sit in. */
static fd_err_t scan_deals(fd_alerts_t *al) {
    free_map_values(al->stalled, true);
    char pattern[KEY_MAX], cursor[32] = "0";
    snprintf(pattern, sizeof pattern, "%s:deal:*", al->prefix);
    int last = (int)fd_funnel_nstages(al->fn) - 1;
    fd_err_t err = FD_OK;
    size_t bad = 0;
    for (int rounds = 0; rounds < 10000000 && err == FD_OK; rounds++) {
        redisReply *r, *m;
        const char *sargv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        if ((err = command(al, "SCAN deals", 6, sargv, NULL, &r))) return err;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) return reply_fail(al, "SCAN", r);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        if (keys->elements > 0) {
            const char **argv = malloc((keys->elements + 1) * sizeof *argv);
            if (argv == NULL) {
                freeReplyObject(r);
                return FD_ERR_NOMEM;
            }
            argv[0] = "MGET";
            for (size_t i = 0; i < keys->elements; i++)
                argv[i + 1] = keys->element[i]->str;
            err = command(al, "MGET deals", (int)keys->elements + 1, argv, NULL, &m);
            free(argv);
            redisReply *got = err == FD_OK ? m : NULL;
            for (size_t i = 0; err == FD_OK && i < m->elements; i++) {
                redisReply *e = m->element[i];
                if (e->type != REDIS_REPLY_STRING) continue; /* gone since the SCAN */
                fd_deal_t deal;
                fd_deal_init(&deal);
                char why[128];
                if (fd_deal_decode(al->fn, e->str, e->len, &deal, why, sizeof why) != FD_OK) {
                    bad++;
                } else if (deal.lost_stage < 0 && deal.furthest >= 0 && deal.furthest < last) {
                    const fd_reach_t *rc = &deal.reach[deal.furthest];
                    const fd_owner_t *ow = &deal.owners[rc->owner];
                    err = stall_add(al, FD_SCOPE_REP, ow->rep, deal.furthest, rc->at_ms);
                    if (err == FD_OK)
                        err = stall_add(al, FD_SCOPE_TEAM, ow->team, deal.furthest, rc->at_ms);
                    if (err == FD_OK)
                        err = stall_add(al, FD_SCOPE_ORG, "", deal.furthest, rc->at_ms);
                }
                fd_deal_clear(&deal);
            }
            if (got) freeReplyObject(got);
        }
        freeReplyObject(r);
        if (strcmp(cursor, "0") == 0) break;
    }
    if (bad) fd_log_warn("alerts", "stall scan: %zu deal states unreadable, skipped", bad);
    return err;
}

static int64_t stalled_count(fd_alerts_t *al, const scope_t *s, int stage, int64_t clock,
                             int64_t after_ms) {
    char key[FD_ID_MAX + 16];
    int n = snprintf(key, sizeof key, "%d\x1f%s\x1f%d", (int)s->kind, s->id, stage);
    if (n < 0 || (size_t)n >= sizeof key) return 0;
    const times_t *t = fd_map_get(al->stalled, key, (size_t)n);
    int64_t c = 0;
    for (size_t i = 0; t && i < t->n; i++)
        if (clock - t->at[i] > after_ms) c++;
    return c;
}

/* ---- one chunk: read, evaluate, commit, deliver ---- */

typedef struct {
    bool applies;
    bool orphan; /* the rule no longer applies to the id (a filter, a per-id target): a firing
                  * or pending state of it is ended (resolved), never left hanging */
    fd_rule_params_t p;
} cell_t;

/* Adds a stored field value to *acc: digits, or d.dd for amounts (in hundredths). */
static bool add_value(const redisReply *e, bool hundredths, int64_t *acc) {
    if (e->type != REDIS_REPLY_STRING) return e->type == REDIS_REPLY_NIL;
    char *end;
    errno = 0;
    if (!hundredths) {
        long long v = strtoll(e->str, &end, 10);
        if (errno || *end || end == e->str) return false;
        *acc += v;
        return true;
    }
    const char *dot = strchr(e->str, '.');
    if (dot == NULL || strlen(dot) != 3) return false;
    long long whole = strtoll(e->str, &end, 10);
    if (errno || end != dot) return false;
    *acc += whole * 100 + (dot[1] - '0') * 10 + (dot[2] - '0');
    return true;
}

static const char *scope_key_name(fd_scope_t k) {
    return k == FD_SCOPE_REP ? "rep" : k == FD_SCOPE_TEAM ? "team" : "org";
}

static void iso_ms(int64_t ms, char *buf, size_t size) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char d[32];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", d, (int)(ms % 1000));
}

/* Builds the notification of rule i for scope s and appends the commit arguments. */
static fd_err_t notify(fd_alerts_t *al, size_t i, const scope_t *s, const fd_alertfsm_t *st,
                       fd_alert_emit_t emit, const fd_rule_result_t *res, int64_t clock, args_t *a,
                       size_t **ids, size_t *nids) {
    const fd_rule_t *r = fd_rules_at(al->rs, i);
    char kpi[FD_NAME_MAX + 32];
    fd_kpi_name(al->fn, r->kpi, kpi, sizeof kpi);
    bool staged = r->kpi.kind == FD_KPI_ENTERED || r->kpi.kind == FD_KPI_EXIT_CONV ||
                  r->kpi.kind == FD_KPI_CONV || r->kpi.kind == FD_KPI_DWELL_HOURS ||
                  r->kpi.kind == FD_KPI_STALLED;
    const char *state = emit == FD_ALERT_EMIT_RESOLVED ? "resolved" : "firing";
    fd_alert_t msg = {
        .rule = r->name,
        .severity = r->severity,
        .state = state,
        .scope = fd_scope_name(r->scope),
        .scope_id = s->id,
        .team = s->team,
        .manager = s->team[0] ? fd_rules_manager(al->rs, s->team) : NULL,
        .kpi = kpi,
        .stage = staged ? fd_funnel_stage_name(al->fn, r->kpi.arg) : NULL,
        .window = r->kpi.kind == FD_KPI_STALLED ? "now" : r->window.name,
        .condition = fd_cond_name(r->cond),
        .r = *res,
        .started_ms = st->since_ms,
        .resolved_ms = emit == FD_ALERT_EMIT_RESOLVED ? st->resolved_ms : 0,
        .at_ms = clock,
        .repeat = emit == FD_ALERT_EMIT_REPEAT ? st->repeats : 0,
    };
    char id[FD_ALERT_ID_LEN + 1], summary[1024], field[FD_RULE_NAME_MAX + FD_ID_MAX + 16];
    fd_alertmsg_id(&msg, id);
    fd_alertmsg_summary_locale(fd_rules_template(al->rs, i, fd_rules_locale(al->rs)),
                               fd_rules_locale(al->rs), &msg, summary, sizeof summary);
    char *json = NULL;
    fd_err_t err = fd_alertmsg_json(&msg, summary, &json);
    if (err) return err;
    int fl = snprintf(field, sizeof field, "%s|%s|%s", r->name, fd_scope_name(r->scope), s->id);
    if ((err = args_push(a, state, strlen(state), false)) ||
        (err = args_push(a, field, (size_t)fl, true)) ||
        (err = args_push(a, id, FD_ALERT_ID_LEN, true)) ||
        (err = args_push(a, json, strlen(json), true))) {
        free(json);
        return err;
    }
    free(json);
    size_t *v = realloc(*ids, (*nids + 1) * sizeof *v);
    if (v == NULL) return FD_ERR_NOMEM;
    *ids = v;
    (*ids)[(*nids)++] = a->n - 2; /* the alert_id; its JSON follows */
    al->stats.notifications++;
    char clk[40];
    iso_ms(clock, clk, sizeof clk);
    fd_log_info("alerts", "%s %s %s %s: %s (clock %s)", state, r->name, fd_scope_name(r->scope),
                s->id[0] ? s->id : "org", summary, clk);
    return FD_OK;
}

/* Hands one notification to Kafka unless it is already in flight. */
static void deliver(fd_alerts_t *al, const char *id, const char *json, size_t len) {
    if (al->pub == NULL) return;
    size_t il = strlen(id);
    if (fd_map_get(al->inflight, id, il) != NULL) return;
    if (fd_publisher_send(al->pub, id, il, json, len) == FD_OK) {
        fd_map_put(al->inflight, id, il, (void *)1);
        al->sent++;
    }
}

/* Evaluates rule i for one scope from its summed windows (sums: that scope's slots). */
static void eval_cell(fd_alerts_t *al, size_t i, const scope_t *sc, const cell_t *c,
                      const int64_t *sums, int64_t clock, fd_rule_result_t *res) {
    size_t nf = al->nfields;
    const int64_t *days[400];
    const fd_rule_t *r = fd_rules_at(al->rs, i);
    fd_rule_input_t in = {0};
    int cs = al->plan[i].cur_sig, bs = al->plan[i].base_sig;
    if (cs >= 0) {
        in.cur = &sums[al->sigs[cs].off * nf];
        in.elapsed = al->sigs[cs].elapsed;
        in.cur_days = (double)al->sigs[cs].span_ms / (double)DAY_MS;
    }
    if (bs >= 0) {
        size_t nd = al->sigs[bs].nslots < 400 ? al->sigs[bs].nslots : 400;
        for (size_t d = 0; d < nd; d++)
            days[d] = &sums[(al->sigs[bs].off + d) * nf];
        in.days = days;
        in.ndays = nd;
    }
    if (r->kpi.kind == FD_KPI_STALLED)
        in.stalled = stalled_count(al, sc, r->kpi.arg, clock, c->p.stalled_after_ms);
    fd_rules_eval(al->rs, i, &c->p, &in, res);
    if ((cs >= 0 && !al->sigs[cs].complete) || (bs >= 0 && !al->sigs[bs].complete)) {
        /* the window reaches back before the first event: no evidence either way */
        res->defined = res->fire = false;
        res->clear = true;
    }
}

static fd_err_t evaluate_chunk(fd_alerts_t *al, const scope_t *sc, size_t n, int64_t clock) {
    size_t nr = al->nrules, nf = al->nfields, sps = al->slots_per_scope;
    cell_t *cells = calloc(n * nr + 1, sizeof *cells);
    int64_t *sums = calloc(n * sps * nf + 1, sizeof *sums);
    /* one read: a window hash of a scope (win >= 0) or the states of a rule (win -1) */
    size_t maxreads = n * (al->nwins + 1) + nr + 1, nreads = 0;
    struct {
        size_t scope;
        int win;
        size_t rule;
    } *rd = malloc(maxreads * sizeof *rd);
    bool *used = calloc(n * MAX_SIGS + 1, sizeof *used);
    fd_alertfsm_t *states = calloc(n * nr + 1, sizeof *states);
    int64_t vals[512];
    fd_err_t err = FD_OK;
    args_t a = {0};
    size_t *ids = NULL, nids = 0;
    if (cells == NULL || sums == NULL || rd == NULL || used == NULL || states == NULL) {
        err = FD_ERR_NOMEM;
        goto out;
    }
    if ((err = connect_redis(al))) goto out;

    /* 1. which rules apply to which scope; each distinct hash a scope needs is read once */
    const char *argv[2 + 512];
    size_t argl[2 + 512];
    argv[0] = "HMGET";
    argl[0] = 5;
    for (size_t f = 0; f < al->nread; f++) {
        argv[2 + f] = fd_funnel_field_name(al->fn, al->fields[f]);
        argl[2 + f] = strlen(argv[2 + f]);
    }
    for (size_t s = 0; s < n; s++) {
        bool *u = &used[s * MAX_SIGS];
        for (size_t i = 0; i < nr; i++) {
            const fd_rule_t *r = fd_rules_at(al->rs, i);
            cell_t *c = &cells[s * nr + i];
            if (r->scope != sc[s].kind) continue;
            c->applies = fd_rules_params(al->rs, i, sc[s].id, sc[s].team, &c->p);
            if (!c->applies) {
                c->orphan = true;
                fd_rules_base_params(al->rs, i, &c->p);
                continue;
            }
            if (al->plan[i].cur_sig >= 0) u[al->plan[i].cur_sig] = true;
            if (al->plan[i].base_sig >= 0) u[al->plan[i].base_sig] = true;
        }
        for (size_t w = 0; w < al->nwins && al->nread > 0; w++) {
            bool need = false;
            for (size_t d = 0; d < al->wins[w].ndest && !need; d++)
                need = u[al->wins[w].sig[d]];
            if (!need) continue;
            rd[nreads].scope = s;
            rd[nreads].win = (int)w;
            rd[nreads].rule = 0;
            nreads++;
        }
    }
    for (size_t i = 0; i < nr; i++) {
        bool any = false;
        for (size_t s = 0; s < n && !any; s++)
            any = cells[s * nr + i].applies || cells[s * nr + i].orphan;
        if (!any) continue;
        rd[nreads].scope = 0;
        rd[nreads].win = -1;
        rd[nreads].rule = i;
        nreads++;
    }
    al->stats.reads += (int64_t)nreads;

    /* 2. pipelined in windows of PIPE_WINDOW commands: a bounded output buffer */
    for (size_t done = 0; done < nreads;) {
        size_t end = nreads - done < PIPE_WINDOW ? nreads : done + PIPE_WINDOW;
        for (size_t k = done; k < end; k++) {
            int rc;
            if (rd[k].win >= 0) {
                const scope_t *sp = &sc[rd[k].scope];
                const char *wid = al->wins[rd[k].win].id;
                char key[KEY_MAX];
                int kl = sp->kind == FD_SCOPE_ORG
                             ? snprintf(key, sizeof key, "%s:org:%s", al->prefix, wid)
                             : snprintf(key, sizeof key, "%s:%s:%s:%s", al->prefix,
                                        scope_key_name(sp->kind), wid, sp->id);
                argv[1] = key;
                argl[1] = (size_t)kl;
                rc = redisAppendCommandArgv(al->c, (int)(2 + al->nread), argv, argl);
            } else {
                size_t i = rd[k].rule;
                args_t q = {0};
                err = args_push(&q, "HMGET", 5, false);
                if (!err) err = args_push(&q, al->plan[i].key, strlen(al->plan[i].key), false);
                for (size_t s = 0; s < n && !err; s++) {
                    if (!cells[s * nr + i].applies && !cells[s * nr + i].orphan) continue;
                    char field[FD_ID_MAX + 16];
                    int fl =
                        snprintf(field, sizeof field, "%s|%s", fd_scope_name(sc[s].kind), sc[s].id);
                    err = args_push(&q, field, (size_t)fl, true);
                }
                rc = err ? REDIS_ERR : redisAppendCommandArgv(al->c, (int)q.n, q.argv, q.len);
                args_free(&q);
                if (err) goto out;
            }
            if (rc != REDIS_OK) {
                err = io_fail(al, "alert reads");
                goto out;
            }
        }
        for (size_t k = done; k < end; k++) {
            redisReply *r = NULL;
            if (redisGetReply(al->c, (void **)&r) != REDIS_OK || r == NULL) {
                err = io_fail(al, "alert reads");
                goto out;
            }
            if (r->type == REDIS_REPLY_ERROR) {
                /* a key of another type (WRONGTYPE): a data problem, not a lost connection. A
                 * metric hash counts as empty; a rule whose states cannot be read is skipped
                 * (its commit would be refused anyway). */
                if (rd[k].win >= 0) {
                    fd_log_warn("alerts", "a window of %s %s is unreadable (%s); counted as empty",
                                fd_scope_name(sc[rd[k].scope].kind), sc[rd[k].scope].id, r->str);
                } else {
                    fd_log_error("alerts", "%s: %s; rule %s skipped", al->plan[rd[k].rule].key,
                                 r->str, fd_rules_at(al->rs, rd[k].rule)->name);
                    for (size_t s = 0; s < n; s++)
                        cells[s * nr + rd[k].rule].applies = cells[s * nr + rd[k].rule].orphan =
                            false;
                }
                freeReplyObject(r);
                continue;
            }
            if (r->type != REDIS_REPLY_ARRAY) {
                /* keep the pipeline in step: read the rest before dropping the connection */
                for (size_t j = k + 1; j < end; j++) {
                    redisReply *x = NULL;
                    if (redisGetReply(al->c, (void **)&x) != REDIS_OK) break;
                    freeReplyObject(x);
                }
                err = reply_fail(al, "alert reads", r);
                goto out;
            }
            if (rd[k].win >= 0) {
                const win_t *w = &al->wins[rd[k].win];
                size_t s = rd[k].scope;
                for (size_t f = 0; f < al->nread; f++) {
                    size_t fi = al->fields[f];
                    vals[f] = 0;
                    if (f < r->elements &&
                        !add_value(r->element[f], fd_funnel_field_hundredths(al->fn, fi), &vals[f]))
                        fd_log_warn("alerts", "%s holds a malformed value; read as 0",
                                    fd_funnel_field_name(al->fn, fi));
                }
                for (size_t d = 0; d < w->ndest; d++) {
                    if (!used[s * MAX_SIGS + w->sig[d]]) continue;
                    int64_t *acc = &sums[(s * sps + w->slot[d]) * nf];
                    for (size_t f = 0; f < al->nread; f++)
                        acc[al->fields[f]] += vals[f];
                }
            } else {
                size_t i = rd[k].rule, e = 0;
                for (size_t s = 0; s < n; s++) {
                    if (!cells[s * nr + i].applies && !cells[s * nr + i].orphan) continue;
                    redisReply *x = e < r->elements ? r->element[e] : NULL;
                    e++;
                    if (x && x->type == REDIS_REPLY_STRING &&
                        fd_alertfsm_decode(x->str, x->len, &states[s * nr + i]) != FD_OK)
                        fd_log_warn("alerts", "state of %s %s|%s unreadable; starting from ok",
                                    fd_rules_at(al->rs, i)->name, fd_scope_name(sc[s].kind),
                                    sc[s].id);
                }
            }
            freeReplyObject(r);
        }
        done = end;
    }

    /* 3. evaluate and step */
    char lease[KEY_MAX], firing[KEY_MAX], stream[KEY_MAX], outbox[KEY_MAX], maxlen[24];
    key_of(al, lease, sizeof lease, "alerts:lease");
    key_of(al, firing, sizeof firing, "alerts:firing");
    key_of(al, stream, sizeof stream, "alerts");
    key_of(al, outbox, sizeof outbox, "alerts:outbox");
    snprintf(maxlen, sizeof maxlen, "%" PRId64, al->cfg->alerts_stream_maxlen);
    if ((err = args_push(&a, "EVAL", 4, false)) ||
        (err = args_push(&a, commit_lua, strlen(commit_lua), false)) ||
        (err = args_push(&a, "4", 1, false)) || (err = args_push(&a, lease, strlen(lease), true)) ||
        (err = args_push(&a, firing, strlen(firing), true)) ||
        (err = args_push(&a, stream, strlen(stream), true)) ||
        (err = args_push(&a, outbox, strlen(outbox), true)) ||
        (err = args_push(&a, al->token, strlen(al->token), false)) ||
        (err = args_push(&a, maxlen, strlen(maxlen), true)) ||
        (err = args_push(&a, stream, strlen(stream), true)))
        goto out;
    size_t fixed = a.n;
    for (size_t s = 0; s < n && !err; s++) {
        for (size_t i = 0; i < nr && !err; i++) {
            cell_t *c = &cells[s * nr + i];
            fd_alertfsm_t *st = &states[s * nr + i];
            fd_rule_result_t res;
            int64_t for_ms = c->p.for_ms, resolve_for_ms = c->p.resolve_for_ms;
            if (!c->applies) {
                if (!c->orphan || (st->state != FD_ALERT_FIRING && st->state != FD_ALERT_PENDING))
                    continue;
                /* resolved at once, the value unknown: the rule is not about this id any more */
                memset(&res, 0, sizeof res);
                res.clear = true;
                if (fd_rules_at(al->rs, i)->cond != FD_COND_DRIFT) res.bound = c->p.value;
                if (fd_rules_at(al->rs, i)->cond == FD_COND_TARGET) res.target = c->p.value;
                resolve_for_ms = 0;
            } else {
                eval_cell(al, i, &sc[s], c, &sums[s * sps * nf], clock, &res);
            }
            al->stats.evaluations++;
            char before[FD_ALERTFSM_TEXT_MAX], after[FD_ALERTFSM_TEXT_MAX];
            fd_alertfsm_encode(st, before, sizeof before);
            fd_alert_emit_t emit = fd_alertfsm_step(st, res.fire, res.clear, clock, for_ms,
                                                    resolve_for_ms, c->p.repeat_ms);
            fd_alertfsm_encode(st, after, sizeof after);
            if (emit == FD_ALERT_EMIT_NONE && strcmp(before, after) == 0) continue;
            char field[FD_ID_MAX + 16];
            int fl = snprintf(field, sizeof field, "%s|%s", fd_scope_name(sc[s].kind), sc[s].id);
            if ((err = args_push(&a, al->plan[i].key, strlen(al->plan[i].key), false)) ||
                (err = args_push(&a, field, (size_t)fl, true)) ||
                (err = args_push(&a, after, strlen(after), true)))
                break;
            if (emit == FD_ALERT_EMIT_NONE) {
                for (int k = 0; k < 4 && !err; k++)
                    err = args_push(&a, "", 0, false);
            } else {
                err = notify(al, i, &sc[s], st, emit, &res, clock, &a, &ids, &nids);
            }
        }
    }
    if (err || a.n == fixed) goto out;

    /* 4. commit, only while the lease is ours */
    redisReply *r = NULL;
    err = command(al, "commit alert states", (int)a.n, a.argv, a.len, &r);
    if (err) goto out;
    bool ok = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    if (!ok) {
        fd_log_warn("alerts", "lease lost before the commit; another instance evaluates now");
        al->leader = false;
        err = FD_ERR_FENCED;
        goto out;
    }
    /* 5. deliver: argument ids[k] of a is an alert_id, the next one its JSON */
    for (size_t k = 0; k < nids; k++)
        deliver(al, a.argv[ids[k]], a.argv[ids[k] + 1], a.len[ids[k] + 1]);
out:
    free(ids);
    args_free(&a);
    free(cells);
    free(sums);
    free(rd);
    free(used);
    free(states);
    return err;
}

/* ---- the outbox ---- */

static fd_err_t drop_acked(fd_alerts_t *al) {
    if (al->nacked == 0) return FD_OK;
    char key[KEY_MAX];
    key_of(al, key, sizeof key, "alerts:outbox");
    const char **argv = malloc((al->nacked + 2) * sizeof *argv);
    if (argv == NULL) return FD_ERR_NOMEM;
    argv[0] = "HDEL";
    argv[1] = key;
    for (size_t i = 0; i < al->nacked; i++)
        argv[i + 2] = al->acked[i];
    redisReply *r;
    fd_err_t err = command(al, "HDEL outbox", (int)al->nacked + 2, argv, NULL, &r);
    free(argv);
    if (err) return err;
    freeReplyObject(r);
    for (size_t i = 0; i < al->nacked; i++)
        free(al->acked[i]);
    al->nacked = 0;
    return FD_OK;
}

static fd_err_t resend_outbox(fd_alerts_t *al) {
    if (al->pub == NULL) return FD_OK;
    char key[KEY_MAX];
    key_of(al, key, sizeof key, "alerts:outbox");
    const char *argv[] = {"HGETALL", key};
    redisReply *r;
    fd_err_t err = command(al, "HGETALL outbox", 2, argv, NULL, &r);
    if (err) return err;
    int64_t before = al->sent;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        deliver(al, r->element[i]->str, r->element[i + 1]->str, r->element[i + 1]->len);
    if (al->sent > before)
        fd_log_info("alerts", "outbox: %" PRId64 " undelivered notification(s) sent to Kafka",
                    al->sent - before);
    freeReplyObject(r);
    return FD_OK;
}

/* ---- lease and tick ---- */

static fd_err_t renew_lease(fd_alerts_t *al, int64_t now) {
    char key[KEY_MAX], ms[24];
    key_of(al, key, sizeof key, "alerts:lease");
    snprintf(ms, sizeof ms, "%" PRId64, al->lease_ms);
    const char *argv[] = {"EVAL", lease_lua, "1", key, al->token, ms};
    redisReply *r;
    fd_err_t err = command(al, "alert lease", 6, argv, NULL, &r);
    if (err) {
        al->leader = false; /* it may expire while Redis is out of reach */
        return err;
    }
    bool got = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    al->lease_next_ms = now + al->lease_ms / 3;
    if (got && !al->leader) {
        fd_log_info("alerts", "this instance evaluates alerts now (lease %s)", al->token);
        al->leader = true;
        al->next_sweep_ms = now; /* sweep at once: states may be stale */
        al->next_stall_ms = now;
        work_clear(al);
        al->next_scan_ms = 0; /* the first sweep scans */
        if ((err = resend_outbox(al))) return err;
    } else if (!got && al->leader) {
        fd_log_info("alerts", "another instance holds the alert lease now");
        al->leader = false;
        work_clear(al);
        fd_map_clear(al->touched);
    }
    return FD_OK;
}

static fd_err_t run_chunk(fd_alerts_t *al) {
    size_t left = al->nwork - al->work_pos;
    size_t n = left < CHUNK_SCOPES ? left : CHUNK_SCOPES;
    fd_err_t err = evaluate_chunk(al, al->work + al->work_pos, n, al->clock_ms);
    if (err) return err;
    al->work_pos += n;
    if (al->work_pos == al->nwork) {
        if (al->work_is_sweep) {
            if (!al->work_explicit) {
                char lease[KEY_MAX], key[KEY_MAX], ms[24];
                key_of(al, lease, sizeof lease, "alerts:lease");
                key_of(al, key, sizeof key, "clock");
                snprintf(ms, sizeof ms, "%" PRId64, al->clock_ms);
                const char *argv[] = {"EVAL", evaluated_lua, "2", lease, key, al->token, ms};
                redisReply *r;
                if ((err = command(al, "store the sweep clock", 7, argv, NULL, &r))) return err;
                bool ours = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
                freeReplyObject(r);
                if (!ours) return FD_ERR_FENCED;
                if (al->clock_ms > al->evaluated_ms) al->evaluated_ms = al->clock_ms;
            }
            al->stats.sweeps++;
            al->stats.last_sweep_us = mono_us() - al->sweep_started_us;
            al->stats.scopes = (int64_t)al->nwork;
        }
        work_clear(al);
    }
    return FD_OK;
}

static fd_err_t start_list(fd_alerts_t *al, bool sweep, int64_t now, int64_t clock_override,
                           bool reload) {
    fd_err_t err;
    int64_t clock = 0;
    /* also with a given clock: it loads first_ms (windows before it are incomplete) */
    if ((err = read_clock(al, now, &clock))) return err;
    if (clock_override != 0) clock = clock_override;
    if (clock <= 0) return FD_OK; /* no event yet: nothing to judge */
    /* The clock never runs backwards: a partition held again (re-assigned with an older latest
     * event) pauses the clock at the last sweep instead. */
    if (clock_override == 0 && clock < al->evaluated_ms) clock = al->evaluated_ms;
    /* ...nor behind an evaluation of touched scopes, which does not move evaluated_ms */
    if (clock_override == 0 && clock < al->max_clock_ms) clock = al->max_clock_ms;
    al->catching_up = false;
    /* Never evaluated: begin at the first event, so that a back-fill is judged hour by hour. */
    int64_t from = al->evaluated_ms > 0        ? al->evaluated_ms
                   : al->first_ms != INT64_MAX ? al->first_ms
                                               : 0;
    if (clock_override == 0 && !al->wall && from > 0 && clock > from + CATCH_UP_STEP_MS) {
        if (!sweep) return FD_OK; /* the catching-up sweeps cover touched scopes */
        clock = from + CATCH_UP_STEP_MS;
        al->catching_up = true;
    }
    if ((err = plan_windows(al, clock))) return err;
    al->clock_ms = al->stats.clock_ms = clock;
    al->work_explicit = clock_override != 0;
    if (!al->work_explicit && clock > al->max_clock_ms) al->max_clock_ms = clock;
    if (sweep) {
        if (reload && (err = load_registry(al))) return err;
        if ((err = build_sweep(al))) return err;
        al->sweep_started_us = mono_us();
    } else if ((err = build_touched(al))) {
        return err;
    }
    return FD_OK;
}

fd_err_t fd_alerts_tick(fd_alerts_t *al, int64_t now) {
    fd_err_t err;
    if (al->pub) fd_publisher_poll(al->pub, 0);
    if ((err = write_notes(al))) return err;
    if ((err = drop_acked(al))) return err;
    if (now >= al->lease_next_ms && (err = renew_lease(al, now))) return err;
    if (!al->leader) return FD_OK;
    if (al->any_stalled && now >= al->next_stall_ms && al->nwork == 0) {
        al->next_stall_ms = now + al->stall_every_ms;
        if ((err = scan_deals(al))) return err;
    }
    /* Chunks of work for up to TICK_BUDGET_US: catching up walks many small sweeps. */
    int64_t t0 = mono_us();
    do {
        if (al->nwork == 0) {
            bool timer = now >= al->next_sweep_ms;
            if (timer || al->catching_up) {
                if (timer) al->next_sweep_ms = now + al->interval_ms;
                if ((err = start_list(al, true, now, 0, timer))) return err;
                if (timer && (err = resend_outbox(al))) return err;
            } else if (fd_map_size(al->touched) > 0 &&
                       now - al->last_touched_ms >= TOUCHED_EVERY_MS) {
                al->last_touched_ms = now;
                if ((err = start_list(al, false, now, 0, false))) return err;
            }
        }
        if (al->nwork <= al->work_pos) break;
        err = run_chunk(al);
        if (err == FD_ERR_FENCED) {
            work_clear(al);
            return FD_OK;
        }
        if (err) {
            work_clear(al);
            fd_log_warn("alerts", "evaluation failed: %s", al->errstr);
            return err;
        }
    } while (mono_us() - t0 < TICK_BUDGET_US && (al->nwork > al->work_pos || al->catching_up));
    return FD_OK;
}

fd_err_t fd_alerts_sweep(fd_alerts_t *al, int64_t clock_ms) {
    int64_t now = wall_ms();
    fd_err_t err;
    if ((err = write_notes(al))) return err;
    al->lease_next_ms = 0;
    if ((err = renew_lease(al, now))) return err;
    if (!al->leader) return FD_ERR_FENCED;
    if (al->any_stalled && (err = scan_deals(al))) return err;
    work_clear(al);
    if ((err = start_list(al, true, now, clock_ms, true))) return err;
    while (al->nwork > al->work_pos) {
        if ((err = run_chunk(al))) {
            work_clear(al);
            return err;
        }
    }
    if (al->pub) fd_publisher_poll(al->pub, 0);
    return FD_OK;
}

void fd_alerts_stats(const fd_alerts_t *al, fd_alerts_stats_t *out) {
    *out = al->stats;
    out->leader = al->leader;
}

const char *fd_alerts_errstr(const fd_alerts_t *al) {
    return al->errstr;
}
