#!/usr/bin/env bash
# Runs the browser tests against the shared integration instance (a CTest test of the "apache"
# fixture). playwright-core comes from npm into BUILD/browser (once); Chromium is Debian's.
# playwright-core 1.61 is the last release that runs on Debian 12's Node.js 18.
#   run.sh IT_STATE BUILD_DIR [TEST.js]      (default digits.test.js; it gets BASE_URL BUILD_DIR)
set -euo pipefail
STATE=$1
BUILD=$2
TEST=${3:-digits.test.js}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC1090
. "$STATE"
DEPS=$BUILD/browser
if [ ! -f "$DEPS/node_modules/playwright-core/package.json" ] ||
   ! grep -q '"version": "1.61' "$DEPS/node_modules/playwright-core/package.json"; then
  rm -rf "$DEPS"
  mkdir -p "$DEPS"
  # npm trusts only its own CA list; use the system's store (with any local CA the machine adds).
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then export NPM_CONFIG_CAFILE=/etc/ssl/certs/ca-certificates.crt; fi
  (cd "$DEPS" && npm install --no-audit --no-fund --loglevel=error playwright-core@1.61 >/dev/null)
fi
export NODE_PATH=$DEPS/node_modules
node "$HERE/$TEST" "http://127.0.0.1:$PORT" "$BUILD"
