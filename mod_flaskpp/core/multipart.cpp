#include "core/multipart.hpp"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

#include "core/request.hpp"

namespace flaskpp::core {

namespace {

// Linear white space allowed between a delimiter and its line end (RFC 2046 transport padding).
constexpr std::size_t kMaxTransportPadding = 256;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// Splits `a; b="x;y"; c=d` into (key, raw value) pairs, keys lower-cased, quotes resolved.
std::vector<std::pair<std::string, std::string>> split_params(std::string_view v) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = v.find(';');
  if (i == std::string_view::npos) return out;
  ++i;
  while (i < v.size()) {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == ';')) ++i;
    std::size_t k = i;
    while (i < v.size() && v[i] != '=' && v[i] != ';') ++i;
    std::string key = to_lower(trim(v.substr(k, i - k)));
    std::string value;
    if (i < v.size() && v[i] == '=') {
      ++i;
      while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
      if (i < v.size() && v[i] == '"') {
        ++i;
        while (i < v.size() && v[i] != '"') {
          // Browsers send a backslash in file names verbatim (IE: C:\path); only \" and \\ escape.
          if (v[i] == '\\' && i + 1 < v.size() && (v[i + 1] == '"' || v[i + 1] == '\\')) ++i;
          value += v[i++];
        }
        if (i < v.size()) ++i;  // closing quote
        while (i < v.size() && v[i] != ';') ++i;
      } else {
        std::size_t s = i;
        while (i < v.size() && v[i] != ';') ++i;
        value = std::string(trim(v.substr(s, i - s)));
      }
    }
    if (!key.empty()) out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

// RFC 5987 ext-value: charset'lang'pct-encoded. UTF-8 and ISO-8859-1 are understood.
std::optional<std::string> decode_ext_value(std::string_view v) {
  auto q1 = v.find('\'');
  if (q1 == std::string_view::npos) return std::nullopt;
  auto q2 = v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return std::nullopt;
  std::string charset = to_lower(v.substr(0, q1));
  std::string raw = url_decode(v.substr(q2 + 1), false);
  if (charset == "utf-8") return raw;
  if (charset == "iso-8859-1" || charset == "latin1") {
    std::string out;
    for (unsigned char c : raw) {
      if (c < 0x80) {
        out += static_cast<char>(c);
      } else {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
      }
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> header_param(std::string_view header_value, std::string_view key) {
  auto params = split_params(header_value);
  if (key == "filename") {
    for (const auto& [k, v] : params) {
      if (k == "filename*") {
        if (auto decoded = decode_ext_value(v)) return decoded;
      }
    }
  }
  for (const auto& [k, v] : params) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::string multipart_boundary(std::string_view content_type_header) {
  auto b = header_param(content_type_header, "boundary");
  if (!b || b->empty()) {
    throw MultipartError(MultipartError::Kind::kMissingBoundary, "multipart body without a boundary parameter");
  }
  if (b->size() > 70) {
    throw MultipartError(MultipartError::Kind::kMissingBoundary, "multipart boundary longer than 70 characters");
  }
  return *b;
}

MultipartParser::MultipartParser(std::string boundary, MultipartSink& sink, MultipartLimits limits)
    : boundary_("--" + boundary), delimiter_("\n--" + boundary), sink_(sink), limits_(limits) {
  if (boundary.empty()) throw MultipartError(MultipartError::Kind::kMissingBoundary, "empty multipart boundary");
}

void MultipartParser::feed(std::string_view chunk) {
  if (state_ == State::kDone) return;  // epilogue
  buf_.append(chunk.data(), chunk.size());
  run();
  // Drop what was consumed; what is left is bounded (a held-back delimiter prefix or headers).
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

void MultipartParser::run() {
  while (state_ != State::kDone && step()) {
  }
}

// One transition; false when more input is needed.
bool MultipartParser::step() {
  std::string_view view(buf_);
  view.remove_prefix(pos_);
  switch (state_) {
    case State::kPreamble: {
      // The first delimiter may open the body without a line end before it.
      if (at_start_) {
        if (view.size() < boundary_.size()) {
          if (boundary_.compare(0, view.size(), view) == 0) return false;  // need more input
          at_start_ = false;
        } else {
          at_start_ = false;
          if (view.substr(0, boundary_.size()) == boundary_) {
            pos_ += boundary_.size();
            state_ = State::kAfterBoundary;
            return true;
          }
        }
      }
      auto at = view.find(delimiter_);
      if (at == std::string_view::npos) {
        // A preamble is discarded, but for what could be the start of the delimiter.
        if (view.size() > delimiter_.size()) pos_ += view.size() - delimiter_.size();
        return false;
      }
      pos_ += at + delimiter_.size();
      state_ = State::kAfterBoundary;
      return true;
    }
    case State::kAfterBoundary: {
      // "--" ends the body; otherwise optional transport padding, then a line end.
      if (view.size() < 2) return false;
      if (view[0] == '-' && view[1] == '-') {
        pos_ = buf_.size();
        state_ = State::kDone;
        return false;
      }
      std::size_t i = 0;
      while (i < view.size() && i <= kMaxTransportPadding && (view[i] == ' ' || view[i] == '\t')) ++i;
      // The limit holds wherever the chunk ends: inside the padding or after it.
      if (i > kMaxTransportPadding) {
        throw MultipartError(MultipartError::Kind::kMalformed, "malformed multipart delimiter line");
      }
      if (i == view.size()) return false;
      if (view[i] == '\r') {
        if (i + 1 >= view.size()) return false;
        if (view[i + 1] != '\n') throw MultipartError(MultipartError::Kind::kMalformed, "malformed multipart delimiter line");
        i += 2;
      } else if (view[i] == '\n') {
        i += 1;
      } else {
        throw MultipartError(MultipartError::Kind::kMalformed, "malformed multipart delimiter line");
      }
      pos_ += i;
      header_scan_ = 0;
      // parts() counts the parts accepted: the one past the limit is refused, not counted.
      if (parts_ >= limits_.max_parts) {
        throw MultipartError(MultipartError::Kind::kTooManyParts,
                             "more than " + std::to_string(limits_.max_parts) + " multipart parts");
      }
      ++parts_;
      state_ = State::kHeaders;
      return true;
    }
    case State::kHeaders: {
      // The header block ends at the first blank line: "\r\n\r\n" or "\n\n", or right away when
      // the block opens with a line end (no headers). Offsets before header_scan_ are ruled out;
      // the scan stops at the first offset that needs more bytes to decide, so the answer is the
      // same whatever the chunks, and each byte is looked at a bounded number of times.
      std::size_t end = std::string_view::npos;
      std::size_t skip = 0;
      std::size_t s = header_scan_;
      for (;; ++s) {
        s = view.find_first_of("\r\n", s);
        if (s == std::string_view::npos) {
          s = view.size();
          break;
        }
        std::string_view rest = view.substr(s);
        std::string_view terminator;
        if (s == 0 && rest[0] == '\n') {
          terminator = "\n";
        } else if (s == 0 && rest[0] == '\r') {
          terminator = "\r\n";
        } else if (rest[0] == '\r') {
          terminator = "\r\n\r\n";
        } else {
          terminator = "\n\n";
        }
        std::size_t n = std::min(rest.size(), terminator.size());
        if (rest.compare(0, n, terminator, 0, n) != 0) continue;  // ruled out
        if (n < terminator.size()) break;                          // undecided: wait for more
        end = s;
        skip = terminator.size();
        break;
      }
      header_scan_ = s;
      // A blank line can no longer start within the limit: too large, whatever follows.
      if (std::min(end, header_scan_) > limits_.max_header_bytes) header_too_large();
      if (end == std::string_view::npos) return false;
      parse_headers(view.substr(0, end));
      pos_ += end + skip;
      state_ = State::kBody;
      return true;
    }
    case State::kBody: {
      auto at = view.find(delimiter_);
      if (at == std::string_view::npos) {
        // Emit all but what could be the start of a delimiter (and its '\r').
        std::size_t keep = delimiter_.size();
        if (view.size() > keep) {
          std::size_t n = view.size() - keep;
          if (!skipping_) sink_.on_part_data(view.substr(0, n));
          pos_ += n;
        }
        return false;
      }
      std::size_t data_end = at;
      if (data_end > 0 && view[data_end - 1] == '\r') --data_end;
      if (!skipping_ && data_end > 0) sink_.on_part_data(view.substr(0, data_end));
      if (!skipping_) sink_.on_part_end();
      in_part_ = false;
      skipping_ = false;
      pos_ += at + delimiter_.size();
      state_ = State::kAfterBoundary;
      return true;
    }
    case State::kDone:
      return false;
  }
  return false;
}

void MultipartParser::parse_headers(std::string_view block) {
  PartInfo info;
  info.content_type = "text/plain";
  bool has_disposition = false;
  bool has_name = false;
  while (!block.empty()) {
    auto nl = block.find('\n');
    std::string_view line = block.substr(0, nl);
    block = nl == std::string_view::npos ? std::string_view() : block.substr(nl + 1);
    line = trim(line);
    if (line.empty()) continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      throw MultipartError(MultipartError::Kind::kMalformed, "malformed multipart part header");
    }
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-disposition")) {
      has_disposition = true;
      if (auto n = header_param(value, "name")) {
        info.name = *n;
        has_name = true;
      }
      info.filename = header_param(value, "filename");
    } else if (iequals(name, "content-type")) {
      info.content_type = std::string(value);
    }
  }
  if (!has_disposition) {
    throw MultipartError(MultipartError::Kind::kMalformed, "multipart part without Content-Disposition");
  }
  // A part without a name cannot be addressed by any field: it is read and dropped, as Werkzeug does.
  skipping_ = !has_name;
  in_part_ = true;
  if (!skipping_) sink_.on_part_begin(info);
}

void MultipartParser::header_too_large() const {
  throw MultipartError(MultipartError::Kind::kHeaderTooLarge,
                       "multipart part headers larger than " + std::to_string(limits_.max_header_bytes) + " bytes");
}

void MultipartParser::finish() {
  if (state_ == State::kDone) return;
  // No more bytes can end the header block: more than the limit is too large, as feed() would
  // have said had the whole body come in one chunk.
  if (state_ == State::kHeaders && buf_.size() - pos_ > limits_.max_header_bytes) header_too_large();
  // A part still open is not ended: its data is incomplete, and the caller discards it.
  in_part_ = false;
  if (parts_ == 0 && state_ == State::kPreamble) {
    throw MultipartError(MultipartError::Kind::kTruncated, "multipart body holds no delimiter for its boundary");
  }
  throw MultipartError(MultipartError::Kind::kTruncated, "multipart body ends before its closing delimiter");
}

}  // namespace flaskpp::core
