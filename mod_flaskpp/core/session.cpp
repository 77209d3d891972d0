#include "core/session.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <array>
#include <chrono>
#include <utility>

#include "core/errors.hpp"
#include "core/json.hpp"

namespace flaskpp::core {
namespace {

constexpr std::size_t kSignatureBytes = 32;  // SHA-256
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view kFlashesKey = "_flashes";

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int out_len = 0;
  // One-shot HMAC: no context shared between threads. It fails only on allocation failure.
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &out_len) ||
      out_len != kSignatureBytes) {
    throw InternalError("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(out.data()), out_len);
}

int alphabet_index(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Big-endian with leading zero bytes dropped, as itsdangerous's int_to_bytes.
std::string timestamp_bytes(std::int64_t t) {
  std::string out;
  for (auto v = static_cast<std::uint64_t>(t); v != 0; v >>= 8) out.insert(out.begin(), static_cast<char>(v & 0xff));
  return out;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                      (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                      static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t v = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                      (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 == 1) return false;  // no byte count encodes to this length
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = alphabet_index(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
      acc &= (1u << bits) - 1;
    }
  }
  // Leftover bits must be zero: otherwise several texts would decode to the same bytes.
  return acc == 0;
}

SessionCodec::SessionCodec(std::vector<std::string> keys, std::int64_t max_age_s, SessionClock clock)
    : max_age_s_(max_age_s), clock_(std::move(clock)) {
  if (keys.empty()) throw ConfigError("session: at least one secret key is required");
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].size() < kMinSessionKeyBytes) {
      // The position, never the key: this message ends up in the error log.
      throw ConfigError("session: secret key #" + std::to_string(i + 1) + " is " + std::to_string(keys[i].size()) +
                        " bytes, at least " + std::to_string(kMinSessionKeyBytes) + " are required");
    }
  }
  if (max_age_s <= 0) throw ConfigError("session: the lifetime must be a positive number of seconds");
  derived_keys_.reserve(keys.size());
  for (const std::string& key : keys) derived_keys_.push_back(hmac_sha256(key, kSessionSalt));
  // Best effort: the caller's copies are its own business, ours need not linger.
  for (std::string& key : keys) OPENSSL_cleanse(key.data(), key.size());
}

std::int64_t SessionCodec::now() const {
  if (clock_) return clock_();
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string SessionCodec::encode(const rapidjson::Value& session_object, std::int64_t now_s) const {
  if (!session_object.IsObject()) throw InternalError("session: the session must be a JSON object");
  if (now_s < 0) throw InternalError("session: the clock is before the epoch");
  rapidjson::StringBuffer buffer;
  // Validating the encoding here keeps a session that decode would refuse from being sent at all.
  rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::CrtAllocator,
                    rapidjson::kWriteValidateEncodingFlag>
      writer(buffer);
  if (!session_object.Accept(writer)) {
    throw InternalError("session: the session holds invalid UTF-8 or a non-finite number");
  }
  std::string cookie = base64url_encode(std::string_view(buffer.GetString(), buffer.GetSize()));
  cookie += '.';
  cookie += base64url_encode(timestamp_bytes(now_s));
  std::string signature = hmac_sha256(derived_keys_.front(), cookie);
  cookie += '.';
  cookie += base64url_encode(signature);
  if (cookie.size() > kMaxSessionCookieBytes) {
    throw InternalError("session: the cookie would be " + std::to_string(cookie.size()) + " bytes, browsers keep at most " +
                        std::to_string(kMaxSessionCookieBytes));
  }
  return cookie;
}

rapidjson::Document SessionCodec::decode(std::string_view cookie_value, std::int64_t now_s) const {
  rapidjson::Document empty;
  empty.SetObject();
  if (cookie_value.size() > kMaxSessionCookieBytes) return empty;

  std::size_t sig_dot = cookie_value.rfind('.');
  if (sig_dot == std::string_view::npos || sig_dot == 0) return empty;
  std::size_t ts_dot = cookie_value.rfind('.', sig_dot - 1);
  if (ts_dot == std::string_view::npos) return empty;
  std::string_view signed_part = cookie_value.substr(0, sig_dot);
  std::string_view payload_b64 = cookie_value.substr(0, ts_dot);
  std::string_view ts_b64 = cookie_value.substr(ts_dot + 1, sig_dot - ts_dot - 1);

  // The signature first: nothing a client wrote is decoded or parsed before it is authenticated.
  std::string signature;
  if (!base64url_decode(cookie_value.substr(sig_dot + 1), signature) || signature.size() != kSignatureBytes) {
    return empty;
  }
  bool verified = false;
  for (const std::string& key : derived_keys_) {
    std::string expected = hmac_sha256(key, signed_part);
    // Constant time, so response timing tells nothing about how much of a forged signature matched.
    if (CRYPTO_memcmp(expected.data(), signature.data(), kSignatureBytes) == 0) {
      verified = true;
      break;
    }
  }
  if (!verified) return empty;

  std::string ts;
  if (!base64url_decode(ts_b64, ts) || ts.empty() || ts.size() > 8) return empty;
  std::uint64_t stamp = 0;
  for (char c : ts) stamp = (stamp << 8) | static_cast<unsigned char>(c);
  if (stamp > static_cast<std::uint64_t>(INT64_MAX)) return empty;
  // As itsdangerous: a stamp in the future is refused too (its age is negative).
  std::int64_t age = now_s - static_cast<std::int64_t>(stamp);
  if (age < 0 || age > max_age_s_) return empty;

  std::string payload;
  if (!base64url_decode(payload_b64, payload) || payload.empty()) return empty;
  try {
    // The strict body parser: iterative, depth-limited, no full-precision flag, refuses NUL bytes.
    rapidjson::Document doc = parse_json_body(payload, kMaxSessionJsonDepth);
    if (!doc.IsObject()) return empty;
    return doc;
  } catch (const BadRequest&) {
    return empty;
  }
}

void add_flash(rapidjson::Document& session, std::string_view category, std::string_view message) {
  auto& alloc = session.GetAllocator();
  if (!session.IsObject()) session.SetObject();
  auto it = session.FindMember(rapidjson::StringRef(kFlashesKey.data(), kFlashesKey.size()));
  if (it == session.MemberEnd()) {
    session.AddMember(rapidjson::Value(kFlashesKey.data(), static_cast<rapidjson::SizeType>(kFlashesKey.size()), alloc),
                      rapidjson::Value(rapidjson::kArrayType), alloc);
    it = session.FindMember(rapidjson::StringRef(kFlashesKey.data(), kFlashesKey.size()));
  }
  if (!it->value.IsArray()) it->value.SetArray();
  rapidjson::Value pair(rapidjson::kArrayType);
  pair.PushBack(rapidjson::Value(category.data(), static_cast<rapidjson::SizeType>(category.size()), alloc), alloc);
  pair.PushBack(rapidjson::Value(message.data(), static_cast<rapidjson::SizeType>(message.size()), alloc), alloc);
  it->value.PushBack(pair, alloc);
}

std::vector<Flash> take_flashes(rapidjson::Document& session) {
  std::vector<Flash> out;
  if (!session.IsObject()) return out;
  auto it = session.FindMember(rapidjson::StringRef(kFlashesKey.data(), kFlashesKey.size()));
  if (it == session.MemberEnd()) return out;
  if (it->value.IsArray()) {
    for (const auto& entry : it->value.GetArray()) {
      if (!entry.IsArray() || entry.Size() != 2 || !entry[0].IsString() || !entry[1].IsString()) continue;
      out.push_back({std::string(entry[0].GetString(), entry[0].GetStringLength()),
                     std::string(entry[1].GetString(), entry[1].GetStringLength())});
    }
  }
  session.EraseMember(it);  // keeps the order of the other keys
  return out;
}

std::string sha256(std::string_view bytes) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

}  // namespace flaskpp::core
