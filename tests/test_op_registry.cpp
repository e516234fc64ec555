// Walks ops/registry.cpp: every op must have its checks (they run as test cases of their own).
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
