// cat, stack, split, index_select against index arithmetic on plain vectors, and their gradients.
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Element (i, j, k) of a contiguous [*, J, K] vector.
double at3(const std::vector<double>& v, int64_t J, int64_t K, int64_t i, int64_t j, int64_t k) {
  return v[(i * J + j) * K + k];
}

}  // namespace

FORWARD_CHECK(cat) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // a [2, 3, 4], b [2, 1, 4], c [2, 2, 4] along dim 1 -> [2, 6, 4]
    Tensor a = rand_input({2, 3, 4}, -1, 1, dtype, false);
    Tensor b = rand_input({2, 1, 4}, -1, 1, dtype, false);
    Tensor c = rand_input({2, 2, 4}, -1, 1, dtype, false);
    Tensor y = cat({a, b, c}, 1);
    REQUIRE(y.shape() == Shape{2, 6, 4});
    std::vector<double> va = a.to_vector(), vb = b.to_vector(), vc = c.to_vector(), expected;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 6; ++j)
        for (int64_t k = 0; k < 4; ++k)
          expected.push_back(j < 3 ? at3(va, 3, 4, i, j, k) : j < 4 ? at3(vb, 1, 4, i, j - 3, k)
                                                                    : at3(vc, 2, 4, i, j - 4, k));
    expect_close(y, expected, 0, 0);
    // Negative dim, dim 0 and the last dim, and a non-contiguous (transposed) input.
    expect_close(cat({a, b, c}, -2), expected, 0, 0);
    Tensor p = rand_input({3, 2}, -1, 1, dtype, false), q = rand_input({2, 3}, -1, 1, dtype, false);
    Tensor qt = transpose(q, 0, 1);  // [3, 2], strided
    std::vector<double> vp = p.to_vector(), vq = q.to_vector(), rows, cols;
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t j = 0; j < 2; ++j) rows.push_back(i < 3 ? vp[i * 2 + j] : vq[j * 3 + (i - 3)]);
    expect_close(cat({p, qt}, 0), rows, 0, 0);
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j) cols.push_back(j < 2 ? vp[i * 2 + j] : vq[(j - 2) * 3 + i]);
    expect_close(cat({p, qt}, 1), cols, 0, 0);
  }
  // Any dtype is joined (a copy), and an input of size 0 along dim contributes nothing.
  Tensor i1 = Tensor::from_vector({1, 2}, {2}, DType::Int64), i2 = Tensor::from_vector({7}, {1}, DType::Int64);
  Tensor joined = cat({i1, Tensor::empty({0}, DType::Int64), i2}, 0);
  CHECK(joined.dtype() == DType::Int64);
  CHECK(joined.to_vector() == std::vector<double>{1, 2, 7});
}

GRADCHECK(cat) {
  Fn fn = [](const std::vector<Tensor>& in) { return cat({in[0], in[1], in[2]}, 1); };
  expect_gradcheck(fn, {rand_input({2, 3}), rand_input({2, 1}), rand_input({2, 2})});
  // An input that does not require grad gets none; the others still do.
  expect_gradcheck([](const std::vector<Tensor>& in) { return cat({in[0], in[1]}, 0); },
                   {rand_input({2, 3}), rand_input({1, 3}, -1, 1, DType::Float64, false)});
}

TEST_CASE("cat rejects an empty list and mismatched shapes, dtypes, ranks, naming the op and shapes") {
  CHECK_THROWS_WITH_AS(cat({}, 0), "cat: needs at least one tensor, got an empty list", Error);
  CHECK_THROWS_WITH_AS(cat({zeros({2, 3}), zeros({3, 3})}, 1),
                       "cat: tensor 1 has shape [3, 3] but tensor 0 has shape [2, 3] (they must match in every "
                       "dim except 1)",
                       Error);
  CHECK_THROWS_WITH_AS(cat({zeros({2, 3}), zeros({2, 3, 1})}, 0),
                       "cat: tensor 1 has shape [2, 3, 1] but tensor 0 has shape [2, 3] (they must match in every "
                       "dim except 0)",
                       Error);
  CHECK_THROWS_WITH_AS(cat({zeros({2}), zeros({2}, DType::Float64)}, 0),
                       "cat: tensor 1 has dtype float64 but tensor 0 has float32", Error);
  CHECK_THROWS_AS(cat({zeros({2}), zeros({2})}, 1), Error);  // dim out of range
}

FORWARD_CHECK(stack) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor a = rand_input({2, 3}, -1, 1, dtype, false), b = rand_input({2, 3}, -1, 1, dtype, false);
    std::vector<double> va = a.to_vector(), vb = b.to_vector();
    // dim 0 -> [2(which), 2, 3]; dim 1 -> [2, 2(which), 3]; dim -1 -> [2, 3, 2(which)]
    std::vector<double> e0, e1, e2;
    for (int64_t w = 0; w < 2; ++w)
      for (int64_t i = 0; i < 6; ++i) e0.push_back((w ? vb : va)[i]);
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t w = 0; w < 2; ++w)
        for (int64_t j = 0; j < 3; ++j) e1.push_back((w ? vb : va)[i * 3 + j]);
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        for (int64_t w = 0; w < 2; ++w) e2.push_back((w ? vb : va)[i * 3 + j]);
    Tensor y0 = stack({a, b}, 0), y1 = stack({a, b}, 1), y2 = stack({a, b}, -1);
    CHECK(y0.shape() == Shape{2, 2, 3});
    CHECK(y1.shape() == Shape{2, 2, 3});
    CHECK(y2.shape() == Shape{2, 3, 2});
    expect_close(y0, e0, 0, 0);
    expect_close(y1, e1, 0, 0);
    expect_close(y2, e2, 0, 0);
  }
}

GRADCHECK(stack) {
  Fn fn = [](const std::vector<Tensor>& in) { return stack({in[0], in[1], in[0]}, 1); };  // in[0] twice
  expect_gradcheck(fn, {rand_input({2, 3}), rand_input({2, 3})});
}

TEST_CASE("stack rejects an empty list and unequal shapes") {
  CHECK_THROWS_WITH_AS(stack({}, 0), "stack: needs at least one tensor, got an empty list", Error);
  CHECK_THROWS_WITH_AS(stack({zeros({2, 3}), zeros({3, 2})}, 0),
                       "stack: tensor 1 has shape [3, 2] but tensor 0 has shape [2, 3] (all must be equal)", Error);
}

FORWARD_CHECK(split) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = rand_input({3, 7}, -1, 1, dtype, false);
    std::vector<double> vx = x.to_vector();
    std::vector<Tensor> parts = split(x, 3, 1);  // widths 3, 3, 1
    REQUIRE(parts.size() == 3);
    const int64_t widths[] = {3, 3, 1};
    for (int64_t p = 0; p < 3; ++p) {
      CHECK(parts[p].shape() == Shape{3, widths[p]});
      CHECK(parts[p].storage() == x.storage());  // views, no copy
      std::vector<double> expected;
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < widths[p]; ++j) expected.push_back(vx[i * 7 + p * 3 + j]);
      expect_close(parts[p], expected, 0, 0);
    }
    // Along dim 0 with a size that divides evenly, and a size larger than the dim.
    std::vector<Tensor> rows = split(x, 1, 0);
    REQUIRE(rows.size() == 3);
    for (int64_t i = 0; i < 3; ++i)
      expect_close(rows[i], std::vector<double>(vx.begin() + i * 7, vx.begin() + (i + 1) * 7), 0, 0);
    std::vector<Tensor> whole = split(x, 10, -1);
    REQUIRE(whole.size() == 1);
    CHECK(whole[0].shape() == Shape{3, 7});
  }
  CHECK(split(zeros({0, 2}), 2, 0).size() == 1);  // an empty dim gives one empty part (as PyTorch)
  CHECK_THROWS_WITH_AS(split(zeros({4}), 0, 0), "split: split_size must be positive, got 0", Error);
}

GRADCHECK(split) {
  // Each part is a recorded slice; weighting the parts differently checks every window's gradient.
  Fn fn = [](const std::vector<Tensor>& in) {
    std::vector<Tensor> p = split(in[0], 2, 1);  // [3, 5] -> [3, 2], [3, 2], [3, 1]
    return cat({p[2] * 3.0, p[0], exp(p[1])}, 1);
  };
  expect_gradcheck(fn, {rand_input({3, 5})});
}

FORWARD_CHECK(index_select) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // x [2, 4, 3], index along dim 1 with a repeat -> [2, 5, 3]
    Tensor x = rand_input({2, 4, 3}, -1, 1, dtype, false);
    std::vector<double> vx = x.to_vector();
    std::vector<int64_t> idx = {3, 0, 3, 1, 2};
    Tensor index = Tensor::from_vector({3, 0, 3, 1, 2}, {5}, DType::Int64);
    std::vector<double> e1;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t k = 0; k < 5; ++k)
        for (int64_t j = 0; j < 3; ++j) e1.push_back(at3(vx, 4, 3, i, idx[k], j));
    Tensor y = index_select(x, 1, index);
    CHECK(y.shape() == Shape{2, 5, 3});
    expect_close(y, e1, 0, 0);
    // Dim 0, the last dim (-1), and a non-contiguous input.
    Tensor i0 = Tensor::from_vector({1, 1, 0}, {3}, DType::Int64);
    std::vector<double> e0;
    for (int64_t r : {1, 1, 0})
      for (int64_t k = 0; k < 12; ++k) e0.push_back(vx[r * 12 + k]);
    expect_close(index_select(x, 0, i0), e0, 0, 0);
    Tensor i2 = Tensor::from_vector({2, 0}, {2}, DType::Int64);
    std::vector<double> e2;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 4; ++j)
        for (int64_t c : {2, 0}) e2.push_back(at3(vx, 4, 3, i, j, c));
    expect_close(index_select(x, -1, i2), e2, 0, 0);
    Tensor xt = transpose(x, 0, 2);  // [3, 4, 2]: xt[a][b][c] = x[c][b][a]
    std::vector<double> et;
    for (int64_t a = 0; a < 3; ++a)
      for (int64_t k = 0; k < 5; ++k)
        for (int64_t c = 0; c < 2; ++c) et.push_back(at3(vx, 4, 3, c, idx[k], a));
    expect_close(index_select(xt, 1, index), et, 0, 0);
  }
  // An empty index gives an empty dim; int64 data is gathered too.
  CHECK(index_select(zeros({3, 2}), 0, Tensor::empty({0}, DType::Int64)).shape() == Shape{0, 2});
  Tensor ints = Tensor::from_vector({10, 11, 12}, {3}, DType::Int64);
  CHECK(index_select(ints, 0, Tensor::from_vector({2, 2, 0}, {3}, DType::Int64)).to_vector() ==
        std::vector<double>{12, 12, 10});
}

GRADCHECK(index_select) {
  // Repeated indices: their gradients must add up in the same row of x.
  Tensor index = Tensor::from_vector({2, 0, 2, 2, 1}, {5}, DType::Int64);
  expect_gradcheck([index](const std::vector<Tensor>& in) { return index_select(in[0], 1, index); },
                   {rand_input({2, 4, 3})});
  expect_gradcheck([index](const std::vector<Tensor>& in) { return index_select(in[0], 0, index); },
                   {rand_input({3, 4})});
}

TEST_CASE("index_select gradient scatter-adds repeated indices (explicit values)") {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2}, DType::Float64);
  x.requires_grad_(true);
  Tensor index = Tensor::from_vector({2, 0, 2}, {3}, DType::Int64);
  Tensor g = Tensor::from_vector({1, 10, 100, 1000, 10000, 100000}, {3, 2}, DType::Float64);
  index_select(x, 0, index).backward(g);
  // row 0 gets g row 1; row 1 nothing; row 2 gets g rows 0 and 2.
  CHECK(x.grad().to_vector() == std::vector<double>{100, 1000, 0, 0, 10001, 100010});
}

TEST_CASE("index_select rejects bad indices, naming the op and the index") {
  Tensor x = zeros({3, 4});
  CHECK_THROWS_WITH_AS(index_select(x, 1, Tensor::from_vector({0, 4, 1}, {3}, DType::Int64)),
                       "index_select: index[1] = 4 is out of range for dim 1 of size 4", Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, Tensor::from_vector({-1}, {1}, DType::Int64)),
                       "index_select: index[0] = -1 is out of range for dim 0 of size 3", Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, Tensor::from_vector({0, 1}, {2}, DType::Float32)),
                       "index_select: index must be a 1-D int64 tensor, got float32 of shape [2]", Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, Tensor::from_vector({0, 1}, {1, 2}, DType::Int64)),
                       "index_select: index must be a 1-D int64 tensor, got int64 of shape [1, 2]", Error);
  CHECK_THROWS_AS(index_select(x, 2, Tensor::from_vector({0}, {1}, DType::Int64)), Error);
}
