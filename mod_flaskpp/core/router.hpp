// Werkzeug-compatible URL rules (Werkzeug 2.2, the version Debian 12 ships with Flask 2.2).
//
// Rules are compiled once into a tree keyed by path segments: static segments are a map lookup,
// dynamic segments are tried in Werkzeug's weight order (static text first, then int/float, then
// string/uuid/any, path last), falling back to the next branch when a deeper one fails. Each tree
// node is visited at most once per match, and where converters split one segment (or the rest
// of the path, for path converters) is decided in time linear in its length, so matching costs
// O(nodes visited x segment length x tokens), never a backtracking blow-up.
// A Router is immutable after the last add(); match() is const and thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flaskpp::core {

enum class ConverterKind { kString, kInt, kFloat, kPath, kUuid, kAny };

struct Converter {
  ConverterKind kind = ConverterKind::kString;
  std::size_t minlength = 1;              // string: characters (UTF-8 code points)
  std::optional<std::size_t> maxlength;   // string
  int fixed_digits = 0;                   // int: exact length of the matched text, 0 = any
  bool is_signed = false;                 // int, float: allow a leading '-'
  std::optional<double> min, max;         // int, float: inclusive bounds
  std::vector<std::string> items;         // any: alternatives, tried in order
  std::string spec;                       // canonical text, e.g. "int(min=1)" (for sharing states)

  int weight() const;
};

struct ParamValue {
  ConverterKind kind = ConverterKind::kString;
  std::string text;        // the matched text (uuid: lower-cased)
  long long int_value = 0; // kInt
  double float_value = 0;  // kFloat
};
using Params = std::vector<std::pair<std::string, ParamValue>>;

// HTTP methods as bits. GET implies HEAD; every rule answers OPTIONS automatically.
// kExtension stands for every other method (PURGE, PROPFIND, MKCOL, ...): only '*' rules take
// those, as a Werkzeug rule without a method list does.
namespace method {
constexpr unsigned kGet = 1, kHead = 2, kPost = 4, kPut = 8, kPatch = 16, kDelete = 32, kOptions = 64;
constexpr unsigned kExtension = 128;
constexpr unsigned kAll = 255;  // '*'
}  // namespace method
unsigned method_bit(std::string_view name);                 // 0 unless one of the seven above
std::vector<std::string> method_names(unsigned mask);       // sorted: DELETE, GET, HEAD, ...; never an extension
// "GET", "GET,POST", "*" (every method, extension methods included). Throws ConfigError.
unsigned parse_methods(std::string_view spec, bool* explicit_options);

struct RouteMatch {
  enum class Kind {
    kNoMatch,           // no rule has this path: the module declines
    kMatch,             // rule and params are set
    kNotFound,          // a rule matched but a converter rejected the value (Werkzeug: 404)
    kMethodNotAllowed,  // path matched, method not: allowed is set
    kOptions,           // automatic OPTIONS answer: allowed is set
    kRedirect,          // rule ends in '/', request did not: redirect_path is set (308)
  };
  Kind kind = Kind::kNoMatch;
  std::size_t rule = 0;
  Params params;
  std::vector<std::string> allowed;
  std::string redirect_path;
};

struct CompiledRule {
  std::string pattern;
  unsigned methods = 0;
  bool explicit_options = false;
  std::vector<std::string> param_names;
  std::vector<Converter> converters;  // parallel to param_names
};

class Router {
 public:
  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  // Compiles and adds a rule; returns its index. Throws ConfigError naming what is wrong.
  std::size_t add(std::string_view methods, std::string_view pattern);

  RouteMatch match(std::string_view path, std::string_view method) const;
  std::vector<std::string> allowed_methods(std::string_view path) const;

  std::size_t size() const { return rules_.size(); }
  const CompiledRule& rule(std::size_t i) const { return rules_[i]; }

  struct State;

 private:
  std::unique_ptr<State> root_;
  std::vector<CompiledRule> rules_;
};

// A converter's name ("int", "uuid", ...; "default" is "string") and back.
std::optional<ConverterKind> converter_kind(std::string_view name);
const char* converter_name(ConverterKind kind);
// Parses a converter spec such as "int(min=1, max=10)" (exposed for tests). Throws ConfigError.
Converter parse_converter(std::string_view name, std::string_view args);

}  // namespace flaskpp::core
