#pragma once
// Runs a program as a child process and collects its standard output (standard error passes
// through). `soft bench attn --sweep` runs every size in a fresh process so that each peak RSS
// belongs to one size.
#include <string>
#include <vector>

namespace soft::tools::bench {

struct ChildResult {
  int exit_status = -1;  // the exit code; 128 + N when killed by signal N (9: out of memory)
  std::string output;    // everything the child wrote to stdout
};

// Runs `program` with `args` (argv[1...]) directly, without a shell. Throws soft::Error when the
// child cannot be started.
ChildResult run_child(const std::string& program, const std::vector<std::string>& args);

// The path of the running executable (/proc/self/exe).
std::string current_executable();

}  // namespace soft::tools::bench
