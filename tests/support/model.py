# SPDX-License-Identifier: MIT
"""Independent model of funneld for the integration tests: a seeded CRM event generator with
injected faults (duplicates, out-of-order events within deals, malformed messages), and the
expected Redis content computed from the semantics of the docs alone (docs/funnel.md,
docs/redis.md, docs/events.md).

Written without looking at src/: it exists to catch the daemon's mistakes.

Generator output: a list of Msg (key bytes, value bytes, the event it carries or the rejection
reason it must get). Model: Model(stages, kinds, tz).run(msgs) -> expected hashes
{redis key: {field: value string}} and expected stats counters.
"""

import json
import math
import random
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Dict, List, Optional, Tuple
from zoneinfo import ZoneInfo

DEFAULT_STAGES = ["lead", "qualified", "proposal", "negotiation", "won"]
DEFAULT_KINDS = ["call", "visit", "email", "meeting", "follow_up"]
MAX_PAYLOAD = 65536
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# ----------------------------------------------------------------------------------------------
# Events and messages


@dataclass
class Event:
    """The meaning of a valid event, as funneld must understand it."""
    event_id: str
    type: str
    t_ms: int
    rep: str
    team: str                      # "unassigned" when team_id is absent
    deal: Optional[str] = None
    stage: Optional[int] = None    # index into the stages, None when absent
    amount_c: Optional[int] = None # hundredths
    activity: Optional[str] = None
    score_c: Optional[int] = None  # hundredths
    complaint: Optional[bool] = None


@dataclass
class Msg:
    key: bytes               # b"" = no key
    value: bytes
    event: Optional[Event]   # None for a malformed message
    reject: Optional[str]    # expected rejection reason of a malformed message
    note: str = ""           # what the generator meant (for failure messages)
    opts: Optional[dict] = None  # serialisation options of a valid event (to re-serialise it)


def llround_hundredths(text: str) -> int:
    """llround(strtod(text) * 100): the product in double precision, halves away from zero."""
    v = float(text) * 100.0
    f = math.floor(v)
    return int(f + 1) if v - f >= 0.5 else int(f)


# ----------------------------------------------------------------------------------------------
# Windows


class Windows:
    """Window ids of an instant in the business timezone: all, day, ISO week, month, quarter."""

    def __init__(self, tz_name: str):
        self.tz = ZoneInfo(tz_name)
        self.cache: Dict[int, Tuple[str, ...]] = {}

    def of(self, t_ms: int) -> Tuple[str, ...]:
        # Every IANA offset is a whole number of minutes, so the minute determines the windows.
        minute = t_ms // 60000
        w = self.cache.get(minute)
        if w is None:
            local = (EPOCH + timedelta(milliseconds=t_ms)).astimezone(self.tz)
            iso = local.isocalendar()
            w = ("all",
                 "day:%04d-%02d-%02d" % (local.year, local.month, local.day),
                 "week:%04d-W%02d" % (iso[0], iso[1]),
                 "month:%04d-%02d" % (local.year, local.month),
                 "quarter:%04d-Q%d" % (local.year, (local.month - 1) // 3 + 1))
            self.cache[minute] = w
        return w


# ----------------------------------------------------------------------------------------------
# The model


@dataclass
class Reach:
    at_ms: int
    rep: str
    team: str
    backfilled: bool


@dataclass
class Deal:
    furthest: int = -1
    reach: Dict[int, Reach] = field(default_factory=dict)
    lost: bool = False
    amount_c: int = -1
    # the open pipeline (docs/funnel.md): the owner of the latest deal event by event time (a
    # tie: the one processed later), its time, and whether it was a deal.lost
    holder: Optional[Tuple[str, str]] = None
    latest_ms: int = 0
    closed: bool = False


class Model:
    """Applies accepted events in processing order and accumulates the expected counters."""

    def __init__(self, stages=None, kinds=None, tz="UTC", prefix="funnel"):
        self.stages = list(stages or DEFAULT_STAGES)
        self.kinds = list(kinds or DEFAULT_KINDS)
        self.L = len(self.stages) - 1
        self.win = Windows(tz)
        self.prefix = prefix
        self.deals: Dict[str, Deal] = {}
        self.seen_ids = set()
        self.counters: Dict[str, Dict[str, int]] = {}
        self.hcache: Dict[tuple, list] = {}
        self.stats: Dict[str, int] = {}
        # rep -> (team, time) of the rep's latest event naming a team (docs/redis.md rep_team)
        self.rep_team: Dict[str, Tuple[str, int]] = {}

    # -- counting

    def count(self, fieldname: str, delta: int, t_ms: int, rep: str, team: str):
        """Adds delta to fieldname in the 3 scopes x 5 windows of (t_ms, rep, team)."""
        ck = (t_ms // 60000, rep, team)  # windows only change on whole minutes
        hashes = self.hcache.get(ck)
        if hashes is None:
            p = self.prefix
            hashes = []
            for w in self.win.of(t_ms):
                for key in ("%s:rep:%s:%s" % (p, w, rep), "%s:team:%s:%s" % (p, w, team),
                            "%s:org:%s" % (p, w)):
                    h = self.counters.get(key)
                    if h is None:
                        h = self.counters[key] = {}
                    hashes.append(h)
            self.hcache[ck] = hashes
        for h in hashes:
            h[fieldname] = h.get(fieldname, 0) + delta

    def stat(self, name: str, delta: int = 1):
        self.stats[name] = self.stats.get(name, 0) + delta

    # -- processing

    def run(self, msgs: List[Msg]):
        for m in msgs:
            self.process(m)
        return self

    def process(self, m: Msg):
        if m.event is None:
            self.stat("rejected")
            self.stat("rejected:" + m.reject)
            return
        ev = m.event
        if ev.event_id in self.seen_ids:
            self.stat("duplicates")
            return
        self.seen_ids.add(ev.event_id)
        self.stat("accepted")
        self.count("events", 1, ev.t_ms, ev.rep, ev.team)
        if ev.team != "unassigned":  # an event without team_id names no team
            cur = self.rep_team.get(ev.rep)
            if cur is None or ev.t_ms >= cur[1]:
                self.rep_team[ev.rep] = (ev.team, ev.t_ms)
        if ev.type.startswith("deal."):
            self.deal_event(ev)
        elif ev.type == "activity.logged":
            self.count("activity:" + ev.activity, 1, ev.t_ms, ev.rep, ev.team)
        elif ev.type == "feedback.received":
            if ev.score_c is not None:
                self.count("feedback_count", 1, ev.t_ms, ev.rep, ev.team)
                self.count("feedback_sum", ev.score_c, ev.t_ms, ev.rep, ev.team)
            if ev.complaint:
                self.count("complaints", 1, ev.t_ms, ev.rep, ev.team)

    def deal_event(self, ev: Event):
        d = self.deals.get(ev.deal)
        if d is None:
            d = self.deals[ev.deal] = Deal()
        amount_changed = ev.amount_c is not None and ev.amount_c != d.amount_c
        if ev.amount_c is not None:
            d.amount_c = ev.amount_c
        t, rep, team = ev.t_ms, ev.rep, ev.team
        S = self.stages
        if d.holder is None or t >= d.latest_ms:
            d.holder, d.latest_ms, d.closed = (rep, team), t, ev.type == "deal.lost"
        if ev.type == "deal.lost":
            if d.lost or d.furthest == self.L:
                if not amount_changed:
                    self.stat("ignored")  # accepted deal event that changed no deal state
                return
            s = ev.stage if ev.stage is not None else (d.furthest if d.furthest >= 0 else 0)
            d.lost = True
            self.count("lost_at:" + S[s], 1, t, rep, team)
            self.count("lost", 1, t, rep, team)
            return
        if ev.type == "deal.created":
            target = ev.stage if ev.stage is not None else 0
        elif ev.type == "deal.stage_changed":
            target = ev.stage
        else:  # deal.won
            target = self.L
        if target <= d.furthest:
            if not amount_changed:
                self.stat("ignored")
            return
        f = d.furthest
        if f >= 0:
            r = d.reach[f]
            self.count("advanced:" + S[f], 1, r.at_ms, r.rep, r.team)
            self.count("moved_on:" + S[f], 1, t, rep, team)
            if not r.backfilled and t >= r.at_ms:
                self.count("dwell_sum_ms:" + S[f], t - r.at_ms, t, rep, team)
                self.count("dwell_count:" + S[f], 1, t, rep, team)
        for s in range(f + 1, target):
            d.reach[s] = Reach(t, rep, team, True)
            self.count("entered:" + S[s], 1, t, rep, team)
            self.count("advanced:" + S[s], 1, t, rep, team)
            self.count("moved_on:" + S[s], 1, t, rep, team)
        if target == self.L and f >= 0:
            first = min(d.reach[s].at_ms for s in range(f + 1))
            if t >= first:
                self.count("cycle_sum_ms", t - first, t, rep, team)
                self.count("cycle_count", 1, t, rep, team)
        d.reach[target] = Reach(t, rep, team, False)
        self.count("entered:" + S[target], 1, t, rep, team)
        if target == self.L:
            self.count("won", 1, t, rep, team)
            amount = ev.amount_c if ev.amount_c is not None else max(d.amount_c, 0)
            self.count("won_amount", amount, t, rep, team)
        d.furthest = target

    # -- expected Redis content

    def pipeline(self) -> Dict[str, Dict[str, int]]:
        """The open pipeline, a stock: per "all" hash of the holders' rep, team and the org,
        open:<s> / open_amount:<s> and the totals over the deals open now (reached a stage,
        not won, not closed by a deal.lost as their latest event)."""
        out: Dict[str, Dict[str, int]] = {}
        p = self.prefix
        for d in self.deals.values():
            if d.holder is None or d.closed or not 0 <= d.furthest < self.L:
                continue
            s = self.stages[d.furthest]
            amount = max(d.amount_c, 0)
            rep, team = d.holder
            for key in ("%s:rep:all:%s" % (p, rep), "%s:team:all:%s" % (p, team),
                        "%s:org:all" % p):
                h = out.setdefault(key, {})
                for name, v in (("open:" + s, 1), ("open_amount:" + s, amount), ("open", 1),
                                ("open_amount", amount)):
                    h[name] = h.get(name, 0) + v
        return out

    def expected_hashes(self) -> Dict[str, Dict[str, str]]:
        pipe = self.pipeline()
        out = {}
        for k in set(self.counters) | set(pipe):
            c = dict(self.counters.get(k, {}))
            c.update(pipe.get(k, {}))
            if any(v != 0 for v in c.values()):
                out[k] = render(c, self.stages)
        return out

    def expected_rep_team(self) -> Dict[str, str]:
        """<p>:rep_team: rep -> the team of its latest event that names one."""
        return {rep: team for rep, (team, _) in self.rep_team.items()}

    def expected_rep_team_at(self) -> Dict[str, str]:
        return {rep: str(t) for rep, (_, t) in self.rep_team.items()}

    def expected_stats(self) -> Dict[str, int]:
        return dict(self.stats)


def fmt_hundredths(c: int) -> str:
    return "%d.%02d" % (c // 100, c % 100)


def render(c: Dict[str, int], stages: List[str]) -> Dict[str, str]:
    """The hash funneld must hold for these counters: zero counters absent, derived fields per
    docs/redis.md, absent while their denominator is 0."""
    out = {}
    for name, v in c.items():
        if v == 0:
            continue
        out[name] = fmt_hundredths(v) if name in ("won_amount", "feedback_sum", "open_amount") \
            or name.startswith("open_amount:") else str(v)
    for fname, val, digits in derived_values(c, stages):
        out[fname] = fmt_fixed(val, digits)
    return out


def derived_values(c: Dict[str, int], stages: List[str]):
    """(field, (numerator, denominator), decimals) of every derived field that must be present:
    the two exact integers of redis.md's one division."""
    g = c.get
    res = []
    for s in stages[:-1]:
        e = g("entered:" + s, 0)
        if e:
            res.append(("conv:" + s, (g("advanced:" + s, 0), e), 4))
        den = g("moved_on:" + s, 0) + g("lost_at:" + s, 0)
        if den:
            res.append(("exit_conv:" + s, (g("moved_on:" + s, 0), den), 4))
        dc = g("dwell_count:" + s, 0)
        if dc:
            res.append(("dwell_hours:" + s, (g("dwell_sum_ms:" + s, 0), dc * 3600000), 2))
    den = g("won", 0) + g("lost", 0)
    if den:
        res.append(("win_rate", (g("won", 0), den), 4))
    fc = g("feedback_count", 0)
    if fc:
        res.append(("feedback_avg", (g("feedback_sum", 0), fc * 100), 2))
    cc = g("cycle_count", 0)
    if cc:
        res.append(("cycle_days", (g("cycle_sum_ms", 0), cc * 86400000), 2))
    won = g("won", 0)
    if won:
        res.append(("avg_won_amount", (g("won_amount", 0), won * 100), 2))
    return res


def fmt_fixed(nd, digits: int) -> str:
    """redis.md's formula: printf("%.<digits>f", num / den) with both as doubles. Python's float
    division and % formatting give the same correctly rounded results as C (ties to even on the
    exact binary value), so a correct implementation matches this string exactly."""
    num, den = nd
    return "%.*f" % (digits, float(num) / float(den))


# ----------------------------------------------------------------------------------------------
# Generator

REP_NAMES = [
    "张伟", "李娜", "王芳", "anna@corp.example", "Moses Frase", "José Núñez", "Ødegård Åse",
    "rep-007", "Renée O'Brien", "佐藤 健", "Ali \"Ace\" Khan", "back\\slash", "😀 emoji",
    "Zoë", "Łukasz", "Иван Петров", "محمد", "tab-free id", "Müller", "ß-rep",
]
TEAM_NAMES = ["team-north", "销售一部", "EMEA Enterprise", "apac/smb", "Team \"Q\"", "sud-est",
              "团队-2", "mid_market"]
OFFSETS = ["Z", "z", "+00:00", "+08:00", "-05:00", "+05:30", "-09:30", "+14:00", "-12:00",
           "+05:45", "-03:00", "+01:00"]
# Probability of moving on from each stage (the rest is lost or stalled).
CONVERSION = [0.62, 0.55, 0.6, 0.55]


class Generator:
    """Seeded CRM event stream with injected faults."""

    def __init__(self, seed: int, n_events: int, stages=None, kinds=None, n_reps=40, n_teams=8,
                 start="2026-09-20T00:00:00Z", days=120, dup_rate=0.03, ooo_rate=0.04,
                 bad_rate=0.008, big_payloads=True, huge_amount=True):
        self.rng = random.Random(seed)
        self.n_events = n_events
        self.stages = list(stages or DEFAULT_STAGES)
        self.kinds = list(kinds or DEFAULT_KINDS)
        self.L = len(self.stages) - 1
        self.t0 = int(datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp() * 1000)
        self.span_ms = days * 86400000
        self.dup_rate, self.ooo_rate, self.bad_rate = dup_rate, ooo_rate, bad_rate
        self.big_payloads = big_payloads
        self.huge_amount = huge_amount
        self.next_id = 0
        rng = self.rng
        teams = TEAM_NAMES[:n_teams] + ["team-%02d" % i for i in range(len(TEAM_NAMES), n_teams)]
        self.reps = []
        for i in range(n_reps):
            name = REP_NAMES[i] if i < len(REP_NAMES) else "rep-%03d" % i
            # One rep in ten never states a team (counts under "unassigned").
            team = None if i % 10 == 9 else teams[i % len(teams)]
            self.reps.append((name, team))
        self.seq = 0

    # -- ids and text

    def new_id(self) -> str:
        self.next_id += 1
        r = self.rng.getrandbits(48)
        forms = ["evt-%08d-%012x", "%08d:%012x", "ЕВ-%08d-%012x"]
        return forms[self.next_id % 3] % (self.next_id, r)

    def jstr(self, s: str) -> str:
        # Half the strings use \u escapes for non-ASCII, to check ids compare after unescaping.
        return json.dumps(s, ensure_ascii=self.rng.random() < 0.5)

    def timestamp_json(self, t_ms: int) -> str:
        """occurred_at as JSON: an integer of epoch ms, or an RFC 3339 string."""
        if self.rng.random() < 0.25:
            return str(t_ms)
        return json.dumps(self.timestamp(t_ms))

    def timestamp(self, t_ms: int) -> str:
        """RFC 3339 text for t_ms in a random offset and style."""
        rng = self.rng
        off = rng.choice(OFFSETS)
        if off in ("Z", "z"):
            minutes = 0
        else:
            minutes = (int(off[1:3]) * 60 + int(off[4:6])) * (1 if off[0] == "+" else -1)
        local = EPOCH + timedelta(milliseconds=t_ms + minutes * 60000)
        sep = rng.choice(["T", "T", "T", "t", " "])
        ms = t_ms % 1000
        sec = local.second
        if sec == 59 and ms == 999 and rng.random() < 0.7:
            frac, sec = "", 60  # a leap second reads as 59.999
        elif ms == 0 and rng.random() < 0.5:
            frac = ""
        else:
            digits = rng.randint(1, 9)
            text = "%03d" % ms
            if digits < 3 and ms % (10 ** (3 - digits)) != 0:
                digits = 3
            frac = "." + (text[:digits] if digits <= 3 else
                          text + "".join(rng.choice("0123456789") for _ in range(digits - 3)))
        return "%04d-%02d-%02d%s%02d:%02d:%02d%s%s" % (local.year, local.month, local.day, sep,
                                                       local.hour, local.minute, sec, frac, off)

    def amount_text(self) -> str:
        rng = self.rng
        x = rng.choice([rng.uniform(500, 20000), rng.uniform(20000, 500000),
                        rng.uniform(1, 200)])
        form = rng.random()
        if form < 0.4:
            return "%.2f" % x
        if form < 0.6:
            return str(int(x))
        if form < 0.8:
            return "%.3f" % x  # rounds to hundredths half away from zero
        if form < 0.9:
            return "%.5e" % x
        return rng.choice(["0", "0.005", "1.005", "2.675", "0.125", "1e3", "12.5E1"])

    def score_text(self) -> str:
        return self.rng.choice(["1", "2", "3", "4", "5", "4.5", "3.25", "5.0", "2.999", "4.125",
                                "1.005", "3.333"])

    # -- serialisation of a valid event

    def fields(self, ev: Event, amount_text=None, score_text=None, stage_name=None,
               omit_team=False, extra=True) -> List[Tuple[str, str]]:
        rng = self.rng
        f = [("event_id", self.jstr(ev.event_id)), ("type", json.dumps(ev.type)),
             ("occurred_at", self.timestamp_json(ev.t_ms))]
        f.append(("rep_id", self.jstr(ev.rep)))
        if ev.team != "unassigned" and not omit_team:
            f.append(("team_id", self.jstr(ev.team)))
        if ev.deal is not None:
            f.append(("deal_id", self.jstr(ev.deal)))
        if stage_name is not None:
            f.append(("stage", json.dumps(stage_name)))
        if amount_text is not None:
            f.append(("amount", amount_text))
        if ev.activity is not None:
            f.append(("activity", json.dumps(ev.activity)))
        if score_text is not None:
            f.append(("score", score_text))
        if ev.complaint is not None:
            f.append(("complaint", "true" if ev.complaint else "false"))
        if extra and rng.random() < 0.15:
            f.append(rng.choice([
                ("source", '"crm"'),
                ("meta", '{"ip":"10.0.0.1","tags":["a",{"b":[1,2,{"c":null}]}]}'),
                ("note", '"looks like [[[[[[[[[[[[[[[[[[[[[[[[ but is a string"'),
                ("path", '"C:\\\\u0000dir is an escaped backslash, not a NUL"'),
                ("Stage", '"ignored: names are case-sensitive"'),
                ("score_hint", "3.5"),
                ("emoji", '"\\ud83d\\ude00 ok"'),
            ]))
        if rng.random() < 0.3:
            rng.shuffle(f)
        return f

    def dump(self, f: List[Tuple[str, str]], compact=None) -> bytes:
        if compact is None:
            compact = self.rng.random() < 0.7
        if compact:
            s = "{" + ",".join("%s:%s" % (json.dumps(k), v) for k, v in f) + "}"
        else:
            s = "{ " + ",\n ".join("%s : %s" % (json.dumps(k), v) for k, v in f) + " }"
            s = s.replace("\n", " ")  # one message per line for fd-produce
        return s.encode("utf-8")

    def make(self, ev: Event, key: str, **kw) -> Msg:
        return Msg(key.encode(), self.dump(self.fields(ev, **kw)), ev, None, opts=kw)

    # -- deal stories

    def deal_story(self, deal: str, t: int) -> List[Tuple[Event, dict]]:
        """Events of one deal in causal order: [(event, serialisation options)]."""
        rng = self.rng
        rep, team = rng.choice(self.reps)
        team = team or "unassigned"
        out = []

        def step():
            nonlocal t
            t += int(rng.expovariate(1 / (2.5 * 86400000))) + rng.randint(0, 999)
            return t

        def ev(type_, **kw):
            return Event(self.new_id(), type_, t, rep, team, deal, **kw)

        def with_amount(kw):
            if rng.random() < 0.35:
                a = self.amount_text()
                kw["amount_text"] = a
                return llround_hundredths(a)
            return None

        r = rng.random()
        if r < 0.04:  # an unknown deal lost without stage: counts at the first stage
            opts = {}
            out.append((ev("deal.lost", amount_c=with_amount(opts)), opts))
            return out
        if r < 0.07:  # a deal first seen when won: every stage back-filled
            opts = {}
            out.append((ev("deal.won", amount_c=with_amount(opts)), opts))
            return out

        opts = {}
        if rng.random() < 0.12:
            cur = rng.randint(1, 2)
            opts["stage_name"] = self.stages[cur]
            created = ev("deal.created", stage=cur, amount_c=with_amount(opts))
        else:
            cur = 0
            if rng.random() < 0.5:
                opts["stage_name"] = self.stages[0]
            created = ev("deal.created", stage=0 if "stage_name" in opts else None,
                         amount_c=with_amount(opts))
        if rng.random() < 0.7 and "amount_text" not in opts:
            a = self.amount_text()
            opts["amount_text"] = a
            created.amount_c = llround_hundredths(a)
        out.append((created, opts))

        while cur < self.L:
            for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
                step()
                out.append((ev("activity.logged", activity=rng.choice(self.kinds)), {}))
            step()
            if rng.random() < 0.1:  # hand-off to another rep
                rep, team = rng.choice(self.reps)
                team = team or "unassigned"
            if rng.random() < 0.05 and cur > 0:  # moves back (no effect), then carries on
                o = {"stage_name": self.stages[cur - 1]}
                out.append((ev("deal.stage_changed", stage=cur - 1), o))
                step()
            r = rng.random()
            conv = CONVERSION[min(cur, len(CONVERSION) - 1)]
            if r < conv:
                jump = 1 if rng.random() < 0.85 else rng.randint(2, 3)
                nxt = min(cur + jump, self.L)
                o = {}
                if nxt == self.L and rng.random() < 0.85:
                    e = ev("deal.won", amount_c=with_amount(o))
                else:
                    o["stage_name"] = self.stages[nxt]
                    e = ev("deal.stage_changed", stage=nxt, amount_c=with_amount(o))
                out.append((e, o))
                cur = nxt
            elif r < conv + 0.25:
                o = {}
                st = None
                if rng.random() < 0.4:
                    st = rng.randint(0, self.L - 1)
                    o["stage_name"] = self.stages[st]
                out.append((ev("deal.lost", stage=st, amount_c=with_amount(o)), o))
                if rng.random() < 0.08:  # lost, then won after all; and lost twice
                    step()
                    out.append((ev("deal.lost"), {}))
                    step()
                    o = {}
                    out.append((ev("deal.won", amount_c=with_amount(o)), o))
                    cur = self.L
                break
            else:
                break  # stalls
        if cur == self.L:
            for _ in range(rng.choice([0, 1, 1, 2])):
                step()
                o = {}
                score = None
                if rng.random() < 0.8:
                    o["score_text"] = self.score_text()
                    score = llround_hundredths(o["score_text"])
                complaint = rng.choice([None, None, False, True])
                out.append((ev("feedback.received", score_c=score, complaint=complaint), o))
            if rng.random() < 0.1:  # more events after won: no effect
                step()
                out.append((ev("deal.lost"), {}))
        if rng.random() < 0.04:  # a late deal.created after the deal moved on: no effect
            step()
            out.append((ev("deal.created"), {}))
        return out

    def standalone(self, t: int) -> Tuple[Event, dict, str]:
        """An activity or feedback without a deal, keyed by rep_id."""
        rng = self.rng
        rep, team = rng.choice(self.reps)
        team = team or "unassigned"
        o = {}
        if rng.random() < 0.7:
            e = Event(self.new_id(), "activity.logged", t, rep, team,
                      activity=rng.choice(self.kinds))
        else:
            score = None
            if rng.random() < 0.7:
                o["score_text"] = self.score_text()
                score = llround_hundredths(o["score_text"])
            e = Event(self.new_id(), "feedback.received", t, rep, team, score_c=score,
                      complaint=rng.choice([None, False, True]))
        return e, o, rep

    # -- the stream

    def generate(self) -> List[Msg]:
        rng = self.rng
        timeline = []  # (sort time, seq, Msg)
        count = 0
        ndeal = 0
        # Deal ids mix ASCII and unicode; the key is the deal id's UTF-8 bytes.
        while count < self.n_events:
            ndeal += 1
            if rng.random() < 0.85:
                t = self.t0 + rng.randrange(self.span_ms)
                deal = rng.choice(["D-%06d", "deal/%06d", "商机-%06d", "Δ%06d"]) % ndeal
                story = self.deal_story(deal, t)
                for e, o in story:
                    timeline.append([e.t_ms, len(timeline), self.make(e, deal, **o)])
                count += len(story)
            else:
                e, o, rep = self.standalone(self.t0 + rng.randrange(self.span_ms))
                timeline.append([e.t_ms, len(timeline), self.make(e, rep, **o)])
                count += 1
        if self.huge_amount:
            e = Event(self.new_id(), "deal.won", self.t0 + self.span_ms // 2, "rep-huge",
                      "team-north", "D-huge", amount_c=100000000000000000)
            timeline.append([e.t_ms, len(timeline), self.make(e, "D-huge",
                                                              amount_text="1000000000000000")])
        timeline.sort(key=lambda x: (x[0], x[1]))
        msgs = [x[2] for x in timeline]

        # Out of order within deals: swap events of the same deal that are close in the stream.
        last_pos = {}
        swaps = 0
        for i, m in enumerate(msgs):
            ev = m.event
            if ev is None or ev.deal is None:
                continue
            j = last_pos.get(ev.deal)
            if j is not None and i - j < 400 and rng.random() < self.ooo_rate * 3:
                msgs[i], msgs[j] = msgs[j], msgs[i]
                swaps += 1
                last_pos[ev.deal] = i  # msgs[i] is now the earlier event
            else:
                last_pos[ev.deal] = i
        self.swaps = swaps

        # Duplicates: copies later in the stream with the same key; some byte-identical, some
        # re-serialised (other field order or style), some with other content but the same id.
        out = []
        pending = []  # (position, msg)
        ndup = 0
        for i, m in enumerate(msgs):
            out.append(m)
            while pending and pending[0][0] <= i:
                out.append(pending.pop(0)[1])
            if rng.random() < self.dup_rate:
                ev = m.event
                r = rng.random()
                if r < 0.6:
                    copy = Msg(m.key, m.value, ev, None, "exact duplicate")
                elif r < 0.9:
                    copy = Msg(m.key, self.dump(self.fields(ev, extra=False, **m.opts)), ev,
                               None, "re-serialised duplicate")
                else:
                    other = Event(ev.event_id, "activity.logged", ev.t_ms + 1, ev.rep, ev.team,
                                  ev.deal, activity=self.kinds[0])
                    copy = Msg(m.key, self.dump(self.fields(other, extra=False)), other, None,
                               "same event_id, other content")
                pending.append((i + rng.randint(0, 60), copy))
                pending.sort(key=lambda x: x[0])
                ndup += 1
        out.extend(p[1] for p in pending)
        self.duplicates = ndup

        # Malformed messages, spread through the stream.
        bad = self.malformed_all()
        result = []
        step = max(1, len(out) // max(1, len(bad)))
        bi = 0
        for i, m in enumerate(out):
            result.append(m)
            if bi < len(bad) and i % step == step // 2:
                result.append(bad[bi])
                bi += 1
        result.extend(bad[bi:])
        self.n_bad = len(bad)
        return result

    # -- malformed messages

    def base_fields(self, type_="deal.stage_changed") -> List[Tuple[str, str]]:
        rep, team = self.rng.choice(self.reps)
        f = [("event_id", json.dumps(self.new_id())), ("type", json.dumps(type_)),
             ("occurred_at", '"2026-11-22T18:00:00.250+08:00"'), ("rep_id", json.dumps(rep))]
        if type_.startswith("deal."):
            f.append(("deal_id", '"D-bad-%d"' % self.next_id))
        if type_ == "deal.stage_changed":
            f.append(("stage", '"proposal"'))
        if type_ == "activity.logged":
            f.append(("activity", '"call"'))
        return f

    @staticmethod
    def set_field(f, name, value):
        return [(k, value if k == name else v) for k, v in f]

    @staticmethod
    def drop_field(f, name):
        return [(k, v) for k, v in f if k != name]

    def malformed_all(self) -> List[Msg]:
        """Every kind of bad message at least once, repeated to reach bad_rate of the stream."""
        cases = self.malformed_cases()
        n = max(len(cases), int(self.n_events * self.bad_rate))
        msgs = []
        i = 0
        while len(msgs) < n:
            reason, value, note, heavy = cases[i % len(cases)]
            i += 1
            if heavy and i > len(cases):
                continue  # big payloads only once: the mock keeps ~5 MiB per partition
            key = self.rng.choice([b"", b"D-bad", "张伟".encode()])
            msgs.append(Msg(key, value() if callable(value) else value, None, reason, note))
        self.rng.shuffle(msgs)
        # Valid edge cases travel with them (they are accepted; the model applies them).
        return msgs + self.valid_edge_cases()

    def malformed_cases(self):
        B = self.base_fields
        d = self.dump
        sf, df = self.set_field, self.drop_field
        c = []

        def add(reason, fn, note, heavy=False):
            c.append((reason, fn, note, heavy))

        add("invalid_json", lambda: b"not json at all", "plain text")
        add("invalid_json", lambda: d(B())[:-7], "truncated object")
        add("invalid_json", lambda: d(B()) + b" x", "trailing bytes")
        add("invalid_json", lambda: d(B()) + b"{}", "two objects")
        add("invalid_json", lambda: b'{"event_id":"a",}', "trailing comma")
        add("not_object", lambda: b"[1,2,3]", "array root")
        add("not_object", lambda: b'"just a string"', "string root")
        add("not_object", lambda: b"42", "number root")
        add("duplicate_key", lambda: d(B() + [("event_id", json.dumps(self.new_id()))]),
            "event_id twice")
        add("duplicate_key", lambda: d(B() + [("rep_id", '"other"')]), "rep_id twice")
        add("missing_field", lambda: d(df(B(), "event_id")), "no event_id")
        add("missing_field", lambda: d(df(B(), "rep_id")), "no rep_id")
        add("missing_field", lambda: d(df(B(), "occurred_at")), "no occurred_at")
        add("missing_field", lambda: d(df(B(), "type")), "no type")
        add("missing_field", lambda: d(df(B(), "deal_id")), "deal event without deal_id")
        add("missing_field", lambda: d(df(B(), "stage")), "stage_changed without stage")
        add("missing_field", lambda: d(df(B("activity.logged"), "activity")),
            "activity without kind")
        add("missing_field",
            lambda: d([("Rep_ID" if k == "rep_id" else k, v) for k, v in B()]),
            "field names are case-sensitive")
        add("wrong_type", lambda: d(sf(B(), "rep_id", "42")), "rep_id a number")
        add("wrong_type", lambda: d(sf(B(), "event_id", "true")), "event_id a boolean")
        add("wrong_type", lambda: d(sf(B(), "type", "5")), "type a number")
        add("wrong_type", lambda: d(B() + [("team_id", '["t"]')]), "team_id an array")
        add("wrong_type", lambda: d(B("feedback.received") + [("complaint", '"yes"')]),
            "complaint a string")
        add("wrong_type", lambda: d(B("feedback.received") + [("complaint", "1")]),
            "complaint a number")
        add("unknown_type", lambda: d(sf(B(), "type", '"deal.updated"')), "unknown type")
        add("unknown_type", lambda: d(sf(B(), "type", '"Deal.Created"')), "type is case-sensitive")
        add("unknown_stage", lambda: d(sf(B(), "stage", '"demo"')), "unknown stage")
        add("unknown_stage", lambda: d(sf(B(), "stage", '"Won"')), "stage is case-sensitive")
        add("invalid_stage", lambda: d(B("deal.lost") + [("stage", '"%s"' % self.stages[-1])]),
            "lost at the won stage")
        add("unknown_activity", lambda: d(sf(B("activity.logged"), "activity", '"fax"')),
            "unknown activity kind")
        for ts, note in [('"2026-13-01T00:00:00Z"', "month 13"),
                         ('"2026-02-30T10:00:00Z"', "30 February"),
                         ('"2026-11-22T18:00:00"', "no offset"),
                         ('"2026-11-22"', "date only"),
                         ('"yesterday"', "words"),
                         ('"2026-11-22T25:00:00Z"', "hour 25"),
                         ('"2026-11-22T18:00:00.Z"', "empty fraction"),
                         ('"2026-11-22T18:00:00.1234567890Z"', "10 fraction digits"),
                         ('"1969-12-31T23:59:59Z"', "before 1970"),
                         ('"1970-01-01T00:30:00+01:00"', "before 1970 by its offset"),
                         ("1700000000000.5", "epoch ms with a fraction"),
                         ("-1", "negative epoch ms"),
                         ("253402300800000", "epoch ms beyond 9999"),
                         ("1e300", "huge number")]:
            add("invalid_timestamp", (lambda ts=ts: d(sf(B(), "occurred_at", ts))), note)
        add("invalid_amount", lambda: d(B() + [("amount", "-5")]), "negative amount")
        add("invalid_amount", lambda: d(B() + [("amount", "2e15")]), "amount above 1e15")
        add("invalid_score", lambda: d(B("feedback.received") + [("score", "0.5")]), "score 0.5")
        add("invalid_score", lambda: d(B("feedback.received") + [("score", "5.01")]),
            "score 5.01")
        add("invalid_id", lambda: d(sf(B(), "event_id", '""')), "empty event_id")
        add("invalid_id", lambda: d(sf(B(), "rep_id", json.dumps("张" * 43, ensure_ascii=False))),
            "rep_id of 129 bytes")
        add("invalid_id", lambda: d(sf(B(), "deal_id", '"D\\u0007x"')), "BEL in deal_id")
        add("invalid_id", lambda: d(B() + [("team_id", '"a\\u001fb"')]), "US in team_id")
        add("invalid_id", lambda: d(sf(B(), "rep_id", '"r\\u0085p"')), "C1 control in rep_id")
        add("invalid_id", lambda: d(sf(B(), "rep_id", '"r\x7fp"')), "raw DEL in rep_id")
        for raw, note in [(b"\xff", "0xff byte"), (b"\xc0\xaf", "overlong"),
                          (b"\xed\xa0\x80", "UTF-16 surrogate"), (b"\xe5\xbc", "truncated"),
                          (b"\xf4\x90\x80\x80", "beyond U+10FFFF")]:
            add("invalid_utf8", (lambda raw=raw: d(B(), compact=True).replace(
                b'"rep_id":"', b'"rep_id":"x' + raw, 1)), note + " in rep_id")
        add("invalid_utf8", lambda: d(B() + [("note", '"ok"')], compact=True).replace(
            b'"ok"', b'"o\xfek"'), "bad byte in an unknown field")
        add("nul_character", lambda: d(sf(B(), "rep_id", '"a\\u0000b"')), "NUL in rep_id")
        add("nul_character", lambda: d(B() + [("note", '"x\\u0000"')]), "NUL in an unknown field")
        add("too_deep", lambda: d(B() + [("x", "[" * 30 + "]" * 30)]), "30 levels")
        add("too_deep", lambda: d(B() + [("x", '{"a":' * 16 + "1" + "}" * 16)]), "17 levels")
        if self.big_payloads:
            add("oversize", lambda: self.sized(B(), MAX_PAYLOAD + 1), "65537 bytes", heavy=True)
            add("oversize", lambda: self.sized(B(), 70000), "70000 bytes", heavy=True)
        return c

    def sized(self, f, size) -> bytes:
        """A valid-looking event padded to exactly size bytes with an unknown field."""
        base = self.dump(f + [("pad", '""')], compact=True)
        pad = size - len(base)
        assert pad >= 0
        return base.replace(b'"pad":""', b'"pad":"' + b"p" * pad + b'"')

    def valid_edge_cases(self) -> List[Msg]:
        """Accepted messages at the limits: 16 levels deep, ids of 128 bytes, trailing whitespace,
        a leap second, a payload of exactly 64 KiB."""
        out = []
        t = self.t0 + 5 * 86400000 + 123

        def mk(ev, fields_fn, key):
            out.append(Msg(key.encode(), fields_fn(ev), ev, None, "valid edge case"))

        rep128 = "张" * 42 + "ab"  # 128 bytes
        e = Event(self.new_id(), "activity.logged", t, rep128, "unassigned", activity="email")
        mk(e, lambda ev: self.dump(self.fields(ev, extra=False)), rep128)
        e = Event(self.new_id(), "activity.logged", t, "rep-007", "team-north", activity="visit")
        mk(e, lambda ev: self.dump(self.fields(ev, extra=False)
                                   + [("x", '{"a":' * 15 + "1" + "}" * 15)]), "rep-007")
        e = Event(self.new_id(), "activity.logged", t, "rep-007", "team-north", activity="call")
        mk(e, lambda ev: self.dump(self.fields(ev, extra=False)) + b"   ", "rep-007")
        e = Event(self.new_id(), "activity.logged", 1798761599999, "Zoë", "team-north",
                  activity="meeting")  # 2026-12-31T23:59:60Z = 23:59:59.999
        mk(e, lambda ev: self.dump([("event_id", json.dumps(ev.event_id)),
                                    ("type", '"activity.logged"'),
                                    ("occurred_at", '"2026-12-31T23:59:60Z"'),
                                    ("rep_id", '"Zo\\u00eb"'), ("team_id", '"team-north"'),
                                    ("activity", '"meeting"')]), "Zoë")
        if self.big_payloads:
            e = Event(self.new_id(), "activity.logged", t, "rep-007", "team-north",
                      activity="follow_up")
            mk(e, lambda ev: self.sized(self.fields(ev, extra=False), MAX_PAYLOAD), "rep-007")
        return out


# ----------------------------------------------------------------------------------------------
# Self-test of the model against cases worked out by hand


def _selftest():
    def E(i, type_, t, deal="d1", rep="r1", team="t1", **kw):
        return Msg(b"k", b"", Event("e%d" % i, type_, t, rep, team, deal, **kw), None)

    H = 3600000
    T = 1795000000000  # 2026-11-18T09:46:40Z
    m = Model(tz="UTC", prefix="p")
    m.run([
        E(1, "deal.created", T, amount_c=100000),
        E(2, "deal.stage_changed", T + 2 * H, stage=2, rep="r2"),   # skips qualified
        E(3, "deal.stage_changed", T + 3 * H, stage=1),             # back: nothing
        E(4, "deal.won", T + 5 * H),                                # skips negotiation
        E(4, "deal.won", T + 6 * H),                                # duplicate
        E(5, "deal.lost", T + 7 * H),                               # after won: nothing
        Msg(b"", b"x", None, "invalid_json"),
    ])
    h = m.expected_hashes()
    org = h["p:org:all"]
    exp = {"events": "5", "entered:lead": "1", "advanced:lead": "1", "moved_on:lead": "1",
           "dwell_sum_ms:lead": str(2 * H), "dwell_count:lead": "1", "conv:lead": "1.0000",
           "exit_conv:lead": "1.0000", "dwell_hours:lead": "2.00",
           "entered:qualified": "1", "advanced:qualified": "1", "moved_on:qualified": "1",
           "conv:qualified": "1.0000", "exit_conv:qualified": "1.0000",
           "entered:proposal": "1", "advanced:proposal": "1", "moved_on:proposal": "1",
           "dwell_sum_ms:proposal": str(3 * H), "dwell_count:proposal": "1",
           "conv:proposal": "1.0000", "exit_conv:proposal": "1.0000", "dwell_hours:proposal": "3.00",
           "entered:negotiation": "1", "advanced:negotiation": "1", "moved_on:negotiation": "1",
           "conv:negotiation": "1.0000", "exit_conv:negotiation": "1.0000",
           "entered:won": "1", "won": "1", "won_amount": "1000.00", "win_rate": "1.0000",
           # created at T, won at T + 5 h: 18000000 / 86400000 = 0.2083 days
           "cycle_sum_ms": str(5 * H), "cycle_count": "1", "cycle_days": "0.21",
           "avg_won_amount": "1000.00"}
    assert org == exp, sorted(set(org.items()) ^ set(exp.items()))
    r1 = h["p:rep:all:r1"]
    # r1 created (entered/advanced lead), then moved back (events), won (moved_on proposal...).
    assert r1["entered:lead"] == "1" and r1["advanced:lead"] == "1" and "moved_on:lead" not in r1
    assert r1["events"] == "4" and r1["won"] == "1" and "entered:proposal" not in r1
    assert r1["moved_on:proposal"] == "1" and r1["dwell_hours:proposal"] == "3.00"
    assert r1["entered:negotiation"] == "1" and "dwell_count:negotiation" not in r1
    r2 = h["p:rep:all:r2"]
    assert r2 == {"events": "1", "moved_on:lead": "1", "dwell_sum_ms:lead": str(2 * H),
                  "dwell_count:lead": "1", "dwell_hours:lead": "2.00", "exit_conv:lead": "1.0000",
                  "entered:qualified": "1",
                  "advanced:qualified": "1", "moved_on:qualified": "1", "conv:qualified": "1.0000",
                  "exit_conv:qualified": "1.0000", "entered:proposal": "1",
                  "advanced:proposal": "1", "conv:proposal": "1.0000"}, r2
    assert m.expected_stats() == {"accepted": 5, "duplicates": 1, "rejected": 1,
                                  "rejected:invalid_json": 1, "ignored": 2}

    # Lost semantics, out-of-order dwell, windows in a timezone.
    m = Model(tz="Asia/Shanghai", prefix="p")
    day_ms = 1798732800000  # 2026-12-31T16:00:00Z = 2027-01-01 00:00 in Shanghai
    m.run([
        E(1, "deal.lost", day_ms - 1, deal="x"),                 # unknown deal: lost at lead
        E(2, "deal.created", day_ms, deal="y", stage=1),
        E(3, "deal.stage_changed", day_ms - H, deal="y", stage=2),  # earlier time: no dwell
        E(4, "deal.lost", day_ms, deal="y"),
        E(5, "deal.lost", day_ms, deal="y"),                     # lost twice: once
        E(6, "deal.won", day_ms + H, deal="y", amount_c=250),    # lost then won
        E(7, "feedback.received", day_ms, deal=None, score_c=450, complaint=True),
        E(8, "feedback.received", day_ms, deal=None, score_c=400),
    ])
    h = m.expected_hashes()
    o26 = h["p:org:day:2026-12-31"]
    exp26 = {"events": "2", "lost_at:lead": "1", "lost": "1", "exit_conv:lead": "0.0000",
             "win_rate": "0.0000", "moved_on:qualified": "1", "exit_conv:qualified": "1.0000",
             "entered:proposal": "1", "advanced:proposal": "1", "conv:proposal": "1.0000"}
    assert o26 == exp26, sorted(set(o26.items()) ^ set(exp26.items()))
    o27 = h["p:org:day:2027-01-01"]
    exp27 = {"events": "6",
             "entered:lead": "1", "advanced:lead": "1", "moved_on:lead": "1",
             "conv:lead": "1.0000", "exit_conv:lead": "1.0000",
             "entered:qualified": "1", "advanced:qualified": "1", "conv:qualified": "1.0000",
             "lost_at:proposal": "1", "moved_on:proposal": "1", "dwell_sum_ms:proposal": "7200000",
             "dwell_count:proposal": "1", "dwell_hours:proposal": "2.00",
             "exit_conv:proposal": "0.5000",
             "entered:negotiation": "1", "advanced:negotiation": "1", "moved_on:negotiation": "1",
             "conv:negotiation": "1.0000", "exit_conv:negotiation": "1.0000",
             "entered:won": "1", "won": "1", "won_amount": "2.50", "lost": "1",
             "win_rate": "0.5000", "feedback_count": "2", "feedback_sum": "8.50",
             "feedback_avg": "4.25", "complaints": "1",
             # first reach: proposal at day_ms - H (out of order); won at day_ms + H
             "cycle_sum_ms": "7200000", "cycle_count": "1", "cycle_days": "0.08",
             "avg_won_amount": "2.50"}
    assert o27 == exp27, sorted(set(o27.items()) ^ set(exp27.items()))
    assert "p:org:week:2026-W53" in h and "p:org:quarter:2027-Q1" in h
    assert "p:org:week:2027-W01" not in h  # 2027-01-01 is in ISO week 2026-W53
    assert "p:org:month:2026-12" in h and "p:org:quarter:2026-Q4" in h

    # The open pipeline: a hand-over, a lost-then-reopened deal, a late loss dated before the
    # re-opening, a rep whose latest event names no team.
    m = Model(tz="UTC", prefix="p")
    m.run([
        E(1, "deal.created", T, deal="a", rep="r1", team="t1", amount_c=10000),
        E(2, "deal.stage_changed", T + H, deal="a", stage=1, rep="r2", team="t2"),  # hand-over
        E(3, "deal.created", T, deal="b", rep="r1", team="t1", stage=2, amount_c=500),
        E(4, "deal.lost", T + H, deal="b", rep="r1", team="t1"),
        E(5, "deal.stage_changed", T + 3 * H, deal="b", stage=1, rep="r1", team="t1"),  # re-opens
        E(6, "deal.lost", T + 2 * H, deal="b", rep="r1", team="t1"),  # late: stays open
        E(7, "deal.lost", T + 4 * H, deal="c", rep="r3", team="unassigned"),  # never open
        E(8, "activity.logged", T + 5 * H, deal=None, rep="r1", team="unassigned",
          activity="call"),
    ])
    h = m.expected_hashes()
    assert {k: v for k, v in h["p:org:all"].items() if k.startswith("open")} == {
        "open:qualified": "1", "open_amount:qualified": "100.00", "open:proposal": "1",
        "open_amount:proposal": "5.00", "open": "2", "open_amount": "105.00"}, h["p:org:all"]
    assert {k: v for k, v in h["p:rep:all:r1"].items() if k.startswith("open")} == {
        "open:proposal": "1", "open_amount:proposal": "5.00", "open": "1",
        "open_amount": "5.00"}
    assert h["p:team:all:t2"]["open:qualified"] == "1" and "open" not in h["p:rep:all:r3"]
    assert not any(k.startswith("open") for k in h["p:org:day:2026-11-18"])
    assert m.expected_rep_team() == {"r1": "t1", "r2": "t2"}
    assert m.expected_rep_team_at() == {"r1": str(T + 3 * H), "r2": str(T + H)}

    assert llround_hundredths("1.005") == 100  # 1.005*100 = 100.49999999999999
    assert llround_hundredths("2.675") == 268  # 2.675*100 is exactly 267.5 in doubles
    assert llround_hundredths("0.125") == 13  # 12.5 exactly: away from zero
    assert fmt_fixed((1, 32), 4) == "0.0312"  # 0.03125 exactly: a tie, to even
    assert fmt_fixed((3, 32), 4) == "0.0938"  # 0.09375 exactly: to even
    assert fmt_fixed((2, 3), 4) == "0.6667"
    assert fmt_fixed((769, 200), 2) == "3.85"  # redis.md's example

    # The generator is deterministic and its messages carry what they claim.
    g1 = Generator(7, 3000).generate()
    g2 = Generator(7, 3000).generate()
    assert [m.value for m in g1] == [m.value for m in g2]
    copies_of_other_content = {m.event.event_id for m in g1 if m.note.startswith("same event_id")}
    for m in g1:
        assert b"\n" not in m.value and b"\t" not in m.key and b"\n" not in m.key
        if m.event is not None and len(m.value) <= MAX_PAYLOAD:
            obj = json.loads(m.value.decode("utf-8"))
            ev = m.event
            if obj["event_id"] != ev.event_id:
                raise AssertionError(m)
            assert obj["rep_id"] == ev.rep and obj.get("team_id", "unassigned") == ev.team
            assert obj.get("deal_id") == ev.deal and obj["type"] == ev.type
            if ev.type.startswith("deal.") and ev.event_id not in copies_of_other_content:
                st = obj.get("stage")
                assert (None if st is None else DEFAULT_STAGES.index(st)) == ev.stage, m
                found = re.search(rb'"amount"\s*:\s*([^,}\s]+)', m.value)
                am = found.group(1) if found else None
                assert (None if am is None else llround_hundredths(am.decode())) == ev.amount_c, m
            if "score" in obj:
                assert ev.score_c is not None
            required = {"deal.stage_changed": "stage", "activity.logged": "activity"}
            assert required.get(ev.type, "type") in obj, m
    print("model self-test passed")


if __name__ == "__main__":
    if "--selftest" in sys.argv:
        _selftest()
