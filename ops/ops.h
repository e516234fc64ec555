#pragma once
// Every op of the framework. Each is implemented in the file named in its section, with its
// CPU kernel and its backward side by side; ops/registry.cpp lists them all for the tests.
// Shapes in comments: B batch, C channels, N tokens, H x W spatial.
#include <array>
#include <utility>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace soft {

// ---- factories (ops/factory.cpp) ---------------------------------------------------------
Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor eye(int64_t n, DType dtype = DType::Float32, Device device = Device::cpu());
// start, start+step, ... < end (as PyTorch).
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::Float32,
              Device device = Device::cpu());

// ---- elementwise with broadcasting (ops/binary.cpp) ---------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& a, double s);  // a + s
Tensor mul_scalar(const Tensor& a, double s);  // a * s

// ---- elementwise math (ops/unary.cpp) -------------------------------------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor clamp(const Tensor& x, double min, double max);  // gradient 0 outside [min, max]

// ---- activations (ops/activation.cpp) ------------------------------------------------------
enum class GeluApprox { None, Tanh };  // exact erf form, or the tanh approximation
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x, GeluApprox approx = GeluApprox::None);

// ---- in-place updates, never recorded: optimisers, gradient accumulation (ops/copy.cpp) ----
void add_(Tensor& dst, const Tensor& src, double alpha = 1.0);  // dst += alpha * src, same shape
void mul_(Tensor& dst, double s);
void copy_(Tensor& dst, const Tensor& src);  // same shape; converts dtype
void fill_(Tensor& dst, double value);

// ---- reductions over dims (ops/reduce.cpp) --------------------------------------------------
Tensor sum(const Tensor& x);  // all elements -> shape []
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);     // values; gradient to the argmax
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // int64, first maximum
Tensor var(const Tensor& x, const Shape& dims, bool unbiased = true, bool keepdim = false);
// Sums a broadcast gradient back down to `shape` (the inverse of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- linear algebra (ops/matmul.cpp, ops/gemm.cpp) -----------------------------------------
// [..., M, K] @ [..., K, N] -> [..., M, N]; batch dims broadcast. Both at least 2-D.
Tensor matmul(const Tensor& a, const Tensor& b);
// x [..., in] @ weight[out, in]^T + bias[out] (bias may be undefined).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
// Squared Euclidean distance of every row of a to every row of b: [..., N, d], [..., M, d] -> [..., N, M].
Tensor pairwise_sqdist(const Tensor& a, const Tensor& b);

// ---- SOFT's attention kernels (ops/gaussian_kernel.cpp, ops/newton_inverse.cpp) -------------
// exp(-||a_i - b_j||^2 / 2): a [..., N, d], b [..., M, d] -> [..., N, M]. Distances and exp in one
// pass, in the difference form, so identical rows give exactly 1.
Tensor gaussian_kernel(const Tensor& a, const Tensor& b);
// gaussian_kernel's gradients {dL/da, dL/db} from dL/dy and its output y (each only when asked
// for); for ops that recompute y themselves. On the CPU one fused kernel; on other devices
// gaussian_kernel_backward_by_products: with gK = dL/dy * y written once,
// dL/da = gK b - rowsum(gK) a and dL/db = gK^T a - colsum(gK) b, two batched GEMMs (float32).
std::pair<Tensor, Tensor> gaussian_kernel_backward(const Tensor& grad_y, const Tensor& y, const Tensor& a,
                                                   const Tensor& b, bool need_a, bool need_b);
std::pair<Tensor, Tensor> gaussian_kernel_backward_by_products(const Tensor& grad_y, const Tensor& y,
                                                               const Tensor& a, const Tensor& b, bool need_a,
                                                               bool need_b);
// SOFT's attention product K1 (p (K1^T v)) with K1 = gaussian_kernel(q, landmarks):
// q [..., N, d], landmarks [..., m, d], p [..., m, m], v [..., N, e] -> [..., N, e]. K1 [..., N, m]
// is made in blocks of block_rows rows (0: as many as fit 32 MiB), never whole when it is larger,
// and made again in backward; memory O(N (d + e) + m^2).
Tensor gaussian_lowrank_attention(const Tensor& q, const Tensor& landmarks, const Tensor& p, const Tensor& v,
                                  int64_t block_rows = 0);
enum class NewtonForm {
  Journal,  // official master: P = K + 0.01 I, alpha per matrix, no autograd, one-step backward
  NeurIPS,  // the paper's: P = K, one alpha for the batch halved until ||I - PV|| <= 1.01, autograd through
};
// Newton-Raphson iterations V <- 2V - V P V for k [..., m, m] (a symmetric Gaussian kernel
// matrix). Journal form: towards the regularised inverse (k + 0.01 I)^-1; NeurIPS form: towards
// the Moore-Penrose inverse of k. docs/MODEL.md derives the backward and measures its error.
Tensor newton_inverse(const Tensor& k, int64_t iterations = 20, NewtonForm form = NewtonForm::Journal);

// The attention zoo (docs/ATTENTION_ZOO.md), compositions of the ops above, so every backend that
// has those runs them. q, k, v are [B, h, N, d] (B, h any batch dims for the pooling).
// Adaptive average pooling of tokens on an H x W grid (row-major) to oh x ow cells, PyTorch's
// adaptive_avg_pool2d windows: x [..., H*W, d] -> [..., oh*ow, d]. Parameter-free.
Tensor adaptive_avg_pool_tokens(const Tensor& x, int64_t H, int64_t W, int64_t oh, int64_t ow);
// Linformer: softmax(scale q (E k)^T) (F v), E, F [k, N] -> [B, h, N, d].
Tensor linformer_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& E, const Tensor& F,
                           double scale);
// Performer's FAVOR+ with projection w [M, d] (positive features, q and k scaled by d^-1/4 inside).
Tensor favor_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& w);
// Nystromformer's iterative Moore-Penrose pseudo-inverse of a [..., m, m] row-stochastic matrix.
Tensor nystrom_pinv(const Tensor& a, int64_t iterations = 6);
// Nystromformer without its conv skip: q, k (already scaled by d^-1/4) with `landmarks` segment
// means (capped at N) -> [B, h, N, d].
Tensor nystrom_attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t landmarks, int64_t iterations = 6);

// ---- convolution (ops/conv2d.cpp) ----------------------------------------------------------
struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  int64_t groups = 1;
};
// x [B, Cin, H, W], weight [Cout, Cin/groups, kh, kw], bias [Cout] or undefined -> [B, Cout, Ho, Wo].
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p = {});
// The two gradients, also used by conv2d's backward: dL/dx and dL/dweight from dL/dy.
Tensor conv2d_grad_input(const Tensor& grad_y, const Tensor& weight, const Shape& x_shape, const Conv2dParams& p);
Tensor conv2d_grad_weight(const Tensor& grad_y, const Tensor& x, const Shape& w_shape, const Conv2dParams& p);

// ---- pooling (ops/pool.cpp) ----------------------------------------------------------------
struct Pool2dParams {
  std::array<int64_t, 2> kernel{2, 2};
  std::array<int64_t, 2> stride{2, 2};
  std::array<int64_t, 2> padding{0, 0};
};
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);  // x [B, C, H, W]
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p);  // padding counts in the divisor (PyTorch default)

// ---- normalisation (ops/batch_norm.cpp, ops/layer_norm.cpp) ---------------------------------
// x [B, C, ...]. Training: normalises with batch statistics and updates running_mean/var in place
// (unbiased variance, PyTorch's momentum convention). Eval: uses the running statistics.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                  Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
// Normalises over the last normalized_shape.size() dims; weight/bias have normalized_shape or are undefined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps = 1e-5);

// ---- softmax and losses (ops/softmax.cpp, ops/cross_entropy.cpp) -----------------------------
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Mean cross-entropy of logits [B, C]. target int64 [B] (class indices) or float [B, C]
// (probabilities, e.g. mixed labels). Smoothing eps mixes the target with the uniform
// distribution, t * (1 - eps) + eps / C, for both forms (as PyTorch).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, double label_smoothing = 0.0);

// ---- stochastic regularisers (ops/dropout.cpp) -----------------------------------------------
// Identity when !training or p == 0. Kept elements are scaled by 1/(1-p).
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator());
// Drops whole samples (dim 0) of a residual branch: stochastic depth.
Tensor drop_path(const Tensor& x, double p, bool training, Generator& gen = default_generator());

// ---- shapes and views (ops/view.cpp, ops/join.cpp) ---------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);  // one -1 allowed; a view when possible, else a copy
Tensor view(const Tensor& x, const Shape& shape);     // a view or an error
Tensor permute(const Tensor& x, const Shape& dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor contiguous(const Tensor& x);  // x itself when already contiguous
Tensor expand(const Tensor& x, const Shape& shape);  // broadcast view; -1 keeps a dim
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);  // a view
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim = -1);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim);  // views; the last may be shorter
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);     // index int64 [K]

// ---- resampling (ops/interpolate.cpp) --------------------------------------------------------
// Bilinear resize of x [B, C, H, W] to [B, C, out_h, out_w], align_corners = false (as PyTorch).
Tensor interpolate_bilinear(const Tensor& x, int64_t out_h, int64_t out_w);

// ---- dtype and device (ops/convert.cpp) -------------------------------------------------------
Tensor to_dtype(const Tensor& x, DType dtype);    // gradient converted back to x's dtype
// non_blocking: see Tensor::to (core/tensor.h); the gradient always goes back blocking.
Tensor to_device(const Tensor& x, Device device, bool non_blocking = false);

// ---- operators ---------------------------------------------------------------------------------
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return add_scalar(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add_scalar(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add_scalar(a, -s); }
inline Tensor operator-(double s, const Tensor& a) { return add_scalar(neg(a), s); }
inline Tensor operator*(const Tensor& a, double s) { return mul_scalar(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul_scalar(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul_scalar(a, 1.0 / s); }
inline Tensor operator/(double s, const Tensor& a) { return mul_scalar(pow(a, -1.0), s); }

}  // namespace soft
