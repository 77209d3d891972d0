// Plain value types for one request. They own their data: nothing points into Apache memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flaskpp::core {

using StringPairs = std::vector<std::pair<std::string, std::string>>;

// A file part of a multipart body.
struct FileInfo {
  std::string field;         // form field name
  std::string filename;      // as sent by the client (unsafe: never used as a path)
  std::string content_type;  // as sent by the client
  std::uint64_t size = 0;    // bytes
  std::string saved_as;      // upload action: the file name it was saved under
  std::string url;           // upload action: where it is served
  std::string data;          // handler and job routes: the bytes (bounded by the body limit)
  std::string path;          // job inputs: the file in the job's spool directory
};

class SessionState;

struct Request {
  std::string method;        // as sent: "GET", "HEAD", ...
  std::string path;          // percent-decoded, normalised path (Apache's r->uri)
  std::string query;         // raw query string without '?'
  std::string host_url;      // "http://127.0.0.1:8080" (scheme, host, port)
  std::string remote_addr;   // client address as Apache sees it (mod_remoteip aware)
  StringPairs headers;       // names lower-cased, in arrival order
  std::string body;          // buffered body (JSON, urlencoded, other); empty for multipart
  StringPairs form;          // urlencoded or multipart fields, in arrival order
  std::vector<FileInfo> files;  // multipart file parts
  // The signed cookie session while the pipeline runs (set by the session stage, cleared when the
  // answer is final); null when sessions are off (no FlaskppSecretKey) or outside a request.
  SessionState* session = nullptr;

  // First value of a header (name in lower case), or nullptr.
  const std::string* header(std::string_view lower_name) const;
  std::string content_type() const;  // media type only, lower-cased, no parameters
  std::string url() const;           // host_url + quoted path + ?query
  StringPairs cookies() const;       // from the Cookie header(s), in order
};

// Query-string parsing as Werkzeug does it: '&'-separated, '+' is a space, %XX decoded;
// empty keys dropped, a key without '=' has an empty value.
StringPairs parse_query(std::string_view query);
std::string url_decode(std::string_view s, bool plus_is_space);
// Percent-encodes what may not appear in a URL path.
std::string url_quote_path(std::string_view path);
// Replaces invalid UTF-8 sequences with U+FFFD so that JSON output stays valid.
std::string sanitize_utf8(std::string_view s);
std::string to_lower(std::string_view s);
// The value of a run of ASCII digits; nullopt when empty, not all digits, or above 2^64 - 1.
std::optional<std::uint64_t> parse_decimal(std::string_view digits);
std::string html_escape(std::string_view s);

}  // namespace flaskpp::core
