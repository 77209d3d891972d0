#include "digits_model.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

// Same include discipline as mod_flaskpp/core/rapidjson.hpp (identical macro text, so the
// template instances agree when a plugin links both): misuse throws instead of asserting.
#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x) \
  do { if (!(x)) throw std::logic_error("RapidJSON assertion failed: " #x); } while (0)
#endif
#ifndef RAPIDJSON_HAS_STDSTRING
#define RAPIDJSON_HAS_STDSTRING 1
#endif
#ifndef RAPIDJSON_NOEXCEPT_ASSERT
#define RAPIDJSON_NOEXCEPT_ASSERT(x)
#endif
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

namespace digits {
namespace {

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument("digits weights file: " + what);
}

double finite_number(const rapidjson::Value& v, const std::string& where) {
  if (!v.IsNumber()) bad(where + " is not a number");
  const double d = v.GetDouble();
  if (!std::isfinite(d)) bad(where + " is not finite");
  return d;
}

const rapidjson::Value& array_member(const rapidjson::Value& obj, const char* name,
                                     std::size_t size) {
  const auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) bad(std::string("missing \"") + name + "\"");
  if (!it->value.IsArray()) bad(std::string("\"") + name + "\" is not an array");
  if (it->value.Size() != size)
    bad(std::string("\"") + name + "\" has " + std::to_string(it->value.Size()) +
        " entries, expected " + std::to_string(size));
  return it->value;
}

}  // namespace

Model Model::from_json(std::string_view json) {
  rapidjson::Document doc;
  // Default flags on purpose: kParseFullPrecisionFlag has undefined behaviour in RapidJSON
  // 1.1.0; the default parser is within a few ulp, far inside the 1e-6 tolerance.
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError())
    bad("not valid JSON (" + std::string(rapidjson::GetParseError_En(doc.GetParseError())) +
        " at offset " + std::to_string(doc.GetErrorOffset()) + ")");
  if (!doc.IsObject()) bad("the top level is not a JSON object");

  Model m;
  const auto& classes = array_member(doc, "classes", kClasses);
  for (rapidjson::SizeType i = 0; i < kClasses; ++i) {
    if (!classes[i].IsInt()) bad("classes[" + std::to_string(i) + "] is not an integer");
    m.classes_[i] = classes[i].GetInt();
  }
  auto sorted = m.classes_;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    bad("\"classes\" has duplicate labels");

  const auto& coef = array_member(doc, "coef", kClasses);
  for (rapidjson::SizeType k = 0; k < kClasses; ++k) {
    const std::string row = "coef[" + std::to_string(k) + "]";
    if (!coef[k].IsArray()) bad(row + " is not an array");
    if (coef[k].Size() != kFeatures)
      bad(row + " has " + std::to_string(coef[k].Size()) + " entries, expected " +
          std::to_string(kFeatures));
    for (rapidjson::SizeType j = 0; j < kFeatures; ++j)
      m.coef_[k][j] = finite_number(coef[k][j], row + "[" + std::to_string(j) + "]");
  }

  const auto& intercept = array_member(doc, "intercept", kClasses);
  for (rapidjson::SizeType k = 0; k < kClasses; ++k)
    m.intercept_[k] = finite_number(intercept[k], "intercept[" + std::to_string(k) + "]");

  // "input" is optional; when present it must describe what this code feeds the model.
  if (const auto it = doc.FindMember("input"); it != doc.MemberEnd()) {
    const auto& in = it->value;
    if (!in.IsObject()) bad("\"input\" is not an object");
    if (const auto l = in.FindMember("length"); l != in.MemberEnd() &&
        (!l->value.IsUint() || l->value.GetUint() != kFeatures))
      bad("\"input.length\" must be 64 (8x8 features)");
    if (const auto s = in.FindMember("scaler"); s != in.MemberEnd() && !s->value.IsNull())
      bad("\"input.scaler\" is set, but this model expects raw 0..16 features");
  }

  if (const auto it = doc.FindMember("metadata"); it != doc.MemberEnd() && it->value.IsObject()) {
    const auto& md = it->value;
    if (const auto v = md.FindMember("sklearn_version"); v != md.MemberEnd() && v->value.IsString())
      m.sklearn_version_.assign(v->value.GetString(), v->value.GetStringLength());
    if (const auto a = md.FindMember("heldout_accuracy"); a != md.MemberEnd() && a->value.IsNumber())
      m.heldout_accuracy_ = a->value.GetDouble();
  }
  return m;
}

Model Model::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("digits weights file: cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) throw std::invalid_argument("digits weights file: cannot read " + path);
  try {
    return from_json(text.str());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(e.what()) + " (" + path + ")");
  }
}

Probabilities Model::probabilities(const Features& x) const {
  for (std::size_t j = 0; j < kFeatures; ++j)
    if (!std::isfinite(x[j]))
      throw std::invalid_argument("digits: feature " + std::to_string(j) + " is not finite");
  Probabilities z{};
  for (std::size_t k = 0; k < kClasses; ++k) {
    double s = intercept_[k];
    for (std::size_t j = 0; j < kFeatures; ++j) s += coef_[k][j] * x[j];
    z[k] = s;
  }
  const double zmax = *std::max_element(z.begin(), z.end());
  double sum = 0.0;
  for (auto& v : z) {
    v = std::exp(v - zmax);  // <= 1, and the max term is exactly 1: no overflow, sum >= 1
    sum += v;
  }
  for (auto& v : z) v /= sum;
  return z;
}

int Model::predict(const Features& x, Probabilities& p) const {
  p = probabilities(x);
  const auto best = std::max_element(p.begin(), p.end());  // first maximum, like np.argmax
  return classes_[static_cast<std::size_t>(best - p.begin())];
}

int Model::predict(const Features& x) const {
  Probabilities p;
  return predict(x, p);
}

}  // namespace digits
