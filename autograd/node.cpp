// The tape: record() attaches a Node to an op's output. Depends on core only; the engine that
// runs the tape backwards (engine.cpp) is the part of autograd that calls ops.
#include "autograd/node.h"

#include "autograd/grad_mode.h"
#include "autograd/record_check.h"

namespace soft {
namespace {

RecordCheck record_check = nullptr;

}  // namespace

RecordCheck set_record_check(RecordCheck check) {
  RecordCheck previous = record_check;
  record_check = check;
  return previous;
}

Tensor record(const char* op, Tensor out, const std::vector<Tensor>& inputs, Node::BackwardFn backward) {
  if (!GradMode::enabled()) return out;
  bool any = false;
  for (const Tensor& t : inputs) any |= t.defined() && t.requires_grad();
  if (!any) return out;
  if (record_check) record_check(op);

  auto node = std::make_shared<Node>();
  node->op = op;
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined() && t.requires_grad()) {
      e.shape = t.shape();
      if (t.grad_fn()) e.fn = t.grad_fn();
      else e.leaf = t.impl_ptr();
    }
    node->inputs.push_back(std::move(e));
  }
  node->backward = std::move(backward);
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::move(node);
  return out;
}

}  // namespace soft
