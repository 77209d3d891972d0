#include "core/rate_limit.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <utility>

#include "core/errors.hpp"

namespace flaskpp::core {

namespace {

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMaxPeriodSeconds = 100LL * 360 * 86400;

struct Unit {
  const char* name;
  std::int64_t seconds;
};
// Values as the `limits` library defines them, so a limit means the same as under Flask-Limiter.
constexpr Unit kUnits[] = {
    {"second", 1},          {"minute", 60},
    {"hour", 3600},         {"day", 86400},
    {"month", 86400 * 30},  {"year", 86400 * 30 * 12},
};

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

[[noreturn]] void refuse(const std::string& part, const std::string& why) {
  throw ConfigError("invalid rate limit \"" + part + "\": " + why);
}

// Reads a run of digits at pos into out; false (out unchanged) when there is none. Refuses values beyond int64.
bool read_number(const std::string& part, std::size_t& pos, std::int64_t& out) {
  std::size_t start = pos;
  std::int64_t value = 0;
  while (pos < part.size() && std::isdigit(static_cast<unsigned char>(part[pos]))) {
    int digit = part[pos] - '0';
    if (value > (kMaxInt - digit) / 10) refuse(part, "number too large");
    value = value * 10 + digit;
    ++pos;
  }
  if (pos == start) return false;  // out untouched, so a default multiple of 1 survives
  out = value;
  return true;
}

void skip_spaces(const std::string& part, std::size_t& pos) {
  while (pos < part.size() && is_space(part[pos])) ++pos;
}

RateLimit parse_one(const std::string& part) {
  std::size_t pos = 0;
  RateLimit limit;
  limit.text = part;
  if (!read_number(part, pos, limit.count)) refuse(part, "expected a count such as \"10/minute\"");
  if (limit.count == 0) refuse(part, "a count of 0 would refuse every request");
  skip_spaces(part, pos);
  if (pos < part.size() && part[pos] == '/') {
    ++pos;
  } else if (lower(part.substr(pos, 3)) == "per") {
    pos += 3;
  } else {
    refuse(part, "expected '/' or 'per' after the count");
  }
  skip_spaces(part, pos);
  std::int64_t multiple = 1;
  if (read_number(part, pos, multiple) && multiple == 0) refuse(part, "a period of 0 units");
  skip_spaces(part, pos);
  std::size_t word_start = pos;
  while (pos < part.size() && std::isalpha(static_cast<unsigned char>(part[pos]))) ++pos;
  std::string word = lower(part.substr(word_start, pos - word_start));
  const Unit* unit = nullptr;
  for (const Unit& u : kUnits) {
    if (word == u.name || word == std::string(u.name) + "s") unit = &u;
  }
  if (unit == nullptr) {
    refuse(part, (word.empty() ? std::string("missing unit") : "unknown unit \"" + word + "\"") +
                     " (expected second, minute, hour, day, month or year)");
  }
  skip_spaces(part, pos);
  if (pos != part.size()) refuse(part, "unexpected \"" + part.substr(pos) + "\" after the unit");
  // At most 100 of `limits`' years: window arithmetic (two periods past now, for the sliding
  // window's counter) then stays far from int64's range (the rate_limit fuzzer's finding:
  // "5 per 2888888888888 months" overflowed it).
  if (multiple > kMaxPeriodSeconds / unit->seconds) refuse(part, "period too long (at most 100 years)");
  limit.period_seconds = multiple * unit->seconds;
  return limit;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// floor(prev * (period - elapsed) / period): the previous window's weight in the sliding window
// counter. 128-bit so that large counts times year-long periods cannot overflow.
std::int64_t weighted_previous(std::int64_t prev, std::int64_t elapsed, std::int64_t period) {
  if (prev <= 0) return 0;
  return static_cast<std::int64_t>(static_cast<__int128>(prev) * (period - elapsed) / period);
}

// Smallest elapsed e >= from, e < period, with weighted_previous(prev, e, period) <= allowed_prev;
// period when none. Solves prev * (period - e) < (allowed_prev + 1) * period for e.
std::int64_t first_elapsed_with(std::int64_t prev, std::int64_t allowed_prev, std::int64_t from,
                                std::int64_t period) {
  if (allowed_prev < 0) return period;
  if (prev <= 0) return from;
  __int128 bound = (static_cast<__int128>(allowed_prev) + 1) * period - 1;
  __int128 max_left = bound / prev;  // largest (period - e) that passes
  __int128 e = static_cast<__int128>(period) - std::min<__int128>(max_left, period);
  e = std::max<__int128>(e, from);
  return e >= period ? period : static_cast<std::int64_t>(e);
}

// Calls into the store, turning any failure into RateStoreError for the caller's fail-open/closed
// decision.
template <typename F>
std::int64_t guarded(F&& f) {
  try {
    return f();
  } catch (const RateStoreError&) {
    throw;
  } catch (const std::exception& e) {
    throw RateStoreError(std::string("rate limit store failed: ") + e.what());
  } catch (...) {
    throw RateStoreError("rate limit store failed: unknown error");
  }
}

}  // namespace

std::vector<RateLimit> parse_limits(const std::string& spec) {
  if (trim(spec).empty()) throw ConfigError("empty rate limit specification");
  std::vector<RateLimit> limits;
  std::size_t start = 0;
  while (true) {
    std::size_t end = spec.find_first_of(",;|", start);
    std::string part = trim(spec.substr(start, end == std::string::npos ? end : end - start));
    if (part.empty()) throw ConfigError("empty rate limit between separators in \"" + spec + "\"");
    limits.push_back(parse_one(part));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return limits;
}

RateStore::~RateStore() = default;

std::vector<std::int64_t> RateStore::apply(const std::vector<CounterOp>& ops, std::int64_t now_s) {
  std::vector<std::int64_t> values;
  values.reserve(ops.size());
  for (const CounterOp& op : ops) {
    values.push_back(op.read_only ? get(op.key, now_s) : incr(op.key, op.delta, op.ttl_s, now_s));
  }
  return values;
}

std::int64_t MemoryRateStore::incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s,
                                   std::int64_t now_s) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (++writes_since_sweep_ >= kSweepEvery) sweep_locked(now_s);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.expires_at_s <= now_s) {
    // At least one second, so a counter created at a window's last second is still readable.
    Entry fresh{delta, now_s + std::max<std::int64_t>(ttl_s, 1)};
    if (it == entries_.end()) {
      entries_.emplace(key, fresh);
    } else {
      it->second = fresh;
    }
    return delta;
  }
  it->second.value += delta;
  return it->second.value;
}

std::int64_t MemoryRateStore::get(const std::string& key, std::int64_t now_s) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  if (it->second.expires_at_s <= now_s) {
    entries_.erase(it);
    return 0;
  }
  return it->second.value;
}

std::size_t MemoryRateStore::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void MemoryRateStore::sweep_locked(std::int64_t now_s) {
  writes_since_sweep_ = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->second.expires_at_s <= now_s ? entries_.erase(it) : std::next(it);
  }
}

RateLimiter::RateLimiter(RateStore& store, Clock clock, RateStrategy strategy, std::string prefix)
    : store_(store), clock_(std::move(clock)), strategy_(strategy), prefix_(std::move(prefix)) {}

std::string RateLimiter::key_for(const std::string& client_key, const RateLimit& limit,
                                 std::int64_t window_index) const {
  // Client last: the numeric fields cannot contain '/', so any client string stays unambiguous.
  return prefix_ + "/" + std::to_string(limit.count) + "/" + std::to_string(limit.period_seconds) +
         "/" + std::to_string(window_index) + "/" + client_key;
}

void RateLimiter::plan(const std::string& client_key, const RateLimit& limit, std::int64_t now,
                       std::vector<CounterOp>& ops) const {
  const std::int64_t period = limit.period_seconds;
  const std::int64_t window = floor_div(now, period);
  const std::int64_t window_end = (window + 1) * period;
  if (strategy_ == RateStrategy::kSlidingWindowCounter) {
    ops.push_back(CounterOp{key_for(client_key, limit, window - 1), 0, 0, true});
    // The current counter lives two periods so that it serves as the "previous" counter during
    // the next window.
    ops.push_back(CounterOp{key_for(client_key, limit, window), 1, window_end + period - now, false});
  } else {
    ops.push_back(CounterOp{key_for(client_key, limit, window), 1, window_end - now, false});
  }
}

RateLimiter::Outcome RateLimiter::decide(const RateLimit& limit, std::int64_t now, std::int64_t prev,
                                         std::int64_t current) const {
  const std::int64_t period = limit.period_seconds;
  const std::int64_t window = floor_div(now, period);
  const std::int64_t window_end = (window + 1) * period;
  const std::int64_t elapsed = now - window * period;
  Outcome out{};

  if (strategy_ == RateStrategy::kFixedWindow) {
    out.allowed = current <= limit.count;
    out.remaining = std::max<std::int64_t>(0, limit.count - current);
    out.reset_epoch_s = window_end;
    out.retry_after_s = out.allowed ? 0 : window_end - now;
    return out;
  }

  // Sliding window counter.
  prev = std::max<std::int64_t>(0, prev);
  std::int64_t count = weighted_previous(prev, elapsed, period) + current;
  out.allowed = count <= limit.count;
  out.remaining = std::max<std::int64_t>(0, limit.count - count);
  if (out.remaining > 0) {
    // The previous window stops weighing at the current window's end.
    out.reset_epoch_s = window_end;
    return out;
  }
  // No hit left: find when the next one passes. A refused hit is undone, so it does not count.
  std::int64_t settled = out.allowed ? current : current - 1;
  std::int64_t e = first_elapsed_with(prev, limit.count - 1 - settled, elapsed + 1, period);
  std::int64_t next_pass;
  if (e < period) {
    next_pass = window * period + e;
  } else {
    // In the next window, this window's count becomes the weighted previous one.
    next_pass = window_end + first_elapsed_with(settled, limit.count - 1, 0, period);
  }
  out.reset_epoch_s = next_pass;
  out.retry_after_s = out.allowed ? 0 : next_pass - now;
  return out;
}

RateDecision RateLimiter::hit(const std::string& client_key,
                              const std::vector<RateLimit>& limits) const {
  RateDecision decision;
  if (limits.empty()) return decision;
  const std::int64_t now = clock_();
  // Every limit is hit, even after one refuses, so the reported Retry-After is the longest wait.
  std::vector<CounterOp> ops;
  ops.reserve(limits.size() * 2);
  for (const RateLimit& limit : limits) plan(client_key, limit, now, ops);
  std::vector<std::int64_t> values;
  guarded([&] {
    values = store_.apply(ops, now);
    return std::int64_t{0};
  });
  if (values.size() != ops.size()) throw RateStoreError("rate limit store answered " + std::to_string(values.size()) +
                                                        " values for " + std::to_string(ops.size()) + " operations");
  std::vector<Outcome> outcomes;
  outcomes.reserve(limits.size());
  const bool sliding = strategy_ == RateStrategy::kSlidingWindowCounter;
  for (std::size_t i = 0, op = 0; i < limits.size(); ++i) {
    std::int64_t prev = sliding ? values[op++] : 0;
    outcomes.push_back(decide(limits[i], now, prev, values[op++]));
  }

  bool allowed = std::all_of(outcomes.begin(), outcomes.end(),
                             [](const Outcome& o) { return o.allowed; });
  int chosen = -1;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const Outcome& o = outcomes[i];
    if (!allowed && o.allowed) continue;
    bool better = chosen < 0 ||
                  (allowed ? o.remaining < outcomes[chosen].remaining
                           : o.retry_after_s > outcomes[chosen].retry_after_s);
    if (better) chosen = static_cast<int>(i);
  }
  if (!allowed) {
    std::vector<CounterOp> undo;
    for (const CounterOp& op : ops) {
      if (!op.read_only) undo.push_back(CounterOp{op.key, -op.delta, op.ttl_s, false});
    }
    // The refusal stands even if the undo fails (a store gone between the two calls): the undo
    // only keeps the count exact; letting the hit through instead would break the limit.
    try {
      store_.apply(undo, now);
    } catch (const std::exception&) {
    }
  }
  const Outcome& o = outcomes[chosen];
  decision.allowed = allowed;
  decision.limit_index = chosen;
  decision.limit = limits[chosen].count;
  decision.remaining = o.remaining;
  decision.reset_epoch_s = o.reset_epoch_s;
  decision.retry_after_s = o.retry_after_s;
  return decision;
}

}  // namespace flaskpp::core
