// core::App end to end: parse_route declarations, dispatch of fabricated requests, built-in
// handlers, template context, error responses and logging. No sockets, no httpd.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/app.hpp"
#include "core/negotiation.hpp"
#include "core/errors.hpp"
#include "core/json.hpp"
#include "test_support.hpp"

namespace flaskpp::core {
namespace {

using test::CapturingLogger;

RouteDecl decl(const std::vector<std::string>& args) {
  RouteDecl d = parse_route(args);
  d.where = "test.conf:1";
  return d;
}

Request make_request(const std::string& method, const std::string& path, const std::string& query = "",
                     StringPairs headers = {}, const std::string& body = "") {
  Request r;
  r.method = method;
  r.path = path;
  r.query = query;
  r.host_url = "http://127.0.0.1:8080";
  r.remote_addr = "192.0.2.7";
  r.headers = std::move(headers);
  r.body = body;
  return r;
}

const std::string* header(const Response& resp, const std::string& name) {
  for (const auto& h : resp.headers) {
    if (h.first == name) return &h.second;
  }
  return nullptr;
}

std::vector<std::string> member_names(const rapidjson::Value& obj) {
  std::vector<std::string> out;
  for (const auto& m : obj.GetObject()) out.emplace_back(m.name.GetString(), m.name.GetStringLength());
  return out;
}

rapidjson::Document json_of(const Response& resp) {
  rapidjson::Document doc;
  doc.Parse(resp.body.data(), resp.body.size());
  EXPECT_FALSE(doc.HasParseError()) << "not JSON: " << resp.body;
  return doc;
}

void set_config(AppSettings& s, const std::string& key, const std::string& value) {
  s.config.set(key, parse_config_value(value));
}

// An App plus the template directory and logger it uses.
struct Harness {
  test::TempDir dir;
  CapturingLogger log;
  std::unique_ptr<App> app;

  void build(std::vector<RouteDecl> routes, AppSettings settings = {},
             const HandlerRegistry& handlers = HandlerRegistry::builtins()) {
    if (settings.template_dir.empty()) settings.template_dir = dir.str();
    app = std::make_unique<App>(std::move(settings), std::move(routes), handlers);
  }
  Response send(const Request& r) { return app->dispatch(r, app->match(r.path, r.method), log); }
};

// ---------------------------------------------------------------------------------------------
// parse_route

TEST(ParseRoute, ParsesEachAction) {
  RouteDecl t = parse_route({"GET,POST", "/hello/<name>", "template", "hello.html"});
  EXPECT_EQ(t.methods, "GET,POST");
  EXPECT_EQ(t.pattern, "/hello/<name>");
  EXPECT_EQ(t.action, ActionKind::kTemplate);
  EXPECT_EQ(t.target, "hello.html");

  RouteDecl h = parse_route({"*", "/echo", "handler", "echo"});
  EXPECT_EQ(h.action, ActionKind::kHandler);
  EXPECT_EQ(h.target, "echo");

  RouteDecl r = parse_route({"GET", "/old", "redirect", "/new"});
  EXPECT_EQ(r.action, ActionKind::kRedirect);
  EXPECT_EQ(r.target, "/new");
  EXPECT_EQ(r.redirect_code, 302);
  for (int code : {301, 302, 303, 307, 308}) {
    EXPECT_EQ(parse_route({"GET", "/old", "redirect", "/new", std::to_string(code)}).redirect_code, code);
  }
}

TEST(ParseRoute, Errors) {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"GET"},
      {"GET", "/x"},                                      // missing action
      {"GET", "/x", "render", "a.html"},                  // unknown action
      {"GET", "/x", "handler", "no pe"},                  // not a handler name
      {"GET", "/x", "handler"},                           // missing handler name
      {"GET", "/x", "template"},                          // missing template name
      {"GET", "/x", "redirect"},                          // missing URL
      {"GET", "/x", "redirect", "/y", "300"},             // bad code
      {"GET", "/x", "redirect", "/y", "200"},             // bad code
      {"GET", "/x", "redirect", "/y", "abc"},             // bad code
      {"GET", "/x", "redirect", "/y", "301x"},            // bad code
      {"GET", "/x", "redirect", "/y", "301", "extra"},    // extra argument
      {"GET", "/x", "template", "a.html", "extra"},       // extra argument
      {"GET", "/x", "handler", "echo", "extra"},          // extra argument
      {"GET", "/x", "template", "../etc/passwd"},         // unsafe template name
      {"GET", "/x", "template", "/abs.html"},             // unsafe template name
      {"FETCH", "/x", "handler", "echo"},                 // bad method
      {"GET,", "/x", "handler", "echo"},                  // bad method
      {"GET", "x", "handler", "echo"},                    // pattern without '/'
      {"GET", "/<int:x", "handler", "echo"},              // malformed pattern
      {"GET", "/<nope:x>", "handler", "echo"},            // unknown converter
  };
  for (const auto& args : bad) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_THROW(parse_route(args), ConfigError) << joined;
  }
}

// Handler names are resolved when the App is built, against the registry of that configuration
// (built-ins and plugins), not while the directive is parsed.
TEST(ParseRoute, UnknownHandlersFailWhenTheAppIsBuilt) {
  RouteDecl d = parse_route({"GET", "/x", "handler", "nope"});
  d.where = "httpd.conf:12";
  try {
    App app(AppSettings{}, {d}, HandlerRegistry::builtins());
    ADD_FAILURE() << "an unknown handler must fail";
  } catch (const ConfigError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("unknown handler 'nope'"), std::string::npos) << m;
    EXPECT_NE(m.find("httpd.conf:12"), std::string::npos) << "names the directive's file and line: " << m;
    EXPECT_NE(m.find("echo"), std::string::npos) << "lists the known handlers: " << m;
  }
  HandlerRegistry plugins = HandlerRegistry::builtins();
  plugins.add("nope", [](const HandlerContext&) { return Response{}; });
  EXPECT_NO_THROW(App(AppSettings{}, {d}, plugins));
}

TEST(ParseRoute, MessagesAreSpecific) {
  auto message = [](const std::vector<std::string>& args) -> std::string {
    try {
      parse_route(args);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "<no error>";
  };
  EXPECT_NE(message({"GET", "/x", "render", "a"}).find("unknown action 'render'"), std::string::npos);
  EXPECT_NE(message({"GET", "/x", "handler", "no/pe"}).find("handler name 'no/pe'"), std::string::npos);
  EXPECT_NE(message({"GET", "/x", "redirect", "/y", "300"}).find("301, 302, 303, 307 or 308"), std::string::npos);
  EXPECT_NE(message({"GET", "/x", "template", "a", "b"}).find("unexpected argument 'b'"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// App construction

TEST(AppBuild, TemplateRoutesNeedATemplateDir) {
  AppSettings s;
  EXPECT_THROW(App(s, {decl({"GET", "/", "template", "index.html"})}, HandlerRegistry::builtins()), ConfigError);
  AppSettings e;
  e.error_templates[404] = "404.html";
  EXPECT_THROW(App(e, {}, HandlerRegistry::builtins()), ConfigError);
  AppSettings none;
  EXPECT_NO_THROW(App(none, {decl({"GET", "/echo", "handler", "echo"})}, HandlerRegistry::builtins()));
}

TEST(AppBuild, UnknownHandlerInDeclaration) {
  RouteDecl d;
  d.methods = "GET";
  d.pattern = "/x";
  d.action = ActionKind::kHandler;
  d.target = "missing";
  d.where = "site.conf:7";
  try {
    App app(AppSettings{}, {d}, HandlerRegistry::builtins());
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("site.conf:7"), std::string::npos) << e.what();
  }
}

// Defect: MAX_CONTENT_LENGTH went through an unchecked double -> size_t cast (1e300, -1 and 1.5
// were undefined or silently wrong). Sizes and counts from configuration are whole numbers that
// fit, or the configuration is refused at startup.
TEST(AppBuild, SizesFromConfigMustFit) {
  for (const char* bad : {"-1", "1e300", "1.5", "\"big\"", "18446744073709551616"}) {
    AppSettings s;
    set_config(s, "MAX_CONTENT_LENGTH", bad);
    EXPECT_THROW(App(s, {}, HandlerRegistry::builtins()), ConfigError) << bad;
  }
  for (const char* bad : {"0", "-3", "1000001", "2.5"}) {
    AppSettings s;
    set_config(s, "JSON_MAX_DEPTH", bad);
    EXPECT_THROW(App(s, {}, HandlerRegistry::builtins()), ConfigError) << bad;
  }
  AppSettings ok;
  set_config(ok, "MAX_CONTENT_LENGTH", "18446744073709551615");
  EXPECT_EQ(App(ok, {}, HandlerRegistry::builtins()).max_body(), 18446744073709551615u);
}

TEST(AppBuild, FlaskDefaultsAndOverrides) {
  AppSettings s;
  App prod(s, {}, HandlerRegistry::builtins());
  EXPECT_EQ(prod.config().get_string("ENV", ""), "production");
  EXPECT_FALSE(prod.config().get_bool("DEBUG", true));
  EXPECT_FALSE(prod.config().get_bool("TESTING", true));
  EXPECT_EQ(prod.json_mimetype(), "application/json");
  EXPECT_EQ(prod.max_body(), 16u << 20);

  AppSettings d;
  d.env = Env::kDevelopment;
  set_config(d, "MAX_CONTENT_LENGTH", "1024");
  set_config(d, "JSONIFY_MIMETYPE", "application/vnd.test+json");
  set_config(d, "TESTING", "True");
  App dev(d, {}, HandlerRegistry::builtins());
  EXPECT_EQ(dev.env(), Env::kDevelopment);
  EXPECT_EQ(dev.config().get_string("ENV", ""), "development");
  EXPECT_TRUE(dev.config().get_bool("DEBUG", false));
  EXPECT_TRUE(dev.config().get_bool("TESTING", false));
  EXPECT_EQ(dev.max_body(), 1024u);
  EXPECT_EQ(dev.json_mimetype(), "application/vnd.test+json");
}

TEST(AppBuild, WarnsAboutMissingTemplates) {
  Harness h;
  h.dir.write("index.html", "ok");
  AppSettings s;
  s.error_templates[404] = "404-missing.html";
  h.build({decl({"GET", "/", "template", "index.html"}), decl({"GET", "/gone", "template", "gone.html"})}, s);
  const auto& w = h.app->warnings();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("gone.html"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("test.conf:1"), std::string::npos) << w[0];
  EXPECT_NE(w[1].find("404-missing.html"), std::string::npos) << w[1];
  EXPECT_EQ(h.app->route_count(), 2u);
  EXPECT_EQ(h.app->route(1).target, "gone.html");
}

// ---------------------------------------------------------------------------------------------
// echo

class EchoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h.build({decl({"GET,POST", "/echo", "handler", "echo"}),
              decl({"*", "/echo/<int:id>/<float:f>/<name>", "handler", "echo"}),
              decl({"GET", "/u/<uuid:u>", "handler", "echo"}),
              decl({"GET", "/health", "handler", "health"})});
  }
  Harness h;
};

TEST_F(EchoTest, MinimalRequestExactBody) {
  Response r = h.send(make_request("GET", "/echo"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body,
            "{\"method\":\"GET\",\"path\":\"/echo\",\"params\":{},\"args\":{},\"form\":{},\"files\":{},"
            "\"headers\":{},\"json\":null}\n");
}

TEST_F(EchoTest, TypedParamsArgsAndHeaders) {
  Request req = make_request("PATCH", "/echo/5/2.5/bob", "b=2&a=1&b=3&flag&sp=a+b%21",
                             {{"user-agent", "curl/8.0"}, {"x-multi", "1"}, {"accept", "*/*"}, {"x-multi", "2"}});
  Response r = h.send(req);
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = json_of(r);
  EXPECT_EQ(member_names(doc), (std::vector<std::string>{"method", "path", "params", "args", "form", "files",
                                                          "headers", "json"}));
  EXPECT_EQ(doc["form"].MemberCount(), 0u) << "no form body";
  EXPECT_EQ(doc["files"].MemberCount(), 0u);
  EXPECT_STREQ(doc["method"].GetString(), "PATCH");
  EXPECT_STREQ(doc["path"].GetString(), "/echo/5/2.5/bob");

  const auto& params = doc["params"];
  EXPECT_EQ(member_names(params), (std::vector<std::string>{"id", "f", "name"}));
  ASSERT_TRUE(params["id"].IsInt64());
  EXPECT_FALSE(params["id"].IsDouble()) << "an int param is a JSON integer";
  EXPECT_EQ(params["id"].GetInt64(), 5);
  ASSERT_TRUE(params["f"].IsDouble());
  EXPECT_DOUBLE_EQ(params["f"].GetDouble(), 2.5);
  ASSERT_TRUE(params["name"].IsString());
  EXPECT_STREQ(params["name"].GetString(), "bob");

  const auto& args = doc["args"];
  EXPECT_EQ(member_names(args), (std::vector<std::string>{"b", "a", "flag", "sp"}));
  ASSERT_TRUE(args["b"].IsArray());
  ASSERT_EQ(args["b"].Size(), 2u);
  EXPECT_STREQ(args["b"][0].GetString(), "2");
  EXPECT_STREQ(args["b"][1].GetString(), "3");
  ASSERT_EQ(args["a"].Size(), 1u);
  EXPECT_STREQ(args["a"][0].GetString(), "1");
  EXPECT_STREQ(args["flag"][0].GetString(), "");
  EXPECT_STREQ(args["sp"][0].GetString(), "a b!");

  const auto& headers = doc["headers"];
  EXPECT_EQ(member_names(headers), (std::vector<std::string>{"user-agent", "x-multi", "accept"}));
  EXPECT_STREQ(headers["x-multi"].GetString(), "1, 2");
  EXPECT_STREQ(headers["user-agent"].GetString(), "curl/8.0");
  EXPECT_TRUE(doc["json"].IsNull());
}

TEST_F(EchoTest, NegativeAndLargeIntegersStayIntegers) {
  Harness big;
  big.build({decl({"GET", "/n/<int(signed=True):n>", "handler", "echo"})});
  auto doc = json_of(big.send(make_request("GET", "/n/-9000000000")));
  ASSERT_TRUE(doc["params"]["n"].IsInt64());
  EXPECT_EQ(doc["params"]["n"].GetInt64(), -9000000000LL);
}

TEST_F(EchoTest, UuidParamIsLowerCasedString) {
  auto doc = json_of(h.send(make_request("GET", "/u/123E4567-E89B-12D3-A456-426614174ABC")));
  EXPECT_STREQ(doc["params"]["u"].GetString(), "123e4567-e89b-12d3-a456-426614174abc");
}

TEST_F(EchoTest, JsonBodyParsedOnlyForJsonContentTypes) {
  const std::string body = R"({"x":[1,2.5,"s"],"y":{"z":null},"t":true})";
  Response plain = h.send(make_request("POST", "/echo", "", {{"content-type", "text/plain"}}, body));
  ASSERT_EQ(plain.status, 200);
  EXPECT_TRUE(json_of(plain)["json"].IsNull());
  Response none = h.send(make_request("POST", "/echo", "", {}, body));
  EXPECT_TRUE(json_of(none)["json"].IsNull());

  for (const char* ct : {"application/json", "Application/JSON; charset=utf-8", "application/vnd.api+json"}) {
    Response r = h.send(make_request("POST", "/echo", "", {{"content-type", ct}}, body));
    ASSERT_EQ(r.status, 200) << ct << ": " << r.body;
    auto doc = json_of(r);
    const auto& j = doc["json"];
    ASSERT_TRUE(j.IsObject()) << ct;
    EXPECT_EQ(j["x"].Size(), 3u);
    EXPECT_EQ(j["x"][0].GetInt(), 1);
    EXPECT_DOUBLE_EQ(j["x"][1].GetDouble(), 2.5);
    EXPECT_STREQ(j["x"][2].GetString(), "s");
    EXPECT_TRUE(j["y"]["z"].IsNull());
    EXPECT_TRUE(j["t"].IsTrue());
  }
}

TEST_F(EchoTest, BadJsonIs400JsonErrorWithOffset) {
  Request req = make_request("POST", "/echo", "", {{"content-type", "application/json"}, {"accept", "text/html"}},
                             "{\"a\": NaN}");
  Response r = h.send(req);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/json") << "a handler route answers errors in JSON";
  auto doc = json_of(r);
  EXPECT_EQ(member_names(doc), std::vector<std::string>{"error"});
  EXPECT_EQ(member_names(doc["error"]), (std::vector<std::string>{"code", "message"}));
  EXPECT_EQ(doc["error"]["code"].GetInt(), 400);
  std::string msg = doc["error"]["message"].GetString();
  EXPECT_NE(msg.find("offset 6"), std::string::npos) << msg;
  const auto* e = h.log.find_tag(tag::kClientError);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->level, LogLevel::kInfo);
  EXPECT_NE(e->message.find("400"), std::string::npos);
  EXPECT_EQ(h.log.find_tag(tag::kUnhandled), nullptr);
}

TEST_F(EchoTest, EmptyJsonBodyIs400) {
  Response r = h.send(make_request("POST", "/echo", "", {{"content-type", "application/json"}}, ""));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json_of(r)["error"]["code"].GetInt(), 400);
}

TEST_F(EchoTest, OutputIsValidUtf8ForInvalidInput) {
  Request req = make_request("GET", "/echo/1/1.5/\xFF" "x", "k\xC0=v\xFE", {{"x-bad", "a\xED\xA0\x80" "b"}});
  Response r = h.send(req);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(test::is_valid_utf8(r.body)) << r.body;
  auto doc = json_of(r);
  EXPECT_EQ(std::string(doc["params"]["name"].GetString()), "\xEF\xBF\xBDx");
  EXPECT_EQ(std::string(doc["headers"]["x-bad"].GetString()), "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b");
}

TEST_F(EchoTest, LoneSurrogateEscapeInBodyIsRejected) {
  Response r = h.send(make_request("POST", "/echo", "", {{"content-type", "application/json"}}, "[\"\\udc00\"]"));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(test::is_valid_utf8(r.body));
}

TEST_F(EchoTest, Health) {
  Response r = h.send(make_request("GET", "/health"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, "{\"status\":\"ok\"}\n");
  Response head = h.send(make_request("HEAD", "/health"));
  EXPECT_EQ(head.status, 200);
}

TEST_F(EchoTest, RouteMatchIsLoggedAtDebugWithTag) {
  h.send(make_request("GET", "/health"));
  const auto* e = h.log.find_tag(tag::kRouteMatched);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->level, LogLevel::kDebug);
  EXPECT_NE(e->message.find("/health"), std::string::npos);
  EXPECT_NE(e->message.find("test.conf:1"), std::string::npos);
}

TEST(Echo, JsonifyMimetypeIsHonoured) {
  Harness h;
  AppSettings s;
  set_config(s, "JSONIFY_MIMETYPE", "application/vnd.test+json");
  h.build({decl({"POST", "/echo", "handler", "echo"}), decl({"GET", "/health", "handler", "health"})}, s);
  EXPECT_EQ(h.send(make_request("GET", "/health")).content_type, "application/vnd.test+json");
  EXPECT_EQ(h.send(make_request("POST", "/echo")).content_type, "application/vnd.test+json");
  Response bad = h.send(make_request("POST", "/echo", "", {{"content-type", "application/json"}}, "[1,"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.content_type, "application/vnd.test+json");
}

// ---------------------------------------------------------------------------------------------
// Templates

class TemplateRouteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h.dir.write("hello.html",
                "Hello {{name}}! n={{n}} q={{args.q}} debug={{config.DEBUG}} folder={{config.UPLOAD_IMG_FOLDER}} "
                "secret=[{{config.SECRET_KEY}}{{config.API_TOKEN}}] m={{request.method}} p={{request.path}} "
                "u={{request.url}} ip={{request.remote_addr}} env={{env}}");
    h.dir.write("ctx.html", "{{#config}}{{ENV}}{{/config}}|{{#args}}{{a}}{{/args}}|{{x}}");
    h.dir.write("dir.html", "in dir");
    h.dir.write("404.html", "<h1>{{code}} {{name}}</h1><p>{{message}}</p><p>{{request.path}}</p>");
    h.dir.write("uses_ghost.html", "{{> ghost}}");
    AppSettings s = settings();
    set_config(s, "UPLOAD_IMG_FOLDER", "static/img");
    set_config(s, "SECRET_KEY", "s3cr3t-value");
    set_config(s, "API_TOKEN", "t0ken-value");
    h.build({decl({"GET", "/hello/<name>/<int:n>", "template", "hello.html"}),
             decl({"GET", "/ctx/<float:x>", "template", "ctx.html"}),
             decl({"GET", "/dir/", "template", "dir.html"}),
             decl({"GET", "/caf\xC3\xA9/", "template", "dir.html"}),
             decl({"GET", "/items/<int(min=1):id>", "template", "dir.html"}),
             decl({"GET", "/broken", "template", "missing.html"}),
             decl({"GET", "/ghost", "template", "uses_ghost.html"}),
             decl({"POST", "/hello/<name>/<int:n>", "handler", "echo"}),
             decl({"GET", "/old", "redirect", "/new", "301"}),
             decl({"GET", "/away", "redirect", "https://example.com/x?a=1&b=<2>"})},
            s);
  }
  virtual AppSettings settings() {
    AppSettings s;
    s.error_templates[404] = "404.html";
    return s;
  }
  Harness h;
};

TEST_F(TemplateRouteTest, RendersFullContext) {
  Response r = h.send(make_request("GET", "/hello/W\xC3\xB6rld/3", "q=a+b&q=second"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(r.body,
            "Hello W\xC3\xB6rld! n=3 q=a b debug=false folder=static/img secret=[] m=GET p=/hello/W\xC3\xB6rld/3 "
            "u=http://127.0.0.1:8080/hello/W%C3%B6rld/3?q=a+b&amp;q=second ip=192.0.2.7 env=production");
  EXPECT_EQ(r.body.find("s3cr3t"), std::string::npos);
  EXPECT_EQ(r.body.find("t0ken"), std::string::npos);
}

TEST_F(TemplateRouteTest, ParamsAreEscapedAndTyped) {
  Response r = h.send(make_request("GET", "/hello/<b>&'\"/7"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.rfind("Hello &lt;b&gt;&amp;&#39;&#34;! n=7 ", 0), 0u) << r.body;
  Response c = h.send(make_request("GET", "/ctx/1.5", "a=first&a=second"));
  ASSERT_EQ(c.status, 200);
  EXPECT_EQ(c.body, "production|first|1.5") << "args keep the first value, like request.args[...]";
}

TEST_F(TemplateRouteTest, HeadRendersToo) {
  Response r = h.send(make_request("HEAD", "/hello/x/1"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
}

TEST_F(TemplateRouteTest, MethodNotAllowedSetsAllow) {
  Response r = h.send(make_request("DELETE", "/hello/x/1"));
  EXPECT_EQ(r.status, 405);
  ASSERT_NE(header(r, "Allow"), nullptr);
  EXPECT_EQ(*header(r, "Allow"), "GET, HEAD, OPTIONS, POST");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("Method Not Allowed"), std::string::npos);

  Response j = h.send(make_request("DELETE", "/hello/x/1", "", {{"accept", "application/json"}}));
  EXPECT_EQ(j.status, 405);
  EXPECT_EQ(j.content_type, "application/json");
  ASSERT_NE(header(j, "Allow"), nullptr);
  auto doc = json_of(j);
  EXPECT_EQ(doc["error"]["code"].GetInt(), 405);
  EXPECT_STREQ(doc["error"]["message"].GetString(), status_description(405));
}

TEST_F(TemplateRouteTest, OptionsAnswerWithAllow) {
  Response r = h.send(make_request("OPTIONS", "/hello/x/1"));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.content_type.empty());
  ASSERT_NE(header(r, "Allow"), nullptr);
  EXPECT_EQ(*header(r, "Allow"), "GET, HEAD, OPTIONS, POST");
  EXPECT_EQ(h.send(make_request("OPTIONS", "/not-routed")).status, 404);
}

TEST_F(TemplateRouteTest, TrailingSlashRedirectKeepsQuery) {
  Response r = h.send(make_request("GET", "/dir", "x=1&y=a%20b"));
  EXPECT_EQ(r.status, 308);
  ASSERT_NE(header(r, "Location"), nullptr);
  EXPECT_EQ(*header(r, "Location"), "http://127.0.0.1:8080/dir/?x=1&y=a%20b");
  EXPECT_NE(r.body.find("http://127.0.0.1:8080/dir/?x=1&amp;y=a%20b"), std::string::npos) << r.body;
  Response plain = h.send(make_request("GET", "/dir"));
  EXPECT_EQ(*header(plain, "Location"), "http://127.0.0.1:8080/dir/");
  Response utf8 = h.send(make_request("GET", "/caf\xC3\xA9"));
  EXPECT_EQ(utf8.status, 308);
  EXPECT_EQ(*header(utf8, "Location"), "http://127.0.0.1:8080/caf%C3%A9/");
  EXPECT_EQ(h.send(make_request("GET", "/dir/")).body, "in dir");
}

TEST_F(TemplateRouteTest, ConverterRejectionIs404) {
  RouteMatch m = h.app->match("/items/0", "GET");
  EXPECT_EQ(m.kind, RouteMatch::Kind::kNotFound);
  Response r = h.send(make_request("GET", "/items/0", "", {{"accept", "application/json"}}));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  auto doc = json_of(r);
  EXPECT_EQ(doc["error"]["code"].GetInt(), 404);
  EXPECT_STREQ(doc["error"]["message"].GetString(), status_description(404));
  EXPECT_EQ(h.send(make_request("GET", "/items/1")).status, 200);
}

TEST_F(TemplateRouteTest, ErrorTemplateForHtmlClientsJsonForJsonClients) {
  Response html = h.send(make_request("GET", "/nowhere", "", {{"accept", "text/html,application/xhtml+xml,*/*;q=0.8"}}));
  EXPECT_EQ(html.status, 404);
  EXPECT_EQ(html.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(html.body, std::string("<h1>404 Not Found</h1><p>") + status_description(404) + "</p><p>/nowhere</p>");
  Response no_accept = h.send(make_request("GET", "/nowhere"));
  EXPECT_EQ(no_accept.body, html.body);
  Response json = h.send(make_request("GET", "/nowhere", "", {{"accept", "application/json"}}));
  EXPECT_EQ(json.status, 404);
  EXPECT_EQ(json.content_type, "application/json");
  EXPECT_EQ(json_of(json)["error"]["code"].GetInt(), 404);
  Response both = h.send(make_request("GET", "/nowhere", "", {{"accept", "application/json, text/html"}}));
  EXPECT_EQ(both.content_type, "text/html; charset=utf-8");
}

TEST_F(TemplateRouteTest, MissingTemplateIsGeneric500InProduction) {
  Response r = h.send(make_request("GET", "/broken"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find(status_description(500)), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("missing.html"), std::string::npos) << "no detail to the client: " << r.body;
  EXPECT_EQ(r.body.find(h.dir.str()), std::string::npos) << "no file paths to the client: " << r.body;
  const auto* e = h.log.find_tag(tag::kTemplateMissing);
  ASSERT_NE(e, nullptr) << "the 500 is logged with its tag";
  EXPECT_EQ(e->level, LogLevel::kError);
  EXPECT_NE(e->message.find("missing.html"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("/broken"), std::string::npos) << e->message;

  Response json = h.send(make_request("GET", "/broken", "", {{"accept", "application/json"}}));
  EXPECT_EQ(json.status, 500);
  EXPECT_STREQ(json_of(json)["error"]["message"].GetString(), status_description(500));
}

TEST_F(TemplateRouteTest, MissingPartialIsGeneric500InProduction) {
  Response r = h.send(make_request("GET", "/ghost"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("ghost"), std::string::npos) << r.body;
  EXPECT_NE(h.log.find_tag(tag::kTemplateMissing), nullptr);
}

TEST_F(TemplateRouteTest, RedirectAction) {
  Response r = h.send(make_request("GET", "/old"));
  EXPECT_EQ(r.status, 301);
  ASSERT_NE(header(r, "Location"), nullptr);
  EXPECT_EQ(*header(r, "Location"), "/new");
  EXPECT_NE(r.body.find("href=\"/new\""), std::string::npos);
  Response away = h.send(make_request("GET", "/away"));
  EXPECT_EQ(away.status, 302);
  EXPECT_EQ(*header(away, "Location"), "https://example.com/x?a=1&b=<2>");
  EXPECT_NE(away.body.find("https://example.com/x?a=1&amp;b=&lt;2&gt;"), std::string::npos) << away.body;
  EXPECT_EQ(away.body.find("<2>"), std::string::npos);
}

TEST_F(TemplateRouteTest, SameRouteOtherMethodRunsHandler) {
  Response r = h.send(make_request("POST", "/hello/x/2"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(json_of(r)["params"]["n"].GetInt64(), 2);
}

class DevTemplateRouteTest : public TemplateRouteTest {
 protected:
  AppSettings settings() override {
    AppSettings s;
    s.env = Env::kDevelopment;
    return s;
  }
};

TEST_F(DevTemplateRouteTest, MissingTemplateDetailShownInDevelopment) {
  Response r = h.send(make_request("GET", "/broken"));
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("template &#39;missing.html&#39; not found"), std::string::npos) << r.body;
  const auto* e = h.log.find_tag(tag::kTemplateMissing);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->level, LogLevel::kError);
}

TEST_F(DevTemplateRouteTest, DevelopmentSeesTemplateChanges) {
  EXPECT_EQ(h.send(make_request("GET", "/dir/")).body, "in dir");
  h.dir.write("dir.html", "changed in dir");
  EXPECT_EQ(h.send(make_request("GET", "/dir/")).body, "changed in dir");
  Response r = h.send(make_request("GET", "/hello/x/1"));
  EXPECT_NE(r.body.find("env=development"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("debug=true"), std::string::npos) << r.body;
}

TEST(ErrorTemplates, BrokenErrorTemplateFallsBackAndLogs) {
  Harness h;
  h.dir.write("bad404.html", "{{> nope}}");
  AppSettings s;
  s.error_templates[404] = "bad404.html";
  h.build({decl({"GET", "/", "handler", "health"})}, s);
  Response r = h.send(make_request("GET", "/nowhere"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<h1>Not Found</h1>"), std::string::npos) << r.body;
  const auto* e = h.log.find_tag(tag::kErrorPageFailed);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->level, LogLevel::kError);
}

TEST(ErrorTemplates, DefaultPageEscapesMessage) {
  Harness h;
  h.build({});
  Response r = h.app->error_response(400, "bad <input> & more", make_request("GET", "/"), false, h.log);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n"
            "<p>bad &lt;input&gt; &amp; more</p>\n");
  Response j = h.app->error_response(413, "too big", make_request("GET", "/"), true, h.log);
  EXPECT_EQ(j.body, "{\"error\":{\"code\":413,\"message\":\"too big\"}}\n");
}

// ---------------------------------------------------------------------------------------------
// Custom handlers and the exception -> status map

TEST(Handlers, TypedErrorsMapToStatusesAndUntypedTo500) {
  HandlerRegistry reg = HandlerRegistry::builtins();
  reg.add("notfound", [](const HandlerContext&) -> Response { throw NotFound("no such item"); });
  reg.add("media", [](const HandlerContext&) -> Response { throw UnsupportedMediaType("need JSON"); });
  reg.add("boom", [](const HandlerContext&) -> Response { throw std::runtime_error("secret detail /etc/x"); });
  reg.add("weird", [](const HandlerContext&) -> Response { throw 42; });
  reg.add("custom", [](const HandlerContext& c) {
    Response r;
    r.status = 201;
    r.content_type = "text/plain";
    r.body = c.request.method + " " + c.params.at(0).second.text;
    r.headers.emplace_back("X-Test", "1");
    return r;
  });
  auto route = [](const std::string& pattern, const std::string& name) {
    RouteDecl d;
    d.methods = "GET,POST";
    d.pattern = pattern;
    d.action = ActionKind::kHandler;
    d.target = name;
    d.where = "t:1";
    return d;
  };
  Harness h;
  h.build({route("/nf", "notfound"), route("/media", "media"), route("/boom", "boom"), route("/weird", "weird"),
           route("/c/<v>", "custom")},
          AppSettings{}, reg);

  Response nf = h.send(make_request("GET", "/nf"));
  EXPECT_EQ(nf.status, 404);
  EXPECT_STREQ(json_of(nf)["error"]["message"].GetString(), "no such item");
  EXPECT_EQ(h.send(make_request("POST", "/media")).status, 415);

  Response boom = h.send(make_request("GET", "/boom"));
  EXPECT_EQ(boom.status, 500);
  EXPECT_EQ(boom.content_type, "application/json");
  EXPECT_STREQ(json_of(boom)["error"]["message"].GetString(), status_description(500));
  EXPECT_EQ(boom.body.find("secret detail"), std::string::npos);
  const auto* e = h.log.find_tag(tag::kUnhandled);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->level, LogLevel::kError);
  EXPECT_NE(e->message.find("secret detail"), std::string::npos) << "the detail goes to the log";

  Response weird = h.send(make_request("GET", "/weird"));
  EXPECT_EQ(weird.status, 500);

  Response c = h.send(make_request("POST", "/c/val"));
  EXPECT_EQ(c.status, 201);
  EXPECT_EQ(c.body, "POST val");
  EXPECT_EQ(c.content_type, "text/plain");
  ASSERT_NE(header(c, "X-Test"), nullptr);
}

TEST(Handlers, UntypedExceptionDetailShownInDevelopment) {
  HandlerRegistry reg;
  reg.add("boom", [](const HandlerContext&) -> Response { throw std::runtime_error("kaput"); });
  RouteDecl d;
  d.methods = "GET";
  d.pattern = "/boom";
  d.action = ActionKind::kHandler;
  d.target = "boom";
  AppSettings s;
  s.env = Env::kDevelopment;
  Harness h;
  h.build({d}, s, reg);
  Response r = h.send(make_request("GET", "/boom"));
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(std::string(json_of(r)["error"]["message"].GetString()).find("kaput"), std::string::npos);
}

TEST(Handlers, RegistryNames) {
  auto names = HandlerRegistry::builtins().names();
  EXPECT_EQ(names, (std::vector<std::string>{"echo", "health"}));
  EXPECT_EQ(HandlerRegistry::builtins().find("nope"), nullptr);
  EXPECT_NE(HandlerRegistry::builtins().find("echo"), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Accept negotiation

TEST(AcceptsOnlyJson, Variants) {
  auto only_json = [](const char* accept) {
    Request r;
    if (accept) r.headers = {{"accept", accept}};
    return accepts_only_json(r);
  };
  EXPECT_FALSE(only_json(nullptr));
  EXPECT_TRUE(only_json("application/json"));
  EXPECT_TRUE(only_json("Application/JSON"));
  EXPECT_TRUE(only_json("application/problem+json"));
  EXPECT_TRUE(only_json("application/json;q=0.9"));
  EXPECT_FALSE(only_json("application/json, text/html"));
  EXPECT_FALSE(only_json("application/json, */*"));
  EXPECT_FALSE(only_json("*/*"));
  EXPECT_FALSE(only_json("text/html"));
  EXPECT_FALSE(only_json("application/json;q=0, text/plain"));
  EXPECT_TRUE(only_json("application/json, */*;q=0"));
  EXPECT_TRUE(only_json("application/json, text/html; q=0"));
}

// "q=0.0" and "q=0.000" also mean "not acceptable" (RFC 9110 12.4.2), not only the literal "q=0".
TEST(AcceptsOnlyJson, ZeroQualityWithDecimals) {
  Request r;
  r.headers = {{"accept", "application/json, text/html;q=0.0"}};
  EXPECT_TRUE(accepts_only_json(r));
  r.headers = {{"accept", "application/json, */*;q=0.000"}};
  EXPECT_TRUE(accepts_only_json(r));
}

// An int parameter beyond the range of int renders all its digits, as Flask does (mstch would
// print a double with 6 significant digits, "1e+10").
TEST(TemplateParams, LargeIntegerParamRendersAllDigits) {
  Harness h;
  h.dir.write("n.html", "{{n}}");
  h.build({decl({"GET", "/n/<int:n>", "template", "n.html"})});
  EXPECT_EQ(h.send(make_request("GET", "/n/10000000000")).body, "10000000000");
}

// A page is UTF-8 whatever bytes the URL decodes to: route parameters, args and the request's
// path reach templates with invalid sequences replaced by U+FFFD (found by it_hostile_http).
TEST(TemplateParams, InvalidUtf8FromTheUrlBecomesReplacementCharacters) {
  Harness h;
  h.dir.write("p.html", "{{name}}|{{args.q}}|{{request.path}}");
  h.build({decl({"GET", "/p/<name>", "template", "p.html"})});
  Request r = make_request("GET", "/p/\xed\xa0\x80");
  r.query = "q=%ff%fe";
  std::string body = h.send(r).body;
  EXPECT_EQ(body, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF\xBD|/p/\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace flaskpp::core
