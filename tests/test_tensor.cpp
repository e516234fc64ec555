// Tensor basics: construction, shape and strides, views and shared storage, alignment, item(),
// printing, devices, and the bfloat16 conversion.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/print.h"
#include "ops/ops.h"

using namespace soft;

namespace {

std::string printed(const Tensor& t) {
  std::ostringstream s;
  s << t;
  return s.str();
}

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t bf16_bits(uint32_t float_bits) { return bfloat16(bits_to_float(float_bits)).bits; }

}  // namespace

TEST_CASE("empty and from_vector: shape, strides, numel, dtype, values") {
  Tensor e = Tensor::empty({2, 3, 4}, DType::Float64);
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(e.strides() == Shape{12, 4, 1});
  CHECK(e.numel() == 24);
  CHECK(e.dim() == 3);
  CHECK(e.size(-1) == 4);
  CHECK(e.size(0) == 2);
  CHECK(e.dtype() == DType::Float64);
  CHECK(e.device() == Device::cpu());
  CHECK(e.storage()->bytes() == 24 * 8);
  CHECK(e.storage_offset() == 0);
  CHECK(e.is_contiguous());
  CHECK_FALSE(e.requires_grad());
  CHECK(e.is_leaf());

  Tensor s = Tensor::empty({});  // a scalar: no dims, one element
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(Tensor::empty({0, 5}).numel() == 0);

  Tensor v = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(v.dtype() == DType::Float32);
  CHECK(v.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(v.data<float>()[4] == 5.0f);
  Tensor i = Tensor::from_vector({-3, 7}, {2}, DType::Int64);
  CHECK(i.data<int64_t>()[0] == -3);

  CHECK_THROWS_WITH_AS(Tensor::from_vector({1, 2, 3}, {2, 2}), "from_vector: 3 values do not fill shape [2, 2]",
                       Error);
  CHECK_THROWS_WITH_AS(Tensor::empty({2, -1}), "empty: negative size in shape [2, -1]", Error);
  CHECK_THROWS_WITH_AS(v.data<double>(), "data<float64>(): tensor has dtype float32", Error);
  CHECK_THROWS_WITH_AS(v.size(2), "size: dim 2 is out of range for a tensor with 2 dims", Error);
  CHECK_THROWS_WITH_AS(Tensor().shape(), "use of an undefined tensor", Error);
  CHECK_FALSE(Tensor().defined());
}

TEST_CASE("contiguity after transpose and slice; size-1 dims do not matter") {
  Tensor x = Tensor::empty({4, 6});
  Tensor t = transpose(x, 0, 1);
  CHECK(t.shape() == Shape{6, 4});
  CHECK(t.strides() == Shape{1, 6});
  CHECK_FALSE(t.is_contiguous());
  CHECK(slice(x, 0, 1, 3).is_contiguous());  // whole rows
  CHECK(slice(x, 0, 1, 3).storage_offset() == 6);
  CHECK_FALSE(slice(x, 1, 1, 3).is_contiguous());  // part of each row
  CHECK_FALSE(slice(x, 0, 0, 4, 2).is_contiguous());
  CHECK(slice(x, 1, 2, 3).storage_offset() == 2);
  CHECK(slice(slice(x, 0, 2, 3), 1, 1, 4).is_contiguous());  // [1, 3] inside one row
  CHECK(unsqueeze(x, 1).is_contiguous());
  CHECK(transpose(unsqueeze(x, 0), 0, 1).shape() == Shape{4, 1, 6});
  CHECK(transpose(Tensor::empty({1, 5}), 0, 1).is_contiguous());  // [5, 1]: same memory order
}

TEST_CASE("views share storage: writes through a view under NoGradGuard reach the base") {
  Tensor base = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {2, 3}, DType::Float64);
  base.requires_grad_(true);
  Tensor row = slice(base, 0, 1, 2);  // [1, 3]
  Tensor col = slice(base, 1, 0, 1);  // [2, 1]
  CHECK(row.storage() == base.storage());
  CHECK(col.storage() == base.storage());
  {
    NoGradGuard guard;
    Tensor r = row.detach(), c = col.detach();
    fill_(r, 9.0);
    copy_(c, Tensor::from_vector({-1, -2}, {2, 1}, DType::Float64));
  }
  CHECK(base.to_vector() == std::vector<double>{-1, 1, 2, -2, 9, 9});
  CHECK(transpose(base, 0, 1).to_vector() == std::vector<double>{-1, -2, 1, 9, 2, 9});
  // detach shares the data too.
  Tensor d = base.detach();
  CHECK(d.storage() == base.storage());
  CHECK_FALSE(d.requires_grad());
}

TEST_CASE("CPU storage is 64-byte aligned for every size and dtype") {
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64, DType::BFloat16})
    for (int64_t n : {0, 1, 3, 17, 1000, 100003}) {
      Tensor t = Tensor::empty({n}, dtype);
      CHECK(reinterpret_cast<uintptr_t>(t.storage()->data()) % 64 == 0);
    }
}

TEST_CASE("item() reads one element of any dtype and rejects more") {
  CHECK(Tensor::from_vector({2.5}, {}).item() == 2.5);
  CHECK(Tensor::from_vector({7}, {1, 1}, DType::Int64).item() == 7);
  CHECK(Tensor::from_vector({0.5}, {1}, DType::BFloat16).item() == 0.5);
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {2, 2}, DType::Float64);
  CHECK(slice(slice(x, 0, 1, 2), 1, 0, 1).item() == 3);
  CHECK_THROWS_WITH_AS(x.item(), "item: tensor of shape [2, 2] has 4 elements, not one", Error);
  CHECK_THROWS_AS(Tensor::empty({0}).item(), Error);
}

TEST_CASE("printing shows shape, dtype, device and the values, eliding long dims") {
  Tensor x = Tensor::from_vector({1, 2.5, 3, 4, 5, 6}, {2, 3});
  std::string s = printed(x);
  CHECK(s.find("shape=[2, 3]") != std::string::npos);
  CHECK(s.find("dtype=float32") != std::string::npos);
  CHECK(s.find("device=cpu") != std::string::npos);
  CHECK(s.find("[[1, 2.5, 3],\n [4, 5, 6]]") != std::string::npos);
  // Values in logical order for a non-contiguous view.
  CHECK(printed(transpose(x, 0, 1)).find("[[1, 4],\n [2.5, 5],\n [3, 6]]") != std::string::npos);
  // Integers print without a decimal point; a long dim shows its ends around "...".
  Tensor r = arange(0, 100, 1, DType::Int64);
  CHECK(printed(r) == "tensor(shape=[100], dtype=int64, device=cpu)\n[0, 1, 2, ..., 97, 98, 99]");
  Tensor big = zeros({10, 2});
  std::string sb = printed(big);
  CHECK(sb.find("...") != std::string::npos);
  size_t rows = 0;
  for (size_t at = sb.find("[0, 0]"); at != std::string::npos; at = sb.find("[0, 0]", at + 1)) ++rows;
  CHECK(rows == 6);  // the first and last three of ten
  // Autograd state: a leaf that requires grad, and the op that made a result.
  Tensor leaf = ones({2}).requires_grad_();
  CHECK(printed(leaf).find("requires_grad=true") != std::string::npos);
  CHECK(printed(leaf * 2.0).find("grad_fn=mul_scalar") != std::string::npos);
  CHECK(printed(Tensor()) == "tensor(undefined)");
  CHECK(printed(Tensor::from_vector({4}, {})).find("\n4") != std::string::npos);  // a scalar
}

TEST_CASE("parse_device accepts cpu, cuda, cuda:N and names the bad text otherwise") {
  CHECK(parse_device("cpu") == Device::cpu());
  CHECK(parse_device("cuda") == Device::cuda(0));
  Device d = parse_device("cuda:1");
  CHECK(d.is_cuda());
  CHECK(d.index == 1);
  CHECK(d.str() == "cuda:1");
  CHECK(Device::cpu().str() == "cpu");
  CHECK(Device::cuda(0) != Device::cuda(1));
  CHECK_THROWS_WITH_AS(parse_device("gpu"), "unknown device 'gpu': expected cpu, cuda or cuda:N", Error);
  CHECK_THROWS_AS(parse_device("cuda:"), Error);
  CHECK_THROWS_AS(parse_device("cuda:x"), Error);
  CHECK_THROWS_AS(parse_device("CPU"), Error);
}

TEST_CASE("allocating on a CUDA device without a CUDA allocator is a clear soft::Error") {
  bool has_cuda_allocator = true;
  try {
    allocator_for(Device::cuda());
  } catch (const Error&) {
    has_cuda_allocator = false;
  }
  if (has_cuda_allocator) return;  // a CUDA build: the backend's own tests cover allocation
  CHECK_THROWS_WITH_AS(Tensor::empty({2, 2}, DType::Float32, Device::cuda()),
                       "cannot allocate on cuda:0: this build has no CUDA backend (configure with -DSOFT_CUDA=ON on "
                       "a machine with nvcc)",
                       Error);
  CHECK_THROWS_AS(zeros({3}, DType::Float32, Device::cuda(1)), Error);
  CHECK_THROWS_AS(ones({3}).to(Device::cuda()), Error);
}

TEST_CASE("pinned tensors: CPU tensors for every op; pin_memory and non_blocking copies keep the values") {
  // Pinned where the build and machine can (a GPU), ordinary memory elsewhere; the same values either way.
  Tensor x = Tensor::from_vector({1, -2, 3.5, 4, 5, -6}, {2, 3});
  Tensor p = x.pin_memory();
  CHECK(p.is_pinned() == pinned_memory_available());
  CHECK_FALSE(x.is_pinned());
  CHECK(p.device().is_cpu());
  CHECK(p.to_vector() == x.to_vector());
  CHECK((p * 2.0 + x).to_vector() == std::vector<double>{3, -6, 10.5, 12, 15, -18});
  Tensor t = transpose(p, 0, 1).pin_memory();  // a strided view: a contiguous pinned copy
  CHECK(t.is_contiguous());
  CHECK(t.to_vector() == std::vector<double>{1, 4, -2, 5, 3.5, -6});
  CHECK(p.to(Device::cpu(), /*non_blocking=*/true).same(p));  // already there: itself
  if (pinned_memory_available()) CHECK(p.pin_memory().same(p));
  CHECK_THROWS_WITH_AS(Tensor::empty({2}, DType::Float32, Device::cuda(), /*pinned=*/true),
                       "empty: pinned memory is host memory; asked for it on cuda:0", Error);
}

TEST_CASE("bfloat16 conversion: bit patterns, round half to even, NaN stays NaN") {
  CHECK(bfloat16(1.0f).bits == 0x3F80);
  CHECK(bfloat16(-2.0f).bits == 0xC000);
  CHECK(bfloat16(0.0f).bits == 0x0000);
  CHECK(bfloat16(-0.0f).bits == 0x8000);
  CHECK(bf16_bits(0x7F800000) == 0x7F80);  // +inf
  CHECK(bf16_bits(0xFF800000) == 0xFF80);  // -inf
  // Below half rounds down, above half up.
  CHECK(bf16_bits(0x3F807FFF) == 0x3F80);
  CHECK(bf16_bits(0x3F808001) == 0x3F81);
  // Exactly half: to the even neighbour, down from even 0x3F80 and up from odd 0x3F81.
  CHECK(bf16_bits(0x3F808000) == 0x3F80);
  CHECK(bf16_bits(0x3F818000) == 0x3F82);
  CHECK(bf16_bits(0xBF818000) == 0xBF82);  // the same for negatives
  // A carry ripples into the exponent; the largest float rounds to infinity.
  CHECK(bf16_bits(0x3FFFFFFF) == 0x4000);
  CHECK(bf16_bits(0x7F7FFFFF) == 0x7F80);
  // NaN stays NaN (quiet), for a signalling NaN whose payload sits only in the dropped bits too.
  for (uint32_t nan : {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0x7FA00000u}) {
    bfloat16 b(bits_to_float(nan));
    CHECK((b.bits & 0x7F80) == 0x7F80);
    CHECK((b.bits & 0x007F) != 0);
    CHECK(std::isnan(static_cast<float>(b)));
  }
  // Back to float: exact, the low 16 bits are zero.
  CHECK(static_cast<float>(bfloat16(1.0f)) == 1.0f);
  CHECK(static_cast<float>(bfloat16(bits_to_float(0x3F818000))) == bits_to_float(0x3F820000));
}
