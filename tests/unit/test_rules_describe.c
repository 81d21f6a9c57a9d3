// SPDX-License-Identifier: MIT
// Unit tests of the description of a rule in words (funnelctl rules check).
#include "rules_fixture.h"

static void test_describe_says_the_rule_in_words(void **state) {
    (void)state;
    fd_rules_t *rs = parse_ok(full_doc);
    char buf[1024];
    fd_rules_describe(rs, 0, buf, sizeof buf);
    static const char *const want[] = {
        "proposal-exit-low", "a rep's exit_conv:proposal", "last 7d",
        "below 0.2",         "at least 10 samples",        "held for 2h",
        "after 2h",          "overrides for team-east"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strstr(buf, want[i]) == NULL) fail_msg("'%s' not in '%s'", want[i], buf);
    fd_rules_describe(rs, 2, buf, sizeof buf);
    assert_non_null(strstr(buf, "dropped against the 28 days before by at least 30% and"));
    fd_rules_describe(rs, 3, buf, sizeof buf);
    assert_non_null(strstr(buf, "longer than 21d"));
    /* a lag of 28 days: mature cohorts, no note */
    fd_rules_describe(rs, 4, buf, sizeof buf);
    assert_null(strstr(buf, "immature"));
    fd_rules_destroy(rs);
}

static void test_describe_warns_of_immature_cohort_conversion(void **state) {
    (void)state;
    fd_rules_t *rs = one_rule("'kpi':'conv:lead','scope':'org','window':'7d',"
                              "'threshold':{'op':'<','value':0.1}");
    char buf[1024];
    fd_rules_describe(rs, 0, buf, sizeof buf);
    assert_non_null(strstr(buf, "cohort conversion of recent windows is immature"));
    /* a small buffer is cut and terminated */
    char small[16];
    fd_rules_describe(rs, 0, small, sizeof small);
    assert_int_equal(strlen(small), 15);
    fd_rules_destroy(rs);
}

#define T(f) cmocka_unit_test(f)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_describe_says_the_rule_in_words),
        T(test_describe_warns_of_immature_cohort_conversion),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
