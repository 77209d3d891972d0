// core/status_page: the route table line (DUMP_ROUTES) and the FlaskppStatus page as HTML and JSON.
#include "core/status_page.hpp"

#include <gtest/gtest.h>

#include "core/rapidjson.hpp"

namespace {

using namespace flaskpp::core;

RouteDecl route(const std::string& methods, const std::string& pattern, ActionKind action, const std::string& target) {
  RouteDecl d;
  d.methods = methods;
  d.pattern = pattern;
  d.action = action;
  d.target = target;
  return d;
}

StatusReport sample_report() {
  StatusReport report;
  report.server = "example.org:8080";
  report.counting = true;
  report.since_unix = 1700000000;
  report.now_unix = 1700000060;
  StatusRoute a;
  a.route = route("GET", "/hello/<name>", ActionKind::kTemplate, "hello.html");
  a.stats.hits = 12;
  a.stats.status_4xx = 3;
  a.stats.status_5xx = 1;
  a.stats.p50_us = 125;
  a.stats.p99_us = 2500000;
  StatusRoute b;
  b.route = route("POST", "/api/predict", ActionKind::kJob, "predict");
  b.route.job_timeout_ms = 30000;
  b.route.job_attempts = 2;
  report.routes = {a, b};
  report.other.hits = 2;
  report.other.status_4xx = 1;
  report.other.p50_us = 10;
  report.other.p99_us = 10;
  return report;
}

TEST(StatusPage, ActionNamesAndOptionsAreSpelledAsInFlaskppRoute) {
  EXPECT_STREQ(action_name(ActionKind::kTemplate), "template");
  EXPECT_STREQ(action_name(ActionKind::kJobStatus), "job-status");
  EXPECT_STREQ(action_name(ActionKind::kJobCancel), "job-cancel");
  RouteDecl up = route("POST", "/upload", ActionKind::kUpload, "image");
  EXPECT_EQ(route_options(up), "then=json");
  up.then_template = "index.html";
  up.replace = true;
  EXPECT_EQ(route_options(up), "then=template:index.html replace=on");
  RouteDecl job = route("POST", "/j", ActionKind::kJob, "predict");
  EXPECT_EQ(route_options(job), "");
  job.job_timeout_ms = 500;
  EXPECT_EQ(route_options(job), "timeout=500ms");
  job.job_timeout_ms = 300000;
  job.job_attempts = 4;
  EXPECT_EQ(route_options(job), "timeout=5m attempts=4");
  RouteDecl redirect = route("GET", "/flask", ActionKind::kRedirect, "https://flask.palletsprojects.com/");
  redirect.redirect_code = 301;
  EXPECT_EQ(route_options(redirect), "301");
  EXPECT_EQ(route_options(route("GET", "/h", ActionKind::kHandler, "health")), "");
}

TEST(StatusPage, RouteLineHasMethodsPatternActionTargetOptions) {
  RouteDecl job = route("POST", "/api/predict", ActionKind::kJob, "predict");
  job.job_timeout_ms = 30000;
  std::string line = route_line(job);
  EXPECT_EQ(line.rfind("POST ", 0), 0u) << line;
  EXPECT_NE(line.find(" /api/predict "), std::string::npos) << line;
  EXPECT_EQ(line.substr(line.find("job ")), "job predict timeout=30s");
  // job-status has no target: no double space at the end.
  std::string status = route_line(route("GET", "/jobs/<uuid:id>", ActionKind::kJobStatus, ""));
  EXPECT_EQ(status.substr(status.size() - 10), "job-status");
}

TEST(StatusPage, HtmlListsEveryRouteWithItsCounters) {
  std::string html = render_status_html(sample_report());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("example.org:8080"), std::string::npos);
  EXPECT_NE(html.find("<code>/hello/&lt;name&gt;</code>"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>template</td><td>hello.html</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"n\">12</td><td class=\"n\">3</td><td class=\"n\">1</td>"), std::string::npos);
  EXPECT_NE(html.find("125 \xC2\xB5s"), std::string::npos);
  EXPECT_NE(html.find("2.5 s"), std::string::npos);
  EXPECT_NE(html.find("timeout=30s attempts=2"), std::string::npos);
  EXPECT_NE(html.find("2023-11-14 22:13:20 UTC"), std::string::npos);  // since
  EXPECT_NE(html.find("other answers"), std::string::npos);
  // The job route has no answers yet: dashes, not zeros, for its percentiles.
  EXPECT_NE(html.find("<td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">-</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"n\">2</td><td class=\"n\">1</td><td class=\"n\">0</td><td class=\"n\">10 \xC2\xB5s"),
            std::string::npos);
}

TEST(StatusPage, HtmlEscapesEveryConfiguredText) {
  StatusReport report;
  report.server = "<b>evil</b>:80";
  StatusRoute r;
  r.route = route("GET", "/x/<a>&\"'", ActionKind::kTemplate, "<script>alert(1)</script>.html");
  report.routes.push_back(r);
  StatusRoute up;
  up.route = route("POST", "/u", ActionKind::kUpload, "f\"ield");
  up.route.then_template = "<i>.html";
  report.routes.push_back(up);
  std::string html = render_status_html(report);
  EXPECT_EQ(html.find("<script>"), std::string::npos) << html;
  EXPECT_EQ(html.find("<b>evil"), std::string::npos);
  EXPECT_EQ(html.find("<i>.html"), std::string::npos);
  EXPECT_EQ(html.find("f\"ield"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;.html"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;evil&lt;/b&gt;:80"), std::string::npos);
  EXPECT_NE(html.find("/x/&lt;a&gt;&amp;&#34;&#39;"), std::string::npos) << html;
  EXPECT_NE(html.find("No answers are counted"), std::string::npos);
}

TEST(StatusPage, PercentilesAboveTheLastBucketAreShownAsSuch) {
  StatusReport report = sample_report();
  report.routes[0].stats.p99_us.reset();
  report.routes[0].stats.p99_over_max = true;
  std::string html = render_status_html(report);
  EXPECT_NE(html.find("&gt; 60 s"), std::string::npos);
}

TEST(StatusPage, JsonShape) {
  std::string body = render_status_json(sample_report());
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  ASSERT_FALSE(d.HasParseError()) << body;
  ASSERT_TRUE(d.IsObject());
  EXPECT_STREQ(d["server"].GetString(), "example.org:8080");
  EXPECT_TRUE(d["counting"].GetBool());
  EXPECT_EQ(d["since"].GetInt64(), 1700000000);
  EXPECT_EQ(d["now"].GetInt64(), 1700000060);
  ASSERT_TRUE(d["routes"].IsArray());
  ASSERT_EQ(d["routes"].Size(), 2u);
  const auto& a = d["routes"][0];
  EXPECT_EQ(a["index"].GetUint64(), 0u);
  EXPECT_STREQ(a["methods"].GetString(), "GET");
  EXPECT_STREQ(a["pattern"].GetString(), "/hello/<name>");
  EXPECT_STREQ(a["action"].GetString(), "template");
  EXPECT_STREQ(a["target"].GetString(), "hello.html");
  EXPECT_STREQ(a["options"].GetString(), "");
  EXPECT_EQ(a["hits"].GetUint64(), 12u);
  EXPECT_EQ(a["4xx"].GetUint64(), 3u);
  EXPECT_EQ(a["5xx"].GetUint64(), 1u);
  EXPECT_EQ(a["p50_us"].GetUint64(), 125u);
  EXPECT_EQ(a["p99_us"].GetUint64(), 2500000u);
  const auto& b = d["routes"][1];
  EXPECT_EQ(b["index"].GetUint64(), 1u);
  EXPECT_STREQ(b["action"].GetString(), "job");
  EXPECT_STREQ(b["options"].GetString(), "timeout=30s attempts=2");
  EXPECT_EQ(b["hits"].GetUint64(), 0u);
  EXPECT_TRUE(b["p50_us"].IsNull());
  EXPECT_TRUE(b["p99_us"].IsNull());
  ASSERT_TRUE(d["other"].IsObject());
  EXPECT_EQ(d["other"]["hits"].GetUint64(), 2u);
  EXPECT_EQ(d["other"]["4xx"].GetUint64(), 1u);
  EXPECT_EQ(d["other"]["p50_us"].GetUint64(), 10u);
  EXPECT_FALSE(d["other"].HasMember("pattern"));
}

TEST(StatusPage, JsonStaysValidForAnyText) {
  StatusReport report;
  report.server = "bad\xff\xfe" "host\"\\";
  StatusRoute r;
  r.route = route("GET", "/\x01x", ActionKind::kHandler, "h\n");
  report.routes.push_back(r);
  std::string body = render_status_json(report);
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(body.c_str(), body.size());
  ASSERT_FALSE(d.HasParseError()) << body;
  EXPECT_FALSE(d["counting"].GetBool());
  EXPECT_STREQ(d["routes"][0]["target"].GetString(), "h\n");
}

}  // namespace
