// Uploads against the private Apache: curl-style multipart posts through libcurl and raw sockets.
// Every refused, failed or cut upload must leave the upload directory as it was.
#include <cctype>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rapidjson/document.h>

#include "it_support.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

using flaskpp::it::instance;
using flaskpp::it::on_body;
using flaskpp::it::parse;
using flaskpp::it::read_file;

std::string img_dir() { return instance().root + "/htdocs/static/img"; }
std::string dev_dir() { return instance().root + "/dev-uploads"; }

// Saved files (no hidden bookkeeping files), and whether any temporary file is left.
std::set<std::string> saved_files(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n[0] != '.') out.insert(n);
  }
  return out;
}

// Temporary files live in FlaskppUploadWorkDir (conf/flaskpp.conf: var/upload-work), never in a
// served directory.
std::string work_dir() { return instance().root + "/var/upload-work"; }
// A named upload-*.part file in the work directory, or an unnamed one (O_TMPFILE) some process
// holds open there: /proc/PID/fd/N then reads "WORK_DIR/#INODE (deleted)" (the tests run as root).
bool has_temp_files() {
  for (const auto& e : fs::directory_iterator(work_dir())) {
    std::string n = e.path().filename().string();
    if (n.size() > 5 && n.compare(n.size() - 5, 5, ".part") == 0) return true;
  }
  const std::string unnamed = fs::weakly_canonical(work_dir()).string() + "/#";
  std::error_code ec;
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    std::string pid = proc.path().filename().string();
    if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
    std::error_code fd_ec;
    for (const auto& fd : fs::directory_iterator(proc.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      auto target = fs::read_symlink(fd.path(), link_ec).string();
      if (!link_ec && target.rfind(unnamed, 0) == 0) return true;
    }
  }
  return false;
}

struct Reply {
  long status = 0;
  std::string body;
};

Reply post(const std::string& path, const std::string& content_type, const std::string& body, int port = 0,
           bool chunked = false) {
  Reply r;
  CURL* c = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(port ? port : instance().port) + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_slist* list = nullptr;
  list = curl_slist_append(list, ("Content-Type: " + content_type).c_str());
  list = curl_slist_append(list, "Expect:");
  if (chunked) list = curl_slist_append(list, "Transfer-Encoding: chunked");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  CURLcode rc = curl_easy_perform(c);
  // A server that refuses a large body early may close before curl has sent it all.
  if (rc != CURLE_OK && rc != CURLE_SEND_ERROR) ADD_FAILURE() << curl_easy_strerror(rc) << " for " << path;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return r;
}

Reply get(const std::string& path) {
  Reply r;
  CURL* c = curl_easy_init();
  std::string url = "http://127.0.0.1:" + std::to_string(instance().port) + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_cleanup(c);
  return r;
}

struct Part {
  std::string name;
  std::optional<std::string> filename;  // raw bytes, may hold anything
  std::string data;
  std::string type = "application/octet-stream";
};

const std::string kBoundary = "flaskppTestBoundary7MA4YWxkTrZu0gW";
const std::string kMultipart = "multipart/form-data; boundary=" + kBoundary;

std::string multipart(const std::vector<Part>& parts) {
  std::string b;
  for (const auto& p : parts) {
    b += "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + p.name + "\"";
    if (p.filename) b += "; filename=\"" + *p.filename + "\"";
    b += "\r\n";
    if (p.filename) b += "Content-Type: " + p.type + "\r\n";
    b += "\r\n" + p.data + "\r\n";
  }
  return b + "--" + kBoundary + "--\r\n";
}

std::string png(std::size_t size, unsigned seed = 1) {
  std::string s = "\x89PNG\r\n\x1a\n";
  std::mt19937 rng(seed);
  while (s.size() < size) s += static_cast<char>(rng() & 0xFF);
  return s;
}

class Upload : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GT(instance().port, 0) << "no Apache instance (FLASKPP_IT_STATE)"; }
};

TEST_F(Upload, SingleFileIsSavedUnderAUniqueNameAndServedByApache) {
  auto before = saved_files(img_dir());
  std::string data = png(20000, 7);
  Reply r = post("/t/upload", kMultipart, multipart({{"file", std::string("cat photo.png"), data, "image/png"}}));
  ASSERT_EQ(r.status, 200) << r.body;
  auto d = parse(r.body);
  ASSERT_EQ(d["files"].Size(), 1u);
  std::string saved = d["files"][0]["saved_as"].GetString();
  EXPECT_EQ(saved.rfind("cat_photo_", 0), 0u) << saved;
  EXPECT_EQ(saved.substr(saved.size() - 4), ".png");
  EXPECT_STREQ(d["files"][0]["filename"].GetString(), "cat photo.png");
  EXPECT_EQ(d["files"][0]["size"].GetUint64(), data.size());
  EXPECT_EQ(std::string(d["files"][0]["url"].GetString()), "/static/img/" + saved);
  EXPECT_EQ(std::string(d["img_show"].GetString()), "/static/img/" + saved);
  EXPECT_EQ(read_file(img_dir() + "/" + saved), data);
  EXPECT_EQ(saved_files(img_dir()).size(), before.size() + 1);
  Reply served = get("/static/img/" + saved);
  EXPECT_EQ(served.status, 200);
  EXPECT_EQ(served.body, data);
  EXPECT_FALSE(has_temp_files());
}

// Defect: files were placed before then=template: rendered; a render failure kept them.
TEST_F(Upload, ARenderFailureLeavesNoFile) {
  flaskpp::it::allow_log(R"(\[flaskpp:error\] .* FPP00003: 500 for POST /t/upload-broken: )");
  auto before = saved_files(img_dir());
  Reply r = post("/t/upload-broken", kMultipart, multipart({{"file", std::string("b.png"), png(3000, 3)}}));
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(saved_files(img_dir()), before);
  EXPECT_FALSE(has_temp_files());
}

// The served upload directory runs nothing and lets no browser sniff a file into HTML.
TEST_F(Upload, SavedFilesAreServedWithNosniff) {
  Reply r = post("/t/upload", kMultipart, multipart({{"file", std::string("n.png"), png(1000, 5)}}));
  ASSERT_EQ(r.status, 200) << r.body;
  std::string url = parse(r.body)["img_show"].GetString();
  std::string headers;
  CURL* c = curl_easy_init();
  std::string full = "http://127.0.0.1:" + std::to_string(instance().port) + url;
  std::string body;
  curl_easy_setopt(c, CURLOPT_URL, full.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &headers);
  ASSERT_EQ(curl_easy_perform(c), CURLE_OK);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  EXPECT_EQ(status, 200);
  EXPECT_NE(headers.find("X-Content-Type-Options: nosniff"), std::string::npos) << headers;
  EXPECT_NE(headers.find("Content-Type: image/png"), std::string::npos) << headers;
}

TEST_F(Upload, SeveralFilesInOneRequest) {
  std::vector<Part> parts;
  for (unsigned i = 0; i < 3; ++i) parts.push_back({"file", "img" + std::to_string(i) + ".png", png(5000 + i, i)});
  parts.push_back({"note", std::nullopt, "three files"});
  Reply r = post("/t/upload", kMultipart, multipart(parts));
  ASSERT_EQ(r.status, 200) << r.body;
  auto d = parse(r.body);
  ASSERT_EQ(d["files"].Size(), 3u);
  for (unsigned i = 0; i < 3; ++i) {
    EXPECT_EQ(read_file(img_dir() + "/" + d["files"][i]["saved_as"].GetString()), parts[i].data);
  }
}

TEST_F(Upload, TemplateAfterUploadShowsTheImages) {
  Reply r = post("/t/upload-page", kMultipart, multipart({{"file", std::string("a.gif"), "GIF89a-tiny-gif"}}));
  ASSERT_EQ(r.status, 200) << r.body;
  auto at = r.body.find("<img class=\"img-thumbnail\" src=\"/static/img/a_");
  ASSERT_NE(at, std::string::npos) << r.body;
  EXPECT_NE(r.body.find("a.gif (15 bytes)"), std::string::npos);
}

TEST_F(Upload, DisguisedFilesAre415AndLeaveNothing) {
  auto before = saved_files(img_dir());
  Reply php = post("/t/upload", kMultipart,
                   multipart({{"file", std::string("shell.png"), "<?php system($_GET['c']); ?>", "image/png"}}));
  EXPECT_EQ(php.status, 415);
  EXPECT_EQ(parse(php.body)["error"]["code"].GetInt(), 415);
  Reply ext = post("/t/upload", kMultipart, multipart({{"file", std::string("x.php"), png(100)}}));
  EXPECT_EQ(ext.status, 415);
  // A good file followed by a bad one: neither is kept.
  Reply mixed = post("/t/upload", kMultipart,
                     multipart({{"file", std::string("good.png"), png(3000)}, {"file", std::string("bad.jpg"), png(3000)}}));
  EXPECT_EQ(mixed.status, 415);
  EXPECT_EQ(saved_files(img_dir()), before);
  EXPECT_FALSE(has_temp_files());
}

TEST_F(Upload, OversizedBodiesAre413AndLeaveNothing) {
  auto before = saved_files(img_dir());
  std::string big = multipart({{"file", std::string("big.png"), png(17u << 20)}});  // limit 16M
  Reply announced = post("/t/upload", kMultipart, big);
  EXPECT_EQ(announced.status, 413);
  // Chunked: no Content-Length, so the limit trips mid-stream.
  Reply streamed = post("/t/upload", kMultipart, big, 0, true);
  EXPECT_EQ(streamed.status, 413);
  EXPECT_EQ(saved_files(img_dir()), before);
  EXPECT_FALSE(has_temp_files());
}

TEST_F(Upload, ApacheLimitRequestBodyIs413Too) {
  std::string body = "{\"pad\": \"" + std::string(1000, 'x') + "\"}";
  EXPECT_EQ(post("/t/limited", "application/json", body).status, 413);
  EXPECT_EQ(post("/t/limited", "application/json", body, 0, true).status, 413);
  EXPECT_EQ(post("/t/limited", "application/json", "{\"small\": 1}").status, 200);
}

TEST_F(Upload, TooManyPartsIs413) {
  std::vector<Part> parts;
  for (int i = 0; i < 1001; ++i) parts.push_back({"f" + std::to_string(i), std::nullopt, "x"});
  Reply r = post("/t/upload", kMultipart, multipart(parts));
  EXPECT_EQ(r.status, 413);
}

TEST_F(Upload, WrongContentTypeOrMissingFieldOrBoundary) {
  Reply json = post("/t/upload", "application/json", "{\"file\": 1}");
  EXPECT_EQ(json.status, 415);
  Reply nofile = post("/t/upload", kMultipart, multipart({{"other", std::string("a.png"), png(100)}}));
  EXPECT_EQ(nofile.status, 400);
  EXPECT_NE(nofile.body.find("no file in form field 'file'"), std::string::npos);
  Reply empty_input = post("/t/upload", kMultipart, multipart({{"file", std::string(""), ""}}));
  EXPECT_EQ(empty_input.status, 400);
  Reply noboundary = post("/t/upload", "multipart/form-data", multipart({{"file", std::string("a.png"), png(100)}}));
  EXPECT_EQ(noboundary.status, 400);
  Reply truncated = post("/t/upload", kMultipart, multipart({{"file", std::string("a.png"), png(100)}}).substr(0, 150));
  EXPECT_EQ(truncated.status, 400);
  EXPECT_FALSE(has_temp_files());
}

TEST_F(Upload, HostileNamesStayInsideTheUploadDirectory) {
  std::string nul_name = std::string("evil") + '\0' + ".png";
  std::vector<std::pair<std::string, std::string>> cases = {
      {"../../etc/passwd.png", "etc_passwd_"},
      {"..\\..\\x.png", "x_"},
      {"/abs/path/y.png", "abs_path_y_"},
      {nul_name, "evil_"},  // the NUL is dropped
      {std::string(300, 'a') + ".png", std::string(100, 'a') + "_"},
      {"\xD1\x84\xD0\xBE\xD1\x82\xD0\xBE caf\xC3\xA9.png", "caf_"},
  };
  for (const auto& [name, prefix] : cases) {
    Reply r = post("/t/upload", kMultipart, multipart({{"file", name, png(600)}}));
    ASSERT_EQ(r.status, 200) << r.body;
    std::string saved = parse(r.body)["files"][0]["saved_as"].GetString();
    EXPECT_EQ(saved.rfind(prefix, 0), 0u) << "name '" << name << "' saved as '" << saved << "'";
    EXPECT_EQ(saved.find('/'), std::string::npos);
    EXPECT_TRUE(fs::exists(img_dir() + "/" + saved));
  }
  // Nothing but dots before the extension: "png" has no extension left, so it is refused.
  EXPECT_EQ(post("/t/upload", kMultipart, multipart({{"file", std::string("....png"), png(600)}})).status, 415);
  EXPECT_FALSE(fs::exists(instance().root + "/etc"));
  EXPECT_FALSE(fs::exists(instance().root + "/htdocs/etc"));
  EXPECT_FALSE(fs::exists("/abs"));
}

TEST_F(Upload, ReplaceDeletesThePreviousFile) {
  int dev = instance().dev_port;
  auto first = parse(post("/dev/upload-replace", kMultipart, multipart({{"file", std::string("v1.bin"), "one"}}), dev).body);
  std::string one = first["files"][0]["saved_as"].GetString();
  ASSERT_TRUE(fs::exists(dev_dir() + "/" + one));
  auto second = parse(post("/dev/upload-replace", kMultipart, multipart({{"file", std::string("v2.bin"), "two"}}), dev).body);
  std::string two = second["files"][0]["saved_as"].GetString();
  EXPECT_FALSE(fs::exists(dev_dir() + "/" + one)) << "previous file should be gone";
  EXPECT_EQ(read_file(dev_dir() + "/" + two), "two");
  EXPECT_EQ(std::string(second["files"][0]["url"].GetString()), "/dev-uploads/" + two);
}

TEST_F(Upload, ClientDisconnectMidUploadLeavesNoFile) {
  int dev = instance().dev_port;
  auto before = saved_files(dev_dir());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(dev));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string head = "POST /dev/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + kMultipart +
                     "\r\nContent-Length: 10000000\r\n\r\n--" + kBoundary +
                     "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\n";
  std::string data = head + std::string(1u << 20, 'c');
  std::size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    sent += static_cast<std::size_t>(n);
  }
  // Wait until the server has started writing the temporary file, then vanish.
  for (int i = 0; i < 100 && !has_temp_files(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(has_temp_files()) << "the upload should be in progress";
  EXPECT_EQ(saved_files(dev_dir()), before) << "nothing reaches the served directory while the upload runs";
  ::close(fd);
  bool clean = false;
  for (int i = 0; i < 250 && !clean; ++i) {
    clean = !has_temp_files() && saved_files(dev_dir()) == before;
    if (!clean) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(clean) << "a cut upload must leave nothing behind";
}

TEST_F(Upload, FiftyParallelUploadsLandIntact) {
  int dev = instance().dev_port;
  std::vector<std::string> contents(50), saved(50);
  std::vector<long> status(50);
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    contents[i] = png(100000 + static_cast<std::size_t>(i) * 997, static_cast<unsigned>(i + 100));
    threads.emplace_back([i, dev, &contents, &saved, &status] {
      Reply r = post("/dev/upload", kMultipart, multipart({{"file", std::string("same-name.bin"), contents[i]}}), dev);
      status[i] = r.status;
      rapidjson::Document d;
      d.Parse(r.body.c_str());
      if (!d.HasParseError() && d.IsObject() && d.HasMember("files")) saved[i] = d["files"][0]["saved_as"].GetString();
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> names;
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(status[i], 200) << "upload " << i;
    names.insert(saved[i]);
    EXPECT_EQ(std::hash<std::string>{}(read_file(dev_dir() + "/" + saved[i])), std::hash<std::string>{}(contents[i]))
        << "upload " << i << " (" << saved[i] << ") differs";
  }
  EXPECT_EQ(names.size(), 50u) << "every upload gets its own name";
}

TEST_F(Upload, EchoReportsFormFieldsAndFiles) {
  Reply form = post("/api/echo?x=1", "application/x-www-form-urlencoded", "a=1&a=2&b=hello+world&c=%C3%A9");
  ASSERT_EQ(form.status, 200);
  auto f = parse(form.body);
  EXPECT_STREQ(f["form"]["a"][1].GetString(), "2");
  EXPECT_STREQ(f["form"]["b"][0].GetString(), "hello world");
  EXPECT_STREQ(f["form"]["c"][0].GetString(), "\xC3\xA9");
  EXPECT_TRUE(f["json"].IsNull());

  Reply mp = post("/api/echo", kMultipart,
                  multipart({{"title", std::nullopt, "Hi"}, {"doc", std::string("r.pdf"), std::string(1234, 'p'), "application/pdf"},
                             {"doc", std::string("s.txt"), "ss", "text/plain"}}));
  ASSERT_EQ(mp.status, 200);
  auto m = parse(mp.body);
  EXPECT_STREQ(m["form"]["title"][0].GetString(), "Hi");
  ASSERT_EQ(m["files"]["doc"].Size(), 2u);
  EXPECT_STREQ(m["files"]["doc"][0]["filename"].GetString(), "r.pdf");
  EXPECT_STREQ(m["files"]["doc"][0]["content_type"].GetString(), "application/pdf");
  EXPECT_EQ(m["files"]["doc"][0]["size"].GetInt(), 1234);
  EXPECT_EQ(m["files"]["doc"][1]["size"].GetInt(), 2);
}

}  // namespace
