"""Hostile HTTP against the demo app, byte for byte (issue 11 item 5).

  hostile_http_test.py MODULE_SO SOURCE_DIR BUILD_DIR     (BUILD_DIR/examples: the plugins)

Lays out a private Apache of its own (ServerRoot under /var/tmp, own port, PidFile, runtime dir,
mutexes and logs) serving the demo exactly as conf/httpd.conf.in includes it (conf/, htdocs/,
templates/, models/ copied unchanged; conf/flaskpp-server.conf + conf/flaskpp.conf; a random
SECRET_KEY in Apache's environment), plus mod_reqtimeout with
`RequestReadTimeout header=5-10,MinRate=500 body=5,MinRate=500` (what an operator should run in
front of upload routes). Apache is started and stopped through $FLASKPP_HTTPD (default
/usr/sbin/apache2; a sanitizer run points it at a wrapper).

Then, over raw sockets (the exact bytes are the point), each hostile shape must get the right 4xx
or be closed by Apache, and after each group a normal GET /health and POST /api/echo on a new
connection must still answer right:
  request smuggling (CL + TE, a request hidden in the body never answered on its own; duplicated
  Content-Length; TE lists and obfuscated TE; chunk-size overflow; CL with '+', spaces), to
  POST /api/echo and POST /upload;
  slow bodies on POST /upload and slow headers (slowloris): closed by mod_reqtimeout (408) within
  timeout + margin, other requests served meanwhile, no partial file in the upload dir or the
  upload work dir;
  header count, header size and request-line size limits (400, 400, 414);
  100000 nested JSON arrays (400 with a JSON error body), the body size limit (exactly 16 MiB
  accepted; 16 MiB + 1 refused 413 from the headers alone, before any body byte is sent);
  path tricks (.., %2e%2e, %2f, %00, overlong UTF-8, %252e, backslashes, //, long paths, a route
  parameter with ..%2F); upload filenames with ../, backslashes and NUL bytes (saved only under a
  secure name inside the upload dir); 5000 multipart parts (413);
  an invalid method token, HTTP/0.9, HTTP/1.1 without Host.
Finally the error_log: no line at warn or above except the expected ones (expect_log(), each with
its reason), no crash ("exit signal", segfault), and every child alive at the start still alive.
Prints one ok/FAIL line per check; exit 1 on any FAIL (the instance's root is then kept).
"""
import json
import os
import re
import secrets
import socket
import struct
import sys
import threading
import time
import zlib
from it_helpers import HTTPD, PrivateApache, demo_conf, png  # noqa: E402

MODULE, SOURCE, BUILD = sys.argv[1], sys.argv[2], sys.argv[3]
STARTED = time.monotonic()
MAX_BODY = 16 * 1024 * 1024  # conf/flaskpp.conf: FlaskppUploadMaxSize 16M (= MAX_CONTENT_LENGTH default)
REQ_TIMEOUT = 5              # RequestReadTimeout body=5 / header=5-10 below
TIMEOUT_MARGIN = 5
failures = []


CRASH = re.compile(r"exit signal|Segmentation fault|segfault|AddressSanitizer|runtime error:|LeakSanitizer")
LEVEL = re.compile(r"\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]")


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


# --- the instance ------------------------------------------------------------------------------
def hostile_conf(inst):
    # reqtimeout:info: its timeouts (AH01382) are logged, so the test sees which timeout closed what.
    return demo_conf(
        inst, MODULE, BUILD, ("mpm_event", "authz_core", "mime", "dir", "headers", "unique_id", "reqtimeout"),
        title="hostile_http_test.py: the demo (conf/httpd.conf.in's server, minus rotatelogs) + mod_reqtimeout.",
        mpm="""
StartServers 2
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
MinSpareThreads 25
MaxSpareThreads 75
""", log_level="warn flaskpp:info reqtimeout:info", extra="""
# --- What this test adds: slow clients are cut by mod_reqtimeout (5 s for the headers, extended
# by 1 s per 500 bytes up to 10 s; 5 s for the body, extended by 1 s per 500 bytes).
RequestReadTimeout header=5-10,MinRate=500 body=5,MinRate=500
""")


class Instance(PrivateApache):
    def __init__(self):
        super().__init__("hostile", hostile_conf, env={"SECRET_KEY": secrets.token_hex(32)})
        self.copy_demo(SOURCE)
        # Uploads (conf/flaskpp.conf: FlaskppUploadDir) are written by the children (www-data).
        self.upload_dir = os.path.join(self.root, "htdocs", "static", "img")
        self.work_dir = os.path.join(self.root, "var", "upload-work")  # created by the module at start

    def files(self):
        """Every file under the upload dir and the upload work dir (relative names)."""
        out = set()
        for base in (self.upload_dir, self.work_dir):
            for dirpath, _, names in os.walk(base):
                out.update(os.path.relpath(os.path.join(dirpath, n), self.root) for n in names)
        return out


# --- raw HTTP ----------------------------------------------------------------------------------
class Response:
    def __init__(self, status, reason, headers, body, http09=False):
        self.status, self.reason, self.headers, self.body, self.http09 = status, reason, headers, body, http09

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return "%s %s" % (self.status, self.reason)


class Exchange:
    """What came back on one connection: every response in order, whether the server closed it."""

    def __init__(self, data, closed, elapsed, first_byte):
        self.data, self.closed, self.elapsed, self.first_byte = data, closed, elapsed, first_byte
        self.responses = parse_responses(data)

    @property
    def status(self):
        return self.responses[0].status if self.responses else None

    @property
    def first(self):
        return self.responses[0] if self.responses else Response(None, "", {}, b"")

    def statuses(self):
        return [r.status for r in self.responses]

    def describe(self):
        s = "/".join(str(x) for x in self.statuses()) or "no response"
        return "%s%s" % (s, ", closed" if self.closed else "")


def parse_responses(data):
    out = []
    while data:
        if not data.startswith(b"HTTP/"):
            out.append(Response(None, "", {}, data, http09=True))
            break
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/\d\.\d (\d{3}) ?(.*)", lines[0])
        if not m:
            break
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        status = int(m.group(1))
        if "chunked" in headers.get("transfer-encoding", ""):
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                try:
                    n = int(size_line.split(b";")[0], 16)
                except ValueError:
                    n = 0
                if n == 0:
                    rest = rest.partition(b"\r\n")[2]
                    break
                body, rest = body + rest[:n], rest[n + 2:]
        elif "content-length" in headers:
            n = int(headers["content-length"])
            body, rest = rest[:n], rest[n:]
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            body, rest = rest, b""
        out.append(Response(status, m.group(2), headers, body))
        data = rest
    return out


def raw(port, *parts, timeout=10, idle=None, pause=0.0):
    """Sends the parts (bytes; a float between parts: sleep that long) on one new connection and
    reads until the server closes it, `timeout` seconds in all, or `idle` seconds without data
    once something has arrived."""
    start = time.monotonic()
    data, closed, first = b"", False, None
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            for p in parts:
                if isinstance(p, (int, float)):
                    time.sleep(p)
                else:
                    s.sendall(p)
        except (BrokenPipeError, ConnectionResetError):
            pass
        end = start + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(min(left, idle) if (idle and data) else left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            if first is None:
                first = time.monotonic() - start
            data += chunk
    return Exchange(data, closed, time.monotonic() - start, first)


def req(method, path, headers=(), body=b"", version="HTTP/1.1", host=True, close=True):
    lines = ["%s %s %s" % (method, path, version)]
    if host:
        lines.append("Host: 127.0.0.1")
    lines += list(headers)
    if body and not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append("Content-Length: %d" % len(body))
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def multipart_body(parts, boundary=None):
    """parts: (field, filename or None, content type or None, data)."""
    boundary = boundary or "hostile" + secrets.token_hex(8)
    out = b""
    for field, filename, ctype, data in parts:
        disp = b'Content-Disposition: form-data; name="' + field.encode() + b'"'
        if filename is not None:
            disp += b'; filename="' + (filename if isinstance(filename, bytes) else filename.encode()) + b'"'
        out += b"--" + boundary.encode() + b"\r\n" + disp + b"\r\n"
        if ctype:
            out += b"Content-Type: " + ctype.encode() + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


def trickle(port, head, drip, interval=1.0, limit=30.0):
    """Slowloris: sends `head`, then one byte of `drip` (cycled) every `interval` seconds until the
    server answers or closes; reads everything then. Returns (Exchange, seconds to the server's
    first byte or close, bytes dripped)."""
    import select
    start = time.monotonic()
    data, closed, first, dripped = b"", False, None, 0
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as s:
        s.sendall(head)
        while time.monotonic() - start < limit:
            ready, _, _ = select.select([s], [], [], interval)
            if ready:
                first = time.monotonic() - start
                break
            try:
                s.sendall(drip[dripped % len(drip):dripped % len(drip) + 1])
                dripped += 1
            except OSError:
                first = time.monotonic() - start
                break
        s.settimeout(3)
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    return Exchange(data, closed, time.monotonic() - start, first), first, dripped


# --- expected error_log lines ------------------------------------------------------------------
# Lines at warn or above that a shape provokes on purpose: (regex, reason). The log check fails on
# any other line at warn or above, and on any expected line that never appeared.
expected_log = []


def expect_log(regex, reason, label=None):
    expected_log.append((re.compile(regex), reason, label or regex))


def log_line(module_level, tag, message):
    """A whole error_log line (conf's ErrorLogFormat) of that module:level, tag and message."""
    return r"^\[[^\]]+\] \[%s\] \[pid \d+:tid \d+\] .*?\] %s: %s$" % (re.escape(module_level), tag, message)


# --- the checks --------------------------------------------------------------------------------
HIDDEN = b"GET /hello/SMUGGLED HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def still_serving(inst, after):
    """A normal GET /health and POST /api/echo, each on a new connection, answer right."""
    e = raw(inst.port, req("GET", "/health"), timeout=10)
    ok = e.status == 200 and e.first.json() == {"status": "ok"}
    doc = {"after": after, "n": [1, 2, 3], "s": "\u00e9t\u00e9"}
    body = json.dumps(doc).encode()
    f = raw(inst.port, req("POST", "/api/echo", ["Content-Type: application/json"], body), timeout=10)
    ok2 = f.status == 200 and (f.first.json() or {}).get("json") == doc
    return check(ok and ok2, "after %s: GET /health %s, POST /api/echo %s echoes its JSON"
                 % (after, e.describe(), f.describe()))


def smuggling(inst):
    print("--- request smuggling shapes", flush=True)
    echo_inner = b"smuggle-probe"
    img = png(12, 10, 7)
    up_inner, up_type = multipart_body([("image_upload", "smuggle.png", "image/png", img)])

    def chunked(data):
        return b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"

    def shape(path, ctype, inner, te_lines, cl=None, cl_lines=None):
        """te_lines: raw header lines; the body: `inner` chunked, then HIDDEN; Content-Length covers
        body + hidden (what a CL-only front end would forward as one request) unless cl is given."""
        payload = chunked(inner) + HIDDEN
        head = b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + ctype.encode() + b"\r\n"
        for line in te_lines:
            head += line + b"\r\n"
        if cl_lines is None:
            cl_lines = [b"Content-Length: " + (cl if cl is not None else str(len(payload)).encode())]
        for line in cl_lines:
            head += line + b"\r\n"
        return head + b"\r\n" + payload

    routes = [("/api/echo", "text/plain", echo_inner), ("/upload", up_type, up_inner)]
    # (name, te header lines, cl override, cl lines, expected first status, what Apache does)
    te = b"Transfer-Encoding: chunked"
    shapes = [
        ("CL.TE: Content-Length over the whole payload + Transfer-Encoding: chunked", [te], None, None, 200,
         "TE wins, CL dropped, connection closed after the answer (RFC 9112 6.3)"),
        ("TE.CL: Content-Length: 3 + Transfer-Encoding: chunked", [te], b"3", None, 200,
         "TE wins, CL dropped, connection closed"),
        ("Transfer-Encoding: chunked, identity", [b"Transfer-Encoding: chunked, identity"], None, None, 400,
         "chunked not final: 400 (AH02539 at info)"),
        ("Transfer-Encoding: chunked + a second Transfer-Encoding: identity",
         [te, b"Transfer-Encoding: identity"], None, None, 400, "merged to 'chunked, identity': 400"),
        ("'Transfer-Encoding : chunked' (space before the colon)", [b"Transfer-Encoding : chunked"], None, None, 400,
         "HttpProtocolOptions Strict refuses the header line"),
        ("Transfer-Encoding: xchunked", [b"Transfer-Encoding: xchunked"], None, None, 400, "unknown coding: 400"),
        ("Transfer-Encoding: identity, chunked + CL", [b"Transfer-Encoding: identity, chunked"], None, None, 200,
         "chunked is final: the body is chunked, CL dropped, connection closed"),
        ("'Transfer-Encoding:<TAB>chunked' + CL", [b"Transfer-Encoding:\tchunked"], None, None, 200,
         "OWS is a tab: same as chunked, CL dropped, connection closed"),
        ("Content-Length twice with different values", [], None, [b"Content-Length: 5", b"Content-Length: 6"], 400,
         "'5, 6' is no valid length: 400"),
        ("Content-Length twice with the same value", [], None, None, 400, "'N, N' is no valid length either: 400"),
        ("Content-Length: +N", [], None, None, 400, "a sign is no digit: 400"),
        ("Content-Length: N N", [], None, None, 400, "400"),
        ("Content-Length: 0xN", [], None, None, 400, "400"),
        ("Content-Length: -1", [], None, [b"Content-Length: -1"], 400, "400"),
        ("Content-Length: 99999999999999999999999 (overflows 64 bits)", [], None,
         [b"Content-Length: 99999999999999999999999"], 400, "400"),
    ]
    for route, ctype, inner in routes:
        for name, te_lines, cl, cl_lines, want, why in shapes:
            payload_len = len(chunked(inner) + HIDDEN)
            if name.startswith("Content-Length twice with the same"):
                cl_lines = [b"Content-Length: %d" % payload_len] * 2
            elif name == "Content-Length: +N":
                cl_lines = [b"Content-Length: +%d" % payload_len]
            elif name == "Content-Length: N N":
                cl_lines = [b"Content-Length: %d %d" % (payload_len, payload_len)]
            elif name == "Content-Length: 0xN":
                cl_lines = [b"Content-Length: 0x%x" % payload_len]
            data = shape(route, ctype, inner, te_lines, cl, cl_lines)
            e = raw(inst.port, data, timeout=10, idle=2)
            smuggled = any(b"SMUGGLED" in r.body for r in e.responses) or len(e.responses) != 1
            ok = e.status == want and e.closed and not smuggled
            if want == 200 and route == "/upload":
                ok = ok and len(re.findall(rb'<img class="img-thumbnail" src="/static/img/smuggle_\d+_[0-9a-f]+\.png"',
                                           e.first.body)) == 1
            check(ok, "POST %s, %s: %s (expected %d, closed, the hidden request not answered: %s)"
                  % (route, name, e.describe(), want, why))

        # Accepted Content-Length spellings (OWS around the value, leading zeros): the body is read
        # by that length and nothing after it is taken for a request of its own.
        for spelling in (b"   %d", b"%d   ", b"000%d"):
            body = echo_inner if route == "/api/echo" else inner
            head = (b"POST " + route.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + ctype.encode() +
                    b"\r\nConnection: close\r\nContent-Length:" + (b" " + spelling % len(body)) + b"\r\n\r\n")
            e = raw(inst.port, head + body + HIDDEN, timeout=10, idle=2)
            smuggled = any(b"SMUGGLED" in r.body for r in e.responses) or len(e.responses) != 1
            check(e.status == 200 and e.closed and not smuggled,
                  "POST %s, Content-Length: %r: %s (200, read by that length, Connection: close honoured)"
                  % (route, (spelling % len(body)).decode(), e.describe()))

        # Chunk sizes: beyond 64 bits (Apache: 413 at once), negative (400), and a 2^63-1 chunk
        # that never arrives (timed out by reqtimeout's body limit, below in slow_clients).
        for size, want, why in ((b"ffffffffffffffffffff1", 413, "chunk size overflows: Apache's 413"),
                                (b"-7", 400, "negative chunk size: 400")):
            data = (b"POST " + route.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + ctype.encode() +
                    b"\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\n" + inner[:7] + b"\r\n0\r\n\r\n" + HIDDEN)
            e = raw(inst.port, data, timeout=10, idle=2)
            check(e.status == want and e.closed and len(e.responses) == 1,
                  "POST %s, chunk size %s: %s (expected %d, closed: %s)"
                  % (route, size.decode(), e.describe(), want, why))

    # A plain keep-alive pipeline still works (the negative control of the hidden request): two
    # requests in one write, both answered in order.
    last = HIDDEN.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    e = raw(inst.port, req("GET", "/health", close=False) + last, timeout=10, idle=2)
    check(e.statuses() == [200, 200] and b"SMUGGLED" in e.responses[1].body,
          "control: a genuinely pipelined second request is answered (%s), so the checks above can see one"
          % e.describe())
    still_serving(inst, "the smuggling shapes")


def slow_clients(inst):
    print("--- slow clients (mod_reqtimeout: header=5-10,MinRate=500 body=5,MinRate=500)", flush=True)
    before = inst.files()
    results = {}
    img = png(64, 64, 11)
    body, ctype = multipart_body([("image_upload", "slow.png", "image/png", img * 40)])
    slow_len = len(body)
    cut = 300  # the part's headers and the PNG's first bytes arrive at once: the module has a file open

    def slow_upload():
        head = req("POST", "/upload", ["Content-Type: " + ctype, "Content-Length: %d" % slow_len], close=False)
        results["upload"] = trickle(inst.port, head + body[:cut], body[cut:], 1.0, 30)

    def slow_echo_chunked():
        head = (b"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n[1,2,3]")
        results["chunk"] = trickle(inst.port, head, b" ", 1.0, 30)

    def slow_header(i):
        results["header%d" % i] = trickle(inst.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                                          b"X-Slow-%d: aaaaaaaa\r\n" % i, 1.0, 30)

    threads = [threading.Thread(target=slow_upload), threading.Thread(target=slow_echo_chunked)]
    threads += [threading.Thread(target=slow_header, args=(i,)) for i in range(10)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(2.0)
    # While they drip: other requests are served at once (each on a new connection), before any
    # slow client has been cut.
    served, worst, partial = 0, 0.0, set()
    for _ in range(3):
        a = time.monotonic()
        e = raw(inst.port, req("GET", "/health"), timeout=5)
        f = raw(inst.port, req("POST", "/api/echo", ["Content-Type: application/json"], b'{"during":"slowloris"}'),
                timeout=5)
        worst = max(worst, time.monotonic() - a)
        served += e.status == 200
        served += f.status == 200 and (f.first.json() or {}).get("json") == {"during": "slowloris"}
        partial |= inst.files() - before
        time.sleep(0.2)
    during = time.monotonic() - t0
    print("     (work files seen during the slow upload: %s)" % (sorted(partial) or "none"), flush=True)
    for t in threads:
        t.join(40)
    cut_first = min((r[1] for r in results.values() if r[1] is not None), default=None)
    check(served == 6 and worst < 3.0 and cut_first is not None and during < cut_first,
          "while 12 slow clients drip (2.0-%.1f s; the first is cut at %.1f s): 6 of 6 GET /health and POST /api/echo "
          "served (served %d, slowest pair %.2f s)" % (during, cut_first or -1, served, worst))

    limit = REQ_TIMEOUT + TIMEOUT_MARGIN
    e, first, dripped = results["upload"]
    check(e.status == 408 and e.closed and first is not None and first <= limit,
          "slow POST /upload (%d of %d bytes, then 1 byte/s): %s after %.1f s (%d bytes dripped; expected 408, close "
          "within %d s)" % (cut, slow_len, e.describe(), first or -1, dripped, limit))
    e, first, dripped = results["chunk"]
    check(e.status == 408 and e.closed and first is not None and first <= limit,
          "POST /api/echo with a 2^63-1 chunk that never comes (1 byte/s): %s after %.1f s (expected 408, close within "
          "%d s)" % (e.describe(), first or -1, limit))
    heads = [results["header%d" % i] for i in range(10)]
    hlimit = 10 + TIMEOUT_MARGIN
    firsts = [h[1] for h in heads]
    check(all(h[0].status == 408 and h[0].closed for h in heads) and all(f is not None and f <= hlimit for f in firsts),
          "10 slowloris connections (headers at 1 byte/s): %s after %s s (expected 408 and close within %d s)"
          % (sorted(set(h[0].describe() for h in heads)), "/".join("%.1f" % (f or -1) for f in firsts), hlimit))
    time.sleep(0.3)
    after = inst.files()
    check(after == before, "no partial file left in the upload dir or the upload work dir (new: %s, gone: %s)"
          % (sorted(after - before), sorted(before - after)))
    expect_log(log_line("reqtimeout:info", "AH01382", r"Request body read timeout"),
               "info (LogLevel reqtimeout:info), not a failure: mod_reqtimeout cut the slow bodies",
               "[reqtimeout:info] AH01382: Request body read timeout")
    expect_log(log_line("reqtimeout:info", "AH01382", r"Request header read timeout"),
               "info, not a failure: mod_reqtimeout cut the slow headers",
               "[reqtimeout:info] AH01382: Request header read timeout")
    still_serving(inst, "the slow clients")


def limits(inst):
    print("--- header and request-line limits", flush=True)
    e = raw(inst.port, req("GET", "/health", ["X-H%d: v" % i for i in range(200)]), timeout=10)
    check(e.status == 400 and e.closed, "GET /health with 200 header fields: %s (LimitRequestFields 100: 400)"
          % e.describe())
    e = raw(inst.port, req("GET", "/health", ["X-Big: " + "a" * 10240]), timeout=10)
    check(e.status == 400 and e.closed, "GET /health with a 10 KB header line: %s (LimitRequestFieldSize 8190: 400)"
          % e.describe())
    e = raw(inst.port, req("GET", "/health?" + "a" * 9000), timeout=10)
    check(e.status == 414 and e.closed, "a 9 KB request line: %s (LimitRequestLine 8190: 414)" % e.describe())
    # Exactly at LimitRequestFields (Host, Content-Type, 96 more, Connection, Content-Length: 100) and one over.
    for extra, want in ((96, 200), (97, 400)):
        e = raw(inst.port, req("POST", "/api/echo", ["Content-Type: application/json"] +
                               ["X-H%d: v" % i for i in range(extra)], b"[1]"), timeout=10)
        check(e.status == want and e.closed, "POST /api/echo with %d header fields in all: %s (LimitRequestFields "
              "100: %d)" % (extra + 4, e.describe(), want))
    still_serving(inst, "the header limits")


def bodies(inst):
    print("--- deep JSON and the body size limit", flush=True)
    deep = b"[" * 100000 + b"]" * 100000
    e = raw(inst.port, req("POST", "/api/echo", ["Content-Type: application/json"], deep), timeout=20)
    j = e.first.json() or {}
    check(e.status == 400 and (e.first.header("content-type") or "").startswith("application/json")
          and j.get("error", {}).get("code") == 400 and "nesting deeper than" in j.get("error", {}).get("message", ""),
          "POST /api/echo with 100000 nested arrays: %s %s" % (e.describe(), e.first.text.strip()[:120]))
    deep_obj = b'{"a":' * 600 + b"1" + b"}" * 600
    e = raw(inst.port, req("POST", "/api/echo", ["Content-Type: application/json"], deep_obj), timeout=20)
    check(e.status == 400 and (e.first.json() or {}).get("error", {}).get("code") == 400,
          "POST /api/echo with 600 nested objects: %s (JSON error body)" % e.describe())

    exact = b"x" * MAX_BODY
    e = raw(inst.port, req("POST", "/api/echo", ["Content-Type: application/octet-stream"], exact), timeout=30)
    check(e.status == 200 and (e.first.json() or {}).get("headers", {}).get("content-length") == str(MAX_BODY),
          "POST /api/echo with a body of exactly %d bytes (FlaskppUploadMaxSize 16M): %s" % (MAX_BODY, e.describe()))
    for route, ctype in (("/api/echo", "application/json"), ("/upload", "multipart/form-data; boundary=x"),
                         ("/api/predict-now", "application/json"), ("/api/predict", "application/json")):
        for length in (MAX_BODY + 1, 10 ** 15):
            e = raw(inst.port, req("POST", route, ["Content-Type: " + ctype, "Content-Length: %d" % length],
                                   close=False), timeout=5)
            check(e.status == 413 and e.closed and e.first_byte is not None and e.first_byte < 3,
                  "POST %s, headers only, Content-Length: %d: %s in %.2f s without a body byte sent"
                  % (route, length, e.describe(), e.first_byte or -1))
    e = raw(inst.port, req("POST", "/api/echo", ["Content-Type: application/json", "Expect: 100-continue",
                                                 "Content-Length: %d" % (MAX_BODY + 1)], close=False), timeout=5)
    check(e.statuses() == [413] and e.closed, "Expect: 100-continue with Content-Length %d: %s, no 100 Continue"
          % (MAX_BODY + 1, e.describe()))
    still_serving(inst, "deep JSON and the size limit")


SECRET_MARKS = (b"root:x:0:0", b"FlaskppRoute", b"FlaskppSecretKey", b"LoadModule")


def paths(inst):
    print("--- path tricks", flush=True)
    long_name = "/" + "a" * 8000
    # (path, expected status, why, expected error_log line or None)
    cases = [
        ("/../etc/passwd", 400, "above the root", "AH10244"),
        ("/%2e%2e/%2e%2e/etc/passwd", 400, "%2e decoded, above the root", "AH10244"),
        ("/%2e%2e/", 400, "above the root", "AH10244"),
        ("/static/%2e%2e/%2e%2e/conf/flaskpp.conf", 400, "above the root", "AH10244"),
        ("/static/..%2f..%2fconf/flaskpp.conf", 404, "AllowEncodedSlashes Off: %2f is a 404", None),
        ("/static/../conf/flaskpp.conf", 404, "normalized to /conf/flaskpp.conf: no such file", None),
        ("/hello/x/../../conf/flaskpp.conf", 404, "normalized to /conf/flaskpp.conf: no such file", None),
        ("/hello/a%00b", 404, "an encoded NUL: Apache's 404", None),
        ("/static/css/app.css%00.png", 404, "an encoded NUL: Apache's 404", None),
        ("/api/items/1%00", 404, "an encoded NUL in a route parameter", None),
        ("/static/%c0%ae%c0%ae/%c0%ae%c0%ae/conf/flaskpp.conf", 404, "overlong UTF-8 is not '.'", None),
        ("/static/%252e%252e/%252e%252e/conf/flaskpp.conf", 404, "double encoding is decoded once", None),
        ("/static\\..\\..\\conf\\flaskpp.conf", 404, "a backslash is no separator", None),
        ("/hello/..%2F..", 404, "a route parameter with an encoded slash (AllowEncodedSlashes Off)", None),
        ("/hello/..%2F..%2Fconf%2Fflaskpp.conf", 404, "the same, deeper", None),
        ("/hello/%", 400, "a bad escape", "AH10244"),
        ("/hello/%zz", 400, "a bad escape", "AH10244"),
        ("/api/items/%31", 200, "an encoded digit is the digit (route int converter)", None),
        ("/api/items/-1", 404, "min=1: no route matches", None),
        ("/api/items/99999999999999999999999", 404, "the int converter refuses an overflow", None),
        (long_name, 403, "an 8000-byte file name: ENAMETOOLONG, Apache's 403", "AH00127"),
        ("/hello/" + "a" * 8000, 200, "a long route parameter renders (escaped)", None),
    ]
    for path, want, why, tag in cases:
        e = raw(inst.port, req("GET", path), timeout=10)
        leaked = any(m in e.first.body for m in SECRET_MARKS)
        check(e.status == want and not leaked, "GET %s: %s (expected %d: %s)"
              % (path if len(path) < 80 else path[:40] + "...(%d bytes)" % len(path), e.describe(), want, why))
        if tag == "AH10244":
            expect_log(log_line("core:error", "AH10244", r"invalid URI path \(%s\)" % re.escape(path)),
                       "Apache refuses a URI path above the root or with a bad %-escape",
                       "[core:error] AH10244: invalid URI path (%s)" % path)
        elif tag == "AH00127":
            expect_log(log_line("core:error", "AH00127", r"Cannot map GET %s HTTP/1\.1 to file" % re.escape(path)),
                       "the file name is longer than NAME_MAX (ENAMETOOLONG): Apache's 403",
                       "[core:error] AH00127: Cannot map GET /aaa...(%d bytes) HTTP/1.1 to file" % len(path))

    # Route parameters that look like traversal or markup are only text: rendered escaped, never
    # decoded twice, never reaching a file.
    for path, shown in (("/hello/..%5c..%5cconf", b"..\\..\\conf"), ("/hello/%252e%252e", b"%2e%2e"),
                        ("/hello/%3Cscript%3E", b"&lt;script&gt;"), ("/hello/..\\..\\conf", b"..\\..\\conf")):
        e = raw(inst.port, req("GET", path), timeout=10)
        check(e.status == 200 and (b"Hello, " + shown + b"!") in e.first.body,
              "GET %s renders the parameter as text %r" % (path, shown.decode()))
    # Overlong UTF-8 for '.' in a route parameter: never decoded to '.'.
    e = raw(inst.port, req("GET", "/hello/%c0%ae%c0%ae"), timeout=10)
    check(e.status == 200 and b"Hello, ..!" not in e.first.body,
          "GET /hello/%c0%ae%c0%ae: 200, the overlong bytes are not taken for '..'")
    # Pages declared `charset=utf-8` must be UTF-8 whatever bytes the URL decodes to: invalid
    # sequences become U+FFFD, as Werkzeug decodes the path and query, and as the module's own JSON
    # answers (echo) and log lines already do (sanitize_utf8). Template context strings (route
    # parameters, args, request.path in the footer and the error pages) are passed through raw
    # today, so this check FAILS until they are sanitized too (found by this test; see its report).
    bad = []
    for path, want in (("/hello/%c0%ae%c0%ae?greeting=%ff%fe", 200), ("/hello/%ed%a0%80", 200),
                       ("/no/such/%ff", 404), ("/static/x%c0%ae", 404)):
        e = raw(inst.port, req("GET", path), timeout=10)
        try:
            e.first.body.decode("utf-8")
        except UnicodeDecodeError as err:
            bad.append("%s: %s at %d (%r)" % (path, err.reason, err.start,
                                              e.first.body[max(0, err.start - 30):err.start + 4]))
        if e.status != want or "charset=utf-8" not in (e.first.header("content-type") or ""):
            bad.append("%s: %s %s" % (path, e.describe(), e.first.header("content-type")))
    check(not bad, "HTML pages for URLs with invalid UTF-8 (%%c0%%ae, %%ff, %%ed%%a0%%80) are valid UTF-8 "
          "(charset=utf-8; U+FFFD for the bad bytes)%s" % "".join("\n       " + b for b in bad))
    e = raw(inst.port, req("GET", "/api/echo?x=%c0%ae&y=%ff", ["X-Bin: \xc0\xae\xff"]), timeout=10)
    j = e.first.json() or {}
    check(e.status == 200 and j.get("args") == {"x": ["\ufffd\ufffd"], "y": ["\ufffd"]}
          and j.get("headers", {}).get("x-bin") == "\ufffd" * 3,
          "GET /api/echo?x=%c0%ae&y=%ff with a binary header: valid JSON, U+FFFD for the bad bytes")
    # //double//slashes: merged (MergeSlashes On); the route answers as for the single-slash path.
    for path, want in (("//api//echo", 200), ("//static//css//app.css", 200), ("//hello//x", 200)):
        e = raw(inst.port, req("GET", path), timeout=10)
        check(e.status == want, "GET %s: %s (MergeSlashes: as the single-slash path)" % (path, e.describe()))
    e = raw(inst.port, req("GET", "//api//echo"), timeout=10)
    check((e.first.json() or {}).get("path") == "/api/echo", "GET //api//echo: the handler sees path /api/echo (%s)"
          % (e.first.json() or {}).get("path"))
    still_serving(inst, "the path tricks")


def uploads(inst):
    print("--- hostile uploads", flush=True)
    img = png(16, 16, 5)
    outside = [os.path.join(inst.root, p) for p in ("x.png", "x.php", "htdocs/x.png", "htdocs/static/x.png",
                                                      "etc/passwd.png", "var/x.png")]
    cases = [
        (b"../../x.png", 200, r"x_\d+_[0-9a-f]+\.png"),
        (b"..\\\\x.png", 200, r"x_\d+_[0-9a-f]+\.png"),
        (b"..\\..\\x.png", 200, r"x_\d+_[0-9a-f]+\.png"),
        (b"....//....//x.png", 200, r"x_\d+_[0-9a-f]+\.png"),
        (b"/etc/passwd.png", 200, r"etc_passwd_\d+_[0-9a-f]+\.png"),
        (b"a\x00.php.png", 200, r"a_php_\d+_[0-9a-f]+\.png"),
        (b"../../x.php", 415, None),
        (b"x.png\x00.php", 415, None),
        (b"\x00", 415, None),
    ]
    for fn, want, saved in cases:
        before = set(os.listdir(inst.upload_dir))
        body, ctype = multipart_body([("image_upload", fn, "image/png", img)])
        e = raw(inst.port, req("POST", "/upload", ["Content-Type: " + ctype], body), timeout=10)
        after = set(os.listdir(inst.upload_dir))
        new = sorted(after - before)
        thumbs = re.findall(rb'<img class="img-thumbnail" src="/static/img/([^"]+)"', e.first.body)
        if want == 200:
            ok = (e.status == 200 and len(new) == 1 and re.fullmatch(saved, new[0]) is not None
                  and [t.decode() for t in thumbs] == new
                  and open(os.path.join(inst.upload_dir, new[0]), "rb").read() == img)
        else:
            ok = e.status == want and not new
        ok = ok and not any(os.path.exists(p) for p in outside)
        check(ok, "POST /upload, filename %r: %s, new in the upload dir: %s (expected %d%s)"
              % (fn.decode("latin-1"), e.describe(), new or "nothing", want,
                 ", saved as %s only" % saved if saved else ", nothing saved"))

    before = inst.files()
    body, ctype = multipart_body([("f%d" % i, None, None, b"v") for i in range(5000)])
    e = raw(inst.port, req("POST", "/upload", ["Content-Type: " + ctype], body), timeout=20)
    check(e.status == 413 and b"multipart parts" in e.first.body,
          "POST /upload with 5000 multipart parts (%d bytes): %s (FlaskppUploadMaxParts 1000: 413)"
          % (len(body), e.describe()))
    body, ctype = multipart_body([("image_upload", "p%d.png" % i, "image/png", img) for i in range(1001)])
    e = raw(inst.port, req("POST", "/upload", ["Content-Type: " + ctype], body), timeout=20)
    check(e.status == 413 and inst.files() == before,
          "POST /upload with 1001 PNG files: %s, no file saved (all or nothing)" % e.describe())
    still_serving(inst, "the hostile uploads")


def protocol(inst):
    print("--- methods and protocol versions", flush=True)
    for line in (b"G@T /health HTTP/1.1", b"GET(/health HTTP/1.1", b"GE T /health HTTP/1.1"):
        e = raw(inst.port, line + b"\r\nHost: 127.0.0.1\r\n\r\n", timeout=10)
        check(e.status == 400 and e.closed, "request line %r: %s (an invalid method token: 400)"
              % (line.decode(), e.describe()))
    e = raw(inst.port, req("FOO", "/api/echo"), timeout=10)
    check(e.status == 405 and (e.first.json() or {}).get("error", {}).get("code") == 405,
          "FOO /api/echo (a valid but unrouted method): %s, JSON 405" % e.describe())
    e = raw(inst.port, b"GET /health\r\n", timeout=10)
    check(len(e.responses) == 1 and e.first.http09 and e.first.body == b'{"status":"ok"}\n' and e.closed,
          "HTTP/0.9 'GET /health': %r, closed (Apache's default HttpProtocolOptions Allow0.9: a bare body)"
          % e.data[:40])
    for line in (b"POST /api/echo\r\n", b"HEAD /health\r\n"):
        e = raw(inst.port, line, timeout=10)
        check(e.status == 400 and e.closed, "HTTP/0.9 %r: %s (0.9 knows only GET: 400)" % (line.strip().decode(),
                                                                                          e.describe()))
    e = raw(inst.port, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n", timeout=10)
    check(e.status == 400 and e.closed, "HTTP/1.1 without Host: %s (400)" % e.describe())
    e = raw(inst.port, b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n", timeout=10)
    check(e.status == 400, "HTTP/1.1 with two Host headers: %s (400)" % e.describe())
    e = raw(inst.port, b"GET /health HTTP/1.0\r\n\r\n", timeout=10)
    check(e.status == 200 and e.closed, "HTTP/1.0 without Host: %s (allowed)" % e.describe())
    # A higher version with a valid shape is answered as HTTP/1.1 (RFC 9110 2.5 allows that; no 505).
    e = raw(inst.port, b"GET /health HTTP/9.9\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeout=10)
    check(e.status == 200 and e.data.startswith(b"HTTP/1.1 200 ") and e.first.json() == {"status": "ok"},
          "'GET /health HTTP/9.9': %s, answered as HTTP/1.1" % e.describe())
    for line in (b"GET /health HTTP/1.10", b"GET /health http/1.1"):
        e = raw(inst.port, line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeout=10)
        check(e.status in (400, 505) and e.closed, "%r: %s (a malformed version: 400 or 505)"
              % (line.decode(), e.describe()))
    e = raw(inst.port, b"GET /health HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n", timeout=10)
    check(e.status == 400 and e.closed, "bare LF line ends: %s (HttpProtocolOptions Strict: 400)" % e.describe())
    still_serving(inst, "the protocol shapes")


def log_checks(inst, children_at_start):
    print("--- error_log and children", flush=True)
    text = inst.log_text()
    lines = text.splitlines()
    crashes = [l for l in lines if CRASH.search(l)]
    check(not crashes, "error_log: no crash line (exit signal, segfault, sanitizer)%s"
          % "".join("\n       " + l[:300] for l in crashes))
    unexpected, seen = [], [0] * len(expected_log)
    for line in lines:
        hit = False
        for i, (rx, _, _) in enumerate(expected_log):
            if rx.search(line):
                seen[i] += 1
                hit = True
                break
        if not hit and LEVEL.search(line):
            unexpected.append(line)
    check(not unexpected, "error_log: no line at warn or above except the %d expected ones (%d lines in all)%s"
          % (sum(seen), len(lines), "".join("\n       " + l[:300] for l in unexpected)))
    missing = [label for (_, _, label), n in zip(expected_log, seen) if n == 0]
    for (_, reason, label), n in zip(expected_log, seen):
        print("     expected x%d: %s -- %s" % (n, label[:120], reason))
    check(not missing, "error_log: every expected line appeared%s" % "".join("\n       " + m for m in missing))
    alive = [p for p in children_at_start if os.path.exists("/proc/%d" % p)]
    check(len(alive) == len(children_at_start) and children_at_start,
          "the %d children alive at the start (%s) are alive at the end" %
          (len(children_at_start), " ".join(map(str, sorted(children_at_start)))))


def main():
    inst = Instance()
    children = set()
    try:
        inst.start()
        children = inst.children()
        check(bool(children), "private Apache (%s) on http://127.0.0.1:%d, children %s, started after %.1f s"
              % (HTTPD, inst.port, sorted(children), time.monotonic() - STARTED))
        still_serving(inst, "the start")
        for group in (smuggling, limits, bodies, paths, uploads, protocol, slow_clients):
            try:
                group(inst)
            except Exception as e:  # noqa: BLE001 -- one group's failure is a FAIL line, the others run
                check(False, "%s: %s: %s" % (group.__name__, type(e).__name__, e))
        time.sleep(0.5)  # the last lines reach the error_log
        log_checks(inst, children)
    except Exception as e:  # noqa: BLE001 -- any failure is a FAIL line, and the instance still stops
        check(False, "%s: %s" % (type(e).__name__, e))
    finally:
        pid = inst.stop()
        check(pid is None or not os.path.exists("/proc/%d" % pid), "%s -k stop: the parent (pid %s) is gone"
              % (HTTPD, pid))
        text = inst.log_text() if os.path.exists(inst.log) else ""
        crashes = [l for l in text.splitlines() if CRASH.search(l)]
        check(not crashes, "error_log after the stop: no crash line")
        if failures:
            print("instance kept for inspection: %s" % inst.root)
        else:
            inst.remove()
    print("%s in %.1f s" % ("%d checks failed" % len(failures) if failures else "all checks passed",
                            time.monotonic() - STARTED))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
