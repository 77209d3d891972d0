// The README's plugin example, verbatim (tests/integration loads it: keep the two in step).
#include <flaskpp/flaskpp.hpp>

namespace {
std::string g_greeting;  // set once by on_start, read-only afterwards
}

FLASKPP_PLUGIN(app) {
  app.handler("hello", [](const flaskpp::Request& req) {
    auto name = req.arg("name").value_or("world");
    if (name.size() > 100) flaskpp::abort(422, "name is too long");
    return flaskpp::jsonify({{"greeting", g_greeting + ", " + name}});
  }, {"Says hello", R"({"type": "object"})", ""});   // summary, request and response JSON Schema
  app.job("slow-hello", [](flaskpp::JobContext& job) {
    job.progress(0.5, "thinking");
    return flaskpp::JsonValue({{"greeting", "hello, " + job.input().arg("name").value_or("world")}}).to_document();
  });
  app.on_start([](const flaskpp::PluginContext& ctx) { g_greeting = ctx.option("greeting").value_or("Hello"); });
}
