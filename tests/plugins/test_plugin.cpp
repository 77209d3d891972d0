// The plugin the integration tests load (FlaskppPlugin testplug ...): one handler per SDK feature,
// a handler that throws, job functions for the job tests, and hooks that leave evidence of where
// they ran.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <flaskpp/flaskpp.hpp>

namespace {

pid_t g_start_pid = 0;             // on_start ran in this process (Apache's parent)
int g_start_calls = 0;             // in this generation
std::atomic<int> g_child_starts{0};  // on_child_start in this process
std::string g_file;                // option file=

flaskpp::Response hello(const flaskpp::Request& req) {
  rapidjson::Document out;
  out.SetObject();
  auto& a = out.GetAllocator();
  out.AddMember("method", rapidjson::Value(req.method, a), a);
  out.AddMember("path", rapidjson::Value(req.path, a), a);
  rapidjson::Value params(rapidjson::kObjectType);
  for (const auto& p : req.params) {
    rapidjson::Value v;
    if (p.kind == flaskpp::Param::Kind::kInt) v.SetInt64(p.int_value);
    else v.SetString(p.text, a);
    params.AddMember(rapidjson::Value(p.name, a), v, a);
  }
  out.AddMember("params", params, a);
  out.AddMember("name", rapidjson::Value(req.arg("name").value_or("world"), a), a);
  out.AddMember("agent", rapidjson::Value(req.header("User-Agent").value_or(""), a), a);
  out.AddMember("cookie", rapidjson::Value(req.cookie("flavour").value_or(""), a), a);
  out.AddMember("remote_addr", rapidjson::Value(req.remote_addr, a), a);
  const rapidjson::Value* greeting = req.config_value("GREETING");
  out.AddMember("greeting", greeting ? rapidjson::Value(*greeting, a) : rapidjson::Value(), a);
  out.AddMember("secret_visible", req.config_value("SECRET_KEY") != nullptr, a);
  if (req.is_json()) out.AddMember("json", rapidjson::Value(req.json, a), a);
  rapidjson::Value files(rapidjson::kArrayType);
  for (const auto& f : req.files) {
    rapidjson::Value file(rapidjson::kObjectType);
    file.AddMember("field", rapidjson::Value(f.field, a), a);
    file.AddMember("filename", rapidjson::Value(f.filename, a), a);
    file.AddMember("size", f.size, a);
    file.AddMember("bytes", static_cast<std::uint64_t>(f.bytes().size()), a);
    files.PushBack(file, a);
  }
  out.AddMember("files", files, a);
  req.log().info("hello answered");
  return flaskpp::jsonify(out);
}

}  // namespace

FLASKPP_PLUGIN(app) {
  app.handler("t.hello", hello, {"Echoes what the SDK request holds", R"({"type":"object"})", ""});
  app.handler("t.throw", [](const flaskpp::Request&) -> flaskpp::Response {
    throw std::runtime_error("the test handler fails on purpose");
  });
  app.handler("t.abort", [](const flaskpp::Request& req) -> flaskpp::Response {
    if (!req.arg("ok")) flaskpp::abort(422, "argument 'ok' is required");
    return flaskpp::jsonify({{"ok", true}});
  });
  app.handler("t.render", [](const flaskpp::Request& req) {
    return flaskpp::render_template("ctx.html", {{"extra", req.arg("extra").value_or("none")}});
  });
  app.handler("t.file", [](const flaskpp::Request& req) {
    if (req.arg("attach")) return flaskpp::send_file(g_file, "", true, "report.txt");
    if (req.arg("age")) return flaskpp::send_file(g_file, "text/plain", false, "", 60);
    return flaskpp::send_file(g_file);
  });
  app.handler("t.missing-file", [](const flaskpp::Request&) { return flaskpp::send_file("/nonexistent/flaskpp-file"); });
  app.handler("t.cookie", [](const flaskpp::Request&) {
    flaskpp::Response r = flaskpp::redirect("/health", 303);
    r.set_cookie("flavour", "mint", 3600, "/", "", false, true, "Lax");
    return r;
  });
  // Sessions (SDK 1.1): the session back as JSON; and a login that merges the JSON body into the
  // session and flashes a message (body {"clear": true} empties it).
  app.handler("t.session-get", [](const flaskpp::Request& req) {
    flaskpp::Response r = flaskpp::jsonify(req.session);
    return r;
  });
  app.handler("t.session-set", [](const flaskpp::Request& req) {
    if (req.session.IsNull()) flaskpp::abort(409, "sessions are off");
    rapidjson::Document s;
    s.CopyFrom(req.session, s.GetAllocator());
    flaskpp::Response r = flaskpp::jsonify({{"ok", true}});
    if (req.json.IsObject() && req.json.HasMember("clear")) return r.clear_session(), r;
    if (req.json.IsObject()) {
      for (const auto& m : req.json.GetObject()) {
        s.RemoveMember(m.name);
        s.AddMember(rapidjson::Value(m.name, s.GetAllocator()), rapidjson::Value(m.value, s.GetAllocator()),
                    s.GetAllocator());
      }
    }
    flaskpp::flash(s, "welcome back", "info");
    r.set_session(s);
    return r;
  });
  app.handler("t.bad-header", [](const flaskpp::Request&) {
    flaskpp::Response r = flaskpp::jsonify({{"ok", true}});
    r.header("X-Split", "a\r\nSet-Cookie: evil=1");
    return r;
  });
  app.handler("t.pids", [](const flaskpp::Request&) {
    return flaskpp::jsonify({{"start_pid", static_cast<long>(g_start_pid)},
                             {"start_calls", g_start_calls},
                             {"child_starts", g_child_starts.load()},
                             {"pid", static_cast<long>(::getpid())},
                             {"ppid", static_cast<long>(::getppid())}});
  });
  // Jobs.
  app.job("t.sleep", [](flaskpp::JobContext& job) {
    const flaskpp::Request& in = job.input();
    long ms = 0;
    if (in.json.IsObject() && in.json.HasMember("ms") && in.json["ms"].IsInt()) ms = in.json["ms"].GetInt();
    for (long waited = 0; waited < ms; waited += 10) {
      if (job.cancelled()) return flaskpp::JsonValue({{"cancelled", true}}).to_document();
      job.progress(static_cast<double>(waited) / static_cast<double>(ms), "sleeping in pid " + std::to_string(::getpid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    rapidjson::Document out;
    out.SetObject();
    out.AddMember("slept_ms", static_cast<int64_t>(ms), out.GetAllocator());
    out.AddMember("pid", static_cast<int64_t>(::getpid()), out.GetAllocator());
    out.AddMember("attempt", job.attempt(), out.GetAllocator());
    if (in.json.IsObject() && in.json.HasMember("tag")) {
      out.AddMember("tag", rapidjson::Value(in.json["tag"], out.GetAllocator()), out.GetAllocator());
    }
    rapidjson::Value files(rapidjson::kArrayType);
    for (const auto& f : in.files) {
      rapidjson::Value file(rapidjson::kObjectType);
      file.AddMember("filename", rapidjson::Value(f.filename, out.GetAllocator()), out.GetAllocator());
      file.AddMember("bytes", static_cast<std::uint64_t>(f.bytes().size()), out.GetAllocator());
      files.PushBack(file, out.GetAllocator());
    }
    out.AddMember("files", files, out.GetAllocator());
    return out;
  });
  app.job("t.fail", [](flaskpp::JobContext&) -> rapidjson::Document {
    throw std::runtime_error("the test job fails on purpose");
  });
  app.job("t.reject", [](flaskpp::JobContext&) -> rapidjson::Document { flaskpp::abort(422, "the input is wrong"); });

  app.on_start([](const flaskpp::PluginContext& ctx) {
    g_start_pid = ::getpid();
    ++g_start_calls;
    g_file = ctx.option("file").value_or("");
    if (ctx.option("fail_start")) throw std::runtime_error("on_start refuses: fail_start is set");
    ctx.log().info("started");
  });
  app.on_child_start([](const flaskpp::PluginContext&) { ++g_child_starts; });
  app.on_child_stop([](const flaskpp::PluginContext& ctx) {
    ctx.log().info("child " + std::to_string(::getpid()) + " stopping after " + std::to_string(g_child_starts.load()) +
                   " start");
  });
}
