// Configuration values as directives give them: sizes ("16M"), FlaskppConfig values (JSON literal,
// Python literal or text), FlaskppEnv and keys; then the typed getters over the stored value.
// Only ConfigError may escape; a parsed size is > 0 and agrees with the digits it came from.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "core/config.hpp"
#include "core/errors.hpp"
#include "fuzz_support.hpp"

namespace core = flaskpp::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 8192) return 0;
  std::string_view s(reinterpret_cast<const char*>(data), size);

  try {
    std::size_t n = core::parse_size(s);
    FUZZ_CHECK(n > 0);
    if (!s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos) {
      FUZZ_CHECK(std::to_string(n) == std::string(s.substr(std::min(s.find_first_not_of('0'), s.size() - 1))));
    }
  } catch (const core::ConfigError&) {
  }
  (void)core::parse_env(s);
  bool key_ok = core::is_valid_key(s);
  if (key_ok) FUZZ_CHECK(!s.empty());
  (void)core::is_secret_key(s);

  try {
    rapidjson::Document v = core::parse_config_value(s);
    core::Config cfg;
    cfg.set(key_ok ? s : std::string_view("FUZZ_KEY"), v);
    std::string_view key = key_ok ? s : std::string_view("FUZZ_KEY");
    FUZZ_CHECK(cfg.has(key));
    try {
      (void)cfg.get_size(key);
    } catch (const core::ConfigError&) {
    }
    (void)cfg.get_string(key, "");
    (void)cfg.get_bool(key, false);
    (void)cfg.public_view();
    (void)cfg.public_json();
    if (v.IsObject()) {
      cfg.merge_object(v);
    }
    core::Config copy(cfg);
    FUZZ_CHECK(copy.has(key));
  } catch (const core::ConfigError&) {
  }
  return 0;
}
