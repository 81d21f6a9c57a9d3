// SPDX-License-Identifier: MIT
// The funnel model: stages, activity kinds, metric field layout, and the per-deal state machine
// with its text codec (layer 1, pure).
#include "model/funnel.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_NAME_MAX (FD_NAME_MAX + 16)

struct fd_funnel {
    size_t nstages, nkinds, nfields;
    char stage[FD_MAX_STAGES][FD_NAME_MAX + 1];
    char kind[FD_MAX_KINDS][FD_NAME_MAX + 1];
    char (*field)[FIELD_NAME_MAX]; /* nfields names */
};

static const char *const per_stage_names[FD_F_PER_STAGE] = {
    "entered",      "advanced",    "moved_on", "lost_at",
    "dwell_sum_ms", "dwell_count", "open",     "open_amount"};
static const char *const global_names[FD_G_COUNT] = {
    "won",    "lost",         "won_amount",  "feedback_count", "feedback_sum", "complaints",
    "events", "cycle_sum_ms", "cycle_count", "open",           "open_amount"};

static fd_err_t check_name(const char *what, size_t i, const char *name, char *errstr,
                           size_t errstr_size) {
    size_t len = strlen(name);
    if (len == 0 || len > FD_NAME_MAX) {
        snprintf(errstr, errstr_size, "%s[%zu]: expected 1..%d bytes, got %zu", what, i,
                 FD_NAME_MAX, len);
        return FD_ERR_CONFIG;
    }
    for (size_t j = 0; j < len; j++) {
        char c = name[j];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            snprintf(errstr, errstr_size, "%s[%zu]: '%s' may only contain a-z, 0-9, '_' and '-'",
                     what, i, name);
            return FD_ERR_CONFIG;
        }
    }
    return FD_OK;
}

static fd_err_t check_list(const char *what, const char *const *names, size_t n, size_t min,
                           size_t max, char *errstr, size_t errstr_size) {
    if (n < min || n > max) {
        snprintf(errstr, errstr_size, "%s: expected %zu..%zu entries, got %zu", what, min, max, n);
        return FD_ERR_CONFIG;
    }
    for (size_t i = 0; i < n; i++) {
        if (check_name(what, i, names[i], errstr, errstr_size) != FD_OK) return FD_ERR_CONFIG;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                snprintf(errstr, errstr_size, "%s: '%s' is listed twice", what, names[i]);
                return FD_ERR_CONFIG;
            }
        }
    }
    return FD_OK;
}

fd_err_t fd_funnel_new(const char *const *stages, size_t nstages, const char *const *kinds,
                       size_t nkinds, fd_funnel_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    if (check_list("funnel.stages", stages, nstages, 2, FD_MAX_STAGES, errstr, errstr_size) !=
            FD_OK ||
        check_list("funnel.activities", kinds, nkinds, 1, FD_MAX_KINDS, errstr, errstr_size) !=
            FD_OK)
        return FD_ERR_CONFIG;
    fd_funnel_t *fn = calloc(1, sizeof *fn);
    if (fn == NULL) return FD_ERR_NOMEM;
    fn->nstages = nstages;
    fn->nkinds = nkinds;
    fn->nfields = nstages * FD_F_PER_STAGE + FD_G_COUNT + nkinds;
    fn->field = calloc(fn->nfields, sizeof *fn->field);
    if (fn->field == NULL) {
        free(fn);
        return FD_ERR_NOMEM;
    }
    for (size_t i = 0; i < nstages; i++) {
        memcpy(fn->stage[i], stages[i], strlen(stages[i]) + 1);
        for (int f = 0; f < FD_F_PER_STAGE; f++)
            snprintf(fn->field[i * FD_F_PER_STAGE + (size_t)f], FIELD_NAME_MAX, "%s:%s",
                     per_stage_names[f], stages[i]);
    }
    for (int g = 0; g < FD_G_COUNT; g++)
        snprintf(fn->field[nstages * FD_F_PER_STAGE + (size_t)g], FIELD_NAME_MAX, "%s",
                 global_names[g]);
    for (size_t k = 0; k < nkinds; k++) {
        memcpy(fn->kind[k], kinds[k], strlen(kinds[k]) + 1);
        snprintf(fn->field[nstages * FD_F_PER_STAGE + FD_G_COUNT + k], FIELD_NAME_MAX,
                 "activity:%s", kinds[k]);
    }
    *out = fn;
    return FD_OK;
}

void fd_funnel_destroy(fd_funnel_t *fn) {
    if (fn == NULL) return;
    free(fn->field);
    free(fn);
}

size_t fd_funnel_nstages(const fd_funnel_t *fn) {
    return fn->nstages;
}
size_t fd_funnel_nkinds(const fd_funnel_t *fn) {
    return fn->nkinds;
}

const char *fd_funnel_stage_name(const fd_funnel_t *fn, int stage) {
    assert(stage >= 0 && (size_t)stage < fn->nstages);
    return fn->stage[stage];
}

const char *fd_funnel_kind_name(const fd_funnel_t *fn, int kind) {
    assert(kind >= 0 && (size_t)kind < fn->nkinds);
    return fn->kind[kind];
}

static bool lookup(const char (*names)[FD_NAME_MAX + 1], size_t n, const char *name, size_t len,
                   int *index) {
    if (len == 0 || len > FD_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(names[i], name, len) == 0 && names[i][len] == '\0') {
            *index = (int)i;
            return true;
        }
    }
    return false;
}

bool fd_funnel_stage_index(const fd_funnel_t *fn, const char *name, size_t len, int *index) {
    return lookup(fn->stage, fn->nstages, name, len, index);
}

bool fd_funnel_kind_index(const fd_funnel_t *fn, const char *name, size_t len, int *index) {
    return lookup(fn->kind, fn->nkinds, name, len, index);
}

size_t fd_funnel_nfields(const fd_funnel_t *fn) {
    return fn->nfields;
}

const char *fd_funnel_field_name(const fd_funnel_t *fn, size_t field) {
    assert(field < fn->nfields);
    return fn->field[field];
}

bool fd_funnel_field_hundredths(const fd_funnel_t *fn, size_t field) {
    if (field < fn->nstages * FD_F_PER_STAGE) return field % FD_F_PER_STAGE == FD_F_OPEN_AMOUNT;
    return field == fd_funnel_field_global(fn, FD_G_WON_AMOUNT) ||
           field == fd_funnel_field_global(fn, FD_G_FEEDBACK_SUM) ||
           field == fd_funnel_field_global(fn, FD_G_OPEN_AMOUNT);
}

size_t fd_funnel_field_stage(const fd_funnel_t *fn, int stage, int f) {
    (void)fn; /* only the assertion needs it */
    assert(stage >= 0 && (size_t)stage < fn->nstages && f >= 0 && f < FD_F_PER_STAGE);
    return (size_t)stage * FD_F_PER_STAGE + (size_t)f;
}

size_t fd_funnel_field_global(const fd_funnel_t *fn, int g) {
    assert(g >= 0 && g < FD_G_COUNT);
    return fn->nstages * FD_F_PER_STAGE + (size_t)g;
}

size_t fd_funnel_field_kind(const fd_funnel_t *fn, int kind) {
    assert(kind >= 0 && (size_t)kind < fn->nkinds);
    return fn->nstages * FD_F_PER_STAGE + FD_G_COUNT + (size_t)kind;
}

/* ---- per-deal state machine and codec: below this line ---- */

/*
 * Deal state invariants (kept by fd_funnel_apply, checked by fd_deal_decode):
 * - stage s is reached (FD_REACH_REACHED) exactly when s <= furthest: reaching a stage reaches
 *   every earlier one;
 * - a back-filled stage was reached by the same event as the next stage, so it has that stage's
 *   time and owner, and the furthest stage is never back-filled;
 * - owners holds the distinct owners of reaches only, each referenced by some reach. A deal is
 *   reached by at most nstages events, each adding at most one owner, so nstages entries are
 *   enough: the array is allocated once with that room and never moved.
 */

void fd_deal_init(fd_deal_t *deal) {
    memset(deal, 0, sizeof *deal);
    deal->furthest = -1;
    deal->lost_stage = -1;
    deal->amount_c = -1;
    deal->owners = NULL;
    deal->nowners = 0;
}

static void free_owners(fd_owner_t *owners, size_t n) {
    if (owners == NULL) return;
    for (size_t i = 0; i < n; i++) {
        free((char *)owners[i].rep);
        free((char *)owners[i].team);
    }
    free(owners);
}

static void free_holder(fd_owner_t *h) {
    free((char *)h->rep);
    free((char *)h->team);
    h->rep = h->team = NULL;
}

void fd_deal_clear(fd_deal_t *deal) {
    if (deal == NULL) return;
    free_owners(deal->owners, deal->nowners);
    free_holder(&deal->holder);
    free_holder(&deal->prev_holder);
    fd_deal_init(deal);
}

bool fd_deal_open(const fd_funnel_t *fn, const fd_deal_t *deal, int *stage, int64_t *amount_c,
                  const fd_owner_t **holder) {
    if (deal->holder.rep == NULL || deal->closed || deal->furthest < 0 ||
        deal->furthest >= (int)fn->nstages - 1)
        return false;
    *stage = deal->furthest;
    *amount_c = deal->amount_c > 0 ? deal->amount_c : 0;
    *holder = &deal->holder;
    return true;
}

/* ---- state machine ---- */

/* Whether owner is in deal->owners; *index gets its (first) position when it is. */
static bool find_owner(const fd_deal_t *deal, const fd_owner_t *owner, int *index) {
    for (int i = 0; i < deal->nowners; i++) {
        if (strcmp(deal->owners[i].rep, owner->rep) == 0 &&
            strcmp(deal->owners[i].team, owner->team) == 0) {
            *index = i;
            return true;
        }
    }
    return false;
}

/* Index of owner in deal->owners, copying it in when new. Allocates the owners array on first
 * need. On FD_ERR_NOMEM the deal is unchanged. */
static fd_err_t intern_owner(const fd_funnel_t *fn, fd_deal_t *deal, const fd_owner_t *owner,
                             int *index) {
    if (find_owner(deal, owner, index)) return FD_OK;
    /* At most one new owner per reaching event, and each event reaches a new stage. */
    assert(deal->nowners < fn->nstages);
    fd_owner_t *owners = deal->owners;
    bool fresh = owners == NULL;
    char *rep = NULL, *team = NULL;
    if (fresh && (owners = calloc(fn->nstages, sizeof *owners)) == NULL) goto fail;
    if ((rep = strdup(owner->rep)) == NULL || (team = strdup(owner->team)) == NULL) goto fail;
    owners[deal->nowners].rep = rep;
    owners[deal->nowners].team = team;
    deal->owners = owners;
    *index = deal->nowners++;
    return FD_OK;
fail:
    free(team);
    free(rep);
    if (fresh) free(owners);
    return FD_ERR_NOMEM;
}

static fd_effect_t *push(fd_effect_t *out, size_t *n, fd_fx_kind_t kind, int stage, int64_t at_ms,
                         const fd_owner_t *owner) {
    assert(*n < FD_MAX_EFFECTS);
    fd_effect_t *fx = &out[(*n)++];
    fx->kind = kind;
    fx->stage = stage;
    fx->at_ms = at_ms;
    fx->owner = owner;
    fx->dwell_ms = -1;
    fx->amount_c = 0;
    fx->cycle_ms = -1;
    return fx;
}

/* The deal reaches target (> furthest) at at_ms by the owner at index oi. */
static void reach(const fd_funnel_t *fn, fd_deal_t *deal, int target, int64_t at_ms, int oi,
                  fd_effect_t *out, size_t *n) {
    const int last = (int)fn->nstages - 1;
    const int f = deal->furthest;
    const fd_owner_t *o = &deal->owners[oi];
    if (f >= 0) {
        const fd_reach_t *rf = &deal->reach[f];
        /* advanced:<f> belongs to the cohort that entered f: its windows and owner. */
        push(out, n, FD_FX_ADVANCE, f, rf->at_ms, &deal->owners[rf->owner]);
        fd_effect_t *mv = push(out, n, FD_FX_MOVE, f, at_ms, o);
        /* A back-filled stage was never really sat in, and a move dated before the entry
         * (out-of-order input) has no meaningful duration: neither has a dwell. (By the invariants
         * the furthest stage is never back-filled; the check states the rule anyway.) A difference
         * that would overflow int64 (absurd times) is left out too. */
        int64_t dwell;
        if (!(rf->flags & FD_REACH_BACKFILLED) && at_ms >= rf->at_ms &&
            !__builtin_sub_overflow(at_ms, rf->at_ms, &dwell))
            mv->dwell_ms = dwell;
    }
    for (int s = f + 1; s < target; s++) {
        push(out, n, FD_FX_ENTER, s, at_ms, o);
        push(out, n, FD_FX_ADVANCE, s, at_ms, o);
        push(out, n, FD_FX_MOVE, s, at_ms, o);
        deal->reach[s] = (fd_reach_t){at_ms, (uint8_t)oi, FD_REACH_REACHED | FD_REACH_BACKFILLED};
    }
    fd_effect_t *en = push(out, n, FD_FX_ENTER, target, at_ms, o);
    /* The amount of this event, if any, is already in deal->amount_c. */
    if (target == last) en->amount_c = deal->amount_c >= 0 ? deal->amount_c : 0;
    if (target == last && f >= 0) {
        /* Cycle time: from the deal's earliest stage reach (reaches may be out of order) to
         * won; a negative one (won dated before a reach) or one that overflows is left out. */
        int64_t first = deal->reach[0].at_ms, cycle;
        for (int s = 1; s <= f; s++)
            if (deal->reach[s].at_ms < first) first = deal->reach[s].at_ms;
        if (at_ms >= first && !__builtin_sub_overflow(at_ms, first, &cycle)) en->cycle_ms = cycle;
    }
    deal->reach[target] = (fd_reach_t){at_ms, (uint8_t)oi, FD_REACH_REACHED};
    deal->furthest = target;
}

/* The counter part of fd_funnel_apply (effects before the pipeline's). */
static fd_err_t apply_counters(const fd_funnel_t *fn, fd_deal_t *deal, fd_event_type_t type,
                               int stage, int64_t at_ms, const fd_owner_t *owner, int64_t amount_c,
                               fd_effect_t *out, size_t *n) {
    const int last = (int)fn->nstages - 1;
    int target;
    switch (type) {
    case FD_DEAL_CREATED:
        target = stage >= 0 ? stage : 0;
        break;
    case FD_DEAL_STAGE_CHANGED:
        target = stage;
        break;
    case FD_DEAL_WON:
        target = last;
        break;
    default: /* FD_DEAL_LOST, checked by the caller */
        if (amount_c >= 0) deal->amount_c = amount_c;
        /* Lost once per deal, and never once won. */
        if (deal->lost_stage >= 0 || deal->furthest == last) return FD_OK;
        deal->lost_stage = stage >= 0 ? stage : deal->furthest >= 0 ? deal->furthest : 0;
        /* The deal keeps no record of who lost it, so the effect points at the event's owner. */
        push(out, n, FD_FX_LOST, deal->lost_stage, at_ms, owner);
        return FD_OK;
    }

    if (target <= deal->furthest) { /* reached before: each (deal, stage) counts once */
        if (amount_c >= 0) deal->amount_c = amount_c;
        return FD_OK;
    }
    int oi;
    fd_err_t err = intern_owner(fn, deal, owner, &oi);
    if (err != FD_OK) return err;
    if (amount_c >= 0) deal->amount_c = amount_c; /* before the won amount is taken from it */
    reach(fn, deal, target, at_ms, oi, out, n);
    return FD_OK;
}

static bool same_owner(const fd_owner_t *a, const fd_owner_t *b) {
    return strcmp(a->rep, b->rep) == 0 && strcmp(a->team, b->team) == 0;
}

fd_err_t fd_funnel_apply(const fd_funnel_t *fn, fd_deal_t *deal, fd_event_type_t type, int stage,
                         int64_t at_ms, const fd_owner_t *owner, int64_t amount_c, fd_effect_t *out,
                         size_t *n) {
    *n = 0;
    const int last = (int)fn->nstages - 1;
    if (owner == NULL || owner->rep == NULL || owner->team == NULL || stage < -1 || stage > last)
        return FD_ERR_INVAL;
    if ((unsigned)type > FD_DEAL_LOST || (type == FD_DEAL_STAGE_CHANGED && stage < 0) ||
        (type == FD_DEAL_LOST && stage == last))
        return FD_ERR_INVAL;

    /* The pipeline contribution before the event. */
    int stage0 = -1;
    int64_t amount0 = 0;
    const fd_owner_t *holder0 = NULL;
    bool open0 = fd_deal_open(fn, deal, &stage0, &amount0, &holder0);

    /* A deal event dated at or after the latest one names the holder: copy it first, so that
     * a failed allocation leaves the deal unchanged. */
    bool latest = deal->holder.rep == NULL || at_ms >= deal->latest_ms;
    bool new_holder = latest && (deal->holder.rep == NULL || !same_owner(&deal->holder, owner));
    fd_owner_t h = {NULL, NULL};
    if (new_holder &&
        ((h.rep = strdup(owner->rep)) == NULL || (h.team = strdup(owner->team)) == NULL)) {
        free_holder(&h);
        return FD_ERR_NOMEM;
    }
    fd_err_t err = apply_counters(fn, deal, type, stage, at_ms, owner, amount_c, out, n);
    if (err != FD_OK) { /* only intern_owner fails, before any change */
        free_holder(&h);
        *n = 0;
        return err;
    }
    if (new_holder) {
        /* The old holder stays alive as prev_holder: the CLOSE below may point at it. */
        free_holder(&deal->prev_holder);
        deal->prev_holder = deal->holder;
        deal->holder = h;
        if (holder0 != NULL) holder0 = &deal->prev_holder;
    }
    if (latest) {
        deal->latest_ms = at_ms;
        deal->closed = type == FD_DEAL_LOST;
    }

    int stage1 = -1;
    int64_t amount1 = 0;
    const fd_owner_t *holder1 = NULL;
    bool open1 = fd_deal_open(fn, deal, &stage1, &amount1, &holder1);
    if (open0 && open1 && stage0 == stage1 && amount0 == amount1 && same_owner(holder0, holder1))
        return FD_OK; /* the contribution did not change */
    if (open0) push(out, n, FD_FX_CLOSE, stage0, at_ms, holder0)->amount_c = amount0;
    if (open1) push(out, n, FD_FX_OPEN, stage1, at_ms, holder1)->amount_c = amount1;
    return FD_OK;
}

/* ---- codec ----
 *
 * One line, fields separated by tabs (ids never contain control characters):
 *
 *   d2 <nstages> <furthest> <lost_stage> <amount_c> <nowners> {<rep> <team>}*nowners
 *      {<reach>}*(furthest+1) [<latest_ms> <closed> <holder rep> <holder team>]
 *
 * The last four (the pipeline's holder, docs/funnel.md) are there when the deal has a holder;
 * closed is 0 or 1. "d1", written before the pipeline existed, is the same without them: it
 * decodes as a deal without a holder.
 *
 * furthest, lost_stage and amount_c use -1 for "none". A reach is "b" for a back-filled stage
 * (time and owner are those of the next stage, see the invariants above), else "<time>:<owner>"
 * where time is the absolute epoch ms for the first such reach and the signed difference from the
 * previous one after that (short, and still exact with out-of-order times). Numbers are canonical
 * decimal: no '+', no leading zeros, no "-0". Example, lead then qualified a day later:
 *
 *   d2 5 1 -1 1250000 1 anna@corp.example emea 1763805600000:0 86400000:0 1763892000000 0
 *      anna@corp.example emea
 */

typedef struct {
    char *buf;
    size_t size, len;
} out_t;

static void put(out_t *o, const char *s, size_t len) {
    if (o->len < o->size) {
        size_t room = o->size - o->len - 1; /* keep one byte for the NUL */
        memcpy(o->buf + o->len, s, len < room ? len : room);
    }
    o->len += len;
}

static void put_str(out_t *o, const char *s) {
    put(o, s, strlen(s));
}

/* Canonical decimal of v at out (room for 20 bytes); its length. snprintf was most of the
 * codec's cost: every applied deal is encoded. */
static size_t fmt_i64(char *out, int64_t v) {
    char rev[20];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        rev[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) out[len++] = '-';
    while (n > 0)
        out[len++] = rev[--n];
    return len;
}

static void put_i64(out_t *o, int64_t v) {
    char tmp[24];
    tmp[0] = '\t';
    put(o, tmp, 1 + fmt_i64(tmp + 1, v));
}

size_t fd_deal_encode(const fd_funnel_t *fn, const fd_deal_t *deal, char *buf, size_t size) {
    out_t o = {buf, size, 0};
    put_str(&o, "d2");
    put_i64(&o, (int64_t)fn->nstages);
    put_i64(&o, deal->furthest);
    put_i64(&o, deal->lost_stage);
    put_i64(&o, deal->amount_c);
    put_i64(&o, deal->nowners);
    for (int i = 0; i < deal->nowners; i++) {
        put(&o, "\t", 1);
        put_str(&o, deal->owners[i].rep);
        put(&o, "\t", 1);
        put_str(&o, deal->owners[i].team);
    }
    bool first = true;
    int64_t prev = 0;
    for (int s = 0; s <= deal->furthest; s++) {
        const fd_reach_t *r = &deal->reach[s];
        assert(r->flags & FD_REACH_REACHED && r->owner < deal->nowners);
        if (r->flags & FD_REACH_BACKFILLED) {
            put(&o, "\tb", 2);
            continue;
        }
        /* Differences are taken modulo 2^64 (decode adds them back the same way), so any
         * pair of int64 times round-trips exactly even where the true difference overflows. */
        int64_t v = first ? r->at_ms : (int64_t)((uint64_t)r->at_ms - (uint64_t)prev);
        put_i64(&o, v);
        char tmp[24];
        tmp[0] = ':';
        put(&o, tmp, 1 + fmt_i64(tmp + 1, r->owner));
        prev = r->at_ms;
        first = false;
    }
    if (deal->holder.rep != NULL) {
        put_i64(&o, deal->latest_ms);
        put(&o, deal->closed ? "\t1" : "\t0", 2);
        put(&o, "\t", 1);
        put_str(&o, deal->holder.rep);
        put(&o, "\t", 1);
        put_str(&o, deal->holder.team);
    }
    if (size > 0) buf[o.len < size ? o.len : size - 1] = '\0';
    return o.len;
}

typedef struct {
    const char *p, *end;
    char *errstr;
    size_t errstr_size;
} in_t;

static fd_err_t bad(in_t *in, const char *fmt, const char *what) {
    snprintf(in->errstr, in->errstr_size, fmt, what);
    return FD_ERR_PARSE;
}

/* Next tab-separated field: [*tok, *tok + *len). Fails at the end of the input. */
static bool next_field(in_t *in, const char **tok, size_t *len) {
    if (in->p == NULL) return false;
    const char *tab = memchr(in->p, '\t', (size_t)(in->end - in->p));
    *tok = in->p;
    *len = (size_t)((tab != NULL ? tab : in->end) - in->p);
    in->p = tab != NULL ? tab + 1 : NULL; /* NULL: no field left */
    return true;
}

/* Canonical decimal: optional '-', digits without leading zeros, no "-0"; fits in int64. */
static bool parse_i64(const char *s, size_t len, int64_t *out) {
    size_t i = 0;
    bool neg = len > 0 && s[0] == '-';
    if (neg) i++;
    if (i == len || len - i > 19) return false;
    if (s[i] == '0' && (len - i > 1 || neg)) return false;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* <= 19 digits: no uint64 overflow */
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static fd_err_t field_i64(in_t *in, const char *what, int64_t min, int64_t max, int64_t *out) {
    const char *tok;
    size_t len;
    if (!next_field(in, &tok, &len)) return bad(in, "deal state: %s missing", what);
    if (!parse_i64(tok, len, out) || *out < min || *out > max) {
        snprintf(in->errstr, in->errstr_size,
                 "deal state: %s: expected an integer in %lld..%lld, got '%.*s'", what,
                 (long long)min, (long long)max, (int)(len > 32 ? 32 : len), tok);
        return FD_ERR_PARSE;
    }
    return FD_OK;
}

/* An id as events carry it: 1..FD_ID_MAX bytes without C0/C1 control characters. */
static bool valid_id(const char *s, size_t len) {
    if (len == 0 || len > FD_ID_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return false;
        if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f)
            return false; /* U+0080..U+009F */
    }
    return true;
}

static fd_err_t field_id(in_t *in, const char *what, char **out) {
    const char *tok;
    size_t len;
    if (!next_field(in, &tok, &len)) return bad(in, "deal state: %s missing", what);
    if (!valid_id(tok, len))
        return bad(in, "deal state: %s: expected 1..128 bytes without control characters", what);
    if ((*out = strndup(tok, len)) == NULL) return FD_ERR_NOMEM;
    return FD_OK;
}

fd_err_t fd_deal_decode(const fd_funnel_t *fn, const char *buf, size_t len, fd_deal_t *deal,
                        char *errstr, size_t errstr_size) {
    const int64_t last = (int64_t)fn->nstages - 1;
    in_t in = {buf, buf + len, errstr, errstr_size};
    fd_deal_t d;
    fd_deal_init(&d);
    fd_err_t err;
    int64_t v, nstages, furthest, lost, amount, nowners;
    const char *tok;
    size_t tlen;

    if (!next_field(&in, &tok, &tlen) || tlen != 2 ||
        (memcmp(tok, "d1", 2) != 0 && memcmp(tok, "d2", 2) != 0)) {
        err = bad(&in, "deal state: expected version '%s' first", "d1' or 'd2");
        goto fail;
    }
    const bool d2 = tok[1] == '2';
    if ((err = field_i64(&in, "stage count", 2, FD_MAX_STAGES, &nstages)) != FD_OK) goto fail;
    if (nstages != (int64_t)fn->nstages) {
        snprintf(errstr, errstr_size, "deal state: stored for %lld stages, the funnel has %zu",
                 (long long)nstages, fn->nstages);
        err = FD_ERR_PARSE;
        goto fail;
    }
    if ((err = field_i64(&in, "furthest stage", -1, last, &furthest)) != FD_OK ||
        (err = field_i64(&in, "lost stage", -1, last - 1, &lost)) != FD_OK ||
        (err = field_i64(&in, "amount", -1, INT64_MAX, &amount)) != FD_OK ||
        (err = field_i64(&in, "owner count", 0, furthest + 1, &nowners)) != FD_OK)
        goto fail;
    d.furthest = (int)furthest;
    d.lost_stage = (int)lost;
    d.amount_c = amount;
    if (nowners > 0 && (d.owners = calloc(fn->nstages, sizeof *d.owners)) == NULL) {
        err = FD_ERR_NOMEM;
        goto fail;
    }
    for (int i = 0; i < nowners; i++) {
        char *rep = NULL, *team = NULL;
        if ((err = field_id(&in, "owner rep", &rep)) != FD_OK ||
            (err = field_id(&in, "owner team", &team)) != FD_OK) {
            free(rep);
            goto fail;
        }
        d.owners[i] = (fd_owner_t){rep, team};
        d.nowners++;
        /* intern_owner never stores an owner twice. */
        int first_at;
        if (!find_owner(&d, &d.owners[i], &first_at) || first_at != (int)i) {
            err = bad(&in, "deal state: owner %s listed twice", rep);
            goto fail;
        }
    }

    bool first = true, used[FD_MAX_STAGES] = {false};
    int64_t prev = 0;
    for (int s = 0; s <= d.furthest; s++) {
        if (!next_field(&in, &tok, &tlen)) {
            err = bad(&in, "deal state: %s", "fewer stage reaches than furthest stage + 1");
            goto fail;
        }
        if (tlen == 1 && tok[0] == 'b') {
            if (s == d.furthest) {
                err = bad(&in, "deal state: %s", "the furthest stage cannot be back-filled");
                goto fail;
            }
            d.reach[s].flags = FD_REACH_REACHED | FD_REACH_BACKFILLED;
            continue; /* time and owner filled from the next stage below */
        }
        const char *colon = memchr(tok, ':', tlen);
        int64_t oi;
        if (colon == NULL || !parse_i64(tok, (size_t)(colon - tok), &v) ||
            !parse_i64(colon + 1, tlen - (size_t)(colon - tok) - 1, &oi) || oi < 0 ||
            oi >= nowners) {
            snprintf(errstr, errstr_size,
                     "deal state: reach of stage %d: expected 'b' or '<time>:<owner 0..%lld>', "
                     "got '%.*s'",
                     s, (long long)nowners - 1, (int)(tlen > 48 ? 48 : tlen), tok);
            err = FD_ERR_PARSE;
            goto fail;
        }
        prev = first ? v : (int64_t)((uint64_t)prev + (uint64_t)v); /* modulo 2^64, as encoded */
        first = false;
        d.reach[s] = (fd_reach_t){prev, (uint8_t)oi, FD_REACH_REACHED};
        used[oi] = true;
    }
    for (int s = d.furthest - 1; s >= 0; s--) /* a back-filled stage shares the next one's reach */
        if (d.reach[s].flags & FD_REACH_BACKFILLED) {
            d.reach[s].at_ms = d.reach[s + 1].at_ms;
            d.reach[s].owner = d.reach[s + 1].owner;
        }
    for (int i = 0; i < nowners; i++)
        if (!used[i]) {
            snprintf(errstr, errstr_size, "deal state: owner %d is not referenced by any reach", i);
            err = FD_ERR_PARSE;
            goto fail;
        }
    if (d2 && in.p != NULL) { /* the holder */
        int64_t closed;
        char *rep = NULL, *team = NULL;
        if ((err = field_i64(&in, "latest event time", INT64_MIN, INT64_MAX, &d.latest_ms)) !=
                FD_OK ||
            (err = field_i64(&in, "closed", 0, 1, &closed)) != FD_OK ||
            (err = field_id(&in, "holder rep", &rep)) != FD_OK ||
            (err = field_id(&in, "holder team", &team)) != FD_OK) {
            free(rep);
            goto fail;
        }
        d.holder = (fd_owner_t){rep, team};
        d.closed = closed == 1;
    }
    if (in.p != NULL) {
        err =
            bad(&in, "deal state: %s",
                d2 ? "trailing data after the holder" : "trailing data after the last stage reach");
        goto fail;
    }
    fd_deal_clear(deal);
    *deal = d;
    return FD_OK;
fail:
    if (err == FD_ERR_NOMEM) snprintf(errstr, errstr_size, "deal state: out of memory");
    fd_deal_clear(&d);
    return err;
}
