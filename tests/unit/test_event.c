// SPDX-License-Identifier: MIT
// Unit tests of the event contract: every rejection reason, the cJSON 1.7.15 traps, ids, RFC 3339
// timestamps, amounts and scores (expected values worked out by hand from docs/events.md).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/event.h"

static fd_funnel_t *fn;

static int setup(void **state) {
    (void)state;
    static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
    static const char *const kinds[] = {"call", "visit", "email", "meeting", "follow_up"};
    char err[256];
    return fd_funnel_new(stages, 5, kinds, 5, &fn, err, sizeof err) == FD_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    fd_funnel_destroy(fn);
    return 0;
}

static char errstr[512];

static fd_reject_t parse_n(const char *buf, size_t len, fd_event_t *ev) {
    errstr[0] = '\0';
    return fd_event_parse(fn, buf, len, ev, errstr, sizeof errstr);
}

static fd_reject_t parse(const char *json, fd_event_t *ev) {
    return parse_n(json, strlen(json), ev);
}

/* Common valid fields; cases add type-specific ones. 2026-11-22T18:00:00Z = 1795370400000 ms:
 * 20779 days since 1970-01-01 (56 years with 14 leap days = 20454, + 325 days of 2026) * 86400
 * + 18 h. */
#define ID   "\"event_id\":\"e1\",\"occurred_at\":\"2026-11-22T18:00:00Z\",\"rep_id\":\"r1\""
#define T_MS INT64_C(1795370400000)
#define WON  "{" ID ",\"type\":\"deal.won\",\"deal_id\":\"d1\""

/* ---- rejections, one table ---- */

typedef struct {
    const char *name;
    const char *json;
    fd_reject_t reason;
    const char *msg; /* must appear in errstr: the field, and what was found */
} reject_case_t;

static const reject_case_t reject_cases[] = {
    /* invalid UTF-8, anywhere, before any other check */
    {"utf8 in value", "{" ID ",\"type\":\"deal.won\",\"deal_id\":\"d\xff\"}", FD_REJECT_NOT_UTF8,
     "payload"},
    {"utf8 in key", "{" ID ",\"type\":\"deal.won\",\"deal_id\":\"d1\",\"\xc3\x28\":1}",
     FD_REJECT_NOT_UTF8, "payload"},
    {"utf8 overlong slash", WON ",\"x\":\"\xc0\xaf\"}", FD_REJECT_NOT_UTF8, "0xc0"},
    {"utf8 surrogate", WON ",\"x\":\"\xed\xa0\x80\"}", FD_REJECT_NOT_UTF8, "payload"},
    {"utf8 above U+10FFFF", WON ",\"x\":\"\xf4\x90\x80\x80\"}", FD_REJECT_NOT_UTF8, "payload"},
    {"utf8 truncated at end", WON "}\xe5\xbc", FD_REJECT_NOT_UTF8, "payload"},
    {"utf8 outranks depth", "{\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]],\"y\":\"\xff\"}",
     FD_REJECT_NOT_UTF8, "payload"},
    /* NUL escapes */
    {"nul in event_id", "{\"event_id\":\"a\\u0000b\",\"type\":\"deal.won\"}",
     FD_REJECT_NUL_CHARACTER, "\\u0000"},
    {"nul in key", WON ",\"a\\u0000\":1}", FD_REJECT_NUL_CHARACTER, "payload"},
    /* the table's order: too_deep before nul_character, wherever each is in the bytes */
    {"depth outranks an earlier nul",
     WON ",\"a\":\"\\u0000\",\"y\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}", FD_REJECT_TOO_DEEP,
     "nesting"},
    /* not JSON, including what cJSON 1.7.15 would accept */
    {"empty payload", "", FD_REJECT_NOT_JSON, "payload"},
    {"truncated object", "{\"event_id\":\"e1\"", FD_REJECT_NOT_JSON, "payload"},
    {"trailing byte", WON "}x", FD_REJECT_NOT_JSON, "trailing"},
    {"trailing object", WON "} {}", FD_REJECT_NOT_JSON, "trailing"},
    {"single quotes", "{'event_id':'e1'}", FD_REJECT_NOT_JSON, "payload"},
    {"raw tab in string", WON ",\"x\":\"a\tb\"}", FD_REJECT_NOT_JSON, "payload"},
    {"raw control outside string", WON ",\x01\"x\":1}", FD_REJECT_NOT_JSON, "payload"},
    {"bad hex escape", WON ",\"x\":\"\\uZZZZ\"}", FD_REJECT_NOT_JSON, "payload"},
    {"unknown escape", WON ",\"x\":\"\\q\"}", FD_REJECT_NOT_JSON, "payload"},
    {"lone surrogate escape", WON ",\"x\":\"\\ud800\"}", FD_REJECT_NOT_JSON, "payload"},
    {"byte order mark", "\xef\xbb\xbf" WON "}", FD_REJECT_NOT_JSON, "payload"},
    {"missing comma", "{\"a\":1 \"b\":2}", FD_REJECT_NOT_JSON, "payload"},
    /* numbers outside the JSON grammar, which cJSON hands to strtod */
    {"number with a leading zero", WON ",\"x\":01}", FD_REJECT_NOT_JSON, "payload"},
    {"number 00", WON ",\"x\":00}", FD_REJECT_NOT_JSON, "payload"},
    {"number with a trailing dot", WON ",\"x\":4.}", FD_REJECT_NOT_JSON, "payload"},
    {"number without integer part", WON ",\"x\":-.5}", FD_REJECT_NOT_JSON, "payload"},
    {"number with dot then exponent", WON ",\"x\":1.e3}", FD_REJECT_NOT_JSON, "payload"},
    {"number with empty exponent", WON ",\"x\":1e+}", FD_REJECT_NOT_JSON, "payload"},
    {"number with a plus sign", WON ",\"x\":[-+1]}", FD_REJECT_NOT_JSON, "payload"},
    {"timestamp with a leading zero",
     "{\"event_id\":\"e1\",\"occurred_at\":01795370400000,\"rep_id\":\"r1\","
     "\"type\":\"deal.won\",\"deal_id\":\"d1\"}",
     FD_REJECT_NOT_JSON, "payload"},
    /* not an object */
    {"array", "[1,2]", FD_REJECT_NOT_OBJECT, "got array"},
    {"string", "\"deal.won\"", FD_REJECT_NOT_OBJECT, "got string"},
    {"number", "42", FD_REJECT_NOT_OBJECT, "got number"},
    {"null", "null", FD_REJECT_NOT_OBJECT, "got null"},
    /* duplicate keys: cJSON would silently keep the first */
    {"duplicate known key", WON ",\"event_id\":\"e2\"}", FD_REJECT_DUPLICATE_KEY, "event_id"},
    {"duplicate unknown key", WON ",\"x\":1,\"y\":2,\"x\":3}", FD_REJECT_DUPLICATE_KEY, "\"x\""},
    {"duplicate before field errors", "{\"type\":1,\"a\":1,\"b\":0,\"a\":2}",
     FD_REJECT_DUPLICATE_KEY, "\"a\""},
    /* missing fields */
    {"event_id missing",
     "{\"type\":\"deal.won\",\"occurred_at\":0,\"rep_id\":\"r\","
     "\"deal_id\":\"d\"}",
     FD_REJECT_MISSING_FIELD, "event_id: required"},
    {"Event_ID is an unknown field",
     "{\"Event_ID\":\"e1\",\"type\":\"deal.won\",\"occurred_at\":0,"
     "\"rep_id\":\"r\",\"deal_id\":\"d\"}",
     FD_REJECT_MISSING_FIELD, "event_id: required"},
    {"event_ID is an unknown field",
     "{\"event_ID\":\"e1\",\"type\":\"deal.won\",\"occurred_at\":0,\"rep_id\":\"r\",\"deal_id\":"
     "\"d\"}",
     FD_REJECT_MISSING_FIELD, "event_id: required"},
    {"type missing", "{" ID ",\"deal_id\":\"d1\"}", FD_REJECT_MISSING_FIELD, "type: required"},
    {"occurred_at missing",
     "{\"event_id\":\"e1\",\"type\":\"deal.won\",\"rep_id\":\"r1\","
     "\"deal_id\":\"d1\"}",
     FD_REJECT_MISSING_FIELD, "occurred_at: required"},
    {"rep_id missing",
     "{\"event_id\":\"e1\",\"type\":\"deal.won\",\"occurred_at\":0,"
     "\"deal_id\":\"d1\"}",
     FD_REJECT_MISSING_FIELD, "rep_id: required"},
    {"deal_id missing on deal.won", "{" ID ",\"type\":\"deal.won\"}", FD_REJECT_MISSING_FIELD,
     "deal_id: required for deal.won"},
    {"deal_id missing on deal.created", "{" ID ",\"type\":\"deal.created\"}",
     FD_REJECT_MISSING_FIELD, "deal_id: required for deal.created"},
    {"stage missing on stage_changed", "{" ID ",\"type\":\"deal.stage_changed\",\"deal_id\":\"d\"}",
     FD_REJECT_MISSING_FIELD, "stage: required for deal.stage_changed"},
    {"activity missing", "{" ID ",\"type\":\"activity.logged\"}", FD_REJECT_MISSING_FIELD,
     "activity: required"},
    /* wrong JSON types */
    {"event_id number", "{\"event_id\":17,\"type\":\"deal.won\"}", FD_REJECT_WRONG_TYPE,
     "event_id: expected string, got number"},
    {"type number", "{\"event_id\":\"e\",\"type\":3}", FD_REJECT_WRONG_TYPE,
     "type: expected string, got number"},
    {"occurred_at boolean", "{\"event_id\":\"e\",\"type\":\"deal.won\",\"occurred_at\":true}",
     FD_REJECT_WRONG_TYPE, "occurred_at: expected string (RFC 3339) or integer"},
    {"occurred_at null", "{\"event_id\":\"e\",\"type\":\"deal.won\",\"occurred_at\":null}",
     FD_REJECT_WRONG_TYPE, "got null"},
    {"rep_id null", "{\"event_id\":\"e\",\"type\":\"deal.won\",\"occurred_at\":0,\"rep_id\":null}",
     FD_REJECT_WRONG_TYPE, "rep_id: expected string, got null"},
    {"team_id array", WON ",\"team_id\":[\"t\"]}", FD_REJECT_WRONG_TYPE,
     "team_id: expected string, got array"},
    {"deal_id object", "{" ID ",\"type\":\"deal.won\",\"deal_id\":{}}", FD_REJECT_WRONG_TYPE,
     "deal_id: expected string, got object"},
    {"stage number", "{" ID ",\"type\":\"deal.stage_changed\",\"deal_id\":\"d\",\"stage\":2}",
     FD_REJECT_WRONG_TYPE, "stage: expected string, got number"},
    {"amount string", WON ",\"amount\":\"10.00\"}", FD_REJECT_WRONG_TYPE,
     "amount: expected number, got string"},
    {"activity number", "{" ID ",\"type\":\"activity.logged\",\"activity\":1}",
     FD_REJECT_WRONG_TYPE, "activity: expected string"},
    {"score string", "{" ID ",\"type\":\"feedback.received\",\"score\":\"5\"}",
     FD_REJECT_WRONG_TYPE, "score: expected number, got string"},
    {"complaint string", "{" ID ",\"type\":\"feedback.received\",\"complaint\":\"yes\"}",
     FD_REJECT_WRONG_TYPE, "complaint: expected boolean, got string"},
    {"complaint number", "{" ID ",\"type\":\"feedback.received\",\"complaint\":1}",
     FD_REJECT_WRONG_TYPE, "complaint: expected boolean, got number"},
    /* invalid ids */
    {"event_id empty", "{\"event_id\":\"\",\"type\":\"deal.won\"}", FD_REJECT_BAD_ID,
     "event_id: expected 1..128 bytes without control characters, got an empty string"},
    /* unknown type */
    {"unknown type", "{\"event_id\":\"e\",\"type\":\"deal.updated\"}", FD_REJECT_UNKNOWN_TYPE,
     "got \"deal.updated\""},
    {"type is case-sensitive", "{\"event_id\":\"e\",\"type\":\"Deal.Won\"}", FD_REJECT_UNKNOWN_TYPE,
     "type: expected deal.created"},
    /* stages */
    {"unknown stage",
     "{" ID ",\"type\":\"deal.stage_changed\",\"deal_id\":\"d\",\"stage\":\"demo\"}",
     FD_REJECT_UNKNOWN_STAGE,
     "stage: expected a configured stage, got unknown stage \"demo\" for "
     "deal.stage_changed"},
    {"stage is case-sensitive",
     "{" ID ",\"type\":\"deal.created\",\"deal_id\":\"d\",\"stage\":\"Lead\"}",
     FD_REJECT_UNKNOWN_STAGE, "\"Lead\""},
    {"unknown stage on lost", "{" ID ",\"type\":\"deal.lost\",\"deal_id\":\"d\",\"stage\":\"\"}",
     FD_REJECT_UNKNOWN_STAGE, "stage:"},
    {"lost at the won stage", "{" ID ",\"type\":\"deal.lost\",\"deal_id\":\"d\",\"stage\":\"won\"}",
     FD_REJECT_BAD_STAGE,
     "stage: expected a stage before the won stage for deal.lost, got \"won\""},
    /* activity kinds */
    {"unknown activity", "{" ID ",\"type\":\"activity.logged\",\"activity\":\"fax\"}",
     FD_REJECT_UNKNOWN_ACTIVITY, "activity: expected a configured activity kind, got \"fax\""},
    {"activity is case-sensitive", "{" ID ",\"type\":\"activity.logged\",\"activity\":\"Call\"}",
     FD_REJECT_UNKNOWN_ACTIVITY, "\"Call\""},
    /* amounts */
    {"amount negative", WON ",\"amount\":-0.01}", FD_REJECT_BAD_AMOUNT,
     "amount: expected a finite number in [0, 1e15], got -0.01"},
    {"amount infinite", WON ",\"amount\":1e400}", FD_REJECT_BAD_AMOUNT, "amount:"},
    {"amount above 1e15", WON ",\"amount\":1000000000000000.5}", FD_REJECT_BAD_AMOUNT, "amount:"},
    /* scores */
    {"score 0.99", "{" ID ",\"type\":\"feedback.received\",\"score\":0.99}", FD_REJECT_BAD_SCORE,
     "score: expected a number in [1, 5], got 0.99"},
    {"score 5.01", "{" ID ",\"type\":\"feedback.received\",\"score\":5.01}", FD_REJECT_BAD_SCORE,
     "got 5.01"},
    {"score 0", "{" ID ",\"type\":\"feedback.received\",\"score\":0}", FD_REJECT_BAD_SCORE,
     "score:"},
    {"score huge", "{" ID ",\"type\":\"feedback.received\",\"score\":1e999}", FD_REJECT_BAD_SCORE,
     "score:"},
};

/* Cases whose payload carries ids with control characters, kept apart for readability. */
static const reject_case_t id_cases[] = {
    {"rep_id escaped tab",
     "{\"event_id\":\"e\",\"type\":\"deal.won\",\"occurred_at\":0,"
     "\"rep_id\":\"a\\tb\"}",
     FD_REJECT_BAD_ID,
     "rep_id: expected 1..128 bytes without control characters, got \"a\\u0009b\" "
     "(control character U+0009 at byte 1)"},
    {"event_id escaped DEL", "{\"event_id\":\"e\\u007f\",\"type\":\"deal.won\"}", FD_REJECT_BAD_ID,
     "U+007F at byte 1"},
    {"event_id raw DEL", "{\"event_id\":\"e\x7f\",\"type\":\"deal.won\"}", FD_REJECT_BAD_ID,
     "U+007F"},
    {"team_id escaped NEL", WON ",\"team_id\":\"t\\u0085\"}", FD_REJECT_BAD_ID,
     "team_id: expected 1..128 bytes without control characters, got \"t\\u0085\" (control "
     "character U+0085 at byte 1)"},
    {"deal_id raw NEL", "{" ID ",\"type\":\"deal.won\",\"deal_id\":\"d\xc2\x85\"}",
     FD_REJECT_BAD_ID, "deal_id:"},
    {"deal_id escaped newline on activity",
     "{" ID ",\"type\":\"activity.logged\","
     "\"activity\":\"call\",\"deal_id\":\"\\n\"}",
     FD_REJECT_BAD_ID, "U+000A"},
    {"rep_id U+009F",
     "{\"event_id\":\"e\",\"type\":\"deal.won\",\"occurred_at\":0,"
     "\"rep_id\":\"\\u009f\"}",
     FD_REJECT_BAD_ID, "U+009F"},
    {"U+00A0 is not a control",
     "{\"event_id\":\"e\",\"type\":\"deal.won\",\"occurred_at\":0,"
     "\"rep_id\":\"\\u00a0\",\"deal_id\":\"d\"}",
     FD_REJECT_NONE, NULL},
};

static void check_rejects(const reject_case_t *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const reject_case_t *c = &cases[i];
        fd_event_t ev;
        fd_reject_t r = parse(c->json, &ev);
        if (r != c->reason || (c->msg != NULL && strstr(errstr, c->msg) == NULL)) {
            print_error("case '%s': got %s \"%s\", want %s containing \"%s\"\n", c->name,
                        fd_reject_name(r), errstr, fd_reject_name(c->reason),
                        c->msg != NULL ? c->msg : "");
            fail();
        }
    }
}

static void test_event_rejections_name_reason_and_field(void **state) {
    (void)state;
    check_rejects(reject_cases, sizeof reject_cases / sizeof reject_cases[0]);
}

static void test_event_id_control_characters_rejected(void **state) {
    (void)state;
    check_rejects(id_cases, sizeof id_cases / sizeof id_cases[0]);
}

static void test_event_every_reason_has_a_case(void **state) {
    (void)state;
    bool seen[FD_REJECT_COUNT] = {false};
    for (size_t i = 0; i < sizeof reject_cases / sizeof reject_cases[0]; i++)
        seen[reject_cases[i].reason] = true;
    for (size_t i = 0; i < sizeof id_cases / sizeof id_cases[0]; i++)
        seen[id_cases[i].reason] = true;
    seen[FD_REJECT_OVERSIZE] = true;      /* test_event_size_limit */
    seen[FD_REJECT_TOO_DEEP] = true;      /* test_event_nesting_limit */
    seen[FD_REJECT_BAD_TIMESTAMP] = true; /* test_event_bad_timestamps_rejected */
    for (int r = 1; r < FD_REJECT_COUNT; r++) {
        if (!seen[r]) print_error("no case for %s\n", fd_reject_name((fd_reject_t)r));
        assert_true(seen[r]);
    }
}

static void test_event_reject_names(void **state) {
    (void)state;
    static const struct {
        fd_reject_t r;
        const char *name;
    } names[] = {
        {FD_REJECT_NONE, "none"},
        {FD_REJECT_OVERSIZE, "oversize"},
        {FD_REJECT_NOT_UTF8, "invalid_utf8"},
        {FD_REJECT_NOT_JSON, "invalid_json"},
        {FD_REJECT_TOO_DEEP, "too_deep"},
        {FD_REJECT_NOT_OBJECT, "not_object"},
        {FD_REJECT_DUPLICATE_KEY, "duplicate_key"},
        {FD_REJECT_MISSING_FIELD, "missing_field"},
        {FD_REJECT_WRONG_TYPE, "wrong_type"},
        {FD_REJECT_BAD_ID, "invalid_id"},
        {FD_REJECT_UNKNOWN_TYPE, "unknown_type"},
        {FD_REJECT_UNKNOWN_STAGE, "unknown_stage"},
        {FD_REJECT_UNKNOWN_ACTIVITY, "unknown_activity"},
        {FD_REJECT_BAD_TIMESTAMP, "invalid_timestamp"},
        {FD_REJECT_BAD_AMOUNT, "invalid_amount"},
        {FD_REJECT_BAD_SCORE, "invalid_score"},
        {FD_REJECT_NUL_CHARACTER, "nul_character"},
        {FD_REJECT_BAD_STAGE, "invalid_stage"},
    };
    assert_int_equal(sizeof names / sizeof names[0], FD_REJECT_COUNT);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_string_equal(fd_reject_name(names[i].r), names[i].name);
    assert_string_equal(fd_event_type_name(FD_DEAL_STAGE_CHANGED), "deal.stage_changed");
    assert_string_equal(fd_event_type_name(FD_FEEDBACK_RECEIVED), "feedback.received");
}

/* ---- valid events of every type ---- */

static void test_event_deal_created_with_every_field(void **state) {
    (void)state;
    fd_event_t ev;
    assert_int_equal(parse("{\"event_id\":\"evt-1\",\"type\":\"deal.created\","
                           "\"occurred_at\":\"2026-11-22T18:00:00.250+08:00\",\"rep_id\":\"张伟\","
                           "\"team_id\":\"north\",\"deal_id\":\"D-42\",\"stage\":\"qualified\","
                           "\"amount\":1234.5,\"note\":{\"free\":[\"form\"]}}",
                           &ev),
                     FD_REJECT_NONE);
    assert_int_equal(ev.type, FD_DEAL_CREATED);
    assert_string_equal(ev.event_id, "evt-1");
    assert_int_equal(ev.event_id_len, 5);
    /* 18:00:00.250+08:00 = 10:00:00.250Z on 2026-11-22: 20779 d * 86400 + 36000 s, + 250 ms. */
    assert_int_equal(ev.occurred_ms, INT64_C(1795341600250));
    assert_string_equal(ev.rep_id, "张伟");
    assert_string_equal(ev.team_id, "north");
    assert_string_equal(ev.deal_id, "D-42");
    assert_int_equal(ev.stage, 1);
    assert_int_equal(ev.amount_c, 123450);
    assert_int_equal(ev.activity, -1);
    assert_int_equal(ev.score_c, -1);
    assert_false(ev.complaint);
}

static void test_event_deal_created_defaults(void **state) {
    (void)state;
    fd_event_t ev;
    assert_int_equal(parse("{" ID ",\"type\":\"deal.created\",\"deal_id\":\"d1\"}", &ev),
                     FD_REJECT_NONE);
    assert_int_equal(ev.stage, -1);
    assert_int_equal(ev.amount_c, -1);
    assert_string_equal(ev.team_id, "unassigned");
    assert_int_equal(ev.occurred_ms, T_MS);
}

static void test_event_deal_stage_changed(void **state) {
    (void)state;
    fd_event_t ev;
    assert_int_equal(parse("{" ID ",\"type\":\"deal.stage_changed\",\"team_id\":\"t\","
                           "\"deal_id\":\"d1\",\"stage\":\"negotiation\",\"amount\":0}",
                           &ev),
                     FD_REJECT_NONE);
    assert_int_equal(ev.type, FD_DEAL_STAGE_CHANGED);
    assert_int_equal(ev.stage, 3);
    assert_int_equal(ev.amount_c, 0);
    /* the won stage may be entered by a stage change */
    assert_int_equal(parse("{" ID ",\"type\":\"deal.stage_changed\",\"deal_id\":\"d1\","
                           "\"stage\":\"won\"}",
                           &ev),
                     FD_REJECT_NONE);
    assert_int_equal(ev.stage, 4);
}

static void test_event_deal_won_ignores_stage(void **state) {
    (void)state;
    fd_event_t ev;
    assert_int_equal(parse(WON ",\"team_id\":\"t\",\"amount\":99.99,\"stage\":\"nonsense\"}", &ev),
                     FD_REJECT_NONE);
    assert_int_equal(ev.type, FD_DEAL_WON);
    assert_int_equal(ev.stage, -1);
    assert_int_equal(ev.amount_c, 9999);
    assert_string_equal(ev.deal_id, "d1");
}

static void test_event_deal_lost(void **state) {
    (void)state;
    fd_event_t ev;
    assert_int_equal(parse("{" ID ",\"type\":\"deal.lost\",\"team_id\":\"t\",\"deal_id\":\"d1\","
                           "\"stage\":\"proposal\",\"amount\":5}",
                           &ev),
                     FD_REJECT_NONE);
    assert_int_equal(ev.type, FD_DEAL_LOST);
    assert_int_equal(ev.stage, 2);
    assert_int_equal(ev.amount_c, 500);
    assert_int_equal(parse("{" ID ",\"type\":\"deal.lost\",\"deal_id\":\"d1\"}", &ev),
                     FD_REJECT_NONE);
    assert_int_equal(ev.stage, -1);
}

static void test_event_activity_logged(void **state) {
    (void)state;
    fd_event_t ev;
    /* amount, stage, score and complaint do not apply to activities and are ignored */
    assert_int_equal(parse("{" ID ",\"type\":\"activity.logged\",\"team_id\":\"t\","
                           "\"deal_id\":\"d1\",\"activity\":\"follow_up\",\"amount\":-3,"
                           "\"stage\":7,\"score\":9,\"complaint\":\"x\"}",
                           &ev),
                     FD_REJECT_NONE);
    assert_int_equal(ev.type, FD_ACTIVITY_LOGGED);
    assert_int_equal(ev.activity, 4);
    assert_string_equal(ev.deal_id, "d1");
    assert_int_equal(ev.stage, -1);
    assert_int_equal(ev.amount_c, -1);
    assert_int_equal(ev.score_c, -1);
    assert_false(ev.complaint);
    assert_int_equal(parse("{" ID ",\"type\":\"activity.logged\",\"activity\":\"call\"}", &ev),
                     FD_REJECT_NONE);
    assert_string_equal(ev.deal_id, "");
    assert_int_equal(ev.activity, 0);
}

static void test_event_feedback_received(void **state) {
    (void)state;
    fd_event_t ev;
    assert_int_equal(parse("{" ID ",\"type\":\"feedback.received\",\"team_id\":\"t\","
                           "\"deal_id\":\"d1\",\"score\":4.5,\"complaint\":true,"
                           "\"activity\":\"nonsense\"}",
                           &ev),
                     FD_REJECT_NONE);
    assert_int_equal(ev.type, FD_FEEDBACK_RECEIVED);
    assert_int_equal(ev.score_c, 450);
    assert_true(ev.complaint);
    assert_int_equal(ev.activity, -1);
    assert_int_equal(ev.amount_c, -1);
    assert_int_equal(parse("{" ID ",\"type\":\"feedback.received\",\"complaint\":false}", &ev),
                     FD_REJECT_NONE);
    assert_int_equal(ev.score_c, -1);
    assert_false(ev.complaint);
}

static void test_event_score_bounds(void **state) {
    (void)state;
    static const struct {
        const char *score;
        int32_t want;
    } cases[] = {{"1", 100},   {"5", 500},     {"5.0", 500},
                 {"1e0", 100}, {"2.345", 235}, {"3.333", 333}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256];
        fd_event_t ev;
        snprintf(json, sizeof json, "{" ID ",\"type\":\"feedback.received\",\"score\":%s}",
                 cases[i].score);
        assert_int_equal(parse(json, &ev), FD_REJECT_NONE);
        assert_int_equal(ev.score_c, cases[i].want);
    }
}

/* Hundredths = llround(x * 100) on the binary double: half away from zero, on the value the
 * JSON number actually denotes in binary. */
static void test_event_amount_rounding(void **state) {
    (void)state;
    static const struct {
        const char *amount;
        int64_t want;
    } cases[] = {
        {"0", 0},           {"0.005", 1}, /* 0.005 * 100 rounds to exactly 0.5 -> away from zero */
        {"0.004", 0},       {"10.125", 1013}, /* 10.125 = 81/8 is exact; 1012.5 -> 1013 */
        {"1.005", 100},  /* 1.005 is stored as 1.00499999999999989..., * 100 < 100.5 */
        {"2.675", 268},  /* 2.67499999999999982... * 100 rounds to exactly 267.5 -> 268 */
        {"19.99", 1999}, /* 1998.9999999999998 -> 1999 */
        {"1234.5", 123450}, {"-0", 0},        {"1e15", INT64_C(100000000000000000)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256];
        fd_event_t ev;
        snprintf(json, sizeof json, WON ",\"amount\":%s}", cases[i].amount);
        assert_int_equal(parse(json, &ev), FD_REJECT_NONE);
        if (ev.amount_c != cases[i].want) {
            print_error("amount %s: got %lld want %lld\n", cases[i].amount, (long long)ev.amount_c,
                        (long long)cases[i].want);
            fail();
        }
    }
}

/* ---- ids ---- */

static void test_event_ids_accept_any_printable_utf8(void **state) {
    (void)state;
    static const char *const ids[] = {"张伟", "anna@corp.example", "Moses Frase", "Ünïcødé 😀",
                                      "a\\\\u0000b" /* escaped backslash, then text: not a NUL */};
    static const char *const want[] = {"张伟", "anna@corp.example", "Moses Frase", "Ünïcødé 😀",
                                       "a\\u0000b"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char json[512];
        fd_event_t ev;
        snprintf(json, sizeof json,
                 "{\"event_id\":\"%s\",\"type\":\"activity.logged\",\"occurred_at\":0,"
                 "\"rep_id\":\"%s\",\"team_id\":\"%s\",\"deal_id\":\"%s\",\"activity\":\"call\"}",
                 ids[i], ids[i], ids[i], ids[i]);
        assert_int_equal(parse(json, &ev), FD_REJECT_NONE);
        assert_string_equal(ev.event_id, want[i]);
        assert_int_equal(ev.event_id_len, strlen(want[i]));
        assert_string_equal(ev.rep_id, want[i]);
        assert_string_equal(ev.team_id, want[i]);
        assert_string_equal(ev.deal_id, want[i]);
    }
}

static void test_event_id_length_128_ok_129_rejected(void **state) {
    (void)state;
    static const char *const fields[] = {"event_id", "rep_id", "team_id", "deal_id"};
    char id128[129], id129[130], mb128[129], json[1024];
    fd_event_t ev;
    memset(id128, 'a', 128);
    id128[128] = '\0';
    memset(id129, 'b', 129);
    id129[129] = '\0';
    /* 42 three-byte characters + 2 ASCII = 128 bytes (not characters) */
    mb128[0] = '\0';
    for (int i = 0; i < 42; i++)
        strcat(mb128, "张");
    strcat(mb128, "xy");
    assert_int_equal(strlen(mb128), 128);
    for (size_t f = 0; f < 4; f++) {
        for (int which = 0; which < 3; which++) {
            const char *id = which == 0 ? id128 : which == 1 ? mb128 : id129;
            snprintf(json, sizeof json,
                     "{\"event_id\":\"%s\",\"type\":\"deal.won\",\"occurred_at\":0,"
                     "\"rep_id\":\"%s\",\"team_id\":\"%s\",\"deal_id\":\"%s\"}",
                     f == 0 ? id : "e", f == 1 ? id : "r", f == 2 ? id : "t", f == 3 ? id : "d");
            fd_reject_t r = parse(json, &ev);
            if (which < 2) {
                assert_int_equal(r, FD_REJECT_NONE);
                if (f == 0) assert_int_equal(ev.event_id_len, 128);
            } else {
                assert_int_equal(r, FD_REJECT_BAD_ID);
                assert_non_null(strstr(errstr, fields[f]));
                assert_non_null(strstr(errstr, "got 129 bytes"));
            }
        }
    }
}

/* ---- cJSON traps ---- */

static void test_event_trailing_whitespace_ok_bytes_rejected(void **state) {
    (void)state;
    fd_event_t ev;
    assert_int_equal(parse(" \n" WON "} \r\n\t", &ev), FD_REJECT_NONE);
    assert_int_equal(parse(WON "}x", &ev), FD_REJECT_NOT_JSON);
    assert_int_equal(parse(WON "},", &ev), FD_REJECT_NOT_JSON);
    /* an embedded NUL byte after the object is not white space either */
    static const char nul_after[] = WON "}\0";
    assert_int_equal(parse_n(nul_after, sizeof nul_after - 1, &ev), FD_REJECT_NOT_JSON);
}

static void test_event_buffer_not_nul_terminated(void **state) {
    (void)state;
    fd_event_t ev;
    const char *json = WON "}";
    size_t len = strlen(json);
    char *copy = malloc(len); /* exactly len bytes: ASan catches any read beyond */
    assert_non_null(copy);
    memcpy(copy, json, len);
    assert_int_equal(parse_n(copy, len, &ev), FD_REJECT_NONE);
    assert_int_equal(parse_n(copy, len - 1, &ev), FD_REJECT_NOT_JSON);
    free(copy);
}

/* The payload placed right before a page that faults: a read past len crashes even inside cJSON
 * (a shared library ASan does not instrument). cJSON 1.7.15..1.7.17 read one byte past a buffer
 * ending just after a comma inside an object (CVE-2023-53154); the pre-scan refuses a payload
 * that ends inside a string, object or array before cJSON sees it (found by
 * tests/fuzz/fuzz_event.c against an instrumented cJSON 1.7.15). */
static void test_event_never_reads_past_len_even_in_cjson(void **state) {
    (void)state;
    static const struct {
        const char *json;
        fd_reject_t reason;
    } cases[] = {
        {"{\"event_id\":\":*1\",", FD_REJECT_NOT_JSON},
        {"{\"a\":1, \t", FD_REJECT_NOT_JSON},
        {"{\"a\":[1,", FD_REJECT_NOT_JSON},
        {"{\"a\":{", FD_REJECT_NOT_JSON},
        {"{\"a\":\"b", FD_REJECT_NOT_JSON},
        {"{\"a\":\"\\", FD_REJECT_NOT_JSON},
        {"{\"a\":\"\\u000", FD_REJECT_NOT_JSON},
        {"{\"a\":tru", FD_REJECT_NOT_JSON},
        {"{\"a\":-", FD_REJECT_NOT_JSON},
        {"{", FD_REJECT_NOT_JSON},
        {WON "}", FD_REJECT_NONE},
    };
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(0, mprotect(map + page, page, PROT_NONE));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].json);
        char *buf = map + page - len;
        fd_event_t ev;
        memcpy(buf, cases[i].json, len);
        if (parse_n(buf, len, &ev) != cases[i].reason)
            fail_msg("case %zu %s: got %s (%s)", i, cases[i].json,
                     fd_reject_name(parse_n(buf, len, &ev)), errstr);
    }
    /* the message says where the payload ended */
    static const char cut[] = "{\"event_id\":\":*1\",";
    memcpy(map + page - (sizeof cut - 1), cut, sizeof cut - 1);
    fd_event_t ev;
    assert_int_equal(FD_REJECT_NOT_JSON,
                     parse_n(map + page - (sizeof cut - 1), sizeof cut - 1, &ev));
    assert_string_equal(errstr, "payload: expected JSON, got the end of the payload inside a "
                                "string, object or array at byte 18");
    munmap(map, 2 * page);
}

static void test_event_huge_numbers(void **state) {
    (void)state;
    static const struct {
        const char *json;
        fd_reject_t want;
    } cases[] = {
        /* valueint would saturate at INT_MAX; valuedouble is used throughout */
        {"{" ID ",\"type\":\"deal.won\",\"deal_id\":\"d\",\"amount\":99999999999999999999}",
         FD_REJECT_BAD_AMOUNT},
        {"{" ID ",\"type\":\"deal.won\",\"deal_id\":\"d\",\"amount\":3000000000}", FD_REJECT_NONE},
        {"{\"event_id\":\"e\",\"type\":\"deal.won\",\"occurred_at\":1e400}",
         FD_REJECT_BAD_TIMESTAMP},
        {"{\"event_id\":\"e\",\"type\":\"deal.won\",\"occurred_at\":-1e400}",
         FD_REJECT_BAD_TIMESTAMP},
        {"{" ID ",\"type\":\"feedback.received\",\"score\":-1e400}", FD_REJECT_BAD_SCORE},
        {WON ",\"x\":1e99999}", FD_REJECT_NONE}, /* unknown fields are not looked at */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fd_event_t ev;
        fd_reject_t r = parse(cases[i].json, &ev);
        if (r != cases[i].want) {
            print_error("case %zu: got %s (%s)\n", i, fd_reject_name(r), errstr);
            fail();
        }
    }
    fd_event_t ev;
    assert_int_equal(
        parse("{" ID ",\"type\":\"deal.won\",\"deal_id\":\"d\",\"amount\":3000000000}", &ev),
        FD_REJECT_NONE);
    assert_int_equal(ev.amount_c, INT64_C(300000000000));
}

/* Builds {"x":<depth-1 nested arrays>, <valid won fields>}: the root object is level 1. */
static void nested_event(char *buf, size_t size, int depth, char open, char close) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, size - o, "{\"x\":");
    for (int i = 1; i < depth; i++) {
        if (open == '{')
            o += (size_t)snprintf(buf + o, size - o, "{\"k\":");
        else
            buf[o++] = open;
    }
    buf[o++] = '1';
    for (int i = 1; i < depth; i++)
        buf[o++] = close;
    snprintf(buf + o, size - o, ",%s}", &WON[1]);
}

/* Numbers inside the JSON grammar still parse, in unknown fields and in strings alike. */
static void test_event_json_numbers_in_grammar_accepted(void **state) {
    (void)state;
    fd_event_t ev;
    assert_int_equal(parse(WON ",\"a\":-0,\"b\":0.5e-3,\"c\":1E+2,\"d\":[10,-7.25,0e0],"
                               "\"e\":\"01 1. -.5\"}",
                           &ev),
                     FD_REJECT_NONE);
}

static void test_event_nesting_limit(void **state) {
    (void)state;
    char json[1024];
    fd_event_t ev;
    nested_event(json, sizeof json, 16, '[', ']');
    assert_int_equal(parse(json, &ev), FD_REJECT_NONE);
    assert_string_equal(ev.deal_id, "d1");
    nested_event(json, sizeof json, 17, '[', ']');
    assert_int_equal(parse(json, &ev), FD_REJECT_TOO_DEEP);
    assert_non_null(strstr(errstr, "16"));
    nested_event(json, sizeof json, 16, '{', '}');
    assert_int_equal(parse(json, &ev), FD_REJECT_NONE);
    nested_event(json, sizeof json, 17, '{', '}');
    assert_int_equal(parse(json, &ev), FD_REJECT_TOO_DEEP);
    /* 1,000 deep, which cJSON itself accepts */
    char *deep = malloc(2100);
    assert_non_null(deep);
    memset(deep, '[', 1000);
    memset(deep + 1000, ']', 1000);
    deep[2000] = '\0';
    assert_int_equal(parse(deep, &ev), FD_REJECT_TOO_DEEP);
    free(deep);
    /* brackets inside strings (and escaped quotes) are not nesting */
    assert_int_equal(parse(WON ",\"x\":\"[[[[[[[[[[[[[[[[[[[[\\\"{{{{{{{{{{{{{{{{{{{{\"}", &ev),
                     FD_REJECT_NONE);
}

static void test_event_size_limit(void **state) {
    (void)state;
    const size_t head_len = strlen(WON ",\"pad\":\"");
    char *buf = malloc(FD_EVENT_MAX_BYTES + 2);
    fd_event_t ev;
    assert_non_null(buf);
    for (size_t total = FD_EVENT_MAX_BYTES; total <= FD_EVENT_MAX_BYTES + 1; total++) {
        memcpy(buf, WON ",\"pad\":\"", head_len);
        memset(buf + head_len, 'p', total - head_len - 2);
        memcpy(buf + total - 2, "\"}", 2);
        fd_reject_t r = parse_n(buf, total, &ev);
        assert_int_equal(r, total == FD_EVENT_MAX_BYTES ? FD_REJECT_NONE : FD_REJECT_OVERSIZE);
    }
    assert_non_null(strstr(errstr, "got 65537"));
    free(buf);
}

/* Thousands of top-level keys: duplicates found (sorted, not pairwise), unique keys accepted. */
static void test_event_many_keys_duplicate_detected(void **state) {
    (void)state;
    char *buf = malloc(FD_EVENT_MAX_BYTES + 1);
    fd_event_t ev;
    assert_non_null(buf);
    for (int dup = 0; dup < 2; dup++) {
        size_t o = (size_t)snprintf(buf, FD_EVENT_MAX_BYTES, "%s", WON);
        for (int k = 4999; k >= 0; k--) /* descending, so sorting really reorders */
            o += (size_t)snprintf(buf + o, FD_EVENT_MAX_BYTES - o, ",\"k%04d\":0", k);
        if (dup) o += (size_t)snprintf(buf + o, FD_EVENT_MAX_BYTES - o, ",\"k3000\":0");
        o += (size_t)snprintf(buf + o, FD_EVENT_MAX_BYTES - o, "}");
        assert_true(o < FD_EVENT_MAX_BYTES);
        fd_reject_t r = parse_n(buf, o, &ev);
        assert_int_equal(r, dup ? FD_REJECT_DUPLICATE_KEY : FD_REJECT_NONE);
        if (dup)
            assert_non_null(strstr(errstr, "\"k3000\""));
        else
            assert_string_equal(ev.deal_id, "d1");
    }
    free(buf);
}

static void test_event_errstr_optional(void **state) {
    (void)state;
    fd_event_t ev;
    assert_int_equal(fd_event_parse(fn, "[]", 2, &ev, NULL, 0), FD_REJECT_NOT_OBJECT);
    char tiny[8];
    assert_int_equal(fd_event_parse(fn, "{\"event_id\":\"\"}", 15, &ev, tiny, sizeof tiny),
                     FD_REJECT_BAD_ID);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

/* ---- timestamps ---- */

static void test_event_parse_time_valid(void **state) {
    (void)state;
    /* Day numbers by hand: 2026-01-01 is day 20454 (56 years since 1970, 14 of them leap);
     * 2024-02-29 is day 19723 + 31 + 28 = 19782; 2026-11-22 is day 20454 + 325 = 20779. */
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2026-11-22T18:00:00Z", INT64_C(1795370400000)},
        {"2026-11-22t18:00:00z", INT64_C(1795370400000)},
        {"2026-11-22 18:00:00Z", INT64_C(1795370400000)},
        {"2026-11-22T18:00:00+00:00", INT64_C(1795370400000)},
        {"2026-11-22T18:00:00-00:00", INT64_C(1795370400000)},
        {"2026-11-22T18:00:00+08:00", INT64_C(1795341600000)}, /* 10:00Z */
        {"2026-11-22T18:00:00.250+08:00", INT64_C(1795341600250)},
        {"2026-11-22T18:00:00.1Z", INT64_C(1795370400100)},
        {"2026-11-22T18:00:00.123456789Z", INT64_C(1795370400123)}, /* truncated, not rounded */
        {"2026-11-22T18:00:00.999999999Z", INT64_C(1795370400999)},
        {"2026-11-22T18:00:00.05Z", INT64_C(1795370400050)},
        {"2026-01-01T00:00:00-05:30", INT64_C(1767245400000)}, /* 05:30Z on day 20454 */
        {"2026-01-01T00:00:00+23:59", INT64_C(1767225600000) - 86340000},
        {"2024-02-29T00:00:00Z", INT64_C(1709164800000)},
        {"2000-02-29T12:00:00Z", INT64_C(951825600000)},  /* 2000 is leap (400) */
        {"2026-12-31T23:59:60Z", INT64_C(1798761599999)}, /* leap second: 59.999 */
        {"2026-12-31T23:59:60.5Z", INT64_C(1798761599999)},
        {"1969-12-31T23:59:59Z", -1000}, /* parses; the event contract rejects it */
        {"9999-12-31T23:59:59.999Z", INT64_C(253402300799999)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 0;
        fd_err_t err = fd_event_parse_time(cases[i].s, strlen(cases[i].s), &ms);
        if (err != FD_OK || ms != cases[i].ms) {
            print_error("%s: err %d ms %lld, want %lld\n", cases[i].s, err, (long long)ms,
                        (long long)cases[i].ms);
            fail();
        }
    }
}

static const struct {
    const char *s;
    const char *why;
} bad_times[] = {
    {"2026-13-01T00:00:00Z", "(month 13)"},
    {"2026-00-01T00:00:00Z", "(month 0)"},
    {"2026-02-29T00:00:00Z", "2026-02 has 28 days"},
    {"1900-02-29T00:00:00Z", "1900-02 has 28 days"}, /* 1900 is not leap (100) */
    {"2026-04-31T00:00:00Z", "2026-04 has 30 days"},
    {"2026-01-00T00:00:00Z", "day 0"},
    {"2026-11-22T24:00:00Z", "hour 24"},
    {"2026-11-22T23:60:00Z", "minute 60"},
    {"2026-11-22T23:59:61Z", "second 61"},
    {"2026-11-22T18:00:00+24:00", "offset hour 24"},
    {"2026-11-22T18:00:00+08:60", "offset minute 60"},
    {"2026-11-22T18:00:00", "missing offset"},
    {"2026-11-22T18:00:00.250", "missing offset"},
    {"2026-11-22T18:00:00Zjunk", "unexpected text after the offset"},
    {"2026-11-22T18:00:00+08:00 ", "unexpected text after the offset"},
    {"2026-11-22T18:00:00+0800", "malformed offset"},
    {"2026-11-22T18:00:00+08", "malformed offset"},
    {"2026-11-22T18:00:00.Z", "no digits after the decimal point"},
    {"2026-11-22T18:00:00.1234567890Z", "fraction of 10 digits"},
    {"2026-11-22", "expected YYYY-MM-DD"},
    {"2026-11-22_18:00:00Z", "expected YYYY-MM-DD"},
    {"2026-11-22T18:00Z", "expected YYYY-MM-DD"},
    {"26-11-22T18:00:00Z", "expected YYYY-MM-DD"},
    {"2026-11-22T18:00:00UTC", "expected Z or +hh:mm"},
    {"", "expected YYYY-MM-DD"},
};

static void test_event_parse_time_invalid(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++) {
        int64_t ms = 0;
        if (fd_event_parse_time(bad_times[i].s, strlen(bad_times[i].s), &ms) != FD_ERR_PARSE) {
            print_error("%s: accepted as %lld\n", bad_times[i].s, (long long)ms);
            fail();
        }
    }
}

static void test_event_bad_timestamps_rejected(void **state) {
    (void)state;
    char json[512];
    fd_event_t ev;
    for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++) {
        snprintf(json, sizeof json,
                 "{\"event_id\":\"e\",\"type\":\"deal.won\",\"occurred_at\":\"%s\"}",
                 bad_times[i].s);
        fd_reject_t r = parse(json, &ev);
        if (r != FD_REJECT_BAD_TIMESTAMP || strstr(errstr, bad_times[i].why) == NULL ||
            strncmp(errstr, "occurred_at: ", 13) != 0) {
            print_error("%s: got %s \"%s\"\n", bad_times[i].s, fd_reject_name(r), errstr);
            fail();
        }
    }
    /* the message of the contract's example, verbatim */
    assert_int_equal(parse("{\"event_id\":\"e\",\"type\":\"deal.won\","
                           "\"occurred_at\":\"2026-13-01T00:00:00Z\"}",
                           &ev),
                     FD_REJECT_BAD_TIMESTAMP);
    assert_string_equal(errstr, "occurred_at: expected RFC 3339 time or epoch milliseconds, got "
                                "\"2026-13-01T00:00:00Z\" (month 13)");
    /* range of the contract: not before 1970, not after 9999 */
    static const struct {
        const char *value;
        const char *why;
    } range[] = {
        {"\"1969-12-31T23:59:59.999Z\"", "before 1970"},
        {"\"1970-01-01T00:30:00+01:00\"", "before 1970"},
        {"\"9999-12-31T23:59:59-00:01\"", "after 9999"},
        {"-1", "before 1970"},
        {"253402300800000", "after 9999"},
        {"1795370400000.5", "not an integer"},
        {"1.5", "not an integer"},
    };
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++) {
        snprintf(json, sizeof json, "{\"event_id\":\"e\",\"type\":\"deal.won\",\"occurred_at\":%s}",
                 range[i].value);
        fd_reject_t r = parse(json, &ev);
        if (r != FD_REJECT_BAD_TIMESTAMP || strstr(errstr, range[i].why) == NULL) {
            print_error("%s: got %s \"%s\"\n", range[i].value, fd_reject_name(r), errstr);
            fail();
        }
    }
}

static void test_event_epoch_millisecond_numbers(void **state) {
    (void)state;
    static const struct {
        const char *value;
        int64_t ms;
    } cases[] = {
        {"0", 0},
        {"1795341600250", INT64_C(1795341600250)},
        {"253402300799999", INT64_C(253402300799999)},
        {"1.7e12", INT64_C(1700000000000)}, /* a whole number, however written */
        {"-0", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256];
        fd_event_t ev;
        snprintf(json, sizeof json,
                 "{\"event_id\":\"e\",\"type\":\"deal.won\",\"occurred_at\":%s,\"rep_id\":\"r\","
                 "\"deal_id\":\"d\"}",
                 cases[i].value);
        assert_int_equal(parse(json, &ev), FD_REJECT_NONE);
        assert_int_equal(ev.occurred_ms, cases[i].ms);
    }
}

static void test_event_errstr_quotes_and_truncates_input(void **state) {
    (void)state;
    char json[512], longtype[201];
    fd_event_t ev;
    memset(longtype, 'z', 200);
    longtype[200] = '\0';
    snprintf(json, sizeof json, "{\"event_id\":\"e\",\"type\":\"%s\"}", longtype);
    assert_int_equal(parse(json, &ev), FD_REJECT_UNKNOWN_TYPE);
    /* 60 bytes of input kept, then "..." */
    char want[80];
    snprintf(want, sizeof want, "got \"%.60s\"...", longtype);
    assert_non_null(strstr(errstr, want));
    assert_true(strlen(errstr) < 200);
    /* a multi-byte character is never cut in half, quotes are escaped */
    char mb[128] = "";
    for (int i = 0; i < 30; i++)
        strcat(mb, "é"); /* 60 bytes */
    snprintf(json, sizeof json, "{\"event_id\":\"e\",\"type\":\"x%s\\\"\"}", mb);
    assert_int_equal(parse(json, &ev), FD_REJECT_UNKNOWN_TYPE);
    snprintf(want, sizeof want, "got \"x%.58s\"...", mb);
    assert_non_null(strstr(errstr, want));
    assert_int_equal(parse("{\"event_id\":\"e\",\"type\":\"a\\\"b\"}", &ev),
                     FD_REJECT_UNKNOWN_TYPE);
    assert_non_null(strstr(errstr, "got \"a\\\"b\""));
}

/* ---- UTF-8 ---- */

static void test_event_utf8_valid(void **state) {
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        bool ok;
    } cases[] = {
        {"", 0, true},
        {"plain ascii", 11, true},
        {"\xe5\xbc\xa0\xe4\xbc\x9f", 6, true}, /* 张伟 */
        {"\xf0\x9f\x98\x80", 4, true},         /* U+1F600 */
        {"\xef\xbf\xbf", 3, true},             /* U+FFFF */
        {"\xf4\x8f\xbf\xbf", 4, true},         /* U+10FFFF */
        {"\x00", 1, true},                     /* U+0000 is valid UTF-8 */
        {"\xc0\xaf", 2, false},                /* overlong '/' */
        {"\xe0\x80\xaf", 3, false},            /* overlong '/' */
        {"\xf0\x80\x80\xaf", 4, false},        /* overlong '/' */
        {"\xed\xa0\x80", 3, false},            /* U+D800 surrogate */
        {"\xed\xbf\xbf", 3, false},            /* U+DFFF surrogate */
        {"\xf4\x90\x80\x80", 4, false},        /* U+110000 */
        {"\xf5\x80\x80\x80", 4, false},
        {"\x80", 1, false},         /* lone continuation */
        {"\xe5\xbc", 2, false},     /* truncated */
        {"\xe5\x41\xa0", 3, false}, /* bad continuation */
        {"\xff", 1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (fd_utf8_valid(cases[i].s, cases[i].len) != cases[i].ok) {
            print_error("case %zu: want %d\n", i, cases[i].ok);
            fail();
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_rejections_name_reason_and_field),
        cmocka_unit_test(test_event_id_control_characters_rejected),
        cmocka_unit_test(test_event_every_reason_has_a_case),
        cmocka_unit_test(test_event_reject_names),
        cmocka_unit_test(test_event_deal_created_with_every_field),
        cmocka_unit_test(test_event_deal_created_defaults),
        cmocka_unit_test(test_event_deal_stage_changed),
        cmocka_unit_test(test_event_deal_won_ignores_stage),
        cmocka_unit_test(test_event_deal_lost),
        cmocka_unit_test(test_event_activity_logged),
        cmocka_unit_test(test_event_feedback_received),
        cmocka_unit_test(test_event_score_bounds),
        cmocka_unit_test(test_event_amount_rounding),
        cmocka_unit_test(test_event_ids_accept_any_printable_utf8),
        cmocka_unit_test(test_event_id_length_128_ok_129_rejected),
        cmocka_unit_test(test_event_trailing_whitespace_ok_bytes_rejected),
        cmocka_unit_test(test_event_buffer_not_nul_terminated),
        cmocka_unit_test(test_event_never_reads_past_len_even_in_cjson),
        cmocka_unit_test(test_event_huge_numbers),
        cmocka_unit_test(test_event_json_numbers_in_grammar_accepted),
        cmocka_unit_test(test_event_nesting_limit),
        cmocka_unit_test(test_event_size_limit),
        cmocka_unit_test(test_event_many_keys_duplicate_detected),
        cmocka_unit_test(test_event_errstr_optional),
        cmocka_unit_test(test_event_parse_time_valid),
        cmocka_unit_test(test_event_parse_time_invalid),
        cmocka_unit_test(test_event_bad_timestamps_rejected),
        cmocka_unit_test(test_event_epoch_millisecond_numbers),
        cmocka_unit_test(test_event_errstr_quotes_and_truncates_input),
        cmocka_unit_test(test_event_utf8_valid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
