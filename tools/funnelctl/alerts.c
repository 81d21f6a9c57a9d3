// SPDX-License-Identifier: MIT
// funnelctl alerts: the alerts firing now, or the last notifications of the alert stream, as a
// table or as the stored JSON documents (a tool).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "io/keys.h"

/* One stored alert document, parsed for the table. */
typedef struct {
    char *json; /* as stored */
    cJSON *doc; /* NULL when the text is not a JSON object */
    int rank;   /* critical 0, warning 1, info 2, anything else 3 */
} alert_row_t;

static const char *doc_str(const cJSON *doc, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, key);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* A number of the document as text ("0.1235", "12"), "-" when absent or null. */
static void doc_num(const cJSON *doc, const char *key, char *buf, size_t size) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!cJSON_IsNumber(it)) {
        snprintf(buf, size, "-");
        return;
    }
    snprintf(buf, size, "%.4f", it->valuedouble);
    char *e = buf + strlen(buf) - 1; /* drop trailing zeros: 0.2000 -> 0.2, 12.0000 -> 12 */
    while (*e == '0')
        *e-- = '\0';
    if (*e == '.') *e = '\0';
}

static void alert_row_init(alert_row_t *r, const char *json) {
    static const char *const sev[] = {"critical", "warning", "info"};
    r->json = xstrdup(json);
    r->doc = cJSON_Parse(json);
    if (r->doc && !cJSON_IsObject(r->doc)) {
        cJSON_Delete(r->doc);
        r->doc = NULL;
    }
    r->rank = 3;
    const char *s = r->doc ? doc_str(r->doc, "severity") : NULL;
    for (int k = 0; k < 3 && s; k++)
        if (strcmp(s, sev[k]) == 0) r->rank = k;
}

static int cmp_alert_rows(const void *pa, const void *pb) {
    const alert_row_t *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank - b->rank;
    /* RFC 3339 UTC times of one format sort as text */
    const char *sa = a->doc ? doc_str(a->doc, "started_at") : NULL;
    const char *sb = b->doc ? doc_str(b->doc, "started_at") : NULL;
    int c = strcmp(sa ? sa : "", sb ? sb : "");
    return c ? c : strcmp(a->json, b->json);
}

static void print_alert_table(FILE *out, const alert_row_t *rows, size_t n, bool history) {
    /* history: at, state, then the columns of the firing table */
    static const char *const head[] = {"at",      "state", "severity", "rule", "scope id",
                                       "manager", "kpi",   "value",    "vs",   "since"};
    size_t first = history ? 0 : 2;
    table_t t = {.ncols = 10 - first};
    for (size_t c = 0; c < t.ncols; c++)
        t.left[c] = strcmp(head[first + c], "value") != 0;
    for (size_t c = first; c < 10; c++)
        table_cell(&t, head[c]);
    for (size_t i = 0; i < n; i++) {
        const cJSON *d = rows[i].doc;
        if (d == NULL) {
            for (size_t c = 0; c < t.ncols; c++)
                table_cell(&t, c == 0 ? "(unreadable)" : "");
            continue;
        }
        char value[48], bound[48], vs[160], scope[300];
        if (history) {
            table_cell(&t, doc_str(d, "at"));
            table_cell(&t, doc_str(d, "state"));
        }
        table_cell(&t, doc_str(d, "severity"));
        table_cell(&t, doc_str(d, "rule"));
        const char *sid = doc_str(d, "scope_id");
        snprintf(scope, sizeof scope, "%s%s%s", doc_str(d, "scope") ? doc_str(d, "scope") : "?",
                 sid && sid[0] ? " " : "", sid ? sid : "");
        table_cell(&t, scope);
        table_cell(&t, doc_str(d, "manager") ? doc_str(d, "manager") : "-");
        table_cell(&t, doc_str(d, "kpi"));
        doc_num(d, "value", value, sizeof value);
        table_cell(&t, value);
        const char *cond = doc_str(d, "condition");
        if (cond && strcmp(cond, "target") == 0) {
            char target[48];
            doc_num(d, "expected", bound, sizeof bound);
            doc_num(d, "target", target, sizeof target);
            snprintf(vs, sizeof vs, "expected %s of %s", bound, target);
        } else if (cond && strcmp(cond, "drift") == 0) {
            const cJSON *ch = cJSON_GetObjectItemCaseSensitive(d, "change");
            doc_num(d, "baseline", bound, sizeof bound);
            if (cJSON_IsNumber(ch) && fabs(ch->valuedouble) < 1e6)
                snprintf(vs, sizeof vs, "baseline %s (%+.0f%%)", bound, ch->valuedouble * 100);
            else
                snprintf(vs, sizeof vs, "baseline %s", bound);
        } else {
            doc_num(d, "threshold", bound, sizeof bound);
            snprintf(vs, sizeof vs, "threshold %s", bound);
        }
        table_cell(&t, vs);
        table_cell(&t, doc_str(d, "started_at"));
    }
    table_print(out, &t);
}

static void print_alert_json(FILE *out, const alert_row_t *rows, size_t n) {
    fputc('[', out);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",\n " : "", out);
        if (rows[i].doc)
            fputs(rows[i].json, out); /* as stored: funneld wrote one line of JSON */
        else
            json_string(out, rows[i].json);
    }
    fputs("]\n", out);
}

/* The last ctl->history entries of <prefix>:alerts, newest first: XREVRANGE ... COUNT N. */
static fd_err_t read_alert_history(ctl_t *ctl, alert_row_t **rows, size_t *n) {
    char *key = key_single(ctl, FD_KEY_ALERTS);
    char count[24];
    snprintf(count, sizeof count, "%ld", ctl->history);
    const char *argv[] = {"XREVRANGE", key, "+", "-", "COUNT", count};
    char what[300];
    snprintf(what, sizeof what, "XREVRANGE %s + - COUNT %s", key, count);
    redisReply *r;
    fd_err_t err = redis_run(ctl, what, 6, argv, &r);
    free(key);
    if (err != FD_OK) return err;
    if (r->type != REDIS_REPLY_ARRAY) {
        ctl_fail(FD_ERR_REDIS, "%s: unexpected reply type %d", what, r->type);
        freeReplyObject(r);
        return FD_ERR_REDIS;
    }
    *rows = xcalloc(r->elements, sizeof **rows);
    for (size_t i = 0; i < r->elements; i++) {
        /* entry = [id, [field, value, ...]] */
        const redisReply *e = r->element[i];
        const char *json = NULL;
        if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
            e->element[1]->type == REDIS_REPLY_ARRAY) {
            const redisReply *f = e->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                if (f->element[k]->type == REDIS_REPLY_STRING &&
                    strcmp(f->element[k]->str, "json") == 0 &&
                    f->element[k + 1]->type == REDIS_REPLY_STRING)
                    json = f->element[k + 1]->str;
        }
        alert_row_init(&(*rows)[(*n)++], json ? json : "");
    }
    freeReplyObject(r);
    return FD_OK;
}

fd_err_t cmd_alerts(ctl_t *ctl) {
    fd_err_t err = redis_open(ctl);
    if (err != FD_OK) return err;
    alert_row_t *rows = NULL;
    size_t n = 0;
    if (ctl->history > 0) {
        if ((err = read_alert_history(ctl, &rows, &n)) != FD_OK) return err;
    } else {
        char *key = key_single(ctl, FD_KEY_ALERTS_FIRING);
        redisReply *h = NULL;
        err = redis_hgetall(ctl, key, &h);
        free(key);
        if (err != FD_OK) return err;
        size_t cnt = h ? h->elements / 2 : 0;
        rows = xcalloc(cnt, sizeof *rows);
        for (size_t i = 0; i < cnt; i++)
            alert_row_init(&rows[n++], h->element[2 * i + 1]->str);
        if (h) freeReplyObject(h);
        if (n > 1) qsort(rows, n, sizeof *rows, cmp_alert_rows);
    }
    if (ctl->json)
        print_alert_json(stdout, rows, n);
    else if (n == 0)
        printf(ctl->history > 0 ? "no alert notifications\n" : "no firing alerts\n");
    else
        print_alert_table(stdout, rows, n, ctl->history > 0);
    for (size_t i = 0; i < n; i++) {
        free(rows[i].json);
        cJSON_Delete(rows[i].doc);
    }
    free(rows);
    return ctl_finish_output(FD_OK);
}
