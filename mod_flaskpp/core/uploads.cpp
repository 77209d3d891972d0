#include "core/uploads.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
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

// FNV-1a: a name for a route's record that stays the same across builds and restarts.
std::string stable_hash(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static const char* kHex = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = kHex[h & 15];
  return out;
}

std::string record_base(const UploadPolicy& p) {
  return p.work_dir + "/replace-" + stable_hash(p.dir + "\n" + p.route_key);
}

std::string errno_text(int err) { return std::strerror(err); }

// An exclusive flock on a file, released when this object dies. flock locks belong to the open
// file description, so two threads of one process exclude each other as two processes do.
class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) throw InternalError("cannot open upload lock file " + path + ": " + errno_text(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd_);
      throw InternalError("cannot lock upload lock file " + path + ": " + errno_text(err));
    }
  }
  ~FileLock() { ::close(fd_); }  // closing the last descriptor releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

std::vector<std::string> read_record(const std::string& path) {
  std::vector<std::string> names;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    // Only plain names this module could have written: never a path, never a hidden file.
    if (!line.empty() && line.find('/') == std::string::npos && line[0] != '.') names.push_back(line);
  }
  return names;
}

// Writes the record under a temporary name and renames it into place (atomic replace).
void write_record(const std::string& path, const std::vector<FileInfo>& files) {
  std::string tmp = path + "." + random_hex(8) + ".tmp";
  {
    std::ofstream rec(tmp, std::ios::trunc);
    for (const auto& f : files) rec << f.saved_as << "\n";
    rec.flush();
    if (!rec) {
      ::unlink(tmp.c_str());
      throw InternalError("cannot write upload record " + tmp);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw InternalError("cannot replace upload record " + path + ": " + errno_text(err));
  }
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

bool content_matches_extension(std::string_view ext, std::string_view head, bool whole_file) {
  if (ext == ".png") return starts_with(head, "\x89PNG\r\n\x1a\n");
  if (ext == ".jpg" || ext == ".jpeg") return starts_with(head, "\xFF\xD8\xFF");
  if (ext == ".gif") return starts_with(head, "GIF87a") || starts_with(head, "GIF89a");
  if (ext == ".webp") return head.size() >= 12 && starts_with(head, "RIFF") && head.substr(8, 4) == "WEBP";
  if (ext == ".bmp") return starts_with(head, "BM");
  if (ext == ".pdf") return starts_with(head, "%PDF-");
  if (ext == ".zip") return starts_with(head, "PK\x03\x04") || starts_with(head, "PK\x05\x06");
  if (ext == ".txt" || ext == ".csv" || ext == ".json" || ext == ".md") return looks_like_text(head, whole_file);
  return true;
}

bool is_active_content_extension(std::string_view ext) {
  // Rendered actively by browsers (stored cross-site scripting) or run by common server handlers.
  static const char* kActive[] = {
      ".html", ".htm",  ".xhtml", ".xht",  ".shtml", ".shtm", ".svg",  ".svgz", ".xml",  ".xsl",
      ".xslt", ".mht",  ".mhtml", ".js",   ".mjs",   ".swf",  ".php",  ".php3", ".php4", ".php5",
      ".php7", ".php8", ".phtml", ".pht",  ".phar",  ".phps", ".cgi",  ".fcgi", ".pl",   ".pm",
      ".py",   ".pyc",  ".wsgi",  ".rb",   ".sh",    ".bash", ".asp",  ".aspx", ".asa",  ".jsp",
      ".jspx", ".lua",  ".exe",   ".dll",  ".bat",   ".cmd",  ".com",  ".htaccess"};
  return std::any_of(std::begin(kActive), std::end(kActive), [&](const char* k) { return ext == k; });
}

void check_work_dir_placement(const std::string& dir, const std::string& work_dir) {
  namespace fs = std::filesystem;
  // Compared as canonical paths: a trailing slash, "..", or a symlink must not hide that the work
  // directory is inside the served one. The work directory need not exist yet.
  auto canonical = [](const std::string& path) {
    std::error_code ec;
    std::string out = fs::weakly_canonical(fs::path(path), ec).string();
    if (ec) out = path;
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out == "/" ? out : out + "/";
  };
  std::string served = canonical(dir);
  std::string work = canonical(work_dir);
  if (work.compare(0, served.size(), served) == 0) {
    throw ConfigError("upload work directory '" + work_dir + "' is inside the served upload directory '" + dir +
                      "'; temporary files must not be reachable by URL");
  }
}

void check_upload_dirs(const UploadPolicy& policy) {
  struct stat dir_st {}, work_st {};
  if (::stat(policy.dir.c_str(), &dir_st) != 0 || !S_ISDIR(dir_st.st_mode)) {
    throw ConfigError("upload directory '" + policy.dir + "' does not exist or is not a directory");
  }
  if (::stat(policy.work_dir.c_str(), &work_st) != 0 || !S_ISDIR(work_st.st_mode)) {
    throw ConfigError("upload work directory '" + policy.work_dir + "' does not exist or is not a directory");
  }
  check_work_dir_placement(policy.dir, policy.work_dir);
  if (dir_st.st_dev != work_st.st_dev) {
    throw ConfigError("upload work directory '" + policy.work_dir + "' is on another filesystem than '" + policy.dir +
                      "' (files are placed with link(), which needs one filesystem)");
  }
}

std::size_t sweep_stale_upload_files(const std::string& work_dir, std::chrono::seconds max_age) {
  namespace fs = std::filesystem;
  std::size_t removed = 0;
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(work_dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    bool part = name.rfind("upload-", 0) == 0 && name.size() > 5 && name.compare(name.size() - 5, 5, ".part") == 0;
    bool tmp = name.rfind("replace-", 0) == 0 && name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
    if (!part && !tmp) continue;
    std::error_code stat_ec;
    auto written = fs::last_write_time(it->path(), stat_ec);
    if (stat_ec || now - written < max_age) continue;
    if (fs::remove(it->path(), stat_ec)) ++removed;
  }
  return removed;
}

UploadSession::UploadSession(const UploadPolicy& policy) : policy_(policy) {}

UploadSession::~UploadSession() {
  if (!committed_) discard();
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
  if (policy_.allow.empty() && is_active_content_extension(p.ext)) {
    throw UnsupportedMediaType("file type '" + p.ext +
                               "' is refused: browsers or servers would run it (set FlaskppUploadAllow to choose)");
  }
  files_.reserve(files_.size() + 1);  // so that recording the open file below cannot throw
  // An unnamed file (O_TMPFILE) that gets its name only when commit() links it into place: a
  // child killed mid-upload (kill -9, a crash) leaves nothing behind. Its descriptor stays open
  // until commit, so only the first kMaxUnnamedFiles files of a request are unnamed; the others,
  // and filesystems without O_TMPFILE, use a named upload-*.part file (removed by discard(), or
  // by the sweep at startup after a crash).
  if (files_.size() < kMaxUnnamedFiles) {
    p.fd = ::open(policy_.work_dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (p.fd >= 0) p.unnamed = true;
  }
  for (int attempt = 0; attempt < 8 && p.fd < 0; ++attempt) {
    p.temp_path = policy_.work_dir + "/upload-" + random_hex(16) + ".part";
    // Mode 0666 less Apache's umask (usually 0644), like any file Apache's children create.
    p.fd = ::open(p.temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (p.fd < 0 && errno != EEXIST) break;
  }
  if (p.fd < 0) {
    int err = errno;
    p.temp_path.clear();
    throw InternalError("cannot create a file in upload work directory " + policy_.work_dir + ": " + errno_text(err));
  }
  files_.push_back(std::move(p));
}

void UploadSession::check_head(Pending& p, bool at_end) {
  if (p.checked) return;
  // Mid-stream only once data beyond the head arrived: then the head is known to be a prefix.
  if (!at_end && p.info.size <= kHeadBytes) return;
  p.checked = true;
  bool whole_file = at_end && p.info.size <= p.head.size();
  if (!content_matches_extension(p.ext, p.head, whole_file)) {
    throw UnsupportedMediaType("content of '" + sanitize_utf8(p.info.filename) + "' is not a " + p.ext + " file");
  }
}

void UploadSession::write(std::string_view data) {
  if (files_.empty() || files_.back().fd < 0) throw InternalError("upload write without an open file");
  Pending& p = files_.back();
  p.info.size += data.size();
  if (!p.checked) {
    p.head.append(data.substr(0, kHeadBytes - std::min(kHeadBytes, p.head.size())));
    check_head(p, false);
  }
  while (!data.empty()) {
    ssize_t n = ::write(p.fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InternalError("cannot write upload to " + policy_.work_dir + ": " + errno_text(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void UploadSession::finish(Pending& p) {
  if (p.fd < 0 || p.finished) return;
  check_head(p, true);
  if (p.unnamed) {  // kept open: commit() names it through its descriptor
    p.finished = true;
    return;
  }
  int fd = p.fd;
  p.fd = -1;
  if (::close(fd) != 0) throw InternalError("cannot write upload to " + policy_.work_dir + ": " + errno_text(errno));
}

void UploadSession::end_file() {
  if (!files_.empty()) finish(files_.back());
}

std::vector<FileInfo> UploadSession::plan() {
  long long now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<FileInfo> out;
  for (auto& p : files_) {
    finish(p);
    std::string stem = secure_filename(p.info.filename);
    auto dot = stem.rfind('.');
    if (dot != std::string::npos) stem = stem.substr(0, dot);
    // One dot in a saved name: mod_mime maps every dotted extension ("x.php.png" would be PHP).
    std::replace(stem.begin(), stem.end(), '.', '_');
    if (stem.empty()) stem = "file";
    if (stem.size() > 100) stem = stem.substr(0, 100);
    std::string name = stem + "_" + std::to_string(now) + "_" + random_hex(8) + p.ext;
    p.final_path = policy_.dir + "/" + name;
    p.info.saved_as = name;
    p.info.url = policy_.url_prefix + "/" + name;
    out.push_back(p.info);
  }
  return out;
}

bool UploadSession::commit() {
  if (committed_) return true;
  for (auto& p : files_) {
    finish(p);
    if (p.final_path.empty()) throw InternalError("upload committed before its names were planned");
  }
  std::optional<FileLock> lock;
  std::string base = record_base(policy_);
  if (policy_.replace) lock.emplace(base + ".lock");
  std::vector<Pending*> placed;
  // Undoes the links made so far. An unnamed file cannot be linked again once it had a name (the
  // kernel clears O_TMPFILE's linkability), so it is moved back into the work directory under a
  // temporary name instead, for a later commit (or discard) to use like any named file.
  auto roll_back = [this, &placed] {
    for (Pending* p : placed) {
      if (p->unnamed) {
        std::string temp = policy_.work_dir + "/upload-" + random_hex(16) + ".part";
        if (::rename(p->final_path.c_str(), temp.c_str()) == 0) {
          p->temp_path = temp;
          p->unnamed = false;
          continue;
        }
      }
      ::unlink(p->final_path.c_str());
    }
  };
  for (auto& p : files_) {
    // link() never replaces an existing file, unlike rename(). An unnamed file is linked through
    // /proc/self/fd (linkat with AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
    int linked = p.unnamed ? ::linkat(AT_FDCWD, ("/proc/self/fd/" + std::to_string(p.fd)).c_str(), AT_FDCWD,
                                      p.final_path.c_str(), AT_SYMLINK_FOLLOW)
                           : ::link(p.temp_path.c_str(), p.final_path.c_str());
    if (linked != 0) {
      int err = errno;
      roll_back();
      if (err == EEXIST) return false;
      throw InternalError("cannot save upload in " + policy_.dir + ": " + errno_text(err));
    }
    placed.push_back(&p);
  }
  if (policy_.replace) {
    // The seed's "delete original image": what this route saved last time goes, once the new
    // files and the new record are in place.
    std::vector<std::string> previous;
    try {
      std::string record = base + ".record";
      previous = read_record(record);
      std::vector<FileInfo> now;
      for (const auto& p : files_) now.push_back(p.info);
      write_record(record, now);
    } catch (...) {
      roll_back();
      throw;
    }
    for (const auto& old : previous) ::unlink((policy_.dir + "/" + old).c_str());
  }
  committed_ = true;
  discard();  // the temporary names; the data lives on under the final names
  return true;
}

void UploadSession::discard() noexcept {
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
