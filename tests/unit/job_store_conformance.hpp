// Scenarios every JobStore backend must pass, shared by the SQLite and Redis store tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/jobs.hpp"

namespace flaskpp::core::conformance {

// Two forked processes with two threads each claim from STORE, which holds the queued jobs IDS;
// every job is run exactly once, keeps its claimer's result, and both processes take part. The
// children write what they claimed to DIR/claimed.<n>.
inline void expect_two_processes_claim_each_job_once(JobStore& store, const std::string& dir_path,
                                                     const std::set<std::string>& ids) {
  const std::size_t kJobs = ids.size();
  // A barrier makes both processes hold a claimed job before either runs on, so both take part
  // whatever the scheduler does: ready carries one byte per child up, go one byte per child down.
  int ready[2], go[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        std::ofstream log(dir_path + "/claimed." + std::to_string(p));
        std::mutex log_mutex;
        std::atomic<int> bad{0};
        std::string first_owner = std::to_string(getpid()) + ":first";
        auto first = store.claim(first_owner, 1000, 60000);
        char byte = 1;
        if (!first || write(ready[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 1) _exit(4);
        if (!store.finish(first->id, first_owner, JobStatus::kDone, "{\"by\":\"" + first_owner + "\"}", 2000)) ++bad;
        log << first->id << ' ' << first_owner << '\n';
        std::vector<std::thread> threads;
        for (int t = 0; t < 2; ++t) {
          threads.emplace_back([&, t] {
            std::string owner = std::to_string(getpid()) + ":" + std::to_string(t);
            try {
              while (auto job = store.claim(owner, 1000, 60000)) {
                std::string result = "{\"by\":\"" + owner + "\"}";
                if (!store.finish(job->id, owner, JobStatus::kDone, result, 2000)) ++bad;
                std::lock_guard<std::mutex> lock(log_mutex);
                log << job->id << ' ' << owner << '\n';
              }
            } catch (...) {
              ++bad;
            }
          });
        }
        for (auto& th : threads) th.join();
        log.flush();
        rc = bad.load() == 0 && log ? 0 : 3;
      } catch (...) {
        rc = 2;
      }
      _exit(rc);
    }
    children.push_back(pid);
  }
  char byte = 0;
  for (int i = 0; i < 2; ++i) EXPECT_EQ(read(ready[0], &byte, 1), 1);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(write(go[1], &byte, 1), 1);
  for (int fd : {ready[0], ready[1], go[0], go[1]}) close(fd);
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  std::map<std::string, std::string> owner_of;
  std::size_t lines = 0;
  std::set<std::string> processes;
  for (int p = 0; p < 2; ++p) {
    std::ifstream in(dir_path + "/claimed." + std::to_string(p));
    std::string id, owner;
    while (in >> id >> owner) {
      ++lines;
      EXPECT_TRUE(owner_of.emplace(id, owner).second) << id << " was claimed twice";
      processes.insert(owner.substr(0, owner.find(':')));
    }
  }
  EXPECT_EQ(lines, kJobs);
  EXPECT_EQ(owner_of.size(), kJobs);
  for (const auto& id : ids) {
    auto got = store.get(id);
    ASSERT_TRUE(got) << id;
    EXPECT_EQ(got->status, JobStatus::kDone);
    EXPECT_EQ(got->attempts, 1) << id;
    ASSERT_TRUE(owner_of.count(id)) << id << " never claimed";
    EXPECT_EQ(got->result_json, "{\"by\":\"" + owner_of[id] + "\"}") << "the claimer's result was kept";
  }
  EXPECT_EQ(processes.size(), 2u) << "both processes took part";
}

}  // namespace flaskpp::core::conformance
