#include "core/jobs.hpp"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "core/json.hpp"
#include "core/rapidjson.hpp"

namespace flaskpp::core {

const char* job_status_name(JobStatus status) {
  switch (status) {
    case JobStatus::kQueued: return "queued";
    case JobStatus::kRunning: return "running";
    case JobStatus::kDone: return "done";
    case JobStatus::kFailed: return "failed";
    case JobStatus::kCancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<JobStatus> parse_job_status(const std::string& name) {
  for (JobStatus s : {JobStatus::kQueued, JobStatus::kRunning, JobStatus::kDone, JobStatus::kFailed,
                      JobStatus::kCancelled}) {
    if (name == job_status_name(s)) return s;
  }
  return std::nullopt;
}

std::string new_job_id() {
  std::random_device rd;
  unsigned char b[16];
  for (int i = 0; i < 16; i += 4) {
    std::uint32_t v = rd();
    for (int k = 0; k < 4; ++k) b[i + k] = static_cast<unsigned char>(v >> (8 * k));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}

bool is_job_id(const std::string& text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

namespace {

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void write_time(JsonWriter& w, std::int64_t ms) {
  if (ms <= 0) {
    w.Null();
  } else {
    w.String(iso8601_utc(ms));
  }
}

}  // namespace

JobQueue::JobQueue(JobStore& store, JobQueueOptions options, Clock now_ms)
    : store_(store), options_(options), clock_(now_ms ? std::move(now_ms) : Clock(system_now_ms)) {
  if (options_.queue_max == 0) options_.queue_max = 1;
  if (options_.lease_ms < 3) options_.lease_ms = 3;
  if (options_.max_attempts < 1) options_.max_attempts = 1;
  if (options_.poll_min_ms < 1) options_.poll_min_ms = 1;
  if (options_.poll_max_ms < options_.poll_min_ms) options_.poll_max_ms = options_.poll_min_ms;
}

JobRecord JobQueue::submit(JobRecord job) {
  if (job.id.empty()) job.id = new_job_id();
  std::int64_t now = clock_();
  job.status = JobStatus::kQueued;
  job.attempts = 0;
  if (job.max_attempts <= 0) job.max_attempts = options_.max_attempts;
  if (job.timeout_ms <= 0) job.timeout_ms = options_.default_timeout_ms;
  job.created_ms = job.updated_ms = now;
  job.started_ms = job.finished_ms = 0;
  job.progress = 0;
  job.progress_message.clear();
  job.result_json.clear();
  job.error.clear();
  job.cancel_requested = false;
  job.lease_owner.clear();
  job.lease_expires_ms = 0;
  if (!store_.enqueue(job, options_.queue_max)) {
    throw ServiceUnavailable("job queue is full (" + std::to_string(options_.queue_max) + " jobs)",
                             options_.retry_after_seconds);
  }
  wake_one();
  return job;
}

std::optional<JobRecord> JobQueue::claim(const std::string& owner) {
  return store_.claim(owner, clock_(), options_.lease_ms);
}

bool JobQueue::renew(const std::string& id, const std::string& owner) {
  return store_.renew(id, owner, clock_(), options_.lease_ms);
}

void JobQueue::progress(const std::string& id, const std::string& owner, double fraction,
                        const std::string& message) {
  if (!std::isfinite(fraction)) fraction = 0;
  store_.progress(id, owner, std::clamp(fraction, 0.0, 1.0), message, clock_());
}

bool JobQueue::finish(const std::string& id, const std::string& owner, JobStatus status,
                      const std::string& result_or_error) {
  return store_.finish(id, owner, status, result_or_error, clock_());
}

JobStore::FinishAndClaim JobQueue::finish_and_claim(const std::string& id, const std::string& owner, JobStatus status,
                                                    const std::string& result_or_error) {
  return store_.finish_and_claim(id, owner, status, result_or_error, clock_(), options_.lease_ms);
}

bool JobQueue::retry(const std::string& id, const std::string& owner, const std::string& error) {
  return store_.retry(id, owner, error, clock_());
}

bool JobQueue::release(const std::string& id, const std::string& owner) {
  bool ok = store_.release(id, owner, clock_());
  if (ok) wake_one();
  return ok;
}

JobStore::CancelResult JobQueue::cancel(const std::string& id) { return store_.cancel(id, clock_()); }

std::optional<JobRecord> JobQueue::get(const std::string& id) { return store_.get(id); }

bool JobQueue::cancel_requested(const std::string& id) { return store_.cancel_requested(id); }

std::vector<std::string> JobQueue::purge_finished() {
  return store_.purge_finished(clock_(), options_.retention_ms);
}

std::uint64_t JobQueue::work_generation() const {
  std::lock_guard<std::mutex> lock(wake_mutex_);
  return generation_;
}

bool JobQueue::wait_for_work(std::uint64_t seen_generation, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(wake_mutex_);
  if (store_.can_wait_for_work()) {
    // Blocked in the store, a submit on any host wakes us; wake_all (stop) interrupts the wait.
    // The store's interrupt count is read under wake_mutex_, before the generation check: a
    // wake_all that bumps the generation after this check interrupts the store after this read,
    // so the store's wait ends (or never starts) even when it begins after that interrupt.
    std::uint64_t interrupts = store_.interrupts();
    if (generation_ != seen_generation) return true;
    lock.unlock();
    try {
      return store_.wait_for_work(timeout.count(), interrupts);
    } catch (const std::exception&) {
      // The store is failing: wait out the timeout here instead (the next claim reports it).
      lock.lock();
      return wake_cv_.wait_for(lock, timeout, [&] { return generation_ != seen_generation; });
    }
  }
  return wake_cv_.wait_for(lock, timeout, [&] { return generation_ != seen_generation; });
}

bool JobQueue::note_store_failure() {
  std::int64_t t = clock_();
  std::int64_t last = last_store_warning_ms_.load(std::memory_order_relaxed);
  return t - last >= kStoreWarnEvery * 1000 &&
         last_store_warning_ms_.compare_exchange_strong(last, t, std::memory_order_relaxed);
}

void JobQueue::wake_one() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    ++generation_;
  }
  wake_cv_.notify_one();
}

void JobQueue::wake_all() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    ++generation_;
  }
  wake_cv_.notify_all();
  store_.interrupt_waits();
}

std::string iso8601_utc(std::int64_t unix_ms) {
  std::int64_t secs = unix_ms / 1000;
  int millis = static_cast<int>(unix_ms % 1000);
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  time_t t = static_cast<time_t>(secs);
  struct tm tm_utc;
  gmtime_r(&t, &tm_utc);
  // Sized for any int fields, so the compiler can prove no truncation.
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm_utc.tm_year + 1900,
                tm_utc.tm_mon + 1, tm_utc.tm_mday, tm_utc.tm_hour, tm_utc.tm_min, tm_utc.tm_sec, millis);
  return buf;
}

std::string job_json(const JobRecord& job) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("id");
  write_string(w, job.id);
  w.Key("name");
  write_string(w, job.name);
  w.Key("status");
  w.String(job_status_name(job.status));
  w.Key("attempts");
  w.Int(job.attempts);
  w.Key("max_attempts");
  w.Int(job.max_attempts);
  w.Key("created");
  write_time(w, job.created_ms);
  w.Key("started");
  write_time(w, job.started_ms);
  w.Key("finished");
  write_time(w, job.finished_ms);
  w.Key("progress");
  w.StartObject();
  w.Key("fraction");
  w.Double(std::isfinite(job.progress) ? job.progress : 0.0);
  w.Key("message");
  write_string(w, job.progress_message);
  w.EndObject();
  if (job.status == JobStatus::kDone) {
    w.Key("result");
    // The executor produced the text; parse it so the answer is one JSON document even if the
    // text is not valid (then it is sent as a string rather than breaking the response).
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(job.result_json.data(), job.result_json.size());
    if (doc.HasParseError()) {
      write_string(w, job.result_json);
    } else {
      doc.Accept(w);
    }
  }
  if (job.status == JobStatus::kFailed || job.status == JobStatus::kCancelled) {
    w.Key("error");
    write_string(w, job.error);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace flaskpp::core
