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

bool compiled_in() {
    return true;
}

DeviceInfo require_device(int index) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        throw CudaError(std::string("--device cuda: no CUDA device is available (") +
                        cudaGetErrorString(e) + "); use --device cpu");
    }
    if (count == 0)
        throw CudaError("--device cuda: no CUDA device is available (0 GPUs); use --device cpu");
    for (const DeviceInfo& d : devices())
        if (d.index == index) return d;
    throw CudaError("--device cuda: GPU " + std::to_string(index) + " does not exist (" +
                    std::to_string(count) + (count == 1 ? " GPU" : " GPUs") + " present, 0 to " +
                    std::to_string(count - 1) + "; choose with --gpu N or DESKPILOT_CUDA_DEVICE)");
}

}  // namespace deskpilot::model::cuda
