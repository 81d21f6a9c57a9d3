// SPDX-License-Identifier: MIT
// Fuzz target of the alert rules file (tests, drives layer 2): fd_rules_parse on arbitrary bytes,
// then every accessor, the description, evaluations and the notification (summary template and
// JSON) of each parsed rule, checking the contracts of rules.h and alertmsg.h.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alerting/alertmsg.h"
#include "alerting/rules.h"
#include "fuzz_common.h"
#include "model/event.h"

/* The notification of rule i for one result: its summary from the rule's templates (the rules
 * file's own text) and its JSON document. */
static void check_message(const fd_rules_t *rs, size_t i, const char *kpi, const char *id,
                          const char *team, const fd_rule_result_t *res) {
    const fd_rule_t *r = fd_rules_at(rs, i);
    fd_alert_t a = {.rule = r->name,
                    .severity = r->severity,
                    .state = res->fire ? "firing" : "resolved",
                    .scope = fd_scope_name(r->scope),
                    .scope_id = id,
                    .team = team,
                    .manager = fd_rules_manager(rs, team),
                    .kpi = kpi,
                    .stage = NULL,
                    .window = r->window.name,
                    .condition = fd_cond_name(r->cond),
                    .r = *res,
                    .started_ms = 1795370400000,
                    .resolved_ms = res->fire ? 0 : 1795374000000,
                    .at_ms = 1795374000000,
                    .repeat = 2};
    static const char *const locales[] = {"en", "zh"};
    char summary[512], tiny[7];
    for (size_t l = 0; l < 2; l++) {
        const char *tmpl = fd_rules_template(rs, i, locales[l]);
        fd_alertmsg_summary_locale(tmpl, locales[l], &a, summary, sizeof summary);
        size_t n = strnlen(summary, sizeof summary);
        FUZZ_CHECK(n < sizeof summary);
        /* truncated on a UTF-8 boundary: a valid template gives a valid summary */
        if (fd_utf8_valid(tmpl, strlen(tmpl))) FUZZ_CHECK(fd_utf8_valid(summary, n));
        fd_alertmsg_summary_locale(tmpl, locales[l], &a, tiny, sizeof tiny);
        FUZZ_CHECK(memchr(tiny, '\0', sizeof tiny) != NULL);
        if (fd_utf8_valid(tmpl, strlen(tmpl))) FUZZ_CHECK(fd_utf8_valid(tiny, strlen(tiny)));
    }
    char *json = NULL;
    if (fd_alertmsg_json(&a, summary, &json) == FD_OK) {
        FUZZ_CHECK(json != NULL && strchr(json, '\n') == NULL);
        free(json);
    }
}

/* Exercises rule i the way the alerter and funnelctl do, on small synthetic inputs. */
static void check_rule(const fd_funnel_t *fn, const fd_rules_t *rs, size_t i) {
    const fd_rule_t *r = fd_rules_at(rs, i);
    FUZZ_CHECK(r != NULL);
    size_t nlen = strnlen(r->name, sizeof r->name);
    FUZZ_CHECK(nlen >= 1 && nlen <= FD_RULE_NAME_MAX);
    FUZZ_CHECK(strcmp(r->severity, "info") == 0 || strcmp(r->severity, "warning") == 0 ||
               strcmp(r->severity, "critical") == 0);
    FUZZ_CHECK((int)r->kpi.kind >= 0 && r->kpi.kind < FD_KPI_COUNT);
    FUZZ_CHECK((int)r->scope >= 0 && r->scope < FD_SCOPE_COUNT);
    FUZZ_CHECK((int)r->cond >= 0 && r->cond <= FD_COND_DRIFT);
    FUZZ_CHECK(memchr(r->window.name, '\0', sizeof r->window.name) != NULL);
    if (r->window.type == FD_RULE_WIN_ROLLING)
        FUZZ_CHECK(r->window.span_ms > 0 && r->window.lag_ms >= 0);

    char kpi[128], text[4096], tiny[9];
    fd_kpi_name(fn, r->kpi, kpi, sizeof kpi);
    FUZZ_CHECK(kpi[0] != '\0');
    size_t idx[2];
    size_t nidx = fd_kpi_fields(fn, r->kpi, idx);
    FUZZ_CHECK(nidx <= 2);
    for (size_t k = 0; k < nidx; k++)
        FUZZ_CHECK(idx[k] < fd_funnel_nfields(fn));
    fd_rules_describe(rs, i, text, sizeof text);
    FUZZ_CHECK(strnlen(text, sizeof text) < sizeof text && text[0] != '\0');
    fd_rules_describe(rs, i, tiny, sizeof tiny);
    FUZZ_CHECK(memchr(tiny, '\0', sizeof tiny) != NULL);
    FUZZ_CHECK(fd_rules_template(rs, i, "en") != NULL && fd_rules_template(rs, i, "zh") != NULL);

    fd_rule_params_t p;
    fd_rules_base_params(rs, i, &p);
    int ndays = fd_rules_baseline_days(rs, i);
    FUZZ_CHECK(ndays >= 0 && ndays <= fd_rules_max_baseline_days(rs));
    if (r->cond == FD_COND_DRIFT) FUZZ_CHECK(ndays >= 1);

    /* Two windows of fields: all zero (every ratio undefined) and small counts. */
    size_t nf = fd_funnel_nfields(fn);
    int64_t *zero = calloc(nf, sizeof *zero), *some = calloc(nf, sizeof *some);
    const int64_t **days = calloc((size_t)ndays + 1, sizeof *days);
    FUZZ_CHECK(zero != NULL && some != NULL && days != NULL);
    for (size_t k = 0; k < nf; k++)
        some[k] = (int64_t)((k * 7 + 3) % 11);
    static const char *const ids[][2] = {{"r1", "t1"}, {"t1", ""}, {"", ""}};
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        if (!fd_rules_params(rs, i, ids[k][0], ids[k][1], &p)) continue;
        for (int pass = 0; pass < 2; pass++) {
            for (int d = 0; d < ndays; d++)
                days[d] = d % 2 ? zero : some;
            fd_rule_input_t in = {.cur = pass ? some : zero,
                                  .elapsed = 0.5,
                                  .cur_days = 7,
                                  .days = days,
                                  .ndays = (size_t)ndays,
                                  .stalled = pass ? 3 : 0};
            fd_rule_result_t res;
            fd_rules_eval(rs, i, &p, &in, &res);
            /* fire and clear exclude each other; no evidence never fires */
            FUZZ_CHECK(!(res.fire && res.clear));
            if (!res.defined) FUZZ_CHECK(!res.fire);
            if (res.defined) FUZZ_CHECK(!isnan(res.value));
            check_message(rs, i, kpi, ids[k][0], ids[k][1], &res);
        }
    }
    free(days);
    free(zero);
    free(some);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const fd_funnel_t *fn = fuzz_funnel();
    /* The parser gets a length, not a NUL-terminated string: a page that faults follows. */
    const char *buf = fuzz_guarded_copy(data, size);

    fd_rules_t *rs = (fd_rules_t *)(uintptr_t)buf; /* must become NULL on error */
    char errstr[1024];
    fd_err_t err = fd_rules_parse(fn, buf, size, &rs, errstr, sizeof errstr);
    FUZZ_CHECK(err == FD_OK || err == FD_ERR_CONFIG || err == FD_ERR_NOMEM);
    if (err != FD_OK) {
        FUZZ_CHECK(rs == NULL);
        FUZZ_CHECK(errstr[0] != '\0' && strnlen(errstr, sizeof errstr) < sizeof errstr);
    } else {
        FUZZ_CHECK(rs != NULL);
        FUZZ_CHECK(strcmp(fd_rules_locale(rs), "en") == 0 ||
                   strcmp(fd_rules_locale(rs), "zh") == 0);
        FUZZ_CHECK(fd_rules_interval_ms(rs) >= 1000 && fd_rules_stall_scan_ms(rs) >= 1000);
        FUZZ_CHECK(fd_rules_hour_span_ms(rs) >= 0);
        (void)fd_rules_wall_clock(rs);
        (void)fd_rules_manager(rs, "t1");
        for (size_t i = 0; i < fd_rules_count(rs); i++)
            check_rule(fn, rs, i);
        fd_rules_destroy(rs);
    }
    return 0;
}
