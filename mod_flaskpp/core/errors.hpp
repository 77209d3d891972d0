// Typed errors. Each HttpError is bound to one HTTP status; core::App maps them to responses in
// one place. ConfigError is raised while building configuration (directive setters, startup).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace flaskpp::core {

class HttpError : public std::runtime_error {
 public:
  HttpError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

struct BadRequest : HttpError {
  explicit BadRequest(const std::string& m) : HttpError(400, m) {}
};
struct NotFound : HttpError {
  explicit NotFound(const std::string& m) : HttpError(404, m) {}
};
struct PayloadTooLarge : HttpError {
  explicit PayloadTooLarge(const std::string& m) : HttpError(413, m) {}
};
struct UnsupportedMediaType : HttpError {
  explicit UnsupportedMediaType(const std::string& m) : HttpError(415, m) {}
};
// A server-side fault whose message is for the log (and the client only in development).
struct InternalError : HttpError {
  explicit InternalError(const std::string& m) : HttpError(500, m) {}
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace flaskpp::core
