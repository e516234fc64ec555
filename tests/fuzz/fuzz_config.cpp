// libFuzzer harness: the input is parsed as a JSON model config. Every outcome but success or a
// soft::Error is a finding; an accepted config must survive config_to_json -> parse_config
// unchanged, and its token grids must be positive.
#include <cstdint>
#include <string>

#include "models/config.h"
#include "tests/fuzz/scratch_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const soft::models::SoftConfig c = soft::models::parse_config(text, "fuzz.json");
    const std::string json = soft::models::config_to_json(c);
    soft::fuzz::require(soft::models::config_to_json(soft::models::parse_config(json, "round trip")) == json,
                        "config_to_json does not read back to the same config");
    for (const auto& [h, w] : c.grids(c.img_size, c.img_size)) soft::fuzz::require(h > 0 && w > 0, "empty token grid");
  } catch (const soft::Error&) {
  }
  return 0;
}
