#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Alerts end to end: real redis-server, the mock Kafka cluster, real funneld processes, event
time as the clock. 200 reps send healthy, noisy-in-time traffic for five days; from hour 48 one
rep's proposal exit conversion collapses to 0 and recovers at hour 72; another rep stops logging
calls at hour 60. Two funneld instances share the partitions; the one holding the evaluator
lease is killed with SIGKILL right after the first firing alert (the other takes the lease over)
and restarted. Checks, from the Redis stream <prefix>:alerts (written atomically with the alert
states) and the outbox:
  - exactly one firing and one resolved notification for the collapsed rep and the conversion
    rule, one episode, routed to that rep's team manager, fired after the collapse began;
  - exactly one firing for the silent rep and the volume rule (it never resolves);
  - nothing for any other rep or rule (false-positive check over 198 healthy reps);
  - no alert_id appears with two different states; the firing hash holds exactly the silent
    rep's alert at the end; every notification was acknowledged by Kafka (empty outbox) and is
    in the funnel.alerts topic, keyed by its alert_id, with the stream's JSON;
  - every message of funnel.alerts matches docs/schemas/alerts.schema.json.

Python 3 standard library and python3-jsonschema.
Usage: test_alerts.py --build-dir DIR [--source-dir DIR]
"""

import json
import os
import random
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import harness  # noqa: E402
import schemas  # noqa: E402
from harness import TestFailure  # noqa: E402

NAME = "test_alerts"
REPS = 200
TEAMS = 8
HOURS = 120
COLLAPSE_REP, SILENT_REP = "rep-007", "rep-013"
COLLAPSE_FROM, COLLAPSE_TO, SILENT_FROM = 48, 72, 60
START_MS = 1767225600000  # 2026-01-01T00:00:00Z
H = 3600 * 1000


class Msg:
    def __init__(self, key, value):
        self.key = key.encode()
        self.value = value.encode()


def team_of(i):
    return "team-%d" % (i % TEAMS)


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def generate(seed):
    """Events of every rep, sorted by time. Each rep opens a deal every ~4 h that reaches proposal
    and, 1-3 h later, moves on or is lost: a fixed cycle moves 3 of every 5 on (exit conversion
    0.6) except the collapsed rep's deals decided in [48 h, 72 h), which are all lost. Calls every
    ~3 h, except the silent rep's from hour 60."""
    rnd = random.Random(seed)
    evs = []
    n = 0

    def add(ms, rep, i, typ, deal=None, **kw):
        nonlocal n
        n += 1
        ev = {"event_id": "e-%d" % n, "type": typ, "occurred_at": iso(ms), "rep_id": rep,
              "team_id": team_of(i)}
        if deal:
            ev["deal_id"] = deal
        ev.update(kw)
        evs.append((ms, deal or rep, ev))

    for i in range(REPS):
        rep = "rep-%03d" % i
        t = START_MS + rnd.randrange(0, 4 * H)
        k = 0
        while t < START_MS + (HOURS - 4) * H:
            deal = "d-%s-%d" % (rep, k)
            add(t, rep, i, "deal.created", deal, stage="lead", amount=1000)
            add(t + 10 * 60000, rep, i, "deal.stage_changed", deal, stage="proposal")
            decide = t + rnd.randrange(1 * H, 3 * H)
            hour = (decide - START_MS) / H
            moves = (k % 5) < 3
            if rep == COLLAPSE_REP and COLLAPSE_FROM <= hour < COLLAPSE_TO:
                moves = False
            if moves:
                add(decide, rep, i, "deal.stage_changed", deal, stage="negotiation")
            else:
                add(decide, rep, i, "deal.lost", deal, stage="proposal")
            k += 1
            t += rnd.randrange(3 * H, 5 * H)
        t = START_MS + rnd.randrange(0, 3 * H)
        while t < START_MS + HOURS * H:
            if not (rep == SILENT_REP and t >= START_MS + SILENT_FROM * H):
                add(t, rep, i, "activity.logged", activity="call")
            t += rnd.randrange(2 * H, 4 * H)
    evs.sort(key=lambda e: e[0])
    return [Msg(key, json.dumps(ev, ensure_ascii=False, separators=(",", ":")))
            for _, key, ev in evs]


RULES = {
    "locale": "en",
    "clock": "event",
    "evaluate_every": "2s",
    "managers": {team_of(i): "Manager %d" % (i % TEAMS) for i in range(TEAMS)},
    "rules": [
        {"name": "proposal-exit-low", "kpi": "exit_conv:proposal", "scope": "rep",
         "window": "24h", "severity": "warning",
         "threshold": {"op": "<", "value": 0.25}, "min_samples": 4,
         "for": "2h", "resolve_for": "2h", "hysteresis": 0.1},
        {"name": "calls-silent", "kpi": "activity:call", "scope": "rep", "window": "24h",
         "severity": "critical", "threshold": {"op": "<", "value": 1}, "for": "1h"},
    ],
}


def read_stream(r, prefix):
    out = []
    for entry in r.call("XRANGE", prefix + ":alerts", "-", "+"):
        fields = harness.pairs_to_dict(entry[1])
        out.append(json.loads(fields[b"json"]))
    return out


def with_late_duplicate(msgs):
    """Inserts, after the middle event, a copy under the same event_id and key but 30 days later
    and with another team: a duplicate changes nothing, neither the event clock nor the rep's
    team. Returns (messages, the original event, the latest time of the real events)."""
    i = len(msgs) // 2
    orig = json.loads(msgs[i].value)
    dup = dict(orig, occurred_at=iso(START_MS + 30 * 24 * H), team_id="team-dup")
    latest = max(harness_ms(json.loads(m.value)["occurred_at"]) for m in msgs)
    out = msgs[:i + 1] + [Msg(msgs[i].key.decode(), json.dumps(dup))] + msgs[i + 1:]
    return out, orig, latest


def body(h, args):
    msgs, dup_of, latest_ms = with_late_duplicate(generate(args.seed))
    h.log = lambda m: print("[%s] %s" % (NAME, m), flush=True)
    h.log("%d events of %d reps over %d hours" % (len(msgs), REPS, HOURS))
    rules_path = os.path.join(h.tmp, "rules.json")
    with open(rules_path, "w") as f:
        json.dump(RULES, f)
    # Whole local days of Asia/Shanghai lie inside rolling windows: the evaluator reads them from
    # the day hashes and the edges from hourly buckets; the values are checked below.
    h.tz = "Asia/Shanghai"
    h.start_redis()
    h.start_mock()
    settings = h.funneld_settings(alerts__rules=rules_path, alerts__lease_ms=3000,
                                  batch__max_events=2000)
    fds = {p.pid: p for p in (h.start_funneld("a", settings), h.start_funneld("b", settings))}
    feed = h.start_feed(msgs, 40)
    r = h.redis()
    # SIGKILL right after the first firing notification, then restart
    deadline = time.time() + 120
    while time.time() < deadline:
        if r.call("XLEN", h.prefix + ":alerts") > 0:
            break
        for p in fds.values():
            if not p.alive():
                raise TestFailure("funneld died:\n" + p.tail())
        time.sleep(0.05)
    else:
        raise TestFailure("no alert within 120 s")
    # the lease token is "<instance>:<hex>", the instance "<host>-<pid>"
    token = r.call("GET", h.prefix + ":alerts:lease").decode()
    leader = int(token.rsplit(":", 1)[0].rsplit("-", 1)[1])
    if leader not in fds:
        raise TestFailure("the lease %r is held by no instance of this test" % token)
    fds[leader].send(signal.SIGKILL)
    fds[leader].wait(10)
    h.log("killed the lease holder (pid %d) with SIGKILL after the first alert; restarting it"
          % leader)
    h.start_funneld("c", settings)
    nexts = feed.join()
    h.wait_done(nexts, 180)
    # let the evaluator catch up with the last events and deliver to Kafka
    clock_key = h.prefix + ":clock"
    want_clock = START_MS + (HOURS - 1) * H
    deadline = time.time() + 60
    while time.time() < deadline:
        c = r.call("HGET", clock_key, "evaluated_ms")
        if c and int(c) >= want_clock and r.call("HLEN", h.prefix + ":alerts:outbox") == 0:
            break
        time.sleep(0.2)
    else:
        raise TestFailure("the evaluator did not reach the end of the stream: %r"
                          % r.call("HGETALL", clock_key))
    time.sleep(3)  # more sweeps: nothing may change any more
    alerts = read_stream(r, h.prefix)
    for a in alerts:
        h.log("alert: %s %s %s %s value=%s at %s: %s" % (a["state"], a["rule"], a["scope_id"],
                                                       a["manager"], a["value"], a["at"],
                                                       a["summary"]))
    states = {}
    for a in alerts:
        if states.setdefault(a["alert_id"], a["state"]) != a["state"]:
            raise TestFailure("alert_id %s with two states" % a["alert_id"])
    ids = {}
    for a in alerts:
        ids.setdefault((a["rule"], a["scope_id"], a["state"]), set()).add(a["alert_id"])
    conv = [a for a in alerts if a["rule"] == "proposal-exit-low"]
    firing = [a for a in conv if a["state"] == "firing"]
    resolved = [a for a in conv if a["state"] == "resolved"]
    if len(ids.get(("proposal-exit-low", COLLAPSE_REP, "firing"), ())) != 1 or \
            len(ids.get(("proposal-exit-low", COLLAPSE_REP, "resolved"), ())) != 1:
        raise TestFailure("expected one firing and one resolved alert for %s, got %s"
                          % (COLLAPSE_REP, [(a["state"], a["at"]) for a in conv]))
    if any(a["scope_id"] != COLLAPSE_REP for a in conv):
        raise TestFailure("conversion alerts for healthy reps: %s"
                          % sorted({a["scope_id"] for a in conv} - {COLLAPSE_REP}))
    f, rs = firing[0], resolved[0]
    idx = int(COLLAPSE_REP.split("-")[1])
    for a in (f, rs):
        if a["manager"] != "Manager %d" % (idx % TEAMS) or a["team"] != team_of(idx):
            raise TestFailure("%s routed to %r of %r" % (a["state"], a["manager"], a["team"]))
    if f["episode_id"] != rs["episode_id"]:
        raise TestFailure("firing and resolved of different episodes")
    fired_h = (harness_ms(f["at"]) - START_MS) / H
    resolved_h = (harness_ms(rs["at"]) - START_MS) / H
    if not (COLLAPSE_FROM + 2 <= fired_h <= COLLAPSE_TO + 2 and resolved_h > fired_h):
        raise TestFailure("fired at hour %.1f, resolved at %.1f" % (fired_h, resolved_h))
    for a in (f, rs):
        want = window_value(msgs, COLLAPSE_REP, harness_ms(a["at"]))
        if (round(want[0], 4), want[1]) != (round(a["value"], 4), a["samples"]):
            raise TestFailure("%s alert says %s over %d samples; the events say %.4f over %d"
                              % (a["state"], a["value"], a["samples"], want[0], want[1]))
    silent = [a for a in alerts if a["rule"] == "calls-silent"]
    if [(a["scope_id"], a["state"]) for a in silent] != [(SILENT_REP, "firing")] and not (
            len(ids.get(("calls-silent", SILENT_REP, "firing"), ())) == 1
            and all(a["scope_id"] == SILENT_REP and a["state"] == "firing" for a in silent)):
        raise TestFailure("calls-silent: %s" % [(a["scope_id"], a["state"]) for a in silent])
    sh = (harness_ms(silent[0]["at"]) - START_MS) / H
    if not (SILENT_FROM + 20 <= sh <= SILENT_FROM + 30):
        raise TestFailure("silent rep fired at hour %.1f" % sh)
    fh = harness.pairs_to_dict(r.call("HGETALL", h.prefix + ":alerts:firing"))
    if list(fh) != [("calls-silent|rep|" + SILENT_REP).encode()]:
        raise TestFailure("firing hash: %s" % list(fh))
    if r.call("HLEN", h.prefix + ":alerts:outbox") != 0:
        raise TestFailure("outbox not empty: Kafka did not acknowledge every alert")
    # the stream never holds duplicates: one entry per alert_id
    if len(alerts) != len({a["alert_id"] for a in alerts}) or len(alerts) != 3:
        raise TestFailure("stream entries %s: expected exactly 3 distinct notifications"
                          % [(a["alert_id"][:8], a["rule"], a["state"]) for a in alerts])
    check_kafka(h, alerts)
    clock = {k.decode(): int(v) for k, v in
             harness.pairs_to_dict(r.call("HGETALL", clock_key)).items()}
    moved = {k: v for k, v in clock.items()
             if (k == "event_ms" or k.startswith("p:")) and v > latest_ms}
    if clock.get("event_ms") != latest_ms or moved:
        raise TestFailure("the event clock follows a duplicate: latest real event %d, clock %s"
                          % (latest_ms, clock))
    team = r.call("HGET", h.prefix + ":rep_team", dup_of["rep_id"])
    if team != dup_of["team_id"].encode():
        raise TestFailure("a duplicate changed %s's team to %r" % (dup_of["rep_id"], team))
    h.log("OK: %d notifications; conversion fired at hour %.1f, resolved at %.1f; silent rep "
          "fired at hour %.1f" % (len(alerts), fired_h, resolved_h, sh))


def check_kafka(h, alerts):
    """Every notification of the stream reached Kafka's funnel.alerts, keyed by its alert_id,
    with the same JSON; a re-delivery (after the SIGKILL) may repeat one, nothing else is there.
    Every message matches docs/schemas/alerts.schema.json."""
    want = {a["alert_id"]: a for a in alerts}
    got = h.dump_topic("funnel.alerts", len(want) * 3)
    schemas.validate("alerts", [json.loads(m["value"]) for m in got], "funnel.alerts messages")
    seen = set()
    for m in got:
        a = json.loads(m["value"])
        if m["key"] != a["alert_id"].encode() or a["alert_id"] not in want:
            raise TestFailure("funnel.alerts holds key %r for %r, not a notification of the "
                              "stream" % (m["key"], a.get("alert_id")))
        if a != want[a["alert_id"]]:
            raise TestFailure("funnel.alerts and the stream differ for %s:\n%s\n%s"
                              % (a["alert_id"], a, want[a["alert_id"]]))
        seen.add(a["alert_id"])
    if seen != set(want):
        raise TestFailure("notifications missing from funnel.alerts: %s" % sorted(set(want) - seen))
    h.log("funnel.alerts: %d records for the %d notifications, keyed by alert_id"
          % (len(got), len(want)))


def window_value(msgs, rep, at_ms):
    """exit_conv:proposal of rep over the 24 h rolling window at at_ms (the 24 whole UTC hours
    before the hour of at_ms: the hour in progress is not read), from the events themselves:
    (value, samples)."""
    hour = at_ms // H
    lo, hi = (hour - 24) * H, hour * H
    moved = lost = 0
    for m in msgs:
        ev = json.loads(m.value)
        if ev["rep_id"] != rep:
            continue
        t = harness_ms(ev["occurred_at"])
        if not lo <= t < hi:
            continue
        if ev["type"] == "deal.stage_changed" and ev["stage"] == "negotiation":
            moved += 1
        elif ev["type"] == "deal.lost":
            lost += 1
    return (moved / (moved + lost) if moved + lost else 0.0), moved + lost


def harness_ms(s):
    import calendar
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(s[20:23])


if __name__ == "__main__":
    harness.run(NAME, __doc__, body)
