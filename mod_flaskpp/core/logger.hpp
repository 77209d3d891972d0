// Logging interface for core code. The adapter forwards to httpd's error log (log_sink.cpp);
// tests install a capturing logger. Every message carries a tag printed as FPPnnnnn.
#pragma once

#include <string>

namespace flaskpp::core {

enum class LogLevel { kError, kWarn, kInfo, kDebug };

class Logger {
 public:
  virtual ~Logger() = default;
  virtual bool enabled(LogLevel level) const = 0;
  virtual void log(LogLevel level, int tag, const std::string& message) = 0;
};

class NullLogger final : public Logger {
 public:
  bool enabled(LogLevel) const override { return false; }
  void log(LogLevel, int, const std::string&) override {}
};

// Tags used by core (the next free number lives in mod_flaskpp/log_tags_next).
namespace tag {
constexpr int kStartupWarning = 2;
constexpr int kRouteMatched = 8;
constexpr int kClientError = 6;
constexpr int kMethodNotAllowed = 7;
constexpr int kConverterRejected = 10;
constexpr int kTemplateMissing = 3;
constexpr int kUnhandled = 4;
constexpr int kErrorPageFailed = 12;
}  // namespace tag

}  // namespace flaskpp::core
