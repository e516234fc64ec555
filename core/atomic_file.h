#pragma once
// Whole-file writes that never leave a half-written file: the bytes go to a temporary file beside
// the target (PATH.tmp), are flushed to disk (fsync) and renamed over it, and the rename is flushed
// with the folder, so a crash or a power loss leaves either the old file or the new one. Used for run folders (config.json, curves.svg, checkpoints through
// save_safetensors) and text outputs.
#include <cstddef>
#include <string>

namespace soft {

// A file written in pieces that replaces `path` only at commit(). Every failure (cannot create,
// a short write on a full disk, flush, rename) throws soft::Error naming `path` with the system's
// reason; the temporary file is then removed and the old file (if any) left unchanged, as it is
// when the writer is destroyed uncommitted.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t bytes);
  void commit();

 private:
  [[noreturn]] void fail(const char* what, int error);

  std::string path_, tmp_;
  int fd_ = -1;
  bool done_ = false;  // committed, or failed and cleaned up
};

// Writes `content` to `path` atomically (an AtomicFileWriter in one go).
void write_file_atomic(const std::string& path, const std::string& content);

// Flushes what was written to `path` (a file or a folder) through to the disk, so that it survives
// a power loss as well as a crash. Throws soft::Error naming `path`.
void sync_to_disk(const std::string& path);

}  // namespace soft
