// SPDX-License-Identifier: MIT
// The lifecycle of one (rule, scope id) alert: ok -> pending -> firing -> resolved -> ok, with
// for-durations, resolve-durations and repeats, plus its compact text codec for Redis; pure
// (layer 3). Reference: docs/alerts.md.
#ifndef FUNNELD_ALERTFSM_H
#define FUNNELD_ALERTFSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum {
    FD_ALERT_OK = 0,
    FD_ALERT_PENDING,  /* condition holds, waiting for `for` */
    FD_ALERT_FIRING,   /* notified; waiting for resolve_for of healthy values */
    FD_ALERT_RESOLVED, /* notified resolved; behaves as ok for the next step */
    FD_ALERT_STATE_COUNT
} fd_alert_state_t;

/* Value struct, owned by the caller; all zero is a valid "ok, never fired" state. */
typedef struct {
    fd_alert_state_t state;
    int64_t since_ms;       /* pending: when the condition began holding; firing/resolved: the
                             * episode's started_at (when it began firing) */
    int64_t clear_since_ms; /* firing: when healthy values began, 0 while not healthy */
    int64_t notified_ms;    /* firing: the last firing notification (first or repeat) */
    int64_t resolved_ms;    /* when the last episode resolved (kept through ok and pending) */
    uint32_t repeats;       /* repeat notifications sent in this episode */
} fd_alertfsm_t;

typedef enum {
    FD_ALERT_EMIT_NONE = 0,
    FD_ALERT_EMIT_FIRING,  /* first notification of an episode */
    FD_ALERT_EMIT_REPEAT,  /* repeat_ms elapsed while firing */
    FD_ALERT_EMIT_RESOLVED /* the episode ended */
} fd_alert_emit_t;

/* Advances st by one evaluation at now_ms (fire/clear from fd_rules_eval) and says what to
 * notify. ok/resolved + fire: pending (firing at once when for_ms is 0); pending + !fire: ok;
 * pending + fire held for_ms: firing; firing + clear held resolve_for_ms: resolved; firing +
 * !clear: restarts the healthy clock, repeats every repeat_ms (0 = never). A clock that goes
 * backwards counts as no time passed. */
fd_alert_emit_t fd_alertfsm_step(fd_alertfsm_t *st, bool fire, bool clear, int64_t now_ms,
                                 int64_t for_ms, int64_t resolve_for_ms, int64_t repeat_ms);

/* "ok", "pending", "firing", "resolved". */
const char *fd_alertfsm_state_name(fd_alert_state_t state);

#define FD_ALERTFSM_TEXT_MAX 128
/* Text form stored in Redis ("a1 firing 1764000000000 0 1764000000000 0 0"); NUL-terminated,
 * at most FD_ALERTFSM_TEXT_MAX bytes with the NUL. */
void fd_alertfsm_encode(const fd_alertfsm_t *st, char *buf, size_t size);
/* Parses len bytes of the text form; FD_ERR_PARSE (st unchanged) when malformed. */
fd_err_t fd_alertfsm_decode(const char *s, size_t len, fd_alertfsm_t *st);

#endif
