// Reading a request body, chunk by chunk, into a Request according to its Content-Type:
//   multipart/form-data      -> req.form and req.files, streamed (file data is never buffered:
//                               it goes to an UploadSession, or is counted and dropped)
//   application/x-www-form-urlencoded -> req.body and req.form
//   anything else (JSON, ...) -> req.body, buffered
// All within one size limit: a Content-Length over it is refused before anything is read.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/errors.hpp"
#include "core/request.hpp"
#include "core/uploads.hpp"

namespace flaskpp::core {

// Where the bytes come from (the adapter reads Apache's input brigades).
class BodySource {
 public:
  virtual ~BodySource() = default;
  // The next chunk, valid until the following call; false at the end of the body.
  // Throws PayloadTooLarge (e.g. Apache's LimitRequestBody) or ClientGone.
  virtual bool next(std::string_view& chunk) = 0;
};

struct BodyLimits {
  std::size_t max_body = 16u << 20;  // bytes, whole body
  std::size_t max_parts = 1000;      // multipart parts
};

// True when the request announces a body (Content-Length > 0 or Transfer-Encoding).
bool has_body(const Request& req);

// Reads the whole body. With `uploads`, files of `upload_field` are written to it (the caller
// commits the session once its answer is ready; a session never committed leaves nothing); other
// file parts are counted and dropped, or, with `keep_file_data` (handler and job routes), kept in
// FileInfo::data. Throws HttpError.
void read_body(Request& req, BodySource& source, const BodyLimits& limits, UploadSession* uploads = nullptr,
               const std::string& upload_field = "", bool keep_file_data = false);

}  // namespace flaskpp::core
