#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The dashboard in a real browser (headless Debian chromium through chromium-driver and
python3-selenium): redis-server, the mock cluster, funneld and funnel-web on free ports; a known
dataset; the page must show the independent model's numbers for the org (all time), a team (a
chosen day, picked with the selectors) and a rep (a link with the view in its hash); the
leaderboard must sort by the clicked column; more events must show up without a reload; the
language switch must show Chinese labels and be remembered; screenshots land in
<build>/artifacts/. Skipped (exit 77) only when chromium, chromium-driver or selenium is missing."""

import json
import os
import shutil
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import model  # noqa: E402

SKIP = 77  # ctest: SKIP_RETURN_CODE (tests/CMakeLists.txt)
WAIT_S = 30  # the bound of every wait for the page


def browser_missing():
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None:
            return "%s is not installed (apt-get install chromium chromium-driver; scripts/deps)" % tool
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is not installed (apt-get install python3-selenium; scripts/deps)"
    return None


# ----------------------------------------------------------------------------------------------
# The page's number formats, computed independently from the model's stored strings


def js_fixed(x, digits):
    """Number.prototype.toFixed on the double x: the exact binary value, ties upwards."""
    q = Decimal(1).scaleb(-digits)
    return str(Decimal(x).quantize(q, rounding=ROUND_HALF_UP))


def pct(text):
    return "–" if text is None else js_fixed(float(text) * 100.0, 1) + "%"


def days(text):
    return "–" if text is None else js_fixed(float(text) / 24.0, 1)


def count(text):
    return "{:,}".format(int(text or "0"))


def money(text):
    whole, frac = (text or "0.00").split(".")
    return "{:,}".format(int(whole)) + "." + frac


def expected_view(h, stages):
    """{data-testid: text} the page must show for one stored hash (a dict of strings)."""
    g = h.get
    exp = {"kpi-deals": count(g("entered:" + stages[0])), "kpi-won": count(g("won")),
           "kpi-lost": count(g("lost")), "kpi-win-rate": pct(g("win_rate")),
           "kpi-won-amount": money(g("won_amount"))}
    for i, s in enumerate(stages):
        last = i == len(stages) - 1
        exp["entered-" + s] = count(g("entered:" + s))
        exp["conv-" + s] = "" if last else pct(g("conv:" + s))
        exp["lost-" + s] = "" if last else count(g("lost_at:" + s))
        exp["days-" + s] = "" if last else days(g("dwell_hours:" + s))
    return exp


# ----------------------------------------------------------------------------------------------
# funnel-web


def start_web(h, **extra):
    """funnel-web on a free port, reading the harness's Redis (extra settings: a__b=v for
    a.b=v); returns its base URL."""
    try:
        import web  # tests/support/web.py, the API tests' helper
        if hasattr(web, "start_web"):
            return web.start_web(h, **extra)
    except ImportError:
        pass
    exe = h.bin("funnel-web")
    if not os.access(exe, os.X_OK):
        raise harness.TestFailure("funnel-web not built in %s" % h.build)
    settings = {"redis.host": "127.0.0.1", "redis.port": str(h.redis_port),
                "redis.prefix": h.prefix, "funnel.timezone": h.tz,
                "web.listen": "127.0.0.1:0", "http.listen": "off", "log.level": "info"}
    settings.update({k.replace("__", "."): str(v) for k, v in extra.items()})
    argv = [exe]
    for k, v in settings.items():
        argv += ["--set", "%s=%s" % (k, v)]
    p = harness.Proc("funnel-web", argv, h.logpath("funnel-web"))
    h.procs.append(p)
    deadline = time.time() + 15
    marker = "web: serving http://"
    while time.time() < deadline:
        with open(h.logpath("funnel-web"), encoding="utf-8", errors="replace") as f:
            for line in f:
                i = line.find(marker)
                if i >= 0:
                    return "http://" + line[i + len(marker):].split()[0].rstrip("/")
        if not p.alive():
            break
        time.sleep(0.05)
    raise harness.TestFailure("funnel-web did not log '%s...':\n%s" % (marker, p.tail()))


# ----------------------------------------------------------------------------------------------
# The browser


class Page:
    def __init__(self, h, base):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        self.base = base
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=h.tmp)
        o = webdriver.ChromeOptions()
        for a in ("--headless=new", "--disable-dev-shm-usage", "--disable-gpu",
                  "--user-data-dir=" + self.profile, "--window-size=1400,2000",
                  "--no-first-run", "--disable-extensions", "--lang=en-GB"):
            o.add_argument(a)
        if os.geteuid() == 0:
            o.add_argument("--no-sandbox")
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=Service(shutil.which("chromedriver"),
                                                  log_output=h.logpath("chromedriver")),
                                  options=o)
        self.d.set_page_load_timeout(WAIT_S)
        self.d.set_script_timeout(WAIT_S)

    def quit(self):
        try:
            self.d.quit()
        except Exception:  # the browser may be gone already
            pass

    def open(self, path):
        self.d.get(self.base + path)

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def texts(self, ids):
        return self.js("const o = {}; for (const id of arguments[0]) {"
                       " const e = document.querySelector('[data-testid=\"' + id + '\"]');"
                       " o[id] = e ? e.textContent.trim() : null; } return o;", list(ids))

    def wait(self, what, fn, timeout=WAIT_S):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            ok, last = fn()
            if ok:
                return last
            time.sleep(0.1)
        raise harness.TestFailure("the page did not show %s within %d s; it shows %s\nconsole: %s"
                                  % (what, timeout, last, self.console()))

    def wait_numbers(self, what, exp, timeout=WAIT_S):
        def probe():
            got = self.texts(exp)
            diff = {k: (got[k], v) for k, v in exp.items() if got[k] != v}
            return not diff, diff
        self.wait(what + " (shown, expected)", probe, timeout)
        print("[web_page] %s: %d numbers as the model says (e.g. deals %s, win rate %s, won %s)"
              % (what, len(exp), exp["kpi-deals"], exp["kpi-win-rate"], exp["kpi-won-amount"]),
              flush=True)

    def console(self):
        try:
            return ["%s %s" % (e.get("level"), e.get("message")) for e in self.d.get_log("browser")]
        except Exception:
            return []


def select(page, testid, value):
    page.js("const e = document.querySelector('[data-testid=\"' + arguments[0] + '\"]');"
            "e.value = arguments[1]; e.dispatchEvent(new Event('change'));", testid, value)


# ----------------------------------------------------------------------------------------------


def body(h, args):
    h.tz = "Asia/Shanghai"
    now_ms = int(time.time() * 1000)
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now_ms / 1000 - 4 * 86400))
    gen = model.Generator(args.seed, args.events or 3000, start=start, days=3, n_reps=12,
                          n_teams=4, big_payloads=False, huge_amount=False)
    msgs = gen.generate()
    mdl = model.Model(tz=h.tz, prefix=h.prefix).run(msgs)
    stages = mdl.stages
    h.start_redis()
    h.start_mock()
    nxt = h.produce(msgs)
    rules = {"locale": "en", "clock": "wall", "evaluate_every": "1s",
             "managers": {t: "Manager %d" % i for i, t in enumerate(model.TEAM_NAMES[:4])},
             "rules": [{"name": "team-win-rate", "kpi": "win_rate", "scope": "team",
                        "window": "30d", "severity": "warning",
                        "threshold": {"op": "<", "value": 0.99}, "min_samples": 1}]}
    rules_path = os.path.join(h.tmp, "rules.json")
    with open(rules_path, "w", encoding="utf-8") as f:
        json.dump(rules, f, ensure_ascii=False)
    h.start_funneld("A", http__listen="off", alerts__rules=rules_path)
    h.wait_done(nxt, timeout=120)
    base = start_web(h, alerts__rules=rules_path)
    print("[web_page] funnel-web at %s; %d messages applied" % (base, len(msgs)), flush=True)

    exp = mdl.expected_hashes()
    p = h.prefix + ":"

    def hash_of(key):
        return exp.get(p + key, {})

    page = Page(h, base)
    try:
        # -- the org, all time, from a link
        page.open("/?lang=en#scope=org&window=all&board=rep&by=won_amount&order=desc")
        page.wait_numbers("org, all time", expected_view(hash_of("org:all"), stages))
        lang = page.js("return document.documentElement.lang")
        if lang != "en":
            raise harness.TestFailure("<html lang> is %r, expected 'en'" % lang)

        # -- the leaderboard: reps by won amount, then by deals won after a click
        reps = {k[len(p + "rep:all:"):]: v for k, v in exp.items() if k.startswith(p + "rep:all:")}

        def top(field, money_field):
            def key(item):
                v = item[1].get(field, "0")
                return (-(model.llround_hundredths(v) if money_field else int(v)), item[0])
            rid, hh = sorted(reps.items(), key=key)[0]
            return rid, hh

        rid, hh = top("won_amount", True)
        page.wait("the top rep by won amount %r (%s)" % (rid, money(hh.get("won_amount"))),
                  lambda: board_first(page, rid, "board-won-amount", money(hh.get("won_amount"))))
        page.js("document.querySelector('th[data-by=\"won\"] button').click()")
        rid2, hh2 = top("won", False)
        page.wait("the top rep by deals won %r (%s)" % (rid2, count(hh2.get("won"))),
                  lambda: board_first(page, rid2, "board-won", count(hh2.get("won"))))
        if "by=won" not in page.js("return location.hash"):
            raise harness.TestFailure("the sort is not in the URL hash")
        print("[web_page] leaderboard: %r first by won amount, %r first by deals won"
              % (rid, rid2), flush=True)

        # -- the alerts firing now: every team's win rate is under 99 % (the rule above)
        def alerts_shown():
            rows = page.js("return [...document.querySelectorAll('#alert-rows tr')].map(r =>"
                           " [...r.querySelectorAll('td')].map(c => c.textContent.trim()))")
            return len(rows) > 0 and page.js(
                "return document.querySelectorAll('#history-rows tr').length") > 0, rows
        rows = page.wait("firing alerts and their history", alerts_shown)
        for who, manager, kpi, value, bound, since in rows:
            team = who[len("Team "):]
            if (not who.startswith("Team ") or manager != rules["managers"].get(team, "–")
                    or kpi != "Win rate" or bound != "99.0%"
                    or not value.endswith("%") or not since):
                raise harness.TestFailure("a firing alert reads %r: expected the team, its "
                                          "manager, 'Win rate', a percentage, the bound 99.0%% "
                                          "and a start" % ([who, manager, kpi, value, bound,
                                                            since],))
        print("[web_page] %d alerts firing, e.g. %s" % (len(rows), rows[0]), flush=True)

        shots = os.path.join(h.build, "artifacts")
        os.makedirs(shots, exist_ok=True)

        # -- a team on a chosen day, with the selectors
        days_ = {}
        for k, v in exp.items():
            if k.startswith(p + "team:day:"):
                d, team = k[len(p + "team:day:"):].split(":", 1)
                days_[(d, team)] = int(v.get("entered:" + stages[0], "0"))
        (day, team), _ = max(days_.items(), key=lambda kv: (kv[1], kv[0]))
        select(page, "scope", "team")
        page.wait("the team picker", lambda: (page.js(
            "return !document.getElementById('team-label').hidden && "
            "[...document.querySelectorAll('#team option')].some(o => o.value === arguments[0])",
            team), None))
        select(page, "team", team)
        select(page, "window", "day")
        page.js("const e = document.getElementById('day'); e.value = arguments[0];"
                "e.dispatchEvent(new Event('change'));", day[len("day:"):] if day.startswith("day:")
                else day)
        page.wait_numbers("team %r on %s" % (team, day),
                          expected_view(hash_of("team:day:%s:%s" % (day, team)), stages))

        # -- a rep, from a link holding the view (the hash alone reopens it)
        link = page.js("return location.hash")
        if "scope=team" not in link or "window=day" not in link:
            raise harness.TestFailure("the URL hash does not hold the view: %r" % link)
        from urllib.parse import urlencode
        page.open("/#" + urlencode({"scope": "rep", "id": rid, "window": "all"}))
        page.wait_numbers("rep %r, all time (from a link)" % rid,
                          expected_view(hash_of("rep:all:" + rid), stages))
        page.js("window.__fdLoadMarker = 'still-here';")

        # -- the pipeline, velocity and scorecard panels, on fixture hashes written as funneld
        #    and its scorer write them (docs/redis.md), for a rep of the current month
        check_score_panels(h, page, p, shots)

        # -- live: more events, no reload
        page.open("/#scope=org&window=all&board=rep&by=won_amount&order=desc")
        page.wait_numbers("org, all time (again)", expected_view(hash_of("org:all"), stages))
        page.js("window.__fdLoadMarker = 'still-here';")
        before = page.texts(["last-update"])["last-update"]
        status = page.wait("a feed status", lambda: (lambda s: (s in ("live", "idle", "behind",
                                                                     "stalled"), s))(
            page.js("return document.querySelector('[data-testid=feed-status]').dataset.status")))
        print("[web_page] feed status %s, last update %s" % (status, before), flush=True)
        more = []
        t = int(time.time() * 1000)
        rteam = dict(gen.reps).get(rid) or "unassigned"
        for i in range(5):
            ev = model.Event(event_id="web-live-%d" % i, type="deal.created", t_ms=t + i,
                             rep=rid, team=rteam, deal="live-deal-%d" % i, stage=0)
            more.append(gen.make(ev, ev.deal))
        won = model.Event(event_id="web-live-won", type="deal.won", t_ms=t + 10, rep=rid,
                          team=rteam, deal="live-deal-0", amount_c=123456)
        more.append(gen.make(won, won.deal, amount_text="1234.56"))
        mdl.run(more)
        exp = mdl.expected_hashes()
        h.produce(more)
        page.wait_numbers("org, all time, after 6 more events (live)",
                          expected_view(hash_of("org:all"), stages))
        marker = page.js("return window.__fdLoadMarker")
        if marker != "still-here":
            raise harness.TestFailure("the page reloaded to show the new events (marker %r)"
                                      % marker)
        after = page.texts(["last-update"])["last-update"]
        print("[web_page] live: updated without a reload; last update %s -> %s"
              % (before, after), flush=True)
        settle(page)
        path = os.path.join(shots, "dashboard.png")
        page.d.save_screenshot(path)
        print("[web_page] screenshot %s" % path, flush=True)

        # -- Chinese, remembered
        page.js("document.querySelector('[data-testid=lang-switch]').click()")
        want = ["销售漏斗", "转化率", "赢单率", "平均停留天数", "赢单金额"]

        def chinese():
            text = page.js("return document.body.innerText")
            missing = [w for w in want if w not in text]
            return not missing and page.js("return document.documentElement.lang") == "zh-CN", \
                missing
        page.wait("Chinese labels %s" % want, chinese)
        page.d.refresh()
        page.wait("Chinese labels after a reload (remembered)", chinese)
        page.wait_numbers("org, all time, in Chinese", expected_view(hash_of("org:all"), stages))
        settle(page)
        path = os.path.join(shots, "dashboard-zh.png")
        page.d.save_screenshot(path)
        print("[web_page] Chinese labels, remembered across a reload; screenshot %s" % path,
              flush=True)
        errors = [m for m in page.console() if "SEVERE" in m or "Content Security" in m]
        if errors:
            raise harness.TestFailure("browser console errors: %s" % errors)
    finally:
        page.quit()


def check_score_panels(h, page, p, shots):
    from urllib.parse import urlencode
    month = page.js("return window.funneldDashboard.meta.windows.month")
    r = h.redis()
    rid = "zz-page-rep"
    keys = [p + "rep:all:" + rid, p + "rep:%s:%s" % (month, rid),
            p + "score:rep:%s:%s" % (month, rid), p + "score:adj:rep:%s:%s" % (month, rid),
            p + "rank:%s:rep" % month, p + "rank:%s:team:north" % month,
            p + "score:rep:%s:zz-other" % month]
    r.call("HSET", keys[0], "open:lead", "2", "open_amount:lead", "300.00", "open:proposal", "1",
           "open_amount:proposal", "1200.50", "open", "3", "open_amount", "1500.50")
    # 3 won, 1 lost, 1500.00 won, cycles of 10 and 20 days: 3 x 0.75 x 500.00 / 15 = 75.00 a day
    r.call("HSET", keys[1], "won", "3", "lost", "1", "won_amount", "1500.00", "win_rate", "0.7500",
           "cycle_sum_ms", str(30 * 86400000), "cycle_count", "2", "cycle_days", "15.00",
           "avg_won_amount", "500.00")
    card = {"scope": "rep", "id": rid, "team": "north", "period": month, "state": "final",
            "final_ms": str(int(time.time() * 1000)), "elapsed": "1.0000", "score": "81.25",
            "grade": "B", "rank_org": "1", "of_org": "2", "rank_team": "1", "of_team": "2",
            "kpis": "won_amount,conv:lead",
            "won_amount.value": "45000.00", "won_amount.target": "50000.00",
            "won_amount.expected": "50000.00", "won_amount.attainment": "0.9000",
            "won_amount.points": "80.00", "won_amount.weight": "60.00",
            "won_amount.weight_used": "75.00", "won_amount.weighted": "60.00",
            "won_amount.status": "scored", "won_amount.target_source": "targets[0]",
            "won_amount.fields": "won=9 won_amount=45000.00 from " + month,
            "conv:lead.weight": "40.00", "conv:lead.target": "0.3000",
            "conv:lead.status": "no_data", "adjustments": "1", "adjusted_score": "83.10",
            "adjusted_grade": "B"}
    r.call("HSET", keys[2], *[x for kv in card.items() for x in kv])
    r.call("RPUSH", keys[3], json.dumps({"at_ms": 1764990000000, "kpi": "won_amount",
                                         "from": 45000, "to": 46000, "delta": 1000,
                                         "adjusted_score": 83.1, "adjusted_grade": "B",
                                         "events": [{"event_id": "e-late-1"}]}))
    r.call("ZADD", keys[4], "81.25", rid, "40", "zz-other")
    r.call("ZADD", keys[5], "81.25", rid, "40", "zz-other")
    r.call("HSET", keys[6], "scope", "rep", "id", "zz-other", "team", "north", "grade", "D",
           "score", "40.00", "kpis", "")
    try:
        page.open("/#" + urlencode({"scope": "rep", "id": rid, "window": "month", "sp": "month"}))
        exp = {"open-lead": "2", "open-amount-lead": "300.00", "open-proposal": "1",
               "open-amount-proposal": "1,200.50", "open-qualified": "0", "open-total": "3",
               "open-amount-total": "1,500.50", "velocity-value": "75.00 per day",
               "velocity-formula": "= 3 open deals × 75.0% win rate × 500.00 avg won deal ÷ 15 "
                                   "avg days to win",
               "cycle-days": "15", "avg-won": "500.00",
               "score-grade": "B", "score-value": "81.25",
               "score-rank": "1 of 2 · 1 of 2 in the team",
               "score-value-won_amount": "45,000.00", "score-target-won_amount": "50,000.00",
               "score-expected-won_amount": "50,000.00", "score-attainment-won_amount": "90.0%",
               "score-points-won_amount": "80.00", "score-weight-won_amount": "60 → 75",
               "score-weighted-won_amount": "60.00", "score-status-won_amount": "scored",
               "score-value-conv:lead": "–", "score-target-conv:lead": "30.0%",
               "score-status-conv:lead": "no data (left out)",
               "adj-summary": "1 change(s) after the scorecard went final: adjusted score 83.10, "
                              "grade B (the grade above stays).",
               "rank-1": "1", "rank-2": "2"}

        def probe():
            got = page.texts(exp)
            diff = {k: (got[k], v) for k, v in exp.items() if got[k] != v}
            return not diff, diff
        page.wait("the pipeline, velocity and scorecard panels (shown, expected)", probe)
        names = page.js("return [...document.querySelectorAll('#ranking-rows tr')].map(r =>"
                        " [...r.querySelectorAll('td')].map(c => c.textContent.trim()))")
        if names != [["1", rid, "81.25", "B", "north"], ["2", "zz-other", "40.00", "D", "north"]]:
            raise harness.TestFailure("the ranking panel shows %r" % names)
        adj = page.js("return document.getElementById('adj-list').textContent")
        if "e-late-1" not in adj or "45,000.00" not in adj:
            raise harness.TestFailure("the adjustments list shows %r" % adj)
        time.sleep(0.5)
        path = os.path.join(shots, "dashboard-scorecard.png")
        page.js("document.querySelector('[data-testid=pipeline]').scrollIntoView()")
        page.d.save_screenshot(path)
        print("[web_page] pipeline, velocity, scorecard and ranking panels: %d texts as written; "
              "screenshot %s" % (len(exp) + 2, path), flush=True)
        # Chinese labels of the new panels
        page.js("document.querySelector('[data-testid=lang-switch]').click()")
        want = ["当前在途商机", "销售速度", "绩效评分卡", "排名榜", "达成率", "加权得分"]
        page.wait("Chinese labels of the new panels %s" % want, lambda: (lambda text: (
            all(w in text for w in want), [w for w in want if w not in text]))(
            page.js("return document.body.innerText")))
        page.js("document.querySelector('[data-testid=lang-switch]').click()")
    finally:
        r.call("DEL", *keys)
        r.close()


def settle(page):
    """Waits until the leaderboard has rows and the chart's animation is over (a screenshot)."""
    page.wait("the leaderboard's rows", lambda: (page.js(
        "return document.querySelectorAll('#board-rows tr').length > 0"), None))
    page.wait("the chart at rest", lambda: (page.js(
        "const c = window.Chart && Chart.getChart(document.getElementById('chart'));"
        "return !!c && !Chart.animator.running(c);"), None))
    time.sleep(0.3)


def board_first(page, rid, testid, value):
    got = page.js("const r = document.querySelector('#board-rows tr');"
                  "if (!r) return null;"
                  "const c = r.querySelector('[data-testid=\"' + arguments[0] + '\"]');"
                  "return [r.dataset.id, c ? c.textContent.trim() : null];", testid)
    return got == [rid, value], got


if __name__ == "__main__":
    why = browser_missing()
    if why:
        if os.environ.get("CI") == "true":  # CI installs the browser (scripts/deps): must run
            print("FAIL web_page: %s" % why, flush=True)
            sys.exit(1)
        print("SKIP web_page: %s" % why, flush=True)
        sys.exit(SKIP)
    harness.run("web_page", __doc__, body)
