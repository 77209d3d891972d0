#include "adapter/io.hpp"

#include <cstdlib>

#include "core/errors.hpp"

#include "core/router.hpp"

namespace flaskpp::adapter {

namespace {

int add_header(void* rec, const char* key, const char* value) {
  auto* req = static_cast<core::Request*>(rec);
  auto& h = req->headers.emplace_back(key, value ? value : "");
  for (char& c : h.first) c = static_cast<char>(apr_tolower(c));
  return 1;
}

}  // namespace

core::Request read_request_head(request_rec* r) {
  core::Request req;
  req.method = r->method ? r->method : "";
  req.path = r->uri ? r->uri : "/";
  req.query = r->args ? r->args : "";
  // What ap_construct_url(r->pool, "", r) gives, without its printf.
  req.host_url = ap_http_scheme(r);
  req.host_url += "://";
  req.host_url += ap_get_server_name_for_url(r);
  apr_port_t port = ap_get_server_port(r);
  if (!ap_is_default_port(port, r)) req.host_url += ":" + std::to_string(port);
  req.remote_addr = r->useragent_ip ? r->useragent_ip : "";
  req.headers.reserve(static_cast<std::size_t>(apr_table_elts(r->headers_in)->nelts));
  apr_table_do(add_header, &req, r->headers_in, nullptr);
  return req;
}

ApacheBodySource::ApacheBodySource(request_rec* r) : r_(r), bb_(nullptr) {}

ApacheBodySource::~ApacheBodySource() {
  if (bb_) apr_brigade_destroy(bb_);
}

bool ApacheBodySource::next(std::string_view& chunk) {
  // Created on first use: most requests have no body to read.
  if (!bb_) bb_ = apr_brigade_create(r_->pool, r_->connection->bucket_alloc);
  chunk_.clear();
  while (!eos_ && chunk_.empty()) {
    apr_status_t rv = ap_get_brigade(r_->input_filters, bb_, AP_MODE_READBYTES, APR_BLOCK_READ, 65536);
    if (rv != APR_SUCCESS) {
      apr_brigade_cleanup(bb_);
      int status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
      if (status == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        throw core::PayloadTooLarge("request body larger than LimitRequestBody");
      }
      throw core::ClientGone("the client stopped sending the request body");
    }
    for (apr_bucket* b = APR_BRIGADE_FIRST(bb_); b != APR_BRIGADE_SENTINEL(bb_); b = APR_BUCKET_NEXT(b)) {
      if (APR_BUCKET_IS_EOS(b)) {
        eos_ = true;
        break;
      }
      if (APR_BUCKET_IS_METADATA(b)) continue;
      const char* data = nullptr;
      apr_size_t len = 0;
      if (apr_bucket_read(b, &data, &len, APR_BLOCK_READ) != APR_SUCCESS) {
        apr_brigade_cleanup(bb_);
        throw core::ClientGone("could not read the request body");
      }
      chunk_.append(data, len);
    }
    apr_brigade_cleanup(bb_);
  }
  chunk = chunk_;
  return !chunk_.empty();
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
