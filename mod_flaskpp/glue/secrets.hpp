// FlaskppSecretKey: where the session signing keys come from (Flask's SECRET_KEY, seed 16.9).
// Keys are read in the parent at startup (before the children fork, as root when Apache starts
// as root), never logged, never put into config, templates, OpenAPI or error pages.
#pragma once

#include <string>
#include <vector>

#include "glue/apache.hpp"

namespace flaskpp::glue {

// The keys of `sources` ("env:NAME" or "file:PATH"), first one signing, the others accepted for
// reading (rotation). Throws ConfigError naming the source (never the value) when a source is
// missing, empty or shorter than 32 bytes. `warnings` gets a line for a key file that others
// than root and Apache's User can read.
// Reads every FlaskppSecretKey source (throws ConfigError). only_signals: this process was started
// with `-k stop|graceful|graceful-stop|restart` and only signals the running parent; a missing
// env: variable then gets a throwaway key instead of an error (the parent uses its own environment).
std::vector<std::string> load_secret_keys(const std::vector<std::string>& sources, std::vector<std::string>& warnings,
                                          bool only_signals);

// True when the process's command line is `-k stop|graceful|graceful-stop|restart`.
bool only_signals();

// A random key for development (32 bytes, hex). Throws ConfigError when APR has no randomness.
std::string generate_secret_key();

}  // namespace flaskpp::glue

extern "C" {
const char* fpp_set_secret_key(cmd_parms* cmd, void*, int argc, char* const argv[]) noexcept;
}
