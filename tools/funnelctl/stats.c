// SPDX-License-Identifier: MIT
// funnelctl stats: the <prefix>:stats hash, what funneld accepted, dropped and rejected (a tool).
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "io/keys.h"

fd_err_t cmd_stats(ctl_t *ctl) {
    fd_err_t err = redis_open(ctl);
    if (err != FD_OK) return err;
    char *key = key_single(ctl, FD_KEY_STATS);
    redisReply *h = NULL;
    if ((err = redis_hgetall(ctl, key, &h)) != FD_OK) {
        free(key);
        return err;
    }
    if (h == NULL) {
        err = ctl_fail(FD_ERR_NOTFOUND,
                       "no stats at '%s' (prefix '%s'): funneld has applied nothing with this "
                       "prefix",
                       key, ctl->cfg.prefix);
        free(key);
        return err;
    }
    free(key);
    static const char *const known[] = {"accepted",         "duplicates", "rejected",
                                        "beyond_retention", "ignored",    "batches"};
    const size_t nknown = sizeof known / sizeof known[0];
    /* rejected:<reason> fields, sorted, shown under rejected */
    strvec_t reasons = {0};
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (strncmp(h->element[i]->str, "rejected:", 9) == 0)
            strvec_push(&reasons, xstrdup(h->element[i]->str));
    strvec_sort(&reasons);

    if (ctl->json) {
        fputc('{', stdout);
        bool first = true;
        for (size_t k = 0; k < nknown; k++) {
            fputs(first ? "" : ", ", stdout);
            first = false;
            json_string(stdout, known[k]);
            fputs(": ", stdout);
            json_value(stdout, hget_or(h, known[k], "0"));
            if (strcmp(known[k], "rejected") == 0) {
                for (size_t i = 0; i < reasons.n; i++) {
                    fputs(", ", stdout);
                    json_string(stdout, reasons.item[i]);
                    fputs(": ", stdout);
                    json_value(stdout, hget(h, reasons.item[i]));
                }
            }
        }
        for (size_t i = 0; i + 1 < h->elements; i += 2) { /* fields of a newer funneld */
            const char *f = h->element[i]->str;
            bool seen = strncmp(f, "rejected:", 9) == 0;
            for (size_t k = 0; k < nknown && !seen; k++)
                seen = strcmp(f, known[k]) == 0;
            if (seen) continue;
            fputs(", ", stdout);
            json_string(stdout, f);
            fputs(": ", stdout);
            json_value(stdout, h->element[i + 1]->str);
        }
        fputs("}\n", stdout);
    } else {
        table_t t = {.ncols = 2};
        for (size_t k = 0; k < nknown; k++) {
            table_cell(&t, known[k]);
            table_cell(&t, hget_or(h, known[k], "0"));
            if (strcmp(known[k], "rejected") == 0) {
                for (size_t i = 0; i < reasons.n; i++) {
                    char *label = xasprintf("  %s", reasons.item[i] + 9);
                    table_cell(&t, label);
                    table_cell(&t, hget(h, reasons.item[i]));
                    free(label);
                }
            }
        }
        for (size_t i = 0; i + 1 < h->elements; i += 2) {
            const char *f = h->element[i]->str;
            bool seen = strncmp(f, "rejected:", 9) == 0;
            for (size_t k = 0; k < nknown && !seen; k++)
                seen = strcmp(f, known[k]) == 0;
            if (seen) continue;
            table_cell(&t, f);
            table_cell(&t, h->element[i + 1]->str);
        }
        table_print(stdout, &t);
    }
    strvec_clear(&reasons);
    freeReplyObject(h);
    return ctl_finish_output(FD_OK);
}
