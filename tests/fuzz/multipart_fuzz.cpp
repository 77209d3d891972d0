// Multipart parser: the input chooses the limits and up to seven chunk boundaries; the rest is the
// body. Its answer (sink events with data merged, error kind, done) must be the same fed in one
// chunk, at the fuzzed splits and byte by byte: split dependence was a real bug (issue 5).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/multipart.hpp"
#include "fuzz_support.hpp"

namespace core = flaskpp::core;

namespace {

struct EventLog : core::MultipartSink {
  std::vector<std::string> events;
  void on_part_begin(const core::PartInfo& p) override {
    events.push_back("begin " + p.name + "|" + (p.filename ? "f:" + *p.filename : "-") + "|" + p.content_type);
  }
  void on_part_data(std::string_view d) override {
    if (d.empty()) return;
    if (!events.empty() && events.back().rfind("data ", 0) == 0) {
      events.back().append(d.data(), d.size());
    } else {
      events.push_back("data " + std::string(d));
    }
  }
  void on_part_end() override { events.push_back("end"); }
};

struct Outcome {
  std::vector<std::string> events;
  int error = -1;  // MultipartError::Kind, -1 when none
  bool done = false;
  std::size_t parts = 0;
  bool operator==(const Outcome& o) const {
    return events == o.events && error == o.error && done == o.done;
  }
};

Outcome run(const std::string& body, const std::vector<std::size_t>& cuts, const core::MultipartLimits& limits) {
  EventLog log;
  Outcome out;
  core::MultipartParser p("XyZ", log, limits);
  try {
    std::size_t from = 0;
    for (std::size_t cut : cuts) {
      p.feed(std::string_view(body).substr(from, cut - from));
      from = cut;
    }
    p.feed(std::string_view(body).substr(from));
    p.finish();
    out.done = p.done();
  } catch (const core::MultipartError& e) {
    out.error = static_cast<int>(e.kind());
    FUZZ_CHECK(e.status() == (e.kind() == core::MultipartError::Kind::kTooManyParts ? 413 : 400));
  }
  out.parts = p.parts();
  out.events = std::move(log.events);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Reader in{data, size};
  std::uint8_t flags = in.byte();
  std::size_t ncuts = flags & 7;
  std::vector<std::uint16_t> raw;
  for (std::size_t i = 0; i < ncuts; ++i) raw.push_back(in.u16());
  std::string body(in.rest());
  if (body.size() > 8192) return 0;

  core::MultipartLimits limits;
  switch ((flags >> 3) & 3) {
    case 1: limits.max_header_bytes = 64; limits.max_parts = 3; break;
    case 2: limits.max_header_bytes = 1 + (flags >> 5); limits.max_parts = 1; break;
    default: break;  // the defaults (16384 header bytes, 1000 parts)
  }

  std::vector<std::size_t> cuts;
  for (std::uint16_t r : raw) cuts.push_back(body.empty() ? 0 : r % (body.size() + 1));
  std::sort(cuts.begin(), cuts.end());

  Outcome whole = run(body, {}, limits);
  Outcome split = run(body, cuts, limits);
  if (!(whole == split)) {
    std::fprintf(stderr, "split dependence: whole error=%d done=%d events=%zu; split error=%d done=%d events=%zu\n",
                 whole.error, whole.done, whole.events.size(), split.error, split.done, split.events.size());
    FUZZ_CHECK(whole == split);
  }
  if (body.size() <= 2048) {
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < body.size(); ++i) every.push_back(i);
    Outcome bytewise = run(body, every, limits);
    if (!(whole == bytewise)) {
      std::fprintf(stderr, "split dependence (byte by byte): whole error=%d done=%d; bytewise error=%d done=%d\n",
                   whole.error, whole.done, bytewise.error, bytewise.done);
      FUZZ_CHECK(whole == bytewise);
    }
  }
  FUZZ_CHECK(whole.parts <= limits.max_parts);
  if (whole.error == -1) FUZZ_CHECK(whole.done);
  return 0;
}
