// schema= in the pipeline: the body checked after it is read and before the action; 422 with
// every error, 415 for a non-JSON body, a handler's declared schema, bad schemas at startup.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/app.hpp"
#include "core/errors.hpp"
#include "test_support.hpp"

namespace core = flaskpp::core;
using flaskpp::test::CapturingLogger;
using flaskpp::test::TempDir;

namespace {

core::Response post(const core::App& app, const std::string& path, const std::string& type, const std::string& body) {
  core::Request r;
  r.method = "POST";
  r.path = path;
  r.body = body;
  r.headers = {{"content-type", type}, {"content-length", std::to_string(body.size())}};
  CapturingLogger log;
  return app.dispatch(r, app.match(path, "POST"), log);
}

TEST(SchemaStage, ValidBodiesReachTheActionInvalidOnesAre422WithEveryError) {
  TempDir dir;
  std::string schema = dir.write("s.json", R"({"type":"object","properties":{"n":{"type":"integer","minimum":1},
      "s":{"type":"string","maxLength":3}},"required":["n","s"],"additionalProperties":false})");
  auto route = core::parse_route({"POST", "/v", "handler", "echo", "schema=" + schema});
  route.where = "t.conf:3";
  core::App app(core::AppSettings{}, {route}, core::HandlerRegistry::builtins());
  ASSERT_NE(app.body_schema(0), nullptr);
  EXPECT_EQ(app.stage_names(), (std::vector<std::string>{"upload-requirements", "schema"}));
  auto ok = post(app, "/v", "application/json", R"({"n":2,"s":"abc"})");
  EXPECT_EQ(ok.status, 200) << ok.body;
  auto bad = post(app, "/v", "application/json", R"({"n":0,"s":"abcd","z":true})");
  EXPECT_EQ(bad.status, 422);
  for (const char* loc : {"\"loc\":\"/n\"", "\"loc\":\"/s\"", "\"loc\":\"/z\""}) {
    EXPECT_NE(bad.body.find(loc), std::string::npos) << loc << " in " << bad.body;
  }
  EXPECT_NE(bad.body.find("\"code\":422"), std::string::npos);
  EXPECT_EQ(post(app, "/v", "application/json", R"({"s":"a"})").status, 422) << "a missing member";
  EXPECT_EQ(post(app, "/v", "text/plain", "n=1").status, 415);
  EXPECT_EQ(post(app, "/v", "application/json", "{").status, 400);
}

TEST(SchemaStage, AHandlersDeclaredSchemaIsUsedAndABrokenOneStopsStartup) {
  core::HandlerRegistry handlers = core::HandlerRegistry::builtins();
  core::HandlerMeta meta;
  meta.request_schema = R"({"type":"object","required":["pixels"]})";
  handlers.add("p.predict", [](const core::HandlerContext&) { return core::Response{}; }, meta);
  core::App app(core::AppSettings{}, {core::parse_route({"POST", "/p", "handler", "p.predict"})}, handlers);
  EXPECT_EQ(post(app, "/p", "application/json", "{}").status, 422);
  EXPECT_EQ(post(app, "/p", "application/json", R"({"pixels":[]})").status, 200);

  TempDir dir;
  auto route = core::parse_route({"POST", "/v", "handler", "echo", "schema=" + dir.str() + "/missing.json"});
  route.where = "t.conf:9";
  try {
    core::App broken(core::AppSettings{}, {route}, core::HandlerRegistry::builtins());
    FAIL() << "no error";
  } catch (const core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("t.conf:9"), std::string::npos) << e.what();
  }
  EXPECT_THROW(core::parse_route({"GET", "/t", "template", "x.html", "schema=a.json"}), core::ConfigError)
      << "schema= is for handler and job routes";
}

}  // namespace
