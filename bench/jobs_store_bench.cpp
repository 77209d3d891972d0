// Throughput of the SQLite job store: P forked processes each loop enqueue -> claim -> finish on
// one file, and the total of jobs per second is printed. Not a test: no thresholds.
//   jobs_store_bench [jobs=4000] [processes=2] [full]   ("full": synchronous=FULL)
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/job_store_sqlite.hpp"

using flaskpp::core::JobRecord;
using flaskpp::core::JobStatus;
using flaskpp::core::SqliteJobStore;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int run_child(SqliteJobStore& store, int jobs, int index, int go_fd) {
  char byte;
  if (read(go_fd, &byte, 1) != 1) return 4;
  std::string owner = std::to_string(getpid()) + ":0";
  for (int i = 0; i < jobs; ++i) {
    JobRecord r;
    r.id = flaskpp::core::new_job_id();
    r.name = "bench";
    r.max_attempts = 3;
    r.created_ms = r.updated_ms = now_ms();
    r.input_json = "{\"i\":" + std::to_string(i) + ",\"p\":" + std::to_string(index) + "}";
    if (!store.enqueue(r, 1000000)) return 2;
    auto job = store.claim(owner, now_ms(), 30000);
    if (!job) return 3;  // another process may have taken ours; then there is one for us
    if (!store.finish(job->id, owner, JobStatus::kDone, "{\"ok\":true}", now_ms())) return 5;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int jobs = argc > 1 ? std::atoi(argv[1]) : 4000;
  int procs = argc > 2 ? std::atoi(argv[2]) : 2;
  flaskpp::core::SqliteJobStoreOptions options;
  options.synchronous_full = argc > 3 && std::string(argv[3]) == "full";
  std::string dir = (std::filesystem::temp_directory_path() / ("jobs_bench_" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(dir);
  int rc = 0;
  {
    SqliteJobStore store(dir + "/jobs.db", options);
    int go[2];
    if (pipe(go) != 0) return 1;
    std::vector<pid_t> children;
    for (int p = 0; p < procs; ++p) {
      pid_t pid = fork();
      if (pid == 0) _exit(run_child(store, jobs / procs, p, go[0]));
      children.push_back(pid);
    }
    auto start = std::chrono::steady_clock::now();
    std::vector<char> bytes(static_cast<std::size_t>(procs), 1);
    if (write(go[1], bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) return 1;
    for (pid_t pid : children) {
      int status = 0;
      waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = 1;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int total = jobs / procs * procs;
    std::printf("%d jobs (enqueue+claim+finish) by %d processes, synchronous=%s: %.2f s, %.0f jobs/s%s\n", total,
                procs, options.synchronous_full ? "FULL" : "NORMAL", secs, total / secs, rc ? " (ERRORS)" : "");
    std::printf("active after run: %zu\n", store.count_active());
  }
  std::filesystem::remove_all(dir);
  return rc;
}
