// tools/report/svg_plot.h: the SVG is well formed (tags balance), text is escaped, a data point
// lands on the pixel worked out by hand from the documented margins, ticks are round numbers
// (powers of ten on log axes), and empty or non-finite data is skipped without failing.
#include <doctest/doctest.h>

#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "tools/report/svg_plot.h"

using namespace soft::tools;

namespace {

int count(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

// Every opening tag is closed in order (self-closing tags count as both); false on a mismatch.
// A '<' not followed by a tag name (the <?xml ...?> declaration) is not a tag. Written without
// std::regex, whose inlined code makes GCC 12 warn (-Wmaybe-uninitialized) in sanitizer builds.
bool tags_balance(const std::string& svg) {
  auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; };
  std::vector<std::string> open;
  size_t at = svg.find('<');
  while (at != std::string::npos) {
    const bool closing = svg.compare(at, 2, "</") == 0;
    const size_t name = at + (closing ? 2 : 1), end = svg.find('>', name);
    if (end == std::string::npos || !std::isalpha(static_cast<unsigned char>(svg[name]))) {
      at = svg.find('<', at + 1);
      continue;
    }
    size_t name_end = name;
    while (name_char(svg[name_end])) ++name_end;
    const std::string tag = svg.substr(name, name_end - name);
    const bool self_closing = svg[end - 1] == '/';
    if (!self_closing && !closing) open.push_back(tag);
    if (!self_closing && closing) {
      if (open.empty() || open.back() != tag) return false;
      open.pop_back();
    }
    at = svg.find('<', end + 1);
  }
  return open.empty();
}

// The texts of <text class="CLASS" ...>...</text>, in order.
std::vector<std::string> texts_of(const std::string& svg, const std::string& cls) {
  std::vector<std::string> out;
  const std::string start = "<text class=\"" + cls + "\"";
  for (size_t at = svg.find(start); at != std::string::npos; at = svg.find(start, at + 1)) {
    size_t text = svg.find('>', at + start.size());
    if (text == std::string::npos) break;
    size_t end = svg.find('<', ++text);
    if (end != std::string::npos && svg.compare(end, 7, "</text>") == 0) out.push_back(svg.substr(text, end - text));
  }
  return out;
}

Plot line_plot() {
  return Plot{"time", {"tokens", false}, {"ms", false}, {Series{"SOFT", {0, 5, 10}, {0, 50, 100}}}};
}

}  // namespace

TEST_CASE("svg_plot: a standalone document whose tags balance, one panel per plot side by side") {
  Plot memory{"memory", {"tokens", true}, {"MiB", true}, {Series{"a", {1, 100}, {2, 3000}}, Series{"b", {1}, {5}}}};
  std::string svg = render_svg({line_plot(), memory}, 400, 300);
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"300\"") != std::string::npos);
  CHECK(tags_balance(svg));
  CHECK(count(svg, "<g class=\"panel\">") == 2);
  CHECK(count(svg, "<polyline") == 3);
  CHECK(count(svg, "<circle") == 3 + 2 + 1);
  CHECK_FALSE(tags_balance("<svg><g></svg></g>"));  // the checker itself can fail
}

TEST_CASE("svg_plot: titles, axis labels and series labels are XML-escaped") {
  Plot p{"a<b & \"c\"", {"x's", false}, {"y>0", false}, {Series{"<soft&>", {1, 2}, {1, 2}}}};
  std::string svg = render_svg({p});
  CHECK(texts_of(svg, "title") == std::vector<std::string>{"a&lt;b &amp; &quot;c&quot;"});
  CHECK(texts_of(svg, "xlabel") == std::vector<std::string>{"x&apos;s"});
  CHECK(texts_of(svg, "ylabel") == std::vector<std::string>{"y&gt;0"});
  CHECK(texts_of(svg, "legend-label") == std::vector<std::string>{"&lt;soft&amp;&gt;"});
  CHECK(svg.find("<soft") == std::string::npos);
  CHECK(tags_balance(svg));
}

TEST_CASE("svg_plot: a point maps to the pixel worked out by hand") {
  // x data 0..10 gives ticks 0, 2, ..., 10 (range 0..10); y data 0..100 gives 0, 20, ..., 100.
  // Panel 480 x 320: plot area x from 72 to 480 - 28 = 452, y from 36 (top) to 320 - 48 = 272.
  // (5, 50) is the middle: x = 72 + 0.5 * 380 = 262, y = 272 - 0.5 * 236 = 154.
  std::string svg = render_svg({line_plot()}, 480, 320);
  CHECK(svg.find("<circle cx=\"262.00\" cy=\"154.00\"") != std::string::npos);
  CHECK(svg.find("<circle cx=\"72.00\" cy=\"272.00\"") != std::string::npos);    // (0, 0) bottom left
  CHECK(svg.find("<circle cx=\"452.00\" cy=\"36.00\"") != std::string::npos);    // (10, 100) top right
  CHECK(texts_of(svg, "xtick") == std::vector<std::string>{"0", "2", "4", "6", "8", "10"});
  CHECK(texts_of(svg, "ytick") == std::vector<std::string>{"0", "20", "40", "60", "80", "100"});

  // The same plot as the second panel is shifted right by one panel width.
  std::string two = render_svg({line_plot(), line_plot()}, 480, 320);
  CHECK(two.find("<circle cx=\"742.00\" cy=\"154.00\"") != std::string::npos);
}

TEST_CASE("svg_plot: the legend goes to the corner the data leaves free") {
  // Rising data leaves the top left free; falling data covers it, leaving the top right.
  // Legend box: 34 + 7 * 4 characters = 62 wide; top right x = 452 - 6 - 62 = 384.
  Plot rising{"up", {"x", false}, {"y", false}, {Series{"SOFT", {0, 5, 10}, {0, 50, 100}}}};
  Plot falling{"down", {"x", false}, {"y", false}, {Series{"SOFT", {0, 5, 10}, {100, 50, 0}}}};
  CHECK(render_svg({rising}).find("<g class=\"legend\">\n<rect x=\"78.00\" y=\"42.00\"") != std::string::npos);
  CHECK(render_svg({falling}).find("<g class=\"legend\">\n<rect x=\"384.00\" y=\"42.00\"") != std::string::npos);
}

TEST_CASE("svg_plot: log axes tick at powers of ten and place points by log10") {
  // x 1000..65536 spans decades 3..5: ticks 1000, 10000, 100000; y 0.5..20 spans -1..2.
  Plot p{"sweep", {"tokens", true}, {"s", true}, {Series{"SOFT", {1000, 10000, 65536}, {0.5, 1, 20}}}};
  std::string svg = render_svg({p}, 480, 320);
  CHECK(texts_of(svg, "xtick") == std::vector<std::string>{"1000", "10000", "100000"});
  CHECK(texts_of(svg, "ytick") == std::vector<std::string>{"0.1", "1", "10", "100"});
  // (10000, 1): x is mid-way through decades 3..5 -> 72 + 0.5 * 380 = 262;
  // y is one decade of three above the bottom -> 272 - 236 / 3 = 193.33.
  CHECK(svg.find("<circle cx=\"262.00\" cy=\"193.33\"") != std::string::npos);

  Plot wide{"wide", {"n", true}, {"v", false}, {Series{"s", {1e-6, 1e12}, {0, 1}}}};  // 18 decades
  std::vector<std::string> ticks = texts_of(render_svg({wide}), "xtick");
  CHECK(ticks.size() <= 10);
  CHECK(ticks.front() == "1e-6");
  CHECK(ticks.back() == "1e12");
}

TEST_CASE("svg_plot: empty series and non-finite or non-positive (on log axes) points are skipped") {
  Plot p{"gaps", {"x", true}, {"y", false},
         {Series{"empty", {}, {}},
          Series{"holes", {1, NAN, 10, -5, 100, 1000}, {1, 2, INFINITY, 4, 3, 2}},
          Series{"short", {1, 2, 3}, {1}}}};
  std::string svg;
  REQUIRE_NOTHROW(svg = render_svg({p}));
  CHECK(tags_balance(svg));
  CHECK(count(svg, "<circle") == 3 + 1);  // holes keeps x = 1, 100, 1000; short keeps (1, 1)
  CHECK(count(svg, "<polyline") == 2);    // the empty series draws no line
  CHECK(texts_of(svg, "legend-label") == std::vector<std::string>{"empty", "holes", "short"});
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);

  Plot nothing{"nothing", {"x", true}, {"y", false}, {}};
  REQUIRE_NOTHROW(svg = render_svg({nothing}));
  CHECK(tags_balance(svg));
  CHECK(texts_of(svg, "xtick") == std::vector<std::string>{"1", "10"});

  CHECK_THROWS_AS(render_svg({}), soft::Error);
  CHECK_THROWS_AS(render_svg({line_plot()}, 10, 10), soft::Error);
}
