// SPDX-License-Identifier: MIT
// An alert notification: stable ids, the summary rendered from a template, and the JSON document
// (layer 3, pure; cJSON stays inside). Reference: docs/alerts.md.
#include "alerting/alertmsg.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base/hash.h"

/* ---------------------------------------------------------------------------------------------
 * Ids */

/* The hash input is fixed-size: each string enters as its own 128-bit hash, so no choice of
 * strings can make two different tuples produce the same bytes, and no buffer can overflow. A
 * tag byte keeps alert ids and episode ids apart even for equal fields. */
static void put_hash(unsigned char *p, const char *s) {
    if (s == NULL) s = "";
    fd_hash128_t h = fd_hash128(s, strlen(s), 0x616c7274u);
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(h.lo >> (8 * i));
        p[8 + i] = (unsigned char)(h.hi >> (8 * i));
    }
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void make_id(const fd_alert_t *a, bool episode, char out[FD_ALERT_ID_LEN + 1]) {
    unsigned char buf[1 + 16 * 4 + 8 + 8];
    size_t n = 0;
    buf[n++] = episode ? 'E' : 'A';
    put_hash(buf + n, a->rule), n += 16;
    put_hash(buf + n, a->scope), n += 16;
    put_hash(buf + n, a->scope_id), n += 16;
    put_u64(buf + n, (uint64_t)a->started_ms), n += 8;
    if (!episode) {
        put_hash(buf + n, a->state), n += 16;
        put_u64(buf + n, a->repeat), n += 8;
    }
    fd_hash128_t h = fd_hash128(buf, n, 0);
    snprintf(out, FD_ALERT_ID_LEN + 1, "%016" PRIx64 "%016" PRIx64, h.hi, h.lo);
}

void fd_alertmsg_id(const fd_alert_t *a, char out[FD_ALERT_ID_LEN + 1]) {
    make_id(a, false, out);
}

void fd_alertmsg_episode(const fd_alert_t *a, char out[FD_ALERT_ID_LEN + 1]) {
    make_id(a, true, out);
}

/* ---------------------------------------------------------------------------------------------
 * Formatting */

/* RFC 3339 UTC with milliseconds: "2026-11-22T10:00:00.000Z". */
static void format_time(int64_t ms, char *buf, size_t size) {
    int64_t sec = ms / 1000, frac = ms % 1000;
    if (frac < 0) frac += 1000, sec -= 1;
    time_t t = (time_t)sec;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, size, "?");
        return;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

/* A number with at most decimals decimals, trailing zeros dropped: 0.2, 12, -3.25. */
static void format_compact(double v, int decimals, char *buf, size_t size) {
    if (!isfinite(v)) {
        snprintf(buf, size, "%s", isnan(v) ? "-" : v > 0 ? "inf" : "-inf");
        return;
    }
    snprintf(buf, size, "%.*f", decimals, v);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf) - 1;
        while (e > dot && *e == '0')
            *e-- = '\0';
        if (e == dot) *e = '\0';
    }
    if (strcmp(buf, "-0") == 0) snprintf(buf, size, "0");
}

/* A relative change as a signed whole percentage: "-35%", "+12%", "0%". */
static void format_pct(double change, char *buf, size_t size) {
    if (!isfinite(change) || fabs(change) >= 1e6) {
        snprintf(buf, size, "%sinf%%", change < 0 ? "-" : "+");
        return;
    }
    long long pct = llround(change * 100);
    if (pct == 0)
        snprintf(buf, size, "0%%");
    else
        snprintf(buf, size, "%+lld%%", pct);
}

/* ---------------------------------------------------------------------------------------------
 * Summary */

typedef struct {
    char *buf;
    size_t size, len;
    bool full;
} out_t;

/* Appends n bytes; when they do not fit, as many as fit without splitting a UTF-8 sequence, and
 * nothing after that. */
static void emit(out_t *o, const char *s, size_t n) {
    if (o->full) return;
    size_t room = o->size - 1 - o->len;
    if (n > room) {
        n = room;
        /* s[n] is the first byte left out: if it continues a sequence, drop its lead too */
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
        o->full = true;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void emit_str(out_t *o, const char *s) {
    emit(o, s, strlen(s));
}

void fd_alertmsg_summary_locale(const char *tmpl, const char *locale, const fd_alert_t *a,
                                char *buf, size_t size) {
    if (buf == NULL || size == 0) return;
    buf[0] = '\0';
    if (tmpl == NULL || a == NULL) return;
    bool zh = locale && strcmp(locale, "zh") == 0;
    out_t o = {.buf = buf, .size = size};
    const char *p = tmpl;
    while (*p && !o.full) {
        const char *open = strchr(p, '{');
        if (open == NULL) {
            emit_str(&o, p);
            break;
        }
        emit(&o, p, (size_t)(open - p));
        const char *close = strchr(open + 1, '}');
        if (close == NULL) {
            emit_str(&o, open);
            break;
        }
        const char *inner = memchr(open + 1, '{', (size_t)(close - open - 1));
        if (inner) { /* "{{name}": the first brace is text */
            emit(&o, open, (size_t)(inner - open));
            p = inner;
            continue;
        }
        size_t nlen = (size_t)(close - open - 1);
        char name[24];
        char val[64];
        const char *text = NULL;
        bool known = true;
        if (nlen < sizeof name) {
            memcpy(name, open + 1, nlen);
            name[nlen] = '\0';
            const fd_rule_result_t *r = &a->r;
            if (strcmp(name, "rule") == 0) {
                text = a->rule;
            } else if (strcmp(name, "severity") == 0) {
                text = a->severity;
            } else if (strcmp(name, "state") == 0) {
                text = a->state;
                if (zh && text)
                    text = strcmp(text, "firing") == 0     ? "告警中"
                           : strcmp(text, "resolved") == 0 ? "已恢复"
                                                           : text;
            } else if (strcmp(name, "scope") == 0) {
                text = a->scope;
                if (zh && text)
                    text = strcmp(text, "rep") == 0    ? "销售"
                           : strcmp(text, "team") == 0 ? "团队"
                           : strcmp(text, "org") == 0  ? "全公司"
                                                       : text;
            } else if (strcmp(name, "id") == 0) {
                text = a->scope_id;
                /* org has no id: "org {id}: ..." reads "org: ...", not "org : ..." */
                if ((text == NULL || text[0] == '\0') && o.len > 0 && !o.full &&
                    o.buf[o.len - 1] == ' ')
                    o.buf[--o.len] = '\0';
            } else if (strcmp(name, "team") == 0) {
                text = a->team && a->team[0] ? a->team : "-";
            } else if (strcmp(name, "manager") == 0) {
                text = a->manager ? a->manager : "-";
            } else if (strcmp(name, "kpi") == 0) {
                text = a->kpi;
            } else if (strcmp(name, "stage") == 0) {
                text = a->stage ? a->stage : "-";
            } else if (strcmp(name, "window") == 0) {
                text = a->window;
            } else if (strcmp(name, "value") == 0) {
                if (r->defined)
                    format_compact(r->value, 4, val, sizeof val);
                else
                    snprintf(val, sizeof val, "-");
                text = val;
            } else if (strcmp(name, "bound") == 0) {
                format_compact(r->bound, 4, val, sizeof val);
                text = val;
            } else if (strcmp(name, "target") == 0) {
                format_compact(r->target, 4, val, sizeof val);
                text = val;
            } else if (strcmp(name, "change_pct") == 0) {
                format_pct(r->change, val, sizeof val);
                text = val;
            } else if (strcmp(name, "z") == 0) {
                format_compact(r->z, 2, val, sizeof val);
                text = val;
            } else if (strcmp(name, "samples") == 0) {
                snprintf(val, sizeof val, "%" PRId64, r->samples);
                text = val;
            } else if (strcmp(name, "started_at") == 0) {
                format_time(a->started_ms, val, sizeof val);
                text = val;
            } else {
                known = false;
            }
        } else {
            known = false;
        }
        if (known)
            emit_str(&o, text ? text : "");
        else /* an unknown placeholder: kept as written */
            emit(&o, open, (size_t)(close - open + 1));
        p = close + 1;
    }
}

void fd_alertmsg_summary(const char *tmpl, const fd_alert_t *a, char *buf, size_t size) {
    fd_alertmsg_summary_locale(tmpl, "en", a, buf, size);
}

/* ---------------------------------------------------------------------------------------------
 * JSON */

/* Rounded to 4 decimals (rates, averages); integers stay integers. */
static double round4(double v) {
    return round(v * 10000) / 10000;
}

static bool add_num(cJSON *o, const char *key, double v) {
    if (!isfinite(v)) return cJSON_AddNullToObject(o, key) != NULL;
    return cJSON_AddNumberToObject(o, key, round4(v)) != NULL;
}

static bool add_str_or_null(cJSON *o, const char *key, const char *s) {
    if (s == NULL) return cJSON_AddNullToObject(o, key) != NULL;
    return cJSON_AddStringToObject(o, key, s) != NULL;
}

static bool add_time(cJSON *o, const char *key, int64_t ms) {
    char t[80]; /* what any int fields of struct tm could print (GCC -O3 checks) */
    format_time(ms, t, sizeof t);
    return cJSON_AddStringToObject(o, key, t) != NULL;
}

static bool is_cond(const fd_alert_t *a, const char *name) {
    return a->condition && strcmp(a->condition, name) == 0;
}

fd_err_t fd_alertmsg_json(const fd_alert_t *a, const char *summary, char **out) {
    if (out == NULL) return FD_ERR_INVAL;
    *out = NULL;
    if (a == NULL) return FD_ERR_INVAL;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return FD_ERR_NOMEM;
    char id[FD_ALERT_ID_LEN + 1], ep[FD_ALERT_ID_LEN + 1];
    fd_alertmsg_id(a, id);
    fd_alertmsg_episode(a, ep);
    const fd_rule_result_t *r = &a->r;
    bool ok =
        cJSON_AddStringToObject(o, "alert_id", id) &&
        cJSON_AddStringToObject(o, "episode_id", ep) && add_str_or_null(o, "state", a->state) &&
        add_str_or_null(o, "rule", a->rule) && add_str_or_null(o, "severity", a->severity) &&
        add_str_or_null(o, "condition", a->condition) && add_str_or_null(o, "scope", a->scope) &&
        cJSON_AddStringToObject(o, "scope_id", a->scope_id ? a->scope_id : "") &&
        cJSON_AddStringToObject(o, "team", a->team ? a->team : "") &&
        add_str_or_null(o, "manager", a->manager) && add_str_or_null(o, "kpi", a->kpi) &&
        add_str_or_null(o, "stage", a->stage) && add_str_or_null(o, "window", a->window);
    /* a value without enough samples (a resolve for lack of evidence) is unknown: null */
    ok = ok &&
         (r->defined ? add_num(o, "value", r->value) : cJSON_AddNullToObject(o, "value") != NULL);
    if (ok && is_cond(a, "threshold")) ok = add_num(o, "threshold", r->bound);
    if (ok && is_cond(a, "target"))
        ok = add_num(o, "target", r->target) && add_num(o, "expected", r->bound);
    if (ok && is_cond(a, "drift"))
        ok = add_num(o, "baseline", r->bound) && add_num(o, "change", r->change) &&
             add_num(o, "z", r->z);
    ok = ok && cJSON_AddNumberToObject(o, "samples", (double)r->samples);
    if (ok && is_cond(a, "drift"))
        ok = cJSON_AddNumberToObject(o, "baseline_samples", (double)r->baseline_samples) != NULL;
    ok = ok && add_time(o, "started_at", a->started_ms);
    if (ok) {
        if (a->resolved_ms != 0)
            ok = add_time(o, "resolved_at", a->resolved_ms);
        else
            ok = cJSON_AddNullToObject(o, "resolved_at") != NULL;
    }
    ok = ok && add_time(o, "at", a->at_ms) &&
         cJSON_AddNumberToObject(o, "repeat", (double)a->repeat) &&
         cJSON_AddStringToObject(o, "summary", summary ? summary : "");
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (text == NULL) return FD_ERR_NOMEM;
    /* cJSON's allocator is malloc (the default hooks): the caller frees with free() */
    *out = text;
    return FD_OK;
}
