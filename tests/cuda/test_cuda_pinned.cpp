// Pinned host memory (cuda/host_allocator.h) and non_blocking host-to-device copies: a pinned tensor
// is a CPU tensor; its copy to the device is only queued; a pinned block freed while a queued copy
// may still read it is not handed out again before the copy finished; the loader assembles pinned
// batches; and the trainer's steps are those of a run without pinned memory.
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "cuda/check.h"
#include "cuda/context.h"
#include "cuda/host_allocator.h"
#include "nn/data/loader.h"
#include "nn/optim/mixup.h"
#include "tests/cuda/cuda_test.h"
#include "tests/op_check.h"
#include "tests/train_test_util.h"

using namespace soft;
using namespace soft::test;

namespace {

// Holds up a device's stream: every later copy and kernel on it waits until open() (or 10 s, so
// that a mistake makes the test slow rather than hung).
class StreamGate {
 public:
  explicit StreamGate(int device) : device_(device) {
    SOFT_CUDA_CHECK(cudaLaunchHostFunc(cuda::stream(device), wait, this));
  }
  ~StreamGate() {  // the stream must be done with this object
    open();
    cudaStreamSynchronize(cuda::stream(device_));
  }
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  static void wait(void* self) {
    auto* gate = static_cast<StreamGate*>(self);
    std::unique_lock<std::mutex> lock(gate->mutex_);
    gate->cv_.wait_for(lock, std::chrono::seconds(10), [&] { return gate->open_; });
  }
  int device_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

Tensor pinned_iota(int64_t n, double start) {  // [n] float32 start, start + 1, ...
  Tensor t = Tensor::empty({n}, DType::Float32, Device::cpu(), /*pinned=*/true);
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(start + static_cast<double>(i % 4096));
  return t;
}

}  // namespace

TEST_CASE("cuda: a pinned tensor is a CPU tensor in page-locked memory") {
  SOFT_SKIP_WITHOUT_GPU();
  REQUIRE(pinned_memory_available());
  Tensor x = rand_input({3, 5}, -1, 1, DType::Float32, false);
  Tensor p = x.pin_memory();
  CHECK(p.is_pinned());
  CHECK(p.device().is_cpu());
  CHECK(cuda::is_pinned_host(p.raw_data(), 15 * sizeof(float)));
  CHECK_FALSE(cuda::is_pinned_host(x.raw_data(), 15 * sizeof(float)));
  CHECK(p.to_vector() == x.to_vector());
  CHECK((p * p).to_vector() == (x * x).to_vector());  // CPU ops read it as any CPU tensor
  CHECK(p.to(Device::cuda(0), /*non_blocking=*/true).to(Device::cpu()).to_vector() == x.to_vector());
}

TEST_CASE("cuda: a pinned block freed while its copy is queued is not reused before the copy finished") {
  SOFT_SKIP_WITHOUT_GPU();
  const int64_t n = 1 << 20;  // 4 MiB
  Tensor warm = Tensor::empty({n}, DType::Float32, Device::cuda(0));  // the device block, cached before the gate
  warm = Tensor();
  cuda::synchronize(0);
  cuda::empty_pinned_cache();
  const size_t pending_before = cuda::pinned_memory_stats().pending;
  Tensor host = pinned_iota(n, 1);
  const void* first = host.raw_data();
  StreamGate gate(0);
  Tensor device = host.to(Device::cuda(0), /*non_blocking=*/true);  // queued behind the gate
  host = Tensor();
  CHECK(cuda::pinned_memory_stats().pending >= pending_before + n * sizeof(float));
  Tensor next = pinned_iota(n, -5000);  // the loader's next batch, written while the copy waits
  CHECK(next.raw_data() != first);
  gate.open();
  cuda::synchronize(0);
  CHECK(device.to(Device::cpu()).to_vector() == pinned_iota(n, 1).to_vector());
  CHECK(cuda::pinned_memory_stats().pending == pending_before);
  next = Tensor();
  Tensor again = Tensor::empty({n}, DType::Float32, Device::cpu(), /*pinned=*/true);  // a cached block now
  CHECK(cuda::pinned_memory_stats().cached >= n * sizeof(float));
}

TEST_CASE("cuda: non_blocking copies of many pinned batches in a row, each freed at once, arrive intact") {
  SOFT_SKIP_WITHOUT_GPU();
  // The stream is held up while the batches are made, copied and freed, as the loader and the
  // trainer do: every copy is still queued when its block is freed and the next batch written, so
  // a block reused before its copy ran would show in the results.
  const int64_t n = 256 * 1024;  // 1 MiB
  const size_t batches = 32;
  std::vector<Tensor> arrived;
  {  // the device blocks, cached before the gate (no cudaMalloc while the stream is held)
    std::vector<Tensor> warm;
    for (size_t b = 0; b < batches; ++b) warm.push_back(Tensor::empty({n}, DType::Float32, Device::cuda(0)));
  }
  {
    StreamGate gate(0);
    for (size_t b = 0; b < batches; ++b) {
      Tensor host = pinned_iota(n, static_cast<double>(b) * 10000);
      arrived.push_back(host.to(Device::cuda(0), /*non_blocking=*/true));
    }  // each host batch is freed here, its copy still queued
    CHECK(cuda::pinned_memory_stats().pending >= batches * n * sizeof(float));
    gate.open();
  }
  for (size_t b = 0; b < batches; ++b) {
    INFO("batch " << b);
    CHECK(arrived[b].to(Device::cpu()).to_vector() == pinned_iota(n, static_cast<double>(b) * 10000).to_vector());
  }
  // Now that the copies ran, the blocks are reused rather than allocated again.
  const cuda::PinnedMemoryStats before = cuda::pinned_memory_stats();
  Tensor reused = pinned_iota(n, 0);
  CHECK(cuda::pinned_memory_stats().cached == before.cached - n * sizeof(float));
}

TEST_CASE("cuda: the loader with pin_memory delivers pinned batches equal to unpinned ones") {
  SOFT_SKIP_WITHOUT_GPU();
  data::Dataset ds;
  ds.images = rand_input({40, 3, 4, 4}, -1, 1, DType::Float32, false);
  ds.labels = Tensor::empty({40}, DType::Int64);
  for (int64_t i = 0; i < 40; ++i) ds.labels.data<int64_t>()[i] = i % 7;
  ds.num_classes = 7;
  data::LoaderOptions plain{.batch_size = 8, .shuffle = true, .seed = 3, .workers = 2};
  data::LoaderOptions pinned = plain;
  pinned.pin_memory = true;
  data::DataLoader a(ds, plain), b(ds, pinned);
  a.start_epoch(0);
  b.start_epoch(0);
  int64_t batches = 0;
  while (auto x = a.next()) {
    auto y = b.next();
    REQUIRE(y);
    CHECK_FALSE(x->images.is_pinned());
    CHECK(y->images.is_pinned());
    CHECK(y->labels.is_pinned());
    Tensor on_device = y->images.to(Device::cuda(0), /*non_blocking=*/true);
    Tensor labels = y->labels.to(Device::cuda(0), /*non_blocking=*/true);
    y.reset();  // the pinned batch is freed at once, as the trainer does
    CHECK(on_device.to(Device::cpu()).to_vector() == x->images.to_vector());
    CHECK(labels.to(Device::cpu()).to_vector() == x->labels.to_vector());
    // Mixup keeps a pinned batch pinned, so the trainer's copy stays asynchronous.
    Tensor again = x->images.pin_memory();
    nn::optim::MixupResult m = nn::optim::mixup_cutmix(again, x->labels, {.num_classes = 7}, default_generator());
    CHECK(m.x.is_pinned());
    CHECK(m.target.is_pinned());
    ++batches;
  }
  CHECK(batches == 5);
}

TEST_CASE("cuda: training on the GPU from pinned batches gives the steps of a run without them") {
  SOFT_SKIP_WITHOUT_GPU();
  TempDir dir;
  // Mixup and random erasing on, so the mixed (pinned) targets travel too.
  Json changes = {{"device", "cuda"}, {"epochs", 1}, {"augmentation", {{"mixup", 0.8}, {"random_erase", 0.25}}}};
  auto run = [&](bool pin) {
    Json c = changes;
    c["data"]["pin_memory"] = pin;
    const std::string name = pin ? "pinned" : "plain";
    std::string config = tiny_train_config(dir, c, name + ".json");
    CliResult r = soft_cli({"train", "--config", config, "--run-dir", dir.file(name)});
    INFO(r.out << r.err);
    REQUIRE(r.code == 0);
    return metrics_without_timing(dir.file(name));
  };
  std::vector<Json> plain = run(false), pinned = run(true);
  REQUIRE(plain.size() == pinned.size());
  REQUIRE(plain.size() >= 4);
  for (size_t i = 0; i < plain.size(); ++i) {
    INFO("metrics line " << i << ": " << plain[i].dump() << " vs " << pinned[i].dump());
    CHECK(plain[i]["kind"] == pinned[i]["kind"]);
    CHECK(plain[i]["step"] == pinned[i]["step"]);
    // The same batches and kernels: equal up to the order of the GPU's atomic sums.
    if (plain[i].contains("loss"))
      CHECK(pinned[i]["loss"].get<double>() == doctest::Approx(plain[i]["loss"].get<double>()).epsilon(1e-4));
  }
}
