// core/safetensors: bit-exact round trips, the atomic writer, and hostile or corrupt files, each of
// which must be a soft::Error naming the file and the problem (never a crash or a huge allocation).
#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "core/safetensors.h"
#include "ops/ops.h"
#include "tests/error_text.h"
#include "tests/temp_dir.h"

using namespace soft;
using soft::test::error_of;
using soft::test::TempDir;

namespace {


void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// A file image: header length, header text, data.
std::string image(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Writes `bytes` to a file and CHECKs that loading it fails naming the file and `problem`.
void expect_load_error(const TempDir& dir, const std::string& bytes, const std::string& problem) {
  static int counter = 0;
  std::string path = dir.file("bad" + std::to_string(counter++) + ".safetensors");
  write_bytes(path, bytes);
  std::string msg = error_of([&] { load_safetensors(path); });
  INFO("message: ", msg);
  CHECK(contains(msg, path));
  CHECK(contains(msg, problem));
}

template <class T>
std::vector<T> raw(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::vector<T>(c.data<T>(), c.data<T>() + c.numel());
}

std::vector<uint16_t> bf16_bits(const Tensor& t) {
  std::vector<uint16_t> out;
  for (bfloat16 b : raw<bfloat16>(t)) out.push_back(b.bits);
  return out;
}

// 8 bytes of float32 data for a [2] F32 tensor.
std::string two_floats() {
  float v[2] = {1.5f, -2.0f};
  return std::string(reinterpret_cast<const char*>(v), 8);
}

}  // namespace

TEST_CASE("safetensors: bit-exact round trip of every dtype, scalars, empty and non-contiguous tensors") {
  TempDir dir;
  std::string path = dir.file("t.safetensors");

  Tensor f32 = Tensor::from_vector({1.5, -0.0, 3.4028234663852886e38, 1e-45, 0.1, -7.25}, {2, 3});
  Tensor f64 = Tensor::from_vector({0.1, -1e-310, 1e300, 2.0 / 3.0}, {4}, DType::Float64);
  Tensor bf16 = Tensor::from_vector({0, 0, 0, 0, 0, 0}, {3, 2}, DType::BFloat16);
  const std::vector<uint16_t> bf_bits = {0x3fc0, 0x8000, 0x0001, 0xff80, 0x7fc1, 0x4049};  // -0, subnormal, -inf, NaN payload
  for (size_t i = 0; i < bf_bits.size(); ++i) bf16.data<bfloat16>()[i].bits = bf_bits[i];
  Tensor i64 = Tensor::from_vector({0, 0, 0}, {3}, DType::Int64);
  const std::vector<int64_t> ints = {std::numeric_limits<int64_t>::min(), (int64_t{1} << 62) + 1, -1};
  std::memcpy(i64.data<int64_t>(), ints.data(), sizeof(int64_t) * 3);
  Tensor scalar = Tensor::from_vector({3.25}, {}, DType::Float64);
  Tensor empty = zeros({0, 3});
  Tensor base = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor transposed = transpose(base, 0, 1);  // [3, 2], not contiguous
  REQUIRE(!transposed.is_contiguous());

  // Names out of alphabetical order: the reader returns data order.
  NamedTensors in = {{"zeta.f32", f32}, {"alpha.f64", f64}, {"mid.bf16", bf16}, {"beta.i64", i64},
                     {"scalar", scalar}, {"a.empty", empty}, {"t", transposed}};
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "h\xc3\xa9llo \"quoted\"\n\ttab"}};
  save_safetensors(path, in, meta);

  // The header is padded so that the data starts 8-byte aligned.
  std::string bytes = read_bytes(path);
  REQUIRE(bytes.size() >= 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(header_len % 8 == 0);

  Safetensors out = load_safetensors(path);
  CHECK(out.metadata == meta);
  REQUIRE(out.tensors.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    INFO(in[i].first);
    CHECK(out.tensors[i].first == in[i].first);
    CHECK(out.tensors[i].second.shape() == in[i].second.shape());
    CHECK(out.tensors[i].second.dtype() == in[i].second.dtype());
  }
  CHECK(raw<float>(out.at("zeta.f32")) == raw<float>(f32));
  CHECK(std::memcmp(raw<double>(out.at("alpha.f64")).data(), raw<double>(f64).data(), 32) == 0);
  CHECK(bf16_bits(out.at("mid.bf16")) == bf_bits);
  CHECK(raw<int64_t>(out.at("beta.i64")) == ints);
  CHECK(out.at("scalar").shape() == Shape{});
  CHECK(out.at("scalar").item() == 3.25);
  CHECK(out.at("a.empty").shape() == Shape{0, 3});
  CHECK(out.at("t").is_contiguous());
  CHECK(out.at("t").to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
  CHECK(std::signbit(raw<float>(out.at("zeta.f32"))[1]));
  CHECK(out.find("nope") == nullptr);
  CHECK(contains(error_of([&] { out.at("nope"); }), "nope"));

  // parse_safetensors reads the same image.
  CHECK(parse_safetensors(bytes, "mem").tensors.size() == in.size());
}

TEST_CASE("safetensors: an empty tensor may share its offset with the next tensor's data") {
  // The writer gives an empty tensor [o, o] and the next one [o, o + n]: the same begin. The
  // reader must not take that for an overlap, whatever the order of the names.
  TempDir dir;
  std::string path = dir.file("e.safetensors");
  save_safetensors(path, {{"z_empty", zeros({0})}, {"a", ones({2})}, {"m_empty", zeros({2, 0})}});
  Safetensors out;
  CHECK_NOTHROW(out = load_safetensors(path));
  if (out.tensors.size() == 3) {
    CHECK(out.at("a").to_vector() == std::vector<double>{1, 1});
    CHECK(out.at("z_empty").shape() == Shape{0});
  }
}

TEST_CASE("safetensors: NaN and infinite values are valid data") {
  TempDir dir;
  std::string path = dir.file("nan.safetensors");
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  save_safetensors(path, {{"n32", full({4}, nan)}, {"n64", Tensor::from_vector({nan, inf, -inf}, {3}, DType::Float64)}});
  Safetensors out = load_safetensors(path);
  for (double v : out.at("n32").to_vector()) CHECK(std::isnan(v));
  std::vector<double> v = out.at("n64").to_vector();
  CHECK(std::isnan(v[0]));
  CHECK(v[1] == inf);
  CHECK(v[2] == -inf);
}

TEST_CASE("safetensors: the writer replaces files atomically and fails cleanly") {
  TempDir dir;
  std::string path = dir.file("w.safetensors");
  save_safetensors(path, {{"x", full({3}, 1.0)}});
  save_safetensors(path, {{"x", full({3}, 2.0)}, {"y", ones({1})}});  // over an existing file
  CHECK(load_safetensors(path).at("x").to_vector() == std::vector<double>{2, 2, 2});
  CHECK(dir.entries() == std::vector<std::string>{"w.safetensors"});  // no temporary left behind

  // A directory component that is a regular file: the write cannot even start.
  write_bytes(dir.file("not_a_dir_file"), "x");
  std::string bad = dir.file("not_a_dir_file/x.safetensors");
  std::string msg = error_of([&] { save_safetensors(bad, {{"x", ones({2})}}); });
  CHECK(contains(msg, bad));
  CHECK(contains(msg, "cannot write"));

  // The temporary cannot be created (its name is taken by a directory; root ignores chmod): the
  // old file is untouched.
  std::filesystem::create_directory(path + ".tmp");
  msg = error_of([&] { save_safetensors(path, {{"x", full({3}, 3.0)}}); });
  CHECK(contains(msg, path));
  CHECK(load_safetensors(path).at("x").to_vector() == std::vector<double>{2, 2, 2});
  std::filesystem::remove(path + ".tmp");

  // Bad arguments are refused before the file is touched.
  msg = error_of([&] { save_safetensors(path, {{"x", ones({1})}, {"u", Tensor()}}); });
  CHECK(contains(msg, "'u'"));
  CHECK(contains(msg, "undefined"));
  msg = error_of([&] { save_safetensors(path, {{"x", ones({1})}, {"x", ones({1})}}); });
  CHECK(contains(msg, "duplicate"));
  CHECK(contains(error_of([&] { save_safetensors(path, {{"__metadata__", ones({1})}}); }), "reserved"));
  CHECK(load_safetensors(path).at("x").to_vector() == std::vector<double>{2, 2, 2});
  CHECK(dir.entries() == std::vector<std::string>{"not_a_dir_file", "w.safetensors"});

  std::string missing = dir.file("missing.safetensors");
  msg = error_of([&] { load_safetensors(missing); });
  CHECK(contains(msg, missing));
  CHECK(contains(msg, "cannot open"));
}

TEST_CASE("safetensors: corrupt headers are errors naming the file and the problem") {
  TempDir dir;
  const std::string ok = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
  auto one = [&](const std::string& entry) { return image(R"({"t":{)" + entry + "}}", two_floats()); };
  // The good image itself loads.
  {
    std::string p = dir.file("good.safetensors");
    write_bytes(p, one(ok));
    CHECK(load_safetensors(p).at("t").to_vector() == std::vector<double>{1.5, -2});
  }
  expect_load_error(dir, "", "0 bytes");
  expect_load_error(dir, "", "too short");
  expect_load_error(dir, "\x05\x00\x00", "too short");
  expect_load_error(dir, std::string("\x05\x00\x00\x00\x00", 5), "5 bytes");
  expect_load_error(dir, le64(200) + "{}", "past the end");
  expect_load_error(dir, le64(uint64_t{1} << 63) + "{}", "header length");
  expect_load_error(dir, le64(std::numeric_limits<uint64_t>::max()) + "{}", "header length");
  expect_load_error(dir, image("{\"t\": nope}"), "not valid JSON");
  expect_load_error(dir, image(""), "not valid JSON");
  expect_load_error(dir, image("[1, 2]"), "not a JSON object");
  expect_load_error(dir, image("\"str\""), "not a JSON object");

  // Tensor entries.
  expect_load_error(dir, one(R"("dtype":"F32","shape":[2])"), "needs dtype, shape and data_offsets");
  expect_load_error(dir, image(R"({"t":[1,2]})", two_floats()), "needs dtype, shape and data_offsets");
  expect_load_error(dir, one(R"("dtype":"F16","shape":[4],"data_offsets":[0,8])"), "'F16'");
  expect_load_error(dir, one(R"("dtype":"U8","shape":[8],"data_offsets":[0,8])"), "'U8'");
  expect_load_error(dir, one(R"("dtype":5,"shape":[2],"data_offsets":[0,8])"), "dtype");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])"), "non-negative integers");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[2.0],"data_offsets":[0,8])"), "non-negative integers");
  expect_load_error(dir, one(R"("dtype":"F32","shape":["2"],"data_offsets":[0,8])"), "non-negative integers");
  expect_load_error(dir, one(R"("dtype":"F32","shape":2,"data_offsets":[0,8])"), "not an array");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8])"), "too large");
  expect_load_error(dir, one(R"("dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8])"), "too large");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[2],"data_offsets":[0])"), "two non-negative integers");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[2],"data_offsets":[0,8,8])"), "two non-negative integers");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[2],"data_offsets":[0,"8"])"), "two non-negative integers");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[2],"data_offsets":[-1,8])"), "two non-negative integers");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[2],"data_offsets":[0,8.5])"), "two non-negative integers");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[2],"data_offsets":{"a":0})"), "two non-negative integers");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[0],"data_offsets":[8,4])"), "outside");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[4],"data_offsets":[0,16])"), "outside");
  expect_load_error(dir, one(R"("dtype":"F32","shape":[3],"data_offsets":[0,8])"), "expected 12");
  expect_load_error(dir, one(R"("dtype":"F64","shape":[2],"data_offsets":[0,8])"), "bytes of data for shape [2]");
  expect_load_error(dir,
                    image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                          two_floats()),
                    "overlap");
  expect_load_error(dir,
                    image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                          two_floats()),
                    "overlap");

  // __metadata__.
  expect_load_error(dir, image(R"({"__metadata__":"x"})"), "__metadata__ is not an object");
  expect_load_error(dir, image(R"({"__metadata__":["a"]})"), "__metadata__ is not an object");
  expect_load_error(dir, image(R"({"__metadata__":{"a":"b","n":1}})"), "'n' is not a string");
  expect_load_error(dir, image(R"({"__metadata__":{"o":{}}})"), "'o' is not a string");
}

TEST_CASE("safetensors: truncated files and huge claims are refused before allocating") {
  TempDir dir;
  std::string path = dir.file("v.safetensors");
  save_safetensors(path, {{"a", ones({8})}, {"b", full({64}, 2.0)}});
  std::string bytes = read_bytes(path);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[i]);
  // Cut in the middle of b's data.
  expect_load_error(dir, bytes.substr(0, 8 + header_len + 32 + 100), "outside");
  // Cut inside the header.
  expect_load_error(dir, bytes.substr(0, 8 + header_len / 2), "past the end");

  // 2^40 float32 (4 TiB) claimed by a 16-byte data section: refused by the size checks.
  const std::string data(16, '\x01');
  expect_load_error(dir, image(R"({"big":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}})", data),
                    "outside");
  expect_load_error(dir, image(R"({"big":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,16]}})", data),
                    "expected 4398046511104");
  expect_load_error(dir, image(R"({"big":{"dtype":"BF16","shape":[1048576,1048576],"data_offsets":[0,16]}})", data),
                    "bytes of data");
}
