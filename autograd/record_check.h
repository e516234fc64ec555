#pragma once
// A check record() runs on each op name it attaches a node for. The tests install one that
// refuses a name missing from ops/registry.cpp (tests/main.cpp), so an op that records a gradient
// cannot go unregistered, and so without its gradient check. Nothing is installed otherwise.
namespace soft {

using RecordCheck = void (*)(const char* op);       // throws to refuse the op
RecordCheck set_record_check(RecordCheck check);    // returns the previous one; null removes it

// Lifts the check while it lives, on this and every thread: for tests of the engine itself,
// which record made-up ops.
class RecordCheckOff {
 public:
  RecordCheckOff() : previous_(set_record_check(nullptr)) {}
  ~RecordCheckOff() { set_record_check(previous_); }
  RecordCheckOff(const RecordCheckOff&) = delete;
  RecordCheckOff& operator=(const RecordCheckOff&) = delete;

 private:
  RecordCheck previous_;
};

}  // namespace soft
