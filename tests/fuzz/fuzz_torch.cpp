// libFuzzer harness: a PyTorch checkpoint image (torch.save's zip format) is parsed and its
// state_dict rebuilt (nn/torch_checkpoint.h), then loaded strictly into a Linear(3, 2). Every
// outcome but success or a soft::Error is a finding: a crash, a sanitizer report, another
// exception, a leak, or tensors holding more values than the archive could describe.
#include <cstdint>
#include <string>

#include "nn/layers.h"
#include "nn/state.h"
#include "nn/torch_checkpoint.h"
#include "tests/fuzz/scratch_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  for (bool ema : {false, true}) {
    try {
      const soft::Safetensors file = soft::nn::parse_torch_checkpoint(bytes, "fuzz.pth", ema);
      // A tensor never holds more elements than its storage, and storages are inflated from the
      // input at most 1032:1.
      uint64_t total = 0;
      for (const auto& [name, t] : file.tensors) total += static_cast<uint64_t>(t.numel());
      soft::fuzz::require(total <= 1040 * static_cast<uint64_t>(size) * file.tensors.size() + 1,
                          "tensors hold more values than the file can describe");
      soft::nn::Linear target(3, 2);
      soft::nn::load_state(target, file, "fuzz.pth");
    } catch (const soft::Error&) {
    }
  }
  return 0;
}
