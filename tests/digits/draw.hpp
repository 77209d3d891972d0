// Test helper: rasterise pen strokes the way a user draws on a canvas, and encode them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <stb/stb_image_write.h>  // declarations; libstb provides the implementation

namespace draw {

using Point = std::pair<double, double>;   // unit coordinates inside the digit's box
using Stroke = std::vector<Point>;
using Glyph = std::vector<Stroke>;

struct Box {
  double x, y, w, h;  // where the glyph lands on the canvas, in pixels
};

enum class Style { BlackOnWhite, WhiteOnBlack, BlackOnTransparent };

inline double seg_dist(double px, double py, double ax, double ay, double bx, double by) {
  const double dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
  double t = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0.0;
  t = std::clamp(t, 0.0, 1.0);
  const double qx = ax + t * dx - px, qy = ay + t * dy - py;
  return std::sqrt(qx * qx + qy * qy);
}

// Pen coverage 0..1 per pixel: round-capped, anti-aliased polylines of width `pen`.
inline std::vector<double> coverage(const Glyph& g, Box b, double pen, int size) {
  std::vector<double> cov(static_cast<std::size_t>(size * size), 0.0);
  for (const auto& s : g)
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto& a = s[i];
      const auto& c = s[i + 1 < s.size() ? i + 1 : i];
      const double ax = b.x + a.first * b.w, ay = b.y + a.second * b.h;
      const double cx = b.x + c.first * b.w, cy = b.y + c.second * b.h;
      const int x0 = std::max(0, static_cast<int>(std::min(ax, cx) - pen));
      const int x1 = std::min(size - 1, static_cast<int>(std::max(ax, cx) + pen));
      const int y0 = std::max(0, static_cast<int>(std::min(ay, cy) - pen));
      const int y1 = std::min(size - 1, static_cast<int>(std::max(ay, cy) + pen));
      for (int y = y0; y <= y1; ++y)
        for (int x = x0; x <= x1; ++x) {
          const double d = seg_dist(x + 0.5, y + 0.5, ax, ay, cx, cy);
          const double v = std::clamp(pen / 2 + 0.5 - d, 0.0, 1.0);
          auto& dst = cov[static_cast<std::size_t>(y * size + x)];
          dst = std::max(dst, v);
        }
    }
  return cov;
}

// RGBA pixels of the drawing.
inline std::vector<std::uint8_t> rgba(const std::vector<double>& cov, Style style) {
  std::vector<std::uint8_t> px(cov.size() * 4);
  for (std::size_t i = 0; i < cov.size(); ++i) {
    const auto c = static_cast<std::uint8_t>(std::lround(cov[i] * 255.0));
    std::uint8_t* p = &px[4 * i];
    switch (style) {
      case Style::BlackOnWhite: p[0] = p[1] = p[2] = static_cast<std::uint8_t>(255 - c); p[3] = 255; break;
      case Style::WhiteOnBlack: p[0] = p[1] = p[2] = c; p[3] = 255; break;
      case Style::BlackOnTransparent: p[0] = p[1] = p[2] = 0; p[3] = c; break;
    }
  }
  return px;
}

inline void append(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data),
                                         static_cast<std::size_t>(size));
}

inline std::string png(const std::vector<std::uint8_t>& pixels, int w, int h, int comp) {
  std::string out;
  if (!stbi_write_png_to_func(append, &out, w, h, comp, pixels.data(), w * comp)) out.clear();
  return out;
}

inline std::string jpeg(const std::vector<std::uint8_t>& pixels, int w, int h, int comp,
                        int quality = 90) {
  std::string out;
  if (!stbi_write_jpg_to_func(append, &out, w, h, comp, pixels.data(), quality)) out.clear();
  return out;
}

inline std::string png_drawing(const Glyph& g, Box b, double pen, Style style, int size = 280) {
  return png(rgba(coverage(g, b, pen, size), style), size, size, 4);
}

// Glyphs in the style the model knows (load_digits: European 7 with a bar, plain 1).
inline Glyph zero() {
  Stroke s;
  for (int i = 0; i <= 40; ++i) {
    const double t = 2 * 3.14159265358979323846 * i / 40;
    s.emplace_back(0.5 + 0.35 * std::sin(t), 0.5 - 0.48 * std::cos(t));
  }
  return {s};
}
inline Glyph one() { return {{{0.5, 0.0}, {0.5, 1.0}}}; }
inline Glyph four() {
  return {{{0.55, 0.0}, {0.05, 0.65}, {0.95, 0.65}}, {{0.7, 0.3}, {0.7, 1.0}}};
}
inline Glyph seven() {
  return {{{0.05, 0.0}, {0.95, 0.0}, {0.35, 1.0}}, {{0.3, 0.5}, {0.8, 0.5}}};
}

}  // namespace draw
