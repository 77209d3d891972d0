// JSON helpers over RapidJSON and the JSON -> mstch bridge.
#pragma once

#include <cstddef>
#include <string>
#include <vector>
#include <string_view>

#include <mstch/mstch.hpp>

#include "core/rapidjson.hpp"
#include "core/request.hpp"

namespace flaskpp::core {

constexpr std::size_t kDefaultJsonMaxDepth = 512;

// True for application/json and any */*+json media type (parameters already stripped).
bool is_json_media_type(std::string_view media_type);

// Strict RFC 8259 parse. Throws BadRequest naming the byte offset on any error, including an
// empty body, NaN/Infinity, invalid UTF-8, trailing data and nesting deeper than max_depth.
rapidjson::Document parse_json_body(std::string_view body, std::size_t max_depth = kDefaultJsonMaxDepth);

// Converts a JSON value to an mstch node (integers that fit become int, larger ones decimal strings).
mstch::node to_mstch(const rapidjson::Value& v);

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;
// Writes a string, replacing invalid UTF-8 with U+FFFD so the output stays valid JSON.
void write_string(JsonWriter& w, std::string_view s);

// A file part as JSON: {"filename", "content_type", "size"}, and with `stored` also "field",
// "saved_as" and "url" (what the upload action answers).
void write_file_info(JsonWriter& w, const FileInfo& f, bool stored);

struct SchemaError;
// {"error": {"code": C, "message": M}}, with "errors": [{"loc", "msg"}, ...] when given (422).
std::string json_error_body(int code, std::string_view message, const std::vector<SchemaError>* errors = nullptr);

}  // namespace flaskpp::core
