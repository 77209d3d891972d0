#include "core/rate_store_redis.hpp"

#include <algorithm>

namespace flaskpp::core {

namespace {

// KEYS: the counters; ARGV: three per key (g|i, delta, ttl seconds). A new counter (no TTL yet)
// gets its expiry; an existing one keeps it, as RateStore::incr says. Returns one integer a key.
const RedisScript kApply(R"lua(
local out = {}
for i = 1, #KEYS do
  if ARGV[3 * i - 2] == 'g' then
    out[i] = tonumber(redis.call('GET', KEYS[i])) or 0
  else
    local v = redis.call('INCRBY', KEYS[i], ARGV[3 * i - 1])
    if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[3 * i]) end
    out[i] = v
  end
end
return out
)lua");

[[noreturn]] void rethrow_as_store_error() {
  try {
    throw;
  } catch (const RateStoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw RateStoreError(e.what());
  }
}

}  // namespace

RedisRateStore::RedisRateStore(std::shared_ptr<RedisClient> client, std::string prefix)
    : client_(std::move(client)), prefix_(std::move(prefix)) {}

std::vector<std::int64_t> RedisRateStore::apply(const std::vector<CounterOp>& ops, std::int64_t) {
  if (ops.empty()) return {};
  std::vector<std::string> keys, args;
  keys.reserve(ops.size());
  args.reserve(ops.size() * 3);
  for (const CounterOp& op : ops) {
    keys.push_back(prefix_ + op.key);
    args.push_back(op.read_only ? "g" : "i");
    args.push_back(std::to_string(op.delta));
    args.push_back(std::to_string(std::max<std::int64_t>(op.ttl_s, 1)));  // at least a second, as the others
  }
  try {
    RedisValue v = client_->eval(kApply, keys, args);
    if (v.is_error()) throw RateStoreError("redis " + client_->url().str() + ": " + v.str);
    if (!v.is_array() || v.elements.size() != ops.size()) {
      throw RateStoreError("redis " + client_->url().str() + ": unexpected answer to the rate limit script");
    }
    std::vector<std::int64_t> values;
    values.reserve(ops.size());
    for (const RedisValue& e : v.elements) {
      if (!e.is_integer()) throw RateStoreError("redis " + client_->url().str() + ": a counter is not an integer");
      values.push_back(e.integer);
    }
    return values;
  } catch (...) {
    rethrow_as_store_error();
  }
}

std::int64_t RedisRateStore::incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s, std::int64_t now_s) {
  return apply({CounterOp{key, delta, ttl_s, false}}, now_s).front();
}

std::int64_t RedisRateStore::get(const std::string& key, std::int64_t now_s) {
  return apply({CounterOp{key, 0, 0, true}}, now_s).front();
}

}  // namespace flaskpp::core
