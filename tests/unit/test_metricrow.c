// SPDX-License-Identifier: MIT
// Unit tests of the metricrow module: the JSON value of a metrics-topic message (members, types,
// window bounds, stored digits kept verbatim) and the metric key parser; expected texts and
// instants written by hand from docs/feeds.md, the calendar and tzdata.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "model/metricrow.h"

/* "2026-12-06T22:30:00.123Z" -> epoch ms through timegm, independent of the code under test. */
static int64_t ms(const char *utc) {
    struct tm tm = {0};
    int frac = 0;
    int n = sscanf(utc, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec, &frac);
    assert_true(n >= 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + frac;
}

static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
static const char *const kinds[] = {"call", "visit"};

typedef struct {
    fd_funnel_t *fn;
    fd_timewin_t *berlin, *utc;
} fixture_t;

static int setup(void **state) {
    fixture_t *fx = calloc(1, sizeof *fx);
    char errstr[256] = "";
    if (fx == NULL || fd_funnel_new(stages, 5, kinds, 2, &fx->fn, errstr, sizeof errstr) != FD_OK ||
        fd_timewin_new("Europe/Berlin", &fx->berlin, errstr, sizeof errstr) != FD_OK ||
        fd_timewin_new("UTC", &fx->utc, errstr, sizeof errstr) != FD_OK) {
        print_error("setup: %s\n", errstr);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture_t *fx = *state;
    fd_funnel_destroy(fx->fn);
    fd_timewin_destroy(fx->berlin);
    fd_timewin_destroy(fx->utc);
    free(fx);
    return 0;
}

static const fd_metricrow_source_t one_src[] = {{"funnel.events", 0, 1234}};

/* A row of key with the given fields, version 1, published at 2026-12-06T22:30:00.123Z. */
static fd_metricrow_t row_of(const char *key, const char *const *fields, const char *const *values,
                             size_t n) {
    return (fd_metricrow_t){.key = key,
                            .fields = fields,
                            .values = values,
                            .nfields = n,
                            .version = 1,
                            .published_ms = ms("2026-12-06T22:30:00.123Z"),
                            .src = one_src,
                            .nsrc = 1};
}

static char *render(const fixture_t *fx, const fd_timewin_t *tw, const fd_metricrow_t *row) {
    char *out = NULL;
    char errstr[256] = "";
    fd_err_t err = fd_metricrow_json(fx->fn, tw, row, &out, errstr, sizeof errstr);
    if (err != FD_OK) fail_msg("%s: %s: %s", row->key, fd_err_name(err), errstr);
    assert_non_null(out);
    return out;
}

/* The text parsed back: it must be one JSON object and nothing else. */
static cJSON *parse(const char *text) {
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithOpts(text, &end, 1);
    if (o == NULL || !cJSON_IsObject(o)) fail_msg("not a JSON object: %s", text);
    return o;
}

static void check_string(const cJSON *o, const char *name, const char *want) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(it))
        fail_msg("%s: expected the string \"%s\", got another type", name, want);
    if (strcmp(it->valuestring, want) != 0)
        fail_msg("%s: expected \"%s\", got \"%s\"", name, want, it->valuestring);
}

static void check_null(const cJSON *o, const char *name) {
    if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, name)))
        fail_msg("%s: expected null", name);
}

/* name holds a JSON number, and the text has it as `"name":digits` (the stored text verbatim,
 * which the parsed double could not show). */
static void check_number(const char *text, const cJSON *o, const char *name, const char *digits) {
    if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, name)))
        fail_msg("%s: expected a number in %s", name, text);
    char want[256];
    snprintf(want, sizeof want, "\"%s\":%s", name, digits);
    char after[2] = {0};
    const char *at = strstr(text, want);
    if (at == NULL) fail_msg("expected %s in %s", want, text);
    after[0] = at[strlen(want)];
    if (strchr(",}", after[0]) == NULL) fail_msg("expected %s then , or } in %s", want, text);
}

/* The members of o, in order, are exactly names (NULL-terminated). */
static void check_members(const cJSON *o, const char *const *names) {
    const cJSON *c = o->child;
    for (size_t i = 0; names[i] != NULL; i++, c = c->next) {
        if (c == NULL) fail_msg("member %zu: expected %s, got the end", i, names[i]);
        if (strcmp(c->string, names[i]) != 0)
            fail_msg("member %zu: expected %s, got %s", i, names[i], c->string);
    }
    if (c != NULL) fail_msg("expected no more members, got %s", c->string);
}

static const char *const top_members[] = {"key",          "scope",      "window",  "id",
                                          "window_start", "window_end", "version", "published_at",
                                          "source",       "fields",     NULL};

/* ---- the example of docs/feeds.md, character by character ---- */

static void test_metricrow_spec_example_text(void **state) {
    const fixture_t *fx = *state;
    static const char *const f[] = {"entered:lead", "advanced:lead", "conv:lead",
                                    "won_amount",   "feedback_avg",  "events"};
    static const char *const v[] = {"3", "1", "0.3333", "1054.00", "3.85", "7"};
    static const fd_metricrow_source_t src[] = {{"funnel.events", 0, 1234},
                                                {"funnel.events", 1, 999}};
    fd_metricrow_t row = row_of("rep:day:2026-11-22:anna", f, v, 6);
    row.version = 1796000000123;
    row.src = src;
    row.nsrc = 2;
    char *text = render(fx, fx->berlin, &row);
    assert_string_equal(
        text,
        "{\"key\":\"rep:day:2026-11-22:anna\",\"scope\":\"rep\",\"window\":\"day:2026-11-22\","
        "\"id\":\"anna\",\"window_start\":\"2026-11-21T23:00:00Z\",\"window_end\":\"2026-11-"
        "22T23:00:00Z\",\"version\":1796000000123,\"published_at\":\"2026-12-06T22:30:00."
        "123Z\",\"source\":{\"funnel.events\":{\"0\":1234,\"1\":999}},\"fields\":{\"entered:"
        "lead\":3,\"advanced:lead\":1,\"conv:lead\":0.3333,\"won_amount\":\"1054.00\","
        "\"feedback_avg\":3.85,\"events\":7}}");
    cJSON *o = parse(text);
    check_members(o, top_members);
    static const char *const field_names[] = {
        "entered:lead", "advanced:lead", "conv:lead", "won_amount", "feedback_avg", "events", NULL};
    check_members(cJSON_GetObjectItemCaseSensitive(o, "fields"), field_names);
    cJSON_Delete(o);
    free(text);
}

/* ---- keys and windows: every member of the head, parsed back ---- */

typedef struct {
    const char *zone, *key;
    const char *scope, *window, *id; /* id NULL: null (the org) */
    const char *start, *end;         /* NULL: null ("all") */
} head_case_t;

static const head_case_t head_cases[] = {
    /* Europe/Berlin: UTC+1 in winter, +2 from 2026-03-29 01:00Z to 2026-10-25 01:00Z */
    {"Europe/Berlin", "rep:day:2026-11-22:anna", "rep", "day:2026-11-22", "anna",
     "2026-11-21T23:00:00Z", "2026-11-22T23:00:00Z"},
    {"Europe/Berlin", "rep:day:2026-03-29:anna", "rep", "day:2026-03-29", "anna",
     "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"}, /* 23 h */
    {"Europe/Berlin", "rep:day:2026-10-25:anna", "rep", "day:2026-10-25", "anna",
     "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"}, /* 25 h */
    {"Europe/Berlin", "rep:week:2026-W53:acme:anna smith", "rep", "week:2026-W53",
     "acme:anna smith", "2026-12-27T23:00:00Z", "2027-01-03T23:00:00Z"},
    {"Europe/Berlin", "team:month:2026-03:Moses Frase", "team", "month:2026-03", "Moses Frase",
     "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z"},
    {"Europe/Berlin", "team:quarter:2026-Q4:emea", "team", "quarter:2026-Q4", "emea",
     "2026-09-30T22:00:00Z", "2026-12-31T23:00:00Z"},
    {"Europe/Berlin", "org:month:2026-11", "org", "month:2026-11", NULL, "2026-10-31T23:00:00Z",
     "2026-11-30T23:00:00Z"},
    {"Europe/Berlin", "rep:hour:2026-11-22T10:anna", "rep", "hour:2026-11-22T10", "anna",
     "2026-11-22T10:00:00Z", "2026-11-22T11:00:00Z"}, /* hours are UTC hours */
    {"Europe/Berlin", "team:all:Moses Frase", "team", "all", "Moses Frase", NULL, NULL},
    {"Europe/Berlin", "org:all", "org", "all", NULL, NULL, NULL},
    {"Europe/Berlin", "rep:all:张伟", "rep", "all", "张伟", NULL, NULL},
    {"Europe/Berlin", "rep:day:2026-11-22:anna@corp.example", "rep", "day:2026-11-22",
     "anna@corp.example", "2026-11-21T23:00:00Z", "2026-11-22T23:00:00Z"},
    /* an id that looks like a window, and one ending in ':' */
    {"Europe/Berlin", "rep:all:day:2026-11-22", "rep", "all", "day:2026-11-22", NULL, NULL},
    {"Europe/Berlin", "team:all:a:", "team", "all", "a:", NULL, NULL},
    {"UTC", "rep:day:2026-11-22:anna", "rep", "day:2026-11-22", "anna", "2026-11-22T00:00:00Z",
     "2026-11-23T00:00:00Z"},
    {"UTC", "org:week:2026-W53", "org", "week:2026-W53", NULL, "2026-12-28T00:00:00Z",
     "2027-01-04T00:00:00Z"},
    {"UTC", "team:month:2024-02:emea", "team", "month:2024-02", "emea", "2024-02-01T00:00:00Z",
     "2024-03-01T00:00:00Z"},
    {"UTC", "rep:quarter:2026-Q1:张伟", "rep", "quarter:2026-Q1", "张伟", "2026-01-01T00:00:00Z",
     "2026-04-01T00:00:00Z"},
    {"UTC", "org:hour:2024-02-29T23", "org", "hour:2024-02-29T23", NULL, "2024-02-29T23:00:00Z",
     "2024-03-01T00:00:00Z"},
    {"UTC", "org:all", "org", "all", NULL, NULL, NULL},
};

static void test_metricrow_head_members_for_each_scope_and_window(void **state) {
    const fixture_t *fx = *state;
    for (size_t i = 0; i < sizeof head_cases / sizeof head_cases[0]; i++) {
        const head_case_t *c = &head_cases[i];
        const fd_timewin_t *tw = strcmp(c->zone, "UTC") == 0 ? fx->utc : fx->berlin;
        fd_metricrow_t row = row_of(c->key, NULL, NULL, 0);
        char *text = render(fx, tw, &row);
        cJSON *o = parse(text);
        check_members(o, top_members);
        check_string(o, "key", c->key);
        check_string(o, "scope", c->scope);
        check_string(o, "window", c->window);
        if (c->id)
            check_string(o, "id", c->id);
        else
            check_null(o, "id");
        if (c->start) {
            check_string(o, "window_start", c->start);
            check_string(o, "window_end", c->end);
        } else {
            check_null(o, "window_start");
            check_null(o, "window_end");
        }
        check_number(text, o, "version", "1");
        check_string(o, "published_at", "2026-12-06T22:30:00.123Z");
        /* UTF-8 ids go out as they are, not as \u escapes */
        if (c->id && strstr(text, c->id) == NULL)
            fail_msg("%s: id not verbatim in %s", c->key, text);
        cJSON_Delete(o);
        free(text);
    }
}

/* ---- fields: each type, and what has no type or not its type's shape ---- */

typedef struct {
    const char *name, *value;
    const char *number; /* the JSON number text expected; NULL: a string holding value */
} field_case_t;

static const field_case_t field_cases[] = {
    /* counters: integers with the stored digits, beyond 2^53 too */
    {"entered:lead", "3", "3"},
    {"advanced:negotiation", "0", "0"},
    {"entered:won", "12", "12"},
    {"dwell_sum_ms:proposal", "86400000", "86400000"},
    {"events", "123456789012345678901", "123456789012345678901"},
    {"won", "9007199254740993", "9007199254740993"}, /* 2^53 + 1 */
    {"activity:call", "4", "4"},
    {"complaints", "1", "1"},
    /* rates and averages: numbers with the stored text */
    {"conv:lead", "0.3333", "0.3333"},
    {"exit_conv:negotiation", "1.0000", "1.0000"},
    {"dwell_hours:proposal", "12.50", "12.50"},
    {"win_rate", "0.0000", "0.0000"},
    {"feedback_avg", "3.85", "3.85"},
    {"dwell_hours:qualified", "1234567890123456789.25", "1234567890123456789.25"},
    /* amounts: strings exactly as stored, even when they look like integers */
    {"won_amount", "1054.00", NULL},
    {"feedback_sum", "385", NULL},
    /* fields funneld does not know: an old stage or kind, a derived field of the won stage or
     * without its stage, a scope-wide one with a stage, anything else */
    {"entered:demo", "2", NULL},
    {"activity:fax", "2", NULL},
    {"conv:won", "0.5000", NULL},
    {"conv", "0.5000", NULL},
    {"win_rate:lead", "0.5000", NULL},
    {"mystery", "5", NULL},
    {"", "5", NULL},
    /* values without their type's shape */
    {"lost", "-1", NULL},
    {"moved_on:lead", "007", NULL},
    {"lost_at:lead", "1.5", NULL},
    {"dwell_count:lead", "", NULL},
    {"entered:qualified", " 3", NULL},
    {"entered:proposal", "3 ", NULL},
    {"activity:visit", "1e3", NULL},
    {"conv:qualified", ".5", NULL},
    {"conv:proposal", "1.", NULL},
    {"exit_conv:lead", "nan", NULL},
    {"exit_conv:qualified", "-0.5000", NULL},
    {"dwell_hours:lead", "03.85", NULL},
    {"dwell_hours:negotiation", "1.5e2", NULL},
    {"exit_conv:proposal", "inf", NULL},
    {"feedback_count", "a\"b\\c\n\x01", NULL},
};

#define NFIELD_CASES (sizeof field_cases / sizeof field_cases[0])

static void test_metricrow_fields_by_type_and_shape(void **state) {
    const fixture_t *fx = *state;
    const char *names[NFIELD_CASES + 1], *values[NFIELD_CASES];
    for (size_t i = 0; i < NFIELD_CASES; i++) {
        names[i] = field_cases[i].name;
        values[i] = field_cases[i].value;
    }
    names[NFIELD_CASES] = NULL;
    fd_metricrow_t row = row_of("team:all:emea", names, values, NFIELD_CASES);
    char *text = render(fx, fx->berlin, &row);
    cJSON *o = parse(text);
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(o, "fields");
    check_members(fields, names); /* exactly these, in this order */
    for (size_t i = 0; i < NFIELD_CASES; i++) {
        const field_case_t *c = &field_cases[i];
        if (c->number)
            check_number(text, fields, c->name, c->number);
        else
            check_string(fields, c->name, c->value);
    }
    cJSON_Delete(o);
    free(text);
}

/* Every field the funnel has and every derived field of the metrics table is known: with a value
 * of its shape, amounts are strings and the rest numbers. */
static void test_metricrow_every_known_field_has_its_type(void **state) {
    const fixture_t *fx = *state;
    size_t nfields = fd_funnel_nfields(fx->fn), nderived = fd_metrics_count(fx->fn);
    size_t n = nfields + nderived;
    char(*names)[64] = calloc(n, sizeof *names);
    const char **np = calloc(n + 1, sizeof *np), **vp = calloc(n, sizeof *vp);
    assert_non_null(names);
    assert_non_null(np);
    assert_non_null(vp);
    for (size_t f = 0; f < nfields; f++) {
        snprintf(names[f], sizeof names[f], "%s", fd_funnel_field_name(fx->fn, f));
        vp[f] = "42";
    }
    for (size_t i = 0; i < nderived; i++) {
        fd_metric_t m;
        fd_metrics_get(fx->fn, i, &m);
        assert_true(fd_metrics_name(fx->fn, &m, names[nfields + i], sizeof names[0]) <
                    sizeof names[0]);
        vp[nfields + i] = "0.5000";
    }
    for (size_t i = 0; i < n; i++)
        np[i] = names[i];
    fd_metricrow_t row = row_of("org:all", np, vp, n);
    char *text = render(fx, fx->utc, &row);
    cJSON *o = parse(text);
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(o, "fields");
    check_members(fields, np);
    size_t strings = 0;
    for (size_t i = 0; i < n; i++) {
        bool amount = strcmp(np[i], "won_amount") == 0 || strcmp(np[i], "feedback_sum") == 0 ||
                      strncmp(np[i], "open_amount", 11) == 0;
        if (amount) {
            check_string(fields, np[i], vp[i]);
            strings++;
        } else {
            check_number(text, fields, np[i], vp[i]);
        }
    }
    /* won_amount, feedback_sum, open_amount:<s> of the five stages, open_amount */
    assert_int_equal(strings, 2 + 5 + 1);
    cJSON_Delete(o);
    free(text);
    free(names);
    free(np);
    free(vp);
}

static void test_metricrow_empty_field_list_and_no_source(void **state) {
    const fixture_t *fx = *state;
    fd_metricrow_t row = row_of("org:all", NULL, NULL, 0);
    row.src = NULL;
    row.nsrc = 0;
    row.version = INT64_MAX;
    row.published_ms = 0;
    char *text = render(fx, fx->utc, &row);
    assert_string_equal(text,
                        "{\"key\":\"org:all\",\"scope\":\"org\",\"window\":\"all\",\"id\":null,"
                        "\"window_start\":null,\"window_end\":null,\"version\":"
                        "9223372036854775807,\"published_at\":\"1970-01-01T00:00:00.000Z\","
                        "\"source\":{},\"fields\":{}}");
    free(text);
}

/* ---- source ---- */

static void test_metricrow_source_groups_partitions_by_topic(void **state) {
    const fixture_t *fx = *state;
    static const fd_metricrow_source_t src[] = {{"funnel.events", 2, 10},
                                                {"crm.backfill", 0, 0},
                                                {"funnel.events", 0, 1234},
                                                {"funnel.events", 11, 9007199254740993}};
    fd_metricrow_t row = row_of("rep:all:anna", NULL, NULL, 0);
    row.src = src;
    row.nsrc = 4;
    char *text = render(fx, fx->utc, &row);
    if (strstr(text, "\"source\":{\"funnel.events\":{\"2\":10,\"0\":1234,\"11\":9007199254740993},"
                     "\"crm.backfill\":{\"0\":0}}") == NULL)
        fail_msg("source not grouped by topic: %s", text);
    cJSON *o = parse(text);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "source");
    static const char *const topics[] = {"funnel.events", "crm.backfill", NULL};
    static const char *const parts[] = {"2", "0", "11", NULL};
    check_members(s, topics);
    check_members(cJSON_GetObjectItemCaseSensitive(s, "funnel.events"), parts);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(s, "crm.backfill"), "0")));
    cJSON_Delete(o);
    free(text);
}

static void test_metricrow_refuses_bad_sources(void **state) {
    const fixture_t *fx = *state;
    static const fd_metricrow_source_t twice[] = {{"funnel.events", 1, 5}, {"funnel.events", 1, 6}};
    static const fd_metricrow_source_t negative[] = {{"funnel.events", -1, 5}};
    static const fd_metricrow_source_t no_offset[] = {{"funnel.events", 0, -1}};
    static const fd_metricrow_source_t no_topic[] = {{NULL, 0, 1}};
    static const fd_metricrow_source_t not_utf8[] = {{"funnel.\xff", 0, 1}};
    const struct {
        const fd_metricrow_source_t *src;
        size_t n;
        fd_err_t err;
        const char *says;
    } cases[] = {{twice, 2, FD_ERR_INVAL, "funnel.events/1: the partition is listed twice"},
                 {negative, 1, FD_ERR_INVAL, ">= 0"},
                 {no_offset, 1, FD_ERR_INVAL, ">= 0"},
                 {no_topic, 1, FD_ERR_INVAL, "topic"},
                 {not_utf8, 1, FD_ERR_PARSE, "UTF-8"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fd_metricrow_t row = row_of("rep:all:anna", NULL, NULL, 0);
        row.src = cases[i].src;
        row.nsrc = cases[i].n;
        char *out = (char *)&row; /* must be reset to NULL */
        char errstr[256] = "";
        fd_err_t err = fd_metricrow_json(fx->fn, fx->utc, &row, &out, errstr, sizeof errstr);
        if (err != cases[i].err || strstr(errstr, cases[i].says) == NULL)
            fail_msg("case %zu: expected %s saying \"%s\", got %s: %s", i,
                     fd_err_name(cases[i].err), cases[i].says, fd_err_name(err), errstr);
        assert_null(out);
    }
}

/* ---- published_at ---- */

static void test_metricrow_published_at_has_milliseconds_in_utc(void **state) {
    const fixture_t *fx = *state;
    const struct {
        int64_t ms;
        const char *want;
    } cases[] = {{-1, "1969-12-31T23:59:59.999Z"},
                 {1, "1970-01-01T00:00:00.001Z"},
                 {ms("2026-03-29T01:30:00.050Z"), "2026-03-29T01:30:00.050Z"}, /* Berlin DST */
                 {ms("9999-12-31T23:59:59.999Z"), "9999-12-31T23:59:59.999Z"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fd_metricrow_t row = row_of("org:all", NULL, NULL, 0);
        row.published_ms = cases[i].ms;
        char *text = render(fx, fx->berlin, &row);
        cJSON *o = parse(text);
        check_string(o, "published_at", cases[i].want);
        cJSON_Delete(o);
        free(text);
    }
    fd_metricrow_t row = row_of("org:all", NULL, NULL, 0);
    row.published_ms = ms("9999-12-31T23:59:59.999Z") + 1;
    char *out = NULL;
    char errstr[256] = "";
    assert_int_equal(fd_metricrow_json(fx->fn, fx->berlin, &row, &out, errstr, sizeof errstr),
                     FD_ERR_RANGE);
    assert_non_null(strstr(errstr, "published_ms"));
    assert_null(out);
}

/* Window bounds RFC 3339 cannot write (year 10000) are refused, not printed with 5 digits. */
static void test_metricrow_window_bounds_beyond_year_9999_are_refused(void **state) {
    const fixture_t *fx = *state;
    fd_metricrow_t row = row_of("org:day:9999-12-31", NULL, NULL, 0);
    char *out = NULL;
    char errstr[256] = "";
    assert_int_equal(fd_metricrow_json(fx->fn, fx->utc, &row, &out, errstr, sizeof errstr),
                     FD_ERR_RANGE);
    assert_non_null(strstr(errstr, "day:9999-12-31"));
    assert_null(out);
    row.key = "org:day:9999-12-30"; /* ends at 9999-12-31T00:00:00Z: fine */
    char *text = render(fx, fx->utc, &row);
    cJSON *o = parse(text);
    check_string(o, "window_end", "9999-12-31T00:00:00Z");
    cJSON_Delete(o);
    free(text);
}

/* ---- malformed input ---- */

static const struct {
    const char *key, *says;
} bad_keys[] = {
    {"", "scope: expected rep, team or org, got \"\""},
    {"user:all:anna", "scope: expected rep, team or org, got \"user\""},
    {"Rep:all:anna", "scope: expected rep, team or org, got \"Rep\""},
    {"rep", "window: expected \":\" and a window id after the scope"},
    {"rep:", "window: expected all, day:YYYY-MM-DD"},
    {"rep:al:anna", "got \"al:anna\""}, /* kind "al", value "anna" */
    {"rep:alll:anna", "got \"alll:anna\""},
    {"rep:day:2026-02-30:anna", "got \"day:2026-02-30\""},
    {"rep:day:2026-11-22x:anna", "got \"day:2026-11-22x\""},
    {"rep:week:2025-W53:anna", "got \"week:2025-W53\""},
    {"rep:hour:2026-11-22T24:anna", "got \"hour:2026-11-22T24\""},
    {"rep:year:2026:anna", "got \"year:2026\""},
    {"rep::anna", "window: expected all"},
    {"rep:day:2026-11-22", "id: expected \":<id>\" after the window (a rep key is "
                           "rep:<window>:<id>), got nothing"},
    {"team:all", "id: expected \":<id>\" after the window (a team key is team:<window>:<id>)"},
    {"rep:all:", "id: expected 1..128 bytes, got 0"},
    {"rep:all:"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "id: expected 1..128 bytes, got 129"},
    {"team:all:a\tb", "id: expected no control characters, got U+0009 at byte 1 of the id"},
    {"team:all:ab\x7f", "got U+007F at byte 2"},
    {"team:all:a\xc2\x85", "got U+0085 at byte 1"}, /* C1: NEL */
    {"org:all:anna", "id: org keys have no id, got \":anna\" after the window"},
    {"org:day:2026-11-22:", "org keys have no id, got \":\""},
    {"rep:all:\xff", "expected UTF-8"},
    {"rep:all:\xe5\xbc", "expected UTF-8"}, /* a cut character */
};

static void test_metricrow_parse_key_refuses_malformed_keys_naming_why(void **state) {
    const fixture_t *fx = *state;
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        fd_scope_t scope = FD_SCOPE_TEAM;
        char window[FD_WIN_ID_MAX] = "untouched", id[FD_ID_MAX + 1] = "untouched";
        char errstr[512] = "";
        fd_err_t err =
            fd_metricrow_parse_key(bad_keys[i].key, &scope, window, id, errstr, sizeof errstr);
        if (err != FD_ERR_PARSE) fail_msg("key %zu: expected FD_ERR_PARSE", i);
        if (strstr(errstr, bad_keys[i].says) == NULL || strncmp(errstr, "metric key \"", 12) != 0)
            fail_msg("key %zu: expected \"metric key ...: %s\", got: %s", i, bad_keys[i].says,
                     errstr);
        assert_int_equal(scope, FD_SCOPE_TEAM);
        assert_string_equal(window, "untouched");
        assert_string_equal(id, "untouched");

        fd_metricrow_t row = row_of(bad_keys[i].key, NULL, NULL, 0);
        char *out = (char *)&row;
        char errstr2[512] = "";
        assert_int_equal(fd_metricrow_json(fx->fn, fx->utc, &row, &out, errstr2, sizeof errstr2),
                         FD_ERR_PARSE);
        assert_string_equal(errstr2, errstr);
        assert_null(out);
    }
}

/* The key in a message is shown printable: control characters and bytes that are not UTF-8 as
 * \xNN, long keys cut with "...", never inside a character. */
static void test_metricrow_parse_key_quotes_the_key_printably(void **state) {
    (void)state;
    fd_scope_t scope;
    char window[FD_WIN_ID_MAX], id[FD_ID_MAX + 1], errstr[512];
    assert_int_equal(
        fd_metricrow_parse_key("team:all:a\tb\"", &scope, window, id, errstr, sizeof errstr),
        FD_ERR_PARSE);
    assert_non_null(strstr(errstr, "metric key \"team:all:a\\x09b\\\"\": "));
    assert_int_equal(
        fd_metricrow_parse_key("rep:all:\xff", &scope, window, id, errstr, sizeof errstr),
        FD_ERR_PARSE);
    assert_non_null(strstr(errstr, "\"rep:all:\\xff\""));
    assert_int_equal(
        fd_metricrow_parse_key("team:all:a\xc2\x85", &scope, window, id, errstr, sizeof errstr),
        FD_ERR_PARSE);
    assert_non_null(strstr(errstr, "metric key \"team:all:a\\u0085\": "));
    /* 32 x 张 (3 bytes each) after "rep:xx:": byte 96 falls inside the 30th character */
    char key[8 + 32 * 3 + 1] = "rep:xx:";
    for (int i = 0; i < 32; i++)
        strcat(key, "张");
    assert_int_equal(fd_metricrow_parse_key(key, &scope, window, id, errstr, sizeof errstr),
                     FD_ERR_PARSE);
    char want[256] = "metric key \"rep:xx:";
    for (int i = 0; i < 29; i++) /* 7 + 29 * 3 = 94 bytes: the 30th would end at 97 */
        strcat(want, "张");
    strcat(want, "\"...: ");
    if (strncmp(errstr, want, strlen(want)) != 0)
        fail_msg("expected the key cut after 29 characters, got: %s", errstr);
}

static void test_metricrow_parse_key_splits_from_the_left(void **state) {
    (void)state;
    const struct {
        const char *key;
        fd_scope_t scope;
        const char *window, *id;
    } cases[] = {
        {"rep:day:2026-11-22:anna", FD_SCOPE_REP, "day:2026-11-22", "anna"},
        {"team:all:Moses Frase", FD_SCOPE_TEAM, "all", "Moses Frase"},
        {"org:month:2026-11", FD_SCOPE_ORG, "month:2026-11", ""},
        {"org:all", FD_SCOPE_ORG, "all", ""},
        {"rep:all:张伟", FD_SCOPE_REP, "all", "张伟"},
        {"rep:week:2026-W53:a:b:c", FD_SCOPE_REP, "week:2026-W53", "a:b:c"},
        {"rep:hour:2026-11-22T10::", FD_SCOPE_REP, "hour:2026-11-22T10", ":"},
        {"team:quarter:2026-Q4: lead ", FD_SCOPE_TEAM, "quarter:2026-Q4", " lead "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fd_scope_t scope = FD_SCOPE_COUNT;
        char window[FD_WIN_ID_MAX] = "", id[FD_ID_MAX + 1] = "x";
        char errstr[256] = "";
        fd_err_t err =
            fd_metricrow_parse_key(cases[i].key, &scope, window, id, errstr, sizeof errstr);
        if (err != FD_OK) fail_msg("%s: %s", cases[i].key, errstr);
        assert_int_equal(scope, cases[i].scope);
        assert_string_equal(window, cases[i].window);
        assert_string_equal(id, cases[i].id);
    }
    /* an id of exactly FD_ID_MAX bytes */
    char key[8 + FD_ID_MAX + 1] = "rep:all:";
    memset(key + 8, 'z', FD_ID_MAX);
    key[8 + FD_ID_MAX] = '\0';
    fd_scope_t scope;
    char window[FD_WIN_ID_MAX], id[FD_ID_MAX + 1];
    assert_int_equal(fd_metricrow_parse_key(key, &scope, window, id, NULL, 0), FD_OK);
    assert_int_equal(strlen(id), FD_ID_MAX);
    assert_int_equal(fd_metricrow_parse_key(NULL, &scope, window, id, NULL, 0), FD_ERR_INVAL);
}

static void test_metricrow_refuses_bad_fields_and_arguments(void **state) {
    const fixture_t *fx = *state;
    static const char *const f_bad_value[] = {"mystery"};
    static const char *const v_bad_value[] = {"caf\xe9"};
    static const char *const f_bad_name[] = {"caf\xe9"};
    static const char *const v_ok[] = {"1"};
    static const char *const f_null[] = {NULL};
    char errstr[256];
    char *out = NULL;
    fd_metricrow_t row = row_of("rep:all:anna", f_bad_value, v_bad_value, 1);
    assert_int_equal(fd_metricrow_json(fx->fn, fx->utc, &row, &out, errstr, sizeof errstr),
                     FD_ERR_PARSE);
    assert_non_null(strstr(errstr, "field 0: the value is not UTF-8"));
    assert_null(out);
    row = row_of("rep:all:anna", f_bad_name, v_ok, 1);
    assert_int_equal(fd_metricrow_json(fx->fn, fx->utc, &row, &out, errstr, sizeof errstr),
                     FD_ERR_PARSE);
    assert_non_null(strstr(errstr, "field 0: the name is not UTF-8"));
    row = row_of("rep:all:anna", f_null, v_ok, 1);
    assert_int_equal(fd_metricrow_json(fx->fn, fx->utc, &row, &out, errstr, sizeof errstr),
                     FD_ERR_INVAL);
    row = row_of("rep:all:anna", NULL, NULL, 1);
    assert_int_equal(fd_metricrow_json(fx->fn, fx->utc, &row, &out, errstr, sizeof errstr),
                     FD_ERR_INVAL);
    row = row_of(NULL, NULL, NULL, 0);
    assert_int_equal(fd_metricrow_json(fx->fn, fx->utc, &row, &out, errstr, sizeof errstr),
                     FD_ERR_INVAL);
    row = row_of("rep:all:anna", NULL, NULL, 0);
    assert_int_equal(fd_metricrow_json(NULL, fx->utc, &row, &out, errstr, sizeof errstr),
                     FD_ERR_INVAL);
    assert_int_equal(fd_metricrow_json(fx->fn, NULL, &row, &out, errstr, sizeof errstr),
                     FD_ERR_INVAL);
    assert_int_equal(fd_metricrow_json(fx->fn, fx->utc, NULL, &out, errstr, sizeof errstr),
                     FD_ERR_INVAL);
    assert_int_equal(fd_metricrow_json(fx->fn, fx->utc, &row, NULL, errstr, sizeof errstr),
                     FD_ERR_INVAL);
    assert_null(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metricrow_spec_example_text),
        cmocka_unit_test(test_metricrow_head_members_for_each_scope_and_window),
        cmocka_unit_test(test_metricrow_fields_by_type_and_shape),
        cmocka_unit_test(test_metricrow_every_known_field_has_its_type),
        cmocka_unit_test(test_metricrow_empty_field_list_and_no_source),
        cmocka_unit_test(test_metricrow_source_groups_partitions_by_topic),
        cmocka_unit_test(test_metricrow_refuses_bad_sources),
        cmocka_unit_test(test_metricrow_published_at_has_milliseconds_in_utc),
        cmocka_unit_test(test_metricrow_window_bounds_beyond_year_9999_are_refused),
        cmocka_unit_test(test_metricrow_parse_key_refuses_malformed_keys_naming_why),
        cmocka_unit_test(test_metricrow_parse_key_quotes_the_key_printably),
        cmocka_unit_test(test_metricrow_parse_key_splits_from_the_left),
        cmocka_unit_test(test_metricrow_refuses_bad_fields_and_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
