// Job records: the status names, the id check and the status endpoint's JSON (job_json, built from
// a record whose text fields, result JSON and timestamps are fuzzed) must never throw, and the
// JSON written must parse.
#include <cstdint>
#include <cstring>
#include <string>

#include "core/jobs.hpp"
#include "core/rapidjson.hpp"
#include "fuzz_support.hpp"

namespace core = flaskpp::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 8192) return 0;
  fuzz::Reader in{data, size};
  auto i64 = [&] {
    std::uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | in.byte();
    std::int64_t out;
    std::memcpy(&out, &v, sizeof out);
    return out;
  };
  core::JobRecord job;
  job.status = static_cast<core::JobStatus>(in.byte() % 5);
  job.attempts = in.byte();
  job.max_attempts = in.byte();
  job.created_ms = i64();
  job.started_ms = i64();
  job.finished_ms = i64();
  std::uint64_t p = static_cast<std::uint64_t>(i64());
  std::memcpy(&job.progress, &p, sizeof p);
  std::string_view rest = in.rest();
  // The remaining text, cut at NULs into name, message, result JSON, error.
  std::string* fields[] = {&job.id, &job.name, &job.progress_message, &job.result_json, &job.error};
  for (std::string* f : fields) {
    std::size_t nul = rest.find('\0');
    *f = std::string(rest.substr(0, nul));
    rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  }

  auto parsed = core::parse_job_status(job.id);
  if (parsed) FUZZ_CHECK(job.id == core::job_status_name(*parsed));
  if (core::is_job_id(job.id)) FUZZ_CHECK(job.id.size() == 36);
  std::string iso = core::iso8601_utc(job.created_ms);
  FUZZ_CHECK(!iso.empty());

  std::string json = core::job_json(job);
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  FUZZ_CHECK(!d.HasParseError() && d.IsObject());
  return 0;
}
