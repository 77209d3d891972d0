// Rate limits in the lifecycle: FlaskppRateLimitCache (server config only) and the counter store
// every child shares, behind the global mutex "flaskpp-ratelimit". Two kinds:
//   shm[:SIZE] (default)  the module's own counter table (core/counter_table.hpp) in anonymous
//                         shared memory: exact, never evicts a live counter, fails loudly when full.
//                         `shmcb[:ARGS]`, the name SPEC.md uses, means the same table.
//   PROVIDER[:ARGS]       any other Apache socache (memcache, redis, ...): counters are values in
//                         the cache, as exact as the cache keeps them (caches may evict).
// Lifecycle, as mod_authn_socache's:
//   pre_config    the mutex type is registered ("flaskpp-ratelimit", so `Mutex` can configure it)
//   check_config  the store is built; a socache provider is looked up and its instance created (a
//                 missing provider module fails `apachectl -t` with the LoadModule line to add)
//   post_config   the mutex is created and the table or cache initialised, in the parent
//   child_init    each child re-opens the mutex (the table's memory is inherited through fork)
// A graceful restart rebuilds both with the configuration: counters start again from zero.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ap_socache.h>
#include <apr_global_mutex.h>

#include "core/counter_table.hpp"
#include "core/rate_limit.hpp"
#include "core/rate_store_redis.hpp"
#include "glue/apache.hpp"

namespace flaskpp::glue {

// What FlaskppRateLimitCache says.
struct RateLimitCacheSettings {
  static constexpr std::size_t kDefaultShmBytes = 4u << 20;  // 32767 counters of 128 bytes
  std::string provider = "shm";  // "shm" (the module's table), "redis-url", or a socache provider name
  std::string args;              // a socache provider's argument (empty: its defaults), or the Redis URL
  std::size_t shm_bytes = kDefaultShmBytes;
  bool fail_closed = false;      // fail=closed: 503 while the store fails (default fail=open)
};

// A store in the server's lifecycle. The shm table and socaches are shared by every child behind
// the global mutex; Redis needs none.
class ApacheRateStore : public core::RateStore {
 public:
  // post_config: creates the mutex, then the storage. Throws ConfigError.
  virtual void start(apr_pool_t* pconf, server_rec* base);
  // child_init: re-opens the mutex. Throws ConfigError (the store then fails every call).
  virtual void child(apr_pool_t* pchild);

 protected:
  virtual void init_storage(apr_pool_t* pconf, server_rec* base) = 0;
  apr_global_mutex_t* mutex_ = nullptr;
};

// The module's counter table in anonymous shared memory, made in the parent before the children
// fork, so each child maps the same pages.
class ShmRateStore final : public ApacheRateStore {
 public:
  explicit ShmRateStore(std::size_t bytes) : bytes_(bytes) {}
  std::int64_t incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s, std::int64_t now_s) override;
  std::int64_t get(const std::string& key, std::int64_t now_s) override;
  // Under one hold of the mutex; a failing op (table full) undoes the batch's earlier increments.
  std::vector<std::int64_t> apply(const std::vector<core::CounterOp>& ops, std::int64_t now_s) override;

 private:
  void init_storage(apr_pool_t* pconf, server_rec* base) override;
  std::size_t bytes_;
  std::optional<core::CounterTable> table_;  // set in post_config; read-only handle afterwards
};

// The counters in a socache: each value is (count, expiry) under the cache's key, read, changed
// and written back under the global mutex, so an increment is atomic across every process and
// thread.
class SocacheRateStore final : public ApacheRateStore {
 public:
  SocacheRateStore(const ap_socache_provider_t* provider, ap_socache_instance_t* instance)
      : provider_(provider), instance_(instance) {}
  std::int64_t incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s, std::int64_t now_s) override;
  std::int64_t get(const std::string& key, std::int64_t now_s) override;
  // Under one hold of the mutex; no rollback when an op fails half-way (the limiter then fails
  // open or closed; a socache can evict entries anyway).
  std::vector<std::int64_t> apply(const std::vector<core::CounterOp>& ops, std::int64_t now_s) override;

 private:
  std::int64_t incr_locked(const std::string& key, std::int64_t delta, std::int64_t ttl_s, std::int64_t now_s);
  std::int64_t get_locked(const std::string& key, std::int64_t now_s);
  void init_storage(apr_pool_t* pconf, server_rec* base) override;
  static apr_status_t destroy(void* data) noexcept;
  const ap_socache_provider_t* provider_;
  ap_socache_instance_t* instance_;
  server_rec* server_ = nullptr;
};

// FlaskppRateLimitCache redis://HOST:PORT/DB: core::RedisRateStore, shared by every host of the app.
// No mutex (Redis runs each hit's script atomically) and no connection before the children fork.
class RedisUrlRateStore final : public ApacheRateStore {
 public:
  explicit RedisUrlRateStore(const std::string& url);
  void start(apr_pool_t*, server_rec*) override {}
  // Keeps up to one idle connection per thread of the child (redis_pool_size_for_mpm).
  void child(apr_pool_t*) override;
  std::int64_t incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s, std::int64_t now_s) override {
    return store_.incr(key, delta, ttl_s, now_s);
  }
  std::int64_t get(const std::string& key, std::int64_t now_s) override { return store_.get(key, now_s); }
  std::vector<std::int64_t> apply(const std::vector<core::CounterOp>& ops, std::int64_t now_s) override {
    return store_.apply(ops, now_s);
  }

 private:
  void init_storage(apr_pool_t*, server_rec*) override {}
  core::RedisRateStore store_;
};

// The idle Redis connections a child keeps (RedisClient::set_max_idle_connections): one per thread
// it runs (the MPM's ThreadsPerChild, known once the children run), at least RedisOptions' default,
// so a busy child reuses its connections instead of opening and closing one per request.
std::size_t redis_pool_size_for_mpm() noexcept;

struct ProcessState;
// pre_config: registers the mutex type.
void register_rate_limit_mutex(apr_pool_t* pconf);
// check_config, when a server has FlaskppRateLimit rules: builds state.rate_store. Throws ConfigError.
void prepare_rate_limits(apr_pool_t* pconf, apr_pool_t* ptemp, ProcessState& state);
// post_config (not in the dry run): creates the mutex and initialises the store. Throws ConfigError.
void start_rate_limits(apr_pool_t* pconf, server_rec* base, ProcessState& state);
// child_init: re-opens the mutex in the child. Throws ConfigError.
void child_rate_limits(apr_pool_t* pchild, ProcessState& state);

}  // namespace flaskpp::glue

extern "C" {
const char* fpp_set_rate_limit(cmd_parms* cmd, void*, int argc, char* const argv[]) noexcept;
const char* fpp_set_rate_limit_cache(cmd_parms* cmd, void*, const char* spec, const char* option) noexcept;
}
