// What the CUDA runtime sees. Empty when the build has no CUDA or no GPU is present.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
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

// Which GPU --device cuda uses (device_choice.cpp, in every build): `flag` (the --gpu value, when
// given), else the environment's DESKPILOT_CUDA_DEVICE (when set and not empty), else 0.
// Throws CudaError naming the value, where it came from and how many GPUs are present when it is
// not a whole number from 0 up. Whether that GPU exists is require_device's question (so without
// a GPU the error stays require_device's no-GPU one).
int choose_device(std::optional<std::string_view> flag = std::nullopt);
// One GPU index as choose_device reads it; `source` ("--gpu", "DESKPILOT_CUDA_DEVICE") names it
// in the error.
int parse_device_index(std::string_view text, std::string_view source);

}  // namespace deskpilot::model::cuda
