# SPDX-License-Identifier: MIT
"""Integration-test harness: a private redis-server, the mock Kafka cluster (fd-mockcluster),
fd-produce and funneld processes, all started in a temp dir and stopped by PID whatever happens;
a minimal RESP client; waiting for funneld to reach the produced offsets; and the field-by-field
comparison of Redis with the model (tests/support/model.py).

Python 3 standard library, plus python3-jsonschema for the messages checked against
docs/schemas (tests/support/schemas.py).
"""

import argparse
import atexit
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model  # noqa: E402

TOPIC = "crm.events"
DLQ_TOPIC = "crm.events.dlq"
METRICS_TOPIC = "funnel.metrics"
# The single keys of the feeds (docs/redis.md), after "<prefix>:"
FEED_KEYS = ("parts", "changes", "feed", "metrics:dirty", "metrics:taken", "metrics:publisher",
             "metrics:lease", "rep_team", "rep_team:at", "late")
PARTITIONS = 8


class TestFailure(Exception):
    """A check failed; the message says which and what was found."""


# ----------------------------------------------------------------------------------------------
# RESP client


class RespError(Exception):
    pass


class Redis:
    """A small blocking RESP2 client: call() for one command, pipeline() for many."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode("utf-8")
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _bytes(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n + 2
        return data

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest
        if t == b"-":
            return RespError(rest.decode("utf-8", "replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._bytes(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError("unexpected RESP reply %r" % line[:80])

    def call(self, *args):
        self.sock.sendall(self.encode(args))
        r = self._reply()
        if isinstance(r, RespError):
            raise r
        return r

    def pipeline(self, cmds):
        """Sends all commands, then reads all replies (errors returned as RespError values)."""
        out = []
        for i in range(0, len(cmds), 1000):
            part = cmds[i:i + 1000]
            self.sock.sendall(b"".join(self.encode(c) for c in part))
            out.extend(self._reply() for _ in part)
        return out

    def scan_all(self, match):
        keys = []
        cursor = b"0"
        while True:
            cursor, batch = self.call("SCAN", cursor, "MATCH", match, "COUNT", 2000)
            keys.extend(batch)
            if cursor == b"0":
                return keys


def pairs_to_dict(items):
    return {items[i]: items[i + 1] for i in range(0, len(items), 2)}


# ----------------------------------------------------------------------------------------------
# Processes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process with its output in a log file; stopped by PID."""

    def __init__(self, name, argv, log_path, env=None, stdin=None, stdout=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.log.write(("### %s: %s\n" % (name, " ".join(argv))).encode())
        self.log.flush()
        self.popen = subprocess.Popen(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                      stdout=stdout if stdout is not None else self.log,
                                      stderr=self.log, env=env)
        self.pid = self.popen.pid
        self.stopped = False  # SIGSTOPped by the test

    def alive(self):
        return self.popen.poll() is None

    def send(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=10.0, sig=signal.SIGTERM):
        """Sends sig (SIGCONT first if stopped) and waits; SIGKILL after timeout. Exit code."""
        if self.alive():
            try:
                if self.stopped:
                    os.kill(self.pid, signal.SIGCONT)
                    self.stopped = False
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait(timeout) is None:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
        self.log.close()
        return self.popen.returncode

    def tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(data[-lines:])


# ----------------------------------------------------------------------------------------------
# The harness


class Harness:
    def __init__(self, name, args):
        self.name = name
        self.args = args
        self.build = os.path.abspath(args.build_dir)
        self.source = os.path.abspath(args.source_dir)
        self.tmp = tempfile.mkdtemp(prefix="fd-%s-" % name)
        self.procs = []
        self.funnelds = []
        self.redis_proc = None
        self.redis_port = None
        self.redis_dir = None
        self.bootstrap = None
        self.prefix = "it%d" % random.randrange(1000, 9999)
        self.tz = "Asia/Shanghai"
        self.group = "fd-it-%s" % name
        self.mock = None
        self._cleaned = False
        atexit.register(self.cleanup)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        for tool in ("funneld", "fd-mockcluster", "fd-produce"):
            if not os.access(self.bin(tool), os.X_OK):
                raise TestFailure("%s not built in %s" % (tool, self.build))
        print("[%s] temp dir %s" % (name, self.tmp), flush=True)

    def _on_signal(self, sig, frame):
        raise SystemExit("signal %d" % sig)

    def bin(self, tool):
        return os.path.join(self.build, tool)

    def logpath(self, name):
        return os.path.join(self.tmp, name + ".log")

    # -- redis

    def start_redis(self, appendonly=False, fresh=False, port=None):
        """Starts redis-server on a free (or the given) loopback port in a data dir of the temp
        dir; fresh=True uses a new, empty dir."""
        if self.redis_dir is None or fresh:
            self.redis_dir = tempfile.mkdtemp(prefix="redis-", dir=self.tmp)
        self.redis_port = port or self.redis_port or free_port()
        argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                "--dir", self.redis_dir, "--save", "", "--daemonize", "no",
                "--appendonly", "yes" if appendonly else "no", "--loglevel", "warning"]
        if appendonly:
            argv += ["--appendfsync", "everysec"]
        p = Proc("redis", argv, self.logpath("redis"))
        self.procs.append(p)
        self.redis_proc = p
        deadline = time.time() + 15
        while True:
            try:
                r = Redis(self.redis_port, timeout=2)
                r.call("PING")
                r.close()
                break
            except (OSError, ConnectionError, RespError):
                if not p.alive() or time.time() > deadline:
                    raise TestFailure("redis-server did not start:\n" + p.tail())
                time.sleep(0.05)
        return self.redis_port

    def stop_redis(self, sig=signal.SIGTERM):
        rc = self.redis_proc.stop(timeout=20, sig=sig)
        self.redis_proc = None
        return rc

    def redis(self):
        return Redis(self.redis_port)

    # -- kafka

    def start_mock(self, brokers=1):
        p = Proc("mock", [self.bin("fd-mockcluster"), "--brokers", str(brokers), "--topic", TOPIC,
                          "--partitions", str(PARTITIONS), "--topic", DLQ_TOPIC,
                          "--partitions", "1", "--topic", "funnel.alerts", "--partitions", "1",
                          "--topic", METRICS_TOPIC, "--partitions", "8"],
                 self.logpath("mock"), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.procs.append(p)
        self.mock = p
        line = p.popen.stdout.readline().decode().strip()
        if not line.startswith("bootstrap="):
            raise TestFailure("fd-mockcluster printed %r:\n%s" % (line, p.tail()))
        self.bootstrap = line[len("bootstrap="):]
        return self.bootstrap

    def produce(self, msgs, seconds=0.0):
        """Produces msgs with fd-produce, paced over `seconds` (0 = as fast as possible), and
        returns {partition: next offset}. Fails when the broker dropped data (low > 0)."""
        f = self.start_feed(msgs, seconds)
        return f.join()

    def start_feed(self, msgs, seconds):
        return Feeder(self, msgs, seconds)

    def count_topic(self, topic, at_least, settle_s=3):
        """Messages in `topic` (every partition, from the earliest offset): reads until
        at_least + 1 or settle_s seconds without the extra one, so a surplus is seen."""
        p = subprocess.run([self.bin("fd-bare-consumer"), "--brokers", self.bootstrap, "--topic",
                            topic, "--count", str(at_least + 1), "--timeout", str(settle_s)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        out, err = p.stdout.decode(), p.stderr.decode()
        if p.returncode == 0:
            return at_least + 1  # a surplus: the topic holds more than at_least
        m = re.search(r"with (\d+) of \d+ messages", err)
        if not m:
            raise TestFailure("fd-bare-consumer on %s failed: %s%s" % (topic, out, err))
        return int(m.group(1))

    def dump_topic(self, topic, count, settle_s=3, to_end=False):
        """Every message of `topic` (all partitions, from the earliest offset), read by
        fd-bare-consumer --dump until `count` + 1 or settle_s seconds in all (to_end: or until
        every partition was read to its end): a list of
        {partition, offset, key, value, headers: [(name, value)]} (bytes; None when absent)."""
        path = os.path.join(self.tmp, "dump-%s-%d.tsv" % (topic, random.randrange(1 << 30)))
        p = subprocess.run([self.bin("fd-bare-consumer"), "--brokers", self.bootstrap, "--topic",
                            topic, "--count", str(count + 1), "--timeout", str(settle_s),
                            "--dump", path] + (["--to-end"] if to_end else []),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        if p.returncode != 0 and b"timeout after" not in p.stderr:
            raise TestFailure("fd-bare-consumer --dump %s failed: %s" % (topic, p.stderr.decode()))

        def unhex(t):
            return None if t == "-" else bytes.fromhex(t)
        out = []
        with open(path, encoding="ascii") as f:
            for line in f:
                part, off, key, value, hdrs = line.rstrip("\n").split("\t")
                headers = []
                for h in hdrs.split(",") if hdrs else []:
                    name, _, val = h.partition("=")
                    headers.append((unhex(name).decode(), unhex(val)))
                out.append({"partition": int(part), "offset": int(off), "key": unhex(key),
                            "value": unhex(value), "headers": headers})
        os.unlink(path)
        return out

    def check_dead_letters(self, msgs, n_source, exactly_once=True):
        """Every rejected message of msgs has a dead letter (docs/events.md): the message itself,
        key and value, with the seven funneld.* headers, the reason the generator meant, and the
        topic, partition and offset of the source message; every dead letter matches
        docs/schemas/dead-letters.schema.json. exactly_once: one per source offset (a run without
        crashes); otherwise at least one (delivery is at-least-once)."""
        import schemas  # here: schemas imports this module
        def kv(m):
            return (m["key"] or None, m["value"])  # no key and an empty key are alike here
        meant = {}
        for m in msgs:
            if m.reject is not None:
                meant.setdefault((m.key or None, m.value), set()).add(m.reject)
        rejected = {}  # source (partition, offset) -> (key, value) of a rejected message
        for m in self.dump_topic(TOPIC, n_source):
            if kv(m) in meant:
                rejected[(m["partition"], m["offset"])] = kv(m)
        n_meant = sum(1 for m in msgs if m.reject is not None)
        if len(rejected) != n_meant:
            raise TestFailure("the source topic holds %d rejected messages, the test sent %d"
                              % (len(rejected), n_meant))
        headers = sorted(["funneld.reason", "funneld.error", "funneld.topic", "funneld.partition",
                          "funneld.offset", "funneld.truncated", "funneld.original_size"])
        seen = set()
        letters = self.dump_topic(DLQ_TOPIC, len(rejected) * (1 if exactly_once else 4))
        for d in letters:
            where = "dead letter %d@%d" % (d["partition"], d["offset"])
            hd = dict(d["headers"])
            if sorted(n for n, _ in d["headers"]) != headers:
                raise TestFailure("%s: headers %s, expected %s"
                                  % (where, [n for n, _ in d["headers"]], headers))
            src = (int(hd["funneld.partition"]), int(hd["funneld.offset"]))
            if hd["funneld.topic"] != TOPIC.encode() or rejected.get(src) != kv(d):
                raise TestFailure("%s: points at %r[%d]@%d, which does not hold this rejected "
                                  "message (key %r, value %r)" % (where, hd["funneld.topic"],
                                                                  src[0], src[1], d["key"],
                                                                  d["value"][:80]))
            reason = hd["funneld.reason"].decode()
            if reason not in meant[kv(d)]:
                raise TestFailure("%s: reason %s, the generator meant %s"
                                  % (where, reason, sorted(meant[kv(d)])))
            if hd["funneld.truncated"] != b"false" or not hd["funneld.error"] or \
                    hd["funneld.original_size"] != str(len(d["value"])).encode():
                raise TestFailure("%s: truncated %r, original_size %r for %d bytes, error %r"
                                  % (where, hd["funneld.truncated"], hd["funneld.original_size"],
                                     len(d["value"]), hd["funneld.error"]))
            if src in seen and exactly_once:
                raise TestFailure("%s: a second dead letter for %d@%d" % (where, *src))
            seen.add(src)
        schemas.validate("dead-letters", [schemas.dead_letter_envelope(d) for d in letters],
                         "dead letters")
        missing = sorted(set(rejected) - seen)
        if missing:
            raise TestFailure("%d rejected messages have no dead letter, e.g. at %s"
                              % (len(missing), missing[:5]))
        return len(letters)

    # -- funneld

    def funneld_settings(self, **extra):
        s = {
            "kafka.brokers": self.bootstrap,
            "kafka.topics": TOPIC,
            "kafka.group_id": self.group,
            "kafka.dlq_topic": DLQ_TOPIC,
            "kafka.fetch_wait_ms": "5",
            "redis.host": "127.0.0.1",
            "redis.port": str(self.redis_port),
            "redis.prefix": self.prefix,
            "funnel.timezone": self.tz,
            "retention.day_days": "0",
            "retry.backoff_max_ms": "1000",
            "log.level": "info",
        }
        s.update({k.replace("__", "."): str(v) for k, v in extra.items()})
        return s

    def start_funneld(self, name, settings=None, **extra):
        s = dict(settings or self.funneld_settings(**extra))
        # every funneld its own operator endpoints (tests run several at once, often from one
        # settings dict), unless the test chose http.listen itself
        s.setdefault("http.listen", "127.0.0.1:%d" % free_port())
        argv = [self.bin("funneld")]
        for k, v in s.items():
            argv += ["--set", "%s=%s" % (k, v)]
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        p = Proc("funneld-" + name, argv, self.logpath("funneld-" + name), env=env)
        # the operator endpoints (/livez, /readyz, /metrics): None when http.listen is off
        listen = s["http.listen"]
        p.http_port = None if listen == "off" else int(listen.rsplit(":", 1)[1])
        p.http_url = None if p.http_port is None else "http://127.0.0.1:%d" % p.http_port
        self.procs.append(p)
        self.funnelds.append(p)
        print("[%s] started funneld %s (pid %d)" % (self.name, name, p.pid), flush=True)
        return p

    # -- progress

    def progress(self, r):
        """{partition: next} as stored in Redis (missing = 0)."""
        keys = ["%s:part:%s:%d" % (self.prefix, TOPIC, p) for p in range(PARTITIONS)]
        vals = r.pipeline([["HGET", k, "next"] for k in keys])
        out = {}
        for p, v in enumerate(vals):
            out[p] = int(v) if isinstance(v, bytes) else 0
        return out

    def staged(self, r, partitions):
        """The partitions whose staged batch is not fully applied yet (docs/redis.md, "Staged
        batches": the offsets move at its commit, the counts with its last chunk)."""
        keys = ["%s:part:%s:%d" % (self.prefix, TOPIC, p) for p in partitions]
        return [p for p, v in zip(partitions, r.pipeline([["HGET", k, "staged"] for k in keys]))
                if v is not None]

    def tokens(self, r):
        """{partition: fencing token} as stored in Redis (None when absent)."""
        keys = ["%s:part:%s:%d" % (self.prefix, TOPIC, p) for p in range(PARTITIONS)]
        vals = r.pipeline([["HGET", k, "token"] for k in keys])
        return {p: (v.decode("utf-8", "replace") if isinstance(v, bytes) else None)
                for p, v in enumerate(vals)}

    def wait_done(self, expected_next, timeout, poll=0.02, require_alive=True):
        """Polls the stored offsets until every partition reaches expected_next. Returns
        (t_first_apply, t_done, initial total). Fails on timeout or when every funneld died."""
        r = self.redis()
        try:
            start = self.progress(r)
            total0 = sum(start.values())
            t_first = None
            deadline = time.time() + timeout
            while True:
                now = time.time()
                try:
                    cur = self.progress(r)
                except (OSError, ConnectionError):
                    r.close()
                    time.sleep(0.2)
                    r = self.redis()
                    continue
                if t_first is None and sum(cur.values()) > total0:
                    t_first = now
                if all(cur[p] >= n for p, n in expected_next.items()) and \
                        not self.staged(r, expected_next):
                    return (t_first or now, now, total0)
                if require_alive and self.funnelds and not any(p.alive() for p in self.funnelds
                                                               if not p.stopped):
                    raise TestFailure("every funneld exited before the end; progress %s of %s"
                                      % (cur, expected_next))
                if now > deadline:
                    raise TestFailure("timeout after %.0f s: progress %s, expected %s"
                                      % (timeout, cur, expected_next))
                time.sleep(poll)
        finally:
            r.close()

    def wait_progress(self, predicate, timeout, what, poll=0.05):
        """Waits until predicate(progress) is true."""
        r = self.redis()
        try:
            deadline = time.time() + timeout
            while True:
                cur = self.progress(r)
                if predicate(cur):
                    return cur
                if time.time() > deadline:
                    raise TestFailure("timeout after %.0f s waiting for %s; progress %s"
                                      % (timeout, what, cur))
                time.sleep(poll)
        finally:
            r.close()

    # -- comparison

    def compare(self, mdl, label="final state", max_report=25, log_copies=0):
        """Compares every metric hash and the stats with the model; raises TestFailure listing
        the first differences. log_copies: messages the Kafka log holds twice beyond the
        generated ones (a producer's retries the broker wrote again): each is a duplicate or a
        second dead letter, so `duplicates` and `rejected` (and its reasons) may exceed the model
        by exactly that many in all; every metric hash and `accepted` must still be exact."""
        exp = mdl.expected_hashes()
        exp_stats = mdl.expected_stats()
        p = self.prefix
        r = self.redis()
        try:
            keys = r.scan_all(p + ":*")
            metric, other = [], []
            for k in keys:
                ks = k.decode("utf-8", "replace")
                if ks.startswith((p + ":rep:", p + ":team:", p + ":org:")):
                    metric.append(k)
                else:
                    other.append(ks)
            hashes = r.pipeline([["HGETALL", k] for k in metric])
            ttls = r.pipeline([["TTL", k] for k in metric])
            stats_raw = pairs_to_dict(r.call("HGETALL", p + ":stats"))
            rep_team = {a.decode(): b.decode() for a, b in
                        pairs_to_dict(r.call("HGETALL", p + ":rep_team")).items()}
            rep_team_at = {a.decode(): b.decode() for a, b in
                           pairs_to_dict(r.call("HGETALL", p + ":rep_team:at")).items()}
        finally:
            r.close()

        diffs = []
        got = {}
        for k, h, ttl in zip(metric, hashes, ttls):
            if isinstance(h, RespError):
                diffs.append("%r: HGETALL failed: %s" % (k, h))
                continue
            try:
                ks = k.decode("utf-8")
                got[ks] = {a.decode("utf-8"): b.decode("utf-8")
                           for a, b in pairs_to_dict(h).items()}
            except UnicodeDecodeError:
                diffs.append("key or field is not UTF-8: %r" % k)
                continue
            if ttl != -1:
                diffs.append("%s: TTL %s, expected none (retention 0 = keep)" % (ks, ttl))

        missing = sorted(set(exp) - set(got))
        extra = sorted(set(got) - set(exp))
        for k in missing[:max_report]:
            diffs.append("missing hash %s (expected %d fields, e.g. %s)"
                         % (k, len(exp[k]), dict(list(exp[k].items())[:4])))
        for k in extra[:max_report]:
            diffs.append("unexpected hash %s = %s" % (k, dict(list(got[k].items())[:6])))
        field_diffs = 0
        by_field = {}
        for k in sorted(set(exp) & set(got)):
            e, g = exp[k], got[k]
            for f in sorted(set(e) | set(g)):
                ev, gv = e.get(f), g.get(f)
                if ev == gv:
                    continue
                field_diffs += 1
                fname = f.split(":")[0]
                by_field[fname] = by_field.get(fname, 0) + 1
                if field_diffs <= max_report:
                    diffs.append("%s  field %s: redis=%s model=%s" % (k, f, gv, ev))
        if field_diffs:
            diffs.append("%d field differences in all, by field: %s" % (field_diffs, by_field))
        if len(missing) > max_report or len(extra) > max_report:
            diffs.append("%d missing and %d unexpected hashes in all" % (len(missing), len(extra)))

        stats = {a.decode(): b.decode() for a, b in stats_raw.items()}
        excess = {}
        for name in sorted(set(exp_stats) | {n for n in stats if n.startswith("rejected")}
                           | {"accepted", "duplicates", "ignored"}):
            want = exp_stats.get(name, 0)
            have = int(stats.get(name, "0"))
            if log_copies and (name == "duplicates" or name.startswith("rejected")) \
                    and have >= want:
                excess[name] = have - want
                continue
            if want != have:
                diffs.append("stats %s: redis=%s model=%s" % (name, have, want))
        if log_copies:
            reasons = sum(v for k, v in excess.items() if k.startswith("rejected:"))
            total = excess.get("duplicates", 0) + excess.get("rejected", 0)
            if total != log_copies or reasons != excess.get("rejected", 0):
                diffs.append("the log holds %d copies; stats exceed the model by %s"
                             % (log_copies, {k: v for k, v in excess.items() if v}))
            else:
                print("[%s] %d copies in the log counted as %s" % (
                    self.name, log_copies, {k: v for k, v in excess.items() if v}), flush=True)
        if int(stats.get("beyond_retention", "0")) != 0:
            diffs.append("stats beyond_retention=%s, expected 0 (retention off)"
                         % stats["beyond_retention"])

        # rep -> team: the team of each rep's latest event naming one (docs/redis.md)
        for name, got_map, want_map in (("rep_team", rep_team, mdl.expected_rep_team()),
                                        ("rep_team:at", rep_team_at,
                                         mdl.expected_rep_team_at())):
            if got_map != want_map:
                bad = sorted(k for k in set(got_map) | set(want_map)
                             if got_map.get(k) != want_map.get(k))
                diffs.append("%s differs for %d reps, e.g. %s" % (name, len(bad), [
                    (k, got_map.get(k), want_map.get(k)) for k in bad[:5]]))

        feeds = [p + ":" + n for n in FEED_KEYS]
        odd = [k for k in other if k not in feeds and not k.startswith(
            (p + ":deal:", p + ":part:", p + ":dedupe:", p + ":stats"))]
        if odd:
            diffs.append("keys outside the documented layout: %s" % odd[:10])

        print("[%s] %s: %d metric hashes, %d expected; stats %s"
              % (self.name, label, len(got), len(exp), {k: stats[k] for k in sorted(stats)}),
              flush=True)
        if diffs:
            raise TestFailure("%s differs from the model:\n  " % label + "\n  ".join(diffs))
        return len(got)

    def check_sanitizer_reports(self):
        """Fails when any funneld log holds an ASan/UBSan/LSan report."""
        for p in self.funnelds:
            with open(p.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            for marker in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
                if marker in text:
                    i = text.index(marker)
                    raise TestFailure("sanitizer report in %s:\n%s" % (p.log_path,
                                                                       text[max(0, i - 200):i + 1500]))

    # -- cleanup

    def dump_logs(self, lines=80):
        for p in self.procs:
            if p.name.startswith("funneld") or p.name in ("redis", "mock"):
                print("----- %s (pid %d, %s) log tail: %s" %
                      (p.name, p.pid, "alive" if p.alive() else "exit %s" % p.popen.returncode,
                       p.log_path))
                print(p.tail(lines))
        sys.stdout.flush()

    def cleanup(self):
        if self._cleaned:
            return
        self._cleaned = True
        for p in reversed(self.procs):
            try:
                p.stop(timeout=5, sig=signal.SIGKILL if p.name.startswith("funneld") else
                       signal.SIGTERM)
            except Exception:  # keep cleaning the others
                pass
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


# Group settings of the tests with several members or restarts: a short session so that a
# crashed, stopped or rejoining instance gives its partitions up within seconds.
GROUP_SETTINGS = {"kafka.session.timeout.ms": "6000", "kafka.heartbeat.interval.ms": "500"}


def wait_feed(feed, fraction, timeout=120):
    """Waits until the feeder has produced `fraction` of its messages (bounded)."""
    deadline = time.time() + timeout
    while feed.fraction() < fraction:
        if time.time() > deadline:
            raise TestFailure("producer stuck at %.0f%%" % (100 * feed.fraction()))
        time.sleep(0.1)


class Feeder:
    """Feeds messages to one fd-produce process from a thread, at an even pace."""

    def __init__(self, h, msgs, seconds):
        self.h = h
        self.msgs = msgs
        self.seconds = seconds
        self.sent = 0
        self.error = None
        self.proc = Proc("produce", [h.bin("fd-produce"), "--brokers", h.bootstrap, "--topic",
                                     TOPIC, "--partitions", str(PARTITIONS)],
                         h.logpath("produce"), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        h.procs.append(self.proc)
        self.out = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.thread = threading.Thread(target=self._feed, daemon=True)
        self.t0 = time.time()
        self.thread.start()

    def _read(self):
        for line in self.proc.popen.stdout:
            self.out.append(line.decode().strip())

    def _feed(self):
        try:
            stdin = self.proc.popen.stdin
            n = len(self.msgs)
            chunk = max(1, n // max(1, int(self.seconds * 20))) if self.seconds else n
            for i in range(0, n, chunk):
                stdin.write(b"".join(m.key + b"\t" + m.value + b"\n"
                                     for m in self.msgs[i:i + chunk]))
                stdin.flush()
                self.sent = min(n, i + chunk)
                if self.seconds:
                    ahead = self.t0 + self.seconds * self.sent / n - time.time()
                    if ahead > 0:
                        time.sleep(ahead)
            stdin.close()
        except Exception as e:  # reported by join()
            self.error = e

    def fraction(self):
        return self.sent / max(1, len(self.msgs))

    def join(self, timeout=300, allow_trim=False):
        """Waits for the feed; returns {partition: next offset}. The broker's low watermarks
        are kept in self.low; unless allow_trim, one above 0 (old data dropped) fails."""
        self.low = {}
        self.thread.join(timeout)
        rc = self.proc.wait(timeout)
        self.reader.join(5)
        if self.error or rc != 0:
            raise TestFailure("fd-produce failed (rc %s, %s):\n%s" % (rc, self.error,
                                                                       self.proc.tail()))
        nxt = {}
        total = None
        for line in self.out:
            if line.startswith("partition="):
                f = dict(x.split("=") for x in line.split())
                p = int(f["partition"])
                nxt[p] = int(f["next"])
                self.low[p] = int(f["low"])
                if int(f["low"]) != 0 and not allow_trim:
                    raise TestFailure("the mock broker dropped old data of partition %d (low "
                                      "watermark %s): the test produces too much" % (p, f["low"]))
            elif line.startswith("total="):
                total = int(line[6:])
        if total != len(self.msgs) or len(nxt) != PARTITIONS:
            raise TestFailure("fd-produce reported %s of %d messages: %s"
                              % (total, len(self.msgs), self.out))
        self.proc.log.close()
        return nxt


# ----------------------------------------------------------------------------------------------
# Test entry point


def parse_args(desc):
    ap = argparse.ArgumentParser(description=desc)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--build-dir", default=os.path.join(here, "..", "..", "build"))
    ap.add_argument("--source-dir", default=os.path.join(here, "..", ".."))
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--events", type=int, default=0, help="override the number of events")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, redis data)")
    return ap.parse_args()


def run(name, desc, body):
    """Runs body(h, args) with a fresh harness; prints PASS/FAIL; exits 0/1."""
    args = parse_args(desc)
    t0 = time.time()
    h = None
    ok = False
    try:
        h = Harness(name, args)
        body(h, args)
        h.check_sanitizer_reports()
        ok = True
    except TestFailure as e:
        print("FAIL %s: %s" % (name, e), flush=True)
    except Exception:
        print("FAIL %s: unexpected error" % name)
        traceback.print_exc()
    finally:
        if h is not None:
            if not ok:
                h.dump_logs()
                args.keep = True
                print("logs and data kept in %s" % h.tmp)
            h.cleanup()
    print("%s %s in %.1f s" % ("PASS" if ok else "FAIL", name, time.time() - t0), flush=True)
    sys.exit(0 if ok else 1)


def generate(h, args, n_events, tz="Asia/Shanghai", **kw):
    """Generates the stream and runs the model over it; returns (msgs, model, generator)."""
    t = time.time()
    gen = model.Generator(args.seed, args.events or n_events, **kw)
    msgs = gen.generate()
    h.tz = tz
    mdl = model.Model(tz=tz, prefix=h.prefix).run(msgs)
    print("[%s] generated %d messages (%d events, %d duplicates, %d malformed, %d swapped "
          "within deals), model %d hashes, in %.1f s"
          % (h.name, len(msgs), args.events or n_events, gen.duplicates, gen.n_bad, gen.swaps,
             len(mdl.counters), time.time() - t), flush=True)
    return msgs, mdl, gen
