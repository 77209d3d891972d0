// request.hpp helpers: query parsing, URL decoding/quoting, UTF-8 sanitising, HTML escaping.
#include <gtest/gtest.h>

#include <string>

#include "core/request.hpp"
#include "core/response.hpp"
#include "test_support.hpp"

namespace flaskpp::core {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(ParseQuery, MultipleValuesKeepArrivalOrder) {
  StringPairs q = parse_query("a=1&b=2&a=3");
  StringPairs expected = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
  EXPECT_EQ(q, expected);
}

TEST(ParseQuery, PlusAndPercentEscapes) {
  StringPairs q = parse_query("q=hello+world&x=%41%62%2B%26%3D&name=%C3%A9t%C3%A9&k%20ey=v");
  StringPairs expected = {{"q", "hello world"}, {"x", "Ab+&="}, {"name", "\xC3\xA9t\xC3\xA9"}, {"k ey", "v"}};
  EXPECT_EQ(q, expected);
}

TEST(ParseQuery, BadEscapesStayLiteral) {
  StringPairs q = parse_query("a=%zz&b=%4&c=%&d=100%&e=%g1&f=%41%");
  StringPairs expected = {{"a", "%zz"}, {"b", "%4"}, {"c", "%"}, {"d", "100%"}, {"e", "%g1"}, {"f", "A%"}};
  EXPECT_EQ(q, expected);
}

TEST(ParseQuery, EmptyKeysAndItems) {
  StringPairs q = parse_query("&&=x&=&flag&b=&c=1=2&");
  StringPairs expected = {{"flag", ""}, {"b", ""}, {"c", "1=2"}};
  EXPECT_EQ(q, expected);
  EXPECT_TRUE(parse_query("").empty());
  EXPECT_TRUE(parse_query("&").empty());
  EXPECT_TRUE(parse_query("=only").empty());
}

TEST(ParseQuery, SemicolonIsNotASeparator) {
  StringPairs q = parse_query("a=1;b=2");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].second, "1;b=2");
}

TEST(UrlDecode, PlusHandlingIsSelectable) {
  EXPECT_EQ(url_decode("a+b%20c", true), "a b c");
  EXPECT_EQ(url_decode("a+b%20c", false), "a+b c");
  EXPECT_EQ(url_decode("%2f%2F", false), "//");
  EXPECT_EQ(url_decode("%00x", false), std::string("\0x", 2));
}

TEST(UrlQuotePath, EscapesUnsafeKeepsSafe) {
  EXPECT_EQ(url_quote_path("/a b/\xC3\xA9"), "/a%20b/%C3%A9");
  EXPECT_EQ(url_quote_path("/q?x#y%z"), "/q%3Fx%23y%25z");
  EXPECT_EQ(url_quote_path("/<tag>\"quote\""), "/%3Ctag%3E%22quote%22");
  const std::string safe = "/AZaz09-._~!$&'()*+,;=:@";
  EXPECT_EQ(url_quote_path(safe), safe);
  EXPECT_EQ(url_quote_path(std::string("/\x01\x7F\xFF", 4)), "/%01%7F%FF");
  EXPECT_EQ(url_quote_path(""), "");
}

TEST(UrlQuotePath, RoundTripsThroughDecode) {
  std::string raw = "/d\xC3\xA9j\xC3\xA0 vu/100%/a+b?c";
  EXPECT_EQ(url_decode(url_quote_path(raw), false), raw);
}

TEST(SanitizeUtf8, ValidTextIsUnchanged) {
  std::string text = "ascii \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF end";
  EXPECT_EQ(sanitize_utf8(text), text);
  EXPECT_EQ(sanitize_utf8(""), "");
  EXPECT_EQ(sanitize_utf8(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(SanitizeUtf8, InvalidBytesBecomeReplacementCharacter) {
  EXPECT_EQ(sanitize_utf8("a\xFF" "b"), "a" + kFffd + "b");
  EXPECT_EQ(sanitize_utf8("\x80"), kFffd);                   // lone continuation byte
  EXPECT_EQ(sanitize_utf8("\xF8\x88\x80\x80\x80"), kFffd + kFffd + kFffd + kFffd + kFffd);  // 5-byte form
  EXPECT_EQ(sanitize_utf8("\xC3"), kFffd);                   // truncated at the end
  std::string cut = sanitize_utf8("\xE2\x82" "A");           // truncated before ASCII
  EXPECT_EQ(cut.substr(0, 3), kFffd);
  EXPECT_EQ(cut.back(), 'A');
  EXPECT_TRUE(test::is_valid_utf8(cut));
}

TEST(SanitizeUtf8, OverlongSurrogateAndOutOfRangeAreRejected) {
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), kFffd + kFffd);                      // overlong '/'
  EXPECT_EQ(sanitize_utf8("\xE0\x80\xAF"), kFffd + kFffd + kFffd);          // overlong '/'
  EXPECT_EQ(sanitize_utf8("\xF0\x80\x80\xAF"), kFffd + kFffd + kFffd + kFffd);  // overlong '/'
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), kFffd + kFffd + kFffd);          // U+D800
  EXPECT_EQ(sanitize_utf8("\xED\xBF\xBF"), kFffd + kFffd + kFffd);          // U+DFFF
  EXPECT_EQ(sanitize_utf8("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // U+110000
  for (const char* bad : {"\xC0\x80", "\xED\xA0\x80\xED\xB0\x80", "x\xF5\x80\x80\x80y", "\xE2\x28\xA1"}) {
    std::string out = sanitize_utf8(bad);
    EXPECT_TRUE(test::is_valid_utf8(out)) << bad;
    EXPECT_NE(out.find(kFffd), std::string::npos) << bad;
  }
  EXPECT_EQ(sanitize_utf8("\xE2\x28\xA1"), kFffd + "(" + kFffd);
}

TEST(HtmlEscape, EscapesTheFiveCharacters) {
  EXPECT_EQ(html_escape("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&#34;x&#34;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
  EXPECT_EQ(html_escape("plain /text/ = ok"), "plain /text/ = ok");
  EXPECT_EQ(html_escape("&amp;"), "&amp;amp;");
  EXPECT_EQ(html_escape(""), "");
}

TEST(ToLower, AsciiOnly) { EXPECT_EQ(to_lower("Content-TYPE \xC3\x89"), "content-type \xC3\x89"); }

TEST(Request, HeaderLookupFirstValue) {
  Request r;
  r.headers = {{"x-a", "1"}, {"x-b", "2"}, {"x-a", "3"}};
  ASSERT_NE(r.header("x-a"), nullptr);
  EXPECT_EQ(*r.header("x-a"), "1");
  EXPECT_EQ(*r.header("x-b"), "2");
  EXPECT_EQ(r.header("x-c"), nullptr);
  EXPECT_EQ(r.header("X-A"), nullptr) << "names are stored and looked up in lower case";
}

TEST(Request, ContentTypeIsMediaTypeOnly) {
  Request r;
  EXPECT_EQ(r.content_type(), "");
  r.headers = {{"content-type", "Application/JSON; charset=UTF-8"}};
  EXPECT_EQ(r.content_type(), "application/json");
  r.headers = {{"content-type", "  text/plain  "}};
  EXPECT_EQ(r.content_type(), "text/plain");
  r.headers = {{"content-type", "multipart/form-data;boundary=xyz"}};
  EXPECT_EQ(r.content_type(), "multipart/form-data");
  r.headers = {{"content-type", ""}};
  EXPECT_EQ(r.content_type(), "");
}

TEST(Request, UrlQuotesPathAndKeepsQuery) {
  Request r;
  r.host_url = "http://127.0.0.1:8080";
  r.path = "/hello/w\xC3\xB6rld x";
  EXPECT_EQ(r.url(), "http://127.0.0.1:8080/hello/w%C3%B6rld%20x");
  r.query = "a=1&b=%20";
  EXPECT_EQ(r.url(), "http://127.0.0.1:8080/hello/w%C3%B6rld%20x?a=1&b=%20");
}

TEST(ResponseText, ReasonPhrasesAndDescriptions) {
  EXPECT_STREQ(reason_phrase(404), "Not Found");
  EXPECT_STREQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_STREQ(reason_phrase(308), "Permanent Redirect");
  EXPECT_STREQ(reason_phrase(999), "Error");
  EXPECT_STREQ(status_description(405), "The method is not allowed for the requested URL.");
  EXPECT_STREQ(status_description(429), "Too Many Requests");
}

}  // namespace
}  // namespace flaskpp::core

namespace {
TEST(ParseDecimal, DigitsUpToTheLargestUint64) {
  using flaskpp::core::parse_decimal;
  EXPECT_EQ(parse_decimal("0"), 0u);
  EXPECT_EQ(parse_decimal("0042"), 42u);
  EXPECT_EQ(parse_decimal("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_decimal("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_decimal("99999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_decimal(""), std::nullopt);
  EXPECT_EQ(parse_decimal("-1"), std::nullopt);
  EXPECT_EQ(parse_decimal("1 "), std::nullopt);
}
}  // namespace
