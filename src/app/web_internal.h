// SPDX-License-Identifier: MIT
// What web.c, webapi.c and webstream.c share: the server's state and the handlers (layer 5,
// private to funnel-web).
#ifndef FUNNELD_WEB_INTERNAL_H
#define FUNNELD_WEB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "alerting/rulesfile.h"
#include "app/web.h"
#include "io/current.h"
#include "io/http.h"
#include "io/redis.h"
#include "io/webread.h"
#include "model/funnel.h"
#include "model/timewin.h"

#define WEB_POOL_MAX 16 /* idle Redis connections kept for the API */
#define WEB_ROUTES   24 /* at least the routes + 1 (unmatched) */
#define WEB_STATUSES 12

/* A window's list of ids, reused for web.ids_refresh_ms (listing them SCANs every key). */
#define WEB_IDS_CACHE 32
typedef struct {
    bool set;
    fd_scope_t scope;
    char window[FD_WIN_ID_MAX];
    char prefix[FD_PREFIX_MAX];
    char **ids; /* sorted, distinct (fd_webread_ids) */
    size_t n;
    int64_t built_ms; /* monotonic: when the SCAN that listed them began */
    int64_t used_ms;  /* monotonic: last served, for replacing the least recently used */
    bool refreshing;  /* a request is listing them again: others take this list meanwhile */
} web_ids_entry_t;

struct fd_web {
    const fd_config_t *cfg;
    fd_funnel_t *fn;
    fd_timewin_t *tw; /* not thread safe: under tw_lock */
    pthread_mutex_t tw_lock;
    fd_rules_t *rules; /* NULL without alerts.rules */
    fd_redis_opts_t ropts;
    pthread_mutex_t pool_lock;
    fd_redis_t *pool[WEB_POOL_MAX];
    size_t npool;
    fd_http_t *http;
    atomic_int streams;
    atomic_llong redis_errors;
    atomic_llong requests[WEB_ROUTES][WEB_STATUSES];
    pthread_mutex_t ids_lock;
    web_ids_entry_t ids_cache[WEB_IDS_CACHE];
    /* the active prefix (<redis.prefix>:current when redis.follow_current is on), read at most
     * once a second by a request */
    pthread_mutex_t prefix_lock;
    bool follow;
    char prefix[FD_PREFIX_MAX];
    bool prefix_read;
    int64_t prefix_read_ms;
};

/* A Redis connection for one request (from the pool, or new); NULL when memory is short. */
fd_redis_t *web_redis_take(fd_web_t *w);
/* Gives it back (kept when it is connected and the pool has room, destroyed otherwise). */
void web_redis_give(fd_web_t *w, fd_redis_t *r);
/* Answers 503 for a Redis failure, counts it and logs it. */
void web_redis_failed(fd_web_t *w, fd_http_req_t *req, fd_redis_t *r);

/* The active prefix into out: <redis.prefix>:current read on r (may be NULL) when a second has
 * passed since the last read, else the last one read (redis.prefix until then, and always with
 * redis.follow_current off). A failed read keeps the last one. Thread safe. */
void web_prefix(fd_web_t *w, fd_redis_t *r, char out[FD_PREFIX_MAX]);

/* The ids of scope and window under prefix as fd_webread_ids lists them, reused from an earlier
 * listing for web.ids_refresh_ms (0: always listed); *ids freed with fd_webread_ids_free. */
fd_err_t web_ids(fd_web_t *w, fd_redis_t *r, const char *prefix, fd_scope_t scope,
                 const char *window, char ***ids, size_t *n);

/* The current windows (wall clock) in the business timezone, under the lock. */
void web_windows_now(fd_web_t *w, fd_windows_t *out);

/* Resolves the window parameter (NULL: "today") into id; false after answering 400. Fills the
 * bounds (bounded false for "all"). */
bool web_window(fd_web_t *w, fd_http_req_t *req, char id[FD_WIN_ID_MAX], bool *bounded,
                int64_t *start_ms, int64_t *end_ms);

/* The /api/v1/status JSON (with instances or not) into a malloc'ed string; *state gets the
 * state name. FD_ERR_REDIS, FD_ERR_NOMEM. */
fd_err_t web_status_json(fd_web_t *w, fd_redis_t *r, const char *position, bool instances,
                         char **out, const char **state);

/* A heartbeat's parts lines as a JSON array of {topic, partition, next, lag} (null when empty);
 * adds the known lags to *lag_sum, sets *any_lag when one is known and *lagging when one is > 0. */
cJSON *web_heartbeat_parts(const char *text, int64_t *lag_sum, bool *any_lag, bool *lagging);

void web_api_meta(void *opaque, fd_http_req_t *req);
void web_api_funnel(void *opaque, fd_http_req_t *req);
void web_api_reps(void *opaque, fd_http_req_t *req);
void web_api_teams(void *opaque, fd_http_req_t *req);
void web_api_leaderboard(void *opaque, fd_http_req_t *req);
void web_api_alerts(void *opaque, fd_http_req_t *req);
void web_api_alerts_history(void *opaque, fd_http_req_t *req);
void web_api_status(void *opaque, fd_http_req_t *req);
void web_api_stream(void *opaque, fd_http_req_t *req);
void web_api_scorecard(void *opaque, fd_http_req_t *req);
void web_api_ranking(void *opaque, fd_http_req_t *req);

#endif
