# SPDX-License-Identifier: MIT
"""funnel-web for the integration tests: start it on a free port (web.listen port 0, the port read
from its "web: serving http://HOST:PORT" log line), GET with a bounded timeout, an SSE reader
with a bounded read, and the OpenAPI validator of docs/openapi.yaml (every $ref resolved)."""

import http.client
import json
import os
import re
import socket
import time

import harness
from harness import TestFailure

SERVING_RE = re.compile(r"web: serving http://([0-9.]+):(\d+)")


class Web:
    def __init__(self, h, name="web", **settings):
        self.h = h
        s = {"redis.host": "127.0.0.1", "redis.port": str(h.redis_port),
             "redis.prefix": h.prefix, "funnel.timezone": h.tz,
             "web.listen": "127.0.0.1:0", "log.level": "info",
             # lists of ids fresh on every request (a test reads them right after a change);
             # test_http_api checks the reuse of web.ids_refresh_ms > 0 on its own
             "web.ids_refresh_ms": "0"}
        s.update({k.replace("__", "."): str(v) for k, v in settings.items()})
        argv = [h.bin("funnel-web")]
        for k, v in s.items():
            argv += ["--set", "%s=%s" % (k, v)]
        self.log = h.logpath("funnel-web-" + name)
        self.proc = harness.Proc("funnel-web-" + name, argv, self.log)
        h.procs.append(self.proc)
        self.port = None
        deadline = time.time() + 20
        while time.time() < deadline and self.port is None:
            if not self.proc.alive():
                raise TestFailure("funnel-web exited at start:\n%s" % self.proc.tail())
            with open(self.log, errors="replace") as f:
                m = SERVING_RE.search(f.read())
            if m:
                self.port = int(m.group(2))
            else:
                time.sleep(0.05)
        if self.port is None:
            raise TestFailure("funnel-web did not log its port:\n%s" % self.proc.tail())
        print("[%s] funnel-web %s on port %d" % (h.name, name, self.port), flush=True)

    def request(self, path, method="GET", headers=None, body=None, timeout=15):
        """(status, headers dict lower-cased, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def get(self, path, status=200, headers=None):
        """GET path, expecting status and a JSON body; returns the parsed body."""
        st, hd, data = self.request(path, headers=headers)
        if st != status:
            raise TestFailure("GET %s: status %d, expected %d: %r" % (path, st, status, data[:300]))
        if not hd.get("content-type", "").startswith("application/json"):
            raise TestFailure("GET %s: content type %r" % (path, hd.get("content-type")))
        return json.loads(data)

    def stream(self, path="/api/v1/stream", headers=None):
        return Sse(self.port, path, headers)

    def stop(self):
        return self.proc.stop(timeout=15)


class Sse:
    """A raw-socket SSE client: events() reads for at most `seconds`."""

    def __init__(self, port, path, headers=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        hdr = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n%s\r\n"
                           % (path, hdr)).encode())
        self.buf = b""
        self.status = None
        self.headers = {}
        self.chunked = False
        self.raw = b""  # decoded body not yet parsed into events
        self._read_head()

    def _recv(self, deadline):
        self.sock.settimeout(max(0.05, deadline - time.time()))
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not d:
            raise EOFError("stream closed")
        self.buf += d
        return True

    def _read_head(self):
        deadline = time.time() + 10
        while b"\r\n\r\n" not in self.buf:
            if time.time() > deadline:
                raise TestFailure("no HTTP head from the stream")
            self._recv(deadline)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        for l in lines[1:]:
            k, _, v = l.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding", "") == "chunked"

    def body_now(self):
        """Whatever body arrived (for a non-stream answer, e.g. 503)."""
        deadline = time.time() + 3
        try:
            while time.time() < deadline:
                if not self._recv(deadline):
                    break
        except EOFError:
            pass
        return self._decode()

    def _decode(self):
        if not self.chunked:
            self.raw += self.buf
            self.buf = b""
            return self.raw
        while True:
            if b"\r\n" not in self.buf:
                break
            size_line, rest = self.buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                break
            self.raw += rest[:size]
            self.buf = rest[size + 2:]
            if size == 0:
                break
        return self.raw

    def events(self, seconds, until=None):
        """Events (dicts: id, event, data (parsed JSON or text), comment, retry) read for at most
        `seconds`, or until until(list) is true."""
        out = []
        deadline = time.time() + seconds
        while time.time() < deadline:
            self._decode()
            while b"\n\n" in self.raw:
                block, self.raw = self.raw.split(b"\n\n", 1)
                ev = {}
                for line in block.decode().split("\n"):
                    if line.startswith(":"):
                        ev["comment"] = line[1:].strip()
                        continue
                    k, _, v = line.partition(":")
                    v = v[1:] if v.startswith(" ") else v
                    ev[k] = v
                if "data" in ev:
                    try:
                        ev["data"] = json.loads(ev["data"])
                    except ValueError:
                        pass
                out.append(ev)
            if until is not None and until(out):
                return out
            try:
                self._recv(deadline)
            except EOFError:
                break
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def openapi(source_dir):
    """{schema name: validator} from docs/openapi.yaml: each components schema with every $ref
    resolved inside the document (jsonschema Draft 2020-12)."""
    import jsonschema
    import yaml
    with open(os.path.join(source_dir, "docs", "openapi.yaml")) as f:
        doc = yaml.safe_load(f)

    def validator(schema):
        full = dict(schema)
        full["components"] = doc["components"]
        resolver_doc = {"components": doc["components"]}
        resolver_doc.update(full)
        jsonschema.Draft202012Validator.check_schema(schema)
        return jsonschema.Draft202012Validator(resolver_doc)

    return doc, {name: validator(s) for name, s in doc["components"]["schemas"].items()}


def response_schema(doc, path, status):
    """The components schema name of path's GET response with status (or "default")."""
    op = doc["paths"][path]["get"]
    resp = op["responses"].get(str(status)) or op["responses"].get("default")
    if resp is None:
        raise TestFailure("docs/openapi.yaml: %s has no %d response" % (path, status))
    if "$ref" in resp:
        resp = doc["components"]["responses"][resp["$ref"].split("/")[-1]]
    content = resp["content"]
    media = content.get("application/json") or next(iter(content.values()))
    return media["schema"]["$ref"].split("/")[-1]


def check(doc, validators, path, status, body):
    """Validates body against the OpenAPI schema of path's status response."""
    name = response_schema(doc, path, status)
    errs = sorted(validators[name].iter_errors(body), key=lambda e: list(e.path))
    if errs:
        raise TestFailure("%s %d does not match docs/openapi.yaml %s: %s at %s"
                          % (path, status, name, errs[0].message, list(errs[0].path)))
