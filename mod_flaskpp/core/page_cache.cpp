#include "core/page_cache.hpp"

#include <functional>
#include <memory>

namespace flaskpp::core {

PageCache::PageCache() {
  for (auto& s : slots_) s.store(nullptr, std::memory_order_relaxed);
}

PageCache::~PageCache() {
  for (auto& s : slots_) delete s.load(std::memory_order_relaxed);
}

const std::string* PageCache::find(std::string_view key) const {
  std::size_t start = std::hash<std::string_view>{}(key) % kSlots;
  for (std::size_t i = 0; i < kSlots; ++i) {
    const Entry* e = slots_[(start + i) % kSlots].load(std::memory_order_acquire);
    if (!e) return nullptr;  // insert-only probing: the first empty slot ends the search
    if (e->key == key) return &e->page;
  }
  return nullptr;
}

void PageCache::insert(std::string key, std::string page) {
  if (page.size() > kMaxPage) return;
  std::size_t start = std::hash<std::string_view>{}(key) % kSlots;
  auto entry = std::make_unique<Entry>(Entry{std::move(key), std::move(page)});
  for (std::size_t i = 0; i < kSlots; ++i) {
    auto& slot = slots_[(start + i) % kSlots];
    const Entry* cur = slot.load(std::memory_order_acquire);
    if (!cur) {
      if (slot.compare_exchange_strong(cur, entry.get(), std::memory_order_acq_rel, std::memory_order_acquire)) {
        entry.release();
        return;
      }
      // Another thread filled this slot first: cur now holds its entry.
    }
    if (cur->key == entry->key) return;
  }
}

std::size_t PageCache::size() const {
  std::size_t n = 0;
  for (const auto& s : slots_) n += s.load(std::memory_order_acquire) != nullptr;
  return n;
}

}  // namespace flaskpp::core
