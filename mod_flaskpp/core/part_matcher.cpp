// Matches one part's tokens against one segment, or against the rest of the path for a final part.
#include "core/router_internal.hpp"

namespace flaskpp::core {

namespace {

bool match_tokens(const std::vector<PatternToken>& tokens, std::size_t ti, std::string_view s, std::size_t pos,
                  std::vector<std::string_view>& caps) {
  if (ti == tokens.size()) return pos == s.size();
  const PatternToken& t = tokens[ti];
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

}  // namespace

bool match_part(const std::vector<PatternToken>& tokens, std::string_view s, std::vector<std::string_view>& caps) {
  return match_tokens(tokens, 0, s, 0, caps);
}

}  // namespace flaskpp::core
