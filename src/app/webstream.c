// SPDX-License-Identifier: MIT
// GET /api/v1/stream: server-sent events carrying the change feed's entries and the alert
// notifications, each with the position after it as its id, resumable with Last-Event-ID per
// docs/feeds.md's resume protocol; one Redis connection per client (layer 5).
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/web_internal.h"
#include "base/clock.h"
#include "base/log.h"

#define STREAM_BLOCK_MS 1000 /* XREAD BLOCK: stop and the status stay timely */
#define STREAM_COUNT    200  /* entries per XREAD */

typedef struct {
    fd_web_t *w;
    fd_redis_t *r;
    char held[2][48]; /* the last id taken of <p>:changes and <p>:alerts ("0-0": none) */
    char *buf;        /* pending output */
    size_t len, off, cap;
    bool started;
    char state[16]; /* the last status sent */
    int64_t sent_ms;
} sse_t;

static void sse_free(void *p) {
    sse_t *s = p;
    atomic_fetch_sub(&s->w->streams, 1);
    fd_redis_destroy(s->r);
    free(s->buf);
    free(s);
}

static void out(sse_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(sse_t *s, const char *fmt, ...) {
    for (int tries = 0; tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < s->cap - s->len) {
            s->len += (size_t)n;
            return;
        }
        size_t cap = s->cap * 2 + (size_t)n + 1;
        char *b = realloc(s->buf, cap);
        if (b == NULL) return;
        s->buf = b;
        s->cap = cap;
    }
}

/* One event: its id is the position after it. */
static void event(sse_t *s, const char *name, const char *data) {
    out(s, "id: %s,%s\nevent: %s\ndata: %s\n\n", s->held[0], s->held[1], name, data);
}

static void event_json(sse_t *s, const char *name, cJSON *o) {
    char *t = cJSON_PrintUnformatted(o);
    if (t != NULL) event(s, name, t);
    free(t);
    cJSON_Delete(o);
}

/* Lines of text as a JSON array of strings (no entry for an empty text). */
static cJSON *lines(const char *text) {
    cJSON *a = cJSON_CreateArray();
    const char *p = text != NULL ? text : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char *l = strndup(p, len);
        if (l != NULL) cJSON_AddItemToArray(a, cJSON_CreateString(l));
        free(l);
        p += len;
        if (*p == '\n') p++;
    }
    return a;
}

static void add_ms(cJSON *o, const char *name, const char *v) {
    if (v != NULL && *v != '\0')
        cJSON_AddNumberToObject(o, name, strtod(v, NULL));
    else
        cJSON_AddNullToObject(o, name);
}

static void entry_event(sse_t *s, const fd_webentry_t *e) {
    snprintf(s->held[e->stream], sizeof s->held[0], "%s", e->id);
    const fd_webhash_t *f = &e->f;
    if (e->stream == 1) {
        const char *js = fd_webhash_get(f, "json");
        cJSON *j = js != NULL ? cJSON_Parse(js) : NULL;
        if (j != NULL)
            event_json(s, "alert", j);
        else
            event(s, "alert", "null");
        return;
    }
    const char *kind = fd_webhash_get(f, "kind");
    if (kind == NULL) return;
    cJSON *o = cJSON_CreateObject();
    if (strcmp(kind, "change") == 0 || strcmp(kind, "bulk") == 0) {
        cJSON_AddStringToObject(o, "kind", kind);
        add_ms(o, "watermark", fd_webhash_get(f, "watermark"));
        add_ms(o, "n", fd_webhash_get(f, "n"));
        if (kind[0] == 'c') cJSON_AddItemToObject(o, "keys", lines(fd_webhash_get(f, "keys")));
        cJSON_AddItemToObject(o, "parts", lines(fd_webhash_get(f, "parts")));
        event_json(s, kind, o);
    } else if (strcmp(kind, "heartbeat") == 0) {
        const char *inst = fd_webhash_get(f, "instance");
        cJSON_AddStringToObject(o, "instance", inst != NULL ? inst : "");
        add_ms(o, "interval_ms", fd_webhash_get(f, "interval_ms"));
        add_ms(o, "watermark", fd_webhash_get(f, "watermark"));
        int64_t sum = 0;
        bool any = false, lagging = false;
        cJSON_AddItemToObject(
            o, "parts", web_heartbeat_parts(fd_webhash_get(f, "parts"), &sum, &any, &lagging));
        event_json(s, "heartbeat", o);
    } else {
        cJSON_Delete(o); /* a kind of a later version: skipped */
    }
}

/* A status event when the state changed (always at the start). */
static fd_err_t status(sse_t *s) {
    char pos[FD_WEB_POS_MAX], *json = NULL;
    const char *state = NULL;
    snprintf(pos, sizeof pos, "%s,%s", s->held[0], s->held[1]);
    fd_err_t err = web_status_json(s->w, s->r, pos, false, &json, &state);
    if (err != FD_OK) return err;
    if (strcmp(state, s->state) != 0) {
        event(s, "status", json);
        snprintf(s->state, sizeof s->state, "%s", state);
    }
    free(json);
    return FD_OK;
}

/* Why the stream no longer holds what follows h ("" when it does): docs/feeds.md step 3. A
 * position of 0-0 (the stream was empty) takes the stream from its start. */
static const char *lost(const char *h, const char *first, const char *last) {
    if (strcmp(h, "0-0") == 0) return "";
    if (last[0] == '\0' || fd_webread_cmp_id(last, h) < 0) return "recreated";
    if (fd_webread_cmp_id(first, h) > 0) return "trimmed";
    return "";
}

/* One round: XREAD, the position check, the events, the status. */
static fd_err_t round_trip(sse_t *s) {
    const char *after[2] = {s->held[0], s->held[1]};
    char h[2][48];
    memcpy(h, s->held, sizeof h);
    fd_webentry_t *e = NULL;
    size_t n = 0;
    int64_t block = STREAM_BLOCK_MS, half = s->w->cfg->redis_timeout_ms / 2;
    char prefix[FD_PREFIX_MAX];
    web_prefix(s->w, s->r, prefix); /* a switched pointer: the position check says "recreated" */
    if (half < block) block = half > 1 ? half : 1;
    fd_err_t err = fd_webread_follow(s->r, prefix, after, block, STREAM_COUNT, &e, &n);
    const char *why = "";
    char last[2][48] = {"", ""};
    for (int i = 0; err == FD_OK && i < 2; i++) {
        char first[48];
        err = fd_webread_bounds(s->r, prefix, i, first, last[i]);
        if (err == FD_OK && why[0] == '\0') why = lost(h[i], first, last[i]);
    }
    if (err != FD_OK) {
        fd_webentries_free(e, n);
        return err;
    }
    if (why[0] != '\0') {
        for (int i = 0; i < 2; i++)
            snprintf(s->held[i], sizeof s->held[i], "%s", last[i][0] ? last[i] : "0-0");
        char data[64];
        snprintf(data, sizeof data, "{\"reason\":\"%s\"}", why);
        event(s, "resnapshot", data);
    } else {
        for (size_t i = 0; i < n; i++)
            entry_event(s, &e[i]);
    }
    fd_webentries_free(e, n);
    return status(s);
}

static ssize_t sse_read(void *p, char *buf, size_t size) {
    sse_t *s = p;
    if (s->off == s->len) {
        s->off = s->len = 0;
        if (!s->started) {
            s->started = true;
            out(s, "retry: 2000\n\n");
            if (status(s) != FD_OK) atomic_fetch_add(&s->w->redis_errors, 1);
        } else if (round_trip(s) != FD_OK) {
            atomic_fetch_add(&s->w->redis_errors, 1);
            fd_log_warn("web", "stream: redis: %s", fd_redis_errstr(s->r));
            struct timespec ts = {1, 0}; /* then retry (fd_redis connects again) */
            nanosleep(&ts, NULL);
        }
        int64_t now = fd_clock_mono_ms();
        if (s->len == 0 && now - s->sent_ms >= s->w->cfg->web_stream_keepalive_ms)
            out(s, ": keepalive\n\n");
        if (s->len == 0) return 0;
        s->sent_ms = now;
    }
    size_t k = s->len - s->off < size ? s->len - s->off : size;
    memcpy(buf, s->buf + s->off, k);
    s->off += k;
    return (ssize_t)k;
}

/* Parses "<id>,<id>"; false when malformed. */
static bool parse_position(const char *v, char held[2][48]) {
    const char *c = strchr(v, ',');
    if (c == NULL || (size_t)(c - v) >= 48 || strlen(c + 1) >= 48) return false;
    snprintf(held[0], 48, "%.*s", (int)(c - v), v);
    snprintf(held[1], 48, "%s", c + 1);
    uint64_t a, b;
    return fd_webread_parse_id(held[0], &a, &b) && fd_webread_parse_id(held[1], &a, &b) &&
           strchr(held[0], '-') != NULL && strchr(held[1], '-') != NULL;
}

void web_api_stream(void *opaque, fd_http_req_t *req) {
    fd_web_t *w = opaque;
    const char *last = fd_http_header(req, "Last-Event-ID");
    const char *since = fd_http_arg(req, "since");
    const char *given = last != NULL ? last : since;
    char held[2][48] = {"0-0", "0-0"};
    if (given != NULL && !parse_position(given, held)) {
        const char *field = last != NULL ? "Last-Event-ID" : "since";
        fd_http_reply_error(req, 400, field,
                            "%s: expected a position <ms>-<seq>,<ms>-<seq> as the API gives it, "
                            "got \"%.60s\"",
                            field, given);
        return;
    }
    if (atomic_fetch_add(&w->streams, 1) >= w->cfg->web_max_streams) {
        atomic_fetch_sub(&w->streams, 1);
        fd_http_reply_error(req, 503, NULL,
                            "too many streams: web.max_streams (%" PRId64 ") are open",
                            w->cfg->web_max_streams);
        return;
    }
    sse_t *s = calloc(1, sizeof *s);
    if (s == NULL || fd_redis_new(&w->ropts, &s->r) != FD_OK) {
        atomic_fetch_sub(&w->streams, 1);
        free(s);
        fd_http_reply_error(req, 500, NULL, "out of memory");
        return;
    }
    s->w = w;
    s->sent_ms = fd_clock_mono_ms();
    memcpy(s->held, held, sizeof held);
    if (given == NULL) {
        char pos[FD_WEB_POS_MAX], prefix[FD_PREFIX_MAX];
        web_prefix(w, s->r, prefix);
        if (fd_webread_position(s->r, prefix, pos) != FD_OK) {
            web_redis_failed(w, req, s->r);
            sse_free(s);
            return;
        }
        parse_position(pos, s->held);
    }
    fd_http_reply_stream(req, "text/event-stream; charset=utf-8", sse_read, s, sse_free);
}
