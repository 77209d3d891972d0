// request_rec -> core::Request, and core::Response -> the wire.
#pragma once

#include <cstddef>

#include "core/request.hpp"
#include "core/response.hpp"
#include "glue/apache.hpp"

namespace flaskpp::adapter {

// Method, path, query, host URL, client address and headers (no body).
core::Request read_request_head(request_rec* r);

// Reads the whole body into req.body. Returns OK, HTTP_REQUEST_ENTITY_TOO_LARGE (announced or
// actual size over max_bytes; refused before reading on to the end) or HTTP_BAD_REQUEST.
int read_body(request_rec* r, std::size_t max_bytes, core::Request& req);

// Sets status, content type, headers and Content-Length, writes the body (not for HEAD).
int write_response(request_rec* r, const core::Response& resp);

}  // namespace flaskpp::adapter
