#include "core/config.hpp"

#include <cctype>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/errors.hpp"
#include "core/json.hpp"
#include "core/request.hpp"

namespace flaskpp::core {

std::optional<Env> parse_env(std::string_view text) {
  std::string t = to_lower(text);
  if (t == "production") return Env::kProduction;
  if (t == "development") return Env::kDevelopment;
  return std::nullopt;
}

const char* env_name(Env env) { return env == Env::kDevelopment ? "development" : "production"; }

bool is_secret_key(std::string_view key) {
  std::string k(key);
  for (char& c : k) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto has = [&](const char* s) { return k.find(s) != std::string::npos; };
  bool ends_key = k.size() >= 4 && k.compare(k.size() - 4, 4, "_KEY") == 0;
  return k == "KEY" || ends_key || has("SECRET") || has("PASSWORD") || has("TOKEN") || has("PRIVATE");
}

bool is_valid_key(std::string_view key) {
  if (key.empty() || !(std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_')) return false;
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

rapidjson::Document parse_config_value(std::string_view text) {
  rapidjson::Document doc;
  if (text == "True" || text == "False") {
    doc.SetBool(text == "True");
    return doc;
  }
  if (text == "None") {
    doc.SetNull();
    return doc;
  }
  rapidjson::Document parsed;
  parsed.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  if (!parsed.HasParseError()) return parsed;
  doc.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), doc.GetAllocator());
  return doc;
}

std::size_t parse_size(std::string_view text) {
  std::string_view digits = text;
  std::size_t mult = 1;
  if (!digits.empty()) {
    char unit = static_cast<char>(std::toupper(static_cast<unsigned char>(digits.back())));
    if (unit == 'K' || unit == 'M' || unit == 'G') {
      mult = std::size_t{1} << (unit == 'K' ? 10 : unit == 'M' ? 20 : 30);
      digits.remove_suffix(1);
    }
  }
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
    throw ConfigError("size '" + std::string(text) + "' must be a number of bytes, optionally with K, M or G");
  }
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  std::optional<std::uint64_t> value = parse_decimal(digits);
  if (!value || *value > kMax / mult) {
    throw ConfigError("size '" + std::string(text) + "' is too large (at most " + std::to_string(kMax) + " bytes)");
  }
  auto n = static_cast<std::size_t>(*value);
  if (n == 0) throw ConfigError("size '" + std::string(text) + "' is zero bytes; a size limit must be at least 1");
  return n * mult;
}

rapidjson::Document load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read config file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw ConfigError("cannot read config file '" + path + "'");
  std::string text = ss.str();
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  if (doc.HasParseError()) {
    throw ConfigError("invalid JSON in config file '" + path + "' at offset " +
                      std::to_string(doc.GetErrorOffset()) + ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  // RapidJSON stops at a NUL byte as if the input ended there; the rest would be silently ignored.
  if (auto nul = text.find('\0'); nul != std::string::npos) {
    throw ConfigError("invalid JSON in config file '" + path + "' at offset " + std::to_string(nul) + ": NUL byte");
  }
  if (!doc.IsObject()) throw ConfigError("config file '" + path + "' must hold a JSON object");
  for (const auto& m : doc.GetObject()) {
    std::string_view key(m.name.GetString(), m.name.GetStringLength());
    if (!is_valid_key(key)) {
      throw ConfigError("config file '" + path + "': invalid key '" + std::string(key) + "'");
    }
  }
  return doc;
}

Config::Config() { doc_.SetObject(); }

Config::Config(const Config& other) { doc_.CopyFrom(other.doc_, doc_.GetAllocator()); }

Config& Config::operator=(const Config& other) {
  if (this != &other) {
    rapidjson::Document fresh;
    fresh.CopyFrom(other.doc_, fresh.GetAllocator());
    doc_.Swap(fresh);
  }
  return *this;
}

namespace {

// A member name of explicit length: FindMember(const char*) would read the view up to a NUL, past
// its end when there is none, and match a longer key that the view is a prefix of.
rapidjson::Value member_name(std::string_view key) {
  return rapidjson::Value(rapidjson::StringRef(key.empty() ? "" : key.data(), static_cast<rapidjson::SizeType>(key.size())));
}

constexpr std::size_t kMaxKeySize = std::numeric_limits<rapidjson::SizeType>::max();

}  // namespace

rapidjson::Value::ConstMemberIterator Config::find(std::string_view key) const {
  if (key.size() > kMaxKeySize) return doc_.MemberEnd();
  return doc_.FindMember(member_name(key));
}

rapidjson::Value::MemberIterator Config::find(std::string_view key) {
  if (key.size() > kMaxKeySize) return doc_.MemberEnd();
  return doc_.FindMember(member_name(key));
}

void Config::set(std::string_view key, const rapidjson::Value& value) {
  if (key.size() > kMaxKeySize) throw ConfigError("config key too long");
  auto& alloc = doc_.GetAllocator();
  rapidjson::Value copy(value, alloc);
  auto it = find(key);
  if (it != doc_.MemberEnd()) {
    it->value = copy;
  } else {
    rapidjson::Value name(key.empty() ? "" : key.data(), static_cast<rapidjson::SizeType>(key.size()), alloc);
    doc_.AddMember(name, copy, alloc);
  }
}

void Config::merge_object(const rapidjson::Value& object) {
  if (!object.IsObject()) return;
  for (const auto& m : object.GetObject()) {
    set(std::string_view(m.name.GetString(), m.name.GetStringLength()), m.value);
  }
}

bool Config::has(std::string_view key) const { return get(key) != nullptr; }

const rapidjson::Value* Config::get(std::string_view key) const {
  auto it = find(key);
  return it == doc_.MemberEnd() ? nullptr : &it->value;
}

std::optional<std::size_t> Config::get_size(std::string_view key) const {
  const rapidjson::Value* v = get(key);
  if (!v || v->IsNull()) return std::nullopt;
  auto refuse = [&](const char* why) -> ConfigError {
    return ConfigError("config " + std::string(key) + " " + why);
  };
  // RapidJSON marks a number Uint64 or Int64 only when it was written as an integer that fits.
  if (!v->IsNumber() || v->IsDouble()) throw refuse("must be a non-negative integer");
  if (v->IsInt64() && v->GetInt64() < 0) throw refuse("must not be negative");
  if (!v->IsUint64()) throw refuse("must be a non-negative integer");
  std::uint64_t n = v->GetUint64();
  if (n > std::numeric_limits<std::size_t>::max()) throw refuse("is too large for a size");
  return static_cast<std::size_t>(n);
}

std::string Config::get_string(std::string_view key, std::string_view fallback) const {
  const rapidjson::Value* v = get(key);
  if (v && v->IsString()) return std::string(v->GetString(), v->GetStringLength());
  return std::string(fallback);
}

bool Config::get_bool(std::string_view key, bool fallback) const {
  const rapidjson::Value* v = get(key);
  if (!v) return fallback;
  if (v->IsBool()) return v->GetBool();
  if (v->IsNumber()) return v->GetDouble() != 0;
  if (v->IsString()) {
    std::string s = to_lower(std::string_view(v->GetString(), v->GetStringLength()));
    return s == "1" || s == "true" || s == "on" || s == "yes";
  }
  return fallback;
}

rapidjson::Document Config::public_json() const {
  rapidjson::Document out;
  out.SetObject();
  for (const auto& member : doc_.GetObject()) {
    std::string key(member.name.GetString(), member.name.GetStringLength());
    if (is_secret_key(key)) continue;
    out.AddMember(rapidjson::Value(key, out.GetAllocator()), rapidjson::Value(member.value, out.GetAllocator()),
                  out.GetAllocator());
  }
  return out;
}

mstch::node Config::public_view() const {
  mstch::map m;
  for (const auto& member : doc_.GetObject()) {
    std::string key(member.name.GetString(), member.name.GetStringLength());
    if (is_secret_key(key)) continue;
    m.emplace(std::move(key), to_mstch(member.value));
  }
  return m;
}

}  // namespace flaskpp::core
