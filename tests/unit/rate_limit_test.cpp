// core::parse_limits, MemoryRateStore and RateLimiter (fixed window and sliding window counter)
// with a fake clock. No Apache.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.hpp"
#include "core/rate_limit.hpp"

namespace flaskpp::core {
namespace {

// ---- parse_limits ---------------------------------------------------------------------------

struct Parsed {
  std::string spec;
  std::int64_t count;
  std::int64_t period;
};

class RateLimitParseOk : public ::testing::TestWithParam<Parsed> {};

TEST_P(RateLimitParseOk, Parses) {
  const Parsed& p = GetParam();
  std::vector<RateLimit> limits = parse_limits(p.spec);
  ASSERT_EQ(limits.size(), 1u) << p.spec;
  EXPECT_EQ(limits[0].count, p.count) << p.spec;
  EXPECT_EQ(limits[0].period_seconds, p.period) << p.spec;
}

INSTANTIATE_TEST_SUITE_P(
    Syntax, RateLimitParseOk,
    ::testing::Values(Parsed{"10/second", 10, 1}, Parsed{"10/seconds", 10, 1},
                      Parsed{"10/minute", 10, 60}, Parsed{"10/minutes", 10, 60},
                      Parsed{"7/hour", 7, 3600}, Parsed{"7/hours", 7, 3600},
                      Parsed{"1/day", 1, 86400}, Parsed{"2/days", 2, 86400},
                      Parsed{"1/month", 1, 30 * 86400}, Parsed{"1/months", 1, 30 * 86400},
                      Parsed{"1/year", 1, 360 * 86400}, Parsed{"1/years", 1, 360 * 86400},
                      Parsed{"10 per minute", 10, 60}, Parsed{"10 PER Minute", 10, 60},
                      Parsed{"10perminute", 10, 60}, Parsed{"10/MINUTE", 10, 60},
                      Parsed{"10/5 seconds", 10, 5}, Parsed{"10/5seconds", 10, 5},
                      Parsed{"10 per 2 hours", 10, 7200}, Parsed{"3/1 minute", 3, 60},
                      Parsed{"  10 / minute  ", 10, 60}, Parsed{"\t10 per\t3 days ", 10, 259200},
                      Parsed{"010/minute", 10, 60}));

TEST(RateLimitParse, SeveralWithEverySeparator) {
  std::vector<RateLimit> limits = parse_limits("10/second; 100/day ,1000 per month|5 per 2 hours");
  ASSERT_EQ(limits.size(), 4u);
  EXPECT_EQ(limits[0].count, 10);
  EXPECT_EQ(limits[0].period_seconds, 1);
  EXPECT_EQ(limits[1].count, 100);
  EXPECT_EQ(limits[1].period_seconds, 86400);
  EXPECT_EQ(limits[2].count, 1000);
  EXPECT_EQ(limits[2].period_seconds, 30 * 86400);
  EXPECT_EQ(limits[3].count, 5);
  EXPECT_EQ(limits[3].period_seconds, 7200);
  // The text is the part as written, trimmed, for log messages.
  EXPECT_EQ(limits[1].text, "100/day");
  EXPECT_EQ(limits[3].text, "5 per 2 hours");
}

struct Refused {
  std::string spec;
  std::string must_mention;
};

class RateLimitParseError : public ::testing::TestWithParam<Refused> {};

TEST_P(RateLimitParseError, ThrowsConfigErrorNamingThePart) {
  const Refused& r = GetParam();
  try {
    parse_limits(r.spec);
    FAIL() << "accepted: \"" << r.spec << "\"";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(r.must_mention), std::string::npos)
        << "spec \"" << r.spec << "\" gave: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Errors, RateLimitParseError,
    ::testing::Values(Refused{"", "empty"}, Refused{"   ", "empty"},
                      Refused{"10/minute;", "empty"}, Refused{";10/minute", "empty"},
                      Refused{"10/minute;;5/hour", "empty"}, Refused{"10/minute, ,5/hour", "empty"},
                      Refused{"0/minute", "\"0/minute\""}, Refused{"5/hour;0/minute", "0/minute"},
                      Refused{"10/0 minutes", "\"10/0 minutes\""},
                      Refused{"10/fortnight", "fortnight"}, Refused{"10/minutely", "minutely"},
                      Refused{"10/week", "week"}, Refused{"10/", "missing unit"},
                      Refused{"10/5", "missing unit"}, Refused{"10 minute", "'/' or 'per'"},
                      Refused{"ten/minute", "count"}, Refused{"-1/minute", "count"},
                      Refused{"1.5/minute", "'/' or 'per'"},
                      Refused{"10/minute extra", "extra"}, Refused{"10/minute5", "\"5\""},
                      Refused{"10/minutes/", "\"/\""}, Refused{"1/hour 2/day", "2/day"},
                      Refused{"99999999999999999999/minute", "too large"},
                      Refused{"1/99999999999999999999 seconds", "too large"},
                      Refused{"1/9999999999999999 years", "too long"},
                      Refused{"5 per 2888888888888 months", "at most 100 years"},  // the fuzzer's overflow
                      Refused{"1/101 years", "at most 100 years"}));

// ---- MemoryRateStore ------------------------------------------------------------------------

TEST(MemoryRateStoreTest, CountsAndExpires) {
  MemoryRateStore store;
  EXPECT_EQ(store.get("k", 100), 0);
  EXPECT_EQ(store.incr("k", 1, 10, 100), 1);
  EXPECT_EQ(store.incr("k", 1, 10, 105), 2);
  EXPECT_EQ(store.incr("k", -1, 10, 106), 1);
  EXPECT_EQ(store.get("k", 109), 1);
  // Expiry is fixed when the counter is created, not pushed back by later increments.
  EXPECT_EQ(store.get("k", 110), 0);
  EXPECT_EQ(store.incr("k", 1, 10, 110), 1);
  EXPECT_EQ(store.get("k", 119), 1);
  EXPECT_EQ(store.get("k", 120), 0);
}

TEST(MemoryRateStoreTest, KeysAreIndependent) {
  MemoryRateStore store;
  store.incr("a", 1, 10, 0);
  store.incr("a", 1, 10, 0);
  store.incr("b", 1, 10, 0);
  EXPECT_EQ(store.get("a", 1), 2);
  EXPECT_EQ(store.get("b", 1), 1);
}

TEST(MemoryRateStoreTest, SweepsExpiredEntries) {
  MemoryRateStore store;
  for (int i = 0; i < 1000; ++i) store.incr("key" + std::to_string(i), 1, 1, 0);
  EXPECT_EQ(store.size(), 1000u);
  for (int i = 0; i < 100; ++i) store.incr("live", 1, 100, 5);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.get("live", 6), 100);
}

// ---- RateLimiter helpers --------------------------------------------------------------------

struct FakeClock {
  std::int64_t now = 1200;  // a multiple of 60 and 3600: windows start here
  RateLimiter::Clock fn() {
    return [this] { return now; };
  }
};

int count_allowed(const RateLimiter& limiter, const std::string& client,
                  const std::vector<RateLimit>& limits, int hits) {
  int allowed = 0;
  for (int i = 0; i < hits; ++i) allowed += limiter.hit(client, limits).allowed ? 1 : 0;
  return allowed;
}

// ---- fixed window ---------------------------------------------------------------------------

TEST(RateLimiterFixedWindow, ExactlyNOfMPass) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn());
  EXPECT_EQ(count_allowed(limiter, "c", parse_limits("5/minute"), 20), 5);
}

TEST(RateLimiterFixedWindow, RemainingResetAndRetryAfter) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn(), RateStrategy::kFixedWindow);
  auto limits = parse_limits("3/minute");
  for (int expected_remaining : {2, 1, 0}) {
    RateDecision d = limiter.hit("c", limits);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.limit_index, 0);
    EXPECT_EQ(d.limit, 3);
    EXPECT_EQ(d.remaining, expected_remaining);
    EXPECT_EQ(d.reset_epoch_s, 1260);
    EXPECT_EQ(d.retry_after_s, 0);
  }
  RateDecision refused = limiter.hit("c", limits);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.retry_after_s, 60);
  EXPECT_EQ(refused.reset_epoch_s, 1260);

  clock.now = 1230;
  refused = limiter.hit("c", limits);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 30);
  clock.now = 1259;
  EXPECT_EQ(limiter.hit("c", limits).retry_after_s, 1);
}

TEST(RateLimiterFixedWindow, ResetsAtTheWindowEdge) {
  MemoryRateStore store;
  FakeClock clock;
  clock.now = 1230;  // mid-window: the window is aligned, not started by the first hit
  RateLimiter limiter(store, clock.fn());
  auto limits = parse_limits("2/minute");
  EXPECT_EQ(count_allowed(limiter, "c", limits, 5), 2);
  clock.now = 1259;
  EXPECT_FALSE(limiter.hit("c", limits).allowed);
  clock.now = 1260;
  RateDecision d = limiter.hit("c", limits);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 1);
  EXPECT_EQ(d.reset_epoch_s, 1320);
}

TEST(RateLimiterFixedWindow, RefusedHitsAreNotCounted) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn(), RateStrategy::kFixedWindow, "P");
  auto limits = parse_limits("2/minute");
  EXPECT_EQ(count_allowed(limiter, "c", limits, 10), 2);
  EXPECT_EQ(store.get("P/2/60/20/c", clock.now), 2);
}

TEST(RateLimiterFixedWindow, ShortLimitDoesNotBurnTheLongOne) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn());
  auto limits = parse_limits("2/minute;5/hour");
  int allowed = 0;
  for (int minute = 0; minute < 5; ++minute) {
    clock.now = 3600 + minute * 60;
    allowed += count_allowed(limiter, "c", limits, 10);
  }
  EXPECT_EQ(allowed, 5);  // 2 + 2 + 1, then the hour limit refuses
}

// ---- several limits, several clients --------------------------------------------------------

TEST(RateLimiterLimits, AllMustAllowAndTheTightestIsReported) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn());
  auto limits = parse_limits("2/second;5/minute");
  RateDecision d = limiter.hit("c", limits);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.limit_index, 0);  // 1 left per second, 4 per minute
  EXPECT_EQ(d.limit, 2);
  EXPECT_EQ(d.remaining, 1);
  EXPECT_EQ(d.reset_epoch_s, 1201);
  EXPECT_TRUE(limiter.hit("c", limits).allowed);
  d = limiter.hit("c", limits);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.limit_index, 0);
  EXPECT_EQ(d.retry_after_s, 1);

  clock.now = 1201;
  EXPECT_EQ(count_allowed(limiter, "c", limits, 2), 2);
  clock.now = 1202;
  d = limiter.hit("c", limits);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.limit_index, 1);  // the minute limit is now the tighter one: 0 left
  EXPECT_EQ(d.limit, 5);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.reset_epoch_s, 1260);
  d = limiter.hit("c", limits);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.limit_index, 1);
  EXPECT_EQ(d.retry_after_s, 58);
}

TEST(RateLimiterLimits, WhenSeveralRefuseTheLongestWaitIsReported) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn());
  auto limits = parse_limits("1/second;1/minute");
  EXPECT_TRUE(limiter.hit("c", limits).allowed);
  RateDecision d = limiter.hit("c", limits);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.limit_index, 1);
  EXPECT_EQ(d.retry_after_s, 60);
}

TEST(RateLimiterLimits, NoLimitsAllows) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn());
  RateDecision d = limiter.hit("c", {});
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.limit_index, -1);
}

TEST(RateLimiterLimits, ClientsAndPrefixesAreCountedApart) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter a(store, clock.fn(), RateStrategy::kFixedWindow, "route-a");
  RateLimiter b(store, clock.fn(), RateStrategy::kFixedWindow, "route-b");
  auto limits = parse_limits("3/minute");
  EXPECT_EQ(count_allowed(a, "192.0.2.1", limits, 10), 3);
  EXPECT_EQ(count_allowed(a, "192.0.2.2", limits, 10), 3);
  EXPECT_EQ(count_allowed(b, "192.0.2.1", limits, 10), 3);
  // A client key containing the separator cannot collide with another client.
  EXPECT_EQ(count_allowed(a, "x/1", limits, 10), 3);
  EXPECT_EQ(count_allowed(a, "1", limits, 10), 3);
}

// ---- sliding window counter -----------------------------------------------------------------

// 8 hits in the previous window [1140, 1200), then as many hits as pass at `now`.
int sliding_allowed_at(std::int64_t now, RateDecision* first = nullptr) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn(), RateStrategy::kSlidingWindowCounter);
  auto limits = parse_limits("10/minute");
  clock.now = 1140;
  EXPECT_EQ(count_allowed(limiter, "c", limits, 8), 8);
  clock.now = now;
  RateDecision d = limiter.hit("c", limits);
  if (first != nullptr) *first = d;
  return (d.allowed ? 1 : 0) + count_allowed(limiter, "c", limits, 30);
}

TEST(RateLimiterSlidingWindow, PreviousWindowWeightsByTimeLeft) {
  RateDecision d;
  EXPECT_EQ(sliding_allowed_at(1200, &d), 2);  // 0 % in: weight 8
  EXPECT_EQ(d.remaining, 1);
  EXPECT_EQ(sliding_allowed_at(1215, &d), 4);  // 25 %: floor(8 * 0.75) = 6
  EXPECT_EQ(d.remaining, 3);
  EXPECT_EQ(d.reset_epoch_s, 1260);
  EXPECT_EQ(sliding_allowed_at(1230, &d), 6);  // 50 %: 4
  EXPECT_EQ(d.remaining, 5);
  EXPECT_EQ(sliding_allowed_at(1245, &d), 8);  // 75 %: 2
  EXPECT_EQ(d.remaining, 7);
  EXPECT_EQ(sliding_allowed_at(1260, &d), 10);  // the previous window has aged out
  EXPECT_EQ(sliding_allowed_at(1259, &d), 10);  // floor(8 / 60) = 0: the floor, as in `limits`
}

TEST(RateLimiterSlidingWindow, RetryAfterWithinTheWindow) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn(), RateStrategy::kSlidingWindowCounter);
  auto limits = parse_limits("10/minute");
  clock.now = 1140;
  EXPECT_EQ(count_allowed(limiter, "c", limits, 8), 8);
  clock.now = 1215;
  EXPECT_EQ(count_allowed(limiter, "c", limits, 4), 4);
  RateDecision d = limiter.hit("c", limits);
  EXPECT_FALSE(d.allowed);
  // floor(8 * 44 / 60) = 5 at 1216, and 5 + 4 + 1 <= 10.
  EXPECT_EQ(d.retry_after_s, 1);
  EXPECT_EQ(d.reset_epoch_s, 1216);
  clock.now = 1216;
  EXPECT_TRUE(limiter.hit("c", limits).allowed);
  EXPECT_FALSE(limiter.hit("c", limits).allowed);
}

TEST(RateLimiterSlidingWindow, RetryAfterIntoTheNextWindow) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn(), RateStrategy::kSlidingWindowCounter);
  auto limits = parse_limits("2/minute");
  EXPECT_TRUE(limiter.hit("c", limits).allowed);
  RateDecision d = limiter.hit("c", limits);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 0);
  EXPECT_EQ(d.reset_epoch_s, 1261);
  d = limiter.hit("c", limits);
  EXPECT_FALSE(d.allowed);
  // At 1260 the previous window still weighs 2; at 1261 floor(2 * 59 / 60) = 1 leaves room.
  EXPECT_EQ(d.retry_after_s, 61);
  clock.now = 1260;
  EXPECT_FALSE(limiter.hit("c", limits).allowed);
  clock.now = 1261;
  EXPECT_TRUE(limiter.hit("c", limits).allowed);
  EXPECT_FALSE(limiter.hit("c", limits).allowed);
}

TEST(RateLimiterSlidingWindow, ExactlyNOfMPassAndRefusalsAreNotCounted) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn(), RateStrategy::kSlidingWindowCounter, "P");
  auto limits = parse_limits("5/minute");
  EXPECT_EQ(count_allowed(limiter, "c", limits, 20), 5);
  EXPECT_EQ(store.get("P/5/60/20/c", clock.now), 5);
}

// ---- concurrency and failures ---------------------------------------------------------------

void hammer(RateStrategy strategy) {
  MemoryRateStore store;
  FakeClock clock;
  RateLimiter limiter(store, clock.fn(), strategy);
  auto limits = parse_limits("50/minute;1000/day");
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (limiter.hit("shared", limits).allowed) ++allowed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(allowed.load(), 50);
}

TEST(RateLimiterConcurrency, FixedWindowExactlyNAllowed) { hammer(RateStrategy::kFixedWindow); }
TEST(RateLimiterConcurrency, SlidingWindowExactlyNAllowed) {
  hammer(RateStrategy::kSlidingWindowCounter);
}

class ThrowingStore : public RateStore {
 public:
  explicit ThrowingStore(bool typed) : typed_(typed) {}
  std::int64_t incr(const std::string&, std::int64_t, std::int64_t, std::int64_t) override {
    if (typed_) throw RateStoreError("socache full");
    throw std::runtime_error("connection refused");
  }
  std::int64_t get(const std::string&, std::int64_t) override { return 0; }

 private:
  bool typed_;
};

TEST(RateLimiterStoreErrors, AnyStoreFailureBecomesRateStoreError) {
  FakeClock clock;
  for (bool typed : {true, false}) {
    for (auto strategy : {RateStrategy::kFixedWindow, RateStrategy::kSlidingWindowCounter}) {
      ThrowingStore store(typed);
      RateLimiter limiter(store, clock.fn(), strategy);
      try {
        limiter.hit("c", parse_limits("1/second"));
        FAIL() << "no exception";
      } catch (const RateStoreError& e) {
        EXPECT_NE(std::string(e.what()).find(typed ? "socache full" : "connection refused"),
                  std::string::npos);
      }
    }
  }
}

// The limiter sends a hit's operations in one apply() (one lock hold or Redis round trip), and a
// refused hit's undo in a second one; a store answering the wrong number of values is an error.
class CountingStore : public MemoryRateStore {
 public:
  std::vector<std::int64_t> apply(const std::vector<CounterOp>& ops, std::int64_t now_s) override {
    batches.push_back(ops.size());
    std::vector<std::int64_t> v = MemoryRateStore::apply(ops, now_s);
    if (drop_one) v.pop_back();
    return v;
  }
  std::vector<std::size_t> batches;
  bool drop_one = false;
};

TEST(RateLimiterStoreCalls, OneBatchPerAllowedHitTwoPerRefusedHit) {
  FakeClock clock;
  CountingStore fixed;
  RateLimiter a(fixed, clock.fn());
  auto limits = parse_limits("2/minute;10/hour");
  EXPECT_TRUE(a.hit("c", limits).allowed);
  EXPECT_TRUE(a.hit("c", limits).allowed);
  EXPECT_FALSE(a.hit("c", limits).allowed);
  EXPECT_EQ(fixed.batches, (std::vector<std::size_t>{2, 2, 2, 2}));  // the third hit: hits, then undo
  EXPECT_EQ(fixed.get("LIMITER/10/3600/0/c", clock.now), 2);          // the refused hit is not counted

  CountingStore sliding;
  RateLimiter b(sliding, clock.fn(), RateStrategy::kSlidingWindowCounter);
  EXPECT_TRUE(b.hit("c", limits).allowed);
  EXPECT_EQ(sliding.batches, (std::vector<std::size_t>{4}));  // two reads and two increments

  CountingStore broken;
  broken.drop_one = true;
  RateLimiter c(broken, clock.fn());
  EXPECT_THROW(c.hit("c", limits), RateStoreError);
}

// A store lost between the hit and its undo (Redis gone) must not turn a refusal into a pass or a
// store error: the limit holds, only the count stays one too high.
class UndoFailingStore : public MemoryRateStore {
 public:
  std::vector<std::int64_t> apply(const std::vector<CounterOp>& ops, std::int64_t now_s) override {
    if (!ops.empty() && ops.front().delta < 0) throw std::runtime_error("connection closed");
    return MemoryRateStore::apply(ops, now_s);
  }
};

TEST(RateLimiterStoreCalls, ARefusalStandsWhenItsUndoFails) {
  FakeClock clock;
  UndoFailingStore store;
  RateLimiter limiter(store, clock.fn());
  auto limits = parse_limits("1/minute");
  EXPECT_TRUE(limiter.hit("c", limits).allowed);
  RateDecision d = limiter.hit("c", limits);
  EXPECT_FALSE(d.allowed);
  EXPECT_GT(d.retry_after_s, 0);
}

}  // namespace
}  // namespace flaskpp::core
