// SPDX-License-Identifier: MIT
// funnelctl top: the live leaderboard of a window's reps, redrawn in place until Ctrl-C, or
// printed once (a tool).
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

static int cmp_rows(const void *pa, const void *pb) {
    const rep_row_t *a = pa, *b = pb;
    const char *ka = a->key, *kb = b->key;
    if (a->counter) {
        ka = ka ? ka : "0";
        kb = kb ? kb : "0";
    }
    if (ka == NULL || kb == NULL) {
        if (ka != kb) return ka == NULL ? 1 : -1;
    } else {
        int c = dec_cmp(ka, kb);
        if (c) return -c; /* best first */
    }
    return strcmp(a->rep, b->rep);
}

/* The fields --by sorts on: counters (absent counts as 0) and derived fields of the metrics
 * table (absent sorts last); per-stage ones are written <name>:<stage>. */
static const struct {
    const char *name;
    bool per_stage;
} by_counters[] = {{"won_amount", false}, {"won", false}, {"entered", true}};
static const char *const by_derived[] = {"win_rate", "exit_conv"};

/* Checks --by: the sorted field into field, and whether it is a counter. FD_ERR_INVAL
 * (reported). */
static fd_err_t check_by(ctl_t *ctl, char *field, size_t size, bool *counter) {
    const char *by = ctl->by ? ctl->by : "won_amount";
    const char *colon = strchr(by, ':');
    size_t len = colon ? (size_t)(colon - by) : strlen(by);
    bool known = false, per_stage = false;
    for (size_t i = 0; i < sizeof by_counters / sizeof by_counters[0]; i++) {
        if (strlen(by_counters[i].name) == len && memcmp(by_counters[i].name, by, len) == 0) {
            known = true;
            per_stage = by_counters[i].per_stage;
            *counter = true;
        }
    }
    for (size_t i = 0; i < sizeof by_derived / sizeof by_derived[0]; i++) {
        const fd_metric_def_t *d = fd_metrics_def_find(by_derived[i], strlen(by_derived[i]));
        if (d && strlen(d->name) == len && memcmp(d->name, by, len) == 0) {
            known = true;
            per_stage = d->per_stage;
            *counter = false;
        }
    }
    if (known && per_stage == (colon != NULL)) {
        if (per_stage) {
            int last = (int)fd_funnel_nstages(ctl->fn) - 1;
            int s;
            if (!fd_funnel_stage_index(ctl->fn, colon + 1, strlen(colon + 1), &s))
                return ctl_fail(FD_ERR_INVAL, "--by %s: '%s' is not a stage of funnel.stages", by,
                                colon + 1);
            /* a derived field exists for every stage but the last (metrics.h) */
            if (!*counter && s == last)
                return ctl_fail(FD_ERR_INVAL, "--by %s: the last stage has no %.*s", by, (int)len,
                                by);
        }
        snprintf(field, size, "%s", by);
        return FD_OK;
    }
    return ctl_fail(FD_ERR_INVAL,
                    "--by expects won_amount, won, win_rate, entered:<stage> or exit_conv:<stage>, "
                    "found '%s'",
                    by);
}

fd_err_t reps_read(ctl_t *ctl, const char *window, rep_row_t **rows, size_t *nrows) {
    strvec_t ids = {0};
    *rows = NULL;
    *nrows = 0;
    fd_err_t err = redis_list_ids(ctl, FD_SCOPE_REP, window, &ids);
    if (err != FD_OK) {
        strvec_clear(&ids);
        return err;
    }
    rep_row_t *r = xcalloc(ids.n, sizeof *r);
    char **keys = xcalloc(ids.n, sizeof *keys);
    size_t queued = 0;
    char what[300];
    for (size_t i = 0; i < ids.n && err == FD_OK; i++) {
        keys[i] = key_metric(ctl, FD_SCOPE_REP, window, ids.item[i]);
        const char *argv[] = {"HGETALL", keys[i]};
        snprintf(what, sizeof what, "HGETALL %s", keys[i]);
        if ((err = redis_queue(ctl, what, 2, argv)) == FD_OK) queued++;
    }
    size_t n = 0;
    for (size_t i = 0; i < queued; i++) {
        snprintf(what, sizeof what, "HGETALL %s", keys[i]);
        redisReply *h;
        if (redis_next_reply(ctl, what, &h) != FD_OK) {
            if (err == FD_OK) err = redis_lost(ctl, what);
            break; /* the connection is gone: no more replies */
        }
        if (err != FD_OK) { /* reported once: drain the other replies */
            freeReplyObject(h);
            continue;
        }
        if ((err = redis_check_reply(ctl, what, h)) != FD_OK) continue;
        if (h->type != REDIS_REPLY_ARRAY || h->elements == 0) { /* expired since the SCAN */
            freeReplyObject(h);
            continue;
        }
        r[n].rep = ids.item[i];
        ids.item[i] = NULL;
        r[n].h = h;
        n++;
    }
    for (size_t i = 0; i < ids.n; i++)
        free(keys[i]);
    free(keys);
    strvec_clear(&ids);
    *rows = r;
    *nrows = n;
    return err;
}

void reps_sort(rep_row_t *rows, size_t n, const char *field, bool counter) {
    for (size_t i = 0; i < n; i++) {
        rows[i].key = hget(rows[i].h, field);
        rows[i].counter = counter;
    }
    if (n > 1) qsort(rows, n, sizeof *rows, cmp_rows);
}

void reps_free(rep_row_t *rows, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(rows[i].rep);
        freeReplyObject(rows[i].h);
    }
    free(rows);
}

static void print_top_table(FILE *out, ctl_t *ctl, const rep_row_t *rows, size_t n) {
    int last = (int)fd_funnel_nstages(ctl->fn) - 1;
    size_t ncols = 2 + (size_t)last + 4;
    table_t t = {.ncols = ncols, .left = {false, true}};
    char buf[64];
    table_cell(&t, "#");
    table_cell(&t, "rep");
    for (int s = 0; s < last; s++)
        table_cell(&t, fd_funnel_stage_name(ctl->fn, s));
    table_cell(&t, "won");
    table_cell(&t, "win_rate");
    table_cell(&t, "won_amount");
    table_cell(&t, "events");
    for (size_t i = 0; i < n; i++) {
        const redisReply *h = rows[i].h;
        snprintf(buf, sizeof buf, "%zu", i + 1);
        table_cell(&t, buf);
        table_cell(&t, rows[i].rep);
        for (int s = 0; s < last; s++) {
            size_t entered = fd_funnel_field_stage(ctl->fn, s, FD_F_ENTERED);
            table_cell(&t, hget_or(h, fd_funnel_field_name(ctl->fn, entered), "0"));
        }
        table_cell(&t, hget_or(h, "won", "0"));
        format_rate(buf, sizeof buf, hget(h, "win_rate"));
        table_cell(&t, buf);
        table_cell(&t, hget_or(h, "won_amount", "0.00"));
        table_cell(&t, hget_or(h, "events", "0"));
    }
    table_print(out, &t);
}

/* One refresh of top into out: FD_OK, FD_ERR_REDIS (reported; the connection is dropped and
 * made again at the next refresh), or FD_ERR_NOTFOUND when no rep has metrics and not live. */
static fd_err_t top_once(ctl_t *ctl, FILE *out, bool live) {
    char window[FD_WIN_ID_MAX], field[FD_NAME_MAX + 16];
    ctl_current_window(ctl, window, sizeof window);
    bool counter;
    check_by(ctl, field, sizeof field, &counter); /* checked before: cannot fail here */
    rep_row_t *rows;
    size_t n;
    fd_err_t err = redis_open(ctl);
    if (err != FD_OK) return err;
    if ((err = reps_read(ctl, window, &rows, &n)) != FD_OK) {
        reps_free(rows, n);
        redis_drop(ctl); /* reconnect at the next refresh */
        return err;
    }
    reps_sort(rows, n, field, counter);
    size_t shown = ctl->limit > 0 && (size_t)ctl->limit < n ? (size_t)ctl->limit : n;
    if (ctl->json) {
        fputc('[', out);
        for (size_t i = 0; i < shown; i++) {
            fputs(i ? ",\n " : "", out);
            hash_print_json(out, ctl->fn, rows[i].h, "rep", rows[i].rep);
        }
        fputs("]\n", out);
    } else {
        fprintf(out, "top reps by %s, window %s, prefix %s: %zu of %zu reps", field, window,
                ctl->cfg.prefix, shown, n);
        if (live) {
            char now[32];
            time_t t = time(NULL);
            struct tm tm;
            localtime_r(&t, &tm); /* the business timezone: fd_timewin set TZ */
            strftime(now, sizeof now, "%H:%M:%S", &tm);
            fprintf(out, ", %s %s (every %g s, Ctrl-C quits)", now, ctl->cfg.timezone,
                    ctl->interval);
        }
        fputs("\n\n", out);
        if (n > 0)
            print_top_table(out, ctl, rows, shown);
        else
            fputs("(no rep has metrics in this window yet)\n", out);
    }
    if (n == 0 && !live)
        err = ctl_fail(FD_ERR_NOTFOUND, "no rep has metrics in window '%s' (prefix '%s')", window,
                       ctl->cfg.prefix);
    reps_free(rows, n);
    return err;
}

fd_err_t cmd_top(ctl_t *ctl) {
    char field[FD_NAME_MAX + 16];
    bool counter;
    fd_err_t err = check_by(ctl, field, sizeof field, &counter);
    if (err != FD_OK) return err;
    if (ctl->once || ctl->json) return ctl_finish_output(top_once(ctl, stdout, false));

    live_catch_signals();
    while (!live_stopped()) {
        /* render off screen, then clear and draw in one write, so the table does not flicker */
        char *frame = NULL;
        size_t len = 0;
        FILE *f = xmemstream(&frame, &len);
        fd_err_t refresh = top_once(ctl, f, true);
        fclose(f);
        if (refresh == FD_OK) {
            fputs("\033[H\033[2J", stdout);
            fwrite(frame, 1, len, stdout);
        } else {
            /* keep the last table and the error (on stderr) in sight; retry later */
            fprintf(stdout, "funnelctl: retrying every %g s (Ctrl-C quits)\n", ctl->interval);
        }
        free(frame);
        if (fflush(stdout) != 0) return FD_ERR_IO;
        live_sleep(ctl->interval);
    }
    return FD_OK;
}
