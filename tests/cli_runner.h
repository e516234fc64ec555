#pragma once
// Running the `soft` command in tests: in-process through tools::run (soft_cli), or the built
// binary (run_binary, where the build defines SOFT_CLI_PATH) to see main()'s exit statuses.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tools/cli.h"

namespace soft::test {

struct CliResult {
  int code;
  std::string out, err;
};

inline CliResult soft_cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  int code = tools::run(args, out, err);
  return {code, out.str(), err.str()};
}

#ifdef SOFT_CLI_PATH
// The built binary's exit status and its stdout + stderr.
inline std::pair<int, std::string> run_binary(const std::string& args) {
  std::string command = std::string(SOFT_CLI_PATH) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) output.append(buf, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}
#endif

}  // namespace soft::test
