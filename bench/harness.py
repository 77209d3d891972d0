#!/usr/bin/python3
"""mod_flaskpp benchmark harness: one private server per target, identical bytes checked first,
then wrk --latency at 50 and 200 connections after a warm-up. Prints a markdown table and writes
bench/results/<date>_<commit>.{md,json}. Ratios are against baselines measured in the same run.

Usage: bench/harness.py BUILD_DIR [--duration S] [--warmup S] [--only NAME,...] [--callgrind N]
(bench/run.sh installs what it needs and calls this.)
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MODULES = subprocess.run(["apxs", "-q", "LIBEXECDIR"], capture_output=True, text=True).stdout.strip()
PY = "/usr/bin/python3"  # Debian's interpreter: the one with Flask 2.2 and the one mod_wsgi embeds

# Same event-MPM settings for every Apache target: 4 processes x 50 threads, no process churn,
# unlimited keep-alive requests, no access log, EnableMMAP Off (mmap per small file is ~3x slower here).
APACHE_COMMON = """
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
DefaultRuntimeDir "{root}"
Mutex file:{root} default
User www-data
Group www-data
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule mime_module {modules}/mod_mime.so
ServerLimit 4
StartServers 4
ThreadsPerChild 50
MaxRequestWorkers 200
MinSpareThreads 50
MaxSpareThreads 200
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
EnableMMAP Off
TypesConfig /etc/mime.types
ErrorLog "{root}/error_log"
LogLevel warn
DocumentRoot "{root}/htdocs"
<Directory "{root}/htdocs">
    Require all granted
</Directory>
"""

FLASKPP = """
LoadModule flaskpp_module "{build}/mod_flaskpp.so"
FlaskppTemplateDir "{root}/templates"
FlaskppConfig TITLE "Bench page"
FlaskppConfig GREETING "Welcome back"
FlaskppConfig ITEMS '["item 0","item 1","item 2","item 3","item 4","item 5","item 6","item 7","item 8","item 9"]'
FlaskppUploadDir "{root}/uploads" /uploads
FlaskppUploadMaxSize 4M
{extra}
FlaskppRoute GET /health handler health
FlaskppRoute GET /page/<name> template page.mustache
FlaskppRoute GET /page-uncached/<name> template page_uncached.mustache
FlaskppRoute GET,POST /api/echo handler echo
FlaskppRoute POST /upload upload file replace=on
"""

JSON_BYTES = b'{"status":"ok"}\n'
ECHO_BODY = '{"username":"xyz","password":"xyz","values":[1,2,3]}'

# The predict group (issue 8): examples/digits behind `FlaskppRoute POST /api/predict-now handler
# predict` against Flask + sklearn with the same weights (app/flask_digits.py). The body is a real
# held-out "3" of sklearn's digits (models/digits/heldout.json; the model answers 3 with p = 0.97).
WEIGHTS = os.path.join(REPO, "models", "digits", "weights.json")
HELDOUT = os.path.join(REPO, "models", "digits", "heldout.json")
DIGITS_SO = "{build}/examples/digits/digits.so"  # scripts/build-examples.sh builds it
PREDICT_PIXELS = [0, 0, 15, 16, 11, 3, 0, 0, 0, 0, 4, 10, 15, 15, 3, 0, 0, 0, 0, 0, 14, 16, 5, 0, 0, 0, 0, 5, 16, 12,
                  0, 0, 0, 0, 0, 3, 16, 11, 1, 0, 0, 0, 0, 2, 13, 16, 9, 0, 0, 0, 6, 15, 16, 12, 3, 0, 0, 0, 15, 14,
                  7, 1, 0, 0]
PREDICT_BODY = json.dumps({"pixels": PREDICT_PIXELS}, separators=(",", ":"))
PREDICT_CONF = ('FlaskppPlugin digits "%s" model={root}/app/digits_weights.json\n'
                "FlaskppRoute POST /api/predict-now handler predict" % DIGITS_SO)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return True
        except Exception:
            time.sleep(0.1)
    return False


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    """(utime, stime) of one process in clock ticks ((0, 0) if it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]), int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0, 0


def process_tree(root_pid):
    pids = [root_pid]
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children = {}
    for line in out.split("\n"):
        parts = line.split()
        if len(parts) == 2:
            children.setdefault(int(parts[1]), []).append(int(parts[0]))
    i = 0
    while i < len(pids):
        pids.extend(children.get(pids[i], []))
        i += 1
    return pids


class Server:
    """A private Apache or gunicorn with its own directory."""

    def __init__(self, name, kind, conf_extra="", build=None, app_module="flask_app"):
        self.name, self.kind, self.app_module = name, kind, app_module
        self.root = tempfile.mkdtemp(prefix="flaskpp-bench-", dir="/var/tmp")
        os.chmod(self.root, 0o755)
        self.port = free_port()
        self.proc = None
        os.makedirs(os.path.join(self.root, "htdocs"))
        os.makedirs(os.path.join(self.root, "uploads"))
        # The apps are served from a copy that www-data can read (the checkout may be under /root).
        shutil.copytree(os.path.join(HERE, "app"), os.path.join(self.root, "app"))
        shutil.copytree(os.path.join(HERE, "app", "templates"), os.path.join(self.root, "templates"))
        if os.path.exists(WEIGHTS):  # for app/flask_digits.py and the digits plugin
            shutil.copy(WEIGHTS, os.path.join(self.root, "app", "digits_weights.json"))
        subprocess.run(["chmod", "-R", "a+rX", self.root], check=True)
        shutil.chown(os.path.join(self.root, "uploads"), "www-data", "www-data")
        with open(os.path.join(self.root, "htdocs", "health.json"), "wb") as f:
            f.write(JSON_BYTES)
        if kind == "apache":
            conf = APACHE_COMMON.format(root=self.root, port=self.port, modules=MODULES) + conf_extra.format(
                root=self.root, build=build, modules=MODULES, here=HERE, extra="")
            with open(os.path.join(self.root, "httpd.conf"), "w") as f:
                f.write(conf)

    def write_static(self, name, data):
        with open(os.path.join(self.root, "htdocs", name), "wb") as f:
            f.write(data)

    def start(self):
        if self.kind == "apache":
            subprocess.run(["/usr/sbin/apache2", "-f", os.path.join(self.root, "httpd.conf"), "-k", "start"], check=True)
        else:
            env = dict(os.environ, BENCH_UPLOAD_DIR=os.path.join(self.root, "uploads"))
            self.proc = subprocess.Popen(
                [PY, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "25", "--keep-alive", "30",
                 "-b", "127.0.0.1:%d" % self.port, "--chdir", os.path.join(self.root, "app"), "--log-level", "warning",
                 self.app_module + ":app"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.root, "error_log"), "w"))
        if not wait_http("http://127.0.0.1:%d/health" % self.port) and not wait_http(
                "http://127.0.0.1:%d/health.json" % self.port, 5):
            raise RuntimeError("%s did not start; see %s" % (self.name, self.root))

    def main_pid(self):
        if self.kind == "apache":
            with open(os.path.join(self.root, "httpd.pid")) as f:
                return int(f.read().strip())
        return self.proc.pid

    def cpu_seconds(self):
        """(user, system) CPU seconds used so far by the server's processes (Apache and its children, mod_wsgi daemons,
        gunicorn workers); none of them exit during a run (no process churn)."""
        ticks = [cpu_ticks(p) for p in process_tree(self.main_pid())]
        hz = float(os.sysconf("SC_CLK_TCK"))
        return sum(t[0] for t in ticks) / hz, sum(t[1] for t in ticks) / hz

    def pss_mib(self):
        return sum(pss_kib(p) for p in process_tree(self.main_pid())) / 1024.0

    def stop(self):
        try:
            if self.kind == "apache":
                subprocess.run(["/usr/sbin/apache2", "-f", os.path.join(self.root, "httpd.conf"), "-k", "stop"],
                               stderr=subprocess.DEVNULL)
                for _ in range(100):
                    if not os.path.exists(os.path.join(self.root, "httpd.pid")):
                        break
                    time.sleep(0.1)
            elif self.proc:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=20)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def fetch(url, method="GET", body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as res:
        return res.status, res.read()


def multipart_1mib():
    boundary = "benchB0undary"
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(1024 * 1024 - 8)
    body = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n"
            "Content-Type: image/png\r\n\r\n" % boundary).encode() + data + ("\r\n--%s--\r\n" % boundary).encode()
    return boundary, body


def wrk_script(root, method, body, content_type):
    path = os.path.join(root, "wrk.lua")
    with open(path, "w") as f:
        f.write("wrk.method = %s\n" % json.dumps(method))
        if body is not None:
            f.write("local f = io.open(%s, 'rb')\nwrk.body = f:read('*a')\nf:close()\n" % json.dumps(body))
            f.write("wrk.headers['Content-Type'] = %s\n" % json.dumps(content_type))
    return path


def parse_wrk(out):
    res = {"rps": 0.0, "requests": 0, "p50_ms": None, "p99_ms": None, "non2xx": 0, "socket_errors": {}}
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))

    def ms(v, unit):
        return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, out, re.M)
        if m:
            res[key] = ms(m.group(1), m.group(2))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    return res


def run_wrk(server, url, conns, duration, warmup, script=None):
    base = ["wrk", "-t2", "-c%d" % conns, "--latency", "--timeout", "10s"]
    if script:
        base += ["-s", script]
    subprocess.run(base[:3] + (["-s", script] if script else []) + ["-d%ds" % warmup, url],
                   capture_output=True, text=True)
    peak = [0.0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], server.pss_mib())
            stop.wait(0.5)

    t = threading.Thread(target=sample)
    t.start()
    cpu0 = server.cpu_seconds()
    out = subprocess.run(base + ["-d%ds" % duration, url], capture_output=True, text=True).stdout
    cpu1 = server.cpu_seconds()
    stop.set()
    t.join()
    res = parse_wrk(out)
    res["peak_pss_mib"] = round(peak[0], 1)
    # Server CPU per request: what the server side spends, whatever share of the 2 vCPUs wrk and
    # other processes took meanwhile (throughput on a shared machine moves far more than this).
    if res["requests"]:
        user, system = ((b - a) * 1e6 / res["requests"] for a, b in zip(cpu0, cpu1))
        res["cpu_us_per_req"] = round(user + system, 1)
        res["cpu_user_us_per_req"], res["cpu_sys_us_per_req"] = round(user, 1), round(system, 1)
    return res


def targets(build):
    """(name, group, kind, conf, path, method, body-kind)"""
    c_conf = ("LoadModule bench_c_module \"{build}/bench/mod_bench_c.so\"\nBenchCBody \"{root}/htdocs/health.json\"\n"
              "<Location /c/json>\n    SetHandler bench_c\n</Location>\n")
    lua_conf = ("LoadModule lua_module {modules}/mod_lua.so\nLuaScope thread\n"
                "LuaMapHandler ^/lua/json$ \"{root}/app/bench.lua\" handle\n")
    wsgi_conf = ("LoadModule wsgi_module {modules}/mod_wsgi.so\n"
                 "WSGIDaemonProcess bench processes=2 threads=25 python-path={root}/app display-name=%{{GROUP}}\n"
                 "WSGIProcessGroup bench\nWSGIApplicationGroup %{{GLOBAL}}\n"
                 "WSGIScriptAlias / \"{root}/app/flask_app.py\"\n<Directory \"{root}/app\">\n    Require all granted\n</Directory>\n")
    routes100 = "\n".join("FlaskppRoute GET /bench/r%d/<int:id> handler echo" % i for i in range(100))
    ours = FLASKPP
    ours_quick = FLASKPP.replace("{extra}", "FlaskppQuickHandler On")
    ours_100 = FLASKPP.replace("{extra}", routes100 + "\nFlaskppRoute GET /bench/last handler health")
    ours_predict = FLASKPP.replace("{extra}", PREDICT_CONF)
    ours_predict_quick = FLASKPP.replace("{extra}", PREDICT_CONF + "\nFlaskppQuickHandler On")
    wsgi_digits = wsgi_conf.replace("flask_app.py", "flask_digits.py")
    return [
        ("static file", "json", "apache", "", "/health.json", "GET", None),
        ("C handler module", "json", "apache", c_conf, "/c/json", "GET", None),
        ("mod_lua (LuaScope thread)", "json", "apache", lua_conf, "/lua/json", "GET", None),
        ("Flask 2.2 + mod_wsgi daemon", "json", "apache", wsgi_conf, "/health", "GET", None),
        ("Flask 2.2 + gunicorn gthread", "json", "gunicorn", None, "/health", "GET", None),
        ("mod_flaskpp JSON route", "json", "apache", ours, "/health", "GET", None),
        ("mod_flaskpp JSON route, quick handler", "json", "apache", ours_quick, "/health", "GET", None),
        ("mod_flaskpp JSON route after 100 routes", "json", "apache", ours_100, "/bench/last", "GET", None),
        ("static file (rendered page)", "page", "apache", "", "/page.html", "GET", None),
        ("Flask 2.2 + mod_wsgi daemon (Jinja)", "page", "apache", wsgi_conf, "/page/World", "GET", None),
        ("Flask 2.2 + gunicorn (Jinja)", "page", "gunicorn", None, "/page/World", "GET", None),
        ("mod_flaskpp template route", "page", "apache", ours, "/page/World", "GET", None),
        ("mod_flaskpp template route, quick handler", "page", "apache", ours_quick, "/page/World", "GET", None),
        ("mod_flaskpp template route, not cacheable", "page", "apache", ours, "/page-uncached/World", "GET", None),
        ("Flask 2.2 + mod_wsgi daemon echo", "echo", "apache", wsgi_conf, "/api/echo", "POST", "json"),
        ("Flask 2.2 + gunicorn echo", "echo", "gunicorn", None, "/api/echo", "POST", "json"),
        ("mod_flaskpp echo (JSON body)", "echo", "apache", ours, "/api/echo", "POST", "json"),
        ("mod_flaskpp echo, quick handler", "echo", "apache", ours_quick, "/api/echo", "POST", "json"),
        ("Flask 2.2 + mod_wsgi daemon upload 1 MiB", "upload", "apache", wsgi_conf, "/upload", "POST", "upload"),
        ("mod_flaskpp upload 1 MiB", "upload", "apache", ours, "/upload", "POST", "upload"),
        # Group "predict": mod_flaskpp / the better Flask row is the figure of issue 8 (goal >= 10x).
        ("Flask 2.2 + mod_wsgi daemon predict-now (sklearn)", "predict", "apache", wsgi_digits, "/api/predict-now",
         "POST", "predict"),
        ("Flask 2.2 + gunicorn predict-now (sklearn)", "predict", "gunicorn", None, "/api/predict-now", "POST",
         "predict"),
        ("mod_flaskpp predict-now (digits plugin)", "predict", "apache", ours_predict, "/api/predict-now", "POST",
         "predict"),
        ("mod_flaskpp predict-now, quick handler", "predict", "apache", ours_predict_quick, "/api/predict-now",
         "POST", "predict"),
        # Job throughput and latency are not wrk rows: bench/jobs_bench.py submits and waits for them.
    ]


def predict_inputs():
    """(body, expected status) pairs every predict target must answer like mod_flaskpp: the bench body,
    held-out samples, edge values, and bad input (the plugin's 422s)."""
    good = [PREDICT_PIXELS, [0] * 64, [16] * 64, [round((i * 0.37) % 16, 3) for i in range(64)]]
    with open(HELDOUT) as f:
        good += [s["pixels"] for s in json.load(f)["samples"][:6]]
    bad = [{"pixels": PREDICT_PIXELS[:63]}, {"pixels": PREDICT_PIXELS[:63] + [17]},
           {"pixels": [-1] + PREDICT_PIXELS[1:]}, {"pixels": ["1"] + PREDICT_PIXELS[1:]},
           {"pixels": [True] + PREDICT_PIXELS[1:]}, {"image": PREDICT_PIXELS}, [PREDICT_PIXELS]]
    return [(json.dumps({"pixels": p}), 200) for p in good] + [(json.dumps(b), 422) for b in bad]


def post_json(url, body):
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def predict_answers(url):
    return [post_json(url, body) for body, _ in predict_inputs()]


def predict_reference(build):
    """mod_flaskpp's answers to predict_inputs(), checked against the statuses expected and, for the
    held-out samples, against sklearn's predict_proba stored in heldout.json (within 1e-9)."""
    ref = Server("predict reference", "apache", FLASKPP.replace("{extra}", PREDICT_CONF), build)
    try:
        ref.start()
        answers = predict_answers("http://127.0.0.1:%d/api/predict-now" % ref.port)
    finally:
        ref.stop()
    with open(HELDOUT) as f:
        stored = {json.dumps({"pixels": s["pixels"]}): s["proba"] for s in json.load(f)["samples"][:6]}
    for (body, want), (status, got) in zip(predict_inputs(), answers):
        if status != want:
            raise RuntimeError("mod_flaskpp predict-now answered %d (want %d) to %s: %r" % (status, want, body, got))
        if body in stored:
            p = json.loads(got)["probabilities"]
            if max(abs(a - b) for a, b in zip(p, stored[body])) > 1e-9:
                raise RuntimeError("mod_flaskpp predict-now differs from heldout.json's predict_proba: %r" % got)
    return answers


def predict_check(ref, answers):
    """('' when the answers agree with mod_flaskpp's (status; digit equal, probabilities within 1e-9), else
    why; the largest probability difference)."""
    worst = 0.0
    for (body, _), (rs, rb), (s, b) in zip(predict_inputs(), ref, answers):
        if rs != s:
            return "status %d, mod_flaskpp %d for %s: %r" % (s, rs, body, b[:200]), worst
        if s != 200:
            continue
        r, g = json.loads(rb), json.loads(b)
        if r["digit"] != g["digit"] or len(g["probabilities"]) != 10:
            return "answer %r, mod_flaskpp %r for %s" % (g, r, body), worst
        worst = max(worst, max(abs(x - y) for x, y in zip(r["probabilities"], g["probabilities"])))
    if worst > 1e-9:
        return "probabilities differ by %g (> 1e-9)" % worst, worst
    return "", worst


def build_c_module(build):
    out = os.path.join(build, "bench")
    os.makedirs(out, exist_ok=True)
    src = os.path.join(out, "mod_bench_c.c")
    shutil.copy(os.path.join(HERE, "mod_bench_c.c"), src)
    subprocess.run(["apxs", "-c", "-o", os.path.join(out, "mod_bench_c.so"), src], check=True,
                   capture_output=True, cwd=out)
    so = os.path.join(out, ".libs", "mod_bench_c.so")
    if os.path.exists(so):
        shutil.copy(so, os.path.join(out, "mod_bench_c.so"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--only", default="")
    ap.add_argument("--conns", default="50,200")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    build_c_module(build)
    conns = [int(c) for c in args.conns.split(",")]
    work = tempfile.mkdtemp(prefix="flaskpp-bench-work-")
    json_body = os.path.join(work, "echo.json")
    with open(json_body, "w") as f:
        f.write(ECHO_BODY)
    boundary, upload = multipart_1mib()
    upload_body = os.path.join(work, "upload.bin")
    with open(upload_body, "wb") as f:
        f.write(upload)
    predict_body = os.path.join(work, "predict.json")
    with open(predict_body, "w") as f:
        f.write(PREDICT_BODY)
    page_bytes = None
    predict_ref = None
    results = []
    failures = []
    skipped = []
    for name, group, kind, conf, path, method, body in targets(build):
        if args.only and not any(o.strip().lower() in name.lower() for o in args.only.split(",")):
            continue
        if group == "predict":
            if not os.path.exists(DIGITS_SO.format(build=build)):
                skipped.append("%s: no %s (scripts/build-examples.sh builds it)" % (name, DIGITS_SO.format(build=build)))
                continue
            if predict_ref is None:
                try:
                    predict_ref = predict_reference(build)
                except Exception as e:  # noqa: BLE001
                    failures.append("%s: %s" % (name, e))
                    print("FAILED %s: %s" % (name, e), flush=True)
                    continue
        srv = Server(name, kind, conf or "", build, "flask_digits" if group == "predict" else "flask_app")
        try:
            run_target(srv, name, group, kind, path, body, conns, args, json_body, upload_body, boundary, upload,
                       page_bytes, results, predict_body, predict_ref)
        except Exception as e:  # noqa: BLE001 - report and go on with the other targets
            failures.append("%s: %s" % (name, e))
            print("FAILED %s: %s" % (name, e), flush=True)
        finally:
            srv.stop()
        if group == "json" and page_bytes is None and name.startswith("static"):
            # Render the bench page once with mod_flaskpp: the bytes every page target must match.
            ref = Server("reference", "apache", FLASKPP, build)
            try:
                ref.start()
                _, page_bytes = fetch("http://127.0.0.1:%d/page/World" % ref.port)
            finally:
                ref.stop()
    report(results, conns)
    shutil.rmtree(work, ignore_errors=True)
    if skipped:
        print("\nskipped:\n  " + "\n  ".join(skipped))
    if failures:
        print("\n%d target(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))
        sys.exit(1)


def run_target(srv, name, group, kind, path, body, conns, args, json_body, upload_body, boundary, upload,
               page_bytes, results, predict_body=None, predict_ref=None):
    """Starts one target, checks its answer against the baseline's bytes, runs wrk; appends to results."""
    if group == "page" and kind == "apache" and page_bytes:
        srv.write_static("page.html", page_bytes)
    srv.start()
    url = "http://127.0.0.1:%d%s" % (srv.port, path)
    script = None
    if body == "json":
        script = wrk_script(srv.root, "POST", json_body, "application/json")
        status, got = fetch(url, "POST", ECHO_BODY.encode(), {"Content-Type": "application/json"})
        check = json.loads(got)["json"] == json.loads(ECHO_BODY)
    elif body == "predict":
        script = wrk_script(srv.root, "POST", predict_body, "application/json")
        status, got = post_json(url, PREDICT_BODY)
        why, worst = predict_check(predict_ref, predict_answers(url))
        if why:
            raise RuntimeError("%s does not answer as mod_flaskpp does: %s" % (name, why))
        print("%s: %d predict inputs answered as mod_flaskpp does (largest probability difference %.3g)"
              % (name, len(predict_ref), worst), flush=True)
        check = status == 200
    elif body == "upload":
        ctype = "multipart/form-data; boundary=%s" % boundary
        script = wrk_script(srv.root, "POST", upload_body, ctype)
        status, got = fetch(url, "POST", upload, {"Content-Type": ctype})
        check = status == 200
    else:
        status, got = fetch(url)
        if group == "json":
            check = got == JSON_BYTES
        else:
            if page_bytes is None:
                raise RuntimeError("the page group needs a mod_flaskpp or static page first")
            check = got == page_bytes
    if not check:
        raise RuntimeError("%s answered different bytes: %r" % (name, got[:200]))
    row = {"name": name, "group": group, "path": path, "pss_idle_mib": round(srv.pss_mib(), 1)}
    for c in conns:
        row["c%d" % c] = run_wrk(srv, url, c, args.duration, args.warmup, script)
    results.append(row)
    print("%-48s " % name + "  ".join("c%d %8.0f req/s" % (c, row["c%d" % c]["rps"]) for c in conns),
          flush=True)


def commit_id():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip() or "unknown"
    except OSError:  # no git: a copy of the tree rather than a checkout
        return "unknown"


def predict_ratios(results, conns):
    """Each mod_flaskpp predict-now row over the better Flask predict-now row, per connection count."""
    flask = [r for r in results if r["group"] == "predict" and r["name"].startswith("Flask")]
    out = []
    for r in results:
        if r["group"] != "predict" or not r["name"].startswith("mod_flaskpp") or not flask:
            continue
        row = {"name": r["name"]}
        for c in conns:
            best = max(flask, key=lambda f: f["c%d" % c]["rps"])
            rps = best["c%d" % c]["rps"]
            row["c%d" % c] = {"ratio": r["c%d" % c]["rps"] / rps if rps else 0.0,
                              "vs": best["name"].replace("Flask 2.2 + ", "").replace(" predict-now (sklearn)", "")}
            # The same on server CPU per request: the cheapest Flask row's CPU / ours.
            cpus = [f["c%d" % c].get("cpu_us_per_req") for f in flask if f["c%d" % c].get("cpu_us_per_req")]
            ours = r["c%d" % c].get("cpu_us_per_req")
            row["c%d" % c]["cpu_ratio"] = min(cpus) / ours if cpus and ours else None
        out.append(row)
    return out


def report(results, conns):
    static = {r["group"]: r for r in results if r["name"].startswith("static")}
    c_handler = next((r for r in results if r["name"] == "C handler module"), None)
    lines = []
    date = datetime.date.today().isoformat()
    commit = commit_id()
    lines.append("Measured %s, commit %s, %d vCPU (wrk and the server share them), %s." % (
        date, commit, os.cpu_count(), subprocess.run(["/usr/sbin/apache2", "-v"], capture_output=True,
                                                       text=True).stdout.split("\n")[0].replace("Server version: ", "")))
    lines.append("")
    head = "| target | " + " | ".join("req/s c%d | x static | x C | p50/p99 ms c%d" % (c, c) for c in conns) + \
           " | non-2xx | sock err | peak PSS MiB | server CPU us/req %s |" % "/".join("c%d" % c for c in conns)
    lines.append(head)
    lines.append("|" + "---|" * (1 + 4 * len(conns) + 4))
    for r in results:
        cells = []
        for c in conns:
            m = r["c%d" % c]
            st = static.get(r["group"])
            x_static = m["rps"] / st["c%d" % c]["rps"] if st and st["c%d" % c]["rps"] else None
            x_c = m["rps"] / c_handler["c%d" % c]["rps"] if c_handler and r["group"] == "json" and \
                c_handler["c%d" % c]["rps"] else None
            cells.append("%.0f | %s | %s | %s/%s" % (
                m["rps"], "%.2f" % x_static if x_static else "-", "%.2f" % x_c if x_c else "-",
                "%.2f" % m["p50_ms"] if m["p50_ms"] is not None else "-",
                "%.2f" % m["p99_ms"] if m["p99_ms"] is not None else "-"))
        non2xx = sum(r["c%d" % c]["non2xx"] for c in conns)
        sock = sum(sum(r["c%d" % c]["socket_errors"].values()) for c in conns)
        peak = max(r["c%d" % c]["peak_pss_mib"] for c in conns)
        cpu = "/".join("%.0f" % r["c%d" % c]["cpu_us_per_req"] if r["c%d" % c].get("cpu_us_per_req") else "-"
                       for c in conns)
        lines.append("| %s | %s | %d | %d | %.1f | %s |" % (r["name"], " | ".join(cells), non2xx, sock, peak, cpu))
    ratios = predict_ratios(results, conns)
    if ratios:
        lines.append("")
        for r in ratios:
            lines.append("%s / best Flask row: %s (issue 8 goal: >= 10x); server CPU per request, cheapest Flask "
                         "row / ours: %s." % (r["name"], ", ".join(
                             "c%d %.1fx (%s)" % (c, r["c%d" % c]["ratio"], r["c%d" % c]["vs"]) for c in conns),
                             ", ".join("c%d %s" % (c, "%.1fx" % r["c%d" % c]["cpu_ratio"] if r["c%d" % c]["cpu_ratio"]
                                                    else "-") for c in conns)))
    table = "\n".join(lines)
    print()
    print(table)
    out = os.path.join(HERE, "results")
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, "%s_%s_wrk" % (date, commit))
    with open(stem + ".md", "w") as f:
        f.write(table + "\n")
    with open(stem + ".json", "w") as f:
        json.dump({"date": date, "commit": commit, "cpus": os.cpu_count(), "results": results,
                   "predict_ratios": ratios}, f, indent=1)
    print("\nwritten: %s.md and .json" % stem)


if __name__ == "__main__":
    main()
