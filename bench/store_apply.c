// SPDX-License-Identifier: MIT
// Micro-benchmark of the store's atomic apply: folds a file of JSON events into batches as the
// service does (parse, load deals, fold) and times fd_store_apply against a running Redis,
// reporting milliseconds per batch, microseconds per touched hash and Redis's own EVALSHA time.
//
// Usage: store_apply --port P [--host H] [--file events.jsonl] [--batch 5000] [--parts 8]
//                    [--prefix bench] [--day-days 0] [--tz Asia/Shanghai] [--chunk 0] [--flush]
//                    [--chunk-hashes 1000] [--chunk-deals 20000]
// One JSON event per line (tests/support/model.py's generator, or funnel-gen --stdout). Line i
// goes to partition i % parts of topic "bench". Messages are consumed --chunk at a time from
// each partition in turn, as a Kafka consumer fetches them (0 = the batch size: each batch
// holds one partition's run of messages, spanning parts times more event time than in file
// order; 1 = file order). --flush empties the Redis database first
// (FLUSHDB); without it, keys under the prefix must not exist yet. --chunk-hashes and
// --chunk-deals are the store's batch.chunk_hashes / batch.chunk_deals: a batch over them is
// staged (a commit, then chunk scripts: docs/redis.md, "Staged batches").
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis.h>

#include "model/batch.h"
#include "model/dealcache.h"
#include "model/dedupe.h"
#include "model/event.h"
#include "model/funnel.h"
#include "io/store.h"
#include "model/timewin.h"

#define MAX_PARTS 64

static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
static const char *const kinds[] = {"call", "visit", "email", "meeting", "follow_up"};

typedef struct {
    char *buf;
    size_t len;
} line_t;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads every line of path (without its newline). */
static line_t *read_lines(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    line_t *lines = NULL;
    size_t cap = 0;
    *n = 0;
    char *buf = NULL;
    size_t size = 0;
    ssize_t len;
    while ((len = getline(&buf, &size, f)) >= 0) {
        if (len > 0 && buf[len - 1] == '\n') len--;
        if (*n == cap) {
            cap = cap ? 2 * cap : 1024;
            lines = realloc(lines, cap * sizeof *lines);
            if (lines == NULL) abort();
        }
        lines[*n].buf = malloc((size_t)len + 1);
        if (lines[*n].buf == NULL) abort();
        memcpy(lines[*n].buf, buf, (size_t)len);
        lines[*n].buf[len] = '\0';
        lines[(*n)++].len = (size_t)len;
    }
    free(buf);
    fclose(f);
    return lines;
}

/* usec_per_call and calls of EVALSHA from INFO commandstats. */
static void evalsha_stats(redisContext *c, long long *calls, double *usec) {
    *calls = 0;
    *usec = 0;
    redisReply *r = redisCommand(c, "INFO commandstats");
    if (r == NULL || r->type != REDIS_REPLY_STRING) goto out;
    const char *p = strstr(r->str, "cmdstat_evalsha:");
    if (p != NULL) sscanf(p, "cmdstat_evalsha:calls=%lld,usec=%lf", calls, usec);
out:
    if (r != NULL) freeReplyObject(r);
}

/* CPU seconds (user + system) of Redis's main thread, from INFO cpu: less sensitive than
 * wall time to other processes competing for the cores. */
static double redis_cpu(redisContext *c) {
    double user = 0, sys = 0;
    redisReply *r = redisCommand(c, "INFO cpu");
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        const char *p = strstr(r->str, "used_cpu_sys_main_thread:");
        if (p != NULL) sscanf(p, "used_cpu_sys_main_thread:%lf", &sys);
        p = strstr(r->str, "used_cpu_user_main_thread:");
        if (p != NULL) sscanf(p, "used_cpu_user_main_thread:%lf", &user);
    }
    if (r != NULL) freeReplyObject(r);
    return user + sys;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *file = "events.jsonl", *prefix = "bench";
    const char *tz = "Asia/Shanghai";
    int port = 0, parts = 8, flush = 0;
    size_t chunk = 0;
    size_t batch_max = 5000;
    int64_t day_days = 0, chunk_hashes = 0, chunk_deals = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--flush") == 0) {
            flush = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "store_apply: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--file") == 0)
            file = v;
        else if (strcmp(a, "--batch") == 0)
            batch_max = (size_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--parts") == 0)
            parts = atoi(v);
        else if (strcmp(a, "--prefix") == 0)
            prefix = v;
        else if (strcmp(a, "--day-days") == 0)
            day_days = strtoll(v, NULL, 10);
        else if (strcmp(a, "--tz") == 0)
            tz = v;
        else if (strcmp(a, "--chunk") == 0)
            chunk = (size_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--chunk-hashes") == 0)
            chunk_hashes = strtoll(v, NULL, 10);
        else if (strcmp(a, "--chunk-deals") == 0)
            chunk_deals = strtoll(v, NULL, 10);
        else {
            fprintf(stderr, "store_apply: unknown option %s\n", a);
            return 2;
        }
    }
    if (port <= 0 || parts < 1 || parts > MAX_PARTS || batch_max < 1) {
        fprintf(stderr,
                "usage: store_apply --port P [--file F] [--batch N] [--parts 1..%d] "
                "[--prefix P] [--day-days D] [--tz TZ] [--flush]\n",
                MAX_PARTS);
        return 2;
    }
    size_t nlines;
    line_t *lines = read_lines(file, &nlines);
    if (lines == NULL) {
        fprintf(stderr, "store_apply: cannot read %s\n", file);
        return 1;
    }

    /* consumption order: chunk messages of each partition in turn */
    if (chunk == 0) chunk = batch_max;
    size_t *order = malloc(nlines * sizeof *order), norder = 0;
    size_t cursor[MAX_PARTS];
    for (int p = 0; p < parts; p++)
        cursor[p] = (size_t)p;
    while (norder < nlines)
        for (int p = 0; p < parts; p++)
            for (size_t k = 0; k < chunk && cursor[p] < nlines; k++, cursor[p] += (size_t)parts)
                order[norder++] = cursor[p];

    char errstr[256];
    fd_funnel_t *fn = NULL;
    fd_timewin_t *tw = NULL;
    if (fd_funnel_new(stages, 5, kinds, 5, &fn, errstr, sizeof errstr) != FD_OK ||
        fd_timewin_new(tz, &tw, errstr, sizeof errstr) != FD_OK) {
        fprintf(stderr, "store_apply: %s\n", errstr);
        return 1;
    }
    redisContext *cli = redisConnect(host, port);
    if (cli == NULL || cli->err) {
        fprintf(stderr, "store_apply: connect %s:%d failed\n", host, port);
        return 1;
    }
    if (flush) freeReplyObject(redisCommand(cli, "FLUSHDB"));
    fd_store_opts_t so = {.host = host,
                          .port = port,
                          .timeout_ms = 60000,
                          .prefix = prefix,
                          .chunk_hashes = chunk_hashes,
                          .chunk_deals = chunk_deals};
    fd_store_t *st = NULL;
    fd_batch_t *b = NULL;
    fd_batch_opts_t bo = {.retention_days = {0, day_days, 0, 0, 0}};
    if (fd_store_new(fn, &so, &st) != FD_OK || fd_batch_new(fn, tw, &bo, &b) != FD_OK) {
        fprintf(stderr, "store_apply: out of memory or --prefix longer than 64 bytes\n");
        return 1;
    }
    fd_dealcache_t *dc;
    if (fd_dealcache_new(fn, 1000000, &dc) != FD_OK) {
        fprintf(stderr, "store_apply: out of memory\n");
        return 1;
    }
    fd_dedupe_t *dd[MAX_PARTS];
    char token[MAX_PARTS][FD_TOKEN_MAX + 1];
    int64_t from[MAX_PARTS];
    for (int p = 0; p < parts; p++) {
        if (fd_dedupe_new(100000, &dd[p]) != FD_OK) {
            fprintf(stderr, "store_apply: out of memory\n");
            return 1;
        }
        if (fd_store_claim(st, "bench", p, "bench", token[p], sizeof token[p], &from[p], dd[p]) !=
            FD_OK) {
            fprintf(stderr, "store_apply: claim: %s\n", fd_store_errstr(st));
            return 1;
        }
    }
    freeReplyObject(redisCommand(cli, "CONFIG RESETSTAT"));
    double cpu0 = redis_cpu(cli);

    fd_event_t *evs = malloc(batch_max * sizeof *evs);
    int *evpart = malloc(batch_max * sizeof *evpart);
    int64_t *evoff = malloc(batch_max * sizeof *evoff);
    const char **ids = malloc(batch_max * sizeof *ids);
    int64_t next[MAX_PARTS];
    for (int p = 0; p < parts; p++)
        next[p] = from[p] < 0 ? 0 : from[p];
    double apply_total = 0, worst = 0;
    size_t hashes_total = 0, fields_total = 0, batches = 0;
    int64_t now_s = (int64_t)time(NULL);
    for (size_t first = 0; first < nlines; first += batch_max) {
        size_t count = nlines - first < batch_max ? nlines - first : batch_max;
        fd_batch_reset(b);
        int bpart[MAX_PARTS];
        for (int p = 0; p < parts; p++) {
            if (fd_batch_part(b, "bench", p, token[p], from[p], dd[p], &bpart[p]) != FD_OK) {
                fprintf(stderr, "store_apply: out of memory\n");
                return 1;
            }
        }
        size_t nev = 0, nids = 0;
        for (size_t k = first; k < first + count; k++) {
            size_t i = order[k];
            int p = (int)(i % (size_t)parts);
            int64_t off = next[p]++;
            fd_reject_t why =
                fd_event_parse(fn, lines[i].buf, lines[i].len, &evs[nev], errstr, sizeof errstr);
            if (why != FD_REJECT_NONE) {
                fd_batch_reject(b, bpart[p], why, off);
                continue;
            }
            evpart[nev] = p;
            evoff[nev] = off;
            if (evs[nev].type <= FD_DEAL_LOST) ids[nids++] = evs[nev].deal_id;
            nev++;
        }
        if (fd_store_load_deals(st, dc, ids, nids) != FD_OK) {
            fprintf(stderr, "store_apply: load deals: %s\n", fd_store_errstr(st));
            return 1;
        }
        for (size_t i = 0; i < nev; i++)
            if (fd_batch_add(b, bpart[evpart[i]], dc, &evs[i], evoff[i], now_s) != FD_OK) {
                fprintf(stderr, "store_apply: fold failed\n");
                return 1;
            }
        bool already = false;
        size_t nh = fd_batch_nhashes(b);
        double t0 = now_ms();
        fd_err_t err = fd_store_apply(st, b, dc, &already);
        double t = now_ms() - t0;
        if (err != FD_OK || already) {
            fprintf(stderr, "store_apply: apply: %s: %s\n", fd_err_name(err), fd_store_errstr(st));
            return 1;
        }
        for (int p = 0; p < parts; p++) {
            from[p] = fd_batch_part_at(b, (size_t)bpart[p])->next;
            fd_dedupe_mark_applied(dd[p]);
        }
        fd_dealcache_mark_applied(dc);
        apply_total += t;
        if (t > worst) worst = t;
        hashes_total += nh;
        size_t nf = fd_funnel_nfields(fn);
        for (size_t h = 0; h < nh; h++) {
            const fd_batch_hash_t *bh = fd_batch_hash(b, h);
            for (size_t f = 0; f < nf; f++)
                if (bh->delta[f] != 0) fields_total++;
        }
        batches++;
    }
    double cpu = redis_cpu(cli) - cpu0;
    long long calls;
    double usec;
    evalsha_stats(cli, &calls, &usec);
    printf("%zu messages, %zu batches of <= %zu, %zu hash updates (%.0f per batch)\n", nlines,
           batches, batch_max, hashes_total, (double)hashes_total / (double)batches);
    printf("%zu changed fields (%.0f per batch, %.2f per hash)\n", fields_total,
           (double)fields_total / (double)batches, (double)fields_total / (double)hashes_total);
    printf("apply wall: %.1f ms total, %.1f ms per batch (worst %.1f), %.2f us per hash\n",
           apply_total, apply_total / (double)batches, worst,
           apply_total * 1e3 / (double)hashes_total);
    printf("redis evalsha: %lld calls, %.0f usec_per_call, %.2f us per hash\n", calls,
           calls ? usec / (double)calls : 0.0, usec / (double)hashes_total);
    printf("redis main thread cpu: %.1f ms per batch, %.2f us per hash (all of Redis's work: "
           "deal loads, argument parsing, the script)\n",
           cpu * 1e3 / (double)batches, cpu * 1e6 / (double)hashes_total);

    free(order);
    free(ids);
    free(evoff);
    free(evpart);
    free(evs);
    for (int p = 0; p < parts; p++)
        fd_dedupe_destroy(dd[p]);
    fd_batch_destroy(b);
    fd_dealcache_destroy(dc);
    fd_store_destroy(st);
    redisFree(cli);
    fd_timewin_destroy(tw);
    fd_funnel_destroy(fn);
    for (size_t i = 0; i < nlines; i++)
        free(lines[i].buf);
    free(lines);
    return 0;
}
