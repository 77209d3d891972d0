// Integration tests: HTTP with libcurl against the private Apache started by server.sh (CTest
// fixture "apache"), which runs the freshly built mod_flaskpp with the demo app and test routes.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include "it_http.hpp"
#include "it_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using flaskpp::it::instance;
using flaskpp::it::on_body;
using flaskpp::it::parse;
using flaskpp::it::read_file;

using flaskpp::it::get;
using flaskpp::it::http;
using flaskpp::it::post_json;
using flaskpp::it::Reply;

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string base() { return "http://127.0.0.1:" + std::to_string(instance().port); }

class Http : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GT(instance().port, 0) << "no Apache instance (FLASKPP_IT_STATE)"; }
};

// --- built-in handlers, JSON ------------------------------------------------------------------

TEST_F(Http, HealthAnswersOkJson) {
  Reply r = get("/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.body, "{\"status\":\"ok\"}\n");
}

TEST_F(Http, EchoReturnsExactlyTheSpecifiedKeysWithTypedParams) {
  Reply r = get("/t/users/7?q=a&q=b&z=1", {"X-Test: yes"});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  auto d = parse(r.body);
  ASSERT_TRUE(d.IsObject());
  std::vector<std::string> keys;
  for (const auto& m : d.GetObject()) keys.emplace_back(m.name.GetString());
  EXPECT_EQ(keys, (std::vector<std::string>{"method", "path", "params", "args", "form", "files", "headers", "json"}));
  EXPECT_STREQ(d["method"].GetString(), "GET");
  EXPECT_STREQ(d["path"].GetString(), "/t/users/7");
  ASSERT_TRUE(d["params"]["id"].IsInt());
  EXPECT_EQ(d["params"]["id"].GetInt(), 7);
  ASSERT_EQ(d["args"]["q"].Size(), 2u);
  EXPECT_STREQ(d["args"]["q"][0].GetString(), "a");
  EXPECT_STREQ(d["args"]["q"][1].GetString(), "b");
  EXPECT_STREQ(d["args"]["z"][0].GetString(), "1");
  EXPECT_STREQ(d["headers"]["x-test"].GetString(), "yes");
  EXPECT_TRUE(d["headers"].HasMember("host"));
  EXPECT_TRUE(d["json"].IsNull());
}

TEST_F(Http, EchoParsesJsonBodies) {
  Reply r = post_json("/api/echo", R"({"username":"xyz","password":"xyz","n":[1,2.5,null]})");
  ASSERT_EQ(r.status, 200);
  auto d = parse(r.body);
  EXPECT_STREQ(d["method"].GetString(), "POST");
  EXPECT_STREQ(d["json"]["username"].GetString(), "xyz");
  EXPECT_EQ(d["json"]["n"][1].GetDouble(), 2.5);
  EXPECT_TRUE(d["json"]["n"][2].IsNull());
  Reply plus = post_json("/api/echo", "[true]", "application/merge-patch+json; charset=utf-8");
  EXPECT_TRUE(parse(plus.body)["json"][0].GetBool());
}

TEST_F(Http, EchoLeavesJsonNullForOtherContentTypes) {
  Reply r = post_json("/api/echo", "not json at all", "text/plain");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(parse(r.body)["json"].IsNull());
}

TEST_F(Http, BadJsonIs400WithTheOffset) {
  Reply r = post_json("/api/echo", R"({"username": })");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("content-type"), "application/json");
  auto d = parse(r.body);
  EXPECT_EQ(d["error"]["code"].GetInt(), 400);
  EXPECT_NE(std::string(d["error"]["message"].GetString()).find("offset 13"), std::string::npos) << r.body;
  for (const char* bad : {"", "NaN", "[1] x", "{\"a\":1e400}", "\"\xff\""}) {
    Reply b = post_json("/api/echo", bad);
    EXPECT_EQ(b.status, 400) << "body: " << bad;
    EXPECT_EQ(parse(b.body)["error"]["code"].GetInt(), 400);
  }
}

TEST_F(Http, DeepJsonNestingIs400) {
  std::string deep(600, '[');
  deep += std::string(600, ']');
  Reply r = post_json("/api/echo", deep);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("nesting"), std::string::npos);
}

TEST_F(Http, BodyOverTheLimitIs413) {
  std::string big(17u << 20, 'x');  // MAX_CONTENT_LENGTH defaults to 16 MiB
  Reply r = post_json("/api/echo", big, "application/octet-stream");
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(parse(r.body)["error"]["code"].GetInt(), 413);
}

TEST_F(Http, InvalidUtf8InQueryStillGivesValidJson) {
  Reply r = get("/t/users/1?q=%FF%FE");
  ASSERT_EQ(r.status, 200);
  auto d = parse(r.body);
  EXPECT_EQ(std::string(d["args"]["q"][0].GetString()), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

// --- converters and precedence ---------------------------------------------------------------

TEST_F(Http, ConvertersTypeTheirValues) {
  auto d = parse(get("/t/float/2.5").body);
  ASSERT_TRUE(d["params"]["x"].IsDouble());
  EXPECT_EQ(d["params"]["x"].GetDouble(), 2.5);
  EXPECT_EQ(parse(get("/t/signed/-3").body)["params"]["n"].GetInt(), -3);
  EXPECT_STREQ(parse(get("/t/files/a/b/c.txt").body)["params"]["p"].GetString(), "a/b/c.txt");
  EXPECT_STREQ(parse(get("/t/uuid/A0B1C2D3-0000-4000-8000-00000000ABCD").body)["params"]["u"].GetString(),
               "a0b1c2d3-0000-4000-8000-00000000abcd");
  EXPECT_STREQ(parse(get("/t/page/help").body)["params"]["page"].GetString(), "help");
  EXPECT_STREQ(parse(get("/t/code/de").body)["params"]["c"].GetString(), "de");
  EXPECT_EQ(parse(get("/t/year/2024").body)["params"]["y"].GetInt(), 2024);
  EXPECT_EQ(parse(get("/t/num/100").body)["params"]["n"].GetInt(), 100);
}

TEST_F(Http, RejectedValuesAre404) {
  for (const char* path : {"/t/num/0", "/t/num/101", "/t/year/123", "/t/year/02024", "/t/float/5", "/t/float/1e3",
                           "/t/code/deu", "/t/page/other", "/t/uuid/not-a-uuid", "/t/users/12345678901234567890123",
                           "/t/users/-1"}) {
    Reply r = get(path);
    EXPECT_EQ(r.status, 404) << path;
  }
}

TEST_F(Http, StaticSegmentsBeatConverters) {
  EXPECT_EQ(get("/t/users/new").body, "{\"status\":\"ok\"}\n");
  EXPECT_EQ(get("/t/files/x/y/edit").body, "{\"status\":\"ok\"}\n");
}

// --- methods: HEAD, OPTIONS, 405 --------------------------------------------------------------

TEST_F(Http, HeadAnswersLikeGetWithoutBody) {
  Reply g = get("/health");
  Reply h = http("HEAD", "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_TRUE(h.body.empty());
  EXPECT_EQ(h.header("content-length"), std::to_string(g.body.size()));
  EXPECT_EQ(h.header("content-type"), g.header("content-type"));
  // A template page renders for HEAD too (its footer shows the method), body not sent.
  Reply page = http("HEAD", "/hello/World");
  EXPECT_EQ(page.status, 200);
  EXPECT_TRUE(page.body.empty());
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(page.header("content-length"), std::to_string(get("/hello/World").body.size() + 1));  // HEAD vs GET
}

TEST_F(Http, OptionsListsAllowedMethods) {
  Reply r = http("OPTIONS", "/api/echo");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("allow"), "GET, HEAD, OPTIONS, POST");
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(http("OPTIONS", "/t/only-post").header("allow"), "OPTIONS, POST");
  EXPECT_EQ(http("OPTIONS", "/t/any").header("allow"), "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
  // A route that names OPTIONS handles it itself.
  Reply own = http("OPTIONS", "/t/own-options");
  EXPECT_EQ(own.status, 200);
  EXPECT_STREQ(parse(own.body)["method"].GetString(), "OPTIONS");
}

TEST_F(Http, WrongMethodIs405WithAllow) {
  Reply r = http("DELETE", "/hello/x");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET, HEAD, OPTIONS");
  Reply j = http("GET", "/t/only-post", {"Accept: application/json"});
  EXPECT_EQ(j.status, 405);
  EXPECT_EQ(j.header("allow"), "OPTIONS, POST");
  EXPECT_EQ(parse(j.body)["error"]["code"].GetInt(), 405);
  EXPECT_EQ(http("PUT", "/t/any").status, 200);
}

// Defect: `*` meant the seven standard methods; extension methods got 405.
TEST_F(Http, StarRoutesTakeExtensionMethods) {
  for (const char* m : {"PURGE", "PROPFIND", "MKCOL"}) {
    Reply r = http(m, "/t/any");
    EXPECT_EQ(r.status, 200) << m;
    EXPECT_STREQ(parse(r.body)["method"].GetString(), m);
  }
  Reply listed = http("PURGE", "/api/echo");
  EXPECT_EQ(listed.status, 405);
  EXPECT_EQ(listed.header("allow"), "GET, HEAD, OPTIONS, POST");
}

// Defect: one request with a long segment of separators pinned a worker for seconds or minutes.
// The answers here are Werkzeug's; a request of almost Apache's longest request line.
TEST_F(Http, HostilePathsNearTheRequestLineLimitAnswerCorrectly) {
  // No rule matches the misses, so the module declines and Apache answers the unrouted path: its
  // core cannot map a segment this long to a file (403, AH00127).
  flaskpp::it::allow_log(R"(\[core:error\] .*File name too long: .* AH00127: Cannot map GET /t/hostile)");
  std::string dashes;
  while (dashes.size() < 7900) dashes += "a-";
  Reply miss = get("/t/hostile/" + dashes + "x");
  EXPECT_EQ(miss.status, 403);
  Reply hit = get("/t/hostile/" + dashes + "42");
  ASSERT_EQ(hit.status, 200);
  auto d = parse(hit.body);
  // Greedy: <a> takes all it can, <b> and <c> one character each.
  EXPECT_EQ(std::string(d["params"]["a"].GetString()).size(), dashes.size() - 5);
  EXPECT_STREQ(d["params"]["b"].GetString(), "a");
  EXPECT_STREQ(d["params"]["c"].GetString(), "a");
  EXPECT_EQ(d["params"]["d"].GetInt(), 42);
  std::string dots;
  while (dots.size() < 7900) dots += "a.";
  EXPECT_EQ(get("/t/hostile-dots/" + dots + "x").status, 403);
  EXPECT_EQ(get("/t/hostile-dots/" + dots + "7").status, 200);
}

// --- slashes and redirects --------------------------------------------------------------------

TEST_F(Http, MissingTrailingSlashRedirects308KeepingTheQuery) {
  Reply r = get("/about?x=1&y=2");
  EXPECT_EQ(r.status, 308);
  EXPECT_EQ(r.header("location"), base() + "/about/?x=1&y=2");
  EXPECT_EQ(get("/t/slash").status, 308);
  EXPECT_EQ(get("/about/").status, 200);
}

TEST_F(Http, ExtraTrailingSlashIs404) {
  EXPECT_EQ(get("/t/noslash").status, 200);
  EXPECT_EQ(get("/t/noslash/").status, 404);
}

TEST_F(Http, RedirectAction) {
  Reply r = get("/t/moved");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("location"), "/hello/moved");
  Reply f = get("/flask");
  EXPECT_EQ(f.status, 302);
  EXPECT_EQ(f.header("location"), "https://flask.palletsprojects.com/");
}

// --- templates --------------------------------------------------------------------------------

TEST_F(Http, IndexPageUsesTheLayoutPartials) {
  Reply r = get("/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<h1>mod_flaskpp demo</h1>"), std::string::npos);
  EXPECT_NE(r.body.find("/static/css/app.css"), std::string::npos);  // header partial
  EXPECT_NE(r.body.find("</html>"), std::string::npos);              // footer partial
  EXPECT_EQ(r.body.find("img-thumbnail"), std::string::npos);        // {{#img_show}} section is off
}

TEST_F(Http, HelloPageShowsVariablesSectionsAndLoops) {
  Reply r = get("/hello/World?greeting=Hi");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("Hi, World!"), std::string::npos);
  EXPECT_NE(r.body.find("<li>mustache templates</li>"), std::string::npos);
  Reply plain = get("/hello/World");
  EXPECT_NE(plain.body.find("Hello, World!"), std::string::npos);  // inverted section
  Reply evil = get("/hello/%3Cscript%3E?greeting=%22x%22");
  EXPECT_NE(evil.body.find("&#34;x&#34;, &lt;script&gt;!"), std::string::npos) << evil.body;
  EXPECT_EQ(evil.body.find("<script>!"), std::string::npos);
}

TEST_F(Http, TemplateContextHasParamsArgsConfigRequestEnv) {
  Reply r = get("/t/ctx/Bob?q=%3Ci%3E");
  ASSERT_EQ(r.status, 200);
  const std::string& b = r.body;
  EXPECT_NE(b.find("<p id=\"name\">Bob</p>"), std::string::npos);
  EXPECT_NE(b.find("<p id=\"arg\">&lt;i&gt;</p>"), std::string::npos);
  EXPECT_NE(b.find("<p id=\"raw\"><i></p>"), std::string::npos);
  EXPECT_NE(b.find("<p id=\"greeting\">Hello from config</p>"), std::string::npos);
  EXPECT_NE(b.find("<p id=\"secret\">[][]</p>"), std::string::npos) << "secrets must not render";
  EXPECT_EQ(b.find("do-not-render-me"), std::string::npos);
  EXPECT_NE(b.find("<p id=\"method\">GET</p>"), std::string::npos);
  EXPECT_NE(b.find("<p id=\"path\">/t/ctx/Bob</p>"), std::string::npos);
  EXPECT_NE(b.find("<p id=\"url\">" + base() + "/t/ctx/Bob?q=%3Ci%3E</p>"), std::string::npos) << b;
  EXPECT_NE(b.find("<p id=\"remote\">127.0.0.1</p>"), std::string::npos);
  EXPECT_NE(b.find("<p id=\"env\">production</p>"), std::string::npos);
  EXPECT_NE(b.find("<li>routes from httpd.conf</li>"), std::string::npos);
  EXPECT_NE(b.find("<p id=\"inverted\">no missing arg</p>"), std::string::npos);
}

TEST_F(Http, MissingTemplateIs500WithAGenericPageInProduction) {
  flaskpp::it::allow_log(R"(\[flaskpp:error\] .* FPP00003: 500 for GET /t/missing: )");
  Reply r = get("/t/missing");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("500 Internal Server Error"), std::string::npos);  // conf's 500.html
  EXPECT_EQ(r.body.find("does-not-exist.html"), std::string::npos) << "no detail in production";
  std::string log = read_file(instance().root + "/logs/error_log");
  EXPECT_NE(log.find("FPP00003: 500 for GET /t/missing: template 'does-not-exist.html' not found"), std::string::npos);
}

TEST_F(Http, DevelopmentShowsDetailAndReloadsChangedTemplates) {
  flaskpp::it::allow_log(R"(\[flaskpp:error\] .* FPP00003: 500 for GET /dev/missing: )");
  int dev = instance().dev_port;
  Reply missing = http("GET", "/dev/missing", {}, nullptr, dev);
  EXPECT_EQ(missing.status, 500);
  EXPECT_NE(missing.body.find("nope.html"), std::string::npos) << "development shows the detail";

  std::string dir = instance().root + "/dev-templates/";
  Reply one = http("GET", "/dev/page", {}, nullptr, dev);
  ASSERT_EQ(one.status, 200);
  EXPECT_NE(one.body.find("<p id=\"version\">one</p>"), std::string::npos);
  EXPECT_NE(one.body.find("partial one"), std::string::npos);
  write_file(dir + "page.html", "{{> part}}<p id=\"version\">two, and longer</p>\n");
  write_file(dir + "part.mustache", "<p id=\"part\">partial two</p>\n");
  Reply two = http("GET", "/dev/page", {}, nullptr, dev);
  EXPECT_NE(two.body.find("<p id=\"version\">two, and longer</p>"), std::string::npos) << two.body;
  EXPECT_NE(two.body.find("partial two"), std::string::npos);
  // The production server kept its startup copy of the same kind of file.
  EXPECT_EQ(get("/").status, 200);
}

// --- Apache's part: static files, 404 pages, access control -----------------------------------

TEST_F(Http, UnroutedPathsFallThroughToApacheStaticFiles) {
  Reply r = get("/static/css/app.css");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/css");
  EXPECT_EQ(r.body, read_file(instance().root + "/htdocs/static/css/app.css"));
  EXPECT_EQ(get("/static/js/app.js").header("content-type"), "text/javascript");
}

TEST_F(Http, CustomErrorTemplateServesApacheOwn404s) {
  for (const char* path : {"/no/such/page", "/static/css/missing.css", "/t/page-num/0"}) {
    Reply r = get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_NE(r.body.find("<h1 class=\"error-code\">404 Not Found</h1>"), std::string::npos) << path << r.body;
  }
  // A handler (JSON) route answers its converter 404 in JSON.
  Reply json = get("/t/num/0");
  EXPECT_EQ(json.status, 404);
  EXPECT_EQ(parse(json.body)["error"]["code"].GetInt(), 404);
  // The internal error path is not reachable from outside: asked for directly, the 500 page is a
  // plain 404 (the page of an unrouted path), not a 500.
  Reply inner = get("/.flaskpp-error/500");
  EXPECT_EQ(inner.status, 404);
  EXPECT_NE(inner.body.find("404 Not Found"), std::string::npos) << inner.body;
  EXPECT_EQ(get("/.flaskpp-error/404").status, 404);
}

// Defect: the page showed the internal redirect (/.flaskpp-error/404) as request.path and lost the
// query. It describes the request the client made.
TEST_F(Http, ErrorPagesDescribeTheClientsRequest) {
  Reply r = get("/static/css/missing.css?x=1&y=two");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body.find("flaskpp-error"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("/static/css/missing.css?x=1&amp;y=two"), std::string::npos) << r.body;
  // Apache turns the failed request into a GET for its error redirect; the page keeps the method.
  std::string form = "a=1";
  Reply post = http("POST", "/no/such/page?x=1", {"Content-Type: application/x-www-form-urlencoded"}, &form);
  EXPECT_EQ(post.status, 404);
  EXPECT_NE(post.body.find("POST http://127.0.0.1:"), std::string::npos) << post.body;
  // The same page for a template route's converter 404 (answered by the module itself).
  Reply route = get("/t/page-num/0?z=9");
  EXPECT_EQ(route.status, 404);
  EXPECT_NE(route.body.find("/t/page-num/0?z=9"), std::string::npos) << route.body;
}

// Negotiated error answers (HTML or JSON by Accept) say so to caches; JSON routes' are fixed.
TEST_F(Http, NegotiatedErrorsCarryVaryAccept) {
  for (const char* path : {"/no/such/page", "/t/page-num/0"}) {
    Reply html = get(path);
    EXPECT_EQ(html.header("content-type"), "text/html; charset=utf-8") << path;
    EXPECT_NE(html.header("vary").find("Accept"), std::string::npos) << path;
    Reply json = get(path, {"Accept: application/json"});
    EXPECT_EQ(json.header("content-type"), "application/json") << path;
    EXPECT_NE(json.header("vary").find("Accept"), std::string::npos) << path;
  }
  Reply fixed = get("/t/num/0", {"Accept: text/html"});
  EXPECT_EQ(fixed.header("content-type"), "application/json");
  EXPECT_EQ(fixed.header("vary").find("Accept"), std::string::npos) << fixed.header("vary");
}

// Defect: FlaskppErrorTemplate silently overrode an operator's ErrorDocument for the same code.
TEST_F(Http, OperatorErrorDocumentWinsOverTheErrorTemplate) {
  Reply unrouted = get("/t/errdoc/missing");
  EXPECT_EQ(unrouted.status, 404);
  EXPECT_EQ(unrouted.body, "operator 404 page");
  Reply page = get("/t/errdoc/n/0");  // a template route's own 404 (converter bound)
  EXPECT_EQ(page.status, 404);
  EXPECT_EQ(page.body, "operator 404 page");
  EXPECT_NE(page.header("vary").find("Accept"), std::string::npos) << "a JSON-only client would get JSON";
  Reply json = get("/t/errdoc/j/0");  // JSON routes answer JSON whatever ErrorDocument says
  EXPECT_EQ(json.status, 404);
  EXPECT_EQ(parse(json.body)["error"]["code"].GetInt(), 404);
  EXPECT_EQ(get("/t/errdoc/n/3").status, 200);
  // Outside the <Location>, the error template still answers.
  EXPECT_NE(get("/no/such/page").body.find("<h1 class=\"error-code\">404 Not Found</h1>"), std::string::npos);
}

// Defect: a 405 on a handler (JSON) route was an HTML page.
TEST_F(Http, MethodNotAllowedOnJsonRoutesIsJson) {
  Reply j = http("GET", "/t/only-post");
  EXPECT_EQ(j.status, 405);
  EXPECT_EQ(j.header("content-type"), "application/json");
  EXPECT_EQ(j.header("allow"), "OPTIONS, POST");
  EXPECT_EQ(parse(j.body)["error"]["code"].GetInt(), 405);
  Reply browser = http("PATCH", "/api/items/3", {"Accept: text/html"});
  EXPECT_EQ(browser.status, 405);
  EXPECT_EQ(browser.header("content-type"), "application/json");
  // Template routes keep HTML unless the client accepts only JSON.
  Reply page = http("DELETE", "/hello/x");
  EXPECT_EQ(page.status, 405);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(page.header("allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(http("DELETE", "/hello/x", {"Accept: application/json"}).header("content-type"), "application/json");
}

TEST_F(Http, JsonOnlyClientsGetJsonErrors) {
  Reply r = get("/no/such/page", {"Accept: application/json"});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(parse(r.body)["error"]["code"].GetInt(), 404);
  Reply browser = get("/no/such/page", {"Accept: text/html,application/json;q=0.9"});
  EXPECT_EQ(browser.header("content-type"), "text/html; charset=utf-8");
}

// Defect: a malformed chunked body was logged as "the client stopped sending".
TEST_F(Http, MalformedChunkedBodyIs400AndNamedInTheLog) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(instance().port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req =
      "POST /api/echo?malformed-chunk-test HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{\"a\":\r\nzz-not-hex\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;  // Apache's own answer (HTTP_IN failed the body)
  std::string log;
  for (int i = 0; i < 50; ++i) {
    log = read_file(instance().root + "/logs/error_log");
    if (log.find("malformed-chunk-test") != std::string::npos || log.find("malformed chunked") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(log.find("FPP00006: 400 for POST /api/echo: malformed chunked transfer encoding"), std::string::npos)
      << log.substr(log.size() > 2000 ? log.size() - 2000 : 0);
}

TEST_F(Http, LocationRequireAppliesToRoutes) {
  flaskpp::it::allow_log(R"(\[authz_core:error\] .* AH01630: client denied .*flaskpp:/private/thing$)");
  EXPECT_EQ(get("/private/thing").status, 403);
}

// --- FlaskppQuickHandler On -----------------------------------------------------------------

TEST_F(Http, QuickHandlerAnswersRoutesAndDeclinesTheRest) {
  flaskpp::it::allow_log(R"(\[authz_core:error\] .* AH01630: client denied .*flaskpp:/private/thing$)");
  int q = instance().quick_port;
  ASSERT_GT(q, 0);
  EXPECT_EQ(http("GET", "/health", {}, nullptr, q).body, "{\"status\":\"ok\"}\n");
  Reply page = http("GET", "/hello/World?greeting=Hi", {}, nullptr, q);
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("Hi, World!"), std::string::npos);
  // The path is normalised as Apache's phases would: dot segments, repeated slashes, %XX.
  Reply odd = http("GET", "/t/./users/../users//%37", {}, nullptr, q);
  EXPECT_EQ(odd.status, 200);
  EXPECT_STREQ(parse(odd.body)["path"].GetString(), "/t/users/7");
  EXPECT_EQ(parse(odd.body)["params"]["id"].GetInt(), 7);
  EXPECT_EQ(http("DELETE", "/hello/x", {}, nullptr, q).header("allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(http("GET", "/about", {}, nullptr, q).status, 308);
  std::string json = "{\"a\": [1]}";
  Reply echo = http("POST", "/api/echo", {"Content-Type: application/json"}, &json, q);
  EXPECT_EQ(parse(echo.body)["json"]["a"][0].GetInt(), 1);
  // Unclaimed paths still go through Apache: static files, 404 pages, encoded slashes refused.
  EXPECT_EQ(http("GET", "/static/css/app.css", {}, nullptr, q).header("content-type"), "text/css");
  Reply missing = http("GET", "/no/such/page", {}, nullptr, q);
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("error-code"), std::string::npos);
  EXPECT_EQ(http("GET", "/t/files/a%2Fb", {}, nullptr, q).status, 404);
  // The trade-off: access checks are skipped (documented), while the normal mode applies them.
  EXPECT_EQ(http("GET", "/private/thing", {}, nullptr, q).status, 200);
  EXPECT_EQ(get("/private/thing").status, 403);
}

// --- load (seed 16.5: parallel requests) ------------------------------------------------------

TEST_F(Http, ParallelRequestsAllSucceed) {
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([t, &ok, &bad] {
      for (int i = 0; i < 25; ++i) {
        std::string id = std::to_string(t * 100 + i + 1);
        Reply r = (i % 2) ? get("/t/users/" + id) : post_json("/api/echo", "{\"id\":" + id + "}");
        bool good = r.status == 200 && r.body.find(id) != std::string::npos;
        (good ? ok : bad)++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 400);
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
