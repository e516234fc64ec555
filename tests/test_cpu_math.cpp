// The CPU kernels' vectorisable float math (ops/cpu_math.h) against the C library in double,
// over the whole range the kernels meet, and parallel_for's pool (core/parallel.h): every index
// once, nested calls inline, exceptions passed to the caller.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "core/parallel.h"
#include "ops/cpu_math.h"

using namespace soft;

namespace {

// Largest |f(x) - ref(x)| / (atol + rtol |ref(x)|) over float x in [lo, hi] in steps of `step`:
// at most 1 when f is within the tolerance everywhere.
template <class F, class Ref>
double worst_error(F f, Ref ref, double lo, double hi, double step, double atol, double rtol) {
  double worst = 0;
  for (double v = lo; v <= hi; v += step) {
    float x = static_cast<float>(v);
    double want = ref(static_cast<double>(x));
    worst = std::max(worst, std::fabs(static_cast<double>(f(x)) - want) / (atol + rtol * std::fabs(want)));
  }
  return worst;
}

constexpr double kSqrt2OverPi = 0.7978845608028654;

double gelu_tanh_ref(double x) { return 0.5 * x * (1 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x))); }
double gelu_tanh_grad_ref(double x) {
  double t = std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * kSqrt2OverPi * (1 + 3 * 0.044715 * x * x);
}
double gelu_erf_ref(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_erf_grad_ref(double x) {
  return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}

}  // namespace

TEST_CASE("cpu_math: exp, logistic and erf in float agree with the C library to a few ulp") {
  auto exp_ref = [](double x) { return std::exp(x); };
  auto logistic_ref = [](double x) { return 1 / (1 + std::exp(-x)); };
  auto s_1ms_ref = [](double x) { return std::exp(-x) / ((1 + std::exp(-x)) * (1 + std::exp(-x))); };
  CHECK(worst_error([](float x) { return cpu_math::exp_nonpositive(x); }, exp_ref, -87, 0, 1e-3, 0, 4e-7) <= 1);
  CHECK(worst_error([](float x) { return cpu_math::logistic(x).s; }, logistic_ref, -80, 80, 1e-3, 0, 4e-7) <= 1);
  CHECK(worst_error([](float x) { return cpu_math::logistic(x).s_1ms; }, s_1ms_ref, -80, 80, 1e-3, 0, 1e-6) <= 1);
  // erf within 5 float ulp of 1 in absolute terms (4.2e-7 seen in the -O1 sanitizer build).
  CHECK(worst_error([](float x) { return cpu_math::erf(x); }, [](double x) { return std::erf(x); }, -8, 8, 1e-4,
                    6e-7, 0) <= 1);
  CHECK(cpu_math::exp_nonpositive(0.0f) == 1.0f);
  CHECK(cpu_math::exp_nonpositive(-200.0f) == 0.0f);
  CHECK(cpu_math::logistic(200.0f).s == 1.0f);
  CHECK(cpu_math::logistic(-200.0f).s == 0.0f);
  CHECK(std::isnan(cpu_math::erf(NAN)));
  CHECK(std::isnan(cpu_math::gelu_tanh(NAN)));
}

TEST_CASE("cpu_math: both GELU forms and their derivatives in float against double references") {
  // The tolerance of the ops' float32 forward checks (tests/op_check.h): atol 1e-6, rtol 1e-5.
  CHECK(worst_error(cpu_math::gelu_tanh, gelu_tanh_ref, -10, 10, 1e-3, 1e-6, 1e-5) <= 1);
  CHECK(worst_error(cpu_math::gelu_tanh_grad, gelu_tanh_grad_ref, -10, 10, 1e-3, 1e-6, 1e-5) <= 1);
  CHECK(worst_error(cpu_math::gelu_erf, gelu_erf_ref, -10, 10, 1e-3, 1e-6, 1e-5) <= 1);
  CHECK(worst_error(cpu_math::gelu_erf_grad, gelu_erf_grad_ref, -10, 10, 1e-3, 1e-6, 1e-5) <= 1);
}

TEST_CASE("parallel_for: every index exactly once, in chunks of at least the grain") {
  int saved = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (int64_t n : {1, 7, 1000, 100003}) {
      for (int64_t grain : {1, 64, 4096}) {
        INFO("threads ", threads, ", n ", n, ", grain ", grain);
        std::vector<std::atomic<int>> hits(n);
        std::atomic<int64_t> smallest{n};
        parallel_for(5, 5 + n, grain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[i - 5].fetch_add(1);
          int64_t len = e - b, cur = smallest.load();
          while (len < cur && !smallest.compare_exchange_weak(cur, len)) {}
        });
        bool once = true;
        for (auto& h : hits) once &= h.load() == 1;
        CHECK(once);
        CHECK(smallest.load() >= std::min(n, grain));
      }
    }
  }
  set_num_threads(saved);
}

TEST_CASE("parallel_for: a nested call runs inline, and an exception reaches the caller") {
  int saved = num_threads();
  set_num_threads(2);
  std::atomic<int> nested_inline{0}, bodies{0};
  parallel_for(0, 64, 1, [&](int64_t b, int64_t e) {
    CHECK(in_parallel());
    bodies.fetch_add(1);
    int calls = 0;
    parallel_for(0, 1000, 1, [&](int64_t, int64_t) { ++calls; });
    if (calls == 1) nested_inline.fetch_add(1);
    CHECK(b < e);
  });
  CHECK(nested_inline.load() == bodies.load());
  CHECK(!in_parallel());
  CHECK_THROWS_WITH_AS(parallel_for(0, 1000, 1,
                                    [](int64_t b, int64_t) {
                                      if (b == 0) throw std::runtime_error("chunk 0 failed");
                                    }),
                       "chunk 0 failed", std::runtime_error);
  // The pool still works after a failed job.
  std::atomic<int64_t> total{0};
  parallel_for(0, 1000, 1, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
  CHECK(total.load() == 1000);
  set_num_threads(saved);
}
