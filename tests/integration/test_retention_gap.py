#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Retention gap: while funneld is down, Kafka deletes events it never applied (the embedded
broker keeps ~5 MiB per partition, like retention). On restart, even with kafka.start_from=latest,
every partition must resume at the earliest offset Kafka still holds (not at the end: that would
skip every retained event), count every retained event exactly once, and log which offsets were
lost."""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
from model import Msg  # noqa: E402

PAD = "x" * 1900  # an unknown field (ignored): ~2 KB per message


def activities(first, n):
    """n valid activity.logged events with distinct ids and keys."""
    out = []
    for i in range(first, first + n):
        ev = {"event_id": "gap-%07d" % i, "type": "activity.logged",
              "occurred_at": "2026-11-20T10:00:00Z", "rep_id": "rep-%d" % (i % 7),
              "team_id": "team-1", "activity": "call", "pad": PAD}
        out.append(Msg(key=("k%d" % i).encode(), value=json.dumps(ev).encode(), event=None,
                       reject=None))
    return out


def offsets(h, want_rc):
    """funnelctl offsets --json on the test's Redis and Kafka: (rows by partition, stderr)."""
    argv = [h.bin("funnelctl"), "--set", "redis.port=%d" % h.redis_port, "--set",
            "redis.prefix=" + h.prefix, "--set", "kafka.brokers=" + h.bootstrap, "--set",
            "kafka.topics=" + harness.TOPIC, "--set", "kafka.group_id=" + h.group,
            "offsets", "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELD_")}
    p = subprocess.run(argv, capture_output=True, timeout=60, env=env)
    out, err = p.stdout.decode(), p.stderr.decode()
    if p.returncode != want_rc or "runtime error:" in err or "Sanitizer" in err:
        raise harness.TestFailure("funnelctl offsets: exit %d, expected %d:\n%s%s"
                                  % (p.returncode, want_rc, out, err))
    return {o["partition"]: o for o in json.loads(out)}, err


def stats(r, h):
    return {k.decode(): int(v) for k, v in
            harness.pairs_to_dict(r.call("HGETALL", h.prefix + ":stats")).items()}


def body(h, args):
    h.tz = "UTC"
    h.start_redis()
    h.start_mock()
    first = activities(0, 400)
    nxt1 = h.produce(first)
    fd = h.start_funneld("A")
    h.wait_done(nxt1, timeout=60)
    if fd.stop(timeout=30) != 0:
        raise harness.TestFailure("funneld A did not exit 0 after SIGTERM")

    # ~7 MiB per partition while funneld is down: the broker drops the oldest ~2 MiB, which
    # include offsets funneld never applied.
    feed = h.start_feed(activities(400, 8 * 3500), 0)
    nxt2 = feed.join(allow_trim=True)
    low = feed.low
    for p in range(harness.PARTITIONS):
        if low[p] <= nxt1[p]:
            raise harness.TestFailure("partition %d: the broker kept offset %d (low watermark "
                                      "%d): no gap to test" % (p, nxt1[p], low[p]))
    retained = sum(nxt2[p] - low[p] for p in range(harness.PARTITIONS))

    # funnelctl tells the lag Kafka still holds from the offsets it deleted
    rows, err = offsets(h, 0)
    for p in range(harness.PARTITIONS):
        o, lost = rows[p], low[p] - nxt1[p]
        if (o["lag"], o["lost"], o["ahead"]) != (nxt2[p] - low[p], lost, False):
            raise harness.TestFailure("funnelctl offsets, partition %d: %s; expected lag %d, "
                                      "lost %d" % (p, o, nxt2[p] - low[p], lost))
        note = "[%d]: offsets %d..%d were deleted from Kafka" % (p, nxt1[p], low[p] - 1)
        if note not in err:
            raise harness.TestFailure("funnelctl offsets: stderr lacks %r:\n%s" % (note, err))

    fd = h.start_funneld("B", kafka__start_from="latest")
    h.wait_done(nxt2, timeout=120)
    r = h.redis()
    try:
        st = stats(r, h)
        calls = sum(int(v) for v in r.pipeline(
            [["HGET", "%s:rep:all:rep-%d" % (h.prefix, i), "activity:call"] for i in range(7)]))
    finally:
        r.close()
    want = len(first) + retained
    if st.get("accepted") != want or calls != want:
        raise harness.TestFailure("accepted %s, calls %d; expected %d (400 before the gap, %d "
                                  "retained after it)" % (st.get("accepted"), calls, want,
                                                          retained))
    if fd.stop(timeout=30) != 0:
        raise harness.TestFailure("funneld B did not exit 0 after SIGTERM")
    rows, err = offsets(h, 0)
    if any((o["lag"], o["lost"], o["ahead"]) != (0, 0, False) for o in rows.values()) or err:
        raise harness.TestFailure("funnelctl offsets after the catch-up: %s %s" % (rows, err))
    # a stored offset beyond the log end (a re-created topic): an error funnelctl reports
    r = h.redis()
    try:
        r.call("HSET", "%s:part:%s:0" % (h.prefix, harness.TOPIC), "next", str(nxt2[0] + 100))
    finally:
        r.close()
    rows, err = offsets(h, 1)
    if rows[0]["ahead"] is not True or rows[0]["lag"] != 0 or \
            "Redis stores offset %d beyond the log end %d" % (nxt2[0] + 100, nxt2[0]) not in err:
        raise harness.TestFailure("funnelctl offsets with Redis ahead: %s %s" % (rows[0], err))
    log = open(h.logpath("funneld-B")).read()
    for p in range(harness.PARTITIONS):
        pat = (r"%s\[%d\]: resumed at offset %d, but the stored offset is %d: Kafka no longer "
               r"holds offsets %d\.\.%d" % (re.escape(harness.TOPIC), p, low[p], nxt1[p],
                                            nxt1[p], low[p] - 1))
        if not re.search(pat, log):
            raise harness.TestFailure("funneld B's log lacks the gap of partition %d: %s"
                                      % (p, pat))
    print("[retention_gap] OK: %d events before the gap, %d lost to retention, %d retained "
          "and counted once" % (len(first), sum(low[p] - nxt1[p] for p in low), retained))


if __name__ == "__main__":
    harness.run("retention_gap", __doc__, body)
