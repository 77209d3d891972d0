// FlaskppRateLimit in the pipeline: rules bound to routes, 429 before the body is read, the
// X-RateLimit-* headers on every answer of a limited route, fail-open and fail-closed. Driven
// through App::handle with a MemoryRateStore and a fake clock.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/app.hpp"
#include "core/errors.hpp"
#include "core/rate_limit_stage.hpp"
#include "test_support.hpp"

namespace core = flaskpp::core;
using flaskpp::test::CapturingLogger;

namespace {

class FailingStore final : public core::RateStore {
 public:
  std::int64_t incr(const std::string&, std::int64_t, std::int64_t, std::int64_t) override {
    throw std::runtime_error("shmcb: no space");
  }
  std::int64_t get(const std::string&, std::int64_t) override { throw std::runtime_error("shmcb: no space"); }
};

class CountingBody final : public core::BodySource {
 public:
  explicit CountingBody(int& reads) : reads_(reads) {}
  bool next(std::string_view& chunk) override {
    if (done_) return false;
    ++reads_;
    done_ = true;
    chunk = "{}";
    return true;
  }

 private:
  int& reads_;
  bool done_ = false;
};

struct Fixture {
  core::MemoryRateStore memory;
  std::int64_t now = 1'700'000'000;
  std::unique_ptr<core::App> app;

  explicit Fixture(std::initializer_list<std::initializer_list<const char*>> rules, core::RateStore* store = nullptr,
                   bool fail_closed = false) {
    core::AppSettings settings;
    for (auto& args : rules) {
      core::RateRule rule = core::parse_rate_rule(std::vector<std::string>(args.begin(), args.end()));
      rule.where = "test.conf:1";
      settings.rate_limits.rules.push_back(rule);
    }
    settings.rate_limits.store = store ? store : &memory;
    settings.rate_limits.fail_closed = fail_closed;
    settings.rate_limits.scope = "test:80";
    settings.rate_limits.clock = [this] { return now; };
    std::vector<core::RouteDecl> routes = {core::parse_route({"POST", "/api/echo", "handler", "echo"}),
                                           core::parse_route({"GET", "/api/echo", "handler", "health"}),
                                           core::parse_route({"GET", "/free", "handler", "health"}),
                                           core::parse_route({"GET", "/health", "handler", "health"})};
    app = std::make_unique<core::App>(std::move(settings), routes, core::HandlerRegistry::builtins());
  }

  core::Response call(const std::string& method, const std::string& path, const std::string& ip = "10.0.0.1",
                      std::vector<std::pair<std::string, std::string>> headers = {}, int* body_reads = nullptr) {
    core::Request r;
    r.method = method;
    r.path = path;
    r.remote_addr = ip;
    r.headers = std::move(headers);
    int reads = 0;
    CountingBody body(body_reads ? *body_reads : reads);
    if (method == "POST") {
      r.headers.emplace_back("content-type", "application/json");
      r.headers.emplace_back("content-length", "2");
    }
    CapturingLogger log;
    auto resp = app->handle(r, app->match(path, method), &body, log);
    std::lock_guard<std::mutex> lock(mutex);
    last_log.clear();
    for (const auto& e : log.entries) {
      if (e.tag != core::tag::kRouteMatched) last_log.push_back(e);
    }
    return resp;
  }
  std::mutex mutex;
  std::vector<CapturingLogger::Entry> last_log;
};

std::string header(const core::Response& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "<none>";
}

TEST(RateRuleParse, AcceptsOptionsAndRefusesNonsense) {
  auto r = core::parse_rate_rule({"/api/<int:id>", "10 per minute; 100/day", "key=header:X-Api-Key",
                                  "strategy=sliding-window"});
  EXPECT_EQ(r.pattern, "/api/<int:id>");
  ASSERT_EQ(r.limits.size(), 2u);
  EXPECT_EQ(r.header, "x-api-key");
  EXPECT_EQ(r.strategy, core::RateStrategy::kSlidingWindowCounter);
  EXPECT_EQ(core::parse_rate_rule({"*", "5/second", "key=ip"}).header, "");
  EXPECT_THROW(core::parse_rate_rule({"/x"}), core::ConfigError);
  EXPECT_THROW(core::parse_rate_rule({"x", "5/second"}), core::ConfigError);
  EXPECT_THROW(core::parse_rate_rule({"/x", "5/fortnight"}), core::ConfigError);
  EXPECT_THROW(core::parse_rate_rule({"/x", "5/second", "key=cookie"}), core::ConfigError);
  EXPECT_THROW(core::parse_rate_rule({"/x", "5/second", "key=header:"}), core::ConfigError);
  EXPECT_THROW(core::parse_rate_rule({"/x", "5/second", "strategy=moving-window"}), core::ConfigError);
}

TEST(RateLimitStage, APatternNoRouteHasStopsStartup) {
  try {
    Fixture f({{"/api/ech", "1/minute"}});
    FAIL() << "no error";
  } catch (const core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no FlaskppRoute has the pattern '/api/ech'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test.conf:1"), std::string::npos);
  }
}

TEST(RateLimitStage, ExactlyNPassThenA429WithRetryAfterBeforeTheBodyIsRead) {
  Fixture f({{"/api/echo", "3/minute"}});
  f.now = 1'700'000'040 + 20;  // 20 s into a minute window
  for (int i = 0; i < 3; ++i) {
    auto r = f.call("POST", "/api/echo");
    EXPECT_EQ(r.status, 200) << i;
    EXPECT_EQ(header(r, "X-RateLimit-Limit"), "3");
    EXPECT_EQ(header(r, "X-RateLimit-Remaining"), std::to_string(2 - i));
    EXPECT_EQ(header(r, "X-RateLimit-Reset"), "1700000100") << "end of the minute window";
    EXPECT_EQ(header(r, "Retry-After"), "<none>");
  }
  int reads = 0;
  auto r = f.call("POST", "/api/echo", "10.0.0.1", {}, &reads);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(reads, 0) << "refused before the body is read";
  EXPECT_EQ(header(r, "Retry-After"), "40") << "seconds to the window's end";
  EXPECT_EQ(header(r, "X-RateLimit-Remaining"), "0");
  EXPECT_NE(r.body.find("\"code\":429"), std::string::npos) << "a JSON route answers JSON: " << r.body;
  EXPECT_NE(r.body.find("rate limit exceeded: 3/minute"), std::string::npos) << r.body;
  ASSERT_EQ(f.last_log.size(), 1u);
  EXPECT_EQ(f.last_log[0].level, core::LogLevel::kInfo) << "a client's excess is not a server problem";
  // The GET route of the same pattern shares the counters (one view, two methods).
  EXPECT_EQ(f.call("GET", "/api/echo").status, 429);
  // Another route is not limited and carries no headers.
  auto free = f.call("GET", "/free");
  EXPECT_EQ(free.status, 200);
  EXPECT_EQ(header(free, "X-RateLimit-Limit"), "<none>");
  // The next window lets hits through again.
  f.now += 60;
  EXPECT_EQ(f.call("POST", "/api/echo").status, 200);
}

TEST(RateLimitStage, ClientsAreCountedApartByAddressOrHeader) {
  Fixture f({{"/api/echo", "1/hour"}, {"/free", "1/hour", "key=header:X-Api-Key"}});
  EXPECT_EQ(f.call("POST", "/api/echo", "10.0.0.1").status, 200);
  EXPECT_EQ(f.call("POST", "/api/echo", "10.0.0.1").status, 429);
  EXPECT_EQ(f.call("POST", "/api/echo", "10.0.0.2").status, 200);
  EXPECT_EQ(f.call("GET", "/free", "10.0.0.1", {{"x-api-key", "alice"}}).status, 200);
  EXPECT_EQ(f.call("GET", "/free", "10.0.0.1", {{"x-api-key", "bob"}}).status, 200);
  EXPECT_EQ(f.call("GET", "/free", "10.0.0.9", {{"x-api-key", "alice"}}).status, 429) << "keyed by the header";
  EXPECT_EQ(f.call("GET", "/free", "10.0.0.1").status, 200) << "no header: counted by address";
  EXPECT_EQ(f.call("GET", "/free", "10.0.0.1").status, 429);
}

TEST(RateLimitStage, AGlobalRuleCountsEveryRouteTogetherAndTheRouteRuleToo) {
  Fixture f({{"*", "4/minute"}, {"/api/echo", "2/minute"}});
  f.now = 1'700'000'040;
  auto a = f.call("POST", "/api/echo");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(header(a, "X-RateLimit-Limit"), "2") << "the limit with the fewest hits left is shown";
  EXPECT_EQ(f.call("POST", "/api/echo").status, 200);
  EXPECT_EQ(f.call("POST", "/api/echo").status, 429) << "the route's 2/minute";
  EXPECT_EQ(f.call("GET", "/free").status, 200) << "global: 3rd of 4 (the refused hit was not counted)";
  EXPECT_EQ(f.call("GET", "/health").status, 200);
  auto r = f.call("GET", "/free");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(header(r, "X-RateLimit-Limit"), "4");
}

TEST(RateLimitStage, AFailingStoreLetsRequestsThroughWithOneWarningPerInterval) {
  FailingStore broken;
  Fixture f({{"/api/echo", "1/minute"}}, &broken);
  auto r = f.call("POST", "/api/echo");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(header(r, "X-RateLimit-Limit"), "<none>");
  ASSERT_EQ(f.last_log.size(), 1u);
  EXPECT_EQ(f.last_log[0].level, core::LogLevel::kWarn);
  EXPECT_EQ(f.last_log[0].tag, core::tag::kRateLimitStoreFailed);
  EXPECT_NE(f.last_log[0].message.find("fail-open"), std::string::npos) << f.last_log[0].message;
  EXPECT_EQ(f.call("POST", "/api/echo").status, 200);
  for (const auto& e : f.last_log) EXPECT_EQ(e.level, core::LogLevel::kDebug) << e.message;
  f.now += core::kRateStoreWarnEvery;
  f.call("POST", "/api/echo");
  ASSERT_FALSE(f.last_log.empty());
  EXPECT_EQ(f.last_log[0].level, core::LogLevel::kWarn) << "a new interval warns again";
}

TEST(RateLimitStage, AFailingStoreFailClosedAnswers503WithRetryAfterAndNoErrorLine) {
  FailingStore broken;
  Fixture f({{"/api/echo", "1/minute"}}, &broken, true);
  auto r = f.call("POST", "/api/echo");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(header(r, "Retry-After"), "1");
  for (const auto& e : f.last_log) {
    EXPECT_NE(e.level, core::LogLevel::kError) << e.message;
  }
  EXPECT_EQ(f.call("GET", "/free").status, 200) << "unlimited routes never touch the store";
}

TEST(RateLimitStage, ExactAcrossThreads) {
  Fixture f({{"/api/echo", "50/hour"}});
  std::atomic<int> ok{0}, limited{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        int s = f.call("GET", "/api/echo").status;
        (s == 200 ? ok : limited)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 50);
  EXPECT_EQ(limited.load(), 150);
}

}  // namespace

