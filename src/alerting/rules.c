// SPDX-License-Identifier: MIT
// Alert rules: parses and validates the rules file against the funnel, computes KPIs from summed
// fields and evaluates threshold, target-pace and drift conditions (layer 2, pure but for
// fd_rules_load reading the file; cJSON stays inside). Reference: docs/alerts.md.
#include "alerting/rules.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define HOUR_MS ((int64_t)3600000)
#define DAY_MS  (24 * HOUR_MS)

/* Which parameters a team override sets (a bit each). */
enum {
    OV_OP = 1 << 0,
    OV_VALUE = 1 << 1,
    OV_TOLERANCE = 1 << 2,
    OV_MAX_CHANGE = 1 << 3,
    OV_Z = 1 << 4,
    OV_MIN_SAMPLES = 1 << 5,
    OV_FOR = 1 << 6,
    OV_RESOLVE_FOR = 1 << 7,
    OV_HYSTERESIS = 1 << 8,
    OV_REPEAT = 1 << 9,
};

typedef struct {
    char *id;
    double value;
} id_value_t;

typedef struct {
    char *team;
    unsigned mask; /* OV_* */
    fd_rule_params_t p;
} override_t;

typedef struct {
    fd_rule_t pub;
    fd_rule_params_t base;
    bool has_value; /* target: a target for every id ("value") */
    char **reps;    /* filter: rep ids (rep scope) */
    size_t nreps;
    char **teams; /* filter: team ids (rep and team scope) */
    size_t nteams;
    id_value_t *target_reps; /* target: per-rep values */
    size_t ntarget_reps;
    id_value_t *target_teams; /* target: per-team values */
    size_t ntarget_teams;
    override_t *overrides;
    size_t noverrides;
    char *summary[2]; /* en, zh; NULL = the condition's default */
} rule_t;

struct fd_rules {
    const fd_funnel_t *fn;
    rule_t *rules;
    size_t n;
    char locale[4];
    bool wall;
    int64_t interval_ms;
    int64_t stall_scan_ms;
    char **mgr_team; /* managers: team id -> name */
    char **mgr_name;
    size_t nmgr;
};

/* ---------------------------------------------------------------------------------------------
 * Small helpers */

const char *fd_cond_name(fd_cond_kind_t cond) {
    static const char *const names[] = {"threshold", "target", "drift"};
    return (unsigned)cond <= FD_COND_DRIFT ? names[cond] : "unknown";
}

static const char *const kpi_prefix[FD_KPI_COUNT] = {
    "entered",    "exit_conv", "conv",         "dwell_hours", "win_rate", "won",
    "won_amount", "activity",  "feedback_avg", "complaints",  "stalled"};

/* KPIs with an argument: a stage (1) or an activity kind (2); 0 = none. */
static int kpi_arg_type(fd_kpi_kind_t kind) {
    switch (kind) {
    case FD_KPI_ENTERED:
    case FD_KPI_EXIT_CONV:
    case FD_KPI_CONV:
    case FD_KPI_DWELL_HOURS:
    case FD_KPI_STALLED:
        return 1;
    case FD_KPI_ACTIVITY:
        return 2;
    default:
        return 0;
    }
}

bool fd_kpi_is_volume(fd_kpi_kind_t kind) {
    switch (kind) {
    case FD_KPI_ENTERED:
    case FD_KPI_WON:
    case FD_KPI_WON_AMOUNT:
    case FD_KPI_ACTIVITY:
    case FD_KPI_COMPLAINTS:
    case FD_KPI_STALLED:
        return true;
    default:
        return false;
    }
}

void fd_kpi_name(const fd_funnel_t *fn, fd_kpi_t kpi, char *buf, size_t size) {
    if (size == 0) return;
    if ((unsigned)kpi.kind >= FD_KPI_COUNT) {
        snprintf(buf, size, "unknown");
        return;
    }
    int t = kpi_arg_type(kpi.kind);
    if (t == 1)
        snprintf(buf, size, "%s:%s", kpi_prefix[kpi.kind], fd_funnel_stage_name(fn, kpi.arg));
    else if (t == 2)
        snprintf(buf, size, "%s:%s", kpi_prefix[kpi.kind], fd_funnel_kind_name(fn, kpi.arg));
    else
        snprintf(buf, size, "%s", kpi_prefix[kpi.kind]);
}

size_t fd_kpi_fields(const fd_funnel_t *fn, fd_kpi_t kpi, size_t idx[2]) {
    switch (kpi.kind) {
    case FD_KPI_ENTERED:
        idx[0] = fd_funnel_field_stage(fn, kpi.arg, FD_F_ENTERED);
        return 1;
    case FD_KPI_EXIT_CONV:
        idx[0] = fd_funnel_field_stage(fn, kpi.arg, FD_F_MOVED_ON);
        idx[1] = fd_funnel_field_stage(fn, kpi.arg, FD_F_LOST_AT);
        return 2;
    case FD_KPI_CONV:
        idx[0] = fd_funnel_field_stage(fn, kpi.arg, FD_F_ADVANCED);
        idx[1] = fd_funnel_field_stage(fn, kpi.arg, FD_F_ENTERED);
        return 2;
    case FD_KPI_DWELL_HOURS:
        idx[0] = fd_funnel_field_stage(fn, kpi.arg, FD_F_DWELL_SUM_MS);
        idx[1] = fd_funnel_field_stage(fn, kpi.arg, FD_F_DWELL_COUNT);
        return 2;
    case FD_KPI_WIN_RATE:
        idx[0] = fd_funnel_field_global(fn, FD_G_WON);
        idx[1] = fd_funnel_field_global(fn, FD_G_LOST);
        return 2;
    case FD_KPI_WON:
        idx[0] = fd_funnel_field_global(fn, FD_G_WON);
        return 1;
    case FD_KPI_WON_AMOUNT:
        idx[0] = fd_funnel_field_global(fn, FD_G_WON_AMOUNT);
        idx[1] = fd_funnel_field_global(fn, FD_G_WON);
        return 2;
    case FD_KPI_ACTIVITY:
        idx[0] = fd_funnel_field_kind(fn, kpi.arg);
        return 1;
    case FD_KPI_FEEDBACK_AVG:
        idx[0] = fd_funnel_field_global(fn, FD_G_FEEDBACK_SUM);
        idx[1] = fd_funnel_field_global(fn, FD_G_FEEDBACK_COUNT);
        return 2;
    case FD_KPI_COMPLAINTS:
        idx[0] = fd_funnel_field_global(fn, FD_G_COMPLAINTS);
        return 1;
    default:
        return 0;
    }
}

/* num / den with den the samples; undefined (false, 0) when den <= 0. */
static bool ratio(double num, int64_t den, double scale, double *value, int64_t *samples) {
    *samples = den;
    if (den <= 0) {
        *value = 0;
        return false;
    }
    *value = num / ((double)den * scale);
    return true;
}

bool fd_kpi_value(const fd_funnel_t *fn, fd_kpi_t kpi, const int64_t *fields, double *value,
                  int64_t *samples) {
    size_t idx[2] = {0, 0};
    size_t n = fd_kpi_fields(fn, kpi, idx);
    *value = 0;
    *samples = 0;
    if (n == 0) return false;
    int64_t a = fields[idx[0]], b = n > 1 ? fields[idx[1]] : 0;
    switch (kpi.kind) {
    case FD_KPI_EXIT_CONV:
        return ratio((double)a, a + b, 1, value, samples);
    case FD_KPI_CONV:
    case FD_KPI_WIN_RATE:
        if (kpi.kind == FD_KPI_WIN_RATE) return ratio((double)a, a + b, 1, value, samples);
        return ratio((double)a, b, 1, value, samples);
    case FD_KPI_DWELL_HOURS:
        return ratio((double)a, b, (double)HOUR_MS, value, samples);
    case FD_KPI_FEEDBACK_AVG:
        return ratio((double)a, b, 100, value, samples);
    case FD_KPI_WON_AMOUNT:
        /* an amount is always defined: nothing won is 0, and that is the signal */
        *value = (double)a / 100;
        *samples = b;
        return true;
    default: /* counts */
        *value = (double)a;
        *samples = a;
        return true;
    }
}

fd_err_t fd_rules_parse_duration(const char *s, int64_t *out_ms) {
    if (s == NULL || out_ms == NULL) return FD_ERR_PARSE;
    if (strcmp(s, "0") == 0) {
        *out_ms = 0;
        return FD_OK;
    }
    const char *p = s;
    if (*p < '0' || *p > '9') return FD_ERR_PARSE;
    int64_t n = 0;
    while (*p >= '0' && *p <= '9') {
        if (n > INT64_MAX / 10 - 9) return FD_ERR_PARSE;
        n = n * 10 + (*p++ - '0');
    }
    int64_t unit;
    switch (*p) {
    case 's':
        unit = 1000;
        break;
    case 'm':
        unit = 60000;
        break;
    case 'h':
        unit = HOUR_MS;
        break;
    case 'd':
        unit = DAY_MS;
        break;
    default:
        return FD_ERR_PARSE;
    }
    if (p[1] != '\0') return FD_ERR_PARSE;
    /* bounded to about 292 years, far beyond any sensible duration */
    if (n > INT64_MAX / unit) return FD_ERR_PARSE;
    *out_ms = n * unit;
    return FD_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing */

typedef struct {
    const fd_funnel_t *fn;
    char *errstr;
    size_t errstr_size;
    char path[FD_RULE_NAME_MAX + 48]; /* "rules[3] (name)" or "" at the top level */
} pctx_t;

static fd_err_t bad(pctx_t *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "<path>.<field>: <message>" to errstr and returns FD_ERR_CONFIG. */
static fd_err_t bad(pctx_t *c, const char *field, const char *fmt, ...) {
    if (c->errstr && c->errstr_size) {
        char msg[384];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        const char *sep = c->path[0] && field[0] ? "." : "";
        snprintf(c->errstr, c->errstr_size, "%s%s%s: %s", c->path, sep, field, msg);
    }
    return FD_ERR_CONFIG;
}

/* A found value for a message: a string quoted (shortened), a number, or the JSON type. */
static void found(const cJSON *it, char *buf, size_t size) {
    if (cJSON_IsString(it)) {
        const char *s = it->valuestring;
        size_t n = strlen(s);
        if (n > 40) n = 40;
        /* back off to a UTF-8 boundary and drop control characters */
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
        char tmp[48];
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            tmp[k++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
        tmp[k] = '\0';
        snprintf(buf, size, "\"%s\"%s", tmp, strlen(s) > n ? "..." : "");
    } else if (cJSON_IsNumber(it)) {
        snprintf(buf, size, "%g", it->valuedouble);
    } else if (cJSON_IsBool(it)) {
        snprintf(buf, size, "a boolean");
    } else if (cJSON_IsNull(it)) {
        snprintf(buf, size, "null");
    } else if (cJSON_IsArray(it)) {
        snprintf(buf, size, "an array");
    } else {
        snprintf(buf, size, "an object");
    }
}

/* Rejects keys of obj that are not in allowed (NULL-terminated) and duplicate keys. */
static fd_err_t check_keys(pctx_t *c, const cJSON *obj, const char *where,
                           const char *const *allowed) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(it->string, allowed[i]) == 0;
        char field[160];
        snprintf(field, sizeof field, "%s%s%s", where, where[0] ? "." : "", it->string);
        if (!ok) return bad(c, field, "unknown key");
        for (const cJSON *o = obj->child; o != it; o = o->next)
            if (strcmp(o->string, it->string) == 0) return bad(c, field, "duplicate key");
    }
    return FD_OK;
}

static fd_err_t get_number(pctx_t *c, const cJSON *it, const char *field, double lo, double hi,
                           double *out) {
    char f[64];
    if (!cJSON_IsNumber(it)) {
        found(it, f, sizeof f);
        return bad(c, field, "expected a number, found %s", f);
    }
    double v = it->valuedouble;
    if (!isfinite(v) || v < lo || v > hi)
        return bad(c, field, "expected a number in [%g, %g], found %g", lo, hi, v);
    *out = v;
    return FD_OK;
}

static fd_err_t get_int(pctx_t *c, const cJSON *it, const char *field, int64_t lo, int64_t hi,
                        int64_t *out) {
    char f[64];
    if (!cJSON_IsNumber(it)) {
        found(it, f, sizeof f);
        return bad(c, field, "expected an integer, found %s", f);
    }
    double v = it->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < (double)lo || v > (double)hi)
        return bad(c, field, "expected an integer in [%" PRId64 ", %" PRId64 "], found %g", lo, hi,
                   v);
    *out = (int64_t)v;
    return FD_OK;
}

static fd_err_t get_string(pctx_t *c, const cJSON *it, const char *field, const char **out) {
    char f[64];
    if (!cJSON_IsString(it)) {
        found(it, f, sizeof f);
        return bad(c, field, "expected a string, found %s", f);
    }
    *out = it->valuestring;
    return FD_OK;
}

/* One of choices (NULL-terminated); *out = its index. */
static fd_err_t get_choice(pctx_t *c, const cJSON *it, const char *field,
                           const char *const *choices, int *out) {
    const char *s = NULL;
    fd_err_t err = get_string(c, it, field, &s);
    if (err) return err;
    char list[160] = "";
    for (int i = 0; choices[i]; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return FD_OK;
        }
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s\"%s\"", i ? ", " : "", choices[i]);
    }
    char f[64];
    found(it, f, sizeof f);
    return bad(c, field, "expected one of %s, found %s", list, f);
}

static fd_err_t get_duration(pctx_t *c, const cJSON *it, const char *field, int64_t lo, int64_t hi,
                             int64_t *out) {
    const char *s = NULL;
    fd_err_t err = get_string(c, it, field, &s);
    if (err) return err;
    int64_t ms;
    char f[64];
    found(it, f, sizeof f);
    if (fd_rules_parse_duration(s, &ms) != FD_OK)
        return bad(
            c, field,
            "expected a duration such as \"90s\", \"15m\", \"2h\", \"7d\" or \"0\", found %s", f);
    if (ms < lo || ms > hi) {
        if (lo == 0)
            return bad(c, field, "expected a duration of at most %" PRId64 "d, found %s",
                       hi / DAY_MS, f);
        return bad(c, field, "expected a duration in [%" PRId64 "s, %" PRId64 "d], found %s",
                   lo / 1000, hi / DAY_MS, f);
    }
    *out = ms;
    return FD_OK;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* An id of a filter or a table: 1..FD_ID_MAX bytes without control characters. */
static bool valid_id(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > FD_ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

static fd_err_t parse_id_list(pctx_t *c, const cJSON *arr, const char *field, char ***out,
                              size_t *n) {
    char f[64];
    if (!cJSON_IsArray(arr)) {
        found(arr, f, sizeof f);
        return bad(c, field, "expected an array of ids, found %s", f);
    }
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    if (cnt == 0) return bad(c, field, "expected at least one id, found an empty array");
    char **v = calloc(cnt, sizeof *v);
    if (v == NULL) return FD_ERR_NOMEM;
    *out = v;
    size_t i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        char fi[96];
        snprintf(fi, sizeof fi, "%s[%zu]", field, i);
        if (!cJSON_IsString(it) || !valid_id(it->valuestring)) {
            found(it, f, sizeof f);
            return bad(c, fi, "expected an id (1..%d bytes, no control characters), found %s",
                       FD_ID_MAX, f);
        }
        if ((v[i] = dup_str(it->valuestring)) == NULL) return FD_ERR_NOMEM;
        *n = i + 1;
    }
    return FD_OK;
}

/* {"id": number, ...} */
static fd_err_t parse_id_values(pctx_t *c, const cJSON *obj, const char *field, id_value_t **out,
                                size_t *n) {
    char f[64];
    if (!cJSON_IsObject(obj)) {
        found(obj, f, sizeof f);
        return bad(c, field, "expected an object of id: number, found %s", f);
    }
    size_t cnt = (size_t)cJSON_GetArraySize(obj);
    if (cnt == 0) return FD_OK;
    id_value_t *v = calloc(cnt, sizeof *v);
    if (v == NULL) return FD_ERR_NOMEM;
    *out = v;
    size_t i = 0;
    for (const cJSON *it = obj->child; it; it = it->next, i++) {
        char fi[200];
        snprintf(fi, sizeof fi, "%s.%s", field, it->string);
        if (!valid_id(it->string)) return bad(c, fi, "expected an id as key");
        for (const cJSON *o = obj->child; o != it; o = o->next)
            if (strcmp(o->string, it->string) == 0) return bad(c, fi, "duplicate key");
        fd_err_t err = get_number(c, it, fi, 0, 1e15, &v[i].value);
        if (err) return err;
        if ((v[i].id = dup_str(it->string)) == NULL) return FD_ERR_NOMEM;
        *n = i + 1;
    }
    return FD_OK;
}

static const char *const stage_kpis_help = "entered, exit_conv, conv, dwell_hours, stalled";

/* "exit_conv:proposal" etc. */
static fd_err_t parse_kpi(pctx_t *c, const cJSON *it, fd_kpi_t *kpi) {
    const char *s = NULL;
    fd_err_t err = get_string(c, it, "kpi", &s);
    if (err) return err;
    const char *colon = strchr(s, ':');
    size_t plen = colon ? (size_t)(colon - s) : strlen(s);
    int kind = -1;
    for (int k = 0; k < FD_KPI_COUNT; k++)
        if (strlen(kpi_prefix[k]) == plen && memcmp(kpi_prefix[k], s, plen) == 0) kind = k;
    char f[64];
    found(it, f, sizeof f);
    if (kind < 0)
        return bad(c, "kpi",
                   "expected entered:<stage>, exit_conv:<stage>, conv:<stage>, "
                   "dwell_hours:<stage>, stalled:<stage>, activity:<kind>, win_rate, won, "
                   "won_amount, feedback_avg or complaints, found %s",
                   f);
    kpi->kind = (fd_kpi_kind_t)kind;
    kpi->arg = -1;
    int t = kpi_arg_type(kpi->kind);
    if (t == 0) {
        if (colon) return bad(c, "kpi", "%s takes no argument, found %s", kpi_prefix[kind], f);
        return FD_OK;
    }
    if (colon == NULL || colon[1] == '\0')
        return bad(c, "kpi", "%s needs %s (\"%s:<%s>\"), found %s", kpi_prefix[kind],
                   t == 1 ? "a stage" : "an activity kind", kpi_prefix[kind],
                   t == 1 ? "stage" : "kind", f);
    const char *arg = colon + 1;
    const fd_funnel_t *fn = c->fn;
    char list[FD_MAX_KINDS * (FD_NAME_MAX + 2)] = "";
    size_t count = t == 1 ? fd_funnel_nstages(fn) : fd_funnel_nkinds(fn);
    for (size_t i = 0; i < count; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "",
                 t == 1 ? fd_funnel_stage_name(fn, (int)i) : fd_funnel_kind_name(fn, (int)i));
    }
    int idx = t == 1 ? fd_funnel_stage_index(fn, arg, strlen(arg))
                     : fd_funnel_kind_index(fn, arg, strlen(arg));
    if (idx < 0)
        return bad(c, "kpi", "unknown %s in %s (valid: %s)", t == 1 ? "stage" : "activity kind", f,
                   list);
    int last = (int)fd_funnel_nstages(fn) - 1;
    if (t == 1 && idx == last && kpi->kind != FD_KPI_ENTERED)
        return bad(
            c, "kpi", "%s is the won stage: only entered:%s is valid there (of %s), found %s",
            fd_funnel_stage_name(fn, last), fd_funnel_stage_name(fn, last), stage_kpis_help, f);
    kpi->arg = idx;
    return FD_OK;
}

/* "7d", "24h", "day", "week", "month", "quarter". */
static fd_err_t parse_window(pctx_t *c, const cJSON *it, fd_rule_window_t *w) {
    const char *s = NULL;
    fd_err_t err = get_string(c, it, "window", &s);
    if (err) return err;
    char f[64];
    found(it, f, sizeof f);
    static const char *const cal[] = {"day", "week", "month", "quarter"};
    static const fd_win_kind_t calk[] = {FD_WIN_DAY, FD_WIN_WEEK, FD_WIN_MONTH, FD_WIN_QUARTER};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(s, cal[i]) == 0) {
            w->type = FD_RULE_WIN_CALENDAR;
            w->cal = calk[i];
            snprintf(w->name, sizeof w->name, "%s", s);
            return FD_OK;
        }
    int64_t ms;
    size_t n = strlen(s);
    if (n < 2 || (s[n - 1] != 'h' && s[n - 1] != 'd') || fd_rules_parse_duration(s, &ms) != FD_OK)
        return bad(c, "window",
                   "expected a rolling window (\"24h\", \"7d\": whole hours or days) or day, week, "
                   "month, quarter, found %s",
                   f);
    if (ms < HOUR_MS || ms > 90 * DAY_MS)
        return bad(c, "window", "expected a rolling window of 1h..90d, found %s", f);
    w->type = FD_RULE_WIN_ROLLING;
    w->span_ms = ms;
    snprintf(w->name, sizeof w->name, "%s", s);
    return FD_OK;
}

static const char *const ops[] = {"<", "<=", ">", ">=", NULL};

/* The condition object of a rule (or of an override when ov is set: only the overridable keys).
 */
static fd_err_t parse_threshold(pctx_t *c, const cJSON *o, const char *where, fd_rule_params_t *p,
                                unsigned *mask, bool ov) {
    static const char *const keys[] = {"op", "value", NULL};
    char f[160];
    if (!cJSON_IsObject(o)) {
        found(o, f, sizeof f);
        return bad(c, where, "expected an object, found %s", f);
    }
    fd_err_t err = check_keys(c, o, where, keys);
    if (err) return err;
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(o, "value");
    snprintf(f, sizeof f, "%s.op", where);
    if (op) {
        int i;
        if ((err = get_choice(c, op, f, ops, &i))) return err;
        p->op = (fd_op_t)i;
        *mask |= OV_OP;
    } else if (!ov) {
        return bad(c, f, "missing (one of \"<\", \"<=\", \">\", \">=\")");
    }
    snprintf(f, sizeof f, "%s.value", where);
    if (val) {
        if ((err = get_number(c, val, f, -1e15, 1e15, &p->value))) return err;
        *mask |= OV_VALUE;
    } else if (!ov) {
        return bad(c, f, "missing (the bound, a number)");
    }
    return FD_OK;
}

static fd_err_t parse_target(pctx_t *c, const cJSON *o, const char *where, rule_t *r,
                             fd_rule_params_t *p, unsigned *mask, bool ov) {
    static const char *const keys[] = {"op", "value", "tolerance", "teams", "reps", NULL};
    static const char *const okeys[] = {"value", "tolerance", NULL};
    static const char *const tops[] = {">=", "<=", NULL};
    char f[160];
    if (!cJSON_IsObject(o)) {
        found(o, f, sizeof f);
        return bad(c, where, "expected an object, found %s", f);
    }
    fd_err_t err = check_keys(c, o, where, ov ? okeys : keys);
    if (err) return err;
    const cJSON *it;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "op"))) {
        int i;
        snprintf(f, sizeof f, "%s.op", where);
        if ((err = get_choice(c, it, f, tops, &i))) return err;
        p->op = i == 0 ? FD_OP_GE : FD_OP_LE;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "value"))) {
        snprintf(f, sizeof f, "%s.value", where);
        if ((err = get_number(c, it, f, 0, 1e15, &p->value))) return err;
        *mask |= OV_VALUE;
        if (!ov) r->has_value = true;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "tolerance"))) {
        snprintf(f, sizeof f, "%s.tolerance", where);
        if ((err = get_number(c, it, f, 0, 1, &p->tolerance))) return err;
        *mask |= OV_TOLERANCE;
    }
    if (ov) return FD_OK;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "teams"))) {
        snprintf(f, sizeof f, "%s.teams", where);
        if (r->pub.scope == FD_SCOPE_ORG)
            return bad(c, f, "per-team targets need scope rep or team, found scope org");
        if ((err = parse_id_values(c, it, f, &r->target_teams, &r->ntarget_teams))) return err;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "reps"))) {
        snprintf(f, sizeof f, "%s.reps", where);
        if (r->pub.scope != FD_SCOPE_REP)
            return bad(c, f, "per-rep targets need scope rep, found scope %s",
                       fd_scope_name(r->pub.scope));
        if ((err = parse_id_values(c, it, f, &r->target_reps, &r->ntarget_reps))) return err;
    }
    if (!r->has_value && r->ntarget_teams == 0 && r->ntarget_reps == 0)
        return bad(c, where, "expected a target: value, teams or reps");
    return FD_OK;
}

static fd_err_t parse_drift(pctx_t *c, const cJSON *o, const char *where, fd_rule_params_t *p,
                            unsigned *mask, bool ov) {
    static const char *const keys[] = {"baseline_days", "max_change", "z",
                                       "direction",     "require",    NULL};
    static const char *const okeys[] = {"max_change", "z", NULL};
    static const char *const dirs[] = {"down", "up", "both", NULL};
    static const char *const reqs[] = {"both", "either", NULL};
    char f[160];
    if (!cJSON_IsObject(o)) {
        found(o, f, sizeof f);
        return bad(c, where, "expected an object, found %s", f);
    }
    fd_err_t err = check_keys(c, o, where, ov ? okeys : keys);
    if (err) return err;
    const cJSON *it;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "max_change"))) {
        snprintf(f, sizeof f, "%s.max_change", where);
        if ((err = get_number(c, it, f, 0, 1e6, &p->max_change))) return err;
        if (p->max_change <= 0) return bad(c, f, "expected a number > 0, found %g", p->max_change);
        *mask |= OV_MAX_CHANGE;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "z"))) {
        snprintf(f, sizeof f, "%s.z", where);
        if ((err = get_number(c, it, f, 0, 1e6, &p->z))) return err;
        if (p->z <= 0) return bad(c, f, "expected a number > 0, found %g", p->z);
        *mask |= OV_Z;
    }
    if (ov) return FD_OK;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "baseline_days"))) {
        int64_t v;
        snprintf(f, sizeof f, "%s.baseline_days", where);
        if ((err = get_int(c, it, f, 1, 365, &v))) return err;
        p->baseline_days = (int)v;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "direction"))) {
        int i;
        snprintf(f, sizeof f, "%s.direction", where);
        if ((err = get_choice(c, it, f, dirs, &i))) return err;
        p->direction = i == 0 ? -1 : i == 1 ? 1 : 0;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "require"))) {
        int i;
        snprintf(f, sizeof f, "%s.require", where);
        if ((err = get_choice(c, it, f, reqs, &i))) return err;
        p->require_both = i == 0;
    }
    if (p->max_change <= 0 && p->z <= 0) return bad(c, where, "expected max_change, z or both");
    return FD_OK;
}

static const char *const severities[] = {"info", "warning", "critical", NULL};

/* The parameters shared by a rule and its overrides: min_samples, for, resolve_for, hysteresis,
 * repeat_every. */
static fd_err_t parse_common(pctx_t *c, const cJSON *o, const char *where, fd_cond_kind_t cond,
                             fd_rule_params_t *p, unsigned *mask) {
    const cJSON *it;
    fd_err_t err;
    char f[160];
#define FIELD(name) (snprintf(f, sizeof f, "%s%s%s", where, where[0] ? "." : "", name), f)
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "min_samples"))) {
        if ((err = get_int(c, it, FIELD("min_samples"), 0, 1000000000, &p->min_samples)))
            return err;
        *mask |= OV_MIN_SAMPLES;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "for"))) {
        if ((err = get_duration(c, it, FIELD("for"), 0, 90 * DAY_MS, &p->for_ms))) return err;
        *mask |= OV_FOR;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "resolve_for"))) {
        if ((err = get_duration(c, it, FIELD("resolve_for"), 0, 90 * DAY_MS, &p->resolve_for_ms)))
            return err;
        *mask |= OV_RESOLVE_FOR;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "repeat_every"))) {
        if ((err = get_duration(c, it, FIELD("repeat_every"), 0, 90 * DAY_MS, &p->repeat_ms)))
            return err;
        if (p->repeat_ms > 0 && p->repeat_ms < 60000)
            return bad(c, f, "expected \"0\" (never) or at least 1m, found %" PRId64 "ms",
                       p->repeat_ms);
        *mask |= OV_REPEAT;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "hysteresis"))) {
        /* threshold: KPI units; target and drift: a fraction below 1 */
        double hi = cond == FD_COND_THRESHOLD ? 1e15 : 0.999;
        if ((err = get_number(c, it, FIELD("hysteresis"), 0, hi, &p->hysteresis))) return err;
        *mask |= OV_HYSTERESIS;
    }
#undef FIELD
    return FD_OK;
}

static const char *const cond_keys[] = {"threshold", "target", "drift"};

static fd_err_t parse_overrides(pctx_t *c, const cJSON *o, rule_t *r) {
    char f[200];
    if (r->pub.scope == FD_SCOPE_ORG)
        return bad(c, "overrides", "overrides are per team: they need scope rep or team");
    if (!cJSON_IsObject(o)) {
        found(o, f, sizeof f);
        return bad(c, "overrides", "expected an object keyed by team id, found %s", f);
    }
    size_t cnt = (size_t)cJSON_GetArraySize(o);
    if (cnt == 0) return FD_OK;
    if ((r->overrides = calloc(cnt, sizeof *r->overrides)) == NULL) return FD_ERR_NOMEM;
    static const char *const keys[][7] = {
        {"threshold", "min_samples", "for", "resolve_for", "hysteresis", "repeat_every", NULL},
        {"target", "min_samples", "for", "resolve_for", "hysteresis", "repeat_every", NULL},
        {"drift", "min_samples", "for", "resolve_for", "hysteresis", "repeat_every", NULL},
    };
    for (const cJSON *t = o->child; t; t = t->next) {
        snprintf(f, sizeof f, "overrides.%s", t->string);
        if (!valid_id(t->string)) return bad(c, f, "expected a team id as key");
        for (const cJSON *d = o->child; d != t; d = d->next)
            if (strcmp(d->string, t->string) == 0) return bad(c, f, "duplicate key");
        if (!cJSON_IsObject(t)) {
            char g[64];
            found(t, g, sizeof g);
            return bad(c, f, "expected an object, found %s", g);
        }
        override_t *ov = &r->overrides[r->noverrides];
        if ((ov->team = dup_str(t->string)) == NULL) return FD_ERR_NOMEM;
        r->noverrides++;
        fd_err_t err = check_keys(c, t, f, keys[r->pub.cond]);
        if (err) return err;
        const cJSON *cond = cJSON_GetObjectItemCaseSensitive(t, cond_keys[r->pub.cond]);
        if (cond) {
            char g[240];
            snprintf(g, sizeof g, "%s.%s", f, cond_keys[r->pub.cond]);
            if (r->pub.cond == FD_COND_THRESHOLD)
                err = parse_threshold(c, cond, g, &ov->p, &ov->mask, true);
            else if (r->pub.cond == FD_COND_TARGET)
                err = parse_target(c, cond, g, r, &ov->p, &ov->mask, true);
            else
                err = parse_drift(c, cond, g, &ov->p, &ov->mask, true);
            if (err) return err;
        }
        if ((err = parse_common(c, t, f, r->pub.cond, &ov->p, &ov->mask))) return err;
        if (ov->mask == 0) return bad(c, f, "expected at least one parameter to override");
    }
    return FD_OK;
}

static fd_err_t parse_summary(pctx_t *c, const cJSON *it, rule_t *r) {
    char f[64];
    if (cJSON_IsString(it)) {
        if (it->valuestring[0] == '\0') return bad(c, "summary", "expected a non-empty template");
        if ((r->summary[0] = dup_str(it->valuestring)) == NULL) return FD_ERR_NOMEM;
        if ((r->summary[1] = dup_str(it->valuestring)) == NULL) return FD_ERR_NOMEM;
        return FD_OK;
    }
    if (!cJSON_IsObject(it)) {
        found(it, f, sizeof f);
        return bad(c, "summary", "expected a string or an object {\"en\", \"zh\"}, found %s", f);
    }
    static const char *const keys[] = {"en", "zh", NULL};
    fd_err_t err = check_keys(c, it, "summary", keys);
    if (err) return err;
    for (int l = 0; l < 2; l++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, keys[l]);
        if (s == NULL) continue;
        char g[32];
        snprintf(g, sizeof g, "summary.%s", keys[l]);
        const char *v = NULL;
        if ((err = get_string(c, s, g, &v))) return err;
        if (v[0] == '\0') return bad(c, g, "expected a non-empty template");
        if ((r->summary[l] = dup_str(v)) == NULL) return FD_ERR_NOMEM;
    }
    return FD_OK;
}

static bool valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > FD_RULE_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

static fd_err_t parse_rule(pctx_t *c, const cJSON *o, size_t i, rule_t *r, const rule_t *prev) {
    static const char *const keys[] = {"name",       "kpi",          "scope",         "window",
                                       "lag",        "severity",     "threshold",     "target",
                                       "drift",      "min_samples",  "for",           "resolve_for",
                                       "hysteresis", "repeat_every", "stalled_after", "reps",
                                       "teams",      "overrides",    "summary",       NULL};
    snprintf(c->path, sizeof c->path, "rules[%zu]", i);
    char f[64];
    if (!cJSON_IsObject(o)) {
        found(o, f, sizeof f);
        return bad(c, "", "expected an object, found %s", f);
    }
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "name");
    const char *name = NULL;
    fd_err_t err;
    if (it == NULL) return bad(c, "name", "missing (1..%d of A-Z a-z 0-9 _ . -)", FD_RULE_NAME_MAX);
    if ((err = get_string(c, it, "name", &name))) return err;
    if (!valid_name(name)) {
        found(it, f, sizeof f);
        return bad(c, "name", "expected 1..%d of A-Z a-z 0-9 _ . -, found %s", FD_RULE_NAME_MAX, f);
    }
    for (const rule_t *q = prev; q < r; q++)
        if (strcmp(q->pub.name, name) == 0)
            return bad(c, "name", "duplicate rule name \"%s\" (rules[%zu])", name,
                       (size_t)(q - prev));
    snprintf(r->pub.name, sizeof r->pub.name, "%s", name);
    snprintf(c->path, sizeof c->path, "rules[%zu] (%s)", i, name);
    if ((err = check_keys(c, o, "", keys))) return err;

    if ((it = cJSON_GetObjectItemCaseSensitive(o, "kpi")) == NULL)
        return bad(c, "kpi", "missing (e.g. \"exit_conv:proposal\", \"win_rate\")");
    if ((err = parse_kpi(c, it, &r->pub.kpi))) return err;
    bool stalled = r->pub.kpi.kind == FD_KPI_STALLED;

    static const char *const scopes[] = {"rep", "team", "org", NULL};
    int v;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "scope")) == NULL)
        return bad(c, "scope", "missing (\"rep\", \"team\" or \"org\")");
    if ((err = get_choice(c, it, "scope", scopes, &v))) return err;
    r->pub.scope = (fd_scope_t)v;

    snprintf(r->pub.severity, sizeof r->pub.severity, "warning");
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "severity"))) {
        if ((err = get_choice(c, it, "severity", severities, &v))) return err;
        snprintf(r->pub.severity, sizeof r->pub.severity, "%s", severities[v]);
    }

    /* window, lag, stalled_after */
    it = cJSON_GetObjectItemCaseSensitive(o, "window");
    const cJSON *lag = cJSON_GetObjectItemCaseSensitive(o, "lag");
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(o, "stalled_after");
    if (stalled) {
        if (it) return bad(c, "window", "stalled KPIs take no window (they count open deals now)");
        if (lag) return bad(c, "lag", "stalled KPIs take no window and no lag");
        if (sa == NULL)
            return bad(c, "stalled_after", "missing (required for stalled KPIs, e.g. \"21d\")");
        if ((err = get_duration(c, sa, "stalled_after", HOUR_MS, 3650 * DAY_MS,
                                &r->base.stalled_after_ms)))
            return err;
        r->pub.window.type = FD_RULE_WIN_NONE;
        snprintf(r->pub.window.name, sizeof r->pub.window.name, "now");
    } else {
        if (sa) return bad(c, "stalled_after", "only stalled:<stage> KPIs take stalled_after");
        if (it == NULL)
            return bad(c, "window", "missing (\"24h\", \"7d\", day, week, month or quarter)");
        if ((err = parse_window(c, it, &r->pub.window))) return err;
        if (lag) {
            if (r->pub.window.type != FD_RULE_WIN_ROLLING)
                return bad(c, "lag", "only rolling windows (\"7d\") take a lag, found window %s",
                           r->pub.window.name);
            if ((err = get_duration(c, lag, "lag", 0, 90 * DAY_MS, &r->pub.window.lag_ms)))
                return err;
            if (r->pub.window.lag_ms % HOUR_MS)
                return bad(c, "lag", "expected whole hours, found %" PRId64 "ms",
                           r->pub.window.lag_ms);
        }
    }

    /* the condition: exactly one */
    int ncond = 0;
    for (int k = 0; k < 3; k++)
        if (cJSON_GetObjectItemCaseSensitive(o, cond_keys[k])) {
            r->pub.cond = (fd_cond_kind_t)k;
            ncond++;
        }
    if (ncond != 1)
        return bad(c, "", "expected exactly one of threshold, target, drift, found %d", ncond);
    fd_rule_params_t *p = &r->base;
    unsigned mask = 0;
    p->op = FD_OP_GE;
    p->baseline_days = 28;
    p->direction = -1;
    p->require_both = true;
    p->min_samples = r->pub.cond == FD_COND_DRIFT ? 10 : 0;
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(o, cond_keys[r->pub.cond]);
    const fd_rule_window_t *w = &r->pub.window;
    if (stalled && r->pub.cond != FD_COND_THRESHOLD)
        return bad(c, cond_keys[r->pub.cond], "stalled KPIs take a threshold condition");
    switch (r->pub.cond) {
    case FD_COND_THRESHOLD:
        err = parse_threshold(c, cond, "threshold", p, &mask, false);
        break;
    case FD_COND_TARGET:
        if (w->type != FD_RULE_WIN_CALENDAR)
            return bad(c, "target",
                       "a target needs a calendar window (day, week, month, quarter), found "
                       "window %s",
                       w->name);
        err = parse_target(c, cond, "target", r, p, &mask, false);
        break;
    default:
        if (w->type != FD_RULE_WIN_ROLLING || w->lag_ms != 0)
            return bad(c, "drift", "drift needs a rolling window without lag (\"7d\"), found %s%s",
                       w->name, w->lag_ms ? " with a lag" : "");
        err = parse_drift(c, cond, "drift", p, &mask, false);
        break;
    }
    if (err) return err;
    if ((err = parse_common(c, o, "", r->pub.cond, p, &mask))) return err;

    /* filters */
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "reps"))) {
        if (r->pub.scope != FD_SCOPE_REP)
            return bad(c, "reps", "a reps filter needs scope rep, found scope %s",
                       fd_scope_name(r->pub.scope));
        if ((err = parse_id_list(c, it, "reps", &r->reps, &r->nreps))) return err;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "teams"))) {
        if (r->pub.scope == FD_SCOPE_ORG)
            return bad(c, "teams", "a teams filter needs scope rep or team, found scope org");
        if ((err = parse_id_list(c, it, "teams", &r->teams, &r->nteams))) return err;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "overrides")) &&
        (err = parse_overrides(c, it, r)))
        return err;
    if ((it = cJSON_GetObjectItemCaseSensitive(o, "summary")) && (err = parse_summary(c, it, r)))
        return err;
    return FD_OK;
}

static void rule_clear(rule_t *r) {
    for (size_t i = 0; i < r->nreps; i++)
        free(r->reps[i]);
    free(r->reps);
    for (size_t i = 0; i < r->nteams; i++)
        free(r->teams[i]);
    free(r->teams);
    for (size_t i = 0; i < r->ntarget_reps; i++)
        free(r->target_reps[i].id);
    free(r->target_reps);
    for (size_t i = 0; i < r->ntarget_teams; i++)
        free(r->target_teams[i].id);
    free(r->target_teams);
    for (size_t i = 0; i < r->noverrides; i++)
        free(r->overrides[i].team);
    free(r->overrides);
    free(r->summary[0]);
    free(r->summary[1]);
}

void fd_rules_destroy(fd_rules_t *rs) {
    if (rs == NULL) return;
    for (size_t i = 0; i < rs->n; i++)
        rule_clear(&rs->rules[i]);
    free(rs->rules);
    for (size_t i = 0; i < rs->nmgr; i++) {
        free(rs->mgr_team[i]);
        free(rs->mgr_name[i]);
    }
    free(rs->mgr_team);
    free(rs->mgr_name);
    free(rs);
}

static fd_err_t parse_managers(pctx_t *c, const cJSON *o, fd_rules_t *rs) {
    char f[200];
    if (!cJSON_IsObject(o)) {
        found(o, f, sizeof f);
        return bad(c, "managers", "expected an object of team id: manager name, found %s", f);
    }
    size_t cnt = (size_t)cJSON_GetArraySize(o);
    if (cnt == 0) return FD_OK;
    if ((rs->mgr_team = calloc(cnt, sizeof(char *))) == NULL ||
        (rs->mgr_name = calloc(cnt, sizeof(char *))) == NULL)
        return FD_ERR_NOMEM;
    for (const cJSON *it = o->child; it; it = it->next) {
        snprintf(f, sizeof f, "managers.%s", it->string);
        if (!valid_id(it->string)) return bad(c, f, "expected a team id as key");
        for (const cJSON *d = o->child; d != it; d = d->next)
            if (strcmp(d->string, it->string) == 0) return bad(c, f, "duplicate key");
        const char *name = NULL;
        fd_err_t err = get_string(c, it, f, &name);
        if (err) return err;
        if (!valid_id(name))
            return bad(c, f, "expected a name of 1..%d bytes without control characters",
                       FD_ID_MAX);
        rs->mgr_team[rs->nmgr] = dup_str(it->string);
        rs->mgr_name[rs->nmgr] = dup_str(name);
        rs->nmgr++;
        if (!rs->mgr_team[rs->nmgr - 1] || !rs->mgr_name[rs->nmgr - 1]) return FD_ERR_NOMEM;
    }
    return FD_OK;
}

fd_err_t fd_rules_parse(const fd_funnel_t *fn, const char *json, size_t len, fd_rules_t **out,
                        char *errstr, size_t errstr_size) {
    pctx_t c = {.fn = fn, .errstr = errstr, .errstr_size = errstr_size};
    fd_err_t err = FD_OK;
    cJSON *root = NULL;
    fd_rules_t *rs = NULL;
    if (errstr && errstr_size) errstr[0] = '\0';
    if (out == NULL || fn == NULL || (json == NULL && len > 0)) return FD_ERR_INVAL;
    *out = NULL;
    root = cJSON_ParseWithLength(json ? json : "", len);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && json && at >= json && at <= json + len ? (size_t)(at - json) : len;
        if (errstr && errstr_size)
            snprintf(errstr, errstr_size, "rules: not valid JSON near byte %zu", off);
        return FD_ERR_CONFIG;
    }
    if ((rs = calloc(1, sizeof *rs)) == NULL) {
        err = FD_ERR_NOMEM;
        goto fail;
    }
    rs->fn = fn;
    snprintf(rs->locale, sizeof rs->locale, "en");
    rs->interval_ms = 60000;
    rs->stall_scan_ms = 300000;
    char f[64];
    if (!cJSON_IsObject(root)) {
        found(root, f, sizeof f);
        err = bad(&c, "rules file", "expected a JSON object, found %s", f);
        goto fail;
    }
    static const char *const keys[] = {
        "locale", "clock", "evaluate_every", "stall_scan_every", "managers", "rules", NULL};
    if ((err = check_keys(&c, root, "", keys))) goto fail;
    const cJSON *it;
    int v;
    static const char *const locales[] = {"en", "zh", NULL};
    static const char *const clocks[] = {"event", "wall", NULL};
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "locale"))) {
        if ((err = get_choice(&c, it, "locale", locales, &v))) goto fail;
        snprintf(rs->locale, sizeof rs->locale, "%s", locales[v]);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "clock"))) {
        if ((err = get_choice(&c, it, "clock", clocks, &v))) goto fail;
        rs->wall = v == 1;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "evaluate_every")) &&
        (err = get_duration(&c, it, "evaluate_every", 1000, DAY_MS, &rs->interval_ms)))
        goto fail;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "stall_scan_every")) &&
        (err = get_duration(&c, it, "stall_scan_every", 1000, DAY_MS, &rs->stall_scan_ms)))
        goto fail;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "managers")) &&
        (err = parse_managers(&c, it, rs)))
        goto fail;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "rules");
    if (arr == NULL) {
        err = bad(&c, "rules", "missing (an array of rules)");
        goto fail;
    }
    if (!cJSON_IsArray(arr)) {
        found(arr, f, sizeof f);
        err = bad(&c, "rules", "expected an array of rules, found %s", f);
        goto fail;
    }
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    if (cnt > 0 && (rs->rules = calloc(cnt, sizeof *rs->rules)) == NULL) {
        err = FD_ERR_NOMEM;
        goto fail;
    }
    size_t i = 0;
    for (it = arr->child; it; it = it->next, i++) {
        rs->n = i + 1; /* so that destroy frees what this rule allocated */
        if ((err = parse_rule(&c, it, i, &rs->rules[i], rs->rules))) goto fail;
    }
    cJSON_Delete(root);
    *out = rs;
    return FD_OK;
fail:
    if (err == FD_ERR_NOMEM && errstr && errstr_size)
        snprintf(errstr, errstr_size, "rules: out of memory");
    fd_rules_destroy(rs);
    cJSON_Delete(root);
    return err;
}

fd_err_t fd_rules_load(const fd_funnel_t *fn, const char *path, fd_rules_t **out, char *errstr,
                       size_t errstr_size) {
    if (out) *out = NULL;
    if (path == NULL || out == NULL) return FD_ERR_INVAL;
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (f == NULL) goto io;
    for (;;) {
        if (len == cap) {
            if (cap >= (size_t)64 << 20) {
                fclose(f);
                free(buf);
                if (errstr && errstr_size)
                    snprintf(errstr, errstr_size, "%s: rules file larger than 64 MiB", path);
                return FD_ERR_CONFIG;
            }
            cap = cap ? 2 * cap : 16384;
            char *p = realloc(buf, cap);
            if (p == NULL) {
                fclose(f);
                free(buf);
                return FD_ERR_NOMEM;
            }
            buf = p;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    if (ferror(f)) {
        fclose(f);
        free(buf);
        errno = EIO;
        goto io;
    }
    fclose(f);
    char inner[768] = "";
    fd_err_t err = fd_rules_parse(fn, buf ? buf : "", len, out, inner, sizeof inner);
    free(buf);
    if (err && errstr && errstr_size) snprintf(errstr, errstr_size, "%s: %s", path, inner);
    return err;
io:
    if (errstr && errstr_size) snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    return FD_ERR_IO;
}

/* ---------------------------------------------------------------------------------------------
 * Accessors */

size_t fd_rules_count(const fd_rules_t *rs) {
    return rs ? rs->n : 0;
}

const fd_rule_t *fd_rules_at(const fd_rules_t *rs, size_t i) {
    return rs && i < rs->n ? &rs->rules[i].pub : NULL;
}

const char *fd_rules_locale(const fd_rules_t *rs) {
    return rs->locale;
}

bool fd_rules_wall_clock(const fd_rules_t *rs) {
    return rs->wall;
}

int64_t fd_rules_interval_ms(const fd_rules_t *rs) {
    return rs->interval_ms;
}

int64_t fd_rules_stall_scan_ms(const fd_rules_t *rs) {
    return rs->stall_scan_ms;
}

const char *fd_rules_manager(const fd_rules_t *rs, const char *team_id) {
    if (team_id == NULL) return NULL;
    for (size_t i = 0; i < rs->nmgr; i++)
        if (strcmp(rs->mgr_team[i], team_id) == 0) return rs->mgr_name[i];
    return NULL;
}

int64_t fd_rules_hour_span_ms(const fd_rules_t *rs) {
    int64_t m = 0;
    for (size_t i = 0; i < rs->n; i++) {
        const fd_rule_window_t *w = &rs->rules[i].pub.window;
        if (w->type == FD_RULE_WIN_ROLLING && w->span_ms + w->lag_ms > m)
            m = w->span_ms + w->lag_ms;
    }
    return m;
}

int fd_rules_max_baseline_days(const fd_rules_t *rs) {
    int m = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->rules[i].pub.cond == FD_COND_DRIFT && rs->rules[i].base.baseline_days > m)
            m = rs->rules[i].base.baseline_days;
    return m;
}

void fd_rules_base_params(const fd_rules_t *rs, size_t i, fd_rule_params_t *p) {
    memset(p, 0, sizeof *p);
    if (rs != NULL && i < rs->n) *p = rs->rules[i].base;
}

int fd_rules_baseline_days(const fd_rules_t *rs, size_t i) {
    if (rs == NULL || i >= rs->n || rs->rules[i].pub.cond != FD_COND_DRIFT) return 0;
    return rs->rules[i].base.baseline_days;
}

static bool in_list(char *const *v, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0) return true;
    return false;
}

static const id_value_t *find_value(const id_value_t *v, size_t n, const char *id) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].id, id) == 0) return &v[i];
    return NULL;
}

bool fd_rules_params(const fd_rules_t *rs, size_t i, const char *id, const char *team_id,
                     fd_rule_params_t *p) {
    if (rs == NULL || i >= rs->n || p == NULL) return false;
    const rule_t *r = &rs->rules[i];
    if (id == NULL) id = "";
    if (team_id == NULL) team_id = "";
    /* filters: a rep matches when it is listed or its team is */
    if (r->nreps || r->nteams) {
        bool match = false;
        if (r->pub.scope == FD_SCOPE_REP)
            match = in_list(r->reps, r->nreps, id) || in_list(r->teams, r->nteams, team_id);
        else if (r->pub.scope == FD_SCOPE_TEAM)
            match = in_list(r->teams, r->nteams, id);
        if (!match) return false;
    }
    *p = r->base;
    bool has_value = r->has_value;
    if (r->pub.scope != FD_SCOPE_ORG) {
        const char *team = r->pub.scope == FD_SCOPE_TEAM ? id : team_id;
        for (size_t k = 0; k < r->noverrides; k++) {
            const override_t *ov = &r->overrides[k];
            if (strcmp(ov->team, team) != 0) continue;
            if (ov->mask & OV_OP) p->op = ov->p.op;
            if (ov->mask & OV_VALUE) p->value = ov->p.value, has_value = true;
            if (ov->mask & OV_TOLERANCE) p->tolerance = ov->p.tolerance;
            if (ov->mask & OV_MAX_CHANGE) p->max_change = ov->p.max_change;
            if (ov->mask & OV_Z) p->z = ov->p.z;
            if (ov->mask & OV_MIN_SAMPLES) p->min_samples = ov->p.min_samples;
            if (ov->mask & OV_FOR) p->for_ms = ov->p.for_ms;
            if (ov->mask & OV_RESOLVE_FOR) p->resolve_for_ms = ov->p.resolve_for_ms;
            if (ov->mask & OV_HYSTERESIS) p->hysteresis = ov->p.hysteresis;
            if (ov->mask & OV_REPEAT) p->repeat_ms = ov->p.repeat_ms;
            break;
        }
        if (r->pub.cond == FD_COND_TARGET) {
            const id_value_t *v = NULL;
            if (r->pub.scope == FD_SCOPE_REP) v = find_value(r->target_reps, r->ntarget_reps, id);
            if (v == NULL) v = find_value(r->target_teams, r->ntarget_teams, team);
            if (v) p->value = v->value, has_value = true;
        }
    }
    if (r->pub.cond == FD_COND_TARGET && !has_value) return false;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Evaluation */

static bool cmp(double v, fd_op_t op, double bound) {
    switch (op) {
    case FD_OP_LT:
        return v < bound;
    case FD_OP_LE:
        return v <= bound;
    case FD_OP_GT:
        return v > bound;
    default:
        return v >= bound;
    }
}

/* Whether x passes threshold thr in direction dir (-1 a drop, +1 a rise, 0 either way). */
static bool drift_holds(double x, double thr, int dir) {
    if (dir < 0) return x <= -thr;
    if (dir > 0) return x >= thr;
    return fabs(x) >= thr;
}

static void eval_drift(const fd_rules_t *rs, const rule_t *r, const fd_rule_params_t *p,
                       const fd_rule_input_t *in, fd_rule_result_t *out) {
    const fd_funnel_t *fn = rs->fn;
    fd_kpi_t kpi = r->pub.kpi;
    bool volume = fd_kpi_is_volume(kpi.kind);
    size_t nf = fd_funnel_nfields(fn);
    double cur;
    int64_t cur_samples;
    bool cur_def = fd_kpi_value(fn, kpi, in->cur, &cur, &cur_samples);
    out->samples = cur_samples;

    /* the baseline: summed fields over the days, and each day's value */
    int64_t sum[FD_MAX_STAGES * FD_F_PER_STAGE + FD_G_COUNT + FD_MAX_KINDS];
    memset(sum, 0, sizeof sum);
    double mean = 0, m2 = 0;
    size_t ndef = 0;
    for (size_t d = 0; d < in->ndays; d++) {
        const int64_t *day = in->days[d];
        for (size_t k = 0; k < nf; k++)
            sum[k] += day[k];
        double dv;
        int64_t ds;
        if (!fd_kpi_value(fn, kpi, day, &dv, &ds)) continue;
        /* Welford's running mean and sum of squared deviations */
        ndef++;
        double delta = dv - mean;
        mean += delta / (double)ndef;
        m2 += delta * (dv - mean);
    }
    double base;
    int64_t base_samples;
    bool base_def = fd_kpi_value(fn, kpi, sum, &base, &base_samples);
    out->baseline_samples = base_samples;
    if (volume) {
        double days = in->cur_days > 0 ? in->cur_days : 1;
        cur /= days;
        base = in->ndays ? base / (double)in->ndays : 0;
        base_def = in->ndays > 0;
    }
    out->value = cur;
    out->bound = base;
    bool enough = cur_def && base_def && base_samples >= p->min_samples &&
                  (volume || cur_samples >= p->min_samples);
    if (!enough) {
        out->defined = false;
        out->fire = false;
        out->clear = true;
        return;
    }
    out->defined = true;
    if (base != 0)
        out->change = (cur - base) / fabs(base);
    else
        out->change = cur > 0 ? 1e9 : cur < 0 ? -1e9 : 0;
    double sd = ndef >= 2 ? sqrt(m2 / (double)ndef) : 0;
    bool z_usable = ndef >= 2 && sd > 0;
    out->z = z_usable ? (cur - mean) / sd : 0;

    bool use_rel = p->max_change > 0, use_z = p->z > 0;
    /* fire with the configured thresholds; clear when even the relaxed ones (by the hysteresis
     * fraction) no longer hold */
    for (int pass = 0; pass < 2; pass++) {
        double f = pass == 0 ? 1 : 1 - p->hysteresis;
        bool rel = use_rel && drift_holds(out->change, p->max_change * f, p->direction);
        bool zh = use_z && z_usable && drift_holds(out->z, p->z * f, p->direction);
        bool holds;
        if (use_rel && use_z)
            holds = p->require_both ? rel && zh : rel || zh;
        else
            holds = use_rel ? rel : zh;
        if (pass == 0)
            out->fire = holds;
        else
            out->clear = !holds;
    }
}

void fd_rules_eval(const fd_rules_t *rs, size_t i, const fd_rule_params_t *p,
                   const fd_rule_input_t *in, fd_rule_result_t *out) {
    memset(out, 0, sizeof *out);
    if (rs == NULL || i >= rs->n || p == NULL || in == NULL) {
        out->clear = true;
        return;
    }
    const rule_t *r = &rs->rules[i];
    fd_kpi_t kpi = r->pub.kpi;
    if (r->pub.cond == FD_COND_DRIFT) {
        eval_drift(rs, r, p, in, out);
        return;
    }
    double v;
    int64_t samples;
    bool def;
    if (kpi.kind == FD_KPI_STALLED) {
        v = (double)in->stalled;
        samples = in->stalled;
        def = true;
    } else {
        def = fd_kpi_value(rs->fn, kpi, in->cur, &v, &samples);
    }
    out->value = v;
    out->samples = samples;
    /* target pace: a count accrues over the calendar window, so by now pace expects the elapsed
     * fraction of it; a ratio or an average does not accrue, its expectation is the target.
     * Known even when the value is not, for the notification of a resolve for lack of samples. */
    double elapsed = in->elapsed < 0 ? 0 : in->elapsed > 1 ? 1 : in->elapsed;
    double expected = fd_kpi_is_volume(kpi.kind) ? p->value * elapsed : p->value;
    if (r->pub.cond == FD_COND_TARGET) {
        out->target = p->value;
        out->bound = expected;
    }
    /* volume KPIs ignore min_samples: a silent rep has 0, and that is the signal */
    if (!def || (!fd_kpi_is_volume(kpi.kind) && samples < p->min_samples)) {
        out->defined = false;
        out->clear = true;
        if (r->pub.cond == FD_COND_THRESHOLD) out->bound = p->value;
        return;
    }
    out->defined = true;
    if (r->pub.cond == FD_COND_THRESHOLD) {
        out->bound = p->value;
        out->fire = cmp(v, p->op, p->value);
        /* clear: not firing even with the bound moved by the hysteresis band toward the healthy
         * side; with no band this is exactly "not fire" */
        double shifted = p->op == FD_OP_LT || p->op == FD_OP_LE ? p->value + p->hysteresis
                                                                : p->value - p->hysteresis;
        out->clear = !cmp(v, p->op, shifted);
        return;
    }
    if (p->op == FD_OP_LE) {
        out->fire = v > expected * (1 + p->tolerance);
        out->clear = v <= expected * (1 + p->tolerance - p->hysteresis);
    } else {
        out->fire = v < expected * (1 - p->tolerance);
        out->clear = v >= expected * (1 - p->tolerance + p->hysteresis);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Templates and descriptions */

static const char *const default_tmpl[2][3] = {
    {
        "{scope} {id}: {kpi} over {window} is {value} ({state}; threshold {bound}, {samples} "
        "samples)",
        "{scope} {id}: {kpi} this {window} is {value}, pace expects {bound} of target {target} "
        "({state})",
        "{scope} {id}: {kpi} over {window} is {value} vs baseline {bound} ({change_pct}, z={z}; "
        "{state})",
    },
    {
        "{scope} {id}：{window} 内 {kpi} 为 {value}（{state}；阈值 {bound}，样本 {samples}）",
        "{scope} {id}：本{window} {kpi} 为 {value}，按进度应达 {bound}，目标 {target}（{state}）",
        "{scope} {id}：{window} 内 {kpi} 为 {value}，基线 {bound}（{change_pct}，z={z}；{state}）",
    },
};

const char *fd_rules_template(const fd_rules_t *rs, size_t i, const char *locale) {
    int l = locale && strcmp(locale, "zh") == 0 ? 1 : 0;
    if (rs == NULL || i >= rs->n) return default_tmpl[l][0];
    const rule_t *r = &rs->rules[i];
    if (r->summary[l]) return r->summary[l];
    return default_tmpl[l][r->pub.cond];
}

/* Appends printf output to buf at *len, never past size. */
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t size, size_t *len, const char *fmt, ...) {
    if (*len >= size) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    *len = (size_t)n >= size - *len ? size - 1 : *len + (size_t)n;
}

static void put_duration(char *buf, size_t size, size_t *len, int64_t ms) {
    if (ms == 0)
        put(buf, size, len, "0");
    else if (ms % DAY_MS == 0)
        put(buf, size, len, "%" PRId64 "d", ms / DAY_MS);
    else if (ms % HOUR_MS == 0)
        put(buf, size, len, "%" PRId64 "h", ms / HOUR_MS);
    else if (ms % 60000 == 0)
        put(buf, size, len, "%" PRId64 "m", ms / 60000);
    else if (ms % 1000 == 0)
        put(buf, size, len, "%" PRId64 "s", ms / 1000);
    else
        put(buf, size, len, "%" PRId64 "ms", ms);
}

static const char *op_words(fd_op_t op) {
    static const char *const w[] = {"below", "at or below", "above", "at or above"};
    return (unsigned)op <= FD_OP_GE ? w[op] : "?";
}

void fd_rules_describe(const fd_rules_t *rs, size_t i, char *buf, size_t size) {
    if (size == 0) return;
    buf[0] = '\0';
    if (rs == NULL || i >= rs->n) return;
    const rule_t *r = &rs->rules[i];
    const fd_rule_t *u = &r->pub;
    const fd_rule_params_t *p = &r->base;
    size_t len = 0;
    char kpi[FD_NAME_MAX + 24];
    fd_kpi_name(rs->fn, u->kpi, kpi, sizeof kpi);
    static const char *const whose[] = {"a rep's", "a team's", "the org's"};
    put(buf, size, &len, "%s (%s, %s): fires when %s %s", u->name, u->severity,
        fd_cond_name(u->cond), whose[u->scope], kpi);
    const fd_rule_window_t *w = &u->window;
    if (w->type == FD_RULE_WIN_ROLLING) {
        put(buf, size, &len, " over the last %s", w->name);
        if (w->lag_ms) {
            put(buf, size, &len, " ending ");
            put_duration(buf, size, &len, w->lag_ms);
            put(buf, size, &len, " ago");
        }
    } else if (w->type == FD_RULE_WIN_CALENDAR) {
        put(buf, size, &len, " this %s", w->name);
    } else {
        put(buf, size, &len, " (open deals in the stage longer than ");
        put_duration(buf, size, &len, p->stalled_after_ms);
        put(buf, size, &len, ")");
    }
    switch (u->cond) {
    case FD_COND_THRESHOLD:
        put(buf, size, &len, " is %s %g", op_words(p->op), p->value);
        break;
    case FD_COND_TARGET:
        put(buf, size, &len, " is %s pace",
            p->op == FD_OP_LE ? "ahead of the maximum's" : "behind the target's");
        if (r->has_value)
            put(buf, size, &len, " (target %g", p->value);
        else
            put(buf, size, &len, " (per-id targets");
        if (r->ntarget_teams || r->ntarget_reps)
            put(buf, size, &len, ", %zu per-team and %zu per-rep targets", r->ntarget_teams,
                r->ntarget_reps);
        put(buf, size, &len, ") by more than %g%%", p->tolerance * 100);
        break;
    case FD_COND_DRIFT: {
        const char *dir = p->direction < 0 ? "dropped" : p->direction > 0 ? "risen" : "moved";
        put(buf, size, &len, " has %s against the %d days before", dir, p->baseline_days);
        if (p->max_change > 0) put(buf, size, &len, " by at least %g%%", p->max_change * 100);
        if (p->max_change > 0 && p->z > 0) put(buf, size, &len, p->require_both ? " and" : " or");
        if (p->z > 0) put(buf, size, &len, " with |z| >= %g", p->z);
        break;
    }
    }
    if (p->min_samples > 0) {
        if (fd_kpi_is_volume(u->kpi.kind) && u->cond != FD_COND_DRIFT)
            put(buf, size, &len, " (min_samples %" PRId64 " ignored: a count needs no samples)",
                p->min_samples);
        else if (u->cond == FD_COND_DRIFT && fd_kpi_is_volume(u->kpi.kind))
            put(buf, size, &len, " with at least %" PRId64 " in the baseline", p->min_samples);
        else
            put(buf, size, &len, " with at least %" PRId64 " samples%s", p->min_samples,
                u->cond == FD_COND_DRIFT ? " on each side" : "");
    }
    if (p->for_ms) {
        put(buf, size, &len, ", held for ");
        put_duration(buf, size, &len, p->for_ms);
    }
    put(buf, size, &len, "; resolves");
    if (p->resolve_for_ms) {
        put(buf, size, &len, " after ");
        put_duration(buf, size, &len, p->resolve_for_ms);
        put(buf, size, &len, " healthy");
    } else {
        put(buf, size, &len, " at once when healthy");
    }
    if (p->hysteresis > 0) {
        if (u->cond == FD_COND_THRESHOLD)
            put(buf, size, &len, " beyond %g",
                p->op == FD_OP_LT || p->op == FD_OP_LE ? p->value + p->hysteresis
                                                       : p->value - p->hysteresis);
        else
            put(buf, size, &len, " (hysteresis %g%%)", p->hysteresis * 100);
    }
    if (p->repeat_ms) {
        put(buf, size, &len, "; repeats every ");
        put_duration(buf, size, &len, p->repeat_ms);
    }
    if (r->nreps || r->nteams) {
        put(buf, size, &len, "; only");
        if (r->nreps) {
            put(buf, size, &len, " reps");
            for (size_t k = 0; k < r->nreps; k++)
                put(buf, size, &len, "%s %s", k ? "," : "", r->reps[k]);
        }
        if (r->nteams) {
            put(buf, size, &len, "%s %s", r->nreps ? " and" : "",
                u->scope == FD_SCOPE_REP ? "reps of teams" : "teams");
            for (size_t k = 0; k < r->nteams; k++)
                put(buf, size, &len, "%s %s", k ? "," : "", r->teams[k]);
        }
    }
    if (r->noverrides) {
        put(buf, size, &len, "; overrides for");
        for (size_t k = 0; k < r->noverrides; k++)
            put(buf, size, &len, "%s %s", k ? "," : "", r->overrides[k].team);
    }
    if (u->kpi.kind == FD_KPI_CONV && w->type == FD_RULE_WIN_ROLLING && w->lag_ms < 7 * DAY_MS)
        put(buf, size, &len,
            "; note: cohort conversion of recent windows is immature (deals entered lately have "
            "not had time to advance; consider \"lag\": \"28d\")");
    put(buf, size, &len, ".");
}
