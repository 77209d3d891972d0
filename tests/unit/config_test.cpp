// config.hpp: FlaskppConfig values, config files, secret keys, the template view.
#include <gtest/gtest.h>

#include <boost/variant/get.hpp>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "core/config.hpp"
#include "core/errors.hpp"
#include "test_support.hpp"

namespace flaskpp::core {
namespace {

std::string config_error(const std::string& path) {
  try {
    load_config_file(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for " << path;
  return {};
}

TEST(ParseConfigValue, JsonLiterals) {
  EXPECT_TRUE(parse_config_value("true").IsTrue());
  EXPECT_TRUE(parse_config_value("false").IsFalse());
  auto n = parse_config_value("12");
  ASSERT_TRUE(n.IsInt());
  EXPECT_EQ(n.GetInt(), 12);
  auto d = parse_config_value("1.5");
  ASSERT_TRUE(d.IsDouble());
  EXPECT_DOUBLE_EQ(d.GetDouble(), 1.5);
  auto big = parse_config_value("16777216");
  ASSERT_TRUE(big.IsNumber());
  EXPECT_EQ(big.GetInt64(), 16777216);
  auto q = parse_config_value("\"quoted text\"");
  ASSERT_TRUE(q.IsString());
  EXPECT_STREQ(q.GetString(), "quoted text");
  EXPECT_TRUE(parse_config_value("null").IsNull());
  auto arr = parse_config_value("[1, \"a\"]");
  ASSERT_TRUE(arr.IsArray());
  EXPECT_EQ(arr.Size(), 2u);
  auto obj = parse_config_value("{\"k\": 1}");
  ASSERT_TRUE(obj.IsObject());
  EXPECT_EQ(obj["k"].GetInt(), 1);
}

TEST(ParseConfigValue, PythonLiterals) {
  EXPECT_TRUE(parse_config_value("True").IsTrue());
  EXPECT_TRUE(parse_config_value("False").IsFalse());
  EXPECT_TRUE(parse_config_value("None").IsNull());
}

TEST(ParseConfigValue, AnythingElseIsPlainText) {
  for (const char* text : {"plain text", "static/uploads", "TRUE", "none", "12abc", "1e400", "NaN", "'single'",
                           "", "[1,", "{bad}"}) {
    auto v = parse_config_value(text);
    ASSERT_TRUE(v.IsString()) << text;
    EXPECT_EQ(std::string(v.GetString(), v.GetStringLength()), text);
  }
}

TEST(ParseEnv, Names) {
  EXPECT_EQ(parse_env("production"), Env::kProduction);
  EXPECT_EQ(parse_env("Development"), Env::kDevelopment);
  EXPECT_FALSE(parse_env("dev").has_value());
  EXPECT_FALSE(parse_env("").has_value());
  EXPECT_STREQ(env_name(Env::kDevelopment), "development");
  EXPECT_STREQ(env_name(Env::kProduction), "production");
}

TEST(ConfigKeys, SecretKeys) {
  for (const char* k : {"SECRET_KEY", "secret_key", "KEY", "API_KEY", "MY_SECRET", "DB_PASSWORD", "password",
                        "AUTH_TOKEN", "TOKENS", "PRIVATE_PEM", "aws_private", "Stripe_Key"}) {
    EXPECT_TRUE(is_secret_key(k)) << k;
  }
  for (const char* k : {"DEBUG", "ENV", "UPLOAD_IMG_FOLDER", "KEYBOARD", "MONKEY", "KEY_NAME", "JSONIFY_MIMETYPE",
                        "MAX_CONTENT_LENGTH", ""}) {
    EXPECT_FALSE(is_secret_key(k)) << k;
  }
}

TEST(ConfigKeys, ValidKeys) {
  for (const char* k : {"DEBUG", "_x", "a1", "UPLOAD_IMG_FOLDER"}) EXPECT_TRUE(is_valid_key(k)) << k;
  for (const char* k : {"", "1abc", "a-b", "a.b", "a b", "\xC3\xA9"}) EXPECT_FALSE(is_valid_key(k)) << k;
}

TEST(LoadConfigFile, GoodFile) {
  test::TempDir dir;
  std::string path = dir.write("good.json", R"({"DEBUG": true, "UPLOAD_IMG_FOLDER": "static/img",
    "MAX_CONTENT_LENGTH": 1024, "nested": {"not-a-key": 1}})");
  auto doc = load_config_file(path);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_TRUE(doc["DEBUG"].IsTrue());
  EXPECT_STREQ(doc["UPLOAD_IMG_FOLDER"].GetString(), "static/img");
  EXPECT_EQ(doc["MAX_CONTENT_LENGTH"].GetInt(), 1024);
}

TEST(LoadConfigFile, DataFileFromTestsData) {
  auto doc = load_config_file(std::string(FLASKPP_TEST_DATA) + "/config/app.json");
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["ENV"].GetString(), "development");
  EXPECT_TRUE(doc.HasMember("SECRET_KEY"));
}

TEST(LoadConfigFile, MissingFile) {
  test::TempDir dir;
  std::string path = (dir.path() / "absent.json").string();
  std::string m = config_error(path);
  EXPECT_NE(m.find("cannot read"), std::string::npos) << m;
  EXPECT_NE(m.find(path), std::string::npos) << m;
}

TEST(LoadConfigFile, InvalidJsonNamesTheOffset) {
  test::TempDir dir;
  std::string m = config_error(dir.write("bad.json", "{\"A\": 1,\n \"B\": }"));
  EXPECT_NE(m.find("invalid JSON"), std::string::npos) << m;
  EXPECT_NE(m.find("offset 15"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.json"), std::string::npos) << m;
  EXPECT_NE(config_error(dir.write("empty.json", "")).find("offset 0"), std::string::npos);
  EXPECT_NE(config_error(dir.write("nan.json", "{\"A\": NaN}")).find("offset"), std::string::npos);
  EXPECT_NE(config_error(dir.write("utf8.json", "{\"A\": \"\xFF\"}")).find("offset"), std::string::npos);
  // Everything after a NUL would otherwise be dropped without a word.
  std::string nul = config_error(dir.write("nul.json", std::string("{\"A\": 1}\0{\"B\": 2}", 17)));
  EXPECT_NE(nul.find("offset 8"), std::string::npos) << nul;
}

TEST(LoadConfigFile, TopLevelMustBeAnObject) {
  test::TempDir dir;
  for (const char* text : {"[1,2]", "\"text\"", "12", "null"}) {
    std::string m = config_error(dir.write("x.json", text));
    EXPECT_NE(m.find("must hold a JSON object"), std::string::npos) << text << ": " << m;
  }
}

TEST(LoadConfigFile, InvalidKeyIsRefused) {
  test::TempDir dir;
  std::string m = config_error(dir.write("k.json", R"({"GOOD": 1, "bad-key": 2})"));
  EXPECT_NE(m.find("invalid key 'bad-key'"), std::string::npos) << m;
  EXPECT_NE(config_error(dir.write("k2.json", R"({"": 1})")).find("invalid key"), std::string::npos);
}

TEST(Config, SetGetMergeAndTypedReads) {
  Config c;
  EXPECT_FALSE(c.has("A"));
  EXPECT_EQ(c.get("A"), nullptr);
  c.set("A", parse_config_value("1"));
  c.set("NAME", parse_config_value("app"));
  c.set("A", parse_config_value("2"));  // replaces
  ASSERT_TRUE(c.has("A"));
  EXPECT_EQ(c.get("A")->GetInt(), 2);
  EXPECT_EQ(c.document().MemberCount(), 2u);
  EXPECT_EQ(c.get_string("NAME", "x"), "app");
  EXPECT_EQ(c.get_string("A", "fallback"), "fallback") << "not a string";
  EXPECT_EQ(c.get_string("MISSING", "fb"), "fb");

  auto obj = parse_config_value(R"({"NAME": "merged", "B": true, "ON": "yes", "OFF": "no", "Z": 0})");
  c.merge_object(obj);
  EXPECT_EQ(c.get_string("NAME", ""), "merged");
  EXPECT_TRUE(c.get_bool("B", false));
  EXPECT_TRUE(c.get_bool("ON", false));
  EXPECT_FALSE(c.get_bool("OFF", true));
  EXPECT_FALSE(c.get_bool("Z", true));
  EXPECT_TRUE(c.get_bool("A", false)) << "non-zero number";
  EXPECT_TRUE(c.get_bool("MISSING", true));
  c.merge_object(parse_config_value("[1]"));  // not an object: ignored
  EXPECT_EQ(c.document().MemberCount(), 6u);
}

TEST(Config, CopiesAreIndependent) {
  Config a;
  a.set("K", parse_config_value("\"one\""));
  Config b(a);
  b.set("K", parse_config_value("\"two\""));
  Config c;
  c = a;
  a.set("K", parse_config_value("\"three\""));
  EXPECT_EQ(b.get_string("K", ""), "two");
  EXPECT_EQ(c.get_string("K", ""), "one");
  EXPECT_EQ(a.get_string("K", ""), "three");
  Config& alias = c;  // a reference, so compilers do not refuse an explicit self-assignment
  c = alias;          // self-assignment keeps the value
  EXPECT_EQ(c.get_string("K", ""), "one");
  EXPECT_EQ(c.document().MemberCount(), 1u);
}

TEST(Config, PublicViewHidesSecrets) {
  Config c;
  c.merge_object(parse_config_value(
      R"({"SECRET_KEY": "s3cr3t", "API_TOKEN": "tok", "DB_PASSWORD": "pw", "STRIPE_KEY": "k",
          "DEBUG": false, "UPLOAD_IMG_FOLDER": "static/img", "LIMIT": 5})"));
  mstch::node view = c.public_view();
  const auto& m = boost::get<mstch::map>(view);
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m.count("SECRET_KEY"), 0u);
  EXPECT_EQ(m.count("API_TOKEN"), 0u);
  EXPECT_EQ(m.count("DB_PASSWORD"), 0u);
  EXPECT_EQ(m.count("STRIPE_KEY"), 0u);
  EXPECT_EQ(boost::get<std::string>(m.at("UPLOAD_IMG_FOLDER")), "static/img");
  EXPECT_EQ(boost::get<int>(m.at("LIMIT")), 5);
  EXPECT_FALSE(boost::get<bool>(m.at("DEBUG")));
  // Raw {{{ }}}: this checks visibility only (escaping is installed by TemplateStore, not here).
  std::string rendered = mstch::render("[{{{SECRET_KEY}}}|{{{API_TOKEN}}}|{{{UPLOAD_IMG_FOLDER}}}]", view);
  EXPECT_EQ(rendered, "[||static/img]");
}

// Config keys are string_views: a view need not end in a NUL, and may be a prefix of a longer buffer.
TEST(Config, KeyViewsAreReadToTheirLengthOnly) {
  Config c;
  c.set("DEBUG_MODE", parse_config_value("1"));
  std::string longer = "DEBUG_MODE";
  std::string_view prefix(longer.data(), 5);  // "DEBUG", followed by "_MODE" in memory
  EXPECT_FALSE(c.has(prefix)) << "only DEBUG_MODE is set";
  EXPECT_EQ(c.get(prefix), nullptr);
  c.set(prefix, parse_config_value("2"));
  EXPECT_EQ(c.document().MemberCount(), 2u);
  ASSERT_TRUE(c.has("DEBUG"));
  EXPECT_EQ(c.get("DEBUG")->GetInt(), 2);
  EXPECT_EQ(c.get("DEBUG_MODE")->GetInt(), 1) << "setting DEBUG must not overwrite DEBUG_MODE";
  // The reverse: "DEBUGX" viewed as its first five bytes is DEBUG.
  std::string other = "DEBUGX";
  std::string_view debug(other.data(), 5);
  ASSERT_TRUE(c.has(debug));
  EXPECT_EQ(c.get(debug)->GetInt(), 2);
  c.set(debug, parse_config_value("3"));
  EXPECT_EQ(c.document().MemberCount(), 2u) << "replaces DEBUG instead of adding a second member";
  EXPECT_EQ(c.get("DEBUG")->GetInt(), 3);
  // The empty key (a default string_view has a null data pointer).
  EXPECT_FALSE(c.has(std::string_view()));
  EXPECT_FALSE(c.has(""));
}

TEST(Config, KeyWithoutNulIsNotReadPastItsEnd) {
  // A key in a heap buffer with no NUL after it: AddressSanitizer reports any read past its end.
  Config c;
  c.set("DEBUG", parse_config_value("3"));
  std::unique_ptr<char[]> raw(new char[5]);
  std::memcpy(raw.get(), "DEBUG", 5);
  std::string_view key(raw.get(), 5);
  ASSERT_TRUE(c.has(key));
  EXPECT_EQ(c.get(key)->GetInt(), 3);
  EXPECT_EQ(c.get_string(key, "fb"), "fb");
  c.set(key, parse_config_value("4"));
  EXPECT_EQ(c.get("DEBUG")->GetInt(), 4);
  EXPECT_EQ(c.document().MemberCount(), 1u);
}

// The message of the ConfigError `f` throws; fails the test if it does not.
template <typename F>
std::string config_error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError";
  return {};
}

TEST(ParseSize, OverflowAndZeroAreRefused) {
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  for (const char* big : {"17179869184G", "17592186044416M", "18014398509481984K", "18446744073709551616",
                          "99999999999999999999999", "123456789012345678901234567890G"}) {
    std::string m = config_error_of([&] { parse_size(big); });
    EXPECT_NE(m.find(big), std::string::npos) << big << ": " << m;
    EXPECT_NE(m.find("too large"), std::string::npos) << big << ": " << m;
  }
  for (const char* zero : {"0", "0K", "000M", "0G"}) {
    std::string m = config_error_of([&] { parse_size(zero); });
    EXPECT_NE(m.find(std::string("'") + zero + "'"), std::string::npos) << zero << ": " << m;
  }
  for (const char* bad : {"", "K", "-1", "+1", "1.5M", " 1", "1 ", "1KB", "0x10"}) {
    EXPECT_THROW(parse_size(bad), ConfigError) << bad;
  }
  // The largest sizes that fit are accepted.
  EXPECT_EQ(parse_size("17179869183G"), (std::size_t{17179869183} << 30));
  EXPECT_EQ(parse_size("18446744073709551615"), max);
  EXPECT_EQ(parse_size("0016M"), std::size_t{16} << 20);
}

TEST(Config, GetSize) {
  Config c;
  c.merge_object(parse_config_value(
      R"({"A": 1024, "Z": 0, "BIG": 18446744073709551615, "N": null, "NEG": -1, "D": 1.5, "E": 1e6,
          "S": "16M", "B": true, "ARR": [1], "HUGE": 1e300})"));
  EXPECT_EQ(c.get_size("A"), std::optional<std::size_t>(1024));
  EXPECT_EQ(c.get_size("Z"), std::optional<std::size_t>(0));
  EXPECT_EQ(c.get_size("BIG"), std::optional<std::size_t>(std::numeric_limits<std::size_t>::max()));
  EXPECT_EQ(c.get_size("MISSING"), std::nullopt);
  EXPECT_EQ(c.get_size("N"), std::nullopt) << "null is unset, as Flask's None";
  for (const char* key : {"NEG", "D", "E", "S", "B", "ARR", "HUGE"}) {
    std::string m = config_error_of([&] { c.get_size(key); });
    EXPECT_NE(m.find(std::string("config ") + key + " "), std::string::npos) << key << ": " << m;
  }
}

}  // namespace
}  // namespace flaskpp::core
