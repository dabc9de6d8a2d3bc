// Prefill GEMMs for bf16 weights with the activations rounded to bf16 (AVX512_BF16 vdpbf16ps,
// fp32 accumulation), twice the multiply-adds per instruction of the f32-activation kernels.
//
// Why this is allowed: with bf16 weights, a bf16 model in transformers or vLLM runs its
// activations in bf16 too (every nn.Linear input is a bf16 tensor, rounded to nearest even), so
// rounding the GEMM inputs to bf16 stays in the reference's precision class; llama.cpp does the
// same. Accumulation stays fp32, and everything between GEMMs (norms, softmax, router, residual
// stream) stays f32. f32 weights (the golden f32 tests) never take this path.
//
// linear() uses it for bf16 weights when the ISA is Isa::avx512bf16 (best_isa() picks it where the
// CPU has AVX512_BF16; DESKPILOT_ISA=avx512|avx2|scalar or DESKPILOT_BF16_ACTIVATIONS=0 turn it
// off) and a GEMM has at least kBf16MinRows activation rows. Decode (single-row GEMVs) keeps the
// f32-activation kernels: they stream the weights faster there (bench_engine_linear_bf16).
//
// vdpbf16ps treats bf16 denormals (|v| < 1.2e-38) as zero; the scalar twin does not. Nothing a
// model computes is that small and still matters, and the parity test uses normal values.
#pragma once

#include <cstdint>

#include "model/engine/cpu/linear.h"

namespace deskpilot::model::engine::cpu {

// Fewest activation rows for which linear() takes the bf16 path (measured with
// bench_engine_linear_bf16: below it the f32 kernels are as fast and exact).
inline constexpr std::int64_t kBf16MinRows = 2;

bool cpu_has_avx512_bf16();

// y[M, N] = bf16(x)[M, K] · W for bf16 W (either layout), activations rounded to nearest even.
// simd: the AVX512_BF16 kernels (the CPU must have them); otherwise their scalar twin, which
// rounds the same way and accumulates in fp32 in k order.
void linear_bf16_activations(const float* x, std::int64_t M, const WeightView& w, float* y,
                             ThreadPool& pool, bool simd);

}  // namespace deskpilot::model::engine::cpu
