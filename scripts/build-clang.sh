#!/usr/bin/env bash
# Builds everything (module, core, every test and benchmark) with clang 14 and -Werror into
# build-clang/, then runs the unit tests there: the project must build with clang as well as gcc
# (the fuzzers and sanitizers of a later issue need clang). Run after scripts/setup.sh, which
# provides mstch's source; installs clang itself. Environment: FLASKPP_BUILD (gcc build dir, for
# mstch's source), FLASKPP_CLANG_BUILD (default <repo>/build-clang).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FLASKPP_BUILD:-$ROOT/build}
CLANG_BUILD=${FLASKPP_CLANG_BUILD:-$ROOT/build-clang}

if ! command -v clang++ >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends clang >/dev/null
fi
CC=clang CXX=clang++ cmake -S "$ROOT" -B "$CLANG_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DMSTCH_SOURCE_DIR="$BUILD/_deps/mstch-1.0.2" >/dev/null
cmake --build "$CLANG_BUILD" -j"$(nproc)"
cd "$CLANG_BUILD"
ctest -L unit --output-on-failure -j"$(nproc)"
