// SPDX-License-Identifier: MIT
// funnelctl board: a sales manager's view that fits an 80x24 terminal (the dashboard's address,
// the org funnel, the top reps, the alerts firing now, the feed's state), redrawn in place until
// Ctrl-C, or printed once (a tool).
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base/clock.h"
#include "ctl.h"
#include "io/keys.h"

#define BOARD_LINES   22 /* at most: a 24-line terminal keeps a line for the cursor and one spare */
#define BOARD_COLS    80 /* at most, in display columns */
#define TOP_DEFAULT   5  /* reps shown without --limit */
#define ALERTS_MIN    3  /* alert lines kept before the top reps get theirs */
#define RECENT        200 /* change-feed entries read for the feed's state */
#define STALL_FACTOR  3   /* heartbeat intervals without an entry that make a feed stalled */
#define INTERVAL_DFLT 2000

/* ---- formatting ---- */

/* Appends s to lines, cut to BOARD_COLS columns. */
static void add_line(strvec_t *lines, const char *s) {
    strvec_push(lines, fit_width(s, BOARD_COLS));
}

/* Appends each line of a table printed into text (freed). */
static void add_table(strvec_t *lines, table_t *t) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = xmemstream(&text, &len);
    table_print(f, t);
    fclose(f);
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        add_line(lines, line);
    }
    free(text);
}

/* A cell cut to max columns. */
static void cell_fit(table_t *t, const char *s, size_t max) {
    char *c = fit_width(s ? s : "", max);
    table_cell(t, c);
    free(c);
}

/* "1234567.89" -> "1,234,567.89"; any other text as it is. */
static void format_amount(char *buf, size_t size, const char *v) {
    size_t digits = strspn(v, "0123456789");
    if (digits == 0 || (v[digits] != '\0' && v[digits] != '.') || digits + digits / 3 + 8 > size ||
        strlen(v + digits) > 8) {
        snprintf(buf, size, "%s", v);
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < digits; i++) {
        if (i > 0 && (digits - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = v[i];
    }
    snprintf(buf + o, size - o, "%s", v + digits);
}

/* Average days from a stored dwell_hours ("-" when absent). */
static void format_days(char *buf, size_t size, const char *hours) {
    char *end;
    double h = hours ? strtod(hours, &end) : 0;
    if (hours == NULL || end == hours || *end != '\0')
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.1f", h / 24.0);
}

/* A stage name as a heading: first letter upper-cased. */
static void stage_title(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s", name);
    if (buf[0] >= 'a' && buf[0] <= 'z') buf[0] = (char)(buf[0] - 'a' + 'A');
}

/* ms since the epoch in the business timezone: "HH:MM:SS" (seconds) or "HH:MM" on now's local
 * day, else "MM-DD HH:MM". */
static void format_when(char *buf, size_t size, int64_t ms, int64_t now_ms, bool seconds) {
    time_t t = (time_t)(ms / 1000), n = (time_t)(now_ms / 1000);
    struct tm tm, tn;
    localtime_r(&t, &tm); /* the business timezone: fd_timewin set TZ */
    localtime_r(&n, &tn);
    bool today = tm.tm_year == tn.tm_year && tm.tm_yday == tn.tm_yday;
    strftime(buf, size, today ? (seconds ? "%H:%M:%S" : "%H:%M") : "%m-%d %H:%M", &tm);
}

/* "all time", "day 2026-11-22", "week 2026-W47"... */
static void window_words(char *buf, size_t size, const char *window) {
    const char *colon = strchr(window, ':');
    if (strcmp(window, "all") == 0)
        snprintf(buf, size, "all time");
    else if (colon)
        snprintf(buf, size, "%.*s %s", (int)(colon - window), window, colon + 1);
    else
        snprintf(buf, size, "%s", window);
}

/* ---- the funnel ---- */

static void funnel_lines(strvec_t *lines, const ctl_t *ctl, const redisReply *org) {
    int n = (int)fd_funnel_nstages(ctl->fn), last = n - 1;
    table_t t = {.ncols = 5};
    char buf[96];
    table_cell(&t, "Stage");
    table_cell(&t, "Deals");
    table_cell(&t, "Conversion %");
    table_cell(&t, "Lost");
    table_cell(&t, "Avg days");
    for (int s = 0; s < n; s++) {
        const char *name = fd_funnel_stage_name(ctl->fn, s);
        stage_title(buf, sizeof buf, name);
        cell_fit(&t, buf, 20);
        size_t entered = fd_funnel_field_stage(ctl->fn, s, FD_F_ENTERED);
        table_cell(&t, hget_or(org, fd_funnel_field_name(ctl->fn, entered), "0"));
        if (s == last) { /* deals never leave the last stage */
            table_cell(&t, NULL);
            table_cell(&t, NULL);
            table_cell(&t, NULL);
            continue;
        }
        char field[FD_NAME_MAX + 16];
        snprintf(field, sizeof field, "conv:%s", name);
        format_rate(buf, sizeof buf, hget(org, field));
        table_cell(&t, buf);
        size_t lost = fd_funnel_field_stage(ctl->fn, s, FD_F_LOST_AT);
        table_cell(&t, hget_or(org, fd_funnel_field_name(ctl->fn, lost), "0"));
        snprintf(field, sizeof field, "dwell_hours:%s", name);
        format_days(buf, sizeof buf, hget(org, field));
        table_cell(&t, buf);
    }
    add_table(lines, &t);
    char rate[32], amount[64], line[256];
    format_rate(rate, sizeof rate, hget(org, "win_rate"));
    format_amount(amount, sizeof amount, hget_or(org, "won_amount", "0.00"));
    snprintf(line, sizeof line, "Win rate %s   Won amount %s   Deals won %s, lost %s", rate, amount,
             hget_or(org, "won", "0"), hget_or(org, "lost", "0"));
    add_line(lines, line);
}

/* ---- the top reps ---- */

static void top_lines(strvec_t *lines, const redisReply *teams, const rep_row_t *rows, size_t n,
                      size_t nreps) {
    if (nreps == 0) {
        add_line(lines, "Top reps: no rep has deals in this window yet");
        return;
    }
    if (n == 0) {
        char line[96];
        snprintf(line, sizeof line, "Top reps: %zu reps (funnelctl top lists them)", nreps);
        add_line(lines, line);
        return;
    }
    table_t t = {.ncols = 6, .left = {true, true, true}};
    char buf[64];
    table_cell(&t, "#");
    table_cell(&t, "Top reps");
    table_cell(&t, "Team");
    table_cell(&t, "Won");
    table_cell(&t, "Won amount");
    table_cell(&t, "Win rate");
    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "%zu", i + 1);
        table_cell(&t, buf);
        cell_fit(&t, rows[i].rep, 24);
        cell_fit(&t, hget_or(teams, rows[i].rep, "-"), 16);
        table_cell(&t, hget_or(rows[i].h, "won", "0"));
        format_amount(buf, sizeof buf, hget_or(rows[i].h, "won_amount", "0.00"));
        table_cell(&t, buf);
        format_rate(buf, sizeof buf, hget(rows[i].h, "win_rate"));
        table_cell(&t, buf);
    }
    add_table(lines, &t);
}

/* ---- the alerts firing now ---- */

static const char *entry_get(const redisReply *e, const char *name);

typedef struct {
    cJSON *doc;
    const char *started; /* RFC 3339, sorts as text */
} alert_t;

static int cmp_alerts(const void *pa, const void *pb) {
    const alert_t *a = pa, *b = pb;
    return strcmp(a->started, b->started);
}

static const char *jstr(const cJSON *d, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(d, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static bool jnum(const cJSON *d, const char *key, double *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!cJSON_IsNumber(it)) return false;
    *out = it->valuedouble;
    return true;
}

/* A KPI id in words, as the page says it ("Moved on % at lead"). */
static void kpi_words(char *buf, size_t size, const char *kpi) {
    static const struct {
        const char *id, *words;
        bool per_stage; /* the words are followed by the stage or kind */
    } names[] = {
        {"entered", "New deals at ", true},    {"conv", "Conversion % at ", true},
        {"exit_conv", "Moved on % at ", true}, {"dwell_hours", "Hours in ", true},
        {"stalled", "Deals stuck in ", true},  {"activity", "Activities: ", true},
        {"win_rate", "Win rate", false},       {"won", "Deals won", false},
        {"won_amount", "Won amount", false},   {"feedback_avg", "Customer rating", false},
        {"complaints", "Complaints", false},
    };
    const char *colon = strchr(kpi, ':');
    size_t len = colon ? (size_t)(colon - kpi) : strlen(kpi);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].id) == len && strncmp(names[i].id, kpi, len) == 0 &&
            names[i].per_stage == (colon != NULL)) {
            snprintf(buf, size, "%s%s", names[i].words, colon ? colon + 1 : "");
            return;
        }
    }
    snprintf(buf, size, "%s", kpi);
}

/* A KPI value in its unit: rates as percentages, hours, amounts, counts. */
static void kpi_value(char *buf, size_t size, const char *kpi, double v) {
    bool rate = strncmp(kpi, "conv:", 5) == 0 || strncmp(kpi, "exit_conv:", 10) == 0 ||
                strcmp(kpi, "win_rate") == 0;
    if (rate) {
        snprintf(buf, size, "%.1f%%", v * 100);
        size_t n = strlen(buf); /* 15.0% -> 15% */
        if (n > 3 && strcmp(buf + n - 3, ".0%") == 0) memmove(buf + n - 3, "%", 2);
    } else if (strncmp(kpi, "dwell_hours:", 12) == 0) {
        snprintf(buf, size, "%.1f h", v);
    } else if (strcmp(kpi, "won_amount") == 0) {
        snprintf(buf, size, "%.2f", v);
    } else if (fabs(v - round(v)) < 1e-9) {
        snprintf(buf, size, "%.0f", v);
    } else {
        snprintf(buf, size, "%.2f", v);
    }
}

/* "4% < 15%": the value against the bound it crossed (threshold, pace expectation, baseline). */
static void value_vs_bound(char *buf, size_t size, const cJSON *d) {
    const char *kpi = jstr(d, "kpi") ? jstr(d, "kpi") : "";
    const char *cond = jstr(d, "condition") ? jstr(d, "condition") : "threshold";
    const char *bound_key = strcmp(cond, "target") == 0  ? "expected"
                            : strcmp(cond, "drift") == 0 ? "baseline"
                                                         : "threshold";
    double v, b;
    char vs[32], bs[32];
    if (!jnum(d, "value", &v)) {
        snprintf(buf, size, "-");
        return;
    }
    kpi_value(vs, sizeof vs, kpi, v);
    if (!jnum(d, bound_key, &b)) {
        snprintf(buf, size, "%s", vs);
        return;
    }
    kpi_value(bs, sizeof bs, kpi, b);
    snprintf(buf, size, "%s %s %s", vs, v < b ? "<" : v > b ? ">" : "=", bs);
}

/* ms since the epoch of an RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SS(.mmm)Z"; -1 if not one. */
static int64_t rfc3339_ms(const char *s) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    const char *dot = strchr(s, '.');
    if (dot) ms = atoi(dot + 1);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The alerts table: up to shown alerts (the last one "... and K more" when some do not fit). */
/* The newest notification of the alert stream (XREVRANGE ... COUNT 1), parsed; NULL if none. */
static cJSON *newest_notification(const redisReply *r) {
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0) return NULL;
    const char *json = entry_get(r->element[0], "json");
    cJSON *d = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(d)) {
        cJSON_Delete(d);
        return NULL;
    }
    return d;
}

/* "rep 佐藤 美咲" style: the rep id alone, "team X", "org". */
static void alert_who(char *buf, size_t size, const cJSON *d) {
    const char *scope = jstr(d, "scope") ? jstr(d, "scope") : "?";
    const char *id = jstr(d, "scope_id") ? jstr(d, "scope_id") : "";
    if (strcmp(scope, "rep") == 0)
        snprintf(buf, size, "%s", id);
    else
        snprintf(buf, size, "%s%s%s", scope, id[0] ? " " : "", id);
}

static void alert_lines(strvec_t *lines, alert_t *a, size_t n, size_t shown, int64_t now_ms,
                        const cJSON *newest) {
    char head[512];
    if (n == 0) {
        /* none: the last one that resolved, so that one sees what happened */
        const char *state = newest ? jstr(newest, "state") : NULL;
        int64_t at = newest ? rfc3339_ms(jstr(newest, "resolved_at")) : -1;
        if (state && strcmp(state, "resolved") == 0 && at >= 0) {
            char who[300], kpi[160], when[32];
            alert_who(who, sizeof who, newest);
            char *w = fit_width(who, 12);
            kpi_words(kpi, sizeof kpi, jstr(newest, "kpi") ? jstr(newest, "kpi") : "?");
            format_when(when, sizeof when, at, now_ms, false);
            snprintf(head, sizeof head, "Alerts firing now: none; resolved %s: %s (%s)", when, w,
                     kpi);
            free(w);
            add_line(lines, head);
        } else {
            add_line(lines, "Alerts firing now: none");
        }
        return;
    }
    if (shown == 0) {
        snprintf(head, sizeof head, "Alerts firing now: %zu (funnelctl alerts lists them)", n);
        add_line(lines, head);
        return;
    }
    bool more = shown < n;
    size_t rows = more ? shown - 1 : shown;
    snprintf(head, sizeof head, "Alerts now: %zu", n);
    table_t t = {.ncols = 5, .left = {true, true, true, false, true}};
    table_cell(&t, head);
    table_cell(&t, "Manager");
    table_cell(&t, "KPI");
    table_cell(&t, "Value");
    table_cell(&t, "Since");
    for (size_t i = 0; i < rows; i++) {
        const cJSON *d = a[i].doc;
        char who[300], buf[160];
        alert_who(who, sizeof who, d);
        cell_fit(&t, who, 14);
        cell_fit(&t, jstr(d, "manager") ? jstr(d, "manager") : "-", 13);
        kpi_words(buf, sizeof buf, jstr(d, "kpi") ? jstr(d, "kpi") : "?");
        cell_fit(&t, buf, 19);
        value_vs_bound(buf, sizeof buf, d);
        cell_fit(&t, buf, 13);
        int64_t since = rfc3339_ms(jstr(d, "started_at"));
        if (since >= 0)
            format_when(buf, sizeof buf, since, now_ms, false);
        else
            snprintf(buf, sizeof buf, "-");
        cell_fit(&t, buf, 11);
    }
    add_table(lines, &t);
    if (more) {
        snprintf(head, sizeof head, "\xe2\x80\xa6 and %zu more (funnelctl alerts lists them)",
                 n - rows);
        add_line(lines, head);
    }
}

/* ---- the feed's state (docs/feeds.md "Live, idle, behind, stalled") ---- */

static int64_t sid_ms(const char *id) {
    return id ? strtoll(id, NULL, 10) : -1;
}

static const char *entry_get(const redisReply *e, const char *name) {
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements != 2) return NULL;
    return hget(e->element[1], name);
}

static const char *entry_sid(const redisReply *e) {
    return e && e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
                   e->element[0]->type == REDIS_REPLY_STRING
               ? e->element[0]->str
               : NULL;
}

/* Whether a heartbeat's parts ("<topic>:<p>:<next>:<lag>" lines) report a lag above 0. */
static bool parts_lagging(const char *parts) {
    for (const char *line = parts; line && *line;) {
        const char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line), *colon = NULL;
        for (const char *p = line; p < end; p++)
            if (*p == ':') colon = p;
        if (colon && colon + 1 < end && strtoll(colon + 1, NULL, 10) > 0) return true;
        line = nl ? nl + 1 : NULL;
    }
    return false;
}

static void feed_line(strvec_t *lines, const redisReply *recent, const char *watermark,
                      int64_t now) {
    int64_t last_ms = -1, change_ms = -1, interval = -1;
    bool lag = false;
    strvec_t seen = {0};
    for (size_t i = 0; recent && recent->type == REDIS_REPLY_ARRAY && i < recent->elements; i++) {
        const redisReply *e = recent->element[i]; /* newest first */
        int64_t at = sid_ms(entry_sid(e));
        const char *kind = entry_get(e, "kind"), *inst = entry_get(e, "instance");
        if (last_ms < 0) last_ms = at;
        if (kind == NULL) continue;
        if (change_ms < 0 && (strcmp(kind, "change") == 0 || strcmp(kind, "bulk") == 0))
            change_ms = at;
        if (strcmp(kind, "heartbeat") != 0 || inst == NULL) continue;
        int64_t iv = strtoll(hget_or(e->element[1], "interval_ms", "0"), NULL, 10);
        if (iv <= 0) iv = INTERVAL_DFLT;
        if (interval < 0) interval = iv;
        if (strvec_has(&seen, inst, strlen(inst))) continue;
        strvec_push(&seen, xstrdup(inst));
        if (now - at < STALL_FACTOR * iv && parts_lagging(entry_get(e, "parts"))) lag = true;
    }
    strvec_clear(&seen);
    int64_t span = STALL_FACTOR * (interval > 0 ? interval : INTERVAL_DFLT);
    const char *state;
    if (last_ms < 0 || now - last_ms >= span)
        state = "stalled, numbers may be out of date";
    else if (lag)
        state = change_ms >= 0 && now - change_ms < span ? "catching up"
                                                         : "stalled, numbers may be out of date";
    else if (change_ms >= 0 && now - change_ms < span)
        state = "live";
    else
        state = "idle, no new deals";
    char line[256], up[32] = "", wm[32] = "";
    if (change_ms >= 0) {
        format_when(up, sizeof up, change_ms, now, true);
        snprintf(line, sizeof line, "Feed: %s; last update %s (%" PRId64 " s ago)", state, up,
                 (now - change_ms) / 1000);
    } else {
        snprintf(line, sizeof line, "Feed: %s; no update yet%s", state,
                 last_ms < 0 ? " (is funneld running?)" : "");
    }
    int64_t w = watermark ? strtoll(watermark, NULL, 10) : 0;
    if (w > 0) {
        format_when(wm, sizeof wm, w, now, false);
        size_t len = strlen(line);
        snprintf(line + len, sizeof line - len, "; deals up to %s", wm);
    }
    add_line(lines, line);
}

/* ---- one frame ---- */

/* Reads Redis and renders one board into lines. FD_ERR_REDIS (reported; the connection is
 * dropped so that the next frame connects again). */
static fd_err_t board_frame(ctl_t *ctl, strvec_t *lines, bool live) {
    char window[FD_WIN_ID_MAX];
    ctl_current_window(ctl, window, sizeof window); /* also makes TZ the business timezone */
    fd_err_t err = redis_open(ctl);
    if (err != FD_OK) return err;
    char *org = key_metric(ctl, FD_SCOPE_ORG, window, NULL);
    char *teams = key_single(ctl, FD_KEY_REP_TEAM), *firing = key_single(ctl, FD_KEY_ALERTS_FIRING);
    char *changes = key_single(ctl, FD_KEY_CHANGES), *feed = key_single(ctl, FD_KEY_FEED);
    char *stream = key_single(ctl, FD_KEY_ALERTS);
    char count[16];
    snprintf(count, sizeof count, "%d", RECENT);
    const char *cmds[][6] = {
        {"TIME"},
        {"HGETALL", org},
        {"HGETALL", teams},
        {"HGETALL", firing},
        {"XREVRANGE", changes, "+", "-", "COUNT", count},
        {"HGET", feed, "watermark"},
        {"XREVRANGE", stream, "+", "-", "COUNT", "1"},
    };
    const int argcs[] = {1, 2, 2, 2, 6, 3, 6};
    enum { N = sizeof argcs / sizeof argcs[0] };
    redisReply *r[N] = {0};
    rep_row_t *reps = NULL;
    size_t nreps = 0;
    alert_t *alerts = NULL;
    size_t nalerts = 0;
    for (int i = 0; i < N && err == FD_OK; i++)
        err = redis_queue(ctl, cmds[i][0], argcs[i], cmds[i]);
    for (int i = 0; i < N && err == FD_OK; i++) {
        if (redis_next_reply(ctl, cmds[i][0], &r[i]) != FD_OK)
            err = redis_lost(ctl, cmds[i][0]);
        else if ((err = redis_check_reply(ctl, cmds[i][0], r[i])) != FD_OK)
            r[i] = NULL; /* freed by redis_check_reply */
    }
    if (err == FD_OK) err = reps_read(ctl, window, &reps, &nreps);
    if (err != FD_OK) {
        redis_drop(ctl);
        goto out;
    }
    int64_t now = r[0]->type == REDIS_REPLY_ARRAY && r[0]->elements == 2
                      ? strtoll(r[0]->element[0]->str, NULL, 10) * 1000 +
                            strtoll(r[0]->element[1]->str, NULL, 10) / 1000
                      : fd_clock_wall_ms();
    const redisReply *orgh = r[1]->elements > 0 ? r[1] : NULL;
    reps_sort(reps, nreps, "won_amount", true);

    nalerts = r[3]->elements / 2;
    alerts = xcalloc(nalerts, sizeof *alerts);
    size_t k = 0;
    for (size_t i = 0; i < nalerts; i++) {
        cJSON *d = cJSON_Parse(r[3]->element[2 * i + 1]->str);
        if (!cJSON_IsObject(d)) {
            cJSON_Delete(d);
            continue;
        }
        alerts[k].doc = d;
        alerts[k].started = jstr(d, "started_at") ? jstr(d, "started_at") : "";
        k++;
    }
    nalerts = k;
    if (nalerts > 1) qsort(alerts, nalerts, sizeof *alerts, cmp_alerts);

    /* the line budget: fixed lines first, then the alerts and the top reps share the rest */
    size_t nstages = fd_funnel_nstages(ctl->fn);
    size_t fixed = (ctl->url ? 1 : 0) + 1 + (1 + nstages + 1) + 1 + 1 + 1 + 1 + 1;
    bool blanks = fixed <= BOARD_LINES;
    if (!blanks) fixed -= 2;
    size_t avail = fixed < BOARD_LINES ? BOARD_LINES - fixed : 0;
    size_t limit = ctl->limit_given ? (size_t)ctl->limit : TOP_DEFAULT;
    size_t top_want = limit < nreps ? limit : nreps;
    size_t keep = nalerts < ALERTS_MIN ? nalerts : ALERTS_MIN; /* alert lines first */
    size_t room = avail > keep ? avail - keep : 0;
    size_t top_n = top_want < room ? top_want : room;
    size_t alerts_n = nalerts < avail - top_n ? nalerts : avail - top_n;

    char line[512], tmp[64], now_s[32];
    if (ctl->url) {
        snprintf(line, sizeof line, "Dashboard: %s \xe2\x80\x94 open it in a browser", ctl->url);
        add_line(lines, line);
    }
    window_words(tmp, sizeof tmp, window);
    format_when(now_s, sizeof now_s, now, now, true);
    snprintf(line, sizeof line, "Sales funnel, %s \xc2\xb7 %s %s%s", tmp, now_s, ctl->cfg.timezone,
             live ? " \xc2\xb7 Ctrl-C quits" : "");
    add_line(lines, line);
    funnel_lines(lines, ctl, orgh);
    if (blanks) add_line(lines, "");
    top_lines(lines, r[2]->elements > 0 ? r[2] : NULL, reps, top_n, nreps);
    if (blanks) add_line(lines, "");
    cJSON *newest = newest_notification(r[6]);
    alert_lines(lines, alerts, nalerts, alerts_n, now, newest);
    cJSON_Delete(newest);
    feed_line(lines, r[4], r[5]->type == REDIS_REPLY_STRING ? r[5]->str : NULL, now);
    /* the last resort (a funnel of many stages): keep the first lines and the feed's */
    while (lines->n > BOARD_LINES) {
        free(lines->item[lines->n - 2]);
        lines->item[lines->n - 2] = lines->item[lines->n - 1];
        lines->n--;
    }
out:
    for (size_t i = 0; i < nalerts; i++)
        cJSON_Delete(alerts[i].doc);
    free(alerts);
    reps_free(reps, nreps);
    for (int i = 0; i < N; i++)
        if (r[i]) freeReplyObject(r[i]);
    free(org);
    free(teams);
    free(firing);
    free(changes);
    free(feed);
    free(stream);
    return err;
}

static void print_lines(FILE *out, const strvec_t *lines) {
    for (size_t i = 0; i < lines->n; i++)
        fprintf(out, "%s\n", lines->item[i]);
}

fd_err_t cmd_board(ctl_t *ctl) {
    strvec_t lines = {0};
    if (ctl->once) {
        fd_err_t err = board_frame(ctl, &lines, false);
        if (err == FD_OK) print_lines(stdout, &lines);
        strvec_clear(&lines);
        return ctl_finish_output(err);
    }
    live_catch_signals();
    bool tty = isatty(STDOUT_FILENO);
    while (!live_stopped()) {
        fd_err_t err = board_frame(ctl, &lines, true);
        if (err != FD_OK) {
            strvec_clear(&lines);
            char line[512];
            if (ctl->url) {
                snprintf(line, sizeof line, "Dashboard: %s \xe2\x80\x94 open it in a browser",
                         ctl->url);
                add_line(&lines, line);
            }
            snprintf(line, sizeof line, "funnelctl board: cannot read Redis; retrying every %g s",
                     ctl->interval);
            add_line(&lines, line);
        }
        /* one write per frame: clear and draw together, so that the board does not flicker */
        char *frame = NULL;
        size_t len = 0;
        FILE *f = xmemstream(&frame, &len);
        if (tty) fputs("\033[H\033[2J", f);
        print_lines(f, &lines);
        if (!tty) fputc('\n', f);
        fclose(f);
        fwrite(frame, 1, len, stdout);
        free(frame);
        strvec_clear(&lines);
        if (fflush(stdout) != 0) return FD_ERR_IO;
        live_sleep(ctl->interval);
    }
    return FD_OK;
}
