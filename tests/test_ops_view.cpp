// Shape ops (reshape, view, permute, transpose, contiguous, expand, slice) against index
// arithmetic on plain vectors: which ones share storage, and their float64 gradients.
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

// x [2, 3, 4] permuted by `dims`, element by element: out[i0][i1][i2] = x[index with i_k at dims[k]].
std::vector<double> naive_permute3(const std::vector<double>& v, const Shape& shape, const Shape& dims) {
  Shape out_shape = {shape[dims[0]], shape[dims[1]], shape[dims[2]]};
  std::vector<double> out;
  for (int64_t a = 0; a < out_shape[0]; ++a)
    for (int64_t b = 0; b < out_shape[1]; ++b)
      for (int64_t c = 0; c < out_shape[2]; ++c) {
        int64_t src[3];
        src[dims[0]] = a;
        src[dims[1]] = b;
        src[dims[2]] = c;
        out.push_back(v[(src[0] * shape[1] + src[1]) * shape[2] + src[2]]);
      }
  return out;
}

}  // namespace

FORWARD_CHECK(reshape) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({2, 3, 4}, -1, 1, dtype, false);
    std::vector<double> v = x.to_vector();
    Tensor y = reshape(x, {4, -1});
    CHECK(y.shape() == Shape{4, 6});
    CHECK(y.storage() == x.storage());  // contiguous: a view
    expect_close(y, v, 0, 0);           // row-major order is unchanged
    CHECK(reshape(x, {-1}).shape() == Shape{24});
    CHECK(reshape(x, {2, -1, 2}).shape() == Shape{2, 6, 2});
    // A transposed tensor must be copied: the result holds the transposed values in row-major order.
    Tensor xt = transpose(x, 1, 2);  // [2, 4, 3]
    Tensor r = reshape(xt, {8, 3});
    CHECK(r.storage() != x.storage());
    std::vector<double> expected;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t k = 0; k < 4; ++k)
        for (int64_t j = 0; j < 3; ++j) expected.push_back(v[(i * 3 + j) * 4 + k]);
    expect_close(r, expected, 0, 0);
  }
  Tensor x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(reshape(x, {4, -1}), "reshape: cannot reshape [2, 3] into [4, -1]", Error);
  CHECK_THROWS_WITH_AS(reshape(x, {-1, -1}), "reshape: more than one -1 in [-1, -1]", Error);
  CHECK_THROWS_WITH_AS(reshape(x, {5}), "reshape: cannot reshape [2, 3] (6 elements) into [5]", Error);
}

GRADCHECK(reshape) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return reshape(in[0], {3, -1}); }, {rand_input({2, 3, 2})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return reshape(transpose(in[0], 0, 1), {-1}); },
                   {rand_input({3, 4})});
}

FORWARD_CHECK(view) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({3, 4}, -1, 1, dtype, false);
    Tensor y = view(x, {2, 2, 3});
    CHECK(y.shape() == Shape{2, 2, 3});
    CHECK(y.strides() == Shape{6, 3, 1});
    CHECK(y.storage() == x.storage());
    expect_close(y, x.to_vector(), 0, 0);
    // A contiguous slice keeps its storage offset.
    Tensor row = slice(x, 0, 1, 2);  // [1, 4] at offset 4
    Tensor flat = view(row, {4});
    CHECK(flat.storage_offset() == 4);
    std::vector<double> v = x.to_vector();
    expect_close(flat, std::vector<double>(v.begin() + 4, v.begin() + 8), 0, 0);
  }
  CHECK_THROWS_WITH_AS(view(transpose(zeros({2, 3}), 0, 1), {6}),
                       "view: tensor of shape [3, 2] is not contiguous; use reshape() or contiguous() first", Error);
}

GRADCHECK(view) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return view(in[0], {4, 3}); }, {rand_input({2, 6})});
}

FORWARD_CHECK(permute) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({2, 3, 4}, -1, 1, dtype, false);
    std::vector<double> v = x.to_vector();
    for (Shape dims : {Shape{2, 0, 1}, Shape{1, 2, 0}, Shape{0, 2, 1}, Shape{0, 1, 2}}) {
      Tensor y = permute(x, dims);
      CHECK(y.shape() == Shape{x.shape()[dims[0]], x.shape()[dims[1]], x.shape()[dims[2]]});
      CHECK(y.storage() == x.storage());
      expect_close(y, naive_permute3(v, x.shape(), dims), 0, 0);
    }
    expect_close(permute(x, {-1, 0, -2}), naive_permute3(v, x.shape(), {2, 0, 1}), 0, 0);
  }
  CHECK_THROWS_WITH_AS(permute(zeros({2, 3}), {0, 0}), "permute: dim 0 repeats in [0, 0]", Error);
  CHECK_THROWS_WITH_AS(permute(zeros({2, 3}), {0}), "permute: 1 dims given for a tensor of shape [2, 3]", Error);
}

GRADCHECK(permute) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return permute(in[0], {2, 0, 1}); }, {rand_input({2, 3, 2})});
}

FORWARD_CHECK(transpose) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({2, 3, 4}, -1, 1, dtype, false);
    std::vector<double> v = x.to_vector();
    Tensor y = transpose(x, 0, 2);
    CHECK(y.shape() == Shape{4, 3, 2});
    CHECK_FALSE(y.is_contiguous());
    expect_close(y, naive_permute3(v, x.shape(), {2, 1, 0}), 0, 0);
    expect_close(transpose(x, -1, 1), naive_permute3(v, x.shape(), {0, 2, 1}), 0, 0);
    CHECK(transpose(x, 1, 1).is_contiguous());
  }
  CHECK_THROWS_AS(transpose(zeros({2, 3}), 0, 2), Error);
}

GRADCHECK(transpose) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return transpose(in[0], 0, 1); }, {rand_input({3, 4})});
}

FORWARD_CHECK(contiguous) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({3, 4}, -1, 1, dtype, false);
    CHECK(contiguous(x).same(x));  // already contiguous: x itself
    std::vector<double> v = x.to_vector(), expected;
    Tensor c = contiguous(transpose(x, 0, 1));
    CHECK(c.is_contiguous());
    CHECK(c.strides() == Shape{3, 1});
    CHECK(c.storage() != x.storage());
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t i = 0; i < 3; ++i) expected.push_back(v[i * 4 + j]);
    // Read the raw buffer, not the logical order: the copy must be laid out row-major.
    std::vector<double> raw;
    for (int64_t k = 0; k < 12; ++k)
      raw.push_back(dtype == DType::Float32 ? c.data<float>()[k] : c.data<double>()[k]);
    CHECK(raw == expected);
  }
}

GRADCHECK(contiguous) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return contiguous(transpose(in[0], 0, 1)); },
                   {rand_input({3, 4})});
}

TEST_CASE("contiguous copies of permuted views, tiled or not, match index arithmetic at several tile sizes") {
  // Dims of 37 and 21 leave partial 16 x 16 tiles; every permutation of 3 dims, so some copies
  // run as tiled transposes (a unit-stride source dim other than the last) and some row by row.
  const Shape shape = {3, 37, 21};
  for (DType dtype : {DType::Float32, DType::Float64})
    for (Shape dims : std::vector<Shape>{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}) {
      INFO("permutation ", shape_str(dims), " ", std::string(dtype_name(dtype)));
      Tensor x = rand_input(shape, -1, 1, dtype, false);
      std::vector<double> expected = naive_permute3(x.to_vector(), shape, dims);
      Tensor c = contiguous(permute(x, dims));
      CHECK(c.is_contiguous());
      expect_close(c, expected, 0, 0);
      expect_close(to_dtype(permute(x, dims), dtype == DType::Float32 ? DType::Float64 : DType::Float32), expected,
                   1e-6, 1e-6);  // the same walk, converting on the way
    }
}

FORWARD_CHECK(expand) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({3, 1}, -1, 1, dtype, false);
    std::vector<double> v = x.to_vector();
    // [3, 1] -> [2, 3, 4]: a new leading dim and a broadcast dim, both with stride 0.
    Tensor y = expand(x, {2, 3, 4});
    CHECK(y.shape() == Shape{2, 3, 4});
    CHECK(y.strides() == Shape{0, 1, 0});
    CHECK(y.storage() == x.storage());
    std::vector<double> expected;
    for (int64_t a = 0; a < 2; ++a)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t k = 0; k < 4; ++k) expected.push_back(v[i]);
    expect_close(y, expected, 0, 0);
    expect_close(expand(x, {2, -1, 4}), expected, 0, 0);  // -1 keeps the size
  }
  CHECK_THROWS_WITH_AS(expand(zeros({3, 2}), {3, 4}), "expand: cannot expand [3, 2] to [3, 4]", Error);
  CHECK_THROWS_WITH_AS(expand(zeros({3}), {-1, 3}), "expand: size -1 is not allowed for a new leading dim in [-1, 3]",
                       Error);
  CHECK_THROWS_AS(expand(zeros({2, 3}), {3}), Error);
}

GRADCHECK(expand) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return expand(in[0], {2, 3, 4}); }, {rand_input({3, 1})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return expand(in[0], {2, -1}); }, {rand_input({1, 3})});
}

FORWARD_CHECK(slice) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({3, 10}, -1, 1, dtype, false);
    std::vector<double> v = x.to_vector();
    // Naive: columns start, start+step, ... < end of every row, indices already resolved.
    auto naive = [&](int64_t start, int64_t end, int64_t step) {
      std::vector<double> out;
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = start; j < end; j += step) out.push_back(v[i * 10 + j]);
      return out;
    };
    Tensor s = slice(x, 1, 2, 9, 3);  // columns 2, 5, 8
    CHECK(s.shape() == Shape{3, 3});
    CHECK(s.storage() == x.storage());
    expect_close(s, naive(2, 9, 3), 0, 0);
    expect_close(slice(x, 1, 1, 10, 2), naive(1, 10, 2), 0, 0);
    expect_close(slice(x, -1, -4, -1), naive(6, 9, 1), 0, 0);      // negative start and end
    expect_close(slice(x, 1, -100, 3), naive(0, 3, 1), 0, 0);      // clipped to the dim
    expect_close(slice(x, 1, 7, 1000, 2), naive(7, 10, 2), 0, 0);  // clipped end
    CHECK(slice(x, 1, 8, 3).shape() == Shape{3, 0});                // end before start: empty
    CHECK(slice(x, 1, 20, 30).shape() == Shape{3, 0});
    // Along dim 0, and a slice of a slice (offsets add up).
    Tensor rows = slice(x, 0, 1, 3);
    expect_close(rows, std::vector<double>(v.begin() + 10, v.end()), 0, 0);
    std::vector<double> inner;
    for (int64_t i = 1; i < 3; ++i)
      for (int64_t j = 4; j < 10; j += 4) inner.push_back(v[i * 10 + j]);
    expect_close(slice(slice(rows, 1, 2, 10, 2), 1, 1, 10, 2), inner, 0, 0);  // columns 4, 8
  }
  CHECK_THROWS_WITH_AS(slice(zeros({4}), 0, 0, 4, 0), "slice: step must be positive, got 0", Error);
  CHECK_THROWS_AS(slice(zeros({4}), 1, 0, 4), Error);
}

GRADCHECK(slice) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return slice(in[0], 1, -5, 7, 2); }, {rand_input({2, 8})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return slice(in[0], 0, 1, 100); }, {rand_input({3, 2})});
}

TEST_CASE("views share storage: writes through a slice and a transpose reach the base") {
  Tensor x = zeros({3, 4}, DType::Float64);
  Tensor col = slice(x, 1, 1, 2);  // [3, 1]
  fill_(col, 5.0);
  Tensor xt = transpose(x, 0, 1);  // [4, 3]
  Tensor last = slice(xt, 0, 3, 4);  // x's column 3
  copy_(last, Tensor::from_vector({1, 2, 3}, {1, 3}, DType::Float64));
  CHECK(x.to_vector() == std::vector<double>{0, 5, 0, 1, 0, 5, 0, 2, 0, 5, 0, 3});
}
