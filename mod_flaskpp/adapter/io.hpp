// request_rec -> core::Request, and core::Response -> the wire.
#pragma once

#include <cstddef>

#include "core/body.hpp"
#include "core/request.hpp"
#include "core/response.hpp"
#include "glue/apache.hpp"

namespace flaskpp::adapter {

// Method, path, query, host URL, client address and headers (no body).
core::Request read_request_head(request_rec* r);

// core::BodySource over Apache's input filters (HTTP_IN dechunks and enforces LimitRequestBody).
// Reads at most 64 KiB per call into one reused brigade, so memory stays flat for any body size.
class ApacheBodySource final : public core::BodySource {
 public:
  explicit ApacheBodySource(request_rec* r);
  ~ApacheBodySource() override;
  bool next(std::string_view& chunk) override;
  bool finished() const { return eos_; }
  // An input filter failed the body and Apache has already sent its error answer.
  bool filter_answered() const { return filter_answered_; }

 private:
  request_rec* r_;
  apr_bucket_brigade* bb_;
  std::string chunk_;
  bool eos_ = false;
  bool filter_answered_ = false;
};

// Sets status, content type, headers and Content-Length, writes the body (not for HEAD).
int write_response(request_rec* r, const core::Response& resp);
// A send_file() answer: Apache sends resp.file_path (sendfile), with Last-Modified, ETag, 304/412
// and ranges as for a static file; no content type given: mod_mime's.
int send_file(request_rec* r, const core::Response& resp);
// r->allowed from the answer's Allow header (Apache builds its own Allow from it).
void set_allowed_methods(request_rec* r, const core::Response& resp);

}  // namespace flaskpp::adapter
