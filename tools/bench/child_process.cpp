// run_child: fork + execv with the child's stdout on a pipe (POSIX).
#include "tools/bench/child_process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace soft::tools::bench {

ChildResult run_child(const std::string& program, const std::vector<std::string>& args) {
  std::vector<std::string> argv_text = {program};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  SOFT_CHECK(pipe(pipe_fds) == 0, "bench: cannot create a pipe: ", std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    int error = errno;
    close(pipe_fds[0]), close(pipe_fds[1]);
    SOFT_CHECK(false, "bench: cannot start ", program, ": ", std::strerror(error));
  }
  if (pid == 0) {  // child: only async-signal-safe calls until exec
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]), close(pipe_fds[1]);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  ChildResult result;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n > 0) result.output.append(buffer, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  SOFT_CHECK(result.exit_status != 127, "bench: cannot run ", program, " (exit status 127: not executable?)");
  return result;
}

std::string current_executable() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

}  // namespace soft::tools::bench
