// Converter specs ("int(min=1)"), the ends a converter may take at a position, and to_python.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>

#include "core/errors.hpp"
#include "core/router_internal.hpp"

namespace flaskpp::core {

namespace {

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// A converter argument: a Python literal as Werkzeug's parse_converter_args reads it.
struct Literal {
  enum class Type { kNone, kBool, kInt, kFloat, kString } type = Type::kString;
  bool b = false;
  long long i = 0;
  double f = 0;
  std::string s;
};

Literal parse_literal(const std::string& raw) {
  Literal v;
  if (raw == "None") {
    v.type = Literal::Type::kNone;
    return v;
  }
  if (raw == "True" || raw == "False") {
    v.type = Literal::Type::kBool;
    v.b = raw == "True";
    return v;
  }
  if (raw.size() >= 2 && (raw.front() == '"' || raw.front() == '\'') && raw.back() == raw.front()) {
    v.s = raw.substr(1, raw.size() - 2);
    return v;
  }
  if (!raw.empty()) {
    char* end = nullptr;
    errno = 0;
    long long i = std::strtoll(raw.c_str(), &end, 10);
    if (end && *end == '\0' && errno == 0) {
      v.type = Literal::Type::kInt;
      v.i = i;
      return v;
    }
    errno = 0;
    double f = std::strtod(raw.c_str(), &end);
    if (end && *end == '\0' && errno == 0 && std::isfinite(f)) {
      v.type = Literal::Type::kFloat;
      v.f = f;
      return v;
    }
  }
  v.s = raw;
  return v;
}

// Splits "a, b='x,y', c=1" on commas outside quotes.
std::vector<std::string> split_args(std::string_view args) {
  std::vector<std::string> out;
  std::string cur;
  char quote = 0;
  for (char c : args) {
    if (quote) {
      if (c == quote) quote = 0;
      cur += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      cur += c;
    } else if (c == ',') {
      out.push_back(trim_spaces(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (quote) throw ConfigError("unterminated quote in converter arguments '" + std::string(args) + "'");
  std::string last = trim_spaces(cur);
  if (!last.empty() || !out.empty()) out.push_back(last);
  return out;
}

double as_number(const Literal& v, const std::string& conv, const std::string& key) {
  if (v.type == Literal::Type::kInt) return static_cast<double>(v.i);
  if (v.type == Literal::Type::kFloat) return v.f;
  throw ConfigError("converter '" + conv + "': " + key + " must be a number");
}

bool as_bool(const Literal& v, const std::string& conv, const std::string& key) {
  if (v.type == Literal::Type::kBool) return v.b;
  if (v.type == Literal::Type::kInt) return v.i != 0;
  throw ConfigError("converter '" + conv + "': " + key + " must be True or False");
}

}  // namespace

int Converter::weight() const {
  switch (kind) {
    case ConverterKind::kInt:
    case ConverterKind::kFloat: return 50;
    case ConverterKind::kPath: return 200;
    default: return 100;
  }
}

std::optional<ConverterKind> converter_kind(std::string_view name) {
  static const std::map<std::string, ConverterKind, std::less<>> kKinds = {
      {"default", ConverterKind::kString}, {"string", ConverterKind::kString},
      {"int", ConverterKind::kInt},        {"float", ConverterKind::kFloat},
      {"path", ConverterKind::kPath},      {"uuid", ConverterKind::kUuid},
      {"any", ConverterKind::kAny}};
  auto it = kKinds.find(name);
  if (it == kKinds.end()) return std::nullopt;
  return it->second;
}

const char* converter_name(ConverterKind kind) {
  switch (kind) {
    case ConverterKind::kInt: return "int";
    case ConverterKind::kFloat: return "float";
    case ConverterKind::kPath: return "path";
    case ConverterKind::kUuid: return "uuid";
    case ConverterKind::kAny: return "any";
    case ConverterKind::kString: break;
  }
  return "string";
}

Converter parse_converter(std::string_view name_view, std::string_view args) {
  std::string name(name_view);
  Converter c;
  std::optional<ConverterKind> kind = converter_kind(name);
  if (!kind) throw ConfigError("unknown converter '" + name + "' (known: string, int, float, path, uuid, any)");
  c.kind = *kind;
  std::vector<std::string> positional_names;
  switch (c.kind) {
    case ConverterKind::kString: positional_names = {"minlength", "maxlength", "length"}; break;
    case ConverterKind::kInt: positional_names = {"fixed_digits", "min", "max", "signed"}; break;
    case ConverterKind::kFloat: positional_names = {"min", "max", "signed"}; break;
    default: break;
  }
  std::optional<std::size_t> length;
  std::size_t position = 0;
  for (const std::string& item : split_args(args)) {
    if (item.empty()) throw ConfigError("converter '" + name + "': empty argument");
    std::string key;
    std::string raw = item;
    auto eq = item.find('=');
    if (eq != std::string::npos && item.front() != '"' && item.front() != '\'') {
      key = trim_spaces(item.substr(0, eq));
      raw = trim_spaces(item.substr(eq + 1));
    }
    Literal v = parse_literal(raw);
    if (c.kind == ConverterKind::kAny) {
      if (!key.empty()) throw ConfigError("converter 'any' takes only values, not '" + key + "='");
      if (v.type != Literal::Type::kString) v.s = raw;
      if (v.s.empty() || v.s.find('/') != std::string::npos) {
        throw ConfigError("converter 'any': values must be non-empty and contain no '/'");
      }
      c.items.push_back(v.s);
      continue;
    }
    if (key.empty()) {
      if (position >= positional_names.size()) {
        throw ConfigError("converter '" + name + "' takes no more than " +
                          std::to_string(positional_names.size()) + " arguments");
      }
      key = positional_names[position++];
    }
    if (v.type == Literal::Type::kNone) continue;
    if (c.kind == ConverterKind::kString && (key == "minlength" || key == "maxlength" || key == "length")) {
      if (v.type != Literal::Type::kInt || v.i < 0) {
        throw ConfigError("converter 'string': " + key + " must be a non-negative integer");
      }
      auto n = static_cast<std::size_t>(v.i);
      if (key == "minlength") c.minlength = n;
      else if (key == "maxlength") c.maxlength = n;
      else length = n;
    } else if (c.kind == ConverterKind::kInt && key == "fixed_digits") {
      if (v.type != Literal::Type::kInt || v.i < 0 || v.i > 64) {
        throw ConfigError("converter 'int': fixed_digits must be an integer from 0 to 64");
      }
      c.fixed_digits = static_cast<int>(v.i);
    } else if ((c.kind == ConverterKind::kInt || c.kind == ConverterKind::kFloat) &&
               (key == "min" || key == "max")) {
      if (c.kind == ConverterKind::kInt && v.type != Literal::Type::kInt) {
        throw ConfigError("converter 'int': " + key + " must be an integer");
      }
      (key == "min" ? c.min : c.max) = as_number(v, name, key);
    } else if ((c.kind == ConverterKind::kInt || c.kind == ConverterKind::kFloat) && key == "signed") {
      c.is_signed = as_bool(v, name, key);
    } else {
      throw ConfigError("converter '" + name + "' has no argument '" + key + "'");
    }
  }
  if (c.kind == ConverterKind::kAny && c.items.empty()) {
    throw ConfigError("converter 'any' needs at least one value, e.g. any(about, help)");
  }
  if (length) {
    c.minlength = *length;
    c.maxlength = *length;
  }
  if (c.maxlength && *c.maxlength < c.minlength) {
    throw ConfigError("converter 'string': maxlength is smaller than minlength");
  }
  if (c.min && c.max && *c.max < *c.min) {
    throw ConfigError("converter '" + name + "': max is smaller than min");
  }
  // Canonical spec (names and defaults normalised) so equal converters share a state.
  c.spec = name == "default" ? "string" : name;
  c.spec += "(" + std::to_string(c.minlength) + "," + (c.maxlength ? std::to_string(*c.maxlength) : "-") +
            "," + std::to_string(c.fixed_digits) + "," + (c.is_signed ? "s" : "u") + "," +
            (c.min ? std::to_string(*c.min) : "-") + "," + (c.max ? std::to_string(*c.max) : "-");
  for (const auto& item : c.items) c.spec += "," + std::to_string(item.size()) + ":" + item;
  c.spec += ")";
  return c;
}

// ---------------------------------------------------------------------------------------------
// Where a converter may end. Werkzeug turns each converter into a regex: string [^/]{min,max}
// (greedy, code points), int \d+ and float \d+\.\d+ (greedy, optional '-' when signed), uuid a
// fixed shape, any an alternation tried in listed order, path [^/].*? (lazy). At one start
// position the ends such a regex can take are a contiguous run of positions (for string and path
// only the code-point boundaries in it), one position (uuid) or a short list (any).

namespace {

bool is_uuid_at(std::string_view s, std::size_t pos) {
  static const int kGroups[] = {8, 4, 4, 4, 12};
  std::size_t p = pos;
  for (int g = 0; g < 5; ++g) {
    if (g > 0) {
      if (p >= s.size() || s[p] != '-') return false;
      ++p;
    }
    for (int k = 0; k < kGroups[g]; ++k, ++p) {
      if (p >= s.size() || !is_hex(s[p])) return false;
    }
  }
  return true;
}

std::size_t skip_sign(const Converter& c, std::string_view s, std::size_t pos) {
  return c.is_signed && pos < s.size() && s[pos] == '-' ? pos + 1 : pos;
}

bool all_digits(std::string_view s, std::size_t from, std::size_t to) {
  for (std::size_t p = from; p < to; ++p) {
    if (!is_ascii_digit(s[p])) return false;
  }
  return true;
}

}  // namespace

PartText::PartText(std::string_view text) : s(text) {
  const std::size_t n = s.size();
  rank.resize(n + 1);
  slash.resize(n + 1);
  digits_end.resize(n + 1);
  std::uint32_t count = 0;
  for (std::size_t q = 0; q <= n; ++q) {
    if (is_boundary(q)) {
      ++count;
      boundaries.push_back(static_cast<std::uint32_t>(q));
    }
    rank[q] = count;
  }
  slash[n] = static_cast<std::uint32_t>(n);
  digits_end[n] = static_cast<std::uint32_t>(n);
  for (std::size_t q = n; q-- > 0;) {
    slash[q] = s[q] == '/' ? static_cast<std::uint32_t>(q) : slash[q + 1];
    digits_end[q] = is_ascii_digit(s[q]) ? digits_end[q + 1] : static_cast<std::uint32_t>(q);
  }
}

EndRange converter_ends(const Converter& c, const PartText& t, std::size_t pos) {
  EndRange r;
  const std::string_view s = t.s;
  switch (c.kind) {
    case ConverterKind::kString: {
      r.boundaries_only = true;
      r.also_start = c.minlength == 0;
      // The k-th character after pos ends at the k-th boundary after pos; never past a '/'.
      std::size_t first = t.rank[pos];  // index in boundaries of the first boundary after pos
      std::size_t chars = t.rank[t.slash[pos]] - t.rank[pos];
      std::size_t lo = std::max<std::size_t>(c.minlength, 1);
      std::size_t hi = c.maxlength ? std::min(chars, *c.maxlength) : chars;
      if (lo <= hi) {
        r.lo = t.boundaries[first + lo - 1];
        r.hi = t.boundaries[first + hi - 1];
      }
      break;
    }
    case ConverterKind::kInt: {
      std::size_t digits = skip_sign(c, s, pos);
      r.lo = digits + 1;
      r.hi = t.digits_end[digits];
      break;
    }
    case ConverterKind::kFloat: {
      std::size_t whole = skip_sign(c, s, pos);
      std::size_t dot = t.digits_end[whole];
      if (dot == whole || dot >= s.size() || s[dot] != '.') break;
      r.lo = dot + 2;
      r.hi = t.digits_end[dot + 1];
      break;
    }
    case ConverterKind::kUuid:
      if (is_uuid_at(s, pos)) r.lo = r.hi = pos + 36;
      break;
    case ConverterKind::kAny:
      r.listed = true;
      break;
    case ConverterKind::kPath:
      r.order = EndRange::Order::kShortestFirst;
      r.boundaries_only = true;
      if (pos < s.size() && s[pos] != '/') {
        r.lo = pos + 1;
        r.hi = s.size();
      }
      break;
  }
  return r;
}

bool converter_can_end(const Converter& c, std::string_view s, std::size_t pos, std::size_t end) {
  auto boundary = [&](std::size_t q) { return q == s.size() || !is_utf8_continuation(static_cast<unsigned char>(s[q])); };
  switch (c.kind) {
    case ConverterKind::kString: {
      if (end == pos) return c.minlength == 0;
      if (!boundary(end)) return false;
      std::size_t chars = 0;
      for (std::size_t q = pos; q < end; ++q) {
        if (s[q] == '/') return false;
        if (boundary(q + 1)) ++chars;
      }
      return chars >= c.minlength && (!c.maxlength || chars <= *c.maxlength);
    }
    case ConverterKind::kInt: {
      std::size_t digits = skip_sign(c, s, pos);
      return end > digits && all_digits(s, digits, end);
    }
    case ConverterKind::kFloat: {
      std::size_t whole = skip_sign(c, s, pos);
      std::size_t dot = whole;
      while (dot < s.size() && is_ascii_digit(s[dot])) ++dot;
      if (dot == whole || dot >= s.size() || s[dot] != '.') return false;
      return end > dot + 1 && all_digits(s, dot + 1, end);
    }
    case ConverterKind::kUuid:
      return end == pos + 36 && is_uuid_at(s, pos);
    case ConverterKind::kAny:
      for (const auto& item : c.items) {
        if (item.size() == end - pos && s.compare(pos, item.size(), item) == 0) return true;
      }
      return false;
    case ConverterKind::kPath:
      return pos < s.size() && s[pos] != '/' && end > pos && boundary(end);
  }
  return false;
}

// Werkzeug's to_python: a failure here is a 404 for the request, not a fall-through.
bool convert_value(const Converter& c, std::string_view text, ParamValue& v) {
  v.kind = c.kind;
  v.text = std::string(text);
  switch (c.kind) {
    case ConverterKind::kInt: {
      if (c.fixed_digits && text.size() != static_cast<std::size_t>(c.fixed_digits)) return false;
      errno = 0;
      char* end = nullptr;
      long long n = std::strtoll(v.text.c_str(), &end, 10);
      if (errno == ERANGE || !end || *end != '\0') return false;
      if ((c.min && static_cast<double>(n) < *c.min) || (c.max && static_cast<double>(n) > *c.max)) return false;
      v.int_value = n;
      return true;
    }
    case ConverterKind::kFloat: {
      errno = 0;
      char* end = nullptr;
      double d = std::strtod(v.text.c_str(), &end);
      if (errno == ERANGE || !end || *end != '\0' || !std::isfinite(d)) return false;
      if ((c.min && d < *c.min) || (c.max && d > *c.max)) return false;
      v.float_value = d;
      return true;
    }
    case ConverterKind::kUuid:
      for (char& ch : v.text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return true;
    default:
      return true;
  }
}

}  // namespace flaskpp::core
