#include "autograd/engine.h"

#include <unordered_map>

#include "autograd/grad_mode.h"
#include "autograd/leaf_hook.h"
#include "autograd/node.h"
#include "ops/ops.h"

namespace soft {

namespace {

thread_local LeafGradReady t_leaf_grad_ready;

}  // namespace

LeafGradReadyHook::LeafGradReadyHook(LeafGradReady ready) : previous_(std::move(t_leaf_grad_ready)) {
  t_leaf_grad_ready = std::move(ready);
}
LeafGradReadyHook::~LeafGradReadyHook() { t_leaf_grad_ready = std::move(previous_); }
const LeafGradReady& leaf_grad_ready() { return t_leaf_grad_ready; }

namespace {

// Adds g into a leaf's .grad; the first gradient is copied so that .grad never aliases.
void accumulate_leaf(TensorImpl& leaf, const Tensor& g) {
  if (!leaf.grad.defined()) leaf.grad = g.clone();
  else add_(leaf.grad, g);
}

// Adds g into a node's pending gradient: in place when nothing else can see the slot's memory
// (its tensor and storage have no other owner: not saved by a closure, not another input's
// gradient, not a view), which saves a buffer the size of the gradient (512 MiB for K1 of a
// SOFT layer at 64k tokens). The sum is the same either way.
void accumulate_pending(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
    return;
  }
  bool sole_owner = slot.impl_ptr().use_count() == 1 && slot.storage().use_count() == 1 && slot.is_contiguous() &&
                    slot.dtype() == g.dtype() && slot.device() == g.device() && slot.shape() == g.shape();
  if (sole_owner) add_(slot, g);
  else slot = add(slot, g);
}

// Nodes reachable from root, each after every node that feeds it gradient (root first).
std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> post;  // post-order: a node after all nodes it sends gradient to
  std::unordered_map<Node*, bool> visited;
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  visited[root] = true;
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      Node* child = node->inputs[next++].fn.get();
      if (child && !visited[child]) {
        visited[child] = true;
        stack.push_back({child, 0});
      }
    } else {
      post.push_back(node);
      stack.pop_back();
    }
  }
  return {post.rbegin(), post.rend()};
}

// Counts down, per leaf, the edges of `order` still to deliver a gradient, and tells the leaf-grad
// hook about each leaf whose count reaches zero. Inactive (no counting) when no hook is installed.
class LeafCountdown {
 public:
  explicit LeafCountdown(const std::vector<Node*>& order) : ready_(leaf_grad_ready()) {
    if (!ready_) return;
    for (Node* node : order)
      for (const Edge& e : node->inputs)
        if (e.leaf) ++pending_[e.leaf.get()];
  }
  void delivered(const Edge& e) {
    if (ready_ && e.leaf && --pending_[e.leaf.get()] == 0) ready_(*e.leaf);
  }
  void skipped(const Node& node) {
    for (const Edge& e : node.inputs) delivered(e);
  }

 private:
  const LeafGradReady& ready_;
  std::unordered_map<TensorImpl*, int> pending_;
};

}  // namespace

void run_backward(const Tensor& root, const Tensor& gradient, bool retain_graph) {
  SOFT_CHECK(root.requires_grad(), "backward: the tensor does not require grad (no input of the ops that ",
             "made it requires grad, or it was computed under NoGradGuard)");
  Tensor seed = gradient;
  if (!seed.defined()) {
    SOFT_CHECK(root.numel() == 1, "backward: a gradient argument is needed for a non-scalar tensor of shape ",
               shape_str(root.shape()));
    seed = ones(root.shape(), root.dtype(), root.device());
  }
  SOFT_CHECK(seed.shape() == root.shape(), "backward: gradient of shape ", shape_str(seed.shape()),
             " for a tensor of shape ", shape_str(root.shape()));

  NoGradGuard no_grad;  // gradients are plain tensors: no graph of the backward pass
  if (!root.grad_fn()) {
    accumulate_leaf(*root.impl(), seed);
    if (leaf_grad_ready()) leaf_grad_ready()(*root.impl());
    return;
  }
  std::unordered_map<Node*, Tensor> pending{{root.grad_fn().get(), seed}};
  const std::vector<Node*> order = topological_order(root.grad_fn().get());
  LeafCountdown leaves(order);
  for (Node* node : order) {
    Tensor grad_out = std::move(pending[node]);
    pending.erase(node);
    if (!grad_out.defined()) {  // every consumer returned no gradient: nothing flows past this node
      leaves.skipped(*node);
      if (!retain_graph) node->release();
      continue;
    }
    SOFT_CHECK(node->backward, "backward: the graph through '", node->op, "' was already freed by an ",
               "earlier backward; call backward(gradient, /*retain_graph=*/true) the first time");
    std::vector<bool> needs;
    for (const Edge& e : node->inputs) needs.push_back(e.needs_grad());
    Grads grads = node->backward(grad_out, needs);
    SOFT_CHECK(grads.size() == node->inputs.size(), "backward of '", node->op, "' returned ", grads.size(),
               " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < grads.size(); ++i) {
      const Edge& e = node->inputs[i];
      if (e.needs_grad() && grads[i].defined()) {
        SOFT_CHECK(grads[i].shape() == e.shape, "backward of '", node->op, "': gradient of input ", i,
                   " has shape ", shape_str(grads[i].shape()), " but the input has shape ", shape_str(e.shape));
        if (e.leaf) accumulate_leaf(*e.leaf, grads[i]);
        else accumulate_pending(pending[e.fn.get()], grads[i]);
      }
      leaves.delivered(e);
    }
    if (!retain_graph) node->release();
  }
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  run_backward(*this, gradient, retain_graph);
}

}  // namespace soft
