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
#include <cstdint>
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

// The text one part is matched against, with what converters need to know about every position,
// computed once in O(length). A character is a byte that is not a UTF-8 continuation byte plus the
// continuation bytes after it, so a code-point boundary is the end of the text or any position
// whose byte is not a continuation byte.
struct PartText {
  explicit PartText(std::string_view text);
  bool is_boundary(std::size_t q) const {
    return q == s.size() || !is_utf8_continuation(static_cast<unsigned char>(s[q]));
  }
  std::string_view s;
  std::vector<std::uint32_t> rank;        // rank[q]: number of boundaries in [0, q]
  std::vector<std::uint32_t> boundaries;  // every boundary, ascending
  std::vector<std::uint32_t> slash;       // slash[p]: first '/' at or after p, else s.size()
  std::vector<std::uint32_t> digits_end;  // digits_end[p]: first non-digit at or after p
};

// The ends a converter may take when it starts at one position, in the order its regex tries them.
struct EndRange {
  enum class Order { kLongestFirst, kShortestFirst };
  Order order = Order::kLongestFirst;
  std::size_t lo = 1, hi = 0;     // inclusive; empty when lo > hi
  bool boundaries_only = false;   // string, path: only the code-point boundaries in [lo, hi]
  bool also_start = false;        // string with minlength 0: the start itself, tried last
  bool listed = false;            // any: the converter's items in listed order; lo/hi unused
};
EndRange converter_ends(const Converter& c, const PartText& text, std::size_t pos);

// Whether the converter starting at pos may end at end (end >= pos); O(end - pos).
bool converter_can_end(const Converter& c, std::string_view s, std::size_t pos, std::size_t end);

// Matches tokens against the whole of s with the choice Werkzeug's backtracking regex makes.
// On success appends one view into s per converter to caps; on failure leaves caps as it was.
bool match_part(const std::vector<PatternToken>& tokens, std::string_view s, std::vector<std::string_view>& caps);

// Werkzeug's to_python: false means the rule matched but the value is refused (a 404).
bool convert_value(const Converter& c, std::string_view text, ParamValue& v);

}  // namespace flaskpp::core
