#include "model/engine/cuda/gemm.h"

#include <cublas_v2.h>

#include <string>

#include "model/engine/cuda/device.h"

namespace deskpilot::model::cuda {

namespace {
void check_blas(cublasStatus_t s, const char* what) {
    if (s != CUBLAS_STATUS_SUCCESS)
        throw CudaError(std::string("cuBLAS: ") + what + " failed: " + cublasGetStatusString(s));
}
}  // namespace

Blas::Blas(void* stream) {
    cublasHandle_t h = nullptr;
    check_blas(cublasCreate(&h), "cublasCreate");
    handle_ = h;
    check_blas(cublasSetStream(h, static_cast<cudaStream_t>(stream)), "cublasSetStream");
}

Blas::~Blas() {
    if (handle_) cublasDestroy(static_cast<cublasHandle_t>(handle_));
}

void Blas::set_workspace(void* workspace, std::size_t bytes) {
    check_blas(cublasSetWorkspace(static_cast<cublasHandle_t>(handle_), workspace, bytes),
               "cublasSetWorkspace");
}

void Blas::linear(const std::uint16_t* x, std::int64_t M, std::int64_t K, const std::uint16_t* w,
                  engine::cpu::Layout layout, std::int64_t N, std::int64_t ldw, float* y,
                  bool accumulate) {
    if (M == 0) return;
    // cuBLAS is column-major: compute yᵀ [N, M] = op(W) · xᵀ, where a row-major [N, K] W is a
    // column-major K×N matrix (transposed), and a row-major [K, N] W is N×K (as is).
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    const bool out_in = layout == engine::cpu::Layout::out_in;
    check_blas(cublasGemmEx(static_cast<cublasHandle_t>(handle_),
                            out_in ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, int(N), int(M), int(K),
                            &alpha, w, CUDA_R_16BF, int(ldw), x, CUDA_R_16BF, int(K), &beta, y,
                            CUDA_R_32F, int(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "bf16 GEMM (cublasGemmEx)");
}

void Blas::linear_batched(const void* const* x, std::int64_t M, std::int64_t K,
                          const void* const* w, engine::cpu::Layout layout, std::int64_t N,
                          std::int64_t ldw, void* const* y, int batch) {
    if (M == 0 || batch == 0) return;
    const float alpha = 1.0f, beta = 0.0f;
    const bool out_in = layout == engine::cpu::Layout::out_in;
    check_blas(
        cublasGemmBatchedEx(static_cast<cublasHandle_t>(handle_),
                            out_in ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, int(N), int(M), int(K),
                            &alpha, w, CUDA_R_16BF, int(ldw), x, CUDA_R_16BF, int(K), &beta, y,
                            CUDA_R_32F, int(N), batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "batched bf16 GEMM (cublasGemmBatchedEx)");
}

}  // namespace deskpilot::model::cuda
