// Inference against sklearn: every held-out sample's probabilities within 1e-6 of predict_proba.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "digits_model.hpp"
#include "preprocess.hpp"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string kWeights = DIGITS_MODEL_DIR "/weights.json";
const std::string kHeldout = DIGITS_MODEL_DIR "/heldout.json";

struct Sample {
  int label;
  digits::Features pixels;
  digits::Probabilities proba;
};

std::vector<Sample> load_heldout() {
  const std::string text = read_file(kHeldout);
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) throw std::runtime_error("bad heldout.json");
  std::vector<Sample> out;
  for (const auto& s : doc["samples"].GetArray()) {
    Sample x{};
    x.label = s["label"].GetInt();
    std::vector<double> px;
    for (const auto& v : s["pixels"].GetArray()) px.push_back(v.GetDouble());
    x.pixels = digits::validate_pixels(px);
    const auto& p = s["proba"];
    if (p.Size() != digits::kClasses) throw std::runtime_error("bad proba row");
    for (rapidjson::SizeType k = 0; k < digits::kClasses; ++k) x.proba[k] = p[k].GetDouble();
    out.push_back(x);
  }
  return out;
}

}  // namespace

TEST(DigitsModel, LoadsWeightsFile) {
  const auto m = digits::Model::from_file(kWeights);
  for (int k = 0; k < 10; ++k) EXPECT_EQ(m.classes()[static_cast<std::size_t>(k)], k);
  EXPECT_FALSE(m.sklearn_version().empty());
  EXPECT_GE(m.heldout_accuracy(), 0.95);
}

TEST(DigitsModel, MatchesSklearnOnHeldout) {
  const auto m = digits::Model::from_file(kWeights);
  const auto samples = load_heldout();
  ASSERT_GE(samples.size(), 300u);
  double max_err = 0.0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    digits::Probabilities p{};
    const int pred = m.predict(s.pixels, p);
    double sum = 0.0;
    for (std::size_t k = 0; k < digits::kClasses; ++k) {
      const double err = std::fabs(p[k] - s.proba[k]);
      max_err = std::max(max_err, err);
      EXPECT_LE(err, 1e-6) << "sample " << i << " class " << k;
      sum += p[k];
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
    const auto argmax = std::max_element(s.proba.begin(), s.proba.end()) - s.proba.begin();
    EXPECT_EQ(pred, m.classes()[static_cast<std::size_t>(argmax)]) << "sample " << i;
    correct += pred == s.label;
  }
  const double acc = static_cast<double>(correct) / static_cast<double>(samples.size());
  std::cout << "[ digits   ] held-out accuracy " << acc << " (" << correct << "/"
            << samples.size() << "), max |p - sklearn| " << max_err << "\n";
  RecordProperty("heldout_accuracy", std::to_string(acc));
  RecordProperty("max_probability_error", std::to_string(max_err));
  EXPECT_GE(acc, 0.95);
}

TEST(DigitsModel, ConcurrentConstUseAgreesWithSequential) {
  const auto m = digits::Model::from_file(kWeights);
  const auto samples = load_heldout();
  std::vector<digits::Probabilities> expected;
  for (const auto& s : samples) expected.push_back(m.probabilities(s.pixels));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round)
        for (std::size_t i = 0; i < samples.size(); ++i)
          if (m.probabilities(samples[i].pixels) != expected[i]) ++mismatches[static_cast<std::size_t>(t)];
    });
  for (auto& th : threads) th.join();
  for (int n : mismatches) EXPECT_EQ(n, 0);
}

TEST(DigitsModel, SoftmaxIsStableForHugeInputs) {
  // Features far outside 0..16 push the logits into the thousands: still a distribution.
  const auto m = digits::Model::from_file(kWeights);
  digits::Features x{};
  x.fill(1e6);
  const auto p = m.probabilities(x);
  double sum = 0.0;
  for (double v : p) {
    EXPECT_TRUE(std::isfinite(v));
    sum += v;
  }
  EXPECT_NEAR(sum, 1.0, 1e-12);
  x[3] = std::nan("");
  EXPECT_THROW(m.probabilities(x), std::invalid_argument);
}

namespace {

std::string weights_with(const std::string& classes, const std::string& coef,
                         const std::string& intercept, const std::string& extra = "") {
  return "{\"classes\": " + classes + ", \"coef\": " + coef + ", \"intercept\": " + intercept +
         extra + "}";
}

std::string rows(int n, int len, const std::string& value = "0.5") {
  std::string s = "[";
  for (int k = 0; k < n; ++k) {
    s += k ? ",[" : "[";
    for (int j = 0; j < len; ++j) s += (j ? "," : "") + value;
    s += "]";
  }
  return s + "]";
}

void expect_malformed(const std::string& json, const std::string& needle) {
  try {
    digits::Model::from_json(json);
    ADD_FAILURE() << "accepted: " << json.substr(0, 80);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << " (wanted " << needle << ")";
  }
}

const std::string kClasses10 = "[0,1,2,3,4,5,6,7,8,9]";
const std::string kIntercept10 = "[0,0,0,0,0,0,0,0,0,0]";

}  // namespace

TEST(DigitsModel, MinimalValidWeights) {
  const auto m = digits::Model::from_json(weights_with(kClasses10, rows(10, 64), kIntercept10));
  digits::Features x{};
  const auto p = m.probabilities(x);
  for (double v : p) EXPECT_DOUBLE_EQ(v, 0.1);
  EXPECT_EQ(m.predict(x), 0);  // ties -> first class, like numpy's argmax
}

TEST(DigitsModel, RejectsMalformedWeights) {
  expect_malformed("", "not valid JSON");
  expect_malformed("{\"classes\": [", "not valid JSON");
  expect_malformed("[1,2,3]", "not a JSON object");
  expect_malformed("{}", "missing \"classes\"");
  expect_malformed(weights_with("[0,1,2,3,4,5,6,7,8]", rows(10, 64), kIntercept10),
                   "\"classes\" has 9 entries");
  expect_malformed(weights_with("[0,1,2,3,4,5,6,7,8,8]", rows(10, 64), kIntercept10),
                   "duplicate");
  expect_malformed(weights_with("[0,1,2,3,4,5,6,7,8,\"9\"]", rows(10, 64), kIntercept10),
                   "classes[9] is not an integer");
  expect_malformed(weights_with(kClasses10, rows(9, 64), kIntercept10), "\"coef\" has 9");
  expect_malformed(weights_with(kClasses10, rows(10, 63), kIntercept10), "coef[0] has 63");
  expect_malformed(weights_with(kClasses10, rows(10, 64, "\"x\""), kIntercept10),
                   "coef[0][0] is not a number");
  expect_malformed(weights_with(kClasses10, rows(10, 64, "1e999"), kIntercept10),
                   "not valid JSON");
  expect_malformed(weights_with(kClasses10, "{}", kIntercept10), "\"coef\" is not an array");
  expect_malformed(weights_with(kClasses10, rows(10, 64), "[0,0]"), "\"intercept\" has 2");
  expect_malformed(weights_with(kClasses10, rows(10, 64), "[0,0,0,0,0,0,0,0,0,null]"),
                   "intercept[9] is not a number");
  expect_malformed(weights_with(kClasses10, rows(10, 64), kIntercept10,
                                ", \"input\": {\"length\": 784}"),
                   "input.length");
  expect_malformed(weights_with(kClasses10, rows(10, 64), kIntercept10,
                                ", \"input\": {\"scaler\": {\"mean\": [1]}}"),
                   "scaler");
  EXPECT_THROW(digits::Model::from_file("/nonexistent/weights.json"), std::invalid_argument);
}
