#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Scorecards materialised by funneld's scorer (docs/scorecards.md, docs/redis.md "Scorecard
keys") against the independent model tests/support/scoremodel.py, which computes them from the
metric hashes in Redis and the targets file.

1. A generated stream (from October 2026, duplicates and out-of-order events; the clock 2 days
   into the month after its last month P) is applied by a funneld without targets; then a
   funneld with targets.file scores it: every breakdown field, rank and grade of every rep and
   team of the planned periods (the current and previous month, quarter and year: P final, the
   clock's month live...) must equal the model's.
2. Late events for P (closed: the clock is past its end + grace): its grades and scores
   stay; adjustments record what moved, by how much, and which events.
3. SIGHUP with a bad file: logged, nothing changes; with a changed target: the live periods are
   re-scored, the final ones keep their targets.
4. SIGKILL during a round: a new funneld ends with the same scorecards as the model."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import model  # noqa: E402
import scoremodel  # noqa: E402
from harness import TestFailure  # noqa: E402

TZ = "Asia/Shanghai"
SKIP = {"computed_ms", "final_ms"}  # times of the computation: present, not modelled
ADJ = ("adjustments", "adjusted_score", "adjusted_grade")


def targets_doc(month_quota):
    return {
        "clock": "event", "recompute_every": "1s", "grace": "1d",
        "periods": ["month", "quarter", "year"], "team_targets": "sum_of_reps",
        "scorecard": {
            "kpis": [
                {"kpi": "won_amount", "weight": 40},
                {"kpi": "activity:visit", "weight": 20,
                 "scoring": {"rule": "linear", "zero": 0.5, "full": 1.0, "cap": 1.2}},
                {"kpi": "conv:lead", "weight": 20},
                {"kpi": "complaints", "weight": 20,
                 "scoring": {"rule": "bands", "bands": [{"min": 1.0, "points": 100},
                                                        {"min": 0.5, "points": 60}]}}],
            "grades": {"A": 90, "B": 75, "C": 60}},
        "targets": [
            {"scope": "rep", "id": "*", "period": "month", "kpi": "won_amount", "value": month_quota},
            {"scope": "rep", "id": "*", "period": "month", "kpi": "activity:visit", "value": 4},
            {"scope": "rep", "id": "*", "period": "month", "kpi": "complaints", "value": 2},
            {"scope": "rep", "id": "*", "period": "quarter", "kpi": "won_amount", "value": 3 * month_quota},
            {"scope": "rep", "id": "*", "period": "quarter", "kpi": "conv:lead", "value": 0.5},
            {"scope": "rep", "id": "Nobody Yet", "period": "month", "kpi": "won", "value": 3},
            {"scope": "team", "id": "*", "period": "month", "kpi": "conv:lead", "value": 0.4},
            {"scope": "team", "id": "*", "period": "quarter", "kpi": "complaints", "value": 10}]}


def hgetall(r, key):
    flat = r.call("HGETALL", key) or []
    return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}


def num_equal(a, b):
    """Equal texts, or numbers that differ by the last printed digit (a double rounded on the
    other side of a half)."""
    if a == b:
        return True
    try:
        digits = len(a.partition(".")[2])
        return abs(float(a) - float(b)) <= 1.01 * 10 ** -digits
    except ValueError:
        return False


def diff_card(want, got, ignore=()):
    errs = []
    for f in sorted(set(want) | set(got)):
        if f in SKIP or f in ignore or f.endswith(".adjusted_value"):
            continue
        if f not in got:
            errs.append("%s missing (want %r)" % (f, want[f]))
        elif f not in want:
            errs.append("%s=%r unexpected" % (f, got[f]))
        elif not num_equal(want[f], got[f]):
            errs.append("%s=%r, want %r" % (f, got[f], want[f]))
    if "computed_ms" not in got:
        errs.append("computed_ms missing")
    if got.get("state") == "final" and "final_ms" not in got:
        errs.append("final_ms missing")
    return errs


def compare(h, r, sm, final_frozen=None, timeout=60):
    """Polls until every planned period's scorecards equal the model's. final_frozen:
    {(period id, scope, id): breakdown} as frozen at finalisation (final periods compare to it
    without the adjustment fields)."""
    deadline = time.time() + timeout
    while True:
        clock = sm.feed_clock()
        st = hgetall(r, "%s:score:state" % h.prefix)
        errs = []
        if st.get("clock_ms") != str(clock):
            errs.append("scorer clock %s, feed watermark %s" % (st.get("clock_ms"), clock))
        n = 0
        for period, state in ([] if errs else sm.periods(clock)):
            want = sm.expected(period, state, clock)
            for (scope, ident), card in sorted(want.items()):
                got = hgetall(r, "%s:score:%s:%s:%s" % (h.prefix, scope, period.id, ident))
                if state == "final" and final_frozen is not None:
                    card = final_frozen.get((period.id, scope, ident), card)
                for e in diff_card(card, got, ADJ if state == "final" else ()):
                    errs.append("%s %s %s: %s" % (period.id, scope, ident, e))
                n += 1
            ranked = r.call("ZRANGE", "%s:rank:%s:rep" % (h.prefix, period.id), 0, -1,
                            "WITHSCORES") or []
            want_rank = {k[1]: c["score"] for k, c in want.items()
                         if k[0] == "rep" and "score" in c}
            got_rank = {ranked[i].decode(): ranked[i + 1].decode() for i in range(0, len(ranked), 2)}
            if set(got_rank) != set(want_rank):
                errs.append("%s: rank zset members %d, want %d" % (period.id, len(got_rank),
                                                                   len(want_rank)))
        if not errs:
            return n
        if time.time() > deadline:
            raise TestFailure("%d differences, first: %s" % (len(errs), "; ".join(errs[:12])))
        time.sleep(0.5)


def body(h, args):
    gen = model.Generator(args.seed, args.events or 3000, start="2026-10-01T00:00:00Z", days=45,
                          huge_amount=False, big_payloads=False)
    msgs = gen.generate()
    # the clock: 2 days into the month after the stream's last, so that month (P) is final
    # (grace 1d) and the month of the clock live
    last_t = max(m.event.t_ms for m in msgs if m.event is not None)
    P = scoremodel.Period.of("month", last_t, TZ)
    t_clock = P.end + 2 * 86400000
    rep0, team0 = gen.reps[0]
    msgs.append(gen.make(model.Event(gen.new_id(), "activity.logged", t_clock, rep0, team0,
                                     activity="call"), rep0))
    cur = scoremodel.Period.of("month", t_clock, TZ)
    h.tz = TZ
    h.start_redis()
    h.start_mock()
    nxt = h.produce(msgs)
    fd = h.start_funneld("A")  # no targets: the data first, then the scorer sees it whole
    h.wait_done(nxt, timeout=240)
    fd.stop(timeout=30)

    path = os.path.join(h.tmp, "targets.json")
    with open(path, "w") as f:
        json.dump(targets_doc(50000), f)
    settings = h.funneld_settings(**{"targets.file": path, "alerts.lease_ms": 2000})
    fd = h.start_funneld("B", settings)
    r = h.redis()
    sm = scoremodel.ScoreModel(r, h.prefix, TZ, targets_doc(50000))
    n = compare(h, r, sm)
    print("[scorecards] %d scorecards equal the model" % n, flush=True)
    if r.call("EXISTS", "%s:score:rep:%s:Nobody Yet" % (h.prefix, P.id)) != 1:
        raise TestFailure("a rep named only in targets has no scorecard: %r"
                          % r.scan_all("%s:score:*Nobody*" % h.prefix))

    # -- 2. late events for P (final) -----------------------------------------------------------
    rt = sm.rep_team()
    if len(rt) < 10:
        raise TestFailure("<p>:rep_team holds %d reps" % len(rt))
    rep = sorted(x for x, t in rt.items() if t)[0]
    team = rt[rep]
    okey = "%s:score:rep:%s:%s" % (h.prefix, P.id, rep)
    before = hgetall(r, okey)
    if before.get("state") != "final":
        raise TestFailure("%s is not final: %r" % (P.id, before.get("state")))
    frozen = {}
    for period, state in sm.periods(sm.feed_clock()):
        if state == "final":
            for (scope, ident) in sm.expected(period, state, sm.feed_clock()):
                frozen[(period.id, scope, ident)] = hgetall(
                    r, "%s:score:%s:%s:%s" % (h.prefix, scope, period.id, ident))
    t_late = P.start + 14 * 86400000
    late = []
    for i in range(3):
        late.append(model.Event(gen.new_id(), "activity.logged", t_late + i * 60000, rep, team,
                                activity="visit"))
    late.append(model.Event(gen.new_id(), "feedback.received", t_late + 300000, rep, team,
                            complaint=True))
    nxt = h.produce([gen.make(e, rep) for e in late])
    h.wait_done(nxt, timeout=60)
    adj_key = "%s:score:adj:rep:%s:%s" % (h.prefix, P.id, rep)
    deadline = time.time() + 30
    while r.call("LLEN", adj_key) < 2:
        if time.time() > deadline:
            raise TestFailure("no adjustments for %s in %s: %r" % (rep, P.id, hgetall(r, okey)))
        time.sleep(0.3)
    time.sleep(2)  # every late event applied and scored
    after = hgetall(r, okey)
    for f in ("score", "grade", "activity:visit.value", "complaints.value", "final_ms"):
        if after.get(f) != before.get(f):
            raise TestFailure("final %s moved: %r -> %r" % (f, before.get(f), after.get(f)))
    want, score = sm.card("rep", rep, P, sm.feed_clock(),
                          "final", team=team, frozen=before)
    entries = [json.loads(x) for x in r.call("LRANGE", adj_key, 0, -1)]
    by_kpi = {}
    for e in entries:
        by_kpi.setdefault(e["kpi"], []).append(e)
    for kpi in ("activity:visit", "complaints"):
        if kpi not in by_kpi:
            raise TestFailure("no adjustment of %s: %r" % (kpi, entries))
        first, last = by_kpi[kpi][0], by_kpi[kpi][-1]
        if not num_equal(str(first["from"]), before[kpi + ".value"]) and \
                float(first["from"]) != float(before[kpi + ".value"]):
            raise TestFailure("%s adjustment from %r, frozen value %r" % (kpi, first["from"],
                                                                        before[kpi + ".value"]))
        if float(last["to"]) != float(want[kpi + ".value"]) or \
                after.get(kpi + ".adjusted_value") != want[kpi + ".value"]:
            raise TestFailure("%s adjusted to %r / %r, model %r" % (
                kpi, last["to"], after.get(kpi + ".adjusted_value"), want[kpi + ".value"]))
        total = sum(e["delta"] for e in by_kpi[kpi])
        if abs(total - (float(want[kpi + ".value"]) - float(before[kpi + ".value"]))) > 1e-6:
            raise TestFailure("%s deltas sum to %r" % (kpi, total))
        # the late events (weeks older than the watermark) are logged by their batch, and each
        # adjustment names the ones behind it
        ids = {ev.get("event_id") for e in by_kpi[kpi] for ev in e["events"]}
        if not ids or not ids <= {e.event_id for e in late} or \
                any(e.get("events_unknown") for e in by_kpi[kpi]):
            raise TestFailure("%s adjustments name events %r, not the late ones %r" % (
                kpi, ids, [e.event_id for e in late]))
    if after.get("adjustments") != str(len(entries)):
        raise TestFailure("adjustments %r, list holds %d" % (after.get("adjustments"), len(entries)))
    if score is None or not num_equal(want["score"], after.get("adjusted_score", "")) or \
            after.get("adjusted_grade") != want["grade"]:
        raise TestFailure("adjusted score/grade %r/%r, model %r/%r" % (
            after.get("adjusted_score"), after.get("adjusted_grade"), want.get("score"),
            want["grade"]))
    print("[scorecards] late events: %d adjustments, grade %s kept (adjusted %s %s)"
          % (len(entries), before.get("grade"), after.get("adjusted_score"),
             after.get("adjusted_grade")), flush=True)
    compare(h, r, sm, final_frozen=frozen)

    # -- 3. SIGHUP: a bad file is logged and changes nothing; a changed target re-scores -------
    bad = targets_doc(20000)
    bad["scorecard"]["kpis"][0]["weight"] = 30  # the weights sum to 90
    with open(path, "w") as f:
        json.dump(bad, f)
    fd.send(signal.SIGHUP)
    deadline = time.time() + 20
    while "the targets in force stay: " not in open(h.logpath("funneld-B")).read():
        if time.time() > deadline:
            raise TestFailure("SIGHUP with a bad targets file: no error logged")
        time.sleep(0.2)
    if not fd.alive() or "sum to 90" not in open(h.logpath("funneld-B")).read():
        raise TestFailure("SIGHUP with a bad file: funneld died or the parser's message is missing")
    compare(h, r, sm, final_frozen=frozen)
    with open(path, "w") as f:
        json.dump(targets_doc(20000), f)
    fd.send(signal.SIGHUP)
    sm2 = scoremodel.ScoreModel(r, h.prefix, TZ, targets_doc(20000))
    nkey = "%s:score:rep:%s:%s" % (h.prefix, cur.id, rep)
    deadline = time.time() + 30
    while hgetall(r, nkey).get("won_amount.target") != "20000.00":
        if time.time() > deadline:
            raise TestFailure("SIGHUP: the %s target did not change: %r"
                              % (cur.id, hgetall(r, nkey)))
        time.sleep(0.3)
    compare(h, r, sm2, final_frozen=frozen)
    print("[scorecards] SIGHUP: re-scored with the new target; final periods kept theirs",
          flush=True)

    # -- 4. SIGKILL during a round -----------------------------------------------------------
    more = [model.Event(gen.new_id(), "activity.logged", cur.start + 3600000 + i * 1000, x, t or "unassigned",
                        activity="visit") for i, (x, t) in enumerate(sorted(rt.items())[:10])]
    nxt = h.produce([gen.make(e, e.rep) for e in more])
    h.wait_done(nxt, timeout=60)
    fd.stop(sig=signal.SIGKILL)
    r.call("DEL", nkey)  # a scorecard lost with the crash: the next holder writes it again
    fd = h.start_funneld("C", settings)
    compare(h, r, sm2, final_frozen=frozen, timeout=90)
    print("[scorecards] after SIGKILL: the scorecards equal the model", flush=True)
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise TestFailure("funneld exited %s after SIGTERM" % rc)
    r.close()


if __name__ == "__main__":
    harness.run("scorecards", __doc__, body)
