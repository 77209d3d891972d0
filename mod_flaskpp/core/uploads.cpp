#include "core/uploads.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "core/errors.hpp"

namespace flaskpp::core {

namespace {

constexpr std::size_t kHeadBytes = 512;

std::string random_hex(std::size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += kHex[rng() & 15];
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool looks_like_text(std::string_view head, bool complete) {
  if (head.find('\0') != std::string_view::npos) return false;
  std::string clean = sanitize_utf8(head);
  if (clean == head) return true;
  if (complete) return false;
  // The head may end inside a multi-byte character: allow up to 3 trailing bytes to differ.
  std::size_t cut = head.size() > 3 ? head.size() - 3 : 0;
  for (std::size_t i = head.size(); i-- > cut;) {
    std::string_view prefix = head.substr(0, i);
    if (sanitize_utf8(prefix) == prefix) return true;
  }
  return false;
}

std::string previous_record(const UploadPolicy& p) {
  std::string key;
  for (char c : p.route_key) key += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return p.dir + "/.flaskpp-previous-" + key;
}

}  // namespace

std::string secure_filename(std::string_view name) {
  std::string s;
  for (char c : name) s += (c == '/' || c == '\\') ? ' ' : c;
  // Whitespace runs -> '_' (Python's "_".join(s.split())).
  std::string joined;
  std::istringstream words(s);
  std::string w;
  while (words >> w) joined += (joined.empty() ? "" : "_") + w;
  std::string out;
  for (char c : joined) {
    if (std::isalnum(static_cast<unsigned char>(c)) && static_cast<unsigned char>(c) < 0x80) out += c;
    else if (c == '_' || c == '.' || c == '-') out += c;
  }
  auto b = out.find_first_not_of("._");
  if (b == std::string::npos) return "";
  auto e = out.find_last_not_of("._");
  out = out.substr(b, e - b + 1);
  static const char* kDevices[] = {"CON", "AUX", "COM1", "COM2", "COM3", "COM4", "LPT1", "LPT2", "LPT3", "PRN", "NUL"};
  std::string stem = out.substr(0, out.find('.'));
  for (char& c : stem) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const char* d : kDevices) {
    if (stem == d) return "_" + out;
  }
  return out;
}

std::string file_extension(std::string_view name) {
  auto slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) return "";
  return to_lower(name.substr(dot));
}

bool extension_has_signature(std::string_view ext) {
  static const char* kKnown[] = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".pdf",
                                 ".zip", ".txt", ".csv", ".json", ".md"};
  return std::any_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return ext == k; });
}

bool content_matches_extension(std::string_view ext, std::string_view head) {
  if (ext == ".png") return starts_with(head, "\x89PNG\r\n\x1a\n");
  if (ext == ".jpg" || ext == ".jpeg") return starts_with(head, "\xFF\xD8\xFF");
  if (ext == ".gif") return starts_with(head, "GIF87a") || starts_with(head, "GIF89a");
  if (ext == ".webp") return head.size() >= 12 && starts_with(head, "RIFF") && head.substr(8, 4) == "WEBP";
  if (ext == ".bmp") return starts_with(head, "BM");
  if (ext == ".pdf") return starts_with(head, "%PDF-");
  if (ext == ".zip") return starts_with(head, "PK\x03\x04") || starts_with(head, "PK\x05\x06");
  if (ext == ".txt" || ext == ".csv" || ext == ".json" || ext == ".md") return looks_like_text(head, true);
  return true;
}

UploadSession::UploadSession(const UploadPolicy& policy) : policy_(policy) {}

UploadSession::~UploadSession() {
  if (!committed_) abort();
}

void UploadSession::begin_file(const std::string& field, const std::string& filename, const std::string& content_type) {
  Pending p;
  p.info.field = field;
  p.info.filename = filename;
  p.info.content_type = content_type;
  p.ext = file_extension(secure_filename(filename));
  if (!policy_.allow.empty() && std::find(policy_.allow.begin(), policy_.allow.end(), p.ext) == policy_.allow.end()) {
    std::string allowed;
    for (const auto& a : policy_.allow) allowed += (allowed.empty() ? "" : " ") + a;
    throw UnsupportedMediaType("file type '" + (p.ext.empty() ? std::string("(none)") : p.ext) +
                               "' is not allowed (allowed: " + allowed + ")");
  }
  for (int attempt = 0; attempt < 8 && p.fd < 0; ++attempt) {
    p.temp_path = policy_.dir + "/.upload-" + random_hex(16) + ".part";
    p.fd = ::open(p.temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (p.fd < 0 && errno != EEXIST) break;
  }
  if (p.fd < 0) {
    throw InternalError("cannot create a file in upload directory " + policy_.dir + ": " + std::strerror(errno));
  }
  files_.push_back(std::move(p));
}

void UploadSession::check_head(Pending& p, bool at_end) {
  if (p.checked) return;
  if (!at_end && p.head.size() < kHeadBytes) return;
  p.checked = true;
  if (!content_matches_extension(p.ext, p.head)) {
    throw UnsupportedMediaType("content of '" + sanitize_utf8(p.info.filename) + "' is not a " + p.ext + " file");
  }
}

void UploadSession::write(std::string_view data) {
  if (files_.empty() || files_.back().fd < 0) throw InternalError("upload write without an open file");
  Pending& p = files_.back();
  if (!p.checked) {
    p.head.append(data.substr(0, kHeadBytes - std::min(kHeadBytes, p.head.size())));
    check_head(p, false);
  }
  p.info.size += data.size();
  while (!data.empty()) {
    ssize_t n = ::write(p.fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InternalError("cannot write upload to " + policy_.dir + ": " + std::strerror(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void UploadSession::end_file() {
  if (files_.empty() || files_.back().fd < 0) return;
  Pending& p = files_.back();
  check_head(p, true);
  if (::close(p.fd) != 0) {
    p.fd = -1;
    throw InternalError("cannot write upload to " + policy_.dir + ": " + std::strerror(errno));
  }
  p.fd = -1;
}

std::vector<FileInfo> UploadSession::commit() {
  std::vector<FileInfo> out;
  long long now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
  for (auto& p : files_) {
    if (p.fd >= 0) end_file();
    std::string stem = secure_filename(p.info.filename);
    auto dot = stem.rfind('.');
    if (dot != std::string::npos) stem = stem.substr(0, dot);
    if (stem.empty()) stem = "file";
    if (stem.size() > 100) stem = stem.substr(0, 100);
    for (int attempt = 0;; ++attempt) {
      std::string name = stem + "_" + std::to_string(now) + "_" + random_hex(8) + p.ext;
      std::string final_path = policy_.dir + "/" + name;
      // link() never replaces an existing file, unlike rename().
      if (::link(p.temp_path.c_str(), final_path.c_str()) == 0) {
        ::unlink(p.temp_path.c_str());
        p.temp_path.clear();
        p.info.saved_as = name;
        p.info.url = policy_.url_prefix + "/" + name;
        break;
      }
      if (errno != EEXIST || attempt > 8) {
        throw InternalError("cannot save upload in " + policy_.dir + ": " + std::strerror(errno));
      }
    }
    out.push_back(p.info);
  }
  committed_ = true;
  if (policy_.replace) {
    // The seed's "delete original image": remove what this route saved last time, then remember
    // what it saved now. The record is replaced atomically (rename).
    std::string record = previous_record(policy_);
    std::ifstream in(record);
    std::string old;
    while (std::getline(in, old)) {
      if (!old.empty() && old.find('/') == std::string::npos && old[0] != '.') {
        ::unlink((policy_.dir + "/" + old).c_str());
      }
    }
    std::string tmp = record + "." + random_hex(8);
    {
      std::ofstream rec(tmp, std::ios::trunc);
      for (const auto& f : out) rec << f.saved_as << "\n";
    }
    ::rename(tmp.c_str(), record.c_str());
  }
  return out;
}

void UploadSession::abort() noexcept {
  for (auto& p : files_) {
    if (p.fd >= 0) {
      ::close(p.fd);
      p.fd = -1;
    }
    if (!p.temp_path.empty()) {
      ::unlink(p.temp_path.c_str());
      p.temp_path.clear();
    }
  }
}

}  // namespace flaskpp::core
