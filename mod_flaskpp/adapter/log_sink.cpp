#include "adapter/log_sink.hpp"

namespace flaskpp::adapter {

int apache_level(core::LogLevel level) {
  switch (level) {
    case core::LogLevel::kError: return APLOG_ERR;
    case core::LogLevel::kWarn: return APLOG_WARNING;
    case core::LogLevel::kInfo: return APLOG_INFO;
    case core::LogLevel::kDebug: return APLOG_DEBUG;
  }
  return APLOG_ERR;
}

bool RequestLogSink::enabled(core::LogLevel level) const { return APLOG_R_IS_LEVEL(r_, apache_level(level)); }

void RequestLogSink::log(core::LogLevel level, int tag, const std::string& message) {
  // The tag is the call site's number in core (core/logger.hpp); FPP prefix as FPPLOGNO prints it.
  ap_log_rerror(APLOG_MARK, apache_level(level), 0, r_, "FPP%05d: %s", tag, message.c_str());
}

bool ServerLogSink::enabled(core::LogLevel level) const { return APLOG_IS_LEVEL(s_, apache_level(level)); }

void ServerLogSink::log(core::LogLevel level, int tag, const std::string& message) {
  ap_log_error(APLOG_MARK, apache_level(level), 0, s_, "FPP%05d: %s", tag, message.c_str());
}

}  // namespace flaskpp::adapter
