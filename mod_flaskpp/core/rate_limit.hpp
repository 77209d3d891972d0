// Rate limiting with Flask-Limiter's limit strings, over an abstract counter store. Apache-free:
// the socache and Redis backends implement RateStore elsewhere; tests use MemoryRateStore and a
// fake clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace flaskpp::core {

// One "N per M units" limit. Immutable after parse_limits, so shared read-only across threads.
struct RateLimit {
  std::int64_t count = 0;           // hits allowed per window
  std::int64_t period_seconds = 0;  // window length in seconds (multiple * unit)
  std::string text;                 // the part as written, trimmed, for messages and logs
};

// Parses Flask-Limiter's (the `limits` library's) notation: parts separated by ';', ',' or '|',
// each "N/unit", "N per unit", "N/M units" or "N per M units"; units second, minute, hour, day,
// month (30 days), year (360 days: `limits` defines a year as 12 of its 30-day months), singular or
// plural, case-insensitive. Stricter than `limits` on purpose: a 0 count or a 0 multiple is
// refused, since it would block every request by accident. Throws ConfigError naming the bad part.
std::vector<RateLimit> parse_limits(const std::string& spec);

// A store failed (socache full, Redis down, ...). The limiter rethrows every store exception as
// this type, so the caller decides to fail open (let the request through) or closed (503).
class RateStoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One step of RateStore::apply: add delta to key's counter (as incr), or read it (as get).
struct CounterOp {
  std::string key;
  std::int64_t delta = 0;
  std::int64_t ttl_s = 0;
  bool read_only = false;  // get: never creates the counter
};

// Counters with an expiry: the operations every backend (shared-memory table, socache, Redis
// INCRBY+EXPIRE) can do atomically. Times are epoch seconds from the limiter's clock, passed in so
// backends and tests need no clock of their own. Implementations must be thread-safe.
class RateStore {
 public:
  virtual ~RateStore();
  // Atomically adds delta (may be negative, to undo a hit) to key's counter and returns the new
  // value. A missing or expired counter starts from 0 and expires ttl_s seconds after now_s; an
  // existing counter keeps its expiry.
  virtual std::int64_t incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s,
                            std::int64_t now_s) = 0;
  // The counter's value, 0 when missing or expired.
  virtual std::int64_t get(const std::string& key, std::int64_t now_s) = 0;
  // The ops in order, as one step where the backend can (one lock hold, one network round trip);
  // returns each op's value after it. The default calls incr and get one by one.
  virtual std::vector<std::int64_t> apply(const std::vector<CounterOp>& ops, std::int64_t now_s);
};

// In-process store: one mutex over a map. Exact across threads, not across processes; for tests
// and single-process servers. Expired entries are dropped when touched and swept every
// kSweepEvery writes, so the map stays bounded by the live keys.
class MemoryRateStore : public RateStore {
 public:
  std::int64_t incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s,
                    std::int64_t now_s) override;
  std::int64_t get(const std::string& key, std::int64_t now_s) override;
  std::size_t size() const;  // live and not-yet-swept entries, for tests

 private:
  static constexpr std::size_t kSweepEvery = 1024;
  struct Entry {
    std::int64_t value;
    std::int64_t expires_at_s;  // epoch seconds; the entry is gone at and after this instant
  };
  void sweep_locked(std::int64_t now_s);

  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::size_t writes_since_sweep_ = 0;
};

enum class RateStrategy {
  // Windows aligned on multiples of the period since the epoch; key = prefix/limit/window-start.
  // Cheapest, but allows up to 2N hits across a window edge.
  kFixedWindow,
  // `limits`' "sliding window counter": count = floor(previous * (1 - elapsed/period)) + current,
  // smoothing the edge burst at the cost of one extra read per limit.
  kSlidingWindowCounter,
};

// What hit() decided, with the values for X-RateLimit-Limit/-Remaining/-Reset and Retry-After.
struct RateDecision {
  bool allowed = true;
  // Index in the limits vector of the limit reported below: when refused, the refusing limit
  // that frees up last; when allowed, the one with the fewest hits remaining. -1 when no limits.
  int limit_index = -1;
  std::int64_t limit = 0;          // that limit's count
  std::int64_t remaining = 0;      // hits left under that limit after this one, >= 0
  // Epoch seconds for X-RateLimit-Reset. Fixed window: the window's end. Sliding window counter:
  // the current window's end while hits remain (the previous window stops weighing then), else
  // the first second at which a hit passes again.
  std::int64_t reset_epoch_s = 0;
  std::int64_t retry_after_s = 0;  // seconds until a hit can pass; 0 when allowed
};

// Counts hits per client against a list of limits. Thread-safe when its store is; holds no
// mutable state of its own. Exactness across processes comes from the store's atomic incr.
//
// A refused hit is not counted on any limit: hit() increments every limit, and if one refuses it
// undoes its increments. The increments (and the sliding window's reads) go to the store in one
// apply(): one lock hold or round trip per allowed hit, a second one to undo a refused hit. So "N per period" lets exactly N of M requests through, a client hammering
// a short limit does not burn its long limits ("10/minute;100/day"), and the result does not
// depend on the order of the limits. `limits`' sliding window counter behaves the same; its fixed
// window keeps counting refused hits, which only lengthens lock-outs, so we do not copy it.
class RateLimiter {
 public:
  using Clock = std::function<std::int64_t()>;  // epoch seconds

  // store must outlive the limiter. prefix namespaces the keys (e.g. per route pattern).
  RateLimiter(RateStore& store, Clock clock, RateStrategy strategy = RateStrategy::kFixedWindow,
              std::string prefix = "LIMITER");

  // Records one hit by client_key against every limit. Throws RateStoreError if the store fails
  // (hits already counted by then are not undone: the store is presumed unreachable).
  RateDecision hit(const std::string& client_key, const std::vector<RateLimit>& limits) const;

 private:
  struct Outcome {
    bool allowed;
    std::int64_t remaining;
    std::int64_t reset_epoch_s;
    std::int64_t retry_after_s;
  };
  // Appends the ops one limit needs (sliding window: read the previous window, then increment;
  // fixed window: increment).
  void plan(const std::string& client_key, const RateLimit& limit, std::int64_t now,
            std::vector<CounterOp>& ops) const;
  // The limit's outcome from its ops' values (prev is 0 for a fixed window).
  Outcome decide(const RateLimit& limit, std::int64_t now, std::int64_t prev, std::int64_t current) const;
  std::string key_for(const std::string& client_key, const RateLimit& limit,
                      std::int64_t window_index) const;

  RateStore& store_;
  Clock clock_;
  RateStrategy strategy_;
  std::string prefix_;
};

}  // namespace flaskpp::core
