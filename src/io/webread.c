// SPDX-License-Identifier: MIT
// funnel-web's Redis reads (layer 4). See webread.h.
#include "io/webread.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/keys.h"

static const char *const stream_names[2] = {FD_KEY_CHANGES, FD_KEY_ALERTS};

void fd_webhash_clear(fd_webhash_t *h) {
    for (size_t i = 0; i < h->n; i++) {
        free(h->fields[i]);
        free(h->values[i]);
    }
    free(h->fields);
    free(h->values);
    *h = (fd_webhash_t){0};
}

const char *fd_webhash_get(const fd_webhash_t *h, const char *field) {
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->fields[i], field) == 0) return h->values[i];
    return NULL;
}

void fd_webentries_free(fd_webentry_t *e, size_t n) {
    for (size_t i = 0; i < n && e != NULL; i++)
        fd_webhash_clear(&e[i].f);
    free(e);
}

/* An array reply of field, value pairs into *h. */
static fd_err_t to_hash(const redisReply *a, fd_webhash_t *h) {
    *h = (fd_webhash_t){0};
    if (a == NULL || a->type != REDIS_REPLY_ARRAY || a->elements == 0) return FD_OK;
    size_t n = a->elements / 2;
    h->fields = calloc(n, sizeof *h->fields);
    h->values = calloc(n, sizeof *h->values);
    if (h->fields == NULL || h->values == NULL) goto nomem;
    for (size_t i = 0; i < n; i++) {
        const redisReply *k = a->element[2 * i], *v = a->element[2 * i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        h->fields[h->n] = strndup(k->str, k->len);
        h->values[h->n] = strndup(v->str, v->len);
        h->n++;
        if (h->fields[h->n - 1] == NULL || h->values[h->n - 1] == NULL) goto nomem;
    }
    return FD_OK;
nomem:
    fd_webhash_clear(h);
    return FD_ERR_NOMEM;
}

/* The entries of an XRANGE-like array reply appended to *out. */
static fd_err_t to_entries(const redisReply *a, int stream, fd_webentry_t **out, size_t *n) {
    if (a == NULL || a->type != REDIS_REPLY_ARRAY || a->elements == 0) return FD_OK;
    fd_webentry_t *e = realloc(*out, (*n + a->elements) * sizeof *e);
    if (e == NULL) return FD_ERR_NOMEM;
    *out = e;
    for (size_t i = 0; i < a->elements; i++) {
        const redisReply *x = a->element[i];
        if (x->type != REDIS_REPLY_ARRAY || x->elements < 2 ||
            x->element[0]->type != REDIS_REPLY_STRING)
            continue;
        fd_webentry_t *en = &e[*n];
        snprintf(en->id, sizeof en->id, "%s", x->element[0]->str);
        en->stream = stream;
        if (to_hash(x->element[1], &en->f) != FD_OK) return FD_ERR_NOMEM;
        (*n)++;
    }
    return FD_OK;
}

/* On error, frees the entries read so far and leaves none: the out-parameters' contract. */
static fd_err_t entries_result(fd_err_t err, fd_webentry_t **out, size_t *n) {
    if (err != FD_OK) {
        fd_webentries_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return err;
}

static void single(char *buf, const char *prefix, const char *name) {
    fd_keys_single(buf, FD_KEY_MAX, prefix, name);
}

/* The last id of an XREVRANGE ... COUNT 1 reply, "0-0" when none. */
static void last_id(const redisReply *a, char *out, size_t size) {
    if (a != NULL && a->type == REDIS_REPLY_ARRAY && a->elements > 0 &&
        a->element[0]->type == REDIS_REPLY_ARRAY && a->element[0]->elements > 0)
        snprintf(out, size, "%s", a->element[0]->element[0]->str);
    else
        snprintf(out, size, "0-0");
}

/* Runs MULTI, the n commands, EXEC (pipelined); *exec is the EXEC reply (an array of n). */
static fd_err_t transaction(fd_redis_t *r, const char *what, size_t n, int *argc,
                            const char ***argv, redisReply **exec) {
    const char *multi[] = {"MULTI"}, *ex[] = {"EXEC"};
    fd_err_t err = fd_redis_append(r, what, 1, multi, NULL);
    for (size_t i = 0; err == FD_OK && i < n; i++)
        err = fd_redis_append(r, what, argc[i], argv[i], NULL);
    if (err == FD_OK) err = fd_redis_append(r, what, 1, ex, NULL);
    for (size_t i = 0; err == FD_OK && i < n + 1; i++) {
        redisReply *q = NULL;
        err = fd_redis_reply(r, what, &q);
        if (err == FD_OK && q->type == REDIS_REPLY_ERROR) {
            fd_redis_set_error(r, "%s: %s", what, q->str);
            err = FD_ERR_REDIS;
        }
        if (q != NULL) freeReplyObject(q);
    }
    if (err != FD_OK) {
        fd_redis_disconnect(r); /* replies may be pending: start afresh */
        return err;
    }
    redisReply *e = NULL;
    err = fd_redis_reply(r, what, &e);
    if (err != FD_OK) return err;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != n) return fd_redis_fail(r, what, e);
    *exec = e;
    return FD_OK;
}

/* In one MULTI/EXEC, so that the hashes are as of the position: both streams' last ids into
 * pos and, when key is not NULL, HGETALL key into *out, and when key2 is not NULL HGETALL key2
 * into *out2. */
static fd_err_t read_at_position(fd_redis_t *r, const char *prefix, const char *what,
                                 const char *key, fd_webhash_t *out, const char *key2,
                                 fd_webhash_t *out2, char pos[FD_WEB_POS_MAX]) {
    char kc[FD_KEY_MAX], ka[FD_KEY_MAX];
    single(kc, prefix, FD_KEY_CHANGES);
    single(ka, prefix, FD_KEY_ALERTS);
    const char *c1[] = {"XREVRANGE", kc, "+", "-", "COUNT", "1"};
    const char *c2[] = {"XREVRANGE", ka, "+", "-", "COUNT", "1"};
    const char *c3[] = {"HGETALL", key};
    const char *c4[] = {"HGETALL", key2};
    int argc[] = {6, 6, 2, 2};
    const char **argv[] = {c1, c2, c3, c4};
    redisReply *e = NULL;
    size_t n = key == NULL ? 2 : key2 == NULL ? 3 : 4;
    fd_err_t err = transaction(r, what, n, argc, argv, &e);
    if (err != FD_OK) return err;
    char a[48], b[48];
    last_id(e->element[0], a, sizeof a);
    last_id(e->element[1], b, sizeof b);
    snprintf(pos, FD_WEB_POS_MAX, "%s,%s", a, b);
    if (key != NULL) err = to_hash(e->element[2], out);
    if (err == FD_OK && key2 != NULL) {
        err = to_hash(e->element[3], out2);
        if (err != FD_OK) fd_webhash_clear(out);
    }
    freeReplyObject(e);
    return err;
}

fd_err_t fd_webread_funnel(fd_redis_t *r, const char *prefix, fd_scope_t scope, const char *window,
                           const char *id, fd_webhash_t *out, fd_webhash_t *all,
                           char pos[FD_WEB_POS_MAX]) {
    char kh[FD_KEY_MAX], kall[FD_KEY_MAX];
    fd_keys_metric(kh, sizeof kh, prefix, scope, window, id);
    fd_keys_metric(kall, sizeof kall, prefix, scope, "all", id);
    return read_at_position(r, prefix, "read the funnel", kh, out, all != NULL ? kall : NULL, all,
                            pos);
}

fd_err_t fd_webread_position(fd_redis_t *r, const char *prefix, char pos[FD_WEB_POS_MAX]) {
    return read_at_position(r, prefix, "read the position", NULL, NULL, NULL, NULL, pos);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void fd_webread_ids_free(char **ids, size_t n) {
    for (size_t i = 0; i < n && ids != NULL; i++)
        free(ids[i]);
    free(ids);
}

fd_err_t fd_webread_ids(fd_redis_t *r, const char *prefix, fd_scope_t scope, const char *window,
                        char ***ids, size_t *n) {
    char pat[FD_KEY_MAX + 2];
    size_t plen = fd_keys_metric_scan(pat, FD_KEY_MAX, prefix, scope, window);
    snprintf(pat + plen, sizeof pat - plen, "*");
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    char cursor[32] = "0";
    fd_err_t err = FD_OK;
    for (int rounds = 0; rounds < 1000000; rounds++) {
        const char *argv[] = {"SCAN", cursor, "MATCH", pat, "COUNT", "1000"};
        redisReply *q = NULL;
        err = fd_redis_command(r, "scan the ids", 6, argv, NULL, &q);
        if (err != FD_OK) break;
        if (q->type != REDIS_REPLY_ARRAY || q->elements != 2 ||
            q->element[1]->type != REDIS_REPLY_ARRAY) {
            err = fd_redis_fail(r, "scan the ids", q);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", q->element[0]->str);
        for (size_t i = 0; i < q->element[1]->elements; i++) {
            const redisReply *k = q->element[1]->element[i];
            if (k->type != REDIS_REPLY_STRING || k->len <= plen) continue;
            if (cnt == cap) {
                cap = cap ? cap * 2 : 64;
                char **nv = realloc(v, cap * sizeof *nv);
                if (nv == NULL) {
                    err = FD_ERR_NOMEM;
                    break;
                }
                v = nv;
            }
            v[cnt] = strndup(k->str + plen, k->len - plen);
            if (v[cnt] == NULL) {
                err = FD_ERR_NOMEM;
                break;
            }
            cnt++;
        }
        freeReplyObject(q);
        if (err != FD_OK || strcmp(cursor, "0") == 0) break;
    }
    if (err != FD_OK) {
        fd_webread_ids_free(v, cnt);
        return err;
    }
    if (cnt > 0) qsort(v, cnt, sizeof *v, cmp_str);
    size_t w = 0; /* SCAN may return a key twice */
    for (size_t i = 0; i < cnt; i++) {
        if (w > 0 && strcmp(v[w - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[w++] = v[i];
    }
    *ids = v;
    *n = w;
    return FD_OK;
}

fd_err_t fd_webread_hashes(fd_redis_t *r, const char *prefix, fd_scope_t scope, const char *window,
                           char *const *ids, size_t n, fd_webhash_t **out) {
    *out = NULL;
    fd_webhash_t *h = calloc(n > 0 ? n : 1, sizeof *h);
    int *argc = calloc(n > 0 ? n : 1, sizeof *argc);
    const char ***argv = calloc(n > 0 ? n : 1, sizeof *argv);
    char *keys = malloc((n > 0 ? n : 1) * FD_KEY_MAX);
    const char **cmds = calloc(2 * (n > 0 ? n : 1), sizeof *cmds);
    fd_err_t err = FD_ERR_NOMEM;
    redisReply *e = NULL;
    if (h == NULL || argc == NULL || argv == NULL || keys == NULL || cmds == NULL) goto done;
    for (size_t i = 0; i < n; i++) {
        fd_keys_metric(keys + i * FD_KEY_MAX, FD_KEY_MAX, prefix, scope, window, ids[i]);
        cmds[2 * i] = "HGETALL";
        cmds[2 * i + 1] = keys + i * FD_KEY_MAX;
        argc[i] = 2;
        argv[i] = &cmds[2 * i];
    }
    err = n > 0 ? transaction(r, "read the hashes", n, argc, argv, &e) : FD_OK;
    for (size_t i = 0; err == FD_OK && i < n; i++)
        err = to_hash(e->element[i], &h[i]);
    if (err == FD_OK) {
        *out = h;
        h = NULL;
    }
done:
    if (e != NULL) freeReplyObject(e);
    for (size_t i = 0; h != NULL && i < n; i++)
        fd_webhash_clear(&h[i]);
    free(h);
    free(argc);
    free(argv);
    free(keys);
    free(cmds);
    return err;
}

fd_err_t fd_webread_single_hash(fd_redis_t *r, const char *prefix, const char *name,
                                fd_webhash_t *out) {
    char k[FD_KEY_MAX];
    single(k, prefix, name);
    const char *argv[] = {"HGETALL", k};
    redisReply *q = NULL;
    fd_err_t err = fd_redis_command(r, "read a hash", 2, argv, NULL, &q);
    if (err != FD_OK) return err;
    if (q->type != REDIS_REPLY_ARRAY) return fd_redis_fail(r, "read a hash", q);
    err = to_hash(q, out);
    freeReplyObject(q);
    return err;
}

fd_err_t fd_webread_firing(fd_redis_t *r, const char *prefix, fd_webhash_t *out,
                           char pos[FD_WEB_POS_MAX]) {
    char kf[FD_KEY_MAX];
    single(kf, prefix, FD_KEY_ALERTS_FIRING);
    return read_at_position(r, prefix, "read the firing alerts", kf, out, NULL, NULL, pos);
}

fd_err_t fd_webread_newest(fd_redis_t *r, const char *prefix, int stream, size_t count,
                           fd_webentry_t **out, size_t *n) {
    char k[FD_KEY_MAX], c[24];
    single(k, prefix, stream_names[stream != 0]);
    snprintf(c, sizeof c, "%zu", count);
    const char *argv[] = {"XREVRANGE", k, "+", "-", "COUNT", c};
    redisReply *q = NULL;
    *out = NULL;
    *n = 0;
    fd_err_t err = fd_redis_command(r, "read a stream", 6, argv, NULL, &q);
    if (err != FD_OK) return err;
    if (q->type != REDIS_REPLY_ARRAY) return fd_redis_fail(r, "read a stream", q);
    err = to_entries(q, stream != 0, out, n);
    freeReplyObject(q);
    return entries_result(err, out, n);
}

fd_err_t fd_webread_bounds(fd_redis_t *r, const char *prefix, int stream, char first[48],
                           char last[48]) {
    char k[FD_KEY_MAX];
    single(k, prefix, stream_names[stream != 0]);
    const char *c1[] = {"XRANGE", k, "-", "+", "COUNT", "1"};
    const char *c2[] = {"XREVRANGE", k, "+", "-", "COUNT", "1"};
    int argc[] = {6, 6};
    const char **argv[] = {c1, c2};
    redisReply *e = NULL;
    fd_err_t err = transaction(r, "check the stream", 2, argc, argv, &e);
    if (err != FD_OK) return err;
    last_id(e->element[0], first, 48);
    last_id(e->element[1], last, 48);
    if (strcmp(first, "0-0") == 0) first[0] = '\0';
    if (strcmp(last, "0-0") == 0) last[0] = '\0';
    freeReplyObject(e);
    return FD_OK;
}

fd_err_t fd_webread_follow(fd_redis_t *r, const char *prefix, const char *const after[2],
                           int64_t block_ms, size_t count, fd_webentry_t **out, size_t *n) {
    char kc[FD_KEY_MAX], ka[FD_KEY_MAX], c[24], b[24];
    single(kc, prefix, FD_KEY_CHANGES);
    single(ka, prefix, FD_KEY_ALERTS);
    snprintf(c, sizeof c, "%zu", count);
    snprintf(b, sizeof b, "%" PRId64, block_ms);
    const char *argv[] = {"XREAD", "COUNT", c, "BLOCK", b, "STREAMS", kc, ka, after[0], after[1]};
    redisReply *q = NULL;
    *out = NULL;
    *n = 0;
    fd_err_t err = fd_redis_command(r, "follow the streams", 10, argv, NULL, &q);
    if (err != FD_OK) return err;
    if (q->type == REDIS_REPLY_NIL) {
        freeReplyObject(q);
        return FD_OK;
    }
    if (q->type != REDIS_REPLY_ARRAY) return fd_redis_fail(r, "follow the streams", q);
    /* the changes first, then the alerts: each stream's own order is what matters */
    for (int s = 0; err == FD_OK && s < 2; s++)
        for (size_t i = 0; err == FD_OK && i < q->elements; i++) {
            const redisReply *x = q->element[i];
            if (x->type != REDIS_REPLY_ARRAY || x->elements != 2) continue;
            bool is_changes = strcmp(x->element[0]->str, kc) == 0;
            if (is_changes != (s == 0)) continue;
            err = to_entries(x->element[1], s, out, n);
        }
    freeReplyObject(q);
    return entries_result(err, out, n);
}

fd_err_t fd_webread_time(fd_redis_t *r, int64_t *now_ms) {
    const char *argv[] = {"TIME"};
    redisReply *q = NULL;
    fd_err_t err = fd_redis_command(r, "read the time", 1, argv, NULL, &q);
    if (err != FD_OK) return err;
    if (q->type != REDIS_REPLY_ARRAY || q->elements != 2) return fd_redis_fail(r, "TIME", q);
    *now_ms =
        strtoll(q->element[0]->str, NULL, 10) * 1000 + strtoll(q->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(q);
    return FD_OK;
}

bool fd_webread_parse_id(const char *s, uint64_t *ms, uint64_t *seq) {
    size_t a = strspn(s, "0123456789");
    if (a == 0 || a > 20) return false;
    uint64_t m = strtoull(s, NULL, 10), q = 0;
    if (s[a] == '-') {
        size_t b = strspn(s + a + 1, "0123456789");
        if (b == 0 || b > 20 || s[a + 1 + b] != '\0') return false;
        q = strtoull(s + a + 1, NULL, 10);
    } else if (s[a] != '\0') {
        return false;
    }
    *ms = m;
    *seq = q;
    return true;
}

int fd_webread_cmp_id(const char *a, const char *b) {
    uint64_t am = 0, as = 0, bm = 0, bs = 0;
    fd_webread_parse_id(a, &am, &as);
    fd_webread_parse_id(b, &bm, &bs);
    if (am != bm) return am < bm ? -1 : 1;
    if (as != bs) return as < bs ? -1 : 1;
    return 0;
}

fd_err_t fd_webread_scorecard(fd_redis_t *r, const char *prefix, fd_scope_t scope,
                              const char *period, const char *id, fd_webhash_t *out, char ***adj,
                              size_t *nadj) {
    char kh[FD_KEY_MAX], kl[FD_KEY_MAX];
    fd_keys_score(kh, sizeof kh, prefix, scope, period, id);
    fd_keys_score_adj(kl, sizeof kl, prefix, scope, period, id);
    const char *c1[] = {"HGETALL", kh};
    const char *c2[] = {"LRANGE", kl, "0", "-1"};
    int argc[] = {2, 4};
    const char **argv[] = {c1, c2};
    redisReply *e = NULL;
    *out = (fd_webhash_t){0};
    *adj = NULL;
    *nadj = 0;
    fd_err_t err = transaction(r, "read the scorecard", 2, argc, argv, &e);
    if (err != FD_OK) return err;
    err = to_hash(e->element[0], out);
    const redisReply *l = e->element[1];
    if (err == FD_OK && l->type == REDIS_REPLY_ARRAY && l->elements > 0) {
        char **v = calloc(l->elements, sizeof *v);
        size_t m = 0;
        bool nomem = v == NULL;
        for (size_t i = 0; !nomem && i < l->elements; i++) {
            if (l->element[i]->type != REDIS_REPLY_STRING) continue;
            v[m] = strndup(l->element[i]->str, l->element[i]->len);
            nomem = v[m] == NULL;
            if (!nomem) m++;
        }
        if (nomem) {
            fd_webread_ids_free(v, m);
            fd_webhash_clear(out);
            err = FD_ERR_NOMEM;
        } else {
            *adj = v;
            *nadj = m;
        }
    }
    freeReplyObject(e);
    return err;
}

static int cmp_rank(const void *pa, const void *pb) {
    const fd_webrank_t *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return strcmp(a->id, b->id);
}

void fd_webranks_free(fd_webrank_t *rows, size_t n) {
    for (size_t i = 0; i < n && rows != NULL; i++) {
        free(rows[i].id);
        fd_webhash_clear(&rows[i].card);
    }
    free(rows);
}

fd_err_t fd_webread_ranking(fd_redis_t *r, const char *prefix, const char *period, fd_scope_t scope,
                            const char *team, size_t limit, fd_webrank_t **out, size_t *n,
                            size_t *total) {
    char kz[FD_KEY_MAX];
    if (scope == FD_SCOPE_TEAM)
        fd_keys_rank_teams(kz, sizeof kz, prefix, period);
    else if (team != NULL)
        fd_keys_rank_team(kz, sizeof kz, prefix, period, team);
    else
        fd_keys_rank_reps(kz, sizeof kz, prefix, period);
    const char *argv[] = {"ZRANGE", kz, "0", "-1", "WITHSCORES"};
    redisReply *q = NULL;
    *out = NULL;
    *n = 0;
    *total = 0;
    fd_err_t err = fd_redis_command(r, "read the ranking", 5, argv, NULL, &q);
    if (err != FD_OK) return err;
    if (q->type != REDIS_REPLY_ARRAY) return fd_redis_fail(r, "read the ranking", q);
    size_t m = q->elements / 2;
    fd_webrank_t *rows = calloc(m > 0 ? m : 1, sizeof *rows);
    if (rows == NULL) {
        freeReplyObject(q);
        return FD_ERR_NOMEM;
    }
    for (size_t i = 0; i < m; i++) {
        const redisReply *k = q->element[2 * i], *v = q->element[2 * i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        rows[*n].id = strndup(k->str, k->len);
        rows[*n].score = strtod(v->str, NULL);
        if (rows[*n].id == NULL) {
            freeReplyObject(q);
            fd_webranks_free(rows, *n);
            *n = 0;
            return FD_ERR_NOMEM;
        }
        (*n)++;
    }
    freeReplyObject(q);
    /* best first; ties by id, so that the order does not depend on Redis's */
    if (*n > 0) qsort(rows, *n, sizeof *rows, cmp_rank);
    *total = *n;
    for (size_t i = limit; i < *n; i++)
        free(rows[i].id);
    if (*n > limit) *n = limit;
    /* each entry's scorecard hash, in one MULTI/EXEC */
    size_t cnt = *n;
    int *ac = calloc(cnt > 0 ? cnt : 1, sizeof *ac);
    const char ***av = calloc(cnt > 0 ? cnt : 1, sizeof *av);
    char *keys = malloc((cnt > 0 ? cnt : 1) * FD_KEY_MAX);
    const char **cmds = calloc(2 * (cnt > 0 ? cnt : 1), sizeof *cmds);
    redisReply *e = NULL;
    err = FD_ERR_NOMEM;
    if (ac == NULL || av == NULL || keys == NULL || cmds == NULL) goto done;
    for (size_t i = 0; i < cnt; i++) {
        fd_keys_score(keys + i * FD_KEY_MAX, FD_KEY_MAX, prefix, scope, period, rows[i].id);
        cmds[2 * i] = "HGETALL";
        cmds[2 * i + 1] = keys + i * FD_KEY_MAX;
        ac[i] = 2;
        av[i] = &cmds[2 * i];
    }
    err = cnt > 0 ? transaction(r, "read the scorecards", cnt, ac, av, &e) : FD_OK;
    for (size_t i = 0; err == FD_OK && i < cnt; i++)
        err = to_hash(e->element[i], &rows[i].card);
done:
    if (e != NULL) freeReplyObject(e);
    free(ac);
    free(av);
    free(keys);
    free(cmds);
    if (err != FD_OK) {
        fd_webranks_free(rows, *n);
        *n = 0;
        *total = 0;
        return err;
    }
    *out = rows;
    return FD_OK;
}
