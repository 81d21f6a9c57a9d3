// SPDX-License-Identifier: MIT
// Unit tests of the batch ledger, without Redis or Kafka: table-driven sequences of claims,
// messages taken, sends, applies, drops and revocations, checking each partition's token, stored
// offset and dedupe horizon, and that every hook is told exactly once per transition, in the
// order it was registered.
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "app/ledger.h"
#include "model/batch.h"
#include "model/dedupe.h"
#include "model/event.h"
#include "model/funnel.h"
#include "model/timewin.h"

#define T "crm.events"

typedef struct {
    fd_funnel_t *fn;
    fd_timewin_t *tw;
    fd_ledger_t *lg;
    char log[1024]; /* what the hooks were told, "name.transition[detail] ..." */
} fixture_t;

static void note(fixture_t *fx, const char *name, const char *what, const char *detail) {
    size_t used = strlen(fx->log);
    snprintf(fx->log + used, sizeof fx->log - used, "%s%s.%s%s", used ? " " : "", name, what,
             detail);
}

/* Each recording hook's opaque: the fixture and its own name. */
typedef struct {
    fixture_t *fx;
    const char *name;
} recorder_t;

static void rec_sent(void *opaque, const fd_batch_t *b) {
    recorder_t *r = opaque;
    char detail[32];
    snprintf(detail, sizeof detail, "(%zu)", fd_batch_messages(b));
    note(r->fx, r->name, "sent", detail);
}

static void rec_applied(void *opaque, const fd_batch_t *b, bool already) {
    recorder_t *r = opaque;
    char detail[32];
    snprintf(detail, sizeof detail, "(%zu%s)", fd_batch_messages(b), already ? ",already" : "");
    note(r->fx, r->name, "applied", detail);
}

static void rec_dropped(void *opaque, const fd_batch_t *fly) {
    recorder_t *r = opaque;
    char detail[32];
    if (fly)
        snprintf(detail, sizeof detail, "(fly %zu)", fd_batch_messages(fly));
    else
        snprintf(detail, sizeof detail, "()");
    note(r->fx, r->name, "dropped", detail);
}

static fixture_t the_fx;
static recorder_t recorders[3] = {{&the_fx, "dc"}, {&the_fx, "dlq"}, {&the_fx, "clock"}};

static int setup(void **state) {
    static const char *const stages[] = {"lead", "won"};
    static const char *const kinds[] = {"call"};
    fixture_t *fx = &the_fx;
    memset(fx, 0, sizeof *fx);
    char err[256];
    assert_int_equal(fd_funnel_new(stages, 2, kinds, 1, &fx->fn, err, sizeof err), FD_OK);
    assert_int_equal(fd_timewin_new("UTC", &fx->tw, err, sizeof err), FD_OK);
    fd_batch_opts_t bo = {{0}};
    fd_ledger_opts_t lo = {.fn = fx->fn, .tw = fx->tw, .batch = &bo, .dedupe_max = 100};
    assert_int_equal(fd_ledger_new(&lo, &fx->lg), FD_OK);
    /* the dead-letter queue has no sent or applied step: a hook may leave callbacks NULL */
    fd_ledger_hook_t hooks[] = {
        {"dc", &recorders[0], rec_sent, rec_applied, rec_dropped},
        {"dlq", &recorders[1], NULL, NULL, rec_dropped},
        {"clock", &recorders[2], rec_sent, rec_applied, rec_dropped},
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(fd_ledger_add_hook(fx->lg, &hooks[i]), FD_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture_t *fx = *state;
    fd_ledger_destroy(fx->lg);
    fd_timewin_destroy(fx->tw);
    fd_funnel_destroy(fx->fn);
    return 0;
}

/* One step of a sequence. */
typedef enum {
    END = 0,
    ASSIGN,   /* partition p assigned (err) */
    CLAIM,    /* its claim succeeded: token tok, stored offset */
    TAKE,     /* a message at offset of p: err; with an event id, admitted (dup: a duplicate) */
    REJECT,   /* a malformed message at offset of p (taken, counted rejected) */
    SEND,     /* the batch being read was handed to Redis */
    APPLY,    /* the batch in flight landed (dup: already by an earlier attempt) */
    DROP,     /* everything not applied is dropped */
    REVOKE,   /* partition p revoked */
    PART,     /* partition p: claimed (dup), stored offset, ids remembered (count) and pending */
    GONE,     /* partition p is not held */
    INFLIGHT, /* messages in the batch in flight (count; -1: none in flight), from of its part p */
    OPEN,     /* messages in the batch being read (count) */
    REWIND,   /* everything not applied is forgotten, claims kept: count partitions set aside */
    REWOUND,  /* partition p: set aside by a rewind (dup), its first offset taken (offset) */
} op_t;

typedef struct {
    op_t op;
    int32_t p;
    int64_t offset; /* TAKE, REJECT; CLAIM, PART, INFLIGHT: the stored offset / from */
    const char *id; /* TAKE: event id (NULL: take only); CLAIM: token */
    fd_err_t err;   /* ASSIGN, TAKE */
    bool dup;
    int64_t count, pending;
    const char *hooks; /* exactly what the hooks were told during the step */
} step_t;

typedef struct {
    const char *name;
    step_t steps[40];
} case_t;

#define CLAIMED(p_, tok_, stored_)                                                                 \
    {ASSIGN, (p_), 0, NULL, FD_OK, false, 0, 0, ""}, {                                             \
        CLAIM, (p_), (stored_), (tok_), FD_OK, false, 0, 0, ""                                     \
    }

static const case_t cases[] = {
    {"sent_then_applied: hooks in registration order, once each; offsets advance at send",
     {CLAIMED(0, "1:a:x", -1),
      {TAKE, 0, 10, "e1", FD_OK, false, 0, 0, ""},
      {TAKE, 0, 11, "e2", FD_OK, false, 0, 0, ""},
      {PART, 0, -1, NULL, FD_OK, true, 2, 2, ""},
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(2) clock.sent(2)"},
      {PART, 0, 12, NULL, FD_OK, true, 2, 0, ""},
      {INFLIGHT, 0, -1, NULL, FD_OK, false, 2, 0, ""},
      {OPEN, 0, 0, NULL, FD_OK, false, 0, 0, ""},
      {APPLY, 0, 0, NULL, FD_OK, false, 0, 0, "dc.applied(2) clock.applied(2)"},
      {INFLIGHT, 0, 0, NULL, FD_OK, false, -1, 0, ""},
      {PART, 0, 12, NULL, FD_OK, true, 2, 0, ""},
      {END}}},
    {"pipelined: the next batch continues from the offsets of the batch in flight",
     {CLAIMED(0, "1:a:x", 5),
      {TAKE, 0, 5, "e1", FD_OK, false, 0, 0, ""},
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(1) clock.sent(1)"},
      {TAKE, 0, 6, "e2", FD_OK, false, 0, 0, ""},
      {REJECT, 0, 7, NULL, FD_OK, false, 0, 0, ""},
      {OPEN, 0, 0, NULL, FD_OK, false, 2, 0, ""},
      {INFLIGHT, 0, 5, NULL, FD_OK, false, 1, 0, ""},
      {APPLY, 0, 0, NULL, FD_OK, false, 0, 0, "dc.applied(1) clock.applied(1)"},
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(2) clock.sent(2)"},
      {INFLIGHT, 0, 6, NULL, FD_OK, false, 2, 0, ""},
      {PART, 0, 8, NULL, FD_OK, true, 2, 0, ""},
      {APPLY, 0, 0, NULL, FD_OK, true, 0, 0, "dc.applied(2,already) clock.applied(2,already)"},
      {END}}},
    {"dropped_in_flight: every hook told once, with the batch in flight; claims needed again",
     {CLAIMED(0, "1:a:x", -1),
      CLAIMED(1, "1:a:y", 40),
      {TAKE, 0, 0, "e1", FD_OK, false, 0, 0, ""},
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(1) clock.sent(1)"},
      {TAKE, 1, 40, "e2", FD_OK, false, 0, 0, ""},
      {DROP, 0, 0, NULL, FD_OK, false, 0, 0,
       "dc.dropped(fly 1) dlq.dropped(fly 1) clock.dropped(fly 1)"},
      {INFLIGHT, 0, 0, NULL, FD_OK, false, -1, 0, ""},
      {OPEN, 0, 0, NULL, FD_OK, false, 0, 0, ""},
      /* the offset of the batch sent stays: whichever way its apply went, a claim reads it */
      {PART, 0, 1, NULL, FD_OK, false, 0, 0, ""},
      {PART, 1, 40, NULL, FD_OK, false, 0, 0, ""},
      {TAKE, 1, 41, "e3", FD_ERR_NOTFOUND, false, 0, 0, ""},
      {OPEN, 0, 0, NULL, FD_OK, false, 0, 0, ""},
      {END}}},
    {"dropped_idle: hooks told even with nothing in flight",
     {CLAIMED(0, "1:a:x", -1),
      {DROP, 0, 0, NULL, FD_OK, false, 0, 0, "dc.dropped() dlq.dropped() clock.dropped()"},
      {DROP, 0, 0, NULL, FD_OK, false, 0, 0, "dc.dropped() dlq.dropped() clock.dropped()"},
      {END}}},
    {"claimed_again_after_drop: a fresh token and horizon, reading from the stored offset",
     {CLAIMED(0, "1:a:x", -1),
      {TAKE, 0, 0, "e1", FD_OK, false, 0, 0, ""},
      {DROP, 0, 0, NULL, FD_OK, false, 0, 0, "dc.dropped() dlq.dropped() clock.dropped()"},
      CLAIMED(0, "2:a:z", -1),
      {PART, 0, -1, NULL, FD_OK, true, 0, 0, ""},
      {TAKE, 0, 0, "e1", FD_OK, false, 0, 0, ""},
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(1) clock.sent(1)"},
      {INFLIGHT, 0, -1, NULL, FD_OK, false, 1, 0, ""},
      {END}}},
    {"revoked_in_flight: the batch in flight holds it, so everything not applied is dropped",
     {CLAIMED(0, "1:a:x", -1),
      CLAIMED(1, "1:a:y", -1),
      {TAKE, 0, 3, "e1", FD_OK, false, 0, 0, ""},
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(1) clock.sent(1)"},
      {TAKE, 1, 0, "e2", FD_OK, false, 0, 0, ""},
      {REVOKE, 0, 0, NULL, FD_OK, false, 0, 0,
       "dc.dropped(fly 1) dlq.dropped(fly 1) clock.dropped(fly 1)"},
      {GONE, 0, 0, NULL, FD_OK, false, 0, 0, ""},
      {PART, 1, -1, NULL, FD_OK, false, 0, 0, ""},
      {INFLIGHT, 0, 0, NULL, FD_OK, false, -1, 0, ""},
      {OPEN, 0, 0, NULL, FD_OK, false, 0, 0, ""},
      {TAKE, 0, 4, "e3", FD_ERR_NOTFOUND, false, 0, 0, ""},
      {END}}},
    {"revoked_while_read: the batch being read holds it, so it is dropped",
     {CLAIMED(0, "1:a:x", -1),
      {REJECT, 0, 0, NULL, FD_OK, false, 0, 0, ""},
      {REVOKE, 0, 0, NULL, FD_OK, false, 0, 0, "dc.dropped() dlq.dropped() clock.dropped()"},
      {GONE, 0, 0, NULL, FD_OK, false, 0, 0, ""},
      {OPEN, 0, 0, NULL, FD_OK, false, 0, 0, ""},
      {END}}},
    {"revoked_untouched: no batch holds it; the others' batches go on",
     {CLAIMED(0, "1:a:x", -1),
      CLAIMED(1, "1:a:y", -1),
      {TAKE, 0, 0, "e1", FD_OK, false, 0, 0, ""},
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(1) clock.sent(1)"},
      {TAKE, 0, 1, "e2", FD_OK, false, 0, 0, ""},
      {REVOKE, 1, 0, NULL, FD_OK, false, 0, 0, ""},
      {REVOKE, 1, 0, NULL, FD_OK, false, 0, 0, ""}, /* unknown: nothing */
      {GONE, 1, 0, NULL, FD_OK, false, 0, 0, ""},
      {PART, 0, 1, NULL, FD_OK, true, 2, 1, ""},
      {APPLY, 0, 0, NULL, FD_OK, false, 0, 0, "dc.applied(1) clock.applied(1)"},
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(1) clock.sent(1)"},
      {PART, 0, 2, NULL, FD_OK, true, 2, 0, ""},
      {END}}},
    {"assigned_again: the partition held is revoked first (its open batch dropped)",
     {CLAIMED(0, "1:a:x", 7),
      {TAKE, 0, 7, "e1", FD_OK, false, 0, 0, ""},
      {ASSIGN, 0, 0, NULL, FD_OK, false, 0, 0, "dc.dropped() dlq.dropped() clock.dropped()"},
      {PART, 0, -1, NULL, FD_OK, false, 0, 0, ""},
      {TAKE, 0, 8, "e2", FD_ERR_NOTFOUND, false, 0, 0, ""},
      {CLAIM, 0, 7, "2:b:x", FD_OK, false, 0, 0, ""},
      {PART, 0, 7, NULL, FD_OK, true, 0, 0, ""},
      {END}}},
    {"refused_messages: not claimed, not assigned, below the stored offset",
     {{TAKE, 0, 0, "e1", FD_ERR_NOTFOUND, false, 0, 0, ""},
      {ASSIGN, 0, 0, NULL, FD_OK, false, 0, 0, ""},
      {TAKE, 0, 0, "e1", FD_ERR_NOTFOUND, false, 0, 0, ""},
      {CLAIM, 0, 100, "1:a:x", FD_OK, false, 0, 0, ""},
      {TAKE, 0, 99, "e1", FD_ERR_RANGE, false, 0, 0, ""},
      {OPEN, 0, 0, NULL, FD_OK, false, 0, 0, ""},
      {TAKE, 0, 100, "e1", FD_OK, false, 0, 0, ""},
      {TAKE, 0, 250, "e2", FD_OK, false, 0, 0, ""}, /* a later gap is read as it comes */
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(2) clock.sent(2)"},
      {TAKE, 0, 250, "e3", FD_ERR_RANGE, false, 0, 0, ""},
      {INFLIGHT, 0, 100, NULL, FD_OK, false, 2, 0, ""},
      {END}}},
    {"dedupe_horizon: ids pending until sent, remembered after, forgotten by a drop",
     {CLAIMED(0, "1:a:x", -1),
      {TAKE, 0, 0, "e1", FD_OK, false, 0, 0, ""},
      {TAKE, 0, 1, "e1", FD_OK, true, 0, 0, ""},
      {PART, 0, -1, NULL, FD_OK, true, 1, 1, ""},
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(2) clock.sent(2)"},
      {TAKE, 0, 2, "e1", FD_OK, true, 0, 0, ""},
      {TAKE, 0, 3, "e2", FD_OK, false, 0, 0, ""},
      {PART, 0, 2, NULL, FD_OK, true, 2, 1, ""},
      {APPLY, 0, 0, NULL, FD_OK, false, 0, 0, "dc.applied(2) clock.applied(2)"},
      {PART, 0, 2, NULL, FD_OK, true, 2, 1, ""},
      {DROP, 0, 0, NULL, FD_OK, false, 0, 0, "dc.dropped() dlq.dropped() clock.dropped()"},
      {PART, 0, 2, NULL, FD_OK, false, 0, 0, ""},
      {END}}},
};

static const case_t rewind_cases[] = {
    {"rewound: both batches forgotten, the claims kept; the parts they held set aside until "
     "claimed again under the same token",
     {CLAIMED(0, "1:a:x", 5),
      CLAIMED(1, "1:a:y", -1),
      CLAIMED(2, "1:a:z", 7),
      {TAKE, 0, 5, "e1", FD_OK, false, 0, 0, ""},
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(1) clock.sent(1)"},
      {TAKE, 1, 40, "e2", FD_OK, false, 0, 0, ""},
      {TAKE, 0, 6, "e3", FD_OK, false, 0, 0, ""},
      {REWIND, 0, 0, NULL, FD_OK, false, 2, 0,
       "dc.dropped(fly 1) dlq.dropped(fly 1) clock.dropped(fly 1)"},
      {INFLIGHT, 0, 0, NULL, FD_OK, false, -1, 0, ""},
      {OPEN, 0, 0, NULL, FD_OK, false, 0, 0, ""},
      /* set aside: not claimed, horizon emptied (the reload fills it), token and first kept */
      {PART, 0, 6, NULL, FD_OK, false, 0, 0, ""},
      {REWOUND, 0, 5, NULL, FD_OK, true, 0, 0, ""},
      {PART, 1, -1, NULL, FD_OK, false, 0, 0, ""},
      {REWOUND, 1, 40, NULL, FD_OK, true, 0, 0, ""},
      /* untouched: no forgotten batch held it */
      {PART, 2, 7, NULL, FD_OK, true, 0, 0, ""},
      {REWOUND, 2, -1, NULL, FD_OK, false, 0, 0, ""},
      {TAKE, 0, 6, "e3", FD_ERR_NOTFOUND, false, 0, 0, ""},
      {TAKE, 2, 7, "e4", FD_OK, false, 0, 0, ""},
      /* reloaded under the same token: read again from the offset Redis holds */
      {CLAIM, 0, 5, "1:a:x", FD_OK, false, 0, 0, ""},
      {PART, 0, 5, NULL, FD_OK, true, 0, 0, ""},
      {REWOUND, 0, -1, NULL, FD_OK, false, 0, 0, ""},
      {TAKE, 0, 5, "e1", FD_OK, false, 0, 0, ""},
      {REWOUND, 0, 5, NULL, FD_OK, false, 0, 0, ""},
      {SEND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.sent(2) clock.sent(2)"},
      {INFLIGHT, 0, 5, NULL, FD_OK, false, 2, 0, ""},
      /* a drop forgets the parts set aside too: they need a full claim */
      {DROP, 0, 0, NULL, FD_OK, false, 0, 0,
       "dc.dropped(fly 2) dlq.dropped(fly 2) clock.dropped(fly 2)"},
      {REWOUND, 1, 40, NULL, FD_OK, false, 0, 0, ""},
      {PART, 1, -1, NULL, FD_OK, false, 0, 0, ""},
      {END}}},
    {"rewound_idle: nothing held by a batch, nothing set aside; hooks still told",
     {CLAIMED(0, "1:a:x", 3),
      {REWIND, 0, 0, NULL, FD_OK, false, 0, 0, "dc.dropped() dlq.dropped() clock.dropped()"},
      {PART, 0, 3, NULL, FD_OK, true, 0, 0, ""},
      {REWOUND, 0, -1, NULL, FD_OK, false, 0, 0, ""},
      {END}}},
};

static void run_step(fixture_t *fx, const case_t *c, size_t i) {
    const step_t *s = &c->steps[i];
    fd_ledger_t *lg = fx->lg;
    fx->log[0] = '\0';
    int part = -1;
    fd_err_t err;
    const fd_ledger_part_t *p;
    const fd_batch_t *fly;
    switch (s->op) {
    case ASSIGN: {
        fd_dedupe_t *dd = NULL;
        assert_int_equal(fd_ledger_assign(lg, T, s->p, &dd), s->err);
        assert_non_null(dd);
        assert_int_equal(fd_dedupe_count(dd), 0);
        break;
    }
    case CLAIM:
        assert_int_equal(fd_ledger_claimed(lg, T, s->p, s->id, s->offset), FD_OK);
        break;
    case TAKE:
        err = fd_ledger_take(lg, T, s->p, s->offset, &part);
        assert_int_equal(err, s->err);
        if (err != FD_OK) {
            assert_int_equal(part, -1); /* untouched */
            break;
        }
        if (s->id != NULL) {
            fd_event_t ev = {.type = FD_ACTIVITY_LOGGED, .stage = -1, .activity = 0};
            snprintf(ev.event_id, sizeof ev.event_id, "%s", s->id);
            ev.event_id_len = (uint8_t)strlen(s->id);
            bool fresh = false;
            assert_int_equal(fd_batch_admit(fd_ledger_batch(lg), part, &ev, s->offset, &fresh),
                             FD_OK);
            assert_int_equal(fresh, !s->dup);
        }
        break;
    case REJECT:
        assert_int_equal(fd_ledger_take(lg, T, s->p, s->offset, &part), FD_OK);
        fd_batch_reject(fd_ledger_batch(lg), part, FD_REJECT_NOT_JSON, s->offset);
        break;
    case SEND:
        fd_ledger_sent(lg);
        break;
    case APPLY:
        fd_ledger_applied(lg, s->dup);
        break;
    case DROP:
        fd_ledger_drop(lg);
        break;
    case REVOKE:
        fd_ledger_revoke(lg, T, s->p);
        break;
    case PART:
        p = fd_ledger_part(lg, T, s->p);
        assert_non_null(p);
        assert_string_equal(p->topic, T);
        assert_int_equal(p->partition, s->p);
        assert_int_equal(p->claimed, s->dup);
        assert_int_equal(p->stored, s->offset);
        assert_int_equal(fd_dedupe_count(p->dd), s->count);
        size_t pending = 0;
        (void)fd_dedupe_pending(p->dd, &pending);
        assert_int_equal(pending, s->pending);
        break;
    case GONE:
        assert_null(fd_ledger_part(lg, T, s->p));
        break;
    case INFLIGHT:
        fly = fd_ledger_inflight(lg);
        if (s->count < 0) {
            assert_null(fly);
            break;
        }
        assert_non_null(fly);
        assert_int_equal(fd_batch_messages(fly), s->count);
        /* the batch in flight carries the claim's token and the offset it continues from */
        for (size_t j = 0; j < fd_batch_nparts(fly); j++) {
            const fd_batch_part_t *bp = fd_batch_part_at(fly, j);
            if (bp->partition != s->p) continue;
            assert_int_equal(bp->from, s->offset);
            p = fd_ledger_part(lg, T, s->p);
            assert_non_null(p);
            assert_string_equal(bp->token, p->token);
        }
        break;
    case OPEN:
        assert_int_equal(fd_batch_messages(fd_ledger_batch(lg)), s->count);
        break;
    case REWIND:
        assert_int_equal(fd_ledger_rewind(lg), s->count);
        break;
    case REWOUND:
        p = fd_ledger_part(lg, T, s->p);
        assert_non_null(p);
        assert_int_equal(p->rewound, s->dup);
        assert_int_equal(p->first, s->offset);
        if (s->dup) assert_string_equal(p->token, s->p == 0 ? "1:a:x" : "1:a:y");
        break;
    case END:
        break;
    }
    if (strcmp(fx->log, s->hooks) != 0)
        fail_msg("%s, step %zu: hooks told \"%s\", expected \"%s\"", c->name, i, fx->log, s->hooks);
}

static void test_ledger_sequences(void **state) {
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        setup(state);
        for (size_t i = 0; cases[k].steps[i].op != END; i++)
            run_step(*state, &cases[k], i);
        teardown(state);
    }
}

static void test_ledger_rewind_keeps_claims(void **state) {
    for (size_t k = 0; k < sizeof rewind_cases / sizeof rewind_cases[0]; k++) {
        setup(state);
        for (size_t i = 0; rewind_cases[k].steps[i].op != END; i++)
            run_step(*state, &rewind_cases[k], i);
        teardown(state);
    }
}

static void test_ledger_waiting_events_kept_in_order_until_folded_or_dropped(void **state) {
    setup(state);
    fixture_t *fx = *state;
    fd_event_t a = {.type = FD_DEAL_CREATED, .deal_id = "d1", .stage = 0};
    fd_event_t b = {.type = FD_DEAL_WON, .deal_id = "d2", .stage = 1};
    fd_event_t c = {.type = FD_DEAL_WON, .deal_id = "d1", .stage = 1};
    assert_false(fd_ledger_is_waiting(fx->lg, "d1"));
    assert_int_equal(fd_ledger_wait(fx->lg, &a), FD_OK);
    assert_int_equal(fd_ledger_wait(fx->lg, &b), FD_OK);
    assert_int_equal(fd_ledger_wait(fx->lg, &c), FD_OK);
    assert_true(fd_ledger_is_waiting(fx->lg, "d1"));
    assert_true(fd_ledger_is_waiting(fx->lg, "d2"));
    assert_false(fd_ledger_is_waiting(fx->lg, "d3"));
    assert_int_equal(fd_ledger_nwaiting(fx->lg), 3);
    assert_int_equal(fd_ledger_waiting_at(fx->lg, 0)->type, FD_DEAL_CREATED);
    assert_string_equal(fd_ledger_waiting_at(fx->lg, 1)->deal_id, "d2");
    assert_string_equal(fd_ledger_waiting_at(fx->lg, 2)->deal_id, "d1");
    fd_ledger_clear_waiting(fx->lg);
    assert_int_equal(fd_ledger_nwaiting(fx->lg), 0);
    assert_false(fd_ledger_is_waiting(fx->lg, "d1"));
    /* many, past the first allocation; a drop forgets them */
    for (int i = 0; i < 3000; i++) {
        fd_event_t e = {.type = FD_DEAL_STAGE_CHANGED, .stage = 1};
        snprintf(e.deal_id, sizeof e.deal_id, "deal-%d", i);
        assert_int_equal(fd_ledger_wait(fx->lg, &e), FD_OK);
    }
    assert_int_equal(fd_ledger_nwaiting(fx->lg), 3000);
    assert_string_equal(fd_ledger_waiting_at(fx->lg, 2999)->deal_id, "deal-2999");
    fd_ledger_drop(fx->lg);
    assert_string_equal(fx->log, "dc.dropped() dlq.dropped() clock.dropped()");
    assert_int_equal(fd_ledger_nwaiting(fx->lg), 0);
    assert_false(fd_ledger_is_waiting(fx->lg, "deal-7"));
    teardown(state);
}

static void test_ledger_hook_table_is_bounded(void **state) {
    setup(state);
    fixture_t *fx = *state;
    fd_ledger_hook_t h = {"extra", NULL, NULL, NULL, NULL};
    for (size_t i = 3; i < FD_LEDGER_HOOKS_MAX; i++)
        assert_int_equal(fd_ledger_add_hook(fx->lg, &h), FD_OK);
    assert_int_equal(fd_ledger_add_hook(fx->lg, &h), FD_ERR_FULL);
    /* hooks with no callbacks are skipped */
    fd_ledger_drop(fx->lg);
    assert_string_equal(fx->log, "dc.dropped() dlq.dropped() clock.dropped()");
    teardown(state);
}

static void test_ledger_new_refuses_missing_settings(void **state) {
    (void)state;
    fd_ledger_t *lg = (fd_ledger_t *)&lg;
    fd_ledger_opts_t lo = {.dedupe_max = 10};
    assert_int_equal(fd_ledger_new(&lo, &lg), FD_ERR_INVAL);
    assert_null(lg);
    fd_ledger_destroy(NULL);
}

static void test_ledger_claim_of_unassigned_or_overlong_token_refused(void **state) {
    setup(state);
    fixture_t *fx = *state;
    assert_int_equal(fd_ledger_claimed(fx->lg, T, 3, "1:a:x", -1), FD_ERR_NOTFOUND);
    fd_dedupe_t *dd;
    assert_int_equal(fd_ledger_assign(fx->lg, T, 3, &dd), FD_OK);
    char longtok[FD_TOKEN_MAX + 2];
    memset(longtok, 'x', sizeof longtok - 1);
    longtok[sizeof longtok - 1] = '\0';
    assert_int_equal(fd_ledger_claimed(fx->lg, T, 3, longtok, -1), FD_ERR_RANGE);
    assert_false(fd_ledger_part(fx->lg, T, 3)->claimed);
    longtok[FD_TOKEN_MAX] = '\0';
    assert_int_equal(fd_ledger_claimed(fx->lg, T, 3, longtok, -1), FD_OK);
    assert_string_equal(fd_ledger_part(fx->lg, T, 3)->token, longtok);
    /* partitions of another topic with the same number are apart */
    assert_null(fd_ledger_part(fx->lg, "other", 3));
    assert_int_equal(fd_ledger_nparts(fx->lg), 1);
    teardown(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ledger_sequences),
        cmocka_unit_test(test_ledger_rewind_keeps_claims),
        cmocka_unit_test(test_ledger_waiting_events_kept_in_order_until_folded_or_dropped),
        cmocka_unit_test(test_ledger_hook_table_is_bounded),
        cmocka_unit_test(test_ledger_new_refuses_missing_settings),
        cmocka_unit_test(test_ledger_claim_of_unassigned_or_overlong_token_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
