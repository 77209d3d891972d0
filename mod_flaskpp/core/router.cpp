#include "core/router.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <tuple>

#include "core/errors.hpp"

namespace flaskpp::core {

namespace {

struct Token {
  bool is_static = true;
  std::string text;     // static text
  Converter conv;       // converter
};

// Werkzeug's Weighting(-len(static_weights), static_weights, -len(argument_weights), argument_weights).
struct Weight {
  std::vector<std::pair<int, int>> statics;  // (segment index, -length)
  std::vector<int> args;                      // converter weights
  bool operator<(const Weight& o) const {
    auto a = std::make_tuple(-static_cast<long>(statics.size()), std::cref(statics),
                             -static_cast<long>(args.size()), std::cref(args));
    auto b = std::make_tuple(-static_cast<long>(o.statics.size()), std::cref(o.statics),
                             -static_cast<long>(o.args.size()), std::cref(o.args));
    return a < b;
  }
};

struct Part {
  bool is_static = true;
  bool final = false;          // consumes the rest of the path (contains a path converter)
  bool trailing_slash = false; // final part whose rule ends in '/'
  std::string text;            // static part
  std::vector<Token> tokens;   // dynamic part
  Weight weight;
  std::string key;             // identity for sharing states between rules
};

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

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
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (quote) throw ConfigError("unterminated quote in converter arguments '" + std::string(args) + "'");
  std::string last = trim(cur);
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
      key = trim(item.substr(0, eq));
      raw = trim(item.substr(eq + 1));
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
// Methods

unsigned method_bit(std::string_view name) {
  if (name == "GET") return method::kGet;
  if (name == "HEAD") return method::kHead;
  if (name == "POST") return method::kPost;
  if (name == "PUT") return method::kPut;
  if (name == "PATCH") return method::kPatch;
  if (name == "DELETE") return method::kDelete;
  if (name == "OPTIONS") return method::kOptions;
  return 0;
}

std::vector<std::string> method_names(unsigned mask) {
  static const std::pair<unsigned, const char*> kSorted[] = {
      {method::kDelete, "DELETE"}, {method::kGet, "GET"},     {method::kHead, "HEAD"},
      {method::kOptions, "OPTIONS"}, {method::kPatch, "PATCH"}, {method::kPost, "POST"},
      {method::kPut, "PUT"}};
  std::vector<std::string> out;
  for (const auto& m : kSorted) {
    if (mask & m.first) out.emplace_back(m.second);
  }
  return out;
}

unsigned parse_methods(std::string_view spec, bool* explicit_options) {
  if (explicit_options) *explicit_options = false;
  if (spec == "*") return method::kAll;
  unsigned mask = 0;
  std::size_t start = 0;
  while (start <= spec.size()) {
    auto comma = spec.find(',', start);
    std::string item = trim(spec.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    for (char& ch : item) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    unsigned bit = method_bit(item);
    if (bit == 0) {
      throw ConfigError("bad method '" + item + "' in '" + std::string(spec) +
                        "' (use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, a comma-separated list, or *)");
    }
    if (bit == method::kOptions && explicit_options) *explicit_options = true;
    mask |= bit;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (mask & method::kGet) mask |= method::kHead;
  return mask | method::kOptions;
}

// ---------------------------------------------------------------------------------------------
// State machine

struct Router::State {
  std::map<std::string, std::unique_ptr<State>, std::less<>> statics;  // heterogeneous find
  std::vector<std::pair<Part, std::unique_ptr<State>>> dynamic;  // sorted by weight, stable
  std::vector<std::size_t> rules;                                // declaration order
};

namespace {

// Compiles a rule pattern into tokens per segment. Throws ConfigError.
std::vector<Part> compile_pattern(std::string_view pattern, CompiledRule& rule) {
  if (pattern.empty() || pattern.front() != '/') {
    throw ConfigError("pattern '" + std::string(pattern) + "' must start with '/'");
  }
  std::vector<std::vector<Token>> segments(1);
  std::size_t i = 0;
  std::string static_text;
  auto flush_static = [&]() {
    std::size_t start = 0;
    while (true) {
      auto slash = static_text.find('/', start);
      std::string piece = static_text.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (!piece.empty()) {
        if (!segments.back().empty() && segments.back().back().is_static) segments.back().back().text += piece;
        else segments.back().push_back(Token{true, piece, {}});
      }
      if (slash == std::string::npos) break;
      segments.emplace_back();
      start = slash + 1;
    }
    static_text.clear();
  };
  while (i < pattern.size()) {
    char c = pattern[i];
    if (c == '>') throw ConfigError("malformed pattern '" + std::string(pattern) + "': unmatched '>'");
    if (c != '<') {
      static_text += c;
      ++i;
      continue;
    }
    auto close = pattern.find('>', i);
    if (close == std::string_view::npos) {
      throw ConfigError("malformed pattern '" + std::string(pattern) + "': unclosed '<'");
    }
    std::string_view inner = pattern.substr(i + 1, close - i - 1);
    if (inner.find('<') != std::string_view::npos) {
      throw ConfigError("malformed pattern '" + std::string(pattern) + "': '<' inside a variable");
    }
    std::string conv_name = "default";
    std::string conv_args;
    std::string var;
    auto colon = inner.rfind(':');
    if (colon != std::string_view::npos) {
      std::string_view head = inner.substr(0, colon);
      var = std::string(inner.substr(colon + 1));
      auto paren = head.find('(');
      if (paren != std::string_view::npos) {
        if (head.back() != ')') {
          throw ConfigError("malformed pattern '" + std::string(pattern) + "': converter arguments need ')'");
        }
        conv_name = std::string(head.substr(0, paren));
        conv_args = std::string(head.substr(paren + 1, head.size() - paren - 2));
      } else {
        conv_name = std::string(head);
      }
      bool ok = !conv_name.empty() && is_ident_start(conv_name[0]);
      for (char ch : conv_name) ok = ok && is_ident(ch);
      if (!ok) throw ConfigError("malformed pattern '" + std::string(pattern) + "': bad converter name '" + conv_name + "'");
    } else {
      var = std::string(inner);
    }
    bool ok = !var.empty() && is_ident_start(var[0]);
    for (char ch : var) ok = ok && is_ident(ch);
    if (!ok) {
      throw ConfigError("malformed pattern '" + std::string(pattern) + "': bad variable name '" + var + "'");
    }
    if (std::find(rule.param_names.begin(), rule.param_names.end(), var) != rule.param_names.end()) {
      throw ConfigError("malformed pattern '" + std::string(pattern) + "': variable '" + var + "' used twice");
    }
    Converter conv;
    try {
      conv = parse_converter(conv_name, conv_args);
    } catch (const ConfigError& e) {
      throw ConfigError(std::string(e.what()) + " in pattern '" + std::string(pattern) + "'");
    }
    flush_static();
    rule.param_names.push_back(var);
    rule.converters.push_back(conv);
    Token t;
    t.is_static = false;
    t.conv = conv;
    segments.back().push_back(std::move(t));
    i = close + 1;
  }
  flush_static();
  segments.erase(segments.begin());  // the empty segment before the leading '/'

  std::vector<Part> parts;
  for (std::size_t s = 0; s < segments.size(); ++s) {
    auto& seg = segments[s];
    bool has_path = std::any_of(seg.begin(), seg.end(), [](const Token& t) {
      return !t.is_static && t.conv.kind == ConverterKind::kPath;
    });
    Part part;
    if (has_path) {
      // Werkzeug: a non-part-isolating converter turns the rest of the rule into one final part.
      part.is_static = false;
      part.final = true;
      for (std::size_t k = s; k < segments.size(); ++k) {
        if (k > s) {
          if (!part.tokens.empty() && part.tokens.back().is_static) part.tokens.back().text += "/";
          else part.tokens.push_back(Token{true, "/", {}});
        }
        for (auto& t : segments[k]) {
          if (t.is_static && !part.tokens.empty() && part.tokens.back().is_static) part.tokens.back().text += t.text;
          else part.tokens.push_back(t);
        }
      }
      part.trailing_slash = segments.size() > s + 1 && segments.back().empty();
    } else if (std::all_of(seg.begin(), seg.end(), [](const Token& t) { return t.is_static; })) {
      part.is_static = true;
      for (auto& t : seg) part.text += t.text;
    } else {
      part.is_static = false;
      part.tokens = seg;
    }
    if (!part.is_static) {
      for (const auto& t : part.tokens) {
        if (t.is_static) {
          part.weight.statics.emplace_back(static_cast<int>(s), -static_cast<int>(t.text.size()));
          part.key += "s" + std::to_string(t.text.size()) + ":" + t.text;
        } else {
          part.weight.args.push_back(t.conv.weight());
          part.key += "c" + t.conv.spec;
        }
      }
      if (part.final) part.key += "F";
    }
    parts.push_back(std::move(part));
    if (parts.back().final) break;
  }
  return parts;
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
        while (p < s.size() && is_cont(static_cast<unsigned char>(s[p]))) ++p;
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
      while (p < s.size() && is_digit(s[p])) ++p;
      for (std::size_t e = p; e > digits_start; --e) ends.push_back(e);
      break;
    }
    case ConverterKind::kFloat: {
      std::size_t p = pos;
      if (c.is_signed && p < s.size() && s[p] == '-') ++p;
      std::size_t d1 = p;
      while (p < s.size() && is_digit(s[p])) ++p;
      if (p == d1 || p >= s.size() || s[p] != '.') break;
      ++p;
      std::size_t d2 = p;
      while (p < s.size() && is_digit(s[p])) ++p;
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
          if (e < s.size() && is_cont(static_cast<unsigned char>(s[e]))) continue;
          ends.push_back(e);
        }
      }
      break;
  }
}

bool match_tokens(const std::vector<Token>& tokens, std::size_t ti, std::string_view s, std::size_t pos,
                  std::vector<std::string_view>& caps) {
  if (ti == tokens.size()) return pos == s.size();
  const Token& t = tokens[ti];
  if (t.is_static) {
    if (s.compare(pos, t.text.size(), t.text) != 0) return false;
    return match_tokens(tokens, ti + 1, s, pos + t.text.size(), caps);
  }
  std::vector<std::size_t> ends;
  converter_ends(t.conv, s, pos, ends);
  for (std::size_t e : ends) {
    caps.push_back(s.substr(pos, e - pos));
    if (match_tokens(tokens, ti + 1, s, e, caps)) return true;
    caps.pop_back();
  }
  return false;
}

struct MatchCtx {
  unsigned bit = 0;
  unsigned have_match_for = 0;
  bool slash_required = false;
  std::string_view path;
  const std::vector<CompiledRule>* rules = nullptr;
};

bool rules_accept(const std::vector<std::size_t>& rule_ids, MatchCtx& ctx, std::size_t& out) {
  for (std::size_t id : rule_ids) {
    unsigned m = (*ctx.rules)[id].methods;
    if (m & ctx.bit) {
      out = id;
      return true;
    }
    ctx.have_match_for |= m;
  }
  return false;
}

bool match_state(const Router::State& st, const std::vector<std::string_view>& parts, std::size_t idx,
                 std::vector<std::string_view>& values, MatchCtx& ctx, std::size_t& out) {
  if (idx == parts.size()) {
    if (rules_accept(st.rules, ctx, out)) return true;
    auto it = st.statics.find("");
    if (it != st.statics.end()) {
      for (std::size_t id : it->second->rules) {
        if ((*ctx.rules)[id].methods & ctx.bit) {
          ctx.slash_required = true;
          return false;
        }
      }
    }
    return false;
  }
  std::string_view part = parts[idx];
  auto it = st.statics.find(part);
  if (it != st.statics.end()) {
    if (match_state(*it->second, parts, idx + 1, values, ctx, out)) return true;
    if (ctx.slash_required) return false;
  }
  for (const auto& [p, next] : st.dynamic) {
    std::size_t mark = values.size();
    if (p.final) {
      // The rest of the path, slashes included; parts are views into the one path string.
      std::string_view rest(part.data(), static_cast<std::size_t>(ctx.path.data() + ctx.path.size() - part.data()));
      if (match_tokens(p.tokens, 0, rest, 0, values)) {
        if (match_state(*next, parts, parts.size(), values, ctx, out)) return true;
        values.resize(mark);
        if (ctx.slash_required) return false;
      } else if (p.trailing_slash && (rest.empty() || rest.back() != '/')) {
        std::string with_slash = std::string(rest) + "/";
        std::vector<std::string_view> scratch;
        if (match_tokens(p.tokens, 0, with_slash, 0, scratch)) {
          for (std::size_t id : next->rules) {
            if ((*ctx.rules)[id].methods & ctx.bit) {
              ctx.slash_required = true;
              return false;
            }
          }
        }
      }
      continue;
    }
    if (match_tokens(p.tokens, 0, part, 0, values)) {
      if (match_state(*next, parts, idx + 1, values, ctx, out)) return true;
      values.resize(mark);
      if (ctx.slash_required) return false;
    }
  }
  return false;
}

// Werkzeug's to_python: a failure here is a 404 for the request, not a fall-through.
bool convert(const Converter& c, std::string_view text, ParamValue& v) {
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

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::string_view rest = path.substr(1);
  while (true) {
    auto slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  return parts;
}

}  // namespace

Router::Router() : root_(std::make_unique<State>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

std::size_t Router::add(std::string_view methods, std::string_view pattern) {
  CompiledRule rule;
  rule.pattern = std::string(pattern);
  rule.methods = parse_methods(methods, &rule.explicit_options);
  std::vector<Part> parts = compile_pattern(pattern, rule);
  State* st = root_.get();
  for (auto& part : parts) {
    if (part.is_static) {
      auto& next = st->statics[part.text];
      if (!next) next = std::make_unique<State>();
      st = next.get();
      continue;
    }
    auto same = std::find_if(st->dynamic.begin(), st->dynamic.end(),
                             [&](const auto& d) { return d.first.key == part.key; });
    if (same != st->dynamic.end()) {
      st = same->second.get();
      continue;
    }
    // Stable insertion: after every transition of lower or equal weight.
    auto pos = std::find_if(st->dynamic.begin(), st->dynamic.end(),
                            [&](const auto& d) { return part.weight < d.first.weight; });
    auto inserted = st->dynamic.insert(pos, {std::move(part), std::make_unique<State>()});
    st = inserted->second.get();
  }
  st->rules.push_back(rules_.size());
  rules_.push_back(std::move(rule));
  return rules_.size() - 1;
}

RouteMatch Router::match(std::string_view path, std::string_view method) const {
  RouteMatch result;
  if (path.empty() || path.front() != '/') return result;
  std::vector<std::string_view> parts = split_path(path);
  MatchCtx ctx;
  ctx.bit = method_bit(method);
  ctx.path = path;
  ctx.rules = &rules_;
  std::vector<std::string_view> values;
  std::size_t id = 0;
  bool found = match_state(*root_, parts, 0, values, ctx, id);
  if (ctx.slash_required) {
    result.kind = RouteMatch::Kind::kRedirect;
    result.redirect_path = std::string(path) + "/";
    return result;
  }
  if (!found) {
    if (ctx.have_match_for) {
      result.kind = RouteMatch::Kind::kMethodNotAllowed;
      result.allowed = method_names(ctx.have_match_for);
    }
    return result;
  }
  const CompiledRule& rule = rules_[id];
  result.rule = id;
  for (std::size_t k = 0; k < values.size() && k < rule.converters.size(); ++k) {
    ParamValue v;
    if (!convert(rule.converters[k], values[k], v)) {
      result.kind = RouteMatch::Kind::kNotFound;
      result.params.clear();
      return result;
    }
    result.params.emplace_back(rule.param_names[k], std::move(v));
  }
  if (ctx.bit == method::kOptions && !rule.explicit_options) {
    result.kind = RouteMatch::Kind::kOptions;
    result.allowed = allowed_methods(path);
    return result;
  }
  result.kind = RouteMatch::Kind::kMatch;
  return result;
}

std::vector<std::string> Router::allowed_methods(std::string_view path) const {
  if (path.empty() || path.front() != '/') return {};
  std::vector<std::string_view> parts = split_path(path);
  MatchCtx ctx;
  ctx.bit = 0;
  ctx.path = path;
  ctx.rules = &rules_;
  std::vector<std::string_view> values;
  std::size_t id = 0;
  match_state(*root_, parts, 0, values, ctx, id);
  return method_names(ctx.have_match_for);
}

}  // namespace flaskpp::core
