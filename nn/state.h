#pragma once
// A module's state (parameters and buffers) to and from safetensors files.
#include "core/safetensors.h"
#include "nn/module.h"

namespace soft::nn {

// Copies every tensor of `file` into the module's state of the same name (converting dtype).
// Strict: missing, unexpected or wrongly shaped tensors are all listed in one error naming
// `what`, and nothing is loaded; so are tensors holding NaN or infinite values (the file itself
// is valid: load_safetensors reads them).
void load_state(Module& module, const Safetensors& file, const std::string& what);
void load_state(Module& module, const std::string& path);

// Writes the module's state under its hierarchical names (atomically).
void save_state(const Module& module, const std::string& path, const std::map<std::string, std::string>& metadata = {});

}  // namespace soft::nn
