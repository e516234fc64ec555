#pragma once
// One recorded op in the graph: where its inputs' gradients go, and the closure that computes
// them from the output's gradient. The closure owns the tensors it saved; release() drops it.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace soft {

// Where the gradient of one input goes: into the node that produced it, or into a leaf's .grad.
// Both empty when the input does not require a gradient.
struct Edge {
  std::shared_ptr<Node> fn;
  std::shared_ptr<TensorImpl> leaf;
  Shape shape;  // the input's shape: its gradient must have exactly this shape
  bool needs_grad() const { return fn || leaf; }
};

using Grads = std::vector<Tensor>;  // one per input; undefined where no gradient flows

struct Node {
  // grad_output has the output's shape; needs_grad[i] says whether input i wants a gradient.
  using BackwardFn = std::function<Grads(const Tensor& grad_output, const std::vector<bool>& needs_grad)>;

  std::string op;
  std::vector<Edge> inputs;
  BackwardFn backward;  // empty after release()

  void release() { backward = nullptr; }
};

// Called by every differentiable op after computing `out` from `inputs`: when grad mode is on
// and an input requires grad, attaches a Node with `backward` to `out`. Save tensors in the
// closure by value; save the output itself only as out.detach() (a graph cycle otherwise).
Tensor record(const char* op, Tensor out, const std::vector<Tensor>& inputs, Node::BackwardFn backward);

}  // namespace soft
