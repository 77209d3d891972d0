// SqliteJobStore: schema, durability across reopen, typed errors, many threads and two forked
// processes claiming from one file (each job run exactly once).
#include "core/job_store_sqlite.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "job_store_conformance.hpp"
#include "test_support.hpp"

namespace flaskpp::core {
namespace {

using test::TempDir;

JobRecord make_job(const std::string& name, std::int64_t created_ms) {
  JobRecord r;
  r.id = new_job_id();
  r.name = name;
  r.created_ms = r.updated_ms = created_ms;
  r.max_attempts = 3;
  r.input_json = "{\"n\":\"" + name + "\"}";
  return r;
}

// Runs a query on the file with a separate raw connection (what an operator's sqlite3 sees).
std::string query_one(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 0);
    out = t ? reinterpret_cast<const char*>(t) : "";
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

TEST(SqliteJobStoreTest, CreatesVersionedSchemaInWalMode) {
  TempDir dir;
  std::string path = dir.str() + "/jobs.db";
  SqliteJobStore store(path);
  EXPECT_EQ(query_one(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query_one(path, "PRAGMA user_version"), std::to_string(SqliteJobStore::kSchemaVersion));
  EXPECT_EQ(query_one(path, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'jobs_%'"),
            "3");
}

TEST(SqliteJobStoreTest, ClaimAndPurgeUseTheirIndexes) {
  TempDir dir;
  std::string path = dir.str() + "/jobs.db";
  SqliteJobStore store(path);
  auto plan = [&](const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    std::string all;
    if (sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) all += std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 3))) + "|";
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return all;
  };
  EXPECT_NE(plan("SELECT rowid FROM jobs WHERE status = 'queued' ORDER BY created_ms, rowid LIMIT 1")
                .find("jobs_claim_order"),
            std::string::npos);
  EXPECT_NE(plan("SELECT rowid FROM jobs WHERE status = 'running' AND lease_expires_ms <= 5").find("jobs_lease_expiry"),
            std::string::npos);
  std::string count = plan(
      "SELECT (SELECT count(*) FROM jobs WHERE status = 'queued') + "
      "(SELECT count(*) FROM jobs WHERE status = 'running')");
  EXPECT_NE(count.find("jobs_claim_order"), std::string::npos) << count;
  EXPECT_NE(count.find("jobs_lease_expiry"), std::string::npos) << count;
  EXPECT_EQ(count.find("SCAN jobs|"), std::string::npos) << "no full scan: " << count;
  EXPECT_NE(plan("SELECT rowid FROM jobs WHERE status IN ('done', 'failed', 'cancelled') AND finished_ms <= 5")
                .find("jobs_purge"),
            std::string::npos);
}

TEST(SqliteJobStoreTest, EnqueuedJobSurvivesReopenWithAllFields) {
  TempDir dir;
  std::string path = dir.str() + "/jobs.db";
  JobRecord job = make_job("durable", 42);
  job.origin = "vhost:/predict";
  job.spool_dir = dir.str() + "/spool/x";
  job.timeout_ms = 1500;
  job.max_attempts = 4;
  {
    SqliteJobStore store(path);
    ASSERT_TRUE(store.enqueue(job, 10));
  }
  SqliteJobStore reopened(path);
  auto got = reopened.get(job.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->name, "durable");
  EXPECT_EQ(got->origin, "vhost:/predict");
  EXPECT_EQ(got->status, JobStatus::kQueued);
  EXPECT_EQ(got->created_ms, 42);
  EXPECT_EQ(got->input_json, job.input_json);
  EXPECT_EQ(got->spool_dir, job.spool_dir);
  EXPECT_EQ(got->timeout_ms, 1500);
  EXPECT_EQ(got->max_attempts, 4);
  EXPECT_EQ(reopened.count_active(), 1u);
  EXPECT_FALSE(reopened.get(new_job_id()));
}

TEST(SqliteJobStoreTest, DuplicateIdIsAnError) {
  TempDir dir;
  SqliteJobStore store(dir.str() + "/jobs.db");
  JobRecord job = make_job("a", 1);
  ASSERT_TRUE(store.enqueue(job, 10));
  EXPECT_THROW(store.enqueue(job, 10), JobStoreError);
  EXPECT_EQ(store.count_active(), 1u) << "the failed transaction was rolled back";
}

TEST(SqliteJobStoreTest, FinishAndClaimIsOneStepAndRespectsTheLease) {
  TempDir dir;
  SqliteJobStore store(dir.str() + "/jobs.db");
  JobRecord a = make_job("a", 1), b = make_job("b", 2);
  ASSERT_TRUE(store.enqueue(a, 10));
  ASSERT_TRUE(store.enqueue(b, 10));
  auto first = store.claim("w1", 10, 1000);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, a.id);
  auto fc = store.finish_and_claim(a.id, "w1", JobStatus::kDone, "{\"ok\":1}", 20, 1000);
  EXPECT_TRUE(fc.kept);
  ASSERT_TRUE(fc.next);
  EXPECT_EQ(fc.next->id, b.id);
  EXPECT_EQ(fc.next->status, JobStatus::kRunning);
  EXPECT_EQ(fc.next->lease_owner, "w1");
  EXPECT_EQ(store.get(a.id)->status, JobStatus::kDone);
  EXPECT_EQ(store.get(a.id)->result_json, "{\"ok\":1}");
  // Not the owner: nothing finished, and still no job to claim.
  auto other = store.finish_and_claim(b.id, "w2", JobStatus::kDone, "{}", 30, 1000);
  EXPECT_FALSE(other.kept);
  EXPECT_FALSE(other.next);
  EXPECT_EQ(store.get(b.id)->status, JobStatus::kRunning);
  auto last = store.finish_and_claim(b.id, "w1", JobStatus::kDone, "{}", 40, 1000);
  EXPECT_TRUE(last.kept);
  EXPECT_FALSE(last.next);
  EXPECT_EQ(store.count_active(), 0u);
}

TEST(SqliteJobStoreTest, UnwritableDirectoryThrowsTypedErrorWithPath) {
  TempDir dir;
  std::string path = dir.str() + "/missing/dir/jobs.db";
  try {
    SqliteJobStore store(path);
    FAIL() << "expected JobStoreError";
  } catch (const JobStoreError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(e.detail().find("unable to open"), std::string::npos) << e.detail();
  }
}

TEST(SqliteJobStoreTest, CorruptFileThrowsTypedErrorWithPath) {
  TempDir dir;
  std::string path = dir.write("jobs.db", std::string(8192, 'x'));
  try {
    SqliteJobStore store(path);
    FAIL() << "expected JobStoreError";
  } catch (const JobStoreError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(e.detail().find("not a database"), std::string::npos) << e.detail();
  }
}

TEST(SqliteJobStoreTest, NewerSchemaVersionIsRefused) {
  TempDir dir;
  std::string path = dir.str() + "/jobs.db";
  { SqliteJobStore store(path); }
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  try {
    SqliteJobStore store(path);
    FAIL() << "expected JobStoreError";
  } catch (const JobStoreError& e) {
    EXPECT_NE(e.detail().find("schema version 99"), std::string::npos) << e.detail();
  }
}

TEST(SqliteJobStoreTest, FullSynchronousOptionWorks) {
  TempDir dir;
  SqliteJobStoreOptions o;
  o.synchronous_full = true;
  SqliteJobStore store(dir.str() + "/jobs.db", o);
  ASSERT_TRUE(store.enqueue(make_job("a", 1), 10));
  EXPECT_TRUE(store.claim("w", 2, 100));
}

TEST(SqliteJobStoreTest, ManyThreadsClaimEachJobOnce) {
  TempDir dir;
  SqliteJobStore store(dir.str() + "/jobs.db");
  constexpr std::size_t kJobs = 300;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < kJobs; ++i) {
    JobRecord j = make_job("t", static_cast<std::int64_t>(i));
    ids.insert(j.id);
    ASSERT_TRUE(store.enqueue(j, kJobs));
  }
  std::mutex m;
  std::multiset<std::string> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string owner = "1:" + std::to_string(t);
      try {
        while (auto job = store.claim(owner, 1000, 60000)) {
          if (!store.finish(job->id, owner, JobStatus::kDone, "{}", 2000)) ++errors;
          std::lock_guard<std::mutex> lock(m);
          claimed.insert(job->id);
        }
      } catch (...) {
        ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.size(), kJobs);
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()), ids);
  EXPECT_EQ(store.count_active(), 0u);
}

// A burst of threads leaves at most max_idle_connections open afterwards (the soak's finding: the
// pool used to keep one connection per thread that ever posted a job, for the child's life).
TEST(SqliteJobStoreTest, IdleConnectionsAreCappedAfterABurst) {
  TempDir dir;
  SqliteJobStoreOptions options;
  EXPECT_EQ(options.max_idle_connections, 8u);
  options.max_idle_connections = 2;
  SqliteJobStore store(dir.str() + "/jobs.db", options);
  EXPECT_EQ(store.idle_connections(), 0u);  // the constructor's connection is closed
  JobRecord j = make_job("t", 1);
  ASSERT_TRUE(store.enqueue(j, 10));
  EXPECT_EQ(store.idle_connections(), 1u);  // kept for the next call
  std::atomic<int> found{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) found += store.get(j.id).has_value();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(found.load(), 16 * 200);
  EXPECT_GE(store.idle_connections(), 1u);
  EXPECT_LE(store.idle_connections(), 2u);
  store.close_connections();
  EXPECT_EQ(store.idle_connections(), 0u);
}

// Two forked processes with two threads each claim from one file; every job is run exactly once.
TEST(SqliteJobStoreTest, TwoProcessesClaimEachJobExactlyOnce) {
  TempDir dir;
  std::string path = dir.str() + "/jobs.db";
  SqliteJobStore store(path);
  constexpr std::size_t kJobs = 400;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < kJobs; ++i) {
    JobRecord j = make_job("p", static_cast<std::int64_t>(i));
    ids.insert(j.id);
    ASSERT_TRUE(store.enqueue(j, kJobs));
  }
  // The parent used the store: its idle connection is closed by the atfork handler.
  conformance::expect_two_processes_claim_each_job_once(store, dir.str(), ids);
}

}  // namespace
}  // namespace flaskpp::core
