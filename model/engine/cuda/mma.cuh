// Tensor-core building blocks, warp-wide: the multiply-add, the shared-memory fragment load
// (ldmatrix) and the asynchronous global-to-shared copy (cp.async).
// One warp-wide tensor-core multiply-add, D = A·B + C with A 16×16 and B 16×8 in bf16 and C, D
// 16×8 in f32: PTX `mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32` (sm_80 and later). Each
// lane holds the fragments the PTX ISA documents ("Matrix Fragments for mma.m16n8k16 with
// floating point type"), with g = lane / 4 and t = lane % 4:
//   a[0..3]: A[g][2t, 2t+1], A[g+8][2t, 2t+1], A[g][2t+8, 2t+9], A[g+8][2t+8, 2t+9]
//   b0, b1:  B[2t, 2t+1][g], B[2t+8, 2t+9][g]
//   c[0..3]: C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1]
// each 32-bit register holding two bf16 values, the lower index in the lower half. Written out
// rather than through nvcuda::wmma because wmma leaves its accumulator layout unspecified, and
// flash attention rescales the output's rows between steps. Every lane of the warp must call it
// together. Internal to model/engine/cuda/*.cu; the host emulator (tools/cuda_host_emu) supplies
// emu_mma_bf16 with the same layout in place of the instruction (and emu_ldmatrix_x4 for ldmatrix).
#pragma once

#include <cstdint>
#include <cstring>

namespace deskpilot::model::cuda::k {
namespace {

__device__ __forceinline__ void mma_bf16_16816(float c[4], const unsigned a[4], unsigned b0,
                                               unsigned b1) {
#if defined(__CUDA_ARCH__)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#elif !defined(__CUDACC__)
    emu_mma_bf16(c, a, b0, b1);
#endif  // nvcc's host pass: a device function, never called there
}

// ldmatrix: four 8×8 bf16 matrices from shared memory in one warp-wide load. Lanes 8i..8i+7 give
// the addresses of matrix i's rows 0..7 (16 bytes each, 16-byte aligned). r[i] receives matrix
// i's (row lane / 4, columns 2 (lane % 4) and + 1): an mma fragment register, as above. With
// `trans`, (rows 2 (lane % 4) and + 1, column lane / 4): the B fragment of a matrix stored k-major
// (PTX `ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16`).
__device__ __forceinline__ void ldmatrix_x4(unsigned r[4], const std::uint16_t* row) {
#if defined(__CUDA_ARCH__)
    const unsigned a = unsigned(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a)
                 : "memory");
#elif !defined(__CUDACC__)
    emu_ldmatrix_x4(r, row, false);
#endif
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned r[4], const std::uint16_t* row) {
#if defined(__CUDA_ARCH__)
    const unsigned a = unsigned(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a)
                 : "memory");
#elif !defined(__CUDACC__)
    emu_ldmatrix_x4(r, row, true);
#endif
}

// cp.async: 16 bytes from global to shared memory without passing through registers (sm_80 and
// later), or 16 zero bytes where `valid` is false (nothing is read; `g` must still be a valid
// address). Groups: cp_async_commit() closes the copies issued since the last one;
// cp_async_wait<N>() returns when at most N of this thread's groups are still in flight (a
// __syncthreads after it makes every thread's copies visible). The emulator copies at once.
__device__ __forceinline__ void cp_async16(std::uint16_t* smem, const std::uint16_t* g,
                                           bool valid) {
#if defined(__CUDA_ARCH__)
    const unsigned a = unsigned(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(a), "l"(g),
                 "r"(valid ? 16 : 0)
                 : "memory");
#elif !defined(__CUDACC__)
    if (valid)
        std::memcpy(smem, g, 16);
    else
        std::memset(smem, 0, 16);
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__)
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__)
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

}  // namespace
}  // namespace deskpilot::model::cuda::k
