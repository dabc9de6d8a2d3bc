// Vectorised element-wise ops (ops.h: silu_mul, softmax_scaled): a prefill runs millions of
// exp() for SwiGLU and attention, which the scalar libm call made a few percent of its time.
// One source (vector_ops_kernel.inc over vector_math.inc, the vision attention's e^x) compiled
// for AVX-512F and for baseline SSE, chosen at run time by best_isa() like the GEMMs.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "model/engine/cpu/linear.h"
#include "model/engine/cpu/ops.h"

namespace deskpilot::model::engine::cpu {

#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
namespace avx512 {
namespace {
#define W 16
#include "model/engine/cpu/vector_math.inc"
#include "model/engine/cpu/vector_ops_kernel.inc"
#undef W
}  // namespace
}  // namespace avx512
#pragma GCC pop_options

namespace sse {
namespace {
#define W 4
#include "model/engine/cpu/vector_math.inc"
#include "model/engine/cpu/vector_ops_kernel.inc"
#undef W
}  // namespace
}  // namespace sse

void silu_mul(const float* g, const float* u, float* out, std::int64_t n) {
    if (best_isa() >= Isa::avx512) return avx512::silu_mul_k(g, u, out, n);
    sse::silu_mul_k(g, u, out, n);
}

void softmax_scaled(float* s, std::int64_t n, float scale) {
    if (n <= 0) return;
    if (best_isa() >= Isa::avx512) return avx512::softmax_k(s, n, scale);
    sse::softmax_k(s, n, scale);
}

}  // namespace deskpilot::model::engine::cpu
