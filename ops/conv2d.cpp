// 2-D convolution (dilation 1) and its two gradients. Three CPU paths:
//   depthwise, stride 1 (groups == Cin, Cout a multiple): direct kernels on a zero-padded copy
//     of each plane, no im2col (SOFT's 9x9/5x5/3x3 convs over many small-channel planes);
//   1x1, stride 1, no padding: x itself is the column matrix, one gemm per (batch, group);
//   general (strided depthwise included): im2col of a block into a bounded buffer, then gemm; a
//     block is several whole batch items side by side when one item's columns are few (the
//     small planes of the later stages: one 2x2 or 4x4 plane per gemm left its register tiles
//     nearly empty), else a band of output rows of one item. A stride-1 gradient with respect to
//     the input is a forward convolution with the flipped weight.
// Batch items run in parallel when there are enough of them to occupy the threads (each gemm
// then runs single-threaded); otherwise one at a time, with the threads inside gemm and im2col.
#include <algorithm>
#include <vector>

#include "autograd/node.h"
#include "core/parallel.h"
#include "ops/dispatch.h"
#include "ops/gemm.h"
#include "ops/ops.h"

namespace soft {
namespace {

constexpr int64_t kColBudget = 1 << 18;  // elements of one im2col band (1 MiB in float32)
constexpr int64_t kBlockBudget = 1 << 17;  // elements of a block of items' columns and outputs
constexpr int64_t kWidePlane = 128;        // output pixels from which one item per block suffices
constexpr int64_t kGrainMacs = 32768;    // multiply-adds per thread below which threads do not pay
constexpr int64_t kTapBlock = 1024;      // depthwise: elements of a plane all taps visit while in L1
constexpr int64_t kLanes = 16;           // depthwise weight gradient: partial sums per tap

struct ConvGeom {
  int64_t B, Cin, H, W, Cout, kh, kw, Ho, Wo, sh, sw, ph, pw, G;
  int64_t cin_g() const { return Cin / G; }
  int64_t cout_g() const { return Cout / G; }
  int64_t K() const { return cin_g() * kh * kw; }  // rows of the column matrix
  bool depthwise() const { return G == Cin && sh == 1 && sw == 1; }  // the direct path
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  // Output rows per im2col band, so that the band [K, rows * Wo] stays within kColBudget.
  int64_t band_rows() const { return std::clamp<int64_t>(kColBudget / std::max<int64_t>(K() * Wo, 1), 1, Ho); }
  // Batch items per im2col block: as many whole items as keep the block's column matrix and its
  // [Cout/G, cols] output in L2 (kBlockBudget), or 1 (in bands of kColBudget).
  int64_t block_items() const {
    if (Ho * Wo >= kWidePlane) return 1;
    return std::max<int64_t>(1, kBlockBudget / std::max<int64_t>((K() + cout_g()) * Ho * Wo, 1));
  }
  // Columns of the largest block.
  int64_t block_cols() const { return block_items() > 1 ? block_items() * Ho * Wo : band_rows() * Wo; }
};

// A block of the im2col path: items [b, b + items) with output rows [oh0, oh1) each (all rows
// when items > 1). Its column matrix is [K, cols()], item i's columns at i * item_cols().
struct Block {
  int64_t b, items, oh0, oh1, Wo;
  int64_t item_cols() const { return (oh1 - oh0) * Wo; }
  int64_t cols() const { return items * item_cols(); }
};

// Calls f(block) for the blocks covering batch items [b0, b1).
template <class F>
void for_blocks(const ConvGeom& g, int64_t b0, int64_t b1, F&& f) {
  int64_t nb = g.block_items(), rows = g.band_rows();
  for (int64_t b = b0; b < b1; b += nb) {
    if (nb > 1) {
      f(Block{b, std::min(nb, b1 - b), 0, g.Ho, g.Wo});
      continue;
    }
    for (int64_t oh0 = 0; oh0 < g.Ho; oh0 += rows) f(Block{b, 1, oh0, std::min(g.Ho, oh0 + rows), g.Wo});
  }
}

// Validates x [B, Cin, H, W] and weight [Cout, Cin/groups, kh, kw] against p, naming `op`.
ConvGeom geometry(const char* op, const Shape& x, const Shape& w, const Conv2dParams& p) {
  SOFT_CHECK(x.size() == 4, op, ": input must have 4 dims [B, Cin, H, W], got shape ", shape_str(x));
  SOFT_CHECK(w.size() == 4, op, ": weight must have 4 dims [Cout, Cin/groups, kh, kw], got shape ", shape_str(w));
  SOFT_CHECK(p.groups >= 1 && p.stride[0] >= 1 && p.stride[1] >= 1 && p.padding[0] >= 0 && p.padding[1] >= 0, op,
             ": needs groups >= 1, stride >= 1 and padding >= 0, got groups ", p.groups, ", stride ", p.stride[0],
             "x", p.stride[1], ", padding ", p.padding[0], "x", p.padding[1]);
  ConvGeom g{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0, p.stride[0], p.stride[1], p.padding[0],
             p.padding[1], p.groups};
  SOFT_CHECK(g.Cin % g.G == 0, op, ": input channels ", g.Cin, " are not divisible by groups ", g.G, " (input ",
             shape_str(x), ")");
  SOFT_CHECK(g.Cout % g.G == 0, op, ": output channels ", g.Cout, " are not divisible by groups ", g.G,
             " (weight ", shape_str(w), ")");
  SOFT_CHECK(w[1] == g.cin_g(), op, ": weight ", shape_str(w), " expects ", w[1], " input channels per group, ",
             "but input ", shape_str(x), " with groups ", g.G, " has ", g.cin_g());
  SOFT_CHECK(g.kh >= 1 && g.kw >= 1 && g.kh <= g.H + 2 * g.ph && g.kw <= g.W + 2 * g.pw, op, ": kernel ", g.kh,
             "x", g.kw, " is larger than the padded input ", g.H + 2 * g.ph, "x", g.W + 2 * g.pw, " (input ",
             shape_str(x), ", weight ", shape_str(w), ", padding ", g.ph, "x", g.pw, ")");
  g.Ho = (g.H + 2 * g.ph - g.kh) / g.sh + 1;
  g.Wo = (g.W + 2 * g.pw - g.kw) / g.sw + 1;
  return g;
}

// Outputs o in [lo, hi) whose input o * stride - pad + k lies in [0, in).
struct Range { int64_t lo, hi; };
Range valid_range(int64_t k, int64_t pad, int64_t stride, int64_t in, int64_t out) {
  int64_t lo = pad > k ? (pad - k + stride - 1) / stride : 0;
  int64_t last = in - 1 + pad - k;
  int64_t hi = last < 0 ? 0 : std::min(out, last / stride + 1);
  return {std::min(lo, hi), hi};
}

template <class T> MatrixRef<const T> cref(const T* p, int64_t rs, int64_t cs) { return {p, rs, cs}; }
template <class T> MatrixRef<T> mref(T* p, int64_t rs, int64_t cs) { return {p, rs, cs}; }

// col [K, (oh1 - oh0) * Wo] (rows ld apart) for output rows [oh0, oh1) of one group: row
// (c, ki, kj) holds x[c, oh * sh - ph + ki, ow * sw - pw + kj], 0 in the padding. x is the
// group's [Cin/G, H, W]. im2col and col2im stay out of line: inlined into the block loops, GCC
// compiled col2im's loop about 1.7x slower (the stride-2 stem conv's input gradient).
template <class T>
[[gnu::noinline]] void im2col(const T* x, const ConvGeom& g, int64_t oh0, int64_t oh1, T* col, int64_t ld) {
  int64_t n = (oh1 - oh0) * g.Wo, kk = g.kh * g.kw;
  parallel_for(0, g.K(), std::max<int64_t>(1, kGrainMacs / n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t c = r / kk, ki = r % kk / g.kw, kj = r % g.kw, off = kj - g.pw;
      Range ow = valid_range(kj, g.pw, g.sw, g.W, g.Wo);
      T* dst = col + r * ld;
      for (int64_t oh = oh0; oh < oh1; ++oh, dst += g.Wo) {
        int64_t ih = oh * g.sh - g.ph + ki;
        if (ih < 0 || ih >= g.H) {
          std::fill(dst, dst + g.Wo, T(0));
          continue;
        }
        const T* row = x + (c * g.H + ih) * g.W;
        std::fill(dst, dst + ow.lo, T(0));
        for (int64_t o = ow.lo; o < ow.hi; ++o) dst[o] = row[o * g.sw + off];
        std::fill(dst + ow.hi, dst + g.Wo, T(0));
      }
    }
  });
}

// The adjoint of im2col: dx [Cin/G, H, W] += col (rows ld apart) scattered back. Parallel over
// input channels, which own disjoint planes of dx.
template <class T>
[[gnu::noinline]] void col2im(const T* col, const ConvGeom& g, int64_t oh0, int64_t oh1, T* dx, int64_t ld) {
  int64_t n = (oh1 - oh0) * g.Wo, kk = g.kh * g.kw;
  parallel_for(0, g.cin_g(), std::max<int64_t>(1, kGrainMacs / (n * kk)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t ki = 0; ki < g.kh; ++ki)
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const T* src = col + ((c * g.kh + ki) * g.kw + kj) * ld;
          Range ow = valid_range(kj, g.pw, g.sw, g.W, g.Wo);
          for (int64_t oh = oh0; oh < oh1; ++oh, src += g.Wo) {
            int64_t ih = oh * g.sh - g.ph + ki;
            if (ih < 0 || ih >= g.H) continue;
            T* row = dx + (c * g.H + ih) * g.W;
            for (int64_t o = ow.lo; o < ow.hi; ++o) row[o * g.sw + kj - g.pw] += src[o];
          }
        }
  });
}

// Into how many chunks to split the batch: one per thread when the batch can occupy every
// thread with enough work each, else 1 (the kernels inside then use the threads themselves).
int64_t batch_chunks(const ConvGeom& g) {
  int64_t threads = num_threads(), macs = g.B * g.Cout * g.Ho * g.Wo * g.K();
  return g.B >= threads && macs >= threads * kGrainMacs ? threads : 1;
}

// Runs body(b0, b1) over batch_chunks(g) contiguous ranges of the batch, in parallel.
template <class F>
void over_batch(const ConvGeom& g, F&& body) {
  int64_t chunks = batch_chunks(g);
  parallel_for(0, g.B, (g.B + chunks - 1) / chunks, body);
}

// The im2col path over batch items [b0, b1) of x: for each block and group, fills the block's
// column matrix col [K, blk.cols()] and calls f(blk, grp, col, buffer), where buffer has room for
// the block's [Cout/G, blk.cols()] matrix when the block spans several items (block_matrix).
template <class T, class F>
void for_column_blocks(const T* x, const ConvGeom& g, int64_t b0, int64_t b1, F&& f) {
  std::vector<T> col(g.K() * g.block_cols()), buffer(g.block_items() > 1 ? g.cout_g() * g.block_cols() : 0);
  for_blocks(g, b0, b1, [&](const Block& blk) {
    for (int64_t grp = 0; grp < g.G; ++grp) {
      for (int64_t i = 0; i < blk.items; ++i)
        im2col(x + ((blk.b + i) * g.Cin + grp * g.cin_g()) * g.H * g.W, g, blk.oh0, blk.oh1,
               col.data() + i * blk.item_cols(), blk.cols());
      f(blk, grp, col.data(), buffer.data());
    }
  });
}

// ---- depthwise, stride 1 ---------------------------------------------------------------------
// With the input plane padded to [Hp, Wp] and the output plane laid out with the same row width
// Wp, output n = oh * Wp + ow reads padded input n + ki * Wp + kj: every tap is one long
// unit-stride multiply-add over N = (Ho - 1) * Wp + Wo elements (run in L1-sized blocks), which
// vectorises fully. The Wp - Wo columns past each output row are scratch: computed and dropped
// in the forward, zero in the gradients. Output channel oc reads input channel oc / (Cout / Cin).

struct Padded {
  int64_t Hp, Wp, N, m;  // m = Cout / Cin output channels per input channel
  explicit Padded(const ConvGeom& g)
      : Hp(g.H + 2 * g.ph), Wp(g.W + 2 * g.pw), N((g.Ho - 1) * Wp + g.Wo), m(g.Cout / g.Cin) {}
  int64_t tap(const ConvGeom& g, int64_t k) const { return k / g.kw * Wp + k % g.kw; }  // offset of tap k
  int64_t grain(const ConvGeom& g) const {  // planes per task
    return std::max<int64_t>(1, kGrainMacs / std::max<int64_t>(1, m * N * g.kh * g.kw));
  }
};

// dst [Hp, Wp] = the plane src [H, W] inside ph rows and pw columns of zeros.
template <class T>
void pad_plane(const T* src, const ConvGeom& g, const Padded& pd, T* dst) {
  std::fill(dst, dst + pd.Hp * pd.Wp, T(0));
  for (int64_t i = 0; i < g.H; ++i) std::copy(src + i * g.W, src + (i + 1) * g.W, dst + (i + g.ph) * pd.Wp + g.pw);
}

// dst [N] = the plane src [Ho, Wo] with rows Wp apart, zeros in between.
template <class T>
void spread_rows(const T* src, const ConvGeom& g, const Padded& pd, T* dst) {
  std::fill(dst, dst + pd.N, T(0));
  for (int64_t oh = 0; oh < g.Ho; ++oh) std::copy(src + oh * g.Wo, src + (oh + 1) * g.Wo, dst + oh * pd.Wp);
}

// y [B, Cout, Ho, Wo]; parallel over input planes, each padded once for its m output channels.
template <class T>
void depthwise_forward(const T* x, const T* w, const T* bias, const ConvGeom& g, T* y) {
  Padded pd(g);
  int64_t kk = g.kh * g.kw;
  parallel_for(0, g.B * g.Cin, pd.grain(g), [&](int64_t p0, int64_t p1) {
    std::vector<T> xpad(pd.Hp * pd.Wp), acc(pd.N);
    for (int64_t p = p0; p < p1; ++p) {
      pad_plane(x + p * g.H * g.W, g, pd, xpad.data());
      for (int64_t oc = p % g.Cin * pd.m; oc < (p % g.Cin + 1) * pd.m; ++oc) {
        std::fill(acc.begin(), acc.end(), bias ? bias[oc] : T(0));
        for (int64_t n0 = 0; n0 < pd.N; n0 += kTapBlock) {
          int64_t n1 = std::min(pd.N, n0 + kTapBlock);
          for (int64_t k = 0; k < kk; ++k) {
            const T* __restrict src = xpad.data() + pd.tap(g, k);
            T* __restrict a = acc.data();
            T wv = w[oc * kk + k];
            for (int64_t n = n0; n < n1; ++n) a[n] += wv * src[n];
          }
        }
        T* yp = y + (p / g.Cin * g.Cout + oc) * g.Ho * g.Wo;
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          std::copy(acc.data() + oh * pd.Wp, acc.data() + oh * pd.Wp + g.Wo, yp + oh * g.Wo);
      }
    }
  });
}

// dx [B, Cin, H, W]: each tap scatters w * gy back onto the padded input plane, whose interior
// is dx. Parallel over input planes, which own their m output channels' contributions.
template <class T>
void depthwise_grad_input(const T* gy, const T* w, const ConvGeom& g, T* dx) {
  Padded pd(g);
  int64_t kk = g.kh * g.kw;
  parallel_for(0, g.B * g.Cin, pd.grain(g), [&](int64_t p0, int64_t p1) {
    std::vector<T> dpad(pd.Hp * pd.Wp), grow(pd.N);
    for (int64_t p = p0; p < p1; ++p) {
      std::fill(dpad.begin(), dpad.end(), T(0));
      for (int64_t oc = p % g.Cin * pd.m; oc < (p % g.Cin + 1) * pd.m; ++oc) {
        spread_rows(gy + (p / g.Cin * g.Cout + oc) * g.Ho * g.Wo, g, pd, grow.data());
        for (int64_t n0 = 0; n0 < pd.N; n0 += kTapBlock) {
          int64_t n1 = std::min(pd.N, n0 + kTapBlock);
          for (int64_t k = 0; k < kk; ++k) {
            T* __restrict dst = dpad.data() + pd.tap(g, k);
            const T* __restrict src = grow.data();
            T wv = w[oc * kk + k];
            for (int64_t n = n0; n < n1; ++n) dst[n] += wv * src[n];
          }
        }
      }
      T* xp = dx + p * g.H * g.W;
      for (int64_t i = 0; i < g.H; ++i) {
        const T* row = dpad.data() + (i + g.ph) * pd.Wp + g.pw;
        std::copy(row, row + g.W, xp + i * g.W);
      }
    }
  });
}

// dw [Cout, 1, kh, kw]: tap k of oc is the dot product of gy[b, oc] with the padded input plane
// shifted by the tap, summed over the batch. The input planes are split into one chunk per
// thread; each dot product runs in kLanes partial sums (so it vectorises), and each plane's
// sums are folded into the chunk's float64 partial dw, reduced over the chunks at the end.
template <class T>
void depthwise_grad_weight(const T* gy, const T* x, const ConvGeom& g, T* dw) {
  Padded pd(g);
  int64_t kk = g.kh * g.kw, planes = g.B * g.Cin, wn = g.Cout * kk;
  int64_t max_chunks = std::max<int64_t>(1, std::min<int64_t>(num_threads(), planes));
  int64_t chunks = std::clamp<int64_t>(planes / pd.grain(g), 1, max_chunks);
  std::vector<std::vector<double>> partial(chunks, std::vector<double>(wn, 0.0));
  parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    std::vector<T> xpad(pd.Hp * pd.Wp), grow(pd.N), lanes(kk * kLanes);
    for (int64_t chunk = k0; chunk < k1; ++chunk)
      for (int64_t p = planes * chunk / chunks; p < planes * (chunk + 1) / chunks; ++p) {
        pad_plane(x + p * g.H * g.W, g, pd, xpad.data());
        for (int64_t oc = p % g.Cin * pd.m; oc < (p % g.Cin + 1) * pd.m; ++oc) {
          spread_rows(gy + (p / g.Cin * g.Cout + oc) * g.Ho * g.Wo, g, pd, grow.data());
          std::fill(lanes.begin(), lanes.end(), T(0));
          for (int64_t n0 = 0; n0 < pd.N; n0 += kTapBlock) {
            int64_t n1 = std::min(pd.N, n0 + kTapBlock), full = n0 + (n1 - n0) / kLanes * kLanes;
            for (int64_t k = 0; k < kk; ++k) {
              const T* __restrict src = xpad.data() + pd.tap(g, k);
              const T* __restrict gr = grow.data();
              T part[kLanes] = {};  // a local array: held in registers (the compiler does not keep acc there)
              for (int64_t n = n0; n < full; n += kLanes)
                for (int64_t l = 0; l < kLanes; ++l) part[l] += gr[n + l] * src[n + l];
              for (int64_t n = full; n < n1; ++n) part[n - full] += gr[n] * src[n];
              T* acc = lanes.data() + k * kLanes;
              for (int64_t l = 0; l < kLanes; ++l) acc[l] += part[l];
            }
          }
          for (int64_t k = 0; k < kk; ++k)
            for (int64_t l = 0; l < kLanes; ++l) partial[chunk][oc * kk + k] += lanes[k * kLanes + l];
        }
      }
  });
  for (int64_t i = 0; i < wn; ++i) {
    double s = 0;
    for (const std::vector<double>& part : partial) s += part[i];
    dw[i] = static_cast<T>(s);
  }
}

// ---- forward ------------------------------------------------------------------------------

// A block's [Cout/G, cols] matrix of group grp of the maps y [B, Cout, Ho * Wo] (item i's
// columns at i * item_cols): for one item, y itself (rows Ho * Wo apart); for several, `buffer`
// (rows cols apart), which gather_block fills from y and scatter_block writes back.
template <class T>
MatrixRef<T> block_matrix(T* y, T* buffer, const ConvGeom& g, const Block& blk, int64_t grp) {
  if (blk.items > 1) return {buffer, blk.cols(), 1};
  return {y + (blk.b * g.Cout + grp * g.cout_g()) * g.Ho * g.Wo + blk.oh0 * g.Wo, g.Ho * g.Wo, 1};
}

template <class T>
MatrixRef<const T> gather_block(const T* y, T* buffer, const ConvGeom& g, const Block& blk, int64_t grp) {
  MatrixRef<T> m = block_matrix(const_cast<T*>(y), buffer, g, blk, grp);
  if (blk.items > 1) {
    int64_t cog = g.cout_g(), plane = g.Ho * g.Wo, wi = blk.item_cols();
    for (int64_t o = 0; o < cog; ++o)
      for (int64_t i = 0; i < blk.items; ++i) {
        const T* src = y + ((blk.b + i) * g.Cout + grp * cog + o) * plane;
        std::copy(src, src + wi, buffer + o * m.row_stride + i * wi);
      }
  }
  return {m.data, m.row_stride, m.col_stride};
}

// y's block (computed in m = block_matrix(y, ...)) plus the bias.
template <class T>
void scatter_block(MatrixRef<const T> m, const T* bias, const ConvGeom& g, const Block& blk, int64_t grp, T* y) {
  int64_t cog = g.cout_g(), plane = g.Ho * g.Wo, wi = blk.item_cols();
  for (int64_t o = 0; o < cog; ++o) {
    T add = bias ? bias[grp * cog + o] : T(0);
    if (blk.items == 1 && add == T(0)) continue;  // already in place
    for (int64_t i = 0; i < blk.items; ++i) {
      const T* src = m.data + o * m.row_stride + i * wi;
      T* dst = y + ((blk.b + i) * g.Cout + grp * cog + o) * plane + blk.oh0 * g.Wo;
      for (int64_t j = 0; j < wi; ++j) dst[j] = src[j] + add;
    }
  }
}

template <class T>
void conv_forward(const T* x, const T* w, const T* bias, const ConvGeom& g, T* y) {
  if (g.depthwise()) return depthwise_forward(x, w, bias, g, y);
  int64_t K = g.K(), cog = g.cout_g(), plane = g.Ho * g.Wo;
  over_batch(g, [&](int64_t b0, int64_t b1) {
    if (g.pointwise()) {  // x itself is the column matrix
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t grp = 0; grp < g.G; ++grp) {
          T* yg = y + (b * g.Cout + grp * cog) * plane;  // [Cout/G, Ho * Wo]
          if (bias)
            for (int64_t o = 0; o < cog; ++o) std::fill(yg + o * plane, yg + (o + 1) * plane, bias[grp * cog + o]);
          gemm<T>(cog, plane, K, T(1), cref(w + grp * cog * K, K, 1),
                  cref(x + (b * g.Cin + grp * g.cin_g()) * g.H * g.W, plane, 1), bias ? T(1) : T(0),
                  mref(yg, plane, 1));
        }
      return;
    }
    for_column_blocks(x, g, b0, b1, [&](const Block& blk, int64_t grp, const T* col, T* out) {
      int64_t n = blk.cols();
      MatrixRef<T> out_m = block_matrix(y, out, g, blk, grp);
      gemm<T>(cog, n, K, T(1), cref(w + grp * cog * K, K, 1), cref(col, n, 1), T(0), out_m);
      scatter_block<T>({out_m.data, out_m.row_stride, 1}, bias, g, blk, grp, y);
    });
  });
}

void cpu_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, Tensor& y) {
  ConvGeom g = geometry("conv2d", x.shape(), w.shape(), p);
  Tensor xc = x.contiguous(), wc = w.contiguous(), bc = bias.defined() ? bias.contiguous() : Tensor();
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    conv_forward<T>(xc.data<T>(), wc.data<T>(), bc.defined() ? bc.data<T>() : nullptr, g, y.data<T>());
  });
}

// ---- gradient with respect to the input -----------------------------------------------------

// Stride 1, one group: dx is the forward convolution of gy with the weight flipped in space and
// with in/out channels swapped, w'[ci, co, i, j] = w[co, ci, kh-1-i, kw-1-j], padded by k-1-p
// (which gives back H x W). That runs as im2col + gemm, about twice as fast as gemm + col2im's
// scattered adds.
template <class T>
bool grad_input_as_forward(const T* gy, const T* w, const ConvGeom& g, T* dx) {
  if (g.G != 1 || g.sh != 1 || g.sw != 1 || g.pointwise() || g.ph > g.kh - 1 || g.pw > g.kw - 1) return false;
  int64_t kk = g.kh * g.kw;
  std::vector<T> flipped(g.Cin * g.Cout * kk);  // [Cin, Cout, kh, kw]
  for (int64_t co = 0; co < g.Cout; ++co)
    for (int64_t ci = 0; ci < g.Cin; ++ci)
      for (int64_t k = 0; k < kk; ++k) flipped[(ci * g.Cout + co) * kk + (kk - 1 - k)] = w[(co * g.Cin + ci) * kk + k];
  ConvGeom t{g.B, g.Cout, g.Ho, g.Wo, g.Cin, g.kh, g.kw, g.H, g.W, 1, 1, g.kh - 1 - g.ph, g.kw - 1 - g.pw, 1};
  conv_forward<T>(gy, flipped.data(), nullptr, t, dx);
  return true;
}

// dx = col2im(weight_g^T [K, Cout/G] @ gy block [Cout/G, cols]) per (block, group).
template <class T>
void conv_grad_input(const T* gy, const T* w, const ConvGeom& g, T* dx) {
  if (g.depthwise()) return depthwise_grad_input(gy, w, g, dx);
  if (grad_input_as_forward(gy, w, g, dx)) return;
  int64_t K = g.K(), cog = g.cout_g(), plane = g.Ho * g.Wo;
  over_batch(g, [&](int64_t b0, int64_t b1) {
    if (g.pointwise()) {
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t grp = 0; grp < g.G; ++grp)
          gemm<T>(K, plane, cog, T(1), cref(w + grp * cog * K, 1, K), cref(gy + (b * g.Cout + grp * cog) * plane, plane, 1),
                  T(0), mref(dx + (b * g.Cin + grp * g.cin_g()) * g.H * g.W, plane, 1));
      return;
    }
    std::vector<T> col(K * g.block_cols()), gyb(g.block_items() > 1 ? cog * g.block_cols() : 0);
    for_blocks(g, b0, b1, [&](const Block& blk) {
      int64_t n = blk.cols(), item = g.Cin * g.H * g.W;
      if (blk.oh0 == 0) std::fill(dx + blk.b * item, dx + (blk.b + blk.items) * item, T(0));  // while in cache
      for (int64_t grp = 0; grp < g.G; ++grp) {
        gemm<T>(K, n, cog, T(1), cref(w + grp * cog * K, 1, K), gather_block(gy, gyb.data(), g, blk, grp), T(0),
                mref(col.data(), n, 1));
        for (int64_t i = 0; i < blk.items; ++i)
          col2im(col.data() + i * blk.item_cols(), g, blk.oh0, blk.oh1,
                 dx + ((blk.b + i) * g.Cin + grp * g.cin_g()) * g.H * g.W, n);
      }
    });
  });
}

void cpu_conv2d_grad_input(const Tensor& gy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  ConvGeom g = geometry("conv2d_grad_input", dx.shape(), w.shape(), p);
  Tensor gc = gy.contiguous(), wc = w.contiguous();
  dispatch_float(gy.dtype(), "conv2d_grad_input", [&](auto tag) {
    using T = decltype(tag);
    conv_grad_input<T>(gc.data<T>(), wc.data<T>(), g, dx.data<T>());
  });
}

// ---- gradient with respect to the weight ----------------------------------------------------

// dw_g [Cout/G, K] = sum over the blocks of gy block [Cout/G, cols] @ col^T [cols, K]. A large
// batch is split into one chunk per thread, each summing into its own partial dw, reduced after.
// When K >= Cout/G the product runs as dw_g^T = col @ gy block^T: gemm then packs the gy block
// (reused K times) instead of col (reused Cout/G times): the 16-channel 3x3 stem conv's weight
// gradient took 20 ms instead of 16 the other way round.
template <class T>
void conv_grad_weight(const T* gy, const T* x, const ConvGeom& g, T* dw) {
  if (g.depthwise()) return depthwise_grad_weight(gy, x, g, dw);
  int64_t K = g.K(), cog = g.cout_g(), plane = g.Ho * g.Wo, wn = g.Cout * K;
  int64_t chunks = batch_chunks(g);
  bool transposed = K >= cog;
  std::vector<std::vector<T>> partial(chunks - 1, std::vector<T>(wn, T(0)));  // chunk 0 sums into dw
  std::fill(dw, dw + wn, T(0));
  parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      T* acc = k == 0 ? dw : partial[k - 1].data();
      int64_t b0 = g.B * k / chunks, b1 = g.B * (k + 1) / chunks;
      if (g.pointwise()) {
        for (int64_t b = b0; b < b1; ++b)
          for (int64_t grp = 0; grp < g.G; ++grp)
            gemm<T>(cog, K, plane, T(1), cref(gy + (b * g.Cout + grp * cog) * plane, plane, 1),
                    cref(x + (b * g.Cin + grp * g.cin_g()) * g.H * g.W, 1, plane), T(1), mref(acc + grp * cog * K, K, 1));
        continue;
      }
      for_column_blocks(x, g, b0, b1, [&](const Block& blk, int64_t grp, const T* col, T* gyb) {
        int64_t n = blk.cols();
        MatrixRef<const T> gym = gather_block(gy, gyb, g, blk, grp);
        T* dwg = acc + grp * cog * K;
        if (transposed)
          gemm<T>(K, cog, n, T(1), cref(col, n, 1), cref(gym.data, 1, gym.row_stride), T(1), mref(dwg, 1, K));
        else
          gemm<T>(cog, K, n, T(1), gym, cref(col, 1, n), T(1), mref(dwg, K, 1));
      });
    }
  });
  for (const std::vector<T>& part : partial)
    for (int64_t i = 0; i < wn; ++i) dw[i] += part[i];
}

void cpu_conv2d_grad_weight(const Tensor& gy, const Tensor& x, const Conv2dParams& p, Tensor& dw) {
  ConvGeom g = geometry("conv2d_grad_weight", x.shape(), dw.shape(), p);
  Tensor gc = gy.contiguous(), xc = x.contiguous();
  dispatch_float(gy.dtype(), "conv2d_grad_weight", [&](auto tag) {
    using T = decltype(tag);
    conv_grad_weight<T>(gc.data<T>(), xc.data<T>(), g, dw.data<T>());
  });
}

using ForwardKernel = void(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&, Tensor&);
using GradKernel = void(const Tensor&, const Tensor&, const Conv2dParams&, Tensor&);
DispatchStub<ForwardKernel> conv2d_stub("conv2d", cpu_conv2d);
DispatchStub<GradKernel> grad_input_stub("conv2d_grad_input", cpu_conv2d_grad_input);
DispatchStub<GradKernel> grad_weight_stub("conv2d_grad_weight", cpu_conv2d_grad_weight);

// The CUDA convolutions are cuDNN calls, so a CUDA build without cuDNN registers none of them:
// the error says why, not only that the kernel is missing.
template <class Kernel>
void check_cuda_kernel(const char* name, Device device) {
  SOFT_CHECK(device.is_cpu() || find_cuda_kernel(name, typeid(Kernel)), name,
             ": no CUDA kernel for this op in this build (tensor on ", device.str(),
             "): GPU convolutions need cuDNN, which this build was made without");
}

// grad_y must be [B, Cout, Ho, Wo] for the geometry g.
void check_grad_y(const char* op, const Tensor& gy, const ConvGeom& g) {
  Shape want{g.B, g.Cout, g.Ho, g.Wo};
  SOFT_CHECK(gy.shape() == want, op, ": grad_y has shape ", shape_str(gy.shape()), " but the convolution's output ",
             "has shape ", shape_str(want));
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  check_same_device("conv2d", {&x, &weight, &bias});
  check_same_dtype("conv2d", {&x, &weight, &bias});
  ConvGeom g = geometry("conv2d", x.shape(), weight.shape(), p);
  SOFT_CHECK(!bias.defined() || bias.shape() == Shape{g.Cout}, "conv2d: bias has shape ",
             bias.defined() ? shape_str(bias.shape()) : "", " but weight ", shape_str(weight.shape()), " needs [",
             g.Cout, "]");
  check_cuda_kernel<ForwardKernel>("conv2d", x.device());
  Tensor y = Tensor::empty({g.B, g.Cout, g.Ho, g.Wo}, x.dtype(), x.device());
  conv2d_stub(x.device(), x.detach(), weight.detach(), bias.defined() ? bias.detach() : Tensor(), p, y);
  return record("conv2d", y, {x, weight, bias},
                [x = x.detach(), w = weight.detach(), p](const Tensor& gy, const std::vector<bool>& needs) {
                  return Grads{needs[0] ? conv2d_grad_input(gy, w, x.shape(), p) : Tensor(),
                               needs[1] ? conv2d_grad_weight(gy, x, w.shape(), p) : Tensor(),
                               needs[2] ? sum(gy, {0, 2, 3}) : Tensor()};
                });
}

Tensor conv2d_grad_input(const Tensor& grad_y, const Tensor& weight, const Shape& x_shape, const Conv2dParams& p) {
  check_same_device("conv2d_grad_input", {&grad_y, &weight});
  check_same_dtype("conv2d_grad_input", {&grad_y, &weight});
  ConvGeom g = geometry("conv2d_grad_input", x_shape, weight.shape(), p);
  check_grad_y("conv2d_grad_input", grad_y, g);
  check_cuda_kernel<GradKernel>("conv2d_grad_input", grad_y.device());
  Tensor dx = Tensor::empty(x_shape, grad_y.dtype(), grad_y.device());
  grad_input_stub(grad_y.device(), grad_y.detach(), weight.detach(), p, dx);
  return dx;
}

Tensor conv2d_grad_weight(const Tensor& grad_y, const Tensor& x, const Shape& w_shape, const Conv2dParams& p) {
  check_same_device("conv2d_grad_weight", {&grad_y, &x});
  check_same_dtype("conv2d_grad_weight", {&grad_y, &x});
  ConvGeom g = geometry("conv2d_grad_weight", x.shape(), w_shape, p);
  check_grad_y("conv2d_grad_weight", grad_y, g);
  check_cuda_kernel<GradKernel>("conv2d_grad_weight", grad_y.device());
  Tensor dw = Tensor::empty(w_shape, grad_y.dtype(), grad_y.device());
  grad_weight_stub(grad_y.device(), grad_y.detach(), x.detach(), p, dw);
  return dw;
}

}  // namespace soft
