// Packed, cache-blocked GEMM in the BLIS/GotoBLAS structure:
//
//   for jc in N step NC:            B block  [K, NC]
//     for pc in K step KC:          pack B[pc:pc+KC, jc:jc+NC] into NR-wide column panels (~L3)
//       for ic in M step MC:        pack A[ic:ic+MC, pc:pc+KC] into MR-tall row panels (~L2)
//         for jr in NC step NR:     one B micro-panel [KC, NR] (~L1)
//           for ir in MC step MR:   micro-kernel: C[MR, NR] += A panel @ B panel, tile held in registers
//
// Packing turns any row/col strides into unit-stride streams and zero-pads the edge panels, so the
// micro-kernel always computes a full MR x NR tile; the write-back stores only the valid part.
// Threads: C is cut into one or two rectangles per thread (whole MR x NR tiles, along N or M),
// handed out by parallel_for, and each runs the loops above with its thread's packing buffers.
// That repacks the shared operand once per rectangle (O(MK) or O(KN) against O(MNK) work) but
// needs no barrier, which matters on a 2-core machine where a descheduled thread stalls every
// barrier.
#include "ops/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "core/parallel.h"

namespace soft {
namespace {

// The micro-kernel works on GCC/Clang vector types of the widest registers the target has (zmm
// with AVX-512, ymm with AVX2, else xmm): plain arrays leave register allocation to the
// auto-vectoriser, which spills the tile. The tile is MR rows of NV vectors; with AVX-512 that is
// 24 of the 32 registers, leaving room for the B loads and the A broadcast.
#if defined(__AVX512F__)
constexpr int64_t kVecBytes = 64, kTileRows = 12;
#elif defined(__AVX__)
constexpr int64_t kVecBytes = 32, kTileRows = 6;
#else
constexpr int64_t kVecBytes = 16, kTileRows = 6;
#endif

// Register tile MR x NR (NR = NV vectors) and cache blocks: a KC x NR panel of B is reused from
// L1/L2 across the MC rows, the MC x KC block of A stays in L2, the KC x NC block of B in L3.
// Measured on Zen 4 (AVX-512): KC = 384 floats was ~5% faster than 256 at 1024^3.
template <class T>
struct Blocking {
  using Vec [[gnu::vector_size(kVecBytes)]] = T;
  static constexpr int64_t kLanes = kVecBytes / sizeof(T);
  static constexpr int64_t NV = 2, MR = kTileRows, NR = NV * kLanes;
  static constexpr int64_t KC = 384 * 4 / sizeof(T), MC = MR * (sizeof(T) == 4 ? 16 : 12), NC = NR * 128;
};

// A 64-byte-aligned scratch buffer per thread, grown on demand and kept, so repeated small
// GEMMs (batched matmul) do not allocate.
template <class T>
T* scratch(int slot, int64_t count) {
  struct Free { void operator()(T* p) const { std::free(p); } };
  thread_local std::unique_ptr<T, Free> buf[2];
  thread_local int64_t cap[2] = {0, 0};
  if (cap[slot] < count) {
    size_t bytes = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
    buf[slot].reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
    if (!buf[slot]) throw std::bad_alloc();
    cap[slot] = count;
  }
  return buf[slot].get();
}

// Packs rows [0, mc) x depth [0, kc) of A (already offset to the block) into ceil(mc/MR) panels,
// each kc steps of MR values (rows past mc are zeros). Multiplies by alpha on the way in.
template <class T, int64_t MR>
void pack_a(int64_t mc, int64_t kc, const T* a, int64_t rs, int64_t cs, T alpha, T* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
    int64_t mr = std::min(MR, mc - i0);
    const T* src = a + i0 * rs;
    if (mr == MR && rs == 1) {  // column-major A: each depth step is MR contiguous values
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t i = 0; i < MR; ++i) dst[k * MR + i] = alpha * src[k * cs + i];
    } else {  // row-major (or general) A: read each row along k
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = alpha * src[i * rs + k * cs];
      for (int64_t i = mr; i < MR; ++i)
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = T(0);
    }
  }
}

// Packs depth [0, kc) x columns [0, nc) of B (already offset to the block) into ceil(nc/NR)
// panels, each kc steps of NR values (columns past nc are zeros).
template <class T, int64_t NR>
void pack_b(int64_t kc, int64_t nc, const T* b, int64_t rs, int64_t cs, T* dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR, dst += NR * kc) {
    int64_t nr = std::min(NR, nc - j0);
    const T* src = b + j0 * cs;
    if (nr == NR && cs == 1) {  // row-major B: each depth step is NR contiguous values
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t j = 0; j < NR; ++j) dst[k * NR + j] = src[k * rs + j];
    } else {  // transposed (or general) B: read each column along k
      for (int64_t j = 0; j < nr; ++j)
        for (int64_t k = 0; k < kc; ++k) dst[k * NR + j] = src[k * rs + j * cs];
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t j = nr; j < NR; ++j) dst[k * NR + j] = T(0);
    }
  }
}

// The micro-kernel's store of whole vectors (NR contiguous columns of C, cs == 1), straight from
// the registers: all MR rows (kAllRows, no row check), or the first mr of an edge tile. Always
// inlined, so that acc stays in registers (the code is the same as when it was written out twice).
template <class T, int64_t MR, bool kAllRows>
[[gnu::always_inline]] inline void store_rows(const typename Blocking<T>::Vec (&acc)[MR][Blocking<T>::NV], int64_t mr,
                                              T beta, T* c, int64_t rs) {
  using Vec = typename Blocking<T>::Vec;
  constexpr int64_t NV = Blocking<T>::NV, L = Blocking<T>::kLanes;
#pragma GCC unroll 16
  for (int64_t i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int64_t v = 0; v < NV; ++v) {
      if (!kAllRows && i >= mr) continue;
      T* p = c + i * rs + v * L;
      Vec out = acc[i][v];
      if (beta != T(0)) {
        Vec old;
        __builtin_memcpy(&old, p, sizeof(Vec));
        out += beta * old;
      }
      __builtin_memcpy(p, &out, sizeof(Vec));
    }
}

// The micro-kernel: C[mr, nr] = A panel [MR, kc] @ B panel [kc, NR] + beta * C, the tile held in
// MR x NV vector registers. beta == 0 never reads C; edge tiles store only their valid part.
// A packed panel has row step 1 and depth step MR; a direct one (kDirectA) is the matrix itself,
// with its strides a_si (rows) and a_sk (depth). A packed B panel has depth step NR; a direct one
// (kDirectB) is NR contiguous columns of a row-major B with row stride b_sk.
// R <= MR rows are computed: an edge panel of a few rows (M = 16 or 32 leaves 4 or 8) runs a
// shorter tile instead of multiplying zeros.
template <class T, int64_t R, bool kDirectA, bool kDirectB>
void micro_kernel(int64_t kc, const T* __restrict a, int64_t a_si, int64_t a_sk, const T* __restrict b, int64_t b_sk,
                  int64_t mr, int64_t nr, T beta, T* c, int64_t rs, int64_t cs) {
  using Bl = Blocking<T>;
  using Vec = typename Bl::Vec;
  constexpr int64_t MR = R, NV = Bl::NV, L = Bl::kLanes;
  const int64_t si = kDirectA ? a_si : 1, sk = kDirectA ? a_sk : Bl::MR, bk = kDirectB ? b_sk : Bl::NR;
  // Every loop over the tile is unrolled: acc is only ever indexed by constants, so it stays
  // in registers instead of being zeroed and spilled through the stack.
  Vec acc[MR][NV] = {};
  for (int64_t k = 0; k < kc; ++k, a += sk, b += bk) {
    Vec bv[NV];
    for (int64_t v = 0; v < NV; ++v) __builtin_memcpy(&bv[v], b + v * L, sizeof(Vec));
#pragma GCC unroll 16
    for (int64_t i = 0; i < MR; ++i)
      for (int64_t v = 0; v < NV; ++v) acc[i][v] += a[i * si] * bv[v];
  }
  if (mr == MR && nr == Bl::NR && cs == 1) return store_rows<T, MR, true>(acc, mr, beta, c, rs);
  if (nr == Bl::NR && cs == 1) return store_rows<T, MR, false>(acc, mr, beta, c, rs);
  alignas(64) T tile[MR][Bl::NR];  // edge tile: through memory, where j may be any column
#pragma GCC unroll 16
  for (int64_t i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int64_t v = 0; v < NV; ++v) {
      Vec out = acc[i][v];
      __builtin_memcpy(&tile[i][v * L], &out, sizeof(Vec));
    }
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j) {
      T& dst = c[i * rs + j * cs];
      dst = beta == T(0) ? tile[i][j] : tile[i][j] + beta * dst;
    }
}

// A packed panel of at most R rows (the edge of A), with B packed or direct.
template <class T, int64_t R>
void edge_kernel(int64_t kc, const T* a, const T* b, bool b_direct, int64_t b_sk, int64_t mr, int64_t nr, T beta, T* c,
                 int64_t rs, int64_t cs) {
  if (b_direct) micro_kernel<T, R, false, true>(kc, a, 0, 0, b, b_sk, mr, nr, beta, c, rs, cs);
  else micro_kernel<T, R, false, false>(kc, a, 0, 0, b, 0, mr, nr, beta, c, rs, cs);
}

// Where the macro-kernel reads A's and B's panels: the packed buffers, or for `direct` operands
// the matrix itself (whole panels; the edge panel is still packed, as panel 0 of the buffer).
template <class T>
struct Operand {
  const T* packed;
  bool direct;
  const T* data;  // the block's first element in the matrix
  int64_t rs, cs;
};

// C[mc, nc] = A block [mc, kc] @ B block [kc, nc] + beta * C.
template <class T>
void macro_kernel(int64_t mc, int64_t nc, int64_t kc, const Operand<T>& A, const Operand<T>& B, T beta, T* c,
                  int64_t rs, int64_t cs) {
  constexpr int64_t MR = Blocking<T>::MR, NR = Blocking<T>::NR;
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    bool b_direct = B.direct && j0 + NR <= nc;
    const T* b = b_direct ? B.data + j0 : B.packed + (B.direct ? 0 : j0 * kc);
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
      bool a_direct = A.direct && i0 + MR <= mc;
      const T* a = a_direct ? A.data + i0 * A.rs : A.packed + (A.direct ? 0 : i0 * kc);
      int64_t mr = std::min(MR, mc - i0), nr = std::min(NR, nc - j0);
      T* ct = c + i0 * rs + j0 * cs;
      if (a_direct && b_direct) micro_kernel<T, MR, true, true>(kc, a, A.rs, A.cs, b, B.rs, mr, nr, beta, ct, rs, cs);
      else if (a_direct) micro_kernel<T, MR, true, false>(kc, a, A.rs, A.cs, b, 0, mr, nr, beta, ct, rs, cs);
      else if (mr <= MR / 3) edge_kernel<T, MR / 3>(kc, a, b, b_direct, B.rs, mr, nr, beta, ct, rs, cs);
      else if (mr <= 2 * MR / 3) edge_kernel<T, 2 * MR / 3>(kc, a, b, b_direct, B.rs, mr, nr, beta, ct, rs, cs);
      else if (b_direct) micro_kernel<T, MR, false, true>(kc, a, 0, 0, b, B.rs, mr, nr, beta, ct, rs, cs);
      else micro_kernel<T, MR, false, false>(kc, a, 0, 0, b, 0, mr, nr, beta, ct, rs, cs);
    }
  }
}

// Whether the micro-kernel may read a matrix in place with `stride` elements between the
// streams it walks: not at multiples of 4 KiB, whose lines all share one L1 set.
template <class T>
bool streams_ok(int64_t stride) {
  return (stride * static_cast<int64_t>(sizeof(T))) % 4096 != 0;
}

// One thread's GEMM: the loop nest of the header comment, with this thread's packing buffers.
// Packing an operand costs about as much as the multiply-adds it feeds when it is reused for few
// panels (an operand of the small GEMMs of the model: 32 to 128 columns, or a few rows), so an
// operand already laid out along a register panel is then read in place instead: A (without
// alpha) with unit row or depth stride when N is small, B with unit column stride when M is.
template <class T>
void gemm_serial(int64_t M, int64_t N, int64_t K, T alpha, MatrixRef<const T> A, MatrixRef<const T> B, T beta,
                 MatrixRef<T> C) {
  using Bl = Blocking<T>;
  constexpr int64_t MR = Bl::MR, NR = Bl::NR;
  constexpr int64_t kFewPanels = 512;  // reuse below which packing does not pay
  bool direct_a = alpha == T(1) && N <= kFewPanels &&
                  ((A.col_stride == 1 && streams_ok<T>(A.row_stride)) || (A.row_stride == 1 && streams_ok<T>(A.col_stride)));
  bool direct_b = M <= kFewPanels && B.col_stride == 1 && streams_ok<T>(B.row_stride);
  int64_t kc_max = std::min(K, Bl::KC);
  T* pb = scratch<T>(0, kc_max * (direct_b ? NR : std::min((N + NR - 1) / NR * NR, Bl::NC)));
  T* pa = scratch<T>(1, kc_max * (direct_a ? MR : std::min((M + MR - 1) / MR * MR, Bl::MC)));
  for (int64_t jc = 0; jc < N; jc += Bl::NC) {
    int64_t nc = std::min(Bl::NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += Bl::KC) {
      int64_t kc = std::min(Bl::KC, K - pc);
      T beta_pc = pc == 0 ? beta : T(1);  // later depth blocks accumulate onto the first
      const T* b_block = B.data + pc * B.row_stride + jc * B.col_stride;
      if (!direct_b) pack_b<T, NR>(kc, nc, b_block, B.row_stride, B.col_stride, pb);
      else if (nc % NR) pack_b<T, NR>(kc, nc % NR, b_block + (nc - nc % NR), B.row_stride, 1, pb);
      Operand<T> b_op{pb, direct_b, b_block, B.row_stride, 1};
      for (int64_t ic = 0; ic < M; ic += Bl::MC) {
        int64_t mc = std::min(Bl::MC, M - ic);
        const T* a_block = A.data + ic * A.row_stride + pc * A.col_stride;
        if (!direct_a) pack_a<T, MR>(mc, kc, a_block, A.row_stride, A.col_stride, alpha, pa);
        else if (mc % MR)
          pack_a<T, MR>(mc % MR, kc, a_block + (mc - mc % MR) * A.row_stride, A.row_stride, A.col_stride, alpha, pa);
        Operand<T> a_op{pa, direct_a, a_block, A.row_stride, A.col_stride};
        macro_kernel<T>(mc, nc, kc, a_op, b_op, beta_pc, C.data + ic * C.row_stride + jc * C.col_stride,
                        C.row_stride, C.col_stride);
      }
    }
  }
}

// C = beta * C, for K == 0 (nothing to multiply); beta == 0 writes zeros without reading C.
template <class T>
void scale_c(int64_t M, int64_t N, T beta, MatrixRef<T> C) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T& v = C.data[i * C.row_stride + j * C.col_stride];
      v = beta == T(0) ? T(0) : beta * v;
    }
}

}  // namespace

template <class T>
void gemm(int64_t M, int64_t N, int64_t K, T alpha, MatrixRef<const T> A, MatrixRef<const T> B, T beta,
          MatrixRef<T> C) {
  using Bl = Blocking<T>;
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) return scale_c(M, N, beta, C);

  // Threads pay off above ~2 MFLOP, and never inside a parallel region (batched callers have
  // already split the batch over the threads).
  int nt = in_parallel() || 2.0 * static_cast<double>(M) * N * K < 2e6 ? 1 : num_threads();
  // Split the dimension with more register tiles, so the rectangles stay balanced.
  int64_t m_tiles = (M + Bl::MR - 1) / Bl::MR, n_tiles = (N + Bl::NR - 1) / Bl::NR;
  bool along_n = n_tiles >= m_tiles;
  int64_t tiles = along_n ? n_tiles : m_tiles, tile = along_n ? Bl::NR : Bl::MR;
  if (std::min<int64_t>(nt, tiles) <= 1) return gemm_serial(M, N, K, alpha, A, B, beta, C);
  // Two rectangles per thread when each still has a few tiles: a thread the OS has descheduled
  // then delays only half its share (parallel_for hands the rest to the others).
  int64_t rects = std::min<int64_t>(tiles, tiles >= 8 * nt ? 2 * nt : nt);
  parallel_for(0, rects, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t lo = std::min(tiles * r / rects * tile, along_n ? N : M);
      int64_t hi = std::min(tiles * (r + 1) / rects * tile, along_n ? N : M);
      if (lo >= hi) continue;
      if (along_n)
        gemm_serial<T>(M, hi - lo, K, alpha, A, {B.data + lo * B.col_stride, B.row_stride, B.col_stride}, beta,
                       {C.data + lo * C.col_stride, C.row_stride, C.col_stride});
      else
        gemm_serial<T>(hi - lo, N, K, alpha, {A.data + lo * A.row_stride, A.row_stride, A.col_stride}, B, beta,
                       {C.data + lo * C.row_stride, C.row_stride, C.col_stride});
    }
  });
}

template void gemm<float>(int64_t, int64_t, int64_t, float, MatrixRef<const float>, MatrixRef<const float>, float,
                          MatrixRef<float>);
template void gemm<double>(int64_t, int64_t, int64_t, double, MatrixRef<const double>, MatrixRef<const double>,
                           double, MatrixRef<double>);

}  // namespace soft
