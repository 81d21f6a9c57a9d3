// SPDX-License-Identifier: MIT
// The alert event clock: partition bookkeeping, the watermark and the next evaluation clock
// (layer 3, pure).
#include "alerting/eventclock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fd_eventclock {
    fd_map_t *noted;   /* "<topic>:<partition>" -> int64_t * latest event, this batch */
    fd_map_t *sent;    /* the same, of the batch sent to Redis and not yet answered */
    fd_map_t *applied; /* the same, applied, not yet written to the clock hash */
    fd_map_t *hold;    /* "<topic>:<partition>" -> (void *)1: assigned, hold not yet written */
    fd_map_t *expect;  /* "<topic>:<partition>" -> (void *)1: to register, not yet written */
    int64_t noted_min_ms, sent_min_ms, first_applied_ms;
};

static void free_values(fd_map_t *m) {
    if (m == NULL) return;
    size_t pos = 0, len;
    const char *k;
    void *v;
    while (fd_map_next(m, &pos, &k, &len, &v))
        free(v);
    fd_map_clear(m);
}

fd_err_t fd_eventclock_new(fd_eventclock_t **out) {
    *out = NULL;
    fd_eventclock_t *ec = calloc(1, sizeof *ec);
    if (ec == NULL) return FD_ERR_NOMEM;
    ec->noted_min_ms = ec->sent_min_ms = ec->first_applied_ms = INT64_MAX;
    if (fd_map_new(&ec->noted) != FD_OK || fd_map_new(&ec->sent) != FD_OK ||
        fd_map_new(&ec->applied) != FD_OK || fd_map_new(&ec->hold) != FD_OK ||
        fd_map_new(&ec->expect) != FD_OK) {
        fd_eventclock_destroy(ec);
        return FD_ERR_NOMEM;
    }
    *out = ec;
    return FD_OK;
}

void fd_eventclock_destroy(fd_eventclock_t *ec) {
    if (ec == NULL) return;
    free_values(ec->noted);
    free_values(ec->sent);
    free_values(ec->applied);
    fd_map_destroy(ec->noted);
    fd_map_destroy(ec->sent);
    fd_map_destroy(ec->applied);
    fd_map_destroy(ec->hold);
    fd_map_destroy(ec->expect);
    free(ec);
}

/* Raises m[key] to at least v. */
static void map_max(fd_map_t *m, const char *key, size_t len, int64_t v) {
    int64_t *cur = fd_map_get(m, key, len);
    if (cur != NULL) {
        if (v > *cur) *cur = v;
        return;
    }
    if ((cur = malloc(sizeof *cur)) == NULL) return;
    *cur = v;
    if (fd_map_put(m, key, len, cur) != FD_OK) free(cur);
}

/* Raises every entry of to by those of from, and empties from. */
static void merge_max(fd_map_t *to, fd_map_t *from) {
    size_t pos = 0, len;
    const char *k;
    void *v;
    while (fd_map_next(from, &pos, &k, &len, &v))
        map_max(to, k, len, *(int64_t *)v);
    free_values(from);
}

/* Writes the "<topic>:<partition>" key of a partition into pk (FD_CLOCK_PART_MAX bytes); its
 * length, or 0 when it does not fit. */
static size_t part_key(char *pk, const char *topic, int32_t partition) {
    int pl = snprintf(pk, FD_CLOCK_PART_MAX, "%s:%" PRId32, topic, partition);
    return pl > 0 && pl < FD_CLOCK_PART_MAX ? (size_t)pl : 0;
}

void fd_eventclock_note(fd_eventclock_t *ec, const char *topic, int32_t partition,
                        int64_t occurred_ms) {
    char pk[FD_CLOCK_PART_MAX];
    size_t pl = part_key(pk, topic, partition);
    if (pl > 0) map_max(ec->noted, pk, pl, occurred_ms);
    if (occurred_ms < ec->noted_min_ms) ec->noted_min_ms = occurred_ms;
}

void fd_eventclock_batch_sent(fd_eventclock_t *ec) {
    merge_max(ec->sent, ec->noted);
    if (ec->noted_min_ms < ec->sent_min_ms) ec->sent_min_ms = ec->noted_min_ms;
    ec->noted_min_ms = INT64_MAX;
}

void fd_eventclock_batch_done(fd_eventclock_t *ec, bool applied) {
    if (applied) {
        merge_max(ec->applied, ec->sent);
        if (ec->sent_min_ms < ec->first_applied_ms) ec->first_applied_ms = ec->sent_min_ms;
    } else {
        free_values(ec->sent);
        free_values(ec->noted);
        ec->noted_min_ms = INT64_MAX;
    }
    ec->sent_min_ms = INT64_MAX;
}

fd_err_t fd_eventclock_hold(fd_eventclock_t *ec, const char *topic, int32_t partition) {
    char pk[FD_CLOCK_PART_MAX];
    size_t pl = part_key(pk, topic, partition);
    if (pl == 0) return FD_ERR_INVAL;
    return fd_map_put(ec->hold, pk, pl, (void *)1);
}

fd_err_t fd_eventclock_expect(fd_eventclock_t *ec, const char *topic, int32_t count) {
    for (int32_t i = 0; i < count; i++) {
        char pk[FD_CLOCK_PART_MAX];
        size_t pl = part_key(pk, topic, i);
        if (pl == 0) return FD_ERR_INVAL;
        fd_err_t err = fd_map_put(ec->expect, pk, pl, (void *)1);
        if (err) return err;
    }
    return FD_OK;
}

void fd_eventclock_unhold(fd_eventclock_t *ec, const char *topic, int32_t partition) {
    char pk[FD_CLOCK_PART_MAX];
    size_t pl = part_key(pk, topic, partition);
    if (pl > 0) fd_map_del(ec->hold, pk, pl);
}

const fd_map_t *fd_eventclock_waiting(const fd_eventclock_t *ec, fd_clock_set_t set) {
    return set == FD_CLOCK_EXPECT ? ec->expect : set == FD_CLOCK_HOLD ? ec->hold : ec->applied;
}

int64_t fd_eventclock_first_applied(const fd_eventclock_t *ec) {
    return ec->first_applied_ms;
}

void fd_eventclock_written(fd_eventclock_t *ec, fd_clock_set_t set) {
    if (set == FD_CLOCK_APPLIED) {
        free_values(ec->applied);
        ec->first_applied_ms = INT64_MAX;
    } else {
        fd_map_clear(set == FD_CLOCK_EXPECT ? ec->expect : ec->hold);
    }
}

void fd_eventclock_read(const fd_clock_field_t *f, size_t n, int64_t redis_ms, int64_t now_ms,
                        fd_clock_reading_t *out) {
    int64_t wm = INT64_MAX, latest = 0;
    out->first_ms = INT64_MAX;
    out->evaluated_ms = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = f[i].name;
        int64_t x = f[i].value;
        if (strcmp(name, "first_ms") == 0) {
            out->first_ms = x;
        } else if (strcmp(name, "event_ms") == 0) {
            if (x > latest) latest = x;
        } else if (strcmp(name, "evaluated_ms") == 0) {
            if (x > out->evaluated_ms) out->evaluated_ms = x;
        } else if (strncmp(name, "p:", 2) == 0) {
            if (x > latest) latest = x;
            /* its seen time: the field s:<same> (Redis TIME, the clock of redis_ms) */
            int64_t seen = 0;
            for (size_t j = 0; j < n; j++) {
                const char *g = f[j].name;
                if (g[0] == 's' && g[1] == ':' && strcmp(g + 2, name + 2) == 0) seen = f[j].value;
            }
            if (redis_ms - seen <= FD_CLOCK_IDLE_PARTITION_MS && x < wm) wm = x;
        }
    }
    int64_t c = wm != INT64_MAX ? wm : latest; /* every partition idle: the stream stopped */
    if (c > now_ms + FD_CLOCK_SKEW_MS) c = now_ms + FD_CLOCK_SKEW_MS;
    out->clock_ms = c;
}

bool fd_eventclock_step(const fd_clock_step_t *in, int64_t *clock_ms, bool *catching_up) {
    bool given = in->override_ms != 0;
    int64_t clock = given ? in->override_ms : in->read_ms;
    if (clock <= 0) return false; /* no event yet: nothing to judge */
    /* The clock never runs backwards: a partition held again (re-assigned with an older latest
     * event) pauses the clock at the last sweep instead... */
    if (!given && clock < in->evaluated_ms) clock = in->evaluated_ms;
    /* ...nor behind an evaluation of touched scopes, which does not move evaluated_ms */
    if (!given && clock < in->max_clock_ms) clock = in->max_clock_ms;
    *catching_up = false;
    /* On event time the clock is the start of the watermark's hour: windows are read as of the
     * clock at an hour's resolution (whole hours before it, see winplan.c), so every clock of an
     * hour would judge the same numbers; on the hour, a live run and a replay evaluate at the
     * very same clocks and write the same notifications. */
    if (!given && !in->wall) clock = clock / FD_CLOCK_RESOLUTION_MS * FD_CLOCK_RESOLUTION_MS;
    if (clock <= 0) return false;
    /* Never evaluated: begin at the first event's hour, so that a back-fill is judged hour by
     * hour. */
    int64_t from = in->evaluated_ms > 0        ? in->evaluated_ms
                   : in->first_ms != INT64_MAX ? in->first_ms
                                               : 0;
    if (!in->wall) from = from / FD_CLOCK_RESOLUTION_MS * FD_CLOCK_RESOLUTION_MS;
    if (!given && !in->wall && from > 0 && clock > from + FD_CLOCK_CATCH_UP_STEP_MS) {
        if (!in->sweep) return false; /* the catching-up sweeps cover touched scopes */
        clock = from + FD_CLOCK_CATCH_UP_STEP_MS;
        *catching_up = true;
    }
    *clock_ms = clock;
    return true;
}
