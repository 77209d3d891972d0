// Error answers: JSON for JSON routes; otherwise negotiated by Accept (HTML, the route's
// FlaskppErrorTemplate page when configured, or JSON for clients that accept only JSON).
#include "core/app.hpp"
#include "core/errors.hpp"
#include "core/json.hpp"
#include "core/negotiation.hpp"

namespace flaskpp::core {

Response App::error_response(int status, const std::string& message, const Request& request, bool json_route,
                             Logger& log) const noexcept {
  Response resp;
  resp.status = status;
  try {
    if (!json_route) resp.headers.emplace_back("Vary", "Accept");
    if (json_route || accepts_only_json(request)) {
      resp.content_type = json_mimetype_;
      resp.body = json_error_body(status, message);
      return resp;
    }
    resp.error_page = true;
    resp.content_type = "text/html; charset=utf-8";
    auto it = settings_.error_templates.find(status);
    if (it != settings_.error_templates.end() && templates_) {
      try {
        mstch::map ctx = template_context(request, {});
        ctx["code"] = status;
        ctx["name"] = std::string(reason_phrase(status));
        ctx["message"] = sanitize_utf8(message);
        resp.body = render(it->second, ctx);
        return resp;
      } catch (const std::exception& e) {
        log.log(LogLevel::kError, tag::kErrorPageFailed,
                "error template '" + it->second + "' for status " + std::to_string(status) + " failed: " + e.what());
      }
    }
    std::string name = reason_phrase(status);
    resp.body = "<!doctype html>\n<html lang=en>\n<title>" + std::to_string(status) + " " + name + "</title>\n<h1>" +
                name + "</h1>\n<p>" + html_escape(message) + "</p>\n";
  } catch (...) {
    resp.content_type = "text/plain; charset=utf-8";
    resp.body = std::to_string(status) + "\n";
  }
  return resp;
}

}  // namespace flaskpp::core
