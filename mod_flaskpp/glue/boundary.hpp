// noexcept guards between httpd's C callbacks and C++: whatever is thrown inside is caught, logged
// and turned into the C-shaped failure of that callback. Exceptions never unwind into httpd.
#pragma once

#include <exception>

#include "glue/apache.hpp"

namespace flaskpp::glue {

// For hooks that return an int status: exceptions become HTTP_INTERNAL_SERVER_ERROR.
template <typename F>
int guard_hook(request_rec* r, server_rec* s, F&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    if (r) ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, FPPLOGNO(00005) "internal error: %s", e.what());
    else ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, FPPLOGNO(00013) "internal error: %s", e.what());
  } catch (...) {
    if (r) ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, FPPLOGNO(00014) "internal error: unknown exception");
    else ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, FPPLOGNO(00015) "internal error: unknown exception");
  }
  return HTTP_INTERNAL_SERVER_ERROR;
}

// For directive setters: exceptions become an error string naming the directive.
template <typename F>
const char* guard_directive(cmd_parms* cmd, F&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, e.what());
  } catch (...) {
    return apr_psprintf(cmd->pool, "%s: unknown error", cmd->cmd->name);
  }
}

// For pool cleanups: exceptions become APR_EGENERAL.
template <typename F>
apr_status_t guard_cleanup(F&& body) noexcept {
  try {
    body();
    return APR_SUCCESS;
  } catch (...) {
    return APR_EGENERAL;
  }
}

}  // namespace flaskpp::glue
