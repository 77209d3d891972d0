// The plugin SDK through a real Apache: the test plugin (tests/plugins/test_plugin.cpp) is loaded
// with FlaskppPlugin and its handlers answer over HTTP.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "it_http.hpp"
#include "it_support.hpp"

namespace {

using flaskpp::it::allow_log;
using flaskpp::it::get;
using flaskpp::it::http;
using flaskpp::it::instance;
using flaskpp::it::parse;
using flaskpp::it::post_json;
using flaskpp::it::read_file;
using flaskpp::it::Reply;

class Plugin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GT(instance().port, 0) << "no Apache instance (FLASKPP_IT_STATE)"; }
};

TEST_F(Plugin, HandlerSeesTypedParamsArgsHeadersCookiesJsonAndPublicConfig) {
  std::string body = R"({"x":[1,2]})";
  Reply r = http("POST", "/t/sdk/hello/42?name=Ada",
                 {"Content-Type: application/json", "User-Agent: sdk-test", "Cookie: flavour=mint"}, &body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  auto d = parse(r.body);
  EXPECT_STREQ(d["method"].GetString(), "POST");
  EXPECT_STREQ(d["path"].GetString(), "/t/sdk/hello/42");
  ASSERT_TRUE(d["params"]["n"].IsInt());
  EXPECT_EQ(d["params"]["n"].GetInt(), 42);
  EXPECT_STREQ(d["name"].GetString(), "Ada");
  EXPECT_STREQ(d["agent"].GetString(), "sdk-test");
  EXPECT_STREQ(d["cookie"].GetString(), "mint");
  EXPECT_STREQ(d["remote_addr"].GetString(), "127.0.0.1");
  EXPECT_STREQ(d["greeting"].GetString(), "Hello from config");
  EXPECT_FALSE(d["secret_visible"].GetBool()) << "SECRET_KEY must not reach plugins through config";
  EXPECT_EQ(d["json"]["x"][1].GetInt(), 2);
  // The plugin's own log line names the plugin and the handler.
  std::string log = read_file(instance().root + "/logs/error_log");
  EXPECT_NE(log.find("plugin testplug handler t.hello: hello answered"), std::string::npos);
}

TEST_F(Plugin, UploadedFilesReachTheHandlerWithTheirBytes) {
  Reply r = flaskpp::it::post_file("/t/sdk/hello/1", "image", "a.bin", std::string(100000, 'z'), "", {{"note", "hi"}});
  ASSERT_EQ(r.status, 200) << r.body;
  std::string out = r.body;
  auto d = parse(out);
  ASSERT_EQ(d["files"].Size(), 1u);
  EXPECT_STREQ(d["files"][0]["field"].GetString(), "image");
  EXPECT_STREQ(d["files"][0]["filename"].GetString(), "a.bin");
  EXPECT_EQ(d["files"][0]["size"].GetUint64(), 100000u);
  EXPECT_EQ(d["files"][0]["bytes"].GetUint64(), 100000u);
}

TEST_F(Plugin, ThrowingHandlerAnswers500JsonIsLoggedWithItsNamesAndTheChildServesOn) {
  allow_log("FPP00004: 500 for GET /t/sdk/throw: handler 't.throw' of plugin testplug threw: the test handler fails on purpose");
  for (int i = 0; i < 20; ++i) {
    Reply r = get("/t/sdk/throw");
    ASSERT_EQ(r.status, 500);
    EXPECT_EQ(r.header("content-type"), "application/json");
    auto d = parse(r.body);
    EXPECT_EQ(d["error"]["code"].GetInt(), 500);
    // Production: no internals to the client.
    EXPECT_EQ(r.body.find("on purpose"), std::string::npos) << r.body;
  }
  std::string log = read_file(instance().root + "/logs/error_log");
  EXPECT_NE(log.find("handler 't.throw' of plugin testplug threw: the test handler fails on purpose"), std::string::npos);
  EXPECT_EQ(log.find("exit signal"), std::string::npos) << "a child crashed";
  EXPECT_EQ(get("/t/sdk/hello/1").status, 200);
}

TEST_F(Plugin, AbortIsTheUsualJsonError) {
  Reply r = get("/t/sdk/abort");
  EXPECT_EQ(r.status, 422);
  auto d = parse(r.body);
  EXPECT_EQ(d["error"]["code"].GetInt(), 422);
  EXPECT_STREQ(d["error"]["message"].GetString(), "argument 'ok' is required");
  EXPECT_EQ(get("/t/sdk/abort?ok=1").status, 200);
}

TEST_F(Plugin, RenderTemplateAddsTheHandlersValuesToTheUsualContext) {
  Reply r = get("/t/sdk/render?q=query&extra=unused");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<p id=\"arg\">query</p>"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("<p id=\"greeting\">Hello from config</p>"), std::string::npos);
  EXPECT_NE(r.body.find("<p id=\"path\">/t/sdk/render</p>"), std::string::npos);
}

TEST_F(Plugin, SendFileIsServedByApacheWithValidatorsAndCacheControl) {
  std::string expected = read_file(instance().root + "/htdocs/static/css/app.css");
  Reply r = get("/t/sdk/file");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, expected);
  EXPECT_EQ(r.header("content-type").rfind("text/css", 0), 0u) << r.header("content-type");
  EXPECT_EQ(r.header("cache-control"), "public, max-age=43200");  // conf/config.json's SEND_FILE_MAX_AGE_DEFAULT
  EXPECT_FALSE(r.header("last-modified").empty());
  std::string etag = r.header("etag");
  ASSERT_FALSE(etag.empty());
  Reply again = get("/t/sdk/file", {"If-None-Match: " + etag});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  Reply range = get("/t/sdk/file", {"Range: bytes=0-9"});
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.body, expected.substr(0, 10));
  Reply aged = get("/t/sdk/file?age=1");
  EXPECT_EQ(aged.header("cache-control"), "public, max-age=60");
  EXPECT_EQ(aged.header("content-type").rfind("text/plain", 0), 0u);
  Reply attach = get("/t/sdk/file?attach=1");
  EXPECT_EQ(attach.header("content-disposition"), "attachment; filename=\"report.txt\"");
  Reply head = http("HEAD", "/t/sdk/file");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), std::to_string(expected.size()));
  EXPECT_EQ(get("/t/sdk/missing-file").status, 404);
}

TEST_F(Plugin, SetCookieAndRedirect) {
  Reply r = get("/t/sdk/cookie");
  EXPECT_EQ(r.status, 303);
  EXPECT_EQ(r.header("location"), "/health");
  EXPECT_EQ(r.header("set-cookie"), "flavour=mint; Max-Age=3600; HttpOnly; Path=/; SameSite=Lax");
}

TEST_F(Plugin, HeaderWithALineBreakIsRefused) {
  allow_log("FPP00004: 500 for GET /t/sdk/bad-header: the handler set a header with a line break");
  Reply r = get("/t/sdk/bad-header");
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(r.header("x-split").empty());
  EXPECT_EQ(r.header("set-cookie"), "");
}

TEST_F(Plugin, OnStartRanOnceInTheParentAndOnChildStartInEachChild) {
  Reply r = get("/t/sdk/pids");
  ASSERT_EQ(r.status, 200);
  auto d = parse(r.body);
  EXPECT_EQ(d["start_calls"].GetInt(), 1);
  EXPECT_NE(d["start_pid"].GetInt64(), d["pid"].GetInt64()) << "on_start must not run in a child";
  EXPECT_EQ(d["start_pid"].GetInt64(), d["ppid"].GetInt64()) << "on_start runs in Apache's parent";
  EXPECT_EQ(d["child_starts"].GetInt(), 1);
}

TEST_F(Plugin, TheReadmeExampleBuildsAgainstTheInstalledPackageAndAnswers) {
  Reply r = get("/t/readme/hello?name=Ada");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{\"greeting\":\"Howdy, Ada\"}\n");
  std::string long_name(101, 'x');
  EXPECT_EQ(get("/t/readme/hello?name=" + long_name).status, 422);
  Reply job = post_json("/t/readme/slow-hello?name=Bo", "{}");
  ASSERT_EQ(job.status, 202) << job.body;
  std::string id = parse(job.body)["id"].GetString();
  for (int i = 0; i < 500; ++i) {
    auto d = parse(get("/jobs/" + id).body);
    if (std::string(d["status"].GetString()) == "done") {
      EXPECT_STREQ(d["result"]["greeting"].GetString(), "hello, Bo");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL() << "the README's job never finished";
}

}  // namespace
