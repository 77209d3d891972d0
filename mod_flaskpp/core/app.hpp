// The application: routes, actions, configuration and templates, built once at startup from the
// merged server configuration and read-only afterwards (safe to share between threads; the page
// caches and the render counter are the only mutable parts, and they are lock-free).
// handle() runs one request through the pipeline (pipeline.hpp) and is the single place where
// typed errors become statuses; it never throws.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <mstch/mstch.hpp>

#include "core/body.hpp"
#include "core/config.hpp"
#include "core/handlers.hpp"
#include "core/jobs.hpp"
#include "core/job_workers.hpp"
#include "core/json.hpp"
#include "core/logger.hpp"
#include "core/page_cache.hpp"
#include "core/pipeline.hpp"
#include "core/rate_limit_stage.hpp"
#include "core/request.hpp"
#include "core/response.hpp"
#include "core/route_decl.hpp"
#include "core/router.hpp"
#include "core/templates.hpp"
#include "core/uploads.hpp"

namespace flaskpp::core {

struct AppSettings {
  Env env = Env::kProduction;
  Config config;                               // FlaskppConfig / FlaskppConfigFile, merged
  std::string template_dir;                    // absolute; empty when not configured
  std::map<int, std::string> error_templates;  // status -> template name
  std::string upload_dir;                      // FlaskppUploadDir (absolute); empty = unset
  std::string upload_url;                      // URL prefix the upload dir is served under
  std::string upload_work_dir;                 // FlaskppUploadWorkDir (absolute): temporary files
  std::vector<std::string> upload_allow;       // FlaskppUploadAllow, lower-case ".ext"
  std::optional<std::size_t> max_body;         // FlaskppUploadMaxSize, bytes
  std::optional<std::size_t> max_parts;        // FlaskppUploadMaxParts
  // Jobs: the process's queue (FlaskppJobStore; not owned, outlives the App), the directory job
  // input files are kept in, this server's name in job records, and the job functions plugins
  // registered (a `job NAME` route names one of them or a handler).
  JobQueue* jobs = nullptr;
  std::string job_spool_dir;
  std::string job_origin;
  std::vector<std::string> job_functions;
  // FlaskppRateLimit rules and their counter store; no rules: no rate-limit stage.
  RateLimitSettings rate_limits;
  // FlaskppSecretKey's keys: the first signs session cookies, all verify (rotation). Empty:
  // sessions are off. App keeps only keys derived from them.
  std::vector<std::string> secret_keys;
};

struct JobFunctionRef;

class SchemaStage;

class App {
 public:
  // Resolves handler names against `handlers` (built-ins and plugins). `stages` run after the
  // built-in ones, in order (before_body, after_body) and in reverse order (after_action). Throws
  // ConfigError (e.g. an unknown handler, a template route without FlaskppTemplateDir), naming the
  // route's file:line.
  App(AppSettings settings, std::vector<RouteDecl> routes, const HandlerRegistry& handlers,
      std::vector<std::unique_ptr<const Stage>> stages = {});
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  RouteMatch match(std::string_view path, std::string_view method) const { return router_.match(path, method); }
  // The whole request: the pipeline's stages, the body read from `body` (when the route takes
  // one) into `request`, the action, and uploads committed once the answer is final (after the
  // after_action stages). Never throws.
  Response handle(Request& request, const RouteMatch& match, BodySource* body, Logger& log) const noexcept;
  // handle() for a request whose body (if any) is already in `request`. Never throws.
  Response dispatch(const Request& request, const RouteMatch& match, Logger& log) const noexcept;
  // An error answer. JSON routes (`json_route`) get JSON; otherwise HTML (the FlaskppErrorTemplate
  // page when configured) unless the client accepts only JSON, with `Vary: Accept`. `request` is
  // the request the client made. Never throws.
  Response error_response(int status, const std::string& message, const Request& request, bool json_route,
                          Logger& log) const noexcept;

  // The context every template gets: params at the top level, args, form, config, request, env.
  // With `usage`, only the keys the template refers to are built (config: only its keys used).
  mstch::map template_context(const Request& request, const Params& params,
                              const TemplateUsage* usage = nullptr) const;
  std::string json_mimetype() const { return json_mimetype_; }
  // The configuration without secrets, as JSON (what plugins see).
  const rapidjson::Value& public_config() const { return public_config_; }
  // A handler's render_template(): the usual context plus `extra`'s keys (a JSON object) at the
  // top level. Throws InternalError when no FlaskppTemplateDir is set, TemplateNotFound.
  std::string render_page(const std::string& name, const Request& request, const Params& params,
                          const rapidjson::Value* extra) const;
  // Largest request body accepted (FlaskppUploadMaxSize, else MAX_CONTENT_LENGTH, else 16 MiB).
  std::size_t max_body() const { return limits_.max_body; }
  std::size_t json_max_depth() const { return json_max_depth_; }
  Env env() const { return settings_.env; }
  const Config& config() const { return settings_.config; }
  const RouteDecl& route(std::size_t i) const { return routes_[i]; }
  // The handlers routes can name (built-ins and plugins), with what they document (HandlerMeta).
  const HandlerRegistry& handlers() const { return handlers_; }
  std::size_t route_count() const { return routes_.size(); }
  const std::map<int, std::string>& error_templates() const { return settings_.error_templates; }
  // FlaskppUploadWorkDir (absolute; empty when no upload route exists).
  const std::string& upload_work_dir() const;
  // Problems worth a startup warning (e.g. a route's template is missing).
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Template renders so far (page-cache hits do not render).
  std::uint64_t renders() const { return renders_.load(std::memory_order_relaxed); }
  // The pipeline's stages, in order.
  std::vector<std::string> stage_names() const;
  // Runs one attempt of `job` (from a worker thread): the plugin job `function` when given,
  // otherwise the handler the job names. Throws what the job's code throws.
  JobOutcome run_job(const JobRecord& job, JobControl& control, const JobFunctionRef* function, Logger& log) const;
  // The rate limits that apply to route i (route-specific first), for the status page and OpenAPI.
  std::vector<const RateRule*> rate_rules_for(std::size_t i) const {
    return rate_stage_ ? rate_stage_->rules_for(i) : std::vector<const RateRule*>{};
  }
  // Route i's body schema (schema=FILE.json or the handler's declared one), or null.
  const rapidjson::Value* body_schema(std::size_t i) const;
  // SEND_FILE_MAX_AGE_DEFAULT in seconds (a number or "12h"); unset: none (Flask's default).
  std::optional<std::int64_t> send_file_max_age() const { return send_file_max_age_; }
  // Whether signed cookie sessions are on (a secret key is configured or generated).
  bool sessions() const { return sessions_; }
  // Whether route i's pages are cached (production; template uses only params, config, env).
  bool caches_pages(std::size_t i) const { return page_caches_[i] != nullptr; }

 private:
  Response run_action(Exchange& ex) const;
  Response template_action(const RouteDecl& route, const Request& request, const RouteMatch& match) const;
  Response upload_action(const Exchange& ex) const;
  Response upload_answer(const RouteDecl& route, const Request& request, const RouteMatch& match,
                         const std::vector<FileInfo>& saved) const;
  JobOutcome run_job_attempt(const JobRecord& job, JobControl& control, const JobFunctionRef* function,
                             Logger& log) const;
  JobOutcome internal_job_failure(const JobRecord& job, const std::string& detail, Logger& log) const;
  Response job_action(const Exchange& ex) const;
  Response job_status_action(const Exchange& ex) const;
  Response job_cancel_action(const Exchange& ex) const;
  std::string job_status_url(const std::string& id) const;
  Response route_response(const Request& request, const RouteMatch& match, Logger& log) const;
  bool json_route_for(const Request& request, const RouteMatch& match) const;
  Response failure(const std::exception_ptr& error, const Request& request, bool json_route, Logger& log) const noexcept;
  Response describe_failure(const std::exception_ptr& error, const Request& request, bool json_route,
                            Logger& log) const;
  std::string render(const std::string& name, const mstch::node& context) const;

  AppSettings settings_;
  std::vector<RouteDecl> routes_;
  std::vector<const Handler*> route_handlers_;  // parallel to routes_ (null for non-handler routes)
  Router router_;
  HandlerRegistry handlers_;
  std::unique_ptr<TemplateStore> templates_;
  mstch::node config_view_;
  rapidjson::Document public_config_;
  std::string json_mimetype_;
  BodyLimits limits_;
  std::size_t json_max_depth_ = kDefaultJsonMaxDepth;
  std::vector<std::unique_ptr<UploadPolicy>> upload_policies_;  // parallel to routes_
  std::vector<std::unique_ptr<PageCache>> page_caches_;         // parallel to routes_; null: no cache
  std::vector<std::unique_ptr<const Stage>> stages_;            // in pipeline order
  const RateLimitStage* rate_stage_ = nullptr;                  // in stages_ when rules exist
  bool sessions_ = false;                                       // a session stage exists
  std::optional<std::int64_t> send_file_max_age_;
  const SchemaStage* schema_stage_ = nullptr;                   // in stages_ when a route has a schema
  mutable std::atomic<std::uint64_t> renders_{0};
  std::vector<std::string> warnings_;
  // The job-status route's pattern around its one parameter: a job's status URL is prefix + id +
  // suffix. Empty prefix: no job-status route.
  std::string job_status_url_prefix_;
  std::string job_status_url_suffix_;
};

}  // namespace flaskpp::core
