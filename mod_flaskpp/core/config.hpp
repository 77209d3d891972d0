// Application configuration, Flask's app.config: a JSON object of typed values, assembled at
// startup from FlaskppConfig / FlaskppConfigFile / FlaskppEnv and read-only afterwards.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <mstch/mstch.hpp>

#include "core/rapidjson.hpp"

namespace flaskpp::core {

enum class Env { kProduction, kDevelopment };
std::optional<Env> parse_env(std::string_view text);
const char* env_name(Env env);

// Names that hold secrets are never shown to templates: SECRET_KEY and any key containing
// SECRET, PASSWORD, TOKEN or PRIVATE, or ending in _KEY (case-insensitive).
bool is_secret_key(std::string_view key);
// A config key: a letter or '_' followed by letters, digits and '_'.
bool is_valid_key(std::string_view key);

// The value of `FlaskppConfig KEY VALUE`: a JSON literal (true, 12, 1.5, "text", [..], {..}) when
// it parses as one, Python's True/False/None, otherwise the text itself as a string.
rapidjson::Document parse_config_value(std::string_view text);

// "16M", "500K", "2G", "1048576" -> bytes (K/M/G are powers of 1024). Throws ConfigError naming
// the text when it is not such a size, is 0 (no body limit can be zero bytes) or overflows size_t.
std::size_t parse_size(std::string_view text);

// Reads a JSON object from a file. Throws ConfigError: unreadable file, invalid JSON (with
// offset), or a top-level value that is not an object.
rapidjson::Document load_config_file(const std::string& path);

class Config {
 public:
  Config();
  Config(const Config& other);
  Config& operator=(const Config& other);

  void set(std::string_view key, const rapidjson::Value& value);
  void merge_object(const rapidjson::Value& object);  // later keys win
  bool has(std::string_view key) const;
  const rapidjson::Value* get(std::string_view key) const;
  std::string get_string(std::string_view key, std::string_view fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  // An integer-valued key as a size (MAX_CONTENT_LENGTH, JSON_MAX_DEPTH): nullopt when the key is
  // absent or null (Flask's None). Throws ConfigError naming the key when the value is not an
  // integer (1.5, 1e6, "16M", true), is negative, or does not fit size_t. 0 is returned as is.
  std::optional<std::size_t> get_size(std::string_view key) const;
  const rapidjson::Document& document() const { return doc_; }

  // The keys templates may see (secrets removed), as an mstch map.
  mstch::node public_view() const;
  // The same keys as a JSON object (what plugins see).
  rapidjson::Document public_json() const;

 private:
  rapidjson::Value::MemberIterator find(std::string_view key);
  rapidjson::Value::ConstMemberIterator find(std::string_view key) const;

  rapidjson::Document doc_;
};

}  // namespace flaskpp::core
