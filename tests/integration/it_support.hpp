// Shared by the libcurl integration tests: the running instance (server.sh's state file, named by
// FLASKPP_IT_STATE) and small helpers.
#pragma once

#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace flaskpp::it {

struct Instance {
  std::string root;    // the instance directory (ServerRoot)
  int port = 0;        // main server: production, demo app + test routes
  int dev_port = 0;    // development virtual host
  int quick_port = 0;  // FlaskppQuickHandler On virtual host
};

inline const Instance& instance() {
  static const Instance inst = [] {
    Instance i;
    const char* path = std::getenv("FLASKPP_IT_STATE");
    std::ifstream in(path ? path : "");
    std::string line;
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq == std::string::npos) continue;
      std::string k = line.substr(0, eq), v = line.substr(eq + 1);
      if (k == "ROOT") i.root = v;
      if (k == "PORT") i.port = std::atoi(v.c_str());
      if (k == "DEV_PORT") i.dev_port = std::atoi(v.c_str());
      if (k == "QUICK_PORT") i.quick_port = std::atoi(v.c_str());
    }
    return i;
  }();
  return inst;
}

// libcurl write callback appending to a std::string.
inline size_t on_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline rapidjson::Document parse(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  EXPECT_FALSE(d.HasParseError()) << "not JSON: " << body.substr(0, 300);
  return d;
}

// --- error_log per test ----------------------------------------------------------------------
// it_main.cpp's listener reads the lines the running test added to the instance's error_log and
// fails the test for each line at warn level or worse ([module:warn], error, crit, alert, emerg)
// and each crash report ("exit signal", "Segmentation fault"), unless the test allowed it.

// The running test's allowances (cleared when each test starts).
struct LogAllowances {
  std::mutex mu;
  std::vector<std::pair<std::string, std::regex>> patterns;  // source text (for messages), regex
};

inline LogAllowances& log_allowances() {
  static LogAllowances a;
  return a;
}

// Lines of error_log matching the ECMAScript `regex` (std::regex_search: anywhere in the line) are
// allowed for the currently running test only, e.g. allow_log("FPP00003: 500 for GET /t/missing").
inline void allow_log(const std::string& regex) {
  LogAllowances& a = log_allowances();
  std::lock_guard<std::mutex> lock(a.mu);
  a.patterns.emplace_back(regex, std::regex(regex, std::regex::ECMAScript));
}

}  // namespace flaskpp::it
