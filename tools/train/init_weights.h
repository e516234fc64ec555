#pragma once
// Fine-tuning: a new run starting from pretrained weights (soft train --init W). W is a .pth
// (torch.save: a state_dict or a training checkpoint's 'model'), a safetensors weights file, a
// soft train checkpoint, or a run folder (its best checkpoint's model).
//   - a tensor of the same name and shape is copied;
//   - the classifier (head.weight, head.bias) keeps its fresh initialisation when the number of
//     classes differs, as timm does;
//   - a position embedding (pos_embed1..4) of another grid (another image size) is resized
//     bilinearly (align_corners false; the cls entry of stage 4 kept), as the model's forward does;
//   - tensors of the file the model does not have are left out;
//   - anything else (a tensor the file lacks, another shape) is an error listing the tensors.
#include <iosfwd>
#include <string>
#include <vector>

#include "models/soft.h"

namespace soft::tools::train {

struct InitReport {
  std::string source;
  std::vector<std::string> loaded, resized, reinitialised, left_out;
};

InitReport init_from_weights(models::SoftModel& model, const std::string& path);

// "init from W: 120 tensors loaded, 1 resized (pos_embed1 ...), 2 re-initialised (head.weight ...), 3 left out (...)"
std::string describe(const InitReport& report);

}  // namespace soft::tools::train
