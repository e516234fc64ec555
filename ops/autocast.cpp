#include "ops/autocast.h"

namespace soft {
namespace {
thread_local bool enabled_on_thread = false;
}  // namespace

bool autocast_bf16() { return enabled_on_thread; }

AutocastBf16::AutocastBf16(bool enabled) : previous_(enabled_on_thread) { enabled_on_thread = enabled; }

AutocastBf16::~AutocastBf16() { enabled_on_thread = previous_; }

}  // namespace soft
