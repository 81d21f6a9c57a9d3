// SPDX-License-Identifier: MIT
// funnel-gen's throttle (--throttle-redis): keeps at most --max-lag events produced but not yet
// applied by funneld, reading the consumer's progress from Redis (the `next` field of
// <prefix>:part:<topic>:<p>, docs/redis.md) over io/redis, logged in with funneld's
// FUNNELD_REDIS_USER / FUNNELD_REDIS_PASSWORD (tool, outside the layers).
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "io/keys.h"

#define THROTTLE_TIMEOUT_MS 2000

fd_err_t throttle_init(gen_t *g) {
    throttle_t *t = &g->throttle;
    const char *s = g->o.throttle;
    const char *colon = strrchr(s, ':');
    const char *slash = colon ? strchr(colon, '/') : NULL;
    char host[256], portbuf[16];
    long long port;
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host) goto bad;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    size_t plen = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
    if (plen == 0 || plen >= sizeof portbuf) goto bad;
    memcpy(portbuf, colon + 1, plen);
    portbuf[plen] = '\0';
    if (parse_ll("--throttle-redis port", portbuf, 1, 65535, &port) != FD_OK) return FD_ERR_INVAL;
    snprintf(t->prefix, sizeof t->prefix, "%s", slash && slash[1] ? slash + 1 : "funnel");
    /* funneld's variables log in when the password is set (the user alone changes nothing) */
    const fd_redis_opts_t opts = {.host = host,
                                  .port = (int)port,
                                  .user = getenv("FUNNELD_REDIS_USER"),
                                  .password = getenv("FUNNELD_REDIS_PASSWORD"),
                                  .timeout_ms = THROTTLE_TIMEOUT_MS};
    if (fd_redis_new(&opts, &t->redis) != FD_OK) out_of_memory();
    return FD_OK;
bad:
    fprintf(stderr, PROG ": --throttle-redis: expected HOST:PORT[/PREFIX], got '%s'\n", s);
    return FD_ERR_INVAL;
}

void throttle_clear(gen_t *g) {
    fd_redis_destroy(g->throttle.redis);
    g->throttle.redis = NULL;
}

/* One complaint about an unreachable Redis per 5 s. */
static bool may_complain(throttle_t *t) {
    double now = mono_s();
    if (now - t->complained_at < 5.0) return false;
    t->complained_at = now;
    return true;
}

/* The reason in io/redis's error text, after "<what> ... <host:port>: " ("Connection refused",
 * "WRONGPASS invalid username-password pair..."): the messages name the address once. */
static const char *reason(const fd_redis_t *r) {
    const char *e = fd_redis_errstr(r), *at = strstr(e, fd_redis_address(r));
    if (at == NULL) return e;
    at += strlen(fd_redis_address(r));
    return strncmp(at, ": ", 2) == 0 ? at + 2 : e;
}

/* Connects (and logs in) unless connected. FD_ERR_CONFIG when Redis refuses the login (said:
 * fatal); FD_ERR_REDIS when it cannot be reached now (said at most once per 5 s) or answers
 * AUTH with a transient error (connect again later). */
static fd_err_t connect_redis(gen_t *g) {
    throttle_t *t = &g->throttle;
    if (fd_redis_connected(t->redis)) return FD_OK;
    if (fd_redis_connect(t->redis) == FD_OK) return FD_OK;
    if (fd_redis_refused(t->redis)) {
        const char *user = getenv("FUNNELD_REDIS_USER");
        fprintf(stderr, PROG ": throttle: redis %s refused AUTH (FUNNELD_REDIS_PASSWORD%s): %s\n",
                fd_redis_address(t->redis),
                user != NULL && user[0] != '\0' ? ", FUNNELD_REDIS_USER" : "", reason(t->redis));
        g->kafka.fatal = true;
        return FD_ERR_CONFIG;
    }
    /* a transient answer to AUTH (LOADING, BUSY...) is retried quietly */
    if (strncmp(fd_redis_errstr(t->redis), "connect ", 8) == 0 && may_complain(t))
        fprintf(stderr, PROG ": throttle: cannot connect to redis %s: %s\n",
                fd_redis_address(t->redis), reason(t->redis));
    return FD_ERR_REDIS;
}

fd_err_t throttle_read(gen_t *g) {
    throttle_t *t = &g->throttle;
    int nparts = g->kafka.nparts;
    fd_err_t err = connect_redis(g);
    if (err != FD_OK) return err;
    /* One pipelined round trip: HGET of every partition, then the answers in order. */
    redisContext *c = fd_redis_context(t->redis);
    char key[FD_KEY_MAX];
    for (int p = 0; p < nparts; p++) {
        fd_keys_part(key, sizeof key, t->prefix, g->o.topic, p);
        const char *argv[] = {"HGET", key, "next"};
        redisAppendCommandArgv(c, 3, argv, NULL);
    }
    fd_err_t rc = FD_OK;
    for (int p = 0; p < nparts; p++) {
        redisReply *reply = NULL;
        fd_keys_part(key, sizeof key, t->prefix, g->o.topic, p);
        if (redisGetReply(c, (void **)&reply) != REDIS_OK || reply == NULL) {
            if (may_complain(t))
                fprintf(stderr, PROG ": throttle: redis %s: %s\n", fd_redis_address(t->redis),
                        c->errstr);
            return fd_redis_fail(t->redis, "HGET", NULL); /* connected again next time */
        }
        if (reply->type == REDIS_REPLY_ERROR && fd_redis_is_refusal(reply->str)) {
            if (rc != FD_ERR_CONFIG)
                fprintf(stderr,
                        PROG ": throttle: HGET %s next: %s (funneld's variables "
                             "FUNNELD_REDIS_PASSWORD and FUNNELD_REDIS_USER log in)\n",
                        key, reply->str);
            g->kafka.fatal = true;
            rc = FD_ERR_CONFIG;
        } else if (reply->type == REDIS_REPLY_STRING) {
            t->consumed[p] = strtoll(reply->str, NULL, 10);
        } else if (reply->type == REDIS_REPLY_NIL) {
            t->consumed[p] = 0; /* funneld has not applied anything of this partition yet */
        } else {
            if (may_complain(t))
                fprintf(stderr, PROG ": throttle: HGET %s next: unexpected reply%s%s\n", key,
                        reply->type == REDIS_REPLY_ERROR ? ": " : "",
                        reply->type == REDIS_REPLY_ERROR ? reply->str : "");
            if (rc == FD_OK) rc = FD_ERR_REDIS;
        }
        freeReplyObject(reply);
    }
    return rc;
}

/* Those not yet delivered, plus, per partition, the delivered end minus the consumer's next
 * offset. */
int64_t throttle_lag(const gen_t *g) {
    const producer_t *k = &g->kafka;
    int64_t lag = k->produced - k->delivered - k->failed;
    for (int p = 0; p < k->nparts; p++)
        if (k->next[p] > g->throttle.consumed[p]) lag += k->next[p] - g->throttle.consumed[p];
    return lag;
}

void throttle_wait(gen_t *g) {
    double since = mono_s(), noted = since;
    while (!g->stop && !gen_signalled) {
        fd_err_t err = throttle_read(g);
        if (err == FD_ERR_CONFIG) return; /* refused: g->kafka.fatal ends the run */
        if (err == FD_OK && throttle_lag(g) <= g->o.max_lag) return;
        producer_poll(g, err == FD_OK ? 20 : 500); /* Redis down: retry twice a second */
        double now = mono_s();
        if (now - noted >= 5.0) {
            fprintf(stderr,
                    PROG ": throttle: waiting %.0f s for the consumer, lag %" PRId64 " > %lld\n",
                    now - since, throttle_lag(g), g->o.max_lag);
            noted = now;
        }
    }
}
