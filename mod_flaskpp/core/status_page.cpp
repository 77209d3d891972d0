#include "core/status_page.hpp"

#include <time.h>

#include <cstdio>
#include <ctime>

#include "core/json.hpp"
#include "core/request.hpp"

namespace flaskpp::core {

namespace {

// 500 -> "500ms", 30000 -> "30s", 300000 -> "5m", as FlaskppRoute's timeout= takes them.
std::string duration_text(long ms) {
  if (ms % 86400000 == 0) return std::to_string(ms / 86400000) + "d";
  if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// 80 -> "80 µs", 1250 -> "1.25 ms", 2500000 -> "2.5 s".
std::string latency_text(std::uint64_t us) {
  char buf[32];
  if (us < 1000) std::snprintf(buf, sizeof buf, "%llu \xC2\xB5s", static_cast<unsigned long long>(us));
  else if (us < 1000000) std::snprintf(buf, sizeof buf, "%.3g ms", static_cast<double>(us) / 1e3);
  else std::snprintf(buf, sizeof buf, "%.3g s", static_cast<double>(us) / 1e6);
  return buf;
}

std::string percentile_text(const std::optional<std::uint64_t>& us, bool over_max) {
  if (us) return latency_text(*us);
  return over_max ? "&gt; 60 s" : "-";
}

std::string utc_text(std::int64_t unix_time) {
  time_t t = static_cast<time_t>(unix_time);
  struct tm tm {};
  char buf[32];
  if (!gmtime_r(&t, &tm) || !std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm)) return "?";
  return buf;
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

void html_counts(std::string& out, const RouteSnapshot& s) {
  out += "<td class=\"n\">" + std::to_string(s.hits) + "</td><td class=\"n\">" + std::to_string(s.status_4xx) +
         "</td><td class=\"n\">" + std::to_string(s.status_5xx) + "</td><td class=\"n\">" +
         percentile_text(s.p50_us, s.p50_over_max) + "</td><td class=\"n\">" +
         percentile_text(s.p99_us, s.p99_over_max) + "</td>";
}

void json_percentile(JsonWriter& w, const char* key, const std::optional<std::uint64_t>& us) {
  w.Key(key);
  if (us) w.Uint64(*us);
  else w.Null();
}

void json_counts(JsonWriter& w, const RouteSnapshot& s) {
  w.Key("hits");
  w.Uint64(s.hits);
  w.Key("4xx");
  w.Uint64(s.status_4xx);
  w.Key("5xx");
  w.Uint64(s.status_5xx);
  json_percentile(w, "p50_us", s.p50_us);
  json_percentile(w, "p99_us", s.p99_us);
}

}  // namespace


std::string route_options(const RouteDecl& route) {
  std::string out;
  auto add = [&out](const std::string& option) { out += (out.empty() ? "" : " ") + option; };
  switch (route.action) {
    case ActionKind::kRedirect:
      add(std::to_string(route.redirect_code));
      break;
    case ActionKind::kUpload:
      add(route.then_template.empty() ? "then=json" : "then=template:" + route.then_template);
      if (route.replace) add("replace=on");
      break;
    case ActionKind::kJob:
      if (route.job_timeout_ms > 0) add("timeout=" + duration_text(route.job_timeout_ms));
      if (route.job_attempts > 0) add("attempts=" + std::to_string(route.job_attempts));
      break;
    default:
      break;
  }
  if (!route.schema_path.empty()) add("schema=" + route.schema_path);
  if (!route.summary.empty()) add("\"summary=" + route.summary + "\"");
  return out;
}

std::string route_line(const RouteDecl& route) {
  std::string line = pad(route.methods, 12) + " " + pad(route.pattern, 32) + " " + action_name(route.action);
  if (!route.target.empty()) line += " " + route.target;
  std::string options = route_options(route);
  if (!options.empty()) line += " " + options;
  return line;
}

std::string render_status_html(const StatusReport& report) {
  std::string server = html_escape(report.server);
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>mod_flaskpp status: " + server + "</title>\n"
      "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
      "th,td{border:1px solid #ccc;padding:2px 6px;text-align:left}td.n{text-align:right}"
      "code{font-size:95%}</style>\n</head>\n<body>\n<h1>mod_flaskpp status</h1>\n<p>Server <b>" + server + "</b>, ";
  out += std::to_string(report.routes.size()) + " route(s). ";
  if (report.counting) {
    out += "Answers counted since " + utc_text(report.since_unix) + ", summed over every child process (now " +
           utc_text(report.now_unix) + "). Latency percentiles are the upper bound of their bucket.</p>\n";
  } else {
    out += "No answers are counted in this configuration.</p>\n";
  }
  out += "<table>\n<thead><tr><th>#</th><th>Methods</th><th>Pattern</th><th>Action</th><th>Target</th>"
         "<th>Options</th><th>Limits</th><th>Hits</th><th>4xx</th><th>5xx</th><th>p50</th><th>p99</th></tr></thead>\n<tbody>\n";
  for (std::size_t i = 0; i < report.routes.size(); ++i) {
    const StatusRoute& r = report.routes[i];
    out += "<tr><td class=\"n\">" + std::to_string(i) + "</td><td>" + html_escape(r.route.methods) +
           "</td><td><code>" + html_escape(r.route.pattern) + "</code></td><td>" + action_name(r.route.action) +
           "</td><td>" + html_escape(r.route.target) + "</td><td>" + html_escape(route_options(r.route)) + "</td><td>";
    for (std::size_t j = 0; j < r.limits.size(); ++j) out += (j ? "<br>" : "") + html_escape(r.limits[j]);
    out += "</td>";
    html_counts(out, r.stats);
    out += "</tr>\n";
  }
  out += "<tr><td></td><td colspan=\"6\"><i>other answers: 405 (method not allowed), 308 (trailing slash)</i></td>";
  html_counts(out, report.other);
  out += "</tr>\n</tbody>\n</table>\n</body>\n</html>\n";
  return out;
}

std::string render_status_json(const StatusReport& report) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("server");
  write_string(w, report.server);
  w.Key("counting");
  w.Bool(report.counting);
  w.Key("since");
  w.Int64(report.since_unix);
  w.Key("now");
  w.Int64(report.now_unix);
  w.Key("routes");
  w.StartArray();
  for (std::size_t i = 0; i < report.routes.size(); ++i) {
    const StatusRoute& r = report.routes[i];
    w.StartObject();
    w.Key("index");
    w.Uint64(i);
    w.Key("methods");
    write_string(w, r.route.methods);
    w.Key("pattern");
    write_string(w, r.route.pattern);
    w.Key("action");
    w.String(action_name(r.route.action));
    w.Key("target");
    write_string(w, r.route.target);
    w.Key("options");
    write_string(w, route_options(r.route));
    w.Key("limits");
    w.StartArray();
    for (const auto& l : r.limits) write_string(w, l);
    w.EndArray();
    json_counts(w, r.stats);
    w.EndObject();
  }
  w.EndArray();
  w.Key("other");
  w.StartObject();
  json_counts(w, report.other);
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace flaskpp::core
