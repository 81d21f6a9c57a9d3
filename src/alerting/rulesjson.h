// SPDX-License-Identifier: MIT
// JSON input helpers of the rules file: typed getters that fill the caller's errstr with
// "<path>.<field>: expected ..., found ..." (layer 3, pure). Internal to src/alerting/: it hands
// cJSON types around, which never leave this layer.
#ifndef FUNNELD_RULESJSON_H
#define FUNNELD_RULESJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "alerting/rules_internal.h"

/* Where the parser is: messages start with path ("rules[3] (name)", "" at the top level). */
typedef struct {
    const fd_funnel_t *fn;
    char *errstr;
    size_t errstr_size;
    char path[FD_RULE_NAME_MAX + 48];
} fd_rulesjson_t;

/* Writes "<path>.<field>: <message>" to errstr (when given) and returns FD_ERR_CONFIG. */
fd_err_t fd_rulesjson_bad(fd_rulesjson_t *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A found value for a message into buf: a string quoted (shortened to 40 bytes, control
 * characters replaced), a number, or the JSON type. */
void fd_rulesjson_found(const cJSON *it, char *buf, size_t size);
/* FD_ERR_CONFIG for a key of obj not in allowed (NULL-terminated) or a duplicate key. */
fd_err_t fd_rulesjson_check_keys(fd_rulesjson_t *c, const cJSON *obj, const char *where,
                                 const char *const *allowed);
/* The typed getters: FD_OK with *out set, or FD_ERR_CONFIG naming field (*out untouched). */
fd_err_t fd_rulesjson_number(fd_rulesjson_t *c, const cJSON *it, const char *field, double lo,
                             double hi, double *out);
fd_err_t fd_rulesjson_int(fd_rulesjson_t *c, const cJSON *it, const char *field, int64_t lo,
                          int64_t hi, int64_t *out);
fd_err_t fd_rulesjson_string(fd_rulesjson_t *c, const cJSON *it, const char *field,
                             const char **out);
/* One of choices (NULL-terminated); *out = its index. */
fd_err_t fd_rulesjson_choice(fd_rulesjson_t *c, const cJSON *it, const char *field,
                             const char *const *choices, int *out);
/* A duration string ("15m") within [lo, hi] ms. */
fd_err_t fd_rulesjson_duration(fd_rulesjson_t *c, const cJSON *it, const char *field, int64_t lo,
                               int64_t hi, int64_t *out);
/* A malloc'd copy of s, NULL when memory is short. */
char *fd_rulesjson_strdup(const char *s);
/* An id of a filter or a table: 1..FD_ID_MAX bytes without control characters. */
bool fd_rulesjson_valid_id(const char *s);
/* A non-empty array of ids into *out (*n of them, owned by the caller, even on error). */
fd_err_t fd_rulesjson_id_list(fd_rulesjson_t *c, const cJSON *arr, const char *field, char ***out,
                              size_t *n);
/* {"id": number, ...} into *out (*n of them, owned by the caller, even on error). */
fd_err_t fd_rulesjson_id_values(fd_rulesjson_t *c, const cJSON *obj, const char *field,
                                id_value_t **out, size_t *n);

#endif
