#include "nn/torch_pickle.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <unordered_map>

#include "core/error.h"

namespace soft::nn::pickle {
namespace {

// The storages torch.save names, and the inert data types a training checkpoint holds besides
// tensors (an argparse Namespace of the arguments, sets, bytes through _codecs.encode).
const std::set<std::string>& allow_list() {
  static const std::set<std::string> names = {
      "collections.OrderedDict",           "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter",   "torch._utils._rebuild_parameter_with_state",
      "torch.FloatStorage",                "torch.DoubleStorage",
      "torch.HalfStorage",                 "torch.BFloat16Storage",
      "torch.LongStorage",                 "torch.IntStorage",
      "torch.ShortStorage",                "torch.CharStorage",
      "torch.ByteStorage",                 "torch.BoolStorage",
      "argparse.Namespace",                "_codecs.encode",
      "builtins.set",                      "builtins.frozenset",
      "__builtin__.set",                   "__builtin__.frozenset",
  };
  return names;
}

class Unpickler {
 public:
  Unpickler(std::string_view bytes, const std::string& what) : in_(bytes), what_(what) {}

  Pickle run() {
    while (true) {
      const size_t at = pos_;
      const unsigned char op = u8();
      if (op == '.') break;
      step(op, at);
    }
    fail_if(stack_.size() != 1 || !marks_.empty(), "STOP with ", stack_.size(), " values on the stack");
    out_.root = stack_.back();
    return std::move(out_);
  }

 private:
  template <class... A>
  [[noreturn]] void fail(const A&... args) {
    throw Error(detail::concat(what_, ": pickle: ", args...));
  }
  template <class... A>
  void fail_if(bool cond, const A&... args) {
    if (cond) fail(args...);
  }

  std::string_view take(uint64_t n) {
    fail_if(n > in_.size() - pos_, "truncated (", n, " bytes needed at byte ", pos_, ", ", in_.size() - pos_, " left)");
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  uint64_t le(int width) {
    std::string_view s = take(width);
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[i]);
    return v;
  }
  unsigned char u8() { return static_cast<unsigned char>(take(1)[0]); }
  std::string line() {
    const size_t end = in_.find('\n', pos_);
    fail_if(end == std::string_view::npos || end - pos_ > 256, "GLOBAL without a short newline-terminated name");
    std::string s(in_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }

  int32_t push_new(Value v) {
    fail_if(out_.values.size() >= kMaxValues, "more than ", kMaxValues, " values");
    out_.values.push_back(std::move(v));
    const auto index = static_cast<int32_t>(out_.values.size() - 1);
    stack_.push_back(index);
    return index;
  }
  int32_t push_kind(Kind k) {
    Value v;
    v.kind = k;
    return push_new(std::move(v));
  }
  int32_t pop() {
    fail_if(stack_.empty() || (!marks_.empty() && stack_.size() == marks_.back()), "stack underflow");
    const int32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  int32_t top() {
    fail_if(stack_.empty(), "stack underflow");
    return stack_.back();
  }
  std::vector<int32_t> pop_mark() {
    fail_if(marks_.empty(), "no MARK");
    std::vector<int32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  Value& val(int32_t index) { return out_.values[static_cast<size_t>(index)]; }
  void nest(int32_t container, int32_t child) {
    Value& c = val(container);
    c.depth = std::max(c.depth, val(child).depth + 1);
    fail_if(c.depth > kMaxDepth, "containers nested more than ", kMaxDepth, " deep");
  }
  void make_tuple(std::vector<int32_t> items) {
    Value v;
    v.kind = Kind::Tuple;
    for (int32_t i : items) v.depth = std::max(v.depth, val(i).depth + 1);
    fail_if(v.depth > kMaxDepth, "containers nested more than ", kMaxDepth, " deep");
    v.items = std::move(items);
    push_new(std::move(v));
  }
  void push_string(Kind k, uint64_t n) {
    Value v;
    v.kind = k;
    v.s.assign(take(n));
    push_new(std::move(v));
  }
  void push_global(const std::string& module, const std::string& name) {
    const std::string dotted = module + "." + name;
    fail_if(!allowed_global(dotted), "refuses the global '", dotted,
            "': only tensors, storages and plain data may appear in a checkpoint (nothing in the file is executed)");
    Value v;
    v.kind = Kind::Global;
    v.s = dotted;
    push_new(std::move(v));
  }
  void push_int(int64_t i) {
    Value v;
    v.kind = Kind::Int;
    v.i = i;
    push_new(std::move(v));
  }
  void push_long(uint64_t n) {
    std::string_view b = take(n);
    if (n > 8) {
      push_kind(Kind::BigInt);  // kept as an opaque number: nothing a state_dict needs
      return;
    }
    uint64_t u = 0;
    for (size_t i = n; i-- > 0;) u = (u << 8) | static_cast<unsigned char>(b[i]);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) u |= ~uint64_t(0) << (8 * n);  // sign-extend
    push_int(static_cast<int64_t>(u));
  }
  void memo_put(uint64_t key) {
    fail_if(memo_.size() >= kMaxValues && !memo_.count(key), "more than ", kMaxValues, " memo entries");
    memo_[key] = top();
  }
  void memo_get(uint64_t key) {
    auto it = memo_.find(key);
    fail_if(it == memo_.end(), "memo key ", key, " read before it was written");
    stack_.push_back(it->second);
  }
  void append(int32_t list, const std::vector<int32_t>& items) {
    fail_if(val(list).kind != Kind::List, "APPEND to something that is not a list");
    for (int32_t i : items) {
      nest(list, i);
      val(list).items.push_back(i);
    }
  }
  void set_items(int32_t dict, const std::vector<int32_t>& kv) {
    fail_if(val(dict).kind != Kind::Dict, "SETITEM on something that is not a dict");
    fail_if(kv.size() % 2 != 0, "SETITEMS with an odd number of values");
    for (int32_t i : kv) {
      nest(dict, i);
      val(dict).items.push_back(i);
    }
  }
  void reduce() {
    const int32_t args = pop(), callable = pop();
    fail_if(val(callable).kind != Kind::Global, "REDUCE of something that is not a global");
    fail_if(val(args).kind != Kind::Tuple, "REDUCE with arguments that are not a tuple");
    const std::string& name = val(callable).s;
    if (name == "collections.OrderedDict") {
      fail_if(!val(args).items.empty(), "collections.OrderedDict called with arguments");
      push_kind(Kind::Dict);
      return;
    }
    fail_if(name.ends_with("Storage"), "refuses to call ", name);
    Value v;
    v.kind = Kind::Call;
    v.items = {callable, args};
    v.depth = val(args).depth + 1;
    fail_if(v.depth > kMaxDepth, "containers nested more than ", kMaxDepth, " deep");
    push_new(std::move(v));
  }
  void new_object() {
    const int32_t args = pop(), cls = pop();
    fail_if(val(cls).kind != Kind::Global, "NEWOBJ of something that is not a global");
    fail_if(val(args).kind != Kind::Tuple, "NEWOBJ with arguments that are not a tuple");
    if (val(cls).s == "collections.OrderedDict") {
      push_kind(Kind::Dict);
      return;
    }
    fail_if(val(cls).s != "argparse.Namespace", "refuses to construct ", val(cls).s);
    Value v;
    v.kind = Kind::Object;
    v.items = {cls};
    push_new(std::move(v));
  }

  void step(unsigned char op, size_t at) {
    switch (op) {
      case 0x80: fail_if(u8() > 5, "unknown pickle protocol"); break;  // PROTO
      case 0x95: take(8); break;                                       // FRAME: a length, nothing to do
      case 'N': push_kind(Kind::None); break;
      case 0x88: case 0x89: {                                          // NEWTRUE, NEWFALSE
        Value v;
        v.kind = Kind::Bool;
        v.i = op == 0x88;
        push_new(std::move(v));
        break;
      }
      case 'J': push_int(static_cast<int32_t>(static_cast<uint32_t>(le(4)))); break;  // BININT
      case 'K': push_int(u8()); break;                                                 // BININT1
      case 'M': push_int(static_cast<int64_t>(le(2))); break;                          // BININT2
      case 0x8a: push_long(u8()); break;                                               // LONG1
      case 0x8b: push_long(le(4)); break;                                              // LONG4
      case 'G': {                                                                      // BINFLOAT (big-endian)
        std::string_view b = take(8);
        uint64_t u = 0;
        for (char c : b) u = (u << 8) | static_cast<unsigned char>(c);
        Value v;
        v.kind = Kind::Float;
        std::memcpy(&v.f, &u, 8);
        push_new(std::move(v));
        break;
      }
      case 'X': push_string(Kind::String, le(4)); break;   // BINUNICODE
      case 0x8c: push_string(Kind::String, u8()); break;   // SHORT_BINUNICODE
      case 0x8d: push_string(Kind::String, le(8)); break;  // BINUNICODE8
      case 'C': push_string(Kind::Bytes, u8()); break;     // SHORT_BINBYTES
      case 'B': push_string(Kind::Bytes, le(4)); break;    // BINBYTES
      case 0x8e: push_string(Kind::Bytes, le(8)); break;   // BINBYTES8
      case ')': make_tuple({}); break;
      case 't': make_tuple(pop_mark()); break;
      case 0x85: { int32_t a = pop(); make_tuple({a}); break; }
      case 0x86: { int32_t b = pop(), a = pop(); make_tuple({a, b}); break; }
      case 0x87: { int32_t c = pop(), b = pop(), a = pop(); make_tuple({a, b, c}); break; }
      case ']': push_kind(Kind::List); break;
      case '}': push_kind(Kind::Dict); break;
      case 'a': { int32_t item = pop(); append(top(), {item}); break; }
      case 'e': { std::vector<int32_t> items = pop_mark(); append(top(), items); break; }
      case 's': { int32_t v = pop(), k = pop(); set_items(top(), {k, v}); break; }
      case 'u': { std::vector<int32_t> kv = pop_mark(); set_items(top(), kv); break; }
      case '(': marks_.push_back(stack_.size()); break;
      case '0': pop(); break;             // POP
      case '1': pop_mark(); break;        // POP_MARK
      case 'q': memo_put(u8()); break;    // BINPUT
      case 'r': memo_put(le(4)); break;   // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
      case 'h': memo_get(u8()); break;    // BINGET
      case 'j': memo_get(le(4)); break;   // LONG_BINGET
      case 'c': {                          // GLOBAL "module\nname\n"
        std::string module = line();
        push_global(module, line());
        break;
      }
      case 0x93: {                         // STACK_GLOBAL
        const int32_t name = pop(), module = pop();
        fail_if(val(name).kind != Kind::String || val(module).kind != Kind::String, "STACK_GLOBAL of non-strings");
        push_global(val(module).s, val(name).s);
        break;
      }
      case 'R': reduce(); break;
      case 0x81: new_object(); break;      // NEWOBJ
      case 'b': {                          // BUILD: the state of an inert object is dropped
        pop();
        const Kind k = val(top()).kind;
        fail_if(k != Kind::Dict && k != Kind::Object && k != Kind::Call, "BUILD on a value that is not an object");
        break;
      }
      case 'Q': {                          // BINPERSID: a storage reference, resolved by the reader
        Value v;
        v.kind = Kind::PersistentId;
        v.items = {pop()};
        push_new(std::move(v));
        break;
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail("opcode ", hex, " at byte ", at, " is not one torch.save writes (corrupt or not a checkpoint)");
      }
    }
  }

  std::string_view in_;
  const std::string& what_;
  size_t pos_ = 0;
  Pickle out_;
  std::vector<int32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, int32_t> memo_;
};

}  // namespace

bool allowed_global(const std::string& dotted_name) { return allow_list().count(dotted_name) > 0; }

Pickle unpickle(std::string_view bytes, const std::string& what) { return Unpickler(bytes, what).run(); }

}  // namespace soft::nn::pickle
