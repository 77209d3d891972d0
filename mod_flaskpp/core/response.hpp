// One answer, as plain values; the adapter writes it to the wire.
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
  // An HTML error page: an operator's ErrorDocument for this status that covers the request
  // replaces it (the adapter hands the status to Apache instead).
  bool error_page = false;
  // send_file(): the adapter sends this file (absolute path) with Last-Modified, ETag and
  // conditional requests; content_type empty: from the file name (mod_mime).
  std::string file_path;
};

const char* reason_phrase(int status);
// Werkzeug's standard description of an error status, for pages and JSON errors.
const char* status_description(int status);
// Werkzeug's redirect answer: Location and a small HTML body with the link.
Response redirect_response(int status, const std::string& location);

}  // namespace flaskpp::core
