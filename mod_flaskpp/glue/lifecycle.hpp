// The module's lifecycle: pre_config, check_config, post_config, child_init and child exit, and
// the process-scoped state they own.
//
// ProcessState lives in the configuration pool (pconf) as its userdata: a graceful restart clears
// pconf and so rebuilds it with the configuration, and no static ever holds a pool pointer. It is
// written while the configuration is read (single-threaded) and read-only once post_config has
// run, so request threads read it without locks.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/handlers.hpp"
#include "core/plugins.hpp"
#include "glue/jobs.hpp"
#include "glue/rate_limit.hpp"
#include "glue/apache.hpp"

namespace flaskpp::glue {

struct ProcessState {
  core::HandlerRegistry handlers;  // built-ins; plugins register theirs while the config is read
  std::vector<core::Plugin*> plugins;                   // FlaskppPlugin, in order; owned by pconf cleanups
  std::map<std::string, core::JobFunctionRef> job_functions;  // registered by plugins
  bool config_failed = false;      // a create or merge callback failed: startup must stop
  JobSettings job_settings;        // the job directives
  std::unique_ptr<JobService> job_service;  // built in check_config when a route uses jobs
  RateLimitCacheSettings rate_cache;        // FlaskppRateLimitCache
  ApacheRateStore* rate_store = nullptr;    // built in check_config when a server has limits; pconf owns it
};

// The state of the configuration cycle `pconf` belongs to, created on first use (the main
// server's config is created before pre_config runs). Throws std::bad_alloc.
ProcessState& process_state(apr_pool_t* pconf);

// httpd has no way to fail a create or merge callback: the failure is logged, marked in the
// process state, and check_config then stops startup. Consumers treat a null config as absent.
// Creates `dir` for Apache's User when missing; an existing one must be writable by that User.
// Throws ConfigError naming `what`.
void ensure_work_dir(const std::string& dir, const std::string& what = "upload work directory");

void note_config_failure(apr_pool_t* pconf, const char* what, const char* why) noexcept;

extern "C" {
int fpp_pre_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp) noexcept;
int fpp_check_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
int fpp_post_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
void fpp_child_init(apr_pool_t* pchild, server_rec* s) noexcept;
}

}  // namespace flaskpp::glue
