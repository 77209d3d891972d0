#include "core/counter_table.hpp"

#include <cstring>

#include "core/session.hpp"  // sha256

namespace flaskpp::core {

namespace {
constexpr std::uint64_t kMagic = 0x3162617470706b66ULL;  // "fkpptab1"
}

struct CounterTable::Header {
  std::uint64_t magic;
  std::uint64_t slots;
  std::uint64_t k0, k1;  // the slot hash's key
  std::uint64_t reserved[4];
};

struct CounterTable::Slot {
  std::uint64_t hash;
  std::int64_t value;
  std::int64_t expires_at_s;  // epoch seconds; the counter is gone at and after this instant
  std::uint32_t stored_len;   // 0: never used; else the stored key's length + 1
  char key[kKeyMax];
};

static_assert(sizeof(CounterTable::Header) == 64, "header is one cache line");
static_assert(sizeof(CounterTable::Slot) == 128, "slots are two cache lines");

std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1, const void* data, std::size_t len) {
  auto rotl = [](std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); };
  std::uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
  std::uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
  auto round = [&] {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  };
  const auto* p = static_cast<const unsigned char*>(data);
  const std::size_t whole = len - len % 8;
  for (std::size_t i = 0; i < whole; i += 8) {
    std::uint64_t m = 0;
    for (int b = 7; b >= 0; --b) m = (m << 8) | p[i + static_cast<std::size_t>(b)];
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  std::uint64_t last = static_cast<std::uint64_t>(len & 0xff) << 56;
  for (std::size_t i = whole; i < len; ++i) last |= static_cast<std::uint64_t>(p[i]) << (8 * (i - whole));
  v3 ^= last;
  round();
  round();
  v0 ^= last;
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

std::size_t CounterTable::bytes_for(std::size_t slots) { return sizeof(Header) + slots * sizeof(Slot); }

std::size_t CounterTable::slots_for(std::size_t bytes) {
  if (bytes < sizeof(Header)) return 0;
  std::size_t n = (bytes - sizeof(Header)) / sizeof(Slot);
  return n < kMinSlots ? 0 : n;
}

CounterTable CounterTable::format(void* memory, std::size_t slots, std::uint64_t seed) {
  if (slots < kMinSlots) throw RateStoreError("a counter table needs at least " + std::to_string(kMinSlots) + " slots");
  std::memset(memory, 0, bytes_for(slots));
  CounterTable t(memory);
  Header& h = t.header();
  h.magic = kMagic;
  h.slots = slots;
  h.k0 = seed;
  h.k1 = seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
  return t;
}

CounterTable CounterTable::attach(void* memory) {
  CounterTable t(memory);
  if (t.header().magic != kMagic) throw RateStoreError("the rate limit table is not formatted");
  return t;
}

CounterTable::Header& CounterTable::header() const { return *reinterpret_cast<Header*>(memory_); }

CounterTable::Slot* CounterTable::slot_at(std::size_t i) const {
  return reinterpret_cast<Slot*>(memory_ + sizeof(Header)) + i;
}

std::size_t CounterTable::slots() const { return static_cast<std::size_t>(header().slots); }

namespace {
// What a slot stores for key: the key itself, or "\1" + its SHA-256 when too long (a mark no
// limiter key starts with, so a short key never equals a hashed one).
std::string stored_form(const std::string& key) {
  if (key.size() <= CounterTable::kKeyMax && (key.empty() || key[0] != '\1')) return key;
  return "\1" + sha256(key);
}
}  // namespace

CounterTable::Slot* CounterTable::find(const std::string& stored, std::uint64_t h, std::int64_t now_s,
                                       Slot** free_slot) const {
  const std::size_t n = slots();
  const std::size_t home = static_cast<std::size_t>(h % n);
  const auto want_len = static_cast<std::uint32_t>(stored.size() + 1);
  if (free_slot) *free_slot = nullptr;
  // A key is never stored beyond a never-used slot of its window (insertion takes the first
  // reusable slot, and slots never become never-used again), so the scan stops there.
  for (std::size_t i = 0; i < kProbe; ++i) {
    Slot* s = slot_at((home + i) % n);
    if (s->stored_len == 0) {
      if (free_slot && !*free_slot) *free_slot = s;
      return nullptr;
    }
    if (s->hash == h && s->stored_len == want_len && std::memcmp(s->key, stored.data(), stored.size()) == 0) {
      return s;
    }
    if (free_slot && !*free_slot && s->expires_at_s <= now_s) *free_slot = s;
  }
  return nullptr;
}

std::int64_t CounterTable::incr(const std::string& key, std::int64_t delta, std::int64_t ttl_s, std::int64_t now_s) {
  const std::string stored = stored_form(key);
  const std::uint64_t h = siphash24(header().k0, header().k1, stored.data(), stored.size());
  Slot* free_slot = nullptr;
  Slot* s = find(stored, h, now_s, &free_slot);
  if (s) {
    if (s->expires_at_s <= now_s) {
      s->value = 0;
      s->expires_at_s = now_s + ttl_s;
    }
  } else {
    if (!free_slot) {
      throw RateStoreError("the rate limit table is full around this key (" + std::to_string(slots()) +
                           " slots, all live): raise FlaskppRateLimitCache shm:SIZE");
    }
    s = free_slot;
    s->hash = h;
    s->value = 0;
    s->expires_at_s = now_s + ttl_s;
    std::memcpy(s->key, stored.data(), stored.size());
    s->stored_len = static_cast<std::uint32_t>(stored.size() + 1);
  }
  s->value += delta;
  return s->value;
}

std::int64_t CounterTable::get(const std::string& key, std::int64_t now_s) const {
  const std::string stored = stored_form(key);
  const std::uint64_t h = siphash24(header().k0, header().k1, stored.data(), stored.size());
  const Slot* s = find(stored, h, now_s, nullptr);
  return s && s->expires_at_s > now_s ? s->value : 0;
}

std::size_t CounterTable::live(std::int64_t now_s) const {
  std::size_t count = 0;
  for (std::size_t i = 0; i < slots(); ++i) {
    const Slot* s = slot_at(i);
    if (s->stored_len != 0 && s->expires_at_s > now_s) ++count;
  }
  return count;
}

}  // namespace flaskpp::core
