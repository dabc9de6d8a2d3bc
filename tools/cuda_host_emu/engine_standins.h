// Host stand-ins for what the CUDA host code (vision_model.cpp, text_model.cpp) takes from the
// real runtime: DeviceBuffer on calloc, a no-op Stream, Blas as a bf16 GEMM with f32 accumulation
// (both weight layouts, and the batched form), and no-op device checks. Inside a stream capture
// (cuda_runtime.h) a GEMM is recorded, and an allocation, a synchronous copy or a stream
// synchronisation is refused (each would break a real capture). Included by exactly one
// translation unit of each check program (vision_tower_check.cpp, text_model_check.cpp).
#pragma once
#include <cstdlib>
#include <cstring>

#include <cuda_runtime.h>  // the emulator's (run.sh puts its folder first on the path)
#include "model/engine/cuda/buffer.h"
#include "model/engine/cuda/gemm.h"
#include "model/engine/cuda/memory_limit.h"
#include "model/engine/dtype.h"

// cuBLAS calls made through Blas (the batched form counts once), not counting those recorded into
// a capture (prelude.h's g_captured); with prelude.h's g_launches, what a decode step launches
// (fused_check.cpp's launch count).
inline long g_blas_calls = 0;

namespace deskpilot::model::cuda {
void check(int status, const char* what) {
    if (status != 0) throw CudaError(what);
}
void check_launch(const char*) {}
// What a real capture would refuse: one CudaError naming it (and the capture is invalidated).
void refuse_in_capture(const std::string& what) {
    if (emu_refuse_in_capture() != cudaSuccess)
        throw CudaError("CUDA: " + what + ": operation not permitted when stream is capturing");
}
DeviceInfo require_device(int) {
    return {};
}
// Counted against DESKPILOT_CUDA_MEM_LIMIT as buffer.cpp's are (memory_limit.cpp, the engine's).
DeviceBuffer::DeviceBuffer(std::size_t bytes, std::string name)
    : bytes_(bytes), name_(std::move(name)) {
    refuse_in_capture("cudaMalloc for '" + name_ + "'");
    reserve_device_memory(bytes, name_);
    ptr_ = std::calloc(bytes ? bytes : 1, 1);
}
DeviceBuffer::~DeviceBuffer() {
    std::free(ptr_);
    release_device_memory(bytes_);
}
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    std::swap(name_, o.name_);
    return *this;
}
void DeviceBuffer::upload(const void* host, std::size_t bytes, std::size_t offset) {
    if (offset + bytes > bytes_) throw CudaError("upload overruns " + name_);
    refuse_in_capture("upload to " + name_);
    std::memcpy(static_cast<char*>(ptr_) + offset, host, bytes);
}
void DeviceBuffer::download(void* host, std::size_t bytes, std::size_t offset) const {
    if (offset + bytes > bytes_) throw CudaError("download overruns " + name_);
    refuse_in_capture("download from " + name_);
    std::memcpy(host, static_cast<const char*>(ptr_) + offset, bytes);
}
void DeviceBuffer::zero() {
    refuse_in_capture("zero " + name_);
    std::memset(ptr_, 0, bytes_);
}
Stream::Stream() = default;
Stream::~Stream() = default;
void Stream::sync(const char* what) const {
    refuse_in_capture(std::string("cudaStreamSynchronize (") + what + ")");
}
Blas::Blas(void*) {}
Blas::~Blas() = default;
// The workspace only matters to the real cuBLAS (no allocation inside a capture).
void Blas::set_workspace(void*, std::size_t) {}
namespace {
void gemm(const std::uint16_t* x, std::int64_t M, std::int64_t K, const std::uint16_t* w,
          engine::cpu::Layout layout, std::int64_t N, std::int64_t ldw, float* y, bool accumulate) {
    const bool out_in = layout == engine::cpu::Layout::out_in;
    for (std::int64_t m = 0; m < M; ++m)
        for (std::int64_t n = 0; n < N; ++n) {
            float a = 0;
            for (std::int64_t k = 0; k < K; ++k)
                a += engine::bf16_to_f32(x[m * K + k]) *
                     engine::bf16_to_f32(out_in ? w[n * ldw + k] : w[k * ldw + n]);
            // beta = 1: the product added to what y holds (cuBLAS's alpha·x·W + beta·y).
            y[m * N + n] = accumulate ? y[m * N + n] + a : a;
        }
}
}  // namespace
void Blas::linear(const std::uint16_t* x, std::int64_t M, std::int64_t K, const std::uint16_t* w,
                  engine::cpu::Layout layout, std::int64_t N, std::int64_t ldw, float* y,
                  bool accumulate) {
    if (emu_record('b', [=] { gemm(x, M, K, w, layout, N, ldw, y, accumulate); })) return;
    ++g_blas_calls;
    gemm(x, M, K, w, layout, N, ldw, y, accumulate);
}
void Blas::linear_batched(const void* const* x, std::int64_t M, std::int64_t K,
                          const void* const* w, engine::cpu::Layout layout, std::int64_t N,
                          std::int64_t ldw, void* const* y, int batch) {
    // One cuBLAS call (cublasGemmBatchedEx), however many products it runs; the pointer arrays
    // are read when it runs (a kernel of the same step writes them).
    auto run = [=] {
        for (int i = 0; i < batch; ++i)
            gemm(static_cast<const std::uint16_t*>(x[i]), M, K,
                 static_cast<const std::uint16_t*>(w[i]), layout, N, ldw, static_cast<float*>(y[i]),
                 false);
    };
    if (emu_record('b', run)) return;
    ++g_blas_calls;
    run();
}
}  // namespace deskpilot::model::cuda
