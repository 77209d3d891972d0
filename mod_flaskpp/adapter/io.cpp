#include "adapter/io.hpp"

#include <cstdlib>

#include "core/router.hpp"

namespace flaskpp::adapter {

namespace {

int add_header(void* rec, const char* key, const char* value) {
  auto* req = static_cast<core::Request*>(rec);
  req->headers.emplace_back(core::to_lower(key), value ? value : "");
  return 1;
}

}  // namespace

core::Request read_request_head(request_rec* r) {
  core::Request req;
  req.method = r->method ? r->method : "";
  req.path = r->uri ? r->uri : "/";
  req.query = r->args ? r->args : "";
  req.host_url = ap_construct_url(r->pool, "", r);
  req.remote_addr = r->useragent_ip ? r->useragent_ip : "";
  apr_table_do(add_header, &req, r->headers_in, nullptr);
  return req;
}

int read_body(request_rec* r, std::size_t max_bytes, core::Request& req) {
  if (const char* cl = apr_table_get(r->headers_in, "Content-Length")) {
    char* end = nullptr;
    unsigned long long announced = std::strtoull(cl, &end, 10);
    if (end && *end == '\0' && announced > max_bytes) return HTTP_REQUEST_ENTITY_TOO_LARGE;
  }
  int rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
  if (rc != OK) return rc;
  if (!ap_should_client_block(r)) return OK;
  char buf[16384];
  long n;
  while ((n = ap_get_client_block(r, buf, sizeof buf)) > 0) {
    if (req.body.size() + static_cast<std::size_t>(n) > max_bytes) return HTTP_REQUEST_ENTITY_TOO_LARGE;
    req.body.append(buf, static_cast<std::size_t>(n));
  }
  return n < 0 ? HTTP_BAD_REQUEST : OK;
}

int write_response(request_rec* r, const core::Response& resp) {
  r->status = resp.status;
  if (!resp.content_type.empty()) ap_set_content_type(r, apr_pstrdup(r->pool, resp.content_type.c_str()));
  for (const auto& [name, value] : resp.headers) {
    apr_table_add(r->headers_out, apr_pstrdup(r->pool, name.c_str()), apr_pstrdup(r->pool, value.c_str()));
    if (name == "Allow") {
      // Apache builds its own Allow from r->allowed; keep both in agreement.
      std::string_view rest(value);
      while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string m(rest.substr(0, comma));
        m.erase(0, m.find_first_not_of(' '));
        int num = ap_method_number_of(m.c_str());
        if (num != M_INVALID) r->allowed |= (AP_METHOD_BIT << num);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    }
  }
  ap_set_content_length(r, static_cast<apr_off_t>(resp.body.size()));
  if (!r->header_only && !resp.body.empty()) {
    if (ap_rwrite(resp.body.data(), static_cast<int>(resp.body.size()), r) < 0) return OK;  // client gone
  }
  return OK;
}

}  // namespace flaskpp::adapter
