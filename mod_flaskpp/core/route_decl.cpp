#include "core/route_decl.hpp"

#include <cstdlib>

#include "core/errors.hpp"
#include "core/request.hpp"
#include "core/router.hpp"
#include "core/templates.hpp"

namespace flaskpp::core {

namespace {

bool is_redirect_code(long code) { return code == 301 || code == 302 || code == 303 || code == 307 || code == 308; }

// A handler name as a plugin may register it: letters, digits, '_', '-', '.', ':'.
bool is_handler_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

long parse_duration_ms(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  std::string unit = text.substr(i);
  std::optional<std::uint64_t> value;
  if (i > 0 && i <= 12) value = parse_decimal(text.substr(0, i));
  long factor = unit.empty() || unit == "s" ? 1000 : unit == "ms" ? 1 : unit == "m" ? 60000 : unit == "h" ? 3600000
              : unit == "d" ? 86400000 : 0;
  constexpr long kMax = 10L * 365 * 86400000;
  std::uint64_t n = value.value_or(0);
  if (factor == 0 || n == 0 || n > static_cast<std::uint64_t>(kMax / factor)) {
    throw ConfigError("'" + text + "' is not a duration (e.g. 500ms, 30s, 5m, 2h, 1d; up to 10 years)");
  }
  return static_cast<long>(n) * factor;
}

RouteDecl parse_route(const std::vector<std::string>& args) {
  if (args.size() < 3) {
    throw ConfigError("needs METHODS PATTERN ACTION [ARGS], e.g. FlaskppRoute GET / template index.html");
  }
  RouteDecl d;
  d.methods = args[0];
  d.pattern = args[1];
  {
    Router probe;  // compile once now so a bad pattern fails at the directive
    probe.add(d.methods, d.pattern);
  }
  const std::string& action = args[2];
  std::size_t extra = 3;
  if (action == "template") {
    if (args.size() < 4) throw ConfigError("action 'template' needs a template name");
    d.action = ActionKind::kTemplate;
    d.target = args[3];
    if (!is_safe_template_name(d.target)) {
      throw ConfigError("template name '" + d.target + "' must be relative to FlaskppTemplateDir, without '..'");
    }
    extra = 4;
  } else if (action == "redirect") {
    if (args.size() < 4) throw ConfigError("action 'redirect' needs a URL");
    d.action = ActionKind::kRedirect;
    d.target = args[3];
    extra = 4;
    if (args.size() >= 5 && args[4].find('=') == std::string::npos) {
      char* end = nullptr;
      long code = std::strtol(args[4].c_str(), &end, 10);
      if (!end || *end || !is_redirect_code(code)) {
        throw ConfigError("redirect code '" + args[4] + "' must be 301, 302, 303, 307 or 308");
      }
      d.redirect_code = static_cast<int>(code);
      extra = 5;
    }
  } else if (action == "handler") {
    if (args.size() < 4) throw ConfigError("action 'handler' needs a handler name");
    d.action = ActionKind::kHandler;
    d.target = args[3];
    if (!is_handler_name(d.target)) {
      throw ConfigError("handler name '" + d.target + "' may hold only letters, digits, '_', '-', '.' and ':'");
    }
    extra = 4;
  } else if (action == "upload") {
    if (args.size() < 4 || args[3].find('=') != std::string::npos) {
      throw ConfigError("action 'upload' needs the form field name, e.g. upload image_upload");
    }
    d.action = ActionKind::kUpload;
    d.target = args[3];
    extra = 4;
  } else if (action == "job") {
    if (args.size() < 4 || args[3].find('=') != std::string::npos) {
      throw ConfigError("action 'job' needs a job or handler name, e.g. job predict");
    }
    d.action = ActionKind::kJob;
    d.target = args[3];
    // A GET (and so HEAD) would let a link prefetcher or a crawler start jobs.
    for (const char* safe_method : {"GET", "HEAD", "*"}) {
      std::string m = "," + d.methods + ",";
      if (m.find(std::string(",") + safe_method + ",") != std::string::npos) {
        throw ConfigError("a job route takes POST (or PUT, PATCH, DELETE), not " + std::string(safe_method));
      }
    }
    if (!is_handler_name(d.target)) {
      throw ConfigError("job name '" + d.target + "' may hold only letters, digits, '_', '-', '.' and ':'");
    }
    extra = 4;
  } else if (action == "job-status" || action == "job-cancel") {
    d.action = action == "job-status" ? ActionKind::kJobStatus : ActionKind::kJobCancel;
    Router probe;
    probe.add(d.methods, d.pattern);
    const auto& rule = probe.rule(0);
    if (rule.param_names.size() != 1) {
      throw ConfigError("action '" + action + "' needs a pattern with exactly one parameter, the job id, e.g. "
                        "/jobs/<uuid:id>");
    }
  } else {
    throw ConfigError("unknown action '" + action + "' (use template, redirect, handler, upload, job, job-status or "
                      "job-cancel)");
  }
  for (std::size_t i = extra; i < args.size(); ++i) {
    const std::string& opt = args[i];
    auto eq = opt.find('=');
    if (eq == std::string::npos) {
      throw ConfigError("unexpected argument '" + opt + "' after action '" + action + "'");
    }
    std::string key = opt.substr(0, eq), value = opt.substr(eq + 1);
    if (key == "summary") {
      if (value.empty()) throw ConfigError("summary= needs a text, e.g. \"summary=Predict a digit\"");
      d.summary = value;
    } else if (key == "schema" && (d.action == ActionKind::kHandler || d.action == ActionKind::kJob)) {
      if (value.empty()) throw ConfigError("schema= needs a JSON Schema file, e.g. schema=schemas/predict.json");
      d.schema_path = value;
    } else if (d.action == ActionKind::kUpload && key == "then") {
      if (value == "json") {
        d.then_template.clear();
      } else if (value.rfind("template:", 0) == 0 && value.size() > 9 && is_safe_template_name(value.substr(9))) {
        d.then_template = value.substr(9);
      } else {
        throw ConfigError("then='" + value + "' must be json or template:NAME");
      }
    } else if (d.action == ActionKind::kJob && key == "timeout") {
      d.job_timeout_ms = parse_duration_ms(value);
    } else if (d.action == ActionKind::kJob && key == "attempts") {
      auto n = parse_decimal(value);
      if (!n || *n < 1 || *n > 100) throw ConfigError("attempts='" + value + "' must be from 1 to 100");
      d.job_attempts = static_cast<int>(*n);
    } else if (d.action == ActionKind::kUpload && key == "replace") {
      if (value != "on" && value != "off") throw ConfigError("replace='" + value + "' must be on or off");
      d.replace = value == "on";
    } else {
      throw ConfigError("unknown option '" + key + "' for action '" + action + "'" +
                        (d.action == ActionKind::kUpload    ? " (upload takes then=, replace= and summary=)"
                         : d.action == ActionKind::kJob     ? " (job takes timeout=, attempts=, schema= and summary=)"
                         : d.action == ActionKind::kHandler ? " (handler takes schema= and summary=)"
                                                            : " (summary= only)"));
    }
  }
  return d;
}

const char* action_name(ActionKind kind) {
  switch (kind) {
    case ActionKind::kTemplate: return "template";
    case ActionKind::kRedirect: return "redirect";
    case ActionKind::kHandler: return "handler";
    case ActionKind::kUpload: return "upload";
    case ActionKind::kJob: return "job";
    case ActionKind::kJobStatus: return "job-status";
    case ActionKind::kJobCancel: return "job-cancel";
  }
  return "?";
}

}  // namespace flaskpp::core
