#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""funnelctl rebuild beside a live funneld (docs/operations.md "Rebuilding"): a live instance
consumes while `funnelctl rebuild --to NEW --json --delete-old` rebuilds the metrics into NEW from
the earliest offsets, then switches the pointer <base>:current. Checks: a non-empty target is
refused (exit 2, the message names it) and so is an invalid one; the --json progress lines parse,
with applied/total/rate/eta/partitions, the last one complete; the judgement state (alert states,
scorecards, with ids holding spaces, quotes and glob characters) is copied; the pointer names
NEW; the live funneld switched in process (its log says so, it keeps its pid) and its later
batches land in NEW: NEW ends equal to the independent model over every message; funnelctl show
and funnel-web's /api/v1/funnel read NEW; --delete-old removed every key of the old prefix
(the odd ids included) but never the pointer; a pointer that names no prefix is ignored with a
warning; a funneld started after the switch resolves the pointer at start."""

import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import web  # noqa: E402
from harness import TestFailure  # noqa: E402

NAME = "rebuild"
ODD = 'o\'brien "the*[closer]" ?'  # an id with a space, quotes and glob characters


def funnelctl(h, settings, *args, timeout=60):
    argv = [h.bin("funnelctl")]
    for k, v in settings.items():
        argv += ["--set", "%s=%s" % (k, v)]
    argv += list(args)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def wait_log(path, text, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path, errors="replace") as f:
            if text in f.read():
                return True
        time.sleep(0.1)
    return False


def body(h, args):
    old = h.prefix
    new = old + "-r2"
    h.prefix = new  # the model's keys: the rebuilt prefix
    msgs, mdl, gen = harness.generate(h, args, 12000, tz="Asia/Shanghai")
    h.prefix = old
    a, b = len(msgs) * 2 // 5, len(msgs) * 4 // 5
    h.start_redis()
    h.start_mock()
    r = h.redis()

    # the history so far, applied by the live instance into the old prefix
    nxt = h.produce(msgs[:a])
    settings = h.funneld_settings(**harness.GROUP_SETTINGS)
    live = h.start_funneld("live", settings)
    h.wait_done(nxt, timeout=60)
    w = web.Web(h, "api")
    got = w.get("/api/v1/funnel?scope=org&window=all")
    if not got["exists"]:
        raise TestFailure("funnel-web before the rebuild: no org hash in %s" % old)

    # judgement state in the old prefix, under ids a glob or a shell would mangle
    planted = {
        "%s:alerts:state:silent %s" % (old, ODD): ("HSET", ["rep|" + ODD, "a1 firing 1 0 1 0 0"]),
        "%s:score:rep:month:2026-11:%s" % (old, ODD): ("HSET", ["score", "87.5", "grade", "B"]),
        "%s:rank:month:2026-11:rep" % old: ("ZADD", ["87.5", ODD]),
    }
    for k, (cmd, vals) in planted.items():
        r.call(cmd, k, *vals)
    odd_metric = "%s:rep:all:%s" % (old, ODD)  # not judgement state: left behind, then deleted
    r.call("HSET", odd_metric, "events", "1")

    ctl_settings = {k: v for k, v in settings.items()}

    # refusals: a target holding any key, and a target that is no prefix
    full = old + "-full"
    r.call("SET", full + ":anything", "x")
    rc, out, err = funnelctl(h, ctl_settings, "rebuild", "--to", full)
    if rc != 2 or full not in err or "not empty" not in err:
        raise TestFailure("rebuild into a non-empty prefix: exit %d, expected 2 naming %s:\n%s%s"
                          % (rc, full, out, err))
    refusal = err.strip().splitlines()[-1]
    if r.call("GET", full + ":anything") != b"x" or r.call("EXISTS", old + ":current") != 0:
        raise TestFailure("the refused rebuild changed Redis")
    rc, out, err = funnelctl(h, ctl_settings, "rebuild", "--to", "bad:prefix")
    if rc != 2 or "--to" not in err:
        raise TestFailure("rebuild --to bad:prefix: exit %d, expected 2:\n%s" % (rc, err))
    rc, out, err = funnelctl(h, ctl_settings, "rebuild", "--to", old)
    if rc != 2:
        raise TestFailure("rebuild into the active prefix: exit %d, expected 2:\n%s" % (rc, err))
    print("[%s] refused: a non-empty target (%s), an invalid one, the active one"
          % (NAME, refusal), flush=True)

    # the rebuild, while events keep coming and the live instance applies them
    feed = h.start_feed(msgs[a:b], seconds=12)
    time.sleep(1.0)
    log = open(h.logpath("funnelctl-rebuild"), "wb")
    argv = [h.bin("funnelctl")]
    for k, v in ctl_settings.items():
        argv += ["--set", "%s=%s" % (k, v)]
    argv += ["rebuild", "--to", new, "--json", "--delete-old"]
    t0 = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    child_argv = None  # the rebuild's funneld, as funnelctl started it
    deadline = time.time() + 120
    while proc.poll() is None:
        if time.time() > deadline:
            proc.kill()
            raise TestFailure("funnelctl rebuild did not end in 120 s")
        if child_argv is None:
            try:
                with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
                    kids = f.read().split()
                if kids:
                    with open("/proc/%s/cmdline" % kids[0], "rb") as f:
                        seen = [a.decode() for a in f.read().split(b"\0") if a]
                    if seen and seen[0].endswith("/funneld"):  # exec'd (not still forking)
                        child_argv = seen
            except OSError:
                pass
        time.sleep(0.05)
    reader.join(10)
    log.close()
    out = b"".join(chunks)
    took = time.time() - t0
    lines = out.decode().splitlines()
    if proc.returncode != 0:
        with open(h.logpath("funnelctl-rebuild"), errors="replace") as f:
            tail = f.read()[-3000:]
        raise TestFailure("funnelctl rebuild exited %d:\n%s\n%s"
                          % (proc.returncode, "\n".join(lines[-5:]), tail))
    # the rebuild's funneld: its own prefix, group and start, no pointer, no alert notifications,
    # no scorer, no metrics topic, no HTTP; each after the settings it was handed (last wins)
    if child_argv is None:
        raise TestFailure("never saw the rebuild's funneld")
    sets = [child_argv[i + 1] for i, a in enumerate(child_argv[:-1]) if a == "--set"]
    last = {}
    for kv in sets:
        k, v = kv.split("=", 1)
        last[k] = v
    want = {"redis.prefix": new, "redis.follow_current": "off", "kafka.start_from": "earliest",
            "kafka.group_id": "%s.rebuild.%s" % (h.group, new), "alerts.rules": "",
            "targets.file": "", "feeds.metrics": "off", "http.listen": "off",
            "redis.port": str(h.redis_port), "kafka.brokers": h.bootstrap}
    bad = {k: (last.get(k), v) for k, v in want.items() if last.get(k) != v}
    if bad or not child_argv[0].endswith("/funneld"):
        raise TestFailure("the rebuild's funneld %s got %s (got, expected)" % (child_argv[0], bad))
    with open(h.logpath("funnelctl-rebuild"), errors="replace") as f:
        text = f.read()  # the rebuild's funneld logs there
    for marker in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
        if marker in text:
            raise TestFailure("sanitizer report in the rebuild's log:\n%s"
                              % text[text.index(marker) - 200:][:1500])
    events = []
    for ln in lines:
        try:
            events.append(json.loads(ln))
        except ValueError:
            raise TestFailure("--json printed a line that is not JSON: %r" % ln)
    progress = [e for e in events if e.get("event") == "progress"]
    if not progress:
        raise TestFailure("no progress line: %s" % lines)
    for e in progress:
        for k in ("applied", "total", "rate", "eta", "partitions"):
            if k not in e:
                raise TestFailure("progress line without %s: %s" % (k, e))
        if len(e["partitions"]) != harness.PARTITIONS or not all(
                {"topic", "partition", "next", "end", "lag"} <= set(p) for p in e["partitions"]):
            raise TestFailure("progress partitions: %s" % e["partitions"])
        if not 0 <= e["applied"] <= e["total"]:
            raise TestFailure("progress applied %s of %s" % (e["applied"], e["total"]))
    last = progress[-1]
    if last["applied"] != last["total"] or last["total"] < a or any(
            p["lag"] != 0 for p in last["partitions"]):
        raise TestFailure("the last progress line is not complete: %s" % last)
    kinds = [e["event"] for e in events if e["event"] != "progress"]
    if kinds != ["started", "stopping", "copied", "switched", "deleted"]:
        raise TestFailure("steps %s, expected started, stopping, copied, switched, deleted"
                          % kinds)
    print("[%s] rebuilt %d events in %.1f s, %d progress lines, steps %s"
          % (NAME, last["total"], took, len(progress), kinds), flush=True)

    # the pointer, and the live instance switched in process
    cur = r.call("GET", old + ":current")
    if cur != new.encode():
        raise TestFailure("%s:current = %r, expected %s" % (old, cur, new))
    if not wait_log(live.log_path, "the active prefix moved from %s to %s (funnelctl rebuild): "
                    "switching" % (old, new), 15):
        raise TestFailure("the live funneld did not log the switch")
    if not live.alive():
        raise TestFailure("the live funneld exited instead of switching in process")

    # the copied judgement state
    for k, (cmd, vals) in planted.items():
        nk = new + k[len(old):]
        t = r.call("TYPE", nk)
        if t != (b"hash" if cmd == "HSET" else b"zset"):
            raise TestFailure("judgement key %r not copied into %s (type %r)" % (k, new, t))
    got_state = harness.pairs_to_dict(r.call("HGETALL", new + ":alerts:state:silent " + ODD))
    if got_state != {("rep|" + ODD).encode(): b"a1 firing 1 0 1 0 0"}:
        raise TestFailure("copied alert state differs: %r" % got_state)
    if r.call("EXISTS", new + ":rep:all:" + ODD) != 0:
        raise TestFailure("a metric hash of the old prefix was copied")

    # the later batches land in NEW: the rest of the feed, then one more after the switch
    feed.join()
    nxt = h.produce(msgs[b:])
    h.prefix = new
    h.wait_done(nxt, timeout=60)
    for k in list(planted):
        r.call("DEL", new + k[len(old):])  # outside the metric layout compare() checks
    h.compare(mdl, label="rebuilt prefix after the switch")

    # the old prefix is gone (the odd ids too), the pointer stays
    left = r.scan_all(old + ":*")
    if left != [(old + ":current").encode()]:
        raise TestFailure("--delete-old left %d keys of %s: %s" % (len(left), old, left[:10]))

    # readers follow the pointer: funnelctl show and funnel-web read NEW
    exp_org = mdl.expected_hashes()[new + ":org:all"]
    rc, out, err = funnelctl(h, ctl_settings, "show", "org", "--window", "all", "--json")
    if rc != 0 or json.loads(out).get("events") != int(exp_org["events"]):
        raise TestFailure("funnelctl show org after the switch: exit %d, %s%s (model events %s)"
                          % (rc, out[:300], err, exp_org["events"]))
    rc, out, err = funnelctl(h, dict(ctl_settings, **{"redis.follow_current": "off"}),
                             "show", "org", "--window", "all")
    if rc != 1:
        raise TestFailure("funnelctl show with redis.follow_current=off read the deleted prefix: "
                          "exit %d" % rc)
    deadline = time.time() + 5
    while True:
        got = w.get("/api/v1/funnel?scope=org&window=all")
        if got["exists"] and got["fields"].get("events") == int(exp_org["events"]):
            break
        if time.time() > deadline:
            raise TestFailure("funnel-web /api/v1/funnel after the switch: %s, model events %s"
                              % (got.get("fields", {}).get("events"), exp_org["events"]))
        time.sleep(0.2)
    print("[%s] funnelctl show and funnel-web read %s" % (NAME, new), flush=True)

    # a pointer that names no valid prefix is ignored with a warning: the base is read
    r.call("SET", old + ":current", "not a prefix*")
    rc, out, err = funnelctl(h, ctl_settings, "show", "org", "--window", "all")
    if rc != 1 or "does not name a valid prefix" not in err:
        raise TestFailure("funnelctl with an invalid pointer: exit %d (expected 1: the base was "
                          "deleted), stderr %r" % (rc, err))
    r.call("SET", old + ":current", new)
    time.sleep(1.5)
    if not live.alive() or "moved from %s to %s" % (new, old) in open(live.log_path).read():
        raise TestFailure("the live funneld followed an invalid pointer")

    # an instance started now resolves the pointer at start: configured with the old prefix,
    # it runs on the new one
    late = h.start_funneld("late", settings)
    if not wait_log(late.log_path, "redis.prefix %s: the active prefix is %s" % (old, new), 20):
        raise TestFailure("a funneld started after the switch did not resolve the pointer")
    rc = late.stop(timeout=30)
    if rc != 0:
        raise TestFailure("the late funneld exited %s after SIGTERM, expected 0" % rc)
    print("[%s] a funneld started after the switch runs on %s" % (NAME, new), flush=True)

    rc = live.stop(timeout=30)
    if rc != 0:
        raise TestFailure("the live funneld exited %s after SIGTERM, expected 0" % rc)
    print("[%s] OK: rebuilt into %s beside a live funneld, switched, old prefix deleted"
          % (NAME, new))


if __name__ == "__main__":
    harness.run(NAME, __doc__, body)
