// session.hpp: signed cookie sessions (sign, verify, rotate, expire, refuse) and flash messages.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/session.hpp"

namespace flaskpp::core {
namespace {

const std::string kKeyA = "0123456789abcdef0123456789abcdef";  // exactly 32 bytes
const std::string kKeyB = "fedcba9876543210fedcba9876543210-b";
const std::string kKeyC = "an unrelated key of more than 32 bytes";
constexpr std::int64_t kNow = 1700000000;
constexpr std::int64_t kMaxAge = 3600;

rapidjson::Document parse(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  EXPECT_FALSE(d.HasParseError()) << json;
  return d;
}

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

bool is_empty_object(const rapidjson::Document& d) { return d.IsObject() && d.MemberCount() == 0; }

TEST(Session, RoundTrip) {
  SessionCodec codec({kKeyA}, kMaxAge);
  auto session = parse(R"({"user":"alice","n":1,"x":[1.5,true,null,{"k":"\u00e9"}]})");
  std::string cookie = codec.encode(session, kNow);
  EXPECT_EQ(cookie.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
            std::string::npos)
      << "cookie-safe characters only: " << cookie;
  auto back = codec.decode(cookie, kNow);
  EXPECT_EQ(to_json(back), to_json(session));
  EXPECT_EQ(to_json(codec.decode(codec.encode(parse("{}"), kNow), kNow)), "{}");
}

// Expected value computed once with Python's hmac module:
// /usr/bin/python3 -c '
// import hmac,hashlib,base64
// b=lambda x: base64.urlsafe_b64encode(x).rstrip(b"=")
// secret=b"0123456789abcdef0123456789abcdef"
// dk=hmac.new(secret,b"cookie-session",hashlib.sha256).digest()
// signed=b(b"{\"user\":\"alice\",\"n\":1}")+b"."+b((1700000000).to_bytes(4,"big"))
// print((signed+b"."+b(hmac.new(dk,signed,hashlib.sha256).digest())).decode())'
TEST(Session, KnownAnswerHmac) {
  const std::string expected = "eyJ1c2VyIjoiYWxpY2UiLCJuIjoxfQ.ZVPxAA.Y8VTrjETH6yxBDwpLgFCrAJ-cw3LNHN3QuPUacNgkNk";
  SessionCodec codec({kKeyA}, kMaxAge);
  EXPECT_EQ(codec.encode(parse(R"({"user":"alice","n":1})"), kNow), expected);
  EXPECT_EQ(to_json(codec.decode(expected, kNow)), R"({"user":"alice","n":1})");
}

TEST(Session, TamperingAnyPartEmptiesTheSession) {
  SessionCodec codec({kKeyA}, kMaxAge);
  std::string cookie = codec.encode(parse(R"({"user":"alice","admin":false})"), kNow);
  std::size_t ts_dot = cookie.find('.');
  std::size_t sig_dot = cookie.rfind('.');
  ASSERT_NE(ts_dot, sig_dot);
  // One byte in each part: its first character, and (for the payload) one in the middle too.
  for (std::size_t at : {std::size_t{0}, ts_dot / 2, ts_dot + 1, sig_dot + 1, cookie.size() - 1}) {
    std::string forged = cookie;
    forged[at] = forged[at] == 'A' ? 'B' : 'A';
    EXPECT_TRUE(is_empty_object(codec.decode(forged, kNow))) << "byte " << at << ": " << forged;
  }
  // A forged payload with the original timestamp and signature.
  std::string other = codec.encode(parse(R"({"user":"alice","admin":true})"), kNow);
  std::string spliced = other.substr(0, other.find('.')) + cookie.substr(ts_dot);
  EXPECT_TRUE(is_empty_object(codec.decode(spliced, kNow)));
  EXPECT_FALSE(is_empty_object(codec.decode(cookie, kNow)));
}

TEST(Session, KeyRotationReadsOldCookiesAndSignsWithTheNewKey) {
  SessionCodec old_codec({kKeyA}, kMaxAge);
  SessionCodec rotated({kKeyB, kKeyA}, kMaxAge);
  SessionCodec new_only({kKeyB}, kMaxAge);
  std::string old_cookie = old_codec.encode(parse(R"({"user":"alice"})"), kNow);
  auto session = rotated.decode(old_cookie, kNow);
  EXPECT_EQ(to_json(session), R"({"user":"alice"})");
  std::string reissued = rotated.encode(session, kNow);
  EXPECT_NE(reissued, old_cookie);
  EXPECT_EQ(to_json(new_only.decode(reissued, kNow)), R"({"user":"alice"})") << "signed with keys[0]";
  EXPECT_TRUE(is_empty_object(old_codec.decode(reissued, kNow)));
}

TEST(Session, UnknownKeyEmptiesTheSession) {
  SessionCodec signer({kKeyC}, kMaxAge);
  SessionCodec reader({kKeyA, kKeyB}, kMaxAge);
  EXPECT_TRUE(is_empty_object(reader.decode(signer.encode(parse(R"({"user":"mallory"})"), kNow), kNow)));
}

TEST(Session, ExpiresAfterMaxAge) {
  std::int64_t fake_now = kNow;
  SessionCodec codec({kKeyA}, kMaxAge, [&] { return fake_now; });
  std::string cookie = codec.encode(parse(R"({"a":1})"));  // stamped by the clock
  EXPECT_FALSE(is_empty_object(codec.decode(cookie)));
  fake_now = kNow + kMaxAge;  // exactly max_age old: still valid, as itsdangerous
  EXPECT_FALSE(is_empty_object(codec.decode(cookie)));
  fake_now = kNow + kMaxAge + 1;
  EXPECT_TRUE(is_empty_object(codec.decode(cookie)));
  fake_now = kNow - 1;  // stamped in the future
  EXPECT_TRUE(is_empty_object(codec.decode(cookie)));
  EXPECT_FALSE(is_empty_object(codec.decode(cookie, kNow + 10)));  // explicit time overrides the clock
}

TEST(Session, MalformedInputsGiveAnEmptySession) {
  SessionCodec codec({kKeyA}, kMaxAge);
  std::string good = codec.encode(parse(R"({"a":1})"), kNow);
  const std::vector<std::string> bad = {
      "",
      ".",
      "..",
      "nodots",
      "one.dot",
      good + ".extra",
      "!!!!." + good.substr(good.find('.') + 1),       // bad base64 in the payload
      good.substr(0, good.rfind('.')) + ".%%%%",         // bad base64 in the signature
      good.substr(0, good.rfind('.') + 1),               // empty signature
      good.substr(0, good.rfind('.') + 1) + "AAAA",      // short signature
      std::string(5000, 'A') + good,                     // too long
      good + std::string(kMaxSessionCookieBytes, 'A'),
      std::string("\0\0\0", 3),
  };
  for (const std::string& cookie : bad) {
    EXPECT_TRUE(is_empty_object(codec.decode(cookie, kNow))) << cookie.substr(0, 80);
  }
}

// Cookies whose signature is valid but whose payload is not a session object: the signing key
// is known to the test, so this exercises the checks after verification.
// Independent of the codec's code path: OpenSSL directly, the format as documented in session.hpp.
std::string hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string sign_raw(const std::string& secret, const std::string& payload_json, std::int64_t stamp) {
  std::string ts;
  for (auto v = static_cast<std::uint64_t>(stamp); v != 0; v >>= 8) ts.insert(ts.begin(), static_cast<char>(v & 0xff));
  std::string signed_part = base64url_encode(payload_json) + "." + base64url_encode(ts);
  return signed_part + "." + base64url_encode(hmac(hmac(secret, "cookie-session"), signed_part));
}

TEST(Session, SignedButNotASessionObjectGivesAnEmptySession) {
  SessionCodec codec({kKeyA}, kMaxAge);
  const std::vector<std::string> payloads = {
      "[1,2,3]", "\"str\"", "42", "null", "{", "{\"a\":1} trailing", std::string("{}\0", 3),
      std::string(kMaxSessionJsonDepth + 1, '[') + std::string(kMaxSessionJsonDepth + 1, ']'),
      "{\"a\":" + std::string(kMaxSessionJsonDepth, '[') + std::string(kMaxSessionJsonDepth, ']') + "}",
      "{\"a\":\"\xff\"}",
  };
  for (const std::string& p : payloads) {
    std::string cookie = sign_raw(kKeyA, p, kNow);
    EXPECT_TRUE(is_empty_object(codec.decode(cookie, kNow))) << p.substr(0, 80);
  }
  // The helper itself is right: the same path accepts a shallow object.
  std::string shallow = "{\"a\":" + std::string(kMaxSessionJsonDepth - 1, '[') +
                        std::string(kMaxSessionJsonDepth - 1, ']') + "}";
  EXPECT_FALSE(is_empty_object(codec.decode(sign_raw(kKeyA, shallow, kNow), kNow)));
}

TEST(Session, FlashesAreTakenOnce) {
  SessionCodec codec({kKeyA}, kMaxAge);
  rapidjson::Document session = parse(R"({"user":"alice"})");
  add_flash(session, "message", "Saved.");
  add_flash(session, "error", "Disk \"almost\" full");
  EXPECT_EQ(to_json(session), R"({"user":"alice","_flashes":[["message","Saved."],["error","Disk \"almost\" full"]]})")
      << "the layout Flask uses";
  // Through a cookie, as across a redirect.
  rapidjson::Document next = codec.decode(codec.encode(session, kNow), kNow);
  std::vector<Flash> flashes = take_flashes(next);
  ASSERT_EQ(flashes.size(), 2u);
  EXPECT_EQ(flashes[0], (Flash{"message", "Saved."}));
  EXPECT_EQ(flashes[1], (Flash{"error", "Disk \"almost\" full"}));
  EXPECT_EQ(to_json(next), R"({"user":"alice"})");
  EXPECT_TRUE(take_flashes(next).empty());
  // Malformed entries are skipped, the list is still removed.
  rapidjson::Document odd = parse(R"({"_flashes":[["a","b"],["only"],[1,2],"x"]})");
  EXPECT_EQ(take_flashes(odd), (std::vector<Flash>{{"a", "b"}}));
  EXPECT_EQ(to_json(odd), "{}");
}

TEST(Session, RefusesBadKeysAtConstruction) {
  EXPECT_THROW(SessionCodec({}, kMaxAge), ConfigError);
  EXPECT_THROW(SessionCodec({std::string(31, 'k')}, kMaxAge), ConfigError);
  EXPECT_THROW(SessionCodec({kKeyA, "short"}, kMaxAge), ConfigError) << "every key, not only the first";
  EXPECT_THROW(SessionCodec({kKeyA}, 0), ConfigError);
  EXPECT_NO_THROW(SessionCodec({std::string(32, 'k')}, kMaxAge));
  try {
    SessionCodec({kKeyA, "short-secret"}, kMaxAge);
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("short-secret"), std::string::npos) << "never log a secret";
  }
}

TEST(Session, EncodeRefusesWhatDecodeCouldNotRead) {
  SessionCodec codec({kKeyA}, kMaxAge);
  EXPECT_THROW(codec.encode(parse("[1]"), kNow), InternalError);
  rapidjson::Document big;
  big.SetObject();
  big.AddMember("blob", rapidjson::Value(std::string(4000, 'x').c_str(), big.GetAllocator()), big.GetAllocator());
  EXPECT_THROW(codec.encode(big, kNow), InternalError);
  rapidjson::Document bad_utf8;
  bad_utf8.SetObject();
  bad_utf8.AddMember("s", rapidjson::Value("\xff", bad_utf8.GetAllocator()), bad_utf8.GetAllocator());
  EXPECT_THROW(codec.encode(bad_utf8, kNow), InternalError);
}

TEST(SessionBase64, StrictDecoding) {
  std::string out;
  for (const std::string& s : {std::string(""), std::string("f"), std::string("fo"), std::string("foo"),
                               std::string("\xfb\xff\xfe", 3)}) {
    ASSERT_TRUE(base64url_decode(base64url_encode(s), out)) << s;
    EXPECT_EQ(out, s);
  }
  EXPECT_EQ(base64url_encode(std::string("\xfb\xff\xfe", 3)), "-__-");
  EXPECT_FALSE(base64url_decode("Zg==", out)) << "no padding";
  EXPECT_FALSE(base64url_decode("Z", out)) << "impossible length";
  EXPECT_FALSE(base64url_decode("Zh", out)) << "non-zero unused bits";
  EXPECT_FALSE(base64url_decode("+/", out)) << "standard alphabet";
}

}  // namespace
}  // namespace flaskpp::core
