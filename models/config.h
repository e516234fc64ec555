#pragma once
// A SOFT model's configuration, read from JSON (configs/*.json). Every key is checked: an
// unknown or repeated key, a wrong type, a value outside the key's range (e.g. img_size 1..65536,
// depths 0..1024, strides 1..8; models/config.cpp) or an impossible combination is an error
// naming the key.
#include <array>
#include <string>

#include "nn/token_attention.h"
#include "ops/ops.h"

namespace soft::models {

struct SoftConfig {
  std::string name = "soft";
  int64_t img_size = 224;                  // the input size the model is described at (see info)
  int64_t in_chans = 3;
  int64_t num_classes = 1000;
  std::array<int64_t, 4> embed_dims{64, 128, 320, 512};
  std::array<int64_t, 4> num_heads{2, 4, 10, 16};
  std::array<int64_t, 4> depths{1, 2, 3, 2};
  std::array<int64_t, 3> stem_strides{2, 1, 2};     // the three 3x3 convs of stage 1's embedding
  std::array<int64_t, 3> patch_strides{2, 2, 2};    // stages 2-4 embeddings
  std::array<int64_t, 3> landmark_strides{8, 4, 2}; // r: landmark conv kernel = stride, stages 1-3
  std::array<int64_t, 3> local_kernels{9, 5, 3};    // k: depthwise conv over the values, stages 1-3
  // Side of each stage's stored position-embedding grid (resized to the actual grid); when a
  // config omits it, the grids of an img_size x img_size input.
  std::array<int64_t, 4> pos_embed_grids{56, 28, 14, 7};
  int64_t stem_width = 32;
  int64_t newton_iterations = 20;
  NewtonForm newton_form = NewtonForm::Journal;
  bool soft_norm = false;                  // SOFT-Norm: D^-1/2 K2^+ D^-1/2 instead of K2^+
  // The attention of stages 1-3 (stage 4 is always softmax) and each kind's settings
  // (docs/ATTENTION_ZOO.md); the defaults are the papers'.
  nn::AttentionKind attention = nn::AttentionKind::Soft;
  nn::LandmarkKind landmarks = nn::LandmarkKind::Conv;  // soft: "conv" (landmark_strides) or "pool"
  int64_t num_landmarks = 64;            // soft with "pool" (a square grid of floor(sqrt) per side), nystrom
  int64_t linformer_k = 256;             // rows of the projected keys and values (capped at the tokens)
  int64_t performer_features = 256;      // random features M
  int64_t performer_redraw = 1000;       // redraw the features every this many training steps; 0: never
  int64_t nystrom_pinv_iterations = 6;
  int64_t nystrom_conv_kernel = 33;      // the (k x 1) depthwise conv along the tokens of v
  int64_t mlp_ratio_stage4 = 4;
  double drop_rate = 0.0;
  double drop_path_rate = 0.0;

  // Token grid (H, W) of each stage for an input of h x w pixels.
  std::array<std::array<int64_t, 2>, 4> grids(int64_t h, int64_t w) const;
};

// Parses JSON text; `what` (a file name) prefixes every error.
SoftConfig parse_config(const std::string& json_text, const std::string& what);
SoftConfig load_config(const std::string& path);
// A built-in name (soft_tiny ... soft_huge, and the small-image configs) or a path to a JSON file.
SoftConfig resolve_config(const std::string& name_or_path);
// The JSON form (what parse_config reads back).
std::string config_to_json(const SoftConfig& c);

}  // namespace soft::models
