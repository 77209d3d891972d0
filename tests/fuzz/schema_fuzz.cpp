// JSON Schema: the input is "schema text" NUL "document text". Compiling arbitrary schemas may
// only fail with ConfigError (whatever RapidJSON 1.1.0 would crash or loop on must be refused at
// load); validating any parsed body then never throws, is_valid() agrees with validate(), and the
// error count stays within its cap.
#include <cstdint>
#include <string>

#include "core/errors.hpp"
#include "core/json.hpp"
#include "core/schema.hpp"
#include "fuzz_support.hpp"

namespace core = flaskpp::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  std::string_view s(reinterpret_cast<const char*>(data), size);
  std::size_t nul = s.find('\0');
  std::string schema_text(s.substr(0, nul));
  std::string_view doc_text = nul == std::string_view::npos ? std::string_view("{}") : s.substr(nul + 1);

  std::shared_ptr<const core::CompiledSchema> schema;
  try {
    schema = core::CompiledSchema::from_text(schema_text, "fuzz");
  } catch (const core::ConfigError&) {
    return 0;
  }
  FUZZ_CHECK(schema != nullptr);
  rapidjson::Document doc;
  try {
    doc = core::parse_json_body(doc_text);
  } catch (const core::BadRequest&) {
    return 0;
  }
  std::vector<core::SchemaError> errors = schema->validate(doc);
  FUZZ_CHECK(errors.size() <= core::kMaxSchemaErrors + 1);
  FUZZ_CHECK(schema->is_valid(doc) == errors.empty());
  for (const auto& e : errors) FUZZ_CHECK(e.loc.empty() || e.loc.front() == '/');
  return 0;
}
