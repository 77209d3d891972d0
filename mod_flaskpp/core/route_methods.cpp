// HTTP methods as bits, and the METHODS argument of FlaskppRoute.
#include "core/errors.hpp"
#include "core/router_internal.hpp"

namespace flaskpp::core {

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
    std::string item = trim_spaces(spec.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
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


}  // namespace flaskpp::core
