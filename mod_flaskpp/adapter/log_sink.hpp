// core::Logger over httpd's error log, for one request (ap_log_rerror adds the client).
#pragma once

#include "core/logger.hpp"
#include "glue/apache.hpp"

namespace flaskpp::adapter {

class RequestLogSink final : public core::Logger {
 public:
  explicit RequestLogSink(request_rec* r) : r_(r) {}
  bool enabled(core::LogLevel level) const override;
  void log(core::LogLevel level, int tag, const std::string& message) override;

 private:
  request_rec* r_;
};

// core::Logger over httpd's error log for server events (startup, child processes).
class ServerLogSink final : public core::Logger {
 public:
  explicit ServerLogSink(server_rec* s) : s_(s) {}
  bool enabled(core::LogLevel level) const override;
  void log(core::LogLevel level, int tag, const std::string& message) override;

 private:
  server_rec* s_;
};

int apache_level(core::LogLevel level);

}  // namespace flaskpp::adapter
