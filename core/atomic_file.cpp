#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace soft {

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  SOFT_CHECK(fd >= 0, path, ": cannot write (", std::strerror(errno), ")");
  auto fail = [&](const char* what) {
    std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(path + ": " + what + " (" + why + "); the previous file is unchanged");
  };
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write failed");
    p += w;
    left -= static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) fail("could not flush");
  int closed = ::close(fd);
  fd = -1;
  if (closed != 0) fail("could not close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("could not replace");
}

}  // namespace soft
