// soft bench train|attn|gemm|data [flags]: the benchmarks of the CPU and, with --device cuda, of the
// GPU (the measurements live in tools/bench/).
#include <algorithm>
#include <map>
#include <ostream>

#include "core/parallel.h"
#include "tools/bench/bench.h"
#include "tools/cli.h"
#include "tools/train/run_folder.h"

namespace soft::tools {
namespace {

// The flags each kind takes (besides --steps, --warmup and --threads, which all take).
const std::map<std::string, std::vector<std::string>>& kind_flags() {
  static const std::map<std::string, std::vector<std::string>> flags = {
      {"train", {"model", "img", "batch", "device", "precision"}},
      {"attn", {"tokens", "dim", "heads", "ratio", "kind", "landmarks", "linformer-k", "features", "sweep", "out",
                "exe", "softmax-cap-mib", "with", "cold-from", "device", "precision"}},
      {"gemm", {"sizes"}},
      {"dwconv", {"batch", "device", "precision"}},
      {"data", {"config", "set", "seconds"}},
  };
  return flags;
}

void check_flags_of(const std::string& kind, const Args& args) {
  auto it = kind_flags().find(kind);
  if (it == kind_flags().end())
    throw UsageError("bench: unknown benchmark '" + kind +
                     "': expected train, attn, gemm, dwconv or data; see 'soft bench --help'");
  for (const auto& [other, names] : kind_flags()) {
    if (other == kind) continue;
    for (const std::string& name : names)
      if (args.has(name) && std::find(it->second.begin(), it->second.end(), name) == it->second.end())
        throw UsageError("bench " + kind + ": flag '--" + name + "' belongs to 'bench " + other + "'");
  }
  auto require = [&](const std::string& name) {
    if (!args.has(name)) throw UsageError("bench " + kind + ": missing required flag '--" + name + "'");
  };
  if (kind == "train") require("model"), require("batch");
  if (kind == "data") require("config");
  if (kind == "attn" && !args.has("sweep")) require("tokens");
  if (kind == "attn" && args.has("kind")) {
    const auto& kinds = bench::attention_kinds();
    const std::string& k = args.get("kind");
    if (std::find(kinds.begin(), kinds.end(), k) == kinds.end() && !(k == "all" && args.has("sweep")))
      throw UsageError("bench attn: '--kind " + k + "': expected soft, soft-pool, softmax, linformer, performer or "
                       "nystrom" + (args.has("sweep") ? ", or all" : ""));
  }
  for (const char* name : {"out", "exe", "softmax-cap-mib", "with", "cold-from"})
    if (args.has(name) && !args.has("sweep")) throw UsageError(std::string("bench attn: --") + name + " needs --sweep");
  if (args.has("precision") && args.get("precision") != "fp32" && args.get("precision") != "bf16")
    throw UsageError("bench " + kind + ": '--precision " + args.get("precision") + "': expected fp32 or bf16");
}

// --device and --precision: bfloat16 autocast exists on the GPU only (ops/autocast.h).
void set_device_of(const std::string& kind, const Args& args, bench::RunOptions& run) {
  if (args.has("device")) {
    try {
      run.device = train::usable_device(args.get("device"));
    } catch (const Error& e) {
      throw UsageError("bench " + kind + ": --device: " + e.what());
    }
  }
  run.bf16 = args.has("precision") && args.get("precision") == "bf16";
  if (run.bf16 && run.device.is_cpu())
    throw UsageError("bench " + kind + ": --precision bf16 needs --device cuda (bfloat16 autocast is a GPU feature)");
}

// Sets the OpenMP thread count for the lifetime of the benchmark and restores it after.
class ThreadCount {
 public:
  explicit ThreadCount(int64_t n) : previous_(num_threads()) { set_num_threads(static_cast<int>(n)); }
  ~ThreadCount() { set_num_threads(previous_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int previous_;
};

}  // namespace

ArgParser bench_parser() {
  return ArgParser("bench", "Benchmarks: training steps of a model, one attention block (both on the CPU or a "
                   "GPU), the GEMM kernel, the input pipeline.",
                   "  soft bench train --model soft_tiny --img 224 --batch 8 --threads 2\n"
                   "  soft bench train --model soft_tiny --batch 128 --device cuda --precision bf16\n"
                   "  soft bench attn --tokens 65536 --dim 64 --heads 2 --ratio 8 [--kind softmax]\n"
                   "  soft bench attn --sweep --out DIR [--kind all]\n"
                   "  soft bench gemm --sizes 256,512,1024,2048\n"
                   "  soft bench dwconv --device cuda --batch 128   # SOFT_DEPTHWISE=cudnn: the same on cuDNN\n"
                   "  soft bench data --config configs/train/imagenet_soft_tiny.json --set data.path=DIR --threads 2")
      .positional("benchmark", "KIND", "train, attn, gemm, dwconv or data")
      .option("model", "NAME", "train: built-in model or JSON config path (required)")
      .option("img", "N", "train: image side in pixels (default: the config's img_size)")
      .option("batch", "B", "train: images per step (required); dwconv: images of soft_tiny's convs (default 128)")
      .option("tokens", "N|LIST", "attn: tokens, a square grid (required); with --sweep a list (default "
                                  "1024,4096,16384,65536)")
      .option("dim", "C", "attn: channels (default 64)")
      .option("heads", "H", "attn: heads (default 2)")
      .option("ratio", "R", "attn: landmark stride r, m = (sqrt(N) / r)^2 landmarks (default 8)")
      .option("kind", "K", "attn: soft, soft-pool, softmax, linformer, performer or nystrom (default soft); --sweep: "
                           "one kind, or all (default soft and softmax)")
      .option("landmarks", "M", "attn: landmarks of soft-pool (a square grid of floor(sqrt(M))^2) and nystrom "
                                "(default 64)")
      .option("linformer-k", "K", "attn: Linformer's projected rows (default 256, at most the tokens)")
      .option("features", "M", "attn: Performer's random features (default 256)")
      .flag("sweep", "attn: every --tokens in a child process; a table, and a plot with --out")
      .option("out", "DIR", "attn --sweep: write attn_sweep.txt and attn_sweep.svg there")
      .option("softmax-cap-mib", "M",
              "attn --sweep: run softmax while heads x N x N floats fit in M MiB (default 1024)")
      .option("with", "FILE", "attn --sweep: add the 'result attn' lines of FILE (e.g. PyTorch's) to table and plot")
      .option("cold-from", "N", "attn --sweep: time sizes from N tokens up without a warm-up pass (slow sizes)")
      .option("exe", "PATH", "attn --sweep: the soft binary the children run (default: this program)")
      .option("device", "D", "train, attn, dwconv: cpu (default) or cuda[:i]; on a GPU each repetition waits for "
                             "the device")
      .option("precision", "P", "train, attn, dwconv: fp32 (default) or bf16 (autocast, as torch.autocast; "
                                "--device cuda)")
      .option("sizes", "LIST", "gemm: matrix sides (default 256,512,1024,2048)")
      .option("config", "FILE", "data: a training config (required); its train split and transforms are measured")
      .repeated("set", "KEY=VALUE", "data: override a config key, as soft train --set")
      .option("seconds", "S", "data: how long to measure (default 10)")
      .option("steps", "S", "timed repetitions, the median is reported (default 3; gemm 5)")
      .option("warmup", "W", "untimed repetitions first (default 1)")
      .option("threads", "T", "OpenMP threads (default: all, or OMP_NUM_THREADS); data: loader worker threads")
      .epilog(
          "Each measurement is one line 'result KIND key=value ...' (bench/torch_soft.py prints the same for "
          "PyTorch), then a table. train: a fixed synthetic batch, forward, cross-entropy (label smoothing 0.1), "
          "backward, AdamW step; GFLOP/s = 3 x forward MACs (soft info) x 2 / step time. attn: forward + backward "
          "of one block on one image, SOFT = SoftEncoderLayer (SOFT attention with a 9x9 local conv, post-LN, "
          "feed-forward 4C), softmax = SoftmaxBlock (pre-LN softmax attention, MLP 4C). Peak memory on the CPU is "
          "the process's peak resident set (VmHWM), so run one measurement per process (as --sweep does) to compare "
          "sizes; on a GPU it is the most device memory the tensors held during the timed repetitions (what "
          "torch.cuda.max_memory_allocated counts). dwconv: soft_tiny's three local depthwise convs, forward and "
          "each gradient alone (on a GPU: soft.cpp's kernels, or cuDNN's with SOFT_DEPTHWISE=cudnn). data: batches "
          "of the config's train split through its DataLoader (decode, per-sample transform, batch transform, the "
          "normalised float32 batch) for --seconds after --warmup batches; images/s in all "
          "and per thread (bench/timm_data_bench.py measures timm's on Pillow).");
}

int bench_command(const Args& args, std::ostream& out) {
  const std::string& kind = args.get("benchmark");
  check_flags_of(kind, args);
  bench::RunOptions run;
  run.steps = args.has("steps") ? args.get_int("steps", 1, 100000) : (kind == "gemm" ? 5 : 3);
  run.warmup = args.has("warmup") ? args.get_int("warmup", 0, 100000) : 1;
  run.threads = args.has("threads") ? args.get_int("threads", 1, 1024) : num_threads();
  set_device_of(kind, args, run);
  ThreadCount threads(run.threads);
  if (kind == "train") bench::train(args, run, out);
  else if (kind == "attn" && args.has("sweep")) bench::attention_sweep(args, run, out);
  else if (kind == "attn") bench::attention(args, run, out);
  else if (kind == "data") bench::data(args, run, out);
  else if (kind == "dwconv") bench::depthwise_conv(args, run, out);
  else bench::gemm(args, run, out);
  return kExitOk;
}

}  // namespace soft::tools
