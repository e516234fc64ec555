#include "tools/train/evaluate.h"

#include "autograd/grad_mode.h"
#include "ops/ops.h"

namespace soft::tools::train {

void count_correct(const Tensor& logits, const Tensor& labels, int64_t& top1, int64_t& top5) {
  Tensor l = to_dtype(logits, DType::Float32).contiguous();  // [B, K]
  const int64_t B = l.size(0), K = l.size(1);
  const float* p = l.data<float>();
  const int64_t* y = labels.data<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    const float* row = p + b * K;
    const float target = row[y[b]];
    // The label's rank: classes scoring higher, or equal at a lower index.
    int64_t rank = 0;
    for (int64_t k = 0; k < K; ++k)
      if (row[k] > target || (row[k] == target && k < y[b])) ++rank;
    top1 += rank < 1;
    top5 += rank < 5;
  }
}

EvalResult evaluate(nn::Module& model, data::DataLoader& loader, Device device, dist::Communicator* comm) {
  NoGradGuard no_grad;
  model.eval();
  EvalResult r;
  int64_t top1 = 0, top5 = 0;
  double loss_sum = 0;
  const DType dtype = model.parameters().at(0).dtype();  // float64 models take float64 images
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    if (batch->labels.numel() == 0) continue;  // this rank's share of a short last batch
    Tensor x = to_dtype(batch->images.to(device, /*non_blocking=*/true), dtype);  // [B, C, H, W]
    Tensor logits = model.forward(x).to(Device::cpu());    // [B, K]
    const int64_t b = batch->labels.size(0);
    loss_sum += cross_entropy(logits, batch->labels).item() * static_cast<double>(b);
    count_correct(logits, batch->labels, top1, top5);
    r.images += b;
  }
  if (comm) {
    Tensor counts = Tensor::empty({4}, DType::Float64);  // top-1, top-5, loss sum, images
    double* c = counts.data<double>();
    c[0] = static_cast<double>(top1), c[1] = static_cast<double>(top5);
    c[2] = loss_sum, c[3] = static_cast<double>(r.images);
    comm->all_reduce_sum_(counts);
    top1 = static_cast<int64_t>(c[0]), top5 = static_cast<int64_t>(c[1]), loss_sum = c[2];
    r.images = static_cast<int64_t>(c[3]);
  }
  if (r.images > 0) {
    const double n = static_cast<double>(r.images);
    r.top1 = static_cast<double>(top1) / n;
    r.top5 = static_cast<double>(top5) / n;
    r.loss = loss_sum / n;
  }
  return r;
}

}  // namespace soft::tools::train
