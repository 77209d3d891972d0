// libcurl helpers shared by the integration suites: one request, its status, headers and body.
#pragma once

#include <curl/curl.h>

#include <cctype>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "it_support.hpp"

namespace flaskpp::it {

struct Reply {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

inline size_t on_header(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of("\r\n \t") + 1);
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}

inline Reply http(const std::string& method, const std::string& path, const std::vector<std::string>& headers = {},
           const std::string* body = nullptr, int port = 0) {
  Reply r;
  CURL* c = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port ? port : instance().port) + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  if (method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  else curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  CURLcode rc = curl_easy_perform(c);
  EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc) << " for " << method << " " << path;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return r;
}

inline Reply get(const std::string& path, const std::vector<std::string>& headers = {}) { return http("GET", path, headers); }

inline Reply post_json(const std::string& path, const std::string& body, const std::string& type = "application/json") {
  return http("POST", path, {"Content-Type: " + type}, &body);
}

// POSTs a multipart/form-data body: one file part (field, filename, data, optional type) and
// plain fields after it.
inline Reply post_file(const std::string& path, const std::string& field, const std::string& filename,
                       const std::string& data, const std::string& type = "",
                       const std::vector<std::pair<std::string, std::string>>& fields = {}) {
  Reply r;
  CURL* c = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(instance().port) + path;
  curl_mime* mime = curl_mime_init(c);
  curl_mimepart* part = curl_mime_addpart(mime);
  curl_mime_name(part, field.c_str());
  curl_mime_filename(part, filename.c_str());
  if (!type.empty()) curl_mime_type(part, type.c_str());
  curl_mime_data(part, data.data(), data.size());
  for (const auto& [name, value] : fields) {
    part = curl_mime_addpart(mime);
    curl_mime_name(part, name.c_str());
    curl_mime_data(part, value.c_str(), CURL_ZERO_TERMINATED);
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  CURLcode rc = curl_easy_perform(c);
  EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc) << " for POST " << path;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_mime_free(mime);
  curl_easy_cleanup(c);
  return r;
}

}  // namespace flaskpp::it
