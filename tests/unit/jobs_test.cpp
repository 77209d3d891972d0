// JobQueue policy over the SQLite store, driven by a fake clock: the state machine, leases,
// attempts, cancel, the full queue's 503, purge, the wake-up and the status JSON.
#include "core/jobs.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "core/job_store_sqlite.hpp"
#include "core/rapidjson.hpp"
#include "test_support.hpp"

namespace flaskpp::core {
namespace {

using test::TempDir;

class JobsTest : public ::testing::Test {
 protected:
  JobQueueOptions options() {
    JobQueueOptions o;
    o.queue_max = 5;
    o.lease_ms = 1000;
    o.max_attempts = 2;
    o.retention_ms = 10000;
    o.retry_after_seconds = 7;
    return o;
  }
  TempDir dir_;
  SqliteJobStore store_{dir_.str() + "/jobs.db"};
  std::int64_t now_ = 1700000000000;
  JobQueue queue_{store_, options(), [this] { return now_; }};

  JobRecord submit(const std::string& name, const std::string& input = "{}") {
    JobRecord r;
    r.name = name;
    r.input_json = input;
    return queue_.submit(r);
  }
};

TEST(JobIdTest, IsUuidV4LowerCaseAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = new_job_id();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_TRUE(is_job_id(id)) << id;
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_FALSE(is_job_id("not-an-id"));
  EXPECT_FALSE(is_job_id("0123456789AB-4def-8123-0123456789abcdef"));
}

TEST(JobStatusTest, NamesRoundTrip) {
  for (JobStatus s : {JobStatus::kQueued, JobStatus::kRunning, JobStatus::kDone, JobStatus::kFailed,
                      JobStatus::kCancelled}) {
    EXPECT_EQ(parse_job_status(job_status_name(s)), s);
  }
  EXPECT_STREQ(job_status_name(JobStatus::kCancelled), "cancelled");
  EXPECT_FALSE(parse_job_status("paused"));
}

TEST_F(JobsTest, SubmitClaimFinishWalksTheStateMachine) {
  JobRecord submitted = submit("predict", R"({"x":1})");
  EXPECT_TRUE(is_job_id(submitted.id));
  auto got = queue_.get(submitted.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, JobStatus::kQueued);
  EXPECT_EQ(got->name, "predict");
  EXPECT_EQ(got->input_json, R"({"x":1})");
  EXPECT_EQ(got->created_ms, now_);
  EXPECT_EQ(got->max_attempts, 2);

  now_ += 5;
  auto claimed = queue_.claim("1:0");
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->id, submitted.id);
  EXPECT_EQ(claimed->status, JobStatus::kRunning);
  EXPECT_EQ(claimed->attempts, 1);
  EXPECT_EQ(claimed->lease_owner, "1:0");
  EXPECT_EQ(claimed->lease_expires_ms, now_ + 1000);
  EXPECT_EQ(claimed->started_ms, now_);
  EXPECT_FALSE(queue_.claim("1:1")) << "one job, one claim";

  queue_.progress(submitted.id, "1:0", 0.5, "half way");
  EXPECT_DOUBLE_EQ(queue_.get(submitted.id)->progress, 0.5);
  EXPECT_EQ(queue_.get(submitted.id)->progress_message, "half way");
  queue_.progress(submitted.id, "1:0", 7.0, "clamped");
  EXPECT_DOUBLE_EQ(queue_.get(submitted.id)->progress, 1.0);

  EXPECT_FALSE(queue_.finish(submitted.id, "9:9", JobStatus::kDone, "{}")) << "not the lease holder";
  now_ += 10;
  EXPECT_TRUE(queue_.finish(submitted.id, "1:0", JobStatus::kDone, R"({"y":2})"));
  got = queue_.get(submitted.id);
  EXPECT_EQ(got->status, JobStatus::kDone);
  EXPECT_EQ(got->result_json, R"({"y":2})");
  EXPECT_EQ(got->finished_ms, now_);
  EXPECT_FALSE(queue_.finish(submitted.id, "1:0", JobStatus::kFailed, "again")) << "terminal stays terminal";
  EXPECT_EQ(store_.count_active(), 0u);
}

TEST_F(JobsTest, ClaimsOldestFirst) {
  std::string a = submit("a").id;
  now_ += 1;
  std::string b = submit("b").id;
  now_ += 1;
  std::string c = submit("c").id;
  EXPECT_EQ(queue_.claim("w")->id, a);
  EXPECT_EQ(queue_.claim("w")->id, b);
  EXPECT_EQ(queue_.claim("w")->id, c);
}

TEST_F(JobsTest, ExpiredLeaseIsRequeuedAndTheOldOwnerLosesIt) {
  std::string id = submit("slow").id;
  ASSERT_TRUE(queue_.claim("1:0"));
  now_ += 999;
  EXPECT_FALSE(queue_.claim("2:0")) << "lease still valid";
  EXPECT_TRUE(queue_.renew(id, "1:0"));
  now_ += 999;
  EXPECT_FALSE(queue_.claim("2:0")) << "renewed lease still valid";
  now_ += 1;
  auto again = queue_.claim("2:0");
  ASSERT_TRUE(again) << "expired lease goes back to queued and is claimed";
  EXPECT_EQ(again->id, id);
  EXPECT_EQ(again->attempts, 2);
  EXPECT_EQ(again->lease_owner, "2:0");
  EXPECT_FALSE(queue_.renew(id, "1:0"));
  EXPECT_FALSE(queue_.finish(id, "1:0", JobStatus::kDone, "{}")) << "a lost lease drops the result";
  EXPECT_TRUE(queue_.finish(id, "2:0", JobStatus::kDone, "{}"));
}

TEST_F(JobsTest, LeaseExpiryAfterMaxAttemptsFails) {
  std::string id = submit("crashy").id;
  ASSERT_TRUE(queue_.claim("1:0"));
  now_ += 1000;
  ASSERT_TRUE(queue_.claim("2:0"));
  now_ += 1000;
  EXPECT_FALSE(queue_.claim("3:0"));
  auto got = queue_.get(id);
  EXPECT_EQ(got->status, JobStatus::kFailed);
  EXPECT_EQ(got->error, "lease expired after 2 attempts");
  EXPECT_EQ(got->finished_ms, now_);
}

TEST_F(JobsTest, RetryRequeuesUntilMaxAttemptsThenFails) {
  std::string id = submit("flaky").id;
  ASSERT_TRUE(queue_.claim("w"));
  EXPECT_TRUE(queue_.retry(id, "w", "boom 1"));
  auto got = queue_.get(id);
  EXPECT_EQ(got->status, JobStatus::kQueued);
  EXPECT_EQ(got->error, "boom 1");
  EXPECT_EQ(got->lease_owner, "");
  ASSERT_TRUE(queue_.claim("w"));
  EXPECT_TRUE(queue_.retry(id, "w", "boom 2"));
  got = queue_.get(id);
  EXPECT_EQ(got->status, JobStatus::kFailed);
  EXPECT_EQ(got->error, "boom 2");
  EXPECT_EQ(got->attempts, 2);
  EXPECT_FALSE(queue_.claim("w"));
}

TEST_F(JobsTest, ReleaseRequeuesWithoutCountingTheAttempt) {
  std::string id = submit("interrupted").id;
  ASSERT_TRUE(queue_.claim("w"));
  EXPECT_TRUE(queue_.release(id, "w"));
  auto got = queue_.get(id);
  EXPECT_EQ(got->status, JobStatus::kQueued);
  EXPECT_EQ(got->attempts, 0);
  EXPECT_EQ(queue_.claim("v")->attempts, 1);
}

TEST_F(JobsTest, CancelQueuedRunningFinishedAndUnknown) {
  std::string queued = submit("q").id;
  now_ += 1;
  std::string running = submit("r").id;
  ASSERT_EQ(queue_.claim("w")->id, queued);  // oldest first; cancel the other one while queued
  EXPECT_EQ(queue_.cancel(running), JobStore::CancelResult::kCancelled);
  EXPECT_EQ(queue_.get(running)->status, JobStatus::kCancelled);
  EXPECT_FALSE(queue_.claim("w")) << "a cancelled job is never claimed";

  EXPECT_FALSE(queue_.cancel_requested(queued));
  EXPECT_EQ(queue_.cancel(queued), JobStore::CancelResult::kRequested);
  EXPECT_TRUE(queue_.cancel_requested(queued));
  EXPECT_EQ(queue_.get(queued)->status, JobStatus::kRunning) << "a running job only gets the flag";
  EXPECT_TRUE(queue_.finish(queued, "w", JobStatus::kCancelled, "cancelled by request"));
  EXPECT_EQ(queue_.cancel(queued), JobStore::CancelResult::kAlreadyFinished);
  EXPECT_EQ(queue_.cancel(new_job_id()), JobStore::CancelResult::kNotFound);
}

TEST_F(JobsTest, CancelRequestedWinsOverRetryAndExpiry) {
  std::string a = submit("a").id;
  ASSERT_TRUE(queue_.claim("w"));
  queue_.cancel(a);
  EXPECT_TRUE(queue_.retry(a, "w", "boom"));
  EXPECT_EQ(queue_.get(a)->status, JobStatus::kCancelled);

  std::string b = submit("b").id;
  ASSERT_TRUE(queue_.claim("w"));
  queue_.cancel(b);
  now_ += 1000;
  EXPECT_FALSE(queue_.claim("v"));
  EXPECT_EQ(queue_.get(b)->status, JobStatus::kCancelled) << "its worker died; no re-run";
}

TEST_F(JobsTest, FullQueueThrows503WithRetryAfterAndStoresNothing) {
  for (int i = 0; i < 5; ++i) submit("fill");
  ASSERT_TRUE(queue_.claim("w"));  // running jobs count too
  JobRecord extra;
  extra.id = new_job_id();
  extra.name = "extra";
  try {
    queue_.submit(extra);
    FAIL() << "expected ServiceUnavailable";
  } catch (const ServiceUnavailable& e) {
    EXPECT_EQ(e.status(), 503);
    EXPECT_EQ(e.retry_after_seconds(), 7);
    const HttpError& as_http = e;  // the App maps every HttpError by status
    EXPECT_EQ(as_http.status(), 503);
  }
  EXPECT_FALSE(queue_.get(extra.id));
  EXPECT_EQ(store_.count_active(), 5u);
}

TEST_F(JobsTest, PurgeDeletesOnlyOldFinishedJobsAndReturnsTheirSpoolDirs) {
  JobRecord r;
  r.name = "with-files";
  r.spool_dir = "/spool/a";
  std::string done = queue_.submit(r).id;
  r.spool_dir = "/spool/b";
  std::string queued = queue_.submit(r).id;
  ASSERT_EQ(queue_.claim("w")->id, done);
  queue_.finish(done, "w", JobStatus::kDone, "{}");
  now_ += 9999;
  EXPECT_TRUE(queue_.purge_finished().empty()) << "retention not yet over";
  now_ += 1;
  EXPECT_EQ(queue_.purge_finished(), std::vector<std::string>{"/spool/a"});
  EXPECT_FALSE(queue_.get(done));
  EXPECT_TRUE(queue_.get(queued)) << "active jobs are never purged";
  EXPECT_TRUE(queue_.purge_finished().empty());
}

TEST_F(JobsTest, SubmitFillsDefaults) {
  JobQueueOptions o = options();
  o.default_timeout_ms = 1234;
  JobQueue q(store_, o, [this] { return now_; });
  JobRecord r;
  r.name = "n";
  r.status = JobStatus::kDone;  // ignored: a submitted job is queued
  r.attempts = 9;
  r.max_attempts = 0;
  JobRecord got = q.submit(r);
  EXPECT_EQ(got.status, JobStatus::kQueued);
  EXPECT_EQ(got.attempts, 0);
  EXPECT_EQ(got.max_attempts, 2);
  EXPECT_EQ(got.timeout_ms, 1234);
  EXPECT_EQ(store_.get(got.id)->timeout_ms, 1234);
}

TEST_F(JobsTest, SubmitWakesAWaitingWorker) {
  std::uint64_t seen = queue_.work_generation();
  EXPECT_FALSE(queue_.wait_for_work(seen, std::chrono::milliseconds(1)));
  std::atomic<bool> woken{false};
  std::thread waiter([&] { woken = queue_.wait_for_work(seen, std::chrono::hours(1)); });
  submit("wake");
  waiter.join();  // would hang for an hour without the wake
  EXPECT_TRUE(woken);
  // A submit between reading the generation and waiting is not missed.
  seen = queue_.work_generation();
  submit("early");
  EXPECT_TRUE(queue_.wait_for_work(seen, std::chrono::hours(1)));
}

TEST(JobJsonTest, DoneJobShowsParsedResultAndIsoTimes) {
  JobRecord r;
  r.id = "0b7c6b5e-8f2a-4c1d-9e3f-1a2b3c4d5e6f";
  r.name = "predict";
  r.status = JobStatus::kDone;
  r.attempts = 1;
  r.max_attempts = 3;
  r.created_ms = 1700000000123;
  r.started_ms = 1700000001000;
  r.finished_ms = 1700000002005;
  r.progress = 1;
  r.progress_message = "ok";
  r.input_json = R"({"secret":"input"})";
  r.result_json = R"({"label":"cat","p":[0.9,0.1]})";
  r.error = "ignored";
  std::string json = job_json(r);
  rapidjson::Document d;
  d.Parse(json.c_str());
  ASSERT_FALSE(d.HasParseError()) << json;
  EXPECT_STREQ(d["id"].GetString(), r.id.c_str());
  EXPECT_STREQ(d["status"].GetString(), "done");
  EXPECT_EQ(d["attempts"].GetInt(), 1);
  EXPECT_EQ(d["max_attempts"].GetInt(), 3);
  EXPECT_STREQ(d["created"].GetString(), "2023-11-14T22:13:20.123Z");
  EXPECT_STREQ(d["started"].GetString(), "2023-11-14T22:13:21.000Z");
  EXPECT_STREQ(d["finished"].GetString(), "2023-11-14T22:13:22.005Z");
  EXPECT_DOUBLE_EQ(d["progress"]["fraction"].GetDouble(), 1.0);
  EXPECT_STREQ(d["progress"]["message"].GetString(), "ok");
  ASSERT_TRUE(d["result"].IsObject());
  EXPECT_STREQ(d["result"]["label"].GetString(), "cat");
  EXPECT_FALSE(d.HasMember("error"));
  EXPECT_EQ(json.find("secret"), std::string::npos) << "input never shown";
}

TEST(JobJsonTest, QueuedJobHasNullTimesAndFailedJobHasError) {
  JobRecord r;
  r.id = new_job_id();
  r.name = "n";
  r.created_ms = 1;
  std::string json = job_json(r);
  rapidjson::Document d;
  d.Parse(json.c_str());
  ASSERT_FALSE(d.HasParseError()) << json;
  EXPECT_STREQ(d["status"].GetString(), "queued");
  EXPECT_TRUE(d["started"].IsNull());
  EXPECT_TRUE(d["finished"].IsNull());
  EXPECT_FALSE(d.HasMember("result"));
  EXPECT_FALSE(d.HasMember("error"));

  r.status = JobStatus::kFailed;
  r.error = "timed out after 3 s";
  d.Parse(job_json(r).c_str());
  EXPECT_STREQ(d["error"].GetString(), "timed out after 3 s");
  r.status = JobStatus::kCancelled;
  r.error = "bad \xff utf8";
  std::string cancelled = job_json(r);
  EXPECT_TRUE(test::is_valid_utf8(cancelled));
  d.Parse(cancelled.c_str());
  EXPECT_STREQ(d["status"].GetString(), "cancelled");
  EXPECT_TRUE(d.HasMember("error"));
}

TEST(JobJsonTest, ResultThatIsNotJsonIsSentAsAString) {
  JobRecord r;
  r.id = new_job_id();
  r.status = JobStatus::kDone;
  r.result_json = "not json";
  rapidjson::Document d;
  d.Parse(job_json(r).c_str());
  ASSERT_FALSE(d.HasParseError());
  EXPECT_STREQ(d["result"].GetString(), "not json");
}

}  // namespace
}  // namespace flaskpp::core
