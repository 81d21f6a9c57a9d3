#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Staged, chunked applies under faults (docs/redis.md, "Staged batches"). With batch.chunk_hashes
small, every batch of a catch-up changes more metric hashes than a chunk holds: it is committed
first (the record <p>:staged:<id>) and then applied in chunk scripts. One stream in three
segments, each preloaded as a backlog, each case ending with Redis equal to the independent model
(every metric hash field by field, the stats: no event counted twice), no staged record left:
1. crash: funneld is killed with SIGKILL at >= 6 seeded random moments of the catch-up and
   restarted; some kills are aimed at the chunks (a staged record exists right before the kill)
   and at least one provably interrupts them (the record is still there once the process is
   gone), which the next instance must finish (its log: "finishing staged batch <id>");
2. zombie: A is frozen (SIGSTOP) while its staged record exists, its Redis connections are cut
   (its chunks still in flight are lost, as in a network partition during a long pause), B joins
   the same group, claims, finishes A's staged batch and goes on; A is thawed (SIGCONT): what it
   sends again is refused or answers ALREADY (a FENCED refusal in its log), nothing counts twice;
3. Redis restart: redis-server (appendonly, appendfsync always) is killed while a staged record
   exists; the data it restarts with still holds the record (checked on a side port before
   funneld can reconnect), and funneld, not restarted, finishes the batch."""

import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import model  # noqa: E402

CHUNK_HASHES = 25
# Sizes: ~210 B per message (big_payloads off) keeps the whole stream (~3.5 MiB per partition)
# inside what the mock broker holds. 120 reps: several hundred hashes per batch, so a batch's
# chunks take long enough to be hit.
EVENTS = 140000
SEGMENTS = (0.55, 0.25, 0.20)  # crash, zombie, redis restart
N_REPS, N_TEAMS = 120, 12
KILLS = 6          # planned SIGKILLs of phase 1
EXTRA_KILLS = 6    # aimed kills added while none provably interrupted the chunks
ATTEMPTS = 8       # tries at freezing A / killing Redis with a staged record left
WAIT = 90          # bound of every wait on funneld (seconds; sanitizer builds are slower)


def log_text(p):
    with open(p.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


class Staged:
    """Looks at the staged records through the part hashes (field `staged` = the id of the
    partition's batch being applied in chunks): a few O(1) commands per poll, so that polling
    every millisecond does not slow Redis down (KEYS/SCAN would walk the whole keyspace)."""

    def __init__(self, h):
        self.h = h
        self.parts = ["%s:part:%s:%d" % (h.prefix, harness.TOPIC, p)
                      for p in range(harness.PARTITIONS)]

    def record_key(self, sid):
        return "%s:staged:%s" % (self.h.prefix, sid)

    def now(self, r):
        """{id: chunks left} of the staged records that exist now (the part field set AND the
        record present)."""
        ids = {v.decode("utf-8", "replace") for v in
               r.pipeline([["HGET", k, "staged"] for k in self.parts]) if isinstance(v, bytes)}
        if not ids:
            return {}
        ids = sorted(ids)
        left = r.pipeline([["HGET", self.record_key(i), "left"] for i in ids])
        return {i: int(v) for i, v in zip(ids, left) if isinstance(v, bytes)}

    def scan(self, r):
        """{id: (left, n)} of every <p>:staged:* key (a full SCAN: for checks, not polling)."""
        pre = self.h.prefix + ":staged:"
        out = {}
        for k in r.scan_all(pre + "*"):
            v = r.call("HMGET", k, "left", "n")
            out[k.decode("utf-8", "replace")[len(pre):]] = tuple(
                int(x) if x is not None else None for x in v)
        return out

    def wait(self, r, proc, timeout, what, stop_when=None, start=None):
        """Polls (~1 ms) until a staged batch is being applied: a record exists that is not in
        start ({id: left} left over by an earlier owner) or has fewer chunks left than there.
        Returns {id: left}. Bounded; fails when proc exits; stop_when(): give up (returns {})."""
        start = start or {}
        deadline = time.time() + timeout
        n = 0
        while True:
            cur = self.now(r)
            if moving(cur, start):
                return cur
            n += 1
            if n % 200 == 0:
                if proc is not None and not proc.alive():
                    raise harness.TestFailure("%s exited (rc %s) while waiting for %s"
                                              % (proc.name, proc.popen.returncode, what))
                if stop_when is not None and stop_when():
                    return {}
            if time.time() > deadline:
                raise harness.TestFailure("no staged record within %d s while waiting for %s"
                                          % (timeout, what))
            time.sleep(0.001)

    def check_clean(self, r, label):
        """No staged record left, no part hash still marked."""
        left = self.scan(r)
        marks = {k: v for k, v in zip(self.parts, r.pipeline([["HGET", k, "staged"]
                                                                for k in self.parts]))
                 if v is not None}
        if left or marks:
            raise harness.TestFailure("%s: staged records left %s, part hashes still marked %s"
                                      % (label, left, marks))


def finished_ids(text):
    """The ids of the staged batches an instance's log says it finished."""
    return set(re.findall(r"finishing staged batch (\S+) left by an earlier owner", text)) | \
        set(re.findall(r"staged batch (\S+) is not finished .*: finishing it", text))


def moving(cur, start):
    """The ids of cur ({id: left}) being applied: not in start, or with fewer chunks left."""
    return [i for i, n in cur.items() if i not in start or n < start[i]]


def interrupts(kill):
    """A kill provably interrupted the chunks of a batch: right before it, the killed instance
    was applying a staged batch (its record existed, new or with fewer chunks left than when the
    instance started) and the record still exists once the process is gone (and Redis has
    dropped its connection)."""
    return bool(set(moving(kill["before"], kill["start"])) & set(kill["left"]))


def staged_stat(r, h):
    v = r.call("HGET", h.prefix + ":stats", "staged_batches")
    return int(v) if v is not None else 0


def settings(h, group, **extra):
    s = h.funneld_settings(**harness.GROUP_SETTINGS, **{
        "kafka.group_id": group,
        "batch.chunk_hashes": str(CHUNK_HASHES),
        "batch.max_events": "3000",
        "batch.catchup_max_events": "6000",
    })
    s.update({k: str(v) for k, v in extra.items()})
    return s


# ----------------------------------------------------------------------------------------------
# 1. SIGKILLs during a catch-up


def phase_crash(h, args, st, msgs, mdl, rng):
    nxt = h.produce(msgs)
    total = sum(nxt.values())
    print("[staged] phase 1: %d messages preloaded; %d kills planned" % (total, KILLS),
          flush=True)
    # Offsets live in Redis (the claims), so each restart joins a consumer group of its own:
    # it is assigned every partition at once instead of waiting for the killed member's session
    # to expire (the zombie phase covers a take-over within one group).
    # random: a random moment after the instance's first apply; startup: while it joins the
    # group and claims; chunks: while it applies the chunks of a staged batch; finishing: while
    # it finishes a staged batch an earlier kill left (chunks when none was left).
    plan = ["random", "chunks", "finishing", "startup", "chunks", "random"]
    kills = []
    seq = [0]

    def start():
        seq[0] += 1
        return h.start_funneld("k%d" % seq[0], settings(h, "%s-k%d" % (h.group, seq[0])))

    fd = start()
    r = h.redis()
    try:
        while True:
            if len(kills) >= KILLS and any(interrupts(k) for k in kills):
                break
            if len(kills) >= KILLS + EXTRA_KILLS:
                raise harness.TestFailure(
                    "%d kills and none left a staged batch unfinished (kills: %s): the chunks "
                    "were never hit" % (len(kills), kills))
            kind = plan[len(kills)] if len(kills) < KILLS else "chunks"
            t_start = time.time()
            start_left = {i: v[0] for i, v in (kills[-1]["left"] if kills else {}).items()}
            base = sum(h.progress(r).values())
            if base >= total:
                raise harness.TestFailure("the backlog was drained after %d kills: the test "
                                          "needs more events" % len(kills))
            if kind == "startup":
                time.sleep(rng.uniform(2.5, 4.5))
            elif kind == "random":
                h.wait_progress(lambda c: sum(c.values()) > base, WAIT,
                                "the restarted funneld to apply a batch")
                time.sleep(rng.uniform(0.02, 0.8))
            elif kind == "finishing" and start_left:
                st.wait(r, fd, WAIT, "%s to finish %s" % (fd.name, sorted(start_left)),
                        start=start_left)
            else:
                st.wait(r, fd, WAIT, "a staged batch of %s" % fd.name, start=start_left,
                        stop_when=lambda: sum(h.progress(r).values()) >= total)
                time.sleep(rng.uniform(0, 0.004))
            if not fd.alive():
                raise harness.TestFailure("funneld %s exited by itself (rc %s)"
                                          % (fd.name, fd.popen.returncode))
            before = st.now(r)       # right before the kill
            fd.send(signal.SIGKILL)
            fd.wait(10)
            time.sleep(0.2)          # Redis drops the dead client's connection
            after = st.scan(r)       # what the next instance must finish
            done = sum(h.progress(r).values())
            kills.append({"n": len(kills) + 1, "kind": kind, "name": fd.name, "before": before,
                          "start": start_left, "left": after, "applied": done,
                          "after_s": round(time.time() - t_start, 2)})
            print("[staged] SIGKILL %d (%s) of %s at %d of %d messages: staged right before %s, "
                  "left unfinished %s%s" % (len(kills), kind, fd.name, done, total, before, after,
                                            ": chunks interrupted" if interrupts(kills[-1])
                                            else ""), flush=True)
            fd = start()
    finally:
        r.close()
    h.wait_done(nxt, timeout=WAIT * 2)
    harness.wait_unstaged(h, WAIT)
    last = fd
    r = h.redis()
    try:
        st.check_clean(r, "after the crashes")
        staged = staged_stat(r, h)
    finally:
        r.close()
    h.compare(mdl, label="after %d SIGKILLs" % len(kills))
    # Every batch a kill left unfinished was finished by a later instance of this phase.
    logs = [p for p in h.funnelds if p.name.startswith("funneld-k")]
    finished = set()
    for p in logs:
        finished |= finished_ids(log_text(p))
    left = {sid for k in kills for sid in k["left"]}
    missing = left - finished
    if missing:
        raise harness.TestFailure("staged batches left by the kills and not finished by a later "
                                  "instance (no \"finishing staged batch <id>\" in any log): %s "
                                  "(finished: %s)" % (sorted(missing), sorted(finished)))
    during = [k for k in kills if k["before"]]
    interrupted = [k for k in kills if interrupts(k)]
    if staged < 1:
        raise harness.TestFailure("stats staged_batches = %d: no batch was staged" % staged)
    rc = last.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("last funneld of phase 1 exited %s after SIGTERM" % rc)
    print("[staged] phase 1 OK: %d SIGKILLs (%s), %d with a staged record right before, %d "
          "leaving chunks unapplied (%s), finished by the next instances; %d batches staged; "
          "Redis equals the model" % (len(kills), [k["kind"] for k in kills], len(during),
                                      len(interrupted), sorted(left), staged), flush=True)
    return nxt


# ----------------------------------------------------------------------------------------------
# 2. A zombie in the middle of its chunks


def sockets_to(pid, port):
    """Local ports of pid's TCP connections to 127.0.0.1:port (from /proc)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            t = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    ports = set()
    for table in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            c = row.split()
            if c[9] in inodes and int(c[2].rsplit(":", 1)[1], 16) == port:
                ports.add(int(c[1].rsplit(":", 1)[1], 16))
    return ports


def cut_connections(h, r, proc):
    """Closes every Redis connection of proc (CLIENT KILL ID): what it had sent and Redis had
    not run yet is lost. Returns how many."""
    ports = sockets_to(proc.pid, h.redis_port)
    ids = []
    for line in r.call("CLIENT", "LIST").decode().splitlines():
        f = dict(x.split("=", 1) for x in line.split(" ") if "=" in x)
        if int(f["addr"].rsplit(":", 1)[1]) in ports:
            ids.append(f["id"])
    res = r.pipeline([["CLIENT", "KILL", "ID", i] for i in ids])
    return sum(1 for x in res if x == 1)


def phase_zombie(h, args, st, msgs, mdl, nxt_before):
    nxt = h.produce(msgs)
    total = sum(nxt.values())
    print("[staged] phase 2: %d more messages preloaded" % (total - sum(nxt_before.values())),
          flush=True)
    group = h.group + "-z"
    # larger batches: more chunks per batch, a wider window to freeze A in
    a = h.start_funneld("A", settings(h, group, **{"instance.id": "it-A",
                                                   "batch.max_events": "8000",
                                                   "batch.catchup_max_events": "8000"}))
    r = h.redis()
    try:
        frozen = None
        for attempt in range(1, ATTEMPTS + 1):
            st.wait(r, a, WAIT, "a staged batch of A",
                    stop_when=lambda: sum(h.progress(r).values()) >= total)
            a.send(signal.SIGSTOP)
            a.stopped = True
            cut = cut_connections(h, r, a)
            time.sleep(0.1)
            frozen = st.scan(r)
            print("[staged] attempt %d: SIGSTOP A, %d connections cut; staged records left %s"
                  % (attempt, cut, frozen), flush=True)
            if frozen:
                break
            a.send(signal.SIGCONT)
            a.stopped = False
            if sum(h.progress(r).values()) >= total:
                break
        if not frozen:
            raise harness.TestFailure("could not freeze A with a staged batch unfinished in %d "
                                      "attempts" % ATTEMPTS)
        log_at_stop = len(log_text(a))
        at_stop = h.progress(r)
        t_stop = time.time()
        b = h.start_funneld("B", settings(h, group, **{"instance.id": "it-B"}))
        # B is given A's partitions once A's session expires, claims them, and must finish the
        # staged batch before applying anything of its own.
        deadline = time.time() + WAIT
        while not set(frozen) <= finished_ids(log_text(b)):
            if time.time() > deadline:
                raise harness.TestFailure("B did not finish A's staged batches %s within %d s"
                                          % (sorted(frozen), WAIT))
            if not b.alive():
                raise harness.TestFailure("B exited (rc %s)" % b.popen.returncode)
            time.sleep(0.1)
        h.wait_progress(lambda c: all(c[p] > at_stop[p] or c[p] >= nxt[p] for p in c), WAIT,
                        "B to go on past the staged batch in every partition")
        leftover = st.scan(r)
        if set(frozen) & set(leftover):
            raise harness.TestFailure("B went on but A's staged records remain: %s" % leftover)
        a.send(signal.SIGCONT)
        a.stopped = False
        print("[staged] B finished A's staged batch(es) %s and went on; SIGCONT A after %.1f s "
              "frozen" % (sorted(frozen), time.time() - t_stop), flush=True)
    finally:
        r.close()
    h.wait_done(nxt, timeout=WAIT * 2)
    harness.wait_unstaged(h, WAIT)
    r = h.redis()
    try:
        st.check_clean(r, "after the zombie")
    finally:
        r.close()
    h.compare(mdl, label="after the zombie")
    text = log_text(a)[log_at_stop:]
    fenced = re.findall(r"batch refused by Redis \((FENCED|GAP)\)", text)
    if not fenced:
        raise harness.TestFailure("A's log shows no FENCED/GAP refusal after SIGCONT: it was "
                                  "frozen in the middle of a staged batch B then claimed")
    if not a.alive():
        raise harness.TestFailure("A died after SIGCONT (rc %s)" % a.popen.returncode)
    ra, rb = a.stop(timeout=30), b.stop(timeout=30)
    if ra != 0 or rb != 0:
        raise harness.TestFailure("exit codes after SIGTERM: A %s, B %s; expected 0" % (ra, rb))
    print("[staged] phase 2 OK: A frozen in its chunks, B finished them; A thawed and refused "
          "(%s); Redis equals the model" % ", ".join(fenced), flush=True)
    return nxt


# ----------------------------------------------------------------------------------------------
# 3. Redis killed between a commit and its last chunk


def peek(h, st):
    """Starts redis-server on a side port over the data dir of the killed one (funneld cannot
    reach it there) and returns the staged records it loaded."""
    port = h.redis_port
    h.start_redis(appendonly=True, port=harness.free_port())
    r = h.redis()
    try:
        found = st.scan(r)
    finally:
        r.close()
    h.stop_redis()
    h.redis_port = port
    return found


def phase_redis(h, args, st, msgs, mdl, nxt_before):
    nxt = h.produce(msgs)
    total = sum(nxt.values())
    print("[staged] phase 3: %d more messages preloaded" % (total - sum(nxt_before.values())),
          flush=True)
    r = h.redis()
    r.call("CONFIG", "SET", "appendfsync", "always")
    r.close()
    c = h.start_funneld("C", settings(h, h.group + "-r", **{"batch.max_events": "8000",
                                                             "batch.catchup_max_events": "8000"}))
    found = None
    for attempt in range(1, ATTEMPTS + 1):
        r = h.redis()
        try:
            if sum(h.progress(r).values()) >= total:
                break
            st.wait(r, c, WAIT, "a staged batch of C",
                    stop_when=lambda: sum(h.progress(r).values()) >= total)
        finally:
            r.close()
        h.redis_proc.send(signal.SIGKILL)
        h.stop_redis()
        found = peek(h, st)
        h.start_redis(appendonly=True)
        r = h.redis()
        r.call("CONFIG", "SET", "appendfsync", "always")
        r.close()
        print("[staged] attempt %d: redis-server killed; it came back holding staged records %s"
              % (attempt, found), flush=True)
        if found:
            break
    if not found:
        raise harness.TestFailure("could not kill Redis between a commit and its last chunk in "
                                  "%d attempts" % ATTEMPTS)
    h.wait_done(nxt, timeout=WAIT * 2)
    harness.wait_unstaged(h, WAIT)
    if not c.alive():
        raise harness.TestFailure("funneld exited (rc %s) instead of retrying"
                                  % c.popen.returncode)
    r = h.redis()
    try:
        st.check_clean(r, "after the Redis restart")
        staged = staged_stat(r, h)
    finally:
        r.close()
    h.compare(mdl, label="after the Redis restart")
    rc = c.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("funneld C exited %s after SIGTERM, expected 0" % rc)
    print("[staged] phase 3 OK: Redis restarted holding staged records %s; funneld finished them; "
          "%d batches staged in all; Redis equals the model" % (sorted(found), staged), flush=True)


def body(h, args):
    t0 = time.time()
    gen = model.Generator(args.seed, args.events or EVENTS, n_reps=N_REPS, n_teams=N_TEAMS,
                          big_payloads=False)
    msgs = gen.generate()
    h.tz = "Asia/Shanghai"
    a = int(len(msgs) * SEGMENTS[0])
    b = a + int(len(msgs) * SEGMENTS[1])
    segs = (msgs[:a], msgs[a:b], msgs[b:])
    mdl = model.Model(tz=h.tz, prefix=h.prefix)
    print("[staged] generated %d messages in %.1f s" % (len(msgs), time.time() - t0), flush=True)
    rng = random.Random(args.seed ^ 0x57A6ED)
    st = Staged(h)
    h.start_redis(appendonly=True)
    h.start_mock()

    t = time.time()
    nxt = phase_crash(h, args, st, segs[0], mdl.run(segs[0]), rng)
    print("[staged] phase 1 took %.1f s" % (time.time() - t), flush=True)
    t = time.time()
    nxt = phase_zombie(h, args, st, segs[1], mdl.run(segs[1]), nxt)
    print("[staged] phase 2 took %.1f s" % (time.time() - t), flush=True)
    t = time.time()
    phase_redis(h, args, st, segs[2], mdl.run(segs[2]), nxt)
    print("[staged] phase 3 took %.1f s" % (time.time() - t), flush=True)


if __name__ == "__main__":
    harness.run("staged", __doc__, body)
