// Router: Werkzeug 2.2 rule syntax, converters, precedence, 404/405/308/OPTIONS.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/router.hpp"

namespace flaskpp::core {
namespace {

using Kind = RouteMatch::Kind;

const ParamValue* param(const RouteMatch& m, const std::string& name) {
  for (const auto& [n, v] : m.params) {
    if (n == name) return &v;
  }
  return nullptr;
}

std::vector<std::string> names(std::initializer_list<const char*> list) { return {list.begin(), list.end()}; }

// ---------------------------------------------------------------------------------------------
// Pattern parsing

TEST(RouterPattern, WellFormedPatternsCompile) {
  Router r;
  const char* good[] = {"/",
                        "/a/b/c",
                        "/<x>",
                        "/<default:x>",
                        "/a<int:x>b",
                        "/<string(length=2):x>",
                        "/<string(2, 5):x>",
                        "/<any(a,b,'c'):x>",
                        "/<int(min=1, max=10):x>",
                        "/<int():x>",
                        "/<float(signed=True):f>",
                        "/<int(fixed_digits=4):y>/<_private1>",
                        "/files/<path:p>/edit",
                        "/a/<x>/",
                        "/<uuid:u>"};
  for (const char* p : good) EXPECT_NO_THROW(r.add("GET", p)) << p;
  EXPECT_EQ(r.size(), std::size(good));
}

TEST(RouterPattern, CompiledRuleRecordsNamesConvertersAndMethods) {
  Router r;
  std::size_t id = r.add("GET,POST", "/u/<int(min=1):id>/<slug>/<path:rest>");
  const CompiledRule& rule = r.rule(id);
  EXPECT_EQ(rule.pattern, "/u/<int(min=1):id>/<slug>/<path:rest>");
  EXPECT_EQ(rule.param_names, names({"id", "slug", "rest"}));
  ASSERT_EQ(rule.converters.size(), 3u);
  EXPECT_EQ(rule.converters[0].kind, ConverterKind::kInt);
  ASSERT_TRUE(rule.converters[0].min.has_value());
  EXPECT_EQ(*rule.converters[0].min, 1.0);
  EXPECT_EQ(rule.converters[1].kind, ConverterKind::kString);
  EXPECT_EQ(rule.converters[2].kind, ConverterKind::kPath);
  EXPECT_EQ(rule.methods, method::kGet | method::kHead | method::kPost | method::kOptions);
  EXPECT_FALSE(rule.explicit_options);
}

TEST(RouterPattern, MalformedPatternsThrowConfigError) {
  const char* bad[] = {
      "",                                       // empty
      "a",                                      // no leading '/'
      "users/<id>",                             // no leading '/'
      "/<x",                                    // unclosed '<'
      "/a/<int:x",                              // unclosed '<'
      "/a>b",                                   // unmatched '>'
      "/<x>>",                                  // unmatched '>'
      "/<<x>",                                  // '<' inside a variable
      "/<>",                                    // empty variable name
      "/<1x>",                                  // variable starts with a digit
      "/<int:>",                                // empty variable name
      "/<int:a-b>",                             // bad character in variable
      "/<int: x>",                              // space in variable
      "/<x>/<x>",                               // duplicate variable
      "/<x>/<int:x>",                           // duplicate variable, other converter
      "/<foo:x>",                               // unknown converter
      "/<Int:x>",                               // converter names are case-sensitive
      "/<in t:x>",                              // bad converter name
      "/<int(:x>",                              // converter arguments without ')'
      "/<int(min=1:x>",                         // converter arguments without ')'
      "/<int(min='a'):x>",                      // min must be a number
      "/<int(min=1.5):x>",                      // int bound must be an integer
      "/<int(foo=1):x>",                        // unknown argument
      "/<int(1,2,3,True,5):x>",                 // too many positional arguments
      "/<int(fixed_digits=-1):x>",              // negative digits
      "/<int(signed=maybe):x>",                 // not a boolean
      "/<int(min=5, max=1):x>",                 // max < min
      "/<int(,):x>",                            // empty argument
      "/<string(minlength=-1):x>",              // negative length
      "/<string(length=x):x>",                  // length not a number
      "/<string(maxlength=1, minlength=2):x>",  // maxlength < minlength
      "/<string(huge=1):x>",                    // unknown argument
      "/<float(min=2.5, max=1):x>",             // max < min
      "/<float(fixed_digits=2):x>",             // float has no fixed_digits
      "/<path(x=1):p>",                         // path takes no arguments
      "/<any():x>",                             // any needs values
      "/<any(a/b):x>",                          // any values must not contain '/'
      "/<any(k=v):x>",                          // any takes no keywords
      "/<any('a):x>",                           // unterminated quote
  };
  for (const char* p : bad) {
    Router r;
    EXPECT_THROW(r.add("GET", p), ConfigError) << "pattern: " << p;
    EXPECT_EQ(r.size(), 0u) << p;
  }
}

TEST(RouterPattern, ErrorMessagesNameTheProblem) {
  auto message = [](const char* pattern) -> std::string {
    Router r;
    try {
      r.add("GET", pattern);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "<no error>";
  };
  EXPECT_NE(message("x").find("must start with '/'"), std::string::npos);
  EXPECT_NE(message("/<x").find("unclosed '<'"), std::string::npos);
  EXPECT_NE(message("/x>").find("unmatched '>'"), std::string::npos);
  EXPECT_NE(message("/<9>").find("bad variable name"), std::string::npos);
  EXPECT_NE(message("/<a>/<a>").find("used twice"), std::string::npos);
  std::string unknown = message("/<nope:a>");
  EXPECT_NE(unknown.find("unknown converter 'nope'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("/<nope:a>"), std::string::npos) << "names the pattern: " << unknown;
}

TEST(RouterConverterSpec, DefaultsAndPositionalArguments) {
  Converter s = parse_converter("string", "");
  EXPECT_EQ(s.kind, ConverterKind::kString);
  EXPECT_EQ(s.minlength, 1u);
  EXPECT_FALSE(s.maxlength.has_value());

  Converter len = parse_converter("string", "length=3");
  EXPECT_EQ(len.minlength, 3u);
  ASSERT_TRUE(len.maxlength.has_value());
  EXPECT_EQ(*len.maxlength, 3u);

  Converter pos = parse_converter("string", "2, 4");
  EXPECT_EQ(pos.minlength, 2u);
  EXPECT_EQ(pos.maxlength.value_or(0), 4u);

  Converter i = parse_converter("int", "4, 1000, 9999, True");
  EXPECT_EQ(i.fixed_digits, 4);
  EXPECT_EQ(i.min.value_or(-1), 1000);
  EXPECT_EQ(i.max.value_or(-1), 9999);
  EXPECT_TRUE(i.is_signed);

  Converter f = parse_converter("float", "min=0.5, signed=True");
  EXPECT_EQ(f.kind, ConverterKind::kFloat);
  EXPECT_EQ(f.min.value_or(0), 0.5);
  EXPECT_FALSE(f.max.has_value());
  EXPECT_TRUE(f.is_signed);

  Converter none = parse_converter("int", "min=None");
  EXPECT_FALSE(none.min.has_value());

  Converter a = parse_converter("any", "about, help, 'x,y', \"q\"");
  EXPECT_EQ(a.items, names({"about", "help", "x,y", "q"}));

  EXPECT_EQ(parse_converter("default", "").spec, parse_converter("string", "").spec);
  EXPECT_NE(parse_converter("int", "min=1").spec, parse_converter("int", "").spec);
}

TEST(RouterConverterSpec, Weights) {
  EXPECT_EQ(parse_converter("int", "").weight(), 50);
  EXPECT_EQ(parse_converter("float", "").weight(), 50);
  EXPECT_EQ(parse_converter("string", "").weight(), 100);
  EXPECT_EQ(parse_converter("uuid", "").weight(), 100);
  EXPECT_EQ(parse_converter("any", "a").weight(), 100);
  EXPECT_EQ(parse_converter("path", "").weight(), 200);
}

// ---------------------------------------------------------------------------------------------
// Methods

TEST(RouterMethods, ParseMethods) {
  bool opts = true;
  EXPECT_EQ(parse_methods("GET", &opts), method::kGet | method::kHead | method::kOptions);
  EXPECT_FALSE(opts);
  EXPECT_EQ(parse_methods("post", &opts), method::kPost | method::kOptions);
  EXPECT_EQ(parse_methods(" GET , Post ", nullptr),
            method::kGet | method::kHead | method::kPost | method::kOptions);
  EXPECT_EQ(parse_methods("HEAD", nullptr), method::kHead | method::kOptions);
  EXPECT_EQ(parse_methods("GET,OPTIONS", &opts), method::kGet | method::kHead | method::kOptions);
  EXPECT_TRUE(opts);
  EXPECT_EQ(parse_methods("*", &opts), method::kAll);
  EXPECT_FALSE(opts) << "'*' keeps the automatic OPTIONS answer";
}

TEST(RouterMethods, ParseErrors) {
  for (const char* bad : {"", "FOO", "GET,", ",GET", "GET,,POST", "GET;POST", "GET POST", "*,GET", "TRACE",
                          "CONNECT"}) {
    EXPECT_THROW(parse_methods(bad, nullptr), ConfigError) << "'" << bad << "'";
    Router r;
    EXPECT_THROW(r.add(bad, "/x"), ConfigError) << "'" << bad << "'";
  }
}

TEST(RouterMethods, NamesAreSorted) {
  EXPECT_EQ(method_names(method::kAll), names({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}));
  EXPECT_EQ(method_names(method::kPut | method::kGet), names({"GET", "PUT"}));
  EXPECT_TRUE(method_names(0).empty());
  EXPECT_EQ(method_bit("GET"), method::kGet);
  EXPECT_EQ(method_bit("get"), 0u) << "request methods are case-sensitive";
  EXPECT_EQ(method_bit("PROPFIND"), 0u) << "only '*' routes take extension methods";
  EXPECT_EQ(method_names(method::kExtension), names({}));
}

// ---------------------------------------------------------------------------------------------
// Static rules

TEST(RouterStatic, RootAndNestedStaticPaths) {
  Router r;
  r.add("GET", "/");
  r.add("GET", "/a/b");
  auto root = r.match("/", "GET");
  EXPECT_EQ(root.kind, Kind::kMatch);
  EXPECT_EQ(root.rule, 0u);
  EXPECT_TRUE(root.params.empty());
  auto ab = r.match("/a/b", "GET");
  EXPECT_EQ(ab.kind, Kind::kMatch);
  EXPECT_EQ(ab.rule, 1u);
  EXPECT_EQ(r.match("/a", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/a/b/c", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/A/B", "GET").kind, Kind::kNoMatch) << "case-sensitive";
  EXPECT_EQ(r.match("", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("a/b", "GET").kind, Kind::kNoMatch);
}

// ---------------------------------------------------------------------------------------------
// string

TEST(RouterString, DefaultMatchesOneSegment) {
  Router r;
  r.add("GET", "/s/<name>");
  auto m = r.match("/s/abc", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].first, "name");
  EXPECT_EQ(m.params[0].second.kind, ConverterKind::kString);
  EXPECT_EQ(m.params[0].second.text, "abc");
  EXPECT_EQ(r.match("/s/", "GET").kind, Kind::kNoMatch) << "minlength defaults to 1";
  EXPECT_EQ(r.match("/s", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/s/a/b", "GET").kind, Kind::kNoMatch) << "string never spans '/'";
  auto spaced = r.match("/s/hello world", "GET");
  ASSERT_EQ(spaced.kind, Kind::kMatch);
  EXPECT_EQ(spaced.params[0].second.text, "hello world");
}

TEST(RouterString, MinMaxAndExactLength) {
  Router r;
  r.add("GET", "/min/<string(minlength=2):v>");
  r.add("GET", "/max/<string(maxlength=3):v>");
  r.add("GET", "/len/<string(length=2):v>");
  EXPECT_EQ(r.match("/min/a", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/min/ab", "GET").kind, Kind::kMatch);
  EXPECT_EQ(r.match("/min/abcdefgh", "GET").kind, Kind::kMatch);
  EXPECT_EQ(r.match("/max/abc", "GET").kind, Kind::kMatch);
  EXPECT_EQ(r.match("/max/abcd", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/len/a", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/len/ab", "GET").kind, Kind::kMatch);
  EXPECT_EQ(r.match("/len/abc", "GET").kind, Kind::kNoMatch);
}

TEST(RouterString, LengthsCountCodePointsNotBytes) {
  Router r;
  r.add("GET", "/len/<string(length=2):v>");
  r.add("GET", "/max/<string(maxlength=2):v>");
  r.add("GET", "/min/<string(minlength=3):v>");
  r.add("GET", "/one/<string(length=1):v>");
  // "é€" is 2 code points in 5 bytes.
  auto m = r.match("/len/\xC3\xA9\xE2\x82\xAC", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.params[0].second.text, "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(r.match("/max/\xC3\xA9\xC3\xA9", "GET").kind, Kind::kMatch);         // 2 chars, 4 bytes
  EXPECT_EQ(r.match("/max/\xC3\xA9\xC3\xA9\xC3\xA9", "GET").kind, Kind::kNoMatch);  // 3 chars
  EXPECT_EQ(r.match("/min/\xC3\xA9\xC3\xA9", "GET").kind, Kind::kNoMatch);       // 2 chars, 4 bytes
  EXPECT_EQ(r.match("/min/\xC3\xA9\xC3\xA9\xC3\xA9", "GET").kind, Kind::kMatch);
  EXPECT_EQ(r.match("/one/\xF0\x9F\x98\x80", "GET").kind, Kind::kMatch) << "U+1F600 is one character";
}

// ---------------------------------------------------------------------------------------------
// int

TEST(RouterInt, MatchesAsciiDigitsAndConverts) {
  Router r;
  r.add("GET", "/i/<int:n>");
  auto m = r.match("/i/42", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.params[0].second.kind, ConverterKind::kInt);
  EXPECT_EQ(m.params[0].second.int_value, 42);
  EXPECT_EQ(m.params[0].second.text, "42");
  auto zero = r.match("/i/007", "GET");
  ASSERT_EQ(zero.kind, Kind::kMatch);
  EXPECT_EQ(zero.params[0].second.int_value, 7);

  for (const char* p : {"/i/-1", "/i/+5", "/i/4a", "/i/1.5", "/i/", "/i/ 1",
                        "/i/\xD9\xA4\xD9\xA2",          // Arabic-Indic digits
                        "/i/\xEF\xBC\x91\xEF\xBC\x92"}) {  // fullwidth digits
    EXPECT_EQ(r.match(p, "GET").kind, Kind::kNoMatch) << p;
  }
}

TEST(RouterInt, Int64Limits) {
  Router r;
  r.add("GET", "/i/<int:n>");
  auto max = r.match("/i/9223372036854775807", "GET");
  ASSERT_EQ(max.kind, Kind::kMatch);
  EXPECT_EQ(max.params[0].second.int_value, 9223372036854775807LL);
  EXPECT_EQ(r.match("/i/9223372036854775808", "GET").kind, Kind::kNotFound);
  EXPECT_EQ(r.match("/i/99999999999999999999999999", "GET").kind, Kind::kNotFound);
}

TEST(RouterInt, Signed) {
  Router r;
  r.add("GET", "/s/<int(signed=True):n>");
  auto neg = r.match("/s/-5", "GET");
  ASSERT_EQ(neg.kind, Kind::kMatch);
  EXPECT_EQ(neg.params[0].second.int_value, -5);
  auto pos = r.match("/s/5", "GET");
  ASSERT_EQ(pos.kind, Kind::kMatch);
  EXPECT_EQ(pos.params[0].second.int_value, 5);
  EXPECT_EQ(r.match("/s/--5", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/s/-", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/s/+5", "GET").kind, Kind::kNoMatch);
  auto min = r.match("/s/-9223372036854775808", "GET");
  ASSERT_EQ(min.kind, Kind::kMatch);
  EXPECT_EQ(min.params[0].second.int_value, INT64_MIN);
  EXPECT_EQ(r.match("/s/-9223372036854775809", "GET").kind, Kind::kNotFound);
}

TEST(RouterInt, MinMaxRejectionIsNotFound) {
  Router r;
  r.add("GET", "/r/<int(min=1, max=10):n>");
  EXPECT_EQ(r.match("/r/0", "GET").kind, Kind::kNotFound);
  EXPECT_EQ(r.match("/r/11", "GET").kind, Kind::kNotFound);
  auto lo = r.match("/r/1", "GET");
  ASSERT_EQ(lo.kind, Kind::kMatch);
  EXPECT_EQ(lo.params[0].second.int_value, 1);
  EXPECT_EQ(r.match("/r/10", "GET").kind, Kind::kMatch);
  auto nf = r.match("/r/0", "GET");
  EXPECT_TRUE(nf.params.empty()) << "no params reported for a rejected value";

  Router s;
  s.add("GET", "/s/<int(signed=True, min=-3):n>");
  EXPECT_EQ(s.match("/s/-3", "GET").kind, Kind::kMatch);
  EXPECT_EQ(s.match("/s/-4", "GET").kind, Kind::kNotFound);
}

TEST(RouterInt, FixedDigits) {
  Router r;
  r.add("GET", "/y/<int(fixed_digits=4):year>");
  r.add("GET", "/p/<int(2):n>");  // positional fixed_digits
  auto m = r.match("/y/2024", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.params[0].second.int_value, 2024);
  EXPECT_EQ(r.match("/y/0024", "GET").kind, Kind::kMatch);
  EXPECT_EQ(r.match("/y/24", "GET").kind, Kind::kNotFound);
  EXPECT_EQ(r.match("/y/20245", "GET").kind, Kind::kNotFound);
  EXPECT_EQ(r.match("/p/12", "GET").kind, Kind::kMatch);
  EXPECT_EQ(r.match("/p/123", "GET").kind, Kind::kNotFound);
}

TEST(RouterInt, RejectionDoesNotFallThroughToWeakerRule) {
  Router r;
  r.add("GET", "/n/<int(max=10):n>");
  r.add("GET", "/n/<name>");
  r.add("GET", "/d/<int(fixed_digits=3):n>");
  r.add("GET", "/d/<name>");
  EXPECT_EQ(r.match("/n/50", "GET").kind, Kind::kNotFound) << "Werkzeug 2.2: to_python failure is a 404";
  auto ok = r.match("/n/5", "GET");
  ASSERT_EQ(ok.kind, Kind::kMatch);
  EXPECT_EQ(ok.rule, 0u);
  auto text = r.match("/n/abc", "GET");
  ASSERT_EQ(text.kind, Kind::kMatch);
  EXPECT_EQ(text.rule, 1u);
  EXPECT_EQ(r.match("/d/12", "GET").kind, Kind::kNotFound);
  EXPECT_EQ(r.match("/d/123", "GET").rule, 2u);
}

// ---------------------------------------------------------------------------------------------
// float

TEST(RouterFloat, OnlyDigitsDotDigits) {
  Router r;
  r.add("GET", "/f/<float:x>");
  auto m = r.match("/f/1.5", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.params[0].second.kind, ConverterKind::kFloat);
  EXPECT_DOUBLE_EQ(m.params[0].second.float_value, 1.5);
  EXPECT_EQ(m.params[0].second.text, "1.5");
  EXPECT_EQ(r.match("/f/0.0", "GET").kind, Kind::kMatch);
  EXPECT_EQ(r.match("/f/10.25", "GET").kind, Kind::kMatch);
  for (const char* p : {"/f/1e3", "/f/1.5e3", "/f/.5", "/f/5", "/f/5.", "/f/-1.5", "/f/+1.5", "/f/1.5.2",
                        "/f/inf", "/f/nan", "/f/0x1.8p1", "/f/1,5"}) {
    EXPECT_EQ(r.match(p, "GET").kind, Kind::kNoMatch) << p;
  }
}

TEST(RouterFloat, SignedAndBounds) {
  Router r;
  r.add("GET", "/s/<float(signed=True):x>");
  r.add("GET", "/b/<float(min=0.5, max=2):x>");
  auto neg = r.match("/s/-1.25", "GET");
  ASSERT_EQ(neg.kind, Kind::kMatch);
  EXPECT_DOUBLE_EQ(neg.params[0].second.float_value, -1.25);
  EXPECT_EQ(r.match("/s/1.25", "GET").kind, Kind::kMatch);
  EXPECT_EQ(r.match("/s/-1", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/b/0.25", "GET").kind, Kind::kNotFound);
  EXPECT_EQ(r.match("/b/2.5", "GET").kind, Kind::kNotFound);
  EXPECT_EQ(r.match("/b/0.5", "GET").kind, Kind::kMatch);
  EXPECT_EQ(r.match("/b/2.0", "GET").kind, Kind::kMatch);
}

// ---------------------------------------------------------------------------------------------
// path

TEST(RouterPath, SpansSegments) {
  Router r;
  r.add("GET", "/files/<path:p>");
  auto m = r.match("/files/a/b/c.txt", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.params[0].second.kind, ConverterKind::kPath);
  EXPECT_EQ(m.params[0].second.text, "a/b/c.txt");
  auto one = r.match("/files/a", "GET");
  ASSERT_EQ(one.kind, Kind::kMatch);
  EXPECT_EQ(one.params[0].second.text, "a");
  EXPECT_EQ(r.match("/files/", "GET").kind, Kind::kNoMatch) << "path needs at least one character";
  EXPECT_EQ(r.match("/files", "GET").kind, Kind::kNoMatch);
  auto utf8 = r.match("/files/\xC3\xA9t\xC3\xA9/x", "GET");
  ASSERT_EQ(utf8.kind, Kind::kMatch);
  EXPECT_EQ(utf8.params[0].second.text, "\xC3\xA9t\xC3\xA9/x");
}

TEST(RouterPath, StaticSuffixAfterPath) {
  Router r;
  r.add("GET", "/files/<path:p>/edit");
  auto m = r.match("/files/a/b/edit", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.params[0].second.text, "a/b");
  auto nested = r.match("/files/x/edit/edit", "GET");
  ASSERT_EQ(nested.kind, Kind::kMatch);
  EXPECT_EQ(nested.params[0].second.text, "x/edit");
  EXPECT_EQ(r.match("/files/edit", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/files/a/edit/x", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/files/a/b", "GET").kind, Kind::kNoMatch);
}

TEST(RouterPath, ConvertersAfterPath) {
  Router r;
  r.add("GET", "/v/<path:dir>/<int:rev>");
  auto m = r.match("/v/a/b/12", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(param(m, "dir")->text, "a/b");
  EXPECT_EQ(param(m, "rev")->int_value, 12);
  EXPECT_EQ(r.match("/v/a/b/x", "GET").kind, Kind::kNoMatch);
}

// ---------------------------------------------------------------------------------------------
// uuid and any

TEST(RouterUuid, CaseInsensitiveAndLowerCased) {
  Router r;
  r.add("GET", "/u/<uuid:id>");
  auto m = r.match("/u/123E4567-e89b-12D3-A456-426614174ABC", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.params[0].second.kind, ConverterKind::kUuid);
  EXPECT_EQ(m.params[0].second.text, "123e4567-e89b-12d3-a456-426614174abc");
  for (const char* p : {"/u/123e4567e89b12d3a456426614174abc",     // no hyphens
                        "/u/123e4567-e89b-12d3-a456-42661417400",    // short last group
                        "/u/123e4567-e89b-12d3-a456-4266141740000",  // long last group
                        "/u/123e4567-e89b-12d3-a456-42661417400g",   // not hex
                        "/u/{123e4567-e89b-12d3-a456-426614174000}", "/u/x"}) {
    EXPECT_EQ(r.match(p, "GET").kind, Kind::kNoMatch) << p;
  }
}

TEST(RouterAny, MatchesListedValuesOnly) {
  Router r;
  r.add("GET", "/p/<any(about,help,'c'):page>");
  for (const char* v : {"about", "help", "c"}) {
    auto m = r.match(std::string("/p/") + v, "GET");
    ASSERT_EQ(m.kind, Kind::kMatch) << v;
    EXPECT_EQ(m.params[0].second.kind, ConverterKind::kAny);
    EXPECT_EQ(m.params[0].second.text, v);
  }
  for (const char* p : {"/p/other", "/p/abouts", "/p/abou", "/p/'c'", "/p/ABOUT"}) {
    EXPECT_EQ(r.match(p, "GET").kind, Kind::kNoMatch) << p;
  }
}

TEST(RouterAny, PrefixAlternativesBacktrackAndQuotedCommas) {
  Router r;
  r.add("GET", "/a/<any(a, ab):x>");
  r.add("GET", "/q/<any('x,y', z):x>");
  auto m = r.match("/a/ab", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.params[0].second.text, "ab");
  auto q = r.match("/q/x,y", "GET");
  ASSERT_EQ(q.kind, Kind::kMatch);
  EXPECT_EQ(q.params[0].second.text, "x,y");
  EXPECT_EQ(r.match("/q/x", "GET").kind, Kind::kNoMatch);
}

TEST(RouterMixed, StaticTextAroundConverters) {
  Router r;
  r.add("GET", "/page-<int:n>.html");
  r.add("GET", "/<a>-<b>");
  auto m = r.match("/page-12.html", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.rule, 0u);
  EXPECT_EQ(m.params[0].second.int_value, 12);
  auto ab = r.match("/x-y-z", "GET");
  ASSERT_EQ(ab.kind, Kind::kMatch);
  EXPECT_EQ(ab.rule, 1u);
  // Greedy [^/]+ for the first variable, as Werkzeug's regex does.
  EXPECT_EQ(param(ab, "a")->text, "x-y");
  EXPECT_EQ(param(ab, "b")->text, "z");
}

// ---------------------------------------------------------------------------------------------
// Precedence

TEST(RouterPrecedence, StaticBeatsConverterWhateverTheOrder) {
  Router r;
  r.add("GET", "/users/<name>");
  r.add("GET", "/users/me");
  auto me = r.match("/users/me", "GET");
  ASSERT_EQ(me.kind, Kind::kMatch);
  EXPECT_EQ(me.rule, 1u);
  EXPECT_TRUE(me.params.empty());
  EXPECT_EQ(r.match("/users/bob", "GET").rule, 0u);
}

TEST(RouterPrecedence, IntBeatsStringWhateverTheOrder) {
  Router r;
  r.add("GET", "/v/<name>");
  r.add("GET", "/v/<int:id>");
  auto num = r.match("/v/5", "GET");
  ASSERT_EQ(num.kind, Kind::kMatch);
  EXPECT_EQ(num.rule, 1u);
  EXPECT_EQ(num.params[0].second.kind, ConverterKind::kInt);
  auto text = r.match("/v/x5", "GET");
  ASSERT_EQ(text.kind, Kind::kMatch);
  EXPECT_EQ(text.rule, 0u);
}

TEST(RouterPrecedence, FloatBeatsString) {
  Router r;
  r.add("GET", "/v/<name>");
  r.add("GET", "/v/<float:x>");
  EXPECT_EQ(r.match("/v/1.5", "GET").rule, 1u);
  EXPECT_EQ(r.match("/v/1", "GET").rule, 0u);
}

TEST(RouterPrecedence, PathIsTriedLast) {
  Router r;
  r.add("GET", "/<path:p>");
  r.add("GET", "/<name>");
  r.add("GET", "/static/<path:f>");
  auto one = r.match("/x", "GET");
  ASSERT_EQ(one.kind, Kind::kMatch);
  EXPECT_EQ(one.rule, 1u);
  auto deep = r.match("/x/y", "GET");
  ASSERT_EQ(deep.kind, Kind::kMatch);
  EXPECT_EQ(deep.rule, 0u);
  EXPECT_EQ(deep.params[0].second.text, "x/y");
  auto st = r.match("/static/css/site.css", "GET");
  ASSERT_EQ(st.kind, Kind::kMatch);
  EXPECT_EQ(st.rule, 2u);
  EXPECT_EQ(st.params[0].second.text, "css/site.css");
}

TEST(RouterPrecedence, PathWithStaticSuffixBeatsBarePath) {
  Router r;
  r.add("GET", "/files/<path:p>");
  r.add("GET", "/files/<path:p>/edit");
  auto edit = r.match("/files/a/b/edit", "GET");
  ASSERT_EQ(edit.kind, Kind::kMatch);
  EXPECT_EQ(edit.rule, 1u);
  EXPECT_EQ(edit.params[0].second.text, "a/b");
  auto plain = r.match("/files/a/b", "GET");
  ASSERT_EQ(plain.kind, Kind::kMatch);
  EXPECT_EQ(plain.rule, 0u);
}

TEST(RouterPrecedence, MoreStaticTextInASegmentWins) {
  Router r;
  r.add("GET", "/<x>");
  r.add("GET", "/<x>.json");
  r.add("GET", "/a<x>");
  auto json = r.match("/data.json", "GET");
  ASSERT_EQ(json.kind, Kind::kMatch);
  EXPECT_EQ(json.rule, 1u);
  EXPECT_EQ(json.params[0].second.text, "data");
  auto a = r.match("/abc", "GET");
  EXPECT_EQ(a.rule, 2u);
  EXPECT_EQ(a.params[0].second.text, "bc");
  EXPECT_EQ(r.match("/zzz", "GET").rule, 0u);
}

TEST(RouterPrecedence, EqualWeightFollowsDeclarationOrder) {
  {
    Router r;
    r.add("GET", "/e/<a>");
    r.add("GET", "/e/<any(x,y):b>");
    auto m = r.match("/e/x", "GET");
    ASSERT_EQ(m.kind, Kind::kMatch);
    EXPECT_EQ(m.rule, 0u);
    EXPECT_EQ(m.params[0].first, "a");
  }
  {
    Router r;
    r.add("GET", "/e/<any(x,y):b>");
    r.add("GET", "/e/<a>");
    auto m = r.match("/e/x", "GET");
    ASSERT_EQ(m.kind, Kind::kMatch);
    EXPECT_EQ(m.rule, 0u);
    EXPECT_EQ(m.params[0].first, "b");
    EXPECT_EQ(r.match("/e/z", "GET").rule, 1u);
  }
  {
    // Same converter, same state: the first rule declared for the method wins.
    Router r;
    r.add("GET", "/same/<a>");
    r.add("GET", "/same/<b>");
    auto m = r.match("/same/q", "GET");
    EXPECT_EQ(m.rule, 0u);
    EXPECT_EQ(m.params[0].first, "a");
  }
}

TEST(RouterPrecedence, StringLengthMismatchFallsThrough) {
  // length is part of the regex in Werkzeug, so a mismatch tries the next rule.
  Router r;
  r.add("GET", "/q/<string(length=2):a>");
  r.add("GET", "/q/<b>");
  EXPECT_EQ(r.match("/q/ab", "GET").rule, 0u);
  auto m = r.match("/q/abc", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.rule, 1u);
}

TEST(RouterPrecedence, BacktracksAcrossSegments) {
  Router r;
  r.add("GET", "/a/<x>/c");
  r.add("GET", "/<y>/b/d");
  auto m = r.match("/a/b/d", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.rule, 1u);
  EXPECT_EQ(param(m, "y")->text, "a");
  EXPECT_EQ(r.match("/a/b/c", "GET").rule, 0u);
}

TEST(RouterPrecedence, StaticPathWithOtherMethodFallsBackToConverterRule) {
  Router r;
  r.add("POST", "/users/me");
  r.add("GET", "/users/<name>");
  auto m = r.match("/users/me", "GET");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.rule, 1u);
  EXPECT_EQ(m.params[0].second.text, "me");
  EXPECT_EQ(r.match("/users/me", "POST").rule, 0u);
}

// ---------------------------------------------------------------------------------------------
// 404 / 405 / 308

TEST(RouterStatus, MethodNotAllowedListsSortedMethods) {
  Router r;
  r.add("GET", "/m");
  r.add("PUT,POST", "/m");
  r.add("DELETE", "/other");
  auto m = r.match("/m", "DELETE");
  ASSERT_EQ(m.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allowed, names({"GET", "HEAD", "OPTIONS", "POST", "PUT"}));
  auto patch = r.match("/m", "PATCH");
  EXPECT_EQ(patch.kind, Kind::kMethodNotAllowed);
  auto unknown = r.match("/m", "PROPFIND");
  ASSERT_EQ(unknown.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(unknown.allowed, m.allowed);
  auto post = r.match("/m", "POST");
  ASSERT_EQ(post.kind, Kind::kMatch);
  EXPECT_EQ(post.rule, 1u);
}

TEST(RouterStatus, NoMatchForUnknownPath) {
  Router r;
  r.add("GET", "/m");
  auto m = r.match("/nope", "GET");
  EXPECT_EQ(m.kind, Kind::kNoMatch);
  EXPECT_TRUE(m.allowed.empty());
  EXPECT_EQ(r.match("/nope", "POST").kind, Kind::kNoMatch);
}

TEST(RouterStatus, GetImpliesHead) {
  Router r;
  r.add("GET", "/g");
  r.add("POST", "/p");
  r.add("HEAD", "/h");
  EXPECT_EQ(r.match("/g", "HEAD").kind, Kind::kMatch);
  auto p = r.match("/p", "HEAD");
  ASSERT_EQ(p.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(p.allowed, names({"OPTIONS", "POST"}));
  auto h = r.match("/h", "GET");
  ASSERT_EQ(h.kind, Kind::kMethodNotAllowed) << "HEAD does not imply GET";
  EXPECT_EQ(h.allowed, names({"HEAD", "OPTIONS"}));
}

TEST(RouterStatus, TrailingSlashRedirect) {
  Router r;
  r.add("GET", "/x/");
  r.add("GET", "/a/<name>/");
  r.add("GET", "/y");
  auto m = r.match("/x", "GET");
  ASSERT_EQ(m.kind, Kind::kRedirect);
  EXPECT_EQ(m.redirect_path, "/x/");
  EXPECT_EQ(r.match("/x", "HEAD").kind, Kind::kRedirect);
  EXPECT_EQ(r.match("/x/", "GET").kind, Kind::kMatch);
  auto dyn = r.match("/a/bob", "GET");
  ASSERT_EQ(dyn.kind, Kind::kRedirect);
  EXPECT_EQ(dyn.redirect_path, "/a/bob/");
  auto dyn_ok = r.match("/a/bob/", "GET");
  ASSERT_EQ(dyn_ok.kind, Kind::kMatch);
  EXPECT_EQ(dyn_ok.params[0].second.text, "bob");
  // A method the slash rule does not take: no redirect, and no 405 either (Werkzeug: 404).
  EXPECT_EQ(r.match("/x", "POST").kind, Kind::kNoMatch);
  // A rule without the slash requested with one does not match.
  EXPECT_EQ(r.match("/y/", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/y", "GET").kind, Kind::kMatch);
}

TEST(RouterStatus, TrailingSlashRedirectForPathConverter) {
  Router r;
  r.add("GET", "/docs/<path:p>/");
  auto m = r.match("/docs/a/b", "GET");
  ASSERT_EQ(m.kind, Kind::kRedirect);
  EXPECT_EQ(m.redirect_path, "/docs/a/b/");
  auto ok = r.match("/docs/a/b/", "GET");
  ASSERT_EQ(ok.kind, Kind::kMatch);
  EXPECT_EQ(ok.params[0].second.text, "a/b");
  EXPECT_EQ(r.match("/docs/a/b", "POST").kind, Kind::kNoMatch);
}

TEST(RouterStatus, BothSlashFormsDeclared) {
  Router r;
  r.add("GET", "/z");
  r.add("GET", "/z/");
  auto a = r.match("/z", "GET");
  ASSERT_EQ(a.kind, Kind::kMatch);
  EXPECT_EQ(a.rule, 0u);
  auto b = r.match("/z/", "GET");
  ASSERT_EQ(b.kind, Kind::kMatch);
  EXPECT_EQ(b.rule, 1u);
}

TEST(RouterStatus, SlashRuleWithOtherMethodAndPlainRule) {
  // '/w' POST exists, '/w/' GET exists: GET /w redirects, POST /w matches.
  Router r;
  r.add("POST", "/w");
  r.add("GET", "/w/");
  EXPECT_EQ(r.match("/w", "GET").kind, Kind::kRedirect);
  EXPECT_EQ(r.match("/w", "POST").kind, Kind::kMatch);
}

TEST(RouterStatus, SlashRedirectPreemptsWeakerRules) {
  // Werkzeug raises RequestRedirect as soon as the stronger rule needs a slash, even though a
  // weaker rule (here the path converter) would match the request as it is.
  Router r;
  r.add("GET", "/<a>/");
  r.add("GET", "/<path:p>");
  auto m = r.match("/x", "GET");
  ASSERT_EQ(m.kind, Kind::kRedirect);
  EXPECT_EQ(m.redirect_path, "/x/");
  auto deep = r.match("/x/y", "GET");
  ASSERT_EQ(deep.kind, Kind::kMatch);
  EXPECT_EQ(deep.rule, 1u);
}

TEST(RouterStatus, RedirectIsDecidedBeforeConversion) {
  Router r;
  r.add("GET", "/r/<int(max=5):n>/");
  auto m = r.match("/r/9", "GET");
  ASSERT_EQ(m.kind, Kind::kRedirect);
  EXPECT_EQ(m.redirect_path, "/r/9/");
  EXPECT_EQ(r.match("/r/9/", "GET").kind, Kind::kNotFound);
  EXPECT_EQ(r.match("/r/5/", "GET").kind, Kind::kMatch);
}

TEST(RouterStatus, MethodNotAllowedCollectsAcrossBranches) {
  // The static branch and a converter branch both reach the path with other methods.
  Router r;
  r.add("PUT", "/users/me");
  r.add("DELETE", "/users/<name>");
  r.add("PATCH", "/users/<int:id>");
  auto me = r.match("/users/me", "GET");
  ASSERT_EQ(me.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(me.allowed, names({"DELETE", "OPTIONS", "PUT"}));
  auto num = r.match("/users/5", "GET");
  ASSERT_EQ(num.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(num.allowed, names({"DELETE", "OPTIONS", "PATCH"}));
}

// ---------------------------------------------------------------------------------------------
// OPTIONS and '*'

TEST(RouterOptions, AutomaticAnswerListsEveryRuleOfThePath) {
  Router r;
  r.add("GET", "/o");
  r.add("POST", "/o");
  auto m = r.match("/o", "OPTIONS");
  ASSERT_EQ(m.kind, Kind::kOptions);
  EXPECT_EQ(m.allowed, names({"GET", "HEAD", "OPTIONS", "POST"}));
  EXPECT_EQ(r.match("/none", "OPTIONS").kind, Kind::kNoMatch);
  EXPECT_EQ(r.allowed_methods("/o"), m.allowed);
  EXPECT_TRUE(r.allowed_methods("/none").empty());
  EXPECT_TRUE(r.allowed_methods("").empty());
}

TEST(RouterOptions, DynamicRulesContributeTheirMethods) {
  Router r;
  r.add("GET", "/items/<int:id>");
  r.add("DELETE", "/items/<name>");
  auto num = r.match("/items/5", "OPTIONS");
  ASSERT_EQ(num.kind, Kind::kOptions);
  EXPECT_EQ(num.allowed, names({"DELETE", "GET", "HEAD", "OPTIONS"}));
  auto text = r.match("/items/abc", "OPTIONS");
  ASSERT_EQ(text.kind, Kind::kOptions);
  EXPECT_EQ(text.allowed, names({"DELETE", "OPTIONS"}));
}

TEST(RouterOptions, ExplicitOptionsRouteMatches) {
  Router r;
  r.add("GET,OPTIONS", "/explicit");
  EXPECT_TRUE(r.rule(0).explicit_options);
  auto m = r.match("/explicit", "OPTIONS");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_EQ(m.rule, 0u);
  Router only;
  only.add("OPTIONS", "/cors");
  EXPECT_EQ(only.match("/cors", "OPTIONS").kind, Kind::kMatch);
  auto get = only.match("/cors", "GET");
  ASSERT_EQ(get.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(get.allowed, names({"OPTIONS"}));
}

TEST(RouterOptions, ConverterRejectionStillNotFound) {
  Router r;
  r.add("GET", "/r/<int(max=5):n>");
  EXPECT_EQ(r.match("/r/9", "OPTIONS").kind, Kind::kNotFound);
  EXPECT_EQ(r.match("/r/3", "OPTIONS").kind, Kind::kOptions);
}

TEST(RouterOptions, StarAcceptsEveryMethodAndKeepsAutomaticOptions) {
  Router r;
  r.add("*", "/any");
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}) {
    EXPECT_EQ(r.match("/any", m).kind, Kind::kMatch) << m;
  }
  auto opt = r.match("/any", "OPTIONS");
  ASSERT_EQ(opt.kind, Kind::kOptions);
  EXPECT_EQ(opt.allowed, names({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}));
  EXPECT_EQ(r.allowed_methods("/any"), opt.allowed) << "extension methods cannot be listed in Allow";
}

TEST(RouterOptions, StarTakesExtensionMethods) {
  // '*' is Werkzeug's rule without a method list: every method, extension methods included.
  Router r;
  r.add("*", "/cache/<path:key>");
  for (const char* m : {"PURGE", "PROPFIND", "MKCOL", "BAN", "get"}) {
    auto match = r.match("/cache/a/b", m);
    ASSERT_EQ(match.kind, Kind::kMatch) << m;
    EXPECT_EQ(match.params[0].second.text, "a/b") << m;
  }
  EXPECT_EQ(r.match("/other", "PURGE").kind, Kind::kNoMatch);
}

TEST(RouterOptions, ExtensionMethodOnListedRouteIsMethodNotAllowed) {
  Router r;
  r.add("GET", "/page");
  r.add("POST,DELETE", "/page");
  for (const char* m : {"PURGE", "PROPFIND"}) {
    auto match = r.match("/page", m);
    ASSERT_EQ(match.kind, Kind::kMethodNotAllowed) << m;
    EXPECT_EQ(match.allowed, names({"DELETE", "GET", "HEAD", "OPTIONS", "POST"})) << m;
  }
}

TEST(RouterOptions, ExtensionMethodFallsThroughToWeakerStarRule) {
  // A stronger rule for the path that only takes GET does not stop a weaker '*' rule, and the
  // '*' rule does not make the GET-only rule take other methods.
  Router r;
  r.add("GET", "/items/latest");
  r.add("*", "/items/<name>");
  r.add("GET", "/only-get");
  auto purge = r.match("/items/latest", "PURGE");
  ASSERT_EQ(purge.kind, Kind::kMatch);
  EXPECT_EQ(purge.rule, 1u);
  EXPECT_EQ(purge.params[0].second.text, "latest");
  EXPECT_EQ(r.match("/items/latest", "GET").rule, 0u);
  auto options = r.match("/items/latest", "OPTIONS");
  ASSERT_EQ(options.kind, Kind::kOptions);
  EXPECT_EQ(options.allowed, names({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}));
  auto other = r.match("/only-get", "PURGE");
  ASSERT_EQ(other.kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(other.allowed, names({"GET", "HEAD", "OPTIONS"}));
}

// ---------------------------------------------------------------------------------------------
// Scale and object semantics

TEST(RouterScale, ThousandRoutesStillMatchTheRightOne) {
  Router r;
  for (int i = 0; i < 250; ++i) r.add("GET", "/static" + std::to_string(i));
  for (int i = 0; i < 250; ++i) r.add("GET", "/r" + std::to_string(i) + "/<int:id>");
  for (int i = 0; i < 250; ++i) r.add("POST", "/shared/<int:id>/s" + std::to_string(i));
  for (int i = 0; i < 250; ++i) r.add("GET", "/p" + std::to_string(i) + "-<name>/<path:rest>");
  ASSERT_EQ(r.size(), 1000u);

  EXPECT_EQ(r.match("/static0", "GET").rule, 0u);
  EXPECT_EQ(r.match("/static249", "GET").rule, 249u);
  auto dyn = r.match("/r137/99", "GET");
  ASSERT_EQ(dyn.kind, Kind::kMatch);
  EXPECT_EQ(dyn.rule, 250u + 137u);
  EXPECT_EQ(dyn.params[0].second.int_value, 99);
  auto shared = r.match("/shared/7/s200", "POST");
  ASSERT_EQ(shared.kind, Kind::kMatch);
  EXPECT_EQ(shared.rule, 500u + 200u);
  EXPECT_EQ(shared.params[0].second.int_value, 7);
  EXPECT_EQ(r.match("/shared/7/s200", "GET").kind, Kind::kMethodNotAllowed);
  auto path = r.match("/p42-abc/x/y", "GET");
  ASSERT_EQ(path.kind, Kind::kMatch);
  EXPECT_EQ(path.rule, 750u + 42u);
  EXPECT_EQ(param(path, "name")->text, "abc");
  EXPECT_EQ(param(path, "rest")->text, "x/y");
  EXPECT_EQ(r.match("/r250/1", "GET").kind, Kind::kNoMatch);
  EXPECT_EQ(r.match("/shared/7/s250", "POST").kind, Kind::kNoMatch);
  // Every rule is reachable.
  for (int i = 0; i < 250; ++i) {
    ASSERT_EQ(r.match("/r" + std::to_string(i) + "/1", "GET").rule, static_cast<std::size_t>(250 + i)) << i;
  }
}

TEST(RouterObject, MoveKeepsRules) {
  Router r;
  r.add("GET", "/a/<int:x>");
  Router moved(std::move(r));
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_EQ(moved.match("/a/1", "GET").kind, Kind::kMatch);
  Router assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.match("/a/1", "GET").kind, Kind::kMatch);
}

}  // namespace
}  // namespace flaskpp::core
