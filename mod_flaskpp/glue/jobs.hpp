// Background jobs in the lifecycle: the job directives (server config only), the process's store
// and queue (built with the configuration, in the parent), and each child's worker threads.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/job_store_sqlite.hpp"
#include "core/jobs.hpp"
#include "glue/apache.hpp"

namespace flaskpp::glue {

// What the job directives say; unset fields take the defaults named in conf/flaskpp.conf.
struct JobSettings {
  std::string store_path;              // FlaskppJobStore sqlite:PATH (absolute); empty: default
  std::string redis_url;               // FlaskppJobStore redis://HOST:PORT/DB; empty: SQLite
  bool sync_full = false;              // FlaskppJobStore ... sync=full
  std::optional<std::size_t> workers;  // FlaskppJobWorkers N (per child; default 2)
  std::optional<std::size_t> queue_max;       // FlaskppJobQueueMax N (default 1000)
  std::optional<long> retention_ms;    // FlaskppJobRetention (default 1d)
  std::optional<long> lease_ms;        // FlaskppJobLease (default 30s)
  std::optional<long> grace_ms;        // FlaskppJobGrace (default 10s)
  std::optional<long> timeout_ms;      // FlaskppJobTimeout (default none)
  std::string spool_dir;               // FlaskppJobSpoolDir (absolute); empty: <store dir>/spool
                                       // (Redis: DefaultRuntimeDir/flaskpp-jobs/spool)
};

// The process's job queue, built in check_config when a route uses jobs; lives in pconf.
struct JobService {
  std::unique_ptr<core::JobStore> store;  // SqliteJobStore or RedisJobStore
  std::unique_ptr<core::JobQueue> queue;
  std::string spool_dir;
  std::size_t workers = 2;
  long grace_ms = 10000;
};

struct ProcessState;
// Opens (creating when missing) the store, its directory and the spool directory, given to
// Apache's User. Throws ConfigError / JobStoreError.
void prepare_jobs(apr_pool_t* pconf, ProcessState& state);
// Starts this child's worker threads (FlaskppJobWorkers), stopped by a cleanup of `pchild` that
// lets running jobs finish within FlaskppJobGrace.
void start_job_workers(apr_pool_t* pchild, server_rec* base, ProcessState& state);
// True in a child whose job threads did not stop at its exit (see fpp_stop_job_workers).
bool job_threads_left_running() noexcept;
// "host:port" of a server, as job records name their origin.
std::string job_origin(server_rec* s);

}  // namespace flaskpp::glue
