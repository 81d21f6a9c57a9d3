#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The README's "run the main job" path: scripts/demo run non-interactively on a fixed, seeded load
(--events), checked from the outside. It must exit 0, show the dashboard URL first and then
funnelctl board (within 80x24, the model's numbers), leave none of its processes behind, and the
Redis data it keeps (--keep saves dump.rdb) must hold, hash by hash and field by field, what the
independent model (tests/support/model.py) computes for exactly the messages funnel-gen
generated, which a second, --stdout run of funnel-gen with the same seed and options reproduces.
Then a live demo gets a terminal's Ctrl-C (SIGINT to its whole process group) and must stop in
order, exit 0.

Python 3 standard library only. Usage: test_demo.py --build-dir DIR [--source-dir DIR] [--keep]
"""

import argparse
import decimal
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import unicodedata
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import model  # noqa: E402
from harness import TestFailure  # noqa: E402
# The independent Python validator of the event contract (docs/events.md) that test_funnel_gen.py
# checks funnel-gen's output with: it tells which lines funneld must reject, and why.
import test_funnel_gen as contract  # noqa: E402

NAME = "test_demo"
EVENTS = 20000       # messages funnel-gen sends: events, copies and malformed ones
SEED = 7
DURATION = 4         # seconds the demo shows the funnel; it then waits for funneld to catch up
DEMO_TIMEOUT = 75    # seconds, the whole demo run
PREFIX = "funnel"    # the demo runs funneld on its defaults: prefix funnel, UTC, retention 400 d
TOPIC = "crm.events"
PARTITIONS = 8
DAY_RETENTION_S = 400 * 86400
PROC_NAMES = ("redis-server", "fd-mockcluster", "funneld", "funnel-gen")


def log(msg):
    print("[%s] %s" % (NAME, msg), flush=True)


def expect(cond, what, *details):
    if not cond:
        raise TestFailure(what + "".join("\n  " + str(d) for d in details))


def gen_options():
    """funnel-gen options of both runs. --start is explicit and fixed for the whole test (80 days
    before today: inside the 400-day day retention, and the ~64 days of history 20,000 messages
    of 30 reps take end before now), so the two runs cannot straddle midnight."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (today - timedelta(days=80)).strftime("%Y-%m-%dT%H:%M:%SZ")
    model_opts = ["--seed", str(SEED), "--reps", "30", "--teams", "6"]
    extra = ["--start", start, "--dup-rate", "0.02", "--ooo-rate", "0.05", "--bad-rate", "0.01"]
    return model_opts, extra


# ----------------------------------------------------------------------------------------------
# Processes: every descendant of the demo, identified by PID and start time (a PID can be reused)


def proc_stat(pid):
    """(ppid, start time in clock ticks, state) of a live process, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()  # the command name may hold spaces and ')'
    return int(rest[1]), int(rest[19]), rest[0]


def proc_cmdline(pid):
    """The command line of pid; "" when it has none or is gone (it may exit between the scan of
    /proc and this read: "" then never replaces the command line sampled before)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def descendants(root):
    """{pid: (start time, cmdline)} of the live descendants of root."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st:
                children.setdefault(st[0], []).append((int(d), st[1]))
    out, stack = {}, [root]
    while stack:
        for pid, start in children.get(stack.pop(), []):
            out[pid] = (start, proc_cmdline(pid))
            stack.append(pid)
    return out


def still_running(pid, start):
    st = proc_stat(pid)
    return st is not None and st[1] == start and st[2] != "Z"


class Demo:
    """scripts/demo in its own session, stdin not a terminal, output collected by a thread; its
    descendants are sampled while it runs."""

    def __init__(self, argv, env):
        self.argv = argv
        self.lines = []
        self.seen = {}  # pid -> (start time, cmdline) of every descendant seen
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    def text(self):
        return "\n".join(self.lines)

    def run(self, timeout):
        """Waits for the exit (sampling descendants every 0.1 s); on timeout asks the demo to
        stop (SIGTERM: its trap stops its processes), then kills what is left of its session."""
        deadline = time.time() + timeout
        while self.p.poll() is None:
            # Keep the latest non-empty command line of each pid: a process sampled between
            # fork and exec shows its parent's (or, exiting, an empty) command line.
            for pid, (start, cmd) in descendants(self.p.pid).items():
                if pid not in self.seen or cmd:
                    self.seen[pid] = (start, cmd)
            if time.time() > deadline:
                self.p.send_signal(signal.SIGTERM)
                try:
                    self.p.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.p.pid, signal.SIGKILL)  # the session this test created
                    self.p.wait()
                self.reader.join(5)
                raise TestFailure("the demo did not end within %d s; output:\n%s"
                                  % (timeout, self.tail()))
            time.sleep(0.1)
        self.reader.join(10)
        return self.p.returncode

    def tail(self, n=80):
        return "\n".join(self.lines[-n:])


# ----------------------------------------------------------------------------------------------
# The expected content: funnel-gen --stdout with the same options, validated, through the model


def hundredths(x):
    """llround(x * 100) on the double, as docs/events.md specifies (x already is that double)."""
    return model.llround_hundredths(repr(float(x)))


def to_msg(key, value):
    """A model.Msg for one funnel-gen line: the event it carries, or the rejection reason."""
    reason, obj = contract.validate(value)
    if reason is not None:
        return model.Msg(key, value, None, reason)
    t = obj["type"]
    ev = model.Event(obj["event_id"], t, obj["_ms"], obj["rep_id"],
                     obj.get("team_id", "unassigned"))
    if t.startswith("deal."):
        ev.deal = obj["deal_id"]
        if t != "deal.won" and "stage" in obj:  # stage is ignored on deal.won
            ev.stage = model.DEFAULT_STAGES.index(obj["stage"])
        if "amount" in obj:
            ev.amount_c = hundredths(obj["amount"])
    elif t == "activity.logged":
        ev.activity = obj["activity"]
    else:  # feedback.received
        if "score" in obj:
            ev.score_c = hundredths(obj["score"])
        ev.complaint = obj.get("complaint") is True
    return model.Msg(key, value, ev, None)


def summary(text):
    """funnel-gen's end-of-run counters (name -> int) from its stderr."""
    out = {}
    for ln in text.splitlines():
        m = re.match(r"^\s+(\S+)\s+(\d+)", ln)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def reference(build, gen_args):
    cmd = [os.path.join(build, "funnel-gen"), "--stdout", "--with-key", "--count",
           str(EVENTS)] + gen_args
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    err = p.stderr.decode("utf-8", "replace")
    expect(p.returncode == 0, "%s: exit %d" % (" ".join(cmd), p.returncode), err)
    msgs = []
    for ln in p.stdout.split(b"\n")[:-1]:
        key, tab, value = ln.partition(b"\t")
        expect(tab == b"\t", "funnel-gen --with-key wrote a line without a key: %r" % ln[:80])
        msgs.append(to_msg(key, value))
    expect(len(msgs) == EVENTS, "funnel-gen --count %d wrote %d lines" % (EVENTS, len(msgs)))
    return msgs, summary(err)


# ----------------------------------------------------------------------------------------------
# Checks


def width(text):
    """Terminal columns of text: East Asian wide characters 2, combining marks 0."""
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def fit(text, cols):
    """text cut to cols columns with an ellipsis, as funnelctl board cuts ids."""
    if width(text) <= cols:
        return text
    out = ""
    for ch in text:
        if width(out + ch) + 1 > cols:
            break
        out += ch
    return out + "\u2026"


def pct(rate):
    """A stored rate ("0.5123") as funnelctl shows it ("51.23%"), '-' when absent."""
    if rate is None:
        return "-"
    whole, frac = rate.split(".")
    v = int(whole) * 10000 + int(frac)
    return "%d.%02d%%" % (v // 100, v % 100)


def amount(text):
    """"1234567.89" -> "1,234,567.89"."""
    whole, _, frac = text.partition(".")
    return "{:,}".format(int(whole)) + ("." + frac if frac else "")


def frames(lines):
    """The board frames of a non-terminal run: (board lines, the demo's line under them)."""
    out = []
    for i, ln in enumerate(lines):
        if not ln.startswith("Sales funnel, "):
            continue
        start = i - 1 if i > 0 and lines[i - 1].startswith("Dashboard: ") else i
        end = i
        while end < len(lines) and not lines[end].startswith("demo: "):
            end += 1
        expect(end < len(lines), "a board frame without the demo's line under it:",
               *lines[start:start + 30])
        out.append((lines[start:end], lines[end]))
    return out


def check_screen(out, mdl):
    """The screen is funnelctl board: the dashboard's URL first, every frame within 80x24 (22
    board lines and the demo's line), and the last frame (drawn after funneld applied
    everything) shows the model's numbers of window all: the org funnel, the win rate and
    amount, the top 5 reps, no firing alert, the feed's state."""
    lines = out.splitlines()
    expect(lines and lines[0].startswith("Dashboard: "),
           "the demo's first line is not the dashboard's:", *lines[:5])
    url = re.match(r"^Dashboard: (http://127\.0\.0\.1:\d+/) \u2014 open it in a browser$",
                   lines[0])
    expect(url or lines[0].startswith("Dashboard: not started"),
           "the first line names no dashboard URL: %r" % lines[0])
    shown = frames(lines)
    expect(shown, "no board on the demo's screen; its end:", out[-3000:])
    for board, note in shown:
        expect(len(board) <= 22, "a board of %d lines (at most 22 + the demo's line):"
               % len(board), *board)
        for ln in board + [note]:
            expect(width(ln) <= 80, "a line of %d columns (at most 80): %r" % (width(ln), ln))
        if url:
            expect(board[0] == lines[0], "the board's first line is %r, expected %r"
                   % (board[0], lines[0]))
    board, note = shown[-1]
    expect(note.endswith("funneld applied %d of %d messages" % (EVENTS, EVENTS)),
           "the last screen's demo line: %r" % note)
    title = [ln for ln in board if ln.startswith("Sales funnel, ")][0]
    expect(title.startswith("Sales funnel, all time \u00b7 "), "the board's title: %r" % title)

    exp = mdl.expected_hashes()
    org = exp["%s:org:all" % PREFIX]
    head = [i for i, ln in enumerate(board) if ln.split() == ["Stage", "Deals", "Conversion", "%",
                                                               "Lost", "Avg", "days"]]
    expect(head, "no funnel heading in the last board:", *board)
    i = head[0] + 1
    for s in model.DEFAULT_STAGES[:-1]:
        h = org.get("dwell_hours:" + s)
        want = [s.capitalize(), org.get("entered:" + s, "0"), pct(org.get("conv:" + s)),
                org.get("lost_at:" + s, "0"), "%.1f" % (float(h) / 24) if h else "-"]
        expect(board[i].split() == want, "last board, row %s: %r, expected %s"
               % (s, board[i], want))
        i += 1
    last = model.DEFAULT_STAGES[-1]
    want = [last.capitalize(), org.get("entered:" + last, "0")]
    expect(board[i].split() == want, "last board, row %s: %r, expected %s"
           % (last, board[i], want))
    want = "Win rate %s   Won amount %s   Deals won %s, lost %s" % (
        pct(org.get("win_rate")), amount(org.get("won_amount", "0.00")), org.get("won", "0"),
        org.get("lost", "0"))
    expect(board[i + 1] == want, "last board: %r, expected %r" % (board[i + 1], want))

    # The top 5 reps by amount won (ties by id). Their team comes from <p>:rep_team, which every
    # apply writes (the team of the rep's latest event that names one).
    rep_prefix = "%s:rep:all:" % PREFIX
    reps = sorted(((k[len(rep_prefix):], h) for k, h in exp.items() if k.startswith(rep_prefix)),
                  key=lambda kv: (-decimal.Decimal(kv[1].get("won_amount", "0")),
                                  kv[0].encode("utf-8")))
    head = [i for i, ln in enumerate(board) if ln.split() == ["#", "Top", "reps", "Team", "Won",
                                                               "Won", "amount", "Win", "rate"]]
    expect(head, "no top reps heading in the last board:", *board)
    teams = mdl.expected_rep_team()
    for n, (rep, h) in enumerate(reps[:5]):
        want = ([str(n + 1)] + fit(rep, 24).split() + teams.get(rep, "-").split() +
                [h.get("won", "0"), amount(h.get("won_amount", "0.00")), pct(h.get("win_rate"))])
        got = board[head[0] + 1 + n]
        expect(got.split() == want, "last board, top rep %d: %r, expected %s" % (n + 1, got, want))
    expect("Alerts firing now: none" in board, "the last board shows alerts:", *board)
    expect(board[-1].startswith("Feed: "), "the last board's last line: %r" % board[-1])
    log("screen: %d boards within 80x24, first line %r; the last one matches the model "
        "(%s entered lead, %s won, won amount %s, top rep %r)"
        % (len(shown), lines[0], org.get("entered:lead"), org.get("won"), org.get("won_amount"),
           reps[0][0]))


def check_processes(demo, pids):
    """Every process the demo started (the PIDs it printed and every descendant seen while it
    ran) is gone. A survivor is a descendant of this test's own run: it is reported and then
    stopped by PID, start time checked."""
    seen = dict(demo.seen)
    names = {os.path.basename(cmd.split()[0]) if cmd.split() else "?" for _, cmd in seen.values()}
    for name, pid in pids.items():
        if pid in seen:
            expect(not seen[pid][1] or name in seen[pid][1] or "demo" in seen[pid][1],
                   "pid %d is %r, the demo said %s"
                   % (pid, seen[pid][1], name))
        else:
            # funnel-gen may finish its 20,000 messages between two samples; the others live
            # for the whole run and must have been seen.
            expect(name == "funnel-gen", "the demo printed %s pid %d, never seen among its "
                   "descendants (%s)" % (name, pid, sorted(names)))
            expect(name not in proc_cmdline(pid), "%s (pid %d) still runs after the demo "
                   "exited: %s" % (name, pid, proc_cmdline(pid)))
    left = [(pid, start, cmd) for pid, (start, cmd) in seen.items() if still_running(pid, start)]
    for pid, start, _ in left:
        if still_running(pid, start):
            os.kill(pid, signal.SIGKILL)
    expect(not left, "processes of the demo still running after it exited (now killed):",
           *["pid %d: %s" % (pid, cmd) for pid, _, cmd in left])
    log("processes: all %d the demo started are gone (%s)"
        % (len(seen), ", ".join("%s %d" % kv for kv in pids.items())))


def check_logs(kept, demo_out):
    for name in ("funneld.log", "gen.log", "mock.log", "redis.log"):
        path = os.path.join(kept, name)
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for marker in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
            expect(marker not in text, "sanitizer report in %s:" % path, text[-3000:])
    for marker in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
        expect(marker not in demo_out, "sanitizer report in the demo's output (funnelctl):",
               demo_out[-3000:])


def day_expiretime(window):
    """EXPIRETIME of a day hash: the end of its day (UTC, funneld's default) + 400 days."""
    d = datetime.strptime(window, "day:%Y-%m-%d").replace(tzinfo=timezone.utc)
    return int((d + timedelta(days=1)).timestamp()) + DAY_RETENTION_S


def compare(r, mdl, max_report=25):
    """Every rep/team/org hash of Redis against the model, field by field; the stats; the day
    hashes' expiry; the stored offsets (all messages applied)."""
    exp = mdl.expected_hashes()
    keys = [k.decode("utf-8", "replace") for k in r.scan_all(PREFIX + ":*")]
    metric = [k for k in keys if k.startswith(tuple("%s:%s:" % (PREFIX, s)
                                                    for s in ("rep", "team", "org")))]
    other = [k for k in keys if k not in set(metric)]
    hashes = r.pipeline([["HGETALL", k] for k in metric])
    expiry = r.pipeline([["EXPIRETIME", k] for k in metric])
    diffs = []
    got = {}
    for k, h, et in zip(metric, hashes, expiry):
        got[k] = {a.decode("utf-8"): b.decode("utf-8")
                  for a, b in harness.pairs_to_dict(h).items()}
        parts = k.split(":")  # prefix, scope, granularity, window, id (ids may hold ':')
        want_et = day_expiretime("day:" + parts[3]) if parts[2] == "day" else -1
        if et != want_et:
            diffs.append("%s: EXPIRETIME %s, expected %s" % (k, et, want_et))
    missing = sorted(set(exp) - set(got))
    extra = sorted(set(got) - set(exp))
    for k in missing[:max_report]:
        diffs.append("missing hash %s (expected %d fields, e.g. %s)"
                     % (k, len(exp[k]), dict(list(exp[k].items())[:4])))
    for k in extra[:max_report]:
        diffs.append("unexpected hash %s = %s" % (k, dict(list(got[k].items())[:6])))
    field_diffs = 0
    for k in sorted(set(exp) & set(got)):
        e, g = exp[k], got[k]
        for f in sorted(set(e) | set(g)):
            ev, gv = e.get(f), g.get(f)
            if ev == gv:
                continue
            field_diffs += 1
            if field_diffs <= max_report:
                diffs.append("%s  field %s: redis=%s model=%s" % (k, f, gv, ev))
    if field_diffs:
        diffs.append("%d field differences in all" % field_diffs)

    stats = {a.decode(): int(b) for a, b in
             harness.pairs_to_dict(r.call("HGETALL", PREFIX + ":stats")).items()}
    exp_stats = mdl.expected_stats()
    for name in sorted(set(exp_stats) | {n for n in stats if n.startswith("rejected")}
                       | {"accepted", "duplicates", "ignored", "beyond_retention"}):
        if stats.get(name, 0) != exp_stats.get(name, 0):
            diffs.append("stats %s: redis=%s model=%s" % (name, stats.get(name, 0),
                                                          exp_stats.get(name, 0)))
    nxt = r.pipeline([["HGET", "%s:part:%s:%d" % (PREFIX, TOPIC, p), "next"]
                      for p in range(PARTITIONS)])
    applied = sum(int(v) for v in nxt if isinstance(v, bytes))
    if applied != EVENTS:
        diffs.append("stored offsets account for %d messages, expected %d (%s)"
                     % (applied, EVENTS, nxt))
    feeds = ["%s:%s" % (PREFIX, s) for s in harness.FEED_KEYS]
    odd = [k for k in other if k not in feeds and not k.startswith(tuple(
        "%s:%s" % (PREFIX, s) for s in ("deal:", "part:", "dedupe:", "stats")))]
    if odd:
        diffs.append("keys outside the documented layout: %s" % odd[:10])
    log("redis: %d metric hashes (model %d), stats %s" % (len(got), len(exp), stats))
    expect(not diffs, "the demo's Redis data differs from the model:", *diffs)


def load_dump(kept):
    """A private redis-server on a free port that loads the kept dump.rdb (and never saves)."""
    port = harness.free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", kept,
            "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--loglevel", "warning"]
    p = harness.Proc("redis-check", argv, os.path.join(kept, "redis-check.log"))
    deadline = time.time() + 30
    while True:
        try:
            r = harness.Redis(port, timeout=5)
            if r.call("PING") == b"PONG":
                return p, r
        except (OSError, ConnectionError, harness.RespError):
            pass  # not listening yet, or still loading the dump
        if not p.alive() or time.time() > deadline:
            p.stop()
            raise TestFailure("redis-server did not load %s/dump.rdb:\n%s" % (kept, p.tail()))
        time.sleep(0.05)


# ----------------------------------------------------------------------------------------------


def ctrl_c(build, source, env):
    """Ctrl-C in a terminal sends SIGINT to the whole foreground process group: the demo must
    still stop its processes in order (funneld applies its last batch and exits 0 while Redis and
    Kafka are up), exit 0, and leave nothing behind."""
    argv = [os.path.join(source, "scripts", "demo"), "--no-build", "--build-dir", build,
            "--no-alerts", "--duration", "120", "--refresh", "1", "--keep"]
    demo = Demo(argv, env)
    deadline = time.time() + 30
    while time.time() < deadline and demo.p.poll() is None:
        if any(ln.startswith("Sales funnel, ") for ln in demo.lines):
            break
        time.sleep(0.1)
    expect(demo.p.poll() is None, "the live demo ended before Ctrl-C:", demo.tail())
    m = re.search(r"^demo: started redis-server \(pid (\d+)\), fd-mockcluster \(pid (\d+)\), "
                  r"funneld \(pid (\d+)\), funnel-gen \(pid (\d+)\)", demo.text(), re.M)
    expect(m, "the live demo did not print the PIDs it started:", demo.tail())
    for pid, (start, cmd) in descendants(demo.p.pid).items():
        demo.seen.setdefault(pid, (start, cmd))
    os.killpg(demo.p.pid, signal.SIGINT)  # the session this test created for it
    t = time.time()
    rc = demo.run(60)
    out = demo.text()
    m2 = re.search(r"^demo: logs and data kept in (\S+)$", out, re.M)
    kept = m2.group(1) if m2 else None
    try:
        expect(rc == 0, "after Ctrl-C the demo exited %d, expected 0:" % rc, demo.tail())
        check_processes(demo, dict(zip(PROC_NAMES, (int(g) for g in m.groups()))))
        expect(kept and os.path.isdir(kept), "no kept temp dir after Ctrl-C:", demo.tail())
        with open(os.path.join(kept, "funneld.log"), "rb") as f:
            flog = f.read().decode("utf-8", "replace")
        expect("main: exit 0" in flog and " warn " not in flog and " error " not in flog,
               "after Ctrl-C funneld did not stop cleanly (its last apply needs Redis and Kafka "
               "up):", flog[-3000:])
        log("Ctrl-C: the live demo stopped in %.1f s, exit 0, funneld applied its last batch "
            "and exited 0, nothing left running" % (time.time() - t))
    finally:
        if kept and os.path.isdir(kept):
            shutil.rmtree(kept, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(HERE, "..", "..", "build"))
    ap.add_argument("--source-dir", default=os.path.join(HERE, "..", ".."))
    ap.add_argument("--keep", action="store_true", help="keep the demo's temp dir on success too")
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    source = os.path.abspath(args.source_dir)
    t0 = time.time()
    kept = None
    ok = False
    redis_proc = None
    try:
        for tool in ("funneld", "funnelctl", "funnel-gen", "fd-mockcluster"):
            expect(os.access(os.path.join(build, tool), os.X_OK),
                   "%s not built in %s" % (tool, build))
        model_opts, extra = gen_options()
        argv = [os.path.join(source, "scripts", "demo"), "--no-build", "--build-dir", build,
                "--events", str(EVENTS), "--duration", str(DURATION), "--refresh", "1",
                "--keep"] + model_opts + ["--"] + extra
        env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELD_")}
        env["CI"] = "true"
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        log("running %s" % " ".join(argv))
        demo = Demo(argv, env)
        rc = demo.run(DEMO_TIMEOUT)
        out = demo.text()
        m = re.search(r"^demo: logs and data kept in (\S+)$", out, re.M)
        kept = m.group(1) if m else None
        expect(rc == 0, "the demo exited %d, expected 0; its output ends:" % rc, demo.tail())
        expect(kept and os.path.isdir(kept), "the demo did not print the kept temp dir:",
               demo.tail())
        m = re.search(r"^demo: started redis-server \(pid (\d+)\), fd-mockcluster \(pid (\d+)\), "
                      r"funneld \(pid (\d+)\), funnel-gen \(pid (\d+)\)", out, re.M)
        expect(m, "the demo did not print the PIDs it started:", demo.tail())
        pids = dict(zip(PROC_NAMES, (int(g) for g in m.groups())))
        log("demo exited 0 after %.1f s, data kept in %s" % (time.time() - t0, kept))
        check_processes(demo, pids)
        check_logs(kept, out)

        t = time.time()
        msgs, ref_summary = reference(build, model_opts + extra)
        mdl = model.Model(tz="UTC", prefix=PREFIX).run(msgs)
        n_bad = sum(1 for x in msgs if x.event is None)
        log("reference: %d messages (%d malformed), model %d hashes, in %.1f s"
            % (len(msgs), n_bad, len(mdl.counters), time.time() - t))
        with open(os.path.join(kept, "gen.log"), "rb") as f:
            demo_summary = summary(f.read().decode("utf-8", "replace"))
        for name, v in ref_summary.items():
            expect(demo_summary.get(name) == v,
                   "the demo's funnel-gen summary says %s %s, the --stdout run %s: the two runs "
                   "did not generate the same messages" % (name, demo_summary.get(name), v))
        expect(demo_summary.get("kafka:delivered") == EVENTS,
               "the demo's funnel-gen delivered %s of %d messages"
               % (demo_summary.get("kafka:delivered"), EVENTS))

        check_screen(out, mdl)
        expect(os.path.isfile(os.path.join(kept, "dump.rdb")), "no dump.rdb in %s" % kept)
        redis_proc, r = load_dump(kept)
        try:
            compare(r, mdl)
        finally:
            r.close()
        ctrl_c(build, source, env)
        ok = True
    except TestFailure as e:
        print("FAIL %s: %s" % (NAME, e), flush=True)
    except Exception:
        print("FAIL %s: unexpected error" % NAME)
        traceback.print_exc()
    finally:
        if redis_proc is not None:
            redis_proc.stop()
        if kept and os.path.isdir(kept):
            if ok and not args.keep:
                shutil.rmtree(kept, ignore_errors=True)
            else:
                print("demo logs and data kept in %s" % kept)
    print("%s %s in %.1f s" % ("PASS" if ok else "FAIL", NAME, time.time() - t0), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
