// Safe storage of uploads and body reading, without a server: secure names, content checks,
// temporary files that vanish on failure, replace-previous, and the size limits.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

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
    policy_.dir = dir_.str();
    policy_.url_prefix = "/static/img";
    policy_.allow = {".png", ".txt"};
    policy_.route_key = "POST /upload";
    policy_.field = "file";
  }
  TempDir dir_;
  core::UploadPolicy policy_;
};

TEST_F(UploadStore, CommitRenamesTemporaryFilesToUniqueNames) {
  core::UploadSession s(policy_);
  s.begin_file("file", "../../a b.png", "image/png");
  s.write(kPng.substr(0, 3));
  s.write(kPng.substr(3));
  s.end_file();
  s.begin_file("file", "a b.png", "image/png");
  s.write(kPng);
  s.end_file();
  auto names = listing(dir_.str());
  ASSERT_EQ(names.size(), 2u);
  for (const auto& n : names) EXPECT_EQ(n.rfind(".upload-", 0), 0u) << "only temporary files before commit";
  auto files = s.commit();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(files[0].saved_as, files[1].saved_as);
  for (const auto& f : files) {
    EXPECT_EQ(f.saved_as.rfind("a_b_", 0), 0u) << f.saved_as;
    EXPECT_EQ(f.url, "/static/img/" + f.saved_as);
    EXPECT_EQ(f.size, kPng.size());
    EXPECT_EQ(fs::file_size(dir_.path() / f.saved_as), kPng.size());
  }
  EXPECT_EQ(listing(dir_.str()).size(), 2u) << "no temporary file left";
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
  EXPECT_TRUE(listing(dir_.str()).empty());
}

TEST_F(UploadStore, ReplaceDeletesThePreviousUpload) {
  policy_.replace = true;
  std::string first;
  {
    core::UploadSession s(policy_);
    s.begin_file("file", "one.txt", "");
    s.write("first");
    s.end_file();
    first = s.commit().at(0).saved_as;
  }
  ASSERT_TRUE(fs::exists(dir_.path() / first));
  core::UploadSession s(policy_);
  s.begin_file("file", "two.txt", "");
  s.write("second");
  s.end_file();
  std::string second = s.commit().at(0).saved_as;
  EXPECT_FALSE(fs::exists(dir_.path() / first));
  EXPECT_TRUE(fs::exists(dir_.path() / second));
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
  core::App make_app(std::vector<std::string> extra = {}) {
    core::AppSettings s;
    s.upload_dir = dir_.str();
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
  EXPECT_EQ(listing(dir_.str()).size(), 1u);
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
  EXPECT_TRUE(listing(dir_.str()).empty());
}

TEST_F(UploadAction, UploadRouteNeedsAnUploadDir) {
  core::AppSettings s;
  std::vector<core::RouteDecl> routes = {core::parse_route({"POST", "/up", "upload", "f"})};
  EXPECT_THROW(core::App(std::move(s), routes, core::HandlerRegistry::builtins()), core::ConfigError);
  EXPECT_THROW(core::parse_route({"POST", "/up", "upload", "f", "then=html"}), core::ConfigError);
  EXPECT_THROW(core::parse_route({"POST", "/up", "upload", "f", "replace=yes"}), core::ConfigError);
  EXPECT_THROW(core::parse_route({"POST", "/up", "upload"}), core::ConfigError);
  EXPECT_THROW(core::parse_route({"GET", "/x", "handler", "echo", "then=json"}), core::ConfigError);
  EXPECT_EQ(core::parse_route({"POST", "/up", "upload", "f", "then=template:index.html", "replace=on"}).then_template,
            "index.html");
}

}  // namespace
