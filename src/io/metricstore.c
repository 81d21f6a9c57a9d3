// SPDX-License-Identifier: MIT
// The metrics publisher's Redis side (layer 4).
#include "io/metricstore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/keys.h"
#include "lua/scripts.h"

#define SSCAN_COUNT "256"  /* keys per chunk of a round */
#define SCAN_COUNT  "1000" /* keys looked at per chunk of a snapshot */

struct fd_metricstore {
    fd_redis_t *r;
    char prefix[FD_KEY_MAX];
    size_t plen; /* strlen("<p>:") */
    char lease[FD_KEY_MAX], pub[FD_KEY_MAX], dirty[FD_KEY_MAX], taken[FD_KEY_MAX];
    char changes[FD_KEY_MAX], parts[FD_KEY_MAX];
    int take_id, read_id, done_id;
    /* what the last keys / read call lends */
    redisReply *keys_reply, *read_reply;
    const char **keys;
    size_t keys_cap;
    fd_metricstore_row_t *rows;
    size_t rows_cap;
    const char **strs; /* field and value pointers of the rows, then the read's key vector */
    size_t strs_cap;
    fd_metricrow_source_t *src;
    size_t src_cap;
    char *topics; /* the source topics, NUL-terminated copies */
    size_t topics_cap;
    char *keybuf; /* the full keys of a read */
    size_t keybuf_cap;
};

/* Grows *buf to hold n elements of size each. */
static bool reserve(void *buf, size_t *cap, size_t n, size_t size) {
    if (n <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < n)
        c *= 2;
    void *p = realloc(*(void **)buf, c * size);
    if (p == NULL) return false;
    *(void **)buf = p;
    *cap = c;
    return true;
}

fd_err_t fd_metricstore_new(fd_redis_t *redis, const char *prefix, fd_metricstore_t **out) {
    *out = NULL;
    if (strlen(prefix) > 64) return FD_ERR_RANGE;
    fd_metricstore_t *ms = calloc(1, sizeof *ms);
    if (ms == NULL) return FD_ERR_NOMEM;
    ms->r = redis;
    snprintf(ms->prefix, sizeof ms->prefix, "%s", prefix);
    ms->plen = strlen(prefix) + 1;
    fd_keys_single(ms->lease, sizeof ms->lease, prefix, FD_KEY_METRICS_LEASE);
    fd_keys_single(ms->pub, sizeof ms->pub, prefix, FD_KEY_METRICS_PUB);
    fd_keys_single(ms->dirty, sizeof ms->dirty, prefix, FD_KEY_METRICS_DIRTY);
    fd_keys_single(ms->taken, sizeof ms->taken, prefix, FD_KEY_METRICS_TAKEN);
    fd_keys_single(ms->changes, sizeof ms->changes, prefix, FD_KEY_CHANGES);
    fd_keys_single(ms->parts, sizeof ms->parts, prefix, FD_KEY_PARTS);
    fd_err_t err = fd_redis_script(redis, "metrics_take", fd_lua_metrics_take, &ms->take_id);
    if (err == FD_OK)
        err = fd_redis_script(redis, "metrics_read", fd_lua_metrics_read, &ms->read_id);
    if (err == FD_OK)
        err = fd_redis_script(redis, "metrics_done", fd_lua_metrics_done, &ms->done_id);
    if (err != FD_OK) {
        fd_metricstore_destroy(ms);
        return err;
    }
    *out = ms;
    return FD_OK;
}

void fd_metricstore_destroy(fd_metricstore_t *ms) {
    if (ms == NULL) return;
    if (ms->keys_reply) freeReplyObject(ms->keys_reply);
    if (ms->read_reply) freeReplyObject(ms->read_reply);
    free(ms->keys);
    free(ms->rows);
    free(ms->strs);
    free(ms->src);
    free(ms->topics);
    free(ms->keybuf);
    free(ms);
}

/* An answer of the wrong shape: the connection's state is unknown, drop it. */
static fd_err_t bad_reply(fd_metricstore_t *ms, const char *what, redisReply *r) {
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        fd_redis_set_error(ms->r, "%s: %s", what, r->str);
        bool wrongtype = strstr(r->str, "WRONGTYPE") != NULL;
        freeReplyObject(r);
        return wrongtype ? FD_ERR_PARSE : FD_ERR_REDIS;
    }
    return fd_redis_fail(ms->r, what, r);
}

static bool is_str(const redisReply *r) {
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

fd_err_t fd_metricstore_take(fd_metricstore_t *ms, const char *token, fd_metricstore_round_t *out) {
    const char *keys[5] = {ms->lease, ms->pub, ms->dirty, ms->taken, ms->changes};
    redisReply *r = NULL;
    fd_err_t err = fd_redis_eval(ms->r, ms->take_id, 5, keys, NULL, 1, &token, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && is_str(r->element[0]) &&
        strcmp(r->element[0]->str, "FENCED") == 0) {
        freeReplyObject(r);
        return FD_ERR_FENCED;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 || !is_str(r->element[0]) ||
        !is_str(r->element[1]) || !is_str(r->element[2]) ||
        r->element[2]->len >= sizeof out->position || r->element[3]->type != REDIS_REPLY_INTEGER)
        return bad_reply(ms, "metrics round (take)", r);
    static const char *const modes[] = {"none", "dirty", "resume", "snapshot"};
    out->mode = FD_METRICSTORE_NONE;
    for (int m = 0; m < 4; m++)
        if (strcmp(r->element[0]->str, modes[m]) == 0) out->mode = (fd_metricstore_mode_t)m;
    out->version = strtoll(r->element[1]->str, NULL, 10);
    memcpy(out->position, r->element[2]->str, r->element[2]->len + 1);
    out->taken = r->element[3]->integer;
    freeReplyObject(r);
    return FD_OK;
}

fd_err_t fd_metricstore_keys(fd_metricstore_t *ms, bool snapshot, uint64_t *cursor,
                             const char *const **keys, size_t *n, bool *done) {
    *n = 0;
    *done = false;
    if (ms->keys_reply) freeReplyObject(ms->keys_reply);
    ms->keys_reply = NULL;
    char cur[24], match[FD_KEY_MAX + 2];
    snprintf(cur, sizeof cur, "%" PRIu64, *cursor);
    snprintf(match, sizeof match, "%s:*", ms->prefix);
    const char *sscan[] = {"SSCAN", ms->taken, cur, "COUNT", SSCAN_COUNT};
    const char *scan[] = {"SCAN", cur, "MATCH", match, "COUNT", SCAN_COUNT, "TYPE", "hash"};
    redisReply *r = NULL;
    fd_err_t err = snapshot ? fd_redis_command(ms->r, "metrics snapshot (SCAN)", 8, scan, NULL, &r)
                            : fd_redis_command(ms->r, "metrics round (SSCAN)", 5, sscan, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !is_str(r->element[0]) ||
        r->element[1]->type != REDIS_REPLY_ARRAY)
        return bad_reply(ms, snapshot ? "metrics snapshot (SCAN)" : "metrics round (SSCAN)", r);
    const redisReply *list = r->element[1];
    if (!reserve(&ms->keys, &ms->keys_cap, list->elements + 1, sizeof *ms->keys)) {
        freeReplyObject(r);
        return FD_ERR_NOMEM;
    }
    for (size_t i = 0; i < list->elements; i++) {
        const redisReply *k = list->element[i];
        if (k->type != REDIS_REPLY_STRING) {
            *n = 0;
            return bad_reply(ms, "metrics round (keys)", r);
        }
        const char *s = k->str;
        if (snapshot) {
            /* keep <p>:rep:..., <p>:team:..., <p>:org:... (the prefix holds no ':') */
            if (k->len <= ms->plen) continue;
            s += ms->plen;
            if (strncmp(s, "rep:", 4) != 0 && strncmp(s, "team:", 5) != 0 &&
                strncmp(s, "org:", 4) != 0)
                continue;
        }
        ms->keys[(*n)++] = s;
    }
    *cursor = strtoull(r->element[0]->str, NULL, 10);
    *done = *cursor == 0;
    ms->keys_reply = r;
    *keys = ms->keys;
    return FD_OK;
}

/* "<p>:part:<topic>:<partition>" and its next offset into *src; the topic is copied to
 * ms->topics (reserved) at *at. FD_ERR_PARSE when the key is not a part key. */
static fd_err_t part_source(fd_metricstore_t *ms, const redisReply *key, const redisReply *next,
                            size_t *at, fd_metricrow_source_t *src) {
    const char *s = key->str + ms->plen;
    if (key->len <= ms->plen + 5 || strncmp(s, "part:", 5) != 0) return FD_ERR_PARSE;
    s += 5;
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0') return FD_ERR_PARSE;
    char *pend = NULL, *nend = NULL;
    long long p = strtoll(colon + 1, &pend, 10), nx = strtoll(next->str, &nend, 10);
    if (p < 0 || p > INT32_MAX || *pend != '\0' || nx < 0 || *nend != '\0') return FD_ERR_PARSE;
    size_t tlen = (size_t)(colon - s);
    memcpy(ms->topics + *at, s, tlen);
    ms->topics[*at + tlen] = '\0';
    src->topic = ms->topics + *at;
    src->partition = (int32_t)p;
    src->next = nx;
    *at += tlen + 1;
    return FD_OK;
}

/* Sources by topic, then partition: a row lists them in that order. */
static int by_partition(const void *a, const void *b) {
    const fd_metricrow_source_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c != 0) return c;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

fd_err_t fd_metricstore_read(fd_metricstore_t *ms, const char *token, const char *const *keys,
                             size_t n, const fd_metricstore_row_t **rows,
                             const fd_metricrow_source_t **src, size_t *nsrc) {
    *nsrc = 0;
    if (ms->read_reply) freeReplyObject(ms->read_reply);
    ms->read_reply = NULL;
    if (n + 1 > INT32_MAX / 2) return FD_ERR_RANGE;
    /* the full keys: the lease, the parts set, then "<p>:" + each suffix */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += ms->plen + strlen(keys[i]) + 1;
    if (!reserve(&ms->keybuf, &ms->keybuf_cap, total + 1, 1) ||
        !reserve(&ms->strs, &ms->strs_cap, n + 2, sizeof *ms->strs))
        return FD_ERR_NOMEM;
    size_t at = 0;
    ms->strs[0] = ms->lease;
    ms->strs[1] = ms->parts;
    for (size_t i = 0; i < n; i++) {
        size_t len = ms->plen + strlen(keys[i]);
        if (len > FD_KEY_MAX) {
            fd_redis_set_error(ms->r, "metrics read: key '%s' too long", keys[i]);
            return FD_ERR_RANGE;
        }
        memcpy(ms->keybuf + at, ms->prefix, ms->plen - 1);
        ms->keybuf[at + ms->plen - 1] = ':';
        memcpy(ms->keybuf + at + ms->plen, keys[i], len - ms->plen + 1);
        at += len + 1;
    }
    at = 0;
    for (size_t i = 0; i < n; i++) {
        ms->strs[i + 2] = ms->keybuf + at;
        at += strlen(ms->keybuf + at) + 1;
    }
    redisReply *r = NULL;
    fd_err_t err =
        fd_redis_eval(ms->r, ms->read_id, (int)(n + 2), ms->strs, NULL, 1, &token, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && is_str(r->element[0]) &&
        strcmp(r->element[0]->str, "FENCED") == 0) {
        freeReplyObject(r);
        return FD_ERR_FENCED;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n + 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements % 2 != 0)
        return bad_reply(ms, "metrics read", r);
    size_t nstr = 0, topics = 0;
    for (size_t i = 1; i <= n; i++) {
        const redisReply *h = r->element[i];
        if (h->type != REDIS_REPLY_ARRAY || h->elements % 2 != 0)
            return bad_reply(ms, "metrics read (row)", r);
        for (size_t j = 0; j < h->elements; j++)
            if (h->element[j]->type != REDIS_REPLY_STRING)
                return bad_reply(ms, "metrics read (field)", r);
        nstr += h->elements;
    }
    const redisReply *parts = r->element[0];
    for (size_t j = 0; j < parts->elements; j++) {
        if (parts->element[j]->type != REDIS_REPLY_STRING)
            return bad_reply(ms, "metrics read (parts)", r);
        if (j % 2 == 0) topics += parts->element[j]->len + 1;
    }
    if (!reserve(&ms->rows, &ms->rows_cap, n + 1, sizeof *ms->rows) ||
        !reserve(&ms->strs, &ms->strs_cap, nstr + 1, sizeof *ms->strs) ||
        !reserve(&ms->src, &ms->src_cap, parts->elements / 2 + 1, sizeof *ms->src) ||
        !reserve(&ms->topics, &ms->topics_cap, topics + 1, 1)) {
        freeReplyObject(r);
        return FD_ERR_NOMEM;
    }
    size_t tat = 0;
    for (size_t j = 0; j + 1 < parts->elements; j += 2) {
        if (parts->element[j + 1]->len == 0) continue; /* claimed, nothing applied yet */
        if (part_source(ms, parts->element[j], parts->element[j + 1], &tat, &ms->src[*nsrc]) !=
            FD_OK) {
            fd_redis_set_error(ms->r, "metrics read: '%s' = '%s' is not a part key and offset",
                               parts->element[j]->str, parts->element[j + 1]->str);
            freeReplyObject(r);
            *nsrc = 0;
            return FD_ERR_PARSE;
        }
        (*nsrc)++;
    }
    qsort(ms->src, *nsrc, sizeof *ms->src, by_partition);
    size_t s = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *h = r->element[i + 1];
        size_t nf = h->elements / 2;
        /* fields at strs[s .. s + nf), values at strs[s + nf .. s + 2 nf) */
        for (size_t j = 0; j < nf; j++) {
            ms->strs[s + j] = h->element[2 * j]->str;
            ms->strs[s + nf + j] = h->element[2 * j + 1]->str;
        }
        ms->rows[i] = (fd_metricstore_row_t){
            .key = keys[i], .fields = ms->strs + s, .values = ms->strs + s + nf, .nfields = nf};
        s += 2 * nf;
    }
    ms->read_reply = r;
    *rows = ms->rows;
    *src = ms->src;
    return FD_OK;
}

fd_err_t fd_metricstore_done(fd_metricstore_t *ms, const char *token,
                             const fd_metricstore_round_t *round, int64_t published, int64_t now_ms,
                             bool *held) {
    *held = false;
    char count[24], now[24];
    snprintf(count, sizeof count, "%" PRId64, published);
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    const char *keys[3] = {ms->lease, ms->pub, ms->taken};
    const char *args[5] = {token, round->position, count,
                           round->mode == FD_METRICSTORE_SNAPSHOT ? "1" : "0", now};
    redisReply *r = NULL;
    fd_err_t err = fd_redis_eval(ms->r, ms->done_id, 3, keys, NULL, 5, args, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type != REDIS_REPLY_INTEGER) return bad_reply(ms, "metrics round (done)", r);
    *held = r->integer == 1;
    freeReplyObject(r);
    return FD_OK;
}
