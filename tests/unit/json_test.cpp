// json.hpp: strict body parsing (RFC 8259), media types, JSON -> mstch, error bodies.
#include <gtest/gtest.h>

#include <boost/variant/get.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

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

// Debian's RapidJSON 1.1.0 reaches clz(0) in DiyFp::Normalize and a shift by 63 in StrtodDiyFp
// for these under kParseFullPrecisionFlag; no body may reach that code.
TEST(ParseJsonBody, ZeroWithExponentAndFriendsAreZero) {
  for (const char* zero : {"0e124", "0e-40", "0E+300", "0.0e100", "0.000e-5", "0e308", "0e-400", "0.0e-999999999",
                           "0e0", "0.0", "0e-2147483648", "[0e124,0e-40]"}) {
    rapidjson::Document doc;
    ASSERT_NO_THROW(doc = parse_json_body(zero)) << zero;
    const rapidjson::Value& v = doc.IsArray() ? doc[0] : doc;
    ASSERT_TRUE(v.IsDouble()) << zero;
    EXPECT_EQ(v.GetDouble(), 0.0) << zero;
    EXPECT_FALSE(std::signbit(v.GetDouble())) << zero;
  }
  for (const char* negative_zero : {"-0e124", "-0e-40", "-0.0", "-1e-400"}) {
    auto doc = parse_json_body(negative_zero);
    ASSERT_TRUE(doc.IsDouble()) << negative_zero;
    EXPECT_EQ(doc.GetDouble(), 0.0) << negative_zero;
    EXPECT_TRUE(std::signbit(doc.GetDouble())) << negative_zero;
  }
  for (const char* tiny : {"1e-400", "1e-324", "2e-324", "0.1e-323", "123e-500"}) {
    auto doc = parse_json_body(tiny);
    ASSERT_TRUE(doc.IsDouble()) << tiny;
    EXPECT_EQ(doc.GetDouble(), 0.0) << tiny << " underflows to zero, as in Python";
  }
}

double parsed_double(const std::string& body) {
  auto doc = parse_json_body(body);
  EXPECT_TRUE(doc.IsDouble()) << body;
  return doc.IsNumber() ? doc.GetDouble() : -1.0;
}

// The correctly rounded value of 2^-1075 (half the smallest denormal), all 752 significant digits.
const std::string kHalfMinDenormal =
    "2.47032822920623272088284396434110686182529901307162382212792841250337753635104375932649918180817996"
    "1898982823477228588654633283551779698981993873980053909390631503565951557022639229085839244910518443"
    "5931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927"
    "8343384093519780155312465972635795746227664652728272200563740064854999770965994704540208281662262378"
    "5739345073633900796776193057750674017632467360096895134053553745851666113422376667860416215968046191"
    "4467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668"
    "2350898633885879256283027559956575244555072551893136908362547791869486679949683240497058210285131854"
    "51396213837722826145437693412532098591327667236328125";

TEST(ParseJsonBody, DoublesAreCorrectlyRounded) {
  EXPECT_EQ(parsed_double("0.1"), 0.1);
  EXPECT_EQ(parsed_double("-2.5"), -2.5);
  EXPECT_EQ(parsed_double("1.7976931348623157e308"), std::numeric_limits<double>::max());
  EXPECT_EQ(parsed_double("1.7976931348623158e308"), std::numeric_limits<double>::max());
  EXPECT_EQ(parsed_double("2.2250738585072011e-308"), 2.2250738585072011e-308);
  EXPECT_EQ(parsed_double("2.2250738585072012e-308"), 2.2250738585072012e-308);
  EXPECT_EQ(parsed_double("2.2250738585072014e-308"), std::numeric_limits<double>::min());
  EXPECT_EQ(parsed_double("4.9406564584124654e-324"), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(parsed_double("9007199254740993.0"), 9007199254740992.0);
  EXPECT_EQ(parsed_double("9007199254740993e0"), 9007199254740992.0);
  EXPECT_EQ(parsed_double("9007199254740995.0"), 9007199254740996.0);
  EXPECT_EQ(parsed_double("1e23"), 1e23);
  EXPECT_EQ(parsed_double("8.98846567431158e307"), 8.98846567431158e307);
  EXPECT_EQ(parsed_double("123456789012345678901234567890"), 123456789012345678901234567890.0);
  EXPECT_EQ(parsed_double("18446744073709551616"), 18446744073709551616.0);
  EXPECT_EQ(parsed_double("-9223372036854775809"), -9223372036854775808.0);
  // 1 + 2^-53 is exactly halfway between 1 and the next double: ties to even gives 1; any digit
  // beyond it, even 800 digits later, tips it up.
  const std::string halfway = "1.00000000000000011102230246251565404236316680908203125";
  EXPECT_EQ(parsed_double(halfway), 1.0);
  EXPECT_EQ(parsed_double(halfway + std::string(750, '0')), 1.0);
  EXPECT_EQ(parsed_double(halfway + std::string(750, '0') + "1"), std::nextafter(1.0, 2.0));
  EXPECT_EQ(parsed_double("0." + std::string(800, '9')), 1.0);
  EXPECT_EQ(parsed_double(kHalfMinDenormal + "e-324"), 0.0);
  EXPECT_EQ(parsed_double(kHalfMinDenormal + "1e-324"), std::numeric_limits<double>::denorm_min());
}

TEST(ParseJsonBody, IntegersStayExact) {
  auto doc = parse_json_body(
      "[0,-0,1,-1,2147483647,2147483648,-2147483648,-2147483649,4294967295,4294967296,9007199254740993,"
      "9223372036854775807,-9223372036854775808,18446744073709551615]");
  ASSERT_TRUE(doc.IsArray());
  ASSERT_EQ(doc.Size(), 14u);
  for (const auto& v : doc.GetArray()) EXPECT_FALSE(v.IsDouble());
  EXPECT_TRUE(doc[0].IsInt());
  EXPECT_EQ(doc[0].GetInt(), 0);
  EXPECT_TRUE(doc[1].IsInt()) << "-0 is the integer 0, as in Python";
  EXPECT_EQ(doc[1].GetInt(), 0);
  EXPECT_EQ(doc[3].GetInt(), -1);
  EXPECT_EQ(doc[4].GetInt(), 2147483647);
  EXPECT_FALSE(doc[5].IsInt());
  EXPECT_EQ(doc[5].GetUint(), 2147483648u);
  EXPECT_EQ(doc[6].GetInt(), -2147483647 - 1);
  EXPECT_EQ(doc[7].GetInt64(), -2147483649LL);
  EXPECT_EQ(doc[8].GetUint(), 4294967295u);
  EXPECT_EQ(doc[9].GetInt64(), 4294967296LL);
  EXPECT_EQ(doc[10].GetInt64(), 9007199254740993LL);
  EXPECT_EQ(doc[11].GetInt64(), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(doc[12].GetInt64(), std::numeric_limits<std::int64_t>::min());
  EXPECT_TRUE(doc[13].IsUint64());
  EXPECT_FALSE(doc[13].IsInt64());
  EXPECT_EQ(doc[13].GetUint64(), std::numeric_limits<std::uint64_t>::max());
}

TEST(ParseJsonBody, DoubleOverflowIs400WithTheNumbersOffset) {
  for (const auto& [body, offset] : std::vector<std::pair<std::string, int>>{
           {"1e400", 0}, {"-1e400", 0}, {"[1, -1e400]", 4}, {"1.8e308", 0}, {"[1.7976931348623159e308]", 1},
           {"{\"n\": 17976931348623159e292}", 6}, {"[0, 1234567890123456789.0e300]", 4},
           {"[" + std::string(400, '9') + "]", 1}, {"-" + std::string(309, '9') + ".5", 0}}) {
    std::string m = parse_error(body);
    EXPECT_NE(m.find("invalid JSON at offset " + std::to_string(offset) + ": Number too big"), std::string::npos)
        << body.substr(0, 60) << ": " << m;
  }
}

TEST(ParseJsonBody, NumberSyntaxErrorsKeepTheirOffsets) {
  EXPECT_NE(parse_error("[1.]").find("offset 3"), std::string::npos) << parse_error("[1.]");
  EXPECT_NE(parse_error("[1e]").find("offset 3"), std::string::npos) << parse_error("[1e]");
  EXPECT_NE(parse_error("[-]").find("offset 2"), std::string::npos) << parse_error("[-]");
  EXPECT_NE(parse_error("[1,2").find("offset 4"), std::string::npos) << parse_error("[1,2");
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
