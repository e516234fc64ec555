// render_svg: panels of line plots in one SVG document (see svg_plot.h for the layout).
#include "tools/report/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <sstream>

#include "core/error.h"

namespace soft::tools {
namespace {

// Distinct colours (the Tableau 10 palette), cycled when a panel has more series.
constexpr const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr int kTargetTicks = 5;
constexpr int kMaxLogTicks = 8;

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

bool usable(double v, bool log_scale) { return std::isfinite(v) && (!log_scale || v > 0); }

struct Tick {
  double value;  // in data units
  std::string label;
};

// An axis after layout: [lo, hi] in data units (log10 units on a log axis) and its ticks.
struct Scale {
  bool log_scale = false;
  double lo = 0, hi = 1;
  std::vector<Tick> ticks;
  double fraction(double v) const { return ((log_scale ? std::log10(v) : v) - lo) / (hi - lo); }
};

std::string linear_label(double v, double step) {
  char buf[32];
  if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-4)) {
    std::snprintf(buf, sizeof buf, "%g", v);
  } else {
    int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

// 10^k as "1000", "0.01" or, far from 1, "1e9".
std::string power_of_ten_label(int k) {
  char buf[32];
  if (k >= 0 && k <= 5) std::snprintf(buf, sizeof buf, "%.0f", std::pow(10.0, k));
  else if (k < 0 && k >= -3) std::snprintf(buf, sizeof buf, "%.*f", -k, std::pow(10.0, k));
  else std::snprintf(buf, sizeof buf, "1e%d", k);
  return buf;
}

// Steps of 1, 2 or 5 times a power of ten, about kTargetTicks of them over [min, max].
Scale linear_scale(double min, double max) {
  if (min == max) {
    double pad = min == 0 ? 1.0 : std::fabs(min) * 0.5;
    min -= pad, max += pad;
  }
  double raw = (max - min) / kTargetTicks;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double norm = raw / magnitude;
  double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  auto first = static_cast<long long>(std::floor(min / step + 1e-9));
  auto last = static_cast<long long>(std::ceil(max / step - 1e-9));
  Scale s;
  s.lo = static_cast<double>(first) * step;
  s.hi = static_cast<double>(last) * step;
  for (long long k = first; k <= last; ++k) {
    double v = k == 0 ? 0.0 : static_cast<double>(k) * step;
    s.ticks.push_back({v, linear_label(v, step)});
  }
  return s;
}

// Whole decades around [min, max] (both > 0), a tick at every power of ten (every few when many).
Scale log_scale(double min, double max) {
  int lo = static_cast<int>(std::floor(std::log10(min) + 1e-9));
  int hi = static_cast<int>(std::ceil(std::log10(max) - 1e-9));
  if (hi == lo) ++hi;
  int every = (hi - lo + kMaxLogTicks - 1) / kMaxLogTicks;
  Scale s;
  s.log_scale = true;
  s.lo = lo, s.hi = hi;
  for (int k = lo; k <= hi; k += every) s.ticks.push_back({std::pow(10.0, k), power_of_ten_label(k)});
  return s;
}

Scale make_scale(const Plot& plot, bool for_x) {
  const Axis& axis = for_x ? plot.x : plot.y;
  double min = INFINITY, max = -INFINITY;
  for (const Series& s : plot.series) {
    size_t n = std::min(s.x.size(), s.y.size());
    for (size_t i = 0; i < n; ++i) {
      if (!usable(s.x[i], plot.x.log_scale) || !usable(s.y[i], plot.y.log_scale)) continue;
      double v = for_x ? s.x[i] : s.y[i];
      min = std::min(min, v), max = std::max(max, v);
    }
  }
  if (min > max) min = axis.log_scale ? 1 : 0, max = axis.log_scale ? 10 : 1;  // no points
  return axis.log_scale ? log_scale(min, max) : linear_scale(min, max);
}

struct Point {
  double x, y;
};
struct Box {
  double x, y, w, h;
  bool contains(Point p) const { return p.x >= x && p.x <= x + w && p.y >= y && p.y <= y + h; }
};

// A w x h box in the corner of `area` (inset 6 px) that covers the fewest points of `lines`,
// counting the markers and samples along each segment; top left on ties, then top right,
// bottom right, bottom left.
Box legend_box(const Box& area, double w, double h, const std::vector<std::vector<Point>>& lines) {
  const double inset = 6, left = area.x + inset, right = area.x + area.w - inset - w;
  const double top = area.y + inset, bottom = area.y + area.h - inset - h;
  const Box corners[] = {{left, top, w, h}, {right, top, w, h}, {right, bottom, w, h}, {left, bottom, w, h}};
  constexpr int kSamplesPerSegment = 8;
  Box best = corners[0];
  long best_covered = -1;
  for (const Box& box : corners) {
    long covered = 0;
    for (const auto& line : lines) {
      for (size_t i = 0; i < line.size(); ++i) {
        covered += box.contains(line[i]);
        if (i + 1 == line.size()) continue;
        for (int t = 1; t < kSamplesPerSegment; ++t) {
          double f = static_cast<double>(t) / kSamplesPerSegment;
          const Point& a = line[i];
          const Point& b = line[i + 1];
          covered += box.contains({a.x + f * (b.x - a.x), a.y + f * (b.y - a.y)});
        }
      }
    }
    if (best_covered < 0 || covered < best_covered) best = box, best_covered = covered;
  }
  return best;
}

void render_panel(const Plot& plot, double left_edge, int width, int height, std::ostream& s) {
  const double x0 = left_edge + kPlotMarginLeft, x1 = left_edge + width - kPlotMarginRight;
  const double y0 = kPlotMarginTop, y1 = height - kPlotMarginBottom;  // y0 top, y1 bottom
  const Scale sx = make_scale(plot, true), sy = make_scale(plot, false);
  auto to_x = [&](double v) { return x0 + sx.fraction(v) * (x1 - x0); };
  auto to_y = [&](double v) { return y1 - sy.fraction(v) * (y1 - y0); };

  s << "<g class=\"panel\">\n";
  s << "<text class=\"title\" x=\"" << px((x0 + x1) / 2) << "\" y=\"" << px(y0 - 14)
    << "\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" << escape(plot.title) << "</text>\n";
  for (const Tick& t : sx.ticks) {
    double x = to_x(t.value);
    s << "<line x1=\"" << px(x) << "\" y1=\"" << px(y0) << "\" x2=\"" << px(x) << "\" y2=\"" << px(y1)
      << "\" stroke=\"#e0e0e0\"/>\n";
    s << "<text class=\"xtick\" x=\"" << px(x) << "\" y=\"" << px(y1 + 16) << "\" text-anchor=\"middle\">"
      << escape(t.label) << "</text>\n";
  }
  for (const Tick& t : sy.ticks) {
    double y = to_y(t.value);
    s << "<line x1=\"" << px(x0) << "\" y1=\"" << px(y) << "\" x2=\"" << px(x1) << "\" y2=\"" << px(y)
      << "\" stroke=\"#e0e0e0\"/>\n";
    s << "<text class=\"ytick\" x=\"" << px(x0 - 6) << "\" y=\"" << px(y + 4) << "\" text-anchor=\"end\">"
      << escape(t.label) << "</text>\n";
  }
  s << "<rect x=\"" << px(x0) << "\" y=\"" << px(y0) << "\" width=\"" << px(x1 - x0) << "\" height=\""
    << px(y1 - y0) << "\" fill=\"none\" stroke=\"#333333\"/>\n";
  s << "<text class=\"xlabel\" x=\"" << px((x0 + x1) / 2) << "\" y=\"" << px(height - 10.0)
    << "\" text-anchor=\"middle\">" << escape(plot.x.label) << "</text>\n";
  double label_x = left_edge + 16, label_y = (y0 + y1) / 2;
  s << "<text class=\"ylabel\" x=\"" << px(label_x) << "\" y=\"" << px(label_y) << "\" text-anchor=\"middle\""
    << " transform=\"rotate(-90 " << px(label_x) << " " << px(label_y) << ")\">" << escape(plot.y.label)
    << "</text>\n";

  std::vector<std::vector<Point>> lines;  // pixel positions of each series' usable points
  for (size_t k = 0; k < plot.series.size(); ++k) {
    const Series& series = plot.series[k];
    const char* colour = kColours[k % std::size(kColours)];
    std::ostringstream points, markers;
    std::vector<Point>& line = lines.emplace_back();
    size_t n = std::min(series.x.size(), series.y.size());
    for (size_t i = 0; i < n; ++i) {
      if (!usable(series.x[i], sx.log_scale) || !usable(series.y[i], sy.log_scale)) continue;
      line.push_back({to_x(series.x[i]), to_y(series.y[i])});
      std::string cx = px(line.back().x), cy = px(line.back().y);
      points << (points.tellp() > 0 ? " " : "") << cx << "," << cy;
      markers << "<circle cx=\"" << cx << "\" cy=\"" << cy << "\" r=\"3\" fill=\"" << colour << "\"/>\n";
    }
    s << "<g class=\"series\">\n";
    if (points.tellp() > 0)
      s << "<polyline points=\"" << points.str() << "\" fill=\"none\" stroke=\"" << colour
        << "\" stroke-width=\"2\"/>\n";
    s << markers.str() << "</g>\n";
  }

  // Legend: one row per series, in the corner of the plot area where it hides the least data.
  if (!plot.series.empty()) {
    size_t longest = 0;
    for (const Series& series : plot.series) longest = std::max(longest, series.label.size());
    const double row = 16;
    const Box box = legend_box({x0, y0, x1 - x0, y1 - y0}, 34 + 7.0 * static_cast<double>(longest),
                               row * static_cast<double>(plot.series.size()) + 6, lines);
    s << "<g class=\"legend\">\n<rect x=\"" << px(box.x) << "\" y=\"" << px(box.y) << "\" width=\"" << px(box.w)
      << "\" height=\"" << px(box.h) << "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999999\"/>\n";
    for (size_t k = 0; k < plot.series.size(); ++k) {
      const char* colour = kColours[k % std::size(kColours)];
      double y = box.y + row * (static_cast<double>(k) + 0.5) + 3;
      s << "<line x1=\"" << px(box.x + 4) << "\" y1=\"" << px(y) << "\" x2=\"" << px(box.x + 24) << "\" y2=\""
        << px(y) << "\" stroke=\"" << colour << "\" stroke-width=\"2\"/>\n";
      s << "<text class=\"legend-label\" x=\"" << px(box.x + 28) << "\" y=\"" << px(y + 4) << "\">"
        << escape(plot.series[k].label) << "</text>\n";
    }
    s << "</g>\n";
  }
  s << "</g>\n";
}

}  // namespace

std::string render_svg(const std::vector<Plot>& panels, int panel_width, int panel_height) {
  SOFT_CHECK(!panels.empty(), "render_svg: no panels to draw");
  SOFT_CHECK(panel_width >= kMinPanelWidth && panel_height >= kMinPanelHeight, "render_svg: panel size ",
             panel_width, "x", panel_height, " is below the minimum ", kMinPanelWidth, "x", kMinPanelHeight);
  const long long width = static_cast<long long>(panel_width) * static_cast<long long>(panels.size());
  std::ostringstream s;
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << panel_height
    << "\" viewBox=\"0 0 " << width << " " << panel_height
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t i = 0; i < panels.size(); ++i)
    render_panel(panels[i], static_cast<double>(i) * panel_width, panel_width, panel_height, s);
  s << "</svg>\n";
  return s.str();
}

}  // namespace soft::tools
