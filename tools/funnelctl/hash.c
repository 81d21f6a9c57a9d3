// SPDX-License-Identifier: MIT
// A metrics hash as funnelctl shows it: its fields in the order of docs/redis.md, as JSON or
// as the table of `show`, the derived fields (rates, averages) taken from the one metrics table
// of model/metrics.h (a tool).
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* docs/redis.md lists the activity counters after won_amount (they follow the scope-wide
 * counters in the funnel's field layout). */
#define ACTIVITIES_AFTER FD_G_WON_AMOUNT

/* A ratio of two counts (conv, exit_conv, win_rate), shown as a percentage; the other derived
 * fields are averages (dwell_hours, feedback_avg), shown as stored. */
static bool is_rate(const fd_metric_def_t *d) {
    return d->scale == 1;
}

/* Whether counter kind f (FD_F_* when per_stage, else FD_G_*) is an operand of an average:
 * the table shows the average, not its operands. */
static bool averaged(bool per_stage, int f) {
    for (size_t i = 0; i < fd_metrics_ndefs(); i++) {
        const fd_metric_def_t *d = fd_metrics_def(i);
        if (d->per_stage == per_stage && !is_rate(d) && (d->num == f || d->den == f)) return true;
    }
    return false;
}

/* A derived field comes right after the later of its two counters. */
static int operand_max(const fd_metric_def_t *d) {
    return d->num > d->den ? d->num : d->den;
}

/* Appends the derived fields of fn whose later counter is funnel field index field. */
static void push_metrics_after(const fd_funnel_t *fn, size_t field, strvec_t *names) {
    for (size_t i = 0; i < fd_metrics_count(fn); i++) {
        fd_metric_t m;
        fd_metrics_get(fn, i, &m);
        if ((m.num > m.den ? m.num : m.den) != field) continue;
        size_t n = fd_metrics_name(fn, &m, NULL, 0);
        char *name = xcalloc(n + 1, 1);
        fd_metrics_name(fn, &m, name, n + 1);
        strvec_push(names, name);
    }
}

void hash_known_fields(const fd_funnel_t *fn, strvec_t *names) {
    int last = (int)fd_funnel_nstages(fn) - 1;
    for (int s = 0; s <= last; s++) {
        /* the last stage (won) has only entered */
        for (int f = 0; f < (s == last ? FD_F_ENTERED + 1 : FD_F_PER_STAGE); f++) {
            size_t field = fd_funnel_field_stage(fn, s, f);
            strvec_push(names, xstrdup(fd_funnel_field_name(fn, field)));
            push_metrics_after(fn, field, names);
        }
    }
    for (int g = 0; g < FD_G_COUNT; g++) {
        size_t field = fd_funnel_field_global(fn, g);
        strvec_push(names, xstrdup(fd_funnel_field_name(fn, field)));
        push_metrics_after(fn, field, names);
        if (g == ACTIVITIES_AFTER)
            for (size_t k = 0; k < fd_funnel_nkinds(fn); k++)
                strvec_push(names,
                            xstrdup(fd_funnel_field_name(fn, fd_funnel_field_kind(fn, (int)k))));
    }
    /* the averages of cycle time and won deal size (docs/redis.md), whether or not this
     * build's metrics table lists them yet (it names them after their operands when it does) */
    static const char *const late[] = {"avg_won_amount", "cycle_days"};
    for (size_t i = 0; i < 2; i++)
        if (!strvec_has(names, late[i], strlen(late[i]))) strvec_push(names, xstrdup(late[i]));
}

void hash_print_pipeline(FILE *out, const fd_funnel_t *fn, const redisReply *all) {
    table_t t = {.ncols = 3};
    table_cell(&t, "stage");
    table_cell(&t, "open");
    table_cell(&t, "open_amount");
    int last = (int)fd_funnel_nstages(fn) - 1;
    for (int s = 0; s < last; s++) {
        table_cell(&t, fd_funnel_stage_name(fn, s));
        table_cell(
            &t,
            hget_or(all, fd_funnel_field_name(fn, fd_funnel_field_stage(fn, s, FD_F_OPEN)), "0"));
        table_cell(&t,
                   hget_or(all,
                           fd_funnel_field_name(fn, fd_funnel_field_stage(fn, s, FD_F_OPEN_AMOUNT)),
                           "0.00"));
    }
    table_cell(&t, "total");
    table_cell(&t,
               hget_or(all, fd_funnel_field_name(fn, fd_funnel_field_global(fn, FD_G_OPEN)), "0"));
    table_cell(&t,
               hget_or(all, fd_funnel_field_name(fn, fd_funnel_field_global(fn, FD_G_OPEN_AMOUNT)),
                       "0.00"));
    table_print(out, &t);
}

/* The object of hash_print_json (values as JSON numbers where they are written as one) and of
 * hash_print_json_text (every value a string). */
static void print_json(FILE *out, const fd_funnel_t *fn, const redisReply *h, const char *extra_key,
                       const char *extra_value, bool text) {
    void (*value)(FILE *, const char *) = text ? json_string : json_value;
    strvec_t names = {0};
    hash_known_fields(fn, &names);
    bool first = true;
    fputc('{', out);
    if (extra_key) {
        json_string(out, extra_key);
        fputs(": ", out);
        json_string(out, extra_value);
        first = false;
    }
    for (size_t i = 0; i < names.n; i++) {
        const char *v = hget(h, names.item[i]);
        if (v == NULL) continue;
        fputs(first ? "" : ", ", out);
        first = false;
        json_string(out, names.item[i]);
        fputs(": ", out);
        value(out, v);
    }
    for (size_t i = 0; h != NULL && i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i];
        if (strvec_has(&names, f->str, f->len)) continue;
        fputs(first ? "" : ", ", out);
        first = false;
        json_string(out, f->str);
        fputs(": ", out);
        value(out, h->element[i + 1]->str);
    }
    fputc('}', out);
    strvec_clear(&names);
}

void hash_print_json(FILE *out, const fd_funnel_t *fn, const redisReply *h, const char *extra_key,
                     const char *extra_value) {
    print_json(out, fn, h, extra_key, extra_value, false);
}

void hash_print_json_text(FILE *out, const fd_funnel_t *fn, const redisReply *h) {
    print_json(out, fn, h, NULL, NULL, true);
}

/* A column of the per-stage table: a counter kind (FD_F_*) or a derived field. */
typedef struct {
    int counter; /* FD_F_*, or -1 */
    const fd_metric_def_t *def;
} column_t;

/* The per-stage columns: each counter but the operands of an average, each per-stage derived
 * field after the later of its counters. */
static size_t stage_columns(column_t *cols, size_t max) {
    size_t n = 0;
    /* the open pipeline (FD_F_OPEN, FD_F_OPEN_AMOUNT: a stock, last in the enum) is not a
     * window's flow: it is not a column of the stage table */
    for (int f = 0; f < FD_F_OPEN; f++) {
        if (!averaged(true, f) && n < max) cols[n++] = (column_t){f, NULL};
        for (size_t i = 0; i < fd_metrics_ndefs(); i++) {
            const fd_metric_def_t *d = fd_metrics_def(i);
            if (d->per_stage && operand_max(d) == f && n < max) cols[n++] = (column_t){-1, d};
        }
    }
    return n;
}

/* The stored value of a derived field for the table: a rate as a percentage, an average as
 * stored, '-' when absent (a zero denominator). */
static void derived_cell(table_t *t, const fd_metric_def_t *d, const char *stored) {
    char buf[64];
    if (is_rate(d))
        format_rate(buf, sizeof buf, stored);
    else
        snprintf(buf, sizeof buf, "%s", stored ? stored : "-");
    table_cell(t, buf);
}

static void print_stage_table(FILE *out, const fd_funnel_t *fn, const redisReply *h) {
    column_t cols[TABLE_MAX_COLS - 1];
    size_t ncols = stage_columns(cols, TABLE_MAX_COLS - 1);
    int last = (int)fd_funnel_nstages(fn) - 1;
    table_t t = {.ncols = ncols + 1};
    table_cell(&t, "stage");
    for (size_t c = 0; c < ncols; c++) {
        if (cols[c].def) {
            table_cell(&t, cols[c].def->name);
        } else {
            /* "entered:lead" -> "entered" */
            const char *name =
                fd_funnel_field_name(fn, fd_funnel_field_stage(fn, 0, cols[c].counter));
            char *head = xasprintf("%.*s", (int)strcspn(name, ":"), name);
            table_cell(&t, head);
            free(head);
        }
    }
    for (int s = 0; s <= last; s++) {
        table_cell(&t, fd_funnel_stage_name(fn, s));
        for (size_t c = 0; c < ncols; c++) {
            if (cols[c].counter == FD_F_ENTERED || (s < last && cols[c].counter >= 0)) {
                size_t field = fd_funnel_field_stage(fn, s, cols[c].counter);
                table_cell(&t, hget_or(h, fd_funnel_field_name(fn, field), "0"));
            } else if (s < last) {
                fd_metric_t m = {.def = cols[c].def, .stage = s};
                char name[FD_NAME_MAX + 32];
                fd_metrics_name(fn, &m, name, sizeof name);
                derived_cell(&t, cols[c].def, hget(h, name));
            } else {
                table_cell(&t, ""); /* the won stage has only entered */
            }
        }
    }
    table_print(out, &t);
}

/* The averages the scope table shows as their own lines, named in full (cycle_days and
 * avg_won_amount: written by the apply script; shown by name whether or not this build's
 * metrics table has them yet). */
static bool own_line(const char *name) {
    return strcmp(name, "cycle_days") == 0 || strcmp(name, "avg_won_amount") == 0;
}

/* The scope-wide counters of a window, two columns: each counter but the operands of an
 * average "<x>_avg", each rate after the later of its counters, such an average as
 * "<count> (avg <value>)" named without its "_avg", the activities after won_amount; then, a
 * table of their own, avg_won_amount and cycle time as "<count> (avg <days> days)". The open
 * pipeline (a stock of the "all" window) is the pipeline section's, not this table's. */
static void print_scope_table(FILE *out, const fd_funnel_t *fn, const redisReply *h) {
    table_t g = {.ncols = 2, .left = {true, true}};
    char buf[96];
    for (int c = 0; c <= FD_G_EVENTS; c++) {
        size_t field = fd_funnel_field_global(fn, c);
        const char *name = fd_funnel_field_name(fn, field);
        if (!averaged(false, c) || c == FD_G_WON || c == FD_G_WON_AMOUNT) {
            table_cell(&g, name);
            table_cell(&g, hget_or(h, name, fd_funnel_field_hundredths(fn, field) ? "0.00" : "0"));
        }
        for (size_t i = 0; i < fd_metrics_ndefs(); i++) {
            const fd_metric_def_t *d = fd_metrics_def(i);
            if (d->per_stage || operand_max(d) != c || own_line(d->name)) continue;
            if (is_rate(d)) {
                table_cell(&g, d->name);
                derived_cell(&g, d, hget(h, d->name));
                continue;
            }
            size_t len = strlen(d->name);
            if (len > 4 && strcmp(d->name + len - 4, "_avg") == 0) len -= 4;
            snprintf(buf, sizeof buf, "%.*s", (int)len, d->name);
            table_cell(&g, buf);
            const char *avg = hget(h, d->name);
            const char *count = fd_funnel_field_name(fn, fd_funnel_field_global(fn, d->den));
            snprintf(buf, sizeof buf, "%s (avg %s)", hget_or(h, count, "0"), avg ? avg : "-");
            table_cell(&g, buf);
        }
        if (c == ACTIVITIES_AFTER) {
            char *acts = NULL;
            size_t acts_len = 0;
            FILE *a = xmemstream(&acts, &acts_len);
            for (size_t k = 0; k < fd_funnel_nkinds(fn); k++) {
                const char *kind = fd_funnel_kind_name(fn, (int)k);
                const char *f = fd_funnel_field_name(fn, fd_funnel_field_kind(fn, (int)k));
                fprintf(a, "%s%s %s", k ? ", " : "", kind, hget_or(h, f, "0"));
            }
            fclose(a);
            table_cell(&g, "activities");
            table_cell(&g, acts);
            free(acts);
        }
    }
    table_print(out, &g);
    /* the won deals' average size and cycle time: the deals won with a cycle, and the average
     * days from first stage entry to won (a table of their own after a blank line) */
    table_t w = {.ncols = 2, .left = {true, true}};
    table_cell(&w, "avg_won_amount");
    table_cell(&w, hget_or(h, "avg_won_amount", "-"));
    const char *cc = fd_funnel_field_name(fn, fd_funnel_field_global(fn, FD_G_CYCLE_COUNT));
    const char *days = hget(h, "cycle_days");
    table_cell(&w, "cycle");
    snprintf(buf, sizeof buf, "%s (avg %s%s)", hget_or(h, cc, "0"), days ? days : "-",
             days ? " days" : "");
    table_cell(&w, buf);
    fputc('\n', out);
    table_print(out, &w);
}

void hash_print_table(FILE *out, const fd_funnel_t *fn, const redisReply *h) {
    print_stage_table(out, fn, h);
    fputc('\n', out);
    print_scope_table(out, fn, h);

    /* fields this funnel does not know: the hash was written with other stages or kinds */
    strvec_t names = {0};
    hash_known_fields(fn, &names);
    bool any = false;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *f = h->element[i];
        if (strvec_has(&names, f->str, f->len)) continue;
        fprintf(out, "%s%s=%s",
                any ? ", " : "\nfields not in funnel.stages/funnel.activities: ", f->str,
                h->element[i + 1]->str);
        any = true;
    }
    if (any) fputc('\n', out);
    strvec_clear(&names);
}
