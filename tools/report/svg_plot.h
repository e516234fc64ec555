#pragma once
// Line plots as a standalone SVG document: panels side by side, each with a title, axis labels,
// round-numbered ticks (powers of ten on log axes), a legend and one coloured line with markers
// per series. Used by `soft bench` (time and memory against tokens) and the trainer's curves.
#include <string>
#include <vector>

namespace soft::tools {

struct Series {
  std::string label;
  std::vector<double> x, y;  // paired by index; extra values of the longer one are ignored
};
struct Axis {
  std::string label;
  bool log_scale = false;
};
struct Plot {
  std::string title;
  Axis x, y;
  std::vector<Series> series;
};

// Plots side by side in one standalone SVG document.
// Points with a non-finite coordinate (or <= 0 on a log axis) are skipped; an empty series only
// appears in the legend; a panel without points gets a default range. Text is XML-escaped.
// Throws soft::Error for no panels or a panel smaller than kMinPanelWidth x kMinPanelHeight.
std::string render_svg(const std::vector<Plot>& panels, int panel_width = 480, int panel_height = 320);

// Where the plot area sits inside a panel (pixels): panel i spans x in [i * panel_width,
// (i + 1) * panel_width); its plot area is inset by these margins. The axis range is the data
// range widened to the outer ticks, mapped linearly (or by log10) onto the plot area.
constexpr int kPlotMarginLeft = 72, kPlotMarginRight = 28, kPlotMarginTop = 36, kPlotMarginBottom = 48;
constexpr int kMinPanelWidth = 200, kMinPanelHeight = 150;

}  // namespace soft::tools
