// SPDX-License-Identifier: MIT
// A thin HTTP server on libmicrohttpd for funneld's operator endpoints and funnel-web: routes,
// the bearer-token check (header, cookie, and the `/?token=` cookie flow), bounded connections
// and request sizes, GET and HEAD only, JSON errors, streamed replies (SSE), one thread per
// connection so a handler may block (layer 4). docs/http.md "Security and limits" describes it.
#ifndef FUNNELD_HTTP_H
#define FUNNELD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

typedef struct fd_http fd_http_t;         /* a running server */
typedef struct fd_http_req fd_http_req_t; /* one request, valid during the handler call */

/* Answers one request: must call exactly one fd_http_reply* (else the server answers 500). */
typedef void (*fd_http_handler_fn)(void *opaque, fd_http_req_t *req);

/* A route: the exact path, or (prefix) every path starting with it. The first match wins. */
typedef struct {
    const char *path;
    bool prefix;
    fd_http_handler_fn fn;
} fd_http_route_t;

/* Called after each answered request, on the connection's thread (count it with atomics):
 * route is the matched route's path ("" when none matched or the request was refused before
 * routing), status the HTTP status sent. */
typedef void (*fd_http_observe_fn)(void *opaque, const char *route, int status);

typedef struct {
    const char *listen;         /* "host:port", "[v6]:port"; port 0 = any free port */
    const char *token;          /* NULL or "": no authentication */
    int max_connections;        /* MHD_OPTION_CONNECTION_LIMIT */
    size_t max_request_bytes;   /* memory of a connection: request line + headers */
    const char *name;           /* "http" or "web": the log module and the first word of lines */
    fd_http_observe_fn observe; /* optional */
} fd_http_opts_t;

/* The cookie that carries the token for browsers. */
#define FD_HTTP_COOKIE "funneld_token"

/* Starts serving (its own threads) and logs "<name>: serving http://HOST:PORT" with the bound
 * port. routes (and their strings), opts->token and opaque are borrowed until fd_http_stop.
 * When a token is set every path but /livez and /readyz needs `Authorization: Bearer <token>`
 * or the cookie funneld_token=<token>; `GET /?token=<token>` sets the cookie and answers 303 to
 * `/`; anything else is 401. FD_ERR_CONFIG for a malformed listen value, FD_ERR_IO when it
 * cannot bind (errstr says why); *out NULL on error. */
fd_err_t fd_http_start(const fd_http_opts_t *o, const fd_http_route_t *routes, size_t n,
                       void *opaque, fd_http_t **out, char *errstr, size_t errsz);
/* The bound port (the real one after port 0). */
int fd_http_port(const fd_http_t *h);
/* Whether fd_http_stop has begun: a blocking handler or stream ends early when it is. */
bool fd_http_stopping(const fd_http_t *h);
/* Stops accepting, ends every stream, joins every connection thread, frees. NULL does nothing. */
void fd_http_stop(fd_http_t *h);

/* The request's decoded path (no query string); never NULL. */
const char *fd_http_path(const fd_http_req_t *r);
/* The method ("GET" or "HEAD": the server refuses the others before routing). */
const char *fd_http_method(const fd_http_req_t *r);
/* A query argument (decoded) or NULL when absent; "" for `?name` without a value. */
const char *fd_http_arg(const fd_http_req_t *r, const char *name);
/* The first query argument whose name is not one of allowed[0..n) ("token" is always allowed),
 * or NULL when there is none. Valid during the handler call. */
const char *fd_http_unknown_arg(const fd_http_req_t *r, const char *const *allowed, size_t n);
/* A request header (case-insensitive name) or NULL. */
const char *fd_http_header(const fd_http_req_t *r, const char *name);
/* The server the request came to. */
fd_http_t *fd_http_server(const fd_http_req_t *r);

/* Adds a response header for the reply to come (copied; at most 8). Cache-Control: no-store is
 * added unless a handler sets Cache-Control; X-Content-Type-Options: nosniff always. */
void fd_http_set_header(fd_http_req_t *r, const char *name, const char *value);
/* Answers with body (copied; len bytes) of type ctype. HEAD gets the headers only. */
void fd_http_reply(fd_http_req_t *r, int status, const char *ctype, const void *body, size_t len);
/* Answers with a JSON text (copied), application/json; charset=utf-8. */
void fd_http_reply_json(fd_http_req_t *r, int status, const char *json);
/* Answers {"error": "<reason>", "field": "<field>" | null, "status": <status>}; field may be
 * NULL. */
void fd_http_reply_error(fd_http_req_t *r, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A stream's producer: fills at most size bytes of buf and returns how many (> 0), 0 to be
 * called again (it must have waited a bounded time first, e.g. a blocking read of ~1 s: a
 * producer that returns 0 at once spins), or -1 to end the response. */
typedef ssize_t (*fd_http_stream_fn)(void *state, char *buf, size_t size);
/* Answers 200 with a body of unknown length made by fn, without the connection timeout. Takes
 * state: free_state (may be NULL) frees it when the response is done, whether fn ran or not
 * (HEAD, a client gone). The stream ends by itself when the server stops. */
void fd_http_reply_stream(fd_http_req_t *r, const char *ctype, fd_http_stream_fn fn, void *state,
                          void (*free_state)(void *));

/* Pure helpers (unit-tested). */

/* Whether a and b are the same string, in a time that does not depend on where they differ
 * (only on the length of b, the request's value). NULL equals nothing. */
bool fd_http_token_equal(const char *secret, const char *given);
/* The error JSON {"error":..,"field":..,"status":..} in a malloc'ed string (NULL when memory
 * is short); field may be NULL. */
char *fd_http_error_json(int status, const char *field, const char *reason);
/* The token of an Authorization header value "Bearer <token>" (scheme case-insensitive, spaces
 * after it skipped), or NULL when it is not one. Points into value. */
const char *fd_http_bearer(const char *value);

#endif
