#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End to end: >= 100,000 generated events over 8 partitions, with duplicates, out-of-order
events within deals and malformed messages, consumed by one funneld; the final Redis content must
equal the independent model field by field. Prints the events/second of the run."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402


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
    st = mdl.expected_stats()
    print("[e2e] OK: %d hashes equal; accepted %d, duplicates %d, rejected %d (%d reasons); "
          "funneld exit 0 on SIGTERM" % (hashes, st["accepted"], st["duplicates"], st["rejected"],
                                         sum(1 for k in st if k.startswith("rejected:"))))


if __name__ == "__main__":
    harness.run("e2e", __doc__, body)
