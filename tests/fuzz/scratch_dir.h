#pragma once
// For harnesses whose parser reads a path: a private directory per fuzzing process (removed at
// exit) in which each input is written as a file before the parser runs. It lives in memory
// (/dev/shm) when that exists and TMPDIR is unset: rewriting a file on disk thousands of times a
// second made the disk, not the parser, the bottleneck.
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace soft::fuzz {

class ScratchDir {
 public:
  ScratchDir() {
    std::error_code ec;
    const bool shm = !std::getenv("TMPDIR") && std::filesystem::is_directory("/dev/shm", ec);
    const std::filesystem::path base = shm ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
    std::string pattern = (base / "soft_fuzz_XXXXXX").string();
    if (!mkdtemp(pattern.data())) {
      std::perror("soft fuzz: mkdtemp");
      std::abort();
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  // Writes (or overwrites) `name` in the directory, creating its parent folders; returns its path.
  std::string write(const std::string& name, const uint8_t* data, size_t size) const {
    const std::filesystem::path p = std::filesystem::path(path_) / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) {
      std::fprintf(stderr, "soft fuzz: cannot write %s\n", p.c_str());
      std::abort();
    }
    return p.string();
  }
  std::string write(const std::string& name, const std::string& bytes) const {
    return write(name, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A broken invariant on a successful parse: abort, which libFuzzer reports as a crash with the input.
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "soft fuzz: invariant broken: %s\n", what);
  std::abort();
}

}  // namespace soft::fuzz
