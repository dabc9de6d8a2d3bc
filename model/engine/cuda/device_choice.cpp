// Choosing the GPU (see device.h): plain C++, built with and without CUDA, so the parsing and its
// errors are the same (and tested) on machines without a GPU.
#include <charconv>
#include <cstdlib>

#include "model/engine/cuda/device.h"

namespace deskpilot::model::cuda {

int parse_device_index(std::string_view text, std::string_view source) {
    int index = -1;
    const char* end = text.data() + text.size();
    const auto [p, ec] = std::from_chars(text.data(), end, index);
    if (text.empty() || ec != std::errc() || p != end || index < 0) {
        const std::size_t n = devices().size();
        throw CudaError(std::string(source) + " '" + std::string(text) +
                        "' is not a GPU index: give a whole number from 0 (" + std::to_string(n) +
                        (n == 1 ? " GPU" : " GPUs") + " present" +
                        (n > 0 ? ", 0 to " + std::to_string(n - 1) : "") + ")");
    }
    return index;
}

int choose_device(std::optional<std::string_view> flag) {
    if (flag) return parse_device_index(*flag, "--gpu");
    const char* env = std::getenv("DESKPILOT_CUDA_DEVICE");
    if (env != nullptr && *env != '\0') return parse_device_index(env, "DESKPILOT_CUDA_DEVICE");
    return 0;
}

}  // namespace deskpilot::model::cuda
