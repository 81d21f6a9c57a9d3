// SPDX-License-Identifier: MIT
// Unit tests of the per-deal funnel state machine (reach, back-fill, move, lost, won) and of its
// deal-state codec; expected effects and encodings are written out by hand from docs/funnel.md.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model/funnel.h"

enum { LEAD, QUALIFIED, PROPOSAL, NEGOTIATION, WON };

#define T0   INT64_C(1763805600000) /* 2025-11-22T10:00:00Z */
#define HOUR INT64_C(3600000)
#define DAY  (24 * HOUR)

static const fd_owner_t A = {"anna@corp.example", "emea"};
static const fd_owner_t B = {"张伟", "华东"};

/* One expected effect. */
typedef struct {
    fd_fx_kind_t kind;
    int stage;
    int64_t at_ms;
    const fd_owner_t *owner;
    int64_t dwell_ms;
    int64_t amount_c;
} want_t;

#define ENTER(s, t, o)                                                                             \
    { FD_FX_ENTER, (s), (t), &(o), -1, 0 }
#define ENTER_WON(t, o, amount)                                                                    \
    { FD_FX_ENTER, WON, (t), &(o), -1, (amount) }
#define ADVANCE(s, t, o)                                                                           \
    { FD_FX_ADVANCE, (s), (t), &(o), -1, 0 }
#define MOVE(s, t, o, dwell)                                                                       \
    { FD_FX_MOVE, (s), (t), &(o), (dwell), 0 }
#define LOST(s, t, o)                                                                              \
    { FD_FX_LOST, (s), (t), &(o), -1, 0 }

static const char *const kind_names[] = {"ENTER", "ADVANCE", "MOVE", "LOST", "OPEN", "CLOSE"};

typedef struct {
    fd_funnel_t *fn;
    fd_deal_t deal;
    fd_effect_t fx[FD_MAX_EFFECTS];
    size_t n;
} fixture_t;

static int setup(void **state) {
    static const char *const stages[] = {"lead", "qualified", "proposal", "negotiation", "won"};
    static const char *const kinds[] = {"call", "visit"};
    fixture_t *fx = test_calloc(1, sizeof *fx);
    char err[128];
    assert_int_equal(fd_funnel_new(stages, 5, kinds, 2, &fx->fn, err, sizeof err), FD_OK);
    fd_deal_init(&fx->deal);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture_t *fx = *state;
    fd_deal_clear(&fx->deal);
    fd_funnel_destroy(fx->fn);
    test_free(fx);
    return 0;
}

/* Applies one event to the fixture's deal; the effects land in fx->fx / fx->n. */
static void apply(fixture_t *fx, fd_event_type_t type, int stage, int64_t at_ms,
                  const fd_owner_t *owner, int64_t amount_c) {
    assert_int_equal(
        fd_funnel_apply(fx->fn, &fx->deal, type, stage, at_ms, owner, amount_c, fx->fx, &fx->n),
        FD_OK);
}

static bool owner_in_deal(const fd_deal_t *deal, const fd_owner_t *o) {
    return deal->owners != NULL && o >= deal->owners && o < deal->owners + deal->nowners;
}

static bool is_pipeline(const fd_effect_t *x) {
    return x->kind == FD_FX_OPEN || x->kind == FD_FX_CLOSE;
}

/* The counter effects (the pipeline's FD_FX_OPEN / FD_FX_CLOSE, which come last, are checked by
 * EXPECT_PIPE). */
static void expect_effects(const fixture_t *fx, const want_t *want, size_t nwant) {
    size_t n = 0;
    while (n < fx->n && !is_pipeline(&fx->fx[n]))
        n++;
    for (size_t i = n; i < fx->n; i++)
        assert_true(is_pipeline(&fx->fx[i]));
    for (size_t i = 0; i < n && i < nwant; i++) {
        const fd_effect_t *g = &fx->fx[i];
        const want_t *w = &want[i];
        bool same = g->kind == w->kind && g->stage == w->stage && g->at_ms == w->at_ms &&
                    strcmp(g->owner->rep, w->owner->rep) == 0 &&
                    strcmp(g->owner->team, w->owner->team) == 0 && g->dwell_ms == w->dwell_ms &&
                    g->amount_c == w->amount_c;
        if (!same)
            fail_msg("effect %zu: got %s(%d) at %lld by %s/%s dwell %lld amount %lld, "
                     "want %s(%d) at %lld by %s/%s dwell %lld amount %lld",
                     i, kind_names[g->kind], g->stage, (long long)g->at_ms, g->owner->rep,
                     g->owner->team, (long long)g->dwell_ms, (long long)g->amount_c,
                     kind_names[w->kind], w->stage, (long long)w->at_ms, w->owner->rep,
                     w->owner->team, (long long)w->dwell_ms, (long long)w->amount_c);
        /* Effects of a reach point at the deal's copies, which outlive the event. */
        if (g->kind != FD_FX_LOST) assert_true(owner_in_deal(&fx->deal, g->owner));
    }
    assert_int_equal(n, nwant);
}

#define EXPECT(fx, ...)                                                                            \
    do {                                                                                           \
        const want_t want_[] = {__VA_ARGS__};                                                      \
        expect_effects((fx), want_, sizeof want_ / sizeof want_[0]);                               \
    } while (0)

static void expect_reach(const fd_deal_t *deal, int s, int64_t at_ms, const fd_owner_t *o,
                         unsigned flags) {
    assert_int_equal(deal->reach[s].at_ms, at_ms);
    assert_int_equal(deal->reach[s].flags, flags);
    assert_true(deal->reach[s].owner < deal->nowners);
    assert_string_equal(deal->owners[deal->reach[s].owner].rep, o->rep);
    assert_string_equal(deal->owners[deal->reach[s].owner].team, o->team);
}

#define REACHED    FD_REACH_REACHED
#define BACKFILLED (FD_REACH_REACHED | FD_REACH_BACKFILLED)

/* ---- state machine ---- */

static void test_funnel_create_enters_lead(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    EXPECT(fx, ENTER(LEAD, T0, A));
    assert_int_equal(fx->deal.furthest, LEAD);
    assert_int_equal(fx->deal.lost_stage, -1);
    assert_int_equal(fx->deal.amount_c, -1);
    assert_int_equal(fx->deal.nowners, 1);
    expect_reach(&fx->deal, LEAD, T0, &A, REACHED);
}

static void test_funnel_create_at_later_stage_backfills_earlier_stages(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, PROPOSAL, T0, &A, 250000);
    EXPECT(fx, ENTER(LEAD, T0, A), ADVANCE(LEAD, T0, A), MOVE(LEAD, T0, A, -1),
           ENTER(QUALIFIED, T0, A), ADVANCE(QUALIFIED, T0, A), MOVE(QUALIFIED, T0, A, -1),
           ENTER(PROPOSAL, T0, A));
    assert_int_equal(fx->deal.furthest, PROPOSAL);
    assert_int_equal(fx->deal.amount_c, 250000);
    expect_reach(&fx->deal, LEAD, T0, &A, BACKFILLED);
    expect_reach(&fx->deal, QUALIFIED, T0, &A, BACKFILLED);
    expect_reach(&fx->deal, PROPOSAL, T0, &A, REACHED);
}

static void test_funnel_stage_change_forward_moves_with_dwell(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0 + 5 * HOUR, &A, -1);
    /* advanced:lead goes to the windows of the lead entry (T0), moved_on:lead to the move's. */
    EXPECT(fx, ADVANCE(LEAD, T0, A), MOVE(LEAD, T0 + 5 * HOUR, A, 5 * HOUR),
           ENTER(QUALIFIED, T0 + 5 * HOUR, A));
    assert_int_equal(fx->deal.nowners, 1); /* the same owner is reused */
}

static void test_funnel_skip_target_has_dwell_skipped_stages_none(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0, &A, -1); /* lead back-filled */
    apply(fx, FD_DEAL_STAGE_CHANGED, NEGOTIATION, T0 + HOUR, &A, -1);
    /* Qualified was really entered at T0: it has a dwell; proposal is skipped: none. */
    EXPECT(fx, ADVANCE(QUALIFIED, T0, A), MOVE(QUALIFIED, T0 + HOUR, A, HOUR),
           ENTER(PROPOSAL, T0 + HOUR, A), ADVANCE(PROPOSAL, T0 + HOUR, A),
           MOVE(PROPOSAL, T0 + HOUR, A, -1), ENTER(NEGOTIATION, T0 + HOUR, A));
}

static void test_funnel_back_and_forth_counts_nothing_again(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    apply(fx, FD_DEAL_STAGE_CHANGED, PROPOSAL, T0 + DAY, &A, -1);
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0 + 2 * DAY, &A, -1);
    EXPECT(fx, );
    apply(fx, FD_DEAL_STAGE_CHANGED, PROPOSAL, T0 + 3 * DAY, &A, -1);
    EXPECT(fx, );
    apply(fx, FD_DEAL_STAGE_CHANGED, LEAD, T0 + 4 * DAY, &B, -1);
    EXPECT(fx, );
    assert_int_equal(fx->deal.furthest, PROPOSAL);
    expect_reach(&fx->deal, PROPOSAL, T0 + DAY, &A, REACHED);
    assert_int_equal(fx->deal.nowners, 1); /* no owner copied for an event that reached nothing */
    /* Moving on later, the dwell in proposal runs from its first (only) reach. */
    apply(fx, FD_DEAL_STAGE_CHANGED, NEGOTIATION, T0 + 5 * DAY, &A, -1);
    EXPECT(fx, ADVANCE(PROPOSAL, T0 + DAY, A), MOVE(PROPOSAL, T0 + 5 * DAY, A, 4 * DAY),
           ENTER(NEGOTIATION, T0 + 5 * DAY, A));
}

static void test_funnel_late_create_after_deal_is_further_counts_nothing(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0 + DAY, &A, -1);
    apply(fx, FD_DEAL_CREATED, -1, T0, &B, -1);
    EXPECT(fx, );
    assert_int_equal(fx->deal.furthest, QUALIFIED);
    expect_reach(&fx->deal, LEAD, T0 + DAY, &A, BACKFILLED);
    expect_reach(&fx->deal, QUALIFIED, T0 + DAY, &A, REACHED);
    assert_int_equal(fx->deal.nowners, 1);
}

static void test_funnel_won_from_lead_backfills_all_with_last_amount(void **state) {
    fixture_t *fx = *state;
    const int64_t t1 = T0 + 3 * DAY;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, 100000);
    apply(fx, FD_DEAL_WON, -1, t1, &A, -1);
    EXPECT(fx, ADVANCE(LEAD, T0, A), MOVE(LEAD, t1, A, 3 * DAY), ENTER(QUALIFIED, t1, A),
           ADVANCE(QUALIFIED, t1, A), MOVE(QUALIFIED, t1, A, -1), ENTER(PROPOSAL, t1, A),
           ADVANCE(PROPOSAL, t1, A), MOVE(PROPOSAL, t1, A, -1), ENTER(NEGOTIATION, t1, A),
           ADVANCE(NEGOTIATION, t1, A), MOVE(NEGOTIATION, t1, A, -1), ENTER_WON(t1, A, 100000));
    assert_int_equal(fx->deal.furthest, WON);
    expect_reach(&fx->deal, WON, t1, &A, REACHED);
    expect_reach(&fx->deal, NEGOTIATION, t1, &A, BACKFILLED);
}

static void test_funnel_won_amount_from_event_beats_last_amount(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, NEGOTIATION, T0, &A, 50000);
    apply(fx, FD_DEAL_WON, -1, T0 + HOUR, &A, 75050);
    EXPECT(fx, ADVANCE(NEGOTIATION, T0, A), MOVE(NEGOTIATION, T0 + HOUR, A, HOUR),
           ENTER_WON(T0 + HOUR, A, 75050));
    assert_int_equal(fx->deal.amount_c, 75050);
}

static void test_funnel_won_without_any_amount_counts_zero(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_WON, -1, T0, &B, -1);
    EXPECT(fx, ENTER(LEAD, T0, B), ADVANCE(LEAD, T0, B), MOVE(LEAD, T0, B, -1),
           ENTER(QUALIFIED, T0, B), ADVANCE(QUALIFIED, T0, B), MOVE(QUALIFIED, T0, B, -1),
           ENTER(PROPOSAL, T0, B), ADVANCE(PROPOSAL, T0, B), MOVE(PROPOSAL, T0, B, -1),
           ENTER(NEGOTIATION, T0, B), ADVANCE(NEGOTIATION, T0, B), MOVE(NEGOTIATION, T0, B, -1),
           ENTER_WON(T0, B, 0));
    assert_int_equal(fx->deal.amount_c, -1);
}

static void test_funnel_amount_of_event_that_changes_nothing_is_remembered(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, PROPOSAL, T0, &A, 10000);
    apply(fx, FD_DEAL_STAGE_CHANGED, LEAD, T0 + HOUR, &A, 20000); /* backwards: no effect */
    EXPECT(fx, );
    assert_int_equal(fx->deal.amount_c, 20000);
    apply(fx, FD_DEAL_WON, -1, T0 + DAY, &A, -1);
    assert_int_equal(fx->fx[fx->n - 1].amount_c, 20000);
}

static void test_funnel_out_of_order_move_has_no_dwell(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0 + DAY, &A, -1);
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0, &A, -1); /* dated before the create */
    EXPECT(fx, ADVANCE(LEAD, T0 + DAY, A), MOVE(LEAD, T0, A, -1), ENTER(QUALIFIED, T0, A));
}

static void test_funnel_move_at_entry_time_has_zero_dwell(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0, &A, -1);
    EXPECT(fx, ADVANCE(LEAD, T0, A), MOVE(LEAD, T0, A, 0), ENTER(QUALIFIED, T0, A));
}

static void test_funnel_owner_change_splits_attribution(void **state) {
    fixture_t *fx = *state;
    const int64_t t1 = T0 + 2 * DAY;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    apply(fx, FD_DEAL_STAGE_CHANGED, PROPOSAL, t1, &B, -1);
    /* The lead cohort is A's (at A's time); the move and what it reaches are B's. */
    EXPECT(fx, ADVANCE(LEAD, T0, A), MOVE(LEAD, t1, B, 2 * DAY), ENTER(QUALIFIED, t1, B),
           ADVANCE(QUALIFIED, t1, B), MOVE(QUALIFIED, t1, B, -1), ENTER(PROPOSAL, t1, B));
    assert_int_equal(fx->deal.nowners, 2);
    expect_reach(&fx->deal, LEAD, T0, &A, REACHED);
    expect_reach(&fx->deal, QUALIFIED, t1, &B, BACKFILLED);
    /* The owner array never moves: earlier effects' pointers stay valid. */
    const fd_owner_t *owners = fx->deal.owners;
    apply(fx, FD_DEAL_STAGE_CHANGED, NEGOTIATION, t1 + HOUR, &A, -1);
    apply(fx, FD_DEAL_WON, -1, t1 + 2 * HOUR, &B, -1);
    assert_ptr_equal(fx->deal.owners, owners);
    assert_int_equal(fx->deal.nowners, 2);
}

static void test_funnel_same_rep_other_team_is_another_owner(void **state) {
    fixture_t *fx = *state;
    const fd_owner_t a2 = {A.rep, "apac"};
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0 + HOUR, &a2, -1);
    EXPECT(fx, ADVANCE(LEAD, T0, A), MOVE(LEAD, T0 + HOUR, a2, HOUR),
           ENTER(QUALIFIED, T0 + HOUR, a2));
    assert_int_equal(fx->deal.nowners, 2);
}

static void test_funnel_lost_at_current_stage(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0 + HOUR, &A, -1);
    apply(fx, FD_DEAL_LOST, -1, T0 + DAY, &B, -1);
    EXPECT(fx, LOST(QUALIFIED, T0 + DAY, B));
    assert_ptr_equal(fx->fx[0].owner, &B); /* the event's owner: the deal keeps no loser */
    assert_int_equal(fx->deal.lost_stage, QUALIFIED);
    assert_int_equal(fx->deal.furthest, QUALIFIED);
    assert_int_equal(fx->deal.nowners, 1);
}

static void test_funnel_lost_at_given_stage(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, PROPOSAL, T0, &A, -1);
    apply(fx, FD_DEAL_LOST, LEAD, T0 + DAY, &A, 30000);
    EXPECT(fx, LOST(LEAD, T0 + DAY, A));
    assert_int_equal(fx->deal.lost_stage, LEAD);
    assert_int_equal(fx->deal.furthest, PROPOSAL);
    assert_int_equal(fx->deal.amount_c, 30000);
}

static void test_funnel_lost_twice_counts_once(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    apply(fx, FD_DEAL_LOST, -1, T0 + HOUR, &A, -1);
    EXPECT(fx, LOST(LEAD, T0 + HOUR, A));
    apply(fx, FD_DEAL_LOST, QUALIFIED, T0 + 2 * HOUR, &A, -1);
    EXPECT(fx, );
    assert_int_equal(fx->deal.lost_stage, LEAD);
}

static void test_funnel_lost_after_won_is_ignored(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_WON, -1, T0, &A, -1);
    apply(fx, FD_DEAL_LOST, -1, T0 + HOUR, &A, -1);
    EXPECT(fx, );
    assert_int_equal(fx->deal.lost_stage, -1);
}

static void test_funnel_lost_then_won_keeps_lost_and_counts_won(void **state) {
    fixture_t *fx = *state;
    const int64_t tl = T0 + DAY, tw = T0 + 3 * DAY;
    apply(fx, FD_DEAL_CREATED, QUALIFIED, T0, &A, 90000);
    apply(fx, FD_DEAL_LOST, -1, tl, &A, -1);
    EXPECT(fx, LOST(QUALIFIED, tl, A));
    apply(fx, FD_DEAL_WON, -1, tw, &B, -1);
    /* The deal leaves qualified (where it was lost) for won: dwell runs from the entry. */
    EXPECT(fx, ADVANCE(QUALIFIED, T0, A), MOVE(QUALIFIED, tw, B, 3 * DAY), ENTER(PROPOSAL, tw, B),
           ADVANCE(PROPOSAL, tw, B), MOVE(PROPOSAL, tw, B, -1), ENTER(NEGOTIATION, tw, B),
           ADVANCE(NEGOTIATION, tw, B), MOVE(NEGOTIATION, tw, B, -1), ENTER_WON(tw, B, 90000));
    assert_int_equal(fx->deal.lost_stage, QUALIFIED);
    assert_int_equal(fx->deal.furthest, WON);
    apply(fx, FD_DEAL_LOST, -1, tw + DAY, &A, -1);
    EXPECT(fx, );
}

static void test_funnel_unknown_deal_lost_without_stage_counts_at_first_stage(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_LOST, -1, T0, &A, -1);
    EXPECT(fx, LOST(LEAD, T0, A));
    assert_int_equal(fx->deal.lost_stage, LEAD);
    assert_int_equal(fx->deal.furthest, -1); /* lost without entering */
    assert_null(fx->deal.owners);
    /* Created afterwards (late create), it still enters lead. */
    apply(fx, FD_DEAL_CREATED, -1, T0 - HOUR, &A, -1);
    EXPECT(fx, ENTER(LEAD, T0 - HOUR, A));
}

static void test_funnel_invalid_arguments_leave_deal_unchanged(void **state) {
    fixture_t *fx = *state;
    static const struct {
        fd_event_type_t type;
        int stage;
    } bad[] = {
        {FD_DEAL_STAGE_CHANGED, -1},                           /* stage required */
        {FD_DEAL_LOST, WON},                                   /* cannot be lost at the won stage */
        {FD_DEAL_CREATED, 5},                                  /* out of range */
        {FD_DEAL_CREATED, -2},       {FD_ACTIVITY_LOGGED, -1}, /* not a deal event */
        {FD_FEEDBACK_RECEIVED, -1},
    };
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, 100);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fx->n = 99;
        assert_int_equal(fd_funnel_apply(fx->fn, &fx->deal, bad[i].type, bad[i].stage, T0 + 1, &B,
                                         200, fx->fx, &fx->n),
                         FD_ERR_INVAL);
        assert_int_equal(fx->n, 0);
        assert_int_equal(fx->deal.furthest, LEAD);
        assert_int_equal(fx->deal.lost_stage, -1);
        assert_int_equal(fx->deal.amount_c, 100);
        assert_int_equal(fx->deal.nowners, 1);
    }
}

/* ---- codec ---- */

static void expect_same_deal(const fd_deal_t *a, const fd_deal_t *b) {
    assert_int_equal(a->furthest, b->furthest);
    assert_int_equal(a->lost_stage, b->lost_stage);
    assert_int_equal(a->amount_c, b->amount_c);
    assert_int_equal(a->nowners, b->nowners);
    for (int i = 0; i < a->nowners; i++) {
        assert_string_equal(a->owners[i].rep, b->owners[i].rep);
        assert_string_equal(a->owners[i].team, b->owners[i].team);
    }
    assert_int_equal(a->holder.rep != NULL, b->holder.rep != NULL);
    if (a->holder.rep != NULL) {
        assert_string_equal(a->holder.rep, b->holder.rep);
        assert_string_equal(a->holder.team, b->holder.team);
        assert_int_equal(a->latest_ms, b->latest_ms);
        assert_int_equal(a->closed, b->closed);
    }
    for (int s = 0; s < FD_MAX_STAGES; s++) {
        assert_int_equal(a->reach[s].at_ms, b->reach[s].at_ms);
        assert_int_equal(a->reach[s].owner, b->reach[s].owner);
        assert_int_equal(a->reach[s].flags, b->reach[s].flags);
    }
}

/* Encodes deal, checks the text is want (when not NULL), decodes it into a fresh deal and checks
 * the result equals deal and re-encodes to the same text. */
static void round_trip(const fd_funnel_t *fn, const fd_deal_t *deal, const char *want) {
    char buf[4096], again[4096], err[256] = "";
    size_t len = fd_deal_encode(fn, deal, buf, sizeof buf);
    assert_true(len < sizeof buf);
    assert_int_equal(strlen(buf), len);
    if (want != NULL) assert_string_equal(buf, want);
    fd_deal_t back;
    fd_deal_init(&back);
    fd_err_t rc = fd_deal_decode(fn, buf, len, &back, err, sizeof err);
    if (rc != FD_OK) fail_msg("decode of '%s' failed: %s", buf, err);
    expect_same_deal(deal, &back);
    assert_int_equal(fd_deal_encode(fn, &back, again, sizeof again), len);
    assert_string_equal(again, buf);
    fd_deal_clear(&back);
}

static void test_funnel_codec_round_trips_empty_deal(void **state) {
    fixture_t *fx = *state;
    round_trip(fx->fn, &fx->deal, "d2\t5\t-1\t-1\t-1\t0");
}

static void test_funnel_codec_round_trips_lost_unknown_deal(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_LOST, -1, T0, &A, 1);
    round_trip(fx->fn, &fx->deal, "d2\t5\t-1\t0\t1\t0\t1763805600000\t1\tanna@corp.example\temea");
}

static void test_funnel_codec_round_trips_typical_deal(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, 1250000);
    apply(fx, FD_DEAL_STAGE_CHANGED, PROPOSAL, T0 + DAY, &A, -1);
    round_trip(fx->fn, &fx->deal,
               "d2\t5\t2\t-1\t1250000\t1\tanna@corp.example\temea\t1763805600000:0\tb"
               "\t86400000:0\t1763892000000\t0\tanna@corp.example\temea");
}

static void test_funnel_codec_round_trips_out_of_order_times(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0 + DAY, &A, -1);
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0, &B, -1); /* a day earlier */
    apply(fx, FD_DEAL_LOST, -1, T0 + 2 * DAY, &A, -1);
    round_trip(fx->fn, &fx->deal,
               "d2\t5\t1\t1\t-1\t2\tanna@corp.example\temea\t张伟\t华东\t1763892000000:0"
               "\t-86400000:1\t1763978400000\t1\tanna@corp.example\temea");
}

static void test_funnel_codec_round_trips_extreme_times(void **state) {
    fixture_t *fx = *state;
    /* Differences that overflow int64 still come back exactly (modulo 2^64 both ways). */
    apply(fx, FD_DEAL_CREATED, -1, INT64_MAX, &A, INT64_MAX);
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, INT64_MIN, &A, -1);
    round_trip(fx->fn, &fx->deal,
               "d2\t5\t1\t-1\t9223372036854775807\t1\tanna@corp.example\temea"
               "\t9223372036854775807:0\t1:0\t9223372036854775807\t0\tanna@corp.example\temea");
    /* A dwell that would overflow int64 is left out rather than wrapped. */
    apply(fx, FD_DEAL_STAGE_CHANGED, PROPOSAL, INT64_MAX, &A, -1);
    assert_int_equal(fx->fx[1].kind, FD_FX_MOVE);
    assert_int_equal(fx->fx[1].dwell_ms, -1);
    round_trip(fx->fn, &fx->deal, NULL);
}

static void test_funnel_codec_round_trips_most_negative_time(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, INT64_MIN, &A, 1);
    round_trip(fx->fn, &fx->deal,
               "d2\t5\t0\t-1\t1\t1\tanna@corp.example\temea\t-9223372036854775808:0"
               "\t-9223372036854775808\t0\tanna@corp.example\temea");
}

static void test_funnel_codec_round_trips_sixteen_stages_several_owners(void **state) {
    (void)state;
    const char *stages[16];
    char names[16][8];
    for (int i = 0; i < 16; i++) {
        snprintf(names[i], sizeof names[i], "s%02d", i);
        stages[i] = names[i];
    }
    static const char *const kinds[] = {"call"};
    fd_funnel_t *fn;
    char err[128];
    assert_int_equal(fd_funnel_new(stages, 16, kinds, 1, &fn, err, sizeof err), FD_OK);
    const fd_owner_t o[] = {{"张伟", "华东"},
                            {"Moses Frase", "unassigned"},
                            {"anna@corp.example", "emea"},
                            {"Ωmega ☃", "équipe-été"},
                            {"x", "y"}};
    fd_deal_t deal;
    fd_deal_init(&deal);
    fd_effect_t out[FD_MAX_EFFECTS];
    size_t n;
    struct {
        fd_event_type_t type;
        int stage;
        int64_t at;
        int owner;
        int64_t amount;
    } steps[] = {
        {FD_DEAL_CREATED, 2, T0, 0, 1999}, /* back-fills 0, 1 */
        {FD_DEAL_STAGE_CHANGED, 3, T0 + HOUR, 1, -1},
        {FD_DEAL_STAGE_CHANGED, 7, T0 - DAY, 2, -1}, /* earlier: negative difference */
        {FD_DEAL_STAGE_CHANGED, 4, T0, 3, -1},       /* backwards: nothing */
        {FD_DEAL_LOST, 5, T0 + DAY, 4, -1},
        {FD_DEAL_STAGE_CHANGED, 9, T0 + 2 * DAY, 0, 123456},
        {FD_DEAL_STAGE_CHANGED, 12, T0 + 3 * DAY, 3, -1},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        assert_int_equal(fd_funnel_apply(fn, &deal, steps[i].type, steps[i].stage, steps[i].at,
                                         &o[steps[i].owner], steps[i].amount, out, &n),
                         FD_OK);
        round_trip(fn, &deal, NULL);
    }
    assert_int_equal(deal.nowners, 4); /* the loser (x/y) reached nothing */
    round_trip(fn, &deal,
               "d2\t16\t12\t5\t123456\t4\t张伟\t华东\tMoses Frase\tunassigned\tanna@corp.example"
               "\temea\tΩmega ☃\téquipe-été"
               "\tb\tb\t1763805600000:0\t3600000:1\tb\tb\tb\t-90000000:2\tb\t259200000:0\tb\tb"
               "\t86400000:3\t1764064800000\t0\tΩmega ☃\téquipe-été");
    /* Won: every remaining stage back-filled, the won stage explicit. */
    assert_int_equal(fd_funnel_apply(fn, &deal, FD_DEAL_WON, -1, T0 + 4 * DAY, &o[4], -1, out, &n),
                     FD_OK);
    assert_int_equal(deal.nowners, 5);
    round_trip(fn, &deal, NULL);
    fd_deal_clear(&deal);
    fd_funnel_destroy(fn);
}

static void test_funnel_codec_decode_rejects_malformed(void **state) {
    fixture_t *fx = *state;
    static const struct {
        const char *text;
        size_t len; /* 0: strlen(text) */
        const char *why;
    } bad[] = {
        {"", 0, "empty"},
        {"d3\t5\t-1\t-1\t-1\t0", 0, "unknown version"},
        {"d2\t5\t-1\t-1\t-1\t0\t1", 0, "holder without closed"},
        {"d2\t5\t-1\t-1\t-1\t0\t1\t2\ta\tt", 0, "closed not 0 or 1"},
        {"d2\t5\t-1\t-1\t-1\t0\t1\t0\ta", 0, "holder without team"},
        {"d2\t5\t-1\t-1\t-1\t0\t1\t0\ta\tt\tx", 0, "trailing data after the holder"},
        {"d2\t5\t-1\t-1\t-1\t0\t01\t0\ta\tt", 0, "latest time with a leading zero"},
        {"d1\t5\t-1\t-1\t-1\t0\t1\t0\ta\tt", 0, "d1 with a holder"},
        {"D1\t5\t-1\t-1\t-1\t0", 0, "version is case-sensitive"},
        {"d1 5 -1 -1 -1 0", 0, "spaces instead of tabs"},
        {"d1\t4\t-1\t-1\t-1\t0", 0, "stored for another stage count"},
        {"d1\t17\t-1\t-1\t-1\t0", 0, "stage count out of range"},
        {"d1\t5\t-1\t-1\t-1", 0, "owner count missing"},
        {"d1\t5\t-1\t-1\t-1\t0\t", 0, "trailing tab"},
        {"d1\t5\t-1\t-1\t-1\t0\tx", 0, "trailing field"},
        {"d1\t5\t-1\t-1\t-1\t0\n", 0, "trailing newline"},
        {"d1\t5\t-1\t-1\t-1\t0\0", 16, "embedded NUL"},
        {"d1\t5\t5\t-1\t-1\t0", 0, "furthest beyond the last stage"},
        {"d1\t5\t-2\t-1\t-1\t0", 0, "furthest below -1"},
        {"d1\t5\t-1\t4\t-1\t0", 0, "lost at the won stage"},
        {"d1\t5\t-1\t-2\t-1\t0", 0, "lost below -1"},
        {"d1\t5\t-1\t-1\t-3\t0", 0, "amount below -1"},
        {"d1\t5\t-1\t-1\t007\t0", 0, "leading zeros"},
        {"d1\t5\t-1\t-1\t+7\t0", 0, "plus sign"},
        {"d1\t5\t-1\t-1\t-0\t0", 0, "negative zero"},
        {"d1\t5\t-1\t-1\t\t0", 0, "empty number"},
        {"d1\t5\t-1\t-1\t-\t0", 0, "lone minus"},
        {"d1\t5\t-1\t-1\t1.5\t0", 0, "fraction"},
        {"d1\t5\t-1\t-1\t9223372036854775808\t0", 0, "amount overflows int64"},
        {"d1\t5\t-1\t-1\t99999999999999999999\t0", 0, "20 digits"},
        {"d1\t5\t-1\t-1\t-1\t1\ta\tt", 0, "owner without any reach"},
        {"d1\t5\t0\t-1\t-1\t0\t5:0", 0, "reach names an owner of an empty list"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\t5:1", 0, "owner index out of range"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\t5:-1", 0, "negative owner index"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\t5:00", 0, "owner index with leading zero"},
        {"d1\t5\t0\t-1\t-1\t2\ta\tt\tb\tu\t5:0", 0, "more owners than stages reached"},
        {"d1\t5\t1\t-1\t-1\t2\ta\tt\ta\tt\t5:0\t6:1", 0, "owner listed twice"},
        {"d1\t5\t1\t-1\t-1\t2\ta\tt\tb\tu\t5:0\t6:0", 0, "owner never referenced"},
        {"d1\t5\t0\t-1\t-1\t1\t\tt\t5:0", 0, "empty rep"},
        {"d1\t5\t0\t-1\t-1\t1\ta\t\t5:0", 0, "empty team"},
        {"d1\t5\t0\t-1\t-1\t1\ta\x01\tt\t5:0", 0, "control character in rep"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\xc2\x85\t5:0", 0, "C1 control character in team"},
        {"d1\t5\t0\t-1\t-1\t1\ta", 0, "owner without team"},
        {"d1\t5\t1\t-1\t-1\t1\ta\tt\t5:0", 0, "fewer reaches than furthest + 1"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\t5:0\t6:0", 0, "more reaches than furthest + 1"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\tb", 0, "furthest stage back-filled"},
        {"d1\t5\t1\t-1\t-1\t1\ta\tt\t5:0\tb", 0, "furthest stage back-filled after another"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\t5", 0, "reach without owner"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\t5:", 0, "reach with empty owner"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\t:0", 0, "reach with empty time"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\tx:0", 0, "reach time not a number"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\t5:0:0", 0, "reach with two colons"},
        {"d1\t5\t0\t-1\t-1\t1\ta\tt\tB", 0, "upper-case back-fill mark"},
    };
    char long_id[300];
    memset(long_id, 'r', 129);
    long_id[129] = '\0';
    char too_long[400];
    snprintf(too_long, sizeof too_long, "d1\t5\t0\t-1\t-1\t1\t%s\tt\t5:0", long_id);

    /* A deal with content: a failed decode must leave it as it was. */
    apply(fx, FD_DEAL_CREATED, QUALIFIED, T0, &A, 4200);
    char before[512], after[512];
    fd_deal_encode(fx->fn, &fx->deal, before, sizeof before);
    for (size_t i = 0; i <= sizeof bad / sizeof bad[0]; i++) {
        const char *text = i < sizeof bad / sizeof bad[0] ? bad[i].text : too_long;
        size_t len = i < sizeof bad / sizeof bad[0] && bad[i].len ? bad[i].len : strlen(text);
        const char *why = i < sizeof bad / sizeof bad[0] ? bad[i].why : "id of 129 bytes";
        char err[256] = "";
        fd_err_t rc = fd_deal_decode(fx->fn, text, len, &fx->deal, err, sizeof err);
        if (rc != FD_ERR_PARSE) fail_msg("%s: decode returned %d, want FD_ERR_PARSE", why, rc);
        if (strncmp(err, "deal state: ", 12) != 0 || strlen(err) < 20)
            fail_msg("%s: errstr '%s' does not explain", why, err);
        fd_deal_encode(fx->fn, &fx->deal, after, sizeof after);
        if (strcmp(before, after) != 0) fail_msg("%s: deal changed on a failed decode", why);
    }
}

static void test_funnel_codec_decode_replaces_content(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0 + HOUR, &B, -1);
    static const char text[] = "d1\t5\t0\t-1\t77\t1\tz\tq\t1000:0";
    char err[128];
    assert_int_equal(fd_deal_decode(fx->fn, text, sizeof text - 1, &fx->deal, err, sizeof err),
                     FD_OK);
    assert_int_equal(fx->deal.furthest, LEAD);
    assert_int_equal(fx->deal.amount_c, 77);
    assert_int_equal(fx->deal.nowners, 1);
    const fd_owner_t z = {"z", "q"};
    expect_reach(&fx->deal, LEAD, 1000, &z, REACHED);
    assert_int_equal(fx->deal.reach[QUALIFIED].flags, 0);
    /* A decoded deal keeps the owner array's room for later reaches. */
    apply(fx, FD_DEAL_WON, -1, 2000, &A, -1);
    apply(fx, FD_DEAL_LOST, -1, 3000, &B, -1);
    assert_int_equal(fx->deal.nowners, 2);
}

static void test_funnel_codec_typical_deal_is_compact(void **state) {
    fixture_t *fx = *state;
    /* lead -> qualified -> proposal, one owner, an amount: 60 bytes + the two ids. */
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, 1250000);
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0 + DAY, &A, -1);
    apply(fx, FD_DEAL_STAGE_CHANGED, PROPOSAL, T0 + 3 * DAY, &A, -1);
    const size_t ids = strlen(A.rep) + strlen(A.team);
    size_t len = fd_deal_encode(fx->fn, &fx->deal, NULL, 0);
    /* "d2" 2, "\t5\t2\t-1" 7, "\t1250000" 8, "\t1" 2, two tabs before ids 2,
     * "\t1763805600000:0" 16, "\t86400000:0" 11, "\t172800000:0" 12; the holder:
     * "\t1764064800000" 14, "\t0" 2, two tabs before its ids 2 */
    assert_int_equal(len, 78 + 2 * ids);
    assert_true(len < 100 + 2 * ids);
    /* snprintf-like: a short buffer gets a NUL-terminated prefix, the full length is returned. */
    char small[10];
    assert_int_equal(fd_deal_encode(fx->fn, &fx->deal, small, sizeof small), len);
    assert_string_equal(small, "d2\t5\t2\t-1");
    /* A won deal with every stage reached one by one stays under 100 + ids too. */
    apply(fx, FD_DEAL_STAGE_CHANGED, NEGOTIATION, T0 + 10 * DAY, &A, -1);
    apply(fx, FD_DEAL_WON, -1, T0 + 30 * DAY, &A, -1);
    assert_true(fd_deal_encode(fx->fn, &fx->deal, NULL, 0) < 120 + 2 * ids);
}

/* ---- the open pipeline (docs/funnel.md): holder by event time, closed, contributions ---- */

/* The pipeline effects of the last apply: (kind, stage, owner, amount) in order. */
typedef struct {
    fd_fx_kind_t kind;
    int stage;
    const fd_owner_t *owner;
    int64_t amount_c;
} pipe_t;

static void expect_pipe(const fixture_t *fx, const pipe_t *want, size_t nwant) {
    size_t first = 0;
    while (first < fx->n && !is_pipeline(&fx->fx[first]))
        first++;
    assert_int_equal(fx->n - first, nwant);
    for (size_t i = 0; i < nwant; i++) {
        const fd_effect_t *g = &fx->fx[first + i];
        const pipe_t *w = &want[i];
        if (g->kind != w->kind || g->stage != w->stage || g->amount_c != w->amount_c ||
            strcmp(g->owner->rep, w->owner->rep) != 0 ||
            strcmp(g->owner->team, w->owner->team) != 0)
            fail_msg("pipeline effect %zu: got %s(%d) by %s/%s amount %lld, want %s(%d) by %s/%s "
                     "amount %lld",
                     i, kind_names[g->kind], g->stage, g->owner->rep, g->owner->team,
                     (long long)g->amount_c, kind_names[w->kind], w->stage, w->owner->rep,
                     w->owner->team, (long long)w->amount_c);
    }
}

#define EXPECT_PIPE(fx, ...)                                                                       \
    do {                                                                                           \
        const pipe_t want_[] = {__VA_ARGS__};                                                      \
        expect_pipe((fx), want_, sizeof want_ / sizeof want_[0]);                                  \
    } while (0)
#define NO_PIPE(fx) expect_pipe((fx), NULL, 0)
#define OPEN(s, o, a)                                                                              \
    { FD_FX_OPEN, (s), &(o), (a) }
#define CLOSE(s, o, a)                                                                             \
    { FD_FX_CLOSE, (s), &(o), (a) }

static void test_funnel_pipeline_opens_moves_and_closes_on_won(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, 1000);
    EXPECT_PIPE(fx, OPEN(LEAD, A, 1000));
    apply(fx, FD_DEAL_STAGE_CHANGED, PROPOSAL, T0 + HOUR, &A, -1);
    EXPECT_PIPE(fx, CLOSE(LEAD, A, 1000), OPEN(PROPOSAL, A, 1000));
    /* only the amount changes: the stock follows it */
    apply(fx, FD_DEAL_STAGE_CHANGED, LEAD, T0 + 2 * HOUR, &A, 2500);
    EXPECT_PIPE(fx, CLOSE(PROPOSAL, A, 1000), OPEN(PROPOSAL, A, 2500));
    /* nothing changes at all: no pipeline effect */
    apply(fx, FD_DEAL_STAGE_CHANGED, LEAD, T0 + 3 * HOUR, &A, -1);
    NO_PIPE(fx);
    apply(fx, FD_DEAL_WON, -1, T0 + DAY, &A, -1);
    EXPECT_PIPE(fx, CLOSE(PROPOSAL, A, 2500));
    assert_false(fx->deal.closed);
    /* won stays won: a later stage change neither re-opens it */
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0 + 2 * DAY, &B, -1);
    NO_PIPE(fx);
    assert_string_equal(fx->deal.holder.rep, B.rep);
}

static void test_funnel_pipeline_hand_over_moves_to_latest_owner(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, QUALIFIED, T0, &A, -1);
    EXPECT_PIPE(fx, OPEN(QUALIFIED, A, 0));
    /* a later event by B, even one that changes no counter, hands the deal over */
    apply(fx, FD_DEAL_STAGE_CHANGED, LEAD, T0 + HOUR, &B, -1);
    EXPECT(fx, );
    EXPECT_PIPE(fx, CLOSE(QUALIFIED, A, 0), OPEN(QUALIFIED, B, 0));
    /* the CLOSE points at the previous holder, kept alive by the deal */
    const fd_effect_t *close = &fx->fx[0];
    assert_ptr_equal(close->owner, &fx->deal.prev_holder);
    assert_ptr_equal(fx->fx[1].owner, &fx->deal.holder);
    assert_int_equal(fx->deal.latest_ms, T0 + HOUR);
}

static void test_funnel_pipeline_holder_by_event_time_not_arrival(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0 + DAY, &A, 500);
    EXPECT_PIPE(fx, OPEN(LEAD, A, 500));
    /* B's stage change arrives later but is dated earlier: the counters move, the holder
     * stays A (the owner of the latest event by time) */
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0, &B, -1);
    EXPECT_PIPE(fx, CLOSE(LEAD, A, 500), OPEN(QUALIFIED, A, 500));
    assert_string_equal(fx->deal.holder.rep, A.rep);
    assert_int_equal(fx->deal.latest_ms, T0 + DAY);
    /* a tie goes to the event applied later */
    apply(fx, FD_DEAL_STAGE_CHANGED, LEAD, T0 + DAY, &B, -1);
    EXPECT_PIPE(fx, CLOSE(QUALIFIED, A, 500), OPEN(QUALIFIED, B, 500));
}

static void test_funnel_pipeline_lost_then_reopened(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, PROPOSAL, T0, &A, 700);
    apply(fx, FD_DEAL_LOST, -1, T0 + HOUR, &A, -1);
    EXPECT(fx, LOST(PROPOSAL, T0 + HOUR, A));
    EXPECT_PIPE(fx, CLOSE(PROPOSAL, A, 700));
    assert_true(fx->deal.closed);
    /* a later stage change re-opens it (the counters count it once: nothing again) */
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0 + 2 * HOUR, &B, -1);
    EXPECT(fx, );
    EXPECT_PIPE(fx, OPEN(PROPOSAL, B, 700));
    assert_false(fx->deal.closed);
    /* a late deal.lost dated before the re-opening does not close it */
    apply(fx, FD_DEAL_LOST, -1, T0 + 90 * 60000, &A, -1);
    NO_PIPE(fx);
    assert_false(fx->deal.closed);
    /* a deal.lost dated after closes it again */
    apply(fx, FD_DEAL_LOST, -1, T0 + 3 * HOUR, &A, -1);
    EXPECT_PIPE(fx, CLOSE(PROPOSAL, B, 700));
    assert_true(fx->deal.closed);
    assert_string_equal(fx->deal.holder.rep, A.rep);
    /* re-opened by a move forward: counted at the new stage */
    apply(fx, FD_DEAL_STAGE_CHANGED, NEGOTIATION, T0 + 4 * HOUR, &A, -1);
    EXPECT_PIPE(fx, OPEN(NEGOTIATION, A, 700));
}

static void test_funnel_pipeline_unknown_deal_lost_is_never_open(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_LOST, -1, T0, &A, 100);
    NO_PIPE(fx);
    /* a creation dated before the loss does not re-open it */
    apply(fx, FD_DEAL_CREATED, -1, T0 - HOUR, &A, -1);
    NO_PIPE(fx);
    assert_true(fx->deal.closed);
}

static void test_funnel_pipeline_legacy_d1_counts_from_next_event(void **state) {
    fixture_t *fx = *state;
    /* written before the pipeline: lead then qualified, no holder */
    static const char text[] = "d1\t5\t1\t-1\t1250000\t1\tanna@corp.example\temea"
                               "\t1763805600000:0\t86400000:0";
    char err[128];
    assert_int_equal(fd_deal_decode(fx->fn, text, sizeof text - 1, &fx->deal, err, sizeof err),
                     FD_OK);
    assert_null(fx->deal.holder.rep);
    int stage;
    int64_t amount;
    const fd_owner_t *h;
    assert_false(fd_deal_open(fx->fn, &fx->deal, &stage, &amount, &h));
    /* its next event, whatever its time: counted from now on, nothing taken away before */
    apply(fx, FD_DEAL_STAGE_CHANGED, PROPOSAL, T0 - DAY, &B, -1);
    EXPECT_PIPE(fx, OPEN(PROPOSAL, B, 1250000));
    assert_true(fd_deal_open(fx->fn, &fx->deal, &stage, &amount, &h));
    assert_int_equal(stage, PROPOSAL);
    assert_int_equal(amount, 1250000);
    assert_string_equal(h->rep, B.rep);
    /* and it is written back as d2 */
    char buf[512];
    fd_deal_encode(fx->fn, &fx->deal, buf, sizeof buf);
    assert_int_equal(strncmp(buf, "d2\t", 3), 0);
}

static void test_funnel_pipeline_d2_round_trips_closed_holder(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    apply(fx, FD_DEAL_LOST, -1, T0 + HOUR, &B, -1);
    round_trip(fx->fn, &fx->deal,
               "d2\t5\t0\t0\t-1\t1\tanna@corp.example\temea\t1763805600000:0\t1763809200000\t1"
               "\t张伟\t华东");
    fd_deal_t back;
    fd_deal_init(&back);
    char buf[512], err[128];
    size_t len = fd_deal_encode(fx->fn, &fx->deal, buf, sizeof buf);
    assert_int_equal(fd_deal_decode(fx->fn, buf, len, &back, err, sizeof err), FD_OK);
    /* the decoded deal behaves the same: a later event re-opens it for its owner */
    fd_effect_t out[FD_MAX_EFFECTS];
    size_t n;
    assert_int_equal(
        fd_funnel_apply(fx->fn, &back, FD_DEAL_STAGE_CHANGED, LEAD, T0 + 2 * HOUR, &A, -1, out, &n),
        FD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].kind, FD_FX_OPEN);
    assert_string_equal(out[0].owner->rep, A.rep);
    fd_deal_clear(&back);
}

static void test_funnel_cycle_from_first_reach_to_won(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_CREATED, -1, T0 + DAY, &A, -1);
    /* an earlier-dated reach of a later stage: the cycle starts at the earliest reach */
    apply(fx, FD_DEAL_STAGE_CHANGED, QUALIFIED, T0, &A, -1);
    apply(fx, FD_DEAL_WON, -1, T0 + 10 * DAY, &B, 100);
    const fd_effect_t *won = NULL;
    for (size_t i = 0; i < fx->n; i++)
        if (fx->fx[i].kind == FD_FX_ENTER && fx->fx[i].stage == WON) won = &fx->fx[i];
    assert_non_null(won);
    assert_int_equal(won->cycle_ms, 10 * DAY);
    assert_string_equal(won->owner->rep, B.rep);
    for (size_t i = 0; i < fx->n; i++)
        if (&fx->fx[i] != won) assert_int_equal(fx->fx[i].cycle_ms, -1);
}

static void test_funnel_cycle_none_when_first_seen_won_or_negative(void **state) {
    fixture_t *fx = *state;
    apply(fx, FD_DEAL_WON, -1, T0, &A, 100); /* first seen when won: no cycle */
    assert_int_equal(fx->fx[fx->n - 1].kind, FD_FX_ENTER);
    assert_int_equal(fx->fx[fx->n - 1].cycle_ms, -1);
    fd_deal_clear(&fx->deal);
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    apply(fx, FD_DEAL_WON, -1, T0 - HOUR, &A, -1); /* won dated before the creation */
    size_t i = 0;
    while (fx->fx[i].kind != FD_FX_ENTER || fx->fx[i].stage != WON)
        i++;
    assert_int_equal(fx->fx[i].cycle_ms, -1);
    fd_deal_clear(&fx->deal);
    apply(fx, FD_DEAL_CREATED, -1, T0, &A, -1);
    apply(fx, FD_DEAL_WON, -1, T0, &A, -1); /* a zero cycle counts */
    i = 0;
    while (fx->fx[i].kind != FD_FX_ENTER || fx->fx[i].stage != WON)
        i++;
    assert_int_equal(fx->fx[i].cycle_ms, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_funnel_create_enters_lead),
        T(test_funnel_create_at_later_stage_backfills_earlier_stages),
        T(test_funnel_stage_change_forward_moves_with_dwell),
        T(test_funnel_skip_target_has_dwell_skipped_stages_none),
        T(test_funnel_back_and_forth_counts_nothing_again),
        T(test_funnel_late_create_after_deal_is_further_counts_nothing),
        T(test_funnel_won_from_lead_backfills_all_with_last_amount),
        T(test_funnel_won_amount_from_event_beats_last_amount),
        T(test_funnel_won_without_any_amount_counts_zero),
        T(test_funnel_amount_of_event_that_changes_nothing_is_remembered),
        T(test_funnel_out_of_order_move_has_no_dwell),
        T(test_funnel_move_at_entry_time_has_zero_dwell),
        T(test_funnel_owner_change_splits_attribution),
        T(test_funnel_same_rep_other_team_is_another_owner),
        T(test_funnel_lost_at_current_stage),
        T(test_funnel_lost_at_given_stage),
        T(test_funnel_lost_twice_counts_once),
        T(test_funnel_lost_after_won_is_ignored),
        T(test_funnel_lost_then_won_keeps_lost_and_counts_won),
        T(test_funnel_unknown_deal_lost_without_stage_counts_at_first_stage),
        T(test_funnel_invalid_arguments_leave_deal_unchanged),
        T(test_funnel_pipeline_opens_moves_and_closes_on_won),
        T(test_funnel_pipeline_hand_over_moves_to_latest_owner),
        T(test_funnel_pipeline_holder_by_event_time_not_arrival),
        T(test_funnel_pipeline_lost_then_reopened),
        T(test_funnel_pipeline_unknown_deal_lost_is_never_open),
        T(test_funnel_pipeline_legacy_d1_counts_from_next_event),
        T(test_funnel_pipeline_d2_round_trips_closed_holder),
        T(test_funnel_cycle_from_first_reach_to_won),
        T(test_funnel_cycle_none_when_first_seen_won_or_negative),
        T(test_funnel_codec_round_trips_empty_deal),
        T(test_funnel_codec_round_trips_lost_unknown_deal),
        T(test_funnel_codec_round_trips_typical_deal),
        T(test_funnel_codec_round_trips_out_of_order_times),
        T(test_funnel_codec_round_trips_extreme_times),
        T(test_funnel_codec_round_trips_most_negative_time),
        T(test_funnel_codec_round_trips_sixteen_stages_several_owners),
        T(test_funnel_codec_decode_rejects_malformed),
        T(test_funnel_codec_decode_replaces_content),
        T(test_funnel_codec_typical_deal_is_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
