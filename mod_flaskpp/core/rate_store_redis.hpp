// FlaskppRateLimitCache redis://HOST:PORT/DB (issue 12): the rate limiter's counters in Redis,
// shared by every Apache host of an app. A hit's operations (increments, and the sliding window's
// read of the previous window) run as one Lua script: one round trip per allowed hit, atomic in
// Redis, so N of M hits pass across hosts exactly as across the children of one host. Counters
// expire in Redis (EXPIRE on creation), so no sweeping is needed. Any Redis failure (down, timeout,
// back-off after a failure) is a RateStoreError: fail-open or fail-closed as configured.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/rate_limit.hpp"
#include "core/redis.hpp"

namespace flaskpp::core {

class RedisRateStore final : public RateStore {
 public:
  // Keys are prefix + the limiter's key ("flaskpp:rl:fpp:<rule>/<count>/<period>/<window>/<client>").
  explicit RedisRateStore(std::shared_ptr<RedisClient> client, std::string prefix = "flaskpp:rl:");

  std::int64_t incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s, std::int64_t now_s) override;
  std::int64_t get(const std::string& key, std::int64_t now_s) override;
  std::vector<std::int64_t> apply(const std::vector<CounterOp>& ops, std::int64_t now_s) override;

  RedisClient& client() { return *client_; }

 private:
  std::shared_ptr<RedisClient> client_;
  std::string prefix_;
};

}  // namespace flaskpp::core
