#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""funnelctl watch, the reference reader of the change feed (docs/feeds.md, docs/funnelctl.md),
against a private redis-server (AOF on), the mock Kafka cluster and funneld with a 300 ms
heartbeat. A `watch rep <id> --window all --json` runs as a subprocess for the whole test (and a
text-mode one beside it); the test produces events for that rep and checks:
- each apply shows up as a `change` whose fields equal HGETALL of the hash, and the delay from
  the change-feed entry (its id's ms) to the line is within 1 s (see measure_delays for what this
  does and does not prove);
- the status: `live` with changes, `idle` with heartbeats only, `stalled` 3 intervals after the
  last entry once funneld is stopped (and not before);
- a stream recreated below the position held (DEL + XADD 1-1) and a forced trim (XTRIM MAXLEN 0
  + XADD of a heartbeat, in one MULTI) each make it take a new snapshot, and it follows changes
  after them;
- a Redis restart (AOF kept): `disconnected`, then a new snapshot equal to Redis, then changes
  again; SIGINT ends it with exit 0. Usage errors exit 2.
Every wait is bounded."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import model  # noqa: E402
from harness import TestFailure  # noqa: E402

TZ = "Asia/Shanghai"
REP = "watch-rep@corp.example"
SUFFIX = "rep:all:" + REP
HEARTBEAT_MS = 300
ROUNDS = 5


def expect(cond, what, *details):
    if not cond:
        raise TestFailure(what + "".join("\n  " + str(d) for d in details))


class Watch:
    """A funnelctl watch subprocess; a thread collects its stdout lines with the time each was
    read (time.time(), the clock Redis's stream ids use on this host)."""

    def __init__(self, h, name, *args):
        self.name = name
        self.argv = [h.bin("funnelctl"), "--set", "redis.port=%d" % h.redis_port,
                     "--set", "redis.prefix=" + h.prefix, "--set", "funnel.timezone=" + TZ,
                     "watch", "rep", REP, "--window", "all"] + list(args)
        self.err_path = h.logpath("watch-" + name)
        self.err = open(self.err_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELD_")}
        self.p = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self.err, env=env)
        self.lines = []  # (time read, text)
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.p.stdout:
            t = time.time()
            with self.lock:
                self.lines.append((t, raw.decode("utf-8").rstrip("\n")))

    def count(self):
        with self.lock:
            return len(self.lines)

    def events(self, start=0):
        """The JSON events from line `start` on: (index, time read, object)."""
        with self.lock:
            got = list(enumerate(self.lines))[start:]
        out = []
        for i, (t, text) in got:
            try:
                out.append((i, t, json.loads(text)))
            except ValueError:
                raise TestFailure("watch %s printed a line that is not JSON: %r"
                                  % (self.name, text))
        return out

    def wait(self, pred, start, timeout, what):
        """The first event from line `start` on that satisfies pred, waiting up to timeout s."""
        deadline = time.time() + timeout
        while True:
            for i, t, ev in self.events(start):
                if pred(ev):
                    return i, t, ev
            if self.p.poll() is not None:
                raise TestFailure("watch %s exited %s while waiting for %s; stderr: %s"
                                  % (self.name, self.p.returncode, what, self.stderr()))
            if time.time() > deadline:
                raise TestFailure("watch %s: no %s within %.0f s; its events since:\n  %s"
                                  % (self.name, what, timeout, "\n  ".join(
                                      json.dumps(e) for _, _, e in self.events(start)[-15:])))
            time.sleep(0.02)

    def stop(self, sig=signal.SIGINT, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise TestFailure("watch %s did not exit within %d s of signal %d"
                              % (self.name, timeout, sig))
        self.reader.join(5)
        self.err.close()
        return rc

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def hgetall(h):
    r = h.redis()
    try:
        raw = r.call("HGETALL", "%s:%s" % (h.prefix, SUFFIX))
    finally:
        r.close()
    d = harness.pairs_to_dict(raw)
    return {k.decode(): v.decode() for k, v in d.items()}


def entries_naming(h, after, upto):
    """Ids (as (ms, seq)) of the change-feed entries in (after, upto] that name the rep's hash
    (a change listing its suffix, or a bulk)."""
    r = h.redis()
    try:
        got = r.call("XRANGE", h.prefix + ":changes", "(" + after if after != "0-0" else "-", upto)
    finally:
        r.close()
    out = []
    for eid, fields in got:
        f = harness.pairs_to_dict(fields)
        kind = f.get(b"kind")
        keys = f.get(b"keys", b"").split(b"\n")
        if kind == b"bulk" or (kind == b"change" and SUFFIX.encode() in keys):
            ms, seq = eid.decode().split("-")
            out.append((int(ms), int(seq)))
    return out


def activity(n):
    """One activity.logged event of REP (keyed by the rep, as docs/events.md says), now."""
    ev = {"event_id": "watch-%d-%d" % (n, time.time_ns()), "type": "activity.logged",
          "occurred_at": int(time.time() * 1000), "rep_id": REP, "team_id": "watchers",
          "activity": "call"}
    return model.Msg(key=REP.encode(), value=json.dumps(ev).encode(), event=None, reject=None)


def expect_change(h, w, start, events, what, timeout=60):
    """Waits for a change event whose events field is `events`; checks it against HGETALL.
    Returns (line index, time read, event)."""
    i, t, ev = w.wait(lambda e: e["event"] == "change" and e["fields"].get("events") == str(events),
                      start, timeout, what)
    now = hgetall(h)
    expect(ev["fields"] == now, "%s: the change's fields differ from HGETALL" % what,
           "watch: %s" % ev["fields"], "redis: %s" % now)
    expect(ev["key"] == SUFFIX, "%s: key %r, expected %r" % (what, ev["key"], SUFFIX))
    return i, t, ev


def measure_delays(h, w, produced):
    """Produces ROUNDS events one at a time; each must show up as a change equal to HGETALL.

    The delay measured for a round is from the first change-feed entry naming the hash that the
    printed change reflects (the id's ms: Redis's clock when the apply script ran, on this host)
    to the moment the test read the line from the pipe. It is a measurement under whatever load
    the machine has, not a benchmark: funneld's batching and Kafka are outside it (they come
    before the entry), the watch's XREAD wake-up, its re-read and the pipe are inside it.

    What the check proves, honestly: every round must deliver its change (bounded waits of
    60 s, a functional requirement). The 1 s requirement of the issue is checked on a majority
    (3 of 5) of the rounds, not on every one, so that one scheduling stall on a loaded 2-core
    machine does not fail the test; a watch that polled every 2 s or more instead of blocking
    on XREAD would pass a round with probability <= 1/2 and the majority with <= 1/2 (far less
    for longer polls), so the check still catches a reader that is structurally slow, though
    not with certainty. The delays are printed for the record."""
    delays = []
    prev_id = None
    for k in range(ROUNDS):
        start = w.count()
        produced += 1
        h.produce([activity(produced)])
        i, t, ev = expect_change(h, w, start, produced, "round %d: the change of event %d"
                                 % (k + 1, produced))
        expect(ev["status"] in ("live", "behind"),
               "round %d: a change printed with status %s" % (k + 1, ev["status"]))
        named = entries_naming(h, prev_id or "0-0", ev["stream_id"])
        expect(named, "round %d: no change-feed entry up to %s names %s"
               % (k + 1, ev["stream_id"], SUFFIX))
        prev_id = ev["stream_id"]
        delays.append(t - named[0][0] / 1000.0)
    within = sum(1 for d in delays if d <= 1.0)
    print("[funnelctl_watch] entry-to-line delays (s): %s; %d of %d within 1 s"
          % (", ".join("%.3f" % d for d in delays), within, ROUNDS), flush=True)
    expect(within * 2 > ROUNDS, "fewer than a majority of the changes reached the watch within "
           "1 s of their change-feed entry: delays %s s" % ["%.3f" % d for d in delays])
    return produced


def last_entry_ms(h):
    r = h.redis()
    try:
        got = r.call("XREVRANGE", h.prefix + ":changes", "+", "-", "COUNT", 1)
    finally:
        r.close()
    return int(got[0][0].decode().split("-")[0]) if got else 0


def check_usage(h):
    base = [h.bin("funnelctl"), "--set", "redis.port=%d" % h.redis_port]
    for args, code, msg in ((["watch"], 2, "wrong number of arguments for 'watch'"),
                            (["watch", "rep"], 2, "watch rep expects an id"),
                            (["watch", "org", "x"], 2, "watch org takes no id"),
                            (["watch", "deal", "x"], 2,
                             "watch expects 'rep <id>', 'team <id>' or 'org'"),
                            (["watch", "org", "--by", "won"], 2,
                             "option --by does not apply to 'watch'"),
                            (["watch", "org", "--window", "day:2026-02-30"], 2, "bad window id")):
        p = subprocess.run(base + args, capture_output=True, timeout=30)
        err = p.stderr.decode()
        expect(p.returncode == code and msg in err, "funnelctl %s: exit %d, stderr %r; expected "
               "exit %d and %r" % (" ".join(args), p.returncode, err, code, msg))
    p = subprocess.run([h.bin("funnelctl"), "--help"], capture_output=True, timeout=30)
    expect(b"funnelctl watch rep <id>" in p.stdout, "funnelctl --help does not list watch",
           p.stdout.decode())


def body(h, args):
    h.tz = TZ
    h.start_redis(appendonly=True)
    h.start_mock()
    check_usage(h)
    settings = dict(harness.GROUP_SETTINGS, feeds__heartbeat_ms=HEARTBEAT_MS,
                    feeds__metrics="off")
    fd = h.start_funneld("A", h.funneld_settings(**settings))
    w = Watch(h, "json", "--json")
    text = Watch(h, "text")

    # the start: a snapshot of a hash that does not exist yet, then the heartbeats say idle
    _, _, snap = w.wait(lambda e: e["event"] == "snapshot", 0, 30, "the first snapshot")
    expect(snap["reason"] == "start" and snap["fields"] == {} and snap["key"] == SUFFIX,
           "the first snapshot", snap)
    w.wait(lambda e: e["status"] == "idle", 0, 30, "status idle from funneld's heartbeats")

    # changes, each equal to HGETALL, within 1 s of their entry (on a majority of rounds)
    produced = measure_delays(h, w, 0)
    start = w.count()
    w.wait(lambda e: e["event"] == "status" and e["status"] == "idle", start, 15,
           "status idle once the changes stop")

    # funneld stops: stalled, 3 intervals after the last entry (not before), bounded
    start = w.count()
    rc = fd.stop(timeout=30)
    t_exit = time.time()
    expect(rc == 0, "funneld exited %s on SIGTERM" % rc)
    _, t_stall, ev = w.wait(lambda e: e["status"] == "stalled", start, 3 * HEARTBEAT_MS / 1000 + 5,
                            "status stalled after funneld stopped")
    last = last_entry_ms(h) / 1000.0
    expect(t_stall >= last + 3 * HEARTBEAT_MS / 1000.0 - 0.05,
           "stalled %.3f s after the last entry, before 3 intervals (%.3f s)"
           % (t_stall - last, 3 * HEARTBEAT_MS / 1000.0))
    print("[funnelctl_watch] stalled %.3f s after the last entry, %.3f s after funneld exited"
          % (t_stall - last, t_stall - t_exit), flush=True)

    # the stream recreated below the position held (as after Redis lost data): a new snapshot
    r = h.redis()
    start = w.count()
    r.pipeline([["MULTI"], ["DEL", h.prefix + ":changes"],
                ["XADD", h.prefix + ":changes", "1-1", "kind", "heartbeat", "watermark", "0",
                 "instance", "test", "interval_ms", str(HEARTBEAT_MS), "parts", ""], ["EXEC"]])
    _, _, ev = w.wait(lambda e: e["event"] == "snapshot", start, 10,
                      "a new snapshot after the stream was recreated")
    expect(ev["reason"] == "recreated" and ev["stream_id"] == "1-1" and ev["fields"] == hgetall(h),
           "the snapshot after the stream was recreated", ev)

    # a forced trim past the position held: a new snapshot
    start = w.count()
    r.pipeline([["MULTI"], ["XTRIM", h.prefix + ":changes", "MAXLEN", "0"],
                ["XADD", h.prefix + ":changes", "*", "kind", "heartbeat", "watermark", "0",
                 "instance", "test", "interval_ms", str(HEARTBEAT_MS), "parts", ""], ["EXEC"]])
    r.close()
    _, _, ev = w.wait(lambda e: e["event"] == "snapshot", start, 10,
                      "a new snapshot after the stream was trimmed")
    expect(ev["reason"] == "trimmed" and ev["fields"] == hgetall(h),
           "the snapshot after the trim", ev)

    # funneld again: the watch follows changes after both
    fd = h.start_funneld("B", h.funneld_settings(**settings))
    start = w.count()
    produced += 1
    h.produce([activity(produced)])
    expect_change(h, w, start, produced, "the change after the trim")

    # Redis restarts (AOF on): disconnected, then a new snapshot equal to Redis, then changes
    start = w.count()
    h.stop_redis()
    w.wait(lambda e: e["status"] == "disconnected", start, 10, "status disconnected")
    time.sleep(1)
    h.start_redis(appendonly=True)
    _, _, ev = w.wait(lambda e: e["event"] == "snapshot", start, 20,
                      "a new snapshot after Redis restarted")
    expect(ev["reason"] == "reconnect" and ev["fields"] == hgetall(h)
           and ev["fields"].get("events") == str(produced),
           "the snapshot after the Redis restart", ev, hgetall(h))
    start = w.count()
    produced += 1
    h.produce([activity(produced)])
    expect_change(h, w, start, produced, "the change after the Redis restart", timeout=90)

    # Ctrl-C: exit 0; the text watch printed the same story
    rc = w.stop()
    expect(rc == 0, "watch --json exited %s on SIGINT" % rc, w.stderr())
    rc = text.stop(signal.SIGTERM)
    expect(rc == 0, "watch (text) exited %s on SIGTERM" % rc, text.stderr())
    lines = [t for _, t in text.lines]
    out = "\n".join(lines)
    for want in ("rep %s, window all" % REP, "status stalled, ", "status disconnected, ",
                 "(snapshot: start)", "(snapshot: the stream was trimmed past the position held)",
                 "(snapshot: reconnected to Redis)"):
        expect(want in out, "the text watch lacks %r" % want, out[-3000:])
    expect(any(l.split() == ["events", str(produced)] for l in lines),
           "the text watch never showed events %d" % produced, out[-3000:])
    for wt in (w, text):
        err = wt.stderr()
        expect("Sanitizer" not in err and "runtime error:" not in err,
               "watch %s: sanitizer report" % wt.name, err)
    print("[funnelctl_watch] OK: %d changes followed through a stall, a recreated stream, a "
          "trim and a Redis restart" % produced, flush=True)


if __name__ == "__main__":
    harness.run("funnelctl_watch", __doc__, body)
