// SPDX-License-Identifier: MIT
// The API's typed view of a metric hash (layer 1, pure). See funnelview.h.
#include "model/funnelview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "model/metrics.h"

fd_field_kind_t fd_funnelview_kind(const fd_funnel_t *fn, const char *name) {
    size_t last = fd_funnel_nstages(fn) - 1;
    for (size_t i = 0; i < fd_funnel_nfields(fn); i++) {
        if (strcmp(fd_funnel_field_name(fn, i), name) != 0) continue;
        /* the won stage has entered only */
        for (int f = 1; f < FD_F_PER_STAGE; f++)
            if (i == fd_funnel_field_stage(fn, (int)last, f)) return FD_FIELD_UNKNOWN;
        return fd_funnel_field_hundredths(fn, i) ? FD_FIELD_AMOUNT : FD_FIELD_COUNTER;
    }
    char buf[160];
    for (size_t i = 0; i < fd_metrics_count(fn); i++) {
        fd_metric_t m;
        fd_metrics_get(fn, i, &m);
        fd_metrics_name(fn, &m, buf, sizeof buf);
        if (strcmp(buf, name) == 0) return FD_FIELD_RATE;
    }
    return FD_FIELD_UNKNOWN;
}

/* A JSON integer's digits: "0" or no leading zero, at most 18 digits (exact in int64). */
static bool is_integer(const char *s) {
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= 18 && s[n] == '\0' && (s[0] != '0' || n == 1);
}

/* [-]<integer>[.<digits>] as a JSON number. */
static bool is_decimal(const char *s) {
    if (*s == '-') s++;
    size_t n = strspn(s, "0123456789");
    if (n == 0 || (s[0] == '0' && n > 1)) return false;
    s += n;
    if (*s == '.') {
        s++;
        size_t d = strspn(s, "0123456789");
        if (d == 0) return false;
        s += d;
    }
    return *s == '\0';
}

static cJSON *typed(fd_field_kind_t kind, const char *value) {
    switch (kind) {
    case FD_FIELD_COUNTER:
        if (value == NULL) return cJSON_CreateRaw("0");
        return is_integer(value) ? cJSON_CreateRaw(value) : cJSON_CreateString(value);
    case FD_FIELD_AMOUNT:
        return cJSON_CreateString(value != NULL ? value : "0.00");
    case FD_FIELD_RATE:
        if (value == NULL) return cJSON_CreateNull();
        return is_decimal(value) ? cJSON_CreateRaw(value) : cJSON_CreateString(value);
    default:
        return value != NULL ? cJSON_CreateString(value) : cJSON_CreateNull();
    }
}

char *fd_funnelview_value(fd_field_kind_t kind, const char *value) {
    cJSON *j = typed(kind, value);
    if (j == NULL) return NULL;
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

bool fd_funnelview_number(fd_field_kind_t kind, const char *value, double *out) {
    if (value == NULL) {
        if (kind == FD_FIELD_RATE || kind == FD_FIELD_UNKNOWN) return false;
        *out = 0;
        return true;
    }
    if (!is_decimal(value)) return false;
    *out = strtod(value, NULL);
    return true;
}

bool fd_funnelview_rfc3339(int64_t ms, char *buf, size_t size) {
    int64_t s = ms / 1000;
    if (ms % 1000 < 0) s--;
    time_t t = (time_t)s;
    struct tm tm;
    if ((int64_t)t != s || gmtime_r(&t, &tm) == NULL) return false;
    if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) return false;
    int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n > 0 && (size_t)n < size;
}

static const char *hget(const fd_funnelview_t *v, const char *name) {
    for (size_t i = 0; i < v->nfields; i++)
        if (strcmp(v->fields[i], name) == 0) return v->values[i];
    return NULL;
}

/* Adds name: the typed value of the stored field `field`; false when memory is short. */
static bool add(cJSON *o, const char *name, const fd_funnelview_t *v, fd_field_kind_t kind,
                const char *field) {
    cJSON *j = typed(kind, hget(v, field));
    return j != NULL && cJSON_AddItemToObject(o, name, j);
}

static bool add_str_or_null(cJSON *o, const char *name, const char *s) {
    return (s != NULL ? cJSON_AddStringToObject(o, name, s) : cJSON_AddNullToObject(o, name)) !=
           NULL;
}

static bool add_bound(cJSON *o, const char *name, bool bounded, int64_t ms, bool *range) {
    if (!bounded) return cJSON_AddNullToObject(o, name) != NULL;
    char buf[40];
    if (!fd_funnelview_rfc3339(ms, buf, sizeof buf)) {
        *range = true;
        return false;
    }
    return cJSON_AddStringToObject(o, name, buf) != NULL;
}

static const char *const stage_fields[] = {"entered",      "advanced",    "conv",
                                           "moved_on",     "lost_at",     "exit_conv",
                                           "dwell_sum_ms", "dwell_count", "dwell_hours"};

fd_err_t fd_funnelview_json(const fd_funnel_t *fn, const fd_funnelview_t *v, char **out) {
    *out = NULL;
    bool range = false, ok = true;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return FD_ERR_NOMEM;
    ok = ok && add_str_or_null(o, "scope", v->scope) && add_str_or_null(o, "id", v->id) &&
         add_str_or_null(o, "window", v->window) &&
         add_bound(o, "window_start", v->bounded, v->start_ms, &range) &&
         add_bound(o, "window_end", v->bounded, v->end_ms, &range) &&
         add_str_or_null(o, "timezone", v->timezone) &&
         cJSON_AddBoolToObject(o, "exists", v->nfields > 0) != NULL &&
         add_str_or_null(o, "position", v->position);
    cJSON *stages = ok ? cJSON_AddArrayToObject(o, "stages") : NULL;
    ok = ok && stages != NULL;
    size_t ns = fd_funnel_nstages(fn);
    char name[160];
    for (size_t s = 0; ok && s < ns; s++) {
        cJSON *st = cJSON_CreateObject();
        ok = st != NULL && cJSON_AddItemToArray(stages, st);
        const char *sn = fd_funnel_stage_name(fn, (int)s);
        ok = ok && cJSON_AddStringToObject(st, "stage", sn) != NULL;
        size_t nf = s + 1 < ns ? sizeof stage_fields / sizeof *stage_fields : 1;
        for (size_t f = 0; ok && f < nf; f++) {
            snprintf(name, sizeof name, "%s:%s", stage_fields[f], sn);
            ok = add(st, stage_fields[f], v, fd_funnelview_kind(fn, name), name);
        }
    }
    ok = ok && add(o, "won", v, FD_FIELD_COUNTER, "won") &&
         add(o, "lost", v, FD_FIELD_COUNTER, "lost") &&
         add(o, "won_amount", v, FD_FIELD_AMOUNT, "won_amount") &&
         add(o, "win_rate", v, FD_FIELD_RATE, "win_rate");
    cJSON *acts = ok ? cJSON_AddObjectToObject(o, "activities") : NULL;
    ok = ok && acts != NULL;
    for (size_t k = 0; ok && k < fd_funnel_nkinds(fn); k++) {
        const char *kn = fd_funnel_kind_name(fn, (int)k);
        snprintf(name, sizeof name, "activity:%s", kn);
        ok = add(acts, kn, v, FD_FIELD_COUNTER, name);
    }
    ok = ok && add(o, "feedback_count", v, FD_FIELD_COUNTER, "feedback_count") &&
         add(o, "feedback_sum", v, FD_FIELD_AMOUNT, "feedback_sum") &&
         add(o, "feedback_avg", v, FD_FIELD_RATE, "feedback_avg") &&
         add(o, "complaints", v, FD_FIELD_COUNTER, "complaints") &&
         add(o, "events", v, FD_FIELD_COUNTER, "events");
    cJSON *fields = ok ? cJSON_AddObjectToObject(o, "fields") : NULL;
    ok = ok && fields != NULL;
    for (size_t i = 0; ok && i < v->nfields; i++) {
        cJSON *j = typed(fd_funnelview_kind(fn, v->fields[i]), v->values[i]);
        ok = j != NULL && cJSON_AddItemToObject(fields, v->fields[i], j);
    }
    if (ok) *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (*out == NULL) return range ? FD_ERR_RANGE : FD_ERR_NOMEM;
    return FD_OK;
}
