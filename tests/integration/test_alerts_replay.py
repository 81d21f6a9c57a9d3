#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A replay gives the alerts a live run gave (docs/alerts.md, "The clock"). One stream of twelve
days of event time (Asia/Shanghai, from Monday 2026-03-02 00:00 local) is fed twice into a fresh
Redis, mock cluster and funneld:
  - replay: every event produced before funneld starts (one batch spans the twelve days);
  - live: the events produced three event-hours at a time, each chunk only once the evaluator has
    judged the one before, so that at every evaluation Redis holds no event after the clock.
Both must write the same notifications: same rule, scope, id, state, value, samples and time.

The stream: 12 reps in three teams, each making 8 calls a day (every day, 09:15-16:15 local) and
opening 4 deals a day, 3 of which move on and are won, 1 lost at proposal; an ops bot logs an
email every hour round the clock (it keeps the clock moving at night and starts it at 00:00).
  - rep-a1 (silent) makes no call Monday to Wednesday of week 2, 24 on Thursday, 8 on Friday;
  - rep-b2 (slow) makes 2 calls a day from week 2 on;
  - rep-c3 (collapse) loses every deal on Wednesday and Thursday of week 1.
The rules cover threshold, target and drift conditions on rolling windows (24h) and calendar
windows (day, week), for reps and teams (docs/alerts.md). Besides equality, the values of the
calendar notifications are checked against the events themselves: a KPI is what happened in the
window before the hour of the clock, never an event after it.

Every notification (the stream's JSON, the document produced to funnel.alerts) matches
docs/schemas/alerts.schema.json.

Python 3 standard library and python3-jsonschema.
Usage: test_alerts_replay.py --build-dir DIR [--source-dir DIR]
"""

import calendar
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import harness  # noqa: E402
import schemas  # noqa: E402
from harness import TestFailure  # noqa: E402

NAME = "test_alerts_replay"
H = 3600 * 1000
D = 24 * H
TZ_OFFSET = 8 * H                      # Asia/Shanghai, no DST
START_MS = 1772380800000               # 2026-03-02T00:00:00+08:00 (a Monday) = 03-01T16:00Z
DAYS = 12
WEEK2 = START_MS + 7 * D               # Monday of week 2, 00:00 local
TEAMS = {"team-a": ["rep-a1", "rep-a2", "rep-a3", "rep-a4"],
         "team-b": ["rep-b1", "rep-b2", "rep-b3", "rep-b4"],
         "team-c": ["rep-c1", "rep-c2", "rep-c3", "rep-c4"]}
SILENT, SLOW, COLLAPSE = "rep-a1", "rep-b2", "rep-c3"
CHUNK_HOURS = 3

SALES = sorted(TEAMS)
RULES = {
    "locale": "en",
    "clock": "event",
    "evaluate_every": "1s",
    "managers": {"team-a": "Ann", "team-b": "Bob", "team-c": "Cid"},
    "rules": [
        # target pace on a calendar week: 56 calls a week, fire when under half the pace
        {"name": "calls-pace", "kpi": "activity:call", "scope": "rep", "window": "week",
         "teams": SALES, "target": {"op": ">=", "value": 56, "tolerance": 0.5},
         "for": "12h", "resolve_for": "6h"},
        {"name": "team-calls-pace", "kpi": "activity:call", "scope": "team", "window": "week",
         "teams": SALES, "target": {"op": ">=", "value": 224, "tolerance": 0.5},
         "for": "12h", "resolve_for": "3h"},
        # threshold on a rolling window: no call in the last 24 hours
        {"name": "calls-silent", "kpi": "activity:call", "scope": "rep", "window": "24h",
         "teams": SALES, "severity": "critical", "threshold": {"op": "<", "value": 1},
         "for": "2h"},
        # threshold on a calendar day: today's exit conversion of proposals
        {"name": "exit-day", "kpi": "exit_conv:proposal", "scope": "rep", "window": "day",
         "teams": SALES, "threshold": {"op": "<", "value": 0.25}, "min_samples": 3},
        # threshold on a rolling window with hysteresis
        {"name": "exit-24h", "kpi": "exit_conv:proposal", "scope": "rep", "window": "24h",
         "teams": SALES, "threshold": {"op": "<", "value": 0.3}, "min_samples": 4,
         "for": "2h", "resolve_for": "2h", "hysteresis": 0.1},
        # drift of a volume KPI against the 3 days before
        {"name": "calls-drift", "kpi": "activity:call", "scope": "rep", "window": "24h",
         "teams": SALES, "drift": {"baseline_days": 3, "max_change": 0.5, "direction": "down"},
         "for": "1h"},
        # an org rule that must stay quiet
        {"name": "org-win-rate", "kpi": "win_rate", "scope": "org", "window": "48h",
         "threshold": {"op": "<", "value": 0.5}, "min_samples": 10},
    ],
}


class Msg:
    def __init__(self, key, value):
        self.key = key.encode()
        self.value = value.encode()


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def parse_ms(s):
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(s[20:23])


def local(day, hour, minute=0):
    """Epoch ms of local time `hour:minute` on day `day` (0 = Monday 2026-03-02)."""
    return START_MS + day * D + hour * H + minute * 60000


def calls_of(rep, day):
    """Local (hour, minute) of rep's calls on day."""
    if rep == SILENT and 7 <= day <= 9:
        return []
    if rep == SILENT and day == 10:
        return [(h, m) for h in range(9, 17) for m in (5, 25, 45)]
    if rep == SLOW and day >= 7:
        return [(9, 15), (10, 15)]
    return [(h, 15) for h in range(9, 17)]


def generate():
    evs = []
    n = [0]

    def add(ms, key, ev):
        n[0] += 1
        ev = dict(ev, event_id="e-%06d" % n[0], occurred_at=iso(ms))
        evs.append((ms, n[0], key, ev))

    for day in range(DAYS):
        for hour in range(24):
            add(local(day, hour), "ops-bot", {"type": "activity.logged", "rep_id": "ops-bot",
                                              "team_id": "ops", "activity": "email"})
        for team, reps in TEAMS.items():
            for rep in reps:
                base = {"rep_id": rep, "team_id": team}
                for hh, mm in calls_of(rep, day):
                    add(local(day, hh, mm), rep, dict(base, type="activity.logged",
                                                       activity="call"))
                for k, hh in enumerate((9, 11, 13, 15)):
                    deal = "d-%s-%02d-%d" % (rep, day, k)
                    t = local(day, hh, 30)
                    add(t, deal, dict(base, type="deal.created", deal_id=deal, stage="lead",
                                      amount=1000))
                    add(t + 10 * 60000, deal, dict(base, type="deal.stage_changed",
                                                   deal_id=deal, stage="proposal"))
                    lost = k == 3 or (rep == COLLAPSE and day in (2, 3))
                    if lost:
                        add(t + 2 * H + 10 * 60000, deal, dict(base, type="deal.lost",
                                                               deal_id=deal, stage="proposal"))
                    else:
                        add(t + 2 * H + 10 * 60000, deal, dict(base, type="deal.stage_changed",
                                                               deal_id=deal, stage="negotiation"))
                        add(t + 3 * H + 10 * 60000, deal, dict(base, type="deal.won",
                                                               deal_id=deal))
    evs.sort(key=lambda e: (e[0], e[1]))
    return [(ms, Msg(key, json.dumps(ev, separators=(",", ":")))) for ms, _, key, ev in evs]


def read_stream(r, prefix):
    out = []
    for entry in r.call("XRANGE", prefix + ":alerts", "-", "+"):
        out.append(json.loads(harness.pairs_to_dict(entry[1])[b"json"]))
    return out


def wait_evaluated(h, r, clock_ms, timeout, what):
    """Waits until a complete sweep ran at an event clock >= clock_ms."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = r.call("HGET", h.prefix + ":clock", "evaluated_ms")
        if v is not None and int(v) >= clock_ms:
            return
        for p in h.funnelds:
            if not p.alive():
                raise TestFailure("funneld died:\n" + p.tail())
        time.sleep(0.05)
    raise TestFailure("%s: no sweep reached %s within %d s (clock %r)"
                      % (what, iso(clock_ms), timeout,
                         r.call("HGETALL", h.prefix + ":clock")))


def stop_all(h):
    """Stops what the last run started: funneld, the broker, Redis."""
    for p in reversed(h.procs):
        if p.alive():
            p.stop(timeout=15)
    h.procs, h.funnelds, h.mock, h.redis_proc = [], [], None, None


def run_once(h, label, stream, rules_path, live):
    """One fresh Redis + broker + funneld; returns the notifications written."""
    stop_all(h)
    h.prefix = "rp" + label
    h.start_redis(fresh=True)
    h.start_mock()
    settings = h.funneld_settings(alerts__rules=rules_path, alerts__lease_ms=3000,
                                  batch__max_events=100000)
    r = h.redis()
    last_ms = stream[-1][0]
    if not live:
        nexts = h.produce([m for _, m in stream])
        h.start_funneld(label, settings)
        h.wait_done(nexts, 120)
    else:
        h.start_funneld(label, settings)
        i = 0
        end = START_MS + CHUNK_HOURS * H
        while i < len(stream):
            j = i
            while j < len(stream) and stream[j][0] < end:
                j += 1
            if j > i:
                nexts = h.produce([m for _, m in stream[i:j]])
                h.wait_done(nexts, 60)
                # judged as of the chunk's last event: nothing after it is in Redis yet
                wait_evaluated(h, r, stream[j - 1][0] // H * H, 60, "live chunk")
            i = j
            end += CHUNK_HOURS * H
    wait_evaluated(h, r, last_ms // H * H, 120, label)
    deadline = time.time() + 30
    while r.call("HLEN", h.prefix + ":alerts:outbox") != 0 and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(2)  # further sweeps at the same clock must add nothing
    alerts = read_stream(r, h.prefix)
    r.close()
    schemas.validate("alerts", alerts, "%s notifications" % label)
    h.log("%s: %d notifications" % (label, len(alerts)))
    return alerts


def key_of(a):
    """What must be equal between the runs (ids are random per run: alert and episode ids)."""
    value = None if a["value"] is None else round(a["value"], 4)
    return (a["rule"], a["scope"], a["scope_id"], a["state"], value, a["samples"], a["at"],
            a.get("expected"), a.get("baseline"), a["started_at"], a["resolved_at"],
            a["manager"])


def week_start(ms):
    day = (ms - START_MS) // D
    return START_MS + (day // 7) * 7 * D


def day_start(ms):
    return START_MS + (ms - START_MS) // D * D


def oracle_value(stream, a):
    """The KPI of a calendar notification from the events: the window from its start to the
    start of the hour of the clock."""
    at = parse_ms(a["at"])
    hour = at // H * H
    rep = a["scope_id"]
    evs = [json.loads(m.value) for ms, m in stream if ms < hour]
    if a["rule"] in ("calls-pace", "team-calls-pace"):
        lo = week_start(at)
        return sum(1 for e in evs if e["type"] == "activity.logged" and e["activity"] == "call"
                   and (e["rep_id"] == rep or e["team_id"] == rep)
                   and parse_ms(e["occurred_at"]) >= lo)
    if a["rule"] == "exit-day":
        lo = day_start(at)
        moved = sum(1 for e in evs if e["rep_id"] == rep and e["type"] == "deal.stage_changed"
                    and e["stage"] == "negotiation" and parse_ms(e["occurred_at"]) >= lo)
        lost = sum(1 for e in evs if e["rep_id"] == rep and e["type"] == "deal.lost"
                   and parse_ms(e["occurred_at"]) >= lo)
        return round(moved / (moved + lost), 4) if moved + lost else None
    return "n/a"


def body(h, args):
    h.log = lambda m: print("[%s] %s" % (NAME, m), flush=True)
    harness.PARTITIONS = 1   # one partition: the watermark is the latest event applied
    h.tz = "Asia/Shanghai"
    stream = generate()
    h.log("%d events over %d days" % (len(stream), DAYS))
    rules_path = os.path.join(h.tmp, "rules.json")
    with open(rules_path, "w") as f:
        json.dump(RULES, f)
    replay = run_once(h, "replay", stream, rules_path, live=False)
    live = run_once(h, "live", stream, rules_path, live=True)
    for a in replay:
        h.log("replay: %-15s %-8s %-7s %-9s value=%s samples=%s at %s"
              % (a["rule"], a["scope_id"], a["state"], a.get("expected"), a["value"],
                 a["samples"], a["at"]))
    rk = sorted(key_of(a) for a in replay)
    lk = sorted(key_of(a) for a in live)
    if rk != lk:
        only_r = [k for k in rk if k not in lk]
        only_l = [k for k in lk if k not in rk]
        raise TestFailure("replay and live differ:\n only in the replay: %s\n only live: %s"
                          % ("\n   ".join(map(str, only_r)), "\n   ".join(map(str, only_l))))
    # every calendar value is what the events say before the hour of the clock
    for a in replay:
        want = oracle_value(stream, a)
        if want != "n/a" and want != (None if a["value"] is None else round(a["value"], 4)):
            raise TestFailure("%s %s %s at %s: value %s, the events before the hour say %s"
                              % (a["rule"], a["scope_id"], a["state"], a["at"], a["value"],
                                 want))
    got = {}
    for a in replay:
        got.setdefault((a["rule"], a["scope_id"]), []).append(a)
    # who fires: the three reps of the story (and their teams), nobody else
    expected_ids = {SILENT, SLOW, COLLAPSE, "team-a", "team-b"}
    stray = sorted({sid for (_, sid) in got} - expected_ids)
    if stray:
        raise TestFailure("alerts for healthy scopes: %s" % stray)

    def firsts(rule, rep, state):
        return [a for a in got.get((rule, rep), []) if a["state"] == state]

    # the silent rep falls behind the weekly pace in week 2 before making a call (value 0),
    # and resolves on Thursday once the calls are back, never before them
    f = firsts("calls-pace", SILENT, "firing")
    if not f or f[0]["value"] != 0 or not WEEK2 <= parse_ms(f[0]["at"]) < WEEK2 + 2 * D:
        raise TestFailure("calls-pace for %s: %s" % (SILENT, [(a["at"], a["value"]) for a in f]))
    res = firsts("calls-pace", SILENT, "resolved")
    if not res or parse_ms(res[0]["at"]) < local(10, 10):
        raise TestFailure("calls-pace for %s resolved %s, before the calls came back"
                          % (SILENT, [a["at"] for a in res]))
    # the slow rep fires in week 2 with the calls made so far
    f = firsts("calls-pace", SLOW, "firing")
    if not f or not WEEK2 <= parse_ms(f[0]["at"]) < WEEK2 + 4 * D:
        raise TestFailure("calls-pace for %s: %s" % (SLOW, [(a["at"], a["value"]) for a in f]))
    # the silent rep's rolling 24 h goes silent on Monday of week 2
    f = firsts("calls-silent", SILENT, "firing")
    if not f or not local(7, 16) <= parse_ms(f[0]["at"]) <= local(7, 20):
        raise TestFailure("calls-silent for %s: %s" % (SILENT, [a["at"] for a in f]))
    # the collapsed rep's day fires on Wednesday afternoon, once 3 proposals were decided
    f = firsts("exit-day", COLLAPSE, "firing")
    if not f or f[0]["at"] != iso(local(2, 16)) or f[0]["value"] != 0 or f[0]["samples"] != 3:
        raise TestFailure("exit-day for %s: %s" % (COLLAPSE, [(a["at"], a["value"], a["samples"])
                                                             for a in f]))
    if not firsts("exit-24h", COLLAPSE, "firing") or not firsts("calls-drift", SLOW, "firing"):
        raise TestFailure("exit-24h or calls-drift did not fire: %s" % sorted(got))
    h.log("OK: replay and live wrote the same %d notifications (%d rules, %d scopes)"
          % (len(replay), len({a["rule"] for a in replay}),
             len({a["scope_id"] for a in replay})))


if __name__ == "__main__":
    harness.run(NAME, __doc__, body)
