// SPDX-License-Identifier: MIT
// funnelctl feeds: the state of the change feed (<prefix>:changes) and of the metrics publisher
// (<prefix>:metrics:*), for operators (a tool). Reference: docs/feeds.md.
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "io/keys.h"

#define RECENT 200 /* entries looked at for the instances' heartbeats */

/* The ms part of a stream id "<ms>-<seq>"; -1 when s is NULL or not one. */
static int64_t id_ms(const char *s) {
    if (s == NULL) return -1;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    return end != s && *end == '-' ? (int64_t)v : -1;
}

/* A field of a stream entry [id, [f, v, ...]]; NULL when absent. */
static const char *entry_field(const redisReply *e, const char *name) {
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements != 2) return NULL;
    return hget(e->element[1], name);
}

/* A JSON string of s, or null. */
static void json_or_null(const char *s) {
    if (s == NULL)
        fputs("null", stdout);
    else
        json_string(stdout, s);
}

static const redisReply *first_entry(const redisReply *r) {
    return r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 ? r->element[0] : NULL;
}

static const char *entry_id(const redisReply *e) {
    return e != NULL && e->type == REDIS_REPLY_ARRAY && e->elements == 2 ? e->element[0]->str
                                                                         : NULL;
}

/* "<n> s ago" from ms, or "-" */
static void age(char *buf, size_t size, int64_t now_ms, int64_t at_ms) {
    if (at_ms < 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.1f s ago", (double)(now_ms - at_ms) / 1000.0);
}

static void utc(char *buf, size_t size, int64_t ms) {
    if (ms <= 0) {
        snprintf(buf, size, "-");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The total lag of a heartbeat's parts lines "<topic>:<partition>:<next>:<lag>"; -1 when one
 * is unknown; *nparts counts the lines. */
static int64_t parts_lag(const char *parts, int *nparts) {
    int64_t total = 0;
    *nparts = 0;
    for (const char *line = parts; line != NULL && *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++)
            if (line[i] == ':') colon = line + i;
        (*nparts)++;
        if (colon == NULL || colon + 1 == line + len)
            total = -1;
        else if (total >= 0)
            total += strtoll(colon + 1, NULL, 10);
        line = nl ? nl + 1 : NULL;
    }
    return total;
}

fd_err_t cmd_feeds(ctl_t *ctl) {
    fd_err_t err = redis_open(ctl);
    if (err != FD_OK) return err;
    char *changes = key_single(ctl, FD_KEY_CHANGES), *feed = key_single(ctl, FD_KEY_FEED);
    char *pub = key_single(ctl, FD_KEY_METRICS_PUB), *dirty = key_single(ctl, FD_KEY_METRICS_DIRTY);
    char *taken = key_single(ctl, FD_KEY_METRICS_TAKEN);
    char *lease = key_single(ctl, FD_KEY_METRICS_LEASE);
    char recent[16];
    snprintf(recent, sizeof recent, "%d", RECENT);
    const char *cmds[][6] = {
        {"TIME"},
        {"XLEN", changes},
        {"XRANGE", changes, "-", "+", "COUNT", "1"},
        {"XREVRANGE", changes, "+", "-", "COUNT", recent},
        {"HGET", feed, "watermark"},
        {"HGETALL", pub},
        {"SCARD", dirty},
        {"SCARD", taken},
        {"GET", lease},
    };
    const int argcs[] = {1, 2, 6, 6, 3, 2, 2, 2, 2};
    enum { N = sizeof argcs / sizeof argcs[0] };
    redisReply *r[N] = {0};
    for (int i = 0; i < N && err == FD_OK; i++)
        err = redis_queue(ctl, cmds[i][0], argcs[i], cmds[i]);
    for (int i = 0; i < N && err == FD_OK; i++) {
        if ((err = redis_next_reply(ctl, cmds[i][0], &r[i])) != FD_OK) {
            err = redis_lost(ctl, cmds[i][0]);
        } else if (r[i]->type == REDIS_REPLY_ERROR) {
            err = redis_check_reply(ctl, cmds[i][0], r[i]);
            r[i] = NULL;
        }
    }
    if (err != FD_OK) goto out;

    int64_t now = r[0]->elements == 2 ? strtoll(r[0]->element[0]->str, NULL, 10) * 1000 +
                                            strtoll(r[0]->element[1]->str, NULL, 10) / 1000
                                      : 0;
    long long length = r[1]->integer;
    const char *first = entry_id(first_entry(r[2]));
    const redisReply *last_e = first_entry(r[3]);
    const char *last = entry_id(last_e);
    int64_t watermark = r[4]->type == REDIS_REPLY_STRING ? strtoll(r[4]->str, NULL, 10) : 0;
    const redisReply *p = r[5]->elements > 0 ? r[5] : NULL;
    long long ndirty = r[6]->integer, ntaken = r[7]->integer;
    const char *holder = r[8]->type == REDIS_REPLY_STRING ? r[8]->str : NULL;
    const char *position = hget(p, "position");
    int64_t pub_lag = position && last ? id_ms(last) - id_ms(position) : -1;
    if (pub_lag < 0 && position && last) pub_lag = 0;

    /* the latest heartbeat of each instance among the recent entries (newest first) */
    strvec_t seen = {0};
    const redisReply *hb[RECENT];
    size_t nhb = 0;
    for (size_t i = 0; r[3]->type == REDIS_REPLY_ARRAY && i < r[3]->elements; i++) {
        const redisReply *e = r[3]->element[i];
        const char *kind = entry_field(e, "kind"), *inst = entry_field(e, "instance");
        if (kind == NULL || strcmp(kind, "heartbeat") != 0 || inst == NULL) continue;
        if (strvec_has(&seen, inst, strlen(inst))) continue;
        strvec_push(&seen, xstrdup(inst));
        hb[nhb++] = e;
    }

    char a[64], b[64];
    if (ctl->json) {
        printf("{\"changes\": {\"length\": %lld, \"first_id\": ", length);
        json_or_null(first);
        fputs(", \"last_id\": ", stdout);
        json_or_null(last);
        printf(", \"last_kind\": ");
        json_or_null(entry_field(last_e, "kind"));
        printf(", \"last_age_ms\": ");
        if (last)
            printf("%" PRId64, now - id_ms(last));
        else
            fputs("null", stdout);
        printf(", \"watermark_ms\": %" PRId64 "}, \"heartbeats\": [", watermark);
        for (size_t i = 0; i < nhb; i++) {
            int np;
            int64_t lag = parts_lag(entry_field(hb[i], "parts"), &np);
            printf("%s{\"instance\": ", i ? ", " : "");
            json_string(stdout, entry_field(hb[i], "instance"));
            printf(", \"id\": ");
            json_string(stdout, entry_id(hb[i]));
            printf(", \"age_ms\": %" PRId64 ", \"partitions\": %d, \"lag\": ",
                   now - id_ms(entry_id(hb[i])), np);
            if (lag >= 0)
                printf("%" PRId64 "}", lag);
            else
                fputs("null}", stdout);
        }
        fputs("], \"publisher\": {\"lease\": ", stdout);
        json_or_null(holder);
        fputs(", \"position\": ", stdout);
        json_or_null(position);
        fputs(", \"lag_ms\": ", stdout);
        if (pub_lag >= 0)
            printf("%" PRId64, pub_lag);
        else
            fputs("null", stdout);
        static const char *const nums[] = {"version", "updated_ms", "published", "snapshots"};
        for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
            printf(", \"%s\": ", nums[i]);
            const char *v = hget(p, nums[i]);
            if (v)
                fputs(v, stdout);
            else
                fputs(i >= 2 ? "0" : "null", stdout);
        }
        printf(", \"untracked\": %s, \"dirty\": %lld, \"taken\": %lld}}\n",
               hget(p, "untracked") ? "true" : "false", ndirty, ntaken);
    } else {
        utc(a, sizeof a, watermark);
        age(b, sizeof b, now, id_ms(last));
        printf("change feed %s: %lld entries", changes, length);
        if (last)
            printf(", the last a %s %s; watermark %s\n", entry_field(last_e, "kind"), b, a);
        else
            printf(" (funneld has written none: feeds.changes off, or nothing applied yet)\n");
        for (size_t i = 0; i < nhb; i++) {
            int np;
            int64_t lag = parts_lag(entry_field(hb[i], "parts"), &np);
            age(a, sizeof a, now, id_ms(entry_id(hb[i])));
            printf("  heartbeat of %s: %s, %d partitions", entry_field(hb[i], "instance"), a, np);
            if (lag >= 0)
                printf(", lag %" PRId64 " messages\n", lag);
            else
                printf(", lag unknown\n");
        }
        if (nhb == 0) printf("  no heartbeat among the last %d entries\n", RECENT);
        printf("metrics publisher: ");
        if (p == NULL) {
            printf("no round ended yet (feeds.metrics off, or not started)\n");
        } else {
            age(a, sizeof a, now,
                hget(p, "updated_ms") ? strtoll(hget(p, "updated_ms"), NULL, 10) : -1);
            printf("last round ended %s, position %s", a, position ? position : "-");
            if (pub_lag >= 0) printf(" (%.1f s behind the feed)", (double)pub_lag / 1000.0);
            printf("; %s rows published, %s snapshots\n", hget_or(p, "published", "0"),
                   hget_or(p, "snapshots", "0"));
        }
        printf("  lease: %s; %lld hashes waiting for the next round; %s%s\n",
               holder ? holder : "free (no instance publishes)", ndirty,
               ntaken > 0 ? "a round in progress or left by a crash" : "no round in progress",
               hget(p, "untracked") ? "; untracked: a snapshot follows" : "");
    }
    strvec_clear(&seen);
out:
    for (int i = 0; i < N; i++)
        if (r[i]) freeReplyObject(r[i]);
    free(changes);
    free(feed);
    free(pub);
    free(dirty);
    free(taken);
    free(lease);
    return ctl_finish_output(err);
}
