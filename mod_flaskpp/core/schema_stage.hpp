// Validated requests: a route's JSON Schema (route option schema=FILE.json, or the request schema
// a plugin handler declares) checked after the body is read and before the action runs. An
// invalid body is a 422 listing every error as {"loc": "/pointer", "msg": "..."}; the handler
// only ever sees valid input. Schemas are compiled once, when the App is built.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.hpp"
#include "core/handlers.hpp"
#include "core/pipeline.hpp"
#include "core/route_decl.hpp"
#include "core/schema.hpp"

namespace flaskpp::core {

// 422: the body is JSON but not what the route's schema describes.
class UnprocessableEntity : public HttpError {
 public:
  UnprocessableEntity(const std::string& message, std::vector<SchemaError> errors)
      : HttpError(422, message), errors_(std::move(errors)) {}
  const std::vector<SchemaError>& errors() const { return errors_; }

 private:
  std::vector<SchemaError> errors_;
};

class SchemaStage final : public Stage {
 public:
  // Throws ConfigError naming the route when a schema cannot be loaded or compiled.
  SchemaStage(const std::vector<RouteDecl>& routes, const HandlerRegistry& handlers, std::size_t json_max_depth);
  const char* name() const override { return "schema"; }
  void after_body(Exchange& ex) const override;
  // Route i's schema document, or null.
  const rapidjson::Value* schema(std::size_t route) const {
    return route < schemas_.size() && schemas_[route] ? &schemas_[route]->document() : nullptr;
  }
  bool empty() const;

 private:
  std::vector<std::shared_ptr<const CompiledSchema>> schemas_;  // parallel to routes
  std::size_t json_max_depth_;
};

}  // namespace flaskpp::core
