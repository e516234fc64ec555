#pragma once
// safetensors files (the format of Hugging Face's `safetensors`): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the raw little-endian data. Reading validates everything against the file's real size
// before allocating, so a corrupt or hostile file is a clear soft::Error, never a crash.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace soft {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct Safetensors {
  std::string source;    // the file it came from, for error messages
  NamedTensors tensors;  // in the order of their data in the file
  std::map<std::string, std::string> metadata;

  const Tensor* find(const std::string& name) const;
  const Tensor& at(const std::string& name) const;  // throws naming the file's missing key
};

// Reads F32, F64, BF16 and I64 tensors to the CPU. `path` appears in every error.
Safetensors load_safetensors(const std::string& path);

// Parses an in-memory image of a file (what load_safetensors does after reading it).
Safetensors parse_safetensors(const std::string& bytes, const std::string& what);

// Writes atomically (core/atomic_file.h): a temporary file beside `path`, flushed and renamed over
// it, so a crash or a failed write (a full disk) leaves the old file. Tensors are copied to the CPU
// and made contiguous.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace soft
