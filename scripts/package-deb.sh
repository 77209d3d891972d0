#!/usr/bin/env bash
# Builds the Debian packages from a configured and built tree (scripts/setup.sh makes one):
#   scripts/package-deb.sh [BUILD_DIR]      (default build/) -> BUILD/pkg/
#     libapache2-mod-flaskpp_<version>_amd64.deb      the module, mods-available files, the demo
#                                                     site, app and plugin, Swagger UI's assets
#     libapache2-mod-flaskpp-dev_<version>_all.deb    the plugin SDK (header, CMake package)
# Installs nothing. The packages' layout and scripts: cmake/Packaging.cmake, cmake/debian/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
cmake --build "$BUILD" --target mod_flaskpp -j "$(nproc)" >/dev/null
# The demo's plugin, built against the installed SDK as a user builds theirs.
[ -f "$BUILD/examples/digits/digits.so" ] || "$ROOT/scripts/build-examples.sh" "$BUILD" >/dev/null
rm -rf "$BUILD/pkg"
(cd "$BUILD" && cpack -G DEB --config CPackConfig.cmake >"$BUILD/pkg-cpack.log" 2>&1) || {
  cat "$BUILD/pkg-cpack.log" >&2; exit 1; }
for deb in "$BUILD"/pkg/*.deb; do
  echo "[package] $deb ($(stat -c %s "$deb") bytes)"
done
