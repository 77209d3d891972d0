#!/usr/bin/env bash
# Uploads a large file (default 1 GiB) and a 100 MiB file to a private Apache with mod_flaskpp
# and reports the growth of the children's resident memory during the large upload and the
# upload throughput on loopback.
#   bench/upload_memory.sh [STATE_FILE]     STATE_FILE: a running instance (tests/integration/
#                                           server.sh); without it one is started and stopped.
# Environment: UPLOAD_MIB (default 1024), MAX_GROWTH_KIB (exit 1 above it; default 8192).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FLASKPP_BUILD:-$ROOT/build}
UPLOAD_MIB=${UPLOAD_MIB:-1024}
MAX_GROWTH_KIB=${MAX_GROWTH_KIB:-8192}

STATE=${1:-}
own_instance=0
if [ -z "$STATE" ]; then
  "$ROOT/scripts/setup.sh" >/dev/null
  "$ROOT/tests/integration/server.sh" start "$BUILD" "$ROOT"
  STATE=$BUILD/it-instance.env
  own_instance=1
fi
# shellcheck disable=SC1090
. "$STATE"
URL=http://127.0.0.1:$DEV_PORT/dev/upload
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  if [ "$own_instance" = 1 ]; then "$ROOT/tests/integration/server.sh" stop "$BUILD" >/dev/null || true; fi
}
trap cleanup EXIT

# Data: a random MiB repeated (fast to make, not all zeros).
head -c 1048576 /dev/urandom > "$work/block"
for ((i = 0; i < UPLOAD_MIB; i++)); do cat "$work/block"; done > "$work/big.bin"
for ((i = 0; i < 100; i++)); do cat "$work/block"; done > "$work/100m.bin"

ROOT_INSTANCE=$(awk -F= '$1=="ROOT"{print $2}' "$STATE")
children() { pgrep -P "$(cat "$ROOT_INSTANCE/run/httpd.pid")"; }
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

declare -A before peak
for c in $(children); do before[$c]=$(rss_kib "$c"); peak[$c]=${before[$c]}; done

curl -s -o "$work/big.out" -w '%{http_code} %{speed_upload}\n' -F "file=@$work/big.bin;filename=big.bin" \
     -H 'Expect:' "$URL" > "$work/big.curl" &
curl_pid=$!
while kill -0 "$curl_pid" 2>/dev/null; do
  for c in "${!before[@]}"; do
    r=$(rss_kib "$c")
    [ "$r" -gt "${peak[$c]}" ] && peak[$c]=$r
  done
  sleep 0.05
done
wait "$curl_pid"
read -r code speed < "$work/big.curl"
growth=0
for c in "${!before[@]}"; do
  g=$(( ${peak[$c]} - ${before[$c]} ))
  [ "$g" -gt "$growth" ] && growth=$g
done
saved=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"][0]["saved_as"])' "$work/big.out" 2>/dev/null || echo "")
intact=no
if [ -n "$saved" ] && cmp -s "$work/big.bin" "$ROOT_INSTANCE/dev-uploads/$saved"; then intact=yes; fi
[ -n "$saved" ] && rm -f "$ROOT_INSTANCE/dev-uploads/$saved"

read -r code100 speed100 < <(curl -s -o "$work/100.out" -w '%{http_code} %{speed_upload}\n' \
                                  -F "file=@$work/100m.bin;filename=100m.bin" -H 'Expect:' "$URL")
saved100=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"][0]["saved_as"])' "$work/100.out" 2>/dev/null || echo "")
[ -n "$saved100" ] && rm -f "$ROOT_INSTANCE/dev-uploads/$saved100"

mbps() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1000000}'; }
echo "upload ${UPLOAD_MIB} MiB: HTTP $code, file intact: $intact, largest child RSS growth: ${growth} KiB, $(mbps "$speed") MB/s"
echo "upload 100 MiB: HTTP $code100, $(mbps "$speed100") MB/s"
[ "$code" = 200 ] && [ "$intact" = yes ] && [ "$code100" = 200 ] || { echo "upload failed"; exit 1; }
if [ "$growth" -gt "$MAX_GROWTH_KIB" ]; then
  echo "RSS growth ${growth} KiB is above ${MAX_GROWTH_KIB} KiB"
  exit 1
fi
