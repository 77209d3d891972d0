// The sole include point for httpd and APR headers. Declares the log module (inside extern "C",
// matching the module record) so that APLOG_MARK carries our module index and
// `LogLevel flaskpp:debug` works.
#pragma once

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_mpm.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include <cstddef>

// APR's ring macros (APR_BRIGADE_FIRST/SENTINEL, APR_BRIGADE_INSERT_TAIL, ...) find a member's
// offset with APR_OFFSETOF, which apr_general.h defines for C++ as `&((T*)NULL)->field`: a member
// access through a null pointer, undefined behaviour (UBSan, scripts/sanitize.sh: "io.cpp: runtime
// error: member access within null pointer of type 'struct apr_bucket'"). offsetof is defined for
// APR's structs (standard-layout C structs) and gives the same value.
#undef APR_OFFSETOF
#define APR_OFFSETOF(s_type, field) offsetof(s_type, field)

extern "C" {
APLOG_USE_MODULE(flaskpp);
}

// Every log call site at debug level or above carries its own tag: FPPLOGNO(00001) -> "FPP00001: ".
// The next free number is in mod_flaskpp/log_tags_next.
#define FPPLOGNO(n) "FPP" #n ": "

namespace flaskpp::glue {
constexpr const char* kHandlerName = "flaskpp";
constexpr const char* kErrorPrefix = "/.flaskpp-error/";
}  // namespace flaskpp::glue
