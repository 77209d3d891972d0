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
