#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""funnel-web's API (docs/http.md, docs/openapi.yaml) over a known dataset sent through funneld:
every number of /api/v1/funnel (the org, a team, a rep, in several windows), /reps, /teams and
/leaderboard equals the independent model of tests/support/model.py; every response validates
against docs/openapi.yaml; bad paths, parameters, windows and methods get a 4xx with a JSON
reason; with http.token set, a request without it gets 401, with the bearer or the cookie of the
`/?token=` flow it passes; the connection and request-size limits hold."""

import json
import os
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import web  # noqa: E402
from harness import TestFailure  # noqa: E402

STAGES = ["lead", "qualified", "proposal", "negotiation", "won"]
STAGE_FIELDS = ["entered", "advanced", "conv", "moved_on", "lost_at", "exit_conv",
                "dwell_sum_ms", "dwell_count", "dwell_hours"]
RATES = ("conv", "exit_conv", "dwell_hours", "win_rate", "feedback_avg", "cycle_days",
         "avg_won_amount")
AMOUNTS = ("won_amount", "feedback_sum", "open_amount")


def kind(field):
    base = field.split(":")[0]
    if base in RATES:
        return "rate"
    if base in AMOUNTS:
        return "amount"
    return "counter"


def typed(field, stored):
    """The JSON value docs/http.md promises for a stored text (None: absent)."""
    k = kind(field)
    if stored is None:
        return {"rate": None, "amount": "0.00", "counter": 0}[k]
    if k == "rate":
        return float(stored)
    return stored if k == "amount" else int(stored)


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-12
    return a == b and type(a) is type(b)


def check_funnel(got, exp_hash, label):
    """Every number of a /funnel answer against the model's hash (dict field -> text)."""
    def eq(path, value, want):
        if not same(value, want):
            raise TestFailure("%s: %s is %r, the model says %r" % (label, path, value, want))

    eq("exists", got["exists"], bool(exp_hash))
    for i, st in enumerate(got["stages"]):
        s = STAGES[i]
        eq("stages[%d].stage" % i, st["stage"], s)
        names = STAGE_FIELDS if i + 1 < len(STAGES) else ["entered"]
        if set(st) != set(names) | {"stage"}:
            raise TestFailure("%s: stage %s has keys %s" % (label, s, sorted(st)))
        for f in names:
            eq("stages.%s.%s" % (s, f), st[f], typed("%s:%s" % (f, s), exp_hash.get("%s:%s" % (f, s))))
    for f in ("won", "lost", "won_amount", "win_rate", "feedback_count", "feedback_sum",
              "feedback_avg", "complaints", "events"):
        eq(f, got[f], typed(f, exp_hash.get(f)))
    for k, v in got["activities"].items():
        eq("activities." + k, v, typed("activity:" + k, exp_hash.get("activity:" + k)))
    if set(got["fields"]) != set(exp_hash):
        raise TestFailure("%s: fields %s, the model has %s"
                          % (label, sorted(set(got["fields"]) ^ set(exp_hash)), "a different set"))
    for k, v in exp_hash.items():
        eq("fields." + k, got["fields"][k], typed(k, v))


def body(h, args):
    msgs, mdl, gen = harness.generate(h, args, 3000, tz="Asia/Shanghai")
    exp = mdl.expected_hashes()
    p = h.prefix + ":"
    teams = sorted({k.split(":", 3)[3] for k in exp if k.startswith(p + "team:all:")})
    managers = {t: "Manager of %s" % t for t in teams[::2]}  # every other team has one
    rules = {"clock": "event", "evaluate_every": "1s", "managers": managers,
             "rules": [{"name": "calls-silent", "kpi": "activity:call", "scope": "rep",
                        "window": "24h", "severity": "critical",
                        "threshold": {"op": "<", "value": 1}, "for": "1h"}]}
    rules_path = os.path.join(h.tmp, "rules.json")
    with open(rules_path, "w") as f:
        json.dump(rules, f)
    h.start_redis()
    h.start_mock()
    nxt = h.produce(msgs)
    h.start_funneld("A", alerts__rules=rules_path)
    h.wait_done(nxt, timeout=180)
    # (no h.compare: the rule adds hourly buckets the model does not keep; the API is compared)
    r = h.redis()
    deadline = time.time() + 60  # every apply writes rep_team (docs/redis.md)
    while time.time() < deadline and r.call("HLEN", p + "rep_team") == 0:
        time.sleep(0.2)
    doc, validators = web.openapi(h.source)

    w = web.Web(h, "api", alerts__rules=rules_path)

    def api(path, status=200, **params):
        q = ("?" + urllib.parse.urlencode(params)) if params else ""
        body = w.get(path + q, status=status)
        web.check(doc, validators, path, status, body)
        return body

    api.redis = r
    meta = api("/api/v1/meta")
    if meta["stages"] != STAGES or meta["timezone"] != h.tz or meta["auth"] is not False:
        raise TestFailure("meta: %r" % meta)

    # windows present in the model: all, and the busiest day, week, month and quarter
    def busiest(prefix):
        counts = {}
        for k in exp:
            if k.startswith(p + "org:" + prefix):
                counts[k[len(p + "org:"):]] = int(exp[k].get("events", "0"))
        return max(counts, key=lambda x: (counts[x], x))

    windows = ["all"] + [busiest(x) for x in ("day:", "week:", "month:", "quarter:")]
    checked = 0
    for win in windows:
        got = api("/api/v1/funnel", scope="org", window=win)
        check_funnel(got, exp.get(p + "org:" + win, {}), "org %s" % win)
        if got["window"] != win or (win == "all") != (got["window_start"] is None):
            raise TestFailure("org %s: window %r start %r" % (win, got["window"], got["window_start"]))
        for scope in ("team", "rep"):
            ids = sorted(k[len(p + scope + ":" + win + ":"):] for k in exp
                         if k.startswith(p + scope + ":" + win + ":"))
            for i in (ids[:2] + ids[-1:]):
                got = api("/api/v1/funnel", scope=scope, id=i, window=win)
                check_funnel(got, exp[p + scope + ":" + win + ":" + i], "%s %s %s" % (scope, i, win))
                checked += 1
            # lists
            lst = api("/api/v1/%ss" % scope, window=win)
            if [x["id"] for x in lst["%ss" % scope]] != ids:
                raise TestFailure("/%ss %s: ids differ from the model" % (scope, win))
            if scope == "team" and any(x["manager"] != managers.get(x["id"]) for x in lst["teams"]):
                raise TestFailure("/teams %s: managers %r" % (win, lst["teams"][:4]))
    print("[http_api] %d funnels equal the model" % checked, flush=True)
    # a hash that does not exist: 200, exists false, zeros
    got = api("/api/v1/funnel", scope="rep", id="nobody at all", window="all")
    check_funnel(got, {}, "missing rep")

    # the leaderboard, by several fields, both orders, within a team
    rep_team = {k.decode(): v.decode()
                for k, v in harness.pairs_to_dict(r.call("HGETALL", p + "rep_team")).items()}
    team = sorted(set(rep_team.values()))[0]
    for scope, by, order, tm in (("rep", "won_amount", "desc", None), ("rep", "win_rate", "asc", None),
                                 ("team", "conv:lead", "desc", None), ("rep", "events", "desc", team),
                                 ("rep", "activity:call", "asc", None)):
        win = "all"
        rows = {k[len(p + scope + ":" + win + ":"):]: v for k, v in exp.items()
                if k.startswith(p + scope + ":" + win + ":")}
        if tm is not None:
            rows = {i: v for i, v in rows.items() if rep_team.get(i) == tm}
        def key(i):
            v = rows[i].get(by)
            if v is None and kind(by) == "rate":
                return (1, 0, i)
            x = float(v) if v is not None else 0.0
            return (0, -x if order == "desc" else x, i)
        want = sorted(rows, key=key)
        params = dict(scope=scope, window=win, by=by, order=order, limit=1000)
        if tm is not None:
            params["team"] = tm
        lb = api("/api/v1/leaderboard", **params)
        if lb["total"] != len(want) or [x["id"] for x in lb["rows"]] != want:
            raise TestFailure("leaderboard %s: order %s, the model says %s"
                              % (params, [x["id"] for x in lb["rows"]][:8], want[:8]))
        for x in lb["rows"]:
            hsh = rows[x["id"]]
            for f in ("won", "lost", "won_amount", "win_rate", "events", "feedback_avg", "complaints"):
                if not same(x[f], typed(f, hsh.get(f))):
                    raise TestFailure("leaderboard %s %s: %s %r" % (params, x["id"], f, x[f]))
            if not same(x["deals"], typed("entered:lead", hsh.get("entered:lead"))) or \
                    not same(x["conv"], typed("conv:lead", hsh.get("conv:lead"))) or \
                    not same(x["value"], typed(by, hsh.get(by))):
                raise TestFailure("leaderboard %s %s: deals/value %r" % (params, x["id"], x))
    lb = api("/api/v1/leaderboard", window="all", limit=3)
    if len(lb["rows"]) != 3 or lb["by"] != "won_amount" or [x["rank"] for x in lb["rows"]] != [1, 2, 3]:
        raise TestFailure("leaderboard defaults: %r" % lb)

    al = api("/api/v1/alerts")
    hist = api("/api/v1/alerts/history", limit=5)
    n_firing = r.call("HLEN", p + "alerts:firing")
    if len(al["firing"]) != n_firing or len(hist["history"]) != min(5, r.call("XLEN", p + "alerts")):
        raise TestFailure("alerts: %d firing (Redis %d), history %d"
                          % (len(al["firing"]), n_firing, len(hist["history"])))
    starts = [a["started_at"] for a in al["firing"]]
    if starts != sorted(starts):
        raise TestFailure("firing alerts not by started_at")
    # a heartbeat written during the catch-up reports lag for 3 intervals (behind), then live/idle
    deadline = time.time() + 20
    st = api("/api/v1/status")
    while time.time() < deadline and st["status"] not in ("live", "idle"):
        time.sleep(0.5)
        st = api("/api/v1/status")
    if st["status"] not in ("live", "idle") or not st["instances"]:
        raise TestFailure("status after the run: %r" % st)

    check_pipeline_velocity(api, exp, p, windows)
    check_scorecards(api, r, p, meta)

    # 4xx with a JSON reason naming the parameter
    for path, params, status, field in (
            ("/api/v1/funnel", {"window": "yesterday"}, 400, "window"),
            ("/api/v1/funnel", {"window": "day:2026-02-30"}, 400, "window"),
            ("/api/v1/funnel", {"scope": "galaxy"}, 400, "scope"),
            ("/api/v1/funnel", {"scope": "rep"}, 400, "id"),
            ("/api/v1/funnel", {"scope": "rep", "id": "a\x01b"}, 400, "id"),
            ("/api/v1/funnel", {"colour": "red"}, 400, "colour"),
            ("/api/v1/leaderboard", {"by": "nonsense"}, 400, "by"),
            ("/api/v1/leaderboard", {"limit": "0"}, 400, "limit"),
            ("/api/v1/leaderboard", {"limit": "1001"}, 400, "limit"),
            ("/api/v1/leaderboard", {"order": "up"}, 400, "order"),
            ("/api/v1/alerts/history", {"limit": "x"}, 400, "limit"),
            ("/api/v1/scorecard", {"id": "anna", "period": "month:2026-13"}, 400, "period"),
            ("/api/v1/scorecard", {"id": "anna", "period": "week"}, 400, "period"),
            ("/api/v1/scorecard", {"scope": "org"}, 400, "scope"),
            ("/api/v1/scorecard", {"scope": "rep"}, 400, "id"),
            ("/api/v1/scorecard", {"id": "nobody", "period": "month:2026-11"}, 404, "id"),
            ("/api/v1/scorecard", {"id": "anna", "window": "all"}, 400, "window"),
            ("/api/v1/ranking", {"period": "quarter:2026-Q5"}, 400, "period"),
            ("/api/v1/ranking", {"scope": "team", "team": "north"}, 400, "team"),
            ("/api/v1/ranking", {"limit": "0"}, 400, "limit"),
            ("/api/v1/stream", {"since": "12,34x"}, 400, "since")):
        q = "?" + urllib.parse.urlencode(params)
        st_, hd, data = w.request(path + q)
        b = json.loads(data)
        web.check(doc, validators, path, status, b)
        if st_ != status or b["status"] != status or (field and b["field"] != field):
            raise TestFailure("%s%s: %d %r" % (path, q, st_, b))
    st_, hd, data = w.request("/api/v1/nothing")
    if st_ != 404 or b'"status":404' not in data:
        raise TestFailure("unknown path: %d %r" % (st_, data))
    st_, hd, data = w.request("/api/v1/meta", method="POST", body=b"{}")
    if st_ != 405 or "GET" not in hd.get("allow", ""):
        raise TestFailure("POST: %d %r" % (st_, hd))
    st_, hd, data = w.request("/api/v1/meta", method="HEAD")
    if st_ != 200 or data:
        raise TestFailure("HEAD: %d %r" % (st_, data))
    st_, hd, data = w.request("/")
    if st_ != 200 or "default-src 'self'" not in hd.get("content-security-policy", ""):
        raise TestFailure("/: %d %r" % (st_, hd))

    # web.ids_refresh_ms: a window's list of ids is reused (no SCAN) for that long; the numbers
    # are read fresh all the same. Changed by hand in Redis (funnel-web only reads it), undone.
    wi = web.Web(h, "ids", alerts__rules=rules_path, web__ids_refresh_ms=600000)
    before = [x["id"] for x in wi.get("/api/v1/reps?window=all")["reps"]]
    top = wi.get("/api/v1/leaderboard?window=all&by=won&limit=1")["rows"][0]
    last = before[-1]
    r.call("HSET", p + "rep:all:zz-new-rep", "events", "1")
    r.call("HINCRBY", p + "rep:all:" + last, "won", "100000")
    try:
        if [x["id"] for x in wi.get("/api/v1/reps?window=all")["reps"]] != before:
            raise TestFailure("web.ids_refresh_ms 600000: the list of reps was not reused")
        lb = wi.get("/api/v1/leaderboard?window=all&by=won&limit=1")["rows"][0]
        if lb["id"] != last or lb["won"] < 100000 or top["id"] == last:
            raise TestFailure("a reused list must still rank on fresh numbers: %r then %r"
                              % (top, lb))
        if not wi.get("/api/v1/funnel?scope=rep&id=zz-new-rep&window=all")["exists"]:
            raise TestFailure("/funnel of a rep not in the reused list: must read it")
        if "zz-new-rep" not in [x["id"] for x in w.get("/api/v1/reps?window=all")["reps"]]:
            raise TestFailure("web.ids_refresh_ms 0: a new rep must be listed at once")
    finally:
        r.call("DEL", p + "rep:all:zz-new-rep")
        r.call("HINCRBY", p + "rep:all:" + last, "won", "-100000")
    if wi.stop() != 0:
        raise TestFailure("funnel-web (ids) did not stop cleanly")
    w.stop()

    # the token, the cookie flow and the limits
    w = web.Web(h, "auth", http__token="s3cret-token", http__max_connections=4,
                http__max_request_bytes=4096)
    for path in ("/api/v1/meta", "/", "/assets/app.js"):
        st_, hd, data = w.request(path)
        if st_ != 401:
            raise TestFailure("%s without the token: %d" % (path, st_))
    if w.request("/livez")[0] != 200:
        raise TestFailure("/livez must not need the token")
    if w.request("/api/v1/meta", headers={"Authorization": "Bearer wrong"})[0] != 401:
        raise TestFailure("a wrong bearer token passed")
    m = w.get("/api/v1/meta", headers={"Authorization": "Bearer s3cret-token"})
    if m["auth"] is not True:
        raise TestFailure("meta auth: %r" % m)
    st_, hd, data = w.request("/?token=s3cret-token")
    cookie = hd.get("set-cookie", "")
    if st_ != 303 or hd.get("location") != "/" or "HttpOnly" not in cookie or \
            "SameSite=Strict" not in cookie:
        raise TestFailure("the cookie flow: %d %r" % (st_, hd))
    w.get("/api/v1/meta", headers={"Cookie": cookie.split(";")[0]})
    if w.request("/?token=nope")[0] != 401:
        raise TestFailure("a wrong ?token= passed")
    # request size: headers beyond http.max_request_bytes
    try:
        st_ = w.request("/livez", headers={"X-Big": "a" * 6000})[0]
    except (ConnectionError, http_exc()):
        st_ = 431  # refused while the client still sent: the same refusal
    if st_ not in (413, 414, 431):
        raise TestFailure("an 8 KB header with max_request_bytes 4096: %d" % st_)
    # connections: 4 idle keep-alive ones hold every slot; a 5th is closed at once, unanswered
    # (docs/http.md "Security and limits"), not left waiting in the listen backlog; once they
    # close, a new one is served. Each is served a request first, so it is known to hold its slot
    # (a bare connect may still wait in the kernel's backlog when the 5th comes, under load).
    # The connections of the requests above hold slots until MHD has reaped them (under load,
    # a moment after they closed): a new connection refused meanwhile is opened again.
    socks = []
    deadline = time.time() + 10
    while len(socks) < 4:
        s = socket.create_connection(("127.0.0.1", w.port), timeout=5)
        try:
            head = raw_get(s, "/livez")
        except (TestFailure, ConnectionError):
            s.close()
            if time.time() > deadline:
                raise TestFailure("4 keep-alive connections not served within 10 s")
            time.sleep(0.2)
            continue
        if b"connection: close" in head.lower():
            raise TestFailure("a keep-alive request was answered with Connection: close: %r" % head)
        socks.append(s)
    try:
        st_ = w.request("/livez", timeout=10)[0]
        raise TestFailure("a 5th connection was served (%d) with max_connections 4" % st_)
    except TimeoutError:
        raise TestFailure("a 5th connection with max_connections 4 was left waiting, not closed")
    except (ConnectionError, http_exc()):
        pass  # closed by the server without an answer (reset or end of file)
    for s in socks:  # still open, and still served: they held their slots all along
        raw_get(s, "/livez")
    for s in socks:
        s.close()
    served = False
    deadline = time.time() + 10  # MHD frees a slot when it has reaped the closed connection
    while time.time() < deadline and not served:
        try:
            served = w.request("/livez", timeout=3)[0] == 200
        except (ConnectionError, http_exc()):
            time.sleep(0.2)
    if not served:
        raise TestFailure("not served again after the idle connections closed")
    if w.stop() != 0:
        raise TestFailure("funnel-web did not stop cleanly")


def check_pipeline_velocity(api, exp, p, windows):
    """/funnel's pipeline is the scope's `all` hash whatever the window (against the model);
    velocity = open x win_rate x avg_won_amount / cycle_days, from fixture hashes written by
    hand and worked out here."""
    def pipe_of(h):
        stages = [{"stage": s, "open": int(h.get("open:" + s, "0")),
                   "open_amount": h.get("open_amount:" + s, "0.00")} for s in STAGES[:-1]]
        return {"window": "all", "stages": stages, "open": int(h.get("open", "0")),
                "open_amount": h.get("open_amount", "0.00")}

    for win in (windows[0], windows[3]):
        got = api("/api/v1/funnel", scope="org", window=win)
        if got["pipeline"] != pipe_of(exp.get(p + "org:all", {})):
            raise TestFailure("org %s pipeline %r, the model's all hash says %r"
                              % (win, got["pipeline"], pipe_of(exp.get(p + "org:all", {}))))
    reps = sorted(k[len(p + "rep:all:"):] for k in exp if k.startswith(p + "rep:all:"))
    for rep in reps[:3]:
        got = api("/api/v1/funnel", scope="rep", id=rep, window=windows[3])
        if got["pipeline"] != pipe_of(exp[p + "rep:all:" + rep]):
            raise TestFailure("rep %s pipeline %r" % (rep, got["pipeline"]))

    # fixtures, as the apply script writes them (amounts with two decimals)
    r = api.redis
    rep, month = "zz-pipe rep", windows[3]
    k_all, k_month = p + "rep:all:" + rep, p + "rep:" + month + ":" + rep
    r.call("HSET", k_all, "open:lead", "2", "open_amount:lead", "300.00", "open:proposal", "1",
           "open_amount:proposal", "1200.50", "open", "3", "open_amount", "1500.50")
    # 3 won, 1 lost; 1500.00 won; cycles of 10 and 20 days
    r.call("HSET", k_month, "won", "3", "lost", "1", "won_amount", "1500.00", "win_rate", "0.7500",
           "cycle_sum_ms", str(30 * 86400000), "cycle_count", "2", "cycle_days", "15.00",
           "avg_won_amount", "500.00")
    try:
        got = api("/api/v1/funnel", scope="rep", id=rep, window=month)
        want_pipe = {"window": "all", "stages": [
            {"stage": "lead", "open": 2, "open_amount": "300.00"},
            {"stage": "qualified", "open": 0, "open_amount": "0.00"},
            {"stage": "proposal", "open": 1, "open_amount": "1200.50"},
            {"stage": "negotiation", "open": 0, "open_amount": "0.00"}],
            "open": 3, "open_amount": "1500.50"}
        if got["pipeline"] != want_pipe:
            raise TestFailure("fixture pipeline %r" % got["pipeline"])
        v = got["velocity"]
        # 3 open x 0.75 x 500.00 / 15 days = 75.00 a day
        if v["value"] != 75.0 or v["unit"] != "per day" or "cycle_days" not in v["formula"] or \
                v["inputs"] != {"open": 3, "win_rate": 0.75, "avg_won_amount": 500.0,
                                "cycle_days": 15.0}:
            raise TestFailure("velocity %r" % v)
        if got["cycle_days"] != 15.0 or got["avg_won_amount"] != 500.0 or \
                got["cycle_count"] != 2 or got["cycle_sum_ms"] != 30 * 86400000:
            raise TestFailure("cycle fields %r" % {k: got[k] for k in (
                "cycle_days", "avg_won_amount", "cycle_count", "cycle_sum_ms")})
        # the all window reads the pipeline from its own hash; no cycle there: no velocity
        got = api("/api/v1/funnel", scope="rep", id=rep, window="all")
        if got["pipeline"] != want_pipe or got["velocity"]["value"] is not None or \
                got["velocity"]["inputs"]["open"] != 3 or got["cycle_days"] is not None:
            raise TestFailure("all window: %r %r" % (got["pipeline"], got["velocity"]))
    finally:
        r.call("DEL", k_all, k_month)
    print("[http_api] pipeline equals the model; velocity and cycle fields typed", flush=True)


def check_scorecards(api, r, p, meta):
    """/scorecard and /ranking over fixture hashes and zsets written as the scorer writes them
    (docs/redis.md): every number typed, lines in definition order, adjustments parsed, the
    current-period aliases, ranking order (score, then id), team filter and limit."""
    period = "month:2025-11"
    card = {"scope": "rep", "id": "anna", "team": "north", "period": period,
            "start_ms": "1761955200000", "end_ms": "1764547200000", "clock_ms": "1764900000000",
            "elapsed": "1.0000", "state": "final", "score": "81.25", "grade": "B",
            "rank_org": "1", "rank_team": "1", "of_org": "3", "of_team": "2",
            "computed_ms": "1796500000123", "final_ms": "1796342400000",
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
            "conv:lead.fields": "advanced:lead=0 entered:lead=0 from month:2025-11",
            "complaints.value": "1", "complaints.samples": "1", "complaints.target": "2",
            "complaints.expected": "2.0000", "complaints.attainment": "2.0000",
            "complaints.points": "85.00", "complaints.weight": "20.00",
            "complaints.weight_used": "25.00", "complaints.weighted": "21.25",
            "complaints.direction": "lower", "complaints.status": "scored",
            "adjustments": "1", "adjusted_score": "83.10", "adjusted_grade": "B",
            "won_amount.adjusted_value": "46000.00"}
    adj = {"at_ms": 1796600000000, "clock_ms": 1796590000000, "kpi": "won_amount",
           "from": 45000.0, "to": 46000.0, "delta": 1000.0, "adjusted_score": 83.1,
           "adjusted_grade": "B", "events": [{"event_id": "e-late-1", "occurred_ms": 1795000000000}]}
    keys = [p + "score:rep:%s:anna" % period, p + "score:adj:rep:%s:anna" % period]
    flat = [x for kv in card.items() for x in kv]
    r.call("HSET", keys[0], *flat)
    r.call("RPUSH", keys[1], json.dumps(adj))
    # the ranking: anna 81.25, bob 81.25 (a tie: by id), cara 40; teams north, south
    others = {"bob": ("81.25", "B", "north"), "cara": ("40.00", "D", "south")}
    for rid, (sc, gr, tm) in others.items():
        keys.append(p + "score:rep:%s:%s" % (period, rid))
        r.call("HSET", keys[-1], "scope", "rep", "id", rid, "team", tm, "period", period,
               "score", sc, "grade", gr, "state", "final", "kpis", "")
    keys += [p + "rank:%s:rep" % period, p + "rank:%s:team:north" % period,
             p + "rank:%s:teams" % period, p + "score:team:%s:north" % period]
    r.call("ZADD", keys[-4], "81.25", "bob", "81.25", "anna", "40", "cara")
    r.call("ZADD", keys[-3], "81.25", "bob", "81.25", "anna")
    r.call("ZADD", keys[-2], "70.5", "north", "40", "south")
    r.call("HSET", keys[-1], "scope", "team", "id", "north", "period", period, "score", "70.50",
           "grade", "C", "state", "live", "kpis", "won_amount", "won_amount.value", "90000.00",
           "won_amount.target", "100000.00", "won_amount.target_source", "sum of 2 reps",
           "won_amount.status", "scored")
    # the current month, quarter and year by the aliases
    now_ids = {"month": meta["windows"]["month"], "quarter": meta["windows"]["quarter"],
               "year": "year:" + meta["windows"]["month"][6:10]}
    for alias, pid in now_ids.items():
        keys.append(p + "score:team:%s:south" % pid)
        r.call("HSET", keys[-1], "scope", "team", "id", "south", "period", pid, "score", "55.00",
               "grade", "D", "state", "live", "kpis", "")
    try:
        got = api("/api/v1/scorecard", scope="rep", id="anna", period=period)
        want_top = {"scope": "rep", "id": "anna", "team": "north", "period": period,
                    "state": "final", "start": "2025-11-01T00:00:00Z",
                    "end": "2025-12-01T00:00:00Z", "start_ms": 1761955200000,
                    "end_ms": 1764547200000, "clock_ms": 1764900000000,
                    "computed_ms": 1796500000123, "final_ms": 1796342400000, "elapsed": 1.0,
                    "score": 81.25, "grade": "B", "rank_org": 1, "of_org": 3, "rank_team": 1,
                    "of_team": 2, "adjustment_count": 1, "adjusted_score": 83.1,
                    "adjusted_grade": "B", "adjustments": [adj]}
        for k, want in want_top.items():
            if got[k] != want or type(got[k]) is not type(want):
                raise TestFailure("scorecard %s: %r, wrote %r" % (k, got[k], want))
        if [x["kpi"] for x in got["kpis"]] != ["won_amount", "conv:lead", "complaints"]:
            raise TestFailure("scorecard lines out of the definition's order: %r" % got["kpis"])
        for line in got["kpis"]:
            kpi = line["kpi"]
            for f, v in line.items():
                if f == "kpi":
                    continue
                stored = card.get(kpi + "." + f)
                if f in ("status", "direction", "target_source", "fields"):
                    want = stored
                else:
                    want = None if stored is None else (int(stored) if stored.isdigit() else float(stored))
                if v != want or (want is not None and type(v) is not type(want) and
                                 not isinstance(v, (int, float))):
                    raise TestFailure("scorecard %s.%s: %r, stored %r" % (kpi, f, v, stored))
        if got["kpis"][1]["value"] is not None or got["kpis"][1]["status"] != "no_data":
            raise TestFailure("a no_data line: %r" % got["kpis"][1])
        team = api("/api/v1/scorecard", scope="team", id="north", period=period)
        if team["score"] != 70.5 or team["team"] is not None or team["adjustments"] != [] or \
                team["kpis"][0]["target_source"] != "sum of 2 reps":
            raise TestFailure("team scorecard %r" % team)
        for alias, pid in now_ids.items():
            got = api("/api/v1/scorecard", scope="team", id="south", period=alias)
            if got["period"] != pid or got["score"] != 55.0:
                raise TestFailure("period=%s: %r (expected %s)" % (alias, got["period"], pid))
        # ranking: best first, the tie by id; grades from the scorecards
        rk = api("/api/v1/ranking", period=period)
        rows = [(x["rank"], x["id"], x["score"], x["grade"], x["team"]) for x in rk["rows"]]
        if rk["total"] != 3 or rows != [(1, "anna", 81.25, "B", "north"),
                                        (2, "bob", 81.25, "B", "north"),
                                        (3, "cara", 40.0, "D", "south")]:
            raise TestFailure("ranking %r" % rk)
        if rk["rows"][0]["adjusted_score"] != 83.1 or rk["rows"][1]["adjusted_score"] is not None:
            raise TestFailure("ranking adjusted scores %r" % rk["rows"][:2])
        rk = api("/api/v1/ranking", period=period, team="north", limit=1)
        if rk["total"] != 2 or [x["id"] for x in rk["rows"]] != ["anna"] or rk["team"] != "north":
            raise TestFailure("ranking of team north, limit 1: %r" % rk)
        rk = api("/api/v1/ranking", period=period, scope="team")
        if [(x["id"], x["score"], x["grade"]) for x in rk["rows"]] != [("north", 70.5, "C"),
                                                                        ("south", 40.0, None)]:
            raise TestFailure("team ranking %r" % rk)
        rk = api("/api/v1/ranking", period="year:1999")
        if rk["total"] != 0 or rk["rows"] != []:
            raise TestFailure("an empty ranking %r" % rk)
    finally:
        r.call("DEL", *keys)
    print("[http_api] scorecards and rankings typed and ordered", flush=True)


def raw_get(s, path):
    """GET path on the open socket s; its answer's head (the body, JSON, is read up to its '}')."""
    s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())
    got = b""
    while not got.endswith(b"}"):  # bounded by the socket's timeout
        chunk = s.recv(4096)
        if not chunk:
            raise TestFailure("an idle keep-alive connection was closed by the server: %r" % got)
        got += chunk
    return got.split(b"\r\n\r\n", 1)[0]


def http_exc():
    import http.client
    return http.client.HTTPException


if __name__ == "__main__":
    harness.run("http_api", __doc__, body)
