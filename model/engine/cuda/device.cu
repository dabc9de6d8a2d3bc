#include "model/engine/cuda/device.h"

#include <cuda_runtime.h>

namespace deskpilot::model::cuda {

std::vector<DeviceInfo> devices() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky "no driver / no device" error
        return {};
    }
    std::vector<DeviceInfo> result;
    for (int i = 0; i < count; ++i) {
        cudaDeviceProp prop{};
        if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
        result.push_back({i, prop.name, prop.totalGlobalMem, prop.major, prop.minor});
    }
    return result;
}

bool compiled_in() { return true; }

}  // namespace deskpilot::model::cuda
