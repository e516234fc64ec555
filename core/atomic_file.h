#pragma once
// Whole-file writes that never leave a half-written file: the bytes go to a temporary file beside
// the target, are flushed to disk (fsync) and renamed over it, so a crash leaves either the old
// file or the new one. Used for run folders (config.json, curves.svg) and text outputs.
#include <string>

namespace soft {

// Writes `content` to `path` atomically. Throws soft::Error naming `path`; the old file (if any)
// is then unchanged and the temporary file removed.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace soft
