#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The metrics topic (docs/feeds.md) across crashes: while 40,000 generated events stream in,
funneld (with the metrics publisher on, rounds every 200 ms) is killed with SIGKILL at 4 seeded
random moments, so kills land inside publisher rounds (taken but not acknowledged, acknowledged
but not ended) as well as inside applies, and restarted each time. At the end a consumer that
reads funnel.metrics from the beginning and keeps the last row per key holds exactly the hashes
Redis holds and the model expects, field for field (duplicates in the topic are allowed; a
missing or stale final row is not)."""

import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import metricsfeed  # noqa: E402

KILLS = 4
FEEDS = {"feeds.metrics_interval_ms": "200", "feeds.metrics_lease_ms": "2000"}


def body(h, args):
    msgs, mdl, _ = harness.generate(h, args, 40000, tz="America/New_York")
    rng = random.Random(args.seed ^ 0xFEED)
    h.start_redis()
    h.start_mock()
    settings = h.funneld_settings(**harness.GROUP_SETTINGS, **FEEDS)
    feed = h.start_feed(msgs, seconds=60)
    fd = h.start_funneld("run1", settings)
    r = h.redis()
    kills = []
    try:
        while len(kills) < KILLS:
            base = sum(h.progress(r).values())
            h.wait_progress(lambda c: sum(c.values()) > base, 60,
                            "the restarted funneld to apply a batch")
            time.sleep(rng.uniform(0.5, 3.0))
            if not fd.alive():
                raise harness.TestFailure("funneld %s exited by itself (rc %s)"
                                          % (fd.name, fd.popen.returncode))
            taken = r.call("EXISTS", h.prefix + ":metrics:taken")
            fd.send(signal.SIGKILL)
            fd.wait(10)
            kills.append(sum(h.progress(r).values()))
            print("[%s] SIGKILL %d at %d applied messages (feed %.0f%% sent; a round %s)"
                  % (h.name, len(kills), kills[-1], 100 * feed.fraction(),
                     "was taken" if taken else "was not taken"), flush=True)
            fd = h.start_funneld("run%d" % (len(kills) + 1), settings)
    finally:
        r.close()
    nxt = feed.join()
    h.wait_done(nxt, timeout=180)
    h.compare(mdl)
    pub = metricsfeed.wait_published(h)
    topic, last = metricsfeed.read_topic(h)
    n = metricsfeed.check_topic(h, mdl, topic, last)
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("last funneld exited %s after SIGTERM, expected 0" % rc)
    print("[%s] OK: %d SIGKILLs at %s; %d messages in the topic, the last row of each of %d "
          "keys equals Redis and the model; publisher %s" % (h.name, len(kills), kills,
                                                             len(topic), n, pub))


if __name__ == "__main__":
    harness.run("test_feeds_metrics_crash", __doc__, body)
