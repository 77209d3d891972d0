// The session stage: cookie settings from config (injection refused), lazy decode, Set-Cookie
// only when modified, Vary: Cookie when used, permanent sessions' Expires, error answers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/app.hpp"
#include "core/errors.hpp"
#include "core/session_stage.hpp"
#include "test_support.hpp"

namespace core = flaskpp::core;
using flaskpp::test::CapturingLogger;
using flaskpp::test::TempDir;

namespace {

core::Config config_of(std::vector<std::pair<std::string, std::string>> kv) {
  core::Config c;
  for (auto& [k, v] : kv) c.set(k, core::parse_config_value(v));
  return c;
}

TEST(SessionCookieSettings, FlasksDefaultsWithLaxAndEveryKey) {
  auto d = core::session_cookie_settings(core::Config{});
  EXPECT_EQ(d.name, "session");
  EXPECT_EQ(d.path, "/");
  EXPECT_TRUE(d.httponly);
  EXPECT_FALSE(d.secure);
  EXPECT_EQ(d.samesite, "Lax");
  EXPECT_EQ(d.lifetime_s, 31 * 24 * 3600);
  auto s = core::session_cookie_settings(config_of({{"SESSION_COOKIE_NAME", "sid"},
                                                    {"SESSION_COOKIE_SECURE", "true"},
                                                    {"SESSION_COOKIE_SAMESITE", "\"None\""},
                                                    {"SESSION_COOKIE_HTTPONLY", "false"},
                                                    {"PERMANENT_SESSION_LIFETIME", "\"12h\""}}));
  EXPECT_EQ(s.name, "sid");
  EXPECT_TRUE(s.secure);
  EXPECT_FALSE(s.httponly);
  EXPECT_EQ(s.samesite, "None");
  EXPECT_EQ(s.lifetime_s, 12 * 3600);
  EXPECT_EQ(core::session_cookie_settings(config_of({{"PERMANENT_SESSION_LIFETIME", "600"}})).lifetime_s, 600);
  EXPECT_EQ(core::session_cookie_settings(config_of({{"SESSION_COOKIE_SAMESITE", "null"}})).samesite, "");
  // FlaskppConfig's Python literal None is Flask's None: no SameSite attribute.
  EXPECT_EQ(core::session_cookie_settings(config_of({{"SESSION_COOKIE_SAMESITE", "None"}})).samesite, "");
}

TEST(SessionCookieSettings, InjectionAndNonsenseStopStartup) {
  for (auto kv : std::vector<std::pair<std::string, std::string>>{
           {"SESSION_COOKIE_PATH", "/; Domain=evil.example"},
           {"SESSION_COOKIE_DOMAIN", "a.example\r\nSet-Cookie: x=1"},
           {"SESSION_COOKIE_NAME", "a=b"},
           {"SESSION_COOKIE_NAME", "two words"},
           {"SESSION_COOKIE_SAMESITE", "Loose"},
           {"SESSION_COOKIE_SAMESITE", "\"None\""},  // without SECURE: browsers drop it
           {"PERMANENT_SESSION_LIFETIME", "\"soon\""},
           {"PERMANENT_SESSION_LIFETIME", "-5"}}) {
    EXPECT_THROW(core::session_cookie_settings(config_of({kv})), core::ConfigError) << kv.first << "=" << kv.second;
  }
}

struct SessionApp {
  TempDir dir;
  std::unique_ptr<core::App> app;
  explicit SessionApp(std::vector<std::pair<std::string, std::string>> config = {}) {
    dir.write("s.html", "<p>{{session.user}}</p>{{#flashes}}[{{message}}]{{/flashes}}");
    dir.write("plain.html", "<p>{{name}}</p>");
    core::AppSettings s;
    s.template_dir = dir.str();
    s.secret_keys = {std::string(40, 'k')};
    s.config = config_of(std::move(config));
    app = std::make_unique<core::App>(std::move(s),
                                      std::vector<core::RouteDecl>{core::parse_route({"GET", "/s", "template", "s.html"}),
                                                                   core::parse_route({"GET", "/p/<name>", "template", "plain.html"})},
                                      core::HandlerRegistry::builtins());
  }
  core::Response get(const std::string& path, const std::string& cookie = "") {
    core::Request r;
    r.method = "GET";
    r.path = path;
    if (!cookie.empty()) r.headers.emplace_back("cookie", cookie);
    CapturingLogger log;
    auto resp = app->dispatch(r, app->match(path, "GET"), log);
    EXPECT_EQ(r.session, nullptr) << "the request never keeps a pointer into the exchange";
    return resp;
  }
};

std::vector<std::string> headers(const core::Response& r, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [n, v] : r.headers) {
    if (n == name) out.push_back(v);
  }
  return out;
}

TEST(SessionStage, ReadingVariesByCookieAndOnlyAChangeSetsOne) {
  SessionApp a;
  core::SessionCodec codec({std::string(40, 'k')}, 3600);
  rapidjson::Document s(rapidjson::kObjectType);
  s.AddMember("user", "ann", s.GetAllocator());
  std::string cookie = "session=" + codec.encode(s);
  auto r = a.get("/s", cookie);
  EXPECT_NE(r.body.find("<p>ann</p>"), std::string::npos) << r.body;
  EXPECT_EQ(headers(r, "Vary"), std::vector<std::string>{"Cookie"});
  EXPECT_TRUE(headers(r, "Set-Cookie").empty()) << "read only: no cookie written";
  auto plain = a.get("/p/x", cookie);
  EXPECT_TRUE(headers(plain, "Vary").empty()) << "a page that does not use the session does not vary";
  EXPECT_TRUE(a.app->caches_pages(1));
  EXPECT_FALSE(a.app->caches_pages(0));
  // Flashes: taken out, so the session changed and is written back without them.
  core::add_flash(s, "info", "hello");
  auto f = a.get("/s", "session=" + codec.encode(s));
  EXPECT_NE(f.body.find("[hello]"), std::string::npos) << f.body;
  auto set = headers(f, "Set-Cookie");
  ASSERT_EQ(set.size(), 1u);
  EXPECT_EQ(set[0].rfind("session=", 0), 0u);
  for (const char* attr : {"; HttpOnly", "; Path=/", "; SameSite=Lax"}) EXPECT_NE(set[0].find(attr), std::string::npos);
  EXPECT_EQ(set[0].find("Expires"), std::string::npos) << "not permanent";
  auto back = codec.decode(set[0].substr(8, set[0].find(';') - 8));
  EXPECT_FALSE(back.HasMember("_flashes"));
  EXPECT_STREQ(back["user"].GetString(), "ann");
}

TEST(SessionStage, APermanentSessionGetsExpiresAndAnEmptiedOneIsDeleted) {
  SessionApp a(std::vector<std::pair<std::string, std::string>>{{"PERMANENT_SESSION_LIFETIME", "\"2h\""}});
  core::SessionCodec codec({std::string(40, 'k')}, 7200);
  rapidjson::Document s(rapidjson::kObjectType);
  s.AddMember("_permanent", true, s.GetAllocator());
  core::add_flash(s, "m", "x");
  auto set = headers(a.get("/s", "session=" + codec.encode(s)), "Set-Cookie");
  ASSERT_EQ(set.size(), 1u);
  EXPECT_NE(set[0].find("; Expires="), std::string::npos) << set[0];
  rapidjson::Document only(rapidjson::kObjectType);
  core::add_flash(only, "m", "x");
  auto del = headers(a.get("/s", "session=" + codec.encode(only)), "Set-Cookie");
  ASSERT_EQ(del.size(), 1u);
  EXPECT_NE(del[0].find("Max-Age=0"), std::string::npos) << "emptied: deleted";
}

TEST(SessionStage, ATamperedCookieIsAnEmptySessionNotAnError) {
  SessionApp a;
  auto r = a.get("/s", "session=eyJ1c2VyIjoicm9vdCJ9.AAAA.forged");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("<p></p>"), std::string::npos) << r.body;
}

}  // namespace
