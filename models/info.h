#pragma once
// What a SOFT model is made of at a given input size, computed analytically from its config (no
// model is built): the token grid, tokens and landmarks of every stage, the parameter count (equal
// to SoftModel(config).num_parameters(); a test checks it) and the multiply-accumulates (MACs) of
// one forward pass of one image. `soft info` prints it.
//
// How MACs are counted (kMacConvention): one multiply-add = 1 MAC, for one image.
//   counted:  every convolution, Cout * Cin/groups * kh * kw * Ho * Wo (stem, patch embeddings,
//             landmark convs, local depthwise convs); every Linear, in * out per token;
//             SOFT attention, per head: Gaussian kernels as squared distances, N*m*d (K1) and
//             m*m*d (K2); the Newton iterations as the code runs them, V P then (V P) V, 2 m^3 per
//             iteration (the NeurIPS form also its one residual product P V, m^3; the data-
//             dependent halvings of alpha are not counted); the products K1 K2^+ (N*m*m),
//             K1^T V (N*m*d) and (K1 K2^+)(K1^T V) (N*m*d); stage-4 softmax attention, per head:
//             Q K^T (n*n*d) and A V (n*n*d) over the n = N + 1 tokens.
//           the other attentions of stages 1-3 (docs/ATTENTION_ZOO.md), per head ("zoo_products"):
//             softmax 2 N^2 d; Linformer E K, F V (2 k N d), Q K'^T and A V' (2 N k d);
//             Performer the feature maps (2 N M d), phi(K)^T V and phi(Q)(...) (2 N M d), the
//             normaliser N M; Nystromformer the segment means (2 m N d), its three kernels
//             (N m d + m^2 d + m N d), 4 m^3 per pinv iteration, K1 pinv (N m^2), K3 V (m N d)
//             and the last product (N m d); their (k x 1) conv skip is a local conv (h k N d);
//             SOFT's pooled landmarks (m N d) count as landmark_convs.
//   not counted: element-wise ops (exp, GELU, ReLU, softmax, residual adds, scaling, bias adds),
//             LayerNorm, BatchNorm, position-embedding resizing, the alpha of the Newton start,
//             SOFT-Norm's row sums and scaling.
#include <array>
#include <string>

#include "models/config.h"

namespace soft::models {

extern const char* const kMacConvention;

// MACs of one image by kind of work; total() is their sum.
struct MacCount {
  int64_t embed_convs = 0;       // stem and patch-embedding 3x3 convs
  int64_t linears = 0;           // every Linear (projections, feed-forward layers, head)
  int64_t landmark_convs = 0;    // SOFT: the stride-r conv giving the landmarks
  int64_t local_convs = 0;       // SOFT: the depthwise k x k conv over the values
  int64_t gaussian_kernels = 0;  // SOFT: distances of K1 and K2
  int64_t newton = 0;            // SOFT: the Newton iterations towards K2^+
  int64_t soft_products = 0;     // SOFT: K1 K2^+, K1^T V and their product
  int64_t softmax_products = 0;  // stage 4: Q K^T and A V
  int64_t zoo_products = 0;      // stages 1-3 with another attention than SOFT (see above)
  int64_t total() const;
  MacCount& operator+=(const MacCount& o);
};

struct StageInfo {
  int stage = 0;                 // 1..4
  int64_t grid_h = 0, grid_w = 0;
  int64_t tokens = 0;            // H * W (stage 4 also has the cls token: tokens + 1 in attention)
  bool cls_token = false;
  int64_t landmarks = 0;         // SOFT: m = floor(H/r) * floor(W/r) (conv) or the pooled grid; Nystromformer:
                                 // its m (at most N); else 0
  std::string attention;         // the kind (stage 4: always "softmax")
  std::string attention_detail;  // its settings in words ("r=8 local 9x9", "k=256", ...)
  int64_t dim = 0, heads = 0, head_dim = 0, depth = 0;
  int64_t landmark_stride = 0;   // r (stages 1-3)
  int64_t local_kernel = 0;      // k (stages 1-3)
  int64_t mlp_hidden = 0;        // width of the feed-forward layer
  int64_t parameters = 0;        // patch embedding, position embedding (and cls token), blocks
  MacCount macs;                 // patch embedding and blocks
};

struct ModelInfo {
  std::string name;
  int64_t img_h = 0, img_w = 0, in_chans = 0, num_classes = 0;
  std::array<StageInfo, 4> stages;
  int64_t head_parameters = 0;   // final norm and classifier
  MacCount head_macs;            // the classifier on the cls token
  int64_t parameters = 0;        // everything trainable (BatchNorm running statistics excluded)
  MacCount macs;                 // whole forward pass of one image
};

// Throws soft::Error when an img_h x img_w input is too small for the model: the token grid of
// every stage 1-3 that has blocks must hold at least one landmark window (H >= r and W >= r) when
// the attention is SOFT with conv landmarks; Linformer's fixed token count must match the image.
void check_image_size(const SoftConfig& config, int64_t img_h, int64_t img_w);

// The model of `config` on img_h x img_w images (checked with check_image_size). Throws soft::Error
// when a MAC count does not fit in int64 (in-range configs on images of tens of thousands of pixels).
ModelInfo describe_model(const SoftConfig& config, int64_t img_h, int64_t img_w);

}  // namespace soft::models
