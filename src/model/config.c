// SPDX-License-Identifier: MIT
// Settings: one static table drives defaults, the JSON file, FUNNELD_* variables, --set flags,
// validation, --help and the reference table of docs/configuration.md (layer 1).
#include "model/config.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/file.h"
#include "base/jsontext.h"

/* ---------------------------------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------------------------------- */

typedef enum { SET_STRING, SET_INT, SET_LIST, SET_ENUM } set_type_t;

/* Checks the characters of one string value or list entry (lengths are checked apart). */
typedef bool (*chars_fn)(const char *s);

typedef struct {
    const char *name; /* dotted: "<section>.<key>" */
    set_type_t type;
    size_t offset;              /* of the char *, int64_t or fd_strlist_t in fd_config_t */
    const char *def;            /* default as text: string, decimal integer, comma-separated list */
    int64_t min, max;           /* int: value bounds; list: entry count bounds */
    size_t len_min, len_max;    /* string, enum and list entry: length bounds in bytes */
    chars_fn chars;             /* string and list entry: allowed characters */
    const char *const *allowed; /* enum: the values, NULL-terminated */
    const char *rule;           /* string and list: what is allowed, in words */
    bool secret;                /* never printed: dump shows "(set)" / "(empty)" */
    const char *desc;           /* one line, no '|' */
} setting_t;

/* No control characters (U+0000-U+001F, U+007F). */
static bool chars_printable(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

/* Printable and no spaces: host names, user names. */
static bool chars_nospace(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f) return false;
    }
    return true;
}

/* A comma-separated broker list: printable, and every entry, spaces around it aside, non-empty
 * and without inner spaces ("a,,b", ",", "a,", "a b" are refused; "a:1, b:2" is not). */
/* host:port (a name or IPv4 address), [IPv6]:port, or "off"; the port 0..65535 (0: any free
 * one). */
static bool chars_listen(const char *s) {
    if (strcmp(s, "off") == 0) return true;
    char host[FD_LISTEN_HOST_MAX];
    int port;
    bool loopback;
    return chars_nospace(s) && fd_config_listen(s, host, sizeof host, &port, &loopback);
}

static bool chars_brokers(const char *s) {
    if (!chars_printable(s)) return false;
    const char *p = s;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *entry = p;
        while (*p != '\0' && *p != ',' && *p != ' ')
            p++;
        if (p == entry) return false; /* an empty entry */
        while (*p == ' ')
            p++;
        if (*p == '\0') return true;
        if (*p != ',') return false; /* a space inside an entry */
        p++;
    }
}

/* [A-Za-z0-9._-]: Kafka topic names, the key prefix, instance ids. ':' is excluded so the
 * prefix cannot blur the "<prefix>:..." key layout. */
static bool chars_word(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!isalnum(c) && c != '.' && c != '_' && c != '-') return false;
    }
    return true;
}

/* [a-z0-9_-]: stage and activity names, as fd_funnel_new requires. */
static bool chars_lowername(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_' && c != '-')
            return false;
    }
    return true;
}

/* Timezone names are checked for syntax only (the timewin module loads them): no path tricks
 * ("..", a leading '/') so a name cannot reach outside the zoneinfo directory, no spaces. */
static bool chars_timezone(const char *s) {
    if (s[0] == '/' || strstr(s, "..") != NULL) return false;
    return chars_nospace(s);
}

static const char *const start_from_values[] = {"earliest", "latest", NULL};
static const char *const log_level_values[] = {"error", "warn", "info", "debug", NULL};
static const char *const on_off_values[] = {"on", "off", NULL};

#define OFF(field) offsetof(fd_config_t, field)
#define STR(name, field, def, lmin, lmax, chars, rule, secret, desc)                               \
    { name, SET_STRING, OFF(field), def, 0, 0, lmin, lmax, chars, NULL, rule, secret, desc }
#define INT(name, field, def, min, max, desc)                                                      \
    { name, SET_INT, OFF(field), #def, min, max, 0, 0, NULL, NULL, NULL, false, desc }
#define LIST(name, field, def, min, max, lmax, chars, rule, desc)                                  \
    { name, SET_LIST, OFF(field), def, min, max, 1, lmax, chars, NULL, rule, false, desc }
#define ENUM(name, field, def, values, desc)                                                       \
    { name, SET_ENUM, OFF(field), def, 0, 0, 0, 0, NULL, values, NULL, false, desc }

#define RULE_TOPIC "a topic name: 1..249 characters of A-Z a-z 0-9 . _ -"

static const setting_t settings[] = {
    STR("kafka.brokers", brokers, "localhost:9092", 1, 4096, chars_brokers,
        "a comma-separated host:port list with no empty entry", false,
        "Kafka bootstrap brokers, comma-separated host:port."),
    LIST("kafka.topics", topics, "crm.events", 1, FD_CONFIG_MAX_LIST, 249, chars_word,
         "1..32 unique topic names of 1..249 characters of A-Z a-z 0-9 . _ -",
         "Topics to consume CRM events from."),
    STR("kafka.group_id", group_id, "funneld", 1, 255, chars_printable,
        "1..255 characters, no control characters", false,
        "Kafka consumer group; instances sharing it split the partitions."),
    STR("kafka.dlq_topic", dlq_topic, "crm.events.dlq", 1, 249, chars_word, RULE_TOPIC, false,
        "Dead-letter topic for rejected events; must not be one of kafka.topics."),
    ENUM("kafka.start_from", start_from, "earliest", start_from_values,
         "Where to start a partition that has no offset stored in Redis (a stored offset "
         "Kafka no longer holds resumes at the earliest one it holds)."),
    INT("kafka.fetch_wait_ms", fetch_wait_ms, 100, 1, 10000,
        "Longest wait of a broker fetch (fetch.wait.max.ms); 5 suits the embedded mock broker."),
    STR("redis.host", redis_host, "127.0.0.1", 1, 255, chars_nospace,
        "a host name or address of 1..255 characters, no spaces", false, "Redis server host."),
    INT("redis.port", redis_port, 6379, 1, 65535, "Redis server port."),
    STR("redis.user", redis_user, "", 0, 255, chars_nospace, "0..255 characters, no spaces", false,
        "Redis ACL user name; empty for the default user."),
    STR("redis.password", redis_password, "", 0, 1024, chars_printable,
        "0..1024 characters, no control characters", true,
        "Redis password (AUTH); empty for none. Secret: never logged."),
    INT("redis.db", redis_db, 0, 0, 10000, "Redis database number (SELECT)."),
    INT("redis.timeout_ms", redis_timeout_ms, 2000, 10, 600000,
        "Redis connect and command timeout."),
    STR("redis.prefix", prefix, "funnel", 1, 64, chars_word,
        "1..64 characters of A-Z a-z 0-9 . _ -", false,
        "Prefix of every Redis key (funnel:rep:..., funnel:stats with the default)."),
    ENUM("redis.follow_current", redis_follow_current, "on", on_off_values,
         "Resolve the active prefix through <redis.prefix>:current, the pointer funnelctl "
         "rebuild switches (docs/operations.md, \"Rebuilding\"); off: use redis.prefix as "
         "it is."),
    STR("funnel.timezone", timezone, "UTC", 1, 128, chars_timezone,
        "a zone name of 1..128 characters, no spaces, no \"..\", not starting with /", false,
        "IANA timezone of the business day, week, month and quarter windows."),
    LIST("funnel.stages", stages, "lead,qualified,proposal,negotiation,won", 2, 16, 64,
         chars_lowername, "2..16 unique names of 1..64 characters of a-z 0-9 _ -",
         "Funnel stages in order; the last one is the won stage."),
    LIST("funnel.activities", activities, "call,visit,email,meeting,follow_up", 1, 32, 64,
         chars_lowername, "1..32 unique names of 1..64 characters of a-z 0-9 _ -",
         "Activity kinds accepted in activity.logged events."),
    INT("batch.max_events", batch_max_events, 20000, 1, 1000000,
        "Most events folded into one atomic Redis apply."),
    INT("batch.linger_ms", batch_linger_ms, 50, 0, 60000,
        "Longest wait for a batch to fill before it is applied (while the previous batch's "
        "apply is still running, the batch keeps filling until that apply answers)."),
    INT("batch.catchup_max_events", batch_catchup_max_events, 500000, 1, 5000000,
        "Most events in one batch while catching up: when the consumer lag is above "
        "batch.max_events the batch grows with the lag up to this (docs/operations.md, "
        "\"Catching up\")."),
    INT("batch.catchup_max_bytes", batch_catchup_max_bytes, 268435456, 1048576, INT64_C(8589934592),
        "Most bytes of message payload read into one batch while catching up."),
    INT("batch.chunk_hashes", batch_chunk_hashes, 1000, 1, 1000000,
        "A batch that changes more metric hashes than this is committed first and then applied "
        "in chunk scripts of at most this many hashes each (docs/redis.md, \"Staged batches\")."),
    INT("batch.chunk_deals", batch_chunk_deals, 20000, 1, 1000000,
        "Most deal states one chunk script of a staged batch writes."),
    INT("dedupe.max_events", dedupe_max_events, 100000, 1, 10000000,
        "Event ids remembered per partition for duplicate detection."),
    INT("cache.max_deals", deal_cache_max, 500000, 1000, 100000000,
        "Deal states cached in memory."),
    INT("retention.day_days", retention_day_days, 400, 0, 1000000,
        "Days a day-window metric hash is kept after its window ends; 0 = forever."),
    INT("retention.week_days", retention_week_days, 0, 0, 1000000,
        "Days a week-window metric hash is kept after its window ends; 0 = forever."),
    INT("retention.month_days", retention_month_days, 0, 0, 1000000,
        "Days a month-window metric hash is kept after its window ends; 0 = forever."),
    INT("retention.quarter_days", retention_quarter_days, 0, 0, 1000000,
        "Days a quarter-window metric hash is kept after its window ends; 0 = forever."),
    INT("retention.hour_days", retention_hour_days, 0, 0, 1000000,
        "Days an hourly bucket (hour:<UTC hour>) is kept after its hour ends; 0 = automatic: "
        "the longest rolling window of alerts.rules (a day for calendar windows) plus one day, "
        "none without windowed rules."),
    STR("alerts.rules", alerts_rules, "", 0, 4096, chars_printable,
        "a file path of 0..4096 characters, no control characters", false,
        "Alert rules file (JSON, see docs/alerts.md); empty = no alerts."),
    STR("alerts.topic", alerts_topic, "funnel.alerts", 1, 249, chars_word, RULE_TOPIC, false,
        "Kafka topic alerts are produced to, keyed by alert_id; not one of kafka.topics."),
    INT("alerts.stream_maxlen", alerts_stream_maxlen, 10000, 1, 100000000,
        "Approximate length cap of the Redis stream <prefix>:alerts."),
    INT("alerts.lease_ms", alerts_lease_ms, 30000, 1000, 600000,
        "Lease of the alert evaluator: one instance evaluates at a time; another takes over "
        "this long after the holder stops renewing."),
    STR("targets.file", targets_file, "", 0, 4096, chars_printable,
        "a file path of 0..4096 characters, no control characters", false,
        "Targets and scorecards file (JSON or CSV, see docs/scorecards.md), reloaded on SIGHUP; "
        "empty = no targets, no scorecards."),
    ENUM("feeds.changes", feeds_changes, "on", on_off_values,
         "Write the change feed, the Redis stream <prefix>:changes (docs/feeds.md)."),
    INT("feeds.changes_maxlen", feeds_changes_maxlen, 10000, 100, 100000000,
        "Approximate length cap of <prefix>:changes; a reader further behind takes a new "
        "snapshot."),
    INT("feeds.changes_max_keys", feeds_changes_max_keys, 256, 0, 100000,
        "Most changed hashes one change-feed entry lists; a step that changed more writes one "
        "bulk entry (re-read what you show) instead."),
    INT("feeds.heartbeat_ms", feeds_heartbeat_ms, 2000, 100, 600000,
        "An instance writes a heartbeat entry (watermark, partitions' lag) after this long "
        "without a change-feed entry of its own."),
    ENUM("feeds.metrics", feeds_metrics, "on", on_off_values,
         "Publish every metric hash to the compacted Kafka topic feeds.metrics_topic "
         "(docs/feeds.md)."),
    STR("feeds.metrics_topic", feeds_metrics_topic, "funnel.metrics", 1, 249, chars_word,
        RULE_TOPIC, false,
        "Kafka topic of the metric rows, keyed by <scope>:<window>:<id>; create it with "
        "cleanup.policy=compact. Not one of kafka.topics."),
    INT("feeds.metrics_interval_ms", feeds_metrics_interval_ms, 1000, 10, 3600000,
        "Debounce of the metrics topic: at most one message per metric hash per interval."),
    INT("feeds.metrics_lease_ms", feeds_metrics_lease_ms, 30000, 1000, 600000,
        "Lease of the metrics publisher: one instance publishes at a time; another takes over "
        "this long after the holder stops renewing."),
    STR("http.listen", http_listen, "127.0.0.1:9750", 1, 300, chars_listen,
        "host:port, [IPv6]:port (port 0: any free one, logged), or off", false,
        "Where funneld serves /metrics, /livez and /readyz (docs/http.md); off: no HTTP."),
    STR("http.token", http_token, "", 0, 256, chars_nospace, "0..256 characters, no spaces", true,
        "Bearer token every HTTP request but /livez and /readyz must carry (funneld and "
        "funnel-web); required when a listen address is not loopback."),
    INT("http.max_connections", http_max_connections, 64, 1, 10000,
        "Most HTTP connections served at once; more wait in the kernel's backlog."),
    INT("http.max_request_bytes", http_max_request_bytes, 16384, 4096, 1048576,
        "Largest HTTP request (line and headers) accepted; a larger one gets 431 or 414."),
    INT("http.ready_max_lag", http_ready_max_lag, 100000, 0, INT64_C(1000000000000),
        "/readyz answers 503 while the summed consumer lag of the held partitions is above this "
        "many messages."),
    STR("web.listen", web_listen, "127.0.0.1:8080", 1, 300, chars_listen,
        "host:port, [IPv6]:port (port 0: any free one, logged), or off", false,
        "Where funnel-web serves the dashboard, /api/v1 and its own /metrics, /livez, /readyz."),
    INT("web.max_streams", web_max_streams, 32, 1, 10000,
        "Most /api/v1/stream clients at once (each holds one Redis connection); one more gets "
        "503."),
    INT("web.stream_keepalive_ms", web_stream_keepalive_ms, 15000, 1000, 300000,
        "An event stream with nothing to send writes a comment this often (proxies close idle "
        "connections)."),
    INT("web.ids_refresh_ms", web_ids_refresh_ms, 5000, 0, 3600000,
        "How long funnel-web reuses a window's list of rep or team ids (a SCAN of the whole "
        "keyspace) before listing them again; the numbers are always read fresh. 0: list on "
        "every request."),
    INT("retry.backoff_max_ms", backoff_max_ms, 5000, 10, 600000,
        "Longest wait between retries while Redis is unavailable."),
    ENUM("log.level", log_level, "info", log_level_values, "Least severe log level written."),
    STR("instance.id", instance_id, "", 0, 48, chars_word, "0..48 characters of A-Z a-z 0-9 . _ -",
        false,
        "Name of this instance in logs and claims; empty = generated from host name and pid."),
};

#define SETTINGS_COUNT (sizeof settings / sizeof settings[0])

/* librdkafka properties that duplicate a setting of ours: two knobs for one thing would let the
 * pass-through (applied last) silently win, so they are refused with a pointer to ours. */
static const struct {
    const char *property;
    const char *use;
} kafka_shadowed[] = {
    {"bootstrap.servers", "kafka.brokers"},
    {"metadata.broker.list", "kafka.brokers"},
    {"group.id", "kafka.group_id"},
    {"fetch.wait.max.ms", "kafka.fetch_wait_ms"},
    {"auto.offset.reset", "kafka.start_from"},
};

#define KAFKA_PROP_MAX 128 /* longest pass-through property name */

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------------- */

/* Where a value came from, for messages: a file path, an env var name or "--set". */
typedef struct {
    const char *label;
} source_t;

static fd_err_t failf(char *errstr, size_t errstr_size, fd_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static fd_err_t failf(char *errstr, size_t errstr_size, fd_err_t err, const char *fmt, ...) {
    if (errstr != NULL && errstr_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}

/* Writes s as a double-quoted, escaped, possibly shortened literal: a found value in a message. */
static void quote(char *out, size_t size, const char *s) {
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    const size_t keep = 80; /* longest shown part of a value */
    if (size < 8) {
        if (size > 0) out[0] = '\0';
        return;
    }
    out[n++] = '"';
    size_t i = 0;
    for (; s[i] != '\0' && i < keep && n + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 0xf];
        } else {
            out[n++] = (char)c;
        }
    }
    out[n++] = '"';
    if (s[i] != '\0' && n + 4 < size) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

static void source_suffix(char *out, size_t size, const source_t *src) {
    if (src == NULL)
        out[0] = '\0';
    else
        snprintf(out, size, " (from %s)", src->label);
}

/* "<name>: expected <expected>, got <found> (from <source>)" */
static fd_err_t fail_value(char *errstr, size_t errstr_size, const char *name, const char *expected,
                           const char *found, const source_t *src) {
    char from[600];
    source_suffix(from, sizeof from, src);
    return failf(errstr, errstr_size, FD_ERR_CONFIG, "%s: expected %s, got %s%s", name, expected,
                 found, from);
}

/* What a setting accepts, in words, for messages and the reference. */
static void expected_text(const setting_t *st, char *out, size_t size) {
    switch (st->type) {
    case SET_INT:
        snprintf(out, size, "an integer in %lld..%lld", (long long)st->min, (long long)st->max);
        break;
    case SET_ENUM: {
        size_t n = (size_t)snprintf(out, size, "one of ");
        for (size_t i = 0; st->allowed[i] != NULL && n < size; i++)
            n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", st->allowed[i]);
        break;
    }
    case SET_STRING:
    case SET_LIST:
        snprintf(out, size, "%s", st->rule);
        break;
    }
}

static const setting_t *find_setting(const char *name) {
    for (size_t i = 0; i < SETTINGS_COUNT; i++)
        if (strcmp(settings[i].name, name) == 0) return &settings[i];
    return NULL;
}

static char **string_field(fd_config_t *cfg, const setting_t *st) {
    return (char **)(void *)((char *)cfg + st->offset);
}
static int64_t *int_field(fd_config_t *cfg, const setting_t *st) {
    return (int64_t *)(void *)((char *)cfg + st->offset);
}
static fd_strlist_t *list_field(fd_config_t *cfg, const setting_t *st) {
    return (fd_strlist_t *)(void *)((char *)cfg + st->offset);
}
static const void *const_field(const fd_config_t *cfg, const setting_t *st) {
    return (const char *)cfg + st->offset;
}

static void list_clear(fd_strlist_t *list) {
    for (size_t i = 0; i < list->count; i++)
        free(list->item[i]);
    memset(list, 0, sizeof *list);
}

/* Edit distance between two short names, for "did you mean" (0 when too long to bother). */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = (a[i - 1] == b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Keeps cand in best when its distance d is below *best_d. */
static void keep_closest(char *best, size_t best_size, size_t *best_d, const char *cand, size_t d) {
    if (d < *best_d) {
        *best_d = d;
        snprintf(best, best_size, "%s", cand);
    }
}

/* " (did you mean <best>?)" into out, or "" when there is no candidate. */
static void did_you_mean(const char *best, char *out, size_t size) {
    if (best[0] != '\0')
        snprintf(out, size, " (did you mean %s?)", best);
    else
        out[0] = '\0';
}

/* Fills out with " (did you mean <x>?)" for the setting nearest to name, or "" when none is close.
 * env: compare and suggest FUNNELD_* variable names instead of setting names. */
static void suggest(const char *name, bool env, char *out, size_t size) {
    char best[160] = "";
    size_t best_d = 4; /* more than 3 edits is not a typo */
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        char cand[160];
        if (env) {
            size_t n = (size_t)snprintf(cand, sizeof cand, "FUNNELD_");
            for (const char *p = settings[i].name; *p && n + 1 < sizeof cand; p++)
                cand[n++] = (*p == '.') ? '_' : (char)toupper((unsigned char)*p);
            cand[n] = '\0';
        } else {
            snprintf(cand, sizeof cand, "%s", settings[i].name);
        }
        keep_closest(best, sizeof best, &best_d, cand, edit_distance(name, cand));
    }
    did_you_mean(best, out, size);
}

/* ---------------------------------------------------------------------------------------------
 * Checking and storing values
 * ------------------------------------------------------------------------------------------- */

static bool string_ok(const setting_t *st, const char *s) {
    size_t len = strlen(s);
    if (len < st->len_min || len > st->len_max) return false;
    return st->chars == NULL || st->chars(s);
}

static bool enum_ok(const setting_t *st, const char *s) {
    for (size_t i = 0; st->allowed[i] != NULL; i++)
        if (strcmp(st->allowed[i], s) == 0) return true;
    return false;
}

/* Checks a whole list; on a problem writes what was found ("1 entry", "\"won\" twice"...). */
static bool list_ok(const setting_t *st, const fd_strlist_t *list, char *found, size_t size) {
    char q[128];
    if ((int64_t)list->count < st->min || (int64_t)list->count > st->max) {
        snprintf(found, size, "%zu %s", list->count, list->count == 1 ? "entry" : "entries");
        return false;
    }
    for (size_t i = 0; i < list->count; i++) {
        const char *item = list->item[i];
        if (item[0] == '\0') {
            snprintf(found, size, "an empty entry");
            return false;
        }
        if (!string_ok(st, item)) {
            quote(q, sizeof q, item);
            snprintf(found, size, "the entry %s", q);
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(list->item[j], item) == 0) {
                quote(q, sizeof q, item);
                snprintf(found, size, "%s twice", q);
                return false;
            }
        }
    }
    return true;
}

/* Stores a string or enum value after checking it. */
static fd_err_t store_string(fd_config_t *cfg, const setting_t *st, const char *value,
                             const source_t *src, char *errstr, size_t errstr_size) {
    bool ok = (st->type == SET_ENUM) ? enum_ok(st, value) : string_ok(st, value);
    if (!ok) {
        char expected[256], found[128];
        expected_text(st, expected, sizeof expected);
        if (st->secret)
            snprintf(found, sizeof found, "a secret value (not shown)");
        else
            quote(found, sizeof found, value);
        return fail_value(errstr, errstr_size, st->name, expected, found, src);
    }
    char *copy = strdup(value);
    if (copy == NULL)
        return failf(errstr, errstr_size, FD_ERR_NOMEM, "%s: out of memory", st->name);
    char **field = string_field(cfg, st);
    free(*field);
    *field = copy;
    return FD_OK;
}

static fd_err_t store_int(fd_config_t *cfg, const setting_t *st, int64_t value) {
    *int_field(cfg, st) = value;
    return FD_OK;
}

/* Takes the entries of list (on success and on failure) and stores it after checking it. */
static fd_err_t store_list(fd_config_t *cfg, const setting_t *st, fd_strlist_t *list,
                           const char *shown, const source_t *src, char *errstr,
                           size_t errstr_size) {
    char found[256];
    if (!list_ok(st, list, found, sizeof found)) {
        char expected[256], full[400];
        expected_text(st, expected, sizeof expected);
        if (shown != NULL)
            snprintf(full, sizeof full, "%s in %s", found, shown);
        else
            snprintf(full, sizeof full, "%s", found);
        list_clear(list);
        return fail_value(errstr, errstr_size, st->name, expected, full, src);
    }
    fd_strlist_t *field = list_field(cfg, st);
    list_clear(field);
    *field = *list;
    memset(list, 0, sizeof *list);
    return FD_OK;
}

/* Parses a decimal integer that must be the whole text and lie in the setting's bounds. */
static fd_err_t set_int_text(fd_config_t *cfg, const setting_t *st, const char *text,
                             const source_t *src, char *errstr, size_t errstr_size) {
    char *end = NULL;
    errno = 0;
    long long v = 0;
    bool ok = text[0] != '\0' && !isspace((unsigned char)text[0]);
    if (ok) {
        v = strtoll(text, &end, 10);
        ok = errno == 0 && end != text && *end == '\0' && v >= st->min && v <= st->max;
    }
    if (!ok) {
        char expected[128], found[128];
        expected_text(st, expected, sizeof expected);
        quote(found, sizeof found, text);
        return fail_value(errstr, errstr_size, st->name, expected, found, src);
    }
    return store_int(cfg, st, (int64_t)v);
}

/* Splits "a, b,c" into trimmed entries. An empty (or all-space) text is an empty list. */
static fd_err_t set_list_text(fd_config_t *cfg, const setting_t *st, const char *text,
                              const source_t *src, char *errstr, size_t errstr_size) {
    fd_strlist_t list = {0};
    char expected[256];
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0') {
        for (;;) {
            const char *comma = strchr(p, ',');
            const char *end = comma ? comma : p + strlen(p);
            const char *b = p, *e = end;
            while (b < e && (*b == ' ' || *b == '\t'))
                b++;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (b == e || list.count == FD_CONFIG_MAX_LIST) {
                char found[64];
                if (b == e)
                    snprintf(found, sizeof found, "an empty entry");
                else
                    snprintf(found, sizeof found, "more than %d entries", FD_CONFIG_MAX_LIST);
                list_clear(&list);
                expected_text(st, expected, sizeof expected);
                return fail_value(errstr, errstr_size, st->name, expected, found, src);
            }
            char *item = strndup(b, (size_t)(e - b));
            if (item == NULL) {
                list_clear(&list);
                return failf(errstr, errstr_size, FD_ERR_NOMEM, "%s: out of memory", st->name);
            }
            list.item[list.count++] = item;
            if (comma == NULL) break;
            p = comma + 1;
        }
    }
    char shown[128];
    quote(shown, sizeof shown, text);
    return store_list(cfg, st, &list, shown, src, errstr, errstr_size);
}

/* Sets a table setting from text (the environment and --set). */
static fd_err_t set_text(fd_config_t *cfg, const setting_t *st, const char *text,
                         const source_t *src, char *errstr, size_t errstr_size) {
    switch (st->type) {
    case SET_STRING:
    case SET_ENUM:
        return store_string(cfg, st, text, src, errstr, errstr_size);
    case SET_INT:
        return set_int_text(cfg, st, text, src, errstr, errstr_size);
    case SET_LIST:
        return set_list_text(cfg, st, text, src, errstr, errstr_size);
    }
    return FD_ERR_INVAL;
}

/* ---------------------------------------------------------------------------------------------
 * kafka.<property> pass-through
 * ------------------------------------------------------------------------------------------- */

bool fd_config_kafka_is_secret(const char *prop) {
    static const char *const words[] = {"password", "secret", "key"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t wl = strlen(words[i]);
        for (const char *p = prop; *p; p++)
            if (strncasecmp(p, words[i], wl) == 0) return true;
    }
    return false;
}

/* Checks a property name: librdkafka's names are lower-case words joined by '.' (a few, like
 * log_level, use '_'); anything else cannot be a property and is most likely a typo. */
static fd_err_t kafka_prop_check(const char *prop, const source_t *src, char *errstr,
                                 size_t errstr_size) {
    char q[160], from[600];
    source_suffix(from, sizeof from, src);
    size_t len = strlen(prop);
    if (len == 0 || len > KAFKA_PROP_MAX || !chars_word(prop)) {
        quote(q, sizeof q, prop);
        return failf(errstr, errstr_size, FD_ERR_CONFIG,
                     "kafka.<property>: expected a librdkafka property name of 1..%d characters of "
                     "A-Z a-z 0-9 . _ -, got %s%s",
                     KAFKA_PROP_MAX, q, from);
    }
    for (size_t i = 0; i < sizeof kafka_shadowed / sizeof kafka_shadowed[0]; i++) {
        if (strcmp(prop, kafka_shadowed[i].property) == 0)
            return failf(errstr, errstr_size, FD_ERR_CONFIG,
                         "kafka.%s: not allowed as a pass-through, set %s instead%s", prop,
                         kafka_shadowed[i].use, from);
    }
    return FD_OK;
}

/* Adds or replaces kafka.<prop> = value (a later source overrides an earlier one). */
static fd_err_t kafka_prop_set(fd_config_t *cfg, const char *prop, const char *value,
                               const source_t *src, char *errstr, size_t errstr_size) {
    fd_err_t err = kafka_prop_check(prop, src, errstr, errstr_size);
    if (err != FD_OK) return err;
    size_t i = 0;
    while (i < cfg->kafka_count && strcmp(cfg->kafka_name[i], prop) != 0)
        i++;
    if (i == FD_CONFIG_MAX_KAFKA) {
        char from[600];
        source_suffix(from, sizeof from, src);
        return failf(errstr, errstr_size, FD_ERR_CONFIG,
                     "kafka.%s: expected at most %d kafka.<property> settings, got more%s", prop,
                     FD_CONFIG_MAX_KAFKA, from);
    }
    char *v = strdup(value);
    if (v == NULL) return failf(errstr, errstr_size, FD_ERR_NOMEM, "kafka.%s: out of memory", prop);
    if (i < cfg->kafka_count) {
        free(cfg->kafka_value[i]);
        cfg->kafka_value[i] = v;
        return FD_OK;
    }
    char *n = strdup(prop);
    if (n == NULL) {
        free(v);
        return failf(errstr, errstr_size, FD_ERR_NOMEM, "kafka.%s: out of memory", prop);
    }
    cfg->kafka_name[i] = n;
    cfg->kafka_value[i] = v;
    cfg->kafka_count++;
    return FD_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Init, clear, set
 * ------------------------------------------------------------------------------------------- */

bool fd_config_on(const char *value) {
    return value != NULL && strcmp(value, "on") == 0;
}

fd_err_t fd_config_init(fd_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    char errstr[512];
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        fd_err_t err = set_text(cfg, &settings[i], settings[i].def, NULL, errstr, sizeof errstr);
        if (err != FD_OK) {
            /* Only NOMEM can happen: every default satisfies its own rule (a unit test checks). */
            fd_config_clear(cfg);
            return err;
        }
    }
    return FD_OK;
}

void fd_config_clear(fd_config_t *cfg) {
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const setting_t *st = &settings[i];
        if (st->type == SET_STRING || st->type == SET_ENUM) {
            char **field = string_field(cfg, st);
            free(*field);
            *field = NULL;
        } else if (st->type == SET_LIST) {
            list_clear(list_field(cfg, st));
        }
    }
    for (size_t i = 0; i < cfg->kafka_count; i++) {
        free(cfg->kafka_name[i]);
        free(cfg->kafka_value[i]);
    }
    memset(cfg, 0, sizeof *cfg);
}

/* Sets name = text from a source; "kafka.<prop>" that is not ours passes through. */
static fd_err_t set_named(fd_config_t *cfg, const char *name, const char *value,
                          const source_t *src, bool env, const char *shown_name, char *errstr,
                          size_t errstr_size) {
    const setting_t *st = find_setting(name);
    if (st != NULL) return set_text(cfg, st, value, src, errstr, errstr_size);
    if (strncmp(name, "kafka.", 6) == 0)
        return kafka_prop_set(cfg, name + 6, value, src, errstr, errstr_size);
    char q[160], hint[200];
    quote(q, sizeof q, shown_name);
    suggest(shown_name, env, hint, sizeof hint);
    return failf(errstr, errstr_size, FD_ERR_CONFIG, "unknown setting %s (from %s)%s", q,
                 src->label, hint);
}

fd_err_t fd_config_set(fd_config_t *cfg, const char *name, const char *value, char *errstr,
                       size_t errstr_size) {
    const source_t src = {"--set"};
    return set_named(cfg, name, value, &src, false, name, errstr, errstr_size);
}

fd_err_t fd_config_set_arg(fd_config_t *cfg, const char *arg, char *errstr, size_t errstr_size) {
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg) {
        char q[160];
        quote(q, sizeof q, arg);
        return failf(errstr, errstr_size, FD_ERR_CONFIG,
                     "--set: expected name=value (redis.port=6380), got %s", q);
    }
    char name[256];
    size_t len = (size_t)(eq - arg);
    if (len >= sizeof name) len = sizeof name - 1; /* too long to be a name: reported unknown */
    memcpy(name, arg, len);
    name[len] = '\0';
    return fd_config_set(cfg, name, eq + 1, errstr, errstr_size);
}

/* ---------------------------------------------------------------------------------------------
 * Environment
 * ------------------------------------------------------------------------------------------- */

#define ENV_PREFIX       "FUNNELD_"
#define ENV_KAFKA_PREFIX "FUNNELD_KAFKA__"

/* FUNNELD_ + the setting name upper-cased with '.' as '_'. */
static void env_name(const setting_t *st, char *out, size_t size) {
    size_t n = (size_t)snprintf(out, size, ENV_PREFIX);
    for (const char *p = st->name; *p && n + 1 < size; p++)
        out[n++] = (*p == '.') ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

fd_err_t fd_config_apply_env(fd_config_t *cfg, char *const *envp, char *errstr,
                             size_t errstr_size) {
    if (envp == NULL) return FD_OK;
    for (size_t e = 0; envp[e] != NULL; e++) {
        const char *entry = envp[e];
        if (strncmp(entry, ENV_PREFIX, strlen(ENV_PREFIX)) != 0) continue;
        const char *eq = strchr(entry, '=');
        if (eq == NULL) continue;
        char var[256];
        size_t len = (size_t)(eq - entry);
        if (len >= sizeof var) len = sizeof var - 1;
        memcpy(var, entry, len);
        var[len] = '\0';
        const char *value = eq + 1;
        if (strcmp(var, "FUNNELD_CONFIG") == 0) continue;
        const source_t src = {var};

        if (strncmp(var, ENV_KAFKA_PREFIX, strlen(ENV_KAFKA_PREFIX)) == 0) {
            /* FUNNELD_KAFKA__SASL_MECHANISMS -> kafka.sasl.mechanisms */
            char prop[KAFKA_PROP_MAX + 2];
            const char *p = var + strlen(ENV_KAFKA_PREFIX);
            size_t n = 0;
            for (; *p && n + 1 < sizeof prop; p++)
                prop[n++] = (*p == '_') ? '.' : (char)tolower((unsigned char)*p);
            prop[n] = '\0';
            fd_err_t err = kafka_prop_set(cfg, prop, value, &src, errstr, errstr_size);
            if (err != FD_OK) return err;
            continue;
        }
        const setting_t *st = NULL;
        for (size_t i = 0; i < SETTINGS_COUNT && st == NULL; i++) {
            char name[160];
            env_name(&settings[i], name, sizeof name);
            if (strcmp(name, var) == 0) st = &settings[i];
        }
        if (st == NULL) {
            char hint[200];
            suggest(var, true, hint, sizeof hint);
            /* FUNNELD_KAFKA_SASL_USERNAME: a pass-through with one '_' too few. */
            bool kafka = strncmp(var, "FUNNELD_KAFKA_", 14) == 0 && hint[0] == '\0';
            return failf(errstr, errstr_size, FD_ERR_CONFIG,
                         "unknown setting %s in the environment%s", var,
                         kafka ? " (kafka.<property> is FUNNELD_KAFKA__<PROPERTY>)" : hint);
        }
        fd_err_t err = set_text(cfg, st, value, &src, errstr, errstr_size);
        if (err != FD_OK) return err;
    }
    return FD_OK;
}

/* ---------------------------------------------------------------------------------------------
 * JSON file
 * ------------------------------------------------------------------------------------------- */

/* A found JSON value for a message; secrets show only their type. */
static void describe_json(const cJSON *item, bool secret, char *out, size_t size) {
    if (cJSON_IsString(item)) {
        if (secret)
            snprintf(out, size, "a string (secret, not shown)");
        else
            quote(out, size, item->valuestring);
    } else if (cJSON_IsNumber(item)) {
        if (secret)
            snprintf(out, size, "a number");
        else
            snprintf(out, size, "%.17g", item->valuedouble);
    } else if (cJSON_IsTrue(item)) {
        snprintf(out, size, "true");
    } else if (cJSON_IsFalse(item)) {
        snprintf(out, size, "false");
    } else if (cJSON_IsNull(item)) {
        snprintf(out, size, "null");
    } else if (cJSON_IsArray(item)) {
        snprintf(out, size, "an array");
    } else {
        snprintf(out, size, "an object");
    }
}

/* True when an earlier sibling of item has the same key (cJSON keeps duplicates). */
static bool key_seen_before(const cJSON *parent, const cJSON *item) {
    for (const cJSON *c = parent->child; c != NULL && c != item; c = c->next)
        if (strcmp(c->string, item->string) == 0) return true;
    return false;
}

/* Applies one JSON value to a table setting. */
static fd_err_t set_json(fd_config_t *cfg, const setting_t *st, const cJSON *item,
                         const source_t *src, char *errstr, size_t errstr_size) {
    char expected[256], found[160];
    expected_text(st, expected, sizeof expected);
    switch (st->type) {
    case SET_STRING:
    case SET_ENUM:
        if (cJSON_IsString(item))
            return store_string(cfg, st, item->valuestring, src, errstr, errstr_size);
        break;
    case SET_INT:
        /* valuedouble, not valueint: valueint saturates and truncates fractions silently.
         * Every bound is far below 2^53, so the double holds the integer exactly. */
        if (cJSON_IsNumber(item)) {
            double d = item->valuedouble;
            if (isfinite(d) && d == floor(d) && d >= (double)st->min && d <= (double)st->max)
                return store_int(cfg, st, (int64_t)d);
        }
        break;
    case SET_LIST: {
        if (!cJSON_IsArray(item)) {
            char e2[300];
            snprintf(e2, sizeof e2, "an array of strings (%s)", expected);
            describe_json(item, false, found, sizeof found);
            return fail_value(errstr, errstr_size, st->name, e2, found, src);
        }
        fd_strlist_t list = {0};
        for (const cJSON *c = item->child; c != NULL; c = c->next) {
            if (!cJSON_IsString(c) || list.count == FD_CONFIG_MAX_LIST) {
                char d[128];
                if (cJSON_IsString(c))
                    snprintf(found, sizeof found, "more than %d entries", FD_CONFIG_MAX_LIST);
                else {
                    describe_json(c, false, d, sizeof d);
                    snprintf(found, sizeof found, "an array with the entry %s", d);
                }
                list_clear(&list);
                return fail_value(errstr, errstr_size, st->name, expected, found, src);
            }
            char *copy = strdup(c->valuestring);
            if (copy == NULL) {
                list_clear(&list);
                return failf(errstr, errstr_size, FD_ERR_NOMEM, "%s: out of memory", st->name);
            }
            list.item[list.count++] = copy;
        }
        return store_list(cfg, st, &list, NULL, src, errstr, errstr_size);
    }
    }
    describe_json(item, st->secret, found, sizeof found);
    return fail_value(errstr, errstr_size, st->name, expected, found, src);
}

/* A pass-through value from the file: strings as they are, numbers and booleans as text. */
static fd_err_t set_kafka_json(fd_config_t *cfg, const char *prop, const cJSON *item,
                               const source_t *src, char *errstr, size_t errstr_size) {
    char text[64];
    const char *value = NULL;
    /* The name first: a message about the value names the property as it is, unquoted. */
    fd_err_t err = kafka_prop_check(prop, src, errstr, errstr_size);
    if (err != FD_OK) return err;
    if (cJSON_IsString(item)) {
        value = item->valuestring;
    } else if (cJSON_IsNumber(item) && isfinite(item->valuedouble)) {
        /* Shortest text that reads back as the same double: 1000 -> "1000", 0.5 -> "0.5". */
        snprintf(text, sizeof text, "%.15g", item->valuedouble);
        if (strtod(text, NULL) != item->valuedouble)
            snprintf(text, sizeof text, "%.17g", item->valuedouble);
        value = text;
    } else if (cJSON_IsBool(item)) {
        value = cJSON_IsTrue(item) ? "true" : "false";
    }
    if (value == NULL) {
        char name[KAFKA_PROP_MAX + 16], found[64];
        snprintf(name, sizeof name, "kafka.%s", prop);
        describe_json(item, false, found, sizeof found);
        return fail_value(errstr, errstr_size, name, "a string, number or boolean", found, src);
    }
    return kafka_prop_set(cfg, prop, value, src, errstr, errstr_size);
}

static bool is_section(const char *key) {
    size_t len = strlen(key);
    for (size_t i = 0; i < SETTINGS_COUNT; i++)
        if (strncmp(settings[i].name, key, len) == 0 && settings[i].name[len] == '.') return true;
    return false;
}

/* Writes " (did you mean <section>?)" into out when a section name is at most 2 edits (or a
 * change of case) from key, else "". */
static void suggest_section(const char *key, char *out, size_t size) {
    char best[64] = "";
    size_t best_d = 3;
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        char cand[64];
        const char *dot = strchr(settings[i].name, '.');
        snprintf(cand, sizeof cand, "%.*s", (int)(dot - settings[i].name), settings[i].name);
        keep_closest(best, sizeof best, &best_d, cand,
                     strcasecmp(cand, key) == 0 ? 0 : edit_distance(key, cand));
    }
    did_you_mean(best, out, size);
}

/* Reads the whole file into a NUL-terminated buffer. */
static fd_err_t read_file(const char *path, char **out, size_t *out_len, char *errstr,
                          size_t errstr_size) {
    fd_err_t err = fd_file_read(path, (size_t)64 << 20, out, out_len);
    if (err == FD_OK) return FD_OK;
    return failf(errstr, errstr_size, FD_ERR_IO, "%s: cannot read the config file: %s", path,
                 err == FD_ERR_RANGE ? "larger than 64 MiB" : strerror(errno));
}

fd_err_t fd_config_load_file(fd_config_t *cfg, const char *path, char *errstr, size_t errstr_size) {
    char *buf = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    const source_t src = {path};
    char q[200], hint[200];
    fd_err_t err = read_file(path, &buf, &len, errstr, errstr_size);
    if (err != FD_OK) return err;

    size_t nul_at = 0;
    if (fd_jsontext_has_nul_escape(buf, len, &nul_at)) {
        free(buf);
        return failf(errstr, errstr_size, FD_ERR_CONFIG,
                     "%s: a \\u0000 escape at byte %zu: no setting can hold a NUL character", path,
                     nul_at);
    }
    const char *end = NULL;
    /* A NUL byte would end the text early for cJSON: refuse it instead of reading half a file. */
    root = memchr(buf, '\0', len) ? NULL : cJSON_ParseWithLengthOpts(buf, len, &end, false);
    if (root != NULL) {
        while (end < buf + len && isspace((unsigned char)*end))
            end++;
    }
    if (root == NULL || end != buf + len) {
        /* Line and column of where parsing stopped. */
        const char *at = (end != NULL && end >= buf && end <= buf + len) ? end : buf;
        if (root == NULL && memchr(buf, '\0', len)) at = memchr(buf, '\0', len);
        size_t line = 1, col = 1;
        for (const char *p = buf; p < at; p++) {
            if (*p == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        err = failf(errstr, errstr_size, FD_ERR_CONFIG,
                    "%s: not valid JSON (at line %zu, column %zu)", path, line, col);
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        char found[64];
        describe_json(root, false, found, sizeof found);
        err = failf(errstr, errstr_size, FD_ERR_CONFIG,
                    "%s: expected a JSON object of sections ({\"kafka\": {...}, \"redis\": "
                    "{...}}), got %s",
                    path, found);
        goto done;
    }
    for (const cJSON *sec = root->child; sec != NULL; sec = sec->next) {
        quote(q, sizeof q, sec->string);
        if (key_seen_before(root, sec)) {
            err = failf(errstr, errstr_size, FD_ERR_CONFIG, "duplicate section %s in %s", q, path);
            goto done;
        }
        if (!is_section(sec->string)) {
            /* a dotted key is a setting written flat; anything else a section name */
            const char *dot = strchr(sec->string, '.');
            bool dotted = dot != NULL;
            if (dotted && find_setting(sec->string) != NULL) {
                err = failf(errstr, errstr_size, FD_ERR_CONFIG,
                            "setting %s at the top of %s: write it inside its section, "
                            "{\"%.*s\": {\"%s\": ...}}",
                            q, path, (int)(dot - sec->string), sec->string, dot + 1);
                goto done;
            }
            if (dotted)
                suggest(sec->string, false, hint, sizeof hint);
            else
                suggest_section(sec->string, hint, sizeof hint);
            err = failf(errstr, errstr_size, FD_ERR_CONFIG, "unknown %s %s in %s%s",
                        dotted ? "setting" : "section", q, path, hint);
            goto done;
        }
        if (!cJSON_IsObject(sec)) {
            char found[160], sec_name[80];
            describe_json(sec, false, found, sizeof found);
            snprintf(sec_name, sizeof sec_name, "%s", sec->string);
            err = fail_value(errstr, errstr_size, sec_name, "an object of settings", found, &src);
            goto done;
        }
        for (const cJSON *item = sec->child; item != NULL; item = item->next) {
            char name[300];
            snprintf(name, sizeof name, "%s.%s", sec->string, item->string);
            quote(q, sizeof q, name);
            if (key_seen_before(sec, item)) {
                err = failf(errstr, errstr_size, FD_ERR_CONFIG, "duplicate setting %s in %s", q,
                            path);
                goto done;
            }
            const setting_t *st = find_setting(name);
            if (st != NULL) {
                err = set_json(cfg, st, item, &src, errstr, errstr_size);
            } else if (strcmp(sec->string, "kafka") == 0) {
                err = set_kafka_json(cfg, item->string, item, &src, errstr, errstr_size);
            } else {
                suggest(name, false, hint, sizeof hint);
                err = failf(errstr, errstr_size, FD_ERR_CONFIG, "unknown setting %s in %s%s", q,
                            path, hint);
            }
            if (err != FD_OK) goto done;
        }
    }
    err = FD_OK;
done:
    cJSON_Delete(root);
    free(buf);
    return err;
}

/* ---------------------------------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------------------------------- */

fd_err_t fd_config_validate(const fd_config_t *cfg, char *errstr, size_t errstr_size) {
    char expected[256], found[256];
    /* Every value again: the struct may have been changed directly, and the defaults are
     * checked by the same rules. */
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const setting_t *st = &settings[i];
        expected_text(st, expected, sizeof expected);
        switch (st->type) {
        case SET_STRING:
        case SET_ENUM: {
            const char *s = *(char *const *)const_field(cfg, st);
            if (s == NULL)
                return fail_value(errstr, errstr_size, st->name, expected, "no value", NULL);
            if (st->type == SET_ENUM ? !enum_ok(st, s) : !string_ok(st, s)) {
                if (st->secret)
                    snprintf(found, sizeof found, "a secret value (not shown)");
                else
                    quote(found, sizeof found, s);
                return fail_value(errstr, errstr_size, st->name, expected, found, NULL);
            }
            break;
        }
        case SET_INT: {
            int64_t v = *(const int64_t *)const_field(cfg, st);
            if (v < st->min || v > st->max) {
                snprintf(found, sizeof found, "%lld", (long long)v);
                return fail_value(errstr, errstr_size, st->name, expected, found, NULL);
            }
            break;
        }
        case SET_LIST: {
            const fd_strlist_t *list = const_field(cfg, st);
            if (!list_ok(st, list, found, sizeof found))
                return fail_value(errstr, errstr_size, st->name, expected, found, NULL);
            break;
        }
        }
    }
    for (size_t i = 0; i < cfg->kafka_count; i++) {
        fd_err_t err = kafka_prop_check(cfg->kafka_name[i], NULL, errstr, errstr_size);
        if (err != FD_OK) return err;
    }
    /* Rejected events and alerts must not be consumed again as input. */
    for (size_t i = 0; i < cfg->topics.count; i++) {
        if (strcmp(cfg->topics.item[i], cfg->alerts_topic) == 0) {
            quote(found, sizeof found, cfg->alerts_topic);
            return failf(errstr, errstr_size, FD_ERR_CONFIG,
                         "alerts.topic: expected a topic that is not one of kafka.topics, "
                         "got %s",
                         found);
        }
        if (strcmp(cfg->topics.item[i], cfg->dlq_topic) == 0) {
            quote(found, sizeof found, cfg->dlq_topic);
            return failf(errstr, errstr_size, FD_ERR_CONFIG,
                         "kafka.dlq_topic: expected a topic that is not one of kafka.topics, "
                         "got %s",
                         found);
        }
    }
    if (strcmp(cfg->alerts_topic, cfg->dlq_topic) == 0) {
        quote(found, sizeof found, cfg->alerts_topic);
        return failf(errstr, errstr_size, FD_ERR_CONFIG,
                     "alerts.topic: expected a topic other than kafka.dlq_topic, got %s", found);
    }
    /* Only loopback may be served without a token. */
    const char *listens[] = {cfg->http_listen, cfg->web_listen};
    const char *listen_names[] = {"http.listen", "web.listen"};
    for (size_t i = 0; i < 2; i++) {
        char host[FD_LISTEN_HOST_MAX];
        int port;
        bool loopback;
        if (strcmp(listens[i], "off") == 0 || cfg->http_token[0] != '\0') continue;
        if (fd_config_listen(listens[i], host, sizeof host, &port, &loopback) && !loopback) {
            quote(found, sizeof found, listens[i]);
            return failf(errstr, errstr_size, FD_ERR_CONFIG,
                         "%s: %s is not a loopback address: set http.token (a bearer token "
                         "clients must send) to serve it, or bind 127.0.0.1",
                         listen_names[i], found);
        }
    }
    /* The metric rows are neither input nor another output's topic. */
    const char *others[] = {cfg->dlq_topic, cfg->alerts_topic};
    const char *other_names[] = {"kafka.dlq_topic", "alerts.topic"};
    for (size_t i = 0; i < cfg->topics.count + 2; i++) {
        const char *t = i < cfg->topics.count ? cfg->topics.item[i] : others[i - cfg->topics.count];
        if (strcmp(t, cfg->feeds_metrics_topic) != 0) continue;
        quote(found, sizeof found, cfg->feeds_metrics_topic);
        return failf(errstr, errstr_size, FD_ERR_CONFIG,
                     "feeds.metrics_topic: expected a topic that is not %s, got %s",
                     i < cfg->topics.count ? "one of kafka.topics"
                                           : other_names[i - cfg->topics.count],
                     found);
    }
    return FD_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reference and dump
 * ------------------------------------------------------------------------------------------- */

static const char *type_name(set_type_t t) {
    switch (t) {
    case SET_STRING:
        return "string";
    case SET_INT:
        return "integer";
    case SET_LIST:
        return "list";
    case SET_ENUM:
        return "enum";
    }
    return "?";
}

/* The default as shown in the reference: "text" for strings, a, b, c for lists. */
static void default_text(const setting_t *st, char *out, size_t size) {
    if (st->type == SET_STRING || st->type == SET_ENUM) {
        snprintf(out, size, "\"%s\"", st->def);
    } else if (st->type == SET_LIST) {
        size_t n = 0;
        for (const char *p = st->def; *p && n + 3 < size; p++) {
            out[n++] = *p;
            if (*p == ',') out[n++] = ' ';
        }
        out[n] = '\0';
    } else {
        snprintf(out, size, "%s", st->def);
    }
}

/* Writes s for a markdown table cell: '|' escaped. */
static void md_cell(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
}

void fd_config_print_reference(FILE *out, bool markdown) {
    char def[256], expected[256], env[160];
    if (markdown) {
        fputs("| Setting | Type | Default | Allowed | Environment | Description |\n", out);
        fputs("|---|---|---|---|---|---|\n", out);
        for (size_t i = 0; i < SETTINGS_COUNT; i++) {
            const setting_t *st = &settings[i];
            default_text(st, def, sizeof def);
            expected_text(st, expected, sizeof expected);
            env_name(st, env, sizeof env);
            fprintf(out, "| `%s` | %s | `", st->name, type_name(st->type));
            md_cell(out, def);
            fputs("` | ", out);
            md_cell(out, expected);
            fprintf(out, " | `%s` | ", env);
            md_cell(out, st->desc);
            fputs(" |\n", out);
        }
        fputs("| `kafka.<property>` | string | (none) | any librdkafka property except "
              "bootstrap.servers, metadata.broker.list, group.id, fetch.wait.max.ms, "
              "auto.offset.reset | `FUNNELD_KAFKA__<PROPERTY>` | Passed to librdkafka "
              "(consumer and producer); names with password, secret or key are secrets. |\n",
              out);
        return;
    }
    fputs("  Each one is a key of the config file ({\"section\": {\"key\": ...}}), a FUNNELD_*\n"
          "  variable and a --set name=value; lists are comma-separated outside the file.\n",
          out);
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const setting_t *st = &settings[i];
        default_text(st, def, sizeof def);
        expected_text(st, expected, sizeof expected);
        env_name(st, env, sizeof env);
        fprintf(out, "  %-24s %s, default %s  [%s]\n", st->name, type_name(st->type), def, env);
        fprintf(out, "      %s\n      Allowed: %s.\n", st->desc, expected);
    }
    fputs("  kafka.<property>         string  [FUNNELD_KAFKA__<PROPERTY>, '_' for '.']\n"
          "      Any librdkafka property (security.protocol, sasl.username...), passed to the\n"
          "      consumer and the producer. Names with password, secret or key are secrets.\n",
          out);
}

/* Writes a value of the dump, one line whatever it holds: a control character (a kafka.<property>
 * value may hold a PEM certificate's newlines) is written as \xNN, everything else as it is. */
static void dump_value(FILE *out, const char *s) {
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('\n', out);
}

void fd_config_dump(const fd_config_t *cfg, FILE *out) {
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const setting_t *st = &settings[i];
        fprintf(out, "%s = ", st->name);
        if (st->type == SET_INT) {
            fprintf(out, "%lld\n", (long long)*(const int64_t *)const_field(cfg, st));
        } else if (st->type == SET_LIST) {
            const fd_strlist_t *list = const_field(cfg, st);
            for (size_t j = 0; j < list->count; j++)
                fprintf(out, "%s%s", j ? "," : "", list->item[j]);
            fputc('\n', out);
        } else {
            const char *s = *(char *const *)const_field(cfg, st);
            if (st->secret)
                fprintf(out, "%s\n", (s != NULL && s[0] != '\0') ? "(set)" : "(empty)");
            else
                dump_value(out, s != NULL ? s : "");
        }
        /* The pass-through entries follow the last kafka.* setting of the table. */
        bool last_kafka =
            strncmp(st->name, "kafka.", 6) == 0 &&
            (i + 1 == SETTINGS_COUNT || strncmp(settings[i + 1].name, "kafka.", 6) != 0);
        if (last_kafka) {
            for (size_t k = 0; k < cfg->kafka_count; k++) {
                const char *v = cfg->kafka_value[k];
                if (fd_config_kafka_is_secret(cfg->kafka_name[k]))
                    v = v[0] != '\0' ? "(set)" : "(empty)";
                fprintf(out, "kafka.%s = ", cfg->kafka_name[k]);
                dump_value(out, v);
            }
        }
    }
}

bool fd_config_listen(const char *value, char *host, size_t host_size, int *port, bool *loopback) {
    const char *colon, *h = value;
    size_t hlen;
    if (value[0] == '[') {
        const char *end = strchr(value, ']');
        if (end == NULL || end[1] != ':') return false;
        h = value + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(value, ':');
        if (colon == NULL || memchr(value, ':', (size_t)(colon - value)) != NULL) return false;
        hlen = (size_t)(colon - value);
    }
    if (hlen == 0 || hlen >= host_size) return false;
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5) return false;
    long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535) return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)v;
    *loopback =
        strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 || strncmp(host, "127.", 4) == 0;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * The layers
 * ------------------------------------------------------------------------------------------- */

fd_err_t fd_config_load_layers(fd_config_t *cfg, const char *path, char *const *envp,
                               const char *const *sets, size_t nsets, fd_log_level_t *level,
                               char *errstr, size_t errstr_size) {
    fd_err_t err;
    if (path && (err = fd_config_load_file(cfg, path, errstr, errstr_size)) != FD_OK) return err;
    if ((err = fd_config_apply_env(cfg, envp, errstr, errstr_size)) != FD_OK) return err;
    for (size_t i = 0; i < nsets; i++)
        if ((err = fd_config_set_arg(cfg, sets[i], errstr, errstr_size)) != FD_OK) return err;
    if ((err = fd_config_validate(cfg, errstr, errstr_size)) != FD_OK) return err;
    /* validate has checked log.level against the same names; this stays a guard */
    if (level && fd_log_level_parse(cfg->log_level, level) != FD_OK)
        return failf(errstr, errstr_size, FD_ERR_CONFIG, "log.level: unknown level '%s'",
                     cfg->log_level);
    return FD_OK;
}

bool fd_config_take_arg(int argc, char *const *argv, int *i, const char **path, const char **sets,
                        size_t *nsets) {
    if (*i + 1 >= argc) return false;
    if (strcmp(argv[*i], "--config") == 0) {
        *path = argv[++*i];
        return true;
    }
    if (strcmp(argv[*i], "--set") == 0) {
        sets[(*nsets)++] = argv[++*i];
        return true;
    }
    return false;
}
