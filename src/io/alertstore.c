// SPDX-License-Identifier: MIT
// The alert store: the alert evaluator's Redis reads and writes (layer 4).
#include "io/alertstore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "io/keys.h"
#include "lua/scripts.h"

#define PIPE_WINDOW 1024 /* commands in flight at once */

enum { S_CLOCK, S_HOLD, S_EXPECT, S_READ_CLOCK, S_EVALUATED, S_COMMIT, S_COUNT };

struct fd_alertstore {
    fd_redis_t *redis;
    char prefix[80];
    int script[S_COUNT];
    char clock[FD_KEY_MAX], lease[FD_KEY_MAX], rep_team[FD_KEY_MAX];
    char firing[FD_KEY_MAX], stream[FD_KEY_MAX], outbox[FD_KEY_MAX];
};

/* A growing argument vector; owned copies are freed with it. */
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

static fd_err_t args_str(args_t *a, const char *s) {
    return args_push(a, s, strlen(s), false);
}

static void args_free(args_t *a) {
    for (size_t i = 0; i < a->nowned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->argv);
    free(a->len);
    memset(a, 0, sizeof *a);
}

fd_err_t fd_alertstore_new(fd_redis_t *redis, const char *prefix, fd_alertstore_t **out) {
    *out = NULL;
    fd_alertstore_t *st = calloc(1, sizeof *st);
    if (st == NULL) return FD_ERR_NOMEM;
    st->redis = redis;
    snprintf(st->prefix, sizeof st->prefix, "%s", prefix);
    static const struct {
        const char *name, *source;
    } scripts[S_COUNT] = {
        [S_CLOCK] = {"alert_clock", fd_lua_alert_clock},
        [S_HOLD] = {"alert_hold", fd_lua_alert_hold},
        [S_EXPECT] = {"alert_expect", fd_lua_alert_expect},
        [S_READ_CLOCK] = {"alert_read_clock", fd_lua_alert_read_clock},
        [S_EVALUATED] = {"alert_evaluated", fd_lua_alert_evaluated},
        [S_COMMIT] = {"alert_commit", fd_lua_alert_commit},
    };
    for (int i = 0; i < S_COUNT; i++) {
        fd_err_t err = fd_redis_script(redis, scripts[i].name, scripts[i].source, &st->script[i]);
        if (err) {
            free(st);
            return err;
        }
    }
    fd_keys_single(st->clock, sizeof st->clock, prefix, FD_KEY_CLOCK);
    fd_keys_single(st->lease, sizeof st->lease, prefix, FD_KEY_ALERTS_LEASE);
    fd_keys_single(st->rep_team, sizeof st->rep_team, prefix, FD_KEY_REP_TEAM);
    fd_keys_single(st->firing, sizeof st->firing, prefix, FD_KEY_ALERTS_FIRING);
    fd_keys_single(st->stream, sizeof st->stream, prefix, FD_KEY_ALERTS);
    fd_keys_single(st->outbox, sizeof st->outbox, prefix, FD_KEY_ALERTS_OUTBOX);
    *out = st;
    return FD_OK;
}

void fd_alertstore_destroy(fd_alertstore_t *st) {
    free(st);
}

/* A command whose error reply is a failure too: FD_OK with *out (the caller frees it). */
static fd_err_t command(fd_alertstore_t *st, const char *what, int argc, const char **argv,
                        const size_t *lens, redisReply **out) {
    redisReply *r = NULL;
    fd_err_t err = fd_redis_command(st->redis, what, argc, argv, lens, &r);
    if (err) return err;
    if (r->type == REDIS_REPLY_ERROR) return fd_redis_fail(st->redis, what, r);
    *out = r;
    return FD_OK;
}

/* A script of ours, as command. */
static fd_err_t eval(fd_alertstore_t *st, const char *what, int script, int nkeys,
                     const char *const *keys, const size_t *key_lens, int nargs,
                     const char *const *args, const size_t *arg_lens, redisReply **out) {
    redisReply *r = NULL;
    fd_err_t err = fd_redis_eval(st->redis, st->script[script], nkeys, keys, key_lens, nargs, args,
                                 arg_lens, &r);
    if (err) return err;
    if (r->type == REDIS_REPLY_ERROR) return fd_redis_fail(st->redis, what, r);
    *out = r;
    return FD_OK;
}

/* Runs script on the clock hash with the partition fields of set as ARGV, then empties it. */
static fd_err_t write_parts(fd_alertstore_t *st, fd_eventclock_t *ec, fd_clock_set_t set,
                            int script, const char *what) {
    const fd_map_t *m = fd_eventclock_waiting(ec, set);
    if (fd_map_size(m) == 0) return FD_OK;
    args_t a = {0};
    fd_err_t err = FD_OK;
    size_t pos = 0, len;
    const char *k;
    void *v;
    while (!err && fd_map_next(m, &pos, &k, &len, &v))
        err = args_push(&a, k, len, true);
    const char *keys[] = {st->clock};
    redisReply *r = NULL;
    if (!err) err = eval(st, what, script, 1, keys, NULL, (int)a.n, a.argv, a.len, &r);
    args_free(&a);
    if (err) return err;
    freeReplyObject(r);
    fd_eventclock_written(ec, set);
    return FD_OK;
}

fd_err_t fd_alertstore_write_holds(fd_alertstore_t *st, fd_eventclock_t *ec) {
    fd_err_t err = write_parts(st, ec, FD_CLOCK_EXPECT, S_EXPECT, "register the partitions");
    if (err) return err;
    return write_parts(st, ec, FD_CLOCK_HOLD, S_HOLD, "hold the event clock");
}

fd_err_t fd_alertstore_write_applied(fd_alertstore_t *st, fd_eventclock_t *ec) {
    const fd_map_t *m = fd_eventclock_waiting(ec, FD_CLOCK_APPLIED);
    if (fd_map_size(m) == 0) return FD_OK;
    args_t a = {0};
    char first[24];
    snprintf(first, sizeof first, "%" PRId64, fd_eventclock_first_applied(ec));
    fd_err_t err = args_push(&a, first, strlen(first), true);
    size_t pos = 0, len;
    const char *k;
    void *v;
    while (!err && fd_map_next(m, &pos, &k, &len, &v)) {
        char ms[24];
        int ml = snprintf(ms, sizeof ms, "%" PRId64, *(int64_t *)v);
        err = args_push(&a, k, len, true);
        if (!err) err = args_push(&a, ms, (size_t)ml, true);
    }
    const char *keys[] = {st->clock};
    redisReply *r = NULL;
    if (!err)
        err =
            eval(st, "update the event clock", S_CLOCK, 1, keys, NULL, (int)a.n, a.argv, a.len, &r);
    args_free(&a);
    if (err) return err;
    freeReplyObject(r);
    fd_eventclock_written(ec, FD_CLOCK_APPLIED);
    return FD_OK;
}

fd_err_t fd_alertstore_read_clock(fd_alertstore_t *st, int64_t now_ms, fd_clock_reading_t *out) {
    static const char what[] = "read the event clock";
    const char *keys[] = {st->clock};
    redisReply *top = NULL;
    fd_err_t err = eval(st, what, S_READ_CLOCK, 1, keys, NULL, 0, NULL, NULL, &top);
    if (err) return err;
    if (top->type != REDIS_REPLY_ARRAY || top->elements != 3 ||
        top->element[0]->type != REDIS_REPLY_INTEGER ||
        top->element[1]->type != REDIS_REPLY_INTEGER || top->element[2]->type != REDIS_REPLY_ARRAY)
        return fd_redis_fail(st->redis, what, top);
    /* Seen times (s:...) are Redis TIME; idleness is judged on the same clock. */
    int64_t redis_ms = top->element[0]->integer * 1000 + top->element[1]->integer / 1000;
    const redisReply *h = top->element[2];
    fd_clock_field_t *f = calloc(h->elements / 2 + 1, sizeof *f);
    if (f == NULL) {
        freeReplyObject(top);
        return FD_ERR_NOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const char *name = h->element[i]->str, *v = h->element[i + 1]->str;
        if (name == NULL || v == NULL) continue;
        f[n].name = name;
        f[n++].value = strtoll(v, NULL, 10);
    }
    fd_eventclock_read(f, n, redis_ms, now_ms, out);
    free(f);
    freeReplyObject(top);
    return FD_OK;
}

fd_err_t fd_alertstore_evaluated(fd_alertstore_t *st, const char *token, int64_t clock_ms,
                                 bool *ours) {
    char ms[24];
    snprintf(ms, sizeof ms, "%" PRId64, clock_ms);
    const char *keys[] = {st->lease, st->clock};
    const char *args[] = {token, ms};
    redisReply *r = NULL;
    *ours = false;
    fd_err_t err = eval(st, "store the sweep clock", S_EVALUATED, 2, keys, NULL, 2, args, NULL, &r);
    if (err) return err;
    *ours = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return FD_OK;
}

fd_err_t fd_alertstore_rep_teams_of(fd_alertstore_t *st, const char *const *reps, size_t n,
                                    void (*each)(void *opaque, const char *rep, const char *team),
                                    void *opaque) {
    if (n == 0) return FD_OK;
    args_t a = {0};
    fd_err_t err = args_str(&a, "HMGET");
    if (!err) err = args_str(&a, st->rep_team);
    for (size_t i = 0; i < n && !err; i++)
        err = args_str(&a, reps[i]);
    redisReply *r = NULL;
    if (!err) err = command(st, "HMGET rep_team", (int)a.n, a.argv, a.len, &r);
    args_free(&a);
    if (err) return err;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && i < n; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING) each(opaque, reps[i], r->element[i]->str);
    freeReplyObject(r);
    return FD_OK;
}

fd_err_t fd_alertstore_rep_teams(fd_alertstore_t *st,
                                 void (*each)(void *opaque, const char *rep, const char *team),
                                 void *opaque) {
    const char *argv[] = {"HGETALL", st->rep_team};
    redisReply *r = NULL;
    fd_err_t err = command(st, "HGETALL rep_team", 2, argv, NULL, &r);
    if (err) return err;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        each(opaque, r->element[i]->str, r->element[i + 1]->str);
    freeReplyObject(r);
    return FD_OK;
}

fd_err_t fd_alertstore_scan_scopes(fd_alertstore_t *st, fd_scope_t scope,
                                   void (*each)(void *opaque, const char *id, size_t len),
                                   void *opaque) {
    char pattern[FD_KEY_MAX], cursor[32] = "0";
    size_t plen = fd_keys_metric_scan(pattern, sizeof pattern, st->prefix, scope, "all");
    if (plen + 2 > sizeof pattern) return FD_ERR_INVAL;
    /* the prefix has no glob characters (A-Z a-z 0-9 . _ -) */
    snprintf(pattern + plen, sizeof pattern - plen, "*");
    for (int rounds = 0; rounds < 1000000; rounds++) {
        const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        redisReply *r = NULL;
        fd_err_t err = command(st, "SCAN", 6, argv, NULL, &r);
        if (err) return err;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            return fd_redis_fail(st->redis, "SCAN", r);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *id = keys->element[i]->str + plen;
            each(opaque, id, strlen(id));
        }
        freeReplyObject(r);
        if (strcmp(cursor, "0") == 0) break;
    }
    return FD_OK;
}

fd_err_t fd_alertstore_scan_deals(fd_alertstore_t *st,
                                  fd_err_t (*each)(void *opaque, const char *state, size_t len),
                                  void *opaque) {
    char pattern[FD_KEY_MAX], cursor[32] = "0";
    fd_keys_deal(pattern, sizeof pattern, st->prefix, "*");
    fd_err_t err = FD_OK;
    for (int rounds = 0; rounds < 10000000 && err == FD_OK; rounds++) {
        redisReply *r = NULL, *m = NULL;
        const char *sargv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        if ((err = command(st, "SCAN deals", 6, sargv, NULL, &r))) return err;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            return fd_redis_fail(st->redis, "SCAN", r);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        if (keys->elements > 0) {
            const char **argv = malloc((keys->elements + 1) * sizeof *argv);
            if (argv == NULL) {
                freeReplyObject(r);
                return FD_ERR_NOMEM;
            }
            argv[0] = "MGET";
            for (size_t i = 0; i < keys->elements; i++)
                argv[i + 1] = keys->element[i]->str;
            err = command(st, "MGET deals", (int)keys->elements + 1, argv, NULL, &m);
            free(argv);
            for (size_t i = 0; err == FD_OK && i < m->elements; i++) {
                const redisReply *e = m->element[i];
                if (e->type != REDIS_REPLY_STRING) continue; /* gone since the SCAN */
                err = each(opaque, e->str, e->len);
            }
            if (m != NULL) freeReplyObject(m);
        }
        freeReplyObject(r);
        if (strcmp(cursor, "0") == 0) break;
    }
    return err;
}

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

/* Appends the HMGET of read q. */
static fd_err_t append_read(fd_alertstore_t *st, const fd_alertstore_read_t *q,
                            const fd_alertstore_reader_t *rd, const char **argv, size_t *argl) {
    char key[FD_KEY_MAX];
    if (q->period != NULL) {
        const char *cv[] = {"HMGET", key, "score", "grade"};
        size_t cl[] = {5, fd_keys_score(key, sizeof key, st->prefix, q->scope, q->period, q->id), 5,
                       5};
        return fd_redis_append(st->redis, "alert reads", 4, cv, cl);
    }
    if (q->window != NULL) {
        argv[1] = key;
        argl[1] = fd_keys_metric(key, sizeof key, st->prefix, q->scope, q->window, q->id);
        return fd_redis_append(st->redis, "alert reads", (int)(2 + rd->nfields), argv, argl);
    }
    args_t a = {0};
    fd_keys_alert_state(key, sizeof key, st->prefix, q->rule);
    fd_err_t err = args_str(&a, "HMGET");
    if (!err) err = args_str(&a, key);
    for (size_t j = 0; j < q->nfields && !err; j++)
        err = args_str(&a, q->fields[j]);
    if (!err) err = fd_redis_append(st->redis, "alert reads", (int)a.n, a.argv, a.len);
    args_free(&a);
    return err;
}

/* Hands the answer r of read q (not an error reply) to rd. */
static void give(const fd_alertstore_read_t *q, size_t k, const redisReply *r,
                 const fd_alertstore_reader_t *rd, int64_t *vals) {
    if (q->period != NULL) {
        const char *v[2] = {NULL, NULL};
        for (size_t j = 0; j < 2 && j < r->elements; j++)
            if (r->element[j]->type == REDIS_REPLY_STRING) v[j] = r->element[j]->str;
        if (rd->card) rd->card(rd->opaque, k, v[0], v[1]);
        return;
    }
    if (q->window != NULL) {
        for (size_t f = 0; f < rd->nfields; f++) {
            vals[f] = 0;
            if (f < r->elements && !add_value(r->element[f], rd->hundredths[f], &vals[f]))
                fd_log_warn("alerts", "%s holds a malformed value; read as 0", rd->fields[f]);
        }
        rd->metric(rd->opaque, k, vals);
        return;
    }
    for (size_t j = 0; j < q->nfields && j < r->elements; j++) {
        const redisReply *x = r->element[j];
        if (x->type == REDIS_REPLY_STRING) rd->state(rd->opaque, k, j, x->str, x->len);
    }
}

fd_err_t fd_alertstore_read(fd_alertstore_t *st, const fd_alertstore_read_t *reads, size_t n,
                            const fd_alertstore_reader_t *rd) {
    const char **argv = malloc((2 + rd->nfields) * sizeof *argv);
    size_t *argl = malloc((2 + rd->nfields) * sizeof *argl);
    int64_t *vals = calloc(rd->nfields + 1, sizeof *vals);
    fd_err_t err = FD_OK;
    if (argv == NULL || argl == NULL || vals == NULL) {
        err = FD_ERR_NOMEM;
        goto out;
    }
    argv[0] = "HMGET";
    argl[0] = 5;
    for (size_t f = 0; f < rd->nfields; f++) {
        argv[2 + f] = rd->fields[f];
        argl[2 + f] = strlen(rd->fields[f]);
    }
    for (size_t done = 0; done < n;) {
        size_t end = n - done < PIPE_WINDOW ? n : done + PIPE_WINDOW;
        for (size_t k = done; k < end; k++)
            if ((err = append_read(st, &reads[k], rd, argv, argl))) goto out;
        for (size_t k = done; k < end; k++) {
            redisReply *r = NULL;
            if ((err = fd_redis_reply(st->redis, "alert reads", &r))) goto out;
            if (r->type == REDIS_REPLY_ERROR) {
                /* a key of another type (WRONGTYPE): a data problem, not a lost connection */
                rd->refused(rd->opaque, k, r->str);
                freeReplyObject(r);
                continue;
            }
            if (r->type != REDIS_REPLY_ARRAY) {
                /* keep the pipeline in step: read the rest before dropping the connection */
                for (size_t j = k + 1; j < end; j++) {
                    redisReply *x = NULL;
                    if (fd_redis_reply(st->redis, "alert reads", &x) != FD_OK) break;
                    freeReplyObject(x);
                }
                err = fd_redis_fail(st->redis, "alert reads", r);
                goto out;
            }
            give(&reads[k], k, r, rd, vals);
            freeReplyObject(r);
        }
        done = end;
    }
out:
    free(argv);
    free(argl);
    free(vals);
    return err;
}

fd_err_t fd_alertstore_commit(fd_alertstore_t *st, const char *token, int64_t stream_maxlen,
                              const fd_alertstore_change_t *changes, size_t n, bool *ours) {
    *ours = false;
    args_t keys = {0}, args = {0};
    char maxlen[24];
    snprintf(maxlen, sizeof maxlen, "%" PRId64, stream_maxlen);
    fd_err_t err;
    if ((err = args_str(&keys, st->lease)) || (err = args_str(&keys, st->firing)) ||
        (err = args_str(&keys, st->stream)) || (err = args_str(&keys, st->outbox)) ||
        (err = args_str(&args, token)) || (err = args_push(&args, maxlen, strlen(maxlen), true)) ||
        (err = args_str(&args, st->stream)))
        goto out;
    /* the state hashes in KEYS, each once, in the order of their first change */
    const char **rules = calloc(n + 1, sizeof *rules);
    if (rules == NULL) {
        err = FD_ERR_NOMEM;
        goto out;
    }
    size_t nrules = 0;
    for (size_t c = 0; c < n && !err; c++) {
        const fd_alertstore_change_t *ch = &changes[c];
        size_t k = 0;
        while (k < nrules && strcmp(rules[k], ch->rule) != 0)
            k++;
        if (k == nrules) {
            char key[FD_KEY_MAX];
            size_t kl = fd_keys_alert_state(key, sizeof key, st->prefix, ch->rule);
            rules[nrules++] = ch->rule;
            if ((err = args_push(&keys, key, kl < sizeof key ? kl : sizeof key - 1, true))) break;
        }
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", 5 + k);
        if ((err = args_push(&args, idx, strlen(idx), true)) ||
            (err = args_str(&args, ch->field)) || (err = args_str(&args, ch->state)))
            break;
        if (ch->kind == NULL) {
            for (int e = 0; e < 4 && !err; e++)
                err = args_str(&args, "");
        } else if ((err = args_str(&args, ch->kind)) || (err = args_str(&args, ch->firing_field)) ||
                   (err = args_str(&args, ch->alert_id)) || (err = args_str(&args, ch->json))) {
            break;
        }
    }
    free(rules);
    redisReply *r = NULL;
    if (!err)
        err = eval(st, "commit alert states", S_COMMIT, (int)keys.n, keys.argv, keys.len,
                   (int)args.n, args.argv, args.len, &r);
    if (!err) {
        *ours = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
    }
out:
    args_free(&keys);
    args_free(&args);
    return err;
}

fd_err_t fd_alertstore_outbox(fd_alertstore_t *st,
                              void (*each)(void *opaque, const char *id, const char *json,
                                           size_t len),
                              void *opaque) {
    const char *argv[] = {"HGETALL", st->outbox};
    redisReply *r = NULL;
    fd_err_t err = command(st, "HGETALL outbox", 2, argv, NULL, &r);
    if (err) return err;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        each(opaque, r->element[i]->str, r->element[i + 1]->str, r->element[i + 1]->len);
    freeReplyObject(r);
    return FD_OK;
}

fd_err_t fd_alertstore_outbox_drop(fd_alertstore_t *st, char *const *ids, size_t n) {
    if (n == 0) return FD_OK;
    const char **argv = malloc((n + 2) * sizeof *argv);
    if (argv == NULL) return FD_ERR_NOMEM;
    argv[0] = "HDEL";
    argv[1] = st->outbox;
    for (size_t i = 0; i < n; i++)
        argv[i + 2] = ids[i];
    redisReply *r = NULL;
    fd_err_t err = command(st, "HDEL outbox", (int)n + 2, argv, NULL, &r);
    free(argv);
    if (err) return err;
    freeReplyObject(r);
    return FD_OK;
}
