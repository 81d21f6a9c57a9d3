// SPDX-License-Identifier: MIT
// funneld's operator endpoints on http.listen: /livez, /readyz and /metrics, served from the
// service's operator metrics (app/opsmetrics) by io/http's threads (layer 5). docs/http.md
// "Operator endpoints" is the reference.
#ifndef FUNNELD_OPS_H
#define FUNNELD_OPS_H

#include <stddef.h>

#include "app/opsmetrics.h"
#include "base/err.h"
#include "model/config.h"

/* The loop must have turned this recently for /livez to answer 200. */
#define FD_OPS_LIVE_MS 10000

typedef struct fd_ops fd_ops_t;

/* Serves the endpoints on cfg->http_listen (http.token, http.max_connections and
 * http.max_request_bytes apply; /readyz's lag bound is http.ready_max_lag; cfg is read during
 * the call only) from om (borrowed: stop before destroying it). http.listen=off: FD_OK with *out
 * NULL, nothing served. FD_ERR_CONFIG / FD_ERR_IO (errstr says why: a malformed listen value,
 * the address cannot be bound); FD_ERR_NOMEM. */
fd_err_t fd_ops_start(const fd_config_t *cfg, fd_opsmetrics_t *om, fd_ops_t **out, char *errstr,
                      size_t errstr_size);
/* The bound port (after port 0). */
int fd_ops_port(const fd_ops_t *ops);
/* Stops serving, joins every connection thread, frees. NULL does nothing. */
void fd_ops_stop(fd_ops_t *ops);

#endif
