#include "glue/rate_limit.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <ap_provider.h>
#include <apr_shm.h>
#include <util_mutex.h>

#include "core/config.hpp"
#include "core/errors.hpp"
#include "core/rate_limit_stage.hpp"
#include "glue/boundary.hpp"
#include "glue/config.hpp"
#include "glue/directives.hpp"
#include "glue/lifecycle.hpp"
#include "glue/pool.hpp"

namespace flaskpp::glue {

namespace {

constexpr const char* kMutexType = "flaskpp-ratelimit";
constexpr const char* kCacheName = "flaskpp-rl";  // socache consumer name (16 characters at most)

struct Counter {
  std::int64_t value;
  std::int64_t expires_at_s;
};

std::string apr_error(apr_status_t rv) {
  char buf[256];
  return apr_strerror(rv, buf, sizeof buf);
}

// A pool for one call's temporary allocations (shmcb needs none; memcache and redis do). A child
// of APR's global pool, whose allocator is thread-safe.
class CallPool {
 public:
  CallPool() {
    if (apr_pool_create(&pool_, nullptr) != APR_SUCCESS) throw core::RateStoreError("cannot create a pool");
  }
  ~CallPool() { apr_pool_destroy(pool_); }
  CallPool(const CallPool&) = delete;
  CallPool& operator=(const CallPool&) = delete;
  apr_pool_t* get() const { return pool_; }

 private:
  apr_pool_t* pool_ = nullptr;
};

class Locked {
 public:
  explicit Locked(apr_global_mutex_t* m) : m_(m) {
    if (!m_) throw core::RateStoreError("the rate limit store is not initialised");
    apr_status_t rv = apr_global_mutex_lock(m_);
    if (rv != APR_SUCCESS) throw core::RateStoreError("cannot lock the rate limit mutex: " + apr_error(rv));
  }
  ~Locked() { apr_global_mutex_unlock(m_); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;

 private:
  apr_global_mutex_t* m_;
};

}  // namespace

void ApacheRateStore::start(apr_pool_t* pconf, server_rec* base) {
  apr_status_t rv = ap_global_mutex_create(&mutex_, nullptr, kMutexType, nullptr, base, pconf, 0);
  if (rv != APR_SUCCESS) throw core::ConfigError("cannot create the rate limit mutex: " + apr_error(rv));
  init_storage(pconf, base);
}

void ApacheRateStore::child(apr_pool_t* pchild) {
  if (!mutex_) return;
  apr_status_t rv = apr_global_mutex_child_init(&mutex_, apr_global_mutex_lockfile(mutex_), pchild);
  if (rv != APR_SUCCESS) {
    // Never count without mutual exclusion: every limited request now fails the store (fail-open
    // or fail-closed as configured, with its warning).
    mutex_ = nullptr;
    throw core::ConfigError("cannot re-open the rate limit mutex in the child: " + apr_error(rv));
  }
}

// --- shm: the module's counter table ------------------------------------------------------------

void ShmRateStore::init_storage(apr_pool_t* pconf, server_rec*) {
  const std::size_t slots = core::CounterTable::slots_for(bytes_);
  if (slots == 0) throw core::ConfigError("FlaskppRateLimitCache shm: the size is too small for a table");
  apr_shm_t* shm = nullptr;
  // Anonymous (no file): inherited by the children through fork, gone with the last of them. APR
  // registers its destruction on pconf, so each configuration cycle gets a table of its own, and
  // children of the previous generation keep theirs until they exit.
  apr_status_t rv = apr_shm_create(&shm, core::CounterTable::bytes_for(slots), nullptr, pconf);
  if (rv != APR_SUCCESS) {
    throw core::ConfigError("cannot create the rate limit table (" + std::to_string(bytes_) +
                            " bytes of shared memory): " + apr_error(rv));
  }
  std::uint64_t seed = 0;
  if (apr_generate_random_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed) != APR_SUCCESS) {
    throw core::ConfigError("cannot draw the rate limit table's hash key from the system's random source");
  }
  table_ = core::CounterTable::format(apr_shm_baseaddr_get(shm), slots, seed);
}

std::int64_t ShmRateStore::incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s, std::int64_t now_s) {
  Locked lock(mutex_);
  if (!table_) throw core::RateStoreError("the rate limit table is not initialised");
  return table_->incr(key, delta, ttl_s, now_s);
}

std::int64_t ShmRateStore::get(const std::string& key, std::int64_t now_s) {
  Locked lock(mutex_);
  if (!table_) throw core::RateStoreError("the rate limit table is not initialised");
  return table_->get(key, now_s);
}

std::vector<std::int64_t> ShmRateStore::apply(const std::vector<core::CounterOp>& ops, std::int64_t now_s) {
  Locked lock(mutex_);
  if (!table_) throw core::RateStoreError("the rate limit table is not initialised");
  std::vector<std::int64_t> values;
  values.reserve(ops.size());
  try {
    for (const core::CounterOp& op : ops) {
      values.push_back(op.read_only ? table_->get(op.key, now_s) : table_->incr(op.key, op.delta, op.ttl_s, now_s));
    }
  } catch (...) {
    // Nothing of a failed batch stays counted: undo the increments made before the failing one
    // (their counters exist, so these cannot fail).
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!ops[i].read_only) table_->incr(ops[i].key, -ops[i].delta, ops[i].ttl_s, now_s);
    }
    throw;
  }
  return values;
}

// --- any other socache --------------------------------------------------------------------------

std::int64_t SocacheRateStore::incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s,
                                    std::int64_t now_s) {
  Locked lock(mutex_);
  return incr_locked(key, delta, ttl_s, now_s);
}

std::int64_t SocacheRateStore::get(const std::string& key, std::int64_t now_s) {
  Locked lock(mutex_);
  return get_locked(key, now_s);
}

std::vector<std::int64_t> SocacheRateStore::apply(const std::vector<core::CounterOp>& ops, std::int64_t now_s) {
  Locked lock(mutex_);
  std::vector<std::int64_t> values;
  values.reserve(ops.size());
  for (const core::CounterOp& op : ops) {
    values.push_back(op.read_only ? get_locked(op.key, now_s) : incr_locked(op.key, op.delta, op.ttl_s, now_s));
  }
  return values;
}

std::int64_t SocacheRateStore::incr_locked(const std::string& key, std::int64_t delta, std::int64_t ttl_s,
                                           std::int64_t now_s) {
  CallPool pool;
  const auto* id = reinterpret_cast<const unsigned char*>(key.data());
  auto idlen = static_cast<unsigned int>(key.size());
  Counter c{};
  unsigned int len = sizeof c;
  apr_status_t rv = provider_->retrieve(instance_, server_, id, idlen, reinterpret_cast<unsigned char*>(&c), &len,
                                        pool.get());
  if (rv == APR_NOTFOUND || (rv == APR_SUCCESS && (len != sizeof c || c.expires_at_s <= now_s))) {
    c = Counter{0, now_s + ttl_s};
  } else if (rv != APR_SUCCESS) {
    throw core::RateStoreError(std::string(provider_->name) + " retrieve failed: " + apr_error(rv));
  }
  c.value += delta;
  rv = provider_->store(instance_, server_, id, idlen, apr_time_from_sec(c.expires_at_s),
                        reinterpret_cast<unsigned char*>(&c), sizeof c, pool.get());
  if (rv != APR_SUCCESS) throw core::RateStoreError(std::string(provider_->name) + " store failed: " + apr_error(rv));
  return c.value;
}

std::int64_t SocacheRateStore::get_locked(const std::string& key, std::int64_t now_s) {
  CallPool pool;
  Counter c{};
  unsigned int len = sizeof c;
  apr_status_t rv = provider_->retrieve(instance_, server_, reinterpret_cast<const unsigned char*>(key.data()),
                                        static_cast<unsigned int>(key.size()), reinterpret_cast<unsigned char*>(&c),
                                        &len, pool.get());
  if (rv == APR_NOTFOUND) return 0;
  if (rv != APR_SUCCESS) throw core::RateStoreError(std::string(provider_->name) + " retrieve failed: " + apr_error(rv));
  return len == sizeof c && c.expires_at_s > now_s ? c.value : 0;
}

void SocacheRateStore::init_storage(apr_pool_t* pconf, server_rec* base) {
  server_ = base;
  // Expected use: keys of ~80 bytes, 16-byte values, windows of a minute or so.
  ap_socache_hints hints{};
  hints.avg_id_len = 80;
  hints.avg_obj_size = sizeof(Counter);
  hints.expiry_interval = apr_time_from_sec(60);
  apr_status_t rv = provider_->init(instance_, kCacheName, &hints, base, pconf);
  if (rv != APR_SUCCESS) {
    throw core::ConfigError("cannot initialise the rate limit cache (" + std::string(provider_->name) +
                            "): " + apr_error(rv));
  }
  // Registered after the store's own deletion cleanup, so it runs first (cleanups run in reverse).
  apr_pool_cleanup_register(pconf, this, destroy, apr_pool_cleanup_null);
}

apr_status_t SocacheRateStore::destroy(void* data) noexcept {
  return guard_cleanup([data] {
    auto* store = static_cast<SocacheRateStore*>(data);
    store->provider_->destroy(store->instance_, store->server_);
  });
}

void register_rate_limit_mutex(apr_pool_t* pconf) {
  apr_status_t rv = ap_mutex_register(pconf, kMutexType, nullptr, APR_LOCK_DEFAULT, 0);
  if (rv != APR_SUCCESS) throw core::ConfigError("cannot register the rate limit mutex: " + apr_error(rv));
}

RedisUrlRateStore::RedisUrlRateStore(const std::string& url)
    : store_(std::make_shared<core::RedisClient>(core::parse_redis_url(url))) {}

void RedisUrlRateStore::child(apr_pool_t*) { store_.client().set_max_idle_connections(redis_pool_size_for_mpm()); }

std::size_t redis_pool_size_for_mpm() noexcept {
  std::size_t n = core::RedisOptions{}.max_idle_connections;
  int threads = 0;
  if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) == APR_SUCCESS && threads > 0) {
    n = std::max(n, static_cast<std::size_t>(threads));
  }
  return n;
}

void prepare_rate_limits(apr_pool_t* pconf, apr_pool_t* ptemp, ProcessState& state) {
  const RateLimitCacheSettings& cs = state.rate_cache;
  if (cs.provider == "shm") {
    state.rate_store = make_pool_owned<ShmRateStore>(pconf, cs.shm_bytes);
    return;
  }
  if (cs.provider == "redis-url") {
    state.rate_store = make_pool_owned<RedisUrlRateStore>(pconf, cs.args);
    return;
  }
  const auto* provider = static_cast<const ap_socache_provider_t*>(
      ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, cs.provider.c_str(), AP_SOCACHE_PROVIDER_VERSION));
  if (!provider) {
    throw core::ConfigError("FlaskppRateLimitCache " + cs.provider + " needs the socache provider '" + cs.provider +
                            "': load it, e.g. LoadModule socache_" + cs.provider + "_module modules/mod_socache_" +
                            cs.provider + ".so (or use shm, the module's own table)");
  }
  ap_socache_instance_t* instance = nullptr;
  if (const char* err = provider->create(&instance, cs.args.empty() ? nullptr : cs.args.c_str(), ptemp, pconf)) {
    throw core::ConfigError("FlaskppRateLimitCache " + cs.provider + (cs.args.empty() ? "" : ":" + cs.args) + ": " +
                            err);
  }
  state.rate_store = make_pool_owned<SocacheRateStore>(pconf, provider, instance);
}

void start_rate_limits(apr_pool_t* pconf, server_rec* base, ProcessState& state) {
  if (state.rate_store) state.rate_store->start(pconf, base);
}

void child_rate_limits(apr_pool_t* pchild, ProcessState& state) {
  if (state.rate_store) state.rate_store->child(pchild);
}

}  // namespace flaskpp::glue

namespace core = flaskpp::core;

extern "C" const char* fpp_set_rate_limit(cmd_parms* cmd, void*, int argc, char* const argv[]) noexcept {
  return flaskpp::glue::guard_directive(cmd, [&]() -> const char* {
    core::RateRule rule = core::parse_rate_rule(std::vector<std::string>(argv, argv + argc));
    rule.where = flaskpp::glue::directive_where(cmd);
    flaskpp::glue::directive_config(cmd).rate_rules.push_back(std::move(rule));
    return nullptr;
  });
}

extern "C" const char* fpp_set_rate_limit_cache(cmd_parms* cmd, void*, const char* spec, const char* option) noexcept {
  return flaskpp::glue::guard_directive(cmd, [&]() -> const char* {
    if (const char* err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return err;
    std::string text = spec;
    flaskpp::glue::RateLimitCacheSettings cs;
    if (text.rfind("redis://", 0) == 0 || text.rfind("rediss://", 0) == 0) {
      core::parse_redis_url(text);  // ConfigError naming what is wrong (rediss: no TLS in hiredis 0.14)
      cs.provider = "redis-url";
      cs.args = text;
    }
    auto colon = text.find(':');
    if (cs.provider != "redis-url") {
      cs.provider = text.substr(0, colon);
      if (colon != std::string::npos) cs.args = text.substr(colon + 1);
    }
    if (cs.provider.empty()) throw core::ConfigError("a store is needed: shm[:SIZE], or a socache provider name");
    if (cs.provider == "shm" || cs.provider == "shmcb") {
      // shmcb is SPEC.md's name for the one-host store: the same table (mod_socache_shmcb's cyclic
      // buffer evicts live counters under load). Its "[PATH](SIZE)" argument gives the size.
      std::string size = cs.args;
      if (cs.provider == "shmcb" && !size.empty()) {
        auto open = size.find('(');
        if (open == std::string::npos || size.back() != ')') {
          throw core::ConfigError("'" + text + "': shmcb takes (SIZE) here, e.g. shmcb:(4M), or use shm:4M");
        }
        size = size.substr(open + 1, size.size() - open - 2);
      }
      if (!size.empty()) {
        cs.shm_bytes = core::parse_size(size);
        if (core::CounterTable::slots_for(cs.shm_bytes) == 0) {
          throw core::ConfigError("'" + text + "': the table needs at least " +
                                  std::to_string(core::CounterTable::bytes_for(core::CounterTable::kMinSlots)) +
                                  " bytes");
        }
      }
      cs.provider = "shm";
      cs.args.clear();
    }
    if (option) {
      std::string opt = option;
      if (opt == "fail=closed") cs.fail_closed = true;
      else if (opt != "fail=open") throw core::ConfigError("option '" + opt + "' must be fail=open or fail=closed");
    }
    flaskpp::glue::process_state(cmd->pool).rate_cache = cs;
    return nullptr;
  });
}
