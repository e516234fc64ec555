// libFuzzer harness: the restricted unpickler (nn/torch_pickle.h) on arbitrary bytes. Every outcome
// but a value graph or a soft::Error is a finding; the graph's indices must all be in range.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "nn/torch_pickle.h"
#include "tests/fuzz/scratch_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const soft::nn::pickle::Pickle p = soft::nn::pickle::unpickle(bytes, "fuzz.pkl");
    soft::fuzz::require(p.root >= 0 && static_cast<size_t>(p.root) < p.values.size(), "root out of range");
    for (const auto& v : p.values) {
      for (int32_t i : v.items)
        soft::fuzz::require(i >= 0 && static_cast<size_t>(i) < p.values.size(), "item index out of range");
      soft::fuzz::require(v.depth <= soft::nn::pickle::kMaxDepth, "nesting past the limit");
    }
  } catch (const soft::Error&) {
  }
  return 0;
}
