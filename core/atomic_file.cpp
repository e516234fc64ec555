#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace soft {

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  SOFT_CHECK(fd_ >= 0, path_, ": cannot write (", std::strerror(errno), ")");
}

AtomicFileWriter::~AtomicFileWriter() {
  if (done_) return;
  ::close(fd_);
  ::unlink(tmp_.c_str());
}

void AtomicFileWriter::fail(const char* what, int error) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
  done_ = true;
  throw Error(path_ + ": " + what + " (" + std::strerror(error) + "); the previous file is unchanged");
}

void AtomicFileWriter::write(const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t w = ::write(fd_, p, bytes);
    if (w < 0 && errno == EINTR) continue;
    // A full disk shows as a short write, then ENOSPC (EFBIG past a file-size limit).
    if (w <= 0) fail("write failed", w < 0 ? errno : EIO);
    p += w;
    bytes -= static_cast<size_t>(w);
  }
}

void AtomicFileWriter::commit() {
  if (::fsync(fd_) != 0) fail("could not flush", errno);
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0) fail("could not close", errno);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("could not replace", errno);
  done_ = true;
  const std::string folder = std::filesystem::path(path_).parent_path().string();
  sync_to_disk(folder.empty() ? "." : folder);  // the rename itself
}

void sync_to_disk(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  SOFT_CHECK(fd >= 0, path, ": cannot open to flush (", std::strerror(errno), ")");
  const bool synced = ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  SOFT_CHECK(synced, path, ": could not flush to disk (", std::strerror(error), ")");
}

void write_file_atomic(const std::string& path, const std::string& content) {
  AtomicFileWriter file(path);
  file.write(content.data(), content.size());
  file.commit();
}

}  // namespace soft
