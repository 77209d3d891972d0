#pragma once

namespace flaskpp::adapter {
// Registers check_config, post_config, map_to_storage, fixups and the content handler.
void register_hooks();
}  // namespace flaskpp::adapter
