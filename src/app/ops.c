// SPDX-License-Identifier: MIT
// funneld's operator endpoints: /livez, /readyz, /metrics (layer 5).
#include "app/ops.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "io/http.h"

struct fd_ops {
    fd_http_t *http;
    fd_opsmetrics_t *om;
    int64_t max_lag;
    char *token;
};

/* 200 while the service loop turned within FD_OPS_LIVE_MS (its backoff sleeps turn too). */
static void livez(void *opaque, fd_http_req_t *req) {
    fd_ops_t *ops = opaque;
    int64_t beat = fd_opsmetrics_last_beat(ops->om), ago = fd_clock_mono_ms() - beat;
    char body[160];
    if (beat > 0 && ago <= FD_OPS_LIVE_MS) {
        fd_http_reply_json(req, 200, "{\"status\":\"ok\"}");
        return;
    }
    if (beat == 0)
        snprintf(body, sizeof body, "{\"status\":\"starting\",\"last_turn_ms_ago\":null}");
    else
        snprintf(body, sizeof body, "{\"status\":\"stalled\",\"last_turn_ms_ago\":%" PRId64 "}",
                 ago);
    fd_http_reply_json(req, 503, body);
}

/* 200 when every check passes: the loop is alive, Redis answered the loop's last command, the
 * group assigned this consumer (nothing assigned is fine: a standby), and the partitions it
 * holds lag by at most http.ready_max_lag messages in all. The body lists each check. */
static void readyz(void *opaque, fd_http_req_t *req) {
    fd_ops_t *ops = opaque;
    int64_t beat = fd_opsmetrics_last_beat(ops->om);
    bool live = beat > 0 && fd_clock_mono_ms() - beat <= FD_OPS_LIVE_MS;
    bool redis_ok, assigned;
    int64_t lag;
    fd_opsmetrics_ready(ops->om, &redis_ok, &assigned, &lag);
    bool lag_ok = lag >= 0 && lag <= ops->max_lag;
    bool ready = live && redis_ok && assigned && lag_ok;
    char body[512], lagtext[24] = "null";
    if (lag >= 0) snprintf(lagtext, sizeof lagtext, "%" PRId64, lag);
    snprintf(body, sizeof body,
             "{\"status\":\"%s\",\"checks\":{\"loop\":{\"ok\":%s},\"redis\":{\"ok\":%s},"
             "\"group\":{\"ok\":%s,\"assigned\":%s},\"lag\":{\"ok\":%s,\"lag\":%s,\"max\":%" PRId64
             "}}}",
             ready ? "ready" : "not ready", live ? "true" : "false", redis_ok ? "true" : "false",
             assigned ? "true" : "false", assigned ? "true" : "false", lag_ok ? "true" : "false",
             lagtext, ops->max_lag);
    fd_http_reply_json(req, ready ? 200 : 503, body);
}

static void metrics(void *opaque, fd_http_req_t *req) {
    fd_ops_t *ops = opaque;
    char *text = NULL;
    size_t len = 0;
    if (fd_opsmetrics_render(ops->om, &text, &len) != FD_OK) {
        fd_http_reply_error(req, 500, NULL, "out of memory rendering the metrics");
        return;
    }
    fd_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

static const fd_http_route_t routes[] = {
    {"/livez", false, livez},
    {"/readyz", false, readyz},
    {"/metrics", false, metrics},
};

fd_err_t fd_ops_start(const fd_config_t *cfg, fd_opsmetrics_t *om, fd_ops_t **out, char *errstr,
                      size_t errstr_size) {
    *out = NULL;
    if (strcmp(cfg->http_listen, "off") == 0) return FD_OK;
    fd_ops_t *ops = calloc(1, sizeof *ops);
    if (ops == NULL || (ops->token = strdup(cfg->http_token)) == NULL) {
        free(ops);
        snprintf(errstr, errstr_size, "out of memory");
        return FD_ERR_NOMEM;
    }
    ops->om = om;
    ops->max_lag = cfg->http_ready_max_lag;
    fd_http_opts_t o = {.listen = cfg->http_listen,
                        .token = ops->token,
                        .max_connections = (int)cfg->http_max_connections,
                        .max_request_bytes = (size_t)cfg->http_max_request_bytes,
                        .name = "http"};
    fd_err_t err = fd_http_start(&o, routes, sizeof routes / sizeof routes[0], ops, &ops->http,
                                 errstr, errstr_size);
    if (err != FD_OK) {
        free(ops->token);
        free(ops);
        return err;
    }
    *out = ops;
    return FD_OK;
}

int fd_ops_port(const fd_ops_t *ops) {
    return fd_http_port(ops->http);
}

void fd_ops_stop(fd_ops_t *ops) {
    if (ops == NULL) return;
    fd_http_stop(ops->http);
    free(ops->token);
    free(ops);
}
