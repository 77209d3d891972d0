#!/usr/bin/python3
"""Memory cost of a model loaded by a plugin's on_start, across Apache's children.

  bench/model_memory.py [BUILD_DIR]        (as root: the children run as www-data)

A plugin's on_start runs once in Apache's parent after configuration; what it loads is shared
copy-on-write by every child. This script measures it: for size_mb in (0, 64) it generates a
private Apache (own ServerRoot under /var/tmp, free loopback port, PidFile, runtime dir, mutexes,
error_log; never the system Apache) with the event MPM and EXACTLY 4 children that stay
(StartServers = ServerLimit = 4, ThreadsPerChild 25, Min/MaxSpareThreads 100), and
`FlaskppPlugin bigmodel BUILD_DIR/test-plugins/bigmodel.so size_mb=N` (tests/plugins/
bigmodel_plugin.cpp: N MiB of pseudo-random 64-bit words written in on_start; `bigmodel.sum`
reads all of them). It then
  1. sends concurrent GET /sum (one connection per request) until each of the 4 children has
     answered several of them (the "pid" field), so each child has read the whole model;
  2. sums Pss, Rss, Private_Dirty (and Shared_Dirty, AnonHugePages) over the parent and the
     4 children from /proc/PID/smaps_rollup, prints a table;
  3. stops the instance (-k stop, waits for the parent to exit) and removes its directory.
Finally it prints the whole server's PSS without and with the model, the difference in MiB, the
ratio difference / 64 MiB, and what 4 private copies (4 workers without preload) would cost.

Exit status: 0 if the ratio is < 1.3 (the issue's goal), 1 if it is >= 1.3, 2 if the
measurement could not be made (Apache did not start, not 4 children, a child never answered...).
"""
import concurrent.futures
import os
import re
import sys
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from it_helpers import ApacheDidNotStart, PrivateApache, wait_until  # noqa: E402  (the private Apache)

HTTPD = "/usr/sbin/apache2"
MODULES_DIR = "/usr/lib/apache2/modules"
CHILDREN = 4
MODEL_MB = 64
GOAL_RATIO = 1.3
REQUESTS_PER_CHILD = 5        # each child answers at least this many GET /sum
CONCURRENCY = 16
FIELDS = ("Rss", "Pss", "Private_Dirty", "Shared_Dirty", "AnonHugePages")
BAD_LINE = re.compile(r"\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]|exit signal|Segmentation fault")

CONF = """{head}
# Exactly {children} children that stay: all started at once, none added (ServerLimit), none
# stopped as idle (MaxSpareThreads >= all threads), none recycled (MaxConnectionsPerChild 0).
StartServers {children}
ServerLimit {children}
ThreadsPerChild 25
MinSpareThreads 100
MaxSpareThreads 100
MaxRequestWorkers 100
MaxConnectionsPerChild 0

ErrorLog "{root}/logs/error_log"
LogLevel warn flaskpp:info
DocumentRoot "{root}/htdocs"
<Directory />
    AllowOverride None
    Require all denied
</Directory>

FlaskppPlugin bigmodel "{plugin}" size_mb={size_mb}
FlaskppRoute GET /sum handler bigmodel.sum
FlaskppRoute GET /health handler health
"""


class Failure(Exception):
    """The measurement could not be made (exit status 2)."""


def smaps_rollup(pid):
    """The FIELDS of /proc/PID/smaps_rollup, in KiB."""
    out = dict.fromkeys(FIELDS, 0)
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].rstrip(":") in out:
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


class Instance(PrivateApache):
    def __init__(self, build, size_mb):
        super().__init__("modelmem", self.make_conf, dirs=("htdocs",), httpd=HTTPD, start_timeout=30,
                         stop_timeout=20)
        self.size_mb = size_mb
        self.module = os.path.join(build, "mod_flaskpp.so")
        self.plugin = os.path.join(build, "test-plugins", "bigmodel.so")
        self.pid = None

    def make_conf(self, _):
        return CONF.format(head=self.conf_head(("mpm_event", "authz_core"), self.module, MODULES_DIR),
                           root=self.root, plugin=self.plugin, size_mb=self.size_mb, children=CHILDREN)

    def children(self):
        return sorted(super().children())

    def start(self):
        try:
            super().start()
        except ApacheDidNotStart as e:
            raise Failure(str(e))
        self.pid = self.parent_pid()
        # All 4 children up (and no more): the event MPM starts them at once.
        if not wait_until(lambda: len(self.children()) == CHILDREN, 20):
            raise Failure("expected %d children, found %s" % (CHILDREN, self.children()))

    def stop(self):
        pid = super().stop()
        if pid and os.path.exists("/proc/%d" % pid):
            raise Failure("Apache parent %d did not exit after -k stop" % pid)


def warm(inst):
    """GET /sum, one connection per request, until every child has answered REQUESTS_PER_CHILD.
    Returns {pid: requests answered}."""
    children = set(inst.children())
    served = dict.fromkeys(children, 0)
    words = inst.size_mb * (1 << 20) // 8

    def one(_):
        r = requests.get(inst.url("/sum"), headers={"Connection": "close"}, timeout=30)
        r.raise_for_status()
        body = r.json()
        if body["words"] != words:
            raise Failure("/sum answered words=%s, expected %d" % (body["words"], words))
        return body["pid"]

    deadline = time.monotonic() + 120
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        while min(served.values()) < REQUESTS_PER_CHILD:
            if time.monotonic() > deadline:
                raise Failure("not every child answered %d GET /sum in 120 s: %s"
                              % (REQUESTS_PER_CHILD, served))
            for pid in pool.map(one, range(CONCURRENCY * 4)):
                if pid not in served:
                    raise Failure("/sum answered by pid %d, not one of the children %s"
                                  % (pid, sorted(children)))
                served[pid] += 1
    if set(inst.children()) != children:
        raise Failure("the children changed during the run: %s -> %s" % (sorted(children), inst.children()))
    return served


def measure(build, size_mb):
    """Starts an instance with a size_mb model, warms it, returns [(role, pid, served, smaps)]."""
    inst = Instance(build, size_mb)
    try:
        inst.start()
        served = warm(inst)
        time.sleep(0.5)  # let the requests' connections close
        pids = [("parent", inst.pid)] + [("child", p) for p in inst.children()]
        if len(pids) != CHILDREN + 1:
            raise Failure("expected %d children at measurement time, found %d" % (CHILDREN, len(pids) - 1))
        rows = [(role, pid, served.get(pid, 0), smaps_rollup(pid), model_mappings(pid, size_mb))
                for role, pid in pids]
        inst.stop()
        bad = [l for l in inst.log_text().splitlines() if BAD_LINE.search(l)]
        if bad:
            print("warning: error_log lines:\n  " + "\n  ".join(bad[:10]))
        inst.remove()
        return rows
    except BaseException:
        try:
            inst.stop()
        except Failure as e:
            print(e, file=sys.stderr)
        print("instance kept for inspection: %s" % inst.root, file=sys.stderr)
        raise


def mib(kib):
    return kib / 1024.0


def model_mappings(pid, size_mb):
    """Rss, Pss, Private_Dirty (KiB) of the anonymous mappings of at least size_mb MiB (the model:
    a std::vector that large is its own mmap), or None for size_mb 0."""
    if not size_mb:
        return None
    out, current, take = dict.fromkeys(("Rss", "Pss", "Private_Dirty"), 0), None, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                take = len(parts) == 5 and hi - lo >= size_mb << 20  # no path: anonymous
            elif take and parts[0].rstrip(":") in out:
                out[parts[0].rstrip(":")] += int(parts[1])
    return out


def print_table(size_mb, rows):
    print("\nmodel size_mb=%d: parent + %d children (KiB, /proc/PID/smaps_rollup)" % (size_mb, CHILDREN))
    head = "%-7s %8s %7s" % ("role", "pid", "/sum") + "".join(" %14s" % f for f in FIELDS)
    print(head)
    print("-" * len(head))
    for role, pid, served, s, _ in rows:
        print("%-7s %8d %7s" % (role, pid, served if role == "child" else "-")
              + "".join(" %14d" % s[f] for f in FIELDS))
    total = {f: sum(r[3][f] for r in rows) for f in FIELDS}
    print("%-7s %8s %7s" % ("total", "", "") + "".join(" %14d" % total[f] for f in FIELDS))
    print("%-7s %8s %7s" % ("(MiB)", "", "") + "".join(" %14.1f" % mib(total[f]) for f in FIELDS))
    if size_mb:
        print("the model's own mapping (anonymous, >= %d MiB), KiB:" % size_mb)
        for role, pid, _, _, m in rows:
            print("  %-7s %8d  Rss %7d  Pss %7d  Private_Dirty %7d"
                  % (role, pid, m["Rss"], m["Pss"], m["Private_Dirty"]))
    return total


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))
    if os.geteuid() != 0:
        print("run as root (the instance's children run as www-data)", file=sys.stderr)
        return 2
    for path in (os.path.join(build, "mod_flaskpp.so"), os.path.join(build, "test-plugins", "bigmodel.so")):
        if not os.path.exists(path):
            print("missing %s (build the module and the test plugins first)" % path, file=sys.stderr)
            return 2
    thp = ""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            thp = f.read().strip()
    except OSError:
        pass
    print("build: %s   children: %d   THP: %s" % (build, CHILDREN, thp or "?"))

    totals = {}
    try:
        for size_mb in (0, MODEL_MB):
            totals[size_mb] = print_table(size_mb, measure(build, size_mb))
    except Failure as e:
        print("measurement failed: %s" % e, file=sys.stderr)
        return 2

    without, with_ = totals[0], totals[MODEL_MB]
    diff = mib(with_["Pss"] - without["Pss"])
    ratio = diff / MODEL_MB
    print("\nwhole server (parent + %d children), PSS:" % CHILDREN)
    print("  without the model (size_mb=0):   %8.1f MiB" % mib(without["Pss"]))
    print("  with the model (size_mb=%d):     %8.1f MiB" % (MODEL_MB, mib(with_["Pss"])))
    print("  difference:                      %8.1f MiB  = %.3f x the model (%d MiB); goal < %.1f x"
          % (diff, ratio, MODEL_MB, GOAL_RATIO))
    print("  for comparison: %d private copies (%d workers without preload) = %d MiB = %.1f x"
          % (CHILDREN, CHILDREN, CHILDREN * MODEL_MB, float(CHILDREN)))
    print("  (RSS difference, which counts the shared model once per process: %.1f MiB;"
          " Private_Dirty difference: %.1f MiB)"
          % (mib(with_["Rss"] - without["Rss"]), mib(with_["Private_Dirty"] - without["Private_Dirty"])))
    if ratio >= GOAL_RATIO:
        print("FAIL: ratio %.3f >= %.1f" % (ratio, GOAL_RATIO))
        return 1
    print("OK: ratio %.3f < %.1f" % (ratio, GOAL_RATIO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
