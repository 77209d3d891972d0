// Durable background jobs: the job record, the store interface every backend implements
// (job_store_sqlite.hpp now, Redis later) and JobQueue, the policy around a store (ids, limits,
// leases, the in-process wake-up, the status JSON). Owns no threads; job_workers.hpp runs jobs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.hpp"

namespace flaskpp::core {

enum class JobStatus { kQueued, kRunning, kDone, kFailed, kCancelled };

// "queued", "running", "done", "failed", "cancelled" (the status endpoint and the store use them).
const char* job_status_name(JobStatus status);
// The inverse of job_status_name; nullopt for any other text.
std::optional<JobStatus> parse_job_status(const std::string& name);
inline bool is_terminal(JobStatus s) {
  return s == JobStatus::kDone || s == JobStatus::kFailed || s == JobStatus::kCancelled;
}

struct JobRecord {
  std::string id;      // UUID v4, lower-case, 36 chars (new_job_id())
  std::string name;    // the job or handler to run
  std::string origin;  // opaque: which server/route accepted it (the integrator fills it)
  JobStatus status = JobStatus::kQueued;
  int attempts = 0;      // claims so far
  int max_attempts = 0;  // claims before the job fails; 0 = JobQueueOptions::max_attempts

  // Unix time in ms; 0 = not yet. started_ms is the start of the latest attempt.
  std::int64_t created_ms = 0, started_ms = 0, finished_ms = 0, updated_ms = 0;
  double progress = 0;  // 0..1 as reported by the job
  std::string progress_message;
  std::string input_json;   // the job's input as JSON text (opaque to the store)
  std::string result_json;  // done: the result, JSON text
  std::string error;        // failed/cancelled: why
  std::string spool_dir;    // directory holding the job's files; removed when the job is purged
  bool cancel_requested = false;
  // Run time limit per attempt in ms; 0 at submit = JobQueueOptions::default_timeout_ms; 0 = none.
  std::int64_t timeout_ms = 0;
  std::string lease_owner;      // "pid:worker" of the claiming worker
  std::int64_t lease_expires_ms = 0;
};

// A random (version 4) UUID from std::random_device, which reads the kernel's CSPRNG on Linux.
// No seeded generator is kept: its state would be duplicated into every forked child.
std::string new_job_id();
// True for 36 characters in the 8-4-4-4-12 lower-case hex form (checked before a store lookup).
bool is_job_id(const std::string& text);

// The queue is full: 503 with a Retry-After header of retry_after_seconds.
class ServiceUnavailable : public HttpError {
 public:
  ServiceUnavailable(const std::string& message, int retry_after_seconds, bool already_logged = false)
      : HttpError(503, message, already_logged), retry_after_seconds_(retry_after_seconds) {}
  int retry_after_seconds() const noexcept { return retry_after_seconds_; }

 private:
  int retry_after_seconds_;
};

// A store backend failed (cannot open or create the file, corrupt file, lock wait exhausted).
// what() names the path and the backend's own message.
class JobStoreError : public std::runtime_error {
 public:
  JobStoreError(const std::string& path, const std::string& detail)
      : std::runtime_error("job store " + path + ": " + detail), path_(path), detail_(detail) {}
  const std::string& path() const noexcept { return path_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string path_;
  std::string detail_;
};

// One backend per file. Every method is safe to call from many threads and many processes at
// once; each write is committed before the method returns. Times are Unix ms passed in by the
// caller so that tests drive them with a fake clock.
class JobStore {
 public:
  virtual ~JobStore() = default;
  // Stores a queued job; false when queue_max jobs are already queued or running (nothing stored).
  virtual bool enqueue(const JobRecord& job, std::size_t queue_max) = 0;
  // Atomically: running jobs whose lease expired go back to queued (to failed "lease expired
  // after N attempts" when attempts >= max_attempts, to cancelled when a cancel was requested);
  // then the oldest queued job becomes running for `owner`, attempts + 1, lease until
  // now + lease_ms.
  virtual std::optional<JobRecord> claim(const std::string& owner, std::int64_t now_ms,
                                         std::int64_t lease_ms) = 0;
  // Extends the lease; false when `owner` no longer holds it.
  virtual bool renew(const std::string& id, const std::string& owner, std::int64_t now_ms,
                     std::int64_t lease_ms) = 0;
  virtual void progress(const std::string& id, const std::string& owner, double fraction,
                        const std::string& message, std::int64_t now_ms) = 0;
  // The transitions below apply only while `owner` holds the lease (false otherwise: someone
  // else has the job now, or it was finished).
  // status is done (result_or_error is the result JSON), failed or cancelled (it is the error).
  virtual bool finish(const std::string& id, const std::string& owner, JobStatus status,
                      const std::string& result_or_error, std::int64_t now_ms) = 0;
  // Back to queued, or failed when attempts >= max_attempts, or cancelled when requested.
  virtual bool retry(const std::string& id, const std::string& owner, const std::string& error,
                     std::int64_t now_ms) = 0;
  // Back to queued without counting the attempt: the worker stopped, the job did not fail.
  virtual bool release(const std::string& id, const std::string& owner, std::int64_t now_ms) = 0;
  enum class CancelResult { kCancelled, kRequested /*running: flag set*/, kAlreadyFinished, kNotFound };
  virtual CancelResult cancel(const std::string& id, std::int64_t now_ms) = 0;
  virtual std::optional<JobRecord> get(const std::string& id) = 0;
  virtual bool cancel_requested(const std::string& id) = 0;
  // Deletes finished jobs whose finished_ms <= now - retention; returns their non-empty spool
  // dirs (the caller removes them). Each dir is returned to exactly one caller.
  virtual std::vector<std::string> purge_finished(std::int64_t now_ms, std::int64_t retention_ms) = 0;
  virtual std::size_t count_active() = 0;  // queued + running
  // finish(), then claim() for the same worker, in one transaction where the backend can: a busy
  // worker takes the store's write lock once per job instead of twice. `kept` is finish()'s answer.
  struct FinishAndClaim {
    bool kept = false;
    std::optional<JobRecord> next;
  };
  virtual FinishAndClaim finish_and_claim(const std::string& id, const std::string& owner, JobStatus status,
                                          const std::string& result_or_error, std::int64_t now_ms,
                                          std::int64_t lease_ms) {
    FinishAndClaim out;
    out.kept = finish(id, owner, status, result_or_error, now_ms);
    out.next = claim(owner, now_ms, lease_ms);
    return out;
  }
  // Cross-process wake-up, where the backend has one (Redis: a blocking pop on a token list every
  // enqueue feeds). True: the store can block in wait_for_work; false (SQLite): JobQueue polls.
  virtual bool can_wait_for_work() const { return false; }
  // Blocks until a job may be waiting (true) or timeout_ms passes (false); false at once when
  // interrupt_waits() was called since interrupts() answered interrupts_seen. Throws JobStoreError.
  virtual bool wait_for_work(std::int64_t /*timeout_ms*/, std::uint64_t /*interrupts_seen*/) { return false; }
  // Ends every wait_for_work of this process now blocked, and any that starts with an older
  // interrupts() (stopping the workers).
  virtual void interrupt_waits() noexcept {}
  // interrupt_waits() calls so far: read it before the last check that decides to wait.
  virtual std::uint64_t interrupts() noexcept { return 0; }
  // The idle connections a process keeps, set by a child to its threads (request threads and job
  // workers share the store). No-op by default: the SQLite store keeps its own small cap, since
  // each of its connections holds a page cache.
  virtual void set_max_idle_connections(std::size_t /*n*/) noexcept {}
};

struct JobQueueOptions {
  std::size_t queue_max = 1000;             // queued + running jobs; more -> 503
  std::int64_t lease_ms = 30000;            // a claim lasts this long unless renewed (every lease/3)
  int max_attempts = 3;                     // claims per job before it fails
  std::int64_t default_timeout_ms = 0;      // for jobs submitted with timeout_ms 0; 0 = none
  std::int64_t retention_ms = 86400000;     // finished jobs are purged after this long
  std::int64_t purge_interval_ms = 60000;   // how often a worker pool purges
  std::int64_t poll_min_ms = 20;            // idle workers poll the store from this interval ...
  std::int64_t poll_max_ms = 1000;          // ... doubling up to this one (a wake resets it)
  int retry_after_seconds = 5;              // Retry-After sent with the 503 of a full queue
};

// Policy around a store. Thread-safe; one per process (the wake-up reaches this process's
// workers only; other processes find new jobs by polling).
class JobQueue {
 public:
  using Clock = std::function<std::int64_t()>;
  // now_ms defaults to the system clock (Unix ms).
  JobQueue(JobStore& store, JobQueueOptions options, Clock now_ms = {});

  const JobQueueOptions& options() const { return options_; }
  JobStore& store() { return store_; }
  std::int64_t now_ms() const { return clock_(); }

  // Fills id (when empty), status, times, max_attempts and timeout (when not set), stores the job
  // and wakes an idle worker of this process. Throws ServiceUnavailable when the queue is full,
  // JobStoreError when the store fails. Returns the stored record.
  JobRecord submit(JobRecord job);

  std::optional<JobRecord> claim(const std::string& owner);
  bool renew(const std::string& id, const std::string& owner);
  void progress(const std::string& id, const std::string& owner, double fraction, const std::string& message);
  bool finish(const std::string& id, const std::string& owner, JobStatus status, const std::string& result_or_error);
  JobStore::FinishAndClaim finish_and_claim(const std::string& id, const std::string& owner, JobStatus status,
                                            const std::string& result_or_error);
  bool retry(const std::string& id, const std::string& owner, const std::string& error);
  bool release(const std::string& id, const std::string& owner);
  JobStore::CancelResult cancel(const std::string& id);
  std::optional<JobRecord> get(const std::string& id);
  bool cancel_requested(const std::string& id);
  std::vector<std::string> purge_finished();

  // The wake-up. A worker reads work_generation() before it tries to claim, and after an empty
  // claim waits with that value: a submit in between is then not missed.
  std::uint64_t work_generation() const;
  // True when woken (a submit, or wake_all), false when the timeout passed.
  bool wait_for_work(std::uint64_t seen_generation, std::chrono::milliseconds timeout);
  void wake_one();
  void wake_all();
  // A request found the store failing: true for the first call in each kStoreWarnEvery seconds
  // (that one logs a warning, the others at debug), for one line per interval, not per request.
  bool note_store_failure();
  static constexpr std::int64_t kStoreWarnEvery = 60;

 private:
  JobStore& store_;
  JobQueueOptions options_;
  Clock clock_;
  mutable std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  std::uint64_t generation_ = 0;  // guarded by wake_mutex_
  std::atomic<std::int64_t> last_store_warning_ms_{std::numeric_limits<std::int64_t>::min() / 2};
};

// Unix ms as ISO-8601 UTC with milliseconds ("2024-05-01T12:00:00.123Z").
std::string iso8601_utc(std::int64_t unix_ms);

// The status endpoint's view: {"id","name","status","attempts","max_attempts","created",
// "started","finished" (ISO-8601 UTC or null),"progress":{"fraction","message"},
// "result" (parsed JSON, only when done),"error" (only when failed or cancelled)}.
// Input, origin, spool dir and lease are internal and never shown.
std::string job_json(const JobRecord& job);

}  // namespace flaskpp::core
