// SPDX-License-Identifier: MIT
// funnel-gen's formatting: a generated event as one JSON line of the event contract (ids, mixed
// timestamp forms, team_id sometimes left out, an unknown field now and then) and its Kafka key
// (tool, outside the layers).
#include <stdlib.h>

#include "gen.h"

#define TEAMLESS_RATE    0.02 /* events without team_id (funneld files them under "unassigned") */
#define EXTRA_FIELD_RATE 0.03 /* events with an unknown field funneld ignores */

void sb_deal_id(sb_t *b, const gen_t *g, uint64_t deal) {
    sb_lit(b, "D-");
    sb_u64(b, g->o.seed);
    sb_char(b, '-');
    sb_pad(b, deal, deal < 1000000 ? 6 : 20);
}

/* The deal_id, or the rep_id when the event has no deal: the Kafka key. */
static size_t event_key(const gen_t *g, const gev_t *ev, char *key, size_t cap) {
    sb_t b;
    sb_init(&b, key, cap);
    if (ev->deal)
        sb_deal_id(&b, g, ev->deal);
    else
        sb_str(&b, g->reps[ev->rep].id);
    return b.len;
}

/* Writes occurred_at for time t. For valid events (keep_order), a whole-second form is used only
 * when flooring t to the second does not go below the previous valid event's written time, so
 * the stream stays sorted by the times it shows. */
static void sb_occurred_at(gen_t *g, sb_t *b, int64_t t, rng_t *r, bool keep_order) {
    ts_form_t form = ts_pick(r);
    if (ts_whole_seconds(form)) {
        int64_t floored = floor_div(t, 1000) * 1000;
        if (!keep_order || floored >= g->last_written_ms)
            t = floored;
        else
            form = form == TS_Z_S ? TS_Z_MS : TS_OFF_MS;
    }
    if (keep_order) g->last_written_ms = t;
    int off = 0;
    if (form == TS_OFF_S || form == TS_OFF_MS)
        off = g->have_tz ? tz_offset_min(g, t) : (rng_chance(r, 0.5) ? 8 * 60 : -5 * 60);
    sb_time(b, t, form, off);
}

/* The common head of an event: event_id, type, occurred_at, rep_id, team_id (sometimes left
 * out), deal_id when there is one. */
void sb_head(gen_t *g, sb_t *b, const gev_t *ev, const char *id_prefix, uint64_t id,
             const char *type, rng_t *r) {
    const rep_t *rep = &g->reps[ev->rep];
    sb_lit(b, "{\"event_id\":\"");
    sb_u64(b, g->o.seed);
    sb_str(b, id_prefix);
    sb_u64(b, id);
    sb_lit(b, "\",\"type\":\"");
    sb_str(b, type);
    sb_lit(b, "\",\"occurred_at\":");
    sb_occurred_at(g, b, ev->at_ms, r, r == &g->rng);
    sb_lit(b, ",\"rep_id\":");
    sb_mem(b, rep->json, rep->json_len);
    if (!rng_chance(r, TEAMLESS_RATE)) {
        sb_lit(b, ",\"team_id\":");
        sb_mem(b, g->teams[rep->team].json, g->teams[rep->team].json_len);
    }
    if (ev->deal) {
        sb_lit(b, ",\"deal_id\":\"");
        sb_deal_id(b, g, ev->deal);
        sb_char(b, '"');
    }
}

/* The fields after the head, and the closing brace. */
static void sb_tail(gen_t *g, sb_t *b, const gev_t *ev, rng_t *r) {
    if (ev->stage >= 0) {
        sb_lit(b, ",\"stage\":");
        sb_str(b, g->stage_json[ev->stage]);
    }
    if (ev->amount_c >= 0) {
        sb_lit(b, ",\"amount\":");
        sb_cents(b, ev->amount_c);
    }
    if (ev->type == FD_ACTIVITY_LOGGED) {
        sb_lit(b, ",\"activity\":");
        sb_str(b, g->kind_json[ev->kind]);
    }
    if (ev->score_c >= 0) {
        sb_lit(b, ",\"score\":");
        sb_u64(b, (uint64_t)ev->score_c / 100);
        if (ev->score_c % 100) sb_lit(b, ".5");
    }
    if (ev->complaint >= 0) {
        if (ev->complaint)
            sb_lit(b, ",\"complaint\":true");
        else
            sb_lit(b, ",\"complaint\":false");
    }
    if (rng_chance(r, EXTRA_FIELD_RATE)) sb_lit(b, ",\"source\":\"crm-sync\"");
    sb_char(b, '}');
}

void format_event(gen_t *g, slot_t *s, const gev_t *ev) {
    sb_t b;
    sb_init(&b, s->data, sizeof s->data);
    s->ev = *ev;
    /* Formatting variety (timestamp form, team_id, extra field) uses the model's stream: it is
     * part of the valid event, and must not depend on the fault rates. */
    sb_head(g, &b, ev, "-", ++g->nevents, fd_event_type_name(ev->type), &g->rng);
    sb_tail(g, &b, ev, &g->rng);
    s->len = b.len;
    s->key_len = event_key(g, ev, s->key, sizeof s->key);
    s->moved = false;
    if (b.overflow) { /* cannot happen: ids are at most 128 bytes */
        fprintf(stderr, PROG ": internal error: event larger than %d bytes\n", SLOT_BYTES);
        abort();
    }
}
