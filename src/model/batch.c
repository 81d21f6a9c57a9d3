// SPDX-License-Identifier: MIT
// Folds a batch of events into per-hash counter deltas, deal-state changes, dedupe ids, rejection
// counts and per-partition offsets for one atomic apply; no I/O (layer 1).
#include "model/batch.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/map.h"

/* Most distinct fields one (time, owner) group of an event touches: entered, advanced, moved_on
 * per stage, plus dwell, won, won_amount, cycle, events. */
#define GROUP_FIELDS (3 * FD_MAX_STAGES + 10)

typedef struct {
    fd_batch_hash_t pub; /* what the store reads: points into names and delta */
    char *names;         /* the window id, a NUL, the id, a NUL */
    size_t names_cap;
    int64_t *delta; /* nfields */
} entry_t;

/* A window of the batch (its id) and its org entry. */
typedef struct {
    char id[FD_WIN_ID_MAX];
    uint32_t org; /* entry index + 1, 0 = none yet */
} wslot_t;

/* The entry of an owner (rep or team) in a window slot: a cell of an open-addressing table
 * keyed by (owner, slot). */
typedef struct {
    uint64_t key;   /* (owner index + 1) << 32 | slot index; 0 = empty cell */
    uint32_t entry; /* entry index + 1, 0 = none yet */
} cell_t;

struct fd_batch {
    const fd_funnel_t *fn;
    fd_timewin_t *tw;
    int64_t retention_days[FD_WIN_COUNT];
    size_t nfields;

    /* The entries are found without naming their hashes: a window of the batch is a slot
     * (wslot_t, holding its org entry); a rep or a team is an owner (found by id in reps or
     * teams); cells map (owner, slot) to the entry. An entry's window id and owner id are
     * copied once, when it is made. */
    entry_t *entries; /* nentries used; entries beyond keep their buffers for reuse */
    size_t nentries, entries_cap;
    wslot_t *wslots;
    size_t nwslots, wslots_cap;
    size_t wlast[FD_WIN_COUNT]; /* the slot of each granularity used last (a guess) */
    fd_map_t *windows;          /* window id -> slot index + 1 */
    fd_map_t *reps, *teams;     /* id -> owner index + 1 (as a pointer-sized integer) */
    size_t nowners;
    cell_t *cells; /* cells_cap (a power of two) cells, ncells used, at most 1/2 full */
    size_t ncells, cells_cap;

    fd_batch_part_t *parts;
    size_t nparts, parts_cap;

    int64_t stats[FD_STAT_COUNT];
    int64_t budget; /* sum of the events' delta bounds: no field delta can exceed it */
    int64_t rejected[FD_REJECT_COUNT];
    size_t messages;
    int64_t latest_ms; /* the greatest occurred_ms folded, when any_folded */
    bool any_folded;

    /* rep -> team of the rep's latest event naming a team (fd_batch_rep_team) */
    fd_map_t *rep_team_of; /* rep id -> index + 1 into rep_teams */
    fd_batch_rep_team_t *rep_teams;
    size_t nrep_teams, rep_teams_cap;

    fd_batch_late_t *late; /* fd_batch_note_late */
    size_t nlate, late_cap;
};

/* Deltas of one event that share a time and an owner: they land in the same 15 hashes. */
typedef struct {
    int64_t at_ms;
    const fd_owner_t *owner;
    size_t nf;
    size_t field[GROUP_FIELDS];
    int64_t value[GROUP_FIELDS];
} group_t;

static const char *const stat_names[FD_STAT_COUNT] = {"accepted", "duplicates", "rejected",
                                                      "beyond_retention", "ignored"};

fd_err_t fd_batch_new(const fd_funnel_t *fn, fd_timewin_t *tw, const fd_batch_opts_t *opts,
                      fd_batch_t **out) {
    *out = NULL;
    fd_batch_t *b = calloc(1, sizeof *b);
    if (b == NULL) return FD_ERR_NOMEM;
    b->fn = fn;
    b->tw = tw;
    memcpy(b->retention_days, opts->retention_days, sizeof b->retention_days);
    b->retention_days[FD_WIN_ALL] = 0;
    b->nfields = fd_funnel_nfields(fn);
    if (fd_map_new(&b->reps) != FD_OK || fd_map_new(&b->teams) != FD_OK ||
        fd_map_new(&b->windows) != FD_OK || fd_map_new(&b->rep_team_of) != FD_OK) {
        fd_batch_destroy(b);
        return FD_ERR_NOMEM;
    }
    *out = b;
    return FD_OK;
}

void fd_batch_destroy(fd_batch_t *b) {
    if (b == NULL) return;
    for (size_t i = 0; i < b->entries_cap; i++) {
        free(b->entries[i].names);
        free(b->entries[i].delta);
    }
    free(b->entries);
    free(b->parts);
    free(b->wslots);
    free(b->cells);
    fd_map_destroy(b->reps);
    fd_map_destroy(b->teams);
    fd_map_destroy(b->windows);
    fd_map_destroy(b->rep_team_of);
    free(b->rep_teams);
    free(b->late);
    free(b);
}

void fd_batch_reset(fd_batch_t *b) {
    fd_map_clear(b->reps);
    fd_map_clear(b->teams);
    fd_map_clear(b->windows);
    fd_map_clear(b->rep_team_of);
    b->nrep_teams = 0;
    b->nlate = 0;
    b->nentries = 0;
    b->nwslots = 0;
    b->nowners = 0;
    if (b->ncells > 0) memset(b->cells, 0, b->cells_cap * sizeof *b->cells);
    b->ncells = 0;
    b->nparts = 0;
    b->messages = 0;
    b->any_folded = false;
    b->budget = 0;
    memset(b->stats, 0, sizeof b->stats);
    memset(b->rejected, 0, sizeof b->rejected);
}

fd_err_t fd_batch_part(fd_batch_t *b, const char *topic, int32_t partition, const char *token,
                       int64_t from, fd_dedupe_t *dd, int *part) {
    for (size_t i = 0; i < b->nparts; i++) {
        if (b->parts[i].partition == partition && strcmp(b->parts[i].topic, topic) == 0) {
            *part = (int)i;
            return FD_OK;
        }
    }
    if (strlen(topic) > FD_TOPIC_MAX || strlen(token) > FD_TOKEN_MAX) return FD_ERR_RANGE;
    if (b->nparts == INT32_MAX) return FD_ERR_FULL;
    if (b->nparts == b->parts_cap) {
        size_t ncap = b->parts_cap ? b->parts_cap * 2 : 16;
        fd_batch_part_t *np = realloc(b->parts, ncap * sizeof *np);
        if (np == NULL) return FD_ERR_NOMEM;
        b->parts = np;
        b->parts_cap = ncap;
    }
    fd_batch_part_t *p = &b->parts[b->nparts];
    memset(p, 0, sizeof *p);
    memcpy(p->topic, topic, strlen(topic) + 1);
    memcpy(p->token, token, strlen(token) + 1);
    p->partition = partition;
    p->from = from;
    p->next = from;
    p->dd = dd;
    *part = (int)b->nparts++;
    return FD_OK;
}

/* A new entry with zero deltas for the hash of (scope, window, id); its index + 1 in *ref. */
static fd_err_t new_entry(fd_batch_t *b, fd_scope_t scope, const char *window, const char *id,
                          int64_t expire_at_s, uint32_t *ref) {
    if (b->nentries == b->entries_cap) {
        if (b->entries_cap >= UINT32_MAX / 2) return FD_ERR_FULL;
        size_t ncap = b->entries_cap ? b->entries_cap * 2 : 256;
        entry_t *ne = realloc(b->entries, ncap * sizeof *ne);
        if (ne == NULL) return FD_ERR_NOMEM;
        memset(ne + b->entries_cap, 0, (ncap - b->entries_cap) * sizeof *ne);
        b->entries = ne;
        b->entries_cap = ncap;
    }
    entry_t *e = &b->entries[b->nentries];
    if (e->delta == NULL) {
        e->delta = malloc(b->nfields * sizeof *e->delta);
        if (e->delta == NULL) return FD_ERR_NOMEM;
    }
    /* window and id copied side by side: the pointers stay valid when entries moves */
    size_t wlen = strlen(window), ilen = strlen(id), len = wlen + 1 + ilen + 1;
    if (e->names_cap < len) {
        char *nn = realloc(e->names, len);
        if (nn == NULL) return FD_ERR_NOMEM;
        e->names = nn;
        e->names_cap = len;
    }
    memcpy(e->names, window, wlen + 1);
    memcpy(e->names + wlen + 1, id, ilen + 1);
    memset(e->delta, 0, b->nfields * sizeof *e->delta);
    e->pub = (fd_batch_hash_t){.scope = scope,
                               .window = e->names,
                               .id = e->names + wlen + 1,
                               .delta = e->delta,
                               .expire_at_s = expire_at_s};
    *ref = (uint32_t)++b->nentries;
    return FD_OK;
}

/* The slot of window id of granularity k in *slot, added when new. */
static fd_err_t window_slot(fd_batch_t *b, int k, const char *id, size_t *slot) {
    size_t last = b->wlast[k];
    if (last < b->nwslots && strcmp(b->wslots[last].id, id) == 0) {
        *slot = last;
        return FD_OK;
    }
    /* Window ids name their granularity ("day:...", "all"): the id alone is the key. */
    size_t len = strlen(id);
    uintptr_t v = (uintptr_t)fd_map_get(b->windows, id, len);
    if (v != 0) {
        b->wlast[k] = *slot = v - 1;
        return FD_OK;
    }
    if (b->nwslots == b->wslots_cap) {
        size_t ncap = b->wslots_cap ? b->wslots_cap * 2 : 64;
        wslot_t *nw = realloc(b->wslots, ncap * sizeof *nw);
        if (nw == NULL) return FD_ERR_NOMEM;
        b->wslots = nw;
        b->wslots_cap = ncap;
    }
    fd_err_t err = fd_map_put(b->windows, id, len, (void *)(uintptr_t)(b->nwslots + 1));
    if (err != FD_OK) return err;
    wslot_t *w = &b->wslots[b->nwslots];
    snprintf(w->id, sizeof w->id, "%s", id);
    w->org = 0;
    b->wlast[k] = *slot = b->nwslots++;
    return FD_OK;
}

/* The owner index of id in m (reps or teams) in *owner, added when new. */
static fd_err_t owner_of(fd_batch_t *b, fd_map_t *m, const char *id, size_t *owner) {
    size_t len = strlen(id);
    uintptr_t v = (uintptr_t)fd_map_get(m, id, len);
    if (v != 0) {
        *owner = v - 1;
        return FD_OK;
    }
    if (b->nowners >= UINT32_MAX - 1) return FD_ERR_FULL;
    fd_err_t err = fd_map_put(m, id, len, (void *)(uintptr_t)(b->nowners + 1));
    if (err != FD_OK) return err;
    *owner = b->nowners++;
    return FD_OK;
}

static inline size_t cell_home(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9e3779b97f4a7c15u) >> 32) & mask;
}

/* Where the entry index + 1 of owner o in window slot ws is kept (0 there = no entry yet), in
 * *ref; valid until the next call. */
static fd_err_t owner_entry(fd_batch_t *b, size_t o, size_t ws, uint32_t **ref) {
    uint64_t key = (uint64_t)(o + 1) << 32 | (uint64_t)ws;
    if ((b->ncells + 1) * 2 > b->cells_cap) {
        size_t ncap = b->cells_cap ? b->cells_cap * 2 : 1024;
        cell_t *nc = calloc(ncap, sizeof *nc);
        if (nc == NULL) return FD_ERR_NOMEM;
        for (size_t i = 0; i < b->cells_cap; i++) {
            if (b->cells[i].key == 0) continue;
            size_t j = cell_home(b->cells[i].key, ncap - 1);
            while (nc[j].key != 0)
                j = (j + 1) & (ncap - 1);
            nc[j] = b->cells[i];
        }
        free(b->cells);
        b->cells = nc;
        b->cells_cap = ncap;
    }
    size_t mask = b->cells_cap - 1;
    size_t i = cell_home(key, mask);
    while (b->cells[i].key != 0 && b->cells[i].key != key)
        i = (i + 1) & mask;
    if (b->cells[i].key == 0) {
        b->cells[i].key = key;
        b->cells[i].entry = 0;
        b->ncells++;
    }
    *ref = &b->cells[i].entry;
    return FD_OK;
}

/* Adds a group's deltas to the hashes of its 3 scopes x 5 windows (6 with hourly buckets),
 * skipping (and counting)
 * windows already past their retention at now_s. */
/* Windows of one event skipped as past their retention, so that each (scope, window) counts
 * once in beyond_retention however many of the event's groups land in it. */
typedef struct {
    int k;
    int64_t end_ms;
    const fd_owner_t *owner;
} skip_t;
typedef struct {
    size_t n;
    skip_t w[(FD_MAX_EFFECTS + 1) * FD_WIN_COUNT];
} skipped_t;

/* Scopes of window (k, end_ms) and owner not yet counted as skipped for this event. */
static int64_t skip_window(skipped_t *sk, int k, int64_t end_ms, const fd_owner_t *owner) {
    bool org = true, rep = true, team = true;
    for (size_t i = 0; i < sk->n; i++) {
        if (sk->w[i].k != k || sk->w[i].end_ms != end_ms) continue;
        org = false;
        if (strcmp(sk->w[i].owner->rep, owner->rep) == 0) rep = false;
        if (strcmp(sk->w[i].owner->team, owner->team) == 0) team = false;
    }
    if (sk->n < sizeof sk->w / sizeof sk->w[0]) sk->w[sk->n++] = (skip_t){k, end_ms, owner};
    return (int64_t)org + rep + team;
}

static fd_err_t flush_group(fd_batch_t *b, const group_t *g, skipped_t *sk, int64_t now_s) {
    if (g->nf == 0) return FD_OK;
    fd_windows_t w;
    fd_timewin_of(b->tw, g->at_ms, &w);
    /* the group's rep and team as owners of this batch (FD_SCOPE_REP and FD_SCOPE_TEAM; the
     * org has none) */
    const char *id[FD_SCOPE_COUNT] = {g->owner->rep, g->owner->team, ""};
    size_t owner[FD_SCOPE_COUNT] = {0};
    fd_err_t err;
    if ((err = owner_of(b, b->reps, id[FD_SCOPE_REP], &owner[FD_SCOPE_REP])) != FD_OK ||
        (err = owner_of(b, b->teams, id[FD_SCOPE_TEAM], &owner[FD_SCOPE_TEAM])) != FD_OK)
        return err;
    for (int k = 0; k < FD_WIN_COUNT; k++) {
        if (k == FD_WIN_HOUR && b->retention_days[k] == 0) continue; /* hourly buckets off */
        int64_t expire_at_s = 0;
        if (b->retention_days[k] > 0) {
            /* A window is kept until its end plus the retention; an update that would land in
             * an already expired window is skipped, and counted once per scope. */
            expire_at_s = w.end_ms[k] / 1000 + b->retention_days[k] * 86400;
            /* Hourly buckets feed the rolling windows of alerts, which run on event time: a
             * back-fill of old history needs them too, so they live the retention from their
             * last update when that is later than their hour's end. */
            if (k == FD_WIN_HOUR && w.end_ms[k] / 1000 < now_s)
                expire_at_s = now_s + b->retention_days[k] * 86400;
            if (expire_at_s <= now_s) {
                b->stats[FD_STAT_BEYOND_RETENTION] += skip_window(sk, k, w.end_ms[k], g->owner);
                continue;
            }
        }
        size_t ws;
        if ((err = window_slot(b, k, w.id[k], &ws)) != FD_OK) return err;
        for (int scope = 0; scope < FD_SCOPE_COUNT; scope++) {
            /* ref: where the entry index + 1 of (scope, window, owner) is kept */
            uint32_t *ref = &b->wslots[ws].org;
            if (scope != FD_SCOPE_ORG && (err = owner_entry(b, owner[scope], ws, &ref)) != FD_OK)
                return err;
            /* a new hash: its names are copied once (building a key string with snprintf was
             * once the fold's top cost; the store renders keys now, once per hash) */
            if (*ref == 0 && (err = new_entry(b, (fd_scope_t)scope, w.id[k], id[scope], expire_at_s,
                                              ref)) != FD_OK)
                return err;
            entry_t *e = &b->entries[*ref - 1];
            for (size_t i = 0; i < g->nf; i++)
                e->delta[g->field[i]] += g->value[i];
        }
    }
    return FD_OK;
}

/* Adds the open pipeline change of a FD_FX_OPEN (sign 1) or FD_FX_CLOSE (sign -1) effect to
 * the "all" hashes of its owner's rep, team and the org: open:<s>, open_amount:<s>, open,
 * open_amount. The "all" window never expires. */
static fd_err_t add_pipeline(fd_batch_t *b, const fd_effect_t *x, int64_t sign) {
    const fd_funnel_t *fn = b->fn;
    const char *id[FD_SCOPE_COUNT] = {x->owner->rep, x->owner->team, ""};
    size_t owner[FD_SCOPE_COUNT] = {0}, ws;
    fd_err_t err;
    if ((err = owner_of(b, b->reps, id[FD_SCOPE_REP], &owner[FD_SCOPE_REP])) != FD_OK ||
        (err = owner_of(b, b->teams, id[FD_SCOPE_TEAM], &owner[FD_SCOPE_TEAM])) != FD_OK ||
        (err = window_slot(b, FD_WIN_ALL, "all", &ws)) != FD_OK)
        return err;
    for (int scope = 0; scope < FD_SCOPE_COUNT; scope++) {
        uint32_t *ref = &b->wslots[ws].org;
        if (scope != FD_SCOPE_ORG && (err = owner_entry(b, owner[scope], ws, &ref)) != FD_OK)
            return err;
        if (*ref == 0 && (err = new_entry(b, (fd_scope_t)scope, "all", id[scope], 0, ref)) != FD_OK)
            return err;
        int64_t *delta = b->entries[*ref - 1].delta;
        delta[fd_funnel_field_stage(fn, x->stage, FD_F_OPEN)] += sign;
        delta[fd_funnel_field_stage(fn, x->stage, FD_F_OPEN_AMOUNT)] += sign * x->amount_c;
        delta[fd_funnel_field_global(fn, FD_G_OPEN)] += sign;
        delta[fd_funnel_field_global(fn, FD_G_OPEN_AMOUNT)] += sign * x->amount_c;
    }
    return FD_OK;
}

/* Notes ev for the rep -> team map: the team of the rep's latest event (by event time; a tie
 * goes to the event folded later) that names one ("unassigned" names none). */
static fd_err_t note_rep_team(fd_batch_t *b, const fd_event_t *ev) {
    if (strcmp(ev->team_id, FD_TEAM_UNASSIGNED) == 0) return FD_OK;
    size_t len = strlen(ev->rep_id);
    uintptr_t v = (uintptr_t)fd_map_get(b->rep_team_of, ev->rep_id, len);
    fd_batch_rep_team_t *rt;
    if (v != 0) {
        rt = &b->rep_teams[v - 1];
        if (ev->occurred_ms < rt->at_ms) return FD_OK;
    } else {
        if (b->nrep_teams == b->rep_teams_cap) {
            size_t ncap = b->rep_teams_cap ? b->rep_teams_cap * 2 : 64;
            fd_batch_rep_team_t *nr = realloc(b->rep_teams, ncap * sizeof *nr);
            if (nr == NULL) return FD_ERR_NOMEM;
            b->rep_teams = nr;
            b->rep_teams_cap = ncap;
        }
        rt = &b->rep_teams[b->nrep_teams];
        memcpy(rt->rep, ev->rep_id, len + 1);
        fd_err_t err =
            fd_map_put(b->rep_team_of, ev->rep_id, len, (void *)(uintptr_t)(b->nrep_teams + 1));
        if (err != FD_OK) return err;
        b->nrep_teams++;
    }
    memcpy(rt->team, ev->team_id, strlen(ev->team_id) + 1);
    rt->at_ms = ev->occurred_ms;
    return FD_OK;
}

/* The group of (at_ms, owner) among groups[0..*n), added when new. */
static group_t *group_for(group_t *groups, size_t *n, int64_t at_ms, const fd_owner_t *owner) {
    for (size_t i = 0; i < *n; i++) {
        group_t *g = &groups[i];
        if (g->at_ms == at_ms && strcmp(g->owner->rep, owner->rep) == 0 &&
            strcmp(g->owner->team, owner->team) == 0)
            return g;
    }
    group_t *g = &groups[(*n)++];
    g->at_ms = at_ms;
    g->owner = owner;
    g->nf = 0;
    return g;
}

static void group_add(group_t *g, size_t field, int64_t value) {
    if (value == 0) return;
    for (size_t i = 0; i < g->nf; i++) {
        if (g->field[i] == field) {
            g->value[i] += value;
            return;
        }
    }
    assert(g->nf < GROUP_FIELDS);
    g->field[g->nf] = field;
    g->value[g->nf++] = value;
}

/* Looks up a deal event's cached deal (*deal; NULL for other events) and reserves the event's
 * share of the batch's overflow budget: what it can add to any one field at most (a won amount,
 * its own or the deal's last; a dwell of at most its own time; a score; a count). Once the total
 * would pass 2^62 no field's delta could be trusted to fit int64, so the event is refused; a
 * single event always fits. FD_ERR_INVAL when the deal is not cached, FD_ERR_FULL; either way
 * nothing changed. */
static fd_err_t reserve(fd_batch_t *b, fd_dealcache_t *dc, const fd_event_t *ev, fd_deal_t **deal) {
    *deal = NULL;
    if (ev->type <= FD_DEAL_LOST && (*deal = fd_dealcache_get(dc, ev->deal_id)) == NULL)
        return FD_ERR_INVAL;
    int64_t bound =
        (ev->amount_c > 0 ? ev->amount_c : 0) + (ev->occurred_ms > 0 ? ev->occurred_ms : 0) + 1000;
    if (*deal != NULL && (*deal)->amount_c > 0) bound += (*deal)->amount_c;
    if (b->budget > ((int64_t)1 << 62) - bound) return FD_ERR_FULL;
    b->budget += bound;
    return FD_OK;
}

fd_err_t fd_batch_admit(fd_batch_t *b, int part, const fd_event_t *ev, int64_t offset,
                        bool *fresh) {
    assert(part >= 0 && (size_t)part < b->nparts);
    fd_batch_part_t *p = &b->parts[part];
    *fresh = false;
    bool unseen;
    fd_err_t err = fd_dedupe_check_add(p->dd, ev->event_id, ev->event_id_len, &unseen);
    if (err != FD_OK) return err;
    b->messages++;
    /* Rejections are folded as they arrive, events later: keep the highest offset seen. */
    if (offset + 1 > p->next) p->next = offset + 1;
    if (!unseen) {
        b->stats[FD_STAT_DUPLICATES]++;
        return FD_OK;
    }
    b->stats[FD_STAT_ACCEPTED]++;
    *fresh = true;
    return FD_OK;
}

static fd_err_t fold_effects(fd_batch_t *b, fd_dealcache_t *dc, fd_deal_t *deal,
                             const fd_event_t *ev, int64_t now_s);

/* Notes the time of an event folded (err FD_OK) for fd_batch_latest_ms; passes err on. */
static fd_err_t fold_latest(fd_batch_t *b, fd_err_t err, const fd_event_t *ev) {
    if (err == FD_OK && (!b->any_folded || ev->occurred_ms > b->latest_ms)) {
        b->latest_ms = ev->occurred_ms;
        b->any_folded = true;
    }
    return err;
}

fd_err_t fd_batch_add(fd_batch_t *b, int part, fd_dealcache_t *dc, const fd_event_t *ev,
                      int64_t offset, int64_t now_s) {
    assert(part >= 0 && (size_t)part < b->nparts);
    fd_deal_t *deal;
    fd_err_t err = reserve(b, dc, ev, &deal);
    if (err != FD_OK) return err;
    bool fresh;
    err = fd_batch_admit(b, part, ev, offset, &fresh);
    if (err != FD_OK || !fresh) return err;
    return fold_latest(b, fold_effects(b, dc, deal, ev, now_s), ev);
}

fd_err_t fd_batch_fold(fd_batch_t *b, fd_dealcache_t *dc, const fd_event_t *ev, int64_t now_s) {
    fd_deal_t *deal;
    fd_err_t err = reserve(b, dc, ev, &deal);
    if (err != FD_OK) return err;
    return fold_latest(b, fold_effects(b, dc, deal, ev, now_s), ev);
}

/* The deltas and deal-state change of an admitted event (deal: its cached state, or NULL). */
static fd_err_t fold_effects(fd_batch_t *b, fd_dealcache_t *dc, fd_deal_t *deal,
                             const fd_event_t *ev, int64_t now_s) {
    const fd_funnel_t *fn = b->fn;
    const fd_owner_t owner = {.rep = ev->rep_id, .team = ev->team_id};
    /* Effects of one event have at most: the event's own (time, owner), and for a reach the
     * retroactive advanced:<f> at f's reach time and owner. */
    group_t groups[FD_MAX_EFFECTS + 1];
    size_t ngroups = 0;
    group_t *own = group_for(groups, &ngroups, ev->occurred_ms, &owner);
    group_add(own, fd_funnel_field_global(fn, FD_G_EVENTS), 1);

    switch (ev->type) {
    case FD_ACTIVITY_LOGGED:
        group_add(own, fd_funnel_field_kind(fn, ev->activity), 1);
        break;
    case FD_FEEDBACK_RECEIVED:
        if (ev->score_c >= 0) {
            group_add(own, fd_funnel_field_global(fn, FD_G_FEEDBACK_COUNT), 1);
            group_add(own, fd_funnel_field_global(fn, FD_G_FEEDBACK_SUM), ev->score_c);
        }
        if (ev->complaint) group_add(own, fd_funnel_field_global(fn, FD_G_COMPLAINTS), 1);
        break;
    default: {
        fd_effect_t fx[FD_MAX_EFFECTS];
        size_t nfx = 0;
        const int64_t amount_before = deal->amount_c;
        fd_err_t err = fd_funnel_apply(fn, deal, ev->type, ev->stage, ev->occurred_ms, &owner,
                                       ev->amount_c, fx, &nfx);
        if (err != FD_OK) return err;
        err = fd_dealcache_mark_dirty(dc, ev->deal_id);
        if (err != FD_OK) return err;
        /* Only the amount (and the pipeline's holder) can change without a counter effect (a
         * reach or a loss always has one): such an event is "ignored". */
        size_t ncounted = 0;
        for (size_t i = 0; i < nfx; i++)
            if (fx[i].kind != FD_FX_OPEN && fx[i].kind != FD_FX_CLOSE) ncounted++;
        if (ncounted == 0 && deal->amount_c == amount_before) b->stats[FD_STAT_IGNORED]++;
        int last = (int)fd_funnel_nstages(fn) - 1;
        for (size_t i = 0; i < nfx; i++) {
            const fd_effect_t *x = &fx[i];
            if (x->kind == FD_FX_OPEN || x->kind == FD_FX_CLOSE) {
                /* a stock, in the "all" hashes only; the owner points into the deal, valid
                 * until its next apply */
                err = add_pipeline(b, x, x->kind == FD_FX_OPEN ? 1 : -1);
                if (err != FD_OK) return err;
                continue;
            }
            group_t *g = group_for(groups, &ngroups, x->at_ms, x->owner);
            switch (x->kind) {
            case FD_FX_ENTER:
                group_add(g, fd_funnel_field_stage(fn, x->stage, FD_F_ENTERED), 1);
                if (x->stage == last) {
                    group_add(g, fd_funnel_field_global(fn, FD_G_WON), 1);
                    group_add(g, fd_funnel_field_global(fn, FD_G_WON_AMOUNT), x->amount_c);
                    if (x->cycle_ms >= 0) {
                        group_add(g, fd_funnel_field_global(fn, FD_G_CYCLE_SUM_MS), x->cycle_ms);
                        /* a zero cycle counts too: add it unconditionally */
                        group_add(g, fd_funnel_field_global(fn, FD_G_CYCLE_COUNT), 1);
                    }
                }
                break;
            case FD_FX_ADVANCE:
                group_add(g, fd_funnel_field_stage(fn, x->stage, FD_F_ADVANCED), 1);
                break;
            case FD_FX_MOVE:
                group_add(g, fd_funnel_field_stage(fn, x->stage, FD_F_MOVED_ON), 1);
                if (x->dwell_ms >= 0) {
                    group_add(g, fd_funnel_field_stage(fn, x->stage, FD_F_DWELL_SUM_MS),
                              x->dwell_ms);
                    /* dwell_count must count a zero dwell too: add it unconditionally. */
                    group_add(g, fd_funnel_field_stage(fn, x->stage, FD_F_DWELL_COUNT), 1);
                }
                break;
            case FD_FX_LOST:
                group_add(g, fd_funnel_field_stage(fn, x->stage, FD_F_LOST_AT), 1);
                group_add(g, fd_funnel_field_global(fn, FD_G_LOST), 1);
                break;
            default:
                break;
            }
        }
        break;
    }
    }
    fd_err_t err = note_rep_team(b, ev);
    if (err != FD_OK) return err;
    skipped_t sk;
    sk.n = 0;
    for (size_t i = 0; i < ngroups && err == FD_OK; i++)
        err = flush_group(b, &groups[i], &sk, now_s);
    return err;
}

void fd_batch_reject(fd_batch_t *b, int part, fd_reject_t reason, int64_t offset) {
    assert(part >= 0 && (size_t)part < b->nparts);
    assert(reason > FD_REJECT_NONE && reason < FD_REJECT_COUNT);
    if (offset + 1 > b->parts[part].next) b->parts[part].next = offset + 1;
    b->stats[FD_STAT_REJECTED]++;
    b->rejected[reason]++;
    b->messages++;
}

size_t fd_batch_messages(const fd_batch_t *b) {
    return b->messages;
}
size_t fd_batch_nhashes(const fd_batch_t *b) {
    return b->nentries;
}

const fd_batch_hash_t *fd_batch_hash(const fd_batch_t *b, size_t i) {
    assert(i < b->nentries);
    return &b->entries[i].pub;
}

size_t fd_batch_nparts(const fd_batch_t *b) {
    return b->nparts;
}

const fd_batch_part_t *fd_batch_part_at(const fd_batch_t *b, size_t i) {
    assert(i < b->nparts);
    return &b->parts[i];
}

bool fd_batch_latest_ms(const fd_batch_t *b, int64_t *ms) {
    if (!b->any_folded) return false;
    *ms = b->latest_ms;
    return true;
}

int64_t fd_batch_stat(const fd_batch_t *b, int stat) {
    assert(stat >= 0 && stat < FD_STAT_COUNT);
    return b->stats[stat];
}

int64_t fd_batch_rejected(const fd_batch_t *b, fd_reject_t reason) {
    assert(reason > FD_REJECT_NONE && reason < FD_REJECT_COUNT);
    return b->rejected[reason];
}

const char *fd_batch_stat_name(int stat) {
    assert(stat >= 0 && stat < FD_STAT_COUNT);
    return stat_names[stat];
}

const fd_funnel_t *fd_batch_funnel(const fd_batch_t *b) {
    return b->fn;
}

size_t fd_batch_nrep_teams(const fd_batch_t *b) {
    return b->nrep_teams;
}

const fd_batch_rep_team_t *fd_batch_rep_team(const fd_batch_t *b, size_t i) {
    assert(i < b->nrep_teams);
    return &b->rep_teams[i];
}

fd_err_t fd_batch_note_late(fd_batch_t *b, int part, const fd_event_t *ev, int64_t offset) {
    assert(part >= 0 && (size_t)part < b->nparts);
    if (b->nlate >= FD_BATCH_LATE_MAX) return FD_OK;
    if (b->nlate == b->late_cap) {
        size_t ncap = b->late_cap ? b->late_cap * 2 : 16;
        if (ncap > FD_BATCH_LATE_MAX) ncap = FD_BATCH_LATE_MAX;
        fd_batch_late_t *nl = realloc(b->late, ncap * sizeof *nl);
        if (nl == NULL) return FD_ERR_NOMEM;
        b->late = nl;
        b->late_cap = ncap;
    }
    fd_batch_late_t *l = &b->late[b->nlate++];
    snprintf(l->event_id, sizeof l->event_id, "%s", ev->event_id);
    l->type = ev->type;
    snprintf(l->rep, sizeof l->rep, "%s", ev->rep_id);
    snprintf(l->team, sizeof l->team, "%s", ev->team_id); /* "unassigned" when absent */
    l->occurred_ms = ev->occurred_ms;
    l->part = part;
    l->offset = offset;
    return FD_OK;
}

size_t fd_batch_nlate(const fd_batch_t *b) {
    return b->nlate;
}

const fd_batch_late_t *fd_batch_late(const fd_batch_t *b, size_t i) {
    assert(i < b->nlate);
    return &b->late[i];
}
