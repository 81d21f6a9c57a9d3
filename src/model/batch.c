// SPDX-License-Identifier: MIT
// Folds a batch of events into per-hash counter deltas, deal-state changes, dedupe ids, rejection
// counts and per-partition offsets for one atomic apply; no I/O (layer 2).
#include "model/batch.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/map.h"

#define KEY_MAX    512
#define PREFIX_MAX 64
/* Most distinct fields one (time, owner) group of an event touches: entered, advanced, moved_on
 * per stage, plus dwell, won, won_amount, events. */
#define GROUP_FIELDS (3 * FD_MAX_STAGES + 8)

typedef struct {
    fd_batch_hash_t pub; /* what the store reads: points into key and delta */
    char *key;
    size_t key_cap;
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
    char prefix[PREFIX_MAX + 1];
    size_t prefix_len;
    int64_t retention_days[FD_WIN_COUNT];
    size_t nfields;

    /* The entries are found without building their keys: a window of the batch is a slot
     * (wslot_t, holding its org entry); a rep or a team is an owner (found by id in reps or
     * teams); cells map (owner, slot) to the entry. A key is built once, when its entry is
     * made. */
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

fd_batch_t *fd_batch_new(const fd_funnel_t *fn, fd_timewin_t *tw, const fd_batch_opts_t *opts) {
    if (strlen(opts->prefix) > PREFIX_MAX) return NULL;
    fd_batch_t *b = calloc(1, sizeof *b);
    if (b == NULL) return NULL;
    b->fn = fn;
    b->tw = tw;
    b->prefix_len = strlen(opts->prefix);
    memcpy(b->prefix, opts->prefix, b->prefix_len + 1);
    memcpy(b->retention_days, opts->retention_days, sizeof b->retention_days);
    b->retention_days[FD_WIN_ALL] = 0;
    b->nfields = fd_funnel_nfields(fn);
    b->reps = fd_map_new();
    b->teams = fd_map_new();
    b->windows = fd_map_new();
    if (b->reps == NULL || b->teams == NULL || b->windows == NULL) {
        fd_batch_destroy(b);
        return NULL;
    }
    return b;
}

void fd_batch_destroy(fd_batch_t *b) {
    if (b == NULL) return;
    for (size_t i = 0; i < b->entries_cap; i++) {
        free(b->entries[i].key);
        free(b->entries[i].delta);
    }
    free(b->entries);
    free(b->parts);
    free(b->wslots);
    free(b->cells);
    fd_map_destroy(b->reps);
    fd_map_destroy(b->teams);
    fd_map_destroy(b->windows);
    free(b);
}

void fd_batch_reset(fd_batch_t *b) {
    fd_map_clear(b->reps);
    fd_map_clear(b->teams);
    fd_map_clear(b->windows);
    b->nentries = 0;
    b->nwslots = 0;
    b->nowners = 0;
    if (b->ncells > 0) memset(b->cells, 0, b->cells_cap * sizeof *b->cells);
    b->ncells = 0;
    b->nparts = 0;
    b->messages = 0;
    b->budget = 0;
    memset(b->stats, 0, sizeof b->stats);
    memset(b->rejected, 0, sizeof b->rejected);
}

int fd_batch_part(fd_batch_t *b, const char *topic, int32_t partition, const char *token,
                  int64_t from, fd_dedupe_t *dd) {
    for (size_t i = 0; i < b->nparts; i++)
        if (b->parts[i].partition == partition && strcmp(b->parts[i].topic, topic) == 0)
            return (int)i;
    if (strlen(topic) > FD_TOPIC_MAX || strlen(token) > FD_TOKEN_MAX) return -1;
    if (b->nparts == b->parts_cap) {
        size_t ncap = b->parts_cap ? b->parts_cap * 2 : 16;
        fd_batch_part_t *np = realloc(b->parts, ncap * sizeof *np);
        if (np == NULL) return -1;
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
    return (int)b->nparts++;
}

/* A new entry with zero deltas for key; its index, or -1 when out of memory. */
static ptrdiff_t new_entry(fd_batch_t *b, const char *key, size_t len, int64_t expire_at_s) {
    if (b->nentries == b->entries_cap) {
        size_t ncap = b->entries_cap ? b->entries_cap * 2 : 256;
        entry_t *ne = realloc(b->entries, ncap * sizeof *ne);
        if (ne == NULL) return -1;
        memset(ne + b->entries_cap, 0, (ncap - b->entries_cap) * sizeof *ne);
        b->entries = ne;
        b->entries_cap = ncap;
    }
    entry_t *e = &b->entries[b->nentries];
    if (e->delta == NULL) {
        e->delta = malloc(b->nfields * sizeof *e->delta);
        if (e->delta == NULL) return -1;
    }
    if (e->key_cap < len + 1) {
        char *nk = realloc(e->key, len + 1);
        if (nk == NULL) return -1;
        e->key = nk;
        e->key_cap = len + 1;
    }
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    memset(e->delta, 0, b->nfields * sizeof *e->delta);
    e->pub = (fd_batch_hash_t){.key = e->key, .delta = e->delta, .expire_at_s = expire_at_s};
    return (ptrdiff_t)b->nentries++;
}

/* The slot of window id of granularity k, added when new; -1 when out of memory. */
static ptrdiff_t window_slot(fd_batch_t *b, int k, const char *id) {
    size_t last = b->wlast[k];
    if (last < b->nwslots && strcmp(b->wslots[last].id, id) == 0) return (ptrdiff_t)last;
    /* Window ids name their granularity ("day:...", "all"): the id alone is the key. */
    size_t len = strlen(id);
    uintptr_t v = (uintptr_t)fd_map_get(b->windows, id, len);
    if (v != 0) {
        b->wlast[k] = v - 1;
        return (ptrdiff_t)(v - 1);
    }
    if (b->nwslots == b->wslots_cap) {
        size_t ncap = b->wslots_cap ? b->wslots_cap * 2 : 64;
        wslot_t *nw = realloc(b->wslots, ncap * sizeof *nw);
        if (nw == NULL) return -1;
        b->wslots = nw;
        b->wslots_cap = ncap;
    }
    if (fd_map_put(b->windows, id, len, (void *)(uintptr_t)(b->nwslots + 1)) != FD_OK) return -1;
    wslot_t *w = &b->wslots[b->nwslots];
    snprintf(w->id, sizeof w->id, "%s", id);
    w->org = 0;
    b->wlast[k] = b->nwslots;
    return (ptrdiff_t)b->nwslots++;
}

/* The owner index of id in m (reps or teams), added when new; -1 when out of memory. */
static ptrdiff_t owner_of(fd_batch_t *b, fd_map_t *m, const char *id) {
    size_t len = strlen(id);
    uintptr_t v = (uintptr_t)fd_map_get(m, id, len);
    if (v != 0) return (ptrdiff_t)(v - 1);
    if (b->nowners >= UINT32_MAX - 1) return -1;
    if (fd_map_put(m, id, len, (void *)(uintptr_t)(b->nowners + 1)) != FD_OK) return -1;
    return (ptrdiff_t)b->nowners++;
}

static inline size_t cell_home(uint64_t key, size_t mask) {
    return (size_t)((key * 0x9e3779b97f4a7c15u) >> 32) & mask;
}

/* Where the entry index + 1 of owner o in window slot ws is kept (0 there = no entry yet);
 * NULL when out of memory. Valid until the next call. */
static uint32_t *owner_entry(fd_batch_t *b, size_t o, size_t ws) {
    uint64_t key = (uint64_t)(o + 1) << 32 | (uint64_t)ws;
    if ((b->ncells + 1) * 2 > b->cells_cap) {
        size_t ncap = b->cells_cap ? b->cells_cap * 2 : 1024;
        cell_t *nc = calloc(ncap, sizeof *nc);
        if (nc == NULL) return NULL;
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
    return &b->cells[i].entry;
}

/* Appends n bytes to key at len; keys are bounded: prefix 64 + scope 6 + window 32 + id 128. */
static inline size_t put(char *key, size_t len, const char *s, size_t n) {
    assert(len + n < KEY_MAX);
    memcpy(key + len, s, n);
    return len + n;
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
    /* the group's rep and team as owners of this batch (scope 0 and 1; the org has none) */
    const char *id[3] = {g->owner->rep, g->owner->team, NULL};
    ptrdiff_t owner[2] = {owner_of(b, b->reps, id[0]), owner_of(b, b->teams, id[1])};
    if (owner[0] < 0 || owner[1] < 0) return FD_ERR_NOMEM;
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
        ptrdiff_t ws = window_slot(b, k, w.id[k]);
        if (ws < 0) return FD_ERR_NOMEM;
        for (int scope = 0; scope < 3; scope++) {
            static const char *const scope_name[3] = {":rep:", ":team:", ":org:"};
            /* ref: where the entry index + 1 of (scope, window, owner) is kept */
            uint32_t *ref = &b->wslots[ws].org;
            if (scope < 2 && (ref = owner_entry(b, (size_t)owner[scope], (size_t)ws)) == NULL)
                return FD_ERR_NOMEM;
            if (*ref == 0) {
                /* <prefix>:<scope>:<window>[:<id>], by copying: snprintf was the fold's top
                 * cost. */
                char key[KEY_MAX];
                size_t len = 0;
                len = put(key, len, b->prefix, b->prefix_len);
                len = put(key, len, scope_name[scope], strlen(scope_name[scope]));
                len = put(key, len, w.id[k], strlen(w.id[k]));
                if (scope < 2) {
                    key[len++] = ':';
                    len = put(key, len, id[scope], strlen(id[scope]));
                }
                ptrdiff_t ei = new_entry(b, key, len, expire_at_s);
                if (ei < 0) return FD_ERR_NOMEM;
                *ref = (uint32_t)ei + 1;
            }
            entry_t *e = &b->entries[*ref - 1];
            for (size_t i = 0; i < g->nf; i++)
                e->delta[g->field[i]] += g->value[i];
        }
    }
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
    int seen = fd_dedupe_check_add(p->dd, ev->event_id, ev->event_id_len);
    if (seen < 0) return FD_ERR_NOMEM;
    b->messages++;
    /* Rejections are folded as they arrive, events later: keep the highest offset seen. */
    if (offset + 1 > p->next) p->next = offset + 1;
    if (seen) {
        b->stats[FD_STAT_DUPLICATES]++;
        return FD_OK;
    }
    b->stats[FD_STAT_ACCEPTED]++;
    *fresh = true;
    return FD_OK;
}

static fd_err_t fold_effects(fd_batch_t *b, fd_dealcache_t *dc, fd_deal_t *deal,
                             const fd_event_t *ev, int64_t now_s);

fd_err_t fd_batch_add(fd_batch_t *b, int part, fd_dealcache_t *dc, const fd_event_t *ev,
                      int64_t offset, int64_t now_s) {
    assert(part >= 0 && (size_t)part < b->nparts);
    fd_deal_t *deal;
    fd_err_t err = reserve(b, dc, ev, &deal);
    if (err != FD_OK) return err;
    bool fresh;
    err = fd_batch_admit(b, part, ev, offset, &fresh);
    if (err != FD_OK || !fresh) return err;
    return fold_effects(b, dc, deal, ev, now_s);
}

fd_err_t fd_batch_fold(fd_batch_t *b, fd_dealcache_t *dc, const fd_event_t *ev, int64_t now_s) {
    fd_deal_t *deal;
    fd_err_t err = reserve(b, dc, ev, &deal);
    if (err != FD_OK) return err;
    return fold_effects(b, dc, deal, ev, now_s);
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
        /* Only the amount can change without an effect (a reach or a loss always has one). */
        if (nfx == 0 && deal->amount_c == amount_before) b->stats[FD_STAT_IGNORED]++;
        int last = (int)fd_funnel_nstages(fn) - 1;
        for (size_t i = 0; i < nfx; i++) {
            const fd_effect_t *x = &fx[i];
            group_t *g = group_for(groups, &ngroups, x->at_ms, x->owner);
            switch (x->kind) {
            case FD_FX_ENTER:
                group_add(g, fd_funnel_field_stage(fn, x->stage, FD_F_ENTERED), 1);
                if (x->stage == last) {
                    group_add(g, fd_funnel_field_global(fn, FD_G_WON), 1);
                    group_add(g, fd_funnel_field_global(fn, FD_G_WON_AMOUNT), x->amount_c);
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
            }
        }
        break;
    }
    }
    skipped_t sk;
    sk.n = 0;
    for (size_t i = 0; i < ngroups; i++) {
        fd_err_t err = flush_group(b, &groups[i], &sk, now_s);
        if (err != FD_OK) return err;
    }
    return FD_OK;
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
