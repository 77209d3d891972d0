// Session cookies with a fixed key: decode() of any text never throws and yields an object;
// base64url decoding is strict (one accepted encoding per byte string); a JSON object the server
// encodes decodes to the same object.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/errors.hpp"
#include "core/json.hpp"
#include "core/session.hpp"
#include "fuzz_support.hpp"

namespace core = flaskpp::core;

namespace {

constexpr std::int64_t kNow = 1700000000;
const core::SessionCodec& codec() {
  static const core::SessionCodec c({std::string(32, 'k'), std::string("an older secret of 32 bytes ....")}, 3600,
                                    [] { return kNow; });
  return c;
}

std::size_t depth_of(const rapidjson::Value& v) {
  std::size_t d = 0;
  if (v.IsArray()) {
    for (const auto& e : v.GetArray()) d = std::max(d, depth_of(e));
    return d + 1;
  }
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) d = std::max(d, depth_of(m.value));
    return d + 1;
  }
  return 0;
}

// RapidJSON keeps both members of {"a":1,"a":2}; the codec need not preserve that, so such objects
// are left out of the round-trip check.
bool has_duplicate_names(const rapidjson::Value& v) {
  if (v.IsArray()) {
    for (const auto& e : v.GetArray()) {
      if (has_duplicate_names(e)) return true;
    }
  } else if (v.IsObject()) {
    for (auto a = v.MemberBegin(); a != v.MemberEnd(); ++a) {
      for (auto b = a + 1; b != v.MemberEnd(); ++b) {
        if (a->name == b->name) return true;
      }
      if (has_duplicate_names(a->value)) return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 8192) return 0;
  std::string_view s(reinterpret_cast<const char*>(data), size);

  rapidjson::Document d = codec().decode(s, kNow);
  FUZZ_CHECK(d.IsObject());

  std::string bytes;
  if (core::base64url_decode(s, bytes)) FUZZ_CHECK(core::base64url_encode(bytes) == s);
  std::string round;
  FUZZ_CHECK(core::base64url_decode(core::base64url_encode(s), round) && round == s);

  // The server side: a session object (from the same bytes as JSON) survives encode + decode.
  try {
    rapidjson::Document obj = core::parse_json_body(s, 64);
    if (!obj.IsObject()) return 0;
    std::string cookie = codec().encode(obj, kNow);
    FUZZ_CHECK(cookie.size() <= core::kMaxSessionCookieBytes);
    rapidjson::Document back = codec().decode(cookie, kNow + 10);
    if (depth_of(obj) <= core::kMaxSessionJsonDepth && !has_duplicate_names(obj)) FUZZ_CHECK(back == obj);
    rapidjson::Document expired = codec().decode(cookie, kNow + 3601);
    FUZZ_CHECK(expired.IsObject() && expired.MemberCount() == 0);
    core::take_flashes(back);
    core::add_flash(back, "info", s);
  } catch (const core::BadRequest&) {
  } catch (const core::InternalError&) {
  }
  return 0;
}
