// Module record, command table and hook registration; nothing else.
#include "adapter/hooks.hpp"
#include "glue/apache.hpp"
#include "glue/config.hpp"
#include "glue/directives.hpp"
#include "glue/lifecycle.hpp"
#include "glue/openapi.hpp"
#include "glue/secrets.hpp"
#include "glue/static_cache.hpp"
#include "glue/status.hpp"

namespace {

// Under C++, httpd types directive functions as `const char *(*)()`; the one cast lives here.
template <typename F>
cmd_func as_cmd(F f) {
  // Through void(*)(), the generic function pointer type GCC accepts without -Wcast-function-type.
  return reinterpret_cast<cmd_func>(reinterpret_cast<void (*)()>(f));
}

namespace d = flaskpp::glue::directive;

const command_rec fpp_commands[] = {
    AP_INIT_TAKE_ARGV(d::kRoute, as_cmd(fpp_set_route), nullptr, RSRC_CONF,
                      "METHODS PATTERN ACTION [ARGS]: e.g. GET /hello/<name> template hello.html"),
    AP_INIT_TAKE1(d::kTemplateDir, as_cmd(fpp_set_template_dir), nullptr, RSRC_CONF,
                  "directory of mustache templates and partials (relative to ServerRoot)"),
    AP_INIT_TAKE2(d::kConfig, as_cmd(fpp_set_config), nullptr, RSRC_CONF,
                  "KEY VALUE: an app.config entry (JSON literal or text)"),
    AP_INIT_TAKE12(d::kConfigFile, as_cmd(fpp_set_config_file), nullptr, RSRC_CONF,
                   "PATH.json [development|production]: config keys from a JSON object"),
    AP_INIT_TAKE1(d::kEnv, as_cmd(fpp_set_env), nullptr, RSRC_CONF, "development or production (default)"),
    AP_INIT_TAKE2(d::kErrorTemplate, as_cmd(fpp_set_error_template), nullptr, RSRC_CONF,
                  "CODE TEMPLATE: custom error page for an HTTP status"),
    AP_INIT_TAKE12(d::kUploadDir, as_cmd(fpp_set_upload_dir), nullptr, RSRC_CONF,
                   "DIR [URL]: where upload actions save files, and the URL prefix they are served under"),
    AP_INIT_TAKE1(d::kUploadWorkDir, as_cmd(fpp_set_upload_work_dir), nullptr, RSRC_CONF,
                  "DIR: temporary upload files, outside the served tree, same filesystem as FlaskppUploadDir "
                  "(default: DefaultRuntimeDir/flaskpp-upload; created at startup)"),
    AP_INIT_ITERATE(d::kUploadAllow, as_cmd(fpp_set_upload_allow), nullptr, RSRC_CONF,
                    ".ext ...: file extensions upload actions accept (content checked too)"),
    AP_INIT_TAKE1(d::kUploadMaxSize, as_cmd(fpp_set_upload_max_size), nullptr, RSRC_CONF,
                  "largest request body, e.g. 16M (default: MAX_CONTENT_LENGTH, else 16M)"),
    AP_INIT_TAKE1(d::kUploadMaxParts, as_cmd(fpp_set_upload_max_parts), nullptr, RSRC_CONF,
                  "most parts in a multipart body (default 1000)"),
    AP_INIT_FLAG(d::kQuickHandler, as_cmd(fpp_set_quick_handler), nullptr, RSRC_CONF,
                 "On: answer routes from the quick handler, skipping Apache's access checks (default Off)"),
    AP_INIT_TAKE_ARGV(d::kPlugin, as_cmd(fpp_set_plugin), nullptr, RSRC_CONF,
                      "NAME PATH.so [key=value ...]: load a plugin's handlers and jobs (server config only)"),
    AP_INIT_TAKE12(d::kJobStore, as_cmd(fpp_set_job_store), nullptr, RSRC_CONF,
                   "sqlite:PATH [sync=normal|full]: the durable job store shared by all children "
                   "(default sqlite:DefaultRuntimeDir/flaskpp-jobs/jobs.sqlite)"),
    AP_INIT_TAKE1(d::kJobWorkers, as_cmd(fpp_set_job_workers), nullptr, RSRC_CONF,
                  "job worker threads per child process (default 2; 0: this server only accepts jobs)"),
    AP_INIT_TAKE1(d::kJobQueueMax, as_cmd(fpp_set_job_queue_max), nullptr, RSRC_CONF,
                  "most queued + running jobs; more are answered 503 with Retry-After (default 1000)"),
    AP_INIT_TAKE1(d::kJobRetention, as_cmd(fpp_set_job_retention), nullptr, RSRC_CONF,
                  "how long finished jobs stay readable, e.g. 1d (default)"),
    AP_INIT_TAKE1(d::kJobLease, as_cmd(fpp_set_job_lease), nullptr, RSRC_CONF,
                  "a claim's lease; a job whose child died is run again after it (default 30s)"),
    AP_INIT_TAKE1(d::kJobGrace, as_cmd(fpp_set_job_grace), nullptr, RSRC_CONF,
                  "how long an exiting child lets running jobs finish (default 10s)"),
    AP_INIT_TAKE1(d::kJobTimeout, as_cmd(fpp_set_job_timeout), nullptr, RSRC_CONF,
                  "default run time limit of a job attempt, e.g. 5m (default: none)"),
    AP_INIT_TAKE1(d::kJobSpoolDir, as_cmd(fpp_set_job_spool_dir), nullptr, RSRC_CONF,
                  "where job input files are kept until the job is removed (default: <store dir>/spool)"),
    AP_INIT_ITERATE(d::kStaticMaxAge, as_cmd(fpp_set_static_max_age), nullptr, RSRC_CONF,
                    "URL-PREFIX ...: static files Apache serves under these prefixes get Cache-Control max-age from "
                    "SEND_FILE_MAX_AGE_DEFAULT (opt-in, like Flask's static folder)"),
    AP_INIT_TAKE_ARGV(d::kSecretKey, as_cmd(fpp_set_secret_key), nullptr, RSRC_CONF,
                      "env:NAME | file:PATH [older sources ...]: the key that signs session cookies (the first "
                      "signs, all verify); required in production when sessions are used"),
    AP_INIT_TAKE_ARGV(d::kRateLimit, as_cmd(fpp_set_rate_limit), nullptr, RSRC_CONF,
                      "PATTERN|* \"LIMITS\" [key=ip|header:NAME] [strategy=fixed-window|sliding-window]: "
                      "Flask-Limiter limits, e.g. \"10/minute;100/day\", per route pattern or for every route"),
    AP_INIT_TAKE12(d::kRateLimitCache, as_cmd(fpp_set_rate_limit_cache), nullptr, RSRC_CONF,
                   "PROVIDER[:ARGS] [fail=open|closed]: the socache holding the rate limit counters, shared by "
                   "all children (default shmcb, fail=open; server config only)"),
    AP_INIT_TAKE1(d::kStatus, as_cmd(flaskpp::glue::fpp_set_status), nullptr, RSRC_CONF,
                  "URL-PATH | Off: a page of the routes and their counters (protect it with Require in a <Location>)"),
    AP_INIT_TAKE123(d::kOpenAPI, as_cmd(flaskpp::glue::fpp_set_openapi), nullptr, RSRC_CONF,
                    "URL-PATH [TITLE [VERSION]] | Off: serve the OpenAPI 3.1 document of this server's routes"),
    AP_INIT_TAKE12(d::kSwaggerUI, as_cmd(flaskpp::glue::fpp_set_swagger_ui), nullptr, RSRC_CONF,
                   "URL-PATH [ASSETS-DIR] | Off: Swagger UI's page for the FlaskppOpenAPI document, with "
                   "swagger-ui-dist's files from ASSETS-DIR (default: the build's copy)"),
    {nullptr, nullptr, nullptr, 0, RAW_ARGS, nullptr}};

void fpp_register_hooks(apr_pool_t*) noexcept {
  namespace glue = flaskpp::glue;
  namespace adapter = flaskpp::adapter;
  // Lifecycle (glue/lifecycle.cpp).
  ap_hook_pre_config(glue::fpp_pre_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_check_config(glue::fpp_check_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_post_config(glue::fpp_post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_child_init(glue::fpp_child_init, nullptr, nullptr, APR_HOOK_MIDDLE);
  // Requests (adapter/handler.cpp).
  ap_hook_quick_handler(adapter::fpp_quick_handler, nullptr, nullptr, APR_HOOK_FIRST);
  // Routes are claimed after mod_rewrite's server-context rules, before mod_alias and core.
  static const char* const after_rewrite[] = {"mod_rewrite.c", nullptr};
  ap_hook_translate_name(adapter::fpp_translate_name, after_rewrite, nullptr, APR_HOOK_FIRST);
  ap_hook_map_to_storage(adapter::fpp_map_to_storage, nullptr, nullptr, APR_HOOK_FIRST);
  ap_hook_post_perdir_config(adapter::fpp_post_perdir_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_fixups(adapter::fpp_fixups, nullptr, nullptr, APR_HOOK_REALLY_LAST);
  ap_hook_fixups(fpp_static_fixups, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_handler(adapter::fpp_handler, nullptr, nullptr, APR_HOOK_MIDDLE);
  // The operator's view (glue/status.cpp): route statistics, the FlaskppStatus page (claimed
  // before the routes), `-t -D DUMP_ROUTES`.
  ap_hook_post_config(glue::fpp_status_post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_test_config(glue::fpp_status_test_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_translate_name(glue::fpp_status_translate_name, after_rewrite, nullptr, APR_HOOK_FIRST - 1);
  ap_hook_map_to_storage(glue::fpp_status_map_to_storage, nullptr, nullptr, APR_HOOK_FIRST);
  ap_hook_fixups(glue::fpp_status_fixups, nullptr, nullptr, APR_HOOK_REALLY_LAST);
  ap_hook_handler(glue::fpp_status_handler, nullptr, nullptr, APR_HOOK_MIDDLE);
  // FlaskppOpenAPI and FlaskppSwaggerUI (glue/openapi.cpp): built after every App (check_config
  // runs last), claimed before the routes like the status page.
  ap_hook_check_config(glue::fpp_openapi_check_config, nullptr, nullptr, APR_HOOK_LAST);
  ap_hook_post_config(glue::fpp_openapi_post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_translate_name(glue::fpp_openapi_translate_name, after_rewrite, nullptr, APR_HOOK_FIRST - 1);
  ap_hook_map_to_storage(glue::fpp_openapi_map_to_storage, nullptr, nullptr, APR_HOOK_FIRST);
  ap_hook_fixups(glue::fpp_openapi_fixups, nullptr, nullptr, APR_HOOK_REALLY_LAST);
  ap_hook_handler(glue::fpp_openapi_handler, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // namespace

extern "C" {
__attribute__((visibility("default"))) module AP_MODULE_DECLARE_DATA flaskpp_module = {
    STANDARD20_MODULE_STUFF,
    nullptr,                                 // per-directory config: none yet
    nullptr,
    flaskpp::glue::fpp_create_server_config,
    flaskpp::glue::fpp_merge_server_config,
    fpp_commands,
    fpp_register_hooks,
    AP_MODULE_FLAG_NONE,
};
}
