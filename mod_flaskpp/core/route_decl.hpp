// Route declarations: what one FlaskppRoute directive says, parsed and validated at startup.
#pragma once

#include <string>
#include <vector>

namespace flaskpp::core {

enum class ActionKind { kTemplate, kRedirect, kHandler, kUpload };

struct RouteDecl {
  std::string methods;        // as written: "GET", "GET,POST", "*"
  std::string pattern;        // "/users/<int:id>"
  ActionKind action = ActionKind::kTemplate;
  std::string target;         // template name, redirect URL, handler name or upload field
  int redirect_code = 302;
  std::string then_template;  // upload: render this after saving (then=template:NAME); empty = JSON
  bool replace = false;       // upload: delete the route's previous files (replace=on)
  std::string where;          // "file:line" of the directive, for messages

  // Handler and JSON-answering upload routes answer every error in JSON, whatever Accept says.
  bool answers_json() const {
    return action == ActionKind::kHandler || (action == ActionKind::kUpload && then_template.empty());
  }
};

// Parses FlaskppRoute's arguments: METHODS PATTERN ACTION [ARGS] [key=value ...]. Validates
// methods, pattern, action and its arguments. Handler names are resolved later, against the
// registry of the configuration being built (built-ins and plugins). Throws ConfigError.
RouteDecl parse_route(const std::vector<std::string>& args);

}  // namespace flaskpp::core
