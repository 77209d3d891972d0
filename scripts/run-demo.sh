#!/usr/bin/env bash
# Runs the demo app in a private Apache on http://127.0.0.1:8080 in the foreground (Ctrl-C stops).
# Set-up (packages, mstch, build) first, via scripts/setup.sh. Environment:
#   FLASKPP_PORT  port (default 8080)     FLASKPP_ENV  development|production (default: conf's)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FLASKPP_BUILD:-$ROOT/build}
PORT=${FLASKPP_PORT:-8080}

"$ROOT/scripts/setup.sh"

RUN=$BUILD/demo
mkdir -p "$RUN/run" "$RUN/logs"
# The children run as www-data: serve the repository in place when www-data can read it,
# otherwise (e.g. a clone under /root) from a readable copy.
SERVE=$ROOT
if [ "$(id -u)" = 0 ] && ! runuser -u www-data -- test -r "$ROOT/htdocs/static/css/app.css" 2>/dev/null; then
  SERVE=/var/tmp/flaskpp-demo
  rm -rf "$SERVE"
  mkdir -p "$SERVE"
  cp -r "$ROOT/conf" "$ROOT/htdocs" "$ROOT/templates" "$ROOT/models" "$SERVE/"
  chmod -R a+rX "$SERVE"
  echo "[demo] $ROOT is not readable by www-data; serving a copy from $SERVE" >&2
fi

# Uploads land in htdocs/static/img (seed 16.2), which Apache's children must be able to write.
if [ "$(id -u)" = 0 ]; then
  chown www-data:www-data "$SERVE/htdocs/static/img"
fi

MODULES_DIR=$(apxs -q LIBEXECDIR)
sed -e "s|@SERVER_ROOT@|$SERVE|g" -e "s|@LISTEN@|127.0.0.1:$PORT|g" -e "s|@RUN_DIR@|$RUN/run|g" \
    -e "s|@LOG_DIR@|$RUN/logs|g" -e "s|@MODULES_DIR@|$MODULES_DIR|g" -e "s|@MODULE@|$BUILD/mod_flaskpp.so|g" -e "s|@BUILD@|$BUILD|g" \
    "$ROOT/conf/httpd.conf.in" > "$RUN/httpd.conf"
if [ -n "${FLASKPP_ENV:-}" ]; then
  printf 'FlaskppEnv %s\n' "$FLASKPP_ENV" >> "$RUN/httpd.conf"
fi

# The session key (conf/flaskpp.conf: FlaskppSecretKey env:SECRET_KEY): yours when SECRET_KEY is
# set, else one made once for this checkout and kept (mode 600) so sessions survive restarts.
if [ -z "${SECRET_KEY:-}" ]; then
  if [ ! -s "$RUN/secret_key" ]; then
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RUN/secret_key")
  fi
  SECRET_KEY=$(cat "$RUN/secret_key")
fi
export SECRET_KEY

/usr/sbin/apache2 -f "$RUN/httpd.conf" -t
echo "[demo] http://127.0.0.1:$PORT/  (health: /health, logs: $RUN/logs/)  Ctrl-C to stop" >&2
exec /usr/sbin/apache2 -f "$RUN/httpd.conf" -DFOREGROUND
