// FlaskppOpenAPI: the OpenAPI 3.1 document of a server's routes; FlaskppSwaggerUI: Swagger UI's
// page showing it, with swagger-ui-dist's assets served from a directory.
//
// The document (and the Swagger UI page) is built in check_config, once per server configuration
// and configuration cycle, after lifecycle.cpp has built the server's core::App: `apachectl -t`
// therefore fails on what cannot work (FlaskppSwaggerUI without FlaskppOpenAPI, a route pattern
// the builder refuses, conflicting paths). The result lives in pconf userdata (pool-owned,
// rebuilt by a graceful restart) and is read-only afterwards, so request threads share it
// without locks. post_config (not in the dry run) logs the builder's warnings.
//
// The pages follow FlaskppStatus (glue/status.cpp): a request for one of the paths is claimed in
// translate_name before the routes (a route of the same path is shadowed, and warned about),
// skips the directory walk, and is answered in the ordinary handler phase, so <Location> and
// Require apply. They are not routes: not listed in the document, not counted. GET and HEAD
// only (OPTIONS answered, other methods 405 with Allow).
//
// Swagger UI's URLs, for `FlaskppSwaggerUI /docs`: /docs is the page (the path as written is
// canonical; /docs/ redirects to it, and the other way round for `FlaskppSwaggerUI /docs/`), and
// /docs/assets/NAME serves NAME from the assets directory when NAME is one of the few files the
// page needs (a fixed list: no other file, no directory listing, no path of the client's reaches
// the filesystem). Everything else under /docs/assets is 404.
#pragma once

#include <cstddef>

#include "core/rapidjson.hpp"
#include "glue/apache.hpp"

namespace flaskpp::core {
class App;
}

namespace flaskpp::glue {

// The JSON Schema the module checks route i's body against (route option schema=FILE.json), which
// the document shows as its request body; null when none. The single place the document takes
// body schemas from.
const rapidjson::Value* openapi_body_schema(const core::App& app, std::size_t i);

extern "C" {
const char* fpp_set_openapi(cmd_parms* cmd, void* dcfg, const char* path, const char* title,
                            const char* version) noexcept;
const char* fpp_set_swagger_ui(cmd_parms* cmd, void* dcfg, const char* path, const char* assets_dir) noexcept;
int fpp_openapi_check_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
int fpp_openapi_post_config(apr_pool_t* pconf, apr_pool_t* plog, apr_pool_t* ptemp, server_rec* s) noexcept;
int fpp_openapi_translate_name(request_rec* r) noexcept;
int fpp_openapi_map_to_storage(request_rec* r) noexcept;
int fpp_openapi_fixups(request_rec* r) noexcept;
int fpp_openapi_handler(request_rec* r) noexcept;
}

}  // namespace flaskpp::glue
