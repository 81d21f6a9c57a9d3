// SPDX-License-Identifier: MIT
// Event contract: message bytes -> a validated fd_event_t, or a rejection reason with a message
// naming the field (layer 1, pure; cJSON stays inside this module). Contract: docs/events.md.
#ifndef FUNNELD_EVENT_H
#define FUNNELD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/funnel.h"

#define FD_EVENT_MAX_BYTES 65536        /* largest accepted message */
#define FD_EVENT_MAX_DEPTH 16           /* deepest accepted JSON nesting */
#define FD_TEAM_UNASSIGNED "unassigned" /* the team_id of an event without one */

/* Rejection reasons, machine-readable (the dead-letter header funneld.reason, the stats field
 * rejected:<reason>). X(name, "reason") */
#define FD_REJECT_MAP(X)                                                                           \
    X(OVERSIZE, "oversize")                                                                        \
    X(NOT_UTF8, "invalid_utf8")                                                                    \
    X(NOT_JSON, "invalid_json")                                                                    \
    X(TOO_DEEP, "too_deep")                                                                        \
    X(NOT_OBJECT, "not_object")                                                                    \
    X(DUPLICATE_KEY, "duplicate_key")                                                              \
    X(MISSING_FIELD, "missing_field")                                                              \
    X(WRONG_TYPE, "wrong_type")                                                                    \
    X(BAD_ID, "invalid_id")                                                                        \
    X(UNKNOWN_TYPE, "unknown_type")                                                                \
    X(UNKNOWN_STAGE, "unknown_stage")                                                              \
    X(UNKNOWN_ACTIVITY, "unknown_activity")                                                        \
    X(BAD_TIMESTAMP, "invalid_timestamp")                                                          \
    X(BAD_AMOUNT, "invalid_amount")                                                                \
    X(BAD_SCORE, "invalid_score")                                                                  \
    X(NUL_CHARACTER, "nul_character")                                                              \
    X(BAD_STAGE, "invalid_stage")

typedef enum {
    FD_REJECT_NONE = 0,
#define X(name, text) FD_REJECT_##name,
    FD_REJECT_MAP(X)
#undef X
        FD_REJECT_COUNT
} fd_reject_t;

/* A validated event. All strings NUL-terminated; optional ones are "" when absent (team_id is
 * "unassigned" when absent). Value struct owned by the caller; holds no pointers. */
typedef struct {
    fd_event_type_t type;
    char event_id[FD_ID_MAX + 1];
    char rep_id[FD_ID_MAX + 1];
    char team_id[FD_ID_MAX + 1];
    char deal_id[FD_ID_MAX + 1]; /* "" when absent (allowed for activity / feedback) */
    uint8_t event_id_len;
    int64_t occurred_ms; /* epoch milliseconds, UTC */
    int stage;           /* stage index, -1 when absent */
    int activity;        /* activity kind index, -1 unless activity.logged */
    int64_t amount_c;    /* amount in hundredths (rounded half away from zero), -1 absent */
    int32_t score_c;     /* feedback score in hundredths (100..500), -1 when absent */
    bool complaint;      /* feedback complaint: true */
} fd_event_t;

/* Parses and validates one message of len bytes against the contract and fn's stages and kinds.
 * Returns FD_REJECT_NONE and fills *ev, or a reason with errstr naming the field, what was
 * expected and what was found ("stage: unknown stage 'demo' for deal.stage_changed"). Never reads
 * beyond len; buf need not be NUL-terminated. *ev is unspecified after a rejection. */
fd_reject_t fd_event_parse(const fd_funnel_t *fn, const void *buf, size_t len, fd_event_t *ev,
                           char *errstr, size_t errstr_size);

/* Machine-readable name of a reason ("invalid_timestamp"); "none" for FD_REJECT_NONE. */
const char *fd_reject_name(fd_reject_t reason);

/* Contract name of an event type ("deal.stage_changed"). */
const char *fd_event_type_name(fd_event_type_t type);

/* Parses an RFC 3339 timestamp (Z or +-hh:mm, optional fraction, 'T' or 't' or ' ') of len bytes
 * into epoch milliseconds (fraction truncated to ms; second 60 reads as 59.999). FD_ERR_PARSE when
 * malformed or a field is out of range (month 13, Feb 30, hour 24, offset 24:00). Any year
 * 0000..9999 parses, so *out_ms may be negative; fd_event_parse applies the contract's range. */
fd_err_t fd_event_parse_time(const char *s, size_t len, int64_t *out_ms);

/* True when len bytes at s are valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool fd_utf8_valid(const char *s, size_t len);

#endif
