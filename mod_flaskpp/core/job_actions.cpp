// The job actions (job, job-status, job-cancel) and running a job's attempt (App::run_job): a
// job's input is the accepting request's JSON, query, form, route parameters and files (copied
// into the job's spool directory so they outlive the request).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/app.hpp"
#include "core/errors.hpp"
#include "core/json.hpp"
#include "core/plugins.hpp"

namespace flaskpp::core {

namespace {

// The job store failed under a request (SQLite unwritable, Redis down): 503 with Retry-After,
// never a 500 and never a job accepted; one warning per interval per process, the rest at debug.
[[noreturn]] void store_unavailable(const Exchange& ex, JobQueue& jobs, const char* what, const JobStoreError& e) {
  const bool warn = jobs.note_store_failure();
  std::string line = std::string(what) + ": " + e.what();
  if (warn) {
    ex.log.log(LogLevel::kWarn, tag::kJobStoreUnavailable,
               line + "; answered 503, further failures within " + std::to_string(JobQueue::kStoreWarnEvery) +
                   "s log at debug");
  } else if (ex.log.enabled(LogLevel::kDebug)) {
    ex.log.log(LogLevel::kDebug, tag::kJobStoreUnavailable, line);
  }
  throw ServiceUnavailable("the job store is not available", jobs.options().retry_after_seconds,
                           /*already_logged=*/true);
}

void write_pairs(JsonWriter& w, const StringPairs& pairs) {
  w.StartArray();
  for (const auto& [k, v] : pairs) {
    w.StartArray();
    write_string(w, k);
    write_string(w, v);
    w.EndArray();
  }
  w.EndArray();
}

StringPairs read_pairs(const rapidjson::Value& v) {
  StringPairs out;
  if (!v.IsArray()) return out;
  for (const auto& p : v.GetArray()) {
    if (p.IsArray() && p.Size() == 2 && p[0].IsString() && p[1].IsString()) {
      out.emplace_back(p[0].GetString(), p[1].GetString());
    }
  }
  return out;
}

std::string str(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it != obj.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                                       : std::string();
}

// "application/json; charset=utf-8" -> "application/json"
std::string media_type_of(const std::string& content_type) {
  return to_lower(content_type.substr(0, content_type.find(';')));
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("the job's input file is gone");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes `data` to `path` and syncs it: the job is committed (and answered 202) only after its
// files are on disk.
void write_spool_file(const std::string& path, const std::string& data) {
  FILE* f = std::fopen(path.c_str(), "wbx");
  if (!f) throw InternalError("cannot create the job's input file: " + std::string(std::strerror(errno)));
  bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size() && std::fflush(f) == 0 &&
            ::fsync(::fileno(f)) == 0;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) throw InternalError("cannot write the job's input file: " + std::string(std::strerror(errno)));
}

// The job's input, as stored with it.
struct JobInput {
  Request request;
  Params params;
};

JobInput decode_input(const std::string& input_json) {
  rapidjson::Document d;
  d.Parse(input_json.c_str(), input_json.size());
  if (d.HasParseError() || !d.IsObject()) throw std::runtime_error("the job's stored input is not valid");
  JobInput in;
  in.request.method = str(d, "method");
  in.request.path = str(d, "path");
  in.request.query = str(d, "query");
  in.request.remote_addr = str(d, "remote_addr");
  in.request.host_url = str(d, "host_url");
  std::string type = str(d, "content_type");
  if (!type.empty()) in.request.headers.emplace_back("content-type", type);
  if (d.HasMember("json") && !d["json"].IsNull()) {
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    d["json"].Accept(w);
    in.request.body.assign(buf.GetString(), buf.GetSize());
  }
  if (d.HasMember("form")) in.request.form = read_pairs(d["form"]);
  if (d.HasMember("files") && d["files"].IsArray()) {
    for (const auto& f : d["files"].GetArray()) {
      if (!f.IsObject()) continue;
      FileInfo info;
      info.field = str(f, "field");
      info.filename = str(f, "filename");
      info.content_type = str(f, "content_type");
      info.path = str(f, "path");
      if (f.HasMember("size") && f["size"].IsUint64()) info.size = f["size"].GetUint64();
      in.request.files.push_back(std::move(info));
    }
  }
  if (d.HasMember("params") && d["params"].IsArray()) {
    for (const auto& p : d["params"].GetArray()) {
      if (!p.IsArray() || p.Size() != 3 || !p[0].IsString() || !p[1].IsString() || !p[2].IsString()) continue;
      ParamValue v;
      v.kind = converter_kind(p[1].GetString()).value_or(ConverterKind::kString);
      v.text = p[2].GetString();
      if (v.kind == ConverterKind::kInt) v.int_value = std::strtoll(v.text.c_str(), nullptr, 10);
      if (v.kind == ConverterKind::kFloat) v.float_value = std::strtod(v.text.c_str(), nullptr);
      in.params.emplace_back(p[0].GetString(), std::move(v));
    }
  }
  return in;
}

// The SDK's view of a running job.
class SdkJobContext final : public flaskpp::JobContext {
 public:
  SdkJobContext(const JobRecord& job, JobControl& control, flaskpp::Request request, PluginLogger& log)
      : job_(job), control_(control), request_(std::move(request)), log_(log) {
    request_.logger = &log_;
  }
  const std::string& id() const override { return job_.id; }
  int attempt() const override { return job_.attempts; }
  const flaskpp::Request& input() const override { return request_; }
  void progress(double fraction, const std::string& message) override { control_.progress(fraction, message); }
  bool cancelled() const override { return control_.cancelled(); }
  flaskpp::Logger& log() override { return log_; }

 private:
  const JobRecord& job_;
  JobControl& control_;
  flaskpp::Request request_;
  PluginLogger& log_;
};

}  // namespace

std::string App::job_status_url(const std::string& id) const {
  return job_status_url_prefix_ + id + job_status_url_suffix_;
}

Response App::job_action(const Exchange& ex) const {
  const Request& req = ex.request;
  const RouteDecl& route = ex.route;
  std::string type = req.content_type();
  rapidjson::Document json;
  if (is_json_media_type(type)) json = parse_json_body(req.body, json_max_depth_);

  JobRecord job;
  job.id = new_job_id();
  job.name = route.target;
  job.origin = settings_.job_origin;
  job.max_attempts = route.job_attempts;
  job.timeout_ms = route.job_timeout_ms;

  // Files go to the job's spool directory first; a job that cannot be stored takes them back.
  std::string spool;
  struct SpoolGuard {
    std::string dir;
    bool keep = false;
    ~SpoolGuard() {
      if (!dir.empty() && !keep) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    }
  } guard;
  std::vector<std::string> paths;
  if (!req.files.empty()) {
    spool = settings_.job_spool_dir + "/" + job.id;
    if (::mkdir(spool.c_str(), 0750) != 0) {
      throw InternalError("cannot create the job's spool directory: " + std::string(std::strerror(errno)));
    }
    guard.dir = spool;
    for (std::size_t i = 0; i < req.files.size(); ++i) {
      paths.push_back(spool + "/" + std::to_string(i) + ".bin");
      write_spool_file(paths.back(), req.files[i].data);
    }
    job.spool_dir = spool;
  }

  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("method");
  write_string(w, req.method);
  w.Key("path");
  write_string(w, req.path);
  w.Key("query");
  write_string(w, req.query);
  w.Key("host_url");
  write_string(w, req.host_url);
  w.Key("remote_addr");
  write_string(w, req.remote_addr);
  w.Key("content_type");
  write_string(w, type);
  w.Key("json");
  if (json.IsNull()) w.Null();
  else json.Accept(w);
  w.Key("form");
  write_pairs(w, req.form);
  w.Key("params");
  w.StartArray();
  for (const auto& [name, v] : ex.match.params) {
    w.StartArray();
    write_string(w, name);
    w.String(converter_name(v.kind));
    write_string(w, v.text);
    w.EndArray();
  }
  w.EndArray();
  w.Key("files");
  w.StartArray();
  for (std::size_t i = 0; i < req.files.size(); ++i) {
    const FileInfo& f = req.files[i];
    w.StartObject();
    w.Key("field");
    write_string(w, f.field);
    w.Key("filename");
    write_string(w, f.filename);
    w.Key("content_type");
    write_string(w, f.content_type);
    w.Key("size");
    w.Uint64(f.size);
    w.Key("path");
    write_string(w, paths[i]);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  job.input_json.assign(buf.GetString(), buf.GetSize());

  JobRecord stored;
  try {
    stored = settings_.jobs->submit(std::move(job));
  } catch (const JobStoreError& e) {
    store_unavailable(ex, *settings_.jobs, "job not accepted", e);
  }
  guard.keep = true;

  std::string url = job_status_url(stored.id);
  Response resp;
  resp.status = 202;
  resp.content_type = json_mimetype_;
  resp.headers.emplace_back("Location", url);
  resp.headers.emplace_back("Cache-Control", "no-store");
  rapidjson::StringBuffer out;
  JsonWriter o(out);
  o.StartObject();
  o.Key("id");
  o.String(stored.id.c_str());
  o.Key("status");
  o.String(job_status_name(stored.status));
  o.Key("status_url");
  write_string(o, url);
  o.EndObject();
  resp.body.assign(out.GetString(), out.GetSize());
  resp.body += "\n";
  return resp;
}

Response App::job_status_action(const Exchange& ex) const {
  const std::string& id = ex.match.params.front().second.text;
  std::optional<JobRecord> job;
  try {
    if (is_job_id(id)) job = settings_.jobs->get(id);
  } catch (const JobStoreError& e) {
    store_unavailable(ex, *settings_.jobs, "job status not read", e);
  }
  if (!job) throw NotFound("no job " + id);
  Response resp;
  resp.content_type = json_mimetype_;
  resp.headers.emplace_back("Cache-Control", "no-store");
  resp.body = job_json(*job) + "\n";
  return resp;
}

Response App::job_cancel_action(const Exchange& ex) const {
  const std::string& id = ex.match.params.front().second.text;
  if (!is_job_id(id)) throw NotFound("no job " + id);
  JobStore::CancelResult result{};
  std::optional<JobRecord> job;
  try {
    result = settings_.jobs->cancel(id);
    job = settings_.jobs->get(id);
  } catch (const JobStoreError& e) {
    store_unavailable(ex, *settings_.jobs, "job not cancelled", e);
  }
  switch (result) {
    case JobStore::CancelResult::kNotFound:
      throw NotFound("no job " + id);
    case JobStore::CancelResult::kAlreadyFinished:
      throw HttpError(409, "job " + id + " has already finished");
    case JobStore::CancelResult::kCancelled:
    case JobStore::CancelResult::kRequested:
      break;
  }
  if (!job) throw NotFound("no job " + id);
  Response resp;
  // A running job sees the request between its steps: 202 until it stops.
  resp.status = job->status == JobStatus::kRunning ? 202 : 200;
  resp.content_type = json_mimetype_;
  resp.headers.emplace_back("Cache-Control", "no-store");
  resp.body = job_json(*job) + "\n";
  return resp;
}

JobOutcome App::run_job(const JobRecord& job, JobControl& control, const JobFunctionRef* function, Logger& log) const {
  try {
    return run_job_attempt(job, control, function, log);
  } catch (const std::exception& e) {
    return internal_job_failure(job, e.what(), log);
  }
}

// A failure inside: the detail goes to the log (with the job's id), the status endpoint shows
// it only in development, as error pages do.
JobOutcome App::internal_job_failure(const JobRecord& job, const std::string& detail, Logger& log) const {
  log.log(LogLevel::kError, tag::kPluginFailed, "job " + job.id + " (" + job.name + "): " + sanitize_utf8(detail));
  return JobOutcome::failed(settings_.env == Env::kDevelopment ? detail : std::string(reason_phrase(500)), true);
}

JobOutcome App::run_job_attempt(const JobRecord& job, JobControl& control, const JobFunctionRef* function,
                                Logger& log) const {
  JobInput in = decode_input(job.input_json);
  if (function) {
    // A plugin's job function, with the SDK's view of the input.
    HandlerContext ctx{*this, in.request, in.params, log};
    for (FileInfo& f : in.request.files) f.data.clear();  // the plugin reads them from `path`
    flaskpp::Request sdk = make_sdk_request(ctx);
    const std::string prefix = "plugin " + function->plugin->name() + " job " + job.name + " " + job.id + ": ";
    PluginLogger plog(log, prefix);
    SdkJobContext sdk_job(job, control, std::move(sdk), plog);
    rapidjson::Document output;
    flaskpp::detail::CallResult result;
    function->slot->call(sdk_job, output, result);
    switch (result.kind) {
      case flaskpp::detail::CallResult::Kind::kOk: {
        rapidjson::StringBuffer buf;
        JsonWriter w(buf);
        output.Accept(w);
        return JobOutcome::done(std::string(buf.GetString(), buf.GetSize()));
      }
      case flaskpp::detail::CallResult::Kind::kAbort:
        // abort() in a job: the input is wrong, another attempt would fail the same way.
        return JobOutcome::failed(result.message.empty() ? status_description(result.code) : result.message, false);
      case flaskpp::detail::CallResult::Kind::kException:
        return internal_job_failure(
            job, "job '" + job.name + "' of plugin " + function->plugin->name() + " threw: " + result.message, log);
    }
  }
  // Any handler: its JSON answer becomes the result.
  const Handler* handler = handlers_.find(job.name);
  if (!handler) return JobOutcome::failed("no job or handler named '" + job.name + "' is loaded", false);
  for (FileInfo& f : in.request.files) f.data = read_whole_file(f.path);
  try {
    Response resp = (*handler)(HandlerContext{*this, in.request, in.params, log});
    if (resp.status >= 200 && resp.status < 300 && is_json_media_type(media_type_of(resp.content_type))) {
      std::string body = resp.body;
      while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
      return JobOutcome::done(body);
    }
    // Not JSON: the answer, described.
    rapidjson::StringBuffer buf;
    JsonWriter w(buf);
    w.StartObject();
    w.Key("status");
    w.Int(resp.status);
    w.Key("content_type");
    write_string(w, resp.content_type);
    w.Key("body");
    write_string(w, resp.body);
    w.EndObject();
    std::string described(buf.GetString(), buf.GetSize());
    if (resp.status >= 200 && resp.status < 300) return JobOutcome::done(described);
    return JobOutcome::failed("the handler answered " + std::to_string(resp.status), resp.status >= 500);
  } catch (const HttpError& e) {
    // 4xx: the input is wrong (no retry), and its message is meant for the client; 5xx: an
    // internal failure that may pass on another attempt.
    if (e.status() >= 500) return internal_job_failure(job, e.what(), log);
    return JobOutcome::failed(std::to_string(e.status()) + ": " + e.what(), false);
  }
}

}  // namespace flaskpp::core
