#include "model/engine/cuda/buffer.h"

#include <cuda_runtime.h>

#include <cstdio>

namespace deskpilot::model::cuda {

namespace {
std::string gib(std::size_t bytes) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(1ull << 30));
    return buf;
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
    const cudaError_t e = cudaMalloc(&ptr_, bytes);
    if (e == cudaSuccess) return;
    cudaGetLastError();
    ptr_ = nullptr;
    std::size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    cudaGetLastError();
    if (e == cudaErrorMemoryAllocation)
        throw CudaError("CUDA: out of memory allocating " + std::to_string(bytes) + " bytes (" +
                        gib(bytes) + ") for '" + name_ + "'; " + gib(free) + " of " + gib(total) +
                        " free on the device");
    throw CudaError("CUDA: cudaMalloc of " + std::to_string(bytes) + " bytes for '" + name_ +
                    "' failed: " + cudaGetErrorString(e));
}

DeviceBuffer::~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
        if (ptr_) cudaFree(ptr_);
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
