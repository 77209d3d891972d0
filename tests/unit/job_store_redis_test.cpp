// RedisClient and RedisJobStore against a real redis-server started per test (redis_fixture.hpp):
// URL parsing, typed replies, scripts after a flush, the connection pool across threads and fork,
// the JobStore semantics of the SQLite store's tests (through JobQueue with a fake clock), many
// threads and two processes claiming each job once, outage (fail fast, never accept) and recovery,
// and the wake-up.
#include "core/job_store_redis.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "job_store_conformance.hpp"
#include "redis_fixture.hpp"
#include "test_support.hpp"

namespace flaskpp::core {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t).count();
}

// ---- URLs -------------------------------------------------------------------------------------

TEST(RedisUrlTest, ParsesHostPortAndDb) {
  RedisUrl u = parse_redis_url("redis://cache.example:6380/2");
  EXPECT_EQ(u.host, "cache.example");
  EXPECT_EQ(u.port, 6380);
  EXPECT_EQ(u.db, 2);
  EXPECT_EQ(u.str(), "redis://cache.example:6380/2");
}

TEST(RedisUrlTest, DefaultsPortAndDb) {
  for (const char* text : {"redis://localhost", "redis://localhost/", "redis://localhost:6379/0"}) {
    RedisUrl u = parse_redis_url(text);
    EXPECT_EQ(u.host, "localhost") << text;
    EXPECT_EQ(u.port, 6379) << text;
    EXPECT_EQ(u.db, 0) << text;
  }
  RedisUrl v6 = parse_redis_url("redis://[::1]:7000/1");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 7000);
  EXPECT_EQ(v6.str(), "redis://[::1]:7000/1");
}

TEST(RedisUrlTest, RefusesTlsWithTheReason) {
  try {
    parse_redis_url("rediss://cache:6380/0");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("TLS needs hiredis 1.0; Debian 12 has 0.14"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("rediss://cache:6380/0"), std::string::npos) << e.what();
  }
}

TEST(RedisUrlTest, RefusesAnythingElseNamingTheText) {
  for (const char* text : {"", "redis:/x", "http://h:1/0", "sqlite:/tmp/x", "redis://", "redis://:6379/0",
                           "redis://h:0/0", "redis://h:65536/0", "redis://h:x/0", "redis://h:/0", "redis://h/-1",
                           "redis://h/db", "redis://user:pw@h/0", "redis://h/0?timeout=1", "redis://[::1/0",
                           "redis://h:1:2/0"}) {
    try {
      parse_redis_url(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("\"" + std::string(text) + "\""), std::string::npos) << e.what();
    }
  }
}

// ---- the fixture ---------------------------------------------------------------------------------

TEST(RedisFixtureTest, MissingRedisServerIsAClearErrorNotASkip) {
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  setenv("PATH", "/nonexistent", 1);
  try {
    test::RedisServer server;
    ADD_FAILURE() << "started without redis-server on the PATH";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("redis-server not found"), std::string::npos) << e.what();
  }
  setenv("PATH", path.c_str(), 1);
}

// ---- the client -------------------------------------------------------------------------------

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      redis_ = std::make_unique<test::RedisServer>();
    } catch (const std::exception& e) {
      FAIL() << "cannot start the test's redis-server: " << e.what();
    }
  }
  RedisUrl url(int db = 0) const { return parse_redis_url(redis_->url(db)); }
  std::unique_ptr<test::RedisServer> redis_;
};

TEST_F(RedisClientTest, CommandsAreBinarySafeAndRepliesAreTyped) {
  RedisClient c(url());
  std::string binary("a\0b\r\nc", 6);
  RedisValue set = c.command({"SET", "k", binary});
  EXPECT_TRUE(set.is_status());
  EXPECT_EQ(set.str, "OK");
  c.command({"SET", std::string("b\0k", 3), binary});
  RedisValue got = c.command({"GET", std::string("b\0k", 3)});
  ASSERT_TRUE(got.is_string());
  EXPECT_EQ(got.str, binary);
  EXPECT_TRUE(c.command({"GET", "missing"}).is_nil());
  RedisValue n = c.command({"INCRBY", "n", "41"});
  ASSERT_TRUE(n.is_integer());
  EXPECT_EQ(n.integer, 41);
  c.command({"RPUSH", "l", "x", "y"});
  RedisValue list = c.command({"LRANGE", "l", "0", "-1"});
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.elements.size(), 2u);
  EXPECT_EQ(list.elements[1].str, "y");
  // An error reply is a value, and the connection stays usable and pooled.
  RedisValue wrong = c.command({"INCR", "l"});
  EXPECT_TRUE(wrong.is_error());
  EXPECT_NE(wrong.str.find("WRONGTYPE"), std::string::npos) << wrong.str;
  EXPECT_EQ(c.idle_connections(), 1u);
  EXPECT_EQ(c.command({"PING"}).str, "PONG");
}

TEST_F(RedisClientTest, EvalRunsBySha1AndReloadsAfterAFlush) {
  RedisClient c(url());
  RedisScript script("return {KEYS[1], ARGV[1], 7, false}");
  EXPECT_EQ(script.sha1().size(), 40u);
  auto check = [&] {
    RedisValue v = c.eval(script, {"key"}, {std::string("a\0b", 3)});
    ASSERT_TRUE(v.is_array());
    ASSERT_EQ(v.elements.size(), 4u);
    EXPECT_EQ(v.elements[0].str, "key");
    EXPECT_EQ(v.elements[1].str, std::string("a\0b", 3));
    EXPECT_TRUE(v.elements[2].is_integer());
    EXPECT_EQ(v.elements[2].integer, 7);
    EXPECT_TRUE(v.elements[3].is_nil()) << "Lua false is a nil reply";
  };
  check();
  EXPECT_EQ(redis_->command({"SCRIPT", "EXISTS", script.sha1()}), "(array 1)");
  redis_->command({"SCRIPT", "FLUSH"});
  check();  // NOSCRIPT -> EVAL
  RedisValue err = c.eval(RedisScript("return redis.error_reply('nope')"), {}, {});
  EXPECT_TRUE(err.is_error());
  EXPECT_NE(err.str.find("nope"), std::string::npos) << err.str;  // Redis 7 adds "ERR "
}

TEST_F(RedisClientTest, SelectsTheDatabaseOfTheUrl) {
  RedisClient db3(url(3)), db0(url(0));
  db3.command({"SET", "where", "three"});
  EXPECT_TRUE(db0.command({"GET", "where"}).is_nil());
  EXPECT_EQ(db3.command({"GET", "where"}).str, "three");
}

TEST_F(RedisClientTest, IdleConnectionsAreCappedAfterABurst) {
  RedisOptions o;
  EXPECT_EQ(o.max_idle_connections, 8u);
  o.max_idle_connections = 2;
  RedisClient c(url(), o);
  EXPECT_EQ(c.idle_connections(), 0u) << "the constructor does not connect";
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) ok += c.command({"INCR", "n"}).is_integer();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 1200);
  EXPECT_EQ(c.command({"GET", "n"}).str, "1200");
  EXPECT_GE(c.idle_connections(), 1u);
  EXPECT_LE(c.idle_connections(), 2u);
  c.close_connections();
  EXPECT_EQ(c.idle_connections(), 0u);
}

// A child raises the cap to its thread count (glue: redis_pool_size_for_mpm): then as many
// threads as it has in flight at once reuse their connections instead of opening new ones.
TEST_F(RedisClientTest, RaisedIdleCapKeepsEveryConcurrentConnection) {
  RedisOptions o;
  o.max_idle_connections = 2;
  RedisClient c(url(), o);
  auto burst = [&] {  // 6 connections borrowed at once: each thread blocks 200 ms in Redis
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&c, t] { c.blocking_command({"BLPOP", "none-" + std::to_string(t), "0.2"}, 200); });
    }
    for (auto& th : threads) th.join();
  };
  auto connections_received = [&] {
    std::string info = redis_->command({"INFO", "stats"});
    auto at = info.find("total_connections_received:");
    return std::stoll(info.substr(at + std::strlen("total_connections_received:")));
  };
  burst();
  EXPECT_EQ(c.idle_connections(), 2u);
  c.set_max_idle_connections(6);
  burst();
  EXPECT_EQ(c.idle_connections(), 6u);
  long long own = -connections_received();  // what reading the counter itself adds
  own += connections_received();
  long long before = connections_received();
  burst();
  EXPECT_EQ(connections_received() - before, own) << "the third burst reused all six";
  EXPECT_EQ(c.idle_connections(), 6u);
}

// The child must not use (or close) the parent's connection: it opens its own, and the parent's
// stream is intact afterwards.
TEST_F(RedisClientTest, ForkedChildOpensItsOwnConnection) {
  RedisClient c(url());
  c.command({"SET", "k", "parent"});
  ASSERT_EQ(c.idle_connections(), 1u);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int rc = 0;
    try {
      if (c.idle_connections() != 0) rc = 2;  // inherited: not counted, never used
      for (int i = 0; i < 50; ++i) c.command({"INCR", "child"});
      if (c.idle_connections() != 1) rc = 3;
    } catch (...) {
      rc = 4;
    }
    _exit(rc);
  }
  for (int i = 0; i < 50; ++i) EXPECT_EQ(c.command({"GET", "k"}).str, "parent");
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(c.command({"GET", "child"}).str, "50");
  EXPECT_EQ(c.idle_connections(), 1u);
}

TEST_F(RedisClientTest, BlockingCommandOutlastsTheCommandTimeout) {
  RedisOptions o;
  o.command_timeout_ms = 100;
  RedisClient c(url(), o);
  auto t0 = Clock::now();
  RedisValue v = c.blocking_command({"BLPOP", "nothing", "0.4"}, 400);
  EXPECT_TRUE(v.is_nil());
  EXPECT_GE(ms_since(t0), 390);
  // The connection went back with the short timeout again: a plain command still works.
  EXPECT_EQ(c.command({"PING"}).str, "PONG");
  EXPECT_EQ(c.idle_connections(), 1u);
}

TEST_F(RedisClientTest, OutageFailsFastThenRecoversWithoutANewClient) {
  RedisClient c(url());
  EXPECT_EQ(c.command({"PING"}).str, "PONG");
  redis_->stop();
  auto t0 = Clock::now();
  try {
    c.command({"PING"});
    FAIL() << "expected RedisError";
  } catch (const RedisError& e) {
    EXPECT_EQ(e.url(), redis_->url());
    EXPECT_NE(std::string(e.what()).find(redis_->url()), std::string::npos) << e.what();
  }
  for (int i = 0; i < 100; ++i) EXPECT_THROW(c.command({"PING"}), RedisError);
  EXPECT_LT(ms_since(t0), 200) << "the back-off answers without connecting";
  redis_->restart();
  auto t1 = Clock::now();
  bool back = false;
  while (!back && ms_since(t1) < 3000) {
    try {
      back = c.command({"PING"}).str == "PONG";
    } catch (const RedisError&) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  EXPECT_TRUE(back);
  EXPECT_LT(ms_since(t1), 1500) << "at most one back-off";
}

// A hung server costs one command timeout, then the back-off answers at once; it recovers when
// the server answers again.
TEST_F(RedisClientTest, HungServerTimesOutOnceThenFailsFast) {
  RedisClient c(url());
  EXPECT_EQ(c.command({"PING"}).str, "PONG");
  redis_->pause();
  auto t0 = Clock::now();
  try {
    c.command({"PING"});
    ADD_FAILURE() << "expected RedisError";
  } catch (const RedisError& e) {
    EXPECT_NE(e.detail().find("no answer within the timeout"), std::string::npos) << e.what();
  }
  std::int64_t first = ms_since(t0);
  EXPECT_GE(first, 450);
  EXPECT_LT(first, 1200);
  auto t1 = Clock::now();
  EXPECT_THROW(c.command({"PING"}), RedisError);
  EXPECT_LT(ms_since(t1), 50);
  redis_->resume();
  auto t2 = Clock::now();
  bool back = false;
  while (!back && ms_since(t2) < 3000) {
    try {
      back = c.command({"PING"}).str == "PONG";
    } catch (const RedisError&) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  EXPECT_TRUE(back);
  std::cout << "[ hung    ] first call " << first << " ms, recovered " << ms_since(t2) << " ms after SIGCONT\n";
}

// Idle connections to a server that restarted are noticed before use: no call fails.
TEST_F(RedisClientTest, RestartBetweenCallsCostsNoFailure) {
  RedisClient c(url());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { c.command({"PING"}); });
  for (auto& th : threads) th.join();
  EXPECT_GE(c.idle_connections(), 1u);
  redis_->restart();
  std::this_thread::sleep_for(milliseconds(50));  // the FINs arrive
  for (int i = 0; i < 10; ++i) EXPECT_EQ(c.command({"PING"}).str, "PONG");
}

// ---- the job store ------------------------------------------------------------------------------

JobRecord make_job(const std::string& name, std::int64_t created_ms) {
  JobRecord r;
  r.id = new_job_id();
  r.name = name;
  r.created_ms = r.updated_ms = created_ms;
  r.max_attempts = 3;
  r.input_json = "{\"n\":\"" + name + "\"}";
  return r;
}

class RedisJobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      redis_ = std::make_unique<test::RedisServer>();
    } catch (const std::exception& e) {
      FAIL() << "cannot start the test's redis-server: " << e.what();
    }
    store_ = std::make_unique<RedisJobStore>(parse_redis_url(redis_->url()));
    queue_ = std::make_unique<JobQueue>(*store_, options(), [this] { return now_; });
  }
  static JobQueueOptions options() {
    JobQueueOptions o;
    o.queue_max = 5;
    o.lease_ms = 1000;
    o.max_attempts = 2;
    o.retention_ms = 10000;
    o.retry_after_seconds = 7;
    return o;
  }
  // A wait that counts only interrupts from now on.
  bool wait_from_now(std::int64_t timeout_ms) { return store_->wait_for_work(timeout_ms, store_->interrupts()); }
  JobRecord submit(const std::string& name, const std::string& input = "{}") {
    JobRecord r;
    r.name = name;
    r.input_json = input;
    return queue_->submit(r);
  }

  std::unique_ptr<test::RedisServer> redis_;
  std::unique_ptr<RedisJobStore> store_;
  std::int64_t now_ = 1700000000000;
  std::unique_ptr<JobQueue> queue_;
};

// The JobQueue scenarios of jobs_test.cpp, over Redis.

TEST_F(RedisJobStoreTest, SubmitClaimFinishWalksTheStateMachine) {
  JobRecord submitted = submit("predict", R"({"x":1})");
  auto got = queue_->get(submitted.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, JobStatus::kQueued);
  EXPECT_EQ(got->name, "predict");
  EXPECT_EQ(got->input_json, R"({"x":1})");
  EXPECT_EQ(got->created_ms, now_);
  EXPECT_EQ(got->max_attempts, 2);

  now_ += 5;
  auto claimed = queue_->claim("1:0");
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->id, submitted.id);
  EXPECT_EQ(claimed->status, JobStatus::kRunning);
  EXPECT_EQ(claimed->attempts, 1);
  EXPECT_EQ(claimed->lease_owner, "1:0");
  EXPECT_EQ(claimed->lease_expires_ms, now_ + 1000);
  EXPECT_EQ(claimed->started_ms, now_);
  EXPECT_FALSE(queue_->claim("1:1")) << "one job, one claim";

  queue_->progress(submitted.id, "1:0", 0.5, "half way");
  EXPECT_DOUBLE_EQ(queue_->get(submitted.id)->progress, 0.5);
  EXPECT_EQ(queue_->get(submitted.id)->progress_message, "half way");
  queue_->progress(submitted.id, "1:0", 1.0 / 3.0, "a third");
  EXPECT_EQ(queue_->get(submitted.id)->progress, 1.0 / 3.0) << "stored without loss";
  queue_->progress(submitted.id, "9:9", 0.9, "not mine");
  EXPECT_EQ(queue_->get(submitted.id)->progress_message, "a third");

  EXPECT_FALSE(queue_->finish(submitted.id, "9:9", JobStatus::kDone, "{}")) << "not the lease holder";
  now_ += 10;
  EXPECT_TRUE(queue_->finish(submitted.id, "1:0", JobStatus::kDone, R"({"y":2})"));
  got = queue_->get(submitted.id);
  EXPECT_EQ(got->status, JobStatus::kDone);
  EXPECT_EQ(got->result_json, R"({"y":2})");
  EXPECT_EQ(got->finished_ms, now_);
  EXPECT_EQ(got->progress, 1.0);
  EXPECT_FALSE(queue_->finish(submitted.id, "1:0", JobStatus::kFailed, "again")) << "terminal stays terminal";
  EXPECT_EQ(store_->count_active(), 0u);
}

TEST_F(RedisJobStoreTest, ClaimsOldestFirstThenInEnqueueOrder) {
  std::string a = submit("a").id;
  now_ += 1;
  std::string b = submit("b").id;
  now_ -= 1;  // same created_ms as a, enqueued later
  std::string c = submit("c").id;
  std::vector<std::string> same;
  for (int i = 0; i < 20; ++i) {
    JobRecord j = make_job("same", 5);  // ids are random: the order must not come from them
    same.push_back(j.id);
    ASSERT_TRUE(store_->enqueue(j, 100));
  }
  for (const auto& id : same) EXPECT_EQ(store_->claim("w", now_, 1000)->id, id);
  EXPECT_EQ(queue_->claim("w")->id, a);
  EXPECT_EQ(queue_->claim("w")->id, c);
  EXPECT_EQ(queue_->claim("w")->id, b);
}

TEST_F(RedisJobStoreTest, ExpiredLeaseIsRequeuedAndTheOldOwnerLosesIt) {
  std::string id = submit("slow").id;
  ASSERT_TRUE(queue_->claim("1:0"));
  now_ += 999;
  EXPECT_FALSE(queue_->claim("2:0")) << "lease still valid";
  EXPECT_TRUE(queue_->renew(id, "1:0"));
  EXPECT_FALSE(queue_->renew(id, "2:0"));
  now_ += 999;
  EXPECT_FALSE(queue_->claim("2:0")) << "renewed lease still valid";
  now_ += 1;
  auto again = queue_->claim("2:0");
  ASSERT_TRUE(again) << "expired lease goes back to queued and is claimed";
  EXPECT_EQ(again->id, id);
  EXPECT_EQ(again->attempts, 2);
  EXPECT_EQ(again->lease_owner, "2:0");
  EXPECT_FALSE(queue_->renew(id, "1:0"));
  EXPECT_FALSE(queue_->finish(id, "1:0", JobStatus::kDone, "{}")) << "a lost lease drops the result";
  EXPECT_TRUE(queue_->finish(id, "2:0", JobStatus::kDone, "{}"));
}

TEST_F(RedisJobStoreTest, ExpiredLeaseKeepsTheJobsPlaceInTheQueue) {
  std::string old = submit("old").id;
  now_ += 1;
  ASSERT_EQ(queue_->claim("1:0")->id, old);
  std::string young = submit("young").id;
  now_ += 1000;
  EXPECT_EQ(queue_->claim("2:0")->id, old) << "requeued by created_ms, ahead of younger jobs";
  EXPECT_EQ(queue_->claim("2:0")->id, young);
}

TEST_F(RedisJobStoreTest, LeaseExpiryAfterMaxAttemptsFails) {
  std::string id = submit("crashy").id;
  ASSERT_TRUE(queue_->claim("1:0"));
  now_ += 1000;
  ASSERT_TRUE(queue_->claim("2:0"));
  now_ += 1000;
  EXPECT_FALSE(queue_->claim("3:0"));
  auto got = queue_->get(id);
  EXPECT_EQ(got->status, JobStatus::kFailed);
  EXPECT_EQ(got->error, "lease expired after 2 attempts");
  EXPECT_EQ(got->finished_ms, now_);
  EXPECT_EQ(store_->count_active(), 0u);
}

TEST_F(RedisJobStoreTest, RetryRequeuesUntilMaxAttemptsThenFails) {
  std::string id = submit("flaky").id;
  ASSERT_TRUE(queue_->claim("w"));
  EXPECT_FALSE(queue_->retry(id, "v", "not mine"));
  EXPECT_TRUE(queue_->retry(id, "w", "boom 1"));
  auto got = queue_->get(id);
  EXPECT_EQ(got->status, JobStatus::kQueued);
  EXPECT_EQ(got->error, "boom 1");
  EXPECT_EQ(got->lease_owner, "");
  ASSERT_TRUE(queue_->claim("w"));
  EXPECT_TRUE(queue_->retry(id, "w", "boom 2"));
  got = queue_->get(id);
  EXPECT_EQ(got->status, JobStatus::kFailed);
  EXPECT_EQ(got->error, "boom 2");
  EXPECT_EQ(got->attempts, 2);
  EXPECT_EQ(got->finished_ms, now_);
  EXPECT_FALSE(queue_->claim("w"));
  EXPECT_FALSE(queue_->retry(id, "w", "boom 3")) << "finished";
}

TEST_F(RedisJobStoreTest, ReleaseRequeuesWithoutCountingTheAttempt) {
  std::string id = submit("interrupted").id;
  ASSERT_TRUE(queue_->claim("w"));
  EXPECT_FALSE(queue_->release(id, "v"));
  EXPECT_TRUE(queue_->release(id, "w"));
  auto got = queue_->get(id);
  EXPECT_EQ(got->status, JobStatus::kQueued);
  EXPECT_EQ(got->attempts, 0);
  EXPECT_EQ(got->lease_owner, "");
  EXPECT_EQ(queue_->claim("v")->attempts, 1);
}

TEST_F(RedisJobStoreTest, CancelQueuedRunningFinishedAndUnknown) {
  std::string queued = submit("q").id;
  now_ += 1;
  std::string running = submit("r").id;
  ASSERT_EQ(queue_->claim("w")->id, queued);  // oldest first; cancel the other one while queued
  EXPECT_EQ(queue_->cancel(running), JobStore::CancelResult::kCancelled);
  EXPECT_EQ(queue_->get(running)->status, JobStatus::kCancelled);
  EXPECT_EQ(queue_->get(running)->error, "cancelled by request");
  EXPECT_FALSE(queue_->claim("w")) << "a cancelled job is never claimed";

  EXPECT_FALSE(queue_->cancel_requested(queued));
  EXPECT_EQ(queue_->cancel(queued), JobStore::CancelResult::kRequested);
  EXPECT_TRUE(queue_->cancel_requested(queued));
  EXPECT_EQ(queue_->get(queued)->status, JobStatus::kRunning) << "a running job only gets the flag";
  EXPECT_TRUE(queue_->finish(queued, "w", JobStatus::kCancelled, "cancelled by request"));
  EXPECT_EQ(queue_->cancel(queued), JobStore::CancelResult::kAlreadyFinished);
  EXPECT_EQ(queue_->cancel(new_job_id()), JobStore::CancelResult::kNotFound);
  EXPECT_FALSE(queue_->cancel_requested(new_job_id()));
}

TEST_F(RedisJobStoreTest, CancelRequestedWinsOverRetryReleaseAndExpiry) {
  std::string a = submit("a").id;
  ASSERT_TRUE(queue_->claim("w"));
  queue_->cancel(a);
  EXPECT_TRUE(queue_->retry(a, "w", "boom"));
  EXPECT_EQ(queue_->get(a)->status, JobStatus::kCancelled);

  std::string b = submit("b").id;
  ASSERT_TRUE(queue_->claim("w"));
  queue_->cancel(b);
  now_ += 1000;
  EXPECT_FALSE(queue_->claim("v"));
  EXPECT_EQ(queue_->get(b)->status, JobStatus::kCancelled) << "its worker died; no re-run";

  std::string c = submit("c").id;
  ASSERT_TRUE(queue_->claim("w"));
  queue_->cancel(c);
  EXPECT_TRUE(queue_->release(c, "w"));
  EXPECT_EQ(queue_->get(c)->status, JobStatus::kCancelled);
  EXPECT_EQ(queue_->get(c)->error, "cancelled by request");
  EXPECT_EQ(store_->count_active(), 0u);
}

TEST_F(RedisJobStoreTest, FullQueueThrows503WithRetryAfterAndStoresNothing) {
  for (int i = 0; i < 5; ++i) submit("fill");
  ASSERT_TRUE(queue_->claim("w"));  // running jobs count too
  JobRecord extra;
  extra.id = new_job_id();
  extra.name = "extra";
  try {
    queue_->submit(extra);
    FAIL() << "expected ServiceUnavailable";
  } catch (const ServiceUnavailable& e) {
    EXPECT_EQ(e.status(), 503);
    EXPECT_EQ(e.retry_after_seconds(), 7);
  }
  EXPECT_FALSE(queue_->get(extra.id));
  EXPECT_EQ(store_->count_active(), 5u);
}

TEST_F(RedisJobStoreTest, PurgeDeletesOnlyOldFinishedJobsAndReturnsTheirSpoolDirs) {
  JobRecord r;
  r.name = "with-files";
  r.spool_dir = "/spool/a";
  std::string done = queue_->submit(r).id;
  r.spool_dir = "/spool/b";
  std::string queued = queue_->submit(r).id;
  r.spool_dir = "";
  std::string no_dir = queue_->submit(r).id;
  ASSERT_EQ(queue_->claim("w")->id, done);
  queue_->finish(done, "w", JobStatus::kDone, "{}");
  EXPECT_EQ(queue_->cancel(no_dir), JobStore::CancelResult::kCancelled);
  now_ += 9999;
  EXPECT_TRUE(queue_->purge_finished().empty()) << "retention not yet over";
  now_ += 1;
  EXPECT_EQ(queue_->purge_finished(), std::vector<std::string>{"/spool/a"});
  EXPECT_FALSE(queue_->get(done));
  EXPECT_FALSE(queue_->get(no_dir));
  EXPECT_TRUE(queue_->get(queued)) << "active jobs are never purged";
  EXPECT_TRUE(queue_->purge_finished().empty());
}

// More jobs than one script run purges, purged by four threads at once: each dir comes back once.
TEST_F(RedisJobStoreTest, PurgeReturnsEachSpoolDirToExactlyOneCaller) {
  RedisJobStoreOptions o;
  o.purge_batch = 7;
  RedisJobStore store(parse_redis_url(redis_->url()), o);
  std::set<std::string> dirs;
  for (int i = 0; i < 100; ++i) {
    JobRecord j = make_job("p", i);
    j.spool_dir = "/spool/" + std::to_string(i);
    dirs.insert(j.spool_dir);
    ASSERT_TRUE(store.enqueue(j, 1000));
    ASSERT_TRUE(store.claim("w", 10, 1000));
    ASSERT_TRUE(store.finish(j.id, "w", JobStatus::kDone, "{}", 20));
  }
  std::mutex m;
  std::multiset<std::string> got;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto mine = store.purge_finished(100, 50);
      std::lock_guard<std::mutex> lock(m);
      got.insert(mine.begin(), mine.end());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(got.size(), 100u);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), dirs);
  EXPECT_EQ(redis_->command({"ZCARD", store.key_prefix() + "finished"}), "0");
}

TEST_F(RedisJobStoreTest, SubmitFillsDefaults) {
  JobQueueOptions o = options();
  o.default_timeout_ms = 1234;
  JobQueue q(*store_, o, [this] { return now_; });
  JobRecord r;
  r.name = "n";
  r.status = JobStatus::kDone;  // ignored: a submitted job is queued
  r.attempts = 9;
  JobRecord got = q.submit(r);
  EXPECT_EQ(got.status, JobStatus::kQueued);
  EXPECT_EQ(got.max_attempts, 2);
  EXPECT_EQ(store_->get(got.id)->timeout_ms, 1234);
  EXPECT_EQ(store_->get(got.id)->attempts, 0);
}

// The store-level scenarios of job_store_sqlite_test.cpp.

TEST_F(RedisJobStoreTest, EnqueuedJobIsSeenByAnotherStoreWithAllFields) {
  JobRecord job = make_job("durable", 42);
  job.origin = "vhost:/predict";
  job.spool_dir = "/var/spool/flaskpp/x y";
  job.timeout_ms = 1500;
  job.max_attempts = 4;
  job.input_json = std::string("{\"bytes\":\"\xc3\xa9\\u0000\"}\0tail", 24);
  ASSERT_TRUE(store_->enqueue(job, 10));
  RedisJobStore other(parse_redis_url(redis_->url()));  // another host's store
  auto got = other.get(job.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, job.id);
  EXPECT_EQ(got->name, "durable");
  EXPECT_EQ(got->origin, "vhost:/predict");
  EXPECT_EQ(got->status, JobStatus::kQueued);
  EXPECT_EQ(got->created_ms, 42);
  EXPECT_EQ(got->updated_ms, 42);
  EXPECT_EQ(got->input_json, job.input_json);
  EXPECT_EQ(got->spool_dir, job.spool_dir);
  EXPECT_EQ(got->timeout_ms, 1500);
  EXPECT_EQ(got->max_attempts, 4);
  EXPECT_EQ(got->attempts, 0);
  EXPECT_FALSE(got->cancel_requested);
  EXPECT_EQ(other.count_active(), 1u);
  EXPECT_FALSE(other.get(new_job_id()));
}

TEST_F(RedisJobStoreTest, DuplicateIdIsAnError) {
  JobRecord job = make_job("a", 1);
  ASSERT_TRUE(store_->enqueue(job, 10));
  try {
    store_->enqueue(job, 10);
    FAIL() << "expected JobStoreError";
  } catch (const JobStoreError& e) {
    EXPECT_EQ(e.path(), redis_->url());
    EXPECT_NE(e.detail().find("already exists"), std::string::npos) << e.detail();
  }
  EXPECT_EQ(store_->count_active(), 1u) << "nothing changed";
}

TEST_F(RedisJobStoreTest, FinishAndClaimIsOneStepAndRespectsTheLease) {
  JobRecord a = make_job("a", 1), b = make_job("b", 2);
  ASSERT_TRUE(store_->enqueue(a, 10));
  ASSERT_TRUE(store_->enqueue(b, 10));
  auto first = store_->claim("w1", 10, 1000);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, a.id);
  auto fc = store_->finish_and_claim(a.id, "w1", JobStatus::kDone, "{\"ok\":1}", 20, 1000);
  EXPECT_TRUE(fc.kept);
  ASSERT_TRUE(fc.next);
  EXPECT_EQ(fc.next->id, b.id);
  EXPECT_EQ(fc.next->status, JobStatus::kRunning);
  EXPECT_EQ(fc.next->lease_owner, "w1");
  EXPECT_EQ(fc.next->lease_expires_ms, 1020);
  EXPECT_EQ(store_->get(a.id)->status, JobStatus::kDone);
  EXPECT_EQ(store_->get(a.id)->result_json, "{\"ok\":1}");
  auto other = store_->finish_and_claim(b.id, "w2", JobStatus::kDone, "{}", 30, 1000);
  EXPECT_FALSE(other.kept);
  EXPECT_FALSE(other.next);
  EXPECT_EQ(store_->get(b.id)->status, JobStatus::kRunning);
  auto failed = store_->finish_and_claim(b.id, "w1", JobStatus::kFailed, "bad input", 40, 1000);
  EXPECT_TRUE(failed.kept);
  EXPECT_FALSE(failed.next);
  EXPECT_EQ(store_->get(b.id)->error, "bad input");
  EXPECT_EQ(store_->count_active(), 0u);
  EXPECT_FALSE(store_->finish_and_claim(b.id, "w1", JobStatus::kRunning, "", 50, 1000).kept) << "not terminal";
}

TEST_F(RedisJobStoreTest, KeysFollowTheDocumentedLayout) {
  JobRecord a = make_job("a", 1), b = make_job("b", 2);
  ASSERT_TRUE(store_->enqueue(a, 10));
  ASSERT_TRUE(store_->enqueue(b, 10));
  ASSERT_TRUE(store_->claim("w", 5, 1000));
  const std::string p = "flaskpp:jobs:";
  EXPECT_EQ(store_->key_prefix(), p);
  EXPECT_EQ(redis_->command({"HGET", p + "job:" + a.id, "status"}), "running");
  EXPECT_EQ(redis_->command({"ZSCORE", p + "running", a.id}), "1005");
  EXPECT_EQ(redis_->command({"ZCARD", p + "queued"}), "1");
  EXPECT_EQ(redis_->command({"ZSCORE", p + "queued", redis_->command({"HGET", p + "job:" + b.id, "qm"})}), "2");
  ASSERT_TRUE(store_->finish(a.id, "w", JobStatus::kDone, "{}", 7));
  EXPECT_EQ(redis_->command({"ZSCORE", p + "finished", a.id}), "7");
  EXPECT_EQ(redis_->command({"ZCARD", p + "running"}), "0");
}

TEST_F(RedisJobStoreTest, NamespacesDoNotSeeEachOther) {
  RedisJobStoreOptions o;
  o.key_namespace = "app2";
  RedisJobStore app2(parse_redis_url(redis_->url()), o);
  EXPECT_EQ(app2.key_prefix(), "flaskpp:jobs:app2:");
  JobRecord j = make_job("mine", 1);
  ASSERT_TRUE(app2.enqueue(j, 1));
  EXPECT_FALSE(store_->get(j.id));
  EXPECT_FALSE(store_->claim("w", 2, 100));
  EXPECT_EQ(store_->count_active(), 0u);
  EXPECT_TRUE(store_->enqueue(make_job("other", 1), 1)) << "queue_max counts this namespace only";
  EXPECT_EQ(app2.claim("w", 2, 100)->id, j.id);
}

// A flushed script cache (Redis restarted, SCRIPT FLUSH) is invisible to the store.
TEST_F(RedisJobStoreTest, WorksAfterTheScriptCacheIsFlushed) {
  ASSERT_TRUE(store_->enqueue(make_job("a", 1), 10));
  redis_->command({"SCRIPT", "FLUSH"});
  EXPECT_EQ(store_->count_active(), 1u);
  EXPECT_TRUE(store_->claim("w", 2, 100));
}

TEST_F(RedisJobStoreTest, ManyThreadsClaimEachJobOnce) {
  constexpr std::size_t kJobs = 300;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < kJobs; ++i) {
    JobRecord j = make_job("t", static_cast<std::int64_t>(i));
    ids.insert(j.id);
    ASSERT_TRUE(store_->enqueue(j, kJobs));
  }
  EXPECT_FALSE(store_->enqueue(make_job("over", 0), kJobs));
  std::mutex m;
  std::multiset<std::string> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::string owner = "1:" + std::to_string(t);
      try {
        // Half the threads take their next job with finish_and_claim, as busy workers do.
        auto job = store_->claim(owner, 1000, 60000);
        while (job) {
          {
            std::lock_guard<std::mutex> lock(m);
            claimed.insert(job->id);
          }
          if (t % 2 == 0) {
            auto fc = store_->finish_and_claim(job->id, owner, JobStatus::kDone, "{}", 2000, 60000);
            if (!fc.kept) ++errors;
            job = fc.next;
          } else {
            if (!store_->finish(job->id, owner, JobStatus::kDone, "{}", 2000)) ++errors;
            job = store_->claim(owner, 1000, 60000);
          }
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
  EXPECT_EQ(store_->count_active(), 0u);
}

// Two forked processes with two threads each claim from one Redis; every job is run exactly once.
TEST_F(RedisJobStoreTest, TwoProcessesClaimEachJobExactlyOnce) {
  test::TempDir dir;
  constexpr std::size_t kJobs = 400;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < kJobs; ++i) {
    JobRecord j = make_job("p", static_cast<std::int64_t>(i));
    ids.insert(j.id);
    ASSERT_TRUE(store_->enqueue(j, kJobs));
  }
  ASSERT_GE(store_->idle_connections(), 1u) << "the children inherit a connection they must not use";
  conformance::expect_two_processes_claim_each_job_once(*store_, dir.str(), ids);
}

// Redis gone: every call throws JobStoreError naming the URL, quickly, and no job is ever
// reported accepted. Redis back: the same store works again.
TEST_F(RedisJobStoreTest, OutageThrowsQuicklyNeverAcceptsAndRecovers) {
  JobRecord before = make_job("before", 1);
  ASSERT_TRUE(store_->enqueue(before, 10));
  ASSERT_TRUE(store_->claim("w", 2, 100000));
  redis_->stop();

  std::int64_t slowest = 0;
  int calls = 0, accepted = 0;
  auto expect_down = [&](const char* what, auto&& call) {
    auto t0 = Clock::now();
    try {
      call();
      ADD_FAILURE() << what << " did not throw";
    } catch (const JobStoreError& e) {
      EXPECT_EQ(e.path(), redis_->url()) << what;
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << " threw another type: " << e.what();
    }
    slowest = std::max(slowest, ms_since(t0));
    ++calls;
  };
  auto t_all = Clock::now();
  // Over a back-off and a half: the probe after the back-off also fails, as fast.
  while (ms_since(t_all) < 1600) {
    expect_down("enqueue", [&] { accepted += store_->enqueue(make_job("lost?", 3), 10); });
    expect_down("claim", [&] { store_->claim("w", 3, 100); });
    expect_down("finish", [&] { store_->finish(before.id, "w", JobStatus::kDone, "{}", 3); });
    expect_down("get", [&] { store_->get(before.id); });
    expect_down("count_active", [&] { store_->count_active(); });
    expect_down("cancel", [&] { store_->cancel(before.id, 3); });
    expect_down("purge", [&] { store_->purge_finished(3, 0); });
    expect_down("wait_for_work", [&] { wait_from_now(200); });
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(accepted, 0);
  EXPECT_LT(slowest, 1500);
  std::cout << "[ outage  ] " << calls << " calls while Redis was down, slowest " << slowest << " ms\n";

  redis_->restart();  // empty: persistence is off in the test server
  auto t0 = Clock::now();
  bool back = false;
  JobRecord after = make_job("after", 4);
  while (!back && ms_since(t0) < 3000) {
    try {
      back = store_->enqueue(after, 10);
    } catch (const JobStoreError&) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  std::int64_t recovery = ms_since(t0);
  ASSERT_TRUE(back) << "no recovery within 3 s";
  EXPECT_LT(recovery, 1500);
  std::cout << "[ outage  ] recovered " << recovery << " ms after the restart\n";
  auto claimed = store_->claim("w", 5, 100);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->id, after.id);
}

TEST_F(RedisJobStoreTest, WaitForWorkWakesOnAnEnqueueFromAnotherHost) {
  RedisJobStore other_host(parse_redis_url(redis_->url()));
  EXPECT_FALSE(wait_from_now(0));
  std::atomic<std::int64_t> enqueued_at{0};
  auto base = Clock::now();
  std::thread producer([&] {
    std::this_thread::sleep_for(milliseconds(300));
    enqueued_at = ms_since(base);
    other_host.enqueue(make_job("wake", 1), 10);
  });
  bool woken = wait_from_now(5000);
  std::int64_t woke_at = ms_since(base);
  producer.join();
  EXPECT_TRUE(woken);
  EXPECT_GE(woke_at, enqueued_at.load());
  EXPECT_LT(woke_at - enqueued_at.load(), 100) << "woke " << (woke_at - enqueued_at.load()) << " ms after the enqueue";
  std::cout << "[ wake    ] woke " << (woke_at - enqueued_at.load()) << " ms after the enqueue\n";
  EXPECT_TRUE(store_->claim("w", 2, 100));
}

TEST_F(RedisJobStoreTest, WaitForWorkTimesOutWhenNothingComes) {
  auto t0 = Clock::now();
  EXPECT_FALSE(wait_from_now(300));
  std::int64_t took = ms_since(t0);
  EXPECT_GE(took, 290);
  EXPECT_LT(took, 800);
  EXPECT_FALSE(wait_from_now(0));
}

// Stopping workers: a wait blocked in Redis ends at once, and the store is not marked down.
TEST_F(RedisJobStoreTest, InterruptWaitsEndsABlockedWait) {
  std::atomic<bool> returned{false}, result{true};
  std::thread waiter([&] {
    result = wait_from_now(10000);
    returned = true;
  });
  std::this_thread::sleep_for(milliseconds(200));  // the waiter is blocked in BLPOP by now
  EXPECT_FALSE(returned.load());
  auto t0 = Clock::now();
  store_->interrupt_waits();
  waiter.join();
  EXPECT_LT(ms_since(t0), 200);
  EXPECT_FALSE(result.load());
  EXPECT_EQ(store_->count_active(), 0u) << "no back-off: Redis did not fail";
  EXPECT_TRUE(store_->enqueue(make_job("after", 1), 10));
  EXPECT_TRUE(wait_from_now(1000)) << "later waits work as before";
}

// Stopping workers, the other order: the stop comes after a worker's last look at its queue but
// before its wait reaches Redis. A wait that passes the interrupt count read before the stop ends
// at once without sending anything; one with a fresh count blocks as usual.
TEST_F(RedisJobStoreTest, InterruptWaitsAlsoEndsAWaitThatStartsAfterIt) {
  std::uint64_t seen = store_->interrupts();
  store_->interrupt_waits();
  EXPECT_EQ(store_->interrupts(), seen + 1);
  auto t0 = Clock::now();
  EXPECT_FALSE(store_->wait_for_work(5000, seen));
  EXPECT_LT(ms_since(t0), 100) << "the wait must not reach BLPOP";
  EXPECT_EQ(redis_->command({"INFO", "commandstats"}).find("cmdstat_blpop"), std::string::npos)
      << "nothing was sent to Redis";
  t0 = Clock::now();
  EXPECT_FALSE(wait_from_now(300));
  EXPECT_GE(ms_since(t0), 290) << "a fresh count blocks as usual";
  EXPECT_EQ(store_->count_active(), 0u) << "no back-off: Redis did not fail";
}

// The same through JobQueue, as a worker calls it: the stop (wake_all) lands after the queue's
// generation check and before its wait reaches Redis (the store below runs wake_all there). The
// wait must end at once; before JobQueue passed the interrupt count it read with the generation,
// it blocked for its whole timeout.
class StopBeforeTheWait : public RedisJobStore {
 public:
  using RedisJobStore::RedisJobStore;
  std::function<void()> before_wait;
  bool wait_for_work(std::int64_t timeout_ms, std::uint64_t interrupts_seen) override {
    if (before_wait) {
      auto f = std::move(before_wait);
      before_wait = nullptr;
      f();
    }
    return RedisJobStore::wait_for_work(timeout_ms, interrupts_seen);
  }
};

TEST_F(RedisJobStoreTest, QueueWaitEndsWhenTheStopComesJustBeforeIt) {
  StopBeforeTheWait store(parse_redis_url(redis_->url()));
  JobQueue queue(store, options(), [this] { return now_; });
  store.before_wait = [&] { queue.wake_all(); };
  auto t0 = Clock::now();
  EXPECT_FALSE(queue.wait_for_work(queue.work_generation(), milliseconds(5000)));
  EXPECT_LT(ms_since(t0), 100) << "the stop was missed: the wait ran out its timeout";
  t0 = Clock::now();
  EXPECT_FALSE(queue.wait_for_work(queue.work_generation(), milliseconds(300)));
  EXPECT_GE(ms_since(t0), 290) << "after the stop, a wait with the new generation blocks as usual";
}

// One token per queued job, and a claim that empties the queue drops the rest: waiters are not
// woken for work that is gone.
TEST_F(RedisJobStoreTest, WakeTokensFollowTheQueue) {
  ASSERT_TRUE(store_->enqueue(make_job("a", 1), 10));
  ASSERT_TRUE(store_->enqueue(make_job("b", 2), 10));
  EXPECT_EQ(redis_->command({"LLEN", store_->key_prefix() + "wake"}), "2");
  auto a = store_->claim("w", 3, 100);
  ASSERT_TRUE(a);
  EXPECT_TRUE(wait_from_now(100)) << "b is still queued";
  auto b = store_->claim("w", 3, 100);
  ASSERT_TRUE(b);
  EXPECT_EQ(redis_->command({"LLEN", store_->key_prefix() + "wake"}), "0");
  EXPECT_TRUE(store_->release(b->id, "w", 4));
  EXPECT_TRUE(wait_from_now(100)) << "a released job wakes a waiter too";
}

}  // namespace
}  // namespace flaskpp::core
