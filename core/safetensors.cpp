#include "core/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>

#include "core/atomic_file.h"
#include "core/tensor.h"

namespace soft {
namespace {

using json = nlohmann::json;

// A header larger than this is refused before parsing (the format's own reference limit).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

const char* dtype_code(DType t) {
  switch (t) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Int64: return "I64";
    case DType::BFloat16: return "BF16";
  }
  return "?";
}

DType dtype_from_code(const std::string& code, const std::string& what, const std::string& name) {
  if (code == "F32") return DType::Float32;
  if (code == "F64") return DType::Float64;
  if (code == "I64") return DType::Int64;
  if (code == "BF16") return DType::BFloat16;
  throw Error(what + ": tensor '" + name + "' has dtype '" + code + "' (supported: F32, F64, BF16, I64)");
}

uint64_t read_u64_le(const std::string& bytes) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

// Element count of `shape`, or an error when a dim is negative or too large. The product of the
// non-zero dims is bounded too: a tensor with a zero dim holds nothing, but its strides are still
// products of the other dims and must not overflow.
uint64_t checked_numel(const json& shape, const std::string& what, const std::string& name, Shape& out) {
  if (!shape.is_array()) throw Error(what + ": tensor '" + name + "': \"shape\" is not an array");
  uint64_t nonzero = 1;
  bool empty = false;
  for (const json& d : shape) {
    if (!d.is_number_unsigned()) throw Error(what + ": tensor '" + name + "': shape entries must be non-negative integers");
    const uint64_t v = d.get<uint64_t>();
    if (v == 0) {
      empty = true;
    } else {
      if (nonzero > UINT64_MAX / 8 / v) {
        std::string dims;  // the dims read so far (the rest may not even be numbers)
        for (int64_t read : out) dims += std::to_string(read) + ", ";
        throw Error(what + ": tensor '" + name + "': shape [" + dims + std::to_string(v) +
                    (out.size() + 1 < shape.size() ? ", ..." : "") + "] is too large");
      }
      nonzero *= v;
    }
    out.push_back(static_cast<int64_t>(v));
  }
  return empty ? 0 : nonzero;
}

// Parses the header, refusing a key that appears twice in one object (JSON parsers differ on
// which entry wins, so two readers could see different tensors or dtypes).
json parse_header(const std::string& bytes, uint64_t header_len, const std::string& what) {
  std::vector<std::set<std::string>> keys;  // one set per object being parsed
  std::string duplicate;
  auto on_event = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    if (event == json::parse_event_t::object_end) keys.pop_back();
    if (event == json::parse_event_t::key && !keys.back().insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_len), on_event);
  } catch (const json::exception& e) {
    throw Error(what + ": header is not valid JSON: " + e.what());
  }
  SOFT_CHECK(duplicate.empty(), what, ": header has the key '", duplicate, "' twice in one object");
  return header;
}

}  // namespace

const Tensor* Safetensors::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const Tensor& Safetensors::at(const std::string& name) const {
  const Tensor* t = find(name);
  SOFT_CHECK(t, source, ": no tensor named '", name, "'");
  return *t;
}

Safetensors parse_safetensors(const std::string& bytes, const std::string& what) {
  SOFT_CHECK(bytes.size() >= 8, what, ": file is ", bytes.size(), " bytes, too short for a safetensors header");
  uint64_t header_len = read_u64_le(bytes);
  SOFT_CHECK(header_len <= kMaxHeaderBytes, what, ": header length ", header_len, " is implausibly large");
  SOFT_CHECK(header_len <= bytes.size() - 8, what, ": header length ", header_len, " runs past the end of the ",
             bytes.size(), "-byte file (truncated or not a safetensors file)");
  json header = parse_header(bytes, header_len, what);
  SOFT_CHECK(header.is_object(), what, ": header is not a JSON object");
  const uint64_t data_size = bytes.size() - 8 - header_len;
  const char* data = bytes.data() + 8 + header_len;

  Safetensors out;
  out.source = what;
  struct Span { uint64_t begin, end; std::string name; };
  std::vector<Span> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      SOFT_CHECK(entry.is_object(), what, ": __metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        SOFT_CHECK(v.is_string(), what, ": __metadata__ value of '", k, "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    SOFT_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") && entry.contains("data_offsets"),
               what, ": tensor '", name, "' needs dtype, shape and data_offsets");
    SOFT_CHECK(entry["dtype"].is_string(), what, ": tensor '", name, "': dtype is not a string");
    DType dtype = dtype_from_code(entry["dtype"].get<std::string>(), what, name);
    Shape shape;
    uint64_t numel = checked_numel(entry["shape"], what, name, shape);
    const json& offsets = entry["data_offsets"];
    SOFT_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                   offsets[1].is_number_unsigned(),
               what, ": tensor '", name, "': data_offsets must be two non-negative integers");
    uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    SOFT_CHECK(begin <= end && end <= data_size, what, ": tensor '", name, "': data_offsets [", begin, ", ", end,
               "] fall outside the ", data_size, " bytes of data");
    SOFT_CHECK(end - begin == numel * dtype_size(dtype), what, ": tensor '", name, "': ", end - begin,
               " bytes of data for shape ", shape_str(shape), " of ", dtype_name(dtype), " (expected ",
               numel * dtype_size(dtype), ")");
    spans.push_back({begin, end, name});
    Tensor t = Tensor::empty(shape, dtype);
    if (numel) std::memcpy(t.raw_data(), data + begin, end - begin);
    out.tensors.emplace_back(name, t);
  }
  // Data order; an empty tensor [o, o] sorts before a tensor starting at o and holds no bytes.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  const Span* last = nullptr;  // the previous tensor that holds bytes
  for (const Span& s : spans) {
    if (s.begin == s.end) continue;
    SOFT_CHECK(!last || s.begin >= last->end, what, ": tensors '", last->name, "' and '", s.name,
               "' overlap in the data");
    last = &s;
  }
  std::vector<std::pair<std::string, Tensor>> ordered;
  for (const Span& s : spans) ordered.emplace_back(s.name, *out.find(s.name));
  out.tensors = std::move(ordered);
  return out;
}

Safetensors load_safetensors(const std::string& path) {
  SOFT_CHECK(!std::filesystem::is_directory(path), path, ": is a directory, not a safetensors file");
  std::ifstream in(path, std::ios::binary);
  SOFT_CHECK(in, path, ": cannot open (", std::strerror(errno), ")");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return parse_safetensors(buffer.str(), path);
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> payload;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    SOFT_CHECK(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
    SOFT_CHECK(name != "__metadata__" && !header.contains(name), "save_safetensors: duplicate or reserved name '",
               name, "'");
    Tensor c = cpu_copy(t);
    uint64_t bytes = static_cast<uint64_t>(c.numel()) * dtype_size(c.dtype());
    header[name] = {{"dtype", dtype_code(c.dtype())}, {"shape", c.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    payload.push_back(c);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  AtomicFileWriter file(path);
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(static_cast<uint64_t>(text.size()) >> (8 * i));
  file.write(len, 8);
  file.write(text.data(), text.size());
  for (const Tensor& c : payload) file.write(c.raw_data(), c.numel() * dtype_size(c.dtype()));
  file.commit();
}

}  // namespace soft
