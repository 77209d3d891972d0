"""Restarts and crashes, nothing lost (issue 11 item 4): the demo app, unchanged, under load while
Apache is restarted, stopped and killed.

  restarts_test.py MODULE_SO SOURCE_DIR BUILD_DIR
      BUILD_DIR/examples/digits/digits.so: the demo's plugin; BUILD_DIR/test-plugins/testplug.so:
      the test plugin (its job t.sleep is the slow job killed mid-run).
  env FLASKPP_HTTPD: the apache2 binary (default /usr/sbin/apache2; a sanitizer run names a wrapper).

A private Apache of its own (ServerRoot under /var/tmp; conf/, htdocs/, templates/, models/ copied
unchanged; own port, PidFile, runtime dir, mutexes, logs; mpm_event, 3 children of 25 threads)
includes the demo as conf/httpd.conf.in does (FlaskppSecretKey env:SECRET_KEY: a random key in
Apache's environment for every apache2 invocation). After the demo it adds only: the test plugin
with one job route (POST /t/jobs/sleep, t.sleep: sleeps `ms` in 10 ms steps, reports "sleeping in
pid N" as progress, answers its pid, attempt, tag and the sizes of its files) and
FlaskppJobLease 3s (server-wide settings: the last one wins), so a killed child's job runs again
within the test.

Checks (one ok/FAIL line each, then the figures):
 1 `-k graceful` three times under load: GET clients on keep-alive requests Sessions (/health,
   template pages, static files, /openapi.json, a 404 page: byte-identical to the answers before
   the load), POST /api/echo, POST /api/predict-now (the digit of held-out samples: sklearn's
   argmax), uploads (the file is served back byte for byte), job posts (/api/predict and t.sleep,
   each polled to done with the right result). Zero failed requests. GETs may be retried once by
   urllib3 (Retry(read=1), GET only): a keep-alive connection an old child closes between two
   requests fails the next request before the server has read it, and HTTP (RFC 9110 9.2.2) lets
   a client retry an idempotent request then; retries are counted and printed. POSTs are never
   retried: each goes on a new connection (Connection: close), so no POST is ever sent on a
   connection the server may be closing, and any error on one is a failure.
 2 `-k graceful-stop` under load: requests sent before the signal complete (two slow multipart
   bodies of 3 MB sent at ~600 kB/s, one to /upload and one to /api/echo; a t.sleep job of 3 s
   running in a child, which must finish it within FlaskppJobGrace: done, attempt 1), the port
   closes while the slow bodies are still being sent, the parent exits; Apache starts again and the
   uploaded file is served.
 3 kill -9 of the child reading an upload (found by its connection: the server side socket of the
   client's port in /proc/net/tcp, its inode among the children's fds) after half the body, once its
   temporary file exists: no file appears in the upload directory, none stays in the upload work
   directory, Apache replaces the child, the next upload works (served back byte for byte).
 4 kill -9 of the child running a slow job (its pid from the job's progress message): the job
   runs again in another child once its lease (3 s) expires: done, attempts 2, another pid.
 5 kill -9 of the whole server (SIGKILL to Apache's process group: parent and children at once)
   while four clients post jobs (/api/predict, t.sleep with and without a file): every job that got
   a 202 is in the store (read as www-data after the crash), PRAGMA integrity_check says ok, and
   after a new start every one of them finishes done with its right result.
Prints posted/accepted/found/finished, requests, retries, failures and timings; exit 1 on any FAIL
(the instance's root is then kept for inspection). Apache is always stopped at the end (leftovers
after kill -9 are killed by the process group the pidfile names).
"""
import json
import os
import random
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry
from it_helpers import HTTPD, PrivateApache, demo_conf, pid_alive, port_open, wait_until, png  # noqa: E402

MODULE, SOURCE, BUILD = sys.argv[1], sys.argv[2], sys.argv[3]
STARTED = time.monotonic()
LEASE_S = 3
# Error log lines that fail the test (a crash that is not one of our kill -9s) ...
CRASH_LINE = re.compile(r"exit signal (?!Killed)|Segmentation fault|segfault|AddressSanitizer|runtime error:")
# ... and lines printed for information (our own kills show as "exit signal Killed").
NOTE_LINE = re.compile(r"\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]")
failures = []
figures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def figure(text):
    print("     " + text, flush=True)
    figures.append(text)


# --- helpers -----------------------------------------------------------------------------------
def multipart(field, filename, content, content_type="image/png"):
    boundary = "----restarts" + secrets.token_hex(12)
    body = (("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
             "Content-Type: %s\r\n\r\n" % (boundary, field, filename, content_type)).encode() + content +
            ("\r\n--%s--\r\n" % boundary).encode())
    return body, "multipart/form-data; boundary=" + boundary


with open(os.path.join(SOURCE, "models", "digits", "heldout.json")) as f:
    SAMPLES = [(s["pixels"], max(range(10), key=lambda i: s["proba"][i]), s["proba"])
               for s in json.load(f)["samples"]]


# --- the instance ------------------------------------------------------------------------------
def restarts_conf(inst):
    root = inst.root
    return demo_conf(
        inst, MODULE, BUILD, ("mpm_event", "authz_core", "mime", "dir", "headers", "unique_id"),
        title="restarts_test.py: the demo (conf/httpd.conf.in's server, minus rotatelogs), a slow test job.",
        mpm="""
# A few children of 25 threads (6 = 150 threads would do for the load), and scoreboard room for
# old generations still finishing requests beside the new one while three graceful restarts follow
# each other under load (else AH10159): 16 slots of 25.
StartServers 3
ThreadsPerChild 25
MinSpareThreads 25
MaxSpareThreads 250
ServerLimit 16
MaxRequestWorkers 400
""", access_log="""LogFormat "%%h %%l %%u %%t \\"%%r\\" %%>s %%b %%D %%P %%L" restarts
CustomLog "%s/logs/access_log" restarts
""" % root, extra=f"""
# --- What this test adds: a slow job to kill mid-run (tests/plugins/test_plugin.cpp), and a short
# lease so that a killed child's job runs again within the test (server-wide: the last one wins).
FlaskppPlugin testplug "{BUILD}/test-plugins/testplug.so"
FlaskppRoute POST /t/jobs/sleep job t.sleep
FlaskppJobLease {LEASE_S}s
""")


class Instance(PrivateApache):
    def __init__(self):
        super().__init__("restarts", restarts_conf, env={"SECRET_KEY": secrets.token_hex(32)}, start_timeout=30)
        self.copy_demo(SOURCE)
        self.img = os.path.join(self.root, "htdocs", "static", "img")
        self.work = os.path.join(self.root, "var", "upload-work")
        self.store = os.path.join(self.root, "var", "jobs", "jobs.sqlite")
        self.pgids = set()  # process groups of every parent started (for the final cleanup)

    def port_open(self):
        return port_open(self.port)

    def remember_group(self):
        pid = self.parent_pid()
        if pid:
            try:
                pgid = os.getpgid(pid)
                if pgid == pid and pgid != os.getpgrp():  # Apache's own session (setsid), never ours
                    self.pgids.add(pgid)
            except OSError:
                pass

    def start(self, first=False):
        pid = self.parent_pid()
        if pid and not pid_alive(pid):
            # A parent killed by kill -9 may stay a zombie here (no init reaps it in a container),
            # which `-k start` takes for a running server: its pidfile is stale, remove it.
            os.unlink(self.pidfile)
        # first: new port and configuration (5 tries); else the same again, once, the error_log kept.
        super().start(configured=not first)
        self.remember_group()
        return True

    def group_members(self, pgid):
        out = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open("/proc/%s/stat" % name) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                    if int(fields[2]) == pgid and fields[0] != "Z":
                        out.append(int(name))
                except (OSError, IndexError, ValueError):
                    pass
        return out

    def kill_group(self, pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return wait_until(lambda: not self.group_members(pgid), 10)

    def stop(self):
        pid = self.parent_pid()
        if pid and pid_alive(pid):
            self.httpd("-k", "stop")
            wait_until(lambda: not pid_alive(pid), 15)
        for pgid in list(self.pgids):  # leftovers (after kill -9 of a parent, or a stuck stop)
            if self.group_members(pgid):
                self.kill_group(pgid)

    def uploads(self):
        return set(os.listdir(self.img))

    def work_files(self):
        try:
            return set(n for n in os.listdir(self.work) if n.endswith(".part") or n.endswith(".tmp"))
        except OSError:
            return set()

    def open_unnamed_files(self, pid):
        """The unnamed (O_TMPFILE) upload files process PID holds open in the work directory:
        /proc/PID/fd/N reads "WORK/#INODE (deleted)"."""
        prefix = os.path.realpath(self.work) + "/#"
        found = []
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if target.startswith(prefix):
                    found.append(target)
        except OSError:
            pass
        return found


# --- clients -----------------------------------------------------------------------------------
class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.retries = []      # (what, error) of each GET urllib3 retried
        self.failures = []     # (time, what, detail)
        self.refused = 0       # check 2: connection refused after the port closed (never sent)
        self.kinds = {}

    def ok(self, kind):
        with self.lock:
            self.requests += 1
            self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def fail(self, kind, detail):
        with self.lock:
            self.requests += 1
            self.failures.append((time.monotonic(), kind, str(detail)[:300]))


def keepalive_session():
    """GETs on keep-alive connections; urllib3 retries a GET once when the connection failed
    before an answer (the server closed it between two requests); HEAD/GET only."""
    s = requests.Session()
    retry = Retry(total=1, connect=0, read=1, status=0, redirect=0, other=0,
                  allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False)
    s.mount("http://", HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=1))
    return s


def post(url, **kw):
    """A POST on a new connection (never retried): Connection: close, no session."""
    headers = dict(kw.pop("headers", {}) or {})
    headers["Connection"] = "close"
    return requests.post(url, headers=headers, timeout=kw.pop("timeout", 30), **kw)


def refused(exc):
    e = exc
    while e is not None:
        if isinstance(e, ConnectionRefusedError):
            return True
        if "Connection refused" in str(e) and "NewConnectionError" in type(e).__name__ + repr(e):
            return True
        e = e.__cause__ or e.__context__
    return "Connection refused" in str(exc)


class Load:
    """Client threads until stopped; every answer is checked, every job id kept for polling."""

    def __init__(self, inst, stats, get_pages, uploads=True, tag="c1"):
        self.inst, self.stats, self.pages = inst, stats, get_pages
        self.stop = threading.Event()
        self.signal_time = None  # check 2: refusals after this are not failures
        self.jobs = []           # (id, expected check)
        self.lock = threading.Lock()
        self.tag = tag
        self.threads = [threading.Thread(target=self.getter, args=(i,)) for i in range(3)]
        self.threads += [threading.Thread(target=self.poster), threading.Thread(target=self.jobber)]
        if uploads:
            self.threads.append(threading.Thread(target=self.uploader))

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def error(self, kind, exc):
        if self.signal_time is not None and refused(exc):
            with self.stats.lock:
                self.stats.refused += 1
            return
        self.stats.fail(kind, repr(exc))

    def getter(self, n):
        s = keepalive_session()
        rnd = random.Random(n)
        paths = list(self.pages)
        while not self.stop.is_set():
            path = rnd.choice(paths)
            try:
                r = s.get(self.inst.url(path), timeout=30)
                history = r.raw.retries.history if r.raw.retries else ()
                if history:
                    with self.stats.lock:
                        self.stats.retries.extend((path, repr(h.error)) for h in history)
                want = self.pages[path]
                if (r.status_code, r.content) == want:
                    self.stats.ok("GET")
                else:
                    self.stats.fail("GET " + path, "status %d, %d bytes (want %d, %d bytes)" % (
                        r.status_code, len(r.content), want[0], len(want[1])))
            except requests.RequestException as e:
                self.error("GET " + path, e)

    def poster(self):
        rnd = random.Random(7)
        while not self.stop.is_set():
            if rnd.random() < 0.5:
                token = secrets.token_hex(8)
                payload = {"token": token, "n": rnd.randint(0, 10 ** 9), "text": "caf\u00e9 \u2713"}
                try:
                    r = post(self.inst.url("/api/echo?via=" + token), json=payload)
                    body = r.json() if r.status_code == 200 else None
                    if body and body.get("json") == payload and body.get("args") == {"via": [token]}:
                        self.stats.ok("POST /api/echo")
                    else:
                        self.stats.fail("POST /api/echo", "%d %r" % (r.status_code, r.content[:200]))
                except (requests.RequestException, ValueError) as e:
                    self.error("POST /api/echo", e)
            else:
                pixels, digit, proba = rnd.choice(SAMPLES)
                try:
                    r = post(self.inst.url("/api/predict-now"), json={"pixels": pixels})
                    body = r.json() if r.status_code == 200 else None
                    if (body and body.get("digit") == digit and
                            all(abs(a - b) < 1e-6 for a, b in zip(body.get("probabilities", []), proba))):
                        self.stats.ok("POST /api/predict-now")
                    else:
                        self.stats.fail("POST /api/predict-now", "%d %r" % (r.status_code, r.content[:200]))
                except (requests.RequestException, ValueError) as e:
                    self.error("POST /api/predict-now", e)

    def jobber(self):
        rnd = random.Random(11)
        while not self.stop.is_set():
            if rnd.random() < 0.5:
                pixels, digit, _ = rnd.choice(SAMPLES)
                path, kw, want = "/api/predict", {"json": {"pixels": pixels}}, ("digit", digit)
            else:
                tag = "%s-%s" % (self.tag, secrets.token_hex(6))
                path, kw, want = "/t/jobs/sleep", {"json": {"ms": 200, "tag": tag}}, ("tag", tag)
            try:
                r = post(self.inst.url(path), **kw)
                body = r.json() if r.status_code == 202 else None
                if body and body.get("status") == "queued" and body.get("id"):
                    with self.lock:
                        self.jobs.append((body["id"], want))
                    self.stats.ok("POST " + path)
                else:
                    self.stats.fail("POST " + path, "%d %r" % (r.status_code, r.content[:200]))
            except (requests.RequestException, ValueError) as e:
                self.error("POST " + path, e)
            self.stop.wait(0.05)

    def uploader(self):
        s = keepalive_session()
        seed = 0
        while not self.stop.is_set():
            seed += 1
            data = png(64, 48, seed)
            try:
                r = post(self.inst.url("/upload"), files={"image_upload": ("%s-%d.png" % (self.tag, seed), data,
                                                                          "image/png")})
                m = re.search(r'src="(/static/img/%s-%d_\d+_[0-9A-Za-z]+\.png)"' % (self.tag, seed),
                              r.text) if r.status_code == 200 else None
                if not m:
                    self.stats.fail("POST /upload", "%d %r" % (r.status_code, r.content[:200]))
                    continue
                self.stats.ok("POST /upload")
            except requests.RequestException as e:
                self.error("POST /upload", e)
                continue
            try:  # served back (only this thread uploads, so replace=on has not removed it yet)
                g = s.get(self.inst.url(m.group(1)), timeout=30)
                if g.status_code == 200 and g.content == data:
                    self.stats.ok("GET upload")
                else:
                    self.stats.fail("GET upload", "%d, %d bytes" % (g.status_code, len(g.content)))
            except requests.RequestException as e:
                self.error("GET upload", e)


def job_status(inst, job_id, session=None):
    r = (session or requests).get(inst.url("/jobs/" + job_id), timeout=10)
    return r.json() if r.status_code == 200 else {"status": "http %d" % r.status_code}


def wait_jobs(inst, jobs, timeout):
    """Polls every job to a final state; returns {id: status document}."""
    s = keepalive_session()
    final, pending = {}, list(jobs)
    end = time.monotonic() + timeout
    while pending and time.monotonic() < end:
        still = []
        for job_id in pending:
            try:
                d = job_status(inst, job_id, s)
            except (requests.RequestException, ValueError):
                still.append(job_id)
                continue
            if d.get("status") in ("done", "failed", "cancelled"):
                final[job_id] = d
            else:
                still.append(job_id)
        pending = still
        if pending:
            time.sleep(0.2)
    for job_id in pending:
        try:
            final[job_id] = job_status(inst, job_id, s)
        except (requests.RequestException, ValueError) as e:
            final[job_id] = {"status": repr(e)}
    return final


def check_job_results(final, jobs):
    """jobs: [(id, (key, value))]; returns the ids not done with that result."""
    bad = []
    for job_id, (key, value) in jobs:
        d = final.get(job_id, {})
        if d.get("status") != "done" or (d.get("result") or {}).get(key) != value:
            bad.append((job_id, d.get("status"), d.get("error"), (d.get("result") or {}).get(key), value))
    return bad


class SlowPost(threading.Thread):
    """A POST whose body goes out in chunks with pauses, on its own socket (its local port is known,
    so the child serving it can be found). pause_at: stop sending there until resume is set."""

    def __init__(self, port, path, body, content_type, chunk=64 * 1024, delay=0.1, pause_at=None):
        super().__init__()
        self.port, self.path, self.body, self.ctype = port, path, body, content_type
        self.chunk, self.delay, self.pause_at = chunk, delay, pause_at
        self.sent = 0
        self.paused = threading.Event()
        self.resume = threading.Event()
        self.status, self.answer, self.error = None, b"", None
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.local_port = self.sock.getsockname()[1]

    def run(self):
        try:
            head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                    "Connection: close\r\n\r\n" % (self.path, self.port, self.ctype, len(self.body))).encode()
            self.sock.sendall(head)
            while self.sent < len(self.body):
                if self.pause_at is not None and self.sent >= self.pause_at and not self.resume.is_set():
                    self.paused.set()
                    self.resume.wait(30)
                n = min(self.chunk, len(self.body) - self.sent)
                self.sock.sendall(self.body[self.sent:self.sent + n])
                self.sent += n
                time.sleep(self.delay)
            data = b""
            while True:
                b = self.sock.recv(65536)
                if not b:
                    break
                data += b
            head, _, body = data.partition(b"\r\n\r\n")
            self.status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else None
            if b"transfer-encoding: chunked" in head.lower():
                body = dechunk(body)
            self.answer = body
        except OSError as e:
            self.error = e
        finally:
            self.paused.set()
            self.sock.close()


def dechunk(data):
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return out


def child_serving(inst, client_port):
    """The child whose fds hold the server side of the client's connection (by socket inode)."""
    want_local, want_remote = "%04X" % inst.port, "%04X" % client_port
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f.read().splitlines()[1:]:
                    fields = line.split()
                    if fields[1].endswith(":" + want_local) and fields[2].endswith(":" + want_remote):
                        inode = fields[9]
        except OSError:
            pass
    if not inode or inode == "0":
        return None
    target = "socket:[%s]" % inode
    for pid in inst.children():
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                        return pid
                except OSError:
                    pass
        except OSError:
            pass
    return None


def reference_pages(inst):
    pages = {}
    s = requests.Session()
    for path in ("/health", "/", "/hello/crash", "/hello/World?greeting=Hi", "/about/", "/static/css/app.css",
                 "/static/js/app.js", "/openapi.json", "/no/such/page", "/api/items/7?tag=x&tag=y"):
        r = s.get(inst.url(path), timeout=10)
        pages[path] = (r.status_code, r.content)
    return pages


# --- the checks --------------------------------------------------------------------------------
def check_1_graceful_under_load(inst, pages):
    t0 = time.monotonic()
    stats = Stats()
    load = Load(inst, stats, pages)
    load.start()
    time.sleep(1.0)
    gens = inst.generations()
    parent = inst.parent_pid()
    signalled = []
    for i in range(3):
        before = inst.children()
        res = inst.httpd("-k", "graceful")
        signalled.append(res.returncode == 0)
        ok = wait_until(lambda: inst.generations() > gens + i, 20) and \
            wait_until(lambda: inst.children() - before, 20)
        signalled[-1] = signalled[-1] and ok
        time.sleep(1.2)
    time.sleep(0.5)
    load.join()
    load_s = time.monotonic() - t0
    final = wait_jobs(inst, [j for j, _ in load.jobs], 60)
    bad_jobs = check_job_results(final, load.jobs)
    attempts = sorted(set(d.get("attempts") for d in final.values()))
    check(all(signalled) and inst.parent_pid() == parent, "1 -k graceful x3 under load: three new generations, "
                                                           "same parent")
    check(not stats.failures, "1 zero failed requests during -k graceful x3 (every answer checked: status and body)")
    check(stats.requests > 200 and all(stats.kinds.get(k, 0) > 0 for k in (
        "GET", "POST /api/echo", "POST /api/predict-now", "POST /upload", "GET upload", "POST /api/predict",
        "POST /t/jobs/sleep")), "1 the load covered every kind of request (%d requests)" % stats.requests)
    check(not bad_jobs and len(load.jobs) > 10, "1 every job posted under load finished done with its right result "
                                                "(%d jobs, attempts seen %s)" % (len(load.jobs), attempts))
    figure("check 1: %d requests in %.1f s (%s), %d GET retries on keep-alive connections closed between "
           "requests, %d failures, %d jobs" % (stats.requests, load_s, ", ".join(
               "%s %d" % kv for kv in sorted(stats.kinds.items())), len(stats.retries), len(stats.failures),
               len(load.jobs)))
    for what, err in stats.retries[:5]:
        figure("  retried GET %s after %s" % (what, err[:160]))
    for f in stats.failures[:10]:
        figure("  failed %s: %s" % (f[1], f[2]))
    for b in bad_jobs[:10]:
        figure("  job %s: %s" % (b[0], b[1:]))


def check_2_graceful_stop(inst, pages):
    t0 = time.monotonic()
    stats = Stats()
    big = png(1800, 1700, 2024, noisy=True)  # ~3 MB
    up_body, up_type = multipart("image_upload", "slowstop.png", big)
    echo_body, echo_type = multipart("doc", "slow.png", big)
    job = post(inst.url("/t/jobs/sleep"), json={"ms": 3000, "tag": "graceful-stop"}).json()["id"]
    running = wait_until(lambda: job_status(inst, job).get("status") == "running", 10)
    slow = [SlowPost(inst.port, "/upload", up_body, up_type), SlowPost(inst.port, "/api/echo", echo_body, echo_type)]
    for s in slow:
        s.start()
    load = Load(inst, stats, pages, uploads=False, tag="c2")
    load.start()
    time.sleep(1.0)
    parent = inst.parent_pid()
    # The clients send nothing new from here on: everything they sent is in flight or answered.
    load.signal_time = time.monotonic()
    load.stop.set()
    t_signal = time.monotonic()
    res = inst.httpd("-k", "graceful-stop")
    closed = wait_until(lambda: not inst.port_open(), 15)
    t_closed = time.monotonic() - t_signal
    uploads_in_flight = sum(s.is_alive() and s.sent < len(s.body) for s in slow)
    load.join()
    for s in slow:
        s.join(60)
    exited = wait_until(lambda: not pid_alive(parent), 30)
    t_exit = time.monotonic() - t_signal
    check(res.returncode == 0 and closed, "2 -k graceful-stop: the port closes (%.2f s after the signal)" % t_closed)
    check(uploads_in_flight == 2, "2 the slow bodies were still being sent when the port closed (%d of 2)"
          % uploads_in_flight)
    m = re.search(rb'src="(/static/img/slowstop_\d+_[0-9A-Za-z]+\.png)"', slow[0].answer)
    echoed = None
    try:
        echoed = json.loads(slow[1].answer)["files"]["doc"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        pass
    check(slow[0].status == 200 and m is not None, "2 the slow upload in flight completed: %s %s" % (
        slow[0].status, slow[0].error or ""))
    check(slow[1].status == 200 and echoed is not None and echoed.get("size") == len(big),
          "2 the slow multipart POST to /api/echo in flight completed with the whole file: %s %s %s" % (
              slow[1].status, slow[1].error or "", echoed))
    check(not stats.failures and stats.requests > 20,
          "2 zero failed requests among the %d sent before the signal" % stats.requests)
    check(exited, "2 the parent exits once the requests in flight are answered (%.1f s)" % t_exit)
    inst.start()
    d = wait_jobs(inst, [job], 30)[job]
    check(running and d.get("status") == "done" and d.get("attempts") == 1 and
          (d.get("result") or {}).get("tag") == "graceful-stop",
          "2 the job running at the signal finished in its exiting child (done, attempt %s)" % d.get("attempts"))
    final = wait_jobs(inst, [j for j, _ in load.jobs], 30)
    bad = check_job_results(final, load.jobs)
    check(not bad, "2 every job posted before the signal finished done (%d)" % len(load.jobs))
    served = requests.get(inst.url(m.group(1).decode()), timeout=10) if m else None
    check(served is not None and served.status_code == 200 and served.content == big,
          "2 after a new start the slowly uploaded file is served byte for byte")
    figure("check 2: %d requests, %d failures, %d GET retries, %d refused (retries after the port closed), "
           "port closed %.2f s and parent gone %.1f s after the signal, %.1f s in all" % (
               stats.requests, len(stats.failures), len(stats.retries), stats.refused, t_closed, t_exit,
               time.monotonic() - t0))
    for f in stats.failures[:10]:
        figure("  failed %s: %s" % (f[1], f[2]))


def check_3_kill_mid_upload(inst):
    t0 = time.monotonic()
    uploads_before, work_before = inst.uploads(), inst.work_files()
    big = png(1800, 1700, 77, noisy=True)
    body, ctype = multipart("image_upload", "killed.png", big)
    slow = SlowPost(inst.port, "/upload", body, ctype, pause_at=len(body) // 2)
    slow.start()
    slow.paused.wait(30)
    # The child has the first half: it holds its temporary file, unnamed (O_TMPFILE), in the work
    # directory (or a named .part file past a request's 32nd file).
    pid = child_serving(inst, slow.local_port)
    part_seen = pid is not None and wait_until(
        lambda: inst.open_unnamed_files(pid) or inst.work_files() - work_before, 5)
    children = inst.children()
    check(pid is not None and part_seen, "3 the child reading the upload found by its socket (pid %s), its "
                                         "temporary file open (%s)" % (
                                             pid, inst.open_unnamed_files(pid) if pid else None))
    if pid is None:
        slow.resume.set()
        slow.join(30)
        return
    os.kill(pid, signal.SIGKILL)
    t_kill = time.monotonic()
    slow.resume.set()
    slow.join(30)
    gone = wait_until(lambda: not pid_alive(pid), 10)
    replaced = wait_until(lambda: len(inst.children() - children) >= 1 and pid not in inst.children(), 20)
    t_replaced = time.monotonic() - t_kill
    check(slow.status is None, "3 the client's upload was cut (%s)" % (slow.error or "status %s" % slow.status))
    check(gone and replaced, "3 Apache replaced the killed child (%.1f s)" % t_replaced)
    new_uploads = inst.uploads() - uploads_before
    check(not new_uploads, "3 no file from the cut upload in the upload directory %s" % sorted(new_uploads))
    left = inst.work_files() - work_before
    check(not left, "3 no partial file left in the upload work directory %s" % sorted(left))
    data = png(80, 60, 3)
    r = post(inst.url("/upload"), files={"image_upload": ("after-kill.png", data, "image/png")})
    m = re.search(r'src="(/static/img/after-kill_\d+_[0-9A-Za-z]+\.png)"', r.text)
    served = requests.get(inst.url(m.group(1)), timeout=10) if m else None
    check(r.status_code == 200 and served is not None and served.content == data,
          "3 the next upload works and is served back byte for byte")
    figure("check 3: killed pid %s after %d of %d bytes; replaced in %.1f s; %.1f s in all" % (
        pid, slow.pause_at, len(body), t_replaced, time.monotonic() - t0))
    return left


def check_4_kill_mid_job(inst):
    t0 = time.monotonic()
    job = post(inst.url("/t/jobs/sleep"), json={"ms": 2500, "tag": "survivor"}).json()["id"]
    pid = None

    def running_pid():
        nonlocal pid
        d = job_status(inst, job)
        m = re.search(r"sleeping in pid (\d+)", (d.get("progress") or {}).get("message") or "")
        if d.get("status") == "running" and m:
            pid = int(m.group(1))
        return pid is not None
    wait_until(running_pid, 10)
    check(pid is not None and pid in inst.children(), "4 the slow job runs in child %s" % pid)
    if pid is None:
        return
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    t_kill = time.monotonic()
    again = None

    def rerun():
        nonlocal again
        d = job_status(inst, job)
        m = re.search(r"sleeping in pid (\d+)", (d.get("progress") or {}).get("message") or "")
        if d.get("status") in ("running", "done") and d.get("attempts") == 2 and (m or d.get("status") == "done"):
            again = time.monotonic() - t_kill
            return True
        return False
    wait_until(rerun, 30, 0.05)
    d = wait_jobs(inst, [job], 30)[job]
    result = d.get("result") or {}
    check(d.get("status") == "done" and d.get("attempts") == 2 and result.get("pid") not in (None, pid) and
          result.get("tag") == "survivor" and result.get("attempt") == 2,
          "4 the killed child's job completed elsewhere: %s, attempts %s, pid %s (killed %s)" % (
              d.get("status"), d.get("attempts"), result.get("pid"), pid))
    check(again is not None and again <= LEASE_S + 2,
          "4 it ran again within the lease (%s s after the kill; lease %d s + up to 1 s of poll backoff)" % (
              "%.2f" % again if again is not None else "never", LEASE_S))
    figure("check 4: job ran again %.2f s after kill -9 of pid %d, done %.1f s after; %.1f s in all" % (
        again or -1, pid, time.monotonic() - t_kill, time.monotonic() - t0))


def store_contents(inst):
    """Reads the store as Apache's User (as root, SQLite would create its -wal/-shm files as root)."""
    code = ("import json, sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], timeout=10)\n"
            "ic = [r[0] for r in c.execute('PRAGMA integrity_check')]\n"
            "rows = dict(c.execute('SELECT id, status FROM jobs'))\n"
            "print(json.dumps({'integrity': ic, 'jobs': rows}))\n")
    res = subprocess.run(["/usr/bin/python3", "-c", code, inst.store], capture_output=True, text=True,
                         user="www-data", group="www-data", extra_groups=[], timeout=60, cwd=inst.root)
    if res.returncode != 0:
        return {"integrity": [res.stderr.strip()[-300:]], "jobs": {}}
    return json.loads(res.stdout)


def check_5_kill_everything(inst):
    t0 = time.monotonic()
    stop = threading.Event()
    lock = threading.Lock()
    accepted, errors, counts = [], [], {"posted": 0, "other": 0}
    before = set(store_contents(inst)["jobs"])  # jobs of the earlier checks

    def client(n):
        rnd = random.Random(100 + n)
        i = 0
        while not stop.is_set():
            i += 1
            kind = rnd.random()
            tag = "k9-%d-%d" % (n, i)
            if kind < 0.4:
                pixels, digit, _ = rnd.choice(SAMPLES)
                path, kw, want = "/api/predict", {"json": {"pixels": pixels}}, ("digit", digit)
            elif kind < 0.7:
                path, kw, want = "/t/jobs/sleep", {"json": {"ms": 300, "tag": tag}}, ("tag", tag)
            else:  # with a file: its copy in the spool directory must survive too
                data = png(40, 30, n * 1000 + i)
                path = "/t/jobs/sleep?tag=" + tag
                kw = {"files": {"image": ("k9.png", data, "image/png")}, "data": {"ms": "300"}}
                want = ("files", [{"filename": "k9.png", "bytes": len(data)}])
            with lock:
                counts["posted"] += 1
            t_sent = time.monotonic()
            try:
                r = post(inst.url(path), timeout=10, **kw)
                body = r.json() if r.status_code == 202 else None
                if body and body.get("id"):
                    with lock:
                        accepted.append((body["id"], want))
                elif r.status_code == 503 and r.headers.get("Retry-After"):
                    # The queue is full (FlaskppJobQueueMax): refused before anything was stored,
                    # as documented -- back-pressure, not a lost job.
                    with lock:
                        counts["full"] = counts.get("full", 0) + 1
                    stop.wait(0.2)
                else:  # an answer, but not a 202: a failure whenever it came
                    with lock:
                        counts["other"] += 1
                        errors.append((t_sent, -1.0, path, "%d %r" % (r.status_code, r.content[:150])))
            except (requests.RequestException, ValueError) as e:
                with lock:
                    errors.append((t_sent, time.monotonic(), path, repr(e)[:200]))
                stop.wait(0.05)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    parent = inst.parent_pid()
    pgid = os.getpgid(parent)
    members = inst.group_members(pgid)
    os.killpg(pgid, signal.SIGKILL)
    t_kill = time.monotonic()
    gone = wait_until(lambda: not inst.group_members(pgid), 10)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(30)
    check(pgid == parent and gone and len(members) >= 4,
          "5 kill -9 of Apache's whole process group (%d processes) while 4 clients post jobs" % len(members))
    # A request may fail only if the kill cut it (sent before, unanswered at the kill) or came after.
    early = [e for e in errors if e[1] < t_kill]
    cut = [e for e in errors if e[0] <= t_kill <= e[1]]
    late = [e for e in errors if e[0] > t_kill]
    check(not early, "5 no failed job post before the kill (%d)" % len(early))
    for e in early[:5]:
        figure("  failed %s: %s" % (e[2], e[3]))
    store = store_contents(inst)
    check(store["integrity"] == ["ok"], "5 PRAGMA integrity_check after the crash: %s" % store["integrity"])
    ids = [j for j, _ in accepted]
    missing = [j for j in ids if j not in store["jobs"]]
    check(ids and not missing, "5 every job answered 202 is in the store (%d accepted, %d missing)" % (
        len(ids), len(missing)))
    # Jobs committed whose 202 the kill cut: in the store, unknown to their client; they run too.
    orphans = sorted(set(store["jobs"]) - before - set(ids))
    states = {}
    for j in ids:
        s = store["jobs"].get(j, "missing")
        states[s] = states.get(s, 0) + 1
    t_restart = time.monotonic()
    inst.start()
    inst.remember_group()
    final = wait_jobs(inst, ids + orphans, 60)
    bad = check_job_results(final, accepted)
    finished = sum(1 for j in ids if final.get(j, {}).get("status") == "done")
    check(not bad, "5 after a new start every accepted job finished done with its right result (%d of %d)" % (
        finished, len(ids)))
    orphans_done = sum(1 for j in orphans if final.get(j, {}).get("status") == "done")
    check(orphans_done == len(orphans), "5 the jobs committed whose 202 the kill cut finished done too (%d of %d)"
          % (orphans_done, len(orphans)))
    attempts = {}
    for d in (final[j] for j in ids if j in final):
        attempts[d.get("attempts")] = attempts.get(d.get("attempts"), 0) + 1
    figure("check 5: posted %d, accepted %d (202), found %d in the store, finished %d; %d posts cut by the kill "
           "(%d of them committed, no 202), %d refused after it, %d other answers, %d 503 queue full; states at the kill %s; attempts "
           "%s; all finished %.1f s after the restart, %.1f s in all" % (
               counts["posted"], len(ids), len(ids) - len(missing), finished, len(cut), len(orphans), len(late),
               counts["other"], counts.get("full", 0), states, dict(sorted(attempts.items(), key=lambda kv: str(kv[0]))),
               time.monotonic() - t_restart, time.monotonic() - t0))
    for b in bad[:10]:
        figure("  job %s: %s" % (b[0], b[1:]))
    return t_kill


def main():
    inst = Instance()
    print("restarts_test: %s, root %s, httpd %s" % (MODULE, inst.root, HTTPD), flush=True)
    try:
        inst.start(first=True)
        print("     Apache on 127.0.0.1:%d, parent %s, children %s" % (
            inst.port, inst.parent_pid(), sorted(inst.children())), flush=True)
        pages = reference_pages(inst)
        leftovers = []
        check(pages["/health"][0] == 200 and b"Hello, crash!" in pages["/hello/crash"][1] and
              pages["/no/such/page"][0] == 404, "0 the demo answers (reference pages taken)")
        for name, fn in (("1", lambda: check_1_graceful_under_load(inst, pages)),
                         ("2", lambda: check_2_graceful_stop(inst, pages)),
                         ("3", lambda: leftovers.extend(check_3_kill_mid_upload(inst) or ())),
                         ("4", lambda: check_4_kill_mid_job(inst)),
                         ("5", lambda: check_5_kill_everything(inst))):
            t = time.monotonic()
            try:
                fn()
            except Exception as e:  # a check that could not run is a failure; go on with the others
                import traceback
                traceback.print_exc()
                check(False, "%s raised %r" % (name, e))
                if not inst.answers():
                    inst.stop()
                    inst.start()
            print("     (check %s: %.1f s)" % (name, time.monotonic() - t), flush=True)
        if leftovers:  # what check 3 left: still there after check 5's new start?
            print("     check 3's partial file(s) after the later restarts: %s" % (
                sorted(set(leftovers) & inst.work_files()) or "removed"), flush=True)
        crashes = [line for line in inst.log_text().splitlines() if CRASH_LINE.search(line)]
        check(not crashes, "error_log: no crash other than our kill -9s")
        for line in crashes[:10]:
            print("     " + line)
        notes = [line for line in inst.log_text().splitlines() if NOTE_LINE.search(line)]
        print("     error_log: %d warn/error lines (printed for information, first 8):" % len(notes))
        for line in notes[:8]:
            print("       " + line[:220])
    finally:
        inst.stop()
        leftovers = [g for g in inst.pgids if inst.group_members(g)]
        check(not leftovers and not inst.port_open(), "Apache stopped, no process left")
    print("%s in %.1f s" % ("FAILED: %d check(s)" % len(failures) if failures else "all ok", time.monotonic() - STARTED))
    if failures:
        print("instance kept for inspection: " + inst.root)
        return 1
    inst.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
