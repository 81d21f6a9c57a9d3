// SPDX-License-Identifier: MIT
// The funnel model: stages, activity kinds, metric field layout, and the per-deal state machine
// with its text codec (layer 1, pure).
#include "funneld/funnel.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_NAME_MAX (FD_NAME_MAX + 16)

struct fd_funnel {
    size_t nstages, nkinds, nfields;
    char stage[FD_MAX_STAGES][FD_NAME_MAX + 1];
    char kind[FD_MAX_KINDS][FD_NAME_MAX + 1];
    char (*field)[FIELD_NAME_MAX]; /* nfields names */
};

static const char *const per_stage_names[FD_F_PER_STAGE] = {
    "entered", "advanced", "moved_on", "lost_at", "dwell_sum_ms", "dwell_count"};
static const char *const global_names[FD_G_COUNT] = {
    "won", "lost", "won_amount", "feedback_count", "feedback_sum", "complaints", "events"};

static int check_name(const char *what, size_t i, const char *name, char *errstr,
                      size_t errstr_size) {
    size_t len = strlen(name);
    if (len == 0 || len > FD_NAME_MAX) {
        snprintf(errstr, errstr_size, "%s[%zu]: expected 1..%d bytes, got %zu", what, i,
                 FD_NAME_MAX, len);
        return -1;
    }
    for (size_t j = 0; j < len; j++) {
        char c = name[j];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            snprintf(errstr, errstr_size,
                     "%s[%zu]: '%s' may only contain a-z, 0-9, '_' and '-'", what, i, name);
            return -1;
        }
    }
    return 0;
}

static int check_list(const char *what, const char *const *names, size_t n, size_t min,
                      size_t max, char *errstr, size_t errstr_size) {
    if (n < min || n > max) {
        snprintf(errstr, errstr_size, "%s: expected %zu..%zu entries, got %zu", what, min, max, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (check_name(what, i, names[i], errstr, errstr_size) != 0) return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                snprintf(errstr, errstr_size, "%s: '%s' is listed twice", what, names[i]);
                return -1;
            }
        }
    }
    return 0;
}

fd_err_t fd_funnel_new(const char *const *stages, size_t nstages, const char *const *kinds,
                       size_t nkinds, fd_funnel_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    if (check_list("funnel.stages", stages, nstages, 2, FD_MAX_STAGES, errstr, errstr_size) != 0 ||
        check_list("funnel.activities", kinds, nkinds, 1, FD_MAX_KINDS, errstr, errstr_size) != 0)
        return FD_ERR_CONFIG;
    fd_funnel_t *fn = calloc(1, sizeof *fn);
    if (fn == NULL) return FD_ERR_NOMEM;
    fn->nstages = nstages;
    fn->nkinds = nkinds;
    fn->nfields = nstages * FD_F_PER_STAGE + FD_G_COUNT + nkinds;
    fn->field = calloc(fn->nfields, sizeof *fn->field);
    if (fn->field == NULL) {
        free(fn);
        return FD_ERR_NOMEM;
    }
    for (size_t i = 0; i < nstages; i++) {
        memcpy(fn->stage[i], stages[i], strlen(stages[i]) + 1);
        for (int f = 0; f < FD_F_PER_STAGE; f++)
            snprintf(fn->field[i * FD_F_PER_STAGE + (size_t)f], FIELD_NAME_MAX, "%s:%s",
                     per_stage_names[f], stages[i]);
    }
    for (int g = 0; g < FD_G_COUNT; g++)
        snprintf(fn->field[nstages * FD_F_PER_STAGE + (size_t)g], FIELD_NAME_MAX, "%s",
                 global_names[g]);
    for (size_t k = 0; k < nkinds; k++) {
        memcpy(fn->kind[k], kinds[k], strlen(kinds[k]) + 1);
        snprintf(fn->field[nstages * FD_F_PER_STAGE + FD_G_COUNT + k], FIELD_NAME_MAX,
                 "activity:%s", kinds[k]);
    }
    *out = fn;
    return FD_OK;
}

void fd_funnel_destroy(fd_funnel_t *fn) {
    if (fn == NULL) return;
    free(fn->field);
    free(fn);
}

size_t fd_funnel_nstages(const fd_funnel_t *fn) { return fn->nstages; }
size_t fd_funnel_nkinds(const fd_funnel_t *fn) { return fn->nkinds; }

const char *fd_funnel_stage_name(const fd_funnel_t *fn, int stage) {
    assert(stage >= 0 && (size_t)stage < fn->nstages);
    return fn->stage[stage];
}

const char *fd_funnel_kind_name(const fd_funnel_t *fn, int kind) {
    assert(kind >= 0 && (size_t)kind < fn->nkinds);
    return fn->kind[kind];
}

static int lookup(const char (*names)[FD_NAME_MAX + 1], size_t n, const char *name, size_t len) {
    if (len == 0 || len > FD_NAME_MAX) return -1;
    for (size_t i = 0; i < n; i++)
        if (strncmp(names[i], name, len) == 0 && names[i][len] == '\0') return (int)i;
    return -1;
}

int fd_funnel_stage_index(const fd_funnel_t *fn, const char *name, size_t len) {
    return lookup(fn->stage, fn->nstages, name, len);
}

int fd_funnel_kind_index(const fd_funnel_t *fn, const char *name, size_t len) {
    return lookup(fn->kind, fn->nkinds, name, len);
}

size_t fd_funnel_nfields(const fd_funnel_t *fn) { return fn->nfields; }

const char *fd_funnel_field_name(const fd_funnel_t *fn, size_t field) {
    assert(field < fn->nfields);
    return fn->field[field];
}

bool fd_funnel_field_hundredths(const fd_funnel_t *fn, size_t field) {
    return field == fd_funnel_field_global(fn, FD_G_WON_AMOUNT) ||
           field == fd_funnel_field_global(fn, FD_G_FEEDBACK_SUM);
}

size_t fd_funnel_field_stage(const fd_funnel_t *fn, int stage, int f) {
    assert(stage >= 0 && (size_t)stage < fn->nstages && f >= 0 && f < FD_F_PER_STAGE);
    return (size_t)stage * FD_F_PER_STAGE + (size_t)f;
}

size_t fd_funnel_field_global(const fd_funnel_t *fn, int g) {
    assert(g >= 0 && g < FD_G_COUNT);
    return fn->nstages * FD_F_PER_STAGE + (size_t)g;
}

size_t fd_funnel_field_kind(const fd_funnel_t *fn, int kind) {
    assert(kind >= 0 && (size_t)kind < fn->nkinds);
    return fn->nstages * FD_F_PER_STAGE + FD_G_COUNT + (size_t)kind;
}

/* ---- per-deal state machine and codec: below this line ---- */
