// The application: routes, actions, configuration and templates, built once at startup from the
// merged server configuration and read-only afterwards (safe to share between threads).
// dispatch() turns a Request plus its RouteMatch into a Response; it is the single place where
// typed errors become statuses, and it never throws.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include <mstch/mstch.hpp>

#include "core/body.hpp"
#include "core/config.hpp"
#include "core/json.hpp"
#include "core/logger.hpp"
#include "core/request.hpp"
#include "core/response.hpp"
#include "core/router.hpp"
#include "core/templates.hpp"
#include "core/uploads.hpp"

namespace flaskpp::core {

enum class ActionKind { kTemplate, kRedirect, kHandler, kUpload };

struct RouteDecl {
  std::string methods;      // as written: "GET", "GET,POST", "*"
  std::string pattern;      // "/users/<int:id>"
  ActionKind action = ActionKind::kTemplate;
  std::string target;       // template name, redirect URL, handler name or upload field
  int redirect_code = 302;
  std::string then_template;  // upload: render this after saving (then=template:NAME); empty = JSON
  bool replace = false;       // upload: delete the route's previous files (replace=on)
  std::string where;        // "file:line" of the directive, for messages
};

// Parses FlaskppRoute's arguments: METHODS PATTERN ACTION [ARGS] [key=value ...]. Validates
// methods, pattern, action and its arguments. Throws ConfigError.
RouteDecl parse_route(const std::vector<std::string>& args);

class App;

// What a handler sees of one request.
struct HandlerContext {
  const App& app;
  const Request& request;
  const Params& params;
  Logger& log;
};
using Handler = std::function<Response(const HandlerContext&)>;

// Named handlers. The built-ins are "echo" and "health"; plugins will add theirs.
class HandlerRegistry {
 public:
  void add(const std::string& name, Handler handler);
  const Handler* find(const std::string& name) const;
  std::vector<std::string> names() const;
  static const HandlerRegistry& builtins();

 private:
  std::map<std::string, Handler> handlers_;
};

struct AppSettings {
  Env env = Env::kProduction;
  Config config;                               // FlaskppConfig / FlaskppConfigFile, merged
  std::string template_dir;                    // absolute; empty when not configured
  std::map<int, std::string> error_templates;  // status -> template name
  std::string upload_dir;                      // FlaskppUploadDir (absolute); empty = unset
  std::string upload_url;                      // URL prefix the upload dir is served under
  std::vector<std::string> upload_allow;       // FlaskppUploadAllow, lower-case ".ext"
  std::optional<std::size_t> max_body;         // FlaskppUploadMaxSize, bytes
  std::optional<std::size_t> max_parts;        // FlaskppUploadMaxParts
};

class App {
 public:
  // Throws ConfigError (e.g. a template route without FlaskppTemplateDir).
  App(AppSettings settings, std::vector<RouteDecl> routes, const HandlerRegistry& handlers);

  RouteMatch match(std::string_view path, std::string_view method) const { return router_.match(path, method); }
  // The whole request: reads the body from `body` (when the route takes one) into `request`,
  // saves uploads, then dispatches. Never throws.
  Response handle(Request& request, const RouteMatch& match, BodySource* body, Logger& log) const noexcept;
  // Dispatch of a request whose body (if any) is already in `request`. Never throws.
  Response dispatch(const Request& request, const RouteMatch& match, Logger& log) const noexcept;
  // An error response as HTML (custom template if configured) or JSON. Never throws.
  Response error_response(int status, const std::string& message, const Request& request, bool json,
                          Logger& log) const noexcept;

  // The context every template gets: params at the top level, args, form, config, request, env.
  // With `usage`, only the keys the template refers to are built (config: only its keys used).
  mstch::map template_context(const Request& request, const Params& params,
                              const TemplateUsage* usage = nullptr) const;
  std::string json_mimetype() const { return json_mimetype_; }
  // Largest request body accepted (FlaskppUploadMaxSize, else MAX_CONTENT_LENGTH, else 16 MiB).
  std::size_t max_body() const { return limits_.max_body; }
  std::size_t json_max_depth() const { return json_max_depth_; }
  Env env() const { return settings_.env; }
  const Config& config() const { return settings_.config; }
  const RouteDecl& route(std::size_t i) const { return routes_[i]; }
  std::size_t route_count() const { return routes_.size(); }
  const std::map<int, std::string>& error_templates() const { return settings_.error_templates; }
  // Problems worth a startup warning (e.g. a route's template is missing).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // True when the client accepts JSON and not HTML (Accept lists JSON, no text/html, */*).
  static bool accepts_only_json(const Request& request);

 private:
  Response run_action(const RouteDecl& route, const Request& request, const RouteMatch& match, Logger& log) const;
  Response route_response(const Request& request, const RouteMatch& match, Logger& log) const;
  Response failure(const std::exception_ptr& error, const Request& request, bool json_route, Logger& log) const noexcept;

  AppSettings settings_;
  std::vector<RouteDecl> routes_;
  std::vector<const Handler*> route_handlers_;  // parallel to routes_ (null for non-handler routes)
  Router router_;
  HandlerRegistry handlers_;
  std::unique_ptr<TemplateStore> templates_;
  mstch::node config_view_;
  std::string json_mimetype_;
  BodyLimits limits_;
  std::size_t json_max_depth_ = kDefaultJsonMaxDepth;
  std::vector<std::unique_ptr<UploadPolicy>> upload_policies_;  // parallel to routes_
  // Rendered pages of template routes whose output depends only on route params, config and env
  // (production only): key = the params' text. Bounded; guarded by its own mutex.
  struct PageCache {
    std::mutex mu;
    std::unordered_map<std::string, std::string> pages;
  };
  mutable std::vector<std::unique_ptr<PageCache>> page_caches_;  // parallel to routes_
  std::vector<std::string> warnings_;
};

}  // namespace flaskpp::core
