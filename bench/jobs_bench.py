#!/usr/bin/python3
"""Background jobs through a real Apache: throughput and latency of a trivial job.

  bench/jobs_bench.py [BUILD_DIR] [--seconds S] [--light N] [--workers N (per child, default 2)]

A private Apache (own ServerRoot under /var/tmp, own port, PidFile, runtime dir, mutexes) runs
the module with `FlaskppRoute POST /job job health` (the built-in health handler as the job: the
job machinery is all that is measured), FlaskppJobWorkers 2 in each of 2 children, and a SQLite
store (sync=normal).

1. Throughput: wrk (2 threads, 16 connections, S seconds) POSTs jobs as fast as they are
   accepted; then the script waits until every job is done. Reported: jobs accepted per second
   (wrk's rate of 202 answers), jobs done per second end to end (all done jobs divided by the
   time from the first job's creation to the last one's completion, from the store's own
   timestamps), and the drain rate (the backlog left when wrk stops, worked off by the workers
   without submissions competing for the store's write lock).
2. Latency at light load: N jobs, one every 50 ms, from one client; for each, the time from its
   creation in the store (just before the 202) to its completion (the store's finished time).
   Reported: p50, p90, p99, max.

The issue's goals (2 vCPU): >= 1000 jobs/s accepted and done; p50 <= 20 ms at light load.
"""
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from it_helpers import ApacheDidNotStart, PrivateApache  # noqa: E402  (the private Apache)

HTTPD = "/usr/sbin/apache2"

CONF = """{head}StartServers 2
ServerLimit 2
ThreadsPerChild 25
MinSpareThreads 50
MaxSpareThreads 50
MaxRequestWorkers 50
ErrorLog "{root}/logs/error_log"
LogLevel warn
FlaskppJobStore sqlite:{root}/jobs/jobs.sqlite
FlaskppJobWorkers {workers}
FlaskppJobQueueMax 10000000
FlaskppRoute GET /health handler health
FlaskppRoute POST /job job health
FlaskppRoute GET /jobs/<uuid:id> job-status
"""

WRK_LUA = """wrk.method = "POST"
wrk.body = '{"n": 1}'
wrk.headers["Content-Type"] = "application/json"
"""


def percentile(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


class Server(PrivateApache):
    """The private Apache, started (an exit when it does not answer)."""

    def __init__(self, build, workers=2):
        super().__init__("jobs-bench", self.make_conf, httpd=HTTPD, stop_timeout=10)
        self.workers = workers
        self.module = os.path.join(build, "mod_flaskpp.so")
        self.db = os.path.join(self.root, "jobs", "jobs.sqlite")
        try:
            self.start()
        except ApacheDidNotStart as e:
            raise SystemExit(str(e))

    def make_conf(self, _):
        return CONF.format(head=self.conf_head(("mpm_event", "authz_core"), self.module), root=self.root,
                           workers=self.workers)

    def query(self, sql):
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def stop(self):
        super().stop()
        self.remove()


def throughput(server, seconds):
    lua = os.path.join(server.root, "post.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA)
    (before,), = server.query("SELECT COALESCE(MAX(created_ms), 0) FROM jobs")
    out = subprocess.run(["wrk", "-t2", "-c16", "-d%ds" % seconds, "-s", lua, server.url("/job")],
                         capture_output=True, text=True).stdout
    wrk_end_ms = int(time.time() * 1000)
    (done_at_end,), = server.query("SELECT COUNT(*) FROM jobs WHERE status = 'done' AND created_ms > %d" % before)
    accepted_rate = float(next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec:")))
    non2xx = sum(int(l.split()[-1]) for l in out.splitlines() if "Non-2xx" in l)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        (pending,), = server.query("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")
        if pending == 0:
            break
        time.sleep(0.2)
    (done, first, last), = server.query(
        "SELECT COUNT(*), MIN(created_ms), MAX(finished_ms) FROM jobs WHERE status = 'done' AND created_ms > %d" % before)
    (other,), = server.query("SELECT COUNT(*) FROM jobs WHERE status != 'done'")
    done_rate = done / ((last - first) / 1000.0) if last > first else 0.0
    # The backlog left when the submitting stops, worked off by the workers alone.
    drain_rate = (done - done_at_end) / ((last - wrk_end_ms) / 1000.0) if last > wrk_end_ms else 0.0
    return {"seconds": seconds, "accepted_per_s": round(accepted_rate), "non_2xx": non2xx, "done": done,
            "not_done": other, "done_per_s_end_to_end": round(done_rate),
            "drain_s": round((last - first) / 1000.0 - seconds, 2), "done_during_submission": done_at_end,
            "drain_per_s": round(drain_rate)}


def latency(server, n):
    ids = []
    session = requests.Session()
    for _ in range(n):
        r = session.post(server.url("/job"), json={"n": 1}, timeout=10)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
        time.sleep(0.05)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        (pending,), = server.query("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")
        if pending == 0:
            break
        time.sleep(0.1)
    wanted = ",".join("'%s'" % i for i in ids)
    rows = server.query("SELECT finished_ms - created_ms FROM jobs WHERE status = 'done' AND id IN (%s)" % wanted)
    ms = [r[0] for r in rows]
    return {"jobs": n, "done": len(ms), "p50_ms": percentile(ms, 50), "p90_ms": percentile(ms, 90),
            "p99_ms": percentile(ms, 99), "max_ms": max(ms), "mean_ms": round(statistics.mean(ms), 2)}


def main():
    args = sys.argv[1:]
    build = args[0] if args and not args[0].startswith("--") else os.path.join(os.path.dirname(__file__), "..", "build")
    seconds = int(args[args.index("--seconds") + 1]) if "--seconds" in args else 10
    light = int(args[args.index("--light") + 1]) if "--light" in args else 200
    workers = int(args[args.index("--workers") + 1]) if "--workers" in args else 2
    server = Server(os.path.abspath(build), workers)
    try:
        lat = latency(server, light)  # first, on an empty store
        thr = throughput(server, seconds)
    finally:
        server.stop()
    print(json.dumps({"latency_light_load": lat, "throughput": thr}, indent=2))
    ok = thr["not_done"] == 0 and thr["non_2xx"] == 0 and lat["done"] == lat["jobs"]
    print("goals: >= 1000 jobs/s accepted and done: %s / %s; p50 <= 20 ms: %s" %
          (thr["accepted_per_s"] >= 1000, thr["done_per_s_end_to_end"] >= 1000, lat["p50_ms"] <= 20))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
