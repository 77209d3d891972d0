// One setter per directive: parse, validate, store; or return an error naming the directive.
// httpd adds the file and line, and `apachectl -t` fails with the message.
#include "glue/directives.hpp"

#include <string>
#include <vector>

#include "core/errors.hpp"
#include "glue/boundary.hpp"
#include "glue/config.hpp"

namespace core = flaskpp::core;
using flaskpp::glue::ServerConfig;
using flaskpp::glue::guard_directive;

namespace {

ServerConfig& cfg_of(cmd_parms* cmd) { return flaskpp::glue::directive_config(cmd); }
using flaskpp::glue::server_path;

// An existing directory, relative paths taken from ServerRoot.
std::string existing_dir(cmd_parms* cmd, const char* dir, const char* what) {
  std::string path = server_path(cmd, dir);
  apr_finfo_t finfo;
  if (apr_stat(&finfo, path.c_str(), APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS || finfo.filetype != APR_DIR) {
    throw core::ConfigError(std::string(what) + " '" + path + "' does not exist or is not a directory");
  }
  return path;
}

std::string where(cmd_parms* cmd) { return flaskpp::glue::directive_where(cmd); }

}  // namespace

namespace flaskpp::glue {

ServerConfig& directive_config(cmd_parms* cmd) {
  ServerConfig* cfg = server_config(cmd->server);
  if (!cfg) throw core::ConfigError("the server's configuration could not be created");
  return *cfg;
}

std::string directive_where(cmd_parms* cmd) {
  if (!cmd->directive) return "?";
  return std::string(cmd->directive->filename ? cmd->directive->filename : "?") + ":" +
         std::to_string(cmd->directive->line_num);
}

std::string server_path(cmd_parms* cmd, const char* path) {
  const char* resolved = ap_server_root_relative(cmd->pool, path);
  if (!resolved) throw core::ConfigError(std::string("invalid path '") + path + "'");
  std::string out = resolved;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace flaskpp::glue

extern "C" const char* fpp_set_route(cmd_parms* cmd, void*, int argc, char* const argv[]) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    std::vector<std::string> args(argv, argv + argc);
    core::RouteDecl decl = core::parse_route(args);
    decl.where = where(cmd);
    if (!decl.schema_path.empty()) decl.schema_path = server_path(cmd, decl.schema_path.c_str());
    cfg_of(cmd).routes.push_back(std::move(decl));
    return nullptr;
  });
}

extern "C" const char* fpp_set_template_dir(cmd_parms* cmd, void*, const char* dir) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    cfg_of(cmd).template_dir = existing_dir(cmd, dir, "template directory");
    return nullptr;
  });
}

extern "C" const char* fpp_set_config(cmd_parms* cmd, void*, const char* key, const char* value) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    if (!core::is_valid_key(key)) {
      throw core::ConfigError(std::string("invalid key '") + key + "' (letters, digits and '_', e.g. UPLOAD_IMG_FOLDER)");
    }
    auto doc = std::make_shared<rapidjson::Document>(core::parse_config_value(value));
    cfg_of(cmd).config_items.push_back({key, std::move(doc), std::nullopt});
    return nullptr;
  });
}

extern "C" const char* fpp_set_config_file(cmd_parms* cmd, void*, const char* path, const char* env) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    std::optional<core::Env> only;
    if (env) {
      only = core::parse_env(env);
      if (!only) throw core::ConfigError(std::string("environment '") + env + "' must be development or production");
    }
    const char* full = ap_server_root_relative(cmd->pool, path);
    if (!full) throw core::ConfigError(std::string("invalid path '") + path + "'");
    auto doc = std::make_shared<rapidjson::Document>(core::load_config_file(full));
    cfg_of(cmd).config_items.push_back({"", std::move(doc), only});
    return nullptr;
  });
}

extern "C" const char* fpp_set_env(cmd_parms* cmd, void*, const char* env) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    auto e = core::parse_env(env);
    if (!e) throw core::ConfigError(std::string("'") + env + "' is not an environment (development or production)");
    cfg_of(cmd).env = e;
    return nullptr;
  });
}

extern "C" const char* fpp_set_error_template(cmd_parms* cmd, void*, const char* code, const char* name) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    char* end = nullptr;
    long status = std::strtol(code, &end, 10);
    if (!end || *end || status < 400 || status > 599) {
      throw core::ConfigError(std::string("status '") + code + "' must be an error code from 400 to 599");
    }
    if (!core::is_safe_template_name(name)) {
      throw core::ConfigError(std::string("template name '") + name + "' must be relative, without '..'");
    }
    cfg_of(cmd).error_templates[static_cast<int>(status)] = name;
    return nullptr;
  });
}

extern "C" const char* fpp_set_upload_dir(cmd_parms* cmd, void*, const char* dir, const char* url) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    std::string prefix = url ? url : "";
    if (!prefix.empty() && prefix.front() != '/') {
      throw core::ConfigError("URL prefix '" + prefix + "' must start with '/', e.g. /static/img");
    }
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    ServerConfig& cfg = cfg_of(cmd);
    cfg.upload_dir = existing_dir(cmd, dir, "upload directory");
    cfg.upload_url = prefix == "/" ? "" : prefix;
    return nullptr;
  });
}

extern "C" const char* fpp_set_upload_work_dir(cmd_parms* cmd, void*, const char* dir) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    cfg_of(cmd).upload_work_dir = server_path(cmd, dir);  // created at startup when missing
    return nullptr;
  });
}

extern "C" const char* fpp_set_upload_allow(cmd_parms* cmd, void*, const char* ext) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    std::string e = core::to_lower(ext);
    bool ok = e.size() >= 2 && e[0] == '.' && e.find_first_of("/\\ .", 1) == std::string::npos;
    if (!ok) throw core::ConfigError("extension '" + std::string(ext) + "' must look like .png");
    cfg_of(cmd).upload_allow.push_back(e);
    return nullptr;
  });
}

extern "C" const char* fpp_set_upload_max_size(cmd_parms* cmd, void*, const char* size) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    cfg_of(cmd).max_body = core::parse_size(size);
    return nullptr;
  });
}

extern "C" const char* fpp_set_upload_max_parts(cmd_parms* cmd, void*, const char* count) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    char* end = nullptr;
    long n = std::strtol(count, &end, 10);
    if (!end || *end || n < 1 || n > 1000000) {
      throw core::ConfigError(std::string("'") + count + "' must be a number of parts from 1 to 1000000");
    }
    cfg_of(cmd).max_parts = static_cast<std::size_t>(n);
    return nullptr;
  });
}

extern "C" const char* fpp_set_quick_handler(cmd_parms* cmd, void*, int on) noexcept {
  return guard_directive(cmd, [&]() -> const char* {
    cfg_of(cmd).quick_handler = on != 0;
    return nullptr;
  });
}
