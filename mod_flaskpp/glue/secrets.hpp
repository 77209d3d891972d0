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
std::vector<std::string> load_secret_keys(const std::vector<std::string>& sources, std::vector<std::string>& warnings);

// A random key for development (32 bytes, hex). Throws ConfigError when APR has no randomness.
std::string generate_secret_key();

}  // namespace flaskpp::glue

extern "C" {
const char* fpp_set_secret_key(cmd_parms* cmd, void*, int argc, char* const argv[]) noexcept;
}
