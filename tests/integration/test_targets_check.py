#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""funnelctl targets check (docs/scorecards.md, docs/funnelctl.md): exit 0 with a summary for
the example files and a CSV alone, exit 2 naming the file and the place for each kind of error
(a JSON key, a scorecard rule, the weights, a CSV row, a duplicate row, an unreadable file, no
file configured), and the targets.file setting as the default file. Reads no Redis."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402


def ctl(h, *args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELD_")}
    e.update(env or {})
    p = subprocess.run([h.bin("funnelctl")] + list(args), capture_output=True, timeout=60, env=e)
    out, err = p.stdout.decode("utf-8"), p.stderr.decode("utf-8")
    if "Sanitizer" in err or "runtime error:" in err:
        raise TestFailure("funnelctl %s: sanitizer report:\n%s" % (" ".join(args), err))
    return p.returncode, out, err


def expect(cond, what, *details):
    if not cond:
        raise TestFailure("%s\n%s" % (what, "\n".join(str(d) for d in details)))


def write(h, name, text):
    path = os.path.join(h.tmp, name)
    with open(path, "w") as f:
        f.write(text if isinstance(text, str) else json.dumps(text))
    return path


def body(h, args):
    example = os.path.join(h.source, "configs", "targets.example.json")
    with open(example) as f:
        doc = json.load(f)
    with open(os.path.join(h.source, "configs", "targets.example.csv")) as f:
        csv_rows = len(f.read().strip().splitlines()) - 1
    rc, out, err = ctl(h, "targets", "check", example)
    lines = out.splitlines()
    n = len(doc["targets"]) + csv_rows
    expect(rc == 0 and lines[0].startswith("%s: %d targets, clock event, periods month, quarter, "
                                           "year" % (example, n)),
           "targets check of the example: exit %d" % rc, out, err)
    kpis = doc["scorecard"]["kpis"]
    expect(lines[1] == "  scorecard: %d KPIs, grades A >= 90, B >= 75, C >= 60, else D" % len(kpis)
           and len(lines) == 2 + len(kpis), "the scorecard summary", out)
    for line, k in zip(lines[2:], kpis):
        expect(line.split()[0] == k["kpi"] and line.split()[2] == str(k["weight"]),
               "the KPI line of %s" % k["kpi"], line)
    expect("cycle_days" in lines[5] and " lower " in lines[5] and "bands: >= 1: 100, >= 0.8: 60"
           in lines[5], "cycle_days: lower, bands", lines[5])
    rc, out, err = ctl(h, "targets", "check", os.path.join(h.source, "configs", "targets.demo.json"))
    expect(rc == 0 and "recomputed every 10s" in out, "the demo file", out, err)

    # the default file: targets.file
    rc, out2, err = ctl(h, "targets", "check", env={"FUNNELD_TARGETS_FILE": example})
    expect(rc == 0 and out2 == ctl(h, "targets", "check", example)[1], "targets.file", out2, err)
    rc, out, err = ctl(h, "targets", "check")
    expect(rc == 2 and "targets check: no file given and targets.file is empty" in err,
           "no file: exit %d" % rc, err)
    rc, out, err = ctl(h, "targets", "lint", example)
    expect(rc == 2 and "unknown targets subcommand 'lint'" in err, "a wrong subcommand", err)

    # a CSV file alone: rows, no scorecard
    alone = write(h, "alone.csv", "scope,id,period,kpi,value\nrep,\"Snelling, Anna\",month,won,3\n"
                                  "team,cara-losch,quarter,conv:lead,0.4\n")
    rc, out, err = ctl(h, "targets", "check", alone)
    expect(rc == 0 and out.startswith("%s: 2 targets" % alone)
           and "no scorecard: targets only" in out, "a CSV alone", out, err)

    # each kind of error: exit 2, the file and the place named
    sc = {"kpis": [{"kpi": "won", "weight": 100}]}
    row = {"scope": "rep", "id": "A", "period": "month", "kpi": "won", "value": 1}
    bad_csv = write(h, "bad.csv", "scope,id,period,kpi,value\nrep,A,month,won,1\n"
                                  "rep,B,month,conv:lead,30\n")
    dup_csv = write(h, "dup.csv", "scope,id,period,kpi,value\nrep,A,month,won,2\n")
    cases = [
        ({"clok": "event"}, 'targets file: unknown key "clok"'),
        ({"grace": "100d"}, "grace: expected a duration in [0s, 90d]"),
        ({"scorecard": {"kpis": [{"kpi": "won", "weight": 60}, {"kpi": "complaints",
                                                               "weight": 35}]}},
         "scorecard.kpis: the weights sum to 95, not 100"),
        ({"scorecard": {"kpis": [{"kpi": "won", "weight": 100, "scoring": {
            "rule": "linear", "zero": 1.2}}]}},
         "scorecard.kpis[0].scoring: expected 0 <= zero < full <= cap"),
        ({"scorecard": {"kpis": [{"kpi": "won", "weight": 100, "scoring": {
            "rule": "bands", "bands": [{"min": 0.5, "points": 50}, {"min": 0.9, "points": 100}]}}]}},
         "scorecard.kpis[0].scoring.bands[1].min: bands go from the highest min down"),
        ({"scorecard": dict(sc, grades={"A": 90, "B": 95})}, "scorecard.grades: expected A > B > C"),
        ({"targets": [dict(row, kpi="stage:lead")]}, 'targets[0].kpi: unknown KPI "stage:lead"'),
        ({"targets": [dict(row, kpi="conv:proposl")]},
         'targets[0].kpi: unknown stage in "conv:proposl"; valid: lead, qualified, proposal'),
        ({"targets": [row, dict(row, value=2)]},
         'targets[1]: a second target for rep "A", month, won (the first is targets[0])'),
        ({"csv": "bad.csv"}, "bad.csv:3: value: a rate is a fraction in [0, 1]"),
        ({"csv": "dup.csv", "targets": [row]},
         'dup.csv:2: a second target for rep "A", month, won (the first is targets[0])'),
        ({"csv": "none.csv"}, "csv: %s: cannot read" % os.path.join(h.tmp, "none.csv")),
        ('{"targets": [}', "targets file: not valid JSON near line 1, column 14"),
    ]
    assert bad_csv and dup_csv
    for i, (doc, msg) in enumerate(cases):
        path = write(h, "bad-%d.json" % i, doc)
        rc, out, err = ctl(h, "targets", "check", path)
        expect(rc == 2 and out == "" and ("targets check: %s: " % path) in err and msg in err,
               "case %d: exit %d, want 2 and %r" % (i, rc, msg), err)
    rc, out, err = ctl(h, "targets", "check", os.path.join(h.tmp, "none.json"))
    expect(rc == 2 and "targets check: %s: cannot read" % os.path.join(h.tmp, "none.json") in err,
           "an unreadable file: exit %d" % rc, err)
    print("[targets_check] %d error cases OK" % len(cases), flush=True)


if __name__ == "__main__":
    harness.run("targets_check", __doc__, body)
