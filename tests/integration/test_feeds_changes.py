#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The change feed <p>:changes (docs/feeds.md) read by a dashboard-like client that follows the
resume protocol of docs/feeds.md: it mirrors every metric hash (a snapshot: the stream's last id
H0, then SCAN, then the hashes in one MULTI/EXEC; it follows from H0, so a hash created during
the SCAN is re-read from its entry), follows the stream with XREAD BLOCK, re-reads the hashes a
`change` entry names (everything on `bulk`), and takes a new snapshot when the id it holds is
older than the stream's first entry, newer than its last, or its connection was lost.

Events come from fd-produce in phases: a trickle (small steps: `change` entries), a fast feed
during which redis-server (appendonly) is restarted (the client must reconnect and resnapshot;
catch-up steps are `bulk`), a forced trim (XTRIM MAXLEN 1 while the client is paused: it must
notice its id is older than the first entry), a second fast feed and a final trickle during which
the client may follow `change` entries only. At each quiet point the client's mirror must equal
every metric hash in Redis, field for field, and Redis must equal the model. Every entry has
exactly the fields of its kind; `keys` name existing hashes whose suffix round-trips; each
partition's offsets chain from entry to entry; heartbeats come when idle (instance, interval_ms,
every partition with lag 0 at the stored offset), and the feed reads as stalled 3 intervals after
funneld stops."""

import os
import re
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import model  # noqa: E402
from harness import TestFailure  # noqa: E402

# feeds.changes_max_keys: a trickle's steps (one event, or the dozen that fd-produce sends at once
# while it connects, or that pile up while funneld waits a second) list their hashes; the
# catch-up after the Redis restart writes bulk entries
MAX_KEYS = 300
HEARTBEAT_MS = 500   # feeds.heartbeat_ms
INSTANCE = "dash-A"
WINDOW_RE = re.compile(r"all|day:\d{4}-\d\d-\d\d|week:\d{4}-W\d\d|month:\d{4}-\d\d|"
                       r"quarter:\d{4}-Q[1-4]|hour:\d{4}-\d\d-\d\dT\d\d")
FIELDS = {b"change": {b"kind", b"watermark", b"n", b"parts", b"keys"},
          b"bulk": {b"kind", b"watermark", b"n", b"parts"},
          b"heartbeat": {b"kind", b"watermark", b"instance", b"interval_ms", b"parts"}}


def sid(i):
    """A stream id (bytes or str, 'ms-seq') as a comparable pair."""
    if isinstance(i, bytes):
        i = i.decode()
    ms, _, seq = i.partition("-")
    return int(ms), int(seq or 0)


def position(held, first, last):
    """docs/feeds.md, after every XREAD: None when reading on from `held` misses nothing; else
    why a new snapshot is needed. first, last: the ids of the stream's first and last entries
    (None when the stream is empty or absent)."""
    if first is not None and sid(first) > sid(held):
        return "trim" if sid(held) != (0, 0) else "empty"  # "empty": the snapshot saw no stream
    if sid(held) != (0, 0) and (last is None or sid(last) < sid(held)):
        return "recreated"
    return None


def split_suffix(s):
    """A metric key suffix '<scope>:<window>:<id>' (str) -> (scope, window, id or None); split
    from the left (ids may hold ':'), as docs/redis.md says."""
    scope, _, rest = s.partition(":")
    if rest == "all" or rest.startswith("all:"):
        window, ident = "all", rest[4:] if len(rest) > 3 else None
    else:
        kind, _, rest = rest.partition(":")
        value, sep, ident = rest.partition(":")
        window, ident = kind + ":" + value, ident if sep else None
    return scope, window, ident


class Dashboard:
    """The reader of docs/feeds.md, in a thread: a mirror {suffix: {field: value}} (bytes) of every
    metric hash. Resnapshots are counted by cause: start, disconnect, trim, empty, recreated and
    bulk (a bulk entry makes this reader, which shows every hash, take a new snapshot)."""

    PATTERNS = ("rep:*", "team:*", "org:*")

    def __init__(self, h):
        self.h = h
        self.p = h.prefix.encode() + b":"
        self.stream = h.prefix + ":changes"
        self.lock = threading.Lock()
        self.mirror = {}
        self.held = b"0-0"
        self.causes = {}
        self.entries = []      # (id, fields, local time) of every entry read, in order
        self.rereads = 0       # hashes re-read for change entries
        self.r = None
        self.last_entry = time.monotonic()
        self.last_change = float("-inf")
        self.interval_ms = 2000  # until a heartbeat says
        self.lag = {}            # (topic, partition) -> lag text of its latest heartbeat
        self.states = set()      # every state() seen by the loop
        self.error = None
        self.stop_req = threading.Event()
        self.pause_req = threading.Event()
        self.paused = threading.Event()
        self.resume = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)

    def start(self):
        self.thread.start()

    # -- the protocol

    def last_id(self):
        e = self.r.call("XREVRANGE", self.stream, "+", "-", "COUNT", 1)
        return e[0][0] if e else b"0-0"

    def snapshot(self, cause):
        """H0, then SCAN, then every hash in one MULTI/EXEC; follow from H0."""
        h0 = self.last_id()
        keys = set()
        for pat in self.PATTERNS:
            keys.update(self.r.scan_all(self.p.decode() + pat))
        keys = sorted(keys)
        rows = self.multi_hgetall(keys)
        with self.lock:
            self.mirror = {k[len(self.p):]: v for k, v in zip(keys, rows) if v}
            self.held = h0
            self.causes[cause] = self.causes.get(cause, 0) + 1
        print("[feeds_changes] snapshot (%s): %d hashes, from %s" % (cause, len(keys), h0.decode()),
              flush=True)

    def transaction(self, cmds):
        """cmds in one MULTI/EXEC: their replies (an error reply raised: LOADING after a
        restart is retried by the loop)."""
        out = self.r.pipeline([["MULTI"]] + cmds + [["EXEC"]])
        for x in out:
            if isinstance(x, harness.RespError):
                raise x
        if not isinstance(out[-1], list) or len(out[-1]) != len(cmds):
            raise TestFailure("MULTI/EXEC of %d commands answered %r" % (len(cmds), out[-1:]))
        return out[-1]

    def multi_hgetall(self, keys):
        return [harness.pairs_to_dict(row) for row in
                self.transaction([["HGETALL", k] for k in keys])]

    def position_check(self):
        first, last = self.transaction([["XRANGE", self.stream, "-", "+", "COUNT", 1],
                                        ["XREVRANGE", self.stream, "+", "-", "COUNT", 1]])
        return position(self.held, first[0][0] if first else None, last[0][0] if last else None)

    def apply(self, entries):
        names, bulk = set(), False
        now = time.monotonic()
        for eid, flat in entries:
            f = harness.pairs_to_dict(flat)
            self.entries.append((eid, f, now))
            self.last_entry = now
            kind = f.get(b"kind")
            if kind in (b"change", b"bulk"):
                self.last_change = now
                for line in filter(None, f.get(b"parts", b"").split(b"\n")):
                    topic, part, _, _ = line.rsplit(b":", 3)
                    self.lag.pop((topic, part), None)  # it moved: no lag known
                if kind == b"bulk":
                    bulk = True
                else:
                    names.update(filter(None, f[b"keys"].split(b"\n")))
            elif kind == b"heartbeat":
                self.interval_ms = int(f[b"interval_ms"])
                for line in filter(None, f[b"parts"].split(b"\n")):
                    topic, part, _, lag = line.rsplit(b":", 3)
                    self.lag[(topic, part)] = lag
        if bulk:
            self.snapshot("bulk")  # every hash this reader shows; its H0 is past these entries
            return
        names = sorted(names)
        rows = self.multi_hgetall([self.p + n for n in names]) if names else []
        with self.lock:
            for n, row in zip(names, rows):
                if row:
                    self.mirror[n] = row
                else:
                    self.mirror.pop(n, None)
            self.rereads += len(names)
            if entries:
                self.held = entries[-1][0]

    def state(self):
        """live / idle / behind / stalled, as docs/feeds.md tells them apart."""
        now = time.monotonic()
        if now - self.last_entry > 3 * self.interval_ms / 1000:
            return "stalled"
        if any(lag not in (b"", b"0") for lag in self.lag.values()):
            return "behind"
        if now - self.last_change < self.interval_ms / 1000:
            return "live"
        return "idle"

    # -- the thread

    def connect(self):
        deadline = time.time() + 90
        while True:
            try:
                self.r = self.h.redis()
                return
            except OSError:
                if time.time() > deadline or self.stop_req.is_set():
                    raise TestFailure("the dashboard could not reconnect to Redis in 90 s")
                time.sleep(0.2)

    def _main(self):
        try:
            cause = "start"
            while not self.stop_req.is_set():
                if self.pause_req.is_set():
                    self.paused.set()
                    self.resume.wait(120)
                    self.resume.clear()
                    self.paused.clear()
                try:
                    if self.r is None:
                        self.connect()
                        self.snapshot(cause)
                    reply = self.r.call("XREAD", "COUNT", 1000, "BLOCK", 300, "STREAMS",
                                        self.stream, self.held)
                    why = self.position_check()
                    if why:
                        self.snapshot(why)
                    else:
                        self.apply(reply[0][1] if reply else [])
                    self.states.add(self.state())
                except (OSError, ConnectionError, harness.RespError) as e:
                    if isinstance(e, harness.RespError) and not str(e).startswith("LOADING"):
                        raise
                    print("[feeds_changes] dashboard lost its connection: %s" % e, flush=True)
                    if self.r is not None:
                        self.r.close()
                    self.r = None
                    cause = "disconnect"
                    time.sleep(0.1)
        except Exception:
            self.error = traceback.format_exc()
        finally:
            if self.r is not None:
                self.r.close()

    # -- for the test

    def check(self):
        if self.error:
            raise TestFailure("the dashboard failed:\n" + self.error)
        if not self.thread.is_alive() and not self.stop_req.is_set():
            raise TestFailure("the dashboard thread ended")

    def snapshot_copy(self):
        with self.lock:
            return dict(self.mirror), self.held, dict(self.causes)

    def pause(self):
        self.pause_req.set()
        deadline = time.time() + 60
        while not self.paused.wait(0.2):
            self.check()
            if time.time() > deadline:
                raise TestFailure("the dashboard did not pause within 60 s")
        self.pause_req.clear()

    def unpause(self):
        self.resume.set()

    def stop(self):
        self.stop_req.set()
        self.resume.set()
        self.thread.join(30)


def redis_metrics(h):
    """{suffix: {field: value}} (bytes) of every metric hash in Redis."""
    r = h.redis()
    try:
        keys = []
        for pat in Dashboard.PATTERNS:
            keys.extend(r.scan_all(h.prefix + ":" + pat))
        rows = r.pipeline([["HGETALL", k] for k in keys])
    finally:
        r.close()
    p = len(h.prefix) + 1
    return {k[p:]: harness.pairs_to_dict(row) for k, row in zip(keys, rows)}


def wait_mirror(h, dash, label, timeout=120):
    """funneld has caught up (no metric hash changes any more): waits until the dashboard has read
    past the stream's last id, then its mirror must equal Redis, field for field."""
    r = h.redis()
    try:
        last = r.call("XREVRANGE", h.prefix + ":changes", "+", "-", "COUNT", 1)[0][0]
    finally:
        r.close()
    deadline = time.time() + timeout
    while True:
        dash.check()
        mirror, held, causes = dash.snapshot_copy()
        if sid(held) >= sid(last):
            break
        if time.time() > deadline:
            raise TestFailure("%s: the dashboard holds %s, the stream's last id was %s"
                              % (label, held, last))
        time.sleep(0.05)
    want = redis_metrics(h)
    diffs = []
    for k in sorted(set(want) | set(mirror)):
        if want.get(k) != mirror.get(k):
            w, m = want.get(k) or {}, mirror.get(k) or {}
            fields = sorted(f for f in set(w) | set(m) if w.get(f) != m.get(f))
            diffs.append("%s: %s" % (k.decode("utf-8", "replace"), ", ".join(
                "%s redis=%s mirror=%s" % (f.decode(), w.get(f), m.get(f)) for f in fields[:4])
                if w and m else ("missing in the mirror" if w else "not in Redis")))
    if diffs:
        raise TestFailure("%s: the dashboard's mirror differs from Redis in %d hashes:\n  %s"
                          % (label, len(diffs), "\n  ".join(diffs[:20])))
    print("[feeds_changes] %s: mirror = Redis, %d hashes; resnapshots %s; %d hashes re-read"
          % (label, len(want), causes, dash.rereads), flush=True)
    return len(want)


def dump_stream(h):
    r = h.redis()
    try:
        return [(eid, harness.pairs_to_dict(f))
                for eid, f in r.call("XRANGE", h.prefix + ":changes", "-", "+")]
    finally:
        r.close()


def check_entries(h, entries, label, expected=None, from_start=False):
    """Every entry has the fields of its kind; watermarks never go down; change entries name
    existing hashes (in `expected`, the model's) whose suffix round-trips, n of them, at most
    MAX_KEYS; bulk entries more; each partition's offsets chain from one entry to the next.
    Returns ({kind: count}, {partition: last next}, named suffixes, the last watermark)."""
    r = h.redis()
    kinds, prev_next, named = {}, {}, set()
    wm, most = 0, 0
    try:
        for eid, f in entries:
            kind = f.get(b"kind")
            shown = {a.decode(): b.decode("utf-8", "replace")[:80] for a, b in f.items()}
            where = "%s: entry %s %s" % (label, eid.decode(), shown)
            if kind not in FIELDS or set(f) != FIELDS[kind]:
                raise TestFailure("%s: unexpected kind or fields" % where)
            kinds[kind.decode()] = kinds.get(kind.decode(), 0) + 1
            w = f[b"watermark"]
            if not re.fullmatch(rb"0|[1-9]\d*", w) or int(w) < wm:
                raise TestFailure("%s: watermark not a count of ms or going down (was %d)"
                                  % (where, wm))
            wm = int(w)
            if kind == b"heartbeat":
                continue
            n = int(f[b"n"])
            if kind == b"change":
                keys = [k for k in f[b"keys"].split(b"\n") if k] if f[b"keys"] else []
                if len(keys) != n or n > MAX_KEYS or len(set(keys)) != n:
                    raise TestFailure("%s: n is not the number of distinct keys, or above %d"
                                      % (where, MAX_KEYS))
                named.update(keys)
                most = max(most, n)
            elif n <= MAX_KEYS:
                raise TestFailure("%s: a bulk entry for %d <= %d hashes" % (where, n, MAX_KEYS))
            # (a chunk of a staged batch lists no part: its commit's entry did)
            for line in filter(None, f[b"parts"].split(b"\n")):
                topic, part, frm, nxt = line.decode().rsplit(":", 3)
                if topic != harness.TOPIC or not 0 <= int(part) < harness.PARTITIONS or \
                        not re.fullmatch(r"\d*", frm + nxt) or (frm and not nxt) or \
                        (frm and int(frm) > int(nxt)):
                    raise TestFailure("%s: bad part line %r" % (where, line))
                p = int(part)
                if p in prev_next or from_start:
                    want = prev_next.get(p, "")
                    if frm != want:
                        raise TestFailure("%s: partition %d starts at %r, the entry before ended "
                                          "at %r" % (where, p, frm, want))
                prev_next[p] = nxt
        names = sorted(named)
        exists = r.pipeline([["TYPE", h.prefix.encode() + b":" + k] for k in names])
    finally:
        r.close()
    for k, t in zip(names, exists):
        s = k.decode("utf-8")
        scope, window, ident = split_suffix(s)
        back = ":".join([scope, window] + ([ident] if ident is not None else []))
        if t != b"hash" or back != s or scope not in ("rep", "team", "org") or \
                not WINDOW_RE.fullmatch(window) or (ident is None) != (scope == "org") or \
                (expected is not None and h.prefix + ":" + s not in expected):
            raise TestFailure("%s: a change entry names %r (TYPE %s, parsed %s)"
                              % (label, s, t, (scope, window, ident)))
    print("[feeds_changes] %s: %d entries %s (change entries name up to %d hashes), %d hashes "
          "named, partitions chained, watermark %d"
          % (label, len(entries), kinds, most, len(names), wm), flush=True)
    return kinds, {p: int(n) for p, n in prev_next.items()}, named, wm


def self_test():
    """The reader's pure decisions on hand-made ids (no Redis)."""
    cases = [("5-0", "1-0", "9-0", None), ("5-0", "6-0", "9-0", "trim"),
             ("0-0", "6-0", "9-0", "empty"), ("0-0", None, None, None),
             ("5-0", None, None, "recreated"), ("5-0", "1-0", "4-9", "recreated"),
             ("5-0", "5-0", "5-0", None), ("5-1", "5-0", "5-1", None)]
    for held, first, last, want in cases:
        if position(held, first, last) != want:
            raise TestFailure("position(%s, %s, %s) = %s, expected %s"
                              % (held, first, last, position(held, first, last), want))
    for s, want in [("rep:all:anna", ("rep", "all", "anna")), ("org:all", ("org", "all", None)),
                    ("org:day:2026-11-22", ("org", "day:2026-11-22", None)),
                    ("team:week:2026-W47:Moses Frase", ("team", "week:2026-W47", "Moses Frase")),
                    ("rep:all:a:b", ("rep", "all", "a:b")),
                    ("rep:month:2026-11:x:all", ("rep", "month:2026-11", "x:all"))]:
        if split_suffix(s) != want:
            raise TestFailure("split_suffix(%r) = %s, expected %s" % (s, split_suffix(s), want))


def body(h, args):
    self_test()
    msgs, full, gen = harness.generate(h, args, 16000, tz="Asia/Shanghai", big_payloads=False)
    n = len(msgs)
    cuts = [120, n // 2, n - 120, n]  # trickle | fast (Redis restart) | fast (trim) | trickle
    h.start_redis(appendonly=True)
    h.start_mock()
    dash = Dashboard(h)
    dash.start()  # before any entry: its first snapshot sees no stream
    deadline = time.time() + 30
    while "start" not in dash.snapshot_copy()[2]:
        dash.check()
        if time.time() > deadline:
            raise TestFailure("the dashboard took no first snapshot within 30 s")
        time.sleep(0.05)
    fd = h.start_funneld("A", h.funneld_settings(**harness.GROUP_SETTINGS, **{
        "instance.id": INSTANCE, "feeds.changes_max_keys": MAX_KEYS,
        "feeds.heartbeat_ms": HEARTBEAT_MS, "feeds.changes_maxlen": 100000,
        "feeds.metrics": "off"}))

    # Trickle: mostly one event a step (the first steps, while funneld joins the group, may be
    # bulk).
    nxt = h.start_feed(msgs[:cuts[0]], seconds=8).join()
    h.wait_done(nxt, timeout=120)
    wait_mirror(h, dash, "after the first trickle")

    # Fast, with redis-server restarted (appendonly) in the middle.
    feed = h.start_feed(msgs[cuts[0]:cuts[1]], seconds=20)
    harness.wait_feed(feed, 0.4)
    before = dash.snapshot_copy()[2].get("disconnect", 0)
    h.stop_redis()
    time.sleep(3)
    h.start_redis(appendonly=True)
    print("[feeds_changes] redis-server restarted with its data", flush=True)
    nxt = feed.join()
    h.wait_done(nxt, timeout=180)
    if not fd.alive():
        raise TestFailure("funneld exited (rc %s) over the Redis restart" % fd.popen.returncode)
    wait_mirror(h, dash, "after the Redis restart")
    causes = dash.snapshot_copy()[2]
    if causes.get("disconnect", 0) <= before:
        raise TestFailure("the dashboard did not resnapshot after the Redis restart: %s" % causes)
    h.compare(model.Model(tz=h.tz, prefix=h.prefix).run(msgs[:cuts[1]]),
              label="after the Redis restart")
    first_part = dump_stream(h)
    check_entries(h, first_part, "the stream before the trim", from_start=True,
                  expected=full.expected_hashes())

    # Forced trim: the paused dashboard's id falls before the stream's first entry.
    dash.pause()
    held = dash.snapshot_copy()[1]
    feed = h.start_feed(msgs[cuts[1]:cuts[2]], seconds=10)
    r = h.redis()
    deadline = time.time() + 60
    while len(r.call("XRANGE", h.prefix + ":changes", b"(" + held, "+", "COUNT", 3)) < 3:
        if time.time() > deadline:
            raise TestFailure("no 3 entries after %s within 60 s" % held)
        time.sleep(0.1)
    trims = dash.snapshot_copy()[2].get("trim", 0)
    r.call("XTRIM", h.prefix + ":changes", "MAXLEN", 1)
    first = r.call("XRANGE", h.prefix + ":changes", "-", "+", "COUNT", 1)[0][0]
    r.close()
    print("[feeds_changes] trimmed to %s while the dashboard holds %s" % (first, held), flush=True)
    dash.unpause()
    deadline = time.time() + 60
    while dash.snapshot_copy()[2].get("trim", 0) <= trims:
        dash.check()
        if time.time() > deadline:
            raise TestFailure("the dashboard did not notice the trim: %s" % dash.snapshot_copy()[2])
        time.sleep(0.05)
    nxt = feed.join()
    h.wait_done(nxt, timeout=180)
    wait_mirror(h, dash, "after the trim")

    # Final trickle: followed by change entries alone (no snapshot), so they named every hash.
    causes_before, rereads = dash.snapshot_copy()[2], dash.rereads
    nxt = h.start_feed(msgs[cuts[2]:], seconds=10).join()
    h.wait_done(nxt, timeout=120)
    hashes = wait_mirror(h, dash, "after the final trickle")
    causes = dash.snapshot_copy()[2]
    if causes != causes_before or dash.rereads == rereads:
        raise TestFailure("the final trickle was not followed by change entries alone: "
                          "resnapshots %s before, %s after, %d hashes re-read"
                          % (causes_before, causes, dash.rereads - rereads))
    h.compare(full, label="final state")

    # Idle: heartbeats with every partition at its stored offset and lag 0.
    t0 = len(dash.entries)
    deadline = time.time() + 30
    while True:
        dash.check()
        beats = [(eid, f) for eid, f, _ in dash.entries[t0:] if f[b"kind"] == b"heartbeat"]
        good = [b for b in beats if sorted(b[1][b"parts"].split(b"\n")) == sorted(
            ("%s:%d:%d:0" % (harness.TOPIC, p, nxt[p])).encode() for p in nxt)]
        if len(good) >= 3:
            break
        if time.time() > deadline:
            raise TestFailure("no 3 heartbeats with every partition at its offset and lag 0 "
                              "within 30 s: %s" % beats[-3:])
        time.sleep(0.1)
    for eid, f in beats:
        if f[b"instance"] != INSTANCE.encode() or f[b"interval_ms"] != str(HEARTBEAT_MS).encode():
            raise TestFailure("heartbeat %s: %s" % (eid, f))
    gaps = [sid(b[0])[0] - sid(a[0])[0] for a, b in zip(good, good[1:])]
    if min(gaps) < HEARTBEAT_MS - 50:
        raise TestFailure("heartbeats %d ms apart, the interval is %d" % (min(gaps), HEARTBEAT_MS))
    later = [f for _, f, _ in dash.entries[t0:] if f[b"kind"] != b"heartbeat"]
    if later or dash.state() != "idle":
        raise TestFailure("idle funneld: %d entries of other kinds, state %s"
                          % (len(later), dash.state()))
    wm = max(m.event.t_ms for m in msgs if m.event is not None)
    if good[-1][1][b"watermark"] != str(wm).encode():
        raise TestFailure("heartbeat watermark %s, the greatest occurred_at is %d"
                          % (good[-1][1][b"watermark"], wm))
    print("[feeds_changes] idle: heartbeats %s ms apart, lag 0 everywhere, watermark %d"
          % (gaps, wm), flush=True)

    # The whole stream since the trim, and everything the dashboard read.
    _, last_next, _, _ = check_entries(h, dump_stream(h), "the stream after the trim",
                                               expected=full.expected_hashes())
    if last_next != nxt:
        raise TestFailure("the stream's last offsets %s, produced %s" % (last_next, nxt))
    seen = {}
    for _, f, _ in dash.entries:
        seen[f[b"kind"].decode()] = seen.get(f[b"kind"].decode(), 0) + 1
    if not seen.get("change") or not seen.get("bulk") or not seen.get("heartbeat"):
        raise TestFailure("the dashboard read %s: expected change, bulk and heartbeat entries"
                          % seen)
    causes = dash.snapshot_copy()[2]
    if causes.get("start") != 1 or causes.get("empty") != 1 or causes.get("recreated"):
        raise TestFailure("resnapshots %s: expected one at the start, one when the stream "
                          "appeared, none for a recreated stream" % causes)

    # Stopped funneld: no entry for 3 intervals reads as stalled.
    if "live" not in dash.states or "idle" not in dash.states:
        raise TestFailure("the dashboard never read live and idle: %s" % dash.states)
    dash.states.clear()
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise TestFailure("funneld exited %s after SIGTERM" % rc)
    deadline = time.time() + 30
    while "stalled" not in dash.states:
        dash.check()
        if time.time() > deadline:
            raise TestFailure("the dashboard never read stalled after funneld stopped")
        time.sleep(0.1)
    dash.stop()
    dash.check()
    print("[feeds_changes] OK: %d hashes mirrored exactly; read %s; resnapshots %s; states %s"
          % (hashes, seen, causes, sorted(dash.states)), flush=True)


if __name__ == "__main__":
    harness.run("feeds_changes", __doc__, body)
