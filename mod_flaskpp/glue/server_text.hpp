// Small text helpers the operator's pages share (FlaskppStatus, FlaskppOpenAPI, FlaskppSwaggerUI).
#pragma once

#include <string>

#include "glue/apache.hpp"

namespace flaskpp::glue {

// "name:port" of a server for messages; the port falls back to its first address's, then to
// `fallback_port` (e.g. the connection's local port).
std::string server_label(const server_rec* s, apr_port_t fallback_port = 0);

// A path Apache can hand a module: '/' first; no query, fragment, escape, space or control
// character; no empty or dot segment (Apache normalises those away, so such a path never matches).
// A final '/' is allowed.
bool plain_url_path(const std::string& p);

}  // namespace flaskpp::glue
