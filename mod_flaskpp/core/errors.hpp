// Every typed error of the core. Each HttpError is bound to one HTTP status; core::App maps them
// to responses in one place. ConfigError is raised while building configuration (directive
// setters, startup).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace flaskpp::core {

class HttpError : public std::runtime_error {
 public:
  HttpError(int status, const std::string& message, bool already_logged = false)
      : std::runtime_error(message), status_(status), already_logged_(already_logged) {}
  int status() const noexcept { return status_; }
  // The thrower has logged it (at most once per interval): App logs the answer at debug only.
  bool already_logged() const noexcept { return already_logged_; }

 private:
  int status_;
  bool already_logged_;
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
// The body could not be read to its end: the client went away, stopped sending, or sent a
// malformed chunked encoding (the message says which).
struct ClientGone : HttpError {
  explicit ClientGone(const std::string& m) : HttpError(400, m) {}
};
// FlaskppRateLimit refused the request; the stage has put Retry-After and X-RateLimit-* on the
// exchange's answer headers.
struct TooManyRequests : HttpError {
  explicit TooManyRequests(const std::string& m) : HttpError(429, m) {}
};
// The rate limit store failed and FlaskppRateLimitCache says fail-closed (503, Retry-After on the
// exchange). The stage has warned already.
struct RateLimitUnavailable : HttpError {
  explicit RateLimitUnavailable(const std::string& m) : HttpError(503, m, true) {}
};
struct RequestTimeout : HttpError {
  explicit RequestTimeout(const std::string& m) : HttpError(408, m) {}
};
// A multipart/form-data body that cannot be parsed (400), or has too many parts (413).
class MultipartError : public HttpError {
 public:
  enum class Kind { kMissingBoundary, kMalformed, kHeaderTooLarge, kTooManyParts, kTruncated };
  MultipartError(Kind kind, const std::string& message)
      : HttpError(kind == Kind::kTooManyParts ? 413 : 400, message), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// A server-side fault whose message is for the log (and the client only in development).
struct InternalError : HttpError {
  explicit InternalError(const std::string& m) : HttpError(500, m) {}
};

// A template or one of its partials cannot be loaded (a 500: the configuration is wrong).
struct TemplateNotFound : InternalError {
  explicit TemplateNotFound(const std::string& m) : InternalError(m) {}
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace flaskpp::core
