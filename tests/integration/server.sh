#!/usr/bin/env bash
# Starts or stops the private Apache for the integration tests (a CTest fixture).
#   server.sh start BUILD_DIR SOURCE_DIR   generate the instance, start httpd, wait until it answers
#   server.sh stop  BUILD_DIR              stop httpd, wait for the port to close, check error_log
# The instance lives in a world-readable directory (children run as www-data), named in
# BUILD_DIR/it-instance.env together with the ports.
set -euo pipefail
cmd=$1
BUILD=$2
STATE=$BUILD/it-instance.env
# Another httpd binary or wrapper (scripts/sanitize.sh: tests/integration/httpd-sanitized.sh).
HTTPD=${FLASKPP_HTTPD:-/usr/sbin/apache2}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {  # url timeout_s
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  return 1
}

case "$cmd" in
start)
  SRC=$3
  [ -f "$STATE" ] && "$0" stop "$BUILD" >/dev/null 2>&1 || true
  ROOT=$(mktemp -d /var/tmp/flaskpp-it.XXXXXX)
  chmod 755 "$ROOT"
  mkdir -p "$ROOT/run" "$ROOT/logs"
  cp -r "$SRC/conf" "$SRC/htdocs" "$SRC/templates" "$SRC/models" "$ROOT/"
  cp -r "$SRC/tests/integration/templates/." "$ROOT/templates/"
  # The development vhost gets the demo templates plus its own (which the tests rewrite).
  cp -r "$SRC/templates" "$ROOT/dev-templates"
  cp -r "$SRC/tests/integration/dev-templates/." "$ROOT/dev-templates/"
  mkdir -p "$ROOT/dev-uploads"
  chmod -R a+rX "$ROOT"
  # Upload directories belong to the user Apache's children run as.
  chown www-data:www-data "$ROOT/htdocs/static/img" "$ROOT/dev-uploads"
  MODULES_DIR=$(apxs -q LIBEXECDIR)
  # Sessions are signed with a random key per test run, from a file (httpd.conf.in overrides the
  # demo's env:SECRET_KEY, so `apache2 -k graceful` from any test process finds it too).
  (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$ROOT/secret_key")
  for attempt in 1 2 3 4 5; do
    PORT=$(free_port)
    DEV_PORT=$(free_port)
    QUICK_PORT=$(free_port)
    [ "$PORT" != "$DEV_PORT" ] && [ "$PORT" != "$QUICK_PORT" ] && [ "$DEV_PORT" != "$QUICK_PORT" ] || continue
    sed -e "s|@ROOT@|$ROOT|g" -e "s|@PORT@|$PORT|g" -e "s|@DEV_PORT@|$DEV_PORT|g" -e "s|@QUICK_PORT@|$QUICK_PORT|g" \
        -e "s|@MODULES_DIR@|$MODULES_DIR|g" -e "s|@MODULE@|$BUILD/mod_flaskpp.so|g" -e "s|@BUILD@|$BUILD|g" \
        "$SRC/tests/integration/httpd.conf.in" > "$ROOT/httpd.conf"
    : > "$ROOT/logs/error_log"
    if "$HTTPD" -f "$ROOT/httpd.conf" -k start && wait_http "http://127.0.0.1:$PORT/health" 20; then
      printf 'ROOT=%s\nPORT=%s\nDEV_PORT=%s\nQUICK_PORT=%s\n' "$ROOT" "$PORT" "$DEV_PORT" "$QUICK_PORT" > "$STATE"
      echo "httpd up on $PORT (dev $DEV_PORT), instance $ROOT"
      exit 0
    fi
    echo "start attempt $attempt failed:" >&2
    cat "$ROOT/logs/error_log" >&2 || true
    [ -f "$ROOT/run/httpd.pid" ] && kill "$(cat "$ROOT/run/httpd.pid")" 2>/dev/null || true
    sleep 1
  done
  exit 1
  ;;
stop)
  [ -f "$STATE" ] || { echo "no instance"; exit 0; }
  # shellcheck disable=SC1090
  . "$STATE"
  if [ -f "$ROOT/run/httpd.pid" ]; then
    pid=$(cat "$ROOT/run/httpd.pid")
    "$HTTPD" -f "$ROOT/httpd.conf" -k stop || kill "$pid" || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  for ((i = 0; i < 50; i++)); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/" || break
    sleep 0.1
  done
  # Backstop: each test checks the lines written while it ran (it_main.cpp, allow_log); this
  # catches the rest (startup, between tests, after the last one). A passing run leaves no
  # [error]/[warn] (or worse) line except the tags the tests provoke: FPP00002 (startup warning: a
  # test route names a missing template), FPP00003 (its 500), AH01630 (the Require test's denial)
  # and AH00127 (Apache cannot map the hostile-path test's unrouted 8 KB segment to a file); the
  # test plugin's failures on purpose (FPP00004 for /t/sdk/throw and /t/sdk/bad-header, FPP0004x
  # for its jobs t.*) and the child the job test kills (AH00051 ... exit signal Killed).
  allowed='FPP00002|FPP00003|AH01630|AH00127|FPP00004: 500 for GET /t/sdk/(throw|bad-header):|FPP000(4[0-9]|26): job [0-9a-f-]+ \(t\.|AH00051: .* exit signal Killed \(9\)'
  bad=$(grep -E '\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]' "$ROOT/logs/error_log" | grep -Ev "$allowed" || true)
  if grep 'Segmentation fault\|exit signal' "$ROOT/logs/error_log" | grep -vq 'exit signal Killed (9)'; then
    bad="$bad
$(grep 'Segmentation fault\|exit signal' "$ROOT/logs/error_log" | grep -v 'exit signal Killed (9)')"
  fi
  rm -f "$STATE"
  if [ -n "$bad" ]; then
    echo "unexpected lines in $ROOT/logs/error_log:" >&2
    echo "$bad" >&2
    exit 1
  fi
  echo "httpd stopped; error_log clean ($(wc -l < "$ROOT/logs/error_log") lines)"
  rm -rf "$ROOT"
  ;;
*)
  echo "usage: $0 start|stop BUILD_DIR [SOURCE_DIR]" >&2
  exit 2
  ;;
esac
