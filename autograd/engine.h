#pragma once
// The reverse-mode engine: runs the recorded graph backwards from one tensor.
#include "core/tensor.h"

namespace soft {

// Seeds `root` with `gradient` (ones for a scalar when undefined), visits the nodes in reverse
// topological order and accumulates into the leaves' .grad. Frees saved tensors unless
// retain_graph is set.
void run_backward(const Tensor& root, const Tensor& gradient, bool retain_graph);

}  // namespace soft
