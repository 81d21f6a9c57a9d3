// SPDX-License-Identifier: MIT
// A lease in Redis (layer 4).
#include "io/lease.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "io/keys.h"
#include "lua/scripts.h"

struct fd_lease {
    fd_redis_t *redis;
    int script;
    char key[FD_KEY_MAX];
    char token[160];
    char ms[24];
};

fd_err_t fd_lease_new(fd_redis_t *redis, const char *prefix, const char *name, const char *instance,
                      int64_t lease_ms, fd_lease_t **out) {
    *out = NULL;
    fd_lease_t *l = calloc(1, sizeof *l);
    if (l == NULL) return FD_ERR_NOMEM;
    l->redis = redis;
    fd_err_t err = fd_redis_script(redis, "lease", fd_lua_lease, &l->script);
    if (err) {
        free(l);
        return err;
    }
    fd_keys_single(l->key, sizeof l->key, prefix, name);
    unsigned char raw[8] = {0};
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) ^
                     ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)(x >> (8 * i));
    }
    snprintf(l->token, sizeof l->token, "%.100s:%02x%02x%02x%02x%02x%02x%02x%02x", instance, raw[0],
             raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7]);
    snprintf(l->ms, sizeof l->ms, "%" PRId64, lease_ms);
    *out = l;
    return FD_OK;
}

void fd_lease_destroy(fd_lease_t *l) {
    free(l);
}

fd_err_t fd_lease_renew(fd_lease_t *l, bool *held) {
    *held = false;
    const char *keys[] = {l->key};
    const char *args[] = {l->token, l->ms};
    redisReply *r = NULL;
    fd_err_t err = fd_redis_eval(l->redis, l->script, 1, keys, NULL, 2, args, NULL, &r);
    if (err) return err;
    if (r->type == REDIS_REPLY_ERROR) return fd_redis_fail(l->redis, l->key, r);
    *held = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return FD_OK;
}

fd_err_t fd_lease_release(fd_lease_t *l) {
    const char *keys[] = {l->key};
    const char *args[] = {l->token, "0"};
    redisReply *r = NULL;
    fd_err_t err = fd_redis_eval(l->redis, l->script, 1, keys, NULL, 2, args, NULL, &r);
    if (err) return err;
    if (r->type == REDIS_REPLY_ERROR) return fd_redis_fail(l->redis, l->key, r);
    freeReplyObject(r);
    return FD_OK;
}

const char *fd_lease_token(const fd_lease_t *l) {
    return l->token;
}
