// SPDX-License-Identifier: MIT
// Event time -> window ids and window ends in the business timezone, through the C library's
// tz database (layer 1, pure apart from the process timezone it sets).
#include "model/timewin.h"

#include <assert.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ZONEINFO_DIR  "/usr/share/zoneinfo"
#define ZONE_NAME_MAX 128

/* Supported instants: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z. Anything outside is
 * clamped, so that localtime_r never fails and every year prints as 4 digits in UTC. */
#define MIN_MS (-62135596800000LL)
#define MAX_MS 253402300799999LL

/* Real UTC offsets stay within about +-16 h (LMT included), so the local midnight of a date
 * lies within this margin of the same wall-clock reading taken as UTC. */
#define OFFSET_MARGIN_S (26 * 3600)

/* Days and hours remembered: a consumer reads several partitions in turn, so consecutive
 * events jump between a few days of event time; a small set, scanned in full, catches them. */
#define DAY_SLOTS  16
#define HOUR_SLOTS 16

/* A local day looked up: every instant of [start_ms, end_ms) has that local date and the
 * windows in win. Only kept for days with one UTC offset throughout (see fd_timewin_of). */
typedef struct {
    int64_t start_ms, end_ms; /* empty (start_ms == end_ms) when unused */
    fd_windows_t win;
} day_slot_t;

/* A UTC hour formatted: hour number since the epoch and its id. */
typedef struct {
    bool valid;
    int64_t hour;
    char id[FD_WIN_ID_MAX];
} hour_slot_t;

struct fd_timewin {
    char tz[sizeof(ZONEINFO_DIR) + ZONE_NAME_MAX + 3]; /* the TZ value this object set */
    day_slot_t day[DAY_SLOTS];
    size_t day_next; /* the slot the next new day replaces (round robin) */
    hour_slot_t hour[HOUR_SLOTS];
    size_t hour_next;
};

static const char *const kind_names[FD_WIN_COUNT] = {"all",   "day",     "week",
                                                     "month", "quarter", "hour"};

/* ---- proleptic Gregorian calendar arithmetic (Howard Hinnant's days_from_civil) ---- */

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365], March-based */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* ISO weekday of a day number: Monday 1 .. Sunday 7 (1970-01-01 was a Thursday). */
static int iso_weekday(int64_t days) {
    int64_t since_monday = days + 3 - floor_div(days + 3, 7) * 7; /* floor mod: [0, 6] */
    return (int)since_monday + 1;
}

/* ISO 8601 week-numbering year and week of a day: the week belongs to the year of its Thursday,
 * and week 1 is the week holding that year's first Thursday (equivalently, January 4th). */
static void iso_week(int64_t days, int64_t *year, int *week) {
    int64_t thursday = days - iso_weekday(days) + 4;
    int m, d;
    civil_from_days(thursday, year, &m, &d);
    *week = (int)((thursday - days_from_civil(*year, 1, 1)) / 7) + 1;
}

/* 52 or 53: December 28th always lies in the last ISO week of its year. */
static int iso_weeks_in_year(int64_t year) {
    int64_t y;
    int w;
    iso_week(days_from_civil(year, 12, 28), &y, &w);
    return w;
}

static int days_in_month(int64_t y, int m) {
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : len[m - 1];
}

/* ---- local time through the C library ---- */

/* Local date of instant t as a day number; *gmtoff gets its UTC offset in seconds. */
static int64_t local_day(time_t t, long *gmtoff) {
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL) { /* cannot happen inside [MIN_MS, MAX_MS] + margins */
        if (gmtoff) *gmtoff = 0;
        return floor_div((int64_t)t, 86400);
    }
    if (gmtoff) *gmtoff = tm.tm_gmtoff;
    return days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* The first instant in (lo, hi] whose local date is day or later, where the local date of lo is
 * before day and that of hi is not (the caller guarantees both).
 *
 * Fast path: mktime of 00:00 with tm_isdst = -1. It is only trusted after checking that it is a
 * date change (local date of r is day or later, of r - 1 before day), because mktime has no
 * specified answer where 00:00 does not exist (America/Santiago and Asia/Beirut spring forward
 * at midnight; an implementation may return 23:00 of the day before) or exists twice, and tzdata
 * has dates that are skipped entirely or begin twice (America/Moncton 1993-2006 fell back from
 * 00:01 to 23:01, where glibc's answer is the second beginning).
 * Otherwise bisect on the local date, which is non-decreasing except around such backward jumps,
 * where any date change found is an acceptable boundary. */
static time_t first_instant(int64_t day, time_t lo, time_t hi) {
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);
    struct tm tm = {0};
    tm.tm_year = (int)(y - 1900);
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_isdst = -1;
    time_t r = mktime(&tm);
    if (r > lo && r <= hi && local_day(r, NULL) >= day && local_day(r - 1, NULL) < day) return r;

    while (hi - lo > 1) {
        time_t mid = lo + (hi - lo) / 2;
        if (local_day(mid, NULL) >= day)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* The end of a window holding instant t (local date before next_day): the first instant after t
 * whose local date is next_day or later. Searching after t rather than around the calendar
 * guess keeps end > t even in the rare hour repeated across midnight. */
static time_t end_after(time_t t, int64_t next_day) {
    return first_instant(next_day, t, (time_t)(next_day * 86400 + OFFSET_MARGIN_S));
}

/* ---- public API ---- */

static fd_err_t zone_error(const char *name, const char *why, char *errstr, size_t errstr_size) {
    if (errstr && errstr_size > 0)
        snprintf(errstr, errstr_size,
                 "funnel.timezone: \"%s\" %s; expected \"UTC\" or an IANA time zone name such as "
                 "\"Asia/Shanghai\" or \"America/New_York\"",
                 name, why);
    return FD_ERR_CONFIG;
}

/* Validates an IANA name against the installed tz database and returns the TZ value for it. */
static fd_err_t zone_tz(const char *name, char *tz, size_t tz_size, char *errstr,
                        size_t errstr_size) {
    if (strcmp(name, "UTC") == 0) {
        /* A POSIX TZ string: needs no file, so UTC works even without tzdata. */
        snprintf(tz, tz_size, "UTC0");
        return FD_OK;
    }
    size_t len = strlen(name);
    if (len == 0) return zone_error(name, "is empty", errstr, errstr_size);
    if (len > ZONE_NAME_MAX) return zone_error(name, "is too long", errstr, errstr_size);
    /* Names are paths below the zoneinfo directory: no escaping it, and none of the characters
     * (':', ',', '<', digits after letters...) that would make TZ a POSIX rule instead. */
    if (name[0] == '/' || strstr(name, "..") != NULL)
        return zone_error(name, "is not a zone name (absolute path or \"..\")", errstr,
                          errstr_size);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '+' || c == '.'))
            return zone_error(name, "contains a character no IANA zone name has", errstr,
                              errstr_size);
    }

    struct stat stbuf;
    if (stat(ZONEINFO_DIR, &stbuf) != 0 || !S_ISDIR(stbuf.st_mode))
        return zone_error(name,
                          "cannot be checked: " ZONEINFO_DIR
                          " is missing (install the tz database, Debian package tzdata)",
                          errstr, errstr_size);
    char path[sizeof(ZONEINFO_DIR) + ZONE_NAME_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", ZONEINFO_DIR, name);
    if (stat(path, &stbuf) != 0 || !S_ISREG(stbuf.st_mode))
        return zone_error(name, "is not a time zone of " ZONEINFO_DIR " (package tzdata)", errstr,
                          errstr_size);
    /* Regular files that are not zones (zone.tab, tzdata.zi...) would silently mean UTC. */
    char magic[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, magic, sizeof magic) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof magic || memcmp(magic, "TZif", 4) != 0)
        return zone_error(name, "is a file of " ZONEINFO_DIR " but not a time zone", errstr,
                          errstr_size);
    /* ":" + absolute path: glibc reads exactly the file checked, whatever TZDIR says. */
    snprintf(tz, tz_size, ":%s", path);
    return FD_OK;
}

/* Makes tw's zone the process timezone if another object (or anyone) changed TZ since. */
static void apply_zone(const fd_timewin_t *tw) {
    const char *cur = getenv("TZ");
    if (cur != NULL && strcmp(cur, tw->tz) == 0) return;
    setenv("TZ", tw->tz, 1);
    tzset();
}

fd_err_t fd_timewin_new(const char *name, fd_timewin_t **out, char *errstr, size_t errstr_size) {
    if (out == NULL) return FD_ERR_INVAL;
    *out = NULL;
    if (name == NULL) return zone_error("(null)", "is missing", errstr, errstr_size);
    fd_timewin_t *tw = calloc(1, sizeof *tw);
    if (tw == NULL) return FD_ERR_NOMEM;
    fd_err_t err = zone_tz(name, tw->tz, sizeof tw->tz, errstr, errstr_size);
    if (err != FD_OK) {
        free(tw);
        return err;
    }
    if (setenv("TZ", tw->tz, 1) != 0) {
        free(tw);
        return FD_ERR_NOMEM;
    }
    tzset();
    *out = tw;
    return FD_OK;
}

void fd_timewin_destroy(fd_timewin_t *tw) {
    free(tw);
}

static void format_ids(fd_windows_t *w, int64_t day) {
    int64_t y, wy;
    int m, d, wk;
    civil_from_days(day, &y, &m, &d);
    iso_week(day, &wy, &wk);
    /* Years stay within 0..10000 (MIN_MS/MAX_MS clamp); the ints keep snprintf's bounds small. */
    int yi = (int)y, wyi = (int)wy;
    snprintf(w->id[FD_WIN_ALL], FD_WIN_ID_MAX, "all");
    snprintf(w->id[FD_WIN_DAY], FD_WIN_ID_MAX, "day:%04d-%02d-%02d", yi, m, d);
    snprintf(w->id[FD_WIN_WEEK], FD_WIN_ID_MAX, "week:%04d-W%02d", wyi, wk);
    snprintf(w->id[FD_WIN_MONTH], FD_WIN_ID_MAX, "month:%04d-%02d", yi, m);
    snprintf(w->id[FD_WIN_QUARTER], FD_WIN_ID_MAX, "quarter:%04d-Q%d", yi, (m - 1) / 3 + 1);
}

/* The UTC hour of at_ms: id "hour:YYYY-MM-DDTHH" and bounds; recent ones are kept in tw. */
static void hour_of(fd_timewin_t *tw, int64_t at_ms, fd_windows_t *w) {
    int64_t h = floor_div(at_ms, 3600000);
    const hour_slot_t *hs = NULL;
    for (size_t i = 0; i < HOUR_SLOTS && hs == NULL; i++)
        if (tw->hour[i].valid && tw->hour[i].hour == h) hs = &tw->hour[i];
    if (hs == NULL) {
        hour_slot_t *n = &tw->hour[tw->hour_next];
        tw->hour_next = (tw->hour_next + 1) % HOUR_SLOTS;
        int64_t y;
        int m, d;
        civil_from_days(floor_div(h, 24), &y, &m, &d);
        snprintf(n->id, sizeof n->id, "hour:%04d-%02d-%02dT%02d", (int)y, m, d,
                 (int)(h - floor_div(h, 24) * 24));
        n->hour = h;
        n->valid = true;
        hs = n;
    }
    memcpy(w->id[FD_WIN_HOUR], hs->id, sizeof hs->id);
    w->start_ms[FD_WIN_HOUR] = h * 3600000;
    w->end_ms[FD_WIN_HOUR] = (h + 1) * 3600000;
}

void fd_timewin_of(fd_timewin_t *tw, int64_t at_ms, fd_windows_t *w) {
    assert(tw != NULL && w != NULL);
    if (at_ms < MIN_MS) at_ms = MIN_MS;
    if (at_ms > MAX_MS) at_ms = MAX_MS;
    for (size_t i = 0; i < DAY_SLOTS; i++) {
        const day_slot_t *ds = &tw->day[i];
        if (at_ms >= ds->start_ms && at_ms < ds->end_ms) {
            *w = ds->win;
            hour_of(tw, at_ms, w);
            return;
        }
    }
    apply_zone(tw);
    time_t t = (time_t)floor_div(at_ms, 1000); /* floor: -1 ms is 1969-12-31T23:59:59 */

    long off_at;
    int64_t day = local_day(t, &off_at);
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);

    int64_t next_day = day + 1;
    int64_t next_monday = day + 8 - iso_weekday(day);
    int64_t next_month = m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1);
    int q_next_m = ((m - 1) / 3 + 1) * 3 + 1; /* first month of the next quarter: 4, 7, 10, 13 */
    int64_t next_quarter =
        q_next_m > 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, q_next_m, 1);

    format_ids(w, day);
    time_t day_end = end_after(t, next_day);
    /* Starts: the first instant of the window's first local date, found below t. */
    int64_t first_day[FD_WIN_COUNT] = {0};
    first_day[FD_WIN_DAY] = day;
    first_day[FD_WIN_WEEK] = day + 1 - iso_weekday(day);
    first_day[FD_WIN_MONTH] = days_from_civil(y, m, 1);
    first_day[FD_WIN_QUARTER] = days_from_civil(y, ((m - 1) / 3) * 3 + 1, 1);
    w->start_ms[FD_WIN_ALL] = INT64_MIN;
    for (int k = FD_WIN_DAY; k <= FD_WIN_QUARTER; k++)
        w->start_ms[k] = (int64_t)first_instant(
                             first_day[k], (time_t)(first_day[k] * 86400 - OFFSET_MARGIN_S), t) *
                         1000;
    w->end_ms[FD_WIN_ALL] = INT64_MAX;
    w->end_ms[FD_WIN_DAY] = (int64_t)day_end * 1000;
    w->end_ms[FD_WIN_WEEK] = (int64_t)end_after(t, next_monday) * 1000;
    w->end_ms[FD_WIN_MONTH] = (int64_t)end_after(t, next_month) * 1000;
    w->end_ms[FD_WIN_QUARTER] = (int64_t)end_after(t, next_quarter) * 1000;

    /* Remember the day only when one UTC offset holds from its first instant to its last: then
     * local time runs monotonically through it and every instant inside has this date and these
     * windows. DST days (23/25 h, or a repeated hour across midnight) are recomputed each time;
     * they are two days a year. */
    time_t day_start = first_instant(day, (time_t)(day * 86400 - OFFSET_MARGIN_S), t);
    long off_start, off_last;
    int64_t start_day = local_day(day_start, &off_start);
    int64_t last_day = local_day(day_end - 1, &off_last);
    if (start_day == day && last_day == day && off_start == off_at && off_last == off_at &&
        day_end - day_start == 86400) {
        day_slot_t *ds = &tw->day[tw->day_next];
        tw->day_next = (tw->day_next + 1) % DAY_SLOTS;
        ds->start_ms = (int64_t)day_start * 1000;
        ds->end_ms = (int64_t)day_end * 1000;
        ds->win = *w;
    }
    hour_of(tw, at_ms, w);
}

const char *fd_timewin_kind_name(fd_win_kind_t kind) {
    if ((int)kind < 0 || kind >= FD_WIN_COUNT) return "unknown";
    return kind_names[kind];
}

/* Parses exactly n decimal digits at *p, advancing it. */
static bool digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool lit(const char **p, const char *s) {
    size_t n = strlen(s);
    if (strncmp(*p, s, n) != 0) return false;
    *p += n;
    return true;
}

fd_err_t fd_timewin_check_id(const char *id) {
    if (id == NULL) return FD_ERR_PARSE;
    const char *p = id;
    int y, a, b;
    bool ok;
    if (lit(&p, "all")) {
        ok = true;
    } else if (lit(&p, "day:")) {
        ok = digits(&p, 4, &y) && lit(&p, "-") && digits(&p, 2, &a) && lit(&p, "-") &&
             digits(&p, 2, &b) && a >= 1 && a <= 12 && b >= 1 && b <= days_in_month(y, a);
    } else if (lit(&p, "week:")) {
        ok = digits(&p, 4, &y) && lit(&p, "-W") && digits(&p, 2, &a) && a >= 1 &&
             a <= iso_weeks_in_year(y);
    } else if (lit(&p, "month:")) {
        ok = digits(&p, 4, &y) && lit(&p, "-") && digits(&p, 2, &a) && a >= 1 && a <= 12;
    } else if (lit(&p, "quarter:")) {
        ok = digits(&p, 4, &y) && lit(&p, "-Q") && digits(&p, 1, &a) && a >= 1 && a <= 4;
    } else if (lit(&p, "hour:")) {
        int h;
        ok = digits(&p, 4, &y) && lit(&p, "-") && digits(&p, 2, &a) && lit(&p, "-") &&
             digits(&p, 2, &b) && a >= 1 && a <= 12 && b >= 1 && b <= days_in_month(y, a) &&
             lit(&p, "T") && digits(&p, 2, &h) && h <= 23;
    } else {
        ok = false;
    }
    return ok && *p == '\0' ? FD_OK : FD_ERR_PARSE;
}

/* The first instant of local date day: the local date at day*86400 - OFFSET_MARGIN_S is before
 * day and at day*86400 + OFFSET_MARGIN_S it is not, as first_instant requires. */
static int64_t day_start_ms(int64_t day) {
    time_t lo = (time_t)(day * 86400 - OFFSET_MARGIN_S),
           hi = (time_t)(day * 86400 + OFFSET_MARGIN_S);
    return (int64_t)first_instant(day, lo, hi) * 1000;
}

fd_err_t fd_timewin_bounds(const fd_timewin_t *tw, const char *id, int64_t *start_ms,
                           int64_t *end_ms) {
    assert(tw != NULL && start_ms != NULL && end_ms != NULL);
    if (fd_timewin_check_id(id) != FD_OK) return FD_ERR_PARSE;
    if (strcmp(id, "all") == 0) {
        *start_ms = INT64_MIN;
        *end_ms = INT64_MAX;
        return FD_OK;
    }
    /* The id is valid: each form reads as fd_timewin_check_id read it. */
    const char *p = id;
    int y = 0, a = 0, b = 0, h = 0;
    int64_t first, next; /* the window's first local date and the one after its last */
    bool ok;
    if (lit(&p, "hour:")) {
        ok = digits(&p, 4, &y) && lit(&p, "-") && digits(&p, 2, &a) && lit(&p, "-") &&
             digits(&p, 2, &b) && lit(&p, "T") && digits(&p, 2, &h);
        assert(ok);
        (void)ok;
        int64_t start = (days_from_civil(y, a, b) * 24 + h) * 3600000;
        *start_ms = start;
        *end_ms = start + 3600000;
        return FD_OK;
    }
    if (lit(&p, "day:")) {
        ok = digits(&p, 4, &y) && lit(&p, "-") && digits(&p, 2, &a) && lit(&p, "-") &&
             digits(&p, 2, &b);
        first = days_from_civil(y, a, b);
        next = first + 1;
    } else if (lit(&p, "week:")) {
        /* Week 1 is the week holding January 4th of the ISO year; weeks begin on Mondays. */
        ok = digits(&p, 4, &y) && lit(&p, "-W") && digits(&p, 2, &a);
        int64_t jan4 = days_from_civil(y, 1, 4);
        first = jan4 + 1 - iso_weekday(jan4) + (int64_t)(a - 1) * 7;
        next = first + 7;
    } else if (lit(&p, "month:")) {
        ok = digits(&p, 4, &y) && lit(&p, "-") && digits(&p, 2, &a);
        first = days_from_civil(y, a, 1);
        next = a == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, a + 1, 1);
    } else {
        ok = lit(&p, "quarter:") && digits(&p, 4, &y) && lit(&p, "-Q") && digits(&p, 1, &a);
        first = days_from_civil(y, (a - 1) * 3 + 1, 1);
        next = a == 4 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, a * 3 + 1, 1);
    }
    assert(ok);
    (void)ok;
    apply_zone(tw);
    *start_ms = day_start_ms(first);
    *end_ms = day_start_ms(next);
    return FD_OK;
}
