// SPDX-License-Identifier: MIT
// The stall index (layer 3, pure).
#include "alerting/stalls.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/map.h"

/* The stays of deals in a stage, per (scope kind, id, stage): entered at at[i], left at
 * until[i] (INT64_MAX while still there). */
typedef struct {
    int64_t *at, *until;
    size_t n, cap;
} times_t;

struct fd_stalls {
    const fd_funnel_t *fn;
    fd_map_t *m; /* "<kind>\x1f<id>\x1f<stage>" -> times_t * */
    size_t bad;
    int64_t since_ms; /* stays that ended by then are not indexed */
};

fd_err_t fd_stalls_new(const fd_funnel_t *fn, fd_stalls_t **out) {
    *out = NULL;
    fd_stalls_t *st = calloc(1, sizeof *st);
    if (st == NULL) return FD_ERR_NOMEM;
    st->fn = fn;
    st->since_ms = INT64_MIN;
    if (fd_map_new(&st->m) != FD_OK) {
        free(st);
        return FD_ERR_NOMEM;
    }
    *out = st;
    return FD_OK;
}

void fd_stalls_clear(fd_stalls_t *st, int64_t since_ms) {
    size_t pos = 0, len;
    const char *k;
    void *v;
    while (fd_map_next(st->m, &pos, &k, &len, &v)) {
        free(((times_t *)v)->at);
        free(((times_t *)v)->until);
        free(v);
    }
    fd_map_clear(st->m);
    st->bad = 0;
    st->since_ms = since_ms;
}

void fd_stalls_destroy(fd_stalls_t *st) {
    if (st == NULL) return;
    fd_stalls_clear(st, INT64_MIN);
    fd_map_destroy(st->m);
    free(st);
}

static fd_err_t stall_add(fd_stalls_t *st, fd_scope_t kind, const char *id, int stage, int64_t at,
                          int64_t until) {
    char key[FD_ID_MAX + 16];
    int n = snprintf(key, sizeof key, "%d\x1f%s\x1f%d", (int)kind, id, stage);
    if (n < 0 || (size_t)n >= sizeof key) return FD_OK;
    times_t *t = fd_map_get(st->m, key, (size_t)n);
    if (t == NULL) {
        if ((t = calloc(1, sizeof *t)) == NULL) return FD_ERR_NOMEM;
        if (fd_map_put(st->m, key, (size_t)n, t) != FD_OK) {
            free(t);
            return FD_ERR_NOMEM;
        }
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        int64_t *a = realloc(t->at, cap * sizeof *a);
        if (a == NULL) return FD_ERR_NOMEM;
        t->at = a;
        int64_t *u = realloc(t->until, cap * sizeof *u);
        if (u == NULL) return FD_ERR_NOMEM;
        t->until = u;
        t->cap = cap;
    }
    t->at[t->n] = at;
    t->until[t->n++] = until;
    return FD_OK;
}

/* Every stay of the deal in a stage short of the won one, so that the index can be asked as of
 * any clock (a replay judges a deal at the stage it held then, not the one it reached later):
 * from reaching the stage to reaching the next one (a back-filled stage has the next stage's
 * time: an empty stay), under the owner that brought it there. The furthest stage of an open
 * deal is held until now. A lost deal's state does not record when it was lost: its last stay
 * is not indexed at all (as before a replay; docs/alerts.md, "Stalled deals"). */
fd_err_t fd_stalls_add(fd_stalls_t *st, const char *state, size_t len) {
    int last = (int)fd_funnel_nstages(st->fn) - 1;
    fd_deal_t deal;
    fd_deal_init(&deal);
    char why[128];
    fd_err_t err = FD_OK;
    if (fd_deal_decode(st->fn, state, len, &deal, why, sizeof why) != FD_OK) {
        st->bad++;
        fd_deal_clear(&deal);
        return FD_OK;
    }
    for (int s = 0; s <= deal.furthest && s < last && err == FD_OK; s++) {
        const fd_reach_t *rc = &deal.reach[s];
        if (!(rc->flags & FD_REACH_REACHED)) continue;
        int64_t until = INT64_MAX;
        if (s < deal.furthest)
            until = deal.reach[s + 1].at_ms;
        else if (deal.lost_stage >= 0)
            continue;                        /* lost at its furthest stage, when is not known */
        if (until <= rc->at_ms) continue;    /* back-filled, or out of order: no stay */
        if (until <= st->since_ms) continue; /* over before any clock still to be judged */
        const fd_owner_t *ow = &deal.owners[rc->owner];
        err = stall_add(st, FD_SCOPE_REP, ow->rep, s, rc->at_ms, until);
        if (err == FD_OK) err = stall_add(st, FD_SCOPE_TEAM, ow->team, s, rc->at_ms, until);
        if (err == FD_OK) err = stall_add(st, FD_SCOPE_ORG, "", s, rc->at_ms, until);
    }
    fd_deal_clear(&deal);
    return err;
}

size_t fd_stalls_unreadable(const fd_stalls_t *st) {
    return st->bad;
}

int64_t fd_stalls_count(const fd_stalls_t *st, fd_scope_t scope, const char *id, int stage,
                        int64_t clock_ms, int64_t after_ms) {
    char key[FD_ID_MAX + 16];
    int n = snprintf(key, sizeof key, "%d\x1f%s\x1f%d", (int)scope, id, stage);
    if (n < 0 || (size_t)n >= sizeof key) return 0;
    const times_t *t = fd_map_get(st->m, key, (size_t)n);
    int64_t c = 0;
    for (size_t i = 0; t && i < t->n; i++)
        if (t->at[i] <= clock_ms && clock_ms < t->until[i] && clock_ms - t->at[i] > after_ms) c++;
    return c;
}
