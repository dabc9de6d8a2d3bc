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
// emu_mma_bf16 with the same layout in place of the instruction.
#pragma once

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

}  // namespace
}  // namespace deskpilot::model::cuda::k
