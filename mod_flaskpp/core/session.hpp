// Flask-style signed cookie sessions: the session lives in the client's cookie, signed so the
// client can read it but not change it. Apache-free; the adapter reads and sets the cookie.
//
// Cookie format, in the spirit of itsdangerous (Flask's session cookie):
//   base64url(payload_json) "." base64url(timestamp) "." base64url(signature)
// base64url without padding; timestamp = seconds since the epoch, big-endian, leading zero bytes
// dropped; signature = HMAC-SHA256(derived_key, first two parts as sent, joined by ".");
// derived_key = HMAC-SHA256(secret, "cookie-session"), so the raw secret never signs anything.
// Flask itself uses SHA-1 and may zlib-compress the payload; this codec never compresses, so a
// cookie is not interchangeable with a Flask one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/rapidjson.hpp"

namespace flaskpp::core {

// Browsers keep at most 4096 bytes of name=value; 4093 is what Werkzeug warns at.
constexpr std::size_t kMaxSessionCookieBytes = 4093;
// Shortest secret accepted: 32 bytes, the HMAC-SHA256 output size.
constexpr std::size_t kMinSessionKeyBytes = 32;
// Nesting limit of a decoded session; a session is a small flat dictionary, deeper is hostile.
constexpr std::size_t kMaxSessionJsonDepth = 32;
constexpr std::string_view kSessionSalt = "cookie-session";

// Seconds since the epoch; injectable so expiry can be tested without waiting.
using SessionClock = std::function<std::int64_t()>;

// Encodes and verifies session cookies. Immutable after construction, so one instance is safe to
// share between threads (OpenSSL's one-shot HMAC keeps no shared state).
class SessionCodec {
 public:
  // keys[0] signs; every key verifies, so a secret can be rotated without logging everyone out
  // (put the new key first, keep the old one until max_age has passed). max_age_s is Flask's
  // PERMANENT_SESSION_LIFETIME in seconds: an older cookie reads as an empty session.
  // Throws ConfigError on an empty key list, a key shorter than kMinSessionKeyBytes or
  // max_age_s <= 0: these are startup mistakes. An empty clock means the system clock.
  SessionCodec(std::vector<std::string> keys, std::int64_t max_age_s, SessionClock clock = {});

  // The cookie value for a session object signed with keys[0] and stamped now_s.
  // Throws InternalError when the object is not an object, holds invalid UTF-8 or a non-finite
  // number, or the cookie would exceed kMaxSessionCookieBytes: server data, not client input.
  std::string encode(const rapidjson::Value& session_object, std::int64_t now_s) const;
  std::string encode(const rapidjson::Value& session_object) const { return encode(session_object, now()); }

  // The session object of a cookie value, or an empty object when the value is anything but a
  // cookie this codec signed with one of its keys at most max_age_s ago (tampered, unknown key,
  // expired, stamped in the future, malformed, too long, too deep, not an object). Never throws
  // for bad input: a client can send anything, and "no session" is the right answer to all of it.
  rapidjson::Document decode(std::string_view cookie_value, std::int64_t now_s) const;
  rapidjson::Document decode(std::string_view cookie_value) const { return decode(cookie_value, now()); }

  std::int64_t max_age_s() const noexcept { return max_age_s_; }

 private:
  std::int64_t now() const;

  // Derived signing keys, same order as the secrets; the secrets themselves are not kept.
  std::vector<std::string> derived_keys_;
  std::int64_t max_age_s_;
  SessionClock clock_;
};

// Flask's flash messages: a "_flashes" list of [category, message] pairs in the session.
struct Flash {
  std::string category;
  std::string message;
  bool operator==(const Flash& o) const { return category == o.category && message == o.message; }
};

// Appends a message; a session that is not an object, or a "_flashes" that is not a list, is
// replaced (it can only come from a bug, never from a client, since the cookie is signed).
void add_flash(rapidjson::Document& session, std::string_view category, std::string_view message);

// The messages in the order added, removed from the session so they are shown once. Malformed
// entries are skipped.
std::vector<Flash> take_flashes(rapidjson::Document& session);

// Exposed for tests: base64url without padding, and its strict inverse (false on a character
// outside the alphabet, an impossible length, or non-zero unused bits, so each byte string has
// exactly one accepted encoding).
std::string base64url_encode(std::string_view bytes);
// SHA-256 of `bytes` (32 raw bytes), from OpenSSL.
std::string sha256(std::string_view bytes);
bool base64url_decode(std::string_view text, std::string& out);

}  // namespace flaskpp::core
