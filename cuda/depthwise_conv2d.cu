// Depthwise convolutions (groups == Cin == Cout) on the GPU: see cuda/depthwise_conv2d.h.
//
// Forward, and the input gradient at stride 1, are one tile kernel: dst[p, o] = sum over taps k
// of w[p % C, k] * src[p, o * stride - pad + k] over planes p = b * C + c. The input gradient is
// the forward of gy with the kernel flipped and padded by k - 1 - pad. A block loads the input
// tile of a [TH, TW] output tile (with its halo, zeros outside the plane) and its weights into
// shared memory, for P planes at once when planes are small (7x7 ...); each thread computes kRows
// outputs of one column, so each input row it reads serves up to kRows outputs. 3x3, 5x5, 7x7, 9x9
// kernels at stride 1 are compiled with their size, their weights in registers.
// The input gradient at stride > 1 is a gather, one thread per input element.
//
// Weight gradient dw[c, k] = sum over b, o of gy[b, c, o] * x[b, c, o * stride - pad + k]: a sum
// over B * Ho * Wo per tap, in two passes with no atomics, so the result does not depend on
// scheduling. Pass 1: `splits` blocks per channel, each over a contiguous range of units (P batch
// items x one tile); it loads x's and gy's tiles into shared memory, thread (lane, k) sums tap k
// over every lanes-th row of the units, and the lanes are summed in order into partial[c, split, k].
// Pass 2: one thread per (c, k) sums the splits in order.
#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <type_traits>

#include "cuda/bf16.h"
#include "cuda/depthwise_conv2d.h"
#include "cuda/launch.cuh"
#include "ops/dispatch.h"

namespace soft::cuda {
namespace {

constexpr int kRows = 4;                 // tile kernel: outputs of one column per thread
constexpr int kMaxTile = 32;             // output tile sides
constexpr int kBlockThreads = 256;       // threads of a block (more when a kernel has more taps)
constexpr int64_t kMaxTaps = 1024;       // the weight gradient's block has a thread per tap
constexpr size_t kMaxShared = 48 << 10;  // dynamic shared memory without an opt-in
constexpr int kUnitOutputs = 2048;       // weight gradient: gy elements per unit at least (small planes)
constexpr int64_t kTargetBlocks = 1024;  // weight gradient: first-pass blocks over all channels
constexpr int64_t kMaxSide = 1 << 20;    // strides and paddings beyond this go to cuDNN

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// The side of a tile over n outputs: balanced tiles of at most kMaxTile, rounded up to `multiple`
// (56 -> 28, 7 -> 8 with multiple 4). At most kMaxTile.
int tile_side(int64_t n, int multiple) {
  int64_t tiles = ceil_div(n, kMaxTile);
  return static_cast<int>(round_up(ceil_div(n, tiles), multiple));
}

// x [B, C, H, W], weight [C, 1, kh, kw], output [B, C, Ho, Wo].
struct Geometry {
  int64_t B, C, H, W, kh, kw, sh, sw, ph, pw, Ho, Wo;
  Geometry(const Shape& x, const Shape& w, const Conv2dParams& p)
      : B(x[0]), C(x[1]), H(x[2]), W(x[3]), kh(w[2]), kw(w[3]), sh(p.stride[0]), sw(p.stride[1]),
        ph(p.padding[0]), pw(p.padding[1]), Ho((H + 2 * ph - kh) / sh + 1), Wo((W + 2 * pw - kw) / sw + 1) {}
};

// ---- the tile kernel (forward; input gradient at stride 1) --------------------------------

// dst [planes, Ho, Wo] from src [planes, H, W]: output (oh, ow) reads src[oh * sh - ph + ki,
// ow * sw - pw + kj] (zero outside), ph/pw of either sign. Tiles [TH, TW] (TH a multiple of
// kRows) read input tiles [IH, IW], stored with rows IP apart (tile_pitch); tiles_w tiles per row
// of tiles, `tiles` per plane; P planes a block.
struct TileArgs {
  int64_t planes, C;
  int H, W, Ho, Wo, kh, kw, sh, sw, ph, pw;
  int TH, TW, IH, IW, IP, tiles_w, tiles, P;
  bool flip;  // read the kernel flipped: tap k is w[kh * kw - 1 - k]
  bool bf16;  // round operands and result to bfloat16 (float only)
};

size_t tile_shared_bytes(const TileArgs& a, int P, size_t elem) {
  return static_cast<size_t>(P) * (static_cast<size_t>(a.IH) * a.IP + static_cast<size_t>(a.kh) * a.kw) * elem;
}

int tile_threads(const TileArgs& a) {
  return static_cast<int>(std::min<int64_t>(kBlockThreads, round_up(int64_t(a.P) * a.TW * (a.TH / kRows), 32)));
}

int64_t tile_grid(const TileArgs& a) { return ceil_div(a.planes, a.P) * a.tiles; }

// Shared-memory wavefronts of one read by every warp of the block: thread j reads input tile
// address pp * IH * pitch + rg * kRows * sh * pitch + col * sw (plane pp, row group rg, column col);
// distinct addresses in one bank are served one after another.
int tile_wavefronts(const TileArgs& a, int pitch) {
  int per_plane = a.TW * (a.TH / kRows), items = a.P * per_plane, total = 0;
  for (int warp = 0; warp * 32 < items; ++warp) {
    int64_t address[32];
    int n = 0;
    for (int j = warp * 32; j < std::min(items, warp * 32 + 32); ++j) {
      int pp = j / per_plane, q = j % per_plane;
      address[n++] = (static_cast<int64_t>(pp) * a.IH + q / a.TW * kRows * a.sh) * pitch + q % a.TW * a.sw;
    }
    std::sort(address, address + n);
    int per_bank[32] = {}, worst = 0;
    for (int i = 0; i < n; ++i)
      if (i == 0 || address[i] != address[i - 1]) worst = std::max(worst, ++per_bank[address[i] % 32]);
    total += worst;
  }
  return total;
}

// The input tile's row pitch: of IW .. IW + 31, the first with the fewest wavefronts per read.
// Kept per tiling (the search costs tens of microseconds; a training step asks for a few tilings).
int tile_pitch(const TileArgs& a) {
  static std::mutex mutex;
  static std::map<std::array<int, 7>, int> known;  // guarded by mutex
  std::array<int, 7> key{a.TH, a.TW, a.IH, a.IW, a.P, a.sh, a.sw};
  std::lock_guard<std::mutex> lock(mutex);
  auto it = known.find(key);
  if (it != known.end()) return it->second;
  int best = a.IW, best_cost = tile_wavefronts(a, a.IW);
  for (int pitch = a.IW + 1; pitch < a.IW + 32; ++pitch) {
    int cost = tile_wavefronts(a, pitch);
    if (cost < best_cost) best = pitch, best_cost = cost;
  }
  known.emplace(key, best);
  return best;
}

TileArgs tile_args(int64_t planes, int64_t C, int64_t H, int64_t W, int64_t Ho, int64_t Wo, int64_t kh, int64_t kw,
                   int64_t sh, int64_t sw, int64_t ph, int64_t pw, bool flip, bool bf16, size_t elem) {
  TileArgs a{};
  auto i = [](int64_t v) { return static_cast<int>(v); };
  a.planes = planes, a.C = C, a.H = i(H), a.W = i(W), a.Ho = i(Ho), a.Wo = i(Wo), a.kh = i(kh), a.kw = i(kw);
  a.sh = i(sh), a.sw = i(sw), a.ph = i(ph), a.pw = i(pw), a.flip = flip, a.bf16 = bf16;
  a.TH = tile_side(Ho, kRows), a.TW = tile_side(Wo, 1);
  a.IH = i((a.TH - 1) * sh + kh), a.IW = i((a.TW - 1) * sw + kw), a.IP = a.IW;
  a.tiles_w = i(ceil_div(Wo, a.TW)), a.tiles = i(a.tiles_w * ceil_div(Ho, a.TH));
  int per_plane = a.TW * (a.TH / kRows);
  a.P = i(std::clamp<int64_t>(kBlockThreads / per_plane, 1, std::max<int64_t>(planes, 1)));
  while (a.P > 1 && tile_shared_bytes(a, a.P, elem) > kMaxShared) --a.P;
  if (tile_shared_bytes(a, a.P, elem) > kMaxShared) return a;  // too large: tile_fits says no
  int padded = tile_pitch(a);
  TileArgs wide = a;
  wide.IP = padded;
  if (tile_shared_bytes(wide, wide.P, elem) <= kMaxShared) a.IP = padded;
  return a;
}

bool tile_fits(const TileArgs& a, size_t elem) {
  return tile_shared_bytes(a, 1, elem) <= kMaxShared && tile_grid(a) <= INT_MAX;
}

// v rounded to bfloat16 (to nearest even, as copy_ does) when bf16; float64 is never rounded.
template <class T>
__device__ T operand(T v, bool bf16) {
  if constexpr (std::is_same_v<T, float>) {
    uint32_t u = __float_as_uint(v);
    if (!bf16 || (u & 0x7fffffffu) > 0x7f800000u) return v;  // NaN stays NaN
    return __uint_as_float(((u + 0x7fffu + ((u >> 16) & 1u)) >> 16) << 16);
  } else {
    (void)bf16;
    return v;
  }
}

// KH = KW = 0: kernel size and stride from `a`; else a KH x KW kernel at stride 1.
template <class T, int KH, int KW>
__global__ void depthwise_tile_kernel(const T* __restrict__ src, const T* __restrict__ w, const T* __restrict__ bias,
                                      T* __restrict__ dst, TileArgs a) {
  constexpr bool fixed = KH > 0;
  const int kh = fixed ? KH : a.kh, kw = fixed ? KW : a.kw, sh = fixed ? 1 : a.sh, sw = fixed ? 1 : a.sw;
  const int kk = kh * kw, in_tile = a.IH * a.IW, in_stored = a.IH * a.IP;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  T* s_in = reinterpret_cast<T*>(shared_raw);  // [P, IH, IP], columns [0, IW) used
  T* s_w = s_in + a.P * in_stored;              // [P, kh * kw]
  const int64_t plane0 = static_cast<int64_t>(blockIdx.x) / a.tiles * a.P;
  const int tile = static_cast<int>(blockIdx.x % a.tiles);
  const int planes = static_cast<int>(min(static_cast<int64_t>(a.P), a.planes - plane0));
  const int th0 = tile / a.tiles_w * a.TH, tw0 = tile % a.tiles_w * a.TW;
  const int ih0 = th0 * sh - a.ph, iw0 = tw0 * sw - a.pw;
  const int64_t src_plane = static_cast<int64_t>(a.H) * a.W, dst_plane = static_cast<int64_t>(a.Ho) * a.Wo;
  for (int i = threadIdx.x; i < planes * in_tile; i += blockDim.x) {
    int pp = i / in_tile, r = i % in_tile, y = r / a.IW, x = r % a.IW, ih = ih0 + y, iw = iw0 + x;
    T v = T(0);
    if (ih >= 0 && ih < a.H && iw >= 0 && iw < a.W) v = operand(src[(plane0 + pp) * src_plane + ih * a.W + iw], a.bf16);
    s_in[pp * in_stored + y * a.IP + x] = v;
  }
  for (int i = threadIdx.x; i < planes * kk; i += blockDim.x) {
    int pp = i / kk, k = i % kk;
    int64_t c = (plane0 + pp) % a.C;
    s_w[i] = operand(w[c * kk + (a.flip ? kk - 1 - k : k)], a.bf16);
  }
  __syncthreads();
  const int per_plane = a.TW * (a.TH / kRows);
  for (int j = threadIdx.x; j < planes * per_plane; j += blockDim.x) {
    int pp = j / per_plane, q = j % per_plane, r = q / a.TW * kRows, col = q % a.TW;  // outputs (r + i, col)
    const T* in = s_in + pp * in_stored + r * sh * a.IP + col * sw;  // input tile row r * sh, column col * sw
    const T* wp = s_w + pp * kk;
    T acc[kRows] = {};
    if constexpr (fixed) {
      T wr[KH * KW];
#pragma unroll
      for (int k = 0; k < KH * KW; ++k) wr[k] = wp[k];
#pragma unroll
      for (int ir = 0; ir < kRows - 1 + KH; ++ir)  // input row ir feeds output i through kernel row ir - i
#pragma unroll
        for (int kj = 0; kj < KW; ++kj) {
          T v = in[ir * a.IP + kj];
#pragma unroll
          for (int i = 0; i < kRows; ++i)
            if (ir - i >= 0 && ir - i < KH) acc[i] += wr[(ir - i) * KW + kj] * v;
        }
    } else {
      for (int ir = 0; ir < (kRows - 1) * sh + kh; ++ir)  // output i through kernel row ir - i * sh
        for (int kj = 0; kj < kw; ++kj) {
          T v = in[ir * a.IP + kj];
#pragma unroll
          for (int i = 0; i < kRows; ++i) {
            int ki = ir - i * sh;
            if (ki >= 0 && ki < kh) acc[i] += wp[ki * kw + kj] * v;
          }
        }
    }
    const int ow = tw0 + col;
    const T add = bias ? bias[(plane0 + pp) % a.C] : T(0);
    T* out = dst + (plane0 + pp) * dst_plane;
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      int oh = th0 + r + i;
      if (oh < a.Ho && ow < a.Wo) out[oh * a.Wo + ow] = operand(acc[i], a.bf16) + add;
    }
  }
}

template <class T>
void launch_tile(const T* src, const T* w, const T* bias, T* dst, const TileArgs& a, int device) {
  dim3 grid(static_cast<unsigned>(tile_grid(a)));
  int threads = tile_threads(a);
  size_t shared = tile_shared_bytes(a, a.P, sizeof(T));
  auto run = [&](auto kernel) { launch_shared(kernel, device, grid, threads, shared, src, w, bias, dst, a); };
  bool stride1 = a.sh == 1 && a.sw == 1;
  if (stride1 && a.kh == 3 && a.kw == 3) return run(depthwise_tile_kernel<T, 3, 3>);
  if (stride1 && a.kh == 5 && a.kw == 5) return run(depthwise_tile_kernel<T, 5, 5>);
  if (stride1 && a.kh == 7 && a.kw == 7) return run(depthwise_tile_kernel<T, 7, 7>);
  if (stride1 && a.kh == 9 && a.kw == 9) return run(depthwise_tile_kernel<T, 9, 9>);
  run(depthwise_tile_kernel<T, 0, 0>);
}

// ---- input gradient at stride > 1: a gather -----------------------------------------------

// dx[p, ih, iw] = sum of w[c, ki, kj] * gy[p, oh, ow] over the taps with oh * sh - ph + ki = ih
// and ow * sw - pw + kj = iw; one thread per element of dx [planes, H, W].
template <class T>
__global__ void depthwise_grad_input_gather_kernel(const T* __restrict__ gy, const T* __restrict__ w,
                                                   T* __restrict__ dx, TileArgs a, int64_t n) {
  int64_t i = thread_index();
  if (i >= n) return;
  const int iw = static_cast<int>(i % a.W), ih = static_cast<int>(i / a.W % a.H);
  const int64_t p = i / (static_cast<int64_t>(a.H) * a.W);
  const T* wc = w + p % a.C * a.kh * a.kw;
  const T* g = gy + p * a.Ho * a.Wo;
  T acc = T(0);
  for (int ki = 0; ki < a.kh; ++ki) {
    int rows = ih + a.ph - ki;  // oh * sh
    if (rows < 0 || rows % a.sh != 0 || rows / a.sh >= a.Ho) continue;
    for (int kj = 0; kj < a.kw; ++kj) {
      int cols = iw + a.pw - kj;  // ow * sw
      if (cols < 0 || cols % a.sw != 0 || cols / a.sw >= a.Wo) continue;
      acc += operand(wc[ki * a.kw + kj], a.bf16) * operand(g[rows / a.sh * a.Wo + cols / a.sw], a.bf16);
    }
  }
  dx[i] = operand(acc, a.bf16);
}

// ---- weight gradient ----------------------------------------------------------------------

// Units: P batch items of one channel x one [TH, TW] tile of gy (input tile [IH, IW], rows XP
// apart in shared memory); `units` per channel, `splits` blocks per channel; a block of
// lanes * kh * kw threads (rounded up to 32). XP = kw mod 32 puts the 32 taps a warp reads from
// one row of gy in 32 different banks (tap (ki, kj) at ki * XP + kj).
struct WeightArgs {
  int64_t B, C, units, splits;
  int H, W, Ho, Wo, kh, kw, sh, sw, ph, pw;
  int TH, TW, IH, IW, XP, tiles_w, tiles, P, lanes, threads;
  bool bf16;
};

size_t weight_shared_bytes(const WeightArgs& a, int P, size_t elem) {
  size_t tiles = static_cast<size_t>(P) * (static_cast<size_t>(a.IH) * a.XP + static_cast<size_t>(a.TH) * a.TW);
  return (tiles + a.threads) * elem;
}

WeightArgs weight_args(const Geometry& g, bool bf16, size_t elem) {
  WeightArgs a{};
  auto i = [](int64_t v) { return static_cast<int>(v); };
  a.B = g.B, a.C = g.C, a.H = i(g.H), a.W = i(g.W), a.Ho = i(g.Ho), a.Wo = i(g.Wo), a.kh = i(g.kh), a.kw = i(g.kw);
  a.sh = i(g.sh), a.sw = i(g.sw), a.ph = i(g.ph), a.pw = i(g.pw), a.bf16 = bf16;
  int64_t kk = g.kh * g.kw;
  a.threads = i(kk <= kBlockThreads ? kBlockThreads : round_up(kk, 32));
  a.lanes = i(a.threads / kk);
  a.TH = tile_side(g.Ho, 1), a.TW = tile_side(g.Wo, 1);
  a.IH = i((a.TH - 1) * g.sh + g.kh), a.IW = i((a.TW - 1) * g.sw + g.kw);
  a.XP = a.IW + ((a.kw - a.IW) % 32 + 32) % 32;
  a.tiles_w = i(ceil_div(g.Wo, a.TW)), a.tiles = i(a.tiles_w * ceil_div(g.Ho, a.TH));
  a.P = i(std::clamp<int64_t>(kUnitOutputs / (a.TH * a.TW), 1, std::max<int64_t>(g.B, 1)));
  while (a.P > 1 && weight_shared_bytes(a, a.P, elem) > kMaxShared) --a.P;
  a.units = ceil_div(g.B, a.P) * a.tiles;
  a.splits = std::clamp<int64_t>(ceil_div(kTargetBlocks, g.C), 1, std::max<int64_t>(a.units, 1));
  return a;
}

bool weight_fits(const WeightArgs& a, size_t elem) {
  return weight_shared_bytes(a, 1, elem) <= kMaxShared && a.C * a.splits <= INT_MAX;
}

// partial [C, splits, kh * kw]: block (c, split) sums its units' products per tap.
template <class T>
__global__ void depthwise_grad_weight_partial_kernel(const T* __restrict__ gy, const T* __restrict__ x,
                                                     T* __restrict__ partial, WeightArgs a) {
  const int kk = a.kh * a.kw, x_tile = a.IH * a.IW, x_stored = a.IH * a.XP, g_tile = a.TH * a.TW;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  T* s_x = reinterpret_cast<T*>(shared_raw);  // [P, IH, XP], columns [0, IW) used
  T* s_g = s_x + a.P * x_stored;               // [P, TH, TW]
  T* s_sum = s_g + a.P * g_tile;               // [threads]
  const int64_t c = blockIdx.x / a.splits, split = blockIdx.x % a.splits;
  const int64_t u0 = a.units * split / a.splits, u1 = a.units * (split + 1) / a.splits;
  const int t = threadIdx.x, k = t % kk, lane = t / kk, ki = k / a.kw, kj = k % a.kw;
  const int64_t x_plane = static_cast<int64_t>(a.H) * a.W, g_plane = static_cast<int64_t>(a.Ho) * a.Wo;
  T acc = T(0);
  for (int64_t u = u0; u < u1; ++u) {
    const int tile = static_cast<int>(u % a.tiles);
    const int64_t b0 = u / a.tiles * a.P;
    const int items = static_cast<int>(min(static_cast<int64_t>(a.P), a.B - b0));
    const int th0 = tile / a.tiles_w * a.TH, tw0 = tile % a.tiles_w * a.TW;
    const int ih0 = th0 * a.sh - a.ph, iw0 = tw0 * a.sw - a.pw;
    __syncthreads();  // the previous unit's tiles are read
    for (int i = t; i < items * x_tile; i += blockDim.x) {
      int pp = i / x_tile, r = i % x_tile, y = r / a.IW, col = r % a.IW, ih = ih0 + y, iw = iw0 + col;
      T v = T(0);
      if (ih >= 0 && ih < a.H && iw >= 0 && iw < a.W)
        v = operand(x[((b0 + pp) * a.C + c) * x_plane + ih * a.W + iw], a.bf16);
      s_x[pp * x_stored + y * a.XP + col] = v;
    }
    for (int i = t; i < items * g_tile; i += blockDim.x) {
      int pp = i / g_tile, r = i % g_tile, oh = th0 + r / a.TW, ow = tw0 + r % a.TW;
      T v = T(0);
      if (oh < a.Ho && ow < a.Wo) v = operand(gy[((b0 + pp) * a.C + c) * g_plane + oh * a.Wo + ow], a.bf16);
      s_g[i] = v;
    }
    __syncthreads();
    if (lane < a.lanes)
      for (int row = lane; row < items * a.TH; row += a.lanes) {  // row = pp * TH + y
        int pp = row / a.TH, y = row % a.TH;
        const T* g = s_g + row * a.TW;
        const T* xr = s_x + pp * x_stored + (y * a.sh + ki) * a.XP + kj;
        for (int col = 0; col < a.TW; ++col) acc += g[col] * xr[col * a.sw];
      }
  }
  s_sum[t] = lane < a.lanes ? acc : T(0);
  __syncthreads();
  if (t < kk) {
    T total = T(0);
    for (int l = 0; l < a.lanes; ++l) total += s_sum[l * kk + t];
    partial[static_cast<int64_t>(blockIdx.x) * kk + t] = total;
  }
}

// dw [C, kk] = partial [C, splits, kk] summed over the splits, in order.
template <class T>
__global__ void depthwise_grad_weight_sum_kernel(const T* __restrict__ partial, T* __restrict__ dw, int64_t n, int kk,
                                                 int64_t splits, bool bf16) {
  int64_t i = thread_index();
  if (i >= n) return;
  const T* part = partial + i / kk * splits * kk + i % kk;
  T total = T(0);
  for (int64_t s = 0; s < splits; ++s) total += part[s * kk];
  dw[i] = operand(total, bf16);
}

// Unset or "kernels": these kernels; "cudnn": cuDNN. Anything else is an error naming the variable.
bool enabled_by_environment() {
  static const bool enabled = [] {
    const char* v = std::getenv("SOFT_DEPTHWISE");
    if (!v || !*v || std::strcmp(v, "kernels") == 0) return true;
    SOFT_CHECK(std::strcmp(v, "cudnn") == 0, "SOFT_DEPTHWISE must be \"kernels\" or \"cudnn\", got \"", v, "\"");
    return false;
  }();
  return enabled;
}

void check_dtype(const char* op, DType dtype) {
  SOFT_CHECK(dtype == DType::Float32 || dtype == DType::Float64, op, ": dtype ", dtype_name(dtype),
             " is not supported on the GPU (float32 or float64)");
}

}  // namespace

bool depthwise_kernels_take(const Shape& x, const Shape& w, const Conv2dParams& p, DType dtype) {
  if (!enabled_by_environment() || x.size() != 4 || w.size() != 4) return false;
  if (p.groups != x[1] || w[0] != x[1] || w[1] != 1 || w[2] * w[3] > kMaxTaps) return false;
  if (dtype != DType::Float32 && dtype != DType::Float64) return false;
  for (int64_t v : {p.stride[0], p.stride[1], p.padding[0], p.padding[1], w[2], w[3]})
    if (v > kMaxSide) return false;
  Geometry g(x, w, p);
  if (g.Ho < 1 || g.Wo < 1 || g.H * g.W > INT_MAX || g.Ho * g.Wo > INT_MAX) return false;
  size_t elem = dtype_size(dtype);
  int64_t planes = std::max<int64_t>(g.B * g.C, 1);
  TileArgs fwd = tile_args(planes, g.C, g.H, g.W, g.Ho, g.Wo, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, false, false, elem);
  if (!tile_fits(fwd, elem) || !weight_fits(weight_args(g, false, elem), elem)) return false;
  if (g.sh == 1 && g.sw == 1) {
    TileArgs back = tile_args(planes, g.C, g.Ho, g.Wo, g.H, g.W, g.kh, g.kw, 1, 1, g.kh - 1 - g.ph, g.kw - 1 - g.pw,
                              true, false, elem);
    if (!tile_fits(back, elem)) return false;
  }
  return true;
}

void depthwise_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p, Tensor& y) {
  check_dtype("conv2d", x.dtype());
  if (y.numel() == 0) return;
  int device = y.device().index;
  Geometry g(x.shape(), w.shape(), p);
  Tensor xc = x.contiguous(), wc = w.contiguous(), bc = bias.defined() ? bias.contiguous() : Tensor();
  bool bf16 = use_bf16(x.dtype());
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    TileArgs a = tile_args(g.B * g.C, g.C, g.H, g.W, g.Ho, g.Wo, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, false, bf16,
                           sizeof(T));
    launch_tile<T>(xc.data<T>(), wc.data<T>(), bc.defined() ? bc.data<T>() : nullptr, y.data<T>(), a, device);
  });
}

void depthwise_conv2d_grad_input(const Tensor& gy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  check_dtype("conv2d_grad_input", gy.dtype());
  if (dx.numel() == 0) return;
  int device = dx.device().index;
  Geometry g(dx.shape(), w.shape(), p);
  Tensor gc = gy.contiguous(), wc = w.contiguous();
  bool bf16 = use_bf16(gy.dtype());
  dispatch_float(gy.dtype(), "conv2d_grad_input", [&](auto tag) {
    using T = decltype(tag);
    if (g.sh == 1 && g.sw == 1) {  // the forward of gy with the flipped kernel, padded by k - 1 - pad
      TileArgs a = tile_args(g.B * g.C, g.C, g.Ho, g.Wo, g.H, g.W, g.kh, g.kw, 1, 1, g.kh - 1 - g.ph, g.kw - 1 - g.pw,
                             true, bf16, sizeof(T));
      return launch_tile<T>(gc.data<T>(), wc.data<T>(), nullptr, dx.data<T>(), a, device);
    }
    TileArgs a = tile_args(g.B * g.C, g.C, g.H, g.W, g.Ho, g.Wo, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, false, bf16,
                           sizeof(T));
    int64_t n = dx.numel();
    launch_threads(depthwise_grad_input_gather_kernel<T>, device, n, gc.data<T>(), wc.data<T>(), dx.data<T>(), a, n);
  });
}

void depthwise_conv2d_grad_weight(const Tensor& gy, const Tensor& x, const Conv2dParams& p, Tensor& dw) {
  check_dtype("conv2d_grad_weight", gy.dtype());
  if (dw.numel() == 0) return;
  int device = dw.device().index;
  if (gy.numel() == 0) return zero_fill(dw);  // an empty batch sums to 0
  Geometry g(x.shape(), dw.shape(), p);
  Tensor gc = gy.contiguous(), xc = x.contiguous();
  bool bf16 = use_bf16(gy.dtype());
  dispatch_float(gy.dtype(), "conv2d_grad_weight", [&](auto tag) {
    using T = decltype(tag);
    WeightArgs a = weight_args(g, bf16, sizeof(T));
    int kk = a.kh * a.kw;
    Tensor partial = Tensor::empty({a.C, a.splits, kk}, gy.dtype(), gy.device());  // [C, splits, kk]
    launch_shared(depthwise_grad_weight_partial_kernel<T>, device, dim3(static_cast<unsigned>(a.C * a.splits)),
                  dim3(a.threads), weight_shared_bytes(a, a.P, sizeof(T)), gc.data<T>(), xc.data<T>(),
                  partial.data<T>(), a);
    launch_threads(depthwise_grad_weight_sum_kernel<T>, device, a.C * kk, partial.data<T>(), dw.data<T>(), a.C * kk,
                   kk, a.splits, bf16);
  });
}

}  // namespace soft::cuda
