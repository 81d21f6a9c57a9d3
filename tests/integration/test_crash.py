#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Crash test: while >= 100,000 generated events (duplicates, out-of-order, malformed) stream in,
funneld is killed with SIGKILL at 6 seeded random moments (one of them right after start-up, while
it claims its partitions) and restarted each time; the final Redis content must equal the model,
i.e. what an uninterrupted run produces, and every rejected message must have a dead letter (some
twice: delivery is at-least-once). The business timezone is America/New_York (DST)."""

import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402

KILLS = 6


def body(h, args):
    msgs, mdl, gen = harness.generate(h, args, 100000, tz="America/New_York")
    rng = random.Random(args.seed ^ 0xC0FFEE)
    h.start_redis()
    h.start_mock()
    settings = h.funneld_settings(**harness.GROUP_SETTINGS)
    # Each restart waits for the killed member's session to expire (6 s) and a join (~3 s):
    # spread the stream so that every kill lands while events are still flowing.
    feed = h.start_feed(msgs, seconds=85)
    fd = h.start_funneld("run1", settings)
    r = h.redis()
    kills = []
    try:
        while len(kills) < KILLS:
            if len(kills) == 2:
                # Kill during start-up: while it joins the group and claims partitions.
                time.sleep(rng.uniform(2.5, 4.5))
            else:
                base = sum(h.progress(r).values())
                h.wait_progress(lambda c: sum(c.values()) > base, 60,
                                "the restarted funneld to apply a batch")
                time.sleep(rng.uniform(0.05, 2.5))
            if not fd.alive():
                raise harness.TestFailure("funneld %s exited by itself (rc %s)"
                                          % (fd.name, fd.popen.returncode))
            fd.send(signal.SIGKILL)
            fd.wait(10)
            done = sum(h.progress(r).values())
            kills.append(done)
            print("[crash] SIGKILL %d at %d applied messages (feed %.0f%% sent)"
                  % (len(kills), done, 100 * feed.fraction()), flush=True)
            fd = h.start_funneld("run%d" % (len(kills) + 1), settings)
    finally:
        r.close()
    nxt = feed.join()
    total = sum(nxt.values())
    if feed.fraction() < 1 or kills[-1] >= total:
        raise harness.TestFailure("the kills did not all land during processing: %s of %d"
                                  % (kills, total))
    h.wait_done(nxt, timeout=180)
    h.compare(mdl)
    n = h.check_dead_letters(msgs, total, exactly_once=False)
    print("[crash] %d dead letters: every rejected message has one (%d repeated by the kills)"
          % (n, n - mdl.expected_stats()["rejected"]), flush=True)
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("last funneld exited %s after SIGTERM, expected 0" % rc)
    print("[crash] OK: %d SIGKILLs at %s of %d messages; Redis equals the model"
          % (len(kills), kills, total))


if __name__ == "__main__":
    harness.run("crash", __doc__, body)
