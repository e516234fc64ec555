// A whole soft_tiny training step on the GPU against the CPU: the loss and every gradient.
#include "models/soft.h"
#include "tests/cuda/cuda_test.h"

using namespace soft;
using soft::test::expect_training_step_matches_cpu;

TEST_CASE("cuda: a soft_tiny training step matches the CPU (loss and every gradient)") {
  SOFT_SKIP_WITHOUT_GPU();
  models::SoftConfig config = models::resolve_config("soft_tiny");
  config.drop_path_rate = 0;  // deterministic step
  Generator gen(5);
  expect_training_step_matches_cpu(config, 11, normal({2, 3, 224, 224}, 0.0, 1.0, gen),
                                   Tensor::from_vector({3, 917}, {2}, DType::Int64));
}
