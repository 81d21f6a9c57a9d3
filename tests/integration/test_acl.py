#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Redis ACL user of docs/deployment.md, end to end: the ACL SETUSER line is read from the
document itself (and its compose form must list the same rules), created on a real redis-server,
and funneld runs as that user with alerts on: two instances share 8 partitions of the mock Kafka
cluster, the alert evaluator takes its lease, holds the event clock, fires and resolves alerts
(stream, outbox, PUBLISH) and hands them to Kafka. Checks:
  - every event is applied (stored offsets = produced), and the alerts of test_alerts' load are
    written (a firing and a resolved one for the collapsed rep, a firing one for the silent rep),
    delivered (empty outbox) and published on <prefix>:alerts (a subscriber gets each once);
  - no funneld log line reports a refused command (NOPERM / "no permissions");
  - the metrics publisher publishes, and funnelctl show, reps, teams, offsets, stats, alerts and
    watch work as that user;
  - funneld --check accepts the user and refuses (exit 2) a wrong password, an unknown time zone,
    a missing rules file and an unknown librdkafka property, writing nothing;
  - with a wrong password funneld stops at start-up (exit 2) with a message naming the setting,
    and funnel-gen's throttle (FUNNELD_REDIS_USER / _PASSWORD) stops with exit 1; with the right
    one the throttled generator runs as that user;
  - the user is refused keys outside the prefix, other channels, and KEYS / FLUSHALL / CONFIG.
A rule the document forgot makes funneld log NOPERM and retry: this test fails then. Last, the
ACL loses EVALSHA while a funneld runs: it must log NOPERM, retry, keep the offsets, and catch up
by itself once the rule is back.

Python 3 standard library only. Usage: test_acl.py --build-dir DIR [--source-dir DIR]
"""

import json
import os
import re
import socket
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402
import metricsfeed  # noqa: E402
import test_alerts  # noqa: E402  (its load and rules)

NAME = "test_acl"
PASSWORD = "pw-of-the-acl-test"


def documented_acl(source_dir):
    """(the ACL SETUSER words of docs/deployment.md, the words of its compose `--user` list)."""
    with open(os.path.join(source_dir, "docs", "deployment.md"), encoding="utf-8") as f:
        text = f.read()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("ACL SETUSER ")]
    if len(lines) != 1:
        raise TestFailure("docs/deployment.md: expected one ACL SETUSER line, found %d"
                          % len(lines))
    words = lines[0].split()[2:]
    m = re.search(r"^( *)- --user\n((?:\1- .*\n)+)", text, re.M)
    if not m:
        raise TestFailure("docs/deployment.md: no compose `- --user` list found")
    compose = []
    for ln in m.group(2).splitlines():
        w = ln.strip()[2:].split("#")[0].strip()
        if len(w) >= 2 and w[0] == w[-1] == '"':
            w = w[1:-1]
        compose.append(w)
    return words, compose


def check_same_rules(words, compose):
    """The compose list is the SETUSER line without `reset`, with another password variable."""
    line = [w for w in words if w != "reset"]
    if len(line) != len(compose) or any(
            a != b and not (a.startswith(">") and b.startswith(">"))
            for a, b in zip(line, compose)):
        raise TestFailure("docs/deployment.md: the compose user differs from the ACL SETUSER line:"
                          "\n  line:    %s\n  compose: %s" % (" ".join(line), " ".join(compose)))


def funnelctl(h, settings, *args):
    argv = [h.bin("funnelctl")]
    for k in ("redis.host", "redis.port", "redis.prefix", "redis.user", "redis.password",
              "funnel.timezone", "kafka.brokers", "kafka.topics", "kafka.group_id"):
        argv += ["--set", "%s=%s" % (k, settings[k])]
    p = subprocess.run(argv + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    if p.returncode != 0 or "NOPERM" in out or "no permissions" in out:
        raise TestFailure("funnelctl %s as the ACL user: exit %d\n%s"
                          % (" ".join(args), p.returncode, out))
    return out


def refused(r, *cmd):
    try:
        r.call(*cmd)
    except harness.RespError as e:
        return "NOPERM" in str(e) or "no permissions" in str(e)
    return False


def body(h, args):
    words, compose = documented_acl(h.source)
    check_same_rules(words, compose)
    if not any(w.startswith(">") for w in words) or "~funnel:*" not in words:
        raise TestFailure("docs/deployment.md: the ACL line has no password or no ~funnel:*")
    acl = [(">" + PASSWORD) if w.startswith(">") else w for w in words]
    h.prefix = "funnel"  # the document's key pattern, verbatim
    h.start_redis()
    h.start_mock()
    admin = h.redis()
    admin.call("ACL", "SETUSER", *acl)
    print("[%s] ACL SETUSER %s" % (NAME, " ".join(words)), flush=True)

    user = h.redis()
    user.call("AUTH", "funneld", PASSWORD)
    for cmd in (["GET", "other:key"], ["SET", "other:key", "1"], ["KEYS", "*"], ["FLUSHALL"],
                ["CONFIG", "GET", "maxmemory"], ["PUBLISH", "other-channel", "x"]):
        if not refused(user, *cmd):
            raise TestFailure("the ACL user may run %s" % " ".join(cmd))

    # a wrong password is a configuration error: exit 2 at start-up, naming the settings
    bad = h.funneld_settings(redis__user="funneld", redis__password="not-the-password")
    argv = [h.bin("funneld")]
    for k, v in bad.items():
        argv += ["--set", "%s=%s" % (k, v)]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 2 or "redis.password" not in err or "not-the-password" in err:
        raise TestFailure("funneld with a wrong password: exit %d, expected 2 and a message "
                          "naming redis.password:\n%s" % (p.returncode, err))
    print("[%s] wrong password: exit 2, %s" % (NAME, err.strip().splitlines()[-1]), flush=True)

    # funneld --check: what start-up checks, without consuming
    good = h.funneld_settings(redis__user="funneld", redis__password=PASSWORD,
                              alerts__rules=os.path.join(h.source, "configs", "alerts.demo.json"))
    cases = [("the ACL user", {}, 0, "configuration OK"),
             ("a wrong password", {"redis.password": "nope"}, 2, "redis.password"),
             ("an unknown time zone", {"funnel.timezone": "Mars/Olympus"}, 2, "funnel.timezone"),
             ("a missing rules file", {"alerts.rules": "/nonexistent/rules.json"}, 2,
              "alerts.rules"),
             ("an unknown librdkafka property", {"kafka.dlq_topc": "x"}, 2, "kafka.dlq_topc"),
             ("an unreachable Redis", {"redis.port": str(harness.free_port())}, 0,
              "configuration OK")]
    for what, change, want_rc, want_text in cases:
        argv = [h.bin("funneld"), "--check"]
        for k, v in dict(good, **change).items():
            argv += ["--set", "%s=%s" % (k, v)]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        text = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        if p.returncode != want_rc or want_text not in text:
            raise TestFailure("funneld --check with %s: exit %d, expected %d and %r:\n%s"
                              % (what, p.returncode, want_rc, want_text, text))
    if h.redis().call("DBSIZE") != 0:
        raise TestFailure("funneld --check wrote to Redis")
    print("[%s] funneld --check: %d cases as expected, nothing written" % (NAME, len(cases)),
          flush=True)

    msgs = test_alerts.generate(args.seed)
    rules_path = os.path.join(h.tmp, "rules.json")
    with open(rules_path, "w") as f:
        json.dump(test_alerts.RULES, f)
    settings = h.funneld_settings(alerts__rules=rules_path, alerts__lease_ms=3000,
                                  batch__max_events=2000, redis__user="funneld",
                                  redis__password=PASSWORD)
    # a dashboard's live feed: SUBSCRIBE <prefix>:alerts (as the administrator)
    sub = harness.Redis(h.redis_port, timeout=1.0)
    sub.call("SUBSCRIBE", h.prefix + ":alerts")
    published, stop_sub = [], threading.Event()

    def listen():
        while not stop_sub.is_set():
            try:
                msg = sub._reply()
            except (socket.timeout, OSError, ConnectionError):
                continue
            if isinstance(msg, list) and msg[0] == b"message":
                published.append(json.loads(msg[2]))
    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    fds = [h.start_funneld("a", settings), h.start_funneld("b", settings)]
    nxt = h.produce(msgs, seconds=10)
    h.wait_done(nxt, timeout=180)

    r = h.redis()
    want = {(test_alerts.COLLAPSE_REP, "proposal-exit-low", "firing"),
            (test_alerts.COLLAPSE_REP, "proposal-exit-low", "resolved"),
            (test_alerts.SILENT_REP, "calls-silent", "firing")}
    deadline = time.time() + 120
    seen = set()
    while time.time() < deadline:
        seen = {(a["scope_id"], a["rule"], a["state"])
                for a in test_alerts.read_stream(r, h.prefix)}
        if want <= seen and r.call("HLEN", h.prefix + ":alerts:outbox") == 0:
            break
        for p in fds:
            if not p.alive():
                raise TestFailure("funneld exited:\n" + p.tail())
        time.sleep(0.2)
    else:
        raise TestFailure("alerts as the ACL user: expected %s, got %s (outbox %d)"
                          % (sorted(want), sorted(seen),
                             r.call("HLEN", h.prefix + ":alerts:outbox")))
    print("[%s] %d messages applied; alerts %s delivered" % (NAME, sum(nxt.values()),
                                                           sorted(want)), flush=True)
    stream = {a["alert_id"]: a for a in test_alerts.read_stream(r, h.prefix)}
    deadline = time.time() + 10
    while len(published) < len(stream) and time.time() < deadline:
        time.sleep(0.1)
    stop_sub.set()
    listener.join(5)
    sub.close()
    if sorted(a["alert_id"] for a in published) != sorted(stream) or \
            any(a != stream[a["alert_id"]] for a in published):
        raise TestFailure("PUBLISH on %s:alerts: %d messages for the %d notifications of the "
                          "stream, or different JSON" % (h.prefix, len(published), len(stream)))
    print("[%s] every notification was also published on %s:alerts" % (NAME, h.prefix),
          flush=True)

    # the metrics publisher ran as the user (it publishes every changed hash)
    pub = metricsfeed.wait_published(h)
    if int(pub.get("published", "0")) == 0:
        raise TestFailure("the metrics publisher published nothing as the ACL user: %s" % pub)
    print("[%s] the metrics publisher ran as the user: %s" % (NAME, pub), flush=True)
    # funnelctl watch: its MULTI/EXEC snapshot and XREAD as the user (the first line is the
    # snapshot; then it is stopped)
    argv = [h.bin("funnelctl")]
    for k in ("redis.host", "redis.port", "redis.prefix", "redis.user", "redis.password",
              "funnel.timezone"):
        argv += ["--set", "%s=%s" % (k, settings[k])]
    w = subprocess.Popen(argv + ["watch", "org", "--window", "all", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = json.loads(w.stdout.readline().decode() or "{}")
    finally:
        w.send_signal(signal.SIGTERM)
        _, err = w.communicate(timeout=10)
    if first.get("event") != "snapshot" or not first.get("fields") or w.returncode != 0:
        raise TestFailure("funnelctl watch as the ACL user: first line %r, exit %s\n%s"
                          % (first, w.returncode, err.decode(errors="replace")))

    # funnelctl feeds: the change feed and the publisher as the operator sees them
    fj = json.loads(funnelctl(h, settings, "feeds", "--json"))
    if fj["changes"]["length"] <= 0 or fj["publisher"]["published"] <= 0 or \
            not fj["heartbeats"] or fj["publisher"]["lease"] is None:
        raise TestFailure("funnelctl feeds --json as the ACL user: %s" % fj)
    text = funnelctl(h, settings, "feeds")
    if "change feed" not in text or "metrics publisher: last round ended" not in text:
        raise TestFailure("funnelctl feeds as the ACL user:\n%s" % text)
    print("[%s] funnelctl feeds:\n%s" % (NAME, text.rstrip()), flush=True)

    for args_ in (["show", "org", "--window", "all"], ["show", "rep", test_alerts.COLLAPSE_REP,
                                                       "--window", "all"],
                  ["reps", "--window", "all"], ["teams", "--window", "all"], ["offsets"], ["stats"], ["alerts"]):
        funnelctl(h, settings, *args_)

    # funnel-gen's throttle logs in with funneld's variables: refused -> exit 1 at once
    gen = [h.bin("funnel-gen"), "--brokers", h.bootstrap, "--topic", harness.TOPIC, "--count",
           "2000", "--seed", "7", "--throttle-redis", "127.0.0.1:%d/funnel" % h.redis_port,
           "--max-lag", "500"]
    env = dict(os.environ, FUNNELD_REDIS_USER="funneld", FUNNELD_REDIS_PASSWORD="wrong-one")
    p = subprocess.run(gen, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 1 or "refused AUTH" not in err or "wrong-one" in err:
        raise TestFailure("funnel-gen throttled with a wrong password: exit %d\n%s"
                          % (p.returncode, err))
    before = sum(h.progress(r).values())
    env["FUNNELD_REDIS_PASSWORD"] = PASSWORD
    p = subprocess.run(gen, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        raise TestFailure("funnel-gen throttled as the ACL user: exit %d\n%s"
                          % (p.returncode, p.stderr.decode(errors="replace")))
    h.wait_progress(lambda cur: sum(cur.values()) >= before + 2000, 60,
                    "funneld applies the throttled funnel-gen load")
    print("[%s] funnel-gen's throttle: refused with a wrong password (exit 1), ran as the ACL "
          "user" % NAME, flush=True)

    for p in fds:
        rc = p.stop()
        if rc != 0:
            raise TestFailure("funneld exited %d:\n%s" % (rc, p.tail()))
    for p in fds:
        with open(p.log_path, encoding="utf-8", errors="replace") as f:
            bad = [ln for ln in f if "NOPERM" in ln or "no permissions" in ln]
        if bad:
            raise TestFailure("funneld was refused a command as the documented ACL user "
                              "(docs/deployment.md lacks a rule):\n%s" % "".join(bad[:5]))
    print("[%s] no command refused; funnelctl show/offsets/stats/alerts ran as the user"
          % NAME, flush=True)

    # An ACL changed while funneld runs: a refused command is logged and retried, offsets stay,
    # and funneld goes on by itself once the rule is back (docs/operations.md).
    admin.call("ACL", "SETUSER", "funneld", "-evalsha")
    c = h.start_funneld("c", settings)
    base = sum(h.progress(r).values())
    more = h.produce(test_alerts.generate(args.seed + 1)[:500])
    deadline = time.time() + 60
    while True:
        with open(c.log_path, encoding="utf-8", errors="replace") as f:
            nop = [ln for ln in f if "NOPERM" in ln and " warn " in ln]
        if nop:
            break
        if not c.alive() or time.time() > deadline:
            raise TestFailure("with EVALSHA refused, funneld %s:\n%s"
                              % ("exited" if not c.alive() else "logged no NOPERM", c.tail()))
        time.sleep(0.2)
    time.sleep(2)
    if not c.alive() or sum(h.progress(r).values()) != base:
        raise TestFailure("with EVALSHA refused funneld must retry and store nothing: alive %s, "
                          "offsets %d -> %d" % (c.alive(), base, sum(h.progress(r).values())))
    admin.call("ACL", "SETUSER", "funneld", "+evalsha")
    h.wait_done(more, timeout=60)
    rc = c.stop()
    if rc != 0:
        raise TestFailure("funneld exited %d after the ACL was restored:\n%s" % (rc, c.tail()))
    print("[%s] EVALSHA revoked while running: logged (%s...), retried, offsets kept; caught up "
          "by itself once restored" % (NAME, nop[0].strip()[:90]), flush=True)


if __name__ == "__main__":
    harness.run(NAME, __doc__, body)
