#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Redis holding data funneld cannot use (docs/operations.md): a stored deal state that does not
decode (as after a change of funnel.stages under the same prefix). funneld must log the deal and
stop with exit 1, having applied nothing of the batch that needed it: no counter of that deal's
event, the stored offsets unchanged. Real redis-server, the mock Kafka cluster, funneld.

Python 3 standard library only. Usage: test_bad_state.py --build-dir DIR [--source-dir DIR]
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
import harness  # noqa: E402
from harness import TestFailure  # noqa: E402

NAME = "test_bad_state"


class Msg:
    def __init__(self, key, ev):
        self.key = key.encode()
        self.value = json.dumps(ev).encode()


def event(n, typ, deal, **kw):
    ev = {"event_id": "bs-%d" % n, "type": typ, "occurred_at": "2026-11-23T10:%02d:00Z" % n,
          "rep_id": "anna", "team_id": "emea", "deal_id": deal}
    ev.update(kw)
    return Msg(deal, ev)


def body(h, args):
    h.start_redis()
    h.start_mock()
    fd = h.start_funneld("A")
    # a good deal first: funneld runs and stores offsets
    nxt = h.produce([event(1, "deal.created", "good-1", stage="lead")])
    h.wait_done(nxt, timeout=60)
    r = h.redis()
    before = h.progress(r)
    # a stored state that is not funneld's encoding, then an event of that deal
    r.call("SET", h.prefix + ":deal:bad-1", "\x01garbage")
    nxt2 = h.produce([event(2, "deal.stage_changed", "bad-1", stage="proposal")])
    rc = fd.wait(60)
    if rc is None:
        raise TestFailure("funneld still runs 60 s after reading an undecodable deal state")
    if rc != 1:
        raise TestFailure("funneld exited %s on an undecodable deal state, expected 1:\n%s"
                          % (rc, fd.tail()))
    with open(fd.log_path, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    if "bad-1" not in log or "stored deal state unreadable" not in log:
        raise TestFailure("funneld's log does not name the deal it could not read:\n%s"
                          % fd.tail())
    after = h.progress(r)
    if after != before or sum(after.values()) != sum(nxt2.values()) - 1:
        raise TestFailure("offsets moved although the batch was not applied: %s -> %s"
                          % (before, after))
    entered = r.call("HGET", h.prefix + ":rep:all:anna", "entered:proposal")
    if entered is not None:
        raise TestFailure("the undecodable deal's event was counted: entered:proposal %r"
                          % entered)
    print("[%s] exit 1, the deal named in the log, nothing of the batch applied" % NAME,
          flush=True)


if __name__ == "__main__":
    harness.run(NAME, __doc__, body)
