// The part matcher: same answers as Werkzeug's backtracking regex, at bounded cost.
//
// The oracle below is the router's former matcher, kept verbatim in spirit: it lists every end a
// converter may take, in the order the regex tries them, and backtracks. It is exponential in the
// number of converters of a part, which is why it was replaced, and it is the reference for what
// the replacement must answer.
#include <gtest/gtest.h>

#include <cctype>
#include <random>
#include <string>
#include <vector>

#include "core/router.hpp"
#include "core/router_internal.hpp"

namespace flaskpp::core {
namespace {

using Kind = RouteMatch::Kind;

// ---------------------------------------------------------------------------------------------
// Oracle: the backtracking matcher the router used before.

void oracle_ends(const Converter& c, std::string_view s, std::size_t pos, std::vector<std::size_t>& ends) {
  auto is_cont = [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) == 0x80; };
  auto is_digit = [](char ch) { return ch >= '0' && ch <= '9'; };
  ends.clear();
  switch (c.kind) {
    case ConverterKind::kString: {
      std::vector<std::size_t> bounds;  // bounds[k] = byte offset after k code points
      bounds.push_back(pos);
      std::size_t p = pos;
      while (p < s.size() && s[p] != '/') {
        ++p;
        while (p < s.size() && is_cont(s[p])) ++p;
        bounds.push_back(p);
      }
      std::size_t n = bounds.size() - 1;
      std::size_t hi = c.maxlength ? std::min(n, *c.maxlength) : n;
      for (std::size_t k = hi + 1; k-- > c.minlength;) ends.push_back(bounds[k]);
      break;
    }
    case ConverterKind::kInt: {
      std::size_t p = pos;
      if (c.is_signed && p < s.size() && s[p] == '-') ++p;
      std::size_t digits_start = p;
      while (p < s.size() && is_digit(s[p])) ++p;
      for (std::size_t e = p; e > digits_start; --e) ends.push_back(e);
      break;
    }
    case ConverterKind::kFloat: {
      std::size_t p = pos;
      if (c.is_signed && p < s.size() && s[p] == '-') ++p;
      std::size_t d1 = p;
      while (p < s.size() && is_digit(s[p])) ++p;
      if (p == d1 || p >= s.size() || s[p] != '.') break;
      ++p;
      std::size_t d2 = p;
      while (p < s.size() && is_digit(s[p])) ++p;
      for (std::size_t e = p; e > d2; --e) ends.push_back(e);
      break;
    }
    case ConverterKind::kUuid: {
      static const int kGroups[] = {8, 4, 4, 4, 12};
      std::size_t p = pos;
      for (int g = 0; g < 5; ++g) {
        if (g > 0) {
          if (p >= s.size() || s[p] != '-') return;
          ++p;
        }
        for (int k = 0; k < kGroups[g]; ++k, ++p) {
          if (p >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[p]))) return;
        }
      }
      ends.push_back(p);
      break;
    }
    case ConverterKind::kAny:
      for (const auto& item : c.items) {
        if (s.substr(pos, item.size()) == item) ends.push_back(pos + item.size());
      }
      break;
    case ConverterKind::kPath:
      if (pos < s.size() && s[pos] != '/') {
        for (std::size_t e = pos + 1; e <= s.size(); ++e) {
          if (e < s.size() && is_cont(s[e])) continue;
          ends.push_back(e);
        }
      }
      break;
  }
}

bool oracle_match(const std::vector<PatternToken>& tokens, std::size_t ti, std::string_view s, std::size_t pos,
                  std::vector<std::string_view>& caps) {
  if (ti == tokens.size()) return pos == s.size();
  const PatternToken& t = tokens[ti];
  if (t.is_static) {
    if (s.compare(pos, t.text.size(), t.text) != 0) return false;
    return oracle_match(tokens, ti + 1, s, pos + t.text.size(), caps);
  }
  std::vector<std::size_t> ends;
  oracle_ends(t.conv, s, pos, ends);
  for (std::size_t e : ends) {
    caps.push_back(s.substr(pos, e - pos));
    if (oracle_match(tokens, ti + 1, s, e, caps)) return true;
    caps.pop_back();
  }
  return false;
}

PatternToken lit(std::string text) { return PatternToken{true, std::move(text), {}}; }
PatternToken conv(const char* name, const char* args = "") { return PatternToken{false, "", parse_converter(name, args)}; }

std::string describe(const std::vector<PatternToken>& tokens) {
  std::string out;
  for (const auto& t : tokens) out += t.is_static ? "'" + t.text + "' " : "<" + t.conv.spec + "> ";
  return out;
}

// ---------------------------------------------------------------------------------------------
// Differential test: many small random parts and texts, deterministic seed.

TEST(RouterMatcher, AgreesWithBacktrackingOracle) {
  const std::vector<PatternToken> converters = {
      conv("string"),          conv("string", "minlength=0"), conv("string", "length=2"),
      conv("string", "maxlength=2"), conv("string", "2, 3"),  conv("int"),
      conv("int", "signed=True"),    conv("float"),           conv("float", "signed=True"),
      conv("path"),            conv("uuid"),                  conv("any", "a, ab, '\xC3\xA9', 1, 'a-'")};
  const std::vector<std::string> statics = {"-", ".", "a", "1", "/", "\xC3\xA9", "-1", "a/", ".b"};
  const std::vector<std::string> pieces = {"a", "b", "1", "2", "-", ".", "/", "\xC3\xA9", "\xE2\x82\xAC",
                                           "\x80", "\xC3", "ab", "12", "-3"};
  const std::string uuid = "123e4567-E89b-12d3-a456-426614174abc";

  std::mt19937 rng(20240611);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::size_t matched = 0, multi = 0, cases = 0;
  for (int rule = 0; rule < 4000; ++rule) {
    std::vector<PatternToken> tokens;
    std::size_t count = 1 + pick(5);
    for (std::size_t k = 0; k < count; ++k) {
      tokens.push_back(pick(5) < 3 ? converters[pick(converters.size())] : lit(statics[pick(statics.size())]));
    }
    std::size_t convs = 0;
    for (const auto& t : tokens) convs += t.is_static ? 0 : 1;
    for (int text = 0; text < 40; ++text) {
      std::string s;
      std::size_t len = pick(12);
      for (std::size_t k = 0; k < len; ++k) s += pick(40) == 0 ? uuid : pieces[pick(pieces.size())];
      std::vector<std::string_view> want, got = {"sentinel"};
      bool expected = oracle_match(tokens, 0, s, 0, want);
      bool actual = match_part(tokens, s, got);
      ++cases;
      ASSERT_EQ(actual, expected) << describe(tokens) << "on '" << s << "'";
      if (expected) {
        ++matched;
        if (convs > 1) ++multi;
        want.insert(want.begin(), "sentinel");
        ASSERT_EQ(got, want) << describe(tokens) << "on '" << s << "'";
        // Captures are views into the text itself, as the router's params need.
        for (std::size_t k = 1; k < got.size(); ++k) {
          EXPECT_TRUE(got[k].data() >= s.data() && got[k].data() + got[k].size() <= s.data() + s.size());
        }
      } else {
        ASSERT_EQ(got.size(), 1u) << "a failed match leaves the captures as they were";
      }
    }
  }
  // Not vacuous: plenty of matches, many with several converters in one part.
  EXPECT_GT(matched, cases / 50) << matched << " of " << cases;
  EXPECT_GT(multi, 1000u) << multi;
}

TEST(RouterMatcher, HandPickedSplitsAgreeWithOracle) {
  struct Case {
    std::vector<PatternToken> tokens;
    std::string text;
  };
  const std::vector<Case> cases = {
      {{conv("string"), lit("-"), conv("string")}, "x-y-z"},                 // greedy first
      {{conv("path"), lit("/"), conv("path")}, "a/b/c"},                     // lazy first
      {{conv("path"), lit("/"), conv("string")}, "a/b/c"},                   // string never spans '/'
      {{conv("any", "a, ab"), conv("string", "minlength=0")}, "ab"},          // listed order
      {{conv("any", "ab, a"), conv("string", "minlength=0")}, "ab"},
      {{conv("string", "minlength=0"), conv("string", "minlength=0")}, ""},  // both empty
      {{conv("string", "minlength=0"), conv("int")}, "\x80" "12"},           // lone continuation byte
      {{conv("int"), conv("int")}, "12345"},
      {{conv("int", "signed=True"), conv("int", "signed=True")}, "-12-34"},
      {{conv("float"), conv("int")}, "1.234"},
      {{conv("string", "length=1"), conv("string")}, "\xF0\x9F\x98\x80\xC3\xA9"},
      {{conv("uuid"), conv("string")}, "123e4567-e89b-12d3-a456-426614174abcd"},
      {{conv("path"), lit(".")}, "\xC3\xA9/\xC3\xA9."},
  };
  for (const auto& c : cases) {
    std::vector<std::string_view> want, got;
    bool expected = oracle_match(c.tokens, 0, c.text, 0, want);
    EXPECT_EQ(match_part(c.tokens, c.text, got), expected) << describe(c.tokens) << "on '" << c.text << "'";
    EXPECT_EQ(got, want) << describe(c.tokens) << "on '" << c.text << "'";
  }
}

// ---------------------------------------------------------------------------------------------
// Hostile paths near Apache's longest request line (8190 bytes): the answer must be the one the
// backtracking regex gives; the cost must stay linear (not asserted here: see micro_bench).

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t k = 0; k < n; ++k) out += s;
  return out;
}

std::string joined(const std::string& s, std::size_t n, const std::string& sep) {
  std::string out;
  for (std::size_t k = 0; k < n; ++k) out += (k ? sep : "") + s;
  return out;
}

// The text of a parameter, compared without printing kilobytes on failure.
::testing::AssertionResult text_is(const RouteMatch& m, const std::string& name, const std::string& want) {
  for (const auto& [n, v] : m.params) {
    if (n != name) continue;
    if (v.text == want) return ::testing::AssertionSuccess();
    std::size_t at = 0;
    while (at < v.text.size() && at < want.size() && v.text[at] == want[at]) ++at;
    return ::testing::AssertionFailure() << name << " has " << v.text.size() << " bytes, want " << want.size()
                                         << ", first difference at byte " << at;
  }
  return ::testing::AssertionFailure() << "no parameter " << name;
}

const ParamValue* param(const RouteMatch& m, const std::string& name) {
  for (const auto& [n, v] : m.params) {
    if (n == name) return &v;
  }
  return nullptr;
}

class RouterHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    r.add("GET", "/r/<a>-<b>-<c>-<int:d>");
    r.add("GET", "/d/<a>.<b>.<c>.<d>.<int:e>");
    r.add("GET", "/p/<path:a>/<path:b>/<int:c>/end");
    r.add("GET", "/u/<a>\xC3\xA9<b>-<int:c>");
    r.add("GET", "/v/<string(length=3):a><b>.<int:c>");
    r.add("GET", "/i/<a><int:b><int:c>-x");
    r.add("GET", "/k/<int:a><int:b>");
    r.add("GET", "/f/<float:a><float:b>.<any(x, xy):c>");
  }
  RouteMatch match(const std::string& path) {
    EXPECT_LE(path.size(), 8190u);
    EXPECT_GE(path.size(), 7900u);
    return r.match(path, "GET");
  }
  Router r;
};

TEST_F(RouterHostile, DashesBetweenStrings) {
  EXPECT_EQ(match("/r/" + repeat("a-", 3995) + "x").kind, Kind::kNoMatch);
  auto m = match("/r/" + repeat("a-", 3995) + "7");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_TRUE(text_is(m, "a", joined("a", 3993, "-"))) << "greedy: the first string takes all it can";
  EXPECT_TRUE(text_is(m, "b", "a"));
  EXPECT_TRUE(text_is(m, "c", "a"));
  EXPECT_EQ(param(m, "d")->int_value, 7);
}

TEST_F(RouterHostile, FiveConvertersSplitByDots) {
  EXPECT_EQ(match("/d/" + repeat("a.", 3995) + "x").kind, Kind::kNoMatch);
  auto m = match("/d/" + repeat("a.", 3995) + "5");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_TRUE(text_is(m, "a", joined("a", 3992, ".")));
  for (const char* name : {"b", "c", "d"}) EXPECT_TRUE(text_is(m, name, "a")) << name;
  EXPECT_EQ(param(m, "e")->int_value, 5);
}

TEST_F(RouterHostile, PathConvertersSpanningSlashes) {
  EXPECT_EQ(match("/p/" + repeat("x/", 3995) + "5").kind, Kind::kNoMatch);
  EXPECT_EQ(match("/p/" + repeat("x/", 3990) + "5/end/x").kind, Kind::kNoMatch);
  auto m = match("/p/" + repeat("x/", 3990) + "5/end");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_TRUE(text_is(m, "a", "x")) << "lazy: the first path takes as little as it can";
  EXPECT_TRUE(text_is(m, "b", joined("x", 3989, "/")));
  EXPECT_EQ(param(m, "c")->int_value, 5);
}

TEST_F(RouterHostile, Unicode) {
  const std::string e = "\xC3\xA9";  // 2 bytes, 1 character
  EXPECT_EQ(match("/u/" + repeat(e, 3995) + "-x").kind, Kind::kNoMatch);
  auto m = match("/u/" + repeat(e, 3995) + "-1");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_TRUE(text_is(m, "a", repeat(e, 3993)));
  EXPECT_TRUE(text_is(m, "b", e));
  EXPECT_EQ(param(m, "c")->int_value, 1);

  EXPECT_EQ(match("/v/" + repeat(e, 3995) + ".x").kind, Kind::kNoMatch);
  auto v = match("/v/" + repeat(e, 3995) + ".7");
  ASSERT_EQ(v.kind, Kind::kMatch);
  EXPECT_TRUE(text_is(v, "a", repeat(e, 3))) << "length counts characters, not bytes";
  EXPECT_TRUE(text_is(v, "b", repeat(e, 3992)));
  EXPECT_EQ(param(v, "c")->int_value, 7);
}

TEST_F(RouterHostile, DigitRuns) {
  EXPECT_EQ(match("/i/" + repeat("1", 7990) + "-y").kind, Kind::kNoMatch);
  auto m = match("/i/" + repeat("1", 7990) + "-x");
  ASSERT_EQ(m.kind, Kind::kMatch);
  EXPECT_TRUE(text_is(m, "a", repeat("1", 7988)));
  EXPECT_EQ(param(m, "b")->int_value, 1);
  EXPECT_EQ(param(m, "c")->int_value, 1);

  // The first int takes all digits but one: far too many for an int64, so a 404 for the rule.
  auto k = match("/k/" + repeat("1", 7990));
  EXPECT_EQ(k.kind, Kind::kNotFound);
  EXPECT_TRUE(k.params.empty());

  EXPECT_EQ(match("/f/" + repeat("1", 3990) + "." + repeat("2", 3990) + ".x").kind, Kind::kNoMatch);
  auto f = match("/f/111." + repeat("2", 7900) + "3.4.xy");
  ASSERT_EQ(f.kind, Kind::kMatch);
  EXPECT_TRUE(text_is(f, "a", "111." + repeat("2", 7900)));
  EXPECT_TRUE(text_is(f, "b", "3.4"));
  EXPECT_TRUE(text_is(f, "c", "xy"));
}

}  // namespace
}  // namespace flaskpp::core
