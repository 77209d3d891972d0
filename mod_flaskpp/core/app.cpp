#include "core/app.hpp"

#include <cctype>
#include <climits>

#include "core/errors.hpp"
#include "core/json.hpp"

namespace flaskpp::core {

namespace {

constexpr std::size_t kMaxCachedPage = 64 * 1024;  // bytes; larger pages are not kept
constexpr std::size_t kMaxCachedPages = 256;       // per route; the cache starts over when full

bool is_redirect_code(long code) { return code == 301 || code == 302 || code == 303 || code == 307 || code == 308; }

mstch::node param_node(const ParamValue& v) {
  switch (v.kind) {
    case ConverterKind::kInt:
      if (v.int_value >= INT_MIN && v.int_value <= INT_MAX) return static_cast<int>(v.int_value);
      return std::to_string(v.int_value);  // mstch has no 64-bit int and prints doubles as 1e+10
    default:
      return v.text;  // floats too: mstch would print 6 significant digits; the URL's digits are exact
  }
}

// The q parameter of an Accept item's parameters (";q=0.5;level=1"), 1 when absent.
double quality(const std::string& params) {
  std::size_t pos = 0;
  while ((pos = params.find(';', pos)) != std::string::npos) {
    ++pos;
    while (pos < params.size() && (params[pos] == ' ' || params[pos] == '\t')) ++pos;
    if (params.compare(pos, 2, "q=") == 0) return std::strtod(params.c_str() + pos + 2, nullptr);
  }
  return 1;
}

LogLevel level_for(int status) { return status >= 500 ? LogLevel::kError : LogLevel::kInfo; }

std::string join_methods(const std::vector<std::string>& methods) {
  std::string out;
  for (const auto& m : methods) out += (out.empty() ? "" : ", ") + m;
  return out;
}

// Werkzeug's redirect body.
Response redirect_response(int status, const std::string& location) {
  Response resp;
  resp.status = status;
  resp.headers.emplace_back("Location", location);
  resp.content_type = "text/html; charset=utf-8";
  std::string t = html_escape(location);
  resp.body = "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
              "<p>You should be redirected automatically to the target URL: <a href=\"" + t + "\">" + t +
              "</a>. If not, click the link.\n";
  return resp;
}

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
  } else if (action == "upload") {
    if (args.size() < 4 || args[3].find('=') != std::string::npos) {
      throw ConfigError("action 'upload' needs the form field name, e.g. upload image_upload");
    }
    d.action = ActionKind::kUpload;
    d.target = args[3];
    extra = 4;
  } else {
    throw ConfigError("unknown action '" + action + "' (use template, redirect, handler or upload)");
  }
  for (std::size_t i = extra; i < args.size(); ++i) {
    const std::string& opt = args[i];
    auto eq = opt.find('=');
    if (eq == std::string::npos) {
      throw ConfigError("unexpected argument '" + opt + "' after action '" + action + "'");
    }
    std::string key = opt.substr(0, eq), value = opt.substr(eq + 1);
    if (d.action == ActionKind::kUpload && key == "then") {
      if (value == "json") {
        d.then_template.clear();
      } else if (value.rfind("template:", 0) == 0 && value.size() > 9 && is_safe_template_name(value.substr(9))) {
        d.then_template = value.substr(9);
      } else {
        throw ConfigError("then='" + value + "' must be json or template:NAME");
      }
    } else if (d.action == ActionKind::kUpload && key == "replace") {
      if (value != "on" && value != "off") throw ConfigError("replace='" + value + "' must be on or off");
      d.replace = value == "on";
    } else {
      throw ConfigError("unknown option '" + key + "' for action '" + action + "'" +
                        (d.action == ActionKind::kUpload ? " (upload takes then= and replace=)" : ""));
    }
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
    limits_.max_body = static_cast<std::size_t>(mcl->GetDouble());
  }
  if (settings_.max_body) limits_.max_body = *settings_.max_body;
  if (settings_.max_parts) limits_.max_parts = *settings_.max_parts;
  if (const auto* depth = cfg.get("JSON_MAX_DEPTH"); depth && depth->IsInt() && depth->GetInt() > 0) {
    json_max_depth_ = static_cast<std::size_t>(depth->GetInt());
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
    if (r.action == ActionKind::kTemplate || !r.then_template.empty()) needs_templates = true;
    route_handlers_.push_back(h);
    std::unique_ptr<UploadPolicy> policy;
    if (r.action == ActionKind::kUpload) {
      if (settings_.upload_dir.empty()) {
        throw ConfigError("FlaskppRoute at " + r.where + " uploads files but no FlaskppUploadDir is set");
      }
      policy = std::make_unique<UploadPolicy>();
      policy->dir = settings_.upload_dir;
      policy->url_prefix = settings_.upload_url;
      policy->allow = settings_.upload_allow;
      policy->replace = r.replace;
      policy->route_key = r.methods + " " + r.pattern;
      policy->field = r.target;
    }
    upload_policies_.push_back(std::move(policy));
    bool cache_pages = r.action == ActionKind::kTemplate && settings_.env == Env::kProduction;
    page_caches_.push_back(cache_pages ? std::make_unique<PageCache>() : nullptr);
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
      const std::string& name = r.action == ActionKind::kTemplate ? r.target : r.then_template;
      if (!name.empty() && !templates_->exists(name)) {
        warnings_.push_back("template '" + name + "' of route " + r.methods + " " + r.pattern + " (" + r.where +
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
    if (quality(params) <= 0) continue;  // q=0: not acceptable
    if (is_json_media_type(item)) json = true;
    if (item == "text/html" || item == "*/*" || item == "text/*" || item == "application/xhtml+xml") html = true;
  }
  return json && !html;
}

mstch::map App::template_context(const Request& request, const Params& params, const TemplateUsage* usage) const {
  mstch::map ctx;
  auto wanted = [usage](const char* name) { return !usage || usage->uses(name); };
  if (wanted("args")) {
    mstch::map args;
    for (const auto& [k, v] : parse_query(request.query)) args.emplace(k, v);  // first value wins
    ctx.emplace("args", std::move(args));
  }
  if (wanted("form")) {
    mstch::map form;
    for (const auto& [k, v] : request.form) form.emplace(k, v);  // first value wins
    ctx.emplace("form", std::move(form));
  }
  if (!usage || usage->config_all) {
    ctx.emplace("config", config_view_);
  } else if (usage->uses("config")) {
    const auto& all = boost::get<mstch::map>(config_view_);
    mstch::map some;
    for (const auto& key : usage->config_keys) {
      auto it = all.find(key);
      if (it != all.end()) some.emplace(key, it->second);
    }
    ctx.emplace("config", std::move(some));
  }
  if (wanted("request")) {
    mstch::map cookies;
    for (const auto& [k, v] : request.cookies()) cookies.emplace(k, v);
    ctx.emplace("request", mstch::map{{"method", request.method},
                                      {"path", request.path},
                                      {"url", request.url()},
                                      {"remote_addr", request.remote_addr},
                                      {"cookies", std::move(cookies)}});
  }
  if (wanted("env")) ctx.emplace("env", std::string(env_name(settings_.env)));
  for (const auto& [name, value] : params) ctx[name] = param_node(value);
  return ctx;
}

Response App::run_action(const RouteDecl& route, const Request& request, const RouteMatch& match, Logger& log) const {
  Response resp;
  switch (route.action) {
    case ActionKind::kTemplate: {
      resp.content_type = "text/html; charset=utf-8";
      auto usage = templates_->usage(route.target);
      PageCache* cache = page_caches_[match.rule].get();
      bool cacheable = cache && !usage->uses("args") && !usage->uses("form") && !usage->uses("request") &&
                       !usage->uses("files") && !usage->uses("img_show");
      std::string key;
      if (cacheable) {
        for (const auto& p : match.params) {
          key += p.second.text;
          key += '\0';
        }
        std::lock_guard<std::mutex> lock(cache->mu);
        auto it = cache->pages.find(key);
        if (it != cache->pages.end()) {
          resp.body = it->second;
          return resp;
        }
      }
      resp.body = templates_->render(route.target, template_context(request, match.params, usage.get()));
      if (cacheable && resp.body.size() <= kMaxCachedPage) {
        std::lock_guard<std::mutex> lock(cache->mu);
        if (cache->pages.size() >= kMaxCachedPages) cache->pages.clear();
        cache->pages.emplace(std::move(key), resp.body);
      }
      return resp;
    }
    case ActionKind::kRedirect:
      return redirect_response(route.redirect_code, route.target);
    case ActionKind::kHandler: {
      const Handler* h = route_handlers_[match.rule];
      return (*h)(HandlerContext{*this, request, match.params, log});
    }
    case ActionKind::kUpload: {
      std::vector<const FileInfo*> saved;
      for (const auto& f : request.files) {
        if (!f.saved_as.empty()) saved.push_back(&f);
      }
      if (route.then_template.empty()) {
        rapidjson::StringBuffer buf;
        JsonWriter w(buf);
        w.StartObject();
        w.Key("files");
        w.StartArray();
        for (const FileInfo* f : saved) write_file_info(w, *f, true);
        w.EndArray();
        w.Key("img_show");
        write_string(w, saved.empty() ? std::string() : saved.front()->url);
        w.EndObject();
        resp.content_type = json_mimetype_;
        resp.body = std::string(buf.GetString(), buf.GetSize()) + "\n";
        return resp;
      }
      mstch::map ctx = template_context(request, match.params);
      mstch::array files;
      for (const FileInfo* f : saved) {
        files.push_back(mstch::map{{"url", f->url},
                                   {"filename", f->filename},
                                   {"saved_as", f->saved_as},
                                   {"size", f->size <= static_cast<std::uint64_t>(INT_MAX)
                                                ? mstch::node(static_cast<int>(f->size))
                                                : mstch::node(std::to_string(f->size))}});
      }
      ctx["img_show"] = saved.empty() ? std::string() : saved.front()->url;
      ctx["files"] = std::move(files);
      resp.content_type = "text/html; charset=utf-8";
      resp.body = templates_->render(route.then_template, ctx);
      return resp;
    }
  }
  throw InternalError("unknown action");
}

static bool is_json_route(const std::vector<RouteDecl>& routes, const RouteMatch& match) {
  if (match.kind != RouteMatch::Kind::kMatch && match.kind != RouteMatch::Kind::kNotFound) return false;
  const RouteDecl& r = routes[match.rule];
  return r.action == ActionKind::kHandler || (r.action == ActionKind::kUpload && r.then_template.empty());
}

Response App::route_response(const Request& request, const RouteMatch& match, Logger& log) const {
  switch (match.kind) {
    case RouteMatch::Kind::kMatch: {
      const RouteDecl& route = routes_[match.rule];
      if (log.enabled(LogLevel::kDebug)) {
        log.log(LogLevel::kDebug, tag::kRouteMatched,
                request.method + " " + sanitize_utf8(request.path) + " -> route " + route.methods + " " +
                    route.pattern + " (" + route.where + ")");
      }
      return run_action(route, request, match, log);
    }
    case RouteMatch::Kind::kRedirect: {
      std::string location = request.host_url + url_quote_path(match.redirect_path);
      if (!request.query.empty()) location += "?" + request.query;
      return redirect_response(308, location);
    }
    case RouteMatch::Kind::kOptions: {
      Response resp;
      resp.headers.emplace_back("Allow", join_methods(match.allowed));
      return resp;
    }
    case RouteMatch::Kind::kMethodNotAllowed: {
      std::string allow = join_methods(match.allowed);
      if (log.enabled(LogLevel::kInfo)) {
        log.log(LogLevel::kInfo, tag::kMethodNotAllowed,
                "405 for " + request.method + " " + sanitize_utf8(request.path) + ": allowed " + allow);
      }
      Response resp = error_response(405, status_description(405), request, accepts_only_json(request), log);
      resp.headers.emplace_back("Allow", allow);
      return resp;
    }
    case RouteMatch::Kind::kNotFound:
      if (log.enabled(LogLevel::kInfo)) {
        log.log(LogLevel::kInfo, tag::kConverterRejected,
                "404 for " + request.method + " " + sanitize_utf8(request.path) + ": a converter rejected the value");
      }
      return error_response(404, status_description(404), request,
                            is_json_route(routes_, match) || accepts_only_json(request), log);
    case RouteMatch::Kind::kNoMatch:
      return error_response(404, status_description(404), request, accepts_only_json(request), log);
  }
  throw InternalError("unknown match kind");
}

Response App::failure(const std::exception_ptr& error, const Request& request, bool json_route,
                      Logger& log) const noexcept {
  bool json = json_route || accepts_only_json(request);
  std::string where = request.method + " " + sanitize_utf8(request.path);
  try {
    std::rethrow_exception(error);
  } catch (const HttpError& e) {
    int tagno = e.status() < 500 ? tag::kClientError
                                 : dynamic_cast<const TemplateNotFound*>(&e) ? tag::kTemplateMissing : tag::kUnhandled;
    log.log(level_for(e.status()), tagno, std::to_string(e.status()) + " for " + where + ": " + e.what());
    std::string msg = e.what();
    if (e.status() >= 500 && settings_.env != Env::kDevelopment) msg = status_description(e.status());
    return error_response(e.status(), msg, request, json, log);
  } catch (const std::exception& e) {
    log.log(LogLevel::kError, tag::kUnhandled, "500 for " + where + ": unhandled exception: " + e.what());
    std::string msg = settings_.env == Env::kDevelopment ? std::string("unhandled exception: ") + e.what()
                                                          : std::string(status_description(500));
    return error_response(500, msg, request, json, log);
  } catch (...) {
    log.log(LogLevel::kError, tag::kUnhandled, "500 for " + where + ": unknown exception");
    return error_response(500, status_description(500), request, json, log);
  }
}

Response App::dispatch(const Request& request, const RouteMatch& match, Logger& log) const noexcept {
  try {
    return route_response(request, match, log);
  } catch (...) {
    return failure(std::current_exception(), request, is_json_route(routes_, match), log);
  }
}

Response App::handle(Request& request, const RouteMatch& match, BodySource* body, Logger& log) const noexcept {
  try {
    if (match.kind == RouteMatch::Kind::kMatch) {
      const RouteDecl& route = routes_[match.rule];
      bool upload = route.action == ActionKind::kUpload;
      if (upload && request.content_type() != "multipart/form-data") {
        throw UnsupportedMediaType("this route takes a multipart/form-data upload, not '" +
                                   (request.content_type().empty() ? std::string("no body") : request.content_type()) +
                                   "'");
      }
      if (body && route.action != ActionKind::kRedirect && has_body(request)) {
        std::unique_ptr<UploadSession> session;
        if (upload) session = std::make_unique<UploadSession>(*upload_policies_[match.rule]);
        read_body(request, *body, limits_, session.get(), route.target);
        if (session) {
          if (session->file_count() == 0) throw BadRequest("no file in form field '" + route.target + "'");
          for (auto& f : session->commit()) request.files.push_back(std::move(f));
        }
      } else if (upload) {
        throw BadRequest("no file in form field '" + route.target + "'");
      }
    }
    return route_response(request, match, log);
  } catch (...) {
    return failure(std::current_exception(), request, is_json_route(routes_, match), log);
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
