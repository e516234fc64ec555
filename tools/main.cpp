// The `soft` command: everything is in tools/cli.cpp (run() also maps errors to exit statuses).
#include <iostream>

#include "tools/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return soft::tools::run(args, std::cout, std::cerr);
}
