// gaussian_lowrank_attention: SOFT's attention product K1 (P (K1^T v)), K1 = gaussian_kernel(q, L),
// without holding the N x m matrix K1 whole when it is large.
//
// K1 is the one tensor of SOFT's attention that is N x m (N tokens, m landmarks). With the
// landmark stride fixed, m grows with N and K1 dominates memory (512 MiB for one 256 x 256 image
// with two heads: N = 65,536, m = 1,024); the plain composition of ops keeps it for backward and
// makes two gradients of its size there. Here K1 is made in blocks of rows of at most
// kBlockBytes:
//
//   forward   kv = sum_b K1_b^T v_b        [m, e]    pkv = P kv     [m, e]    out_b = K1_b pkv
//   backward  g_pkv = sum_b K1_b^T g_b     gP = g_pkv kv^T           g_kv = P^T g_pkv
//             per block: gv_b = K1_b g_kv,  gK1_b = g_b pkv^T + v_b g_kv^T, and gaussian_kernel's own
//             backward takes gK1_b to gq_b and the block's share of gL.
//
// Each pass needs a sum over all blocks before any block's result, so a K1 of several blocks is
// made twice in forward and twice in backward (one kernel costs about as much as one of the
// products); memory is O(N (d + e) + m^2) plus one block. A K1 that fits one block is made once
// and kept for backward, as the plain composition would. Built from ops with CPU and CUDA
// kernels (gaussian_kernel, matmul, copy_), so it runs on either device.
#include <algorithm>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "ops/autocast.h"
#include "ops/dispatch.h"
#include "ops/ops.h"

namespace soft {
namespace {

constexpr int64_t kBlockBytes = int64_t(32) << 20;  // the largest block of K1 made at once

Tensor transpose_last(const Tensor& x) { return transpose(x, -1, -2); }
Shape batch_of(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 2); }

// K1 = gaussian_kernel(q, landmarks) [..., N, m] by blocks of `rows` rows.
struct KernelRowBlocks {
  Tensor q, landmarks;  // [..., N, d], [..., m, d]; detached
  int64_t N = 0, rows = 1;
  Tensor whole;         // K1 when it is a single block, made once

  int64_t count() const { return (N + rows - 1) / rows; }
  Tensor rows_of(const Tensor& x, int64_t b) const { return slice(x, -2, b * rows, std::min(N, (b + 1) * rows)); }
  Tensor k1(int64_t b) const { return whole.defined() ? whole : gaussian_kernel(rows_of(q, b), landmarks); }
};

// The forward's operands and sums, kept for the backward.
struct Saved {
  KernelRowBlocks blocks;
  Tensor p, v;  // [..., m, m], [..., N, e]; detached
  Tensor kv, pkv;  // [..., m, e]: K1^T v and p K1^T v
};

// out [..., N, e] = K1 pkv with pkv = p (K1^T v); sets saved.kv and saved.pkv.
Tensor forward(Saved& saved) {
  NoGradGuard no_grad;
  KernelRowBlocks& blocks = saved.blocks;
  if (blocks.count() == 1) blocks.whole = gaussian_kernel(blocks.q, blocks.landmarks);
  Shape sums = batch_of(saved.v);
  sums.push_back(blocks.landmarks.size(-2));
  sums.push_back(saved.v.size(-1));
  saved.kv = zeros(sums, saved.v.dtype(), saved.v.device());
  for (int64_t b = 0; b < blocks.count(); ++b)
    add_(saved.kv, matmul(transpose_last(blocks.k1(b)), blocks.rows_of(saved.v, b)));
  {
    AutocastBf16 float32(false);  // products with K2^+ stay float32 under mixed precision
    saved.pkv = matmul(saved.p, saved.kv);
  }
  Tensor out = Tensor::empty(saved.v.shape(), saved.v.dtype(), saved.v.device());
  for (int64_t b = 0; b < blocks.count(); ++b) {
    Tensor out_b = blocks.rows_of(out, b);
    copy_(out_b, matmul(blocks.k1(b), saved.pkv));
  }
  return out;
}

// {dq, dlandmarks, dp, dv} from g = dL/dout [..., N, e], each when asked for.
Grads backward(const Saved& saved, const Tensor& g, const std::vector<bool>& needs) {
  const KernelRowBlocks& blocks = saved.blocks;
  Tensor g_pkv = zeros_like(saved.pkv);  // K1^T g
  for (int64_t b = 0; b < blocks.count(); ++b)
    add_(g_pkv, matmul(transpose_last(blocks.k1(b)), blocks.rows_of(g, b)));
  Tensor gp, g_kv;
  {
    AutocastBf16 float32(false);  // products with K2^+ stay float32 under mixed precision
    if (needs[2]) gp = matmul(g_pkv, transpose_last(saved.kv));
    g_kv = matmul(transpose_last(saved.p), g_pkv);
  }
  Tensor pkv_gkv = cat({saved.pkv, g_kv}, -1);  // [..., m, 2e]: gK1_b = [g_b v_b] [pkv g_kv]^T, one product
  Tensor gq = needs[0] ? Tensor::empty(blocks.q.shape(), g.dtype(), g.device()) : Tensor();
  Tensor gl = needs[1] ? zeros_like(blocks.landmarks) : Tensor();
  Tensor gv = needs[3] ? Tensor::empty(saved.v.shape(), g.dtype(), g.device()) : Tensor();
  if (!needs[0] && !needs[1] && !needs[3]) return Grads{gq, gl, gp, gv};
  for (int64_t b = 0; b < blocks.count(); ++b) {
    Tensor k1 = blocks.k1(b);  // [..., rows, m]
    if (needs[3]) {
      Tensor gv_b = blocks.rows_of(gv, b);
      copy_(gv_b, matmul(k1, g_kv));
    }
    if (!needs[0] && !needs[1]) continue;
    Tensor g_k1 = matmul(cat({blocks.rows_of(g, b), blocks.rows_of(saved.v, b)}, -1), transpose_last(pkv_gkv));
    auto [gq_b, gl_b] =
        gaussian_kernel_backward(g_k1, k1, blocks.rows_of(blocks.q, b), blocks.landmarks, needs[0], needs[1]);
    if (needs[0]) {
      Tensor gq_rows = blocks.rows_of(gq, b);
      copy_(gq_rows, gq_b);
    }
    if (needs[1]) add_(gl, gl_b);
  }
  return Grads{gq, gl, gp, gv};
}

}  // namespace

Tensor gaussian_lowrank_attention(const Tensor& q, const Tensor& landmarks, const Tensor& p, const Tensor& v,
                                  int64_t block_rows) {
  const char* op = "gaussian_lowrank_attention";
  SOFT_CHECK(q.defined() && landmarks.defined() && p.defined() && v.defined(), op, ": undefined operand");
  check_same_device(op, {&q, &landmarks, &p, &v});
  check_same_dtype(op, {&q, &landmarks, &p, &v});
  const bool ranks_ok = q.dim() >= 2 && landmarks.dim() == q.dim() && p.dim() == q.dim() && v.dim() == q.dim();
  const bool batches_ok =
      ranks_ok && batch_of(landmarks) == batch_of(q) && batch_of(p) == batch_of(q) && batch_of(v) == batch_of(q);
  SOFT_CHECK(batches_ok && landmarks.size(-1) == q.size(-1) && p.size(-2) == landmarks.size(-2) &&
                 p.size(-1) == landmarks.size(-2) && v.size(-2) == q.size(-2),
             op, ": q ", shape_str(q.shape()), ", landmarks ", shape_str(landmarks.shape()), ", p ",
             shape_str(p.shape()), ", v ", shape_str(v.shape()),
             ": need [..., N, d], [..., m, d], [..., m, m], [..., N, e] with equal batch dims");
  SOFT_CHECK(block_rows >= 0, op, ": block_rows must be >= 0, got ", block_rows);
  dispatch_float(q.dtype(), op, [](auto) {});  // float32 or float64, else an error naming the op

  Saved saved;
  saved.blocks.q = q.detach();
  saved.blocks.landmarks = landmarks.detach();
  saved.blocks.N = q.size(-2);
  int64_t row_bytes = numel_of(batch_of(q)) * landmarks.size(-2) * static_cast<int64_t>(dtype_size(q.dtype()));
  saved.blocks.rows = block_rows > 0 ? block_rows : std::max<int64_t>(1, kBlockBytes / std::max<int64_t>(row_bytes, 1));
  saved.p = p.detach();
  saved.v = v.detach();
  Tensor out = forward(saved);
  return record(op, out, {q, landmarks, p, v},
                [saved](const Tensor& g, const std::vector<bool>& needs) { return backward(saved, g, needs); });
}

}  // namespace soft
