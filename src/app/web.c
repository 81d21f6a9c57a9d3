// SPDX-License-Identifier: MIT
// funnel-web's server: routes, the embedded page and assets, /livez, /readyz, /metrics, the
// Redis connection pool and window parameters (layer 5). See web.h.
#include "app/web.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/web_internal.h"
#include "app/webassets.h"
#include "base/clock.h"
#include "base/log.h"
#include "io/current.h"
#include "io/keys.h"

static void page(void *opaque, fd_http_req_t *req);
static void livez(void *opaque, fd_http_req_t *req);
static void readyz(void *opaque, fd_http_req_t *req);
static void metrics(void *opaque, fd_http_req_t *req);

/* The routes, in the order /metrics lists them. */
static const fd_http_route_t routes[] = {
    {"/api/v1/meta", false, web_api_meta},
    {"/api/v1/funnel", false, web_api_funnel},
    {"/api/v1/reps", false, web_api_reps},
    {"/api/v1/teams", false, web_api_teams},
    {"/api/v1/leaderboard", false, web_api_leaderboard},
    {"/api/v1/alerts", false, web_api_alerts},
    {"/api/v1/alerts/history", false, web_api_alerts_history},
    {"/api/v1/status", false, web_api_status},
    {"/api/v1/stream", false, web_api_stream},
    {"/api/v1/scorecard", false, web_api_scorecard},
    {"/api/v1/ranking", false, web_api_ranking},
    {"/livez", false, livez},
    {"/readyz", false, readyz},
    {"/metrics", false, metrics},
    {"/", false, page},
    {"/assets/", true, page},
};
#define NROUTES (sizeof routes / sizeof *routes)
_Static_assert(NROUTES + 1 <= WEB_ROUTES, "WEB_ROUTES counts every route and the unmatched");

static const int statuses[WEB_STATUSES] = {200, 303, 304, 400, 401, 404,
                                           405, 413, 431, 500, 503, 0};

static void observe(void *opaque, const char *route, int status) {
    fd_web_t *w = opaque;
    size_t ri = NROUTES; /* unmatched */
    for (size_t i = 0; i < NROUTES; i++)
        if (route == routes[i].path) ri = i;
    size_t si = WEB_STATUSES - 1;
    for (size_t i = 0; i + 1 < WEB_STATUSES; i++)
        if (statuses[i] == status) si = i;
    atomic_fetch_add(&w->requests[ri][si], 1);
}

/* ---- the pool ---- */

fd_redis_t *web_redis_take(fd_web_t *w) {
    fd_redis_t *r = NULL;
    pthread_mutex_lock(&w->pool_lock);
    if (w->npool > 0) r = w->pool[--w->npool];
    pthread_mutex_unlock(&w->pool_lock);
    if (r == NULL && fd_redis_new(&w->ropts, &r) != FD_OK) return NULL;
    return r;
}

void web_redis_give(fd_web_t *w, fd_redis_t *r) {
    if (r == NULL) return;
    bool kept = false;
    pthread_mutex_lock(&w->pool_lock);
    if (fd_redis_connected(r) && w->npool < WEB_POOL_MAX) {
        w->pool[w->npool++] = r;
        kept = true;
    }
    pthread_mutex_unlock(&w->pool_lock);
    if (!kept) fd_redis_destroy(r);
}

void web_redis_failed(fd_web_t *w, fd_http_req_t *req, fd_redis_t *r) {
    atomic_fetch_add(&w->redis_errors, 1);
    const char *why = r != NULL ? fd_redis_errstr(r) : "out of memory";
    fd_log_warn("web", "%s: redis: %s", fd_http_path(req), why);
    fd_http_reply_error(req, 503, NULL, "redis unavailable: %s", why);
}

/* ---- the active prefix ---- */

void web_prefix(fd_web_t *w, fd_redis_t *r, char out[FD_PREFIX_MAX]) {
    int64_t now = fd_clock_mono_ms();
    pthread_mutex_lock(&w->prefix_lock);
    bool due = w->follow && r != NULL && (!w->prefix_read || now - w->prefix_read_ms >= 1000);
    if (due) {
        w->prefix_read = true;
        w->prefix_read_ms = now; /* one request reads it; the others take the last one */
    }
    snprintf(out, FD_PREFIX_MAX, "%s", w->prefix);
    pthread_mutex_unlock(&w->prefix_lock);
    if (!due) return;
    char active[FD_PREFIX_MAX];
    fd_err_t err = fd_current_read(r, w->cfg->prefix, active);
    if (err == FD_ERR_PARSE)
        fd_log_warn("web", "%s:%s does not name a valid prefix: reading %s", w->cfg->prefix,
                    FD_KEY_CURRENT, w->cfg->prefix);
    if (err != FD_OK && err != FD_ERR_PARSE) return; /* the request's own read reports Redis */
    pthread_mutex_lock(&w->prefix_lock);
    if (strcmp(active, w->prefix) != 0) {
        fd_log_info("web", "the active prefix moved from %s to %s", w->prefix, active);
        snprintf(w->prefix, sizeof w->prefix, "%s", active);
    }
    pthread_mutex_unlock(&w->prefix_lock);
    snprintf(out, FD_PREFIX_MAX, "%s", active);
}

/* ---- windows ---- */

void web_windows_now(fd_web_t *w, fd_windows_t *out) {
    pthread_mutex_lock(&w->tw_lock);
    fd_timewin_of(w->tw, fd_clock_wall_ms(), out);
    pthread_mutex_unlock(&w->tw_lock);
}

bool web_window(fd_web_t *w, fd_http_req_t *req, char id[FD_WIN_ID_MAX], bool *bounded,
                int64_t *start_ms, int64_t *end_ms) {
    const char *v = fd_http_arg(req, "window");
    static const char *const aliases[] = {"today", "week", "month", "quarter"};
    static const fd_win_kind_t kinds[] = {FD_WIN_DAY, FD_WIN_WEEK, FD_WIN_MONTH, FD_WIN_QUARTER};
    if (v == NULL) v = "today";
    bool alias = false;
    for (size_t i = 0; i < 4; i++)
        if (strcmp(v, aliases[i]) == 0) {
            fd_windows_t ws;
            web_windows_now(w, &ws);
            snprintf(id, FD_WIN_ID_MAX, "%s", ws.id[kinds[i]]);
            alias = true;
        }
    if (!alias) {
        if (strlen(v) >= FD_WIN_ID_MAX || strncmp(v, "hour:", 5) == 0 ||
            fd_timewin_check_id(v) != FD_OK) {
            fd_http_reply_error(req, 400, "window",
                                "window: expected all, day:YYYY-MM-DD, week:YYYY-Www, "
                                "month:YYYY-MM, quarter:YYYY-Qn, today, week, month or quarter; "
                                "got \"%.40s\"",
                                v);
            return false;
        }
        snprintf(id, FD_WIN_ID_MAX, "%s", v);
    }
    *bounded = strcmp(id, "all") != 0;
    *start_ms = *end_ms = 0;
    if (*bounded) {
        pthread_mutex_lock(&w->tw_lock);
        fd_timewin_bounds(w->tw, id, start_ms, end_ms);
        pthread_mutex_unlock(&w->tw_lock);
    }
    return true;
}

/* ---- page, probes, metrics ---- */

static void page(void *opaque, fd_http_req_t *req) {
    (void)opaque;
    const fd_webasset_t *a = fd_webasset_find(fd_http_path(req));
    if (a == NULL) {
        fd_http_reply_error(req, 404, NULL, "no such path: %.200s", fd_http_path(req));
        return;
    }
    fd_http_set_header(req, "ETag", a->etag);
    if (strcmp(a->path, "/") == 0) {
        fd_http_set_header(req, "Content-Security-Policy",
                           "default-src 'self'; frame-ancestors 'none'; base-uri 'none'");
        fd_http_set_header(req, "Cache-Control", "no-cache");
    } else {
        fd_http_set_header(req, "Cache-Control", "no-cache");
    }
    const char *inm = fd_http_header(req, "If-None-Match");
    if (inm != NULL && strcmp(inm, a->etag) == 0) {
        fd_http_reply(req, 304, NULL, "", 0);
        return;
    }
    fd_http_reply(req, 200, a->content_type, a->data, a->len);
}

static void livez(void *opaque, fd_http_req_t *req) {
    (void)opaque;
    fd_http_reply_json(req, 200, "{\"status\":\"ok\"}");
}

static void readyz(void *opaque, fd_http_req_t *req) {
    fd_web_t *w = opaque;
    fd_redis_t *r = web_redis_take(w);
    const char *argv[] = {"PING"};
    redisReply *q = NULL;
    bool ok = r != NULL && fd_redis_command(r, "ping", 1, argv, NULL, &q) == FD_OK &&
              q->type != REDIS_REPLY_ERROR;
    if (q != NULL) freeReplyObject(q);
    if (!ok) atomic_fetch_add(&w->redis_errors, 1);
    web_redis_give(w, r);
    fd_http_reply_json(req, ok ? 200 : 503,
                       ok ? "{\"status\":\"ok\",\"checks\":{\"redis\":true}}"
                          : "{\"status\":\"unavailable\",\"checks\":{\"redis\":false}}");
}

static void metrics(void *opaque, fd_http_req_t *req) {
    fd_web_t *w = opaque;
    size_t cap = 65536, len = 0;
    char *b = malloc(cap);
    if (b == NULL) {
        fd_http_reply_error(req, 500, NULL, "out of memory");
        return;
    }
#define OUT(...)                                                                                   \
    do {                                                                                           \
        if (len < cap) len += (size_t)snprintf(b + len, cap - len, __VA_ARGS__);                   \
    } while (0)
    OUT("# HELP funnel_web_requests_total HTTP requests answered, by route and status.\n"
        "# TYPE funnel_web_requests_total counter\n");
    for (size_t ri = 0; ri <= NROUTES; ri++)
        for (size_t si = 0; si < WEB_STATUSES; si++) {
            long long n = atomic_load(&w->requests[ri][si]);
            if (n == 0) continue;
            char st[8];
            if (statuses[si] != 0)
                snprintf(st, sizeof st, "%d", statuses[si]);
            else
                snprintf(st, sizeof st, "other");
            OUT("funnel_web_requests_total{route=\"%s\",status=\"%s\"} %lld\n",
                ri < NROUTES ? routes[ri].path : "none", st, n);
        }
    OUT("# HELP funnel_web_stream_clients Clients of /api/v1/stream now.\n"
        "# TYPE funnel_web_stream_clients gauge\nfunnel_web_stream_clients %d\n"
        "# HELP funnel_web_redis_errors_total Redis commands that failed.\n"
        "# TYPE funnel_web_redis_errors_total counter\nfunnel_web_redis_errors_total %lld\n",
        atomic_load(&w->streams), (long long)atomic_load(&w->redis_errors));
#undef OUT
    if (len >= cap) len = cap - 1;
    fd_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b, len);
    free(b);
}

/* ---- life ---- */

fd_err_t fd_web_new(const fd_config_t *cfg, fd_web_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    if (strcmp(cfg->web_listen, "off") == 0) {
        snprintf(errstr, errstr_size, "web.listen: funnel-web needs an address, got \"off\"");
        return FD_ERR_CONFIG;
    }
    fd_web_t *w = calloc(1, sizeof *w);
    if (w == NULL) return FD_ERR_NOMEM;
    w->cfg = cfg;
    pthread_mutex_init(&w->tw_lock, NULL);
    pthread_mutex_init(&w->pool_lock, NULL);
    pthread_mutex_init(&w->ids_lock, NULL);
    pthread_mutex_init(&w->prefix_lock, NULL);
    snprintf(w->prefix, sizeof w->prefix, "%s", cfg->prefix);
    w->follow = fd_config_on(cfg->redis_follow_current);
    fd_err_t err = fd_funnel_new((const char *const *)cfg->stages.item, cfg->stages.count,
                                 (const char *const *)cfg->activities.item, cfg->activities.count,
                                 &w->fn, errstr, errstr_size);
    if (err == FD_OK) err = fd_timewin_new(cfg->timezone, &w->tw, errstr, errstr_size);
    if (err == FD_OK && cfg->alerts_rules[0] != '\0') {
        err = fd_rules_load(w->fn, cfg->alerts_rules, &w->rules, errstr, errstr_size);
        if (err != FD_OK) err = FD_ERR_CONFIG;
    }
    if (err != FD_OK) {
        fd_web_destroy(w);
        return err;
    }
    w->ropts = (fd_redis_opts_t){.host = cfg->redis_host,
                                 .port = (int)cfg->redis_port,
                                 .user = cfg->redis_user,
                                 .password = cfg->redis_password,
                                 .db = (int)cfg->redis_db,
                                 .timeout_ms = (int)cfg->redis_timeout_ms};
    *out = w;
    return FD_OK;
}

/* A copy of n ids; false when memory is short. */
static bool ids_copy(char *const *ids, size_t n, char ***out) {
    *out = NULL;
    if (n == 0) return true;
    char **c = calloc(n, sizeof *c);
    if (c == NULL) return false;
    for (size_t i = 0; i < n; i++) {
        if ((c[i] = strdup(ids[i])) == NULL) {
            fd_webread_ids_free(c, i);
            return false;
        }
    }
    *out = c;
    return true;
}

fd_err_t web_ids(fd_web_t *w, fd_redis_t *r, const char *prefix, fd_scope_t scope,
                 const char *window, char ***ids, size_t *n) {
    int64_t refresh = w->cfg->web_ids_refresh_ms;
    if (refresh == 0) return fd_webread_ids(r, prefix, scope, window, ids, n);
    int64_t now = fd_clock_mono_ms();
    pthread_mutex_lock(&w->ids_lock);
    for (size_t i = 0; i < WEB_IDS_CACHE; i++) {
        web_ids_entry_t *e = &w->ids_cache[i];
        if (!e->set || e->scope != scope || strcmp(e->window, window) != 0) continue;
        /* Fresh, or being listed again by another request: this one takes the list as it is
         * (one SCAN per window at a time, however many dashboards ask). */
        if (now - e->built_ms < refresh || e->refreshing) {
            bool ok = ids_copy(e->ids, e->n, ids);
            *n = ok ? e->n : 0;
            e->used_ms = now;
            pthread_mutex_unlock(&w->ids_lock);
            return ok ? FD_OK : FD_ERR_NOMEM;
        }
        e->refreshing = true;
        break;
    }
    pthread_mutex_unlock(&w->ids_lock);
    /* Listed outside the lock: other requests go on meanwhile. */
    fd_err_t err = fd_webread_ids(r, prefix, scope, window, ids, n);
    if (err != FD_OK) {
        pthread_mutex_lock(&w->ids_lock);
        for (size_t i = 0; i < WEB_IDS_CACHE; i++) {
            web_ids_entry_t *e = &w->ids_cache[i];
            if (e->set && e->scope == scope && strcmp(e->window, window) == 0 &&
                strcmp(e->prefix, prefix) == 0)
                e->refreshing = false;
        }
        pthread_mutex_unlock(&w->ids_lock);
        return err;
    }
    char **keep;
    bool kept = ids_copy(*ids, *n, &keep);
    pthread_mutex_lock(&w->ids_lock);
    web_ids_entry_t *slot = NULL;
    for (size_t i = 0; i < WEB_IDS_CACHE && slot == NULL; i++) {
        web_ids_entry_t *e = &w->ids_cache[i];
        if (e->set && e->scope == scope && strcmp(e->window, window) == 0 &&
            strcmp(e->prefix, prefix) == 0)
            slot = e;
    }
    for (size_t i = 0; i < WEB_IDS_CACHE && slot == NULL; i++)
        if (!w->ids_cache[i].set) slot = &w->ids_cache[i];
    if (!kept) { /* served, not kept: the old list, if any, is listed again next time */
        if (slot != NULL) slot->refreshing = false;
        pthread_mutex_unlock(&w->ids_lock);
        return FD_OK;
    }
    if (slot == NULL) { /* the least recently served one makes room */
        slot = &w->ids_cache[0];
        for (size_t i = 1; i < WEB_IDS_CACHE; i++)
            if (w->ids_cache[i].used_ms < slot->used_ms) slot = &w->ids_cache[i];
    }
    fd_webread_ids_free(slot->ids, slot->n);
    *slot = (web_ids_entry_t){
        .set = true, .scope = scope, .ids = keep, .n = *n, .built_ms = now, .used_ms = now};
    snprintf(slot->window, sizeof slot->window, "%s", window);
    snprintf(slot->prefix, sizeof slot->prefix, "%s", prefix);
    pthread_mutex_unlock(&w->ids_lock);
    return FD_OK;
}

fd_err_t fd_web_check_redis(fd_web_t *w, char *errstr, size_t errstr_size) {
    fd_redis_t *r = NULL;
    fd_err_t err = fd_redis_new(&w->ropts, &r);
    if (err != FD_OK) return err;
    err = fd_redis_check(r);
    if (err != FD_OK) snprintf(errstr, errstr_size, "%s", fd_redis_errstr(r));
    fd_redis_destroy(r);
    return err;
}

fd_err_t fd_web_run(fd_web_t *w, volatile sig_atomic_t *stop, char *errstr, size_t errstr_size) {
    fd_http_opts_t o = {.listen = w->cfg->web_listen,
                        .token = w->cfg->http_token,
                        .max_connections = (int)w->cfg->http_max_connections,
                        .max_request_bytes = (size_t)w->cfg->http_max_request_bytes,
                        .name = "web",
                        .observe = observe};
    fd_err_t err = fd_http_start(&o, routes, NROUTES, w, &w->http, errstr, errstr_size);
    if (err != FD_OK) return err;
    while (!*stop) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fd_log_info("web", "stopping");
    fd_http_stop(w->http);
    w->http = NULL;
    return FD_OK;
}

void fd_web_destroy(fd_web_t *w) {
    if (w == NULL) return;
    fd_http_stop(w->http);
    for (size_t i = 0; i < w->npool; i++)
        fd_redis_destroy(w->pool[i]);
    fd_rules_destroy(w->rules);
    fd_timewin_destroy(w->tw);
    fd_funnel_destroy(w->fn);
    pthread_mutex_destroy(&w->tw_lock);
    pthread_mutex_destroy(&w->pool_lock);
    for (size_t i = 0; i < WEB_IDS_CACHE; i++)
        fd_webread_ids_free(w->ids_cache[i].ids, w->ids_cache[i].n);
    pthread_mutex_destroy(&w->ids_lock);
    pthread_mutex_destroy(&w->prefix_lock);
    free(w);
}
