#!/usr/bin/env bash
# The benchmark suite, one command: installs what it needs (Debian's wrk, mod_wsgi, Flask,
# gunicorn, Google Benchmark, valgrind), builds, then runs
#   1. harness.py    wrk --latency at 50 and 200 connections against every target, one private
#                    server each (Apache static file, a C handler module, mod_lua, Flask under
#                    mod_wsgi and gunicorn, mod_flaskpp's routes); ratios against baselines of the
#                    same run; markdown + JSON in bench/results/
#   2. callgrind.py  instructions per request under callgrind (stable on noisy machines)
#   3. micro_bench   Google Benchmark of the core (routing, templates, JSON, multipart)
#   4. jobs_bench.py trivial-job throughput (accepted and done per second under wrk) and latency
#                    from creation to completion at light load (issue 8)
#   5. model_memory.py  whole-server PSS with a 64 MiB model loaded by a plugin's on_start, 4
#                    children, against none (issue 8: < 1.3x the model's size; exits 1 otherwise)
#   6. overhead_bench.py  per-request cost of rate limiting (fixed and sliding window, by address
#                    and by header) and of signed cookie sessions, against the same route without
#                    them, rows interleaved over 3 rounds in one private Apache: req/s and server CPU
#                    per request as ratios to the baseline of each round (parts "ratelimit" and
#                    "session"; the session part is skipped with a note when the module does not
#                    know FlaskppSecretKey)
#   7. scaling.py    issue 12: what a Redis rate-limit store adds per request against the shm store
#                    (req/s, p50/p99, server and redis-server CPU per request), and req/s of 1 vs 2
#                    mod_flaskpp instances behind the mod_proxy_balancer front of
#                    conf/balancer-flaskpp.conf (all on this machine's CPUs, so not a multi-host
#                    figure); rows interleaved over 3 rounds; exits 1 on a non-2xx, an error_log
#                    line or a backend without its share (BENCH_SKIP=scaling leaves it out)
# Environment: BENCH_DURATION (seconds per wrk run, default 8), BENCH_SKIP (e.g. "callgrind,micro,jobs,memory,overhead";
# "ratelimit" or "session" leave out one part of overhead_bench.py),
# BENCH_ONLY (comma-separated parts of target names for harness.py and callgrind.py, e.g. "predict"),
# BENCH_PREBUILT=1 (use FLASKPP_BUILD as it is: no setup.sh, no cmake, no plugin build).
#
# Predict rows (issue 8), group "predict": the demo's digit classifier, examples/digits, loaded with
#   FlaskppPlugin digits BUILD/examples/digits/digits.so model=models/digits/weights.json
#   FlaskppRoute POST /api/predict-now handler predict
# (normal and quick handler), against bench/app/flask_digits.py: Flask 2.2 + sklearn 1.2 (Debian)
# with the same weights in a multinomial LogisticRegression, predict_proba, the plugin's 422 checks,
# under mod_wsgi daemon (2 x 25 threads) and gunicorn gthread (2 x 25), as the other Flask rows.
# Every target gets the same JSON body, a held-out "3" of sklearn's digits (harness.PREDICT_BODY),
# POSTed by wrk with Content-Type application/json. Before measuring, each Flask target must answer
# as mod_flaskpp does on 17 inputs (10 valid: digit equal, probabilities within 1e-9; 7 invalid:
# the same status, 422), and mod_flaskpp must match the predict_proba stored in
# models/digits/heldout.json. The table is followed by "mod_flaskpp / best Flask row" per connection
# count (the issue's goal: >= 10x), on requests/s and on server CPU per request (last column of
# every row: user+system CPU of the server's process tree over the run / requests; it moves less
# than requests/s when wrk and other work share the CPUs). callgrind.py adds instructions per
# request for both predict rows. Without BUILD/examples/digits/digits.so (scripts/build-examples.sh)
# the rows are skipped. Measured: bench/results/2026-11-26_issue8_predict.md.
# Jobs (issue 8): bench/jobs_bench.py, measured in bench/results/2026-11-26_issue8_jobs.md; the
# model's memory: bench/model_memory.py, in bench/results/2026-11-26_issue8_model_memory.md.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FLASKPP_BUILD:-$ROOT/build}
SKIP=${BENCH_SKIP:-}

ONLY=${BENCH_ONLY:-}

[ "${BENCH_PREBUILT:-}" = 1 ] || "$ROOT/scripts/setup.sh"
need=()
for p in wrk libapache2-mod-wsgi-py3 python3-flask python3-sklearn gunicorn libbenchmark-dev valgrind; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
if [ "${BENCH_PREBUILT:-}" != 1 ]; then
  cmake -S "$ROOT" -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" >/dev/null
  # The example plugins (the predict rows need examples/digits).
  if [ -x "$ROOT/scripts/build-examples.sh" ]; then
    "$ROOT/scripts/build-examples.sh" "$BUILD"
  fi
fi

/usr/bin/python3 "$ROOT/bench/harness.py" "$BUILD" --duration "${BENCH_DURATION:-8}" --only "$ONLY"
if [[ "$SKIP" != *callgrind* ]]; then
  /usr/bin/python3 "$ROOT/bench/callgrind.py" "$BUILD" --requests 500 --only "$ONLY"
fi
if [[ "$SKIP" != *micro* ]] && [ ! -x "$BUILD/bench/micro_bench" ]; then
  echo "no $BUILD/bench/micro_bench: micro-benchmarks skipped"
elif [[ "$SKIP" != *micro* ]]; then
  commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  "$BUILD/bench/micro_bench" --benchmark_min_time=0.5 | tee "$ROOT/bench/results/$(date +%F)_${commit}_micro.txt"
fi
if [[ "$SKIP" != *jobs* ]]; then
  /usr/bin/python3 "$ROOT/bench/jobs_bench.py" "$BUILD" --seconds "${BENCH_DURATION:-8}" --light 200
fi
if [[ "$SKIP" != *memory* ]]; then
  /usr/bin/python3 "$ROOT/bench/model_memory.py" "$BUILD"
fi
if [[ "$SKIP" != *overhead* ]]; then
  /usr/bin/python3 "$ROOT/bench/overhead_bench.py" "$BUILD" --duration "${BENCH_DURATION:-8}" --skip "$SKIP"
fi
if [[ "$SKIP" != *scaling* ]]; then
  /usr/bin/python3 "$ROOT/bench/scaling.py" "$BUILD" --duration "${BENCH_DURATION:-8}"
fi
