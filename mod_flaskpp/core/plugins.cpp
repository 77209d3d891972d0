#include "core/plugins.hpp"
#include "core/session_stage.hpp"

#include <sys/stat.h>

#include <cstring>

#include "core/app.hpp"
#include "core/errors.hpp"
#include "core/json.hpp"
#include "core/templates.hpp"

namespace flaskpp::core {

namespace {

using flaskpp::detail::AbiStamp;
using flaskpp::detail::CallResult;

const char* kTypeNames[] = {"std::string",  "Request",       "Response",   "UploadedFile", "Param",
                            "rapidjson::Document", "HandlerInfo", "PluginContext", "CallResult",
                            "std::function"};

LogLevel core_level(flaskpp::LogLevel level) {
  switch (level) {
    case flaskpp::LogLevel::kError: return LogLevel::kError;
    case flaskpp::LogLevel::kWarn: return LogLevel::kWarn;
    case flaskpp::LogLevel::kInfo: return LogLevel::kInfo;
    case flaskpp::LogLevel::kDebug: return LogLevel::kDebug;
  }
  return LogLevel::kError;
}

flaskpp::Param::Kind sdk_kind(ConverterKind kind) {
  switch (kind) {
    case ConverterKind::kInt: return flaskpp::Param::Kind::kInt;
    case ConverterKind::kFloat: return flaskpp::Param::Kind::kFloat;
    case ConverterKind::kPath: return flaskpp::Param::Kind::kPath;
    case ConverterKind::kUuid: return flaskpp::Param::Kind::kUuid;
    case ConverterKind::kAny: return flaskpp::Param::Kind::kAny;
    default: return flaskpp::Param::Kind::kString;
  }
}

bool has_line_break(const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; }

}  // namespace

std::string check_abi(const AbiStamp* stamp) {
  const AbiStamp& mine = flaskpp::detail::kAbiStamp;
  if (!stamp) return "its ABI stamp is missing";
  if (stamp->magic != flaskpp::detail::kAbiMagic) return "its ABI stamp is not a mod_flaskpp stamp";
  if (stamp->stamp_size != sizeof(AbiStamp)) {
    return "its ABI stamp has another layout (" + std::to_string(stamp->stamp_size) + " bytes, this module's has " +
           std::to_string(sizeof(AbiStamp)) + ")";
  }
  std::string theirs = std::string(stamp->compiler ? stamp->compiler : "?");
  if (stamp->sdk_major != mine.sdk_major || stamp->sdk_minor > mine.sdk_minor) {
    return "it was built against SDK " + std::to_string(stamp->sdk_major) + "." + std::to_string(stamp->sdk_minor) +
           ", this module provides SDK " + std::to_string(mine.sdk_major) + "." + std::to_string(mine.sdk_minor) +
           " (rebuild the plugin against the installed flaskpp package)";
  }
  if (stamp->stdlib != mine.stdlib || stamp->cxx11_abi != mine.cxx11_abi) {
    auto lib = [](std::uint32_t v) { return v == 1 ? "libstdc++" : v == 2 ? "libc++" : "an unknown C++ library"; };
    return std::string("it was built with another C++ library ABI (") + theirs + ": " + lib(stamp->stdlib) +
           ", _GLIBCXX_USE_CXX11_ABI=" + std::to_string(stamp->cxx11_abi) + "; this module: " + mine.compiler + ": " +
           lib(mine.stdlib) + ", _GLIBCXX_USE_CXX11_ABI=" + std::to_string(mine.cxx11_abi) + ")";
  }
  for (std::size_t i = 0; i < sizeof(mine.sizes) / sizeof(mine.sizes[0]); ++i) {
    if (stamp->sizes[i] != mine.sizes[i]) {
      return std::string("the size of ") + kTypeNames[i] + " differs (" + std::to_string(stamp->sizes[i]) +
             " bytes in the plugin, " + std::to_string(mine.sizes[i]) + " in this module; built with " + theirs +
             ")";
    }
  }
  return {};
}

// The module's side of the registration block: collects what the plugin offers, never throws.
class Plugin::Collector final : public flaskpp::detail::Registrar {
 public:
  explicit Collector(Plugin& p) : p_(p) {}
  void add_handler(const std::string& name, flaskpp::detail::HandlerSlot* slot,
                   const flaskpp::HandlerInfo& info) noexcept override {
    try {
      std::unique_ptr<flaskpp::detail::HandlerSlot> owned(slot);
      for (const auto& h : p_.handlers_) {
        if (h.name == name) return fail("handler '" + name + "' is registered twice");
      }
      p_.handlers_.push_back(PluginHandler{name, slot, info});
      p_.handler_slots_.push_back(std::move(owned));
    } catch (...) {
      fail_quietly();
    }
  }
  void add_job(const std::string& name, flaskpp::detail::JobSlot* slot, const flaskpp::HandlerInfo& info) noexcept override {
    try {
      std::unique_ptr<flaskpp::detail::JobSlot> owned(slot);
      for (const auto& j : p_.jobs_) {
        if (j.name == name) return fail("job '" + name + "' is registered twice");
      }
      p_.jobs_.push_back(PluginJob{name, slot, info});
      p_.job_slots_.push_back(std::move(owned));
    } catch (...) {
      fail_quietly();
    }
  }
  void add_hook(flaskpp::detail::Hook hook, flaskpp::detail::HookSlot* slot) noexcept override {
    try {
      std::unique_ptr<flaskpp::detail::HookSlot> owned(slot);
      p_.hooks_.emplace_back(hook, slot);
      p_.hook_slots_.push_back(std::move(owned));
    } catch (...) {
      fail_quietly();
    }
  }
  void fail(const std::string& message) noexcept override {
    try {
      errors_.push_back(message);
    } catch (...) {
      fail_quietly();
    }
  }
  void fail_quietly() noexcept { out_of_memory_ = true; }

  std::string problems() const {
    if (out_of_memory_) return "out of memory while registering";
    std::string all;
    for (const auto& e : errors_) all += (all.empty() ? "" : "; ") + e;
    return all;
  }

 private:
  Plugin& p_;
  std::vector<std::string> errors_;
  bool out_of_memory_ = false;
};

Plugin::Plugin(std::string name, std::string path, flaskpp::Pairs options)
    : name_(std::move(name)), path_(std::move(path)), options_(std::move(options)) {}

Plugin::~Plugin() = default;

void Plugin::register_with(RegisterFn fn) {
  Collector collector(*this);
  fn(&collector, name_.c_str());
  std::string problems = collector.problems();
  if (!problems.empty()) throw ConfigError("plugin " + name_ + " (" + path_ + "): " + problems);
  if (handlers_.empty() && jobs_.empty()) {
    throw ConfigError("plugin " + name_ + " (" + path_ + ") registers no handler and no job");
  }
}

void Plugin::run_hooks(flaskpp::detail::Hook hook, Logger& log) const {
  const char* what = hook == flaskpp::detail::Hook::kStart        ? "on_start"
                     : hook == flaskpp::detail::Hook::kChildStart ? "on_child_start"
                                                                  : "on_child_stop";
  for (const auto& [kind, slot] : hooks_) {
    if (kind != hook) continue;
    const std::string prefix = "plugin " + name_ + " " + what + ": ";
    PluginLogger plog(log, prefix);
    flaskpp::PluginContext ctx{name_, path_, options_, &plog};
    CallResult result;
    slot->call(ctx, result);
    if (result.kind != CallResult::Kind::kOk) {
      throw std::runtime_error(std::string(what) + " of plugin " + name_ + " (" + path_ + ") failed: " + result.message);
    }
  }
}

bool PluginLogger::enabled(flaskpp::LogLevel level) const { return log_.enabled(core_level(level)); }

void PluginLogger::log(flaskpp::LogLevel level, const std::string& message) {
  if (log_.enabled(core_level(level))) log_.log(core_level(level), tag::kPluginLog, prefix_ + sanitize_utf8(message));
}

flaskpp::Request make_sdk_request(const HandlerContext& ctx) {
  const Request& in = ctx.request;
  flaskpp::Request req;
  req.method = in.method;
  req.path = in.path;
  req.query = in.query;
  req.url = in.url();
  req.remote_addr = in.remote_addr;
  for (const auto& [name, v] : ctx.params) {
    flaskpp::Param p;
    p.name = name;
    p.kind = sdk_kind(v.kind);
    p.text = v.text;
    p.int_value = v.int_value;
    p.float_value = v.float_value;
    req.params.push_back(std::move(p));
  }
  req.args = parse_query(in.query);
  req.form = in.form;
  for (const FileInfo& f : in.files) {
    flaskpp::UploadedFile u;
    u.field = f.field;
    u.filename = f.filename;
    u.content_type = f.content_type;
    u.size = f.size;
    u.data = f.data;
    u.path = f.path;
    req.files.push_back(std::move(u));
  }
  req.headers = in.headers;
  req.cookies = in.cookies();
  req.content_type = in.content_type();
  if (req.content_type != "multipart/form-data") req.body = in.body;
  if (is_json_media_type(req.content_type)) req.json = parse_json_body(in.body, ctx.app.json_max_depth());
  req.config = &ctx.app.public_config();
  // The session (an object) when sessions are on; Null otherwise (and for jobs).
  if (ctx.request.session) req.session.CopyFrom(ctx.request.session->read(), req.session.GetAllocator());
  return req;
}

namespace {

Response checked_sdk_response(flaskpp::Response&& out, const HandlerContext& ctx);

}  // namespace

// The session a handler set is applied last, once the rest of its answer passed every check: an
// answer refused as a 500 (or a send_file 404) changes no session.
Response finish_sdk_response(flaskpp::Response&& out, const HandlerContext& ctx) {
  bool session_set = out.session_set;
  std::string session_json = std::move(out.session_json);
  if (session_set && !ctx.request.session) {
    throw InternalError("the handler set the session, but sessions are off here (no FlaskppSecretKey, or a job)");
  }
  Response resp = checked_sdk_response(std::move(out), ctx);
  if (session_set) {
    rapidjson::Document doc;
    doc.Parse(session_json.c_str(), session_json.size());
    if (doc.HasParseError() || !doc.IsObject()) throw InternalError("the handler set a session that is not an object");
    ctx.request.session->replace(doc);
  }
  return resp;
}

namespace {

Response checked_sdk_response(flaskpp::Response&& out, const HandlerContext& ctx) {
  Response resp;
  if (out.status < 100 || out.status > 599) {
    throw InternalError("the handler answered status " + std::to_string(out.status) + ", not 100..599");
  }
  resp.status = out.status;
  for (auto& [name, value] : out.headers) {
    if (name.empty() || has_line_break(name) || has_line_break(value) || name.find(':') != std::string::npos) {
      throw InternalError("the handler set a header with a line break, a colon or no name");
    }
    resp.headers.emplace_back(std::move(name), std::move(value));
  }
  if (has_line_break(out.content_type)) throw InternalError("the handler set a content type with a line break");
  if (!out.template_name.empty()) {
    if (!is_safe_template_name(out.template_name)) {
      throw InternalError("render_template('" + out.template_name + "'): not a template name under FlaskppTemplateDir");
    }
    rapidjson::Document extra;
    extra.Parse(out.template_context.c_str(), out.template_context.size());
    if (extra.HasParseError() || !extra.IsObject()) extra.SetObject();
    resp.content_type = "text/html; charset=utf-8";
    resp.body = ctx.app.render_page(out.template_name, ctx.request, ctx.params, &extra);
    return resp;
  }
  if (!out.file_path.empty()) {
    if (out.file_path[0] != '/') throw InternalError("send_file needs an absolute path");
    struct stat st {};
    if (::stat(out.file_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) throw NotFound(status_description(404));
    resp.file_path = std::move(out.file_path);
    resp.content_type = std::move(out.content_type);
    std::optional<long> max_age = out.max_age;
    if (!max_age) {
      if (auto configured = ctx.app.send_file_max_age()) {
        max_age = static_cast<long>(*configured);
      }
    }
    // Werkzeug's send_file: no max age means "no-cache" (revalidate with the ETag each time).
    if (max_age && *max_age > 0) {
      resp.headers.emplace_back("Cache-Control", "public, max-age=" + std::to_string(*max_age));
    } else {
      resp.headers.emplace_back("Cache-Control", max_age ? "no-cache, max-age=0" : "no-cache");
    }
    if (out.as_attachment) {
      std::string name = out.download_name.empty() ? resp.file_path.substr(resp.file_path.rfind('/') + 1)
                                                   : out.download_name;
      std::string safe;
      for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        safe += (c == '"' || c == '\\' || u < 0x20 || u == 0x7f) ? '_' : c;
      }
      resp.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + safe + "\"");
    }
    return resp;
  }
  resp.content_type = out.content_type == "application/json" ? ctx.app.json_mimetype() : std::move(out.content_type);
  resp.body = std::move(out.body);
  return resp;
}

}  // namespace

void add_plugin_handlers(HandlerRegistry& registry, const Plugin& plugin) {
  for (const PluginHandler& h : plugin.handlers()) {
    if (registry.find(h.name)) {
      throw ConfigError("plugin " + plugin.name() + " (" + plugin.path() + "): handler '" + h.name +
                        "' is already registered (" + registry.origin(h.name) + ")");
    }
    std::string plugin_name = plugin.name();
    std::string handler_name = h.name;
    std::string log_prefix = "plugin " + plugin_name + " handler " + handler_name + ": ";  // once, not per request
    flaskpp::detail::HandlerSlot* slot = h.slot;
    registry.add(
        h.name,
        [plugin_name, handler_name, log_prefix, slot](const HandlerContext& ctx) -> Response {
          flaskpp::Request req = make_sdk_request(ctx);
          PluginLogger plog(ctx.log, log_prefix);
          req.logger = &plog;
          flaskpp::Response out;
          CallResult result;
          slot->call(req, out, result);
          if (result.kind == CallResult::Kind::kAbort) {
            int code = result.code >= 400 && result.code <= 599 ? result.code : 500;
            throw HttpError(code, result.message.empty() ? status_description(code) : result.message);
          }
          if (result.kind == CallResult::Kind::kException) {
            throw InternalError("handler '" + handler_name + "' of plugin " + plugin_name + " threw: " + result.message);
          }
          return finish_sdk_response(std::move(out), ctx);
        },
        HandlerMeta{"plugin " + plugin.name() + " (" + plugin.path() + ")", h.info.summary, h.info.request_schema,
                    h.info.response_schema});
  }
}

}  // namespace flaskpp::core
