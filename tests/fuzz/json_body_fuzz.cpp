// Request bodies as the module reads them: read_body() with a fuzzed Content-Type choice, a chunk
// size and a body limit, then (for JSON) parse_json_body() with a fuzzed depth limit, as the App
// does. Only HttpError may escape; a parsed document is no deeper than the limit, converts to
// mstch and writes out as JSON that parses again. Numbers must never reach RapidJSON's
// kParseFullPrecisionFlag path (UB in 1.1.0): UBSan reports it as a crash.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/body.hpp"
#include "core/errors.hpp"
#include "core/json.hpp"
#include "fuzz_support.hpp"

namespace core = flaskpp::core;

namespace {

class ChunkedSource : public core::BodySource {
 public:
  ChunkedSource(std::string_view body, std::size_t chunk) : body_(body), chunk_(chunk) {}
  bool next(std::string_view& out) override {
    if (pos_ >= body_.size()) return false;
    out = body_.substr(pos_, chunk_);
    pos_ += out.size();
    return true;
  }

 private:
  std::string_view body_;
  std::size_t chunk_;
  std::size_t pos_ = 0;
};

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 65536) return 0;
  fuzz::Reader in{data, size};
  std::uint8_t sel = in.byte();
  std::size_t chunk = 1 + in.byte();
  std::size_t max_depth = (sel & 0x80) ? core::kDefaultJsonMaxDepth : 1 + (sel & 0x1F);
  static const char* kTypes[] = {"application/json", "application/vnd.api+json; charset=utf-8",
                                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ"};
  std::string_view body = in.rest();

  core::Request req;
  req.method = "POST";
  req.path = "/";
  req.headers.emplace_back("content-type", kTypes[(sel >> 5) & 3]);
  if (sel & 0x40) {
    req.headers.emplace_back("transfer-encoding", "chunked");
  } else {
    req.headers.emplace_back("content-length", std::to_string(body.size()));
  }
  core::BodyLimits limits;
  limits.max_body = (sel & 1) ? 1 + body.size() / 2 : 1 << 20;
  limits.max_parts = 4;
  ChunkedSource source(body, chunk);
  try {
    FUZZ_CHECK(core::has_body(req) == (!(sel & 0x40) ? !body.empty() : true));
    core::read_body(req, source, limits, nullptr, "", (sel & 2) != 0);
  } catch (const core::HttpError&) {
    return 0;
  }
  FUZZ_CHECK(req.body.size() + 0 <= body.size());
  if (!core::is_json_media_type(req.content_type())) return 0;
  try {
    rapidjson::Document doc = core::parse_json_body(req.body, max_depth);
    FUZZ_CHECK(depth_of(doc) <= max_depth);
    (void)core::to_mstch(doc);
    rapidjson::StringBuffer sb;
    core::JsonWriter w(sb);
    FUZZ_CHECK(doc.Accept(w));
    rapidjson::Document again = core::parse_json_body(std::string_view(sb.GetString(), sb.GetSize()), max_depth);
    FUZZ_CHECK(again.GetType() == doc.GetType());
  } catch (const core::BadRequest&) {
  }
  return 0;
}
