#include "core/app.hpp"

#include <algorithm>

#include "core/errors.hpp"
#include "core/negotiation.hpp"
#include "core/plugins.hpp"
#include "core/schema_stage.hpp"
#include "core/session_stage.hpp"

namespace flaskpp::core {

namespace {

constexpr int kUploadNameAttempts = 5;  // fresh names when a planned one was taken meanwhile

LogLevel level_for(int status) { return status >= 500 ? LogLevel::kError : LogLevel::kInfo; }

std::string join_methods(const std::vector<std::string>& methods) {
  std::string out;
  for (const auto& m : methods) out += (out.empty() ? "" : ", ") + m;
  return out;
}

// Upload routes take a multipart/form-data body holding a file in the route's field.
class UploadRequirements final : public Stage {
 public:
  const char* name() const override { return "upload-requirements"; }
  void before_body(Exchange& ex) const override {
    if (ex.route.action != ActionKind::kUpload) return;
    std::string type = ex.request.content_type();
    if (type != "multipart/form-data") {
      throw UnsupportedMediaType("this route takes a multipart/form-data upload, not '" +
                                 (type.empty() ? std::string("no body") : type) + "'");
    }
  }
  void after_body(Exchange& ex) const override {
    if (ex.route.action != ActionKind::kUpload) return;
    if (!ex.uploads || ex.uploads->file_count() == 0) {
      throw BadRequest("no file in form field '" + ex.route.target + "'");
    }
  }
};

}  // namespace

App::App(AppSettings settings, std::vector<RouteDecl> routes, const HandlerRegistry& handlers,
         std::vector<std::unique_ptr<const Stage>> stages)
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
  if (auto mcl = cfg.get_size("MAX_CONTENT_LENGTH")) limits_.max_body = *mcl;
  if (settings_.max_body) limits_.max_body = *settings_.max_body;
  if (settings_.max_parts) limits_.max_parts = *settings_.max_parts;
  if (auto depth = cfg.get_size("JSON_MAX_DEPTH")) {
    if (*depth == 0 || *depth > 100000) throw ConfigError("config JSON_MAX_DEPTH must be from 1 to 100000");
    json_max_depth_ = *depth;
  }
  {
    const rapidjson::Value* age = cfg.get("SEND_FILE_MAX_AGE_DEFAULT");
    if (age && (age->IsInt64() && age->GetInt64() == 0)) {
      send_file_max_age_ = 0;  // Flask: 0 means revalidate every time
    } else {
      send_file_max_age_ = config_seconds(cfg, "SEND_FILE_MAX_AGE_DEFAULT");
    }
  }
  config_view_ = cfg.public_view();
  public_config_ = cfg.public_json();

  bool needs_templates = !settings_.error_templates.empty();
  bool upload_dirs_checked = false;  // every upload route shares the directories
  for (const auto& r : routes_) {
    router_.add(r.methods, r.pattern);
    const Handler* h = nullptr;
    if (r.action == ActionKind::kHandler) {
      h = handlers_.find(r.target);
      if (!h) {
        std::string known;
        for (const auto& n : handlers_.names()) known += (known.empty() ? "" : ", ") + n;
        throw ConfigError("FlaskppRoute at " + r.where + ": unknown handler '" + r.target + "' (known: " + known + ")");
      }
    }
    if (r.action == ActionKind::kJob || r.action == ActionKind::kJobStatus || r.action == ActionKind::kJobCancel) {
      if (!settings_.jobs) throw ConfigError("FlaskppRoute at " + r.where + ": jobs need a job store (FlaskppJobStore)");
    }
    if (r.action == ActionKind::kJob) {
      bool known = handlers_.find(r.target) != nullptr ||
                   std::find(settings_.job_functions.begin(), settings_.job_functions.end(), r.target) !=
                       settings_.job_functions.end();
      if (!known) {
        std::string names;
        for (const auto& n : settings_.job_functions) names += (names.empty() ? "" : ", ") + n;
        for (const auto& n : handlers_.names()) names += (names.empty() ? "" : ", ") + n;
        throw ConfigError("FlaskppRoute at " + r.where + ": unknown job '" + r.target +
                          "' (a job function or a handler; known: " + names + ")");
      }
    }
    if (r.action == ActionKind::kJobStatus && job_status_url_prefix_.empty()) {
      // parse_route checked that the pattern has exactly one parameter.
      auto open = r.pattern.find('<'), close = r.pattern.find('>', open);
      job_status_url_prefix_ = r.pattern.substr(0, open);
      job_status_url_suffix_ = r.pattern.substr(close + 1);
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
      policy->work_dir = settings_.upload_work_dir;
      policy->allow = settings_.upload_allow;
      policy->replace = r.replace;
      policy->route_key = r.methods + " " + r.pattern;
      if (!upload_dirs_checked) check_upload_dirs(*policy);
      upload_dirs_checked = true;
    }
    upload_policies_.push_back(std::move(policy));
  }
  for (const auto& r : routes_) {
    if (r.action == ActionKind::kJob && job_status_url_prefix_.empty()) {
      throw ConfigError("FlaskppRoute at " + r.where + ": a job route needs a job-status route in the same server, "
                        "e.g. FlaskppRoute GET /jobs/<uuid:id> job-status");
    }
  }
  // A handler may render_template() too: the store exists whenever a directory is configured.
  if (needs_templates || !settings_.template_dir.empty()) {
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
  // Page cache (production): only for templates whose every name is a route parameter, config or
  // env. Anything else (args, form, request, session, values a handler adds, ...) may differ
  // between requests or users, so it is rendered each time.
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const RouteDecl& r = routes_[i];
    bool cacheable = false;
    if (r.action == ActionKind::kTemplate && settings_.env == Env::kProduction && templates_->exists(r.target)) {
      const auto& names = router_.rule(i).param_names;
      auto usage = templates_->usage(r.target);
      cacheable = std::all_of(usage->names.begin(), usage->names.end(), [&](const std::string& n) {
        return n == "config" || n == "env" || std::find(names.begin(), names.end(), n) != names.end();
      });
    }
    page_caches_.push_back(cacheable ? std::make_unique<PageCache>() : nullptr);
  }
  // Rate limits first: a refused request costs no other check and no body read.
  if (!settings_.rate_limits.rules.empty()) {
    auto stage = std::make_unique<RateLimitStage>(settings_.rate_limits, routes_);
    rate_stage_ = stage.get();
    stages_.push_back(std::move(stage));
  }
  stages_.push_back(std::make_unique<UploadRequirements>());
  // Bodies checked against the route's JSON Schema before the action (after the body is read).
  {
    auto schema = std::make_unique<SchemaStage>(routes_, handlers_, json_max_depth_);
    if (!schema->empty()) {
      schema_stage_ = schema.get();
      stages_.push_back(std::move(schema));
    }
  }
  // Sessions: with a key (FlaskppSecretKey; development generates one). The secrets themselves
  // are not kept: the codec holds keys derived from them.
  SessionCookieSettings cookie = session_cookie_settings(cfg);
  if (!settings_.secret_keys.empty()) {
    stages_.push_back(std::make_unique<SessionStage>(std::move(settings_.secret_keys), cookie));
    settings_.secret_keys.clear();
    sessions_ = true;
  } else if (templates_) {
    for (const auto& r : routes_) {
      const std::string& name = r.action == ActionKind::kTemplate ? r.target : r.then_template;
      if (!name.empty() && templates_->exists(name)) {
        std::shared_ptr<const TemplateUsage> usage;
        try {
          usage = templates_->usage(name);
        } catch (const std::exception&) {
          continue;  // a broken template is reported when it is rendered
        }
        if (usage->uses("session") || usage->uses("flashes")) {
          throw ConfigError("template '" + name + "' of route " + r.methods + " " + r.pattern + " (" + r.where +
                            ") uses the session, which needs a secret key: FlaskppSecretKey env:NAME or file:PATH");
        }
      }
    }
  }
  for (auto& stage : stages) stages_.push_back(std::move(stage));
}

App::~App() = default;

const rapidjson::Value* App::body_schema(std::size_t i) const {
  return schema_stage_ ? schema_stage_->schema(i) : nullptr;
}

const std::string& App::upload_work_dir() const {
  static const std::string kNone;
  bool uploads = std::any_of(upload_policies_.begin(), upload_policies_.end(), [](const auto& p) { return p != nullptr; });
  return uploads ? settings_.upload_work_dir : kNone;
}

std::vector<std::string> App::stage_names() const {
  std::vector<std::string> names;
  for (const auto& stage : stages_) names.emplace_back(stage->name());
  return names;
}

bool App::json_route_for(const Request& request, const RouteMatch& match) const {
  switch (match.kind) {
    case RouteMatch::Kind::kMatch:
    case RouteMatch::Kind::kNotFound:
      return routes_[match.rule].answers_json();
    case RouteMatch::Kind::kMethodNotAllowed:
      // The route(s) the path belongs to: ask the router with a method the path does accept.
      for (const auto& m : match.allowed) {
        if (m == "OPTIONS" || m == "HEAD") continue;
        RouteMatch other = router_.match(request.path, m);
        if (other.kind == RouteMatch::Kind::kMatch || other.kind == RouteMatch::Kind::kNotFound) {
          return routes_[other.rule].answers_json();
        }
      }
      return false;
    default:
      return false;
  }
}

Response App::route_response(const Request& request, const RouteMatch& match, Logger& log) const {
  switch (match.kind) {
    case RouteMatch::Kind::kMatch:
      throw InternalError("a matched route is answered by the pipeline");
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
      Response resp = error_response(405, status_description(405), request, json_route_for(request, match), log);
      resp.headers.emplace_back("Allow", allow);
      return resp;
    }
    case RouteMatch::Kind::kNotFound:
      if (log.enabled(LogLevel::kInfo)) {
        log.log(LogLevel::kInfo, tag::kConverterRejected,
                "404 for " + request.method + " " + sanitize_utf8(request.path) + ": a converter rejected the value");
      }
      return error_response(404, status_description(404), request, json_route_for(request, match), log);
    case RouteMatch::Kind::kNoMatch:
      return error_response(404, status_description(404), request, false, log);
  }
  throw InternalError("unknown match kind");
}

Response App::failure(const std::exception_ptr& error, const Request& request, bool json_route,
                      Logger& log) const noexcept {
  try {
    return describe_failure(error, request, json_route, log);
  } catch (...) {
    // Out of memory while describing the failure: a bare 500, nothing that allocates much.
    Response resp;
    resp.status = 500;
    return resp;
  }
}

Response App::describe_failure(const std::exception_ptr& error, const Request& request, bool json_route,
                               Logger& log) const {
  std::string where = request.method + " " + sanitize_utf8(request.path);
  try {
    std::rethrow_exception(error);
  } catch (const HttpError& e) {
    const auto* busy = dynamic_cast<const ServiceUnavailable*>(&e);
    int tagno = e.status() < 500                                  ? tag::kClientError
                : busy                                            ? tag::kOverloaded
                : dynamic_cast<const TemplateNotFound*>(&e) ? tag::kTemplateMissing
                                                                  : tag::kUnhandled;
    // A full queue is load, not a fault of the server: a warning. An error its thrower logged
    // already (a failing rate-limit store warns once per interval) is repeated at debug only.
    LogLevel level = e.already_logged() ? LogLevel::kDebug : busy ? LogLevel::kWarn : level_for(e.status());
    if (log.enabled(level)) log.log(level, tagno, std::to_string(e.status()) + " for " + where + ": " + e.what());
    std::string msg = e.what();
    if (e.status() >= 500 && settings_.env != Env::kDevelopment && !busy) {
      msg = status_description(e.status());
    }
    Response resp = error_response(e.status(), msg, request, json_route, log);
    if (const auto* invalid = dynamic_cast<const UnprocessableEntity*>(&e); invalid && json_route) {
      resp.body = json_error_body(422, msg, &invalid->errors());
    }
    if (busy) {
      resp.headers.emplace_back("Retry-After", std::to_string(busy->retry_after_seconds()));
    }
    return resp;
  } catch (const std::exception& e) {
    log.log(LogLevel::kError, tag::kUnhandled, "500 for " + where + ": unhandled exception: " + e.what());
    std::string msg = settings_.env == Env::kDevelopment ? std::string("unhandled exception: ") + e.what()
                                                          : std::string(status_description(500));
    return error_response(500, msg, request, json_route, log);
  } catch (...) {
    log.log(LogLevel::kError, tag::kUnhandled, "500 for " + where + ": unknown exception");
    return error_response(500, status_description(500), request, json_route, log);
  }
}

Response App::handle(Request& request, const RouteMatch& match, BodySource* body, Logger& log) const noexcept {
  if (match.kind != RouteMatch::Kind::kMatch) {
    try {
      return route_response(request, match, log);
    } catch (...) {
      bool json = false;
      try {
        json = json_route_for(request, match);
      } catch (...) {
        // Out of memory while asking the router: the answer falls back to the negotiated form.
      }
      return failure(std::current_exception(), request, json, log);
    }
  }
  const RouteDecl& route = routes_[match.rule];
  Exchange ex{request, match, route, log, nullptr, {}, nullptr};
  auto after_action = [&](Response& resp) {
    for (auto it = stages_.rbegin(); it != stages_.rend(); ++it) (*it)->after_action(ex, resp);
  };
  auto with_stage_headers = [&](Response& resp) -> Response& {
    request.session = nullptr;  // the exchange's session ends with it (first: nothing below may leave it)
    for (auto& h : ex.answer_headers) resp.headers.push_back(std::move(h));
    ex.answer_headers.clear();
    return resp;
  };
  Response resp;
  try {
    if (log.enabled(LogLevel::kDebug)) {
      log.log(LogLevel::kDebug, tag::kRouteMatched,
              request.method + " " + sanitize_utf8(request.path) + " -> route " + route.methods + " " + route.pattern +
                  " (" + route.where + ")");
    }
    for (const auto& stage : stages_) stage->before_body(ex);
    if (body && route.action != ActionKind::kRedirect && has_body(request)) {
      if (route.action == ActionKind::kUpload) ex.uploads = std::make_unique<UploadSession>(*upload_policies_[match.rule]);
      read_body(request, *body, limits_, ex.uploads.get(), route.target, route.keeps_file_data());
    }
    for (const auto& stage : stages_) stage->after_body(ex);
    // Uploads are placed only once the answer is final, after every stage has seen it. When a
    // planned name was taken meanwhile (commit() is false: nothing placed), the answer is built
    // again with fresh names, so after_action may run again in that rare case.
    for (int attempt = 1;; ++attempt) {
      resp = run_action(ex);
      after_action(resp);
      if (!ex.uploads || ex.uploads->commit()) return std::move(with_stage_headers(resp));
      if (attempt == kUploadNameAttempts) {
        throw InternalError("no free file name for the upload after " + std::to_string(attempt) + " attempts");
      }
    }
  } catch (...) {
    // Nothing was placed (a failed commit rolls back); the session's destructor removes the
    // temporary files. The stages see the error answer too.
    resp = failure(std::current_exception(), request, route.answers_json(), log);
  }
  try {
    after_action(resp);
  } catch (...) {
    resp = failure(std::current_exception(), request, route.answers_json(), log);
  }
  try {
    with_stage_headers(resp);
  } catch (...) {
    // Out of memory adding headers: the answer goes without them.
  }
  return resp;
}

Response App::dispatch(const Request& request, const RouteMatch& match, Logger& log) const noexcept {
  try {
    Request copy = request;
    return handle(copy, match, nullptr, log);
  } catch (...) {  // the copy ran out of memory
    return failure(std::current_exception(), request, false, log);
  }
}

}  // namespace flaskpp::core
