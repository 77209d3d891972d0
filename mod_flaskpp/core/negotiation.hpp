// Content negotiation for error answers: HTML or JSON by the client's Accept header.
#pragma once

#include "core/request.hpp"

namespace flaskpp::core {

// True when the client accepts JSON and not HTML (Accept lists JSON, and neither text/html,
// application/xhtml+xml, text/* nor */* with a non-zero quality).
bool accepts_only_json(const Request& request);

}  // namespace flaskpp::core
