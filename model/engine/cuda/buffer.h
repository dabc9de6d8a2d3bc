// Device memory: one cudaMalloc per buffer (never managed memory), freed on destruction, and a
// stream per model. Errors name what was being allocated and how much, since an out-of-memory
// on a 60 GB model must say which tensor did not fit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "model/engine/cuda/device.h"

namespace deskpilot::model::cuda {

// Throws CudaError "<what>: <runtime message>" when `status` (a cudaError_t) is not success.
void check(int status, const char* what);
// Throws CudaError naming the kernel when the last launch failed.
void check_launch(const char* kernel);

class DeviceBuffer {
  public:
    DeviceBuffer() = default;
    // Throws CudaError naming `name`, `bytes` and the device's free memory when it does not fit.
    DeviceBuffer(std::size_t bytes, std::string name);
    ~DeviceBuffer();
    DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    void* get() const { return ptr_; }
    template <typename T>
    T* as() const {
        return static_cast<T*>(ptr_);
    }
    std::size_t bytes() const { return bytes_; }
    const std::string& name() const { return name_; }

    // Synchronous copies (tests, loading); `bytes` must fit.
    void upload(const void* host, std::size_t bytes, std::size_t offset = 0);
    void download(void* host, std::size_t bytes, std::size_t offset = 0) const;
    void zero();

  private:
    void* ptr_ = nullptr;
    std::size_t bytes_ = 0;
    std::string name_;
};

// A non-blocking CUDA stream (cudaStream_t kept as void* so this header needs no CUDA).
class Stream {
  public:
    Stream();
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    void* get() const { return s_; }
    void sync(const char* what) const;

  private:
    void* s_ = nullptr;
};

}  // namespace deskpilot::model::cuda
