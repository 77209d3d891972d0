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

    def __init__(self, name, kind, conf_extra="", build=None, wsgi=False):
        self.name, self.kind = name, kind
        self.root = tempfile.mkdtemp(prefix="flaskpp-bench-", dir="/var/tmp")
        os.chmod(self.root, 0o755)
        self.port = free_port()
        self.proc = None
        os.makedirs(os.path.join(self.root, "htdocs"))
        os.makedirs(os.path.join(self.root, "uploads"))
        # The apps are served from a copy that www-data can read (the checkout may be under /root).
        shutil.copytree(os.path.join(HERE, "app"), os.path.join(self.root, "app"))
        shutil.copytree(os.path.join(HERE, "app", "templates"), os.path.join(self.root, "templates"))
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
                 "flask_app:app"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.root, "error_log"), "w"))
        if not wait_http("http://127.0.0.1:%d/health" % self.port) and not wait_http(
                "http://127.0.0.1:%d/health.json" % self.port, 5):
            raise RuntimeError("%s did not start; see %s" % (self.name, self.root))

    def main_pid(self):
        if self.kind == "apache":
            with open(os.path.join(self.root, "httpd.pid")) as f:
                return int(f.read().strip())
        return self.proc.pid

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
    res = {"rps": 0.0, "p50_ms": None, "p99_ms": None, "non2xx": 0, "socket_errors": {}}
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
    out = subprocess.run(base + ["-d%ds" % duration, url], capture_output=True, text=True).stdout
    stop.set()
    t.join()
    res = parse_wrk(out)
    res["peak_pss_mib"] = round(peak[0], 1)
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
    ]


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
    page_bytes = None
    results = []
    failures = []
    for name, group, kind, conf, path, method, body in targets(build):
        if args.only and not any(o.strip().lower() in name.lower() for o in args.only.split(",")):
            continue
        srv = Server(name, kind, conf or "", build)
        try:
            run_target(srv, name, group, kind, path, body, conns, args, json_body, upload_body, boundary, upload,
                       page_bytes, results)
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
    if failures:
        print("\n%d target(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))
        sys.exit(1)


def run_target(srv, name, group, kind, path, body, conns, args, json_body, upload_body, boundary, upload,
               page_bytes, results):
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
           " | non-2xx | sock err | peak PSS MiB |"
    lines.append(head)
    lines.append("|" + "---|" * (1 + 4 * len(conns) + 3))
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
        lines.append("| %s | %s | %d | %d | %.1f |" % (r["name"], " | ".join(cells), non2xx, sock, peak))
    table = "\n".join(lines)
    print()
    print(table)
    out = os.path.join(HERE, "results")
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, "%s_%s_wrk" % (date, commit))
    with open(stem + ".md", "w") as f:
        f.write(table + "\n")
    with open(stem + ".json", "w") as f:
        json.dump({"date": date, "commit": commit, "cpus": os.cpu_count(), "results": results}, f, indent=1)
    print("\nwritten: %s.md and .json" % stem)


if __name__ == "__main__":
    main()
