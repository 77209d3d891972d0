#!/usr/bin/env bash
# conf/balancer-flaskpp.conf, checked: `apache2 -t` on a private front config that loads the
# modules the sample names and includes it with two backend placeholders, and `apache2 -t` on the
# backend lines it documents ("#B " lines: mod_remoteip). Then, live: the front started over two
# stand-in backends (python3 http.server on loopback answering /health as mod_flaskpp does);
# requests through the front must reach both, with the client's Host kept (ProxyPreserveHost) and
# X-Forwarded-For set, and the health checks (mod_proxy_hcheck, GET /health every 5 s) must
# arrive. Touches nothing of the system's Apache: own ServerRoot, PidFile, runtime dir, logs.
#   tests/integration/balancer_conf_check.sh [SOURCE_DIR]   (SKIP_LIVE=1: the -t checks only)
set -euo pipefail
SRC=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
CONF="$SRC/conf/balancer-flaskpp.conf"
HTTPD=${FLASKPP_HTTPD:-/usr/sbin/apache2}
MODS=$(apxs -q LIBEXECDIR 2>/dev/null || echo /usr/lib/apache2/modules)
for m in proxy proxy_http proxy_balancer lbmethod_byrequests slotmem_shm proxy_hcheck headers remoteip; do
  [ -f "$MODS/mod_$m.so" ] || { echo "FAIL: $MODS/mod_$m.so missing"; exit 1; }
done

T=$(mktemp -d /var/tmp/flaskpp-balancer.XXXXXX)
chmod 755 "$T"
mkdir -p "$T/run" "$T/logs" "$T/b1" "$T/b2"
PIDS=()
cleanup() {
  if [ -f "$T/run/httpd.pid" ]; then "$HTTPD" -f "$T/front.conf" -k stop 2>/dev/null || true; fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do [ -f "$T/run/httpd.pid" ] || break; sleep 0.1; done
  rm -rf "$T"
}
trap cleanup EXIT

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FRONT=$(port); B1=$(port); B2=$(port)
USER_LINES=""
[ "$(id -u)" = 0 ] && USER_LINES=$'User www-data\nGroup www-data'

cat > "$T/front.conf" <<EOF
ServerRoot "$T"
ServerName 127.0.0.1
Listen 127.0.0.1:$FRONT
PidFile "$T/run/httpd.pid"
DefaultRuntimeDir "$T/run"
Mutex file:$T/run default
$USER_LINES
ErrorLog "$T/logs/error_log"
LogLevel warn
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule headers_module $MODS/mod_headers.so
LoadModule proxy_module $MODS/mod_proxy.so
LoadModule proxy_http_module $MODS/mod_proxy_http.so
LoadModule proxy_balancer_module $MODS/mod_proxy_balancer.so
LoadModule lbmethod_byrequests_module $MODS/mod_lbmethod_byrequests.so
LoadModule slotmem_shm_module $MODS/mod_slotmem_shm.so
LoadModule proxy_hcheck_module $MODS/mod_proxy_hcheck.so
Define FLASKPP_BACKEND_1 http://127.0.0.1:$B1
Define FLASKPP_BACKEND_2 http://127.0.0.1:$B2
Include "$CONF"
EOF

# The sample as shipped (placeholder addresses 10.0.0.11/12, no Define before it) must parse too.
sed -e '/^Define FLASKPP_BACKEND_/d' "$T/front.conf" > "$T/front-defaults.conf"

cat > "$T/backend.conf" <<EOF
ServerRoot "$T"
ServerName 127.0.0.1
Listen 127.0.0.1:$B1
PidFile "$T/run/backend.pid"
DefaultRuntimeDir "$T/run"
ErrorLog "$T/logs/backend_error_log"
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
$(sed -n 's/^#B //p' "$CONF")
EOF
grep -q '^RemoteIPInternalProxy' "$T/backend.conf" || { echo "FAIL: no #B RemoteIPInternalProxy line in $CONF"; exit 1; }

for c in front.conf front-defaults.conf backend.conf; do
  if ! out=$("$HTTPD" -t -f "$T/$c" 2>&1); then
    echo "FAIL: apache2 -t on $c:"; echo "$out"; cat "$T/$c"; exit 1
  fi
  echo "ok: apache2 -t $c"
done
[ "${SKIP_LIVE:-}" = 1 ] && exit 0

# Stand-in backends: /health answers as mod_flaskpp's handler health; every other path answers
# which backend it is with the Host and X-Forwarded-For it got. Each logs its requests.
cat > "$T/backend.py" <<'EOF'
import http.server, json, sys
name, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        xff = self.headers.get("X-Forwarded-For", "")
        with open(log, "a") as f:
            f.write("%s %s xff=%s\n" % (self.path, self.headers.get("Host", ""), xff))
        body = b'{"status":"ok"}\n' if self.path == "/health" else json.dumps(
            {"backend": name, "host": self.headers.get("Host"), "xff": xff}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
/usr/bin/python3 "$T/backend.py" b1 "$B1" "$T/b1/log" & PIDS+=($!)
/usr/bin/python3 "$T/backend.py" b2 "$B2" "$T/b2/log" & PIDS+=($!)
# Both stand-ins must listen before the front's first request: a refused member is put in error
# state for retry= seconds (AH00957) and would take no request during the test.
for port in "$B1" "$B2"; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
done
"$HTTPD" -f "$T/front.conf" -k start

fail() { echo "FAIL: $*"; echo "--- front error_log"; cat "$T/logs/error_log" 2>/dev/null; exit 1; }
up=""
for _ in $(seq 50); do
  if curl -sf -o /dev/null "http://127.0.0.1:$FRONT/x"; then up=1; break; fi
  sleep 0.2
done
[ -n "$up" ] || fail "the front does not answer on 127.0.0.1:$FRONT"

seen1=0; seen2=0
for i in $(seq 20); do
  out=$(curl -sf -H "Host: app.example.test" "http://127.0.0.1:$FRONT/page/$i") || fail "request $i failed"
  case "$out" in
    *'"backend": "b1"'*) seen1=$((seen1 + 1)) ;;
    *'"backend": "b2"'*) seen2=$((seen2 + 1)) ;;
    *) fail "unexpected answer: $out" ;;
  esac
  echo "$out" | grep -q '"host": "app.example.test"' || fail "Host not preserved: $out"
  echo "$out" | grep -q '"xff": "127.0.0.1"' || fail "X-Forwarded-For is not the client: $out"
done
if [ "$seen1" -eq 0 ] || [ "$seen2" -eq 0 ]; then fail "both members must get requests (b1 $seen1, b2 $seen2)"; fi
echo "ok: 20 requests through the front, b1 $seen1 / b2 $seen2, Host kept, X-Forwarded-For 127.0.0.1"

# The health checks come from the front itself (no X-Forwarded-For), every 5 s per member.
for _ in $(seq 80); do
  if grep -q '^/health .* xff=$' "$T/b1/log" 2>/dev/null && grep -q '^/health .* xff=$' "$T/b2/log" 2>/dev/null; then
    echo "ok: health checks (GET /health) reached both members"
    exit 0
  fi
  sleep 0.2
done
fail "no GET /health health check reached both members within 16 s"
