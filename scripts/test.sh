#!/usr/bin/env bash
# Runs every test (unit, integration against a real private Apache, config checks) with ctest.
# Set-up (packages, mstch, build) first, via scripts/setup.sh. Exits non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FLASKPP_BUILD:-$ROOT/build}

"$ROOT/scripts/setup.sh"
cd "$BUILD"
ctest --output-on-failure --timeout 300 "$@"
