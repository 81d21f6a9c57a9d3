#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The open pipeline, cycle time and rep -> team, end to end: a hand-over (a deal moves from rep
A of team X to rep B of team Y), a lost-then-reopened deal, a late deal.lost dated before the
re-opening (the deal stays open), a won deal's cycle time, and a rep whose latest event has no
team_id (rep_team keeps the team of the latest event that names one). Redis must hold exactly
the values worked out by hand below, and equal the independent model everywhere else."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import model  # noqa: E402
from harness import TestFailure, pairs_to_dict  # noqa: E402

T = 1795000000000  # 2026-11-18T09:46:40Z
H = 3600000
DAY = 24 * H


def msg(i, type_, t, rep, team, deal=None, stage=None, amount=None, activity=None):
    ev = model.Event("pipe-%d" % i, type_, t, rep, team or "unassigned", deal,
                     None if stage is None else model.DEFAULT_STAGES.index(stage),
                     None if amount is None else model.llround_hundredths(amount),
                     activity=activity)
    obj = {"event_id": ev.event_id, "type": type_, "occurred_at": t, "rep_id": rep}
    if team is not None:
        obj["team_id"] = team
    for k, v in (("deal_id", deal), ("stage", stage), ("activity", activity)):
        if v is not None:
            obj[k] = v
    value = json.dumps(obj)
    if amount is not None:
        value = value[:-1] + ', "amount": %s}' % amount
    return model.Msg((deal or rep).encode(), value.encode(), ev, None, note=type_)


def body(h, args):
    msgs = [
        # hand-over: anna (north) creates, bob (south) moves it on an hour later
        msg(1, "deal.created", T, "anna", "north", "h1", "lead", "1000"),
        msg(2, "deal.stage_changed", T + H, "bob", "south", "h1", "qualified"),
        # lost, then re-opened by a later stage change (backwards: no counter moves), then a
        # late deal.lost dated before the re-opening: it stays open, held by anna
        msg(3, "deal.created", T, "anna", "north", "r1", "proposal", "250.50"),
        msg(4, "deal.lost", T + H, "anna", "north", "r1"),
        msg(5, "deal.stage_changed", T + 3 * H, "anna", "north", "r1", "qualified"),
        msg(6, "deal.lost", T + 2 * H, "carl", "west", "r1"),
        # won 10 days after its creation: a cycle of 10 days
        msg(7, "deal.created", T - 10 * DAY, "carl", "west", "w1", None, "99.99"),
        msg(8, "deal.won", T, "carl", "west", "w1"),
        # dana names team east, then sends an event without team_id (counts as unassigned)
        msg(9, "activity.logged", T, "dana", "east", activity="call"),
        msg(10, "activity.logged", T + H, "dana", None, activity="visit"),
    ]
    h.tz = "UTC"
    mdl = model.Model(prefix=h.prefix, tz="UTC").run(msgs)
    h.start_redis()
    h.start_mock()
    nxt = h.produce(msgs)
    fd = h.start_funneld("A")
    h.wait_done(nxt, timeout=120)
    h.compare(mdl)

    p = h.prefix
    r = h.redis()
    try:
        def fields(key, prefix):
            got = pairs_to_dict(r.call("HGETALL", p + ":" + key))
            return {a.decode(): b.decode() for a, b in got.items()
                    if a.decode().startswith(prefix)}

        want = {
            "org:all": {"open:qualified": "1", "open_amount:qualified": "1000.00",
                        "open:proposal": "1", "open_amount:proposal": "250.50", "open": "2",
                        "open_amount": "1250.50"},
            "rep:all:bob": {"open:qualified": "1", "open_amount:qualified": "1000.00",
                            "open": "1", "open_amount": "1000.00"},
            "team:all:south": {"open:qualified": "1", "open_amount:qualified": "1000.00",
                               "open": "1", "open_amount": "1000.00"},
            "rep:all:anna": {"open:proposal": "1", "open_amount:proposal": "250.50",
                             "open": "1", "open_amount": "250.50"},
            "team:all:north": {"open:proposal": "1", "open_amount:proposal": "250.50",
                               "open": "1", "open_amount": "250.50"},
            "rep:all:carl": {},
            "team:all:west": {},
            "org:day:2026-11-18": {},
            "rep:month:2026-11:bob": {},
        }
        for key, fw in want.items():
            got = fields(key, "open")
            if got != fw:
                raise TestFailure("%s: open pipeline %s, expected %s" % (key, got, fw))
        cyc = fields("rep:all:carl", "cycle")
        if cyc != {"cycle_sum_ms": str(10 * DAY), "cycle_count": "1", "cycle_days": "10.00"}:
            raise TestFailure("rep:all:carl cycle fields %s" % cyc)
        avg = r.call("HGET", p + ":rep:month:2026-11:carl", "avg_won_amount")
        if avg != b"99.99":
            raise TestFailure("avg_won_amount of carl %r, expected 99.99" % avg)
        rt = {a.decode(): b.decode() for a, b in pairs_to_dict(
            r.call("HGETALL", p + ":rep_team")).items()}
        if rt != {"anna": "north", "bob": "south", "carl": "west", "dana": "east"}:
            raise TestFailure("rep_team %s" % rt)
        at = {a.decode(): b.decode() for a, b in pairs_to_dict(
            r.call("HGETALL", p + ":rep_team:at")).items()}
        if at != {"anna": str(T + 3 * H), "bob": str(T + H), "carl": str(T + 2 * H),
                  "dana": str(T)}:
            raise TestFailure("rep_team:at %s" % at)
        if r.call("HGET", p + ":team:all:unassigned", "activity:visit") != b"1":
            raise TestFailure("dana's event without team_id does not count for unassigned")
    finally:
        r.close()
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise TestFailure("funneld exited %s after SIGTERM" % rc)
    print("[pipeline] OK: hand-over, re-opened deal, late loss, cycle and rep_team exact")


if __name__ == "__main__":
    harness.run("pipeline", __doc__, body)
