// soft bench gemm: the float32 GEMM kernel (ops/gemm.h), C = A B on square n x n row-major
// matrices, 2 n^3 flops per call.
#include <iomanip>
#include <ostream>

#include "ops/gemm.h"
#include "ops/ops.h"
#include "tools/bench/bench.h"

namespace soft::tools::bench {

void gemm(const Args& args, const RunOptions& run, std::ostream& out) {
  const std::vector<int64_t> sizes =
      args.has("sizes") ? int_list(args, "sizes", 1, 16384) : std::vector<int64_t>{256, 512, 1024, 2048};
  struct Row {
    int64_t n;
    double seconds, gflop_per_s;
  };
  std::vector<Row> rows;
  Generator gen(0);
  for (int64_t n : sizes) {
    Tensor a = uniform({n, n}, -1.0, 1.0, gen), b = uniform({n, n}, -1.0, 1.0, gen);
    Tensor c = zeros({n, n});
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* pc = c.data<float>();
    double seconds = median_seconds(
        [&] { soft::gemm<float>(n, n, n, 1.0f, {pa, n, 1}, {pb, n, 1}, 0.0f, {pc, n, 1}); }, run.steps, run.warmup);
    double gflop_per_s = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / seconds / 1e9;
    rows.push_back({n, seconds, gflop_per_s});
    out << ResultLine("gemm")
               .add("impl", "soft")
               .add("n", n)
               .add("threads", run.threads)
               .add("steps", run.steps)
               .add("warmup", run.warmup)
               .add("ms", fixed(seconds * 1e3, 3))
               .add("gflop_per_s", fixed(gflop_per_s, 2))
               .str()
        << "\n";
  }
  out << "\nfloat32 GEMM C = A B (n x n), " << run.threads << " threads, median of " << run.steps << " after "
      << run.warmup << " warm-up\n"
      << std::right << std::setw(8) << "n" << std::setw(14) << "ms" << std::setw(12) << "GFLOP/s" << "\n";
  for (const Row& r : rows)
    out << std::setw(8) << r.n << std::setw(14) << fixed(r.seconds * 1e3, 3) << std::setw(12) << fixed(r.gflop_per_s, 2)
        << "\n";
}

}  // namespace soft::tools::bench
