#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks the real-stack files without a Docker engine: docker-compose.yml must pass
`docker-compose config -q` (Debian's docker-compose 1.29 validates without an engine), and its
resolved form must hold what docs/deployment.md promises: a coherent single-node KRaft Kafka with
a healthcheck, topic creation before funneld starts, Redis with a password, AOF and noeviction,
funneld waiting for healthy dependencies with a config that funneld itself loads and its operator
endpoints (http.listen) open to the compose network with a token, funnel-web (the dashboard) from
the same image published on the host's loopback only with a token, healthchecks that work with
what the slim image has, funnel-gen under the "load" profile with options funnel-gen accepts, and
a multi-stage Dockerfile whose runtime stage has the libraries the programs link and runs as a
non-root user."""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time

PASSWORD = "compose-test-pw"  # what REDIS_PASSWORD is set to while resolving the file
TOKEN = "compose-test-token"  # what HTTP_TOKEN is set to while resolving the file
SERVICES = {"kafka", "kafka-init", "redis", "funneld", "funnel-web", "funnel-gen"}


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


def compose_env(password, token=TOKEN):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COMPOSE_", "DOCKER_")) and k not in (
               "REDIS_PASSWORD", "HTTP_TOKEN", "FUNNELD_TAG", "KAFKA_HOST_PORT", "REDIS_HOST_PORT",
               "WEB_HOST_PORT", "FUNNEL_GEN_RATE", "FUNNEL_GEN_REPS", "FUNNEL_GEN_TEAMS")}
    if password is not None:
        env["REDIS_PASSWORD"] = password
    if token is not None:
        env["HTTP_TOKEN"] = token
    return env


def program_env(**settings):
    """The environment without any FUNNELD_* of the caller, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELD_")}
    env.update(settings)
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


def host_config(c, svc, name, src):
    """The host path of the config file named on the service's command line, which must come
    through the read-only configs mount; None (after a failed check) otherwise."""
    mounts = {}
    for v in svc.get("volumes") or []:
        parts = str(v).split(":")
        if len(parts) >= 2:
            mounts[parts[1]] = (parts[0], parts[2:] if len(parts) > 2 else [])
    cfg_mount = mounts.get("/etc/funneld")
    configs_dir = os.path.realpath(os.path.join(src, "configs"))
    c.check(cfg_mount is not None and os.path.realpath(cfg_mount[0]) == configs_dir
            and "ro" in ",".join(cfg_mount[1]).split(","),
            "%s: configs/ is mounted read-only at /etc/funneld" % name, str(svc.get("volumes")))
    cmd = [str(x) for x in (svc.get("command") or [])]
    cfg = cmd[cmd.index("--config") + 1] if "--config" in cmd else None
    host_cfg = None
    if cfg and cfg.startswith("/etc/funneld/"):
        host_cfg = os.path.join(src, "configs", os.path.relpath(cfg, "/etc/funneld"))
    if not c.check(host_cfg is not None and os.path.isfile(host_cfg),
                   "%s's --config names a file of configs/" % name, str(cmd)):
        return None
    return host_cfg


def print_config(build, host_cfg, src, **settings):
    """funneld --print-config of that file: (rc, {setting: value}, stderr)."""
    rc, out, err = run([os.path.join(build, "funneld"), "--config", host_cfg, "--print-config"],
                       src, env=program_env(**settings))
    return rc, dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line), err


def listen_of(value):
    """'host:port' -> (host, port), or None."""
    m = re.fullmatch(r"\[?([^\]]*)\]?:([0-9]+)", value or "")
    return (m.group(1), int(m.group(2))) if m else None


def published_ports(svc):
    """[(host_ip, published, target)] from the short ('ip:pub:target/proto', docker-compose 1.29)
    or the long syntax (Compose v2)."""
    out = []
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            out.append((str(p.get("host_ip") or ""), int(str(p.get("published", 0)).split("/")[0]),
                        int(str(p.get("target", 0)).split("/")[0])))
        else:
            parts = str(p).split("/")[0].split(":")
            ip = ":".join(parts[:-2]) if len(parts) > 2 else ""
            pub = int(parts[-2]) if len(parts) >= 2 and parts[-2] else 0
            out.append((ip, pub, int(parts[-1])))
    return out


def probe_script(svc):
    """The bash script of a ["CMD", "bash", "-c", script] healthcheck, or None."""
    hc = svc.get("healthcheck") or {}
    t = [str(x) for x in hc.get("test") or []] if not hc.get("disable") else []
    return t[3] if len(t) == 4 and t[:3] == ["CMD", "bash", "-c"] else None


def check_probe(c, name, svc, port):
    """The healthcheck asks the service's own /livez on its listen port with what the slim
    image has (bash's /dev/tcp, head, grep: no curl there). Returns the script."""
    script = probe_script(svc)
    m = re.search(r"/dev/tcp/127\.0\.0\.1/([0-9]+)\b", script or "")
    c.check(script is not None and m is not None and int(m.group(1)) == port
            and re.search(r"GET /livez HTTP/1\.[01]", script) is not None,
            "%s's healthcheck is bash /dev/tcp GET /livez on its listen port %s" % (name, port),
            str(svc.get("healthcheck")))
    words = set(re.findall(r"(?:^|&&|\|)\s*([a-z][a-z0-9-]*)", script or ""))
    c.check(script is not None and words <= {"exec", "printf", "head", "grep"},
            "%s's healthcheck uses only bash builtins, head and grep (in debian:12-slim)" % name,
            str(sorted(words)))
    return script


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
    env = env_map(f)
    c.check(env.get("FUNNELD_REDIS_PASSWORD") == PASSWORD,
            "funneld gets the Redis password from REDIS_PASSWORD (environment, not a file)")
    c.check(env.get("FUNNELD_HTTP_TOKEN") == TOKEN,
            "funneld gets http.token from HTTP_TOKEN (environment, not a file)")
    c.check(str(f.get("restart")) == "unless-stopped", "funneld restarts unless stopped",
            str(f.get("restart")))
    c.check("container_name" not in f and not f.get("ports"),
            "funneld has no container_name and no published port (it can be scaled)")
    c.check(str(f.get("user", "")).split(":")[0] not in ("root", "0"),
            "compose does not run funneld as root", str(f.get("user")))
    host_cfg = host_config(c, f, "funneld", src)
    if host_cfg is None:
        return None
    rc, eff, err = print_config(build, host_cfg, src, FUNNELD_REDIS_PASSWORD=PASSWORD,
                                FUNNELD_HTTP_TOKEN=TOKEN)
    if not c.check(rc == 0,
                   "funneld loads %s (--print-config exits 0)" % os.path.relpath(host_cfg, src),
                   "rc %s: %s" % (rc, err.strip())):
        return None
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
    # The operator endpoints: open to the compose network (a Prometheus there scrapes
    # funneld:9750), which funneld allows only with a token; never published on the host.
    listen = listen_of(eff.get("http.listen"))
    c.check(listen is not None and listen[0] in ("0.0.0.0", "::", ""),
            "funneld serves /livez /readyz /metrics on every interface of its container",
            "http.listen = %s" % eff.get("http.listen"))
    c.check(eff.get("http.token") == "(set)", "http.token reaches funneld and is not printed",
            str(eff.get("http.token")))
    rc, _, err = print_config(build, host_cfg, src, FUNNELD_REDIS_PASSWORD=PASSWORD)
    c.check(rc == 2 and "http.token" in err,
            "without the token funneld refuses that config (exit 2, naming http.token)",
            "rc %s: %s" % (rc, err.strip()))
    exposed = {int(str(p).split("/")[0]) for p in f.get("expose") or []}
    c.check(listen is not None and exposed <= {listen[1]},
            "funneld exposes (to the network only) nothing but its http.listen port",
            "expose %s, http.listen %s" % (sorted(exposed), eff.get("http.listen")))
    return check_probe(c, "funneld", f, listen[1] if listen else None)


def check_funnel_web(c, s, src, build):
    w = s["funnel-web"]
    c.check(not w.get("profiles"), "funnel-web starts by default (no profile)",
            str(w.get("profiles")))
    b = w.get("build") or {}
    c.check(os.path.realpath(str(b.get("context", ""))) == os.path.realpath(src)
            and b.get("dockerfile", "Dockerfile") == "Dockerfile"
            and w.get("image") == s["funneld"].get("image"),
            "funnel-web is built from the repository's Dockerfile: funneld's image",
            "%s, image %s vs %s" % (b, w.get("image"), s["funneld"].get("image")))
    c.check([str(x) for x in w.get("entrypoint") or []] == ["funnel-web"],
            "funnel-web's entrypoint is funnel-web", str(w.get("entrypoint")))
    c.check(depends(w, "redis") == "service_healthy", "funnel-web waits for a healthy redis",
            str(w.get("depends_on")))
    env = env_map(w)
    c.check(env.get("FUNNELD_REDIS_PASSWORD") == PASSWORD,
            "funnel-web gets the Redis password from REDIS_PASSWORD")
    c.check(env.get("FUNNELD_HTTP_TOKEN") == TOKEN,
            "funnel-web gets http.token from HTTP_TOKEN (environment, not a file)")
    c.check(str(w.get("restart")) == "unless-stopped", "funnel-web restarts unless stopped",
            str(w.get("restart")))
    c.check(str(w.get("user", "")).split(":")[0] not in ("root", "0"),
            "compose does not run funnel-web as root (the image's user)", str(w.get("user")))
    host_cfg = host_config(c, w, "funnel-web", src)
    if host_cfg is None:
        return None, None
    # The settings as funneld prints them (the same loader), then funnel-web itself: --check
    # loads and validates them. Its Redis is pointed at a closed local port so that no server
    # named "redis" on this machine takes part (an unreachable Redis is a warning, exit 0).
    rc, eff, err = print_config(build, host_cfg, src, FUNNELD_REDIS_PASSWORD=PASSWORD,
                                FUNNELD_HTTP_TOKEN=TOKEN)
    c.check(rc == 0 and eff.get("redis.host") == "redis" and eff.get("redis.port") == "6379",
            "funnel-web's config reads the redis service",
            "rc %s, %s:%s %s" % (rc, eff.get("redis.host"), eff.get("redis.port"), err.strip()))
    web = [os.path.join(build, "funnel-web"), "--config", host_cfg, "--check",
           "--set", "redis.host=127.0.0.1", "--set", "redis.port=%d" % free_port()]
    rc, out, err = run(web, src, env=program_env(FUNNELD_REDIS_PASSWORD=PASSWORD,
                                                 FUNNELD_HTTP_TOKEN=TOKEN))
    c.check(rc == 0 and "configuration OK" in out,
            "funnel-web --config %s --check accepts it" % os.path.relpath(host_cfg, src),
            "rc %s: %s %s" % (rc, out.strip(), err.strip()))
    rc, out, err = run(web, src, env=program_env(FUNNELD_REDIS_PASSWORD=PASSWORD))
    c.check(rc == 2 and "http.token" in err,
            "without the token funnel-web refuses that config (exit 2, naming http.token)",
            "rc %s: %s" % (rc, err.strip()))
    listen = listen_of(eff.get("web.listen"))
    c.check(listen is not None and listen[0] in ("0.0.0.0", "::", ""),
            "funnel-web binds every interface of its container (so that a port can be published)",
            "web.listen = %s" % eff.get("web.listen"))
    ports = published_ports(w)
    c.check(listen is not None and ports == [("127.0.0.1", 8080, listen[1])],
            "funnel-web's web.listen port is published on the host's loopback only, at 8080",
            "ports %s, web.listen %s" % (ports, eff.get("web.listen")))
    return host_cfg, check_probe(c, "funnel-web", w, listen[1] if listen else None)


def free_port():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def run_probe(script, port, src):
    """The healthcheck script with its port replaced, run by bash: its exit status."""
    script = re.sub(r"(/dev/tcp/127\.0\.0\.1/)[0-9]+", r"\g<1>%d" % port, script)
    return run(["bash", "-c", script], src, timeout=30)[0]


def check_probes_live(c, src, build, web_cfg, probes):
    """Each service's healthcheck run against a real funnel-web (its /livez, like funneld's,
    needs no Redis): healthy while it serves, unhealthy once it is gone."""
    probes = {n: p for n, p in probes.items() if p}
    if web_cfg is None or not probes:
        c.check(False, "the healthchecks could be run", "no config or no probe")
        return
    port = free_port()
    argv = [os.path.join(build, "funnel-web"), "--config", web_cfg,
            "--set", "web.listen=127.0.0.1:%d" % port, "--set", "redis.host=127.0.0.1",
            "--set", "redis.port=%d" % free_port()]
    p = subprocess.Popen(argv, cwd=src, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=program_env(FUNNELD_REDIS_PASSWORD=PASSWORD,
                                         FUNNELD_HTTP_TOKEN=TOKEN))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and p.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        for name, script in sorted(probes.items()):
            rc = run_probe(script, port, src)
            c.check(rc == 0, "%s's healthcheck passes against a serving /livez" % name,
                    "exit %s" % rc)
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        p.stderr.close()
    for name, script in sorted(probes.items()):
        rc = run_probe(script, port, src)
        c.check(rc != 0, "%s's healthcheck fails once nothing serves" % name, "exit %s" % rc)


def check_host_port(c, compose, src):
    """With KAFKA_HOST_PORT changed, host clients must be told the port they connected to; with
    WEB_HOST_PORT changed, the dashboard moves on the host (still loopback only), not inside."""
    env = compose_env(PASSWORD)
    env["KAFKA_HOST_PORT"] = "39092"
    env["WEB_HOST_PORT"] = "18080"
    rc, out, err = run(compose + ["config"], src, env=env)
    if rc != 0:
        raise Failure("docker-compose config with KAFKA_HOST_PORT=39092 failed: %s" % err.strip())
    services = parse_yaml(out).get("services") or {}
    k = services.get("kafka") or {}
    published = {(pub, target) for _, pub, target in published_ports(k)}
    adv = listeners(env_map(k).get("KAFKA_ADVERTISED_LISTENERS"))
    host = [a for n, a in adv.items() if a[0] in ("localhost", "127.0.0.1")]
    ok = len(host) == 1 and any(pub == host[0][1] == 39092 for pub, _ in published)
    c.check(ok, "with KAFKA_HOST_PORT=39092 the host listener is published and advertised on 39092",
            "ports %s, advertised %s" % (sorted(published), adv))
    web = published_ports(services.get("funnel-web") or {})
    c.check(web == [("127.0.0.1", 18080, 8080)],
            "with WEB_HOST_PORT=18080 funnel-web is published on 127.0.0.1:18080 only", str(web))


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


PROGRAMS = ("funneld", "funnel-web", "funnelctl", "funnel-gen")


def apt_packages(instructions):
    """The package names of the stage's apt-get install commands."""
    out = set()
    for ins in instructions:
        for m in re.finditer(r"apt-get install\s+([^&;|]*)", ins):
            out |= {w for w in m.group(1).split() if not w.startswith("-")}
    return out


def base_packages(build):
    """The installed packages every Debian image has: the Essential ones, those of Priority
    required, and what they depend on (libc6 is Priority optional, there through them)."""
    rc, out, _ = run(["dpkg-query", "-W", "-f",
                      "${Package}\t${Essential}\t${Priority}\t${Pre-Depends}, ${Depends}\n"], build)
    deps, queue = {}, []  # queue: the packages still to walk
    for line in out.splitlines():
        name, essential, priority, rel = (line.split("\t") + ["", "", "", ""])[:4]
        deps[name] = [alt.split("|")[0].split("(")[0].split(":")[0].strip()
                      for alt in rel.split(",") if alt.strip()]
        if essential == "yes" or priority == "required":
            queue.append(name)
    base = set()
    while queue:
        name = queue.pop()
        if name in base or name not in deps:
            continue
        base.add(name)
        queue.extend(deps[name])
    return base


def check_runtime_libraries(c, build, run_pkgs):
    """Each shared library the built programs link directly comes from a package the runtime
    stage installs or one every Debian image has: asked of this machine's dpkg, which is the
    same Debian 12 (skipped elsewhere)."""
    if shutil.which("dpkg") is None or shutil.which("ldd") is None:
        print("  skip  the runtime packages cover the programs' libraries (no dpkg or ldd here)")
        return
    owners, unknown = {}, []
    for prog in PROGRAMS:
        rc, out, _ = run(["ldd", os.path.join(build, prog)], build)
        for m in re.finditer(r"^\s*(\S+) => (/\S+)", out, re.M):
            path = m.group(2)
            alt = path[4:] if path.startswith("/usr/") else "/usr" + path
            pkg = None
            for candidate in (path, alt):
                rc, o, _ = run(["dpkg", "-S", candidate], build)
                if rc == 0:
                    pkg = o.split(":", 1)[0].strip()
                    break
            if pkg is None:
                unknown.append(path)
            else:
                owners.setdefault(pkg, set()).add(prog)
    base = base_packages(build)
    # Indirect libraries come with their package's dependencies: only direct ones must be listed.
    direct = set()
    for prog in PROGRAMS:
        rc, out, _ = run(["readelf", "-d", os.path.join(build, prog)], build)
        direct |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
    needed = set()
    for pkg in owners:
        rc, o, _ = run(["dpkg", "-L", pkg], build)
        if any(os.path.basename(f) in direct for f in o.split()):
            needed.add(pkg)
    # A sanitizer build (scripts/test --sanitize) links the sanitizers' runtimes; the image is
    # built without them (the Dockerfile's build type), so they are not the image's to install.
    needed = {p for p in needed if not re.match(r"^lib(asan|ubsan|lsan|tsan)\d*$", p)}
    missing = needed - base - run_pkgs
    c.check(not unknown and "libmicrohttpd12" in needed and not missing,
            "the runtime stage installs the package of every library the programs link",
            "missing %s, not from a package %s (needed %s)" % (sorted(missing), unknown,
                                                               sorted(needed)))


def check_dockerfile(c, src, build):
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
    c.check(all(re.search(r"\b%s\b(?!-)" % p, copies) for p in PROGRAMS),
            "the runtime stage copies %s" % ", ".join(PROGRAMS), copies)
    built = " ".join(i for i in stages[0][1] if i.upper().startswith("RUN "))
    targets = re.search(r"--target((?:\s+[a-z][a-z-]*)+)", built)
    c.check(targets is not None and set(PROGRAMS) <= set(targets.group(1).split()),
            "the build stage builds %s" % ", ".join(PROGRAMS), built)
    build_pkgs, run_pkgs = apt_packages(stages[0][1]), apt_packages(final)
    c.check({"libmicrohttpd-dev", "libjs-chart.js"} <= build_pkgs,
            "the build stage installs libmicrohttpd-dev and libjs-chart.js (embedded Chart.js)",
            str(sorted(build_pkgs)))
    check_runtime_libraries(c, build, run_pkgs)
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
            print("  skip  REDIS_PASSWORD and HTTP_TOKEN are required (a .env file in the source "
                  "dir may set them)")
        else:
            rc, out, err = run(compose + ["config", "-q"], src, env=compose_env(None))
            c.check(rc != 0 and "REDIS_PASSWORD" in err,
                    "without REDIS_PASSWORD the file is refused, naming the variable",
                    "rc %s: %s" % (rc, err.strip()))
            rc, out, err = run(compose + ["config", "-q"], src, env=compose_env(PASSWORD, None))
            c.check(rc != 0 and "HTTP_TOKEN" in err,
                    "without HTTP_TOKEN the file is refused, naming the variable",
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
        probes = {"funneld": check_funneld(c, s, src, build, adv, created)}
        web_cfg, probes["funnel-web"] = check_funnel_web(c, s, src, build)
        check_probes_live(c, src, build, web_cfg, probes)
        check_funnel_gen(c, s, src, build)
        check_dockerfile(c, src, build)
        check_host_port(c, compose, src)
    except (Failure, ValueError, KeyError, OSError, subprocess.TimeoutExpired) as e:
        c.check(False, "compose checks ran to the end", "%s: %s" % (type(e).__name__, e))

    print("compose: %d passed, %d failed" % (c.passed, c.failed), flush=True)
    print("%s compose" % ("PASS" if c.failed == 0 else "FAIL"), flush=True)
    sys.exit(0 if c.failed == 0 else 1)


if __name__ == "__main__":
    main()
