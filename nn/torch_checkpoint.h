#pragma once
// PyTorch checkpoints (torch.save's zip format, PyTorch >= 1.6) read natively and safely: the
// pickle is parsed by nn/torch_pickle.h (nothing executed, globals allow-listed), each tensor's
// dtype, sizes, strides and offset are checked against its storage's real size in the archive
// before anything is allocated, and the tensors come out contiguous on the CPU (views, offsets,
// non-contiguous strides and storages shared by several tensors all load).
//
// A training checkpoint is a dict: its `model` (or `state_dict`) entry is taken, or with `ema`
// its `model_ema` (or `state_dict_ema`); everything else (optimizer, epoch, args) is ignored. A
// bare state_dict is taken whole. A `module.` prefix on every name (DataParallel) is removed.
#include <string>

#include "core/safetensors.h"

namespace soft::nn {

// The state_dict of a checkpoint image (metadata "format": "pytorch"). `what` names the file in errors. float16 tensors become
// float32, int32/int16/int8/uint8/bool become int64.
Safetensors parse_torch_checkpoint(const std::string& bytes, const std::string& what, bool ema = false);

// Whether `bytes` start like a torch.save zip archive (what parse_torch_checkpoint reads).
bool is_torch_zip(const std::string& bytes);

// Weights from a file of either kind, told apart by content: a torch.save checkpoint or a
// safetensors file (returned whole, with its metadata: `ema` applies to .pth files only; the
// trainer's safetensors checkpoints are read by tools/train/checkpoint.h). The legacy torch.save format (before 1.6) is a clear error saying
// how to re-save it.
Safetensors load_weights(const std::string& path, bool ema = false);

}  // namespace soft::nn
