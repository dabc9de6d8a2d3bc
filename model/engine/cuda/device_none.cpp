// The CUDA device probe for builds without CUDA.
#include "model/engine/cuda/device.h"

namespace deskpilot::model::cuda {

std::vector<DeviceInfo> devices() {
    return {};
}

bool compiled_in() {
    return false;
}

DeviceInfo require_device(int) {
    throw CudaError(
        "--device cuda: this build has no CUDA backend (nvcc and cuBLAS were not found when it "
        "was configured); use --device cpu");
}

}  // namespace deskpilot::model::cuda
