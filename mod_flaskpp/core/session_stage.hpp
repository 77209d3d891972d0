// Flask's signed cookie session in the request pipeline. The session of a request is decoded on
// first use (a template that names `session`, a plugin handler), and written back as a Set-Cookie
// when it changed; an answer that used it carries `Vary: Cookie` (Flask's session.accessed).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/pipeline.hpp"
#include "core/session.hpp"

namespace flaskpp::core {

// The cookie's attributes, from Flask's config keys (Flask's defaults, except SameSite: Lax).
struct SessionCookieSettings {
  std::string name = "session";  // SESSION_COOKIE_NAME
  std::string domain;             // SESSION_COOKIE_DOMAIN; empty: host-only
  std::string path = "/";         // SESSION_COOKIE_PATH
  bool httponly = true;           // SESSION_COOKIE_HTTPONLY
  bool secure = false;            // SESSION_COOKIE_SECURE
  std::string samesite = "Lax";   // SESSION_COOKIE_SAMESITE: Lax, Strict, None; empty: no attribute
  std::int64_t lifetime_s = 31 * 24 * 3600;  // PERMANENT_SESSION_LIFETIME (seconds or "31d")
};

// Reads the keys above from `config`. Throws ConfigError naming the key and the accepted values.
SessionCookieSettings session_cookie_settings(const Config& config);
// A duration config value: a number of seconds, or a text such as "31d", "12h", "90s".
// nullopt when the key is absent or null. Throws ConfigError.
std::optional<std::int64_t> config_seconds(const Config& config, std::string_view key);

// One request's session: decoded from the cookie on first read, then read and changed in place.
class SessionState {
 public:
  SessionState(const SessionCodec& codec, const Request& request, const SessionCookieSettings& cookie)
      : codec_(codec), request_(request), cookie_(cookie) {}
  // The session object (empty when there is no valid cookie). Marks the session accessed.
  const rapidjson::Document& read();
  // The session object to change in place. Marks it accessed and modified.
  rapidjson::Document& write();
  // Replaces the whole session (an object). Throws InternalError for anything else.
  void replace(const rapidjson::Value& object);
  bool accessed() const { return accessed_; }
  bool modified() const { return modified_; }
  // The Set-Cookie value for a modified session: the signed cookie, or its deletion when empty.
  std::string set_cookie_value() const;

 private:
  const SessionCodec& codec_;
  const Request& request_;
  const SessionCookieSettings& cookie_;
  bool loaded_ = false, accessed_ = false, modified_ = false;
  rapidjson::Document data_;
};

class SessionStage final : public Stage {
 public:
  // Throws ConfigError (keys shorter than 32 bytes, a bad lifetime).
  SessionStage(std::vector<std::string> keys, SessionCookieSettings cookie);
  const char* name() const override { return "session"; }
  void after_body(Exchange& ex) const override;
  void after_action(Exchange& ex, Response& resp) const override;
  const SessionCookieSettings& cookie() const { return cookie_; }

 private:
  SessionCookieSettings cookie_;
  SessionCodec codec_;
};

}  // namespace flaskpp::core
