// Walks ops/registry.cpp, the one list of ops: every op must have its checks (they run as test
// cases of their own), and every op the source records, every pointwise op and every CPU-only
// kernel must be in it. The CUDA half is tests/cuda/test_cuda_registry.cpp.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "autograd/node.h"
#include "ops/dispatch.h"
#include "ops/pointwise_math.h"
#include "ops/registry.h"
#include "tests/op_check.h"

using namespace soft;
using namespace soft::test;

TEST_CASE("every registered op has a naive forward check and, if differentiable, a float64 gradcheck") {
  for (const OpInfo& op : op_registry()) {
    std::string name = op.name;
    INFO("op '", name, "' (", std::string(op.file), ")");
    auto it = op_checks().find(op.name);
    bool has_forward = it != op_checks().end() && it->second.count(CheckKind::Forward);
    bool has_grad = it != op_checks().end() && it->second.count(CheckKind::Gradcheck);
    CHECK_MESSAGE(has_forward, "no FORWARD_CHECK(", name, ")");
    if (op.differentiable) CHECK_MESSAGE(has_grad, "no GRADCHECK(", name, ")");
  }
}

TEST_CASE("every op check names a registered op") {
  for (const auto& [name, kinds] : op_checks()) {
    bool registered = false;
    for (const OpInfo& op : op_registry()) registered |= name == op.name;
    CHECK_MESSAGE(registered, "check for '", name, "' but no such op in ops/registry.cpp");
  }
}

// Every op that records a gradient by a literal name in the framework's source. Ops that pass a
// variable name (dropout, softmax, ...) are caught at run time instead: record() refuses an
// unregistered name in the tests (tests/main.cpp).
TEST_CASE("every record(\"name\", ...) in the source names an op registered as differentiable") {
  const std::regex literal(R"(record\(\s*"([a-z0-9_]+)\")");
  int found = 0;
  for (const char* folder : {"autograd", "ops", "dist", "nn", "models"}) {
    const std::string root = std::string(SOFT_SOURCE_DIR) + "/" + folder;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (entry.path().extension() != ".cpp") continue;
      std::ifstream in(entry.path());
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (std::sregex_iterator m(text.begin(), text.end(), literal), end; m != end; ++m) {
        std::string name = (*m)[1];
        INFO(entry.path().string(), " records '", name, "'");
        const OpInfo* op = find_op(name);
        CHECK_MESSAGE(op != nullptr, "not in ops/registry.cpp");
        if (op) CHECK_MESSAGE(op->differentiable, "registered as not differentiable, so it has no gradient check");
        ++found;
      }
    }
  }
  CHECK(found > 40);  // the scan itself works: the ops of ops/ record by literal names
}

TEST_CASE("record() refuses, in the tests, an op name missing from the registry") {
  Tensor x = rand_input({2});
  CHECK_THROWS_WITH_AS(record("not_an_op", x.detach() * 1.0, {x}, nullptr),
                       doctest::Contains("'not_an_op' records a gradient but is not in ops/registry.cpp"), Error);
  CHECK_THROWS_WITH_AS(record("argmax", x.detach() * 1.0, {x}, nullptr),
                       doctest::Contains("lists it as not differentiable"), Error);
}

// The pointwise ops of ops/pointwise_math.h are ops like any other; their backward helpers
// (<op>_backward) belong to a registered differentiable op.
TEST_CASE("every SOFT_UNARY_OPS and SOFT_BINARY_OPS name is a registered op or a registered op's backward") {
  std::vector<std::string> names(std::begin(kUnaryOpNames), std::end(kUnaryOpNames));
  names.insert(names.end(), std::begin(kBinaryOpNames), std::end(kBinaryOpNames));
  const std::string suffix = "_backward";
  for (const std::string& name : names) {
    INFO("pointwise op '", name, "'");
    bool helper = name.size() > suffix.size() && name.ends_with(suffix);
    const OpInfo* op = find_op(helper ? name.substr(0, name.size() - suffix.size()) : name);
    CHECK_MESSAGE(op != nullptr, "not in ops/registry.cpp");
    if (op && helper) CHECK(op->differentiable);
  }
}

TEST_CASE("every CPU-only kernel of the registry names a dispatch stub") {
  for (const CpuOnlyKernel& k : cpu_only_kernels()) {
    bool found = false;
    for (const StubInfo& stub : dispatch_stubs()) found |= std::string(stub.name) == k.stub;
    CHECK_MESSAGE(found, "ops/registry.cpp lists '", k.stub, "' as CPU-only but no DispatchStub has that name");
  }
}
