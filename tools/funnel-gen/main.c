// SPDX-License-Identifier: MIT
// funnel-gen: a seeded generator of realistic CRM contract events with injected faults, to stdout
// or to Kafka (tool, outside the layers). This file sets a run up, runs it and prints its
// summary; gen.h describes how the parts fit together.
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

volatile sig_atomic_t gen_signalled;

static void on_signal(int sig) {
    (void)sig;
    if (gen_signalled < 100) gen_signalled = gen_signalled + 1;
}

void print_summary(gen_t *g) {
    double secs = mono_s() - g->t0;
    int64_t events = 0;
    for (int t = 0; t < FD_EVENT_TYPE_COUNT; t++)
        events += g->by_type[t];
    fprintf(stderr, PROG ": %" PRId64 " lines in %.2f s (%.0f lines/s), seed %" PRIu64 "\n",
            g->lines, secs, secs > 0 ? (double)g->lines / secs : 0.0, g->o.seed);
    fprintf(stderr, "  lines                       %" PRId64 "\n", g->lines);
    fprintf(stderr, "  events                      %" PRId64 "\n", events);
    for (int t = 0; t < FD_EVENT_TYPE_COUNT; t++)
        fprintf(stderr, "  events:%-20s %" PRId64 "\n", fd_event_type_name((fd_event_type_t)t),
                g->by_type[t]);
    fprintf(stderr, "  deals                       %" PRId64 "\n", g->deals_made);
    fprintf(stderr, "  duplicates                  %" PRId64 "\n", g->duplicates);
    fprintf(stderr, "  reordered                   %" PRId64 "\n", g->reordered);
    fprintf(stderr, "  malformed                   %" PRId64 "\n", g->malformed);
    for (int k = 0; k < BAD_COUNT; k++)
        if (g->by_bad[k])
            fprintf(stderr, "  malformed:%-17s %" PRId64 "  (%s)\n", bad_name[k], g->by_bad[k],
                    bad_reason[k]);
}

void gen_clear(gen_t *g) {
    for (uint32_t i = 0; i < g->nreps; i++) {
        free(g->reps[i].id);
        free(g->reps[i].json);
    }
    free(g->reps);
    fd_map_destroy(g->rep_ids);
    for (uint32_t i = 0; i < g->nteams; i++) {
        free(g->teams[i].id);
        free(g->teams[i].json);
    }
    free(g->teams);
    for (int s = 0; s < FD_MAX_STAGES; s++)
        free(g->stage_json[s]);
    for (int k = 0; k < FD_MAX_KINDS; k++)
        free(g->kind_json[k]);
    fd_funnel_destroy(g->fn);
    free(g->heap);
    free(g->deals);
    free(g->free_deals);
    free(g->slots);
    free(g->ring);
    free(g->bad_buf);
    free(g->line_buf);
}

int main(int argc, char **argv) {
    static gen_t gen; /* large (pending copies): static storage, zeroed */
    gen_t *g = &gen;
    bool help = false, rate_given = false;
    if (parse_args(g, argc, argv, &help, &rate_given) != FD_OK) return 2;
    if (help) {
        usage(stdout);
        return 0;
    }
    int rc = 2; /* set-up errors are usage errors */

    int64_t now = wall_ms();
    rng_seed(&g->rng, g->o.seed);
    rng_seed(&g->frng, g->o.seed ^ 0x5deece66dULL);
    if (set_timezone(g) != FD_OK || build_model(g) != FD_OK || build_reps(g) != FD_OK) goto done;

    /* The synthetic span: bounded by default, unbounded when the run is limited by --count or
     * --duration (or --live) and no --span was given. */
    int64_t span_ms = 90 * DAY_MS;
    if (g->o.span && parse_duration_ms("--span", g->o.span, &span_ms) != FD_OK) goto done;
    g->bounded = g->o.span || !(g->o.count > 0 || g->o.duration_s > 0 || g->o.live);
    if (g->o.start) {
        if (parse_time_arg("--start", g->o.start, now, &g->start_ms) != FD_OK) goto done;
    } else {
        g->start_ms = floor_div(now, DAY_MS) * DAY_MS - span_ms;
    }
    g->end_ms = g->bounded ? g->start_ms + span_ms : INT64_MAX;
    if (g->o.live && !rate_given) g->o.rate = 1000;
    g->max_deals = g->o.deals;
    if (g->o.deals >= 0)
        g->arrival_mean_ms = g->o.deals ? (double)span_ms / (double)g->o.deals : 1e18;
    else
        g->arrival_mean_ms = (double)DAY_MS / (g->o.deal_rate * g->nreps);
    for (int i = 0; i < g->o.ncollapse; i++)
        if (parse_collapse(g, g->o.collapse[i], now, &g->collapse[i]) != FD_OK) goto done;
    g->ncollapse = g->o.ncollapse;
    if (g->o.throttle && throttle_init(g) != FD_OK) goto done;
    if (!g->o.to_stdout && producer_conf(g) != FD_OK) goto done;
    work_calendar_init(g);

    /* Buffers, allocated once. */
    g->ring_cap = g->o.ooo_rate > 0 ? (size_t)g->o.ooo_window + 1 : 1;
    g->slots = calloc(g->ring_cap, sizeof *g->slots);
    g->ring = calloc(g->ring_cap, sizeof *g->ring);
    g->bad_buf = malloc(BAD_BYTES);
    g->line_buf = malloc(BAD_BYTES + KEY_BYTES + 2);
    if (!g->slots || !g->ring || !g->bad_buf || !g->line_buf) {
        fprintf(stderr, PROG ": out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < g->ring_cap; i++)
        g->ring[i] = (uint32_t)i;
    for (int i = 0; i < DUP_PENDING; i++)
        g->pending[i].countdown = -1;
    sim_start(g);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = 1; /* from here on, failures are runtime errors */
    if (g->o.to_stdout) {
        static char outbuf[1 << 20];
        setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    } else if (producer_open(g) != FD_OK) {
        goto done;
    }
    if (g->o.throttle) {
        fd_err_t err = throttle_read(g);
        if (err == FD_ERR_CONFIG) goto done; /* refused: said */
        if (err != FD_OK)
            fprintf(stderr,
                    PROG ": throttle: redis not reachable yet; will retry while producing\n");
    }

    g->t0 = mono_s();
    run(g);
    /* Flush first, so the rate in the summary counts delivered messages. */
    rc = 0;
    if (g->o.to_stdout && fflush(stdout) != 0 && !g->write_error) {
        fprintf(stderr, PROG ": writing stdout: %s\n", strerror(errno));
        g->write_error = true;
    }
    if (!g->o.to_stdout && producer_flush(g) != FD_OK) rc = 1;
    print_summary(g);
    if (!g->o.to_stdout && producer_report(g) != FD_OK) rc = 1;
    if (g->write_error) rc = 1;

done:
    producer_close(g);
    throttle_clear(g);
    gen_clear(g);
    return rc;
}
