// Upload names and content checks: secure_filename() output is safe as a single path component;
// file_extension() is lower case; the text check agrees with an independent UTF-8 validator, and a
// head accepted whole is accepted when cut anywhere in its last character (a head cut inside a
// character was a real bug, issue 5).
#include <cstdint>
#include <string>

#include "core/uploads.hpp"
#include "fuzz_support.hpp"

namespace core = flaskpp::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 8192) return 0;
  fuzz::Reader in{data, size};
  std::uint8_t sel = in.byte();
  std::string_view s = in.rest();

  std::string safe = core::secure_filename(s);
  for (char c : safe) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-';
    FUZZ_CHECK(ok);
  }
  FUZZ_CHECK(safe.empty() || (safe.front() != '.' && safe != ".." ));
  FUZZ_CHECK(safe.find('/') == std::string::npos && safe.find('\\') == std::string::npos);
  FUZZ_CHECK(core::secure_filename(safe) == safe || safe.empty() || safe.front() == '_');

  std::string ext = core::file_extension(s);
  FUZZ_CHECK(ext.empty() || ext.front() == '.');
  for (char c : ext) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  (void)core::is_active_content_extension(ext);
  (void)core::extension_has_signature(ext);

  static const char* kExts[] = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".pdf", ".zip",
                                ".txt", ".csv", ".json", ".md",  ".bin",  "",      ".PNG", ".Txt"};
  std::string_view e = kExts[sel & 15];
  bool whole = core::content_matches_extension(e, s, true);
  bool head = core::content_matches_extension(e, s, false);
  if (whole) FUZZ_CHECK(head);
  bool text = e == ".txt" || e == ".csv" || e == ".json" || e == ".md";
  if (text) {
    FUZZ_CHECK(whole == (s.find('\0') == std::string_view::npos && fuzz::valid_utf8(s)));
    if (whole) {
      for (std::size_t cut = 1; cut <= 3 && cut <= s.size(); ++cut) {
        FUZZ_CHECK(core::content_matches_extension(e, s.substr(0, s.size() - cut), false));
      }
    }
  }
  return 0;
}
