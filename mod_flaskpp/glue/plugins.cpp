// FlaskppPlugin NAME PATH.so [key=value ...]: loads a plugin while the configuration is read.
//
// The shared object is loaded into the configuration pool with APR's DSO functions, so a graceful
// restart (which clears that pool) unloads it and loads the file anew: a rebuilt plugin is picked
// up by `apachectl graceful`. The core::Plugin holding the objects the plugin allocated is
// registered with the same pool *after* the DSO, so its cleanup runs first, while the plugin's
// code is still mapped.
#include <apr_dso.h>

#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/plugins.hpp"
#include "glue/boundary.hpp"
#include "glue/directives.hpp"
#include "glue/lifecycle.hpp"
#include "glue/pool.hpp"

namespace core = flaskpp::core;

namespace {

constexpr const char* kAbiSymbol = "flaskpp_plugin_abi_v1";
constexpr const char* kRegisterSymbol = "flaskpp_plugin_register_v1";

bool is_plugin_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

extern "C" const char* fpp_set_plugin(cmd_parms* cmd, void*, int argc, char* const argv[]) noexcept {
  return flaskpp::glue::guard_directive(cmd, [&]() -> const char* {
    if (const char* err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return err;
    if (argc < 2) throw core::ConfigError("needs NAME PATH.so [key=value ...]");
    std::string name = argv[0];
    if (!is_plugin_name(name)) {
      throw core::ConfigError("plugin name '" + name + "' may hold only letters, digits, '_' and '-'");
    }
    const char* resolved = ap_server_root_relative(cmd->pool, argv[1]);
    if (!resolved) throw core::ConfigError(std::string("invalid path '") + argv[1] + "'");
    std::string path = resolved;
    flaskpp::Pairs options;
    for (int i = 2; i < argc; ++i) {
      std::string opt = argv[i];
      auto eq = opt.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw core::ConfigError("plugin " + name + ": option '" + opt + "' is not key=value");
      }
      options.emplace_back(opt.substr(0, eq), opt.substr(eq + 1));
    }
    flaskpp::glue::ProcessState& state = flaskpp::glue::process_state(cmd->pool);
    for (const core::Plugin* p : state.plugins) {
      if (p->name() == name) throw core::ConfigError("plugin " + name + " is loaded twice (" + p->path() + ")");
    }

    apr_dso_handle_t* dso = nullptr;
    if (apr_status_t rv = apr_dso_load(&dso, path.c_str(), cmd->pool); rv != APR_SUCCESS) {
      char buf[512];
      const char* why = dso ? apr_dso_error(dso, buf, sizeof buf) : apr_strerror(rv, buf, sizeof buf);
      throw core::ConfigError("plugin " + name + ": cannot load " + path + ": " + why);
    }
    apr_dso_handle_sym_t abi_sym = nullptr, register_sym = nullptr;
    if (apr_dso_sym(&abi_sym, dso, kAbiSymbol) != APR_SUCCESS ||
        apr_dso_sym(&register_sym, dso, kRegisterSymbol) != APR_SUCCESS) {
      throw core::ConfigError("plugin " + name + " (" + path + ") is not a mod_flaskpp plugin: entry point " +
                              (abi_sym ? kRegisterSymbol : kAbiSymbol) +
                              " is missing (declare the plugin with FLASKPP_PLUGIN(app) { ... })");
    }
    using AbiFn = const flaskpp::detail::AbiStamp* (*)() noexcept;
    std::string abi_problem = core::check_abi(reinterpret_cast<AbiFn>(abi_sym)());
    if (!abi_problem.empty()) throw core::ConfigError("plugin " + name + " (" + path + ") cannot be used: " + abi_problem);

    auto* plugin = flaskpp::glue::make_pool_owned<core::Plugin>(cmd->pool, name, path, std::move(options));
    plugin->register_with(reinterpret_cast<core::Plugin::RegisterFn>(register_sym));
    core::add_plugin_handlers(state.handlers, *plugin);
    for (const core::PluginJob& job : plugin->jobs()) {
      if (state.job_functions.count(job.name)) {
        throw core::ConfigError("plugin " + name + " (" + path + "): job '" + job.name + "' is already registered by plugin " +
                                state.job_functions[job.name].plugin->name());
      }
      state.job_functions[job.name] = core::JobFunctionRef{plugin, job.slot};
    }
    state.plugins.push_back(plugin);
    return nullptr;
  });
}
