#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Restarts do not stall: a stream of generated events (duplicates, out-of-order, malformed)
interleaved with late deal.created events (one every 25 messages, each of a deal whose earlier
events were produced at least 3,000 messages before: a CRM re-sending a creation, or one that
arrived late) flows in while funneld is killed with SIGKILL 4 times and restarted. A restarted
funneld has nothing cached, so it folds the first deal.created it reads of such a deal as a new
deal; Redis, which holds the deal's state, refuses that batch. funneld must refold it with the
stored states under the claims it holds: the log shows `batch refolded with stored deal states`
(at least once per restart into the backlog), never a rejoin of the group; each partition is
claimed exactly once per start (its `epoch` rises by exactly one per restart); the refusals are
counted in funneld_applies_refused_total{reason="conflict"}; and the final Redis content equals
the independent model field by field."""

import json
import os
import random
import re
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import model  # noqa: E402

KILLS = 4
LATE_EVERY = 25      # one late deal.created every LATE_EVERY messages
LATE_DISTANCE = 3000  # ... of a deal first seen at least this many messages earlier
REFOLD = "batch refolded with stored deal states"


def with_late_creates(msgs, mdl_stages, rng):
    """msgs with late deal.created events inserted; each names a deal whose first message is at
    least LATE_DISTANCE messages earlier (so its state is in Redis when the creation is read
    after a restart), at stage 0 or at a later stage, under a new event id."""
    first_pos = {}
    out = []
    late = 0
    candidates = []  # deals by first position, oldest first
    used = set()
    nxt = 0  # the next candidate old enough
    for i, m in enumerate(msgs):
        ev = m.event
        if ev is not None and ev.deal is not None and ev.deal not in first_pos:
            first_pos[ev.deal] = len(out)
            candidates.append(ev.deal)
        out.append(m)
        if i % LATE_EVERY != LATE_EVERY - 1:
            continue
        # the oldest unused deal that is far enough back
        while nxt < len(candidates) and candidates[nxt] in used:
            nxt += 1
        if nxt >= len(candidates) or first_pos[candidates[nxt]] > len(out) - LATE_DISTANCE:
            continue
        deal = candidates[nxt]
        used.add(deal)
        stage = 0 if rng.random() < 0.5 else 2
        t_ms = 1790000000000 + late * 60000
        ev = model.Event(event_id="late-create-%d" % late, type="deal.created", t_ms=t_ms,
                         rep="Late Creator", team="emea", deal=deal, stage=stage)
        value = json.dumps({"event_id": ev.event_id, "type": ev.type, "occurred_at": t_ms,
                            "rep_id": ev.rep, "team_id": ev.team, "deal_id": deal,
                            "stage": mdl_stages[stage]}).encode()
        out.append(model.Msg(key=deal.encode(), value=value, event=ev, reject=None,
                             note="late create"))
        late += 1
    return out, late


def refused_conflicts(fd):
    """funneld_applies_refused_total{reason="conflict"} from fd's /metrics."""
    with urllib.request.urlopen(fd.http_url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    m = re.search(r'^funneld_applies_refused_total\{reason="conflict"\} (\d+)', text, re.M)
    if m is None:
        raise harness.TestFailure("/metrics has no conflict refusal counter:\n" + text[:2000])
    return int(m.group(1))


def body(h, args):
    base, _, gen = harness.generate(h, args, 40000, tz="Europe/Paris")
    rng = random.Random(args.seed ^ 0x5EED)
    msgs, late = with_late_creates(base, model.DEFAULT_STAGES, rng)
    mdl = model.Model(tz=h.tz, prefix=h.prefix).run(msgs)
    print("[nostall] %d messages, %d of them late deal.created events of earlier deals"
          % (len(msgs), late), flush=True)
    h.start_redis()
    h.start_mock()
    # small batches, so that each life of funneld applies many of them
    settings = h.funneld_settings(**harness.GROUP_SETTINGS, **{
        "batch.max_events": "300", "batch.catchup_max_events": "1500"})
    feed = h.start_feed(msgs, seconds=55)
    lives = [h.start_funneld("run1", settings)]
    r = h.redis()
    kills = []
    try:
        while len(kills) < KILLS:
            fd = lives[-1]
            base_done = sum(h.progress(r).values())
            h.wait_progress(lambda c: sum(c.values()) > base_done + 2000, 60,
                            "funneld %s to apply batches" % fd.name)
            time.sleep(rng.uniform(0.2, 1.5))
            if not fd.alive():
                raise harness.TestFailure("funneld %s exited by itself (rc %s)"
                                          % (fd.name, fd.popen.returncode))
            fd.send(signal.SIGKILL)
            fd.wait(10)
            done = sum(h.progress(r).values())
            kills.append(done)
            print("[nostall] SIGKILL %d at %d applied messages (feed %.0f%% sent)"
                  % (len(kills), done, 100 * feed.fraction()), flush=True)
            lives.append(h.start_funneld("run%d" % (len(kills) + 1), settings))
    finally:
        r.close()
    nxt = feed.join()
    total = sum(nxt.values())
    if kills[-1] >= total:
        raise harness.TestFailure("the last kill came after the end of the stream: %s of %d"
                                  % (kills, total))
    h.wait_done(nxt, timeout=120)
    last = lives[-1]
    conflicts = refused_conflicts(last)
    rc = last.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("last funneld exited %s after SIGTERM, expected 0" % rc)

    # Every life claimed each partition once (no re-claim after a conflict, no rejoin), and
    # each restart into the backlog refolded at least one batch.
    refolds = []
    for i, fd in enumerate(lives):
        log = open(fd.log_path, encoding="utf-8", errors="replace").read()
        claims = len(re.findall(r"service: claimed crm\.events\[\d+\]", log))
        n = log.count(REFOLD)
        refolds.append(n)
        if "rejoining" in log:
            raise harness.TestFailure("funneld %s dropped a batch and rejoined the group:\n%s"
                                      % (fd.name, fd.tail(40)))
        # the consumer was moved back exactly: no message of the old position came after it
        for stale in ("below the stored offset", "resumed at offset"):
            if stale in log:
                raise harness.TestFailure("funneld %s read a message of the position before a "
                                          "refold (%r):\n%s" % (fd.name, stale, fd.tail(40)))
        if claims != harness.PARTITIONS:
            raise harness.TestFailure("funneld %s claimed %d partitions, expected each of the %d "
                                      "once:\n%s" % (fd.name, claims, harness.PARTITIONS,
                                                     fd.tail(40)))
        if i > 0 and n == 0:
            raise harness.TestFailure("funneld %s, restarted into a backlog of late creations, "
                                      "refolded no batch:\n%s" % (fd.name, fd.tail(40)))
    if conflicts != refolds[-1]:
        raise harness.TestFailure("the last funneld logged %d refolds but counted %d conflict "
                                  "refusals in /metrics" % (refolds[-1], conflicts))
    r = h.redis()
    try:
        epochs = r.pipeline([["HGET", "%s:part:%s:%d" % (h.prefix, harness.TOPIC, p), "epoch"]
                             for p in range(harness.PARTITIONS)])
    finally:
        r.close()
    epochs = [int(e) if isinstance(e, bytes) else 0 for e in epochs]
    if epochs != [len(lives)] * harness.PARTITIONS:
        raise harness.TestFailure("part epochs %s after %d starts: expected exactly one claim "
                                  "per start" % (epochs, len(lives)))
    h.compare(mdl)
    print("[nostall] OK: %d SIGKILLs at %s of %d messages; refolds per life %s (no rejoin); "
          "epochs %s; Redis equals the model" % (len(kills), kills, total, refolds, epochs[0]))


if __name__ == "__main__":
    harness.run("nostall", __doc__, body)
