// SPDX-License-Identifier: MIT
// The active-prefix pointer <base>:current: read, validated, written, and watched for funneld
// (layer 4). See current.h; docs/redis.md "<p>:current", docs/operations.md "Rebuilding".
#include "io/current.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/keys.h"

struct fd_current {
    fd_redis_t *r;
    char base[FD_PREFIX_MAX];
    char in_use[FD_PREFIX_MAX];
    char seen[FD_PREFIX_MAX]; /* the last valid prefix read */
    bool pending;             /* seen differs from in_use */
    bool read_once;
    int64_t last_read_ms;
};

bool fd_current_is_prefix(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= FD_PREFIX_MAX) return false;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok) return false;
    }
    return true;
}

fd_err_t fd_current_read(fd_redis_t *r, const char *base, char active[FD_PREFIX_MAX]) {
    char key[FD_KEY_MAX];
    fd_keys_single(key, sizeof key, base, FD_KEY_CURRENT);
    const char *argv[] = {"GET", key};
    char what[FD_KEY_MAX + 8];
    snprintf(what, sizeof what, "GET %s", key);
    redisReply *rep = NULL;
    if (fd_redis_command(r, what, 2, argv, NULL, &rep) != FD_OK) return FD_ERR_REDIS;
    fd_err_t err = FD_OK;
    if (rep->type == REDIS_REPLY_ERROR) {
        fd_redis_set_error(r, "GET %s: %s", key, rep->str);
        err = fd_redis_is_refusal(rep->str) ? FD_ERR_CONFIG : FD_ERR_REDIS;
        freeReplyObject(rep);
        return err;
    }
    if (rep->type == REDIS_REPLY_NIL) {
        snprintf(active, FD_PREFIX_MAX, "%s", base);
    } else if (rep->type == REDIS_REPLY_STRING && rep->len == strlen(rep->str) &&
               fd_current_is_prefix(rep->str)) {
        snprintf(active, FD_PREFIX_MAX, "%s", rep->str);
    } else {
        snprintf(active, FD_PREFIX_MAX, "%s", base);
        err = FD_ERR_PARSE;
    }
    freeReplyObject(rep);
    return err;
}

fd_err_t fd_current_write(fd_redis_t *r, const char *base, const char *prefix) {
    if (!fd_current_is_prefix(prefix)) return FD_ERR_INVAL;
    char key[FD_KEY_MAX];
    fd_keys_single(key, sizeof key, base, FD_KEY_CURRENT);
    const char *argv[] = {"SET", key, prefix};
    char what[FD_KEY_MAX + 8];
    snprintf(what, sizeof what, "SET %s", key);
    redisReply *rep = NULL;
    if (fd_redis_command(r, what, 3, argv, NULL, &rep) != FD_OK) return FD_ERR_REDIS;
    fd_err_t err = FD_OK;
    if (rep->type == REDIS_REPLY_ERROR) {
        fd_redis_set_error(r, "SET %s: %s", key, rep->str);
        err = FD_ERR_REDIS;
    }
    freeReplyObject(rep);
    return err;
}

fd_err_t fd_current_new(const fd_redis_opts_t *opts, const char *base, fd_current_t **out) {
    *out = NULL;
    if (!fd_current_is_prefix(base)) return FD_ERR_INVAL;
    fd_current_t *c = calloc(1, sizeof *c);
    if (c == NULL) return FD_ERR_NOMEM;
    if (fd_redis_new(opts, &c->r) != FD_OK) {
        free(c);
        return FD_ERR_NOMEM;
    }
    snprintf(c->base, sizeof c->base, "%s", base);
    snprintf(c->in_use, sizeof c->in_use, "%s", base);
    snprintf(c->seen, sizeof c->seen, "%s", base);
    *out = c;
    return FD_OK;
}

void fd_current_destroy(fd_current_t *c) {
    if (c == NULL) return;
    fd_redis_destroy(c->r);
    free(c);
}

fd_err_t fd_current_resolve(fd_current_t *c, const char **active) {
    char got[FD_PREFIX_MAX];
    fd_err_t err = fd_current_read(c->r, c->base, got);
    if (err != FD_OK && err != FD_ERR_PARSE) return err;
    memcpy(c->in_use, got, sizeof got);
    memcpy(c->seen, got, sizeof got);
    c->pending = false;
    *active = c->in_use;
    return err;
}

bool fd_current_moved(fd_current_t *c, int64_t now_ms, int64_t interval_ms, const char **to) {
    if (c->pending) {
        *to = c->seen;
        return true;
    }
    if (c->read_once && now_ms - c->last_read_ms < interval_ms) return false;
    c->read_once = true;
    c->last_read_ms = now_ms;
    char got[FD_PREFIX_MAX];
    if (fd_current_read(c->r, c->base, got) != FD_OK) return false;
    if (strcmp(got, c->in_use) == 0) return false;
    memcpy(c->seen, got, sizeof got);
    c->pending = true;
    *to = c->seen;
    return true;
}

const char *fd_current_pending(const fd_current_t *c) {
    return c->pending ? c->seen : NULL;
}

void fd_current_adopt(fd_current_t *c) {
    if (!c->pending) return;
    memcpy(c->in_use, c->seen, sizeof c->seen);
    c->pending = false;
}

const char *fd_current_base(const fd_current_t *c) {
    return c->base;
}

const char *fd_current_in_use(const fd_current_t *c) {
    return c->in_use;
}

const char *fd_current_errstr(const fd_current_t *c) {
    return fd_redis_errstr(c->r);
}

bool fd_current_refused(const fd_current_t *c) {
    return fd_redis_refused(c->r);
}
