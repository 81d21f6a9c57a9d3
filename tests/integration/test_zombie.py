#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Zombie fencing: two funneld instances in one group; A is frozen with SIGSTOP mid-run until the
group has given all its partitions to B (B advances every partition), then thawed with SIGCONT.
A wakes up holding stale partitions (and possibly a pending batch): its applies must be refused
by the fencing token, it must rejoin, and nothing may be corrupted: the final Redis content must
equal the model, and both instances must still exit 0 on SIGTERM."""

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
    feed = h.start_feed(msgs, seconds=70)
    # A lingers 3 s over each batch, so that it is almost surely frozen holding one: on SIGCONT
    # it tries to apply a batch of partitions it no longer owns.
    a = h.start_funneld("A", h.funneld_settings(**harness.GROUP_SETTINGS, **{
        "instance.id": "it-A", "batch.linger_ms": "3000", "batch.max_events": "100000"}))
    h.wait_progress(lambda c: sum(c.values()) > 0, 60, "A to apply a first batch")
    r = h.redis()
    try:
        before = h.tokens(r)
        b = h.start_funneld("B", h.funneld_settings(**harness.GROUP_SETTINGS, **{"instance.id": "it-B"}))
        deadline = time.time() + 60
        while not [p for p, t in h.tokens(r).items() if t != before[p]]:
            if time.time() > deadline:
                raise harness.TestFailure("B never claimed a partition")
            time.sleep(0.1)
        time.sleep(3)  # let the rebalance settle and both instances apply batches
        at_stop = h.progress(r)
        tokens_at_stop = h.tokens(r)
        a.send(signal.SIGSTOP)
        a.stopped = True
        t_stop = time.time()
        print("[zombie] SIGSTOP A at %.0f%% of the feed, progress %d; tokens %s"
              % (100 * feed.fraction(), sum(at_stop.values()), tokens_at_stop), flush=True)
        # B has taken everything over once every partition moves on past where it was.
        h.wait_progress(lambda c: all(c[p] > at_stop[p] for p in c), 60,
                        "B to advance every partition while A is frozen")
        took = time.time() - t_stop
        reclaimed = [p for p, t in h.tokens(r).items() if t != tokens_at_stop[p]]
        time.sleep(2)
        if feed.fraction() >= 1:
            raise harness.TestFailure("the feed ended while A was frozen: too little data")
        a.send(signal.SIGCONT)
        a.stopped = False
        print("[zombie] B advanced every partition %.1f s after the stop (partitions claimed "
              "again: %s); SIGCONT A after %.1f s frozen, feed at %.0f%%"
              % (took, reclaimed, time.time() - t_stop, 100 * feed.fraction()), flush=True)
    finally:
        r.close()
    nxt = feed.join()
    h.wait_done(nxt, timeout=180)
    h.compare(mdl)
    with open(a.log_path, "rb") as f:
        log = f.read().decode("utf-8", "replace").lower()
    # refused by its fencing token (FENCED / GAP), or first by another check of the same script
    # (EXISTS: a deal it folded as new was stored by B meanwhile); either way nothing is written
    fenced = sum(1 for line in log.splitlines() if "batch refused by redis" in line)
    if fenced < 1:
        raise harness.TestFailure("A's log shows no refused apply after SIGCONT: it held a "
                                  "batch of partitions it no longer owned, which the fencing "
                                  "token must refuse")
    if not a.alive():
        raise harness.TestFailure("A died after SIGCONT (rc %s), expected it to rejoin"
                                  % a.popen.returncode)
    ra = a.stop(timeout=30)
    rb = b.stop(timeout=30)
    if ra != 0 or rb != 0:
        raise harness.TestFailure("exit codes after SIGTERM: A %s, B %s; expected 0" % (ra, rb))
    print("[zombie] OK: %d messages; A frozen past its session, thawed, %d log lines of A mention a "
          "refused/fenced apply; Redis equals the model; both exit 0" % (sum(nxt.values()), fenced))


if __name__ == "__main__":
    harness.run("zombie", __doc__, body)
