// The rate limiter's shared-memory counter table (core/counter_table.hpp): exact counts, expiry,
// no eviction of live counters (the shmcb defect the soak found), a loud error when full, and
// exactness across forked processes sharing the memory, as Apache's children do.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/counter_table.hpp"
#include "core/rate_limit.hpp"

using flaskpp::core::CounterTable;
using flaskpp::core::RateLimit;
using flaskpp::core::RateLimiter;
using flaskpp::core::RateStore;
using flaskpp::core::RateStoreError;

namespace {

struct Memory {
  explicit Memory(std::size_t slots) : bytes(std::vector<std::uint64_t>(CounterTable::bytes_for(slots) / 8 + 1)) {}
  void* get() { return bytes.data(); }
  std::vector<std::uint64_t> bytes;
};

class TableStore : public RateStore {
 public:
  explicit TableStore(CounterTable t) : t_(t) {}
  std::int64_t incr(const std::string& k, std::int64_t d, std::int64_t ttl, std::int64_t now) override {
    return t_.incr(k, d, ttl, now);
  }
  std::int64_t get(const std::string& k, std::int64_t now) override { return t_.get(k, now); }

 private:
  CounterTable t_;
};

}  // namespace

TEST(SipHash, ReferenceVectors) {
  // From the SipHash paper's reference implementation (vectors.h): key 00..0f, messages 00..(n-1).
  const std::uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
  unsigned char msg[64];
  for (int i = 0; i < 64; ++i) msg[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(flaskpp::core::siphash24(k0, k1, msg, 0), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(flaskpp::core::siphash24(k0, k1, msg, 1), 0x74f839c593dc67fdULL);
  EXPECT_EQ(flaskpp::core::siphash24(k0, k1, msg, 15), 0xa129ca6149be45e5ULL);
  EXPECT_EQ(flaskpp::core::siphash24(k0, k1, msg, 63), 0x958a324ceb064572ULL);
}

TEST(CounterTable, CountsExpiresAndStartsAgain) {
  Memory m(256);
  CounterTable t = CounterTable::format(m.get(), 256, 42);
  EXPECT_EQ(t.slots(), 256u);
  EXPECT_EQ(t.get("a", 100), 0);
  EXPECT_EQ(t.incr("a", 1, 10, 100), 1);
  EXPECT_EQ(t.incr("a", 1, 99, 105), 2);  // an existing counter keeps its expiry (110)
  EXPECT_EQ(t.incr("a", -1, 10, 106), 1);
  EXPECT_EQ(t.get("a", 109), 1);
  EXPECT_EQ(t.get("a", 110), 0);          // gone at its expiry
  EXPECT_EQ(t.incr("a", 1, 10, 110), 1);  // and starts from zero
  EXPECT_EQ(t.get("b", 110), 0);
  EXPECT_EQ(t.live(110), 1u);
  // Another handle on the same memory (a child after fork) sees the same counters.
  CounterTable again = CounterTable::attach(m.get());
  EXPECT_EQ(again.get("a", 111), 1);
}

TEST(CounterTable, AttachRefusesUnformattedMemory) {
  Memory m(64);
  EXPECT_THROW(CounterTable::attach(m.get()), RateStoreError);
  EXPECT_THROW(CounterTable::format(m.get(), 10, 1), RateStoreError);
  EXPECT_EQ(CounterTable::slots_for(CounterTable::bytes_for(64)), 64u);
  EXPECT_EQ(CounterTable::slots_for(CounterTable::bytes_for(63)), 0u);
}

// The soak's finding against shmcb: a busy counter and a stream of short-lived keys must not push
// a quiet, long-lived counter out. Here 200 quiet day-long counters survive a million writes.
TEST(CounterTable, BusyKeysNeverEvictALiveCounter) {
  const std::size_t slots = 1024;
  Memory m(slots);
  CounterTable t = CounterTable::format(m.get(), slots, 7);
  for (int q = 0; q < 200; ++q) t.incr("quiet/" + std::to_string(q), q + 1, 86400, 1000);
  std::int64_t now = 1000;
  for (int i = 0; i < 1000000; ++i) {
    if (i % 1000 == 0) ++now;  // one-second windows: their keys expire and their slots are reused
    t.incr("busy", 1, 86400, now);
    t.incr("short/" + std::to_string(now) + "/" + std::to_string(i % 300), 1, 1, now);
  }
  for (int q = 0; q < 200; ++q) EXPECT_EQ(t.get("quiet/" + std::to_string(q), now), q + 1) << q;
  EXPECT_EQ(t.get("busy", now), 1000000);
}

TEST(CounterTable, FullTableFailsLoudlyAndRecoversAsCountersExpire) {
  const std::size_t slots = CounterTable::kMinSlots;
  Memory m(slots);
  CounterTable t = CounterTable::format(m.get(), slots, 3);
  for (std::size_t i = 0; i < slots; ++i) t.incr("k" + std::to_string(i), 1, 10, 100);
  EXPECT_EQ(t.live(100), slots);
  try {
    t.incr("one-more", 1, 10, 100);
    FAIL() << "no error from a full table";
  } catch (const RateStoreError& e) {
    EXPECT_NE(std::string(e.what()).find("raise FlaskppRateLimitCache shm:SIZE"), std::string::npos) << e.what();
  }
  EXPECT_EQ(t.get("one-more", 100), 0);
  EXPECT_EQ(t.incr("k5", 1, 10, 100), 2);  // existing counters go on
  EXPECT_EQ(t.incr("one-more", 1, 10, 110), 1);  // once the others expired, a slot is free
  for (std::size_t i = 0; i < slots; ++i) EXPECT_EQ(t.get("k" + std::to_string(i), 110), 0);
}

TEST(CounterTable, LongKeysAreDistinctBeyondTheSlotsKeyLength) {
  Memory m(256);
  CounterTable t = CounterTable::format(m.get(), 256, 11);
  std::string base(CounterTable::kKeyMax, 'x');
  EXPECT_EQ(t.incr(base, 1, 60, 0), 1);
  EXPECT_EQ(t.incr(base + "a", 5, 60, 0), 5);
  EXPECT_EQ(t.incr(base + "b", 7, 60, 0), 7);
  EXPECT_EQ(t.incr(base + "a", 1, 60, 0), 6);
  EXPECT_EQ(t.get(base, 0), 1);
  EXPECT_EQ(t.get(base + "b", 0), 7);
  EXPECT_EQ(t.get(std::string(5000, 'y'), 0), 0);
}

// Exactly N of M hits pass through the limiter on this store, as on the in-process one.
TEST(CounterTable, RateLimiterLetsExactlyNThrough) {
  Memory m(512);
  TableStore store(CounterTable::format(m.get(), 512, 5));
  std::int64_t now = 6000;
  RateLimiter limiter(store, [&] { return now; });
  std::vector<RateLimit> limits = flaskpp::core::parse_limits("10/minute;25/day");
  int passed = 0;
  for (int i = 0; i < 100; ++i) passed += limiter.hit("ip:1.2.3.4", limits).allowed;
  EXPECT_EQ(passed, 10);
  now += 60;
  passed = 0;
  for (int i = 0; i < 100; ++i) passed += limiter.hit("ip:1.2.3.4", limits).allowed;
  EXPECT_EQ(passed, 10);
  now += 60;
  passed = 0;
  for (int i = 0; i < 100; ++i) passed += limiter.hit("ip:1.2.3.4", limits).allowed;
  EXPECT_EQ(passed, 5);  // the day's 25 are spent
}

// Forked processes on one MAP_SHARED table, serialised by a process-shared mutex (Apache's global
// mutex in the module): no increment is lost.
TEST(CounterTable, ExactAcrossForkedProcesses) {
  const std::size_t slots = 4096;
  const std::size_t table_bytes = CounterTable::bytes_for(slots);
  void* mem = mmap(nullptr, table_bytes + 64, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* mutex = reinterpret_cast<pthread_mutex_t*>(static_cast<char*>(mem) + table_bytes);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  ASSERT_EQ(pthread_mutex_init(mutex, &attr), 0);
  CounterTable t = CounterTable::format(mem, slots, 99);
  const int kProcs = 4, kRounds = 20000;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      CounterTable mine = CounterTable::attach(mem);
      for (int i = 0; i < kRounds; ++i) {
        pthread_mutex_lock(mutex);
        mine.incr("shared", 1, 3600, 50);
        mine.incr("proc/" + std::to_string(p) + "/" + std::to_string(i % 500), 1, 3600, 50);
        pthread_mutex_unlock(mutex);
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  EXPECT_EQ(t.get("shared", 51), kProcs * kRounds);
  for (int p = 0; p < kProcs; ++p) EXPECT_EQ(t.get("proc/" + std::to_string(p) + "/7", 51), kRounds / 500);
  EXPECT_EQ(t.live(51), 1u + kProcs * 500u);
  munmap(mem, table_bytes + 64);
}
