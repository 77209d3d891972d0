#include "core/json.hpp"
#include "core/schema.hpp"

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <locale.h>  // newlocale, strtod_l (POSIX / glibc)
#include <stdlib.h>

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

// Numbers are not converted by RapidJSON: Debian's 1.1.0 reaches undefined behaviour in
// kParseFullPrecisionFlag's conversion (clz(0) in DiyFp::Normalize and a shift by 63 in
// StrtodDiyFp for bodies such as "0e124" or "0e-40"), and its normal precision is not correctly
// rounded. The reader hands each number over as text (kParseNumbersAsStringsFlag; it has already
// checked the JSON number syntax) and this handler converts it: integers exactly, with the same
// Int/Uint/Int64/Uint64 choice RapidJSON makes, everything else with glibc's correctly rounded
// strtod. Every other event goes to the document unchanged.
constexpr unsigned kJsonBodyParseFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
                                         rapidjson::kParseNumbersAsStringsFlag;

// The "C" locale, so a decimal point is '.' whatever LC_NUMERIC the process runs under.
locale_t c_locale() {
  static const locale_t loc = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  return loc;
}

class NumberConvertingHandler {
 public:
  explicit NumberConvertingHandler(rapidjson::Document& doc) : doc_(doc) {}
  bool overflowed() const { return overflowed_; }

  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(std::int64_t i) { return doc_.Int64(i); }
  bool Uint64(std::uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc_.String(s, n, copy); }
  bool StartObject() { return doc_.StartObject(); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc_.Key(s, n, copy); }
  bool EndObject(rapidjson::SizeType members) { return doc_.EndObject(members); }
  bool StartArray() { return doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType elements) { return doc_.EndArray(elements); }

  // `text` is a valid JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool RawNumber(const char* text, rapidjson::SizeType length, bool /*copy*/) {
    std::string_view t(text, length);
    bool minus = !t.empty() && t[0] == '-';
    std::string_view digits = t.substr(minus ? 1 : 0);
    if (digits.find_first_not_of("0123456789") == std::string_view::npos) {
      // An integer: exact when it fits 64 bits (negative down to -2^63), else a double below.
      std::optional<std::uint64_t> value = parse_decimal(digits);
      constexpr std::uint64_t kInt64MinMagnitude = std::uint64_t{1} << 63;
      if (value && !minus) {
        return *value <= UINT32_MAX ? doc_.Uint(static_cast<unsigned>(*value)) : doc_.Uint64(*value);
      }
      if (value && *value <= kInt64MinMagnitude) {
        // -magnitude computed in unsigned arithmetic, then converted: -2^63 included, no overflow.
        if (*value == kInt64MinMagnitude) return doc_.Int64(INT64_MIN);
        auto negative = -static_cast<std::int64_t>(*value);
        return negative >= INT32_MIN ? doc_.Int(static_cast<int>(negative)) : doc_.Int64(negative);
      }
    }
    std::string nul_terminated(t);
    char* end = nullptr;
    locale_t c = c_locale();
    double d = c ? strtod_l(nul_terminated.c_str(), &end, c) : std::strtod(nul_terminated.c_str(), &end);
    if (end != nul_terminated.c_str() + nul_terminated.size()) return false;  // cannot happen: RapidJSON checked it
    // ERANGE also reports underflow, which gives 0 or a denormal as in Python; only infinity is refused.
    if (std::isinf(d)) {
      overflowed_ = true;
      return false;
    }
    return doc_.Double(d);
  }

 private:
  rapidjson::Document& doc_;
  bool overflowed_ = false;
};

}  // namespace

rapidjson::Document parse_json_body(std::string_view body, std::size_t max_depth) {
  if (body.empty()) throw BadRequest("invalid JSON at offset 0: empty body, JSON expected");
  if (std::size_t at = nesting_exceeds(body, max_depth)) {
    throw BadRequest("invalid JSON at offset " + std::to_string(at - 1) + ": nesting deeper than " +
                     std::to_string(max_depth));
  }
  rapidjson::Document doc;
  NumberConvertingHandler handler(doc);
  rapidjson::ParseResult result;
  auto generate = [&](rapidjson::Document& d) {
    (void)d;  // the handler forwards to the same document
    rapidjson::Reader reader;
    rapidjson::MemoryStream ms(body.data(), body.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
    result = reader.Parse<kJsonBodyParseFlags>(is, handler);
    return !result.IsError();
  };
  doc.Populate(generate);
  if (result.IsError()) {
    // The handler stops the parse at a number too big for a double; report it as RapidJSON would.
    rapidjson::ParseErrorCode code =
        result.Code() == rapidjson::kParseErrorTermination && handler.overflowed()
            ? rapidjson::kParseErrorNumberTooBig
            : result.Code();
    throw BadRequest("invalid JSON at offset " + std::to_string(result.Offset()) + ": " +
                     rapidjson::GetParseError_En(code));
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

std::string json_error_body(int code, std::string_view message, const std::vector<SchemaError>* errors) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.Int(code);
  w.Key("message");
  write_string(w, message);
  if (errors) {
    w.Key("errors");
    w.StartArray();
    for (const auto& e : *errors) {
      w.StartObject();
      w.Key("loc");
      write_string(w, e.loc);
      w.Key("msg");
      write_string(w, e.msg);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace flaskpp::core
