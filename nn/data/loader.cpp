#include "nn/data/loader.h"

#include <cstring>
#include <numeric>
#include <utility>

#include "core/splitmix.h"
#include "nn/data/repeated_order.h"
#include "ops/ops.h"

namespace soft::data {

namespace {

// splitmix64 mixes each input in, so distinct (seed, epoch, position) give unrelated seeds.
uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  return splitmix64(seed ^ splitmix64(static_cast<uint64_t>(epoch)));
}

// The streams of the sample at `position` of the epoch's order: distinct from epoch_seed (the extra
// constants) so that the order, the loading and the transform never share draws.
uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t position) {
  return splitmix64(epoch_seed(seed, epoch) ^ splitmix64(static_cast<uint64_t>(position) ^ 0x5bd1e9955bd1e995ull));
}
uint64_t transform_seed(uint64_t seed, int64_t epoch, int64_t position) {
  return splitmix64(sample_seed(seed, epoch, position) ^ 0x2545f4914f6cdd1dull);
}

// DeiT gives position p of a repeated order to rank p mod world. Here a rank takes a contiguous
// share of each global batch, so the order is rearranged to give each rank DeiT's samples: the
// k-th sample of rank r (batch k / per, slot k % per) is DeiT's position r + k * world. Full
// batches only; a short last batch keeps its order.
std::vector<int64_t> spread_over_ranks(const std::vector<int64_t>& order, int64_t batch, int64_t world) {
  const int64_t per = batch / world, full = static_cast<int64_t>(order.size()) / batch * batch;
  std::vector<int64_t> out = order;
  for (int64_t b = 0; b * batch < full; ++b)
    for (int64_t r = 0; r < world; ++r)
      for (int64_t j = 0; j < per; ++j)
        out[static_cast<size_t>(b * batch + r * per + j)] = order[static_cast<size_t>(r + (b * per + j) * world)];
  return out;
}

}  // namespace

DataLoader::DataLoader(const Dataset& ds, const LoaderOptions& options) : ds_(ds), opt_(options) {
  const Tensor& x = ds_.images;
  const Tensor& y = ds_.labels;
  SOFT_CHECK(x.defined() && x.dim() == 4 && x.dtype() == DType::Float32 && x.device().is_cpu() &&
                 x.is_contiguous(),
             "DataLoader: ", ds_.name, ": images must be a contiguous float32 CPU [N, C, H, W] tensor");
  SOFT_CHECK(y.defined() && y.dim() == 1 && y.dtype() == DType::Int64 && y.device().is_cpu() &&
                 y.is_contiguous() && y.size(0) == x.size(0),
             "DataLoader: ", ds_.name, ": labels must be a contiguous int64 CPU [N] tensor matching images ",
             shape_str(x.shape()));
  check_settings();
}

DataLoader::DataLoader(SampleSource source, const LoaderOptions& options)
    : source_(std::move(source)), opt_(options) {
  SOFT_CHECK(source_.load && source_.size >= 0, "DataLoader: ", source_.name,
             ": a sample source needs a load function and a size >= 0");
  check_settings();
}

void DataLoader::check_settings() const {
  SOFT_CHECK(opt_.batch_size > 0, "DataLoader: batch_size = ", opt_.batch_size, " must be positive");
  SOFT_CHECK(opt_.workers >= 1 && opt_.prefetch >= 1, "DataLoader: workers = ", opt_.workers, " and prefetch = ",
             opt_.prefetch, " must both be at least 1");
  SOFT_CHECK(opt_.world_size >= 1 && opt_.rank >= 0 && opt_.rank < opt_.world_size, "DataLoader: rank ", opt_.rank,
             " is outside a world of ", opt_.world_size, " processes");
  SOFT_CHECK(opt_.repeats >= 1 && (opt_.repeats == 1 || opt_.shuffle), "DataLoader: repeats = ", opt_.repeats,
             " needs shuffle and must be at least 1");
  SOFT_CHECK(opt_.repeats == 1 || opt_.batch_size % opt_.world_size == 0, "DataLoader: repeated augmentation over ",
             opt_.world_size, " ranks needs a batch_size (", opt_.batch_size, ") they share evenly");
}

DataLoader::~DataLoader() { stop_workers(); }

void DataLoader::set_transform(Transform t) {
  stop_workers();  // workers read transform_ without the lock
  transform_ = std::move(t);
  if (epoch_ >= 0) start_workers(delivered_);
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = num_samples();
  return opt_.drop_last ? n / opt_.batch_size : (n + opt_.batch_size - 1) / opt_.batch_size;
}

void DataLoader::start_epoch(int64_t epoch) {
  stop_workers();
  epoch_ = epoch;
  const int64_t n = num_samples();
  order_.resize(static_cast<size_t>(n));
  if (opt_.shuffle && opt_.repeats > 1) {
    Generator gen(epoch_seed(opt_.seed, epoch));
    order_ = spread_over_ranks(repeated_order(n, opt_.repeats, gen), opt_.batch_size, opt_.world_size);
  } else if (opt_.shuffle) {
    Generator gen(epoch_seed(opt_.seed, epoch));
    Tensor perm = randperm(n, gen);  // [N]
    std::memcpy(order_.data(), perm.data<int64_t>(), static_cast<size_t>(n) * sizeof(int64_t));
  } else {
    std::iota(order_.begin(), order_.end(), int64_t{0});
  }
  num_batches_ = batches_per_epoch();
  start_workers(0);
}

void DataLoader::skip_to(int64_t batch_index) {
  SOFT_CHECK(epoch_ >= 0, "DataLoader::skip_to: call start_epoch first");
  SOFT_CHECK(batch_index >= 0 && batch_index <= num_batches_, "DataLoader::skip_to: batch ", batch_index,
             " is outside [0, ", num_batches_, "]");
  stop_workers();
  start_workers(batch_index);
}

Batch DataLoader::assemble(int64_t b) const {
  // The global batch is positions [first, first + global) of the order; this rank's share of it
  // is [begin, begin + count).
  const int64_t first = b * opt_.batch_size, global = std::min(opt_.batch_size, num_samples() - first);
  const int64_t r = opt_.rank, n = opt_.world_size;
  const int64_t begin = first + global * r / n, count = first + global * (r + 1) / n - begin;
  Batch out;
  out.index = b;
  if (source_.load) load_samples(out, begin, count);
  else copy_samples(out, begin, count);
  if (transform_) {
    for (int64_t i = 0; i < count; ++i) {
      Tensor sample = slice(out.images, 0, i, i + 1);  // [1, C, H, W], a view into the batch
      Generator gen(transform_seed(opt_.seed, epoch_, begin + i));
      transform_(sample, gen);
    }
  }
  return out;
}

void DataLoader::load_samples(Batch& out, int64_t begin, int64_t count) const {
  out.labels = Tensor::empty({count}, DType::Int64, Device::cpu(), opt_.pin_memory);
  int64_t* dlab = out.labels.data<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    Generator gen(sample_seed(opt_.seed, epoch_, begin + i));
    const int64_t k = order_[static_cast<size_t>(begin + i)];
    auto [image, label] = source_.load(k, gen);  // [C, H, W]
    SOFT_CHECK(image.defined() && image.dim() == 3 && image.dtype() == DType::Float32 && image.device().is_cpu(),
               "DataLoader: ", source_.name, ": sample ", k, " is not a float32 CPU [C, H, W] tensor");
    if (i == 0) {
      out.images = Tensor::empty({count, image.size(0), image.size(1), image.size(2)}, DType::Float32, Device::cpu(),
                                 opt_.pin_memory);
    }
    const Shape& s = out.images.shape();
    SOFT_CHECK(image.size(0) == s[1] && image.size(1) == s[2] && image.size(2) == s[3], "DataLoader: ",
               source_.name, ": sample ", k, " has shape ", shape_str(image.shape()), ", the batch's first [",
               s[1], ", ", s[2], ", ", s[3], "]");
    const int64_t per = s[1] * s[2] * s[3];
    Tensor c = image.contiguous();
    std::memcpy(out.images.data<float>() + i * per, c.data<float>(), static_cast<size_t>(per) * sizeof(float));
    dlab[i] = label;
  }
}

void DataLoader::copy_samples(Batch& out, int64_t begin, int64_t count) const {
  const Shape& s = ds_.images.shape();  // [N, C, H, W]
  const int64_t per = s[1] * s[2] * s[3];
  out.images = Tensor::empty({count, s[1], s[2], s[3]}, DType::Float32, Device::cpu(), opt_.pin_memory);
  out.labels = Tensor::empty({count}, DType::Int64, Device::cpu(), opt_.pin_memory);
  const float* src = ds_.images.data<float>();
  const int64_t* lab = ds_.labels.data<int64_t>();
  float* dst = out.images.data<float>();
  int64_t* dlab = out.labels.data<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t k = order_[static_cast<size_t>(begin + i)];
    std::memcpy(dst + i * per, src + k * per, static_cast<size_t>(per) * sizeof(float));
    dlab[i] = lab[k];
  }
}

void DataLoader::worker_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stop_ || claimed_ >= num_batches_ || claimed_ < delivered_ + opt_.prefetch; });
    if (stop_ || claimed_ >= num_batches_) return;
    const int64_t b = claimed_++;
    lk.unlock();
    Slot slot;
    try {
      slot.batch = assemble(b);
    } catch (...) {
      slot.error = std::current_exception();
    }
    lk.lock();
    ready_.emplace(b, std::move(slot));
    ready_cv_.notify_all();
  }
}

void DataLoader::start_workers(int64_t first_batch) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = false;
    claimed_ = delivered_ = first_batch;
    ready_.clear();
  }
  for (int i = 0; i < opt_.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  // A worker mid-batch finishes that one batch, then sees stop_: joining is bounded by one batch.
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lk(mu_);
  ready_.clear();
}

std::optional<Batch> DataLoader::next() {
  SOFT_CHECK(epoch_ >= 0, "DataLoader::next: call start_epoch first");
  std::unique_lock<std::mutex> lk(mu_);
  if (delivered_ >= num_batches_) return std::nullopt;
  // Every claimed batch gets a slot (errors included), and delivered_ < claimed_ is reached
  // because the workers may always claim batch delivered_ (prefetch >= 1).
  ready_cv_.wait(lk, [&] { return ready_.count(delivered_) > 0; });
  Slot slot = std::move(ready_.extract(delivered_).mapped());
  if (slot.error) {
    delivered_ = num_batches_;  // the epoch ends here; workers stop claiming
    stop_ = true;
    lk.unlock();
    work_cv_.notify_all();
    std::rethrow_exception(slot.error);
  }
  ++delivered_;
  lk.unlock();
  work_cv_.notify_all();
  return std::move(slot.batch);
}

}  // namespace soft::data
