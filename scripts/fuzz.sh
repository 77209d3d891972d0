#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz (issue 11) for SECONDS each (default 20), seeded with
# the repository's corpus tests/fuzz/corpus/<target>/; what a run discovers goes to a scratch corpus
# under the build tree, never into the repository. Prints each target's executions and coverage and
# fails on any crash, leak, timeout or out-of-memory, naming the saved input (reproduce with
# `<build>/tests/fuzz/fuzz_<target> <input>`). The long run: `scripts/fuzz.sh 3600`.
# Builds with clang 14 (installs clang and libclang-rt-14-dev when missing) into build-fuzz/ with
# FLASKPP_FUZZ=ON (ASan + UBSan + coverage on flaskpp_core and mstch; no module).
# Environment: FLASKPP_FUZZ_BUILD (default <repo>/build-fuzz), FLASKPP_BUILD (the gcc build, for
# mstch's source), FUZZ_ONLY (comma-separated target names), FUZZ_JOBS (build parallelism).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_TARGET=${1:-20}
BUILD=${FLASKPP_BUILD:-$ROOT/build}
FUZZ_BUILD=${FLASKPP_FUZZ_BUILD:-$ROOT/build-fuzz}
JOBS=${FUZZ_JOBS:-$(nproc)}

if ! command -v clang++ >/dev/null 2>&1 || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends clang libclang-rt-14-dev >/dev/null
fi

start=$(date +%s)
CC=clang CXX=clang++ cmake -S "$ROOT" -B "$FUZZ_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLASKPP_FUZZ=ON \
  -DFLASKPP_BUILD_MODULE=OFF -DMSTCH_SOURCE_DIR="$BUILD/_deps/mstch-1.0.2" >/dev/null
cmake --build "$FUZZ_BUILD" -j"$JOBS" --target fuzz_all
echo "fuzz: build took $(( $(date +%s) - start )) s"

mapfile -t targets < "$FUZZ_BUILD/tests/fuzz/targets.txt"
if [[ -n "${FUZZ_ONLY:-}" ]]; then
  IFS=, read -r -a targets <<< "$FUZZ_ONLY"
fi
failed=()
printf '%-16s %12s %8s  %s\n' target executions cov result
for t in "${targets[@]}"; do
  [[ -n "$t" ]] || continue
  bin="$FUZZ_BUILD/tests/fuzz/fuzz_$t"
  scratch="$FUZZ_BUILD/fuzz-corpus/$t"
  artifacts="$FUZZ_BUILD/fuzz-artifacts/$t"
  log="$FUZZ_BUILD/fuzz-logs/$t.log"
  mkdir -p "$scratch" "$artifacts" "$(dirname "$log")"
  rc=0
  # New inputs go to the first directory (the scratch corpus); the repository's is only read.
  "$bin" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" "$scratch" "$ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  cov=$( (grep -E "^#[0-9]+" "$log" || true) | sed -n "s/.*cov: \([0-9]*\).*/\1/p" | tail -n1)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)
    result="FAILED (exit $rc): ${input:-see $log}"
    failed+=("$t")
  fi
  printf '%-16s %12s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "$result"
done
echo "fuzz: total $(( $(date +%s) - start )) s; logs in $FUZZ_BUILD/fuzz-logs"
if (( ${#failed[@]} )); then
  echo "fuzz: failures in: ${failed[*]}" >&2
  exit 1
fi
