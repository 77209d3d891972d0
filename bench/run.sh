#!/usr/bin/env bash
# The benchmark suite, one command: installs what it needs (Debian's wrk, mod_wsgi, Flask,
# gunicorn, Google Benchmark, valgrind), builds, then runs
#   1. harness.py    wrk --latency at 50 and 200 connections against every target, one private
#                    server each (Apache static file, a C handler module, mod_lua, Flask under
#                    mod_wsgi and gunicorn, mod_flaskpp's routes); ratios against baselines of the
#                    same run; markdown + JSON in bench/results/
#   2. callgrind.py  instructions per request under callgrind (stable on noisy machines)
#   3. micro_bench   Google Benchmark of the core (routing, templates, JSON, multipart)
# Environment: BENCH_DURATION (seconds per wrk run, default 8), BENCH_SKIP (e.g. "callgrind,micro").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FLASKPP_BUILD:-$ROOT/build}
SKIP=${BENCH_SKIP:-}

"$ROOT/scripts/setup.sh"
need=()
for p in wrk libapache2-mod-wsgi-py3 python3-flask gunicorn libbenchmark-dev valgrind; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
cmake -S "$ROOT" -B "$BUILD" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

/usr/bin/python3 "$ROOT/bench/harness.py" "$BUILD" --duration "${BENCH_DURATION:-8}"
if [[ "$SKIP" != *callgrind* ]]; then
  /usr/bin/python3 "$ROOT/bench/callgrind.py" "$BUILD" --requests 500
fi
if [[ "$SKIP" != *micro* ]]; then
  commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  "$BUILD/bench/micro_bench" --benchmark_min_time=0.5 | tee "$ROOT/bench/results/$(date +%F)_${commit}_micro.txt"
fi
