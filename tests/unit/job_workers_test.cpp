// JobWorkers with real threads over the SQLite store in a temp dir. Waits poll for an outcome
// with a generous deadline (so a broken pool fails instead of hanging); nothing asserts speed.
#include "core/job_workers.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "core/job_store_sqlite.hpp"
#include "test_support.hpp"

namespace flaskpp::core {
namespace {

using namespace std::chrono_literals;
using test::TempDir;

// The worker threads log concurrently.
class ThreadSafeLogger final : public Logger {
 public:
  bool enabled(LogLevel) const override { return true; }
  void log(LogLevel level, int tag, const std::string& message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_back(test::CapturingLogger::Entry{level, tag, message});
  }
  std::vector<test::CapturingLogger::Entry> entries() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_;
  }
  bool has_tag(int tag) const {
    for (const auto& e : entries()) {
      if (e.tag == tag) return true;
    }
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<test::CapturingLogger::Entry> entries_;
};

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 60s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

class JobWorkersTest : public ::testing::Test {
 protected:
  static JobQueueOptions options() {
    JobQueueOptions o;
    o.queue_max = 1000;
    o.lease_ms = 3000;
    o.max_attempts = 3;
    o.poll_min_ms = 2;
    o.poll_max_ms = 20;
    o.purge_interval_ms = 0;  // off unless a test wants it
    return o;
  }
  std::int64_t now() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
               .count() +
           offset_ms_.load();
  }
  void make_queue(JobQueueOptions o) {
    queue_ = std::make_unique<JobQueue>(store_, o, [this] { return now(); });
  }
  std::string submit(const std::string& name, const std::string& input, std::int64_t timeout_ms = 0) {
    JobRecord r;
    r.name = name;
    r.input_json = input;
    r.timeout_ms = timeout_ms;
    return queue_->submit(r).id;
  }
  bool finished(const std::string& id) {
    auto r = queue_->get(id);
    return r && is_terminal(r->status);
  }

  TempDir dir_;
  SqliteJobStore store_{dir_.str() + "/jobs.db"};
  std::atomic<std::int64_t> offset_ms_{0};  // moves the queue's clock forward (lease expiry)
  std::unique_ptr<JobQueue> queue_;
  ThreadSafeLogger logger_;
};

TEST_F(JobWorkersTest, AllJobsDoneWithTheirOwnResults) {
  make_queue(options());
  Executor square = [](const JobRecord& job, JobControl& control) {
    long n = std::stol(job.input_json.substr(job.input_json.find(':') + 1));
    control.progress(0.5, "squaring");
    return JobOutcome::done("{\"n\":" + std::to_string(n) + ",\"square\":" + std::to_string(n * n) +
                            ",\"tag\":\"RESULT-SECRET\"}");
  };
  JobWorkers workers(*queue_, square, 3, logger_);
  workers.start();
  std::map<std::string, long> ids;
  for (long i = 0; i < 60; ++i) ids[submit("square", "{\"INPUT-SECRET\":" + std::to_string(i) + "}")] = i;
  ASSERT_TRUE(eventually([&] {
    for (const auto& [id, n] : ids) {
      if (!finished(id)) return false;
    }
    return true;
  }));
  EXPECT_TRUE(workers.stop(5s).still_running.empty());
  for (const auto& [id, n] : ids) {
    auto r = queue_->get(id);
    ASSERT_EQ(r->status, JobStatus::kDone) << id << " " << r->error;
    EXPECT_EQ(r->attempts, 1);
    EXPECT_EQ(r->result_json,
              "{\"n\":" + std::to_string(n) + ",\"square\":" + std::to_string(n * n) + ",\"tag\":\"RESULT-SECRET\"}");
    EXPECT_DOUBLE_EQ(r->progress, 1.0);
  }
  EXPECT_TRUE(logger_.has_tag(tag::kJobWorkersStarted));
  for (const auto& e : logger_.entries()) {
    EXPECT_GE(e.tag, 40);
    EXPECT_LE(e.tag, 49);
    EXPECT_EQ(e.message.find("SECRET"), std::string::npos) << "logs never carry inputs or results: " << e.message;
  }
}

TEST_F(JobWorkersTest, ThrowingExecutorRetriesThenFails) {
  make_queue(options());
  auto calls = std::make_shared<std::map<std::string, int>>();
  auto calls_mutex = std::make_shared<std::mutex>();
  Executor flaky = [calls, calls_mutex](const JobRecord& job, JobControl&) -> JobOutcome {
    int n;
    {
      std::lock_guard<std::mutex> lock(*calls_mutex);
      n = ++(*calls)[job.id];
    }
    if (job.name == "always") throw std::runtime_error("model exploded");
    if (n == 1) throw std::runtime_error("transient");
    return JobOutcome::done("{\"ok\":true}");
  };
  JobWorkers workers(*queue_, flaky, 2, logger_);
  workers.start();
  std::string always = submit("always", "{}");
  std::string once = submit("once", "{}");
  ASSERT_TRUE(eventually([&] { return finished(always) && finished(once); }));
  workers.stop(5s);

  auto a = queue_->get(always);
  EXPECT_EQ(a->status, JobStatus::kFailed);
  EXPECT_EQ(a->attempts, 3);
  EXPECT_EQ(a->error, "model exploded");
  auto o = queue_->get(once);
  EXPECT_EQ(o->status, JobStatus::kDone);
  EXPECT_EQ(o->attempts, 2);
  std::lock_guard<std::mutex> lock(*calls_mutex);
  EXPECT_EQ((*calls)[always], 3);
  EXPECT_EQ((*calls)[once], 2);
  EXPECT_TRUE(logger_.has_tag(tag::kJobAttemptFailed));
}

TEST_F(JobWorkersTest, NonRetryableFailureFailsAtOnce) {
  make_queue(options());
  JobWorkers workers(*queue_, [](const JobRecord&, JobControl&) { return JobOutcome::failed("bad input", false); },
                     1, logger_);
  workers.start();
  std::string id = submit("x", "{}");
  ASSERT_TRUE(eventually([&] { return finished(id); }));
  workers.stop(5s);
  auto r = queue_->get(id);
  EXPECT_EQ(r->status, JobStatus::kFailed);
  EXPECT_EQ(r->attempts, 1);
  EXPECT_EQ(r->error, "bad input");
}

TEST_F(JobWorkersTest, TimeoutFailsWithoutRetry) {
  make_queue(options());
  auto reason = std::make_shared<std::atomic<int>>(-1);
  Executor slow = [reason](const JobRecord&, JobControl& control) {
    while (!control.cancelled()) std::this_thread::sleep_for(1ms);
    *reason = static_cast<int>(control.stop_reason());
    return JobOutcome::done("{}");
  };
  JobWorkers workers(*queue_, slow, 1, logger_);
  workers.start();
  std::string id = submit("slow", "{}", 50);
  ASSERT_TRUE(eventually([&] { return finished(id); }));
  workers.stop(5s);
  auto r = queue_->get(id);
  EXPECT_EQ(r->status, JobStatus::kFailed);
  EXPECT_EQ(r->error, "timed out after 0.05 s");
  EXPECT_EQ(r->attempts, 1) << "no retry after a timeout";
  EXPECT_EQ(reason->load(), static_cast<int>(JobControl::StopReason::kTimedOut));
  EXPECT_TRUE(logger_.has_tag(tag::kJobTimedOut));
}

TEST_F(JobWorkersTest, CancelOfARunningJobReachesTheExecutor) {
  make_queue(options());
  auto started = std::make_shared<std::atomic<bool>>(false);
  auto reason = std::make_shared<std::atomic<int>>(-1);
  Executor waits = [started, reason](const JobRecord&, JobControl& control) {
    *started = true;
    while (!control.cancelled()) std::this_thread::sleep_for(1ms);
    *reason = static_cast<int>(control.stop_reason());
    return JobOutcome::failed("stopped", true);
  };
  JobWorkers workers(*queue_, waits, 1, logger_);
  workers.start();
  std::string id = submit("long", "{}");
  ASSERT_TRUE(eventually([&] { return started->load(); }));
  EXPECT_EQ(queue_->cancel(id), JobStore::CancelResult::kRequested);
  ASSERT_TRUE(eventually([&] { return finished(id); }));
  workers.stop(5s);
  auto r = queue_->get(id);
  EXPECT_EQ(r->status, JobStatus::kCancelled);
  EXPECT_EQ(r->error, "cancelled by request");
  EXPECT_EQ(reason->load(), static_cast<int>(JobControl::StopReason::kCancelRequested));
}

TEST_F(JobWorkersTest, StopLetsARunningJobFinishWithinGrace) {
  make_queue(options());
  auto started = std::make_shared<std::atomic<bool>>(false);
  auto release = std::make_shared<std::atomic<bool>>(false);
  Executor gated = [started, release](const JobRecord&, JobControl& control) {
    *started = true;
    while (!release->load() && !control.cancelled()) std::this_thread::sleep_for(1ms);
    return control.cancelled() ? JobOutcome::failed("interrupted", true) : JobOutcome::done("{\"finished\":1}");
  };
  JobWorkers workers(*queue_, gated, 2, logger_);
  workers.start();
  std::string id = submit("gated", "{}");
  ASSERT_TRUE(eventually([&] { return started->load(); }));
  std::thread releaser([&] {
    std::this_thread::sleep_for(30ms);  // lets stop() begin first; correctness does not depend on it
    *release = true;
  });
  auto report = workers.stop(60s);
  releaser.join();
  EXPECT_TRUE(report.still_running.empty());
  auto r = queue_->get(id);
  EXPECT_EQ(r->status, JobStatus::kDone);
  EXPECT_EQ(r->result_json, "{\"finished\":1}");
  // Stopped workers claim nothing more.
  std::string later = submit("later", "{}");
  EXPECT_EQ(queue_->get(later)->status, JobStatus::kQueued);
}

TEST_F(JobWorkersTest, StopAfterGraceCancelsAndReleasesTheJob) {
  make_queue(options());
  auto started = std::make_shared<std::atomic<bool>>(false);
  auto reason = std::make_shared<std::atomic<int>>(-1);
  Executor waits = [started, reason](const JobRecord&, JobControl& control) {
    *started = true;
    while (!control.cancelled()) std::this_thread::sleep_for(1ms);
    *reason = static_cast<int>(control.stop_reason());
    return JobOutcome::failed("interrupted", true);
  };
  JobWorkers workers(*queue_, waits, 1, logger_);
  workers.start();
  std::string id = submit("long", "{}");
  ASSERT_TRUE(eventually([&] { return started->load(); }));
  auto report = workers.stop(10ms, 60s);
  EXPECT_TRUE(report.still_running.empty());
  EXPECT_EQ(reason->load(), static_cast<int>(JobControl::StopReason::kShuttingDown));
  auto r = queue_->get(id);
  EXPECT_EQ(r->status, JobStatus::kQueued) << "released for another process";
  EXPECT_EQ(r->attempts, 0) << "the interrupted attempt does not count";
}

TEST_F(JobWorkersTest, AJobThatReturnsDoneWhenToldToStopIsReleasedNotDone) {
  // The SDK says: when cancelled(), return soon; the answer is then discarded. A partial answer
  // after a shutdown must not become the job's result.
  make_queue(options());
  auto started = std::make_shared<std::atomic<bool>>(false);
  Executor partial = [started](const JobRecord&, JobControl& control) {
    *started = true;
    while (!control.cancelled()) std::this_thread::sleep_for(1ms);
    return JobOutcome::done("{\"partial\":true}");
  };
  JobWorkers workers(*queue_, partial, 1, logger_);
  workers.start();
  std::string id = submit("partial", "{}");
  ASSERT_TRUE(eventually([&] { return started->load(); }));
  workers.stop(10ms, 60s);
  auto r = queue_->get(id);
  EXPECT_EQ(r->status, JobStatus::kQueued);
  EXPECT_EQ(r->result_json, "");
  EXPECT_EQ(r->attempts, 0);
}

TEST_F(JobWorkersTest, AJobIgnoringItsTimeoutIsMarkedFailedAndItsLateAnswerDropped) {
  JobQueueOptions o = options();
  make_queue(o);
  struct State {
    std::atomic<bool> started{false}, release{false}, returned{false};
  };
  auto st = std::make_shared<State>();
  Executor stubborn = [st](const JobRecord&, JobControl&) {
    st->started = true;
    while (!st->release) std::this_thread::sleep_for(1ms);
    st->returned = true;
    return JobOutcome::done("{\"late\":true}");
  };
  JobWorkers workers(*queue_, stubborn, 1, logger_);
  workers.start();
  JobRecord job;
  job.name = "stubborn";
  job.input_json = "{}";
  job.timeout_ms = 50;
  std::string id = queue_->submit(job).id;
  ASSERT_TRUE(eventually([&] { return st->started.load(); }));
  // kOverrunMs (5 s) after the deadline the heartbeat records the failure itself.
  ASSERT_TRUE(eventually([&] { return queue_->get(id)->status == JobStatus::kFailed; }, 20s));
  EXPECT_EQ(queue_->get(id)->error, "timed out (did not stop)");
  st->release = true;
  ASSERT_TRUE(eventually([&] { return st->returned.load(); }));
  workers.stop(1s, 1s);
  EXPECT_EQ(queue_->get(id)->status, JobStatus::kFailed) << "the late answer is dropped";
  EXPECT_EQ(queue_->get(id)->result_json, "");
}

TEST_F(JobWorkersTest, StopReportsAJobThatIgnoresCancelAndLeavesItToExpire) {
  make_queue(options());
  struct State {
    std::atomic<bool> started{false}, release{false}, returned{false};
  };
  auto st = std::make_shared<State>();
  Executor stubborn = [st](const JobRecord&, JobControl&) {
    st->started = true;
    while (!st->release) std::this_thread::sleep_for(1ms);
    st->returned = true;
    return JobOutcome::done("{}");
  };
  std::string id;
  {
    JobWorkers workers(*queue_, stubborn, 1, logger_);
    workers.start();
    id = submit("stubborn", "{}");
    ASSERT_TRUE(eventually([&] { return st->started.load(); }));
    auto report = workers.stop(10ms, 10ms);
    ASSERT_EQ(report.still_running, std::vector<std::string>{id});
    EXPECT_TRUE(logger_.has_tag(tag::kJobStillRunning));
  }
  std::size_t logged = logger_.entries().size();
  st->release = true;
  ASSERT_TRUE(eventually([&] { return st->returned.load(); }));
  std::this_thread::sleep_for(20ms);  // the detached thread's remaining work, if it did any
  auto r = queue_->get(id);
  EXPECT_EQ(r->status, JobStatus::kRunning) << "the abandoned worker writes nothing";
  EXPECT_EQ(logger_.entries().size(), logged) << "nor logs";
  // Its lease expires and another process runs it.
  offset_ms_ += 3000;
  auto again = queue_->claim("other:0");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, id);
  EXPECT_EQ(again->attempts, 2);
}

TEST_F(JobWorkersTest, LostLeaseDropsTheResult) {
  make_queue(options());
  struct State {
    std::atomic<bool> started{false};
    std::atomic<int> reason{-1};
  };
  auto st = std::make_shared<State>();
  Executor mine = [st](const JobRecord&, JobControl& control) {
    st->started = true;
    while (!control.cancelled()) std::this_thread::sleep_for(1ms);
    st->reason = static_cast<int>(control.stop_reason());
    return JobOutcome::done("{\"by\":\"first\"}");
  };
  JobWorkers workers(*queue_, mine, 1, logger_);
  workers.start();
  std::string id = submit("contested", "{}");
  ASSERT_TRUE(eventually([&] { return st->started.load(); }));
  // The first worker looks dead to the store (its lease ran out); another takes the job. The
  // clock jumps a lease per try, so a renewal racing with the claim cannot win twice.
  std::optional<JobRecord> other;
  ASSERT_TRUE(eventually([&] {
    offset_ms_ += 3000;
    other = queue_->claim("other:0");
    return other.has_value();
  }));
  ASSERT_EQ(other->id, id);
  ASSERT_TRUE(eventually([&] { return st->reason.load() >= 0; }));
  EXPECT_EQ(st->reason.load(), static_cast<int>(JobControl::StopReason::kLeaseLost));
  ASSERT_TRUE(eventually([&] { return logger_.has_tag(tag::kJobLeaseLost); }));
  EXPECT_EQ(queue_->get(id)->status, JobStatus::kRunning) << "the first result was dropped";
  EXPECT_TRUE(queue_->finish(id, "other:0", JobStatus::kDone, "{\"by\":\"second\"}"));
  workers.stop(5s);
  EXPECT_EQ(queue_->get(id)->result_json, "{\"by\":\"second\"}");
}

TEST_F(JobWorkersTest, PurgeRemovesOldJobsAndTheirSpoolDirs) {
  JobQueueOptions o = options();
  o.retention_ms = 0;
  o.purge_interval_ms = 1;
  make_queue(o);
  JobWorkers workers(*queue_, [](const JobRecord&, JobControl&) { return JobOutcome::done("{}"); }, 1, logger_);
  dir_.write("spool/job1/input.bin", "data");
  JobRecord r;
  r.name = "files";
  r.spool_dir = dir_.str() + "/spool/job1";
  std::string id = queue_->submit(r).id;
  workers.start();
  ASSERT_TRUE(eventually([&] { return !queue_->get(id).has_value(); }));
  EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(dir_.str() + "/spool/job1"); }));
  EXPECT_TRUE(std::filesystem::exists(dir_.str() + "/spool")) << "only the job's own dir goes";
  workers.stop(5s);
}

}  // namespace
}  // namespace flaskpp::core
