#!/usr/bin/env bash
# Builds the example plugins the way a user builds theirs: installs the plugin SDK (headers and
# CMake package) from the module's build into BUILD/sdk-prefix, then configures and builds each
# examples/NAME/ project against that prefix into BUILD/examples/NAME/ (NAME.so).
#   scripts/build-examples.sh [BUILD_DIR]     (default: build/)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
PREFIX=$BUILD/sdk-prefix
# The module's own compiler: plugin and module must agree on the C++ library ABI.
CXX_USED=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
# And its flags: a sanitizer build (scripts/sanitize.sh) instruments the plugins as well.
cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }
CXX_FLAGS=$(cache CMAKE_CXX_FLAGS)
MODULE_LINKER_FLAGS=$(cache CMAKE_MODULE_LINKER_FLAGS)
SHARED_LINKER_FLAGS=$(cache CMAKE_SHARED_LINKER_FLAGS)

rm -rf "$PREFIX"
cmake --install "$BUILD" --component sdk --prefix "$PREFIX" >/dev/null
for dir in "$ROOT"/examples/*/; do
  name=$(basename "$dir")
  [ -f "$dir/CMakeLists.txt" ] || continue
  cmake -S "$dir" -B "$BUILD/examples/$name" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_CXX_COMPILER="$CXX_USED" \
        -DCMAKE_CXX_FLAGS="$CXX_FLAGS" -DCMAKE_MODULE_LINKER_FLAGS="$MODULE_LINKER_FLAGS" \
        -DCMAKE_SHARED_LINKER_FLAGS="$SHARED_LINKER_FLAGS" \
        -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$BUILD/examples/$name" >/dev/null
  cmake --build "$BUILD/examples/$name" -j "$(nproc)" >/dev/null
  echo "[examples] $name: $BUILD/examples/$name/$name.so (against the SDK installed in $PREFIX)"
done
