#pragma once
// Finite-difference check of an op's backward, in float64.
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace soft {

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-6;  // an element fails when |analytic - numeric| > atol + rtol * |numeric|
  double rtol = 1e-4;
  uint64_t seed = 0;   // for the random output weights
};

struct GradcheckResult {
  bool ok = true;
  std::string report;  // the worst element: which input, which index, both values
  double worst_error = 0;  // largest |analytic - numeric| / (atol + rtol * |numeric|); ok when <= 1
};

// Checks the gradient of L = sum(fn(inputs) * W), W a fixed random tensor, against central
// differences for every element of every input that requires grad. Inputs must be float64.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& options = {});

}  // namespace soft
