// RedisRateStore (FlaskppRateLimitCache redis://, issue 12) against a private redis-server: the
// same decisions as the in-memory store, exactly N across two limiters sharing Redis (two hosts),
// one script per allowed hit, expiry in Redis, and an outage that is a RateStoreError (fail-open
// or fail-closed upstream) and heals by itself.
#include "core/rate_store_redis.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "redis_fixture.hpp"

namespace flaskpp::core {
namespace {

using test::RedisServer;

std::shared_ptr<RedisClient> client_for(const RedisServer& redis) {
  return std::make_shared<RedisClient>(parse_redis_url(redis.url()));
}

TEST(RedisRateStoreTest, CountsExpiresAndKeepsTheFirstExpiry) {
  RedisServer redis;
  RedisRateStore store(client_for(redis));
  EXPECT_EQ(store.get("k", 100), 0);
  EXPECT_EQ(store.incr("k", 1, 2, 100), 1);
  EXPECT_EQ(store.incr("k", 5, 3600, 100), 6);  // keeps its 2 s expiry
  EXPECT_EQ(store.incr("k", -1, 2, 100), 5);
  EXPECT_EQ(store.get("k", 100), 5);
  RedisValue ttl = store.client().command({"TTL", "flaskpp:rl:k"});
  ASSERT_TRUE(ttl.is_integer());
  EXPECT_GE(ttl.integer, 1);
  EXPECT_LE(ttl.integer, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(store.get("k", 103), 0);  // Redis expired it
  EXPECT_EQ(store.incr("k", 1, 10, 103), 1);
}

TEST(RedisRateStoreTest, ApplyRunsTheBatchInOneScript) {
  RedisServer redis;
  RedisRateStore store(client_for(redis));
  store.incr("prev", 4, 60, 0);
  std::vector<std::int64_t> v = store.apply({CounterOp{"prev", 0, 0, true}, CounterOp{"cur", 1, 60, false},
                                             CounterOp{"missing", 0, 0, true}, CounterOp{"cur", 2, 60, false}},
                                            0);
  EXPECT_EQ(v, (std::vector<std::int64_t>{4, 1, 0, 3}));
  EXPECT_TRUE(store.client().command({"EXISTS", "flaskpp:rl:missing"}).integer == 0) << "a read creates nothing";
  // One EVALSHA (or EVAL) per apply: the server's command statistics count them.
  store.client().command({"CONFIG", "RESETSTAT"});
  for (int i = 0; i < 5; ++i) store.apply({CounterOp{"a", 1, 60, false}, CounterOp{"b", 1, 60, false}}, 0);
  RedisValue info = store.client().command({"INFO", "commandstats"});
  ASSERT_TRUE(info.is_string());
  EXPECT_NE(info.str.find("cmdstat_evalsha:calls=5,"), std::string::npos) << info.str;
}

TEST(RedisRateStoreTest, DecidesAsTheInMemoryStore) {
  RedisServer redis;
  RedisRateStore shared(client_for(redis));
  std::int64_t now = 1700000040;
  for (auto strategy : {RateStrategy::kFixedWindow, RateStrategy::kSlidingWindowCounter}) {
    MemoryRateStore memory;
    std::string prefix = strategy == RateStrategy::kFixedWindow ? "fixed" : "sliding";
    RateLimiter a(memory, [&] { return now; }, strategy, prefix);
    RateLimiter b(shared, [&] { return now; }, strategy, prefix);
    auto limits = parse_limits("3/10 seconds;5/minute");
    for (int i = 0; i < 40; ++i) {
      RateDecision x = a.hit("client", limits);
      RateDecision y = b.hit("client", limits);
      EXPECT_EQ(x.allowed, y.allowed) << i;
      EXPECT_EQ(x.limit_index, y.limit_index) << i;
      EXPECT_EQ(x.remaining, y.remaining) << i;
      EXPECT_EQ(x.reset_epoch_s, y.reset_epoch_s) << i;
      EXPECT_EQ(x.retry_after_s, y.retry_after_s) << i;
      now += i % 3;
    }
  }
}

// Two "hosts" (two clients, two limiters) on one Redis, 8 threads each: exactly N pass.
TEST(RedisRateStoreTest, ExactlyNPassAcrossTwoHosts) {
  RedisServer redis;
  RedisRateStore host_a(client_for(redis)), host_b(client_for(redis));
  const std::int64_t now = 1700000000;
  RateLimiter a(host_a, [&] { return now; }), b(host_b, [&] { return now; });
  auto limits = parse_limits("100/hour;1000/day");
  std::atomic<int> passed{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      const RateLimiter& l = t % 2 ? a : b;
      for (int i = 0; i < 40; ++i) {
        try {
          passed += l.hit("ip:10.0.0.1", limits).allowed;
        } catch (const std::exception&) {
          ++failed;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(passed.load(), 100);
  EXPECT_EQ(host_a.get("LIMITER/1000/86400/19675/ip:10.0.0.1", now), 100) << "refused hits are not counted";
}

TEST(RedisRateStoreTest, AnOutageIsAStoreErrorAndHealsWithoutANewStore) {
  RedisServer redis;
  RedisRateStore store(client_for(redis));
  const std::int64_t now = 1700000000;
  RateLimiter limiter(store, [&] { return now; });
  auto limits = parse_limits("10/minute");
  EXPECT_TRUE(limiter.hit("c", limits).allowed);
  redis.stop();
  auto t0 = std::chrono::steady_clock::now();
  int errors = 0;
  for (int i = 0; i < 50; ++i) {
    try {
      limiter.hit("c", limits);
    } catch (const RateStoreError& e) {
      ++errors;
      EXPECT_NE(std::string(e.what()).find("redis redis://127.0.0.1:"), std::string::npos) << e.what();
    }
  }
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(errors, 50);
  EXPECT_LT(took, std::chrono::milliseconds(1500)) << "the back-off makes a dead Redis fail fast";
  redis.restart();
  bool healed = false;
  for (int i = 0; i < 40 && !healed; ++i) {
    try {
      healed = limiter.hit("c", limits).allowed;
    } catch (const RateStoreError&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_TRUE(healed) << "the same store works again once Redis is back";
}

}  // namespace
}  // namespace flaskpp::core
