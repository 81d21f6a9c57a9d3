#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The claim and apply scripts alone (src/lua/claim.lua, src/lua/apply.lua), driven with
hand-built KEYS and ARGV against a private redis-server: no funneld, no fold, no store. The
expected hashes are worked out by hand from docs/redis.md and the layout at the top of
apply.lua: one hash with known deltas gets exact counters, amounts and rates; the offsets, the
dedupe list, the stats and a deal state are written; a fenced token, a gap, a deal assumed new
that exists and malformed input are refused with nothing written; a retry of an applied batch
is answered as already applied and doubles nothing. The feeds (docs/feeds.md) are written in
the same step: a change-feed entry naming the changed hashes (or a bulk entry past the bound),
the partitions and offsets and the watermark; the publisher's dirty set, or its untracked mark.

Python 3 standard library only. Usage: test_lua_apply.py --build-dir DIR [--source-dir DIR]
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import harness  # noqa: E402
from harness import RespError, TestFailure, pairs_to_dict  # noqa: E402

NAME = "test_lua_apply"
P = "t"  # the key prefix of this test

# A funnel of two stages (lead, won) as the apply script sees it: its field names, the amount
# fields and the derived fields of src/model/metrics.h spelled out by hand.
FIELDS = ["entered:lead", "advanced:lead", "moved_on:lead", "lost_at:lead", "dwell_sum_ms:lead",
          "dwell_count:lead", "entered:won", "won", "lost", "won_amount", "feedback_count",
          "feedback_sum", "complaints", "events", "activity:call", "open:lead",
          "open_amount:lead", "open", "open_amount"]
AMOUNTS = ["won_amount", "feedback_sum", "open_amount:lead", "open_amount"]
DERIVED = [  # name, numerator, denominator, den_plus_num, scale, decimals
    ("conv:lead", "advanced:lead", "entered:lead", "0", "1", "4"),
    ("exit_conv:lead", "moved_on:lead", "lost_at:lead", "1", "1", "4"),
    ("dwell_hours:lead", "dwell_sum_ms:lead", "dwell_count:lead", "0", "3600000", "2"),
    ("win_rate", "won", "lost", "1", "1", "4"),
    ("feedback_avg", "feedback_sum", "feedback_count", "0", "100", "2"),
]

STATS = P + ":stats"
CHANGES = P + ":changes"
FEED = P + ":feed"
DIRTY = P + ":metrics:dirty"
PUB = P + ":metrics:publisher"
REP_TEAM = P + ":rep_team"
REP_TEAM_AT = P + ":rep_team:at"
LATE = P + ":late"
PARTS = P + ":parts"
PART = P + ":part:crm.events:0"
DEDUPE = P + ":dedupe:crm.events:0"
HASH = P + ":rep:all:anna"
DEAL = P + ":deal:d1"
EXPIRE_AT = 4102444800  # 2100-01-01T00:00:00Z


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def deltas(expire_at, changes):
    """The binary deltas argument: expiry varint, then (field index byte, signed delta): a
    zigzag varint (2d, or -2d - 1 below 0) below 10^15 in magnitude, else 0, a length byte and
    the digits (after '-' when negative)."""
    out = bytearray(varint(expire_at))
    for name, d in changes:
        out.append(FIELDS.index(name))
        if abs(d) < 10 ** 15:
            out += varint(2 * d if d > 0 else -2 * d - 1)
        else:
            text = str(d).encode()
            out += bytes([0, len(text)]) + text
    return bytes(out)


def apply_command(sha, token, frm, nxt, ids, hashes, deals, new_deals=(), stats=(),
                  version="7", feed=("1", 10000, 256, "1", ""), rep_teams=(), late=(),
                  part=(PART, DEDUPE), commit=None):
    """EVALSHA of the apply script for one part: hashes [(key, deltas)], deals [(key, state)],
    ids: the dedupe ids of the batch (16 bytes each), stats [(field, delta)]; feed: (changes,
    maxlen, max keys, track, latest event ms); rep_teams [(rep, team, ms)]; late [8 fields];
    commit: (id, [chunk blob], event ms, stamp) for the commit of a staged batch, else a plain
    apply."""
    keys = [STATS, CHANGES, FEED, DIRTY, PUB, REP_TEAM, REP_TEAM_AT, LATE] + list(part) + \
        list(new_deals) + [k for k, _ in hashes] + [k for k, _ in deals]
    argv = [version] + list(feed) + [len(FIELDS)] + FIELDS + [len(AMOUNTS)] + AMOUNTS + \
        [len(DERIVED)]
    for d in DERIVED:
        argv += list(d)
    argv += [1, token, frm, nxt, b"".join(ids), len(ids), 0]
    argv += [len(new_deals), len(hashes)] + [d for _, d in hashes]
    argv += [len(deals)] + [s for _, s in deals]
    argv += [len(stats)]
    for f, v in stats:
        argv += [f, v]
    argv += [len(rep_teams)]
    for rt in rep_teams:
        argv += list(rt)
    argv += [len(late)]
    for entry in late:
        argv += list(entry)
    if commit is None:
        argv += [""]
    else:
        sid, blobs, event_ms, stamp = commit
        keys += [STAGED_PREFIX + sid]
        argv += list(blobs) + [sid, len(blobs), event_ms, stamp, "commit"]
    return ["EVALSHA", sha, len(keys)] + keys + argv


STAGED_PREFIX = P + ":staged:"


def chunk_command(sha, sid, i, hashes, deals, parts, stamp, feed=("1", 10000, 256, "1", ""),
                  stats=()):
    """EVALSHA of chunk i of staged batch sid committed with stamp: hashes [(key, deltas)],
    deals [(key, state)], parts: the part hash keys of the batch; stats (malformed in a chunk)
    [(field, delta)]."""
    keys = [STATS, CHANGES, FEED, DIRTY, PUB, REP_TEAM, REP_TEAM_AT, LATE] + \
        [k for k, _ in hashes] + [k for k, _ in deals] + [STAGED_PREFIX + sid] + list(parts)
    argv = ["7"] + list(feed) + [len(FIELDS)] + FIELDS + [len(AMOUNTS)] + AMOUNTS + \
        [len(DERIVED)]
    for d in DERIVED:
        argv += list(d)
    argv += [0, 0, len(hashes)] + [d for _, d in hashes] + [len(deals)] + [s for _, s in deals]
    argv += [len(stats)] + [x for st in stats for x in st]
    argv += [0, 0, sid, i, len(parts), stamp, "chunk"]
    return ["EVALSHA", sha, len(keys)] + keys + argv


def blob(hashes, deals):
    """A chunk of the staged record: per entry a kind byte (h, d), the key's length as a
    varint, the key, the value's length as a varint, the value."""
    out = bytearray()
    for kind, entries in ((b"h", hashes), (b"d", deals)):
        for k, v in entries:
            k = k.encode() if isinstance(k, str) else k
            v = v.encode() if isinstance(v, str) else v
            out += kind + varint(len(k)) + k + varint(len(v)) + v
    return bytes(out)


def expect(what, got, want):
    if got != want:
        raise TestFailure("%s: expected %r, found %r" % (what, want, got))


def snapshot(r):
    """Everything under the prefix, to show that a refused apply wrote nothing."""
    out = {}
    for k in sorted(r.scan_all(P + ":*")):
        t = r.call("TYPE", k)
        if t == b"hash":
            out[k] = pairs_to_dict(r.call("HGETALL", k))
        elif t == b"list":
            out[k] = r.call("LRANGE", k, 0, -1)
        elif t == b"stream":
            out[k] = r.call("XRANGE", k, "-", "+")
        elif t == b"set":
            out[k] = sorted(r.call("SMEMBERS", k))
        else:
            out[k] = r.call("GET", k)
    return out


def script(h, name):
    with open(os.path.join(h.source, "src", "lua", name + ".lua"), "rb") as f:
        return f.read()


def body(h, args):
    h.start_redis()
    r = h.redis()
    claim_sha = r.call("SCRIPT", "LOAD", script(h, "claim"))
    apply_sha = r.call("SCRIPT", "LOAD", script(h, "apply"))

    # -- claim: epoch 1, the instance and nonce in the token, no stored offset, no dedupe ids
    got = r.call("EVALSHA", claim_sha, 3, PART, DEDUPE, PARTS, "inst-a", "0123456789abcdef")
    expect("first claim", got, [b"1:inst-a:0123456789abcdef", None, None])
    old_token = got[0].decode()
    got = r.call("EVALSHA", claim_sha, 3, PART, DEDUPE, PARTS, "inst-b", "fedcba9876543210")
    expect("second claim", got, [b"2:inst-b:fedcba9876543210", None, None])
    token = got[0].decode()
    expect("stored token", r.call("HGET", PART, "token"), token.encode())
    expect("the claimed parts", r.call("SMEMBERS", PARTS), [PART.encode()])

    # -- one hash with known deltas over stored values: entered:lead was 1, won_amount 10.05
    r.call("HSET", HASH, "entered:lead", "1", "won_amount", "10.05")
    id1 = bytes(range(16))
    hashes = [(HASH, deltas(EXPIRE_AT, [
        ("entered:lead", 3), ("advanced:lead", 2), ("moved_on:lead", 2), ("lost_at:lead", 1),
        ("dwell_sum_ms:lead", 5400000), ("dwell_count:lead", 2), ("won", 1), ("lost", 2),
        ("won_amount", 123456), ("feedback_count", 3), ("feedback_sum", 1250), ("events", 9)]))]
    deals = [(DEAL, "state-of-d1")]
    stats = [("accepted", 9), ("batches", 1)]
    cmd = apply_command(apply_sha, token, "", "5", [id1], hashes, deals, stats=stats,
                        feed=("1", 10000, 256, "1", "1764000000123"))

    # a fenced token, a gap and a deal assumed new that exists are refused, writing nothing
    before = snapshot(r)
    fenced = apply_command(apply_sha, old_token, "", "5", [id1], hashes, deals, stats=stats)
    expect("fenced apply", r.call(*fenced), [b"FENCED", 1])
    gap = apply_command(apply_sha, token, "3", "5", [id1], hashes, deals, stats=stats)
    expect("apply from 3 with no stored offset", r.call(*gap), [b"GAP", 1, b""])
    r.call("SET", DEAL, "stored")
    exists = apply_command(apply_sha, token, "", "5", [id1], hashes, deals, new_deals=[DEAL],
                           stats=stats)
    expect("deal assumed new that exists", r.call(*exists), [b"EXISTS", DEAL.encode()])
    r.call("DEL", DEAL)
    nkeys = cmd[2]
    for bad, why in ((apply_command(apply_sha, token, "", "5", [id1], hashes, deals,
                                    version="6"), "layout version is not 7"),
                     (cmd[:2] + [nkeys - 1] + cmd[3:2 + nkeys] + cmd[3 + nkeys:],
                      "KEYS ends early in the deals"),
                     (cmd[:-1] + ["surplus", ""], "1 ARGV entries left over"),
                     (cmd[:-1] + ["later"], "stage mode is not"),
                     (apply_command(apply_sha, token, "", "5", [id1], hashes, deals,
                                    feed=("1", 10000, 256, "1", "17e11")),
                      "latest event time 17e11 is not ms since the epoch")):
        try:
            r.call(*bad)
            raise TestFailure("malformed apply accepted (%s)" % why)
        except RespError as e:
            if "funneld apply" not in str(e) or why not in str(e):
                raise TestFailure("malformed apply: expected '%s', got %s" % (why, e))
    expect("state after the refused applies", snapshot(r), before)

    # the apply: counters add, amounts add exactly in hundredths, rates are one division
    expect("apply", r.call(*cmd), [b"OK"])
    expect(HASH, pairs_to_dict(r.call("HGETALL", HASH)), {
        b"entered:lead": b"4", b"advanced:lead": b"2", b"moved_on:lead": b"2",
        b"lost_at:lead": b"1", b"dwell_sum_ms:lead": b"5400000", b"dwell_count:lead": b"2",
        b"won": b"1", b"lost": b"2", b"won_amount": b"1244.61", b"feedback_count": b"3",
        b"feedback_sum": b"12.50", b"events": b"9",
        b"conv:lead": b"0.5000",          # 2 / 4
        b"exit_conv:lead": b"0.6667",     # 2 / (2 + 1)
        b"dwell_hours:lead": b"0.75",     # 5400000 / (2 x 3600000)
        b"win_rate": b"0.3333",           # 1 / (1 + 2)
        b"feedback_avg": b"4.17",         # 1250 / (3 x 100)
    })
    ttl = r.call("TTL", HASH)
    if ttl <= 0:
        raise TestFailure("%s: expected an expiry, TTL %r" % (HASH, ttl))
    part = pairs_to_dict(r.call("HGETALL", PART))
    expect("part next", part.get(b"next"), b"5")
    expect("part dedupe_n", part.get(b"dedupe_n"), b"1")
    expect("dedupe list", r.call("LRANGE", DEDUPE, 0, -1), [id1])
    expect("deal state", r.call("GET", DEAL), b"state-of-d1")
    expect("stats", pairs_to_dict(r.call("HGETALL", STATS)),
           {b"accepted": b"9", b"batches": b"1"})

    # the feeds, in the same step: one entry naming the hash, the part's offsets (no stored
    # offset before: from is empty) and the watermark; the hash is dirty for the publisher
    entries = r.call("XRANGE", CHANGES, "-", "+")
    expect("change-feed entries", [pairs_to_dict(f) for _, f in entries], [{
        b"kind": b"change", b"watermark": b"1764000000123", b"n": b"1",
        b"parts": b"crm.events:0::5", b"keys": b"rep:all:anna"}])
    expect("feed watermark", r.call("HGET", FEED, "watermark"), b"1764000000123")
    expect("dirty set", r.call("SMEMBERS", DIRTY), [b"rep:all:anna"])

    # a retry of the applied batch is answered as already applied and doubles nothing
    after = snapshot(r)
    expect("retried apply", r.call(*cmd), [b"ALREADY"])
    expect("state after the retry", snapshot(r), after)

    # the next batch continues from 5: only the derived fields whose inputs changed are
    # written again (lost_at recomputes exit_conv from the stored moved_on)
    # (and with a bound of 0 keys its entry is bulk; not tracked, it marks the publisher
    # untracked; an older event leaves the watermark where it is)
    hash2 = P + ":team:day:2026-11-22:Moses Frase"
    nxt = apply_command(apply_sha, token, "5", "7", [bytes(16)],
                        [(HASH, deltas(0, [("lost_at:lead", 1), ("activity:call", 2)])),
                         (hash2, deltas(0, [("events", 1)]))], [],
                        feed=("1", 10000, 0, "0", "1700000000000"))
    expect("second apply", r.call(*nxt), [b"OK"])
    last = r.call("XRANGE", CHANGES, "-", "+")[-1][1]
    expect("bulk entry", pairs_to_dict(last), {
        b"kind": b"bulk", b"watermark": b"1764000000123", b"n": b"2",
        b"parts": b"crm.events:0:5:7"})
    expect("untracked mark", r.call("HGET", PUB, "untracked"), b"1")
    expect("dirty set untouched", r.call("SMEMBERS", DIRTY), [b"rep:all:anna"])
    # a step with the change feed off writes no entry; tracked, its hashes are dirty
    third = apply_command(apply_sha, token, "7", "8", [], [(hash2, deltas(0, [("events", 1)]))],
                          [], feed=("0", 10000, 256, "1", "1800000000000"))
    expect("third apply", r.call(*third), [b"OK"])
    expect("entries after a step without the feed", r.call("XLEN", CHANGES), 2)
    expect("dirty set", sorted(r.call("SMEMBERS", DIRTY)),
           [b"rep:all:anna", b"team:day:2026-11-22:Moses Frase"])
    expect("exit_conv after lost_at + 1", r.call("HGET", HASH, "exit_conv:lead"), b"0.5000")
    expect("activity:call", r.call("HGET", HASH, "activity:call"), b"2")
    expect("conv unchanged", r.call("HGET", HASH, "conv:lead"), b"0.5000")
    expect("part next", r.call("HGET", PART, "next"), b"8")
    expect("batches (the later applies add no stats)", r.call("HGET", STATS, "batches"), b"1")

    # the claim reads the offset and the dedupe chunks back in the same step
    got = r.call("EVALSHA", claim_sha, 3, PART, DEDUPE, PARTS, "inst-c", "00000000000000aa")
    expect("claim after three batches", got,
           [b"3:inst-c:00000000000000aa", b"8", None, id1, bytes(16)])
    # refused before any write: a claim whose parts set has the wrong type, an apply whose
    # stored watermark is not a number (the feed entry would fail after the counters)
    before = snapshot(r)
    r.call("SET", PARTS, "not a set")
    try:
        r.call("EVALSHA", claim_sha, 3, PART, DEDUPE, PARTS, "inst-d", "00000000000000bb")
        raise TestFailure("a claim with a wrong-typed parts set was accepted")
    except RespError as e:
        if "funneld claim" not in str(e) or "expected a set" not in str(e):
            raise TestFailure("claim with a wrong-typed parts set: %s" % e)
    r.call("DEL", PARTS)
    r.call("SADD", PARTS, PART)
    expect("state after the refused claim", snapshot(r), before)
    r.call("HSET", FEED, "watermark", "soon")
    before = snapshot(r)
    late = apply_command(apply_sha, "3:inst-c:00000000000000aa", "8", "9", [],
                         [(HASH, deltas(0, [("events", 1)]))], [])
    try:
        r.call(*late)
        raise TestFailure("an apply over a malformed watermark was accepted")
    except RespError as e:
        if "watermark holds soon" not in str(e):
            raise TestFailure("apply over a malformed watermark: %s" % e)
    expect("state after the refused apply", snapshot(r), before)

    # layout 6: signed deltas (the open pipeline is a stock); a field reaching 0 is deleted,
    # amounts stay exact in hundredths on the digit-string path too; rep -> team kept where the
    # stored time is not later; late events in <p>:late
    r.call("HSET", FEED, "watermark", "0")
    tok = "3:inst-c:00000000000000aa"
    org = P + ":org:all"
    big = 12345678901234567899  # hundredths: 123456789012345678.99
    r.call("HSET", org, "open:lead", "2", "open_amount:lead", "10.05", "open", "2",
           "open_amount", "123456789012345678.99")
    r.call("HSET", REP_TEAM, "anna", "old", "dora", "old")
    r.call("HSET", REP_TEAM_AT, "anna", "2000", "dora", "3000")
    late_entry = ["ev-9", "deal.lost", "anna", "emea", "1000", "crm.events", "0", "8"]
    signed = apply_command(apply_sha, tok, "8", "9", [], [(org, deltas(0, [
        ("open:lead", -2), ("open_amount:lead", -1005), ("open", -1),
        ("open_amount", -(big - 5))]))], [],
        rep_teams=[("anna", "emea", "1000"), ("bob", "apac", "500"), ("dora", "west", "3000")],
        late=[late_entry])
    expect("signed apply", r.call(*signed), [b"OK"])
    expect(org + " after signed deltas", pairs_to_dict(r.call("HGETALL", org)),
           {b"open": b"1", b"open_amount": b"0.05"})
    expect("rep_team", pairs_to_dict(r.call("HGETALL", REP_TEAM)),
           {b"anna": b"old", b"bob": b"apac", b"dora": b"west"})
    expect("rep_team:at", pairs_to_dict(r.call("HGETALL", REP_TEAM_AT)),
           {b"anna": b"2000", b"bob": b"500", b"dora": b"3000"})
    expect("late stream", [pairs_to_dict(f) for _, f in r.call("XRANGE", LATE, "-", "+")], [
        {b"event_id": b"ev-9", b"type": b"deal.lost", b"rep": b"anna", b"team": b"emea",
         b"occurred_ms": b"1000", b"topic": b"crm.events", b"partition": b"0", b"offset": b"8"}])
    # a big amount subtracted exactly, and an amount added on the digit path
    r.call("HSET", org, "open_amount", "%d.%02d" % (big // 100, big % 100))
    more = apply_command(apply_sha, tok, "9", "10", [], [(org, deltas(0, [
        ("open_amount", -(10 ** 16 + 1)), ("open", 10 ** 15)]))], [])
    expect("digit-path apply", r.call(*more), [b"OK"])
    rest = big - 10 ** 16 - 1
    expect("open_amount on the digit path", r.call("HGET", org, "open_amount"),
           ("%d.%02d" % (rest // 100, rest % 100)).encode())
    expect("open on the digit path", r.call("HGET", org, "open"), str(10 ** 15 + 1).encode())
    # going below 0 is refused before any write
    before = snapshot(r)
    below = apply_command(apply_sha, tok, "10", "11", [], [(org, deltas(0, [
        ("open:lead", -1)]))], [])
    try:
        r.call(*below)
        raise TestFailure("a delta taking a counter below 0 was accepted")
    except RespError as e:
        if "would go below 0" not in str(e):
            raise TestFailure("counter below 0: %s" % e)
    below = apply_command(apply_sha, tok, "10", "11", [], [(org, deltas(0, [
        ("open_amount", -(big + 1))]))], [])
    try:
        r.call(*below)
        raise TestFailure("a delta taking an amount below 0 was accepted")
    except RespError as e:
        if "would go below 0" not in str(e):
            raise TestFailure("amount below 0: %s" % e)
    expect("state after the refused applies", snapshot(r), before)
    staged(r, claim_sha, apply_sha)
    r.close()
    print("[%s] claim and apply scripts: exact fields, fencing, gap, conflict, malformed input, "
          "retry and staged batches as expected" % NAME)


def staged(r, claim_sha, apply_sha):
    """A staged batch (docs/redis.md, "Staged batches") on partition 1: the commit writes the
    offsets, the dedupe chunk, the stats and the record, no hash; each chunk applies its part
    once; the last one removes the record and the part's mark; meanwhile the partition refuses
    other batches (STAGED) and a claim returns the batch's id."""
    part, dedupe = P + ":part:crm.events:1", P + ":dedupe:crm.events:1"
    tok = r.call("EVALSHA", claim_sha, 3, part, dedupe, PARTS, "inst-s", "00000000000000cc")[0]
    stamp = tok + b"#1"
    sid = "crm.events:1:-:4"
    record = STAGED_PREFIX + sid
    h1, h2, h3 = P + ":rep:all:sam", P + ":rep:all:tia", P + ":org:day:2026-11-22"
    d1 = deltas(0, [("entered:lead", 2), ("advanced:lead", 1)])
    d2 = deltas(EXPIRE_AT, [("won", 1), ("won_amount", 250)])
    d3 = deltas(0, [("events", 4)])
    c1, c2 = ([(h1, d1), (h2, d2)], [(P + ":deal:s1", "st-s1")]), ([(h3, d3)], [])
    blobs = [blob(*c1), blob(*c2)]
    commit = apply_command(apply_sha, tok.decode(), "", "4", [bytes([7] * 16)], [], [],
                           stats=[("accepted", 4), ("batches", 1), ("staged_batches", 1)],
                           part=(part, dedupe), commit=(sid, blobs, "1764000000999", stamp))
    expect("commit", r.call(*commit), [b"OK"])
    expect("record", pairs_to_dict(r.call("HGETALL", record)), {
        b"n": b"2", b"left": b"2", b"event_ms": b"1764000000999", b"parts": part.encode(),
        b"stamp": stamp, b"c:1": blobs[0], b"c:2": blobs[1]})
    expect("part after the commit", r.call("HMGET", part, "next", "staged", "dedupe_n"),
           [b"4", sid.encode(), b"1"])
    expect("no hash written by the commit", r.call("EXISTS", h1, h2, h3), 0)
    expect("staged_batches", r.call("HGET", STATS, "staged_batches"), b"1")
    entry = pairs_to_dict(r.call("XREVRANGE", CHANGES, "+", "-", "COUNT", 1)[0][1])
    expect("commit entry", (entry[b"n"], entry[b"parts"], entry.get(b"keys", b"")),
           (b"0", b"crm.events:1::4", b""))
    # the commit retried answers ALREADY; another batch of the partition is refused
    before = snapshot(r)
    expect("commit retried", r.call(*commit), [b"ALREADY"])
    plain = apply_command(apply_sha, tok.decode(), "4", "5", [], [(h1, d3)], [],
                          part=(part, dedupe))
    expect("plain apply while staged", r.call(*plain), [b"STAGED", 1, sid.encode()])
    expect("state after the refusals", snapshot(r), before)
    # a chunk with stats is malformed
    try:
        r.call(*chunk_command(apply_sha, sid, 1, *c1, [part], stamp, stats=[("accepted", 1)]))
        raise TestFailure("a chunk with stats was accepted")
    except RespError as e:
        if "a chunk with parts, new deals, stats" not in str(e):
            raise TestFailure("a chunk with stats: %s" % e)
    expect("state after a malformed chunk", snapshot(r), before)
    # a chunk sent with another stamp belongs to another build of that id (a refused commit):
    # refused, nothing written
    other = chunk_command(apply_sha, sid, 2, *c2, [part], tok + b"#2")
    expect("chunk of another commit", r.call(*other), [b"ALREADY"])
    expect("state after the chunk of another commit", snapshot(r), before)
    # chunk 2 first, then chunk 2 again (refused by its marker: nothing doubles)
    expect("chunk 2", r.call(*chunk_command(apply_sha, sid, 2, *c2, [part], stamp)), [b"OK"])
    expect(h3, r.call("HGET", h3, "events"), b"4")
    entry = pairs_to_dict(r.call("XREVRANGE", CHANGES, "+", "-", "COUNT", 1)[0][1])
    expect("chunk entry", (entry[b"n"], entry[b"parts"], entry[b"keys"]),
           (b"1", b"", b"org:day:2026-11-22"))
    after = snapshot(r)
    expect("chunk 2 again", r.call(*chunk_command(apply_sha, sid, 2, *c2, [part], stamp)), [b"ALREADY"])
    expect("state after chunk 2 again", snapshot(r), after)
    expect("record after chunk 2", r.call("HMGET", record, "left", "c:1", "c:2"),
           [b"1", blobs[0], None])
    # a claim now returns the staged batch for its claimer to finish
    got = r.call("EVALSHA", claim_sha, 3, part, dedupe, PARTS, "inst-t", "00000000000000dd")
    expect("claim of a staged partition", got[1:], [b"4", sid.encode(), bytes([7] * 16)])
    expect("chunk 1", r.call(*chunk_command(apply_sha, sid, 1, *c1, [part], stamp)), [b"OK"])
    expect(h1, pairs_to_dict(r.call("HGETALL", h1)), {
        b"entered:lead": b"2", b"advanced:lead": b"1", b"conv:lead": b"0.5000"})
    expect(h2, pairs_to_dict(r.call("HGETALL", h2)), {
        b"won": b"1", b"won_amount": b"2.50", b"win_rate": b"1.0000"})
    expect("deal of chunk 1", r.call("GET", P + ":deal:s1"), b"st-s1")
    expect("record after the last chunk", r.call("EXISTS", record), 0)
    expect("mark after the last chunk", r.call("HGET", part, "staged"), None)
    after = snapshot(r)
    expect("chunk 1 again", r.call(*chunk_command(apply_sha, sid, 1, *c1, [part], stamp)), [b"ALREADY"])
    expect("state after chunk 1 again", snapshot(r), after)
    # a mark left without its record (deleted by hand) is cleared by any chunk of the batch
    r.call("HSET", part, "staged", sid)
    expect("chunk of a gone record", r.call(*chunk_command(apply_sha, sid, 1, [], [], [part], stamp)),
           [b"ALREADY"])
    expect("stale mark cleared", r.call("HGET", part, "staged"), None)


if __name__ == "__main__":
    harness.run(NAME, __doc__, body)
