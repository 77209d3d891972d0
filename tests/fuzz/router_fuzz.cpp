// Route patterns and paths: the first byte says how many lines are rules (1-4), the following
// lines are compiled as patterns (ConfigError is a fine answer), the remaining lines are matched
// as paths with a method chosen by the line's index. Nothing but ConfigError may escape, and a
// match must be consistent with the rule it names.
#include <cstdint>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/router.hpp"
#include "fuzz_support.hpp"

namespace core = flaskpp::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  fuzz::Reader in{data, size};
  std::size_t nrules = 1 + (in.byte() & 3);
  std::vector<std::string> lines;
  std::string_view rest = in.rest();
  while (!rest.empty()) {
    std::size_t nl = rest.find('\n');
    lines.emplace_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  static const char* kMethodSpecs[] = {"GET", "GET,POST", "*", "PUT,DELETE"};
  static const char* kMethods[] = {"GET", "HEAD", "POST", "DELETE", "OPTIONS", "PURGE"};

  core::Router router;
  std::size_t i = 0;
  for (; i < lines.size() && i < nrules; ++i) {
    try {
      std::size_t idx = router.add(kMethodSpecs[i % 4], lines[i]);
      const core::CompiledRule& r = router.rule(idx);
      FUZZ_CHECK(r.param_names.size() == r.converters.size());
    } catch (const core::ConfigError&) {
    }
  }
  for (; i < lines.size(); ++i) {
    core::RouteMatch m = router.match(lines[i], kMethods[i % 6]);
    switch (m.kind) {
      case core::RouteMatch::Kind::kMatch:
        FUZZ_CHECK(m.rule < router.size());
        FUZZ_CHECK(m.params.size() == router.rule(m.rule).param_names.size());
        break;
      case core::RouteMatch::Kind::kMethodNotAllowed:
      case core::RouteMatch::Kind::kOptions:
        FUZZ_CHECK(!m.allowed.empty());
        break;
      case core::RouteMatch::Kind::kRedirect:
        FUZZ_CHECK(!m.redirect_path.empty());
        break;
      default:
        break;
    }
    (void)router.allowed_methods(lines[i]);
  }
  // The converter-spec and method-list parsers on their own.
  if (!lines.empty()) {
    const std::string& l = lines[0];
    std::size_t paren = l.find('(');
    try {
      std::string name = l.substr(0, paren);
      std::string args = paren == std::string::npos ? "" : l.substr(paren + 1);
      if (!args.empty() && args.back() == ')') args.pop_back();
      (void)core::parse_converter(name, args);
    } catch (const core::ConfigError&) {
    }
    try {
      bool explicit_options = false;
      unsigned mask = core::parse_methods(l, &explicit_options);
      FUZZ_CHECK((mask & ~core::method::kAll) == 0);
    } catch (const core::ConfigError&) {
    }
  }
  return 0;
}
