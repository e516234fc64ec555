#pragma once
// The kinds of `soft bench` (tools/bench_command.cpp parses the command line and calls them) and
// what they share: median timing, peak resident memory, the thread count, the result lines.
//
// Every measurement is printed as one result line, "result KIND key=value key=value ..." with no
// spaces inside a value (bench/torch_soft.py prints the same lines for PyTorch, so a script
// can pair them), followed by a table for people.
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "core/device.h"
#include "tools/args.h"

namespace soft::tools::bench {

struct RunOptions {
  int64_t steps = 3;   // timed repetitions; the median is reported
  int64_t warmup = 1;  // untimed repetitions before them
  int64_t threads = 1;
  Device device = Device::cpu();  // where train and attn run (--device)
  bool bf16 = false;              // --precision bf16: under AutocastBf16 (ops/autocast.h; CUDA only)
};

// soft bench train: training steps of a model on synthetic data (tools/bench/train_bench.cpp).
void train(const Args& args, const RunOptions& run, std::ostream& out);
// The --kind values of soft bench attn: soft, soft-pool, softmax, linformer, performer, nystrom.
const std::vector<std::string>& attention_kinds();
// soft bench attn: one block's forward + backward at one token count (tools/bench/attn_bench.cpp).
void attention(const Args& args, const RunOptions& run, std::ostream& out);
// soft bench attn --sweep: every token count in a child process, a table and an SVG plot
// (tools/bench/attn_sweep.cpp).
void attention_sweep(const Args& args, const RunOptions& run, std::ostream& out);
// soft bench gemm: the float32 GEMM kernel on square matrices (tools/bench/gemm_bench.cpp).
void gemm(const Args& args, const RunOptions& run, std::ostream& out);

// soft bench dwconv: each direction of soft_tiny's local depthwise convs alone
// (tools/bench/dwconv_bench.cpp).
void depthwise_conv(const Args& args, const RunOptions& run, std::ostream& out);

// soft bench data: images/s of a training config's input pipeline through its DataLoader with
// run.threads workers (tools/bench/data_bench.cpp).
void data(const Args& args, const RunOptions& run, std::ostream& out);

// Median wall-clock seconds of `steps` calls of `fn` after `warmup` untimed calls; each call ends
// when `device` has finished the work it queued.
double median_seconds(const std::function<void()>& fn, int64_t steps, int64_t warmup, Device device = Device::cpu());
// Peak resident set size of this process so far in MiB (VmHWM; getrusage where that is missing).
double peak_rss_mib();
// The peak memory of a measurement on `device`, as a result field: on the CPU the process's peak
// resident set (peak_rss_mib=), on a GPU the most its tensors held since the last
// reset_peak_memory (peak_device_mib=; what torch.cuda.max_memory_allocated counts).
struct PeakMemory {
  std::string key;  // peak_rss_mib or peak_device_mib
  double mib = 0;
};
PeakMemory peak_memory(Device device);
// fn's median time on run.device after run.warmup calls (on a GPU they also run cuDNN's algorithm
// search and fill the caches), and the peak memory of the timed calls (on a GPU: reset after the
// warm-up; on the CPU the process's peak so far).
struct Measurement {
  double seconds = 0;
  PeakMemory peak;
};
Measurement measure(const std::function<void()>& fn, const RunOptions& run);
// "1024,4096" -> {1024, 4096}; each in [min, max], else a UsageError naming the flag.
std::vector<int64_t> int_list(const Args& args, const std::string& name, int64_t min, int64_t max);
// v with `decimals` digits after the point ("12.50").
std::string fixed(double v, int decimals);

// A result line under construction: ResultLine("gemm").add("n", 1024).add("ms", fixed(t, 3)).str().
class ResultLine {
 public:
  explicit ResultLine(const std::string& kind) : text_("result " + kind) {}
  ResultLine& add(const std::string& key, const std::string& value);
  ResultLine& add(const std::string& key, int64_t value) { return add(key, std::to_string(value)); }
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

// The fields of a result line, with its KIND under "result"; empty when the line is not one.
std::map<std::string, std::string> parse_result_line(const std::string& line);

}  // namespace soft::tools::bench
