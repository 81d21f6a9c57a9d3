// SPDX-License-Identifier: MIT
// Unit tests of the pure parts of the http module: the token comparison, the Bearer header
// parser and the error JSON (expected texts written by hand from SPEC-15 / docs/http.md).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/http.h"

static void test_http_token_equal_only_for_the_same_string(void **state) {
    (void)state;
    assert_true(fd_http_token_equal("s3cret", "s3cret"));
    assert_false(fd_http_token_equal("s3cret", "s3cre"));
    assert_false(fd_http_token_equal("s3cret", "s3cret!"));
    assert_false(fd_http_token_equal("s3cret", "S3cret"));
    assert_false(fd_http_token_equal("s3cret", ""));
    assert_false(fd_http_token_equal("", "x"));
    /* a repeated secret is not the secret: the cycled comparison must not accept it */
    assert_false(fd_http_token_equal("ab", "abab"));
    assert_false(fd_http_token_equal("s3cret", NULL));
    assert_false(fd_http_token_equal(NULL, "s3cret"));
}

static void test_http_bearer_takes_the_token_after_the_scheme(void **state) {
    (void)state;
    assert_string_equal(fd_http_bearer("Bearer abc"), "abc");
    assert_string_equal(fd_http_bearer("bearer   abc"), "abc");
    assert_null(fd_http_bearer("Basic abc"));
    assert_null(fd_http_bearer("Bearerabc"));
    assert_null(fd_http_bearer("Bearer "));
    assert_null(fd_http_bearer(NULL));
}

static void test_http_error_json_names_the_field_or_null(void **state) {
    (void)state;
    char *j = fd_http_error_json(400, "window", "window: expected \"all\"");
    assert_non_null(j);
    assert_string_equal(j, "{\"error\":\"window: expected \\\"all\\\"\",\"field\":\"window\","
                           "\"status\":400}");
    free(j);
    j = fd_http_error_json(404, NULL, "no such path: /x");
    assert_string_equal(j, "{\"error\":\"no such path: /x\",\"field\":null,\"status\":404}");
    free(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_token_equal_only_for_the_same_string),
        cmocka_unit_test(test_http_bearer_takes_the_token_after_the_scheme),
        cmocka_unit_test(test_http_error_json_names_the_field_or_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
