#include "core/route_stats.hpp"

#include <algorithm>
#include <new>
#include <stdexcept>

namespace flaskpp::core {

namespace latency {

namespace {

// Renard R10 mantissas (x1000): each bound is about 10^(1/10) above the previous one.
constexpr std::uint64_t kMantissa[10] = {1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000};

constexpr std::array<std::uint64_t, kBounds> make_bounds() {
  std::array<std::uint64_t, kBounds> b{};
  std::size_t n = 0;
  for (std::uint64_t decade = 10; n + 1 < kBounds; decade *= 10) {  // 10 us, 100 us, ... 10 s
    for (std::uint64_t m : kMantissa) {
      std::uint64_t bound = decade * m / 1000;
      if (bound >= kMaxBoundUs || n + 1 >= kBounds) break;
      b[n++] = bound;
    }
  }
  b[n] = kMaxBoundUs;
  return b;
}

constexpr std::array<std::uint64_t, kBounds> kBoundsUs = make_bounds();
static_assert(kBoundsUs[0] == 10 && kBoundsUs[10] == 100 && kBoundsUs[kBounds - 2] == 50'000'000 &&
                  kBoundsUs[kBounds - 1] == kMaxBoundUs,
              "latency bounds: 10 us ... 50 s, 60 s");

}  // namespace

std::uint64_t bound_us(std::size_t bucket) { return kBoundsUs.at(bucket); }

std::size_t bucket_of(std::uint64_t us) {
  // The first bound >= us; kBounds (overflow) when above every bound.
  return static_cast<std::size_t>(std::lower_bound(kBoundsUs.begin(), kBoundsUs.end(), us) - kBoundsUs.begin());
}

}  // namespace latency

namespace {
constexpr std::uint64_t kMagic = 0x46505053'54415431ULL;  // "FPPSTAT1"
constexpr std::size_t kAlign = 64;                          // a cache line: slots never share one
}  // namespace

struct alignas(kAlign) RouteStats::Header {
  std::uint64_t magic;
  std::uint64_t slots;
  std::int64_t created_unix;
};

struct alignas(kAlign) RouteStats::Slot {
  std::atomic<std::uint64_t> hits;
  std::atomic<std::uint64_t> status_4xx;
  std::atomic<std::uint64_t> status_5xx;
  std::atomic<std::uint64_t> buckets[latency::kBuckets];
};

std::optional<std::uint64_t> percentile_us(const std::array<std::uint64_t, latency::kBuckets>& buckets,
                                           unsigned permille, bool* over_max) {
  if (over_max) *over_max = false;
  std::uint64_t total = 0;
  for (std::uint64_t n : buckets) total += n;
  if (total == 0) return std::nullopt;
  // The rank of the percentile: ceil(total * permille / 1000), at least 1.
  std::uint64_t rank = total - total / 1000 * (1000 - permille) - (total % 1000) * (1000 - permille) / 1000;
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < latency::kBounds; ++i) {
    seen += buckets[i];
    if (seen >= rank) return latency::bound_us(i);
  }
  if (over_max) *over_max = true;
  return std::nullopt;
}

std::size_t RouteStats::bytes_needed(std::size_t slots) { return sizeof(Header) + slots * sizeof(Slot); }

RouteStats RouteStats::create(void* block, std::size_t bytes, std::size_t slots, std::int64_t created_unix) {
  if (!block || reinterpret_cast<std::uintptr_t>(block) % kAlign != 0) {
    throw std::invalid_argument("route statistics: the memory block is not aligned to 64 bytes");
  }
  if (bytes < bytes_needed(slots)) throw std::invalid_argument("route statistics: the memory block is too small");
  auto* header = new (block) Header{kMagic, slots, created_unix};
  auto* first = reinterpret_cast<Slot*>(static_cast<char*>(block) + sizeof(Header));
  for (std::size_t i = 0; i < slots; ++i) {
    Slot* s = new (first + i) Slot;
    s->hits.store(0, std::memory_order_relaxed);
    s->status_4xx.store(0, std::memory_order_relaxed);
    s->status_5xx.store(0, std::memory_order_relaxed);
    for (auto& b : s->buckets) b.store(0, std::memory_order_relaxed);
  }
  return RouteStats(header);
}

std::size_t RouteStats::slots() const { return header_ ? static_cast<std::size_t>(header_->slots) : 0; }

std::int64_t RouteStats::created_unix() const { return header_ ? header_->created_unix : 0; }

RouteStats::Slot* RouteStats::slot_at(std::size_t slot) const {
  if (!header_ || slot >= header_->slots) return nullptr;
  return reinterpret_cast<Slot*>(reinterpret_cast<char*>(header_) + sizeof(Header)) + slot;
}

void RouteStats::record(std::size_t slot, int status, std::uint64_t latency_us) const noexcept {
  Slot* s = slot_at(slot);
  if (!s) return;
  s->hits.fetch_add(1, std::memory_order_relaxed);
  if (status >= 400 && status < 500) s->status_4xx.fetch_add(1, std::memory_order_relaxed);
  else if (status >= 500 && status < 600) s->status_5xx.fetch_add(1, std::memory_order_relaxed);
  s->buckets[latency::bucket_of(latency_us)].fetch_add(1, std::memory_order_relaxed);
}

RouteSnapshot RouteStats::snapshot(std::size_t slot) const {
  RouteSnapshot snap;
  const Slot* s = slot_at(slot);
  if (!s) return snap;
  // Relaxed reads while other processes count: each number is exact for some moment, and they
  // may be a few answers apart from each other; percentiles use the buckets only.
  snap.hits = s->hits.load(std::memory_order_relaxed);
  snap.status_4xx = s->status_4xx.load(std::memory_order_relaxed);
  snap.status_5xx = s->status_5xx.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < latency::kBuckets; ++i) snap.buckets[i] = s->buckets[i].load(std::memory_order_relaxed);
  snap.p50_us = percentile_us(snap.buckets, 500, &snap.p50_over_max);
  snap.p99_us = percentile_us(snap.buckets, 990, &snap.p99_over_max);
  return snap;
}

}  // namespace flaskpp::core
