// SPDX-License-Identifier: MIT
// Settings: one table drives defaults, the JSON file, FUNNELD_* environment overrides, --set flags,
// validation, --help and the generated reference in docs/configuration.md (layer 1).
#ifndef FUNNELD_CONFIG_H
#define FUNNELD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "base/log.h"

#define FD_CONFIG_MAX_LIST  32 /* most entries in a list setting */
#define FD_CONFIG_MAX_KAFKA 64 /* most kafka.<property> pass-through entries */

/* A list setting: comma-separated in env and flags, a JSON array of strings in the file. */
typedef struct {
    char *item[FD_CONFIG_MAX_LIST];
    size_t count;
} fd_strlist_t;

/* Every setting. Strings and lists are heap-owned by the config; fd_config_clear frees them. */
typedef struct {
    /* kafka */
    char *brokers;         /* kafka.brokers */
    fd_strlist_t topics;   /* kafka.topics */
    char *group_id;        /* kafka.group_id */
    char *dlq_topic;       /* kafka.dlq_topic */
    char *start_from;      /* kafka.start_from: earliest | latest, for partitions Redis has no
                            * offset for */
    int64_t fetch_wait_ms; /* kafka.fetch_wait_ms -> fetch.wait.max.ms */
    /* kafka.<librdkafka property> pass-through, applied last (consumer and producer) */
    char *kafka_name[FD_CONFIG_MAX_KAFKA];
    char *kafka_value[FD_CONFIG_MAX_KAFKA];
    size_t kafka_count;
    /* redis */
    char *redis_host;           /* redis.host */
    int64_t redis_port;         /* redis.port */
    char *redis_user;           /* redis.user (ACL user; "" = default user) */
    char *redis_password;       /* redis.password (secret: never logged) */
    int64_t redis_db;           /* redis.db */
    int64_t redis_timeout_ms;   /* redis.timeout_ms: connect and command timeout */
    char *prefix;               /* redis.prefix: key prefix */
    char *redis_follow_current; /* redis.follow_current: on | off (fd_config_on) */
    /* funnel */
    char *timezone;          /* funnel.timezone */
    fd_strlist_t stages;     /* funnel.stages */
    fd_strlist_t activities; /* funnel.activities */
    /* processing */
    int64_t batch_max_events;          /* batch.max_events */
    int64_t batch_linger_ms;           /* batch.linger_ms */
    int64_t batch_catchup_max_events;  /* batch.catchup_max_events */
    int64_t batch_catchup_max_bytes;   /* batch.catchup_max_bytes */
    int64_t batch_chunk_hashes;        /* batch.chunk_hashes: hashes per chunk of a staged batch */
    int64_t batch_chunk_deals;         /* batch.chunk_deals: deal states per chunk */
    int64_t dedupe_max_events;         /* dedupe.max_events: remembered event ids per partition */
    int64_t deal_cache_max;            /* cache.max_deals: deals cached in memory */
    int64_t retention_day_days;        /* retention.day_days, 0 = keep */
    int64_t retention_week_days;       /* retention.week_days, 0 = keep */
    int64_t retention_month_days;      /* retention.month_days, 0 = keep */
    int64_t retention_quarter_days;    /* retention.quarter_days, 0 = keep */
    int64_t retention_hour_days;       /* retention.hour_days, 0 = automatic (see alerts.rules) */
    char *alerts_rules;                /* alerts.rules: rules file path, "" = no alerts */
    char *alerts_topic;                /* alerts.topic: Kafka topic of alert notifications */
    int64_t alerts_stream_maxlen;      /* alerts.stream_maxlen: cap of <prefix>:alerts */
    int64_t alerts_lease_ms;           /* alerts.lease_ms: evaluator lease */
    char *targets_file;                /* targets.file: targets and scorecards, "" = none */
    char *feeds_changes;               /* feeds.changes: on | off (fd_config_on) */
    int64_t feeds_changes_maxlen;      /* feeds.changes_maxlen: cap of <prefix>:changes */
    int64_t feeds_changes_max_keys;    /* feeds.changes_max_keys: keys listed per entry */
    int64_t feeds_heartbeat_ms;        /* feeds.heartbeat_ms */
    char *feeds_metrics;               /* feeds.metrics: on | off */
    char *feeds_metrics_topic;         /* feeds.metrics_topic */
    int64_t feeds_metrics_interval_ms; /* feeds.metrics_interval_ms: debounce */
    int64_t feeds_metrics_lease_ms;    /* feeds.metrics_lease_ms */
    char *http_listen;                 /* http.listen: funneld's ops endpoints, "off" = none */
    char *http_token;                  /* http.token (secret): bearer token, "" = none */
    int64_t http_max_connections;      /* http.max_connections */
    int64_t http_max_request_bytes;    /* http.max_request_bytes */
    int64_t http_ready_max_lag;        /* http.ready_max_lag: /readyz's lag bound, messages */
    char *web_listen;                  /* web.listen: funnel-web's address, "off" = none */
    int64_t web_max_streams;           /* web.max_streams: concurrent /api/v1/stream clients */
    int64_t web_stream_keepalive_ms;   /* web.stream_keepalive_ms */
    int64_t web_ids_refresh_ms;        /* web.ids_refresh_ms: reuse of a window's id list */
    int64_t backoff_max_ms; /* retry.backoff_max_ms: longest wait between Redis retries */
    char *log_level;        /* log.level: error | warn | info | debug */
    char *instance_id;      /* instance.id: "" = generated from host name and pid */
} fd_config_t;

#define FD_LISTEN_HOST_MAX 256

/* Splits a listen setting (http.listen, web.listen) "host:port" or "[v6]:port" into host (without
 * brackets) and port; loopback when host is localhost, ::1 or 127.x. False when malformed (and
 * for "off": check that first). */
bool fd_config_listen(const char *value, char *host, size_t host_size, int *port, bool *loopback);

/* Whether an on | off setting's value is "on". */
bool fd_config_on(const char *value);

/* Fills cfg with the defaults of the table. */
fd_err_t fd_config_init(fd_config_t *cfg);
/* Frees every string the config owns; cfg may be re-initialised afterwards. */
void fd_config_clear(fd_config_t *cfg);

/* Loads a JSON file (nested objects: {"kafka": {"brokers": ...}, "redis": {...}}) over cfg.
 * Ints are JSON integers, lists JSON arrays of strings; inside "kafka", a key that is not one of
 * our kafka.* settings is a kafka.<key> pass-through (string, number or boolean, kept as text).
 * Unknown keys, duplicate keys, wrong types and out-of-range values are FD_ERR_CONFIG with errstr
 * naming the setting, the file, what was expected and what was found; invalid JSON names the file,
 * line and column. FD_ERR_IO when it cannot be read. On error cfg holds the settings applied
 * before the bad one (still a valid config to clear); start-up stops anyway. */
fd_err_t fd_config_load_file(fd_config_t *cfg, const char *path, char *errstr, size_t errstr_size);

/* Applies FUNNELD_<SETTING> environment variables from envp (NULL-terminated "NAME=value"
 * strings, usually environ): the setting name upper-cased with '.' as '_' (FUNNELD_REDIS_HOST).
 * FUNNELD_KAFKA__<PROP> sets kafka.<prop> with '_' as '.' (FUNNELD_KAFKA__SECURITY_PROTOCOL).
 * FUNNELD_CONFIG is ignored here (the caller reads it). FD_ERR_CONFIG on an unknown or bad one. */
fd_err_t fd_config_apply_env(fd_config_t *cfg, char *const *envp, char *errstr, size_t errstr_size);

/* Sets one setting from text ("redis.port", "6380"), as --set name=value does; "kafka.<prop>"
 * is a pass-through. Lists are comma-separated, entries trimmed of spaces. FD_ERR_CONFIG with
 * errstr on an unknown name or a bad value; cfg is unchanged then. Errors never show a secret. */
fd_err_t fd_config_set(fd_config_t *cfg, const char *name, const char *value, char *errstr,
                       size_t errstr_size);

/* Same as fd_config_set for one "--set" argument "name=value" (the value may contain '=');
 * FD_ERR_CONFIG when there is no '=' or no name. */
fd_err_t fd_config_set_arg(fd_config_t *cfg, const char *arg, char *errstr, size_t errstr_size);

/* Checks every value against the table again and the cross-setting rules (kafka.dlq_topic and
 * alerts.topic not one of kafka.topics, and different); FD_ERR_CONFIG with errstr naming the
 * setting. Call it after the last source is applied. */
fd_err_t fd_config_validate(const fd_config_t *cfg, char *errstr, size_t errstr_size);

/* True when a kafka.<property> name is a secret (contains "password", "secret" or "key", any
 * case): its value must never be logged or put in a message. */
bool fd_config_kafka_is_secret(const char *prop);

/* Writes the settings reference: as --help text (markdown = false) or as the markdown table of
 * docs/configuration.md (markdown = true). */
void fd_config_print_reference(FILE *out, bool markdown);

/* Writes the effective settings as "name = value" lines (lists comma-separated), secrets shown
 * as "(set)" or "(empty)"; kafka.<property> entries whose name contains password, secret or key
 * are secrets. One line per setting: a control character in a value is written as \xNN. */
void fd_config_dump(const fd_config_t *cfg, FILE *out);

/* Layers the settings over cfg (the defaults, from fd_config_init) in the one order every program
 * reading funneld's settings applies them: the JSON file at path (none when NULL), then the
 * FUNNELD_* variables of envp (as fd_config_apply_env), then the nsets "--set" arguments
 * "name=value" in their order (as fd_config_set_arg), then fd_config_validate. When level is not
 * NULL, *level gets log.level as a log level (the caller sets fd_log_level: this function has no
 * side effect but reading the file). On error errstr is the failing step's message (the file's
 * FD_ERR_IO included; callers report every error as a configuration error), *level is untouched
 * and cfg holds what was applied before (still valid to clear). */
fd_err_t fd_config_load_layers(fd_config_t *cfg, const char *path, char *const *envp,
                               const char *const *sets, size_t nsets, fd_log_level_t *level,
                               char *errstr, size_t errstr_size);

/* Takes the settings options at argv[*i] that every program reading funneld's settings shares:
 * "--config FILE" sets *path, "--set NAME=VALUE" appends the value to sets (room for argc values,
 * the strings are argv's) and adds one to *nsets; *i then indexes the value. False for any other
 * argument and for one of them without its value (nothing changed): the caller's to report. */
bool fd_config_take_arg(int argc, char *const *argv, int *i, const char **path, const char **sets,
                        size_t *nsets);

#endif
