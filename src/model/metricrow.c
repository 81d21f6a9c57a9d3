// SPDX-License-Identifier: MIT
// One message of the metrics topic: a metric hash rendered as JSON with its field types from the
// funnel and the metrics table, numbers copied as stored text (layer 1, pure).
#include "model/metricrow.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "model/event.h"

/* Bytes of a key shown in an error message before it is cut. */
#define QUOTE_MAX 96

static fd_err_t refuse(char *errstr, size_t errstr_size, fd_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static fd_err_t refuse(char *errstr, size_t errstr_size, fd_err_t err, const char *fmt, ...) {
    if (errstr != NULL && errstr_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* Writes len bytes of s double-quoted into out, as one printable line: quote, backslash and
 * control characters escaped (C1 ones as \u00NN), bytes shown as \xNN unless s is valid UTF-8,
 * at most QUOTE_MAX bytes of s (never cutting a character) followed by "..." when cut. */
static const char *quote(char *out, size_t size, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    bool utf8 = fd_utf8_valid(s, len);
    size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(out + n, size - n, __VA_ARGS__);                                         \
        if (w_ < 0 || (size_t)w_ >= size - n) return out;                                          \
        n += (size_t)w_;                                                                           \
    } while (0)
    assert(size > 0);
    out[0] = '\0';
    PUT("\"");
    size_t i = 0;
    for (; i < len && i < QUOTE_MAX; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\')
            PUT("\\%c", c);
        else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
            PUT("\\x%02x", c);
        else if (c == 0xc2 && utf8 && i + 1 < len && p[i + 1] <= 0x9f && i + 1 < QUOTE_MAX)
            PUT("\\u%04x", p[++i]); /* C1 control, U+0080..U+009F */
        else
            PUT("%c", c);
    }
    /* Cut before a character's continuation bytes would be split. */
    if (i < len && utf8)
        while (i > 0 && (p[i] & 0xC0) == 0x80 && n > 1) {
            i--;
            out[--n] = '\0';
        }
    PUT(i < len ? "\"..." : "\"");
#undef PUT
    return out;
}

/* ---- keys ---- */

static const char window_forms[] = "all, day:YYYY-MM-DD, week:YYYY-Www, month:YYYY-MM, "
                                   "quarter:YYYY-Qn or hour:YYYY-MM-DDTHH (a real date, ISO week "
                                   "or hour)";

fd_err_t fd_metricrow_parse_key(const char *key, fd_scope_t *scope, char window[FD_WIN_ID_MAX],
                                char id[FD_ID_MAX + 1], char *errstr, size_t errstr_size) {
    if (key == NULL || scope == NULL || window == NULL || id == NULL) return FD_ERR_INVAL;
    size_t len = strlen(key);
    char q[4 * QUOTE_MAX + 8], part[4 * QUOTE_MAX + 8];
    quote(q, sizeof q, key, len);
    if (!fd_utf8_valid(key, len))
        return refuse(errstr, errstr_size, FD_ERR_PARSE, "metric key %s: expected UTF-8", q);

    /* scope */
    const char *colon = strchr(key, ':');
    size_t slen = colon ? (size_t)(colon - key) : len;
    fd_scope_t sc = FD_SCOPE_COUNT;
    for (int s = 0; s < FD_SCOPE_COUNT; s++) {
        const char *name = fd_scope_name((fd_scope_t)s);
        if (strlen(name) == slen && memcmp(name, key, slen) == 0) sc = (fd_scope_t)s;
    }
    if (sc == FD_SCOPE_COUNT)
        return refuse(errstr, errstr_size, FD_ERR_PARSE,
                      "metric key %s: scope: expected rep, team or org, got %s", q,
                      quote(part, sizeof part, key, slen));
    if (colon == NULL)
        return refuse(errstr, errstr_size, FD_ERR_PARSE,
                      "metric key %s: window: expected \":\" and a window id after the scope, got "
                      "nothing",
                      q);

    /* window: "all", or "<kind>:<value>" whose value holds no ':' */
    const char *w = colon + 1;
    size_t wlen;
    if (strncmp(w, "all", 3) == 0 && (w[3] == ':' || w[3] == '\0')) {
        wlen = 3;
    } else {
        const char *c1 = strchr(w, ':');
        const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        wlen = c2 ? (size_t)(c2 - w) : strlen(w);
    }
    char win[FD_WIN_ID_MAX] = "";
    if (wlen < sizeof win) {
        memcpy(win, w, wlen);
        win[wlen] = '\0';
    }
    if (wlen >= sizeof win || fd_timewin_check_id(win) != FD_OK)
        return refuse(errstr, errstr_size, FD_ERR_PARSE,
                      "metric key %s: window: expected %s, got %s", q, window_forms,
                      quote(part, sizeof part, w, wlen));

    /* id: the rest */
    const char *rest = w + wlen;
    if (sc == FD_SCOPE_ORG) {
        if (*rest != '\0')
            return refuse(errstr, errstr_size, FD_ERR_PARSE,
                          "metric key %s: id: org keys have no id, got %s after the window", q,
                          quote(part, sizeof part, rest, strlen(rest)));
        *scope = sc;
        memcpy(window, win, wlen + 1);
        id[0] = '\0';
        return FD_OK;
    }
    const char *scope_name = fd_scope_name(sc);
    if (*rest == '\0')
        return refuse(errstr, errstr_size, FD_ERR_PARSE,
                      "metric key %s: id: expected \":<id>\" after the window (a %s key is "
                      "%s:<window>:<id>), got nothing",
                      q, scope_name, scope_name);
    const char *ident = rest + 1; /* *rest is ':' (the window ends at one or at the end) */
    size_t ilen = strlen(ident);
    if (ilen == 0 || ilen > FD_ID_MAX)
        return refuse(errstr, errstr_size, FD_ERR_PARSE,
                      "metric key %s: id: expected 1..%d bytes, got %zu", q, FD_ID_MAX, ilen);
    for (size_t i = 0; i < ilen; i++) {
        const unsigned char *c = (const unsigned char *)ident + i;
        unsigned cp;
        if (c[0] < 0x20 || c[0] == 0x7f)
            cp = c[0];
        else if (c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f)
            cp = c[1]; /* C1, U+0080..U+009F */
        else
            continue;
        return refuse(errstr, errstr_size, FD_ERR_PARSE,
                      "metric key %s: id: expected no control characters, got U+%04X at byte %zu "
                      "of the id",
                      q, cp, i);
    }
    *scope = sc;
    memcpy(window, win, wlen + 1);
    memcpy(id, ident, ilen + 1);
    return FD_OK;
}

/* ---- field types ---- */

typedef enum { TYPE_UNKNOWN, TYPE_COUNTER, TYPE_AMOUNT, TYPE_DERIVED } field_type_t;

/* The type of field name in fn: a field of the funnel's layout (counter or amount), a derived
 * field of the metrics table ("<def>:<stage>" for the stages that have it, or "<def>"), or
 * unknown (an old configuration's stage or kind, or anything else). */
static field_type_t field_type(const fd_funnel_t *fn, const char *name) {
    size_t nfields = fd_funnel_nfields(fn);
    for (size_t f = 0; f < nfields; f++)
        if (strcmp(fd_funnel_field_name(fn, f), name) == 0)
            return fd_funnel_field_hundredths(fn, f) ? TYPE_AMOUNT : TYPE_COUNTER;
    const char *colon = strchr(name, ':');
    size_t dlen = colon ? (size_t)(colon - name) : strlen(name);
    const fd_metric_def_t *def = fd_metrics_def_find(name, dlen);
    if (def == NULL) return TYPE_UNKNOWN;
    if (colon == NULL) return def->per_stage ? TYPE_UNKNOWN : TYPE_DERIVED;
    /* Per-stage derived fields exist for every stage but the last (see fd_metrics_get). */
    int stage;
    if (def->per_stage && fd_funnel_stage_index(fn, colon + 1, strlen(colon + 1), &stage) &&
        (size_t)stage + 1 < fd_funnel_nstages(fn))
        return TYPE_DERIVED;
    return TYPE_UNKNOWN;
}

/* Skips a JSON integer's digits at s ("0" or [1-9][0-9]*); NULL when there are none. */
static const char *json_digits(const char *s) {
    if (*s == '0') return s + 1;
    if (*s < '1' || *s > '9') return NULL;
    while (*s >= '0' && *s <= '9')
        s++;
    return s;
}

/* Counters are stored by HINCRBY: non-negative decimal integers. */
static bool counter_shape(const char *v) {
    const char *e = json_digits(v);
    return e != NULL && *e == '\0';
}

/* Rates and averages are stored as printf("%.4f") / ("%.2f") of a non-negative value. */
static bool derived_shape(const char *v) {
    const char *e = json_digits(v);
    if (e == NULL) return false;
    if (*e == '\0') return true;
    if (*e != '.' || e[1] < '0' || e[1] > '9') return false;
    for (e++; *e >= '0' && *e <= '9'; e++)
        ;
    return *e == '\0';
}

/* ---- JSON ---- */

/* ms as RFC 3339 UTC ("2026-11-21T23:00:00Z", or "...00.123Z" with_ms) into buf; false when its
 * year is outside 0000..9999. gmtime_r is independent of the process timezone. */
static bool rfc3339(int64_t ms, bool with_ms, char *buf, size_t size) {
    int64_t s = ms / 1000, frac = ms % 1000;
    if (frac < 0) { /* floor: -1 ms is 1969-12-31T23:59:59.999Z */
        s--;
        frac += 1000;
    }
    time_t t = (time_t)s;
    struct tm tm;
    if ((int64_t)t != s || gmtime_r(&t, &tm) == NULL) return false;
    if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) return false;
    int n = with_ms
                ? snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac)
                : snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n > 0 && (size_t)n < size;
}

static bool add_int(cJSON *o, const char *name, int64_t v) {
    char digits[24];
    snprintf(digits, sizeof digits, "%" PRId64, v);
    return cJSON_AddRawToObject(o, name, digits) != NULL;
}

/* The source object: {"<topic>": {"<partition>": next, ...}, ...}, topics in order of first
 * appearance. */
static fd_err_t add_source(cJSON *o, const fd_metricrow_t *row, char *errstr, size_t errstr_size) {
    cJSON *source = cJSON_AddObjectToObject(o, "source");
    if (source == NULL) return FD_ERR_NOMEM;
    for (size_t i = 0; i < row->nsrc; i++) {
        const fd_metricrow_source_t *s = &row->src[i];
        if (s->topic == NULL)
            return refuse(errstr, errstr_size, FD_ERR_INVAL, "source %zu: the topic is NULL", i);
        if (!fd_utf8_valid(s->topic, strlen(s->topic)))
            return refuse(errstr, errstr_size, FD_ERR_PARSE, "source %zu: the topic is not UTF-8",
                          i);
        if (s->partition < 0 || s->next < 0)
            return refuse(errstr, errstr_size, FD_ERR_INVAL,
                          "source %s/%" PRId32
                          ": expected a partition and offset >= 0, got next %" PRId64,
                          s->topic, s->partition, s->next);
        cJSON *topic = cJSON_GetObjectItemCaseSensitive(source, s->topic);
        if (topic == NULL && (topic = cJSON_AddObjectToObject(source, s->topic)) == NULL)
            return FD_ERR_NOMEM;
        char part[16];
        snprintf(part, sizeof part, "%" PRId32, s->partition);
        if (cJSON_GetObjectItemCaseSensitive(topic, part) != NULL)
            return refuse(errstr, errstr_size, FD_ERR_INVAL,
                          "source %s/%s: the partition is listed twice", s->topic, part);
        if (!add_int(topic, part, s->next)) return FD_ERR_NOMEM;
    }
    return FD_OK;
}

static fd_err_t add_fields(cJSON *o, const fd_funnel_t *fn, const fd_metricrow_t *row, char *errstr,
                           size_t errstr_size) {
    cJSON *fields = cJSON_AddObjectToObject(o, "fields");
    if (fields == NULL) return FD_ERR_NOMEM;
    if (row->nfields > 0 && (row->fields == NULL || row->values == NULL)) return FD_ERR_INVAL;
    for (size_t i = 0; i < row->nfields; i++) {
        const char *name = row->fields[i], *value = row->values[i];
        if (name == NULL || value == NULL)
            return refuse(errstr, errstr_size, FD_ERR_INVAL, "field %zu: the name or value is NULL",
                          i);
        if (!fd_utf8_valid(name, strlen(name)))
            return refuse(errstr, errstr_size, FD_ERR_PARSE, "field %zu: the name is not UTF-8", i);
        if (!fd_utf8_valid(value, strlen(value)))
            return refuse(errstr, errstr_size, FD_ERR_PARSE, "field %zu: the value is not UTF-8",
                          i);
        bool raw;
        switch (field_type(fn, name)) {
        case TYPE_COUNTER:
            raw = counter_shape(value);
            break;
        case TYPE_DERIVED:
            raw = derived_shape(value);
            break;
        default: /* amounts are strings, and so is what has no known type */
            raw = false;
            break;
        }
        /* The shapes above are JSON numbers: the stored text goes out as is. */
        cJSON *item = raw ? cJSON_AddRawToObject(fields, name, value)
                          : cJSON_AddStringToObject(fields, name, value);
        if (item == NULL) return FD_ERR_NOMEM;
    }
    return FD_OK;
}

static fd_err_t add_window(cJSON *o, const fd_timewin_t *tw, const char *window, char *errstr,
                           size_t errstr_size) {
    if (strcmp(window, "all") == 0)
        return cJSON_AddNullToObject(o, "window_start") && cJSON_AddNullToObject(o, "window_end")
                   ? FD_OK
                   : FD_ERR_NOMEM;
    int64_t start, end;
    fd_err_t err = fd_timewin_bounds(tw, window, &start, &end);
    assert(err == FD_OK); /* the key parser checked the window id */
    (void)err;
    char s[80], e[80]; /* what any int fields of struct tm could print */
    if (!rfc3339(start, false, s, sizeof s) || !rfc3339(end, false, e, sizeof e))
        return refuse(errstr, errstr_size, FD_ERR_RANGE,
                      "window %s: its bounds are outside the years 0000..9999", window);
    return cJSON_AddStringToObject(o, "window_start", s) &&
                   cJSON_AddStringToObject(o, "window_end", e)
               ? FD_OK
               : FD_ERR_NOMEM;
}

fd_err_t fd_metricrow_json(const fd_funnel_t *fn, const fd_timewin_t *tw, const fd_metricrow_t *row,
                           char **out, char *errstr, size_t errstr_size) {
    if (out == NULL) return FD_ERR_INVAL;
    *out = NULL;
    if (fn == NULL || tw == NULL || row == NULL || row->key == NULL ||
        (row->nsrc > 0 && row->src == NULL))
        return FD_ERR_INVAL;
    fd_scope_t scope;
    char window[FD_WIN_ID_MAX], id[FD_ID_MAX + 1];
    fd_err_t err = fd_metricrow_parse_key(row->key, &scope, window, id, errstr, errstr_size);
    if (err != FD_OK) return err;
    char published[80];
    if (!rfc3339(row->published_ms, true, published, sizeof published))
        return refuse(errstr, errstr_size, FD_ERR_RANGE,
                      "published_ms %" PRId64 ": outside the years 0000..9999", row->published_ms);

    cJSON *o = cJSON_CreateObject();
    if (o == NULL) return FD_ERR_NOMEM;
    err = FD_ERR_NOMEM;
    if (!cJSON_AddStringToObject(o, "key", row->key) ||
        !cJSON_AddStringToObject(o, "scope", fd_scope_name(scope)) ||
        !cJSON_AddStringToObject(o, "window", window) ||
        !(scope == FD_SCOPE_ORG ? cJSON_AddNullToObject(o, "id")
                                : cJSON_AddStringToObject(o, "id", id)))
        goto done;
    if ((err = add_window(o, tw, window, errstr, errstr_size)) != FD_OK) goto done;
    err = FD_ERR_NOMEM;
    if (!add_int(o, "version", row->version) ||
        !cJSON_AddStringToObject(o, "published_at", published))
        goto done;
    if ((err = add_source(o, row, errstr, errstr_size)) != FD_OK) goto done;
    if ((err = add_fields(o, fn, row, errstr, errstr_size)) != FD_OK) goto done;
    /* cJSON's allocator is malloc (the default hooks): the caller frees with free() */
    *out = cJSON_PrintUnformatted(o);
    err = *out != NULL ? FD_OK : FD_ERR_NOMEM;
done:
    cJSON_Delete(o);
    return err;
}
