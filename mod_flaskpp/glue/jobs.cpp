#include "glue/jobs.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include <unixd.h>

#include "adapter/log_sink.hpp"
#include "core/app.hpp"
#include "core/errors.hpp"
#include "core/job_store_redis.hpp"
#include "core/job_workers.hpp"
#include "core/route_decl.hpp"
#include "glue/boundary.hpp"
#include "glue/config.hpp"
#include "glue/directives.hpp"
#include "glue/lifecycle.hpp"
#include "glue/pool.hpp"

namespace core = flaskpp::core;

namespace flaskpp::glue {

namespace {

constexpr const char* kDefaultStore = "flaskpp-jobs/jobs.sqlite";  // under DefaultRuntimeDir

// A running child's worker pool and what its executor needs; owned by the child's pool.
struct ChildJobs {
  explicit ChildJobs(server_rec* s) : log(s) {}
  adapter::ServerLogSink log;
  std::map<std::string, std::shared_ptr<const core::App>> apps;  // by origin
  std::shared_ptr<const core::App> fallback;
  std::unique_ptr<core::JobWorkers> workers;
  long grace_ms = 0;
};

// Set in a child whose exit left job threads running (they ignored the stop): the plugins'
// on_child_stop is then skipped, since those threads may still use what it would release.
std::atomic<bool> g_threads_left_running{false};

apr_status_t fpp_stop_job_workers(void* data) noexcept {
  return guard_cleanup([data] {
    auto* jobs = static_cast<ChildJobs*>(data);
    core::JobWorkers::StopReport report;
    if (jobs->workers) report = jobs->workers->stop(std::chrono::milliseconds(jobs->grace_ms));
    if (report.still_running.empty()) {
      delete jobs;
      return;
    }
    // Detached threads still run jobs through this object (its log, its Apps): it is left
    // allocated for the few moments until the process exits.
    g_threads_left_running = true;
    jobs->log.log(core::LogLevel::kWarn, core::tag::kJobStillRunning,
                  std::to_string(report.still_running.size()) +
                      " job(s) still running at child exit; their leases expire and another child runs them again");
  });
}

// Makes a file of the store Apache's User's (the parent creates it as root; children write it).
void give_to_user(const std::string& path) {
  if (::geteuid() != 0) return;
  if (::chown(path.c_str(), ap_unixd_config.user_id, ap_unixd_config.group_id) != 0 && errno != ENOENT) {
    throw core::ConfigError("cannot give job store file '" + path + "' to Apache's User: " + std::strerror(errno));
  }
}

ProcessState& state_of(cmd_parms* cmd) { return process_state(cmd->pool); }

std::string absolute(cmd_parms* cmd, const std::string& path) {
  const char* resolved = ap_server_root_relative(cmd->pool, path.c_str());
  if (!resolved) throw core::ConfigError("invalid path '" + path + "'");
  return resolved;
}

std::size_t count(const char* text, std::size_t min, std::size_t max) {
  auto n = core::parse_decimal(text ? text : "");
  if (!n || *n < min || *n > max) {
    throw core::ConfigError(std::string("'") + (text ? text : "") + "' must be a number from " + std::to_string(min) +
                            " to " + std::to_string(max));
  }
  return static_cast<std::size_t>(*n);
}

template <typename F>
const char* global_setting(cmd_parms* cmd, F&& body) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    if (const char* err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return err;
    body(state_of(cmd).job_settings);
    return nullptr;
  });
}

}  // namespace

bool job_threads_left_running() noexcept { return g_threads_left_running; }

std::string job_origin(server_rec* s) {
  return std::string(s->server_hostname ? s->server_hostname : "") + ":" + std::to_string(s->port);
}

void prepare_jobs(apr_pool_t* pconf, ProcessState& state) {
  const JobSettings& js = state.job_settings;
  auto service = std::make_unique<JobService>();
  std::string path = js.store_path.empty() ? ap_runtime_dir_relative(pconf, kDefaultStore) : js.store_path;
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (!js.redis_url.empty()) {
    // Redis: nothing to create here, and no connection before the children fork (the client
    // connects on first use, in each child). A job's files stay in this host's spool directory:
    // jobs that carry uploads need FlaskppJobSpoolDir on storage every host mounts.
    service->spool_dir = js.spool_dir.empty() ? dir + "/spool" : js.spool_dir;
    ensure_work_dir(service->spool_dir, "job spool directory");
    service->store = std::make_unique<core::RedisJobStore>(core::parse_redis_url(js.redis_url));
  } else {
    ensure_work_dir(dir, "job store directory");
    service->spool_dir = js.spool_dir.empty() ? dir + "/spool" : js.spool_dir;
    ensure_work_dir(service->spool_dir, "job spool directory");
    core::SqliteJobStoreOptions store_options;
    store_options.synchronous_full = js.sync_full;
    service->store = std::make_unique<core::SqliteJobStore>(path, store_options);
    for (const char* suffix : {"", "-wal", "-shm"}) give_to_user(path + suffix);
  }
  core::JobQueueOptions options;
  if (js.queue_max) options.queue_max = *js.queue_max;
  if (js.lease_ms) options.lease_ms = *js.lease_ms;
  if (js.retention_ms) options.retention_ms = *js.retention_ms;
  if (js.timeout_ms) options.default_timeout_ms = *js.timeout_ms;
  // Purge at most every minute, but often enough for a short retention.
  options.purge_interval_ms = std::min<std::int64_t>(options.purge_interval_ms, options.retention_ms);
  service->queue = std::make_unique<core::JobQueue>(*service->store, options);
  service->workers = js.workers.value_or(2);
  service->grace_ms = js.grace_ms.value_or(10000);
  state.job_service = std::move(service);
}

void start_job_workers(apr_pool_t* pchild, server_rec* base, ProcessState& state) {
  JobService& service = *state.job_service;
  // Requests and job threads share the child's store connections: one idle per thread (Redis).
  service.store->set_max_idle_connections(redis_pool_size_for_mpm() + service.workers);
  if (service.workers == 0) return;  // this server's children only accept jobs
  // Owned by the cleanup below, which frees it unless job threads outlive the stop.
  auto* jobs = new ChildJobs(base);
  for (server_rec* s = base; s; s = s->next) {
    ServerConfig* cfg = server_config(s);
    if (!cfg || !cfg->app) continue;
    jobs->apps.emplace(job_origin(s), cfg->app);
    if (!jobs->fallback) jobs->fallback = cfg->app;
  }
  if (!jobs->fallback) {
    delete jobs;
    return;
  }
  jobs->grace_ms = service.grace_ms;
  const auto* functions = &state.job_functions;
  core::Executor executor = [jobs, functions](const core::JobRecord& job, core::JobControl& control) {
    auto it = jobs->apps.find(job.origin);
    const core::App& app = it != jobs->apps.end() ? *it->second : *jobs->fallback;
    auto fn = functions->find(job.name);
    return app.run_job(job, control, fn != functions->end() ? &fn->second : nullptr, jobs->log);
  };
  apr_pool_cleanup_register(pchild, jobs, fpp_stop_job_workers, apr_pool_cleanup_null);
  jobs->workers = std::make_unique<core::JobWorkers>(*service.queue, std::move(executor), service.workers, jobs->log);
  jobs->workers->start();
}

}  // namespace flaskpp::glue

using flaskpp::glue::global_setting;
using flaskpp::glue::JobSettings;

extern "C" const char* fpp_set_job_store(cmd_parms* cmd, void*, const char* spec, const char* option) noexcept {
  return flaskpp::glue::guard_directive(cmd, [&]() -> const char* {
    if (const char* err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return err;
    std::string text = spec;
    JobSettings& js = flaskpp::glue::process_state(cmd->pool).job_settings;
    if (text.rfind("redis://", 0) == 0 || text.rfind("rediss://", 0) == 0) {
      core::parse_redis_url(text);  // ConfigError naming what is wrong (rediss: no TLS in hiredis 0.14)
      if (option) throw core::ConfigError("option '" + std::string(option) + "' is for sqlite: stores");
      js.redis_url = text;
      js.store_path.clear();
      return nullptr;
    }
    if (text.rfind("sqlite:", 0) != 0 || text.size() == 7) {
      throw core::ConfigError("'" + text + "' is not a job store: use sqlite:PATH or redis://HOST:PORT/DB");
    }
    js.redis_url.clear();
    const char* resolved = ap_server_root_relative(cmd->pool, text.c_str() + 7);
    if (!resolved) throw core::ConfigError("invalid path '" + text.substr(7) + "'");
    js.store_path = resolved;
    js.sync_full = false;
    if (option) {
      std::string opt = option;
      if (opt == "sync=full") js.sync_full = true;
      else if (opt != "sync=normal") throw core::ConfigError("option '" + opt + "' must be sync=normal or sync=full");
    }
    return nullptr;
  });
}

extern "C" const char* fpp_set_job_workers(cmd_parms* cmd, void*, const char* n) noexcept {
  return global_setting(cmd, [&](JobSettings& js) { js.workers = flaskpp::glue::count(n, 0, 256); });
}

extern "C" const char* fpp_set_job_queue_max(cmd_parms* cmd, void*, const char* n) noexcept {
  return global_setting(cmd, [&](JobSettings& js) { js.queue_max = flaskpp::glue::count(n, 1, 100000000); });
}

extern "C" const char* fpp_set_job_retention(cmd_parms* cmd, void*, const char* d) noexcept {
  return global_setting(cmd, [&](JobSettings& js) { js.retention_ms = core::parse_duration_ms(d); });
}

extern "C" const char* fpp_set_job_lease(cmd_parms* cmd, void*, const char* d) noexcept {
  return global_setting(cmd, [&](JobSettings& js) {
    long ms = core::parse_duration_ms(d);
    if (ms < 300) throw core::ConfigError("a lease shorter than 300ms cannot be renewed in time");
    js.lease_ms = ms;
  });
}

extern "C" const char* fpp_set_job_grace(cmd_parms* cmd, void*, const char* d) noexcept {
  return global_setting(cmd, [&](JobSettings& js) { js.grace_ms = core::parse_duration_ms(d); });
}

extern "C" const char* fpp_set_job_timeout(cmd_parms* cmd, void*, const char* d) noexcept {
  return global_setting(cmd, [&](JobSettings& js) { js.timeout_ms = core::parse_duration_ms(d); });
}

extern "C" const char* fpp_set_job_spool_dir(cmd_parms* cmd, void*, const char* dir) noexcept {
  return global_setting(cmd, [&](JobSettings& js) { js.spool_dir = flaskpp::glue::absolute(cmd, dir); });
}
