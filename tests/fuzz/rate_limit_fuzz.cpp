// Flask-Limiter limit strings (FlaskppRateLimit): only ConfigError may escape; every parsed limit
// is positive; a few hits through the limiter with an in-memory store give sane decisions.
#include <cstdint>
#include <string>

#include "core/errors.hpp"
#include "core/rate_limit.hpp"
#include "fuzz_support.hpp"

namespace core = flaskpp::core;

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
  std::int64_t now = 1700000000 + (sel & 0x7F) * 977;
  core::RateLimiter limiter(store, [&] { return now; },
                            (sel & 0x80) ? core::RateStrategy::kSlidingWindowCounter : core::RateStrategy::kFixedWindow);
  for (int i = 0; i < 5; ++i) {
    core::RateDecision d = limiter.hit("client", limits);
    FUZZ_CHECK(d.remaining >= 0 && d.retry_after_s >= 0);
    FUZZ_CHECK(limits.empty() ? d.limit_index == -1 : (d.limit_index >= 0 && d.limit_index < static_cast<int>(limits.size())));
    if (d.allowed) FUZZ_CHECK(d.retry_after_s == 0);
    now += sel & 3;
  }
  return 0;
}
