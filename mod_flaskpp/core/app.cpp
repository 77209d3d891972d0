#include "core/app.hpp"

#include <cctype>
#include <climits>

#include "core/errors.hpp"
#include "core/json.hpp"

namespace flaskpp::core {

namespace {

bool is_redirect_code(long code) { return code == 301 || code == 302 || code == 303 || code == 307 || code == 308; }

mstch::node param_node(const ParamValue& v) {
  switch (v.kind) {
    case ConverterKind::kInt:
      if (v.int_value >= INT_MIN && v.int_value <= INT_MAX) return static_cast<int>(v.int_value);
      return static_cast<double>(v.int_value);
    case ConverterKind::kFloat: return v.float_value;
    default: return v.text;
  }
}

LogLevel level_for(int status) { return status >= 500 ? LogLevel::kError : LogLevel::kInfo; }

}  // namespace

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
    if (!HandlerRegistry::builtins().find(d.target)) {
      std::string known;
      for (const auto& n : HandlerRegistry::builtins().names()) known += (known.empty() ? "" : ", ") + n;
      throw ConfigError("unknown handler '" + d.target + "' (built-in handlers: " + known + ")");
    }
    extra = 4;
  } else {
    throw ConfigError("unknown action '" + action + "' (use template, redirect or handler)");
  }
  if (args.size() > extra) {
    throw ConfigError("unexpected argument '" + args[extra] + "' after action '" + action + "'");
  }
  return d;
}

void HandlerRegistry::add(const std::string& name, Handler handler) { handlers_[name] = std::move(handler); }

const Handler* HandlerRegistry::find(const std::string& name) const {
  auto it = handlers_.find(name);
  return it == handlers_.end() ? nullptr : &it->second;
}

std::vector<std::string> HandlerRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& h : handlers_) out.push_back(h.first);
  return out;
}

App::App(AppSettings settings, std::vector<RouteDecl> routes, const HandlerRegistry& handlers)
    : settings_(std::move(settings)), routes_(std::move(routes)), handlers_(handlers) {
  Config& cfg = settings_.config;
  // Flask's defaults, unless configured.
  rapidjson::Document v;
  if (!cfg.has("ENV")) {
    v.SetString(env_name(settings_.env), v.GetAllocator());
    cfg.set("ENV", v);
  }
  if (!cfg.has("DEBUG")) {
    v.SetBool(settings_.env == Env::kDevelopment);
    cfg.set("DEBUG", v);
  }
  if (!cfg.has("TESTING")) {
    v.SetBool(false);
    cfg.set("TESTING", v);
  }
  if (!cfg.has("JSONIFY_MIMETYPE")) {
    v.SetString("application/json", v.GetAllocator());
    cfg.set("JSONIFY_MIMETYPE", v);
  }
  json_mimetype_ = cfg.get_string("JSONIFY_MIMETYPE", "application/json");
  if (const auto* mcl = cfg.get("MAX_CONTENT_LENGTH"); mcl && mcl->IsNumber() && mcl->GetDouble() >= 0) {
    max_body_ = static_cast<std::size_t>(mcl->GetDouble());
  }
  config_view_ = cfg.public_view();

  bool needs_templates = !settings_.error_templates.empty();
  for (const auto& r : routes_) {
    router_.add(r.methods, r.pattern);
    const Handler* h = nullptr;
    if (r.action == ActionKind::kHandler) {
      h = handlers_.find(r.target);
      if (!h) throw ConfigError("FlaskppRoute at " + r.where + ": unknown handler '" + r.target + "'");
    }
    if (r.action == ActionKind::kTemplate) needs_templates = true;
    route_handlers_.push_back(h);
  }
  if (needs_templates) {
    if (settings_.template_dir.empty()) {
      throw ConfigError("templates are used (FlaskppRoute ... template, FlaskppErrorTemplate) but no "
                        "FlaskppTemplateDir is set");
    }
    bool reload = settings_.env == Env::kDevelopment;
    templates_ = std::make_unique<TemplateStore>(std::make_shared<DirectorySource>(settings_.template_dir), reload);
    if (!reload) templates_->preload();
    for (const auto& r : routes_) {
      if (r.action == ActionKind::kTemplate && !templates_->exists(r.target)) {
        warnings_.push_back("template '" + r.target + "' of route " + r.methods + " " + r.pattern + " (" + r.where +
                            ") is not loadable from " + settings_.template_dir);
      }
    }
    for (const auto& [code, name] : settings_.error_templates) {
      if (!templates_->exists(name)) {
        warnings_.push_back("error template '" + name + "' for status " + std::to_string(code) +
                            " is not loadable from " + settings_.template_dir);
      }
    }
  }
}

bool App::accepts_only_json(const Request& request) {
  const std::string* accept = request.header("accept");
  if (!accept) return false;
  bool json = false;
  bool html = false;
  std::string_view rest(*accept);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string item = to_lower(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    auto semi = item.find(';');
    std::string params = semi == std::string::npos ? "" : item.substr(semi);
    item = item.substr(0, semi);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    bool refused = params.find("q=0") != std::string::npos && params.find("q=0.") == std::string::npos;
    if (refused) continue;
    if (is_json_media_type(item)) json = true;
    if (item == "text/html" || item == "*/*" || item == "text/*" || item == "application/xhtml+xml") html = true;
  }
  return json && !html;
}

mstch::map App::template_context(const Request& request, const Params& params) const {
  mstch::map ctx;
  mstch::map args;
  for (const auto& [k, v] : parse_query(request.query)) args.emplace(k, v);  // first value wins
  ctx.emplace("args", std::move(args));
  ctx.emplace("config", config_view_);
  ctx.emplace("request", mstch::map{{"method", request.method},
                                    {"path", request.path},
                                    {"url", request.url()},
                                    {"remote_addr", request.remote_addr}});
  ctx.emplace("env", std::string(env_name(settings_.env)));
  for (const auto& [name, value] : params) ctx[name] = param_node(value);
  return ctx;
}

Response App::run_action(const RouteDecl& route, const Request& request, const RouteMatch& match, Logger& log) const {
  Response resp;
  switch (route.action) {
    case ActionKind::kTemplate: {
      resp.content_type = "text/html; charset=utf-8";
      resp.body = templates_->render(route.target, template_context(request, match.params));
      return resp;
    }
    case ActionKind::kRedirect: {
      resp.status = route.redirect_code;
      resp.content_type = "text/html; charset=utf-8";
      resp.headers.emplace_back("Location", route.target);
      std::string t = html_escape(route.target);
      resp.body = "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
                  "<p>You should be redirected automatically to the target URL: <a href=\"" + t + "\">" + t +
                  "</a>. If not, click the link.\n";
      return resp;
    }
    case ActionKind::kHandler: {
      const Handler* h = route_handlers_[match.rule];
      return (*h)(HandlerContext{*this, request, match.params, log});
    }
  }
  throw InternalError("unknown action");
}

Response App::dispatch(const Request& request, const RouteMatch& match, Logger& log) const noexcept {
  bool json_route = false;
  try {
    switch (match.kind) {
      case RouteMatch::Kind::kMatch: {
        const RouteDecl& route = routes_[match.rule];
        json_route = route.action == ActionKind::kHandler;
        if (log.enabled(LogLevel::kDebug)) {
          log.log(LogLevel::kDebug, tag::kRouteMatched,
                  request.method + " " + sanitize_utf8(request.path) + " -> route " + route.methods + " " +
                      route.pattern + " (" + route.where + ")");
        }
        return run_action(route, request, match, log);
      }
      case RouteMatch::Kind::kRedirect: {
        Response resp;
        resp.status = 308;
        std::string location = request.host_url + url_quote_path(match.redirect_path);
        if (!request.query.empty()) location += "?" + request.query;
        resp.headers.emplace_back("Location", location);
        resp.content_type = "text/html; charset=utf-8";
        std::string t = html_escape(location);
        resp.body = "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
                    "<p>You should be redirected automatically to the target URL: <a href=\"" + t + "\">" + t +
                    "</a>. If not, click the link.\n";
        return resp;
      }
      case RouteMatch::Kind::kOptions: {
        Response resp;
        std::string allow;
        for (const auto& m : match.allowed) allow += (allow.empty() ? "" : ", ") + m;
        resp.headers.emplace_back("Allow", allow);
        return resp;
      }
      case RouteMatch::Kind::kMethodNotAllowed: {
        if (log.enabled(LogLevel::kInfo)) {
          std::string allow;
          for (const auto& m : match.allowed) allow += (allow.empty() ? "" : ", ") + m;
          log.log(LogLevel::kInfo, tag::kMethodNotAllowed,
                  "405 for " + request.method + " " + sanitize_utf8(request.path) + ": allowed " + allow);
        }
        Response resp = error_response(405, status_description(405), request, accepts_only_json(request), log);
        std::string allow;
        for (const auto& m : match.allowed) allow += (allow.empty() ? "" : ", ") + m;
        resp.headers.emplace_back("Allow", allow);
        return resp;
      }
      case RouteMatch::Kind::kNotFound:
        if (log.enabled(LogLevel::kInfo)) {
          log.log(LogLevel::kInfo, tag::kConverterRejected,
                  "404 for " + request.method + " " + sanitize_utf8(request.path) + ": a converter rejected the value");
        }
        return error_response(404, status_description(404), request, accepts_only_json(request), log);
      case RouteMatch::Kind::kNoMatch:
        return error_response(404, status_description(404), request, accepts_only_json(request), log);
    }
    throw InternalError("unknown match kind");
  } catch (const HttpError& e) {
    bool json = json_route || accepts_only_json(request);
    int tagno = e.status() >= 500 ? (dynamic_cast<const TemplateNotFound*>(&e) ? tag::kTemplateMissing : tag::kUnhandled)
                                  : tag::kClientError;
    log.log(level_for(e.status()), tagno,
            std::to_string(e.status()) + " for " + request.method + " " + sanitize_utf8(request.path) + ": " + e.what());
    std::string msg = e.what();
    if (e.status() >= 500 && settings_.env != Env::kDevelopment) msg = status_description(e.status());
    return error_response(e.status(), msg, request, json, log);
  } catch (const std::exception& e) {
    log.log(LogLevel::kError, tag::kUnhandled,
            "500 for " + request.method + " " + sanitize_utf8(request.path) + ": unhandled exception: " + e.what());
    std::string msg = settings_.env == Env::kDevelopment ? std::string("unhandled exception: ") + e.what()
                                                          : std::string(status_description(500));
    return error_response(500, msg, request, json_route || accepts_only_json(request), log);
  } catch (...) {
    log.log(LogLevel::kError, tag::kUnhandled, "500 for " + request.method + ": unknown exception");
    return error_response(500, status_description(500), request, json_route || accepts_only_json(request), log);
  }
}

Response App::error_response(int status, const std::string& message, const Request& request, bool json,
                             Logger& log) const noexcept {
  Response resp;
  resp.status = status;
  try {
    if (json) {
      resp.content_type = json_mimetype_;
      resp.body = json_error_body(status, message);
      return resp;
    }
    resp.content_type = "text/html; charset=utf-8";
    auto it = settings_.error_templates.find(status);
    if (it != settings_.error_templates.end() && templates_) {
      try {
        mstch::map ctx = template_context(request, {});
        ctx["code"] = status;
        ctx["name"] = std::string(reason_phrase(status));
        ctx["message"] = message;
        resp.body = templates_->render(it->second, ctx);
        return resp;
      } catch (const std::exception& e) {
        log.log(LogLevel::kError, tag::kErrorPageFailed,
                "error template '" + it->second + "' for status " + std::to_string(status) + " failed: " + e.what());
      }
    }
    std::string name = reason_phrase(status);
    resp.body = "<!doctype html>\n<html lang=en>\n<title>" + std::to_string(status) + " " + name + "</title>\n<h1>" +
                name + "</h1>\n<p>" + html_escape(message) + "</p>\n";
  } catch (...) {
    resp.content_type = "text/plain; charset=utf-8";
    resp.body = std::to_string(status) + "\n";
  }
  return resp;
}

}  // namespace flaskpp::core
