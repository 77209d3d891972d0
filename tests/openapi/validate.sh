#!/usr/bin/env bash
# Validates an OpenAPI 3.1 JSON document with Redocly CLI (installed by scripts/setup.sh) under
# the rules of redocly.yaml beside this script. Exits 0 when valid; otherwise prints every problem
# and exits 1 (2 for a usage error or a missing validator).
#   validate.sh FILE.json
# The validator is looked for in $FLASKPP_OPENAPI_VALIDATOR_DIR, else in
# ${FLASKPP_BUILD:-<repo>/build}/_deps/openapi-validator.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DIR=${FLASKPP_OPENAPI_VALIDATOR_DIR:-${FLASKPP_BUILD:-$ROOT/build}/_deps/openapi-validator}
BIN=$DIR/node_modules/.bin/redocly

if [ $# -ne 1 ]; then
  echo "usage: $0 FILE.json" >&2
  exit 2
fi
FILE=$1
[ -f "$FILE" ] || { echo "validate.sh: no such file: $FILE" >&2; exit 2; }
[ -x "$BIN" ] || { echo "validate.sh: Redocly CLI not found in $DIR (run scripts/setup.sh)" >&2; exit 2; }

# Redocly lints 3.0 and YAML too; the module promises 3.1 JSON, so check that first.
node -e '
  const fs = require("fs");
  let doc;
  try { doc = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); }
  catch (e) { console.error(process.argv[1] + ": not JSON: " + e.message); process.exit(1); }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc) ||
      typeof doc.openapi !== "string" || !/^3\.1\.\d+$/.test(doc.openapi)) {
    console.error(process.argv[1] + ": not an OpenAPI 3.1 document (openapi: " + JSON.stringify(doc && doc.openapi) + ")");
    process.exit(1);
  }' "$FILE"

# No telemetry and no update check: this machine reaches only the package registries.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1
if ! "$BIN" lint --config "$HERE/redocly.yaml" --format stylish --max-problems 1000 "$FILE" 2>&1; then
  echo "validate.sh: $FILE is not a valid OpenAPI 3.1 document (see above)" >&2
  exit 1
fi
