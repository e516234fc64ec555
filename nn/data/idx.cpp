#include "nn/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

namespace soft::data {
namespace {

// A header may claim at most this many pixels (16 GiB of bytes); refused before any allocation.
constexpr uint64_t kMaxElements = uint64_t{1} << 34;
constexpr uint32_t kImageMagic = 0x00000803, kLabelMagic = 0x00000801;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

// An open IDX file; gzread passes plain files through unchanged.
class IdxFile {
 public:
  explicit IdxFile(const std::string& path) : path_(path) {
    std::error_code ec;
    SOFT_CHECK(std::filesystem::is_regular_file(path, ec), "idx: ", path, ": no such file");
    file_.reset(gzopen(path.c_str(), "rb"));
    SOFT_CHECK(file_, "idx: ", path, ": cannot open (", std::strerror(errno), ")");
  }

  // Reads up to n bytes; fewer only at the end of the data. A gzip stream that ends early (zlib
  // hands out what it decoded, then reports Z_BUF_ERROR instead of an error return) is an error.
  size_t read(unsigned char* out, size_t n) {
    size_t done = 0;
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, size_t{1} << 20));
      const int got = gzread(file_.get(), out + done, chunk);
      int code = Z_OK;
      gzerror(file_.get(), &code);
      if (got < 0 || (got == 0 && code == Z_BUF_ERROR))
        throw Error(detail::concat("idx: ", path_, ": read error (", zlib_message(), ")"));
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

  uint32_t read_u32_be(const char* what) {
    unsigned char b[4];
    SOFT_CHECK(read(b, 4) == 4, "idx: ", path_, ": truncated header (no ", what, ")");
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
  }

  // Exactly n data bytes, then the end of the file. The buffer grows with what was actually
  // read (1 MiB at a time), so a truncated file that claims a huge size never allocates that size.
  std::vector<unsigned char> read_payload(uint64_t n, const std::string& header) {
    std::vector<unsigned char> bytes;
    while (bytes.size() < n) {
      const size_t old = bytes.size(), want = static_cast<size_t>(std::min<uint64_t>(n - old, 1u << 20));
      bytes.resize(old + want);
      const size_t got = read(bytes.data() + old, want);
      bytes.resize(old + got);
      SOFT_CHECK(got == want, "idx: ", path_, ": truncated: header ", header, " needs ", n,
                 " data bytes but the file has only ", bytes.size());
    }
    unsigned char extra;
    SOFT_CHECK(read(&extra, 1) == 0, "idx: ", path_, ": trailing bytes after the ", n, " data bytes of header ",
               header);
    return bytes;
  }

  const std::string& path() const { return path_; }

 private:
  // zlib's message for the last error, without the "<path>: " it starts with.
  std::string zlib_message() {
    int code = 0;
    std::string msg = gzerror(file_.get(), &code);
    if (msg.rfind(path_ + ": ", 0) == 0) msg.erase(0, path_.size() + 2);
    return msg;
  }

  std::string path_;
  std::unique_ptr<gzFile_s, GzCloser> file_;
};

void check_magic(IdxFile& f, uint32_t expected, const char* kind) {
  const uint32_t magic = f.read_u32_be("magic number");
  if (magic == expected) return;
  char got[16], want[16];
  std::snprintf(got, sizeof got, "0x%08x", magic);
  std::snprintf(want, sizeof want, "0x%08x", expected);
  throw Error(detail::concat("idx: ", f.path(), ": wrong magic ", got, " (an IDX ", kind, " file starts with ",
                             want, ")"));
}

// Images [N, 1, rows, cols] as float32 bytes / 255.
Tensor read_images(const std::string& path) {
  IdxFile f(path);
  check_magic(f, kImageMagic, "image");
  const uint64_t n = f.read_u32_be("image count"), rows = f.read_u32_be("row count"),
                 cols = f.read_u32_be("column count");
  const std::string header = detail::concat("[", n, ", ", rows, ", ", cols, "]");
  SOFT_CHECK(rows > 0 && cols > 0, "idx: ", path, ": header ", header, " has an empty image size");
  // Each factor is < 2^32, so rows * cols and n * rows fit in 64 bits. One image is bounded on its
  // own too: with n = 0 nothing is allocated, but the tensor's strides are products of rows and cols.
  SOFT_CHECK(rows * cols <= kMaxElements, "idx: ", path, ": header ", header,
             " claims images of more than 2^34 pixels each; refusing");
  SOFT_CHECK(n * rows <= kMaxElements / cols, "idx: ", path, ": header ", header,
             " claims more than 2^34 pixels; refusing to allocate");
  const std::vector<unsigned char> bytes = f.read_payload(n * rows * cols, header);
  Tensor images = Tensor::empty({static_cast<int64_t>(n), 1, static_cast<int64_t>(rows), static_cast<int64_t>(cols)});
  float* out = images.data<float>();
  for (size_t i = 0; i < bytes.size(); ++i) out[i] = static_cast<float>(bytes[i]) / 255.0f;
  return images;
}

// Labels [N] as int64, each checked < num_classes.
Tensor read_labels(const std::string& path, int64_t num_classes) {
  IdxFile f(path);
  check_magic(f, kLabelMagic, "label");
  const uint64_t n = f.read_u32_be("label count");
  const std::vector<unsigned char> bytes = f.read_payload(n, detail::concat("[", n, "]"));
  Tensor labels = Tensor::empty({static_cast<int64_t>(n)}, DType::Int64);
  int64_t* out = labels.data<int64_t>();
  for (size_t i = 0; i < bytes.size(); ++i) {
    SOFT_CHECK(bytes[i] < num_classes, "idx: ", path, ": bad label ", int{bytes[i]}, " at index ", i,
               " (expected 0..", num_classes - 1, ")");
    out[i] = bytes[i];
  }
  return labels;
}

// dir/<base> or dir/<base>.gz for the first spelling that exists, else an error listing them.
std::string find_file(const std::string& dir, const std::vector<std::string>& bases) {
  namespace fs = std::filesystem;
  std::string tried;
  for (const std::string& base : bases)
    for (const char* ext : {"", ".gz"}) {
      const fs::path p = fs::path(dir) / (base + ext);
      std::error_code ec;
      if (fs::is_regular_file(p, ec)) return p.string();
      tried += (tried.empty() ? "" : ", ") + base + ext;
    }
  throw Error(detail::concat("load_mnist_dir: ", dir, ": no such file (looked for ", tried, ")"));
}

}  // namespace

Dataset load_idx_pair(const std::string& images_path, const std::string& labels_path, int64_t num_classes,
                      const std::string& name) {
  SOFT_CHECK(num_classes > 0 && num_classes <= 256, "load_idx_pair: num_classes ", num_classes,
             " must be in 1..256 (labels are bytes)");
  Dataset ds;
  ds.images = read_images(images_path);
  ds.labels = read_labels(labels_path, num_classes);
  SOFT_CHECK(ds.images.size(0) == ds.labels.size(0), "idx: mismatched counts: ", images_path, " has ",
             ds.images.size(0), " images but ", labels_path, " has ", ds.labels.size(0), " labels");
  ds.num_classes = num_classes;
  ds.name = name;
  return ds;
}

Dataset load_mnist_dir(const std::string& dir, bool train) {
  const std::string split = train ? "train" : "t10k";
  const std::string images = find_file(dir, {split + "-images-idx3-ubyte", split + "-images.idx3-ubyte"});
  const std::string labels = find_file(dir, {split + "-labels-idx1-ubyte", split + "-labels.idx1-ubyte"});
  std::string name = std::filesystem::path(dir).lexically_normal().filename().string();
  if (name.empty()) name = std::filesystem::path(dir).lexically_normal().parent_path().filename().string();
  return load_idx_pair(images, labels, 10, name + (train ? "/train" : "/test"));
}

}  // namespace soft::data
