// SPDX-License-Identifier: MIT
// The HTTP server adapter on libmicrohttpd: routing, token check, limits, JSON errors and
// streamed replies (layer 4). See http.h for the contract.
#include "io/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "base/clock.h"
#include "base/log.h"
#include "model/config.h"

/* An idle connection (no stream) is closed after this many seconds. */
#define HTTP_TIMEOUT_S   30
#define HTTP_MAX_HEADERS 8
/* Connections refused over the limit are logged at most once per this many ms. */
#define HTTP_REFUSED_LOG_MS 10000

struct fd_http {
    struct MHD_Daemon *daemon;
    const fd_http_route_t *routes;
    size_t nroutes;
    void *opaque;
    const char *token; /* NULL: no authentication */
    fd_http_observe_fn observe;
    char name[16];
    int port;
    int max_connections;
    atomic_int open;          /* connections MHD holds (accepted and not yet cleaned up) */
    atomic_ullong refused;    /* connections refused over max_connections, ever */
    atomic_llong refused_log; /* monotonic ms of the last "refusing" warning; 0: none */
    atomic_bool stopping;
};

struct fd_http_req {
    struct MHD_Connection *conn;
    fd_http_t *h;
    const char *path;
    const char *method;
    bool answered;
    bool queued; /* a response is queued (else MHD closes the connection) */
    int status;
    size_t nheaders;
    char *hname[HTTP_MAX_HEADERS];
    char *hvalue[HTTP_MAX_HEADERS];
};

/* ---- pure helpers ---- */

bool fd_http_token_equal(const char *secret, const char *given) {
    if (secret == NULL || given == NULL) return false;
    size_t ls = strlen(secret), lg = strlen(given);
    /* Every byte of given is compared (with secret's bytes cycled), so the time depends on the
     * length of the request's value only, never on where the values first differ. */
    volatile unsigned char diff = (unsigned char)(ls != lg);
    for (size_t i = 0; i < lg; i++) {
        unsigned char s = ls > 0 ? (unsigned char)secret[i % ls] : 0;
        diff |= (unsigned char)(s ^ (unsigned char)given[i]);
    }
    return diff == 0;
}

char *fd_http_error_json(int status, const char *field, const char *reason) {
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return NULL;
    char *text = NULL;
    if (cJSON_AddStringToObject(o, "error", reason != NULL ? reason : "") == NULL) goto done;
    if ((field != NULL ? cJSON_AddStringToObject(o, "field", field)
                       : cJSON_AddNullToObject(o, "field")) == NULL)
        goto done;
    if (cJSON_AddNumberToObject(o, "status", status) == NULL) goto done;
    text = cJSON_PrintUnformatted(o);
done:
    cJSON_Delete(o);
    return text;
}

const char *fd_http_bearer(const char *value) {
    if (value == NULL || strncasecmp(value, "Bearer", 6) != 0) return NULL;
    const char *p = value + 6;
    if (*p != ' ' && *p != '\t') return NULL;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p != '\0' ? p : NULL;
}

/* ---- requests ---- */

const char *fd_http_path(const fd_http_req_t *r) {
    return r->path;
}

const char *fd_http_method(const fd_http_req_t *r) {
    return r->method;
}

const char *fd_http_arg(const fd_http_req_t *r, const char *name) {
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    if (v != NULL) return v;
    /* `?name` without '=' is a key with a NULL value: report it as "". */
    return MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), NULL,
                                         NULL) == MHD_YES
               ? ""
               : NULL;
}

typedef struct {
    const char *const *allowed;
    size_t n;
    const char *bad;
} args_check_t;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
    args_check_t *c = cls;
    (void)kind;
    (void)value;
    if (strcmp(key, "token") == 0) return MHD_YES;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(key, c->allowed[i]) == 0) return MHD_YES;
    c->bad = key;
    return MHD_NO;
}

const char *fd_http_unknown_arg(const fd_http_req_t *r, const char *const *allowed, size_t n) {
    args_check_t c = {allowed, n, NULL};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_arg, &c);
    return c.bad;
}

const char *fd_http_header(const fd_http_req_t *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

fd_http_t *fd_http_server(const fd_http_req_t *r) {
    return r->h;
}

void fd_http_set_header(fd_http_req_t *r, const char *name, const char *value) {
    if (r->nheaders == HTTP_MAX_HEADERS) return;
    char *n = strdup(name), *v = strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return;
    }
    r->hname[r->nheaders] = n;
    r->hvalue[r->nheaders] = v;
    r->nheaders++;
}

static void req_clear(fd_http_req_t *r) {
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->hname[i]);
        free(r->hvalue[i]);
    }
    r->nheaders = 0;
}

/* Queues resp (destroyed here) with the handler's headers and the defaults. */
static void queue(fd_http_req_t *r, int status, const char *ctype, struct MHD_Response *resp) {
    if (r->answered) {
        if (resp != NULL) MHD_destroy_response(resp);
        return;
    }
    r->answered = true;
    r->status = status;
    if (resp == NULL) {
        fd_log_error(r->h->name, "%s %s: out of memory for the response", r->method, r->path);
        r->status = 500;
        return; /* no response queued: MHD closes the connection */
    }
    bool cache = false;
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->hname[i], "Cache-Control") == 0) cache = true;
        MHD_add_response_header(resp, r->hname[i], r->hvalue[i]);
    }
    if (!cache) MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (ctype != NULL) MHD_add_response_header(resp, "Content-Type", ctype);
    r->queued = MHD_queue_response(r->conn, (unsigned int)status, resp) == MHD_YES;
    if (!r->queued)
        fd_log_warn(r->h->name, "%s %s: could not queue the %d response", r->method, r->path,
                    status);
    MHD_destroy_response(resp);
}

void fd_http_reply(fd_http_req_t *r, int status, const char *ctype, const void *body, size_t len) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    queue(r, status, ctype, resp);
}

void fd_http_reply_json(fd_http_req_t *r, int status, const char *json) {
    fd_http_reply(r, status, "application/json; charset=utf-8", json, strlen(json));
}

void fd_http_reply_error(fd_http_req_t *r, int status, const char *field, const char *fmt, ...) {
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    char *json = fd_http_error_json(status, field, reason);
    if (json == NULL) {
        fd_http_reply_json(r, status,
                           "{\"error\":\"out of memory\",\"field\":null,\"status\":500}");
        return;
    }
    fd_http_reply_json(r, status, json);
    free(json);
}

/* ---- streams ---- */

typedef struct {
    fd_http_t *h;
    struct MHD_Connection *conn;
    fd_http_stream_fn fn;
    void *state;
    void (*free_state)(void *);
} stream_t;

/* Whether the client closed its side: an SSE client sends nothing after its request, so a
 * readable end of file means it is gone (found between two calls of the producer, not only at
 * the next write). */
static bool client_gone(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL) return false;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    stream_t *s = cls;
    (void)pos;
    /* MHD would spin on a 0 in thread-per-connection mode: loop here instead, the producer
     * waiting a bounded time on each call. */
    for (;;) {
        if (atomic_load(&s->h->stopping) || client_gone(s->conn))
            return MHD_CONTENT_READER_END_OF_STREAM;
        ssize_t n = s->fn(s->state, buf, max);
        if (n > 0) return n;
        if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
    }
}

static void stream_free(void *cls) {
    stream_t *s = cls;
    if (s->free_state != NULL) s->free_state(s->state);
    free(s);
}

void fd_http_reply_stream(fd_http_req_t *r, const char *ctype, fd_http_stream_fn fn, void *state,
                          void (*free_state)(void *)) {
    stream_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        if (free_state != NULL) free_state(state);
        fd_http_reply_error(r, 500, NULL, "out of memory");
        return;
    }
    *s = (stream_t){.h = r->h, .conn = r->conn, .fn = fn, .state = state, .free_state = free_state};
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (resp == NULL) {
        stream_free(s);
        fd_http_reply_error(r, 500, NULL, "out of memory");
        return;
    }
    /* A stream is idle between events by design: no connection timeout (keepalives and the
     * client_gone check bound a dead client). */
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    queue(r, 200, ctype, resp);
}

/* ---- serving ---- */

static bool path_is(const char *path, const char *want) {
    return strcmp(path, want) == 0;
}

/* Whether the request carries the token; answers the `/?token=` cookie flow and 401 itself.
 * True when the handler may run. */
static bool authorize(fd_http_t *h, fd_http_req_t *r) {
    if (h->token == NULL || path_is(r->path, "/livez") || path_is(r->path, "/readyz")) return true;
    const char *given = fd_http_arg(r, "token");
    if (path_is(r->path, "/") && given != NULL) {
        if (!fd_http_token_equal(h->token, given)) {
            fd_http_reply_error(r, 401, "token", "token: wrong token");
            return false;
        }
        char cookie[1024];
        snprintf(cookie, sizeof cookie, "%s=%s; HttpOnly; SameSite=Strict; Path=/", FD_HTTP_COOKIE,
                 h->token);
        fd_http_set_header(r, "Set-Cookie", cookie);
        fd_http_set_header(r, "Location", "/");
        fd_http_reply_json(r, 303, "{\"status\":\"ok\"}");
        return false;
    }
    const char *bearer = fd_http_bearer(fd_http_header(r, "Authorization"));
    if (bearer != NULL && fd_http_token_equal(h->token, bearer)) return true;
    const char *cookie = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, FD_HTTP_COOKIE);
    if (cookie != NULL && fd_http_token_equal(h->token, cookie)) return true;
    fd_http_set_header(r, "WWW-Authenticate", "Bearer");
    fd_http_reply_error(r, 401, NULL,
                        "authentication required: send Authorization: Bearer <http.token> or "
                        "open /?token=<http.token> once");
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    fd_http_t *h = cls;
    (void)version;
    (void)upload_data;
    static int answered_marker, headers_marker;
    if (*con_cls == &answered_marker) {
        /* A body after the answer was queued: discard it. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
    bool body = te != NULL || (clen != NULL && strcmp(clen, "0") != 0);
    if (*con_cls == NULL && !body) {
        /* The first call only has the headers. A response queued now makes MHD close the
         * connection after it (it will not read what follows the headers), so keep-alive would
         * never work: answer on the next call, once the whole request is in. A request that
         * announces a body is refused at once, and closed, as its body is never read. */
        *con_cls = &headers_marker;
        return MHD_YES;
    }
    *con_cls = &answered_marker;

    fd_http_req_t r = {.conn = conn, .h = h, .path = url != NULL ? url : "", .method = method};
    const char *route = "";
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!get && !head) {
        fd_http_set_header(&r, "Allow", "GET, HEAD");
        fd_http_reply_error(&r, 405, NULL, "method %.16s not allowed: only GET and HEAD", method);
    } else if (body) {
        fd_http_reply_error(&r, 413, NULL, "a request body is not accepted");
    } else if (authorize(h, &r)) {
        for (size_t i = 0; i < h->nroutes; i++) {
            const fd_http_route_t *rt = &h->routes[i];
            bool match = rt->prefix ? strncmp(r.path, rt->path, strlen(rt->path)) == 0
                                    : strcmp(r.path, rt->path) == 0;
            if (!match) continue;
            route = rt->path;
            rt->fn(h->opaque, &r);
            if (!r.answered) {
                fd_log_error(h->name, "%s %s: the handler gave no answer", method, r.path);
                fd_http_reply_error(&r, 500, NULL, "internal error: no answer");
            }
            break;
        }
        if (!r.answered) fd_http_reply_error(&r, 404, NULL, "no such path: %.200s", r.path);
    }
    req_clear(&r);
    if (h->observe != NULL) h->observe(h->opaque, route, r.status);
    return r.queued ? MHD_YES : MHD_NO;
}

/* Accept policy: a connection beyond max_connections is refused (MHD closes it at once,
 * unanswered). MHD's own limit is one more and never reached. Left to itself at its limit, MHD
 * 0.9.75 either accepts and closes each new connection with a warning per connection (a log flood
 * under overload), or, once it has an inter-thread channel (MHD_USE_ITC, which e.g.
 * MHD_OPTION_NOTIFY_COMPLETED implies), stops accepting: the connection then waits in the listen
 * backlog and is served whenever a slot frees. Called by MHD's polling thread, the one that also
 * emits the STARTED and CLOSED notifications that keep `open`. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
    fd_http_t *h = cls;
    (void)addr;
    (void)addrlen;
    if (atomic_load(&h->open) < h->max_connections) return MHD_YES;
    unsigned long long n = atomic_fetch_add(&h->refused, 1) + 1;
    long long now = fd_clock_mono_ms(), last = atomic_load(&h->refused_log);
    if ((last == 0 || now - last >= HTTP_REFUSED_LOG_MS) &&
        atomic_compare_exchange_strong(&h->refused_log, &last, now))
        fd_log_warn(h->name,
                    "%d connections open (http.max_connections): closing new ones at once "
                    "(%llu so far)",
                    h->max_connections, n);
    return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    fd_http_t *h = cls;
    (void)conn;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&h->open, 1);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&h->open, 1);
    }
}

static void on_log(void *cls, const char *fmt, va_list ap) {
    fd_http_t *h = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    fd_log_warn(h->name, "%s", line);
}

fd_err_t fd_http_start(const fd_http_opts_t *o, const fd_http_route_t *routes, size_t n,
                       void *opaque, fd_http_t **out, char *errstr, size_t errsz) {
    *out = NULL;
    char host[FD_LISTEN_HOST_MAX];
    int port = 0;
    bool loopback = false;
    const char *name = o->name != NULL ? o->name : "http";
    if (o->listen == NULL || !fd_config_listen(o->listen, host, sizeof host, &port, &loopback)) {
        snprintf(errstr, errsz, "%s: listen address %s: expected host:port or [v6]:port", name,
                 o->listen != NULL ? o->listen : "(none)");
        return FD_ERR_CONFIG;
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, NULL, &hints, &ai);
    if (gai != 0 || ai == NULL) {
        snprintf(errstr, errsz, "%s: listen address %s: %s", name, o->listen,
                 gai != 0 ? gai_strerror(gai) : "no address");
        return FD_ERR_CONFIG;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (v6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);

    fd_http_t *h = calloc(1, sizeof *h);
    if (h == NULL) return FD_ERR_NOMEM;
    h->routes = routes;
    h->nroutes = n;
    h->opaque = opaque;
    h->token = o->token != NULL && o->token[0] != '\0' ? o->token : NULL;
    h->observe = o->observe;
    snprintf(h->name, sizeof h->name, "%s", name);
    h->max_connections = o->max_connections > 0 ? o->max_connections : 64;
    atomic_init(&h->open, 0);
    atomic_init(&h->refused, 0);
    atomic_init(&h->refused_log, 0);
    atomic_init(&h->stopping, false);

    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0u);
    /* The logger goes first: MHD logs what the options before it say to stderr itself. */
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)port, on_accept, h, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_log, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        h, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)h->max_connections + 1u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(o->max_request_bytes > 0 ? o->max_request_bytes : 16384),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_TIMEOUT_S, MHD_OPTION_END);
    if (h->daemon == NULL) {
        snprintf(errstr, errsz, "%s: cannot serve on %s (address in use or not local?)", name,
                 o->listen);
        free(h);
        return FD_ERR_IO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di != NULL ? di->port : port;
    if (v6)
        fd_log_info(h->name, "serving http://[%s]:%d", host, h->port);
    else
        fd_log_info(h->name, "serving http://%s:%d", host, h->port);
    *out = h;
    return FD_OK;
}

int fd_http_port(const fd_http_t *h) {
    return h->port;
}

bool fd_http_stopping(const fd_http_t *h) {
    return atomic_load(&((fd_http_t *)h)->stopping);
}

void fd_http_stop(fd_http_t *h) {
    if (h == NULL) return;
    atomic_store(&h->stopping, true);
    MHD_stop_daemon(h->daemon);
    free(h);
}
