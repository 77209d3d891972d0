// The rate limiter's counters in one block of memory that every Apache child maps (issue 11): a
// fixed-size open-addressing hash table of (key, value, expiry) slots. Unlike a socache (shmcb is a
// cyclic buffer: every write appends, and the oldest entries go when it wraps), a live counter is
// never evicted: a slot is only reused once its counter has expired, and when no slot is free the
// increment fails loudly (RateStoreError: fail-open or fail-closed as configured, with a warning
// naming the size to raise). Apache-free: the glue maps the memory and holds the lock; tests use
// plain memory.
//
// Not synchronised: the caller serialises every call on one table (the glue's global mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/rate_limit.hpp"

namespace flaskpp::core {

class CounterTable {
 public:
  // A slot holds keys of up to kKeyMax bytes verbatim; a longer key is stored as its SHA-256.
  static constexpr std::size_t kKeyMax = 96;
  // Slots looked at from a key's home slot; no key lives further out.
  static constexpr std::size_t kProbe = 64;
  static constexpr std::size_t kMinSlots = kProbe;

  // Bytes of memory for a table of `slots` slots (header included).
  static std::size_t bytes_for(std::size_t slots);
  // Slots that fit in `bytes` (0 when fewer than kMinSlots fit).
  static std::size_t slots_for(std::size_t bytes);

  // Formats `memory` (bytes_for(slots) bytes, 8-byte aligned, zeroed or not) as an empty table.
  // seed keys the slot hash, so clients cannot pick keys that collide (take it from a CSPRNG).
  static CounterTable format(void* memory, std::size_t slots, std::uint64_t seed);
  // A table formatted earlier in the same memory, e.g. by the parent before fork.
  static CounterTable attach(void* memory);

  // RateStore's operations. incr throws RateStoreError when the key is new and the kProbe slots
  // from its home are all live ("table full"); existing keys always succeed.
  std::int64_t incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s, std::int64_t now_s);
  std::int64_t get(const std::string& key, std::int64_t now_s) const;

  std::size_t slots() const;
  std::size_t live(std::int64_t now_s) const;  // counters not yet expired (a full scan; for tests)

  struct Header;
  struct Slot;

 private:
  explicit CounterTable(void* memory) : memory_(static_cast<unsigned char*>(memory)) {}
  Header& header() const;
  Slot* slot_at(std::size_t i) const;
  // The slot holding key (live or expired), or nullptr; free_slot gets the first reusable slot
  // seen on the way (never used or expired), or nullptr.
  Slot* find(const std::string& stored, std::uint64_t h, std::int64_t now_s, Slot** free_slot) const;

  unsigned char* memory_;
};

// SipHash-2-4 of bytes under a 128-bit key (k0, k1): the table's slot hash, exposed for tests.
std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1, const void* data, std::size_t len);

}  // namespace flaskpp::core
