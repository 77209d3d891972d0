#include "adapter/io.hpp"

#include <exception>
#include <string>

#include "core/errors.hpp"

namespace flaskpp::adapter {

namespace {

// apr_table_do's callback runs inside APR's C frames: nothing may unwind through them. A failure
// stops the walk (return 0) and is rethrown by the caller once APR has returned.
struct HeaderWalk {
  core::Request* req;
  std::exception_ptr error;
};

extern "C" int fpp_add_header(void* rec, const char* key, const char* value) noexcept {
  auto* walk = static_cast<HeaderWalk*>(rec);
  try {
    auto& h = walk->req->headers.emplace_back(key ? key : "", value ? value : "");
    for (char& c : h.first) c = static_cast<char>(apr_tolower(c));
    return 1;
  } catch (...) {
    walk->error = std::current_exception();
    return 0;
  }
}

// What a failed ap_get_brigade means, for the client and the log.
[[noreturn]] void throw_read_error(request_rec* r, apr_status_t rv) {
  if (rv == AP_FILTER_ERROR) {
    // An input filter has already answered with an error of its own (HTTP_IN: a malformed chunk
    // gives 400, a body over LimitRequestBody 413; ap_die set r->status).
    if (r->status == HTTP_REQUEST_ENTITY_TOO_LARGE) {
      throw core::PayloadTooLarge("request body larger than LimitRequestBody");
    }
    const char* te = apr_table_get(r->headers_in, "Transfer-Encoding");
    if (te && ap_find_last_token(r->pool, te, "chunked")) {
      throw core::ClientGone("malformed chunked transfer encoding in the request body");
    }
    throw core::ClientGone("an input filter refused the request body");
  }
  if (ap_map_http_request_error(rv, HTTP_BAD_REQUEST) == HTTP_REQUEST_ENTITY_TOO_LARGE) {
    throw core::PayloadTooLarge("request body larger than LimitRequestBody (or a chunk size line too long)");
  }
  if (APR_STATUS_IS_TIMEUP(rv)) throw core::RequestTimeout("timed out waiting for the request body");
  if (rv == APR_EINVAL) throw core::ClientGone("malformed chunked transfer encoding in the request body");
  if (APR_STATUS_IS_EOF(rv) || rv == APR_INCOMPLETE || APR_STATUS_IS_ECONNRESET(rv)) {
    throw core::ClientGone("the client closed the connection before the end of the request body");
  }
  char buf[120];
  apr_strerror(rv, buf, sizeof buf);
  throw core::ClientGone(std::string("error reading the request body: ") + buf);
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
  HeaderWalk walk{&req, nullptr};
  apr_table_do(fpp_add_header, &walk, r->headers_in, nullptr);
  if (walk.error) std::rethrow_exception(walk.error);
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
      if (rv == AP_FILTER_ERROR) filter_answered_ = true;
      throw_read_error(r_, rv);
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
        throw core::ClientGone("could not read a bucket of the request body");
      }
      chunk_.append(data, len);
    }
    apr_brigade_cleanup(bb_);
  }
  chunk = chunk_;
  return !chunk_.empty();
}

void set_allowed_methods(request_rec* r, const core::Response& resp) {
  for (const auto& [name, value] : resp.headers) {
    if (name != "Allow") continue;
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

int write_response(request_rec* r, const core::Response& resp) {
  r->status = resp.status;
  if (!resp.content_type.empty()) ap_set_content_type(r, apr_pstrdup(r->pool, resp.content_type.c_str()));
  for (const auto& [name, value] : resp.headers) {
    apr_table_add(r->headers_out, apr_pstrdup(r->pool, name.c_str()), apr_pstrdup(r->pool, value.c_str()));
  }
  // Apache builds its own Allow from r->allowed; keep both in agreement.
  set_allowed_methods(r, resp);
  ap_set_content_length(r, static_cast<apr_off_t>(resp.body.size()));
  if (!r->header_only && !resp.body.empty()) {
    if (ap_rwrite(resp.body.data(), static_cast<int>(resp.body.size()), r) < 0) return OK;  // client gone
  }
  return OK;
}

// The content type Apache (mod_mime) gives the file, as for a static file; a sub-request that an
// access rule refuses still has its file name, so the type checker is asked directly then.
static const char* file_content_type(request_rec* r, const char* path) {
  request_rec* sub = ap_sub_req_lookup_file(path, r, nullptr);
  if (!sub) return "application/octet-stream";
  if (!sub->content_type && sub->filename) ap_run_type_checker(sub);
  const char* type = sub->content_type ? apr_pstrdup(r->pool, sub->content_type) : "application/octet-stream";
  ap_destroy_sub_req(sub);
  return type;
}

int send_file(request_rec* r, const core::Response& resp) {
  apr_file_t* fd = nullptr;
  apr_finfo_t finfo;
  if (apr_file_open(&fd, resp.file_path.c_str(), APR_READ | APR_BINARY | APR_SENDFILE_ENABLED, APR_OS_DEFAULT,
                    r->pool) != APR_SUCCESS ||
      apr_file_info_get(&finfo, APR_FINFO_NORM, fd) != APR_SUCCESS || finfo.filetype != APR_REG) {
    if (fd) apr_file_close(fd);
    return HTTP_NOT_FOUND;  // removed since the handler answered
  }
  r->status = resp.status;
  ap_set_content_type(r, resp.content_type.empty() ? file_content_type(r, resp.file_path.c_str())
                                                   : apr_pstrdup(r->pool, resp.content_type.c_str()));
  for (const auto& [name, value] : resp.headers) {
    apr_table_add(r->headers_out, apr_pstrdup(r->pool, name.c_str()), apr_pstrdup(r->pool, value.c_str()));
  }
  // As for a static file: validators, then conditional requests (304/412) and ranges.
  r->finfo = finfo;
  ap_update_mtime(r, finfo.mtime);
  ap_set_last_modified(r);
  ap_set_etag(r);
  apr_table_setn(r->headers_out, "Accept-Ranges", "bytes");
  if (resp.status == 200) {
    int cond = ap_meets_conditions(r);
    if (cond != OK) return cond;
  }
  ap_set_content_length(r, finfo.size);
  if (r->header_only) return OK;
  apr_bucket_brigade* bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
  apr_brigade_insert_file(bb, fd, 0, finfo.size, r->pool);
  APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
  apr_status_t rv = ap_pass_brigade(r->output_filters, bb);
  return rv == AP_FILTER_ERROR ? AP_FILTER_ERROR : OK;  // otherwise the client went away: logged by core
}

}  // namespace flaskpp::adapter
