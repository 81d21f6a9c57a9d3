// SPDX-License-Identifier: MIT
// The lifecycle of one (rule, scope id) alert and its text codec for Redis (layer 3, pure).
// Reference: docs/alerts.md.
#include "alerting/alertfsm.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[FD_ALERT_STATE_COUNT] = {"ok", "pending", "firing",
                                                              "resolved"};

const char *fd_alertfsm_state_name(fd_alert_state_t state) {
    return (unsigned)state < FD_ALERT_STATE_COUNT ? state_names[state] : "unknown";
}

/* Time from since to now; a clock that went backwards counts as no time passed. */
static int64_t held(int64_t since, int64_t now) {
    return now > since ? now - since : 0;
}

/* Enters firing: a new episode whose started_at is now, or just after the end of the previous
 * episode when that ended at the same clock (its ids derive from started_at: a second episode
 * must not repeat the first's). */
static fd_alert_emit_t start_firing(fd_alertfsm_t *st, int64_t now_ms) {
    int64_t start = now_ms > st->resolved_ms ? now_ms : st->resolved_ms + 1;
    *st = (fd_alertfsm_t){
        .state = FD_ALERT_FIRING, .since_ms = start, .notified_ms = start, .repeats = 0};
    return FD_ALERT_EMIT_FIRING;
}

fd_alert_emit_t fd_alertfsm_step(fd_alertfsm_t *st, bool fire, bool clear, int64_t now_ms,
                                 int64_t for_ms, int64_t resolve_for_ms, int64_t repeat_ms) {
    switch (st->state) {
    case FD_ALERT_PENDING:
        if (!fire) {
            *st = (fd_alertfsm_t){.resolved_ms = st->resolved_ms};
            return FD_ALERT_EMIT_NONE;
        }
        if (held(st->since_ms, now_ms) >= for_ms) return start_firing(st, now_ms);
        return FD_ALERT_EMIT_NONE;

    case FD_ALERT_FIRING:
        if (!clear) {
            /* unhealthy (or inside the hysteresis band): the healthy clock starts over */
            st->clear_since_ms = 0;
            if (repeat_ms > 0 && held(st->notified_ms, now_ms) >= repeat_ms) {
                st->notified_ms = now_ms;
                st->repeats++;
                return FD_ALERT_EMIT_REPEAT;
            }
            return FD_ALERT_EMIT_NONE;
        }
        if (st->clear_since_ms == 0) st->clear_since_ms = now_ms;
        if (held(st->clear_since_ms, now_ms) >= resolve_for_ms) {
            /* since_ms stays: the resolved notification belongs to the same episode */
            st->state = FD_ALERT_RESOLVED;
            st->resolved_ms = now_ms;
            st->clear_since_ms = 0;
            return FD_ALERT_EMIT_RESOLVED;
        }
        return FD_ALERT_EMIT_NONE;

    default: /* ok, resolved (and anything unknown, treated as ok) */
        if (!fire) {
            /* resolved -> ok: the episode is over; when it ended is kept (start_firing) */
            *st = (fd_alertfsm_t){.resolved_ms = st->resolved_ms};
            return FD_ALERT_EMIT_NONE;
        }
        if (for_ms <= 0) return start_firing(st, now_ms);
        *st = (fd_alertfsm_t){
            .state = FD_ALERT_PENDING, .since_ms = now_ms, .resolved_ms = st->resolved_ms};
        return FD_ALERT_EMIT_NONE;
    }
}

void fd_alertfsm_encode(const fd_alertfsm_t *st, char *buf, size_t size) {
    if (size == 0) return;
    snprintf(buf, size, "a1 %s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRIu32,
             fd_alertfsm_state_name(st->state), st->since_ms, st->clear_since_ms, st->notified_ms,
             st->resolved_ms, st->repeats);
}

/* Reads a decimal integer (optional '-', 1..19 digits) at *p up to a space or end; advances *p. */
static bool read_i64(const char **p, const char *end, int64_t *out) {
    const char *s = *p;
    bool neg = false;
    if (s < end && *s == '-') neg = true, s++;
    const char *digits = s;
    uint64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (s - digits >= 19) return false;
        v = v * 10 + (uint64_t)(*s++ - '0');
    }
    if (s == digits || (s < end && *s != ' ')) return false;
    if (s - digits > 1 && *digits == '0') return false; /* one spelling per number */
    if (v > (uint64_t)INT64_MAX) return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    *p = s;
    return true;
}

fd_err_t fd_alertfsm_decode(const char *s, size_t len, fd_alertfsm_t *st) {
    if (s == NULL || st == NULL || len < 3 || len >= FD_ALERTFSM_TEXT_MAX) return FD_ERR_PARSE;
    const char *p = s, *end = s + len;
    if (memcmp(p, "a1 ", 3) != 0) return FD_ERR_PARSE;
    p += 3;
    fd_alertfsm_t t = {0};
    int state = -1;
    for (int k = 0; k < FD_ALERT_STATE_COUNT; k++) {
        size_t n = strlen(state_names[k]);
        if ((size_t)(end - p) > n && memcmp(p, state_names[k], n) == 0 && p[n] == ' ') {
            state = k;
            p += n;
            break;
        }
    }
    if (state < 0) return FD_ERR_PARSE;
    t.state = (fd_alert_state_t)state;
    int64_t *fields[] = {&t.since_ms, &t.clear_since_ms, &t.notified_ms, &t.resolved_ms};
    for (size_t k = 0; k < 4; k++) {
        if (p >= end || *p != ' ') return FD_ERR_PARSE;
        p++;
        if (!read_i64(&p, end, fields[k])) return FD_ERR_PARSE;
    }
    int64_t rep;
    if (p >= end || *p != ' ') return FD_ERR_PARSE;
    p++;
    if (p < end && *p == '-') return FD_ERR_PARSE;
    if (!read_i64(&p, end, &rep) || rep > UINT32_MAX || p != end) return FD_ERR_PARSE;
    t.repeats = (uint32_t)rep;
    *st = t;
    return FD_OK;
}
