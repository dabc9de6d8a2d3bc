// The CUDA backend's two-way environment switches (DESKPILOT_CUDA_KV, _FUSED, _GRAPHS, _GEMV,
// _FLASH, _PDL): one parse, one error wording. Plain C++; CudaError comes from cuda/device.h.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>

#include "model/engine/cuda/device.h"

namespace deskpilot::model::cuda {

// A two-way switch read from environment variable `name`: true for `on` (also when unset or
// empty), false for `off`; another value throws CudaError naming the variable and the value.
inline bool env_switch(const char* name, std::string_view on, std::string_view off,
                       std::string_view expected) {
    const char* v = std::getenv(name);
    if (!v || !*v || on == v) return true;
    if (off == v) return false;
    throw CudaError(std::string(name) + "='" + v + "' is not " + std::string(expected));
}

}  // namespace deskpilot::model::cuda
