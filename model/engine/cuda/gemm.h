// Matrix products through cuBLAS: bf16 inputs, fp32 accumulation and output (cublasGemmEx with
// CUBLAS_COMPUTE_32F). Weight layouts as on the CPU (cpu::Layout): out_in is W [N, K]
// (nn.Linear), in_out is W [K, N] (Hub-fused experts); `ldw` is the stored row stride.
#pragma once

#include <cstddef>
#include <cstdint>

#include "model/engine/cpu/linear.h"

namespace deskpilot::model::cuda {

class Blas {
  public:
    explicit Blas(void* stream);  // all calls run on `stream`
    ~Blas();
    Blas(const Blas&) = delete;
    Blas& operator=(const Blas&) = delete;

    // The device memory cuBLAS works in from now on (cublasSetWorkspace; `bytes` of it, kept
    // alive by the caller while the handle lives): fixed, so a GEMM captured into a CUDA graph
    // allocates nothing.
    void set_workspace(void* workspace, std::size_t bytes);

    // y[M, N] = x[M, K] · W; x rows contiguous (K), y rows contiguous (N). With `accumulate`,
    // y += x · W (beta = 1, in f32): the decoder's residual add fused into the o_proj and down
    // GEMMs, which saves an add kernel and a pass over the output.
    void linear(const std::uint16_t* x, std::int64_t M, std::int64_t K, const std::uint16_t* w,
                engine::cpu::Layout layout, std::int64_t N, std::int64_t ldw, float* y,
                bool accumulate = false);

    // The same for `batch` independent products whose x, W and y are given by device pointer
    // arrays (cublasGemmBatchedEx): the decode step's selected experts in one call.
    void linear_batched(const void* const* x, std::int64_t M, std::int64_t K, const void* const* w,
                        engine::cpu::Layout layout, std::int64_t N, std::int64_t ldw,
                        void* const* y, int batch);

  private:
    void* handle_ = nullptr;
};

}  // namespace deskpilot::model::cuda
