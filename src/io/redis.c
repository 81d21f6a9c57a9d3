// SPDX-License-Identifier: MIT
// The one Redis connection: connect, AUTH, SELECT, timeouts, refusals, scripts (layer 4).
#include "io/redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define MAX_SCRIPTS 16
#define ERRSTR_MAX  512

typedef struct {
    const char *name;
    const char *source;
    char sha[FD_REDIS_SHA_LEN + 1];
} script_t;

struct fd_redis {
    char *host, *user, *password;
    int port, db, timeout_ms;
    char address[300];
    redisContext *c; /* NULL while disconnected */
    script_t scripts[MAX_SCRIPTS];
    int nscripts;
    bool refused; /* the last connect failed on a refusal, not a transient error */
    char errstr[ERRSTR_MAX];
};

void fd_redis_set_error(fd_redis_t *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr, sizeof r->errstr, fmt, ap);
    va_end(ap);
}

static char *dup_or_empty(const char *s) {
    return strdup(s != NULL ? s : "");
}

fd_err_t fd_redis_new(const fd_redis_opts_t *opts, fd_redis_t **out) {
    *out = NULL;
    fd_redis_t *r = calloc(1, sizeof *r);
    if (r == NULL) return FD_ERR_NOMEM;
    r->host = dup_or_empty(opts->host);
    r->user = dup_or_empty(opts->user);
    r->password = dup_or_empty(opts->password);
    if (r->host == NULL || r->user == NULL || r->password == NULL) {
        fd_redis_destroy(r);
        return FD_ERR_NOMEM;
    }
    r->port = opts->port;
    r->db = opts->db;
    r->timeout_ms = opts->timeout_ms;
    snprintf(r->address, sizeof r->address, "%s:%d", r->host, r->port);
    *out = r;
    return FD_OK;
}

void fd_redis_destroy(fd_redis_t *r) {
    if (r == NULL) return;
    fd_redis_disconnect(r);
    free(r->host);
    free(r->user);
    if (r->password != NULL) {
        /* a secret: do not leave it in freed memory */
        volatile char *p = r->password;
        while (*p != '\0')
            *p++ = '\0';
        free(r->password);
    }
    free(r);
}

fd_err_t fd_redis_script(fd_redis_t *r, const char *name, const char *source, int *id) {
    if (r->nscripts == MAX_SCRIPTS) return FD_ERR_FULL;
    r->scripts[r->nscripts] = (script_t){.name = name, .source = source};
    *id = r->nscripts++;
    return FD_OK;
}

const char *fd_redis_script_sha(const fd_redis_t *r, int id) {
    return r->scripts[id].sha;
}

const char *fd_redis_script_name(const fd_redis_t *r, int id) {
    return r->scripts[id].name;
}

const char *fd_redis_errstr(const fd_redis_t *r) {
    return r->errstr;
}

const char *fd_redis_address(const fd_redis_t *r) {
    return r->address;
}

bool fd_redis_refused(const fd_redis_t *r) {
    return r->refused;
}

bool fd_redis_connected(const fd_redis_t *r) {
    return r->c != NULL;
}

redisContext *fd_redis_context(fd_redis_t *r) {
    return r->c;
}

void fd_redis_disconnect(fd_redis_t *r) {
    if (r->c != NULL) redisFree(r->c);
    r->c = NULL;
}

bool fd_redis_is_refusal(const char *error) {
    static const char *const refusals[] = {
        "NOAUTH",       "WRONGPASS",           "NOPERM", "ERR AUTH", "ERR invalid password",
        "ERR DB index", "ERR invalid DB index"};
    for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++)
        if (strncmp(error, refusals[i], strlen(refusals[i])) == 0) return true;
    return false;
}

fd_err_t fd_redis_fail(fd_redis_t *r, const char *what, redisReply *reply) {
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        fd_redis_set_error(r, "%s: %s", what, reply->str);
    else if (reply != NULL)
        fd_redis_set_error(r, "%s: unexpected reply type %d", what, reply->type);
    else if (r->c != NULL && r->c->err != 0)
        fd_redis_set_error(r, "%s: %s (%s)", what, r->c->errstr, r->address);
    else
        fd_redis_set_error(r, "%s: no reply (%s)", what, r->address);
    if (reply != NULL) freeReplyObject(reply);
    fd_redis_disconnect(r);
    return FD_ERR_REDIS;
}

/* A set-up command whose answer must be a status (+OK) or, for SCRIPT LOAD, a SHA; an error
 * reply marks a refusal when waiting cannot cure it. */
static fd_err_t setup(fd_redis_t *r, const char *what, int argc, const char **argv,
                      redisReply **keep) {
    redisReply *rep = redisCommandArgv(r->c, argc, argv, NULL);
    if (rep == NULL) return fd_redis_fail(r, what, NULL);
    bool ok = keep != NULL ? rep->type == REDIS_REPLY_STRING && rep->len == FD_REDIS_SHA_LEN
                           : rep->type == REDIS_REPLY_STATUS;
    if (!ok) {
        r->refused = rep->type == REDIS_REPLY_ERROR && fd_redis_is_refusal(rep->str);
        return fd_redis_fail(r, what, rep);
    }
    if (keep != NULL)
        *keep = rep;
    else
        freeReplyObject(rep);
    return FD_OK;
}

static fd_err_t load_scripts(fd_redis_t *r) {
    for (int i = 0; i < r->nscripts; i++) {
        const char *argv[] = {"SCRIPT", "LOAD", r->scripts[i].source};
        char what[96];
        snprintf(what, sizeof what, "SCRIPT LOAD of the %s script", r->scripts[i].name);
        redisReply *rep = NULL;
        fd_err_t err = setup(r, what, 3, argv, &rep);
        if (err != FD_OK) return err;
        memcpy(r->scripts[i].sha, rep->str, FD_REDIS_SHA_LEN);
        r->scripts[i].sha[FD_REDIS_SHA_LEN] = '\0';
        freeReplyObject(rep);
    }
    return FD_OK;
}

fd_err_t fd_redis_connect(fd_redis_t *r) {
    if (r->c != NULL) return FD_OK;
    r->refused = false;
    struct timeval tv = {.tv_sec = r->timeout_ms / 1000, .tv_usec = (r->timeout_ms % 1000) * 1000};
    r->c = r->timeout_ms > 0 ? redisConnectWithTimeout(r->host, r->port, tv)
                             : redisConnect(r->host, r->port);
    if (r->c == NULL) {
        fd_redis_set_error(r, "connect %s: out of memory", r->address);
        return FD_ERR_REDIS;
    }
    if (r->c->err != 0) {
        fd_redis_set_error(r, "connect %s: %s", r->address, r->c->errstr);
        fd_redis_disconnect(r);
        return FD_ERR_REDIS;
    }
    /* redisConnectWithTimeout only bounds the connect; the command timeout is separate */
    if (r->timeout_ms > 0 && redisSetTimeout(r->c, tv) != REDIS_OK)
        return fd_redis_fail(r, "set command timeout", NULL);

    fd_err_t err;
    char what[600];
    if (r->password[0] != '\0') {
        /* the error text names the user, never the password */
        if (r->user[0] != '\0') {
            const char *argv[] = {"AUTH", r->user, r->password};
            snprintf(what, sizeof what, "AUTH as user '%s' (redis.user, redis.password) on %s",
                     r->user, r->address);
            err = setup(r, what, 3, argv, NULL);
        } else {
            const char *argv[] = {"AUTH", r->password};
            snprintf(what, sizeof what, "AUTH (redis.password) on %s", r->address);
            err = setup(r, what, 2, argv, NULL);
        }
        if (err != FD_OK) return err;
    }
    if (r->db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->db);
        const char *argv[] = {"SELECT", db};
        snprintf(what, sizeof what, "SELECT %d (redis.db) on %s", r->db, r->address);
        if ((err = setup(r, what, 2, argv, NULL)) != FD_OK) return err;
    }
    return load_scripts(r);
}

fd_err_t fd_redis_check(fd_redis_t *r) {
    fd_err_t err = fd_redis_connect(r);
    if (err != FD_ERR_REDIS || !r->refused) return err;
    if (r->password[0] == '\0' && strstr(r->errstr, "NOAUTH") != NULL) {
        size_t n = strlen(r->errstr);
        snprintf(r->errstr + n, sizeof r->errstr - n, " (redis.password is not set)");
    }
    return FD_ERR_CONFIG;
}

fd_err_t fd_redis_command(fd_redis_t *r, const char *what, int argc, const char **argv,
                          const size_t *lens, redisReply **out) {
    *out = NULL;
    fd_err_t err = fd_redis_connect(r);
    if (err != FD_OK) return err;
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    if (rep == NULL) return fd_redis_fail(r, what, NULL);
    *out = rep;
    return FD_OK;
}

fd_err_t fd_redis_append(fd_redis_t *r, const char *what, int argc, const char **argv,
                         const size_t *lens) {
    fd_err_t err = fd_redis_connect(r);
    if (err != FD_OK) return err;
    if (redisAppendCommandArgv(r->c, argc, argv, lens) != REDIS_OK)
        return fd_redis_fail(r, what, NULL);
    return FD_OK;
}

fd_err_t fd_redis_reply(fd_redis_t *r, const char *what, redisReply **out) {
    *out = NULL;
    if (r->c == NULL) {
        fd_redis_set_error(r, "%s: not connected (%s)", what, r->address);
        return FD_ERR_REDIS;
    }
    void *rep = NULL;
    if (redisGetReply(r->c, &rep) != REDIS_OK || rep == NULL) return fd_redis_fail(r, what, NULL);
    *out = rep;
    return FD_OK;
}

fd_err_t fd_redis_eval(fd_redis_t *r, int id, int nkeys, const char *const *keys,
                       const size_t *key_lens, int nargs, const char *const *args,
                       const size_t *arg_lens, redisReply **out) {
    *out = NULL;
    int argc = 3 + nkeys + nargs;
    const char **argv = malloc((size_t)argc * sizeof *argv);
    size_t *lens = malloc((size_t)argc * sizeof *lens);
    if (argv == NULL || lens == NULL) {
        free(argv);
        free(lens);
        fd_redis_set_error(r, "%s script: out of memory", r->scripts[id].name);
        return FD_ERR_NOMEM;
    }
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    for (int i = 0; i < nkeys; i++) {
        argv[3 + i] = keys[i];
        lens[3 + i] = key_lens != NULL ? key_lens[i] : strlen(keys[i]);
    }
    for (int i = 0; i < nargs; i++) {
        argv[3 + nkeys + i] = args[i];
        lens[3 + nkeys + i] = arg_lens != NULL ? arg_lens[i] : strlen(args[i]);
    }
    fd_err_t err = FD_OK;
    for (int attempt = 0;; attempt++) {
        if ((err = fd_redis_connect(r)) != FD_OK) break;
        argv[0] = "EVALSHA";
        lens[0] = 7;
        argv[1] = r->scripts[id].sha;
        lens[1] = FD_REDIS_SHA_LEN;
        argv[2] = nk;
        lens[2] = strlen(nk);
        redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
        if (rep == NULL) {
            err = fd_redis_fail(r, r->scripts[id].name, NULL);
            break;
        }
        if (attempt == 0 && rep->type == REDIS_REPLY_ERROR &&
            strncmp(rep->str, "NOSCRIPT", 8) == 0) {
            /* Redis lost the scripts (restart, SCRIPT FLUSH): load them again, once */
            freeReplyObject(rep);
            if ((err = load_scripts(r)) != FD_OK) break;
            continue;
        }
        *out = rep;
        break;
    }
    free(argv);
    free(lens);
    return err;
}
