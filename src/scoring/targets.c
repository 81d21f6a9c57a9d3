// SPDX-License-Identifier: MIT
// The targets file: calendar periods, the JSON document and its CSV rows parsed and checked
// against the funnel (errors name the place), the scorecard definition, and the lookups with
// their precedence (layer 2, pure but for fd_targets_load reading files; cJSON stays inside).
// Reference: docs/scorecards.md.
#include "scoring/targets.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/file.h"
#include "base/jsontext.h"
#include "base/map.h"

#define SEC_MS         INT64_C(1000)
#define DAY_MS         (86400 * SEC_MS)
#define MAX_FILE_BYTES ((size_t)64 << 20)
#define CSV_FIELD_MAX  1024

/* ---------------------------------------------------------------------------------------------
 * Periods */

static const char *const period_kinds[FD_PERIOD_COUNT] = {"month", "quarter", "year"};

const char *fd_period_kind_name(fd_period_kind_t kind) {
    return (unsigned)kind < FD_PERIOD_COUNT ? period_kinds[kind] : "unknown";
}

/* n decimal digits at s into *out. */
static bool digits(const char *s, size_t n, int *out) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool fd_period_parse(const char *s, size_t len, fd_period_t *out) {
    fd_period_t p = {FD_PERIOD_MONTH, 0, 0};
    if (len == 13 && memcmp(s, "month:", 6) == 0 && s[10] == '-') {
        p.kind = FD_PERIOD_MONTH;
        if (!digits(s + 6, 4, &p.year) || !digits(s + 11, 2, &p.index)) return false;
        if (p.index < 1 || p.index > 12) return false;
    } else if (len == 15 && memcmp(s, "quarter:", 8) == 0 && s[12] == '-' && s[13] == 'Q') {
        p.kind = FD_PERIOD_QUARTER;
        if (!digits(s + 8, 4, &p.year) || !digits(s + 14, 1, &p.index)) return false;
        if (p.index < 1 || p.index > 4) return false;
    } else if (len == 9 && memcmp(s, "year:", 5) == 0) {
        p.kind = FD_PERIOD_YEAR;
        if (!digits(s + 5, 4, &p.year)) return false;
    } else {
        return false;
    }
    if (p.year < 1970 || p.year > 9999) return false;
    *out = p;
    return true;
}

size_t fd_period_format(const fd_period_t *p, char *buf, size_t size) {
    int n;
    switch (p->kind) {
    case FD_PERIOD_MONTH:
        n = snprintf(buf, size, "month:%04d-%02d", p->year, p->index);
        break;
    case FD_PERIOD_QUARTER:
        n = snprintf(buf, size, "quarter:%04d-Q%d", p->year, p->index);
        break;
    case FD_PERIOD_YEAR:
        n = snprintf(buf, size, "year:%04d", p->year);
        break;
    default:
        n = snprintf(buf, size, "unknown");
        break;
    }
    return n < 0 ? 0 : (size_t)n;
}

void fd_period_of(fd_timewin_t *tw, fd_period_kind_t kind, int64_t at_ms, fd_period_t *out) {
    /* the month window of the instant in the business timezone: "month:YYYY-MM" */
    fd_windows_t w;
    fd_timewin_of(tw, at_ms, &w);
    const char *id = w.id[FD_WIN_MONTH];
    int year = 1970, month = 1;
    if (strlen(id) == 13) {
        digits(id + 6, 4, &year);
        digits(id + 11, 2, &month);
    }
    out->kind = kind;
    out->year = year;
    out->index = kind == FD_PERIOD_MONTH     ? month
                 : kind == FD_PERIOD_QUARTER ? (month - 1) / 3 + 1
                                             : 0;
}

void fd_period_prev(const fd_period_t *p, fd_period_t *out) {
    *out = *p;
    if (p->kind == FD_PERIOD_YEAR || p->index <= 1) out->year = p->year - 1;
    if (p->kind == FD_PERIOD_MONTH) out->index = p->index <= 1 ? 12 : p->index - 1;
    if (p->kind == FD_PERIOD_QUARTER) out->index = p->index <= 1 ? 4 : p->index - 1;
}

void fd_period_bounds(fd_timewin_t *tw, const fd_period_t *p, int64_t *start_ms, int64_t *end_ms) {
    char win[4][FD_PERIOD_ID_MAX + 8];
    size_t n = fd_period_windows(p, win);
    int64_t s = 0, e = 0, unused;
    /* a year runs from the first instant of its Q1 to the end of its Q4 */
    if (fd_timewin_bounds(tw, win[0], &s, &unused) != FD_OK) s = 0;
    if (fd_timewin_bounds(tw, win[n - 1], &unused, &e) != FD_OK) e = 0;
    *start_ms = s;
    *end_ms = e;
}

size_t fd_period_windows(const fd_period_t *p, char out[4][FD_PERIOD_ID_MAX + 8]) {
    if (p->kind != FD_PERIOD_YEAR) {
        fd_period_format(p, out[0], sizeof out[0]);
        return 1;
    }
    for (int q = 0; q < 4; q++)
        snprintf(out[q], sizeof out[q], "quarter:%04d-Q%d", p->year, q + 1);
    return 4;
}

/* ---------------------------------------------------------------------------------------------
 * The set */

typedef struct {
    fd_scope_t scope;
    char *id; /* "*": every id of the scope */
    bool exact;
    fd_period_t period; /* kind always; year and index when exact */
    fd_kpi_t kpi;
    double value;
    char source[FD_SCORE_SOURCE_MAX];
} row_t;

struct fd_targets {
    const fd_funnel_t *fn;
    row_t *rows;
    size_t nrows, cap;
    fd_map_t *index; /* row key -> row number + 1 */
    fd_map_t *ids;   /* scope + id -> number + 1 of the id's first row */
    bool has_scorecard;
    fd_scorecard_def_t def;
    bool periods[FD_PERIOD_COUNT];
    int64_t recompute_ms, grace_ms;
    bool event_clock, team_sums;
};

/* "<scope>\x1f<id>\x1f<period or kind>\x1f<kind>.<arg>": one row's identity. */
static size_t row_key(fd_scope_t scope, const char *id, bool exact, const fd_period_t *p,
                      fd_kpi_t kpi, char *buf, size_t size) {
    char per[FD_PERIOD_ID_MAX];
    if (exact)
        fd_period_format(p, per, sizeof per);
    else
        snprintf(per, sizeof per, "%s", fd_period_kind_name(p->kind));
    int n =
        snprintf(buf, size, "%d\x1f%s\x1f%s\x1f%d.%d", (int)scope, id, per, (int)kpi.kind, kpi.arg);
    return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

static size_t id_key(fd_scope_t scope, const char *id, char *buf, size_t size) {
    int n = snprintf(buf, size, "%d\x1f%s", (int)scope, id);
    return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

void fd_targets_destroy(fd_targets_t *t) {
    if (t == NULL) return;
    for (size_t i = 0; i < t->nrows; i++)
        free(t->rows[i].id);
    free(t->rows);
    fd_map_destroy(t->index);
    fd_map_destroy(t->ids);
    free(t);
}

/* ---------------------------------------------------------------------------------------------
 * Parsing: messages "<place>: <what was expected>, found <what>" */

typedef struct {
    const fd_funnel_t *fn;
    fd_targets_t *t;
    char *errstr;
    size_t errstr_size;
} ctx_t;

__attribute__((format(printf, 3, 4))) static fd_err_t bad(ctx_t *c, const char *place,
                                                          const char *fmt, ...) {
    if (c->errstr && c->errstr_size) {
        char msg[640];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(c->errstr, c->errstr_size, "%s: %s", place, msg);
    }
    return FD_ERR_CONFIG;
}

/* A string for a message: quoted, at most 40 bytes, control characters as '?'. */
static void quote(const char *s, char *buf, size_t size) {
    size_t len = strlen(s), n = len > 40 ? 40 : len, k = 0;
    while (n > 0 && n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    char tmp[48];
    for (size_t i = 0; i < n; i++)
        tmp[k++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    tmp[k] = '\0';
    snprintf(buf, size, "\"%s\"%s", tmp, n < len ? "..." : "");
}

/* A JSON value for a message: a string quoted, a number, or its type. */
static void found(const cJSON *it, char *buf, size_t size) {
    if (cJSON_IsString(it))
        quote(it->valuestring, buf, size);
    else if (cJSON_IsNumber(it))
        snprintf(buf, size, "%g", it->valuedouble);
    else if (cJSON_IsBool(it))
        snprintf(buf, size, "a boolean");
    else if (cJSON_IsNull(it))
        snprintf(buf, size, "null");
    else if (cJSON_IsArray(it))
        snprintf(buf, size, "an array");
    else
        snprintf(buf, size, "an object");
}

static void join(char *buf, size_t size, const char *a, const char *b) {
    snprintf(buf, size, "%s%s%s", a, a[0] && b[0] ? "." : "", b);
}

/* Every key of obj is in allowed (NULL-terminated) and appears once. */
static fd_err_t check_keys(ctx_t *c, const cJSON *obj, const char *place,
                           const char *const *allowed) {
    char f[64], at[192];
    for (const cJSON *it = obj->child; it; it = it->next) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(it->string, allowed[i]) == 0;
        quote(it->string, f, sizeof f);
        if (!ok) {
            char list[256] = "";
            for (size_t i = 0; allowed[i]; i++) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", allowed[i]);
            }
            return bad(c, place[0] ? place : "targets file", "unknown key %s; valid: %s", f, list);
        }
        for (const cJSON *o = obj->child; o != it; o = o->next)
            if (strcmp(o->string, it->string) == 0) {
                join(at, sizeof at, place, it->string);
                return bad(c, at, "duplicate key");
            }
    }
    return FD_OK;
}

static fd_err_t want_object(ctx_t *c, const cJSON *it, const char *place) {
    if (cJSON_IsObject(it)) return FD_OK;
    char f[64];
    found(it, f, sizeof f);
    return bad(c, place, "expected an object, found %s", f);
}

static fd_err_t number(ctx_t *c, const cJSON *it, const char *place, double lo, double hi,
                       double *out) {
    char f[64];
    found(it, f, sizeof f);
    if (!cJSON_IsNumber(it)) return bad(c, place, "expected a number, found %s", f);
    double v = it->valuedouble;
    if (!isfinite(v) || v < lo || v > hi)
        return bad(c, place, "expected a number in [%g, %g], found %s", lo, hi, f);
    *out = v;
    return FD_OK;
}

/* One of choices (NULL-terminated) into *out. */
static fd_err_t choice(ctx_t *c, const cJSON *it, const char *place, const char *const *choices,
                       int *out) {
    char f[64], list[160] = "";
    found(it, f, sizeof f);
    for (int i = 0; choices[i]; i++) {
        if (cJSON_IsString(it) && strcmp(it->valuestring, choices[i]) == 0) {
            *out = i;
            return FD_OK;
        }
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s\"%s\"", i ? ", " : "", choices[i]);
    }
    return bad(c, place, "expected one of %s, found %s", list, f);
}

/* "0" or <digits><s|m|h|d>. */
static bool parse_duration(const char *s, int64_t *out) {
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return true;
    }
    int64_t n = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') {
        if (n > 1000000000) return false;
        n = n * 10 + (*p++ - '0');
    }
    int64_t unit = *p == 's'   ? SEC_MS
                   : *p == 'm' ? 60 * SEC_MS
                   : *p == 'h' ? 3600 * SEC_MS
                   : *p == 'd' ? DAY_MS
                               : 0;
    if (unit == 0 || p[1] != '\0') return false;
    *out = n * unit;
    return true;
}

static fd_err_t duration(ctx_t *c, const cJSON *it, const char *place, int64_t lo, int64_t hi,
                         int64_t *out) {
    char f[64];
    found(it, f, sizeof f);
    int64_t ms;
    if (!cJSON_IsString(it) || !parse_duration(it->valuestring, &ms))
        return bad(c, place,
                   "expected a duration such as \"60s\", \"15m\", \"2h\", \"3d\", found %s", f);
    if (ms < lo || ms > hi)
        return bad(c, place, "expected a duration in [%llds, %lldd], found %s",
                   (long long)(lo / SEC_MS), (long long)(hi / DAY_MS), f);
    *out = ms;
    return FD_OK;
}

/* KPIs a scorecard or a target may name: every KPI with a window (not stalled:, a stock). */
static bool scorable(fd_kpi_kind_t kind) {
    switch (kind) {
    case FD_KPI_ENTERED:
    case FD_KPI_EXIT_CONV:
    case FD_KPI_CONV:
    case FD_KPI_DWELL_HOURS:
    case FD_KPI_WIN_RATE:
    case FD_KPI_WON:
    case FD_KPI_WON_AMOUNT:
    case FD_KPI_ACTIVITY:
    case FD_KPI_FEEDBACK_AVG:
    case FD_KPI_COMPLAINTS:
    case FD_KPI_CYCLE_DAYS:
    case FD_KPI_AVG_WON_AMOUNT:
        return true;
    default:
        return false;
    }
}

static fd_err_t kpi_named(ctx_t *c, const char *s, const char *place, fd_kpi_t *out) {
    char msg[512];
    if (!fd_kpi_parse(c->fn, s, strlen(s), out, msg, sizeof msg)) return bad(c, place, "%s", msg);
    if (!scorable(out->kind)) {
        char f[64];
        quote(s, f, sizeof f);
        return bad(c, place,
                   "%s is not a KPI of a period (stalled: counts open deals now); found %s",
                   fd_kpi_kind_name(out->kind), f);
    }
    return FD_OK;
}

static fd_err_t kpi_json(ctx_t *c, const cJSON *it, const char *place, fd_kpi_t *out) {
    if (!cJSON_IsString(it)) {
        char f[64];
        found(it, f, sizeof f);
        return bad(c, place, "expected a KPI name such as \"won_amount\", found %s", f);
    }
    return kpi_named(c, it->valuestring, place, out);
}

static bool lower_by_default(fd_kpi_kind_t kind) {
    return kind == FD_KPI_COMPLAINTS || kind == FD_KPI_CYCLE_DAYS || kind == FD_KPI_DWELL_HOURS;
}

static fd_err_t parse_bands(ctx_t *c, const cJSON *arr, const char *place, fd_score_kpi_t *k) {
    char f[64], at[224], p2[256];
    found(arr, f, sizeof f);
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    if (n < 1 || n > FD_SCORE_MAX_BANDS)
        return bad(c, place,
                   "expected an array of 1..%d bands {\"min\": ..., \"points\": ...}, "
                   "found %s",
                   FD_SCORE_MAX_BANDS,
                   n == 0  ? "an empty array"
                   : n > 0 ? "more"
                           : f);
    static const char *const keys[] = {"min", "points", NULL};
    size_t i = 0;
    fd_err_t err;
    for (const cJSON *b = arr->child; b; b = b->next, i++) {
        snprintf(at, sizeof at, "%s[%zu]", place, i);
        if ((err = want_object(c, b, at)) || (err = check_keys(c, b, at, keys))) return err;
        fd_band_t *band = &k->bands[i];
        const cJSON *min = cJSON_GetObjectItemCaseSensitive(b, "min");
        const cJSON *pts = cJSON_GetObjectItemCaseSensitive(b, "points");
        join(p2, sizeof p2, at, "min");
        if (min == NULL) return bad(c, p2, "missing (the least attainment, e.g. 0.8)");
        if ((err = number(c, min, p2, 0, 10, &band->min_attainment))) return err;
        if (i > 0 && band->min_attainment >= k->bands[i - 1].min_attainment)
            return bad(c, p2, "bands go from the highest min down: expected less than %g, found %g",
                       k->bands[i - 1].min_attainment, band->min_attainment);
        join(p2, sizeof p2, at, "points");
        if (pts == NULL) return bad(c, p2, "missing (e.g. 60)");
        if ((err = number(c, pts, p2, 0, 1000, &band->points))) return err;
        if (i > 0 && band->points > k->bands[i - 1].points)
            return bad(c, p2, "a lower band cannot give more points: expected at most %g, found %g",
                       k->bands[i - 1].points, band->points);
    }
    k->nbands = i;
    return FD_OK;
}

static fd_err_t parse_scoring(ctx_t *c, const cJSON *o, const char *place, fd_score_kpi_t *k) {
    fd_err_t err;
    char at[192];
    if ((err = want_object(c, o, place))) return err;
    const cJSON *rule = cJSON_GetObjectItemCaseSensitive(o, "rule");
    join(at, sizeof at, place, "rule");
    if (rule == NULL) return bad(c, at, "missing (\"linear\" or \"bands\")");
    static const char *const rules[] = {"linear", "bands", NULL};
    int r;
    if ((err = choice(c, rule, at, rules, &r))) return err;
    k->scoring = (fd_scoring_kind_t)r;
    if (k->scoring == FD_SCORING_BANDS) {
        static const char *const keys[] = {"rule", "bands", NULL};
        if ((err = check_keys(c, o, place, keys))) return err;
        join(at, sizeof at, place, "bands");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "bands");
        if (b == NULL) return bad(c, at, "missing (e.g. [{\"min\": 1.0, \"points\": 100}])");
        return parse_bands(c, b, at, k);
    }
    static const char *const keys[] = {"rule", "zero", "full", "cap", NULL};
    if ((err = check_keys(c, o, place, keys))) return err;
    static const char *const names[] = {"zero", "full", "cap"};
    double *dst[] = {&k->zero, &k->full, &k->cap};
    for (int i = 0; i < 3; i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, names[i]);
        join(at, sizeof at, place, names[i]);
        if (it && (err = number(c, it, at, 0, 10, dst[i]))) return err;
    }
    if (!(k->zero < k->full && k->full <= k->cap))
        return bad(c, place, "expected 0 <= zero < full <= cap, found zero %g, full %g, cap %g",
                   k->zero, k->full, k->cap);
    return FD_OK;
}

static fd_err_t parse_scorecard(ctx_t *c, const cJSON *o) {
    fd_err_t err;
    fd_scorecard_def_t *def = &c->t->def;
    if ((err = want_object(c, o, "scorecard"))) return err;
    static const char *const keys[] = {"kpis", "grades", NULL};
    if ((err = check_keys(c, o, "scorecard", keys))) return err;
    const cJSON *kpis = cJSON_GetObjectItemCaseSensitive(o, "kpis");
    char f[64], at[96], p2[160];
    if (kpis == NULL) return bad(c, "scorecard.kpis", "missing (the KPIs scored, with weights)");
    found(kpis, f, sizeof f);
    int n = cJSON_IsArray(kpis) ? cJSON_GetArraySize(kpis) : -1;
    if (n < 1 || n > FD_SCORE_MAX_KPIS)
        return bad(c, "scorecard.kpis", "expected an array of 1..%d KPIs, found %s",
                   FD_SCORE_MAX_KPIS,
                   n == 0  ? "an empty array"
                   : n > 0 ? "more"
                           : f);
    static const char *const kkeys[] = {"kpi", "weight", "direction", "scoring", NULL};
    static const char *const dirs[] = {"higher", "lower", NULL};
    double sum = 0;
    size_t i = 0;
    for (const cJSON *it = kpis->child; it; it = it->next, i++) {
        snprintf(at, sizeof at, "scorecard.kpis[%zu]", i);
        if ((err = want_object(c, it, at)) || (err = check_keys(c, it, at, kkeys))) return err;
        fd_score_kpi_t *k = &def->kpis[i];
        memset(k, 0, sizeof *k);
        k->zero = 0.5;
        k->full = 1.0;
        k->cap = 1.2;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "kpi");
        join(p2, sizeof p2, at, "kpi");
        if (v == NULL) return bad(c, p2, "missing (e.g. \"won_amount\")");
        if ((err = kpi_json(c, v, p2, &k->kpi))) return err;
        fd_kpi_name(c->fn, k->kpi, k->name, sizeof k->name);
        for (size_t j = 0; j < i; j++)
            if (def->kpis[j].kpi.kind == k->kpi.kind && def->kpis[j].kpi.arg == k->kpi.arg)
                return bad(c, p2, "%s is already scorecard.kpis[%zu]", k->name, j);
        v = cJSON_GetObjectItemCaseSensitive(it, "weight");
        join(p2, sizeof p2, at, "weight");
        if (v == NULL) return bad(c, p2, "missing (the weights of the KPIs sum to 100)");
        if ((err = number(c, v, p2, 0, 100, &k->weight))) return err;
        if (k->weight <= 0) return bad(c, p2, "expected a weight > 0, found 0");
        sum += k->weight;
        k->direction = lower_by_default(k->kpi.kind) ? FD_DIR_LOWER : FD_DIR_HIGHER;
        if ((v = cJSON_GetObjectItemCaseSensitive(it, "direction"))) {
            int d;
            join(p2, sizeof p2, at, "direction");
            if ((err = choice(c, v, p2, dirs, &d))) return err;
            k->direction = (fd_direction_t)d;
        }
        if ((v = cJSON_GetObjectItemCaseSensitive(it, "scoring"))) {
            join(p2, sizeof p2, at, "scoring");
            if ((err = parse_scoring(c, v, p2, k))) return err;
        }
    }
    def->nkpis = i;
    if (fabs(sum - 100) > 1e-9)
        return bad(c, "scorecard.kpis", "the weights sum to %g, not 100", sum);
    def->grade_min[0] = 90;
    def->grade_min[1] = 75;
    def->grade_min[2] = 60;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "grades");
    if (g) {
        static const char *const gkeys[] = {"A", "B", "C", NULL};
        if ((err = want_object(c, g, "scorecard.grades")) ||
            (err = check_keys(c, g, "scorecard.grades", gkeys)))
            return err;
        for (int j = 0; j < 3; j++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, gkeys[j]);
            snprintf(p2, sizeof p2, "scorecard.grades.%s", gkeys[j]);
            if (v && (err = number(c, v, p2, 0, 1000, &def->grade_min[j]))) return err;
        }
        if (!(def->grade_min[0] > def->grade_min[1] && def->grade_min[1] > def->grade_min[2]))
            return bad(c, "scorecard.grades",
                       "expected A > B > C (below C is D), found A %g, B %g, C %g",
                       def->grade_min[0], def->grade_min[1], def->grade_min[2]);
    }
    c->t->has_scorecard = true;
    return FD_OK;
}

/* ---- rows ---- */

/* A row's fields as text, wherever it came from; sep joins place and field ("." in JSON,
 * ": " in CSV). */
typedef struct {
    const char *place, *sep;
    const char *scope, *id, *period, *kpi;
    double value;
} row_in_t;

static fd_err_t field_bad(ctx_t *c, const row_in_t *in, const char *field, const char *fmt,
                          const char *a, const char *b) {
    char at[160];
    snprintf(at, sizeof at, "%s%s%s", in->place, in->sep, field);
    return bad(c, at, fmt, a, b);
}

static bool valid_id(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > FD_ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

static fd_err_t add_row(ctx_t *c, const row_in_t *in) {
    fd_targets_t *t = c->t;
    row_t r;
    memset(&r, 0, sizeof r);
    char f[64], at[160];
    quote(in->scope, f, sizeof f);
    if (strcmp(in->scope, "rep") == 0)
        r.scope = FD_SCOPE_REP;
    else if (strcmp(in->scope, "team") == 0)
        r.scope = FD_SCOPE_TEAM;
    else
        return field_bad(c, in, "scope", "expected \"rep\" or \"team\", found %s%s", f, "");
    quote(in->id, f, sizeof f);
    if (!valid_id(in->id))
        return field_bad(c, in, "id",
                         "expected an id (1..128 bytes, no control characters) or \"*\" (every "
                         "id), found %s%s",
                         f, "");
    quote(in->period, f, sizeof f);
    int kind = -1;
    for (int k = 0; k < FD_PERIOD_COUNT; k++)
        if (strcmp(in->period, period_kinds[k]) == 0) kind = k;
    if (kind >= 0) {
        r.period.kind = (fd_period_kind_t)kind;
    } else if (fd_period_parse(in->period, strlen(in->period), &r.period)) {
        r.exact = true;
    } else {
        return field_bad(c, in, "period",
                         "expected \"month\", \"quarter\", \"year\" (every such period) or one "
                         "period such as \"month:2026-11\", \"quarter:2026-Q4\", \"year:2026\", "
                         "found %s%s",
                         f, "");
    }
    snprintf(at, sizeof at, "%s%skpi", in->place, in->sep);
    fd_err_t err = kpi_named(c, in->kpi, at, &r.kpi);
    if (err) return err;
    char v[64];
    snprintf(v, sizeof v, "%g", in->value);
    if (!isfinite(in->value) || in->value < 0)
        return field_bad(c, in, "value", "expected a number >= 0, found %s%s", v, "");
    bool rate = r.kpi.kind == FD_KPI_CONV || r.kpi.kind == FD_KPI_EXIT_CONV ||
                r.kpi.kind == FD_KPI_WIN_RATE;
    if (rate && in->value > 1)
        return field_bad(c, in, "value",
                         "a rate is a fraction in [0, 1] (30 %% is 0.3), found %s%s", v, "");
    r.value = in->value;
    snprintf(r.source, sizeof r.source, "%s", in->place);
    char key[FD_ID_MAX + 96];
    size_t klen = row_key(r.scope, in->id, r.exact, &r.period, r.kpi, key, sizeof key);
    void *prev = fd_map_get(t->index, key, klen);
    if (prev != NULL) {
        char kn[FD_NAME_MAX + 16];
        fd_kpi_name(c->fn, r.kpi, kn, sizeof kn);
        quote(in->id, f, sizeof f);
        return bad(c, in->place, "a second target for %s %s, %s, %s (the first is %s)", in->scope,
                   f, in->period, kn, t->rows[(uintptr_t)prev - 1].source);
    }
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        row_t *p = realloc(t->rows, cap * sizeof *p);
        if (p == NULL) return FD_ERR_NOMEM;
        t->rows = p;
        t->cap = cap;
    }
    size_t n = strlen(in->id) + 1;
    if ((r.id = malloc(n)) == NULL) return FD_ERR_NOMEM;
    memcpy(r.id, in->id, n);
    if (fd_map_put(t->index, key, klen, (void *)(uintptr_t)(t->nrows + 1)) != FD_OK) {
        free(r.id);
        return FD_ERR_NOMEM;
    }
    if (strcmp(r.id, "*") != 0) {
        klen = id_key(r.scope, r.id, key, sizeof key);
        if (fd_map_get(t->ids, key, klen) == NULL &&
            fd_map_put(t->ids, key, klen, (void *)(uintptr_t)(t->nrows + 1)) != FD_OK) {
            free(r.id);
            return FD_ERR_NOMEM;
        }
    }
    t->rows[t->nrows++] = r;
    return FD_OK;
}

static fd_err_t parse_json_rows(ctx_t *c, const cJSON *arr) {
    char f[64], at[64], p2[96];
    if (!cJSON_IsArray(arr)) {
        found(arr, f, sizeof f);
        return bad(c, "targets", "expected an array of rows, found %s", f);
    }
    static const char *const keys[] = {"scope", "id", "period", "kpi", "value", NULL};
    static const char *const examples[] = {"\"rep\" or \"team\"", "an id or \"*\"",
                                           "\"month\" or \"month:2026-11\"", "\"won_amount\"",
                                           "a number"};
    size_t i = 0;
    fd_err_t err;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        snprintf(at, sizeof at, "targets[%zu]", i);
        if ((err = want_object(c, it, at)) || (err = check_keys(c, it, at, keys))) return err;
        const char *s[4];
        for (int k = 0; k < 4; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, keys[k]);
            join(p2, sizeof p2, at, keys[k]);
            if (v == NULL) return bad(c, p2, "missing (%s)", examples[k]);
            if (!cJSON_IsString(v)) {
                found(v, f, sizeof f);
                return bad(c, p2, "expected a string (%s), found %s", examples[k], f);
            }
            s[k] = v->valuestring;
        }
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
        join(p2, sizeof p2, at, "value");
        if (v == NULL) return bad(c, p2, "missing (the target for the whole period)");
        if (!cJSON_IsNumber(v)) {
            found(v, f, sizeof f);
            return bad(c, p2, "expected a number >= 0, found %s", f);
        }
        row_in_t in = {at, ".", s[0], s[1], s[2], s[3], v->valuedouble};
        if ((err = add_row(c, &in))) return err;
    }
    return FD_OK;
}

/* ---- CSV (RFC 4180) ---- */

/* Reads one field at *pos (quoted or not) into buf; *end_of_record when a line break or the end
 * of the text follows it. Unquoted fields lose surrounding spaces. Lines counts line breaks. */
static fd_err_t csv_field(ctx_t *c, const char *name, const char *text, size_t len, size_t *pos,
                          size_t *line, char *buf, bool *end_of_record) {
    size_t i = *pos, n = 0;
    char at[300];
    snprintf(at, sizeof at, "%s:%zu", name, *line);
    if (i < len && text[i] == '"') {
        i++;
        for (;;) {
            if (i >= len) return bad(c, at, "a quoted field is not closed");
            char ch = text[i++];
            if (ch == '"') {
                if (i < len && text[i] == '"') {
                    ch = '"';
                    i++;
                } else {
                    break;
                }
            }
            if (ch == '\n') (*line)++;
            if (n >= CSV_FIELD_MAX)
                return bad(c, at, "a field longer than %d bytes", CSV_FIELD_MAX);
            buf[n++] = ch;
        }
        if (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
            return bad(c, at, "expected a comma or the end of the line after a quoted field");
    } else {
        while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
            if (text[i] == '"')
                return bad(c, at,
                           "a quote inside an unquoted field (quote the whole field, "
                           "doubling the quotes in it)");
            if (n >= CSV_FIELD_MAX)
                return bad(c, at, "a field longer than %d bytes", CSV_FIELD_MAX);
            buf[n++] = text[i++];
        }
        while (n > 0 && buf[n - 1] == ' ')
            n--;
        size_t lead = 0;
        while (lead < n && buf[lead] == ' ')
            lead++;
        memmove(buf, buf + lead, n - lead);
        n -= lead;
    }
    buf[n] = '\0';
    if (i < len && text[i] == ',') {
        *end_of_record = false;
        i++;
    } else {
        *end_of_record = true;
        if (i < len && text[i] == '\r') i++;
        if (i < len && text[i] == '\n') i++;
    }
    *pos = i;
    return FD_OK;
}

static fd_err_t parse_csv(ctx_t *c, const char *name, const char *text, size_t len) {
    static const char *const header[] = {"scope", "id", "period", "kpi", "value"};
    size_t pos = 0, line = 1;
    bool have_header = false;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3; /* a UTF-8 BOM */
    if (memchr(text, '\0', len) != NULL) {
        char at[300];
        snprintf(at, sizeof at, "%s", name);
        return bad(c, at, "a NUL byte: not a text file");
    }
    char fields[5][CSV_FIELD_MAX + 1];
    char at[300];
    while (pos < len) {
        size_t start_line = line;
        snprintf(at, sizeof at, "%s:%zu", name, start_line);
        if (text[pos] == '\n' || text[pos] == '\r') { /* an empty line */
            if (text[pos] == '\r' && pos + 1 < len && text[pos + 1] == '\n') pos++;
            pos++;
            line++;
            continue;
        }
        size_t nf = 0;
        bool end = false;
        char extra[CSV_FIELD_MAX + 1];
        while (!end) {
            char *dst = nf < 5 ? fields[nf] : extra;
            fd_err_t err = csv_field(c, name, text, len, &pos, &line, dst, &end);
            if (err) return err;
            nf++;
        }
        line++;
        if (nf != 5)
            return bad(c, at, "expected 5 fields (scope,id,period,kpi,value), found %zu", nf);
        if (!have_header) {
            for (int k = 0; k < 5; k++)
                if (strcmp(fields[k], header[k]) != 0)
                    return bad(c, at, "expected the header scope,id,period,kpi,value");
            have_header = true;
            continue;
        }
        char *endp = NULL;
        errno = 0;
        double v = strtod(fields[4], &endp);
        if (fields[4][0] == '\0' || *endp != '\0' || errno != 0 || !isfinite(v) || v < 0) {
            char f[64];
            quote(fields[4], f, sizeof f);
            return bad(c, at, "value: expected a number >= 0, found %s", f);
        }
        row_in_t in = {at, ": ", fields[0], fields[1], fields[2], fields[3], v};
        fd_err_t err = add_row(c, &in);
        if (err) return err;
    }
    if (!have_header) return bad(c, name, "empty: expected the header scope,id,period,kpi,value");
    return FD_OK;
}

/* Reads the whole file at path (NUL-terminated copy in *out, *len bytes); errors name it. */
static fd_err_t read_file(const char *path, char **out, size_t *len, char *errstr,
                          size_t errstr_size) {
    fd_err_t err = fd_file_read(path, MAX_FILE_BYTES, out, len);
    if (err == FD_ERR_RANGE) {
        if (errstr_size) snprintf(errstr, errstr_size, "%s: larger than 64 MiB", path);
        return FD_ERR_CONFIG;
    }
    if (err == FD_ERR_IO && errstr_size)
        snprintf(errstr, errstr_size, "%s: cannot read: %s", path, strerror(errno));
    return err;
}

static fd_err_t load_csv(ctx_t *c, const cJSON *it, const char *base_dir) {
    char f[64];
    if (!cJSON_IsString(it) || it->valuestring[0] == '\0' || strlen(it->valuestring) > 1024) {
        found(it, f, sizeof f);
        return bad(c, "csv", "expected the path of a CSV file of rows, found %s", f);
    }
    const char *name = it->valuestring;
    char path[2048];
    if (name[0] == '/' || base_dir == NULL || base_dir[0] == '\0')
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, "%s/%s", base_dir, name);
    char *text = NULL;
    size_t len = 0;
    fd_err_t err = read_file(path, &text, &len, c->errstr, c->errstr_size);
    if (err == FD_ERR_IO) {
        char why[512];
        snprintf(why, sizeof why, "%s", c->errstr_size ? c->errstr : "");
        bad(c, "csv", "%s", why);
        return FD_ERR_IO;
    }
    if (err) return err;
    err = parse_csv(c, name, text, len);
    free(text);
    return err;
}

/* ---- the document ---- */

static fd_targets_t *targets_new(const fd_funnel_t *fn) {
    fd_targets_t *t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->fn = fn;
    for (int k = 0; k < FD_PERIOD_COUNT; k++)
        t->periods[k] = true;
    t->recompute_ms = 60 * SEC_MS;
    t->grace_ms = 3 * DAY_MS;
    t->event_clock = true;
    t->team_sums = true;
    if (fd_map_new(&t->index) != FD_OK || fd_map_new(&t->ids) != FD_OK) {
        fd_targets_destroy(t);
        return NULL;
    }
    return t;
}

/* Line and column (1-based) of byte at in text. */
static void line_col(const char *text, size_t at, size_t *line, size_t *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static fd_err_t parse_doc(ctx_t *c, const cJSON *root, const char *base_dir) {
    fd_targets_t *t = c->t;
    fd_err_t err;
    char f[64];
    if (!cJSON_IsObject(root)) {
        found(root, f, sizeof f);
        return bad(c, "targets file", "expected a JSON object, found %s", f);
    }
    static const char *const keys[] = {"clock",   "recompute_every", "grace",
                                       "periods", "team_targets",    "scorecard",
                                       "csv",     "targets",         NULL};
    if ((err = check_keys(c, root, "", keys))) return err;
    const cJSON *it;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "clock"))) {
        static const char *const clocks[] = {"event", "wall", NULL};
        int k;
        if ((err = choice(c, it, "clock", clocks, &k))) return err;
        t->event_clock = k == 0;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "recompute_every")) &&
        (err = duration(c, it, "recompute_every", SEC_MS, DAY_MS, &t->recompute_ms)))
        return err;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "grace")) &&
        (err = duration(c, it, "grace", 0, 90 * DAY_MS, &t->grace_ms)))
        return err;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "periods"))) {
        found(it, f, sizeof f);
        if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) == 0)
            return bad(c, "periods",
                       "expected a non-empty array of \"month\", \"quarter\", "
                       "\"year\", found %s",
                       cJSON_IsArray(it) ? "an empty array" : f);
        for (int k = 0; k < FD_PERIOD_COUNT; k++)
            t->periods[k] = false;
        static const char *const kinds[] = {"month", "quarter", "year", NULL};
        size_t i = 0;
        for (const cJSON *p = it->child; p; p = p->next, i++) {
            char at[32];
            snprintf(at, sizeof at, "periods[%zu]", i);
            int k;
            if ((err = choice(c, p, at, kinds, &k))) return err;
            if (t->periods[k]) return bad(c, at, "\"%s\" is listed twice", kinds[k]);
            t->periods[k] = true;
        }
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "team_targets"))) {
        static const char *const modes[] = {"sum_of_reps", "explicit", NULL};
        int k;
        if ((err = choice(c, it, "team_targets", modes, &k))) return err;
        t->team_sums = k == 0;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "scorecard")) &&
        (err = parse_scorecard(c, it)))
        return err;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "targets")) && (err = parse_json_rows(c, it)))
        return err;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "csv")) && (err = load_csv(c, it, base_dir)))
        return err;
    return FD_OK;
}

fd_err_t fd_targets_parse(const fd_funnel_t *fn, const char *json, size_t len, const char *base_dir,
                          fd_targets_t **out, char *errstr, size_t errstr_size) {
    if (out) *out = NULL;
    if (fn == NULL || json == NULL || out == NULL) return FD_ERR_INVAL;
    if (errstr && errstr_size) errstr[0] = '\0';
    ctx_t c = {fn, NULL, errstr, errstr_size};
    size_t at = 0, line, col;
    if (fd_jsontext_has_nul_escape(json, len, &at)) {
        line_col(json, at, &line, &col);
        return bad(&c, "targets file",
                   "a \\u0000 escape at line %zu, column %zu: ids cannot hold a NUL character",
                   line, col);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (root != NULL) {
        size_t e = (size_t)(end - json);
        while (e < len && (json[e] == ' ' || json[e] == '\t' || json[e] == '\n' || json[e] == '\r'))
            e++;
        if (e != len) {
            cJSON_Delete(root);
            line_col(json, e, &line, &col);
            return bad(&c, "targets file",
                       "unexpected data after the JSON document at line %zu, column %zu", line,
                       col);
        }
    } else {
        const char *p = cJSON_GetErrorPtr();
        at = p != NULL && p >= json && p <= json + len ? (size_t)(p - json) : len;
        line_col(json, at, &line, &col);
        return bad(&c, "targets file", "not valid JSON near line %zu, column %zu", line, col);
    }
    fd_targets_t *t = targets_new(fn);
    if (t == NULL) {
        cJSON_Delete(root);
        return FD_ERR_NOMEM;
    }
    c.t = t;
    fd_err_t err = parse_doc(&c, root, base_dir);
    cJSON_Delete(root);
    if (err) {
        fd_targets_destroy(t);
        return err;
    }
    *out = t;
    return FD_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

fd_err_t fd_targets_load(const fd_funnel_t *fn, const char *path, fd_targets_t **out, char *errstr,
                         size_t errstr_size) {
    if (out) *out = NULL;
    if (fn == NULL || path == NULL || out == NULL) return FD_ERR_INVAL;
    char *text = NULL;
    size_t len = 0;
    fd_err_t err = read_file(path, &text, &len, errstr, errstr_size);
    if (err) return err;
    if (ends_with(path, ".csv")) {
        /* a CSV file alone: rows only, the settings' defaults, no scorecard */
        ctx_t c = {fn, targets_new(fn), errstr, errstr_size};
        if (c.t == NULL) {
            free(text);
            return FD_ERR_NOMEM;
        }
        err = parse_csv(&c, path, text, len); /* its errors name path:line */
        free(text);
        if (err) {
            fd_targets_destroy(c.t);
            return err;
        }
        *out = c.t;
        return FD_OK;
    }
    char dir[2048];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    err = fd_targets_parse(fn, text, len, dir, out, errstr, errstr_size);
    free(text);
    if ((err == FD_ERR_CONFIG || err == FD_ERR_IO) && errstr && errstr_size) { /* "<path>: ..." */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", errstr);
        snprintf(errstr, errstr_size, "%s: %s", path, msg);
    }
    return err;
}

/* ---------------------------------------------------------------------------------------------
 * Lookups and accessors */

bool fd_targets_find(const fd_targets_t *t, fd_scope_t scope, const char *id, const fd_period_t *p,
                     fd_kpi_t kpi, double *value, char *source, size_t source_size) {
    if (t == NULL || id == NULL || p == NULL) return false;
    /* precedence: the id's exact period, the id's kind, "*" exact, "*" kind */
    static const struct {
        bool star, exact;
    } order[4] = {{false, true}, {false, false}, {true, true}, {true, false}};
    char key[FD_ID_MAX + 96];
    for (int i = 0; i < 4; i++) {
        size_t klen =
            row_key(scope, order[i].star ? "*" : id, order[i].exact, p, kpi, key, sizeof key);
        void *v = fd_map_get(t->index, key, klen);
        if (v == NULL) continue;
        const row_t *r = &t->rows[(uintptr_t)v - 1];
        *value = r->value;
        if (source && source_size) snprintf(source, source_size, "%s", r->source);
        return true;
    }
    return false;
}

bool fd_targets_team_sums(const fd_targets_t *t) {
    return t->team_sums;
}

void fd_targets_ids(const fd_targets_t *t, fd_scope_t scope, void (*fn)(const char *id, void *arg),
                    void *arg) {
    char key[FD_ID_MAX + 16];
    for (size_t i = 0; i < t->nrows; i++) {
        const row_t *r = &t->rows[i];
        if (r->scope != scope || strcmp(r->id, "*") == 0) continue;
        size_t klen = id_key(scope, r->id, key, sizeof key);
        if ((uintptr_t)fd_map_get(t->ids, key, klen) == i + 1) fn(r->id, arg);
    }
}

const fd_scorecard_def_t *fd_targets_scorecard(const fd_targets_t *t) {
    return t->has_scorecard ? &t->def : NULL;
}

bool fd_targets_scores_period(const fd_targets_t *t, fd_period_kind_t kind) {
    return (unsigned)kind < FD_PERIOD_COUNT && t->periods[kind];
}

int64_t fd_targets_recompute_ms(const fd_targets_t *t) {
    return t->recompute_ms;
}

int64_t fd_targets_grace_ms(const fd_targets_t *t) {
    return t->grace_ms;
}

bool fd_targets_event_clock(const fd_targets_t *t) {
    return t->event_clock;
}

size_t fd_targets_count(const fd_targets_t *t) {
    return t->nrows;
}

bool fd_targets_resolve(const fd_targets_t *t, fd_scope_t scope, const char *id,
                        const fd_period_t *p, fd_kpi_t kpi, const fd_map_t *rep_team, double *value,
                        char *source, size_t source_size) {
    if (fd_targets_find(t, scope, id, p, kpi, value, source, source_size)) return true;
    if (t == NULL || scope != FD_SCOPE_TEAM || !fd_kpi_is_volume(kpi.kind) ||
        !fd_targets_team_sums(t) || rep_team == NULL)
        return false;
    size_t pos = 0, len, members = 0;
    const char *key;
    void *team;
    double sum = 0;
    char rep[FD_ID_MAX + 1], src[FD_SCORE_SOURCE_MAX];
    while (fd_map_next(rep_team, &pos, &key, &len, &team)) {
        if (team == NULL || strcmp(team, id) != 0 || len > FD_ID_MAX) continue;
        memcpy(rep, key, len);
        rep[len] = '\0';
        double v;
        if (!fd_targets_find(t, FD_SCOPE_REP, rep, p, kpi, &v, src, sizeof src)) continue;
        sum += v;
        members++;
    }
    if (members == 0) return false;
    *value = sum;
    if (source_size) snprintf(source, source_size, "sum of %zu reps", members);
    return true;
}

bool fd_period_alias(const char *s, const fd_windows_t *now, fd_period_t *out) {
    const char *id;
    if (strcmp(s, "month") == 0 || strcmp(s, "year") == 0)
        id = now->id[FD_WIN_MONTH];
    else if (strcmp(s, "quarter") == 0)
        id = now->id[FD_WIN_QUARTER];
    else
        return false;
    fd_period_t p;
    if (!fd_period_parse(id, strlen(id), &p)) return false;
    if (s[0] == 'y') p = (fd_period_t){FD_PERIOD_YEAR, p.year, 0};
    *out = p;
    return true;
}
