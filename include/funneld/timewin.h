// SPDX-License-Identifier: MIT
// Event time -> window ids in the business timezone: all, day, week (ISO), month, quarter
// (layer 1, pure apart from the process timezone it sets once).
#ifndef FUNNELD_TIMEWIN_H
#define FUNNELD_TIMEWIN_H

#include <stddef.h>
#include <stdint.h>

#include "funneld/err.h"

/* Window granularities, in the order windows are listed. */
typedef enum {
    FD_WIN_ALL = 0,
    FD_WIN_DAY,
    FD_WIN_WEEK,
    FD_WIN_MONTH,
    FD_WIN_QUARTER,
    FD_WIN_COUNT
} fd_win_kind_t;

#define FD_WIN_ID_MAX 32

/* The windows of one instant. id[k] is the window id ("all", "day:2026-11-22", "week:2026-W47",
 * "month:2026-11", "quarter:2026-Q4"); end_ms[k] is the first instant after the window in UTC epoch
 * ms (INT64_MAX for "all"). */
typedef struct {
    char id[FD_WIN_COUNT][FD_WIN_ID_MAX];
    int64_t end_ms[FD_WIN_COUNT];
} fd_windows_t;

typedef struct fd_timewin fd_timewin_t;

/* Creates a window calculator for the business timezone name (IANA, e.g. "Asia/Shanghai", or
 * "UTC"). It sets the process timezone (TZ) to name: one business timezone per process, which is
 * also why this is not thread-safe. FD_ERR_CONFIG with errstr when no such zone exists in
 * /usr/share/zoneinfo (package tzdata). */
fd_err_t fd_timewin_new(const char *name, fd_timewin_t **out, char *errstr, size_t errstr_size);
void fd_timewin_destroy(fd_timewin_t *tw);

/* Fills *w with the windows containing the instant at_ms in the business timezone. Correct across
 * DST changes (a day may be 23 or 25 hours), year ends, ISO week 53 and quarter ends. The local
 * day last looked up is cached in tw with its UTC bounds, so runs of nearby times are cheap. */
void fd_timewin_of(fd_timewin_t *tw, int64_t at_ms, fd_windows_t *w);

/* Name of a granularity: "all", "day", "week", "month", "quarter". */
const char *fd_timewin_kind_name(fd_win_kind_t kind);

/* Checks a window id string (as accepted by the tools): FD_OK if it is one of the forms above with
 * valid numbers, FD_ERR_PARSE otherwise. */
fd_err_t fd_timewin_check_id(const char *id);

#endif
