# SPDX-License-Identifier: MIT
"""Validates funneld's Kafka messages against the JSON Schemas of docs/schemas (draft 2020-12),
for the integration tests; `schemas.py --selftest` checks the schemas themselves: documented
examples pass, deliberately wrong messages of each kind are refused.

Needs python3-jsonschema (Debian 12: 4.10, which has Draft202012Validator; scripts/deps installs
it). Its FormatChecker checks "date-time" only when the optional rfc3339-validator is installed
(Debian 12 does not install it): this module then adds its own strict RFC 3339 check.
Note: jsonschema matches "pattern" with Python's re.search, whose "$" also matches before a
final newline; the schemas are written for ECMA 262, where it does not.
"""

import datetime
import json
import os
import re
import sys

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import TestFailure  # noqa: E402

SCHEMA_DIR = os.path.join(HERE, "..", "..", "docs", "schemas")
NAMES = ("alerts", "dead-letters", "metrics")

_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
                      r"([Zz]|[+-](\d{2}):(\d{2}))\Z")


def _date_time(s):
    """RFC 3339 date-time (section 5.6), checked against the calendar; a leap second allowed."""
    if not isinstance(s, str):
        return True
    m = _RFC3339.match(s)
    if not m:
        return False
    y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
    if m.group(9) is not None and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        return False
    try:
        datetime.datetime(y, mo, d, h, mi, 59 if sec == 60 else sec)
    except ValueError:
        return False
    return sec <= 60


def format_checker():
    """A FormatChecker that checks date-time whatever optional packages are installed."""
    fc = FormatChecker()
    if "date-time" not in fc.checkers:
        fc.checks("date-time")(_date_time)
    return fc


_validators = {}


def validator(name):
    """The Draft202012Validator of docs/schemas/<name>.schema.json (the schema itself checked
    against the 2020-12 meta-schema first), with format checking."""
    if name not in _validators:
        path = os.path.join(SCHEMA_DIR, name + ".schema.json")
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        Draft202012Validator.check_schema(schema)
        _validators[name] = Draft202012Validator(schema, format_checker=format_checker())
    return _validators[name]


def _where(path):
    """$.fields["conv:lead"], $.source["funnel.events"]["0"], $.samples"""
    return "$" + "".join("[%d]" % p if isinstance(p, int)
                         else "." + p if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p)
                         else "[%s]" % json.dumps(p, ensure_ascii=False) for p in path)


def problems(name, docs):
    """[(index, text)] of every message of docs (decoded JSON values) that does not match the
    schema, one text per message (its deepest-first errors, shortened)."""
    v = validator(name)
    out = []
    for i, doc in enumerate(docs):
        errs = sorted(v.iter_errors(doc), key=lambda e: (-len(e.path), list(e.path)))
        if errs:
            out.append((i, "; ".join("at %s: %s" % (_where(e.absolute_path), e.message[:200])
                                     for e in errs[:3])))
    return out


def validate(name, docs, what=None, show=5):
    """Raises TestFailure when a message of docs does not match docs/schemas/<name>.schema.json,
    listing the first `show` with their index in docs. Returns len(docs)."""
    docs = list(docs)
    bad = problems(name, docs)
    if bad:
        lines = ["  message %d: %s\n    %s"
                 % (i, err, json.dumps(docs[i], ensure_ascii=False)[:300])
                 for i, err in bad[:show]]
        raise TestFailure("%d of %d %s do not match docs/schemas/%s.schema.json:\n%s"
                          % (len(bad), len(docs), what or name, name, "\n".join(lines)))
    return len(docs)


def dead_letter_envelope(m):
    """The JSON envelope of one dead letter (docs/schemas/dead-letters.schema.json) from a
    message of harness.dump_topic ({key, value, headers: [(name, bytes)]})."""
    headers = {}
    for name, val in m["headers"]:
        if name in headers:
            raise TestFailure("dead letter %d@%d: header %s appears twice"
                              % (m["partition"], m["offset"], name))
        headers[name] = None if val is None else val.decode("utf-8", errors="replace")
    # headers first: a failure report shows them before the (long) value
    return {"headers": headers,
            "key": None if m["key"] is None else m["key"].hex(),
            "value": None if m["value"] is None else m["value"].hex()}


# ----------------------------------------------------------------------------------------------
# Self-test: the schemas accept the documented examples and refuse a wrong message of each kind.

ALERT = {  # docs/alerts.md#alert-json (also read from the document below)
    "alert_id": "c16e76bf0bb4f3dadc9598ae407802f9",
    "episode_id": "725db12935549a68f643c3544bada2f1",
    "state": "firing", "rule": "proposal-exit-low", "severity": "warning",
    "condition": "threshold", "scope": "rep", "scope_id": "Anna Snelling",
    "team": "dustin-brinkmann", "manager": "Dustin Brinkmann", "kpi": "exit_conv:proposal",
    "stage": "proposal", "window": "7d", "value": 0.1235, "threshold": 0.2, "samples": 12,
    "started_at": "2026-11-22T10:00:00.000Z", "resolved_at": None,
    "at": "2026-11-22T10:00:00.000Z", "repeat": 0,
    "summary": "rep Anna Snelling: exit_conv:proposal over 7d is 0.1235 (firing; threshold 0.2, "
               "12 samples)"}

METRICS = {  # the example of the feeds spec (issue 14)
    "key": "rep:day:2026-11-22:anna",
    "scope": "rep", "window": "day:2026-11-22", "id": "anna",
    "window_start": "2026-11-21T23:00:00Z", "window_end": "2026-11-22T23:00:00Z",
    "version": 1796000000123,
    "published_at": "2026-12-06T22:30:00.123Z",
    "source": {"funnel.events": {"0": 1234, "1": 999}},
    "fields": {"entered:lead": 3, "advanced:lead": 1, "conv:lead": 0.3333,
               "won_amount": "1054.00", "feedback_avg": 3.85, "events": 7}}

DEAD_LETTER = {
    "key": "442d31303031", "value": "7b226576656e745f6964223a2278227d",
    "headers": {"funneld.reason": "missing_field", "funneld.error": "type: required, missing",
                "funneld.topic": "crm.events", "funneld.partition": "3",
                "funneld.offset": "1234", "funneld.truncated": "false",
                "funneld.original_size": "16"}}


def _with(doc, path, value):
    """A deep copy of doc with the key at path (a tuple) set to value, or removed when value is
    _DROP."""
    doc = json.loads(json.dumps(doc))
    o = doc
    for k in path[:-1]:
        o = o[k]
    if value is _DROP:
        del o[path[-1]]
    else:
        o[path[-1]] = value
    return doc


_DROP = object()


def _doc_examples(path, must_have):
    """The ```json blocks of a document that parse as one object with every key of must_have."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out = []
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        try:
            doc = json.loads(block)
        except ValueError:
            continue
        if isinstance(doc, dict) and all(k in doc for k in must_have):
            out.append(doc)
    return out


def _cases():
    """(schema, label, message, valid?)"""
    a, m, d = ALERT, METRICS, DEAD_LETTER
    resolved = dict(a, state="resolved", resolved_at="2026-11-22T14:00:00.000Z",
                    at="2026-11-22T14:00:00.000Z", value=None)
    target = dict({k: v for k, v in a.items() if k != "threshold"}, condition="target",
                  kpi="activity:call", stage=None, window="week", target=56, expected=24.5)
    drift = dict({k: v for k, v in a.items() if k != "threshold"}, condition="drift",
                 kpi="activity:call", stage=None, window="24h", baseline=8, change=-0.5, z=None,
                 baseline_samples=24)
    org = dict(a, scope="org", scope_id="", team="", manager=None, kpi="win_rate", stage=None)
    team = dict(a, scope="team", scope_id="emea", team="emea")
    stalled = dict(a, kpi="stalled:proposal", window="now")
    org_row = dict(m, key="org:month:2026-11", scope="org", window="month:2026-11", id=None)
    all_row = dict(m, key="team:all:Moses Frase", scope="team", window="all", id="Moses Frase",
                   window_start=None, window_end=None)
    cases = [
        ("alerts", "the example", a, True),
        ("alerts", "resolved, value unknown", resolved, True),
        ("alerts", "a repeat", dict(a, repeat=3), True),
        ("alerts", "target", target, True),
        ("alerts", "drift", drift, True),
        ("alerts", "org", org, True),
        ("alerts", "team", team, True),
        ("alerts", "stalled", stalled, True),
        ("alerts", "state pending", dict(a, state="pending"), False),
        ("alerts", "severity unknown", dict(a, severity="major"), False),
        ("alerts", "an unknown key", dict(a, extra=1), False),
        ("alerts", "alert_id not 32 hex digits", dict(a, alert_id="c16e76bf"), False),
        ("alerts", "no summary", _with(a, ("summary",), _DROP), False),
        ("alerts", "threshold rule without threshold", _with(a, ("threshold",), _DROP), False),
        ("alerts", "threshold rule with target keys", dict(a, target=1, expected=1), False),
        ("alerts", "drift without baseline_samples",
         _with(drift, ("baseline_samples",), _DROP), False),
        ("alerts", "firing with resolved_at", dict(a, resolved_at=a["at"]), False),
        ("alerts", "resolved without resolved_at", dict(resolved, resolved_at=None), False),
        ("alerts", "resolved with a repeat", dict(resolved, repeat=1), False),
        ("alerts", "org with an id", dict(org, scope_id="x"), False),
        ("alerts", "rep without an id", dict(a, scope_id=""), False),
        ("alerts", "time without milliseconds", dict(a, at="2026-11-22T10:00:00Z"), False),
        ("alerts", "time not on the calendar", dict(a, at="2026-02-30T10:00:00.000Z"), False),
        ("alerts", "samples a float", dict(a, samples=1.5), False),
        ("alerts", "value a string", dict(a, value="0.1"), False),
        ("alerts", "a stage KPI with stage null", dict(a, stage=None), False),
        ("alerts", "stalled with a window", dict(stalled, window="7d"), False),
        ("dead-letters", "the example", d, True),
        ("dead-letters", "no key, truncated", dict(d, key=None, value="",
                                                  headers=dict(d["headers"],
                                                               **{"funneld.truncated": "true"})),
         True),
        ("dead-letters", "a header missing", _with(d, ("headers", "funneld.error"), _DROP), False),
        ("dead-letters", "an extra header", _with(d, ("headers", "x-trace"), "1"), False),
        ("dead-letters", "reason unknown", _with(d, ("headers", "funneld.reason"), "bad"), False),
        ("dead-letters", "partition not decimal", _with(d, ("headers", "funneld.partition"), "-1"),
         False),
        ("dead-letters", "truncated yes", _with(d, ("headers", "funneld.truncated"), "yes"),
         False),
        ("dead-letters", "value not hex", dict(d, value="{\"event_id\": 1}"), False),
        ("metrics", "the example", m, True),
        ("metrics", "org", org_row, True),
        ("metrics", "all, no bounds", all_row, True),
        ("metrics", "hour window", dict(m, key="rep:hour:2026-11-22T10:anna",
                                        window="hour:2026-11-22T10"), True),
        ("metrics", "an unknown field as a string", _with(m, ("fields", "legacy"), "x"), True),
        ("metrics", "an unconfigured stage's counter as a string",
         _with(m, ("fields", "entered:demo"), "3"), True),
        ("metrics", "id non-null for org", dict(org_row, id="acme"), False),
        ("metrics", "id null for a rep", dict(m, id=None), False),
        ("metrics", "amount as a number", _with(m, ("fields", "won_amount"), 1054.0), False),
        ("metrics", "amount with one decimal", _with(m, ("fields", "won_amount"), "1054.0"),
         False),
        ("metrics", "counter as a string", _with(m, ("fields", "events"), "3"), False),
        ("metrics", "counter as a float", _with(m, ("fields", "entered:lead"), 2.5), False),
        ("metrics", "rate above 1", _with(m, ("fields", "conv:lead"), 1.5), False),
        ("metrics", "an unknown field as a number", _with(m, ("fields", "legacy"), 3), False),
        ("metrics", "key of another scope", dict(m, key="team:day:2026-11-22:anna"), False),
        ("metrics", "window unknown", dict(m, window="year:2026"), False),
        ("metrics", "all with bounds", dict(all_row, window_start=m["window_start"]), False),
        ("metrics", "day without bounds", dict(m, window_end=None), False),
        ("metrics", "version a float", dict(m, version=1.5), False),
        ("metrics", "published_at without ms", dict(m, published_at="2026-12-06T22:30:00Z"),
         False),
        ("metrics", "source offset a string", _with(m, ("source", "funnel.events", "0"), "1234"),
         False),
        ("metrics", "source partition not decimal", _with(m, ("source", "funnel.events", "p0"), 1),
         False),
        ("metrics", "no fields", _with(m, ("fields",), _DROP), False),
        ("metrics", "an unknown key", dict(m, extra=True), False),
    ]
    docs = os.path.join(SCHEMA_DIR, "..")
    for doc in _doc_examples(os.path.join(docs, "alerts.md"), ("alert_id", "episode_id")):
        cases.append(("alerts", "docs/alerts.md example", doc, True))
    for doc in _doc_examples(os.path.join(docs, "feeds.md"), ("key", "scope", "window", "fields")):
        cases.append(("metrics", "docs/feeds.md example", doc, True))
    return cases


def selftest():
    """Every schema is a valid 2020-12 schema; documented examples pass; each wrong one fails."""
    from importlib import metadata
    try:
        version = metadata.version("jsonschema")
    except metadata.PackageNotFoundError:
        version = getattr(jsonschema, "__version__", "?")
    print("jsonschema %s, date-time checked by %s" % (
        version, "jsonschema" if "date-time" in FormatChecker().checkers else "schemas.py"))
    for name in NAMES:
        validator(name)
    if not _date_time("2026-11-22T10:00:00.000Z") or _date_time("2026-11-22T24:00:00Z") or \
            _date_time("2026-11-22T10:00:00") or not _date_time("2016-12-31T23:59:60+01:00"):
        raise TestFailure("the date-time check is wrong")
    failed = []
    counts = {}
    for name, label, doc, valid in _cases():
        bad = problems(name, [doc])
        counts[(name, valid)] = counts.get((name, valid), 0) + 1
        if valid and bad:
            failed.append("%s: %s: refused: %s" % (name, label, bad[0][1]))
        elif not valid and not bad:
            failed.append("%s: %s: accepted, expected a refusal" % (name, label))
    # validate() reports the index of the wrong message
    try:
        validate("metrics", [METRICS, dict(METRICS, scope="galaxy")], "rows")
        failed.append("validate() accepted a wrong message")
    except TestFailure as e:
        if "1 of 2 rows" not in str(e) or "message 1:" not in str(e):
            failed.append("validate() reports %r" % str(e))
    for (name, valid), n in sorted(counts.items()):
        print("%s: %d %s" % (name, n, "valid examples pass" if valid else "wrong ones refused"))
    if failed:
        raise TestFailure("\n".join(failed))


if __name__ == "__main__":
    if sys.argv[1:] != ["--selftest"]:
        sys.exit("usage: schemas.py --selftest")
    try:
        selftest()
    except TestFailure as e:
        print("FAIL schemas selftest:\n%s" % e)
        sys.exit(1)
    print("PASS schemas selftest")
