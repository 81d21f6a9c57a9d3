#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Redis restart. Phase 1: redis-server with appendonly is stopped (SIGTERM) mid-run and started
again a few seconds later on the same port and data dir; funneld must retry with backoff and
resume by itself (it is not restarted), and Redis must equal the model of what was produced.
Phase 2: Redis is restarted WITHOUT its data (a fresh dir) and more events arrive; funneld must
notice that its claims are gone (fenced), rejoin, and rebuild everything from the earliest Kafka
offset, so that Redis equals the model of the whole stream again. Phase 3: Redis goes down with a
batch pending; a SIGTERM keeps funneld retrying, a second one makes it give up with exit 1."""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import model  # noqa: E402


def body(h, args):
    msgs, full, gen = harness.generate(h, args, 60000, tz="Asia/Shanghai", big_payloads=False)
    cut = len(msgs) * 2 // 3
    first = model.Model(tz=h.tz, prefix=h.prefix).run(msgs[:cut])
    h.start_redis(appendonly=True)
    h.start_mock()
    fd = h.start_funneld("A", h.funneld_settings(**harness.GROUP_SETTINGS))

    # Phase 1: Redis goes away mid-run and comes back with its data.
    feed = h.start_feed(msgs[:cut], seconds=35)
    h.wait_progress(lambda c: sum(c.values()) > 0, 60, "a first apply")
    harness.wait_feed(feed, 0.4)
    r = h.redis()
    before = sum(h.progress(r).values())
    r.close()
    rc = h.stop_redis()
    t_down = time.time()
    print("[redis_restart] redis stopped (rc %s) at %.0f%% of the feed, progress %d"
          % (rc, 100 * feed.fraction(), before), flush=True)
    time.sleep(4)
    h.start_redis(appendonly=True)
    print("[redis_restart] redis restarted with its data after %.1f s" % (time.time() - t_down),
          flush=True)
    r = h.redis()
    after = sum(h.progress(r).values())
    r.close()
    if after < before:
        raise harness.TestFailure("redis lost applied offsets over the restart: %d < %d"
                                  % (after, before))
    nxt = feed.join()
    t = time.time()
    h.wait_done(nxt, timeout=120)
    if not fd.alive():
        raise harness.TestFailure("funneld exited (rc %s) instead of retrying"
                                  % fd.popen.returncode)
    print("[redis_restart] funneld caught up %.1f s after the feed ended" % (time.time() - t))
    h.compare(first, label="after the restart with data")
    with open(fd.log_path, "rb") as f:
        log1 = f.read().decode("utf-8", "replace")
    waits = [int(w) for w in re.findall(r"; retrying in (\d+) ms", log1)]
    if len(waits) < 2 or max(waits) <= min(waits):
        raise harness.TestFailure("while Redis was down funneld logged retries after %s ms: "
                                  "expected at least two, with a growing backoff" % waits)
    print("[redis_restart] retries while Redis was down, waits %s ms" % waits, flush=True)

    # Phase 2: Redis comes back empty; the rest of the stream arrives.
    h.stop_redis()
    h.start_redis(appendonly=True, fresh=True)
    print("[redis_restart] redis restarted EMPTY on port %d" % h.redis_port, flush=True)
    feed = h.start_feed(msgs[cut:], seconds=15)
    nxt = feed.join()
    t = time.time()
    h.wait_done(nxt, timeout=180)
    print("[redis_restart] funneld rebuilt %d messages from Kafka in %.1f s after the feed ended"
          % (sum(nxt.values()), time.time() - t), flush=True)
    h.compare(full, label="after the restart without data")
    with open(fd.log_path, "rb") as f:
        log = f.read().decode("utf-8", "replace")[len(log1):]
    # the empty Redis holds none of funneld's claims: its first apply there must be refused
    refused = len(re.findall(r"batch refused by Redis \((FENCED|GAP)\)", log))
    if refused < 1:
        raise harness.TestFailure("no apply was refused after Redis came back empty: funneld "
                                  "wrote over a Redis that no longer holds its claims?")
    print("[redis_restart] rebuilt after a restart without data (%d applies refused)" % refused,
          flush=True)

    # Phase 3: stop signals while Redis is down and a batch is pending. The first SIGTERM waits
    # to apply it (retrying); a second gives up: exit 1, the batch is left to be read again.
    h.stop_redis()
    with open(fd.log_path, "rb") as f:
        seen = f.read().count(b"; retrying in ")
    tail = msgs[-200:]
    h.produce([model.Msg(key=m.key, value=m.value, event=None, reject=None) for m in tail])
    deadline = time.time() + 60
    while True:
        with open(fd.log_path, "rb") as f:
            if f.read().count(b"; retrying in ") > seen:
                break
        if time.time() > deadline:
            raise harness.TestFailure("funneld did not try to apply while Redis was down")
        time.sleep(0.1)
    fd.send(signal.SIGTERM)
    if fd.wait(3) is not None:
        raise harness.TestFailure("funneld exited %s on SIGTERM with a batch pending and Redis "
                                  "down; expected it to keep retrying" % fd.popen.returncode)
    fd.send(signal.SIGTERM)
    rc = fd.wait(30)
    if rc != 1:
        raise harness.TestFailure("after a second SIGTERM with Redis down funneld exited %s, "
                                  "expected 1 (docs/operations.md)" % rc)
    print("[redis_restart] OK: resumed by itself after a restart with data; rebuilt from Kafka "
          "after a restart without data; with Redis down, one SIGTERM waits and a second exits 1",
          flush=True)


if __name__ == "__main__":
    harness.run("redis_restart", __doc__, body)
