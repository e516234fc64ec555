#include "tools/train/curves.h"

#include "tools/report/svg_plot.h"

namespace soft::tools::train {

std::string curves_svg(const std::vector<Json>& metrics, const std::string& title) {
  Series train_loss{"train loss", {}, {}}, test_loss{"test loss", {}, {}};
  Series top1{"test top-1", {}, {}}, ema_top1{"EMA test top-1", {}, {}};
  auto add = [](Series& s, double x, const Json& line, const char* key, double scale) {
    if (!line.contains(key) || !line[key].is_number()) return;
    s.x.push_back(x);
    s.y.push_back(line[key].get<double>() * scale);
  };
  for (const Json& line : metrics) {
    if (!line.contains("epoch") || !line["epoch"].is_number()) continue;
    const double epoch = line["epoch"].get<double>();
    const std::string kind = line.value("kind", "");
    if (kind == "train") add(train_loss, epoch, line, "loss", 1.0);
    if (kind == "eval") {
      add(test_loss, epoch, line, "test_loss", 1.0);
      add(top1, epoch, line, "top1", 100.0);
      add(ema_top1, epoch, line, "ema_top1", 100.0);
    }
  }
  Plot loss{title + ": loss", {"epoch"}, {"cross-entropy"}, {train_loss, test_loss}};
  Plot accuracy{title + ": test accuracy", {"epoch"}, {"top-1 (%)"}, {top1}};
  if (!ema_top1.x.empty()) accuracy.series.push_back(ema_top1);
  return render_svg({loss, accuracy});
}

}  // namespace soft::tools::train
