#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Staged, chunked applies under faults (docs/redis.md, "Staged batches"). With batch.chunk_hashes
small, every batch of a catch-up changes more metric hashes than a chunk holds: it is committed
first (the record <p>:staged:<id>) and then applied in chunk scripts. One seeded stream, fed as
preloaded backlogs; each case ends with Redis equal to the independent model of what was fed
(every metric hash field by field, the stats: no event counted twice) and no staged record left:
1. crash: funneld is killed with SIGKILL at >= 5 seeded random moments of a catch-up and
   restarted: after its first apply, while it joins and claims, while it applies the chunks of a
   staged batch, while it finishes one an earlier kill left. At least one kill provably
   interrupts chunks (the record existed and was being applied right before the kill, and is
   still there once the process is gone); the batch each kill left is finished by a later
   instance (its log: "finishing staged batch <id> left by an earlier owner").
2. zombie: A is frozen (SIGSTOP) while its staged record exists and its Redis connections are
   cut (the chunks it had sent and Redis had not run yet are lost, as in a network partition
   during a long pause; without the cut Redis would run them while A sleeps); B joins the same
   group, claims, finishes A's staged batch; A is thawed (SIGCONT): what it sends again answers
   ALREADY or is refused (a FENCED refusal in its log), nothing counts twice.
3. Redis restart: with A and B consuming a new backlog as it is produced, redis-server
   (appendonly, appendfsync always) is killed while a staged record exists; the data it restarts
   with holds the record (checked on a side port before funneld can reach it), and the
   instances, not restarted, finish the batch.
Each restart of phase 1 joins a consumer group of its own (the offsets live in Redis): no wait
for the killed member's session. ~75 s here, ~100 s while a restart still re-claims after a deal
assumed new."""

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
# ~210 B per message (big_payloads off): the whole stream stays far below what the mock broker
# holds per partition. 120 reps: a batch of a few thousand events changes ~2,000-3,500 metric
# hashes, ~100 chunks, so its chunks take long enough to be hit.
EVENTS = 110000
N_REPS, N_TEAMS = 120, 12
BACKLOG = 30000      # phase 1's first backlog; topped up by TOPUP when less than that is left
TOPUP = 12000
ZOMBIE_BACKLOG = 24000
REDIS_BACKLOG = 20000
KILLS = 5            # planned SIGKILLs of phase 1
EXTRA_KILLS = 6      # aimed kills added while none provably interrupted chunks
ATTEMPTS = 6         # tries at freezing A / killing Redis with a staged record left
WAIT = 90            # bound of every wait on funneld (seconds; sanitizer builds are slower)

T0 = time.time()


def say(text):
    print("[staged %5.1f] %s" % (time.time() - T0, text), flush=True)


def log_text(p):
    with open(p.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


class Stream:
    """The seeded stream, produced slice by slice: the model runs over exactly what was fed."""

    def __init__(self, h, msgs):
        self.h = h
        self.msgs = msgs
        self.fed = 0
        self.nxt = {p: 0 for p in range(harness.PARTITIONS)}
        self.mdl = model.Model(tz=h.tz, prefix=h.prefix)
        self.feeder = None  # a slice being produced

    def start(self, n):
        """Starts producing the next n messages (in the background)."""
        part = self.msgs[self.fed:self.fed + n]
        if not part:
            raise harness.TestFailure("the stream ran out (%d messages): the test needs more "
                                      "events" % len(self.msgs))
        self.fed += len(part)
        self.mdl.run(part)
        self.feeder = self.h.start_feed(part, 0)

    def join(self):
        if self.feeder is not None:
            self.nxt = self.feeder.join()
            self.feeder = None
        return self.nxt

    def feed(self, n):
        self.start(n)
        return self.join()

    def drained(self, r):
        """Everything fed (the feed in the background done) is applied."""
        if self.feeder is not None and not self.feeder.thread.is_alive():
            self.join()
        return self.feeder is None and sum(self.h.progress(r).values()) >= self.total()

    def total(self):
        return sum(self.nxt.values())


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
        """{id: chunks left} of the staged records that exist now (a part marked AND the record
        present)."""
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

    def wait(self, r, procs, timeout, what, start=None, stop_when=None):
        """Polls (~1 ms) until a staged batch is being applied: a record exists that is not in
        start ({id: left} left over by an earlier owner) or has fewer chunks left than there.
        Returns {id: left}. Bounded; fails when one of procs exits; stop_when(): give up
        (returns {})."""
        start = start or {}
        deadline = time.time() + timeout
        n = 0
        while True:
            cur = self.now(r)
            if moving(cur, start):
                return cur
            n += 1
            if n % 100 == 0:
                for p in procs:
                    if not p.alive():
                        raise harness.TestFailure("%s exited (rc %s) while waiting for %s"
                                                  % (p.name, p.popen.returncode, what))
                if stop_when is not None and stop_when():
                    return {}
            if time.time() > deadline:
                raise harness.TestFailure("no staged batch applied within %d s while waiting "
                                          "for %s" % (timeout, what))
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


def moving(cur, start):
    """The ids of cur ({id: left}) being applied: not in start, or with fewer chunks left."""
    return [i for i, n in cur.items() if i not in start or n < start[i]]


def interrupts(kill):
    """A kill provably interrupted chunks: right before it, the killed instance was applying a
    staged batch (its record existed, new or with fewer chunks left than when the instance
    started) and the record still exists once the process is gone and Redis has dropped its
    connections."""
    return bool(set(moving(kill["before"], kill["start"])) & set(kill["left"]))


def finished_ids(text):
    """The ids of the staged batches an instance's log says it finished (after a claim, or
    after a STAGED refusal)."""
    return set(re.findall(r"finishing staged batch (\S+) left by an earlier owner", text)) | \
        set(re.findall(r"staged batch (\S+) is not finished .*: finishing it", text))


def batch_stats(r, h):
    """(staged batches, applied batches) from <p>:stats."""
    v = r.call("HMGET", h.prefix + ":stats", "staged_batches", "batches")
    return tuple(int(x) if x is not None else 0 for x in v)


def settings(h, group, **extra):
    s = h.funneld_settings(**harness.GROUP_SETTINGS, **{
        "kafka.group_id": group,
        "batch.chunk_hashes": str(CHUNK_HASHES),
        "batch.max_events": "2000",
        "batch.catchup_max_events": "4000",
    })
    s.update({k: str(v) for k, v in extra.items()})
    return s


def settle(h, st, stream, label):
    """Waits for every fed message to be applied, chunks included; checks that no staged
    record is left and that Redis equals the model. Returns (staged batches, batches)."""
    h.wait_done(stream.join(), timeout=WAIT * 2)  # the offsets; no partition still staged
    r = h.redis()
    try:
        st.check_clean(r, label)
        stats = batch_stats(r, h)
    finally:
        r.close()
    h.compare(stream.mdl, label=label)
    return stats


# ----------------------------------------------------------------------------------------------
# 1. SIGKILLs during a catch-up


def phase_crash(h, st, stream, rng):
    stream.feed(BACKLOG)
    say("phase 1: %d messages preloaded; %d kills planned" % (stream.total(), KILLS))
    # Offsets live in Redis (the claims), so each restart joins a consumer group of its own: it
    # is assigned every partition at once instead of waiting for the killed member's session to
    # expire (phase 2 covers a take-over within one group).
    # random: a random moment after the instance's first apply; startup: while it joins and
    # claims; chunks: while it applies the chunks of a staged batch; finishing: while it
    # finishes a staged batch the previous kill left (chunks when none was left).
    plan = ["random", "chunks", "finishing", "startup", "chunks"]
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
                    "%d kills and none provably interrupted chunks: %s" % (len(kills), kills))
            kind = plan[len(kills)] if len(kills) < KILLS else "chunks"
            base = sum(h.progress(r).values())
            if stream.total() - base < TOPUP:
                stream.feed(TOPUP)  # keep it catching up
            start_left = {i: v[0] for i, v in (kills[-1]["left"] if kills else {}).items()}
            if kind == "startup":
                time.sleep(rng.uniform(2.5, 4.5))
            elif kind == "random":
                h.wait_progress(lambda c: sum(c.values()) > base, WAIT,
                                "%s to apply a batch" % fd.name)
                time.sleep(rng.uniform(0.02, 0.8))
            elif kind == "finishing" and start_left:
                st.wait(r, [fd], WAIT, "%s to finish %s" % (fd.name, sorted(start_left)),
                        start=start_left)
            else:
                st.wait(r, [fd], WAIT, "a staged batch of %s" % fd.name, start=start_left)
                time.sleep(rng.uniform(0, 0.004))
            if not fd.alive():
                raise harness.TestFailure("funneld %s exited by itself (rc %s)"
                                          % (fd.name, fd.popen.returncode))
            before = st.now(r)       # right before the kill
            fd.send(signal.SIGKILL)
            fd.wait(10)
            kill = {"n": len(kills) + 1, "kind": kind, "name": fd.name, "before": before,
                    "start": start_left, "left": settled_scan(st, r),
                    "applied": sum(h.progress(r).values())}
            kills.append(kill)
            say("SIGKILL %d (%s) of %s at %d of %d messages: staged right before %s, left "
                "unfinished %s%s" % (kill["n"], kind, fd.name, kill["applied"], stream.total(),
                                     before, kill["left"],
                                     ": chunks interrupted" if interrupts(kill) else ""))
            fd = start()
    finally:
        r.close()
    staged, batches = settle(h, st, stream, "after %d SIGKILLs" % len(kills))
    # Every batch a kill left unfinished was finished by a later instance.
    finished = set()
    for p in h.funnelds:
        if p.name.startswith("funneld-k"):
            finished |= finished_ids(log_text(p))
    left = {sid for k in kills for sid in k["left"]}
    if left - finished:
        raise harness.TestFailure("staged batches left by the kills and not finished by a later "
                                  "instance (no \"finishing staged batch <id>\" in any log): %s "
                                  "(finished: %s)" % (sorted(left - finished), sorted(finished)))
    if staged < 1:
        raise harness.TestFailure("stats staged_batches = %d: no batch was staged" % staged)
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("last funneld of phase 1 exited %s after SIGTERM" % rc)
    say("phase 1 OK: %d SIGKILLs (%s), %d with a staged batch being applied right before, %d "
        "provably interrupting chunks; left %s, finished by later instances; %d of %d batches "
        "staged; Redis equals the model" % (len(kills), " ".join(k["kind"] for k in kills),
                                            sum(1 for k in kills
                                                if moving(k["before"], k["start"])),
                                            sum(1 for k in kills if interrupts(k)), sorted(left),
                                            staged, batches))


# ----------------------------------------------------------------------------------------------
# 2. A zombie in the middle of its chunks


def settled_scan(st, r, timeout=3.0):
    """st.scan() once two reads 100 ms apart agree: Redis may still run a few commands of a
    client that just died before it drops the connection."""
    last = st.scan(r)
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.1)
        cur = st.scan(r)
        if cur == last:
            break
        last = cur
    return last


def sockets_to(pid, port):
    """Local ports of pid's TCP connections to port (from /proc)."""
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
    return sum(1 for x in r.pipeline([["CLIENT", "KILL", "ID", i] for i in ids]) if x == 1)


def phase_zombie(h, st, stream):
    stream.feed(ZOMBIE_BACKLOG)
    say("phase 2: %d messages in the topic" % stream.total())
    group = h.group + "-z"
    # larger batches: more chunks per batch, a wider window to freeze A in
    a = h.start_funneld("A", settings(h, group, **{"instance.id": "it-A",
                                                   "batch.max_events": "6000",
                                                   "batch.catchup_max_events": "6000"}))
    r = h.redis()
    try:
        frozen = None
        for attempt in range(1, ATTEMPTS + 1):
            if stream.total() - sum(h.progress(r).values()) < TOPUP:
                stream.feed(TOPUP)
            st.wait(r, [a], WAIT, "a staged batch of A")
            a.send(signal.SIGSTOP)
            a.stopped = True
            cut = cut_connections(h, r, a)
            time.sleep(0.1)
            frozen = st.scan(r)
            say("attempt %d: SIGSTOP A, %d connections cut; staged records left %s"
                % (attempt, cut, frozen))
            if frozen:
                break
            a.send(signal.SIGCONT)
            a.stopped = False
        if not frozen:
            raise harness.TestFailure("could not freeze A with a staged batch unfinished in %d "
                                      "attempts" % ATTEMPTS)
        log_at_stop = len(log_text(a))
        t_stop = time.time()
        b = h.start_funneld("B", settings(h, group, **{"instance.id": "it-B"}))
        # B is given A's partitions once A's session expires, claims them, and must finish the
        # staged batch before it applies anything of its own.
        deadline = time.time() + WAIT
        while set(frozen) - finished_ids(log_text(b)) or set(frozen) & set(st.now(r)):
            if time.time() > deadline:
                raise harness.TestFailure("B did not finish A's staged batches %s within %d s; "
                                          "records now %s" % (sorted(frozen), WAIT, st.scan(r)))
            if not b.alive():
                raise harness.TestFailure("B exited (rc %s)" % b.popen.returncode)
            time.sleep(0.05)
        a.send(signal.SIGCONT)
        a.stopped = False
        say("B finished A's staged batch(es) %s; SIGCONT A after %.1f s frozen"
            % (sorted(frozen), time.time() - t_stop))
    finally:
        r.close()
    settle(h, st, stream, "after the zombie")
    text = log_text(a)[log_at_stop:]
    fenced = re.findall(r"batch refused by Redis \((FENCED|GAP)\)", text)
    if not fenced:
        raise harness.TestFailure("A's log shows no FENCED/GAP refusal after SIGCONT: it was "
                                  "frozen in the middle of a staged batch B then claimed")
    if not a.alive():
        raise harness.TestFailure("A died after SIGCONT (rc %s)" % a.popen.returncode)
    say("phase 2 OK: A frozen in its chunks, B finished them; A thawed and refused (%s); Redis "
        "equals the model" % ", ".join(fenced))
    return a, b


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


def restart_redis(h):
    h.start_redis(appendonly=True)
    r = h.redis()
    try:
        # every write on disk before its reply: a SIGKILL loses nothing acknowledged
        r.call("CONFIG", "SET", "appendfsync", "always")
    finally:
        r.close()


def phase_redis(h, st, stream, a, b):
    r = h.redis()
    try:
        r.call("CONFIG", "SET", "appendfsync", "always")
    finally:
        r.close()
    # produced while A and B consume: watched from its start, so that they cannot drain it
    # before the first staged batch is seen
    stream.start(REDIS_BACKLOG)
    say("phase 3: %d more messages being fed, A and B consuming" % REDIS_BACKLOG)
    found = None
    for attempt in range(1, ATTEMPTS + 1):
        r = h.redis()
        try:
            if stream.drained(r):
                stream.start(TOPUP)
            if not st.wait(r, [a, b], WAIT, "a staged batch",
                           stop_when=lambda: stream.drained(r)):
                continue
        finally:
            r.close()
        h.redis_proc.send(signal.SIGKILL)
        h.stop_redis()
        found = peek(h, st)
        restart_redis(h)
        say("attempt %d: redis-server killed; it came back holding staged records %s"
            % (attempt, found))
        if found:
            break
    if not found:
        raise harness.TestFailure("could not kill Redis between a commit and its last chunk in "
                                  "%d attempts" % ATTEMPTS)
    stream.join()
    staged, batches = settle(h, st, stream, "after the Redis restart")
    for p in (a, b):
        if not p.alive():
            raise harness.TestFailure("funneld %s exited (rc %s) instead of retrying"
                                      % (p.name, p.popen.returncode))
    ra, rb = a.stop(timeout=30), b.stop(timeout=30)
    if ra != 0 or rb != 0:
        raise harness.TestFailure("exit codes after SIGTERM: A %s, B %s; expected 0" % (ra, rb))
    say("phase 3 OK: Redis restarted holding staged records %s; the instances finished them; "
        "%d of %d batches staged in all; Redis equals the model" % (sorted(found), staged, batches))


def body(h, args):
    h.tz = "Asia/Shanghai"
    gen = model.Generator(args.seed, args.events or EVENTS, n_reps=N_REPS, n_teams=N_TEAMS,
                          big_payloads=False)
    stream = Stream(h, gen.generate())
    say("generated %d messages" % len(stream.msgs))
    rng = random.Random(args.seed ^ 0x57A6ED)
    st = Staged(h)
    h.start_redis(appendonly=True)
    h.start_mock()
    t = time.time()
    phase_crash(h, st, stream, rng)
    say("phase 1 took %.1f s" % (time.time() - t))
    t = time.time()
    a, b = phase_zombie(h, st, stream)
    say("phase 2 took %.1f s" % (time.time() - t))
    t = time.time()
    phase_redis(h, st, stream, a, b)
    say("phase 3 took %.1f s" % (time.time() - t))


if __name__ == "__main__":
    harness.run("staged", __doc__, body)
