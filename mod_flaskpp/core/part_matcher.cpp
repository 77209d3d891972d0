// Matches one part's tokens against one segment, or against the rest of the path for a final part.
//
// Werkzeug compiles a part into a regex and lets Python's backtracking engine find the split: the
// first converter takes its most preferred end (longest for greedy, shortest for lazy, listed
// order for any) with which the rest can still match, then the next one, and so on. Tried
// literally that costs O(length^converters). Here the same choice is made in O(tokens x length):
// a backward pass marks, for every token and position, whether the tokens from there can match
// the rest of the text; a forward pass then gives each converter its most preferred end among
// the marked ones, which is exactly the end the backtracking search would settle on.
#include <algorithm>
#include <cstdint>

#include "core/router_internal.hpp"

namespace flaskpp::core {

namespace {

// At most one converter: the text after it is all static, so its end is fixed by the length of
// that text and only has to be checked. This is the common case and allocates nothing.
bool match_one_converter(const std::vector<PatternToken>& tokens, std::string_view s,
                         std::vector<std::string_view>& caps) {
  std::size_t pos = 0;
  std::size_t k = 0;
  for (; k < tokens.size() && tokens[k].is_static; ++k) {
    if (s.compare(pos, tokens[k].text.size(), tokens[k].text) != 0) return false;
    pos += tokens[k].text.size();
  }
  if (k == tokens.size()) return pos == s.size();
  std::size_t suffix = 0;
  for (std::size_t j = k + 1; j < tokens.size(); ++j) suffix += tokens[j].text.size();
  if (suffix > s.size() - pos) return false;
  const std::size_t end = s.size() - suffix;
  std::size_t at = end;
  for (std::size_t j = k + 1; j < tokens.size(); ++j) {
    if (s.compare(at, tokens[j].text.size(), tokens[j].text) != 0) return false;
    at += tokens[j].text.size();
  }
  if (!converter_can_end(tokens[k].conv, s, pos, end)) return false;
  caps.push_back(s.substr(pos, end - pos));
  return true;
}

// Running counts over one row of the feasibility table, so "is any end in [lo, hi] feasible" is O(1).
struct RowCounts {
  std::vector<std::uint32_t> all;       // all[q + 1]: feasible positions in [0, q]
  std::vector<std::uint32_t> boundary;  // boundary[q + 1]: feasible boundaries in [0, q]

  void build(const std::uint8_t* row, const PartText& text) {
    const std::size_t n = text.s.size();
    all.assign(n + 2, 0);
    boundary.assign(n + 2, 0);
    for (std::size_t q = 0; q <= n; ++q) {
      all[q + 1] = all[q] + row[q];
      boundary[q + 1] = boundary[q] + (row[q] && text.is_boundary(q) ? 1 : 0);
    }
  }
  bool any(std::size_t lo, std::size_t hi, bool boundaries_only) const {
    if (lo > hi) return false;
    const auto& v = boundaries_only ? boundary : all;
    return v[hi + 1] > v[lo];
  }
};

bool can_take(const PatternToken& t, const EndRange& r, std::size_t pos, const std::uint8_t* next, const RowCounts& counts,
              std::string_view s) {
  if (r.listed) {
    for (const auto& item : t.conv.items) {
      if (s.compare(pos, item.size(), item) == 0 && next[pos + item.size()]) return true;
    }
    return false;
  }
  return counts.any(r.lo, r.hi, r.boundaries_only) || (r.also_start && next[pos]);
}

// The end the regex settles on: its most preferred end from which the rest can match.
std::size_t preferred_end(const PatternToken& t, const EndRange& r, std::size_t pos, const std::uint8_t* next,
                          const PartText& text) {
  std::string_view s = text.s;
  if (r.listed) {
    for (const auto& item : t.conv.items) {
      if (s.compare(pos, item.size(), item) == 0 && next[pos + item.size()]) return pos + item.size();
    }
  } else if (r.lo <= r.hi) {
    auto usable = [&](std::size_t q) { return next[q] && (!r.boundaries_only || text.is_boundary(q)); };
    if (r.order == EndRange::Order::kLongestFirst) {
      for (std::size_t q = r.hi + 1; q-- > r.lo;) {
        if (usable(q)) return q;
      }
    } else {
      for (std::size_t q = r.lo; q <= r.hi; ++q) {
        if (usable(q)) return q;
      }
    }
  }
  return pos;  // r.also_start: the caller checked that some end is feasible
}

}  // namespace

bool match_part(const std::vector<PatternToken>& tokens, std::string_view s, std::vector<std::string_view>& caps) {
  std::size_t converters = 0;
  for (const auto& t : tokens) converters += t.is_static ? 0 : 1;
  if (converters <= 1) return match_one_converter(tokens, s, caps);

  // can[t * width + p]: tokens t.. match s[p..] to its end.
  const PartText text(s);
  const std::size_t n = s.size();
  const std::size_t width = n + 1;
  std::vector<std::uint8_t> can((tokens.size() + 1) * width, 0);
  can[tokens.size() * width + n] = 1;
  RowCounts counts;
  for (std::size_t ti = tokens.size(); ti-- > 0;) {
    const PatternToken& t = tokens[ti];
    std::uint8_t* row = &can[ti * width];
    const std::uint8_t* next = row + width;
    bool any = false;
    if (t.is_static) {
      const std::size_t len = t.text.size();
      for (std::size_t p = 0; p + len <= n; ++p) {
        row[p] = next[p + len] && s.compare(p, len, t.text) == 0;
        any = any || row[p];
      }
    } else {
      counts.build(next, text);
      for (std::size_t p = 0; p <= n; ++p) {
        row[p] = can_take(t, converter_ends(t.conv, text, p), p, next, counts, s);
        any = any || row[p];
      }
    }
    if (!any) return false;  // nothing before this token can match either
  }
  if (!can[0]) return false;

  std::size_t pos = 0;
  for (std::size_t ti = 0; ti < tokens.size(); ++ti) {
    const PatternToken& t = tokens[ti];
    if (t.is_static) {
      pos += t.text.size();
      continue;
    }
    std::size_t end = preferred_end(t, converter_ends(t.conv, text, pos), pos, &can[(ti + 1) * width], text);
    caps.push_back(s.substr(pos, end - pos));
    pos = end;
  }
  return true;
}

}  // namespace flaskpp::core
