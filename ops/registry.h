#pragma once
// The list of every op. tests/test_op_registry.cpp walks it: an op without a float64 gradient
// check (when differentiable) and a forward check against a naive loop fails the build's tests.
#include <vector>

namespace soft {

struct OpInfo {
  const char* name;
  const char* file;      // where its kernel and backward live
  bool differentiable;
};

const std::vector<OpInfo>& op_registry();

}  // namespace soft
