// Built-in handlers: echo (the request back as JSON) and health.
#include "core/app.hpp"
#include "core/errors.hpp"
#include "core/json.hpp"

namespace flaskpp::core {

namespace {

Response json_response(const App& app, std::string body) {
  Response r;
  r.content_type = app.json_mimetype();
  r.body = std::move(body);
  r.body += "\n";
  return r;
}

// {key: [values...]}: keys in order of first arrival, values in arrival order.
void write_grouped(JsonWriter& w, const StringPairs& pairs) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> grouped;
  for (const auto& [k, v] : pairs) {
    auto& slot = grouped[k];
    if (slot.empty()) order.push_back(k);
    slot.push_back(v);
  }
  w.StartObject();
  for (const auto& k : order) {
    write_string(w, k);
    w.StartArray();
    for (const auto& v : grouped[k]) write_string(w, v);
    w.EndArray();
  }
  w.EndObject();
}

Response echo(const HandlerContext& ctx) {
  const Request& req = ctx.request;
  // Parse first: a bad body is a 400 before anything is written.
  rapidjson::Document body;
  bool has_json = is_json_media_type(req.content_type());
  if (has_json) body = parse_json_body(req.body, ctx.app.json_max_depth());

  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("method");
  write_string(w, req.method);
  w.Key("path");
  write_string(w, req.path);
  w.Key("params");
  w.StartObject();
  for (const auto& [name, v] : ctx.params) {
    write_string(w, name);
    if (v.kind == ConverterKind::kInt) w.Int64(v.int_value);
    else if (v.kind == ConverterKind::kFloat) w.Double(v.float_value);
    else write_string(w, v.text);
  }
  w.EndObject();
  w.Key("args");
  write_grouped(w, parse_query(req.query));
  w.Key("form");
  write_grouped(w, req.form);
  w.Key("files");
  w.StartObject();
  {
    std::vector<std::string> order;
    std::map<std::string, std::vector<const FileInfo*>> grouped;
    for (const auto& f : req.files) {
      auto& slot = grouped[f.field];
      if (slot.empty()) order.push_back(f.field);
      slot.push_back(&f);
    }
    for (const auto& k : order) {
      write_string(w, k);
      w.StartArray();
      for (const FileInfo* f : grouped[k]) {
        w.StartObject();
        w.Key("filename");
        write_string(w, f->filename);
        w.Key("content_type");
        write_string(w, f->content_type);
        w.Key("size");
        w.Uint64(f->size);
        w.EndObject();
      }
      w.EndArray();
    }
  }
  w.EndObject();
  w.Key("headers");
  w.StartObject();
  {
    std::vector<std::string> order;
    std::map<std::string, std::string> merged;
    for (const auto& [k, v] : req.headers) {
      auto it = merged.find(k);
      if (it == merged.end()) {
        order.push_back(k);
        merged.emplace(k, v);
      } else {
        it->second += ", " + v;
      }
    }
    for (const auto& k : order) {
      write_string(w, k);
      write_string(w, merged[k]);
    }
  }
  w.EndObject();
  w.Key("json");
  if (has_json) body.Accept(w);
  else w.Null();
  w.EndObject();
  return json_response(ctx.app, std::string(buf.GetString(), buf.GetSize()));
}

Response health(const HandlerContext& ctx) { return json_response(ctx.app, "{\"status\":\"ok\"}"); }

}  // namespace

const HandlerRegistry& HandlerRegistry::builtins() {
  static const HandlerRegistry registry = [] {
    HandlerRegistry r;
    r.add("echo", echo);
    r.add("health", health);
    return r;
  }();
  return registry;
}

}  // namespace flaskpp::core
