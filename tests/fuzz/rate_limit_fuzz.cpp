// Flask-Limiter limit strings (FlaskppRateLimit): only ConfigError may escape; every parsed limit
// is positive; a few hits through the limiter with an in-memory store give sane decisions, and the
// shared-memory counter table (FlaskppRateLimitCache shm) gives exactly the same ones.
#include <cstdint>
#include <string>

#include "core/counter_table.hpp"
#include "core/errors.hpp"
#include "core/rate_limit.hpp"
#include "fuzz_support.hpp"

namespace core = flaskpp::core;

namespace {
class TableStore : public core::RateStore {
 public:
  explicit TableStore(core::CounterTable t) : t_(t) {}
  std::int64_t incr(const std::string& k, std::int64_t d, std::int64_t ttl, std::int64_t now) override {
    return t_.incr(k, d, ttl, now);
  }
  std::int64_t get(const std::string& k, std::int64_t now) override { return t_.get(k, now); }

 private:
  core::CounterTable t_;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  fuzz::Reader in{data, size};
  std::uint8_t sel = in.byte();
  std::string spec(in.rest());
  std::vector<core::RateLimit> limits;
  try {
    limits = core::parse_limits(spec);
  } catch (const core::ConfigError&) {
    return 0;
  }
  for (const auto& l : limits) {
    FUZZ_CHECK(l.count > 0 && l.period_seconds > 0 && !l.text.empty());
  }
  core::MemoryRateStore store;
  // Room for every counter five hits can make (two windows per limit, and a new window per hit at
  // most), so a full table never stands in the way of the comparison.
  const std::size_t slots = core::CounterTable::kMinSlots + 16 * limits.size();
  std::vector<std::uint64_t> memory(core::CounterTable::bytes_for(slots) / 8 + 1);
  TableStore table(core::CounterTable::format(memory.data(), slots, sel));
  std::int64_t now = 1700000000 + (sel & 0x7F) * 977;
  const core::RateStrategy strategy =
      (sel & 0x80) ? core::RateStrategy::kSlidingWindowCounter : core::RateStrategy::kFixedWindow;
  core::RateLimiter limiter(store, [&] { return now; }, strategy);
  core::RateLimiter shared(table, [&] { return now; }, strategy);
  for (int i = 0; i < 5; ++i) {
    core::RateDecision d = limiter.hit("client", limits);
    core::RateDecision t = shared.hit("client", limits);
    FUZZ_CHECK(d.allowed == t.allowed && d.limit_index == t.limit_index && d.remaining == t.remaining &&
               d.reset_epoch_s == t.reset_epoch_s && d.retry_after_s == t.retry_after_s);
    FUZZ_CHECK(d.remaining >= 0 && d.retry_after_s >= 0);
    FUZZ_CHECK(limits.empty() ? d.limit_index == -1 : (d.limit_index >= 0 && d.limit_index < static_cast<int>(limits.size())));
    if (d.allowed) FUZZ_CHECK(d.retry_after_s == 0);
    now += sel & 3;
  }
  return 0;
}
