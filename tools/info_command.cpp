// soft info --model NAME [--img N | --img HxW] [--json]
#include <cstdio>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "models/info.h"
#include "tools/cli.h"

namespace soft::tools {
namespace {

using nlohmann::ordered_json;

constexpr int64_t kMaxImageSide = 65536;  // keeps every MAC count far inside int64

// "N" (square) or "HxW".
std::pair<int64_t, int64_t> parse_image_size(const std::string& text) {
  size_t x = text.find('x');
  int64_t h = 0, w = 0;
  bool ok = x == std::string::npos ? parse_int(text, h)
                                   : parse_int(text.substr(0, x), h) && parse_int(text.substr(x + 1), w);
  if (x == std::string::npos) w = h;
  if (!ok || h < 1 || w < 1 || h > kMaxImageSide || w > kMaxImageSide)
    throw UsageError("info: '--img " + text + "': expected N or HxW with sides from 1 to " +
                     std::to_string(kMaxImageSide));
  return {h, w};
}

std::string with_commas(int64_t v) {
  std::string digits = std::to_string(v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') out += ',';
    out += digits[i];
  }
  return out;
}

// 13069056 -> "13.07 M", 2154000000 -> "2.15 G"
std::string short_number(int64_t v) {
  const char* units[] = {"", " K", " M", " G", " T"};
  double x = static_cast<double>(v);
  int u = 0;
  while (x >= 1000 && u < 4) x /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.2f%s", x, units[u]);
  return buf;
}

ordered_json macs_json(const models::MacCount& m) {
  return ordered_json{{"total", m.total()},
                      {"embed_convs", m.embed_convs},
                      {"linears", m.linears},
                      {"landmark_convs", m.landmark_convs},
                      {"local_convs", m.local_convs},
                      {"gaussian_kernels", m.gaussian_kernels},
                      {"newton", m.newton},
                      {"soft_products", m.soft_products},
                      {"softmax_products", m.softmax_products},
                      {"zoo_products", m.zoo_products}};
}

ordered_json info_json(const models::ModelInfo& info, const models::SoftConfig& c) {
  ordered_json stages = ordered_json::array();
  for (const auto& st : info.stages) {
    ordered_json s{{"stage", st.stage},
                   {"grid", {st.grid_h, st.grid_w}},
                   {"tokens", st.tokens},
                   {"cls_token", st.cls_token},
                   {"landmarks", st.landmarks},
                   {"attention", st.attention},
                   {"attention_detail", st.attention_detail},
                   {"dim", st.dim},
                   {"heads", st.heads},
                   {"head_dim", st.head_dim},
                   {"depth", st.depth},
                   {"mlp_hidden", st.mlp_hidden}};
    if (st.landmark_stride) s["landmark_stride"] = st.landmark_stride;
    if (st.local_kernel) s["local_kernel"] = st.local_kernel;
    s["parameters"] = st.parameters;
    s["macs"] = macs_json(st.macs);
    stages.push_back(s);
  }
  return ordered_json{
      {"model", info.name},
      {"image", {info.img_h, info.img_w}},
      {"in_chans", info.in_chans},
      {"num_classes", info.num_classes},
      {"newton", {{"form", c.newton_form == NewtonForm::Journal ? "journal" : "neurips"},
                  {"iterations", c.newton_iterations}}},
      {"soft_norm", c.soft_norm},
      {"parameters", info.parameters},
      {"macs", macs_json(info.macs)},
      {"stages", stages},
      {"head", {{"parameters", info.head_parameters}, {"macs", macs_json(info.head_macs)}}},
      {"mac_convention", models::kMacConvention},
  };
}

void print_text(const models::ModelInfo& info, const models::SoftConfig& c, std::ostream& out) {
  out << info.name << ": " << info.in_chans << " x " << info.img_h << " x " << info.img_w << " input, "
      << info.num_classes << " classes, Newton " << (c.newton_form == NewtonForm::Journal ? "journal" : "NeurIPS")
      << " form x " << c.newton_iterations << (c.soft_norm ? ", SOFT-Norm" : "") << "\n";
  out << "parameters  " << with_commas(info.parameters) << " (" << short_number(info.parameters) << ")\n";
  out << "MACs        " << with_commas(info.macs.total()) << " (" << short_number(info.macs.total())
      << ") per " << info.img_h << "x" << info.img_w << " image, one forward pass\n\n";

  out << std::left << std::setw(7) << "stage" << std::setw(9) << "grid" << std::setw(8) << "tokens"
      << std::setw(11) << "landmarks" << std::setw(28) << "attention" << std::setw(6) << "dim" << std::setw(11)
      << "heads x d" << std::setw(7) << "depth" << std::setw(13) << "parameters"
      << "MACs\n";
  for (const auto& st : info.stages) {
    std::string attention = st.stage == 4 ? "softmax" : st.attention + " " + st.attention_detail;
    std::string tokens = std::to_string(st.tokens) + (st.cls_token ? "+1" : "");
    out << std::setw(7) << st.stage << std::setw(9) << std::to_string(st.grid_h) + "x" + std::to_string(st.grid_w)
        << std::setw(8) << tokens << std::setw(11) << (st.landmarks ? std::to_string(st.landmarks) : "-")
        << std::setw(28) << attention << std::setw(6) << st.dim << std::setw(11)
        << std::to_string(st.heads) + " x " + std::to_string(st.head_dim) << std::setw(7) << st.depth << std::setw(13)
        << with_commas(st.parameters) << with_commas(st.macs.total()) << "\n";
  }
  out << std::setw(87) << "head (norm + classifier)" << std::setw(13) << with_commas(info.head_parameters)
      << with_commas(info.head_macs.total()) << "\n\n";

  const models::MacCount& m = info.macs;
  const std::pair<const char*, int64_t> kinds[] = {
      {"stem and patch-embedding convs", m.embed_convs},
      {"linear layers", m.linears},
      {"SOFT landmark convs (or pooling)", m.landmark_convs},
      {"local depthwise convs (SOFT, Nystromformer)", m.local_convs},
      {"SOFT Gaussian kernels (K1, K2)", m.gaussian_kernels},
      {"SOFT Newton iterations", m.newton},
      {"SOFT products (K1 K2inv, K1^T V, ...)", m.soft_products},
      {"stage-4 softmax attention (QK^T, AV)", m.softmax_products},
      {"other stage 1-3 attentions (zoo)", m.zoo_products}};
  out << "MACs by kind:\n";
  for (const auto& [what, v] : kinds) {
    char pct[16];
    double share = m.total() ? 100.0 * static_cast<double>(v) / static_cast<double>(m.total()) : 0.0;
    std::snprintf(pct, sizeof pct, "%5.1f%%", share);
    out << "  " << std::setw(40) << what << std::right << std::setw(16) << with_commas(v) << "  " << pct << std::left
        << "\n";
  }
  out << "\n" << wrap(std::string("How MACs are counted: ") + models::kMacConvention, 100);
}

}  // namespace

ArgParser info_parser() {
  return ArgParser("info", "Describe a SOFT model: per stage the token grid, tokens, landmarks, attention, widths and "
                           "depth; the parameter count; the multiply-accumulates of one forward pass.",
                   "Nothing is built or allocated: everything is computed from the model config. The parameter count\n"
                   "equals the built model's (BatchNorm running statistics are buffers, not counted).")
      .option("model", "NAME", "built-in model (soft_tiny ... soft_huge, soft_fmnist, soft_cifar) or JSON config path",
              true)
      .option("num-classes", "K", "classifier size, overriding the config's num_classes")
      .option("img", "N|HxW", "input image size in pixels (default: the config's img_size, square)")
      .flag("json", "print one JSON object instead of text")
      .epilog(std::string("MACs: ") + models::kMacConvention +
              "\n\nAn image size too small for the landmark strides (a stage 1-3 token grid smaller than r x r) is a "
              "usage error (exit 2).");
}

int info_command(const Args& args, std::ostream& out) {
  models::SoftConfig config = models::resolve_config(args.get("model"));
  if (args.has("num-classes")) config.num_classes = args.get_int("num-classes", 1, int64_t(1) << 24);
  // Without --img the config's own img_size is used; if that does not fit, the config is at fault
  // (describe_model's soft::Error, exit 1), not the command line.
  auto [h, w] = args.has("img") ? parse_image_size(args.get("img")) : std::pair{config.img_size, config.img_size};
  if (args.has("img")) {
    try {
      models::check_image_size(config, h, w);
    } catch (const Error& e) {
      throw UsageError(std::string("info: --img: ") + e.what());
    }
  }
  models::ModelInfo info = models::describe_model(config, h, w);
  if (args.has("json")) out << info_json(info, config).dump(2) << "\n";
  else print_text(info, config, out);
  return kExitOk;
}

}  // namespace soft::tools
