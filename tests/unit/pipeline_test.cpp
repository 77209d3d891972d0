// The App's request pipeline: stages run around the body read and the action, in order, and a
// stage refuses a request with a typed error. Driven through App::handle with a fake body.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/app.hpp"
#include "core/errors.hpp"
#include "test_support.hpp"

namespace core = flaskpp::core;
using flaskpp::test::CapturingLogger;

namespace {

// A body that records when it was read.
class RecordingSource final : public core::BodySource {
 public:
  RecordingSource(std::string body, std::vector<std::string>& events) : body_(std::move(body)), events_(events) {}
  bool next(std::string_view& chunk) override {
    if (done_) return false;
    events_.push_back("body read");
    done_ = true;
    chunk = body_;
    return true;
  }

 private:
  std::string body_;
  std::vector<std::string>& events_;
  bool done_ = false;
};

class Recorder final : public core::Stage {
 public:
  Recorder(std::string name, std::vector<std::string>& events, int refuse_with = 0)
      : name_(std::move(name)), events_(events), refuse_with_(refuse_with) {}
  const char* name() const override { return name_.c_str(); }
  void before_body(core::Exchange& ex) const override {
    events_.push_back(name_ + " before_body " + ex.route.pattern);
    if (refuse_with_ == 429) throw core::HttpError(429, "slow down");
  }
  void after_body(core::Exchange& ex) const override {
    events_.push_back(name_ + " after_body body=" + ex.request.body);
  }
  void after_action(core::Exchange&, core::Response& resp) const override {
    events_.push_back(name_ + " after_action " + std::to_string(resp.status));
    resp.headers.emplace_back("X-Stage", name_);
  }

 private:
  std::string name_;
  std::vector<std::string>& events_;
  int refuse_with_;
};

core::Request post(const std::string& path, const std::string& body) {
  core::Request r;
  r.method = "POST";
  r.path = path;
  r.headers = {{"content-type", "application/json"}, {"content-length", std::to_string(body.size())}};
  return r;
}

std::unique_ptr<core::App> make_app(std::vector<std::string>& events, int refuse_with = 0) {
  std::vector<std::unique_ptr<const core::Stage>> stages;
  stages.push_back(std::make_unique<Recorder>("limit", events, refuse_with));
  stages.push_back(std::make_unique<Recorder>("session", events));
  std::vector<core::RouteDecl> routes = {core::parse_route({"POST", "/api/echo", "handler", "echo"})};
  return std::make_unique<core::App>(core::AppSettings{}, routes, core::HandlerRegistry::builtins(),
                                     std::move(stages));
}

TEST(Pipeline, StagesRunAroundTheBodyAndTheActionInOrder) {
  std::vector<std::string> events;
  auto app = make_app(events);
  EXPECT_EQ(app->stage_names(), (std::vector<std::string>{"upload-requirements", "limit", "session"}));
  core::Request req = post("/api/echo", "{\"a\":1}");
  RecordingSource body("{\"a\":1}", events);
  CapturingLogger log;
  core::Response resp = app->handle(req, app->match(req.path, req.method), &body, log);
  EXPECT_EQ(resp.status, 200) << resp.body;
  EXPECT_EQ(events, (std::vector<std::string>{"limit before_body /api/echo", "session before_body /api/echo",
                                              "body read", "limit after_body body={\"a\":1}",
                                              "session after_body body={\"a\":1}", "session after_action 200",
                                              "limit after_action 200"}));
  EXPECT_EQ(resp.headers.size(), 2u) << "every stage saw the answer";
}

TEST(Pipeline, AStageRefusesBeforeTheBodyIsReadAndAfterActionStillRuns) {
  std::vector<std::string> events;
  auto app = make_app(events, 429);
  core::Request req = post("/api/echo", "{}");
  RecordingSource body("{}", events);
  CapturingLogger log;
  core::Response resp = app->handle(req, app->match(req.path, req.method), &body, log);
  EXPECT_EQ(resp.status, 429);
  EXPECT_NE(resp.body.find("slow down"), std::string::npos) << "a JSON route answers JSON: " << resp.body;
  EXPECT_EQ(events, (std::vector<std::string>{"limit before_body /api/echo", "session after_action 429",
                                              "limit after_action 429"}))
      << "the body is never read, the action never runs";
}

}  // namespace
