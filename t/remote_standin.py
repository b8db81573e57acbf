#!/usr/bin/python3
"""Stand-in for the hosted lockable.dev lock service, for tests and benchmarks.

A small HTTP/1.1 server on 127.0.0.1 that speaks the lockable.dev v1 API
(see PROTOCOL.md) with a configurable lease, plus an unauthenticated
control API to inspect it and to inject faults.  Python 3 standard
library only.

Run:
    /usr/bin/python3 t/remote_standin.py --port 0 --token SECRET \\
        --lease 3.0 --portfile /path/file [--log /path/log]

    --port N       port to listen on (127.0.0.1); 0 picks a free one
    --token T      account token expected as the basic-auth user name, with
                   an empty password (default: env LOCKABLE_AUTH_TOKEN)
    --lease S      lease length in seconds, a float (default 60)
    --portfile F   once listening, the port number and a newline are written
                   to F atomically (temporary file, then rename), so a test
                   can poll for F; it is left in place on exit
    --log F        append one line per request to F: time, client port, op,
                   decoded name, status, auth=ok|bad|missing and response
                   body (never the Authorization header or the token)

SIGTERM or SIGINT stops it cleanly (exit status 0).

Service API (all GET, basic auth, JSON answers, keep-alive):
    /v1/acquire/{name}    take the lock if free or its lease has run out:
                          {"response": true}, else {"response": false}
    /v1/heartbeat/{name}  extend a held, unexpired lock: {"response": true},
                          else {"response": false} (never revives a lock)
    /v1/release/{name}    drop the lock: {"response": true}
{name} is exactly one segment of the raw path, percent-decoded as UTF-8
(so %2F, %3F, %23, %25 give / ? # %).  Checked in this order: an unknown
path, extra segments, an empty name or a query string is 404, a name that
is not valid UTF-8 once decoded is 400; a method other than GET is 405;
a missing or wrong token is 401 {"error": "unauthorized"} with
WWW-Authenticate: Basic realm="lockable".  Then any fault set for the op
applies, then the op itself.

Control API (GET only, no auth, JSON answers), query values are
percent-decoded ('+' is a space, so encode a literal '+' as %2B):
    /_control/fault?op=OP&kind=KIND[&seconds=S][&status=N]
        OP is acquire, heartbeat, release or all (default all).  KIND:
          none     clear the fault
          status   answer HTTP status N (default 500; 200-599) with a small
                   JSON body, locks untouched; 3xx adds
                   Location: http://127.0.0.1:1/elsewhere, 401 adds
                   WWW-Authenticate
          nonjson  answer 200 text/html "<html>oops</html>", locks untouched
          badjson  answer 200 {"result": 1}, locks untouched
          slow     sleep S seconds (default 5), then answer normally
          hang     sleep until this fault is cleared or changed (polled
                   every 50 ms) or 600 s pass, then answer normally
          close    close the connection without answering
          big      answer 200 {"response": true|false, "pad": "xxx..."}
                   carrying out the op, padded to N bytes in all
                   (&bytes=N, default 100000)
        Answers {"faults": {op: {"kind":..., "seconds":..., "status":...}
        or null, ...}}.
    /_control/count?name=X
        {"acquire": n, "heartbeat": n, "release": n}: every /v1 request
        for name X since the last reset, whatever its answer (faulted,
        401 and closed ones included); unlike /_control/log it keeps no
        list, so nothing is dropped however many there are.
    /_control/take?name=X[&seconds=S]
        make X held by someone else for S seconds (default: the lease),
        whatever its state.
    /_control/steal?name=X
        drop X's lock, so that the holder's next heartbeat answers false.
    /_control/state
        {"locks": {name: seconds_left, ...} (unexpired locks only),
         "counts": {"acquire": {"true": n, "false": n, "error": n},
                    "heartbeat": {...}, "release": {...}},
         "unauthorized": n, "connections_total": n, "connections_open": n,
         "connections_max": n, "requests": n, "lease": S, "faults": {...}}
        counts/unauthorized/requests cover /v1 requests only ("requests"
        counts every one, including 404/405/401; "counts" only those that
        passed auth, "error" being a faulted answer); connections_* count
        TCP connections accepted: since reset, open now, most open at once.
    /_control/reset
        clear locks, faults, counters and the request log
        (connections_max restarts from the connections open now).
    /_control/log
        the last 1000 /v1 requests, oldest first, as a JSON list of
        {"op", "name", "status", "auth", "port", "t"}: status 0 means the
        connection was closed without an answer, auth is ok, bad or
        missing, port the client port, t seconds since the server started.
"""

import argparse
import base64
import binascii
import collections
import hmac
import http
import http.server
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

OPS = ("acquire", "heartbeat", "release")
FAULT_KINDS = ("none", "status", "nonjson", "badjson", "slow", "hang", "close",
               "big")
HANG_LIMIT = 600.0
LOG_KEEP = 1000
MAX_DISCARD = 1 << 20


class Fault:
    """One injected fault; compared by identity so a hang notices a change."""

    def __init__(self, kind, seconds, status, size):
        self.kind = kind
        self.seconds = seconds
        self.status = status
        self.size = size

    def as_json(self):
        return {"kind": self.kind, "seconds": self.seconds,
                "status": self.status, "bytes": self.size}


class State:
    """Everything shared between connections, guarded by one lock."""

    def __init__(self, lease, log_path):
        self.lock = threading.Lock()
        self.lease = lease
        self.started = time.monotonic()
        self.stopping = threading.Event()
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None
        self.log_lock = threading.Lock()
        self.conn_open = 0
        self.reset()

    def reset(self):
        """Clear locks, faults and counters; caller holds self.lock (or init)."""
        self.locks = {}         # name -> monotonic expiry
        self.faults = {}        # op -> Fault
        self.counts = {op: {"true": 0, "false": 0, "error": 0} for op in OPS}
        self.unauthorized = 0
        self.requests = 0
        self.per_name = {}      # name -> {op: n}, every /v1 request
        self.conn_total = 0
        self.conn_max = self.conn_open
        self.recent = collections.deque(maxlen=LOG_KEEP)

    def faults_json(self):
        return {op: (self.faults[op].as_json() if op in self.faults else None)
                for op in OPS}

    def write_log(self, line):
        if self.log_file is None:
            return
        with self.log_lock:
            if not self.log_file.closed:
                self.log_file.write(line)
                self.log_file.flush()

    def close_log(self):
        if self.log_file is not None:
            with self.log_lock:
                self.log_file.close()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, state):
        self.state = state
        super().__init__(address, Handler)

    def process_request(self, request, client_address):
        st = self.state
        with st.lock:
            st.conn_total += 1
            st.conn_open += 1
            if st.conn_open > st.conn_max:
                st.conn_max = st.conn_open
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        try:
            super().shutdown_request(request)
        finally:
            with self.state.lock:
                self.state.conn_open -= 1

    def handle_error(self, request, client_address):
        # A client going away mid-request is normal here; stay quiet.
        pass


def _dumps(obj):
    return json.dumps(obj).encode("ascii")


def _padded(ok, size):
    """{"response": ok, "pad": "xx..."}, size bytes long (or a bit more)."""
    head = _dumps({"response": ok, "pad": ""})
    return _dumps({"response": ok, "pad": "x" * max(size - len(head), 0)})


BODY_TRUE = _dumps({"response": True})
BODY_FALSE = _dumps({"response": False})
BODY_UNAUTHORIZED = _dumps({"error": "unauthorized"})
BODY_NOT_FOUND = _dumps({"error": "not found"})
BODY_BAD_NAME = _dumps({"error": "name is not valid percent-encoded UTF-8"})
BODY_BAD_METHOD = _dumps({"error": "method not allowed"})
BODY_NONJSON = b"<html>oops</html>"
BODY_BADJSON = _dumps({"result": 1})
AUTH_CHALLENGE = ("WWW-Authenticate", 'Basic realm="lockable"')
REDIRECT_TO = ("Location", "http://127.0.0.1:1/elsewhere")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lockable-standin/1"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 600                   # drop keep-alive connections idle this long
    expected_auth = b""             # set from --token in main()

    def log_message(self, format, *args):
        pass

    # Every method goes through one dispatcher; non-GET gets 405 there.
    def do_GET(self):
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # -- plumbing ---------------------------------------------------------

    def _discard_body(self):
        """Read (and drop) any request body so keep-alive stays in step."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return
        length = self.headers.get("Content-Length")
        if not length:
            return
        try:
            n = int(length)
        except ValueError:
            self.close_connection = True
            return
        if n < 0 or n > MAX_DISCARD:
            self.close_connection = True
        elif n:
            self.rfile.read(n)

    def _send(self, status, body, ctype="application/json", extra=()):
        """Write the whole answer with a single send."""
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Status"
        head = [f"HTTP/1.1 {status} {phrase}",
                f"Server: {self.server_version}",
                f"Content-Type: {ctype}"]
        if status != 204:
            head.append(f"Content-Length: {len(body)}")
        for name, value in extra:
            head.append(f"{name}: {value}")
        if self.close_connection:
            head.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            head.append("Connection: keep-alive")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if self.command != "HEAD":
            data += body
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _auth(self):
        """'ok', 'bad' or 'missing', from the Authorization header."""
        value = self.headers.get("Authorization")
        if value is None:
            return "missing"
        scheme, _, cred = value.strip().partition(" ")
        if scheme.lower() != "basic":
            return "bad"
        try:
            decoded = base64.b64decode(cred.strip(), validate=True)
        except (binascii.Error, ValueError):
            return "bad"
        return "ok" if hmac.compare_digest(decoded, self.expected_auth) else "bad"

    def _record(self, op, name, status, auth, body, in_ring):
        st = self.server.state
        port = self.client_address[1] if self.client_address else 0
        if in_ring:
            entry = {"op": op, "name": name, "status": status, "auth": auth,
                     "port": port,
                     "t": round(time.monotonic() - st.started, 3)}
            with st.lock:
                st.recent.append(entry)
        if st.log_file is not None:
            now = time.time()
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            stamp += ".%03d" % int((now % 1) * 1000)
            shown = "-" if status == 0 else body.decode("utf-8", "replace")
            shown = shown.replace("\r", " ").replace("\n", " ")
            st.write_log(f"{stamp} port={port} op={op} "
                         f"name={json.dumps(name, ensure_ascii=False)} "
                         f"status={status if status else 'closed'} auth={auth} "
                         f"body={shown}\n")

    def _dispatch(self):
        self._discard_body()
        raw = self.path
        if raw == "/_control" or raw.startswith("/_control/"):
            self._control(raw)
        elif raw.startswith("/v1/"):
            self._api(raw)
        else:
            self._send(404, BODY_NOT_FOUND)
            self._record("-", raw, 404, "-", BODY_NOT_FOUND, False)

    # -- /v1 --------------------------------------------------------------

    def _api(self, raw):
        st = self.server.state
        with st.lock:
            st.requests += 1
        path, qmark, _ = raw.partition("?")
        segs = path.split("/")              # ['', 'v1', op, name]
        op = segs[2] if len(segs) > 2 else ""
        if (len(segs) != 4 or op not in OPS or not segs[3] or qmark
                or "#" in path):
            self._send(404, BODY_NOT_FOUND)
            self._record(op or "-", raw, 404, "-", BODY_NOT_FOUND, True)
            return
        try:
            name = urllib.parse.unquote(segs[3], encoding="utf-8",
                                        errors="strict")
        except UnicodeDecodeError:
            self._send(400, BODY_BAD_NAME)
            self._record(op, segs[3], 400, "-", BODY_BAD_NAME, True)
            return
        with st.lock:
            per = st.per_name.setdefault(name, {o: 0 for o in OPS})
            per[op] += 1
        if self.command != "GET":
            self._send(405, BODY_BAD_METHOD, extra=(("Allow", "GET"),))
            self._record(op, name, 405, "-", BODY_BAD_METHOD, True)
            return
        auth = self._auth()
        if auth != "ok":
            with st.lock:
                st.unauthorized += 1
            self._send(401, BODY_UNAUTHORIZED, extra=(AUTH_CHALLENGE,))
            self._record(op, name, 401, auth, BODY_UNAUTHORIZED, True)
            return

        with st.lock:
            fault = st.faults.get(op)
        if fault is not None and fault.kind != "big":
            if self._apply_fault(op, name, fault):
                return

        now = time.monotonic()
        with st.lock:
            if op == "acquire":
                expiry = st.locks.get(name)
                ok = expiry is None or expiry <= now
                if ok:
                    st.locks[name] = now + st.lease
            elif op == "heartbeat":
                expiry = st.locks.get(name)
                ok = expiry is not None and expiry > now
                if ok:
                    st.locks[name] = now + st.lease
            else:
                st.locks.pop(name, None)
                ok = True
            st.counts[op]["true" if ok else "false"] += 1
        body = BODY_TRUE if ok else BODY_FALSE
        if fault is not None and fault.kind == "big":
            body = _padded(ok, fault.size)
        self._send(200, body)
        self._record(op, name, 200, "ok", body, True)

    def _apply_fault(self, op, name, fault):
        """Carry out FAULT; True if the request is finished with."""
        st = self.server.state
        kind = fault.kind
        if kind in ("slow", "hang"):
            if kind == "slow":
                st.stopping.wait(fault.seconds)
            else:
                deadline = time.monotonic() + HANG_LIMIT
                while not st.stopping.wait(0.05):
                    with st.lock:
                        if st.faults.get(op) is not fault:
                            break
                    if time.monotonic() >= deadline:
                        break
            return False                    # now answer normally

        with st.lock:
            st.counts[op]["error"] += 1
        if kind == "close":
            self.close_connection = True
            self._record(op, name, 0, "ok", b"", True)
            return True
        if kind == "status":
            status = fault.status
            body = _dumps({"error": "injected fault", "status": status})
            extra = []
            if 300 <= status < 400:
                extra.append(REDIRECT_TO)
            if status == 401:
                extra.append(AUTH_CHALLENGE)
            if status in (204, 304):      # no body allowed
                body = b""
            self._send(status, body, extra=extra)
        elif kind == "nonjson":
            status, body = 200, BODY_NONJSON
            self._send(status, body, ctype="text/html")
        else:                               # badjson
            status, body = 200, BODY_BADJSON
            self._send(status, body)
        self._record(op, name, status, "ok", body, True)
        return True

    # -- /_control ----------------------------------------------------------

    def _control(self, raw):
        path, _, query = raw.partition("?")
        what = path[len("/_control/"):] if path.startswith("/_control/") else ""
        if self.command != "GET":
            status, answer = 405, {"error": "method not allowed"}
        else:
            try:
                params = dict(urllib.parse.parse_qsl(
                    query, keep_blank_values=True, encoding="utf-8",
                    errors="strict"))
                status, answer = self._control_answer(what, params)
            except UnicodeDecodeError:
                status, answer = 400, {"error": "query is not valid UTF-8"}
            except ValueError as e:
                status, answer = 400, {"error": str(e)}
        body = _dumps(answer)
        extra = (("Allow", "GET"),) if status == 405 else ()
        self._send(status, body, extra=extra)
        self._record("_control/" + what, query, status, "-", body, False)

    def _control_answer(self, what, params):
        st = self.server.state
        if what == "fault":
            op = params.get("op", "all")
            kind = params.get("kind", "none")
            if op != "all" and op not in OPS:
                raise ValueError(f"unknown op {op!r}")
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown kind {kind!r}")
            seconds = float(params.get("seconds", "5"))
            status = int(params.get("status", "500"))
            size = int(params.get("bytes", "100000"))
            if not 0 <= size <= 1 << 24:
                raise ValueError("bytes must be 0-16777216")
            if not 200 <= status <= 599:
                raise ValueError("status must be 200-599")
            if seconds < 0:
                raise ValueError("seconds must not be negative")
            targets = OPS if op == "all" else (op,)
            with st.lock:
                for target in targets:
                    if kind == "none":
                        st.faults.pop(target, None)
                    else:
                        st.faults[target] = Fault(kind, seconds, status, size)
                return 200, {"faults": st.faults_json()}

        if what == "count":
            name = params.get("name", "")
            if not name:
                raise ValueError("name is required")
            with st.lock:
                return 200, dict(st.per_name.get(name, {o: 0 for o in OPS}))

        if what in ("take", "steal"):
            name = params.get("name", "")
            if not name:
                raise ValueError("name is required")
            with st.lock:
                if what == "take":
                    seconds = float(params.get("seconds", st.lease))
                    st.locks[name] = time.monotonic() + seconds
                else:
                    st.locks.pop(name, None)
            return 200, {"ok": True, "name": name}

        if what == "state":
            now = time.monotonic()
            with st.lock:
                expired = [n for n, e in st.locks.items() if e <= now]
                for n in expired:
                    del st.locks[n]
                return 200, {
                    "locks": {n: round(e - now, 3) for n, e in st.locks.items()},
                    "counts": {op: dict(c) for op, c in st.counts.items()},
                    "unauthorized": st.unauthorized,
                    "connections_total": st.conn_total,
                    "connections_open": st.conn_open,
                    "connections_max": st.conn_max,
                    "requests": st.requests,
                    "lease": st.lease,
                    "faults": st.faults_json(),
                }

        if what == "reset":
            with st.lock:
                st.reset()
            return 200, {"ok": True}

        if what == "log":
            with st.lock:
                return 200, list(st.recent)

        return 404, {"error": "unknown control request"}


def write_portfile(path, port):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(
        description="Stand-in for the lockable.dev lock service (tests only).")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default=os.environ.get("LOCKABLE_AUTH_TOKEN"))
    ap.add_argument("--lease", type=float, default=60.0)
    ap.add_argument("--portfile")
    ap.add_argument("--log")
    args = ap.parse_args()
    if not args.token:
        ap.error("no token: give --token or set LOCKABLE_AUTH_TOKEN")
    if args.lease <= 0:
        ap.error("--lease must be positive")

    Handler.expected_auth = (args.token + ":").encode("utf-8")
    state = State(args.lease, args.log)
    server = Server(("127.0.0.1", args.port), state)

    def stop(signum, frame):
        if not state.stopping.is_set():
            state.stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    port = server.server_address[1]
    if args.portfile:
        write_portfile(args.portfile, port)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        state.stopping.set()
        server.server_close()
        state.close_log()
    return 0


if __name__ == "__main__":
    sys.exit(main())
