// SPDX-License-Identifier: MIT
// funnel-gen's output: the main loop (a ring of formatted events, swapped out of order within a
// deal), the injected faults (copies re-emitted a few events later, malformed messages), the
// rate limit and the sink, stdout or Kafka (tool, outside the layers).
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "gen.h"

static void rate_wait(gen_t *g) {
    double now = mono_s();
    if (g->o.duration_s > 0 && now - g->t0 >= g->o.duration_s) {
        g->stop = true;
        return;
    }
    if (g->o.rate <= 0) return;
    double due = g->t0 + (double)g->lines / g->o.rate;
    if (due - now < 0.001) return;
    /* Ahead of schedule: hand what we have to the reader, then sleep (serving Kafka). */
    if (g->o.to_stdout) {
        fflush(stdout);
        struct timespec ts = {(time_t)(due - now), (long)(fmod(due - now, 1.0) * 1e9)};
        nanosleep(&ts, NULL);
    } else {
        producer_poll(g, (int)((due - now) * 1000));
    }
}

/* Writes one line to the sink; false when it was not written (stopping, or a sink error). */
static bool emit(gen_t *g, const char *key, size_t key_len, const char *data, size_t len) {
    if (g->stop) return false;
    if (gen_signalled) {
        g->stop = true;
        return false;
    }
    if (g->o.rate > 0 || (g->o.duration_s > 0 && (g->lines & 1023) == 0)) rate_wait(g);
    if (g->stop) return false;
    if (g->o.to_stdout) {
        /* One line: "key<TAB>json\n" or "json\n", assembled to make one fwrite. */
        sb_t b;
        sb_init(&b, g->line_buf, BAD_BYTES + KEY_BYTES + 2);
        if (g->o.with_key) {
            sb_mem(&b, key, key_len);
            sb_char(&b, '\t');
        }
        sb_mem(&b, data, len);
        sb_char(&b, '\n');
        if (fwrite(b.p, 1, b.len, stdout) != b.len) {
            if (!g->write_error) fprintf(stderr, PROG ": writing stdout: %s\n", strerror(errno));
            g->write_error = true;
            g->stop = true;
            return false;
        }
    } else if (producer_write(g, key, key_len, data, len) != FD_OK) {
        g->write_error = true;
        g->stop = true;
        return false;
    }
    g->lines++;
    if (g->o.count > 0 && g->lines >= g->o.count) g->stop = true;
    return true;
}

/* Re-emits the copies whose delay has run out (all of them when flushing). */
static void pending_tick(gen_t *g, bool flush) {
    for (int i = 0; i < DUP_PENDING && g->npending > 0; i++) {
        pending_t *p = &g->pending[i];
        if (p->countdown < 0) continue;
        if (flush || --p->countdown <= 0) {
            p->countdown = -1;
            g->npending--;
            if (emit(g, p->key, p->key_len, p->data, p->len)) g->duplicates++;
        }
    }
}

/* Emits one valid event, then its faults: maybe a copy (now or a few events later), maybe a
 * malformed message. */
static void output_event(gen_t *g, const slot_t *s) {
    if (!emit(g, s->key, s->key_len, s->data, s->len)) return;
    g->by_type[s->ev.type]++;
    if (rng_chance(&g->frng, g->o.dup_rate)) {
        int delay = (int)rng_below(&g->frng, DUP_MAX_DELAY + 1);
        pending_t *slot = NULL;
        for (int i = 0; delay > 0 && i < DUP_PENDING && !slot; i++)
            if (g->pending[i].countdown < 0) slot = &g->pending[i];
        if (slot) {
            slot->countdown = delay + 1; /* the tick below takes one off */
            g->npending++;
            memcpy(slot->data, s->data, s->len);
            slot->len = s->len;
            memcpy(slot->key, s->key, s->key_len);
            slot->key_len = s->key_len;
        } else if (emit(g, s->key, s->key_len, s->data, s->len)) {
            g->duplicates++; /* right away (delay 0, or every pending slot busy) */
        }
    }
    if (rng_chance(&g->frng, g->o.bad_rate)) {
        bad_kind_t kind = (bad_kind_t)rng_pick(&g->frng, bad_weight, BAD_COUNT);
        sb_t b;
        sb_init(&b, g->bad_buf, BAD_BYTES);
        format_bad(g, &b, &s->ev, kind);
        if (emit(g, s->key, s->key_len, b.p, b.len)) {
            g->malformed++;
            g->by_bad[kind]++;
        }
    }
    pending_tick(g, false);
}

/* The main loop: keep the ring full of formatted events, send out its head, swapping it first
 * (with probability --ooo-rate) with the nearest later event of the same deal in the ring. */
void run(gen_t *g) {
    bool model_done = false;
    while (!g->stop) {
        while (!model_done && g->ring_n < g->ring_cap) {
            gev_t ev;
            if (!sim_next(g, &ev)) {
                model_done = true;
                break;
            }
            size_t pos = (g->ring_head + g->ring_n) % g->ring_cap;
            format_event(g, &g->slots[g->ring[pos]], &ev);
            g->ring_n++;
        }
        if (g->ring_n == 0) break;
        uint32_t *head = &g->ring[g->ring_head];
        slot_t *hs = &g->slots[*head];
        if (hs->ev.deal && !hs->moved && rng_chance(&g->frng, g->o.ooo_rate)) {
            for (size_t j = 1; j < g->ring_n; j++) {
                uint32_t *other = &g->ring[(g->ring_head + j) % g->ring_cap];
                if (g->slots[*other].ev.deal == hs->ev.deal) {
                    uint32_t tmp = *head;
                    *head = *other;
                    *other = tmp;
                    g->slots[tmp].moved = true;
                    g->reordered++;
                    break;
                }
            }
        }
        output_event(g, &g->slots[*head]);
        g->ring_head = (g->ring_head + 1) % g->ring_cap;
        g->ring_n--;
    }
    if (!g->write_error) pending_tick(g, true);
}
