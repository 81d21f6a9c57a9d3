#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""funnel-web's event stream /api/v1/stream (docs/http.md "The event stream"): it starts with
`retry: 2000` and a status event; events sent through funneld after it opened arrive as `change`
events whose keys name the hashes the model says changed; a client that reconnects with the
Last-Event-ID of an event gets exactly the entries after it (compared with XRANGE); an id trimmed
from <p>:changes gets a `resnapshot` event; alert notifications arrive as `alert` events (a rules
file as test_alerts uses); the data of every event validates against docs/openapi.yaml; beyond
web.max_streams a client gets 503 JSON."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import model  # noqa: E402
import web  # noqa: E402
from harness import TestFailure  # noqa: E402

SCHEMA_OF = {"change": "StreamChange", "bulk": "StreamBulk", "heartbeat": "StreamHeartbeat",
             "alert": "Alert", "status": "StreamStatus", "resnapshot": "StreamResnapshot"}


def validate(validators, evs):
    for ev in evs:
        name = SCHEMA_OF.get(ev.get("event"))
        if name is None:
            continue
        errs = list(validators[name].iter_errors(ev["data"]))
        if errs:
            raise TestFailure("%s event does not match %s: %s (%r)"
                              % (ev["event"], name, errs[0].message, ev["data"]))


def body(h, args):
    msgs, mdl, gen = harness.generate(h, args, 1200, tz="Asia/Shanghai")
    first, second = msgs[:800], msgs[800:]
    rules = {"clock": "event", "evaluate_every": "1s",
             "rules": [{"name": "calls-silent", "kpi": "activity:call", "scope": "rep",
                        "window": "24h", "severity": "critical",
                        "threshold": {"op": "<", "value": 1}, "for": "1h"}]}
    rules_path = os.path.join(h.tmp, "rules.json")
    with open(rules_path, "w") as f:
        json.dump(rules, f)
    h.start_redis()
    h.start_mock()
    nxt = h.produce(first)
    h.start_funneld("A", alerts__rules=rules_path, feeds__heartbeat_ms=500,
                    feeds__changes_max_keys=100000, batch__max_events=50)
    h.wait_done(nxt, timeout=180)
    r = h.redis()
    p = h.prefix
    doc, validators = web.openapi(h.source)
    w = web.Web(h, "stream", web__max_streams=3, web__stream_keepalive_ms=1000)

    s1 = w.stream()
    if s1.status != 200 or not s1.headers.get("content-type", "").startswith("text/event-stream"):
        raise TestFailure("stream: %d %r" % (s1.status, s1.headers))
    evs = s1.events(5, until=lambda e: any(x.get("event") == "status" for x in e))
    if not evs or evs[0].get("retry") != "2000" or evs[1].get("event") != "status":
        raise TestFailure("stream start: %r" % evs[:3])
    start_pos = evs[1]["id"]

    # more events: change events whose keys are those the model says the new events touched
    nxt = h.produce(second)
    h.wait_done(nxt, timeout=180)
    time.sleep(2)  # the alerts of the last sweep
    end = r.call("XREVRANGE", p + ":changes", "+", "-", "COUNT", "1")[0][0].decode()
    evs += s1.events(20, until=lambda e: any(x.get("event") == "alert" for x in e) and any(
        "id" in x and harness_sid(x["id"].split(",")[0]) >= harness_sid(end) for x in e))
    validate(validators, evs)
    changes = [e for e in evs if e.get("event") in ("change", "bulk")]
    if not changes:
        raise TestFailure("no change event after sending %d more messages" % len(second))
    entries = r.call("XRANGE", p + ":changes", "(" + start_pos.split(",")[0], "+")
    # the entries of the feed up to the last event read are exactly those received
    last_changes_id = [e for e in evs if "id" in e][-1]["id"].split(",")[0]
    entries = [(eid, f) for eid, f in entries
               if harness_sid(eid.decode()) <= harness_sid(last_changes_id)]
    got_ids = [e["id"].split(",")[0] for e in evs if e.get("event") in ("change", "bulk", "heartbeat")]
    want_ids = [eid.decode() for eid, _ in entries]
    if got_ids != want_ids:
        raise TestFailure("stream ids %s... differ from XRANGE %s..." % (got_ids[:5], want_ids[:5]))
    want_keys = set()
    for eid, fields in entries:
        f = harness.pairs_to_dict(fields)
        if f[b"kind"] == b"change" and f.get(b"keys"):
            want_keys |= set(f[b"keys"].decode().split("\n"))
    got_keys = {k for e in changes if e["event"] == "change" for k in e["data"]["keys"]}
    # the model: the keys changed by the second part are a subset of what the events named
    m2 = model.Model(tz=h.tz, prefix=p).run(msgs)
    m1 = model.Model(tz=h.tz, prefix=p).run(first)
    e2, e1 = m2.expected_hashes(), m1.expected_hashes()
    changed = {k[len(p) + 1:] for k in e2 if e2[k] != e1.get(k)}
    missing = changed - got_keys
    if got_keys != want_keys:
        raise TestFailure("the change events named %d keys, the entries %d"
                          % (len(got_keys), len(want_keys)))
    if missing and not any(e["event"] == "bulk" for e in changes):
        raise TestFailure("hashes the model says changed but no change event named: %s"
                          % sorted(missing)[:5])
    alerts = [e for e in evs if e.get("event") == "alert"]
    if not alerts:
        raise TestFailure("no alert event (Redis has %d notifications)" % r.call("XLEN", p + ":alerts"))
    print("[http_stream] %d change/bulk events, %d keys, %d alerts" % (len(changes), len(got_keys),
                                                                    len(alerts)), flush=True)

    # resume: reconnect with the Last-Event-ID of an early event: exactly what followed it
    mid = [e for e in evs if "id" in e and e.get("event") in ("change", "heartbeat")][0]
    s2 = w.stream(headers={"Last-Event-ID": mid["id"]})
    evs2 = s2.events(6, until=lambda e: len([x for x in e if x.get("event") in
                                              ("change", "bulk", "heartbeat")]) >= 3)
    validate(validators, evs2)
    ids2 = [e["id"].split(",")[0] for e in evs2 if e.get("event") in ("change", "bulk", "heartbeat")]
    after = [eid.decode() for eid, _ in r.call("XRANGE", p + ":changes",
                                               "(" + mid["id"].split(",")[0], "+")]
    if not ids2 or ids2 != after[:len(ids2)]:
        raise TestFailure("resume after %s: got %s, XRANGE says %s" % (mid["id"], ids2[:5], after[:5]))
    s2.close()

    # a trimmed id: resnapshot
    r.call("XTRIM", p + ":changes", "MAXLEN", "1")
    s3 = w.stream(headers={"Last-Event-ID": start_pos})
    evs3 = s3.events(6, until=lambda e: any(x.get("event") == "resnapshot" for x in e))
    validate(validators, evs3)
    rs = [e for e in evs3 if e.get("event") == "resnapshot"]
    if not rs or rs[0]["data"]["reason"] != "trimmed":
        raise TestFailure("a trimmed id got no resnapshot: %r" % evs3[:4])
    s3.close()

    # malformed position
    st, hd, data = w.request("/api/v1/stream?since=nonsense")
    if st != 400 or json.loads(data)["field"] != "since":
        raise TestFailure("a malformed since: %d %r" % (st, data))
    # closed clients are noticed within a block of XREAD: wait until only s1 is counted
    deadline = time.time() + 10
    while time.time() < deadline:
        st, hd, data = w.request("/metrics")
        if b"funnel_web_stream_clients 1\n" in data:
            break
        time.sleep(0.2)
    else:
        raise TestFailure("closed streams still counted: %r" % data[-300:])
    # max streams: s1 plus 2 more hold the 3 slots; the next gets 503 JSON
    s4, s5 = w.stream(), w.stream()
    s6 = w.stream()
    body6 = s6.body_now()
    if s6.status != 503 or json.loads(body6)["status"] != 503:
        raise TestFailure("a 4th stream with web.max_streams 3: %d %r" % (s6.status, body6[:200]))
    # keepalive comments when quiet
    kev = s4.events(3, until=lambda e: any(x.get("comment") == "keepalive" for x in e))
    if not any(x.get("comment") == "keepalive" or x.get("event") for x in kev):
        raise TestFailure("nothing on a quiet stream in 3 s (keepalive 1 s): %d %r %r %r"
                          % (s4.status, kev, s4.buf[:200], s4.raw[:200]))
    for s in (s1, s4, s5, s6):
        s.close()
    if w.stop() != 0:
        raise TestFailure("funnel-web did not stop cleanly with streams open")


def harness_sid(i):
    ms, _, seq = i.partition("-")
    return int(ms), int(seq or 0)


if __name__ == "__main__":
    harness.run("http_stream", __doc__, body)
