// The plugin SDK's core side without Apache or dlopen: the ABI check, what a registration block
// registers (and refuses), and plugin handlers and jobs run through core::App.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <flaskpp/flaskpp.hpp>

#include "core/app.hpp"
#include "core/errors.hpp"
#include "core/job_store_sqlite.hpp"
#include "core/plugins.hpp"
#include "test_support.hpp"

namespace flaskpp::core {
namespace {

using test::CapturingLogger;

// Registration blocks, as FLASKPP_PLUGIN would generate them.
void good_block(flaskpp::PluginApp& app) {
  app.handler("p.json", [](const flaskpp::Request& req) {
    const flaskpp::Param* n = req.param("n");
    return flaskpp::jsonify({{"n", n ? n->int_value : -1},
                             {"q", req.arg("q").value_or("")},
                             {"x", req.is_json() ? req.json["x"].GetInt() : 0},
                             {"greeting", req.config_value("GREETING") ? req.config_value("GREETING")->GetString() : ""},
                             {"secret", req.config_value("SECRET_KEY") != nullptr}});
  });
  app.handler("p.abort", [](const flaskpp::Request&) -> flaskpp::Response { flaskpp::abort(422, "no good"); });
  app.handler("p.throw", [](const flaskpp::Request&) -> flaskpp::Response { throw std::runtime_error("boom"); });
  app.handler("p.misuse", [](const flaskpp::Request& req) {
    return flaskpp::jsonify({{"x", req.json["nope"].GetInt()}});  // RapidJSON misuse: throws, not asserts
  });
  app.handler("p.render", [](const flaskpp::Request&) { return flaskpp::render_template("t.html", {{"who", "plugin"}}); });
  app.handler("p.file", [](const flaskpp::Request& req) { return flaskpp::send_file(req.arg("path").value_or("/x")); });
  app.handler("p.split", [](const flaskpp::Request&) {
    flaskpp::Response r;
    r.header("X-A", "1\r\nX-B: 2");
    return r;
  });
  app.handler("p.status", [](const flaskpp::Request&) {
    flaskpp::Response r;
    r.status = 1000;
    return r;
  });
  app.job("p.job", [](flaskpp::JobContext& job) {
    job.progress(0.5, "half");
    return flaskpp::JsonValue({{"attempt", job.attempt()}, {"tag", job.input().json["tag"].GetString()}}).to_document();
  });
  app.job("p.reject", [](flaskpp::JobContext&) -> rapidjson::Document { flaskpp::abort(422, "bad input"); });
  app.job("p.crash", [](flaskpp::JobContext&) -> rapidjson::Document { throw std::runtime_error("crashed"); });
}
void dup_block(flaskpp::PluginApp& app) {
  auto f = [](const flaskpp::Request&) { return flaskpp::Response{}; };
  app.handler("same", f);
  app.handler("same", f);
}
void throwing_block(flaskpp::PluginApp&) { throw std::runtime_error("cannot register"); }
void empty_block(flaskpp::PluginApp&) {}

void good_entry(flaskpp::detail::Registrar* r, const char* name) noexcept {
  flaskpp::detail::run_registration(r, name, good_block);
}
void dup_entry(flaskpp::detail::Registrar* r, const char* name) noexcept {
  flaskpp::detail::run_registration(r, name, dup_block);
}
void throwing_entry(flaskpp::detail::Registrar* r, const char* name) noexcept {
  flaskpp::detail::run_registration(r, name, throwing_block);
}
void empty_entry(flaskpp::detail::Registrar* r, const char* name) noexcept {
  flaskpp::detail::run_registration(r, name, empty_block);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(PluginAbi, TheModulesOwnStampPasses) { EXPECT_EQ(check_abi(&flaskpp::detail::kAbiStamp), ""); }

TEST(PluginAbi, EachDifferenceIsRefusedWithWhatDiffers) {
  using flaskpp::detail::AbiStamp;
  EXPECT_EQ(check_abi(nullptr), "its ABI stamp is missing");
  AbiStamp s = flaskpp::detail::kAbiStamp;
  s.magic = 1;
  EXPECT_NE(check_abi(&s).find("not a mod_flaskpp stamp"), std::string::npos);
  s = flaskpp::detail::kAbiStamp;
  s.stamp_size = 8;
  EXPECT_NE(check_abi(&s).find("another layout"), std::string::npos);
  s = flaskpp::detail::kAbiStamp;
  s.sdk_major = 2;
  EXPECT_NE(check_abi(&s).find("built against SDK 2.1, this module provides SDK 1.1"), std::string::npos);
  s = flaskpp::detail::kAbiStamp;
  s.sdk_minor = 7;  // a newer minor may use what this module lacks
  EXPECT_NE(check_abi(&s).find("SDK 1.7"), std::string::npos);
  s = flaskpp::detail::kAbiStamp;
  s.stdlib = 2;
  EXPECT_NE(check_abi(&s).find("libc++"), std::string::npos);
  s = flaskpp::detail::kAbiStamp;
  s.cxx11_abi = 1 - s.cxx11_abi;
  EXPECT_NE(check_abi(&s).find("_GLIBCXX_USE_CXX11_ABI"), std::string::npos);
  s = flaskpp::detail::kAbiStamp;
  s.sizes[1] += 8;
  EXPECT_NE(check_abi(&s).find("the size of Request differs"), std::string::npos);
}

TEST(PluginRegistry, RegistersHandlersJobsAndRefusesDuplicates) {
  Plugin good("good", "/p/good.so", {});
  good.register_with(good_entry);
  EXPECT_EQ(good.handlers().size(), 8u);
  EXPECT_EQ(good.jobs().size(), 3u);

  Plugin dup("dup", "/p/dup.so", {});
  EXPECT_EQ(error_of([&] { dup.register_with(dup_entry); }), "plugin dup (/p/dup.so): handler 'same' is registered twice");
  Plugin throwing("bad", "/p/bad.so", {});
  EXPECT_EQ(error_of([&] { throwing.register_with(throwing_entry); }),
            "plugin bad (/p/bad.so): the registration block threw: cannot register");
  Plugin empty("empty", "/p/empty.so", {});
  EXPECT_EQ(error_of([&] { empty.register_with(empty_entry); }),
            "plugin empty (/p/empty.so) registers no handler and no job");

  HandlerRegistry registry = HandlerRegistry::builtins();
  add_plugin_handlers(registry, good);
  ASSERT_NE(registry.find("p.json"), nullptr);
  EXPECT_EQ(registry.origin("p.json"), "plugin good (/p/good.so)");
  EXPECT_EQ(registry.origin("echo"), "built-in");
  Plugin again("again", "/p/again.so", {});
  again.register_with(good_entry);
  EXPECT_EQ(error_of([&] { add_plugin_handlers(registry, again); }),
            "plugin again (/p/again.so): handler 'p.json' is already registered (plugin good (/p/good.so))");
}

class PluginApp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("fpp-plugin-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "templates");
    std::ofstream(dir_ / "templates" / "t.html") << "<p>{{who}} {{request.path}}</p>";
    plugin_ = std::make_unique<Plugin>("good", "/p/good.so", flaskpp::Pairs{});
    plugin_->register_with(good_entry);
    registry_ = HandlerRegistry::builtins();
    add_plugin_handlers(registry_, *plugin_);
    store_ = std::make_unique<SqliteJobStore>((dir_ / "jobs.sqlite").string());
    queue_ = std::make_unique<JobQueue>(*store_, JobQueueOptions{});
    AppSettings s;
    s.template_dir = (dir_ / "templates").string();
    rapidjson::Document v;
    v.SetString("hi", v.GetAllocator());
    s.config.set("GREETING", v);
    v.SetString("s3cret", v.GetAllocator());
    s.config.set("SECRET_KEY", v);
    s.jobs = queue_.get();
    s.job_spool_dir = dir_.string();
    for (const auto& j : plugin_->jobs()) s.job_functions.push_back(j.name);
    std::vector<RouteDecl> routes;
    for (auto args : std::vector<std::vector<std::string>>{{"GET,POST", "/json/<int:n>", "handler", "p.json"},
                                                           {"GET", "/abort", "handler", "p.abort"},
                                                           {"GET", "/throw", "handler", "p.throw"},
                                                           {"POST", "/misuse", "handler", "p.misuse"},
                                                           {"GET", "/render", "handler", "p.render"},
                                                           {"GET", "/file", "handler", "p.file"},
                                                           {"GET", "/split", "handler", "p.split"},
                                                           {"GET", "/status", "handler", "p.status"},
                                                           {"POST", "/job", "job", "p.job"},
                                                           {"GET", "/jobs/<uuid:id>", "job-status"}}) {
      RouteDecl d = parse_route(args);
      d.where = "test.conf:1";
      routes.push_back(d);
    }
    app_ = std::make_unique<App>(std::move(s), routes, registry_);
  }
  void TearDown() override {
    app_.reset();
    std::filesystem::remove_all(dir_);
  }
  Response send(const std::string& method, const std::string& path, const std::string& query = "",
                const std::string& json = "") {
    Request r;
    r.method = method;
    r.path = path;
    r.query = query;
    r.host_url = "http://127.0.0.1";
    if (!json.empty()) {
      r.headers.emplace_back("content-type", "application/json");
      r.body = json;
    }
    return app_->dispatch(r, app_->match(r.path, r.method), log_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<Plugin> plugin_;
  HandlerRegistry registry_;
  std::unique_ptr<SqliteJobStore> store_;
  std::unique_ptr<JobQueue> queue_;
  std::unique_ptr<App> app_;
  CapturingLogger log_;
};

TEST_F(PluginApp, HandlerSeesTypedParamsArgsJsonAndConfigWithoutSecrets) {
  Response r = send("POST", "/json/42", "q=z", R"({"x": 7})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, "{\"n\":42,\"q\":\"z\",\"x\":7,\"greeting\":\"hi\",\"secret\":false}\n");
}

TEST_F(PluginApp, BadJsonIs400BeforeTheHandlerRuns) { EXPECT_EQ(send("POST", "/json/1", "", "{\"x\":").status, 400); }

TEST_F(PluginApp, AbortThrowAndMisuseBecomeTheUsualJsonErrors) {
  Response a = send("GET", "/abort");
  EXPECT_EQ(a.status, 422);
  EXPECT_EQ(a.body, "{\"error\":{\"code\":422,\"message\":\"no good\"}}\n");
  Response t = send("GET", "/throw");
  EXPECT_EQ(t.status, 500);
  EXPECT_EQ(t.content_type, "application/json");
  EXPECT_EQ(t.body.find("boom"), std::string::npos) << "production shows no detail";
  const auto* e = log_.find_tag(tag::kUnhandled);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->message.find("handler 'p.throw' of plugin good threw: boom"), std::string::npos) << e->message;
  EXPECT_EQ(send("POST", "/misuse", "", "{}").status, 500);
  EXPECT_EQ(send("GET", "/split").status, 500);
  EXPECT_EQ(send("GET", "/status").status, 500);
}

TEST_F(PluginApp, RenderTemplateAndSendFile) {
  Response r = send("GET", "/render");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "<p>plugin /render</p>");
  EXPECT_EQ(send("GET", "/file", "path=/nonexistent/x").status, 404);
  Response f = send("GET", "/file", "path=" + (dir_ / "templates" / "t.html").string());
  EXPECT_EQ(f.status, 200);
  EXPECT_EQ(f.file_path, (dir_ / "templates" / "t.html").string());
  EXPECT_EQ(send("GET", "/file", "path=relative/x").status, 500);
}

// JobControl for a job run outside the worker pool.
class FixedControl final : public JobControl {
 public:
  void progress(double f, const std::string& m) override { last = std::to_string(f) + " " + m; }
  StopReason stop_reason() const override { return StopReason::kNone; }
  std::string last;
};

TEST_F(PluginApp, JobRouteStoresTheInputAndRunJobRunsThePluginsFunction) {
  Response r = send("POST", "/job", "", R"({"tag": "t1"})");
  ASSERT_EQ(r.status, 202) << r.body;
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  std::string id = d["id"].GetString();
  EXPECT_EQ(std::string(d["status_url"].GetString()), "/jobs/" + id);
  auto claimed = queue_->claim("test:0");
  ASSERT_TRUE(claimed);
  FixedControl control;
  const PluginJob& pj = plugin_->jobs()[0];
  JobFunctionRef ref{plugin_.get(), pj.slot};
  JobOutcome out = app_->run_job(*claimed, control, &ref, log_);
  EXPECT_EQ(out.kind, JobOutcome::Kind::kDone);
  EXPECT_EQ(out.result_json, "{\"attempt\":1,\"tag\":\"t1\"}");
  EXPECT_EQ(control.last, "0.500000 half");
  JobFunctionRef reject{plugin_.get(), plugin_->jobs()[1].slot};
  JobOutcome bad = app_->run_job(*claimed, control, &reject, log_);
  EXPECT_EQ(bad.kind, JobOutcome::Kind::kFailed);
  EXPECT_FALSE(bad.retryable);
  EXPECT_EQ(bad.error, "bad input");
  JobFunctionRef crash{plugin_.get(), plugin_->jobs()[2].slot};
  JobOutcome crashed = app_->run_job(*claimed, control, &crash, log_);
  EXPECT_TRUE(crashed.retryable);
  // Production: the status endpoint shows no internals; the log has them, with the job's id.
  EXPECT_EQ(crashed.error, "Internal Server Error");
  const auto* logged = log_.find_tag(tag::kPluginFailed);
  ASSERT_NE(logged, nullptr);
  EXPECT_NE(logged->message.find("job " + claimed->id + " (p.job): job 'p.job' of plugin good threw: crashed"),
            std::string::npos)
      << logged->message;
  Response status = send("GET", "/jobs/" + id);
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(send("GET", "/jobs/00000000-0000-4000-8000-000000000000").status, 404);
}

TEST(PluginAppConfig, JobRoutesNeedAStoreAKnownNameAndAStatusRoute) {
  auto build = [](AppSettings s, std::vector<std::vector<std::string>> decls) {
    std::vector<RouteDecl> routes;
    for (auto& a : decls) {
      RouteDecl d = parse_route(a);
      d.where = "x.conf:3";
      routes.push_back(d);
    }
    return error_of([&] { App app(std::move(s), routes, HandlerRegistry::builtins()); });
  };
  EXPECT_NE(build({}, {{"POST", "/j", "job", "echo"}}).find("jobs need a job store"), std::string::npos);
  auto dir = std::filesystem::temp_directory_path() / ("fpp-jobcfg-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  SqliteJobStore store((dir / "j.sqlite").string());
  JobQueue queue(store, JobQueueOptions{});
  AppSettings s;
  s.jobs = &queue;
  EXPECT_NE(build(s, {{"POST", "/j", "job", "nope"}, {"GET", "/s/<id>", "job-status"}}).find("unknown job 'nope'"),
            std::string::npos);
  EXPECT_NE(build(s, {{"POST", "/j", "job", "echo"}}).find("needs a job-status route"), std::string::npos);
  EXPECT_EQ(build(s, {{"POST", "/j", "job", "echo"}, {"GET", "/s/<id>", "job-status"}}), "");
  EXPECT_NE(error_of([] { parse_route({"GET", "/s", "job-status"}); }).find("exactly one parameter"), std::string::npos);
  EXPECT_NE(error_of([] { parse_route({"POST", "/j", "job", "echo", "timeout=0s"}); }).find("not a duration"),
            std::string::npos);
  EXPECT_EQ(parse_route({"POST", "/j", "job", "echo", "timeout=2m", "attempts=5"}).job_timeout_ms, 120000);
  std::filesystem::remove_all(dir);
}

TEST(Durations, ParseAndRefuse) {
  EXPECT_EQ(parse_duration_ms("30"), 30000);
  EXPECT_EQ(parse_duration_ms("500ms"), 500);
  EXPECT_EQ(parse_duration_ms("5m"), 300000);
  EXPECT_EQ(parse_duration_ms("2h"), 7200000);
  EXPECT_EQ(parse_duration_ms("1d"), 86400000);
  for (const char* bad : {"", "0", "-1", "1y", "s", "1.5s", "99999999999999d"}) {
    EXPECT_THROW(parse_duration_ms(bad), ConfigError) << bad;
  }
}

}  // namespace
}  // namespace flaskpp::core
