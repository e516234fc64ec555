#pragma once
// Errors: every bad input becomes a soft::Error whose message names the op and what was wrong.
#include <sstream>
#include <stdexcept>
#include <string>

namespace soft {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  return s.str();
}
}  // namespace detail

}  // namespace soft

// SOFT_CHECK(cond, "op: ", details...) throws soft::Error with the concatenated message.
#define SOFT_CHECK(cond, ...)                                          \
  do {                                                                 \
    if (!(cond)) throw ::soft::Error(::soft::detail::concat(__VA_ARGS__)); \
  } while (0)
