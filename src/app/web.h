// SPDX-License-Identifier: MIT
// funnel-web: the dashboard's server (page, assets, /api/v1, the SSE stream, its own /livez,
// /readyz, /metrics) over io/http, reading Redis only (layer 5). docs/http.md describes it.
#ifndef FUNNELD_WEB_H
#define FUNNELD_WEB_H

#include <signal.h>

#include "base/err.h"
#include "model/config.h"

typedef struct fd_web fd_web_t;

/* Builds the server from cfg (borrowed until destroy): the funnel, the business timezone, the
 * managers of alerts.rules when set. FD_ERR_CONFIG with errstr when a setting is wrong (a
 * time zone, the rules file, web.listen "off"); nothing is served yet. *out NULL on error. */
fd_err_t fd_web_new(const fd_config_t *cfg, fd_web_t **out, char *errstr, size_t errstr_size);
/* Checks that Redis answers with these credentials (FD_ERR_CONFIG: refused; FD_ERR_REDIS:
 * unreachable, a warning only at start-up). */
fd_err_t fd_web_check_redis(fd_web_t *w, char *errstr, size_t errstr_size);
/* Serves until *stop is set (a signal). FD_ERR_IO (errstr) when it cannot listen. */
fd_err_t fd_web_run(fd_web_t *w, volatile sig_atomic_t *stop, char *errstr, size_t errstr_size);
void fd_web_destroy(fd_web_t *w);

#endif
