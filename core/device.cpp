#include "core/device.h"

#include "core/error.h"

namespace soft {

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 &&
      text.find_first_not_of("0123456789", 5) == std::string::npos)
    return Device::cuda(std::stoi(text.substr(5)));
  throw Error("unknown device '" + text + "': expected cpu, cuda or cuda:N");
}

}  // namespace soft
