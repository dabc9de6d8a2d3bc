// The CUDA backend's two-way environment switches (DESKPILOT_CUDA_KV, _FUSED, _GRAPHS, _GEMV,
// _FLASH, _PDL): one parse, one error wording; and the process-wide choices read from them lazily
// (ProcessSetting). Plain C++; CudaError comes from cuda/device.h.
#pragma once

#include <atomic>
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

// A process-wide choice (FlashKernel, PDL) as an int: `read` (the environment's value; it throws
// for a bad one) at the first get(), unless a set() came first, which then wins.
class ProcessSetting {
  public:
    explicit ProcessSetting(int (*read)()) : read_(read) {}
    int get() {
        int v = value_.load();
        if (v < 0) {
            v = read_();
            int unread = -1;  // a set() in between wins
            if (!value_.compare_exchange_strong(unread, v)) v = unread;
        }
        return v;
    }
    void set(int v) { value_.store(v); }

  private:
    int (*read_)();
    std::atomic<int> value_{-1};  // -1: not read yet
};

}  // namespace deskpilot::model::cuda
