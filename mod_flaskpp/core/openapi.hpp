// The OpenAPI 3.1 document built from the route table, and the Swagger UI page that shows it.
//
// Built once, in post_config, from the merged route list; the result is a string the handler
// serves as is (read-only afterwards, so shared across threads without locks). The builder sees
// only what routes declare (patterns, methods, actions, schemas, summaries): no FlaskppConfig
// value, secret or file path ever reaches the document.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/rapidjson.hpp"
#include "core/route_decl.hpp"
#include "core/router.hpp"

namespace flaskpp::core {

struct HandlerMeta;

// One route as the document describes it. Only `route` is required.
struct OpenApiRoute {
  RouteDecl route;  // a copy: methods, pattern, action, target, redirect_code, then_template

  // The route's own summary (a route option such as summary="..."); wins over handler_summary.
  std::string summary;

  // The JSON Schema the module checks the body against before the action (schema=FILE.json):
  // documented as a required application/json request body, with 400, 415 and 422 answers.
  // Not owned; must stay valid during build_openapi only. Null: none.
  const rapidjson::Value* body_schema = nullptr;
  // A hint for the schema's name under components/schemas (e.g. the schema file's stem, "user"
  // for user.json); characters outside [A-Za-z0-9._-] become '_'. Empty: "<operationId>_body".
  std::string body_schema_name;

  // What the handler or job function documents (HandlerMeta / the SDK's HandlerInfo): a summary
  // and JSON Schemas as JSON text (empty: none). request_schema is the request body of handler and
  // job routes when there is no body_schema, without a 422 (the module does not check it);
  // response_schema is the 200 answer of a handler route (a job's answer is the Job schema).
  std::string handler_summary;
  std::string handler_request_schema;
  std::string handler_response_schema;

  // The route is under a FlaskppRateLimit: documents 429 with Retry-After and X-RateLimit-*.
  bool rate_limited = false;
};

struct OpenApiInput {
  std::string title = "mod_flaskpp";  // info.title
  std::string version = "1.0.0";      // info.version (the API's version, not the module's)
  std::vector<OpenApiRoute> routes;   // in declaration order
};

// Fills an OpenApiRoute from a declaration and, when the route names a handler or job that
// documents itself, its HandlerMeta (may be null).
OpenApiRoute openapi_route(const RouteDecl& route, const HandlerMeta* meta = nullptr);

// The OpenAPI 3.1.0 document, compact JSON followed by "\n". Deterministic: the same input gives
// byte-identical output. Routes the document cannot show are left out and explained in
// `warnings` (when given): a second route with the same OpenAPI path and method, a handler schema
// that is not JSON. Throws ConfigError when a pattern does not compile.
std::string build_openapi(const OpenApiInput& input, std::vector<std::string>* warnings = nullptr);

// A Werkzeug pattern as an OpenAPI path with its path parameters, in pattern order:
// "/users/<int(min=1):id>" -> path "/users/{id}", one parameter {name "id", converter int(min=1)}.
// Static text is percent-encoded where a URI path would need it ("{", "}", " ", non-ASCII...).
struct OpenApiPath {
  struct Param {
    std::string name;
    Converter converter;
  };
  std::string path;
  std::vector<Param> params;
};
OpenApiPath openapi_path(std::string_view pattern);  // throws ConfigError

// The JSON Schema of one path parameter (int -> integer with minimum/maximum, float -> number,
// uuid -> string/uuid, any -> enum, string -> minLength/maxLength, path -> string).
rapidjson::Value converter_schema(const Converter& c, rapidjson::Document::AllocatorType& alloc);

// Swagger UI's index page: loads swagger-ui.css, swagger-ui-bundle.js and
// swagger-ui-standalone-preset.js from assets_url (a URL prefix, with or without the final '/')
// and shows the document at openapi_url. Every argument is escaped for where it lands (HTML text,
// HTML attribute, JavaScript string), so none of them can inject markup or script.
std::string swagger_ui_page(const std::string& openapi_url, const std::string& assets_url, const std::string& title);

}  // namespace flaskpp::core
