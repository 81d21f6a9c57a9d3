#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""funneld's operator endpoints (docs/http.md "Operator endpoints"). A known stream (accepted
events, duplicates, malformed messages of several reasons) is applied; /metrics, parsed by the
Prometheus client's own text parser (Debian python3-prometheus-client), must count exactly what
the independent model expects: consumed, accepted, duplicates, rejected by reason, batches =
the apply-duration histogram's count, per-partition next offsets = the offsets stored in Redis,
lag 0 once caught up; no label may carry a rep, team or deal id. /livez and /readyz answer 200;
with Redis stopped and more events sent, /readyz answers 503 (redis check false) and the lag
shows the unapplied messages; once Redis is back everything is applied, /readyz is 200 and lag
0 again. With http.token (and port 0, logged), /metrics needs the bearer token; /livez does not.
"""

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import model  # noqa: E402

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

REASONS = ["oversize", "invalid_utf8", "invalid_json", "too_deep", "not_object", "duplicate_key",
           "missing_field", "wrong_type", "invalid_id", "unknown_type", "unknown_stage",
           "unknown_activity", "invalid_timestamp", "invalid_amount", "invalid_score",
           "nul_character", "invalid_stage"]


def get(url, token=None, timeout=10):
    """(status, content type, body text) of a GET."""
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def scrape(fd, token=None):
    """{(name, frozenset(labels.items())): value} and the families, from a real parser."""
    status, ctype, text = get(fd.http_url + "/metrics", token)
    if status != 200:
        raise harness.TestFailure("/metrics answered %d: %s" % (status, text))
    if ctype != "text/plain; version=0.0.4; charset=utf-8":
        raise harness.TestFailure("/metrics content type %r" % ctype)
    samples, families = {}, {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = fam
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, families


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def expect(what, got, want):
    if got != want:
        raise harness.TestFailure("%s: /metrics says %r, expected %r" % (what, got, want))


def wait_for(what, predicate, timeout=60):
    deadline = time.time() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.time() > deadline:
            raise harness.TestFailure("timed out waiting for " + what)
        time.sleep(0.1)


def part_values(samples, name):
    return {int(dict(k[1])["partition"]): v for k, v in samples.items()
            if k[0] == name and dict(k[1]).get("topic") == harness.TOPIC}


def check_counts(h, fd, mdl, n_msgs, where):
    """Every counter against the model, offsets against Redis, lag 0 (after catch-up)."""
    r = h.redis()
    stored = h.progress(r)
    r.close()

    def settled():  # the loop publishes its figures every 250 ms
        s, _ = scrape(fd)
        lags = part_values(s, "funneld_partition_lag")
        ok = (value(s, "funneld_messages_consumed_total") == n_msgs
              and part_values(s, "funneld_partition_next_offset") == stored
              and len(lags) == harness.PARTITIONS and not any(lags.values()))
        return s if ok else None
    try:
        s = wait_for("the metrics to settle", settled, 20)
    except harness.TestFailure:
        s, _ = scrape(fd)
    stats = mdl.expected_stats()
    expect(where + ": consumed", value(s, "funneld_messages_consumed_total"), n_msgs)
    expect(where + ": accepted", value(s, "funneld_events_accepted_total"), stats["accepted"])
    expect(where + ": duplicates", value(s, "funneld_events_duplicate_total"),
           stats.get("duplicates", 0))
    for reason in REASONS:
        expect(where + ": rejected " + reason,
               value(s, "funneld_messages_rejected_total", reason=reason),
               stats.get("rejected:" + reason, 0))
    batches = value(s, "funneld_batches_applied_total")
    if not batches or batches < 1:
        raise harness.TestFailure(where + ": no batch counted")
    expect(where + ": histogram count = batches", value(s, "funneld_apply_duration_seconds_count"),
           batches)
    expect(where + ": +Inf bucket = batches",
           value(s, "funneld_apply_duration_seconds_bucket", le="+Inf"), batches)
    expect(where + ": change-feed entries of kind change = batches",
           value(s, "funneld_change_feed_entries_total", kind="change"), batches)
    expect(where + ": per-partition next offsets = stored offsets",
           part_values(s, "funneld_partition_next_offset"), stored)
    expect(where + ": lag once caught up",
           part_values(s, "funneld_partition_lag"), {p: 0 for p in range(harness.PARTITIONS)})
    expect(where + ": partitions assigned", value(s, "funneld_partitions_assigned"),
           harness.PARTITIONS)
    expect(where + ": redis up", value(s, "funneld_redis_up"), 1)
    for reason in ("fenced", "gap", "conflict"):
        if value(s, "funneld_applies_refused_total", reason=reason) is None:
            raise harness.TestFailure(where + ": no refused-apply counter for " + reason)
    print("[http_ops] %s: %d consumed, %d accepted, %d duplicates, %d rejected, %d batches: all "
          "as the model expects" % (where, n_msgs, stats["accepted"], stats.get("duplicates", 0),
                                    stats.get("rejected", 0), batches), flush=True)
    return s


def body(h, args):
    msgs, mdl, gen = harness.generate(h, args, 3000, tz="Asia/Shanghai", big_payloads=False)
    reasons = {m.reject for m in msgs if m.reject}
    if len(reasons) < 3:
        raise harness.TestFailure("the stream has only rejections %s: need several reasons"
                                  % sorted(reasons))
    h.start_redis(appendonly=True)
    h.start_mock()
    fd = h.start_funneld("A", h.funneld_settings(**harness.GROUP_SETTINGS))
    nxt = h.produce(msgs)
    h.wait_done(nxt, timeout=120)
    s = check_counts(h, fd, mdl, len(msgs), "after the stream")

    # build info, the rebalance seen, and no label that names a rep, team or deal
    _, families = scrape(fd)
    expect("build info", value(s, "funneld_build_info", version="0.1.0"), 1)
    if not value(s, "funneld_rebalances_total", kind="assign"):
        raise harness.TestFailure("no assignment counted in funneld_rebalances_total")
    ids = set()
    for m in msgs:
        if m.event:
            ids.update(x for x in (m.event.rep, m.event.team, m.event.deal) if x)
    for fam in families.values():
        for smp in fam.samples:
            for k, v in smp.labels.items():
                if k in ("rep", "team", "deal", "rep_id", "team_id", "deal_id") or v in ids:
                    raise harness.TestFailure("%s carries label %s=%r: a rep/team/deal id"
                                              % (smp.name, k, v))
        if not fam.name.startswith("funneld_"):
            raise harness.TestFailure("metric %s lacks the funneld_ prefix" % fam.name)
    wait_for("the metrics publisher's first round",
             lambda: (value(scrape(fd)[0], "funneld_metrics_publisher_rows_total") or 0) > 0)
    s, _ = scrape(fd)
    expect("metrics publisher leader", value(s, "funneld_metrics_publisher_leader"), 1)

    # probes
    status, _, text = get(fd.http_url + "/livez")
    expect("/livez status", status, 200)
    expect("/livez body", json.loads(text), {"status": "ok"})
    status, _, text = get(fd.http_url + "/readyz")
    if status != 200:
        raise harness.TestFailure("/readyz answered %d when caught up: %s" % (status, text))
    ready = json.loads(text)
    expect("/readyz lag", ready["checks"]["lag"]["lag"], 0)
    print("[http_ops] /livez 200, /readyz 200: %s" % text, flush=True)

    # Redis stops; more events arrive: not ready, and the lag shows them
    # sent again: each is a duplicate (same event_id) or rejected again, exactly as the model says
    more = msgs[:400]
    more_model_msgs = msgs + more
    h.stop_redis()
    nxt2 = h.produce([model.Msg(key=m.key, value=m.value, event=m.event, reject=m.reject)
                      for m in more])
    added = sum(nxt2.values()) - sum(nxt.values())
    status, _, text = wait_for("/readyz to answer 503 with Redis down",
                               lambda: (lambda g: g if g[0] == 503 else None)(
                                   get(fd.http_url + "/readyz")), 60)
    if json.loads(text)["checks"]["redis"]["ok"] is not False:
        raise harness.TestFailure("/readyz 503 but its redis check is not false: " + text)
    s = wait_for("the lag of the unapplied messages",
                 lambda: (lambda s: s if sum(part_values(s, "funneld_partition_lag").values())
                          == added else None)(scrape(fd)[0]), 60)
    expect("redis up while down", value(s, "funneld_redis_up"), 0)
    if not value(s, "funneld_redis_errors_total"):
        raise harness.TestFailure("no Redis error counted while Redis was down")
    status, _, _ = get(fd.http_url + "/livez")
    expect("/livez while Redis is down (the loop retries: alive)", status, 200)
    print("[http_ops] Redis down: /readyz 503, lag %d = the messages sent meanwhile, /livez 200"
          % added, flush=True)
    h.start_redis(appendonly=True)
    h.wait_done(nxt2, timeout=120)
    mdl2 = model.Model(tz=h.tz, prefix=h.prefix).run(more_model_msgs)
    check_counts(h, fd, mdl2, len(more_model_msgs), "after Redis came back")
    wait_for("/readyz 200 after Redis came back",
             lambda: get(fd.http_url + "/readyz")[0] == 200, 30)
    rc = fd.stop()
    expect("funneld A exit code", rc, 0)

    # http.token, on port 0 (logged): /metrics needs the bearer token; the probes do not
    tok = "s3cret-token"
    b = h.start_funneld("B", h.funneld_settings(http__listen="127.0.0.1:0", http__token=tok,
                                                **harness.GROUP_SETTINGS))

    def bound():
        with open(b.log_path, "rb") as f:
            m = re.search(rb"http: serving http://127\.0\.0\.1:(\d+)", f.read())
        return int(m.group(1)) if m else None
    port = wait_for("funneld B to log its bound port", bound, 30)
    b.http_url = "http://127.0.0.1:%d" % port
    status, _, text = get(b.http_url + "/metrics")
    expect("/metrics without the token", status, 401)
    status, _, text = get(b.http_url + "/metrics", token="wrong")
    expect("/metrics with a wrong token", status, 401)
    s, _ = scrape(b, token=tok)
    expect("/livez without the token", get(b.http_url + "/livez")[0], 200)
    if get(b.http_url + "/readyz")[0] not in (200, 503):
        raise harness.TestFailure("/readyz without the token is not open")
    expect("funneld B exit code", b.stop(), 0)

    # http.listen=off serves nothing
    c = h.start_funneld("C", h.funneld_settings(http__listen="off", **harness.GROUP_SETTINGS))
    time.sleep(1)
    if not c.alive():
        raise harness.TestFailure("funneld with http.listen=off exited: " + c.tail())
    with open(c.log_path, "rb") as f:
        if b"serving http" in f.read():
            raise harness.TestFailure("http.listen=off still serves")
    expect("funneld C exit code", c.stop(), 0)
    print("[http_ops] OK: counters match the model; probes follow Redis; the token guards "
          "/metrics", flush=True)


if __name__ == "__main__":
    harness.run("http_ops", __doc__, body)
