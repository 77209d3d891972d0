// Plugins as the core sees them: what a plugin registered (handlers, jobs, hooks), the ABI check,
// and the bridge between the SDK's types (include/flaskpp/flaskpp.hpp) and the core's.
//
// Loading the shared object is the glue's job (APR DSO); the core gets the plugin's entry points.
// A Plugin owns the objects the plugin allocated (slots); it must be destroyed while the plugin's
// code is still loaded (the glue's pool cleanup order guarantees it). Built while the
// configuration is read, read-only afterwards: handler and job slots are called from many threads
// at once (the SDK tells plugin authors they must be thread-safe).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <flaskpp/flaskpp.hpp>

#include "core/handlers.hpp"
#include "core/logger.hpp"

namespace flaskpp::core {

namespace tag {
constexpr int kPluginLog = 25;        // a plugin's own log line
constexpr int kPluginFailed = 26;     // a plugin's handler or job threw
constexpr int kPluginHookFailed = 27; // on_child_start / on_child_stop threw
constexpr int kJobStoreUnavailable = 32;  // a job could not be stored (503)
constexpr int kOverloaded = 34;           // 503: the job queue is full
}  // namespace tag

// Empty when `stamp` matches this module's SDK and compiler ABI; otherwise what differs.
std::string check_abi(const flaskpp::detail::AbiStamp* stamp);

struct PluginHandler {
  std::string name;
  flaskpp::detail::HandlerSlot* slot = nullptr;  // owned by the Plugin
  flaskpp::HandlerInfo info;
};
struct PluginJob {
  std::string name;
  flaskpp::detail::JobSlot* slot = nullptr;  // owned by the Plugin
  flaskpp::HandlerInfo info;
};

class Plugin {
 public:
  using RegisterFn = void (*)(flaskpp::detail::Registrar*, const char*) noexcept;

  Plugin(std::string name, std::string path, flaskpp::Pairs options);
  ~Plugin();
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  // Runs the plugin's registration block. Throws ConfigError naming the plugin's path when the
  // block failed or registered a name twice.
  void register_with(RegisterFn fn);

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  const flaskpp::Pairs& options() const { return options_; }
  const std::vector<PluginHandler>& handlers() const { return handlers_; }
  const std::vector<PluginJob>& jobs() const { return jobs_; }

  // Runs the plugin's hooks of one kind, in registration order. Throws std::runtime_error with
  // the plugin's message when one throws.
  void run_hooks(flaskpp::detail::Hook hook, Logger& log) const;

 private:
  class Collector;
  std::string name_;
  std::string path_;
  flaskpp::Pairs options_;
  std::vector<PluginHandler> handlers_;
  std::vector<PluginJob> jobs_;
  std::vector<std::pair<flaskpp::detail::Hook, flaskpp::detail::HookSlot*>> hooks_;
  std::vector<std::unique_ptr<flaskpp::detail::HandlerSlot>> handler_slots_;
  std::vector<std::unique_ptr<flaskpp::detail::JobSlot>> job_slots_;
  std::vector<std::unique_ptr<flaskpp::detail::HookSlot>> hook_slots_;
};

// Adds every handler of `plugin` to `registry`. Throws ConfigError when a name is taken (by a
// built-in or another plugin), naming both.
void add_plugin_handlers(HandlerRegistry& registry, const Plugin& plugin);

// A job function registered by a plugin, and which plugin it is from.
struct JobFunctionRef {
  const Plugin* plugin = nullptr;
  flaskpp::detail::JobSlot* slot = nullptr;
};

// The SDK's Logger over a core Logger: each line names the plugin and what it runs.
class PluginLogger final : public flaskpp::Logger {
 public:
  // (core::Logger spelled out: inside this class, Logger names the SDK base class.)
  // `prefix` ("plugin NAME handler H: ") must outlive the logger: handlers build it once.
  PluginLogger(core::Logger& log, const std::string& prefix) : log_(log), prefix_(prefix) {}
  bool enabled(flaskpp::LogLevel level) const override;
  void log(flaskpp::LogLevel level, const std::string& message) override;

 private:
  core::Logger& log_;
  const std::string& prefix_;
};

// The SDK request for a handler call: route params, args, form, files (with their bytes),
// headers, cookies, the JSON body (parsed strictly: a bad body is a BadRequest), public config.
flaskpp::Request make_sdk_request(const HandlerContext& ctx);
// The core answer for a handler's SDK answer: renders render_template()'s page, checks
// send_file()'s file (404 when missing) and sets its Cache-Control, refuses headers that could
// split the answer. Throws HttpError.
Response finish_sdk_response(flaskpp::Response&& out, const HandlerContext& ctx);

}  // namespace flaskpp::core
