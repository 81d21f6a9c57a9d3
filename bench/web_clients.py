#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Simulated dashboard clients for bench/run --web N: each behaves like web/app.js in a browser.

Each client, like the page:
  - boots: GET /, /assets/app.js, /assets/style.css, /assets/chart.js, /api/v1/meta, then
    /api/v1/status with /api/v1/teams + /api/v1/reps, then /api/v1/funnel, then (after the page's
    150 ms timer) the leaderboard (its rows carry the conversion column) and the alerts (/api/v1/alerts and
    /api/v1/alerts/history?limit=20); then opens /api/v1/stream?since=<the funnel's position>;
  - on an SSE event: `change` -> the page's onChange (funnel when a key of its scope/id/window
    changed, leaderboard when a key of the board's scope did, the lists when an unknown team or
    rep appeared); `bulk` -> everything, at most every 2 s (the page's BULK_MS);
    `resnapshot` -> everything; `alert` -> the alerts;
  - coalesces like the page's want()/flush(): the first wish arms a 150 ms timer, a round
    re-fetches what is pending, at most one round at a time (a timer that fires during a round
    re-arms 150 ms later); a round's requests run in parallel on at most 5 keep-alive
    connections (a browser's 6 per host, one held by the stream), the leaderboard after the
    lists when both are pending;
  - every 60 s re-fetches funnel and leaderboard when the window is an alias other than `all`;
  - reconnects the stream after its `retry:` (2 s) with Last-Event-ID, as EventSource does.
Views: client k shows scope org, team, rep (k mod 3) of --window; a team/rep client takes the
first team/rep of the lists once there is one (as the page's scope selector does).

It prints `ready` on stdout when every client has received its stream's first event, and on
SIGTERM writes its counters (requests by route and status, latencies, SSE events by kind,
rounds) as JSON to --out, then exits 0. Python 3 standard library only.
"""

import argparse
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

TIMER_S = 0.150  # the page's setTimeout(flush, 150)
BULK_S = 2.0  # the page's BULK_MS: re-reads for bulk entries at most this often
PARALLEL = 5  # a browser's 6 connections per host, one held by the event stream
ALIASES = ("today", "week", "month", "quarter", "all")


class Stats:
    """Counters shared by every client (one lock: the rates are low)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}  # route -> {status: count}
        self.latency = {}  # route -> [seconds...]
        self.errors = {}  # route -> count of failed requests (no HTTP answer)
        self.bytes = 0
        self.events = {}  # SSE event kind -> count
        self.event_bytes = 0
        self.rounds = 0
        self.reconnects = 0
        self.view_changes = 0

    def request(self, route, status, seconds, nbytes):
        with self.lock:
            by = self.requests.setdefault(route, {})
            by[str(status)] = by.get(str(status), 0) + 1
            self.latency.setdefault(route, []).append(seconds)
            self.bytes += nbytes

    def error(self, route):
        with self.lock:
            self.errors[route] = self.errors.get(route, 0) + 1

    def event(self, kind, nbytes):
        with self.lock:
            self.events[kind] = self.events.get(kind, 0) + 1
            self.event_bytes += nbytes

    def bump(self, name):
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def snapshot(self):
        with self.lock:
            lat = {}
            for route, xs in self.latency.items():
                s = sorted(xs)
                lat[route] = {"n": len(s), "mean_ms": 1000 * sum(s) / len(s),
                              "p50_ms": 1000 * s[len(s) // 2],
                              "p95_ms": 1000 * s[min(len(s) - 1, int(len(s) * 0.95))],
                              "max_ms": 1000 * s[-1]}
            return {"requests": self.requests, "latency": lat, "errors": self.errors,
                    "bytes": self.bytes, "events": self.events, "event_bytes": self.event_bytes,
                    "rounds": self.rounds, "reconnects": self.reconnects,
                    "view_changes": self.view_changes,
                    "requests_total": sum(sum(v.values()) for v in self.requests.values()),
                    "events_total": sum(self.events.values())}


def parse_key(k):
    """The page's parseKey: "rep:day:2026-11-22:anna" -> (scope, window, id); ids may hold ':'."""
    i = k.find(":")
    if i < 0:
        return None
    scope, rest = k[:i], k[i + 1:]
    if rest == "all" or rest.startswith("all:"):
        window, rest = "all", rest[4:]
    else:
        a = rest.find(":")
        b = -1 if a < 0 else rest.find(":", a + 1)
        window = rest if b < 0 else rest[:b]
        rest = "" if b < 0 else rest[b + 1:]
    return scope, window, rest


class Client:
    def __init__(self, index, args, stats, stop):
        self.index = index
        self.args = args
        self.stats = stats
        self.stop = stop
        self.scope = ("org", "team", "rep")[index % 3]
        self.id = ""
        self.window = args.window
        self.board = "rep"
        self.by = "won_amount"
        self.order = "desc"
        self.meta = None
        self.teams, self.reps = [], []
        self.resolved = None  # the resolved window of the last funnel answer
        self.position = None
        self.generation = 0
        self.cond = threading.Condition()
        self.pending = set()
        self.deadline = None  # when the page's timer fires; None: no timer armed
        self.last_bulk = 0.0  # monotonic time of the last re-read for a bulk entry
        self.bulk_timer = None  # the pending one (the page's st.bulkTimer)
        self.ready = threading.Event()
        self.local = threading.local()
        # HTTP requests run in pool (its threads hold the connections); the page's loads, which
        # wait for their requests, in orch.
        self.pool = ThreadPoolExecutor(max_workers=PARALLEL,
                                       thread_name_prefix="client%d" % index)
        self.orch = ThreadPoolExecutor(max_workers=4, thread_name_prefix="load%d" % index)

    # -- HTTP (one keep-alive connection per pool thread, as a browser reuses its six)

    def conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", self.args.port, timeout=60)
            self.local.conn = c
        return c

    def get(self, path, params=None, route=None):
        """GET path?params; the parsed JSON body for /api/ paths, else the raw body."""
        route = route or path
        url = path + ("?" + urllib.parse.urlencode(params) if params else "")
        headers = {"Accept": "application/json" if path.startswith("/api/") else "*/*"}
        if self.args.token:
            headers["Authorization"] = "Bearer " + self.args.token
        for attempt in (0, 1):
            c = self.conn()
            t0 = time.monotonic()
            try:
                c.request("GET", url, headers=headers)
                r = c.getresponse()
                body = r.read()
            except (OSError, http.client.HTTPException):
                # The server closed an idle keep-alive connection: once more on a new one.
                c.close()
                self.local.conn = None
                if attempt == 1 or self.stop.is_set():
                    self.stats.error(route)
                    raise
                continue
            self.stats.request(route, r.status, time.monotonic() - t0, len(body))
            if r.status != 200:
                raise RuntimeError("%s: HTTP %d %s" % (url, r.status, body[:200]))
            return json.loads(body) if path.startswith("/api/") else body
        raise RuntimeError("unreachable")

    # -- the page's loads

    def stages(self):
        return (self.meta or {}).get("stages") or []

    def by_field(self, by):
        if by == "entered":
            return "entered:" + self.stages()[0]
        if by == "conv":
            return "conv:" + self.stages()[0]
        return by

    def load_funnel(self, gen):
        p = {"scope": self.scope, "window": self.window}
        if self.scope != "org":
            if not self.id:
                return
            p["id"] = self.id
        f = self.pool.submit(self.get, "/api/v1/funnel", p).result()
        if gen != self.generation:
            return
        self.resolved = f.get("window")
        if self.position is None:
            self.position = f.get("position")

    def load_lists(self, gen):
        t = self.pool.submit(self.get, "/api/v1/teams", {"window": self.window})
        r = self.pool.submit(self.get, "/api/v1/reps", {"window": self.window})
        teams, reps = t.result(), r.result()
        if gen != self.generation:
            return
        self.teams = teams.get("teams") or []
        self.reps = reps.get("reps") or []

    def board_params(self):
        p = {"scope": self.board, "window": self.window, "limit": "20", "order": self.order}
        if self.board == "rep":
            team = None
            if self.scope == "team" and self.id:
                team = self.id
            if self.scope == "rep" and self.id:
                for x in self.reps:
                    if x.get("id") == self.id and x.get("team"):
                        team = x["team"]
            if team:
                p["team"] = team
        return p

    def load_board(self, gen):
        p = self.board_params()
        p["by"] = self.by_field(self.by)
        self.pool.submit(self.get, "/api/v1/leaderboard", p).result()

    def load_alerts(self):
        a = self.pool.submit(self.get, "/api/v1/alerts")
        h = self.pool.submit(self.get, "/api/v1/alerts/history", {"limit": "20"},
                             "/api/v1/alerts/history")
        a.result()
        h.result()

    # -- want() / flush()

    def want(self, *what):
        with self.cond:
            self.pending.update(what)
            if self.deadline is None:
                self.deadline = time.monotonic() + TIMER_S
            self.cond.notify()

    def refresh_all(self):
        self.want("lists", "funnel", "board", "alerts")

    def on_bulk(self):
        """The page's onBulk: everything, at most every BULK_S."""
        with self.cond:
            if self.bulk_timer is not None:
                return
            wait = self.last_bulk + BULK_S - time.monotonic()

            def go():
                with self.cond:
                    self.bulk_timer = None
                    self.last_bulk = time.monotonic()
                self.refresh_all()
            if wait > 0:
                self.bulk_timer = threading.Timer(wait, go)
                self.bulk_timer.daemon = True
                self.bulk_timer.start()
                return
            self.bulk_timer = True  # taken: go() clears it
        go()

    def flush_loop(self):
        while not self.stop.is_set():
            with self.cond:
                while not self.stop.is_set() and (
                        self.deadline is None or self.deadline > time.monotonic()):
                    wait = None if self.deadline is None else self.deadline - time.monotonic()
                    self.cond.wait(timeout=min(1.0, wait) if wait is not None else 1.0)
                if self.stop.is_set():
                    return
                self.deadline = None
                todo, self.pending = self.pending, set()
            if not todo:
                continue
            self.round(todo)
            with self.cond:
                # The page's timer, armed by a wish during the round, fired while it was busy
                # and re-armed itself every 150 ms until the round ended.
                now = time.monotonic()
                while self.deadline is not None and self.deadline < now:
                    self.deadline += TIMER_S

    def round(self, todo):
        self.stats.bump("rounds")
        gen = self.generation
        jobs = []
        lists = None
        if "lists" in todo:
            lists = self.orch.submit(self.load_lists, gen)
            jobs.append(lists)
        if "funnel" in todo:
            jobs.append(self.orch.submit(self.load_funnel, gen))
        if "alerts" in todo:
            jobs.append(self.orch.submit(self.load_alerts))
        if "board" in todo:
            if lists is not None:
                try:
                    lists.result()
                except Exception:
                    pass
            jobs.append(self.orch.submit(self.load_board, gen))
        for j in jobs:
            try:
                j.result()
            except Exception as e:  # the page shows the error and goes on
                if not self.stop.is_set():
                    print("client %d: %s" % (self.index, e), file=sys.stderr, flush=True)
        self.adopt_id()

    def adopt_id(self):
        """A team or rep view with no id takes the first of its list, as the scope selector does
        (the page's setView: a new generation, everything re-fetched)."""
        if self.scope == "org" or self.id:
            return
        lst = self.teams if self.scope == "team" else self.reps
        if lst:
            self.id = lst[0]["id"]
            self.board = "rep"
            self.generation += 1
            self.resolved = None
            self.stats.bump("view_changes")
            self.refresh_all()

    # -- the event stream

    def on_change(self, data):
        shown = self.resolved
        funnel = board = lists = False
        team_ids = {x.get("id") for x in self.teams}
        rep_ids = {x.get("id") for x in self.reps}
        for k in data.get("keys") or []:
            p = parse_key(k)
            if not p or p[1] != shown:
                continue
            scope, _, kid = p
            if scope == self.scope and (self.scope == "org" or kid == self.id):
                funnel = True
            if scope == self.board:
                board = True
            if scope == "team" and kid not in team_ids:
                lists = True
            if scope == "rep" and kid not in rep_ids:
                lists = True
        if funnel:
            self.want("funnel")
        if board:
            self.want("board")
        if lists:
            self.want("lists")

    def dispatch(self, kind, data, nbytes):
        self.stats.event(kind, nbytes)
        self.ready.set()
        if kind == "change":
            try:
                self.on_change(json.loads(data))
            except ValueError:
                pass
        elif kind == "bulk":
            self.on_bulk()
        elif kind == "resnapshot":
            self.refresh_all()
        elif kind == "alert":
            self.want("alerts")

    def stream_loop(self):
        last_id = None
        retry = 2.0
        first = True
        while not self.stop.is_set():
            if not first:
                self.stats.bump("reconnects")
                self.stop.wait(retry)
                if self.stop.is_set():
                    return
            first = False
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if last_id:
                headers["Last-Event-ID"] = last_id
            if self.args.token:
                headers["Authorization"] = "Bearer " + self.args.token
            url = "/api/v1/stream"
            if self.position and not last_id:
                url += "?since=" + urllib.parse.quote(self.position)
            c = http.client.HTTPConnection("127.0.0.1", self.args.port, timeout=120)
            try:
                c.request("GET", url, headers=headers)
                r = c.getresponse()
                self.stats.request("/api/v1/stream", r.status, 0.0, 0)
                if r.status != 200:
                    r.read()
                    continue
                buf = b""
                kind, data, nbytes = "message", [], 0
                while not self.stop.is_set():
                    chunk = r.read1(65536)
                    if not chunk:
                        break
                    buf += chunk
                    while True:
                        nl = buf.find(b"\n")
                        if nl < 0:
                            break
                        line, buf = buf[:nl].rstrip(b"\r"), buf[nl + 1:]
                        nbytes += nl + 1
                        if not line:
                            if data:
                                self.dispatch(kind, "\n".join(data), nbytes)
                            kind, data, nbytes = "message", [], 0
                            continue
                        if line.startswith(b":"):
                            continue
                        name, _, value = line.decode("utf-8", "replace").partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if name == "event":
                            kind = value
                        elif name == "data":
                            data.append(value)
                        elif name == "id":
                            last_id = value
                        elif name == "retry" and value.isdigit():
                            retry = int(value) / 1000
            except (OSError, http.client.HTTPException) as e:
                if not self.stop.is_set():
                    print("client %d: stream: %s" % (self.index, e), file=sys.stderr, flush=True)
            finally:
                c.close()

    # -- boot

    def boot(self):
        for path in ("/", "/assets/app.js", "/assets/style.css", "/assets/chart.js"):
            self.get(path)
        while True:
            try:
                self.meta = self.get("/api/v1/meta")
                break
            except Exception:
                if self.stop.wait(3.0):  # the page retries after 3 s
                    return
        status = self.pool.submit(self.get, "/api/v1/status")
        self.load_lists(self.generation)
        self.adopt_id()
        self.load_funnel(self.generation)
        status.result()
        self.want("board", "alerts")
        threading.Thread(target=self.flush_loop, daemon=True).start()
        threading.Thread(target=self.stream_loop, daemon=True).start()
        if self.window in ALIASES and self.window != "all":
            threading.Thread(target=self.minute_loop, daemon=True).start()

    def minute_loop(self):
        while not self.stop.wait(60.0):
            self.want("funnel", "board")


def main():
    ap = argparse.ArgumentParser(description="N simulated dashboard clients of funnel-web "
                                             "(the behaviour of web/app.js)")
    ap.add_argument("--port", type=int, required=True, help="funnel-web's port on 127.0.0.1")
    ap.add_argument("--clients", type=int, default=5)
    ap.add_argument("--window", default="all",
                    help="the window every client shows (default all: the page's default, "
                         "today, would show nothing of a benchmark load stamped in the past)")
    ap.add_argument("--token", default=os.environ.get("FUNNELD_HTTP_TOKEN", ""),
                    help="http.token, when funnel-web has one")
    ap.add_argument("--out", required=True, help="where to write the counters on SIGTERM")
    args = ap.parse_args()

    stats = Stats()
    stop = threading.Event()
    clients = [Client(k, args, stats, stop) for k in range(args.clients)]

    def finish(signum, frame):
        stop.set()
        snap = stats.snapshot()
        snap["clients"] = args.clients
        snap["window"] = args.window
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(snap, f, indent=1, sort_keys=True)
        os.replace(tmp, args.out)
        os._exit(0)  # the client threads block in socket reads: do not wait for them

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    for c in clients:
        threading.Thread(target=c.boot, daemon=True).start()
    while not all(c.ready.is_set() for c in clients):
        time.sleep(0.05)
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
