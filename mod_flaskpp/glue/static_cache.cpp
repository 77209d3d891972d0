#include "glue/static_cache.hpp"

#include <cstring>
#include <string>

#include "core/errors.hpp"
#include "glue/boundary.hpp"
#include "glue/config.hpp"
#include "glue/directives.hpp"

extern "C" const char* fpp_set_static_max_age(cmd_parms* cmd, void*, const char* prefix) noexcept {
  return flaskpp::glue::guard_directive(cmd, [&]() -> const char* {
    std::string p = prefix;
    if (p.empty() || p[0] != '/') throw flaskpp::core::ConfigError("a URL prefix starting with '/' is needed, e.g. /static");
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    flaskpp::glue::directive_config(cmd).static_max_age_prefixes.push_back(p);
    return nullptr;
  });
}

extern "C" int fpp_static_fixups(request_rec* r) noexcept {
  return flaskpp::glue::guard_hook(r, r->server, [r]() -> int {
    if (r->method_number != M_GET || !r->uri || (r->handler && std::strcmp(r->handler, flaskpp::glue::kHandlerName) == 0)) {
      return DECLINED;
    }
    flaskpp::glue::ServerConfig* cfg = flaskpp::glue::server_config(r->server);
    if (!cfg || !cfg->app || cfg->static_max_age_prefixes.empty()) return DECLINED;
    auto age = cfg->app->send_file_max_age();
    if (!age) return DECLINED;
    for (const auto& p : cfg->static_max_age_prefixes) {
      std::size_t n = p.size();
      if (std::strncmp(r->uri, p.c_str(), n) == 0 && (p == "/" || r->uri[n] == '/' || r->uri[n] == '\0')) {
        // headers_out: only a successful answer carries it (errors use err_headers_out).
        apr_table_setn(r->headers_out, "Cache-Control",
                       *age > 0 ? apr_psprintf(r->pool, "public, max-age=%" APR_INT64_T_FMT, static_cast<apr_int64_t>(*age))
                                : "no-cache");
        break;
      }
    }
    return DECLINED;
  });
}
