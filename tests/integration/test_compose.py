#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks the real-stack files without a Docker engine: docker-compose.yml must pass
`docker-compose config -q` (Debian's docker-compose 1.29 validates without an engine), and its
resolved form must hold what docs/deployment.md promises: a coherent single-node KRaft Kafka with
a healthcheck, topic creation before funneld starts, Redis with a password, AOF and noeviction,
funneld waiting for healthy dependencies with a config that funneld itself loads, funnel-gen under
the "load" profile with options funnel-gen accepts, and a multi-stage Dockerfile whose runtime
stage runs as a non-root user."""

import argparse
import os
import re
import shutil
import subprocess
import sys

PASSWORD = "compose-test-pw"  # what REDIS_PASSWORD is set to while resolving the file
SERVICES = {"kafka", "kafka-init", "redis", "funneld", "funnel-gen"}


class Failure(Exception):
    pass


# ----------------------------------------------------------------------------------------------
# A minimal YAML reader for what `docker-compose config` prints: PyYAML's block style (mappings,
# indentless sequences, plain and quoted scalars that may wrap over several lines, {} and []).
# Anything else raises, so an unexpected output fails loudly instead of being misread.

_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
            "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
            "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}


def _plain(text):
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text.lower() in _BOOLS:
        return _BOOLS[text.lower()]
    if re.fullmatch(r"[-+]?(0|[1-9][0-9]*)", text):
        return int(text)
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if text[0] in "|>&*!%@`{[":
        raise ValueError("unsupported YAML scalar %r" % text)
    return text


def _double_quoted(lines):
    # A line ending in an odd number of backslashes continues without a space (PyYAML's way of
    # wrapping a long string); otherwise a line break folds into one space.
    out = ""
    for i, line in enumerate(lines):
        part = line if i == 0 else line.lstrip(" ")
        trailing = len(part) - len(part.rstrip("\\"))
        if i < len(lines) - 1 and trailing % 2 == 1:
            out += part[:-1]
        else:
            out += part + (" " if i < len(lines) - 1 else "")
    if not (out.startswith('"') and out.endswith('"')) or len(out) < 2:
        raise ValueError("unterminated double-quoted scalar %r" % out)
    body, res, i = out[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            res.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in _ESCAPES:
            res.append(_ESCAPES[e])
            i += 2
        elif e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            res.append(chr(int(body[i + 2:i + 2 + n], 16)))
            i += 2 + n
        else:
            raise ValueError("unknown escape \\%s" % e)
    return "".join(res)


def _scalar(lines):
    first = lines[0]
    if first.startswith('"'):
        return _double_quoted(lines)
    joined = " ".join([first] + [line.strip() for line in lines[1:]])
    if first.startswith("'"):
        if not joined.endswith("'") or len(joined) < 2:
            raise ValueError("unterminated single-quoted scalar %r" % joined)
        return joined[1:-1].replace("''", "'")
    return _plain(joined)


_KEY = re.compile(r"^([^\s'\"#:-][^:]*?|'[^']*'|\"[^\"]*\"):(?: (.*)|)$")


def _key(text):
    if text[0] in "'\"":
        return text[1:-1]
    return text


class _Reader:
    def __init__(self, text):
        self.lines = []
        for raw in text.splitlines():
            if raw.strip() == "" or raw.lstrip().startswith("#") or raw.strip() == "---":
                continue
            self.lines.append((len(raw) - len(raw.lstrip(" ")), raw.strip()))
        self.i = 0

    def _continuation(self, first, parent_indent):
        """first plus the following lines indented deeper than parent_indent."""
        parts = [first]
        while self.i < len(self.lines) and self.lines[self.i][0] > parent_indent:
            parts.append(self.lines[self.i][1])
            self.i += 1
        return _scalar(parts)

    def block(self, indent):
        if self.i >= len(self.lines):
            return None
        ind, text = self.lines[self.i]
        if ind != indent:
            raise ValueError("line %d: indentation %d, expected %d" % (self.i + 1, ind, indent))
        if text == "-" or text.startswith("- "):
            return self._sequence(indent)
        return self._mapping(indent)

    def _value_after_key(self, rest, indent):
        if rest is not None and rest != "":
            return self._continuation(rest, indent)
        if self.i >= len(self.lines):
            return None
        ind, text = self.lines[self.i]
        if ind > indent:
            return self.block(ind)
        if ind == indent and (text == "-" or text.startswith("- ")):
            return self._sequence(indent)  # PyYAML writes sequences of a key unindented
        return None

    def _mapping(self, indent, first=None):
        out = {}
        while self.i < len(self.lines) or first is not None:
            if first is not None:
                text, first = first, None
            else:
                ind, text = self.lines[self.i]
                if ind < indent:
                    break
                if ind > indent:
                    raise ValueError("line %d: unexpected indentation" % (self.i + 1))
                if text == "-" or text.startswith("- "):
                    break
                self.i += 1
            m = _KEY.match(text)
            if not m:
                raise ValueError("line %d: expected 'key: value', got %r" % (self.i, text))
            key = _key(m.group(1))
            if key in out:
                raise ValueError("duplicate key %r" % key)
            out[key] = self._value_after_key(m.group(2), indent)
        return out

    def _sequence(self, indent):
        out = []
        while self.i < len(self.lines):
            ind, text = self.lines[self.i]
            if ind != indent or not (text == "-" or text.startswith("- ")):
                break
            self.i += 1
            rest = text[1:].strip()
            if rest == "":
                out.append(self.block(self.lines[self.i][0]) if self.i < len(self.lines)
                           and self.lines[self.i][0] > indent else None)
            elif _KEY.match(rest) and not rest.startswith(("'", '"')):
                out.append(self._mapping(indent + 2, first=rest))
            else:
                out.append(self._continuation(rest, indent))
        return out


def parse_yaml(text):
    r = _Reader(text)
    doc = r.block(0) if r.lines else None
    if r.i != len(r.lines):
        raise ValueError("line %d not parsed: %r" % (r.i + 1, r.lines[r.i][1]))
    return doc


# ----------------------------------------------------------------------------------------------
# Checks


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print("  ok    %s" % what, flush=True)
        else:
            self.failed += 1
            print("  FAIL  %s%s" % (what, (": " + detail) if detail else ""), flush=True)
        return ok


def compose_env(password):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COMPOSE_", "DOCKER_")) and k not in (
               "REDIS_PASSWORD", "FUNNELD_TAG", "KAFKA_HOST_PORT", "REDIS_HOST_PORT",
               "FUNNEL_GEN_RATE", "FUNNEL_GEN_REPS", "FUNNEL_GEN_TEAMS")}
    if password is not None:
        env["REDIS_PASSWORD"] = password
    return env


def run(argv, cwd, env=None, timeout=120):
    p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def env_map(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):  # KEY=VALUE form
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def listeners(spec):
    """'NAME://host:port,...' -> {NAME: (host, port)}"""
    out = {}
    for item in (spec or "").split(","):
        m = re.fullmatch(r"([A-Za-z0-9_]+)://([^:]*):([0-9]+)", item.strip())
        if not m:
            raise Failure("listener %r is not NAME://host:port" % item)
        out[m.group(1)] = (m.group(2), int(m.group(3)))
    return out


def depends(svc, name):
    d = svc.get("depends_on") or {}
    if isinstance(d, list):
        return "service_started" if name in d else None
    return (d.get(name) or {}).get("condition") if name in d else None


def healthcheck_test(svc):
    hc = svc.get("healthcheck") or {}
    if hc.get("disable"):
        return ""
    t = hc.get("test")
    return " ".join(t) if isinstance(t, list) else (t or "")


def check_kafka(c, s):
    k = s["kafka"]
    env = env_map(k)
    c.check(str(k.get("image", "")).startswith("apache/kafka:"),
            "kafka runs the official apache/kafka image", str(k.get("image")))
    roles = set((env.get("KAFKA_PROCESS_ROLES") or "").split(","))
    c.check(roles == {"broker", "controller"}, "kafka is one KRaft node in combined mode",
            "KAFKA_PROCESS_ROLES=%s" % env.get("KAFKA_PROCESS_ROLES"))
    node = env.get("KAFKA_NODE_ID")
    voters = env.get("KAFKA_CONTROLLER_QUORUM_VOTERS") or ""
    lst = listeners(env.get("KAFKA_LISTENERS"))
    adv = listeners(env.get("KAFKA_ADVERTISED_LISTENERS"))
    protocol_map = env.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP") or ""
    proto = dict(p.split(":", 1) for p in protocol_map.split(",") if p)
    ctl = env.get("KAFKA_CONTROLLER_LISTENER_NAMES")
    m = re.fullmatch(r"([0-9]+)@([^:]+):([0-9]+)", voters)
    c.check(m is not None and m.group(1) == node and ctl in lst and lst[ctl][1] == int(m.group(3)),
            "the quorum voter is this node on its controller listener",
            "node %s, voters %s, controller %s, listeners %s" % (node, voters, ctl, lst))
    c.check(set(lst) <= set(proto) and set(adv) <= set(lst) and ctl not in adv,
            "every listener has a protocol, advertised ones are listened on, "
            "the controller is not advertised",
            "listeners %s, advertised %s, map %s" % (lst, adv, proto))
    c.check(adv.get(env.get("KAFKA_INTER_BROKER_LISTENER_NAME")) == ("kafka", 9092),
            "brokers and containers reach kafka:9092 (advertised inter-broker listener)", str(adv))
    c.check(all(env.get(v) == "1" for v in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
                                             "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                                             "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR")),
            "internal topics have replication factor 1 on one broker")
    c.check((env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") or "").lower() == "false",
            "automatic topic creation is off")
    logdir = env.get("KAFKA_LOG_DIRS") or ""
    c.check(any(str(v).split(":")[1:2] == [logdir] for v in k.get("volumes") or []),
            "kafka's log directory is a volume",
            "KAFKA_LOG_DIRS=%s volumes=%s" % (logdir, k.get("volumes")))
    t = healthcheck_test(k)
    c.check(re.search(r"kafka-(broker-api-versions|topics)\.sh", t) is not None,
            "kafka has a healthcheck that asks the broker", t)
    return adv


def check_kafka_init(c, s):
    ki = s["kafka-init"]
    c.check(depends(ki, "kafka") == "service_healthy", "kafka-init waits for a healthy kafka",
            str(ki.get("depends_on")))
    script = " ".join(str(x) for x in (ki.get("entrypoint") or []) + (ki.get("command") or []))
    script = script.replace("\\\n", " ")
    created = {}
    for m in re.finditer(r"--create\b(.*?)(?=--create\b|$)", script, re.S):
        t = re.search(r"--topic\s+(\S+)", m.group(1))
        p = re.search(r"--partitions\s+([0-9]+)", m.group(1))
        if t:
            created[t.group(1)] = int(p.group(1)) if p else None
    c.check(created.get("crm.events") == 8, "kafka-init creates crm.events with 8 partitions",
            str(created))
    c.check("crm.events.dlq" in created, "kafka-init creates the dead-letter topic crm.events.dlq",
            str(created))
    c.check("kafka-topics.sh" in script and "--if-not-exists" in script,
            "kafka-init uses kafka-topics.sh --if-not-exists (safe to run again)")
    c.check(str(ki.get("restart", "no")) in ("no", "False", "false"), "kafka-init is not restarted")
    return created


def check_redis(c, s):
    r = s["redis"]
    cmd = [str(x) for x in (r.get("command") or [])]
    c.check(str(r.get("image", "")).startswith("redis:7"), "redis runs the redis:7 image",
            str(r.get("image")))

    def arg(name):
        return cmd[cmd.index(name) + 1] if name in cmd and cmd.index(name) + 1 < len(cmd) else None

    c.check(arg("--requirepass") == PASSWORD, "redis requires the password from REDIS_PASSWORD",
            str(cmd))
    c.check(arg("--appendonly") == "yes", "redis runs with appendonly yes", str(cmd))
    c.check(arg("--maxmemory-policy") == "noeviction",
            "redis never evicts (maxmemory-policy noeviction)", str(cmd))
    c.check(any(str(v).split(":")[1:2] == ["/data"] for v in r.get("volumes") or []),
            "redis keeps /data (AOF and RDB) on a volume", str(r.get("volumes")))
    t = healthcheck_test(r)
    c.check("redis-cli" in t and "ping" in t.lower(), "redis has a redis-cli ping healthcheck", t)
    c.check(PASSWORD not in t, "the healthcheck does not put the password on a command line", t)


def check_funneld(c, s, src, build, adv, created):
    f = s["funneld"]
    c.check(not f.get("profiles"), "funneld starts by default (no profile)", str(f.get("profiles")))
    b = f.get("build") or {}
    c.check(os.path.realpath(str(b.get("context", ""))) == os.path.realpath(src)
            and b.get("dockerfile", "Dockerfile") == "Dockerfile",
            "funneld is built from the repository's Dockerfile", str(b))
    c.check(healthcheck_test(f) != "" or depends(f, "redis") == "service_healthy",
            "funneld has a healthcheck or waits for a healthy dependency")
    c.check(depends(f, "redis") == "service_healthy", "funneld waits for a healthy redis",
            str(f.get("depends_on")))
    c.check(depends(f, "kafka-init") == "service_completed_successfully",
            "funneld waits until the topics exist (kafka-init completed successfully)",
            str(f.get("depends_on")))
    c.check(env_map(f).get("FUNNELD_REDIS_PASSWORD") == PASSWORD,
            "funneld gets the Redis password from REDIS_PASSWORD (environment, not a file)")
    c.check(str(f.get("restart")) == "unless-stopped", "funneld restarts unless stopped",
            str(f.get("restart")))
    c.check("container_name" not in f and not f.get("ports"),
            "funneld has no container_name and no published port (it can be scaled)")
    c.check(str(f.get("user", "")).split(":")[0] not in ("root", "0"),
            "compose does not run funneld as root", str(f.get("user")))
    # The config file named on funneld's command line, through the read-only configs mount.
    mounts = {}
    for v in f.get("volumes") or []:
        parts = str(v).split(":")
        if len(parts) >= 2:
            mounts[parts[1]] = (parts[0], parts[2:] if len(parts) > 2 else [])
    cfg_mount = mounts.get("/etc/funneld")
    configs_dir = os.path.realpath(os.path.join(src, "configs"))
    c.check(cfg_mount is not None and os.path.realpath(cfg_mount[0]) == configs_dir
            and "ro" in ",".join(cfg_mount[1]).split(","),
            "configs/ is mounted read-only at /etc/funneld", str(f.get("volumes")))
    cmd = [str(x) for x in (f.get("command") or [])]
    cfg = cmd[cmd.index("--config") + 1] if "--config" in cmd else None
    host_cfg = None
    if cfg and cfg.startswith("/etc/funneld/"):
        host_cfg = os.path.join(src, "configs", os.path.relpath(cfg, "/etc/funneld"))
    if not c.check(host_cfg is not None and os.path.isfile(host_cfg),
                   "funneld's --config names a file of configs/", str(cmd)):
        return
    funneld = os.path.join(build, "funneld")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELD_")}
    env["FUNNELD_REDIS_PASSWORD"] = PASSWORD
    rc, out, err = run([funneld, "--config", host_cfg, "--print-config"], src, env=env)
    if not c.check(rc == 0,
                   "funneld loads %s (--print-config exits 0)" % os.path.relpath(host_cfg, src),
                   "rc %s: %s" % (rc, err.strip())):
        return
    eff = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
    c.check(eff.get("kafka.brokers") in ("%s:%d" % adv[n] for n in adv),
            "funneld's kafka.brokers is kafka's advertised listener",
            "%s vs %s" % (eff.get("kafka.brokers"), adv))
    c.check(eff.get("redis.host") == "redis" and eff.get("redis.port") == "6379",
            "funneld's redis.host:port is the redis service",
            "%s:%s" % (eff.get("redis.host"), eff.get("redis.port")))
    c.check(eff.get("redis.password") == "(set)", "the password reaches funneld and is not printed",
            str(eff.get("redis.password")))
    topics = set((eff.get("kafka.topics") or "").split(","))
    c.check(topics <= set(created) and eff.get("kafka.dlq_topic") in created,
            "funneld's topics and dead-letter topic are the ones kafka-init creates",
            "%s + %s vs %s" % (topics, eff.get("kafka.dlq_topic"), sorted(created)))
    c.check(eff.get("alerts.topic") in created,
            "kafka-init creates funneld's alerts topic (automatic creation is off)",
            "%s vs %s" % (eff.get("alerts.topic"), sorted(created)))


def check_host_port(c, compose, src):
    """With KAFKA_HOST_PORT changed, host clients must be told the port they connected to."""
    env = compose_env(PASSWORD)
    env["KAFKA_HOST_PORT"] = "39092"
    rc, out, err = run(compose + ["config"], src, env=env)
    if rc != 0:
        raise Failure("docker-compose config with KAFKA_HOST_PORT=39092 failed: %s" % err.strip())
    k = (parse_yaml(out).get("services") or {}).get("kafka") or {}
    published = set()
    for p in k.get("ports") or []:
        if isinstance(p, dict):
            published.add((int(str(p.get("published", 0)).split("/")[0]),
                           int(str(p.get("target", 0)).split("/")[0])))
        else:
            parts = str(p).split("/")[0].split(":")
            published.add((int(parts[-2]), int(parts[-1])))
    adv = listeners(env_map(k).get("KAFKA_ADVERTISED_LISTENERS"))
    host = [a for n, a in adv.items() if a[0] in ("localhost", "127.0.0.1")]
    ok = len(host) == 1 and any(pub == host[0][1] == 39092 for pub, _ in published)
    c.check(ok, "with KAFKA_HOST_PORT=39092 the host listener is published and advertised on 39092",
            "ports %s, advertised %s" % (sorted(published), adv))


def check_funnel_gen(c, s, src, build):
    g = s["funnel-gen"]
    c.check("load" in (g.get("profiles") or []), "funnel-gen is under the profile 'load'",
            str(g.get("profiles")))
    c.check([str(x) for x in g.get("entrypoint") or []] == ["funnel-gen"],
            "funnel-gen's entrypoint is funnel-gen")
    c.check(g.get("image") == s["funneld"].get("image"), "funnel-gen uses funneld's image",
            "%s vs %s" % (g.get("image"), s["funneld"].get("image")))
    c.check(depends(g, "kafka-init") == "service_completed_successfully",
            "funnel-gen waits until the topics exist", str(g.get("depends_on")))
    cmd = [str(x) for x in g.get("command") or []]
    c.check("--brokers" in cmd and cmd[cmd.index("--brokers") + 1] == "kafka:9092"
            and "--topic" in cmd and cmd[cmd.index("--topic") + 1] == "crm.events",
            "funnel-gen produces to kafka:9092, topic crm.events", str(cmd))
    # The same options with stdout as the sink and a count: funnel-gen must accept every one.
    argv, i = [os.path.join(build, "funnel-gen")], 0
    while i < len(cmd):
        if cmd[i] == "--brokers":
            i += 2
            continue
        argv.append(cmd[i])
        i += 1
    argv += ["--stdout", "--count", "3", "--rate", "0"]
    rc, out, err = run(argv, src, timeout=60)
    c.check(rc == 0 and len(out.splitlines()) == 3, "funnel-gen accepts the compose options",
            "rc %s, %d lines: %s" % (rc, len(out.splitlines()), err.strip()[-300:]))


def dockerfile_stages(text):
    """[(FROM line, [instructions])] with continuation lines joined and comments dropped."""
    stages, logical, cur = [], [], ""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#") and not cur:
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        if cur.strip():
            logical.append(cur.strip())
        cur = ""
    for ins in logical:
        if ins.upper().startswith("FROM "):
            stages.append((ins, []))
        elif stages:
            stages[-1][1].append(ins)
    return stages


def check_dockerfile(c, src):
    text = open(os.path.join(src, "Dockerfile")).read()
    stages = dockerfile_stages(text)
    c.check(len(stages) >= 2, "the Dockerfile is multi-stage", "%d FROM lines" % len(stages))
    if not stages:
        return
    c.check(re.match(r"FROM\s+debian:12\b", stages[0][0]) is not None, "it builds on debian:12",
            stages[0][0])
    from_line, final = stages[-1]
    c.check(re.match(r"FROM\s+debian:12-slim\b", from_line) is not None,
            "the runtime stage is debian:12-slim", from_line)
    users = [i.split(None, 1)[1].strip() for i in final if i.upper().startswith("USER ")]
    user = users[-1].split(":")[0] if users else None
    c.check(user not in (None, "root", "0"), "the runtime stage runs as a non-root USER",
            str(users))
    made = [i for i in final if i.upper().startswith("RUN ") and "useradd" in i]
    uid = re.search(r"--uid\s+([0-9]+)", " ".join(made))
    c.check(user is not None and any(re.search(r"\b%s\s*($|&&)" % re.escape(user), m) for m in made)
            and uid is not None and int(uid.group(1)) != 0,
            "the runtime stage creates that user with a fixed non-zero uid", " ".join(made))
    copies = " ".join(i for i in final if i.upper().startswith("COPY "))
    c.check(all(p in copies for p in ("funneld", "funnelctl", "funnel-gen")),
            "the runtime stage copies funneld, funnelctl and funnel-gen", copies)
    entry = re.compile(r'ENTRYPOINT\s+\[\s*"(/usr/local/bin/)?funneld"\s*\]')
    c.check(any(entry.fullmatch(i) for i in final),
            'ENTRYPOINT ["funneld"] (exec form: funneld gets the stop signal itself)')
    ignore = open(os.path.join(src, ".dockerignore")).read().split()
    c.check(".git" in ignore and any(p.startswith("build") for p in ignore) and ".env" in ignore,
            ".dockerignore keeps .git, build trees and .env out of the build context")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--build-dir", default=os.path.join(here, "..", "..", "build"))
    ap.add_argument("--source-dir", default=os.path.join(here, "..", ".."))
    args = ap.parse_args()
    src, build = os.path.abspath(args.source_dir), os.path.abspath(args.build_dir)
    c = Checks()

    dc = shutil.which("docker-compose")
    if dc is None:
        print("FAIL compose: docker-compose is not installed; install it (scripts/deps does: "
              "apt-get install docker-compose) to validate docker-compose.yml")
        sys.exit(1)
    compose = [dc, "-f", os.path.join(src, "docker-compose.yml")]
    rc, out, err = run(compose + ["version", "--short"], src)
    print("[compose] %s, version %s" % (dc, out.strip() or err.strip()), flush=True)

    try:
        rc, out, err = run(compose + ["config", "-q"], src, env=compose_env(PASSWORD))
        c.check(rc == 0 and out.strip() == "",
                "docker-compose config -q accepts docker-compose.yml",
                "rc %s: %s" % (rc, err.strip()))
        if os.path.exists(os.path.join(src, ".env")):
            print("  skip  REDIS_PASSWORD is required (a .env file in the source dir may set it)")
        else:
            rc, out, err = run(compose + ["config", "-q"], src, env=compose_env(None))
            c.check(rc != 0 and "REDIS_PASSWORD" in err,
                    "without REDIS_PASSWORD the file is refused, naming the variable",
                    "rc %s: %s" % (rc, err.strip()))

        rc, out, err = run(compose + ["config"], src, env=compose_env(PASSWORD))
        if rc != 0:
            raise Failure("docker-compose config failed: %s" % err.strip())
        doc = parse_yaml(out)
        try:
            import yaml  # not required: only confirms the minimal reader on this output
            c.check(yaml.safe_load(out) == doc, "the minimal YAML reader agrees with PyYAML")
        except ImportError:
            pass
        s = doc.get("services") or {}
        c.check(set(s) == SERVICES, "services are %s" % ", ".join(sorted(SERVICES)), str(sorted(s)))
        missing = SERVICES - set(s)
        if missing:
            raise Failure("services missing: %s" % ", ".join(sorted(missing)))
        adv = check_kafka(c, s)
        created = check_kafka_init(c, s)
        check_redis(c, s)
        check_funneld(c, s, src, build, adv, created)
        check_funnel_gen(c, s, src, build)
        check_dockerfile(c, src)
        check_host_port(c, compose, src)
    except (Failure, ValueError, KeyError, OSError, subprocess.TimeoutExpired) as e:
        c.check(False, "compose checks ran to the end", "%s: %s" % (type(e).__name__, e))

    print("compose: %d passed, %d failed" % (c.passed, c.failed), flush=True)
    print("%s compose" % ("PASS" if c.failed == 0 else "FAIL"), flush=True)
    sys.exit(0 if c.failed == 0 else 1)


if __name__ == "__main__":
    main()
