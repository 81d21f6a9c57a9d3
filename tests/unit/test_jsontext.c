// SPDX-License-Identifier: MIT
// Unit tests of the JSON text checks: \u0000 escapes inside strings, and what is not one.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/jsontext.h"

typedef struct {
    const char *name;
    const char *text;
    bool found;
    size_t at;
} case_t;

static void test_nul_escapes_inside_strings_are_found_and_nothing_else(void **state) {
    (void)state;
    static const case_t cases[] = {
        {"none", "{\"a\":\"b\"}", false, 0},
        {"in a value", "{\"a\":\"x\\u0000y\"}", true, 7},
        {"in a key", "{\"a\\u0000\":1}", true, 3},
        {"other escapes", "{\"a\":\"\\u0001\\u00e9\\n\"}", false, 0},
        {"escaped backslash before u0000", "{\"a\":\"\\\\u0000\"}", false, 0},
        {"escaped quote keeps the string", "{\"a\":\"\\\"\\u0000\"}", true, 8},
        {"outside a string", "[1] \\u0000", false, 0},
        {"cut short", "{\"a\":\"\\u000", false, 0},
        {"uppercase hex is not zero", "{\"a\":\"\\u00A0\"}", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t at = 99;
        bool got = fd_jsontext_has_nul_escape(cases[i].text, strlen(cases[i].text), &at);
        if (got != cases[i].found) fail_msg("%s: found %d", cases[i].name, got);
        if (got && at != cases[i].at)
            fail_msg("%s: at %zu, want %zu", cases[i].name, at, cases[i].at);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nul_escapes_inside_strings_are_found_and_nothing_else),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
