#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The metrics topic (docs/feeds.md), clean run: 30,000 generated events (duplicates,
out-of-order, malformed) are applied by one funneld with the metrics publisher on; once it has
published everything, a consumer that reads funnel.metrics from the beginning and keeps the last
row per key holds exactly the hashes Redis holds and the independent model expects, field for
field. Then an apply with the topic off (an instance with feeds.metrics=off) marks the publisher
untracked, and the next publisher republishes every hash (a snapshot): the topic again equals
Redis."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import metricsfeed  # noqa: E402

FEEDS = {"feeds.metrics_interval_ms": "200", "feeds.metrics_lease_ms": "2000"}


def body(h, args):
    msgs, mdl, _ = harness.generate(h, args, 30000, tz="Europe/Berlin")
    half = len(msgs) // 2
    h.start_redis()
    h.start_mock()
    fd = h.start_funneld("run1", h.funneld_settings(**FEEDS))
    nxt = h.produce(msgs[:half])
    h.wait_done(nxt, timeout=120)
    pub = metricsfeed.wait_published(h)
    print("[%s] publisher after the first half: %s" % (h.name, pub), flush=True)
    if pub.get("snapshots") != "1":
        raise harness.TestFailure("expected one snapshot (the first round), got %s" % pub)
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("funneld exited %s after SIGTERM, expected 0" % rc)

    # The second half through an instance with the topic off: its applies mark the publisher
    # untracked. Then one with the topic on must republish everything.
    off = dict(FEEDS)
    off["feeds.metrics"] = "off"
    fd = h.start_funneld("off", h.funneld_settings(**off))
    nxt = h.produce(msgs[half:])
    h.wait_done(nxt, timeout=120)
    r = h.redis()
    try:
        if r.call("HGET", h.prefix + ":metrics:publisher", "untracked") != b"1":
            raise harness.TestFailure("an apply with feeds.metrics=off did not mark the "
                                      "publisher untracked")
    finally:
        r.close()
    fd.stop(timeout=30)
    fd = h.start_funneld("run2", h.funneld_settings(**FEEDS))
    pub = metricsfeed.wait_published(h)
    if pub.get("snapshots") != "2":
        raise harness.TestFailure("expected a second snapshot after the untracked applies, "
                                  "got %s" % pub)
    h.compare(mdl)
    topic, last = metricsfeed.read_topic(h)
    n = metricsfeed.check_topic(h, mdl, topic, last)
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("funneld exited %s after SIGTERM, expected 0" % rc)
    print("[%s] OK: %d messages in the topic; its last row of each of %d keys equals Redis and "
          "the model; %s" % (h.name, len(topic), n, pub))


if __name__ == "__main__":
    harness.run("test_feeds_metrics", __doc__, body)
