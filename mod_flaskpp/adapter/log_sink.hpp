// core::Logger over httpd's error log, for one request.
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

int apache_level(core::LogLevel level);

}  // namespace flaskpp::adapter
