#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End to end: >= 100,000 generated events over 8 partitions, with duplicates, out-of-order
events within deals and malformed messages, consumed by one funneld; the final Redis content must
equal the independent model field by field. Prints the events/second of the run.

Then a second funneld (nothing cached) gets deal.created events of known deals under new event ids
(a CRM re-sending creates): funneld folds a deal seen first through its creation as new, so Redis
must refuse those batches and funneld read them again with the stored states; the result must
still equal the model (a repeated create of a known deal counts only what it changes)."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402
import model  # noqa: E402


def recreates(mdl, nxt_id):
    """deal.created again, under new event ids, for 40 known deals (half of them at a stage some
    have not reached) and for 5 new deals; returns the messages (the model is not run yet)."""
    msgs = []
    for i, deal in enumerate(sorted(mdl.deals)[:40]):
        stage = mdl.stages[2] if i % 2 else mdl.stages[0]
        ev = model.Event(event_id="recreate-%d" % (nxt_id + i), type="deal.created",
                         t_ms=1790000000000 + i * 60000, rep="Re Creator", team="emea",
                         deal=deal, stage=mdl.stages.index(stage))
        msgs.append((deal, ev, stage))
    for i in range(5):
        deal = "brand-new-%d" % i
        ev = model.Event(event_id="recreate-new-%d" % i, type="deal.created",
                         t_ms=1790000000000 + i * 60000, rep="Re Creator", team="emea",
                         deal=deal, stage=0)
        msgs.append((deal, ev, mdl.stages[0]))
    out = []
    for deal, ev, stage in msgs:
        value = json.dumps({"event_id": ev.event_id, "type": ev.type, "occurred_at": ev.t_ms,
                            "rep_id": ev.rep, "team_id": ev.team, "deal_id": deal,
                            "stage": stage}).encode()
        out.append(model.Msg(key=deal.encode(), value=value, event=ev, reject=None,
                             note="repeated create"))
    return out


def body(h, args):
    msgs, mdl, gen = harness.generate(h, args, 100000, tz="Asia/Shanghai", huge_amount=True)
    h.start_redis()
    h.start_mock()
    t = time.time()
    nxt = h.produce(msgs)
    print("[e2e] produced %d messages in %.1f s; next offsets %s"
          % (len(msgs), time.time() - t, nxt), flush=True)

    t_start = time.time()
    fd = h.start_funneld("A")
    t_first, t_done, _ = h.wait_done(nxt, timeout=180)
    n = sum(nxt.values())
    print("[e2e] funneld started -> first apply %.1f s; first -> last apply %.2f s for %d "
          "messages: %.0f events/s" % (t_first - t_start, t_done - t_first, n,
                                       n / max(1e-3, t_done - t_first)), flush=True)
    hashes = h.compare(mdl)
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("funneld exited %s after SIGTERM, expected 0" % rc)
    # Every rejected message is dead-lettered exactly once in a run without crashes.
    rejected = mdl.expected_stats()["rejected"]
    dlq = h.count_topic(harness.DLQ_TOPIC, rejected)
    if dlq != rejected:
        raise harness.TestFailure("the dead-letter topic holds %s%d messages for %d rejected "
                                  "ones" % ("at least " if dlq > rejected else "", dlq, rejected))
    h.check_dead_letters(msgs, sum(nxt.values()))
    print("[e2e] %d dead letters, one per rejected message" % dlq, flush=True)

    again = recreates(mdl, 0)
    mdl.run(again)
    fd = h.start_funneld("B")
    nxt = h.produce(again)
    h.wait_done(nxt, timeout=120)
    hashes = h.compare(mdl, label="after repeated creates")
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("funneld B exited %s after SIGTERM, expected 0" % rc)
    log = open(h.logpath("funneld-B"), encoding="utf-8", errors="replace").read()
    if "folded that deal as new" not in log:
        raise harness.TestFailure("funneld B never had a batch refused for a deal assumed new: "
                                  "the repeated creates did not take that path\n" + log[-3000:])
    print("[e2e] repeated creates of 40 known deals: refused, read again, %d hashes equal"
          % hashes, flush=True)
    st = mdl.expected_stats()
    print("[e2e] OK: %d hashes equal; accepted %d, duplicates %d, rejected %d (%d reasons); "
          "funneld exit 0 on SIGTERM" % (hashes, st["accepted"], st["duplicates"], st["rejected"],
                                         sum(1 for k in st if k.startswith("rejected:"))))


if __name__ == "__main__":
    harness.run("e2e", __doc__, body)
