// Server configuration (server config and virtual hosts). Created per server in the config pool,
// merged parent-first; post-startup it holds the immutable core::App built from it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/app.hpp"
#include "core/config.hpp"
#include "glue/apache.hpp"

namespace flaskpp::glue {

// One FlaskppConfig (key set) or FlaskppConfigFile (key empty: merge the whole object).
struct ConfigItem {
  std::string key;
  std::shared_ptr<const rapidjson::Document> value;
  std::optional<core::Env> only_env;  // FlaskppConfigFile PATH development|production
};

// FlaskppOpenAPI URL-PATH [TITLE [VERSION]]. An empty path is Off (a virtual host turns the
// inherited document off).
struct OpenApiDirective {
  std::string path;     // URL path of the document; empty: Off
  std::string title;    // info.title; empty: the builder's default
  std::string version;  // info.version (the API's); empty: the builder's default
};

// FlaskppSwaggerUI URL-PATH [ASSETS-DIR]. An empty path is Off.
struct SwaggerUiDirective {
  std::string path;        // URL path of the page; empty: Off
  std::string assets_dir;  // absolute directory holding swagger-ui-bundle.js (checked when set)
};

struct ServerConfig {
  std::vector<core::RouteDecl> routes;        // parent's first, then this server's
  std::string template_dir;                   // absolute path; empty = unset
  std::vector<ConfigItem> config_items;       // in order; later items win
  std::optional<core::Env> env;               // unset: production
  std::map<int, std::string> error_templates; // status -> template name
  std::string upload_dir;                     // FlaskppUploadDir, absolute; empty = unset
  std::string upload_url;                     // its URL prefix (second argument)
  std::string upload_work_dir;                // FlaskppUploadWorkDir, absolute; empty = default
  std::vector<std::string> upload_allow;      // FlaskppUploadAllow, lower-case ".ext"
  std::optional<std::size_t> max_body;        // FlaskppUploadMaxSize, bytes
  std::optional<std::size_t> max_parts;       // FlaskppUploadMaxParts
  std::optional<bool> quick_handler;          // FlaskppQuickHandler; unset: Off
  std::vector<std::string> secret_sources;    // FlaskppSecretKey: "env:NAME" / "file:/abs"; a host's replace
  std::vector<std::string> static_max_age_prefixes;  // FlaskppStaticMaxAge: parent's, then this server's
  std::vector<core::RateRule> rate_rules;     // FlaskppRateLimit: parent's first, then this server's
  std::optional<std::string> status_path;     // FlaskppStatus URL path; empty: Off; unset: Off
  std::optional<OpenApiDirective> openapi;    // FlaskppOpenAPI; unset: Off
  std::optional<SwaggerUiDirective> swagger_ui;  // FlaskppSwaggerUI; unset: Off
  // Built in check_config from the fields above; read-only afterwards, shared by all threads.
  std::shared_ptr<const core::App> app;
  // Built in check_config too: (status, internal URI) of each FlaskppErrorTemplate, installed as the
  // error documents of requests no route claims.
  std::vector<std::pair<int, std::string>> error_paths;
};

extern "C" {
void* fpp_create_server_config(apr_pool_t* p, server_rec* s) noexcept;
void* fpp_merge_server_config(apr_pool_t* p, void* base, void* add) noexcept;
}

// The server's configuration; null when its creation or merge failed (check_config then stops
// startup).
ServerConfig* server_config(server_rec* s);
core::AppSettings settings_from(const ServerConfig& cfg);

}  // namespace flaskpp::glue
