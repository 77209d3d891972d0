// Incremental multipart/form-data parser (RFC 7578 / RFC 2046). It is fed the body chunk by chunk
// as Apache's brigades deliver it and hands part data to a sink as it goes, so memory stays
// bounded by the largest chunk plus one delimiter, whatever the size of the files. A delimiter
// split across chunks at any byte parses the same: every answer (sink events, error kind) depends
// on the bytes only, never on where the chunks end. Both CRLF and bare LF line ends are accepted.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/errors.hpp"

namespace flaskpp::core {

struct PartInfo {
  std::string name;                     // form field name
  std::optional<std::string> filename;  // set for file parts (filename* per RFC 5987 wins)
  std::string content_type;             // as sent; "text/plain" when absent
};

class MultipartSink {
 public:
  virtual ~MultipartSink() = default;
  virtual void on_part_begin(const PartInfo& part) = 0;
  virtual void on_part_data(std::string_view data) = 0;
  virtual void on_part_end() = 0;
};

struct MultipartLimits {
  std::size_t max_parts = 1000;           // FlaskppUploadMaxParts: more parts -> 413
  std::size_t max_header_bytes = 16384;   // headers of one part (before their blank line) -> 400 when larger
};

// The boundary parameter of a multipart/form-data Content-Type. Throws MultipartError
// (kMissingBoundary) when the type is multipart but the boundary is absent or invalid.
std::string multipart_boundary(std::string_view content_type_header);

class MultipartParser {
 public:
  MultipartParser(std::string boundary, MultipartSink& sink, MultipartLimits limits = {});

  // Throws MultipartError. After the closing delimiter, further input (epilogue) is ignored.
  void feed(std::string_view chunk);
  // Call at the end of the body. Throws MultipartError(kTruncated) unless the closing delimiter
  // was seen (kHeaderTooLarge when the body ends in a header block over the limit, as it would
  // have been refused had more bytes followed); a part still open then gets no on_part_end (its
  // data is incomplete).
  void finish();
  bool done() const { return state_ == State::kDone; }
  std::size_t parts() const { return parts_; }

 private:
  enum class State { kPreamble, kAfterBoundary, kHeaders, kBody, kDone };
  void run();
  bool step();
  [[noreturn]] void header_too_large() const;
  void parse_headers(std::string_view block);

  std::string boundary_;     // "--" + boundary
  std::string delimiter_;    // "\n--" + boundary (a preceding '\r' is stripped)
  MultipartSink& sink_;
  MultipartLimits limits_;
  State state_ = State::kPreamble;
  std::string buf_;          // unprocessed input
  std::size_t pos_ = 0;      // start of unprocessed data in buf_
  std::size_t parts_ = 0;
  // In kHeaders: offset (from the start of the header block) of the first place the blank line
  // could still start; every earlier offset is ruled out, so each chunk scans only new bytes.
  std::size_t header_scan_ = 0;
  bool at_start_ = true;     // nothing consumed yet: the body may open with the delimiter
  bool in_part_ = false;
  bool skipping_ = false;    // a part without a name: its data is dropped
};

// Parses a header parameter list such as `form-data; name="a"; filename*=UTF-8''%E2%82%AC.txt`
// and returns the value of `key` (filename* decoded per RFC 5987 when key is "filename").
std::optional<std::string> header_param(std::string_view header_value, std::string_view key);

}  // namespace flaskpp::core
