// SPDX-License-Identifier: MIT
// funnel-web's JSON API under /api/v1 (docs/http.md "The API", docs/openapi.yaml): parameter
// checks, reads through io/webread, JSON shaping (layer 5).
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "app/web_internal.h"
#include "base/clock.h"
#include "io/keys.h"
#include "model/feedstatus.h"
#include "model/funnelview.h"
#include "scoring/targets.h"

#ifndef FD_VERSION
#define FD_VERSION "unknown" /* CMake defines it from the project version */
#endif

static void reply_cjson(fd_http_req_t *req, cJSON *o) {
    char *s = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    if (s == NULL)
        fd_http_reply_error(req, 500, NULL, "out of memory");
    else
        fd_http_reply_json(req, 200, s);
    free(s);
    cJSON_Delete(o);
}

/* Whether s is 1..128 bytes of UTF-8 without control characters. */
static bool good_id(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > FD_ID_MAX) return false;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        size_t k = c < 0x80             ? 0
                   : (c & 0xE0) == 0xC0 ? 1
                   : (c & 0xF0) == 0xE0 ? 2
                   : (c & 0xF8) == 0xF0 ? 3
                                        : 9;
        if (k == 9 || (c >= 0xC0 && c < 0xC2) || c > 0xF4) return false;
        if (k == 0 && (c < 0x20 || c == 0x7F)) return false;
        for (size_t i = 1; i <= k; i++)
            if ((p[i] & 0xC0) != 0x80) return false;
        p += k + 1;
    }
    return true;
}

/* Refuses query parameters other than the allowed ones (400 naming it). */
static bool only_args(fd_http_req_t *req, const char *const *allowed, size_t n) {
    const char *bad = fd_http_unknown_arg(req, allowed, n);
    if (bad == NULL) return true;
    fd_http_reply_error(req, 400, bad, "%.60s: not a parameter of %s", bad, fd_http_path(req));
    return false;
}

/* An integer parameter in lo..hi (def when absent); false after answering 400. */
static bool int_arg(fd_http_req_t *req, const char *name, long lo, long hi, long def, long *out) {
    const char *v = fd_http_arg(req, name);
    if (v == NULL) {
        *out = def;
        return true;
    }
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || strspn(v, "0123456789") != strlen(v) || x < lo || x > hi) {
        fd_http_reply_error(req, 400, name, "%s: expected an integer %ld..%ld, got \"%.40s\"", name,
                            lo, hi, v);
        return false;
    }
    *out = x;
    return true;
}

/* ---- meta ---- */

void web_api_meta(void *opaque, fd_http_req_t *req) {
    fd_web_t *w = opaque;
    if (!only_args(req, NULL, 0)) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", FD_VERSION);
    cJSON_AddStringToObject(o, "timezone", w->cfg->timezone);
    cJSON *st = cJSON_AddArrayToObject(o, "stages");
    for (size_t i = 0; i < fd_funnel_nstages(w->fn); i++)
        cJSON_AddItemToArray(st, cJSON_CreateString(fd_funnel_stage_name(w->fn, (int)i)));
    cJSON *ac = cJSON_AddArrayToObject(o, "activities");
    for (size_t i = 0; i < fd_funnel_nkinds(w->fn); i++)
        cJSON_AddItemToArray(ac, cJSON_CreateString(fd_funnel_kind_name(w->fn, (int)i)));
    fd_windows_t ws;
    web_windows_now(w, &ws);
    cJSON *win = cJSON_AddObjectToObject(o, "windows");
    cJSON_AddStringToObject(win, "today", ws.id[FD_WIN_DAY]);
    cJSON_AddStringToObject(win, "week", ws.id[FD_WIN_WEEK]);
    cJSON_AddStringToObject(win, "month", ws.id[FD_WIN_MONTH]);
    cJSON_AddStringToObject(win, "quarter", ws.id[FD_WIN_QUARTER]);
    cJSON_AddStringToObject(win, "all", "all");
    char now[40];
    fd_funnelview_rfc3339(fd_clock_wall_ms(), now, sizeof now);
    cJSON_AddStringToObject(o, "now", now);
    cJSON_AddBoolToObject(o, "auth", w->cfg->http_token[0] != '\0');
    reply_cjson(req, o);
}

/* ---- funnel ---- */

/* scope and id parameters; false after answering 400. */
static bool scope_arg(fd_http_req_t *req, bool org_ok, fd_scope_t *scope, const char **id) {
    const char *s = fd_http_arg(req, "scope");
    if (s == NULL) s = org_ok ? "org" : "rep";
    if (strcmp(s, "rep") == 0)
        *scope = FD_SCOPE_REP;
    else if (strcmp(s, "team") == 0)
        *scope = FD_SCOPE_TEAM;
    else if (org_ok && strcmp(s, "org") == 0)
        *scope = FD_SCOPE_ORG;
    else {
        fd_http_reply_error(req, 400, "scope", "scope: expected %s, got \"%.40s\"",
                            org_ok ? "org, team or rep" : "rep or team", s);
        return false;
    }
    if (id == NULL) return true;
    *id = fd_http_arg(req, "id");
    if (*scope == FD_SCOPE_ORG) {
        if (*id != NULL) {
            fd_http_reply_error(req, 400, "id", "id: not allowed with scope org");
            return false;
        }
        return true;
    }
    if (*id == NULL || !good_id(*id)) {
        fd_http_reply_error(req, 400, "id",
                            "id: expected 1..128 bytes of UTF-8 without control characters for "
                            "scope %s%s",
                            s, *id == NULL ? " (missing)" : "");
        return false;
    }
    return true;
}

void web_api_funnel(void *opaque, fd_http_req_t *req) {
    fd_web_t *w = opaque;
    static const char *const allowed[] = {"scope", "id", "window"};
    if (!only_args(req, allowed, 3)) return;
    fd_scope_t scope;
    const char *id = NULL;
    if (!scope_arg(req, true, &scope, &id)) return;
    char win[FD_WIN_ID_MAX];
    bool bounded;
    int64_t start, end;
    if (!web_window(w, req, win, &bounded, &start, &end)) return;
    fd_redis_t *r = web_redis_take(w);
    char prefix[FD_PREFIX_MAX];
    web_prefix(w, r, prefix);
    fd_webhash_t h = {0}, all = {0};
    char pos[FD_WEB_POS_MAX];
    bool is_all = strcmp(win, "all") == 0; /* the pipeline is in the hash read */
    if (r == NULL || fd_webread_funnel(r, prefix, scope, win, id != NULL ? id : "", &h,
                                       is_all ? NULL : &all, pos) != FD_OK) {
        web_redis_failed(w, req, r);
        web_redis_give(w, r);
        return;
    }
    web_redis_give(w, r);
    fd_funnelview_t v = {.scope = fd_scope_name(scope),
                         .id = id,
                         .window = win,
                         .timezone = w->cfg->timezone,
                         .bounded = bounded,
                         .start_ms = start,
                         .end_ms = end,
                         .position = pos,
                         .fields = (const char *const *)h.fields,
                         .values = (const char *const *)h.values,
                         .nfields = h.n,
                         .all_fields = (const char *const *)(is_all ? h.fields : all.fields),
                         .all_values = (const char *const *)(is_all ? h.values : all.values),
                         .nall = is_all ? h.n : all.n};
    char *json = NULL;
    if (fd_funnelview_json(w->fn, &v, &json) != FD_OK)
        fd_http_reply_error(req, 500, NULL, "cannot render the funnel");
    else
        fd_http_reply_json(req, 200, json);
    free(json);
    fd_webhash_clear(&h);
    fd_webhash_clear(&all);
}

/* ---- reps, teams ---- */

/* Resolves the window parameter into win, then reads on one connection (taken and given back)
 * the ids of scope and that window, for reps the rep -> team hash (*rt, empty for teams: the team
 * of a rep is all it is used for) and, when hs is not NULL, each id's hash (*hs, n of them). False
 * after an error reply (400 for the window, 503 when Redis fails), nothing left to free. */
static bool read_ids(fd_web_t *w, fd_http_req_t *req, fd_scope_t scope, char win[FD_WIN_ID_MAX],
                     char ***ids, size_t *n, fd_webhash_t *rt, fd_webhash_t **hs) {
    bool bounded;
    int64_t start, end;
    if (!web_window(w, req, win, &bounded, &start, &end)) return false;
    fd_redis_t *r = web_redis_take(w);
    char prefix[FD_PREFIX_MAX];
    web_prefix(w, r, prefix);
    *ids = NULL;
    *n = 0;
    *rt = (fd_webhash_t){0};
    if (hs != NULL) *hs = NULL;
    bool ok = r != NULL && web_ids(w, r, prefix, scope, win, ids, n) == FD_OK &&
              (scope != FD_SCOPE_REP ||
               fd_webread_single_hash(r, prefix, FD_KEY_REP_TEAM, rt) == FD_OK) &&
              (hs == NULL || fd_webread_hashes(r, prefix, scope, win, *ids, *n, hs) == FD_OK);
    if (!ok) {
        web_redis_failed(w, req, r);
        fd_webread_ids_free(*ids, *n);
        fd_webhash_clear(rt);
        *ids = NULL;
        *n = 0;
    }
    web_redis_give(w, r);
    return ok;
}

static void list(fd_web_t *w, fd_http_req_t *req, fd_scope_t scope) {
    static const char *const allowed[] = {"window"};
    if (!only_args(req, allowed, 1)) return;
    char win[FD_WIN_ID_MAX];
    char **ids;
    size_t n;
    fd_webhash_t rt;
    if (!read_ids(w, req, scope, win, &ids, &n, &rt, NULL)) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "window", win);
    cJSON *a = cJSON_AddArrayToObject(o, scope == FD_SCOPE_REP ? "reps" : "teams");
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", ids[i]);
        const char *x = scope == FD_SCOPE_REP ? fd_webhash_get(&rt, ids[i])
                        : w->rules != NULL    ? fd_rules_manager(w->rules, ids[i])
                                              : NULL;
        const char *name = scope == FD_SCOPE_REP ? "team" : "manager";
        if (x != NULL)
            cJSON_AddStringToObject(e, name, x);
        else
            cJSON_AddNullToObject(e, name);
        cJSON_AddItemToArray(a, e);
    }
    fd_webread_ids_free(ids, n);
    fd_webhash_clear(&rt);
    reply_cjson(req, o);
}

void web_api_reps(void *opaque, fd_http_req_t *req) {
    list(opaque, req, FD_SCOPE_REP);
}

void web_api_teams(void *opaque, fd_http_req_t *req) {
    list(opaque, req, FD_SCOPE_TEAM);
}

/* ---- leaderboard ---- */

typedef struct {
    const char *id;
    const fd_webhash_t *h;
    bool has;
    double v;
} lrow_t;

static int cmp_rows(const void *pa, const void *pb) {
    const lrow_t *a = pa, *b = pb;
    if (a->has != b->has) return a->has ? -1 : 1;            /* absent values last */
    if (a->has && a->v != b->v) return a->v > b->v ? -1 : 1; /* descending */
    return strcmp(a->id, b->id);
}

static void add_typed(cJSON *o, const char *name, fd_field_kind_t kind, const char *value) {
    char *s = fd_funnelview_value(kind, value);
    cJSON *j = s != NULL ? cJSON_Parse(s) : NULL;
    free(s);
    if (j != NULL) cJSON_AddItemToObject(o, name, j);
}

void web_api_leaderboard(void *opaque, fd_http_req_t *req) {
    fd_web_t *w = opaque;
    static const char *const allowed[] = {"scope", "window", "by", "team", "limit", "order"};
    if (!only_args(req, allowed, 6)) return;
    fd_scope_t scope;
    if (!scope_arg(req, false, &scope, NULL)) return;
    const char *by = fd_http_arg(req, "by");
    if (by == NULL) by = "won_amount";
    fd_field_kind_t kind = fd_funnelview_kind(w->fn, by);
    if (kind == FD_FIELD_UNKNOWN) {
        fd_http_reply_error(req, 400, "by",
                            "by: expected a field of docs/redis.md (won_amount, won, win_rate, "
                            "conv:<stage>, entered:<stage>, activity:<kind>, events...), got "
                            "\"%.60s\"",
                            by);
        return;
    }
    const char *team = fd_http_arg(req, "team");
    if (team != NULL && (scope != FD_SCOPE_REP || !good_id(team))) {
        fd_http_reply_error(req, 400, "team",
                            scope != FD_SCOPE_REP
                                ? "team: only with scope rep"
                                : "team: expected 1..128 bytes of UTF-8 without control "
                                  "characters");
        return;
    }
    long limit;
    if (!int_arg(req, "limit", 1, 1000, 20, &limit)) return;
    const char *order = fd_http_arg(req, "order");
    if (order == NULL) order = "desc";
    if (strcmp(order, "desc") != 0 && strcmp(order, "asc") != 0) {
        fd_http_reply_error(req, 400, "order", "order: expected desc or asc, got \"%.20s\"", order);
        return;
    }

    char win[FD_WIN_ID_MAX];
    char **ids;
    size_t n;
    fd_webhash_t rt, *hs;
    if (!read_ids(w, req, scope, win, &ids, &n, &rt, &hs)) return;
    lrow_t *rows = calloc(n > 0 ? n : 1, sizeof *rows);
    size_t m = 0;
    for (size_t i = 0; rows != NULL && i < n; i++) {
        const char *t = fd_webhash_get(&rt, ids[i]);
        if (team != NULL && (t == NULL || strcmp(t, team) != 0)) continue;
        rows[m].id = ids[i];
        rows[m].h = &hs[i];
        rows[m].has = fd_funnelview_number(kind, fd_webhash_get(&hs[i], by), &rows[m].v);
        m++;
    }
    /* ascending: sort the negated values descending (absent ones stay last) */
    bool asc = strcmp(order, "asc") == 0;
    for (size_t i = 0; i < m; i++)
        if (asc) rows[i].v = -rows[i].v;
    if (m > 0) qsort(rows, m, sizeof *rows, cmp_rows);

    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "scope", fd_scope_name(scope));
    cJSON_AddStringToObject(o, "window", win);
    cJSON_AddStringToObject(o, "by", by);
    cJSON_AddStringToObject(o, "order", order);
    if (team != NULL)
        cJSON_AddStringToObject(o, "team", team);
    else
        cJSON_AddNullToObject(o, "team");
    cJSON_AddNumberToObject(o, "total", (double)m);
    cJSON *a = cJSON_AddArrayToObject(o, "rows");
    char first[160], first_conv[160];
    snprintf(first, sizeof first, "entered:%s", fd_funnel_stage_name(w->fn, 0));
    snprintf(first_conv, sizeof first_conv, "conv:%s", fd_funnel_stage_name(w->fn, 0));
    for (size_t i = 0; i < m && i < (size_t)limit; i++) {
        const fd_webhash_t *h = rows[i].h;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "rank", (double)(i + 1));
        cJSON_AddStringToObject(e, "id", rows[i].id);
        const char *t = scope == FD_SCOPE_REP ? fd_webhash_get(&rt, rows[i].id) : NULL;
        if (t != NULL)
            cJSON_AddStringToObject(e, "team", t);
        else
            cJSON_AddNullToObject(e, "team");
        add_typed(e, "value", kind, fd_webhash_get(h, by));
        add_typed(e, "deals", FD_FIELD_COUNTER, fd_webhash_get(h, first));
        add_typed(e, "conv", FD_FIELD_RATE, fd_webhash_get(h, first_conv));
        add_typed(e, "won", FD_FIELD_COUNTER, fd_webhash_get(h, "won"));
        add_typed(e, "lost", FD_FIELD_COUNTER, fd_webhash_get(h, "lost"));
        add_typed(e, "won_amount", FD_FIELD_AMOUNT, fd_webhash_get(h, "won_amount"));
        add_typed(e, "win_rate", FD_FIELD_RATE, fd_webhash_get(h, "win_rate"));
        add_typed(e, "events", FD_FIELD_COUNTER, fd_webhash_get(h, "events"));
        add_typed(e, "feedback_avg", FD_FIELD_RATE, fd_webhash_get(h, "feedback_avg"));
        add_typed(e, "complaints", FD_FIELD_COUNTER, fd_webhash_get(h, "complaints"));
        cJSON_AddItemToArray(a, e);
    }
    free(rows);
    for (size_t i = 0; i < n; i++)
        fd_webhash_clear(&hs[i]);
    free(hs);
    fd_webread_ids_free(ids, n);
    fd_webhash_clear(&rt);
    reply_cjson(req, o);
}

/* ---- alerts ---- */

/* By started_at: RFC 3339 UTC texts of one format sort as text; numbers as numbers. */
static int cmp_started(const void *pa, const void *pb) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)pa, "started_at");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)pb, "started_at");
    if (cJSON_IsString(a) && cJSON_IsString(b)) return strcmp(a->valuestring, b->valuestring);
    double x = cJSON_IsNumber(a) ? a->valuedouble : 0, y = cJSON_IsNumber(b) ? b->valuedouble : 0;
    return x < y ? -1 : x > y ? 1 : 0;
}

void web_api_alerts(void *opaque, fd_http_req_t *req) {
    fd_web_t *w = opaque;
    if (!only_args(req, NULL, 0)) return;
    fd_redis_t *r = web_redis_take(w);
    char prefix[FD_PREFIX_MAX];
    web_prefix(w, r, prefix);
    fd_webhash_t h = {0};
    char pos[FD_WEB_POS_MAX];
    if (r == NULL || fd_webread_firing(r, prefix, &h, pos) != FD_OK) {
        web_redis_failed(w, req, r);
        web_redis_give(w, r);
        return;
    }
    web_redis_give(w, r);
    cJSON **v = calloc(h.n > 0 ? h.n : 1, sizeof *v);
    size_t m = 0;
    for (size_t i = 0; v != NULL && i < h.n; i++) {
        cJSON *j = cJSON_Parse(h.values[i]);
        if (cJSON_IsObject(j))
            v[m++] = j;
        else
            cJSON_Delete(j);
    }
    if (m > 0) qsort(v, m, sizeof *v, cmp_started);
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "firing");
    for (size_t i = 0; i < m; i++)
        cJSON_AddItemToArray(a, v[i]);
    free(v);
    cJSON_AddStringToObject(o, "position", pos);
    fd_webhash_clear(&h);
    reply_cjson(req, o);
}

void web_api_alerts_history(void *opaque, fd_http_req_t *req) {
    fd_web_t *w = opaque;
    static const char *const allowed[] = {"limit"};
    if (!only_args(req, allowed, 1)) return;
    long limit;
    if (!int_arg(req, "limit", 1, 1000, 50, &limit)) return;
    fd_redis_t *r = web_redis_take(w);
    char prefix[FD_PREFIX_MAX];
    web_prefix(w, r, prefix);
    fd_webentry_t *e = NULL;
    size_t n = 0;
    if (r == NULL || fd_webread_newest(r, prefix, 1, (size_t)limit, &e, &n) != FD_OK) {
        web_redis_failed(w, req, r);
        web_redis_give(w, r);
        return;
    }
    web_redis_give(w, r);
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "history");
    for (size_t i = 0; i < n; i++) {
        const char *js = fd_webhash_get(&e[i].f, "json");
        cJSON *j = js != NULL ? cJSON_Parse(js) : NULL;
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            continue;
        }
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", e[i].id);
        cJSON_AddItemToObject(x, "alert", j);
        cJSON_AddItemToArray(a, x);
    }
    fd_webentries_free(e, n);
    reply_cjson(req, o);
}

/* ---- status ---- */

static int64_t id_ms(const char *id) {
    uint64_t ms = 0, seq = 0;
    fd_webread_parse_id(id, &ms, &seq);
    return (int64_t)ms;
}

/* A heartbeat's parts "<topic>:<partition>:<next>:<lag>" lines as JSON; *lag_sum adds the
 * known lags, *lagging when one is > 0. */
cJSON *web_heartbeat_parts(const char *text, int64_t *lag_sum, bool *any_lag, bool *lagging) {
    cJSON *a = cJSON_CreateArray();
    if (text == NULL) return a;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(len < 511 ? len : 511), p);
        /* split from the right: topics hold no ':' */
        char *c3 = strrchr(line, ':');
        if (c3 != NULL) {
            *c3 = '\0';
            char *c2 = strrchr(line, ':');
            if (c2 != NULL) {
                *c2 = '\0';
                char *c1 = strrchr(line, ':');
                if (c1 != NULL) {
                    *c1 = '\0';
                    cJSON *o = cJSON_CreateObject();
                    cJSON_AddStringToObject(o, "topic", line);
                    cJSON_AddNumberToObject(o, "partition", strtod(c1 + 1, NULL));
                    if (c2[1] != '\0')
                        cJSON_AddNumberToObject(o, "next", strtod(c2 + 1, NULL));
                    else
                        cJSON_AddNullToObject(o, "next");
                    if (c3[1] != '\0') {
                        long long lag = strtoll(c3 + 1, NULL, 10);
                        cJSON_AddNumberToObject(o, "lag", (double)lag);
                        *lag_sum += lag;
                        *any_lag = true;
                        if (lag > 0) *lagging = true;
                    } else {
                        cJSON_AddNullToObject(o, "lag");
                    }
                    cJSON_AddItemToArray(a, o);
                }
            }
        }
        p += len;
        if (*p == '\n') p++;
    }
    return a;
}

fd_err_t web_status_json(fd_web_t *w, fd_redis_t *r, const char *position, bool instances,
                         char **out, const char **state) {
    *out = NULL;
    char prefix[FD_PREFIX_MAX];
    web_prefix(w, r, prefix);
    fd_webentry_t *e = NULL;
    size_t n = 0;
    int64_t now = 0;
    fd_err_t err = fd_webread_time(r, &now);
    if (err == FD_OK) err = fd_webread_newest(r, prefix, 0, 200, &e, &n);
    if (err != FD_OK) return err;
    fd_feed_view_t v = {.now_ms = now};
    int64_t watermark = -1, lag_sum = 0;
    bool any_lag = false;
    cJSON *inst = cJSON_CreateArray();
    /* newest first: the first heartbeat of an instance is its latest */
    for (size_t i = 0; i < n; i++) {
        const char *kind = fd_webhash_get(&e[i].f, "kind");
        const char *wm = fd_webhash_get(&e[i].f, "watermark");
        if (i == 0) v.entry_ms = id_ms(e[i].id);
        if (watermark < 0 && wm != NULL) watermark = strtoll(wm, NULL, 10);
        if (kind == NULL) continue;
        if ((strcmp(kind, "change") == 0 || strcmp(kind, "bulk") == 0) && v.change_ms == 0)
            v.change_ms = id_ms(e[i].id);
        if (strcmp(kind, "heartbeat") != 0) continue;
        const char *name = fd_webhash_get(&e[i].f, "instance");
        if (name == NULL) continue;
        bool seen = false;
        cJSON *it;
        cJSON_ArrayForEach(it, inst) {
            if (strcmp(cJSON_GetObjectItem(it, "instance")->valuestring, name) == 0) seen = true;
        }
        if (seen) continue;
        const char *iv = fd_webhash_get(&e[i].f, "interval_ms");
        int64_t interval = iv != NULL ? strtoll(iv, NULL, 10) : 0;
        if (v.interval_ms == 0) v.interval_ms = interval; /* the latest heartbeat's */
        int64_t at = id_ms(e[i].id);
        bool recent = now - at < FD_FEED_INTERVALS * (interval > 0 ? interval : 2000);
        bool lagging = false;
        cJSON *parts =
            web_heartbeat_parts(fd_webhash_get(&e[i].f, "parts"), &lag_sum, &any_lag, &lagging);
        if (recent && lagging) v.lagging = true;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "instance", name);
        cJSON_AddNumberToObject(o, "interval_ms", (double)interval);
        cJSON_AddNumberToObject(o, "at_ms", (double)at);
        cJSON_AddItemToObject(o, "parts", parts);
        cJSON_AddItemToArray(inst, o);
    }
    fd_webentries_free(e, n);
    fd_feed_state_t s = fd_feed_state(&v);
    *state = fd_feed_state_name(s);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", *state);
    if (watermark >= 0)
        cJSON_AddNumberToObject(o, "watermark", (double)watermark);
    else
        cJSON_AddNullToObject(o, "watermark");
    if (v.change_ms > 0)
        cJSON_AddNumberToObject(o, "last_change_ms", (double)v.change_ms);
    else
        cJSON_AddNullToObject(o, "last_change_ms");
    if (any_lag)
        cJSON_AddNumberToObject(o, "lag", (double)lag_sum);
    else
        cJSON_AddNullToObject(o, "lag");
    cJSON_AddStringToObject(o, "position", position);
    if (instances)
        cJSON_AddItemToObject(o, "instances", inst);
    else
        cJSON_Delete(inst);
    *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *out != NULL ? FD_OK : FD_ERR_NOMEM;
}

void web_api_status(void *opaque, fd_http_req_t *req) {
    fd_web_t *w = opaque;
    if (!only_args(req, NULL, 0)) return;
    fd_redis_t *r = web_redis_take(w);
    char prefix[FD_PREFIX_MAX];
    web_prefix(w, r, prefix);
    char pos[FD_WEB_POS_MAX], *json = NULL;
    const char *state = NULL;
    if (r == NULL || fd_webread_position(r, prefix, pos) != FD_OK ||
        web_status_json(w, r, pos, true, &json, &state) != FD_OK) {
        web_redis_failed(w, req, r);
        web_redis_give(w, r);
        return;
    }
    web_redis_give(w, r);
    fd_http_reply_json(req, 200, json);
    free(json);
}

/* ---- scorecards and rankings ---- */

/* The period parameter (NULL: "month") into id: a period id month:YYYY-MM, quarter:YYYY-Qn,
 * year:YYYY, or month, quarter, year for the current one in funnel.timezone by the server's
 * clock; false after answering 400. */
static bool period_arg(fd_web_t *w, fd_http_req_t *req, char id[FD_WIN_ID_MAX]) {
    const char *p = fd_http_arg(req, "period");
    if (p == NULL) p = "month";
    fd_windows_t ws;
    fd_period_t pd;
    web_windows_now(w, &ws);
    if (fd_period_alias(p, &ws, &pd)) {
        fd_period_format(&pd, id, FD_WIN_ID_MAX);
        return true;
    }
    bool ok = fd_period_parse(p, strlen(p), &pd);
    if (!ok) {
        fd_http_reply_error(req, 400, "period",
                            "period: expected month, quarter, year, month:YYYY-MM, "
                            "quarter:YYYY-Qn or year:YYYY, got \"%.40s\"",
                            p);
        return false;
    }
    fd_period_format(&pd, id, FD_WIN_ID_MAX);
    return true;
}

void web_api_scorecard(void *opaque, fd_http_req_t *req) {
    fd_web_t *w = opaque;
    static const char *const allowed[] = {"scope", "id", "period"};
    if (!only_args(req, allowed, 3)) return;
    fd_scope_t scope;
    const char *id = NULL;
    if (!scope_arg(req, false, &scope, &id)) return;
    char period[FD_WIN_ID_MAX];
    if (!period_arg(w, req, period)) return;
    fd_redis_t *r = web_redis_take(w);
    char prefix[FD_PREFIX_MAX];
    web_prefix(w, r, prefix);
    fd_webhash_t h = {0};
    char **adj = NULL;
    size_t nadj = 0;
    if (r == NULL || fd_webread_scorecard(r, prefix, scope, period, id, &h, &adj, &nadj) != FD_OK) {
        web_redis_failed(w, req, r);
        web_redis_give(w, r);
        return;
    }
    web_redis_give(w, r);
    char *json = NULL;
    if (h.n == 0)
        fd_http_reply_error(req, 404, "id", "id: no scorecard for %s \"%.128s\" in period %s",
                            fd_scope_name(scope), id, period);
    else if (fd_funnelview_scorecard_json((const char *const *)h.fields,
                                          (const char *const *)h.values, h.n,
                                          (const char *const *)adj, nadj, &json) != FD_OK)
        fd_http_reply_error(req, 500, NULL, "cannot render the scorecard");
    else
        fd_http_reply_json(req, 200, json);
    free(json);
    fd_webread_ids_free(adj, nadj);
    fd_webhash_clear(&h);
}

void web_api_ranking(void *opaque, fd_http_req_t *req) {
    fd_web_t *w = opaque;
    static const char *const allowed[] = {"period", "scope", "team", "limit"};
    if (!only_args(req, allowed, 4)) return;
    fd_scope_t scope;
    if (!scope_arg(req, false, &scope, NULL)) return;
    const char *team = fd_http_arg(req, "team");
    if (team != NULL && (scope != FD_SCOPE_REP || !good_id(team))) {
        fd_http_reply_error(req, 400, "team",
                            scope != FD_SCOPE_REP
                                ? "team: only with scope rep"
                                : "team: expected 1..128 bytes of UTF-8 without control "
                                  "characters");
        return;
    }
    long limit;
    if (!int_arg(req, "limit", 1, 1000, 20, &limit)) return;
    char period[FD_WIN_ID_MAX];
    if (!period_arg(w, req, period)) return;
    fd_redis_t *r = web_redis_take(w);
    char prefix[FD_PREFIX_MAX];
    web_prefix(w, r, prefix);
    fd_webrank_t *rows = NULL;
    size_t n = 0, total = 0;
    if (r == NULL || fd_webread_ranking(r, prefix, period, scope, team, (size_t)limit, &rows, &n,
                                        &total) != FD_OK) {
        web_redis_failed(w, req, r);
        web_redis_give(w, r);
        return;
    }
    web_redis_give(w, r);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "period", period);
    cJSON_AddStringToObject(o, "scope", fd_scope_name(scope));
    if (team != NULL)
        cJSON_AddStringToObject(o, "team", team);
    else
        cJSON_AddNullToObject(o, "team");
    cJSON_AddNumberToObject(o, "total", (double)total);
    cJSON *a = cJSON_AddArrayToObject(o, "rows");
    for (size_t i = 0; i < n; i++) {
        const fd_webhash_t *c = &rows[i].card;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "rank", (double)(i + 1));
        cJSON_AddStringToObject(e, "id", rows[i].id);
        /* the zset holds the score as a double: print it with the hash's two decimals */
        char buf[64];
        snprintf(buf, sizeof buf, "%.2f", rows[i].score);
        cJSON_AddRawToObject(e, "score", buf);
        static const char *const texts[] = {"grade", "team", "state"};
        for (size_t k = 0; k < 3; k++) {
            const char *x = fd_webhash_get(c, texts[k]);
            if (x != NULL)
                cJSON_AddStringToObject(e, texts[k], x);
            else
                cJSON_AddNullToObject(e, texts[k]);
        }
        add_typed(e, "adjusted_score", FD_FIELD_RATE, fd_webhash_get(c, "adjusted_score"));
        const char *ag = fd_webhash_get(c, "adjusted_grade");
        if (ag != NULL)
            cJSON_AddStringToObject(e, "adjusted_grade", ag);
        else
            cJSON_AddNullToObject(e, "adjusted_grade");
        cJSON_AddItemToArray(a, e);
    }
    fd_webranks_free(rows, n);
    reply_cjson(req, o);
}
