// FlaskppRateLimit in the request pipeline: which limits apply to which route, and the stage that
// counts a hit before the body is read, refuses with 429 and puts X-RateLimit-* on every answer of
// a limited route. The counters live in a RateStore (Apache's socache in the module, shared by all
// children behind a global mutex; a MemoryRateStore in unit tests).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/pipeline.hpp"
#include "core/rate_limit.hpp"
#include "core/route_decl.hpp"

namespace flaskpp::core {

namespace tag {
constexpr int kRateLimitStoreFailed = 36;  // the counter store failed: fail-open or fail-closed
}  // namespace tag

// One FlaskppRateLimit directive.
struct RateRule {
  std::string pattern;              // a route pattern as declared, or "*": every route of the server
  std::string spec;                 // the limit string as written
  std::vector<RateLimit> limits;
  RateStrategy strategy = RateStrategy::kFixedWindow;
  std::string header;               // key=header:NAME (lower-case); empty: the client's IP
  std::string where;                // file:line
};

// FlaskppRateLimit PATTERN "LIMITS" [key=ip|header:NAME] [strategy=fixed-window|sliding-window].
// Throws ConfigError.
RateRule parse_rate_rule(const std::vector<std::string>& args);

struct RateLimitSettings {
  std::vector<RateRule> rules;
  RateStore* store = nullptr;   // not owned; outlives the App
  bool fail_closed = false;     // store failure: 503 instead of letting the request through
  std::string scope;            // namespaces the counters (the server's host:port)
  std::function<std::int64_t()> clock;  // epoch seconds; empty: the system clock
};

// The pipeline stage. Built with the App from its routes; read-only afterwards except for the
// time of the last store warning (an atomic).
class RateLimitStage final : public Stage {
 public:
  // Throws ConfigError when a rule names a pattern no route has.
  RateLimitStage(RateLimitSettings settings, const std::vector<RouteDecl>& routes);
  const char* name() const override { return "rate-limit"; }
  void before_body(Exchange& ex) const override;
  // The rules that apply to route i, route-specific first (for the status page and OpenAPI).
  std::vector<const RateRule*> rules_for(std::size_t route) const;

 private:
  struct Bound {
    const RateRule* rule;
    RateLimiter limiter;
  };
  std::int64_t now() const;

  RateLimitSettings settings_;
  std::vector<std::vector<Bound>> per_route_;  // parallel to the App's routes
  mutable std::atomic<std::int64_t> last_warning_s_{0};
};

// Seconds between two warnings about a failing store; the failures in between log at debug.
constexpr std::int64_t kRateStoreWarnEvery = 60;

}  // namespace flaskpp::core
