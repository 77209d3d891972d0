// Request-time hooks.
//
// map_to_storage (first): match r->uri against the server's routes. A claimed request gets our
// handler and skips the directory walk (like mod_proxy: routes are not files, so <Directory> and
// .htaccess do not apply; <Location>, Require and mod_rewrite in server context still do). An
// unclaimed request is declined, so Apache serves DocumentRoot and other modules as usual; if
// FlaskppErrorTemplate pages exist, they are installed as this request's error documents.
// handler: builds core::Request, lets core::App dispatch, writes core::Response.
#include <cstdlib>
#include <cstring>

#include "adapter/hooks.hpp"
#include "adapter/io.hpp"
#include "adapter/log_sink.hpp"
#include "core/errors.hpp"
#include "glue/boundary.hpp"
#include "glue/config.hpp"
#include "glue/pool.hpp"

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

extern "C" int fpp_map_to_storage(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    glue::ServerConfig* cfg = glue::server_config(r->server);
    if (!cfg || !cfg->app || r->proxyreq || !r->uri || r->uri[0] != '/') return DECLINED;
    const core::App& app = *cfg->app;
    std::size_t prefix_len = std::strlen(kErrorPrefix);
    if (r->prev && std::strncmp(r->uri, kErrorPrefix, prefix_len) == 0) {
      int status = std::atoi(r->uri + prefix_len);
      if (app.error_templates().count(status)) {
        auto* st = glue::make_pool_owned<RequestState>(r->pool);
        st->error_status = status;
        return claim(r, st);
      }
    }
    core::RouteMatch match = app.match(r->uri, r->method);
    if (match.kind == core::RouteMatch::Kind::kNoMatch) {
      for (const auto& [status, uri] : cfg->error_paths) ap_custom_response(r, status, uri.c_str());
      return DECLINED;
    }
    auto* st = glue::make_pool_owned<RequestState>(r->pool);
    st->match = std::move(match);
    return claim(r, st);
  });
}

// mod_mime may have re-assigned the handler from the (synthetic) file name; ours stands.
extern "C" int fpp_fixups(request_rec* r) noexcept {
  if (state_of(r)) r->handler = kHandlerName;
  return DECLINED;
}

// The whole answer to a claimed request, from either the handler or the quick handler.
int serve(request_rec* r, const core::App& app, const core::RouteMatch& match) {
  RequestLogSink log(r);
  core::Request req = read_request_head(r);
  ApacheBodySource body(r);
  core::Response resp = app.handle(req, match, &body, log);
  // A body we did not read to its end is not worth draining: close the connection instead.
  if (core::has_body(req) && !body.finished()) r->connection->keepalive = AP_CONN_CLOSE;
  return write_response(r, resp);
}

extern "C" int fpp_handler(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    if (!r->handler || std::strcmp(r->handler, kHandlerName) != 0) return DECLINED;
    RequestState* st = state_of(r);
    glue::ServerConfig* cfg = glue::server_config(r->server);
    if (!st || !cfg || !cfg->app) return DECLINED;
    const core::App& app = *cfg->app;
    if (st->error_status) {
      RequestLogSink log(r);
      core::Request req = read_request_head(r);
      return write_response(r, app.error_response(st->error_status, core::status_description(st->error_status), req,
                                                  core::App::accepts_only_json(req), log));
    }
    return serve(r, app, st->match);
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
    return serve(r, app, match);
  });
}

// Builds every server's core::App from its merged configuration. Runs for `apachectl -t` too,
// so a configuration that cannot work fails there.
extern "C" int fpp_check_config(apr_pool_t*, apr_pool_t*, apr_pool_t*, server_rec* base) noexcept {
  for (server_rec* s = base; s; s = s->next) {
    glue::ServerConfig* cfg = glue::server_config(s);
    if (!cfg) continue;
    cfg->app.reset();
    cfg->error_paths.clear();
    if (cfg->routes.empty() && cfg->error_templates.empty()) continue;
    try {
      for (const auto& entry : cfg->error_templates) {
        cfg->error_paths.emplace_back(entry.first, kErrorPrefix + std::to_string(entry.first));
      }
      cfg->app = std::make_shared<const core::App>(glue::settings_from(*cfg), cfg->routes,
                                                   core::HandlerRegistry::builtins());
    } catch (const std::exception& e) {
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                   FPPLOGNO(00011) "mod_flaskpp: configuration of %s:%d cannot work: %s",
                   s->server_hostname ? s->server_hostname : "(main)", s->port, e.what());
      return HTTP_INTERNAL_SERVER_ERROR;
    }
  }
  return OK;
}

extern "C" int fpp_post_config(apr_pool_t*, apr_pool_t*, apr_pool_t*, server_rec* base) noexcept {
  if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;  // dry run
  for (server_rec* s = base; s; s = s->next) {
    glue::ServerConfig* cfg = glue::server_config(s);
    if (!cfg || !cfg->app) continue;
    for (const auto& w : cfg->app->warnings()) {
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, FPPLOGNO(00002) "%s", w.c_str());
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, FPPLOGNO(00001) "mod_flaskpp ready: %" APR_SIZE_T_FMT " routes, %s",
                 cfg->app->route_count(), core::env_name(cfg->app->env()));
  }
  return OK;
}

}  // namespace

void register_hooks() {
  ap_hook_check_config(fpp_check_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_post_config(fpp_post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_quick_handler(fpp_quick_handler, nullptr, nullptr, APR_HOOK_FIRST);
  ap_hook_map_to_storage(fpp_map_to_storage, nullptr, nullptr, APR_HOOK_FIRST);
  ap_hook_fixups(fpp_fixups, nullptr, nullptr, APR_HOOK_REALLY_LAST);
  ap_hook_handler(fpp_handler, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // namespace flaskpp::adapter
