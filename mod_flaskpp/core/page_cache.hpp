// Rendered pages of one template route (production only), for templates whose output depends
// only on route parameters, config and env (decided once, from the names the template uses).
//
// Readers take no lock: a fixed table of slots, each an atomic pointer to an immutable entry that
// is published once with a compare-and-swap and lives as long as the cache (insert-only, open
// addressing). Bounded: at most kSlots pages of at most kMaxPage bytes per route; once the table
// is full, further keys are rendered on every request. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>

namespace flaskpp::core {

class PageCache {
 public:
  static constexpr std::size_t kSlots = 256;
  static constexpr std::size_t kMaxPage = 64 * 1024;  // bytes; larger pages are not kept

  PageCache();
  ~PageCache();
  PageCache(const PageCache&) = delete;
  PageCache& operator=(const PageCache&) = delete;

  // The cached page for `key`, or nullptr. The pointer stays valid as long as the cache.
  const std::string* find(std::string_view key) const;
  // Keeps `page` under `key` unless it is too large, the key is already there, or the table is full.
  void insert(std::string key, std::string page);
  std::size_t size() const;

 private:
  struct Entry {
    std::string key;
    std::string page;
  };
  std::array<std::atomic<const Entry*>, kSlots> slots_;
};

}  // namespace flaskpp::core
