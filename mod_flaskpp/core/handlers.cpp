// Built-in handlers: echo (the request back as JSON) and health.
#include "core/handlers.hpp"

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

// {key: [item...]}: keys in order of first arrival, items in arrival order.
template <typename Items, typename KeyOf, typename WriteItem>
void write_grouped(JsonWriter& w, const Items& items, KeyOf key_of, WriteItem write_item) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<const typename Items::value_type*>> grouped;
  for (const auto& item : items) {
    auto& slot = grouped[key_of(item)];
    if (slot.empty()) order.push_back(key_of(item));
    slot.push_back(&item);
  }
  w.StartObject();
  for (const auto& k : order) {
    write_string(w, k);
    w.StartArray();
    for (const auto* item : grouped[k]) write_item(*item);
    w.EndArray();
  }
  w.EndObject();
}

void write_grouped(JsonWriter& w, const StringPairs& pairs) {
  write_grouped(w, pairs, [](const auto& p) { return p.first; }, [&w](const auto& p) { write_string(w, p.second); });
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
  write_grouped(w, req.files, [](const FileInfo& f) { return f.field; },
                [&w](const FileInfo& f) { write_file_info(w, f, false); });
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

void HandlerRegistry::add(const std::string& name, Handler handler, HandlerMeta meta) {
  handlers_[name] = Entry{std::move(handler), std::move(meta)};
}

const Handler* HandlerRegistry::find(const std::string& name) const {
  auto it = handlers_.find(name);
  return it == handlers_.end() ? nullptr : &it->second.handler;
}

const HandlerMeta* HandlerRegistry::meta(const std::string& name) const {
  auto it = handlers_.find(name);
  return it == handlers_.end() ? nullptr : &it->second.meta;
}

std::string HandlerRegistry::origin(const std::string& name) const {
  const HandlerMeta* m = meta(name);
  return m ? m->origin : std::string();
}

std::vector<std::string> HandlerRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& h : handlers_) out.push_back(h.first);
  return out;
}

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
