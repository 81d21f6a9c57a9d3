#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Rebalance: two funneld instances in one consumer group. B joins mid-run (the partitions are
split: new fencing tokens in Redis), later A gets SIGTERM and must leave gracefully (apply its
batch, commit, exit 0) while B takes its partitions over; the final Redis content must equal the
model."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402


def body(h, args):
    msgs, mdl, gen = harness.generate(h, args, 70000, tz="Asia/Shanghai", big_payloads=False)
    h.start_redis()
    h.start_mock()
    feed = h.start_feed(msgs, seconds=50)
    a = h.start_funneld("A", h.funneld_settings(**harness.GROUP_SETTINGS, **{"instance.id": "it-A"}))
    h.wait_progress(lambda c: sum(c.values()) > 0, 60, "A to apply a first batch")
    harness.wait_feed(feed, 0.25)

    r = h.redis()
    try:
        before = h.tokens(r)
        b = h.start_funneld("B", h.funneld_settings(**harness.GROUP_SETTINGS, **{"instance.id": "it-B"}))
        # The rebalance is visible in Redis: the partitions given to B are claimed with new tokens.
        deadline = time.time() + 60
        while True:
            now = h.tokens(r)
            changed = [p for p in now if now[p] != before[p]]
            # B holds a partition (A re-claiming its own share also changes tokens)
            if changed and b.alive() and any("it-B" in (t or "") for t in now.values()):
                break
            if time.time() > deadline:
                raise harness.TestFailure("B claimed no partition within 60 s of joining; "
                                          "tokens %s" % now)
            time.sleep(0.1)
        time.sleep(2)
        now = h.tokens(r)
        owners = {p: ("B" if "it-B" in (t or "") else "A" if "it-A" in (t or "") else "?")
                  for p, t in now.items()}
        print("[rebalance] B joined at %.0f%% of the feed; partitions claimed again: %s; owners "
              "by token: %s" % (100 * feed.fraction(), changed, owners), flush=True)
        if feed.fraction() >= 1:
            raise harness.TestFailure("the feed ended before the rebalance finished")

        harness.wait_feed(feed, 0.6)
        base = h.progress(r)
        t = time.time()
        a.send(signal.SIGTERM)
        rc = a.wait(45)
        if rc is None:
            raise harness.TestFailure("A did not exit within 45 s of SIGTERM")
        if rc != 0:
            raise harness.TestFailure("A exited %s after SIGTERM, expected 0" % rc)
        print("[rebalance] A left gracefully in %.1f s at %.0f%% of the feed (progress %d)"
              % (time.time() - t, 100 * feed.fraction(), sum(base.values())), flush=True)
    finally:
        r.close()
    nxt = feed.join()
    h.wait_done(nxt, timeout=180)
    h.compare(mdl)
    rc = b.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("B exited %s after SIGTERM, expected 0" % rc)
    print("[rebalance] OK: %d messages, rebalance on join and on graceful leave; Redis equals "
          "the model; both instances exit 0" % sum(nxt.values()))


if __name__ == "__main__":
    harness.run("rebalance", __doc__, body)
