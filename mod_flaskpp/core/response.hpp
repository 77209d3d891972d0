#pragma once

#include <string>
#include <utility>
#include <vector>

namespace flaskpp::core {

struct Response {
  int status = 200;
  std::string content_type;  // empty: none (e.g. 204, OPTIONS)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

const char* reason_phrase(int status);
// Werkzeug's standard description of an error status, for pages and JSON errors.
const char* status_description(int status);

}  // namespace flaskpp::core
