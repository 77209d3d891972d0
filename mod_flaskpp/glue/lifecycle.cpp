#include "glue/lifecycle.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>

#include <unixd.h>

#include "adapter/log_sink.hpp"
#include "glue/boundary.hpp"
#include "glue/config.hpp"
#include "glue/pool.hpp"
#include "glue/secrets.hpp"

namespace flaskpp::glue {

namespace {

constexpr const char* kStateKey = "flaskpp:process-state";
constexpr const char* kDefaultWorkDir = "flaskpp-upload";  // under DefaultRuntimeDir

const char* server_name(server_rec* s) { return s->server_hostname ? s->server_hostname : "(main)"; }

}  // namespace

// The upload work directory (and the job directories): created when missing and then given to
// Apache's User (as mod_cgid does with its socket directory), since Apache's children write into
// it. An existing directory is never taken over: it must already be writable by that User.
void ensure_work_dir(const std::string& dir, const std::string& what) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (::mkdir(dir.c_str(), 0750) == 0) {
    if (::geteuid() == 0 && ::chown(dir.c_str(), ap_unixd_config.user_id, ap_unixd_config.group_id) != 0) {
      throw core::ConfigError("cannot give " + what + " '" + dir + "' to Apache's User: " +
                              std::strerror(errno));
    }
    return;
  }
  if (errno != EEXIST) {
    throw core::ConfigError("cannot create " + what + " '" + dir + "': " + std::strerror(errno));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw core::ConfigError(what + " '" + dir + "' is not a directory");
  }
  if (::geteuid() != 0) return;  // not started as root: the children run as this very user
  // Creating files needs write and search permission, by the class that applies to that user.
  auto allows = [&st](mode_t w, mode_t x) { return (st.st_mode & w) && (st.st_mode & x); };
  bool writable = st.st_uid == ap_unixd_config.user_id    ? allows(S_IWUSR, S_IXUSR)
                  : st.st_gid == ap_unixd_config.group_id ? allows(S_IWGRP, S_IXGRP)
                                                          : allows(S_IWOTH, S_IXOTH);
  if (!writable) {
    throw core::ConfigError(what + " '" + dir +
                            "' exists but is not writable by Apache's User (chown it to that user, or name a new "
                            "directory: one that does not exist yet is created for that user)");
  }
}

namespace {

// Builds one server's App; throws ConfigError.
void build_app(apr_pool_t* pconf, server_rec* s, ServerConfig& cfg, const ProcessState& state) {
  for (const auto& entry : cfg.error_templates) {
    cfg.error_paths.emplace_back(entry.first, kErrorPrefix + std::to_string(entry.first));
  }
  core::AppSettings settings = settings_from(cfg);
  if (!settings.upload_dir.empty()) {
    if (settings.upload_work_dir.empty()) settings.upload_work_dir = ap_runtime_dir_relative(pconf, kDefaultWorkDir);
    core::check_work_dir_placement(settings.upload_dir, settings.upload_work_dir);  // before touching it
    ensure_work_dir(settings.upload_work_dir);
  }
  if (state.job_service) {
    settings.jobs = state.job_service->queue.get();
    settings.job_spool_dir = state.job_service->spool_dir;
  }
  settings.job_origin = job_origin(s);
  std::vector<std::string> key_warnings;
  if (!cfg.secret_sources.empty()) {
    settings.secret_keys = load_secret_keys(cfg.secret_sources, key_warnings, only_signals());
  } else if (settings.env == core::Env::kDevelopment) {
    settings.secret_keys = {generate_secret_key()};
    key_warnings.push_back("no FlaskppSecretKey: sessions are signed with a key made for this start (they end at "
                           "every restart); production needs FlaskppSecretKey env:NAME or file:PATH");
  }
  for (const auto& w : key_warnings) {
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, FPPLOGNO(00060) "mod_flaskpp: %s", w.c_str());
  }
  if (!settings.rate_limits.rules.empty()) {
    settings.rate_limits.store = state.rate_store;
    settings.rate_limits.fail_closed = state.rate_cache.fail_closed;
    settings.rate_limits.scope = job_origin(s);
  }
  for (const auto& [name, ref] : state.job_functions) settings.job_functions.push_back(name);
  cfg.app = std::make_shared<const core::App>(std::move(settings), cfg.routes, state.handlers);
}

// Runs one kind of plugin hook for every plugin, in load order. Throws what a hook threw.
void run_plugin_hooks(server_rec* s, flaskpp::detail::Hook hook) {
  ProcessState& state = process_state(s->process->pconf);
  adapter::ServerLogSink log(s);
  for (const core::Plugin* plugin : state.plugins) plugin->run_hooks(hook, log);
}

apr_status_t fpp_child_exit(void* data) noexcept {
  return guard_cleanup([data] {
    auto* s = static_cast<server_rec*>(data);
    if (job_threads_left_running()) {
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, FPPLOGNO(00035)
                   "mod_flaskpp: plugins' on_child_stop skipped: job threads are still running");
    } else {
      try {
        run_plugin_hooks(s, flaskpp::detail::Hook::kChildStop);
      } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, FPPLOGNO(00028) "mod_flaskpp: %s", e.what());
      }
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, FPPLOGNO(00020) "mod_flaskpp: child %ld exiting",
                 static_cast<long>(::getpid()));
  });
}

}  // namespace

ProcessState& process_state(apr_pool_t* pconf) {
  void* data = nullptr;
  apr_pool_userdata_get(&data, kStateKey, pconf);
  if (data) return *static_cast<ProcessState*>(data);
  auto* state = make_pool_owned<ProcessState>(pconf);
  state->handlers = core::HandlerRegistry::builtins();
  apr_pool_userdata_set(state, kStateKey, apr_pool_cleanup_null, pconf);
  return *state;
}

void note_config_failure(apr_pool_t* pconf, const char* what, const char* why) noexcept {
  ap_log_perror(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, pconf, FPPLOGNO(00016) "mod_flaskpp: cannot %s: %s", what,
                why);
  try {
    process_state(pconf).config_failed = true;
  } catch (...) {
    // Without memory for the state, the null config stops check_config instead.
  }
}

extern "C" int fpp_pre_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*) noexcept {
  try {
    process_state(pconf);
    register_rate_limit_mutex(pconf);
    return OK;
  } catch (const std::exception& e) {
    ap_log_perror(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, pconf,
                  FPPLOGNO(00021) "mod_flaskpp: cannot set up process state: %s", e.what());
  } catch (...) {
    ap_log_perror(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, pconf,
                  FPPLOGNO(00022) "mod_flaskpp: cannot set up process state: unknown error");
  }
  return HTTP_INTERNAL_SERVER_ERROR;
}

// Builds every server's core::App from its merged configuration. Runs for `apachectl -t` too, so
// a configuration that cannot work fails there.
extern "C" int fpp_check_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t* ptemp, server_rec* base) noexcept {
  return guard_hook(nullptr, base, [&]() -> int {
    ProcessState& state = process_state(pconf);
    if (state.config_failed) {
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, base,
                   FPPLOGNO(00018) "mod_flaskpp: a server configuration could not be created or merged (see above)");
      return HTTP_INTERNAL_SERVER_ERROR;
    }
    // The job store first: the Apps of servers with job routes are built on its queue.
    state.job_service.reset();
    bool job_routes = false;
    for (server_rec* s = base; s; s = s->next) {
      if (ServerConfig* cfg = server_config(s)) {
        for (const auto& r : cfg->routes) {
          job_routes = job_routes || r.action == core::ActionKind::kJob || r.action == core::ActionKind::kJobStatus ||
                       r.action == core::ActionKind::kJobCancel;
        }
      }
    }
    if (job_routes) {
      try {
        prepare_jobs(pconf, state);
      } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, base,
                     FPPLOGNO(00033) "mod_flaskpp: the job store cannot work: %s", e.what());
        return HTTP_INTERNAL_SERVER_ERROR;
      }
    }
    // The rate limit store, when a server has limits.
    state.rate_store = nullptr;
    bool rate_limits = false;
    for (server_rec* s = base; s; s = s->next) {
      if (ServerConfig* cfg = server_config(s)) rate_limits = rate_limits || !cfg->rate_rules.empty();
    }
    if (rate_limits) {
      try {
        prepare_rate_limits(pconf, ptemp, state);
      } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, base,
                     FPPLOGNO(00038) "mod_flaskpp: rate limits cannot work: %s", e.what());
        return HTTP_INTERNAL_SERVER_ERROR;
      }
    }
    for (server_rec* s = base; s; s = s->next) {
      ServerConfig* cfg = server_config(s);
      if (!cfg) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     FPPLOGNO(00019) "mod_flaskpp: no configuration for %s:%d", server_name(s), s->port);
        return HTTP_INTERNAL_SERVER_ERROR;
      }
      cfg->app.reset();
      cfg->error_paths.clear();
      if (cfg->routes.empty() && cfg->error_templates.empty()) continue;
      try {
        build_app(pconf, s, *cfg, state);
      } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     FPPLOGNO(00011) "mod_flaskpp: configuration of %s:%d cannot work: %s", server_name(s), s->port,
                     e.what());
        return HTTP_INTERNAL_SERVER_ERROR;
      }
    }
    return OK;
  });
}

extern "C" int fpp_post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* base) noexcept {
  return guard_hook(nullptr, base, [&]() -> int {
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;  // dry run
    // on_start: once per configuration cycle, in the parent, before any child exists, so what it
    // loads is shared copy-on-write by all children.
    ProcessState& state = process_state(pconf);
    try {
      start_rate_limits(pconf, base, state);
    } catch (const std::exception& e) {
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, base,
                   FPPLOGNO(00039) "mod_flaskpp: rate limits cannot work: %s", e.what());
      return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (const core::Plugin* plugin : state.plugins) {
      adapter::ServerLogSink log(base);
      try {
        plugin->run_hooks(flaskpp::detail::Hook::kStart, log);
      } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, base, FPPLOGNO(00029) "mod_flaskpp: %s", e.what());
        return HTTP_INTERNAL_SERVER_ERROR;
      }
      ap_log_error(APLOG_MARK, APLOG_INFO, 0, base,
                   FPPLOGNO(00030) "mod_flaskpp: plugin %s (%s) ready: %" APR_SIZE_T_FMT " handler(s), %" APR_SIZE_T_FMT
                   " job(s)", plugin->name().c_str(), plugin->path().c_str(), plugin->handlers().size(),
                   plugin->jobs().size());
    }
    for (server_rec* s = base; s; s = s->next) {
      ServerConfig* cfg = server_config(s);
      if (!cfg || !cfg->app) continue;
      adapter::ServerLogSink log(s);
      for (const auto& w : cfg->app->warnings()) log.log(core::LogLevel::kWarn, core::tag::kStartupWarning, w);
      if (!cfg->app->upload_work_dir().empty()) {
        // Left by children killed mid-upload. A file still being written (old children finish
        // their requests across a graceful restart) was written to within the request Timeout.
        auto timeout = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::microseconds(s->timeout));
        auto max_age = std::max<std::chrono::seconds>(2 * timeout, std::chrono::minutes(10));
        std::size_t n = core::sweep_stale_upload_files(cfg->app->upload_work_dir(), max_age);
        if (n) {
          ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, FPPLOGNO(00024) "mod_flaskpp: removed %" APR_SIZE_T_FMT
                       " stale temporary upload file(s) from %s", n, cfg->app->upload_work_dir().c_str());
        }
      }
      ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, FPPLOGNO(00001) "mod_flaskpp ready: %" APR_SIZE_T_FMT " routes, %s",
                   cfg->app->route_count(), core::env_name(cfg->app->env()));
    }
    return OK;
  });
}

// Per child process: nothing to open yet (issue 6 starts the job workers here); the child's pool
// cleanup is its exit hook.
extern "C" void fpp_child_init(apr_pool_t* pchild, server_rec* s) noexcept {
  guard_hook(nullptr, s, [&]() -> int {
    apr_pool_cleanup_register(pchild, s, fpp_child_exit, apr_pool_cleanup_null);
    try {
      run_plugin_hooks(s, flaskpp::detail::Hook::kChildStart);
    } catch (const std::exception& e) {
      // The child serves on: the plugin's handlers answer what they can (their errors are 500s).
      ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, FPPLOGNO(00031) "mod_flaskpp: %s", e.what());
    }
    // After the plugins' child start (and so stopped before their child stop: cleanups run in
    // reverse), the job workers.
    ProcessState& state = process_state(s->process->pconf);
    try {
      child_rate_limits(pchild, state);
    } catch (const std::exception& e) {
      // Every limited request then fails the store: fail-open or fail-closed as configured.
      ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, FPPLOGNO(00049) "mod_flaskpp: %s", e.what());
    }
    if (state.job_service) start_job_workers(pchild, s, state);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, FPPLOGNO(00023) "mod_flaskpp: child %ld ready",
                 static_cast<long>(::getpid()));
    return OK;
  });
}

}  // namespace flaskpp::glue
