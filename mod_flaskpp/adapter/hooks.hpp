// Request-time hooks (registered by glue/mod_flaskpp.cpp).
#pragma once

#include "glue/apache.hpp"

namespace flaskpp::adapter {
extern "C" {
int fpp_quick_handler(request_rec* r, int lookup_uri) noexcept;
int fpp_translate_name(request_rec* r) noexcept;
int fpp_map_to_storage(request_rec* r) noexcept;
int fpp_post_perdir_config(request_rec* r) noexcept;
int fpp_fixups(request_rec* r) noexcept;
int fpp_handler(request_rec* r) noexcept;
}
}  // namespace flaskpp::adapter
