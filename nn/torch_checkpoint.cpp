#include "nn/torch_checkpoint.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "nn/torch_pickle.h"
#include "nn/zip_reader.h"

namespace soft::nn {
namespace {

using pickle::Kind;
using pickle::Pickle;
using pickle::Value;

constexpr uint64_t kMaxPickleBytes = 256u << 20;
constexpr int kMaxDims = 16;

// A storage class: the element size on disk and the dtype the tensor is given here.
struct StorageType {
  const char* name;
  size_t size;
  DType dtype;
};
const StorageType* storage_type(const std::string& global) {
  static const StorageType types[] = {
      {"torch.FloatStorage", 4, DType::Float32}, {"torch.DoubleStorage", 8, DType::Float64},
      {"torch.HalfStorage", 2, DType::Float32},  {"torch.BFloat16Storage", 2, DType::BFloat16},
      {"torch.LongStorage", 8, DType::Int64},    {"torch.IntStorage", 4, DType::Int64},
      {"torch.ShortStorage", 2, DType::Int64},   {"torch.CharStorage", 1, DType::Int64},
      {"torch.ByteStorage", 1, DType::Int64},    {"torch.BoolStorage", 1, DType::Int64},
  };
  for (const StorageType& t : types)
    if (global == t.name) return &t;
  return nullptr;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf, nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else {  // zero or subnormal: mant * 2^-24
    float f = static_cast<float>(mant) * 5.9604644775390625e-8f;
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

class Reader {
 public:
  Reader(const std::string& bytes, const std::string& what) : zip_(bytes, what), what_(what) {
    const ZipEntry* pkl = nullptr;
    for (const ZipEntry& e : zip_.entries()) {
      const std::string& n = e.name;
      if (n.size() >= 9 && n.compare(n.size() - 9, 9, "/data.pkl") == 0 &&
          n.find('/') == n.size() - 9) {  // ARCHIVE/data.pkl, at the top
        SOFT_CHECK(!pkl, what_, ": two data.pkl entries in the archive");
        pkl = &e;
      }
    }
    SOFT_CHECK(pkl, what_, ": a zip archive without ARCHIVE/data.pkl: not a torch.save checkpoint");
    prefix_ = pkl->name.substr(0, pkl->name.size() - 8);  // "ARCHIVE/"
    pickle_bytes_ = zip_.read(*pkl, kMaxPickleBytes);
    pickle_ = pickle::unpickle(pickle_bytes_, what_);
  }

  Safetensors state_dict(bool ema) {
    const Value& root = pickle_.at(pickle_.root);
    SOFT_CHECK(root.kind == Kind::Dict, what_, ": the checkpoint holds ", kind_name(root.kind),
               ", not a dict of tensors (a state_dict or a training checkpoint)");
    const std::vector<const char*> keys = ema ? std::vector<const char*>{"model_ema", "state_dict_ema"}
                                              : std::vector<const char*>{"model", "state_dict"};
    int32_t chosen = -1;
    for (const char* key : keys)
      if (chosen < 0) chosen = lookup(root, key);
    if (chosen < 0) {
      SOFT_CHECK(!ema, what_, ": no model_ema or state_dict_ema entry for --ema (the checkpoint holds: ",
                 key_list(root), ")");
      SOFT_CHECK(!root.items.empty(), what_, ": the checkpoint is an empty dict");
      if (pickle_.at(root.items[1]).kind != Kind::Dict) return tensors(root, "");  // a bare state_dict
      throw Error(what_ + ": no model or state_dict entry among the checkpoint's keys (" + key_list(root) + ")");
    }
    const Value& dict = pickle_.at(chosen);
    SOFT_CHECK(dict.kind == Kind::Dict, what_, ": the checkpoint's model entry is ", kind_name(dict.kind), ", not a dict");
    return tensors(dict, ema ? "the EMA's " : "");
  }

 private:
  static const char* kind_name(Kind k) {
    switch (k) {
      case Kind::None: return "None";
      case Kind::Bool: return "a bool";
      case Kind::Int: case Kind::BigInt: return "an int";
      case Kind::Float: return "a float";
      case Kind::String: return "a string";
      case Kind::Bytes: return "bytes";
      case Kind::Tuple: return "a tuple";
      case Kind::List: return "a list";
      case Kind::Dict: return "a dict";
      case Kind::Global: return "a class or function";
      case Kind::Call: return "an object";
      case Kind::Object: return "an object";
      case Kind::PersistentId: return "a storage";
    }
    return "?";
  }

  // The value of string key `key` in a dict (the last one written wins, as in Python), or -1.
  int32_t lookup(const Value& dict, const std::string& key) const {
    int32_t found = -1;
    for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
      const Value& k = pickle_.at(dict.items[i]);
      if (k.kind == Kind::String && k.s == key) found = dict.items[i + 1];
    }
    return found;
  }
  std::string key_list(const Value& dict) const {
    std::string out;
    size_t shown = 0;
    for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
      if (shown == 12) return out + ", ...";
      const Value& k = pickle_.at(dict.items[i]);
      out += (shown++ ? ", " : "") + (k.kind == Kind::String ? k.s : std::string("<") + kind_name(k.kind) + ">");
    }
    return out.empty() ? "nothing" : out;
  }

  Safetensors tensors(const Value& dict, const std::string& which) {
    Safetensors out;
    out.source = what_;
    std::map<std::string, int> seen;
    bool all_module = !dict.items.empty();
    for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
      const Value& k = pickle_.at(dict.items[i]);
      SOFT_CHECK(k.kind == Kind::String, what_, ": ", which, "state_dict has a key that is ", kind_name(k.kind),
                 ", not a name");
      SOFT_CHECK(seen[k.s]++ == 0, what_, ": ", which, "state_dict has the name '", k.s, "' twice");
      out.tensors.emplace_back(k.s, tensor(dict.items[i + 1], k.s));
      all_module = all_module && k.s.rfind("module.", 0) == 0;
    }
    if (all_module)
      for (auto& [name, t] : out.tensors) name = name.substr(7);
    return out;
  }

  int64_t int_of(int32_t index, const std::string& name, const char* part) const {
    const Value& v = pickle_.at(index);
    SOFT_CHECK(v.kind == Kind::Int, what_, ": tensor '", name, "': ", part, " is ", kind_name(v.kind), ", not an int");
    return v.i;
  }
  std::vector<int64_t> ints_of(int32_t index, const std::string& name, const char* part) const {
    const Value& v = pickle_.at(index);
    SOFT_CHECK(v.kind == Kind::Tuple, what_, ": tensor '", name, "': ", part, " is ", kind_name(v.kind),
               ", not a tuple");
    SOFT_CHECK(v.items.size() <= kMaxDims, what_, ": tensor '", name, "': ", v.items.size(), " dimensions (at most ",
               kMaxDims, ")");
    std::vector<int64_t> out;
    for (int32_t i : v.items) {
      out.push_back(int_of(i, name, part));
      SOFT_CHECK(out.back() >= 0, what_, ": tensor '", name, "': negative ", part, " ", out.back());
    }
    return out;
  }

  // A state_dict value: _rebuild_tensor_v2(storage, offset, size, stride, ...), possibly inside
  // _rebuild_parameter(tensor, ...).
  Tensor tensor(int32_t index, const std::string& name) {
    for (int unwrap = 0; unwrap < 2; ++unwrap) {
      const Value& v = pickle_.at(index);
      SOFT_CHECK(v.kind == Kind::Call, what_, ": '", name, "' is ", kind_name(v.kind), ", not a tensor");
      const std::string& fn = pickle_.at(v.items[0]).s;
      const Value& args = pickle_.at(v.items[1]);
      if (fn == "torch._utils._rebuild_tensor_v2") {
        SOFT_CHECK(args.items.size() >= 4, what_, ": tensor '", name, "': _rebuild_tensor_v2 with ", args.items.size(),
                   " arguments");
        return rebuild(args.items, name);
      }
      SOFT_CHECK(fn.rfind("torch._utils._rebuild_parameter", 0) == 0 && !args.items.empty() && unwrap == 0, what_,
                 ": '", name, "' is a call of ", fn, ", not a tensor");
      index = args.items[0];
    }
    throw Error(what_ + ": '" + name + "': a parameter of a parameter");
  }

  Tensor rebuild(const std::vector<int32_t>& args, const std::string& name) {
    // The storage: persistent id ('storage', torch.XStorage, key, location, numel).
    const Value& pid = pickle_.at(args[0]);
    SOFT_CHECK(pid.kind == Kind::PersistentId, what_, ": tensor '", name, "' has no storage reference");
    const Value& ref = pickle_.at(pid.items[0]);
    SOFT_CHECK(ref.kind == Kind::Tuple && ref.items.size() >= 5 && pickle_.at(ref.items[0]).s == "storage" &&
                   pickle_.at(ref.items[1]).kind == Kind::Global && pickle_.at(ref.items[2]).kind == Kind::String,
               what_, ": tensor '", name, "': malformed storage reference");
    const std::string& cls = pickle_.at(ref.items[1]).s;
    const StorageType* type = storage_type(cls);
    SOFT_CHECK(type, what_, ": tensor '", name, "': ", cls, " is not a storage type");
    const std::string& key = pickle_.at(ref.items[2]).s;
    const int64_t declared = int_of(ref.items[4], name, "storage size");
    const std::string& data = storage(key, name);
    SOFT_CHECK(data.size() % type->size == 0 && declared >= 0 &&
                   static_cast<uint64_t>(declared) == data.size() / type->size,
               what_, ": tensor '", name, "': storage ", key, " declares ", declared, " elements of ", cls, " but holds ",
               data.size(), " bytes");
    const uint64_t storage_numel = data.size() / type->size;

    const int64_t offset = int_of(args[1], name, "storage offset");
    SOFT_CHECK(offset >= 0, what_, ": tensor '", name, "': negative storage offset ", offset);
    const std::vector<int64_t> size = ints_of(args[2], name, "size"), stride = ints_of(args[3], name, "stride");
    SOFT_CHECK(size.size() == stride.size(), what_, ": tensor '", name, "': ", size.size(), " sizes but ",
               stride.size(), " strides");
    // numel and the last element reached, without overflow; a tensor reads at most its storage.
    uint64_t numel = 1, last = static_cast<uint64_t>(offset);
    for (size_t d = 0; d < size.size(); ++d) {
      const auto s = static_cast<uint64_t>(size[d]), st = static_cast<uint64_t>(stride[d]);
      SOFT_CHECK(s == 0 || numel <= storage_numel / s, what_, ": tensor '", name, "': size ", shape_str(size),
                 " has more elements than its storage's ", storage_numel);
      numel *= s;
      uint64_t reach = 0;
      SOFT_CHECK(s == 0 || !__builtin_mul_overflow(s - 1, st, &reach), what_, ": tensor '", name, "': stride ",
                 shape_str(stride), " overflows");
      SOFT_CHECK(!__builtin_add_overflow(last, reach, &last), what_, ": tensor '", name, "': strides overflow");
    }
    SOFT_CHECK(numel == 0 || last < storage_numel, what_, ": tensor '", name, "': size ", shape_str(size), ", stride ",
               shape_str(stride), " and offset ", offset, " reach element ", last, " of a storage of ", storage_numel);

    Tensor t = Tensor::empty(Shape(size.begin(), size.end()), type->dtype);
    if (numel == 0) return t;
    char* dst = static_cast<char*>(t.raw_data());
    const char* base = data.data();
    // Row-major contiguous and stored as it is kept: one copy.
    bool contiguous = type->size == dtype_size(type->dtype) && std::strcmp(type->name, "torch.HalfStorage") != 0;
    for (int64_t d = static_cast<int64_t>(size.size()) - 1, expected = 1; d >= 0 && contiguous; --d) {
      contiguous = size[d] == 1 || stride[d] == expected;
      expected *= size[d];
    }
    if (contiguous) {
      std::memcpy(dst, base + static_cast<uint64_t>(offset) * type->size, numel * type->size);
      return t;
    }
    // Walk the elements in row-major order, reading each from its strided place.
    std::vector<int64_t> index(size.size(), 0);
    uint64_t src = static_cast<uint64_t>(offset);
    for (uint64_t n = 0; n < numel; ++n) {
      convert(base + src * type->size, type, dst + n * dtype_size(type->dtype));
      for (size_t d = size.size(); d-- > 0;) {
        if (++index[d] < size[d]) {
          src += static_cast<uint64_t>(stride[d]);
          break;
        }
        src -= static_cast<uint64_t>(stride[d]) * static_cast<uint64_t>(size[d] - 1);
        index[d] = 0;
      }
    }
    return t;
  }

  static void convert(const char* from, const StorageType* type, char* to) {
    if (type->dtype != DType::Int64 || type->size == 8) {
      if (type->size == 2 && type->dtype == DType::Float32) {
        uint16_t h;
        std::memcpy(&h, from, 2);
        const float f = half_to_float(h);
        std::memcpy(to, &f, 4);
      } else {
        std::memcpy(to, from, type->size);
      }
      return;
    }
    int64_t v = 0;
    if (type->size == 4) {
      int32_t x;
      std::memcpy(&x, from, 4);
      v = x;
    } else if (type->size == 2) {
      int16_t x;
      std::memcpy(&x, from, 2);
      v = x;
    } else if (std::strcmp(type->name, "torch.CharStorage") == 0) {
      v = static_cast<signed char>(*from);
    } else {
      v = static_cast<unsigned char>(*from);
    }
    std::memcpy(to, &v, 8);
  }

  // A storage's bytes, read from ARCHIVE/data/KEY once and shared by the tensors viewing it.
  const std::string& storage(const std::string& key, const std::string& name) {
    auto it = storages_.find(key);
    if (it != storages_.end()) return it->second;
    const ZipEntry* e = zip_.find(prefix_ + "data/" + key);
    SOFT_CHECK(e, what_, ": tensor '", name, "': storage '", key, "' is not in the archive (no ", prefix_, "data/", key,
               ")");
    return storages_.emplace(key, zip_.read(*e, UINT64_MAX)).first->second;
  }

  ZipReader zip_;
  std::string what_, prefix_, pickle_bytes_;
  Pickle pickle_;
  std::map<std::string, std::string> storages_;
};

// The legacy format: a pickle starting with PROTO 2 and torch's magic number, or a tar archive.
bool is_legacy_torch(const std::string& bytes) {
  static const char magic[] = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
  return bytes.compare(0, sizeof magic - 1, magic, sizeof magic - 1) == 0 ||
         (bytes.size() > 262 && bytes.compare(257, 5, "ustar") == 0);
}

}  // namespace

bool is_torch_zip(const std::string& bytes) { return bytes.compare(0, 4, "PK\x03\x04", 4) == 0; }

Safetensors parse_torch_checkpoint(const std::string& bytes, const std::string& what, bool ema) {
  SOFT_CHECK(!is_legacy_torch(bytes), what,
             ": a PyTorch checkpoint in the legacy format (before PyTorch 1.6), which is not read; re-save it with "
             "PyTorch >= 1.6: python3 -c \"import torch; torch.save(torch.load('OLD.pth', map_location='cpu'), "
             "'NEW.pth')\"");
  SOFT_CHECK(is_torch_zip(bytes), what, ": not a PyTorch checkpoint (no zip signature at the start)");
  Safetensors out = Reader(bytes, what).state_dict(ema);
  out.metadata["format"] = "pytorch";
  return out;
}

Safetensors load_weights(const std::string& path, bool ema) {
  SOFT_CHECK(!std::filesystem::is_directory(path), path, ": is a directory, not a weights file");
  std::ifstream in(path, std::ios::binary);
  SOFT_CHECK(in, path, ": cannot open (", std::strerror(errno), ")");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  if (is_torch_zip(bytes) || is_legacy_torch(bytes)) return parse_torch_checkpoint(bytes, path, ema);
  const std::string ext = std::filesystem::path(path).extension().string();
  SOFT_CHECK(ext != ".pth" && ext != ".pt" && ext != ".bin", path,
             ": not a PyTorch checkpoint (neither torch.save's zip format nor the legacy one)");
  return parse_safetensors(bytes, path);
}

}  // namespace soft::nn
