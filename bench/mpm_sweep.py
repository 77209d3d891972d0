#!/usr/bin/python3
"""Event-MPM sizing for mod_flaskpp, chosen by measurement: one private Apache per MPM variant,
wrk --latency at 200 and 1000 keep-alive connections, requests/s, p50/p99/max and wrk's socket
errors per variant. Figures are reported, never asserted.

  bench/mpm_sweep.py [BUILD_DIR | mod_flaskpp.so]
  (as root: the children run as www-data)
  Default module: $FLASKPP_BUILD/mod_flaskpp.so, else the checkout's build/mod_flaskpp.so.
  Environment:
    MPM_DURATION  seconds per measured wrk run (default 5; a 2 s warm-up at the same connection
                  count runs before each)
    MPM_ROUNDS    rounds (default 2); variants run in order in odd rounds and reversed in even
                  ones, so drift on a shared machine hits every variant alike
    MPM_ONLY      comma-separated variant names (default: DEFAULT; "all": every one in VARIANTS)
    MPM_CONNS     connection counts (default "200,1000")
    MPM_LOGLEVEL  Apache's LogLevel (default warn); "warn mpm_event:trace1" shows why the event MPM
                  closed keep-alive connections (counted in the JSON, "trace"), but slows it down
    MPM_TIMEOUT   wrk --timeout (default 10s). wrk leaves a response slower than this out of the
                  latency histogram and counts it as a "timeout" socket error instead, so p99 and
                  max never show it: with wrk's own default of 2s, a p99 would hide every stall
                  longer than 2 s.
    MPM_RESULTS   directory for the results (default bench/results)
  Writes <date>_mpm.{md,json} there (a second run the same day replaces them). Exit status 0
  whatever the figures (a variant with socket errors is a result); 2 when an Apache does not start
  or wrk is missing. Time: about 16 s per variant and round with the defaults, so the default set
  (14 variants, 2 rounds) about 7.5 min, MPM_ROUNDS=3 11 min; a smoke run (CI),
  MPM_DURATION=1 MPM_ROUNDS=1 MPM_ONLY=stock,flaskpp MPM_RESULTS=/tmp/x, about 17 s (1 s runs
  are too short to show the stock settings' 1-3 s stalls at c=1000).

Each variant: own ServerRoot under /var/tmp (PidFile, DefaultRuntimeDir, Mutex, ErrorLog in it),
User/Group www-data, Listen on a free loopback port, no access log, the module with a cheap route
set: GET /health (handler health, JSON), GET /hello/<name> (a small mustache page, from the page
cache after the first request per name) and a static file /static/app.css served by Apache. wrk
(-t2, a Lua script that takes the three in turn, 4 names for /hello) runs against it. wrk and the
server share the machine's CPUs: on 2 vCPUs wrk takes a large share of them, so requests/s is
what Apache gets of what wrk leaves, and latency includes waiting for wrk's threads to run.

What the columns mean (wrk 4.1.0 as packaged by Debian 12, checked with a toy server):
  connect  connect(2) failed: ECONNREFUSED (nothing listening), or the client's own limits
           (EMFILE, EADDRNOTAVAIL). A full accept queue does not give one on Linux: the SYN is
           dropped and retried after 1 s, 3 s, ..., which shows as latency (max), and the
           kernel's ListenOverflows/ListenDrops counters (TcpExt in /proc/net/netstat; columns
           "ovf" here, machine-wide, so another program's overflows would show too).
  read     read(2) failed or returned EOF: the server closed a keep-alive connection WITHOUT
           "Connection: close" on its last answer (a close after "Connection: close", what
           MaxKeepAliveRequests does, is no error: wrk reconnects quietly), or reset it. The event
           MPM does this when a keep-alive connection becomes readable and its process has no
           idle worker ("All workers are busy or dying, will shutdown N keep-alive connections",
           mpm_event trace1), when KeepAliveTimeout runs out on an idle connection, and when a
           child exits (MaxSpareThreads reaping, MaxConnectionsPerChild).
  write    write(2) failed (EPIPE/ECONNRESET): the same closes, seen while sending.
  timeout  an answer took longer than --timeout (see MPM_TIMEOUT).
The error_log columns count the event MPM's own warnings (AH00484 MaxRequestWorkers reached,
AH00486 server seems busy, AH03490 scoreboard full) per run.
"""
import datetime
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import harness  # noqa: E402  (free_port, wait_http, parse_wrk, process_tree, pss_kib, commit_id)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from it_helpers import PrivateApache  # noqa: E402  (the private Apache)

HTTPD = "/usr/sbin/apache2"
MODULES = harness.MODULES or "/usr/lib/apache2/modules"
WARMUP_S = 2
NAMES = ["World", "Ada", "Grace", "Linus"]

CONF = """{head}TypesConfig /etc/mime.types
AddDefaultCharset utf-8
ErrorLog "{root}/logs/error_log"
LogLevel {loglevel}
{docroot}
FlaskppEnv production
FlaskppTemplateDir "{root}/templates"
FlaskppConfig APP_NAME "mod_flaskpp"
FlaskppConfig ITEMS '["routing","templates","static files by Apache"]'
FlaskppRoute GET /health handler health
FlaskppRoute GET /hello/<name> template hello.html

# The MPM variant under test:
{mpm}
"""

HELLO = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{config.APP_NAME}}</title>
<link rel="stylesheet" href="/static/app.css"></head>
<body><h1>Hello, {{name}}!</h1>
<ul>{{#config.ITEMS}}<li>{{.}}</li>{{/config.ITEMS}}</ul>
</body></html>
"""

CSS = "body{font-family:sans-serif;margin:2rem}h1{color:#234}" * 20 + "\n"  # about 1 KB

# wrk takes the three routes in turn; the requests are formatted once per thread (init), so the
# script adds no per-request work beyond picking one.
WRK_LUA = """local reqs = {}
local i = 0
function init(args)
  reqs[1] = wrk.format("GET", "/health")
  %s
  reqs[#reqs + 1] = wrk.format("GET", "/static/app.css")
end
function request()
  i = i %% #reqs + 1
  return reqs[i]
end
""" % "\n  ".join('reqs[#reqs + 1] = wrk.format("GET", "/hello/%s")' % n for n in NAMES)

# Apache's compiled-in defaults that matter here, written out where a variant relies on them:
# ServerLimit 16, ThreadLimit 64, AsyncRequestWorkerFactor 2, KeepAlive On, MaxKeepAliveRequests
# 100, KeepAliveTimeout 5, ListenBacklog 511, MaxConnectionsPerChild 0.
VARIANTS = [
    ("stock", "conf/httpd.conf.in today (Apache's defaults otherwise)", """
StartServers 2
ThreadsPerChild 25
MaxRequestWorkers 150
MinSpareThreads 25
MaxSpareThreads 75"""),
    ("debian", "Debian 12 mods-available/mpm_event.conf + apache2.conf's keep-alive lines", """
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
Timeout 300
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5"""),
    ("bench-4x50", "bench/harness.py's servers: 4 x 50 fixed, unlimited keep-alive", """
ServerLimit 4
StartServers 4
ThreadsPerChild 50
MaxRequestWorkers 200
MinSpareThreads 50
MaxSpareThreads 200
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0"""),
]


def fixed_pool(servers, threads, factor=2, mka=0, backlog=4096, extra=""):
    """A pool started whole and never reaped: StartServers = ServerLimit, MaxSpareThreads =
    MaxRequestWorkers."""
    workers = servers * threads
    return """
ServerLimit {s}
StartServers {s}
ThreadLimit {t}
ThreadsPerChild {t}
MaxRequestWorkers {w}
MinSpareThreads {t}
MaxSpareThreads {w}
AsyncRequestWorkerFactor {f}
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests {mka}
KeepAliveTimeout 5
ListenBacklog {b}{x}""".format(s=servers, t=threads, w=workers, f=factor, mka=mka, b=backlog, x=extra)


# Fixed pools: children x threads per child. The same 1024 workers in 1, 2, 4, 8 and 16 children;
# 512 in 2, 4 and 8; the chosen 8 x 192 with one setting changed at a time. Variants not in
# DEFAULT run only when MPM_ONLY names them (measured while choosing; see the README's table).
VARIANTS += [
    ("2x128", "fixed 2 x 128", fixed_pool(2, 128)),
    ("2x256", "fixed 2 x 256", fixed_pool(2, 256)),
    ("4x128", "fixed 4 x 128", fixed_pool(4, 128)),
    ("8x64", "fixed 8 x 64", fixed_pool(8, 64)),
    ("1x512", "fixed 1 x 512", fixed_pool(1, 512)),
    ("1x1024", "fixed 1 x 1024", fixed_pool(1, 1024)),
    ("2x512", "fixed 2 x 512", fixed_pool(2, 512)),
    ("4x256", "fixed 4 x 256", fixed_pool(4, 256)),
    ("8x128", "fixed 8 x 128", fixed_pool(8, 128)),
    ("16x64", "fixed 16 x 64 (Apache's ServerLimit and ThreadLimit defaults, all started)", fixed_pool(16, 64)),
    ("4x512", "fixed 4 x 512", fixed_pool(4, 512)),
    ("8x192", "fixed 8 x 192 (what conf/mpm-flaskpp.conf sets)", fixed_pool(8, 192)),
    ("8x256", "fixed 8 x 256", fixed_pool(8, 256)),
    ("16x96", "fixed 16 x 96", fixed_pool(16, 96)),
    ("16x128", "fixed 16 x 128", fixed_pool(16, 128)),
    ("32x32", "fixed 32 x 32", fixed_pool(32, 32)),
    ("8x192-mka100", "8 x 192 with MaxKeepAliveRequests 100 (Apache's default)", fixed_pool(8, 192, mka=100)),
    ("8x192-bl511", "8 x 192 with ListenBacklog 511 (Apache's default)", fixed_pool(8, 192, backlog=511)),
    ("8x192-f4", "8 x 192 with AsyncRequestWorkerFactor 4", fixed_pool(8, 192, factor=4)),
    ("8x192-reuseport", "8 x 192, SO_REUSEPORT listeners (ListenCoresBucketsRatio 1: one per vCPU)",
     fixed_pool(8, 192, extra="\nListenCoresBucketsRatio 1")),
    ("2x512-reuseport", "2 x 512, SO_REUSEPORT listeners (ListenCoresBucketsRatio 1: one per vCPU)",
     fixed_pool(2, 512, extra="\nListenCoresBucketsRatio 1")),
    ("flaskpp", "conf/mpm-flaskpp.conf as shipped", 'Include "%s"' % os.path.join(REPO, "conf", "mpm-flaskpp.conf")),
]
DEFAULT = ["stock", "debian", "bench-4x50", "2x256", "4x128", "8x64", "1x1024", "2x512", "4x256", "8x128", "16x64",
           "8x192-mka100", "8x192-bl511", "flaskpp"]

MPM_WARNINGS = {"AH00484": "MaxRequestWorkers", "AH00486": "busy", "AH03490": "scoreboard full"}
# Seen only with MPM_LOGLEVEL="warn mpm_event:trace1" (a diagnosis, not for the figures: the listener
# then logs per event): why the event MPM closed keep-alive connections or stopped accepting.
MPM_TRACES = {"will shutdown": "keep-alive connections closed, no idle worker",
              "not accepting new conns": "a child stopped accepting (all workers busy / too many conns)"}


def netstat_listen():
    """Machine-wide (ListenOverflows, ListenDrops) from /proc/net/netstat."""
    with open("/proc/net/netstat") as f:
        lines = f.read().split("\n")
    for head, vals in zip(lines, lines[1:]):
        if head.startswith("TcpExt:") and vals.startswith("TcpExt:"):
            d = dict(zip(head.split()[1:], map(int, vals.split()[1:])))
            return d.get("ListenOverflows", 0), d.get("ListenDrops", 0)
    return 0, 0


def busy_ticks():
    """Machine-wide busy CPU time so far (user, nice, system, irq, softirq, steal) in clock ticks."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)


def read_sysctl(name):
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as f:
            return f.read().strip()
    except OSError:
        return "?"


class Apache(PrivateApache):
    def __init__(self, module, mpm):
        super().__init__("mpm", self.make_conf, dirs=("templates", "htdocs", "htdocs/static"), httpd=HTTPD,
                         stop_timeout=10)
        self.module, self.mpm = module, mpm
        with open(os.path.join(self.root, "templates", "hello.html"), "w") as f:
            f.write(HELLO)
        with open(os.path.join(self.root, "htdocs", "static", "app.css"), "w") as f:
            f.write(CSS)
        with open(os.path.join(self.root, "wrk.lua"), "w") as f:
            f.write(WRK_LUA)
        subprocess.run(["chmod", "-R", "a+rX", self.root], check=True)

    def make_conf(self, _):
        return CONF.format(head=self.conf_head(("mpm_event", "authz_core", "mime"), self.module, MODULES),
                           docroot=self.conf_docroot(), root=self.root, mpm=self.mpm.strip(), loglevel=os.environ.get("MPM_LOGLEVEL", "warn"))

    def start(self):
        super().start()  # ApacheDidNotStart is a RuntimeError
        # The whole pool up (StartServers) before measuring, as a server that has been running a while.
        time.sleep(1.5)

    def main_pid(self):
        pid = self.parent_pid()
        if pid is None:
            raise ValueError("no pid in %s" % self.pidfile)
        return pid

    def children(self):
        try:
            return harness.process_tree(self.main_pid())[1:]
        except (OSError, ValueError):
            return []

    def pss_mib(self):
        try:
            return sum(harness.pss_kib(p) for p in harness.process_tree(self.main_pid())) / 1024.0
        except (OSError, ValueError):
            return 0.0

    def cpu_ticks(self):
        """user + system clock ticks of Apache's parent and children so far."""
        try:
            return sum(sum(harness.cpu_ticks(p)) for p in harness.process_tree(self.main_pid()))
        except (OSError, ValueError):
            return 0

    def stop(self):
        super().stop()
        self.remove()


def parse(out):
    res = harness.parse_wrk(out)
    # harness.parse_wrk has p50/p99; the max is the third figure of the Latency line.
    for line in out.split("\n"):
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "Latency" and parts[1][0].isdigit():
            v = parts[3]
            for unit, mul in (("us", 0.001), ("ms", 1.0), ("m", 60000.0), ("s", 1000.0)):
                if v.endswith(unit):
                    try:
                        res["max_ms"] = float(v[:-len(unit)]) * mul
                    except ValueError:
                        pass
                    break
    for key in ("connect", "read", "write", "timeout"):
        res["socket_errors"].setdefault(key, 0)
    for pct in ("75", "90"):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, out, re.M)
        if m:
            res["p%s_ms" % pct] = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return res


def run_wrk(srv, conns, seconds, timeout):
    script = os.path.join(srv.root, "wrk.lua")
    url = srv.url("/")
    base = ["wrk", "-t2", "-c%d" % conns, "--latency", "--timeout", timeout, "-s", script]
    subprocess.run(base + ["-d%ds" % WARMUP_S, url], capture_output=True, text=True)
    log0 = len(srv.log_text())
    ovf0 = netstat_listen()
    peak = [0.0, 0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], srv.pss_mib())
            peak[1] = max(peak[1], len(srv.children()))
            stop.wait(0.5)

    t = threading.Thread(target=sample)
    t.start()
    hz = float(os.sysconf("SC_CLK_TCK"))
    busy0, srv0, wrk0, t0 = busy_ticks(), srv.cpu_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    out = subprocess.run(base + ["-d%ds" % seconds, url], capture_output=True, text=True).stdout
    busy1, srv1, wrk1, t1 = busy_ticks(), srv.cpu_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    stop.set()
    t.join()
    ovf1 = netstat_listen()
    res = parse(out)
    # Where the machine's CPU went during the run, in CPUs (of os.cpu_count()): Apache, wrk, and
    # everything else (other work on a shared machine: the noise indicator).
    wall = t1 - t0
    server_cpu = (srv1 - srv0) / hz
    wrk_cpu = (wrk1.ru_utime + wrk1.ru_stime) - (wrk0.ru_utime + wrk0.ru_stime)
    res["server_cpus"] = round(server_cpu / wall, 2)
    res["wrk_cpus"] = round(wrk_cpu / wall, 2)
    res["other_cpus"] = round(max(0.0, (busy1 - busy0) / hz - server_cpu - wrk_cpu) / wall, 2)
    res["server_cpu_us_per_req"] = round(server_cpu * 1e6 / res["requests"], 1) if res["requests"] else None
    log = srv.log_text()[log0:]
    res["log"] = {k: log.count(k) for k in MPM_WARNINGS}
    res["trace"] = {k: log.count(k) for k in MPM_TRACES}
    res["log_other"] = len([ln for ln in log.split("\n") if ln.strip()]) - sum(res["log"].values())
    res["listen_overflows"], res["listen_drops"] = ovf1[0] - ovf0[0], ovf1[1] - ovf0[1]
    res["peak_pss_mib"] = round(peak[0], 1)
    res["peak_children"] = peak[1]
    return res


def errors_total(m):
    return sum(m["socket_errors"].values())


def span(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    lo, hi = min(values), max(values)
    return fmt % lo if fmt % lo == fmt % hi else (fmt + "-" + fmt) % (lo, hi)


def fmt_ms(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    f = "%.0f" if min(values) >= 100 else ("%.1f" if min(values) >= 10 else "%.2f")
    return span(values, f)


def err_cell(runs):
    """Socket errors per run as c/r/w/t (connect/read/write/timeout), one entry per round."""
    return " ".join("%d/%d/%d/%d" % tuple(m["socket_errors"][k] for k in ("connect", "read", "write", "timeout"))
                    for m in runs)


def directives(mpm):
    """The variant's directives; an Include is shown as the directives of the file it names."""
    if mpm.strip().startswith("Include "):
        path = mpm.strip().split(None, 1)[1].strip('"')
        try:
            with open(path) as f:
                mpm = "\n".join(ln for ln in f.read().split("\n")
                                if ln.strip() and not ln.strip().startswith(("#", "<")))
        except OSError:
            pass
    return "; ".join(" ".join(ln.split()) for ln in mpm.strip().split("\n"))


def report(results, conns, rounds, seconds, timeout, module, elapsed):
    date = datetime.date.today().isoformat()
    commit = harness.commit_id()
    ver = subprocess.run([HTTPD, "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    lines = [
        "Measured %s, commit %s, %d vCPU shared by wrk and Apache, %s. wrk 4.1.0 -t2 --latency --timeout %s, "
        "%d s runs after a %d s warm-up, %d round(s); each cell is the range over the rounds. Module: %s. "
        "net.core.somaxconn %s, net.ipv4.tcp_max_syn_backlog %s, RLIMIT_NOFILE %d/%d. Sweep took %.0f s." % (
            date, commit, os.cpu_count(), ver.replace("Server version: ", ""), timeout, seconds, WARMUP_S, rounds,
            module, read_sysctl("net.core.somaxconn"), read_sysctl("net.ipv4.tcp_max_syn_backlog"), nofile[0],
            nofile[1], elapsed),
        "",
        "Socket errors are connect/read/write/timeout, one group per round. \"ovf\": the kernel's "
        "ListenOverflows during the run (machine-wide). \"log\": event-MPM warnings in error_log "
        "(AH00484 MaxRequestWorkers reached / AH00486 busy / AH03490 scoreboard full), summed over rounds. "
        "\"server µs/req\": CPU time of Apache's processes per request. \"other work\": CPUs busy with "
        "neither Apache nor wrk during the runs (other jobs on the machine: the noise).",
        "",
    ]
    head = "| variant |"
    for c in conns:
        head += " req/s c%d | p50 ms | p99 ms | max ms | sock err c/r/w/t | ovf | log | server µs/req |" % c
    lines.append(head + " children | idle PSS MiB | peak PSS MiB | other work, CPUs |")
    lines.append("|---|" + "---|---|---|---|---|---|---|---|" * len(conns) + "---|---|---|---|")
    for name, desc, _ in VARIANTS:
        if name not in results:
            continue
        row = "| %s |" % name
        runs_all = []
        for c in conns:
            runs = results[name]["c%d" % c]
            runs_all += runs
            logs = {k: sum(m["log"][k] for m in runs) for k in MPM_WARNINGS}
            row += " %s | %s | %s | %s | %s | %s | %s |" % (
                span([m["rps"] for m in runs], "%.0f"), fmt_ms([m["p50_ms"] for m in runs]),
                fmt_ms([m["p99_ms"] for m in runs]), fmt_ms([m.get("max_ms") for m in runs]), err_cell(runs),
                span([m["listen_overflows"] for m in runs], "%d"), "/".join(str(logs[k]) for k in MPM_WARNINGS))
            row += " %s |" % span([m["server_cpu_us_per_req"] for m in runs], "%.0f")
        row += " %s | %s | %s | %s |" % (span([m["peak_children"] for m in runs_all], "%d"),
                                    span(results[name]["idle_pss_mib"], "%.0f"),
                                    span([m["peak_pss_mib"] for m in runs_all], "%.0f"),
                                    span([m["other_cpus"] for m in runs_all], "%.2f"))
        lines.append(row)
    # The same runs by median, fewest socket errors first, then lowest p99 (sum over the connection counts).
    lines.append("")
    lines.append("Medians over the rounds, ordered by socket errors (all runs), then by the sum of the median p99s:")
    lines.append("")
    lines.append("| variant | " + " | ".join("req/s c%d | p50 ms | p99 ms | sock err" % c for c in conns) + " |")
    lines.append("|---|" + "---|---|---|---|" * len(conns))
    order = []
    for name in results:
        med = {c: {k: statistics.median([m[k] for m in results[name]["c%d" % c] if m[k] is not None] or [0])
                   for k in ("rps", "p50_ms", "p99_ms")} for c in conns}
        errs = {c: sum(errors_total(m) for m in results[name]["c%d" % c]) for c in conns}
        order.append((sum(errs.values()), sum(med[c]["p99_ms"] for c in conns), name, med, errs))
        results[name]["median"] = {"c%d" % c: dict(med[c], socket_errors=errs[c]) for c in conns}
    for _, _, name, med, errs in sorted(order):
        lines.append("| %s | " % name + " | ".join("%.0f | %s | %s | %d" % (
            med[c]["rps"], fmt_ms([med[c]["p50_ms"]]), fmt_ms([med[c]["p99_ms"]]), errs[c]) for c in conns) + " |")
    lines.append("")
    lines.append("Variants:")
    lines.append("")
    for name, desc, mpm in VARIANTS:
        if name in results:
            lines.append("- **%s**: %s: `%s`" % (name, desc, directives(mpm)))
    non2xx = sum(m["non2xx"] for r in results.values() for c in conns for m in r["c%d" % c])
    lines.append("")
    lines.append("Non-2xx answers over the whole sweep: %d." % non2xx)
    table = "\n".join(lines)
    print()
    print(table)
    out = os.environ.get("MPM_RESULTS") or os.path.join(HERE, "results")
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, "%s_mpm" % date)
    with open(stem + ".md", "w") as f:
        f.write(table + "\n")
    with open(stem + ".json", "w") as f:
        json.dump({"date": date, "commit": commit, "cpus": os.cpu_count(), "apache": ver, "rounds": rounds,
                   "duration_s": seconds, "warmup_s": WARMUP_S, "wrk_timeout": timeout, "conns": conns,
                   "somaxconn": read_sysctl("net.core.somaxconn"),
                   "tcp_max_syn_backlog": read_sysctl("net.ipv4.tcp_max_syn_backlog"),
                   "variants": {n: {"description": d, "mpm": directives(m)} for n, d, m in VARIANTS if n in results},
                   "results": results}, f, indent=1)
    print("\nwritten: %s.md and .json" % stem)


def main():
    # A kill (timeout, CI) goes through the finally blocks too, so no private Apache is left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.time()
    arg = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FLASKPP_BUILD", os.path.join(REPO, "build"))
    module = os.path.abspath(arg if arg.endswith(".so") else os.path.join(arg, "mod_flaskpp.so"))
    if not os.path.exists(module):
        print("no module at %s" % module, file=sys.stderr)
        return 2
    if not shutil.which("wrk"):
        print("wrk is missing (apt-get install wrk)", file=sys.stderr)
        return 2
    seconds = int(os.environ.get("MPM_DURATION", "5"))
    rounds = int(os.environ.get("MPM_ROUNDS", "2"))
    conns = [int(c) for c in os.environ.get("MPM_CONNS", "200,1000").split(",")]
    timeout = os.environ.get("MPM_TIMEOUT", "10s")
    only = [o.strip() for o in os.environ.get("MPM_ONLY", "").split(",") if o.strip()]
    unknown = [o for o in only if o not in [v[0] for v in VARIANTS] + ["all"]]
    if unknown:
        print("unknown variant(s) %s; known: %s" % (", ".join(unknown), ", ".join(v[0] for v in VARIANTS)),
              file=sys.stderr)
        return 2
    if only == ["all"]:
        only = [v[0] for v in VARIANTS]
    variants = [v for v in VARIANTS if v[0] in (only or DEFAULT)]
    # wrk needs a descriptor per connection (and Apache's children one per connection too): raise
    # the soft limit to the hard one for this process and what it starts. System sysctls are left alone.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if max(conns) + 100 > resource.getrlimit(resource.RLIMIT_NOFILE)[0]:
        print("warning: RLIMIT_NOFILE %d is below %d connections + slack; wrk will report connect errors" % (
            resource.getrlimit(resource.RLIMIT_NOFILE)[0], max(conns)), file=sys.stderr)
    results = {}
    print("%-16s %5s %6s %9s %8s %8s %9s %15s %5s %4s %6s %5s %s" % (
        "variant", "round", "conns", "req/s", "p50 ms", "p99 ms", "max ms", "err c/r/w/t", "ovf", "kids", "us/req",
        "other", "(other: CPUs busy with other work)"), flush=True)
    for rnd in range(rounds):
        for name, _, mpm in (variants if rnd % 2 == 0 else list(reversed(variants))):
            srv = Apache(module, mpm)
            try:
                srv.start()
            except RuntimeError as e:
                print("FAILED %s: %s" % (name, e), file=sys.stderr)
                srv.stop()
                return 2
            idle = results.setdefault(name, {}).setdefault("idle_pss_mib", [])
            idle.append(round(srv.pss_mib(), 1))
            try:
                for c in conns:
                    m = run_wrk(srv, c, seconds, timeout)
                    results.setdefault(name, {}).setdefault("c%d" % c, []).append(m)
                    print("%-16s %5d %6d %9.0f %8.2f %8.2f %9.2f %15s %5d %4d %6.1f %5.2f" % (
                        name, rnd + 1, c, m["rps"], m["p50_ms"] or -1, m["p99_ms"] or -1, m.get("max_ms", -1),
                        "/".join(str(m["socket_errors"][k]) for k in ("connect", "read", "write", "timeout")),
                        m["listen_overflows"], m["peak_children"], m["server_cpu_us_per_req"] or -1,
                        m["other_cpus"]) + "".join(
                            "  [%s: %d]" % (k, v) for k, v in m["trace"].items() if v), flush=True)
            finally:
                srv.stop()
    report(results, conns, rounds, seconds, timeout, module, time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
