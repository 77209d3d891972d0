// JobStore over one SQLite file in WAL mode, shared by every Apache child (and every thread of
// each). Uses Debian's libsqlite3.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/jobs.hpp"

struct sqlite3;

namespace flaskpp::core {

// Marks the calling thread as one that completes jobs (the worker pool's threads): when the
// store's write lock is busy it retries sooner than threads that submit jobs.
void set_job_store_priority(bool finishing_work) noexcept;
bool job_store_priority() noexcept;

struct SqliteJobStoreOptions {
  // FULL makes a committed job survive power loss too; NORMAL (WAL default) survives a crashed
  // process or child, which is what Apache needs, at a fraction of the fsyncs.
  bool synchronous_full = false;
  std::int64_t busy_timeout_ms = 5000;  // how long a writer waits for another's lock
  // Idle connections kept per process; one given back beyond this is closed. A burst of request
  // threads posting jobs (up to ThreadsPerChild at once) would otherwise leave that many open
  // connections, each with its page cache, for the life of the child.
  std::size_t max_idle_connections = 8;
};

// Thread-safe, and safe across fork(): SQLite forbids carrying an open connection into a child.
// Connections live in a mutex-guarded pool stamped with the pid that opened them; a pthread_atfork
// handler closes the idle ones of every live store before each fork(), and a connection still
// seen from another pid is abandoned, never closed nor reused. The constructor opens the file,
// creates or checks the schema and closes its connection again, so an object built in Apache's
// parent holds no connection when the children are forked. The file and its -wal/-shm files must
// be writable by every process that uses them (Apache's User, not only root). Every error throws
// JobStoreError naming the path and SQLite's message.
class SqliteJobStore final : public JobStore {
 public:
  explicit SqliteJobStore(std::string path, SqliteJobStoreOptions options = {});
  ~SqliteJobStore() override;
  SqliteJobStore(const SqliteJobStore&) = delete;
  SqliteJobStore& operator=(const SqliteJobStore&) = delete;

  static constexpr std::int64_t kSchemaVersion = 1;  // PRAGMA user_version

  const std::string& path() const { return path_; }
  // Closes the idle connections of this process (runs automatically before every fork()).
  void close_connections() noexcept;
  // Idle connections of this process now (at most options.max_idle_connections), for tests.
  std::size_t idle_connections();

  bool enqueue(const JobRecord& job, std::size_t queue_max) override;
  std::optional<JobRecord> claim(const std::string& owner, std::int64_t now_ms, std::int64_t lease_ms) override;
  bool renew(const std::string& id, const std::string& owner, std::int64_t now_ms, std::int64_t lease_ms) override;
  void progress(const std::string& id, const std::string& owner, double fraction, const std::string& message,
                std::int64_t now_ms) override;
  bool finish(const std::string& id, const std::string& owner, JobStatus status,
              const std::string& result_or_error, std::int64_t now_ms) override;
  bool retry(const std::string& id, const std::string& owner, const std::string& error, std::int64_t now_ms) override;
  bool release(const std::string& id, const std::string& owner, std::int64_t now_ms) override;
  CancelResult cancel(const std::string& id, std::int64_t now_ms) override;
  std::optional<JobRecord> get(const std::string& id) override;
  bool cancel_requested(const std::string& id) override;
  std::vector<std::string> purge_finished(std::int64_t now_ms, std::int64_t retention_ms) override;
  std::size_t count_active() override;
  FinishAndClaim finish_and_claim(const std::string& id, const std::string& owner, JobStatus status,
                                  const std::string& result_or_error, std::int64_t now_ms,
                                  std::int64_t lease_ms) override;

  class Connection;  // one sqlite3 handle with its prepared statements (job_store_sqlite.cpp)

 private:
  class Borrowed;  // a connection taken from the pool for one call
  Connection* acquire();
  void give_back(Connection* c);

  std::string path_;
  SqliteJobStoreOptions options_;
  std::mutex pool_mutex_;
  std::vector<Connection*> idle_;  // guarded by pool_mutex_; all opened by pool_pid_
  pid_t pool_pid_;                 // guarded by pool_mutex_
};

}  // namespace flaskpp::core
