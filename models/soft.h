#pragma once
// The SOFT vision transformer (four stages, pyramid of token grids). Stages 1-3 use SOFT
// attention in post-LN blocks; stage 4 uses softmax attention in pre-LN blocks with a cls token.
// Module and parameter names equal the official code's state_dict keys.
#include "models/config.h"
#include "nn/attention.h"
#include "nn/container.h"
#include "nn/mlp.h"
#include "nn/soft_attention.h"
#include "nn/token_attention.h"

namespace soft::models {

// conv3x3 + BN + ReLU, repeated: the stem (three convs) or a stage's down-sampling (one).
class PatchEmbed : public nn::Module {
 public:
  PatchEmbed(const std::vector<std::array<int64_t, 3>>& convs);  // {in, out, stride} per conv
  Tensor forward(const Tensor& x) override;                      // [B, Cin, H, W] -> [B, C, H', W']
  std::shared_ptr<nn::Sequential> proj;
};

// The attention of block `block` (0-based over the whole model) of stage `stage` (0..2), of the
// config's kind, for an H x W token grid at the config's img_size.
std::shared_ptr<nn::TokenAttention> make_stage_attention(const SoftConfig& c, int stage, int64_t block);

// Stages 1-3, post-LN: x = LN1(x + drop(attn(x))); x = LN2(x + drop(ff2(gelu_tanh(ff1(x))))).
// attn is SOFT attention in the official model, or another kind of the zoo.
class SoftEncoderLayer : public nn::Module {
 public:
  SoftEncoderLayer(std::shared_ptr<nn::TokenAttention> attention, int64_t dim, double drop);
  Tensor forward(const Tensor& x, int64_t H, int64_t W);  // [B, N, C]
  std::shared_ptr<nn::TokenAttention> mha;
  std::shared_ptr<nn::LayerNorm> norm1, norm2;
  std::shared_ptr<nn::Linear> ff1, ff2;
  std::shared_ptr<nn::Dropout> dropout1, dropout2;
};

class SoftBlock : public nn::Module {
 public:
  SoftBlock(std::shared_ptr<nn::TokenAttention> attention, int64_t dim, double drop);
  Tensor forward(const Tensor& x, int64_t H, int64_t W) { return att->forward(x, H, W); }
  std::shared_ptr<SoftEncoderLayer> att;
};

// Stage 4, pre-LN: x = x + drop_path(attn(LN1(x))); x = x + drop_path(mlp(LN2(x))).
class SoftmaxBlock : public nn::Module {
 public:
  SoftmaxBlock(int64_t dim, int64_t heads, int64_t mlp_ratio, double drop, double drop_path);
  Tensor forward(const Tensor& x) override;  // [B, 1 + N, C]
  std::shared_ptr<nn::LayerNorm> norm1, norm2;
  std::shared_ptr<nn::Attention> attn;
  std::shared_ptr<nn::Mlp> mlp;
  std::shared_ptr<nn::DropPath> drop_path;
};

class SoftModel : public nn::Module {
 public:
  explicit SoftModel(const SoftConfig& config);
  Tensor forward(const Tensor& images) override;  // [B, in_chans, H, W] -> logits [B, num_classes]
  Tensor features(const Tensor& images);          // the final-norm cls token [B, C4]
  const SoftConfig& config() const { return config_; }

 private:
  // Position embedding of `stage` resized to an H x W grid: [1, H*W, C] (stage 4: [1, 1 + H*W, C]).
  Tensor position_embedding(int stage, int64_t H, int64_t W);

  SoftConfig config_;
  std::array<Tensor, 4> pos_embed_;
  Tensor cls_token_;
  std::array<std::shared_ptr<PatchEmbed>, 4> patch_embed_;
  std::array<std::shared_ptr<nn::Dropout>, 3> pos_drop_;
  std::array<std::shared_ptr<nn::ModuleList>, 4> blocks_;
  std::shared_ptr<nn::LayerNorm> norm_;
  std::shared_ptr<nn::Linear> head_;
};

}  // namespace soft::models
