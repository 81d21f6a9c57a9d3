// SPDX-License-Identifier: MIT
// funnel-gen's malformed messages: 20 kinds, each derived from a real event (its rep, team, deal
// and time) with every field valid but the broken one, so funneld must reject it for exactly
// the reason the table names (tool, outside the layers). Every draw comes from the fault stream
// g->frng.
#include "gen.h"

const char *const bad_name[BAD_COUNT] = {
#define X(name, kind, reason, w) kind,
    BAD_MAP(X)
#undef X
};
const char *const bad_reason[BAD_COUNT] = {
#define X(name, kind, reason, w) reason,
    BAD_MAP(X)
#undef X
};
const double bad_weight[BAD_COUNT] = {
#define X(name, kind, reason, w) w,
    BAD_MAP(X)
#undef X
};

/* A malformed message derived from ev (its rep, team, deal and time): every field but the broken
 * one is valid, so funneld must reject it for exactly bad_reason[kind]. */
void format_bad(gen_t *g, sb_t *b, const gev_t *base, bad_kind_t kind) {
    rng_t *r = &g->frng;
    uint64_t id = ++g->nbad_ids;
    gev_t ev = *base;
    if (ev.deal == 0) ev.deal = g->reps[ev.rep].last_deal ? g->reps[ev.rep].last_deal : 1;
    ev.stage = -1;
    ev.amount_c = -1;
    ev.kind = -1;
    ev.score_c = -1;
    ev.complaint = -1;
    const char *sc = "deal.stage_changed";
    const char *stage1 = g->stage_json[g->last > 1 ? 1 : 0];

    switch (kind) {
    case BAD_NOT_JSON:
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":"); /* cut off mid-object */
        break;
    case BAD_TRAILING: {
        static const char *const tails[] = {"}", " x", "{}", ",", " {\"a\":1}"};
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_char(b, '}');
        sb_str(b, tails[rng_below(r, 5)]);
        break;
    }
    case BAD_RAW_CONTROL: /* a raw TAB inside a string: JSON wants it escaped */
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"note\":\"a\tb\"}");
        break;
    case BAD_NOT_OBJECT:
        sb_lit(b, "[\"deal.created\",");
        sb_mem(b, g->reps[ev.rep].json, g->reps[ev.rep].json_len);
        sb_lit(b, ",1]");
        break;
    case BAD_DUP_KEY:
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"stage\":");
        sb_str(b, g->stage_json[0]);
        sb_char(b, '}');
        break;
    case BAD_MISSING: /* deal.stage_changed without its stage, or without a deal_id */
        if (rng_chance(r, 0.5)) {
            sb_head(g, b, &ev, "-x", id, sc, r);
        } else {
            ev.deal = 0;
            sb_head(g, b, &ev, "-x", id, sc, r);
            sb_lit(b, ",\"stage\":");
            sb_str(b, stage1);
        }
        sb_char(b, '}');
        break;
    case BAD_WRONG_TYPE: {
        static const char *const amount[] = {"\"5000.00\"", "null", "[100]", "true"};
        sb_head(g, b, &ev, "-x", id, sc, r);
        if (rng_chance(r, 0.25)) {
            sb_lit(b, ",\"stage\":2}"); /* a stage index instead of its name */
            break;
        }
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"amount\":");
        sb_str(b, amount[rng_below(r, 4)]);
        sb_char(b, '}');
        break;
    }
    case BAD_EMPTY_ID:
    case BAD_CONTROL_ID:
    case BAD_NUL_ID:
    case BAD_BAD_UTF8: {
        /* A broken deal_id: the head without a deal, then the bad id. */
        static const char *const ctl[] = {"D-\\t-1", "D-\\u0085-1", "D-\\u001f-1", "D-\\u007f-1"};
        static const char *const utf8[] = {"D-\xff-1", "D-\xc0\xaf-1", "D-\xed\xa0\x80-1",
                                           "D-\xe4\xbd-1"};
        ev.deal = 0;
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"deal_id\":\"");
        if (kind == BAD_CONTROL_ID)
            sb_str(b, ctl[rng_below(r, 4)]);
        else if (kind == BAD_NUL_ID)
            sb_lit(b, "D-\\u0000-1");
        else if (kind == BAD_BAD_UTF8)
            sb_str(b, utf8[rng_below(r, 4)]);
        sb_lit(b, "\",\"stage\":");
        sb_str(b, stage1);
        sb_char(b, '}');
        break;
    }
    case BAD_UNKNOWN_TYPE:
        sb_head(g, b, &ev, "-x", id, rng_chance(r, 0.5) ? "deal.updated" : "Deal.Created", r);
        sb_char(b, '}');
        break;
    case BAD_UNKNOWN_STAGE:
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_str(b, rng_chance(r, 0.5) ? ",\"stage\":\"demo\"}" : ",\"stage\":\"Lead\"}");
        break;
    case BAD_LOST_AT_WON:
        sb_head(g, b, &ev, "-x", id, "deal.lost", r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, g->stage_json[g->last]);
        sb_char(b, '}');
        break;
    case BAD_UNKNOWN_ACTIVITY:
        sb_head(g, b, &ev, "-x", id, "activity.logged", r);
        sb_str(b, rng_chance(r, 0.5) ? ",\"activity\":\"fax\"}" : ",\"activity\":\"Call\"}");
        break;
    case BAD_BAD_TIME: {
        static const char *const times[] = {"\"2026-13-01T00:00:00Z\"",
                                            "\"2026-02-30T10:00:00Z\"",
                                            "\"2026-11-22T18:00:00\"",
                                            "\"2026-11-22T24:00:00Z\"",
                                            "\"yesterday\"",
                                            "1795370400000.5",
                                            "\"1795370400000\"",
                                            "-1",
                                            "\"1969-12-31T23:59:59Z\"",
                                            "\"2026-11-22T18:00:00+24:00\""};
        sb_lit(b, "{\"event_id\":\"");
        sb_u64(b, g->o.seed);
        sb_lit(b, "-x");
        sb_u64(b, id);
        sb_lit(b, "\",\"type\":\"deal.stage_changed\",\"occurred_at\":");
        sb_str(b, times[rng_below(r, 10)]);
        sb_lit(b, ",\"rep_id\":");
        sb_mem(b, g->reps[ev.rep].json, g->reps[ev.rep].json_len);
        sb_lit(b, ",\"deal_id\":\"");
        sb_deal_id(b, g, ev.deal);
        sb_lit(b, "\",\"stage\":");
        sb_str(b, stage1);
        sb_char(b, '}');
        break;
    }
    case BAD_BAD_AMOUNT: {
        static const char *const amounts[] = {"-12.50", "1e400", "2e15", "-0.01"};
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"amount\":");
        sb_str(b, amounts[rng_below(r, 4)]);
        sb_char(b, '}');
        break;
    }
    case BAD_BAD_SCORE: {
        static const char *const scores[] = {"0", "5.5", "7", "-1", "0.99"};
        sb_head(g, b, &ev, "-x", id, "feedback.received", r);
        sb_lit(b, ",\"score\":");
        sb_str(b, scores[rng_below(r, 5)]);
        sb_char(b, '}');
        break;
    }
    case BAD_TOO_DEEP: { /* an unknown field nested 20 levels: the event object is level 1 */
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"meta\":");
        for (int i = 0; i < 20; i++)
            sb_char(b, '[');
        for (int i = 0; i < 20; i++)
            sb_char(b, ']');
        sb_char(b, '}');
        break;
    }
    case BAD_OVERSIZE: /* a valid event padded past 64 KiB with an unknown field */
        sb_head(g, b, &ev, "-x", id, sc, r);
        sb_lit(b, ",\"stage\":");
        sb_str(b, stage1);
        sb_lit(b, ",\"notes\":\"");
        for (int i = 0; i < FD_EVENT_MAX_BYTES / 64 + 64; i++)
            sb_lit(b, "Customer asked for a revised quote; call back next week. ....... ");
        sb_lit(b, "\"}");
        break;
    default:
        break;
    }
}
