#include "core/job_store_redis.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace flaskpp::core {

namespace {

// Shared by every script. KEYS: 1 queued, 2 running, 3 finished, 4 seq, 5 wake, 6 the job's hash
// (when the call names a job). ARGV[1] is the job hash prefix ("P job:"), ARGV[2] the wake list's
// cap; each script's own arguments follow. Times arrive as decimal text and are stored as given,
// so no Lua number is ever formatted (Lua 5.1 would print large ones in exponent form).
const char* const kPrelude = R"lua(
local Q, R, F, SEQ, WAKE = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local JP, WAKE_MAX = ARGV[1], tonumber(ARGV[2])

local function wake()
  redis.call('LPUSH', WAKE, '1')
  redis.call('LTRIM', WAKE, 0, WAKE_MAX - 1)
end

-- From running (or queued) to finished; the caller has set the hash's fields.
local function to_finished(id, now)
  redis.call('ZREM', R, id)
  redis.call('ZADD', F, now, id)
end

-- Back into the queue at its original place (created_ms, then enqueue order).
local function to_queued(k, id)
  local f = redis.call('HMGET', k, 'qm', 'created_ms')
  redis.call('ZREM', R, id)
  redis.call('ZADD', Q, f[2], f[1])
  wake()
end

-- Expired leases: cancelled when requested, failed when out of attempts, else queued again.
local function expire(now)
  local ids = redis.call('ZRANGEBYSCORE', R, '-inf', now)
  for _, id in ipairs(ids) do
    local k = JP .. id
    local f = redis.call('HMGET', k, 'cancel_requested', 'attempts', 'max_attempts')
    if not f[2] then
      redis.call('ZREM', R, id)
    elseif f[1] ~= '0' then
      redis.call('HSET', k, 'status', 'cancelled', 'error', 'cancelled by request', 'finished_ms', now,
                 'updated_ms', now, 'lease_expires_ms', '0')
      to_finished(id, now)
    elseif tonumber(f[2]) >= tonumber(f[3]) then
      redis.call('HSET', k, 'status', 'failed', 'error', 'lease expired after ' .. f[2] .. ' attempts',
                 'finished_ms', now, 'updated_ms', now, 'lease_expires_ms', '0')
      to_finished(id, now)
    else
      redis.call('HSET', k, 'status', 'queued', 'lease_owner', '', 'lease_expires_ms', '0', 'updated_ms', now)
      to_queued(k, id)
    end
  end
end

-- The oldest queued job becomes running for owner; its fields (HGETALL) or false.
local function claim(owner, now, lease_until)
  expire(now)
  while true do
    local first = redis.call('ZRANGE', Q, 0, 0)
    if #first == 0 then
      redis.call('DEL', WAKE)  -- every token left is stale: nothing is queued
      return false
    end
    local qm = first[1]
    redis.call('ZREM', Q, qm)
    local id = string.sub(qm, 18)
    local k = JP .. id
    if redis.call('EXISTS', k) == 1 then
      redis.call('HINCRBY', k, 'attempts', 1)
      redis.call('HSET', k, 'status', 'running', 'started_ms', now, 'updated_ms', now, 'progress', '0',
                 'progress_message', '', 'lease_owner', owner, 'lease_expires_ms', lease_until)
      redis.call('ZADD', R, lease_until, id)
      if redis.call('ZCARD', Q) == 0 then redis.call('DEL', WAKE) end
      return redis.call('HGETALL', k)
    end
  end
end

local function held(k, owner)
  local f = redis.call('HMGET', k, 'status', 'lease_owner')
  return f[1] == 'running' and f[2] == owner
end

local function finish(k, id, owner, status, text, now)
  if not held(k, owner) then return 0 end
  if status == 'done' then
    redis.call('HSET', k, 'status', 'done', 'result_json', text, 'error', '', 'progress', '1',
               'finished_ms', now, 'updated_ms', now, 'lease_expires_ms', '0')
  else
    redis.call('HSET', k, 'status', status, 'error', text, 'finished_ms', now, 'updated_ms', now,
               'lease_expires_ms', '0')
  end
  to_finished(id, now)
  return 1
end
)lua";

// ARGV 3 id, 4 queue_max, 5 created_ms, 6.. field/value pairs.
const RedisScript kEnqueue(std::string(kPrelude) + R"lua(
local k, id = KEYS[6], ARGV[3]
if redis.call('EXISTS', k) == 1 then return redis.error_reply('job ' .. id .. ' already exists') end
if redis.call('ZCARD', Q) + redis.call('ZCARD', R) >= tonumber(ARGV[4]) then return 0 end
local qm = string.format('%016d', redis.call('INCR', SEQ)) .. ':' .. id
redis.call('HSET', k, 'qm', qm, unpack(ARGV, 6))
redis.call('ZADD', Q, ARGV[5], qm)
wake()
return 1
)lua");

// ARGV 3 owner, 4 now, 5 lease_until.
const RedisScript kClaim(std::string(kPrelude) + R"lua(
return claim(ARGV[3], ARGV[4], ARGV[5])
)lua");

// ARGV 3 id, 4 owner, 5 status, 6 text, 7 now, 8 lease_until. Returns {kept, fields of the next...}.
const RedisScript kFinishAndClaim(std::string(kPrelude) + R"lua(
local kept = finish(KEYS[6], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
local next_job = claim(ARGV[4], ARGV[7], ARGV[8])
local out = {kept}
if next_job then
  for _, v in ipairs(next_job) do out[#out + 1] = v end
end
return out
)lua");

// ARGV 3 id, 4 owner, 5 status, 6 text, 7 now.
const RedisScript kFinish(std::string(kPrelude) + R"lua(
return finish(KEYS[6], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
)lua");

// ARGV 3 id, 4 owner, 5 now, 6 lease_until.
const RedisScript kRenew(std::string(kPrelude) + R"lua(
local k = KEYS[6]
if not held(k, ARGV[4]) then return 0 end
redis.call('HSET', k, 'lease_expires_ms', ARGV[6], 'updated_ms', ARGV[5])
redis.call('ZADD', R, ARGV[6], ARGV[3])
return 1
)lua");

// ARGV 3 id, 4 owner, 5 fraction, 6 message, 7 now.
const RedisScript kProgress(std::string(kPrelude) + R"lua(
local k = KEYS[6]
if not held(k, ARGV[4]) then return 0 end
redis.call('HSET', k, 'progress', ARGV[5], 'progress_message', ARGV[6], 'updated_ms', ARGV[7])
return 1
)lua");

// ARGV 3 id, 4 owner, 5 error, 6 now. A requested cancel wins over a retry: the client asked for
// the job to stop.
const RedisScript kRetry(std::string(kPrelude) + R"lua(
local k, id, now = KEYS[6], ARGV[3], ARGV[6]
if not held(k, ARGV[4]) then return 0 end
local f = redis.call('HMGET', k, 'cancel_requested', 'attempts', 'max_attempts')
if f[1] ~= '0' then
  redis.call('HSET', k, 'status', 'cancelled', 'error', 'cancelled by request', 'finished_ms', now,
             'updated_ms', now, 'lease_expires_ms', '0')
  to_finished(id, now)
elseif tonumber(f[2]) >= tonumber(f[3]) then
  redis.call('HSET', k, 'status', 'failed', 'error', ARGV[5], 'finished_ms', now, 'updated_ms', now,
             'lease_expires_ms', '0')
  to_finished(id, now)
else
  redis.call('HSET', k, 'status', 'queued', 'error', ARGV[5], 'finished_ms', '0', 'lease_owner', '',
             'updated_ms', now, 'lease_expires_ms', '0')
  to_queued(k, id)
end
return 1
)lua");

// ARGV 3 id, 4 owner, 5 now. The attempt is not counted.
const RedisScript kRelease(std::string(kPrelude) + R"lua(
local k, id, now = KEYS[6], ARGV[3], ARGV[5]
if not held(k, ARGV[4]) then return 0 end
local f = redis.call('HMGET', k, 'cancel_requested', 'attempts')
if f[1] ~= '0' then
  redis.call('HSET', k, 'status', 'cancelled', 'error', 'cancelled by request', 'finished_ms', now,
             'lease_owner', '', 'updated_ms', now, 'lease_expires_ms', '0')
  to_finished(id, now)
else
  if tonumber(f[2]) > 0 then redis.call('HINCRBY', k, 'attempts', -1) end
  redis.call('HSET', k, 'status', 'queued', 'finished_ms', '0', 'lease_owner', '', 'updated_ms', now,
             'lease_expires_ms', '0')
  to_queued(k, id)
end
return 1
)lua");

// ARGV 3 id, 4 now. 0 not found, 1 cancelled, 2 requested (running), 3 already finished.
const RedisScript kCancel(std::string(kPrelude) + R"lua(
local k, id, now = KEYS[6], ARGV[3], ARGV[4]
local f = redis.call('HMGET', k, 'status', 'qm')
if not f[1] then return 0 end
if f[1] == 'queued' then
  redis.call('HSET', k, 'status', 'cancelled', 'cancel_requested', '1', 'error', 'cancelled by request',
             'finished_ms', now, 'updated_ms', now)
  redis.call('ZREM', Q, f[2])
  redis.call('ZADD', F, now, id)
  return 1
end
if f[1] == 'running' then
  redis.call('HSET', k, 'cancel_requested', '1', 'updated_ms', now)
  return 2
end
return 3
)lua");

// ARGV 3 cutoff (finished_ms <= it), 4 batch. Returns {jobs deleted, non-empty spool dirs...}.
const RedisScript kPurge(std::string(kPrelude) + R"lua(
local ids = redis.call('ZRANGEBYSCORE', F, '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {#ids}
for _, id in ipairs(ids) do
  local k = JP .. id
  local dir = redis.call('HGET', k, 'spool_dir')
  if dir and dir ~= '' then out[#out + 1] = dir end
  redis.call('DEL', k)
  redis.call('ZREM', F, id)
end
return out
)lua");

const RedisScript kCountActive(std::string(kPrelude) + R"lua(
return redis.call('ZCARD', Q) + redis.call('ZCARD', R)
)lua");

std::string num(std::int64_t v) { return std::to_string(v); }

bool parse_int(const std::string& s, std::int64_t& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  out = v;
  return true;
}

}  // namespace

RedisJobStore::RedisJobStore(RedisUrl url, RedisJobStoreOptions options)
    : client_(std::move(url), options.redis),
      options_(std::move(options)),
      prefix_(options_.key_prefix + (options_.key_namespace.empty() ? "" : options_.key_namespace + ":")),
      url_text_(client_.url().str()),
      keys_{prefix_ + "queued", prefix_ + "running", prefix_ + "finished", prefix_ + "seq", prefix_ + "wake"} {
  if (options_.purge_batch == 0) options_.purge_batch = 1;
  if (options_.max_wake_tokens == 0) options_.max_wake_tokens = 1;
}

void RedisJobStore::fail(const std::string& detail) const { throw JobStoreError(url_text_, detail); }

RedisValue RedisJobStore::run(const RedisScript& script, const std::string& id, std::vector<std::string> args) {
  std::vector<std::string> keys = keys_;
  if (!id.empty()) keys.push_back(prefix_ + "job:" + id);
  args.insert(args.begin(), {prefix_ + "job:", std::to_string(options_.max_wake_tokens)});
  RedisValue v;
  try {
    v = client_.eval(script, keys, args);
  } catch (const RedisError& e) {
    fail(e.detail());
  }
  if (v.is_error()) fail(v.str);
  return v;
}

JobRecord RedisJobStore::decode(const std::vector<RedisValue>& fields, std::size_t first) const {
  JobRecord r;
  auto as_int = [&](const std::string& name, const std::string& text) {
    std::int64_t v = 0;
    if (!parse_int(text, v)) fail("job field " + name + " is not a number: " + text);
    return v;
  };
  for (std::size_t i = first; i + 1 < fields.size(); i += 2) {
    const std::string& name = fields[i].str;
    const std::string& value = fields[i + 1].str;
    if (name == "id") r.id = value;
    else if (name == "name") r.name = value;
    else if (name == "origin") r.origin = value;
    else if (name == "status") r.status = parse_job_status(value).value_or(JobStatus::kFailed);
    else if (name == "attempts") r.attempts = static_cast<int>(as_int(name, value));
    else if (name == "max_attempts") r.max_attempts = static_cast<int>(as_int(name, value));
    else if (name == "created_ms") r.created_ms = as_int(name, value);
    else if (name == "started_ms") r.started_ms = as_int(name, value);
    else if (name == "finished_ms") r.finished_ms = as_int(name, value);
    else if (name == "updated_ms") r.updated_ms = as_int(name, value);
    else if (name == "progress") r.progress = std::strtod(value.c_str(), nullptr);
    else if (name == "progress_message") r.progress_message = value;
    else if (name == "input_json") r.input_json = value;
    else if (name == "result_json") r.result_json = value;
    else if (name == "error") r.error = value;
    else if (name == "spool_dir") r.spool_dir = value;
    else if (name == "cancel_requested") r.cancel_requested = value != "0";
    else if (name == "timeout_ms") r.timeout_ms = as_int(name, value);
    else if (name == "lease_owner") r.lease_owner = value;
    else if (name == "lease_expires_ms") r.lease_expires_ms = as_int(name, value);
  }
  return r;
}

bool RedisJobStore::enqueue(const JobRecord& job, std::size_t queue_max) {
  if (job.id.empty()) fail("enqueue: the job has no id");
  std::vector<std::string> args{job.id, std::to_string(queue_max), num(job.created_ms),
                                "id", job.id,
                                "name", job.name,
                                "origin", job.origin,
                                "status", "queued",
                                "attempts", "0",
                                "max_attempts", num(job.max_attempts),
                                "created_ms", num(job.created_ms),
                                "started_ms", "0",
                                "finished_ms", "0",
                                "updated_ms", num(job.created_ms),
                                "progress", "0",
                                "progress_message", "",
                                "input_json", job.input_json,
                                "result_json", "",
                                "error", "",
                                "spool_dir", job.spool_dir,
                                "cancel_requested", "0",
                                "timeout_ms", num(job.timeout_ms),
                                "lease_owner", "",
                                "lease_expires_ms", "0"};
  RedisValue v = run(kEnqueue, job.id, std::move(args));
  return v.is_integer() && v.integer == 1;
}

std::optional<JobRecord> RedisJobStore::claim(const std::string& owner, std::int64_t now_ms, std::int64_t lease_ms) {
  RedisValue v = run(kClaim, "", {owner, num(now_ms), num(now_ms + lease_ms)});
  if (!v.is_array()) return std::nullopt;
  return decode(v.elements, 0);
}

JobStore::FinishAndClaim RedisJobStore::finish_and_claim(const std::string& id, const std::string& owner,
                                                         JobStatus status, const std::string& result_or_error,
                                                         std::int64_t now_ms, std::int64_t lease_ms) {
  FinishAndClaim out;
  if (!is_terminal(status)) return out;
  RedisValue v = run(kFinishAndClaim, id,
                     {id, owner, job_status_name(status), result_or_error, num(now_ms), num(now_ms + lease_ms)});
  if (!v.is_array() || v.elements.empty()) fail("finish_and_claim: unexpected reply");
  out.kept = v.elements[0].integer == 1;
  if (v.elements.size() > 1) out.next = decode(v.elements, 1);
  return out;
}

bool RedisJobStore::renew(const std::string& id, const std::string& owner, std::int64_t now_ms,
                          std::int64_t lease_ms) {
  return run(kRenew, id, {id, owner, num(now_ms), num(now_ms + lease_ms)}).integer == 1;
}

void RedisJobStore::progress(const std::string& id, const std::string& owner, double fraction,
                             const std::string& message, std::int64_t now_ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", fraction);
  run(kProgress, id, {id, owner, buf, message, num(now_ms)});
}

bool RedisJobStore::finish(const std::string& id, const std::string& owner, JobStatus status,
                           const std::string& result_or_error, std::int64_t now_ms) {
  if (!is_terminal(status)) return false;
  return run(kFinish, id, {id, owner, job_status_name(status), result_or_error, num(now_ms)}).integer == 1;
}

bool RedisJobStore::retry(const std::string& id, const std::string& owner, const std::string& error,
                          std::int64_t now_ms) {
  return run(kRetry, id, {id, owner, error, num(now_ms)}).integer == 1;
}

bool RedisJobStore::release(const std::string& id, const std::string& owner, std::int64_t now_ms) {
  return run(kRelease, id, {id, owner, num(now_ms)}).integer == 1;
}

JobStore::CancelResult RedisJobStore::cancel(const std::string& id, std::int64_t now_ms) {
  switch (run(kCancel, id, {id, num(now_ms)}).integer) {
    case 1:
      return CancelResult::kCancelled;
    case 2:
      return CancelResult::kRequested;
    case 3:
      return CancelResult::kAlreadyFinished;
    default:
      return CancelResult::kNotFound;
  }
}

std::optional<JobRecord> RedisJobStore::get(const std::string& id) {
  RedisValue v;
  try {
    v = client_.command({"HGETALL", prefix_ + "job:" + id});
  } catch (const RedisError& e) {
    fail(e.detail());
  }
  if (v.is_error()) fail(v.str);
  if (!v.is_array() || v.elements.empty()) return std::nullopt;
  return decode(v.elements, 0);
}

bool RedisJobStore::cancel_requested(const std::string& id) {
  RedisValue v;
  try {
    v = client_.command({"HGET", prefix_ + "job:" + id, "cancel_requested"});
  } catch (const RedisError& e) {
    fail(e.detail());
  }
  if (v.is_error()) fail(v.str);
  return v.is_string() && v.str != "0";
}

std::vector<std::string> RedisJobStore::purge_finished(std::int64_t now_ms, std::int64_t retention_ms) {
  std::vector<std::string> dirs;
  for (;;) {
    RedisValue v = run(kPurge, "", {num(now_ms - retention_ms), std::to_string(options_.purge_batch)});
    if (!v.is_array() || v.elements.empty()) fail("purge: unexpected reply");
    for (std::size_t i = 1; i < v.elements.size(); ++i) dirs.push_back(std::move(v.elements[i].str));
    if (v.elements[0].integer < static_cast<long long>(options_.purge_batch)) break;
  }
  return dirs;
}

std::size_t RedisJobStore::count_active() {
  RedisValue v = run(kCountActive, "", {});
  return v.integer > 0 ? static_cast<std::size_t>(v.integer) : 0;
}

bool RedisJobStore::wait_for_work(std::int64_t timeout_ms, std::uint64_t interrupts_seen) {
  std::string wake_key = prefix_ + "wake";
  RedisValue v;
  try {
    if (timeout_ms <= 0) {
      v = client_.command({"LPOP", wake_key});
    } else {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.3f", static_cast<double>(timeout_ms) / 1000.0);
      v = client_.blocking_command({"BLPOP", wake_key, secs}, timeout_ms, interrupts_seen);
    }
  } catch (const RedisError& e) {
    fail(e.detail());
  }
  if (v.is_error()) fail(v.str);
  return !v.is_nil();
}

}  // namespace flaskpp::core
