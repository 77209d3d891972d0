// Safe storage of uploads and body reading, without a server: secure names, content checks,
// temporary files that vanish on failure, replace-previous, and the size limits.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/app.hpp"
#include "core/body.hpp"
#include "core/uploads.hpp"
#include "test_support.hpp"

namespace core = flaskpp::core;
namespace fs = std::filesystem;
using flaskpp::test::CapturingLogger;
using flaskpp::test::TempDir;

namespace {

std::set<std::string> listing(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

const std::string kPng = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(600, 'p');

// A body handed out in fixed-size chunks, optionally failing midway like a vanished client.
class FakeSource : public core::BodySource {
 public:
  FakeSource(std::string body, std::size_t chunk, std::size_t fail_after = std::string::npos)
      : body_(std::move(body)), chunk_(chunk), fail_after_(fail_after) {}
  bool next(std::string_view& out) override {
    if (pos_ >= fail_after_) throw core::ClientGone("client went away");
    if (pos_ >= body_.size()) return false;
    out = std::string_view(body_).substr(pos_, chunk_);
    pos_ += out.size();
    return true;
  }
  std::size_t consumed() const { return pos_; }

 private:
  std::string body_;
  std::size_t chunk_;
  std::size_t fail_after_;
  std::size_t pos_ = 0;
};

// Parts as (name, filename, data); a filename of "-" means a plain field (no filename at all).
std::string multipart(const std::vector<std::tuple<std::string, std::string, std::string>>& parts) {
  std::string b;
  for (const auto& [name, filename, data] : parts) {
    b += "--XyZ\r\nContent-Disposition: form-data; name=\"" + name + "\"";
    if (filename != "-") b += "; filename=\"" + filename + "\"";
    b += "\r\n\r\n" + data + "\r\n";
  }
  return b + "--XyZ--\r\n";
}

core::Request multipart_request(const std::string& body) {
  core::Request r;
  r.method = "POST";
  r.path = "/upload";
  r.headers = {{"content-type", "multipart/form-data; boundary=XyZ"},
               {"content-length", std::to_string(body.size())}};
  return r;
}

TEST(SecureFilename, FollowsWerkzeug) {
  EXPECT_EQ(core::secure_filename("My cool movie.mov"), "My_cool_movie.mov");
  EXPECT_EQ(core::secure_filename("../../../etc/passwd"), "etc_passwd");
  EXPECT_EQ(core::secure_filename("..\\..\\windows\\x.png"), "windows_x.png");
  EXPECT_EQ(core::secure_filename("i contain cool \xC3\xBCml\xC3\xA4uts.txt"), "i_contain_cool_mluts.txt");
  EXPECT_EQ(core::secure_filename("...."), "");
  EXPECT_EQ(core::secure_filename("CON.txt"), "_CON.txt");
  EXPECT_EQ(core::secure_filename(std::string("a\0b.png", 7)), "ab.png");
  EXPECT_EQ(core::file_extension("photo.PNG"), ".png");
  EXPECT_EQ(core::file_extension("archive.tar.gz"), ".gz");
  EXPECT_EQ(core::file_extension("noext"), "");
  EXPECT_EQ(core::file_extension(".hidden"), "");
}

TEST(ContentCheck, MagicBytesMustFitTheExtension) {
  EXPECT_TRUE(core::content_matches_extension(".png", kPng));
  EXPECT_FALSE(core::content_matches_extension(".png", "<?php echo 1; ?>"));
  EXPECT_TRUE(core::content_matches_extension(".jpg", "\xFF\xD8\xFF\xE0rest"));
  EXPECT_FALSE(core::content_matches_extension(".jpeg", kPng));
  EXPECT_TRUE(core::content_matches_extension(".gif", "GIF89a..."));
  EXPECT_TRUE(core::content_matches_extension(".webp", std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)));
  EXPECT_FALSE(core::content_matches_extension(".webp", std::string("RIFF\x10\0\0\0WAVEfmt ", 16)));
  EXPECT_TRUE(core::content_matches_extension(".pdf", "%PDF-1.7"));
  EXPECT_TRUE(core::content_matches_extension(".txt", "plain \xC3\xA9 text"));
  EXPECT_FALSE(core::content_matches_extension(".txt", std::string("bin\0ary", 7)));
  EXPECT_FALSE(core::content_matches_extension(".csv", "\xFF\xFE"));
  EXPECT_TRUE(core::content_matches_extension(".npy", "anything"));  // no signature known
  EXPECT_FALSE(core::extension_has_signature(".npy"));
}

class UploadStore : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.path() / "served");
    fs::create_directories(dir_.path() / "work");
    policy_.dir = (dir_.path() / "served").string();
    policy_.work_dir = (dir_.path() / "work").string();
    policy_.url_prefix = "/static/img";
    policy_.allow = {".png", ".txt"};
    policy_.route_key = "POST /upload";
  }
  std::set<std::string> served() const { return listing(policy_.dir); }
  std::set<std::string> work() const { return listing(policy_.work_dir); }
  // plan() then commit(), as the upload action does.
  std::vector<core::FileInfo> save(core::UploadSession& s) {
    auto files = s.plan();
    EXPECT_TRUE(s.commit());
    return files;
  }
  TempDir dir_;
  core::UploadPolicy policy_;
};

TEST_F(UploadStore, CommitLinksTemporaryFilesFromTheWorkDirToUniqueNames) {
  core::UploadSession s(policy_);
  s.begin_file("file", "../../a b.png", "image/png");
  s.write(kPng.substr(0, 3));
  s.write(kPng.substr(3));
  s.end_file();
  s.begin_file("file", "a b.png", "image/png");
  s.write(kPng);
  s.end_file();
  EXPECT_TRUE(served().empty()) << "nothing in the served directory before commit";
  // Unnamed (O_TMPFILE) in the work directory until commit: a killed child leaves nothing.
  EXPECT_TRUE(work().empty()) << "the temporary files have no name";
  auto files = s.plan();
  EXPECT_TRUE(served().empty()) << "planning places nothing";
  ASSERT_TRUE(s.commit());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(files[0].saved_as, files[1].saved_as);
  for (const auto& f : files) {
    EXPECT_EQ(f.saved_as.rfind("a_b_", 0), 0u) << f.saved_as;
    EXPECT_EQ(f.url, "/static/img/" + f.saved_as);
    EXPECT_EQ(f.size, kPng.size());
    EXPECT_EQ(fs::file_size(fs::path(policy_.dir) / f.saved_as), kPng.size());
  }
  EXPECT_EQ(served().size(), 2u);
  EXPECT_TRUE(work().empty()) << "no temporary file left";
}

TEST_F(UploadStore, RefusalsAndAbortsLeaveNothing) {
  {
    core::UploadSession s(policy_);
    EXPECT_THROW(s.begin_file("file", "x.php", ""), core::UnsupportedMediaType);
  }
  {
    core::UploadSession s(policy_);
    s.begin_file("file", "x.png", "");
    EXPECT_THROW(s.write(std::string(600, '<')), core::UnsupportedMediaType);
  }
  {
    core::UploadSession s(policy_);  // a small file is checked when it ends
    s.begin_file("file", "tiny.png", "");
    s.write("GIF8");
    EXPECT_THROW(s.end_file(), core::UnsupportedMediaType);
  }
  {
    core::UploadSession s(policy_);  // destroyed without commit: a cut request
    s.begin_file("file", "ok.png", "");
    s.write(kPng);
  }
  {
    core::UploadSession s(policy_);  // planned but never committed: a failed render
    s.begin_file("file", "ok.png", "");
    s.write(kPng);
    s.end_file();
    s.plan();
  }
  EXPECT_TRUE(served().empty());
  EXPECT_TRUE(work().empty());
}

TEST_F(UploadStore, ReplaceDeletesThePreviousUpload) {
  policy_.replace = true;
  std::string first;
  {
    core::UploadSession s(policy_);
    s.begin_file("file", "one.txt", "");
    s.write("first");
    s.end_file();
    first = save(s).at(0).saved_as;
  }
  ASSERT_TRUE(fs::exists(fs::path(policy_.dir) / first));
  core::UploadSession s(policy_);
  s.begin_file("file", "two.txt", "");
  s.write("second");
  s.end_file();
  std::string second = save(s).at(0).saved_as;
  EXPECT_FALSE(fs::exists(fs::path(policy_.dir) / first));
  EXPECT_TRUE(fs::exists(fs::path(policy_.dir) / second));
  EXPECT_EQ(served(), (std::set<std::string>{second})) << "the record and its lock live in the work directory";
}

// Defect: commit() closed files_.back() instead of the file it was finishing, so an earlier file
// still open at commit was never content-checked.
TEST_F(UploadStore, CommitFinishesEveryOpenFileItself) {
  core::UploadSession s(policy_);
  s.begin_file("file", "a.png", "");
  s.write("GIF8");  // not a PNG, and never ended
  s.begin_file("file", "b.png", "");
  s.write(kPng);
  s.end_file();
  EXPECT_THROW(s.plan(), core::UnsupportedMediaType);
}

// Defect: a link() failing part-way left the files placed before it.
TEST_F(UploadStore, AFailedCommitPlacesNothing) {
  {
    core::UploadSession s(policy_);
    s.begin_file("file", "a.png", "");
    s.write(kPng);
    s.end_file();
    s.begin_file("file", "b.png", "");
    s.write(kPng);
    s.end_file();
    auto files = s.plan();
    // Somebody takes the second planned name meanwhile: nothing is placed, plan again.
    std::ofstream(fs::path(policy_.dir) / files[1].saved_as) << "squatter";
    EXPECT_FALSE(s.commit());
    EXPECT_EQ(served(), (std::set<std::string>{files[1].saved_as}));
    auto again = s.plan();
    ASSERT_TRUE(s.commit());
    EXPECT_EQ(served().size(), 3u);
  }
  for (const auto& n : served()) fs::remove(fs::path(policy_.dir) / n);
  {
    // The first 32 files of a request are unnamed; the 33rd gets a named upload-*.part file.
    core::UploadSession s(policy_);
    for (int i = 0; i < 32; ++i) {
      s.begin_file("file", "a" + std::to_string(i) + ".png", "");
      s.write(kPng);
      s.end_file();
    }
    EXPECT_TRUE(work().empty());
    s.begin_file("file", "b.png", "");
    s.write(kPng);
    s.end_file();
    auto after = work();
    ASSERT_EQ(after.size(), 1u);
    std::string second_temp = *after.begin();
    EXPECT_EQ(second_temp.rfind("upload-", 0), 0u) << second_temp;
    fs::remove(fs::path(policy_.work_dir) / second_temp);  // its data is gone: link() fails
    s.plan();
    EXPECT_THROW(s.commit(), core::InternalError);
    EXPECT_TRUE(served().empty()) << "the 32 files placed before it were rolled back";
  }
  EXPECT_TRUE(work().empty());
}

// Defect: the replace record was read-modify-written with no lock, across threads and processes.
TEST_F(UploadStore, ConcurrentReplaceKeepsExactlyTheLastUpload) {
  policy_.replace = true;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        try {
          core::UploadSession s(policy_);
          s.begin_file("file", "r.txt", "");
          s.write("x");
          s.end_file();
          s.plan();
          if (!s.commit()) ++failures;
        } catch (...) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(served().size(), 1u) << "every upload but the last was replaced";
}

// Files get 0666 less the process umask (Apache's), not a hard-coded mode.
TEST_F(UploadStore, FileModeFollowsTheUmask) {
  mode_t old = ::umask(027);
  core::UploadSession s(policy_);
  s.begin_file("file", "m.txt", "");
  s.write("mode");
  s.end_file();
  auto files = save(s);
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat((fs::path(policy_.dir) / files.at(0).saved_as).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

// Saved names hold one dot: mod_mime maps every dotted part of a name ("a.php.png" runs PHP).
TEST_F(UploadStore, SavedNamesHoldOneDot) {
  core::UploadSession s(policy_);
  s.begin_file("file", "evil.php.x.png", "");
  s.write(kPng);
  s.end_file();
  auto files = save(s);
  const std::string& name = files.at(0).saved_as;
  EXPECT_EQ(std::count(name.begin(), name.end(), '.'), 1) << name;
  EXPECT_EQ(name.rfind("evil_php_x_", 0), 0u) << name;
}

// Defect: without FlaskppUploadAllow, .html, .svg, .php and the like were saved under the served
// URL (stored cross-site scripting, or code execution with a script handler).
TEST_F(UploadStore, WithoutAnAllowListActiveContentIsRefused) {
  policy_.allow.clear();
  for (const char* name : {"x.html", "x.HTM", "x.svg", "x.xhtml", "x.php", "x.phtml", "x.cgi", "x.pl", "x.py",
                           "x.js", "x.shtml", "x.jsp", "x.asp"}) {
    core::UploadSession s(policy_);
    EXPECT_THROW(s.begin_file("file", name, ""), core::UnsupportedMediaType) << name;
  }
  core::UploadSession s(policy_);
  s.begin_file("file", "data.npy", "");
  s.write("anything");
  s.end_file();
  EXPECT_EQ(save(s).size(), 1u) << "other extensions are still accepted without a list";
  EXPECT_TRUE(core::is_active_content_extension(".svg"));
  EXPECT_FALSE(core::is_active_content_extension(".png"));
}

// Defect: a valid UTF-8 .txt whose 512-byte head ends inside a multi-byte character was a 415.
TEST_F(UploadStore, TextWhoseHeadEndsInsideACharacterIsAccepted) {
  for (std::size_t cut : {510u, 511u}) {
    std::string text = std::string(cut, 'a') + "\xC3\xA9\xE2\x82\xAC and more text";
    core::UploadSession s(policy_);
    s.begin_file("file", "notes.txt", "");
    s.write(text);
    s.end_file();
    EXPECT_EQ(save(s).size(), 1u) << cut;
  }
  core::UploadSession bad(policy_);
  bad.begin_file("file", "bad.txt", "");
  EXPECT_THROW({ bad.write(std::string(511, 'a') + "\xC3"); bad.end_file(); }, core::UnsupportedMediaType)
      << "a whole file that ends inside a character is not text";
}

// What a child killed mid-upload leaves behind goes at the next start; files being written stay.
TEST(UploadDirs, StaleTemporaryFilesAreSwept) {
  TempDir d;
  std::string old_part = d.write("upload-0123456789abcdef.part", "cut");
  std::string old_tmp = d.write("replace-0011223344556677.record.abcd1234.tmp", "x");
  std::string fresh_part = d.write("upload-fedcba9876543210.part", "in flight");
  std::string record = d.write("replace-0011223344556677.record", "a.png\n");
  std::string lock = d.write("replace-0011223344556677.lock", "");
  auto hour_ago = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (const auto& f : {old_part, old_tmp, record, lock}) fs::last_write_time(f, hour_ago);
  EXPECT_EQ(core::sweep_stale_upload_files(d.str(), std::chrono::minutes(10)), 2u);
  EXPECT_FALSE(fs::exists(old_part));
  EXPECT_FALSE(fs::exists(old_tmp));
  EXPECT_TRUE(fs::exists(fresh_part));
  EXPECT_TRUE(fs::exists(record)) << "records and locks are not temporary";
  EXPECT_TRUE(fs::exists(lock));
}

TEST(UploadDirs, WorkDirMustBeOutsideTheServedDirOnTheSameFilesystem) {
  TempDir d;
  fs::create_directories(d.path() / "served" / "tmp");
  fs::create_directories(d.path() / "work");
  core::UploadPolicy p;
  p.dir = (d.path() / "served").string();
  p.work_dir = (d.path() / "work").string();
  EXPECT_NO_THROW(core::check_upload_dirs(p));
  p.work_dir = (d.path() / "served" / "tmp").string();
  EXPECT_THROW(core::check_upload_dirs(p), core::ConfigError);
  p.work_dir = (d.path() / "missing").string();
  EXPECT_THROW(core::check_upload_dirs(p), core::ConfigError);
  // Neither a trailing slash, a dot-dot detour nor a symlink hides a work dir inside the served one.
  p.dir = (d.path() / "served").string() + "/";
  p.work_dir = (d.path() / "served" / "tmp").string();
  EXPECT_THROW(core::check_upload_dirs(p), core::ConfigError);
  p.dir = (d.path() / "served").string();
  p.work_dir = (d.path() / "work" / ".." / "served" / "tmp").string();
  EXPECT_THROW(core::check_upload_dirs(p), core::ConfigError);
  fs::create_directory_symlink(d.path() / "served" / "tmp", d.path() / "link");
  p.work_dir = (d.path() / "link").string();
  EXPECT_THROW(core::check_upload_dirs(p), core::ConfigError);
  if (fs::exists("/dev/shm") && fs::is_directory("/dev/shm")) {
    struct stat a {}, b {};
    ::stat("/dev/shm", &a);
    ::stat(d.str().c_str(), &b);
    if (a.st_dev != b.st_dev) {
      p.work_dir = "/dev/shm";
      EXPECT_THROW(core::check_upload_dirs(p), core::ConfigError) << "another filesystem";
    }
  }
}

TEST(ReadBody, LimitsAndFormsAndChunking) {
  core::BodyLimits limits;
  limits.max_body = 100;
  core::Request announced;
  announced.headers = {{"content-length", "101"}, {"content-type", "application/json"}};
  FakeSource never("", 10, 0);  // reading would throw: the announced size alone refuses it
  EXPECT_THROW(core::read_body(announced, never, limits), core::PayloadTooLarge);

  core::Request chunked;
  chunked.headers = {{"transfer-encoding", "chunked"}};
  FakeSource big(std::string(1000, 'x'), 30);
  EXPECT_THROW(core::read_body(chunked, big, limits), core::PayloadTooLarge);
  EXPECT_LE(big.consumed(), 120u) << "stops soon after the limit";

  core::Request form;
  form.headers = {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"}};
  FakeSource fs_body("a=1&b=two+words&a=3", 4);
  core::read_body(form, fs_body, limits);
  EXPECT_EQ(form.form, (core::StringPairs{{"a", "1"}, {"b", "two words"}, {"a", "3"}}));
}

TEST(ReadBody, MultipartFieldsAndCountedFiles) {
  std::string body = multipart({{"title", "-", "Hi"}, {"doc", "r.bin", std::string(5000, 'r')}, {"doc", "", ""}});
  core::Request r = multipart_request(body);
  FakeSource src(body, 7);
  core::read_body(r, src, core::BodyLimits{});
  EXPECT_EQ(r.form, (core::StringPairs{{"title", "Hi"}}));
  ASSERT_EQ(r.files.size(), 1u) << "an empty file input is not a file";
  EXPECT_EQ(r.files[0].filename, "r.bin");
  EXPECT_EQ(r.files[0].size, 5000u);
  EXPECT_TRUE(r.body.empty()) << "multipart data is never buffered";
}

class UploadAction : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.path() / "served");
    fs::create_directories(dir_.path() / "work");
    fs::create_directories(dir_.path() / "templates");
  }
  std::string served() const { return (dir_.path() / "served").string(); }
  std::string work() const { return (dir_.path() / "work").string(); }
  core::App make_app(std::vector<std::string> extra = {}) {
    core::AppSettings s;
    s.upload_dir = served();
    s.upload_work_dir = work();
    s.template_dir = (dir_.path() / "templates").string();
    s.upload_url = "/u";
    s.upload_allow = {".png"};
    std::vector<std::string> args = {"POST", "/upload", "upload", "file"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<core::RouteDecl> routes = {core::parse_route(args)};
    return core::App(std::move(s), routes, core::HandlerRegistry::builtins());
  }
  core::Response post(const core::App& app, core::Request req, const std::string& body, std::size_t fail_after = std::string::npos) {
    FakeSource src(body, 64, fail_after);
    return app.handle(req, app.match(req.path, req.method), &src, log_);
  }
  TempDir dir_;
  CapturingLogger log_;
};

TEST_F(UploadAction, SavesAndAnswersJson) {
  core::App app = make_app();
  std::string body = multipart({{"file", "cat.png", kPng}});
  core::Response r = post(app, multipart_request(body), body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_NE(r.body.find("\"saved_as\":\"cat_"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"img_show\":\"/u/cat_"), std::string::npos) << r.body;
  EXPECT_EQ(listing(served()).size(), 1u);
}

TEST_F(UploadAction, ErrorsLeaveTheDirectoryEmpty) {
  core::App app = make_app();
  core::Request json_req = multipart_request("{}");
  json_req.headers[0].second = "application/json";
  EXPECT_EQ(post(app, json_req, "{}").status, 415);
  std::string other = multipart({{"other", "a.png", kPng}});
  EXPECT_EQ(post(app, multipart_request(other), other).status, 400);
  std::string bad = multipart({{"file", "a.png", "not a png at all"}});
  EXPECT_EQ(post(app, multipart_request(bad), bad).status, 415);
  std::string good = multipart({{"file", "a.png", kPng}});
  core::Response cut = post(app, multipart_request(good), good, 200);
  EXPECT_EQ(cut.status, 400);
  EXPECT_TRUE(listing(served()).empty());
  EXPECT_TRUE(listing(work()).empty());
}

// Defect: files were committed before then=template: rendered, so a render failure kept the new
// files and (replace=on) had already deleted the previous ones.
TEST_F(UploadAction, ARenderFailureKeepsNothingNewAndDeletesNothingOld) {
  dir_.write("templates/ok.html", "<img src=\"{{img_show}}\">");
  std::string body = multipart({{"file", "cat.png", kPng}});
  {
    core::App app = make_app({"then=template:ok.html", "replace=on"});
    ASSERT_EQ(post(app, multipart_request(body), body).status, 200);
  }
  auto before = listing(served());
  ASSERT_EQ(before.size(), 1u);
  // The same route's template now fails (a partial is missing), in production and development.
  dir_.write("templates/ok.html", "{{> missing_partial}}");
  for (auto env : {core::Env::kDevelopment, core::Env::kProduction}) {
    core::AppSettings s;
    s.env = env;
    s.upload_dir = served();
    s.upload_work_dir = work();
    s.template_dir = (dir_.path() / "templates").string();
    s.upload_allow = {".png"};
    std::vector<core::RouteDecl> routes = {
        core::parse_route({"POST", "/upload", "upload", "file", "then=template:ok.html", "replace=on"})};
    core::App app(std::move(s), routes, core::HandlerRegistry::builtins());
    core::Response r = post(app, multipart_request(body), body);
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_EQ(listing(served()), before) << "the previous file stays, no new file";
    for (const auto& n : listing(work())) EXPECT_EQ(n.find(".part"), std::string::npos) << n;
  }
}

namespace {
class FailingAfterAction final : public core::Stage {
 public:
  const char* name() const override { return "failing-after-action"; }
  void after_action(core::Exchange&, core::Response& resp) const override {
    if (resp.status == 200) throw core::InternalError("session could not be saved");
  }
};
}  // namespace

// The answer is final only after every stage has seen it: a stage failing after the action (a
// session save, say) leaves no file placed.
TEST_F(UploadAction, AStageFailingAfterTheActionPlacesNothing) {
  core::AppSettings s;
  s.upload_dir = served();
  s.upload_work_dir = work();
  s.upload_allow = {".png"};
  std::vector<core::RouteDecl> routes = {core::parse_route({"POST", "/upload", "upload", "file"})};
  std::vector<std::unique_ptr<const core::Stage>> stages;
  stages.push_back(std::make_unique<FailingAfterAction>());
  core::App app(std::move(s), routes, core::HandlerRegistry::builtins(), std::move(stages));
  std::string body = multipart({{"file", "cat.png", kPng}});
  core::Response r = post(app, multipart_request(body), body);
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_TRUE(listing(served()).empty());
  EXPECT_TRUE(listing(work()).empty());
}

TEST_F(UploadAction, UploadRouteNeedsAnUploadDir) {
  core::AppSettings s;
  std::vector<core::RouteDecl> routes = {core::parse_route({"POST", "/up", "upload", "f"})};
  {
    core::AppSettings outside;  // work dir inside the served dir: refused
    outside.upload_dir = served();
    outside.upload_work_dir = served() + "/tmp";
    fs::create_directories(outside.upload_work_dir);
    EXPECT_THROW(core::App(std::move(outside), routes, core::HandlerRegistry::builtins()), core::ConfigError);
  }
  EXPECT_THROW(core::App(std::move(s), routes, core::HandlerRegistry::builtins()), core::ConfigError);
  EXPECT_THROW(core::parse_route({"POST", "/up", "upload", "f", "then=html"}), core::ConfigError);
  EXPECT_THROW(core::parse_route({"POST", "/up", "upload", "f", "replace=yes"}), core::ConfigError);
  EXPECT_THROW(core::parse_route({"POST", "/up", "upload"}), core::ConfigError);
  EXPECT_THROW(core::parse_route({"GET", "/x", "handler", "echo", "then=json"}), core::ConfigError);
  EXPECT_EQ(core::parse_route({"POST", "/up", "upload", "f", "then=template:index.html", "replace=on"}).then_template,
            "index.html");
}

}  // namespace
