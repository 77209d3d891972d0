#!/usr/bin/python3
"""One host -> several (issue 12): what a Redis rate-limit store adds per request, and the
throughput of one and of two mod_flaskpp instances behind the mod_proxy_balancer front of
conf/balancer-flaskpp.conf, all in one run on this machine.

  bench/scaling.py [BUILD_DIR | mod_flaskpp.so] [--duration S] [--rounds N] [--conns C] [--note TEXT]
  (as root: the children run as www-data; bench/run.sh calls it, BENCH_SKIP=scaling leaves it out)
  Defaults: BUILD_DIR $FLASKPP_BUILD, else the checkout's build/; --duration $BENCH_DURATION, else
  10; --rounds 3; --conns 50. --duration 1 (a CI smoke run) takes about a minute, the default
  about five.

Processes, all on this machine and all running for the whole run (the idle ones cost next to
nothing), each Apache with its own ServerRoot under /var/tmp, loopback port, PidFile, runtime
dir, mutexes and error_log (tests/integration/it_helpers.py's PrivateApache), and every
mod_flaskpp instance with the MPM and keep-alive lines of bench/overhead_bench.py (event,
4 x 50 threads, no process churn, KeepAlive On, MaxKeepAliveRequests 0), no access log:

  redis   a private redis-server on a free loopback port (PrivateRedis; never a system one)
  S       mod_flaskpp, FlaskppRateLimitCache shm fail=closed
  A, B    mod_flaskpp, FlaskppRateLimitCache redis://127.0.0.1:PORT/0 fail=closed (one Redis);
          FlaskppRateLimitCache is server config only, so the shm and Redis stores need two
          instances: S and A run side by side with the same configuration but for that line
  F1      a front (mod_proxy_balancer): conf/balancer-flaskpp.conf minus its FLASKPP_BACKEND_2
          BalancerMember line, FLASKPP_BACKEND_1 = A
  F2      a front: conf/balancer-flaskpp.conf as shipped, FLASKPP_BACKEND_1/2 = A and B
The fronts are built as tests/integration/redis_limits_test.py builds its front (the same modules,
the file included with Define), plus the bench's MPM lines; A, B and S carry the file's backend
lines (mod_remoteip trusting 127.0.0.1). Every mod_flaskpp instance serves
  FlaskppRoute GET /plain handler health          (answers {"status":"ok"})
  FlaskppRoute GET /limited handler health + FlaskppRateLimit /limited "1000000000/hour"
(never refuses: what is measured is the counting; every client is 127.0.0.1, so one counter) and
FlaskppStatus /flaskpp-status, whose per-route hit counters (read before and after each wrk run)
say which backend answered how many requests; it adds its lock-free counters to every request of
every row alike.

Rows (wrk -t2 -cC -dS --latency --timeout 10s, keep-alive, as bench/harness.py runs it):
  part "redis":   plain (S /plain), limited shm (S /limited), limited Redis (A /limited)
  part "scaling": direct to A, front -> A only, front -> A + B, for /limited (the "limited Redis"
                  row is the "direct to A, /limited" row: one measurement, shown in both tables)
                  and for /plain
After a 1 s warm-up per row, ROUNDS rounds of S seconds per row, rows interleaved (A B C, then
C B A, ...). Each run starts and ends in a quiet state (the backends' counters unchanged over
100 ms: requests the front still forwards after wrk stopped are done before the next run). Per
row, medians over the rounds: requests/s, wrk's p50 and p99 latency, and the CPU per request
(user+system from /proc over the run / requests) of each process tree: the front, each backend,
redis-server; from Redis's INFO, per request: script calls (EVALSHA/EVAL: round trips), commands
(the scripts' own included), the time Redis spent running the scripts, and new connections.
Differences (Redis - shm, front - direct, ...) and ratios are the median over the rounds of the
difference or ratio within each round. Every instance loads one private copy of the module (its
SHA-256 in the JSON), so a rebuild of the build tree during the run changes nothing.

Exit 1 when a check fails: a non-2xx answer, a wrk timeout, more socket errors than
overhead_bench.py allows, a limited answer without X-RateLimit-Limit (or a plain one with it), a
run without requests, a backend that counted fewer requests than wrk completed (or more than
wrk's connections besides), a shm row that sent commands to Redis or a Redis row with fewer
script calls than requests, B answering through the one-member front, either backend getting less
than a quarter of the requests behind the A + B front, an [error]/[warn]/"exit signal" line in any
error_log, or a child pid that changed (the roots are then kept for inspection). Exit 2 when a
server does not start. Writes bench/results/<date>_<commit>_scaling.{md,json}.
"""
import datetime
import hashlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402  (parse_wrk: requests/s, p50/p99, socket errors)
import overhead_bench as ob  # noqa: E402  (MPM lines, CPU ticks, socket-error tolerance, commit id)
from it_helpers import BAD_LINE, ApacheDidNotStart, BalancerFront, PrivateApache, PrivateRedis, wait_until  # noqa: E402

REPO = ob.REPO
BALANCER_CONF = os.path.join(REPO, "conf", "balancer-flaskpp.conf")
SECOND_MEMBER = re.compile(r'^\s*BalancerMember\s+"\$\{FLASKPP_BACKEND_2\}"')
WARMUP_S = 1
# Each backend's share of the requests behind the A + B front must be at least this
# (byrequests alternates: about one half each).
MIN_SHARE = 0.25
# overhead_bench.py's MPM and keep-alive lines, taken from its configuration so that they stay
# the same: everything between the head and ErrorLog.
MPM = ob.CONF.split("{head}", 1)[1].split("ErrorLog", 1)[0]
assert "ThreadsPerChild 50" in MPM and "MaxKeepAliveRequests 0" in MPM, MPM
START_SERVERS = int(re.search(r"^StartServers (\d+)$", MPM, re.M).group(1))

BACKEND_CONF = """{head}{mpm}ErrorLog "{root}/logs/error_log"
LogLevel warn
# What conf/balancer-flaskpp.conf asks of its backends: the client's address from the front.
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
# fail=closed: a failing store answers 503, which fails the run, instead of serving unlimited.
FlaskppRateLimitCache {cache} fail=closed
FlaskppStatus /flaskpp-status
FlaskppRoute GET /health handler health
FlaskppRoute GET /plain handler health
FlaskppRoute GET /limited handler health
FlaskppRateLimit /limited "1000000000/hour"
"""

FRONT_MODULES = BalancerFront.MODULES  # the test's front loads the same
FRONT_CONF = """{head}{mpm}ErrorLog "{root}/logs/error_log"
LogLevel warn
{defines}Include "{balancer}"
"""


# --- The processes ---------------------------------------------------------------------------

class Instance(PrivateApache):
    """A private Apache of the bench; its pids are taken at start (no process churn is configured)."""

    def __init__(self, name, label):
        super().__init__("scaling-" + name, conf=None, httpd=ob.HTTPD, stop_timeout=10)
        self.label = label
        self.start_pids = []

    def start(self):
        """Started, and all StartServers children forked (on a busy machine the parent may still
        be forking when the first child answers): their pids are the ones the run must end with."""
        super().start()
        if not wait_until(lambda: len(self.children()) >= START_SERVERS, 10):
            raise ApacheDidNotStart("%s: %d of %d children after 10 s (/proc/PID/task/PID/children: %s)"
                                    % (self.label, len(self.children()), START_SERVERS, sorted(self.children())))
        self.start_pids = [self.parent_pid()] + sorted(self.children())

    def cpu_seconds(self):
        return sum(ob.cpu_ticks(p) for p in self.start_pids) / float(os.sysconf("SC_CLK_TCK"))

    def bad_lines(self):
        return ["%s: %s" % (self.label, l) for l in self.log_text().splitlines() if BAD_LINE.search(l)]


class Backend(Instance):
    def __init__(self, name, label, module, cache):
        super().__init__(name, label)
        self.module, self.cache = module, cache

    def conf_text(self):
        head = self.conf_head(["mpm_event", "authz_core", "remoteip"], self.module, ob.MODULES)
        return BACKEND_CONF.format(head=head, mpm=MPM, root=self.root, cache=self.cache)

    def hits(self):
        """{route pattern: hits} from the status page (JSON)."""
        with urllib.request.urlopen(self.url("/flaskpp-status?json"), timeout=10) as res:
            report = json.load(res)
        return {r["pattern"]: r["hits"] for r in report["routes"]}


class Front(Instance):
    """The balancer front over MEMBERS: the shipped file, or with one member a copy of it without
    the FLASKPP_BACKEND_2 line."""

    def __init__(self, name, label, members):
        super().__init__(name, label)
        self.members = members
        self.balancer = BALANCER_CONF
        if len(members) == 1:
            with open(BALANCER_CONF) as f:
                lines = f.read().splitlines(True)
            kept = [l for l in lines if not SECOND_MEMBER.match(l)]
            if len(lines) - len(kept) != 1:
                self.remove()
                raise SystemExit("%s: expected one BalancerMember line for FLASKPP_BACKEND_2, found %d"
                                 % (BALANCER_CONF, len(lines) - len(kept)))
            self.balancer = os.path.join(self.root, "balancer-one-member.conf")
            with open(self.balancer, "w") as f:
                f.write("".join(kept))
            os.chmod(self.balancer, 0o644)

    def conf_text(self):
        head = self.conf_head(FRONT_MODULES, "-", ob.MODULES).replace('LoadModule flaskpp_module "-"\n', "")
        defines = "".join("Define FLASKPP_BACKEND_%d http://127.0.0.1:%d\n" % (i + 1, m.port)
                          for i, m in enumerate(self.members))
        return FRONT_CONF.format(head=head, mpm=MPM, root=self.root, defines=defines, balancer=self.balancer)


def redis_info(port):
    """The private Redis's INFO stats and commandstats: {field: int}, and {"cmdstat": {command:
    {"calls", "usec"}}}. Commands a Lua script runs (redis.call) are counted as commands too; this
    INFO counts as one command, its connection as one connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"INFO everything\r\n")
        data = b""
        while b"\r\n" not in data:
            data += s.recv(65536)
        size = int(data[1:data.index(b"\r\n")])
        body_start = data.index(b"\r\n") + 2
        while len(data) < body_start + size:
            data += s.recv(65536)
    out = {"cmdstat": {}}
    for line in data[body_start:body_start + size].decode().splitlines():
        key, _, value = line.partition(":")
        if value.isdigit():
            out[key] = int(value)
        elif key.startswith("cmdstat_"):
            fields = dict(f.split("=", 1) for f in value.split(","))
            out["cmdstat"][key[8:]] = {"calls": int(fields["calls"]), "usec": int(fields["usec"])}
    return out


def redis_delta(info0, info1):
    """Over a run: commands processed (minus the INFO), connections received (minus ours), round
    trips of the rate limiter (EVALSHA + EVAL calls) and the time Redis spent executing commands
    (commandstats usec, the scripts' inner calls included in EVALSHA's)."""
    def calls(info, name, what="calls"):
        return info["cmdstat"].get(name, {}).get(what, 0)
    return {"commands": info1["total_commands_processed"] - info0["total_commands_processed"] - 1,
            "connections": info1["total_connections_received"] - info0["total_connections_received"] - 1,
            "scripts": sum(calls(info1, c) - calls(info0, c) for c in ("evalsha", "eval")),
            "exec_us": sum(calls(info1, c, "usec") - calls(info0, c, "usec")
                           for c in ("evalsha", "eval"))}


def redis_cpu_seconds(redis):
    return ob.cpu_ticks(redis.proc.pid) / float(os.sysconf("SC_CLK_TCK"))


# --- Rows, measurement -----------------------------------------------------------------------

# (key, parts, name, instance, path); parts: the tables the row appears in.
ROWS = [("plain", ("redis",), "plain (S, no limit)", "S", "/plain"),
        ("shm", ("redis",), "limited, shm store (S)", "S", "/limited"),
        ("redis", ("redis", "scaling"), "limited, Redis store (A) = direct to A", "A", "/limited"),
        ("front1", ("scaling",), "front -> A only", "F1", "/limited"),
        ("front2", ("scaling",), "front -> A + B", "F2", "/limited"),
        ("plain-a", ("scaling",), "direct to A", "A", "/plain"),
        ("plain-front1", ("scaling",), "front -> A only", "F1", "/plain"),
        ("plain-front2", ("scaling",), "front -> A + B", "F2", "/plain")]


def check_row(inst, name, path):
    """One request before measuring: 200, X-RateLimit-Limit exactly on /limited."""
    try:
        with urllib.request.urlopen(inst.url(path), timeout=10) as res:
            status, limit = res.status, res.headers.get("X-RateLimit-Limit")
    except urllib.error.HTTPError as e:
        return "%s: GET %s answered %d" % (name, path, e.code)
    except OSError as e:
        return "%s: GET %s: %s" % (name, path, e)
    if status != 200:
        return "%s: GET %s answered %d" % (name, path, status)
    if (path == "/limited") != (limit is not None):
        return "%s: GET %s %s X-RateLimit-Limit" % (name, path, "lacks" if path == "/limited" else "has")
    return ""


def run_wrk(url, conns, seconds):
    cmd = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--latency", "--timeout", "10s", url]
    res = harness.parse_wrk(subprocess.run(cmd, capture_output=True, text=True).stdout)
    kinds = {k: res["socket_errors"].get(k, 0) for k in ("connect", "read", "write", "timeout")}
    res["by_kind"], res["socket_errors"] = kinds, sum(kinds.values())
    return res


def settled_hits(backends):
    """{backend: {route: hits}} once two readings 100 ms apart agree (requests still in flight
    when wrk stopped, e.g. those the front forwards after its client left, are done), at most 5 s."""
    last = None
    for _ in range(50):
        now = {k: b.hits() for k, b in backends.items()}
        if now == last:
            break
        last = now
        time.sleep(0.1)
    return now


def measure(env, inst, path, conns, seconds):
    """One wrk run against INST: wrk's figures, per-party CPU seconds, Redis counters and backend
    hits on PATH over the run (counted from a quiet state to a quiet state)."""
    backends = env["backends"]
    before = settled_hits(backends)
    info0 = redis_info(env["redis"].port)
    cpu0 = {k: p.cpu_seconds() for k, p in env["instances"].items()}
    cpu0["redis"] = redis_cpu_seconds(env["redis"])
    res = run_wrk(inst.url(path), conns, seconds)
    cpu = {k: p.cpu_seconds() - cpu0[k] for k, p in env["instances"].items()}
    cpu["redis"] = redis_cpu_seconds(env["redis"]) - cpu0["redis"]
    res["cpu_s"] = cpu
    after = settled_hits(backends)
    res["redis"] = redis_delta(info0, redis_info(env["redis"].port))
    res["hits"] = {k: after[k].get(path, 0) - before[k].get(path, 0) for k in backends}
    return res


def per_req(m, key):
    return m["cpu_s"][key] * 1e6 / m["requests"] if m["requests"] else 0.0


def parties(target):
    """The CPU columns of a row: (front, [backends]) for its target."""
    return {"S": (None, ["S"]), "A": (None, ["A"]), "F1": ("F1", ["A", "B"]), "F2": ("F2", ["A", "B"])}[target]


def round_figures(m, target):
    front, backs = parties(target)
    n = m["requests"] or 1
    f = {"rps": m["rps"], "p50_us": (m["p50_ms"] or 0) * 1000, "p99_us": (m["p99_ms"] or 0) * 1000,
         "front_us": per_req(m, front) if front else 0.0,
         "backends_us": sum(per_req(m, b) for b in backs),
         "redis_us": per_req(m, "redis"),
         "redis_cmds_per_req": m["redis"]["commands"] / n,
         "redis_scripts_per_req": m["redis"]["scripts"] / n,
         "redis_exec_us": m["redis"]["exec_us"] / n,
         "redis_conns_per_1k": 1000.0 * m["redis"]["connections"] / n}
    for b in backs:
        f["%s_us" % b] = per_req(m, b)
    f["total_us"] = f["front_us"] + f["backends_us"] + f["redis_us"]
    return f


def summarize(runs, conns):
    """Per row: medians over rounds of round_figures(), sums of counts, and the failures of its
    checks."""
    out = {}
    for key, parts, name, target, path in ROWS:
        ms = runs[key]
        figs = [round_figures(m, target) for m in ms]
        row = {"key": key, "parts": parts, "name": name, "target": target, "path": path,
               "requests": sum(m["requests"] for m in ms), "non2xx": sum(m["non2xx"] for m in ms),
               "socket_errors": sum(m["socket_errors"] for m in ms),
               "socket_errors_by_kind": {k: sum(m["by_kind"][k] for m in ms)
                                         for k in ("connect", "read", "write", "timeout")},
               "hits": {b: sum(m["hits"][b] for m in ms) for b in ms[0]["hits"]},
               "rounds": ms, "round_figures": figs}
        for f in figs[0]:
            row[f] = statistics.median(x[f] for x in figs)
        row["failures"] = row_checks(row, ms, conns)
        out[key] = row
    return out


def row_checks(row, ms, conns):
    fails = []
    why = ob.row_failure(row)
    if why:
        fails.append(why)
    target, name = row["target"], "%s %s" % (row["name"], row["path"])
    for k, m in enumerate(ms):
        if not m["requests"]:
            fails.append("%s, round %d: wrk completed no request" % (name, k + 1))
        served = {"S": m["hits"]["S"], "A": m["hits"]["A"], "F1": m["hits"]["A"],
                  "F2": m["hits"]["A"] + m["hits"]["B"]}[target]
        # Every completed request was counted by a backend; at most one per connection more (in
        # flight when wrk stopped).
        if not m["requests"] <= served <= m["requests"] + conns:
            fails.append("%s, round %d: wrk completed %d requests, the backends counted %d (%s)"
                         % (name, k + 1, m["requests"], served, m["hits"]))
        if target == "F1" and m["hits"]["B"]:
            fails.append("%s, round %d: B answered %d requests behind the one-member front"
                         % (name, k + 1, m["hits"]["B"]))
        if target == "F2" and served and min(m["hits"]["A"], m["hits"]["B"]) < MIN_SHARE * served:
            fails.append("%s, round %d: the front did not spread the requests: A %d, B %d"
                         % (name, k + 1, m["hits"]["A"], m["hits"]["B"]))
        uses_redis = row["path"] == "/limited" and target != "S"
        if uses_redis and m["redis"]["scripts"] < m["requests"]:
            fails.append("%s, round %d: %d Redis scripts run for %d requests"
                         % (name, k + 1, m["redis"]["scripts"], m["requests"]))
        if not uses_redis and m["redis"]["commands"] > 10:
            fails.append("%s, round %d: %d Redis commands without a Redis-limited route"
                         % (name, k + 1, m["redis"]["commands"]))
    return fails


def within_rounds(results, a, b, field, op):
    """Median over the rounds of op(row A's FIELD, row B's FIELD) in the same round."""
    pairs = zip(results[a]["round_figures"], results[b]["round_figures"])
    vals = [op(x[field], y[field]) for x, y in pairs if y[field] or op is diff]
    return statistics.median(vals) if vals else None


def diff(x, y):
    return x - y


def ratio(x, y):
    return x / y


def derived(results):
    d = {}
    for name, a, b in (("redis_vs_shm", "redis", "shm"), ("shm_vs_plain", "shm", "plain"),
                       ("redis_vs_plain", "redis", "plain")):
        d[name] = {"server_cpu_us": within_rounds(results, a, b, "backends_us", diff),
                   "server_plus_redis_cpu_us": within_rounds(results, a, b, "total_us", diff),
                   "p50_us": within_rounds(results, a, b, "p50_us", diff),
                   "p99_us": within_rounds(results, a, b, "p99_us", diff),
                   "rps_ratio": within_rounds(results, a, b, "rps", ratio)}
    for route, direct, f1, f2 in (("/limited", "redis", "front1", "front2"),
                                  ("/plain", "plain-a", "plain-front1", "plain-front2")):
        d["scaling " + route] = {
            "front1_over_direct_rps": within_rounds(results, f1, direct, "rps", ratio),
            "front2_over_front1_rps": within_rounds(results, f2, f1, "rps", ratio),
            "front2_over_direct_rps": within_rounds(results, f2, direct, "rps", ratio),
            "front1_minus_direct_total_cpu_us": within_rounds(results, f1, direct, "total_us", diff),
            "front2_minus_front1_total_cpu_us": within_rounds(results, f2, f1, "total_us", diff)}
    return d


# --- Report ----------------------------------------------------------------------------------

def fmt(v, spec="%.1f", signed=False):
    if v is None:
        return "-"
    return ("%+.1f" if signed else spec) % v


def report(results, der, args, module, module_sha, elapsed_s):
    date = datetime.date.today().isoformat()
    commit = ob.commit_id()
    version = subprocess.run([ob.HTTPD, "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    cpus = os.cpu_count()
    lines = [
        "# Scaling: Redis per request, one vs two mod_flaskpp instances behind a balancer front",
        "",
        "Measured %s, commit %s, %s, %s, %d vCPU shared by wrk, every Apache and redis-server. "
        "wrk -t2 -c%d keep-alive --latency, %d interleaved rounds of %d s per row after a %d s warm-up, "
        "medians over the rounds; differences and ratios are medians of the within-round values. "
        "CPU columns: user+system CPU of each process tree over the run / requests, in us. "
        "Every mod_flaskpp instance: event MPM 4 x 50 threads, KeepAlive On, no access log, "
        "FlaskppStatus on (its counters tell which backend answered). Module: %s (SHA-256 %s...). "
        "Whole run: %.0f s."
        % (date, commit, version.replace("Server version: ", ""), redis_version.split(" sha=")[0], cpus,
           args.conns, args.rounds, args.duration, WARMUP_S, module, module_sha[:12], elapsed_s),
        "",
        "## What Redis adds per request (one mod_flaskpp instance)",
        "",
        "FlaskppRateLimitCache is server config only: S (shm) and A (redis://, loopback) are two instances "
        "side by side with the same configuration but for that line, both running for the whole run; "
        "rows alternate between them within each round. Limit 1000000000/hour (never refuses), one "
        "counter (every client is 127.0.0.1).",
        "",
        "| row | req/s | p50 us | p99 us | server CPU us/req | redis CPU us/req | server+redis us/req "
        "| Redis scripts (cmds) /req | Redis exec us/req | new Redis conns /1000 req | non-2xx | sock err |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in ("plain", "shm", "redis"):
        r = results[key]
        lines.append("| %s %s | %.0f | %.0f | %.0f | %.1f | %.1f | %.1f | %.2f (%.2f) | %.1f | %.1f | %d | %s |" % (
            r["name"], r["path"], r["rps"], r["p50_us"], r["p99_us"], r["backends_us"], r["redis_us"],
            r["total_us"], r["redis_scripts_per_req"], r["redis_cmds_per_req"], r["redis_exec_us"],
            r["redis_conns_per_1k"], r["non2xx"], ob.sock_err_cell(r)))
    rv = der["redis_vs_shm"]
    sp = der["shm_vs_plain"]
    lines += [
        "",
        "Redis store - shm store, per request: server CPU %s us, server + redis-server CPU %s us, "
        "p50 latency %s us, p99 %s us; requests/s x%s. (shm store - no limit: server CPU %s us, p50 %s us.)"
        % (fmt(rv["server_cpu_us"], signed=True), fmt(rv["server_plus_redis_cpu_us"], signed=True),
           fmt(rv["p50_us"], signed=True), fmt(rv["p99_us"], signed=True), fmt(rv["rps_ratio"], "%.3f"),
           fmt(sp["server_cpu_us"], signed=True), fmt(sp["p50_us"], signed=True)),
        "",
        "## Throughput: one vs two instances behind the front (conf/balancer-flaskpp.conf)",
        "",
        "A and B share the Redis above. \"front -> A only\": the shipped file without its FLASKPP_BACKEND_2 "
        "line; \"front -> A + B\": the file as shipped (byrequests). The front: event MPM 4 x 50 threads, "
        "KeepAlive On. The \"direct to A\" /limited row is the \"limited, Redis store\" row above (one "
        "measurement).",
        "",
        "| route | row | req/s | x direct | p50 us | p99 us | front CPU us/req | A CPU us/req | B CPU us/req "
        "| redis CPU us/req | total CPU us/req | requests A / B | non-2xx | sock err |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for route, keys in (("/limited", ("redis", "front1", "front2")), ("/plain", ("plain-a", "plain-front1",
                                                                               "plain-front2"))):
        direct = keys[0]
        for key in keys:
            r = results[key]
            x = "-" if key == direct else fmt(within_rounds(results, key, direct, "rps", ratio), "%.3f")
            lines.append("| %s | %s | %.0f | %s | %.0f | %.0f | %s | %.1f | %s | %.1f | %.1f | %d / %d | %d | %s |" % (
                route, "direct to A" if key == direct else r["name"], r["rps"], x, r["p50_us"], r["p99_us"],
                fmt(r["front_us"]) if r["target"].startswith("F") else "-", r["A_us"],
                fmt(r["B_us"]) if "B_us" in r else "-", r["redis_us"], r["total_us"],
                r["hits"]["A"], r["hits"]["B"], r["non2xx"], ob.sock_err_cell(r)))
    for route in ("/limited", "/plain"):
        s = der["scaling " + route]
        lines.append("")
        lines.append("%s: front -> A + B / front -> A only, requests/s x%s; front -> A only / direct x%s; "
                     "the front adds %s us of CPU per request (all processes), a second member %s us."
                     % (route, fmt(s["front2_over_front1_rps"], "%.3f"), fmt(s["front1_over_direct_rps"], "%.3f"),
                        fmt(s["front1_minus_direct_total_cpu_us"], signed=True),
                        fmt(s["front2_minus_front1_total_cpu_us"], signed=True)))
    notes = [
        "Notes:",
        "- All of it runs on one machine of %d vCPU: wrk, the front, A, B and redis-server share the same "
        "CPUs, so a second instance adds no CPU and \"front -> A + B\" cannot show what a second host "
        "would add. These rows measure what the front costs, that it spreads the requests over both members "
        "(requests A / B, from each backend's FlaskppStatus counters) and what a second member costs here; "
        "throughput across several hosts was not measured." % cpus,
        "- With the front, each mod_flaskpp instance and Redis on hosts of their own, the A/B columns are "
        "what each mod_flaskpp host would spend per request, and the front and redis-server columns what "
        "theirs would: per-request costs measured here, not a throughput measured across hosts.",
        "- Redis scripts (cmds) /req: EVALSHA/EVAL calls per request, i.e. round trips to Redis (in "
        "brackets every command Redis counted, the script's own INCRBY/EXPIRE... included); Redis exec "
        "us/req: the time Redis spent running them (INFO commandstats), the rest of redis-server's CPU "
        "is its network and event loop.",
        "- Redis ran on loopback on the same machine, competing with Apache and wrk for the same CPUs: "
        "the latency it adds here includes waiting for a CPU at each round trip. A Redis on another host "
        "would not compete for the CPUs but adds its network round trip to every limited request; "
        "neither case is measured here.",
        "- New Redis conns /1000 req: connections the mod_flaskpp children opened to Redis during the rows "
        "(INFO total_connections_received): a child keeps up to one idle connection per thread "
        "(ThreadsPerChild, glue/rate_limit.cpp redis_pool_size_for_mpm), so after its first requests "
        "it should open none; anything above 0 is connections opened and closed per request.",
        "- The fronts' health checks (GET /health on each member every 5 s) run during every row; "
        "negligible next to the measured load.",
        "- A trial run on a shared or busy machine gives noisy req/s and latency; the CPU columns move less.",
    ] + (["- " + args.note] if args.note else [])
    ob.write_results("scaling", "\n".join(lines + [""] + notes), {
        "date": date, "commit": commit, "cpus": cpus, "httpd": version, "redis": redis_version,
        "module": module, "module_sha256": module_sha, "conns": args.conns, "duration_s": args.duration,
        "rounds": args.rounds, "elapsed_s": round(elapsed_s, 1), "derived": der, "results": results,
        "notes": notes})


# --- Main ------------------------------------------------------------------------------------

def private_module(path, work):
    """A private copy of the module (every instance loads the same bytes, even if the build tree
    is rebuilt meanwhile), world-readable, and its SHA-256."""
    copy = os.path.join(work, "mod_flaskpp.so")
    shutil.copyfile(path, copy)
    os.chmod(work, 0o755)
    os.chmod(copy, 0o755)
    with open(copy, "rb") as f:
        return copy, hashlib.sha256(f.read()).hexdigest()


class DidNotStart(Exception):
    pass


def start_all(module):
    """redis, S, A, B, F1, F2 started in that order (the fronts answer only once their members do);
    DidNotStart (the roots kept) when one does not start."""
    env = {"redis": PrivateRedis(), "instances": {}, "backends": {}}
    started = []
    env["started"] = started
    try:
        env["redis"].start()
        cache = "redis://127.0.0.1:%d/0" % env["redis"].port
        for key, label, store in (("S", "S (shm)", "shm"), ("A", "A (redis)", cache), ("B", "B (redis)", cache)):
            inst = Backend(key.lower(), label, module, store)
            started.append(inst)
            inst.start()
            env["instances"][key] = env["backends"][key] = inst
        a, b = env["backends"]["A"], env["backends"]["B"]
        for key, label, members in (("F1", "F1 (front, A)", [a]), ("F2", "F2 (front, A + B)", [a, b])):
            inst = Front(key.lower(), label, members)
            started.append(inst)
            inst.start()
            env["instances"][key] = inst
    except (ApacheDidNotStart, AssertionError) as e:
        stop_all(env, keep=True)
        raise DidNotStart(str(e))
    except BaseException:
        stop_all(env)
        raise
    return env


def stop_all(env, keep=False):
    for inst in reversed(env["started"]):
        inst.stop()
        if keep:
            print("kept for inspection: %s" % inst.root, file=sys.stderr)
        else:
            inst.remove()
    env["redis"].remove()


def main():
    ap = ob.bench_arguments(__doc__)
    ap.add_argument("--note", default="", help="a line added to the report's notes (e.g. how busy the machine was)")
    args = ap.parse_args()
    module = ob.module_of(args)
    if not shutil.which("redis-server"):
        raise SystemExit("redis-server is not installed (scripts/setup.sh installs it)")
    t0 = datetime.datetime.now()
    work = tempfile.mkdtemp(prefix="flaskpp-scaling.", dir="/var/tmp")
    copy, module_sha = private_module(module, work)
    try:
        env = start_all(copy)
    except BaseException as e:
        shutil.rmtree(work, ignore_errors=True)
        if not isinstance(e, DidNotStart):
            raise
        print("a server did not start: %s" % e, file=sys.stderr)
        return 2
    inst = env["instances"]
    failures = []
    try:
        children = {k: i.start_pids[1:] for k, i in inst.items()}
        for key, _, name, target, path in ROWS:
            why = check_row(inst[target], name, path)
            if why:
                failures.append(why)
        if failures:
            stop_all(env, keep=True)
            env["started"] = []
            print("checks failed:\n  " + "\n  ".join(failures), file=sys.stderr)
            return 1
        for key, _, _, target, path in ROWS:
            run_wrk(inst[target].url(path), args.conns, WARMUP_S)
        runs = {r[0]: [] for r in ROWS}
        for k in range(args.rounds):
            order = ROWS if k % 2 == 0 else list(reversed(ROWS))
            for key, _, _, target, path in order:
                runs[key].append(measure(env, inst[target], path, args.conns, args.duration))
            print("round %d: " % (k + 1) + ", ".join(
                "%s %.0f req/s" % (key, runs[key][-1]["rps"]) for key, *_ in ROWS), flush=True)
        for k, i in inst.items():
            now = sorted(i.children())
            if now != children[k]:
                failures.append("%s: Apache's children changed during the run (a child died?): %s at the "
                                "start, %s at the end" % (i.label, children[k], now))
            failures += i.bad_lines()[:10]
    finally:
        keep = bool(failures)
        if env["started"]:
            stop_all(env, keep=keep)
        shutil.rmtree(work, ignore_errors=True)
    results = summarize(runs, args.conns)
    for r in results.values():
        failures += r["failures"]
    report(results, derived(results), args, module, module_sha,
           (datetime.datetime.now() - t0).total_seconds())
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
