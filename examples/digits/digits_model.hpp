// Handwritten-digit classifier for the demo: multinomial softmax regression exported by
// models/digits/train.py (sklearn LogisticRegression on the 8x8 load_digits features).
//
// Pure C++17: no Apache, APR or mstch type, so a plugin handler can call it directly.
// A Model is immutable after from_json(); every const member is safe to call from many threads
// at once (no shared mutable state, no lazy caches).
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace digits {

inline constexpr std::size_t kFeatures = 64;  // 8x8, row-major, values 0..16 (16 = full ink)
inline constexpr std::size_t kClasses = 10;

using Features = std::array<double, kFeatures>;
using Probabilities = std::array<double, kClasses>;

class Model {
 public:
  // Parses the weights file's text. Throws std::invalid_argument naming what is wrong when the
  // text is not JSON or lacks "classes" (10 distinct integers), "coef" (10 rows of 64 finite
  // numbers) or "intercept" (10 finite numbers), or when "input" disagrees with 64 raw features.
  static Model from_json(std::string_view json);
  // Reads and parses a weights file; std::invalid_argument also when it cannot be read.
  static Model from_file(const std::string& path);

  // softmax(x . coef^T + intercept), computed as sklearn's predict_proba does (max subtracted
  // before exp). Index i is the probability of classes()[i]. Throws std::invalid_argument for a
  // non-finite feature (run image features or JSON pixels through preprocess.hpp first).
  Probabilities probabilities(const Features& x) const;
  // The class with the highest probability (the first on a tie, like numpy's argmax).
  int predict(const Features& x) const;
  // Both at once: the label and the probabilities it was chosen from.
  int predict(const Features& x, Probabilities& probabilities_out) const;

  const std::array<int, kClasses>& classes() const noexcept { return classes_; }
  // Metadata from the weights file; empty / negative when absent.
  const std::string& sklearn_version() const noexcept { return sklearn_version_; }
  double heldout_accuracy() const noexcept { return heldout_accuracy_; }

 private:
  Model() = default;

  std::array<int, kClasses> classes_{};
  std::array<std::array<double, kFeatures>, kClasses> coef_{};
  std::array<double, kClasses> intercept_{};
  std::string sklearn_version_;
  double heldout_accuracy_ = -1.0;
};

}  // namespace digits
