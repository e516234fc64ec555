#include "nn/zip_reader.h"

#include <zlib.h>

#include <algorithm>

#include "core/error.h"

namespace soft::nn {
namespace {

constexpr uint32_t kEndOfCentralDir = 0x06054b50, kZip64EndLocator = 0x07064b50, kZip64End = 0x06064b50,
                   kCentralHeader = 0x02014b50, kLocalHeader = 0x04034b50;

// Little-endian fields at `at`; the caller has checked that they lie inside `bytes`.
uint64_t le(std::string_view bytes, uint64_t at, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

}  // namespace

ZipReader::ZipReader(std::string_view bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {
  const uint64_t n = bytes_.size();
  auto need = [&](uint64_t at, uint64_t len, const char* part) {
    SOFT_CHECK(at <= n && len <= n - at, what_, ": zip ", part, " at byte ", at, " runs past the end of the ", n,
               "-byte file (truncated?)");
  };
  // The end-of-central-directory record: 22 bytes plus a comment of at most 65535 bytes at the end.
  SOFT_CHECK(n >= 22, what_, ": ", n, " bytes, too short for a zip archive");
  uint64_t eocd = UINT64_MAX;
  for (uint64_t at = n - 22 + 1; at-- > 0 && n - at <= 22 + 65535;)
    if (le(bytes_, at, 4) == kEndOfCentralDir) {
      eocd = at;
      break;
    }
  SOFT_CHECK(eocd != UINT64_MAX, what_, ": no zip end-of-central-directory record (truncated or not a zip file)");
  uint64_t count = le(bytes_, eocd + 10, 2), dir_size = le(bytes_, eocd + 12, 4), dir_offset = le(bytes_, eocd + 16, 4);
  if ((count == 0xffff || dir_size == 0xffffffff || dir_offset == 0xffffffff) && eocd >= 20 &&
      le(bytes_, eocd - 20, 4) == kZip64EndLocator) {
    const uint64_t end64 = le(bytes_, eocd - 20 + 8, 8);
    need(end64, 56, "zip64 end record");
    SOFT_CHECK(le(bytes_, end64, 4) == kZip64End, what_, ": bad zip64 end record signature");
    count = le(bytes_, end64 + 32, 8);
    dir_size = le(bytes_, end64 + 40, 8);
    dir_offset = le(bytes_, end64 + 48, 8);
  }
  need(dir_offset, dir_size, "central directory");
  SOFT_CHECK(count <= dir_size / 46, what_, ": zip central directory claims ", count, " entries in ", dir_size, " bytes");
  uint64_t at = dir_offset;
  for (uint64_t i = 0; i < count; ++i) {
    need(at, 46, "central directory entry");
    SOFT_CHECK(le(bytes_, at, 4) == kCentralHeader, what_, ": zip central directory entry ", i, " has a bad signature");
    ZipEntry e;
    e.method = static_cast<uint16_t>(le(bytes_, at + 10, 2));
    e.crc = static_cast<uint32_t>(le(bytes_, at + 16, 4));
    e.compressed_size = le(bytes_, at + 20, 4);
    e.size = le(bytes_, at + 24, 4);
    const uint64_t name_len = le(bytes_, at + 28, 2), extra_len = le(bytes_, at + 30, 2),
                   comment_len = le(bytes_, at + 32, 2);
    uint64_t local = le(bytes_, at + 42, 4);
    need(at + 46, name_len + extra_len + comment_len, "central directory entry");
    e.name.assign(bytes_.substr(at + 46, name_len));
    // The zip64 extra field holds, in this order, whichever of the three fields are saturated.
    for (uint64_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      const uint64_t id = le(bytes_, x, 2), len = le(bytes_, x + 2, 2);
      SOFT_CHECK(x + 4 + len <= at + 46 + name_len + extra_len, what_, ": zip entry '", e.name, "': bad extra field");
      if (id == 1) {
        uint64_t y = x + 4;
        for (uint64_t* field : {&e.size, &e.compressed_size, &local}) {
          if (*field != 0xffffffff) continue;
          SOFT_CHECK(y + 8 <= x + 4 + len, what_, ": zip entry '", e.name, "': short zip64 extra field");
          *field = le(bytes_, y, 8);
          y += 8;
        }
      }
      x += 4 + len;
    }
    need(local, 30, "local header");
    SOFT_CHECK(le(bytes_, local, 4) == kLocalHeader, what_, ": zip entry '", e.name, "': bad local header signature");
    e.data_offset = local + 30 + le(bytes_, local + 26, 2) + le(bytes_, local + 28, 2);
    need(e.data_offset, e.compressed_size, ("entry '" + e.name + "'").c_str());
    SOFT_CHECK(e.method == 0 || e.method == 8, what_, ": zip entry '", e.name, "' uses compression method ", e.method,
               " (only stored and deflated entries are read)");
    SOFT_CHECK(e.method != 0 || e.size == e.compressed_size, what_, ": zip entry '", e.name, "' is stored but its sizes ",
               e.size, " and ", e.compressed_size, " differ");
    entries_.push_back(std::move(e));
    at += 46 + name_len + extra_len + comment_len;
  }
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  for (const ZipEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::string ZipReader::read(const ZipEntry& e, uint64_t max_size) const {
  // Deflate expands at most ~1032:1; a larger claim is a lie, refused before allocating.
  SOFT_CHECK(e.method == 0 || e.size / 1032 <= e.compressed_size + 1, what_, ": zip entry '", e.name, "' claims ",
             e.size, " bytes from ", e.compressed_size, " compressed");
  SOFT_CHECK(e.size <= max_size, what_, ": zip entry '", e.name, "' declares ", e.size, " bytes, more than the ",
             max_size, " allowed");
  std::string out;
  if (e.method == 0) {
    out.assign(bytes_.substr(e.data_offset, e.size));
  } else {
    out.resize(e.size);
    z_stream z{};
    SOFT_CHECK(inflateInit2(&z, -MAX_WBITS) == Z_OK, what_, ": zlib inflateInit2 failed");
    uint64_t in_done = 0, out_done = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {  // in chunks: zlib counts in 32 bits
      const uint64_t in_left = e.compressed_size - in_done, out_left = e.size - out_done;
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes_.data() + e.data_offset + in_done));
      z.avail_in = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
      z.next_out = reinterpret_cast<Bytef*>(out.data() + out_done);
      z.avail_out = static_cast<uInt>(std::min<uint64_t>(out_left, 1u << 30));
      const uInt in_before = z.avail_in, out_before = z.avail_out;
      rc = inflate(&z, Z_NO_FLUSH);
      in_done += in_before - z.avail_in;
      out_done += out_before - z.avail_out;
      if (rc == Z_BUF_ERROR || (rc == Z_OK && in_before == z.avail_in && out_before == z.avail_out)) break;
    }
    inflateEnd(&z);
    SOFT_CHECK(rc == Z_STREAM_END && out_done == e.size, what_, ": zip entry '", e.name,
               "': corrupt deflate data or wrong size");
  }
  const uLong crc = crc32_z(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(out.data()), out.size());
  SOFT_CHECK(crc == e.crc, what_, ": zip entry '", e.name, "' fails its CRC-32 check (corrupt file)");
  return out;
}

}  // namespace soft::nn
