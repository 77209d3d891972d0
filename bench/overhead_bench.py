#!/usr/bin/python3
"""Per-request cost of rate limiting and of signed cookie sessions, as ratios against the same
kind of route without them, all in one private Apache and one run.

  bench/overhead_bench.py [BUILD_DIR | mod_flaskpp.so] [--duration S] [--rounds N] [--conns C]
                          [--skip ratelimit,session] [--cookie-name NAME]
  (as root: the children run as www-data; bench/run.sh calls it, BENCH_SKIP=overhead leaves it out)
  Defaults: BUILD_DIR $FLASKPP_BUILD, else the checkout's build/; --duration $BENCH_DURATION, else
  10; --rounds 3; --conns 50. BENCH_DURATION=1 (a CI smoke run) takes about 20 s, 30 s with sessions.

One Apache (event MPM, 4 x 50 threads as in harness.py; own ServerRoot under /var/tmp, free
loopback port, PidFile, DefaultRuntimeDir, Mutex, ErrorLog) serves every row:

  part "ratelimit" (baseline: plain)
    plain            FlaskppRoute GET /plain handler health
    limited          the same route + FlaskppRateLimit /limited "1000000000/hour" (never refuses:
                     what is measured is the counting; every client is 127.0.0.1, so all requests
                     update one counter under the global mutex, the worst case for contention)
    limited sliding  + strategy=sliding-window (two counters read per request)
    limited by key   + key=header:X-Api-Key (1000 distinct keys, so 1000 counters in shmcb)
  part "session" (baseline: page) - needs FlaskppSecretKey; skipped with a note when the module
  at hand refuses the directive (sessions not merged yet)
    page             a template route, rendered each time (it names `request`, so not page-cached)
    page + cookie    the same route, requested with a valid session cookie it does not use
    session page     the same template plus {{session.user}}, requested with that cookie
  FlaskppSecretKey env:FLASKPP_BENCH_KEY, a fresh 48-character key exported to Apache; the cookie
  is signed here exactly as core/session.cpp signs it (checked against the known answer of
  tests/unit/session_test.cpp at start) and the session page must show the user from it.

wrk -t2 -cC keep-alive, the same Lua script for every row (each request carries one of 1000
X-Api-Key values; the session rows add their Cookie). After a 1 s warm-up per row, ROUNDS rounds
of S seconds per row, rows interleaved (A B C, then C B A, ...) so that drift on a shared machine
hits every row alike. Per row: median requests/s and median server CPU per request (user+system
CPU of Apache's parent and children from /proc over the run / requests; it moves far less than
requests/s when wrk and other work share the CPUs). Per feature row: the median over the rounds
of (row / baseline of the same round), for both, and the CPU microseconds it adds per request.
Nothing is asserted on speed. Exit status 1 only when a check fails: a non-2xx answer, a wrk
timeout (no answer within 10 s), more than one connect/read/write socket error per 20,000 requests
of a row, a child of Apache that died (the children's pids at the end must be those at the start:
no process churn is configured), a limited route without X-RateLimit-Limit, a session page without
the cookie's user, or an [error]/[warn]/"exit signal" line in error_log. A few read errors are not a
finding by themselves: the event MPM closes idle keep-alive connections when a child's workers are
all busy ("so that they may connect to another process"), and a request wrk sends in that instant
fails; the table shows every socket error by kind. Writes bench/results/<date>_<commit>_overhead.{md,json}.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from it_helpers import ApacheDidNotStart, PrivateApache, wait_until  # noqa: E402  (the private Apache)

HTTPD = "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
KEY_ENV = "FLASKPP_BENCH_KEY"
SESSION_USER = "bench-user-7f3a"
API_KEYS = 1000
WARMUP_S = 1
# Connect/read/write socket errors a row may have, per request (see the docstring); timeouts: none.
SOCKET_ERRORS_PER_REQUEST = 1.0 / 20000
BAD_LINE = re.compile(r"\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]|exit signal|Segmentation fault")

# The same MPM settings as harness.py's Apache targets: 4 processes x 50 threads, no process
# churn (so the CPU of the process tree is complete), unlimited keep-alive, no access log.
# `Mutex file:` is also what Debian's stock apache2.conf sets, so the rate limiter's global mutex
# is the fcntl lock a Debian install would use.
CONF = """{head}ServerLimit 4
StartServers 4
ThreadsPerChild 50
MaxRequestWorkers 200
MinSpareThreads 50
MaxSpareThreads 200
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
ErrorLog "{root}/logs/error_log"
LogLevel warn

# fail=closed: a failing counter store answers 503, which fails the run, instead of serving
# unlimited (fail=open) and so measuring nothing.
FlaskppRateLimitCache shm fail=closed
FlaskppRoute GET /plain handler health
FlaskppRoute GET /limited handler health
FlaskppRoute GET /limited-sliding handler health
FlaskppRoute GET /limited-key handler health
FlaskppRateLimit /limited "1000000000/hour"
FlaskppRateLimit /limited-sliding "1000000000/hour" strategy=sliding-window
FlaskppRateLimit /limited-key "1000000000/hour" key=header:X-Api-Key
{sessions}"""

SESSIONS_CONF = """
FlaskppSecretKey env:{key_env}
FlaskppTemplateDir "{root}/templates"
FlaskppConfig TITLE "Bench page"
FlaskppConfig GREETING "Welcome back"
FlaskppConfig ITEMS '["item 0","item 1","item 2","item 3","item 4","item 5","item 6","item 7","item 8","item 9"]'
FlaskppRoute GET /page template page.mustache
FlaskppRoute GET /page-session template page_session.mustache
"""

# bench/app/templates/page_uncached.mustache without the route parameter: {{#request}} keeps it
# out of the page cache, so both templates are rendered on every request and differ only by
# the session line.
PAGE = """<!doctype html>
<title>{{config.TITLE}}</title>
<h1>Hello!</h1>
<p>{{config.GREETING}}</p>
<ul>{{#config.ITEMS}}<li>{{.}}</li>{{/config.ITEMS}}</ul>{{#request}}{{/request}}
"""
PAGE_SESSION = PAGE + "<p>Signed in as {{session.user}}</p>\n"

# One of 1000 X-Api-Key values per request, drawn from requests formatted once per wrk thread.
# Formatted in init(): wrk sets the Host header only then.
WRK_LUA = """local reqs = {{}}
init = function(args)
  for i = 1, {keys} do
    local h = {{["X-Api-Key"] = "bench-key-" .. i}}
{extra}    reqs[i] = wrk.format("GET", {path}, h)
  end
end
request = function()
  return reqs[math.random({keys})]
end
"""


# --- Signed cookies, as mod_flaskpp/core/session.cpp makes them ------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def sign_session(secret, session, now_s):
    """base64url(JSON) "." base64url(big-endian seconds, leading zero bytes dropped) "."
    base64url(HMAC-SHA256(HMAC-SHA256(secret, "cookie-session"), first two parts)); no padding."""
    derived = hmac.new(secret, b"cookie-session", hashlib.sha256).digest()
    payload = json.dumps(session, separators=(",", ":")).encode()
    signed = b64url(payload) + b"." + b64url(now_s.to_bytes((now_s.bit_length() + 7) // 8, "big"))
    return (signed + b"." + b64url(hmac.new(derived, signed, hashlib.sha256).digest())).decode()


def check_known_answer():
    # tests/unit/session_test.cpp, TEST(Session, KnownAnswerHmac).
    want = "eyJ1c2VyIjoiYWxpY2UiLCJuIjoxfQ.ZVPxAA.Y8VTrjETH6yxBDwpLgFCrAJ-cw3LNHN3QuPUacNgkNk"
    got = sign_session(b"0123456789abcdef0123456789abcdef", {"user": "alice", "n": 1}, 1700000000)
    if got != want:
        raise SystemExit("sign_session does not reproduce session_test.cpp's known answer: %s" % got)


# --- The private Apache ----------------------------------------------------------------------

def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


class Server(PrivateApache):
    def __init__(self, module, cookie_name, skip):
        secret = secrets.token_urlsafe(36)  # 48 characters
        super().__init__("overhead-bench", self.make_conf, dirs=("templates",), env={KEY_ENV: secret},
                         httpd=HTTPD, health="/plain", stop_timeout=10)
        for name, text in (("page.mustache", PAGE), ("page_session.mustache", PAGE_SESSION)):
            with open(os.path.join(self.root, "templates", name), "w") as f:
                f.write(text)
        subprocess.run(["chmod", "-R", "a+rX", self.root], check=True)
        self.choose_ports()
        self.module = module
        self.cookie_name = cookie_name
        self.secret = secret
        self.sessions = "session" not in skip
        self.sessions_note = "skipped (--skip)" if not self.sessions else ""
        if self.sessions:
            self.write_conf()
            res = self.httpd("-t")
            if res.returncode != 0 and "FlaskppSecretKey" in res.stdout + res.stderr and \
                    "Invalid command" in res.stdout + res.stderr:
                self.sessions = False
                self.sessions_note = ("skipped: this mod_flaskpp.so does not know FlaskppSecretKey "
                                      "(sessions not merged yet)")
        self.write_conf()
        res = self.httpd("-t")
        if res.returncode != 0:
            self.remove()
            raise SystemExit("httpd -t refuses the generated configuration:\n%s%s" % (res.stdout, res.stderr))

    def make_conf(self, _):
        extra = SESSIONS_CONF.format(key_env=KEY_ENV, root=self.root) if self.sessions else ""
        return CONF.format(head=self.conf_head(("mpm_event", "authz_core"), self.module, MODULES), root=self.root,
                           sessions=extra)

    def start(self):
        try:
            super().start(configured=True)  # the configuration checked above
        except ApacheDidNotStart as e:
            raise SystemExit(str(e))

    def pids(self):
        parent = self.parent_pid()
        out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
        return [parent] + [int(p) for p, pp in (l.split() for l in out.splitlines() if l.strip())
                           if int(pp) == parent]

    def cpu_seconds(self):
        return sum(cpu_ticks(p) for p in self.pids()) / float(os.sysconf("SC_CLK_TCK"))

    def stop(self):
        super().stop()
        self.remove()


# --- Rows, checks, measurement ---------------------------------------------------------------

def rows(server):
    """(part, name, path, extra headers, baseline name or None)."""
    out = [("ratelimit", "plain", "/plain", {}, None),
           ("ratelimit", "limited (fixed window, by address)", "/limited", {}, "plain"),
           ("ratelimit", "limited sliding-window", "/limited-sliding", {}, "plain"),
           ("ratelimit", "limited key=header:X-Api-Key (1000 keys)", "/limited-key", {}, "plain")]
    if server.sessions:
        cookie = {"Cookie": "%s=%s" % (server.cookie_name, sign_session(
            server.secret.encode(), {"user": SESSION_USER}, int(time.time())))}
        out += [("session", "page", "/page", {}, None),
                ("session", "page + session cookie (not used)", "/page", cookie, "page"),
                ("session", "session page ({{session.user}}) + cookie", "/page-session", cookie, "page")]
    return out


def fetch(url, headers):
    req = urllib.request.Request(url, headers=dict(headers, **{"X-Api-Key": "bench-key-1"}))
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.headers, res.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def check_row(server, name, path, headers, baseline):
    status, hdrs, body = fetch(server.url(path), headers)
    if status != 200:
        return "%s: GET %s answered %d: %s" % (name, path, status, body[:200])
    limited = path.startswith("/limited")
    if limited != (hdrs.get("X-RateLimit-Limit") is not None):
        return "%s: GET %s %s X-RateLimit-Limit" % (name, path, "lacks" if limited else "has")
    if path == "/page-session" and SESSION_USER not in body:
        return ("%s: the page does not show the cookie's user (cookie name %r?): %s"
                % (name, server.cookie_name, body[-200:]))
    return ""


def wrk_script(root, index, path, headers):
    extra = "".join("    h[%s] = %s\n" % (json.dumps(k), json.dumps(v)) for k, v in headers.items())
    name = os.path.join(root, "row%d.lua" % index)
    with open(name, "w") as f:
        f.write(WRK_LUA.format(keys=API_KEYS, extra=extra, path=json.dumps(path)))
    return name


def parse_wrk(out):
    res = {"requests": 0, "rps": 0.0, "non2xx": 0, "socket_errors": 0,
           "by_kind": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["by_kind"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
        res["socket_errors"] = sum(res["by_kind"].values())
    return res


def run_wrk(server, url, script, conns, seconds):
    cmd = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--timeout", "10s", "-s", script, url]
    cpu0 = server.cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    cpu1 = server.cpu_seconds()
    res = parse_wrk(out)
    res["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / res["requests"] if res["requests"] else None
    return res


def summarize(table, runs):
    """Medians per row; per feature row the median over rounds of the ratio to its baseline of the
    same round (requests/s and CPU) and of the CPU microseconds added."""
    by_name = {r[1]: i for i, r in enumerate(table)}
    out = []
    for i, (part, name, path, _, base) in enumerate(table):
        mine = runs[i]
        row = {"part": part, "name": name, "path": path, "baseline": base,
               "rps": statistics.median(m["rps"] for m in mine),
               "cpu_us_per_req": statistics.median(m["cpu_us_per_req"] or 0.0 for m in mine),
               "requests": sum(m["requests"] for m in mine),
               "non2xx": sum(m["non2xx"] for m in mine),
               "socket_errors": sum(m["socket_errors"] for m in mine),
               "socket_errors_by_kind": {k: sum(m["by_kind"][k] for m in mine)
                                         for k in ("connect", "read", "write", "timeout")},
               "rounds": mine}
        if base is not None:
            theirs = runs[by_name[base]]
            pairs = list(zip(mine, theirs))
            row["rps_ratio"] = statistics.median(a["rps"] / b["rps"] for a, b in pairs if b["rps"])
            cpu = [(a["cpu_us_per_req"], b["cpu_us_per_req"]) for a, b in pairs
                   if a["cpu_us_per_req"] and b["cpu_us_per_req"]]
            row["cpu_ratio"] = statistics.median(a / b for a, b in cpu) if cpu else None
            row["cpu_us_added"] = statistics.median(a - b for a, b in cpu) if cpu else None
        out.append(row)
    return out


def commit_id():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def sock_err_cell(r):
    kinds = ", ".join("%s %d" % (k, n) for k, n in r["socket_errors_by_kind"].items() if n)
    return "%d (%s)" % (r["socket_errors"], kinds) if kinds else "0"


def row_failure(r):
    """Why a row fails the run, or None (see the docstring)."""
    kinds = r["socket_errors_by_kind"]
    allowed = int(r["requests"] * SOCKET_ERRORS_PER_REQUEST)
    if r["non2xx"] or kinds["timeout"] or r["socket_errors"] - kinds["timeout"] > allowed:
        return "%s: %d non-2xx answers, socket errors %s in %d requests (allowed: no non-2xx, no timeout, " \
               "at most %d others)" % (r["name"], r["non2xx"], sock_err_cell(r), r["requests"], allowed)
    return None


def report(results, args, notes, module):
    date = datetime.date.today().isoformat()
    commit = commit_id()
    version = subprocess.run([HTTPD, "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    lines = ["Measured %s, commit %s, %s, %d vCPU shared by wrk and the server (and whatever else runs: "
             "a noisy machine gives noisy req/s; the CPU columns move less). One Apache (event, 4 x 50 threads), "
             "wrk -t2 -c%d keep-alive, %d interleaved rounds of %d s per row, medians; ratios are the median of "
             "row / baseline within each round." % (date, commit, version.replace("Server version: ", ""),
                                                    os.cpu_count(), args.conns, args.rounds, args.duration),
             "", "| row | req/s | x baseline | server CPU us/req | x baseline | added CPU us/req | non-2xx | sock err |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        base = r["baseline"] is None
        lines.append("| %s%s | %.0f | %s | %.1f | %s | %s | %d | %s |" % (
            r["name"], " (baseline)" if base else "", r["rps"],
            "-" if base else "%.3f" % r["rps_ratio"], r["cpu_us_per_req"],
            "-" if base or r["cpu_ratio"] is None else "%.3f" % r["cpu_ratio"],
            "-" if base or r["cpu_us_added"] is None else "%+.1f" % r["cpu_us_added"],
            r["non2xx"], sock_err_cell(r)))
    write_results("overhead", "\n".join(lines + [""] + notes), {
        "date": date, "commit": commit, "cpus": os.cpu_count(), "module": module, "conns": args.conns,
        "duration_s": args.duration, "rounds": args.rounds, "results": results, "notes": notes})


def write_results(kind, text, data):
    """Prints TEXT and writes it and DATA (JSON) to bench/results/<date>_<commit>_KIND.{md,json}."""
    print()
    print(text)
    out = os.path.join(HERE, "results")
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, "%s_%s_%s" % (data["date"], data["commit"], kind))
    with open(stem + ".md", "w") as f:
        f.write(text + "\n")
    with open(stem + ".json", "w") as f:
        json.dump(data, f, indent=1)
    print("\nwritten: %s.md and .json" % stem)


def bench_arguments(doc):
    """The arguments this bench and bench/scaling.py share: BUILD (a build directory or the .so),
    --duration, --rounds, --conns; the caller adds its own and calls module_of(args)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("build", nargs="?", default=os.environ.get("FLASKPP_BUILD", os.path.join(REPO, "build")),
                    help="build directory holding mod_flaskpp.so, or the .so itself")
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", "10")),
                    help="seconds per wrk run (default: BENCH_DURATION, else 10)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=50)
    return ap


def module_of(args):
    """The mod_flaskpp.so that args.build names; exits when there is none."""
    module = os.path.abspath(args.build)
    if os.path.isdir(module):
        module = os.path.join(module, "mod_flaskpp.so")
    if not os.path.exists(module):
        raise SystemExit("no %s" % module)
    return module


def main():
    ap = bench_arguments(__doc__)
    ap.add_argument("--skip", default="", help="parts to leave out: ratelimit, session (BENCH_SKIP's words)")
    ap.add_argument("--cookie-name", default="session")
    args = ap.parse_args()
    module = module_of(args)
    check_known_answer()
    server = Server(module, args.cookie_name, args.skip)
    notes = []
    if server.sessions_note:
        notes.append("sessions: " + server.sessions_note + ".")
        print("note: sessions " + server.sessions_note, flush=True)
    table = [r for r in rows(server) if r[0] not in args.skip]
    if not table:
        print("overhead bench: every part skipped")
        shutil.rmtree(server.root, ignore_errors=True)
        return 0
    failures = []
    work = tempfile.mkdtemp(prefix="flaskpp-overhead-wrk.")
    try:
        server.start()
        # All 4 children (StartServers): the first may answer while the last is still forking.
        if not wait_until(lambda: len(server.pids()) == 5, 20):
            raise SystemExit("Apache did not start its 4 children: %s" % server.pids())
        children = sorted(server.pids()[1:])
        for _, name, path, headers, base in table:
            why = check_row(server, name, path, headers, base)
            if why:
                failures.append(why)
        if failures:
            raise SystemExit("checks failed:\n  " + "\n  ".join(failures))
        scripts = [wrk_script(work, i, r[2], r[3]) for i, r in enumerate(table)]
        for i, r in enumerate(table):
            run_wrk(server, server.url(r[2]), scripts[i], args.conns, WARMUP_S)
        runs = [[] for _ in table]
        for k in range(args.rounds):
            order = list(range(len(table)))
            if k % 2:
                order.reverse()
            for i in order:
                runs[i].append(run_wrk(server, server.url(table[i][2]), scripts[i], args.conns, args.duration))
            print("round %d: " % (k + 1) + ", ".join(
                "%s %.0f req/s %.1f us" % (table[i][1], runs[i][-1]["rps"], runs[i][-1]["cpu_us_per_req"] or 0)
                for i in range(len(table))), flush=True)
        bad = [l for l in server.log_text().splitlines() if BAD_LINE.search(l)]
        now = sorted(server.pids()[1:])
        if now != children:
            failures.append("Apache's children changed during the run (a child died?): %s at the start, %s at "
                            "the end" % (children, now))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    results = summarize(table, runs)
    for r in results:
        why = row_failure(r)
        if why:
            failures.append(why)
    if bad:
        failures.append("error_log:\n    " + "\n    ".join(bad[:10]))
    report(results, args, notes, module)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
