// SPDX-License-Identifier: MIT
// funnel-gen's calendar: epoch-day arithmetic (Howard Hinnant's civil_from_days), the timestamp
// forms of occurred_at, clocks, the business time zone and the working-day calendar of
// activities (tool, outside the layers). Independent of src/ on purpose: funnel-gen is a test
// oracle for funneld's window maths.
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gen.h"

int64_t floor_div(int64_t a, int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Monday = 0 ... Sunday = 6; epoch day 0 (1970-01-01) was a Thursday. */
int weekday(int64_t day) {
    return (int)(((day % 7) + 7 + 3) % 7);
}

static const double ts_weight[TS_COUNT] = {35, 18, 4, 15, 10, 3, 15};

ts_form_t ts_pick(rng_t *r) {
    return (ts_form_t)rng_pick(r, ts_weight, TS_COUNT);
}

void sb_time(sb_t *b, int64_t t_ms, ts_form_t form, int off_min) {
    if (form == TS_EPOCH_MS) {
        sb_i64(b, t_ms);
        return;
    }
    bool has_off = form == TS_OFF_S || form == TS_OFF_MS;
    int64_t local = t_ms + (has_off ? (int64_t)off_min * 60000 : 0);
    int64_t day = floor_div(local, DAY_MS);
    int64_t ms = local - day * DAY_MS;
    int64_t y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    sb_char(b, '"');
    sb_pad(b, (uint64_t)y, 4);
    sb_char(b, '-');
    sb_pad(b, m, 2);
    sb_char(b, '-');
    sb_pad(b, d, 2);
    sb_char(b, form == TS_SPACE_Z ? ' ' : 'T');
    sb_pad(b, (uint64_t)(ms / HOUR_MS), 2);
    sb_char(b, ':');
    sb_pad(b, (uint64_t)(ms / 60000 % 60), 2);
    sb_char(b, ':');
    sb_pad(b, (uint64_t)(ms / 1000 % 60), 2);
    switch (form) {
    case TS_Z_MS:
    case TS_OFF_MS:
        sb_char(b, '.');
        sb_pad(b, (uint64_t)(ms % 1000), 3);
        break;
    case TS_Z_NS:
        sb_char(b, '.');
        sb_pad(b, (uint64_t)(ms % 1000), 3);
        sb_lit(b, "000000");
        break;
    case TS_SPACE_Z: /* two fraction digits when they say everything, else three */
        sb_char(b, '.');
        if (ms % 10 == 0)
            sb_pad(b, (uint64_t)(ms % 1000 / 10), 2);
        else
            sb_pad(b, (uint64_t)(ms % 1000), 3);
        break;
    default:
        break;
    }
    if (has_off) {
        int a = off_min < 0 ? -off_min : off_min;
        sb_char(b, off_min < 0 ? '-' : '+');
        sb_pad(b, (uint64_t)(a / 60), 2);
        sb_char(b, ':');
        sb_pad(b, (uint64_t)(a % 60), 2);
    } else {
        sb_char(b, form == TS_SPACE_Z ? 'z' : 'Z');
    }
    sb_char(b, '"');
}

bool ts_whole_seconds(ts_form_t form) {
    return form == TS_Z_S || form == TS_OFF_S;
}

/* Wall clock, epoch milliseconds. */
int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic clock, seconds. */
double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Business time zone: offsets come from the C library's zone data (TZ), cached per hour. */
int tz_offset_min(gen_t *g, int64_t t_ms) {
    if (!g->have_tz) return 0;
    int64_t hour = floor_div(t_ms, HOUR_MS);
    if (hour != g->tz_cache_hour) {
        time_t secs = (time_t)(hour * 3600);
        struct tm tm;
        localtime_r(&secs, &tm);
        g->tz_cache_hour = hour;
        g->tz_cache_off = (int)(tm.tm_gmtoff / 60);
    }
    return g->tz_cache_off;
}

fd_err_t set_timezone(gen_t *g) {
    const char *tz = g->o.timezone;
    if (!tz) return FD_OK;
    /* glibc silently treats an unknown zone as UTC: check the zone file exists. */
    if (strcmp(tz, "UTC") != 0 && tz[0] != ':') {
        char path[512];
        struct stat st;
        snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
        if (strstr(tz, "..") || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            fprintf(stderr,
                    PROG ": --timezone: expected an IANA zone like Asia/Shanghai, got "
                         "'%s' (no %s)\n",
                    tz, path);
            return FD_ERR_INVAL;
        }
    }
    setenv("TZ", tz, 1);
    tzset();
    g->have_tz = true;
    g->tz_cache_hour = INT64_MIN;
    return FD_OK;
}

/* Calendar time of a point on the working-time clock: working day k (Monday..Friday) from the
 * first working day on or after the start, 09:00-18:00 local business time. Working day index i
 * (counted from the Monday before the start) lies in week i/5 at weekday i%5. */
int64_t work_to_calendar(gen_t *g, double work_ms) {
    int64_t w = (int64_t)work_ms;
    int64_t index = g->work_index0 + w / WORK_MS;
    int64_t day = g->work_monday0 + (index / 5) * 7 + index % 5;
    int64_t local = day * DAY_MS + WORK_START_MS + w % WORK_MS;
    /* The offset at local noon of that day converts local to UTC (DST changes happen at night). */
    return local - (int64_t)tz_offset_min(g, day * DAY_MS + 12 * HOUR_MS) * 60000;
}

void work_calendar_init(gen_t *g) {
    /* The working-day calendar of activities starts on the start's local day. */
    int off0 = tz_offset_min(g, g->start_ms);
    g->work_day0 = floor_div(g->start_ms + (int64_t)off0 * 60000, DAY_MS);
    g->work_monday0 = g->work_day0 - weekday(g->work_day0);
    int wd = weekday(g->work_day0);
    g->work_index0 = wd < 5 ? wd : 5;
}
