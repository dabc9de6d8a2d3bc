#include "cli/gpu_option.h"

#include "cli/command_registry.h"
#include "model/engine/cuda/device.h"
#include "model/engine/cuda/memory_limit.h"

namespace deskpilot::cli {

void GpuOption::add(CLI::App& app) {
    option_ = app.add_option("--gpu", value_,
                             "With --device cuda: the GPU's index (default: "
                             "$DESKPILOT_CUDA_DEVICE, else 0)");
}

int GpuOption::resolve(const std::string& device) const {
    const bool given = option_ != nullptr && option_->count() > 0;
    if (device != "cuda") {
        if (given) throw CommandError("--gpu applies to --device cuda", kExitUsage);
        return -1;
    }
    int gpu = 0;
    try {
        if (given) gpu = model::cuda::parse_device_index(value_, "--gpu");
    } catch (const model::cuda::CudaError& e) {
        throw CommandError(e.what(), kExitUsage);
    }
    try {
        if (!given) gpu = model::cuda::choose_device();
        model::cuda::memory_limit();
    } catch (const model::cuda::CudaError& e) {
        throw CommandError(e.what());
    }
    return gpu;
}

}  // namespace deskpilot::cli
