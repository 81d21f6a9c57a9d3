// SPDX-License-Identifier: MIT
// Unit tests of the settings table: defaults, the JSON file, FUNNELD_* variables, --set,
// precedence, validation messages, secrets and the generated reference.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/config.h"

/* ---- helpers ------------------------------------------------------------------------------ */

/* Temporary files made by the tests, removed by the group teardown. */
static char temp_paths[128][64];
static size_t temp_count;

/* Writes text (len bytes) to a fresh temporary file and returns its path. */
static const char *temp_file_n(const char *text, size_t len) {
    assert_true(temp_count < sizeof temp_paths / sizeof temp_paths[0]);
    char *p = temp_paths[temp_count++];
    snprintf(p, sizeof temp_paths[0], "/tmp/fd_test_config_XXXXXX");
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    assert_int_equal((ssize_t)len, write(fd, text, len));
    close(fd);
    return p;
}

static int remove_temp_files(void **state) {
    (void)state;
    for (size_t i = 0; i < temp_count; i++)
        unlink(temp_paths[i]);
    temp_count = 0;
    return 0;
}

static const char *temp_file(const char *text) {
    return temp_file_n(text, strlen(text));
}

/* Loads text as a config file over fresh defaults; returns the error, errstr filled. */
static fd_err_t load_text(fd_config_t *cfg, const char *text, char *errstr, size_t size,
                          const char **path_out) {
    assert_int_equal(FD_OK, fd_config_init(cfg));
    const char *path = temp_file(text);
    errstr[0] = '\0';
    fd_err_t err = fd_config_load_file(cfg, path, errstr, size);
    if (path_out != NULL) *path_out = path;
    return err;
}

static void assert_contains(const char *haystack, const char *needle) {
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void assert_not_contains(const char *haystack, const char *needle) {
    if (strstr(haystack, needle) != NULL) fail_msg("\"%s\" contains \"%s\"", haystack, needle);
}

/* Runs fd_config_dump into a heap string. */
static char *dump_text(const fd_config_t *cfg) {
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_non_null(mem);
    fd_config_dump(cfg, mem);
    fclose(mem);
    return buf;
}

static char *reference_text(bool markdown) {
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_non_null(mem);
    fd_config_print_reference(mem, markdown);
    fclose(mem);
    return buf;
}

static void assert_list(const fd_strlist_t *list, const char *const *want, size_t n) {
    assert_int_equal(n, list->count);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(want[i], list->item[i]);
}

/* The repository root, from this file's path (tests/unit/test_config.c). */
static void repo_path(char *out, size_t size, const char *rel) {
    const char *file = __FILE__;
    const char *cut = strstr(file, "tests/unit/test_config.c");
    assert_non_null(cut);
    snprintf(out, size, "%.*s%s", (int)(cut - file), file, rel);
}

/* Every setting named in the lead's decisions ("Running funneld"). */
static const char *const all_settings[] = {
    "kafka.brokers",
    "kafka.topics",
    "kafka.group_id",
    "kafka.dlq_topic",
    "kafka.start_from",
    "kafka.fetch_wait_ms",
    "redis.host",
    "redis.port",
    "redis.user",
    "redis.password",
    "redis.db",
    "redis.timeout_ms",
    "redis.prefix",
    "redis.follow_current",
    "funnel.timezone",
    "funnel.stages",
    "funnel.activities",
    "batch.max_events",
    "batch.linger_ms",
    "batch.catchup_max_events",
    "batch.catchup_max_bytes",
    "batch.chunk_hashes",
    "batch.chunk_deals",
    "dedupe.max_events",
    "cache.max_deals",
    "retention.day_days",
    "retention.week_days",
    "retention.month_days",
    "retention.quarter_days",
    "retention.hour_days",
    "alerts.rules",
    "alerts.topic",
    "alerts.stream_maxlen",
    "alerts.lease_ms",
    "targets.file",
    "feeds.changes",
    "feeds.changes_maxlen",
    "feeds.changes_max_keys",
    "feeds.heartbeat_ms",
    "feeds.metrics",
    "feeds.metrics_topic",
    "feeds.metrics_interval_ms",
    "feeds.metrics_lease_ms",
    "http.listen",
    "http.token",
    "http.max_connections",
    "http.max_request_bytes",
    "http.ready_max_lag",
    "web.listen",
    "web.max_streams",
    "web.stream_keepalive_ms",
    "web.ids_refresh_ms",
    "retry.backoff_max_ms",
    "log.level",
    "instance.id",
};

/* ---- defaults ----------------------------------------------------------------------------- */

static void test_config_init_sets_documented_defaults(void **state) {
    (void)state;
    fd_config_t cfg;
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_string_equal("localhost:9092", cfg.brokers);
    assert_list(&cfg.topics, (const char *const[]){"crm.events"}, 1);
    assert_string_equal("funneld", cfg.group_id);
    assert_string_equal("crm.events.dlq", cfg.dlq_topic);
    assert_string_equal("earliest", cfg.start_from);
    assert_int_equal(100, cfg.fetch_wait_ms);
    assert_int_equal(0, cfg.kafka_count);
    assert_string_equal("127.0.0.1", cfg.redis_host);
    assert_int_equal(6379, cfg.redis_port);
    assert_string_equal("", cfg.redis_user);
    assert_string_equal("", cfg.redis_password);
    assert_int_equal(0, cfg.redis_db);
    assert_int_equal(2000, cfg.redis_timeout_ms);
    assert_string_equal("funnel", cfg.prefix);
    assert_string_equal("UTC", cfg.timezone);
    assert_list(&cfg.stages,
                (const char *const[]){"lead", "qualified", "proposal", "negotiation", "won"}, 5);
    assert_list(&cfg.activities,
                (const char *const[]){"call", "visit", "email", "meeting", "follow_up"}, 5);
    assert_int_equal(20000, cfg.batch_max_events);
    assert_int_equal(50, cfg.batch_linger_ms);
    assert_int_equal(100000, cfg.dedupe_max_events);
    assert_int_equal(500000, cfg.deal_cache_max);
    assert_int_equal(400, cfg.retention_day_days);
    assert_int_equal(0, cfg.retention_week_days);
    assert_int_equal(0, cfg.retention_month_days);
    assert_int_equal(0, cfg.retention_quarter_days);
    assert_int_equal(5000, cfg.backoff_max_ms);
    assert_string_equal("info", cfg.log_level);
    assert_string_equal("", cfg.instance_id);
    char errstr[256];
    assert_int_equal(FD_OK, fd_config_validate(&cfg, errstr, sizeof errstr));
    fd_config_clear(&cfg);
    /* Cleared configs can be initialised again. */
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    fd_config_clear(&cfg);
}

/* ---- the JSON file ------------------------------------------------------------------------ */

static void test_config_shipped_file_loads_with_the_defaults(void **state) {
    (void)state;
    char path[1024], errstr[512];
    repo_path(path, sizeof path, "configs/funneld.json");
    fd_config_t defaults, cfg;
    assert_int_equal(FD_OK, fd_config_init(&defaults));
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    /* Start from values unlike the defaults so the file must set every one of them. */
    assert_int_equal(FD_OK, fd_config_set(&cfg, "redis.port", "1", errstr, sizeof errstr));
    assert_int_equal(FD_OK, fd_config_set(&cfg, "funnel.stages", "a,b", errstr, sizeof errstr));
    assert_int_equal(FD_OK, fd_config_set(&cfg, "retention.day_days", "1", errstr, sizeof errstr));
    assert_int_equal(FD_OK, fd_config_load_file(&cfg, path, errstr, sizeof errstr));
    assert_int_equal(FD_OK, fd_config_validate(&cfg, errstr, sizeof errstr));
    char *a = dump_text(&defaults), *b = dump_text(&cfg);
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* Every setting appears as a key of the shipped file. */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    for (size_t i = 0; i < sizeof all_settings / sizeof all_settings[0]; i++) {
        char key[80];
        snprintf(key, sizeof key, "\"%s\":", strchr(all_settings[i], '.') + 1);
        assert_contains(text, key);
    }
    fd_config_clear(&defaults);
    fd_config_clear(&cfg);
}

static void test_config_file_nested_sections_override_defaults(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    const char *json =
        "{\n"
        "  \"kafka\": {\"brokers\": \"k1:9092,k2:9092\", \"topics\": [\"a\", \"b.c\"],\n"
        "            \"start_from\": \"latest\", \"fetch_wait_ms\": 5},\n"
        "  \"redis\": {\"host\": \"redis.local\", \"port\": 6380, \"db\": 3,\n"
        "            \"user\": \"funnel\", \"password\": \"s3cret\", \"prefix\": \"crm-1\"},\n"
        "  \"funnel\": {\"timezone\": \"Europe/Berlin\", \"stages\": [\"new\", \"won\"],\n"
        "             \"activities\": [\"call\"]},\n"
        "  \"batch\": {\"max_events\": 1000, \"linger_ms\": 0},\n"
        "  \"retention\": {\"week_days\": 800},\n"
        "  \"log\": {\"level\": \"debug\"},\n"
        "  \"instance\": {\"id\": \"node-1\"}\n"
        "}\n";
    assert_int_equal(FD_OK, load_text(&cfg, json, errstr, sizeof errstr, NULL));
    assert_string_equal("k1:9092,k2:9092", cfg.brokers);
    assert_list(&cfg.topics, (const char *const[]){"a", "b.c"}, 2);
    assert_string_equal("latest", cfg.start_from);
    assert_int_equal(5, cfg.fetch_wait_ms);
    assert_string_equal("redis.local", cfg.redis_host);
    assert_int_equal(6380, cfg.redis_port);
    assert_int_equal(3, cfg.redis_db);
    assert_string_equal("funnel", cfg.redis_user);
    assert_string_equal("s3cret", cfg.redis_password);
    assert_string_equal("crm-1", cfg.prefix);
    assert_string_equal("Europe/Berlin", cfg.timezone);
    assert_list(&cfg.stages, (const char *const[]){"new", "won"}, 2);
    assert_list(&cfg.activities, (const char *const[]){"call"}, 1);
    assert_int_equal(1000, cfg.batch_max_events);
    assert_int_equal(0, cfg.batch_linger_ms);
    assert_int_equal(800, cfg.retention_week_days);
    assert_int_equal(400, cfg.retention_day_days); /* untouched: still the default */
    assert_string_equal("debug", cfg.log_level);
    assert_string_equal("node-1", cfg.instance_id);
    assert_string_equal("funneld", cfg.group_id); /* untouched */
    assert_int_equal(FD_OK, fd_config_validate(&cfg, errstr, sizeof errstr));
    fd_config_clear(&cfg);
}

static void test_config_file_unknown_key_names_file_and_suggests(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512], want[600];
    const char *path;
    assert_int_equal(FD_ERR_CONFIG, load_text(&cfg, "{\"redis\": {\"hots\": \"x\"}}", errstr,
                                              sizeof errstr, &path));
    snprintf(want, sizeof want, "unknown setting \"redis.hots\" in %s (did you mean redis.host?)",
             path);
    assert_string_equal(want, errstr);
    fd_config_clear(&cfg);

    /* An unknown section, and a key far from every name: no suggestion. */
    assert_int_equal(FD_ERR_CONFIG,
                     load_text(&cfg, "{\"metrics\": {}}", errstr, sizeof errstr, &path));
    snprintf(want, sizeof want, "unknown section \"metrics\" in %s", path);
    assert_string_equal(want, errstr);
    fd_config_clear(&cfg);
    assert_int_equal(FD_ERR_CONFIG, load_text(&cfg, "{\"batch\": {\"zzzzzzzzzz\": 1}}", errstr,
                                              sizeof errstr, &path));
    snprintf(want, sizeof want, "unknown setting \"batch.zzzzzzzzzz\" in %s", path);
    assert_string_equal(want, errstr);
    fd_config_clear(&cfg);

    /* Names are case-sensitive. */
    assert_int_equal(FD_ERR_CONFIG,
                     load_text(&cfg, "{\"Redis\": {\"port\": 1}}", errstr, sizeof errstr, NULL));
    assert_contains(errstr, "unknown section \"Redis\" in ");
    assert_contains(errstr, "(did you mean redis?)");
    fd_config_clear(&cfg);

    /* A mistyped section is suggested; a setting written flat is a setting. */
    assert_int_equal(FD_ERR_CONFIG,
                     load_text(&cfg, "{\"redi\": {\"port\": 1}}", errstr, sizeof errstr, &path));
    snprintf(want, sizeof want, "unknown section \"redi\" in %s (did you mean redis?)", path);
    assert_string_equal(want, errstr);
    fd_config_clear(&cfg);
    assert_int_equal(FD_ERR_CONFIG,
                     load_text(&cfg, "{\"redis.port\": 1}", errstr, sizeof errstr, &path));
    snprintf(want, sizeof want,
             "setting \"redis.port\" at the top of %s: write it inside its section, "
             "{\"redis\": {\"port\": ...}}",
             path);
    assert_string_equal(want, errstr);
    fd_config_clear(&cfg);
}

static void test_config_file_duplicate_keys_rejected(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512], want[600];
    const char *path;
    assert_int_equal(FD_ERR_CONFIG, load_text(&cfg, "{\"redis\": {\"port\": 1, \"port\": 2}}",
                                              errstr, sizeof errstr, &path));
    snprintf(want, sizeof want, "duplicate setting \"redis.port\" in %s", path);
    assert_string_equal(want, errstr);
    fd_config_clear(&cfg);

    assert_int_equal(FD_ERR_CONFIG,
                     load_text(&cfg, "{\"redis\": {\"port\": 1}, \"redis\": {\"db\": 2}}", errstr,
                               sizeof errstr, &path));
    snprintf(want, sizeof want, "duplicate section \"redis\" in %s", path);
    assert_string_equal(want, errstr);
    fd_config_clear(&cfg);

    /* Pass-through keys too. */
    assert_int_equal(FD_ERR_CONFIG,
                     load_text(&cfg, "{\"kafka\": {\"acks\": \"all\", \"acks\": \"1\"}}", errstr,
                               sizeof errstr, NULL));
    assert_contains(errstr, "duplicate setting \"kafka.acks\"");
    fd_config_clear(&cfg);
}

typedef struct {
    const char *json;
    const char *message; /* expected errstr up to " (from <path>)" */
} bad_file_case_t;

static void test_config_file_wrong_types_and_values_rejected(void **state) {
    (void)state;
    static const bad_file_case_t cases[] = {
        {"{\"redis\": {\"port\": \"6379\"}}",
         "redis.port: expected an integer in 1..65535, got \"6379\""},
        {"{\"redis\": {\"port\": 70000}}",
         "redis.port: expected an integer in 1..65535, got 70000"},
        {"{\"redis\": {\"port\": 0}}", "redis.port: expected an integer in 1..65535, got 0"},
        {"{\"redis\": {\"port\": 6379.5}}",
         "redis.port: expected an integer in 1..65535, got 6379.5"},
        {"{\"redis\": {\"port\": -1}}", "redis.port: expected an integer in 1..65535, got -1"},
        {"{\"redis\": {\"port\": true}}", "redis.port: expected an integer in 1..65535, got true"},
        {"{\"redis\": {\"port\": null}}", "redis.port: expected an integer in 1..65535, got null"},
        {"{\"cache\": {\"max_deals\": 999}}",
         "cache.max_deals: expected an integer in 1000..100000000, got 999"},
        {"{\"batch\": {\"max_events\": 1e300}}",
         "batch.max_events: expected an integer in 1..1000000, got 1.0000000000000001e+300"},
        {"{\"redis\": {\"host\": 5}}",
         "redis.host: expected a host name or address of 1..255 characters, no spaces, got 5"},
        {"{\"redis\": {\"host\": \"\"}}",
         "redis.host: expected a host name or address of 1..255 characters, no spaces, got \"\""},
        {"{\"kafka\": {\"topics\": \"crm.events\"}}",
         "kafka.topics: expected an array of strings (1..32 unique topic names of 1..249 "
         "characters of A-Z a-z 0-9 . _ -), got \"crm.events\""},
        {"{\"kafka\": {\"topics\": []}}",
         "kafka.topics: expected 1..32 unique topic names of 1..249 characters of A-Z a-z 0-9 . _ "
         "-, got 0 entries"},
        {"{\"funnel\": {\"stages\": [\"lead\", 2]}}",
         "funnel.stages: expected 2..16 unique names of 1..64 characters of a-z 0-9 _ -, got an "
         "array with the entry 2"},
        {"{\"funnel\": {\"stages\": [\"lead\", \" won\"]}}",
         "funnel.stages: expected 2..16 unique names of 1..64 characters of a-z 0-9 _ -, got the "
         "entry \" won\""},
        {"{\"funnel\": {\"stages\": [\"won\"]}}",
         "funnel.stages: expected 2..16 unique names of 1..64 characters of a-z 0-9 _ -, got 1 "
         "entry"},
        {"{\"log\": {\"level\": \"verbose\"}}",
         "log.level: expected one of error, warn, info, debug, got \"verbose\""},
        {"{\"kafka\": {\"start_from\": \"Earliest\"}}",
         "kafka.start_from: expected one of earliest, latest, got \"Earliest\""},
        {"{\"redis\": 5}", "redis: expected an object of settings, got 5"},
        {"{\"redis\": {\"prefix\": \"funnel:\"}}",
         "redis.prefix: expected 1..64 characters of A-Z a-z 0-9 . _ -, got \"funnel:\""},
        {"{\"kafka\": {\"acks\": [\"all\"]}}",
         "kafka.acks: expected a string, number or boolean, got an array"},
        {"{\"kafka\": {\"group.id\": \"x\"}}",
         "kafka.group.id: not allowed as a pass-through, set kafka.group_id instead"},
        /* the property name is checked before the value: a control character in it is shown
         * escaped, never raw (found by tests/fuzz/fuzz_config.c) */
        {"{\"kafka\": {\"top\x1eics\": []}}",
         "kafka.<property>: expected a librdkafka property name of 1..128 characters of A-Z a-z "
         "0-9 . _ -, got \"top\\x1eics\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fd_config_t cfg;
        char errstr[512], want[1024];
        const char *path;
        fd_err_t err = load_text(&cfg, cases[i].json, errstr, sizeof errstr, &path);
        snprintf(want, sizeof want, "%s (from %s)", cases[i].message, path);
        if (err != FD_ERR_CONFIG || strcmp(want, errstr) != 0)
            fail_msg("case %zu %s: err %d, errstr \"%s\", want \"%s\"", i, cases[i].json, err,
                     errstr, want);
        fd_config_clear(&cfg);
    }
}

static void test_config_file_integral_number_forms_accepted(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    /* 1e3 and 6380.0 are integers written another way: accepted, like the integer itself. */
    assert_int_equal(FD_OK, load_text(&cfg, "{\"redis\": {\"port\": 6380.0, \"db\": 1e3}}", errstr,
                                      sizeof errstr, NULL));
    assert_int_equal(6380, cfg.redis_port);
    assert_int_equal(1000, cfg.redis_db);
    fd_config_clear(&cfg);
    /* Bounds are inclusive. */
    assert_int_equal(FD_OK, load_text(&cfg,
                                      "{\"redis\": {\"port\": 65535, \"db\": 0}, "
                                      "\"cache\": {\"max_deals\": 100000000}}",
                                      errstr, sizeof errstr, NULL));
    assert_int_equal(65535, cfg.redis_port);
    assert_int_equal(100000000, cfg.deal_cache_max);
    fd_config_clear(&cfg);
}

static void test_config_file_invalid_json_names_file(void **state) {
    (void)state;
    static const char *const texts[] = {
        "{\"redis\": {\"port\": 1,}}", /* trailing comma */
        "{\"redis\": {}} x",           /* trailing garbage */
        "",                            /* empty file */
        "{\"redis\": {\"port\": 1}",   /* unterminated */
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        fd_config_t cfg;
        char errstr[512], want[600];
        const char *path;
        assert_int_equal(FD_ERR_CONFIG, load_text(&cfg, texts[i], errstr, sizeof errstr, &path));
        snprintf(want, sizeof want, "%s: not valid JSON", path);
        assert_contains(errstr, want);
        fd_config_clear(&cfg);
    }
    /* A NUL byte inside the file. */
    fd_config_t cfg;
    char errstr[512];
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    const char *path = temp_file_n("{\"redis\": {}}\0{}", 16);
    assert_int_equal(FD_ERR_CONFIG, fd_config_load_file(&cfg, path, errstr, sizeof errstr));
    assert_contains(errstr, "not valid JSON (at line 1, column 14)");
    /* A \u0000 escape would cut a value short in cJSON's C strings. */
    path = temp_file("{\"redis\": {\"prefix\": \"fu\\u0000nnel\"}}");
    assert_int_equal(FD_ERR_CONFIG, fd_config_load_file(&cfg, path, errstr, sizeof errstr));
    assert_contains(errstr, "a \\u0000 escape at byte 24: no setting can hold a NUL character");
    /* The line and column of the error. */
    path = temp_file("{\n  \"redis\": {\n    \"port\": 1,\n  }\n}\n");
    assert_int_equal(FD_ERR_CONFIG, fd_config_load_file(&cfg, path, errstr, sizeof errstr));
    assert_contains(errstr, "(at line 4");
    /* A JSON array is valid JSON but not a config. */
    path = temp_file("[1]");
    assert_int_equal(FD_ERR_CONFIG, fd_config_load_file(&cfg, path, errstr, sizeof errstr));
    assert_contains(errstr, "expected a JSON object of sections");
    fd_config_clear(&cfg);
}

static void test_config_file_missing_is_io_error(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_ERR_IO,
                     fd_config_load_file(&cfg, "/nonexistent/funneld.json", errstr, sizeof errstr));
    assert_contains(errstr, "/nonexistent/funneld.json");
    assert_contains(errstr, "No such file");
    fd_config_clear(&cfg);
}

static void test_config_file_kafka_passthrough_kept_as_text(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    const char *json = "{\"kafka\": {\"brokers\": \"b:1\", \"security.protocol\": \"SASL_SSL\",\n"
                       "  \"sasl.password\": \"pw\", \"message.max.bytes\": 1000000,\n"
                       "  \"enable.ssl.certificate.verification\": false,\n"
                       "  \"socket.timeout.ms\": 0.5, \"log_level\": 7}}";
    assert_int_equal(FD_OK, load_text(&cfg, json, errstr, sizeof errstr, NULL));
    assert_string_equal("b:1", cfg.brokers);
    static const char *const names[] = {"security.protocol", "sasl.password",
                                        "message.max.bytes", "enable.ssl.certificate.verification",
                                        "socket.timeout.ms", "log_level"};
    static const char *const values[] = {"SASL_SSL", "pw", "1000000", "false", "0.5", "7"};
    assert_int_equal(6, cfg.kafka_count);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(names[i], cfg.kafka_name[i]);
        assert_string_equal(values[i], cfg.kafka_value[i]);
    }
    assert_int_equal(FD_OK, fd_config_validate(&cfg, errstr, sizeof errstr));
    fd_config_clear(&cfg);

    /* Pass-through exists only inside "kafka". */
    assert_int_equal(FD_ERR_CONFIG, load_text(&cfg, "{\"redis\": {\"security.protocol\": \"x\"}}",
                                              errstr, sizeof errstr, NULL));
    assert_contains(errstr, "unknown setting \"redis.security.protocol\"");
    fd_config_clear(&cfg);
}

/* ---- text values: --set and the environment ------------------------------------------------ */

typedef struct {
    const char *name;
    const char *value;
    bool ok;
} set_case_t;

static void test_config_set_checks_each_value(void **state) {
    (void)state;
    static const set_case_t cases[] = {
        {"redis.port", "6380", true},
        {"redis.port", "+6380", true},
        {"redis.port", "65535", true},
        {"redis.port", "65536", false},
        {"redis.port", "0", false},
        {"redis.port", "", false},
        {"redis.port", " 6380", false},
        {"redis.port", "6380 ", false},
        {"redis.port", "0x10", false},
        {"redis.port", "1e3", false},
        {"redis.port", "6379.0", false},
        {"redis.port", "99999999999999999999", false},
        {"redis.db", "-1", false},
        {"batch.linger_ms", "0", true},
        {"retention.day_days", "0", true},
        {"retention.quarter_days", "1000001", false},
        {"kafka.fetch_wait_ms", "5", true},
        {"kafka.fetch_wait_ms", "0", false},
        {"kafka.start_from", "latest", true},
        {"kafka.start_from", "Latest", false},
        {"log.level", "warn", true},
        {"log.level", "warning", false},
        {"redis.prefix", "a.b-c_D9", true},
        {"redis.prefix", "a:b", false},
        {"redis.prefix", "a b", false},
        {"redis.prefix", "", false},
        {"redis.prefix", "0123456789012345678901234567890123456789012345678901234567890123", true},
        {"redis.prefix", "01234567890123456789012345678901234567890123456789012345678901234",
         false},
        {"funnel.timezone", "America/Argentina/Buenos_Aires", true},
        {"funnel.timezone", "Etc/GMT+5", true},
        {"funnel.timezone", "", false},
        {"funnel.timezone", "/etc/localtime", false},
        {"funnel.timezone", "../../etc/passwd", false},
        {"funnel.timezone", "Europe/..", false},
        {"funnel.timezone", "Europe/Ber lin", false},
        {"instance.id", "", true},
        {"instance.id", "host-1.pid_42", true},
        {"instance.id", "host/1", false},
        {"kafka.dlq_topic", "dead", true},
        {"kafka.dlq_topic", "", false},
        {"kafka.dlq_topic", "a/b", false},
        {"kafka.group_id", "", false},
        {"kafka.brokers", "", false},
        {"kafka.brokers", ",,,", false},
        {"kafka.brokers", "k1:9092,,k2:9092", false},
        {"kafka.brokers", "k1:9092,", false},
        {"kafka.brokers", "k1 9092", false},
        {"kafka.brokers", "k1:9092, k2:9092", true},
        {"kafka.brokers", "SASL_SSL://k1:9093,[::1]:9092", true},
        {"redis.host", "a b", false},
        {"redis.user", "", true},
        {"redis.password", "", true},
        {"redis.password", "p\nw", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fd_config_t cfg;
        char errstr[512] = "";
        assert_int_equal(FD_OK, fd_config_init(&cfg));
        fd_err_t err = fd_config_set(&cfg, cases[i].name, cases[i].value, errstr, sizeof errstr);
        if (cases[i].ok && err != FD_OK)
            fail_msg("case %zu %s=%s: rejected: %s", i, cases[i].name, cases[i].value, errstr);
        if (!cases[i].ok) {
            if (err != FD_ERR_CONFIG)
                fail_msg("case %zu %s=%s: accepted", i, cases[i].name, cases[i].value);
            char head[80];
            snprintf(head, sizeof head, "%s: expected ", cases[i].name);
            assert_true(strncmp(errstr, head, strlen(head)) == 0);
            assert_contains(errstr, "(from --set)");
        }
        fd_config_clear(&cfg);
    }
}

static void test_config_set_error_leaves_value_unchanged(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_ERR_CONFIG, fd_config_set(&cfg, "redis.port", "x", errstr, sizeof errstr));
    assert_string_equal("redis.port: expected an integer in 1..65535, got \"x\" (from --set)",
                        errstr);
    assert_int_equal(6379, cfg.redis_port);
    assert_int_equal(FD_ERR_CONFIG,
                     fd_config_set(&cfg, "funnel.stages", "a,b,a", errstr, sizeof errstr));
    assert_int_equal(5, cfg.stages.count);
    assert_string_equal("won", cfg.stages.item[4]);
    assert_int_equal(FD_ERR_CONFIG, fd_config_set(&cfg, "redis.hots", "x", errstr, sizeof errstr));
    assert_string_equal("unknown setting \"redis.hots\" (from --set) (did you mean redis.host?)",
                        errstr);
    fd_config_clear(&cfg);
}

typedef struct {
    const char *text;
    const char *const *want; /* NULL = rejected */
    size_t n;
    const char *found; /* for a rejection: the "got ..." part */
} list_case_t;

static void test_config_list_text_is_trimmed_and_checked(void **state) {
    (void)state;
    static const char *const ab[] = {"lead", "won"};
    static const char *const abc[] = {"lead", "follow_up", "won-2"};
    static const list_case_t cases[] = {
        {"lead,won", ab, 2, NULL},
        {" lead , won ", ab, 2, NULL},
        {"lead,\tfollow_up,won-2", abc, 3, NULL},
        {"lead,,won", NULL, 0, "got an empty entry"},
        {"lead,won,", NULL, 0, "got an empty entry"},
        {",lead,won", NULL, 0, "got an empty entry"},
        {"lead, ,won", NULL, 0, "got an empty entry"},
        {"", NULL, 0, "got 0 entries in \"\""},
        {"won", NULL, 0, "got 1 entry in \"won\""},
        {"lead,Won", NULL, 0, "got the entry \"Won\" in \"lead,Won\""},
        {"lead,won,lead", NULL, 0, "got \"lead\" twice in \"lead,won,lead\""},
        {"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", NULL, 0, "got 17 entries"},
        {"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", NULL, 0, NULL}, /* 16: accepted, checked below */
        {"a,0123456789012345678901234567890123456789012345678901234567890123456789", NULL, 0,
         "got the entry"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fd_config_t cfg;
        char errstr[512] = "";
        assert_int_equal(FD_OK, fd_config_init(&cfg));
        fd_err_t err = fd_config_set(&cfg, "funnel.stages", cases[i].text, errstr, sizeof errstr);
        if (cases[i].want != NULL) {
            if (err != FD_OK) fail_msg("case %zu \"%s\": %s", i, cases[i].text, errstr);
            assert_list(&cfg.stages, cases[i].want, cases[i].n);
        } else if (cases[i].found == NULL) {
            assert_int_equal(FD_OK, err);
            assert_int_equal(16, cfg.stages.count);
        } else {
            if (err != FD_ERR_CONFIG) fail_msg("case %zu \"%s\": accepted", i, cases[i].text);
            assert_contains(errstr, "funnel.stages: expected 2..16 unique names");
            assert_contains(errstr, cases[i].found);
        }
        fd_config_clear(&cfg);
    }
    /* Topics: 1..32 entries, topic-name characters (upper case allowed). */
    fd_config_t cfg;
    char errstr[512];
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_OK, fd_config_set(&cfg, "kafka.topics", "CRM.events, other_topic", errstr,
                                          sizeof errstr));
    assert_list(&cfg.topics, (const char *const[]){"CRM.events", "other_topic"}, 2);
    assert_int_equal(FD_ERR_CONFIG,
                     fd_config_set(&cfg, "kafka.topics", "a:b", errstr, sizeof errstr));
    assert_int_equal(FD_ERR_CONFIG, fd_config_set(&cfg, "kafka.topics",
                                                  "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,"
                                                  "x,y,z,aa,bb,cc,dd,ee,ff,gg",
                                                  errstr, sizeof errstr));
    assert_contains(errstr, "more than 32 entries");
    assert_int_equal(FD_OK,
                     fd_config_set(&cfg, "funnel.activities", "call", errstr, sizeof errstr));
    assert_list(&cfg.activities, (const char *const[]){"call"}, 1);
    fd_config_clear(&cfg);
}

static void test_config_set_arg_splits_at_first_equals(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_OK, fd_config_set_arg(&cfg, "redis.port=6380", errstr, sizeof errstr));
    assert_int_equal(6380, cfg.redis_port);
    assert_int_equal(FD_OK,
                     fd_config_set_arg(&cfg, "kafka.sasl.password=a=b", errstr, sizeof errstr));
    assert_int_equal(1, cfg.kafka_count);
    assert_string_equal("sasl.password", cfg.kafka_name[0]);
    assert_string_equal("a=b", cfg.kafka_value[0]);
    assert_int_equal(FD_ERR_CONFIG, fd_config_set_arg(&cfg, "redis.port", errstr, sizeof errstr));
    assert_contains(errstr, "--set: expected name=value");
    assert_int_equal(FD_ERR_CONFIG, fd_config_set_arg(&cfg, "=1", errstr, sizeof errstr));
    fd_config_clear(&cfg);
}

static void test_config_set_kafka_passthrough_and_overrides(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    /* Our own kafka.* names are settings, not pass-through. */
    assert_int_equal(FD_OK, fd_config_set(&cfg, "kafka.group_id", "g2", errstr, sizeof errstr));
    assert_string_equal("g2", cfg.group_id);
    assert_int_equal(0, cfg.kafka_count);
    assert_int_equal(FD_OK, fd_config_set(&cfg, "kafka.acks", "all", errstr, sizeof errstr));
    assert_int_equal(FD_OK, fd_config_set(&cfg, "kafka.acks", "1", errstr, sizeof errstr));
    assert_int_equal(1, cfg.kafka_count);
    assert_string_equal("1", cfg.kafka_value[0]);
    assert_int_equal(FD_ERR_CONFIG, fd_config_set(&cfg, "kafka.", "x", errstr, sizeof errstr));
    assert_int_equal(FD_ERR_CONFIG,
                     fd_config_set(&cfg, "kafka.bad name", "x", errstr, sizeof errstr));
    assert_int_equal(FD_ERR_CONFIG,
                     fd_config_set(&cfg, "kafka.bootstrap.servers", "x", errstr, sizeof errstr));
    assert_string_equal("kafka.bootstrap.servers: not allowed as a pass-through, set kafka.brokers "
                        "instead (from --set)",
                        errstr);
    /* At most FD_CONFIG_MAX_KAFKA distinct properties. */
    for (int i = 1; i < FD_CONFIG_MAX_KAFKA; i++) {
        char name[32];
        snprintf(name, sizeof name, "kafka.p%d", i);
        assert_int_equal(FD_OK, fd_config_set(&cfg, name, "v", errstr, sizeof errstr));
    }
    assert_int_equal(FD_CONFIG_MAX_KAFKA, cfg.kafka_count);
    assert_int_equal(FD_OK, fd_config_set(&cfg, "kafka.p1", "w", errstr, sizeof errstr));
    assert_int_equal(FD_ERR_CONFIG,
                     fd_config_set(&cfg, "kafka.one.more", "v", errstr, sizeof errstr));
    assert_contains(errstr, "kafka.one.more: expected at most 64");
    fd_config_clear(&cfg);
}

static void test_config_env_overrides_and_kafka_passthrough(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    char *envp[] = {
        "PATH=/usr/bin",
        "FUNNELD_CONFIG=/etc/funneld.json", /* read by main, ignored here */
        "FUNNELD_REDIS_HOST=redis.example",
        "FUNNELD_REDIS_PORT=6380",
        "FUNNELD_KAFKA_GROUP_ID=g-env",
        "FUNNELD_KAFKA_TOPICS=a, b",
        "FUNNELD_KAFKA__SECURITY_PROTOCOL=SASL_SSL",
        "FUNNELD_KAFKA__SASL_MECHANISMS=PLAIN",
        "FUNNELD_RETENTION_DAY_DAYS=0",
        "FUNNELD_REDIS_PASSWORD=",
        "NOT_FUNNELD_REDIS_PORT=1",
        NULL,
    };
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_OK, fd_config_apply_env(&cfg, envp, errstr, sizeof errstr));
    assert_string_equal("redis.example", cfg.redis_host);
    assert_int_equal(6380, cfg.redis_port);
    assert_string_equal("g-env", cfg.group_id);
    assert_list(&cfg.topics, (const char *const[]){"a", "b"}, 2);
    assert_int_equal(0, cfg.retention_day_days);
    assert_string_equal("", cfg.redis_password);
    assert_int_equal(2, cfg.kafka_count);
    assert_string_equal("security.protocol", cfg.kafka_name[0]);
    assert_string_equal("SASL_SSL", cfg.kafka_value[0]);
    assert_string_equal("sasl.mechanisms", cfg.kafka_name[1]);
    assert_string_equal("PLAIN", cfg.kafka_value[1]);
    assert_int_equal(FD_OK, fd_config_apply_env(&cfg, NULL, errstr, sizeof errstr));
    fd_config_clear(&cfg);
}

static void test_config_env_errors_name_the_variable(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    char *bad_port[] = {"FUNNELD_REDIS_PORT=70000", NULL};
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_ERR_CONFIG, fd_config_apply_env(&cfg, bad_port, errstr, sizeof errstr));
    assert_string_equal(
        "redis.port: expected an integer in 1..65535, got \"70000\" (from FUNNELD_REDIS_PORT)",
        errstr);
    char *typo[] = {"FUNNELD_REDIS_HOTS=x", NULL};
    assert_int_equal(FD_ERR_CONFIG, fd_config_apply_env(&cfg, typo, errstr, sizeof errstr));
    assert_contains(errstr, "unknown setting FUNNELD_REDIS_HOTS");
    assert_contains(errstr, "did you mean FUNNELD_REDIS_HOST?");
    char *shadow[] = {"FUNNELD_KAFKA__GROUP_ID=x", NULL};
    assert_int_equal(FD_ERR_CONFIG, fd_config_apply_env(&cfg, shadow, errstr, sizeof errstr));
    assert_string_equal("kafka.group.id: not allowed as a pass-through, set kafka.group_id instead "
                        "(from FUNNELD_KAFKA__GROUP_ID)",
                        errstr);
    char *empty_prop[] = {"FUNNELD_KAFKA__=x", NULL};
    assert_int_equal(FD_ERR_CONFIG, fd_config_apply_env(&cfg, empty_prop, errstr, sizeof errstr));
    assert_contains(errstr, "(from FUNNELD_KAFKA__)");
    char *bad_list[] = {"FUNNELD_FUNNEL_STAGES=lead,,won", NULL};
    assert_int_equal(FD_ERR_CONFIG, fd_config_apply_env(&cfg, bad_list, errstr, sizeof errstr));
    assert_contains(errstr, "funnel.stages: expected");
    assert_contains(errstr, "(from FUNNELD_FUNNEL_STAGES)");
    assert_int_equal(6379, cfg.redis_port);
    fd_config_clear(&cfg);
}

static void test_config_precedence_defaults_file_env_set(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    const char *json = "{\"redis\": {\"port\": 1111, \"host\": \"file-host\", \"db\": 1},\n"
                       " \"kafka\": {\"acks\": \"all\"}}";
    assert_int_equal(FD_OK, load_text(&cfg, json, errstr, sizeof errstr, NULL));
    char *envp[] = {"FUNNELD_REDIS_PORT=2222", "FUNNELD_REDIS_DB=2", "FUNNELD_KAFKA__ACKS=1", NULL};
    assert_int_equal(FD_OK, fd_config_apply_env(&cfg, envp, errstr, sizeof errstr));
    assert_int_equal(FD_OK, fd_config_set(&cfg, "redis.port", "3333", errstr, sizeof errstr));
    assert_int_equal(3333, cfg.redis_port);           /* --set beats env and file */
    assert_int_equal(2, cfg.redis_db);                /* env beats file */
    assert_string_equal("file-host", cfg.redis_host); /* file beats default */
    assert_string_equal("funnel", cfg.prefix);        /* default when nobody sets it */
    assert_int_equal(1, cfg.kafka_count);             /* env replaced the file's value */
    assert_string_equal("1", cfg.kafka_value[0]);
    fd_config_clear(&cfg);
}

static void test_config_load_layers_file_then_env_then_sets_then_level(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512] = "";
    const char *path = temp_file("{\"redis\": {\"port\": 1111, \"host\": \"file-host\", \"db\": 1,"
                                 " \"prefix\": \"file\"}, \"log\": {\"level\": \"warn\"}}");
    char *envp[] = {"FUNNELD_REDIS_PORT=2222", "FUNNELD_REDIS_DB=2", "FUNNELD_REDIS_PREFIX=env",
                    NULL};
    const char *sets[] = {"redis.port=3333", "log.level=debug", "redis.port=4444"};
    fd_log_level_t level = FD_LOG_ERROR;
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(
        FD_OK, fd_config_load_layers(&cfg, path, envp, sets, 3, &level, errstr, sizeof errstr));
    assert_int_equal(4444, cfg.redis_port);           /* the last --set wins */
    assert_string_equal("env", cfg.prefix);           /* env beats file */
    assert_int_equal(2, cfg.redis_db);                /* env beats file */
    assert_string_equal("file-host", cfg.redis_host); /* file beats default */
    assert_string_equal("funneld", cfg.group_id);     /* default when nobody sets it */
    assert_int_equal(FD_LOG_DEBUG, level);            /* --set beats the file's "warn" */
    fd_config_clear(&cfg);

    /* no file, no variables, no flags, no level wanted: the defaults */
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_OK,
                     fd_config_load_layers(&cfg, NULL, NULL, NULL, 0, NULL, errstr, sizeof errstr));
    assert_int_equal(6379, cfg.redis_port);
    fd_config_clear(&cfg);
}

static void test_config_load_layers_stops_at_the_failing_layer(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    fd_log_level_t level = FD_LOG_ERROR;
    const char *good_set[] = {"redis.port=3333"};

    /* the file: unreadable is FD_ERR_IO, and nothing after it is applied */
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    errstr[0] = '\0';
    assert_int_equal(FD_ERR_IO, fd_config_load_layers(&cfg, "/nonexistent/funneld.json", NULL,
                                                      good_set, 1, &level, errstr, sizeof errstr));
    assert_contains(errstr, "/nonexistent/funneld.json");
    assert_int_equal(6379, cfg.redis_port);
    fd_config_clear(&cfg);

    /* the environment names the variable; the --set after it is not applied */
    char *bad_env[] = {"FUNNELD_REDIS_PORT=0", NULL};
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_ERR_CONFIG, fd_config_load_layers(&cfg, NULL, bad_env, good_set, 1, &level,
                                                          errstr, sizeof errstr));
    assert_contains(errstr, "(from FUNNELD_REDIS_PORT)");
    assert_int_equal(6379, cfg.redis_port);
    fd_config_clear(&cfg);

    /* a --set without '=' */
    const char *no_equals[] = {"redis.port=3333", "noequals"};
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_ERR_CONFIG, fd_config_load_layers(&cfg, NULL, NULL, no_equals, 2, &level,
                                                          errstr, sizeof errstr));
    assert_contains(errstr, "--set: expected name=value");
    assert_contains(errstr, "noequals");
    fd_config_clear(&cfg);

    /* the cross-setting rules are checked once every layer is applied */
    const char *same_topic[] = {"kafka.topics=a", "kafka.dlq_topic=a", "log.level=debug"};
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_ERR_CONFIG, fd_config_load_layers(&cfg, NULL, NULL, same_topic, 3, &level,
                                                          errstr, sizeof errstr));
    assert_contains(errstr, "kafka.dlq_topic");
    assert_int_equal(FD_LOG_ERROR, level); /* untouched on error */
    fd_config_clear(&cfg);
}

static void test_config_take_arg_takes_config_and_set_with_their_values(void **state) {
    (void)state;
    char *argv[] = {"prog",   "--set", "a=1", "--check", "--config",
                    "f.json", "--set", "b=2", "--config"};
    int argc = 9;
    const char *sets[9];
    size_t nsets = 0;
    const char *path = "from-env";
    int i = 1;
    assert_true(fd_config_take_arg(argc, argv, &i, &path, sets, &nsets));
    assert_int_equal(2, i); /* at the value: the caller's loop steps past it */
    i = 3;
    assert_false(fd_config_take_arg(argc, argv, &i, &path, sets, &nsets));
    assert_int_equal(3, i);
    i = 4;
    assert_true(fd_config_take_arg(argc, argv, &i, &path, sets, &nsets));
    assert_int_equal(5, i);
    assert_string_equal("f.json", path);
    i = 6;
    assert_true(fd_config_take_arg(argc, argv, &i, &path, sets, &nsets));
    assert_int_equal(2, nsets);
    assert_string_equal("a=1", sets[0]);
    assert_string_equal("b=2", sets[1]);
    /* a last "--config" without its file is not taken */
    i = 8;
    assert_false(fd_config_take_arg(argc, argv, &i, &path, sets, &nsets));
    assert_int_equal(8, i);
    assert_string_equal("f.json", path);
}

/* ---- validation ----------------------------------------------------------------------------- */

static void test_config_validate_messages_name_the_setting(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];

    /* Values changed behind the table's back are caught, naming the setting. */
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    cfg.redis_port = 0;
    assert_int_equal(FD_ERR_CONFIG, fd_config_validate(&cfg, errstr, sizeof errstr));
    assert_string_equal("redis.port: expected an integer in 1..65535, got 0", errstr);
    fd_config_clear(&cfg);

    assert_int_equal(FD_OK, fd_config_init(&cfg));
    free(cfg.stages.item[1]);
    cfg.stages.item[1] = strdup("lead");
    assert_int_equal(FD_ERR_CONFIG, fd_config_validate(&cfg, errstr, sizeof errstr));
    assert_contains(errstr, "funnel.stages: expected 2..16 unique names");
    assert_contains(errstr, "got \"lead\" twice");
    fd_config_clear(&cfg);

    assert_int_equal(FD_OK, fd_config_init(&cfg));
    free(cfg.timezone);
    cfg.timezone = strdup("../UTC");
    assert_int_equal(FD_ERR_CONFIG, fd_config_validate(&cfg, errstr, sizeof errstr));
    assert_true(strncmp(errstr, "funnel.timezone: expected", 25) == 0);
    fd_config_clear(&cfg);

    /* Cross-setting: the dead-letter topic must not be consumed. */
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_OK, fd_config_set(&cfg, "kafka.topics", "crm.events,crm.events.dlq", errstr,
                                          sizeof errstr));
    assert_int_equal(FD_ERR_CONFIG, fd_config_validate(&cfg, errstr, sizeof errstr));
    assert_string_equal("kafka.dlq_topic: expected a topic that is not one of kafka.topics, got "
                        "\"crm.events.dlq\"",
                        errstr);
    fd_config_clear(&cfg);

    /* Nor the alert topic, which must also differ from the dead-letter topic. */
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_OK, fd_config_set(&cfg, "kafka.topics", "crm.events,funnel.alerts", errstr,
                                          sizeof errstr));
    assert_int_equal(FD_ERR_CONFIG, fd_config_validate(&cfg, errstr, sizeof errstr));
    assert_string_equal("alerts.topic: expected a topic that is not one of kafka.topics, got "
                        "\"funnel.alerts\"",
                        errstr);
    fd_config_clear(&cfg);
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_int_equal(FD_OK,
                     fd_config_set(&cfg, "alerts.topic", "crm.events.dlq", errstr, sizeof errstr));
    assert_int_equal(FD_ERR_CONFIG, fd_config_validate(&cfg, errstr, sizeof errstr));
    assert_string_equal("alerts.topic: expected a topic other than kafka.dlq_topic, got "
                        "\"crm.events.dlq\"",
                        errstr);
    fd_config_clear(&cfg);

    /* The metric rows go to a topic of their own. */
    static const struct {
        const char *name, *value, *msg;
    } clashes[] = {
        {"kafka.topics", "crm.events,funnel.metrics", "one of kafka.topics"},
        {"kafka.dlq_topic", "funnel.metrics", "kafka.dlq_topic"},
        {"alerts.topic", "funnel.metrics", "alerts.topic"},
    };
    for (size_t i = 0; i < sizeof clashes / sizeof clashes[0]; i++) {
        char want[256];
        assert_int_equal(FD_OK, fd_config_init(&cfg));
        assert_int_equal(
            FD_OK, fd_config_set(&cfg, clashes[i].name, clashes[i].value, errstr, sizeof errstr));
        assert_int_equal(FD_ERR_CONFIG, fd_config_validate(&cfg, errstr, sizeof errstr));
        snprintf(want, sizeof want,
                 "feeds.metrics_topic: expected a topic that is not %s, got \"funnel.metrics\"",
                 clashes[i].msg);
        assert_string_equal(want, errstr);
        fd_config_clear(&cfg);
    }
    /* on | off, nothing else */
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    assert_true(fd_config_on(cfg.feeds_changes));
    assert_int_equal(FD_OK, fd_config_set(&cfg, "feeds.metrics", "off", errstr, sizeof errstr));
    assert_false(fd_config_on(cfg.feeds_metrics));
    assert_int_equal(FD_ERR_CONFIG,
                     fd_config_set(&cfg, "feeds.changes", "yes", errstr, sizeof errstr));
    assert_non_null(strstr(errstr, "feeds.changes"));
    fd_config_clear(&cfg);
}

/* ---- secrets ------------------------------------------------------------------------------ */

static void test_config_secrets_never_in_dump_or_errors(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    assert_int_equal(FD_OK, fd_config_init(&cfg));
    char *dump = dump_text(&cfg);
    assert_contains(dump, "redis.password = (empty)\n");
    free(dump);

    assert_int_equal(FD_OK,
                     fd_config_set(&cfg, "redis.password", "hunter2", errstr, sizeof errstr));
    assert_int_equal(FD_OK,
                     fd_config_set(&cfg, "kafka.sasl.password", "hunter3", errstr, sizeof errstr));
    assert_int_equal(
        FD_OK, fd_config_set(&cfg, "kafka.ssl.key.password", "hunter4", errstr, sizeof errstr));
    assert_int_equal(FD_OK, fd_config_set(&cfg, "kafka.sasl.oauthbearer.client.secret", "hunter5",
                                          errstr, sizeof errstr));
    assert_int_equal(FD_OK,
                     fd_config_set(&cfg, "kafka.sasl.username", "alice", errstr, sizeof errstr));
    dump = dump_text(&cfg);
    assert_not_contains(dump, "hunter");
    assert_contains(dump, "redis.password = (set)\n");
    assert_contains(dump, "kafka.sasl.password = (set)\n");
    assert_contains(dump, "kafka.ssl.key.password = (set)\n");
    assert_contains(dump, "kafka.sasl.oauthbearer.client.secret = (set)\n");
    assert_contains(dump, "kafka.sasl.username = alice\n"); /* not a secret */
    assert_contains(dump, "redis.port = 6379\n");
    assert_contains(dump, "funnel.stages = lead,qualified,proposal,negotiation,won\n");
    free(dump);

    /* A bad secret value is never echoed. */
    assert_int_equal(FD_ERR_CONFIG,
                     fd_config_set(&cfg, "redis.password", "hunter\x01", errstr, sizeof errstr));
    assert_contains(errstr, "redis.password: expected");
    assert_not_contains(errstr, "hunter");
    fd_config_clear(&cfg);

    assert_int_equal(FD_ERR_CONFIG, load_text(&cfg, "{\"redis\": {\"password\": 8675309}}", errstr,
                                              sizeof errstr, NULL));
    assert_contains(errstr, "redis.password: expected");
    assert_not_contains(errstr, "8675309");
    fd_config_clear(&cfg);
}

/* A pass-through value may hold control characters (a PEM certificate's newlines); the dump
 * stays one "name = value" line per setting (found by tests/fuzz/fuzz_config.c). */
static void test_config_dump_one_line_per_setting(void **state) {
    (void)state;
    fd_config_t cfg;
    char errstr[512];
    assert_int_equal(
        FD_OK,
        load_text(&cfg, "{\"kafka\": {\"ssl.ca.pem\": \"-----BEGIN\\nAB\\tC\\u007f\\r\\n\"}}",
                  errstr, sizeof errstr, NULL));
    char *dump = dump_text(&cfg);
    assert_contains(dump,
                    "\nkafka.ssl.ca.pem = -----BEGIN\\x0aAB\\x09C\\x7f\\x0d\\x0a\nredis.host = ");
    free(dump);
    fd_config_clear(&cfg);
}

/* ---- reference ---------------------------------------------------------------------------- */

static void test_config_reference_mentions_every_setting(void **state) {
    (void)state;
    for (int markdown = 0; markdown <= 1; markdown++) {
        char *text = reference_text(markdown);
        for (size_t i = 0; i < sizeof all_settings / sizeof all_settings[0]; i++) {
            char want[80];
            snprintf(want, sizeof want, markdown ? "| `%s` |" : "  %s ", all_settings[i]);
            assert_contains(text, want);
        }
        assert_contains(text, "kafka.<property>");
        assert_contains(text, "FUNNELD_REDIS_PORT");
        assert_contains(text, "FUNNELD_KAFKA__<PROPERTY>");
        assert_contains(text, "1..65535");
        if (markdown) {
            /* One row per setting plus the pass-through row, the header and the rule. */
            size_t rows = 0;
            for (const char *p = text; *p; p++)
                rows += (*p == '\n');
            assert_int_equal(sizeof all_settings / sizeof all_settings[0] + 3, rows);
        }
        free(text);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_init_sets_documented_defaults),
        cmocka_unit_test(test_config_shipped_file_loads_with_the_defaults),
        cmocka_unit_test(test_config_file_nested_sections_override_defaults),
        cmocka_unit_test(test_config_file_unknown_key_names_file_and_suggests),
        cmocka_unit_test(test_config_file_duplicate_keys_rejected),
        cmocka_unit_test(test_config_file_wrong_types_and_values_rejected),
        cmocka_unit_test(test_config_file_integral_number_forms_accepted),
        cmocka_unit_test(test_config_file_invalid_json_names_file),
        cmocka_unit_test(test_config_file_missing_is_io_error),
        cmocka_unit_test(test_config_file_kafka_passthrough_kept_as_text),
        cmocka_unit_test(test_config_set_checks_each_value),
        cmocka_unit_test(test_config_set_error_leaves_value_unchanged),
        cmocka_unit_test(test_config_list_text_is_trimmed_and_checked),
        cmocka_unit_test(test_config_set_arg_splits_at_first_equals),
        cmocka_unit_test(test_config_set_kafka_passthrough_and_overrides),
        cmocka_unit_test(test_config_env_overrides_and_kafka_passthrough),
        cmocka_unit_test(test_config_env_errors_name_the_variable),
        cmocka_unit_test(test_config_precedence_defaults_file_env_set),
        cmocka_unit_test(test_config_load_layers_file_then_env_then_sets_then_level),
        cmocka_unit_test(test_config_load_layers_stops_at_the_failing_layer),
        cmocka_unit_test(test_config_take_arg_takes_config_and_set_with_their_values),
        cmocka_unit_test(test_config_validate_messages_name_the_setting),
        cmocka_unit_test(test_config_secrets_never_in_dump_or_errors),
        cmocka_unit_test(test_config_dump_one_line_per_setting),
        cmocka_unit_test(test_config_reference_mentions_every_setting),
    };
    return cmocka_run_group_tests(tests, NULL, remove_temp_files);
}
