#pragma once
// A restricted unpickler for the data.pkl of torch.save checkpoints. It executes nothing: it turns
// the opcodes torch.save emits (protocols 2-5, no others) into a graph of inert values. Globals
// are checked against an allow-list when they are named (torch's tensor, parameter and storage
// rebuilders, collections.OrderedDict, argparse.Namespace, a few builtins for plain data); any
// other global is refused by name. Calls of allowed globals are kept as Call values that the
// checkpoint reader (nn/torch_checkpoint.h) interprets.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace soft::nn::pickle {

enum class Kind { None, Bool, Int, BigInt, Float, String, Bytes, Tuple, List, Dict, Global, Call, Object, PersistentId };

struct Value {
  Kind kind = Kind::None;
  int64_t i = 0;         // Bool, Int
  double f = 0;          // Float
  std::string s;         // String, Bytes, Global ("module.name")
  // Tuple, List: the elements; Dict: key, value, key, value ... (in insertion order, duplicates kept);
  // Call: the callable (a Global) and its argument tuple; Object: its class (a Global); PersistentId: the id.
  std::vector<int32_t> items;
  int32_t depth = 0;     // nesting depth of containers below this value
};

// The values of one pickle, in an arena: values refer to each other by index, so cycles (through
// the memo) and deep nesting cost nothing to hold or to free.
struct Pickle {
  std::vector<Value> values;
  int32_t root = -1;
  const Value& at(int32_t index) const { return values.at(static_cast<size_t>(index)); }
};

constexpr int32_t kMaxDepth = 1000;         // containers nested deeper are refused
// A pickle with more values is refused (~90 bytes each: at most ~190 MB). soft_tiny's checkpoint
// with its optimizer state holds about 30,000.
constexpr size_t kMaxValues = 1u << 21;

// Parses `bytes`; `what` names the file in errors.
Pickle unpickle(std::string_view bytes, const std::string& what);

// Whether a global may appear in a checkpoint (the allow-list).
bool allowed_global(const std::string& dotted_name);

}  // namespace soft::nn::pickle
