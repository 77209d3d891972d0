// Directive names (spelled once, shared by the command table and messages) and their setters.
#pragma once

#include "glue/apache.hpp"

namespace flaskpp::glue::directive {
constexpr const char* kRoute = "FlaskppRoute";
constexpr const char* kTemplateDir = "FlaskppTemplateDir";
constexpr const char* kConfig = "FlaskppConfig";
constexpr const char* kConfigFile = "FlaskppConfigFile";
constexpr const char* kEnv = "FlaskppEnv";
constexpr const char* kErrorTemplate = "FlaskppErrorTemplate";
constexpr const char* kUploadDir = "FlaskppUploadDir";
constexpr const char* kUploadWorkDir = "FlaskppUploadWorkDir";
constexpr const char* kUploadAllow = "FlaskppUploadAllow";
constexpr const char* kUploadMaxSize = "FlaskppUploadMaxSize";
constexpr const char* kUploadMaxParts = "FlaskppUploadMaxParts";
constexpr const char* kQuickHandler = "FlaskppQuickHandler";
constexpr const char* kPlugin = "FlaskppPlugin";
constexpr const char* kJobStore = "FlaskppJobStore";
constexpr const char* kJobWorkers = "FlaskppJobWorkers";
constexpr const char* kJobQueueMax = "FlaskppJobQueueMax";
constexpr const char* kJobRetention = "FlaskppJobRetention";
constexpr const char* kJobLease = "FlaskppJobLease";
constexpr const char* kJobGrace = "FlaskppJobGrace";
constexpr const char* kJobTimeout = "FlaskppJobTimeout";
constexpr const char* kJobSpoolDir = "FlaskppJobSpoolDir";
constexpr const char* kSecretKey = "FlaskppSecretKey";
constexpr const char* kStaticMaxAge = "FlaskppStaticMaxAge";
constexpr const char* kRateLimit = "FlaskppRateLimit";
constexpr const char* kRateLimitCache = "FlaskppRateLimitCache";
constexpr const char* kStatus = "FlaskppStatus";
constexpr const char* kOpenAPI = "FlaskppOpenAPI";
constexpr const char* kSwaggerUI = "FlaskppSwaggerUI";
}  // namespace flaskpp::glue::directive

#include <string>

namespace flaskpp::glue {
struct ServerConfig;
// For directive setters (all throw core::ConfigError): the server's configuration being read,
// the directive's "file:line", and a path made absolute from ServerRoot without trailing '/'.
ServerConfig& directive_config(cmd_parms* cmd);
std::string directive_where(cmd_parms* cmd);
std::string server_path(cmd_parms* cmd, const char* path);
}  // namespace flaskpp::glue

extern "C" {
const char* fpp_set_route(cmd_parms* cmd, void* dcfg, int argc, char* const argv[]) noexcept;
const char* fpp_set_template_dir(cmd_parms* cmd, void* dcfg, const char* dir) noexcept;
const char* fpp_set_config(cmd_parms* cmd, void* dcfg, const char* key, const char* value) noexcept;
const char* fpp_set_config_file(cmd_parms* cmd, void* dcfg, const char* path, const char* env) noexcept;
const char* fpp_set_env(cmd_parms* cmd, void* dcfg, const char* env) noexcept;
const char* fpp_set_error_template(cmd_parms* cmd, void* dcfg, const char* code, const char* name) noexcept;
const char* fpp_set_upload_dir(cmd_parms* cmd, void* dcfg, const char* dir, const char* url) noexcept;
const char* fpp_set_upload_work_dir(cmd_parms* cmd, void* dcfg, const char* dir) noexcept;
const char* fpp_set_upload_allow(cmd_parms* cmd, void* dcfg, const char* ext) noexcept;
const char* fpp_set_upload_max_size(cmd_parms* cmd, void* dcfg, const char* size) noexcept;
const char* fpp_set_upload_max_parts(cmd_parms* cmd, void* dcfg, const char* count) noexcept;
const char* fpp_set_quick_handler(cmd_parms* cmd, void* dcfg, int on) noexcept;
const char* fpp_set_plugin(cmd_parms* cmd, void* dcfg, int argc, char* const argv[]) noexcept;
const char* fpp_set_job_store(cmd_parms* cmd, void* dcfg, const char* spec, const char* option) noexcept;
const char* fpp_set_job_workers(cmd_parms* cmd, void* dcfg, const char* n) noexcept;
const char* fpp_set_job_queue_max(cmd_parms* cmd, void* dcfg, const char* n) noexcept;
const char* fpp_set_job_retention(cmd_parms* cmd, void* dcfg, const char* d) noexcept;
const char* fpp_set_job_lease(cmd_parms* cmd, void* dcfg, const char* d) noexcept;
const char* fpp_set_job_grace(cmd_parms* cmd, void* dcfg, const char* d) noexcept;
const char* fpp_set_job_timeout(cmd_parms* cmd, void* dcfg, const char* d) noexcept;
const char* fpp_set_job_spool_dir(cmd_parms* cmd, void* dcfg, const char* dir) noexcept;
}
