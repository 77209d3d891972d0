// Request data reaching handlers and templates: cookies, form fields, the JSON depth limit, sizes.
#include <gtest/gtest.h>

#include "core/app.hpp"
#include "core/config.hpp"
#include "core/errors.hpp"
#include "test_support.hpp"

namespace core = flaskpp::core;
using flaskpp::test::CapturingLogger;
using flaskpp::test::TempDir;

namespace {

TEST(Cookies, ParsedFromEveryCookieHeaderInOrder) {
  core::Request r;
  r.headers = {{"cookie", "session=abc; theme=\"dark\"; =nameless; flag"}, {"cookie", "lang=de"}};
  EXPECT_EQ(r.cookies(), (core::StringPairs{{"session", "abc"}, {"theme", "dark"}, {"lang", "de"}}));
  EXPECT_TRUE(core::Request{}.cookies().empty());
}

TEST(ParseSize, UnitsAndErrors) {
  EXPECT_EQ(core::parse_size("1048576"), 1048576u);
  EXPECT_EQ(core::parse_size("500K"), 500u * 1024);
  EXPECT_EQ(core::parse_size("16m"), 16u << 20);
  EXPECT_EQ(core::parse_size("2G"), 2ull << 30);
  for (const char* bad : {"", "M", "16X", "-1", "1.5M", "16 M"}) {
    EXPECT_THROW(core::parse_size(bad), core::ConfigError) << bad;
  }
}

TEST(TemplateContext, FormAndCookiesReachTemplates) {
  TempDir dir;
  dir.write("f.html", "{{form.name}}|{{request.cookies.theme}}|{{#form.missing}}x{{/form.missing}}");
  core::AppSettings s;
  s.template_dir = dir.str();
  core::App app(std::move(s), {core::parse_route({"POST", "/f", "template", "f.html"})},
                core::HandlerRegistry::builtins());
  core::Request req;
  req.method = "POST";
  req.path = "/f";
  req.headers = {{"cookie", "theme=dark"}};
  req.form = {{"name", "first"}, {"name", "second"}};
  CapturingLogger log;
  EXPECT_EQ(app.dispatch(req, app.match(req.path, req.method), log).body, "first|dark|");
}

TEST(JsonMaxDepth, ConfigKeyLimitsEchoBodies) {
  core::AppSettings s;
  rapidjson::Document depth;
  depth.SetInt(3);
  s.config.set("JSON_MAX_DEPTH", depth);
  core::App app(std::move(s), {core::parse_route({"POST", "/e", "handler", "echo"})},
                core::HandlerRegistry::builtins());
  EXPECT_EQ(app.json_max_depth(), 3u);
  core::Request req;
  req.method = "POST";
  req.path = "/e";
  req.headers = {{"content-type", "application/json"}};
  CapturingLogger log;
  req.body = "[[[1]]]";
  EXPECT_EQ(app.dispatch(req, app.match(req.path, req.method), log).status, 200);
  req.body = "[[[[1]]]]";
  core::Response deep = app.dispatch(req, app.match(req.path, req.method), log);
  EXPECT_EQ(deep.status, 400);
  EXPECT_NE(deep.body.find("nesting deeper than 3"), std::string::npos) << deep.body;
}

}  // namespace
