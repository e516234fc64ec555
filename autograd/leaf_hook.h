#pragma once
// A callback told, during backward, when a leaf's .grad is final: every gradient flowing into it
// in this backward has been added. Data-parallel training starts averaging a bucket of gradients
// across processes as soon as all of them are final, while backward goes on (dist/reducer.h);
// PyTorch's DistributedDataParallel uses post-accumulate-grad hooks the same way.
#include <functional>

#include "core/tensor.h"

namespace soft {

using LeafGradReady = std::function<void(TensorImpl& leaf)>;

// Installs `ready` for the backward passes run by this thread while the guard lives.
class LeafGradReadyHook {
 public:
  explicit LeafGradReadyHook(LeafGradReady ready);
  ~LeafGradReadyHook();
  LeafGradReadyHook(const LeafGradReadyHook&) = delete;
  LeafGradReadyHook& operator=(const LeafGradReadyHook&) = delete;

 private:
  LeafGradReady previous_;
};

// The hook installed for this thread (empty when none).
const LeafGradReady& leaf_grad_ready();

}  // namespace soft
