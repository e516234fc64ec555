// Hostile input (docs/RELIABILITY.md): every crafted file in tests/data/bad/ (written by
// tests/data/make_bad_files.py) against the exact error its reader gives, the error naming the
// file; every fuzzing seed in tests/fuzz/corpus/ against a clean load; and the behaviour decided
// for the valid-but-hostile files (NaN weights, a 1 x 2^23 image, deeply nested JSON).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "models/config.h"
#include "nn/data/cifar.h"
#include "nn/data/idx.h"
#include "nn/data/image_decode.h"
#include "nn/data/image_folder.h"
#include "nn/layers.h"
#include "nn/state.h"
#include "nn/torch_checkpoint.h"
#include "nn/torch_pickle.h"
#include "ops/ops.h"
#include "tests/temp_dir.h"
#include "tools/cli.h"

using namespace soft;
using soft::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kBad = std::string(SOFT_SOURCE_DIR) + "/tests/data/bad/";
const std::string kSeeds = std::string(SOFT_SOURCE_DIR) + "/tests/fuzz/corpus/";
const std::string kGolden = std::string(SOFT_SOURCE_DIR) + "/tests/golden/";

// How a file is read. Idx*: beside the valid seed of the other kind (2 images of 3x4, 2 labels).
// LinearState: parsed, then loaded strictly into nn::Linear(3, 2) (weight [2, 3], bias [2]).
// Torch: a PyTorch checkpoint (nn/torch_checkpoint.h); Pickle: a bare data.pkl (nn/torch_pickle.h).
enum class Reader { Safetensors, LinearState, IdxImages, IdxLabels, Cifar, Image, Config, Torch, Pickle };

struct BadFile {
  std::string path;                // under tests/data/bad/
  Reader reader;
  std::vector<std::string> error;  // parts of the message, in order; empty: the reader accepts the file
};

// The expected messages follow from how each file was crafted (make_bad_files.py).
const std::vector<BadFile> kBadFiles = {
    {"safetensors/truncated_length.safetensors", Reader::Safetensors,
     {"file is 5 bytes, too short for a safetensors header"}},
    {"safetensors/header_past_end.safetensors", Reader::Safetensors,
     {"header length 200 runs past the end of the 10-byte file"}},
    {"safetensors/header_length_huge.safetensors", Reader::Safetensors,
     {"header length 1099511627776 is implausibly large"}},
    {"safetensors/header_not_json.safetensors", Reader::Safetensors, {"header is not valid JSON"}},
    {"safetensors/header_not_object.safetensors", Reader::Safetensors, {"header is not a JSON object"}},
    {"safetensors/header_duplicate_name.safetensors", Reader::Safetensors,
     {"header has the key 't' twice in one object"}},
    {"safetensors/entry_duplicate_dtype.safetensors", Reader::Safetensors,
     {"header has the key 'dtype' twice in one object"}},
    {"safetensors/entry_incomplete.safetensors", Reader::Safetensors,
     {"tensor 't' needs dtype, shape and data_offsets"}},
    {"safetensors/dtype_unsupported.safetensors", Reader::Safetensors,
     {"tensor 't' has dtype 'F16' (supported: F32, F64, BF16, I64)"}},
    {"safetensors/dtype_not_string.safetensors", Reader::Safetensors, {"tensor 't': dtype is not a string"}},
    {"safetensors/shape_not_array.safetensors", Reader::Safetensors, {"tensor 't': \"shape\" is not an array"}},
    {"safetensors/shape_negative.safetensors", Reader::Safetensors,
     {"tensor 't': shape entries must be non-negative integers"}},
    {"safetensors/shape_float.safetensors", Reader::Safetensors,
     {"tensor 't': shape entries must be non-negative integers"}},
    {"safetensors/shape_overflow.safetensors", Reader::Safetensors,
     {"tensor 't': shape [4294967296, 4294967296] is too large"}},
    {"safetensors/shape_zero_times_huge.safetensors", Reader::Safetensors,
     {"tensor 't': shape [0, 4611686018427387904, ...] is too large"}},
    {"safetensors/offsets_not_pair.safetensors", Reader::Safetensors,
     {"tensor 't': data_offsets must be two non-negative integers"}},
    {"safetensors/offsets_past_end.safetensors", Reader::Safetensors,
     {"tensor 't': data_offsets [0, 16] fall outside the 8 bytes of data"}},
    {"safetensors/offsets_reversed.safetensors", Reader::Safetensors,
     {"tensor 't': data_offsets [8, 4] fall outside the 8 bytes of data"}},
    {"safetensors/offsets_max_uint64.safetensors", Reader::Safetensors,
     {"tensor 't': data_offsets [0, 18446744073709551615] fall outside the 8 bytes of data"}},
    {"safetensors/offsets_overlap.safetensors", Reader::Safetensors, {"tensors 'a' and 'b' overlap in the data"}},
    {"safetensors/dtype_shape_disagree.safetensors", Reader::Safetensors,
     {"tensor 't': 8 bytes of data for shape [3] of float32 (expected 12)"}},
    {"safetensors/claims_4tib_outside.safetensors", Reader::Safetensors,
     {"tensor 'big': data_offsets [0, 4398046511104] fall outside the 16 bytes of data"}},
    {"safetensors/claims_4tib_in_16_bytes.safetensors", Reader::Safetensors,
     {"tensor 'big': 16 bytes of data for shape [1099511627776] of float32 (expected 4398046511104)"}},
    {"safetensors/metadata_not_object.safetensors", Reader::Safetensors, {"__metadata__ is not an object"}},
    {"safetensors/metadata_value_not_string.safetensors", Reader::Safetensors,
     {"__metadata__ value of 'n' is not a string"}},
    {"safetensors/state_wrong_shape.safetensors", Reader::LinearState,
     {"the weights do not match the model\n  wrong shape: weight [3, 2] in the file, [2, 3] in the model"}},
    {"safetensors/state_missing_and_unexpected.safetensors", Reader::LinearState,
     {"the weights do not match the model\n  missing: bias\n  unexpected: extra"}},
    {"safetensors/nan_filled.safetensors", Reader::LinearState,
     {"NaN or infinite values in weight (6 of 6), bias (2 of 2)"}},

    {"idx/empty.idx3-ubyte", Reader::IdxImages, {"truncated header (no magic number)"}},
    {"idx/images_wrong_magic.idx3-ubyte", Reader::IdxImages,
     {"wrong magic 0x00000801 (an IDX image file starts with 0x00000803)"}},
    {"idx/labels_wrong_magic.idx1-ubyte", Reader::IdxLabels,
     {"wrong magic 0x00000803 (an IDX label file starts with 0x00000801)"}},
    {"idx/images_truncated_header.idx3-ubyte", Reader::IdxImages, {"truncated header (no row count)"}},
    {"idx/images_truncated_data.idx3-ubyte", Reader::IdxImages,
     {"truncated: header [2, 3, 4] needs 24 data bytes but the file has only 20"}},
    {"idx/images_trailing_bytes.idx3-ubyte", Reader::IdxImages,
     {"trailing bytes after the 24 data bytes of header [2, 3, 4]"}},
    {"idx/images_huge_dims.idx3-ubyte", Reader::IdxImages,
     {"header [4294967295, 4294967295, 4294967295] claims images of more than 2^34 pixels each; refusing"}},
    {"idx/images_none_of_2_64_pixels.idx3-ubyte", Reader::IdxImages,
     {"header [0, 4294967295, 4294967295] claims images of more than 2^34 pixels each; refusing"}},
    {"idx/images_2_40_pixels.idx3-ubyte", Reader::IdxImages,
     {"header [1048576, 1024, 1024] claims more than 2^34 pixels; refusing to allocate"}},
    {"idx/images_empty_size.idx3-ubyte", Reader::IdxImages, {"header [2, 0, 4] has an empty image size"}},
    {"idx/labels_huge_count.idx1-ubyte", Reader::IdxLabels,
     {"truncated: header [4294967295] needs 4294967295 data bytes but the file has only 2"}},
    {"idx/labels_bad_label.idx1-ubyte", Reader::IdxLabels, {"bad label 12 at index 1 (expected 0..9)"}},
    {"idx/labels_count_mismatch.idx1-ubyte", Reader::IdxLabels,
     {"mismatched counts: ", "has 2 images but ", "has 3 labels"}},
    {"idx/images_gz_truncated.idx3-ubyte.gz", Reader::IdxImages, {"read error (unexpected end of file)"}},
    {"idx/images_gz_bad_crc.idx3-ubyte.gz", Reader::IdxImages, {"read error (incorrect data check)"}},
    {"idx/images_gz_no_trailer.idx3-ubyte.gz", Reader::IdxImages, {"read error (unexpected end of file)"}},

    {"cifar/empty.bin", Reader::Cifar, {"empty file (a CIFAR-10 batch holds 3073-byte records)"}},
    {"cifar/truncated.bin", Reader::Cifar,
     {"size 3173 bytes is not a multiple of the 3073-byte record (truncated or not a CIFAR-10 binary batch)"}},
    {"cifar/label_10.bin", Reader::Cifar, {"bad label 10 in record 0 (expected 0..9)"}},
    {"cifar/label_255_in_record_1.bin", Reader::Cifar, {"bad label 255 in record 1 (expected 0..9)"}},

    {"image/empty.png", Reader::Image, {"unknown image format (0 bytes, neither JPEG nor PNG magic)"}},
    {"image/gif_magic.png", Reader::Image, {"unknown image format (13 bytes, neither JPEG nor PNG magic)"}},
    {"image/png_signature_only.png", Reader::Image,
     {"corrupt or truncated PNG (truncated file (unexpected end of data))"}},
    {"image/png_truncated_idat.png", Reader::Image,
     {"corrupt or truncated PNG (truncated file (unexpected end of data))"}},
    {"image/png_bad_ihdr_crc.png", Reader::Image, {"corrupt or truncated PNG (IHDR: CRC error)"}},
    {"image/png_bad_zlib.png", Reader::Image, {"corrupt or truncated PNG (IDAT: unknown compression method)"}},
    {"image/png_zero_width.png", Reader::Image, {"empty image (0x4)"}},
    {"image/png_100000x100000.png", Reader::Image,
     {"image is 100000x100000 pixels, more than the limit of 268435456"}},
    {"image/jpeg_truncated_scan.jpg", Reader::Image, {"corrupt or truncated JPEG (Premature end of JPEG file)"}},
    {"image/jpeg_empty_scan_12288x4346.jpg", Reader::Image,
     {"corrupt or truncated JPEG (Corrupt JPEG data: premature end of data segment)"}},
    {"image/jpeg_no_frame.jpg", Reader::Image, {"corrupt or truncated JPEG (JPEG datastream contains no image)"}},
    {"image/jpeg_zero_width.jpg", Reader::Image, {"corrupt or truncated JPEG (Empty JPEG image (DNL not supported))"}},
    {"image/jpeg_65000x65000.jpg", Reader::Image, {"image is 65000x65000 pixels, more than the limit of 268435456"}},
    {"image/jpeg_30000x30000.jpg", Reader::Image, {"image is 30000x30000 pixels, more than the limit of 268435456"}},
    {"image/jpeg_cmyk_truncated_scan.jpg", Reader::Image, {"corrupt or truncated JPEG (Premature end of JPEG file)"}},
    {"image/jpeg_garbage_after_soi.jpg", Reader::Image, {"corrupt or truncated JPEG (Unsupported marker type 0x0d)"}},
    {"image/png_side_2000000.png", Reader::Image,
     {"image is 1x2000000 pixels, a side longer than libpng's limit of 1000000"}},
    {"image/tall_1x1000000.png", Reader::Image, {}},  // valid; see "a 1 x 10^6 PNG" below

    {"config/not_json.json", Reader::Config, {"not valid JSON"}},
    {"config/not_object.json", Reader::Config, {"a model config must be a JSON object"}},
    {"config/duplicate_key.json", Reader::Config, {"key 'img_size' appears twice in the model config"}},
    {"config/unknown_key.json", Reader::Config, {"unknown key 'embed_dim' in the model config"}},
    {"config/int_as_string.json", Reader::Config, {"key 'img_size' must be an integer, got \"224\""}},
    {"config/int_as_float.json", Reader::Config, {"key 'depths' must be a list of 4 integers, got [1,2.5,3,2]"}},
    {"config/list_too_short.json", Reader::Config, {"key 'depths' must be a list of 4 integers, got [1,2,3]"}},
    {"config/list_of_lists.json", Reader::Config,
     {"key 'num_heads' must be a list of 4 integers, got a nested array"}},
    {"config/bool_as_int.json", Reader::Config, {"key 'soft_norm' must be true or false"}},
    {"config/name_not_string.json", Reader::Config, {"key 'name' must be a string"}},
    {"config/newton_form_unknown.json", Reader::Config,
     {"key 'newton_form' must be \"journal\" or \"neurips\", got \"exact\""}},
    {"config/drop_rate_string.json", Reader::Config, {"key 'drop_rate' must be a number, got \"0.1\""}},
    {"config/drop_rate_one.json", Reader::Config, {"drop_rate and drop_path_rate must be in [0, 1)"}},
    {"config/stride_zero.json", Reader::Config, {"key 'stem_strides' entries must be in [1, 8], got [0,1,2]"}},
    {"config/img_size_int64_max.json", Reader::Config,
     {"key 'img_size' must be in [1, 65536], got 9223372036854775807"}},
    {"config/in_chans_uint64_max.json", Reader::Config,
     {"key 'in_chans' must be in [1, 65536], got 18446744073709551615"}},
    {"config/depth_huge.json", Reader::Config,
     {"key 'depths' entries must be in [0, 1024], got [1,2,3,1000000000000]"}},
    {"config/embed_dims_huge.json", Reader::Config,
     {"key 'embed_dims' entries must be in [1, 65536], got [64,128,320,4294967296]"}},
    {"config/heads_not_dividing.json", Reader::Config, {"stage 4: embed_dims 500 is not divisible by num_heads 16"}},
    {"config/kernel_even.json", Reader::Config, {"local_kernels must be odd, stage 2 has 4"}},
    {"config/landmark_stride_one.json", Reader::Config,
     {"key 'landmark_strides' entries must be in [2, 64], got [8,1,2]"}},
    {"config/deep_nesting.json", Reader::Config, {"key 'img_size' must be an integer, got a nested array"}},
    // PyTorch checkpoints (tests/data/pth/make_pth.py)
    {"torch/global_os_system.pth", Reader::Torch, {"pickle: refuses the global 'os.system'", "nothing in the file is executed"}},
    {"torch/global_eval_stack.pth", Reader::Torch, {"pickle: refuses the global 'builtins.eval'"}},
    {"torch/global_in_optimizer.pth", Reader::Torch, {"pickle: refuses the global 'subprocess.Popen'"}},
    {"torch/truncated.pth", Reader::Torch, {"no zip end-of-central-directory record (truncated or not a zip file)"}},
    {"torch/truncated_pickle.pth", Reader::Torch, {"pickle: truncated (1 bytes needed at byte 103, 0 left)"}},
    {"torch/storage_size_lie.pth", Reader::Torch,
     {"tensor 'w': storage 0 declares 400 elements of torch.FloatStorage but holds 16 bytes"}},
    {"torch/huge_declared.pth", Reader::Torch,
     {"tensor 'w': storage 0 declares 4611686018427387904 elements of torch.FloatStorage but holds 16 bytes"}},
    {"torch/offset_past_end.pth", Reader::Torch,
     {"tensor 'w': size [2], stride [1] and offset 3 reach element 4 of a storage of 4"}},
    {"torch/stride_past_end.pth", Reader::Torch,
     {"tensor 'w': size [2, 2], stride [4, 1] and offset 0 reach element 5 of a storage of 4"}},
    {"torch/shape_overflow.pth", Reader::Torch,
     {"tensor 'w': size [1099511627776, 1099511627776, 1099511627776] has more elements than its storage's 4"}},
    {"torch/expanded_huge.pth", Reader::Torch, {"tensor 'w': size [1073741824, 4] has more elements than its storage's 4"}},
    {"torch/missing_storage.pth", Reader::Torch, {"tensor 'w': storage '7' is not in the archive (no archive/data/7)"}},
    {"torch/unknown_storage.pth", Reader::Torch, {"refuses the global 'torch.ComplexFloatStorage'"}},
    {"torch/nested_million.pth", Reader::Torch, {"pickle: containers nested more than 1000 deep"}},
    {"torch/garbage.pth", Reader::Torch, {"not a PyTorch checkpoint"}},
    {"torch/not_zip_header.pth", Reader::Torch, {"no zip end-of-central-directory record"}},
    {"torch/no_data_pkl.pth", Reader::Torch, {"a zip archive without ARCHIVE/data.pkl"}},
    {"torch/bad_crc.pth", Reader::Torch, {"zip entry 'dtypes/data/0' fails its CRC-32 check"}},
    {"torch/list_root.pth", Reader::Torch, {"the checkpoint holds a list, not a dict of tensors"}},
    {"torch/bad_opcode.pth", Reader::Torch, {"pickle: opcode 0x49 at byte 2 is not one torch.save writes"}},
    {"torch/deflate_bomb.pth", Reader::Torch, {"zip entry 'archive/data.pkl' claims", "bytes from"}},
    {"pickle/global_os_system.pkl", Reader::Pickle, {"pickle: refuses the global 'os.system'"}},
    {"pickle/nested_2000.pkl", Reader::Pickle, {"pickle: containers nested more than 1000 deep"}},
    {"pickle/long4_huge.pkl", Reader::Pickle, {"pickle: truncated (4294967295 bytes needed at byte 7, 1 left"}},
    {"pickle/memo_unset.pkl", Reader::Pickle, {"pickle: memo key 7 read before it was written"}},
    {"pickle/setitem_on_list.pkl", Reader::Pickle, {"pickle: SETITEM on something that is not a dict"}},
};

// The reader's soft::Error message for `path`, or "" when it loaded the file.
std::string read_with(Reader reader, const std::string& path) {
  try {
    switch (reader) {
      case Reader::Safetensors: load_safetensors(path); break;
      case Reader::LinearState: {
        nn::Linear linear(3, 2);
        nn::load_state(linear, path);
        break;
      }
      case Reader::IdxImages: data::load_idx_pair(path, kSeeds + "idx/labels.idx1-ubyte"); break;
      case Reader::IdxLabels: data::load_idx_pair(kSeeds + "idx/images.idx3-ubyte", path); break;
      case Reader::Cifar: data::load_cifar10_batches({path}); break;
      case Reader::Image: data::decode_image(path); break;
      case Reader::Config: models::load_config(path); break;
      case Reader::Torch: nn::load_weights(path); break;
      case Reader::Pickle: {
        std::ifstream in(path, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        nn::pickle::unpickle(bytes, path);
        break;
      }
    }
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The message holds the parts in order.
bool has_parts(const std::string& message, const std::vector<std::string>& parts) {
  size_t at = 0;
  for (const std::string& p : parts) {
    at = message.find(p, at);
    if (at == std::string::npos) return false;
    at += p.size();
  }
  return true;
}

// Files under root, relative to it, sorted.
std::set<std::string> files_under(const std::string& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out.insert(fs::relative(e.path(), root).string());
  return out;
}

}  // namespace

TEST_CASE("bad files: each crafted file gives its exact error, naming the file") {
  for (const BadFile& f : kBadFiles) {
    const std::string path = kBad + f.path;
    const std::string message = read_with(f.reader, path);
    INFO(f.path, ": ", message);
    if (f.error.empty()) {
      CHECK(message.empty());
    } else {
      CHECK(has_parts(message, f.error));
      CHECK(message.find(path) != std::string::npos);
    }
  }
}

TEST_CASE("bad files: the table has exactly one entry per file in tests/data/bad") {
  std::set<std::string> listed;
  for (const BadFile& f : kBadFiles) {
    INFO(f.path);
    CHECK(listed.insert(f.path).second);
  }
  CHECK(listed == files_under(kBad));
}

TEST_CASE("fuzz seeds: every seed in tests/fuzz/corpus loads") {
  const std::set<std::string> seeds = files_under(kSeeds);
  CHECK(seeds.size() >= 15);
  for (const std::string& seed : seeds) {
    const std::string parser = seed.substr(0, seed.find('/'));
    const bool labels = seed.find("/labels") != std::string::npos;
    const Reader reader = parser == "safetensors" ? (seed.find("linear") != std::string::npos ? Reader::LinearState
                                                                                               : Reader::Safetensors)
                          : parser == "idx"       ? (labels ? Reader::IdxLabels : Reader::IdxImages)
                          : parser == "cifar"     ? Reader::Cifar
                          : parser == "image"     ? Reader::Image
                          : parser == "torch"     ? Reader::Torch
                          : parser == "pickle"    ? Reader::Pickle
                                                  : Reader::Config;
    INFO(seed);
    CHECK(read_with(reader, kSeeds + seed) == "");
  }
}

TEST_CASE("bad files: NaN-filled weights are a valid file that strict loading refuses") {
  const std::string path = kBad + "safetensors/nan_filled.safetensors";
  const Safetensors file = load_safetensors(path);  // the reader keeps the values as they are
  for (double v : file.at("weight").to_vector()) CHECK(std::isnan(v));
  CHECK(file.at("bias").to_vector() ==
        std::vector<double>{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()});

  nn::Linear linear(3, 2);
  const std::vector<double> before = linear.weight.to_vector();
  CHECK_THROWS_WITH_AS(nn::load_state(linear, file, "w.safetensors"),
                       "w.safetensors: NaN or infinite values in weight (6 of 6), bias (2 of 2)", Error);
  CHECK(linear.weight.to_vector() == before);  // nothing was loaded

  // A single NaN among finite values is refused the same way; integer tensors are not checked.
  const Tensor w = Tensor::from_vector({1, 2, 3, 4, 5, std::nan("")}, {2, 3});
  const Tensor b = Tensor::from_vector({0, 0}, {2}, DType::BFloat16);
  CHECK_THROWS_WITH_AS(nn::load_state(linear, Safetensors{"x", {{"weight", w}, {"bias", b}}, {}}, "x"),
                       "x: NaN or infinite values in weight (1 of 6)", Error);
}

TEST_CASE("bad files: soft infer with NaN weights exits 1 naming the tensor, and writes nothing") {
  TempDir dir;
  Safetensors weights = load_safetensors(kGolden + "golden_weights.safetensors");
  REQUIRE(!weights.tensors.empty());
  const std::string poisoned = weights.tensors.front().first;
  Tensor& t = weights.tensors.front().second;
  t = full(t.shape(), std::nan(""), t.dtype());
  save_safetensors(dir.file("nan.safetensors"), weights.tensors);
  std::ostringstream out, err;
  const int code = tools::run({"infer", "--model", kGolden + "golden_config.json", "--weights",
                               dir.file("nan.safetensors"), "--input", kGolden + "golden_input.safetensors",
                               "--output", dir.file("y.safetensors")},
                              out, err);
  INFO(err.str());
  CHECK(code == 1);
  CHECK(has_parts(err.str(), {dir.file("nan.safetensors"), ": NaN or infinite values in " + poisoned + " ("}));
  CHECK_FALSE(fs::exists(dir.file("y.safetensors")));
}

TEST_CASE("bad files: every config file through `soft info` exits 1 with the same error") {
  for (const BadFile& f : kBadFiles) {
    if (f.reader != Reader::Config) continue;
    std::ostringstream out, err;
    const int code = tools::run({"info", "--model", kBad + f.path}, out, err);
    INFO(f.path, ": ", err.str());
    CHECK(code == 1);
    CHECK(has_parts(err.str(), f.error));
  }
}

TEST_CASE("bad files: a 1 x 10^6 PNG decodes and both transforms read only the rows they need") {
  const std::string tall = kBad + "image/tall_1x1000000.png";
  const data::Image img = data::decode_image(tall);
  CHECK(img.width == 1);
  CHECK(img.height == 1000000);
  // Every pixel is grey 128, so every output value is (128 / 255 - mean[c]) / std[c]. Before the
  // fix the horizontal pass kept height x 224 x 3 doubles: 5.4 GB per image.
  TempDir dir;
  fs::create_directories(dir.file("root/grey"));
  fs::copy_file(tall, dir.file("root/grey/tall.png"));
  const data::ImageFolder folder(dir.file("root"));
  for (bool train : {false, true}) {
    data::Transform t;
    t.train = train;
    Generator gen(3);
    const Tensor x = folder.load(0, t, gen).first;  // [3, 224, 224]
    REQUIRE(x.shape() == Shape{3, 224, 224});
    const std::vector<double> v = x.to_vector();
    for (int64_t c = 0; c < 3; ++c) {
      const double expected = (128.0 / 255.0 - t.mean[c]) / t.std[c];
      INFO("train ", train, " channel ", c);
      CHECK(v[c * 224 * 224] == doctest::Approx(expected).epsilon(1e-5));
      CHECK(v[c * 224 * 224 + 224 * 224 - 1] == doctest::Approx(expected).epsilon(1e-5));
    }
  }
}

TEST_CASE("bad files: JSON nested a million deep is an error, not a stack overflow") {
  const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
  CHECK_THROWS_WITH_AS(models::parse_config("{\"img_size\": " + deep + "}", "c.json"),
                       "c.json: key 'img_size' must be an integer, got a nested array", Error);
  CHECK_THROWS_WITH_AS(models::parse_config("{\"depths\": [1, 2, 3, " + deep + "]}", "c.json"),
                       "c.json: key 'depths' must be a list of 4 integers, got a nested array", Error);
  // A shape refused as too large before its nested last entry is read.
  const std::string header =
      R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,)" + deep + R"(],"data_offsets":[0,0]}})";
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  CHECK_THROWS_WITH_AS(parse_safetensors(file + header, "s"),
                       "s: tensor 't': shape [4294967296, 4294967296, ...] is too large", Error);
}
