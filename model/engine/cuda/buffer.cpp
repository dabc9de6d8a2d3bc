#include "model/engine/cuda/buffer.h"

#include <cuda_runtime.h>

#include <cstdio>

#include "model/engine/cuda/memory_limit.h"

namespace deskpilot::model::cuda {

namespace {
// What the runtime says is free on the current device, for the errors of a failed allocation.
void device_free_total(std::size_t& free, std::size_t& total) {
    free = total = 0;
    cudaMemGetInfo(&free, &total);
    cudaGetLastError();
}
}  // namespace

void check(int status, const char* what) {
    if (status == cudaSuccess) return;
    cudaGetLastError();
    throw CudaError(std::string("CUDA: ") + what + ": " +
                    cudaGetErrorString(static_cast<cudaError_t>(status)));
}

void check_launch(const char* kernel) {
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        throw CudaError(std::string("CUDA: kernel ") + kernel +
                        " failed: " + cudaGetErrorString(e));
}

DeviceBuffer::DeviceBuffer(std::size_t bytes, std::string name)
    : bytes_(bytes), name_(std::move(name)) {
    if (bytes == 0) return;
    // The engine's own cap first (DESKPILOT_CUDA_MEM_LIMIT; a bad value throws here as it is);
    // when the buffer does not fit under it, the error adds what the device itself has free.
    memory_limit();
    try {
        reserve_device_memory(bytes, name_);
    } catch (const CudaError& e) {
        std::size_t free = 0, total = 0;
        device_free_total(free, total);
        throw CudaError(std::string(e.what()) + " (" + format_bytes(free) + " of " +
                        format_bytes(total) + " free on the device)");
    }
    const cudaError_t e = cudaMalloc(&ptr_, bytes);
    if (e == cudaSuccess) return;
    release_device_memory(bytes);
    cudaGetLastError();
    ptr_ = nullptr;
    std::size_t free = 0, total = 0;
    device_free_total(free, total);
    if (e == cudaErrorMemoryAllocation)
        throw CudaError(out_of_memory_message(bytes, name_, free, total, "on the device"));
    throw CudaError("CUDA: cudaMalloc of " + std::to_string(bytes) + " bytes for '" + name_ +
                    "' failed: " + cudaGetErrorString(e));
}

DeviceBuffer::~DeviceBuffer() {
    if (ptr_) {
        cudaFree(ptr_);
        release_device_memory(bytes_);
    }
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
        if (ptr_) {
            cudaFree(ptr_);
            release_device_memory(bytes_);
        }
        ptr_ = std::exchange(o.ptr_, nullptr);
        bytes_ = std::exchange(o.bytes_, 0);
        name_ = std::move(o.name_);
    }
    return *this;
}

void DeviceBuffer::upload(const void* host, std::size_t bytes, std::size_t offset) {
    if (offset + bytes > bytes_)
        throw CudaError("CUDA: upload of " + std::to_string(bytes) + " bytes at " +
                        std::to_string(offset) + " overruns '" + name_ + "' (" +
                        std::to_string(bytes_) + " bytes)");
    check(cudaMemcpy(static_cast<char*>(ptr_) + offset, host, bytes, cudaMemcpyHostToDevice),
          ("upload to " + name_).c_str());
    // A pageable upload may return before its DMA ends, and the model's non-blocking stream does
    // not wait for the legacy stream: finish it here so no kernel reads half-copied weights.
    check(cudaStreamSynchronize(nullptr), ("upload to " + name_).c_str());
}

void DeviceBuffer::download(void* host, std::size_t bytes, std::size_t offset) const {
    if (offset + bytes > bytes_)
        throw CudaError("CUDA: download of " + std::to_string(bytes) + " bytes overruns '" + name_ +
                        "'");
    check(cudaMemcpy(host, static_cast<const char*>(ptr_) + offset, bytes, cudaMemcpyDeviceToHost),
          ("download from " + name_).c_str());
}

void DeviceBuffer::zero() {
    if (!ptr_) return;
    check(cudaMemset(ptr_, 0, bytes_), ("zero " + name_).c_str());
    check(cudaStreamSynchronize(nullptr), ("zero " + name_).c_str());
}

Stream::Stream() {
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
    s_ = s;
}

Stream::~Stream() {
    if (s_) cudaStreamDestroy(static_cast<cudaStream_t>(s_));
}

void Stream::sync(const char* what) const {
    check(cudaStreamSynchronize(static_cast<cudaStream_t>(s_)), what);
}

}  // namespace deskpilot::model::cuda
