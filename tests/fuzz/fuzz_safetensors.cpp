// libFuzzer harness: a safetensors file image is parsed, then loaded strictly into a Linear(3, 2)
// (state weight [2, 3], bias [2]). Every outcome but success or a soft::Error is a finding: a
// crash, a sanitizer report, another exception, a leak, or a parse that claims more data bytes
// than the input holds.
#include <cstdint>
#include <string>

#include "core/safetensors.h"
#include "nn/layers.h"
#include "nn/state.h"
#include "tests/fuzz/scratch_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const soft::Safetensors file = soft::parse_safetensors(bytes, "fuzz.safetensors");
    uint64_t total = 0;
    for (const auto& [name, t] : file.tensors) total += static_cast<uint64_t>(t.numel()) * soft::dtype_size(t.dtype());
    soft::fuzz::require(total + 8 <= size, "tensors hold more bytes than the file");
    soft::nn::Linear target(3, 2);
    soft::nn::load_state(target, file, "fuzz.safetensors");
  } catch (const soft::Error&) {
  }
  return 0;
}
