#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""funnelctl against a private redis-server and the mock Kafka cluster: show (table and --json),
reps/teams, top (order by every --by, limit, --json, live refresh and Ctrl-C), stats, offsets
(Redis next vs the group's committed offset and the log end, after a real funneld run), the
settings sources, and the errors and exit codes (unknown rep, bad window id, unreachable Redis and
Kafka, usage and configuration errors). Expected values are written out by hand from
docs/redis.md and docs/funnelctl.md, never taken from funnelctl's own output."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import unicodedata
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

TZ = "Asia/Shanghai"
DAY = "day:2026-11-22"
WEEK = "week:2026-W47"
BAD_WINDOW = ("bad window id '%s': expected all, day:YYYY-MM-DD, week:YYYY-Www, month:YYYY-MM "
              "or quarter:YYYY-Qn")

# The worked example of docs/redis.md: rep anna@corp.example on 2026-11-22.
ANNA = {
    "entered:lead": "2", "advanced:lead": "1", "moved_on:lead": "1", "lost_at:lead": "1",
    "dwell_sum_ms:lead": "21600000", "dwell_count:lead": "1", "entered:qualified": "1",
    "advanced:qualified": "1", "moved_on:qualified": "1", "entered:proposal": "1",
    "advanced:proposal": "1", "moved_on:proposal": "1", "dwell_sum_ms:proposal": "10800000",
    "dwell_count:proposal": "1", "entered:negotiation": "1", "advanced:negotiation": "1",
    "moved_on:negotiation": "1", "entered:won": "1", "won": "1", "lost": "1",
    "feedback_count": "1", "complaints": "1", "events": "7", "activity:call": "1",
    "won_amount": "1054.00", "feedback_sum": "4.50", "conv:lead": "0.5000",
    "exit_conv:lead": "0.5000", "dwell_hours:lead": "6.00", "conv:qualified": "1.0000",
    "exit_conv:qualified": "1.0000", "conv:proposal": "1.0000", "exit_conv:proposal": "1.0000",
    "dwell_hours:proposal": "3.00", "conv:negotiation": "1.0000",
    "exit_conv:negotiation": "1.0000", "win_rate": "0.5000", "feedback_avg": "4.50",
}

# The table `funnelctl show` prints for ANNA (docs/funnelctl.md), written out by hand: rates as
# percentages, absent counters 0, absent averages '-', the won stage with entered only.
ANNA_STAGE_ROWS = [
    ["lead", "2", "1", "50.00%", "1", "1", "50.00%", "6.00"],
    ["qualified", "1", "1", "100.00%", "1", "0", "100.00%", "-"],
    ["proposal", "1", "1", "100.00%", "1", "0", "100.00%", "3.00"],
    ["negotiation", "1", "1", "100.00%", "1", "0", "100.00%", "-"],
    ["won", "1"],
]
ANNA_SCALARS = {
    "won": "1", "lost": "1", "win_rate": "50.00%", "won_amount": "1054.00",
    "activities": "call 1, visit 0, email 0, meeting 0, follow_up 0",
    "feedback": "1 (avg 4.50)", "complaints": "1", "events": "7",
    "avg_won_amount": "-", "cycle": "0 (avg -)",
}

# Leaderboard fixtures (window WEEK): amounts beyond 2^53 must still order exactly.
TOP = {
    "ann": {"entered:lead": "3", "won": "2", "won_amount": "99999999999999999.99",
            "win_rate": "0.6667", "lost": "1", "exit_conv:lead": "0.2500", "events": "11"},
    "bob": {"entered:lead": "10", "won": "1", "won_amount": "100000000000000000.00",
            "win_rate": "0.2500", "lost": "3", "exit_conv:lead": "0.5000", "events": "20"},
    "cy": {"entered:lead": "1", "events": "1"},
    "dee": {"entered:lead": "4", "won": "2", "won_amount": "5.10", "win_rate": "1.0000",
            "exit_conv:lead": "0.0000", "events": "6", "entered:proposal": "2"},
}
TOP_ORDER = {  # hand-sorted: descending, ties by rep id, absent rates last
    "won_amount": ["bob", "ann", "dee", "cy"],
    "won": ["ann", "dee", "bob", "cy"],
    "win_rate": ["dee", "ann", "bob", "cy"],
    "entered:lead": ["bob", "dee", "ann", "cy"],
    "entered:proposal": ["dee", "ann", "bob", "cy"],
    "exit_conv:lead": ["bob", "ann", "dee", "cy"],
}


class Ctl:
    """Runs funnelctl with the harness's Redis, prefix and timezone."""

    def __init__(self, h):
        self.h = h
        self.exe = h.bin("funnelctl")
        if not os.access(self.exe, os.X_OK):
            raise TestFailure("funnelctl not built in %s" % h.build)

    def base(self, port=None, prefix=None):
        return ["--set", "redis.port=%d" % (port or self.h.redis_port),
                "--set", "redis.prefix=%s" % (prefix or self.h.prefix),
                "--set", "funnel.timezone=" + TZ]

    def run(self, *args, plain=False, env=None, timeout=60, **kw):
        argv = [self.exe] + ([] if plain else self.base(**kw)) + list(args)
        e = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELD_")}
        e.update(env or {})
        p = subprocess.run(argv, capture_output=True, timeout=timeout, env=e)
        return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")

    def ok(self, *args, **kw):
        rc, out, err = self.run(*args, **kw)
        if rc != 0:
            raise TestFailure("funnelctl %s: exit %d, expected 0; stderr: %s"
                              % (" ".join(args), rc, err))
        if "Sanitizer" in err or "runtime error:" in err:
            raise TestFailure("funnelctl %s: sanitizer report:\n%s" % (" ".join(args), err))
        return out

    def fails(self, code, *args, stderr_has=(), **kw):
        rc, out, err = self.run(*args, **kw)
        if rc != code:
            raise TestFailure("funnelctl %s: exit %d, expected %d; stdout %r stderr %r"
                              % (" ".join(args), rc, code, out[:300], err))
        for s in stderr_has:
            if s not in err:
                raise TestFailure("funnelctl %s: stderr lacks %r:\n%s" % (" ".join(args), s, err))
        if "Sanitizer" in err or "runtime error:" in err:
            raise TestFailure("funnelctl %s: sanitizer report:\n%s" % (" ".join(args), err))
        return out, err


def expect(cond, what, *details):
    if not cond:
        raise TestFailure(what + ("".join("\n  " + str(d) for d in details)))


def hset(r, key, fields):
    args = ["HSET", key]
    for k, v in fields.items():
        args += [k, v]
    r.call(*args)


def stored_as_json(fields):
    """What --json must hold for a hash: every field, numbers as numbers (exact decimals)."""
    out = {}
    for k, v in fields.items():
        out[k] = Decimal(v) if "." in v else int(v)
    return out


def parse_json(text):
    return json.loads(text, parse_float=Decimal)


def split_cells(line):
    """Cells of a table line: separated by two or more spaces."""
    return re.split(r"\s{2,}", line.strip()) if line.strip() else []


# ----------------------------------------------------------------------------------------------


def check_help_and_usage(ctl):
    out = ctl.ok("--help", plain=True)
    for cmd in ("show rep <id>", "reps", "teams", "top", "offsets", "stats"):
        expect(cmd in out, "funnelctl --help does not mention %r" % cmd, out)
    for cmd in ("show", "reps", "teams", "top", "offsets", "stats", "help"):
        out = ctl.ok(cmd, "--help", plain=True)
        expect(out.startswith("usage: funnelctl"), "%s --help: no usage line" % cmd, out)
        out2 = ctl.ok("help", cmd, plain=True)
        expect(out2 == out, "help %s differs from %s --help" % (cmd, cmd))
    expect("--by KEY" in ctl.ok("top", "--help", plain=True), "top --help lacks --by")
    # usage errors: exit 2
    ctl.fails(2, plain=True, stderr_has=["usage: funnelctl"])
    ctl.fails(2, "frobnicate", stderr_has=["unknown command 'frobnicate'"])
    ctl.fails(2, "show", stderr_has=["wrong number of arguments for 'show'"])
    ctl.fails(2, "show", "rep", stderr_has=["show rep expects an id"])
    ctl.fails(2, "show", "org", "x", stderr_has=["show org takes no id"])
    ctl.fails(2, "show", "deal", "x", stderr_has=["show expects 'rep <id>', 'team <id>' or 'org'"])
    ctl.fails(2, "show", "org", "--by", "won", stderr_has=["option --by does not apply to 'show'"])
    ctl.fails(2, "stats", "--window", "all", stderr_has=["option --window does not apply"])
    ctl.fails(2, "reps", "--frob", stderr_has=["unknown option '--frob'"])
    ctl.fails(2, "reps", "--window", stderr_has=["option --window expects a value"])
    ctl.fails(2, "top", "--limit", "-1", stderr_has=["--limit expects an integer"])
    ctl.fails(2, "top", "--interval", "0", stderr_has=["--interval expects seconds"])
    # every program of the project answers --help: its usage on stdout, exit 0
    for tool in ("funneld", "funnelctl", "funnel-gen", "fd-produce", "fd-mockcluster",
                 "fd-config-doc"):
        p = subprocess.run([ctl.h.bin(tool), "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        expect(p.returncode == 0 and out.startswith("usage: " + tool),
               "%s --help: exit %d, expected 0 and its usage on stdout" % (tool, p.returncode),
               out, p.stderr.decode("utf-8", "replace"))
    print("[funnelctl] help and usage errors OK", flush=True)


def check_show(ctl, r, p):
    hset(r, "%s:rep:%s:anna@corp.example" % (p, DAY), ANNA)
    hset(r, "%s:team:%s:emea" % (p, DAY), ANNA)
    hset(r, "%s:org:%s" % (p, DAY), ANNA)
    for args, title in ((("show", "rep", "anna@corp.example"), "rep anna@corp.example"),
                        (("show", "team", "emea"), "team emea"), (("show", "org"), "org")):
        out = ctl.ok(*args, "--window", DAY)
        lines = out.splitlines()
        expect(lines[0] == "%s, window %s" % (title, DAY), "show: title line", lines[0])
        i = lines.index(next(l for l in lines if l.startswith("stage")))
        expect(split_cells(lines[i]) == ["stage", "entered", "advanced", "conv", "moved_on",
                                         "lost_at", "exit_conv", "dwell_hours"],
               "show: stage table header", lines[i])
        rows = [split_cells(l) for l in lines[i + 1:i + 6]]
        expect(rows == ANNA_STAGE_ROWS, "show %s: stage rows differ" % title,
               "got  %s" % rows, "want %s" % ANNA_STAGE_ROWS)
        scalars = {}
        for l in lines[i + 7:]:
            if l.startswith("open pipeline now"):
                break
            if l.strip():
                k, v = l.split(None, 1)
                scalars[k] = v.strip()
        expect(scalars == ANNA_SCALARS, "show %s: scope-wide lines differ" % title,
               "got  %s" % scalars, "want %s" % ANNA_SCALARS)

        out = ctl.ok(*args, "--window", DAY, "--json")
        got = parse_json(out)
        expect(got == stored_as_json(ANNA), "show %s --json differs" % title, got)
        expect('"won_amount": 1054.00' in out and '"conv:lead": 0.5000' in out,
               "show --json: numbers must be written as stored", out)
        expect(len(out.strip().splitlines()) == 1, "show --json: one object on one line")

    # unknown rep / team / org: exit 1 with a hint
    _, err = ctl.fails(1, "show", "rep", "bob", "--window", DAY)
    want = ("funnelctl: no metrics for rep 'bob' in window '%s' (prefix '%s')\n"
            "hint: `funnelctl reps --window %s` lists the reps with metrics in it\n" % (DAY, p, DAY))
    expect(err == want, "unknown rep: stderr", "got  %r" % err, "want %r" % want)
    ctl.fails(1, "show", "team", "nope", "--window", DAY,
              stderr_has=["no metrics for team 'nope' in window '%s' (prefix '%s')" % (DAY, p),
                          "funnelctl teams --window %s" % DAY])
    ctl.fails(1, "show", "org", "--window", "day:2026-11-23",
              stderr_has=["no metrics for the org in window 'day:2026-11-23' (prefix '%s')" % p])
    # the same data under another prefix is not found
    ctl.fails(1, "show", "rep", "anna@corp.example", "--window", DAY, prefix=p + "x",
              stderr_has=["(prefix '%sx')" % p])

    # an id that looks like an option, after "--"
    hset(r, "%s:rep:%s:-neg" % (p, DAY), {"events": "2"})
    got = parse_json(ctl.ok("show", "--json", "--window", DAY, "rep", "--", "-neg"))
    expect(got == {"events": 2}, "show rep -- -neg", got)
    ctl.fails(2, "show", "rep", "-neg", stderr_has=["unknown option '-neg'"])

    # a zero rate is shown (present), absent ones as '-'; other stages via funnel.stages
    hset(r, "%s:rep:all:zed" % p, {"entered:a": "4", "lost_at:a": "2", "exit_conv:a": "0.0000",
                                   "lost": "2", "win_rate": "0.0000", "events": "6",
                                   "activity:visit": "3", "old:field": "9"})
    out = ctl.ok("show", "rep", "zed", "--window", "all", "--set", "funnel.stages=a,b,c",
                 "--set", "funnel.activities=visit")
    lines = out.splitlines()
    i = lines.index(next(l for l in lines if l.startswith("stage")))
    rows = [split_cells(l) for l in lines[i + 1:i + 4]]
    want_rows = [["a", "4", "0", "-", "0", "2", "0.00%", "-"],
                 ["b", "0", "0", "-", "0", "0", "-", "-"], ["c", "0"]]
    expect(rows == want_rows, "show with funnel.stages=a,b,c: rows", rows)
    expect("win_rate    0.00%" in out and "activities  visit 3" in out
           and "won_amount  0.00" in out and "feedback    0 (avg -)" in out,
           "show zed: scope-wide lines", out)
    expect("fields not in funnel.stages/funnel.activities: old:field=9" in out,
           "show: fields unknown to the funnel are listed", out)
    print("[funnelctl] show OK", flush=True)


def check_show_pipeline(ctl, r, p):
    """show's pipeline section (the scope's `all` hash, whatever the window), the cycle and
    average won deal lines, and the velocity with its formula, worked out by hand."""
    hset(r, "%s:rep:all:pip" % p, {"open:lead": "2", "open_amount:lead": "300.00",
                                   "open:proposal": "1", "open_amount:proposal": "1200.50",
                                   "open": "3", "open_amount": "1500.50", "events": "9"})
    # 3 won, 1 lost, 1500.00 won, cycles of 10 and 20 days: 3 x 0.75 x 500.00 / 15 = 75.00
    hset(r, "%s:rep:%s:pip" % (p, WEEK), {"won": "3", "lost": "1", "won_amount": "1500.00",
                                         "win_rate": "0.7500", "cycle_sum_ms": str(30 * 86400000),
                                         "cycle_count": "2", "cycle_days": "15.00",
                                         "avg_won_amount": "500.00", "events": "4"})
    out = ctl.ok("show", "rep", "pip", "--window", WEEK)
    lines = out.splitlines()
    i = lines.index("open pipeline now (window all)")
    rows = [split_cells(l) for l in lines[i + 1:i + 7]]
    want = [["stage", "open", "open_amount"], ["lead", "2", "300.00"], ["qualified", "0", "0.00"],
            ["proposal", "1", "1200.50"], ["negotiation", "0", "0.00"], ["total", "3", "1500.50"]]
    expect(rows == want, "show: pipeline section", rows)
    expect("velocity 75.00 per day = open 3 x win_rate 0.7500 x avg_won_amount 500.00 / "
           "cycle_days 15.00" in lines, "show: velocity line", out)
    expect(any(split_cells(l) == ["avg_won_amount", "500.00"] for l in lines) and
           any(split_cells(l) == ["cycle", "2 (avg 15.00 days)"] for l in lines),
           "show: avg_won_amount and cycle lines", out)
    # the all window: the same pipeline; no cycle there, so no velocity
    out = ctl.ok("show", "rep", "pip", "--window", "all")
    expect("total           3       1500.50" in out or
           ["total", "3", "1500.50"] in [split_cells(l) for l in out.splitlines()],
           "show --window all: pipeline", out)
    expect("velocity - = open 3 x win_rate - x avg_won_amount - / cycle_days -" in out,
           "show --window all: velocity undefined", out)
    # --json stays the stored hash
    got = parse_json(ctl.ok("show", "rep", "pip", "--window", WEEK, "--json"))
    expect(got["cycle_count"] == 2 and got["avg_won_amount"] == Decimal("500.00") and
           "open" not in got, "show --json with cycle fields", got)
    r.call("DEL", "%s:rep:all:pip" % p, "%s:rep:%s:pip" % (p, WEEK))  # the lists that follow
    print("[funnelctl] show pipeline, cycle, velocity OK", flush=True)


# A final scorecard as the scorer writes it (docs/redis.md), and the rankings of its period.
CARD_PERIOD = "month:2025-11"
CARD = {"scope": "rep", "id": "anna", "team": "north", "period": CARD_PERIOD,
        "start_ms": "1761955200000", "end_ms": "1764547200000", "clock_ms": "1764900000000",
        "elapsed": "1.0000", "state": "final", "score": "81.25", "grade": "B",
        "rank_org": "1", "rank_team": "1", "of_org": "3", "of_team": "2",
        "computed_ms": "1764900000000", "final_ms": "1764806400000",
        "kpis": "won_amount,conv:lead,complaints",
        "won_amount.value": "45000.00", "won_amount.samples": "9",
        "won_amount.target": "50000.00", "won_amount.target_source": "targets[0]",
        "won_amount.expected": "50000.00", "won_amount.attainment": "0.9000",
        "won_amount.points": "80.00", "won_amount.weight": "60.00",
        "won_amount.weight_used": "75.00", "won_amount.weighted": "60.00",
        "won_amount.direction": "higher", "won_amount.status": "scored",
        "won_amount.fields": "won=9 won_amount=45000.00 from month:2025-11",
        "conv:lead.samples": "0", "conv:lead.target": "0.3000",
        "conv:lead.target_source": "targets[2]", "conv:lead.weight": "20.00",
        "conv:lead.direction": "higher", "conv:lead.status": "no_data",
        "complaints.value": "1", "complaints.samples": "1", "complaints.target": "2",
        "complaints.target_source": "targets[1]", "complaints.expected": "2.0000",
        "complaints.attainment": "2.0000", "complaints.points": "85.00",
        "complaints.weight": "20.00", "complaints.weight_used": "25.00",
        "complaints.weighted": "21.25", "complaints.direction": "lower",
        "complaints.status": "scored",
        "adjustments": "1", "adjusted_score": "83.10", "adjusted_grade": "B",
        "won_amount.adjusted_value": "46000.00"}
ADJ = {"at_ms": 1764990000000, "clock_ms": 1764986400000, "kpi": "won_amount", "from": 45000,
       "to": 46000, "delta": 1000, "adjusted_score": 83.1, "adjusted_grade": "B",
       "events": [{"event_id": "e-late-1", "occurred_ms": 1763000000000}]}


def check_scorecards(ctl, r, p):
    hset(r, "%s:score:rep:%s:anna" % (p, CARD_PERIOD), CARD)
    r.call("RPUSH", "%s:score:adj:rep:%s:anna" % (p, CARD_PERIOD), json.dumps(ADJ))
    for rid, sc, gr, tm in (("bob", "81.25", "B", "north"), ("cara", "40.00", "D", "south")):
        hset(r, "%s:score:rep:%s:%s" % (p, CARD_PERIOD, rid),
             {"scope": "rep", "id": rid, "team": tm, "score": sc, "grade": gr, "state": "final",
              "kpis": ""})
    r.call("ZADD", "%s:rank:%s:rep" % (p, CARD_PERIOD), "81.25", "bob", "81.25", "anna", "40", "cara")
    r.call("ZADD", "%s:rank:%s:team:north" % (p, CARD_PERIOD), "81.25", "bob", "81.25", "anna")
    r.call("ZADD", "%s:rank:%s:teams" % (p, CARD_PERIOD), "70.5", "north", "40", "south")

    out = ctl.ok("scorecard", "rep", "anna", "--period", CARD_PERIOD)
    lines = out.splitlines()
    expect(lines[0] == "rep anna (team north), period month:2025-11, state final, elapsed 1.0000",
           "scorecard: title", out)
    expect(lines[1] == "from 2025-11-01T00:00:00Z to 2025-12-01T00:00:00Z, final "
                       "2025-12-04T00:00:00Z", "scorecard: bounds", out)
    expect(lines[2] == "score 81.25, grade B, rank 1 of 3 in the org, 1 of 2 in the team",
           "scorecard: score line", out)
    i = lines.index(next(l for l in lines if l.startswith("kpi ")))
    expect(split_cells(lines[i]) == ["kpi", "value", "target", "expected", "attain", "points",
                                     "weight", "weighted"], "scorecard: header", lines[i])
    rows = [split_cells(l) for l in lines[i + 1:i + 4]]
    want = [["won_amount", "45000.00", "50000.00", "50000.00", "0.9000", "80.00", "75.00",
             "60.00"],
            ["conv:lead", "-", "0.3000", "-", "-", "no_data", "-", "-"],
            ["complaints", "1", "2", "2.0000", "2.0000", "85.00", "25.00", "21.25"]]
    expect(rows == want, "scorecard: the breakdown", "got  %s" % rows, "want %s" % want)
    expect(all(len(l) <= 80 for l in lines[:i + 4]), "scorecard: head and table within 80 columns",
           out)
    expect("won_amount: won=9 won_amount=45000.00 from month:2025-11; target targets[0]; higher "
           "is better; weight 60.00 (75.00 after renormalising); adjusted value 46000.00"
           in lines, "scorecard: where a value, its target and its weight came from", out)
    expect("conv:lead: -; target targets[2]; higher is better; weight 20.00" in lines,
           "scorecard: a line left out", out)
    expect("adjustments 1: adjusted score 83.10, grade B" in lines, "scorecard: adjustments", out)
    j = lines.index("adjustments 1: adjusted score 83.10, grade B")
    expect(split_cells(lines[j + 2]) == ["2025-12-06T03:00:00Z", "won_amount", "45000", "46000",
                                         "1000", "83.1", "B", "e-late-1"],
           "scorecard: an adjustment line", lines[j + 2:])
    got = json.loads(ctl.ok("scorecard", "rep", "anna", "--period", CARD_PERIOD, "--json"))
    expect(got["score"] == 81.25 and got["grade"] == "B" and got["adjustments"] == [ADJ] and
           [x["kpi"] for x in got["kpis"]] == ["won_amount", "conv:lead", "complaints"] and
           got["kpis"][0]["attainment"] == 0.9 and got["kpis"][1]["value"] is None,
           "scorecard --json", got)
    _, err = ctl.fails(1, "scorecard", "rep", "zed", "--period", CARD_PERIOD)
    expect("no scorecard for rep 'zed' in period month:2025-11 (prefix '%s')" % p in err,
           "scorecard of nobody", err)
    ctl.fails(2, "scorecard", "org", "x", stderr_has=["scorecard expects 'rep <id>' or 'team <id>'"])
    ctl.fails(2, "scorecard", "rep", "anna", "--period", "month:2025-13",
              stderr_has=["--period expects month, quarter, year"])
    ctl.fails(2, "scorecard", "rep", "anna", "--window", "all",
              stderr_has=["option --window does not apply to 'scorecard'"])

    out = ctl.ok("ranking", "--period", CARD_PERIOD)
    rows = [split_cells(l) for l in out.splitlines()[1:]]
    want = [["rank", "id", "score", "grade", "team", "state", "adjusted_score", "adjusted_grade"],
            ["1", "anna", "81.25", "B", "north", "final", "83.10", "B"],
            ["2", "bob", "81.25", "B", "north", "final", "-", "-"],
            ["3", "cara", "40.00", "D", "south", "final", "-", "-"]]
    expect(rows == want, "ranking: best first, the tie by id", rows)
    got = json.loads(ctl.ok("ranking", "--period", CARD_PERIOD, "--team", "north", "--limit", "1",
                            "--json"))
    expect(got["total"] == 2 and [x["id"] for x in got["rows"]] == ["anna"] and
           got["rows"][0]["score"] == 81.25, "ranking --team north --limit 1", got)
    got = json.loads(ctl.ok("ranking", "--period", CARD_PERIOD, "--scope", "team", "--json"))
    expect([(x["id"], x["score"]) for x in got["rows"]] == [("north", 70.5), ("south", 40.0)],
           "ranking --scope team", got)
    expect(ctl.ok("ranking", "--period", "year:1999").strip() == "no scorecards ranked in year:1999",
           "an empty ranking")
    ctl.fails(2, "ranking", "--scope", "org", stderr_has=["--scope expects rep or team"])
    ctl.fails(2, "ranking", "--scope", "team", "--team", "x",
              stderr_has=["--team applies to --scope rep only"])
    print("[funnelctl] scorecard and ranking OK", flush=True)


def check_windows(ctl, r, p):
    for bad in ("today", "day:2026-02-30", "day:2026-11-2", "week:2026-W54", "week:2026-W00",
                "month:2026-13", "quarter:2026-Q5", "ALL", "all ", ""):
        for args in (("show", "org"), ("reps",), ("teams",), ("top", "--once")):
            _, err = ctl.fails(2, *args, "--window", bad)
            expect(err == "funnelctl: " + BAD_WINDOW % bad + "\n", "bad window %r" % bad, err)
    # valid window forms (ISO week 53 exists in 2026)
    for good in ("all", "week:2026-W53", "month:2026-02", "quarter:2026-Q4", "day:2028-02-29"):
        ctl.fails(1, "show", "org", "--window", good, stderr_has=["no metrics for the org"])

    # the default window is today in funnel.timezone
    for _ in range(3):
        today = datetime.now(ZoneInfo(TZ)).strftime("day:%Y-%m-%d")
        hset(r, "%s:rep:%s:today-rep" % (p, today), {"events": "3"})
        hset(r, "%s:team:%s:today-team" % (p, today), {"events": "3"})
        out = ctl.ok("show", "rep", "today-rep")
        if datetime.now(ZoneInfo(TZ)).strftime("day:%Y-%m-%d") == today:
            break  # not straddling midnight in Shanghai
    expect(out.startswith("rep today-rep, window %s\n" % today), "default window", out)
    expect(ctl.ok("reps") == "today-rep\n", "reps with the default window")
    expect(ctl.ok("teams", "--json") == '["today-team"]\n', "teams --json, default window")
    # another timezone has another today only sometimes; UTC-12 vs +14 differ always by a day
    a = datetime.now(ZoneInfo("Etc/GMT+12")).strftime("day:%Y-%m-%d")
    out = ctl.run("show", "rep", "today-rep", "--set", "funnel.timezone=Etc/GMT+12")[2]
    if a != today:
        expect("in window '%s'" % a in out, "the default window follows funnel.timezone", out)
    print("[funnelctl] window ids OK (default %s)" % today, flush=True)


def check_lists(ctl, r, p):
    ids = ["a:b c", "x*y", "张伟", "bob", "Émile"]
    for i in ids:
        hset(r, "%s:rep:%s:%s" % (p, WEEK, i), {"events": "1"})
        hset(r, "%s:team:%s:t-%s" % (p, WEEK, i), {"events": "1"})
    # decoys: another window, another scope, a prefix the unescaped glob would match
    hset(r, "%s:rep:week:2026-W48:zz" % p, {"events": "1"})
    hset(r, "%s:org:%s" % (p, WEEK), {"events": "5"})
    out = ctl.ok("reps", "--window", WEEK)
    want = sorted(ids, key=lambda s: s.encode("utf-8"))
    expect(out.splitlines() == want, "reps: list", out, want)
    expect(json.loads(ctl.ok("reps", "--window", WEEK, "--json")) == want, "reps --json")
    out = ctl.ok("teams", "--window", WEEK)
    expect(out.splitlines() == ["t-" + i for i in want], "teams: list", out)
    _, err = ctl.fails(1, "reps", "--window", "quarter:2020-Q1")
    expect("no rep has metrics in window 'quarter:2020-Q1' (prefix '%s')" % p in err, err)
    out, _ = ctl.fails(1, "teams", "--window", "quarter:2020-Q1", "--json")
    expect(out == "[]\n", "teams --json with nothing: []", out)

    print("[funnelctl] reps/teams OK", flush=True)


def check_top(ctl, r, p):
    for rep, fields in TOP.items():
        hset(r, "%s:rep:%s:%s" % (p, "month:2026-11", rep), fields)
    for by, order in TOP_ORDER.items():
        out = ctl.ok("top", "--window", "month:2026-11", "--once", "--by", by)
        lines = out.splitlines()
        expect(lines[0] == "top reps by %s, window month:2026-11, prefix %s: 4 of 4 reps"
               % (by, p), "top header", lines[0])
        head = split_cells(lines[2])
        expect(head == ["#", "rep", "lead", "qualified", "proposal", "negotiation", "won",
                        "win_rate", "won_amount", "events"], "top columns", head)
        rows = [split_cells(l) for l in lines[3:]]
        expect([row[1] for row in rows] == order, "top --by %s: order" % by, rows, order)
        expect([row[0] for row in rows] == ["1", "2", "3", "4"], "top ranks", rows)
        js = parse_json(ctl.ok("top", "--window", "month:2026-11", "--json", "--by", by))
        expect([o["rep"] for o in js] == order, "top --json --by %s" % by, js)
    out = ctl.ok("top", "--window", "month:2026-11", "--once")
    rows = {split_cells(l)[1]: split_cells(l) for l in out.splitlines()[3:]}
    expect(rows["bob"] == ["1", "bob", "10", "0", "0", "0", "1", "25.00%",
                           "100000000000000000.00", "20"], "top row of bob", rows["bob"])
    expect(rows["cy"] == ["4", "cy", "1", "0", "0", "0", "0", "-", "0.00", "1"],
           "top row of cy (absent fields)", rows["cy"])
    out = ctl.ok("top", "--window", "month:2026-11", "--once", "--limit", "2")
    expect(out.splitlines()[0].endswith(": 2 of 4 reps") and len(out.splitlines()) == 5,
           "top --limit 2", out)
    js = parse_json(ctl.ok("top", "--window", "month:2026-11", "--json", "--limit", "1"))
    want = {"rep": "bob"}
    want.update(stored_as_json(TOP["bob"]))
    expect(js == [want], "top --json --limit 1: every field of the hash", js)
    # columns stay aligned for composed and decomposed accents and wide characters
    for rep in ("Jos\u00e9", "Jose\u0301", "\u5f20\u4f1f", "bob"):
        hset(r, "%s:rep:month:2026-10:%s" % (p, rep), {"entered:lead": "1", "events": "1"})
    lines = ctl.ok("top", "--window", "month:2026-10", "--once").splitlines()[2:]
    widths = [sum(0 if unicodedata.combining(c) else
                  2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
              for line in lines]
    expect(len(lines) == 5 and len(set(widths)) == 1, "top: aligned columns", lines, widths)
    for bad, msg in (("entered:nope", "'nope' is not a stage of funnel.stages"),
                     ("exit_conv:won", "the last stage has no exit_conv"),
                     ("events", "--by expects won_amount, won, win_rate, entered:<stage> or "
                                "exit_conv:<stage>, found 'events'")):
        ctl.fails(2, "top", "--once", "--by", bad, stderr_has=[msg])
    ctl.fails(1, "top", "--once", "--window", "month:2020-01",
              stderr_has=["no rep has metrics in window 'month:2020-01'"])

    # live: redraws in place until SIGINT, then exit 0
    argv = [ctl.exe] + ctl.base() + ["top", "--window", "month:2026-11", "--interval", "0.2"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise TestFailure("top did not exit within 10 s of SIGINT")
    frames = out.decode("utf-8").split("\033[H\033[2J")
    expect(proc.returncode == 0, "top live: exit %s after SIGINT" % proc.returncode, err)
    expect(len(frames) >= 4 and frames[0] == "", "top live: %d redraws" % (len(frames) - 1))
    expect("Ctrl-C quits" in frames[-1] and "100000000000000000.00" in frames[-1],
           "top live frame", frames[-1])
    print("[funnelctl] top OK (%d live redraws in 1.5 s)" % (len(frames) - 1), flush=True)


def check_stats(ctl, r, p):
    ctl.fails(1, "stats", stderr_has=["no stats at '%s:stats' (prefix '%s')" % (p, p)])
    hset(r, p + ":stats", {"accepted": "120", "duplicates": "4", "rejected": "3",
                            "rejected:oversize": "1", "rejected:invalid_json": "2",
                            "batches": "7", "future_counter": "5"})
    out = ctl.ok("stats")
    rows = [split_cells(l) for l in out.splitlines()]
    want = [["accepted", "120"], ["duplicates", "4"], ["rejected", "3"],
            ["invalid_json", "2"], ["oversize", "1"], ["beyond_retention", "0"],
            ["ignored", "0"], ["batches", "7"], ["future_counter", "5"]]
    expect(rows == want, "stats table", rows)
    expect(out.splitlines()[3].startswith("  invalid_json"), "stats: reasons indented", out)
    js = parse_json(ctl.ok("stats", "--json"))
    expect(js == {"accepted": 120, "duplicates": 4, "rejected": 3, "rejected:invalid_json": 2,
                  "rejected:oversize": 1, "beyond_retention": 0, "ignored": 0, "batches": 7,
                  "future_counter": 5}, "stats --json", js)
    print("[funnelctl] stats OK", flush=True)


def check_settings(ctl, h, p):
    # file < env < --set, as funneld
    path = os.path.join(h.tmp, "ctl.json")
    with open(path, "w") as f:
        json.dump({"redis": {"port": h.redis_port, "prefix": p + "-file"},
                   "funnel": {"timezone": TZ}}, f)
    ctl.fails(1, "show", "org", "--window", DAY, "--config", path, plain=True,
              stderr_has=["(prefix '%s-file')" % p])
    ctl.fails(1, "show", "org", "--window", DAY, "--config", path, plain=True,
              env={"FUNNELD_REDIS_PREFIX": p + "-env"}, stderr_has=["(prefix '%s-env')" % p])
    ctl.ok("show", "org", "--window", DAY, "--config", path, "--set", "redis.prefix=" + p,
           plain=True, env={"FUNNELD_REDIS_PREFIX": p + "-env"})
    ctl.ok("show", "org", "--window", DAY, plain=True,
           env={"FUNNELD_CONFIG": path, "FUNNELD_REDIS_PREFIX": p})
    # configuration errors: exit 2
    ctl.fails(2, "stats", "--set", "redis.port=abc", stderr_has=["configuration error",
                                                                  "redis.port"])
    ctl.fails(2, "stats", "--set", "redis.nope=1", stderr_has=["configuration error"])
    ctl.fails(2, "stats", "--set", "noequals", stderr_has=["configuration error"])
    ctl.fails(2, "stats", "--set", "funnel.timezone=Mars/Olympus",
              stderr_has=["configuration error", "funnel.timezone"])
    ctl.fails(2, "stats", "--config", os.path.join(h.tmp, "missing.json"), plain=True,
              stderr_has=["configuration error"])
    ctl.fails(2, "stats", plain=True, env={"FUNNELD_REDIS_PORT": "x"},
              stderr_has=["configuration error"])
    print("[funnelctl] settings sources OK", flush=True)


def alert_doc(n, state, severity, rule, scope, sid, started, at, **kw):
    d = {"alert_id": "%032x" % n, "episode_id": "%032x" % (n + 1000), "state": state,
         "rule": rule, "severity": severity, "condition": "threshold", "scope": scope,
         "scope_id": sid, "team": kw.pop("team", "emea"), "manager": kw.pop("manager", None),
         "kpi": "exit_conv:proposal", "stage": "proposal", "window": "7d",
         "value": kw.pop("value", 0.1235), "threshold": 0.2, "samples": 12,
         "started_at": started, "resolved_at": None, "at": at, "repeat": 0,
         "summary": "s%d" % n}
    d.update(kw)
    return d


def check_alerts(ctl, r, p):
    """funnelctl alerts (docs/funnelctl.md): the firing hash sorted by severity then oldest, as
    stored with --json; --history N: the stream newest first; bad --history is a usage error."""
    out = ctl.ok("alerts")
    expect(out == "no firing alerts\n", "alerts with nothing firing", repr(out))
    expect(ctl.ok("alerts", "--json") == "[]\n", "alerts --json with nothing firing")
    docs = [alert_doc(1, "firing", "warning", "old-warn", "rep", "anna", "2026-11-20T10:00:00.000Z",
                      "2026-11-20T10:00:00.000Z", manager="Mia Manager"),
            alert_doc(2, "firing", "critical", "crit", "team", "emea", "2026-11-22T10:00:00.000Z",
                      "2026-11-22T10:00:00.000Z"),
            alert_doc(3, "firing", "warning", "new-warn", "rep", "bob", "2026-11-21T10:00:00.000Z",
                      "2026-11-21T10:00:00.000Z"),
            alert_doc(4, "firing", "info", "note", "org", "", "2026-11-19T10:00:00.000Z",
                      "2026-11-19T10:00:00.000Z", team="")]
    for d in docs:
        r.call("HSET", p + ":alerts:firing", "%s|%s|%s" % (d["rule"], d["scope"], d["scope_id"]),
               json.dumps(d, separators=(",", ":")))
    order = ["crit", "old-warn", "new-warn", "note"]  # severity, then the oldest first
    lines = ctl.ok("alerts").splitlines()
    expect(lines[0].split()[:3] == ["severity", "rule", "scope"], "alerts header", lines[0])
    expect([ln.split()[1] for ln in lines[1:]] == order, "alerts order", lines)
    expect("Mia Manager" in lines[2] and " - " in lines[1], "alerts manager column", lines)
    got = json.loads(ctl.ok("alerts", "--json"))
    expect([d["rule"] for d in got] == order and got[1] == docs[0], "alerts --json", got)
    r.call("HSET", p + ":alerts:firing", "broken|rep|x", "not json")
    expect("(unreadable)" in ctl.ok("alerts"), "an unreadable document is shown as such")
    expect("not json" in json.loads(ctl.ok("alerts", "--json")), "alerts --json, unreadable")
    for d in docs[:3] + [dict(docs[0], alert_id="%032x" % 9, state="resolved",
                              at="2026-11-23T10:00:00.000Z")]:
        r.call("XADD", p + ":alerts", "*", "json", json.dumps(d, separators=(",", ":")))
    hist = ctl.ok("alerts", "--history", "2").splitlines()
    expect(len(hist) == 3 and hist[0].split()[:2] == ["at", "state"]
           and hist[1].split()[:2] == ["2026-11-23T10:00:00.000Z", "resolved"]
           and hist[2].split()[1] == "firing" and "new-warn" in hist[2],
           "alerts --history 2: the last two notifications, newest first", hist)
    got = json.loads(ctl.ok("alerts", "--history", "10", "--json"))
    expect([d["alert_id"][-1] for d in got] == ["9", "3", "2", "1"], "alerts --history --json",
           got)
    for bad in ("0", "10001", "x"):
        ctl.fails(2, "alerts", "--history", bad, stderr_has=["--history"])
    print("[funnelctl] alerts OK", flush=True)


def width(text):
    """Terminal columns of text: East Asian wide characters 2, combining marks 0."""
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def check_board(ctl, r, p):
    """funnelctl board (docs/funnelctl.md): at most 22 lines of 80 columns whatever the ids and
    the number of alerts; the org funnel in words and percentages, the top reps by amount won
    with their teams, the alerts firing now oldest first (the rest counted), the last resolved
    one when none fires, the feed's state; --once exits 0 on an empty prefix."""
    pb = p + "b"

    def board(*args):
        out = ctl.ok("board", "--once", "--window", "all", *args, prefix=pb)
        lines = out.splitlines()
        expect(len(lines) <= 22, "board: %d lines, at most 22" % len(lines), *lines)
        for ln in lines:
            expect(width(ln) <= 80, "board: a line of %d columns: %r" % (width(ln), ln))
        return lines

    lines = board()
    expect(lines[0].startswith("Sales funnel, all time \u00b7 ") and lines[0].endswith(TZ),
           "board title", lines[0])
    expect("Alerts firing now: none" in lines and
           lines[-1] == "Feed: stalled, numbers may be out of date; no update yet "
           "(is funneld running?)", "an empty board", *lines)
    ctl.fails(2, "board", "--json", stderr_has=["option --json does not apply to 'board'"])
    ctl.fails(2, "board", "--url", stderr_has=["option --url expects a value"])

    hset(r, "%s:org:all" % pb, {
        "entered:lead": "10", "advanced:lead": "6", "conv:lead": "0.6000", "lost_at:lead": "3",
        "dwell_hours:lead": "36.00", "entered:qualified": "6", "entered:won": "2", "won": "2",
        "lost": "4", "win_rate": "0.3333", "won_amount": "1234567.50"})
    long_id = "销售代表张伟来自北京分公司的高级客户经理"  # 40 columns
    reps = [("anna@corp.example", "900.00", "emea"), (long_id, "5000.00", "销售一部"),
            ("bob", "900.00", None), ("carl", "10.00", "emea"), ("dora", "7.00", "emea"),
            ("eve", "1.00", "emea"), ("zed", None, "emea")]
    for rep, amount, team in reps:
        h = {"entered:lead": "1", "won": "1", "lost": "1", "win_rate": "0.5000"}
        if amount:
            h["won_amount"] = amount
        hset(r, "%s:rep:all:%s" % (pb, rep), h)
        if team:
            r.call("HSET", pb + ":rep_team", rep, team)
    url = "http://127.0.0.1:8080/"
    lines = board("--url", url)
    expect(lines[0] == "Dashboard: %s \u2014 open it in a browser" % url, "board URL line",
           lines[0])
    i = lines.index(next(ln for ln in lines if ln.split()[:3] == ["Stage", "Deals",
                                                                   "Conversion"]))
    expect(lines[i + 1].split() == ["Lead", "10", "60.00%", "3", "1.5"], "board lead row",
           lines[i + 1])
    expect(lines[i + 2].split() == ["Qualified", "6", "-", "0", "-"], "board qualified row",
           lines[i + 2])
    expect(lines[i + 5].split() == ["Won", "2"], "board won row", lines[i + 5])
    expect(lines[i + 6] == "Win rate 33.33%   Won amount 1,234,567.50   Deals won 2, lost 4",
           "board summary", lines[i + 6])
    t = lines.index(next(ln for ln in lines if ln.startswith("#  Top reps")))
    want = [["1", "销售代表张伟来自北京分\u2026", "销售一部", "1", "5,000.00", "50.00%"],
            ["2", "anna@corp.example", "emea", "1", "900.00", "50.00%"],
            ["3", "bob", "-", "1", "900.00", "50.00%"],
            ["4", "carl", "emea", "1", "10.00", "50.00%"],
            ["5", "dora", "emea", "1", "7.00", "50.00%"]]
    expect([ln.split() for ln in lines[t + 1:t + 6]] == want, "board top reps (by amount, ties "
           "by id, long ids cut by display width)", *lines[t:t + 6])
    expect(width(lines[t + 1].split("  ")[1]) <= 24, "the long id takes at most 24 columns",
           lines[t + 1])
    expect(lines[t + 6] == "", "board: top 5 by default", *lines)

    docs = [alert_doc(20 + n, "firing", "warning", "lead-exit", "rep", rid,
                      "2026-11-2%dT10:00:00.000Z" % n, "2026-11-2%dT10:00:00.000Z" % n,
                      manager=mgr, kpi="exit_conv:lead", value=0.04, threshold=0.15)
            for n, (rid, mgr) in enumerate([("佐藤 美咲", "Chen Central"), (long_id, "王经理"),
                                            ("anna@corp.example", None), ("bob", "Bo"),
                                            ("carl", "Cy"), ("dora", "Di")])]
    for d in reversed(docs):
        r.call("HSET", pb + ":alerts:firing", "lead-exit|rep|" + d["scope_id"],
               json.dumps(d, ensure_ascii=False, separators=(",", ":")))
    lines = board("--url", url)
    a = lines.index(next(ln for ln in lines if ln.startswith("Alerts now: 6")))
    expect(lines[a].split() == ["Alerts", "now:", "6", "Manager", "KPI", "Value", "Since"],
           "board alerts header", lines[a])
    expect(lines[a + 1].split() == ["佐藤", "美咲", "Chen", "Central", "Moved", "on", "%", "at",
                                    "lead", "4%", "<", "15%", "11-20", "18:00"],
           "board: the oldest alert first, in words, since in funnel.timezone", lines[a + 1])
    expect(lines[a + 2].startswith("销售代表张伟\u2026 ") and "王经理" in lines[a + 2],
           "board: the second alert, its id cut", lines[a + 2])
    expect(lines[a + 3] == "\u2026 and 4 more (funnelctl alerts lists them)",
           "board: the alerts that do not fit are counted", *lines)
    lines = board("--url", url, "--limit", "10")
    expect(len(lines) == 22 and len([ln for ln in lines if re.match(r"^\d+  ", ln)]) == 5
           and "\u2026 and 4 more (funnelctl alerts lists them)" in lines,
           "board --limit 10: the alerts keep their 3 lines, 5 of the 7 reps get the rest",
           *lines)
    two = board("--limit", "2")
    t2 = two.index(next(ln for ln in two if ln.startswith("#  Top reps")))
    expect(two[t2 + 2].startswith("2  ") and not two[t2 + 3], "board --limit 2", *two)

    # none firing: the last resolved one; the feed live from a recent change entry
    r.call("DEL", pb + ":alerts:firing")
    r.call("XADD", pb + ":alerts", "*", "json", json.dumps(dict(
        docs[0], state="resolved", resolved_at="2026-11-23T02:00:00.000Z"), ensure_ascii=False))
    r.call("XADD", pb + ":changes", "*", "kind", "heartbeat", "watermark", "1795925337295",
           "instance", "i1", "interval_ms", "2000", "parts", "crm.events:0:5:0")
    r.call("XADD", pb + ":changes", "*", "kind", "change", "watermark", "1795925337295",
           "parts", "crm.events:0:5:6")
    r.call("HSET", pb + ":feed", "watermark", "1795925337295")
    lines = board()
    expect("Alerts firing now: none; resolved 11-23 10:00: 佐藤 美咲 (Moved on % at lead)"
           in lines, "board: the last resolved alert", *lines)
    expect(re.match(r"^Feed: live; last update \d\d:\d\d:\d\d \(\d+ s ago\); deals up to "
                    r"\d\d-\d\d \d\d:\d\d$", lines[-1]), "board feed line", lines[-1])

    # live: frames until SIGTERM, exit 0 (not a terminal: one after the other)
    argv = [ctl.exe] + ctl.base(prefix=pb) + ["board", "--window", "all", "--interval", "0.2"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    out = out.decode("utf-8")
    expect(proc.returncode == 0 and out.count("Sales funnel, all time") >= 2
           and "\033[" not in out and "Ctrl-C quits" in out,
           "board live: exit %d, frames:" % proc.returncode, out[-2000:], err)
    print("[funnelctl] board OK", flush=True)


def check_rules(ctl, h):
    """funnelctl rules check (docs/funnelctl.md): exit 0 for a valid file, 2 naming the rule and
    field for an invalid or unreadable one, or when no file is given and alerts.rules is empty."""
    good = os.path.join(h.source, "configs", "alerts.example.json")
    out = ctl.ok("rules", "check", good, plain=True)
    with open(good) as f:
        n = len(json.load(f)["rules"])
    expect(out.startswith("%s: %d rules" % (good, n)) and len(out.splitlines()) == n + 1,
           "rules check of the example file", out)
    bad = os.path.join(h.tmp, "bad-rules.json")
    with open(bad, "w") as f:
        json.dump({"rules": [{"name": "r", "kpi": "win_rate", "scope": "rep",
                              "threshold": {"op": "<", "value": 0.2}}]}, f)
    ctl.fails(2, "rules", "check", bad, plain=True,
              stderr_has=["rules check: %s: rules[0] (r).window" % bad])
    ctl.fails(2, "rules", "check", os.path.join(h.tmp, "none.json"), plain=True,
              stderr_has=["rules check:", "none.json"])
    ctl.fails(2, "rules", "check", plain=True, stderr_has=["alerts.rules"])
    expect(ctl.ok("rules", "check", plain=True, env={"FUNNELD_ALERTS_RULES": good}) == out,
           "rules check of alerts.rules")
    print("[funnelctl] rules check OK", flush=True)


def check_redis_errors(ctl, h, r, p):
    dead = harness.free_port()
    for args in (("show", "org"), ("reps",), ("top", "--once"), ("stats",), ("offsets",),
                 ("alerts",)):
        _, err = ctl.fails(1, *args, port=dead)
        want = "funnelctl: cannot reach Redis at 127.0.0.1:%d: Connection refused\n" % dead
        expect(err == want, "unreachable Redis (%s)" % args[0], "got  %r" % err,
               "want %r" % want)
    # a password-protected Redis
    r.call("CONFIG", "SET", "requirepass", "s3cret")
    r.call("AUTH", "s3cret")
    try:
        ctl.fails(1, "show", "org", "--window", DAY,
                  stderr_has=["NOAUTH", "set redis.password"])
        _, err = ctl.fails(1, "stats", "--set", "redis.password=Zq9notit",
                           stderr_has=["refused AUTH (redis.password)"])
        expect("Zq9notit" not in err, "the password must not be printed", err)
        ctl.ok("show", "org", "--window", DAY, "--set", "redis.password=s3cret")
    finally:
        r.call("CONFIG", "SET", "requirepass", "")
    # redis.db: another database is empty
    ctl.fails(1, "show", "org", "--window", DAY, "--set", "redis.db=3",
              stderr_has=["no metrics for the org"])
    print("[funnelctl] Redis errors OK", flush=True)


def check_offsets(ctl, h, args):
    msgs, mdl, _ = harness.generate(h, args, 3000, tz=TZ, big_payloads=False)
    h.start_mock()
    nxt = h.produce(msgs)
    kafka = ["--set", "kafka.brokers=" + h.bootstrap, "--set", "kafka.topics=" + harness.TOPIC,
             "--set", "kafka.group_id=" + h.group]
    # before funneld: nothing in Redis, nothing committed; lag = the whole log
    js = parse_json(ctl.ok("offsets", "--json", *kafka))
    expect([(o["topic"], o["partition"]) for o in js]
           == [(harness.TOPIC, i) for i in range(harness.PARTITIONS)], "offsets: partitions", js)
    for o in js:
        n = nxt[o["partition"]]
        expect(o["redis_next"] is None and o["committed"] is None and o["log_start"] == 0
               and o["log_end"] == n and o["lag"] == n and o["epoch"] is None
               and o["owner"] is None, "offsets before funneld", o, "log end %d" % n)

    fd = h.start_funneld("A", h.funneld_settings(**{"instance.id": "ctl-A"}))
    h.wait_done(nxt, timeout=120)
    rc = fd.stop(timeout=30)
    expect(rc == 0, "funneld exit %s" % rc, fd.tail())
    # the commit is informational and asynchronous; after a clean stop it has landed
    deadline = time.time() + 15
    while True:
        js = parse_json(ctl.ok("offsets", "--json", *kafka))
        if all(o["committed"] == nxt[o["partition"]] for o in js) or time.time() > deadline:
            break
        time.sleep(0.5)
    for o in js:
        n = nxt[o["partition"]]
        expect(o["redis_next"] == n and o["committed"] == n and o["log_end"] == n
               and o["lag"] == 0 and o["epoch"] == 1 and o["owner"] == "ctl-A"
               and o["token"].startswith("1:ctl-A:"), "offsets after funneld", o,
               "expected next = committed = log end = %d, epoch 1, owner ctl-A" % n)

    # more messages, no funneld: lag = what was produced since
    more = harness.model.Generator(args.seed + 1, 400, big_payloads=False, bad_rate=0,
                                   dup_rate=0).generate()
    nxt2 = h.produce(more)
    out = ctl.ok("offsets", *kafka)
    lines = out.splitlines()
    expect(split_cells(lines[0]) == ["topic", "partition", "redis_next", "committed", "log_end",
                                     "lag", "epoch", "owner"], "offsets header", lines[0])
    total = 0
    for i, line in enumerate(lines[1:1 + harness.PARTITIONS]):
        lag = nxt2[i] - nxt[i]
        total += lag
        want = [harness.TOPIC, str(i), str(nxt[i]), str(nxt[i]), str(nxt2[i]), str(lag), "1",
                "ctl-A"]
        expect(split_cells(line) == want, "offsets row %d" % i, split_cells(line), want)
    expect(lines[-1] == "total lag %d (group %s, prefix %s)" % (total, h.group, h.prefix),
           "offsets total line", lines[-1])
    expect(total == len(more), "total lag %d, produced %d" % (total, len(more)))

    # the metrics funneld wrote read back as stored
    r = h.redis()
    try:
        reps = sorted(k.split(":", 3)[3] for k in mdl.expected_hashes()
                      if k.startswith(h.prefix + ":rep:all:"))
        listed = json.loads(ctl.ok("reps", "--window", "all", "--json"))
        expect(listed == sorted(reps, key=lambda s: s.encode()), "reps of funneld's run",
               listed, reps)
        for rep in reps[:5]:
            raw = harness.pairs_to_dict(r.call("HGETALL", "%s:rep:all:%s" % (h.prefix, rep)))
            raw = {a.decode(): b.decode() for a, b in raw.items()}
            got = json.loads(ctl.ok("show", "rep", rep, "--window", "all", "--json"),
                             parse_float=str, parse_int=str)
            expect(got == raw, "show rep %s --json vs HGETALL" % rep, got, raw)
            want = mdl.expected_hashes()["%s:rep:all:%s" % (h.prefix, rep)]
            expect(got["events"] == want["events"] and
                   got.get("won_amount") == want.get("won_amount"),
                   "show rep %s: events and won_amount vs the model" % rep)
        top = parse_json(ctl.ok("top", "--window", "all", "--json", "--limit", "0"))
        expect(len(top) == len(reps), "top --limit 0 lists every rep")
        amounts = [Decimal(str(o.get("won_amount", 0))) for o in top]
        expect(amounts == sorted(amounts, reverse=True), "top: won_amount descending", amounts)
        stats = parse_json(ctl.ok("stats", "--json"))
        st = mdl.expected_stats()
        expect(stats["accepted"] == st["accepted"] and stats["duplicates"] == st["duplicates"]
               and stats["rejected"] == st["rejected"], "stats vs the model", stats, st)
    finally:
        r.close()

    # Kafka errors: unreachable broker (5 s timeout), unknown topic
    dead = harness.free_port()
    t = time.time()
    _, err = ctl.fails(1, "offsets", "--set", "kafka.brokers=127.0.0.1:%d" % dead,
                       stderr_has=["cannot reach Kafka at 127.0.0.1:%d: " % dead])
    took = time.time() - t
    expect(took < 15, "unreachable Kafka took %.1f s (timeout 5 s)" % took)
    ctl.fails(1, "offsets", *kafka[:2], "--set", "kafka.topics=no.such.topic",
              stderr_has=["kafka.topics: topic 'no.such.topic' does not exist"])
    ctl.fails(2, "offsets", *kafka, "--set", "kafka.no.such.property=1",
              stderr_has=["configuration error: kafka.no.such.property"])
    print("[funnelctl] offsets OK (total lag %d after %d more messages; unreachable Kafka "
          "reported in %.1f s)" % (total, len(more), took), flush=True)


def body(h, args):
    h.tz = TZ
    ctl = Ctl(h)
    h.start_redis()
    check_help_and_usage(ctl)
    r = h.redis()
    try:
        p = h.prefix
        check_show(ctl, r, p)
        check_show_pipeline(ctl, r, p)
        check_scorecards(ctl, r, p)
        check_windows(ctl, r, p)
        check_lists(ctl, r, p)
        check_top(ctl, r, p)
        check_stats(ctl, r, p)
        check_alerts(ctl, r, p)
        check_board(ctl, r, p)
        check_rules(ctl, h)
        check_settings(ctl, h, p)
        check_redis_errors(ctl, h, r, p)
        # offsets and the real data of funneld use a fresh prefix
        h.prefix = p + "k"
    finally:
        r.close()
    check_offsets(ctl, h, args)


if __name__ == "__main__":
    harness.run("funnelctl", __doc__, body)
