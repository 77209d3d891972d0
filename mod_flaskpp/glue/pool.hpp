// Ties a C++ object's lifetime to an APR pool: created with new, deleted by a pool cleanup.
#pragma once

#include <utility>

#include "glue/apache.hpp"
#include "glue/boundary.hpp"

namespace flaskpp::glue {

template <typename T>
apr_status_t delete_pool_owned(void* p) noexcept {
  return guard_cleanup([p] { delete static_cast<T*>(p); });
}

template <typename T, typename... Args>
T* make_pool_owned(apr_pool_t* pool, Args&&... args) {
  T* obj = new T(std::forward<Args>(args)...);
  apr_pool_cleanup_register(pool, obj, delete_pool_owned<T>, apr_pool_cleanup_null);
  return obj;
}

}  // namespace flaskpp::glue
