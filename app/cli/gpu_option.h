// `--gpu N` for the native engine's `--device cuda` (generate, run): which GPU, checked before
// any weights are read, with the engine's own words for a bad value.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace deskpilot::cli {

class GpuOption {
  public:
    void add(CLI::App& app);
    // The GPU index for `device` "cuda" (--gpu, else DESKPILOT_CUDA_DEVICE, else 0), also checking
    // DESKPILOT_CUDA_MEM_LIMIT; -1 for "cpu". Throws CommandError: a malformed --gpu, or --gpu
    // without --device cuda, exit 2; a malformed DESKPILOT_CUDA_DEVICE or DESKPILOT_CUDA_MEM_LIMIT,
    // exit 1. Whether the GPU exists is left to the engine (cuda::require_device), so without a
    // GPU the error stays the one no-GPU error.
    int resolve(const std::string& device) const;

  private:
    std::string value_;
    CLI::Option* option_ = nullptr;
};

}  // namespace deskpilot::cli
