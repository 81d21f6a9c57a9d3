// SPDX-License-Identifier: MIT
// The scorer's Redis side (layer 4).
#include "io/scorestore.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/keys.h"
#include "lua/scripts.h"

#define XRANGE_COUNT "1000" /* change-feed and late entries per read */

/* A vector of owned strings. */
typedef struct {
    char **s;
    size_t n, cap;
} strvec_t;

static fd_err_t vec_push(strvec_t *v, const char *s) {
    if (v->n == v->cap) {
        size_t c = v->cap ? v->cap * 2 : 64;
        char **p = realloc(v->s, c * sizeof *p);
        if (p == NULL) return FD_ERR_NOMEM;
        v->s = p;
        v->cap = c;
    }
    char *copy = strdup(s);
    if (copy == NULL) return FD_ERR_NOMEM;
    v->s[v->n++] = copy;
    return FD_OK;
}

static void vec_clear(strvec_t *v) {
    for (size_t i = 0; i < v->n; i++)
        free(v->s[i]);
    v->n = 0;
}

static void vec_free(strvec_t *v) {
    vec_clear(v);
    free(v->s);
    v->s = NULL;
    v->cap = 0;
}

struct fd_scorestore {
    fd_redis_t *r;
    const fd_funnel_t *fn;
    char prefix[FD_KEY_MAX];
    char lease[FD_KEY_MAX], state[FD_KEY_MAX], periods[FD_KEY_MAX], feed[FD_KEY_MAX];
    char rep_team[FD_KEY_MAX], changes[FD_KEY_MAX], late[FD_KEY_MAX];
    int commit_id;
    const char **hmget; /* "HMGET", key, every field name */
    /* the commit being built */
    strvec_t keys, args;
    size_t ops;
    size_t nstate_at; /* index in args of the state pair count */
};

fd_err_t fd_scorestore_new(fd_redis_t *redis, const char *prefix, const fd_funnel_t *fn,
                           fd_scorestore_t **out) {
    *out = NULL;
    if (strlen(prefix) > 64) return FD_ERR_RANGE;
    fd_scorestore_t *ss = calloc(1, sizeof *ss);
    if (ss == NULL) return FD_ERR_NOMEM;
    ss->r = redis;
    ss->fn = fn;
    snprintf(ss->prefix, sizeof ss->prefix, "%s", prefix);
    fd_keys_single(ss->lease, sizeof ss->lease, prefix, FD_KEY_SCORE_LEASE);
    fd_keys_single(ss->state, sizeof ss->state, prefix, FD_KEY_SCORE_STATE);
    fd_keys_single(ss->periods, sizeof ss->periods, prefix, FD_KEY_SCORE_PERIODS);
    fd_keys_single(ss->feed, sizeof ss->feed, prefix, FD_KEY_FEED);
    fd_keys_single(ss->rep_team, sizeof ss->rep_team, prefix, FD_KEY_REP_TEAM);
    fd_keys_single(ss->changes, sizeof ss->changes, prefix, FD_KEY_CHANGES);
    fd_keys_single(ss->late, sizeof ss->late, prefix, FD_KEY_LATE);
    size_t nf = fd_funnel_nfields(fn);
    ss->hmget = calloc(nf + 2, sizeof *ss->hmget);
    fd_err_t err = ss->hmget == NULL ? FD_ERR_NOMEM
                                     : fd_redis_script(redis, "score_commit", fd_lua_score_commit,
                                                       &ss->commit_id);
    if (err != FD_OK) {
        fd_scorestore_destroy(ss);
        return err;
    }
    ss->hmget[0] = "HMGET";
    for (size_t f = 0; f < nf; f++)
        ss->hmget[f + 2] = fd_funnel_field_name(fn, f);
    *out = ss;
    return FD_OK;
}

void fd_scorestore_destroy(fd_scorestore_t *ss) {
    if (ss == NULL) return;
    vec_free(&ss->keys);
    vec_free(&ss->args);
    free(ss->hmget);
    free(ss);
}

/* An answer of the wrong shape: the connection's state is unknown, drop it. */
static fd_err_t bad_reply(fd_scorestore_t *ss, const char *what, redisReply *r) {
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        fd_redis_set_error(ss->r, "%s: %s", what, r->str);
        freeReplyObject(r);
        return FD_ERR_REDIS;
    }
    return fd_redis_fail(ss->r, what, r);
}

static bool is_str(const redisReply *r) {
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

fd_err_t fd_scorestore_watermark(fd_scorestore_t *ss, int64_t *ms) {
    const char *argv[] = {"HGET", ss->feed, "watermark"};
    redisReply *r = NULL;
    fd_err_t err = fd_redis_command(ss->r, "scorer clock (HGET feed)", 3, argv, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type == REDIS_REPLY_NIL) {
        *ms = 0;
    } else if (r->type == REDIS_REPLY_STRING) {
        *ms = strtoll(r->str, NULL, 10);
    } else {
        return bad_reply(ss, "scorer clock (HGET feed)", r);
    }
    freeReplyObject(r);
    return FD_OK;
}

/* HGETALL key, fn per pair; *exists whether it held anything. */
static fd_err_t hgetall(fd_scorestore_t *ss, const char *what, const char *key,
                        fd_scorestore_pair_fn fn, void *arg, bool *exists) {
    const char *argv[] = {"HGETALL", key};
    redisReply *r = NULL;
    fd_err_t err = fd_redis_command(ss->r, what, 2, argv, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) return bad_reply(ss, what, r);
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING) return bad_reply(ss, what, r);
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        fn(r->element[i]->str, r->element[i + 1]->str, arg);
    if (exists) *exists = r->elements > 0;
    freeReplyObject(r);
    return FD_OK;
}

fd_err_t fd_scorestore_rep_team(fd_scorestore_t *ss, fd_scorestore_pair_fn fn, void *arg) {
    return hgetall(ss, "scorer (HGETALL rep_team)", ss->rep_team, fn, arg, NULL);
}

fd_err_t fd_scorestore_state(fd_scorestore_t *ss, fd_scorestore_pair_fn fn, void *arg) {
    return hgetall(ss, "scorer (HGETALL score:state)", ss->state, fn, arg, NULL);
}

fd_err_t fd_scorestore_breakdown(fd_scorestore_t *ss, fd_scope_t scope, const char *period,
                                 const char *id, fd_scorestore_pair_fn fn, void *arg,
                                 bool *exists) {
    char key[FD_KEY_MAX];
    if (fd_keys_score(key, sizeof key, ss->prefix, scope, period, id) >= sizeof key)
        return FD_ERR_RANGE;
    return hgetall(ss, "scorer (HGETALL breakdown)", key, fn, arg, exists);
}

fd_err_t fd_scorestore_sums(fd_scorestore_t *ss, fd_scope_t scope, const char *id,
                            const char *const *windows, size_t nwin, int64_t *sums) {
    size_t nf = fd_funnel_nfields(ss->fn);
    memset(sums, 0, nf * sizeof *sums);
    char key[FD_KEY_MAX];
    fd_err_t err = FD_OK;
    for (size_t w = 0; w < nwin && err == FD_OK; w++) {
        if (fd_keys_metric(key, sizeof key, ss->prefix, scope, windows[w], id) >= sizeof key)
            return FD_ERR_RANGE;
        ss->hmget[1] = key;
        err = fd_redis_append(ss->r, "scorer (HMGET)", (int)nf + 2, ss->hmget, NULL);
    }
    if (err != FD_OK) return err;
    for (size_t w = 0; w < nwin; w++) {
        redisReply *r = NULL;
        if ((err = fd_redis_reply(ss->r, "scorer (HMGET)", &r)) != FD_OK) return err;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != nf)
            return bad_reply(ss, "scorer (HMGET)", r);
        for (size_t f = 0; f < nf; f++) {
            const redisReply *v = r->element[f];
            if (v->type != REDIS_REPLY_STRING) continue; /* absent: 0 */
            if (fd_funnel_field_hundredths(ss->fn, f))
                sums[f] += (int64_t)llround(strtod(v->str, NULL) * 100.0);
            else
                sums[f] += strtoll(v->str, NULL, 10);
        }
        freeReplyObject(r);
    }
    return FD_OK;
}

/* A stream id as (ms, seq); "0-0" when it does not parse. */
static void parse_id(const char *s, uint64_t *ms, uint64_t *seq) {
    char *end = NULL;
    *ms = strtoull(s, &end, 10);
    *seq = end && *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
}

static int cmp_id(const char *a, const char *b) {
    uint64_t am, as, bm, bs;
    parse_id(a, &am, &as);
    parse_id(b, &bm, &bs);
    if (am != bm) return am < bm ? -1 : 1;
    if (as != bs) return as < bs ? -1 : 1;
    return 0;
}

/* The id of the stream's first (first) or last entry into id ("" when none). */
static fd_err_t edge_id(fd_scorestore_t *ss, const char *key, bool first, char *id) {
    const char *fwd[] = {"XRANGE", key, "-", "+", "COUNT", "1"};
    const char *rev[] = {"XREVRANGE", key, "+", "-", "COUNT", "1"};
    redisReply *r = NULL;
    fd_err_t err = fd_redis_command(ss->r, "scorer (stream edge)", 6, first ? fwd : rev, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type != REDIS_REPLY_ARRAY) return bad_reply(ss, "scorer (stream edge)", r);
    id[0] = '\0';
    if (r->elements > 0) {
        const redisReply *e = r->element[0];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 || !is_str(e->element[0]) ||
            e->element[0]->len >= FD_SCORESTORE_POS_MAX)
            return bad_reply(ss, "scorer (stream edge)", r);
        memcpy(id, e->element[0]->str, e->element[0]->len + 1);
    }
    freeReplyObject(r);
    return FD_OK;
}

fd_err_t fd_scorestore_position(fd_scorestore_t *ss, char pos[FD_SCORESTORE_POS_MAX]) {
    fd_err_t err = edge_id(ss, ss->changes, false, pos);
    if (err == FD_OK && pos[0] == '\0') snprintf(pos, FD_SCORESTORE_POS_MAX, "0-0");
    return err;
}

/* The value of field in a stream entry's flat field list, or NULL. */
static const char *entry_field(const redisReply *kv, const char *field) {
    for (size_t j = 0; j + 1 < kv->elements; j += 2)
        if (is_str(kv->element[j]) && strcmp(kv->element[j]->str, field) == 0 &&
            is_str(kv->element[j + 1]))
            return kv->element[j + 1]->str;
    return NULL;
}

/* Checks a range reply: entries of {id, {field, value...}}. */
static bool range_ok(const redisReply *r) {
    if (r->type != REDIS_REPLY_ARRAY) return false;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !is_str(e->element[0]) ||
            e->element[0]->len >= FD_SCORESTORE_POS_MAX ||
            e->element[1]->type != REDIS_REPLY_ARRAY || e->element[1]->elements % 2 != 0)
            return false;
    }
    return true;
}

fd_err_t fd_scorestore_changes(fd_scorestore_t *ss, const char *from,
                               void (*on_key)(const char *key, void *arg), void *arg, bool *all,
                               char to[FD_SCORESTORE_POS_MAX]) {
    *all = false;
    char first[FD_SCORESTORE_POS_MAX], last[FD_SCORESTORE_POS_MAX];
    fd_err_t err = edge_id(ss, ss->changes, true, first);
    if (err == FD_OK) err = edge_id(ss, ss->changes, false, last);
    if (err != FD_OK) return err;
    bool empty = last[0] == '\0';
    snprintf(to, FD_SCORESTORE_POS_MAX, "%s", empty ? "0-0" : last);
    /* the resume protocol of docs/feeds.md: the entry after `from` may be gone (trimmed,
     * recreated or lost stream): everything may have changed */
    if (strcmp(from, "0-0") == 0 || (empty && strcmp(from, "0-0") != 0) ||
        (!empty && (cmp_id(first, from) > 0 || cmp_id(last, from) < 0))) {
        *all = true;
        return FD_OK;
    }
    if (empty || cmp_id(last, from) == 0) return FD_OK;
    char pos[FD_SCORESTORE_POS_MAX + 1];
    snprintf(pos, sizeof pos, "(%s", from);
    for (;;) {
        const char *argv[] = {"XRANGE", ss->changes, pos, last, "COUNT", XRANGE_COUNT};
        redisReply *r = NULL;
        if ((err = fd_redis_command(ss->r, "scorer (XRANGE changes)", 6, argv, NULL, &r)) != FD_OK)
            return err;
        if (!range_ok(r)) return bad_reply(ss, "scorer (XRANGE changes)", r);
        for (size_t i = 0; i < r->elements && !*all; i++) {
            const redisReply *kv = r->element[i]->element[1];
            const char *kind = entry_field(kv, "kind");
            if (kind == NULL) continue;
            if (strcmp(kind, "bulk") == 0) {
                *all = true;
            } else if (strcmp(kind, "change") == 0) {
                const char *keys = entry_field(kv, "keys");
                if (keys == NULL) continue;
                char line[FD_KEY_MAX];
                while (*keys) {
                    const char *nl = strchr(keys, '\n');
                    size_t len = nl ? (size_t)(nl - keys) : strlen(keys);
                    if (len < sizeof line) {
                        memcpy(line, keys, len);
                        line[len] = '\0';
                        on_key(line, arg);
                    }
                    keys += len + (nl ? 1 : 0);
                }
            }
        }
        size_t n = r->elements;
        if (n > 0) snprintf(pos, sizeof pos, "(%s", r->element[n - 1]->element[0]->str);
        freeReplyObject(r);
        if (*all || n < (size_t)atoi(XRANGE_COUNT)) break;
    }
    return FD_OK;
}

fd_err_t fd_scorestore_late(fd_scorestore_t *ss, const char *after, const char *upto,
                            void (*on_entry)(const char *id, const char *const *fields,
                                             const char *const *values, size_t n, void *arg),
                            void *arg, bool *exists, char last[FD_SCORESTORE_POS_MAX]) {
    snprintf(last, FD_SCORESTORE_POS_MAX, "%s", after);
    const char *ex[] = {"EXISTS", ss->late};
    redisReply *r = NULL;
    fd_err_t err = fd_redis_command(ss->r, "scorer (EXISTS late)", 2, ex, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type != REDIS_REPLY_INTEGER) return bad_reply(ss, "scorer (EXISTS late)", r);
    *exists = r->integer == 1;
    freeReplyObject(r);
    if (!*exists) return FD_OK;
    uint64_t ums, useq;
    parse_id(upto, &ums, &useq);
    char end[32], pos[FD_SCORESTORE_POS_MAX + 1];
    snprintf(end, sizeof end, "%" PRIu64, ums); /* every entry of that ms */
    snprintf(pos, sizeof pos, "(%s", after);
    const char *fields[64], *values[64];
    for (;;) {
        const char *argv[] = {"XRANGE", ss->late, pos, end, "COUNT", XRANGE_COUNT};
        if ((err = fd_redis_command(ss->r, "scorer (XRANGE late)", 6, argv, NULL, &r)) != FD_OK)
            return err;
        if (!range_ok(r)) return bad_reply(ss, "scorer (XRANGE late)", r);
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *kv = r->element[i]->element[1];
            size_t n = 0;
            for (size_t j = 0; j + 1 < kv->elements && n < 64; j += 2) {
                if (!is_str(kv->element[j]) || !is_str(kv->element[j + 1])) continue;
                fields[n] = kv->element[j]->str;
                values[n++] = kv->element[j + 1]->str;
            }
            on_entry(r->element[i]->element[0]->str, fields, values, n, arg);
        }
        size_t n = r->elements;
        if (n > 0) {
            snprintf(last, FD_SCORESTORE_POS_MAX, "%s", r->element[n - 1]->element[0]->str);
            snprintf(pos, sizeof pos, "(%s", last);
        }
        freeReplyObject(r);
        if (n < (size_t)atoi(XRANGE_COUNT)) break;
    }
    return FD_OK;
}

/* ---- the commit ---- */

fd_err_t fd_scorestore_begin(fd_scorestore_t *ss, const char *period, int64_t start_ms,
                             bool rerank) {
    vec_clear(&ss->keys);
    vec_clear(&ss->args);
    ss->ops = 0;
    char buf[FD_KEY_MAX], start[24];
    snprintf(start, sizeof start, "%" PRId64, start_ms);
    fd_err_t err = FD_OK;
#define PUSHK(call)                                                                                \
    do {                                                                                           \
        if (err == FD_OK) {                                                                        \
            if ((call) >= sizeof buf)                                                              \
                err = FD_ERR_RANGE;                                                                \
            else                                                                                   \
                err = vec_push(&ss->keys, buf);                                                    \
        }                                                                                          \
    } while (0)
    PUSHK(fd_keys_single(buf, sizeof buf, ss->prefix, FD_KEY_SCORE_LEASE));
    PUSHK(fd_keys_single(buf, sizeof buf, ss->prefix, FD_KEY_SCORE_STATE));
    PUSHK(fd_keys_single(buf, sizeof buf, ss->prefix, FD_KEY_SCORE_PERIODS));
    PUSHK(fd_keys_rank_reps(buf, sizeof buf, ss->prefix, period));
    PUSHK(fd_keys_rank_teams(buf, sizeof buf, ss->prefix, period));
    PUSHK(fd_keys_score(buf, sizeof buf, ss->prefix, FD_SCOPE_REP, period, ""));
    PUSHK(fd_keys_score(buf, sizeof buf, ss->prefix, FD_SCOPE_TEAM, period, ""));
    PUSHK(fd_keys_rank_team(buf, sizeof buf, ss->prefix, period, ""));
#undef PUSHK
    if (err == FD_OK) err = vec_push(&ss->args, ""); /* the token, set by commit */
    if (err == FD_OK) err = vec_push(&ss->args, period);
    if (err == FD_OK) err = vec_push(&ss->args, start);
    if (err == FD_OK) err = vec_push(&ss->args, rerank ? "1" : "0");
    ss->nstate_at = ss->args.n;
    if (err == FD_OK) err = vec_push(&ss->args, "0");
    return err;
}

fd_err_t fd_scorestore_set_state(fd_scorestore_t *ss, const char *field, const char *value) {
    /* state pairs go right after the count, before any operation */
    if (ss->ops > 0) return FD_ERR_INVAL;
    fd_err_t err = vec_push(&ss->args, field);
    if (err == FD_OK) err = vec_push(&ss->args, value);
    if (err != FD_OK) return err;
    char count[24];
    snprintf(count, sizeof count, "%zu", (ss->args.n - ss->nstate_at - 1) / 2);
    char *c = strdup(count);
    if (c == NULL) return FD_ERR_NOMEM;
    free(ss->args.s[ss->nstate_at]);
    ss->args.s[ss->nstate_at] = c;
    return FD_OK;
}

static fd_err_t push_pairs(fd_scorestore_t *ss, const char *const *fields,
                           const char *const *values, size_t n) {
    char count[24];
    snprintf(count, sizeof count, "%zu", n);
    fd_err_t err = vec_push(&ss->args, count);
    for (size_t i = 0; i < n && err == FD_OK; i++) {
        err = vec_push(&ss->args, fields[i]);
        if (err == FD_OK) err = vec_push(&ss->args, values[i]);
    }
    return err;
}

fd_err_t fd_scorestore_card(fd_scorestore_t *ss, fd_scope_t scope, const char *id, const char *team,
                            const char *score, const char *const *fields, const char *const *values,
                            size_t n) {
    char key[FD_KEY_MAX];
    const char *period = ss->args.s[1];
    if (fd_keys_score(key, sizeof key, ss->prefix, scope, period, id) >= sizeof key)
        return FD_ERR_RANGE;
    fd_err_t err = vec_push(&ss->keys, key);
    if (err == FD_OK) err = vec_push(&ss->args, "card");
    if (err == FD_OK) err = vec_push(&ss->args, fd_scope_name(scope));
    if (err == FD_OK) err = vec_push(&ss->args, id);
    if (err == FD_OK) err = vec_push(&ss->args, scope == FD_SCOPE_REP && team ? team : "");
    if (err == FD_OK) err = vec_push(&ss->args, score ? score : "");
    if (err == FD_OK) err = push_pairs(ss, fields, values, n);
    if (err == FD_OK) ss->ops++;
    return err;
}

fd_err_t fd_scorestore_adjust(fd_scorestore_t *ss, fd_scope_t scope, const char *id,
                              const char *entry, const char *const *fields,
                              const char *const *values, size_t n) {
    char key[FD_KEY_MAX], list[FD_KEY_MAX];
    const char *period = ss->args.s[1];
    if (fd_keys_score(key, sizeof key, ss->prefix, scope, period, id) >= sizeof key ||
        fd_keys_score_adj(list, sizeof list, ss->prefix, scope, period, id) >= sizeof list)
        return FD_ERR_RANGE;
    fd_err_t err = vec_push(&ss->keys, key);
    if (err == FD_OK) err = vec_push(&ss->keys, list);
    if (err == FD_OK) err = vec_push(&ss->args, "adj");
    if (err == FD_OK) err = vec_push(&ss->args, fd_scope_name(scope));
    if (err == FD_OK) err = vec_push(&ss->args, id);
    if (err == FD_OK) err = vec_push(&ss->args, entry ? entry : "");
    if (err == FD_OK) err = push_pairs(ss, fields, values, n);
    if (err == FD_OK) ss->ops++;
    return err;
}

size_t fd_scorestore_pending(const fd_scorestore_t *ss) {
    return ss->ops;
}

fd_err_t fd_scorestore_commit(fd_scorestore_t *ss, const char *token, bool *held) {
    *held = false;
    if (ss->keys.n > INT32_MAX / 2 || ss->args.n > INT32_MAX / 2) return FD_ERR_RANGE;
    char *t = strdup(token);
    if (t == NULL) return FD_ERR_NOMEM;
    free(ss->args.s[0]);
    ss->args.s[0] = t;
    redisReply *r = NULL;
    fd_err_t err =
        fd_redis_eval(ss->r, ss->commit_id, (int)ss->keys.n, (const char *const *)ss->keys.s, NULL,
                      (int)ss->args.n, (const char *const *)ss->args.s, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type != REDIS_REPLY_INTEGER) return bad_reply(ss, "scorer commit", r);
    *held = r->integer == 1;
    freeReplyObject(r);
    return FD_OK;
}
