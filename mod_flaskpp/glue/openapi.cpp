#include "glue/openapi.hpp"

#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <fstream>
#include <sstream>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "adapter/io.hpp"
#include "core/app.hpp"
#include "core/errors.hpp"
#include "core/handlers.hpp"
#include "core/openapi.hpp"
#include "core/response.hpp"
#include "glue/boundary.hpp"
#include "glue/config.hpp"
#include "glue/directives.hpp"
#include "glue/pool.hpp"
#include "glue/server_text.hpp"

#ifndef FLASKPP_SWAGGER_UI_DIR
#define FLASKPP_SWAGGER_UI_DIR ""  // no build-tree copy
#endif
#ifndef FLASKPP_SWAGGER_UI_INSTALL_DIR
#define FLASKPP_SWAGGER_UI_INSTALL_DIR "/usr/local/share/mod-flaskpp/swagger-ui-dist"
#endif

namespace flaskpp::glue {

namespace {

constexpr const char* kStateKey = "flaskpp:openapi";
constexpr const char* kPageHandler = "flaskpp-openapi";
constexpr const char* kFilePrefix = "flaskpp-openapi:";  // synthetic r->filename of a claimed request
constexpr const char* kAssetsSegment = "/assets";
// swagger-ui-dist's files are versioned with the package (pinned by scripts/setup.sh), but their
// URLs are not: a day, then revalidation with the file's ETag / Last-Modified.
constexpr const char* kAssetCacheControl = "public, max-age=86400";

// The only files served from the assets directory: what swagger_ui_page() loads, and the favicons.
struct Asset {
  const char* name;
  const char* content_type;
};
constexpr Asset kAssets[] = {
    {"swagger-ui.css", "text/css; charset=utf-8"},
    {"swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
    {"swagger-ui-standalone-preset.js", "text/javascript; charset=utf-8"},
    {"favicon-16x16.png", "image/png"},
    {"favicon-32x32.png", "image/png"},
};
constexpr const char* kRequiredAsset = "swagger-ui-bundle.js";

const Asset* find_asset(std::string_view name) {
  for (const Asset& a : kAssets) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

// What one server configuration serves, built in check_config; read-only afterwards.
struct Built {
  std::string document;      // the OpenAPI document (JSON)
  std::string document_etag;
  std::string page;          // Swagger UI's page; empty without FlaskppSwaggerUI
  std::string page_etag;
  // The Swagger UI assets (parallel to kAssets; empty: not installed), read at startup by the
  // parent: served from memory, so they need no permission for Apache's User (a build tree under
  // /root works) and cost no file system access per request.
  std::vector<std::pair<std::string, std::string>> assets;  // (bytes, etag)
  std::size_t documented = 0;          // routes in the document
  std::vector<std::string> warnings;   // the builder's, and routes the pages shadow
};

// pconf userdata (pool-owned): one Built per distinct ServerConfig (a virtual host without
// Flaskpp directives shares the main server's). Written in check_config only.
struct OpenApiState {
  std::unordered_map<const ServerConfig*, Built> built;
  apr_time_t built_at = 0;  // Last-Modified of the document and the page
};

const OpenApiState* state_of(apr_pool_t* pconf) {
  void* data = nullptr;
  apr_pool_userdata_get(&data, kStateKey, pconf);
  return static_cast<const OpenApiState*>(data);
}


void check_url_path(const std::string& p, const char* example) {
  if (!plain_url_path(p)) {
    throw core::ConfigError("'" + p + "' must be a plain URL path such as " + example +
                            " (no query, '%', spaces, empty or dot segments), or Off");
  }
}

bool openapi_on(const ServerConfig& cfg) { return cfg.openapi && !cfg.openapi->path.empty(); }
bool swagger_on(const ServerConfig& cfg) { return cfg.swagger_ui && !cfg.swagger_ui->path.empty(); }

// Swagger UI's URLs for its configured path: the page (canonical, as written), the same path
// with the final '/' added or removed (redirected to the page; none for "/"), and the assets
// prefix (page path without its final '/', plus /assets).
struct SwaggerUrls {
  std::string page;
  std::string alternate;
  std::string assets;  // "/docs/assets": the directory itself and everything below it is ours
};

SwaggerUrls swagger_urls(const std::string& path) {
  SwaggerUrls u;
  u.page = path;
  std::string base = path.back() == '/' ? path.substr(0, path.size() - 1) : path;
  if (path != "/") u.alternate = path.back() == '/' ? base : path + "/";
  u.assets = base + kAssetsSegment;
  return u;
}

enum class Page { kNone, kDocument, kSwaggerUi, kSwaggerRedirect, kAsset };

struct Target {
  Page page = Page::kNone;
  std::string_view asset;  // kAsset: the rest of the path after ".../assets/" (may be anything)
};

// Which of Swagger UI's URLs `uri` is.
Target swagger_target(const SwaggerUiDirective& ui, std::string_view uri) {
  Target t;
  SwaggerUrls u = swagger_urls(ui.path);
  if (uri == u.page) {
    t.page = Page::kSwaggerUi;
  } else if (!u.alternate.empty() && uri == u.alternate) {
    t.page = Page::kSwaggerRedirect;
  } else if (uri.substr(0, u.assets.size()) == u.assets &&
             (uri.size() == u.assets.size() || uri[u.assets.size()] == '/')) {
    t.page = Page::kAsset;
    t.asset = uri.size() > u.assets.size() ? uri.substr(u.assets.size() + 1) : std::string_view();
  }
  return t;
}

// Which of this server's pages `uri` is (the document wins over Swagger UI's paths; the
// configuration refuses such overlaps anyway).
Target page_for(const ServerConfig& cfg, std::string_view uri) {
  if (openapi_on(cfg) && uri == cfg.openapi->path) return Target{Page::kDocument, {}};
  return swagger_on(cfg) ? swagger_target(*cfg.swagger_ui, uri) : Target{};
}

// A strong validator for a body built at startup: FNV-1a, 64 bits.
std::string etag_of(const std::string& body) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016" PRIx64 "\"", h);
  return buf;
}

// "/srv/schemas/user.json" -> "user".
std::string file_stem(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  std::size_t dot = name.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

std::string route_text(const core::RouteDecl& d) {
  std::string s = std::string(directive::kRoute) + " " + d.methods + " " + d.pattern;
  if (!d.where.empty()) s += " at " + d.where;
  return s;
}

// Paths the pages answer, to find the routes they shadow: (a path to match, how to name it).
std::vector<std::pair<std::string, std::string>> claimed_paths(const ServerConfig& cfg) {
  std::vector<std::pair<std::string, std::string>> out;
  if (openapi_on(cfg)) out.emplace_back(cfg.openapi->path, cfg.openapi->path);
  if (swagger_on(cfg)) {
    SwaggerUrls u = swagger_urls(cfg.swagger_ui->path);
    out.emplace_back(u.page, u.page);
    if (!u.alternate.empty()) out.emplace_back(u.alternate, u.alternate);
    out.emplace_back(u.assets + "/" + kRequiredAsset, u.assets + "/...");
  }
  return out;
}

// Overlaps between the pages' paths and FlaskppStatus's: one of them would never answer.
void check_paths(const ServerConfig& cfg) {
  const std::string& doc = cfg.openapi->path;
  if (swagger_on(cfg)) {
    if (swagger_target(*cfg.swagger_ui, doc).page != Page::kNone) {
      throw core::ConfigError(std::string(directive::kOpenAPI) + " " + doc + " is one of " + directive::kSwaggerUI +
                              " " + cfg.swagger_ui->path + "'s paths (the page, its assets); give them distinct paths");
    }
  }
  if (cfg.status_path && !cfg.status_path->empty() && page_for(cfg, *cfg.status_path).page != Page::kNone) {
    throw core::ConfigError(std::string("FlaskppStatus ") + *cfg.status_path + " is also a path of " +
                            directive::kOpenAPI + "/" + directive::kSwaggerUI + "; give them distinct paths");
  }
}

// Builds the document (and page) of one server configuration. Throws ConfigError.
Built build(const ServerConfig& cfg) {
  Built b;
  core::OpenApiInput input;
  if (!cfg.openapi->title.empty()) input.title = cfg.openapi->title;
  if (!cfg.openapi->version.empty()) input.version = cfg.openapi->version;
  if (const core::App* app = cfg.app.get()) {
    for (std::size_t i = 0; i < app->route_count(); ++i) {
      const core::RouteDecl& d = app->route(i);
      // A static route of exactly a page's path never answers: it is left out. (The pages are not
      // routes, so they are not listed either.)
      Page shadowed = d.pattern.find('<') == std::string::npos ? page_for(cfg, d.pattern).page : Page::kNone;
      if (shadowed != Page::kNone) {
        const char* by = shadowed == Page::kDocument ? directive::kOpenAPI : directive::kSwaggerUI;
        b.warnings.push_back(route_text(d) + " is shadowed by " + by + " and left out of the OpenAPI document");
        continue;
      }
      const bool documents_itself = d.action == core::ActionKind::kHandler || d.action == core::ActionKind::kJob;
      core::OpenApiRoute r = core::openapi_route(d, documents_itself ? app->handlers().meta(d.target) : nullptr);
      r.body_schema = openapi_body_schema(*app, i);
      if (!d.schema_path.empty()) r.body_schema_name = file_stem(d.schema_path);
      r.rate_limited = !app->rate_rules_for(i).empty();
      input.routes.push_back(std::move(r));
    }
    // Dynamic routes that also match a page's path: the page answers there. One warning per route.
    std::vector<std::string> overlaps(app->route_count());
    for (const auto& [path, shown] : claimed_paths(cfg)) {
      core::RouteMatch m = app->match(path, "GET");
      if (m.kind == core::RouteMatch::Kind::kNoMatch || m.rule >= app->route_count()) continue;
      if (app->route(m.rule).pattern.find('<') == std::string::npos) continue;  // static: reported above
      std::string& list = overlaps[m.rule];
      list += (list.empty() ? "" : ", ") + shown;
    }
    for (std::size_t i = 0; i < overlaps.size(); ++i) {
      if (overlaps[i].empty()) continue;
      b.warnings.push_back(route_text(app->route(i)) + " also matches " + overlaps[i] + ", which " +
                           directive::kOpenAPI + "/" + directive::kSwaggerUI + " answer" +
                           (cfg.quick_handler.value_or(false) ? " (except from the quick handler)" : ""));
    }
  }
  b.documented = input.routes.size();
  b.document = core::build_openapi(input, &b.warnings);
  b.document_etag = etag_of(b.document);
  if (swagger_on(cfg)) {
    SwaggerUrls u = swagger_urls(cfg.swagger_ui->path);
    b.page = core::swagger_ui_page(cfg.openapi->path, u.assets + "/", input.title);
    b.page_etag = etag_of(b.page);
    for (const Asset& a : kAssets) {
      std::ifstream in(cfg.swagger_ui->assets_dir + "/" + a.name, std::ios::binary);
      std::ostringstream bytes;
      if (in) bytes << in.rdbuf();
      std::string body = in ? bytes.str() : std::string();
      if (body.empty() && std::strcmp(a.name, kRequiredAsset) == 0) {
        throw core::ConfigError(std::string("cannot read ") + kRequiredAsset + " from '" + cfg.swagger_ui->assets_dir +
                                "' (install swagger-ui-dist there)");
      }
      std::string etag = body.empty() ? std::string() : etag_of(body);
      b.assets.emplace_back(std::move(body), std::move(etag));
    }
  }
  return b;
}

// A body built at startup: validators, then conditional requests (304), then the bytes.
int serve_built(request_rec* r, const std::string& body, const char* type, const std::string& etag,
                apr_time_t built_at, const char* cache_control = "no-cache") {
  ap_set_content_type(r, type);
  apr_table_setn(r->headers_out, "Cache-Control", cache_control);
  apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
  apr_table_setn(r->headers_out, "ETag", etag.c_str());  // lives in pconf, beyond the request
  ap_update_mtime(r, built_at);
  ap_set_last_modified(r);
  int cond = ap_meets_conditions(r);
  if (cond != OK) return cond;
  ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
  if (!r->header_only) ap_rwrite(body.data(), static_cast<int>(body.size()), r);
  return OK;
}

// An asset from memory (a fixed list: no client text reaches the file system).
int serve_asset(request_rec* r, const Built& b, apr_time_t built_at, std::string_view name) {
  const Asset* asset = find_asset(name);
  if (!asset) return HTTP_NOT_FOUND;
  auto index = static_cast<std::size_t>(asset - kAssets);
  if (index >= b.assets.size()) return HTTP_NOT_FOUND;
  const auto& [body, etag] = b.assets[index];
  if (body.empty()) {
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, FPPLOGNO(00054)
                  "mod_flaskpp: Swagger UI asset %s was not installed at startup", asset->name);
    return HTTP_NOT_FOUND;
  }
  return serve_built(r, body, asset->content_type, etag, built_at, kAssetCacheControl);
}

}  // namespace

// The schema the route's bodies are checked against (schema= or the handler's declared one).
const rapidjson::Value* openapi_body_schema(const core::App& app, std::size_t i) { return app.body_schema(i); }

extern "C" const char* fpp_set_openapi(cmd_parms* cmd, void*, const char* path, const char* title,
                                       const char* version) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    ServerConfig* cfg = &directive_config(cmd);
    if (strcasecmp(path, "Off") == 0) {
      if (title) throw core::ConfigError("Off takes no TITLE or VERSION");
      cfg->openapi = OpenApiDirective{};  // set, and off: a virtual host turns the inherited document off
      return nullptr;
    }
    OpenApiDirective d;
    d.path = path;
    check_url_path(d.path, "/openapi.json");
    if (title) {
      d.title = title;
      if (d.title.empty()) throw core::ConfigError("TITLE is empty");
    }
    if (version) {
      d.version = version;
      if (d.version.empty()) throw core::ConfigError("VERSION is empty");
    }
    cfg->openapi = std::move(d);
    return nullptr;
  });
}

extern "C" const char* fpp_set_swagger_ui(cmd_parms* cmd, void*, const char* path, const char* assets_dir) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    ServerConfig* cfg = &directive_config(cmd);
    if (strcasecmp(path, "Off") == 0) {
      if (assets_dir) throw core::ConfigError("Off takes no ASSETS-DIR");
      cfg->swagger_ui = SwaggerUiDirective{};
      return nullptr;
    }
    SwaggerUiDirective d;
    d.path = path;
    check_url_path(d.path, "/docs");
    // Without ASSETS-DIR: the first of the build tree's copy (scripts/setup.sh), the Debian
    // package's and `cmake --install`'s that holds the bundle.
    std::vector<std::string> candidates;
    if (assets_dir) {
      candidates.emplace_back(assets_dir);
    } else {
      for (const char* c : {FLASKPP_SWAGGER_UI_DIR, "/usr/share/mod-flaskpp/swagger-ui-dist", FLASKPP_SWAGGER_UI_INSTALL_DIR}) {
        if (*c && std::find(candidates.begin(), candidates.end(), c) == candidates.end()) candidates.emplace_back(c);
      }
    }
    std::string tried;
    for (const std::string& dir : candidates) {
      const char* full = ap_server_root_relative(cmd->pool, dir.c_str());
      if (!full) throw core::ConfigError("invalid ASSETS-DIR '" + dir + "'");
      std::string path = full;
      while (path.size() > 1 && path.back() == '/') path.pop_back();
      std::string required = path + "/" + kRequiredAsset;
      if (::access(required.c_str(), R_OK) == 0) {
        d.assets_dir = path;
        break;
      }
      tried += (tried.empty() ? "'" : ", '") + path + "'";
    }
    if (d.assets_dir.empty()) {
      throw core::ConfigError(std::string("no readable ") + kRequiredAsset + " in " + tried +
                              " (swagger-ui-dist's directory: scripts/setup.sh installs it into "
                              "BUILD/_deps/swagger-ui-dist/node_modules/swagger-ui-dist, the Debian package into "
                              "/usr/share/mod-flaskpp/swagger-ui-dist, or `npm install swagger-ui-dist`; "
                              "name that directory as ASSETS-DIR)");
    }
    cfg->swagger_ui = std::move(d);
    return nullptr;
  });
}

// After lifecycle.cpp's check_config (APR_HOOK_LAST), so every server's App exists. Runs for
// `apachectl -t` too.
extern "C" int fpp_openapi_check_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* base) noexcept {
  return guard_hook(nullptr, base, [&]() -> int {
    OpenApiState* state = nullptr;
    for (server_rec* s = base; s; s = s->next) {
      const ServerConfig* cfg = server_config(s);
      if (!cfg) continue;  // lifecycle's check_config has stopped startup already
      if (swagger_on(*cfg) && !openapi_on(*cfg)) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, FPPLOGNO(00053)
                     "mod_flaskpp: %s %s on %s needs %s (the document it shows); set %s, or %s Off",
                     directive::kSwaggerUI, cfg->swagger_ui->path.c_str(), server_label(s).c_str(),
                     directive::kOpenAPI, directive::kOpenAPI, directive::kSwaggerUI);
        return HTTP_INTERNAL_SERVER_ERROR;
      }
      if (!openapi_on(*cfg)) continue;
      if (!state) {
        state = make_pool_owned<OpenApiState>(pconf);
        state->built_at = apr_time_from_sec(apr_time_sec(apr_time_now()));  // HTTP dates have seconds
        apr_pool_userdata_set(state, kStateKey, apr_pool_cleanup_null, pconf);
      }
      if (state->built.count(cfg)) continue;  // a virtual host sharing the main server's configuration
      try {
        check_paths(*cfg);
        state->built.emplace(cfg, build(*cfg));
      } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, FPPLOGNO(00055)
                     "mod_flaskpp: %s of %s cannot work: %s", directive::kOpenAPI, server_label(s).c_str(),
                     e.what());
        return HTTP_INTERNAL_SERVER_ERROR;
      }
    }
    return OK;
  });
}

// Logs what check_config built, once per configuration cycle (not in the dry run).
extern "C" int fpp_openapi_post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* base) noexcept {
  return guard_hook(nullptr, base, [&]() -> int {
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;  // dry run
    const OpenApiState* state = state_of(pconf);
    if (!state) return OK;
    std::unordered_set<const ServerConfig*> logged;
    for (server_rec* s = base; s; s = s->next) {
      const ServerConfig* cfg = server_config(s);
      auto it = cfg ? state->built.find(cfg) : state->built.end();
      if (it == state->built.end() || !logged.insert(cfg).second) continue;
      const Built& b = it->second;
      for (const std::string& w : b.warnings) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, FPPLOGNO(00050) "mod_flaskpp: OpenAPI document of %s: %s",
                     server_label(s).c_str(), w.c_str());
      }
      ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, FPPLOGNO(00051)
                   "mod_flaskpp: OpenAPI document of %s at %s: %" APR_SIZE_T_FMT " route(s), %" APR_SIZE_T_FMT
                   " bytes", server_label(s).c_str(), cfg->openapi->path.c_str(), b.documented, b.document.size());
      if (swagger_on(*cfg)) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, FPPLOGNO(00052)
                     "mod_flaskpp: Swagger UI of %s at %s, assets from %s", server_label(s).c_str(),
                     cfg->swagger_ui->path.c_str(), cfg->swagger_ui->assets_dir.c_str());
      }
    }
    return OK;
  });
}

extern "C" int fpp_openapi_translate_name(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    if (r->proxyreq || !r->uri || r->uri[0] != '/') return DECLINED;
    const ServerConfig* cfg = server_config(r->server);
    if (!cfg || !openapi_on(*cfg) || page_for(*cfg, r->uri).page == Page::kNone) return DECLINED;
    r->handler = kPageHandler;
    // Not a file: a synthetic name, so no file is mapped and map_to_storage can skip the walk.
    r->filename = apr_pstrcat(r->pool, kFilePrefix, r->uri, nullptr);
    return OK;
  });
}

// The pages are not files: no directory walk (<Location> still applies).
extern "C" int fpp_openapi_map_to_storage(request_rec* r) noexcept {
  return r->handler && std::strcmp(r->handler, kPageHandler) == 0 ? OK : DECLINED;
}

// mod_mime may have re-assigned the handler from the (synthetic) file name; ours stands.
extern "C" int fpp_openapi_fixups(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    if (r->filename && std::strncmp(r->filename, kFilePrefix, std::strlen(kFilePrefix)) == 0) {
      const ServerConfig* cfg = server_config(r->server);
      if (cfg && openapi_on(*cfg) && page_for(*cfg, r->uri).page != Page::kNone) r->handler = kPageHandler;
    }
    return DECLINED;
  });
}

extern "C" int fpp_openapi_handler(request_rec* r) noexcept {
  return guard_hook(r, r->server, [r]() -> int {
    if (!r->handler || std::strcmp(r->handler, kPageHandler) != 0) return DECLINED;
    const ServerConfig* cfg = server_config(r->server);
    const OpenApiState* state = state_of(r->server->process->pconf);
    if (!cfg || !openapi_on(*cfg) || !state) return HTTP_NOT_FOUND;
    auto it = state->built.find(cfg);
    if (it == state->built.end()) return HTTP_NOT_FOUND;
    const Built& b = it->second;
    Target t = page_for(*cfg, r->uri);
    if (t.page == Page::kNone || (t.page == Page::kAsset && !find_asset(t.asset))) return HTTP_NOT_FOUND;
    // GET and HEAD; OPTIONS says so; anything else is 405 (Apache builds Allow from r->allowed).
    if (r->method_number == M_OPTIONS) {
      apr_table_setn(r->headers_out, "Allow", "GET, HEAD, OPTIONS");
      ap_set_content_length(r, 0);
      return OK;
    }
    ap_allow_standard_methods(r, MERGE_ALLOW, M_GET, M_OPTIONS, -1);
    if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
    switch (t.page) {
      case Page::kDocument:
        return serve_built(r, b.document, "application/json", b.document_etag, state->built_at);
      case Page::kSwaggerUi:
        return serve_built(r, b.page, "text/html; charset=utf-8", b.page_etag, state->built_at);
      case Page::kSwaggerRedirect: {
        // The canonical form (as configured), query kept; a path, so it holds behind a proxy.
        const char* location = r->args ? apr_pstrcat(r->pool, cfg->swagger_ui->path.c_str(), "?", r->args, nullptr)
                                        : cfg->swagger_ui->path.c_str();
        apr_table_setn(r->headers_out, "Location", location);
        return HTTP_PERMANENT_REDIRECT;
      }
      case Page::kAsset:
        return serve_asset(r, b, state->built_at, t.asset);
      case Page::kNone:
        break;
    }
    return HTTP_NOT_FOUND;
  });
}

}  // namespace flaskpp::glue
