// core::RouteStats: counters and latency histograms in a caller-given block, shared by threads
// and, as in the module, by processes (an anonymous shared mapping inherited through fork()).
#include "core/route_stats.hpp"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

using flaskpp::core::RouteSnapshot;
using flaskpp::core::RouteStats;
namespace latency = flaskpp::core::latency;

// A zeroed, 64-byte aligned heap block.
struct Block {
  explicit Block(std::size_t slots) : bytes(RouteStats::bytes_needed(slots)) {
    mem = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    std::memset(mem, 0, bytes);
  }
  ~Block() { std::free(mem); }
  std::size_t bytes;
  void* mem;
};

TEST(RouteStats, BucketBoundsAreLogSpacedFrom10usTo60s) {
  EXPECT_EQ(latency::bound_us(0), 10u);
  EXPECT_EQ(latency::bound_us(10), 100u);
  EXPECT_EQ(latency::bound_us(20), 1000u);
  EXPECT_EQ(latency::bound_us(30), 10000u);
  EXPECT_EQ(latency::bound_us(60), 10000000u);
  EXPECT_EQ(latency::bound_us(latency::kBounds - 1), 60000000u);
  for (std::size_t i = 1; i < latency::kBounds; ++i) {
    EXPECT_GT(latency::bound_us(i), latency::bound_us(i - 1)) << i;
    // R10: about 26% apart (up to a third where whole microseconds round the first decade).
    EXPECT_LE(latency::bound_us(i) * 3, latency::bound_us(i - 1) * 4) << i;
  }
}

TEST(RouteStats, BucketOfIncludesTheUpperBound) {
  EXPECT_EQ(latency::bucket_of(0), 0u);
  EXPECT_EQ(latency::bucket_of(10), 0u);
  EXPECT_EQ(latency::bucket_of(11), 1u);
  EXPECT_EQ(latency::bucket_of(100), 10u);
  EXPECT_EQ(latency::bucket_of(101), 11u);
  EXPECT_EQ(latency::bucket_of(60000000), latency::kBounds - 1);
  EXPECT_EQ(latency::bucket_of(60000001), latency::kBounds);  // overflow
  EXPECT_EQ(latency::bucket_of(UINT64_MAX), latency::kBounds);
}

TEST(RouteStats, CountsHitsAndStatusClassesPerSlot) {
  Block b(3);
  RouteStats stats = RouteStats::create(b.mem, b.bytes, 3, 1700000000);
  EXPECT_TRUE(stats.valid());
  EXPECT_EQ(stats.slots(), 3u);
  EXPECT_EQ(stats.created_unix(), 1700000000);
  stats.record(0, 200, 50);
  stats.record(0, 404, 50);
  stats.record(0, 308, 50);
  stats.record(2, 500, 70);
  stats.record(2, 503, 70);
  stats.record(2, 499, 70);
  stats.record(3, 200, 1);  // out of range: ignored
  RouteSnapshot s0 = stats.snapshot(0), s1 = stats.snapshot(1), s2 = stats.snapshot(2);
  EXPECT_EQ(s0.hits, 3u);
  EXPECT_EQ(s0.status_4xx, 1u);
  EXPECT_EQ(s0.status_5xx, 0u);
  EXPECT_EQ(s1.hits, 0u);
  EXPECT_FALSE(s1.p50_us.has_value());
  EXPECT_FALSE(s1.p50_over_max);
  EXPECT_EQ(s2.hits, 3u);
  EXPECT_EQ(s2.status_4xx, 1u);
  EXPECT_EQ(s2.status_5xx, 2u);
  EXPECT_EQ(stats.snapshot(3).hits, 0u);
}

TEST(RouteStats, PercentilesFromAKnownDistribution) {
  Block b(1);
  RouteStats stats = RouteStats::create(b.mem, b.bytes, 1, 0);
  // 900 fast answers (90-100 us), 90 at 1 ms, 10 at 1 s: p50 in the 100 us bucket, p99 exactly at
  // the 990th answer, in the 1 ms bucket.
  for (int i = 0; i < 900; ++i) stats.record(0, 200, 90 + i % 11);
  for (int i = 0; i < 90; ++i) stats.record(0, 200, 1000);
  for (int i = 0; i < 10; ++i) stats.record(0, 200, 1000000);
  RouteSnapshot s = stats.snapshot(0);
  EXPECT_EQ(s.hits, 1000u);
  ASSERT_TRUE(s.p50_us.has_value());
  ASSERT_TRUE(s.p99_us.has_value());
  EXPECT_EQ(*s.p50_us, 100u);
  EXPECT_EQ(*s.p99_us, 1000u);
  // One more slow answer moves the 990th-ranked one (ceil(0.99 * 1001) = 991) to 1 s.
  stats.record(0, 200, 999999);
  s = stats.snapshot(0);
  EXPECT_EQ(*s.p99_us, 1000000u);
  EXPECT_EQ(*s.p50_us, 100u);
}

TEST(RouteStats, PercentileRankIsCeiling) {
  std::array<std::uint64_t, latency::kBuckets> buckets{};
  buckets[0] = 1;  // one answer at <= 10 us
  EXPECT_EQ(flaskpp::core::percentile_us(buckets, 500), 10u);
  EXPECT_EQ(flaskpp::core::percentile_us(buckets, 990), 10u);
  buckets[20] = 1;  // and one at <= 1 ms: the median is the first (rank ceil(1) = 1), p99 the second
  EXPECT_EQ(flaskpp::core::percentile_us(buckets, 500), 10u);
  EXPECT_EQ(flaskpp::core::percentile_us(buckets, 990), 1000u);
  buckets[0] = 0;
  buckets[20] = 0;
  EXPECT_FALSE(flaskpp::core::percentile_us(buckets, 500).has_value());
}

TEST(RouteStats, PercentilesAboveTheLastBoundAreEmptyAndFlagged) {
  Block b(1);
  RouteStats stats = RouteStats::create(b.mem, b.bytes, 1, 0);
  stats.record(0, 200, 61000000);
  stats.record(0, 200, 120000000);
  stats.record(0, 200, 100);
  RouteSnapshot s = stats.snapshot(0);
  EXPECT_FALSE(s.p50_us.has_value());
  EXPECT_TRUE(s.p50_over_max);
  EXPECT_FALSE(s.p99_us.has_value());
  EXPECT_TRUE(s.p99_over_max);
  EXPECT_EQ(s.buckets[latency::kBounds], 2u);
}

TEST(RouteStats, ConcurrentRecordsFromManyThreadsAreAllCounted) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50000;
  Block b(4);
  RouteStats stats = RouteStats::create(b.mem, b.bytes, 4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&stats, t] {
      for (int i = 0; i < kPerThread; ++i) {
        int status = i % 10 == 0 ? 404 : i % 25 == 0 ? 500 : 200;
        stats.record(static_cast<std::size_t>(i % 2), status, static_cast<std::uint64_t>(t * 100 + i % 1000));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::uint64_t hits = 0, c4 = 0, c5 = 0, in_buckets = 0;
  for (std::size_t slot = 0; slot < 4; ++slot) {
    RouteSnapshot s = stats.snapshot(slot);
    hits += s.hits;
    c4 += s.status_4xx;
    c5 += s.status_5xx;
    for (auto n : s.buckets) in_buckets += n;
  }
  EXPECT_EQ(hits, std::uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(in_buckets, hits);
  EXPECT_EQ(c4, std::uint64_t{kThreads} * (kPerThread / 10));
  // i % 25 == 0 and not i % 10 == 0: i % 50 == 25.
  EXPECT_EQ(c5, std::uint64_t{kThreads} * (kPerThread / 50));
  EXPECT_EQ(stats.snapshot(0).hits, std::uint64_t{kThreads} * kPerThread / 2);
  EXPECT_EQ(stats.snapshot(2).hits, 0u);
}

TEST(RouteStats, ASharedBlockSumsOverForkedProcesses) {
  constexpr int kChildren = 4;
  constexpr int kPerChild = 20000;
  const std::size_t bytes = RouteStats::bytes_needed(2);
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  RouteStats stats = RouteStats::create(mem, bytes, 2, 0);  // before fork, as post_config does
  std::vector<pid_t> pids;
  for (int c = 0; c < kChildren; ++c) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Two threads per child, as Apache's threaded children have.
      auto work = [&stats] {
        for (int i = 0; i < kPerChild / 2; ++i) stats.record(1, i % 4 == 0 ? 503 : 200, 5000);
      };
      std::thread t1(work), t2(work);
      t1.join();
      t2.join();
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  stats.record(0, 200, 20);  // the parent counts too
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  RouteSnapshot s = stats.snapshot(1);
  EXPECT_EQ(s.hits, std::uint64_t{kChildren} * kPerChild);
  EXPECT_EQ(s.status_5xx, std::uint64_t{kChildren} * kPerChild / 4);
  EXPECT_EQ(s.p50_us, 5000u);
  EXPECT_EQ(s.p99_us, 5000u);
  EXPECT_EQ(stats.snapshot(0).hits, 1u);
  ::munmap(mem, bytes);
}

TEST(RouteStats, RefusesASmallOrMisalignedBlock) {
  Block b(2);
  EXPECT_THROW(RouteStats::create(b.mem, b.bytes - 1, 2, 0), std::invalid_argument);
  EXPECT_THROW(RouteStats::create(static_cast<char*>(b.mem) + 8, b.bytes, 1, 0), std::invalid_argument);
  EXPECT_THROW(RouteStats::create(nullptr, b.bytes, 1, 0), std::invalid_argument);
}

TEST(RouteStats, AnEmptyViewCountsNothing) {
  RouteStats stats;
  EXPECT_FALSE(stats.valid());
  stats.record(0, 200, 10);
  EXPECT_EQ(stats.snapshot(0).hits, 0u);
  EXPECT_EQ(stats.slots(), 0u);
}

}  // namespace
