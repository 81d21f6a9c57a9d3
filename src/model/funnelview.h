// SPDX-License-Identifier: MIT
// The API's view of a stored metric hash: the type of each field of docs/redis.md (counter,
// amount, rate or average) and the JSON of GET /api/v1/funnel, values typed from their stored
// text (layer 1, pure).
#ifndef FUNNELD_FUNNELVIEW_H
#define FUNNELD_FUNNELVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "model/funnel.h"

typedef enum {
    FD_FIELD_COUNTER = 0, /* integer; absent = 0 */
    FD_FIELD_AMOUNT,      /* two decimals, kept as text; absent = "0.00" */
    FD_FIELD_RATE,        /* a rate or an average: a number; absent = null */
    FD_FIELD_UNKNOWN      /* not a field of this funnel */
} fd_field_kind_t;

/* The kind of the field called name ("entered:lead", "won_amount", "conv:lead",
 * "activity:call"; the last stage has only "entered:<L>"). */
fd_field_kind_t fd_funnelview_kind(const fd_funnel_t *fn, const char *name);

/* The JSON text of a stored value of kind (value NULL: absent, the kind's default), typed as
 * docs/http.md says; a value without its kind's shape is a JSON string. Malloc'ed (NULL when
 * memory is short). */
char *fd_funnelview_value(fd_field_kind_t kind, const char *value);

/* A sortable number for a stored value: counters and amounts (absent = 0) and rates; false
 * (the value sorts last) for an absent or malformed rate or a malformed number. */
bool fd_funnelview_number(fd_field_kind_t kind, const char *value, double *out);

/* What GET /api/v1/funnel answers about one hash. */
typedef struct {
    const char *scope;    /* "org", "team", "rep" */
    const char *id;       /* NULL for the org */
    const char *window;   /* the resolved window id */
    const char *timezone; /* funnel.timezone */
    bool bounded;         /* false for "all": null bounds */
    int64_t start_ms, end_ms;
    const char *position;      /* "<changes id>,<alerts id>" */
    const char *const *fields; /* the hash as stored (nfields 0: no hash) */
    const char *const *values;
    size_t nfields;
    /* the same scope's "all" window hash, where the open pipeline is kept (a stock: "now",
     * whatever the window); the same arrays as fields/values when the window is "all" */
    const char *const *all_fields;
    const char *const *all_values;
    size_t nall;
} fd_funnelview_t;

/* The JSON of GET /api/v1/funnel (docs/http.md, docs/openapi.yaml: Funnel) for v, malloc'ed
 * into *out. FD_ERR_RANGE when a bound cannot be written in RFC 3339, FD_ERR_NOMEM. */
fd_err_t fd_funnelview_json(const fd_funnel_t *fn, const fd_funnelview_t *v, char **out);

/* Sales velocity, currency per day: open × win_rate × avg_won_amount ÷ cycle_days, from a
 * window's counters (fields: every funnel field as stored text, NULL for absent; amounts with
 * two decimals) and the scope's open deals now. False (*value 0) when a factor is undefined
 * (no won or lost deal, no won deal, no cycle) or cycle_days is 0. in[0..2] get win_rate,
 * avg_won_amount and cycle_days (has[k] false when undefined). */
bool fd_funnelview_velocity(const fd_funnel_t *fn, const fd_funnelview_t *v, int64_t open,
                            double *value, double in[3], bool has[3]);

/* The JSON of GET /api/v1/scorecard (docs/openapi.yaml: Scorecard) from the stored breakdown
 * hash (fields/values, n pairs; docs/redis.md) and the adjustment list (adj, nadj JSON texts,
 * oldest first): numbers as JSON numbers, the KPI lines as an array in the order of the `kpis`
 * field, the adjustments parsed (an entry that is not a JSON object is kept as a string).
 * Malloc'ed into *out. FD_ERR_NOMEM. */
fd_err_t fd_funnelview_scorecard_json(const char *const *fields, const char *const *values,
                                      size_t n, const char *const *adj, size_t nadj, char **out);

/* ms as RFC 3339 UTC ("2026-11-21T23:00:00Z") into buf (>= 32 bytes); false outside the years
 * 0000..9999. */
bool fd_funnelview_rfc3339(int64_t ms, char *buf, size_t size);

#endif
