// SPDX-License-Identifier: MIT
// The alerter: lease, scope registry, evaluation lists and chunks, notifications and their
// delivery to Kafka through the outbox (layer 5). The pure parts are alerting/eventclock and
// alerting/winplan; everything that talks to Redis is io/lease and io/alertstore.
#include "app/alerter.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/alerter_internal.h"
#include "base/clock.h"
#include "base/log.h"
#include "io/keys.h"

#define CHUNK_SCOPES     256                /* scopes evaluated per tick */
#define TOUCHED_EVERY_MS 1000               /* touched scopes are evaluated at most this often */
#define TICK_BUDGET_US   20000              /* evaluation time per tick, between batches */
#define SCAN_EVERY_MS    (10 * 60 * 1000LL) /* keyspace SCAN for scopes */

/* ---- small helpers ---- */

static char *xstrdup(const char *s) {
    return strdup(s ? s : "");
}

/* ---- construction ---- */

static void on_delivered(void *opaque, const void *key, size_t key_len, bool ok) {
    fd_alerts_t *al = opaque;
    fd_map_del(al->inflight, key, key_len);
    if (!ok) return; /* stays in the outbox: sent again on the next resend */
    al->stats.delivered++;
    if (al->nacked == al->acked_cap) {
        size_t cap = al->acked_cap ? al->acked_cap * 2 : 64;
        char **a = realloc(al->acked, cap * sizeof *a);
        if (a == NULL) return;
        al->acked = a;
        al->acked_cap = cap;
    }
    char *copy = malloc(key_len + 1);
    if (copy == NULL) return;
    memcpy(copy, key, key_len);
    copy[key_len] = '\0';
    al->acked[al->nacked++] = copy;
}

fd_err_t fd_alerts_new(const fd_alerts_opts_t *o, fd_alerts_t **out, char *errstr,
                       size_t errstr_size) {
    *out = NULL;
    fd_alerts_t *al = calloc(1, sizeof *al);
    if (al == NULL) return FD_ERR_NOMEM;
    fd_err_t err = FD_ERR_NOMEM;
    const fd_config_t *cfg = o->cfg;
    al->cfg = cfg;
    al->fn = o->fn;
    al->rs = o->rs;
    al->wall = fd_rules_wall_clock(o->rs);
    al->interval_ms = fd_rules_interval_ms(o->rs);
    al->stall_every_ms = fd_rules_stall_scan_ms(o->rs);
    al->lease_ms = cfg->alerts_lease_ms;
    al->nrules = fd_rules_count(o->rs);
    al->nfields = fd_funnel_nfields(o->fn);
    if ((err = fd_map_new(&al->reps)) || (err = fd_map_new(&al->teams)) ||
        (err = fd_map_new(&al->touched)) || (err = fd_map_new(&al->inflight)))
        goto fail;
    size_t first = 0;
    if (fd_rules_need_targets(o->rs, &first)) {
        if (cfg->targets_file == NULL || cfg->targets_file[0] == '\0') {
            snprintf(errstr, errstr_size,
                     "alerts.rules: rules[%zu] (%s).target.from: \"targets\" needs a targets "
                     "file: set targets.file",
                     first, fd_rules_at(o->rs, first)->name);
            err = FD_ERR_CONFIG;
            goto fail;
        }
        if ((err = fd_targets_load(o->fn, cfg->targets_file, &al->targets, errstr, errstr_size)))
            goto fail;
    }
    if ((err = fd_stalls_new(o->fn, &al->stalled))) goto fail;
    if ((err = fd_eventclock_new(&al->ec))) goto fail;
    if ((err = fd_winplan_new(o->rs, o->fn, o->tw, &al->plan, errstr, errstr_size))) goto fail;
    size_t nread = fd_winplan_nfields(al->plan);
    al->read_fields = calloc(nread + 1, sizeof *al->read_fields);
    al->read_hundredths = calloc(nread + 1, sizeof *al->read_hundredths);
    err = FD_ERR_NOMEM;
    if (al->read_fields == NULL || al->read_hundredths == NULL) goto fail;
    for (size_t f = 0; f < nread; f++) {
        size_t fi = fd_winplan_field(al->plan, f);
        al->read_fields[f] = fd_funnel_field_name(o->fn, fi);
        al->read_hundredths[f] = fd_funnel_field_hundredths(o->fn, fi);
    }
    fd_redis_opts_t ro = {.host = cfg->redis_host,
                          .port = (int)cfg->redis_port,
                          .user = cfg->redis_user,
                          .password = cfg->redis_password,
                          .db = (int)cfg->redis_db,
                          .timeout_ms = (int)cfg->redis_timeout_ms};
    if ((err = fd_redis_new(&ro, &al->redis)) ||
        (err = fd_lease_new(al->redis, cfg->prefix, FD_KEY_ALERTS_LEASE, o->instance, al->lease_ms,
                            &al->lease)) ||
        (err = fd_alertstore_new(al->redis, cfg->prefix, &al->store)))
        goto fail;
    if (o->publish) {
        err = fd_publisher_new(cfg, cfg->alerts_topic, 0, on_delivered, al, &al->pub, errstr,
                               errstr_size);
        if (err) goto fail;
    }
    *out = al;
    return FD_OK;
fail:
    fd_alerts_destroy(al, 0);
    return err;
}

static void free_map_values(fd_map_t *m) {
    if (m == NULL) return;
    size_t pos = 0;
    const char *k;
    size_t len;
    void *v;
    while (fd_map_next(m, &pos, &k, &len, &v))
        free(v);
    fd_map_clear(m);
}

static void work_clear(fd_alerts_t *al) {
    for (size_t i = 0; i < al->nwork; i++) {
        free(al->work[i].id);
        free(al->work[i].team);
    }
    free(al->work);
    al->work = NULL;
    al->nwork = al->work_pos = 0;
}

void fd_alerts_destroy(fd_alerts_t *al, int timeout_ms) {
    if (al == NULL) return;
    fd_publisher_destroy(al->pub, timeout_ms);
    fd_alertstore_destroy(al->store);
    fd_lease_destroy(al->lease);
    fd_redis_destroy(al->redis);
    free_map_values(al->reps);
    fd_map_destroy(al->reps);
    fd_map_destroy(al->teams);
    fd_map_destroy(al->touched);
    fd_targets_destroy(al->targets);
    fd_stalls_destroy(al->stalled);
    fd_map_destroy(al->inflight);
    fd_eventclock_destroy(al->ec);
    fd_winplan_destroy(al->plan);
    free(al->read_fields);
    free(al->read_hundredths);
    for (size_t i = 0; i < al->nacked; i++)
        free(al->acked[i]);
    free(al->acked);
    work_clear(al);
    free(al);
}

/* ---- registry and notes ---- */

static void touch(fd_alerts_t *al, fd_scope_t kind, const char *id) {
    char key[FD_ID_MAX + 4];
    int n = snprintf(key, sizeof key, "%d\x1f%s", (int)kind, id);
    if (n < 0 || (size_t)n >= sizeof key) return;
    if (fd_map_get(al->touched, key, (size_t)n) == NULL)
        fd_map_put(al->touched, key, (size_t)n, (void *)1);
}

/* Records rep -> team; true when it changed. */
static bool registry_put(fd_alerts_t *al, const char *rep, const char *team) {
    size_t rl = strlen(rep), tl = strlen(team);
    char *cur = fd_map_get(al->reps, rep, rl);
    if (tl > 0 && fd_map_get(al->teams, team, tl) == NULL)
        fd_map_put(al->teams, team, tl, (void *)1);
    if (cur != NULL && strcmp(cur, team) == 0) return false;
    char *copy = strdup(team);
    if (copy == NULL) return false;
    if (fd_map_put(al->reps, rep, rl, copy) != FD_OK) {
        free(copy);
        return false;
    }
    free(cur);
    return true;
}

/* An event without team_id counts for team "unassigned" (event.h) but names no team. */
static bool names_team(const fd_event_t *ev) {
    return ev->team_id[0] != '\0' && strcmp(ev->team_id, "unassigned") != 0;
}

void fd_alerts_note(fd_alerts_t *al, const fd_event_t *ev, const char *topic, int32_t partition) {
    fd_eventclock_note(al->ec, topic, partition, ev->occurred_ms);
    /* A rep's team is the team of its latest event that names one, as the apply script writes
     * it to <prefix>:rep_team (by event time, not by arrival): notes only introduce a rep not
     * known yet; the team of a known rep is re-read from rep_team when it is evaluated. */
    size_t tl = strlen(ev->team_id);
    if (tl > 0 && fd_map_get(al->teams, ev->team_id, tl) == NULL)
        fd_map_put(al->teams, ev->team_id, tl, (void *)1);
    if (fd_map_get(al->reps, ev->rep_id, strlen(ev->rep_id)) == NULL)
        registry_put(al, ev->rep_id, names_team(ev) ? ev->team_id : "");
    if (al->leader) {
        touch(al, FD_SCOPE_REP, ev->rep_id);
        touch(al, FD_SCOPE_TEAM, ev->team_id);
        touch(al, FD_SCOPE_ORG, "");
    }
}

void fd_alerts_batch_sent(fd_alerts_t *al) {
    fd_eventclock_batch_sent(al->ec);
}

void fd_alerts_batch_done(fd_alerts_t *al, bool applied) {
    fd_eventclock_batch_done(al->ec, applied);
}

fd_err_t fd_alerts_expect(fd_alerts_t *al, const char *topic, int32_t count) {
    fd_err_t err = fd_eventclock_expect(al->ec, topic, count);
    if (err) return err;
    return fd_alertstore_write_holds(al->store, al->ec);
}

fd_err_t fd_alerts_hold(fd_alerts_t *al, const char *topic, int32_t partition) {
    fd_err_t err = fd_eventclock_hold(al->ec, topic, partition);
    if (err) return err;
    return fd_alertstore_write_holds(al->store, al->ec);
}

void fd_alerts_unhold(fd_alerts_t *al, const char *topic, int32_t partition) {
    fd_eventclock_unhold(al->ec, topic, partition);
}

/* Writes what the notes learnt: holds and the event clock. (rep_team is the apply script's.) */
static fd_err_t write_notes(fd_alerts_t *al) {
    fd_err_t err;
    if ((err = fd_alertstore_write_holds(al->store, al->ec))) return err;
    return fd_alertstore_write_applied(al->store, al->ec);
}

static void each_rep_team(void *opaque, const char *rep, const char *team) {
    registry_put(opaque, rep, team);
}

static void each_rep(void *opaque, const char *id, size_t len) {
    fd_alerts_t *al = opaque;
    if (fd_map_get(al->reps, id, len) == NULL) registry_put(al, id, "");
}

static void each_team(void *opaque, const char *id, size_t len) {
    fd_alerts_t *al = opaque;
    if (fd_map_get(al->teams, id, len) == NULL) fd_map_put(al->teams, id, len, (void *)1);
}

/* Loads every known scope from Redis: rep -> team pairs and the reps and teams that have an
 * all-time hash. */
static fd_err_t load_registry(fd_alerts_t *al) {
    fd_err_t err = fd_alertstore_rep_teams(al->store, each_rep_team, al);
    if (err) return err;
    /* Scopes folded before any instance wrote rep_team (alerts enabled on existing data) are
     * found by a keyspace SCAN: at lease take-over and then every SCAN_EVERY_MS, since it walks
     * every key of the database. */
    int64_t now = fd_clock_wall_ms();
    if (now < al->next_scan_ms) return FD_OK;
    al->next_scan_ms = now + SCAN_EVERY_MS;
    if ((err = fd_alertstore_scan_scopes(al->store, FD_SCOPE_REP, each_rep, al))) return err;
    return fd_alertstore_scan_scopes(al->store, FD_SCOPE_TEAM, each_team, al);
}

static fd_err_t work_add(fd_alerts_t *al, size_t *cap, fd_scope_t kind, const char *id, size_t len,
                         const char *team) {
    if (al->nwork == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        scope_t *w = realloc(al->work, nc * sizeof *w);
        if (w == NULL) return FD_ERR_NOMEM;
        al->work = w;
        *cap = nc;
    }
    scope_t *s = &al->work[al->nwork];
    s->kind = kind;
    s->id = strndup(id, len);
    s->team = xstrdup(team);
    if (s->id == NULL || s->team == NULL) {
        free(s->id);
        free(s->team);
        return FD_ERR_NOMEM;
    }
    al->nwork++;
    return FD_OK;
}

static fd_err_t build_sweep(fd_alerts_t *al) {
    work_clear(al);
    size_t cap = 0, pos = 0, len;
    const char *k;
    void *v;
    fd_err_t err = FD_OK;
    while (err == FD_OK && fd_map_next(al->reps, &pos, &k, &len, &v))
        err = work_add(al, &cap, FD_SCOPE_REP, k, len, v);
    pos = 0;
    while (err == FD_OK && fd_map_next(al->teams, &pos, &k, &len, &v)) {
        char *team = strndup(k, len);
        err = team ? work_add(al, &cap, FD_SCOPE_TEAM, k, len, team) : FD_ERR_NOMEM;
        free(team);
    }
    if (err == FD_OK) err = work_add(al, &cap, FD_SCOPE_ORG, "", 0, "");
    al->work_is_sweep = true;
    return err;
}

/* The teams of the touched reps, from <prefix>:rep_team: a hand-over shows at once. */
static fd_err_t refresh_touched_teams(fd_alerts_t *al) {
    size_t n = 0, pos = 0, len;
    const char *k;
    void *v;
    const char **reps = calloc(fd_map_size(al->touched) + 1, sizeof *reps);
    char **owned = calloc(fd_map_size(al->touched) + 1, sizeof *owned);
    fd_err_t err = FD_ERR_NOMEM;
    if (reps == NULL || owned == NULL) goto out;
    while (fd_map_next(al->touched, &pos, &k, &len, &v)) {
        if ((fd_scope_t)(k[0] - '0') != FD_SCOPE_REP) continue;
        if ((owned[n] = strndup(k + 2, len - 2)) == NULL) goto out;
        reps[n] = owned[n];
        n++;
    }
    err = fd_alertstore_rep_teams_of(al->store, reps, n, each_rep_team, al);
out:
    for (size_t i = 0; owned && i < n; i++)
        free(owned[i]);
    free(owned);
    free(reps);
    return err;
}

static fd_err_t build_touched(fd_alerts_t *al) {
    work_clear(al);
    size_t cap = 0, pos = 0, len;
    const char *k;
    void *v;
    fd_err_t err = refresh_touched_teams(al);
    if (err) return err;
    while (err == FD_OK && fd_map_next(al->touched, &pos, &k, &len, &v)) {
        fd_scope_t kind = (fd_scope_t)(k[0] - '0');
        const char *id = k + 2;
        size_t idlen = len - 2;
        char *team = NULL;
        if (kind == FD_SCOPE_REP) {
            char *t = fd_map_get(al->reps, id, idlen);
            team = xstrdup(t);
        } else {
            team = kind == FD_SCOPE_TEAM ? strndup(id, idlen) : xstrdup("");
        }
        err = team ? work_add(al, &cap, kind, id, idlen, team) : FD_ERR_NOMEM;
        free(team);
    }
    fd_map_clear(al->touched);
    al->work_is_sweep = false;
    return err;
}

/* ---- stalled deals ---- */

static fd_err_t each_deal(void *opaque, const char *state, size_t len) {
    return fd_stalls_add(opaque, state, len);
}

/* Reads every deal state and indexes each deal's stays in the stages, for evaluations at clocks
 * after since_ms (sweeps never run behind the last one). */
static fd_err_t scan_deals(fd_alerts_t *al, int64_t since_ms) {
    fd_stalls_clear(al->stalled, since_ms);
    fd_err_t err = fd_alertstore_scan_deals(al->store, each_deal, al->stalled);
    size_t bad = fd_stalls_unreadable(al->stalled);
    if (bad) fd_log_warn("alerts", "stall scan: %zu deal states unreadable, skipped", bad);
    return err;
}

/* Hands one notification to Kafka unless it is already in flight. */
void fd_alerter_deliver(fd_alerts_t *al, const char *id, const char *json, size_t len) {
    if (al->pub == NULL) return;
    size_t il = strlen(id);
    if (fd_map_get(al->inflight, id, il) != NULL) return;
    if (fd_publisher_send(al->pub, id, il, json, len) == FD_OK) {
        fd_map_put(al->inflight, id, il, (void *)1);
        al->sent++;
    }
}

static void deliver_each(void *opaque, const char *id, const char *json, size_t len) {
    fd_alerter_deliver(opaque, id, json, len);
}

/* ---- the outbox ---- */

static fd_err_t drop_acked(fd_alerts_t *al) {
    if (al->nacked == 0) return FD_OK;
    fd_err_t err = fd_alertstore_outbox_drop(al->store, al->acked, al->nacked);
    if (err) return err;
    for (size_t i = 0; i < al->nacked; i++)
        free(al->acked[i]);
    al->nacked = 0;
    return FD_OK;
}

static fd_err_t resend_outbox(fd_alerts_t *al) {
    if (al->pub == NULL) return FD_OK;
    int64_t before = al->sent;
    fd_err_t err = fd_alertstore_outbox(al->store, deliver_each, al);
    if (err) return err;
    if (al->sent > before)
        fd_log_info("alerts", "outbox: %" PRId64 " undelivered notification(s) sent to Kafka",
                    al->sent - before);
    return FD_OK;
}

/* ---- lease and tick ---- */

static fd_err_t renew_lease(fd_alerts_t *al, int64_t now) {
    bool got = false;
    fd_err_t err = fd_lease_renew(al->lease, &got);
    if (err) {
        al->leader = false; /* it may expire while Redis is out of reach */
        return err;
    }
    al->lease_next_ms = now + al->lease_ms / 3;
    if (got && !al->leader) {
        fd_log_info("alerts", "this instance evaluates alerts now (lease %s)",
                    fd_lease_token(al->lease));
        al->leader = true;
        al->next_sweep_ms = now; /* sweep at once: states may be stale */
        al->next_stall_ms = now;
        work_clear(al);
        al->next_scan_ms = 0; /* the first sweep scans */
        if ((err = resend_outbox(al))) return err;
    } else if (!got && al->leader) {
        fd_log_info("alerts", "another instance holds the alert lease now");
        al->leader = false;
        work_clear(al);
        fd_map_clear(al->touched);
    }
    return FD_OK;
}

static fd_err_t run_chunk(fd_alerts_t *al) {
    size_t left = al->nwork - al->work_pos;
    size_t n = left < CHUNK_SCOPES ? left : CHUNK_SCOPES;
    fd_err_t err = fd_alerter_chunk(al, al->work + al->work_pos, n, al->clock_ms);
    if (err) return err;
    al->work_pos += n;
    if (al->work_pos == al->nwork) {
        if (al->work_is_sweep) {
            if (!al->work_explicit) {
                bool ours = false;
                err = fd_alertstore_evaluated(al->store, fd_lease_token(al->lease), al->clock_ms,
                                              &ours);
                if (err) return err;
                if (!ours) return FD_ERR_FENCED;
                if (al->clock_ms > al->evaluated_ms) al->evaluated_ms = al->clock_ms;
            }
            al->stats.sweeps++;
            al->stats.last_sweep_us = fd_clock_mono_us() - al->sweep_started_us;
            al->stats.scopes = (int64_t)al->nwork;
            memcpy(al->stats.states, al->sweep_states, sizeof al->stats.states);
            al->stats.states_known = true;
        }
        work_clear(al);
    }
    return FD_OK;
}

/* The evaluation clock read. Event time: the watermark (alerting/eventclock); also loads
 * first_ms and evaluated_ms. Wall clock: now, every window taken as complete. */
static fd_err_t read_clock(fd_alerts_t *al, int64_t now_ms, int64_t *clock) {
    if (al->wall) {
        *clock = now_ms;
        al->first_ms = INT64_MIN; /* live traffic: every window is taken as complete */
        return FD_OK;
    }
    fd_clock_reading_t rd;
    fd_err_t err = fd_alertstore_read_clock(al->store, now_ms, &rd);
    if (err) return err;
    al->first_ms = rd.first_ms;
    if (rd.evaluated_ms > al->evaluated_ms) al->evaluated_ms = rd.evaluated_ms; /* another leader */
    *clock = rd.clock_ms;
    return FD_OK;
}

static fd_err_t start_list(fd_alerts_t *al, bool sweep, int64_t now, int64_t clock_override,
                           bool reload) {
    fd_err_t err;
    int64_t read = 0, clock = 0;
    /* also with a given clock: it loads first_ms (windows before it are incomplete) */
    if ((err = read_clock(al, now, &read))) return err;
    fd_clock_step_t step = {.wall = al->wall,
                            .sweep = sweep,
                            .read_ms = read,
                            .override_ms = clock_override,
                            .evaluated_ms = al->evaluated_ms,
                            .max_clock_ms = al->max_clock_ms,
                            .first_ms = al->first_ms};
    if (!fd_eventclock_step(&step, &clock, &al->catching_up)) return FD_OK;
    if ((err = fd_winplan_at(al->plan, clock, al->first_ms))) return err;
    al->clock_ms = al->stats.clock_ms = clock;
    al->work_explicit = clock_override != 0;
    if (!al->work_explicit && clock > al->max_clock_ms) al->max_clock_ms = clock;
    if (sweep) {
        if (reload && (err = load_registry(al))) return err;
        if ((err = build_sweep(al))) return err;
        memset(al->sweep_states, 0, sizeof al->sweep_states);
        al->sweep_started_us = fd_clock_mono_us();
    } else if ((err = build_touched(al))) {
        return err;
    }
    return FD_OK;
}

fd_err_t fd_alerts_tick(fd_alerts_t *al, int64_t now) {
    fd_err_t err;
    if (al->pub) fd_publisher_poll(al->pub, 0);
    if ((err = write_notes(al))) return err;
    if ((err = drop_acked(al))) return err;
    if (now >= al->lease_next_ms && (err = renew_lease(al, now))) return err;
    if (!al->leader) return FD_OK;
    if (fd_winplan_any_stalled(al->plan) && now >= al->next_stall_ms && al->nwork == 0) {
        al->next_stall_ms = now + al->stall_every_ms;
        if ((err = scan_deals(al, al->evaluated_ms))) return err;
    }
    /* Chunks of work for up to TICK_BUDGET_US: catching up walks many small sweeps. */
    int64_t t0 = fd_clock_mono_us();
    do {
        if (al->nwork == 0) {
            bool timer = now >= al->next_sweep_ms;
            if (timer || al->catching_up) {
                if (timer) al->next_sweep_ms = now + al->interval_ms;
                if ((err = start_list(al, true, now, 0, timer))) return err;
                if (timer && (err = resend_outbox(al))) return err;
            } else if (fd_map_size(al->touched) > 0 &&
                       now - al->last_touched_ms >= TOUCHED_EVERY_MS) {
                al->last_touched_ms = now;
                if ((err = start_list(al, false, now, 0, false))) return err;
            }
        }
        if (al->nwork <= al->work_pos) break;
        err = run_chunk(al);
        if (err == FD_ERR_FENCED) {
            work_clear(al);
            return FD_OK;
        }
        if (err) {
            work_clear(al);
            fd_log_warn("alerts", "evaluation failed: %s", fd_alerts_errstr(al));
            return err;
        }
    } while (fd_clock_mono_us() - t0 < TICK_BUDGET_US &&
             (al->nwork > al->work_pos || al->catching_up));
    return FD_OK;
}

fd_err_t fd_alerts_sweep(fd_alerts_t *al, int64_t clock_ms) {
    int64_t now = fd_clock_wall_ms();
    fd_err_t err;
    if ((err = write_notes(al))) return err;
    al->lease_next_ms = 0;
    if ((err = renew_lease(al, now))) return err;
    if (!al->leader) return FD_ERR_FENCED;
    /* a clock given by the caller may lie before the last sweep */
    if (fd_winplan_any_stalled(al->plan) && (err = scan_deals(al, INT64_MIN))) return err;
    work_clear(al);
    if ((err = start_list(al, true, now, clock_ms, true))) return err;
    while (al->nwork > al->work_pos) {
        if ((err = run_chunk(al))) {
            work_clear(al);
            return err;
        }
    }
    if (al->pub) fd_publisher_poll(al->pub, 0);
    return FD_OK;
}

fd_err_t fd_alerts_reload_targets(fd_alerts_t *al, char *errstr, size_t errstr_size) {
    if (!fd_rules_need_targets(al->rs, NULL)) return FD_OK;
    fd_targets_t *t = NULL;
    fd_err_t err = fd_targets_load(al->fn, al->cfg->targets_file, &t, errstr, errstr_size);
    if (err) return err;
    fd_targets_destroy(al->targets);
    al->targets = t;
    fd_log_info("alerts", "targets reloaded from %s", al->cfg->targets_file);
    return FD_OK;
}

void fd_alerts_stats(const fd_alerts_t *al, fd_alerts_stats_t *out) {
    *out = al->stats;
    out->leader = al->leader;
}

const char *fd_alerts_errstr(const fd_alerts_t *al) {
    return fd_redis_errstr(al->redis);
}
