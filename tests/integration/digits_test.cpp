// The demo's digit classifier plugin (examples/digits, built against the installed SDK package)
// through the real Apache: drawn digits as PNG uploads, held-out samples as JSON pixels, and bad
// input.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "draw.hpp"
#include "it_http.hpp"
#include "it_support.hpp"

namespace {

using flaskpp::it::instance;
using flaskpp::it::parse;
using flaskpp::it::post_json;
using flaskpp::it::read_file;
using flaskpp::it::Reply;

Reply post_image(const std::string& path, const std::string& bytes, const std::string& field = "image",
                 const std::string& filename = "digit.png") {
  return flaskpp::it::post_file(path, field, filename, bytes, "image/png");
}

void expect_answer(const Reply& r, int digit) {
  ASSERT_EQ(r.status, 200) << r.body;
  auto d = parse(r.body);
  ASSERT_TRUE(d.IsObject());
  EXPECT_EQ(d["digit"].GetInt(), digit) << r.body;
  ASSERT_EQ(d["probabilities"].Size(), 10u);
  double sum = 0, best = -1;
  int argmax = -1;
  for (rapidjson::SizeType i = 0; i < 10; ++i) {
    double p = d["probabilities"][i].GetDouble();
    sum += p;
    if (p > best) best = p, argmax = static_cast<int>(i);
  }
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_EQ(argmax, d["digit"].GetInt());
}

class Digits : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GT(instance().port, 0) << "no Apache instance (FLASKPP_IT_STATE)"; }
};

TEST_F(Digits, DrawnDigitsUploadedAsPngArePredicted) {
  struct Case {
    int digit;
    draw::Glyph glyph;
  };
  std::vector<Case> cases{{0, draw::zero()}, {1, draw::one()}, {4, draw::four()}, {7, draw::seven()}};
  for (const auto& c : cases) {
    // As the demo page sends it: black ink on white, a 280x280 canvas.
    expect_answer(post_image("/api/predict-now", draw::png_drawing(c.glyph, {40, 30, 200, 220}, 18,
                                                                   draw::Style::BlackOnWhite)),
                  c.digit);
    // Small, in a corner, on a transparent background.
    expect_answer(post_image("/api/predict-now", draw::png_drawing(c.glyph, {10, 10, 60, 70}, 12,
                                                                   draw::Style::BlackOnTransparent)),
                  c.digit);
  }
}

TEST_F(Digits, HeldOutSamplesAsJsonPixelsMatchSklearn) {
  rapidjson::Document held;
  std::string text = read_file(std::string(DIGITS_MODEL_DIR) + "/heldout.json");
  held.Parse(text.c_str(), text.size());
  ASSERT_FALSE(held.HasParseError());
  ASSERT_TRUE(held.IsObject() && held.HasMember("samples") && held["samples"].IsArray());
  const auto& samples = held["samples"];
  ASSERT_GE(samples.Size(), 40u);
  for (rapidjson::SizeType i = 0; i < 40; ++i) {
    const auto& pixels = samples[i]["pixels"];
    const auto& proba = samples[i]["proba"];
    std::string body = "{\"pixels\":[";
    for (rapidjson::SizeType j = 0; j < pixels.Size(); ++j) {
      body += (j ? "," : "") + std::to_string(pixels[j].GetDouble());
    }
    body += "]}";
    Reply r = post_json("/api/predict-now", body);
    ASSERT_EQ(r.status, 200) << r.body;
    auto d = parse(r.body);
    for (rapidjson::SizeType k = 0; k < 10; ++k) {
      EXPECT_NEAR(d["probabilities"][k].GetDouble(), proba[k].GetDouble(), 1e-6) << "sample " << i;
    }
  }
}

TEST_F(Digits, BadInputIs422JsonSayingWhatIsWrong) {
  auto expect_422 = [](const Reply& r, const std::string& words) {
    EXPECT_EQ(r.status, 422) << r.body;
    auto d = parse(r.body);
    ASSERT_TRUE(d.IsObject()) << r.body;
    EXPECT_EQ(d["error"]["code"].GetInt(), 422);
    // JSON input is checked against the handler's declared schema first (every error listed
    // under "errors"); an image is judged by the handler (its message).
    std::string msg = d["error"]["message"].GetString();
    if (d["error"].HasMember("errors")) {
      for (const auto& e : d["error"]["errors"].GetArray()) {
        msg += std::string(" | ") + e["loc"].GetString() + " " + e["msg"].GetString();
      }
    }
    EXPECT_NE(msg.find(words), std::string::npos) << msg;
  };
  std::string pixels63 = "{\"pixels\":[" + std::string(62 * 2, ' ');
  pixels63 = "{\"pixels\":[";
  for (int i = 0; i < 63; ++i) pixels63 += (i ? ",1" : "1");
  pixels63 += "]}";
  expect_422(post_json("/api/predict-now", pixels63), "64");
  std::string out_of_range = "{\"pixels\":[17";
  for (int i = 1; i < 64; ++i) out_of_range += ",0";
  out_of_range += "]}";
  expect_422(post_json("/api/predict-now", out_of_range), "16");
  expect_422(post_json("/api/predict-now", "{\"image\": 3}"), "pixels");
  expect_422(post_image("/api/predict-now", "this is not an image at all"), "PNG");
  std::string blank = draw::png(std::vector<std::uint8_t>(64 * 64 * 4, 255), 64, 64, 4);
  expect_422(post_image("/api/predict-now", blank), "ink");
  expect_422(post_image("/api/predict-now", draw::png_drawing(draw::one(), {40, 30, 200, 220}, 18,
                                                             draw::Style::BlackOnWhite),
                        "photo"),
             "image");
  // Neither JSON nor a form: 415.
  Reply text = post_json("/api/predict-now", "1,2,3", "text/plain");
  EXPECT_EQ(text.status, 415);
  // Broken JSON: 400 before the plugin runs.
  EXPECT_EQ(post_json("/api/predict-now", "{\"pixels\": [1,").status, 400);
}

}  // namespace
