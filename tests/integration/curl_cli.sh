#!/usr/bin/env bash
# The seed's curl commands (16.5.3) against the private Apache, with the curl CLI.
set -uo pipefail
# shellcheck disable=SC1090
. "$1"
B=http://127.0.0.1:$PORT
LOG=$ROOT/logs/error_log
log_start=$(stat -c %s "$LOG")
pass=0
fail=0
check() {  # description, command output, expected substring
  if [[ "$2" == *"$3"* ]]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    printf 'FAIL: %s\n  expected to contain: %s\n  got: %s\n' "$1" "$3" "$2"
  fi
}

out=$(curl -s --request POST "$B/api/echo")
check "POST without data" "$out" '"method":"POST"'
check "POST without data has null json" "$out" '"json":null'

out=$(curl -s --header "Content-Type: application/json" --request POST \
      --data '{"username":"xyz","password":"xyz"}' "$B/api/echo")
check "POST JSON" "$out" '"json":{"username":"xyz","password":"xyz"}'

# Parallel requests, as in the seed's stress example.
tmp=$(mktemp -d)
for i in 1 2 3 4 5 6; do
  curl -s --header "Content-Type: application/json" --request POST \
       --data "{\"username\":\"user$i\"}" "$B/api/echo" > "$tmp/$i" &
done
wait
for i in 1 2 3 4 5 6; do
  check "parallel request $i" "$(cat "$tmp/$i")" "\"username\":\"user$i\""
done
rm -rf "$tmp"

out=$(curl -s -o /dev/null -w '%{http_code}' -I "$B/")
check "HEAD /" "$out" "200"
out=$(curl -s -i -X OPTIONS "$B/health")
check "OPTIONS /health" "$out" "Allow: GET, HEAD, OPTIONS"
out=$(curl -s -i "$B/about")
check "308 to the slash URL" "$out" "Location: $B/about/"
out=$(curl -s -L "$B/about")
check "following the 308" "$out" "<h1>About</h1>"
out=$(curl -s -w ' %{http_code}' "$B/static/js/app.js")
check "static JS from Apache" "$out" "addEventListener"
check "static JS status" "$out" " 200"
out=$(curl -s -w ' %{http_code}' -H 'Accept: application/json' "$B/hello/x" -X PATCH)
check "405 JSON for a JSON client" "$out" '{"error":{"code":405,'

# Seed 16.6 with curl -F: the demo's upload form (replace=on, several files).
img=$(mktemp)
printf '\x89PNG\r\n\x1a\n' > "$img"
head -c 3000 /dev/urandom >> "$img"
out=$(curl -s -F "image_upload=@$img;filename=seed.png" "$B/upload")
check "demo upload shows the thumbnail" "$out" 'class="img-thumbnail" src="/static/img/seed_'
first=$(printf '%s' "$out" | grep -o 'src="/static/img/[^"]*"' | head -n1 | cut -d'"' -f2)
out=$(curl -s -o /dev/null -w '%{http_code}' "$B$first")
check "the upload is served by Apache" "$out" "200"
out=$(curl -s -F "image_upload=@$img;filename=again.png" -F "image_upload=@$img;filename=again2.png" "$B/upload")
n=$(printf '%s' "$out" | grep -c 'class="img-thumbnail"')
check "two files in one request" "$n" "2"
out=$(curl -s -o /dev/null -w '%{http_code}' "$B$first")
check "replace=on deleted the previous upload" "$out" "404"
out=$(curl -s -w ' %{http_code}' -F "image_upload=@$img;filename=script.php" "$B/upload")
check "refused extension" "$out" " 415"
rm -f "$img"

# None of the above may make Apache log a warn-or-worse line (as it_main.cpp checks per test). A
# barrier request's debug line (FPP00008, written before its response) marks the end of ours.
barrier="/t/files/it-log-barrier/sh$$"
curl -s -o /dev/null "$B$barrier"
for ((i = 0; i < 100; i++)); do
  tail -c +"$((log_start + 1))" "$LOG" | grep -qF "GET $barrier -> route" && break
  sleep 0.01
done
bad=$(tail -c +"$((log_start + 1))" "$LOG" |
      grep -E '\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]|exit signal|Segmentation fault' || true)
if [ -z "$bad" ]; then
  pass=$((pass + 1))
else
  fail=$((fail + 1))
  printf 'FAIL: unexpected error_log lines:\n%s\n' "$bad"
fi

echo "curl CLI: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
