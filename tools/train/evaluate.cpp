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

EvalResult evaluate(nn::Module& model, data::DataLoader& loader, Device device) {
  NoGradGuard no_grad;
  model.eval();
  EvalResult r;
  int64_t top1 = 0, top5 = 0;
  double loss_sum = 0;
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    Tensor logits = model.forward(batch->images.to(device)).to(Device::cpu());  // [B, K]
    const int64_t b = batch->labels.size(0);
    loss_sum += cross_entropy(logits, batch->labels).item() * static_cast<double>(b);
    count_correct(logits, batch->labels, top1, top5);
    r.images += b;
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
