// SPDX-License-Identifier: MIT
// funnelctl watch rep <id> | team <id> | org: the reference reader of the change feed
// <p>:changes (docs/feeds.md). It follows one metrics hash with the resume protocol, prints its
// funnel each time it changes, and tells from the heartbeats whether the feed is live, idle,
// behind or stalled (a tool).
//
// The protocol, as a dashboard would run it:
// 1. Snapshot: in one MULTI/EXEC, the hash, the stream's last entry (its id is the position
//    held; "0-0" when the stream is empty), the watermark of <p>:feed and Redis's clock.
// 2. Follow: XREAD BLOCK from the position held. A `change` entry whose keys list the hash's
//    suffix, or a `bulk` entry, makes it read the hash again (printed when it differs);
//    `heartbeat` entries say each instance's interval and lag.
// 3. Loss: after each XREAD and before the position moves, the stream's first and last ids. A
//    first id above the position (the entries after it may have been trimmed), a last id below
//    it (the stream was recreated: Redis lost data) or an empty stream while holding an entry
//    mean the entries cannot tell what changed: a new snapshot. So does every reconnect.
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "ctl.h"
#include "io/keys.h"

#define READ_COUNT          "100" /* entries per XREAD */
#define BLOCK_MAX_MS        1000  /* the longest XREAD BLOCK: the status is looked at after it */
#define BACKOFF_MIN_MS      100   /* reconnect: 100 ms doubling to 2 s, until stopped */
#define BACKOFF_MAX_MS      2000
#define DEFAULT_INTERVAL_MS 2000 /* the heartbeat interval assumed before the first heartbeat */
#define STALL_INTERVALS     3    /* intervals without an entry that make a feed stalled */
#define MAX_INSTANCES       64   /* instances whose last heartbeat is kept */

/* A stream entry id: <ms>-<seq>. */
typedef struct {
    uint64_t ms, seq;
} sid_t;

typedef enum {
    ST_NONE, /* nothing printed yet */
    ST_LIVE,
    ST_IDLE,
    ST_BEHIND,
    ST_STALLED,
    ST_DISCONNECTED,
} status_t;

static const char *const status_names[] = {"none",   "live",    "idle",
                                           "behind", "stalled", "disconnected"};

/* Why a snapshot was taken: the token of --json, the words of the text. */
typedef enum {
    SNAP_START,
    SNAP_RECONNECT,
    SNAP_TRIMMED,
    SNAP_RECREATED,
    SNAP_EMPTIED,
    SNAP_BEGAN,
    SNAP_WINDOW
} snap_t;

static const struct {
    const char *token, *words;
} snap_reasons[] = {
    {"start", "start"},
    {"reconnect", "reconnected to Redis"},
    {"trimmed", "the stream was trimmed past the position held"},
    {"recreated", "the stream ends before the position held: Redis lost data"},
    {"emptied", "the stream is empty: trimmed or recreated"},
    {"began", "the stream began after a snapshot that found none (entries may be trimmed)"},
    {"window", "the day changed"},
};

/* What a funneld instance said in its last heartbeat. */
typedef struct {
    char *name;
    int64_t seen_ms, interval_ms;
    bool lag; /* a partition reported a lag > 0 */
} instance_t;

typedef struct {
    ctl_t *ctl;
    scope_arg_t sa;
    bool follow_day; /* no --window: today's window, followed across midnight */
    char window[FD_WIN_ID_MAX];
    char *key, *suffix; /* the hash's key, and its suffix as the feed names it */
    char *stream, *feed;
    redisReply *h; /* the funnel shown: an HGETALL reply, NULL when the hash does not exist */
    bool have_snapshot, connected;
    sid_t held; /* the last entry read; 0-0: the stream's start */
    bool stream_empty;
    /* times in ms on Redis's clock, the clock of the stream ids; 0 = none yet */
    int64_t offset_ms;    /* Redis's clock minus the monotonic clock, at the last snapshot */
    int64_t snap_ms;      /* the last snapshot */
    int64_t entry_ms;     /* the last entry of any kind */
    int64_t change_ms;    /* the last change or bulk entry */
    int64_t updated_ms;   /* when the funnel shown was last found changed */
    int64_t watermark_ms; /* the feed's event-time watermark (ms since the epoch) */
    int64_t interval_ms;  /* the last heartbeat's interval */
    instance_t inst[MAX_INSTANCES];
    size_t ninst;
    status_t status, shown; /* now, and in the last output */
    char error[600];        /* why disconnected */
    bool tty;
    unsigned long blocks; /* funnels printed (text, not a terminal) */
} watch_t;

/* ---- ids, clocks, numbers ---- */

static bool sid_parse(const char *s, size_t len, sid_t *out) {
    char buf[48];
    if (len == 0 || len >= sizeof buf) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *dash = strchr(buf, '-'), *end;
    if (dash == NULL || dash == buf || strspn(buf, "0123456789") != (size_t)(dash - buf) ||
        dash[1] == '\0' || strspn(dash + 1, "0123456789") != strlen(dash + 1))
        return false;
    errno = 0;
    sid_t id = {strtoull(buf, &end, 10), strtoull(dash + 1, &end, 10)};
    if (errno) return false;
    *out = id;
    return true;
}

static int sid_cmp(sid_t a, sid_t b) {
    if (a.ms != b.ms) return a.ms < b.ms ? -1 : 1;
    return a.seq < b.seq ? -1 : a.seq > b.seq;
}

static void sid_format(sid_t id, char *buf, size_t size) {
    snprintf(buf, size, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
}

/* Now on Redis's clock (as of the last snapshot's reading of it). */
static int64_t now_ms(const watch_t *w) {
    return fd_clock_mono_ms() + w->offset_ms;
}

/* A non-negative decimal of at most 18 digits; false otherwise (*out untouched). */
static bool parse_ms(const char *s, int64_t *out) {
    if (s == NULL || *s == '\0' || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
        return false;
    *out = strtoll(s, NULL, 10);
    return true;
}

/* ms since the epoch as UTC RFC 3339 with milliseconds ("2026-11-22T10:00:00.123Z"). */
static void format_utc(int64_t ms, char *buf, size_t size) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03dZ", day, (int)(ms % 1000));
}

/* Whether two HGETALL replies (NULL: no hash) hold the same fields and values. */
static bool same_hash(const redisReply *a, const redisReply *b) {
    size_t na = a ? a->elements : 0, nb = b ? b->elements : 0;
    if (na != nb) return false;
    for (size_t i = 0; i + 1 < nb; i += 2) {
        const char *v = hget(a, b->element[i]->str);
        if (v == NULL || strcmp(v, b->element[i + 1]->str) != 0) return false;
    }
    return true;
}

/* ---- the status ---- */

static int64_t max64(int64_t a, int64_t b) {
    return a > b ? a : b;
}

/* Whether any instance whose last heartbeat is recent reports a lag. */
static bool lagging(const watch_t *w, int64_t now) {
    for (size_t i = 0; i < w->ninst; i++)
        if (w->inst[i].lag && now - w->inst[i].seen_ms < STALL_INTERVALS * w->inst[i].interval_ms)
            return true;
    return false;
}

/* The rules of docs/funnelctl.md: stalled after 3 heartbeat intervals without any entry (since
 * the snapshot when the stream held none), or with a lag and no change for 3 intervals; behind
 * with a lag and changes; live with a change within 3 intervals; idle otherwise. */
static status_t compute_status(const watch_t *w) {
    if (!w->connected) return ST_DISCONNECTED;
    int64_t now = now_ms(w), span = STALL_INTERVALS * w->interval_ms;
    int64_t anchor = w->entry_ms > 0 ? w->entry_ms : w->snap_ms;
    if (now - anchor >= span) return ST_STALLED;
    if (lagging(w, now))
        return now - max64(w->change_ms, w->snap_ms) < span ? ST_BEHIND : ST_STALLED;
    if (w->change_ms > 0 && now - w->change_ms < span) return ST_LIVE;
    return ST_IDLE;
}

/* How long XREAD may block: until the status can change by time alone, at most BLOCK_MAX_MS
 * and half of redis.timeout_ms (the command timeout must not cut a blocking read short). */
static int64_t block_ms(const watch_t *w) {
    int64_t limit = BLOCK_MAX_MS, half = w->ctl->cfg.redis_timeout_ms / 2;
    if (half < limit) limit = half > 0 ? half : 1;
    int64_t now = now_ms(w), span = STALL_INTERVALS * w->interval_ms, next = now + limit;
    int64_t at[3] = {(w->entry_ms > 0 ? w->entry_ms : w->snap_ms) + span, w->change_ms + span,
                     max64(w->change_ms, w->snap_ms) + span};
    for (size_t i = 0; i < 3; i++)
        if (at[i] > now && at[i] < next) next = at[i];
    for (size_t i = 0; i < w->ninst; i++) {
        int64_t t = w->inst[i].seen_ms + STALL_INTERVALS * w->inst[i].interval_ms;
        if (t > now && t < next) next = t;
    }
    int64_t ms = next - now + 5; /* just past the deadline */
    return ms < 10 ? (limit < 10 ? limit : 10) : ms > limit ? limit : ms;
}

/* ---- output ---- */

static void status_line(const watch_t *w, FILE *out, const char *note) {
    char wm[40] = "none", up[40] = "-", id[48];
    if (w->watermark_ms > 0) format_utc(w->watermark_ms, wm, sizeof wm);
    if (w->updated_ms > 0) format_utc(w->updated_ms, up, sizeof up);
    sid_format(w->held, id, sizeof id);
    fprintf(out, "status %s, watermark %s, updated %s, stream %s", status_names[w->status], wm, up,
            w->have_snapshot ? id : "-");
    if (w->status == ST_DISCONNECTED)
        fprintf(out, " (%s; retrying)", w->error);
    else if (note)
        fprintf(out, " (%s)", note);
    else if (w->status == ST_STALLED && w->stream_empty)
        fprintf(out, " (%s is empty: is funneld running with feeds.changes on?)", w->stream);
    fputc('\n', out);
}

/* Prints an event: "snapshot" (why: snap), "change" (id: the entry that named the hash) or
 * "status". FD_ERR_IO (reported) when stdout cannot be written. */
static fd_err_t emit(watch_t *w, const char *event, const sid_t *id, const snap_t *snap) {
    FILE *out = stdout;
    bool status_only = strcmp(event, "status") == 0;
    w->shown = w->status;
    if (w->ctl->json) {
        char sid[48], num[32];
        sid_format(id ? *id : w->held, sid, sizeof sid);
        fprintf(out, "{\"event\": \"%s\", \"key\": ", event);
        json_string(out, w->suffix);
        if (w->have_snapshot)
            fprintf(out, ", \"stream_id\": \"%s\"", sid);
        else
            fputs(", \"stream_id\": null", out);
        fprintf(out, ", \"status\": \"%s\", \"watermark_ms\": %" PRId64, status_names[w->status],
                w->watermark_ms);
        snprintf(num, sizeof num, "%" PRId64, w->updated_ms);
        fprintf(out, ", \"updated_ms\": %s", w->updated_ms > 0 ? num : "null");
        if (snap) fprintf(out, ", \"reason\": \"%s\"", snap_reasons[*snap].token);
        if (w->status == ST_DISCONNECTED) {
            fputs(", \"error\": ", out);
            json_string(out, w->error);
        }
        if (!status_only) {
            fputs(", \"fields\": ", out);
            hash_print_json_text(out, w->ctl->fn, w->h);
        }
        fputs("}\n", out);
    } else {
        const char *note = snap ? snap_reasons[*snap].words : NULL;
        char buf[128];
        if (snap) {
            snprintf(buf, sizeof buf, "snapshot: %s", note);
            note = buf;
        }
        if (w->tty) fputs("\033[H\033[2J", out);
        if (w->have_snapshot && (w->tty || !status_only)) {
            if (!w->tty && w->blocks++ > 0) fputc('\n', out);
            show_print_funnel(out, w->ctl, &w->sa, w->window, w->h, NULL, false);
            fputc('\n', out);
        }
        status_line(w, out, note);
    }
    if (fflush(out) != 0 || ferror(out))
        return ctl_fail(FD_ERR_IO, "cannot write the output: %s", strerror(errno));
    return FD_OK;
}

/* ---- Redis ---- */

/* One command of a pipeline: what names it in messages. */
typedef struct {
    const char *what;
    int argc;
    const char *argv[10];
} cmd_t;

/* An error reply waiting can cure (a restarted Redis loading its data, a busy script). */
static bool transient(const char *error) {
    static const char *const cured[] = {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN"};
    for (size_t i = 0; i < sizeof cured / sizeof *cured; i++)
        if (strncmp(error, cured[i], strlen(cured[i])) == 0) return true;
    return false;
}

/* Judges an error reply to what: transient (FD_ERR_REDIS, w->error, the connection dropped) or
 * not (reported: FD_ERR_FATAL). */
static fd_err_t error_reply(watch_t *w, const char *what, const char *error) {
    if (transient(error)) {
        snprintf(w->error, sizeof w->error, "%s: %s", what, error);
        fd_redis_disconnect(w->ctl->redis);
        return FD_ERR_REDIS;
    }
    const char *hint = strncmp(error, "NOAUTH", 6) == 0
                           ? " (set redis.password, and redis.user for an ACL user)"
                       : strncmp(error, "NOPERM", 6) == 0
                           ? " (watch runs MULTI, EXEC, HGETALL, HGET, TIME, XREAD, XRANGE and "
                             "XREVRANGE on the prefix's keys)"
                           : "";
    return ctl_fail(FD_ERR_FATAL, "Redis at %s: %s: %s%s", fd_redis_address(w->ctl->redis), what,
                    error, hint);
}

static void free_replies(redisReply **rep, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (rep[i]) freeReplyObject(rep[i]);
        rep[i] = NULL;
    }
}

/* Sends n commands in one write and reads their n replies into rep (the caller frees them).
 * FD_OK when no reply is an error reply; FD_ERR_REDIS when the connection failed or Redis
 * answered a transient error (w->error set; no replies kept); FD_ERR_FATAL (reported) for any
 * other error reply. */
static fd_err_t pipeline(watch_t *w, cmd_t *cmds, size_t n, redisReply **rep) {
    fd_redis_t *r = w->ctl->redis;
    fd_err_t err = FD_OK;
    for (size_t i = 0; i < n; i++)
        rep[i] = NULL;
    for (size_t i = 0; i < n && err == FD_OK; i++)
        err = fd_redis_append(r, cmds[i].what, cmds[i].argc, cmds[i].argv, NULL);
    for (size_t i = 0; i < n && err == FD_OK; i++)
        err = fd_redis_reply(r, cmds[i].what, &rep[i]);
    if (err != FD_OK) {
        snprintf(w->error, sizeof w->error, "%s", fd_redis_errstr(r));
        free_replies(rep, n);
        return FD_ERR_REDIS;
    }
    for (size_t i = 0; i < n && err == FD_OK; i++)
        if (rep[i]->type == REDIS_REPLY_ERROR) err = error_reply(w, cmds[i].what, rep[i]->str);
    if (err != FD_OK) free_replies(rep, n);
    return err;
}

/* A reply of an unexpected shape: Redis is not what funnelctl expects (reported). */
static fd_err_t bad_reply(watch_t *w, const char *what) {
    return ctl_fail(FD_ERR_FATAL, "Redis at %s: %s: unexpected reply",
                    fd_redis_address(w->ctl->redis), what);
}

/* Whether r is a stream entry: [id, [field, value, ...]] with a valid id (into *id). */
static bool entry_shape(const redisReply *r, sid_t *id) {
    return r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
           r->element[0]->type == REDIS_REPLY_STRING &&
           (r->element[1]->type == REDIS_REPLY_ARRAY || r->element[1]->type == REDIS_REPLY_NIL) &&
           (r->element[1]->type == REDIS_REPLY_NIL || r->element[1]->elements % 2 == 0) &&
           sid_parse(r->element[0]->str, r->element[0]->len, id);
}

/* The id of the one entry of an XRANGE/XREVRANGE ... COUNT 1 reply into *id; *any false when
 * the stream holds none. false when the reply has another shape. */
static bool range_one(const redisReply *r, sid_t *id, bool *any) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements > 1) return false;
    *any = r->elements == 1;
    return !*any || entry_shape(r->element[0], id);
}

/* Whether the "\n"-joined list holds item. */
static bool list_has(const char *list, const char *item) {
    size_t n = strlen(item);
    for (const char *p = list;;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, item, n) == 0) return true;
        if (end == NULL) return false;
        p = end + 1;
    }
}

/* A heartbeat: the instance's interval and whether a partition of its reports a lag > 0 (parts:
 * <topic>:<partition>:<next>:<lag> lines, lag empty when unknown). */
static void note_heartbeat(watch_t *w, const redisReply *f, int64_t at) {
    const char *name = hget_or(f, "instance", ""), *parts = hget_or(f, "parts", "");
    int64_t interval = DEFAULT_INTERVAL_MS;
    if (!parse_ms(hget(f, "interval_ms"), &interval) || interval <= 0 || interval > 86400000)
        interval = DEFAULT_INTERVAL_MS;
    bool lag = false;
    for (const char *p = parts; *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = NULL;
        for (const char *c = p; c < p + len; c++)
            if (*c == ':') colon = c;
        if (colon && colon + 1 < p + len) {
            size_t digits = (size_t)(p + len - colon - 1);
            bool all_digits = true, nonzero = false;
            for (const char *c = colon + 1; c < p + len; c++) {
                if (*c < '0' || *c > '9') all_digits = false;
                if (*c != '0') nonzero = true;
            }
            if (all_digits && digits > 0 && nonzero) lag = true;
        }
        p = end ? end + 1 : p + len;
    }
    w->interval_ms = interval;
    size_t i = 0;
    while (i < w->ninst && strcmp(w->inst[i].name, name) != 0)
        i++;
    if (i == w->ninst) {
        if (w->ninst == MAX_INSTANCES) { /* forget the instance heard from longest ago */
            i = 0;
            for (size_t k = 1; k < w->ninst; k++)
                if (w->inst[k].seen_ms < w->inst[i].seen_ms) i = k;
            free(w->inst[i].name);
        } else {
            w->ninst++;
        }
        w->inst[i].name = xstrdup(name);
    }
    w->inst[i].seen_ms = at;
    w->inst[i].interval_ms = interval;
    w->inst[i].lag = lag;
}

/* Takes in one entry (shape checked): the times, the watermark, the heartbeats. Whether it
 * names the hash shown (a change listing its suffix, or a bulk entry). */
static bool note_entry(watch_t *w, const redisReply *e, sid_t id) {
    const redisReply *f = e->element[1]->type == REDIS_REPLY_ARRAY ? e->element[1] : NULL;
    const char *kind = hget_or(f, "kind", "");
    int64_t at = (int64_t)id.ms;
    w->entry_ms = at;
    parse_ms(hget(f, "watermark"), &w->watermark_ms);
    if (strcmp(kind, "change") == 0) {
        w->change_ms = at;
        return list_has(hget_or(f, "keys", ""), w->suffix);
    }
    if (strcmp(kind, "bulk") == 0) {
        w->change_ms = at;
        return true;
    }
    if (strcmp(kind, "heartbeat") == 0) note_heartbeat(w, f, at);
    return false;
}

/* Replaces the funnel shown with h (taken); whether it differed. */
static bool take_hash(watch_t *w, redisReply *h) {
    if (h != NULL && h->elements == 0) {
        freeReplyObject(h);
        h = NULL;
    }
    bool differs = !same_hash(w->h, h);
    if (w->h) freeReplyObject(w->h);
    w->h = h;
    return differs;
}

/* Step 1: the snapshot, then prints it. FD_ERR_REDIS (w->error), FD_ERR_FATAL, FD_ERR_IO. */
static fd_err_t snapshot(watch_t *w, snap_t why) {
    char hgetall[FD_KEY_MAX + 16], xrevrange[FD_KEY_MAX + 16], hget_wm[FD_KEY_MAX + 16];
    snprintf(hgetall, sizeof hgetall, "HGETALL %s", w->key);
    snprintf(xrevrange, sizeof xrevrange, "XREVRANGE %s", w->stream);
    snprintf(hget_wm, sizeof hget_wm, "HGET %s watermark", w->feed);
    cmd_t cmds[] = {
        {"MULTI", 1, {"MULTI"}},
        {hgetall, 2, {"HGETALL", w->key}},
        {xrevrange, 6, {"XREVRANGE", w->stream, "+", "-", "COUNT", "1"}},
        {hget_wm, 3, {"HGET", w->feed, "watermark"}},
        {"TIME", 1, {"TIME"}},
        {"EXEC", 1, {"EXEC"}},
    };
    redisReply *rep[6];
    fd_err_t err = pipeline(w, cmds, 6, rep);
    if (err != FD_OK) return err;
    int64_t mono = fd_clock_mono_ms();
    redisReply *x = rep[5];
    if (x->type != REDIS_REPLY_ARRAY || x->elements != 4) {
        free_replies(rep, 6);
        return bad_reply(w, "EXEC");
    }
    for (size_t i = 0; i < 4; i++)
        if (x->element[i]->type == REDIS_REPLY_ERROR) {
            err = error_reply(w, cmds[i + 1].what, x->element[i]->str);
            free_replies(rep, 6);
            return err;
        }
    redisReply *h = x->element[0], *last = x->element[1], *wm = x->element[2], *tm = x->element[3];
    sid_t id = {0, 0};
    bool any = false;
    if (h->type != REDIS_REPLY_ARRAY || h->elements % 2 || !range_one(last, &id, &any) ||
        (wm->type != REDIS_REPLY_STRING && wm->type != REDIS_REPLY_NIL) ||
        tm->type != REDIS_REPLY_ARRAY || tm->elements != 2 ||
        tm->element[0]->type != REDIS_REPLY_STRING || tm->element[1]->type != REDIS_REPLY_STRING) {
        free_replies(rep, 6);
        return bad_reply(w, "MULTI/EXEC snapshot");
    }
    int64_t sec = 0, usec = 0;
    parse_ms(tm->element[0]->str, &sec);
    parse_ms(tm->element[1]->str, &usec);
    w->snap_ms = sec * 1000 + usec / 1000;
    w->offset_ms = w->snap_ms - mono;
    w->held = id;
    w->stream_empty = !any;
    if (any) note_entry(w, last->element[0], id);
    if (wm->type == REDIS_REPLY_STRING) parse_ms(wm->str, &w->watermark_ms);
    x->element[0] = NULL; /* taken: freeReplyObject skips NULL elements */
    /* a change found by a new snapshot happened before it: its time is when it was seen */
    if (take_hash(w, h) && w->have_snapshot) w->updated_ms = w->snap_ms;
    free_replies(rep, 6);
    w->have_snapshot = true;
    w->connected = true;
    w->status = compute_status(w);
    return emit(w, "snapshot", NULL, &why);
}

/* Steps 2 and 3: one XREAD and what it brought. *resnap is set when a new snapshot is needed.
 * FD_ERR_REDIS (w->error), FD_ERR_FATAL, FD_ERR_IO. */
static fd_err_t follow(watch_t *w, bool *resnap, snap_t *why) {
    char held[48], block[24], xread[FD_KEY_MAX + 16], xrange[FD_KEY_MAX + 16],
        xrevrange[FD_KEY_MAX + 16];
    sid_format(w->held, held, sizeof held);
    snprintf(block, sizeof block, "%" PRId64, block_ms(w));
    snprintf(xread, sizeof xread, "XREAD %s", w->stream);
    snprintf(xrange, sizeof xrange, "XRANGE %s", w->stream);
    snprintf(xrevrange, sizeof xrevrange, "XREVRANGE %s", w->stream);
    cmd_t cmds[] = {
        {xread, 8, {"XREAD", "COUNT", READ_COUNT, "BLOCK", block, "STREAMS", w->stream, held}},
        {xrange, 6, {"XRANGE", w->stream, "-", "+", "COUNT", "1"}},
        {xrevrange, 6, {"XREVRANGE", w->stream, "+", "-", "COUNT", "1"}},
    };
    redisReply *rep[3];
    fd_err_t err = pipeline(w, cmds, 3, rep);
    if (err != FD_OK) return err;
    sid_t first, last;
    bool any_first = false, any_last = false;
    const redisReply *xr = rep[0];
    /* XREAD: nil when the block ended, else [[stream, [entry, ...]]] */
    bool xr_ok = xr->type == REDIS_REPLY_NIL ||
                 (xr->type == REDIS_REPLY_ARRAY && xr->elements == 1 &&
                  xr->element[0]->type == REDIS_REPLY_ARRAY && xr->element[0]->elements == 2 &&
                  xr->element[0]->element[1]->type == REDIS_REPLY_ARRAY);
    if (!xr_ok || !range_one(rep[1], &first, &any_first) || !range_one(rep[2], &last, &any_last)) {
        free_replies(rep, 3);
        return bad_reply(w, xr_ok ? "XRANGE/XREVRANGE" : "XREAD");
    }
    w->stream_empty = !any_first;
    /* step 3, before the position moves: can the entries still tell what changed? A snapshot
     * that found no stream holds 0-0: once entries exist, some may have been trimmed already */
    if (w->held.ms == 0 && w->held.seq == 0 && any_first) {
        free_replies(rep, 3);
        *resnap = true;
        *why = SNAP_BEGAN;
        return FD_OK;
    }
    if (w->held.ms != 0 || w->held.seq != 0) {
        *resnap = true;
        if (!any_first)
            *why = SNAP_EMPTIED;
        else if (sid_cmp(first, w->held) > 0)
            *why = SNAP_TRIMMED;
        else if (sid_cmp(last, w->held) < 0)
            *why = SNAP_RECREATED;
        else
            *resnap = false;
        if (*resnap) {
            free_replies(rep, 3);
            return FD_OK;
        }
    }
    bool reread = false;
    sid_t named = {0, 0};
    const redisReply *entries = xr->type == REDIS_REPLY_NIL ? NULL : xr->element[0]->element[1];
    for (size_t i = 0; entries && i < entries->elements; i++) {
        sid_t id;
        if (!entry_shape(entries->element[i], &id)) {
            free_replies(rep, 3);
            return bad_reply(w, "XREAD");
        }
        if (note_entry(w, entries->element[i], id)) {
            reread = true;
            named = id;
        }
        w->held = id;
    }
    free_replies(rep, 3);
    if (!reread) return FD_OK;

    char hgetall[FD_KEY_MAX + 16];
    snprintf(hgetall, sizeof hgetall, "HGETALL %s", w->key);
    cmd_t get = {hgetall, 2, {"HGETALL", w->key}};
    redisReply *h;
    if ((err = pipeline(w, &get, 1, &h)) != FD_OK) return err;
    if (h->type != REDIS_REPLY_ARRAY || h->elements % 2) {
        freeReplyObject(h);
        return bad_reply(w, hgetall);
    }
    if (!take_hash(w, h)) return FD_OK;
    w->updated_ms = (int64_t)named.ms;
    w->status = compute_status(w);
    return emit(w, "change", &named, NULL);
}

/* ---- the command ---- */

/* The keys of the scope in w->window. */
static void set_keys(watch_t *w) {
    free(w->key);
    free(w->suffix);
    w->key = key_metric(w->ctl, w->sa.scope, w->window, w->sa.id);
    w->suffix = key_metric_suffix(w->sa.scope, w->window, w->sa.id);
}

fd_err_t cmd_watch(ctl_t *ctl) {
    watch_t w;
    memset(&w, 0, sizeof w);
    w.ctl = ctl;
    fd_err_t err = scope_parse(ctl, &w.sa);
    if (err != FD_OK) return err;
    w.tty = !ctl->json && isatty(STDOUT_FILENO);
    w.follow_day = ctl->window == NULL;
    w.interval_ms = DEFAULT_INTERVAL_MS;
    ctl_current_window(ctl, w.window, sizeof w.window);
    set_keys(&w);
    w.stream = key_single(ctl, FD_KEY_CHANGES);
    w.feed = key_single(ctl, FD_KEY_FEED);

    live_catch_signals();

    int64_t backoff = BACKOFF_MIN_MS;
    bool resnap = true;
    snap_t why = SNAP_START;
    while (!live_stopped()) {
        if (w.follow_day) {
            char today[FD_WIN_ID_MAX];
            ctl_current_window(ctl, today, sizeof today);
            if (strcmp(today, w.window) != 0) {
                snprintf(w.window, sizeof w.window, "%s", today);
                set_keys(&w);
                if (!resnap) why = SNAP_WINDOW;
                resnap = true;
            }
        }
        if (resnap) {
            err = redis_try_open(ctl);
            if (err == FD_ERR_REDIS && fd_redis_refused(ctl->redis)) {
                redis_report_connect(ctl);
                err = FD_ERR_FATAL;
            } else if (err == FD_ERR_REDIS) {
                snprintf(w.error, sizeof w.error, "%s", fd_redis_errstr(ctl->redis));
            } else if (err == FD_OK && (err = snapshot(&w, why)) == FD_OK) {
                resnap = false;
                backoff = BACKOFF_MIN_MS;
            }
        } else {
            err = follow(&w, &resnap, &why);
        }
        if (err == FD_ERR_REDIS) { /* Redis went away or is not ready: say so, retry */
            w.connected = false;
            w.status = compute_status(&w);
            if (w.status != w.shown && (err = emit(&w, "status", NULL, NULL)) != FD_OK) break;
            live_sleep((double)backoff / 1000);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            resnap = true;
            why = w.have_snapshot ? SNAP_RECONNECT : SNAP_START;
            err = FD_OK;
            continue;
        }
        if (err != FD_OK) break;
        w.status = compute_status(&w);
        if (w.status != w.shown && (err = emit(&w, "status", NULL, NULL)) != FD_OK) break;
    }

    for (size_t i = 0; i < w.ninst; i++)
        free(w.inst[i].name);
    if (w.h) freeReplyObject(w.h);
    free(w.key);
    free(w.suffix);
    free(w.stream);
    free(w.feed);
    return ctl_finish_output(err);
}
