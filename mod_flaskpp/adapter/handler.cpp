// Request-time hooks.
//
// translate_name (first, after mod_rewrite's server-context rules): match r->uri against the
// server's routes. A claimed request gets our handler and a synthetic file name, so core's
// translation never maps it to a file (a route's segment may be longer than a file name can be);
// map_to_storage then skips the directory walk for it (like mod_proxy: routes are not files, so
// <Directory> and .htaccess do not apply; <Location> and Require still do). An unclaimed request
// is declined, so Apache serves DocumentRoot and other modules as usual.
// post_perdir_config: for an unclaimed request, FlaskppErrorTemplate pages become its error
// documents for the codes no ErrorDocument of the request's scope covers (the operator's wins).
// handler: builds core::Request, lets core::App answer, writes core::Response.
#include "adapter/hooks.hpp"

#include <cstdlib>
#include <cstring>

#include <mod_core.h>

#include "adapter/io.hpp"
#include "adapter/log_sink.hpp"
#include "core/errors.hpp"
#include "glue/boundary.hpp"
#include "glue/config.hpp"
#include "glue/pool.hpp"
#include "glue/status.hpp"

extern "C" {
extern module AP_MODULE_DECLARE_DATA flaskpp_module;
}

namespace flaskpp::adapter {

namespace {

using glue::guard_hook;
using glue::kErrorPrefix;
using glue::kHandlerName;

// Per-request state in r->request_config, owned by r->pool.
struct RequestState {
  core::RouteMatch match;
  int error_status = 0;  // set when serving a FlaskppErrorTemplate page for another request
};

RequestState* state_of(request_rec* r) {
  return static_cast<RequestState*>(ap_get_module_config(r->request_config, &flaskpp_module));
}

int claim(request_rec* r, RequestState* st) {
  ap_set_module_config(r->request_config, &flaskpp_module, st);
  r->handler = kHandlerName;
  r->filename = apr_pstrcat(r->pool, "flaskpp:", r->uri, nullptr);
  return OK;
}

const core::App* app_of(request_rec* r) {
  glue::ServerConfig* cfg = glue::server_config(r->server);
  return cfg && cfg->app ? cfg->app.get() : nullptr;
}

// Whether an ErrorDocument of the request's scope (or one set on the request) covers `status`.
bool operator_error_document(request_rec* r, int status) {
  return ap_response_code_string(r, ap_index_of_response(status)) != nullptr;
}

// The whole answer to a claimed request, from either the handler or the quick handler.
int serve(request_rec* r, const core::App& app, const core::RouteMatch& match) {
  RequestLogSink log(r);
  core::Request req = read_request_head(r);
  ApacheBodySource body(r);
  core::Response resp = app.handle(req, match, &body, log);
  // A body we did not read to its end is not worth draining: close the connection instead.
  if (core::has_body(req) && !body.finished()) r->connection->keepalive = AP_CONN_CLOSE;
  if (body.filter_answered()) return AP_FILTER_ERROR;  // Apache's answer is out; ours is logged only
  if (resp.error_page && operator_error_document(r, resp.status)) {
    // The operator's ErrorDocument wins over our HTML page; Apache builds Allow from r->allowed.
    // The answer still depends on Accept (a JSON-only client gets JSON): err_headers_out survive
    // Apache's error handling.
    set_allowed_methods(r, resp);
    // The stages' headers too: Retry-After and X-RateLimit-* (429, fail-closed 503), Set-Cookie.
    for (const auto& [name, value] : resp.headers) {
      const char* v = apr_pstrdup(r->pool, value.c_str());
      if (name == "Vary") {
        apr_table_mergen(r->err_headers_out, "Vary", v);
      } else if (name == "Retry-After" || name.rfind("X-RateLimit-", 0) == 0 || name == "Set-Cookie") {
        apr_table_addn(r->err_headers_out, apr_pstrdup(r->pool, name.c_str()), v);
      }
    }
    return resp.status;
  }
  if (!resp.file_path.empty()) return send_file(r, resp);
  return write_response(r, resp);
}

}  // namespace

extern "C" int fpp_translate_name(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    const core::App* app = app_of(r);
    if (!app || r->proxyreq || !r->uri || r->uri[0] != '/') return DECLINED;
    std::size_t prefix_len = std::strlen(kErrorPrefix);
    if (std::strncmp(r->uri, kErrorPrefix, prefix_len) == 0) {
      // Only Apache's own error redirect (ap_die) reaches a page: the previous request failed
      // with exactly this status. Asked for from outside, it is an ordinary unrouted path.
      int status = std::atoi(r->uri + prefix_len);
      if (r->prev && r->prev->status == status && app->error_templates().count(status)) {
        auto* st = glue::make_pool_owned<RequestState>(r->pool);
        st->error_status = status;
        return claim(r, st);
      }
      return DECLINED;
    }
    core::RouteMatch match = app->match(r->uri, r->method);
    if (match.kind == core::RouteMatch::Kind::kNoMatch) return DECLINED;
    auto* st = glue::make_pool_owned<RequestState>(r->pool);
    st->match = std::move(match);
    return claim(r, st);
  });
}

// Claimed requests are not files: no directory walk, no stat.
extern "C" int fpp_map_to_storage(request_rec* r) noexcept { return state_of(r) ? OK : DECLINED; }

// After the <Directory>/<Location> walks, so an ErrorDocument of the request's scope is known.
extern "C" int fpp_post_perdir_config(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    if (state_of(r) || r->main) return OK;
    glue::ServerConfig* cfg = glue::server_config(r->server);
    if (!cfg || !cfg->app) return OK;
    for (const auto& [status, uri] : cfg->error_paths) {
      if (!operator_error_document(r, status)) ap_custom_response(r, status, uri.c_str());
    }
    return OK;
  });
}

// mod_mime may have re-assigned the handler from the (synthetic) file name; ours stands.
extern "C" int fpp_fixups(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    if (state_of(r)) r->handler = kHandlerName;
    return DECLINED;
  });
}

extern "C" int fpp_handler(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    if (!r->handler || std::strcmp(r->handler, kHandlerName) != 0) return DECLINED;
    RequestState* st = state_of(r);
    const core::App* app = app_of(r);
    if (!st || !app) return DECLINED;
    if (st->error_status) {
      // A FlaskppErrorTemplate page: it describes the request the client made, not this
      // internal redirect.
      request_rec* original = r;
      while (original->prev) original = original->prev;
      RequestLogSink log(r);
      core::Request req = read_request_head(original);
      // ap_die turns the failed request into a GET for the redirect; the method it had is kept.
      if (const char* method = apr_table_get(r->subprocess_env, "REDIRECT_REQUEST_METHOD")) req.method = method;
      core::Response resp =
          app->error_response(st->error_status, core::status_description(st->error_status), req, false, log);
      return write_response(r, resp);
    }
    glue::RouteOutcome outcome(r, *app, st->match);  // counted for FlaskppStatus
    return outcome(serve(r, *app, st->match));
  });
}

// FlaskppQuickHandler On: answer matched routes before Apache's request phases (translate,
// map_to_storage, <Location>/<Directory> walks, access checks, type checking, fixups), as
// mod_cache's CacheQuickHandler does. The path is normalised here the way those phases would:
// dot segments and repeated slashes removed, %XX decoded; %2F and %00 are left to Apache (decline).
extern "C" int fpp_quick_handler(request_rec* r, int lookup_uri) noexcept {
  return guard_hook(r, r->server, [r, lookup_uri]() -> int {
    if (lookup_uri || r->main || r->proxyreq || !r->parsed_uri.path || r->parsed_uri.path[0] != '/') return DECLINED;
    glue::ServerConfig* cfg = glue::server_config(r->server);
    if (!cfg || !cfg->app || !cfg->quick_handler.value_or(false)) return DECLINED;
    char* path = apr_pstrdup(r->pool, r->parsed_uri.path);
    if (!ap_normalize_path(path, AP_NORMALIZE_NOT_ABOVE_ROOT | AP_NORMALIZE_DECODE_UNRESERVED |
                                     AP_NORMALIZE_MERGE_SLASHES)) {
      return DECLINED;
    }
    if (ap_unescape_url(path) != OK) return DECLINED;
    ap_getparents(path);
    ap_no2slash(path);
    const core::App& app = *cfg->app;
    core::RouteMatch match = app.match(path, r->method);
    if (match.kind == core::RouteMatch::Kind::kNoMatch) return DECLINED;
    r->uri = path;
    r->handler = kHandlerName;
    glue::RouteOutcome outcome(r, app, match);  // counted for FlaskppStatus
    return outcome(serve(r, app, match));
  });
}

}  // namespace flaskpp::adapter
