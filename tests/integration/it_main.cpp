// main() of the libcurl integration test binaries: libcurl's global state around the tests, and
// the per-test error_log check (it_support.hpp, allow_log): every test fails for the warn-or-worse
// lines it made Apache write, unless it allowed them.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "it_support.hpp"

#include <chrono>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

namespace {

using flaskpp::it::instance;

const std::regex kBadLine(R"(\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]|exit signal|Segmentation fault)");

std::string error_log_path() { return instance().root + "/logs/error_log"; }

long long file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : 0;
}

std::string read_from(const std::string& path, long long offset) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(offset);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A request whose debug line (FPP00008, "route matched"; LogLevel flaskpp:debug) is written
// before its response: once it is in error_log, so is every line of the requests the test made
// and finished before. Returns the text to wait for, or "" when the request failed.
std::string send_barrier() {
  static int n = 0;
  std::string path = "/t/files/it-log-barrier/" + std::to_string(::getpid()) + "/" + std::to_string(++n);
  std::string url = "http://127.0.0.1:" + std::to_string(instance().port) + path;
  std::string body;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, flaskpp::it::on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  return status == 200 ? "GET " + path + " -> route" : std::string();
}

class ErrorLogCheck : public ::testing::EmptyTestEventListener {
 public:
  void OnTestStart(const ::testing::TestInfo&) override {
    {
      auto& a = flaskpp::it::log_allowances();
      std::lock_guard<std::mutex> lock(a.mu);
      a.patterns.clear();
    }
    start_ = instance().root.empty() ? -1 : file_size(error_log_path());
  }

  void OnTestEnd(const ::testing::TestInfo&) override {
    if (start_ < 0) return;
    std::string text = wait_for_lines();
    auto& a = flaskpp::it::log_allowances();
    std::lock_guard<std::mutex> lock(a.mu);
    std::vector<std::string> bad;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      if (!std::regex_search(line, kBadLine)) continue;
      bool allowed = false;
      for (const auto& p : a.patterns) allowed = allowed || std::regex_search(line, p.second);
      if (!allowed) bad.push_back(line);
    }
    if (bad.empty()) return;
    std::string msg = "error_log got " + std::to_string(bad.size()) + " unexpected line(s) during this test" +
                      " (allow expected ones with flaskpp::it::allow_log(regex)):";
    for (const auto& l : bad) msg += "\n  " + l;
    ADD_FAILURE() << msg;
  }

 private:
  // The lines written since the test started, once Apache has written those of its requests.
  std::string wait_for_lines() {
    std::string path = error_log_path();
    if (file_size(path) < start_) start_ = 0;  // replaced meanwhile
    std::string marker = send_barrier();
    if (marker.empty()) {  // no barrier possible (server down?): a short grace period instead
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      return read_from(path, start_);
    }
    std::string text;
    for (int i = 0; i < 100; ++i) {  // normally found at once; give up after ~1 s
      text = read_from(path, start_);
      if (text.find(marker) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return text;
  }

  long long start_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ::testing::InitGoogleTest(&argc, argv);
  // Appended last, so its OnTestEnd runs before the printer reports the result.
  ::testing::UnitTest::GetInstance()->listeners().Append(new ErrorLogCheck);
  int rc = RUN_ALL_TESTS();
  curl_global_cleanup();
  return rc;
}
