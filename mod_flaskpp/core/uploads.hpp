// Saving uploaded files safely (seed 16.6): sanitised, unique names inside the upload directory;
// the extension checked against an allow-list (or, without one, refused when a browser would
// render it as active content or a server would execute it) and the content against the
// extension's magic bytes.
//
// All or nothing: every file is written to a temporary file in a work directory OUTSIDE the served
// upload directory (same filesystem), final names are planned before the answer is built, and the
// files are link()ed into place only once the answer is ready (commit). A failed, refused or cut
// upload, a failing render or a failing commit leaves no file behind, and with replace=on the
// previous files are deleted only after the new ones are in place, under a lock shared by every
// thread and process.
#pragma once

#include <chrono>
#include <cstddef>
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

// Whether `head` (the first bytes of a file; the whole file when `whole_file`) fits the
// extension. Extensions with a known signature: .png .jpg .jpeg .gif .webp .bmp .pdf .zip, and
// text types .txt .csv .json .md (no NUL, valid UTF-8; a head cut inside a character is fine).
// Others are accepted on their extension alone.
bool content_matches_extension(std::string_view ext, std::string_view head, bool whole_file = true);
bool extension_has_signature(std::string_view ext);
// Extensions refused when no FlaskppUploadAllow list is set: content a browser renders actively
// (.html, .svg, .xml, .js, ...) or a server executes (.php, .cgi, .pl, .py, .asp, .jsp, ...).
bool is_active_content_extension(std::string_view ext);

struct UploadPolicy {
  std::string dir;                 // absolute served directory the files land in
  std::string url_prefix;          // URL under which `dir` is served, e.g. "/static/img"
  std::string work_dir;            // absolute, outside `dir`, same filesystem: temporary files,
                                   // replace records and their lock files
  std::vector<std::string> allow;  // lower-case extensions with the dot; empty = any but active
  bool replace = false;            // delete this route's previous files after saving new ones
  std::string route_key;           // names the route's "previous files" record (replace)
};

// Throws ConfigError when the work directory is inside the upload directory (as canonical paths;
// it need not exist yet).
void check_work_dir_placement(const std::string& dir, const std::string& work_dir);
// Throws ConfigError when the work directory is missing, inside the upload directory, or on
// another filesystem (link() could not place files atomically).
void check_upload_dirs(const UploadPolicy& policy);

// Removes temporary upload files (upload-*.part, replace-*.tmp) of the work directory not written
// for `max_age`: what a child killed mid-upload left behind. Returns how many were removed.
std::size_t sweep_stale_upload_files(const std::string& work_dir, std::chrono::seconds max_age);

// One request's uploads. Not thread-safe (one request, one thread). Destroying a session that was
// not committed removes its temporary files.
class UploadSession {
 public:
  explicit UploadSession(const UploadPolicy& policy);
  ~UploadSession();
  UploadSession(const UploadSession&) = delete;
  UploadSession& operator=(const UploadSession&) = delete;

  // Starts a file; throws UnsupportedMediaType for a refused extension, InternalError when the
  // work directory cannot be written.
  void begin_file(const std::string& field, const std::string& filename, const std::string& content_type);
  // Throws UnsupportedMediaType when the first bytes do not fit the extension.
  void write(std::string_view data);
  void end_file();
  // Chooses a fresh unique final name for every file (saved_as, url) without placing anything;
  // the answer is built from these. Call again after commit() returned false.
  std::vector<FileInfo> plan();
  // Places every planned file, all or nothing. With replace, the route's record of its previous
  // files is swapped and those files deleted, under an exclusive lock (flock) on a file in the
  // work directory. Returns false when a planned name was taken meanwhile (nothing placed: plan
  // and build the answer again). Throws InternalError on any other failure (nothing placed).
  bool commit();
  std::size_t file_count() const { return files_.size(); }

 private:
  struct Pending {
    FileInfo info;
    std::string temp_path;
    std::string ext;
    int fd = -1;
    bool unnamed = false;   // O_TMPFILE: no temp_path; fd stays open until commit/discard
    bool finished = false;  // an unnamed file was fully written and checked
    std::string head;  // first bytes, for the content check
    bool checked = false;
    std::string final_path;  // planned
  };
  void check_head(Pending& p, bool at_end);
  void finish(Pending& p);
  void discard() noexcept;

  static constexpr std::size_t kMaxUnnamedFiles = 32;
  const UploadPolicy& policy_;
  std::vector<Pending> files_;
  bool committed_ = false;
};

}  // namespace flaskpp::core
