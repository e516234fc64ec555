#include "dist/reducer.h"

#include <chrono>

#include "autograd/grad_mode.h"
#include "ops/ops.h"

namespace soft::dist {

GradReducer::GradReducer(std::vector<Tensor> params, Communicator& comm, double bucket_mib)
    : params_(std::move(params)), offsets_(params_.size()), bucket_of_(params_.size()), comm_(comm) {
  SOFT_CHECK(!params_.empty(), "GradReducer: no parameters");
  SOFT_CHECK(bucket_mib > 0, "GradReducer: bucket size ", bucket_mib, " MiB must be positive");
  const Device device = params_[0].device();
  const DType dtype = params_[0].dtype();
  const double cap = bucket_mib * 1024 * 1024;
  Bucket open;
  int64_t numel = 0;
  auto close = [&] {
    open.flat = Tensor::empty({numel}, dtype, device);
    buckets_.push_back(std::move(open));
    open = Bucket{};
    numel = 0;
  };
  for (size_t k = params_.size(); k-- > 0;) {  // reverse order: the last layers' gradients are final first
    const Tensor& p = params_[k];
    SOFT_CHECK(p.device() == device && p.dtype() == dtype, "GradReducer: parameter ", k, " is ", dtype_name(p.dtype()),
               " on ", p.device().str(), ", the first is ", dtype_name(dtype), " on ", device.str());
    if (!open.params.empty() && static_cast<double>((numel + p.numel()) * dtype_size(dtype)) > cap) close();
    offsets_[k] = numel;
    bucket_of_[k] = buckets_.size();
    index_of_[p.impl()] = k;
    open.params.push_back(k);
    numel += p.numel();
  }
  close();
}

GradReducer::~GradReducer() {
  for (Bucket& b : buckets_)
    if (b.request) b.request->wait();  // the buffers must outlive the transfers
}

void GradReducer::begin() {
  SOFT_CHECK(!hook_, "GradReducer::begin: already armed (call finish() after each backward)");
  for (Bucket& b : buckets_) b.pending = b.params.size();
  next_to_start_ = 0;
  hook_.emplace([this](TensorImpl& leaf) { on_ready(leaf); });
}

void GradReducer::on_ready(TensorImpl& leaf) {
  auto it = index_of_.find(&leaf);
  if (it == index_of_.end()) return;  // a leaf that is not one of the parameters
  Bucket& b = buckets_[bucket_of_[it->second]];
  if (b.pending > 0 && --b.pending == 0) start_ready_buckets();
  for (size_t k = 0; k < next_to_start_; ++k) buckets_[k].request->test();  // lets MPI progress them
}

void GradReducer::start_ready_buckets() {
  while (next_to_start_ < buckets_.size() && buckets_[next_to_start_].pending == 0) start(buckets_[next_to_start_++]);
}

void GradReducer::start(Bucket& b) {
  NoGradGuard no_grad;
  for (size_t k : b.params) {
    Tensor slot = view(slice(b.flat, 0, offsets_[k], offsets_[k] + params_[k].numel()), params_[k].shape());
    if (params_[k].grad().defined()) copy_(slot, params_[k].grad());
    else fill_(slot, 0.0);
  }
  b.request = comm_.start_all_reduce_sum_(b.flat);
}

void GradReducer::finish() {
  SOFT_CHECK(hook_, "GradReducer::finish: begin() was not called");
  hook_.reset();
  for (Bucket& b : buckets_) b.pending = 0;
  start_ready_buckets();
  NoGradGuard no_grad;
  const double inv = 1.0 / static_cast<double>(comm_.size());
  for (Bucket& b : buckets_) {
    const auto t0 = std::chrono::steady_clock::now();
    b.request->wait();
    b.request.reset();
    seconds_waiting_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    mul_(b.flat, inv);
    for (size_t k : b.params) {
      Tensor avg = view(slice(b.flat, 0, offsets_[k], offsets_[k] + params_[k].numel()), params_[k].shape());
      Tensor p = params_[k];  // a handle: set_grad reaches the parameter
      if (p.grad().defined()) {
        Tensor g = p.grad();
        copy_(g, avg);
      } else {
        p.set_grad(avg.clone());
      }
    }
  }
}

}  // namespace soft::dist
