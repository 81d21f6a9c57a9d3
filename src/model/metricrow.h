// SPDX-License-Identifier: MIT
// One message of the metrics topic: a metric hash as read from Redis rendered as the JSON value
// of docs/feeds.md, and the parser of metric key suffixes (layer 1, pure).
#ifndef FUNNELD_METRICROW_H
#define FUNNELD_METRICROW_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/funnel.h"
#include "model/metrics.h"
#include "model/timewin.h"

/* One partition a row reflects: every message of topic/partition before offset next. */
typedef struct {
    const char *topic;
    int32_t partition; /* >= 0 */
    int64_t next;      /* >= 0 */
} fd_metricrow_source_t;

/* One metric hash as read, with what the message says about it; every pointer is lent for the
 * call. fields[i] and values[i] are a field of the hash and its value as stored (NUL-terminated,
 * names distinct, as a hash has them); their order is kept in the message. */
typedef struct {
    const char *key; /* the key suffix <scope>:<window>[:<id>], e.g. "rep:day:2026-11-22:anna" */
    const char *const *fields;
    const char *const *values;
    size_t nfields;
    int64_t version;                  /* the publication round */
    int64_t published_ms;             /* when the row was read, ms since the epoch */
    const fd_metricrow_source_t *src; /* partitions, grouped by topic in the message */
    size_t nsrc;
} fd_metricrow_t;

/* Splits a metric key suffix from the left, as docs/redis.md says: the scope ("rep", "team",
 * "org"), then the window id ("all" or "<kind>:<value>", checked by fd_timewin_check_id), then
 * the rest is the id (rep and team: 1..FD_ID_MAX bytes of UTF-8 without control characters,
 * ':' and spaces allowed; org keys have none and get ""). FD_ERR_PARSE with errstr naming the
 * key, the part that is wrong, what was expected and what was found; FD_ERR_INVAL when key is
 * NULL. Every out-parameter is untouched on error. */
fd_err_t fd_metricrow_parse_key(const char *key, fd_scope_t *scope, char window[FD_WIN_ID_MAX],
                                char id[FD_ID_MAX + 1], char *errstr, size_t errstr_size);

/* Renders row as the JSON value of its metrics-topic message (docs/feeds.md): key, scope,
 * window, id (null for the org), window_start and window_end (RFC 3339 UTC; calendar windows
 * in tw's business timezone, hours in UTC; null for "all"), version, published_at (RFC 3339
 * UTC with milliseconds), source (topic -> partition -> next) and fields. Field types come from
 * fn's field table and the metrics table: a counter whose value is a JSON integer's digits
 * ("0" or no leading zero) is written as that integer, a rate or average of the form
 * <integer>[.<digits>] as that number, both with the stored text verbatim (never through a
 * double: "123456789012345678901" stays exact); amounts (won_amount, feedback_sum), fields fn
 * does not know and values without their type's shape are JSON strings holding the value
 * verbatim. On success *out is a NUL-terminated string the caller frees with free(). Errors
 * (*out NULL): FD_ERR_PARSE (errstr says why) for a malformed key or a field name, value or
 * topic that is not UTF-8; FD_ERR_INVAL for a NULL argument, name, value or topic, a negative
 * partition or offset, or a partition listed twice; FD_ERR_RANGE when published_ms or a window
 * bound is outside the years 0000..9999 that RFC 3339 can write; FD_ERR_NOMEM. */
fd_err_t fd_metricrow_json(const fd_funnel_t *fn, const fd_timewin_t *tw, const fd_metricrow_t *row,
                           char **out, char *errstr, size_t errstr_size);

#endif
