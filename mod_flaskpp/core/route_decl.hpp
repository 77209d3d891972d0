// Route declarations: what one FlaskppRoute directive says, parsed and validated at startup.
#pragma once

#include <string>
#include <vector>

namespace flaskpp::core {

enum class ActionKind { kTemplate, kRedirect, kHandler, kUpload, kJob, kJobStatus, kJobCancel };

struct RouteDecl {
  std::string methods;        // as written: "GET", "GET,POST", "*"
  std::string pattern;        // "/users/<int:id>"
  ActionKind action = ActionKind::kTemplate;
  std::string target;         // template name, redirect URL, handler name or upload field
  int redirect_code = 302;
  std::string then_template;  // upload: render this after saving (then=template:NAME); empty = JSON
  bool replace = false;       // upload: delete the route's previous files (replace=on)
  std::string where;          // "file:line" of the directive, for messages
  long job_timeout_ms = 0;    // job: timeout=DURATION per attempt; 0 = FlaskppJobTimeout's default
  int job_attempts = 0;       // job: attempts=N; 0 = the queue's default (3)
  std::string summary;        // summary=TEXT (any action): the OpenAPI operation's summary
  std::string schema_path;    // schema=FILE.json (handler, job): JSON Schema of the body; the
                              // directive makes it absolute (relative to ServerRoot)

  // Handler, job and JSON-answering upload routes answer every error in JSON, whatever Accept says.
  bool answers_json() const {
    return action == ActionKind::kHandler || action == ActionKind::kJob || action == ActionKind::kJobStatus ||
           action == ActionKind::kJobCancel || (action == ActionKind::kUpload && then_template.empty());
  }
  // Routes whose action sees the uploaded files' bytes (handlers and jobs).
  bool keeps_file_data() const { return action == ActionKind::kHandler || action == ActionKind::kJob; }
};

// "template", "redirect", "handler", "upload", "job", "job-status", "job-cancel".
const char* action_name(ActionKind kind);

// Parses FlaskppRoute's arguments: METHODS PATTERN ACTION [ARGS] [key=value ...]. Validates
// methods, pattern, action and its arguments. Handler names are resolved later, against the
// registry of the configuration being built (built-ins and plugins). Throws ConfigError.
RouteDecl parse_route(const std::vector<std::string>& args);

// "30" (seconds), "500ms", "30s", "5m", "2h", "1d" -> milliseconds. Throws ConfigError naming the
// text when it is not such a duration, is 0 or negative, or is longer than 10 years.
long parse_duration_ms(const std::string& text);

}  // namespace flaskpp::core
