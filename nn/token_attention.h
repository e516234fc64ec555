#pragma once
// The one interface of the attentions a stage 1-3 block can hold (docs/ATTENTION_ZOO.md): tokens
// on an H x W grid in, the same shape out. The model config's "attention" key picks the kind.
#include <string>

#include "nn/module.h"

namespace soft::nn {

enum class AttentionKind { Soft, Softmax, Linformer, Performer, Nystrom };
enum class LandmarkKind { Conv, Pool };  // SOFT: stride-r conv (m = N / r^2) or adaptive pooling to m

AttentionKind parse_attention_kind(const std::string& name);  // "soft", "softmax", ...; throws naming it
std::string attention_kind_name(AttentionKind kind);

class TokenAttention : public Module {
 public:
  using Module::forward;
  virtual Tensor forward(const Tensor& x, int64_t H, int64_t W) = 0;  // [B, N, C] -> [B, N, C], N = H * W
};

}  // namespace soft::nn
