#include "core/schema_stage.hpp"

#include <algorithm>

#include "core/body.hpp"
#include "core/json.hpp"
#include "core/request.hpp"

namespace flaskpp::core {

SchemaStage::SchemaStage(const std::vector<RouteDecl>& routes, const HandlerRegistry& handlers,
                         std::size_t json_max_depth)
    : schemas_(routes.size()), json_max_depth_(json_max_depth) {
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const RouteDecl& r = routes[i];
    try {
      if (!r.schema_path.empty()) {
        schemas_[i] = CompiledSchema::load(r.schema_path);
      } else if (r.action == ActionKind::kHandler || r.action == ActionKind::kJob) {
        const HandlerMeta* meta = handlers.meta(r.target);
        if (meta && !meta->request_schema.empty()) {
          schemas_[i] = CompiledSchema::from_text(meta->request_schema, "request schema of handler '" + r.target + "'");
        }
      }
    } catch (const ConfigError& e) {
      throw ConfigError("FlaskppRoute at " + r.where + ": " + e.what());
    }
  }
}

bool SchemaStage::empty() const {
  return std::all_of(schemas_.begin(), schemas_.end(), [](const auto& s) { return s == nullptr; });
}

void SchemaStage::after_body(Exchange& ex) const {
  const auto& schema = schemas_[ex.match.rule];
  if (!schema) return;
  // A request without a body on a route that also takes bodiless methods (GET, DELETE): nothing
  // to check.
  const std::string& m = ex.request.method;
  if (!has_body(ex.request) && (m == "GET" || m == "HEAD" || m == "DELETE" || m == "OPTIONS")) return;
  std::string type = ex.request.content_type();
  // A plugin handler's declared schema describes its JSON input; a multipart upload (an image
  // for the digits model) is the handler's to judge. schema= on the route asks for JSON.
  if (type == "multipart/form-data" && ex.route.schema_path.empty()) return;
  if (!is_json_media_type(type)) {
    throw UnsupportedMediaType("this route takes a JSON body (application/json), not '" +
                               (type.empty() ? std::string("no body") : type) + "'");
  }
  rapidjson::Document body = parse_json_body(ex.request.body, json_max_depth_);  // 400 when not JSON
  std::vector<SchemaError> errors = schema->validate(body);
  if (!errors.empty()) {
    std::string message = "the body does not match the route's schema (" + std::to_string(errors.size()) +
                          (errors.size() == 1 ? " error)" : " errors)");
    throw UnprocessableEntity(message, std::move(errors));
  }
}

}  // namespace flaskpp::core
