// SPDX-License-Identifier: MIT
// The funnel model: stages, activity kinds, the metric field layout, and the per-deal state
// machine (reach, back-fill, move, lost, won) with its compact text codec (layer 1, pure).
#ifndef FUNNELD_FUNNEL_H
#define FUNNELD_FUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define FD_MAX_STAGES 16
#define FD_MAX_KINDS  32
#define FD_NAME_MAX   64  /* longest stage or activity kind name, bytes */
#define FD_ID_MAX     128 /* longest id (event, rep, team, deal), bytes */

typedef struct fd_funnel fd_funnel_t;

/* Per-stage metric fields; field index = stage * FD_F_PER_STAGE + f. */
enum {
    FD_F_ENTERED = 0,
    FD_F_ADVANCED,
    FD_F_MOVED_ON,
    FD_F_LOST_AT,
    FD_F_DWELL_SUM_MS,
    FD_F_DWELL_COUNT,
    FD_F_OPEN,        /* the open pipeline (a stock, kept in the "all" window only): deals open
                       * at the stage now */
    FD_F_OPEN_AMOUNT, /* their amount, in hundredths; written as %.2f */
    FD_F_PER_STAGE
};

/* Scope-wide counters; field index = nstages * FD_F_PER_STAGE + g. */
enum {
    FD_G_WON = 0,
    FD_G_LOST,
    FD_G_WON_AMOUNT, /* in hundredths (cents); written as %.2f */
    FD_G_FEEDBACK_COUNT,
    FD_G_FEEDBACK_SUM, /* in hundredths; written as %.2f */
    FD_G_COMPLAINTS,
    FD_G_EVENTS,
    FD_G_CYCLE_SUM_MS, /* cycle time of the deals won: ms from first stage entry to won */
    FD_G_CYCLE_COUNT,  /* deals won with a cycle time */
    FD_G_OPEN,         /* the open pipeline over all stages ("all" window only) */
    FD_G_OPEN_AMOUNT,  /* its amount in hundredths; written as %.2f */
    FD_G_COUNT
};
/* Activity counters follow: field index = nstages * FD_F_PER_STAGE + FD_G_COUNT + kind. */

/* Builds a funnel from ordered stage names (the last is the won stage, at least 2) and activity
 * kinds (at least 1). Names are copied; they must be 1..FD_NAME_MAX bytes of [a-z0-9_-] and unique.
 * FD_ERR_CONFIG with errstr naming the bad entry otherwise. */
fd_err_t fd_funnel_new(const char *const *stages, size_t nstages, const char *const *kinds,
                       size_t nkinds, fd_funnel_t **out, char *errstr, size_t errstr_size);
void fd_funnel_destroy(fd_funnel_t *fn);

size_t fd_funnel_nstages(const fd_funnel_t *fn);
size_t fd_funnel_nkinds(const fd_funnel_t *fn);
const char *fd_funnel_stage_name(const fd_funnel_t *fn, int stage);
const char *fd_funnel_kind_name(const fd_funnel_t *fn, int kind);
/* Whether the len bytes at name (not NUL-terminated) name a stage / kind; *index gets its index
 * when they do, and is untouched otherwise. */
bool fd_funnel_stage_index(const fd_funnel_t *fn, const char *name, size_t len, int *index);
bool fd_funnel_kind_index(const fd_funnel_t *fn, const char *name, size_t len, int *index);

/* Number of metric fields and the Redis field name of each ("entered:proposal", "won_amount",
 * "activity:visit"). fd_funnel_field_hundredths is true for amounts kept in hundredths. */
size_t fd_funnel_nfields(const fd_funnel_t *fn);
const char *fd_funnel_field_name(const fd_funnel_t *fn, size_t field);
bool fd_funnel_field_hundredths(const fd_funnel_t *fn, size_t field);
size_t fd_funnel_field_stage(const fd_funnel_t *fn, int stage, int f);
size_t fd_funnel_field_global(const fd_funnel_t *fn, int g);
size_t fd_funnel_field_kind(const fd_funnel_t *fn, int kind);

/* Who reached a stage: rep and team ids, NUL-terminated, never NULL. In a deal both strings are
 * separate heap copies owned by the deal (freed by fd_deal_clear); in an event they point into
 * the event. */
typedef struct {
    const char *rep;
    const char *team;
} fd_owner_t;

#define FD_REACH_REACHED    0x1u
#define FD_REACH_BACKFILLED 0x2u

typedef struct {
    int64_t at_ms; /* event time of the reach */
    uint8_t owner; /* index into fd_deal_t.owners */
    uint8_t flags; /* FD_REACH_* */
} fd_reach_t;

/* Per-deal state. A value struct: fd_deal_init / fd_deal_clear; owners is heap-owned.
 * Invariants: reach[s] has FD_REACH_REACHED exactly for s <= furthest; a back-filled stage has
 * the time and owner of the next stage (one event reached both) and the furthest stage is never
 * back-filled; every owner is referenced by a reach and listed once. */
typedef struct {
    int furthest;     /* furthest stage reached, -1 for none */
    int lost_stage;   /* stage it was lost at, -1 if never lost (stays set if later won) */
    int64_t amount_c; /* last amount seen in hundredths, -1 for none */
    fd_reach_t reach[FD_MAX_STAGES];
    fd_owner_t *owners; /* distinct owners of reaches, NULL until the first reach; allocated
                         * once with room for nstages entries (each reaching event adds at most
                         * one and reaches a new stage) and never moved, so pointers to entries
                         * stay valid until fd_deal_clear */
    uint8_t nowners;
    /* The open pipeline (docs/funnel.md): the holder is the owner of the deal's latest deal
     * event by event time (latest_ms; a tie goes to the event applied later), closed whether
     * that event was a deal.lost. holder.rep NULL: no holder yet (a new deal, or a state
     * decoded from "d1", written before the pipeline existed): the deal contributes nothing to
     * the pipeline until its next event. holder and prev_holder are heap copies owned by the
     * deal; prev_holder is the holder before the last apply that changed it, kept alive (until
     * the next such apply or fd_deal_clear) so that that apply's FD_FX_CLOSE may point at it. */
    fd_owner_t holder, prev_holder;
    int64_t latest_ms; /* meaningful only with a holder */
    bool closed;
} fd_deal_t;

/* Empty state: nothing reached, never lost, no amount, no owners. */
void fd_deal_init(fd_deal_t *deal);
/* Frees the owners and re-initialises deal; NULL does nothing. */
void fd_deal_clear(fd_deal_t *deal);

/* Whether deal counts in the open pipeline now: it has a holder, reached a stage, is not won
 * and not closed lost. Then *stage is its furthest stage, *amount_c its last amount (0 when
 * none) and *holder points at deal->holder (valid until the deal's next apply). */
bool fd_deal_open(const fd_funnel_t *fn, const fd_deal_t *deal, int *stage, int64_t *amount_c,
                  const fd_owner_t **holder);

/* Encodes deal as one line of text into buf (tab-separated, versioned "d2"; format in
 * docs/funnel.md and src/funnel.c); returns the length it needs, excluding the NUL, like
 * snprintf: the output is truncated (and NUL-terminated when size > 0) if it does not fit. Ids
 * contain no control characters, so tabs are safe. */
size_t fd_deal_encode(const fd_funnel_t *fn, const fd_deal_t *deal, char *buf, size_t size);
/* Decodes len bytes of fd_deal_encode output into an initialised deal (replacing its content).
 * "d1" (before the pipeline) still decodes, as a deal without a holder. FD_ERR_PARSE with errstr
 * when the text is not a valid encoding for this funnel (version, stage count, numbers, ids, owner
 * indexes, reaches vs furthest, trailing data); FD_ERR_NOMEM. On error deal is unchanged. */
fd_err_t fd_deal_decode(const fd_funnel_t *fn, const char *buf, size_t len, fd_deal_t *deal,
                        char *errstr, size_t errstr_size);

/* What a deal event changed; the batch turns each effect into counter deltas. */
typedef enum {
    FD_FX_ENTER,   /* stage reached: entered:<s> (and won, won_amount on the last stage) */
    FD_FX_ADVANCE, /* a deal counted in entered:<s> reached a later stage: advanced:<s> */
    FD_FX_MOVE,    /* the deal left <s> for a later stage: moved_on:<s>, dwell when dwell_ms >= 0 */
    FD_FX_LOST,    /* the deal was lost at <s>: lost_at:<s> and lost */
    FD_FX_OPEN,    /* the open pipeline gains the deal at <s>: open:<s> +1, open_amount:<s>
                    * +amount_c (and the totals), in the "all" hashes of owner; at_ms unused */
    FD_FX_CLOSE    /* the open pipeline loses the deal at <s>: the same, subtracted */
} fd_fx_kind_t;

typedef struct {
    fd_fx_kind_t kind;
    int stage;
    int64_t at_ms;           /* time whose windows the effect counts in */
    const fd_owner_t *owner; /* whose scopes it counts in: a deal copy (FD_FX_LOST: the event's
                              * owner argument, as the deal does not keep who lost it; FD_FX_OPEN
                              * and FD_FX_CLOSE: the deal's holder or prev_holder) */
    int64_t dwell_ms;        /* FD_FX_MOVE: time spent in stage, -1 when none (else always -1) */
    int64_t amount_c;        /* FD_FX_ENTER of the last stage: won amount in hundredths (>= 0);
                              * FD_FX_OPEN / FD_FX_CLOSE: the deal's amount (>= 0); else 0 */
    int64_t cycle_ms;        /* FD_FX_ENTER of the last stage by a deal that had reached a stage
                              * before: won time - its earliest stage reach, when >= 0; else -1 */
} fd_effect_t;

/* Worst case number of effects of one event: ENTER+ADVANCE+MOVE per stage, plus one, plus a
 * pipeline CLOSE and OPEN. */
#define FD_MAX_EFFECTS (3 * FD_MAX_STAGES + 4)

typedef enum {
    FD_DEAL_CREATED = 0,
    FD_DEAL_STAGE_CHANGED,
    FD_DEAL_WON,
    FD_DEAL_LOST,
    FD_ACTIVITY_LOGGED,
    FD_FEEDBACK_RECEIVED,
    FD_EVENT_TYPE_COUNT
} fd_event_type_t;

/* Applies one deal event to deal and writes its effects to out (room for FD_MAX_EFFECTS), their
 * number to *n. type is a deal.* type; stage is the event's stage or -1 when absent; amount_c is
 * the event's amount in hundredths or -1. Owner pointers in the effects stay valid until the
 * deal's next apply or fd_deal_clear (and owner, for FD_FX_LOST). Effects of a reach, in order:
 * ADVANCE(f) and MOVE(f) for the previous furthest stage f, ENTER/ADVANCE/MOVE for each skipped
 * stage, ENTER(target). Last, when the deal's pipeline contribution changed (holder, stage,
 * amount, open or not): FD_FX_CLOSE of the contribution before, FD_FX_OPEN of the one after.
 * FD_ERR_NOMEM when copying the owner failed: deal is then unchanged and *n is 0. FD_ERR_INVAL
 * (deal unchanged) for a type that is not deal.*, a stage out of range, deal.stage_changed
 * without a stage or deal.lost at the last stage. Semantics: docs/funnel.md. */
fd_err_t fd_funnel_apply(const fd_funnel_t *fn, fd_deal_t *deal, fd_event_type_t type, int stage,
                         int64_t at_ms, const fd_owner_t *owner, int64_t amount_c, fd_effect_t *out,
                         size_t *n);

#endif
