"""What Apache gives for free, proven: the demo app, unchanged, over TLS and HTTP/2.

  tls_http2_test.py MODULE_SO SOURCE_DIR BUILD_DIR     (BUILD_DIR/examples/digits/digits.so: the plugin)

Makes a throwaway CA and a server certificate for IP:127.0.0.1 and DNS:localhost (openssl), lays
out a private Apache of its own (ServerRoot under /var/tmp, own ports, PidFile, runtime dir,
mutexes and logs) that includes the demo exactly as conf/httpd.conf.in does (conf/, htdocs/,
templates/, models/ copied unchanged; conf/flaskpp-server.conf + conf/flaskpp.conf; the session
key from a random SECRET_KEY in Apache's environment) and adds only what TLS and HTTP/2 need:
mod_ssl, mod_http2, one TLS virtual host (`Protocols h2 http/1.1`, nothing of the app inside: it
inherits the main server's routes, which `-t -D DUMP_ROUTES` must show) and the main server's
cleartext port with `Protocols h2c http/1.1`.

Then walks through the demo four ways -- TLS with HTTP/1.1 and with h2 (ALPN), h2c with prior
knowledge, h2c by Upgrade -- with curl: /health, the index page and its static files, a template
route, JSON echo, the digits plugin (the digit must be the argmax of sklearn's predict_proba of
held-out samples), an upload whose thumbnail is served back byte for byte, a background job
polled to done, the validated route's 422, /openapi.json and /docs; each answer must come in the
expected HTTP version. h2c by Upgrade: mod_http2 upgrades only requests without a body, and
closes an upgraded connection as soon as it has no input left to read, so the POSTs go on h2
stream 3 sent right behind the upgrade request (python3-h2; see H2cUpgrade). nghttp checks the h2
session (certificate, ALPN), several URLs multiplexed on one connection, h2c with prior knowledge
(-a: the page's assets) and nghttp -u. tests/deploy/demo_walk.py (python requests) runs over TLS
too. The error_log must have no error/crit/alert/emerg line, no crash and no warning
of mod_flaskpp or mod_http2 (other warnings are printed). Prints one ok/FAIL line per check;
exit 1 on any FAIL (the instance's root is then kept for inspection).
"""
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import struct
import sys
import time
import zlib
from it_helpers import PrivateApache, demo_conf, png, run  # noqa: E402

MODULE, SOURCE, BUILD = sys.argv[1], sys.argv[2], sys.argv[3]
STARTED = time.monotonic()
# Error log lines that fail the test wherever they come from ...
BAD_LINE = re.compile(r"\[[a-z_0-9]*:(error|crit|alert|emerg)\]|exit signal|Segmentation fault|segfault")
# ... and warnings that fail it when they are ours or mod_http2's (others are printed only).
WARN_LINE = re.compile(r"\[[a-z_0-9]*:warn\]")
OUR_WARN = re.compile(r"\[(flaskpp|http2):warn\]|FPP\d")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


# --- the instance ------------------------------------------------------------------------------
def tls_conf(inst):
    root, tls = inst.root, os.path.join(inst.root, "tls")
    return demo_conf(
        inst, MODULE, BUILD,
        ("mpm_event", "authz_core", "mime", "dir", "headers", "unique_id", "socache_shmcb", "ssl", "http2"),
        title="tls_http2_test.py: the demo (conf/httpd.conf.in's server, minus rotatelogs) + TLS + HTTP/2.",
        listen=["127.0.0.1:%d" % inst.plain, "127.0.0.1:%d https" % inst.tls], mpm="""
StartServers 2
ThreadsPerChild 25
MaxRequestWorkers 150
MinSpareThreads 25
MaxSpareThreads 75
""", extra=f"""
# --- What this test adds: HTTP/2 and TLS. Nothing of the app below: the TLS virtual host
# inherits the main server's routes, templates, settings, OpenAPI and Swagger UI pages.
# The main server's cleartext port: h2c (by Upgrade and with prior knowledge) and HTTP/1.1.
Protocols h2c http/1.1
SSLSessionCache "shmcb:{root}/run/ssl_scache(512000)"
<VirtualHost 127.0.0.1:{inst.tls}>
    SSLEngine on
    SSLCertificateFile "{tls}/server.pem"
    SSLCertificateKeyFile "{tls}/server.key"
    Protocols h2 http/1.1
</VirtualHost>
""")


class Instance(PrivateApache):
    def __init__(self):
        # The session key: a random SECRET_KEY in Apache's environment (conf/flaskpp.conf).
        super().__init__("tls", tls_conf, dirs=("tls",), ports=("PLAIN", "TLS"),
                         env={"SECRET_KEY": secrets.token_hex(32)})
        # Uploads (conf/flaskpp.conf: FlaskppUploadDir) are written by the children (www-data).
        self.copy_demo(SOURCE)
        os.chmod(os.path.join(self.root, "tls"), 0o700)  # the keys: read by the parent (root) only
        self.ca = os.path.join(self.root, "tls", "ca.pem")

    @property
    def plain(self):
        return self.ports.get("PLAIN")

    @property
    def tls(self):
        return self.ports.get("TLS")

    def make_certificates(self):
        """A throwaway CA and a server certificate signed by it for IP:127.0.0.1 and DNS:localhost."""
        tls = os.path.join(self.root, "tls")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        with open(os.path.join(tls, "server.ext"), "w") as f:
            f.write("basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"
                    "extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n")
        steps = [
            ["openssl", "req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
                                                "/CN=mod_flaskpp throwaway test CA", "-addext",
                                                "basicConstraints=critical,CA:TRUE", "-addext",
                                                "keyUsage=critical,keyCertSign,cRLSign"],
            ["openssl", "req", "-new"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
            ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "server.ext", "-out", "server.pem"],
        ]
        for cmd in steps:
            res = run(cmd, cwd=tls, text=True)
            if res.returncode != 0:
                raise RuntimeError("%s: %s" % (" ".join(cmd), res.stderr))
        os.chmod(self.ca, 0o644)


# --- clients -----------------------------------------------------------------------------------
class Result:
    def __init__(self, status, version, headers, body, connects=-1):
        self.status, self.version, self.headers, self.body, self.connects = status, version, headers, body, connects
        # The last response's header block (after a 101 or a 100 there are several).
        self.last_headers = re.split(r"\r?\n\r?\n(?=HTTP/)", headers.strip())[-1] if headers else ""
        self.upgraded = None  # h2c by Upgrade: how the request got onto the upgraded connection
        self.stderr = ""

    def header(self, name):
        m = re.search(r"^%s:\s*(.*?)\s*$" % re.escape(name), self.last_headers, re.I | re.M)
        return m.group(1) if m else None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return {}


def curl(opts, url, tmp, verbose=False):
    """One curl transfer: status, %{http_version}, the header blocks (-D), the body."""
    body, hdr = os.path.join(tmp, "body"), os.path.join(tmp, "hdr")
    for f in (body, hdr):
        if os.path.exists(f):
            os.remove(f)
    res = run(["curl", "-sS", "--max-time", "20"] + (["-v"] if verbose else []) + opts +
              ["-o", body, "-D", hdr, "-w", "%{http_code} %{http_version} %{num_connects}", url])
    parts = res.stdout.decode().split()
    status, version, connects = (int(parts[0]), parts[1], int(parts[2])) if len(parts) == 3 else (0, "", -1)
    r = Result(status, version, open(hdr, encoding="latin-1").read() if os.path.exists(hdr) else "",
               open(body, "rb").read() if os.path.exists(body) else b"", connects)
    r.stderr = res.stderr.decode("utf-8", "replace")
    return r


def multipart(field, filename, ctype, data):
    boundary = "flaskpp-tls-" + secrets.token_hex(8)
    body = (("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\nContent-Type: %s\r\n\r\n"
             % (boundary, field, filename, ctype)).encode() + data + ("\r\n--%s--\r\n" % boundary).encode())
    return body, "multipart/form-data; boundary=" + boundary


class H2cUpgrade:
    """A request with a body on an h2c-upgraded connection (python3-h2), deterministically.

    mod_http2 upgrades only requests without a body (curl --http2 sends a POST over HTTP/1.1), and
    an upgraded connection lasts only while it has input to read: as soon as it has none, mod_http2
    hands it back to the event MPM, which closes it (the upgraded HTTP/1.1 request never set the
    connection's keep-alive). A client that sends its POST after the 101 (nghttp -u -d: OPTIONS *
    first) races that close and mostly loses. So the client preface and the POST (stream 3) are
    sent right behind the upgrade request (GET /health, stream 1), in the same write: they are in
    the connection's input when the h2 session starts, and both streams must be answered.
    """

    def __init__(self, port, method, path, body=b"", ctype=None):
        import h2.config
        import h2.connection
        self.port = port
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        settings = self.conn.initiate_upgrade_connection().decode()
        upgrade = ("GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                   "Upgrade: h2c\r\nHTTP2-Settings: %s\r\nUser-Agent: tls_http2_test\r\n\r\n" % (port, settings))
        self.streams = {1: {"headers": [], "body": b"", "ended": False}}
        self.sid = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":path", path), (":scheme", "http"), (":authority", "127.0.0.1:%d" % port),
                   ("user-agent", "tls_http2_test")]
        if ctype:
            headers.append(("content-type", ctype))
        if body:
            headers.append(("content-length", str(len(body))))
        self.streams[self.sid] = {"headers": [], "body": b"", "ended": False}
        self.conn.send_headers(self.sid, headers, end_stream=not body)
        for i in range(0, len(body), 16384):
            self.conn.send_data(self.sid, body[i:i + 16384], end_stream=i + 16384 >= len(body))
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.sock.sendall(upgrade.encode() + self.conn.data_to_send())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("h2c Upgrade: connection closed before the answer: %r" % buf[:200])
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        self.status_line = head.split(b"\r\n")[0].decode("latin-1")
        if not self.status_line.startswith("HTTP/1.1 101 "):
            raise RuntimeError("h2c Upgrade refused: %s" % head.decode("latin-1"))
        self.feed(rest)

    def feed(self, data):
        import h2.events
        for ev in self.conn.receive_data(data) if data else []:
            s = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived) and s is not None:
                s["headers"] = ev.headers
            elif isinstance(ev, h2.events.DataReceived) and s is not None:
                s["body"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded) and s is not None:
                s["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                raise RuntimeError("h2c Upgrade: %r" % ev)
        out = self.conn.data_to_send()
        if out:
            try:
                self.sock.sendall(out)
            except OSError:
                pass  # the server may close once it has answered everything

    def result(self, sid):
        while not self.streams[sid]["ended"]:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("h2c Upgrade: connection closed while stream %d was open" % sid)
            self.feed(chunk)
        s = self.streams[sid]
        headers = dict(s["headers"])
        text = "HTTP/2 %s\r\n" % headers.get(":status") + "".join(
            "%s: %s\r\n" % kv for kv in s["headers"] if not kv[0].startswith(":"))
        r = Result(int(headers.get(":status", 0)), "2", text, s["body"])
        r.stream_id = sid
        return r

    def close(self):
        self.sock.close()


class Mode:
    """One way of speaking to the demo: scheme, port, curl options, the HTTP version expected."""

    def __init__(self, name, base, opts, version, upgrade=False):
        self.name, self.base, self.opts, self.version, self.upgrade = name, base, opts, version, upgrade


class Walk:
    """The demo walked through in one Mode, each answer checked for its HTTP version."""

    def __init__(self, mode, tmp, port=None):
        self.mode, self.tmp, self.port = mode, tmp, port

    def request(self, method, path, body=b"", ctype=None, curl_args=(), verbose=False):
        m = self.mode
        if m.upgrade and body:
            h2c = H2cUpgrade(self.port, method, path, body, ctype)
            try:
                r, one = h2c.result(h2c.sid), h2c.result(1)
            finally:
                h2c.close()
            r.upgraded = (h2c.status_line.startswith("HTTP/1.1 101 ") and one.status == 200
                          and one.json() == {"status": "ok"})
            r.how = "h2 stream %d behind the 101 of GET /health (stream 1: %d)" % (r.stream_id, one.status)
            return r
        args = list(curl_args)
        if body:
            path_file = os.path.join(self.tmp, "req-body")
            with open(path_file, "wb") as f:
                f.write(body)
            args += ["--data-binary", "@" + path_file, "-H", "Content-Type: " + ctype]
        r = curl(m.opts + ["-X", method] + args, m.base + path, self.tmp, verbose)
        if m.upgrade:
            r.upgraded = re.search(r"^HTTP/1\.1 101 ", r.headers, re.M) is not None
            r.how = "101, then HTTP/2 on the same connection"
        return r

    def check(self, ok, what, r):
        extra = "" if r.version == self.mode.version else " [HTTP/%s, expected %s]" % (r.version, self.mode.version)
        if self.mode.upgrade:
            extra += (" (%s)" % r.how) if r.upgraded else " [not on an upgraded connection: %s]" % r.how
        return check(ok and r.version == self.mode.version and r.upgraded is not False,
                     "[%s] %s%s" % (self.mode.name, what, extra))

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_json(self, path, obj):
        return self.request("POST", path, json.dumps(obj).encode(), "application/json")

    def run(self, samples):
        m = self.mode
        r = self.get("/health")
        self.check(r.status == 200 and r.json() == {"status": "ok"} and
                   (r.header("Content-Type") or "").startswith("application/json"),
                   "GET /health: %s, HTTP/%s" % (r.status, r.version), r)

        r = self.get("/")
        ok = r.status == 200 and "text/html" in (r.header("Content-Type") or "") and 'id="digit-canvas"' in r.text
        self.check(ok, "GET / renders the index page", r)
        assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', r.text)[:2]
        statuses = [self.get(a).status for a in assets]
        self.check(len(assets) == 2 and statuses == [200, 200],
                   "the index page's static files answer %s (%s)" % (statuses, ", ".join(assets)), r)

        name = "h2-" + re.sub(r"[^a-z0-9]+", "-", m.name.lower())
        r = self.get("/hello/" + name)
        self.check(r.status == 200 and name in r.text, "GET /hello/%s renders its template" % name, r)

        body = {"transport": m.name, "n": 3}
        r = self.post_json("/api/echo", body)
        self.check(r.status == 200 and r.json().get("json") == body, "POST /api/echo echoes JSON", r)

        for s in samples:
            expected = max(range(10), key=lambda i: s["proba"][i])
            r = self.post_json("/api/predict-now", {"pixels": s["pixels"]})
            self.check(r.status == 200 and r.json().get("digit") == expected,
                       "plugin route POST /api/predict-now: digit %s (sklearn's predict_proba: %d)"
                       % (r.json().get("digit"), expected), r)

        image = png(20 + len(m.name), 12, secrets.randbelow(251))
        fname = "tls_%s.png" % re.sub(r"[^a-z0-9]+", "_", m.name.lower())
        if m.upgrade:
            data, ctype = multipart("image_upload", fname, "image/png", image)
            r = self.request("POST", "/upload", data, ctype)
        else:  # curl's own multipart encoding
            path = os.path.join(self.tmp, fname)
            with open(path, "wb") as f:
                f.write(image)
            r = self.request("POST", "/upload", curl_args=["-F", "image_upload=@%s;type=image/png" % path])
        thumbs = re.findall(r'<img class="img-thumbnail" src="([^"]+)"', r.text)
        self.check(r.status == 200 and len(thumbs) == 1,
                   "POST /upload (multipart, %d-byte PNG) renders one thumbnail %s" % (len(image), thumbs), r)
        if thumbs:
            t = self.get(thumbs[0])
            self.check(t.status == 200 and t.header("Content-Type") == "image/png" and t.body == image,
                       "the thumbnail is served back byte for byte (%d bytes, %s)"
                       % (len(t.body), t.header("Content-Type")), t)

        s = samples[0]
        expected = max(range(10), key=lambda i: s["proba"][i])
        r = self.post_json("/api/predict", {"pixels": s["pixels"]})
        accepted = r.status == 202 and r.json().get("status") == "queued"
        self.check(accepted, "POST /api/predict (a background job) answers 202 queued", r)
        if accepted:
            status_url, job, polls, p = r.json()["status_url"], {}, 0, r
            end = time.monotonic() + 20
            while time.monotonic() < end:
                p = self.get(status_url)
                job, polls = p.json(), polls + 1
                if job.get("status") in ("done", "failed", "cancelled"):
                    break
                time.sleep(0.05)
            self.check(job.get("status") == "done" and job.get("result", {}).get("digit") == expected,
                       "the job is done with digit %d (%d polls of %s)" % (expected, polls, status_url), p)

        r = self.post_json("/api/users", {"name": 7})
        self.check(r.status == 422 and r.json().get("error", {}).get("code") == 422,
                   "POST /api/users with a bad body: 422", r)

        r = self.get("/openapi.json")
        paths = r.json().get("paths", {}) if r.status == 200 else {}
        self.check("/api/predict-now" in paths and "/upload" in paths,
                   "GET /openapi.json documents the routes (%d paths)" % len(paths), r)
        r = self.get("/docs")
        self.check(r.status == 200 and "swagger-ui" in r.text, "GET /docs is Swagger UI's page", r)


# --- nghttp ------------------------------------------------------------------------------------
def nghttp(args, ca):
    # nghttp has no --cacert; OpenSSL's default verify paths honour SSL_CERT_FILE. It checks DNS
    # names only (not IP SANs), hence https://localhost (the certificate's DNS:localhost).
    return run(["nghttp", "-t", "15"] + args, text=True, env=dict(os.environ, SSL_CERT_FILE=ca))


def nghttp_checks(inst):
    tls, plain = "https://localhost:%d" % inst.tls, "http://127.0.0.1:%d" % inst.plain
    # nghttp verifies DNS names only, hence https://localhost: the machine must resolve it
    # (/etc/hosts; every Debian install has the line, a bare debootstrap chroot has no /etc/hosts).
    try:
        socket.getaddrinfo("localhost", inst.tls)
    except OSError as e:
        check(False, "localhost resolves (needed by nghttp's certificate check): %s" % e)
    res = nghttp(["-nv", tls + "/health"], inst.ca)
    out = res.stdout + res.stderr
    check(res.returncode == 0 and "The negotiated protocol: h2" in out and "Certificate verification failed" not in out
          and re.search(r"recv \(stream_id=\d+\) :status: 200$", out, re.M) is not None,
          "nghttp -nv %s/health: certificate verified, ALPN negotiated h2, :status 200" % tls)

    # Several URLs at once: nghttp opens one connection and sends every request at once, each on
    # its own stream (13, 15, ... after its priority streams).
    paths = ["/health", "/hello/multiplexed", "/api/echo?x=1", "/openapi.json", "/", "/static/css/app.css", "/docs",
             "/static/js/digits.js"]
    res = nghttp(["-nv"] + [tls + p for p in paths], inst.ca)
    out = res.stdout + res.stderr
    statuses = dict(re.findall(r"recv \(stream_id=(\d+)\) :status: (\d+)$", out, re.M))
    sent = re.findall(r"send HEADERS frame <[^>]*stream_id=(\d+)>", out)
    check(res.returncode == 0 and out.count("The negotiated protocol: h2") == 1 and len(statuses) == len(paths)
          and set(statuses.values()) == {"200"} and len(sent) == len(paths),
          "nghttp: %d URLs multiplexed on one h2 connection, every stream 200 (%s)" %
          (len(paths), " ".join("%s:%s" % kv for kv in sorted(statuses.items(), key=lambda kv: int(kv[0])))))

    # h2c with prior knowledge, -a: the index page and the assets it links, on one connection.
    res = nghttp(["-nas", plain + "/"], inst.ca)
    rows = re.findall(r"^\s*\d+\s+\+\S+\s+\+\S+\s+\S+\s+(\d+)\s+\S+\s+(\S+)$", res.stdout, re.M)
    check(res.returncode == 0 and len(rows) >= 3 and all(c == "200" for c, _ in rows),
          "nghttp -nas %s/ (h2c prior knowledge, with the page's assets): %s" %
          (plain, ", ".join("%s %s" % (p, c) for c, p in rows)))

    # h2c by Upgrade: nghttp -u.
    res = nghttp(["-nuv", plain + "/hello/upgraded"], inst.ca)
    out = res.stdout
    check(res.returncode == 0 and re.search(r"^HTTP/1\.1 101 Switching Protocols", out, re.M) is not None and
          "HTTP Upgrade success" in out and re.search(r"recv \(stream_id=1\) :status: 200$", out, re.M) is not None,
          "nghttp -nuv %s/hello/upgraded: 101 Switching Protocols, then h2c stream 1 :status 200" % plain)


def main():
    tools_ok = check("HTTP2" in run(["curl", "-V"], text=True).stdout.split("Features:")[-1], "curl -V lists HTTP2")
    tools_ok &= check(shutil.which("nghttp") is not None, "nghttp is installed (Debian's nghttp2-client)")
    tools_ok &= check(shutil.which("openssl") is not None, "openssl is installed")
    tools_ok &= check(importlib.util.find_spec("h2") is not None, "python3-h2 is installed (Debian's python3-h2)")
    if not tools_ok:
        return 1
    samples = json.load(open(os.path.join(SOURCE, "models", "digits", "heldout.json")))["samples"][:3]
    inst = Instance()
    try:
        inst.make_certificates()
        # The TLS virtual host declares nothing of the app: it inherits the main server's routes.
        inst.choose_ports()
        inst.write_conf()
        res = inst.httpd("-t", "-D", "DUMP_ROUTES")
        tables = {}
        for block in re.split(r"\n(?=\S)", res.stdout):
            head, _, rows = block.partition("\n")
            tables[head] = [re.sub(r"\s+#.*$", "", row) for row in rows.splitlines() if row.strip()]
        main_routes = next((rows for head, rows in tables.items() if "(main server)" in head), [])
        vhost_routes = next((rows for head, rows in tables.items() if ":%d (virtual host" % inst.tls in head), None)
        check(res.returncode == 0 and len(main_routes) >= 10 and vhost_routes == main_routes,
              "apache2 -t -D DUMP_ROUTES: the TLS virtual host inherits the main server's %d routes" % len(main_routes))
        inst.start()
        check(True, "private Apache on http://127.0.0.1:%d (h2c) and https://127.0.0.1:%d (h2), started after %.1f s"
              % (inst.plain, inst.tls, time.monotonic() - STARTED))
        tmp = os.path.join(inst.root, "client")
        os.mkdir(tmp)
        tls, plain = "https://127.0.0.1:%d" % inst.tls, "http://127.0.0.1:%d" % inst.plain

        # The certificate: verified by curl against the throwaway CA, for the IP and for the name.
        r = curl(["--cacert", inst.ca, "--resolve", "localhost:%d:127.0.0.1" % inst.tls],
                 "https://localhost:%d/health" % inst.tls, tmp)
        check(r.status == 200, "https://localhost:%d/health: certificate verified for DNS:localhost" % inst.tls)
        r = curl([], tls + "/health", tmp)
        check(r.status == 0 and "certificate" in r.stderr,
              "without the test CA curl refuses the certificate: %s" % (r.stderr.strip().splitlines() or [""])[0])

        modes = [
            Mode("TLS HTTP/1.1", tls, ["--http1.1", "--cacert", inst.ca], "1.1"),
            Mode("TLS h2", tls, ["--http2", "--cacert", inst.ca], "2"),
            Mode("h2c prior knowledge", plain, ["--http2-prior-knowledge"], "2"),
            Mode("h2c Upgrade", plain, ["--http2"], "2", upgrade=True),
        ]
        # ALPN: what the server selected, from curl -v.
        for mode, alpn in ((modes[0], "http/1.1"), (modes[1], "h2")):
            r = Walk(mode, tmp).get("/health", verbose=True)
            check(r.status == 200 and re.search(r"ALPN: server accepted %s\b" % re.escape(alpn), r.stderr) is not None
                  and "SSL certificate verify ok" in r.stderr,
                  "[%s] ALPN: server accepted %s; SSL certificate verify ok" % (mode.name, alpn))
        for mode in modes:
            Walk(mode, tmp, inst.plain).run(samples)

        # What a real client's POST offering Upgrade gets: mod_http2 upgrades only requests without
        # a body, so curl --http2 has its POST answered over HTTP/1.1 (the answer must be right).
        sample = samples[1]
        r = curl(["--http2", "-H", "Content-Type: application/json", "--data-binary",
                  json.dumps({"pixels": sample["pixels"]})], plain + "/api/predict-now", tmp)
        expected = max(range(10), key=lambda i: sample["proba"][i])
        check(r.status == 200 and r.json().get("digit") == expected,
              "[h2c Upgrade] curl --http2 POST /api/predict-now: digit %s, over HTTP/%s%s (mod_http2 upgrades only "
              "requests without a body)" % (r.json().get("digit"), r.version,
                                            " after a 101" if re.search(r"^HTTP/1\.1 101", r.headers, re.M) else
                                            ", no 101"))

        nghttp_checks(inst)

        walk = os.path.join(SOURCE, "tests", "deploy", "demo_walk.py")
        res = run([sys.executable, walk, tls, SOURCE, "--ca", inst.ca], text=True, timeout=120)
        for line in res.stdout.splitlines():
            print("     demo_walk.py: " + line)
        check(res.returncode == 0, "tests/deploy/demo_walk.py over TLS (python requests, HTTP/1.1)" +
              ("" if res.returncode == 0 else ": " + res.stderr[-500:]))

        # Both protocols reached the module: the access log shows HTTP/2.0 and HTTP/1.1 requests.
        with open(os.path.join(inst.root, "logs", "access_log")) as f:
            access = f.read()
        check(' HTTP/2.0" 200 ' in access and ' HTTP/1.1" 200 ' in access,
              "access_log: %d HTTP/2.0 and %d HTTP/1.1 requests" %
              (access.count(' HTTP/2.0" '), access.count(' HTTP/1.1" ')))
    except Exception as e:  # noqa: BLE001 -- any failure is a FAIL line, and the instance still stops
        check(False, "%s: %s" % (type(e).__name__, e))
    finally:
        pid = inst.stop()
        check(pid is None or not os.path.exists("/proc/%d" % pid), "apache2 -k stop: the parent (pid %s) is gone" % pid)
        text = inst.log_text() if os.path.exists(inst.log) else ""
        lines = text.splitlines()
        bad = [line for line in lines if BAD_LINE.search(line)]
        warns = [line for line in lines if WARN_LINE.search(line)]
        ours = [line for line in warns if OUR_WARN.search(line)]
        for line in warns:
            print("     warn: " + line)
        check(not bad and not ours, "error_log: no error/crit/alert/emerg line, no crash, no flaskpp/http2 warning "
              "(%d lines, %d warnings)%s" % (len(lines), len(warns), "".join("\n       " + l for l in bad + ours)))
        if failures:
            print("instance kept for inspection: %s" % inst.root)
        else:
            inst.remove()
    print("%s in %.1f s" % ("%d checks failed" % len(failures) if failures else "all checks passed",
                            time.monotonic() - STARTED))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
