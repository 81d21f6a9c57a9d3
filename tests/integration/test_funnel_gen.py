#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""funnel-gen: its output checked against the event contract (docs/events.md, validated here in
Python, independently of src/event.c), determinism per seed, the fault rates, bounded out-of-order
delivery, the --collapse option, --count, --reps-file, --timezone, --live and --rate, and the
librdkafka pass-through of the Kafka sink (--set kafka.<property>, FUNNELD_KAFKA__<PROPERTY>).

Python 3 standard library only. Usage: test_funnel_gen.py --build-dir DIR [--source-dir DIR]
"""

import argparse
import calendar
import collections
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import traceback

STAGES = ["lead", "qualified", "proposal", "negotiation", "won"]
KINDS = ["call", "visit", "email", "meeting", "follow_up"]
TYPES = ["deal.created", "deal.stage_changed", "deal.won", "deal.lost", "activity.logged",
         "feedback.received"]
MAX_MS = 253402300799999

GEN = None  # path of the funnel-gen binary


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


# ----------------------------------------------------------------------------------------------
# The contract, from docs/events.md and the lead's decisions: returns None or the reason.

class Reject(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?"
                     r"([Zz]|[+-]\d{2}:\d{2})$")


def parse_time(v):
    """occurred_at -> epoch ms, or raise Reject."""
    if isinstance(v, bool):
        raise Reject("wrong_type")
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
            raise Reject("invalid_timestamp")
        ms = int(v)
    elif isinstance(v, str):
        m = RFC3339.match(v)
        if not m:
            raise Reject("invalid_timestamp")
        y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
        frac = m.group(7)
        ms_part = int((frac[1:] + "00")[:3]) if frac else 0
        if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] and h <= 23
                and mi <= 59 and s <= 60):
            raise Reject("invalid_timestamp")
        if s == 60:
            s, ms_part = 59, 999
        off = 0
        if m.group(8) not in ("Z", "z"):
            oh, om = int(m.group(8)[1:3]), int(m.group(8)[4:6])
            if oh > 23 or om > 59:
                raise Reject("invalid_timestamp")
            off = (oh * 60 + om) * (1 if m.group(8)[0] == "+" else -1)
        if y < 1970:
            raise Reject("invalid_timestamp")
        ms = (calendar.timegm((y, mo, d, h, mi, s)) - off * 60) * 1000 + ms_part
    else:
        raise Reject("wrong_type")
    if not (0 <= ms <= MAX_MS):
        raise Reject("invalid_timestamp")
    return ms


def check_id(obj, name, required):
    if name not in obj:
        if required:
            raise Reject("missing_field")
        return None
    v = obj[name]
    if not isinstance(v, str):
        raise Reject("wrong_type")
    n = len(v.encode("utf-8"))
    if n == 0 or n > 128 or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in v):
        raise Reject("invalid_id")
    return v


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def prescan(raw):
    """Nesting depth and \\u0000 escapes, tracking strings and escapes like the daemon does."""
    depth, in_str, i, n = 0, False, 0, len(raw)
    while i < n:
        c = raw[i]
        if in_str:
            if c == 0x5C:  # backslash
                if raw[i + 1:i + 6] == b"u0000":
                    raise Reject("nul_character")
                i += 2
                continue
            if c == 0x22:
                in_str = False
        elif c == 0x22:
            in_str = True
        elif c in (0x5B, 0x7B):
            depth += 1
            if depth > 16:
                raise Reject("too_deep")
        elif c in (0x5D, 0x7D):
            depth -= 1
        i += 1


def validate(raw):
    """Returns (None, event dict) for a valid event, else (reason, None)."""
    try:
        if len(raw) > 65536:
            raise Reject("oversize")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Reject("invalid_utf8")
        prescan(raw)
        keys = []

        def pairs(kv):
            keys.append([k for k, _ in kv])
            return dict(kv)
        try:
            obj = json.loads(text, object_pairs_hook=pairs,
                             parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        except ValueError:
            raise Reject("invalid_json")
        if not isinstance(obj, dict):
            raise Reject("not_object")
        top = keys[-1]
        if len(set(top)) != len(top):
            raise Reject("duplicate_key")
        check_id(obj, "event_id", True)
        if "type" not in obj:
            raise Reject("missing_field")
        t = obj["type"]
        if not isinstance(t, str):
            raise Reject("wrong_type")
        if t not in TYPES:
            raise Reject("unknown_type")
        if "occurred_at" not in obj:
            raise Reject("missing_field")
        obj["_ms"] = parse_time(obj["occurred_at"])
        check_id(obj, "rep_id", True)
        check_id(obj, "team_id", False)
        check_id(obj, "deal_id", t.startswith("deal."))
        if t in ("deal.created", "deal.stage_changed", "deal.lost"):
            if "stage" not in obj:
                if t == "deal.stage_changed":
                    raise Reject("missing_field")
            else:
                s = obj["stage"]
                if not isinstance(s, str):
                    raise Reject("wrong_type")
                if s not in STAGES:
                    raise Reject("unknown_stage")
                if t == "deal.lost" and s == STAGES[-1]:
                    raise Reject("invalid_stage")
        if t.startswith("deal.") and "amount" in obj:
            a = obj["amount"]
            if not is_number(a):
                raise Reject("wrong_type")
            if not (math.isfinite(a) and 0 <= a <= 1e15):
                raise Reject("invalid_amount")
        if t == "activity.logged":
            if "activity" not in obj:
                raise Reject("missing_field")
            if not isinstance(obj["activity"], str):
                raise Reject("wrong_type")
            if obj["activity"] not in KINDS:
                raise Reject("unknown_activity")
        if t == "feedback.received":
            if "score" in obj:
                if not is_number(obj["score"]):
                    raise Reject("wrong_type")
                if not (1 <= obj["score"] <= 5):
                    raise Reject("invalid_score")
            if "complaint" in obj and not isinstance(obj["complaint"], bool):
                raise Reject("wrong_type")
        return None, obj
    except Reject as r:
        return r.reason, None


# ----------------------------------------------------------------------------------------------
# Running the generator.

class Run:
    """One funnel-gen --stdout --with-key run: lines as (key, value) byte pairs + summary."""

    def __init__(self, args, timeout=300):
        cmd = [GEN, "--stdout", "--with-key"] + args
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        self.stderr = p.stderr.decode("utf-8", "replace")
        check(p.returncode == 0, "%s exited %d: %s" % (" ".join(cmd), p.returncode, self.stderr))
        self.raw = p.stdout
        self.lines = []
        for ln in p.stdout.split(b"\n")[:-1]:
            key, tab, value = ln.partition(b"\t")
            check(tab, "line without a key: %r" % ln[:80])
            self.lines.append((key, value))
        self.summary = collections.Counter()
        self.bad_reason = collections.Counter()
        for ln in self.stderr.splitlines():
            m = re.match(r"^\s+(\S+)\s+(\d+)(?:\s+\((\S+)\))?", ln)
            if m:
                self.summary[m.group(1)] = int(m.group(2))
                if m.group(3):
                    self.bad_reason[m.group(3)] += int(m.group(2))
        self.checked = [(k, v) + validate(v) for k, v in self.lines]

    def valid(self):
        """(key, value, event) of every valid line, copies included."""
        return [(k, v, ev) for k, v, reason, ev in self.checked if reason is None]


def expected_key(ev):
    return (ev.get("deal_id") or ev["rep_id"]).encode("utf-8")


# ----------------------------------------------------------------------------------------------
# Tests.

START = "2026-05-01T00:00:00Z"
BASE = ["--seed", "3", "--start", START, "--span", "45d", "--reps", "24", "--teams", "5"]
FAULTS = ["--dup-rate", "0.05", "--ooo-rate", "0.2", "--ooo-window", "8", "--bad-rate", "0.04"]


def test_help_and_usage_errors():
    p = subprocess.run([GEN, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.decode()
    check(p.returncode == 0, "--help exited %d" % p.returncode)
    for opt in ("--seed", "--count", "--rate", "--span", "--live", "--dup-rate", "--ooo-window",
                "--bad-rate", "--collapse", "--brokers", "--throttle-redis", "--reps-file"):
        check(opt in out, "--help does not mention %s" % opt)
    for args, words in ((["--stdout", "--frobnicate"], "unknown option"),
                        (["--stdout", "--brokers", "x:1"], "one sink"),
                        ([], "one sink"),
                        (["--stdout", "--dup-rate", "1.5"], "--dup-rate"),
                        (["--stdout", "--span", "12parsecs"], "--span"),
                        (["--stdout", "--collapse", "nobody:proposal:+1d"], "no rep 'nobody'"),
                        (["--stdout", "--collapse", "张伟:won:+1d"], "before the won stage"),
                        (["--stdout", "--timezone", "Mars/Olympus"], "--timezone")):
        p = subprocess.run([GEN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = p.stderr.decode()
        check(p.returncode == 2, "%s: exit %d, expected 2 (%s)" % (args, p.returncode, err))
        check(words in err, "%s: message %r does not say %r" % (args, err, words))


def test_same_seed_same_output_other_seed_other_output():
    a = subprocess.run([GEN, "--stdout"] + BASE + FAULTS, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, check=True).stdout
    b = subprocess.run([GEN, "--stdout"] + BASE + FAULTS, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, check=True).stdout
    c = subprocess.run([GEN, "--stdout", "--seed", "4"] + BASE[2:] + FAULTS,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    check(len(a) > 100000, "suspiciously little output: %d bytes" % len(a))
    check(a == b, "two runs with seed 3 differ")
    check(a != c, "seeds 3 and 4 give the same output")


def clean_run():
    return Run(BASE)


def test_clean_stream_is_valid_sorted_and_realistic(r):
    check(len(r.lines) > 10000, "only %d lines" % len(r.lines))
    bad = [(reason, v[:120]) for k, v, reason, ev in r.checked if reason]
    check(not bad, "invalid lines without --bad-rate: %s" % bad[:3])
    ids = collections.Counter(ev["event_id"] for k, v, ev in r.valid())
    check(max(ids.values()) == 1, "event_id repeated without --dup-rate: %s" %
          [i for i, n in ids.items() if n > 1][:3])
    check(r.summary["events"] == len(r.lines) and r.summary["lines"] == len(r.lines),
          "summary says %d events, %d lines; output has %d lines"
          % (r.summary["events"], r.summary["lines"], len(r.lines)))
    types = collections.Counter(ev["type"] for _, _, ev in r.valid())
    for t in TYPES:
        check(types[t] > 0, "no %s event" % t)
        check(r.summary["events:" + t] == types[t],
              "summary says %d %s, output has %d" % (r.summary["events:" + t], t, types[t]))
    last = -1
    per_deal = {}
    start_ms = parse_time(START)
    end_ms = start_ms + 45 * 86400000
    for k, v, ev in r.valid():
        check(k == expected_key(ev), "key %r for %s, expected deal_id or rep_id" % (k, v[:100]))
        ms = ev["_ms"]
        check(start_ms <= ms < end_ms, "time %s outside the span: %s" % (ms, v[:100]))
        check(ms >= last, "stream not sorted by time at %s" % v[:100])
        last = ms
        if "deal_id" in ev:
            d = ev["deal_id"]
            if d not in per_deal:
                check(ev["type"] == "deal.created",
                      "first event of deal %s is %s, expected deal.created" % (d, ev["type"]))
            check(ms >= per_deal.get(d, -1), "deal %s goes back in time" % d)
            per_deal[d] = ms
    # Timestamp forms, unicode ids, fractional scores, omitted optional fields.
    text = r.raw.decode("utf-8")
    for what, pattern in (("Z", r'"occurred_at":"[^"]*:\d\dZ"'),
                          ("fraction", r'"occurred_at":"[^"]*\.\d{3}Z"'),
                          ("nanoseconds", r'"occurred_at":"[^"]*\.\d{9}Z"'),
                          ("+08:00", r'"occurred_at":"[^"]*\+08:00"'),
                          ("-05:00", r'"occurred_at":"[^"]*-05:00"'),
                          ("epoch ms", r'"occurred_at":\d{13},'),
                          ("space and z", r'"occurred_at":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+z"'),
                          ("unicode rep", r'"rep_id":"张伟"'),
                          ("e-mail rep", r'"rep_id":"moses.frase@corp.example"'),
                          ("fractional score", r'"score":\d\.5'),
                          ("complaint", r'"complaint":true'),
                          ("won with amount", r'"type":"deal.won"[^\n]*"amount"'),
                          ("won without amount", r'"type":"deal.won"[^\n]*"deal_id":"[^"]*"}'),
                          ("lost without stage", r'"type":"deal.lost"[^\n]*"deal_id":"[^"]*"}')):
        check(re.search(pattern, text), "no %s in the output" % what)
    skipped = back = 0
    furthest = {}
    for _, _, ev in r.valid():
        if ev["type"] in ("deal.created", "deal.stage_changed", "deal.won"):
            s = len(STAGES) - 1 if ev["type"] == "deal.won" else STAGES.index(ev.get("stage",
                                                                                     "lead"))
            f = furthest.get(ev["deal_id"], -1)
            skipped += s > f + 1 and f >= 0
            back += s < f
            furthest[ev["deal_id"]] = max(f, s)
    check(skipped > 0 and back > 0, "no skipped stage (%d) or move back (%d)" % (skipped, back))
    print("[gen] clean: %d events, %s; %d skips, %d moves back"
          % (len(r.lines), dict(types), skipped, back))


def test_faults_honour_rates_and_keep_the_valid_events(clean):
    r = Run(BASE + FAULTS)
    n_clean = len(clean.lines)
    # Malformed: exactly what the summary says, by reason, about 4% of the events.
    reasons = collections.Counter(reason for _, _, reason, _ in r.checked if reason)
    check(reasons == r.bad_reason, "rejection reasons in the output %s != summary %s"
          % (dict(reasons), dict(r.bad_reason)))
    n_bad = sum(reasons.values())
    check(n_bad == r.summary["malformed"], "malformed: %d lines vs summary %d"
          % (n_bad, r.summary["malformed"]))
    check(0.03 * n_clean < n_bad < 0.05 * n_clean, "%d malformed for %d events at rate 0.04"
          % (n_bad, n_clean))
    check(len(reasons) >= 15, "only %d kinds of rejection: %s" % (len(reasons), dict(reasons)))
    # Duplicates: same key, same bytes; about 5%.
    first = {}
    unique = []
    n_dup = 0
    for pos, (k, v, ev) in enumerate(r.valid()):
        eid = ev["event_id"]
        if eid in first:
            check(first[eid] == (k, v), "copy of %s differs: %r vs %r" % (eid, first[eid], (k, v)))
            n_dup += 1
        else:
            first[eid] = (k, v)
            unique.append((k, v, ev))
    check(n_dup == r.summary["duplicates"], "%d copies vs summary %d" % (n_dup,
                                                                         r.summary["duplicates"]))
    check(0.04 * n_clean < n_dup < 0.06 * n_clean, "%d copies for %d events at rate 0.05"
          % (n_dup, n_clean))
    # The faults add to the clean events without changing them.
    clean_lines = [(k, v) for k, v, _ in clean.valid()]
    check(sorted(clean_lines) == sorted((k, v) for k, v, _ in unique),
          "the distinct valid events differ from the run without faults")
    # Out of order: each event at most W=8 positions from its place; some deals really reordered.
    pos_clean = {ev["event_id"]: i for i, (_, _, ev) in enumerate(clean.valid())}
    moved = 0
    for i, (_, _, ev) in enumerate(unique):
        d = abs(i - pos_clean[ev["event_id"]])
        check(d <= 8, "%s moved %d positions, window 8" % (ev["event_id"], d))
        moved += d > 0
    inversions = 0
    last = {}
    for _, _, ev in unique:
        if "deal_id" in ev:
            inversions += ev["_ms"] < last.get(ev["deal_id"], -1)
            last[ev["deal_id"]] = max(ev["_ms"], last.get(ev["deal_id"], -1))
    check(r.summary["reordered"] > 0 and inversions > 0 and moved >= r.summary["reordered"],
          "reordered %d, per-deal time inversions %d, moved %d"
          % (r.summary["reordered"], inversions, moved))
    print("[gen] faults: %d malformed (%d reasons), %d copies, %d swaps, %d per-deal inversions"
          % (n_bad, len(reasons), n_dup, r.summary["reordered"], inversions))


def exit_conversion(run, stage, split_ms):
    """Per rep, moves on / losses out of `stage` before and after split_ms, by the time of the
    event that left the stage (the funnel semantics of docs/funnel.md)."""
    si = STAGES.index(stage)
    furthest, lost = {}, set()
    out = collections.defaultdict(lambda: [0, 0, 0, 0])  # moved before, lost before, after...
    for _, _, ev in run.valid():
        t, d = ev["type"], ev.get("deal_id")
        if not t.startswith("deal."):
            continue
        f = furthest.get(d, -1)
        half = 0 if ev["_ms"] < split_ms else 2
        if t == "deal.lost":
            s = STAGES.index(ev["stage"]) if "stage" in ev else f
            if s == si and d not in lost:
                out[ev["rep_id"]][half + 1] += 1
            lost.add(d)
            continue
        target = len(STAGES) - 1 if t == "deal.won" else STAGES.index(ev.get("stage", "lead"))
        if f == si and target > si:
            out[ev["rep_id"]][half] += 1
        furthest[d] = max(f, target)
    return out


def test_collapse_lowers_the_reps_exit_conversion():
    start = parse_time("2026-01-01T00:00:00Z")
    split = start + 60 * 86400000
    r = Run(["--seed", "11", "--start", "2026-01-01T00:00:00Z", "--span", "120d", "--reps", "3",
             "--deals", "9000", "--activity-rates", "0,0,0,0,0.1",
             "--collapse", "Anna Müller:proposal:2026-03-02T00:00:00Z:0.1"])
    conv = exit_conversion(r, "proposal", split)
    check(set(conv) == {"张伟", "Anna Müller", "moses.frase@corp.example"}, "reps: %s" % set(conv))
    for rep, (mb, lb, ma, la) in conv.items():
        before, after = mb / max(1, mb + lb), ma / max(1, ma + la)
        print("[gen] collapse: %s exit_conv:proposal %.3f before (%d), %.3f after (%d)"
              % (rep, before, mb + lb, after, ma + la))
        check(mb + lb > 300 and ma + la > 300, "too few proposal exits for %s" % rep)
        if rep == "Anna Müller":
            check(after < 0.3 * before, "collapse did not lower %s: %.3f -> %.3f"
                  % (rep, before, after))
        else:
            check(abs(after - before) < 0.1, "%s changed without a collapse: %.3f -> %.3f"
                  % (rep, before, after))


def test_count_gives_exactly_that_many_lines():
    r = Run(BASE[:2] + ["--count", "5000"] + FAULTS)
    check(len(r.lines) == 5000 and r.summary["lines"] == 5000,
          "--count 5000 gave %d lines (summary %d)" % (len(r.lines), r.summary["lines"]))


def test_reps_file_names_reps_and_teams():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "teams.csv")
        with open(path, "w", encoding="utf-8") as f:
            f.write("sales_agent,manager,regional_office\r\n"
                    "Anna Snelling,Dustin Brinkmann,Central\r\n"
                    "\"Müller, Jörg\",Melvin Marxen,Central\r\n"
                    "王秀英,Summer Sewald,West\r\n")
        r = Run(["--reps-file", path, "--span", "20d", "--start", START])
    reps = collections.Counter((ev["rep_id"], ev.get("team_id")) for _, _, ev in r.valid())
    want = {("Anna Snelling", "dustin-brinkmann"), ("Müller, Jörg", "melvin-marxen"),
            ("王秀英", "summer-sewald")}
    got = {(rep, team) for rep, team in reps if team is not None}
    check(got == want, "reps and teams %s, expected %s" % (got, want))


def test_timezone_sets_the_offsets():
    for tz, off in (("Asia/Shanghai", "+08:00"), ("America/New_York", "-05:00")):
        r = Run(["--timezone", tz, "--start", "2026-11-02T00:00:00Z", "--span", "10d"])
        offs = set(re.findall(rb'"occurred_at":"[^"]*([+-]\d\d:\d\d)"', r.raw))
        check(offs == {off.encode()}, "%s: offsets %s, expected only %s" % (tz, offs, off))
        # Activities happen on working days 09:00-18:00 local time.
        for _, _, ev in r.valid():
            if ev["type"] == "activity.logged" and isinstance(ev["occurred_at"], str) \
                    and ev["occurred_at"].endswith(off):
                hour = int(ev["occurred_at"][11:13])
                check(9 <= hour < 18, "activity at %s outside working hours" % ev["occurred_at"])


def test_live_stamps_with_the_wall_clock_and_rate_limits():
    t0 = time.time()
    r = Run(["--live", "--rate", "2000", "--count", "1000", "--reps", "5"])
    took = time.time() - t0
    check(len(r.lines) == 1000, "%d lines" % len(r.lines))
    check(took >= 0.4, "1000 lines at 2000/s took only %.2f s" % took)
    for _, _, ev in r.valid():
        check(abs(ev["_ms"] / 1000 - t0) < 60, "live event far from now: %s" % ev["occurred_at"])


def start_mockcluster(topic, partitions):
    """fd-mockcluster with one broker and topic: (process, bootstrap)."""
    p = subprocess.Popen([os.path.join(os.path.dirname(GEN), "fd-mockcluster"), "--brokers", "1",
                          "--topic", topic, "--partitions", str(partitions)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = []
    reader = threading.Thread(target=lambda: first.append(p.stdout.readline()), daemon=True)
    reader.start()
    reader.join(30)
    line = first[0].decode().strip() if first else ""
    if not line.startswith("bootstrap="):
        p.kill()
        p.wait()
        raise Failure("fd-mockcluster printed %r" % line)
    return p, line[len("bootstrap="):]


def test_set_passes_librdkafka_properties():
    def gen(args, env=None):
        p = subprocess.run([GEN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, **(env or {})), timeout=120)
        return p.returncode, p.stderr.decode("utf-8", "replace")

    # Refused before any connection: exit 2 with a message naming the property.
    for args, env, words in (
            (["--set", "kafka.no.such.property=1"], None, "kafka.no.such.property"),
            (["--set", "kafka.security.protocol=carrier_pigeon"], None,
             "kafka.security.protocol"),
            (["--set", "no.such.property=1"], None, "kafka.<property>"),
            ([], {"FUNNELD_KAFKA__NO_SUCH_PROPERTY": "1"}, "kafka.no.such.property")):
        rc, err = gen(["--brokers", "127.0.0.1:1", "--count", "10"] + args, env)
        check(rc == 2, "%s %s: exit %d, expected 2 (%s)" % (args, env, rc, err))
        check(words in err, "%s %s: message %r does not name %r" % (args, env, err, words))
    rc, err = gen(["--stdout", "--set", "kafka.acks=all"])
    check(rc == 2 and "--set" in err, "--set with --stdout: exit %d (%s)" % (rc, err))

    # Accepted: the producer runs with them (and with funnel-gen's own batch.num.messages
    # overridden) and delivers every line.
    cluster, bootstrap = start_mockcluster("gen.set", 3)
    try:
        rc, err = gen(["--brokers", bootstrap, "--topic", "gen.set", "--count", "500", "--seed", "5",
                       "--set", "kafka.client.id=funnel-gen-test",
                       "--set", "kafka.batch.num.messages=10"],
                      {"FUNNELD_KAFKA__ACKS": "all"})
    finally:
        cluster.terminate()
        cluster.wait(30)
    check(rc == 0, "valid --set: exit %d (%s)" % (rc, err))
    check(re.search(r"^\s+kafka:delivered\s+500$", err, re.M),
          "valid --set: 500 deliveries expected:\n%s" % err)


def test_speed_report():
    t0 = time.time()
    p = subprocess.run([GEN, "--stdout", "--count", "1000000", "--reps", "300"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    took = time.time() - t0
    print("[gen] 1,000,000 lines to /dev/null in %.2f s: %.0f lines/s (%s)"
          % (took, 1e6 / took, p.stderr.decode().splitlines()[0]))


def main():
    global GEN
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", default=None)
    args = ap.parse_args()
    GEN = os.path.join(os.path.abspath(args.build_dir), "funnel-gen")
    if not os.access(GEN, os.X_OK):
        print("funnel-gen not built at %s" % GEN)
        return 1
    clean = None
    tests = [
        ("help_and_usage_errors", test_help_and_usage_errors, ()),
        ("same_seed_same_output", test_same_seed_same_output_other_seed_other_output, ()),
        ("clean_stream_is_valid_sorted_and_realistic", None, ()),
        ("faults_honour_rates_and_keep_the_valid_events", None, ()),
        ("collapse_lowers_the_reps_exit_conversion", test_collapse_lowers_the_reps_exit_conversion,
         ()),
        ("count_gives_exactly_that_many_lines", test_count_gives_exactly_that_many_lines, ()),
        ("reps_file_names_reps_and_teams", test_reps_file_names_reps_and_teams, ()),
        ("timezone_sets_the_offsets", test_timezone_sets_the_offsets, ()),
        ("live_stamps_with_the_wall_clock_and_rate_limits",
         test_live_stamps_with_the_wall_clock_and_rate_limits, ()),
        ("set_passes_librdkafka_properties", test_set_passes_librdkafka_properties, ()),
        ("speed_report", test_speed_report, ()),
    ]
    failed = 0
    for name, fn, fargs in tests:
        t = time.time()
        try:
            if name == "clean_stream_is_valid_sorted_and_realistic":
                clean = clean_run()
                test_clean_stream_is_valid_sorted_and_realistic(clean)
            elif name == "faults_honour_rates_and_keep_the_valid_events":
                test_faults_honour_rates_and_keep_the_valid_events(clean or clean_run())
            else:
                fn(*fargs)
            print("ok   %s (%.1f s)" % (name, time.time() - t), flush=True)
        except Exception:  # noqa: BLE001 - report every failure, run the rest
            failed += 1
            print("FAIL %s\n%s" % (name, traceback.format_exc()), flush=True)
    print("%d of %d tests passed" % (len(tests) - failed, len(tests)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
