// SPDX-License-Identifier: MIT
// Unit tests of alert notifications: ids stable and distinct, summaries rendered from templates
// (en and zh words, placeholders, truncation on a UTF-8 boundary) and the JSON document (fields,
// order, nulls, rounding); expected texts are written out by hand from docs/alerts.md.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alerting/alertmsg.h"

#define T0 INT64_C(1795341600000) /* 2026-11-22T10:00:00Z */

static fd_alert_t threshold_alert(void) {
    fd_alert_t a = {
        .rule = "proposal-exit-low",
        .severity = "warning",
        .state = "firing",
        .scope = "rep",
        .scope_id = "Anna Snelling",
        .team = "dustin-brinkmann",
        .manager = "Dustin Brinkmann",
        .kpi = "exit_conv:proposal",
        .stage = "proposal",
        .window = "7d",
        .condition = "threshold",
        .r = {.defined = true, .fire = true, .value = 0.123456, .bound = 0.2, .samples = 12},
        .started_ms = T0,
        .at_ms = T0,
    };
    return a;
}

/* ---------------------------------------------------------------------------------------------
 * Ids */

static bool is_hex32(const char *s) {
    if (strlen(s) != FD_ALERT_ID_LEN) return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return false;
    return true;
}

static void test_ids_are_32_hex_digits_and_stable(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert(), b = threshold_alert();
    char id1[FD_ALERT_ID_LEN + 1], id2[FD_ALERT_ID_LEN + 1];
    fd_alertmsg_id(&a, id1);
    /* other strings with the same content, other measurements: the same id */
    char rule[] = "proposal-exit-low";
    b.rule = rule;
    b.r.value = 0.9;
    b.at_ms = T0 + 999;
    fd_alertmsg_id(&b, id2);
    assert_true(is_hex32(id1));
    assert_string_equal(id1, id2);
}

static void test_ids_differ_for_each_identifying_field(void **state) {
    (void)state;
    fd_alert_t base = threshold_alert();
    fd_alert_t v[8];
    for (size_t i = 0; i < 8; i++)
        v[i] = base;
    v[1].rule = "proposal-exit-lo";
    v[2].scope = "team";
    v[3].scope_id = "Anna Snellin";
    v[4].started_ms = T0 + 1;
    v[5].state = "resolved";
    v[6].repeat = 1;
    /* moving a byte between adjacent strings must not collide */
    v[7].rule = "proposal-exit-lowrep";
    v[7].scope = "";
    char ids[8][FD_ALERT_ID_LEN + 1];
    for (size_t i = 0; i < 8; i++)
        fd_alertmsg_id(&v[i], ids[i]);
    for (size_t i = 0; i < 8; i++)
        for (size_t j = i + 1; j < 8; j++)
            if (strcmp(ids[i], ids[j]) == 0) fail_msg("variants %zu and %zu share an id", i, j);
}

static void test_episode_is_shared_by_firing_repeats_and_resolved(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert(), rep = a, res = a;
    rep.repeat = 3;
    res.state = "resolved";
    res.resolved_ms = T0 + 3600000;
    char e1[FD_ALERT_ID_LEN + 1], e2[FD_ALERT_ID_LEN + 1], e3[FD_ALERT_ID_LEN + 1];
    char i1[FD_ALERT_ID_LEN + 1];
    fd_alertmsg_episode(&a, e1);
    fd_alertmsg_episode(&rep, e2);
    fd_alertmsg_episode(&res, e3);
    fd_alertmsg_id(&a, i1);
    assert_true(is_hex32(e1));
    assert_string_equal(e1, e2);
    assert_string_equal(e1, e3);
    assert_string_not_equal(e1, i1);
    fd_alert_t next = a;
    next.started_ms = T0 + 7200000; /* a later episode */
    fd_alertmsg_episode(&next, e2);
    assert_string_not_equal(e1, e2);
}

/* ---------------------------------------------------------------------------------------------
 * Summary */

typedef struct {
    const char *tmpl;
    const char *locale;
    const char *want;
} sum_case_t;

static void test_summary_placeholders(void **state) {
    (void)state;
    static const sum_case_t cases[] = {
        {"{scope} {id}: {kpi} over {window} is {value} ({state}; threshold {bound}, {samples} "
         "samples)",
         "en",
         "rep Anna Snelling: exit_conv:proposal over 7d is 0.1235 (firing; threshold 0.2, 12 "
         "samples)"},
        {"{scope} {id}：{window} 内 {kpi} 为 {value}（{state}；阈值 {bound}，样本 {samples}）",
         "zh",
         "销售 Anna Snelling：7d 内 exit_conv:proposal 为 0.1235（告警中；阈值 0.2，样本 12）"},
        {"{rule}/{severity}/{team}/{manager}/{stage}", "en",
         "proposal-exit-low/warning/dustin-brinkmann/Dustin Brinkmann/proposal"},
        {"since {started_at}", "en", "since 2026-11-22T10:00:00.000Z"},
        {"{unknown} {value", "en", "{unknown} {value"},
        {"{} {{rule}}", "en", "{} {proposal-exit-low}"},
        {"no placeholders", "zh", "no placeholders"},
        {"", "en", ""},
        {"{state}", NULL, "firing"},
        {"{state}", "fr", "firing"},
    };
    fd_alert_t a = threshold_alert();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[512];
        fd_alertmsg_summary_locale(cases[i].tmpl, cases[i].locale, &a, buf, sizeof buf);
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("case %zu:\n  got  '%s'\n  want '%s'", i, buf, cases[i].want);
    }
}

static void test_summary_without_locale_uses_english_words(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert();
    a.state = "resolved";
    a.scope = "org";
    char buf[128];
    fd_alertmsg_summary("{scope}:{state}", &a, buf, sizeof buf);
    assert_string_equal(buf, "org:resolved");
    fd_alertmsg_summary_locale("{scope}:{state}", "zh", &a, buf, sizeof buf);
    assert_string_equal(buf, "全公司:已恢复");
    a.scope = "team";
    fd_alertmsg_summary_locale("{scope}", "zh", &a, buf, sizeof buf);
    assert_string_equal(buf, "团队");
}

static void test_summary_numbers_render_compactly(void **state) {
    (void)state;
    static const struct {
        double value, bound, target, change, z;
        const char *want;
    } cases[] = {
        {12, 7.5, 20, -0.35, -2.345, "12|7.5|20|-35%|-2.35"},
        {0.5, 0.25, 0, 0.12, 3, "0.5|0.25|0|+12%|3"},
        {1234.56, 0.00004, 0, 0.004, 0, "1234.56|0|0|0%|0"},
        {-1.5, 1e9, 0, 1e9, -0.001, "-1.5|1000000000|0|+inf%|0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fd_alert_t a = threshold_alert();
        a.r.value = cases[i].value;
        a.r.bound = cases[i].bound;
        a.r.target = cases[i].target;
        a.r.change = cases[i].change;
        a.r.z = cases[i].z;
        char buf[256];
        fd_alertmsg_summary("{value}|{bound}|{target}|{change_pct}|{z}", &a, buf, sizeof buf);
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("case %zu: got '%s' want '%s'", i, buf, cases[i].want);
    }
}

static void test_summary_missing_values_render_as_dash(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert();
    a.manager = NULL;
    a.stage = NULL;
    a.team = "";
    a.r.defined = false;
    char buf[128];
    fd_alertmsg_summary("{manager}/{stage}/{team}/{value}", &a, buf, sizeof buf);
    assert_string_equal(buf, "-/-/-/-");
}

static void test_summary_truncates_on_a_utf8_boundary(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert();
    a.scope_id = "张伟";
    /* "ab" + 张 (3 bytes) + 伟 (3 bytes): sizes that cut inside a character drop it whole */
    static const struct {
        size_t size;
        const char *want;
    } cases[] = {
        {1, ""},     {2, "a"},    {3, "ab"},   {4, "ab"},     {5, "ab"},
        {6, "ab张"}, {7, "ab张"}, {8, "ab张"}, {9, "ab张伟"}, {10, "ab张伟"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[16];
        memset(buf, 'X', sizeof buf);
        fd_alertmsg_summary("ab{id}", &a, buf, cases[i].size);
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("size %zu: got '%s' want '%s'", cases[i].size, buf, cases[i].want);
    }
    /* literal template text is cut the same way, and nothing follows the cut */
    char buf[6];
    fd_alertmsg_summary("ab阈值{rule}", &a, buf, sizeof buf);
    assert_string_equal(buf, "ab阈");
}

/* ---------------------------------------------------------------------------------------------
 * JSON */

static char *json_of(const fd_alert_t *a, const char *summary) {
    char *out = NULL;
    assert_int_equal(fd_alertmsg_json(a, summary, &out), FD_OK);
    assert_non_null(out);
    return out;
}

static void test_json_threshold_fields_in_order(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert();
    char id[FD_ALERT_ID_LEN + 1], ep[FD_ALERT_ID_LEN + 1];
    fd_alertmsg_id(&a, id);
    fd_alertmsg_episode(&a, ep);
    char *j = json_of(&a, "low");
    char want[1024];
    snprintf(want, sizeof want,
             "{\"alert_id\":\"%s\",\"episode_id\":\"%s\",\"state\":\"firing\","
             "\"rule\":\"proposal-exit-low\",\"severity\":\"warning\","
             "\"condition\":\"threshold\",\"scope\":\"rep\",\"scope_id\":\"Anna Snelling\","
             "\"team\":\"dustin-brinkmann\",\"manager\":\"Dustin Brinkmann\","
             "\"kpi\":\"exit_conv:proposal\",\"stage\":\"proposal\",\"window\":\"7d\","
             "\"value\":0.1235,\"threshold\":0.2,\"samples\":12,"
             "\"started_at\":\"2026-11-22T10:00:00.000Z\",\"resolved_at\":null,"
             "\"at\":\"2026-11-22T10:00:00.000Z\",\"repeat\":0,\"summary\":\"low\"}",
             id, ep);
    assert_string_equal(j, want);
    free(j);
}

static void test_json_target_has_target_and_expected(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert();
    a.condition = "target";
    a.kpi = "activity:visit";
    a.stage = NULL;
    a.window = "week";
    a.r = (fd_rule_result_t){
        .defined = true, .fire = true, .value = 6, .bound = 10, .target = 20, .samples = 6};
    char *j = json_of(&a, "s");
    assert_non_null(strstr(j, "\"stage\":null,\"window\":\"week\",\"value\":6,\"target\":20,"
                              "\"expected\":10,\"samples\":6,\"started_at\""));
    assert_null(strstr(j, "\"threshold\""));
    assert_null(strstr(j, "\"baseline\""));
    free(j);
}

static void test_json_drift_has_baseline_change_z_and_baseline_samples(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert();
    a.condition = "drift";
    a.scope = "team";
    a.scope_id = "dustin-brinkmann";
    a.kpi = "win_rate";
    a.stage = NULL;
    a.r = (fd_rule_result_t){.defined = true,
                             .fire = true,
                             .value = 0.2,
                             .bound = 0.5,
                             .change = -0.6,
                             .z = -1.46969384566990685,
                             .samples = 25,
                             .baseline_samples = 120};
    char *j = json_of(&a, "s");
    assert_non_null(strstr(j, "\"value\":0.2,\"baseline\":0.5,\"change\":-0.6,\"z\":-1.4697,"
                              "\"samples\":25,\"baseline_samples\":120,\"started_at\""));
    assert_null(strstr(j, "\"threshold\""));
    assert_null(strstr(j, "\"expected\""));
    free(j);
}

static void test_json_resolved_with_unknown_value_and_manager(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert();
    a.state = "resolved";
    a.manager = NULL;
    a.r.defined = false;           /* resolved for lack of samples */
    a.resolved_ms = T0 + 90061001; /* +1d 1h 1m 1.001s */
    a.at_ms = a.resolved_ms;
    a.repeat = 2;
    char *j = json_of(&a, "s");
    assert_non_null(strstr(j, "\"manager\":null,"));
    assert_non_null(strstr(j, "\"value\":null,"));
    assert_non_null(strstr(j, "\"resolved_at\":\"2026-11-23T11:01:01.001Z\","
                              "\"at\":\"2026-11-23T11:01:01.001Z\",\"repeat\":2,"));
    free(j);
}

static void test_json_escapes_strings_and_keeps_utf8(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert();
    a.scope_id = "张\"伟\\";
    char *j = json_of(&a, "line\nbreak");
    assert_non_null(strstr(j, "\"scope_id\":\"张\\\"伟\\\\\""));
    assert_non_null(strstr(j, "\"summary\":\"line\\nbreak\""));
    assert_null(strchr(j, '\n'));
    free(j);
}

static void test_json_rounds_to_four_decimals_and_keeps_integers(void **state) {
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {{0.123456, "\"value\":0.1235,"},
                 {3, "\"value\":3,"},
                 {1234.56, "\"value\":1234.56,"},
                 {0.00004, "\"value\":0,"},
                 {2500000000.0, "\"value\":2500000000,"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fd_alert_t a = threshold_alert();
        a.r.value = cases[i].v;
        char *j = json_of(&a, "");
        if (strstr(j, cases[i].want) == NULL) fail_msg("case %zu: %s", i, j);
        free(j);
    }
}

static void test_json_rejects_null_arguments(void **state) {
    (void)state;
    char *out = (char *)1;
    assert_int_equal(fd_alertmsg_json(NULL, "", &out), FD_ERR_INVAL);
    assert_null(out);
    fd_alert_t a = threshold_alert();
    assert_int_equal(fd_alertmsg_json(&a, "", NULL), FD_ERR_INVAL);
}

static void test_summary_edge_buffers_and_null_template(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert();
    char buf[8] = "XXXXXXX";
    fd_alertmsg_summary("{rule}", &a, buf, 0);
    assert_string_equal(buf, "XXXXXXX"); /* size 0: untouched */
    fd_alertmsg_summary(NULL, &a, buf, sizeof buf);
    assert_string_equal(buf, "");
    fd_alertmsg_summary("{rule}", &a, buf, sizeof buf);
    assert_string_equal(buf, "proposa");
}

static void test_json_org_scope_has_empty_id_and_team(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert();
    a.scope = "org";
    a.scope_id = "";
    a.team = "";
    a.manager = NULL;
    char *j = json_of(&a, "s");
    assert_non_null(strstr(j, "\"scope\":\"org\",\"scope_id\":\"\",\"team\":\"\","
                              "\"manager\":null,"));
    free(j);
}

static void test_summary_default_templates_render_in_both_locales(void **state) {
    (void)state;
    fd_alert_t a = threshold_alert();
    a.condition = "drift";
    a.scope = "team";
    a.scope_id = "cara-losch";
    a.kpi = "win_rate";
    a.r = (fd_rule_result_t){
        .defined = true, .value = 0.2, .bound = 0.5, .change = -0.6, .z = -3.04, .samples = 25};
    char buf[256];
    fd_alertmsg_summary("{scope} {id}: {kpi} over {window} is {value} vs baseline {bound} "
                        "({change_pct}, z={z}; {state})",
                        &a, buf, sizeof buf);
    assert_string_equal(buf,
                        "team cara-losch: win_rate over 7d is 0.2 vs baseline 0.5 (-60%, z=-3.04; "
                        "firing)");
    fd_alertmsg_summary_locale("{scope} {id}：{window} 内 {kpi} 为 {value}，基线 {bound}"
                               "（{change_pct}，z={z}；{state}）",
                               "zh", &a, buf, sizeof buf);
    assert_string_equal(
        buf, "团队 cara-losch：7d 内 win_rate 为 0.2，基线 0.5（-60%，z=-3.04；告警中）");
}

#define T(f) cmocka_unit_test(f)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_ids_are_32_hex_digits_and_stable),
        T(test_ids_differ_for_each_identifying_field),
        T(test_episode_is_shared_by_firing_repeats_and_resolved),
        T(test_summary_placeholders),
        T(test_summary_without_locale_uses_english_words),
        T(test_summary_numbers_render_compactly),
        T(test_summary_missing_values_render_as_dash),
        T(test_summary_truncates_on_a_utf8_boundary),
        T(test_json_threshold_fields_in_order),
        T(test_json_target_has_target_and_expected),
        T(test_json_drift_has_baseline_change_z_and_baseline_samples),
        T(test_json_resolved_with_unknown_value_and_manager),
        T(test_json_escapes_strings_and_keeps_utf8),
        T(test_json_rounds_to_four_decimals_and_keeps_integers),
        T(test_json_rejects_null_arguments),
        T(test_summary_edge_buffers_and_null_template),
        T(test_json_org_scope_has_empty_id_and_team),
        T(test_summary_default_templates_render_in_both_locales),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
