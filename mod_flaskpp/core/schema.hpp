// JSON Schema validation of request bodies (the route option schema=FILE.json). Apache-free.
//
// A schema file is read and compiled once, at startup, with RapidJSON's schema support (Debian's
// RapidJSON 1.1.0, which implements JSON Schema draft-04). Anything RapidJSON 1.1.0 would silently
// get wrong, or crash on, is refused at load with a ConfigError instead:
//   - a $ref that is remote, not a JSON pointer, points at nothing, at a non-schema, or through a
//     member whose name is a number ("#/definitions/0": 1.1.0 cannot resolve those);
//   - cycles: $refs that only lead to $refs, and schemas that apply themselves to the same value
//     without end ({"allOf": [{"$ref": "#"}]}); 1.1.0 overflows the stack on those;
//   - keywords of later drafts that 1.1.0 ignores (const, contains, propertyNames, if/then/else,
//     prefixItems, unevaluated*, dependentRequired/-Schemas, a numeric exclusiveMinimum/Maximum),
//     OpenAPI's nullable, and validation keywords beside a $ref (draft-04 ignores them);
//   - a pattern outside RapidJSON's regular-expression dialect (no \d, \w, \s, (?:), lookaround;
//     write [0-9] and friends): 1.1.0 drops such a pattern without a word;
//   - malformed keyword values (an unknown type name, an empty enum/allOf/anyOf/oneOf, ...) and a
//     member name twice in one object.
// Boolean schemas (true, false) are accepted anywhere a schema may stand.
//
// Every error of a body is reported, not only the first (RapidJSON 1.1.0 stops at the first):
// validate() validates the whole body, and when it is invalid descends through "properties",
// "required", "additionalProperties", "items"/"additionalItems", "allOf" and schema-valued
// "dependencies" (across $refs), validating each child against its own compiled sub-schema, and
// checks each remaining keyword of a failing schema on its own ("type" first: a value of the
// wrong type gets only that message). So independent errors in different properties, items and
// allOf branches, and a string both too short and off-pattern, are all reported. Everything is
// compiled in load(), nothing per request. What cannot be split that way ("anyOf", "oneOf",
// "not", "patternProperties" and everything below them) yields the one error RapidJSON reports
// for it, as does a subtree more than kMaxSchemaDescentDepth levels down; "uniqueItems" names
// the first repeated item only.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/rapidjson.hpp"

namespace flaskpp::core {

// At most this many errors are reported for one body; when there are more, one last entry
// {"", "has more errors; only the first 100 are reported"} (keyword "") says so.
constexpr std::size_t kMaxSchemaErrors = 100;
// The descent into properties/items/allOf/dependencies stops this many levels deep (only a
// recursive schema gets there); below, a subtree yields RapidJSON's single error.
constexpr std::size_t kMaxSchemaDescentDepth = 32;
// Work budget of one validate() call, in units of roughly a nanosecond (events and allocations
// of RapidJSON's validators, counted as they happen): kSchemaWorkBase plus kSchemaWorkPerValue
// for each value and key of the body. RapidJSON 1.1.0 needs time exponential in the body's depth
// for some recursive schemas (allOf branches that both recurse), cubic for others (recursion
// through anyOf) and quadratic in an array's length for uniqueItems; past the budget the body is
// refused with one error {"", "is too complex to validate against this schema"}. A hostile small
// body then costs about 0.2-0.4 s of CPU. Ordinary bodies use a small part of their budget (100,000
// objects checked through allOf and anyOf: a fifth).
constexpr std::size_t kSchemaWorkBase = 100000000;
constexpr std::size_t kSchemaWorkPerValue = 4000;

struct SchemaError {
  std::string loc;      // JSON Pointer (RFC 6901) of the offending value: "" is the whole body,
                        // "/name" a missing required property
  std::string msg;      // human-readable: "is required", "must be of type integer", "must be >= 0"
  std::string keyword;  // the failing schema keyword ("required", "type", ...); for logs and tests
};

// One compiled schema. Immutable after load, so one instance is shared by all threads of all
// requests: validate() creates its RapidJSON validators per call, and RapidJSON 1.1.0's regular
// expressions (which keep match state in the compiled pattern) are each guarded by a mutex.
class CompiledSchema {
 public:
  // Reads and compiles a schema file. Throws ConfigError naming the path and the problem: missing
  // or unreadable file, invalid JSON, a root that is neither an object nor a boolean, anything in
  // the list above.
  static std::shared_ptr<const CompiledSchema> load(const std::string& path);
  // The same for schema text; `where` names it in error messages (a path, "plugin X", ...).
  static std::shared_ptr<const CompiledSchema> from_text(const std::string& text, const std::string& where);

  ~CompiledSchema();
  CompiledSchema(const CompiledSchema&) = delete;
  CompiledSchema& operator=(const CompiledSchema&) = delete;

  // Every error of `body` (a parsed request body, nested at most kDefaultJsonMaxDepth deep), in a
  // deterministic order: a value's own errors first, then an object's properties in the schema's
  // document order, then its other members in the body's order, then array items by index, then
  // schemas of "dependencies", then allOf branches. Empty: valid. Thread-safe.
  std::vector<SchemaError> validate(const rapidjson::Value& body) const;
  // validate(body).empty(), without looking for the errors. Thread-safe.
  bool is_valid(const rapidjson::Value& body) const;

  // The schema exactly as written (e.g. to embed in an OpenAPI document) and where it came from.
  const rapidjson::Value& document() const;
  const std::string& where() const;

  struct Impl;  // public only so that the helpers in schema.cpp can name it

 private:
  explicit CompiledSchema(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flaskpp::core
