#include "preprocess.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

// Declarations only: the implementation comes from Debian's libstb (link -lstb), so it is never
// compiled twice into one process.
#include <stb/stb_image.h>

namespace digits {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

bool is_png(const unsigned char* d, std::size_t n) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return n >= sizeof sig && std::memcmp(d, sig, sizeof sig) == 0;
}

bool is_jpeg(const unsigned char* d, std::size_t n) {
  return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF;
}

std::string stb_reason() {
  const char* r = stbi_failure_reason();
  return r ? r : "unknown error";
}

struct StbFree {
  void operator()(unsigned char* p) const noexcept { stbi_image_free(p); }
};

// Median of a 256-bin histogram holding n >= 1 samples.
int median(const std::array<std::size_t, 256>& hist, std::size_t n) {
  const std::size_t half = (n + 1) / 2;
  std::size_t seen = 0;
  for (int v = 0; v < 256; ++v) {
    seen += hist[static_cast<std::size_t>(v)];
    if (seen >= half) return v;
  }
  return 255;
}

// How one source pixel (row or column) of the crop spreads over the 8 destination cells.
struct Span {
  int first = 0;
  int count = 0;
  double weight[9] = {};  // overlap in cell units; a pixel covers at most 8 cells (+1 partial)
};

std::vector<Span> spans(int n, double origin, double scale) {
  std::vector<Span> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const double a = origin + i * scale, b = a + scale;
    Span& s = out[static_cast<std::size_t>(i)];
    const int c0 = std::max(0, static_cast<int>(std::floor(a)));
    const int c1 = std::min(7, static_cast<int>(std::ceil(b)) - 1);
    s.first = c0;
    for (int c = c0; c <= c1 && s.count < 9; ++c) {
      const double w = std::min(b, c + 1.0) - std::max(a, static_cast<double>(c));
      s.weight[s.count++] = w > 0 ? w : 0.0;
    }
  }
  return out;
}

}  // namespace

Features validate_pixels(const std::vector<double>& pixels) {
  if (pixels.size() != kFeatures)
    throw BadInput("expected 64 pixel values (8x8, row-major), got " +
                   std::to_string(pixels.size()));
  Features f{};
  for (std::size_t i = 0; i < kFeatures; ++i) {
    const double v = pixels[i];
    if (!std::isfinite(v))
      throw BadInput("pixel " + std::to_string(i) + " is not a finite number");
    if (v < 0.0 || v > 16.0)
      throw BadInput("pixel " + std::to_string(i) + " is " + num(v) +
                     ", outside the range 0..16");
    f[i] = v;
  }
  return f;
}

InkImage decode_ink(const unsigned char* data, std::size_t size, int max_side) {
  if (data == nullptr || size == 0) throw BadInput("the image is empty (0 bytes)");
  if (!is_png(data, size) && !is_jpeg(data, size))
    throw BadInput("not a PNG or JPEG image");
  if (size > static_cast<std::size_t>(INT_MAX)) throw BadInput("the image file is too large");
  const int len = static_cast<int>(size);

  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &comp))
    throw BadInput("cannot read the image header (" + stb_reason() + ")");
  if (w <= 0 || h <= 0) throw BadInput("the image has zero size");
  if (w > max_side || h > max_side)
    throw BadInput("the image is " + std::to_string(w) + "x" + std::to_string(h) +
                   " pixels; the limit is " + std::to_string(max_side) + "x" +
                   std::to_string(max_side));

  int dw = 0, dh = 0, dc = 0;
  std::unique_ptr<unsigned char, StbFree> px(stbi_load_from_memory(data, len, &dw, &dh, &dc, 2));
  if (!px) throw BadInput("cannot decode the image (" + stb_reason() + ")");
  if (dw != w || dh != h) throw BadInput("the image header and its data disagree on the size");

  // Grey, alpha composited on white (a canvas's transparent background is white).
  const std::size_t n = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
  InkImage out;
  out.width = w;
  out.height = h;
  out.ink.resize(n);
  const unsigned char* p = px.get();
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned g = p[2 * i], a = p[2 * i + 1];
    out.ink[i] = static_cast<std::uint8_t>((g * a + 255u * (255u - a) + 127u) / 255u);
  }
  px.reset();

  // Background = the border's median grey; light background -> dark ink, so invert.
  std::array<std::size_t, 256> hist{};
  std::size_t border = 0;
  auto count = [&](int x, int y) {
    ++hist[out.at(x, y)];
    ++border;
  };
  for (int x = 0; x < w; ++x) {
    count(x, 0);
    if (h > 1) count(x, h - 1);
  }
  for (int y = 1; y + 1 < h; ++y) {
    count(0, y);
    if (w > 1) count(w - 1, y);
  }
  const int bg_grey = median(hist, border);
  const bool light = bg_grey >= 128;
  const int bg = light ? 255 - bg_grey : bg_grey;

  int peak = 0;
  for (auto& v : out.ink) {
    if (light) v = static_cast<std::uint8_t>(255 - v);
    peak = std::max(peak, static_cast<int>(v));
  }
  if (peak - bg < kMinContrast)
    throw BadInput("no ink found: the image is blank or has too little contrast");

  // Stretch: background -> 0, darkest ink -> 255.
  const double gain = 255.0 / (peak - bg);
  for (auto& v : out.ink) {
    const double s = (static_cast<int>(v) - bg) * gain;
    v = static_cast<std::uint8_t>(std::clamp(std::lround(s), 0L, 255L));
  }
  return out;
}

Features features_from_ink(const InkImage& img) {
  if (img.width <= 0 || img.height <= 0 ||
      img.ink.size() != static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height))
    throw std::invalid_argument("digits::features_from_ink: inconsistent InkImage");

  int x0 = img.width, x1 = -1, y0 = img.height, y1 = -1;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      if (img.at(x, y) >= kInkThreshold) {
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
      }
  if (x1 < 0) throw BadInput("no ink found: the image is blank");
  const int bw = x1 - x0 + 1, bh = y1 - y0 + 1;

  // Fill the 8 rows; keep the aspect ratio unless wider than kMaxDigitWidth.
  const double ky = 8.0 / bh;
  double kx = ky;
  if (bw * kx > kMaxDigitWidth) kx = kMaxDigitWidth / bw;
  const double w8 = bw * kx;

  // Horizontal centre of mass (in crop pixels) -> kCentreX, kept inside columns 1..7.
  double mass = 0.0, moment = 0.0;
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) {
      const double v = img.at(x, y);
      mass += v;
      moment += v * (x - x0 + 0.5);
    }
  double left = kCentreX - (moment / mass) * kx;
  left = std::clamp(left, 1.0, 7.0 - w8);

  const std::vector<Span> cols = spans(bw, left, kx);
  const std::vector<Span> rows = spans(bh, 0.0, ky);
  std::array<double, kFeatures> acc{};
  for (int y = 0; y < bh; ++y) {
    const Span& r = rows[static_cast<std::size_t>(y)];
    for (int x = 0; x < bw; ++x) {
      const int v = img.at(x0 + x, y0 + y);
      if (v == 0) continue;
      const Span& c = cols[static_cast<std::size_t>(x)];
      const double ink = v * (16.0 / 255.0);
      for (int i = 0; i < r.count; ++i)
        for (int j = 0; j < c.count; ++j)
          acc[static_cast<std::size_t>((r.first + i) * 8 + c.first + j)] +=
              ink * r.weight[i] * c.weight[j];
    }
  }

  // Even out the pen width: total ink -> kTargetMass, cells clamped to 16.
  auto total = [&](double g) {
    double s = 0.0;
    for (double v : acc) s += std::min(16.0, g * v);
    return s;
  };
  double g = kMaxGain;
  if (total(kMaxGain) > kTargetMass) {
    double lo = 0.0, hi = kMaxGain;
    for (int it = 0; it < 60; ++it) {
      const double mid = 0.5 * (lo + hi);
      (total(mid) < kTargetMass ? lo : hi) = mid;
    }
    g = 0.5 * (lo + hi);
  }
  Features f{};
  for (std::size_t i = 0; i < kFeatures; ++i) f[i] = std::clamp(g * acc[i], 0.0, 16.0);
  return f;
}

Features image_to_features(const unsigned char* data, std::size_t size, int max_side) {
  return features_from_ink(decode_ink(data, size, max_side));
}

}  // namespace digits
