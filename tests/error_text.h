#pragma once
// The message of the soft::Error that test code throws, or "<no error>" when it throws none: a
// test compares it with the exact message it expects, so a missing error fails that comparison
// and shows in doctest's output.
#include <functional>
#include <string>

#include "core/error.h"

namespace soft::test {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace soft::test
