#!/usr/bin/env bash
# Drift checks: every directive is documented in conf/flaskpp.conf or conf/flaskpp-server.conf
# and in README.md; every
# ServerConfig field is handled by merge; every log tag is below mod_flaskpp/log_tags_next.
set -uo pipefail
SRC=${1:?source dir}
fail=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "DRIFT: $*"; }

directives=$(grep -oE '"Flaskpp[A-Za-z]+"' "$SRC/mod_flaskpp/glue/directives.hpp" | tr -d '"')
[ -n "$directives" ] || bad "no directive names found"
for d in $directives; do
  grep -q "^$d \|^# *$d " "$SRC/conf/flaskpp.conf" "$SRC/conf/flaskpp-server.conf" && ok ||
    bad "$d is not in conf/flaskpp.conf or conf/flaskpp-server.conf"
  grep -q "\`$d\`" "$SRC/README.md" && ok || bad "$d is not in README.md"
  grep -q "d::k${d#Flaskpp}\b" "$SRC/mod_flaskpp/glue/mod_flaskpp.cpp" && ok || bad "$d is not in the command table"
done

fields=$(awk '/^struct ServerConfig \{/,/^\};/' "$SRC/mod_flaskpp/glue/config.hpp" |
         grep -oE '^\s+[A-Za-z_:<>, ]+[ *&]([a-z_]+);' | grep -oE '[a-z_]+;' | tr -d ';')
for f in $fields; do
  case "$f" in app | error_paths) continue ;; esac  # built after merge, in check_config
  awk '/fpp_merge_server_config/,/^}/' "$SRC/mod_flaskpp/glue/config.cpp" | grep -q "merged->$f" && ok ||
    bad "ServerConfig::$f is not merged"
done

next=$(cat "$SRC/mod_flaskpp/log_tags_next")
for n in $(grep -rhoE 'FPPLOGNO\(([0-9]+)\)|constexpr int k[A-Za-z]+ = [0-9]+;' "$SRC/mod_flaskpp" | grep -oE '[0-9]+' ); do
  [ "$((10#$n))" -lt "$next" ] && ok || bad "log tag $n is not below log_tags_next ($next)"
done

echo "drift: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
