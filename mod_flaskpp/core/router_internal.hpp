// Declarations shared by the router's source files; not part of the public API (tests use it).
//
//   route_pattern.cpp  pattern text -> parts (one per path segment, or one final part) + weights
//   converters.cpp     converter specs, the ends a converter may take, to_python conversion
//   part_matcher.cpp   matches one part's tokens against one segment (or the rest of the path)
//   route_methods.cpp  method names <-> bits
//   router.cpp         the segment tree and the walk that tells match, 404, 405, 308, OPTIONS
#pragma once

#include <cctype>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/router.hpp"

namespace flaskpp::core {

inline bool is_utf8_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }
inline bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

inline std::string trim_spaces(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// One piece of a part: literal text or a converter.
struct PatternToken {
  bool is_static = true;
  std::string text;  // static text
  Converter conv;    // converter
};

// Werkzeug's Weighting(-len(static_weights), static_weights, -len(argument_weights), argument_weights).
struct PartWeight {
  std::vector<std::pair<int, int>> statics;  // (segment index, -length)
  std::vector<int> args;                      // converter weights
  bool operator<(const PartWeight& o) const;
};

// What one transition of the segment tree consumes: one segment, or the rest of the path.
struct RulePart {
  bool is_static = true;
  bool final = false;           // consumes the rest of the path (contains a path converter)
  bool trailing_slash = false;  // final part whose rule ends in '/'
  std::string text;             // static part
  std::vector<PatternToken> tokens;  // dynamic part
  PartWeight weight;
  std::string key;              // identity for sharing states between rules
};

struct Router::State {
  std::map<std::string, std::unique_ptr<State>, std::less<>> statics;  // heterogeneous find
  std::vector<std::pair<RulePart, std::unique_ptr<State>>> dynamic;    // sorted by weight, stable
  std::vector<std::size_t> rules;                                      // declaration order
};

// Compiles a rule pattern into parts, filling rule.param_names and rule.converters. Throws ConfigError.
std::vector<RulePart> compile_pattern(std::string_view pattern, CompiledRule& rule);

// Candidate end positions for a converter at pos, in the order Werkzeug's regex would try them.
void converter_ends(const Converter& c, std::string_view s, std::size_t pos, std::vector<std::size_t>& ends);

// Matches tokens against the whole of s with the choice Werkzeug's backtracking regex makes.
// On success appends one view into s per converter to caps; on failure leaves caps as it was.
bool match_part(const std::vector<PatternToken>& tokens, std::string_view s, std::vector<std::string_view>& caps);

// Werkzeug's to_python: false means the rule matched but the value is refused (a 404).
bool convert_value(const Converter& c, std::string_view text, ParamValue& v);

}  // namespace flaskpp::core
