#include "models/info.h"

#include <algorithm>

#include "nn/soft_attention.h"

namespace soft::models {

const char* const kMacConvention =
    "1 MAC = one multiply-add, one image. Counted: convolutions (Cout*Cin/groups*kh*kw*Ho*Wo), "
    "Linear layers (in*out per token), SOFT attention per head: Gaussian kernel distances "
    "(N*m*d for K1, m*m*d for K2), Newton iterations (V*P then (V*P)*V: 2*m^3 each; NeurIPS form "
    "also its one residual product, m^3), K1*K2inv (N*m*m), K1^T*V (N*m*d), their product "
    "(N*m*d); stage-4 softmax attention per head: Q*K^T and A*V (n*n*d each, n = N+1); other "
    "stage 1-3 attentions as models/info.h lists (zoo_products). "
    "Not counted: element-wise ops (exp, GELU, ReLU, softmax, adds, bias), LayerNorm, "
    "BatchNorm, position-embedding resizing.";

namespace {

// A MAC count past int64: an Error, which describe_model replaces with one naming the model and
// the image size.
struct MacOverflow : Error {
  MacOverflow() : Error("a multiply-accumulate count overflows int64") {}
};

// An int64 MAC count whose products and sums throw MacOverflow instead of wrapping. The token and
// landmark counts grow with the image, up to 65536^2 in range, and N * m * m or m^3 of a huge
// image pass 2^63; so they are Macs, and every product with one is checked. Products of widths,
// heads and kernel sizes alone stay below 2^45 for every config in range (models/config.cpp).
class Mac {
 public:
  Mac(int64_t v) : v_(v) {}  // implicit: sizes and literals mix into the formulas
  int64_t value() const { return v_; }
  friend Mac operator*(Mac a, Mac b) {
    int64_t r;
    if (__builtin_mul_overflow(a.v_, b.v_, &r)) throw MacOverflow();
    return r;
  }
  friend Mac operator+(Mac a, Mac b) {
    int64_t r;
    if (__builtin_add_overflow(a.v_, b.v_, &r)) throw MacOverflow();
    return r;
  }
  friend int64_t& operator+=(int64_t& count, Mac add) { return count = (Mac(count) + add).value(); }

 private:
  int64_t v_;
};

// A 3x3 conv with padding 1 and stride s maps n to ceil(n / s) (as SoftConfig::grids).
int64_t down(int64_t n, int64_t s) { return (n + s - 1) / s; }

int64_t linear_params(int64_t in, int64_t out) { return in * out + out; }
// conv3x3 with bias, then BatchNorm (weight and bias; its running statistics are buffers).
int64_t conv_bn_params(int64_t in, int64_t out) { return out * in * 9 + out + 2 * out; }
Mac conv3x3_macs(int64_t in, int64_t out, Mac ho, Mac wo) { return out * in * 9 * ho * wo; }

// The SOFT attention of one block.
void add_soft_attention(const SoftConfig& c, StageInfo& st) {
  int64_t C = st.dim, h = st.heads, d = st.head_dim, r = st.landmark_stride, k = st.local_kernel;
  Mac N = st.tokens, m = st.landmarks;
  // W_q, W_v, ff (C -> C); landmark conv [d, d, r, r] without bias and its LayerNorm(d) (pooled
  // landmarks: none); local conv [h, 1, k, k] without bias.
  st.parameters += 3 * linear_params(C, C) + h * k * k;
  MacCount& mac = st.macs;
  mac.linears += N * (3 * C * C);
  if (c.landmarks == nn::LandmarkKind::Conv) {
    st.parameters += d * d * r * r + 2 * d;
    mac.landmark_convs += h * (d * d * r * r * m);  // the heads are batch items of one d -> d conv
  } else {
    mac.landmark_convs += h * (m * N * d);          // pooling as a product with the [m, N] window means
  }
  mac.local_convs += d * (h * k * k * N);         // d batch items of an h -> h conv with groups h
  mac.gaussian_kernels += h * (N * m * d + m * m * d);
  mac.newton += h * (2 * c.newton_iterations * m * m * m);
  if (c.newton_form == NewtonForm::NeurIPS) mac.newton += h * m * m * m;  // the first residual P V
  mac.soft_products += h * (N * m * m + N * m * d + N * m * d);
}

// Another kind's attention of one block: q (C -> C), kv (C -> 2C), proj (C -> C) and its own parts.
void add_zoo_attention(const SoftConfig& c, StageInfo& st) {
  int64_t C = st.dim, h = st.heads, d = st.head_dim;
  Mac N = st.tokens;
  st.parameters += linear_params(C, C) + linear_params(C, 2 * C) + linear_params(C, C);
  MacCount& mac = st.macs;
  mac.linears += N * (4 * C * C);
  switch (c.attention) {
    case nn::AttentionKind::Softmax: mac.zoo_products += h * (2 * N * N * d); break;
    case nn::AttentionKind::Linformer: {
      Mac k = std::min(c.linformer_k, st.tokens);
      st.parameters += 2 * (k * N).value();  // E and F [k, N], no bias
      mac.zoo_products += h * (2 * k * N * d + 2 * N * k * d);
      break;
    }
    case nn::AttentionKind::Performer: {
      Mac M = c.performer_features;
      mac.zoo_products += h * (2 * N * M * d + 2 * N * M * d + N * M);
      break;
    }
    case nn::AttentionKind::Nystrom: {
      Mac m = st.landmarks, kc = c.nystrom_conv_kernel;
      st.parameters += h * c.nystrom_conv_kernel;  // the (k x 1) depthwise conv, no bias
      mac.local_convs += h * (kc * N * d);
      mac.zoo_products += h * (2 * m * N * d + N * m * d + m * m * d + m * N * d +
                               4 * c.nystrom_pinv_iterations * m * m * m + N * m * m + m * N * d + N * m * d);
      break;
    }
    case nn::AttentionKind::Soft: break;
  }
}

// One post-LN block of stages 1-3: its attention, norm1, norm2, ff1 (C -> 4C), ff2 (4C -> C).
void add_stage_block(const SoftConfig& c, StageInfo& st) {
  int64_t C = st.dim, hidden = st.mlp_hidden;
  if (c.attention == nn::AttentionKind::Soft) add_soft_attention(c, st);
  else add_zoo_attention(c, st);
  st.parameters += linear_params(C, hidden) + linear_params(hidden, C) + 4 * C;
  st.macs.linears += Mac(st.tokens) * (2 * C * hidden);
}

// One pre-LN softmax block (stage 4) over n = tokens + 1 (cls) tokens.
void add_softmax_block(StageInfo& st) {
  int64_t C = st.dim, h = st.heads, d = st.head_dim, hidden = st.mlp_hidden;
  Mac n = st.tokens + 1;
  // norm1, norm2; q (C -> C), kv (C -> 2C), proj (C -> C), fc1 (C -> hidden), fc2 (hidden -> C).
  st.parameters += 4 * C + linear_params(C, C) + linear_params(C, 2 * C) + linear_params(C, C) +
                   linear_params(C, hidden) + linear_params(hidden, C);
  st.macs.linears += n * (4 * C * C + 2 * C * hidden);
  st.macs.softmax_products += h * (2 * n * n * d);
}

}  // namespace

int64_t MacCount::total() const {
  return (Mac(embed_convs) + linears + landmark_convs + local_convs + gaussian_kernels + newton + soft_products +
          softmax_products + zoo_products)
      .value();
}

MacCount& MacCount::operator+=(const MacCount& o) {
  embed_convs += Mac(o.embed_convs);
  linears += Mac(o.linears);
  landmark_convs += Mac(o.landmark_convs);
  local_convs += Mac(o.local_convs);
  gaussian_kernels += Mac(o.gaussian_kernels);
  newton += Mac(o.newton);
  soft_products += Mac(o.soft_products);
  softmax_products += Mac(o.softmax_products);
  zoo_products += Mac(o.zoo_products);
  return *this;
}

void check_image_size(const SoftConfig& c, int64_t img_h, int64_t img_w) {
  SOFT_CHECK(img_h > 0 && img_w > 0, c.name, ": image size ", img_h, "x", img_w, " must be positive");
  if (c.attention == nn::AttentionKind::Linformer) {
    auto g = c.grids(img_h, img_w), built = c.grids(c.img_size, c.img_size);
    for (int s = 0; s < 3; ++s)
      SOFT_CHECK(c.depths[s] == 0 || g[s] == built[s], c.name, ": Linformer's projections are sized for img_size ",
                 c.img_size, " (stage ", s + 1, " ", built[s][0], "x", built[s][1], " tokens); a ", img_h, "x", img_w,
                 " image gives ", g[s][0], "x", g[s][1]);
  }
  if (c.attention != nn::AttentionKind::Soft || c.landmarks == nn::LandmarkKind::Pool) return;
  auto fits = [&](int64_t h, int64_t w) {
    auto g = c.grids(h, w);
    for (int s = 0; s < 3; ++s)
      if (c.depths[s] > 0 && (g[s][0] < c.landmark_strides[s] || g[s][1] < c.landmark_strides[s])) return s;
    return -1;
  };
  int bad = fits(img_h, img_w);
  if (bad < 0) return;
  int64_t smallest = 1;  // grids grow with the input, so the first size that fits is the smallest
  while (fits(smallest, smallest) >= 0) ++smallest;
  auto g = c.grids(img_h, img_w)[bad];
  throw Error(detail::concat(c.name, ": a ", img_h, "x", img_w, " image gives stage ", bad + 1, " a ", g[0], "x",
                             g[1], " token grid, smaller than its landmark stride ", c.landmark_strides[bad],
                             "; the smallest square image this model takes is ", smallest, "x", smallest));
}

namespace {

// The kind's settings of a stage 1-3: landmarks, stride, kernel, and the words for them.
void describe_attention(const SoftConfig& c, StageInfo& st, int s) {
  using nn::AttentionKind;
  auto str = [](int64_t v) { return std::to_string(v); };
  switch (c.attention) {
    case AttentionKind::Soft:
      st.local_kernel = c.local_kernels[s];
      if (c.landmarks == nn::LandmarkKind::Conv) {
        st.landmark_stride = c.landmark_strides[s];
        st.landmarks = (st.grid_h / st.landmark_stride) * (st.grid_w / st.landmark_stride);
        st.attention_detail = "r=" + str(st.landmark_stride);
      } else {
        int64_t side = nn::landmark_pool_side(c.num_landmarks);
        st.landmarks = std::min(st.grid_h, side) * std::min(st.grid_w, side);
        st.attention_detail = "pool";
      }
      st.attention_detail += " local " + str(st.local_kernel) + "x" + str(st.local_kernel);
      break;
    case AttentionKind::Softmax: st.attention_detail = "full N x N"; break;
    case AttentionKind::Linformer: st.attention_detail = "k=" + str(std::min(c.linformer_k, st.tokens)); break;
    case AttentionKind::Performer: st.attention_detail = "M=" + str(c.performer_features); break;
    case AttentionKind::Nystrom:
      st.landmarks = std::min(c.num_landmarks, st.tokens);
      st.local_kernel = c.nystrom_conv_kernel;
      st.attention_detail = "pinv x" + str(c.nystrom_pinv_iterations) + " conv " + str(c.nystrom_conv_kernel) + "x1";
      break;
  }
}

// describe_model's counts; throws MacOverflow.
ModelInfo count_model(const SoftConfig& c, int64_t img_h, int64_t img_w) {
  ModelInfo info;
  info.name = c.name;
  info.img_h = img_h;
  info.img_w = img_w;
  info.in_chans = c.in_chans;
  info.num_classes = c.num_classes;
  auto grids = c.grids(img_h, img_w);

  for (int s = 0; s < 4; ++s) {
    StageInfo& st = info.stages[s];
    st.stage = s + 1;
    st.grid_h = grids[s][0];
    st.grid_w = grids[s][1];
    st.tokens = st.grid_h * st.grid_w;
    st.cls_token = s == 3;
    st.dim = c.embed_dims[s];
    st.heads = c.num_heads[s];
    st.head_dim = st.dim / st.heads;
    st.depth = c.depths[s];
    st.attention = s < 3 ? nn::attention_kind_name(c.attention) : "softmax";
    st.mlp_hidden = s < 3 ? 4 * st.dim : c.mlp_ratio_stage4 * st.dim;  // stages 1-3: 4C whatever the config
    if (s < 3) describe_attention(c, st, s);
    // Position embedding at its stored size (stage 4: one extra cls entry), and the cls token.
    int64_t g = c.pos_embed_grids[s];
    st.parameters += (g * g + (s == 3 ? 1 : 0)) * st.dim + (s == 3 ? st.dim : 0);
  }

  // Stage 1's embedding: the three-conv stem; stages 2-4: one conv each.
  int64_t h = img_h, w = img_w, in = c.in_chans;
  std::array<int64_t, 3> stem_out{c.stem_width, c.stem_width, c.embed_dims[0]};
  for (int i = 0; i < 3; ++i) {
    h = down(h, c.stem_strides[i]);
    w = down(w, c.stem_strides[i]);
    info.stages[0].parameters += conv_bn_params(in, stem_out[i]);
    info.stages[0].macs.embed_convs += conv3x3_macs(in, stem_out[i], h, w);
    in = stem_out[i];
  }
  for (int s = 1; s < 4; ++s) {
    StageInfo& st = info.stages[s];
    st.parameters += conv_bn_params(c.embed_dims[s - 1], st.dim);
    st.macs.embed_convs += conv3x3_macs(c.embed_dims[s - 1], st.dim, st.grid_h, st.grid_w);
  }

  for (int s = 0; s < 4; ++s)
    for (int64_t i = 0; i < c.depths[s]; ++i) {
      if (s < 3) add_stage_block(c, info.stages[s]);
      else add_softmax_block(info.stages[s]);
    }

  int64_t C4 = c.embed_dims[3];
  info.head_parameters = 2 * C4 + linear_params(C4, c.num_classes);  // final LayerNorm, classifier
  info.head_macs.linears = C4 * c.num_classes;                        // on the cls token only
  info.parameters = info.head_parameters;
  info.macs = info.head_macs;
  for (const StageInfo& st : info.stages) {
    info.parameters += st.parameters;
    info.macs += st.macs;
  }
  info.macs.total();  // checked here, so that total() of a described model never throws
  return info;
}

}  // namespace

ModelInfo describe_model(const SoftConfig& c, int64_t img_h, int64_t img_w) {
  check_image_size(c, img_h, img_w);
  try {
    return count_model(c, img_h, img_w);
  } catch (const MacOverflow&) {
    throw Error(detail::concat(c.name, ": the multiply-accumulates of one ", img_h, "x", img_w,
                               " image overflow int64 (more than 9.2e18); a smaller image can be counted"));
  }
}

}  // namespace soft::models
