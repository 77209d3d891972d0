#!/usr/bin/env bash
# The Debian packages, end to end, on this machine (root only; exit 77 = skipped otherwise):
#   deb_test.sh BUILD_DIR SOURCE_DIR
# 1. builds them (scripts/package-deb.sh) and checks their metadata (name, Depends from
#    dpkg-shlibdeps and Apache's module ABI, conffiles, maintainer scripts);
# 2. installs both with dpkg -i and checks that nothing got enabled;
# 3. enables the module and the demo site with a2enmod/a2ensite and serves the system's
#    /etc/apache2, as they left it, with the system's apache2 binary on a free port: Debian's
#    apache2.conf, envvars, mods and sites, from a copy whose ports.conf is emptied (the demo site
#    brings its own Listen), with its own PidFile, runtime, lock and log directories -- so a
#    system Apache running on 80/443 is never touched -- then walks the demo (tests/deploy/
#    demo_walk.py: pages, JSON, the plugin route, an upload, a job, /docs);
# 4. lays the Docker image's configuration out the same way (docker/container-setup.sh on a copy
#    of /etc/apache2) and runs it as www-data, as the container does, with SECRET_KEY and
#    FLASKPP_ENV from the environment and the logs on stdout/stderr (tests/deploy/docker_check.sh
#    checks the Dockerfile itself);
# 5. disables, purges, and shows the system is as before: the file lists (with modes, link
#    targets and checksums) of /etc/apache2 and every path the packages use, and dpkg's package
#    list, are the same before and after.
set -uo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
MAIN=libapache2-mod-flaskpp
DEV=libapache2-mod-flaskpp-dev

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: the package test installs into the system and needs root"
  exit 77
fi
if dpkg-query -W -f '${Status}' "$MAIN" 2>/dev/null | grep -q installed ||
   dpkg-query -W -f '${Status}' "$DEV" 2>/dev/null | grep -q installed; then
  echo "FAIL: $MAIN is installed on this machine; this test installs and purges its own build and leaves yours alone"
  exit 1
fi

failures=0
check() {  # check OK_STATUS WHAT
  if [ "$1" = 0 ]; then echo "ok   $2"; else echo "FAIL $2"; failures=$((failures + 1)); fi
}

T=$(mktemp -d /var/tmp/flaskpp-deb.XXXXXX)
chmod 755 "$T"
PIDS=()
cleanup() {
  for pidfile in "$T"/inst-*/run/apache2.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
  done
  # Whatever happened, leave no package behind.
  for site in flaskpp-demo; do [ -e /etc/apache2/sites-enabled/$site.conf ] && a2dissite -q $site; done
  if dpkg-query -W -f '${Status}' "$MAIN" 2>/dev/null | grep -q installed; then
    dpkg --purge "$MAIN" "$DEV" >/dev/null 2>&1
  fi
}
trap cleanup EXIT

snapshot() {  # the state the packages may touch
  {
    find /etc/apache2 /usr/lib/apache2/modules /usr/share/mod-flaskpp /usr/lib/mod-flaskpp /var/lib/mod-flaskpp \
         /usr/include/flaskpp /usr/lib/cmake/flaskpp -printf '%p %y %m %u:%g -> %l\n' 2>/dev/null | sort
    find /etc/apache2 -type f -exec md5sum {} + | sort -k2
    dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n' | sort
  } > "$1"
}

# --- 1. build and inspect ------------------------------------------------------------------------
"$SRC/scripts/package-deb.sh" "$BUILD" || { echo "FAIL package-deb.sh"; exit 1; }
DEB=$(ls "$BUILD"/pkg/${MAIN}_*_amd64.deb)
DEVDEB=$(ls "$BUILD"/pkg/${DEV}_*_all.deb)
VERSION=$(dpkg-deb -f "$DEB" Version)
echo "packages: $(basename "$DEB") ($(stat -c %s "$DEB") bytes), $(basename "$DEVDEB") ($(stat -c %s "$DEVDEB") bytes)"
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
echo "Depends: $DEPENDS"
API=$(sed -n 's/^#define MODULE_MAGIC_NUMBER_MAJOR \([0-9]*\).*/\1/p' "$(apxs -q INCLUDEDIR)/ap_mmn.h")
grep -q "apache2-api-$API" <<<"$DEPENDS"; check $? "Depends names Apache's module ABI apache2-api-$API"
for lib in libapr1 libaprutil1 libsqlite3-0 libssl3 libstdc++6 libstb0; do
  grep -q "\b$lib\b" <<<"$DEPENDS"; check $? "Depends has $lib (dpkg-shlibdeps)"
done
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles > "$T/conffiles"
for f in /etc/apache2/mods-available/flaskpp.load /etc/apache2/mods-available/flaskpp.conf \
         /etc/apache2/sites-available/flaskpp-demo.conf; do
  grep -qx "$f" "$T/conffiles"; check $? "conffile $f"
done
dpkg-deb -c "$DEB" | grep '\./usr/lib/apache2/modules/mod_flaskpp.so$' >/dev/null; check $? "the module goes to $(apxs -q LIBEXECDIR)"
dpkg-deb -c "$DEVDEB" | grep '\./usr/include/flaskpp/flaskpp.hpp$' >/dev/null; check $? "the -dev package holds the SDK header"

# --- 2. install: nothing enabled -----------------------------------------------------------------
snapshot "$T/before"
dpkg -i "$DEB" "$DEVDEB" > "$T/dpkg-install.log" 2>&1
check $? "dpkg -i both packages (log: $T/dpkg-install.log)"
[ "$(dpkg-query -W -f '${Version}' "$MAIN")" = "$VERSION" ]; check $? "$MAIN $VERSION is installed"
[ ! -e /etc/apache2/mods-enabled/flaskpp.load ] && [ ! -e /etc/apache2/sites-enabled/flaskpp-demo.conf ]
check $? "installing enabled neither the module nor the site"
[ "$(stat -c '%U %a' /var/lib/mod-flaskpp/demo-secret-key)" = "root 600" ] &&
  [ "$(stat -c %U /var/lib/mod-flaskpp/demo/htdocs/static/img)" = www-data ]
check $? "postinst made the demo's key (root, 600) and upload directory (www-data)"
# The -dev package is enough to build a plugin: find_package(flaskpp) with no prefix given.
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
cmake -S "$SRC/examples/hello" -B "$T/hello" -DCMAKE_CXX_COMPILER="$cxx" > "$T/hello.log" 2>&1 &&
  cmake --build "$T/hello" >> "$T/hello.log" 2>&1 && [ -f "$T/hello/hello.so" ] &&
  grep -q "/usr/lib/cmake/flaskpp" "$T/hello/CMakeCache.txt"
check $? "examples/hello builds against the installed -dev package (log: $T/hello.log)"

# --- 3. the system's configuration, enabled, on a free port ----------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { local i; for ((i = 0; i < 200; i++)); do curl -s -o /dev/null --max-time 1 "$1" && return 0; sleep 0.1; done; return 1; }

a2enmod -q flaskpp && a2ensite -q flaskpp-demo
check $? "a2enmod flaskpp && a2ensite flaskpp-demo"

instance_env() {  # NAME CONFDIR: Debian's envvars with this instance's own PidFile and directories
  local inst=$T/inst-$1
  echo ". /etc/apache2/envvars; export APACHE_CONFDIR='$2' APACHE_PID_FILE='$inst/run/apache2.pid'" \
       "APACHE_RUN_DIR='$inst/run' APACHE_LOCK_DIR='$inst/lock' APACHE_LOG_DIR='$inst/log'"
}
start_instance() {  # NAME CONFDIR PORT: as a system Apache starts (root, -k start)
  local inst=$T/inst-$1
  mkdir -p "$inst/run" "$inst/lock" "$inst/log"
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin bash -c "$(instance_env "$1" "$2")
    exec /usr/sbin/apache2 -d '$2' -f '$2/apache2.conf' -C 'Define FLASKPP_DEMO_PORT $3' -k start" > "$inst/start.log" 2>&1
}
start_container() {  # NAME CONFDIR PORT [ENV...]: as the image's CMD does (apache2ctl -D FOREGROUND),
  # as www-data, stdout and stderr captured (runc hands the container's stdio to its user).
  # apache2 itself, not apache2ctl: apache2ctl would derive the system's PidFile from envvars.
  local name=$1 inst=$T/inst-$1 conf=$2 port=$3
  shift 3
  mkdir -p "$inst/run" "$inst/lock" "$inst/log"
  chown -R www-data:www-data "$inst"
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@" runuser -u www-data -- bash -c "$(instance_env "$name" "$conf")
    exec /usr/sbin/apache2 -d '$conf' -f '$conf/apache2.conf' -C 'Define FLASKPP_DEMO_PORT $port' -D FOREGROUND \
      ${CHECK_ONLY:-} > '$inst/stdout' 2> '$inst/stderr'"
}
stop_instance() {  # NAME
  local pidfile=$T/inst-$1/run/apache2.pid pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}
bad_log_lines() {  # FILE: module errors, crashes, anything at error or worse
  grep -E '\[[a-z_0-9]*:(error|crit|alert|emerg)\]|FPP[0-9]+.*\[(warn)\]|exit signal|Segmentation' "$1" || true
}

cp -a /etc/apache2 "$T/system-conf"
echo "# ports.conf emptied by tests/deploy/deb_test.sh: the demo site brings its own Listen" > "$T/system-conf/ports.conf"
PORT=$(free_port)
start_instance system "$T/system-conf" "$PORT"
check $? "the system's Apache configuration starts (Debian's apache2.conf + flaskpp + flaskpp-demo) on port $PORT"
wait_http "http://127.0.0.1:$PORT/health"; check $? "the demo site answers on $PORT"
/usr/bin/python3 "$SRC/tests/deploy/demo_walk.py" "http://127.0.0.1:$PORT" "$SRC" | sed 's/^/    /'
check "${PIPESTATUS[0]}" "the demo walk through the package's site"
pixels=$(/usr/bin/python3 -c "import json; print(json.dumps({'pixels': json.load(open('$SRC/models/digits/heldout.json'))['samples'][1]['pixels']}))")
out=$(curl -sS -H 'Content-Type: application/json' -d "$pixels" "http://127.0.0.1:$PORT/api/predict-now")
grep -q '"digit":[0-9]' <<<"$out"; check $? "curl the plugin route /api/predict-now: ${out:0:40}"
sleep 0.5
children=$(ps -o user= --ppid "$(cat "$T/inst-system/run/apache2.pid")" | sort -u | tr '\n' ' ')
[ "$children" = "www-data " ]; check $? "Apache's children run as www-data ($children)"
grep -q '"GET /health HTTP/1.1" 200' "$T/inst-system/log/flaskpp-demo-access.log"
check $? "requests are logged to APACHE_LOG_DIR/flaskpp-demo-access.log"
stop_instance system; check $? "the instance stops"
bad=$(bad_log_lines "$T/inst-system/log/error.log")
[ -z "$bad" ]; check $? "error.log has no module warning or error ${bad:+: $bad}"

# --- 4. the Docker image's configuration, laid out in a temporary directory, as www-data ----------
cp -a /etc/apache2 "$T/docker-conf"
APACHE_CONFDIR=$T/docker-conf FLASKPP_CONF_ONLY=1 "$SRC/docker/container-setup.sh"
check $? "docker/container-setup.sh configures a copy of /etc/apache2"
# What container-setup.sh does to the image's directories, done to this run's own: the demo's data
# is www-data's (the key comes from SECRET_KEY).
chown -R www-data:www-data /var/lib/mod-flaskpp/demo
DPORT=$(free_port)
KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
CHECK_ONLY=-t start_container docker-t "$T/docker-conf" "$DPORT" SECRET_KEY="$KEY" FLASKPP_ENV=production
check $? "the image's configuration passes apache2 -t as www-data ($(cat "$T/inst-docker-t/stderr" | tr '\n' ' '))"
CHECK_ONLY= start_container docker "$T/docker-conf" "$DPORT" SECRET_KEY="$KEY" FLASKPP_ENV=production &
wait_http "http://127.0.0.1:$DPORT/health"
check $? "the image's configuration, started as www-data, answers /health on $DPORT"
/usr/bin/python3 "$SRC/tests/deploy/demo_walk.py" "http://127.0.0.1:$DPORT" "$SRC" | sed 's/^/    /'
check "${PIPESTATUS[0]}" "the demo walk through the container layout"
parent=$(cat "$T/inst-docker/run/apache2.pid")
[ "$(ps -o user= -p "$parent")" = www-data ] && [ "$(ps -o user= --ppid "$parent" | sort -u | tr -d ' \n')" = www-data ]
check $? "parent and children run as www-data"
stop_instance docker; check $? "the container layout stops"
grep -q '"GET /health HTTP/1.1" 200' "$T/inst-docker/stdout"
check $? "access log lines reach stdout"
grep -q 'resuming normal operations' "$T/inst-docker/stderr"
check $? "the error log reaches stderr"
bad=$(bad_log_lines "$T/inst-docker/stderr")
[ -z "$bad" ]; check $? "no module warning or error on stderr ${bad:+: $bad}"

# --- 5. disable, purge: the system as before -------------------------------------------------------
a2dissite -q flaskpp-demo && a2dismod -q flaskpp
check $? "a2dissite flaskpp-demo && a2dismod flaskpp"
dpkg --purge "$DEV" "$MAIN" > "$T/dpkg-purge.log" 2>&1
check $? "dpkg --purge both packages"
snapshot "$T/after"
diff -u "$T/before" "$T/after" > "$T/diff"
check $? "the system is as before: file lists, checksums and package list unchanged $( [ -s "$T/diff" ] && head -20 "$T/diff")"

echo "$failures failures"
if [ "$failures" = 0 ]; then rm -rf "$T"; else echo "kept $T"; fi
[ "$failures" = 0 ]
