// Named handlers: the C++ code behind `FlaskppRoute ... handler NAME`. The registry is process
// state built at startup (built-ins now, plugins later) and read-only while requests run; routes
// name handlers, and App resolves the names when a configuration is built.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/logger.hpp"
#include "core/request.hpp"
#include "core/response.hpp"
#include "core/router.hpp"

namespace flaskpp::core {

class App;

// What a handler sees of one request.
struct HandlerContext {
  const App& app;
  const Request& request;
  const Params& params;
  Logger& log;
};
using Handler = std::function<Response(const HandlerContext&)>;

// Where a handler comes from and what it documents (for messages and the OpenAPI document).
struct HandlerMeta {
  std::string origin = "built-in";  // "built-in" or "plugin NAME (PATH)"
  std::string summary;
  std::string request_schema;   // JSON Schema text; empty: none
  std::string response_schema;  // JSON Schema text; empty: none
};

class HandlerRegistry {
 public:
  void add(const std::string& name, Handler handler, HandlerMeta meta = {});
  const Handler* find(const std::string& name) const;
  const HandlerMeta* meta(const std::string& name) const;
  std::string origin(const std::string& name) const;
  std::vector<std::string> names() const;
  // "echo" (the request back as JSON) and "health".
  static const HandlerRegistry& builtins();

 private:
  struct Entry {
    Handler handler;
    HandlerMeta meta;
  };
  std::map<std::string, Entry> handlers_;
};

}  // namespace flaskpp::core
