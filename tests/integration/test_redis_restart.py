#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Redis restart. Phase 1: redis-server with appendonly is stopped (SIGTERM) mid-run and started
again a few seconds later on the same port and data dir; funneld must retry with backoff and
resume by itself (it is not restarted), and Redis must equal the model of what was produced.
Phase 2: Redis is restarted WITHOUT its data (a fresh dir) and more events arrive; funneld must
notice that its claims are gone (fenced), rejoin, and rebuild everything from the earliest Kafka
offset, so that Redis equals the model of the whole stream again."""

import os
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
        log = f.read().decode("utf-8", "replace").lower()
    refused = sum(1 for line in log.splitlines() if "fenc" in line or "refused" in line
                  or "gap" in line)
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("funneld exited %s after SIGTERM, expected 0" % rc)
    print("[redis_restart] OK: resumed by itself after a restart with data; rebuilt from Kafka "
          "after a restart without data (%d log lines about refused/fenced applies); exit 0"
          % refused)


if __name__ == "__main__":
    harness.run("redis_restart", __doc__, body)
