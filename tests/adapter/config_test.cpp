// Adapter tests: APR pools, no server. Server config create/merge and pool-owned objects.
#include <gtest/gtest.h>

#include "glue/config.hpp"
#include "glue/lifecycle.hpp"
#include "glue/pool.hpp"

extern "C" {
// The real record lives in mod_flaskpp.cpp (which needs httpd's symbols); config code only needs
// its module_index.
module AP_MODULE_DECLARE_DATA flaskpp_module = {STANDARD20_MODULE_STUFF, nullptr, nullptr, nullptr, nullptr,
                                                nullptr, nullptr, AP_MODULE_FLAG_NONE};
}

namespace glue = flaskpp::glue;
namespace core = flaskpp::core;

// The real one (glue/lifecycle.cpp) logs through httpd; here failures are only counted.
namespace flaskpp::glue {
int g_config_failures = 0;
void note_config_failure(apr_pool_t*, const char*, const char*) noexcept { ++g_config_failures; }
}  // namespace flaskpp::glue

namespace {

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(apr_pool_create(&pool_, nullptr), APR_SUCCESS); }
  void TearDown() override {
    if (pool_) apr_pool_destroy(pool_);
  }
  apr_pool_t* pool_ = nullptr;
};

struct Probe {
  explicit Probe(int* counter) : counter_(counter) {}
  ~Probe() { ++*counter_; }
  int* counter_;
};

core::RouteDecl route(const std::string& pattern) {
  core::RouteDecl d = core::parse_route({"GET", pattern, "handler", "health"});
  d.where = "test";
  return d;
}

glue::ConfigItem item(const std::string& key, const std::string& json, std::optional<core::Env> env = {}) {
  auto doc = std::make_shared<rapidjson::Document>();
  doc->Parse(json.c_str());
  return {key, doc, env};
}

TEST_F(PoolTest, PoolOwnedObjectsDieWithTheirPool) {
  int destroyed = 0;
  apr_pool_t* child = nullptr;
  ASSERT_EQ(apr_pool_create(&child, pool_), APR_SUCCESS);
  Probe* p = glue::make_pool_owned<Probe>(child, &destroyed);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(destroyed, 0);
  apr_pool_clear(child);
  EXPECT_EQ(destroyed, 1);
  apr_pool_destroy(child);
  EXPECT_EQ(destroyed, 1) << "cleanup runs once";
}

TEST_F(PoolTest, CreateGivesAnEmptyUnsetConfig) {
  auto* cfg = static_cast<glue::ServerConfig*>(glue::fpp_create_server_config(pool_, nullptr));
  ASSERT_NE(cfg, nullptr);
  EXPECT_TRUE(cfg->routes.empty());
  EXPECT_TRUE(cfg->template_dir.empty());
  EXPECT_TRUE(cfg->config_items.empty());
  EXPECT_FALSE(cfg->env.has_value());
  EXPECT_TRUE(cfg->error_templates.empty());
  EXPECT_EQ(cfg->app, nullptr);
}

TEST_F(PoolTest, MergeAppendsParentFirstAndLetsTheChildOverride) {
  auto* base = static_cast<glue::ServerConfig*>(glue::fpp_create_server_config(pool_, nullptr));
  auto* add = static_cast<glue::ServerConfig*>(glue::fpp_create_server_config(pool_, nullptr));
  base->routes = {route("/a"), route("/b")};
  add->routes = {route("/c")};
  base->template_dir = "/srv/base";
  base->env = core::Env::kProduction;
  base->error_templates = {{404, "base404.html"}, {500, "base500.html"}};
  add->error_templates = {{404, "child404.html"}};
  base->config_items = {item("A", "1")};
  add->config_items = {item("A", "2")};

  auto* m = static_cast<glue::ServerConfig*>(glue::fpp_merge_server_config(pool_, base, add));
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->routes.size(), 3u);
  EXPECT_EQ(m->routes[0].pattern, "/a");
  EXPECT_EQ(m->routes[1].pattern, "/b");
  EXPECT_EQ(m->routes[2].pattern, "/c");
  EXPECT_EQ(m->template_dir, "/srv/base");
  EXPECT_EQ(m->env, core::Env::kProduction);
  EXPECT_EQ(m->error_templates.at(404), "child404.html");
  EXPECT_EQ(m->error_templates.at(500), "base500.html");
  core::AppSettings s = glue::settings_from(*m);
  EXPECT_EQ((*s.config.get("A")).GetInt(), 2) << "the child's value wins";

  add->template_dir = "/srv/child";
  add->env = core::Env::kDevelopment;
  auto* m2 = static_cast<glue::ServerConfig*>(glue::fpp_merge_server_config(pool_, base, add));
  EXPECT_EQ(m2->template_dir, "/srv/child");
  EXPECT_EQ(m2->env, core::Env::kDevelopment);
  // Inputs are left as they were.
  EXPECT_EQ(base->routes.size(), 2u);
  EXPECT_EQ(add->routes.size(), 1u);
}

TEST_F(PoolTest, UploadWorkDirIsInheritedUnlessSet) {
  auto* base = static_cast<glue::ServerConfig*>(glue::fpp_create_server_config(pool_, nullptr));
  auto* add = static_cast<glue::ServerConfig*>(glue::fpp_create_server_config(pool_, nullptr));
  base->upload_work_dir = "/srv/work";
  auto* m = static_cast<glue::ServerConfig*>(glue::fpp_merge_server_config(pool_, base, add));
  EXPECT_EQ(glue::settings_from(*m).upload_work_dir, "/srv/work");
  add->upload_work_dir = "/srv/vhost-work";
  m = static_cast<glue::ServerConfig*>(glue::fpp_merge_server_config(pool_, base, add));
  EXPECT_EQ(m->upload_work_dir, "/srv/vhost-work");
}

// FlaskppOpenAPI / FlaskppSwaggerUI: a virtual host inherits both (path, title, version and assets
// directory together) unless it sets its own; its Off (an empty path) wins over the parent's.
TEST_F(PoolTest, OpenApiAndSwaggerUiAreInheritedUnlessSet) {
  auto* base = static_cast<glue::ServerConfig*>(glue::fpp_create_server_config(pool_, nullptr));
  auto* add = static_cast<glue::ServerConfig*>(glue::fpp_create_server_config(pool_, nullptr));
  EXPECT_FALSE(base->openapi.has_value());
  EXPECT_FALSE(base->swagger_ui.has_value());
  base->openapi = glue::OpenApiDirective{"/openapi.json", "Demo", "1.0"};
  base->swagger_ui = glue::SwaggerUiDirective{"/docs", "/srv/swagger-ui-dist"};
  auto* m = static_cast<glue::ServerConfig*>(glue::fpp_merge_server_config(pool_, base, add));
  ASSERT_TRUE(m->openapi && m->swagger_ui);
  EXPECT_EQ(m->openapi->path, "/openapi.json");
  EXPECT_EQ(m->openapi->title, "Demo");
  EXPECT_EQ(m->openapi->version, "1.0");
  EXPECT_EQ(m->swagger_ui->assets_dir, "/srv/swagger-ui-dist");
  add->openapi = glue::OpenApiDirective{"/v2/openapi.json", "", ""};
  add->swagger_ui = glue::SwaggerUiDirective{};  // Off
  m = static_cast<glue::ServerConfig*>(glue::fpp_merge_server_config(pool_, base, add));
  EXPECT_EQ(m->openapi->path, "/v2/openapi.json");
  EXPECT_EQ(m->openapi->title, "") << "the child's directive as a whole, no mix with the parent's title";
  ASSERT_TRUE(m->swagger_ui.has_value());
  EXPECT_TRUE(m->swagger_ui->path.empty());
}

// A config whose creation failed is null: merging it must not dereference it (it used to be
// swallowed and then dereferenced later); check_config stops startup on the null config.
TEST_F(PoolTest, MergeOfAFailedConfigIsNullNotACrash) {
  auto* ok = glue::fpp_create_server_config(pool_, nullptr);
  EXPECT_EQ(glue::fpp_merge_server_config(pool_, nullptr, ok), nullptr);
  EXPECT_EQ(glue::fpp_merge_server_config(pool_, ok, nullptr), nullptr);
}

TEST_F(PoolTest, SettingsApplyPerEnvironmentConfigFiles) {
  auto* cfg = static_cast<glue::ServerConfig*>(glue::fpp_create_server_config(pool_, nullptr));
  cfg->config_items = {item("", R"({"NAME":"base","X":1})"),
                       item("", R"({"NAME":"dev"})", core::Env::kDevelopment),
                       item("", R"({"NAME":"prod"})", core::Env::kProduction)};
  EXPECT_EQ(glue::settings_from(*cfg).config.get_string("NAME", ""), "prod");  // default: production
  cfg->env = core::Env::kDevelopment;
  core::AppSettings s = glue::settings_from(*cfg);
  EXPECT_EQ(s.config.get_string("NAME", ""), "dev");
  EXPECT_EQ(s.config.get("X")->GetInt(), 1);
  EXPECT_EQ(s.env, core::Env::kDevelopment);
}

}  // namespace

int main(int argc, char** argv) {
  apr_initialize();
  flaskpp_module.module_index = 0;
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  apr_terminate();
  return rc;
}
