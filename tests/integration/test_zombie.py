#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Zombie fencing: two funneld instances in one group; A is frozen with SIGSTOP mid-run until the
group has given all its partitions to B (B advances every partition), then thawed with SIGCONT.
A wakes up holding stale partitions (and possibly a pending batch): its applies must be refused
by the fencing token, it must rejoin, and nothing may be corrupted: the final Redis content must
equal the model, and both instances must still exit 0 on SIGTERM."""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402


def a_log(a):
    with open(a.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def owns_partitions(text):
    """A's log: has it claimed partitions since its last revocation?"""
    claim = text.rfind("service: claimed ")
    return claim >= 0 and claim > text.rfind(" partition(s) revoked")


def freeze_mid_batch(h, a, r, feed, attempts=10):
    """SIGSTOPs A while it owns partitions and holds a pending batch with no apply in flight: one
    second after an apply of its partitions is seen in Redis (the next one is 3 s of linger
    away). Returns the length of A's log at the stop; tries again (SIGCONT) if a revocation
    slipped in."""
    for _ in range(attempts):
        deadline = time.time() + 30
        while not owns_partitions(a_log(a)):
            if time.time() > deadline or feed.fraction() >= 0.9:
                raise harness.TestFailure("A owns no partition after B joined")
            time.sleep(0.1)
        mine = [p for p, t in h.tokens(r).items() if "it-A" in (t or "")]
        base = h.progress(r)
        deadline = time.time() + 15
        while all(h.progress(r)[p] == base[p] for p in mine) and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(1.0)
        a.send(signal.SIGSTOP)
        a.stopped = True
        time.sleep(0.2)  # lines written just before the stop
        text = a_log(a)
        if owns_partitions(text) and time.time() < deadline:
            return len(text)
        a.send(signal.SIGCONT)
        a.stopped = False
    raise harness.TestFailure("could not freeze A while it held partitions")


def body(h, args):
    msgs, mdl, gen = harness.generate(h, args, 70000, tz="Asia/Shanghai", big_payloads=False)
    h.start_redis()
    h.start_mock()
    feed = h.start_feed(msgs, seconds=70)
    # A lingers 3 s over each batch; it is frozen 1 s after an apply, holding the next batch: on
    # SIGCONT it tries to apply a batch of partitions it no longer owns.
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
        log_at_stop = freeze_mid_batch(h, a, r, feed)
        at_stop = h.progress(r)
        tokens_at_stop = h.tokens(r)
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
    log = a_log(a).lower()
    # refused by its fencing token (FENCED / GAP), or first by another check of the same script
    # (EXISTS: a deal it folded as new was stored by B meanwhile); either way nothing is written
    # the batch A held when frozen is refused by the fencing token once it wakes up
    fenced = len(re.findall(r"batch refused by redis \((fenced|gap)\)", log[log_at_stop:]))
    if fenced < 1:
        raise harness.TestFailure("A's log shows no FENCED/GAP refusal after SIGCONT: it was "
                                  "frozen holding a batch of partitions it no longer owns")
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
