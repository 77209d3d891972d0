#include "glue/server_text.hpp"

#include <algorithm>
#include <string_view>

namespace flaskpp::glue {

std::string server_label(const server_rec* s, apr_port_t fallback_port) {
  apr_port_t port = s->port ? s->port : (s->addrs && s->addrs->host_port ? s->addrs->host_port : fallback_port);
  std::string label = s->server_hostname ? s->server_hostname : "(unnamed)";
  if (port) label += ":" + std::to_string(port);
  return label;
}

bool plain_url_path(const std::string& p) {
  if (p.empty() || p.front() != '/') return false;
  for (char c : p) {
    auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f || c == '?' || c == '#' || c == '%') return false;
  }
  for (std::size_t start = 1; start <= p.size();) {
    std::size_t end = std::min(p.find('/', start), p.size());
    std::string_view segment(p.data() + start, end - start);
    if (segment == "." || segment == ".." || (segment.empty() && end != p.size())) return false;
    start = end + 1;
  }
  return true;
}

}  // namespace flaskpp::glue
