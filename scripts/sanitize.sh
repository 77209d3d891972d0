#!/usr/bin/env bash
# The test suite under the sanitizers (clang 14, -Werror kept):
#   scripts/sanitize.sh [asan|tsan|all]       (default all)
# asan: everything (module, core, mstch, test programs, test and example plugins) built with
#   -fsanitize=address,undefined -fno-sanitize-recover=undefined into build-asan/, then the whole
#   ctest suite but the tests labelled "deploy" (the .deb installed into the system's Apache, which
#   cannot load an ASan module, and the packaging check). Apache (not instrumented) is started by
#   tests/integration/httpd-sanitized.sh, with the ASan runtime preloaded (FLASKPP_HTTPD, which every
#   test that starts Apache honours); its processes write their reports to build-asan/san-reports/.
#   Any report file, or any failed test, fails the run.
# tsan: the core with -fsanitize=thread into build-tsan/ (no module), and the unit tests of its
#   concurrent parts (template store, page cache, job queue/workers/store, rate limiter, route
#   statistics, status page, the concurrent schema and upload tests); any report fails the test.
# Prints a summary: tests run, report files, wall time per part. Run after scripts/setup.sh (mstch's
# source, Swagger UI and the Redocly CLI come from the gcc build's _deps).
# Environment: FLASKPP_BUILD (the gcc build, default <repo>/build), FLASKPP_ASAN_BUILD (default
# <repo>/build-asan), FLASKPP_TSAN_BUILD (default <repo>/build-tsan), FLASKPP_SAN_JOBS (build -j,
# default nproc), FLASKPP_SAN_CTEST_ARGS (extra ctest arguments for the asan part, e.g. -R it_status).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FLASKPP_BUILD:-$ROOT/build}
ASAN_BUILD=${FLASKPP_ASAN_BUILD:-$ROOT/build-asan}
TSAN_BUILD=${FLASKPP_TSAN_BUILD:-$ROOT/build-tsan}
JOBS=${FLASKPP_SAN_JOBS:-$(nproc)}
MSTCH=$BUILD/_deps/mstch-1.0.2
what=${1:-all}
case $what in asan | tsan | all) ;; *) echo "usage: $0 [asan|tsan|all]" >&2; exit 2 ;; esac

# clang and its sanitizer runtimes (libclang-rt-14-dev: libclang_rt.asan/tsan/ubsan).
if ! command -v clang++ >/dev/null 2>&1 || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.asan-x86_64.so >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends clang libclang-rt-14-dev >/dev/null
fi
[ -f "$MSTCH/include/mstch/mstch.hpp" ] || { echo "no mstch source in $MSTCH: run scripts/setup.sh" >&2; exit 1; }

summary=()
status=0

# ctest's count of tests run (the "N tests failed out of M" / "100% tests passed, 0 tests failed
# out of M" line) from a log.
tests_run() { sed -n 's/.* tests\{0,1\} failed out of \([0-9]*\).*/\1/p' "$1" | tail -1; }

run_asan() {
  local t0=$SECONDS rt san link reports log rc=0
  rt=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
  [ -f "$rt" ] || { echo "no ASan runtime ($rt)" >&2; return 1; }
  san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  san+=" -fsanitize-ignorelist=$ROOT/scripts/sanitize-ignorelist.txt"  # rapidjson 1.1.0's known UB
  # One runtime for every process: the shared one (-shared-libsan), which the test programs and
  # plugins link against (found by rpath) and which httpd-sanitized.sh preloads into Apache. Its
  # UBSan handlers are included. A module or plugin cannot carry the static runtime, and
  # -Wl,--no-undefined (flaskpp_add_plugin) needs the __asan_* symbols resolved at link time.
  link="-shared-libsan -Wl,-rpath,$(dirname "$rt")"
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMSTCH_SOURCE_DIR="$MSTCH" -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" \
    -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="$link" \
    -DCMAKE_MODULE_LINKER_FLAGS="$link" >/dev/null
  cmake --build "$ASAN_BUILD" -j"$JOBS"
  local t_build=$((SECONDS - t0))
  # Swagger UI's assets and the Redocly CLI (scripts/setup.sh installs them), and playwright-core
  # (tests/browser/run.sh installs it), from the gcc build when it has them.
  mkdir -p "$ASAN_BUILD/_deps"
  local d
  for d in _deps/swagger-ui-dist _deps/openapi-validator browser; do
    [ -e "$ASAN_BUILD/$d" ] || [ ! -d "$BUILD/$d" ] || ln -s "$BUILD/$d" "$ASAN_BUILD/$d"
  done
  reports=$ASAN_BUILD/san-reports
  rm -rf "$reports"
  mkdir -p "$reports"
  chmod 1777 "$reports"  # Apache's children (www-data) write there too
  log=$ASAN_BUILD/sanitize-ctest.log
  # The test programs report on stderr (ctest shows it) and keep leak detection; Apache gets its
  # options from the wrapper.
  (
    cd "$ASAN_BUILD"
    export FLASKPP_HTTPD=$ROOT/tests/integration/httpd-sanitized.sh FLASKPP_ASAN_RUNTIME=$rt
    export FLASKPP_SAN_REPORTS=$reports
    export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:print_stacktrace=1
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    # shellcheck disable=SC2086
    ctest --output-on-failure --timeout 600 -LE deploy ${FLASKPP_SAN_CTEST_ARGS:-}
  ) 2>&1 | tee "$log" || rc=$?
  local n_reports
  n_reports=$(find "$reports" -type f | wc -l)
  if [ "$n_reports" -gt 0 ]; then
    echo "=== sanitizer reports from Apache's processes ($reports) ==="
    local f
    for f in "$reports"/*; do echo "--- $f"; head -60 "$f"; done
  fi
  [ "$rc" = 0 ] && [ "$n_reports" = 0 ] || status=1
  summary+=("asan: $(tests_run "$log") tests run (ctest exit $rc), $n_reports report file(s) from Apache;\
 build ${t_build}s, total $((SECONDS - t0))s")
}

run_tsan() {
  local t0=$SECONDS log rc=0
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$TSAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMSTCH_SOURCE_DIR="$MSTCH" -DFLASKPP_BUILD_MODULE=OFF \
    -DCMAKE_C_FLAGS="-fsanitize=thread" -DCMAKE_CXX_FLAGS="-fsanitize=thread" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
  cmake --build "$TSAN_BUILD" --target unit_tests -j"$JOBS"
  local t_build=$((SECONDS - t0))
  local suites='TemplateStore|DirectorySource|PartialNames|PageCache|PageCacheTable|JobsTest|JobIdTest|JobJsonTest'
  suites+='|JobStatusTest|JobWorkersTest|SqliteJobStoreTest|MemoryRateStoreTest|RateLimit[A-Za-z]*|RouteStats'
  suites+='|RedisClientTest|RedisJobStoreTest|RedisRateStoreTest|StatusPage|SchemaValidate\.Concurrent[A-Za-z]*|UploadStore\.Concurrent[A-Za-z]*'
  log=$TSAN_BUILD/sanitize-ctest.log
  (
    cd "$TSAN_BUILD"
    export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
    ctest --output-on-failure --timeout 300 -j"$JOBS" -L unit -R "^($suites)\\."
  ) 2>&1 | tee "$log" || rc=$?
  local n_reports
  n_reports=$(grep -c "WARNING: ThreadSanitizer" "$log" || true)
  [ "$rc" = 0 ] && [ "$n_reports" = 0 ] || status=1
  summary+=("tsan: $(tests_run "$log") tests run (ctest exit $rc), $n_reports report(s); build ${t_build}s,\
 total $((SECONDS - t0))s")
}

if [ "$what" = asan ] || [ "$what" = all ]; then run_asan; fi
if [ "$what" = tsan ] || [ "$what" = all ]; then run_tsan; fi
echo "=== sanitize.sh summary ==="
printf '%s\n' "${summary[@]}"
exit "$status"
