// Template usage analysis, context pruning and the rendered-page cache of template routes.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/app.hpp"
#include "core/page_cache.hpp"
#include "test_support.hpp"

namespace core = flaskpp::core;
using flaskpp::test::CapturingLogger;
using flaskpp::test::TempDir;

namespace {

core::Request get(const std::string& path, const std::string& query = "") {
  core::Request r;
  r.method = "GET";
  r.path = path;
  r.query = query;
  r.host_url = "http://h";
  return r;
}

class PageCache : public ::testing::Test {
 protected:
  core::App make_app(core::Env env) {
    core::AppSettings s;
    s.env = env;
    s.template_dir = dir_.str();
    rapidjson::Document v;
    v.SetString("Site", v.GetAllocator());
    s.config.set("TITLE", v);
    v.SetString("hidden-unused", v.GetAllocator());
    s.config.set("OTHER", v);
    s.secret_keys = {std::string(32, 'k')};  // templates may use the session
    std::vector<core::RouteDecl> routes = {core::parse_route({"GET", "/p/<name>", "template", "p.html"}),
                                           core::parse_route({"GET", "/q/<name>", "template", "q.html"})};
    return core::App(std::move(s), routes, core::HandlerRegistry::builtins());
  }
  std::string body(const core::App& app, const core::Request& req) {
    return app.dispatch(req, app.match(req.path, req.method), log_).body;
  }
  TempDir dir_;
  CapturingLogger log_;
};

TEST_F(PageCache, UsageListsTheNamesATemplateAndItsPartialsUse) {
  dir_.write("u.html", "{{title}} {{config.TITLE}} {{#items}}{{.}}{{/items}}{{^args.x}}-{{/args.x}}{{> part}}");
  dir_.write("part.mustache", "{{{request.url}}}{{! comment }}");
  core::TemplateStore store(std::make_shared<core::DirectorySource>(dir_.str()), false);
  store.preload();
  auto u = store.usage("u.html");
  EXPECT_EQ(u->names, (std::set<std::string>{"title", "config", "items", "args", "request"}));
  EXPECT_EQ(u->config_keys, (std::set<std::string>{"TITLE"}));
  EXPECT_FALSE(u->config_all);
}

TEST_F(PageCache, PrunedContextRendersTheSameAsTheFullOne) {
  dir_.write("p.html", "<h1>{{config.TITLE}}</h1>{{name}}[{{config.OTHER_MISSING}}]");
  core::App app = make_app(core::Env::kProduction);
  core::Request req = get("/p/Bob");
  auto m = app.match(req.path, req.method);
  core::TemplateStore store(std::make_shared<core::DirectorySource>(dir_.str()), false);
  store.preload();
  auto usage = store.usage("p.html");
  mstch::map pruned = app.template_context(req, m.params, usage.get());
  EXPECT_EQ(pruned.count("args"), 0u);
  EXPECT_EQ(pruned.count("request"), 0u);
  EXPECT_EQ(boost::get<mstch::map>(pruned.at("config")).count("OTHER"), 0u);
  EXPECT_EQ(store.render("p.html", pruned), store.render("p.html", app.template_context(req, m.params)));
  EXPECT_EQ(body(app, req), "<h1>Site</h1>Bob[]");
}

TEST_F(PageCache, CachedPagesFollowTheParams) {
  dir_.write("p.html", "<h1>{{config.TITLE}}</h1>{{name}}");
  core::App app = make_app(core::Env::kProduction);
  EXPECT_EQ(body(app, get("/p/Ann")), "<h1>Site</h1>Ann");
  dir_.write("p.html", "changed on disk");  // production renders from its startup copy anyway
  EXPECT_EQ(body(app, get("/p/Ann")), "<h1>Site</h1>Ann");
  EXPECT_EQ(body(app, get("/p/Bob")), "<h1>Site</h1>Bob");
  EXPECT_EQ(body(app, get("/p/Ann")), "<h1>Site</h1>Ann");
  for (int i = 0; i < 600; ++i) {  // more names than the cache holds: still right
    std::string n = "n" + std::to_string(i);
    ASSERT_EQ(body(app, get("/p/" + n)), "<h1>Site</h1>" + n);
  }
}

TEST_F(PageCache, RequestDependentPagesAreRenderedEachTime) {
  dir_.write("q.html", "{{name}}:{{args.x}}:{{request.method}}");
  core::App app = make_app(core::Env::kProduction);
  EXPECT_EQ(body(app, get("/q/a", "x=1")), "a:1:GET");
  EXPECT_EQ(body(app, get("/q/a", "x=2")), "a:2:GET");
  core::Request head = get("/q/a", "x=3");
  head.method = "HEAD";
  EXPECT_EQ(body(app, head), "a:3:HEAD");
}

// The cache decides by an allow-list: only pages built from route parameters, config and env are
// kept. Counting renders shows what is served from the cache.
TEST_F(PageCache, OnlyParamsConfigAndEnvPagesAreRenderedOncePerParams) {
  dir_.write("p.html", "<h1>{{config.TITLE}}</h1>{{name}} {{env}}");
  dir_.write("q.html", "{{name}}");
  core::App app = make_app(core::Env::kProduction);
  EXPECT_TRUE(app.caches_pages(0));
  std::uint64_t start = app.renders();
  EXPECT_EQ(body(app, get("/p/Ann")), "<h1>Site</h1>Ann production");
  EXPECT_EQ(app.renders(), start + 1);
  EXPECT_EQ(body(app, get("/p/Ann")), "<h1>Site</h1>Ann production");
  EXPECT_EQ(body(app, get("/p/Ann", "x=1")), "<h1>Site</h1>Ann production");
  EXPECT_EQ(app.renders(), start + 1) << "served from the cache";
  EXPECT_EQ(body(app, get("/p/Bob")), "<h1>Site</h1>Bob production");
  EXPECT_EQ(app.renders(), start + 2);
}

// Defect: the cache decided by a deny-list (args, form, request, files), so a template using any
// other name (a session, a value a handler adds, an unknown key) had one user's page served to
// another. Such pages are rendered every time.
TEST_F(PageCache, AnyOtherNameIsRenderedEveryTime) {
  for (const char* text : {"{{session.user}} {{name}}", "{{#user}}{{name}}{{/user}}", "{{name}}{{> part}}"}) {
    dir_.write("p.html", text);
    dir_.write("part.mustache", "{{csrf_token}}");
    dir_.write("q.html", "{{name}}");
    core::App app = make_app(core::Env::kProduction);
    EXPECT_FALSE(app.caches_pages(0)) << text;
    std::uint64_t start = app.renders();
    body(app, get("/p/Ann"));
    body(app, get("/p/Ann"));
    EXPECT_EQ(app.renders(), start + 2) << text;
  }
}

TEST(PageCacheTable, HoldsAtMostItsSlotsAndKeepsTheFirstPage) {
  core::PageCache cache;
  EXPECT_EQ(cache.find("a"), nullptr);
  cache.insert("a", "page a");
  cache.insert("a", "other");
  ASSERT_NE(cache.find("a"), nullptr);
  EXPECT_EQ(*cache.find("a"), "page a");
  cache.insert("big", std::string(core::PageCache::kMaxPage + 1, 'x'));
  EXPECT_EQ(cache.find("big"), nullptr) << "too large to keep";
  for (std::size_t i = 0; i < 2 * core::PageCache::kSlots; ++i) cache.insert("k" + std::to_string(i), "v");
  EXPECT_EQ(cache.size(), core::PageCache::kSlots);
  EXPECT_EQ(*cache.find("a"), "page a");
}

TEST(PageCacheTable, ConcurrentReadersAndWritersAgree) {
  core::PageCache cache;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&cache, &wrong, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string key = "key" + std::to_string((i * 7 + t) % 300);
        if (const std::string* page = cache.find(key)) {
          if (*page != "page of " + key) ++wrong;
        } else {
          cache.insert(key, "page of " + key);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(cache.size(), core::PageCache::kSlots);
}

TEST_F(PageCache, DevelopmentNeverCaches) {
  dir_.write("p.html", "one {{name}}");
  core::App app = make_app(core::Env::kDevelopment);
  EXPECT_EQ(body(app, get("/p/x")), "one x");
  dir_.write("p.html", "two, longer {{name}}");
  EXPECT_EQ(body(app, get("/p/x")), "two, longer x");
}

}  // namespace
