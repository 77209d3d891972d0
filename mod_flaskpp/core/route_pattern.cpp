// Pattern text ("/users/<int:id>") -> parts and Werkzeug weights.
#include <algorithm>
#include <tuple>

#include "core/errors.hpp"
#include "core/router_internal.hpp"

namespace flaskpp::core {

namespace {

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

bool PartWeight::operator<(const PartWeight& o) const {
  auto a = std::make_tuple(-static_cast<long>(statics.size()), std::cref(statics),
                           -static_cast<long>(args.size()), std::cref(args));
  auto b = std::make_tuple(-static_cast<long>(o.statics.size()), std::cref(o.statics),
                           -static_cast<long>(o.args.size()), std::cref(o.args));
  return a < b;
}

std::vector<RulePart> compile_pattern(std::string_view pattern, CompiledRule& rule) {
  if (pattern.empty() || pattern.front() != '/') {
    throw ConfigError("pattern '" + std::string(pattern) + "' must start with '/'");
  }
  std::vector<std::vector<PatternToken>> segments(1);
  std::size_t i = 0;
  std::string static_text;
  auto flush_static = [&]() {
    std::size_t start = 0;
    while (true) {
      auto slash = static_text.find('/', start);
      std::string piece = static_text.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (!piece.empty()) {
        if (!segments.back().empty() && segments.back().back().is_static) segments.back().back().text += piece;
        else segments.back().push_back(PatternToken{true, piece, {}});
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
    PatternToken t;
    t.is_static = false;
    t.conv = conv;
    segments.back().push_back(std::move(t));
    i = close + 1;
  }
  flush_static();
  segments.erase(segments.begin());  // the empty segment before the leading '/'

  std::vector<RulePart> parts;
  for (std::size_t s = 0; s < segments.size(); ++s) {
    auto& seg = segments[s];
    bool has_path = std::any_of(seg.begin(), seg.end(), [](const PatternToken& t) {
      return !t.is_static && t.conv.kind == ConverterKind::kPath;
    });
    RulePart part;
    if (has_path) {
      // Werkzeug: a non-part-isolating converter turns the rest of the rule into one final part.
      part.is_static = false;
      part.final = true;
      for (std::size_t k = s; k < segments.size(); ++k) {
        if (k > s) {
          if (!part.tokens.empty() && part.tokens.back().is_static) part.tokens.back().text += "/";
          else part.tokens.push_back(PatternToken{true, "/", {}});
        }
        for (auto& t : segments[k]) {
          if (t.is_static && !part.tokens.empty() && part.tokens.back().is_static) part.tokens.back().text += t.text;
          else part.tokens.push_back(t);
        }
      }
      part.trailing_slash = segments.size() > s + 1 && segments.back().empty();
    } else if (std::all_of(seg.begin(), seg.end(), [](const PatternToken& t) { return t.is_static; })) {
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

}  // namespace flaskpp::core
