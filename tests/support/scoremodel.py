# SPDX-License-Identifier: MIT
"""An independent model of funneld's scorecards (docs/scorecards.md, docs/redis.md "Scorecard
keys"): from the metric hashes in Redis, <p>:rep_team and a targets document (the JSON, as a
dict), computes every breakdown field, the ranks and the grades funneld must write. It does not
use funneld's code. KPIs covered: won, won_amount, entered:<s>, activity:<k>, complaints,
conv:<s>, win_rate (what the integration tests use)."""

import calendar
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

HOUR_MS = 3600000
HUNDREDTHS = ("won_amount", "feedback_sum", "open_amount")
COUNTS = ("won", "entered", "activity", "complaints")
RATIOS = ("conv", "exit_conv", "win_rate")
LOWER = ("complaints", "cycle_days", "dwell_hours")
# derived fields the metric hashes also hold (the metrics table): not counters, not summed
DERIVED = ("conv", "exit_conv", "dwell_hours", "win_rate", "feedback_avg", "cycle_days",
           "avg_won_amount")


def duration_ms(text):
    n, unit = int(text[:-1]), text[-1]
    return n * {"s": 1000, "m": 60000, "h": HOUR_MS, "d": 86400000}[unit]


def kind_of(kpi):
    return kpi.split(":", 1)[0]


def is_volume(kpi):
    return kind_of(kpi) in ("entered", "won", "won_amount", "activity", "complaints")


def fmt(v, digits):
    s = "%.*f" % (digits, v)
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def value_text(kpi, v):
    k = kind_of(kpi)
    return fmt(v, 0 if k in COUNTS and k != "won_amount" else 4 if k in RATIOS else 2)


def target_text(kpi, v):
    return fmt(v, 4 if kind_of(kpi) in RATIOS else 2)


class Period:
    def __init__(self, kind, year, index, tz):
        self.kind, self.year, self.index = kind, year, index
        z = ZoneInfo(tz)
        if kind == "month":
            self.id = "month:%04d-%02d" % (year, index)
            a, b = (year, index), (year + (index == 12), index % 12 + 1)
            self.windows = [self.id]
        elif kind == "quarter":
            self.id = "quarter:%04d-Q%d" % (year, index)
            m = 3 * (index - 1) + 1
            a, b = (year, m), (year + (index == 4), (m + 3 - 1) % 12 + 1)
            self.windows = [self.id]
        else:
            self.id = "year:%04d" % year
            a, b = (year, 1), (year + 1, 1)
            self.windows = ["quarter:%04d-Q%d" % (year, q) for q in range(1, 5)]
        self.start = int(datetime(a[0], a[1], 1, tzinfo=z).timestamp() * 1000)
        self.end = int(datetime(b[0], b[1], 1, tzinfo=z).timestamp() * 1000)

    @staticmethod
    def of(kind, t_ms, tz):
        d = datetime.fromtimestamp(t_ms / 1000, ZoneInfo(tz))
        idx = {"month": d.month, "quarter": (d.month - 1) // 3 + 1, "year": 0}[kind]
        return Period(kind, d.year, idx, tz)

    def prev(self, tz):
        if self.kind == "month":
            return Period("month", self.year - (self.index == 1), (self.index - 2) % 12 + 1, tz)
        if self.kind == "quarter":
            return Period("quarter", self.year - (self.index == 1), (self.index - 2) % 4 + 1, tz)
        return Period("year", self.year - 1, 0, tz)


class ScoreModel:
    def __init__(self, r, prefix, tz, doc):
        self.r, self.prefix, self.tz, self.doc = r, prefix, tz, doc
        sc = doc["scorecard"]
        self.kpis = []
        for k in sc["kpis"]:
            s = k.get("scoring", {})
            self.kpis.append({
                "kpi": k["kpi"], "weight": float(k["weight"]),
                "direction": k.get("direction", "lower" if kind_of(k["kpi"]) in LOWER else "higher"),
                "rule": s.get("rule", "linear"), "zero": s.get("zero", 0.5),
                "full": s.get("full", 1.0), "cap": s.get("cap", 1.2),
                "bands": sorted(((b["min"], b["points"]) for b in s.get("bands", [])),
                                reverse=True)})
        g = sc.get("grades", {})
        self.grades = (g.get("A", 90), g.get("B", 75), g.get("C", 60))
        self.rows = doc.get("targets", [])
        self.sums_rows = doc.get("team_targets", "sum_of_reps") == "sum_of_reps"

    # -- Redis
    def feed_clock(self):
        v = self.r.call("HGET", "%s:feed" % self.prefix, "watermark")
        return int(v) if v else 0

    def rep_team(self):
        flat = self.r.call("HGETALL", "%s:rep_team" % self.prefix) or []
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    def sums(self, scope, ident, period):
        out = {}
        for w in period.windows:
            flat = self.r.call("HGETALL", "%s:%s:%s:%s" % (self.prefix, scope, w, ident)) or []
            for i in range(0, len(flat), 2):
                f, v = flat[i].decode(), flat[i + 1].decode()
                if f.split(":")[0] in DERIVED:
                    continue
                if f.split(":")[0] in HUNDREDTHS:
                    out[f] = out.get(f, 0) + int(Decimal(v) * 100)
                else:
                    out[f] = out.get(f, 0) + int(v)
        return out

    # -- KPI values: (has_value, value, samples, fields text)
    def value(self, kpi, s, period):
        k, _, arg = kpi.partition(":")
        src = " from " + ",".join(period.windows)

        def c(name):
            return s.get(name, 0)
        if k == "won_amount":
            return True, c("won_amount") / 100.0, c("won"), \
                "won_amount=%.2f won=%d" % (c("won_amount") / 100.0, c("won")) + src
        if k in ("won", "complaints"):
            return True, float(c(k)), c(k), "%s=%d" % (k, c(k)) + src
        if k in ("entered", "activity"):
            name = "%s:%s" % (k, arg)
            return True, float(c(name)), c(name), "%s=%d" % (name, c(name)) + src
        if k == "conv":
            a, e = c("advanced:" + arg), c("entered:" + arg)
            return e > 0, (a / e if e else 0.0), e, \
                "advanced:%s=%d entered:%s=%d" % (arg, a, arg, e) + src
        if k == "win_rate":
            w, l = c("won"), c("lost")
            return w + l > 0, (w / (w + l) if w + l else 0.0), w + l, \
                "won=%d lost=%d" % (w, l) + src
        raise ValueError("scoremodel: KPI %s not modelled" % kpi)

    # -- targets
    def find(self, scope, ident, period, kpi):
        for want_id, want_p in ((ident, period.id), (ident, period.kind), ("*", period.id),
                                ("*", period.kind)):
            for i, row in enumerate(self.rows):
                if (row["scope"] == scope and row["id"] == want_id and row["period"] == want_p
                        and row["kpi"] == kpi):
                    return float(row["value"]), "targets[%d]" % i
        return None

    def target(self, scope, ident, period, kpi, members):
        t = self.find(scope, ident, period, kpi)
        if t or scope != "team" or not is_volume(kpi) or not self.sums_rows:
            return t
        found = [self.find("rep", m, period, kpi) for m in members]
        found = [f for f in found if f]
        if not found:
            return None
        return sum(f[0] for f in found), "sum of %d reps" % len(found)

    # -- scoring
    def points(self, k, att):
        if k["rule"] == "bands":
            for mn, pts in k["bands"]:
                if att >= mn:
                    return pts
            return 0.0
        a = min(att, k["cap"])
        return max(0.0, 100.0 * (a - k["zero"]) / (k["full"] - k["zero"]))

    def attainment(self, k, value, target, expected):
        if k["direction"] == "higher":
            return value / expected if expected > 0 else 1.0
        if value <= 0:
            if target <= 0:
                return 1.0
            return k["bands"][0][0] if k["rule"] == "bands" else k["cap"]
        if target <= 0:
            return 0.0
        return expected / value

    def grade(self, score):
        a, b, c = self.grades
        return "A" if score >= a else "B" if score >= b else "C" if score >= c else "D"

    def card(self, scope, ident, period, clock, state, members=(), team=None, frozen=None):
        """The breakdown {field: text} without computed_ms/final_ms/ranks, plus the raw score
        (None when nothing scored). frozen: a stored breakdown whose targets are used (final)."""
        s = self.sums(scope, ident, period)
        hour = clock - clock % HOUR_MS
        elapsed = min(1.0, max(0.0, (min(hour, period.end) - period.start) /
                                    (period.end - period.start)))
        if frozen is not None:
            elapsed = 1.0
        lines, total_w = [], 0.0
        for k in self.kpis:
            has, v, samples, ftext = self.value(k["kpi"], s, period)
            if frozen is not None:
                t = frozen.get(k["kpi"] + ".target")
                tgt = (float(t), frozen.get(k["kpi"] + ".target_source")) if t else None
            else:
                tgt = self.target(scope, ident, period, k["kpi"], members)
            ln = {"k": k, "has": has, "v": v, "samples": samples, "fields": ftext, "tgt": tgt}
            if tgt is None:
                ln["status"] = "no_target"
            else:
                ln["expected"] = tgt[0] * elapsed if is_volume(k["kpi"]) else tgt[0]
                if not has:
                    ln["status"] = "no_data"
                else:
                    ln["status"] = "scored"
                    ln["att"] = self.attainment(k, v, tgt[0], ln["expected"])
                    ln["points"] = self.points(k, ln["att"])
                    total_w += k["weight"]
            lines.append(ln)
        score = None
        if total_w > 0:
            score = 0.0
            for ln in lines:
                if ln["status"] == "scored":
                    ln["wu"] = ln["k"]["weight"] * 100.0 / total_w
                    ln["weighted"] = ln["points"] * ln["wu"] / 100.0
                    score += ln["weighted"]
        out = {"scope": scope, "id": ident, "period": period.id, "start_ms": str(period.start),
               "end_ms": str(period.end), "clock_ms": str(clock), "elapsed": "%.4f" % elapsed,
               "state": state, "grade": self.grade(score) if score is not None else "-",
               "kpis": ",".join(k["kpi"] for k in self.kpis)}
        if scope == "rep":
            out["team"] = team or ""
        if score is not None:
            out["score"] = fmt(score, 2)
        for ln in lines:
            n = ln["k"]["kpi"]
            if ln["has"]:
                out[n + ".value"] = value_text(n, ln["v"])
            out[n + ".samples"] = str(ln["samples"])
            if ln["tgt"] is not None:
                out[n + ".target"] = target_text(n, ln["tgt"][0])
                out[n + ".target_source"] = ln["tgt"][1]
                out[n + ".expected"] = target_text(n, ln["expected"])
            if ln["status"] == "scored":
                out[n + ".attainment"] = "%.4f" % ln["att"]
                out[n + ".points"] = fmt(ln["points"], 2)
                out[n + ".weighted"] = fmt(ln["weighted"], 2)
            out[n + ".weight"] = fmt(ln["k"]["weight"], 2)
            out[n + ".weight_used"] = fmt(ln.get("wu", 0.0), 2)
            out[n + ".direction"] = ln["k"]["direction"]
            out[n + ".status"] = ln["status"]
            out[n + ".fields"] = ln["fields"]
        return out, score

    def periods(self, clock):
        """[(Period, state)] planned at clock: current and previous of each kind."""
        grace = duration_ms(self.doc.get("grace", "3d"))
        out = []
        for kind in self.doc.get("periods", ["month", "quarter", "year"]):
            cur = Period.of(kind, clock, self.tz)
            for p in (cur, cur.prev(self.tz)):
                st = "live" if clock < p.end else "grace" if clock < p.end + grace else "final"
                out.append((p, st))
        return out

    def expected(self, period, state, clock, reps_extra=()):
        """{(scope, id): breakdown} with ranks for every rep and team of the period."""
        rt = self.rep_team()
        reps = dict(rt)
        for row in self.rows:
            if row["scope"] == "rep" and row["id"] != "*":
                reps.setdefault(row["id"], "")
        teams = {t for t in rt.values() if t}
        teams |= {row["id"] for row in self.rows if row["scope"] == "team" and row["id"] != "*"}
        out, scores = {}, {}
        for rep, team in reps.items():
            out[("rep", rep)], scores[("rep", rep)] = self.card("rep", rep, period, clock, state,
                                                                team=team)
        for team in teams:
            members = [r for r, t in rt.items() if t == team]
            out[("team", team)], scores[("team", team)] = self.card("team", team, period, clock,
                                                                    state, members=members)

        def rank(keys, rf, of):
            ranked = sorted((k for k in keys if scores[k] is not None),
                            key=lambda k: (-float(out[k]["score"]), k[1].encode()))
            for i, k in enumerate(ranked):
                out[k][rf] = str(i + 1)
                out[k][of] = str(len(ranked))
        rank([k for k in out if k[0] == "rep"], "rank_org", "of_org")
        rank([k for k in out if k[0] == "team"], "rank_org", "of_org")
        for team in teams:
            rank([("rep", r) for r, t in reps.items() if t == team], "rank_team", "of_team")
        return out
