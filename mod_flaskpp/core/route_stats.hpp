// Per-route request counters for the status page (FlaskppStatus), summed over every child process.
//
// RouteStats is a view on a memory block the caller provides: in the module an anonymous shared
// memory segment the parent creates before forking the children (glue/status.cpp), in the tests a
// plain buffer or an mmap shared across fork(). The block holds a header and one slot per route:
// hit, 4xx and 5xx counters and a latency histogram, all std::atomic<uint64_t> updated with
// relaxed fetch_add. Such an atomic is lock-free on every platform we build for (checked below),
// so it is plain memory that works across processes and needs no lock on the request path.
//
// Latency buckets are log-spaced from 10 us to 60 s (the Renard R10 series: ten per decade, each
// about 26% above the previous one), plus one bucket for everything slower. Percentiles are
// reported as the upper bound of the bucket they fall in, so they are never under-estimated and
// are at most one bucket (26%) too high.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace flaskpp::core {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "route statistics need lock-free 64-bit atomics: they live in memory shared by processes");

namespace latency {
// Upper bounds (inclusive) of the histogram's buckets, in microseconds: 10, 12, 16, 20, 25, 31,
// 40, 50, 63, 80, 100, 125, ... 8 s, 10 s, ... 50 s, 60 s. Bucket i holds latencies in
// (bound(i-1), bound(i)]; bucket kBounds (the last) holds everything above 60 s.
constexpr std::size_t kBounds = 69;
constexpr std::size_t kBuckets = kBounds + 1;
constexpr std::uint64_t kMaxBoundUs = 60'000'000;
std::uint64_t bound_us(std::size_t bucket);  // bucket < kBounds
std::size_t bucket_of(std::uint64_t us);
}  // namespace latency

// One route's numbers at one moment. A percentile is empty when the route has no answers yet or
// when it lies above the last bound (60 s).
struct RouteSnapshot {
  std::uint64_t hits = 0;
  std::uint64_t status_4xx = 0;
  std::uint64_t status_5xx = 0;
  std::array<std::uint64_t, latency::kBuckets> buckets{};
  std::optional<std::uint64_t> p50_us;
  std::optional<std::uint64_t> p99_us;
  bool p50_over_max = false;  // the percentile lies above 60 s
  bool p99_over_max = false;
};

// The upper bound of the bucket holding the `permille`-th per mille of `buckets` (500: median,
// 990: p99); empty when the buckets are all zero or the rank falls into the overflow bucket, in
// which case *over_max is set.
std::optional<std::uint64_t> percentile_us(const std::array<std::uint64_t, latency::kBuckets>& buckets,
                                           unsigned permille, bool* over_max = nullptr);

class RouteStats {
 public:
  // Bytes a block for `slots` routes needs (header included).
  static std::size_t bytes_needed(std::size_t slots);
  // Lays out a zeroed block of at least bytes_needed(slots) bytes, aligned to 64, for `slots`
  // routes. `created_unix` is reported as the start of counting. Throws std::invalid_argument
  // when the block is too small or misaligned.
  static RouteStats create(void* block, std::size_t bytes, std::size_t slots, std::int64_t created_unix);

  RouteStats() = default;  // counts nothing: record() is a no-op, snapshot() all zeros
  bool valid() const { return header_ != nullptr; }
  std::size_t slots() const;
  std::int64_t created_unix() const;

  // One answer of route `slot` with HTTP status `status`, `latency_us` after the request began.
  // Thread- and process-safe, lock-free, never throws; an out-of-range slot is ignored. const like
  // a pointer: the view stays the same, the atomic counters it points to change.
  void record(std::size_t slot, int status, std::uint64_t latency_us) const noexcept;
  RouteSnapshot snapshot(std::size_t slot) const;

 private:
  struct Header;
  struct Slot;
  explicit RouteStats(Header* header) : header_(header) {}
  Slot* slot_at(std::size_t slot) const;

  Header* header_ = nullptr;  // in the caller's block; not owned
};

}  // namespace flaskpp::core
