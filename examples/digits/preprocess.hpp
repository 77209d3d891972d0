// Turning user input into the model's 64 features, the way sklearn's 8x8 digits were made.
//
// Two inputs:
//  - validate_pixels(): JSON {"pixels": [64 numbers 0..16]}, already features; checked only.
//  - image_to_features(): PNG or JPEG bytes (a canvas export or a photo of a digit).
//
// Pure C++17 (plus libstb for decoding): no Apache, APR or mstch type. Every function is
// reentrant and safe to call from many threads at once (stb_image keeps its failure reason
// thread-local; the global flip/unpremultiply flags are never touched).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "digits_model.hpp"

namespace digits {

// The client sent something unusable (bad pixels, not an image, blank image...). what() says
// what is wrong in words fit for a 400/422 response.
class BadInput : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Largest accepted image side, in pixels (both width and height). Decoding costs 2 bytes per
// pixel plus 1 byte per pixel of ink map, so the ceiling is about 48 MiB per request.
inline constexpr int kMaxImageSide = 4096;

// Checks JSON pixels: exactly 64 finite values in 0..16 (row-major 8x8). Throws BadInput.
Features validate_pixels(const std::vector<double>& pixels);

// An image reduced to ink: 0 = background, 255 = full ink, row-major, after compositing alpha
// on white, converting to grey, inverting a light background and stretching the contrast so the
// background is 0 and the darkest ink 255.
struct InkImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> ink;  // width * height

  std::uint8_t at(int x, int y) const {
    return ink[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) +
               static_cast<std::size_t>(x)];
  }
};

// Decodes PNG or JPEG bytes (other formats are refused) into an InkImage. Throws BadInput for an
// empty buffer, bytes that are not a PNG/JPEG, a corrupt or truncated file, a zero-size image,
// a side over max_side, or an image without ink (no contrast between border and content).
InkImage decode_ink(const unsigned char* data, std::size_t size, int max_side = kMaxImageSide);
inline InkImage decode_ink(std::string_view bytes, int max_side = kMaxImageSide) {
  return decode_ink(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), max_side);
}

// Ink map -> 64 features in 0..16, normalised like the UCI/sklearn 8x8 digits:
//  1. crop to the bounding box of pixels with ink >= kInkThreshold (faint noise ignored);
//  2. scale so the digit fills all 8 rows (every load_digits sample spans all 8 rows), keeping
//     the aspect ratio but never wider than kMaxDigitWidth cells (load_digits leaves the outer
//     columns nearly empty);
//  3. place it so its horizontal centre of mass is at kCentreX (load_digits' mean is 4.07),
//     inside columns 1..7;
//  4. area-average into the 8x8 cells (16 = a cell fully covered by full ink);
//  5. scale the ink so its total is kTargetMass (load_digits' mean, about 310, whatever the
//     digit), gain at most kMaxGain, clamping each cell to 16 - this evens out pen width.
// Throws BadInput when no pixel reaches the threshold.
Features features_from_ink(const InkImage& image);

// decode_ink + features_from_ink.
Features image_to_features(const unsigned char* data, std::size_t size,
                           int max_side = kMaxImageSide);
inline Features image_to_features(std::string_view bytes, int max_side = kMaxImageSide) {
  return image_to_features(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                           max_side);
}

inline constexpr int kInkThreshold = 64;        // of 255, for the bounding box
inline constexpr int kMinContrast = 48;         // of 255, border-to-ink, else "no ink"
inline constexpr double kMaxDigitWidth = 5.0;   // cells
inline constexpr double kCentreX = 4.0;         // cells
inline constexpr double kTargetMass = 310.0;    // sum of the 64 features
inline constexpr double kMaxGain = 8.0;

}  // namespace digits
