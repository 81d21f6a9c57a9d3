// SPDX-License-Identifier: MIT
// The metrics registry and its Prometheus text exposition (layer 0, pure).
#include "base/prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A series: its label values (immutable once published) and its value. Counters hold an integer;
 * gauges hold a double's bits; histograms hold one count per bucket (the last one is +Inf, so
 * the total count is their sum and always equals the +Inf bucket) and the sum's bits. */
struct fd_prom_series {
    const fd_prom_family_t *f;
    char *values[FD_PROM_LABELS_MAX];
    atomic_uint_least64_t v; /* counter value, or a gauge's / histogram sum's double bits */
    atomic_bool hidden;
    atomic_uint_least64_t *buckets; /* histograms: nbuckets + 1 */
};

/* A family: its series in a fixed array of max_series slots. Readers load n (acquire) and read
 * the slots below it, written before n was raised (release); writers create under the lock. */
struct fd_prom_family {
    const fd_prom_def_t *def;
    size_t nlabels, max;
    fd_prom_series_t **slots;
    atomic_size_t n;
    atomic_flag lock;
    fd_prom_family_t *next;
};

struct fd_prom {
    fd_prom_family_t *first, *last;
};

static uint64_t bits_of(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double double_of(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

fd_err_t fd_prom_new(fd_prom_t **out) {
    *out = calloc(1, sizeof **out);
    return *out ? FD_OK : FD_ERR_NOMEM;
}

static void series_free(fd_prom_series_t *s) {
    if (s == NULL) return;
    for (size_t i = 0; i < FD_PROM_LABELS_MAX; i++)
        free(s->values[i]);
    free(s->buckets);
    free(s);
}

static void family_free(fd_prom_family_t *f) {
    if (f == NULL) return;
    size_t n = atomic_load(&f->n);
    for (size_t i = 0; i < n; i++)
        series_free(f->slots[i]);
    free(f->slots);
    free(f);
}

void fd_prom_destroy(fd_prom_t *r) {
    if (r == NULL) return;
    for (fd_prom_family_t *f = r->first, *next; f; f = next) {
        next = f->next;
        family_free(f);
    }
    free(r);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; without ':' for label names. */
static bool valid_name(const char *s, bool colon) {
    if (s == NULL || *s == '\0') return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

static fd_err_t series_new(fd_prom_family_t *f, const char *const *values, fd_prom_series_t **out) {
    fd_prom_series_t *s = calloc(1, sizeof *s);
    if (s == NULL) return FD_ERR_NOMEM;
    s->f = f;
    atomic_init(&s->v, f->def->type == FD_PROM_COUNTER ? 0 : bits_of(0.0));
    atomic_init(&s->hidden, false);
    for (size_t i = 0; i < f->nlabels; i++) {
        if ((s->values[i] = strdup(values[i])) == NULL) goto fail;
    }
    if (f->def->type == FD_PROM_HISTOGRAM) {
        s->buckets = calloc(f->def->nbuckets + 1, sizeof *s->buckets);
        if (s->buckets == NULL) goto fail;
        for (size_t i = 0; i <= f->def->nbuckets; i++)
            atomic_init(&s->buckets[i], 0);
    }
    *out = s;
    return FD_OK;
fail:
    series_free(s);
    return FD_ERR_NOMEM;
}

fd_err_t fd_prom_register(fd_prom_t *r, const fd_prom_def_t *def, fd_prom_family_t **out) {
    *out = NULL;
    if (!valid_name(def->name, true) || def->help == NULL) return FD_ERR_INVAL;
    size_t nlabels = 0;
    while (nlabels < FD_PROM_LABELS_MAX && def->labels[nlabels] != NULL) {
        const char *l = def->labels[nlabels];
        if (!valid_name(l, false) || strncmp(l, "__", 2) == 0) return FD_ERR_INVAL;
        if (def->type == FD_PROM_HISTOGRAM && strcmp(l, "le") == 0) return FD_ERR_INVAL;
        for (size_t j = 0; j < nlabels; j++)
            if (strcmp(def->labels[j], l) == 0) return FD_ERR_INVAL;
        nlabels++;
    }
    if (def->type == FD_PROM_HISTOGRAM) {
        if (def->nbuckets == 0 || def->nbuckets > FD_PROM_BUCKETS_MAX) return FD_ERR_INVAL;
        for (size_t i = 0; i < def->nbuckets; i++)
            if (!isfinite(def->buckets[i]) || (i > 0 && def->buckets[i] <= def->buckets[i - 1]))
                return FD_ERR_INVAL;
    } else if (def->nbuckets != 0) {
        return FD_ERR_INVAL;
    }
    for (fd_prom_family_t *f = r->first; f; f = f->next)
        if (strcmp(f->def->name, def->name) == 0) return FD_ERR_INVAL;

    fd_prom_family_t *f = calloc(1, sizeof *f);
    if (f == NULL) return FD_ERR_NOMEM;
    f->def = def;
    f->nlabels = nlabels;
    f->max = nlabels == 0 || def->max_series == 0 ? 1 : def->max_series;
    atomic_init(&f->n, 0);
    atomic_flag_clear(&f->lock);
    if ((f->slots = calloc(f->max, sizeof *f->slots)) == NULL) {
        free(f);
        return FD_ERR_NOMEM;
    }
    if (nlabels == 0) {
        if (series_new(f, NULL, &f->slots[0]) != FD_OK) {
            family_free(f);
            return FD_ERR_NOMEM;
        }
        atomic_store(&f->n, 1);
    }
    if (r->last)
        r->last->next = f;
    else
        r->first = f;
    r->last = f;
    *out = f;
    return FD_OK;
}

/* The series of the first n slots with these values, or NULL. */
static fd_prom_series_t *find(fd_prom_family_t *f, size_t n, const char *const *values) {
    for (size_t i = 0; i < n; i++) {
        fd_prom_series_t *s = f->slots[i];
        size_t k = 0;
        while (k < f->nlabels && strcmp(s->values[k], values[k]) == 0)
            k++;
        if (k == f->nlabels) return s;
    }
    return NULL;
}

fd_err_t fd_prom_series(fd_prom_family_t *f, const char *const *values, fd_prom_series_t **out) {
    *out = NULL;
    for (size_t i = 0; i < f->nlabels; i++)
        if (values == NULL || values[i] == NULL || strlen(values[i]) > FD_PROM_VALUE_MAX)
            return FD_ERR_INVAL;
    size_t n = atomic_load_explicit(&f->n, memory_order_acquire);
    if ((*out = find(f, n, values)) != NULL) return FD_OK;
    while (atomic_flag_test_and_set_explicit(&f->lock, memory_order_acquire)) {
    }
    fd_err_t err = FD_OK;
    size_t now = atomic_load_explicit(&f->n, memory_order_relaxed);
    if ((*out = find(f, now, values)) == NULL) { /* another thread may have created it */
        if (now >= f->max) {
            err = FD_ERR_FULL;
        } else if ((err = series_new(f, values, &f->slots[now])) == FD_OK) {
            *out = f->slots[now];
            atomic_store_explicit(&f->n, now + 1, memory_order_release);
        }
    }
    atomic_flag_clear_explicit(&f->lock, memory_order_release);
    return err;
}

void fd_prom_add(fd_prom_series_t *s, uint64_t n) {
    atomic_fetch_add_explicit(&s->v, n, memory_order_relaxed);
}

void fd_prom_set(fd_prom_series_t *s, double v) {
    atomic_store_explicit(&s->v, bits_of(v), memory_order_relaxed);
    atomic_store_explicit(&s->hidden, false, memory_order_relaxed);
}

void fd_prom_hide(fd_prom_series_t *s) {
    atomic_store_explicit(&s->hidden, true, memory_order_relaxed);
}

void fd_prom_observe(fd_prom_series_t *s, double v) {
    const fd_prom_def_t *def = s->f->def;
    size_t i = 0;
    while (i < def->nbuckets && !(v <= def->buckets[i]))
        i++; /* NaN lands in +Inf */
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&s->v, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->v, &old, bits_of(double_of(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

double fd_prom_value(const fd_prom_series_t *s) {
    fd_prom_series_t *m = (fd_prom_series_t *)s; /* atomic loads of C11 take non-const */
    switch (s->f->def->type) {
    case FD_PROM_COUNTER:
        return (double)atomic_load_explicit(&m->v, memory_order_relaxed);
    case FD_PROM_GAUGE:
        return double_of(atomic_load_explicit(&m->v, memory_order_relaxed));
    case FD_PROM_HISTOGRAM:
        break;
    }
    uint64_t count = 0;
    for (size_t i = 0; i <= s->f->def->nbuckets; i++)
        count += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
    return (double)count;
}

/* ---- exposition ---- */

typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} buf_t;

static void put(buf_t *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s) {
    put(b, s, strlen(s));
}

static void printf_(buf_t *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Escapes per the text format: in HELP, backslash and newline; in label values, also '"'. */
static void put_escaped(buf_t *b, const char *s, bool quote) {
    for (; *s; s++) {
        if (*s == '\\')
            puts_(b, "\\\\");
        else if (*s == '\n')
            puts_(b, "\\n");
        else if (quote && *s == '"')
            puts_(b, "\\\"");
        else
            put(b, s, 1);
    }
}

/* A float as Go's strconv does for Prometheus: +Inf, -Inf, NaN, or the shortest text that
 * reads back to the same double. */
static void format_double(double v, char *out, size_t size) {
    if (isnan(v)) {
        snprintf(out, size, "NaN");
    } else if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, size, "%.0f", v); /* integers in full, as Go prints them */
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(out, size, "%.*g", prec, v);
            if (strtod(out, NULL) == v) return;
        }
    }
}

/* name{l1="v1",...,extra="x"} */
static void put_labels(buf_t *b, const fd_prom_series_t *s, const char *extra_name,
                       const char *extra_value) {
    const fd_prom_family_t *f = s->f;
    if (f->nlabels == 0 && extra_name == NULL) return;
    puts_(b, "{");
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i > 0) puts_(b, ",");
        puts_(b, f->def->labels[i]);
        puts_(b, "=\"");
        put_escaped(b, s->values[i], true);
        puts_(b, "\"");
    }
    if (extra_name) {
        printf_(b, "%s%s=\"%s\"", f->nlabels > 0 ? "," : "", extra_name, extra_value);
    }
    puts_(b, "}");
}

static void render_series(buf_t *b, fd_prom_series_t *s) {
    const fd_prom_def_t *def = s->f->def;
    char num[40];
    if (def->type == FD_PROM_COUNTER) {
        puts_(b, def->name);
        put_labels(b, s, NULL, NULL);
        printf_(b, " %" PRIu64 "\n", (uint64_t)atomic_load_explicit(&s->v, memory_order_relaxed));
        return;
    }
    if (def->type == FD_PROM_GAUGE) {
        if (atomic_load_explicit(&s->hidden, memory_order_relaxed)) return;
        format_double(double_of(atomic_load_explicit(&s->v, memory_order_relaxed)), num,
                      sizeof num);
        puts_(b, def->name);
        put_labels(b, s, NULL, NULL);
        printf_(b, " %s\n", num);
        return;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i <= def->nbuckets; i++) {
        cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        if (i < def->nbuckets)
            format_double(def->buckets[i], num, sizeof num);
        else
            snprintf(num, sizeof num, "+Inf");
        printf_(b, "%s_bucket", def->name);
        put_labels(b, s, "le", num);
        printf_(b, " %" PRIu64 "\n", cum);
    }
    format_double(double_of(atomic_load_explicit(&s->v, memory_order_relaxed)), num, sizeof num);
    printf_(b, "%s_sum", def->name);
    put_labels(b, s, NULL, NULL);
    printf_(b, " %s\n", num);
    printf_(b, "%s_count", def->name);
    put_labels(b, s, NULL, NULL);
    printf_(b, " %" PRIu64 "\n", cum);
}

fd_err_t fd_prom_render(const fd_prom_t *r, char **text, size_t *len) {
    static const char *const types[] = {"counter", "gauge", "histogram"};
    buf_t b = {0};
    puts_(&b, ""); /* an empty registry renders "" */
    for (fd_prom_family_t *f = r->first; f; f = f->next) {
        puts_(&b, "# HELP ");
        puts_(&b, f->def->name);
        puts_(&b, " ");
        put_escaped(&b, f->def->help, false);
        printf_(&b, "\n# TYPE %s %s\n", f->def->name, types[f->def->type]);
        size_t n = atomic_load_explicit(&f->n, memory_order_acquire);
        for (size_t i = 0; i < n; i++)
            render_series(&b, f->slots[i]);
    }
    if (b.failed || b.p == NULL) {
        free(b.p);
        return FD_ERR_NOMEM;
    }
    *text = b.p;
    *len = b.len;
    return FD_OK;
}
