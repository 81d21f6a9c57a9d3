#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Kafka outage: the only broker of the embedded cluster goes down mid-run for several seconds and
comes back. librdkafka retries on its own; funneld must log the outage, keep its offsets where they
were, resume by itself (it is not restarted) and end with Redis equal to the independent model."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import harness  # noqa: E402


def mock_command(h, line):
    h.mock.popen.stdin.write((line + "\n").encode())
    h.mock.popen.stdin.flush()
    answer = h.mock.popen.stdout.readline().decode().strip()
    if answer != "ok":
        raise harness.TestFailure("fd-mockcluster answered %r to %r" % (answer, line))


def body(h, args):
    msgs, mdl, gen = harness.generate(h, args, 40000, tz="Europe/Berlin", big_payloads=False)
    h.start_redis()
    h.start_mock()
    fd = h.start_funneld("A")
    feed = h.start_feed(msgs, seconds=25)
    h.wait_progress(lambda c: sum(c.values()) > 0, 60, "a first apply")
    harness.wait_feed(feed, 0.3, timeout=60)
    r = h.redis()
    before = sum(h.progress(r).values())
    mock_command(h, "down 1")
    print("[kafka_outage] broker 1 down at %.0f%% of the feed, %d applied" %
          (100 * feed.fraction(), before), flush=True)
    time.sleep(6)
    during = sum(h.progress(r).values())
    if during < before:
        raise harness.TestFailure("stored offsets went back during the outage: %d < %d"
                                  % (during, before))
    mock_command(h, "up 1")
    print("[kafka_outage] broker 1 up again; %d applied while it was down" % (during - before),
          flush=True)
    r.close()
    nxt = feed.join()
    t_first, t_done, _ = h.wait_done(nxt, timeout=180)
    if not fd.alive():
        raise harness.TestFailure("funneld exited (rc %s) during the outage" % fd.popen.returncode)
    print("[kafka_outage] all %d messages applied %.1f s after the first apply"
          % (sum(nxt.values()), t_done - t_first), flush=True)
    # The idempotent producer retries what the outage cut off; librdkafka's mock broker may
    # write such a retry a second time (the log then holds more messages than were produced).
    # funneld must count each copy once more as a duplicate or dead letter, and nothing else.
    copies = sum(nxt.values()) - len(msgs)
    if copies < 0:
        raise harness.TestFailure("the log holds %d messages, fewer than the %d produced"
                                  % (sum(nxt.values()), len(msgs)))
    if copies:
        print("[kafka_outage] the broker wrote %d produced messages twice" % copies, flush=True)
    h.compare(mdl, log_copies=copies)
    with open(fd.log_path, "rb") as f:
        log = f.read().decode(errors="replace")
    # funneld's own log lines about the broker (the first line of the file is the command line)
    kafka_lines = re.findall(r"^\S+ (?:warn|error) +kafka: .*$", log, re.M)
    if not kafka_lines:
        raise harness.TestFailure("funneld's log has no warn/error line of the kafka module: "
                                  "the outage went unreported")
    print("[kafka_outage] the outage in funneld's log: %s" % kafka_lines[0], flush=True)
    rc = fd.stop(timeout=30)
    if rc != 0:
        raise harness.TestFailure("funneld exited %s after SIGTERM, expected 0" % rc)
    print("[kafka_outage] OK: outage logged, no restart needed, Redis equals the model")


if __name__ == "__main__":
    harness.run("kafka_outage", __doc__, body)
