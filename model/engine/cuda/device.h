// What the CUDA runtime sees. Empty when the build has no CUDA or no GPU is present.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace deskpilot::model::cuda {

// Any failure of the CUDA backend: no device, out of memory (naming the allocation), a failed
// kernel launch or cuBLAS call (naming the operation).
class CudaError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

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

// Device `index`, or CudaError saying why it cannot be used (no CUDA in this build, no driver,
// no GPU, index out of range), with the runtime's own words where it gave some.
DeviceInfo require_device(int index = 0);

}  // namespace deskpilot::model::cuda
