#include "core/json.hpp"

#include <climits>
#include <cmath>

#include "core/errors.hpp"
#include "core/request.hpp"

namespace flaskpp::core {

bool is_json_media_type(std::string_view t) {
  if (t == "application/json") return true;
  auto slash = t.find('/');
  return slash != std::string_view::npos && t.size() > 5 && t.substr(t.size() - 5) == "+json";
}

namespace {

// Nesting depth outside strings; the parser itself is iterative, so depth is the only stack risk
// (destruction and writing recurse).
std::size_t nesting_exceeds(std::string_view body, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i + 1;
    } else if (c == ']' || c == '}') {
      if (depth > 0) --depth;
    }
  }
  return 0;
}

int hex4(std::string_view s, std::size_t at) {
  if (at + 4 > s.size()) return -1;
  int v = 0;
  for (std::size_t k = at; k < at + 4; ++k) {
    char c = s[k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// Offset + 1 of a \uDC00-\uDFFF escape that does not follow a high-surrogate escape, or 0.
// RapidJSON rejects a lone high surrogate but encodes a lone low one as bytes that are not UTF-8,
// which would then be echoed as invalid JSON.
std::size_t lone_low_surrogate(std::string_view body) {
  bool in_string = false;
  std::size_t after_high = std::string_view::npos;  // offset just past a \uD800-\uDBFF escape
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (!in_string) {
      if (c == '"') in_string = true;
      continue;
    }
    if (c == '"') {
      in_string = false;
    } else if (c == '\\' && i + 1 < body.size()) {
      if (body[i + 1] == 'u') {
        int cp = hex4(body, i + 2);
        if (cp >= 0xDC00 && cp <= 0xDFFF && after_high != i) return i + 1;
        if (cp >= 0xD800 && cp <= 0xDBFF) after_high = i + 6;
      }
      ++i;
    }
  }
  return 0;
}

}  // namespace

rapidjson::Document parse_json_body(std::string_view body, std::size_t max_depth) {
  if (body.empty()) throw BadRequest("invalid JSON at offset 0: empty body, JSON expected");
  if (std::size_t at = nesting_exceeds(body, max_depth)) {
    throw BadRequest("invalid JSON at offset " + std::to_string(at - 1) + ": nesting deeper than " +
                     std::to_string(max_depth));
  }
  rapidjson::Document doc;
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseFullPrecisionFlag;
  doc.Parse<kFlags>(body.data(), body.size());
  if (doc.HasParseError()) {
    throw BadRequest("invalid JSON at offset " + std::to_string(doc.GetErrorOffset()) + ": " +
                     rapidjson::GetParseError_En(doc.GetParseError()));
  }
  // RapidJSON takes a NUL byte for the end of input, so "{}\0junk" parses; NUL is never valid JSON.
  if (std::size_t nul = body.find('\0'); nul != std::string_view::npos) {
    throw BadRequest("invalid JSON at offset " + std::to_string(nul) + ": NUL byte");
  }
  if (std::size_t at = lone_low_surrogate(body)) {
    throw BadRequest("invalid JSON at offset " + std::to_string(at - 1) + ": unpaired UTF-16 low surrogate escape");
  }
  return doc;
}

mstch::node to_mstch(const rapidjson::Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType: return nullptr;
    case rapidjson::kFalseType: return false;
    case rapidjson::kTrueType: return true;
    case rapidjson::kStringType: return std::string(v.GetString(), v.GetStringLength());
    case rapidjson::kNumberType:
      if (v.IsInt()) return v.GetInt();
      // mstch has no 64-bit integer and prints doubles with 6 digits ("1e+10"): keep the digits.
      if (v.IsInt64()) return std::to_string(v.GetInt64());
      if (v.IsUint64()) return std::to_string(v.GetUint64());
      return v.GetDouble();
    case rapidjson::kArrayType: {
      mstch::array a;
      a.reserve(v.Size());
      for (const auto& item : v.GetArray()) a.push_back(to_mstch(item));
      return a;
    }
    case rapidjson::kObjectType: {
      mstch::map m;
      for (const auto& member : v.GetObject()) {
        m.emplace(std::string(member.name.GetString(), member.name.GetStringLength()), to_mstch(member.value));
      }
      return m;
    }
  }
  return nullptr;
}

void write_string(JsonWriter& w, std::string_view s) {
  std::string clean = sanitize_utf8(s);
  w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
}

void write_file_info(JsonWriter& w, const FileInfo& f, bool stored) {
  w.StartObject();
  if (stored) {
    w.Key("field");
    write_string(w, f.field);
  }
  w.Key("filename");
  write_string(w, f.filename);
  w.Key("content_type");
  write_string(w, f.content_type);
  w.Key("size");
  w.Uint64(f.size);
  if (stored) {
    w.Key("saved_as");
    write_string(w, f.saved_as);
    w.Key("url");
    write_string(w, f.url);
  }
  w.EndObject();
}

std::string json_error_body(int code, std::string_view message) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.Int(code);
  w.Key("message");
  write_string(w, message);
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace flaskpp::core
