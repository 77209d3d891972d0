// Rate limits in the lifecycle: FlaskppRateLimitCache (server config only) and the counter store
// every child shares: an Apache socache (shmcb by default) behind a global mutex, the lifecycle
// mod_authn_socache uses:
//   pre_config    the mutex type is registered ("flaskpp-ratelimit", so `Mutex` can configure it)
//   check_config  the provider is looked up and its instance created (a missing provider module
//                 fails `apachectl -t` with the LoadModule line to add)
//   post_config   the mutex is created and the cache initialised, in the parent
//   child_init    each child re-opens the mutex
// A graceful restart rebuilds both with the configuration: counters start again from zero.
#pragma once

#include <memory>
#include <string>

#include <ap_socache.h>
#include <apr_global_mutex.h>

#include "core/rate_limit.hpp"
#include "glue/apache.hpp"

namespace flaskpp::glue {

// What FlaskppRateLimitCache says.
struct RateLimitCacheSettings {
  std::string provider = "shmcb";  // a socache provider name
  std::string args;                // its argument ("shmcb:/path(512000)"); empty: its defaults
  bool fail_closed = false;        // fail=closed: 503 while the store fails (default fail=open)
};

// The counters in a socache: each value is (count, expiry) under the cache's key, read, changed
// and written back under the global mutex, so an increment is atomic across every process and
// thread.
class SocacheRateStore final : public core::RateStore {
 public:
  SocacheRateStore(const ap_socache_provider_t* provider, ap_socache_instance_t* instance, server_rec* s)
      : provider_(provider), instance_(instance), server_(s) {}
  std::int64_t incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s, std::int64_t now_s) override;
  std::int64_t get(const std::string& key, std::int64_t now_s) override;

  const ap_socache_provider_t* provider_;
  ap_socache_instance_t* instance_;
  server_rec* server_;
  apr_global_mutex_t* mutex_ = nullptr;  // created in post_config, re-opened in child_init
  bool initialised_ = false;             // post_config ran (never for `apachectl -t`)
};

struct ProcessState;
// pre_config: registers the mutex type.
void register_rate_limit_mutex(apr_pool_t* pconf);
// check_config, when a server has FlaskppRateLimit rules: builds state.rate_store. Throws ConfigError.
void prepare_rate_limits(apr_pool_t* pconf, apr_pool_t* ptemp, ProcessState& state);
// post_config (not in the dry run): creates the mutex and initialises the cache. Throws ConfigError.
void start_rate_limits(apr_pool_t* pconf, server_rec* base, ProcessState& state);
// child_init: re-opens the mutex in the child. Throws ConfigError.
void child_rate_limits(apr_pool_t* pchild, ProcessState& state);

}  // namespace flaskpp::glue

extern "C" {
const char* fpp_set_rate_limit(cmd_parms* cmd, void*, int argc, char* const argv[]) noexcept;
const char* fpp_set_rate_limit_cache(cmd_parms* cmd, void*, const char* spec, const char* option) noexcept;
}
