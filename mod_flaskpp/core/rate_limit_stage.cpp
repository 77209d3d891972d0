#include "core/rate_limit_stage.hpp"

#include <chrono>

#include "core/errors.hpp"
#include "core/request.hpp"
#include "core/session.hpp"

namespace flaskpp::core {

RateRule parse_rate_rule(const std::vector<std::string>& args) {
  if (args.size() < 2) {
    throw ConfigError("FlaskppRateLimit takes PATTERN \"LIMITS\" [key=ip|header:NAME] "
                      "[strategy=fixed-window|sliding-window]");
  }
  RateRule rule;
  rule.pattern = args[0];
  if (rule.pattern != "*" && (rule.pattern.empty() || rule.pattern[0] != '/')) {
    throw ConfigError("FlaskppRateLimit: the pattern must be a route pattern (starting with '/') or '*', not '" +
                      rule.pattern + "'");
  }
  rule.spec = args[1];
  rule.limits = parse_limits(rule.spec);
  for (std::size_t i = 2; i < args.size(); ++i) {
    const std::string& opt = args[i];
    if (opt == "key=ip") {
      rule.header.clear();
    } else if (opt.rfind("key=header:", 0) == 0) {
      rule.header = to_lower(opt.substr(11));
      if (rule.header.empty()) throw ConfigError("FlaskppRateLimit: key=header: needs a header name");
    } else if (opt == "strategy=fixed-window") {
      rule.strategy = RateStrategy::kFixedWindow;
    } else if (opt == "strategy=sliding-window") {
      rule.strategy = RateStrategy::kSlidingWindowCounter;
    } else {
      throw ConfigError("FlaskppRateLimit: unknown option '" + opt +
                        "' (key=ip, key=header:NAME, strategy=fixed-window, strategy=sliding-window)");
    }
  }
  return rule;
}

RateLimitStage::RateLimitStage(RateLimitSettings settings, const std::vector<RouteDecl>& routes)
    : settings_(std::move(settings)), per_route_(routes.size()) {
  if (!settings_.store) throw ConfigError("FlaskppRateLimit: no counter store");
  RateLimiter::Clock clock = [this] { return now(); };
  // Route-specific rules first, then the server-wide ones, each in declaration order.
  for (int pass = 0; pass < 2; ++pass) {
    for (const RateRule& rule : settings_.rules) {
      bool global = rule.pattern == "*";
      if (global != (pass == 1)) continue;
      bool found = false;
      for (std::size_t i = 0; i < routes.size(); ++i) {
        if (!global && routes[i].pattern != rule.pattern) continue;
        found = true;
        // Counters are per server and per rule pattern: every route of a pattern (GET and POST
        // declared apart) shares them, as Flask-Limiter's decorator on one view function does.
        // Hashed, so a long pattern or host name keeps the cache key short (memcache: < 250 bytes).
        std::string prefix = "fpp:" + base64url_encode(sha256(settings_.scope + " " + rule.pattern)).substr(0, 16);
        per_route_[i].push_back(Bound{&rule, RateLimiter(*settings_.store, clock, rule.strategy, std::move(prefix))});
      }
      if (!found) {
        throw ConfigError("FlaskppRateLimit at " + rule.where + ": no FlaskppRoute has the pattern '" + rule.pattern +
                          "' (write it exactly as in the route, or '*' for every route)");
      }
    }
  }
}

std::int64_t RateLimitStage::now() const {
  if (settings_.clock) return settings_.clock();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::vector<const RateRule*> RateLimitStage::rules_for(std::size_t route) const {
  std::vector<const RateRule*> out;
  if (route < per_route_.size()) {
    for (const auto& b : per_route_[route]) out.push_back(b.rule);
  }
  return out;
}

void RateLimitStage::before_body(Exchange& ex) const {
  const auto& bound = per_route_[ex.match.rule];
  if (bound.empty()) return;
  // Reported: the refusing limit, else the one with the fewest hits left.
  RateDecision shown;
  const RateRule* shown_rule = nullptr;
  for (const Bound& b : bound) {
    std::string client;
    if (!b.rule->header.empty()) {
      const std::string* value = ex.request.header(b.rule->header);
      // Without the header, the client is counted by its address (under its own key space, so a
      // header value can never collide with an address).
      // Hashed: a key of bounded length whatever the client sends (memcache keys are short), and
      // no credential (an API key, a token) kept in the cache in clear.
      client = value ? "h:" + base64url_encode(sha256(*value)) : "ip:" + ex.request.remote_addr;
    } else {
      client = "ip:" + ex.request.remote_addr;
    }
    RateDecision d;
    try {
      d = b.limiter.hit(client, b.rule->limits);
    } catch (const RateStoreError& e) {
      std::int64_t t = now();
      std::int64_t last = last_warning_s_.load(std::memory_order_relaxed);
      bool warn = t - last >= kRateStoreWarnEvery &&
                  last_warning_s_.compare_exchange_strong(last, t, std::memory_order_relaxed);
      std::string what = std::string("rate limit store failed (") + e.what() + "): " + ex.request.method + " " +
                         sanitize_utf8(ex.request.path) +
                         (settings_.fail_closed ? " refused with 503 (fail-closed)" : " let through (fail-open)");
      if (warn) {
        ex.log.log(LogLevel::kWarn, tag::kRateLimitStoreFailed,
                   what + "; further failures within " + std::to_string(kRateStoreWarnEvery) + "s log at debug");
      } else if (ex.log.enabled(LogLevel::kDebug)) {
        ex.log.log(LogLevel::kDebug, tag::kRateLimitStoreFailed, what);
      }
      if (settings_.fail_closed) {
        ex.answer_headers.emplace_back("Retry-After", "1");
        throw RateLimitUnavailable("the rate limit store is unavailable");
      }
      return;  // fail-open: this request is not limited at all
    }
    if (!d.allowed || !shown_rule || d.remaining < shown.remaining) {
      shown = d;
      shown_rule = b.rule;
    }
    if (!d.allowed) break;
  }
  ex.answer_headers.emplace_back("X-RateLimit-Limit", std::to_string(shown.limit));
  ex.answer_headers.emplace_back("X-RateLimit-Remaining", std::to_string(shown.remaining));
  ex.answer_headers.emplace_back("X-RateLimit-Reset", std::to_string(shown.reset_epoch_s));
  if (!shown.allowed) {
    std::int64_t retry = shown.retry_after_s > 0 ? shown.retry_after_s : 1;
    ex.answer_headers.emplace_back("Retry-After", std::to_string(retry));
    throw TooManyRequests("rate limit exceeded: " + shown_rule->limits[static_cast<std::size_t>(shown.limit_index)].text);
  }
}

}  // namespace flaskpp::core
