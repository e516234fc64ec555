#include "models/soft.h"

#include "nn/init.h"
#include "nn/linformer_attention.h"
#include "nn/nystrom_attention.h"
#include "nn/performer_attention.h"

namespace soft::models {

PatchEmbed::PatchEmbed(const std::vector<std::array<int64_t, 3>>& convs) {
  proj = register_module("proj", std::make_shared<nn::Sequential>());
  for (const auto& [in, out, stride] : convs) {
    proj->push_back(std::make_shared<nn::Conv2d>(in, out, 3, stride, 1));
    proj->push_back(std::make_shared<nn::BatchNorm2d>(out));
    proj->push_back(std::make_shared<nn::ReLU>());
  }
}

Tensor PatchEmbed::forward(const Tensor& x) { return proj->forward(x); }

std::shared_ptr<nn::TokenAttention> make_stage_attention(const SoftConfig& c, int stage, int64_t block) {
  int64_t dim = c.embed_dims[stage], heads = c.num_heads[stage];
  auto grid = c.grids(c.img_size, c.img_size)[stage];
  int64_t tokens = grid[0] * grid[1];
  switch (c.attention) {
    case nn::AttentionKind::Soft: {
      nn::SoftAttentionOptions o{dim, heads, c.landmark_strides[stage], c.local_kernels[stage], c.newton_iterations,
                                 c.newton_form, c.soft_norm, c.landmarks, c.num_landmarks};
      return std::make_shared<nn::SoftAttention>(o);
    }
    case nn::AttentionKind::Softmax: return std::make_shared<nn::Attention>(dim, heads);
    case nn::AttentionKind::Linformer:
      return std::make_shared<nn::LinformerAttention>(dim, heads, tokens, std::min(c.linformer_k, tokens));
    case nn::AttentionKind::Performer:
      // Each layer draws its own features: the seed names the block.
      return std::make_shared<nn::PerformerAttention>(dim, heads, c.performer_features, c.performer_redraw,
                                                      static_cast<uint64_t>(1000 + block));
    case nn::AttentionKind::Nystrom:
      return std::make_shared<nn::NystromAttention>(dim, heads, c.num_landmarks, c.nystrom_pinv_iterations,
                                                    c.nystrom_conv_kernel);
  }
  throw Error("make_stage_attention: unknown attention kind");
}

SoftEncoderLayer::SoftEncoderLayer(std::shared_ptr<nn::TokenAttention> attention, int64_t dim, double drop) {
  mha = register_module("mha", std::move(attention));
  norm1 = register_module("norm1", std::make_shared<nn::LayerNorm>(dim, 1e-5));
  ff1 = register_module("ff1", std::make_shared<nn::Linear>(dim, 4 * dim));
  ff2 = register_module("ff2", std::make_shared<nn::Linear>(4 * dim, dim));
  norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(dim, 1e-5));
  dropout1 = register_module("dropout1", std::make_shared<nn::Dropout>(drop));
  dropout2 = register_module("dropout2", std::make_shared<nn::Dropout>(drop));
}

Tensor SoftEncoderLayer::forward(const Tensor& x, int64_t H, int64_t W) {
  Tensor h = norm1->forward(add(x, dropout1->forward(mha->forward(x, H, W))));
  Tensor f = ff2->forward(gelu(ff1->forward(h), GeluApprox::Tanh));
  return norm2->forward(add(h, dropout2->forward(f)));
}

SoftBlock::SoftBlock(std::shared_ptr<nn::TokenAttention> attention, int64_t dim, double drop) {
  att = register_module("att", std::make_shared<SoftEncoderLayer>(std::move(attention), dim, drop));
}

SoftmaxBlock::SoftmaxBlock(int64_t dim, int64_t heads, int64_t mlp_ratio, double drop, double drop_path_p) {
  norm1 = register_module("norm1", std::make_shared<nn::LayerNorm>(dim, 1e-6));
  attn = register_module("attn", std::make_shared<nn::Attention>(dim, heads, 0.0, drop));
  drop_path = register_module("drop_path", std::make_shared<nn::DropPath>(drop_path_p));
  norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(dim, 1e-6));
  mlp = register_module("mlp", std::make_shared<nn::Mlp>(dim, mlp_ratio * dim, GeluApprox::None, drop));
}

Tensor SoftmaxBlock::forward(const Tensor& x) {
  Tensor y = add(x, drop_path->forward(attn->forward(norm1->forward(x))));
  return add(y, drop_path->forward(mlp->forward(norm2->forward(y))));
}

SoftModel::SoftModel(const SoftConfig& c) : config_(c) {
  const auto& dims = c.embed_dims;
  // Drop rates rise linearly over all blocks of all four stages (stochastic depth rule).
  int64_t total = c.depths[0] + c.depths[1] + c.depths[2] + c.depths[3];
  auto drop_of = [&](int64_t block) {
    return total > 1 ? static_cast<double>(static_cast<float>(c.drop_path_rate * block / (total - 1))) : 0.0;
  };

  // Registration order matches the official state_dict: own parameters first, then children.
  for (int s = 0; s < 4; ++s) {
    int64_t g = c.pos_embed_grids[s];
    Shape shape = {1, g * g + (s == 3 ? 1 : 0), dims[s]};
    pos_embed_[s] = register_parameter("pos_embed" + std::to_string(s + 1), nn::init::trunc_normal(shape, 0.02));
  }
  cls_token_ = register_parameter("cls_token", nn::init::trunc_normal({1, 1, dims[3]}, 0.02));

  patch_embed_[0] = register_module("patch_embed1", std::make_shared<PatchEmbed>(std::vector<std::array<int64_t, 3>>{
      {c.in_chans, c.stem_width, c.stem_strides[0]},
      {c.stem_width, c.stem_width, c.stem_strides[1]},
      {c.stem_width, dims[0], c.stem_strides[2]}}));
  for (int s = 1; s < 4; ++s)
    patch_embed_[s] = register_module("patch_embed" + std::to_string(s + 1),
                                      std::make_shared<PatchEmbed>(std::vector<std::array<int64_t, 3>>{
                                          {dims[s - 1], dims[s], c.patch_strides[s - 1]}}));
  for (int s = 0; s < 3; ++s)
    pos_drop_[s] = register_module("pos_drop" + std::to_string(s + 1), std::make_shared<nn::Dropout>(c.drop_rate));

  int64_t block = 0;
  for (int s = 0; s < 4; ++s) {
    blocks_[s] = register_module("block" + std::to_string(s + 1), std::make_shared<nn::ModuleList>());
    for (int64_t i = 0; i < c.depths[s]; ++i, ++block) {
      if (s < 3) {
        blocks_[s]->push_back(
            std::make_shared<SoftBlock>(make_stage_attention(c, s, block), dims[s], drop_of(block)));
      } else {
        blocks_[s]->push_back(
            std::make_shared<SoftmaxBlock>(dims[3], c.num_heads[3], c.mlp_ratio_stage4, c.drop_rate, drop_of(block)));
      }
    }
  }
  norm_ = register_module("norm", std::make_shared<nn::LayerNorm>(dims[3], 1e-6));
  head_ = register_module("head", std::make_shared<nn::Linear>(dims[3], c.num_classes));
}

Tensor SoftModel::position_embedding(int stage, int64_t H, int64_t W) {
  int64_t g = config_.pos_embed_grids[stage], C = config_.embed_dims[stage];
  Tensor pe = pos_embed_[stage];
  Tensor cls_entry;
  if (stage == 3) {
    cls_entry = slice(pe, 1, 0, 1);  // the cls entry is never resized
    pe = slice(pe, 1, 1, 1 + g * g);
  }
  Tensor grid = permute(reshape(pe, {1, g, g, C}), {0, 3, 1, 2});                     // [1, C, g, g]
  Tensor resized = transpose(flatten(interpolate_bilinear(grid, H, W), 2), 1, 2);     // [1, H*W, C]
  return stage == 3 ? cat({cls_entry, resized}, 1) : resized;
}

Tensor SoftModel::features(const Tensor& images) {
  SOFT_CHECK(images.dim() == 4 && images.size(1) == config_.in_chans, config_.name, ": input must be [B, ",
             config_.in_chans, ", H, W], got ", shape_str(images.shape()));
  int64_t B = images.size(0);
  Tensor x = images;
  for (int s = 0; s < 3; ++s) {
    Tensor map = patch_embed_[s]->forward(x);                                          // [B, C, H, W]
    int64_t C = map.size(1), H = map.size(2), W = map.size(3);
    Tensor tokens = transpose(flatten(map, 2), 1, 2);                                  // [B, N, C]
    tokens = pos_drop_[s]->forward(add(tokens, position_embedding(s, H, W)));
    for (size_t i = 0; i < blocks_[s]->size(); ++i) tokens = blocks_[s]->at<SoftBlock>(i).forward(tokens, H, W);
    x = permute(reshape(tokens, {B, H, W, C}), {0, 3, 1, 2});                          // [B, C, H, W]
  }
  Tensor map = patch_embed_[3]->forward(x);
  int64_t C = map.size(1), H = map.size(2), W = map.size(3);
  Tensor tokens = cat({expand(cls_token_, {B, 1, C}), transpose(flatten(map, 2), 1, 2)}, 1);  // [B, 1+N, C]
  tokens = add(tokens, position_embedding(3, H, W));
  for (size_t i = 0; i < blocks_[3]->size(); ++i) tokens = blocks_[3]->at<SoftmaxBlock>(i).forward(tokens);
  return norm_->forward(squeeze(slice(tokens, 1, 0, 1), 1));                          // cls token [B, C]
}

Tensor SoftModel::forward(const Tensor& images) { return head_->forward(features(images)); }

}  // namespace soft::models
