#pragma once
// A reader of zip archives held in memory, enough for the files torch.save writes (entries stored
// or deflated, zip64 sizes and offsets). Every size and offset is checked against the archive's
// real length before it is used, so a truncated or hostile archive is a soft::Error.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace soft::nn {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;          // 0 stored, 8 deflated
  uint32_t crc = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;            // uncompressed
  uint64_t data_offset = 0;     // where the (compressed) bytes start in the archive
};

class ZipReader {
 public:
  // `bytes` must outlive the reader. `what` names the archive in errors.
  ZipReader(std::string_view bytes, std::string what);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;
  // The entry's contents, checked against its CRC-32; `max_size` bounds what a deflated entry
  // may expand to.
  std::string read(const ZipEntry& entry, uint64_t max_size) const;

 private:
  std::string_view bytes_;
  std::string what_;
  std::vector<ZipEntry> entries_;
};

}  // namespace soft::nn
