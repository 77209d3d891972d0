#include "core/negotiation.hpp"

#include <cstdlib>
#include <string>

#include "core/json.hpp"

namespace flaskpp::core {

namespace {

// The q parameter of an Accept item's parameters (";q=0.5;level=1"), 1 when absent.
double quality(const std::string& params) {
  std::size_t pos = 0;
  while ((pos = params.find(';', pos)) != std::string::npos) {
    ++pos;
    while (pos < params.size() && (params[pos] == ' ' || params[pos] == '\t')) ++pos;
    if (params.compare(pos, 2, "q=") == 0) return std::strtod(params.c_str() + pos + 2, nullptr);
  }
  return 1;
}

}  // namespace

bool accepts_only_json(const Request& request) {
  const std::string* accept = request.header("accept");
  if (!accept) return false;
  bool json = false;
  bool html = false;
  std::string_view rest(*accept);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string item = to_lower(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    auto semi = item.find(';');
    std::string params = semi == std::string::npos ? "" : item.substr(semi);
    item = item.substr(0, semi);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (quality(params) <= 0) continue;  // q=0: not acceptable
    if (is_json_media_type(item)) json = true;
    if (item == "text/html" || item == "*/*" || item == "text/*" || item == "application/xhtml+xml") html = true;
  }
  return json && !html;
}

}  // namespace flaskpp::core
