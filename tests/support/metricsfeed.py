# SPDX-License-Identifier: MIT
"""Checks of the metrics topic (docs/feeds.md) shared by the feeds tests: wait until the
publisher has covered everything applied, read the topic from the beginning keeping the last
row per key, and compare it field for field with Redis and with the independent model."""

import json
import time

import schemas
from harness import TestFailure, pairs_to_dict, METRICS_TOPIC


def stream_id(s):
    """'<ms>-<seq>' as a comparable tuple."""
    ms, _, seq = (s.decode() if isinstance(s, bytes) else s).partition("-")
    return (int(ms), int(seq or 0))


def publisher(h):
    """The publisher hash <p>:metrics:publisher, as text."""
    r = h.redis()
    try:
        return {k.decode(): v.decode() for k, v in
                pairs_to_dict(r.call("HGETALL", h.prefix + ":metrics:publisher")).items()}
    finally:
        r.close()


def wait_published(h, timeout=120):
    """Waits until a publisher round that started after everything now applied has ended: its
    position is at or past the change feed's last change entry and nothing is dirty or taken.
    Returns the publisher hash."""
    p = h.prefix
    r = h.redis()
    try:
        last = r.call("XREVRANGE", p + ":changes", "+", "-", "COUNT", 1)
        target = stream_id(last[0][0]) if last else (0, 0)
        deadline = time.time() + timeout
        while True:
            pub = {k.decode(): v.decode() for k, v in
                   pairs_to_dict(r.call("HGETALL", p + ":metrics:publisher")).items()}
            busy = r.call("EXISTS", p + ":metrics:dirty", p + ":metrics:taken")
            if "position" in pub and stream_id(pub["position"]) >= target and busy == 0:
                return pub
            if time.time() > deadline:
                raise TestFailure("the metrics publisher did not catch up in %d s: %s, dirty or "
                                  "taken keys: %d, feed at %s" % (timeout, pub, busy, target))
            time.sleep(0.1)
    finally:
        r.close()


def read_topic(h):
    """Every message of the metrics topic from the beginning to its end:
    (messages in (partition, offset) order with decoded rows, {key: last row}). Numbers keep
    their text (parse_int/parse_float = str), so a row's fields compare with Redis' text
    exactly. (The publisher's `published` counts ended rounds only: a round cut short by a
    crash was produced too, so the topic may hold more.)"""
    msgs = h.dump_topic(METRICS_TOPIC, 1 << 40, settle_s=120, to_end=True)
    msgs.sort(key=lambda m: (m["partition"], m["offset"]))
    # The mock broker keeps about 5 MB per partition and drops the oldest data beyond that
    # (a real compacted topic would keep the last row per key): a partition that does not start
    # at offset 0 lost rows, and the comparison below would blame the publisher.
    first = {}
    for m in msgs:
        first.setdefault(m["partition"], m["offset"])
    if any(o != 0 for o in first.values()):
        raise TestFailure("the mock broker dropped the oldest metrics rows (first offsets %s): "
                          "the test produced too much for it" % first)
    last = {}
    for m in msgs:
        if m["key"] is None or m["value"] is None:
            raise TestFailure("metrics topic: a message without key or value at %d/%d"
                              % (m["partition"], m["offset"]))
        key = m["key"].decode("utf-8")
        m["row"] = json.loads(m["value"].decode("utf-8"), parse_int=str, parse_float=str)
        m["key_text"] = key
        last[key] = m["row"]
    return msgs, last


def check_topic(h, mdl, msgs, last):
    """Every message validates against docs/schemas/metrics.schema.json; the last row of every
    key equals its hash in Redis and in the model, field for field; the topic holds no key Redis
    does not; every row names its own key; versions never go down per key. Returns the number
    of keys."""
    schemas.validate("metrics", [json.loads(m["value"].decode("utf-8")) for m in msgs],
                     "metrics-topic messages")
    p = h.prefix
    r = h.redis()
    try:
        keys = [k for k in r.scan_all(p + ":*")
                if k.decode("utf-8").startswith((p + ":rep:", p + ":team:", p + ":org:"))]
        rows = r.pipeline([["HGETALL", k] for k in keys])
    finally:
        r.close()
    redis_rows = {}
    for k, fv in zip(keys, rows):
        redis_rows[k.decode("utf-8")[len(p) + 1:]] = {
            a.decode("utf-8"): b.decode("utf-8") for a, b in pairs_to_dict(fv).items()}
    model = {k[len(p) + 1:]: v for k, v in mdl.expected_hashes().items()}
    diffs = []
    if set(redis_rows) != set(model):
        diffs.append("Redis and the model hold different keys (h.compare says which)")
    missing = sorted(set(redis_rows) - set(last))
    extra = sorted(set(last) - set(redis_rows))
    diffs += ["no row in the topic for %s" % k for k in missing[:10]]
    diffs += ["a row in the topic for %s, which Redis does not hold" % k for k in extra[:10]]
    for k in sorted(set(redis_rows) & set(last)):
        got = {f: str(v) for f, v in last[k]["fields"].items()}
        for what, want in (("Redis", redis_rows[k]), ("the model", model.get(k, {}))):
            if got != want:
                bad = sorted(f for f in set(got) | set(want) if got.get(f) != want.get(f))
                diffs.append("%s: the topic's last row differs from %s in %s: %s vs %s"
                             % (k, what, bad[:4], [got.get(f) for f in bad[:4]],
                                [want.get(f) for f in bad[:4]]))
    versions = {}
    for m in msgs:
        row, key = m["row"], m["key_text"]
        if row.get("key") != key:
            diffs.append("message %d/%d: key %r but row key %r"
                         % (m["partition"], m["offset"], key, row.get("key")))
        scope = key.split(":", 1)[0]
        if row.get("scope") != scope or (row.get("id") is None) != (scope == "org"):
            diffs.append("message %d/%d: scope/id %r/%r do not match key %r"
                         % (m["partition"], m["offset"], row.get("scope"), row.get("id"), key))
        v = int(row["version"])
        if v < versions.get(key, 0):
            diffs.append("%s: version went down from %d to %d" % (key, versions[key], v))
        versions[key] = v
    if diffs:
        raise TestFailure("metrics topic differs:\n  " + "\n  ".join(diffs[:30]))
    return len(last)
