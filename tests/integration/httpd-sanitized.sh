#!/bin/sh
# /usr/sbin/apache2 with the AddressSanitizer runtime preloaded, for a mod_flaskpp built with
# -fsanitize=address,undefined (scripts/sanitize.sh points FLASKPP_HTTPD here; every test that
# starts Apache honours FLASKPP_HTTPD). apache2 itself is not instrumented, so the runtime must be
# the first library of the process: it cannot come in with the module's dlopen. Only Apache gets
# it: the test programs are instrumented themselves, python/node/chromium/curl are left alone.
#   FLASKPP_ASAN_RUNTIME  the runtime (default: clang's libclang_rt.asan-x86_64.so, which holds
#                         UBSan's handlers too)
#   FLASKPP_SAN_REPORTS   directory for the report files, one per process (asan.PID); it must be
#                         writable by the children's user (www-data): sanitize.sh makes it 1777.
#                         Default: stderr, i.e. Apache's error log.
# detect_leaks=0: Apache never frees its pools before exit (pconf, the children's pchild and the
# module's process-lifetime objects are reclaimed by exit, by design), so LeakSanitizer would
# report them at every child's exit; the test programs keep leak detection.
set -eu
rt=${FLASKPP_ASAN_RUNTIME:-$(clang -print-file-name=libclang_rt.asan-x86_64.so)}
[ -f "$rt" ] || { echo "httpd-sanitized.sh: no ASan runtime at $rt" >&2; exit 1; }
log=
if [ -n "${FLASKPP_SAN_REPORTS:-}" ]; then log=":log_path=$FLASKPP_SAN_REPORTS/asan"; fi
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:print_stacktrace=1$log"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1$log"
export LD_PRELOAD="$rt${LD_PRELOAD:+:$LD_PRELOAD}"
exec /usr/sbin/apache2 "$@"
