// The worker pool of one process: threads that claim jobs from a JobQueue, run them through an
// Executor, renew their leases and write the outcome. No httpd: the adapter starts it in
// child_init and stops it from a pool cleanup.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/jobs.hpp"
#include "core/logger.hpp"

namespace flaskpp::core {

// Log tags of the job workers (40..49 are reserved for them).
namespace tag {
constexpr int kJobStoreFailed = 40;     // a store call threw; the job's lease will expire
constexpr int kJobAttemptFailed = 41;   // an attempt failed or threw (retried or failed)
constexpr int kJobLeaseLost = 42;       // another worker owns the job now; result dropped
constexpr int kJobTimedOut = 43;        // ran past its timeout
constexpr int kJobStillRunning = 44;    // stop: still running after grace and cancel
constexpr int kJobPurgeFailed = 45;     // a purged job's spool dir could not be removed
constexpr int kJobWorkersStarted = 46;  // start and stop of the pool
constexpr int kJobFinished = 47;        // debug: one line per finished attempt
constexpr int kJobCancelled = 48;       // a cancel request or a shutdown stopped a job
}  // namespace tag

// What an executor returns. A thrown exception counts as failed(what(), retryable = true).
struct JobOutcome {
  enum class Kind { kDone, kFailed };
  Kind kind = Kind::kDone;
  std::string result_json;  // kDone: the result as JSON text
  std::string error;        // kFailed: why (shown to the client by the status endpoint)
  bool retryable = false;   // kFailed: run again while attempts remain

  static JobOutcome done(std::string result_json) {
    JobOutcome o;
    o.result_json = std::move(result_json);
    return o;
  }
  static JobOutcome failed(std::string error, bool retryable = false) {
    JobOutcome o;
    o.kind = Kind::kFailed;
    o.error = std::move(error);
    o.retryable = retryable;
    return o;
  }
};

// Handed to the executor for the run of one job; used only by the executor's own thread.
class JobControl {
 public:
  enum class StopReason { kNone, kCancelRequested, kTimedOut, kShuttingDown, kLeaseLost };
  virtual ~JobControl() = default;
  // Reports progress (fraction clamped to 0..1) to the status endpoint; reports closer than
  // 200 ms to the previous one are dropped (except 100 %). Never throws.
  virtual void progress(double fraction, const std::string& message) = 0;
  // Why the job should stop now; a job checks it between steps and returns early.
  virtual StopReason stop_reason() const = 0;
  bool cancelled() const { return stop_reason() != StopReason::kNone; }
};

using Executor = std::function<JobOutcome(const JobRecord&, JobControl&)>;

// Thread-safety: start and stop from one thread (child_init, the pool cleanup). The logger is
// called from the worker threads and must be thread-safe. The queue, executor and logger must
// outlive stop(); a job still running after stop() keeps its thread (detached) and the executor,
// but no longer touches the queue or the logger.
class JobWorkers {
 public:
  JobWorkers(JobQueue& queue, Executor executor, std::size_t n_threads, Logger& logger);
  ~JobWorkers();  // stop(0) when still running
  JobWorkers(const JobWorkers&) = delete;
  JobWorkers& operator=(const JobWorkers&) = delete;

  // Starts the worker threads and the heartbeat (lease renewal every lease/3, cancel polling,
  // purge of old finished jobs). Owners are "pid:index" with the pid of the calling process.
  void start();

  struct StopReport {
    std::vector<std::string> still_running;  // ids; their leases expire and others re-run them
  };
  // Stops claiming; lets running jobs finish within `grace`; then makes cancelled() true for
  // them and waits up to `after_cancel` more. Jobs that return because of the stop are released
  // (back to queued, the attempt not counted). Idempotent.
  StopReport stop(std::chrono::milliseconds grace,
                  std::chrono::milliseconds after_cancel = std::chrono::milliseconds(2000));

  struct Shared;  // state shared with the threads (job_workers.cpp)

 private:
  std::shared_ptr<Shared> shared_;
  std::size_t n_threads_;
  std::vector<std::thread> workers_;
  std::vector<std::shared_ptr<std::atomic<bool>>> busy_;  // busy_[i]: workers_[i] runs a job
  std::thread heartbeat_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace flaskpp::core
