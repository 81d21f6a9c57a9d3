// SPDX-License-Identifier: MIT
// Redis adapter: partition claims with fencing tokens, deal-state and dedupe loads, the atomic
// batch apply (one Lua script per batch, src/lua/apply.lua) and metric reads, over the one Redis
// connection of io/redis.h; every key comes from io/keys.h (layer 4). Key layout: docs/redis.md.
#include "io/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/log.h"
#include "base/map.h"
#include "io/keys.h"
#include "io/redis.h"
#include "lua/scripts.h"
#include "model/metrics.h"

#define MGET_CHUNK   1000 /* keys per MGET: bounded replies, still one round trip (pipelined) */
#define NONCE_HEX    16
#define PREFIX_MAX   64                 /* so that every key fits FD_KEY_MAX */
#define APPLY_LAYOUT "7"                /* ARGV layout version: must match src/lua/apply.lua */
#define DELTA_BIG    1000000000000000LL /* 10^15: deltas from here on travel as digits */

/* The argument vector of one command: counted first, so argv and len are allocated once. Text
 * made here (numbers, keys, encoded deals) goes to one growing arena; arena arguments remember
 * offsets and get their pointers when the arena stops moving (args_seal). */
typedef struct {
    const char **argv;
    size_t *len;
    size_t *off; /* arena offset, or SIZE_MAX for a borrowed pointer */
    size_t argc, cap;
    char *arena;
    size_t used, size;
    fd_err_t err; /* sticky: the first failure; the helpers add nothing once it is set */
} args_t;

/* The commands of one apply, formatted (RESP) one after another: one for a plain apply; the
 * commit then the chunks for a staged batch. Command i is buf[off[i] .. off[i + 1]). */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t *off;
    size_t n, off_cap;
    char id[FD_KEY_MAX + 1]; /* a staged batch's id, "" for a plain apply */
} cmdset_t;

/* A key and its value: a metric hash and its deltas, or a deal key and its encoded state. */
typedef struct {
    const char *key, *val;
    size_t key_len, val_len;
} entry_t;

struct fd_store {
    const fd_funnel_t *fn;
    fd_redis_t *r; /* the connection, its sticky error and the scripts */
    char *prefix;
    bool changes, track; /* the feeds: fd_store_opts_t */
    int64_t changes_maxlen, changes_max_keys;
    int claim_id, apply_id, heartbeat_id; /* the scripts in r */
    /* The apply's arguments that depend on the funnel only, built once: the field names, the
     * amount fields and the derived fields of the metrics table (model/metrics.h). */
    args_t fixed;
    int64_t chunk_hashes, chunk_deals; /* a bigger batch is staged: fd_store_opts_t */
    uint64_t staged_seq;               /* staged batches built (their stamps) */
    /* The apply in flight: its commands (one, or a staged batch's commit then chunks), how many
     * are answered (in order), whether the connection carries the others (sent) and how many
     * answers are still due on it, the answers read ahead by fd_store_apply_answered, and
     * whether the first command answered ALREADY. */
    cmdset_t fly;
    size_t got, due;
    bool sent, fly_already;
    redisReply **stash;
    size_t nstash, stash_cap;
    /* the next apply, built while that one runs (owned; not sent yet) */
    cmdset_t prep;
};

static fd_err_t build_fixed_args(const fd_funnel_t *fn, args_t *a);
static void args_free(args_t *a);
/* Who finishes a staged batch, for its log line. */
typedef enum { BY_CLAIM, BY_REFUSAL, BY_RETRY } finisher_t;
static fd_err_t finish_staged(fd_store_t *st, const char *id, const char *part_key, finisher_t by);

fd_err_t fd_store_new(const fd_funnel_t *fn, const fd_store_opts_t *opts, fd_store_t **out) {
    *out = NULL;
    const char *prefix = opts->prefix != NULL ? opts->prefix : "";
    if (strlen(prefix) > PREFIX_MAX) return FD_ERR_RANGE;
    fd_store_t *st = calloc(1, sizeof *st);
    if (st == NULL) return FD_ERR_NOMEM;
    st->fn = fn;
    st->changes = opts->changes;
    st->track = opts->track;
    st->changes_maxlen = opts->changes_maxlen > 0 ? opts->changes_maxlen : 10000;
    st->changes_max_keys = opts->changes_max_keys;
    st->chunk_hashes = opts->chunk_hashes > 0 ? opts->chunk_hashes : 1000;
    st->chunk_deals = opts->chunk_deals > 0 ? opts->chunk_deals : 20000;
    fd_redis_opts_t ro = {.host = opts->host,
                          .port = opts->port,
                          .user = opts->user,
                          .password = opts->password,
                          .db = opts->db,
                          .timeout_ms = opts->timeout_ms};
    fd_err_t err = fd_redis_new(&ro, &st->r);
    if (err == FD_OK && (st->prefix = strdup(prefix)) == NULL) err = FD_ERR_NOMEM;
    if (err == FD_OK) err = fd_redis_script(st->r, "claim", fd_lua_claim, &st->claim_id);
    if (err == FD_OK) err = fd_redis_script(st->r, "apply", fd_lua_apply, &st->apply_id);
    if (err == FD_OK)
        err = fd_redis_script(st->r, "feed_heartbeat", fd_lua_feed_heartbeat, &st->heartbeat_id);
    if (err == FD_OK) err = build_fixed_args(fn, &st->fixed);
    if (err != FD_OK) {
        fd_store_destroy(st);
        return err;
    }
    *out = st;
    return FD_OK;
}

void fd_store_destroy(fd_store_t *st) {
    if (st == NULL) return;
    if (st->r != NULL) fd_store_apply_abandon(st);
    free(st->stash);
    fd_redis_destroy(st->r); /* wipes the password */
    args_free(&st->fixed);
    free(st->prefix);
    free(st);
}

const char *fd_store_errstr(const fd_store_t *st) {
    return fd_redis_errstr(st->r);
}

fd_err_t fd_store_connect(fd_store_t *st) {
    return fd_redis_connect(st->r);
}

fd_err_t fd_store_check(fd_store_t *st) {
    return fd_redis_check(st->r);
}

static fd_err_t make_nonce(fd_store_t *st, char *hex) {
    unsigned char raw[NONCE_HEX / 2];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    if (got < sizeof raw) { /* old kernel without getrandom(2) */
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, raw, sizeof raw) : -1;
        if (fd >= 0) close(fd);
        if (n != (ssize_t)sizeof raw) {
            fd_redis_set_error(
                st->r, "claim: no random bytes for the token nonce (getrandom, /dev/urandom)");
            return FD_ERR_IO;
        }
    }
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 0xf];
    }
    hex[NONCE_HEX] = '\0';
    return FD_OK;
}

/* An error reply that retrying cannot cure: the apply or claim script refused malformed input or
 * stored data (its messages start "funneld "), or a key has the wrong type. */
static fd_err_t reply_error_code(const char *msg) {
    return strstr(msg, "funneld ") != NULL || strstr(msg, "WRONGTYPE") != NULL ? FD_ERR_PARSE
                                                                               : FD_ERR_REDIS;
}

/* Parses a stored offset (decimal text, at most 18 digits). FD_ERR_PARSE. */
static fd_err_t parse_offset(const char *s, size_t len, int64_t *out) {
    if (len == 0 || len > 18) return FD_ERR_PARSE;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return FD_ERR_PARSE;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return FD_OK;
}

/* The connection carries an apply whose answer is not read yet: no other command may use it. */
static bool busy(fd_store_t *st, const char *what) {
    if (st->fly.n == 0) return false;
    fd_redis_set_error(
        st->r, "%s: an apply is in flight on this connection (read with a second store)", what);
    return true;
}

fd_err_t fd_store_claim(fd_store_t *st, const char *topic, int32_t partition, const char *instance,
                        char *token, size_t token_size, int64_t *next, fd_dedupe_t *dd) {
    if (busy(st, "claim")) return FD_ERR_INVAL;
    /* epoch (<= 20 digits) + ':' + instance + ':' + nonce must fit with its NUL */
    if (strlen(instance) + 20 + 2 + NONCE_HEX + 1 > token_size) {
        fd_redis_set_error(
            st->r, "claim %s/%" PRId32 ": instance id '%s' is too long for a %zu-byte token", topic,
            partition, instance, token_size);
        return FD_ERR_INVAL;
    }
    char nonce[NONCE_HEX + 1];
    fd_err_t err = make_nonce(st, nonce);
    if (err != FD_OK) return err;
    char part_key[FD_KEY_MAX + 1], dedupe_key[FD_KEY_MAX + 1], parts_key[FD_KEY_MAX + 1];
    fd_keys_single(parts_key, sizeof parts_key, st->prefix, FD_KEY_PARTS);
    if (fd_keys_part(part_key, sizeof part_key, st->prefix, topic, partition) >= sizeof part_key ||
        fd_keys_dedupe(dedupe_key, sizeof dedupe_key, st->prefix, topic, partition) >=
            sizeof dedupe_key) {
        fd_redis_set_error(st->r, "claim %s/%" PRId32 ": topic name too long for a key", topic,
                           partition);
        return FD_ERR_RANGE;
    }
    char *blob = NULL;
    redisReply *r = NULL;
    const char *keys[3] = {part_key, dedupe_key, parts_key}, *args[2] = {instance, nonce};
    if ((err = fd_redis_eval(st->r, st->claim_id, 3, keys, NULL, 2, args, NULL, &r)) != FD_OK)
        return err;

    char what[FD_TOPIC_MAX + 64];
    snprintf(what, sizeof what, "claim %s/%" PRId32, topic, partition);
    if (r->type == REDIS_REPLY_ERROR) {
        /* e.g. the part key is not a hash: the connection itself is fine */
        fd_redis_set_error(st->r, "%s: %s", what, r->str);
        err = reply_error_code(r->str);
        goto fail;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        (r->element[2]->type != REDIS_REPLY_STRING && r->element[2]->type != REDIS_REPLY_NIL)) {
        err = fd_redis_fail(st->r, what, r);
        r = NULL;
        goto fail;
    }
    const redisReply *tok = r->element[0], *nx = r->element[1], *staged = r->element[2];
    if (tok->len >= token_size) {
        fd_redis_set_error(st->r, "%s: token of %zu bytes does not fit", what, tok->len);
        err = FD_ERR_RANGE;
        goto fail;
    }
    *next = -1;
    if (nx->type == REDIS_REPLY_STRING) {
        if (parse_offset(nx->str, nx->len, next) != FD_OK) {
            fd_redis_set_error(st->r, "%s: stored next offset '%.*s' is not a number", what,
                               (int)nx->len, nx->str);
            err = FD_ERR_PARSE;
            goto fail;
        }
    } else if (nx->type != REDIS_REPLY_NIL) {
        err = fd_redis_fail(st->r, what, r);
        r = NULL;
        goto fail;
    }
    if (dd != NULL) {
        /* the dedupe chunks, oldest first, concatenated into one blob */
        size_t total = 0;
        for (size_t i = 3; i < r->elements; i++) {
            if (r->element[i]->type != REDIS_REPLY_STRING) {
                err = fd_redis_fail(st->r, what, r);
                r = NULL;
                goto fail;
            }
            total += r->element[i]->len;
        }
        blob = malloc(total > 0 ? total : 1);
        if (blob == NULL) {
            err = FD_ERR_NOMEM;
            goto fail;
        }
        size_t at = 0;
        for (size_t i = 3; i < r->elements; i++) {
            memcpy(blob + at, r->element[i]->str, r->element[i]->len);
            at += r->element[i]->len;
        }
        if ((err = fd_dedupe_load(dd, blob, total)) != FD_OK) {
            fd_redis_set_error(st->r, "%s: dedupe list holds %zu bytes, not a multiple of %d", what,
                               total, FD_DEDUPE_ID_BYTES);
            goto fail;
        }
    }
    /* a batch committed and not fully applied (a crash, a zombie): finished before anything
     * of this partition is read, so that its deal states and counts are all there */
    if (staged->type == REDIS_REPLY_STRING &&
        (err = finish_staged(st, staged->str, part_key, BY_CLAIM)) != FD_OK)
        goto fail;
    memcpy(token, tok->str, tok->len);
    token[tok->len] = '\0';
    err = FD_OK;
fail:
    if (r != NULL) freeReplyObject(r);
    free(blob);
    return err;
}

fd_err_t fd_store_load_deals(fd_store_t *st, fd_dealcache_t *dc, const char *const *ids, size_t n) {
    fd_err_t err = FD_ERR_NOMEM;
    fd_map_t *seen = NULL;
    const char **missing = malloc((n > 0 ? n : 1) * sizeof *missing);
    redisReply **replies = NULL;
    const char **argv = NULL;
    size_t *len = NULL, *off = NULL;
    char *keys = NULL;
    size_t nmissing = 0, nchunks = 0, nreplies = 0;
    if (fd_map_new(&seen) != FD_OK || missing == NULL) goto fail;
    /* each id not cached, once */
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(ids[i]);
        if (fd_dealcache_get(dc, ids[i]) != NULL || fd_map_get(seen, ids[i], l) != NULL) continue;
        if (fd_map_put(seen, ids[i], l, (void *)ids[i]) != FD_OK) goto fail;
        missing[nmissing++] = ids[i];
    }
    if (nmissing == 0) {
        err = FD_OK;
        goto fail;
    }
    if (busy(st, "load deals")) {
        err = FD_ERR_INVAL;
        goto fail;
    }
    if ((err = fd_store_connect(st)) != FD_OK) goto fail;

    err = FD_ERR_NOMEM;
    nchunks = (nmissing + MGET_CHUNK - 1) / MGET_CHUNK;
    replies = calloc(nchunks, sizeof *replies);
    argv = malloc((MGET_CHUNK + 1) * sizeof *argv);
    len = malloc((MGET_CHUNK + 1) * sizeof *len);
    off = malloc((MGET_CHUNK + 1) * sizeof *off);
    size_t keys_size = 4096;
    keys = malloc(keys_size);
    if (replies == NULL || argv == NULL || len == NULL || off == NULL || keys == NULL) goto fail;
    /* queue every MGET, then read the answers: one round trip for any number of chunks
     * (hiredis copies each command into its output buffer, so keys can be reused) */
    for (size_t c = 0; c < nchunks; c++) {
        size_t first = c * MGET_CHUNK;
        size_t count = nmissing - first < MGET_CHUNK ? nmissing - first : MGET_CHUNK;
        size_t used = 0;
        argv[0] = "MGET";
        len[0] = 4;
        for (size_t i = 1; i <= count; i++) {
            /* the keys side by side in keys, grown as needed: offsets until it stops moving */
            size_t l;
            while ((l = fd_keys_deal(keys + used, keys_size - used, st->prefix,
                                     missing[first + i - 1])) >= keys_size - used) {
                char *grown = realloc(keys, 2 * keys_size);
                if (grown == NULL) goto fail;
                keys = grown;
                keys_size *= 2;
            }
            off[i] = used;
            len[i] = l;
            used += l + 1;
        }
        for (size_t i = 1; i <= count; i++)
            argv[i] = keys + off[i];
        err = fd_redis_append(st->r, "load deals (MGET)", (int)count + 1, argv, len);
        if (err != FD_OK) goto fail;
    }
    for (; nreplies < nchunks; nreplies++) {
        if ((err = fd_redis_reply(st->r, "load deals (MGET)", &replies[nreplies])) != FD_OK)
            goto fail;
    }
    err = FD_ERR_NOMEM;
    for (size_t c = 0; c < nchunks; c++) {
        size_t first = c * MGET_CHUNK;
        size_t count = nmissing - first < MGET_CHUNK ? nmissing - first : MGET_CHUNK;
        redisReply *r = replies[c];
        if (r->type != REDIS_REPLY_ARRAY || r->elements != count) {
            err = fd_redis_fail(st->r, "load deals (MGET)", r);
            replies[c] = NULL;
            goto fail;
        }
        for (size_t i = 0; i < count; i++) {
            const redisReply *e = r->element[i];
            const char *id = missing[first + i];
            fd_deal_t deal;
            fd_deal_init(&deal);
            if (e->type == REDIS_REPLY_STRING) {
                char why[256];
                if (fd_deal_decode(st->fn, e->str, e->len, &deal, why, sizeof why) != FD_OK) {
                    fd_deal_clear(&deal);
                    char key[FD_KEY_MAX + 1];
                    fd_keys_deal(key, sizeof key, st->prefix, id);
                    fd_redis_set_error(st->r, "load deal '%s' (%s): %s", id, key, why);
                    err = FD_ERR_PARSE;
                    goto fail;
                }
            } else if (e->type != REDIS_REPLY_NIL) {
                fd_deal_clear(&deal);
                err = fd_redis_fail(st->r, "load deals (MGET)", r);
                replies[c] = NULL;
                goto fail;
            }
            /* an unknown deal is cached empty, so folding never asks Redis for it again */
            err = fd_dealcache_put(dc, id, &deal, NULL);
            fd_deal_clear(&deal);
            if (err != FD_OK) goto fail;
        }
    }
    err = FD_OK;
fail:
    if (replies != NULL)
        for (size_t c = 0; c < nreplies; c++)
            if (replies[c] != NULL) freeReplyObject(replies[c]);
    free(replies);
    free(keys);
    free(off);
    free(len);
    free(argv);
    free(missing);
    fd_map_destroy(seen);
    return err;
}

/* ---- the apply's KEYS and ARGV (their layout: src/lua/apply.lua) ---- */

/* Sizes a to hold cap arguments, of which the first `reserved` are filled by the caller. */
static fd_err_t args_init(args_t *a, size_t cap, size_t reserved) {
    a->cap = cap;
    a->argc = reserved;
    a->argv = calloc(cap > 0 ? cap : 1, sizeof *a->argv);
    a->len = calloc(cap > 0 ? cap : 1, sizeof *a->len);
    a->off = calloc(cap > 0 ? cap : 1, sizeof *a->off);
    if (a->argv == NULL || a->len == NULL || a->off == NULL) return FD_ERR_NOMEM;
    for (size_t i = 0; i < reserved; i++)
        a->off[i] = SIZE_MAX;
    return FD_OK;
}

/* Whether n more bytes fit at the arena's end, growing it when needed; false, with a->err
 * set, when memory ran out or an earlier step failed. */
static bool arena_has_room(args_t *a, size_t n) {
    if (a->err != FD_OK) return false;
    if (a->used + n <= a->size) return true;
    size_t size = a->size > 0 ? a->size : 4096;
    while (size < a->used + n)
        size *= 2;
    char *p = realloc(a->arena, size);
    if (p == NULL) {
        a->err = FD_ERR_NOMEM;
        return false;
    }
    a->arena = p;
    a->size = size;
    return true;
}

/* The helpers below add the next argument, or set a->err (and add nothing once it is set). */

static void arg_ref(args_t *a, const char *s, size_t len) {
    if (a->err != FD_OK) return;
    a->argv[a->argc] = s;
    a->len[a->argc] = len;
    a->off[a->argc] = SIZE_MAX;
    a->argc++;
}

/* The n bytes just written at the arena's end (a NUL follows them) become the next argument. */
static void arg_arena(args_t *a, size_t n) {
    a->argv[a->argc] = NULL;
    a->len[a->argc] = n;
    a->off[a->argc] = a->used;
    a->argc++;
    a->used += n + 1;
}

static void arg_fmt(args_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg_fmt(args_t *a, const char *fmt, ...) {
    size_t need = 32;
    while (arena_has_room(a, need)) {
        va_list ap;
        va_start(ap, fmt);
        size_t avail = a->size - a->used;
        int n = vsnprintf(a->arena + a->used, avail, fmt, ap);
        va_end(ap);
        if (n < 0) {
            a->err = FD_ERR_INVAL;
            return;
        }
        if ((size_t)n < avail) {
            arg_arena(a, (size_t)n);
            return;
        }
        need = (size_t)n + 1;
    }
}

static void arg_int(args_t *a, int64_t v) {
    arg_fmt(a, "%" PRId64, v);
}

/* The next argument is a key rendered by an io/keys.h builder: call(buf, size, ...) with the
 * arena's end as buf. A key beyond FD_KEY_MAX sets FD_ERR_RANGE (never with a prefix of at most
 * 64 bytes and the topic and id limits). */
#define ARG_KEY(a, call, ...)                                                                      \
    do {                                                                                           \
        if (arena_has_room((a), FD_KEY_MAX + 1))                                                   \
            key_taken((a), call((a)->arena + (a)->used, FD_KEY_MAX + 1, __VA_ARGS__));             \
    } while (0)

static void key_taken(args_t *a, size_t n) {
    if (n > FD_KEY_MAX)
        a->err = FD_ERR_RANGE;
    else
        arg_arena(a, n);
}

static void arg_deal(args_t *a, const fd_funnel_t *fn, const fd_deal_t *deal) {
    size_t need = 256; /* never hand the codec an empty buffer */
    while (arena_has_room(a, need)) {
        size_t avail = a->size - a->used;
        size_t n = fd_deal_encode(fn, deal, a->arena + a->used, avail);
        if (n < avail) {
            arg_arena(a, n);
            return;
        }
        need = n + 1;
    }
}

/* The end of building: a->err, or FD_ERR_INVAL when counting and filling disagree (a bug);
 * on FD_OK the arena no longer moves, and the arena arguments point into it. */
static fd_err_t args_seal(args_t *a) {
    if (a->err != FD_OK) return a->err;
    if (a->argc != a->cap) return FD_ERR_INVAL;
    for (size_t i = 0; i < a->argc; i++)
        if (a->off[i] != SIZE_MAX) a->argv[i] = a->arena + a->off[i];
    return FD_OK;
}

static void args_free(args_t *a) {
    free(a->argv);
    free(a->len);
    free(a->off);
    free(a->arena);
    *a = (args_t){0};
}

/* The arguments that depend on the funnel only: F and the field names, A and the amount
 * fields, M and the derived fields of model/metrics.h, 6 each. */
static fd_err_t build_fixed_args(const fd_funnel_t *fn, args_t *a) {
    size_t nfields = fd_funnel_nfields(fn), nderived = fd_metrics_count(fn), namounts = 0;
    for (size_t f = 0; f < nfields; f++)
        if (fd_funnel_field_hundredths(fn, f)) namounts++;
    fd_err_t err = args_init(a, 3 + nfields + namounts + 6 * nderived, 0);
    if (err != FD_OK) return err;
    arg_int(a, (int64_t)nfields);
    for (size_t f = 0; f < nfields; f++) {
        const char *name = fd_funnel_field_name(fn, f);
        arg_ref(a, name, strlen(name));
    }
    arg_int(a, (int64_t)namounts);
    for (size_t f = 0; f < nfields; f++) {
        if (!fd_funnel_field_hundredths(fn, f)) continue;
        const char *name = fd_funnel_field_name(fn, f);
        arg_ref(a, name, strlen(name));
    }
    arg_int(a, (int64_t)nderived);
    for (size_t i = 0; i < nderived; i++) {
        fd_metric_t m;
        fd_metrics_get(fn, i, &m);
        char name[256];
        if (fd_metrics_name(fn, &m, name, sizeof name) >= sizeof name) return FD_ERR_RANGE;
        const char *num = fd_funnel_field_name(fn, m.num), *den = fd_funnel_field_name(fn, m.den);
        arg_fmt(a, "%s", name);
        arg_ref(a, num, strlen(num));
        arg_ref(a, den, strlen(den));
        arg_ref(a, m.def->den_plus_num ? "1" : "0", 1);
        arg_int(a, m.def->scale);
        arg_int(a, m.def->decimals);
    }
    return args_seal(a);
}

/* Appends v as a varint: 7 bits a byte, least significant first, high bit = more follow. */
static size_t put_varint(unsigned char *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

/* Bytes of hash h's deltas argument at most: the expiry varint, then per changed field its
 * index and a varint (<= 8 bytes below 2 x 10^15) or 0, a length and up to 20 characters. */
#define DELTAS_MAX(nchanged) (10 + (nchanged) * (1 + 2 + 20))

/* The metric hash h as messages name it ("rep:all:anna"). */
static const char *hash_name(const fd_batch_hash_t *h, char *buf, size_t size) {
    fd_keys_metric_suffix(buf, size, h->scope, h->window, h->id);
    return buf;
}

/* The deltas argument of hash h (see the script): one binary string, so a hash costs Redis
 * and the script two arguments instead of four plus two per field, and the script decodes
 * numbers with string.byte instead of parsing text. */
static fd_err_t arg_hash_deltas(args_t *a, const fd_funnel_t *fn, const fd_batch_hash_t *h,
                                char *why, size_t why_size) {
    size_t nfields = fd_funnel_nfields(fn), nchanged = 0;
    char name[FD_KEY_MAX + 1];
    for (size_t f = 0; f < nfields; f++)
        if (h->delta[f] != 0) nchanged++;
    if (!arena_has_room(a, DELTAS_MAX(nchanged))) return a->err;
    unsigned char *start = (unsigned char *)a->arena + a->used, *p = start;
    if (h->expire_at_s >= DELTA_BIG) {
        snprintf(why, why_size, "%.200s: expiry %" PRId64 " s is beyond 10^15",
                 hash_name(h, name, sizeof name), h->expire_at_s);
        return FD_ERR_RANGE;
    }
    p += put_varint(p, h->expire_at_s > 0 ? (uint64_t)h->expire_at_s : 0);
    for (size_t f = 0; f < nfields; f++) {
        int64_t d = h->delta[f];
        if (d == 0) continue;
        *p++ = (unsigned char)f;
        if (d > -DELTA_BIG && d < DELTA_BIG) {
            /* zigzag: the open pipeline is a stock, its deltas are signed */
            p += put_varint(p, d > 0 ? (uint64_t)d * 2 : (uint64_t)(-d) * 2 - 1);
        } else {
            char digits[24];
            int n = snprintf(digits, sizeof digits, "%" PRId64, d);
            *p++ = 0;
            *p++ = (unsigned char)n;
            memcpy(p, digits, (size_t)n);
            p += n;
        }
    }
    size_t len = (size_t)(p - start);
    a->argv[a->argc] = NULL;
    a->len[a->argc] = len;
    a->off[a->argc] = a->used;
    a->argc++;
    a->used += len;
    return FD_OK;
}

/* The commit of a staged batch: its id, its n chunk blobs (the staged record's c:<i>) and the
 * batch's latest event time ("" when none). */
typedef struct {
    const char *id;
    size_t nchunks;
    const char *const *blob;
    const size_t *blob_len;
    const char *event_ms;
    const char *stamp; /* this build of the batch: its chunks name it */
} commit_t;

/* Fills a with the apply's keys and arguments after 3 reserved ones (EVALSHA, sha, the number
 * of keys, *nkeys); on an error other than FD_ERR_NOMEM, why may say what was wrong. The keys
 * come first, in the order the script reads them: stats, the parts' (part, dedupe) pairs, the
 * deals assumed new, the metric hashes, the deals to write. A plain apply when cm is NULL; else
 * the commit cm of a staged batch: no hashes or deal states (its chunks carry them), the staged
 * record's key last, the stage section at the end of ARGV. */
static fd_err_t build_apply_args(const fd_store_t *st, const fd_batch_t *b,
                                 const fd_dealcache_t *dc, const commit_t *cm, args_t *a,
                                 size_t *nkeys, char *why, size_t why_size) {
    const fd_funnel_t *fn = st->fn;
    size_t nparts = fd_batch_nparts(b), nhashes = fd_batch_nhashes(b);
    size_t ndeals = fd_dealcache_dirty_count(dc), nnew = fd_dealcache_new_count(dc);
    if (fd_funnel_nfields(fn) > 256) return FD_ERR_RANGE; /* deltas name a field in one byte */
    if (cm != NULL) nhashes = ndeals = 0;

    size_t nstats = cm != NULL ? 2 : 1; /* batches (, staged_batches) */
    for (int s = 0; s < FD_STAT_COUNT; s++)
        if (fd_batch_stat(b, s) != 0) nstats++;
    for (int r = 1; r < FD_REJECT_COUNT; r++)
        if (fd_batch_rejected(b, (fd_reject_t)r) != 0) nstats++;

    size_t nrt = fd_batch_nrep_teams(b), nlate = fd_batch_nlate(b);
    *nkeys = 8 + 2 * nparts + nnew + nhashes + ndeals + (cm != NULL);
    /* version, the feeds, the fixed arguments, then the counted lists, then the stage section */
    size_t argc = 3 + *nkeys + 1 + 5 + st->fixed.argc + 1 + 6 * nparts + 1 + 1 + nhashes + 1 +
                  ndeals + 1 + 2 * nstats + 1 + 3 * nrt + 1 + 8 * nlate +
                  (cm != NULL ? cm->nchunks + 5 : 1);
    if (argc > INT32_MAX) return FD_ERR_RANGE;
    fd_err_t err = args_init(a, argc, 3);
    if (err != FD_OK) return err;

    /* KEYS */
    ARG_KEY(a, fd_keys_single, st->prefix, FD_KEY_STATS);
    ARG_KEY(a, fd_keys_single, st->prefix, FD_KEY_CHANGES);
    ARG_KEY(a, fd_keys_single, st->prefix, FD_KEY_FEED);
    ARG_KEY(a, fd_keys_single, st->prefix, FD_KEY_METRICS_DIRTY);
    ARG_KEY(a, fd_keys_single, st->prefix, FD_KEY_METRICS_PUB);
    ARG_KEY(a, fd_keys_single, st->prefix, FD_KEY_REP_TEAM);
    ARG_KEY(a, fd_keys_single, st->prefix, FD_KEY_REP_TEAM_AT);
    ARG_KEY(a, fd_keys_single, st->prefix, FD_KEY_LATE);
    for (size_t i = 0; i < nparts; i++) {
        const fd_batch_part_t *p = fd_batch_part_at(b, i);
        ARG_KEY(a, fd_keys_part, st->prefix, p->topic, p->partition);
        ARG_KEY(a, fd_keys_dedupe, st->prefix, p->topic, p->partition);
    }
    size_t pos = 0, listed = 0;
    const char *id;
    const fd_deal_t *deal;
    bool assumed_new;
    while (fd_dealcache_next_dirty(dc, &pos, &id, &deal, &assumed_new))
        if (assumed_new && listed++ < nnew) ARG_KEY(a, fd_keys_deal, st->prefix, id);
    if (listed != nnew) return FD_ERR_INVAL; /* count and list disagree */
    for (size_t i = 0; i < nhashes; i++) {
        const fd_batch_hash_t *h = fd_batch_hash(b, i);
        ARG_KEY(a, fd_keys_metric, st->prefix, h->scope, h->window, h->id);
    }
    pos = 0;
    size_t written = 0;
    while (written < ndeals && fd_dealcache_next_dirty(dc, &pos, &id, &deal, NULL)) {
        ARG_KEY(a, fd_keys_deal, st->prefix, id);
        written++;
    }
    if (written != ndeals) return FD_ERR_INVAL; /* dirty count and list disagree */
    if (cm != NULL) ARG_KEY(a, fd_keys_staged, st->prefix, cm->id);

    /* ARGV */
    arg_ref(a, APPLY_LAYOUT, strlen(APPLY_LAYOUT));
    arg_ref(a, st->changes ? "1" : "0", 1);
    arg_int(a, st->changes_maxlen);
    arg_int(a, st->changes_max_keys);
    arg_ref(a, st->track ? "1" : "0", 1);
    int64_t latest;
    if (fd_batch_latest_ms(b, &latest) && latest >= 0) /* the feed's watermark: ms >= 0 */
        arg_int(a, latest);
    else
        arg_ref(a, "", 0);
    for (size_t i = 0; i < st->fixed.argc; i++)
        arg_ref(a, st->fixed.argv[i], st->fixed.len[i]);
    arg_int(a, (int64_t)nparts);
    for (size_t i = 0; i < nparts; i++) {
        const fd_batch_part_t *p = fd_batch_part_at(b, i);
        arg_ref(a, p->token, strlen(p->token));
        if (p->from >= 0)
            arg_int(a, p->from);
        else
            arg_ref(a, "", 0);
        if (p->next >= 0)
            arg_int(a, p->next);
        else
            arg_ref(a, "", 0); /* no stored offset and nothing read */
        size_t nids = 0;
        const void *chunk = p->dd != NULL ? fd_dedupe_pending(p->dd, &nids) : NULL;
        if (nids > 0)
            arg_ref(a, chunk, nids * FD_DEDUPE_ID_BYTES);
        else
            arg_ref(a, "", 0);
        arg_int(a, (int64_t)nids);
        arg_int(a, p->dd != NULL ? (int64_t)fd_dedupe_capacity(p->dd) : 0);
    }
    arg_int(a, (int64_t)nnew);
    arg_int(a, (int64_t)nhashes);
    for (size_t i = 0; i < nhashes && a->err == FD_OK; i++)
        if ((err = arg_hash_deltas(a, fn, fd_batch_hash(b, i), why, why_size)) != FD_OK) return err;
    arg_int(a, (int64_t)ndeals);
    pos = 0;
    written = 0;
    while (written < ndeals && fd_dealcache_next_dirty(dc, &pos, &id, &deal, NULL)) {
        arg_deal(a, fn, deal);
        written++;
    }
    arg_int(a, (int64_t)nstats);
    for (int s = 0; s < FD_STAT_COUNT; s++) {
        if (fd_batch_stat(b, s) == 0) continue;
        const char *name = fd_batch_stat_name(s);
        arg_ref(a, name, strlen(name));
        arg_int(a, fd_batch_stat(b, s));
    }
    for (int r = 1; r < FD_REJECT_COUNT; r++) {
        int64_t v = fd_batch_rejected(b, (fd_reject_t)r);
        if (v == 0) continue;
        arg_fmt(a, "rejected:%s", fd_reject_name((fd_reject_t)r));
        arg_int(a, v);
    }
    arg_ref(a, "batches", 7);
    arg_int(a, 1);
    if (cm != NULL) {
        arg_ref(a, "staged_batches", 14);
        arg_int(a, 1);
    }
    arg_int(a, (int64_t)nrt);
    for (size_t i = 0; i < nrt; i++) {
        const fd_batch_rep_team_t *rt = fd_batch_rep_team(b, i);
        arg_ref(a, rt->rep, strlen(rt->rep));
        arg_ref(a, rt->team, strlen(rt->team));
        arg_int(a, rt->at_ms);
    }
    arg_int(a, (int64_t)nlate);
    for (size_t i = 0; i < nlate; i++) {
        const fd_batch_late_t *l = fd_batch_late(b, i);
        const fd_batch_part_t *bp = fd_batch_part_at(b, (size_t)l->part);
        const char *type = fd_event_type_name(l->type);
        arg_ref(a, l->event_id, strlen(l->event_id));
        arg_ref(a, type, strlen(type));
        arg_ref(a, l->rep, strlen(l->rep));
        arg_ref(a, l->team, strlen(l->team));
        arg_int(a, l->occurred_ms);
        arg_ref(a, bp->topic, strlen(bp->topic));
        arg_int(a, bp->partition);
        arg_int(a, l->offset);
    }
    /* the stage section (src/lua/apply.lua) */
    if (cm != NULL) {
        for (size_t i = 0; i < cm->nchunks; i++)
            arg_ref(a, cm->blob[i], cm->blob_len[i]);
        arg_ref(a, cm->id, strlen(cm->id));
        arg_int(a, (int64_t)cm->nchunks);
        arg_ref(a, cm->event_ms, strlen(cm->event_ms));
        arg_ref(a, cm->stamp, strlen(cm->stamp));
        arg_ref(a, "commit", 6);
    } else {
        arg_ref(a, "", 0);
    }
    return args_seal(a);
}

/* ---- command sets: the commands of one apply, formatted one after another ---- */

/* Appends the formatted command cmd (n bytes) to set. */
static fd_err_t set_add(cmdset_t *set, const char *cmd, size_t n) {
    if (set->n + 2 > set->off_cap) {
        size_t cap = set->off_cap > 0 ? 2 * set->off_cap : 8;
        size_t *off = realloc(set->off, cap * sizeof *off);
        if (off == NULL) return FD_ERR_NOMEM;
        set->off = off;
        set->off_cap = cap;
    }
    if (set->len + n > set->cap) {
        size_t cap = set->cap > 0 ? set->cap : 4096;
        while (cap < set->len + n)
            cap *= 2;
        char *buf = realloc(set->buf, cap);
        if (buf == NULL) return FD_ERR_NOMEM;
        set->buf = buf;
        set->cap = cap;
    }
    if (set->n == 0) set->off[0] = 0;
    memcpy(set->buf + set->len, cmd, n);
    set->len += n;
    set->n++;
    set->off[set->n] = set->len;
    return FD_OK;
}

static void set_free(cmdset_t *set) {
    free(set->buf);
    free(set->off);
    *set = (cmdset_t){0};
}

/* Formats the arguments of a (3 reserved: EVALSHA, the apply's sha, nkeys) and appends the
 * command to set. The command names the script by its sha: the sha of a script is its
 * content's, so the command stays valid when the script is loaded again. */
static fd_err_t set_add_apply(fd_store_t *st, args_t *a, size_t nkeys, cmdset_t *set) {
    char nk[24];
    a->argv[0] = "EVALSHA";
    a->len[0] = 7;
    a->argv[1] = fd_redis_script_sha(st->r, st->apply_id);
    a->len[1] = FD_REDIS_SHA_LEN;
    a->argv[2] = nk;
    a->len[2] = (size_t)snprintf(nk, sizeof nk, "%zu", nkeys);
    char *cmd = NULL;
    int n = redisFormatCommandArgv(&cmd, (int)a->argc, a->argv, a->len);
    fd_err_t err = n < 0 || cmd == NULL ? FD_ERR_NOMEM : set_add(set, cmd, (size_t)n);
    redisFreeCommand(cmd);
    return err;
}

/* ---- staged batches (docs/redis.md, "Staged batches") ---- */

/* One chunk of a staged batch: its hashes (key, deltas) and deal states (key, state), as
 * funneld holds them or as decoded from the staged record. */
typedef struct {
    const char *id;       /* the batch's id */
    size_t index;         /* from 1 */
    const char *event_ms; /* the batch's latest event time, "" when none */
    const char *stamp;    /* the record's stamp: which build of the batch it is */
    const entry_t *parts; /* the part hash keys of the batch (key only) */
    size_t nparts;
    const entry_t *h, *d;
    size_t nh, nd;
} chunk_t;

/* The first 8 keys of every apply (src/lua/apply.lua). */
static void arg_fixed_keys(const fd_store_t *st, args_t *a) {
    static const char *const names[] = {FD_KEY_STATS,         FD_KEY_CHANGES,     FD_KEY_FEED,
                                        FD_KEY_METRICS_DIRTY, FD_KEY_METRICS_PUB, FD_KEY_REP_TEAM,
                                        FD_KEY_REP_TEAM_AT,   FD_KEY_LATE};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ARG_KEY(a, fd_keys_single, st->prefix, names[i]);
}

/* Fills a with the apply of chunk ck (after 3 reserved arguments, as build_apply_args): no
 * parts, new deals, stats, rep teams or late events; the stage section names the record. */
static fd_err_t build_chunk_args(const fd_store_t *st, const chunk_t *ck, args_t *a,
                                 size_t *nkeys) {
    *nkeys = 8 + ck->nh + ck->nd + 1 + ck->nparts;
    size_t argc = 3 + *nkeys + 6 + st->fixed.argc + 2 + 1 + ck->nh + 1 + ck->nd + 3 + 5;
    if (argc > INT32_MAX) return FD_ERR_RANGE;
    fd_err_t err = args_init(a, argc, 3);
    if (err != FD_OK) return err;
    arg_fixed_keys(st, a);
    for (size_t i = 0; i < ck->nh; i++)
        arg_ref(a, ck->h[i].key, ck->h[i].key_len);
    for (size_t i = 0; i < ck->nd; i++)
        arg_ref(a, ck->d[i].key, ck->d[i].key_len);
    ARG_KEY(a, fd_keys_staged, st->prefix, ck->id);
    for (size_t i = 0; i < ck->nparts; i++)
        arg_ref(a, ck->parts[i].key, ck->parts[i].key_len);
    arg_ref(a, APPLY_LAYOUT, strlen(APPLY_LAYOUT));
    arg_ref(a, st->changes ? "1" : "0", 1);
    arg_int(a, st->changes_maxlen);
    arg_int(a, st->changes_max_keys);
    arg_ref(a, st->track ? "1" : "0", 1);
    arg_ref(a, ck->event_ms, strlen(ck->event_ms));
    for (size_t i = 0; i < st->fixed.argc; i++)
        arg_ref(a, st->fixed.argv[i], st->fixed.len[i]);
    arg_ref(a, "0", 1); /* parts */
    arg_ref(a, "0", 1); /* deals assumed new */
    arg_int(a, (int64_t)ck->nh);
    for (size_t i = 0; i < ck->nh; i++)
        arg_ref(a, ck->h[i].val, ck->h[i].val_len);
    arg_int(a, (int64_t)ck->nd);
    for (size_t i = 0; i < ck->nd; i++)
        arg_ref(a, ck->d[i].val, ck->d[i].val_len);
    arg_ref(a, "0", 1); /* stats */
    arg_ref(a, "0", 1); /* rep teams */
    arg_ref(a, "0", 1); /* late events */
    arg_ref(a, ck->id, strlen(ck->id));
    arg_int(a, (int64_t)ck->index);
    arg_int(a, (int64_t)ck->nparts);
    arg_ref(a, ck->stamp, strlen(ck->stamp));
    arg_ref(a, "chunk", 5);
    return args_seal(a);
}

static fd_err_t set_add_chunk(fd_store_t *st, const chunk_t *ck, cmdset_t *set) {
    args_t a = {0};
    size_t nkeys = 0;
    fd_err_t err = build_chunk_args(st, ck, &a, &nkeys);
    if (err == FD_OK) err = set_add_apply(st, &a, nkeys, set);
    args_free(&a);
    return err;
}

/* Appends one entry of a chunk blob: the kind byte, a varint key length, the key, a varint
 * value length, the value. */
static fd_err_t blob_put(char **buf, size_t *len, size_t *cap, char kind, const entry_t *e) {
    size_t need = *len + 1 + 10 + e->key_len + 10 + e->val_len;
    if (need > *cap) {
        size_t c = *cap > 0 ? *cap : 4096;
        while (c < need)
            c *= 2;
        char *p = realloc(*buf, c);
        if (p == NULL) return FD_ERR_NOMEM;
        *buf = p;
        *cap = c;
    }
    unsigned char *p = (unsigned char *)*buf + *len, *start = p;
    *p++ = (unsigned char)kind;
    p += put_varint(p, e->key_len);
    memcpy(p, e->key, e->key_len);
    p += e->key_len;
    p += put_varint(p, e->val_len);
    memcpy(p, e->val, e->val_len);
    p += e->val_len;
    *len += (size_t)(p - start);
    return FD_OK;
}

/* Reads a varint at *p (before end) into *v. false when malformed. */
static bool blob_varint(const unsigned char **p, const unsigned char *end, uint64_t *v) {
    *v = 0;
    for (int shift = 0; *p < end && shift < 63; shift += 7) {
        unsigned char c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) return true;
    }
    return false;
}

/* Decodes the chunk blob [p, end) into the entries h (kind 'h') and d (kind 'd'), each with
 * room for the blob's length / 3 entries (an entry takes at least 3 bytes). false when
 * malformed. */
static bool blob_decode(const char *blob, size_t n, entry_t *h, size_t *nh, entry_t *d,
                        size_t *nd) {
    const unsigned char *p = (const unsigned char *)blob, *end = p + n;
    *nh = *nd = 0;
    while (p < end) {
        unsigned char kind = *p++;
        uint64_t kl, vl;
        if (kind != 'h' && kind != 'd') return false;
        if (!blob_varint(&p, end, &kl) || kl == 0 || kl > (uint64_t)(end - p)) return false;
        entry_t e = {.key = (const char *)p, .key_len = (size_t)kl};
        p += kl;
        if (!blob_varint(&p, end, &vl) || vl > (uint64_t)(end - p)) return false;
        e.val = (const char *)p;
        e.val_len = (size_t)vl;
        p += vl;
        if (kind == 'h')
            h[(*nh)++] = e;
        else
            d[(*nd)++] = e;
    }
    return true;
}

/* A staged batch's id: "<topic>:<partition>:<from>:<next>" of its first part, '-' for an
 * offset it has not. */
static void staged_id(const fd_batch_t *b, char *buf, size_t size) {
    const fd_batch_part_t *p = fd_batch_part_at(b, 0);
    char from[24] = "-", next[24] = "-";
    if (p->from >= 0) snprintf(from, sizeof from, "%" PRId64, p->from);
    if (p->next >= 0) snprintf(next, sizeof next, "%" PRId64, p->next);
    snprintf(buf, size, "%s:%" PRId32 ":%s:%s", p->topic, p->partition, from, next);
}

/* Builds the commands of a staged batch into set: the commit, then chunks of at most
 * chunk_hashes hashes and chunk_deals deal states (spread evenly). */
static fd_err_t build_staged(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc,
                             cmdset_t *set, char *why, size_t why_size) {
    size_t nh = fd_batch_nhashes(b), nd = fd_dealcache_dirty_count(dc), np = fd_batch_nparts(b);
    size_t n = (nh + (size_t)st->chunk_hashes - 1) / (size_t)st->chunk_hashes;
    size_t nbyd = (nd + (size_t)st->chunk_deals - 1) / (size_t)st->chunk_deals;
    if (nbyd > n) n = nbyd;
    if (n == 0) n = 1;
    size_t hper = (nh + n - 1) / n, dper = (nd + n - 1) / n;
    args_t it = {0}, pk = {0};
    entry_t *ent = NULL, *parts = NULL;
    char **blob = NULL;
    size_t *blob_len = NULL;
    fd_err_t err;
    char id[FD_KEY_MAX + 1], event_ms[24] = "", stamp[FD_TOKEN_MAX + 32];
    staged_id(b, id, sizeof id);
    /* unique to this build: chunks of an earlier build of the same id (refused, then folded
     * again) or of another owner's never apply to this record */
    snprintf(stamp, sizeof stamp, "%s#%" PRIu64, fd_batch_part_at(b, 0)->token, ++st->staged_seq);
    int64_t latest;
    if (fd_batch_latest_ms(b, &latest) && latest >= 0)
        snprintf(event_ms, sizeof event_ms, "%" PRId64, latest);

    /* every hash's key and deltas, then every deal's key and state, side by side in it */
    if ((err = args_init(&it, 2 * (nh + nd), 0)) != FD_OK) goto fail;
    for (size_t i = 0; i < nh && it.err == FD_OK; i++) {
        const fd_batch_hash_t *h = fd_batch_hash(b, i);
        ARG_KEY(&it, fd_keys_metric, st->prefix, h->scope, h->window, h->id);
        if (it.err == FD_OK && (err = arg_hash_deltas(&it, st->fn, h, why, why_size)) != FD_OK)
            goto fail;
    }
    size_t pos = 0, listed = 0;
    const char *did;
    const fd_deal_t *deal;
    while (listed < nd && fd_dealcache_next_dirty(dc, &pos, &did, &deal, NULL)) {
        ARG_KEY(&it, fd_keys_deal, st->prefix, did);
        arg_deal(&it, st->fn, deal);
        listed++;
    }
    if ((err = args_init(&pk, np, 0)) != FD_OK) goto fail;
    for (size_t i = 0; i < np; i++) {
        const fd_batch_part_t *p = fd_batch_part_at(b, i);
        ARG_KEY(&pk, fd_keys_part, st->prefix, p->topic, p->partition);
    }
    if ((err = args_seal(&it)) != FD_OK || (err = args_seal(&pk)) != FD_OK) goto fail;
    err = FD_ERR_NOMEM;
    ent = malloc((nh + nd + 1) * sizeof *ent);
    parts = malloc((np + 1) * sizeof *parts);
    blob = calloc(n, sizeof *blob);
    blob_len = calloc(n, sizeof *blob_len);
    if (ent == NULL || parts == NULL || blob == NULL || blob_len == NULL) goto fail;
    for (size_t i = 0; i < nh + nd; i++)
        ent[i] = (entry_t){it.argv[2 * i], it.argv[2 * i + 1], it.len[2 * i], it.len[2 * i + 1]};
    for (size_t i = 0; i < np; i++)
        parts[i] = (entry_t){.key = pk.argv[i], .key_len = pk.len[i]};

    /* chunk c: hashes [c hper, (c + 1) hper), deals [c dper, (c + 1) dper) */
    chunk_t *ck = calloc(n, sizeof *ck);
    if (ck == NULL) goto fail;
    for (size_t c = 0; c < n; c++) {
        size_t h0 = c * hper < nh ? c * hper : nh, d0 = c * dper < nd ? c * dper : nd;
        ck[c] = (chunk_t){.id = id,
                          .index = c + 1,
                          .event_ms = event_ms,
                          .stamp = stamp,
                          .parts = parts,
                          .nparts = np,
                          .h = ent + h0,
                          .d = ent + nh + d0,
                          .nh = nh - h0 < hper ? nh - h0 : hper,
                          .nd = nd - d0 < dper ? nd - d0 : dper};
        size_t cap = 0;
        for (size_t i = 0; i < ck[c].nh; i++)
            if ((err = blob_put(&blob[c], &blob_len[c], &cap, 'h', &ck[c].h[i])) != FD_OK)
                goto fail_ck;
        for (size_t i = 0; i < ck[c].nd; i++)
            if ((err = blob_put(&blob[c], &blob_len[c], &cap, 'd', &ck[c].d[i])) != FD_OK)
                goto fail_ck;
    }
    commit_t cm = {.id = id,
                   .nchunks = n,
                   .blob = (const char *const *)blob,
                   .blob_len = blob_len,
                   .event_ms = event_ms,
                   .stamp = stamp};
    args_t a = {0};
    size_t nkeys = 0;
    err = build_apply_args(st, b, dc, &cm, &a, &nkeys, why, why_size);
    if (err == FD_OK) err = set_add_apply(st, &a, nkeys, set);
    args_free(&a);
    for (size_t c = 0; c < n && err == FD_OK; c++)
        err = set_add_chunk(st, &ck[c], set);
    if (err == FD_OK) {
        snprintf(set->id, sizeof set->id, "%s", id);
        fd_log_debug("store", "staged batch %s: %zu hashes, %zu deals in %zu chunks", id, nh, nd,
                     n);
    }
fail_ck:
    free(ck);
fail:
    if (blob != NULL)
        for (size_t c = 0; c < n; c++)
            free(blob[c]);
    free(blob);
    free(blob_len);
    free(parts);
    free(ent);
    args_free(&pk);
    args_free(&it);
    return err;
}

/* Sends every command of set on the connection and reads every answer: FD_OK when each is OK
 * or ALREADY (*applied counts the OKs); FD_ERR_PARSE for a refusal retrying cannot cure;
 * FD_ERR_REDIS otherwise (the connection is dropped). */
static fd_err_t run_set(fd_store_t *st, const cmdset_t *set, const char *what, size_t *applied) {
    *applied = 0;
    fd_err_t err = fd_redis_connect(st->r);
    if (err != FD_OK) return err;
    redisContext *c = fd_redis_context(st->r);
    if (redisAppendFormattedCommand(c, set->buf, set->len) != REDIS_OK)
        return fd_redis_fail(st->r, what, NULL);
    fd_err_t worst = FD_OK;
    for (size_t i = 0; i < set->n; i++) {
        redisReply *r = NULL;
        if ((err = fd_redis_reply(st->r, what, &r)) != FD_OK) return err;
        if (r->type == REDIS_REPLY_ERROR) {
            fd_redis_set_error(st->r, "%s: %s", what, r->str);
            fd_err_t e = reply_error_code(r->str);
            if (worst == FD_OK || e == FD_ERR_PARSE) worst = e;
        } else if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                   r->element[0]->type == REDIS_REPLY_STRING &&
                   (strcmp(r->element[0]->str, "OK") == 0 ||
                    strcmp(r->element[0]->str, "ALREADY") == 0)) {
            if (r->element[0]->str[0] == 'O') (*applied)++;
        } else {
            return fd_redis_fail(st->r, what, r); /* out of step: dropped */
        }
        freeReplyObject(r);
    }
    if (worst == FD_ERR_REDIS) fd_redis_disconnect(st->r); /* NOSCRIPT: load them again */
    return worst;
}

/* Applies what is left of staged batch id (left by a crash, a zombie, a lost connection): reads
 * its record and sends each chunk still in it (answered OK, or ALREADY when someone else
 * applied it meanwhile). part_key: a part hash known to be marked with id, cleared when the
 * record is gone. by: who finishes it (the log line). The connection must be free. */
static fd_err_t finish_staged(fd_store_t *st, const char *id, const char *part_key, finisher_t by) {
    char key[FD_KEY_MAX + 1], what[FD_KEY_MAX + 64];
    if (fd_keys_staged(key, sizeof key, st->prefix, id) >= sizeof key) {
        fd_redis_set_error(st->r, "staged batch %.200s: id too long for a key", id);
        return FD_ERR_PARSE;
    }
    snprintf(what, sizeof what, "finish staged batch %s", id);
    const char *argv[] = {"HGETALL", key};
    redisReply *r = NULL;
    fd_err_t err = fd_redis_command(st->r, what, 2, argv, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) return fd_redis_fail(st->r, what, r);
    cmdset_t set = {0};
    entry_t *ent = NULL, *parts = NULL;
    size_t nchunks = 0, left = 0, nparts = 0, nent = 0;
    const redisReply *pf = NULL, *ev = NULL, *sp = NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (strncmp(f->str, "c:", 2) == 0) {
            left++;
            nent += v->len / 3 + 1;
        } else if (strcmp(f->str, "n") == 0) {
            nchunks = strtoul(v->str, NULL, 10);
        } else if (strcmp(f->str, "parts") == 0) {
            pf = v;
        } else if (strcmp(f->str, "event_ms") == 0) {
            ev = v;
        } else if (strcmp(f->str, "stamp") == 0) {
            sp = v;
        }
    }
    err = FD_ERR_NOMEM;
    if (r->elements == 0 && part_key == NULL) {
        err = FD_OK; /* every chunk landed */
        goto out;
    }
    if (r->elements == 0) {
        /* every chunk landed: only a part's mark can be left (a record deleted by hand) */
        entry_t one = {.key = part_key, .key_len = part_key != NULL ? strlen(part_key) : 0};
        chunk_t ck = {.id = id,
                      .index = 1,
                      .event_ms = "",
                      .stamp = "",
                      .parts = &one,
                      .nparts = part_key != NULL};
        size_t applied;
        if ((err = set_add_chunk(st, &ck, &set)) == FD_OK) err = run_set(st, &set, what, &applied);
        goto out;
    }
    if (pf == NULL || sp == NULL) {
        fd_redis_set_error(st->r, "%s: the record %s has no parts or stamp", what, key);
        err = FD_ERR_PARSE;
        goto out;
    }
    for (size_t i = 0; i < pf->len; i++)
        if (pf->str[i] == '\n') nparts++;
    nparts++;
    ent = malloc((2 * nent + 1) * sizeof *ent);
    parts = malloc(nparts * sizeof *parts);
    if (ent == NULL || parts == NULL) goto out;
    nparts = 0;
    for (const char *s = pf->str, *e; s <= pf->str + pf->len; s = e + 1) {
        e = memchr(s, '\n', (size_t)(pf->str + pf->len - s));
        if (e == NULL) e = pf->str + pf->len;
        parts[nparts++] = (entry_t){.key = s, .key_len = (size_t)(e - s)};
    }
    if (by == BY_CLAIM)
        fd_log_info("store",
                    "finishing staged batch %s left by an earlier owner: %zu of %zu chunks to "
                    "apply",
                    id, left, nchunks);
    else if (by == BY_RETRY)
        fd_log_info("store",
                    "finishing staged batch %s committed by an earlier attempt: %zu of %zu "
                    "chunks to apply",
                    id, left, nchunks);
    else
        fd_log_warn("store",
                    "apply refused: staged batch %s is not finished (%zu of %zu chunks to apply): "
                    "finishing it, then sending again",
                    id, left, nchunks);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            strncmp(f->str, "c:", 2) != 0)
            continue;
        size_t nh = 0, nd = 0, room = v->len / 3 + 1;
        entry_t *h = ent, *d = ent + room;
        char *endp = NULL;
        unsigned long index = strtoul(f->str + 2, &endp, 10);
        if (index == 0 || *endp != '\0' || !blob_decode(v->str, v->len, h, &nh, d, &nd)) {
            fd_redis_set_error(st->r, "%s: %s %s is malformed", what, key, f->str);
            err = FD_ERR_PARSE;
            goto out;
        }
        /* the keys are full keys: the chunk's KEYS take them as they are */
        chunk_t ck = {.id = id,
                      .index = index,
                      .event_ms = ev != NULL ? ev->str : "",
                      .stamp = sp->str,
                      .parts = parts,
                      .nparts = nparts,
                      .h = h,
                      .nh = nh,
                      .d = d,
                      .nd = nd};
        if ((err = set_add_chunk(st, &ck, &set)) != FD_OK) goto out;
    }
    size_t applied = 0;
    err = set.n > 0 ? run_set(st, &set, what, &applied) : FD_OK;
out:
    set_free(&set);
    free(parts);
    free(ent);
    freeReplyObject(r);
    return err;
}

/* ---- the apply in flight ---- */

/* Drops the connection and what was read ahead on it: the answers still due are lost. */
static void drop_connection(fd_store_t *st) {
    for (size_t i = 0; i < st->nstash; i++)
        freeReplyObject(st->stash[i]);
    st->nstash = 0;
    fd_redis_disconnect(st->r);
    st->sent = false;
    st->due = 0;
}

/* Puts the commands of the apply in flight not answered yet on the connection (connecting
 * first) and writes them out. */
static fd_err_t push_apply(fd_store_t *st) {
    fd_err_t err = fd_redis_connect(st->r);
    if (err != FD_OK) return err;
    redisContext *c = fd_redis_context(st->r);
    size_t from = st->fly.off[st->got];
    if (redisAppendFormattedCommand(c, st->fly.buf + from, st->fly.len - from) != REDIS_OK)
        return fd_redis_fail(st->r, "apply (send)", NULL);
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return fd_redis_fail(st->r, "apply (send)", NULL);
    st->sent = true;
    st->due = st->fly.n - st->got;
    return FD_OK;
}

fd_err_t fd_store_apply_prepare(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc) {
    set_free(&st->prep);
    fd_err_t err;
    /* the command names the script by its sha, known once loaded */
    const char *sha = fd_redis_script_sha(st->r, st->apply_id);
    if (sha[0] == '\0' && (err = fd_redis_connect(st->r)) != FD_OK) return err;
    char why[256] = "";
    /* a batch bigger than a chunk is staged (commit, then chunks) */
    if (fd_batch_nparts(b) > 0 && ((int64_t)fd_batch_nhashes(b) > st->chunk_hashes ||
                                   (int64_t)fd_dealcache_dirty_count(dc) > st->chunk_deals)) {
        err = build_staged(st, b, dc, &st->prep, why, sizeof why);
    } else {
        args_t a = {0};
        size_t nkeys = 0;
        err = build_apply_args(st, b, dc, NULL, &a, &nkeys, why, sizeof why);
        if (err == FD_OK) err = set_add_apply(st, &a, nkeys, &st->prep);
        args_free(&a);
    }
    if (err != FD_OK) {
        fd_redis_set_error(st->r, "apply: building the script arguments failed: %s%s%s",
                           fd_strerror(err), why[0] != '\0' ? ": " : "", why);
        set_free(&st->prep);
    }
    return err;
}

fd_err_t fd_store_apply_send_prepared(fd_store_t *st) {
    if (st->prep.n == 0) {
        fd_redis_set_error(st->r, "apply: nothing prepared");
        return FD_ERR_INVAL;
    }
    if (busy(st, "apply")) return FD_ERR_INVAL;
    st->fly = st->prep;
    st->prep = (cmdset_t){0};
    st->got = 0;
    st->sent = false;
    st->fly_already = false;
    (void)push_apply(st); /* a connection problem is reported (and retried) by the wait */
    return FD_OK;
}

fd_err_t fd_store_apply_send(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc) {
    if (busy(st, "apply")) return FD_ERR_INVAL;
    fd_err_t err = fd_store_apply_prepare(st, b, dc);
    if (err != FD_OK) return err;
    return fd_store_apply_send_prepared(st);
}

/* The apply in flight is over (answered, or given up): forgets its commands. */
static void end_apply(fd_store_t *st) {
    if (st->fly.n == 0) return;
    /* answers may still come: the connection is out of step */
    if (st->sent && st->due > 0) drop_connection(st);
    for (size_t i = 0; i < st->nstash; i++)
        freeReplyObject(st->stash[i]);
    st->nstash = 0;
    set_free(&st->fly);
    st->got = 0;
    st->sent = false;
    st->due = 0;
}

void fd_store_apply_abandon(fd_store_t *st) {
    end_apply(st);
    set_free(&st->prep);
}

/* Moves the answers hiredis has read into the stash, without reading the socket. */
static void stash_ready(fd_store_t *st, redisContext *c) {
    while (st->due > 0) {
        void *rep = NULL;
        if (redisGetReplyFromReader(c, &rep) != REDIS_OK || rep == NULL) return;
        if (st->nstash == st->stash_cap) {
            size_t cap = st->stash_cap > 0 ? 2 * st->stash_cap : 8;
            redisReply **p = realloc(st->stash, cap * sizeof *p);
            if (p == NULL) {
                freeReplyObject(rep);
                drop_connection(st); /* the wait sends again */
                return;
            }
            st->stash = p;
            st->stash_cap = cap;
        }
        st->stash[st->nstash++] = rep;
        st->due--;
    }
}

bool fd_store_apply_answered(fd_store_t *st) {
    redisContext *c = fd_redis_context(st->r);
    if (st->fly.n == 0 || c == NULL || !st->sent) return true;
    stash_ready(st, c);
    if (!st->sent || st->due == 0) return true;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) == 0) return false;
    /* readable: one read(2) cannot block. Closed or failed: the wait finds out soon. */
    if (redisBufferRead(c) != REDIS_OK) return true;
    stash_ready(st, c);
    return !st->sent || st->due == 0;
}

bool fd_store_apply_inflight(const fd_store_t *st) {
    return st->fly.n > 0;
}

/* The next answer of the apply in flight: read ahead, or from the connection. */
static fd_err_t next_reply(fd_store_t *st, redisReply **r) {
    if (st->nstash > 0) {
        *r = st->stash[0];
        memmove(st->stash, st->stash + 1, --st->nstash * sizeof *st->stash);
        return FD_OK;
    }
    fd_err_t err = fd_redis_reply(st->r, "apply", r);
    if (err != FD_OK) {
        st->sent = false;
        st->due = 0;
    } else {
        st->due--;
    }
    return err;
}

/* The verdict of a plain apply or commit (command 0 of the set) other than OK and ALREADY: a
 * refusal's error code and message; FD_ERR_REDIS for a reply of the wrong shape; FD_OK for
 * STAGED, with *staged (the id, heap) and *part set. */
static fd_err_t refusal(fd_store_t *st, const fd_batch_t *b, const redisReply *r, char **staged,
                        const fd_batch_part_t **part) {
    const char *verdict = r->element[0]->str;
    const fd_batch_part_t *p = NULL;
    if (r->elements >= 2 && r->element[1]->type == REDIS_REPLY_INTEGER &&
        r->element[1]->integer >= 1 && (size_t)r->element[1]->integer <= fd_batch_nparts(b))
        p = fd_batch_part_at(b, (size_t)r->element[1]->integer - 1);
    if (strcmp(verdict, "FENCED") == 0 && p != NULL) {
        fd_redis_set_error(st->r,
                           "apply: %s/%" PRId32 " is fenced: token '%s' is no longer current",
                           p->topic, p->partition, p->token);
        return FD_ERR_FENCED;
    }
    if (strcmp(verdict, "GAP") == 0 && p != NULL && r->elements >= 3 &&
        r->element[2]->type == REDIS_REPLY_STRING) {
        fd_redis_set_error(st->r,
                           "apply: %s/%" PRId32
                           ": stored next offset is '%s', the batch starts at %" PRId64,
                           p->topic, p->partition,
                           r->element[2]->len > 0 ? r->element[2]->str : "(none)", p->from);
        return FD_ERR_GAP;
    }
    if (strcmp(verdict, "EXISTS") == 0 && r->elements >= 2 &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        fd_redis_set_error(
            st->r,
            "apply: %s exists, but the batch folded that deal as new (its first event seen "
            "was a deal.created)",
            r->element[1]->str);
        return FD_ERR_CONFLICT;
    }
    if (strcmp(verdict, "STAGED") == 0 && p != NULL && r->elements >= 3 &&
        r->element[2]->type == REDIS_REPLY_STRING) {
        fd_redis_set_error(st->r, "apply: %s/%" PRId32 " has staged batch %s to finish first",
                           p->topic, p->partition, r->element[2]->str);
        *staged = strndup(r->element[2]->str, r->element[2]->len);
        *part = p;
        return *staged != NULL ? FD_OK : FD_ERR_NOMEM;
    }
    fd_redis_set_error(st->r, "apply: unexpected answer '%s'", verdict);
    return FD_ERR_REDIS;
}

fd_err_t fd_store_apply_wait(fd_store_t *st, const fd_batch_t *b, bool *already) {
    *already = false;
    if (st->fly.n == 0) {
        fd_redis_set_error(st->r, "apply: nothing in flight");
        return FD_ERR_INVAL;
    }
    int noscript = 0, staged_rounds = 0;
    fd_err_t err;
    while (st->got < st->fly.n) {
        /* the connection was lost: send again what was not answered */
        if (st->nstash == 0 && (!st->sent || st->due == 0 || !fd_redis_connected(st->r))) {
            st->sent = false;
            if ((err = push_apply(st)) != FD_OK) return err;
        }
        redisReply *r = NULL;
        if ((err = next_reply(st, &r)) != FD_OK) return err; /* kept: call again */
        if (r->type == REDIS_REPLY_ERROR) {
            if (strncmp(r->str, "NOSCRIPT", 8) == 0 && noscript++ < 2) {
                /* Redis lost the scripts (restart, SCRIPT FLUSH): a new connection loads them */
                freeReplyObject(r);
                drop_connection(st);
                continue;
            }
            /* refused before any write (malformed input or stored value, OOM, BUSY,
             * READONLY...): nothing of this command was applied */
            fd_redis_set_error(st->r, "apply: %s", r->str);
            err = reply_error_code(r->str);
            freeReplyObject(r);
            if (err != FD_ERR_REDIS)
                end_apply(st); /* final */
            else if (st->due > 0 || st->nstash > 0)
                drop_connection(st); /* the answers of the rest are out of step: resend */
            else
                st->sent = false; /* resend from this one */
            return err;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
            r->element[0]->type != REDIS_REPLY_STRING) {
            drop_connection(st);
            return fd_redis_fail(st->r, "apply", r); /* dropped; the rest is kept for a retry */
        }
        const char *verdict = r->element[0]->str;
        if (strcmp(verdict, "OK") == 0 || strcmp(verdict, "ALREADY") == 0) {
            if (st->got == 0 && verdict[0] == 'A') st->fly_already = true;
            freeReplyObject(r);
            st->got++;
            continue;
        }
        char *staged = NULL;
        const fd_batch_part_t *p = NULL;
        err = st->got == 0 ? refusal(st, b, r, &staged, &p) : FD_ERR_REDIS;
        if (err == FD_ERR_REDIS) {
            drop_connection(st);
            return fd_redis_fail(st->r, "apply", r); /* kept for a retry on a new connection */
        }
        freeReplyObject(r);
        if (staged == NULL) {
            end_apply(st); /* refused: nothing was applied */
            return err;
        }
        /* STAGED: the partition has a staged batch to finish first; the chunks sent after
         * this refused command answer ALREADY (no record of this batch), unread */
        drop_connection(st);
        if (staged_rounds++ > 0) {
            free(staged);
            return FD_ERR_REDIS; /* the message says why; the caller retries */
        }
        char key[FD_KEY_MAX + 1];
        fd_keys_part(key, sizeof key, st->prefix, p->topic, p->partition);
        err = finish_staged(st, staged, key, BY_REFUSAL);
        free(staged);
        if (err == FD_ERR_PARSE) end_apply(st);
        if (err != FD_OK) return err;
        st->got = 0; /* resend it all */
    }
    /* A commit answered ALREADY: an earlier attempt committed this batch. When that attempt was
     * built separately (fd_store_apply called again), its record has another stamp and refused
     * these chunks: finish it from the record. */
    if (st->fly_already && st->fly.id[0] != '\0') {
        err = finish_staged(st, st->fly.id, NULL, BY_RETRY);
        if (err == FD_ERR_PARSE) end_apply(st);
        if (err != FD_OK) return err;
    }
    *already = st->fly_already;
    end_apply(st); /* answered: nothing in flight any more */
    return FD_OK;
}

fd_err_t fd_store_apply(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc,
                        bool *already) {
    *already = false;
    fd_err_t err = fd_store_apply_send(st, b, dc);
    if (err != FD_OK) return err;
    err = fd_store_apply_wait(st, b, already);
    /* the synchronous form builds the command again on the next call */
    if (err == FD_ERR_REDIS) fd_store_apply_abandon(st);
    return err;
}

fd_err_t fd_store_apply_interrupted(fd_store_t *st, const fd_batch_t *b, const fd_dealcache_t *dc,
                                    size_t ncmds) {
    if (busy(st, "apply")) return FD_ERR_INVAL;
    fd_err_t err = fd_store_apply_prepare(st, b, dc);
    if (err != FD_OK) return err;
    cmdset_t some = {0};
    size_t n = ncmds < st->prep.n ? ncmds : st->prep.n, applied = 0;
    if (n > 0) err = set_add(&some, st->prep.buf, st->prep.off[n]);
    if (err == FD_OK) some.n = n;
    if (err == FD_OK && n > 0) err = run_set(st, &some, "apply (interrupted)", &applied);
    if (err == FD_OK && applied != n) {
        fd_redis_set_error(st->r, "apply (interrupted): %zu of %zu commands applied", applied, n);
        err = FD_ERR_REDIS;
    }
    set_free(&some);
    set_free(&st->prep);
    return err;
}

fd_err_t fd_store_heartbeat(fd_store_t *st, const char *instance, int64_t interval_ms,
                            const char *parts) {
    if (busy(st, "heartbeat")) return FD_ERR_INVAL;
    char changes[FD_KEY_MAX + 1], feed[FD_KEY_MAX + 1], maxlen[24], interval[24];
    fd_keys_single(changes, sizeof changes, st->prefix, FD_KEY_CHANGES);
    fd_keys_single(feed, sizeof feed, st->prefix, FD_KEY_FEED);
    snprintf(maxlen, sizeof maxlen, "%" PRId64, st->changes_maxlen);
    snprintf(interval, sizeof interval, "%" PRId64, interval_ms);
    const char *keys[2] = {changes, feed}, *args[4] = {maxlen, instance, interval, parts};
    redisReply *r = NULL;
    fd_err_t err = fd_redis_eval(st->r, st->heartbeat_id, 2, keys, NULL, 4, args, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type == REDIS_REPLY_ERROR) {
        fd_redis_set_error(st->r, "heartbeat: %s", r->str);
        err = reply_error_code(r->str);
    } else if (r->type != REDIS_REPLY_STRING) {
        return fd_redis_fail(st->r, "heartbeat", r);
    }
    freeReplyObject(r);
    return err;
}

fd_err_t fd_store_read_hash(fd_store_t *st, const char *key, char ***fields, char ***values,
                            size_t *n) {
    *fields = *values = NULL;
    *n = 0;
    if (busy(st, "HGETALL")) return FD_ERR_INVAL;
    /* key is a metric key after "<prefix>:" (fd_keys_metric_suffix) */
    char full[FD_KEY_MAX + 1];
    if (fd_keys_single(full, sizeof full, st->prefix, key) >= sizeof full) {
        fd_redis_set_error(st->r, "HGETALL %s:%s: key too long", st->prefix, key);
        return FD_ERR_RANGE;
    }
    const char *argv[] = {"HGETALL", full};
    redisReply *r = NULL;
    fd_err_t err = fd_redis_command(st->r, "HGETALL", 2, argv, NULL, &r);
    if (err != FD_OK) return err;
    if (r->type == REDIS_REPLY_ERROR) {
        fd_redis_set_error(st->r, "HGETALL %s: %s", full, r->str);
        freeReplyObject(r);
        return FD_ERR_REDIS;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return fd_redis_fail(st->r, "HGETALL", r);
    size_t count = r->elements / 2;
    if (count == 0) {
        freeReplyObject(r);
        return FD_ERR_NOTFOUND;
    }
    char **f = calloc(count, sizeof *f), **v = calloc(count, sizeof *v);
    if (f == NULL || v == NULL) goto nomem;
    for (size_t i = 0; i < count; i++) {
        const redisReply *kf = r->element[2 * i], *kv = r->element[2 * i + 1];
        f[i] = strndup(kf->str != NULL ? kf->str : "", kf->len);
        v[i] = strndup(kv->str != NULL ? kv->str : "", kv->len);
        if (f[i] == NULL || v[i] == NULL) goto nomem;
    }
    freeReplyObject(r);
    *fields = f;
    *values = v;
    *n = count;
    return FD_OK;
nomem:
    freeReplyObject(r);
    if (f != NULL && v != NULL)
        fd_store_free_fields(f, v, count);
    else {
        free(f);
        free(v);
    }
    return FD_ERR_NOMEM;
}

void fd_store_free_fields(char **fields, char **values, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (fields != NULL) free(fields[i]);
        if (values != NULL) free(values[i]);
    }
    free(fields);
    free(values);
}
