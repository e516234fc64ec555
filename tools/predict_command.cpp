// soft predict RUN_DIR --images FILE|DIR ... [--topk K] [--batch N] [--device D] [--format table|jsonl|csv]
// soft predict --model M --weights W [--labels FILE] --images ...
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <ostream>

#include "autograd/grad_mode.h"
#include "core/parallel.h"
#include "models/soft.h"
#include "nn/data/image_folder.h"
#include "nn/state.h"
#include "nn/torch_checkpoint.h"
#include "ops/ops.h"
#include "tools/cli.h"
#include "tools/train/class_names.h"
#include "tools/train/run_folder.h"

namespace soft::tools {
namespace {

namespace fs = std::filesystem;

// How images become the model's input: the run's evaluation transform.
struct Preprocess {
  int64_t size = 224;
  double crop_pct = 0.875;  // ImageNet-style; 1 for the small-image datasets (no border cut)
  data::Interpolation interpolation = data::Interpolation::Bicubic;  // the run's; SOFT's recipe's
  std::vector<double> mean, std;
  int64_t channels = 3;
};

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  SOFT_CHECK(in, path, ": cannot open the labels file");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::vector<std::string> image_files(const std::vector<std::string>& given) {
  std::vector<std::string> out;
  for (const std::string& g : given) {
    std::error_code ec;
    if (!fs::is_directory(g, ec)) {
      out.push_back(g);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(g, ec)) {
      std::string ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
      if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg" || ext == ".png")) found.push_back(e.path().string());
    }
    SOFT_CHECK(!found.empty(), g, ": no .jpg, .jpeg or .png files in this folder");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

// One image as the model's normalised input [C, size, size].
Tensor load_image(const std::string& path, const Preprocess& p) {
  Tensor rgb = data::eval_image(data::decode_image(path), p.size, p.crop_pct, p.interpolation);  // [3, s, s] in [0, 1]
  const int64_t s = p.size;
  Tensor out = Tensor::empty({p.channels, s, s}, DType::Float32);
  const float* in = rgb.data<float>();
  float* o = out.data<float>();
  for (int64_t i = 0; i < s * s; ++i) {
    if (p.channels == 1) {  // ITU-R 601 luma, as PIL's convert("L")
      o[i] = static_cast<float>(0.299 * in[i] + 0.587 * in[s * s + i] + 0.114 * in[2 * s * s + i]);
    } else {
      for (int64_t c = 0; c < 3; ++c) o[c * s * s + i] = in[c * s * s + i];
    }
  }
  for (int64_t c = 0; c < p.channels; ++c) {
    const double m = p.mean.empty() ? 0.0 : p.mean[static_cast<size_t>(c)];
    const double inv = p.std.empty() ? 1.0 : 1.0 / p.std[static_cast<size_t>(c)];
    for (int64_t i = 0; i < s * s; ++i) o[c * s * s + i] = static_cast<float>((o[c * s * s + i] - m) * inv);
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

ArgParser predict_parser() {
  return ArgParser("predict", "Classify image files (JPEG, PNG) with a run's model or with given weights.",
                   "Each image (grey, RGB, RGBA, palette, 16-bit) is decoded, converted to the model's channels and\n"
                   "given the evaluation transform: the shorter side resized to size / crop_pct, the centre cut out\n"
                   "(crop_pct 0.875 for ImageNet-style models, 1 for the small-image datasets), the run's mean/std.\n"
                   "A run folder gives the model, weights (best checkpoint), normalisation and class names.")
      .positional("run", "RUN_DIR", "a run folder of soft train", false)
      .option("model", "M", "built-in model or JSON config (with --weights, without RUN_DIR)")
      .option("weights", "W", ".pth or .safetensors weights (with --model)")
      .option("labels", "FILE", "class names, one a line (with --model; default: class numbers)")
      .option("num-classes", "K", "classifier size with --model, overriding the config's num_classes")
      .many("images", "FILE|DIR", "image files, or folders searched for .jpg/.jpeg/.png")
      .option("topk", "K", "classes shown per image (default 5)")
      .option("batch", "N", "images per forward pass (default 32)")
      .option("checkpoint", "best|latest", "which checkpoint of RUN_DIR (default best)")
      .flag("ema", "the EMA of the weights (a run's, or a .pth's model_ema)")
      .option("device", "DEVICE", "cpu, cuda or cuda:N (default: cpu)")
      .option("threads", "T", "CPU threads (default: OpenMP's, e.g. $OMP_NUM_THREADS)")
      .option("format", "F", "table (default on a terminal), jsonl (default otherwise) or csv")
      .epilog("jsonl: one line per file, {\"file\": ..., \"top\": [{\"class\": 3, \"label\": \"Dress\", \"prob\": 0.93}, "
              "...]}; a file that cannot be read gets {\"file\": ..., \"error\": ...} (and a line in the table or "
              "csv), the others are still predicted, and the exit status is 1.");
}

int predict_command(const Args& args, std::ostream& out) {
  const bool from_run = args.has("run");
  if (from_run == (args.has("model") || args.has("weights")))
    throw UsageError("predict: give either RUN_DIR or --model M --weights W; see 'soft predict --help'");
  if (!from_run && !(args.has("model") && args.has("weights")))
    throw UsageError("predict: --model and --weights go together");
  if (!args.has("images")) throw UsageError("predict: missing --images FILE|DIR ...");
  if (from_run && (args.has("labels") || args.has("num-classes")))
    throw UsageError("predict: --labels and --num-classes apply to --model (a run keeps its own)");
  std::string format = args.has("format") ? args.get("format")
                                          : (&out == &std::cout && ::isatty(STDOUT_FILENO) ? "table" : "jsonl");
  if (format != "table" && format != "jsonl" && format != "csv")
    throw UsageError("predict: --format must be table, jsonl or csv, not '" + format + "'");
  const int64_t topk_wanted = args.has("topk") ? args.get_int("topk", 1, 1 << 20) : 5;
  const int64_t batch = args.has("batch") ? args.get_int("batch", 1, 1 << 16) : 32;
  if (args.has("threads")) set_num_threads(static_cast<int>(args.get_int("threads", 1, 4096)));
  const Device device = train::usable_device(args.has("device") ? args.get("device") : "cpu");

  models::SoftConfig config;
  NamedTensors weights;
  std::string what;
  std::vector<std::string> labels;
  Preprocess pre;
  if (from_run) {
    train::RunFolder run{args.get("run")};
    const train::TrainConfig tc = train::read_run_config(run);
    config = models::load_config(run.model_config());
    weights = train::checkpoint_weights(run.checkpoint(args.has("checkpoint") ? args.get("checkpoint") : "best"),
                                        args.has("ema"), what);
    labels = train::run_class_names(run, tc, config.num_classes);
    pre.size = tc.data.kind == "folder" ? tc.data.image_size : config.img_size;
    pre.crop_pct = tc.data.kind == "folder" ? 0.875 : 1.0;
    pre.interpolation = data::parse_interpolation(tc.augmentation.interpolation);
    pre.mean = tc.data.mean;
    pre.std = tc.data.std;
  } else {
    if (args.has("checkpoint")) throw UsageError("predict: --checkpoint applies to RUN_DIR");
    config = models::resolve_config(args.get("model"));
    if (args.has("num-classes")) config.num_classes = args.get_int("num-classes", 1, int64_t(1) << 24);
    what = args.get("weights");
    Safetensors file = nn::load_weights(what, args.has("ema"));
    SOFT_CHECK(!args.has("ema") || file.metadata.count("format"), what,
               ": --ema applies to .pth training checkpoints and run folders");
    SOFT_CHECK(!file.metadata.count("trainer"), what, ": a soft train checkpoint; use 'soft predict RUN_DIR'");
    weights = file.tensors;
    if (args.has("labels")) {
      labels = lines_of(args.get("labels"));
      SOFT_CHECK(static_cast<int64_t>(labels.size()) == config.num_classes, args.get("labels"), ": ", labels.size(),
                 " labels for ", config.num_classes, " classes");
    }
    pre.size = config.img_size;
    if (config.in_chans == 3) {  // ImageNet's statistics, as the official models were trained
      pre.mean = {0.485, 0.456, 0.406};
      pre.std = {0.229, 0.224, 0.225};
    }
  }
  pre.channels = config.in_chans;
  SOFT_CHECK(pre.channels == 1 || pre.channels == 3, config.name, ": predict takes 1- or 3-channel models, not ",
             pre.channels);
  SOFT_CHECK(pre.mean.empty() || static_cast<int64_t>(pre.mean.size()) == pre.channels, what, ": mean/std for ",
             pre.mean.size(), " channels, the model takes ", pre.channels);
  models::SoftModel model(config);
  nn::load_state(model, Safetensors{what, weights, {}}, what);
  model.eval();
  model.to(device);
  NoGradGuard no_grad;

  const std::vector<std::string> files = image_files(args.get_all("images"));
  const int64_t k = std::min<int64_t>(topk_wanted, config.num_classes);
  if (format == "csv") out << "file,rank,class,label,prob\n";
  bool failed = false;
  auto report_error = [&](const std::string& file, const std::string& message) {
    failed = true;
    if (format == "jsonl") out << nlohmann::json{{"file", file}, {"error", message}}.dump() << "\n";
    else if (format == "csv") out << csv_field(file) << ",,,," << csv_field("error: " + message) << "\n";
    else out << file << ": error: " << message << "\n";
  };
  for (size_t first = 0; first < files.size(); first += static_cast<size_t>(batch)) {
    std::vector<std::string> names;
    std::vector<Tensor> images;
    for (size_t i = first; i < std::min(files.size(), first + static_cast<size_t>(batch)); ++i) {
      try {
        images.push_back(load_image(files[i], pre));
        names.push_back(files[i]);
      } catch (const Error& e) {
        report_error(files[i], e.what());
      }
    }
    if (images.empty()) continue;
    Tensor probs = to_device(softmax(model.forward(to_device(stack(images, 0), device)), 1), Device::cpu());
    const std::vector<double> p = probs.to_vector();  // [n, classes]
    for (size_t n = 0; n < names.size(); ++n) {
      std::vector<int64_t> order(static_cast<size_t>(config.num_classes));
      for (int64_t c = 0; c < config.num_classes; ++c) order[static_cast<size_t>(c)] = c;
      const double* row = &p[n * static_cast<size_t>(config.num_classes)];
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return row[a] > row[b]; });
      auto label = [&](int64_t c) { return labels.empty() ? std::to_string(c) : labels[static_cast<size_t>(c)]; };
      if (format == "jsonl") {
        nlohmann::json top = nlohmann::json::array();
        for (int64_t r = 0; r < k; ++r)
          top.push_back({{"class", order[r]}, {"label", label(order[r])}, {"prob", row[order[r]]}});
        out << nlohmann::json{{"file", names[n]}, {"top", top}}.dump() << "\n";
      } else if (format == "csv") {
        for (int64_t r = 0; r < k; ++r)
          out << csv_field(names[n]) << "," << r + 1 << "," << order[r] << "," << csv_field(label(order[r])) << ","
              << row[order[r]] << "\n";
      } else {
        out << names[n] << ":";
        for (int64_t r = 0; r < k; ++r) {
          char pct[16];
          std::snprintf(pct, sizeof pct, "%.1f%%", 100.0 * row[order[r]]);
          out << (r ? ", " : "  ") << label(order[r]) << " " << pct;
        }
        out << "\n";
      }
    }
  }
  return failed ? kExitError : kExitOk;
}

}  // namespace soft::tools
