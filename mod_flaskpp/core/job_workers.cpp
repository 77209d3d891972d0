#include "core/job_workers.hpp"

#include "core/job_store_sqlite.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <system_error>

namespace flaskpp::core {

namespace {

// One job being run by a worker of this process; the heartbeat and stop() set its flags.
struct Running {
  std::string id;
  std::string owner;
  std::int64_t deadline_ms = 0;                // 0: no timeout
  std::atomic<bool> cancel_requested{false};
  std::atomic<std::int64_t> cancel_seen_ms{0};  // when the heartbeat saw the cancel
  std::atomic<bool> lease_lost{false};          // the result must be dropped
  std::atomic<bool> finishing{false};           // the worker is writing the outcome: a failed renew is no loss
};

// A job that ignores its timeout or a cancel keeps its lease no longer than this past the
// moment it should have stopped: then its outcome is written without it (failed or cancelled)
// and its eventual answer is dropped, so it never shows "running" forever.
constexpr std::int64_t kOverrunMs = 5000;

std::string seconds_text(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string job_label(const JobRecord& job) {
  return "job " + job.id + " (" + job.name + ") attempt " + std::to_string(job.attempts) + "/" +
         std::to_string(job.max_attempts);
}

}  // namespace

struct JobWorkers::Shared {
  JobQueue* queue;
  Executor executor;
  Logger* logger;

  // Workers hold it shared while they use queue or logger after a run; stop() takes it exclusive
  // to set `abandoned`, after which a still-running worker touches neither (they may be gone).
  std::shared_mutex gate;
  bool abandoned = false;  // guarded by gate

  std::atomic<bool> stopping{false};    // no more claims
  std::atomic<bool> stop_cancel{false};  // grace over: running jobs see cancelled()

  std::mutex mutex;                // guards running and heartbeat_stop
  std::condition_variable changed;  // a run ended, or the heartbeat must stop
  std::map<std::string, std::shared_ptr<Running>> running;
  bool heartbeat_stop = false;

  void log(LogLevel level, int tag, const std::string& message) {
    if (logger->enabled(level)) logger->log(level, tag, message);
  }
  // A store failure (Redis down, SQLite unwritable): one warning per interval for the process,
  // shared with the requests' 503s (JobQueue::note_store_failure), the rest at debug. The work is
  // not lost: a job whose outcome or lease could not be stored runs again once its lease expires.
  void store_failed(const std::string& message) {
    if (queue->note_store_failure()) {
      log(LogLevel::kWarn, tag::kJobStoreFailed,
          message + "; further job store failures within " + std::to_string(JobQueue::kStoreWarnEvery) +
              "s log at debug");
    } else {
      log(LogLevel::kDebug, tag::kJobStoreFailed, message);
    }
  }
};

namespace {

class Control final : public JobControl {
 public:
  Control(JobWorkers::Shared& s, Running& r, std::int64_t deadline_ms) : s_(s), r_(r), deadline_ms_(deadline_ms) {}

  void progress(double fraction, const std::string& message) override {
    std::shared_lock<std::shared_mutex> gate(s_.gate);
    if (s_.abandoned || r_.lease_lost) return;
    // Each report is a write transaction shared by every process: a job reporting per item of a
    // tight loop is thinned to one write per kProgressEveryMs (the first and 100 % always pass).
    std::int64_t now = s_.queue->now_ms();
    if (last_progress_ms_ != 0 && now - last_progress_ms_ < kProgressEveryMs && fraction < 1.0) return;
    last_progress_ms_ = now;
    try {
      s_.queue->progress(r_.id, r_.owner, fraction, message);
    } catch (const std::exception& e) {
      // Progress is advisory: the job keeps running, the heartbeat keeps its lease.
      s_.store_failed("job " + r_.id + ": progress not stored: " + e.what());
    }
  }

  StopReason stop_reason() const override {
    if (r_.lease_lost) return StopReason::kLeaseLost;
    if (r_.cancel_requested) return StopReason::kCancelRequested;
    if (deadline_ms_ > 0) {
      // The queue's clock may be gone once the pool is abandoned.
      std::shared_lock<std::shared_mutex> gate(s_.gate);
      if (s_.abandoned) return StopReason::kShuttingDown;
      if (s_.queue->now_ms() >= deadline_ms_) return StopReason::kTimedOut;
    }
    if (s_.stop_cancel) return StopReason::kShuttingDown;
    return StopReason::kNone;
  }

 private:
  static constexpr std::int64_t kProgressEveryMs = 200;
  JobWorkers::Shared& s_;
  Running& r_;
  std::int64_t deadline_ms_;
  std::int64_t last_progress_ms_ = 0;
};

// Runs one claimed job and records its outcome. Returns false when the pool was abandoned while
// the job ran: the thread must then end without touching anything but `s`. With `next`, a job
// that is done is finished and the worker's next job claimed in one store transaction (one write
// lock per job instead of two); the next job is registered as running before this one leaves,
// so stop() waits for it too.
bool run_job(const std::shared_ptr<JobWorkers::Shared>& sp, const JobRecord& job, const std::string& owner,
             std::int64_t started_ms, std::optional<JobRecord>* next = nullptr) {
  JobWorkers::Shared& s = *sp;
  std::int64_t deadline = job.timeout_ms > 0 ? started_ms + job.timeout_ms : 0;
  auto run = std::make_shared<Running>();
  run->id = job.id;
  run->owner = owner;
  run->deadline_ms = deadline;  // set before the heartbeat can see it
  run->cancel_requested = job.cancel_requested;
  if (job.cancel_requested) run->cancel_seen_ms = started_ms;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.running[job.id] = run;
  }
  Control control(s, *run, deadline);

  JobOutcome outcome;
  try {
    outcome = s.executor(job, control);
  } catch (const std::exception& e) {
    outcome = JobOutcome::failed(e.what(), true);
  } catch (...) {
    outcome = JobOutcome::failed("unknown exception", true);
  }

  std::shared_lock<std::shared_mutex> gate(s.gate);
  if (s.abandoned) return false;
  JobQueue& q = *s.queue;
  std::int64_t now = q.now_ms();
  std::string label = job_label(job);
  run->finishing = true;  // from here the job leaves "running" in the store by this worker's hand
  try {
    bool kept = true;
    if (run->lease_lost) {
      kept = false;
    } else if (deadline > 0 && now >= deadline) {
      kept = q.finish(job.id, owner, JobStatus::kFailed, "timed out after " + seconds_text(job.timeout_ms) + " s");
      if (kept) s.log(LogLevel::kWarn, tag::kJobTimedOut, label + " timed out after " + seconds_text(job.timeout_ms) + " s");
    } else if (run->cancel_requested || q.cancel_requested(job.id)) {
      kept = q.finish(job.id, owner, JobStatus::kCancelled, "cancelled by request");
      if (kept) s.log(LogLevel::kInfo, tag::kJobCancelled, label + " cancelled by request");
    } else if (s.stop_cancel) {
      // Told to stop by the shutdown (its answer may be partial, done or failed): another worker
      // runs it again without losing an attempt.
      kept = q.release(job.id, owner);
      if (kept) s.log(LogLevel::kInfo, tag::kJobCancelled, label + " interrupted by shutdown; released");
    } else if (outcome.kind == JobOutcome::Kind::kDone) {
      if (next && !s.stopping) {
        JobStore::FinishAndClaim fc = q.finish_and_claim(job.id, owner, JobStatus::kDone, outcome.result_json);
        kept = fc.kept;
        if (fc.next && s.stopping) {
          // Claimed while stop() began: hand it straight back rather than start it now.
          q.release(fc.next->id, owner);
        } else if (fc.next) {
          auto placeholder = std::make_shared<Running>();
          placeholder->id = fc.next->id;
          placeholder->owner = owner;
          std::lock_guard<std::mutex> lock(s.mutex);
          s.running[fc.next->id] = placeholder;
          *next = std::move(fc.next);
        }
      } else {
        kept = q.finish(job.id, owner, JobStatus::kDone, outcome.result_json);
      }
      if (kept) s.log(LogLevel::kDebug, tag::kJobFinished, label + " done");
    } else if (outcome.retryable) {
      kept = q.retry(job.id, owner, outcome.error);
      if (kept) {
        bool last = job.attempts >= job.max_attempts;
        s.log(LogLevel::kWarn, tag::kJobAttemptFailed, label + (last ? " failed; no attempts left" : " failed; will retry"));
      }
    } else {
      kept = q.finish(job.id, owner, JobStatus::kFailed, outcome.error);
      if (kept) s.log(LogLevel::kWarn, tag::kJobAttemptFailed, label + " failed (not retryable)");
    }
    if (!kept) s.log(LogLevel::kWarn, tag::kJobLeaseLost, label + ": lease lost; result dropped");
  } catch (const std::exception& e) {
    s.store_failed(label + ": outcome not stored (it runs again when its lease expires): " + e.what());
  }
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.running.erase(job.id);
  }
  s.changed.notify_all();
  return true;
}

void worker_loop(std::shared_ptr<JobWorkers::Shared> sp, std::string owner, std::shared_ptr<std::atomic<bool>> busy) {
  set_job_store_priority(true);
  JobWorkers::Shared& s = *sp;
  JobQueue& q = *s.queue;
  const auto min_wait = std::chrono::milliseconds(q.options().poll_min_ms);
  const auto max_wait = std::chrono::milliseconds(q.options().poll_max_ms);
  auto wait = min_wait;
  while (!s.stopping) {
    std::uint64_t seen = q.work_generation();
    std::optional<JobRecord> job;
    bool store_failed = false;
    std::int64_t started_ms = 0;
    {
      std::shared_lock<std::shared_mutex> gate(s.gate);
      if (s.abandoned || s.stopping) break;
      try {
        job = q.claim(owner);
        started_ms = q.now_ms();
      } catch (const std::exception& e) {
        // Retried at the longest interval (below) while the store is down.
        s.store_failed("claim failed: " + std::string(e.what()) + " (workers retry every " +
                       std::to_string(q.options().poll_max_ms) + " ms)");
        store_failed = true;
      }
      if (job && s.stopping) {
        // Claimed while stop() began: hand it straight back rather than start it now.
        try {
          q.release(job->id, owner);
        } catch (const std::exception& e) {
          s.store_failed("release failed: " + std::string(e.what()));
        }
        break;
      }
      // Set under the gate so that stop() sees a consistent picture: busy threads are detached,
      // the others joined; and the job is running (stop() waits for it) before the gate opens.
      if (job) {
        *busy = true;
        auto placeholder = std::make_shared<Running>();
        placeholder->id = job->id;
        placeholder->owner = owner;
        std::lock_guard<std::mutex> lock(s.mutex);
        s.running[job->id] = placeholder;
      }
    }
    if (job) {
      std::optional<JobRecord> next;
      if (!run_job(sp, *job, owner, started_ms, &next)) return;  // abandoned: stay detached, touch nothing
      while (next) {  // claimed together with the previous job's finish
        JobRecord current = std::move(*next);
        next.reset();
        if (!run_job(sp, current, owner, q.now_ms(), &next)) return;
      }
      *busy = false;
      wait = min_wait;
      continue;
    }
    if (store_failed) wait = max_wait;
    bool woken = q.wait_for_work(seen, wait);
    wait = woken && !store_failed ? min_wait : std::min(wait * 2, max_wait);
  }
}

void remove_spool_dirs(JobWorkers::Shared& s, const std::vector<std::string>& dirs) {
  for (const auto& dir : dirs) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) s.log(LogLevel::kWarn, tag::kJobPurgeFailed, "cannot remove job spool dir " + dir + ": " + ec.message());
  }
}

// Renews the leases of this process's running jobs, picks up cancel requests made through other
// processes, and purges old finished jobs now and then.
void heartbeat_loop(std::shared_ptr<JobWorkers::Shared> sp) {
  set_job_store_priority(true);  // a late renewal loses the lease: it must not queue behind submissions
  JobWorkers::Shared& s = *sp;
  JobQueue& q = *s.queue;
  const JobQueueOptions& o = q.options();
  const std::int64_t renew_every = std::max<std::int64_t>(1, o.lease_ms / 3);
  const auto tick = std::chrono::milliseconds(std::min<std::int64_t>(renew_every, std::max<std::int64_t>(o.poll_max_ms, 1)));
  std::int64_t last_renew = q.now_ms();
  std::int64_t last_purge = 0;
  std::unique_lock<std::mutex> lock(s.mutex);
  while (!s.changed.wait_for(lock, tick, [&] { return s.heartbeat_stop; })) {
    std::vector<std::shared_ptr<Running>> jobs;
    for (const auto& [id, run] : s.running) jobs.push_back(run);
    lock.unlock();
    std::int64_t now = q.now_ms();
    bool renew = now - last_renew >= renew_every - tick.count() / 2;
    if (renew) last_renew = now;
    for (const auto& run : jobs) {
      if (run->lease_lost) continue;
      try {
        bool timed_out = run->deadline_ms > 0 && now > run->deadline_ms + kOverrunMs;
        bool ignored_cancel = run->cancel_seen_ms > 0 && now > run->cancel_seen_ms + kOverrunMs;
        if (timed_out || ignored_cancel) {
          // The job's code does not look at cancelled(): record the outcome without it.
          run->lease_lost = true;
          bool written = timed_out ? q.finish(run->id, run->owner, JobStatus::kFailed, "timed out (did not stop)")
                                   : q.finish(run->id, run->owner, JobStatus::kCancelled, "cancelled by request");
          s.log(LogLevel::kWarn, timed_out ? tag::kJobTimedOut : tag::kJobCancelled,
                "job " + run->id + (timed_out ? ": ran past its timeout" : ": ignored its cancel") +
                    (written ? "; marked finished, its answer will be dropped" : "; lease already lost"));
          continue;
        }
        if (renew && !q.renew(run->id, run->owner)) {
          // A renew that lost the race with the worker writing the outcome finds the job finished
          // by its own owner: not a lost lease (that was a false FPP00042 warning under load).
          if (run->finishing) continue;
          run->lease_lost = true;
          s.log(LogLevel::kWarn, tag::kJobLeaseLost, "job " + run->id + ": lease lost while running");
          continue;
        }
        if (!run->cancel_requested && q.cancel_requested(run->id)) {
          run->cancel_requested = true;
          run->cancel_seen_ms = now;
          s.log(LogLevel::kInfo, tag::kJobCancelled, "job " + run->id + ": cancel requested");
        }
      } catch (const std::exception& e) {
        s.store_failed("job " + run->id + ": heartbeat failed: " + e.what());
      }
    }
    if (o.purge_interval_ms > 0 && now - last_purge >= o.purge_interval_ms) {
      last_purge = now;
      try {
        remove_spool_dirs(s, q.purge_finished());
      } catch (const std::exception& e) {
        s.store_failed("purge failed: " + std::string(e.what()));
      }
    }
    lock.lock();
  }
}

}  // namespace

JobWorkers::JobWorkers(JobQueue& queue, Executor executor, std::size_t n_threads, Logger& logger)
    : shared_(std::make_shared<Shared>()), n_threads_(std::max<std::size_t>(1, n_threads)) {
  shared_->queue = &queue;
  shared_->executor = std::move(executor);
  shared_->logger = &logger;
}

// Thread entry points: nothing may escape a thread (std::terminate would take Apache's child
// down). A thread that fails this way ends; its jobs' leases expire and other workers run them.
void worker_main(std::shared_ptr<JobWorkers::Shared> sp, std::string owner, std::shared_ptr<std::atomic<bool>> busy) noexcept {
  try {
    worker_loop(sp, std::move(owner), busy);
  } catch (...) {
    try {
      sp->log(LogLevel::kError, tag::kJobStoreFailed, "a job worker thread ended on an unexpected error");
    } catch (...) {
    }
  }
}

void heartbeat_main(std::shared_ptr<JobWorkers::Shared> sp) noexcept {
  try {
    heartbeat_loop(sp);
  } catch (...) {
    try {
      sp->log(LogLevel::kError, tag::kJobStoreFailed, "the job heartbeat thread ended on an unexpected error");
    } catch (...) {
    }
  }
}

JobWorkers::~JobWorkers() {
  if (started_ && !stopped_) stop(std::chrono::milliseconds(0), std::chrono::milliseconds(0));
}

void JobWorkers::start() {
  if (started_) return;
  started_ = true;
  std::string pid = std::to_string(::getpid());
  for (std::size_t i = 0; i < n_threads_; ++i) {
    busy_.push_back(std::make_shared<std::atomic<bool>>(false));
    workers_.emplace_back(worker_main, shared_, pid + ":" + std::to_string(i), busy_.back());
  }
  heartbeat_ = std::thread(heartbeat_main, shared_);
  shared_->log(LogLevel::kInfo, tag::kJobWorkersStarted,
               "job workers started: " + std::to_string(n_threads_) + " threads in pid " + pid);
}

JobWorkers::StopReport JobWorkers::stop(std::chrono::milliseconds grace, std::chrono::milliseconds after_cancel) {
  StopReport report;
  if (!started_ || stopped_) return report;
  stopped_ = true;
  Shared& s = *shared_;
  s.stopping = true;
  s.queue->wake_all();
  auto drained = [&] { return s.running.empty(); };
  {
    std::unique_lock<std::mutex> lock(s.mutex);
    if (!s.changed.wait_for(lock, grace, drained)) {
      s.stop_cancel = true;
      s.changed.wait_for(lock, after_cancel, drained);
    }
  }
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.heartbeat_stop = true;
  }
  s.changed.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();

  std::vector<bool> detach(workers_.size(), false);
  {
    std::unique_lock<std::shared_mutex> gate(s.gate);
    s.stop_cancel = true;
    s.abandoned = true;
    for (std::size_t i = 0; i < workers_.size(); ++i) detach[i] = busy_[i]->load();
    std::lock_guard<std::mutex> lock(s.mutex);
    for (const auto& [id, run] : s.running) report.still_running.push_back(id);
  }
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (detach[i]) {
      workers_[i].detach();
    } else {
      workers_[i].join();
    }
  }
  workers_.clear();
  for (const auto& id : report.still_running) {
    s.log(LogLevel::kWarn, tag::kJobStillRunning,
          "job " + id + " still running at stop; its lease will expire and another worker re-runs it");
  }
  s.log(LogLevel::kInfo, tag::kJobWorkersStarted,
        "job workers stopped; " + std::to_string(report.still_running.size()) + " job(s) left running");
  return report;
}

}  // namespace flaskpp::core
