// SPDX-License-Identifier: MIT
// A thread-safe metrics registry (counters, gauges, histograms with fixed buckets, label sets of
// bounded cardinality) and its Prometheus text exposition, format 0.0.4 (layer 0, pure: C11
// atomics, no I/O, no clock).
#ifndef FUNNELD_PROM_H
#define FUNNELD_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define FD_PROM_LABELS_MAX  4   /* label names per family */
#define FD_PROM_BUCKETS_MAX 16  /* finite upper bounds per histogram (+Inf is implicit) */
#define FD_PROM_VALUE_MAX   128 /* longest label value, bytes */

typedef enum { FD_PROM_COUNTER, FD_PROM_GAUGE, FD_PROM_HISTOGRAM } fd_prom_type_t;

/* The definition of a family: borrowed (its strings too) for the registry's life, so keep it
 * in a static table. labels: up to FD_PROM_LABELS_MAX names, the rest NULL. max_series bounds
 * the label sets a family can hold (1 for an unlabelled family; 0 means 1). buckets: nbuckets
 * strictly increasing finite upper bounds, for histograms only. */
typedef struct {
    const char *name;
    fd_prom_type_t type;
    const char *help;
    const char *labels[FD_PROM_LABELS_MAX];
    size_t max_series;
    double buckets[FD_PROM_BUCKETS_MAX];
    size_t nbuckets;
} fd_prom_def_t;

typedef struct fd_prom fd_prom_t;               /* a registry */
typedef struct fd_prom_family fd_prom_family_t; /* one metric name */
typedef struct fd_prom_series fd_prom_series_t; /* one label set of a family */

/* An empty registry. FD_ERR_NOMEM (*out NULL). */
fd_err_t fd_prom_new(fd_prom_t **out);
/* Frees every family and series. No other thread may use the registry any more. NULL: nothing. */
void fd_prom_destroy(fd_prom_t *r);

/* Adds the family def (borrowed) and sets *out to it. An unlabelled family gets its one series
 * at once (value 0, exposed). FD_ERR_INVAL when a name is not a valid Prometheus metric or label
 * name (a histogram may not use the label "le"), buckets are not strictly increasing and finite,
 * or the name is registered already; FD_ERR_NOMEM. Register before other threads read r. */
fd_err_t fd_prom_register(fd_prom_t *r, const fd_prom_def_t *def, fd_prom_family_t **out);

/* The series of f with the given label values (one per label name, in order; NULL for an
 * unlabelled family), created (value 0) when new. Lock-free when it exists; creating takes a
 * short spin lock. FD_ERR_INVAL when a value is NULL or longer than FD_PROM_VALUE_MAX;
 * FD_ERR_FULL when f holds max_series label sets already (the bound on cardinality);
 * FD_ERR_NOMEM. The series lives as long as the registry. */
fd_err_t fd_prom_series(fd_prom_family_t *f, const char *const *values, fd_prom_series_t **out);

/* Adds n to a counter (relaxed atomic). */
void fd_prom_add(fd_prom_series_t *s, uint64_t n);
/* Sets a gauge (relaxed atomic) and exposes it again if it was hidden. */
void fd_prom_set(fd_prom_series_t *s, double v);
/* Leaves a gauge out of the exposition until the next fd_prom_set (a partition given away). */
void fd_prom_hide(fd_prom_series_t *s);
/* Counts v in a histogram: the first bucket whose bound is >= v, the sum, the count. */
void fd_prom_observe(fd_prom_series_t *s, double v);

/* A counter's value; a gauge's value; a histogram's count. For tests and readiness checks. */
double fd_prom_value(const fd_prom_series_t *s);

/* Renders every family in registration order (series in creation order) as Prometheus text
 * format 0.0.4 into *text (malloc'd, NUL-terminated; the caller frees it), *len bytes. Safe while
 * other threads update or create series: each value is read atomically (a histogram scraped
 * during an observation may show the new count with the old sum). FD_ERR_NOMEM. */
fd_err_t fd_prom_render(const fd_prom_t *r, char **text, size_t *len);

#endif
