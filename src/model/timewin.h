// SPDX-License-Identifier: MIT
// Event time -> window ids in the business timezone: all, day, week (ISO), month, quarter
// (layer 1, pure apart from the process timezone (TZ) it sets).
#ifndef FUNNELD_TIMEWIN_H
#define FUNNELD_TIMEWIN_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Window granularities, in the order windows are listed. */
typedef enum {
    FD_WIN_ALL = 0,
    FD_WIN_DAY,
    FD_WIN_WEEK,
    FD_WIN_MONTH,
    FD_WIN_QUARTER,
    FD_WIN_HOUR, /* UTC hours, the buckets of rolling windows; kept only when configured */
    FD_WIN_COUNT
} fd_win_kind_t;

#define FD_WIN_ID_MAX 32

/* The windows of one instant. id[k] is the window id ("all", "day:2026-11-22", "week:2026-W47",
 * "month:2026-11", "quarter:2026-Q4", "hour:2026-11-22T10" (the UTC hour)); start_ms[k] is the
 * window's first instant and end_ms[k] the first instant after it, in UTC epoch ms (INT64_MIN and
 * INT64_MAX for "all"). */
typedef struct {
    char id[FD_WIN_COUNT][FD_WIN_ID_MAX];
    int64_t start_ms[FD_WIN_COUNT];
    int64_t end_ms[FD_WIN_COUNT];
} fd_windows_t;

typedef struct fd_timewin fd_timewin_t;

/* Creates a window calculator for the business timezone name: "UTC", or an IANA name that is a
 * zone file of /usr/share/zoneinfo (package tzdata), e.g. "Asia/Shanghai". It sets the process
 * timezone (TZ, then tzset()): only one business timezone is active per process at a time. If
 * another object or anyone else changes TZ later, fd_timewin_of sets this object's zone again
 * before computing, so each object stays correct, but none of this is thread-safe: use the
 * module from one thread and do not change TZ elsewhere. FD_ERR_CONFIG with errstr naming
 * funnel.timezone and the value when the name is empty, escapes the zoneinfo directory ("/...",
 * ".."), is no zone of /usr/share/zoneinfo, or that directory is missing; FD_ERR_NOMEM. *out is
 * NULL on error. */
fd_err_t fd_timewin_new(const char *name, fd_timewin_t **out, char *errstr, size_t errstr_size);
void fd_timewin_destroy(fd_timewin_t *tw);

/* Fills *w with the windows containing the instant at_ms in the business timezone. Correct across
 * DST changes (a day may be 23 or 25 hours, or begin at 01:00 where midnight is skipped), year
 * ends, ISO week 53 and quarter ends. Each end_ms is the first instant after at_ms whose local
 * date belongs to a later window, so end_ms > at_ms always. The last 16 local days and UTC
 * hours looked up are kept in tw with their UTC bounds (days with a UTC offset change are not),
 * so times that jump among a few days (several partitions read in turn) are cheap. at_ms outside
 * 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z is clamped to that range. */
void fd_timewin_of(fd_timewin_t *tw, int64_t at_ms, fd_windows_t *w);

/* Name of a granularity: "all", "day", "week", "month", "quarter", "hour" ("unknown" out of
 * range). */
const char *fd_timewin_kind_name(fd_win_kind_t kind);

/* Checks a window id string (as accepted by the tools): FD_OK if it is exactly one of the forms
 * above with a 4-digit year and valid numbers (a real calendar date, ISO week 01..52 or 53 as that
 * ISO year has, month 01..12, quarter Q1..Q4, hour 00..23), FD_ERR_PARSE otherwise. */
fd_err_t fd_timewin_check_id(const char *id);

/* The instants of the window id (a form fd_timewin_check_id accepts): *start_ms is its first
 * instant and *end_ms the first instant after it, in UTC epoch ms, the same bounds fd_timewin_of
 * gives for every instant inside the window. Calendar windows (day, week, month, quarter) begin
 * at the first instant of their first local date in tw's business timezone and end at the first
 * instant of the local date after their last (a DST day lasts 23 or 25 hours; an ISO week, 53rd
 * included, runs from a Monday to the next); hours are UTC hours; "all" is [INT64_MIN,
 * INT64_MAX). A date that begins twice (America/Moncton 1993-10-31) gets one of its beginnings.
 * Sets the process timezone as fd_timewin_of does. FD_ERR_PARSE, both untouched, when id is not
 * a window id. */
fd_err_t fd_timewin_bounds(const fd_timewin_t *tw, const char *id, int64_t *start_ms,
                           int64_t *end_ms);

#endif
