#!/usr/bin/python3
"""Instructions per request, the stable figure on a noisy shared machine: one Apache (-X, one
process) under valgrind --tool=callgrind with instrumentation off until each measurement; for each
target the counters are zeroed, N requests are sent on one keep-alive connection, and the dump's
total Ir is divided by N. Writes bench/results/<date>_<commit>_callgrind.{md,json}.

Usage: bench/callgrind.py BUILD_DIR [--requests N]
"""
import argparse
import datetime
import glob
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (shares the configuration of the wrk runs)


def vhost(port, body):
    return "Listen 127.0.0.1:%d\n<VirtualHost 127.0.0.1:%d>\n%s\n</VirtualHost>\n" % (port, port, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--only", default="", help="comma-separated parts of target names")
    ap.add_argument("--keep", help="copy the callgrind output files to this directory")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    harness.build_c_module(build)
    root = tempfile.mkdtemp(prefix="flaskpp-callgrind-", dir="/var/tmp")
    os.chmod(root, 0o755)
    os.makedirs(os.path.join(root, "htdocs"))
    os.makedirs(os.path.join(root, "uploads"))
    shutil.chown(os.path.join(root, "uploads"), "www-data", "www-data")
    shutil.copytree(os.path.join(harness.HERE, "app", "templates"), os.path.join(root, "templates"))
    with open(os.path.join(root, "htdocs", "health.json"), "wb") as f:
        f.write(harness.JSON_BYTES)
    ports = [harness.free_port() for _ in range(6)]
    os.makedirs(os.path.join(root, "app"))
    shutil.copy(harness.WEIGHTS, os.path.join(root, "app", "digits_weights.json"))
    # The predict-now targets (issue 8) need the digits plugin (scripts/build-examples.sh); it is
    # loaded in the main server, its route only in the last two virtual hosts.
    digits = os.path.exists(harness.DIGITS_SO.format(build=build))
    predict_conf = harness.PREDICT_CONF.format(root=root, build=build).split("\n")
    common = harness.APACHE_COMMON.format(root=root, port=ports[0], modules=harness.MODULES)
    flaskpp_lines = harness.FLASKPP.format(root=root, build=build, extra="").split("\n")
    load = [l for l in flaskpp_lines if l.startswith("LoadModule")]
    app_conf = "\n".join(l for l in flaskpp_lines if not l.startswith("LoadModule"))
    routes100 = "\n".join("FlaskppRoute GET /bench/r%d/<int:id> handler echo" % i for i in range(100))
    conf = common + "\n".join(load) + "\n" + (predict_conf[0] + "\n" if digits else "") + \
        "LoadModule bench_c_module \"%s/bench/mod_bench_c.so\"\nBenchCBody \"%s/htdocs/health.json\"\n" % (build, root) + \
        "<Location /c/json>\n    SetHandler bench_c\n</Location>\n" + \
        vhost(ports[1], app_conf) + \
        vhost(ports[2], app_conf + "\nFlaskppQuickHandler On\n") + \
        vhost(ports[3], app_conf + "\n" + routes100 + "\nFlaskppRoute GET /bench/last handler health\n")
    if digits:
        conf += vhost(ports[4], app_conf + "\n" + predict_conf[1] + "\n") + \
            vhost(ports[5], app_conf + "\n" + predict_conf[1] + "\nFlaskppQuickHandler On\n")
    with open(os.path.join(root, "httpd.conf"), "w") as f:
        f.write(conf)
    outdir = os.path.join(root, "out")
    os.makedirs(outdir)
    os.chmod(outdir, 0o777)  # the measured process runs as www-data after startup
    targets = [
        ("static file", ports[0], "GET", "/health.json", None),
        ("C handler module", ports[0], "GET", "/c/json", None),
        ("mod_flaskpp JSON route", ports[1], "GET", "/health", None),
        ("mod_flaskpp JSON route, quick handler", ports[2], "GET", "/health", None),
        ("mod_flaskpp JSON route after 100 routes", ports[3], "GET", "/bench/last", None),
        ("mod_flaskpp template route", ports[1], "GET", "/page/World", None),
        ("mod_flaskpp template route, quick handler", ports[2], "GET", "/page/World", None),
        ("mod_flaskpp template route, not cacheable", ports[1], "GET", "/page-uncached/World", None),
        ("mod_flaskpp echo (JSON body)", ports[1], "POST", "/api/echo", harness.ECHO_BODY),
    ]
    if digits:
        targets += [("mod_flaskpp predict-now (digits plugin)", ports[4], "POST", "/api/predict-now",
                     harness.PREDICT_BODY),
                    ("mod_flaskpp predict-now, quick handler", ports[5], "POST", "/api/predict-now",
                     harness.PREDICT_BODY)]
    else:
        print("skipped the predict-now targets: no %s (scripts/build-examples.sh builds it)"
              % harness.DIGITS_SO.format(build=build))
    results = []
    try:
        for name, port, method, path, body in targets:
            if args.only and not any(o.strip().lower() in name.lower() for o in args.only.split(",")):
                continue
            # One run per target: only requests inside ap_process_async_request are counted (the
            # whole request after its headers were read: hooks, handler, filters, logging), and
            # every request the server sees in that run is this target's request.
            out = os.path.join(outdir, "cg.%d" % len(results))
            proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--collect-atstart=no",
                                     "--toggle-collect=ap_process_async_request", "--callgrind-out-file=" + out,
                                     "/usr/sbin/apache2", "-X", "-f", os.path.join(root, "httpd.conf")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            served = 0
            conn = None
            try:
                deadline = time.time() + 180
                while True:
                    try:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                        headers = {"Content-Type": "application/json"} if body else {}
                        conn.request(method, path, body=body, headers=headers)
                        res = conn.getresponse()
                        res.read()
                        if res.status != 200:
                            raise RuntimeError("%s answered %d" % (name, res.status))
                        served += 1
                        # valgrind created the output file as root before Apache switched to
                        # www-data, which must write it at exit.
                        shutil.chown(out, "www-data", "www-data")
                        break
                    except (ConnectionError, OSError, http.client.HTTPException):
                        if time.time() > deadline:
                            raise RuntimeError("apache under valgrind did not answer")
                        time.sleep(0.5)
                for _ in range(args.requests + 20):
                    headers = {"Content-Type": "application/json"} if body else {}
                    conn.request(method, path, body=body, headers=headers)
                    res = conn.getresponse()
                    res.read()
                    served += 1
                conn.close()
            finally:
                proc.terminate()
                proc.wait(timeout=120)
            total = 0
            with open(out) as f:
                for line in f:
                    m = re.match(r"(?:summary|totals):\s+(\d+)", line)
                    if m:
                        total = int(m.group(1))
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                shutil.copy(out, os.path.join(args.keep, "callgrind.out." + re.sub(r"\W+", "_", name)))
            results.append({"name": name, "instructions_per_request": total // served, "requests": served})
            print("%-48s %10d instructions/request" % (name, total // served), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    c = next((r["instructions_per_request"] for r in results if r["name"] == "C handler module"), 0)
    date = datetime.date.today().isoformat()
    commit = harness.commit_id()
    lines = ["Measured %s, commit %s, about %d requests per target on one keep-alive connection, apache2 -X under "
             "callgrind, counting inside ap_process_async_request." % (date, commit, args.requests), "",
             "| target | instructions/request | x C handler |", "|---|---|---|"]
    for r in results:
        lines.append("| %s | %d | %s |" % (r["name"], r["instructions_per_request"],
                                         "%.2f" % (r["instructions_per_request"] / c) if c else "-"))
    table = "\n".join(lines)
    print("\n" + table)
    stem = os.path.join(harness.HERE, "results", "%s_%s_callgrind" % (date, commit))
    with open(stem + ".md", "w") as f:
        f.write(table + "\n")
    with open(stem + ".json", "w") as f:
        json.dump({"date": date, "commit": commit, "requests": args.requests, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
