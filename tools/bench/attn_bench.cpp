// soft bench attn: forward + backward of one transformer block on one image of N tokens.
//   soft:      the stage 1-3 block, SoftEncoderLayer (models/soft.h): SOFT attention (landmark
//              stride r, 9x9 local conv, 20 Newton iterations), post-LN, feed-forward 4C;
//   soft-pool: the same with landmarks pooled to a fixed m (--landmarks, default 64);
//   linformer, performer, nystrom: the same block with that attention (docs/ATTENTION_ZOO.md;
//              --linformer-k 256, --features 256, --landmarks 64, the papers' defaults);
//   softmax:   the stage-4 block, SoftmaxBlock: pre-LN softmax attention, MLP 4C.
// The loss is sum(out * probe) with a fixed random probe, so every gradient is non-trivial. On a GPU
// (--device cuda) the peak is the device memory its tensors held during the timed passes.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <ostream>

#include "models/soft.h"
#include "nn/linformer_attention.h"
#include "nn/nystrom_attention.h"
#include "nn/performer_attention.h"
#include "ops/autocast.h"
#include "tools/bench/bench.h"

namespace soft::tools::bench {

const std::vector<std::string>& attention_kinds() {
  static const std::vector<std::string> kinds = {"soft", "soft-pool", "softmax", "linformer", "performer", "nystrom"};
  return kinds;
}

void attention(const Args& args, const RunOptions& run, std::ostream& out) {
  const int64_t tokens = args.get_int("tokens", 1, int64_t{1} << 24);
  const int64_t dim = args.has("dim") ? args.get_int("dim", 1, 4096) : 64;
  const int64_t heads = args.has("heads") ? args.get_int("heads", 1, dim) : 2;
  const int64_t ratio = args.has("ratio") ? args.get_int("ratio", 2, 1024) : 8;
  const std::string kind = args.has("kind") ? args.get("kind") : "soft";
  const std::vector<std::string>& kinds = attention_kinds();
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
    throw UsageError("bench attn: '--kind " + kind + "': expected soft, soft-pool, softmax, linformer, performer or "
                     "nystrom");
  const int64_t landmarks = args.has("landmarks") ? args.get_int("landmarks", 1, 65536) : 64;
  const int64_t linformer_k = args.has("linformer-k") ? args.get_int("linformer-k", 1, 65536) : 256;
  const int64_t features = args.has("features") ? args.get_int("features", 1, 65536) : 256;
  if (dim % heads != 0)
    throw UsageError("bench attn: --dim " + std::to_string(dim) + " is not divisible by --heads " +
                     std::to_string(heads));
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(tokens))));
  if (side * side != tokens)
    throw UsageError("bench attn: --tokens " + std::to_string(tokens) + " is not a square grid (1024 = 32 x 32, ...)");
  if (kind == "soft" && side < ratio)
    throw UsageError("bench attn: a " + std::to_string(side) + "x" + std::to_string(side) +
                     " grid is smaller than the landmark window --ratio " + std::to_string(ratio));

  constexpr int64_t kLocalKernel = 9;  // stage 1's
  std::shared_ptr<nn::Module> block;
  std::function<Tensor(const Tensor&)> forward;
  if (kind != "softmax") {
    std::shared_ptr<nn::TokenAttention> attention;
    nn::SoftAttentionOptions soft_options{dim, heads, ratio, kLocalKernel};
    if (kind == "soft") attention = std::make_shared<nn::SoftAttention>(soft_options);
    if (kind == "soft-pool") {
      soft_options.landmarks = nn::LandmarkKind::Pool;
      soft_options.num_landmarks = landmarks;
      attention = std::make_shared<nn::SoftAttention>(soft_options);
    }
    if (kind == "linformer")
      attention = std::make_shared<nn::LinformerAttention>(dim, heads, tokens, std::min(linformer_k, tokens));
    if (kind == "performer") attention = std::make_shared<nn::PerformerAttention>(dim, heads, features, 0, 1000);
    if (kind == "nystrom") attention = std::make_shared<nn::NystromAttention>(dim, heads, landmarks, 6, 33);
    auto layer = std::make_shared<models::SoftEncoderLayer>(attention, dim, 0.0);
    forward = [layer, side](const Tensor& x) { return layer->forward(x, side, side); };
    block = layer;
  } else {
    auto layer = std::make_shared<models::SoftmaxBlock>(dim, heads, 4, 0.0, 0.0);
    forward = [layer](const Tensor& x) { return layer->forward(x); };
    block = layer;
  }
  block->to(run.device);
  Generator gen(0);
  Tensor x = to_device(uniform({1, tokens, dim}, -1.0, 1.0, gen), run.device).requires_grad_();  // [1, N, C]
  Tensor probe = to_device(uniform({1, tokens, dim}, -1.0, 1.0, gen), run.device);               // [1, N, C]

  auto pass = [&] {
    block->zero_grad();
    x.set_grad(Tensor());
    AutocastBf16 autocast(run.bf16);
    sum(forward(x) * probe).backward();
  };
  const Measurement measured = measure(pass, run);
  const double seconds = measured.seconds;
  const PeakMemory& peak = measured.peak;
  const int64_t pool_side = nn::landmark_pool_side(landmarks);
  const int64_t m = kind == "soft"        ? (side / ratio) * (side / ratio)
                    : kind == "soft-pool" ? std::min(side, pool_side) * std::min(side, pool_side)
                    : kind == "nystrom"   ? std::min(landmarks, tokens)
                                          : 0;
  ResultLine line("attn");
  line.add("impl", "soft").add("attention", kind).add("module", "block").add("tokens", tokens).add("dim", dim);
  line.add("heads", heads);
  if (kind == "soft") line.add("ratio", ratio);
  if (m) line.add("landmarks", m);
  if (kind == "linformer") line.add("k", std::min(linformer_k, tokens));
  if (kind == "performer") line.add("features", features);
  line.add("device", run.device.str()).add("precision", run.bf16 ? "bf16" : "fp32");
  line.add("threads", run.threads).add("steps", run.steps).add("warmup", run.warmup);
  line.add("fwd_bwd_ms", fixed(seconds * 1e3, 3));
  line.add(peak.key, fixed(peak.mib, 1));
  out << line.str() << "\n\n";
  out << (kind == "softmax" ? "softmax block (SoftmaxBlock)" : kind + " block (SoftEncoderLayer)") << ", " << tokens
      << " tokens (" << side << "x" << side << "), dim " << dim << ", " << heads << " heads";
  if (kind == "soft") out << ", ratio " << ratio;
  if (m) out << " (" << m << " landmarks)";
  out << ", " << (run.device.is_cpu() ? std::to_string(run.threads) + " threads" : run.device.str())
      << ": median of " << run.steps << " after " << run.warmup << " warm-up\n"
      << std::left << "  " << std::setw(18) << "forward+backward" << fixed(seconds * 1e3, 3) << " ms\n"
      << "  " << std::setw(18) << (run.device.is_cpu() ? "peak RSS" : "peak memory") << fixed(peak.mib, 1)
      << " MiB\n";
}

}  // namespace soft::tools::bench
