// What the CUDA runtime sees. Empty when the build has no CUDA or no GPU is present.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace deskpilot::model::cuda {

struct DeviceInfo {
    int index = 0;
    std::string name;
    std::size_t total_memory = 0;
    int compute_major = 0;
    int compute_minor = 0;
};

// Lists usable devices; never throws (no driver or no device simply yields an empty list).
std::vector<DeviceInfo> devices();

// True when this build includes the CUDA backend (nvcc and cuBLAS were found).
bool compiled_in();

}  // namespace deskpilot::model::cuda
