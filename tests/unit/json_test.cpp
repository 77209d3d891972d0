// json.hpp: strict body parsing (RFC 8259), media types, JSON -> mstch, error bodies.
#include <gtest/gtest.h>

#include <boost/variant/get.hpp>
#include <string>

#include "core/errors.hpp"
#include "core/json.hpp"
#include "test_support.hpp"

namespace flaskpp::core {
namespace {

// The message of the BadRequest parse_json_body throws; fails the test if it does not.
std::string parse_error(const std::string& body, std::size_t max_depth = kDefaultJsonMaxDepth) {
  try {
    parse_json_body(body, max_depth);
  } catch (const BadRequest& e) {
    const HttpError& as_http = e;
    EXPECT_EQ(as_http.status(), 400);
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type for " << body << ": " << e.what();
    return {};
  }
  ADD_FAILURE() << "no error for body: " << body;
  return {};
}

std::string nested_arrays(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(ParseJsonBody, AcceptsValidDocuments) {
  auto doc = parse_json_body(R"({"a":[1,2.5,"x",true,null],"b":{"c":-0.0}})");
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["a"].Size(), 5u);
  EXPECT_EQ(doc["a"][0].GetInt(), 1);
  EXPECT_DOUBLE_EQ(doc["a"][1].GetDouble(), 2.5);
  EXPECT_STREQ(doc["a"][2].GetString(), "x");
  EXPECT_TRUE(doc["a"][4].IsNull());
  for (const char* ok : {"0", "\"s\"", "true", "null", "[]", "{}", " \t\r\n[1] \n", "-1.5e-3",
                         "\"\\ud83d\\ude00\"", "\"\xF0\x9F\x98\x80\"", "1e308"}) {
    EXPECT_NO_THROW(parse_json_body(ok)) << ok;
  }
}

TEST(ParseJsonBody, EmptyBodyIs400) {
  std::string m = parse_error("");
  EXPECT_NE(m.find("offset 0"), std::string::npos) << m;
  EXPECT_NE(m.find("empty"), std::string::npos) << m;
  std::string ws = parse_error("   ");
  EXPECT_NE(ws.find("offset"), std::string::npos) << ws;
}

TEST(ParseJsonBody, NanAndInfinityAreRejected) {
  for (const char* bad : {"NaN", "Infinity", "-Infinity", "[NaN]", "{\"x\":Infinity}", "nan", "inf"}) {
    std::string m = parse_error(bad);
    EXPECT_NE(m.find("offset"), std::string::npos) << bad << ": " << m;
  }
  EXPECT_NE(parse_error("[1,NaN]").find("offset 3"), std::string::npos);
}

TEST(ParseJsonBody, TrailingGarbageIsRejectedWithOffset) {
  EXPECT_NE(parse_error("{} x").find("offset 3"), std::string::npos);
  EXPECT_NE(parse_error("[1] [2]").find("offset 4"), std::string::npos);
  EXPECT_NE(parse_error("1 2").find("offset"), std::string::npos);
  EXPECT_NE(parse_error("{}}").find("offset 2"), std::string::npos);
  // RapidJSON alone takes NUL for the end of input.
  EXPECT_NE(parse_error(std::string("{}\0", 3)).find("offset 2"), std::string::npos);
  EXPECT_NE(parse_error(std::string("[1] \0junk", 9)).find("offset 4"), std::string::npos);
  EXPECT_NE(parse_error(std::string("\"a\0b\"", 5)).find("offset"), std::string::npos);
}

TEST(ParseJsonBody, NonStandardSyntaxIsRejected) {
  for (const char* bad : {"[1,]", "{\"a\":1,}", "{'a':1}", "[01]", "[1.]", "[.5]", "[+1]", "{a:1}",
                          "// c\n1", "/* c */ 1", "[0x10]", "\"tab\there\"", "[\"a\"", "{\"a\"}", "tru",
                          "\"\\x41\"", "\"\\ud800\"", "\"\\ud800\\u0041\""}) {
    std::string m = parse_error(bad);
    EXPECT_NE(m.find("invalid JSON at offset"), std::string::npos) << bad << ": " << m;
  }
}

TEST(ParseJsonBody, InvalidUtf8IsRejectedWithOffset) {
  EXPECT_NE(parse_error("\"\xFF\"").find("offset 1"), std::string::npos);
  EXPECT_NE(parse_error("[\"ok\",\"\xC0\xAF\"]").find("offset"), std::string::npos);   // overlong
  EXPECT_NE(parse_error("\"\xED\xA0\x80\"").find("offset"), std::string::npos);         // surrogate bytes
  EXPECT_NE(parse_error("{\"k\xE2\x82\":1}").find("offset"), std::string::npos);        // truncated key
}

TEST(ParseJsonBody, LoneLowSurrogateEscapeIsRejected) {
  // "\udc00" would decode to bytes that are not UTF-8; echo would then write invalid JSON.
  std::string m = parse_error("[\"ab\\udc00\"]");
  EXPECT_NE(m.find("offset 4"), std::string::npos) << m;
  EXPECT_NE(parse_error("\"\\uDFFF\"").find("offset 1"), std::string::npos);
  // A correct pair, and an escaped backslash before "udc00", are fine.
  EXPECT_NO_THROW(parse_json_body("\"\\uD83D\\uDE00\""));
  EXPECT_NO_THROW(parse_json_body("\"\\\\udc00\""));
  auto doc = parse_json_body("\"\\uD83D\\uDE00\"");
  EXPECT_EQ(std::string(doc.GetString()), "\xF0\x9F\x98\x80");
}

TEST(ParseJsonBody, NumberOverflowIsRejected) {
  EXPECT_NE(parse_error("1e400").find("offset 0"), std::string::npos);
  EXPECT_NE(parse_error("[-1e400]").find("offset"), std::string::npos);
  EXPECT_NE(parse_error("{\"n\": 1" + std::string(400, '0') + "}").find("offset"), std::string::npos);
}

TEST(ParseJsonBody, NestingLimitDefault) {
  EXPECT_EQ(kDefaultJsonMaxDepth, 512u);
  EXPECT_NO_THROW(parse_json_body(nested_arrays(512)));
  std::string m = parse_error(nested_arrays(513));
  EXPECT_NE(m.find("offset 512"), std::string::npos) << m;
  EXPECT_NE(m.find("nesting"), std::string::npos) << m;
  std::string objects;
  for (int i = 0; i < 600; ++i) objects += "{\"a\":";
  objects += "1" + std::string(600, '}');
  EXPECT_NE(parse_error(objects).find("offset"), std::string::npos);
}

TEST(ParseJsonBody, NestingLimitConfigurable) {
  EXPECT_NO_THROW(parse_json_body("[[1]]", 2));
  EXPECT_NE(parse_error("[[[1]]]", 2).find("offset 2"), std::string::npos);
  std::string trailing = parse_error("[1],", 1);
  EXPECT_EQ(trailing.find("nesting"), std::string::npos) << "fails for trailing data, not depth: " << trailing;
}

TEST(ParseJsonBody, BracketsInsideStringsDoNotCountAsNesting) {
  EXPECT_NO_THROW(parse_json_body("[\"[[[[{{{{\"]", 1));
  EXPECT_NO_THROW(parse_json_body("[\"\\\"[[[[\"]", 1));
  EXPECT_NO_THROW(parse_json_body("[\"\\\\\",\"x\"]", 1));
}

TEST(IsJsonMediaType, JsonAndSuffix) {
  EXPECT_TRUE(is_json_media_type("application/json"));
  EXPECT_TRUE(is_json_media_type("application/problem+json"));
  EXPECT_TRUE(is_json_media_type("application/vnd.api+json"));
  EXPECT_TRUE(is_json_media_type("text/x-custom+json"));
  EXPECT_FALSE(is_json_media_type("text/plain"));
  EXPECT_FALSE(is_json_media_type("application/jsonx"));
  EXPECT_FALSE(is_json_media_type("application/x-www-form-urlencoded"));
  EXPECT_FALSE(is_json_media_type("+json"));
  EXPECT_FALSE(is_json_media_type("json"));
  EXPECT_FALSE(is_json_media_type(""));
}

TEST(ToMstch, ConvertsEveryType) {
  auto doc = parse_json_body(
      R"({"i":42,"neg":-7,"d":1.5,"s":"t\u00e9","t":true,"f":false,"n":null,"arr":[1,"two"],"obj":{"k":"v"}})");
  mstch::node node = to_mstch(doc);
  const auto* m = boost::get<mstch::map>(&node);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(boost::get<int>(m->at("i")), 42);
  EXPECT_EQ(boost::get<int>(m->at("neg")), -7);
  EXPECT_DOUBLE_EQ(boost::get<double>(m->at("d")), 1.5);
  EXPECT_EQ(boost::get<std::string>(m->at("s")), "t\xC3\xA9");
  EXPECT_TRUE(boost::get<bool>(m->at("t")));
  EXPECT_FALSE(boost::get<bool>(m->at("f")));
  EXPECT_NE(boost::get<std::nullptr_t>(&m->at("n")), nullptr);
  const auto& arr = boost::get<mstch::array>(m->at("arr"));
  ASSERT_EQ(arr.size(), 2u);
  EXPECT_EQ(boost::get<int>(arr[0]), 1);
  EXPECT_EQ(boost::get<std::string>(arr[1]), "two");
  EXPECT_EQ(boost::get<std::string>(boost::get<mstch::map>(m->at("obj")).at("k")), "v");
}

TEST(ToMstch, RendersThroughMstch) {
  auto doc = parse_json_body(R"({"name":"x","items":[{"v":1},{"v":2}],"empty":[],"off":false})");
  EXPECT_EQ(mstch::render("{{name}}:{{#items}}[{{v}}]{{/items}}{{^empty}}none{{/empty}}{{#off}}no{{/off}}",
                          to_mstch(doc)),
            "x:[1][2]none");
}

TEST(ToMstch, IntegersBeyondIntRenderAllDigits) {
  auto doc = parse_json_body(R"({"big":10000000000,"neg":-10000000000,"u":18446744073709551615})");
  EXPECT_EQ(mstch::render("{{big}} {{neg}} {{u}}", to_mstch(doc)),
            "10000000000 -10000000000 18446744073709551615");
}

TEST(JsonErrorBody, ShapeAndUtf8Safety) {
  EXPECT_EQ(json_error_body(404, "Not here"), "{\"error\":{\"code\":404,\"message\":\"Not here\"}}\n");
  std::string body = json_error_body(400, "bad \xFF \"quoted\"");
  EXPECT_TRUE(test::is_valid_utf8(body));
  auto doc = parse_json_body(body);
  EXPECT_EQ(doc["error"]["code"].GetInt(), 400);
  EXPECT_EQ(std::string(doc["error"]["message"].GetString()), "bad \xEF\xBF\xBD \"quoted\"");
}

TEST(WriteString, SanitisesInvalidUtf8) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  write_string(w, "a\xC0\xAF" "b");
  std::string out(buf.GetString(), buf.GetSize());
  EXPECT_EQ(out, "\"a\xEF\xBF\xBD\xEF\xBF\xBD" "b\"");
}

}  // namespace
}  // namespace flaskpp::core
