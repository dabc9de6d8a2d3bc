// The CUDA device probe for builds without CUDA.
#include "model/engine/cuda/device.h"

namespace deskpilot::model::cuda {

std::vector<DeviceInfo> devices() { return {}; }

bool compiled_in() { return false; }

}  // namespace deskpilot::model::cuda
