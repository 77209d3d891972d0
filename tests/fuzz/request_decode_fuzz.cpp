// Query strings, cookies, URL decoding and quoting, header parameters, UTF-8 sanitising and JSON
// string writing on arbitrary bytes. Nothing may throw except the multipart boundary's
// MultipartError; sanitised and JSON-written text is valid UTF-8.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/errors.hpp"
#include "core/json.hpp"
#include "core/multipart.hpp"
#include "core/request.hpp"
#include "fuzz_support.hpp"

namespace core = flaskpp::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 16384) return 0;
  std::string_view s(reinterpret_cast<const char*>(data), size);

  std::string clean = core::sanitize_utf8(s);
  FUZZ_CHECK(fuzz::valid_utf8(clean));
  if (fuzz::valid_utf8(s)) FUZZ_CHECK(clean == s);
  FUZZ_CHECK(core::sanitize_utf8(clean) == clean);

  for (const auto& [k, v] : core::parse_query(s)) {
    FUZZ_CHECK(!k.empty());
    (void)v;
  }
  std::string plus = core::url_decode(s, true);
  std::string raw = core::url_decode(s, false);
  FUZZ_CHECK(plus.size() <= s.size() && raw.size() <= s.size());
  std::string quoted = core::url_quote_path(s);
  for (char c : quoted) FUZZ_CHECK(c > 0x20 && c < 0x7f);

  std::string esc = core::html_escape(s);
  FUZZ_CHECK(esc.find('<') == std::string::npos && esc.find('>') == std::string::npos &&
             esc.find('"') == std::string::npos);
  FUZZ_CHECK(core::to_lower(s).size() == s.size());

  if (auto v = core::parse_decimal(s)) {
    FUZZ_CHECK(!s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos);
    FUZZ_CHECK(std::to_string(*v) == std::string(s.substr(std::min(s.find_first_not_of('0'), s.size() - 1))));
  }

  core::Request req;
  req.path = std::string(s);
  req.host_url = "http://127.0.0.1:8080";
  req.headers.emplace_back("cookie", std::string(s));
  req.headers.emplace_back("content-type", std::string(s));
  (void)req.cookies();
  (void)req.content_type();
  (void)req.url();

  (void)core::header_param(s, "name");
  (void)core::header_param(s, "filename");
  try {
    std::string b = core::multipart_boundary(s);
    FUZZ_CHECK(!b.empty());
  } catch (const core::MultipartError& e) {
    FUZZ_CHECK(e.kind() == core::MultipartError::Kind::kMissingBoundary);
  }

  rapidjson::StringBuffer sb;
  core::JsonWriter w(sb);
  core::write_string(w, s);
  std::string_view json(sb.GetString(), sb.GetSize());
  FUZZ_CHECK(fuzz::valid_utf8(json));
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  FUZZ_CHECK(!d.HasParseError() && d.IsString());
  return 0;
}
