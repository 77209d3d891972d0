// templates.hpp: TemplateStore over a directory, partials, escaping, production cache vs dev reload.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "core/templates.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;

namespace flaskpp::core {
namespace {

std::shared_ptr<const TemplateSource> dir_source(const test::TempDir& dir) {
  return std::make_shared<DirectorySource>(dir.str());
}

// Moves a file's modification time so a rewrite is seen even on coarse-grained file systems.
void touch_later(const fs::path& p) {
  fs::last_write_time(p, fs::last_write_time(p) + std::chrono::seconds(5));
}

std::string not_found_message(const TemplateStore& store, const std::string& name) {
  try {
    store.render(name, mstch::map{});
  } catch (const TemplateNotFound& e) {
    const HttpError& as_http = e;
    EXPECT_EQ(as_http.status(), 500);
    return e.what();
  }
  ADD_FAILURE() << "no TemplateNotFound for " << name;
  return {};
}

TEST(TemplateStore, RendersVariables) {
  test::TempDir dir;
  dir.write("hello.html", "Hello {{name}}, you are {{age}}.{{#admin}} (admin){{/admin}}");
  TemplateStore store(dir_source(dir), false);
  store.preload();
  mstch::map ctx{{"name", std::string("Ada")}, {"age", 36}, {"admin", true}};
  EXPECT_EQ(store.render("hello.html", ctx), "Hello Ada, you are 36. (admin)");
  EXPECT_TRUE(store.exists("hello.html"));
  EXPECT_FALSE(store.exists("nope.html"));
}

TEST(TemplateStore, EscapesLikeJinja) {
  test::TempDir dir;
  dir.write("e.html", "{{x}}|{{{x}}}|{{&x}}");
  TemplateStore store(dir_source(dir), false);
  store.preload();
  mstch::map ctx{{"x", std::string("& < > \" ' /")}};
  EXPECT_EQ(store.render("e.html", ctx), "&amp; &lt; &gt; &#34; &#39; /|& < > \" ' /|& < > \" ' /");
}

TEST(TemplateStore, PartialResolutionOrder) {
  test::TempDir dir;
  dir.write("page.html", "[{{> a}}][{{> b}}][{{> c}}]");
  dir.write("a", "bare");
  dir.write("a.mustache", "a-mustache");  // 'a' itself wins
  dir.write("b.mustache", "b-mustache");
  dir.write("b.html", "b-html");          // .mustache wins over .html
  dir.write("c.html", "c-html");
  TemplateStore store(dir_source(dir), false);
  store.preload();
  EXPECT_EQ(store.render("page.html", mstch::map{}), "[bare][b-mustache][c-html]");
}

TEST(TemplateStore, NestedAndRecursivePartials) {
  test::TempDir dir;
  dir.write("index.html", "<{{> layout}}>");
  dir.write("layout.mustache", "L({{> header}}|{{title}})");
  dir.write("header.html", "H:{{title}}");
  dir.write("tree.html", "{{> node}}");
  dir.write("node.mustache", "{{name}}{{#kids}}({{> node}}){{/kids}}");
  TemplateStore store(dir_source(dir), false);
  store.preload();
  EXPECT_EQ(store.render("index.html", mstch::map{{"title", std::string("T&")}}), "<L(H:T&amp;|T&amp;)>");
  // Mustache looks names up the context stack: a leaf needs its own empty "kids" to stop.
  mstch::map leaf{{"name", std::string("c")}, {"kids", mstch::array{}}};
  mstch::map mid{{"name", std::string("b")}, {"kids", mstch::array{leaf}}};
  mstch::map root{{"name", std::string("a")}, {"kids", mstch::array{mid}}};
  EXPECT_EQ(store.render("tree.html", root), "a(b(c))");
}

TEST(TemplateStore, TemplatesInSubdirectories) {
  test::TempDir dir;
  dir.write("admin/users.html", "users:{{> admin/row}}");
  dir.write("admin/row.html", "row");
  dir.write(".hidden/secret.html", "hidden");
  TemplateStore store(dir_source(dir), false);
  store.preload();
  EXPECT_EQ(store.render("admin/users.html", mstch::map{}), "users:row");
  EXPECT_FALSE(store.exists(".hidden/secret.html"));
  std::vector<std::string> listed = DirectorySource(dir.str()).list();
  EXPECT_EQ(listed, (std::vector<std::string>{"admin/row.html", "admin/users.html"}));
}

TEST(TemplateStore, MissingTemplateAndPartial) {
  test::TempDir dir;
  dir.write("uses_missing.html", "x{{> ghost}}y");
  for (bool reload : {false, true}) {
    TemplateStore store(dir_source(dir), reload);
    if (!reload) store.preload();
    std::string m = not_found_message(store, "absent.html");
    EXPECT_NE(m.find("absent.html"), std::string::npos) << m;
    std::string p = not_found_message(store, "uses_missing.html");
    EXPECT_NE(p.find("partial 'ghost'"), std::string::npos) << p;
    EXPECT_NE(p.find("ghost.mustache"), std::string::npos) << p;
    EXPECT_NE(p.find("ghost.html"), std::string::npos) << p;
  }
}

TEST(TemplateStore, UnsafeNamesAreRefused) {
  test::TempDir dir;
  dir.write("sub/ok.html", "ok");
  dir.write("outside.html", "outside");
  TemplateStore store(std::make_shared<DirectorySource>((dir.path() / "sub").string()), true);
  EXPECT_EQ(store.render("ok.html", mstch::map{}), "ok");
  not_found_message(store, "../outside.html");
  not_found_message(store, (dir.path() / "outside.html").string());
  EXPECT_FALSE(is_safe_template_name(""));
  EXPECT_FALSE(is_safe_template_name("/etc/passwd"));
  EXPECT_FALSE(is_safe_template_name("a/../../b"));
  EXPECT_FALSE(is_safe_template_name(std::string("a\0b", 3)));
  EXPECT_TRUE(is_safe_template_name("a/b.html"));
  EXPECT_TRUE(is_safe_template_name("a..b.html"));
}

TEST(TemplateStore, ProductionIgnoresChangesAfterPreload) {
  test::TempDir dir;
  std::string page = dir.write("page.html", "v1 {{> part}}");
  std::string part = dir.write("part.html", "p1");
  TemplateStore store(dir_source(dir), false);
  store.preload();
  EXPECT_EQ(store.render("page.html", mstch::map{}), "v1 p1");
  dir.write("page.html", "version two {{> part}}");
  dir.write("part.html", "part two");
  touch_later(page);
  touch_later(part);
  EXPECT_EQ(store.render("page.html", mstch::map{}), "v1 p1") << "production renders from the preloaded cache";
  dir.write("new.html", "new");
  std::string m = not_found_message(store, "new.html");
  EXPECT_NE(m.find("after startup"), std::string::npos) << m;
  fs::remove(page);
  EXPECT_EQ(store.render("page.html", mstch::map{}), "v1 p1") << "no disk access after preload";
}

TEST(TemplateStore, DevelopmentReloadsChangedFiles) {
  test::TempDir dir;
  std::string page = dir.write("page.html", "v1 {{> part}}");
  std::string part = dir.write("part.html", "p1");
  TemplateStore store(dir_source(dir), true);
  EXPECT_EQ(store.render("page.html", mstch::map{}), "v1 p1");
  dir.write("page.html", "version two {{> part}}");
  touch_later(page);
  EXPECT_EQ(store.render("page.html", mstch::map{}), "version two p1");
  dir.write("part.html", "part two");
  touch_later(part);
  EXPECT_EQ(store.render("page.html", mstch::map{}), "version two part two") << "a changed partial is re-read";
  dir.write("new.html", "added later");
  EXPECT_TRUE(store.exists("new.html"));
  EXPECT_EQ(store.render("new.html", mstch::map{}), "added later");
  fs::remove(part);
  not_found_message(store, "page.html");
}

TEST(PartialNames, FindsPartialTagsInOrder) {
  EXPECT_EQ(partial_names("{{> a}} {{>b}} {{ > c }} {{x}} {{#s}}{{/s}} {{>   d/e.html  }}"),
            (std::vector<std::string>{"a", "b", "c", "d/e.html"}));
  EXPECT_TRUE(partial_names("no tags {{name}} {{{raw}}} {{! comment}}").empty());
  EXPECT_TRUE(partial_names("{{>  }}").empty());
  EXPECT_TRUE(partial_names("{{> unterminated").empty());
  EXPECT_EQ(partial_names("{{> a}}{{> a}}"), (std::vector<std::string>{"a", "a"}));
}

// ---------------------------------------------------------------------------------------------
// Golden files: tests/data/templates/NAME.mustache rendered with NAME.json must equal NAME.txt.
// Files whose name starts with '_' are partials only. One test (and CTest entry) per case.

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> golden_cases() {
  std::vector<std::string> out;
  fs::path dir = fs::path(FLASKPP_TEST_DATA) / "templates";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    fs::path p = entry.path();
    if (p.extension() != ".mustache" || p.filename().string()[0] == '_') continue;
    out.push_back(p.stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class GoldenTemplate : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTemplate, MatchesExpectedOutput) {
  fs::path dir = fs::path(FLASKPP_TEST_DATA) / "templates";
  const std::string& name = GetParam();
  ASSERT_TRUE(fs::exists(dir / (name + ".json"))) << "missing context " << name << ".json";
  ASSERT_TRUE(fs::exists(dir / (name + ".txt"))) << "missing expected output " << name << ".txt";
  auto context = parse_json_body(read_text(dir / (name + ".json")));
  TemplateStore store(std::make_shared<DirectorySource>(dir.string()), false);
  store.preload();
  EXPECT_EQ(store.render(name + ".mustache", to_mstch(context)), read_text(dir / (name + ".txt")));
}

INSTANTIATE_TEST_SUITE_P(Data, GoldenTemplate, ::testing::ValuesIn(golden_cases()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(GoldenTemplateData, CasesArePresent) { EXPECT_GE(golden_cases().size(), 6u); }

TEST(DirectorySource, StampFollowsMtimeAndSizeWithoutOverflow) {
  // libstdc++'s file clock counts nanoseconds from 2174, so today's count is about -4.9e18: the old
  // "count * 31 + size" overflowed std::int64_t (undefined behaviour) for every ordinary file.
  test::TempDir dir;
  fs::path p = dir.write("t.html", "abc");
  DirectorySource src(dir.str());
  auto first = src.stamp("t.html");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(src.stamp("t.html"), first) << "stable while nothing changes";
  auto mtime = fs::last_write_time(p);
  dir.write("t.html", "abcd");
  fs::last_write_time(p, mtime);
  auto bigger = src.stamp("t.html");
  ASSERT_TRUE(bigger.has_value());
  EXPECT_NE(*bigger, *first) << "size alone changed";
  fs::last_write_time(p, mtime + std::chrono::nanoseconds(1));
  auto later = src.stamp("t.html");
  ASSERT_TRUE(later.has_value());
  EXPECT_NE(*later, *bigger) << "mtime alone changed by 1ns";
  // Far past and far future times still give a stamp.
  for (auto t : {fs::file_time_type(fs::file_time_type::duration(0)),
                 fs::file_time_type::clock::now() + std::chrono::hours(24 * 365 * 100),
                 fs::file_time_type::clock::now() - std::chrono::hours(24 * 365 * 100)}) {
    std::error_code ec;
    fs::last_write_time(p, t, ec);
    if (ec) continue;  // the file system may refuse the time
    EXPECT_TRUE(src.stamp("t.html").has_value());
  }
  EXPECT_FALSE(src.stamp("missing.html").has_value());
  EXPECT_FALSE(src.stamp("../t.html").has_value());
}

}  // namespace
}  // namespace flaskpp::core
