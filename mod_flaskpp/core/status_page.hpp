// The operator's view of a server's routes (FlaskppStatus, `apachectl -t -D DUMP_ROUTES`): what each
// route is, and what it has answered so far (route_stats.hpp), as an HTML page or as JSON.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/route_decl.hpp"
#include "core/route_stats.hpp"

namespace flaskpp::core {

// The route's options as FlaskppRoute spells them, space-separated ("then=template:x.html
// replace=on", "timeout=30s attempts=2", the redirect code); empty when none.
std::string route_options(const RouteDecl& route);
// One line of the route table: METHODS PATTERN ACTION [TARGET] [OPTIONS], columns padded.
std::string route_line(const RouteDecl& route);

struct StatusRoute {
  RouteDecl route;
  RouteSnapshot stats;
  // FlaskppRateLimit rules that apply: "10/minute;100/day (by address, fixed-window; route)".
  std::vector<std::string> limits;
};

struct StatusReport {
  std::string server;          // "name:port"
  bool counting = false;       // false: no statistics in this configuration (e.g. none were set up)
  std::int64_t since_unix = 0; // counting since (start or last graceful restart)
  std::int64_t now_unix = 0;
  std::vector<StatusRoute> routes;
  // Answers no single route gives: 405 (the path matched, the method did not) and the 308
  // trailing-slash redirect.
  RouteSnapshot other;
};

// A complete HTML page (UTF-8); every configured or client-derived text is escaped.
std::string render_status_html(const StatusReport& report);
// {"server", "counting", "since", "now", "routes": [{"index", "methods", "pattern", "action",
// "target", "options", "hits", "4xx", "5xx", "p50_us", "p99_us"}], "other": {...}}. Percentiles
// are the upper bound of their latency bucket in microseconds, null when there is no answer yet
// or when they lie above 60 s.
std::string render_status_json(const StatusReport& report);

}  // namespace flaskpp::core
