#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Alerts on the targets file and on scorecards, end to end: real redis-server, the mock Kafka
cluster, a real funneld, event time as the clock (UTC, November 2026).
  - visits-pace: a target rule "from": "targets" (month window, tolerance 0.2, held 24 h). The
    targets file gives anna 300 visits and bob 30 for the month; anna logs 2 a day (behind
    pace: fires), bob too (ahead of his: never fires); 64 filler reps have no target (never
    judged). On day 11 anna logs 250 visits: resolved.
  - score-low: KPI score < 60 (month). bob's scorecard hash <p>:score:rep:month:2026-11:bob is
    written as a fixture with the fields the scorer writes (score 45.00, grade D): fires; set to
    75.00: resolved. Nobody else has a scorecard: nothing else fires.
Exactly these four notifications, with the targets and values the events give.

Python 3 standard library.
Usage: test_alerts_targets.py --build-dir DIR [--source-dir DIR]
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

NAME = "test_alerts_targets"
START_MS = 1793491200000  # 2026-11-01T00:00:00Z
H = 3600 * 1000
FILLERS = 64


class Msg:
    def __init__(self, key, value):
        self.key = key.encode()
        self.value = value.encode()


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def events(h_from, h_to, burst=0):
    """Visits from hour h_from to h_to (exclusive): anna and bob (team t1) at 03:10 and 15:10
    each day, each filler (team t2) every hour so that every partition moves the event clock;
    burst extra visits of anna at the first hour."""
    out = []
    n = [0]

    def add(ms, rep, team):
        n[0] += 1
        ev = {"event_id": "v-%d-%d" % (h_from, n[0]), "type": "activity.logged",
              "occurred_at": iso(ms), "rep_id": rep, "team_id": team, "activity": "visit"}
        out.append((ms, rep, ev))

    for hour in range(h_from, h_to):
        t = START_MS + hour * H
        if hour % 24 in (3, 15):
            add(t + 600000, "anna", "t1")
            add(t + 600000, "bob", "t1")
        for f in range(FILLERS):
            add(t + 60000 * (f + 1), "f-%02d" % f, "t2")
    if h_from == 0:  # an October event: November's window starts after the first event
        add(START_MS - H, "f-00", "t2")
    for k in range(burst):
        add(START_MS + h_from * H + 1000 * (k + 1), "anna", "t1")
    out.sort(key=lambda e: e[0])
    return [Msg(rep, json.dumps(ev, separators=(",", ":"))) for _, rep, ev in out]


RULES = {
    "clock": "event",
    "evaluate_every": "1s",
    "managers": {"t1": "Priya"},
    "rules": [
        {"name": "visits-pace", "kpi": "activity:visit", "scope": "rep", "window": "month",
         "target": {"op": ">=", "from": "targets", "tolerance": 0.2}, "for": "24h"},
        {"name": "score-low", "kpi": "score", "scope": "rep", "window": "month",
         "threshold": {"op": "<", "value": 60}},
    ],
}

TARGETS = {
    "targets": [
        {"scope": "rep", "id": "anna", "period": "month", "kpi": "activity:visit", "value": 300},
        {"scope": "rep", "id": "bob", "period": "month:2026-11", "kpi": "activity:visit",
         "value": 30},
    ],
}


def read_stream(r, prefix):
    out = []
    for entry in r.call("XRANGE", prefix + ":alerts", "-", "+"):
        out.append(json.loads(harness.pairs_to_dict(entry[1])[b"json"]))
    return out


def wait_for(h, r, what, pred, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        for p in h.funnelds:
            if not p.alive():
                raise TestFailure("funneld died:\n" + p.tail())
        time.sleep(0.1)
    raise TestFailure("timeout waiting for %s; alerts: %s" % (
        what, [(a["rule"], a["scope_id"], a["state"]) for a in read_stream(r, h.prefix)]))


def body(h, args):
    h.tz = "UTC"
    rules_path = os.path.join(h.tmp, "rules.json")
    targets_path = os.path.join(h.tmp, "targets.json")
    with open(rules_path, "w") as f:
        json.dump(RULES, f)
    with open(targets_path, "w") as f:
        json.dump(TARGETS, f)
    h.start_redis()
    h.start_mock()
    r = h.redis()
    card = h.prefix + ":score:rep:month:2026-11:bob"
    r.call("HSET", card, "scope", "rep", "id", "bob", "team", "t1", "period", "month:2026-11",
           "state", "live", "score", "45.00", "grade", "D", "kpis", "activity:visit")
    h.start_funneld("a", h.funneld_settings(alerts__rules=rules_path, targets__file=targets_path,
                                            alerts__lease_ms=3000))
    firing = h.prefix + ":alerts:firing"
    h.wait_done(h.produce(events(0, 240)), 120)
    wait_for(h, r, "anna behind pace and bob's score firing",
             lambda: r.call("HGET", firing, "visits-pace|rep|anna") is not None
             and r.call("HGET", firing, "score-low|rep|bob") is not None)
    r.call("HSET", card, "score", "75.00", "grade", "B")
    wait_for(h, r, "bob's score resolved",
             lambda: r.call("HGET", firing, "score-low|rep|bob") is None)
    h.wait_done(h.produce(events(240, 264, burst=250)), 120)
    wait_for(h, r, "anna back on pace",
             lambda: r.call("HGET", firing, "visits-pace|rep|anna") is None)
    time.sleep(3)  # more sweeps: nothing may change any more
    alerts = read_stream(r, h.prefix)
    for a in alerts:
        print("[%s] alert: %s %s %s value=%s target=%s at %s" % (
            NAME, a["state"], a["rule"], a["scope_id"], a["value"], a.get("target"), a["at"]),
            flush=True)
    got = [(a["rule"], a["scope_id"], a["state"]) for a in alerts]
    want = [("visits-pace", "anna", "firing"), ("visits-pace", "anna", "resolved"),
            ("score-low", "bob", "firing"), ("score-low", "bob", "resolved")]
    if sorted(got) != sorted(want):
        raise TestFailure("notifications %s, expected %s" % (got, want))
    by = {(a["rule"], a["state"]): a for a in alerts}
    f = by[("visits-pace", "firing")]
    # anna's visits in November before the hour of the alert's clock, from the events
    at = harness_ms(f["at"])
    hours = (at - START_MS) // H
    visits = sum(1 for hour in range(hours) if hour % 24 in (3, 15))
    if f["target"] != 300 or f["value"] != visits or f["manager"] != "Priya":
        raise TestFailure("anna's firing alert: target %s value %s manager %s; expected 300, %d, "
                          "Priya" % (f["target"], f["value"], f["manager"], visits))
    expected = 300 * hours / (30 * 24)
    if not visits < expected * 0.8:
        raise TestFailure("anna fired at %d visits with %.2f expected" % (visits, expected))
    s = by[("score-low", "firing")]
    if s["value"] != 45 or s["kpi"] != "score" or s["threshold"] != 60:
        raise TestFailure("bob's score alert: %s" % s)
    if by[("score-low", "resolved")]["value"] != 75:
        raise TestFailure("bob's resolve: %s" % by[("score-low", "resolved")])
    print("[%s] OK: anna fired at hour %d (%d visits of 300 at pace %.1f), resolved; bob's score "
          "fired at 45 and resolved at 75" % (NAME, hours, visits, expected), flush=True)


def harness_ms(s):
    import calendar
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(s[20:23])


if __name__ == "__main__":
    harness.run(NAME, __doc__, body)
