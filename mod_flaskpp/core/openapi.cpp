// The OpenAPI 3.1 document from the route table, and Swagger UI's index page.
#include "core/openapi.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "core/errors.hpp"
#include "core/handlers.hpp"
#include "core/request.hpp"
#include "core/router_internal.hpp"

namespace flaskpp::core {

namespace {

using Alloc = rapidjson::Document::AllocatorType;
using rapidjson::Value;

// ---------------------------------------------------------------------------------------------
// Small JSON helpers. Every string is copied into the document and made valid UTF-8, so what the
// operator wrote (summaries, schema files) can never break the document.

Value str(std::string_view s, Alloc& a) {
  std::string clean = sanitize_utf8(s);
  return Value(clean.c_str(), static_cast<rapidjson::SizeType>(clean.size()), a);
}

void add(Value& obj, std::string_view key, Value v, Alloc& a) { obj.AddMember(str(key, a), v, a); }
void add(Value& obj, std::string_view key, std::string_view v, Alloc& a) { add(obj, key, str(v, a), a); }
void add(Value& obj, std::string_view key, const char* v, Alloc& a) { add(obj, key, str(v, a), a); }

Value obj() { return Value(rapidjson::kObjectType); }

Value ref(std::string_view to, Alloc& a) {
  Value v = obj();
  add(v, "$ref", to, a);
  return v;
}

Value schema_ref(std::string_view name, Alloc& a) { return ref("#/components/schemas/" + std::string(name), a); }

// Parses JSON text that is part of this file (always valid) into the document's allocator.
Value literal(const char* json, Alloc& a) {
  rapidjson::Document d;
  d.Parse(json);
  if (d.HasParseError()) throw std::logic_error("openapi: bad built-in JSON");
  return Value(d, a);
}

// Makes every string (keys included) of a value valid UTF-8.
void sanitize_strings(Value& v, Alloc& a) {
  if (v.IsString()) {
    std::string_view s(v.GetString(), v.GetStringLength());
    std::string clean = sanitize_utf8(s);
    if (clean != s) v.SetString(clean.c_str(), static_cast<rapidjson::SizeType>(clean.size()), a);
  } else if (v.IsArray()) {
    for (auto& e : v.GetArray()) sanitize_strings(e, a);
  } else if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      sanitize_strings(m.name, a);
      sanitize_strings(m.value, a);
    }
  }
}

// A schema moved under #/components/schemas/NAME: its local references ("#/$defs/x", "#") meant
// its own root, now they must say so. Keywords whose values are data (enum, const, ...) are not
// schemas and are left alone; the children of properties, $defs, ... are named schemas.
void rebase_refs(Value& v, const std::string& base, Alloc& a) {
  if (v.IsArray()) {
    for (auto& e : v.GetArray()) rebase_refs(e, base, a);
    return;
  }
  if (!v.IsObject()) return;
  for (auto& m : v.GetObject()) {
    std::string_view key(m.name.GetString(), m.name.GetStringLength());
    if (key == "$ref" && m.value.IsString()) {
      std::string_view target(m.value.GetString(), m.value.GetStringLength());
      if (!target.empty() && target.front() == '#') {
        std::string rebased = base + std::string(target.substr(1));
        m.value.SetString(rebased.c_str(), static_cast<rapidjson::SizeType>(rebased.size()), a);
      }
    } else if (key == "properties" || key == "patternProperties" || key == "$defs" || key == "definitions" ||
               key == "dependentSchemas") {
      if (m.value.IsObject()) {
        for (auto& named : m.value.GetObject()) rebase_refs(named.value, base, a);
      }
    } else if (key != "enum" && key != "const" && key != "default" && key != "examples" && key != "example") {
      rebase_refs(m.value, base, a);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Paths

// RFC 3986 pchar plus '/': what a path may hold without percent-encoding. '{' and '}' would read
// as OpenAPI templating and '%' as an escape, so they are encoded too.
bool is_path_char(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~!$&'()*+,;=:@/").find(static_cast<char>(c)) != std::string_view::npos;
}

std::string encode_path_text(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (is_path_char(c)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The pattern's pieces in order: static text, converters.
struct Piece {
  bool is_param = false;
  std::string text;  // static text, or the parameter's name
  Converter conv;
};

std::vector<Piece> pattern_pieces(std::string_view pattern) {
  CompiledRule rule;
  std::vector<RulePart> parts = compile_pattern(pattern, rule);
  std::vector<Piece> out;
  std::size_t next_param = 0;
  auto add_static = [&](const std::string& text) {
    if (!out.empty() && !out.back().is_param) out.back().text += text;
    else out.push_back(Piece{false, text, {}});
  };
  for (const RulePart& part : parts) {
    add_static("/");
    if (part.is_static) {
      add_static(part.text);
      continue;
    }
    for (const PatternToken& t : part.tokens) {
      if (t.is_static) {
        add_static(t.text);
      } else {
        out.push_back(Piece{true, rule.param_names.at(next_param), t.conv});
        ++next_param;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Built-in schemas

constexpr const char* kErrorSchema = R"({
  "type": "object",
  "description": "Every error the module answers in JSON.",
  "required": ["error"],
  "properties": {
    "error": {
      "type": "object",
      "required": ["code", "message"],
      "properties": {
        "code": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status."},
        "message": {"type": "string"}
      }
    }
  }
})";

constexpr const char* kValidationErrorSchema = R"({
  "type": "object",
  "description": "The body does not match the route's JSON Schema.",
  "required": ["error"],
  "properties": {
    "error": {
      "type": "object",
      "required": ["code", "message", "errors"],
      "properties": {
        "code": {"type": "integer", "const": 422},
        "message": {"type": "string"},
        "errors": {
          "type": "array",
          "items": {
            "type": "object",
            "required": ["loc", "msg"],
            "properties": {
              "loc": {
                "description": "Where in the body: a JSON Pointer, or its tokens as a list.",
                "type": ["string", "array"],
                "items": {"type": ["string", "integer"]}
              },
              "msg": {"type": "string"}
            }
          }
        }
      }
    }
  }
})";

constexpr const char* kJobAcceptedSchema = R"({
  "type": "object",
  "description": "A job was queued; poll status_url (also sent as Location) for its state.",
  "required": ["id", "status", "status_url"],
  "properties": {
    "id": {"type": "string", "format": "uuid"},
    "status": {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]},
    "status_url": {"type": "string", "format": "uri-reference"}
  }
})";

constexpr const char* kJobSchema = R"({
  "type": "object",
  "description": "A background job. result is set when status is done; error when failed or cancelled.",
  "required": ["id", "name", "status", "attempts", "max_attempts", "created", "started", "finished", "progress"],
  "properties": {
    "id": {"type": "string", "format": "uuid"},
    "name": {"type": "string"},
    "status": {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]},
    "attempts": {"type": "integer", "minimum": 0},
    "max_attempts": {"type": "integer", "minimum": 1},
    "created": {"type": ["string", "null"], "format": "date-time"},
    "started": {"type": ["string", "null"], "format": "date-time"},
    "finished": {"type": ["string", "null"], "format": "date-time"},
    "progress": {
      "type": "object",
      "required": ["fraction", "message"],
      "properties": {
        "fraction": {"type": "number", "minimum": 0, "maximum": 1},
        "message": {"type": "string"}
      }
    },
    "result": {"description": "The job's JSON answer."},
    "error": {"type": "string"}
  }
})";

constexpr const char* kUploadedFilesSchema = R"({
  "type": "object",
  "required": ["files", "img_show"],
  "properties": {
    "files": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["field", "filename", "content_type", "size", "saved_as", "url"],
        "properties": {
          "field": {"type": "string"},
          "filename": {"type": "string", "description": "The name the client sent."},
          "content_type": {"type": "string"},
          "size": {"type": "integer", "minimum": 0, "description": "Bytes."},
          "saved_as": {"type": "string", "description": "The unique name it was stored under."},
          "url": {"type": "string", "format": "uri-reference"}
        }
      }
    },
    "img_show": {"type": "string", "description": "The first file's url."}
  }
})";

constexpr const char* kTooManyRequests = R"({
  "description": "Too Many Requests: a rate limit is exhausted.",
  "headers": {
    "Retry-After": {"description": "Seconds until a request can pass.", "schema": {"type": "integer", "minimum": 0}},
    "X-RateLimit-Limit": {"description": "Requests allowed in the limit's window.", "schema": {"type": "integer", "minimum": 1}},
    "X-RateLimit-Remaining": {"description": "Requests left in the window.", "schema": {"type": "integer", "minimum": 0}},
    "X-RateLimit-Reset": {"description": "When the window resets, in seconds since the epoch.", "schema": {"type": "integer"}}
  },
  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
})";

// Names the built-in schemas take first, so a route's schema of the same name gets a suffix.
const char* const kBuiltinSchemas[] = {"Error", "ValidationError", "JobAccepted", "Job", "UploadedFiles"};

std::string component_name(std::string_view hint) {
  std::string out;
  for (char c : hint) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_';
    out += ok ? c : '_';
  }
  return out.empty() ? "schema" : out;
}

// "get" + "/users/<int:id>/posts" -> "get_users_id_posts"; "/" -> "get_root".
std::string operation_id_base(const std::string& method, const std::vector<Piece>& pieces) {
  std::string slug;
  auto append = [&](std::string_view text) {
    for (char c : text) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (ok) slug += c;
      else if (!slug.empty() && slug.back() != '_') slug += '_';
    }
    if (!slug.empty() && slug.back() != '_') slug += '_';
  };
  for (const Piece& p : pieces) append(p.text);
  while (!slug.empty() && slug.back() == '_') slug.pop_back();
  return method + "_" + (slug.empty() ? "root" : slug);
}

const char* reason(int code) {
  switch (code) {
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    default: return "Redirect";
  }
}

// The OpenAPI methods a route answers: GET implies HEAD (only GET is shown); '*' shows the five
// usual methods; OPTIONS only when the route names it (otherwise the module answers it).
std::vector<std::string> documented_methods(const std::string& spec) {
  bool explicit_options = false;
  unsigned mask = parse_methods(spec, &explicit_options);
  std::vector<std::string> out;
  if (mask == method::kAll) return {"get", "post", "put", "patch", "delete"};
  if (mask & method::kGet) out.emplace_back("get");
  if (mask & method::kPost) out.emplace_back("post");
  if (mask & method::kPut) out.emplace_back("put");
  if (mask & method::kPatch) out.emplace_back("patch");
  if (mask & method::kDelete) out.emplace_back("delete");
  if ((mask & method::kHead) && !(mask & method::kGet)) out.emplace_back("head");
  if (explicit_options) out.emplace_back("options");
  return out;
}

bool takes_body(const std::string& method) { return method == "post" || method == "put" || method == "patch"; }


std::string describe(const RouteDecl& d) {
  std::string s = "FlaskppRoute " + d.methods + " " + d.pattern + " " + action_name(d.action);
  if (!d.where.empty()) s += " at " + d.where;
  return s;
}

// ---------------------------------------------------------------------------------------------

class DocumentBuilder {
 public:
  DocumentBuilder(const OpenApiInput& input, std::vector<std::string>* warnings)
      : input_(input), warnings_(warnings), a_(doc_.GetAllocator()) {
    for (const char* name : kBuiltinSchemas) taken_names_.insert(name);
  }

  std::string build() {
    for (const OpenApiRoute& r : input_.routes) add_route(r);

    doc_.SetObject();
    add(doc_, "openapi", "3.1.0", a_);
    Value info = obj();
    add(info, "title", input_.title.empty() ? std::string("mod_flaskpp") : input_.title, a_);
    add(info, "version", input_.version.empty() ? std::string("1.0.0") : input_.version, a_);
    add(doc_, "info", std::move(info), a_);
    Value paths = obj();
    for (PathItem& item : paths_) {
      Value ops = obj();
      for (auto& [method, op] : item.operations) add(ops, method, std::move(op), a_);
      add(paths, item.path, std::move(ops), a_);
    }
    add(doc_, "paths", std::move(paths), a_);

    Value components = obj();
    Value schemas = obj();
    if (use_error_) add(schemas, "Error", literal(kErrorSchema, a_), a_);
    if (use_validation_error_) add(schemas, "ValidationError", literal(kValidationErrorSchema, a_), a_);
    if (use_job_accepted_) add(schemas, "JobAccepted", literal(kJobAcceptedSchema, a_), a_);
    if (use_job_) add(schemas, "Job", literal(kJobSchema, a_), a_);
    if (use_uploaded_files_) add(schemas, "UploadedFiles", literal(kUploadedFilesSchema, a_), a_);
    for (auto& [name, schema] : user_schemas_) add(schemas, name, std::move(schema), a_);
    if (!schemas.ObjectEmpty()) add(components, "schemas", std::move(schemas), a_);
    if (use_too_many_requests_) {
      Value responses = obj();
      add(responses, "TooManyRequests", literal(kTooManyRequests, a_), a_);
      add(components, "responses", std::move(responses), a_);
    }
    if (!components.ObjectEmpty()) add(doc_, "components", std::move(components), a_);

    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    doc_.Accept(w);
    return std::string(buf.GetString(), buf.GetSize()) + "\n";
  }

 private:
  struct PathItem {
    std::string path;                                // the first route's OpenAPI path
    std::vector<std::string> param_names;            // the first route's names, in order
    std::vector<std::pair<std::string, Value>> operations;
  };

  void warn(std::string message) {
    if (warnings_) warnings_->push_back(std::move(message));
  }

  // A schema under components/schemas: the hint's name, or hint_2, hint_3, ... when that name holds
  // a different schema. Identical schemas share one name (two routes with the same schema file).
  std::string add_user_schema(const std::string& hint, const Value& schema) {
    std::string base = component_name(hint);
    for (int n = 1;; ++n) {
      std::string name = n == 1 ? base : base + "_" + std::to_string(n);
      Value copy(schema, a_);  // const strings stay shared: the document is written before build() returns
      sanitize_strings(copy, a_);
      if (copy.IsObject()) {
        copy.RemoveMember("$id");  // its local references now point into this document
        rebase_refs(copy, "#/components/schemas/" + name, a_);
      }
      auto it = std::find_if(user_schemas_.begin(), user_schemas_.end(), [&](const auto& s) { return s.first == name; });
      if (it != user_schemas_.end()) {
        if (it->second == copy) return name;
        continue;
      }
      if (taken_names_.count(name)) continue;
      taken_names_.insert(name);
      user_schemas_.emplace_back(name, std::move(copy));
      return name;
    }
  }

  // A handler's schema text, parsed; nullopt (with a warning) when it is not a JSON Schema.
  std::optional<rapidjson::Document> parse_schema_text(const std::string& text, const RouteDecl& d, const char* what) {
    if (text.empty()) return std::nullopt;
    rapidjson::Document s;
    s.Parse(text.data(), text.size());
    if (s.HasParseError() || !(s.IsObject() || s.IsBool())) {
      warn(describe(d) + ": the " + what + " schema of '" + d.target + "' is not a JSON Schema object; left out");
      return std::nullopt;
    }
    return s;
  }

  Value error_content(bool html_too) {
    use_error_ = true;
    Value content = obj();
    if (html_too) {
      Value html = obj();
      add(html, "schema", literal(R"({"type": "string"})", a_), a_);
      add(content, "text/html", std::move(html), a_);
    }
    Value json = obj();
    add(json, "schema", schema_ref("Error", a_), a_);
    add(content, "application/json", std::move(json), a_);
    return content;
  }

  Value error_response(const std::string& description, bool html_too) {
    Value r = obj();
    add(r, "description", description, a_);
    add(r, "content", error_content(html_too), a_);
    return r;
  }

  static Value header(const char* description, Value schema, Alloc& a, bool required = true) {
    Value h = obj();
    add(h, "description", description, a);
    if (required) h.AddMember("required", true, a);
    add(h, "schema", std::move(schema), a);
    return h;
  }

  Value json_content(Value schema) {
    Value media = obj();
    add(media, "schema", std::move(schema), a_);
    Value content = obj();
    add(content, "application/json", std::move(media), a_);
    return content;
  }

  Value json_response(const char* description, Value schema) {
    Value r = obj();
    add(r, "description", description, a_);
    add(r, "content", json_content(std::move(schema)), a_);
    return r;
  }

  // A rendered page: text/html, a string.
  Value html_response(const char* description) {
    Value page = obj();
    add(page, "description", description, a_);
    Value html = obj();
    add(html, "schema", literal(R"({"type": "string"})", a_), a_);
    Value content = obj();
    add(content, "text/html", std::move(html), a_);
    add(page, "content", std::move(content), a_);
    return page;
  }

  void add_route(const OpenApiRoute& r) {
    const RouteDecl& d = r.route;
    std::vector<Piece> pieces = pattern_pieces(d.pattern);

    // The path, and its skeleton ("/users/{}") that tells which rules OpenAPI sees as one path.
    std::string path, skeleton;
    std::vector<const Piece*> params;
    for (const Piece& p : pieces) {
      if (p.is_param) {
        path += "{" + p.text + "}";
        skeleton += "{}";
        params.push_back(&p);
      } else {
        path += encode_path_text(p.text);
        skeleton += encode_path_text(p.text);
      }
    }
    auto found = path_index_.find(skeleton);
    PathItem* item;
    if (found == path_index_.end()) {
      path_index_.emplace(skeleton, paths_.size());
      paths_.push_back(PathItem{path, {}, {}});
      item = &paths_.back();
      for (const Piece* p : params) item->param_names.push_back(p->text);
    } else {
      item = &paths_[found->second];
    }

    for (const std::string& method : documented_methods(d.methods)) {
      auto taken = std::find_if(item->operations.begin(), item->operations.end(),
                                [&](const auto& op) { return op.first == method; });
      if (taken != item->operations.end()) {
        std::string upper = method;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        warn(describe(d) + ": " + upper + " " + item->path + " is already documented by an earlier route; left out");
        continue;
      }
      Value op = operation(r, method, pieces, params, *item);
      item->operations.emplace_back(method, std::move(op));
    }
  }

  std::string unique_operation_id(const std::string& base) {
    std::string id = base;
    for (int n = 2; operation_ids_.count(id); ++n) id = base + "_" + std::to_string(n);
    operation_ids_.insert(id);
    return id;
  }

  Value operation(const OpenApiRoute& r, const std::string& method, const std::vector<Piece>& pieces,
                  const std::vector<const Piece*>& params, const PathItem& item) {
    const RouteDecl& d = r.route;
    const bool html_errors = !d.answers_json();
    std::string op_id = unique_operation_id(operation_id_base(method, pieces));

    Value op = obj();
    add(op, "operationId", op_id, a_);
    std::string summary = !r.summary.empty() ? r.summary : r.handler_summary;
    if (summary.empty()) {
      switch (d.action) {
        case ActionKind::kTemplate: summary = "Render " + d.target; break;
        case ActionKind::kRedirect: summary = "Redirect (" + std::to_string(d.redirect_code) + ")"; break;
        case ActionKind::kHandler: summary = "Handler " + d.target; break;
        case ActionKind::kUpload: summary = "Upload files (field " + d.target + ")"; break;
        case ActionKind::kJob: summary = "Start job " + d.target; break;
        case ActionKind::kJobStatus: summary = "Job status"; break;
        case ActionKind::kJobCancel: summary = "Cancel a job"; break;
      }
    }
    add(op, "summary", summary, a_);

    // Path parameters, named as the path item names them (rules that differ only in their names
    // share one OpenAPI path).
    bool may_refuse_value = false;
    if (!params.empty()) {
      Value list(rapidjson::kArrayType);
      for (std::size_t i = 0; i < params.size(); ++i) {
        const Converter& c = params[i]->conv;
        const std::string& name = i < item.param_names.size() ? item.param_names[i] : params[i]->text;
        Value p = obj();
        add(p, "name", name, a_);
        add(p, "in", "path", a_);
        p.AddMember("required", true, a_);
        if (name != params[i]->text) add(p, "description", "Called '" + params[i]->text + "' in this route's rule.", a_);
        add(p, "schema", converter_schema(c, a_), a_);
        list.PushBack(p, a_);
        may_refuse_value = may_refuse_value || c.min || c.max || c.fixed_digits;
      }
      add(op, "parameters", std::move(list), a_);
    }

    std::map<int, Value> responses;
    auto error = [&](int code, const std::string& description) {
      responses.emplace(code, error_response(description, html_errors));
    };

    // The request body.
    std::optional<rapidjson::Document> handler_request, handler_response;
    if (d.action == ActionKind::kHandler || d.action == ActionKind::kJob) {
      handler_request = parse_schema_text(r.handler_request_schema, d, "request");
    }
    if (d.action == ActionKind::kHandler) handler_response = parse_schema_text(r.handler_response_schema, d, "response");
    const std::string operation_hint = op_id;
    if (d.action == ActionKind::kUpload) {
      if (r.body_schema) warn(describe(d) + ": an upload takes multipart/form-data; its JSON schema is left out");
      Value file = literal(R"({"type": "string", "format": "binary"})", a_);
      Value files = obj();
      add(files, "type", "array", a_);
      add(files, "items", std::move(file), a_);
      files.AddMember("minItems", 1, a_);
      add(files, "description", "One or more files.", a_);
      Value props = obj();
      add(props, d.target, std::move(files), a_);
      Value required(rapidjson::kArrayType);
      required.PushBack(str(d.target, a_), a_);
      Value form = obj();
      add(form, "type", "object", a_);
      add(form, "required", std::move(required), a_);
      add(form, "properties", std::move(props), a_);
      Value media = obj();
      add(media, "schema", std::move(form), a_);
      Value content = obj();
      add(content, "multipart/form-data", std::move(media), a_);
      Value body = obj();
      body.AddMember("required", true, a_);
      add(body, "content", std::move(content), a_);
      add(op, "requestBody", std::move(body), a_);
      error(400, "Bad Request: no file in field '" + d.target + "'.");
      error(413, "Payload Too Large.");
      error(415, "Unsupported Media Type: not multipart/form-data, or a file type that is not allowed.");
    } else if (r.body_schema) {
      std::string hint = r.body_schema_name.empty() ? operation_hint + "_body" : r.body_schema_name;
      std::string name = add_user_schema(hint, *r.body_schema);
      Value body = obj();
      body.AddMember("required", true, a_);
      add(body, "content", json_content(schema_ref(name, a_)), a_);
      add(op, "requestBody", std::move(body), a_);
      error(400, "Bad Request: the body is not valid JSON.");
      error(415, "Unsupported Media Type: the body is not JSON.");
      use_validation_error_ = true;
      Value invalid = obj();
      add(invalid, "description", "Unprocessable Content: the body does not match the schema.", a_);
      add(invalid, "content", json_content(schema_ref("ValidationError", a_)), a_);
      responses.emplace(422, std::move(invalid));
    } else if (handler_request) {
      std::string name = add_user_schema(d.target + "_request", *handler_request);
      Value body = obj();
      body.AddMember("required", true, a_);
      add(body, "content", json_content(schema_ref(name, a_)), a_);
      add(op, "requestBody", std::move(body), a_);
    } else if ((d.action == ActionKind::kHandler || d.action == ActionKind::kJob) && takes_body(method)) {
      Value body = obj();
      body.AddMember("required", false, a_);
      add(body, "content", json_content(obj()), a_);
      add(op, "requestBody", std::move(body), a_);
    }

    // The answers.
    switch (d.action) {
      case ActionKind::kTemplate:
        responses.emplace(200, html_response("The rendered page."));
        break;
      case ActionKind::kRedirect: {
        Value moved = obj();
        add(moved, "description", reason(d.redirect_code), a_);
        Value headers = obj();
        add(headers, "Location",
            header("Where to go.", literal(R"({"type": "string", "format": "uri-reference"})", a_), a_), a_);
        add(moved, "headers", std::move(headers), a_);
        responses.emplace(d.redirect_code, std::move(moved));
        break;
      }
      case ActionKind::kHandler: {
        Value schema = obj();
        if (handler_response) schema = schema_ref(add_user_schema(d.target + "_response", *handler_response), a_);
        responses.emplace(200, json_response("The handler's answer.", std::move(schema)));
        break;
      }
      case ActionKind::kUpload: {
        if (d.then_template.empty()) {
          use_uploaded_files_ = true;
          responses.emplace(200, json_response("The files were saved.", schema_ref("UploadedFiles", a_)));
        } else {
          responses.emplace(200, html_response("The files were saved; the rendered page."));
        }
        break;
      }
      case ActionKind::kJob: {
        use_job_accepted_ = true;
        Value accepted = json_response("Accepted: the job is queued.", schema_ref("JobAccepted", a_));
        Value headers = obj();
        add(headers, "Location",
            header("The job's status URL.", literal(R"({"type": "string", "format": "uri-reference"})", a_), a_),
            a_);
        accepted.AddMember("headers", headers, a_);
        responses.emplace(202, std::move(accepted));
        Value busy = error_response("Service Unavailable: the job queue is full or the job store is down.", false);
        Value busy_headers = obj();
        add(busy_headers, "Retry-After",
            header("Seconds to wait before trying again.", literal(R"({"type": "integer", "minimum": 0})", a_), a_,
                   false),
            a_);
        busy.AddMember("headers", busy_headers, a_);
        responses.emplace(503, std::move(busy));
        break;
      }
      case ActionKind::kJobStatus:
        use_job_ = true;
        responses.emplace(200, json_response("The job.", schema_ref("Job", a_)));
        error(404, "Not Found: no such job.");
        break;
      case ActionKind::kJobCancel:
        use_job_ = true;
        responses.emplace(200, json_response("The job, cancelled.", schema_ref("Job", a_)));
        responses.emplace(202, json_response("The job is running; it stops at its next step.", schema_ref("Job", a_)));
        error(404, "Not Found: no such job.");
        error(409, "Conflict: the job has already finished.");
        break;
    }
    if (may_refuse_value) responses.emplace(404, error_response("Not Found: a path parameter is out of range.", html_errors));
    if (r.rate_limited) {
      use_too_many_requests_ = true;
      responses.emplace(429, ref("#/components/responses/TooManyRequests", a_));
    }

    Value out = obj();
    for (auto& [code, response] : responses) add(out, std::to_string(code), std::move(response), a_);
    add(out, "default", error_response("An error.", html_errors), a_);
    add(op, "responses", std::move(out), a_);
    return op;
  }

  const OpenApiInput& input_;
  std::vector<std::string>* warnings_;
  rapidjson::Document doc_;
  Alloc& a_;
  std::vector<PathItem> paths_;
  std::map<std::string, std::size_t> path_index_;  // skeleton -> index in paths_
  std::set<std::string> operation_ids_;
  std::set<std::string> taken_names_;
  std::vector<std::pair<std::string, Value>> user_schemas_;
  bool use_error_ = false, use_validation_error_ = false, use_job_accepted_ = false, use_job_ = false,
       use_uploaded_files_ = false, use_too_many_requests_ = false;
};

// ---------------------------------------------------------------------------------------------
// Swagger UI page

// A JavaScript string literal safe inside a <script> element: no quote, backslash, '<', '>' or
// '&' survives, so neither "</script>" nor "<!--" can end or change the script.
std::string js_string(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string clean = sanitize_utf8(s);
  std::string out = "\"";
  for (std::size_t i = 0; i < clean.size(); ++i) {
    auto c = static_cast<unsigned char>(clean[i]);
    // U+2028 and U+2029 end a line in older JavaScript.
    if (c == 0xE2 && i + 2 < clean.size() && static_cast<unsigned char>(clean[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(clean[i + 2]) == 0xA8 || static_cast<unsigned char>(clean[i + 2]) == 0xA9)) {
      out += static_cast<unsigned char>(clean[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
      i += 2;
    } else if (c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c == '\'' || c == 0x7F) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

OpenApiRoute openapi_route(const RouteDecl& route, const HandlerMeta* meta) {
  OpenApiRoute r;
  r.route = route;
  r.summary = route.summary;  // summary= on the route wins over the handler's
  if (meta) {
    r.handler_summary = meta->summary;
    r.handler_request_schema = meta->request_schema;
    r.handler_response_schema = meta->response_schema;
  }
  return r;
}

OpenApiPath openapi_path(std::string_view pattern) {
  OpenApiPath out;
  for (const Piece& p : pattern_pieces(pattern)) {
    if (p.is_param) {
      out.path += "{" + p.text + "}";
      out.params.push_back(OpenApiPath::Param{p.text, p.conv});
    } else {
      out.path += encode_path_text(p.text);
    }
  }
  return out;
}

rapidjson::Value converter_schema(const Converter& c, rapidjson::Document::AllocatorType& a) {
  Value s = obj();
  auto integer = [&](const char* key, double v) {
    add(s, key, Value(static_cast<std::int64_t>(v)), a);
  };
  switch (c.kind) {
    case ConverterKind::kString:
      add(s, "type", "string", a);
      if (c.minlength > 0) add(s, "minLength", Value(static_cast<std::uint64_t>(c.minlength)), a);
      if (c.maxlength) add(s, "maxLength", Value(static_cast<std::uint64_t>(*c.maxlength)), a);
      break;
    case ConverterKind::kPath:
      add(s, "type", "string", a);
      add(s, "minLength", Value(1), a);
      add(s, "description", "The rest of the path; may contain '/'.", a);
      break;
    case ConverterKind::kUuid:
      add(s, "type", "string", a);
      add(s, "format", "uuid", a);
      break;
    case ConverterKind::kAny: {
      add(s, "type", "string", a);
      Value items(rapidjson::kArrayType);
      for (const auto& item : c.items) items.PushBack(str(item, a), a);
      add(s, "enum", std::move(items), a);
      break;
    }
    case ConverterKind::kInt: {
      add(s, "type", "integer", a);
      // Unsigned: digits only, so never below 0. fixed_digits: at most that many digits.
      std::optional<double> lo = c.min, hi = c.max;
      if (!c.is_signed) lo = std::max(lo.value_or(0.0), 0.0);
      if (c.fixed_digits > 0 && c.fixed_digits <= 18) {
        double most = std::pow(10.0, c.fixed_digits) - 1;
        if (!c.is_signed || !hi) hi = std::min(hi.value_or(most), most);
        double least = c.is_signed ? -most : 0.0;
        lo = std::max(lo.value_or(least), least);
      }
      if (lo) integer("minimum", *lo);
      if (hi) integer("maximum", *hi);
      if (c.fixed_digits > 0) {
        add(s, "description", "Written with exactly " + std::to_string(c.fixed_digits) + " digits (leading zeros).", a);
      }
      break;
    }
    case ConverterKind::kFloat: {
      add(s, "type", "number", a);
      std::optional<double> lo = c.min;
      if (!c.is_signed) lo = std::max(lo.value_or(0.0), 0.0);
      if (lo) add(s, "minimum", Value(*lo), a);
      if (c.max) add(s, "maximum", Value(*c.max), a);
      add(s, "description", "Written with a '.' and digits on both sides, e.g. 1.5.", a);
      break;
    }
  }
  return s;
}

std::string build_openapi(const OpenApiInput& input, std::vector<std::string>* warnings) {
  return DocumentBuilder(input, warnings).build();
}

std::string swagger_ui_page(const std::string& openapi_url, const std::string& assets_url, const std::string& title) {
  std::string base = assets_url;
  if (!base.empty() && base.back() != '/') base += '/';
  const std::string assets = html_escape(sanitize_utf8(base));
  std::string page;
  page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  page += "<title>" + html_escape(sanitize_utf8(title)) + "</title>\n";
  page += "<link rel=\"stylesheet\" href=\"" + assets + "swagger-ui.css\">\n";
  page += "<link rel=\"icon\" type=\"image/png\" href=\"" + assets + "favicon-32x32.png\" sizes=\"32x32\">\n";
  page += "<link rel=\"icon\" type=\"image/png\" href=\"" + assets + "favicon-16x16.png\" sizes=\"16x16\">\n";
  page += "<style>body { margin: 0; }</style>\n";
  page += "</head>\n<body>\n<div id=\"swagger-ui\"></div>\n";
  page += "<script src=\"" + assets + "swagger-ui-bundle.js\" charset=\"UTF-8\"></script>\n";
  page += "<script src=\"" + assets + "swagger-ui-standalone-preset.js\" charset=\"UTF-8\"></script>\n";
  page += "<script>\n";
  page += "window.onload = function () {\n";
  page += "  window.ui = SwaggerUIBundle({\n";
  page += "    url: " + js_string(openapi_url) + ",\n";
  page += "    dom_id: '#swagger-ui',\n";
  page += "    deepLinking: true,\n";
  // A ?url= in the page's address must not make it show (and "try out") another document.
  page += "    queryConfigEnabled: false,\n";
  // Swagger UI's default shows a badge from validator.swagger.io, which would send the
  // document's URL to a third party from every page view (it skips only localhost).
  page += "    validatorUrl: null,\n";
  page += "    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],\n";
  page += "    plugins: [SwaggerUIBundle.plugins.DownloadUrl],\n";
  page += "    layout: 'StandaloneLayout'\n";
  page += "  });\n";
  page += "};\n";
  page += "</script>\n</body>\n</html>\n";
  return page;
}

}  // namespace flaskpp::core
