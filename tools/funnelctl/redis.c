// SPDX-License-Identifier: MIT
// funnelctl's reading of Redis: the connection of io/redis with funnelctl's own messages, the
// commands it runs (HGETALL, SCAN, pipelined HGETALLs) and the keys of io/keys (a tool).
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "io/current.h"
#include "io/keys.h"

/* The reason of the last failure of fd_redis_t without its framing: io/redis writes
 * "<what>: <hiredis's error> (<host:port>)" for a lost connection and "<what>: <Redis's error
 * reply>" for a refused set-up command; funnelctl prints the reason in its own sentences. */
static const char *reason_of(const ctl_t *ctl, const char *what, char *buf, size_t size) {
    const char *e = fd_redis_errstr(ctl->redis);
    size_t wl = strlen(what);
    if (strncmp(e, what, wl) == 0 && e[wl] == ':' && e[wl + 1] == ' ') e += wl + 2;
    snprintf(buf, size, "%s", e);
    char tail[320];
    snprintf(tail, sizeof tail, " (%s)", fd_redis_address(ctl->redis));
    size_t n = strlen(buf), tn = strlen(tail);
    if (n >= tn && strcmp(buf + n - tn, tail) == 0) buf[n - tn] = '\0';
    if (strcmp(buf, "no reply") == 0) snprintf(buf, size, "connection lost");
    return buf;
}

/* Whether the last failure lost the connection (rather than a refusal by an error reply). */
static bool connection_lost(const ctl_t *ctl) {
    char tail[320];
    snprintf(tail, sizeof tail, " (%s)", fd_redis_address(ctl->redis));
    const char *e = fd_redis_errstr(ctl->redis);
    size_t n = strlen(e), tn = strlen(tail);
    return n >= tn && strcmp(e + n - tn, tail) == 0;
}

/* The messages of a failed connect, as funnelctl has always written them: "cannot reach
 * Redis at <host:port>: <why>" when it cannot talk to Redis, "Redis at <host:port> refused AUTH
 * ..." and "Redis at <host:port>: SELECT <db> (redis.db): ..." when Redis says no. */
static fd_err_t connect_failed(ctl_t *ctl) {
    const fd_config_t *cfg = &ctl->cfg;
    const char *addr = fd_redis_address(ctl->redis);
    const char *e = fd_redis_errstr(ctl->redis);
    char what[600], reason[600];
    bool auth = strncmp(e, "AUTH ", 5) == 0, select = strncmp(e, "SELECT ", 7) == 0;
    if (auth || select) {
        /* io/redis's what: "AUTH ... on <host:port>", "SELECT <db> (redis.db) on <host:port>" */
        char on[320];
        snprintf(on, sizeof on, " on %s: ", addr);
        const char *end = strstr(e, on);
        snprintf(what, sizeof what, "%.*s", end ? (int)(end - e + strlen(on) - 2) : 0, e);
        reason_of(ctl, what, reason, sizeof reason);
        if (connection_lost(ctl))
            return ctl_fail(FD_ERR_REDIS, "cannot reach Redis at %s: %s", addr, reason);
        if (auth) {
            bool user = cfg->redis_user && cfg->redis_user[0];
            return ctl_fail(FD_ERR_REDIS, "Redis at %s refused AUTH%s%s%s: %s", addr,
                            user ? " as user '" : "", user ? cfg->redis_user : "",
                            user ? "'" : " (redis.password)", reason);
        }
        return ctl_fail(FD_ERR_REDIS, "Redis at %s: SELECT %" PRId64 " (redis.db): %s", addr,
                        cfg->redis_db, reason);
    }
    /* "connect <host:port>: <why>", "set command timeout: <why> (<host:port>)" */
    snprintf(what, sizeof what, "connect %s", addr);
    if (strncmp(e, what, strlen(what)) != 0) {
        const char *colon = strstr(e, ": ");
        snprintf(what, sizeof what, "%.*s", colon ? (int)(colon - e) : (int)strlen(e), e);
    }
    return ctl_fail(FD_ERR_REDIS, "cannot reach Redis at %s: %s", addr,
                    reason_of(ctl, what, reason, sizeof reason));
}

/* Once connected the first time: the active prefix <base>:current names becomes cfg.prefix
 * (redis.follow_current on), so that every command reads what readers read; ctl->base is set
 * once it has been read. */
static fd_err_t resolve_prefix(ctl_t *ctl) {
    if (ctl->base != NULL) return FD_OK;
    fd_config_t *cfg = &ctl->cfg;
    if (!fd_config_on(cfg->redis_follow_current)) {
        ctl->base = xstrdup(cfg->prefix);
        return FD_OK;
    }
    char active[FD_PREFIX_MAX];
    fd_err_t err = fd_current_read(ctl->redis, cfg->prefix, active);
    if (err != FD_OK && err != FD_ERR_PARSE) {
        /* An error reply (NOAUTH without redis.password...): the command's own reads report it
         * in their words; the pointer is read again at the next connect. */
        return fd_redis_connected(ctl->redis) ? FD_OK : FD_ERR_REDIS;
    }
    if (err == FD_ERR_PARSE)
        fprintf(stderr, "funnelctl: %s:%s does not name a valid prefix: reading %s\n", cfg->prefix,
                FD_KEY_CURRENT, cfg->prefix);
    ctl->base = cfg->prefix;
    cfg->prefix = xstrdup(active);
    return FD_OK;
}

fd_err_t redis_try_open(ctl_t *ctl) {
    fd_config_t *cfg = &ctl->cfg;
    if (ctl->redis == NULL) {
        fd_redis_opts_t opts = {.host = cfg->redis_host,
                                .port = (int)cfg->redis_port,
                                .user = cfg->redis_user,
                                .password = cfg->redis_password,
                                .db = (int)cfg->redis_db,
                                .timeout_ms = (int)cfg->redis_timeout_ms};
        if (fd_redis_new(&opts, &ctl->redis) != FD_OK)
            return ctl_fail(FD_ERR_NOMEM, "cannot reach Redis at %s:%" PRId64 ": out of memory",
                            cfg->redis_host, cfg->redis_port);
    }
    fd_err_t err = fd_redis_connect(ctl->redis);
    return err == FD_OK ? resolve_prefix(ctl) : err;
}

fd_err_t redis_report_connect(ctl_t *ctl) {
    return connect_failed(ctl);
}

fd_err_t redis_open(ctl_t *ctl) {
    fd_err_t err = redis_try_open(ctl);
    return err == FD_ERR_REDIS ? connect_failed(ctl) : err;
}

void redis_drop(ctl_t *ctl) {
    if (ctl->redis) fd_redis_disconnect(ctl->redis);
}

void redis_close(ctl_t *ctl) {
    fd_redis_destroy(ctl->redis);
    ctl->redis = NULL;
}

fd_err_t redis_lost(ctl_t *ctl, const char *what) {
    char reason[600];
    return ctl_fail(FD_ERR_REDIS, "Redis at %s: %s: %s", fd_redis_address(ctl->redis), what,
                    reason_of(ctl, what, reason, sizeof reason));
}

fd_err_t redis_check_reply(ctl_t *ctl, const char *what, redisReply *reply) {
    if (reply->type != REDIS_REPLY_ERROR) return FD_OK;
    ctl_fail(FD_ERR_REDIS, "Redis at %s: %s: %s%s", fd_redis_address(ctl->redis), what, reply->str,
             strncmp(reply->str, "NOAUTH", 6) == 0 ? " (set redis.password, and redis.user for an "
                                                     "ACL user)"
                                                   : "");
    freeReplyObject(reply);
    return FD_ERR_REDIS;
}

fd_err_t redis_run(ctl_t *ctl, const char *what, int argc, const char **argv, redisReply **out) {
    *out = NULL;
    redisReply *r = NULL;
    if (fd_redis_command(ctl->redis, what, argc, argv, NULL, &r) != FD_OK)
        return redis_lost(ctl, what);
    fd_err_t err = redis_check_reply(ctl, what, r);
    if (err == FD_OK) *out = r;
    return err;
}

fd_err_t redis_queue(ctl_t *ctl, const char *what, int argc, const char **argv) {
    if (fd_redis_append(ctl->redis, what, argc, argv, NULL) != FD_OK) return redis_lost(ctl, what);
    return FD_OK;
}

fd_err_t redis_next_reply(ctl_t *ctl, const char *what, redisReply **out) {
    return fd_redis_reply(ctl->redis, what, out);
}

fd_err_t redis_hgetall(ctl_t *ctl, const char *key, redisReply **out) {
    *out = NULL;
    const char *argv[] = {"HGETALL", key};
    char what[300];
    snprintf(what, sizeof what, "HGETALL %s", key);
    redisReply *r;
    fd_err_t err = redis_run(ctl, what, 2, argv, &r);
    if (err != FD_OK) return err;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        ctl_fail(FD_ERR_REDIS, "%s: unexpected reply type %d", what, r->type);
        freeReplyObject(r);
        return FD_ERR_REDIS;
    }
    if (r->elements == 0)
        freeReplyObject(r);
    else
        *out = r;
    return FD_OK;
}

const char *hget(const redisReply *h, const char *field) {
    if (h == NULL) return NULL;
    size_t len = strlen(field);
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i];
        if (f->len == len && memcmp(f->str, field, len) == 0) return h->element[i + 1]->str;
    }
    return NULL;
}

const char *hget_or(const redisReply *h, const char *field, const char *dflt) {
    const char *v = hget(h, field);
    return v ? v : dflt;
}

/* Escapes the glob characters of a SCAN MATCH pattern. */
static char *glob_escape(const char *s);

char *scan_pattern(const char *head) {
    char *esc = glob_escape(head);
    char *pattern = xasprintf("%s*", esc);
    free(esc);
    return pattern;
}

static char *glob_escape(const char *s) {
    char *out = xcalloc(2 * strlen(s) + 1, 1), *o = out;
    for (; *s; s++) {
        if (strchr("*?[]\\", *s)) *o++ = '\\';
        *o++ = *s;
    }
    return out;
}

fd_err_t redis_scan(ctl_t *ctl, const char *head, redis_key_fn fn, void *arg) {
    char *pattern = scan_pattern(head);
    char cursor[32] = "0", what[300];
    snprintf(what, sizeof what, "SCAN MATCH %s", pattern);
    fd_err_t err = FD_OK;
    do {
        const char *argv[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        redisReply *r;
        if ((err = redis_run(ctl, what, 6, argv, &r)) != FD_OK) break;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            err = ctl_fail(FD_ERR_REDIS, "%s: unexpected reply", what);
            freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements && err == FD_OK; i++)
            err = fn(keys->element[i]->str, keys->element[i]->len, arg);
        freeReplyObject(r);
    } while (err == FD_OK && strcmp(cursor, "0") != 0);
    free(pattern);
    return err;
}

typedef struct {
    const char *head;
    size_t head_len;
    strvec_t *ids;
} id_scan_t;

static fd_err_t take_id(const char *key, size_t len, void *arg) {
    id_scan_t *is = arg;
    if (len > is->head_len && memcmp(key, is->head, is->head_len) == 0)
        strvec_push(is->ids, xstrdup(key + is->head_len));
    return FD_OK;
}

/* SCAN MATCH <p>:<scope>:<window>:*, the key's rest after that prefix (SCAN may return a key
 * twice: each once). */
fd_err_t redis_list_ids(ctl_t *ctl, fd_scope_t scope, const char *window, strvec_t *ids) {
    size_t head_len = fd_keys_metric_scan(NULL, 0, ctl->cfg.prefix, scope, window);
    char *head = xcalloc(head_len + 1, 1);
    fd_keys_metric_scan(head, head_len + 1, ctl->cfg.prefix, scope, window);
    id_scan_t is = {head, head_len, ids};
    fd_err_t err = redis_scan(ctl, head, take_id, &is);
    free(head);
    if (err != FD_OK) return err;
    strvec_sort(ids);
    size_t w = 0;
    for (size_t i = 0; i < ids->n; i++) {
        if (w > 0 && strcmp(ids->item[w - 1], ids->item[i]) == 0)
            free(ids->item[i]);
        else
            ids->item[w++] = ids->item[i];
    }
    ids->n = w;
    return FD_OK;
}

char *key_metric(const ctl_t *ctl, fd_scope_t scope, const char *window, const char *id) {
    size_t n = fd_keys_metric(NULL, 0, ctl->cfg.prefix, scope, window, id);
    char *key = xcalloc(n + 1, 1);
    fd_keys_metric(key, n + 1, ctl->cfg.prefix, scope, window, id);
    return key;
}

char *key_single(const ctl_t *ctl, const char *name) {
    size_t n = fd_keys_single(NULL, 0, ctl->cfg.prefix, name);
    char *key = xcalloc(n + 1, 1);
    fd_keys_single(key, n + 1, ctl->cfg.prefix, name);
    return key;
}

char *key_part(const ctl_t *ctl, const char *topic, int32_t partition) {
    size_t n = fd_keys_part(NULL, 0, ctl->cfg.prefix, topic, partition);
    char *key = xcalloc(n + 1, 1);
    fd_keys_part(key, n + 1, ctl->cfg.prefix, topic, partition);
    return key;
}

char *key_metric_suffix(fd_scope_t scope, const char *window, const char *id) {
    size_t n = fd_keys_metric_suffix(NULL, 0, scope, window, id);
    char *key = xcalloc(n + 1, 1);
    fd_keys_metric_suffix(key, n + 1, scope, window, id);
    return key;
}
