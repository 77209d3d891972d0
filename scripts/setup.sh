#!/usr/bin/env bash
# One idempotent set-up shared by scripts/run-demo.sh, scripts/test.sh and .ci/run:
# installs Debian packages (apt-get update first), fetches mstch's upstream source from Debian's
# source archive (Debian's libmstch.a is not position-independent, so we compile it with -fPIC
# into our build), then configures and builds everything with CMake.
# Runs as root on a fresh Debian 12 machine. Environment:
#   FLASKPP_BUILD   build directory (default: <repo>/build)
#   FLASKPP_BUILD_TYPE  CMake build type (default: RelWithDebInfo)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FLASKPP_BUILD:-$ROOT/build}
BUILD_TYPE=${FLASKPP_BUILD_TYPE:-RelWithDebInfo}

PACKAGES=(
  build-essential cmake pkg-config
  apache2 apache2-dev libapr1-dev libaprutil1-dev
  rapidjson-dev libmstch-dev googletest libgtest-dev libsqlite3-dev libssl-dev libstb-dev
  libcurl4-openssl-dev curl python3 python3-requests
  dpkg-dev ca-certificates chromium
  openssl nghttp2-client python3-h2
  libhiredis-dev redis-server
)
# The browser test drives Chromium with playwright-core from npm: Debian's node and npm, unless a
# node is already installed (a nodesource node brings its own npm, which Debian's npm conflicts with).
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

log() { printf '[setup] %s\n' "$*" >&2; }

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "Debian packages present"
    return
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
}

# mstch 1.0.2 from Debian's source archive, verified against the .dsc checksum. apt's own
# configuration is left untouched: a private deb-src list and a private lists directory.
fetch_mstch() {
  local deps=$BUILD/_deps src=$BUILD/_deps/mstch-1.0.2
  if [ -f "$src/include/mstch/mstch.hpp" ]; then
    log "mstch source present"
    return
  fi
  mkdir -p "$deps/apt/lists/partial" "$deps/dl"
  local uri
  uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { log "no Debian mirror found in the apt sources"; exit 1; }
  local codename
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  echo "deb-src $uri ${codename:-bookworm} main" > "$deps/apt/sources.list"
  local opts=(-o "Dir::Etc::sourcelist=$deps/apt/sources.list" -o "Dir::Etc::sourceparts=-"
              -o "Dir::State::lists=$deps/apt/lists" -o "APT::Sandbox::User=root")
  log "fetching mstch source from $uri"
  apt-get "${opts[@]}" update >/dev/null
  # The debian.tar.xz part may answer 404; the upstream tarball is all we need.
  (cd "$deps/dl" && apt-get "${opts[@]}" source --download-only mstch >/dev/null 2>&1 || true)
  local dsc tarball want have
  dsc=$(ls "$deps"/dl/mstch_*.dsc 2>/dev/null | head -n1)
  tarball=$(ls "$deps"/dl/mstch_*.orig.tar.gz 2>/dev/null | head -n1)
  [ -n "$dsc" ] && [ -n "$tarball" ] || { log "could not download mstch source"; exit 1; }
  want=$(awk -v f="$(basename "$tarball")" '/^Checksums-Sha256:/{s=1;next} /^[^ ]/{s=0} s && $3==f {print $1}' "$dsc")
  have=$(sha256sum "$tarball" | awk '{print $1}')
  [ -n "$want" ] && [ "$want" = "$have" ] || { log "mstch checksum mismatch ($have vs $want)"; exit 1; }
  tar -xzf "$tarball" -C "$deps"
  log "mstch source verified and unpacked"
}

# From npm, pinned, into the build tree: Swagger UI's assets (swagger-ui-dist, served by the
# module's FlaskppSwaggerUI page: no CDN at run time) and Redocly CLI, the OpenAPI 3.1 validator
# behind tests/openapi/validate.sh. Each is reinstalled only when missing or of another version.
SWAGGER_UI_VERSION=5.35.0
# 1.x runs on Debian 12's Node.js 18; 2.x needs Node.js 20.19 or later.
REDOCLY_CLI_VERSION=1.34.20

npm_install_pinned() {  # DIR PACKAGE VERSION
  local dir=$1 pkg=$2 version=$3
  local manifest=$dir/node_modules/$pkg/package.json
  if [ -f "$manifest" ] &&
     node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' "$manifest" "$version"; then
    log "$pkg $version present"
    return
  fi
  log "installing $pkg@$version into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  # npm trusts only its own CA list; use the system's store (with any local CA the machine adds).
  # --ignore-scripts: neither package needs an install script, and swagger-ui-dist's would try
  # to send usage analytics.
  local env=(SCARF_ANALYTICS=false)
  [ -f /etc/ssl/certs/ca-certificates.crt ] && env+=(NPM_CONFIG_CAFILE=/etc/ssl/certs/ca-certificates.crt)
  env "${env[@]}" npm install --prefix "$dir" --no-audit --no-fund --loglevel=error --ignore-scripts \
      "$pkg@$version" >/dev/null
  [ -f "$manifest" ] || { log "npm did not install $pkg@$version"; exit 1; }
}

install_npm_packages() {
  npm_install_pinned "$BUILD/_deps/swagger-ui-dist" swagger-ui-dist "$SWAGGER_UI_VERSION"
  npm_install_pinned "$BUILD/_deps/openapi-validator" @redocly/cli "$REDOCLY_CLI_VERSION"
}

configure_and_build() {
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
        -DMSTCH_SOURCE_DIR="$BUILD/_deps/mstch-1.0.2" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)"
  # The example plugins (the demo's digit classifier), built against the installed SDK package.
  "$ROOT/scripts/build-examples.sh" "$BUILD"
}

install_packages
fetch_mstch
install_npm_packages
configure_and_build
