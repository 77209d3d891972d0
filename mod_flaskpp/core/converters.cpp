// Converter specs ("int(min=1)"), the ends a converter may take at a position, and to_python.
#include <algorithm>
#include <cerrno>
#include <cmath>
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

Converter parse_converter(std::string_view name_view, std::string_view args) {
  std::string name(name_view);
  Converter c;
  static const std::map<std::string, ConverterKind> kKinds = {
      {"default", ConverterKind::kString}, {"string", ConverterKind::kString},
      {"int", ConverterKind::kInt},        {"float", ConverterKind::kFloat},
      {"path", ConverterKind::kPath},      {"uuid", ConverterKind::kUuid},
      {"any", ConverterKind::kAny}};
  auto it = kKinds.find(name);
  if (it == kKinds.end()) {
    throw ConfigError("unknown converter '" + name + "' (known: string, int, float, path, uuid, any)");
  }
  c.kind = it->second;
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

// Candidate end positions for a converter at pos, in the order Werkzeug's regex would try them.
void converter_ends(const Converter& c, std::string_view s, std::size_t pos, std::vector<std::size_t>& ends) {
  ends.clear();
  switch (c.kind) {
    case ConverterKind::kString: {
      // [^/]{min,max}, greedy, counted in code points.
      std::vector<std::size_t> bounds;  // bounds[k] = byte offset after k code points
      bounds.push_back(pos);
      std::size_t p = pos;
      while (p < s.size() && s[p] != '/') {
        ++p;
        while (p < s.size() && is_utf8_continuation(static_cast<unsigned char>(s[p]))) ++p;
        bounds.push_back(p);
      }
      std::size_t n = bounds.size() - 1;
      std::size_t hi = c.maxlength ? std::min(n, *c.maxlength) : n;
      for (std::size_t k = hi + 1; k-- > c.minlength;) ends.push_back(bounds[k]);
      break;
    }
    case ConverterKind::kInt: {
      std::size_t p = pos;
      if (c.is_signed && p < s.size() && s[p] == '-') ++p;
      std::size_t digits_start = p;
      while (p < s.size() && is_ascii_digit(s[p])) ++p;
      for (std::size_t e = p; e > digits_start; --e) ends.push_back(e);
      break;
    }
    case ConverterKind::kFloat: {
      std::size_t p = pos;
      if (c.is_signed && p < s.size() && s[p] == '-') ++p;
      std::size_t d1 = p;
      while (p < s.size() && is_ascii_digit(s[p])) ++p;
      if (p == d1 || p >= s.size() || s[p] != '.') break;
      ++p;
      std::size_t d2 = p;
      while (p < s.size() && is_ascii_digit(s[p])) ++p;
      for (std::size_t e = p; e > d2; --e) ends.push_back(e);
      break;
    }
    case ConverterKind::kUuid: {
      static const int kGroups[] = {8, 4, 4, 4, 12};
      std::size_t p = pos;
      for (int g = 0; g < 5; ++g) {
        if (g > 0) {
          if (p >= s.size() || s[p] != '-') return;
          ++p;
        }
        for (int k = 0; k < kGroups[g]; ++k, ++p) {
          if (p >= s.size() || !is_hex(s[p])) return;
        }
      }
      ends.push_back(p);
      break;
    }
    case ConverterKind::kAny:
      for (const auto& item : c.items) {
        if (s.substr(pos, item.size()) == item) ends.push_back(pos + item.size());
      }
      break;
    case ConverterKind::kPath:
      // [^/].*? : lazy, at least one character, not starting with '/'.
      if (pos < s.size() && s[pos] != '/') {
        for (std::size_t e = pos + 1; e <= s.size(); ++e) {
          if (e < s.size() && is_utf8_continuation(static_cast<unsigned char>(s[e]))) continue;
          ends.push_back(e);
        }
      }
      break;
  }
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
