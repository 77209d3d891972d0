// mod_flaskpp plugin SDK: the one header a plugin includes.
//
//   #include <flaskpp/flaskpp.hpp>
//
//   FLASKPP_PLUGIN(app) {
//     app.handler("hello", [](const flaskpp::Request& req) {
//       return flaskpp::jsonify_object({{"hello", req.arg("name").value_or("world")}});
//     }, {"Says hello"});
//     app.job("slow", [](flaskpp::JobContext& job) { job.progress(0.5, "half way"); return ...; });
//     app.on_start([](const flaskpp::PluginContext& ctx) { /* load a model once, in the parent */ });
//   }
//
// Build it with the installed CMake package (find_package(flaskpp) + flaskpp_add_plugin) and load
// it with `FlaskppPlugin NAME /path/to/plugin.so [key=value ...]`; route to it with
// `FlaskppRoute POST /api/hello handler hello` or `... job slow`.
//
// THREADS. Apache's event MPM runs handlers on many threads at once, in several processes:
//   - a handler and a job function are called concurrently, from many threads: they must be
//     thread-safe (read shared data only, or guard what they change);
//   - on_start runs once in Apache's parent process after the configuration is read, before any
//     request; what it builds is shared copy-on-write by every child: load models there, and treat
//     them as read-only afterwards;
//   - on_child_start / on_child_stop run once per child process, single-threaded, before its
//     first request and after its last: open and close per-process resources there (connections,
//     thread pools);
//   - Request, Response and JobContext belong to one call and one thread.
// TRUST. A plugin is code running inside Apache, as trusted as a LoadModule'd module. on_start
// runs in the parent, which is root when Apache is started as root; request handlers, jobs and
// the child hooks run as Apache's User, so files created at run time belong to that user.
//
// ERRORS. Throw flaskpp::abort(code, message) (or HttpError) for an HTTP error: the client gets
// the usual JSON (JSON routes) or HTML error answer. Any other exception is a 500 for the client
// (no detail in production), logged with the handler's and the plugin's name; the process keeps
// serving. In a job, abort() fails the job at once (bad input: no retry); any other exception
// fails this attempt, and the job is retried while attempts remain.
//
// This header holds no Apache, APR or mstch type; RapidJSON (rapidjson-dev) is its only
// dependency. Exceptions never cross between the plugin and the module: the registration code
// below, compiled into the plugin, catches them on the plugin's side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <stdexcept>

// RapidJSON misuse (GetInt() on a string, ...) throws, and so becomes a 500 answer, instead of
// asserting (or, with NDEBUG, undefined behaviour) inside Apache.
#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x) \
  do { if (!(x)) throw std::logic_error("RapidJSON assertion failed: " #x); } while (0)
#endif
#ifndef RAPIDJSON_HAS_STDSTRING
#define RAPIDJSON_HAS_STDSTRING 1
#endif
#ifndef RAPIDJSON_NOEXCEPT_ASSERT
#define RAPIDJSON_NOEXCEPT_ASSERT(x)
#endif
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#define FLASKPP_SDK_VERSION_MAJOR 1
#define FLASKPP_SDK_VERSION_MINOR 1

#if defined(__GNUC__)
#define FLASKPP_EXPORT __attribute__((visibility("default")))
#else
#define FLASKPP_EXPORT
#endif

namespace flaskpp {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// First value of `name` in `pairs`.
inline std::optional<std::string> first_value(const Pairs& pairs, std::string_view name) {
  for (const auto& [k, v] : pairs) {
    if (k == name) return v;
  }
  return std::nullopt;
}

// ---- logging -------------------------------------------------------------------------------
enum class LogLevel { kError, kWarn, kInfo, kDebug };

// Apache's error log, under `LogLevel flaskpp:LEVEL`; each line names the plugin (and handler or
// job). Never log request bodies, cookies, tokens or secrets. Thread-safe.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual bool enabled(LogLevel level) const = 0;
  virtual void log(LogLevel level, const std::string& message) = 0;
  void error(const std::string& m) { log(LogLevel::kError, m); }
  void warn(const std::string& m) { log(LogLevel::kWarn, m); }
  void info(const std::string& m) { log(LogLevel::kInfo, m); }
  void debug(const std::string& m) {
    if (enabled(LogLevel::kDebug)) log(LogLevel::kDebug, m);
  }
};

// ---- errors --------------------------------------------------------------------------------
// An HTTP error answer, Flask's abort(). Codes 400..599.
class HttpError : public std::exception {
 public:
  HttpError(int code, std::string message) : code_(code), message_(std::move(message)) {}
  int code() const noexcept { return code_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  int code_;
  std::string message_;
};

[[noreturn]] inline void abort(int code, std::string message = {}) { throw HttpError(code, std::move(message)); }

// ---- the request ---------------------------------------------------------------------------
// A route parameter, typed by its converter (<int:id>, <float:x>, <uuid:u>, <path:p>, ...).
struct Param {
  enum class Kind { kString, kInt, kFloat, kPath, kUuid, kAny };
  std::string name;
  Kind kind = Kind::kString;
  std::string text;           // as matched in the path (decoded)
  std::int64_t int_value = 0;  // kInt
  double float_value = 0;      // kFloat
};

// A file sent in a multipart/form-data body.
struct UploadedFile {
  std::string field;         // form field name
  std::string filename;      // as sent by the client: never use it as a path
  std::string content_type;  // as sent by the client: check the bytes, not this
  std::uint64_t size = 0;    // bytes
  std::string data;          // handlers: the bytes (bounded by MAX_CONTENT_LENGTH)
  std::string path;          // jobs: the file in the job's spool directory (data is empty then)

  // The bytes, from memory or from `path`. Throws std::runtime_error when the file is unreadable.
  std::string bytes() const {
    if (path.empty()) return data;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read uploaded file " + filename);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }
};

struct Request {
  std::string method;       // "GET", "POST", ...
  std::string path;         // decoded, normalised path that matched the route
  std::string query;        // raw query string, without '?'
  std::string url;          // full URL as the client asked for it
  std::string remote_addr;  // client address (mod_remoteip aware)
  std::vector<Param> params;  // route parameters, in pattern order
  Pairs args;                 // query string, decoded, in order
  Pairs form;                 // urlencoded or multipart fields, in order
  std::vector<UploadedFile> files;
  Pairs headers;              // names in lower case, in arrival order
  Pairs cookies;
  std::string content_type;  // media type only, lower case ("application/json")
  std::string body;          // raw body (not for multipart)
  // The parsed JSON body (strict RFC 8259, depth-limited) when the Content-Type is JSON; Null
  // otherwise. An invalid JSON body is answered 400 before the handler runs.
  rapidjson::Document json;
  const rapidjson::Value* config = nullptr;  // app config without secrets (an object); may be null in tests
  // Flask's session (SDK 1.1): the signed cookie's object, {} without a valid cookie; Null when
  // sessions are off (no FlaskppSecretKey) and in jobs. To change it, give the Response a new one
  // (Response::set_session); flashes ride on it (flash(), get_flashed_messages()).
  rapidjson::Document session;
  Logger* logger = nullptr;                  // never null when the module calls you

  bool is_json() const { return !json.IsNull(); }
  std::optional<std::string> arg(std::string_view name) const { return first_value(args, name); }
  std::optional<std::string> form_value(std::string_view name) const { return first_value(form, name); }
  std::optional<std::string> cookie(std::string_view name) const { return first_value(cookies, name); }
  // A header by name, case-insensitive.
  std::optional<std::string> header(std::string_view name) const {
    std::string lower(name);
    for (auto& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return first_value(headers, lower);
  }
  const Param* param(std::string_view name) const {
    for (const auto& p : params) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }
  const UploadedFile* file(std::string_view field) const {
    for (const auto& f : files) {
      if (f.field == field) return &f;
    }
    return nullptr;
  }
  // A config value by key (nullptr when absent).
  const rapidjson::Value* config_value(std::string_view key) const {
    if (!config || !config->IsObject()) return nullptr;
    auto it = config->FindMember(rapidjson::Value(rapidjson::StringRef(key.data(), key.size())));
    return it == config->MemberEnd() ? nullptr : &it->value;
  }
  Logger& log() const { return *logger; }
};

// ---- the response --------------------------------------------------------------------------
struct Response {
  int status = 200;
  std::string content_type = "text/html; charset=utf-8";
  Pairs headers;
  std::string body;
  // render_template(): the module renders this template with the usual context (route params,
  // args, form, config, request, env) plus `template_context` (a JSON object, as text).
  std::string template_name;
  std::string template_context;
  // send_file(): Apache sends this file (conditional requests, ranges of its own).
  std::string file_path;
  std::string download_name;  // with as_attachment: Content-Disposition: attachment
  bool as_attachment = false;
  std::optional<long> max_age;  // seconds; unset: SEND_FILE_MAX_AGE_DEFAULT
  // set_session() / clear_session(): the session to sign into the cookie (a JSON object as text).
  std::string session_json;
  bool session_set = false;

  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  // Flask's set_cookie. `max_age` < 0: a session cookie. samesite: "", "Lax", "Strict", "None".
  Response& set_cookie(const std::string& key, const std::string& value = {}, long max_age = -1,
                       const std::string& path = "/", const std::string& domain = {}, bool secure = false,
                       bool httponly = false, const std::string& samesite = {}) {
    std::string c = key + "=" + value;
    if (max_age >= 0) c += "; Max-Age=" + std::to_string(max_age);
    if (!domain.empty()) c += "; Domain=" + domain;
    if (secure) c += "; Secure";
    if (httponly) c += "; HttpOnly";
    if (!path.empty()) c += "; Path=" + path;
    if (!samesite.empty()) c += "; SameSite=" + samesite;
    return header("Set-Cookie", std::move(c));
  }
  // Replaces the session with `object` (a JSON object; e.g. a copy of request.session, changed).
  // An empty object deletes the cookie. The answer gets Vary: Cookie.
  Response& set_session(const rapidjson::Value& object);
  Response& clear_session() { session_json = "{}"; session_set = true; return *this; }
  Response& delete_cookie(const std::string& key, const std::string& path = "/", const std::string& domain = {}) {
    std::string c = key + "=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0";
    if (!domain.empty()) c += "; Domain=" + domain;
    if (!path.empty()) c += "; Path=" + path;
    return header("Set-Cookie", std::move(c));
  }
};

inline std::string to_json(const rapidjson::Value& value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  value.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

inline Response& Response::set_session(const rapidjson::Value& object) {
  if (!object.IsObject()) throw std::invalid_argument("a session must be a JSON object");
  session_json = to_json(object);
  session_set = true;
  return *this;
}

// Flask's flash(message, category): adds a message to `session` (a copy of request.session that
// the answer then sets with set_session). Stored as Flask stores them: "_flashes": [[cat, msg]].
inline void flash(rapidjson::Document& session, const std::string& message, const std::string& category = "message") {
  auto& a = session.GetAllocator();
  if (!session.IsObject()) session.SetObject();
  if (!session.HasMember("_flashes") || !session["_flashes"].IsArray()) {
    session.RemoveMember("_flashes");
    session.AddMember("_flashes", rapidjson::Value(rapidjson::kArrayType), a);
  }
  rapidjson::Value pair(rapidjson::kArrayType);
  pair.PushBack(rapidjson::Value(category.c_str(), a), a).PushBack(rapidjson::Value(message.c_str(), a), a);
  session["_flashes"].PushBack(pair, a);
}

// Flask's jsonify: the value as a JSON answer (content type from JSONIFY_MIMETYPE).
inline Response jsonify(const rapidjson::Value& value, int status = 200) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = to_json(value) + "\n";
  return r;
}

// A JSON value from C++ values, for the common case: {{"digit", 3}, {"ok", true}}.
class JsonValue {
 public:
  JsonValue(std::nullptr_t) {}
  JsonValue(bool b) : kind_(Kind::kBool), b_(b) {}
  JsonValue(int i) : kind_(Kind::kInt), i_(i) {}
  JsonValue(long i) : kind_(Kind::kInt), i_(i) {}
  JsonValue(long long i) : kind_(Kind::kInt), i_(i) {}
  JsonValue(unsigned i) : kind_(Kind::kInt), i_(i) {}
  JsonValue(double d) : kind_(Kind::kDouble), d_(d) {}
  JsonValue(const char* s) : kind_(Kind::kString), s_(s) {}
  JsonValue(std::string s) : kind_(Kind::kString), s_(std::move(s)) {}
  JsonValue(std::vector<JsonValue> a) : kind_(Kind::kArray), items_(std::move(a)) {}
  JsonValue(std::vector<double> a) : kind_(Kind::kArray) { items_.assign(a.begin(), a.end()); }
  JsonValue(std::initializer_list<std::pair<const std::string, JsonValue>> o) : kind_(Kind::kObject) {
    for (const auto& kv : o) members_.emplace_back(kv.first, kv.second);
  }
  static JsonValue array(std::vector<JsonValue> items) { return JsonValue(std::move(items)); }

  rapidjson::Value to_value(rapidjson::Document::AllocatorType& a) const {
    rapidjson::Value v;
    switch (kind_) {
      case Kind::kNull: break;
      case Kind::kBool: v.SetBool(b_); break;
      case Kind::kInt: v.SetInt64(i_); break;
      case Kind::kDouble: v.SetDouble(d_); break;
      case Kind::kString: v.SetString(s_.data(), static_cast<rapidjson::SizeType>(s_.size()), a); break;
      case Kind::kArray:
        v.SetArray();
        for (const auto& item : items_) v.PushBack(item.to_value(a), a);
        break;
      case Kind::kObject:
        v.SetObject();
        for (const auto& [k, item] : members_) {
          v.AddMember(rapidjson::Value(k.data(), static_cast<rapidjson::SizeType>(k.size()), a), item.to_value(a), a);
        }
        break;
    }
    return v;
  }
  rapidjson::Document to_document() const {
    rapidjson::Document d;
    rapidjson::Value v = to_value(d.GetAllocator());
    static_cast<rapidjson::Value&>(d) = v;  // moves
    return d;
  }

 private:
  enum class Kind { kNull, kBool, kInt, kDouble, kString, kArray, kObject };
  Kind kind_ = Kind::kNull;
  bool b_ = false;
  std::int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

inline Response jsonify(const JsonValue& value, int status = 200) { return jsonify(value.to_document(), status); }
// jsonify({{"digit", 3}, {"ok", true}})
inline Response jsonify(std::initializer_list<std::pair<const std::string, JsonValue>> object, int status = 200) {
  return jsonify(JsonValue(object), status);
}

// Flask's render_template: renders NAME from FlaskppTemplateDir with the usual context plus
// `context` (a JSON object; its keys are added at the top level).
inline Response render_template(std::string name, const rapidjson::Value& context) {
  Response r;
  r.template_name = std::move(name);
  r.template_context = context.IsObject() ? to_json(context) : "{}";
  return r;
}
inline Response render_template(std::string name, const JsonValue& context = JsonValue({})) {
  return render_template(std::move(name), context.to_document());
}

// Flask's redirect (302 by default; 301, 303, 307, 308).
inline Response redirect(const std::string& location, int code = 302) {
  Response r;
  r.status = code;
  r.header("Location", location);
  r.body = "<!doctype html>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n";
  return r;
}

// Flask's send_file: Apache sends the file (an absolute path; never build it from request data
// without checking it stays in your directory) with
// Last-Modified, ETag and conditional requests; Cache-Control from `max_age` or the config's
// SEND_FILE_MAX_AGE_DEFAULT (none: "no-cache"). `mimetype` empty: from the file name (mod_mime).
// A missing file is a 404.
inline Response send_file(std::string path, std::string mimetype = {}, bool as_attachment = false,
                          std::string download_name = {}, std::optional<long> max_age = std::nullopt) {
  Response r;
  r.file_path = std::move(path);
  r.content_type = std::move(mimetype);
  r.as_attachment = as_attachment;
  r.download_name = std::move(download_name);
  r.max_age = max_age;
  return r;
}

// ---- jobs ----------------------------------------------------------------------------------
// What a job function sees. Its input is the accepting request's JSON, args, form and files
// (files have `path` set: they live in the job's spool directory until the job is removed).
class JobContext {
 public:
  virtual ~JobContext() = default;
  virtual const std::string& id() const = 0;
  virtual int attempt() const = 0;  // 1 for the first run
  virtual const Request& input() const = 0;
  // Progress for GET /jobs/<id>: fraction 0..1 and a short message.
  virtual void progress(double fraction, const std::string& message = {}) = 0;
  // True once the job is cancelled (DELETE), its timeout has passed or Apache is stopping the
  // process: return soon; the answer is then discarded.
  virtual bool cancelled() const = 0;
  virtual Logger& log() = 0;
};

// ---- registration --------------------------------------------------------------------------
// Metadata for the route's documentation (the OpenAPI document).
struct HandlerInfo {
  std::string summary;
  std::string request_schema;   // JSON Schema of the request body, as JSON text
  std::string response_schema;  // JSON Schema of a 200 answer, as JSON text
};

// What on_start / on_child_start / on_child_stop see.
struct PluginContext {
  std::string name;  // the NAME of `FlaskppPlugin NAME PATH [key=value ...]`
  std::string path;  // the plugin's file
  Pairs options;     // the key=value arguments, in order
  Logger* logger = nullptr;

  std::optional<std::string> option(std::string_view key) const { return first_value(options, key); }
  Logger& log() const { return *logger; }
};

using HandlerFunction = std::function<Response(const Request&)>;
using JobFunction = std::function<rapidjson::Document(JobContext&)>;
using HookFunction = std::function<void(const PluginContext&)>;

namespace detail {

// How a call into the plugin ended; filled on the plugin's side so no exception crosses.
struct CallResult {
  enum class Kind { kOk, kAbort, kException };
  Kind kind = Kind::kOk;
  int code = 0;         // kAbort: the HTTP status
  std::string message;  // kAbort / kException: what()
};

template <typename F>
void guarded(CallResult& out, F&& f) noexcept {
  try {
    try {
      f();
      out.kind = CallResult::Kind::kOk;
    } catch (const HttpError& e) {
      out.kind = CallResult::Kind::kAbort;
      out.code = e.code();
      out.message = e.what();
    } catch (const std::exception& e) {
      out.kind = CallResult::Kind::kException;
      out.message = e.what();
    } catch (...) {
      out.kind = CallResult::Kind::kException;
      out.message = "unknown exception";
    }
  } catch (...) {  // out of memory while copying the message
    out.kind = CallResult::Kind::kException;
  }
}

class HandlerSlot {
 public:
  virtual ~HandlerSlot() = default;
  virtual void call(const Request& request, Response& response, CallResult& result) noexcept = 0;
};
class JobSlot {
 public:
  virtual ~JobSlot() = default;
  virtual void call(JobContext& job, rapidjson::Document& output, CallResult& result) noexcept = 0;
};
class HookSlot {
 public:
  virtual ~HookSlot() = default;
  virtual void call(const PluginContext& context, CallResult& result) noexcept = 0;
};

enum class Hook { kStart, kChildStart, kChildStop };

// Implemented by the module. Never throws; problems (a name registered twice) are collected and
// reported after registration, stopping Apache's startup.
class Registrar {
 public:
  virtual ~Registrar() = default;
  virtual void add_handler(const std::string& name, HandlerSlot* slot, const HandlerInfo& info) noexcept = 0;
  virtual void add_job(const std::string& name, JobSlot* slot, const HandlerInfo& info) noexcept = 0;
  virtual void add_hook(Hook hook, HookSlot* slot) noexcept = 0;
  virtual void fail(const std::string& message) noexcept = 0;
};

class FunctionHandler final : public HandlerSlot {
 public:
  explicit FunctionHandler(HandlerFunction f) : f_(std::move(f)) {}
  void call(const Request& request, Response& response, CallResult& result) noexcept override {
    guarded(result, [&] { response = f_(request); });
  }

 private:
  HandlerFunction f_;
};
class FunctionJob final : public JobSlot {
 public:
  explicit FunctionJob(JobFunction f) : f_(std::move(f)) {}
  void call(JobContext& job, rapidjson::Document& output, CallResult& result) noexcept override {
    guarded(result, [&] { output = f_(job); });
  }

 private:
  JobFunction f_;
};
class FunctionHook final : public HookSlot {
 public:
  explicit FunctionHook(HookFunction f) : f_(std::move(f)) {}
  void call(const PluginContext& context, CallResult& result) noexcept override {
    guarded(result, [&] { f_(context); });
  }

 private:
  HookFunction f_;
};

// The ABI stamp: a plugin is loaded only when all of it matches the module's.
struct AbiStamp {
  std::uint32_t magic;       // kAbiMagic
  std::uint32_t stamp_size;  // sizeof(AbiStamp)
  std::uint32_t sdk_major;
  std::uint32_t sdk_minor;
  std::uint32_t stdlib;       // kStdlib: the C++ standard library whose types cross (layout)
  std::uint32_t cxx11_abi;    // _GLIBCXX_USE_CXX11_ABI (std::string and std::list layout)
  std::uint32_t sizes[10];    // sizes of the types that cross between plugin and module
  const char* compiler;       // for messages
};
constexpr std::uint32_t kAbiMagic = 0x464c5350;  // "FLSP"

// GCC and clang both use the Itanium C++ ABI on Linux and can mix in one process; what must
// agree is the standard library the shared types come from, and its std::string ABI. (Name
// mangling versions do not matter: no symbol is resolved between plugin and module.)
#if defined(_LIBCPP_VERSION)
constexpr std::uint32_t kStdlib = 2;  // libc++
#elif defined(__GLIBCXX__)
constexpr std::uint32_t kStdlib = 1;  // libstdc++
#else
constexpr std::uint32_t kStdlib = 0;
#endif
#if defined(_GLIBCXX_USE_CXX11_ABI)
constexpr std::uint32_t kCxx11Abi = _GLIBCXX_USE_CXX11_ABI;
#else
constexpr std::uint32_t kCxx11Abi = 0;
#endif
#if defined(__clang__)
#define FLASKPP_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define FLASKPP_COMPILER "gcc " __VERSION__
#else
#define FLASKPP_COMPILER "unknown compiler"
#endif

inline constexpr AbiStamp kAbiStamp{
    kAbiMagic,
    sizeof(AbiStamp),
    FLASKPP_SDK_VERSION_MAJOR,
    FLASKPP_SDK_VERSION_MINOR,
    kStdlib,
    kCxx11Abi,
    {sizeof(std::string), sizeof(Request), sizeof(Response), sizeof(UploadedFile), sizeof(Param),
     sizeof(rapidjson::Document), sizeof(HandlerInfo), sizeof(PluginContext), sizeof(CallResult),
     sizeof(std::function<void()>)},
    FLASKPP_COMPILER};

}  // namespace detail

// The registration block's view: what a plugin offers.
class PluginApp {
 public:
  PluginApp(detail::Registrar& registrar, std::string name) : registrar_(registrar), name_(std::move(name)) {}
  const std::string& name() const { return name_; }

  // A handler for `FlaskppRoute ... handler NAME` (and for `job NAME`: its JSON answer becomes
  // the job's result).
  PluginApp& handler(const std::string& name, HandlerFunction f, HandlerInfo info = {}) {
    registrar_.add_handler(name, new detail::FunctionHandler(std::move(f)), info);
    return *this;
  }
  // A job function for `FlaskppRoute ... job NAME`; its return value is the job's result.
  PluginApp& job(const std::string& name, JobFunction f, HandlerInfo info = {}) {
    registrar_.add_job(name, new detail::FunctionJob(std::move(f)), info);
    return *this;
  }
  PluginApp& on_start(HookFunction f) { return hook(detail::Hook::kStart, std::move(f)); }
  PluginApp& on_child_start(HookFunction f) { return hook(detail::Hook::kChildStart, std::move(f)); }
  PluginApp& on_child_stop(HookFunction f) { return hook(detail::Hook::kChildStop, std::move(f)); }

 private:
  PluginApp& hook(detail::Hook h, HookFunction f) {
    registrar_.add_hook(h, new detail::FunctionHook(std::move(f)));
    return *this;
  }
  detail::Registrar& registrar_;
  std::string name_;
};

namespace detail {
// Runs the plugin's registration block; nothing escapes into the module.
inline void run_registration(Registrar* registrar, const char* name, void (*body)(PluginApp&)) noexcept {
  CallResult result;
  guarded(result, [&] {
    PluginApp app(*registrar, name ? name : "");
    body(app);
  });
  if (result.kind != CallResult::Kind::kOk) {
    registrar->fail("the registration block threw: " + result.message);
  }
}
}  // namespace detail

}  // namespace flaskpp

// The plugin's registration block, once per plugin:
//   FLASKPP_PLUGIN(app) { app.handler("predict", predict); app.on_start(load_model); }
// It defines the two entry points the module looks up: flaskpp_plugin_abi_v1 (the ABI stamp,
// checked first) and flaskpp_plugin_register_v1.
#define FLASKPP_PLUGIN(app)                                                                               \
  static void flaskpp_plugin_body_(::flaskpp::PluginApp& app);                                            \
  extern "C" FLASKPP_EXPORT const ::flaskpp::detail::AbiStamp* flaskpp_plugin_abi_v1() noexcept {        \
    return &::flaskpp::detail::kAbiStamp;                                                                 \
  }                                                                                                       \
  extern "C" FLASKPP_EXPORT void flaskpp_plugin_register_v1(::flaskpp::detail::Registrar* registrar,      \
                                                             const char* name) noexcept {                 \
    ::flaskpp::detail::run_registration(registrar, name, flaskpp_plugin_body_);                           \
  }                                                                                                       \
  static void flaskpp_plugin_body_(::flaskpp::PluginApp& app)
