#include "core/session_stage.hpp"

#include <chrono>
#include <ctime>

#include "core/errors.hpp"
#include "core/request.hpp"
#include "core/route_decl.hpp"

namespace flaskpp::core {

namespace {

constexpr std::string_view kPermanentKey = "_permanent";  // Flask's session.permanent

std::string http_date(std::int64_t epoch_s) {
  std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool is_permanent(const rapidjson::Value& session) {
  if (!session.IsObject()) return false;
  auto it = session.FindMember(rapidjson::StringRef(kPermanentKey.data(), kPermanentKey.size()));
  return it != session.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

}  // namespace

std::optional<std::int64_t> config_seconds(const Config& config, std::string_view key) {
  const rapidjson::Value* v = config.get(key);
  if (!v || v->IsNull()) return std::nullopt;
  std::string name(key);
  if (v->IsInt64() || v->IsUint64()) {
    if (!v->IsInt64() || v->GetInt64() <= 0 || v->GetInt64() > 10LL * 366 * 24 * 3600) {
      throw ConfigError("config " + name + " must be from 1 second to 10 years");
    }
    return v->GetInt64();
  }
  if (v->IsString()) {
    try {
      long ms = parse_duration_ms(v->GetString());
      if (ms < 1000) throw ConfigError("shorter than a second");
      return ms / 1000;
    } catch (const ConfigError& e) {
      throw ConfigError("config " + name + " must be seconds or a duration such as 31d, 12h, 90s: " + e.what());
    }
  }
  throw ConfigError("config " + name + " must be seconds or a duration such as 31d, 12h, 90s");
}

SessionCookieSettings session_cookie_settings(const Config& config) {
  SessionCookieSettings s;
  auto text = [&](const char* key, std::string& out) {
    const rapidjson::Value* v = config.get(key);
    if (!v || v->IsNull() || (v->IsBool() && !v->GetBool())) return false;
    if (!v->IsString()) throw ConfigError(std::string("config ") + key + " must be a text");
    out = v->GetString();
    // Cookie attribute values: no separators or control characters.
    for (char c : out) {
      if (c == ';' || c == ',' || static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
        throw ConfigError(std::string("config ") + key + " holds a character a cookie attribute cannot: '" + out + "'");
      }
    }
    return true;
  };
  text("SESSION_COOKIE_NAME", s.name);
  if (s.name.empty() || s.name.find('=') != std::string::npos) {
    throw ConfigError("config SESSION_COOKIE_NAME must be a cookie name");
  }
  text("SESSION_COOKIE_DOMAIN", s.domain);
  if (!text("SESSION_COOKIE_PATH", s.path)) s.path = "/";
  s.httponly = config.get_bool("SESSION_COOKIE_HTTPONLY", true);
  s.secure = config.get_bool("SESSION_COOKIE_SECURE", false);
  if (const rapidjson::Value* v = config.get("SESSION_COOKIE_SAMESITE")) {
    if (v->IsNull() || (v->IsBool() && !v->GetBool())) {
      s.samesite.clear();
    } else if (v->IsString() && (std::string(v->GetString()) == "Lax" || std::string(v->GetString()) == "Strict" ||
                                 std::string(v->GetString()) == "None")) {
      s.samesite = v->GetString();
    } else {
      throw ConfigError("config SESSION_COOKIE_SAMESITE must be Lax, Strict, None or null");
    }
  }
  if (s.samesite == "None" && !s.secure) {
    throw ConfigError("config SESSION_COOKIE_SAMESITE None needs SESSION_COOKIE_SECURE true (browsers drop the "
                      "cookie otherwise)");
  }
  if (auto lifetime = config_seconds(config, "PERMANENT_SESSION_LIFETIME")) s.lifetime_s = *lifetime;
  return s;
}

const rapidjson::Document& SessionState::read() {
  accessed_ = true;
  if (!loaded_) {
    loaded_ = true;
    for (const auto& [name, value] : request_.cookies()) {
      if (name == cookie_.name) {
        data_ = codec_.decode(value);  // anything but a valid, fresh cookie: an empty session
        break;
      }
    }
    if (!data_.IsObject()) data_.SetObject();
  }
  return data_;
}

rapidjson::Document& SessionState::write() {
  read();
  modified_ = true;
  return data_;
}

void SessionState::replace(const rapidjson::Value& object) {
  if (!object.IsObject()) throw InternalError("a session must be a JSON object");
  read();
  modified_ = true;
  data_.CopyFrom(object, data_.GetAllocator());
}

std::string SessionState::set_cookie_value() const {
  std::string c;
  bool empty = !data_.IsObject() || data_.MemberCount() == 0;
  if (empty) {
    // Flask deletes the cookie of a session emptied by the request.
    c = cookie_.name + "=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0";
  } else {
    c = cookie_.name + "=" + codec_.encode(data_);
    // A permanent session (session.permanent = True in Flask: "_permanent": true) lasts
    // PERMANENT_SESSION_LIFETIME; otherwise the cookie ends with the browser session. The
    // signature's age is checked against the lifetime either way.
    if (is_permanent(data_)) c += "; Expires=" + http_date(now_s() + cookie_.lifetime_s);
  }
  if (!cookie_.domain.empty()) c += "; Domain=" + cookie_.domain;
  if (cookie_.secure) c += "; Secure";
  if (cookie_.httponly) c += "; HttpOnly";
  c += "; Path=" + cookie_.path;
  if (!cookie_.samesite.empty()) c += "; SameSite=" + cookie_.samesite;
  return c;
}

SessionStage::SessionStage(std::vector<std::string> keys, SessionCookieSettings cookie)
    : cookie_(std::move(cookie)), codec_(std::move(keys), cookie_.lifetime_s) {}

void SessionStage::after_body(Exchange& ex) const {
  // Redirect routes never look at a session; jobs read theirs from nowhere (they run later).
  if (ex.route.action == ActionKind::kRedirect) return;
  ex.session = std::make_unique<SessionState>(codec_, ex.request, cookie_);
  ex.request.session = ex.session.get();
}

void SessionStage::after_action(Exchange& ex, Response& resp) const {
  if (!ex.session) return;
  if (ex.session->modified()) resp.headers.emplace_back("Set-Cookie", ex.session->set_cookie_value());
  // The answer depends on the cookie: shared caches must not serve it to another client.
  if (ex.session->accessed() || ex.session->modified()) resp.headers.emplace_back("Vary", "Cookie");
}

}  // namespace flaskpp::core
