// SPDX-License-Identifier: MIT
// JSON input helpers of the rules file: typed getters that name the field, what was expected
// and what was found (layer 3, pure; cJSON stays inside src/alerting/).
#include "alerting/rulesjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/rules_internal.h"

/* Writes "<path>.<field>: <message>" to errstr and returns FD_ERR_CONFIG. */
fd_err_t fd_rulesjson_bad(fd_rulesjson_t *c, const char *field, const char *fmt, ...) {
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
void fd_rulesjson_found(const cJSON *it, char *buf, size_t size) {
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
fd_err_t fd_rulesjson_check_keys(fd_rulesjson_t *c, const cJSON *obj, const char *where,
                                 const char *const *allowed) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(it->string, allowed[i]) == 0;
        char field[160];
        snprintf(field, sizeof field, "%s%s%s", where, where[0] ? "." : "", it->string);
        if (!ok) return fd_rulesjson_bad(c, field, "unknown key");
        for (const cJSON *o = obj->child; o != it; o = o->next)
            if (strcmp(o->string, it->string) == 0)
                return fd_rulesjson_bad(c, field, "duplicate key");
    }
    return FD_OK;
}

fd_err_t fd_rulesjson_number(fd_rulesjson_t *c, const cJSON *it, const char *field, double lo,
                             double hi, double *out) {
    char f[64];
    if (!cJSON_IsNumber(it)) {
        fd_rulesjson_found(it, f, sizeof f);
        return fd_rulesjson_bad(c, field, "expected a number, found %s", f);
    }
    double v = it->valuedouble;
    if (!isfinite(v) || v < lo || v > hi)
        return fd_rulesjson_bad(c, field, "expected a number in [%g, %g], found %g", lo, hi, v);
    *out = v;
    return FD_OK;
}

fd_err_t fd_rulesjson_int(fd_rulesjson_t *c, const cJSON *it, const char *field, int64_t lo,
                          int64_t hi, int64_t *out) {
    char f[64];
    if (!cJSON_IsNumber(it)) {
        fd_rulesjson_found(it, f, sizeof f);
        return fd_rulesjson_bad(c, field, "expected an integer, found %s", f);
    }
    double v = it->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < (double)lo || v > (double)hi)
        return fd_rulesjson_bad(
            c, field, "expected an integer in [%" PRId64 ", %" PRId64 "], found %g", lo, hi, v);
    *out = (int64_t)v;
    return FD_OK;
}

fd_err_t fd_rulesjson_string(fd_rulesjson_t *c, const cJSON *it, const char *field,
                             const char **out) {
    char f[64];
    if (!cJSON_IsString(it)) {
        fd_rulesjson_found(it, f, sizeof f);
        return fd_rulesjson_bad(c, field, "expected a string, found %s", f);
    }
    *out = it->valuestring;
    return FD_OK;
}

/* One of choices (NULL-terminated); *out = its index. */
fd_err_t fd_rulesjson_choice(fd_rulesjson_t *c, const cJSON *it, const char *field,
                             const char *const *choices, int *out) {
    const char *s = NULL;
    fd_err_t err = fd_rulesjson_string(c, it, field, &s);
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
    fd_rulesjson_found(it, f, sizeof f);
    return fd_rulesjson_bad(c, field, "expected one of %s, found %s", list, f);
}

fd_err_t fd_rulesjson_duration(fd_rulesjson_t *c, const cJSON *it, const char *field, int64_t lo,
                               int64_t hi, int64_t *out) {
    const char *s = NULL;
    fd_err_t err = fd_rulesjson_string(c, it, field, &s);
    if (err) return err;
    int64_t ms;
    char f[64];
    fd_rulesjson_found(it, f, sizeof f);
    if (fd_rules_parse_duration(s, &ms) != FD_OK)
        return fd_rulesjson_bad(
            c, field,
            "expected a duration such as \"90s\", \"15m\", \"2h\", \"7d\" or \"0\", found %s", f);
    if (ms < lo || ms > hi) {
        if (lo == 0)
            return fd_rulesjson_bad(
                c, field, "expected a duration of at most %" PRId64 "d, found %s", hi / DAY_MS, f);
        return fd_rulesjson_bad(c, field,
                                "expected a duration in [%" PRId64 "s, %" PRId64 "d], found %s",
                                lo / 1000, hi / DAY_MS, f);
    }
    *out = ms;
    return FD_OK;
}

char *fd_rulesjson_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* An id of a filter or a table: 1..FD_ID_MAX bytes without control characters. */
bool fd_rulesjson_valid_id(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > FD_ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

fd_err_t fd_rulesjson_id_list(fd_rulesjson_t *c, const cJSON *arr, const char *field, char ***out,
                              size_t *n) {
    char f[64];
    if (!cJSON_IsArray(arr)) {
        fd_rulesjson_found(arr, f, sizeof f);
        return fd_rulesjson_bad(c, field, "expected an array of ids, found %s", f);
    }
    size_t cnt = (size_t)cJSON_GetArraySize(arr);
    if (cnt == 0)
        return fd_rulesjson_bad(c, field, "expected at least one id, found an empty array");
    char **v = calloc(cnt, sizeof *v);
    if (v == NULL) return FD_ERR_NOMEM;
    *out = v;
    size_t i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        char fi[96];
        snprintf(fi, sizeof fi, "%s[%zu]", field, i);
        if (!cJSON_IsString(it) || !fd_rulesjson_valid_id(it->valuestring)) {
            fd_rulesjson_found(it, f, sizeof f);
            return fd_rulesjson_bad(c, fi,
                                    "expected an id (1..%d bytes, no control characters), found %s",
                                    FD_ID_MAX, f);
        }
        if ((v[i] = fd_rulesjson_strdup(it->valuestring)) == NULL) return FD_ERR_NOMEM;
        *n = i + 1;
    }
    return FD_OK;
}

/* {"id": number, ...} */
fd_err_t fd_rulesjson_id_values(fd_rulesjson_t *c, const cJSON *obj, const char *field,
                                id_value_t **out, size_t *n) {
    char f[64];
    if (!cJSON_IsObject(obj)) {
        fd_rulesjson_found(obj, f, sizeof f);
        return fd_rulesjson_bad(c, field, "expected an object of id: number, found %s", f);
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
        if (!fd_rulesjson_valid_id(it->string))
            return fd_rulesjson_bad(c, fi, "expected an id as key");
        for (const cJSON *o = obj->child; o != it; o = o->next)
            if (strcmp(o->string, it->string) == 0) return fd_rulesjson_bad(c, fi, "duplicate key");
        fd_err_t err = fd_rulesjson_number(c, it, fi, 0, 1e15, &v[i].value);
        if (err) return err;
        if ((v[i].id = fd_rulesjson_strdup(it->string)) == NULL) return FD_ERR_NOMEM;
        *n = i + 1;
    }
    return FD_OK;
}
