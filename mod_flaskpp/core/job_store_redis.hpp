// JobStore over one Redis server shared by every Apache host, child and thread
// (FlaskppJobStore redis://HOST:PORT/DB). Every state transition is one Lua script, so it is
// atomic in Redis exactly as a transaction is in the SQLite store (job_store_sqlite.hpp).
//
// Keys, with P = key_prefix + (key_namespace.empty() ? "" : key_namespace + ":"):
//   P job:<id>   hash: the JobRecord's fields by name (numbers as decimal text, progress as
//                %.17g, cancel_requested "0"/"1") plus "qm", the job's member in P queued
//   P queued     sorted set: "<16-digit sequence>:<id>" scored by created_ms; equal scores sort
//                by member, i.e. by the sequence, so the claim order is created_ms then enqueue
//                order (the SQLite store's created_ms, rowid)
//   P running    sorted set: id scored by lease_expires_ms (expired leases are a range query)
//   P finished   sorted set: id scored by finished_ms (purge is a range query)
//   P seq        counter for the queue sequence
//   P wake       list of wake tokens (see wait_for_work)
// A single Redis (optionally with replicas/Sentinel) is assumed: the scripts reach job hashes by
// a computed name, which Redis Cluster would refuse. Durability is Redis's: a job is in Redis's
// memory before enqueue returns true; configure appendonly yes (appendfsync everysec or always)
// for it to survive a Redis crash too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/jobs.hpp"
#include "core/redis.hpp"

namespace flaskpp::core {

struct RedisJobStoreOptions {
  std::string key_prefix = "flaskpp:jobs:";
  std::string key_namespace;  // optional, e.g. one per application sharing a Redis database
  RedisOptions redis;         // timeouts, idle connections, back-off after a failure
  std::size_t purge_batch = 500;       // jobs deleted per script run (a long script blocks Redis)
  std::size_t max_wake_tokens = 1024;  // the wake list is trimmed to this length
};

// Thread-safe and fork-safe (RedisClient's pool). The constructor does not connect: a store built
// in Apache's parent holds no connection when the children are forked, and Redis may start after
// Apache. Every Redis failure (unreachable, timeout, error reply) throws JobStoreError whose path()
// is the URL; during the client's back-off after a failure calls throw at once without trying.
class RedisJobStore : public JobStore {
 public:
  explicit RedisJobStore(RedisUrl url, RedisJobStoreOptions options = {});
  ~RedisJobStore() override = default;
  RedisJobStore(const RedisJobStore&) = delete;
  RedisJobStore& operator=(const RedisJobStore&) = delete;

  const RedisUrl& url() const { return client_.url(); }
  const std::string& key_prefix() const { return prefix_; }  // P above
  // Closes the idle connections of this process (in a parent before it forks children).
  void close_connections() noexcept { client_.close_connections(); }
  std::size_t idle_connections() { return client_.idle_connections(); }

  // Blocks until a job may be waiting or timeout_ms passes: true when woken, false on timeout
  // (timeout_ms <= 0 only checks). Every enqueue (and every retry or release that puts a job back
  // in the queue) pushes one token on P wake in the same script; a waiter takes one with BLPOP on
  // a connection borrowed for the wait. Chosen over pub/sub because a token waits for a worker
  // that is busy or reconnecting when the job arrives (a published message would be lost), and
  // one job wakes one waiter, not every worker of every host. Tokens are hints, never trusted:
  // a woken worker must still claim, and may find nothing (another worker was faster); a claim
  // that finds the queue empty deletes the stale tokens. Waiters are not woken by lease expiry:
  // use a timeout no longer than the time a dead host's jobs may wait (JobQueueOptions
  // poll_max_ms). Throws JobStoreError when Redis fails, like every call: back off before retrying.
  bool wait_for_work(std::int64_t timeout_ms, std::uint64_t interrupts_seen) override;
  bool can_wait_for_work() const override { return true; }
  // Makes every wait_for_work of this process now blocked return false at once (for stopping the
  // workers; JobQueue::wake_all cannot reach a thread blocked in Redis).
  void interrupt_waits() noexcept override { client_.interrupt_blocking(); }
  std::uint64_t interrupts() noexcept override { return client_.interrupts(); }
  void set_max_idle_connections(std::size_t n) noexcept override { client_.set_max_idle_connections(n); }

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

 private:
  // Runs a script with the common keys (and the job's key when id is not empty); any failure or
  // error reply becomes JobStoreError.
  RedisValue run(const RedisScript& script, const std::string& id, std::vector<std::string> args);
  [[noreturn]] void fail(const std::string& detail) const;
  JobRecord decode(const std::vector<RedisValue>& fields, std::size_t first) const;

  RedisClient client_;
  RedisJobStoreOptions options_;
  std::string prefix_;
  std::string url_text_;
  std::vector<std::string> keys_;  // the common KEYS of every script: queued, running, finished, seq, wake
};

}  // namespace flaskpp::core
