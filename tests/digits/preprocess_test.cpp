// Preprocessing: drawn digits (PNG/JPEG in memory) -> features -> the right digit; invariants;
// hostile and malformed input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "digits_model.hpp"
#include "draw.hpp"
#include "preprocess.hpp"

namespace {

using draw::Box;
using draw::Style;

const digits::Model& model() {
  static const digits::Model m = digits::Model::from_file(DIGITS_MODEL_DIR "/weights.json");
  return m;
}

void expect_valid_features(const digits::Features& f) {
  for (std::size_t i = 0; i < f.size(); ++i) {
    EXPECT_TRUE(std::isfinite(f[i])) << i;
    EXPECT_GE(f[i], 0.0) << i;
    EXPECT_LE(f[i], 16.0) << i;
  }
}

double max_diff(const digits::Features& a, const digits::Features& b) {
  double d = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

std::string describe(const digits::Features& f) {
  std::string s;
  for (std::size_t i = 0; i < f.size(); ++i) {
    s += (i % 8 ? " " : "\n") + std::to_string(static_cast<int>(std::lround(f[i])));
  }
  return s;
}

struct Case {
  int digit;
  draw::Glyph glyph;
};

std::vector<Case> cases() {
  return {{0, draw::zero()}, {1, draw::one()}, {4, draw::four()}, {7, draw::seven()}};
}

// A user's drawings: big in the middle, small in a corner, tall and off-centre; thin to fat pen.
const Box kBoxes[] = {{40, 30, 200, 220}, {10, 10, 60, 70}, {100, 40, 120, 200},
                      {60, 20, 160, 250}};
const double kPens[] = {12, 18, 28};

}  // namespace

TEST(DigitsPreprocess, DrawnDigitsArePredicted) {
  for (const auto& c : cases())
    for (const Box& b : kBoxes)
      for (double pen : kPens) {
        // A pen wider than a quarter of the digit fills a 0's hole: a blob, not a drawing.
        if (pen > 0.25 * std::min(b.w, b.h)) continue;
        for (Style style : {Style::BlackOnWhite, Style::WhiteOnBlack, Style::BlackOnTransparent}) {
          const std::string png = draw::png_drawing(c.glyph, b, pen, style);
          ASSERT_FALSE(png.empty());
          const auto f = digits::image_to_features(png);
          expect_valid_features(f);
          EXPECT_EQ(model().predict(f), c.digit)
              << "digit " << c.digit << " box " << b.x << "," << b.y << " " << b.w << "x" << b.h
              << " pen " << pen << " style " << static_cast<int>(style) << describe(f);
        }
      }
}

TEST(DigitsPreprocess, JpegDrawingIsPredicted) {
  for (const auto& c : cases()) {
    const auto cov = draw::coverage(c.glyph, {40, 30, 200, 220}, 18, 280);
    const auto px = draw::rgba(cov, Style::BlackOnWhite);
    std::vector<std::uint8_t> rgb;
    for (std::size_t i = 0; i < px.size(); i += 4) rgb.insert(rgb.end(), {px[i], px[i + 1], px[i + 2]});
    const std::string jpg = draw::jpeg(rgb, 280, 280, 3, 85);
    ASSERT_FALSE(jpg.empty());
    const auto f = digits::image_to_features(jpg);
    expect_valid_features(f);
    EXPECT_EQ(model().predict(f), c.digit) << describe(f);
  }
}

TEST(DigitsPreprocess, InversionAndTransparencyGiveTheSameFeatures) {
  for (const auto& c : cases()) {
    const Box b{40, 30, 200, 220};
    const auto bw = digits::image_to_features(draw::png_drawing(c.glyph, b, 18, Style::BlackOnWhite));
    const auto wb = digits::image_to_features(draw::png_drawing(c.glyph, b, 18, Style::WhiteOnBlack));
    const auto tr =
        digits::image_to_features(draw::png_drawing(c.glyph, b, 18, Style::BlackOnTransparent));
    EXPECT_LE(max_diff(bw, wb), 1e-9) << c.digit;
    EXPECT_LE(max_diff(bw, tr), 1e-9) << c.digit;
  }
}

TEST(DigitsPreprocess, InkIsBrightAfterInversion) {
  // Black ink on white: the stroke pixels come out as ink (255), the paper as 0.
  const auto ink = digits::decode_ink(
      draw::png_drawing(draw::one(), {40, 30, 200, 220}, 20, Style::BlackOnWhite));
  ASSERT_EQ(ink.width, 280);
  ASSERT_EQ(ink.height, 280);
  EXPECT_EQ(ink.at(0, 0), 0);
  EXPECT_EQ(ink.at(140, 140), 255);  // on the stem (x = 40 + 0.5 * 200)
}

TEST(DigitsPreprocess, SmallInACornerMatchesLargeInTheMiddle) {
  // Same glyph, same pen-to-size ratio, 4x smaller and pushed into the top-left corner.
  for (const auto& c : cases()) {
    const auto large =
        digits::image_to_features(draw::png_drawing(c.glyph, {60, 30, 160, 220}, 20, Style::BlackOnWhite));
    const auto small =
        digits::image_to_features(draw::png_drawing(c.glyph, {6, 4, 40, 55}, 5, Style::BlackOnWhite));
    double sum = 0.0;
    for (std::size_t i = 0; i < large.size(); ++i) sum += std::fabs(large[i] - small[i]);
    EXPECT_LE(max_diff(large, small), 4.0) << c.digit << describe(large) << describe(small);
    EXPECT_LE(sum / 64.0, 1.0) << c.digit;
    EXPECT_EQ(model().predict(small), c.digit);
  }
}

TEST(DigitsPreprocess, FaintNoiseDoesNotMoveTheCrop) {
  auto cov = draw::coverage(draw::four(), {60, 30, 160, 220}, 20, 280);
  const auto clean = digits::image_to_features(draw::png(draw::rgba(cov, Style::BlackOnWhite), 280, 280, 4));
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {  // light grey specks (about 10% ink) all over the paper
    const std::size_t at = rng() % cov.size();
    if (cov[at] == 0.0) cov[at] = 0.1;
  }
  const auto noisy = digits::image_to_features(draw::png(draw::rgba(cov, Style::BlackOnWhite), 280, 280, 4));
  EXPECT_LE(max_diff(clean, noisy), 0.5);
  EXPECT_EQ(model().predict(noisy), 4);
}

TEST(DigitsPreprocess, ConcurrentDecodingAgrees) {
  const std::string png = draw::png_drawing(draw::seven(), {40, 30, 200, 220}, 18, Style::BlackOnWhite);
  const auto expected = digits::image_to_features(png);
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        if (digits::image_to_features(png) != expected) ++bad[static_cast<std::size_t>(t)];
        try {
          digits::image_to_features(png.substr(0, png.size() / 2));
          ++bad[static_cast<std::size_t>(t)];
        } catch (const digits::BadInput&) {
        }
      }
    });
  for (auto& th : threads) th.join();
  for (int n : bad) EXPECT_EQ(n, 0);
}

// --- validate_pixels ------------------------------------------------------------------------

namespace {
template <typename F>
void expect_bad(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "accepted (wanted BadInput: " << needle << ")";
  } catch (const digits::BadInput& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << " (wanted " << needle << ")";
  }
}
}  // namespace

TEST(DigitsBadInput, PixelsAreChecked) {
  std::vector<double> ok(64, 8.0);
  ok[0] = 0.0;
  ok[63] = 16.0;
  const auto f = digits::validate_pixels(ok);
  EXPECT_EQ(f[0], 0.0);
  EXPECT_EQ(f[63], 16.0);

  expect_bad([] { digits::validate_pixels(std::vector<double>(63, 1.0)); }, "got 63");
  expect_bad([] { digits::validate_pixels(std::vector<double>(65, 1.0)); }, "got 65");
  expect_bad([] { digits::validate_pixels({}); }, "got 0");
  auto with = [&](std::size_t i, double v) {
    auto p = ok;
    p[i] = v;
    return p;
  };
  expect_bad([&] { digits::validate_pixels(with(5, 17.0)); }, "pixel 5 is 17, outside the range 0..16");
  expect_bad([&] { digits::validate_pixels(with(6, -1.0)); }, "pixel 6 is -1, outside");
  expect_bad([&] { digits::validate_pixels(with(7, std::nan(""))); }, "pixel 7 is not a finite number");
  expect_bad([&] { digits::validate_pixels(with(8, std::numeric_limits<double>::infinity())); },
             "pixel 8 is not a finite");
  expect_bad([&] { digits::validate_pixels(with(9, 16.0000001)); }, "outside the range");
}

// --- images -----------------------------------------------------------------------------------

TEST(DigitsBadInput, EmptyBuffer) {
  expect_bad([] { digits::image_to_features(std::string()); }, "empty");
  expect_bad([] { digits::image_to_features(static_cast<const unsigned char*>(nullptr), 0); }, "empty");
}

TEST(DigitsBadInput, NotAnImage) {
  expect_bad([] { digits::image_to_features(std::string("hello, world")); }, "not a PNG or JPEG");
  expect_bad([] { digits::image_to_features(std::string("GIF89a\x01\x00\x01\x00", 10)); },
             "not a PNG or JPEG");
  expect_bad([] { digits::image_to_features(std::string("BM\0\0\0\0", 6)); }, "not a PNG or JPEG");
}

TEST(DigitsBadInput, RandomBytesNeverCrash) {
  std::mt19937 rng(12345);
  const std::string png_sig("\x89PNG\r\n\x1a\n", 8), jpg_sig("\xff\xd8\xff", 3);
  int rejected = 0, total = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes(rng() % 2048, '\0');
    for (auto& ch : bytes) ch = static_cast<char>(rng() & 0xff);
    if (i % 3 == 1) bytes = png_sig + bytes;
    if (i % 3 == 2) bytes = jpg_sig + bytes;
    ++total;
    try {
      expect_valid_features(digits::image_to_features(bytes));
    } catch (const digits::BadInput&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, total * 9 / 10);
}

TEST(DigitsBadInput, TruncatedAndCorruptedPng) {
  const std::string png = draw::png_drawing(draw::four(), {40, 30, 200, 220}, 18, Style::BlackOnWhite);
  expect_bad([&] { digits::image_to_features(png.substr(0, png.size() / 2)); }, "cannot decode");
  expect_bad([&] { digits::image_to_features(png.substr(0, 8)); }, "cannot read the image header");
  expect_bad([&] { digits::image_to_features(png.substr(0, 30)); }, "cannot");
  // Every truncation and many single-byte corruptions: rejected or decoded, never a crash.
  for (std::size_t n = 0; n < png.size(); n += 7) {
    try {
      expect_valid_features(digits::image_to_features(png.substr(0, n)));
    } catch (const digits::BadInput&) {
    }
  }
  std::mt19937 rng(99);
  for (int i = 0; i < 500; ++i) {
    std::string bad = png;
    for (int k = 0; k < 4; ++k) bad[rng() % bad.size()] = static_cast<char>(rng() & 0xff);
    try {
      expect_valid_features(digits::image_to_features(bad));
    } catch (const digits::BadInput&) {
    }
  }
}

TEST(DigitsBadInput, TruncatedJpegNeverCrashes) {
  const std::vector<std::uint8_t> grey(64 * 64, 128);
  const std::string jpg = draw::jpeg(grey, 64, 64, 1);
  ASSERT_FALSE(jpg.empty());
  for (std::size_t n = 0; n < jpg.size(); n += 5) {
    try {
      expect_valid_features(digits::image_to_features(jpg.substr(0, n)));
    } catch (const digits::BadInput&) {
    }
  }
}

TEST(DigitsBadInput, BlankImagesHaveNoInk) {
  const std::vector<std::uint8_t> white(280 * 280, 255), black(280 * 280, 0);
  expect_bad([&] { digits::image_to_features(draw::png(white, 280, 280, 1)); }, "no ink");
  expect_bad([&] { digits::image_to_features(draw::png(black, 280, 280, 1)); }, "no ink");
  const std::vector<std::uint8_t> transparent(280 * 280 * 4, 0);
  expect_bad([&] { digits::image_to_features(draw::png(transparent, 280, 280, 4)); }, "no ink");
  // A barely visible smudge is not ink either.
  std::vector<std::uint8_t> smudge(white);
  for (int y = 100; y < 150; ++y)
    for (int x = 100; x < 150; ++x) smudge[static_cast<std::size_t>(y * 280 + x)] = 240;
  expect_bad([&] { digits::image_to_features(draw::png(smudge, 280, 280, 1)); }, "no ink");
}

TEST(DigitsBadInput, AbsurdDimensionsAreRefusedBeforeDecoding) {
  const std::vector<std::uint8_t> row(4097, 255);
  expect_bad([&] { digits::image_to_features(draw::png(row, 4097, 1, 1)); }, "4097x1 pixels");
  const std::vector<std::uint8_t> col(4097, 255);
  expect_bad([&] { digits::image_to_features(draw::png(col, 1, 4097, 1)); }, "limit is 4096x4096");
  // The limit is a parameter.
  const std::string png = draw::png_drawing(draw::one(), {40, 30, 200, 220}, 18, Style::BlackOnWhite);
  expect_bad([&] { digits::image_to_features(png, 100); }, "280x280");
  // A header claiming 100000x100000 (IHDR patched; stb does not check the CRC).
  std::string huge = draw::png(std::vector<std::uint8_t>(1, 0), 1, 1, 1);
  ASSERT_GT(huge.size(), 24u);
  const unsigned char dim[4] = {0x00, 0x01, 0x86, 0xA0};  // 100000, big-endian
  for (int i = 0; i < 4; ++i) huge[16 + i] = huge[20 + i] = static_cast<char>(dim[i]);
  expect_bad([&] { digits::image_to_features(huge); }, "");
}

TEST(DigitsBadInput, ZeroSizeImage) {
  std::string png = draw::png(std::vector<std::uint8_t>(1, 0), 1, 1, 1);
  for (int i = 0; i < 4; ++i) png[16 + i] = 0;  // width 0
  expect_bad([&] { digits::image_to_features(png); }, "");
}
