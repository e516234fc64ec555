#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "autograd/record_check.h"
#include "core/error.h"
#include "ops/registry.h"

namespace {

// Every op that records a gradient in any test must be in ops/registry.cpp as differentiable, and
// so have its gradient check (tests/test_op_registry.cpp).
void refuse_unregistered(const char* op) {
  const soft::OpInfo* info = soft::find_op(op);
  SOFT_CHECK(info, "record: op '", op, "' records a gradient but is not in ops/registry.cpp");
  SOFT_CHECK(info->differentiable, "record: op '", op, "' records a gradient but ops/registry.cpp lists it as ",
             "not differentiable (so it needs no gradient check)");
}

[[maybe_unused]] const bool record_check_installed = [] {
  soft::set_record_check(refuse_unregistered);
  return true;
}();

}  // namespace
