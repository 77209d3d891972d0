// Background jobs through the real Apache: 202 + id at once, the work on the children's worker
// threads, the result in the SQLite store, polled by id; retries, failures, timeouts, cancel;
// 200 jobs from 20 parallel clients; a child killed mid-job; a graceful restart during a burst.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "it_http.hpp"
#include "it_support.hpp"

namespace {

using flaskpp::it::allow_log;
using flaskpp::it::get;
using flaskpp::it::http;
using flaskpp::it::instance;
using flaskpp::it::parse;
using flaskpp::it::post_json;
using flaskpp::it::Reply;
using Clock = std::chrono::steady_clock;

class Jobs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GT(instance().port, 0) << "no Apache instance (FLASKPP_IT_STATE)"; }
};

// Submits a job; returns its id (asserting the 202 answer's shape).
std::string submit(const std::string& path, const std::string& body) {
  Reply r = post_json(path, body);
  EXPECT_EQ(r.status, 202) << r.body;
  if (r.status != 202) return {};
  auto d = parse(r.body);
  std::string id = d["id"].GetString();
  EXPECT_EQ(id.size(), 36u);
  EXPECT_STREQ(d["status"].GetString(), "queued");
  EXPECT_EQ(std::string(d["status_url"].GetString()), "/jobs/" + id);
  EXPECT_EQ(r.header("location"), "/jobs/" + id);
  return id;
}

rapidjson::Document status(const std::string& id) {
  Reply r = get("/jobs/" + id);
  EXPECT_EQ(r.status, 200) << r.body;
  return parse(r.body);
}

// Polls until the job is finished (done, failed or cancelled) or `limit` passes.
rapidjson::Document wait_finished(const std::string& id, std::chrono::seconds limit = std::chrono::seconds(30)) {
  auto until = Clock::now() + limit;
  for (;;) {
    rapidjson::Document d = status(id);
    std::string s = d.IsObject() && d.HasMember("status") ? d["status"].GetString() : "";
    if (s == "done" || s == "failed" || s == "cancelled" || Clock::now() > until) return d;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Polls until the job runs; returns the pid its progress message names (0 on timeout).
long wait_running_pid(const std::string& id) {
  auto until = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < until) {
    rapidjson::Document d = status(id);
    std::string msg = d["progress"]["message"].GetString();
    if (std::string(d["status"].GetString()) == "running" && msg.rfind("sleeping in pid ", 0) == 0) {
      return std::atol(msg.c_str() + 16);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

TEST_F(Jobs, AcceptedAtOnceThenDoneWithProgressAndResult) {
  std::string id = submit("/t/jobs/sleep", R"({"ms": 300, "tag": "first"})");
  ASSERT_FALSE(id.empty());
  rapidjson::Document d = wait_finished(id);
  EXPECT_STREQ(d["status"].GetString(), "done");
  EXPECT_STREQ(d["name"].GetString(), "t.sleep");
  EXPECT_EQ(d["attempts"].GetInt(), 1);
  EXPECT_EQ(d["result"]["slept_ms"].GetInt(), 300);
  EXPECT_STREQ(d["result"]["tag"].GetString(), "first");
  EXPECT_TRUE(d["created"].IsString() && d["started"].IsString() && d["finished"].IsString());
  EXPECT_DOUBLE_EQ(d["progress"]["fraction"].GetDouble(), 1.0);
  EXPECT_FALSE(d.HasMember("error"));
}

TEST_F(Jobs, AnyHandlerRunsAsAJobAndItsJsonAnswerIsTheResult) {
  std::string body = "a=1&a=2";
  Reply r = http("POST", "/t/jobs/echo/7?x=y", {"Content-Type: application/x-www-form-urlencoded"}, &body);
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id = parse(r.body)["id"].GetString();
  rapidjson::Document d = wait_finished(id);
  ASSERT_STREQ(d["status"].GetString(), "done") << flaskpp::it::read_file(instance().root + "/logs/error_log");
  EXPECT_EQ(d["result"]["params"]["n"].GetInt(), 7);
  EXPECT_STREQ(d["result"]["args"]["x"][0].GetString(), "y");
  EXPECT_STREQ(d["result"]["form"]["a"][1].GetString(), "2");
  EXPECT_STREQ(d["result"]["path"].GetString(), "/t/jobs/echo/7");
}

TEST_F(Jobs, UploadedFilesOutliveTheRequest) {
  Reply r = flaskpp::it::post_file("/t/jobs/sleep", "image", "scan.bin", std::string(300000, 'q'));
  ASSERT_EQ(r.status, 202) << r.body;
  std::string out = r.body;
  rapidjson::Document d = wait_finished(parse(out)["id"].GetString());
  ASSERT_STREQ(d["status"].GetString(), "done");
  ASSERT_EQ(d["result"]["files"].Size(), 1u);
  EXPECT_STREQ(d["result"]["files"][0]["filename"].GetString(), "scan.bin");
  EXPECT_EQ(d["result"]["files"][0]["bytes"].GetUint64(), 300000u);
}

TEST_F(Jobs, ThrowingJobIsRetriedThenFailsAndRejectedInputFailsAtOnce) {
  allow_log("FPP00041: job [0-9a-f-]+ \\(t\\.fail\\) attempt [12]/2");
  allow_log("FPP00026: job [0-9a-f-]+ \\(t\\.fail\\): job 't\\.fail' of plugin testplug threw: the test job fails on purpose");
  allow_log("FPP00041: job [0-9a-f-]+ \\(t\\.reject\\) attempt 1/3");
  std::string failing = submit("/t/jobs/fail", "{}");
  std::string rejected = submit("/t/jobs/reject", "{}");
  rapidjson::Document f = wait_finished(failing);
  EXPECT_STREQ(f["status"].GetString(), "failed");
  EXPECT_EQ(f["attempts"].GetInt(), 2);
  EXPECT_EQ(f["max_attempts"].GetInt(), 2);
  // Production: no internals in the status; the detail is in the error log.
  EXPECT_STREQ(f["error"].GetString(), "Internal Server Error");
  rapidjson::Document r = wait_finished(rejected);
  EXPECT_STREQ(r["status"].GetString(), "failed");
  EXPECT_EQ(r["attempts"].GetInt(), 1);
  EXPECT_STREQ(r["error"].GetString(), "the input is wrong");
  EXPECT_FALSE(r.HasMember("result"));
}

TEST_F(Jobs, TimeoutFailsTheJob) {
  allow_log("FPP0004[13]: job [0-9a-f-]+ \\(t\\.sleep\\)");
  std::string id = submit("/t/jobs/slow", R"({"ms": 5000})");
  rapidjson::Document d = wait_finished(id);
  EXPECT_STREQ(d["status"].GetString(), "failed");
  EXPECT_NE(std::string(d["error"].GetString()).find("timed out"), std::string::npos) << d["error"].GetString();
}

TEST_F(Jobs, CancelQueuedRunningFinishedAndUnknown) {
  allow_log("FPP00048: job [0-9a-f-]+ \\(t\\.sleep\\)");
  // More sleeping jobs than workers (at most 4 children x 2 threads): the last ones stay queued.
  std::vector<std::string> blockers;
  for (int i = 0; i < 12; ++i) blockers.push_back(submit("/t/jobs/sleep", R"({"ms": 2500})"));
  ASSERT_NE(wait_running_pid(blockers[0]), 0);
  std::string queued = submit("/t/jobs/sleep", R"({"ms": 10})");
  Reply c = http("DELETE", "/jobs/" + queued);
  EXPECT_EQ(c.status, 200) << c.body;
  EXPECT_STREQ(parse(c.body)["status"].GetString(), "cancelled");
  // A running job is told to stop.
  Reply running = http("DELETE", "/jobs/" + blockers[0]);
  EXPECT_EQ(running.status, 202) << running.body;
  rapidjson::Document d = wait_finished(blockers[0]);
  EXPECT_STREQ(d["status"].GetString(), "cancelled");
  for (std::size_t i = 1; i < blockers.size(); ++i) EXPECT_STREQ(wait_finished(blockers[i])["status"].GetString(), "done");
  EXPECT_EQ(http("DELETE", "/jobs/" + blockers[1]).status, 409);
  Reply unknown = get("/jobs/00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(parse(unknown.body)["error"]["code"].GetInt(), 404);
  EXPECT_EQ(http("DELETE", "/jobs/00000000-0000-4000-8000-000000000000").status, 404);
  EXPECT_EQ(get("/jobs/not-a-uuid").status, 404);
}

TEST_F(Jobs, TwoHundredJobsFromTwentyClientsAllDoneWithTheirOwnResults) {
  std::mutex mu;
  std::map<std::string, std::string> ids;  // id -> tag
  std::vector<std::thread> clients;
  std::atomic<int> refused{0};
  for (int c = 0; c < 20; ++c) {
    clients.emplace_back([&, c] {
      for (int j = 0; j < 10; ++j) {
        std::string tag = "c" + std::to_string(c) + "-j" + std::to_string(j);
        Reply r = post_json("/t/jobs/sleep", R"({"ms": 0, "tag": ")" + tag + "\"}");
        if (r.status != 202) {
          ++refused;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        ids[parse(r.body)["id"].GetString()] = tag;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(refused.load(), 0);
  ASSERT_EQ(ids.size(), 200u);
  std::set<long> pids;
  for (const auto& [id, tag] : ids) {
    rapidjson::Document d = wait_finished(id);
    ASSERT_STREQ(d["status"].GetString(), "done") << id;
    EXPECT_EQ(d["result"]["tag"].GetString(), tag);
    EXPECT_EQ(d["attempts"].GetInt(), 1);
    pids.insert(d["result"]["pid"].GetInt64());
  }
  EXPECT_GE(pids.size(), 1u);
}

TEST_F(Jobs, AChildKilledMidJobTheJobCompletesElsewhere) {
  allow_log("AH00[0-9]+: child pid [0-9]+ exit signal Killed");
  std::string id = submit("/t/jobs/sleep", R"({"ms": 1500, "tag": "survivor"})");
  long pid = wait_running_pid(id);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(static_cast<pid_t>(pid), SIGKILL), 0);
  // The lease (FlaskppJobLease 5s in the test instance) expires; another child runs it again.
  rapidjson::Document d = wait_finished(id, std::chrono::seconds(40));
  ASSERT_STREQ(d["status"].GetString(), "done");
  EXPECT_EQ(d["attempts"].GetInt(), 2);
  EXPECT_NE(d["result"]["pid"].GetInt64(), pid);
  EXPECT_STREQ(d["result"]["tag"].GetString(), "survivor");
}

TEST_F(Jobs, GracefulRestartDuringABurstLosesNothing) {
  allow_log("FPP00002: template");  // the test routes' startup warnings, again for the new generation
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> ids;
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!stop) {
        Reply r = post_json("/t/jobs/sleep", R"({"ms": 20})");
        if (r.status != 202) {
          ++failed;
          continue;
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          ids.push_back(parse(r.body)["id"].GetString());
        }
        // About 100 jobs/s in all: a burst the workers keep up with (a full queue would be a 503).
        std::this_thread::sleep_for(std::chrono::milliseconds(40));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const char* httpd = std::getenv("FLASKPP_HTTPD");  // scripts/sanitize.sh: the sanitized wrapper
  std::string cmd = std::string(httpd && *httpd ? httpd : "/usr/sbin/apache2") + " -f " + instance().root +
                    "/httpd.conf -k graceful";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  ASSERT_GT(ids.size(), 20u);
  for (const auto& id : ids) {
    rapidjson::Document d = wait_finished(id, std::chrono::seconds(60));
    EXPECT_STREQ(d["status"].GetString(), "done") << id;
  }
  // The new generation serves (and the plugin was loaded anew).
  EXPECT_EQ(get("/health").status, 200);
  // The old generation's children ran the plugins' on_child_stop on their way out.
  auto until = Clock::now() + std::chrono::seconds(30);
  bool stopped = false;
  while (!stopped && Clock::now() < until) {
    stopped = flaskpp::it::read_file(instance().root + "/logs/error_log")
                  .find("plugin testplug on_child_stop: child ") != std::string::npos;
    if (!stopped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(stopped) << "no on_child_stop line in the error log";
}

}  // namespace
