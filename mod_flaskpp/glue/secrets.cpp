#include "glue/secrets.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <apr_general.h>
#include <unixd.h>

#include "core/errors.hpp"
#include "core/session.hpp"
#include "glue/boundary.hpp"
#include "glue/config.hpp"
#include "glue/directives.hpp"

namespace flaskpp::glue {

namespace {

std::string check_length(std::string key, const std::string& source) {
  if (key.empty()) throw core::ConfigError("FlaskppSecretKey " + source + " is empty");
  if (key.size() < core::kMinSessionKeyBytes) {
    throw core::ConfigError("FlaskppSecretKey " + source + " is " + std::to_string(key.size()) +
                            " bytes long; at least " + std::to_string(core::kMinSessionKeyBytes) +
                            " are needed (make one with: python3 -c 'import secrets; print(secrets.token_hex(32))')");
  }
  return key;
}

std::string from_env(const std::string& source) {
  const std::string name = source.substr(4);
  const char* value = std::getenv(name.c_str());
  if (!value) {
    throw core::ConfigError("FlaskppSecretKey " + source + ": the variable " + name +
                            " is not in Apache's environment (export it where Apache starts: "
                            "/etc/apache2/envvars, the service's Environment=, docker run -e)");
  }
  return check_length(value, source);
}

std::string from_file(const std::string& source, std::vector<std::string>& warnings) {
  const std::string path = source.substr(5);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw core::ConfigError("FlaskppSecretKey " + source + ": no such file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw core::ConfigError("FlaskppSecretKey " + source + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  std::string key = text.str();
  // One trailing line break (echo > file) is not part of the key.
  if (!key.empty() && key.back() == '\n') key.pop_back();
  if (!key.empty() && key.back() == '\r') key.pop_back();
  // Readable by anyone but root and Apache's User: a warning (the key may have leaked).
  bool owner_ok = st.st_uid == 0 || st.st_uid == ap_unixd_config.user_id;
  bool group_ok = !(st.st_mode & S_IRGRP) || st.st_gid == 0 || st.st_gid == ap_unixd_config.group_id;
  bool other_ok = !(st.st_mode & S_IROTH);
  if (!owner_ok || !group_ok || !other_ok) {
    warnings.push_back("FlaskppSecretKey " + source +
                       ": the key file is readable by others than root and Apache's User (chmod 600 it, owned by "
                       "root or that user)");
  }
  return check_length(std::move(key), source);
}

}  // namespace

std::vector<std::string> load_secret_keys(const std::vector<std::string>& sources, std::vector<std::string>& warnings,
                                          bool only_signals) {
  std::vector<std::string> keys;
  for (const auto& source : sources) {
    if (source.rfind("env:", 0) == 0 && source.size() > 4) {
      // `apache2 -k stop|graceful|...` only signals the running parent, which reads its key from
      // its own environment: the signalling shell need not have the variable.
      if (only_signals && !std::getenv(source.substr(4).c_str())) {
        keys.push_back(generate_secret_key());
        continue;
      }
      keys.push_back(from_env(source));
    } else if (source.rfind("file:", 0) == 0 && source.size() > 5) {
      keys.push_back(from_file(source, warnings));
    } else {
      throw core::ConfigError("FlaskppSecretKey '" + source + "': use env:NAME or file:PATH");
    }
  }
  return keys;
}

bool only_signals() {
  // httpd's MPM removes "-k ARG" from process->argv while reading it: read the command line the
  // kernel kept (Linux).
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] != "-k") continue;
    for (const char* signal : {"stop", "graceful", "graceful-stop", "restart"}) {
      if (args[i + 1] == signal) return true;
    }
  }
  return false;
}

std::string generate_secret_key() {
  unsigned char bytes[32];
  if (apr_generate_random_bytes(bytes, sizeof bytes) != APR_SUCCESS) {
    throw core::ConfigError("cannot generate a development secret key: no randomness");
  }
  static const char* hex = "0123456789abcdef";
  std::string key;
  for (unsigned char b : bytes) {
    key += hex[b >> 4];
    key += hex[b & 15];
  }
  return key;
}

}  // namespace flaskpp::glue

extern "C" const char* fpp_set_secret_key(cmd_parms* cmd, void*, int argc, char* const argv[]) noexcept {
  return flaskpp::glue::guard_directive(cmd, [&]() -> const char* {
    if (argc < 1) throw flaskpp::core::ConfigError("FlaskppSecretKey needs env:NAME or file:PATH");
    std::vector<std::string> sources;
    for (int i = 0; i < argc; ++i) {
      std::string s = argv[i];
      if (s.rfind("file:", 0) == 0 && s.size() > 5) {
        s = "file:" + flaskpp::glue::server_path(cmd, s.c_str() + 5);
      } else if (!(s.rfind("env:", 0) == 0 && s.size() > 4)) {
        throw flaskpp::core::ConfigError("FlaskppSecretKey '" + s + "': use env:NAME or file:PATH (the key itself "
                                         "never belongs in a configuration file)");
      }
      sources.push_back(std::move(s));
    }
    flaskpp::glue::directive_config(cmd).secret_sources = std::move(sources);
    return nullptr;
  });
}
