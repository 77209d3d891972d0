// Micro-benchmarks of the core: route matching with 10/100/1000 routes and on hostile ~4 KB
// segments, template rendering
// (mstch re-parsing vs our cached store), JSON parse/serialise of the echo document, and
// multipart parsing throughput of a 10 MiB body in 64 KiB chunks.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/app.hpp"
#include "core/json.hpp"
#include "core/multipart.hpp"
#include "core/router.hpp"
#include "core/templates.hpp"

namespace core = flaskpp::core;
namespace fs = std::filesystem;

namespace {

core::Router make_router(int n) {
  core::Router r;
  for (int i = 0; i < n - 1; ++i) {
    r.add("GET", "/api/v1/resource" + std::to_string(i) + "/<int:id>");
  }
  r.add("GET", "/api/v1/users/<int:id>/posts/<slug>");
  return r;
}

void BM_RouteMatch(benchmark::State& state) {
  core::Router r = make_router(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto m = r.match("/api/v1/users/42/posts/hello-world", "GET");
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_RouteMatch)->Arg(10)->Arg(100)->Arg(1000);

void BM_RouteMatchMiss(benchmark::State& state) {
  core::Router r = make_router(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto m = r.match("/static/css/app.css", "GET");
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_RouteMatchMiss)->Arg(10)->Arg(100)->Arg(1000);

// The router's worst case: several converters in one segment and a ~4 KB segment that almost
// matches. A backtracking matcher needs 40 s (0) and minutes (1) here; this one is linear.
void BM_RouteMatchHostile(benchmark::State& state) {
  const bool dots = state.range(0) == 1;
  core::Router r;
  r.add("GET", dots ? "/r/<a>.<b>.<c>.<d>.<int:e>" : "/r/<a>-<b>-<c>-<int:d>");
  std::string path = "/r/";
  while (path.size() < 4096) path += dots ? "a." : "a-";
  path += "x";
  for (auto _ : state) {
    auto m = r.match(path, "GET");
    benchmark::DoNotOptimize(m);
  }
  state.SetLabel(dots ? "five converters, dots" : "four converters, dashes");
}
BENCHMARK(BM_RouteMatchHostile)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

const char* kPage =
    "<!doctype html>\n<title>{{title}}</title>\n<h1>Hello, {{name}}!</h1>\n<p>{{greeting}}</p>\n<ul>\n"
    "{{#items}}  <li>{{.}}</li>\n{{/items}}</ul>\n";

mstch::node page_context() {
  mstch::array items;
  for (int i = 0; i < 10; ++i) items.push_back(std::string("item ") + std::to_string(i));
  return mstch::map{{"title", std::string("Bench")}, {"name", std::string("World")},
                    {"greeting", std::string("Welcome <back>")}, {"items", items}};
}

void BM_TemplateMstchRender(benchmark::State& state) {
  mstch::node ctx = page_context();
  for (auto _ : state) benchmark::DoNotOptimize(mstch::render(kPage, ctx));
}
BENCHMARK(BM_TemplateMstchRender);

void BM_TemplateStoreRender(benchmark::State& state) {
  fs::path dir = fs::temp_directory_path() / "flaskpp_micro_tpl";
  fs::create_directories(dir);
  std::ofstream(dir / "page.html") << kPage;
  core::TemplateStore store(std::make_shared<core::DirectorySource>(dir.string()), false);
  store.preload();
  mstch::node ctx = page_context();
  for (auto _ : state) benchmark::DoNotOptimize(store.render("page.html", ctx));
  fs::remove_all(dir);
}
BENCHMARK(BM_TemplateStoreRender);

const std::string kEchoBody = R"({"username":"xyz","password":"xyz","values":[1,2,3,4.5,true,null],"nested":{"a":{"b":"c"}}})";

void BM_JsonParse(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(core::parse_json_body(kEchoBody));
}
BENCHMARK(BM_JsonParse);

void BM_EchoHandler(benchmark::State& state) {
  core::AppSettings settings;
  core::App app(std::move(settings), {core::parse_route({"POST", "/api/echo", "handler", "echo"})},
                core::HandlerRegistry::builtins());
  core::Request req;
  req.method = "POST";
  req.path = "/api/echo";
  req.query = "q=a&q=b";
  req.host_url = "http://127.0.0.1:8080";
  req.headers = {{"host", "127.0.0.1:8080"}, {"content-type", "application/json"}, {"user-agent", "bench"}};
  req.body = kEchoBody;
  core::NullLogger log;
  auto m = app.match(req.path, req.method);
  for (auto _ : state) benchmark::DoNotOptimize(app.dispatch(req, m, log));
}
BENCHMARK(BM_EchoHandler);

struct CountingSink : core::MultipartSink {
  std::size_t bytes = 0;
  void on_part_begin(const core::PartInfo&) override {}
  void on_part_data(std::string_view d) override { bytes += d.size(); }
  void on_part_end() override {}
};

void BM_MultipartThroughput(benchmark::State& state) {
  std::string data(10u << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::string body = "--b0undary\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\r\n" + data +
                     "\r\n--b0undary--\r\n";
  for (auto _ : state) {
    CountingSink sink;
    core::MultipartParser p("b0undary", sink);
    for (std::size_t i = 0; i < body.size(); i += 65536) p.feed(std::string_view(body).substr(i, 65536));
    p.finish();
    benchmark::DoNotOptimize(sink.bytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_MultipartThroughput)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
