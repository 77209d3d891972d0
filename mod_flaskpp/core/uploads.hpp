// Saving uploaded files safely (seed 16.6): sanitised, unique names inside the upload directory;
// the extension checked against an allow-list and the content against the extension's magic
// bytes; every file written to a temporary name in the same directory and renamed only when the
// whole request succeeded, so a failed, refused or cut upload leaves nothing behind.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/request.hpp"

namespace flaskpp::core {

// Werkzeug's secure_filename: path separators become spaces, whitespace runs become '_', only
// ASCII letters, digits, '_', '.', '-' survive, leading/trailing '.' and '_' are stripped, and
// Windows device names get a '_' prefix. Non-ASCII characters are dropped (Werkzeug first folds
// accents with NFKD; without that table, "café" becomes "caf"). May return "".
std::string secure_filename(std::string_view name);

// ".png" for "a.PNG", "" when there is none. Lower-cased.
std::string file_extension(std::string_view name);

// Whether `head` (the first bytes of a file) fits the extension. Extensions with a known
// signature: .png .jpg .jpeg .gif .webp .bmp .pdf .zip, and text types .txt .csv .json .md
// (no NUL, valid UTF-8). Others are accepted on their extension alone.
bool content_matches_extension(std::string_view ext, std::string_view head);
bool extension_has_signature(std::string_view ext);

struct UploadPolicy {
  std::string dir;                 // absolute directory, must exist and be writable
  std::string url_prefix;          // URL under which `dir` is served, e.g. "/static/img"
  std::vector<std::string> allow;  // lower-case extensions with the dot; empty = any
  bool replace = false;            // delete this route's previous files after saving new ones
  std::string route_key;           // names the route's "previous files" record (replace)
  std::string field;               // only files of this form field are saved
};

// One request's uploads. Not thread-safe (one request, one thread). Destroying a session that was
// not committed removes its temporary files.
class UploadSession {
 public:
  explicit UploadSession(const UploadPolicy& policy);
  ~UploadSession();
  UploadSession(const UploadSession&) = delete;
  UploadSession& operator=(const UploadSession&) = delete;

  // Starts a file; throws UnsupportedMediaType for a refused extension, InternalError when the
  // directory cannot be written.
  void begin_file(const std::string& field, const std::string& filename, const std::string& content_type);
  // Throws UnsupportedMediaType when the first bytes do not fit the extension.
  void write(std::string_view data);
  void end_file();
  // Renames every finished file to its final unique name; fills saved_as/url. Then, with
  // replace, deletes the files this route saved last time.
  std::vector<FileInfo> commit();
  void abort() noexcept;
  std::size_t file_count() const { return files_.size(); }

 private:
  struct Pending {
    FileInfo info;
    std::string temp_path;
    std::string ext;
    int fd = -1;
    std::string head;  // first bytes, for the content check
    bool checked = false;
  };
  void check_head(Pending& p, bool at_end);

  const UploadPolicy& policy_;
  std::vector<Pending> files_;
  bool committed_ = false;
};

}  // namespace flaskpp::core
